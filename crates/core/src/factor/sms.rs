//! MFA-4 SMS codes: a phone number in E.164, verified by a code at enrolment; 6-digit codes valid
//! 5 minutes, single use (stored as HMACs bound to the flow or device, RISK-4), at most one text
//! per 30 s and 5 per hour per account, offered only in the configured subsidiaries. A text is
//! queued in the SMS outbox in the same transaction as its code, and names the brand, never the
//! NIC handle.

use super::{
    Challenge, EnrolInput, EnrolPrompt, Enrolment, FactorContext, FactorError, FactorOutcome, Method, Prompt, Proof,
    Scope, SecondFactor, internal,
};
use crate::ports::{FactorCredential, OneTimeSecret, StoreError};
use crate::sms::{SmsMessage, code_text};
use crate::throttle::take_code_send;
use crate::types::new_id;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

const PURPOSE: &str = "sms-code";
const THROTTLE_SCOPE: &str = "sms-sent";
/// MFA-4: wrong tries against the code of one scope (a login, an enrolment, a removal).
const TRIES_SCOPE: &str = "sms-tries";

/// A phone's stored data.
#[derive(Debug, Serialize, Deserialize)]
struct Phone {
    phone: String,
}

/// An E.164 number (`+` then 8 to 15 digits, no leading zero) from what the customer typed
/// (spaces, dots, dashes and brackets are dropped).
pub fn parse_e164(input: &str) -> Option<String> {
    let kept: String = input
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-' | '(' | ')'))
        .collect();
    let digits = kept.strip_prefix('+')?;
    let ok = (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
    ok.then_some(kept)
}

/// A number as shown back: the country code and the last two digits (`+33 ••• ••• •78`).
pub fn mask(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().skip(1).collect();
    let tail: String = digits.iter().skip(digits.len().saturating_sub(2)).collect();
    let head: String = digits.iter().take(2).collect();
    format!("+{head} ••• ••• •{tail}")
}

fn phone_of(cred: &FactorCredential) -> Result<String, FactorError> {
    Ok(serde_json::from_str::<Phone>(&cred.data).map_err(internal)?.phone)
}

/// A phone a login may text, as the second step lists it (MFA-1: several devices of a method).
/// Only the masked number: whoever has the password alone learns no more (not the names the
/// customer gave their phones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneChoice {
    pub id: Uuid,
    /// The number, masked.
    pub to: String,
}

/// The enabled phones, the one a login texts when none is chosen first: used (or added) last.
fn by_recent_use<'a>(ctx: &'a FactorContext<'_>) -> Vec<&'a FactorCredential> {
    let mut phones: Vec<_> = ctx.devices(Method::Sms).collect();
    phones.sort_by_key(|d| std::cmp::Reverse((d.last_used_at, d.enabled_at)));
    phones
}

/// The phones a login may choose from, the default first.
pub fn phones(ctx: &FactorContext<'_>) -> Vec<PhoneChoice> {
    by_recent_use(ctx)
        .into_iter()
        .filter_map(|d| {
            Some(PhoneChoice {
                id: d.id,
                to: mask(&phone_of(d).ok()?),
            })
        })
        .collect()
}

fn code_hashes(ctx: &FactorContext<'_>, scope: Uuid, code: &str) -> Vec<Vec<u8>> {
    ctx.key.hmacs(PURPOSE, format!("{scope}:{code}").as_bytes())
}

/// SMS as a second factor.
pub struct SmsFactor;

impl SmsFactor {
    fn offered(ctx: &FactorContext<'_>) -> bool {
        ctx.settings
            .sms_subsidiaries
            .iter()
            .any(|s| s.eq_ignore_ascii_case(&ctx.account.subsidiary))
    }

    /// MFA-4 resend limits, counted in the database so every node sees them.
    async fn limit(ctx: &FactorContext<'_>) -> Result<(), FactorError> {
        let key = ctx.account.id.to_string();
        match take_code_send(ctx.ports, &ctx.settings.limits, THROTTLE_SCOPE, &key, ctx.now).await? {
            Some(retry_after) => Err(FactorError::Throttled { retry_after }),
            None => Ok(()),
        }
    }

