//! Text messages (MFA-4): a service writes an [`SmsMessage`] to the SMS outbox in the same
//! transaction as the one-time secret it carries ([`SmsOutboxStore::queue_sms`]), voiding older
//! codes of the same flow; a worker (the `mail` crate's `SmsWorker`) delivers it later through the
//! configured HTTP gateway, with retries, and the text (which holds the code) is cleared once sent
//! or expired. [`code_text`] words the code in the customer's language.

use crate::ports::{OneTimeSecret, StoreError};
use crate::types::AccountId;
use async_trait::async_trait;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// A text message for the outbox.
#[derive(Clone, PartialEq, Eq)]
pub struct SmsMessage {
    pub id: Uuid,
    pub account_id: Option<AccountId>,
    /// The number in E.164, e.g. `+33612345678`.
    pub to: String,
    /// What the phone shows; it holds a code, so it is never logged and is cleared once sent.
    pub text: String,
    pub created_at: OffsetDateTime,
    /// Unsent past this, the text is dropped (a late code is useless).
    pub expires_at: OffsetDateTime,
}

impl std::fmt::Debug for SmsMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsMessage")
            .field("id", &self.id)
            .field("account_id", &self.account_id)
            .field("to", &self.to)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A text claimed for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedSms {
    pub sms: SmsMessage,
    /// Delivery attempts including this one.
    pub attempts: i64,
}

#[async_trait]
pub trait SmsOutboxStore: Send + Sync {
    /// Queues a text. In the same transaction, when `secret` is given, first voids (`used_at =
    /// now`) the unused one-time secrets with its purpose and its `flow_id` (or, when it has no
    /// flow, its `account_id`), then inserts it: a newer code voids older ones.
    async fn queue_sms(
        &self,
        sms: &SmsMessage,
        secret: Option<&OneTimeSecret>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Claims the next due text for `worker` until `lease_until`; two workers never both get it.
    async fn claim_sms(
        &self,
        worker: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Result<Option<ClaimedSms>, StoreError>;
    /// Marks a text sent as soon as the gateway accepted it; the text (which holds a code) is
    /// cleared.
    async fn mark_sms_sent(&self, id: Uuid, now: OffsetDateTime) -> Result<(), StoreError>;
    /// Records a failure: retried from `retry_at`, or parked when `None`.
    async fn mark_sms_failed(
        &self,
        id: Uuid,
        error: &str,
        retry_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Parks unsent texts past their expiry and clears their text; returns how many.
    async fn drop_expired_sms(&self, now: OffsetDateTime) -> Result<u64, StoreError>;
}

/// The text carrying an SMS code, in the customer's language (`en` or `fr`; any other falls back
/// to `en`), naming the brand and never the NIC handle. Plain GSM characters only, so that it
/// fits one SMS.
pub fn code_text(language: &str, brand: &str, code: &str, valid_for: Duration) -> String {
    let minutes = valid_for.whole_minutes();
    let primary = language.split(['-', '_']).next().unwrap_or_default();
    if primary.eq_ignore_ascii_case("fr") {
        format!(
            "{brand} : votre code de vérification est {code}. Il expire dans {minutes} minutes. Ne le communiquez jamais."
        )
    } else {
        format!("{brand}: your verification code is {code}. It expires in {minutes} minutes. Never share it.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_text_speaks_the_customers_language() {
        assert_eq!(
            code_text("en", "Sesame", "123456", Duration::minutes(5)),
            "Sesame: your verification code is 123456. It expires in 5 minutes. Never share it."
        );
        assert_eq!(
            code_text("fr-CA", "Sesame", "123456", Duration::minutes(5)),
            "Sesame : votre code de vérification est 123456. Il expire dans 5 minutes. Ne le communiquez jamais."
        );
        assert_eq!(
            code_text("de", "Acme", "000001", Duration::minutes(5)),
            code_text("en", "Acme", "000001", Duration::minutes(5))
        );
    }

    #[test]
    fn debug_never_shows_the_text() {
        let sms = SmsMessage {
            id: Uuid::nil(),
            account_id: None,
            to: "+33612345678".into(),
            text: code_text("en", "Sesame", "987654", Duration::minutes(5)),
            created_at: OffsetDateTime::UNIX_EPOCH,
            expires_at: OffsetDateTime::UNIX_EPOCH,
        };
        let shown = format!(
            "{sms:?} {:?}",
            ClaimedSms {
                sms: sms.clone(),
                attempts: 1
            }
        );
        assert!(!shown.contains("987654"), "{shown}");
        assert!(shown.contains("+33612345678"));
    }
}
