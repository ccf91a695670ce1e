//! The login pipeline (LOGIN-2, MFA-1, MFA-7, SESS-3): what follows a correct first factor.
//!
//! ```text
//! password (login) ─┐
//! password (reauth) ├─► conclude(): the extra steps, decided here only ─┬─ none ─► session
//! sign-up finished ─┘                                                   └─ second factor ─► login flow
//! login flow ── challenge(method) ─► options / code sent (state sealed in the flow)
//!            ── second_factor(method, proof) ─► session    (5 tries per flow, then start over)
//!                  │ wrong ×3 ─► "your password was used" mail
//!                  │ TOTP step replayed ─► refused, audited, mailed
//! ```
//!
//! The methods a flow may use are fixed when it starts (Kanidm: no switching to a weaker set
//! later). A re-authentication (SESS-3) ends with a new session token that replaces the old one.
//! Challenge state lives in the flow row, sealed under the server key, so any node can finish a
//! step (OPS-1). Diagram and reasons: `docs/design/login-pipeline.md`.

use super::factors::Loaded;
use super::password_guard::Cleared;
use super::session_cache::SessionCache;
use super::sessions::{Authenticated, LoginError, LoginSuccess};
use super::{Base, Factors};
use crate::audit::{Actor, AuditEvent, AuditKind, ClientInfo};
use crate::factor::sms::PhoneChoice;
use crate::factor::{FactorError, FactorOutcome, Method, Prompt, Proof, Scope};
use crate::flow::FlowKind;
use crate::mail::{ComposeError, MailKind, Notice};
use crate::ports::{Account, FactorCredential, FlowRecord, FlowUpdate, LoginPorts, OneTimeSecret, StoreError};
use crate::types::{AccountId, AccountState, new_id};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

const KIND: &str = FlowKind::Login.as_str();
/// Seal purpose of a challenge's state kept in a flow or on a device.
pub(super) const CHALLENGE_PURPOSE: &str = "factor-challenge";
/// A login flow waits this long for its second factor.
const FLOW_TTL: Duration = Duration::minutes(10);
/// MFA-7 counts consecutive failures, however far apart: its window never restarts (a success or
/// an unlock clears it).
const CONSECUTIVE: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;
const FAILURES: &str = "2fa-failures";
/// Flows and throttle counters deleted per janitor pass at most, each.
const PURGE_BATCH: u32 = 5_000;
/// How long a throttle counter stays without a new event (its waits are long over by then).
const COUNTER_IDLE: Duration = Duration::days(30);
pub(super) const UNLOCK_PURPOSE: &str = "2fa-unlock";
const UNLOCK_TTL: Duration = Duration::hours(24);
/// When an unlock link was last mailed, per lock (at most one a day).
const UNLOCK_MAILED: &str = "unlock-mailed";
/// What a session records when a backup code proved the second factor.
pub(super) const BACKUP_CODE_PROOF: &str = "backup_code";

/// The answer to a correct password when more is needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondStep {
    pub flow: Uuid,
    /// Empty when 2FA is on but none of the account's methods can be used here now (SMS no
    /// longer offered in its country, security keys switched off, no backup code left): the
    /// way on is then a lost-devices request (RECOVER-5).
    pub methods: Vec<Method>,
    /// The method shown first; `None` only when there is none.
    pub default: Option<Method>,
    /// The account being logged into, as the page names it: its masked email.
    pub account: String,
    /// Codes this login may still try before it must start again from the password.
    pub tries_left: i64,
    /// MFA-1: the phones SMS may text, the default first (empty when SMS is not offered).
    pub phones: Vec<PhoneChoice>,
}