    /// Texts a new code bound to `scope` (voiding the scope's older codes).
    async fn send(ctx: &FactorContext<'_>, scope: Uuid, phone: &str) -> Result<(), FactorError> {
        Self::limit(ctx).await?;
        // A new code equal to a voided one of the same scope would hit the secrets' unique
        // hash: draw again (one chance in a million each time).
        for _ in 0..3 {
            let code = format!("{:06}", ctx.rng.below(1_000_000));
            let expires_at = ctx.now + ctx.settings.limits.sms_code_ttl;
            let secret = OneTimeSecret {
                id: new_id(ctx.now),
                purpose: PURPOSE.into(),
                account_id: Some(ctx.account.id),
                flow_id: Some(scope),
                secret_hash: ctx.key.hmac(PURPOSE, format!("{scope}:{code}").as_bytes()),
                created_at: ctx.now,
                expires_at,
            };
            let sms = SmsMessage {
                id: new_id(ctx.now),
                account_id: Some(ctx.account.id),
                to: phone.to_owned(),
                text: code_text(
                    &ctx.account.language,
                    &ctx.settings.issuer,
                    &code,
                    ctx.settings.limits.sms_code_ttl,
                ),
                created_at: ctx.now,
                expires_at,
            };
            match ctx.ports.queue_sms(&sms, Some(&secret), ctx.now).await {
                Err(StoreError::Conflict(_)) => continue,
                other => {
                    other?;
                    // A new code (the older ones are void) gets its own tries.
                    ctx.ports.reset(TRIES_SCOPE, &scope.to_string()).await?;
                    return Ok(());
                }
            }
        }
        Err(internal("no fresh SMS code after three draws"))
    }
}

#[async_trait]
impl SecondFactor for SmsFactor {
    fn method(&self) -> Method {
        Method::Sms
    }

    async fn available(&self, ctx: &FactorContext<'_>) -> Result<bool, FactorError> {
        Ok(Self::offered(ctx) && ctx.devices(Method::Sms).next().is_some())
    }

    /// Texts a code to the device in scope (the one the customer chose, or being removed), or
    /// to the phone used (or added) last.
    async fn challenge(&self, ctx: &FactorContext<'_>, scope: Scope<'_>) -> Result<Challenge, FactorError> {
        let device = match scope.device {
            Some(device) => device,
            None => by_recent_use(ctx).into_iter().next().ok_or(FactorError::Unavailable)?,
        };
        let phone = phone_of(device)?;
        Self::send(ctx, scope.id, &phone).await?;
        Ok(Challenge {
            prompt: Prompt::CodeSent { to: mask(&phone) },
            state: Some(device.id.to_string()),
        })
    }

    async fn verify(
        &self,
        ctx: &FactorContext<'_>,
        scope: Scope<'_>,
        proof: &Proof,
    ) -> Result<FactorOutcome, FactorError> {
        let code: String = super::code(proof)
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(FactorOutcome::Rejected);
        }
        // MFA-4: at most 5 tries a code, counted before the code is looked at (so parallel
        // guesses can't pass the limit); past it even the right code is refused.
        let key = scope.id.to_string();
        let limits = &ctx.settings.limits;
        let tried = ctx
            .ports
            .hit(TRIES_SCOPE, &key, ctx.now - limits.sms_code_ttl, ctx.now)
            .await?;
        if tried > limits.sms_code_tries {
            return Ok(FactorOutcome::Rejected);
        }
        let consumed = super::consume_any(ctx.ports, PURPOSE, &code_hashes(ctx, scope.id, &code), ctx.now).await?;
        if consumed.is_none() {
            return Ok(FactorOutcome::Rejected);
        }
        let device = scope
            .device
            .map(|d| d.id)
            .or_else(|| scope.state.and_then(|s| Uuid::parse_str(s).ok()));
        Ok(FactorOutcome::Accepted(device))
    }

    async fn enrol(&self, ctx: &FactorContext<'_>, input: &EnrolInput) -> Result<Enrolment, FactorError> {
        if !Self::offered(ctx) {
            return Err(FactorError::Unavailable);
        }
        let phone = input
            .phone
            .as_deref()
            .and_then(parse_e164)
            .ok_or(FactorError::InvalidInput("phone"))?;
        Self::send(ctx, input.id, &phone).await?;
        Ok(Enrolment {
            data: serde_json::to_string(&Phone { phone: phone.clone() }).map_err(internal)?,
            shown: EnrolPrompt::Sms { to: mask(&phone) },
        })
    }

    fn enrol_prompt(
        &self,
        _ctx: &FactorContext<'_>,
        pending: &FactorCredential,
    ) -> Result<Option<EnrolPrompt>, FactorError> {
        Ok(Some(EnrolPrompt::Sms {
            to: mask(&phone_of(pending)?),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_e164_after_dropping_separators() {
        assert_eq!(parse_e164(" +33 6 12 34 56 78 ").as_deref(), Some("+33612345678"));
        assert_eq!(parse_e164("+1 (415) 555-0100").as_deref(), Some("+14155550100"));
        assert_eq!(parse_e164("0612345678"), None, "no country code");
        assert_eq!(parse_e164("+0612345678"), None);
        assert_eq!(parse_e164("+3361234"), None, "too short");
        assert_eq!(parse_e164("+3361234567890123"), None, "too long");
        assert_eq!(parse_e164("+33６12345678"), None, "full-width digit");
    }

    #[test]
    fn masks_keep_the_country_code_and_the_last_two_digits() {
        assert_eq!(mask("+33612345678"), "+33 ••• ••• •78");
    }
}
