//! Getting back in (RECOVER-1..6): what the recovery services keep, and the port that keeps it.
//! Password resets and changes, the backup email, primary-email changes (with their 24-hour wait
//! when the current address can't be reached) and lost-2FA requests with their documents.

use crate::audit::AuditEvent;
use crate::mail::ComposedMail;
use crate::ports::{OneTimeSecret, StoreError};
use crate::types::{AccountId, Email};
use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

/// Which address an [`EmailChange`] proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailTarget {
    /// RECOVER-3: the backup email.
    Backup,
    /// RECOVER-4: the primary email.
    Primary,
}

impl EmailTarget {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Backup => "backup",
            Self::Primary => "primary",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Backup, Self::Primary].into_iter().find(|t| t.as_str() == s)
    }
}

/// An address on its way to becoming the backup or primary email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailChange {
    pub id: Uuid,
    pub account_id: AccountId,
    pub target: EmailTarget,
    pub email: Email,
    /// RECOVER-4: whether the current primary can receive its code.
    pub current_reachable: bool,
    pub attempts: i64,
    pub created_at: OffsetDateTime,
    /// The codes stop working then.
    pub expires_at: OffsetDateTime,
    /// A confirmed change waiting out its delay applies then (unless cancelled).
    pub applies_at: Option<OffsetDateTime>,
    pub completed_at: Option<OffsetDateTime>,
    pub cancelled_at: Option<OffsetDateTime>,
}

/// A new password written in one transaction with everything it ends.
#[derive(Debug, Clone)]
pub struct PasswordChange<'a> {
    pub account: AccountId,
    pub phc: &'a str,
    /// A reset: this secret must still be unused (it is consumed), and the account's other
    /// unused secrets of its purpose are voided.
    pub consume: Option<Uuid>,
    /// The session that stays (a change from the security page); every other one ends.
    pub keep_session: Option<Uuid>,
    pub now: OffsetDateTime,
    pub audit: &'a AuditEvent,
    pub mails: &'a [ComposedMail],
}

/// RECOVER-5: where a lost-2FA request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestStatus {
    /// Documents are being added.
    Draft,
    /// Submitted; waiting for the link mailed to the customer.
    AwaitingConfirmation,
    /// Confirmed; waiting for support.
    PendingReview,
    Approved,
    Rejected,
    /// Replaced by a newer request, or left unconfirmed past its expiry.
    Cancelled,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::AwaitingConfirmation => "awaiting_confirmation",
            Self::PendingReview => "pending_review",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Draft,
            Self::AwaitingConfirmation,
            Self::PendingReview,
            Self::Approved,
            Self::Rejected,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// RECOVER-5: a request to switch 2FA off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryRequest {
    pub id: Uuid,
    pub account_id: AccountId,
    /// The hash of the browser's device id: the request id alone opens nothing.
    pub browser_hash: Vec<u8>,
    pub status: RequestStatus,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// The documents are deleted then, whatever happened.
    pub expires_at: OffsetDateTime,
    pub decided_at: Option<OffsetDateTime>,
    pub reason: Option<String>,
    /// SUPPORT-3: the agent who proposed approving it, and the ticket.
    pub proposed_by: Option<Uuid>,
    pub ticket: Option<String>,
}

/// An identity document as stored: encrypted under its own key, the key sealed under the server key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDocument {
    pub id: Uuid,
    pub request_id: Uuid,
    pub content_type: String,
    pub size: i64,
    pub sealed_key: String,
    pub ciphertext: Vec<u8>,
    pub created_at: OffsetDateTime,
}

/// A request moving from one status to the next, with what goes with it.
#[derive(Debug, Clone)]
pub struct RequestStep<'a> {
    pub id: Uuid,
    pub from: RequestStatus,
    pub to: RequestStatus,
    pub now: OffsetDateTime,
    pub secrets: &'a [OneTimeSecret],
    /// Why (a rejection's reason, kept with the request).
    pub reason: Option<&'a str>,
    /// A new end of the request's life (a confirmation gives support the whole time to decide).
    pub expires_at: Option<OffsetDateTime>,
    pub audit: &'a AuditEvent,
    pub mails: &'a [ComposedMail],
}

