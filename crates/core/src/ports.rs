//! Ports: what the engine needs from storage, as traits that `store` implements for SQLite and
//! PostgreSQL. Every method is one atomic unit of work (one statement or one transaction), so
//! services never hold a transaction open across a password hash.
//!
//! Times are passed in by the caller (the injected clock), never taken from the database's
//! `now()`, so that tests can move time and every node agrees.

use crate::audit::AuditEvent;
use crate::mail::ComposedMail;
use crate::types::{AccountId, AccountState, AccountType, CustomerCode, Email, NicHandle};
use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A unique value is taken; the service decides what that means.
    #[error("{0:?} is already taken")]
    Conflict(Unique),
    /// The database can't be reached or refused to work (pool timeout, connection lost).
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or corrupt data.
    #[error("storage error: {0}")]
    Internal(String),
}

/// Which rule of uniqueness a write ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unique {
    NicHandle,
    CustomerCode,
    Email,
    /// RECOVER-3: the address is the account's other one (its primary, or its backup).
    OtherAddress,
    Other,
}

/// What became of one imported account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportResult {
    Inserted,
    Exists,
    Taken(Unique),
}

/// An account as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub nic_handle: NicHandle,
    pub customer_code: CustomerCode,
    pub email: Email,
    pub first_name: String,
    pub last_name: String,
    pub account_type: AccountType,
    pub company_name: Option<String>,
    pub phone: Option<String>,
    pub country: String,
    pub language: String,
    pub currency: String,
    pub subsidiary: String,
    pub state: AccountState,
    /// LOGIN-4: whether each successful login sends an email.
    pub login_notifications: bool,
    /// LOGIN-2: the second factor used at the last login (`totp`, `backup_code`, …).
    pub last_second_factor: Option<String>,
    pub created_at: OffsetDateTime,
    /// RECOVER-3: the backup email, once its code proved it (never an unproved address).
    pub backup_email: Option<Email>,
    /// RECOVER-6: support made the backup email the primary; a new backup email comes first.
    pub backup_email_required: bool,
}

/// The password credential of an account (PWD-1), a PHC string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordCredential {
    pub id: Uuid,
    pub phc: String,
}

/// Everything written when an account is created, in one transaction: the reserved NIC
/// handle, the account, its password credential and the audit event.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub account: Account,
    pub password_phc: String,
    pub audit: AuditEvent,
    /// Mail reporting the creation (the confirmation with the NIC handle).
    pub mails: Vec<ComposedMail>,
    /// The sign-up flow this creation completes; it must still be open, and is closed with it.
    pub completes_flow: Option<Uuid>,
}

/// What SESS-2's check reads in one query: a session not ended, its account, and the backup
/// email waiting for its code if there is one (RECOVER-3; `GET /api/v1/me` shows it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSession {
    pub session: SessionRecord,
    pub account: Account,
    pub pending_backup: Option<Email>,
}

/// A session as stored: only the token's hash is kept (SESS-1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: Uuid,
    pub account_id: AccountId,
    pub token_hash: Vec<u8>,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    /// When the customer last proved who they are (SESS-3 fresh authentication).
    pub authenticated_at: OffsetDateTime,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub ended_at: Option<OffsetDateTime>,
    /// What proved the second factor at the last authentication: a device id, or
    /// `backup_code` (MFA-6: a lost device may be removed after a proof from another one).
    pub second_factor: Option<String>,
}

/// A one-time secret (email code, reset token, ...) stored as an HMAC under the server key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTimeSecret {
    pub id: Uuid,
    pub purpose: String,
    pub account_id: Option<AccountId>,
    pub flow_id: Option<Uuid>,
    pub secret_hash: Vec<u8>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// ACCT-4: the profile fields a customer may change themselves (country, currency and
