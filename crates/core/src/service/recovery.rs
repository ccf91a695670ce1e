//! Forgotten and changed passwords (RECOVER-1, RECOVER-2), and the [`Recovery`] capability that
//! also holds the backup email, email changes (`contact.rs`) and lost-2FA requests
//! (`lost_devices.rs`).
//!
//! A reset request answers the same, at once, whatever the login names: the lookup, the limits
//! and the mail happen in a background task, so neither the body nor the time of the answer
//! says whether an account exists. The link is a 256-bit token kept as an HMAC, valid one hour,
//! consumed in the same transaction that writes the password and ends every session; a newer
//! link voids older ones. A reset opens no session: the next login still meets the second factor.

use super::Base;
use super::login_flow::{Login, TwoFactorError};
use super::sessions::Authenticated;
use crate::audit::{Actor, AuditEvent, AuditKind, ClientInfo};
use crate::factor::password::HashError;
use crate::mail::{ComposeError, ComposedMail, LinkPurpose, MailKind, Notice};
use crate::ports::{
    Account, AccountStore, AuditLog, OneTimeSecret, OutboxStore, SecretStore, StoreError, ThrottleStore,
};
use crate::recovery::{PasswordChange, RecoveryStore};
use crate::token::Token;
use crate::types::{AccountState, EmailError, LoginIdentifier, Password, PolicyViolation, new_id};
use std::sync::Arc;
use time::Duration;

pub(super) const RESET_PURPOSE: &str = "password-reset";
/// Wrong NIC handles tried with one link before it stops working.
const RESET_TRIES: i64 = 5;
/// Reset mails per account per hour, and requests per source address per hour.
const RESETS_PER_ACCOUNT: i64 = 5;
const RESETS_PER_ADDRESS: i64 = 20;
const RESET_ACCOUNT_SCOPE: &str = "reset-account";
const RESET_ADDRESS_SCOPE: &str = "reset-address";
/// Reset requests worked on at once per node; past it a request is dropped (same answer), so a
/// flood of them can't pile up background tasks.
const RESETS_IN_FLIGHT: usize = 32;

