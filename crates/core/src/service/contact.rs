//! The backup email (RECOVER-3), the primary email's change (RECOVER-4) and support's promotion
//! of the backup email (RECOVER-6).
//!
//! An address counts only once a 6-digit code mailed to it came back. A primary change also needs
//! a code from the current primary; when the customer says that mailbox is lost, the change waits
//! 24 hours instead, and the old address (and the backup email) get a link that cancels it. Both
//! codes of a change are checked as one secret (the HMAC of both together), consumed once, so
//! neither mailbox alone can confirm it. Changes and codes live 30 minutes, 5 tries each.

use super::recovery::{Recovery, RecoveryError};
use super::sessions::Authenticated;
use crate::audit::{Actor, AuditEvent, AuditKind, ClientInfo};
use crate::mail::{CodePurpose, ComposedMail, LinkPurpose, MailKind, Notice};
use crate::ports::{Account, OneTimeSecret, StoreError, Unique};
use crate::recovery::{EmailChange, EmailTarget};
use crate::throttle::take_code_send;
use crate::types::{AccountId, AccountState, Email, new_id};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

const CODE_PURPOSE: &str = "email-change";
const CANCEL_PURPOSE: &str = "email-change-cancel";
const CODE_TTL: Duration = Duration::minutes(30);
const TRIES: i64 = 5;
const SENT_SCOPE: &str = "contact-code-sent";

/// The answer to a confirmed primary change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailChangeOutcome {
    Applied,
    /// RECOVER-4: it applies then, unless cancelled.
    Scheduled {
        applies_at: OffsetDateTime,
    },
}

/// What the security page and `GET /me` show of the contact addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactView {
    /// The verified backup email, masked.
    pub backup_email: Option<String>,
    /// A backup address waiting for its code, masked.
    pub pending_backup: Option<String>,
    /// A primary change waiting for its codes or its delay.
    pub pending_primary: Option<PendingPrimary>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingPrimary {
    pub id: Uuid,
    pub email: String,
    pub current_reachable: bool,
    pub applies_at: Option<OffsetDateTime>,
}

/// An address as shown back: its first character, then the domain (`j•••@example.com`).
pub fn mask(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => format!("{}•••@{domain}", local.chars().next().unwrap_or('•')),
        None => "•••".into(),
    }
}

fn code_hash_input(change: Uuid, current: &str, new: &str) -> String {
    let digits = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    format!("{change}:{}:{}", digits(current), digits(new))
}

impl Recovery {
    /// A mail about `account` to another address than its primary (MAIL-2: same language).
    fn compose_to(&self, account: &Account, to: &str, kind: MailKind) -> Result<ComposedMail, RecoveryError> {
        let mut target = account.clone();
        target.email = Email::from_stored(to.to_owned(), to.to_owned());
        Ok(self
            .base
            .compose_for(&target, kind, Some(self.base.clock.now() + CODE_TTL))?)
    }

    /// MFA-4's limits for texts, for these mails too (codes, and a lost-devices request's
    /// confirmation link): one per 30 s, 5 an hour, per account.
    pub(super) async fn code_limit(&self, account: AccountId) -> Result<(), RecoveryError> {
        let now = self.base.clock.now();
        let key = account.to_string();
        match take_code_send(self.ports.as_ref(), &self.base.settings.limits, SENT_SCOPE, &key, now).await? {
            Some(retry_after) => Err(super::TwoFactorError::SendThrottled { retry_after }.into()),
            None => Ok(()),
        }
    }

    fn six_digits(&self) -> String {
        format!("{:06}", self.base.rng.below(1_000_000))
    }

    /// A backup address waiting for its code, masked (one query: `GET /me` shows it).
    pub async fn pending_backup(&self, account: &Account) -> Result<Option<String>, RecoveryError> {
        let now = self.base.clock.now();
        let change = self
            .ports
            .open_email_change(account.id, EmailTarget::Backup, now)
            .await?;
        Ok(change.map(|c| mask(c.email.address())))
    }

