//! What support agents do to customer accounts (SUPPORT-2..5): find, look, and act, each action
//! with a reason and a ticket, audited with the agent (and, for a promotion, how the caller was
//! verified), and mailed to the customer, whose activity shows the agent's first name.
//!
//! Lost-2FA approvals need two people: an agent proposes, a supervisor who is not the proposer
//! confirms. Nothing an agent sees holds a secret, a code or a hash; documents are decrypted in
//! memory for the review screen only.

use super::support::{AgentAuth, Support, SupportError};
use crate::audit::{Actor, AuditEvent, AuditKind, ClientInfo};
use crate::mail::{MailKind, SupportAction};
use crate::ports::{Account, StoreError};
use crate::recovery::{RecoveryRequest, RequestStatus, RequestStep, StoredDocument};
use crate::support::{AgentRole, Approval};
use crate::types::{AccountId, AccountState, Email, LoginIdentifier};
use uuid::Uuid;
use zeroize::Zeroizing;

/// Who acts on an account: an agent in the console, or an operator at the command line.
#[derive(Debug, Clone, Copy)]
pub enum By<'a> {
    Agent(&'a AgentAuth),
    Operator,
}

impl By<'_> {
    /// What the customer sees of who acted: the agent's first name, or nothing.
    fn name(self) -> String {
        match self {
            Self::Agent(a) => a.agent.first_name().to_owned(),
            Self::Operator => String::new(),
        }
    }
}

/// How the caller of a promotion proved who they are (SUPPORT-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    CustomerCode,
    Callback,
    IdentityDocuments,
}

impl Verification {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CustomerCode => "customer_code",
            Self::Callback => "callback",
            Self::IdentityDocuments => "identity_documents",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::CustomerCode, Self::Callback, Self::IdentityDocuments]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// Why an agent acts: both required, control characters and excess length refused.
#[derive(Debug, Clone)]
pub struct Justification {
    pub reason: String,
    pub ticket: String,
}

impl Justification {
    fn checked(&self) -> Result<(&str, &str), SupportError> {
        let ok = |s: &str| !s.trim().is_empty() && s.chars().count() <= 500 && !s.chars().any(char::is_control);
        if ok(&self.reason) && ok(&self.ticket) {
            Ok((self.reason.trim(), self.ticket.trim()))
        } else {
            Err(SupportError::ReasonRequired)
        }
    }
}

/// What the console shows of an account (never a secret, code, hash or document).
#[derive(Debug, Clone)]
pub struct AccountSummary {
    pub account: Account,
    pub two_factor: super::TwoFactorSummary,
    pub events: Vec<AuditEvent>,
    pub requests: Vec<RecoveryRequest>,
    /// Consecutive second-factor failures and password failures counted against the account.
    pub second_factor_failures: i64,
    pub password_failures: i64,
    pub live_sessions: usize,
    /// RECOVER-4: a change of the primary email waiting for its codes or its day (a hacked
    /// account's tell; blocking or ending every session cancels it).
    pub pending_primary: Option<crate::recovery::EmailChange>,
}

/// A document's kind and size, for the review list.
#[derive(Debug, Clone)]
pub struct DocumentInfo {
    pub id: Uuid,
    pub content_type: String,
    pub size: i64,
}

impl Support {
    /// The audit event of an agent's action on an account; the detail names the agent, the
    /// reason, the ticket and anything else given.
    fn audit(
        &self,
        by: By<'_>,
        account: AccountId,
        action: &str,
        why: (&str, &str),
        extra: Option<(&str, &str)>,
        client: &ClientInfo,
    ) -> AuditEvent {
        let mut detail = serde_json::json!({ "action": action, "reason": why.0, "ticket": why.1 });
        let actor = match by {
            By::Agent(a) => {
                detail["agent_id"] = a.agent.id.to_string().into();
                detail["agent"] = a.agent.first_name().into();
                Actor::Support
            }
            By::Operator => Actor::Operator,
        };
        if let Some((key, value)) = extra {
            detail[key] = serde_json::Value::from(value);
        }
        let mut event =
            AuditEvent::new(self.base.clock.now(), AuditKind::SupportAction, actor, client).account(account);
        event.detail = Some(detail.to_string());
        event
    }