/// What the recovery use cases need from storage.
pub trait RecoveryPorts: AccountStore + RecoveryStore + SecretStore + ThrottleStore + AuditLog + OutboxStore {}
impl<T: AccountStore + RecoveryStore + SecretStore + ThrottleStore + AuditLog + OutboxStore + ?Sized> RecoveryPorts
    for T
{
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecoveryError {
    /// A reset, cancel or confirmation link that is wrong, used, voided or expired.
    #[error("this link is wrong, already used or expired")]
    LinkInvalid,
    #[error("this is not the customer ID of the account")]
    NicHandleMismatch,
    #[error("the current password is wrong")]
    CurrentPasswordWrong,
    #[error("{0}")]
    Password(#[from] PolicyViolation),
    #[error("{0}")]
    Email(#[from] EmailError),
    /// The backup email would equal the primary, or the new primary the current one.
    #[error("this is already the account's address")]
    SameAddress,
    #[error("an account already uses this email address")]
    EmailTaken,
    #[error("the code is wrong or has expired")]
    CodeInvalid,
    #[error("too many wrong codes; start again")]
    TooManyAttempts,
    #[error("there is no such email change")]
    ChangeNotFound,
    #[error("the account has no backup email")]
    NoBackupEmail,
    #[error("there is no such request")]
    RequestNotFound,
    #[error("a request already waits for support")]
    RequestOpen,
    #[error("the document must be a JPEG, PNG or PDF file")]
    DocumentType,
    #[error("the document is larger than allowed")]
    DocumentTooLarge,
    #[error("a request holds at most 3 documents")]
    DocumentLimit,
    #[error("add at least one document first")]
    NoDocuments,
    #[error("this request can't be changed now")]
    WrongStep,
    #[error(transparent)]
    TwoFactor(#[from] TwoFactorError),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Mail(#[from] ComposeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// RECOVER-1..6: getting back in.
#[derive(Clone)]
pub struct Recovery {
    pub(super) base: Arc<Base>,
    pub(super) ports: Arc<dyn RecoveryPorts>,
    pub(super) login: Login,
    resets_in_flight: Arc<tokio::sync::Semaphore>,
}

impl Recovery {
    pub(super) fn new(base: Arc<Base>, ports: Arc<dyn RecoveryPorts>, login: Login) -> Self {
        Self {
            base,
            ports,
            login,
            resets_in_flight: Arc::new(tokio::sync::Semaphore::new(RESETS_IN_FLIGHT)),
        }
    }

    /// RECOVER-1: "send me a reset link". Returns at once and always the same way; the work
    /// happens in a background task (errors are logged, never shown), which the caller may await.
    pub fn request_password_reset(&self, login: &str, client: &ClientInfo) -> tokio::task::JoinHandle<()> {
        let Ok(permit) = Arc::clone(&self.resets_in_flight).try_acquire_owned() else {
            tracing::warn!("too many password reset requests at once; one was dropped");
            return tokio::spawn(async {});
        };
        let this = self.clone();
        let login = login.to_owned();
        let client = client.clone();
        tokio::spawn(async move {
            if let Err(err) = this.send_reset_link(&login, &client).await {
                tracing::warn!(%err, "password reset request failed");
            }
            drop(permit);
        })
    }

    /// Whether `(scope, key)` is still under `max` events this hour (and counts this one).
    async fn under_limit(&self, scope: &str, key: &str, max: i64) -> Result<bool, StoreError> {
        let now = self.base.clock.now();
        Ok(self.ports.hit(scope, key, now - Duration::hours(1), now).await? <= max)
    }

    async fn send_reset_link(&self, login: &str, client: &ClientInfo) -> Result<(), RecoveryError> {
        if let Some(ip) = client.ip.as_deref()
            && !self
                .under_limit(
                    RESET_ADDRESS_SCOPE,
                    // Its own /24 and /48, whatever RISK-1's network widths are set to.
                    &crate::throttle::network_key(&crate::limits::Limits::default(), ip),
                    RESETS_PER_ADDRESS,
                )
                .await?
        {
            return Ok(());
        }
        let Some(id) = LoginIdentifier::parse(login) else {
            return Ok(());
        };
        let Some(account) = self.ports.find_account_by_login(id.as_str()).await? else {
            return Ok(());
        };
        if account.state == AccountState::Closed
            || !self
                .under_limit(RESET_ACCOUNT_SCOPE, &account.id.to_string(), RESETS_PER_ACCOUNT)
                .await?
        {
            return Ok(());
        }
        let (secret, token) = self.link_secret(&account, RESET_PURPOSE, self.base.settings.limits.reset_link_ttl);
        let url = format!("{}password-reset/{}", self.base.settings.public_url, token.expose());
        let kind = MailKind::AccountLink {
            purpose: LinkPurpose::PasswordReset,
            url,
        };
        let mail = self.base.compose_for(&account, kind, Some(secret.expires_at))?;
        self.ports.replace_secret(&secret, &[mail]).await?;
        self.base.mail_queued();
        Ok(())
    }

    /// A fresh 256-bit link token for an account, and the secret that stores its HMAC.
    pub(super) fn link_secret(&self, account: &Account, purpose: &str, ttl: Duration) -> (OneTimeSecret, Token) {
        let now = self.base.clock.now();
        let token = Token::generate(self.base.rng.as_ref());
        let secret = OneTimeSecret {
            id: new_id(now),
            purpose: purpose.into(),
            account_id: Some(account.id),
            flow_id: None,
            secret_hash: self.base.key.hmac(purpose, token.expose().as_bytes()),
            created_at: now,
            expires_at: now + ttl,
        };
        (secret, token)
    }

    /// RISK-2 "not you?": a reset link made on the spot for the owner who just ended every
    /// session from a login notification (that link proved the mailbox, like a reset mail).
    pub async fn reset_token_for(&self, account: crate::types::AccountId) -> Result<Option<String>, RecoveryError> {
        let Some(account) = self.ports.find_account(account).await? else {
            return Ok(None);
        };
        let (secret, token) = self.link_secret(&account, RESET_PURPOSE, self.base.settings.limits.reset_link_ttl);
        self.ports.replace_secret(&secret, &[]).await?;
        Ok(Some(token.expose().to_owned()))
    }

    /// The live reset secret a token names.
    async fn reset_secret(&self, token: &str) -> Result<OneTimeSecret, RecoveryError> {
        let hashes = self.base.key.hmacs(RESET_PURPOSE, token.trim().as_bytes());
        self.ports
            .find_secret(RESET_PURPOSE, &hashes, self.base.clock.now())
            .await?
            .ok_or(RecoveryError::LinkInvalid)
    }

    /// Whether a reset link still works, for its page: the subsidiary of its account (whose
    /// password rules the page states, PWD-2), or `None`.
    pub async fn reset_link_subsidiary(&self, token: &str) -> Result<Option<String>, RecoveryError> {
        let secret = match self.reset_secret(token).await {
            Ok(secret) => secret,
            Err(RecoveryError::LinkInvalid) => return Ok(None),
            Err(err) => return Err(err),
        };
        let Some(account) = secret.account_id else {
            return Ok(None);
        };
        Ok(self.ports.find_account(account).await?.map(|a| a.subsidiary))
    }

    /// RECOVER-1/2: a new password from a reset link, given with the account's NIC handle.
    /// Ends every session and voids every other reset link; opens none.
    pub async fn reset_password(
        &self,
        token: &str,
        nic_handle: &str,
        password: &str,
        client: &ClientInfo,
    ) -> Result<(), RecoveryError> {
        let secret = self.reset_secret(token).await?;
        let account = match secret.account_id {
            Some(id) => self.ports.find_account(id).await?,
            None => None,
        }
        .ok_or(RecoveryError::LinkInvalid)?;
        let given = LoginIdentifier::parse(nic_handle);
        if given.is_none() || given != LoginIdentifier::parse(account.nic_handle.as_str()) {
            self.ports.count_secret_attempt(secret.id, RESET_TRIES).await?;
            return Err(RecoveryError::NicHandleMismatch);
        }
        let password = self.acceptable_password(&account, password)?;
        let phc = self.base.hasher.hash(&password).await?;
        let now = self.base.clock.now();
        let audit = AuditEvent::new(now, AuditKind::PasswordReset, Actor::Customer, client).account(account.id);
        let mail = self.notice(&account, Notice::PasswordReset, &audit).await?;
        let change = PasswordChange {
            account: account.id,
            phc: &phc,
            consume: Some(secret.id),
            keep_session: None,
            now,
            audit: &audit,
            mails: &[mail],
        };
        if !self.ports.set_password(&change).await? {
            return Err(RecoveryError::LinkInvalid);
        }
        self.base.mail_queued();
        // RISK-2: the guesses that locked new devices out were at a password that is gone. (The
        // lock on codes, MFA-7, stays: it guards the second factor, which a mailbox alone must
        // not get fresh guesses at.)
        self.ports
            .reset(super::password_guard::ACCOUNT, &account.id.to_string())
            .await?;
        Ok(())
    }

    /// RECOVER-2: a new password from the security page: fresh authentication (SESS-3), the
    /// current password, then the new one; other sessions end, this one stays.
    pub async fn change_password(
        &self,
        auth: &Authenticated,
        current: &str,
        password: &str,
        client: &ClientInfo,
    ) -> Result<(), RecoveryError> {
        self.base.require_fresh(auth)?;
        let password = self.acceptable_password(&auth.account, password)?;
        match self.login.check_own_password(&auth.account, current, client).await {
            Ok(_) => {}
            Err(super::LoginError::InvalidCredentials) => return Err(RecoveryError::CurrentPasswordWrong),
            Err(err) => return Err(TwoFactorError::Login(err).into()),
        }
        let phc = self.base.hasher.hash(&password).await?;
        let now = self.base.clock.now();
        let audit = AuditEvent::new(now, AuditKind::PasswordChanged, Actor::Customer, client).account(auth.account.id);
        let mail = self.notice(&auth.account, Notice::PasswordChanged, &audit).await?;
        let change = PasswordChange {
            account: auth.account.id,
            phc: &phc,
            consume: None,
            keep_session: Some(auth.session.id),
            now,
            audit: &audit,
            mails: &[mail],
        };
        self.ports.set_password(&change).await?;
        self.base.mail_queued();
        Ok(())
    }

    /// PWD-2: the policy, with the account's own names and identifiers as forbidden fragments.
    fn acceptable_password(&self, account: &Account, password: &str) -> Result<Password, RecoveryError> {
        let password = Password::new(password);
        if password.is_too_long() {
            return Err(TwoFactorError::Login(super::LoginError::PasswordTooLong).into());
        }
        let personal = [
            account.first_name.as_str(),
            account.last_name.as_str(),
            account.email.local_part(),
            account.nic_handle.as_str(),
        ];
        self.base
            .settings
            .password_policy
            .check(&account.subsidiary, &password, &personal)?;
        Ok(password)
    }

    /// A security notice to the account's primary address.
    /// The notice of a change, with when, where from and a "not you?" link (#15 item 9).
    pub(super) async fn notice(
        &self,
        account: &Account,
        notice: Notice,
        audit: &AuditEvent,
    ) -> Result<ComposedMail, RecoveryError> {
        Ok(self.login.security_notice(account, notice, audit).await?)
    }
}
