//! Authentication factors. Each factor lives in its own module and plugs into every flow through
//! the [`SecondFactor`] trait (Kratos' strategies); flows never know how a proof is checked.
//!
//! A factor may need a *challenge* before a proof (WebAuthn request options, a texted code). The
//! challenge's state is returned to the caller, which seals it under the server key (SEC-1) and
//! keeps it with the flow in the database, so any node can finish the step (OPS-1). A proof is
//! typed ([`Proof`]): a code, or a WebAuthn credential as the browser returns it.
//!
//! Adding a factor: its module, an entry in [`Method`] and in [`registry`], its templates and its
//! JSON shapes. Nothing in the login flow changes.

pub mod backup_code;
pub mod imported_hash;
pub mod password;
pub mod security_key;
pub mod sms;
pub mod totp;

use crate::keys::ServerKey;
use crate::ports::{Account, CredentialStore, FactorCredential, OneTimeSecret, SecretStore, StoreError, ThrottleStore};
use crate::random::Random;
use crate::sms::SmsOutboxStore;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// MFA-1 second-factor methods, in the order they are offered (SMS, the weakest, after the app
/// and security keys; backup codes last).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Totp,
    SecurityKey,
    Sms,
    BackupCode,
}

impl Method {
    pub const ALL: [Self; 4] = [Self::Totp, Self::SecurityKey, Self::Sms, Self::BackupCode];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::SecurityKey => "security_key",
            Self::Sms => "sms",
            Self::BackupCode => "backup_code",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Whether the method has devices (apps, keys, phones); backup codes are a set, not a device.
    pub fn is_device(self) -> bool {
        self != Self::BackupCode
    }
}

/// The narrow ports a factor may use: its credentials, one-time secrets, counters and texts.
pub trait FactorPorts: CredentialStore + SecretStore + ThrottleStore + SmsOutboxStore {}
impl<T: CredentialStore + SecretStore + ThrottleStore + SmsOutboxStore + ?Sized> FactorPorts for T {}

/// Settings the factors read (each a setting in the configuration file).
#[derive(Clone)]
pub struct FactorSettings {
    /// The name apps show next to the customer ID, and texts start with.
    pub issuer: String,
    /// MFA-3: the relying party; `None` when the public URL's host can't be one (an IP address).
    pub webauthn: Option<Arc<webauthn_rs::Webauthn>>,
    /// MFA-4: subsidiaries where SMS is offered.
    pub sms_subsidiaries: Vec<String>,
    /// Code lifetimes, tries and set sizes.
    pub limits: crate::limits::Limits,
}

impl std::fmt::Debug for FactorSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FactorSettings")
            .field("issuer", &self.issuer)
            .field("security_keys", &self.webauthn.is_some())
            .field("sms_subsidiaries", &self.sms_subsidiaries)
            .field("limits", &self.limits)
            .finish()
    }
}

/// What a factor may use.
pub struct FactorContext<'a> {
    pub ports: &'a dyn FactorPorts,
    pub key: &'a ServerKey,
    pub rng: &'a dyn Random,
    pub settings: &'a FactorSettings,
    pub account: &'a Account,
    /// Every second-factor credential of the account, pending ones included, oldest first.
    pub credentials: &'a [FactorCredential],
    pub now: OffsetDateTime,
}

impl FactorContext<'_> {
    /// The enabled devices of a method.
    pub fn devices(&self, method: Method) -> impl Iterator<Item = &FactorCredential> {
        self.credentials
            .iter()
            .filter(move |c| c.kind == method.as_str() && c.enabled_at.is_some())
    }
}

/// Where a challenge or a proof belongs: a login flow (all the method's devices), or one device
/// (its enrolment, or its removal).
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The flow, or the device being enrolled or removed; codes are bound to it.
    pub id: Uuid,
    /// Only this device may answer.
    pub device: Option<&'a FactorCredential>,
    /// The challenge state kept for this scope, opened.
    pub state: Option<&'a str>,
}

/// A typed proof.
#[derive(Debug, Clone)]
pub enum Proof {
    /// A code typed by the customer.
    Code(String),
    /// A WebAuthn `PublicKeyCredential` as the browser's `toJSON()` gives it.
    Credential(serde_json::Value),
}

/// What the client needs to answer a challenge.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    /// Nothing: the customer reads a code from their device.
    None,
    /// `navigator.credentials.get()` / `.create()` options (`{"publicKey": …}`).
    Options(serde_json::Value),
    /// A code was sent; where to, masked.
    CodeSent { to: String },
}

/// A challenge: what the client gets, and the state the caller seals and keeps with the scope.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub prompt: Prompt,
    pub state: Option<String>,
}

impl Challenge {
    pub fn none() -> Self {
        Self {
            prompt: Prompt::None,
            state: None,
        }
    }
}

/// A device being enrolled: the pending credential's data and what the customer is shown.
#[derive(Debug, Clone)]
pub struct Enrolment {
    pub data: String,
    pub shown: EnrolPrompt,
}