    /// What the customer's contact addresses look like now.
    pub async fn contact(&self, account: &Account) -> Result<ContactView, RecoveryError> {
        let now = self.base.clock.now();
        let pending_backup = self.pending_backup(account).await?;
        let primary = self
            .ports
            .open_email_change(account.id, EmailTarget::Primary, now)
            .await?;
        Ok(ContactView {
            backup_email: account.backup_email.as_ref().map(|e| mask(e.address())),
            pending_backup,
            pending_primary: primary.map(|c| PendingPrimary {
                id: c.id,
                email: c.email.address().to_owned(),
                current_reachable: c.current_reachable,
                applies_at: c.applies_at,
            }),
        })
    }

    /// Stores a change and mails its codes: to the new address, and to the current primary
    /// when it must agree.
    async fn start_change(
        &self,
        auth: &Authenticated,
        target: EmailTarget,
        email: &str,
        current_reachable: bool,
    ) -> Result<Uuid, RecoveryError> {
        self.base.require_fresh(auth)?;
        let account = &auth.account;
        let email = Email::parse(email)?;
        let same_as = |other: Option<&Email>| other.is_some_and(|o| o.canonical() == email.canonical());
        // RECOVER-3: the backup must differ from the primary, whichever of them changes, and
        // whichever change still waits for its code (or its day). Asking again for the backup
        // already waiting for its code is a resend, not a clash.
        let now = self.base.clock.now();
        // Read now, not from the session's cached read (another node's may be a second old).
        let other = match target {
            EmailTarget::Primary => EmailTarget::Backup,
            EmailTarget::Backup => EmailTarget::Primary,
        };
        let other_waiting = self
            .ports
            .open_email_change(account.id, other, now)
            .await?
            .map(|c| c.email);
        if [
            Some(&account.email),
            account.backup_email.as_ref(),
            other_waiting.as_ref(),
        ]
        .into_iter()
        .any(same_as)
        {
            return Err(RecoveryError::SameAddress);
        }
        self.code_limit(account.id).await?;
        let change = EmailChange {
            id: new_id(now),
            account_id: account.id,
            target,
            email,
            current_reachable,
            attempts: 0,
            created_at: now,
            expires_at: now + CODE_TTL,
            applies_at: None,
            completed_at: None,
            cancelled_at: None,
        };
        let new_code = self.six_digits();
        let new_purpose = match target {
            EmailTarget::Backup => CodePurpose::BackupEmail,
            EmailTarget::Primary => CodePurpose::NewPrimary,
        };
        let mut mails = vec![self.compose_to(
            account,
            change.email.address(),
            MailKind::ContactCode {
                code: new_code.clone(),
                purpose: new_purpose,
            },
        )?];
        let current_code = if target == EmailTarget::Primary && current_reachable {
            let code = self.six_digits();
            let kind = MailKind::ContactCode {
                code: code.clone(),
                purpose: CodePurpose::CurrentPrimary,
            };
            mails.push(self.base.compose_for(account, kind, Some(now + CODE_TTL))?);
            code
        } else {
            String::new()
        };
        let secret = OneTimeSecret {
            id: new_id(now),
            purpose: CODE_PURPOSE.into(),
            account_id: Some(account.id),
            flow_id: Some(change.id),
            secret_hash: self.base.key.hmac(
                CODE_PURPOSE,
                code_hash_input(change.id, &current_code, &new_code).as_bytes(),
            ),
            created_at: now,
            expires_at: now + CODE_TTL,
        };
        self.ports.create_email_change(&change, &[secret], &mails).await?;
        self.base.mail_queued();
        Ok(change.id)
    }