#[async_trait]
pub trait RecoveryStore: Send + Sync {
    /// Voids the account's unused secrets of the same purpose, stores this one and queues the
    /// mails, in one transaction ("a newer request voids older ones").
    async fn replace_secret(&self, secret: &OneTimeSecret, mails: &[ComposedMail]) -> Result<(), StoreError>;
    /// The unused, unexpired secret with one of these hashes, without consuming it.
    async fn find_secret(
        &self,
        purpose: &str,
        hashes: &[Vec<u8>],
        now: OffsetDateTime,
    ) -> Result<Option<OneTimeSecret>, StoreError>;
    /// Counts a wrong try against a secret; at `max` tries it is voided and false comes back.
    async fn count_secret_attempt(&self, id: Uuid, max: i64) -> Result<bool, StoreError>;
    /// Writes a new password; false (nothing written) when the secret to consume was used,
    /// voided or expired meanwhile: of two parallel resets with one link, one wins. The other
    /// sessions and the open login flows end, and the open email changes are cancelled, with it.
    async fn set_password(&self, change: &PasswordChange<'_>) -> Result<bool, StoreError>;

    /// Stores a change with its code secrets and mails; the account's other open changes of the
    /// same target are cancelled.
    async fn create_email_change(
        &self,
        change: &EmailChange,
        secrets: &[OneTimeSecret],
        mails: &[ComposedMail],
    ) -> Result<(), StoreError>;
    /// The account's change of this target still waiting for its codes or its delay.
    async fn open_email_change(
        &self,
        account: AccountId,
        target: EmailTarget,
        now: OffsetDateTime,
    ) -> Result<Option<EmailChange>, StoreError>;
    async fn find_email_change(&self, id: Uuid) -> Result<Option<EmailChange>, StoreError>;
    /// Counts one try at the codes; false once `max` were made.
    async fn count_email_change_attempt(&self, id: Uuid, max: i64) -> Result<bool, StoreError>;
    /// RECOVER-4: a confirmed change whose current address can't be reached waits until
    /// `applies_at`; the cancel link's secret and the warnings go with it.
    async fn schedule_email_change(
        &self,
        id: Uuid,
        applies_at: OffsetDateTime,
        secrets: &[OneTimeSecret],
        audit: &AuditEvent,
        mails: &[ComposedMail],
    ) -> Result<bool, StoreError>;
    /// Makes the address the backup or the primary email; false when the change is no longer
    /// open; [`StoreError::Conflict`] when another account took the address meanwhile
    /// ([`Unique::Email`](crate::ports::Unique::Email)) or it became this account's other
    /// address ([`Unique::OtherAddress`](crate::ports::Unique::OtherAddress)).
    async fn apply_email_change(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        audit: &AuditEvent,
        mails: &[ComposedMail],
    ) -> Result<bool, StoreError>;
    /// False when it was already applied or cancelled.
    async fn cancel_email_change(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        audit: &AuditEvent,
        mails: &[ComposedMail],
    ) -> Result<bool, StoreError>;
    /// Scheduled changes whose time has come, oldest first.
    async fn due_email_changes(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<EmailChange>, StoreError>;
    async fn remove_backup_email(
        &self,
        account: AccountId,
        audit: &AuditEvent,
        mails: &[ComposedMail],
    ) -> Result<bool, StoreError>;
    /// RECOVER-6: the verified backup email becomes the primary; the customer must then give a
    /// new backup email. False without a backup email; a conflict when another account has it.
    async fn promote_backup_email(
        &self,
        account: AccountId,
        audit: &AuditEvent,
        mails: &[ComposedMail],
    ) -> Result<bool, StoreError>;

    /// Starts a request; an open draft or unconfirmed request of the account is cancelled (its
    /// documents deleted); [`StoreError::Conflict`] when one is already waiting for review.
    async fn create_recovery_request(&self, request: &RecoveryRequest) -> Result<(), StoreError>;
    async fn recovery_request(&self, id: Uuid) -> Result<Option<RecoveryRequest>, StoreError>;
    /// Adds a document to a draft with fewer than `max` documents; false otherwise.
    async fn add_document(&self, document: &StoredDocument, max: i64) -> Result<bool, StoreError>;
    async fn document_count(&self, request: Uuid) -> Result<i64, StoreError>;
    /// The stored (encrypted) documents of a request, oldest first.
    async fn documents(&self, request: Uuid) -> Result<Vec<StoredDocument>, StoreError>;
    /// Moves a request along; false when it was not in `from` (the documents go when it ends).
    async fn advance_recovery_request(&self, step: &RequestStep<'_>) -> Result<bool, StoreError>;
    /// Deletes the documents of requests past their expiry (and cancels those still open);
    /// returns how many documents went.
    async fn expire_recovery_requests(&self, now: OffsetDateTime) -> Result<u64, StoreError>;
    /// Up to `limit` requests waiting for support whose time is over (each is then closed with
    /// its own notice through [`advance_recovery_request`](Self::advance_recovery_request)).
    async fn expired_reviews(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<RecoveryRequest>, StoreError>;
}