/// What a correct first factor leads to.
#[derive(Debug)]
pub enum LoginOutcome {
    LoggedIn(Box<LoginSuccess>),
    SecondFactor(SecondStep),
    /// LOGIN-3: a code was mailed; the login ends with it.
    EmailCode(super::email_code::EmailStep),
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
    #[error("too many codes sent; wait before asking again")]
    SendThrottled { retry_after: Duration },
    #[error("this unlock link is wrong, used or expired")]
    InvalidUnlock,
    #[error("please confirm it is you: authenticate again")]
    ReauthRequired,
    #[error("no such device")]
    NotFound,
    #[error("the description must have 1 to 60 characters")]
    InvalidDescription,
    #[error("the phone number must be in international format, like +33612345678")]
    InvalidPhone,
    #[error("two-factor authentication is off")]
    NotEnabled,
    #[error("this method is not available here")]
    MethodUnavailable,
    #[error("removing this device needs a code or a touch from it, or a login with another device")]
    DeviceProofRequired,
    #[error(transparent)]
    Login(#[from] LoginError),
    #[error(transparent)]
    Mail(#[from] ComposeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<FactorError> for TwoFactorError {
    fn from(err: FactorError) -> Self {
        match err {
            FactorError::Unavailable => Self::MethodUnavailable,
            FactorError::InvalidInput(_) => Self::InvalidPhone,
            FactorError::InvalidProof => Self::InvalidCode,
            FactorError::Throttled { retry_after } => Self::SendThrottled { retry_after },
            FactorError::Store(e) => Self::Store(e),
        }
    }
}

impl From<FactorError> for LoginError {
    fn from(err: FactorError) -> Self {
        match err {
            FactorError::Store(e) => Self::Store(e),
            other => Self::Store(StoreError::Internal(other.to_string())),
        }
    }
}

/// How the customer reached the end of the first factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "entry", rename_all = "snake_case")]
pub(crate) enum Entry {
    /// A login with the password.
    Login,
    /// SESS-3: the password again, for this session.
    Reauth { session: Uuid },
    /// SIGNUP-1: a new account, its email just verified.
    Signup,
}

/// The steps still owed after the first factor. RISK-1's emailed code is the next to come.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ExtraStep {
    SecondFactor(Vec<Method>),
    /// LOGIN-3: without 2FA, an unusual login proves the mailbox.
    EmailCode,
}

/// Which step a login flow waits for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Step {
    #[default]
    SecondFactor,
    EmailCode,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct LoginFlowState {
    pub(super) account_id: Uuid,
    #[serde(flatten)]
    pub(super) entry: Entry,
    #[serde(default)]
    pub(super) step: Step,
    pub(super) methods: Vec<Method>,
    /// Sealed challenge state per method (WebAuthn request state, the phone texted).
    #[serde(default)]
    pub(super) challenges: BTreeMap<Method, String>,
}

pub(super) fn valid_description(input: &str) -> Result<String, TwoFactorError> {
    let d = input.trim();
    if d.is_empty() || input.chars().count() > 60 || input.chars().any(char::is_control) {
        return Err(TwoFactorError::InvalidDescription);
    }
    Ok(d.to_owned())
}

fn internal(err: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(err.to_string())
}

/// LOGIN-2: the method used last, or before any 2FA login the most recently enabled one other
/// than backup codes. SMS is never pre-selected unless it was used last (MFA-1).
fn default_method(account: &Account, methods: &[Method], credentials: &[FactorCredential]) -> Option<Method> {
    let last = account.last_second_factor.as_deref().and_then(Method::parse);
    if let Some(m) = last.filter(|m| methods.contains(m)) {
        return Some(m);
    }
    let mut enabled: Vec<_> = credentials.iter().filter(|c| c.enabled_at.is_some()).collect();
    enabled.sort_by_key(|c| c.enabled_at);
    let newest = enabled
        .iter()
        .rev()
        .filter_map(|c| Method::parse(&c.kind))
        .find(|m| methods.contains(m) && *m != Method::Sms);
    // MFA-1: SMS only when it was used last or nothing else is left.
    newest
        .or_else(|| methods.iter().copied().find(|m| *m != Method::Sms))
        .or_else(|| methods.first().copied())
}

/// MFA-7: a try counted against the account, to end with [`Login::end_try`].
pub(super) struct Try {
    consecutive: i64,
}

/// What `open_flow` finds: the flow, its state and its account.
pub(super) struct OpenFlow {
    pub(super) flow: FlowRecord,
    pub(super) state: LoginFlowState,
    pub(super) account: Account,
}

/// LOGIN-1/2, SESS-1..3, MFA-7: the password, the pipeline after it, the second step, sessions.
#[derive(Clone)]
pub struct Login {
    pub(super) base: Arc<Base>,
    pub(super) ports: Arc<dyn LoginPorts>,
    factors: Factors,
    pub(super) sessions: Arc<SessionCache>,
    /// RISK-2: which throttled tries were recorded lately (see `throttle_log`).
    pub(super) throttled: Arc<super::throttle_log::ThrottleLog>,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login").finish_non_exhaustive()
    }
}