    /// Counts a try and consumes the change's code secret; the change must be open and the
    /// account's own.
    async fn prove_change(
        &self,
        account: &Account,
        change: Option<EmailChange>,
        current_code: &str,
        new_code: &str,
    ) -> Result<EmailChange, RecoveryError> {
        let now = self.base.clock.now();
        let change = change
            .filter(|c| c.account_id == account.id && c.completed_at.is_none() && c.cancelled_at.is_none())
            .filter(|c| c.applies_at.is_none() && c.expires_at > now)
            .ok_or(RecoveryError::ChangeNotFound)?;
        if !self.ports.count_email_change_attempt(change.id, TRIES).await? {
            return Err(RecoveryError::TooManyAttempts);
        }
        let current = if change.target == EmailTarget::Primary && change.current_reachable {
            current_code
        } else {
            ""
        };
        let hashes = self
            .base
            .key
            .hmacs(CODE_PURPOSE, code_hash_input(change.id, current, new_code).as_bytes());
        match crate::factor::consume_any(self.ports.as_ref(), CODE_PURPOSE, &hashes, now).await? {
            Some(secret) if secret.flow_id == Some(change.id) => Ok(change),
            _ => Err(RecoveryError::CodeInvalid),
        }
    }

    /// Applies a proved (or due) change with its audit event and notices.
    async fn apply(
        &self,
        account: &Account,
        change: &EmailChange,
        actor: Actor,
        client: &ClientInfo,
    ) -> Result<bool, RecoveryError> {
        let now = self.base.clock.now();
        let (detail, notice) = match change.target {
            EmailTarget::Backup => ("backup_email_added", Notice::BackupEmailAdded),
            EmailTarget::Primary => ("primary_email_changed", Notice::PrimaryEmailChanged),
        };
        let mut audit = AuditEvent::new(now, AuditKind::EmailChanged, actor, client).account(account.id);
        if change.target == EmailTarget::Backup {
            audit.kind = AuditKind::BackupEmailChanged;
        }
        audit.detail = Some(detail.into());
        let mut mails = vec![self.notice(account, notice, &audit).await?];
        if change.target == EmailTarget::Primary {
            let to_new = MailKind::SecurityNotice(notice, None);
            mails.push(self.compose_to(account, change.email.address(), to_new)?);
        }
        let refused = match self.ports.apply_email_change(change.id, now, &audit, &mails).await {
            Err(StoreError::Conflict(Unique::Email)) => RecoveryError::EmailTaken,
            Err(StoreError::Conflict(Unique::OtherAddress)) => RecoveryError::SameAddress,
            other => {
                let applied = other?;
                if applied {
                    self.base.mail_queued();
                }
                return Ok(applied);
            }
        };
        // It can never apply now (its code is spent, or its day has come): it ends, and the
        // owner is told.
        self.cancel(account, change.id, client).await?;
        Err(refused)
    }

    /// RECOVER-3: mails a code to the address that should become the backup email.
    pub async fn set_backup_email(&self, auth: &Authenticated, email: &str) -> Result<(), RecoveryError> {
        self.start_change(auth, EmailTarget::Backup, email, true)
            .await
            .map(|_| ())
    }

    /// RECOVER-3: the code from the backup address makes it the backup email.
    pub async fn verify_backup_email(
        &self,
        auth: &Authenticated,
        code: &str,
        client: &ClientInfo,
    ) -> Result<(), RecoveryError> {
        let now = self.base.clock.now();
        let change = self
            .ports
            .open_email_change(auth.account.id, EmailTarget::Backup, now)
            .await?;
        let change = self.prove_change(&auth.account, change, "", code).await?;
        self.apply(&auth.account, &change, Actor::Customer, client).await?;
        Ok(())
    }

    /// RECOVER-3: removes the backup email (fresh authentication).
    pub async fn remove_backup_email(&self, auth: &Authenticated, client: &ClientInfo) -> Result<(), RecoveryError> {
        self.base.require_fresh(auth)?;
        let now = self.base.clock.now();
        let mut audit =
            AuditEvent::new(now, AuditKind::BackupEmailChanged, Actor::Customer, client).account(auth.account.id);
        audit.detail = Some("backup_email_removed".into());
        let mail = self.notice(&auth.account, Notice::BackupEmailRemoved, &audit).await?;
        if !self.ports.remove_backup_email(auth.account.id, &audit, &[mail]).await? {
            return Err(RecoveryError::NoBackupEmail);
        }
        self.base.mail_queued();
        Ok(())
    }