    fn notice(
        &self,
        account: &Account,
        by: By<'_>,
        action: SupportAction,
        reason: Option<&str>,
    ) -> Result<crate::mail::ComposedMail, SupportError> {
        let kind = MailKind::SupportNotice {
            action,
            agent: by.name(),
            reason: reason.map(str::to_owned),
        };
        Ok(self.base.compose_for(account, kind, None)?)
    }

    /// SUPPORT-2: finds accounts by NIC handle, primary or backup email, or customer code.
    pub async fn search(&self, query: &str) -> Result<Vec<Account>, SupportError> {
        let query = query.trim();
        let mut found = Vec::new();
        if let Some(id) = LoginIdentifier::parse(query)
            && let Some(account) = self.ports.find_account_by_login(id.as_str()).await?
        {
            found.push(account);
        }
        if let Ok(email) = Email::parse(query) {
            for account in self.ports.accounts_by_backup_email(email.canonical()).await? {
                if !found.iter().any(|a| a.id == account.id) {
                    found.push(account);
                }
            }
        }
        let digits: String = query.chars().filter(char::is_ascii_digit).collect();
        if digits.len() >= 6 && found.is_empty() {
            let code = crate::types::CustomerCode::from_digits(&digits);
            if let Some(account) = self.ports.account_by_customer_code(code.as_str()).await? {
                found.push(account);
            }
        }
        Ok(found)
    }

    async fn account(&self, id: AccountId) -> Result<Account, SupportError> {
        self.ports.find_account(id).await?.ok_or(SupportError::NotFound)
    }

    /// SUPPORT-2: the security summary of an account.
    pub async fn summary(&self, id: AccountId) -> Result<AccountSummary, SupportError> {
        let account = self.account(id).await?;
        let two_factor = self
            .devices
            .two_factor_summary(&account)
            .await
            .map_err(|e| SupportError::Store(StoreError::Internal(e.to_string())))?;
        let events = self.ports.recent_events(id, 20).await?;
        let requests = self.ports.account_requests(id).await?;
        let (second_factor_failures, password_failures) = self.login.lock_counts(id).await?;
        let live_sessions = self.ports.live_sessions(id).await?.len();
        let pending_primary = self
            .ports
            .open_email_change(id, crate::recovery::EmailTarget::Primary, self.base.clock.now())
            .await?;
        Ok(AccountSummary {
            account,
            two_factor,
            events,
            requests,
            second_factor_failures,
            password_failures,
            live_sessions,
            pending_primary,
        })
    }

    /// SUPPORT-4: blocks (sessions end) or unblocks an account.
    pub async fn set_blocked(
        &self,
        by: By<'_>,
        id: AccountId,
        blocked: bool,
        why: &Justification,
        client: &ClientInfo,
    ) -> Result<(), SupportError> {
        let why = why.checked()?;
        let account = self.account(id).await?;
        let (state, action, name) = if blocked {
            (AccountState::Blocked, SupportAction::Blocked, "block")
        } else {
            (AccountState::Active, SupportAction::Unblocked, "unblock")
        };
        let audit = self.audit(by, id, name, why, None, client);
        let mail = self.notice(&account, by, action, None)?;
        if !self.ports.set_account_state(id, state, &audit, &[mail]).await? {
            return Err(SupportError::WrongState);
        }
        self.base.mail_queued();
        Ok(())
    }

    /// SUPPORT-4: lifts the account's password and second-factor locks.
    pub async fn unlock(
        &self,
        by: By<'_>,
        id: AccountId,
        why: &Justification,
        client: &ClientInfo,
    ) -> Result<(), SupportError> {
        let why = why.checked()?;
        let account = self.account(id).await?;
        let audit = self.audit(by, id, "unlock", why, None, client);
        let mail = self.notice(&account, by, SupportAction::Unlocked, None)?;
        self.login.lift_locks(id, &audit, &[mail]).await?;
        self.base.mail_queued();
        Ok(())
    }

