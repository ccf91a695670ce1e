//! Password login and sessions (LOGIN-1, PWD-1, PWD-4, SESS-1, SESS-2, ACCT-5).
//!
//! Every failed login looks the same from outside: an unknown identifier is checked against a
//! dummy hash with the same settings, writes the same audit row and returns the same error as a
//! wrong password. Only after a correct password does a blocked account learn that it is blocked.

use super::ip_restriction::parse_rules;
use super::login_flow::{Entry, Login, LoginOutcome};
use super::password_guard::{Cleared, Subject, device_hash};
use crate::audit::{Actor, AuditEvent, AuditKind, ClientInfo};
use crate::factor::password::{HashError, Verification};
use crate::mail::MailKind;
use crate::ports::{Account, NewSession, PasswordCredential, SessionRecord, StoreError};
use crate::token::{Token, hash_token};
use crate::types::{AccountId, AccountState, Email, LoginIdentifier, Password, new_id};
use std::sync::Arc;
use time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// Unknown account, wrong password or closed account: one answer for all (LOGIN-1).
    #[error("the customer ID, email or password is incorrect")]
    InvalidCredentials,
    /// Only said after a correct password (ACCT-5).
    #[error("this account is blocked")]
    Blocked,
    #[error("the password is longer than allowed")]
    PasswordTooLong,
    /// RISK-3: the right password, from an address the account's IP restriction refuses.
    #[error("the account's IP restriction refuses this address")]
    IpDenied,
    /// RISK-2: too many wrong passwords; no password is checked before this long.
    #[error("too many attempts; wait before the next one")]
    Throttled { retry_after: time::Duration },
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Mail(#[from] crate::mail::ComposeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A readable device from a User-Agent, in no language (`Firefox 120 · Linux`), for notifications
/// and activity lists; empty when nothing is recognised (each page or mail then says "unknown"
/// in its own language).
pub fn device_description(user_agent: Option<&str>) -> String {
    let parser = woothee::parser::Parser::new();
    let Some(parsed) = user_agent.and_then(|ua| parser.parse(ua)) else {
        return String::new();
    };
    let browser = match (parsed.name, parsed.version) {
        ("UNKNOWN", _) => None,
        (name, "UNKNOWN" | "") => Some(name.to_owned()),
        (name, version) => Some(format!("{name} {}", version.split('.').next().unwrap_or(version))),
    };
    let os = (parsed.os != "UNKNOWN").then(|| parsed.os.to_owned());
    [browser, os].into_iter().flatten().collect::<Vec<_>>().join(" · ")
}

/// A new session; the token is shown to the client once, as a cookie.
#[derive(Debug)]
pub struct LoginSuccess {
    pub token: Token,
    pub session: SessionRecord,
    pub account: Account,
}

/// A request's valid session and its account.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub session: SessionRecord,
    pub account: Account,
    /// RECOVER-3: a backup email waiting for its code, as read with the session.
    pub pending_backup: Option<Email>,
}

/// How long the "not you?" link of a login notification works.
pub(super) const NOT_ME_TTL: Duration = Duration::days(7);
pub(super) const NOT_ME_PURPOSE: &str = "not-me";

/// `last_seen_at` is written at most this often, so a busy session costs no write per request;
/// the idle timeout is therefore exact to within this much.
const TOUCH_EVERY: Duration = Duration::minutes(1);

/// The audit event of a login refused before anyone proved who they are.
fn login_failed(now: time::OffsetDateTime, client: &ClientInfo, reason: &str) -> AuditEvent {
    AuditEvent::new(now, AuditKind::LoginFailed, Actor::Anonymous, client).failed(reason)
}