    /// RECOVER-4: starts a change of the primary email; returns the change's id.
    pub async fn start_email_change(
        &self,
        auth: &Authenticated,
        email: &str,
        current_reachable: bool,
    ) -> Result<Uuid, RecoveryError> {
        self.start_change(auth, EmailTarget::Primary, email, current_reachable)
            .await
    }

    /// RECOVER-4: the codes confirm the change: it applies now, or in 24 hours when the current
    /// address could not be reached (the old address and the backup email get a cancel link).
    pub async fn confirm_email_change(
        &self,
        auth: &Authenticated,
        id: Uuid,
        current_code: &str,
        new_code: &str,
        client: &ClientInfo,
    ) -> Result<EmailChangeOutcome, RecoveryError> {
        let found = self.ports.find_email_change(id).await?;
        let found = found.filter(|c| c.target == EmailTarget::Primary);
        let change = self.prove_change(&auth.account, found, current_code, new_code).await?;
        if change.current_reachable {
            if !self.apply(&auth.account, &change, Actor::Customer, client).await? {
                return Err(RecoveryError::ChangeNotFound);
            }
            return Ok(EmailChangeOutcome::Applied);
        }
        if self
            .ports
            .find_account_by_login(change.email.canonical())
            .await?
            .is_some()
        {
            return Err(RecoveryError::EmailTaken);
        }
        let now = self.base.clock.now();
        let delay = self.base.settings.limits.unreachable_delay;
        let applies_at = now + delay;
        let (mut secret, token) = self.link_secret(&auth.account, CANCEL_PURPOSE, delay + Duration::hours(1));
        secret.flow_id = Some(change.id);
        let kind = MailKind::AccountLink {
            purpose: LinkPurpose::EmailChangeCancel { applies_at },
            url: format!(
                "{}email-change/cancel?token={}",
                self.base.settings.public_url,
                token.expose()
            ),
        };
        let mut mails = vec![self.base.compose_for(&auth.account, kind.clone(), Some(applies_at))?];
        if let Some(backup) = &auth.account.backup_email {
            mails.push(self.compose_to(&auth.account, backup.address(), kind)?);
        }
        let mut audit = AuditEvent::new(now, AuditKind::EmailChanged, Actor::Customer, client).account(auth.account.id);
        audit.detail = Some("primary_email_change_scheduled".into());
        if !self
            .ports
            .schedule_email_change(change.id, applies_at, &[secret], &audit, &mails)
            .await?
        {
            return Err(RecoveryError::ChangeNotFound);
        }
        self.base.mail_queued();
        Ok(EmailChangeOutcome::Scheduled { applies_at })
    }

    async fn cancel(&self, account: &Account, change: Uuid, client: &ClientInfo) -> Result<(), RecoveryError> {
        let now = self.base.clock.now();
        let mut audit = AuditEvent::new(now, AuditKind::EmailChanged, Actor::Customer, client).account(account.id);
        audit.detail = Some("primary_email_change_cancelled".into());
        let mail = self.notice(account, Notice::EmailChangeCancelled, &audit).await?;
        if !self.ports.cancel_email_change(change, now, &audit, &[mail]).await? {
            return Err(RecoveryError::ChangeNotFound);
        }
        self.base.mail_queued();
        Ok(())
    }

    /// RECOVER-4: the customer cancels their own waiting change.
    pub async fn cancel_email_change(
        &self,
        auth: &Authenticated,
        id: Uuid,
        client: &ClientInfo,
    ) -> Result<(), RecoveryError> {
        let change = self.ports.find_email_change(id).await?;
        if !change.is_some_and(|c| c.account_id == auth.account.id) {
            return Err(RecoveryError::ChangeNotFound);
        }
        self.cancel(&auth.account, id, client).await
    }

