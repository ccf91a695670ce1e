//! MFA-2 authenticator apps (RFC 6238 through totp-rs): 160-bit secret, SHA-1, 6 digits, 30 s,
//! ±1 step of drift by default (`limits.totp_drift_steps`). The seed is stored sealed under the server key (SEC-1); a matched time step
//! is recorded per account so the same step is never accepted twice.

use super::{
    EnrolInput, EnrolPrompt, Enrolment, FactorContext, FactorError, FactorOutcome, Method, Proof, Scope, SecondFactor,
};
use crate::ports::FactorCredential;
use crate::random::Random;
use async_trait::async_trait;
use time::OffsetDateTime;
use totp_rs::{Builder, Secret, Totp};

pub const SEAL_PURPOSE: &str = "totp-seed";

/// A new 160-bit seed.
pub fn new_seed(rng: &dyn Random) -> Vec<u8> {
    let mut seed = vec![0u8; 20];
    rng.fill(&mut seed);
    seed
}

fn build(seed: &[u8], account_name: &str, issuer: &str) -> Option<Totp> {
    builder(seed, account_name, issuer).build().ok()
}

fn builder(seed: &[u8], account_name: &str, issuer: &str) -> Builder {
    Builder::new()
        .with_secret(Secret::from(seed.to_vec()))
        .with_account_name(account_name)
        .with_issuer(Some(issuer))
}

/// The seed in unpadded RFC 4648 base32, as apps take it.
pub fn base32(seed: &[u8]) -> String {
    Secret::from(seed.to_vec()).to_base32()
}

/// The `otpauth://` URL for the QR code.
pub fn otpauth_url(seed: &[u8], account_name: &str, issuer: &str) -> String {
    build(seed, account_name, issuer)
        .and_then(|t| t.to_url().ok())
        .unwrap_or_default()
}

/// The QR code of a URL as inline SVG.
pub fn qr_svg(url: &str) -> String {
    qrcode::QrCode::new(url.as_bytes())
        .map(|code| {
            code.render::<qrcode::render::svg::Color>()
                .min_dimensions(200, 200)
                .build()
        })
        .unwrap_or_default()
}

/// The time step a code matches at `now` (± `drift` steps), if any.
pub fn matching_step(seed: &[u8], code: &str, now: OffsetDateTime, drift: u16) -> Option<u64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let time = u64::try_from(now.unix_timestamp()).ok()?;
    builder(seed, "check", "sesame")
        .with_skew(drift)
        .build()
        .ok()?
        .check(&code, time)
}

/// Authenticator apps as a second factor.
pub struct TotpFactor;

impl TotpFactor {
    fn prompt(ctx: &FactorContext<'_>, seed: &[u8]) -> EnrolPrompt {
        let url = otpauth_url(seed, ctx.account.nic_handle.as_str(), &ctx.settings.issuer);
        EnrolPrompt::Totp {
            secret: base32(seed),
            qr_svg: qr_svg(&url),
            otpauth_url: url,
        }
    }
}

#[async_trait]
impl SecondFactor for TotpFactor {
    fn method(&self) -> Method {
        Method::Totp
    }

    /// A code from one of the apps (or from the one device in scope), at a time step not used
    /// before on this account (MFA-2).
    async fn verify(
        &self,
        ctx: &FactorContext<'_>,
        scope: Scope<'_>,
        proof: &Proof,
    ) -> Result<FactorOutcome, FactorError> {
        let Some(code) = super::code(proof) else {
            return Ok(FactorOutcome::Rejected);
        };
        let devices: Vec<&FactorCredential> = match scope.device {
            Some(device) => vec![device],
            None => ctx.devices(Method::Totp).collect(),
        };
        for cred in devices {
            let seed = ctx.key.open(SEAL_PURPOSE, &cred.data)?;
            if let Some(step) = matching_step(&seed, code, ctx.now, ctx.settings.limits.totp_drift_steps) {
                let step = i64::try_from(step).map_err(super::internal)?;
                if !ctx.ports.use_totp_step(ctx.account.id, step).await? {
                    return Ok(FactorOutcome::Replayed);
                }
                return Ok(FactorOutcome::Accepted(Some(cred.id)));
            }
        }
        Ok(FactorOutcome::Rejected)
    }

    async fn enrol(&self, ctx: &FactorContext<'_>, _input: &EnrolInput) -> Result<Enrolment, FactorError> {
        let seed = new_seed(ctx.rng);
        Ok(Enrolment {
            data: ctx.key.seal(SEAL_PURPOSE, &seed, ctx.rng)?,
            shown: Self::prompt(ctx, &seed),
        })
    }

    fn enrol_prompt(
        &self,
        ctx: &FactorContext<'_>,
        pending: &FactorCredential,
    ) -> Result<Option<EnrolPrompt>, FactorError> {
        let seed = ctx.key.open(SEAL_PURPOSE, &pending.data)?;
        Ok(Some(Self::prompt(ctx, &seed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    // RFC 6238 appendix B test seed (SHA-1): "12345678901234567890".
    const SEED: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc_6238_vectors_match_within_the_drift() {
        // At 59 s the 8-digit RFC code is 94287082; its last 6 digits are the 6-digit code.
        let at = OffsetDateTime::from_unix_timestamp(59).unwrap();
        let later = |seconds| at + time::Duration::seconds(seconds);
        assert_eq!(matching_step(SEED, "287082", at, 1), Some(1));
        assert_eq!(matching_step(SEED, "287082", later(30), 1), Some(1), "+1 step");
        assert_eq!(matching_step(SEED, "287082", later(60), 1), None, "+2 steps");
        assert_eq!(matching_step(SEED, "28708", at, 1), None);
        assert_eq!(matching_step(SEED, "abcdef", at, 1), None);
        // The drift is a setting: none, or two steps.
        assert_eq!(matching_step(SEED, "287082", later(30), 0), None);
        assert_eq!(matching_step(SEED, "287082", later(60), 2), Some(1));
    }

    #[test]
    fn urls_and_secrets_are_what_apps_expect() {
        assert_eq!(base32(SEED), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let url = otpauth_url(SEED, "ab12345-ovh", "Sesame");
        assert!(url.starts_with("otpauth://totp/Sesame:ab12345-ovh?"), "{url}");
        assert!(url.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"));
        assert!(qr_svg(&url).starts_with("<?xml") || qr_svg(&url).contains("<svg"));
        let _ = datetime!(2026-01-01 00:00 UTC);
    }
}