impl Login {
    /// Checks a NIC handle or email and a password, and opens a session. `subsidiary` is the one
    /// the page or request names (LOGIN-6): where it, or the account's own subsidiary, logs in by
    /// email only, a NIC handle matches no account, at full cost like any unknown identifier.
    pub async fn login(
        &self,
        identifier: &str,
        password: &str,
        subsidiary: Option<&str>,
        client: &ClientInfo,
    ) -> Result<LoginOutcome, LoginError> {
        let password = Password::new(password);
        if password.is_too_long() {
            return Err(LoginError::PasswordTooLong);
        }
        let by_email = identifier.contains('@');
        let email_only = |code: &str| {
            self.base
                .settings
                .email_only_subsidiaries
                .iter()
                .any(|s| s.eq_ignore_ascii_case(code))
        };
        let allowed = by_email || !subsidiary.is_some_and(email_only);
        let found = match LoginIdentifier::parse(identifier).filter(|_| allowed) {
            Some(id) => self.ports.find_login(id.as_str()).await?,
            None => None,
        };
        let (account, credential) = match found.filter(|(a, _)| by_email || !email_only(&a.subsidiary)) {
            Some((account, credential)) => (Some(account), credential),
            None => (None, None),
        };
        let now = self.base.clock.now();
        let failed = |reason: &str| login_failed(now, client, reason);
        // RISK-2: throttled before any hash; unknown identifiers exactly like known ones.
        let canonical = LoginIdentifier::parse(identifier).map_or_else(String::new, |id| id.as_str().to_owned());
        let subject = match &account {
            Some(account) => Subject::Account(account),
            None => Subject::Unknown(&canonical),
        };
        let tried = match self.begin_password_try(&subject, client).await {
            Ok(tried) => tried,
            Err(err) => {
                // At most once a minute per identifier and node: a flood of refused guesses
                // must not become a flood of rows.
                if self.throttled.record(&subject.key(), now) {
                    let event = match &account {
                        Some(account) => failed("throttled").account(account.id),
                        None => failed("throttled"),
                    };
                    self.ports.record(&event).await?;
                }
                return Err(err);
            }
        };
        let verification = self
            .base
            .hasher
            .verify(&password, credential.as_ref().map(|c| c.phc.as_str()))
            .await?;
        let right = verification == Verification::Match && credential.is_some();
        let failed_before = tried.failed_before;
        let cleared = self.end_password_try(tried, right, account.as_ref()).await?;
        let outcome = match (verification, account.as_ref(), credential) {
            (Verification::Match, Some(account), Some(credential)) => {
                self.after_password(account, &credential, &password, client, failed_before, &cleared)
                    .await
            }
            _ => {
                let event = match &account {
                    Some(account) => failed("wrong_password").account(account.id),
                    None => failed("unknown_account"),
                };
                self.ports.record(&event).await?;
                Err(LoginError::InvalidCredentials)
            }
        };
        // A session's batch cleared the counters; any other end of a right password clears them
        // now (RISK-2). Failing to only leaves the owner counted as before (it fails closed), so
        // the answer stays the login's own.
        if !matches!(outcome, Ok(LoginOutcome::LoggedIn(_)))
            && let Err(err) = self.clear_counters(&cleared).await
        {
            tracing::warn!(%err, "throttle counters not cleared after a right password");
        }
        outcome
    }

    /// What follows a right password: the account's state, a rehash when due (PWD-1), the IP
    /// restriction (RISK-3), then the pipeline (LOGIN-2). A session opened here clears `cleared`.
    async fn after_password(
        &self,
        account: &Account,
        credential: &PasswordCredential,
        password: &Password,
        client: &ClientInfo,
        failed_before: bool,
        cleared: &Cleared,
    ) -> Result<LoginOutcome, LoginError> {
        let now = self.base.clock.now();
        let failed = |reason: &str| login_failed(now, client, reason);
        match account.state {
            AccountState::Active => {}
            AccountState::Blocked => {
                self.ports.record(&failed("blocked").account(account.id)).await?;
                return Err(LoginError::Blocked);
            }
            AccountState::Closed => {
                self.ports.record(&failed("closed").account(account.id)).await?;
                return Err(LoginError::InvalidCredentials);
            }
        }
        if let Some(phc) = self.base.hasher.rehash_if_due(&credential.phc, password).await {
            self.ports.update_password_hash(credential.id, &phc, now).await?;
        }
        // RISK-3: the account's IP restriction, once the password proved who is asking; read
        // with the second-factor credentials LOGIN-2 needs next.
        let (rules, credentials) = self.ports.ip_rules_and_credentials(account.id).await?;
        self.check_ip(account, &parse_rules(rules)?, client).await?;
        // LOGIN-2: with 2FA on, the password alone never opens a session.
        self.conclude(account, Entry::Login, client, failed_before, cleared, Some(credentials))
            .await
    }

