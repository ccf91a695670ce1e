//! MFA-3 security keys through WebAuthn (webauthn-rs), old U2F/CTAP1 keys included: they
//! register and sign through the same ceremonies. Challenges are webauthn-rs' (256 bits), single
//! use and bound to the flow or device whose sealed state holds them; the sign counter is checked
//! against the stored key, and the stored key (with its attestation) is replaced only if nobody
//! changed it since it was read, so two uses of one challenge give one success (RISK-4).
//!
//! Keys are second factors after a password, so user presence is enough (no PIN): webauthn-rs'
//! user-presence-only mode, which also avoids Chrome's refusal of its default credProtect
//! request.

use super::{
    Challenge, EnrolInput, EnrolPrompt, Enrolment, FactorContext, FactorError, FactorOutcome, Method, Prompt, Proof,
    Scope, SecondFactor, internal,
};
use crate::ports::FactorCredential;
use async_trait::async_trait;
use webauthn_rs::prelude::{
    PublicKeyCredential, RegisterPublicKeyCredential, SecurityKey, SecurityKeyAuthentication, SecurityKeyRegistration,
    Url, Webauthn, WebauthnBuilder,
};

/// Seal purpose of a registration ceremony's state in a pending credential.
const REGISTRATION_PURPOSE: &str = "webauthn-registration";

/// The relying party for a public URL: its host is the RP ID. `None` when the host is an IP
/// address (WebAuthn forbids it) or the URL has no host. On `localhost` (development, tests on a
/// random port) any port of it is accepted as the origin.
pub fn relying_party(public_url: &str, name: &str) -> Option<Webauthn> {
    let origin = Url::parse(public_url).ok()?;
    let host = match origin.host()? {
        url::Host::Domain(host) => host.to_owned(),
        url::Host::Ipv4(_) | url::Host::Ipv6(_) => return None,
    };
    WebauthnBuilder::new(&host, &origin)
        .ok()?
        .allow_any_port(host == "localhost")
        .rp_name(name)
        .danger_set_user_presence_only_security_keys(true)
        .build()
        .ok()
}

fn stored_key(cred: &FactorCredential) -> Result<SecurityKey, FactorError> {
    serde_json::from_str(&cred.data).map_err(internal)
}

/// Security keys as a second factor.
pub struct SecurityKeyFactor;

impl SecurityKeyFactor {
    fn webauthn<'a>(ctx: &'a FactorContext<'_>) -> Result<&'a Webauthn, FactorError> {
        ctx.settings.webauthn.as_deref().ok_or(FactorError::Unavailable)
    }
}

#[async_trait]
impl SecondFactor for SecurityKeyFactor {
    fn method(&self) -> Method {
        Method::SecurityKey
    }

    async fn available(&self, ctx: &FactorContext<'_>) -> Result<bool, FactorError> {
        Ok(ctx.settings.webauthn.is_some() && ctx.devices(Method::SecurityKey).next().is_some())
    }

    /// Request options for every key of the account (or the one device in scope).
    async fn challenge(&self, ctx: &FactorContext<'_>, scope: Scope<'_>) -> Result<Challenge, FactorError> {
        let webauthn = Self::webauthn(ctx)?;
        let keys = match scope.device {
            Some(device) => vec![stored_key(device)?],
            None => ctx
                .devices(Method::SecurityKey)
                .map(stored_key)
                .collect::<Result<Vec<_>, _>>()?,
        };
        if keys.is_empty() {
            return Err(FactorError::Unavailable);
        }
        let (options, state) = webauthn.start_securitykey_authentication(&keys).map_err(internal)?;
        Ok(Challenge {
            prompt: Prompt::Options(serde_json::to_value(options).map_err(internal)?),
            state: Some(serde_json::to_string(&state).map_err(internal)?),
        })
    }