    /// RECOVER-4: the mailed link cancels a waiting change, without a login, once.
    pub async fn cancel_email_change_by_link(&self, token: &str, client: &ClientInfo) -> Result<(), RecoveryError> {
        let now = self.base.clock.now();
        let hashes = self.base.key.hmacs(CANCEL_PURPOSE, token.trim().as_bytes());
        let secret = crate::factor::consume_any(self.ports.as_ref(), CANCEL_PURPOSE, &hashes, now)
            .await?
            .ok_or(RecoveryError::LinkInvalid)?;
        let (Some(change), Some(account)) = (secret.flow_id, secret.account_id) else {
            return Err(RecoveryError::LinkInvalid);
        };
        let account = self
            .ports
            .find_account(account)
            .await?
            .ok_or(RecoveryError::LinkInvalid)?;
        self.cancel(&account, change, client).await.map_err(|err| match err {
            RecoveryError::ChangeNotFound => RecoveryError::LinkInvalid,
            other => other,
        })
    }

    /// RECOVER-4's worker step: applies the waiting changes whose day has come; returns how many.
    pub async fn apply_due_email_changes(&self) -> Result<usize, RecoveryError> {
        let due = self.ports.due_email_changes(self.base.clock.now(), 100).await?;
        let mut applied = 0;
        for change in due {
            let Some(account) = self.ports.find_account(change.account_id).await? else {
                continue;
            };
            if account.state != AccountState::Active {
                // A block cancels its changes; this one was left by an older version.
                self.cancel(&account, change.id, &ClientInfo::default()).await?;
                continue;
            }
            match self
                .apply(&account, &change, Actor::Anonymous, &ClientInfo::default())
                .await
            {
                Ok(true) => applied += 1,
                Ok(false) => {}
                Err(err @ (RecoveryError::EmailTaken | RecoveryError::SameAddress)) => {
                    tracing::warn!(change = %change.id, %err, "a waiting email change could no longer apply");
                }
                Err(err) => return Err(err),
            }
        }
        Ok(applied)
    }

    /// RECOVER-6 (the operator's or support's action, SUPPORT-2): the verified backup email
    /// becomes the primary; both addresses are told; the next login asks for a new backup email.
    pub(super) async fn promote(&self, account: &Account, audit: AuditEvent) -> Result<(), RecoveryError> {
        let backup = account.backup_email.clone().ok_or(RecoveryError::NoBackupEmail)?;
        let notice = MailKind::SecurityNotice(Notice::BackupEmailPromoted, None);
        let mails = [
            self.base.compose_for(account, notice.clone(), None)?,
            self.compose_to(account, backup.address(), notice)?,
        ];
        match self.ports.promote_backup_email(account.id, &audit, &mails).await {
            Ok(true) => {}
            Ok(false) => return Err(RecoveryError::NoBackupEmail),
            Err(StoreError::Conflict(Unique::Email)) => return Err(RecoveryError::EmailTaken),
            Err(err) => return Err(err.into()),
        }
        self.base.mail_queued();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_masked_to_their_first_letter_and_domain() {
        assert_eq!(mask("jane.doe@example.com"), "j•••@example.com");
        assert_eq!(mask("nobody"), "•••");
    }

    #[test]
    fn both_codes_make_one_secret_and_spaces_do_not_count() {
        let id = Uuid::nil();
        assert_eq!(
            code_hash_input(id, "123 456", "654321"),
            code_hash_input(id, "123456", "654 321")
        );
        assert_ne!(
            code_hash_input(id, "123456", "654321"),
            code_hash_input(id, "654321", "123456")
        );
        assert_ne!(code_hash_input(id, "", "123456"), code_hash_input(id, "123456", ""));
    }
}