    /// Checks the logged-in customer's own password again (SESS-3), at full cost.
    pub(crate) async fn check_own_password(
        &self,
        account: &Account,
        password: &str,
        client: &ClientInfo,
    ) -> Result<Account, LoginError> {
        let password = Password::new(password);
        if password.is_too_long() {
            return Err(LoginError::PasswordTooLong);
        }
        let tried = self.begin_password_try(&Subject::Account(account), client).await?;
        let credential = self.ports.password_credential(account.id).await?;
        let verification = self
            .base
            .hasher
            .verify(&password, credential.as_ref().map(|c| c.phc.as_str()))
            .await?;
        let cleared = self
            .end_password_try(tried, verification == Verification::Match, Some(account))
            .await?;
        self.clear_counters(&cleared).await?;
        if verification != Verification::Match {
            let event = AuditEvent::new(self.base.clock.now(), AuditKind::LoginFailed, Actor::Customer, client)
                .account(account.id)
                .failed("reauth_wrong_password");
            self.ports.record(&event).await?;
            return Err(LoginError::InvalidCredentials);
        }
        Ok(account.clone())
    }

    /// Opens a session for an account that just proved who it is: a new token (SESS-1), the
    /// audit event and, when asked, the login notification (LOGIN-4), in one transaction.
    /// `second_factor` is what proved the second factor (a device id or `backup_code`);
    /// `cleared`, the throttle counters the password settled (RISK-2), cleared in the same batch.
    pub(crate) async fn open_session(
        &self,
        account: Account,
        client: &ClientInfo,
        notify: bool,
        second_factor: Option<String>,
        cleared: &Cleared,
    ) -> Result<LoginSuccess, LoginError> {
        let now = self.base.clock.now();
        let token = Token::generate(self.base.rng.as_ref());
        let session = SessionRecord {
            id: new_id(now),
            account_id: account.id,
            token_hash: token.hash(),
            created_at: now,
            last_seen_at: now,
            authenticated_at: now,
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
            ended_at: None,
            second_factor,
        };
        let audit = AuditEvent::new(now, AuditKind::LoginSucceeded, Actor::Customer, client)
            .account(account.id)
            .opening_session(client);
        let (mut mails, mut secrets) = (Vec::new(), Vec::new());
        if notify {
            let (secret, not_me_url) = self.not_me_secret(&account, now);
            secrets.push(secret);
            let kind = MailKind::LoginNotification {
                at: now,
                ip: client.ip.clone().unwrap_or_else(|| "-".into()),
                device: device_description(client.user_agent.as_deref()),
                not_me_url,
            };
            mails.push(self.base.compose_for(&account, kind, Some(now + NOT_ME_TTL))?);
        }
        // RISK-1/2: this browser becomes a known device of the account, its network a known one.
        let device_hash = client.device.as_deref().map(device_hash);
        let limits = &self.base.settings.limits;
        let network = client.ip.as_deref().map(|ip| crate::throttle::network_key(limits, ip));
        self.ports
            .create_session(NewSession {
                session: &session,
                audit: &audit,
                mails: &mails,
                secrets: &secrets,
                device_hash: device_hash.as_deref(),
                network: network.as_deref(),
                counters: &cleared.keys(),
            })
            .await?;
        if notify {
            self.base.mail_queued();
        }
        Ok(LoginSuccess {
            token,
            session,
            account,
        })
    }

    /// The single-use "not you?" link of a login notification (a 256-bit token, stored as an HMAC).
    pub(super) async fn not_me_link(&self, account: &Account, now: time::OffsetDateTime) -> Result<String, StoreError> {
        let (secret, url) = self.not_me_secret(account, now);
        self.ports.create_secret(&secret).await?;
        Ok(url)
    }