    async fn verify(
        &self,
        ctx: &FactorContext<'_>,
        scope: Scope<'_>,
        proof: &Proof,
    ) -> Result<FactorOutcome, FactorError> {
        let webauthn = Self::webauthn(ctx)?;
        let (Proof::Credential(value), Some(state)) = (proof, scope.state) else {
            return Ok(FactorOutcome::Rejected);
        };
        let state: SecurityKeyAuthentication = serde_json::from_str(state).map_err(internal)?;
        let Ok(credential) = serde_json::from_value::<PublicKeyCredential>(value.clone()) else {
            return Ok(FactorOutcome::Rejected);
        };
        let result = match webauthn.finish_securitykey_authentication(&credential, &state) {
            Ok(result) => result,
            Err(err) => {
                tracing::info!(%err, "security key assertion refused");
                return Ok(FactorOutcome::Rejected);
            }
        };
        let candidates: Vec<&FactorCredential> = match scope.device {
            Some(device) => vec![device],
            None => ctx.devices(Method::SecurityKey).collect(),
        };
        for device in candidates {
            let mut key = stored_key(device)?;
            if key.cred_id() != result.cred_id() {
                continue;
            }
            key.update_credential(&result);
            let data = serde_json::to_string(&key).map_err(internal)?;
            // Compare-and-swap on the stored key: a parallel use of the same challenge, or of an
            // older one, finds it changed and fails.
            if !ctx
                .ports
                .update_credential_data(device.id, ctx.account.id, &device.data, &data, ctx.now)
                .await?
            {
                return Ok(FactorOutcome::Rejected);
            }
            return Ok(FactorOutcome::Accepted(Some(device.id)));
        }
        Ok(FactorOutcome::Rejected)
    }

    async fn enrol(&self, ctx: &FactorContext<'_>, _input: &EnrolInput) -> Result<Enrolment, FactorError> {
        let webauthn = Self::webauthn(ctx)?;
        let existing = ctx
            .devices(Method::SecurityKey)
            .map(|d| stored_key(d).map(|k| k.cred_id().clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let display = format!("{} {}", ctx.account.first_name, ctx.account.last_name);
        let (options, state) = webauthn
            .start_securitykey_registration(
                ctx.account.id.0,
                ctx.account.nic_handle.as_str(),
                display.trim(),
                Some(existing),
                None,
                None,
            )
            .map_err(internal)?;
        let state: &SecurityKeyRegistration = &state;
        let json = serde_json::to_vec(state).map_err(internal)?;
        Ok(Enrolment {
            data: ctx.key.seal(REGISTRATION_PURPOSE, &json, ctx.rng)?,
            shown: EnrolPrompt::SecurityKey {
                options: serde_json::to_value(options).map_err(internal)?,
            },
        })
    }

    async fn confirm(
        &self,
        ctx: &FactorContext<'_>,
        pending: &FactorCredential,
        _state: Option<&str>,
        proof: &Proof,
    ) -> Result<String, FactorError> {
        let webauthn = Self::webauthn(ctx)?;
        let Proof::Credential(value) = proof else {
            return Err(FactorError::InvalidProof);
        };
        let state: SecurityKeyRegistration =
            serde_json::from_slice(&ctx.key.open(REGISTRATION_PURPOSE, &pending.data)?).map_err(internal)?;
        let credential: RegisterPublicKeyCredential =
            serde_json::from_value(value.clone()).map_err(|_| FactorError::InvalidProof)?;
        let key = webauthn
            .finish_securitykey_registration(&credential, &state)
            .map_err(|err| {
                tracing::info!(%err, "security key registration refused");
                FactorError::InvalidProof
            })?;
        serde_json::to_string(&key).map_err(internal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relying_party_is_the_public_host_and_never_an_ip() {
        assert!(relying_party("http://localhost:8080/", "Sesame").is_some());
        assert!(relying_party("https://login.example.com/", "Sesame").is_some());
        assert!(relying_party("http://127.0.0.1:8080/", "Sesame").is_none());
        assert!(relying_party("http://[::1]:8080/", "Sesame").is_none());
        assert!(relying_party("not a url", "Sesame").is_none());
    }
}
