//! Authentication factors. Each factor lives in its own module; flows use them through the
//! [`SecondFactor`] trait and never know how a proof is checked (Kratos' strategies). The
//! password is the first factor; the second factors are authenticator apps (TOTP), backup codes,
//! and, plugging into the same trait, security keys and SMS.

pub mod backup_code;
pub mod password;
pub mod totp;

use crate::keys::ServerKey;
use crate::ports::{Account, Store, StoreError};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// MFA-1 second-factor methods, in the order they are offered (SMS, the weakest, after the app
/// and security keys; backup codes last).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
}

/// What a factor may use to check a proof.
pub struct FactorContext<'a> {
    pub store: &'a dyn Store,
    pub key: &'a ServerKey,
    pub account: &'a Account,
    pub now: OffsetDateTime,
}

/// The result of checking a proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorOutcome {
    /// Accepted; the credential that matched, when there is one.
    Accepted(Option<Uuid>),
    Rejected,
    /// MFA-2: a TOTP step already used: refused, logged and notified.
    Replayed,
}

/// One second-factor method.
#[async_trait]
pub trait SecondFactor: Send + Sync {
    fn method(&self) -> Method;
    /// Whether the account can use this method now.
    async fn available(&self, ctx: &FactorContext<'_>) -> Result<bool, StoreError>;
    /// Checks a proof and consumes what must be single-use (RISK-4).
    async fn verify(&self, ctx: &FactorContext<'_>, proof: &str) -> Result<FactorOutcome, StoreError>;
}

/// Authenticator apps.
pub struct TotpFactor;

#[async_trait]
impl SecondFactor for TotpFactor {
    fn method(&self) -> Method {
        Method::Totp
    }

    async fn available(&self, ctx: &FactorContext<'_>) -> Result<bool, StoreError> {
        let creds = ctx.store.credentials(ctx.account.id).await?;
        Ok(creds.iter().any(|c| c.kind == "totp" && c.enabled_at.is_some()))
    }

    async fn verify(&self, ctx: &FactorContext<'_>, proof: &str) -> Result<FactorOutcome, StoreError> {
        for cred in ctx.store.credentials(ctx.account.id).await? {
            if cred.kind != "totp" || cred.enabled_at.is_none() {
                continue;
            }
            let seed = ctx
                .key
                .open(totp::SEAL_PURPOSE, &cred.data)
                .map_err(|e| StoreError::Internal(format!("TOTP seed: {e}")))?;
            if let Some(step) = totp::matching_step(&seed, proof, ctx.now) {
                let step = i64::try_from(step).map_err(|e| StoreError::Internal(e.to_string()))?;
                if !ctx.store.use_totp_step(ctx.account.id, step).await? {
                    return Ok(FactorOutcome::Replayed);
                }
                ctx.store.touch_credential(cred.id, ctx.now).await?;
                return Ok(FactorOutcome::Accepted(Some(cred.id)));
            }
        }
        Ok(FactorOutcome::Rejected)
    }
}

/// Backup codes: never the only method (MFA-5).
pub struct BackupCodeFactor;

#[async_trait]
impl SecondFactor for BackupCodeFactor {
    fn method(&self) -> Method {
        Method::BackupCode
    }

    async fn available(&self, ctx: &FactorContext<'_>) -> Result<bool, StoreError> {
        Ok(ctx.store.backup_codes_left(ctx.account.id, ctx.now).await? > 0)
    }

    async fn verify(&self, ctx: &FactorContext<'_>, proof: &str) -> Result<FactorOutcome, StoreError> {
        let Some(code) = backup_code::normalize(proof) else {
            return Ok(FactorOutcome::Rejected);
        };
        let hashes = backup_code::hashes(ctx.key, ctx.account.id, &code);
        match consume_any(ctx.store, backup_code::PURPOSE, &hashes, ctx.now).await? {
            Some(_) => Ok(FactorOutcome::Accepted(None)),
            None => Ok(FactorOutcome::Rejected),
        }
    }
}

/// Consumes the one-time secret stored under any of `hashes` (its HMAC under each server key,
/// current first), so secrets made before a key rotation still work (SEC-1).
pub(crate) async fn consume_any(
    store: &dyn Store,
    purpose: &str,
    hashes: &[Vec<u8>],
    now: OffsetDateTime,
) -> Result<Option<crate::ports::OneTimeSecret>, StoreError> {
    for hash in hashes {
        if let Some(secret) = store.consume_secret(purpose, hash, now).await? {
            return Ok(Some(secret));
        }
    }
    Ok(None)
}