/// subsidiary set billing and which services apply: support changes those).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileUpdate {
    pub first_name: String,
    pub last_name: String,
    pub account_type: AccountType,
    pub company_name: Option<String>,
    pub phone: Option<String>,
    /// The language of the customer's mail and texts (MAIL-2).
    pub language: String,
}

#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates the account; [`StoreError::Conflict`] names the taken value. A NIC handle once
    /// reserved is never given out again, even after the account is gone (ACCT-1).
    async fn create_account(&self, new: &NewAccount) -> Result<(), StoreError>;
    /// Writes imported accounts (with their password hash and audit event) in one transaction.
    /// An account whose NIC handle is already there with the same canonical email is left
    /// alone ([`ImportResult::Exists`]); one that would take another account's handle, email or
    /// customer code is not written.
    async fn import_accounts(&self, accounts: &[NewAccount]) -> Result<Vec<ImportResult>, StoreError>;
    /// Finds an account by canonical NIC handle or canonical primary email (ACCT-3).
    async fn find_account_by_login(&self, canonical: &str) -> Result<Option<Account>, StoreError>;
    /// A login's account (as [`AccountStore::find_account_by_login`]) with its password
    /// credential, in one query.
    async fn find_login(&self, canonical: &str) -> Result<Option<(Account, Option<PasswordCredential>)>, StoreError>;
    async fn find_account(&self, id: AccountId) -> Result<Option<Account>, StoreError>;
    async fn password_credential(&self, id: AccountId) -> Result<Option<PasswordCredential>, StoreError>;
    /// A password hash, a customer's or a support agent's, that begins neither with `current`
    /// nor with any of `skip` (imported, or made with older settings): the hasher times one of
    /// each cost class at start (PWD-4).
    async fn other_password_hash(&self, current: &str, skip: &[String]) -> Result<Option<String>, StoreError>;
    /// Replaces a password hash (rehash on login with new settings, PWD-1).
    async fn update_password_hash(&self, credential: Uuid, phc: &str, now: OffsetDateTime) -> Result<(), StoreError>;
    /// ACCT-5: a state other than active also ends every session, cancels the open email changes
    /// and ends the open login flows, in the same transaction as the audit event and the mails
    /// (SUPPORT-5). A closed account stays closed.
    async fn set_account_state(
        &self,
        id: AccountId,
        state: AccountState,
        audit: &AuditEvent,
        mails: &[ComposedMail],
    ) -> Result<bool, StoreError>;
    /// ACCT-4: writes the fields of the profile a customer may change, with the audit event;
    /// false when nothing changed (then nothing is written).
    async fn update_profile(
        &self,
        id: AccountId,
        profile: &ProfileUpdate,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;
    /// LOGIN-4: switches login notifications, with the mail that reports it; false when nothing
    /// changed (then nothing is written or sent).
    async fn set_login_notifications(
        &self,
        id: AccountId,
        on: bool,
        audit: &AuditEvent,
        mails: &[ComposedMail],
    ) -> Result<bool, StoreError>;
}