    /// A "not you?" link to store (with what it comes with) and its URL.
    fn not_me_secret(&self, account: &Account, now: time::OffsetDateTime) -> (crate::ports::OneTimeSecret, String) {
        let token = Token::generate(self.base.rng.as_ref());
        let secret = crate::ports::OneTimeSecret {
            id: new_id(now),
            purpose: NOT_ME_PURPOSE.into(),
            account_id: Some(account.id),
            flow_id: None,
            secret_hash: self.base.key.hmac(NOT_ME_PURPOSE, token.expose().as_bytes()),
            created_at: now,
            expires_at: now + NOT_ME_TTL,
        };
        let url = format!("{}not-me?token={}", self.base.settings.public_url, token.expose());
        (secret, url)
    }

    /// "Not you?": the link from a login notification ends every session of the account, without
    /// a login, once. Returns the account; `None` for a wrong, used or expired link.
    pub async fn not_me(&self, token: &str, client: &ClientInfo) -> Result<Option<AccountId>, StoreError> {
        let now = self.base.clock.now();
        let mut event = AuditEvent::new(now, AuditKind::SessionEnded, Actor::Customer, client);
        event.detail = Some("not_me".into());
        // The link is spent only together with the sessions it ends (one transaction).
        for hash in self.base.key.hmacs(NOT_ME_PURPOSE, token.trim().as_bytes()) {
            if let Some(account) = self
                .ports
                .consume_ending_sessions(NOT_ME_PURPOSE, &hash, now, &event)
                .await?
            {
                return Ok(Some(account));
            }
        }
        Ok(None)
    }

    /// The session a presented token opens, if it is live: not ended, not idle for longer than
    /// the idle timeout, not older than the absolute timeout, and its account still active.
    /// One indexed query, or none when this node checked the session within the last second
    /// (see `session_cache`).
    pub async fn authenticate(&self, token: &str) -> Result<Option<Arc<Authenticated>>, StoreError> {
        let hash = hash_token(token);
        let now = self.base.clock.now();
        let hit = self
            .sessions
            .get(&hash, now, |account| self.ports.account_generation(account));
        let (mut auth, read_at, generation, cached) = match hit {
            Some((auth, read_at, generation)) => (auth, read_at, Some(generation), true),
            None => {
                // The order matters (see `session_cache`): shared number, read, the account's
                // number, shared number again; kept only if nothing changed meanwhile.
                let before = self.ports.generation();
                let Some(live) = self.ports.find_live_session(&hash, now).await? else {
                    return Ok(None);
                };
                let generation = self.ports.account_generation(live.account.id);
                let quiet = self.ports.generation() == before;
                (
                    Arc::new(Authenticated {
                        session: live.session,
                        account: live.account,
                        pending_backup: live.pending_backup,
                    }),
                    now,
                    quiet.then_some(generation),
                    false,
                )
            }
        };
        let session = &auth.session;
        let expired = now >= session.last_seen_at + self.base.settings.session_idle
            || now >= session.created_at + self.base.settings.session_absolute;
        if expired {
            self.sessions.forget(&hash);
            let audit = AuditEvent::new(now, AuditKind::SessionExpired, Actor::Anonymous, &ClientInfo::default())
                .account(session.account_id);
            self.ports.end_session(session.id, now, &audit).await?;
            return Ok(None);
        }
        if auth.account.state != AccountState::Active {
            self.sessions.forget(&hash);
            return Ok(None);
        }
        let touch = now >= session.last_seen_at + TOUCH_EVERY;
        if touch {
            self.ports.touch_session(session.id, now).await?;
            Arc::make_mut(&mut auth).session.last_seen_at = now;
        }
        if let Some(generation) = generation.filter(|_| touch || !cached) {
            self.sessions.put(hash, Arc::clone(&auth), read_at, generation);
        }
        Ok(Some(auth))
    }

    /// Ends the session of this token on the server (SESS-2). Unknown tokens are ignored.
    pub async fn logout(&self, token: &str, client: &ClientInfo) -> Result<bool, StoreError> {
        let Some(session) = self.ports.find_session(&hash_token(token)).await? else {
            return Ok(false);
        };
        let now = self.base.clock.now();
        let audit = AuditEvent::new(now, AuditKind::Logout, Actor::Customer, client).account(session.account_id);
        self.ports.end_session(session.id, now, &audit).await
    }
}