/// What the customer is shown to finish an enrolment.
#[derive(Debug, Clone)]
pub enum EnrolPrompt {
    /// MFA-2: a QR code and a "Show secret" text.
    Totp {
        secret: String,
        otpauth_url: String,
        qr_svg: String,
    },
    /// MFA-3: `navigator.credentials.create()` options.
    SecurityKey { options: serde_json::Value },
    /// MFA-4: a code was texted to the number.
    Sms { to: String },
}

/// What the customer gives to enrol a device.
#[derive(Debug, Clone, Default)]
pub struct EnrolInput {
    /// The id the device will have (codes sent at enrolment are bound to it).
    pub id: Uuid,
    pub description: String,
    /// MFA-4: the phone number, for SMS.
    pub phone: Option<String>,
}

/// The result of checking a proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorOutcome {
    /// Accepted; the device that answered, when there is one (not for backup codes).
    Accepted(Option<Uuid>),
    Rejected,
    /// MFA-2: a TOTP step already used: refused, logged and notified.
    Replayed,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FactorError {
    /// The method can't be used here (security keys without a usable relying party, SMS in a
    /// subsidiary without it, backup codes as a device).
    #[error("this method is not available")]
    Unavailable,
    /// A field the customer gave is wrong (the phone number).
    #[error("{0}")]
    InvalidInput(&'static str),
    /// The proof is wrong (at enrolment).
    #[error("the code is wrong")]
    InvalidProof,
    /// Too many texts: the next one may be sent after this long (MFA-4).
    #[error("too many codes sent; wait before asking again")]
    Throttled { retry_after: Duration },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<crate::keys::KeyError> for FactorError {
    fn from(err: crate::keys::KeyError) -> Self {
        Self::Store(StoreError::Internal(format!("sealed factor data: {err}")))
    }
}

pub(crate) fn internal(err: impl std::fmt::Display) -> FactorError {
    FactorError::Store(StoreError::Internal(err.to_string()))
}

/// One second-factor method.
#[async_trait]
pub trait SecondFactor: Send + Sync {
    fn method(&self) -> Method;

    /// Whether the account can use this method now.
    async fn available(&self, ctx: &FactorContext<'_>) -> Result<bool, FactorError> {
        Ok(ctx.devices(self.method()).next().is_some())
    }

    /// Begins a challenge in a scope (a login flow or one device). Most methods need none.
    async fn challenge(&self, _ctx: &FactorContext<'_>, _scope: Scope<'_>) -> Result<Challenge, FactorError> {
        Ok(Challenge::none())
    }

    /// Checks a proof and consumes what must be single-use (RISK-4).
    async fn verify(
        &self,
        ctx: &FactorContext<'_>,
        scope: Scope<'_>,
        proof: &Proof,
    ) -> Result<FactorOutcome, FactorError>;

    /// Starts enrolling a device: the pending credential's data and what to show.
    async fn enrol(&self, _ctx: &FactorContext<'_>, _input: &EnrolInput) -> Result<Enrolment, FactorError> {
        Err(FactorError::Unavailable)
    }

    /// What a pending device shows again (after a wrong confirmation).
    fn enrol_prompt(
        &self,
        _ctx: &FactorContext<'_>,
        _pending: &FactorCredential,
    ) -> Result<Option<EnrolPrompt>, FactorError> {
        Ok(None)
    }

    /// Confirms a pending device with a proof from it; the data to keep once enabled. By
    /// default, the proof is checked as at login, against that device alone, and the data stays.
    async fn confirm(
        &self,
        ctx: &FactorContext<'_>,
        pending: &FactorCredential,
        state: Option<&str>,
        proof: &Proof,
    ) -> Result<String, FactorError> {
        let scope = Scope {
            id: pending.id,
            device: Some(pending),
            state,
        };
        match self.verify(ctx, scope, proof).await? {
            FactorOutcome::Accepted(_) => Ok(pending.data.clone()),
            FactorOutcome::Rejected | FactorOutcome::Replayed => Err(FactorError::InvalidProof),
        }
    }
}

/// Every second factor, in the order methods are offered (MFA-1). The one list to extend.
pub fn registry() -> Vec<Arc<dyn SecondFactor>> {
    vec![
        Arc::new(totp::TotpFactor),
        Arc::new(security_key::SecurityKeyFactor),
        Arc::new(sms::SmsFactor),
        Arc::new(backup_code::BackupCodeFactor),
    ]
}

/// Consumes the one-time secret stored under any of `hashes` (its HMAC under each server key,
/// current first), so secrets made before a key rotation still work (SEC-1).
pub(crate) async fn consume_any(
    store: &dyn SecretStore,
    purpose: &str,
    hashes: &[Vec<u8>],
    now: OffsetDateTime,
) -> Result<Option<OneTimeSecret>, StoreError> {
    for hash in hashes {
        if let Some(secret) = store.consume_secret(purpose, hash, now).await? {
            return Ok(Some(secret));
        }
    }
    Ok(None)
}

/// The code a proof carries, if it is one.
pub(crate) fn code(proof: &Proof) -> Option<&str> {
    match proof {
        Proof::Code(code) => Some(code.as_str()),
        Proof::Credential(_) => None,
    }
}