impl Login {
    pub(super) fn new(base: Arc<Base>, ports: Arc<dyn LoginPorts>, factors: Factors) -> Self {
        let sessions = Arc::new(SessionCache::new(base.settings.session_cache_ttl));
        Self {
            base,
            ports,
            factors,
            sessions,
            throttled: Arc::new(super::throttle_log::ThrottleLog::new()),
        }
    }

    /// The one place that decides what a correct first factor still needs (LOGIN-2 today,
    /// RISK-1 next), then opens the session or starts the login flow.
    /// `recent_failures`: wrong passwords were tried on the account just before (RISK-1);
    /// `cleared`: the throttle counters a session opened here clears (RISK-2); `credentials`:
    /// the account's second-factor credentials when the caller read them just now.
    pub(crate) async fn conclude(
        &self,
        account: &Account,
        entry: Entry,
        client: &ClientInfo,
        recent_failures: bool,
        cleared: &Cleared,
        credentials: Option<Vec<FactorCredential>>,
    ) -> Result<LoginOutcome, LoginError> {
        let loaded = match credentials {
            Some(credentials) => self.factors.loaded(credentials),
            None => self.factors.load(account).await?,
        };
        let methods = self.factors.methods_among(account, &loaded).await?;
        let steps = self
            .extra_steps(account, entry, client, recent_failures, methods)
            .await?;
        match steps.into_iter().next() {
            Some(ExtraStep::SecondFactor(methods)) => Ok(LoginOutcome::SecondFactor(
                self.start_second_step(account, &loaded, methods, entry).await?,
            )),
            Some(ExtraStep::EmailCode) => Ok(LoginOutcome::EmailCode(
                self.start_email_step(account, entry, client).await?,
            )),
            None => Ok(LoginOutcome::LoggedIn(Box::new(
                self.complete_login(account.clone(), entry, None, client, cleared)
                    .await?,
            ))),
        }
    }

    /// LOGIN-2 first: with 2FA on, the second factor suffices. Without it, a login (not a
    /// re-authentication or a sign-up) may owe an emailed code (LOGIN-3, RISK-1).
    async fn extra_steps(
        &self,
        account: &Account,
        entry: Entry,
        client: &ClientInfo,
        recent_failures: bool,
        methods: Option<Vec<Method>>,
    ) -> Result<Vec<ExtraStep>, StoreError> {
        if let Some(methods) = methods {
            return Ok(vec![ExtraStep::SecondFactor(methods)]);
        }
        let code = entry == Entry::Login && self.email_code_owed(account, client, recent_failures).await?;
        Ok(if code { vec![ExtraStep::EmailCode] } else { Vec::new() })
    }

    /// Every step done: the session (a re-authentication replaces the old one).
    pub(super) async fn complete_login(
        &self,
        account: Account,
        entry: Entry,
        second_factor: Option<String>,
        client: &ClientInfo,
        cleared: &Cleared,
    ) -> Result<LoginSuccess, LoginError> {
        if let Entry::Reauth { session } = entry {
            let audit = AuditEvent::new(
                self.base.clock.now(),
                AuditKind::Reauthenticated,
                Actor::Customer,
                client,
            )
            .account(account.id)
            .opening_session(client);
            self.ports.end_session(session, self.base.clock.now(), &audit).await?;
        }
        let notify = entry == Entry::Login && account.login_notifications;
        self.open_session(account, client, notify, second_factor, cleared).await
    }

