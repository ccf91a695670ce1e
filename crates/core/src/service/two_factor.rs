//! Two-factor authentication (LOGIN-2, MFA-1, MFA-2, MFA-5, MFA-6, MFA-7, SESS-3).
//!
//! ```text
//! password ok ──► methods fixed (Kanidm: no switching to a weaker set later) ──► login flow
//! login flow ──second_factor(method, code)──► session          (5 tries per flow, then start over)
//!                    │ wrong ×3 ─► "your password was used" mail
//!                    │ TOTP step replayed ─► refused, audited, mailed
//! ```
//!
//! The same flow serves re-authentication (SESS-3): it ends with a new session token that
//! replaces the old session. Enrolling, renaming, removing and regenerating need an
//! authentication within the last 10 minutes.

use super::Services;
use super::sessions::{Authenticated, LoginError, LoginSuccess};
use crate::audit::{Actor, AuditEvent, AuditKind, ClientInfo};
use crate::factor::{FactorContext, FactorOutcome, Method, backup_code, totp};
use crate::mail::{ComposeError, MailKind, Notice};
use crate::ports::{Account, FactorCredential, FlowRecord, OneTimeSecret, StoreError};
use crate::types::{AccountState, new_id};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

const KIND: &str = "login";
/// A login flow waits this long for its second factor.
const FLOW_TTL: Duration = Duration::minutes(10);
/// Wrong codes one flow takes before the customer must start again from the password.
const FLOW_ATTEMPTS: i64 = 5;
/// MFA-7: per-account failures (across flows) after which no code is accepted.
const ACCOUNT_LOCK: i64 = 100;
/// MFA-7: per-account failures after which each new try must wait, doubling from 1 s.
const DELAY_AFTER: i64 = 10;
/// The longest wait between tries.
const MAX_DELAY: Duration = Duration::minutes(15);
/// Window of the per-account failure count.
const FAILURE_WINDOW: Duration = Duration::days(1);
const UNLOCK_PURPOSE: &str = "2fa-unlock";
const UNLOCK_TTL: Duration = Duration::hours(24);

/// MFA-7: the wait before the next try after `failures` failures.
pub fn failure_delay(failures: i64) -> Duration {
    if failures < DELAY_AFTER {
        return Duration::ZERO;
    }
    let exponent = u32::try_from((failures - DELAY_AFTER).min(20)).unwrap_or(20);
    Duration::seconds(2i64.pow(exponent)).min(MAX_DELAY)
}
/// SESS-3: how recent an authentication must be for a sensitive change.
pub const FRESH_AUTH: Duration = Duration::minutes(10);

/// The answer to a correct password when more is needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondStep {
    pub flow: Uuid,
    pub methods: Vec<Method>,
    pub default: Method,
}