    /// SUPPORT-2: the profile phone in full, for a "called back on the phone on file" check. The
    /// summary shows it masked; each look is audited with its reason and ticket (SUPPORT-5).
    pub async fn reveal_phone(
        &self,
        by: By<'_>,
        id: AccountId,
        why: &Justification,
        client: &ClientInfo,
    ) -> Result<Option<String>, SupportError> {
        let why = why.checked()?;
        let account = self.account(id).await?;
        self.ports
            .record(&self.audit(by, id, "phone_revealed", why, None, client))
            .await?;
        Ok(account.phone)
    }

    /// SUPPORT-4: ends every session of the account.
    pub async fn end_sessions(
        &self,
        by: By<'_>,
        id: AccountId,
        why: &Justification,
        client: &ClientInfo,
    ) -> Result<(), SupportError> {
        let why = why.checked()?;
        let account = self.account(id).await?;
        let audit = self.audit(by, id, "end_sessions", why, None, client);
        let mail = self.notice(&account, by, SupportAction::SessionsEnded, None)?;
        self.ports.end_all_sessions(id, &audit, &[mail]).await?;
        self.base.mail_queued();
        Ok(())
    }

    /// SUPPORT-2, RECOVER-6: the verified backup email becomes the primary, once the agent says how
    /// the caller was verified.
    pub async fn promote_backup_email(
        &self,
        by: By<'_>,
        id: AccountId,
        verification: Option<Verification>,
        why: &Justification,
        client: &ClientInfo,
    ) -> Result<(), SupportError> {
        let why = why.checked()?;
        let verification = verification.ok_or(SupportError::VerificationRequired)?;
        let account = self.account(id).await?;
        let audit = self.audit(
            by,
            id,
            "promote_backup_email",
            why,
            Some(("verification", verification.as_str())),
            client,
        );
        self.recovery.promote(&account, audit).await?;
        Ok(())
    }

    /// SUPPORT-3: a request and its documents' kinds, for the review screen.
    pub async fn review(&self, request: Uuid) -> Result<(RecoveryRequest, Account, Vec<DocumentInfo>), SupportError> {
        let found = self
            .ports
            .recovery_request(request)
            .await?
            .ok_or(SupportError::NotFound)?;
        let account = self.account(found.account_id).await?;
        let documents = self
            .ports
            .documents(request)
            .await?
            .into_iter()
            .map(|d| DocumentInfo {
                id: d.id,
                content_type: d.content_type,
                size: d.size,
            })
            .collect();
        Ok((found, account, documents))
    }

    /// SUPPORT-3: one document, decrypted in memory, for the review screen only. SUPPORT-5:
    /// each opening is audited with the agent, the request and the document, so the customer's
    /// activity shows who looked at their identity documents.
    pub async fn document(
        &self,
        by: &AgentAuth,
        request: Uuid,
        document: Uuid,
        client: &ClientInfo,
    ) -> Result<(String, Zeroizing<Vec<u8>>), SupportError> {
        let found = self
            .ports
            .recovery_request(request)
            .await?
            .ok_or(SupportError::NotFound)?;
        // Not before the owner confirmed the request from their mailbox (RECOVER-5): a draft may
        // be anyone's who had the password.
        if found.status != RequestStatus::PendingReview {
            return Err(SupportError::WrongState);
        }
        let stored: StoredDocument = self
            .ports
            .documents(request)
            .await?
            .into_iter()
            .find(|d| d.id == document)
            .ok_or(SupportError::NotFound)?;
        let bytes = self.recovery.open_document(&stored)?;
        // The review is the reason and the request its ticket; recorded before it is shown (a
        // failed write refuses the document).
        let ticket = request.to_string();
        let why = ("review of the lost-devices request", ticket.as_str());
        let shown = document.to_string();
        let extra = Some(("document", shown.as_str()));
        let audit = self.audit(By::Agent(by), found.account_id, "view_document", why, extra, client);
        self.ports.record(&audit).await?;
        Ok((stored.content_type, bytes))
    }