    /// LOGIN-2: after a correct password, a login flow with the methods fixed now.
    async fn start_second_step(
        &self,
        account: &Account,
        loaded: &Loaded,
        methods: Vec<Method>,
        entry: Entry,
    ) -> Result<SecondStep, StoreError> {
        let now = self.base.clock.now();
        let default = default_method(account, &methods, loaded.credentials());
        let phones = self.factors.phones(account, loaded, &methods);
        let state = LoginFlowState {
            account_id: account.id.0,
            entry,
            step: Step::SecondFactor,
            methods: methods.clone(),
            challenges: BTreeMap::new(),
        };
        let flow = FlowRecord {
            id: new_id(now),
            kind: KIND.into(),
            account_id: Some(account.id),
            state: serde_json::to_string(&state).map_err(internal)?,
            version: 0,
            attempts: 0,
            created_at: now,
            expires_at: now + FLOW_TTL,
            completed_at: None,
        };
        self.ports.create_flow(&flow, &[], &[]).await?;
        Ok(SecondStep {
            flow: flow.id,
            methods,
            default,
            account: super::contact::mask(account.email.address()),
            tries_left: self.base.settings.limits.flow_attempts,
            phones,
        })
    }

    pub(super) async fn open_login_flow(&self, flow_id: Uuid) -> Result<OpenFlow, TwoFactorError> {
        let flow = self
            .ports
            .find_flow(flow_id, KIND)
            .await?
            .ok_or(TwoFactorError::FlowNotFound)?;
        if self.base.clock.now() >= flow.expires_at {
            return Err(TwoFactorError::FlowNotFound);
        }
        let state: LoginFlowState = serde_json::from_str(&flow.state).map_err(internal)?;
        let account = self
            .ports
            .find_account(AccountId(state.account_id))
            .await?
            .filter(|a| a.state == AccountState::Active)
            .ok_or(TwoFactorError::FlowNotFound)?;
        Ok(OpenFlow { flow, state, account })
    }

    /// RECOVER-5: the account of a login waiting for its second factor (its password was right).
    pub(super) async fn second_step_account(&self, flow_id: Uuid) -> Result<Account, TwoFactorError> {
        let open = self.open_login_flow(flow_id).await?;
        if open.state.step != Step::SecondFactor {
            return Err(TwoFactorError::FlowNotFound);
        }
        Ok(open.account)
    }

    /// The methods and default of an open login flow (for the second-step page).
    pub async fn second_step(&self, flow_id: Uuid) -> Result<SecondStep, TwoFactorError> {
        let open = self.open_login_flow(flow_id).await?;
        let loaded = self.factors.load(&open.account).await?;
        let default = default_method(&open.account, &open.state.methods, loaded.credentials());
        let phones = self.factors.phones(&open.account, &loaded, &open.state.methods);
        Ok(SecondStep {
            flow: flow_id,
            methods: open.state.methods,
            default,
            account: super::contact::mask(open.account.email.address()),
            tries_left: (self.base.settings.limits.flow_attempts - open.flow.attempts).max(0),
            phones,
        })
    }