/// What a correct password leads to.
#[derive(Debug)]
pub enum LoginOutcome {
    LoggedIn(Box<LoginSuccess>),
    SecondFactor(SecondStep),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TwoFactorError {
    #[error("this login has ended or never existed; start again")]
    FlowNotFound,
    #[error("this method is not available for this login")]
    MethodNotAllowed,
    #[error("the code is wrong")]
    InvalidCode,
    #[error("too many wrong codes; start again from the password")]
    TooManyAttempts,
    #[error("too many wrong codes on this account; codes are refused until it is unlocked")]
    AccountLocked,
    #[error("too many wrong codes; wait before the next try")]
    Throttled { retry_after: Duration },
    #[error("this unlock link is wrong, used or expired")]
    InvalidUnlock,
    #[error("please confirm it is you: authenticate again")]
    ReauthRequired,
    #[error("no such authenticator app")]
    NotFound,
    #[error("the description must have 1 to 60 characters")]
    InvalidDescription,
    #[error("two-factor authentication is off")]
    NotEnabled,
    #[error(transparent)]
    Login(#[from] LoginError),
    #[error(transparent)]
    Mail(#[from] ComposeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LoginFlowState {
    account_id: Uuid,
    methods: Vec<Method>,
    /// Re-authentication of this session (SESS-3) instead of a new login.
    reauth_of: Option<Uuid>,
}

/// A TOTP app being enrolled: shown once.
#[derive(Debug, Clone)]
pub struct TotpEnrolment {
    pub id: Uuid,
    pub secret: String,
    pub otpauth_url: String,
    pub qr_svg: String,
}

/// The security page's view of 2FA.
#[derive(Debug, Clone)]
pub struct TwoFactorSummary {
    pub apps: Vec<FactorCredential>,
    pub backup_codes_left: i64,
    pub enabled: bool,
}

fn valid_description(input: &str) -> Result<String, TwoFactorError> {
    let d = input.trim();
    let n = d.chars().count();
    if n == 0 || n > 60 || d.chars().any(char::is_control) {
        return Err(TwoFactorError::InvalidDescription);
    }
    Ok(d.to_owned())
}

impl Services {
    fn factor_ctx<'a>(&'a self, account: &'a Account, now: OffsetDateTime) -> FactorContext<'a> {
        FactorContext {
            store: self.store.as_ref(),
            key: &self.key,
            account,
            now,
        }
    }

    /// The methods an account can use now. Backup codes count only beside another method.
    pub async fn second_factor_methods(&self, account: &Account) -> Result<Vec<Method>, StoreError> {
        let ctx = self.factor_ctx(account, self.clock.now());
        let mut methods = Vec::new();
        for factor in &self.factors {
            if factor.available(&ctx).await? {
                methods.push(factor.method());
            }
        }
        if methods.iter().all(|m| *m == Method::BackupCode) {
            methods.clear();
        }
        Ok(methods)
    }

    /// LOGIN-2: after a correct password, a login flow with the methods fixed now.
    pub(crate) async fn start_second_step(
        &self,
        account: &Account,
        methods: Vec<Method>,
        reauth_of: Option<Uuid>,
    ) -> Result<SecondStep, StoreError> {
        let now = self.clock.now();
        let default = self.default_method(account, &methods).await?;
        let state = LoginFlowState {
            account_id: account.id.0,
            methods: methods.clone(),
            reauth_of,
        };
        let flow = FlowRecord {
            id: new_id(now),
            kind: KIND.into(),
            account_id: Some(account.id),
            state: serde_json::to_string(&state).map_err(|e| StoreError::Internal(e.to_string()))?,
            version: 0,
            attempts: 0,
            created_at: now,
            expires_at: now + FLOW_TTL,
            completed_at: None,
        };
        self.store.create_flow(&flow, &[], &[]).await?;
        Ok(SecondStep {
            flow: flow.id,
            methods,
            default,
        })
    }

    /// LOGIN-2: the method used last, or before any 2FA login the most recently enabled one
    /// other than backup codes.
    async fn default_method(&self, account: &Account, methods: &[Method]) -> Result<Method, StoreError> {
        let last = account.last_second_factor.as_deref().and_then(Method::parse);
        match last.filter(|m| methods.contains(m)) {
            Some(m) => Ok(m),
            None => self.most_recent_method(account, methods).await,
        }
    }

    async fn most_recent_method(&self, account: &Account, methods: &[Method]) -> Result<Method, StoreError> {
        let mut creds = self.store.credentials(account.id).await?;
        creds.retain(|c| c.enabled_at.is_some());
        creds.sort_by_key(|c| c.enabled_at);
        let newest = creds
            .iter()
            .rev()
            .filter_map(|c| Method::parse(&c.kind))
            .find(|m| methods.contains(m));
        Ok(newest
            .or_else(|| methods.first().copied())
            .unwrap_or(Method::BackupCode))
    }

    /// The methods and default of an open login flow (for the second-step page).
    pub async fn second_step(&self, flow_id: Uuid) -> Result<SecondStep, TwoFactorError> {
        let flow = self
            .store
            .find_flow(flow_id, KIND)
            .await?
            .ok_or(TwoFactorError::FlowNotFound)?;
        if self.clock.now() >= flow.expires_at {
            return Err(TwoFactorError::FlowNotFound);
        }
        let state: LoginFlowState =
            serde_json::from_str(&flow.state).map_err(|e| StoreError::Internal(e.to_string()))?;
        let account = self
            .store
            .find_account(crate::types::AccountId(state.account_id))
            .await?
            .ok_or(TwoFactorError::FlowNotFound)?;
        let default = self.default_method(&account, &state.methods).await?;
        Ok(SecondStep {
            flow: flow_id,
            methods: state.methods,
            default,
        })
    }

    /// LOGIN-2: the second step. Opens the session (or replaces it, for a re-authentication).
    pub async fn second_factor(
        &self,
        flow_id: Uuid,
        method: &str,
        proof: &str,
        client: &ClientInfo,
    ) -> Result<LoginSuccess, TwoFactorError> {
        let now = self.clock.now();
        let flow = self
            .store
            .find_flow(flow_id, KIND)
            .await?
            .ok_or(TwoFactorError::FlowNotFound)?;
        if now >= flow.expires_at {
            return Err(TwoFactorError::FlowNotFound);
        }
        let state: LoginFlowState =
            serde_json::from_str(&flow.state).map_err(|e| StoreError::Internal(e.to_string()))?;
        let method = Method::parse(method)
            .filter(|m| state.methods.contains(m))
            .ok_or(TwoFactorError::MethodNotAllowed)?;
        let account = self
            .store
            .find_account(crate::types::AccountId(state.account_id))
            .await?
            .filter(|a| a.state == AccountState::Active)
            .ok_or(TwoFactorError::FlowNotFound)?;
        let key = account.id.to_string();
        let (failures, last) = self.store.count("2fa-failures", &key, now - FAILURE_WINDOW).await?;
        if failures >= ACCOUNT_LOCK {
            return Err(TwoFactorError::AccountLocked);
        }
        let ready_at = last.map_or(now, |last| last + failure_delay(failures));
        if now < ready_at {
            return Err(TwoFactorError::Throttled {
                retry_after: ready_at - now,
            });
        }
        // The try is counted before the code is looked at.
        let Some(attempt) = self.store.count_flow_attempt(flow_id, FLOW_ATTEMPTS).await? else {
            return Err(TwoFactorError::TooManyAttempts);
        };
        let factor = self
            .factors
            .iter()
            .find(|f| f.method() == method)
            .ok_or(TwoFactorError::MethodNotAllowed)?;
        let outcome = factor.verify(&self.factor_ctx(&account, now), proof).await?;
        let audit = |kind: AuditKind| AuditEvent::new(now, kind, Actor::Customer, client).account(account.id);
        match outcome {
            FactorOutcome::Accepted(_) => {
                if !self.store.complete_flow(flow_id, now).await? {
                    return Err(TwoFactorError::FlowNotFound);
                }
                self.store.set_last_second_factor(account.id, method.as_str()).await?;
                let mut event = audit(AuditKind::SecondFactorSucceeded);
                event.detail = Some(method.as_str().to_owned());
                self.store.record(&event).await?;
                if method == Method::BackupCode {
                    let left = self.store.backup_codes_left(account.id, now).await?;
                    self.notify(
                        &account,
                        Notice::BackupCodeUsed { left },
                        audit(AuditKind::BackupCodeUsed),
                    )
                    .await?;
                }
                let notify = state.reauth_of.is_none() && account.login_notifications;
                if let Some(old) = state.reauth_of {
                    self.store
                        .end_session(old, now, &audit(AuditKind::Reauthenticated))
                        .await?;
                }
                Ok(self.open_session(account, client, notify).await?)
            }
            FactorOutcome::Rejected | FactorOutcome::Replayed => {
                let failures = self.store.hit("2fa-failures", &key, now - FAILURE_WINDOW, now).await?;
                if failures == ACCOUNT_LOCK {
                    self.send_unlock_link(&account, now).await?;
                }
                if outcome == FactorOutcome::Replayed {
                    self.notify(
                        &account,
                        Notice::TotpReplayed,
                        audit(AuditKind::TotpReplayed).failed("replay"),
                    )
                    .await?;
                } else {
                    self.store
                        .record(&audit(AuditKind::SecondFactorFailed).failed(method.as_str()))
                        .await?;
                }
                if attempt == 3 {
                    self.notify(
                        &account,
                        Notice::PasswordUsed,
                        audit(AuditKind::SecondFactorFailed).failed("third"),
                    )
                    .await?;
                }
                Err(TwoFactorError::InvalidCode)
            }
        }
    }

    /// MFA-7: at the lock, the owner gets a single-use link that lifts it.
    async fn send_unlock_link(&self, account: &Account, now: OffsetDateTime) -> Result<(), TwoFactorError> {
        let token = crate::token::Token::generate(self.rng.as_ref());
        let secret = OneTimeSecret {
            id: new_id(now),
            purpose: UNLOCK_PURPOSE.into(),
            account_id: Some(account.id),
            flow_id: None,
            secret_hash: self.key.hmac(UNLOCK_PURPOSE, token.expose().as_bytes()),
            created_at: now,
            expires_at: now + UNLOCK_TTL,
        };
        self.store.create_secret(&secret).await?;
        let url = format!("{}unlock?token={}", self.settings.public_url, token.expose());
        let mail = self.compose_for(account, MailKind::UnlockLink { url }, Some(now + UNLOCK_TTL))?;
        self.store.queue_mail(&mail).await?;
        self.mail_queued();
        Ok(())
    }

    /// MFA-7: the unlock link lifts the per-account lock (once).
    pub async fn unlock_second_factor(&self, token: &str, client: &ClientInfo) -> Result<(), TwoFactorError> {
        let now = self.clock.now();
        let hashes = self.key.hmacs(UNLOCK_PURPOSE, token.trim().as_bytes());
        let secret = crate::factor::consume_any(self.store.as_ref(), UNLOCK_PURPOSE, &hashes, now)
            .await?
            .ok_or(TwoFactorError::InvalidUnlock)?;
        let account = secret.account_id.ok_or(TwoFactorError::InvalidUnlock)?;
        self.store.reset("2fa-failures", &account.to_string()).await?;
        let mut event = AuditEvent::new(now, AuditKind::TwoFactorChanged, Actor::Customer, client).account(account);
        event.detail = Some("unlocked".into());
        self.store.record(&event).await?;
        Ok(())
    }

    /// Writes an audit event and queues the matching notice mail.
    async fn notify(&self, account: &Account, notice: Notice, audit: AuditEvent) -> Result<(), TwoFactorError> {
        let mail = self.compose_for(account, MailKind::SecurityNotice(notice), None)?;
        self.store.record(&audit).await?;
        self.store.queue_mail(&mail).await?;
        self.mail_queued();
        Ok(())
    }

    /// SESS-3: a sensitive change needs an authentication within the last 10 minutes.
    pub fn require_fresh(&self, auth: &Authenticated) -> Result<(), TwoFactorError> {
        if self.clock.now() - auth.session.authenticated_at > FRESH_AUTH {
            return Err(TwoFactorError::ReauthRequired);
        }
        Ok(())
    }

    /// SESS-3: password again (and the second factor through the login flow); a new session
    /// token replaces the old one.
    pub async fn reauthenticate(
        &self,
        auth: &Authenticated,
        password: &str,
        client: &ClientInfo,
    ) -> Result<LoginOutcome, TwoFactorError> {
        let account = self.check_own_password(&auth.account, password, client).await?;
        let methods = self.second_factor_methods(&account).await?;
        if !methods.is_empty() {
            let step = self.start_second_step(&account, methods, Some(auth.session.id)).await?;
            return Ok(LoginOutcome::SecondFactor(step));
        }
        let now = self.clock.now();
        let audit = AuditEvent::new(now, AuditKind::Reauthenticated, Actor::Customer, client).account(account.id);
        self.store.end_session(auth.session.id, now, &audit).await?;
        Ok(LoginOutcome::LoggedIn(Box::new(
            self.open_session(account, client, false).await?,
        )))
    }

    /// MFA-2: starts enrolling an authenticator app; it counts only once a code confirms it.
    pub async fn totp_begin(&self, auth: &Authenticated, description: &str) -> Result<TotpEnrolment, TwoFactorError> {
        self.require_fresh(auth)?;
        let description = valid_description(description)?;
        let now = self.clock.now();
        let seed = totp::new_seed(self.rng.as_ref());
        let sealed = self
            .key
            .seal(totp::SEAL_PURPOSE, &seed, self.rng.as_ref())
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        let cred = FactorCredential {
            id: new_id(now),
            account_id: auth.account.id,
            kind: Method::Totp.as_str().into(),
            version: 1,
            data: sealed,
            description,
            created_at: now,
            enabled_at: None,
            last_used_at: None,
        };
        let audit = self.change_audit(auth, "totp_pending");
        self.store.add_credential(&cred, &audit).await?;
        let url = totp::otpauth_url(&seed, auth.account.nic_handle.as_str(), &self.settings.issuer);
        Ok(TotpEnrolment {
            id: cred.id,
            secret: totp::base32(&seed),
            qr_svg: totp::qr_svg(&url),
            otpauth_url: url,
        })
    }

    /// A pending app's QR code and secret again (after a wrong confirmation code).
    pub async fn totp_pending(&self, auth: &Authenticated, id: Uuid) -> Result<TotpEnrolment, TwoFactorError> {
        let cred = self.own_app(&auth.account, id).await?;
        if cred.enabled_at.is_some() {
            return Err(TwoFactorError::NotFound);
        }
        let seed = self
            .key
            .open(totp::SEAL_PURPOSE, &cred.data)
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        let url = totp::otpauth_url(&seed, auth.account.nic_handle.as_str(), &self.settings.issuer);
        Ok(TotpEnrolment {
            id,
            secret: totp::base32(&seed),
            qr_svg: totp::qr_svg(&url),
            otpauth_url: url,
        })
    }

    /// Confirms an app with a code from it. For the first method, returns the backup codes
    /// (shown once).
    pub async fn totp_enable(
        &self,
        auth: &Authenticated,
        id: Uuid,
        code: &str,
    ) -> Result<Option<Vec<String>>, TwoFactorError> {
        self.require_fresh(auth)?;
        let account = &auth.account;
        let cred = self.own_app(account, id).await?;
        if cred.enabled_at.is_some() {
            return Err(TwoFactorError::NotFound);
        }
        self.check_app_code(account, &cred, code).await?;
        let first = self.second_factor_methods(account).await?.is_empty();
        let now = self.clock.now();
        let (codes, secrets) = if first {
            self.new_backup_codes(account, now)
        } else {
            (Vec::new(), Vec::new())
        };
        let notice = if first {
            Notice::TwoFactorEnabled
        } else {
            Notice::AppAdded
        };
        let mail = self.compose_for(account, MailKind::SecurityNotice(notice), None)?;
        let audit = self.change_audit(auth, "totp_enabled");
        if !self
            .store
            .enable_credential(id, account.id, &secrets, &audit, &[mail])
            .await?
        {
            return Err(TwoFactorError::NotFound);
        }
        self.mail_queued();
        Ok(first.then_some(codes))
    }

    pub async fn totp_rename(&self, auth: &Authenticated, id: Uuid, description: &str) -> Result<(), TwoFactorError> {
        self.require_fresh(auth)?;
        let description = valid_description(description)?;
        self.own_app(&auth.account, id).await?;
        let audit = self.change_audit(auth, "totp_renamed");
        let mail = self.compose_for(&auth.account, MailKind::SecurityNotice(Notice::AppRenamed), None)?;
        if !self
            .store
            .rename_credential(id, auth.account.id, &description, &audit, &[mail])
            .await?
        {
            return Err(TwoFactorError::NotFound);
        }
        self.mail_queued();
        Ok(())
    }

    /// MFA-6: removing an app needs a current code from that very app; removing the last one
    /// turns 2FA off and deletes the backup codes.
    pub async fn totp_remove(&self, auth: &Authenticated, id: Uuid, code: &str) -> Result<bool, TwoFactorError> {
        self.require_fresh(auth)?;
        let account = &auth.account;
        let cred = self.own_app(account, id).await?;
        if cred.enabled_at.is_some() {
            self.check_app_code(account, &cred, code).await?;
        }
        let others = self
            .store
            .credentials(account.id)
            .await?
            .into_iter()
            .filter(|c| c.id != id && c.enabled_at.is_some())
            .count();
        let last = cred.enabled_at.is_some() && others == 0;
        let notice = if last {
            Notice::TwoFactorDisabled
        } else {
            Notice::AppRemoved
        };
        let mails = if cred.enabled_at.is_some() {
            vec![self.compose_for(account, MailKind::SecurityNotice(notice), None)?]
        } else {
            Vec::new()
        };
        let audit = self.change_audit(auth, if last { "two_factor_off" } else { "totp_removed" });
        if !self
            .store
            .delete_credential(id, account.id, last, &audit, &mails)
            .await?
        {
            return Err(TwoFactorError::NotFound);
        }
        self.mail_queued();
        Ok(last)
    }

    /// MFA-5: a new set of backup codes; the old set stops working.
    pub async fn regenerate_backup_codes(&self, auth: &Authenticated) -> Result<Vec<String>, TwoFactorError> {
        self.require_fresh(auth)?;
        let account = &auth.account;
        if self.second_factor_methods(account).await?.is_empty() {
            return Err(TwoFactorError::NotEnabled);
        }
        let (codes, secrets) = self.new_backup_codes(account, self.clock.now());
        let mail = self.compose_for(account, MailKind::SecurityNotice(Notice::BackupCodesRegenerated), None)?;
        let audit = self.change_audit(auth, "backup_codes_regenerated");
        self.store
            .replace_backup_codes(account.id, &secrets, &audit, &[mail])
            .await?;
        self.mail_queued();
        Ok(codes)
    }

    pub async fn two_factor_summary(&self, account: &Account) -> Result<TwoFactorSummary, StoreError> {
        let apps: Vec<_> = self
            .store
            .credentials(account.id)
            .await?
            .into_iter()
            .filter(|c| c.kind == Method::Totp.as_str() && c.enabled_at.is_some())
            .collect();
        let backup_codes_left = self.store.backup_codes_left(account.id, self.clock.now()).await?;
        Ok(TwoFactorSummary {
            enabled: !apps.is_empty(),
            apps,
            backup_codes_left,
        })
    }

    async fn own_app(&self, account: &Account, id: Uuid) -> Result<FactorCredential, TwoFactorError> {
        self.store
            .credentials(account.id)
            .await?
            .into_iter()
            .find(|c| c.id == id && c.kind == Method::Totp.as_str())
            .ok_or(TwoFactorError::NotFound)
    }

    /// A code from this very app, at a step not used before (MFA-2, MFA-6).
    async fn check_app_code(
        &self,
        account: &Account,
        cred: &FactorCredential,
        code: &str,
    ) -> Result<(), TwoFactorError> {
        let seed = self
            .key
            .open(totp::SEAL_PURPOSE, &cred.data)
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        let step = totp::matching_step(&seed, code, self.clock.now()).ok_or(TwoFactorError::InvalidCode)?;
        let step = i64::try_from(step).map_err(|e| StoreError::Internal(e.to_string()))?;
        if !self.store.use_totp_step(account.id, step).await? {
            return Err(TwoFactorError::InvalidCode);
        }
        Ok(())
    }

    fn new_backup_codes(&self, account: &Account, now: OffsetDateTime) -> (Vec<String>, Vec<OneTimeSecret>) {
        let codes = backup_code::generate(self.rng.as_ref());
        let secrets = codes
            .iter()
            .filter_map(|c| backup_code::normalize(c))
            .map(|c| OneTimeSecret {
                id: new_id(now),
                purpose: backup_code::PURPOSE.into(),
                account_id: Some(account.id),
                flow_id: None,
                secret_hash: backup_code::hash(&self.key, account.id, &c),
                created_at: now,
                // Backup codes don't expire; they are voided by a new set or by 2FA going off.
                expires_at: OffsetDateTime::new_utc(time::Date::MAX, time::Time::MIDNIGHT),
            })
            .collect();
        (codes, secrets)
    }

    fn change_audit(&self, auth: &Authenticated, what: &str) -> AuditEvent {
        let client = ClientInfo {
            ip: auth.session.ip.clone(),
            user_agent: auth.session.user_agent.clone(),
        };
        let mut event = AuditEvent::new(self.clock.now(), AuditKind::TwoFactorChanged, Actor::Customer, &client)
            .account(auth.account.id);
        event.detail = Some(what.to_owned());
        event
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_start_after_ten_failures_and_double_up_to_fifteen_minutes() {
        assert_eq!(failure_delay(0), Duration::ZERO);
        assert_eq!(failure_delay(9), Duration::ZERO);
        assert_eq!(failure_delay(10), Duration::seconds(1));
        assert_eq!(failure_delay(11), Duration::seconds(2));
        assert_eq!(failure_delay(15), Duration::seconds(32));
        assert_eq!(failure_delay(40), Duration::minutes(15));
        assert_eq!(failure_delay(1000), Duration::minutes(15));
    }
}