/// What a login writes with its session, in one transaction.
#[derive(Debug, Clone, Copy)]
pub struct NewSession<'a> {
    pub session: &'a SessionRecord,
    /// The audit event of the login that made it.
    pub audit: &'a AuditEvent,
    /// Its notification (LOGIN-4), and the "not you?" link that mail carries.
    pub mails: &'a [ComposedMail],
    pub secrets: &'a [OneTimeSecret],
    /// RISK-1/2: the browser (its device id's hash) to remember as a known device, and the
    /// network as a known one.
    pub device_hash: Option<&'a [u8]>,
    pub network: Option<&'a str>,
    /// RISK-2: the throttle counters the login's right password clears, each once (a login that
    /// opens no session clears them with `ThrottleStore::resets` instead).
    pub counters: &'a [CounterKey<'a>],
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a new session with everything its login writes ([`NewSession`]), in one
    /// transaction.
    async fn create_session(&self, new: NewSession<'_>) -> Result<(), StoreError>;
    /// The live session with this token hash, if it has not been ended.
    async fn find_session(&self, token_hash: &[u8]) -> Result<Option<SessionRecord>, StoreError>;
    /// The live session with this token hash, its account and the backup email waiting for its
    /// code at `now`, in one query (SESS-2's check).
    async fn find_live_session(
        &self,
        token_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<LiveSession>, StoreError>;
    /// A number this node's store raises after every write that ends sessions or changes an
    /// account, once it is committed (SESS-2's cache: see `service::session_cache`).
    fn generation(&self) -> u64;
    /// Likewise, raised (after [`SessionStore::generation`]) by every such write that touched
    /// this account; accounts share a few hundred such numbers, so another's write may raise it.
    fn account_generation(&self, account: AccountId) -> u64;
    async fn touch_session(&self, id: Uuid, now: OffsetDateTime) -> Result<(), StoreError>;
    /// Ends a session; false when it was already ended (then nothing is written).
    async fn end_session(&self, id: Uuid, now: OffsetDateTime, audit: &AuditEvent) -> Result<bool, StoreError>;
    /// Ends every live session of an account (SESS-5), cancels its open email changes and ends
    /// its open login flows (SUPPORT-4: a takeover's clean-up), with the audit event and the
    /// mails in the same transaction; returns how many sessions ended.
    async fn end_all_sessions(
        &self,
        account: AccountId,
        audit: &AuditEvent,
        mails: &[ComposedMail],
    ) -> Result<u64, StoreError>;
    /// SESS-4: the sessions of an account not ended yet, newest first.
    async fn live_sessions(&self, account: AccountId) -> Result<Vec<SessionRecord>, StoreError>;
    /// SESS-4: ends every live session of an account but `keep`, with one audit event.
    async fn end_other_sessions(
        &self,
        account: AccountId,
        keep: Uuid,
        now: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<u64, StoreError>;
}

#[async_trait]
pub trait SecretStore: Send + Sync {
    async fn create_secret(&self, secret: &OneTimeSecret) -> Result<(), StoreError>;
    /// Consumes the unexpired, unused secret with this purpose and hash; at most one caller
    /// ever gets it back, however many race (RISK-4).
    async fn consume_secret(
        &self,
        purpose: &str,
        hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<OneTimeSecret>, StoreError>;
    /// Deletes up to `limit` secrets that expired before `before`; how many went.
    async fn purge_expired_secrets(&self, before: OffsetDateTime, limit: u32) -> Result<u64, StoreError>;
    /// RISK-2 "not you?": consumes the secret, ends every session of its account, cancels its
    /// open email changes and ends its open login flows, with the audit event (given its
    /// account), in one transaction; the account, or `None` when the secret is wrong, used,
    /// expired or has no account.
    async fn consume_ending_sessions(
        &self,
        purpose: &str,
        hash: &[u8],
        now: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<Option<AccountId>, StoreError>;
}

#[async_trait]
pub trait AuditLog: Send + Sync {
    async fn record(&self, event: &AuditEvent) -> Result<(), StoreError>;
    /// The most recent events of an account, newest first (AUDIT-2).
    async fn recent_events(&self, account: AccountId, limit: u32) -> Result<Vec<AuditEvent>, StoreError>;
}

#[async_trait]
pub trait Health: Send + Sync {
    /// Succeeds when the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// A multi-step flow (sign-up today; login with a second factor and recovery later), persisted so
/// that any node can continue it. `state` is the flow's own JSON; `version` guards updates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRecord {
    pub id: Uuid,
    pub kind: String,
    pub account_id: Option<AccountId>,
    pub state: String,
    pub version: i64,
    pub attempts: i64,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub completed_at: Option<OffsetDateTime>,
}

/// A change to a flow, written in one transaction with its new secrets and mails.
#[derive(Debug, Clone)]
pub struct FlowUpdate<'a> {
    pub id: Uuid,
    /// The version read; the update fails (false) when another request changed the flow since.
    pub expected_version: i64,
    pub state: &'a str,
    /// One-time secrets of this purpose and flow are voided (deleted) first ("a newer code voids
    /// older"), so a new one may even hold the same digits.
    pub void_purpose: Option<&'a str>,
    pub secrets: &'a [OneTimeSecret],
    pub mails: &'a [ComposedMail],
    pub now: OffsetDateTime,
}

#[async_trait]
pub trait FlowStore: Send + Sync {
    async fn create_flow(
        &self,
        flow: &FlowRecord,
        secrets: &[OneTimeSecret],
        mails: &[ComposedMail],
    ) -> Result<(), StoreError>;
    /// The open flow of this kind with this id (not completed; expiry is the caller's check).
    async fn find_flow(&self, id: Uuid, kind: &str) -> Result<Option<FlowRecord>, StoreError>;
    async fn update_flow(&self, update: &FlowUpdate<'_>) -> Result<bool, StoreError>;
    /// Counts one attempt before a secret is checked; `None` once `max` attempts were made.
    async fn count_flow_attempt(&self, id: Uuid, max: i64) -> Result<Option<i64>, StoreError>;
    /// Deletes up to `limit` flows that expired before `before`; returns how many went.
    async fn purge_expired_flows(&self, before: OffsetDateTime, limit: u32) -> Result<u64, StoreError>;
}

/// A throttle counter: its scope and key.
pub type CounterKey<'a> = (&'a str, &'a str);

#[async_trait]
pub trait ThrottleStore: Send + Sync {
    /// Counts one event for each of `keys` (distinct), in one statement, and returns how many
    /// fell in each one's current window, in the order of `keys`; a window restarts when its last
    /// event began before `window_start`. Shared by every node.
    async fn hits(
        &self,
        keys: &[CounterKey<'_>],
        window_start: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Vec<i64>, StoreError>;
    /// Counts one event for `(scope, key)`; see [`ThrottleStore::hits`].
    async fn hit(
        &self,
        scope: &str,
        key: &str,
        window_start: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<i64, StoreError> {
        let counted = self.hits(&[(scope, key)], window_start, now).await?;
        counted
            .first()
            .copied()
            .ok_or_else(|| StoreError::Internal("a counter was not counted".into()))
    }
    /// Counts one event for `(scope, key)` only when the last one is at least `gap` old and its
    /// window (restarted as in [`ThrottleStore::hits`]) holds fewer than `max`; false, with
    /// nothing counted, otherwise. One statement: of parallel callers, only as many as the
    /// limits allow get true.
    async fn hit_spaced(
        &self,
        scope: &str,
        key: &str,
        window_start: OffsetDateTime,
        now: OffsetDateTime,
        max: i64,
        gap: time::Duration,
    ) -> Result<bool, StoreError>;
    /// Counts one event for a counter of consecutive events only if it still holds `seen` (a
    /// compare-and-set), returning the new count; `None`, nothing counted, when another request
    /// counted meanwhile. A try judged on a count (its delay) is counted on that same count, so
    /// a burst that read it at once gets one try through, not all.
    async fn hit_unchanged(
        &self,
        scope: &str,
        key: &str,
        seen: i64,
        now: OffsetDateTime,
    ) -> Result<Option<i64>, StoreError>;
    /// For each `(scope, key, window_start)`, in one query and in order: the events counted in
    /// a window that began at or after `window_start`, and when the last one happened.
    async fn counts(
        &self,
        keys: &[(&str, &str, OffsetDateTime)],
    ) -> Result<Vec<(i64, Option<OffsetDateTime>)>, StoreError>;
    /// One counter's events; see [`ThrottleStore::counts`].
    async fn count(
        &self,
        scope: &str,
        key: &str,
        window_start: OffsetDateTime,
    ) -> Result<(i64, Option<OffsetDateTime>), StoreError> {
        Ok(self
            .counts(&[(scope, key, window_start)])
            .await?
            .first()
            .copied()
            .unwrap_or_default())
    }
    /// Deletes up to `limit` counters whose last event came before `before`, except those of the
    /// scopes in `keep` (counted for ever); returns how many went.
    async fn purge_idle_counters(&self, before: OffsetDateTime, keep: &[&str], limit: u32) -> Result<u64, StoreError>;
    /// Forgets the events of each of `keys` (an unlock), in one statement.
    async fn resets(&self, keys: &[CounterKey<'_>]) -> Result<(), StoreError>;
    /// [`resets`](Self::resets) with the audit event and the mails of whoever lifted them
    /// (SUPPORT-4, SUPPORT-5), in one transaction.
    async fn resets_recorded(
        &self,
        keys: &[CounterKey<'_>],
        audit: &AuditEvent,
        mails: &[ComposedMail],
    ) -> Result<(), StoreError>;
    /// Forgets the events of `(scope, key)`.
    async fn reset(&self, scope: &str, key: &str) -> Result<(), StoreError> {
        self.resets(&[(scope, key)]).await
    }
}

/// A mail claimed for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedMail {
    pub mail: ComposedMail,
    /// Delivery attempts including this one.
    pub attempts: i64,
}

/// A mail that stopped being retried, for `sesame outbox status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedMail {
    pub id: Uuid,
    pub recipient: String,
    pub template: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutboxStatus {
    pub pending: i64,
    pub sent: i64,
    pub parked: Vec<ParkedMail>,
}

#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Queues one mail on its own (for events that change nothing else, like a notice).
    async fn queue_mail(&self, mail: &ComposedMail) -> Result<(), StoreError>;
    /// Claims up to `limit` due mails (oldest first) for `worker` until `lease_until`, in one
    /// statement; two workers never both get one. A mail past its expiry is never claimed.
    async fn claim_mails(
        &self,
        worker: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<ClaimedMail>, StoreError>;
    /// Marks mails sent as soon as the SMTP server took them; sensitive bodies are cleared.
    async fn mark_sent(&self, ids: &[Uuid], now: OffsetDateTime) -> Result<(), StoreError>;
    /// Records a failure: retried from `retry_at`, or parked when `None`.
    async fn mark_failed(
        &self,
        id: Uuid,
        error: &str,
        retry_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Parks unsent mails past their expiry and clears their sensitive bodies; returns how many.
    async fn drop_expired_mail(&self, now: OffsetDateTime) -> Result<u64, StoreError>;
    async fn outbox_status(&self, parked_limit: u32) -> Result<OutboxStatus, StoreError>;
    /// Puts parked mails (one, or all) back in the queue; returns how many.
    async fn retry_parked(&self, id: Option<Uuid>, now: OffsetDateTime) -> Result<u64, StoreError>;
}

/// A second-factor credential (MFA-1): a TOTP app, a security key, a phone. `data` is the
/// method's own versioned data (a sealed seed, a serialised passkey).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactorCredential {
    pub id: Uuid,
    pub account_id: AccountId,
    pub kind: String,
    pub version: i64,
    pub data: String,
    pub description: String,
    pub created_at: OffsetDateTime,
    pub enabled_at: Option<OffsetDateTime>,
    pub last_used_at: Option<OffsetDateTime>,
}

#[async_trait]
pub trait CredentialStore: Send + Sync {
    /// Adds a credential; a pending one replaces the account's pending one of the same kind.
    async fn add_credential(&self, credential: &FactorCredential, audit: &AuditEvent) -> Result<(), StoreError>;
    /// Every second-factor credential of an account (not the password), oldest first.
    async fn credentials(&self, account: AccountId) -> Result<Vec<FactorCredential>, StoreError>;
    /// Enables a pending credential with its final `data`, optionally replacing the account's
    /// backup codes, with its audit event and mail; the account's open login flows end (they were
    /// begun under other rules); false when it was not pending. Refused with
    /// [`StoreError::Conflict`], nothing written, when no other device is enabled and no backup
    /// codes come with it (the first device must bring them, MFA-5).
    async fn enable_credential(
        &self,
        id: Uuid,
        account: AccountId,
        data: &str,
        backup_codes: &[OneTimeSecret],
        audit: &AuditEvent,
        mails: &[ComposedMail],
    ) -> Result<bool, StoreError>;
    async fn rename_credential(
        &self,
        id: Uuid,
        account: AccountId,
        description: &str,
        audit: &AuditEvent,
        mails: &[ComposedMail],
    ) -> Result<bool, StoreError>;
    /// Deletes a credential; with `drop_backup_codes` the account's backup codes go too (2FA off).
    /// An enabled device's removal is refused with [`StoreError::Conflict`], nothing written,
    /// when `drop_backup_codes` does not say whether it really was the account's last device (a
    /// device removed or enabled meanwhile).
    async fn delete_credential(
        &self,
        id: Uuid,
        account: AccountId,
        drop_backup_codes: bool,
        audit: &AuditEvent,
        mails: &[ComposedMail],
    ) -> Result<bool, StoreError>;
    async fn touch_credential(&self, id: Uuid, now: OffsetDateTime) -> Result<(), StoreError>;
    /// Replaces a credential's data only if it still is `old` (a security key's sign counter):
    /// false when another request changed it first.
    async fn update_credential_data(
        &self,
        id: Uuid,
        account: AccountId,
        old: &str,
        new: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Keeps a sealed challenge for one device (its removal), replacing any earlier one.
    async fn set_credential_challenge(&self, id: Uuid, account: AccountId, sealed: &str) -> Result<bool, StoreError>;
    /// Takes the device's challenge: at most one caller gets it (RISK-4).
    async fn take_credential_challenge(&self, id: Uuid, account: AccountId) -> Result<Option<String>, StoreError>;
    /// Records a TOTP step as used for the account; false when this step or a later one already was.
    async fn use_totp_step(&self, account: AccountId, step: i64) -> Result<bool, StoreError>;
    /// Replaces the account's backup codes (the old set is voided) with audit and mail.
    async fn replace_backup_codes(
        &self,
        account: AccountId,
        codes: &[OneTimeSecret],
        audit: &AuditEvent,
        mails: &[ComposedMail],
    ) -> Result<(), StoreError>;
    /// Unused backup codes left.
    async fn backup_codes_left(&self, account: AccountId, now: OffsetDateTime) -> Result<i64, StoreError>;
    async fn set_last_second_factor(&self, account: AccountId, method: &str) -> Result<(), StoreError>;
    /// Ends a flow without an account creation (a finished login flow).
    async fn complete_flow(&self, id: Uuid, now: OffsetDateTime) -> Result<bool, StoreError>;
}

/// RISK-2: browsers that logged in to an account before (by the hash of their device id).
#[async_trait]
pub trait KnownDeviceStore: Send + Sync {
    async fn is_known_device(&self, account: AccountId, device_hash: &[u8]) -> Result<bool, StoreError>;
    /// The account's known devices, most recently seen first.
    async fn known_devices(&self, account: AccountId) -> Result<Vec<KnownDevice>, StoreError>;
    /// Forgets one; false when it was not known.
    async fn forget_device(
        &self,
        account: AccountId,
        device_hash: &[u8],
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;
    /// RISK-1: whether the account logged in from this network at or after `since`.
    async fn network_seen_since(
        &self,
        account: AccountId,
        network: &str,
        since: OffsetDateTime,
    ) -> Result<bool, StoreError>;
}

/// RISK-2: a browser that logged in to an account before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownDevice {
    pub device_hash: Vec<u8>,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
}

/// RISK-3: an account's IP restriction, stored as its JSON document.
#[async_trait]
pub trait IpRuleStore: Send + Sync {
    async fn ip_rules(&self, account: AccountId) -> Result<Option<String>, StoreError>;
    /// What a right password is checked against next, in one read: the IP rules (RISK-3) and
    /// the second-factor credentials (LOGIN-2), as `ip_rules` and `CredentialStore::credentials`
    /// give them.
    async fn ip_rules_and_credentials(
        &self,
        account: AccountId,
    ) -> Result<(Option<String>, Vec<FactorCredential>), StoreError>;
    /// Replaces the document, with its audit event and mail.
    async fn set_ip_rules(
        &self,
        account: AccountId,
        rules: &str,
        audit: &AuditEvent,
        mails: &[ComposedMail],
    ) -> Result<(), StoreError>;
}

/// A stored email, for maintenance: the account, the address as typed, its stored canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEmail {
    pub account: AccountId,
    pub address: String,
    pub canonical: String,
}

/// One-off data migrations that need the engine's code, run at start-up.
#[async_trait]
pub trait MaintenanceStore: Send + Sync {
    async fn data_migration_done(&self, name: &str) -> Result<bool, StoreError>;
    async fn mark_data_migration(&self, name: &str, at: OffsetDateTime) -> Result<(), StoreError>;
    /// Up to `limit` stored emails of accounts with ids after `after`, in id order.
    async fn emails_after(&self, after: Option<AccountId>, limit: u32) -> Result<Vec<StoredEmail>, StoreError>;
    /// Replaces an account's canonical email; [`StoreError::Conflict`] when another account has it.
    async fn set_email_canonical(&self, account: AccountId, canonical: &str) -> Result<(), StoreError>;
}

/// What sign-up uses (SIGNUP-1/2): its flow, codes, limits, mail, and the account it creates.
pub trait SignupPorts: AccountStore + FlowStore + SecretStore + ThrottleStore + OutboxStore {}
impl<T: AccountStore + FlowStore + SecretStore + ThrottleStore + OutboxStore + ?Sized> SignupPorts for T {}

/// What login uses (LOGIN-1/2, SESS-1..3, MFA-7): accounts and passwords, sessions, the login flow,
/// failure counters and unlock links, the audit log and mail, and the credential bookkeeping of a
/// successful second factor.
pub trait LoginPorts:
    AccountStore
    + SessionStore
    + FlowStore
    + SecretStore
    + ThrottleStore
    + AuditLog
    + OutboxStore
    + CredentialStore
    + KnownDeviceStore
    + IpRuleStore
{
}
impl<
    T: AccountStore
        + SessionStore
        + FlowStore
        + SecretStore
        + ThrottleStore
        + AuditLog
        + OutboxStore
        + CredentialStore
        + KnownDeviceStore
        + IpRuleStore
        + ?Sized,
> LoginPorts for T
{
}

/// Every port together: what a backend implements. Services take the narrow sets above.
pub trait Store:
    AccountStore
    + SessionStore
    + SecretStore
    + AuditLog
    + Health
    + FlowStore
    + ThrottleStore
    + OutboxStore
    + CredentialStore
    + crate::sms::SmsOutboxStore
    + crate::recovery::RecoveryStore
    + crate::support::SupportStore
    + crate::service::RecoveryPorts
    + crate::service::SupportPorts
    + crate::factor::FactorPorts
    + SignupPorts
    + LoginPorts
    + MaintenanceStore
{
}

impl<
    T: AccountStore
        + SessionStore
        + SecretStore
        + AuditLog
        + Health
        + FlowStore
        + ThrottleStore
        + OutboxStore
        + CredentialStore
        + crate::sms::SmsOutboxStore
        + crate::recovery::RecoveryStore
        + crate::support::SupportStore
        + MaintenanceStore
        + KnownDeviceStore
        + IpRuleStore,
> Store for T
{
}