    /// SUPPORT-3: an agent proposes approving a request that waits for review.
    pub async fn propose_approval(
        &self,
        by: &AgentAuth,
        request: Uuid,
        why: &Justification,
        client: &ClientInfo,
    ) -> Result<(), SupportError> {
        let why = why.checked()?;
        let found = self
            .ports
            .recovery_request(request)
            .await?
            .ok_or(SupportError::NotFound)?;
        let audit = self.audit(By::Agent(by), found.account_id, "propose_2fa_off", why, None, client);
        if !self
            .ports
            .propose_approval(request, by.agent.id, why.0, why.1, &audit)
            .await?
        {
            return Err(SupportError::WrongState);
        }
        Ok(())
    }

    /// SUPPORT-3: a supervisor, not the proposer, confirms: 2FA off, devices and backup codes
    /// deleted, sessions ended, documents deleted, the customer told.
    pub async fn confirm_approval(
        &self,
        by: &AgentAuth,
        request: Uuid,
        why: &Justification,
        client: &ClientInfo,
    ) -> Result<(), SupportError> {
        let why = why.checked()?;
        if by.agent.role != AgentRole::Supervisor {
            return Err(SupportError::SupervisorOnly);
        }
        let found = self
            .ports
            .recovery_request(request)
            .await?
            .ok_or(SupportError::NotFound)?;
        match found.proposed_by {
            None => return Err(SupportError::WrongState),
            Some(proposer) if proposer == by.agent.id => return Err(SupportError::SameAgent),
            Some(_) => {}
        }
        let account = self.account(found.account_id).await?;
        // A block (hacked, fraud) outranks a request that may be the intruder's (ACCT-5).
        if account.state != AccountState::Active {
            return Err(SupportError::AccountNotActive);
        }
        let audit = self.audit(By::Agent(by), account.id, "confirm_2fa_off", why, None, client);
        let mail = self.notice(&account, By::Agent(by), SupportAction::TwoFactorOff, None)?;
        let approval = Approval {
            request,
            account: account.id,
            confirmed_by: by.agent.id,
            now: self.base.clock.now(),
            audit: &audit,
            mails: &[mail],
        };
        if !self.ports.approve_recovery(&approval).await? {
            return Err(SupportError::WrongState);
        }
        self.base.mail_queued();
        Ok(())
    }

    /// SUPPORT-3: refuses a request with a reason the customer reads; the documents go.
    pub async fn reject(
        &self,
        by: &AgentAuth,
        request: Uuid,
        why: &Justification,
        client: &ClientInfo,
    ) -> Result<(), SupportError> {
        let (reason, ticket) = why.checked()?;
        let found = self
            .ports
            .recovery_request(request)
            .await?
            .ok_or(SupportError::NotFound)?;
        let account = self.account(found.account_id).await?;
        let audit = self.audit(
            By::Agent(by),
            account.id,
            "reject_2fa_off",
            (reason, ticket),
            None,
            client,
        );
        let mail = self.notice(&account, By::Agent(by), SupportAction::RequestRejected, Some(reason))?;
        let step = RequestStep {
            id: request,
            from: RequestStatus::PendingReview,
            to: RequestStatus::Rejected,
            now: self.base.clock.now(),
            secrets: &[],
            reason: Some(reason),
            expires_at: None,
            audit: &audit,
            mails: &[mail],
        };
        if !self.ports.advance_recovery_request(&step).await? {
            return Err(SupportError::WrongState);
        }
        self.base.mail_queued();
        Ok(())
    }

    /// The requests waiting for support, oldest first.
    pub async fn queue(&self) -> Result<Vec<RecoveryRequest>, SupportError> {
        Ok(self.ports.requests_to_review(50).await?)
    }
}