    /// LOGIN-2: what a method needs before its proof: WebAuthn request options, or a texted
    /// code. The challenge's state is sealed into the flow; a new challenge replaces the last.
    /// `device`: the one to use (MFA-1: the phone to text), the id of an enabled device of the
    /// method; absent or empty, the factor's own choice (the phone used last). Checked once the
    /// flow is known to be open, so an ended login says so whatever the device.
    pub async fn second_factor_challenge(
        &self,
        flow_id: Uuid,
        method: &str,
        device: Option<&str>,
    ) -> Result<Prompt, TwoFactorError> {
        let open = self.open_login_flow(flow_id).await?;
        let method = Method::parse(method)
            .filter(|m| open.state.methods.contains(m))
            .ok_or(TwoFactorError::MethodNotAllowed)?;
        let owned = self.factors.load(&open.account).await?;
        let ctx = self.factors.ctx(&open.account, &owned);
        let device = match device.map(str::trim) {
            None | Some("") => None,
            Some(id) => {
                let id = Uuid::parse_str(id).map_err(|_| TwoFactorError::NotFound)?;
                Some(
                    ctx.devices(method)
                        .find(|c| c.id == id)
                        .ok_or(TwoFactorError::NotFound)?,
                )
            }
        };
        let scope = Scope {
            id: flow_id,
            device,
            state: None,
        };
        let challenge = self.factors.get(method)?.challenge(&ctx, scope).await?;
        if let Some(state) = challenge.state {
            let mut flow_state = open.state;
            let sealed = self
                .base
                .key
                .seal(CHALLENGE_PURPOSE, state.as_bytes(), self.base.rng.as_ref())
                .map_err(internal)?;
            flow_state.challenges.insert(method, sealed);
            let json = serde_json::to_string(&flow_state).map_err(internal)?;
            let update = FlowUpdate {
                id: flow_id,
                expected_version: open.flow.version,
                state: &json,
                void_purpose: None,
                secrets: &[],
                mails: &[],
                now: owned.now(),
            };
            if !self.ports.update_flow(&update).await? {
                return Err(TwoFactorError::FlowNotFound);
            }
        }
        if matches!(challenge.prompt, Prompt::CodeSent { .. }) {
            self.base.sms_queued();
        }
        Ok(challenge.prompt)
    }

    /// MFA-7: refuses when the account is locked or must wait; otherwise counts this try before
    /// the proof is looked at. Counting first, in one statement, is what keeps a burst of
    /// parallel tries from passing the lock.
    pub(super) async fn begin_try(&self, account: &Account, now: OffsetDateTime) -> Result<Try, TwoFactorError> {
        let key = account.id.to_string();
        let (failures, last) = self.ports.count(FAILURES, &key, CONSECUTIVE).await?;
        let limits = &self.base.settings.limits;
        if failures >= limits.code_failures_to_lock {
            self.send_unlock_link(&key, Some(account), false, false, now).await?;
            return Err(TwoFactorError::AccountLocked);
        }
        let ready_at = last.map_or(now, |last| last + limits.code_failure_delay(failures));
        if now < ready_at {
            return Err(TwoFactorError::Throttled {
                retry_after: ready_at - now,
            });
        }
        let consecutive = if failures >= limits.code_failures_before_delay {
            // Each try now waits its delay: counted only on the count it was judged by, so
            // parallel tries that all read it get one through, not all (the rest wait a second).
            self.ports
                .hit_unchanged(FAILURES, &key, failures, now)
                .await?
                .ok_or(TwoFactorError::Throttled {
                    retry_after: crate::throttle::BURST_WAIT,
                })?
        } else {
            self.ports.hit(FAILURES, &key, CONSECUTIVE, now).await?
        };
        if consecutive > limits.code_failures_to_lock {
            return Err(TwoFactorError::AccountLocked);
        }
        Ok(Try { consecutive })
    }

    /// MFA-7: ends a try. A success clears the count (it counts consecutive failures); a failure
    /// stays counted, and the one that reaches the lock mails the unlock link.
    pub(super) async fn end_try(&self, account: &Account, done: Try, ok: bool) -> Result<(), TwoFactorError> {
        if ok {
            self.ports.reset(FAILURES, &account.id.to_string()).await?;
        } else if done.consecutive == self.base.settings.limits.code_failures_to_lock {
            let key = account.id.to_string();
            self.send_unlock_link(&key, Some(account), false, true, self.base.clock.now())
                .await?;
        }
        Ok(())
    }

    /// Checks a proof from one device (its removal), with the account's failure limits.
    pub(super) async fn check_device_proof(
        &self,
        account: &Account,
        device: &FactorCredential,
        state: Option<&str>,
        proof: &Proof,
    ) -> Result<(), TwoFactorError> {
        let now = self.base.clock.now();
        let method = Method::parse(&device.kind).ok_or(TwoFactorError::NotFound)?;
        let tried = self.begin_try(account, now).await?;
        let owned = self.factors.load(account).await?;
        let ctx = self.factors.ctx(account, &owned);
        let scope = Scope {
            id: device.id,
            device: Some(device),
            state,
        };
        let ok = matches!(
            self.factors.get(method)?.verify(&ctx, scope, proof).await?,
            FactorOutcome::Accepted(_)
        );
        self.end_try(account, tried, ok).await?;
        if ok { Ok(()) } else { Err(TwoFactorError::InvalidCode) }
    }

    /// LOGIN-2: the second step. Opens the session (or replaces it, for a re-authentication).
    pub async fn second_factor(
        &self,
        flow_id: Uuid,
        method: &str,
        proof: &Proof,
        client: &ClientInfo,
    ) -> Result<LoginSuccess, TwoFactorError> {
        let now = self.base.clock.now();
        let OpenFlow { state, account, .. } = self.open_login_flow(flow_id).await?;
        let method = Method::parse(method)
            .filter(|m| state.methods.contains(m))
            .ok_or(TwoFactorError::MethodNotAllowed)?;
        self.code_address_gate(client).await?;
        // The try is counted, for the account and the flow, before the proof is looked at.
        let tried = self.begin_try(&account, now).await?;
        let Some(attempt) = self
            .ports
            .count_flow_attempt(flow_id, self.base.settings.limits.flow_attempts)
            .await?
        else {
            self.end_try(&account, tried, false).await?;
            return Err(TwoFactorError::TooManyAttempts);
        };
        let challenge = match state.challenges.get(&method) {
            Some(sealed) => Some(self.base.key.open(CHALLENGE_PURPOSE, sealed).map_err(internal)?),
            None => None,
        };
        let challenge = challenge.as_deref().map(|b| String::from_utf8_lossy(b).into_owned());
        let owned = self.factors.load(&account).await?;
        let ctx = self.factors.ctx(&account, &owned);
        let scope = Scope {
            id: flow_id,
            device: None,
            state: challenge.as_deref(),
        };
        let outcome = self.factors.get(method)?.verify(&ctx, scope, proof).await?;
        let accepted = matches!(outcome, FactorOutcome::Accepted(_));
        self.code_address_settle(client, accepted).await?;
        let audit = |kind: AuditKind| AuditEvent::new(now, kind, Actor::Customer, client).account(account.id);
        match outcome {
            FactorOutcome::Accepted(device) => {
                if !self.ports.complete_flow(flow_id, now).await? {
                    return Err(TwoFactorError::FlowNotFound);
                }
                self.end_try(&account, tried, true).await?;
                if let Some(device) = device {
                    self.ports.touch_credential(device, now).await?;
                }
                self.ports.set_last_second_factor(account.id, method.as_str()).await?;
                // These events come with the session this response opens (AUDIT-1).
                let mut event = audit(AuditKind::SecondFactorSucceeded).opening_session(client);
                event.detail = Some(method.as_str().to_owned());
                self.ports.record(&event).await?;
                if method == Method::BackupCode {
                    let left = self.ports.backup_codes_left(account.id, now).await?;
                    self.notify(
                        &account,
                        Notice::BackupCodeUsed { left },
                        audit(AuditKind::BackupCodeUsed).opening_session(client),
                    )
                    .await?;
                }
                let proof = device.map_or_else(|| BACKUP_CODE_PROOF.to_owned(), |d| d.to_string());
                Ok(self
                    .complete_login(account, state.entry, Some(proof), client, &Cleared::default())
                    .await?)
            }
            FactorOutcome::Rejected | FactorOutcome::Replayed => {
                let consecutive = tried.consecutive;
                self.end_try(&account, tried, false).await?;
                if outcome == FactorOutcome::Replayed {
                    self.notify(
                        &account,
                        Notice::TotpReplayed,
                        audit(AuditKind::TotpReplayed).failed("replay"),
                    )
                    .await?;
                } else {
                    self.ports
                        .record(&audit(AuditKind::SecondFactorFailed).failed(method.as_str()))
                        .await?;
                }
                // MFA-7: the third wrong code in a row on the account (two a login over new
                // logins add up), and the third of a later login that follows three or more.
                if consecutive == 3 || (attempt == 3 && consecutive - attempt >= 3) {
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

    /// MFA-7, RISK-2: at a lock (of codes, or of passwords from unknown devices), the owner gets a
    /// single-use link that lifts both. Mailed whenever the lock is `reached` (a lock reached
    /// again after an unlock gets a new link), and when a try meets the lock, again if none went
    /// out in the last day (the first may have expired unseen); a refused try that finds one
    /// mailed today writes nothing. `subject`: the locked counter's key; for an identifier no
    /// account has, the same statements run and nothing is mailed, so a locked try takes as long
    /// either way.
    pub(super) async fn send_unlock_link(
        &self,
        subject: &str,
        account: Option<&Account>,
        passwords: bool,
        reached: bool,
        now: OffsetDateTime,
    ) -> Result<(), TwoFactorError> {
        let lock = format!("{}:{subject}", if passwords { "passwords" } else { "codes" });
        let due = if reached {
            self.ports.hit(UNLOCK_MAILED, &lock, now - UNLOCK_TTL, now).await?;
            true
        } else {
            let (_, last) = self.ports.count(UNLOCK_MAILED, &lock, CONSECUTIVE).await?;
            last.is_none_or(|last| now - last >= UNLOCK_TTL)
                && self
                    .ports
                    .hit_spaced(UNLOCK_MAILED, &lock, now - UNLOCK_TTL, now, 1, UNLOCK_TTL)
                    .await?
        };
        let Some(account) = account.filter(|_| due) else {
            return Ok(());
        };
        let token = crate::token::Token::generate(self.base.rng.as_ref());
        let secret = OneTimeSecret {
            id: new_id(now),
            purpose: UNLOCK_PURPOSE.into(),
            account_id: Some(account.id),
            flow_id: None,
            secret_hash: self.base.key.hmac(UNLOCK_PURPOSE, token.expose().as_bytes()),
            created_at: now,
            expires_at: now + UNLOCK_TTL,
        };
        self.ports.create_secret(&secret).await?;
        let url = format!("{}unlock?token={}", self.base.settings.public_url, token.expose());
        let mail = self
            .base
            .compose_for(account, MailKind::UnlockLink { url, passwords }, Some(now + UNLOCK_TTL))?;
        self.ports.queue_mail(&mail).await?;
        self.base.mail_queued();
        Ok(())
    }

    /// MFA-7: the unlock link lifts the per-account lock (once).
    pub async fn unlock_second_factor(&self, token: &str, client: &ClientInfo) -> Result<(), TwoFactorError> {
        let now = self.base.clock.now();
        let hashes = self.base.key.hmacs(UNLOCK_PURPOSE, token.trim().as_bytes());
        let secret = crate::factor::consume_any(self.ports.as_ref(), UNLOCK_PURPOSE, &hashes, now)
            .await?
            .ok_or(TwoFactorError::InvalidUnlock)?;
        let account = secret.account_id.ok_or(TwoFactorError::InvalidUnlock)?;
        self.ports.reset(FAILURES, &account.to_string()).await?;
        self.unlock_passwords(account).await?;
        let mut event = AuditEvent::new(now, AuditKind::TwoFactorChanged, Actor::Customer, client).account(account);
        event.detail = Some("unlocked".into());
        self.ports.record(&event).await?;
        Ok(())
    }

    /// SUPPORT-4: the failures counted against an account: consecutive second-factor failures
    /// (MFA-7) and password failures (RISK-2).
    pub(super) async fn lock_counts(&self, account: AccountId) -> Result<(i64, i64), StoreError> {
        let key = account.to_string();
        let ever = time::OffsetDateTime::UNIX_EPOCH;
        let (codes, _) = self.ports.count(FAILURES, &key, ever).await?;
        let (passwords, _) = self.ports.count(super::password_guard::ACCOUNT, &key, ever).await?;
        Ok((codes, passwords))
    }

    /// The janitor's step for what logins leave behind: flows a day after they expired, and
    /// throttle counters idle for 30 days (every source address of a password spray leaves one).
    /// The counters of failures in a row per account (RISK-2's password lock, MFA-7's) are kept
    /// however old: they count "however far apart", so forgetting them would give a patient
    /// attacker fresh tries every month; and an identifier no account has keeps its counter just
    /// as an account does (RISK-2: the two must not behave differently). A batch of each per
    /// call; returns how many of each went.
    pub async fn purge_stale(&self) -> Result<(u64, u64), StoreError> {
        let now = self.base.clock.now();
        let flows = self
            .ports
            .purge_expired_flows(now - Duration::days(1), PURGE_BATCH)
            .await?;
        let consecutive = [super::password_guard::ACCOUNT, FAILURES];
        let counters = self
            .ports
            .purge_idle_counters(now - COUNTER_IDLE, &consecutive, PURGE_BATCH)
            .await?;
        Ok((flows, counters))
    }

    /// SUPPORT-4: lifts both locks, as the owner's unlock link does.
    pub(super) async fn lift_locks(
        &self,
        account: AccountId,
        audit: &AuditEvent,
        mails: &[crate::mail::ComposedMail],
    ) -> Result<(), StoreError> {
        let key = account.to_string();
        let keys = [(FAILURES, key.as_str()), (super::password_guard::ACCOUNT, key.as_str())];
        self.ports.resets_recorded(&keys, audit, mails).await
    }

    /// Writes an audit event and queues the matching notice mail.
    pub(super) async fn notify(
        &self,
        account: &Account,
        notice: Notice,
        audit: AuditEvent,
    ) -> Result<(), TwoFactorError> {
        let mail = self.security_notice(account, notice, &audit).await?;
        self.ports.record(&audit).await?;
        self.ports.queue_mail(&mail).await?;
        self.base.mail_queued();
        Ok(())
    }

    /// SESS-3: a sensitive change needs an authentication within the last 10 minutes.
    pub fn require_fresh(&self, auth: &Authenticated) -> Result<(), TwoFactorError> {
        self.base.require_fresh(auth)
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
        let entry = Entry::Reauth {
            session: auth.session.id,
        };
        Ok(self
            .conclude(&account, entry, client, false, &Cleared::default(), None)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-26 09:00 UTC);

    fn device(kind: &str, enabled_minutes: Option<i64>) -> FactorCredential {
        FactorCredential {
            id: Uuid::new_v4(),
            account_id: AccountId(Uuid::nil()),
            kind: kind.into(),
            version: 0,
            data: String::new(),
            description: kind.into(),
            created_at: T0,
            enabled_at: enabled_minutes.map(|m| T0 + Duration::minutes(m)),
            last_used_at: None,
        }
    }

    #[test]
    fn the_default_method_is_the_one_used_last_else_the_newest_device_and_sms_only_when_nothing_else_is_left() {
        use Method::{BackupCode, SecurityKey, Sms, Totp};
        let mut account = crate::fixtures::account(1, T0);
        let creds = [
            device("security_key", Some(1)),
            device("totp", Some(2)),
            device("sms", Some(3)),
            device("totp", None),
        ];
        let all = [Totp, SecurityKey, Sms, BackupCode];
        assert_eq!(
            default_method(&account, &all, &creds),
            Some(Totp),
            "newest enabled, SMS passed over"
        );
        assert_eq!(
            default_method(&account, &[SecurityKey, Sms, BackupCode], &creds),
            Some(SecurityKey)
        );
        let phone_only = [device("sms", Some(3))];
        assert_eq!(
            default_method(&account, &[Sms, BackupCode], &phone_only),
            Some(BackupCode),
            "the only device is a phone never used to log in: still not pre-selected"
        );
        assert_eq!(
            default_method(&account, &[Sms], &phone_only),
            Some(Sms),
            "nothing else is left"
        );
        account.last_second_factor = Some("sms".into());
        assert_eq!(default_method(&account, &all, &creds), Some(Sms), "used last");
        account.last_second_factor = Some("totp".into());
        assert_eq!(
            default_method(&account, &[SecurityKey, Sms, BackupCode], &creds),
            Some(SecurityKey),
            "used last but not offered now"
        );
        assert_eq!(default_method(&account, &[], &creds), None, "nothing can be used");
    }
}
