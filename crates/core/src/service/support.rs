//! The support desk's agents (SUPPORT-1): invitations, enrolment (password and security key),
//! login (email, password, then the key, always), sessions of 8 hours at most, disabling.
//! What agents do to customer accounts is in `desk.rs`.
//!
//! Agents are not customers: their own table, cookie (`Path=/support`) and sessions, so a
//! customer session never opens the console and an agent session never opens a customer page.
//! Their key uses webauthn-rs like customers' keys (user presence; the sign counter is checked
//! with a compare-and-swap on the stored key).

use super::Base;
use crate::audit::{Actor, AuditEvent, AuditKind, ClientInfo};
use crate::factor::password::{HashError, Verification};
use crate::flow::FlowKind;
use crate::mail::{ComposeError, MailKind, MailRequest};
use crate::ports::{AuditLog, FlowRecord, FlowStore, OutboxStore, SecretStore, StoreError, ThrottleStore, Unique};
use crate::recovery::RecoveryStore;
use crate::support::{Agent, AgentRole, AgentSession, SupportStore};
use crate::token::{Token, hash_token};
use crate::types::{Email, Password, new_id};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use time::Duration;
use uuid::Uuid;
use webauthn_rs::prelude::{
    PublicKeyCredential, RegisterPublicKeyCredential, SecurityKey, SecurityKeyAuthentication, SecurityKeyRegistration,
    Webauthn,
};

const INVITE_PURPOSE: &str = "agent-invite";
const INVITE_TTL: Duration = Duration::hours(72);
/// SUPPORT-1: an agent session ends 8 hours after login, whatever happens.
pub const AGENT_SESSION: Duration = Duration::hours(8);
/// SUPPORT-1, ASVS V3.3.2: an agent's session also ends after this long without a request.
pub const AGENT_IDLE: Duration = Duration::minutes(30);
/// A session's last-seen time is written at most this often.
const AGENT_TOUCH: Duration = Duration::minutes(1);
const CEREMONY_TTL: Duration = Duration::minutes(5);
const SEAL_PURPOSE: &str = "agent-ceremony";
/// Wrong passwords per agent email in a quarter of an hour before logins are refused (no hash).
const LOGIN_FAILURES: i64 = 10;
const LOGIN_WINDOW: Duration = Duration::minutes(15);
const LOGIN_SCOPE: &str = "agent-login";
/// Wrong agent passwords from one source address (any email) in the window before it waits: an
/// anonymous client can't spray the console with many emails.
const ADDRESS_FAILURES: i64 = 20;
const ADDRESS_SCOPE: &str = "agent-login-address";

/// What the desk needs from storage.
pub trait SupportPorts:
    SupportStore
    + RecoveryStore
    + crate::ports::AccountStore
    + crate::ports::SessionStore
    + FlowStore
    + SecretStore
    + ThrottleStore
    + AuditLog
    + OutboxStore
    + crate::ports::CredentialStore
{
}
impl<
    T: SupportStore
        + RecoveryStore
        + crate::ports::AccountStore
        + crate::ports::SessionStore
        + FlowStore
        + SecretStore
        + ThrottleStore
        + AuditLog
        + OutboxStore
        + crate::ports::CredentialStore
        + ?Sized,
> SupportPorts for T
{
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SupportError {
    #[error("this invitation is wrong, used or expired")]
    InvitationInvalid,
    #[error("the email, password or security key is wrong")]
    InvalidCredentials,
    #[error("security keys need a domain name in the public URL")]
    KeysUnavailable,
    #[error("an agent already has this email address")]
    EmailTaken,
    #[error("{0}")]
    Invalid(String),
    #[error("a reason and a ticket are required")]
    ReasonRequired,
    #[error("how the caller was verified is required")]
    VerificationRequired,
    #[error("only a supervisor may do this")]
    SupervisorOnly,
    #[error("the agent who proposed it can't confirm it")]
    SameAgent,
    #[error("there is nothing like that here")]
    NotFound,
    #[error("too many wrong passwords; wait before the next try")]
    Throttled,
    #[error("this can't be done in the request's current state")]
    WrongState,
    #[error("the account is blocked or closed: 2FA stays on until it is unblocked and the request reviewed again")]
    AccountNotActive,
    #[error(transparent)]
    Recovery(#[from] super::RecoveryError),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Mail(#[from] ComposeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn internal(err: impl std::fmt::Display) -> SupportError {
    SupportError::Store(StoreError::Internal(err.to_string()))
}

/// A new agent and the link that lets them in.
#[derive(Debug)]
pub struct Invitation {
    pub agent: Agent,
    pub url: String,
}

/// A WebAuthn ceremony the browser must answer: its flow and its options (JSON).
#[derive(Debug)]
pub struct KeyCeremony {
    pub flow: Uuid,
    pub options: serde_json::Value,
}

/// What a ceremony flow keeps between its two requests (sealed WebAuthn state included).
#[derive(Serialize, Deserialize)]
struct CeremonyState {
    agent: Uuid,
    /// Enrolment: the invitation's secret and the new password's hash.
    invitation: Option<Uuid>,
    phc: Option<String>,
    sealed: String,
}

/// A logged-in agent.
#[derive(Debug, Clone)]
pub struct AgentAuth {
    pub agent: Agent,
    pub session: AgentSession,
}

/// SUPPORT-1..5: the support desk.
#[derive(Clone)]
pub struct Support {
    pub(super) base: Arc<Base>,
    pub(super) ports: Arc<dyn SupportPorts>,
    webauthn: Option<Arc<Webauthn>>,
    pub(super) recovery: super::Recovery,
    pub(super) devices: super::Devices,
    pub(super) login: super::Login,
}

impl Support {
    pub(super) fn new(
        base: Arc<Base>,
        ports: Arc<dyn SupportPorts>,
        webauthn: Option<Arc<Webauthn>>,
        recovery: super::Recovery,
        devices: super::Devices,
        login: super::Login,
    ) -> Self {
        Self {
            base,
            ports,
            webauthn,
            recovery,
            devices,
            login,
        }
    }

    fn webauthn(&self) -> Result<&Webauthn, SupportError> {
        self.webauthn.as_deref().ok_or(SupportError::KeysUnavailable)
    }

    /// SUPPORT-1: creates an agent and its single-use invitation link (72 hours), also mailed.
    pub async fn invite(&self, email: &str, name: &str, role: AgentRole) -> Result<Invitation, SupportError> {
        let email = Email::parse(email).map_err(|e| SupportError::Invalid(e.to_string()))?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(SupportError::Invalid("the name must have 1 to 100 characters".into()));
        }
        let now = self.base.clock.now();
        let agent = Agent {
            id: new_id(now),
            email,
            name: name.to_owned(),
            role,
            password_phc: None,
            security_key: None,
            created_at: now,
            enrolled_at: None,
            disabled_at: None,
        };
        let token = Token::generate(self.base.rng.as_ref());
        let secret = crate::ports::OneTimeSecret {
            id: new_id(now),
            purpose: INVITE_PURPOSE.into(),
            account_id: None,
            flow_id: Some(agent.id),
            secret_hash: self.base.key.hmac(INVITE_PURPOSE, token.expose().as_bytes()),
            created_at: now,
            expires_at: now + INVITE_TTL,
        };
        match self.ports.create_agent(&agent, &secret).await {
            Err(StoreError::Conflict(Unique::Email | Unique::Other)) => return Err(SupportError::EmailTaken),
            other => other?,
        }
        let operator = ClientInfo::default();
        self.record_access("invited", Some(&agent), Actor::Operator, &operator, true)
            .await?;
        let url = format!("{}support/invite/{}", self.base.settings.public_url, token.expose());
        let request = MailRequest {
            kind: MailKind::AgentInvitation { url: url.clone() },
            to: agent.email.address().to_owned(),
            language: "en".into(),
            subsidiary: String::new(),
            account_id: None,
            first_name: Some(agent.first_name().to_owned()),
            nic_handle: None,
            expires_at: Some(now + INVITE_TTL),
        };
        let mail = self.base.composer.compose(&request, now)?;
        self.ports.queue_mail(&mail).await?;
        self.base.mail_queued();
        Ok(Invitation { agent, url })
    }

    /// The agent an invitation token names, if it still works.
    pub async fn invitation(&self, token: &str) -> Result<(Agent, Uuid), SupportError> {
        let now = self.base.clock.now();
        let hashes = self.base.key.hmacs(INVITE_PURPOSE, token.trim().as_bytes());
        let secret = self
            .ports
            .find_secret(INVITE_PURPOSE, &hashes, now)
            .await?
            .ok_or(SupportError::InvitationInvalid)?;
        let agent = match secret.flow_id {
            Some(id) => self.ports.agent(id).await?,
            None => None,
        }
        .filter(|a| a.enrolled_at.is_none() && a.disabled_at.is_none())
        .ok_or(SupportError::InvitationInvalid)?;
        Ok((agent, secret.id))
    }

    fn seal(&self, value: &impl Serialize) -> Result<String, SupportError> {
        let json = serde_json::to_vec(value).map_err(internal)?;
        self.base
            .key
            .seal(SEAL_PURPOSE, &json, self.base.rng.as_ref())
            .map_err(internal)
    }

    fn open<T: for<'de> Deserialize<'de>>(&self, sealed: &str) -> Result<T, SupportError> {
        let json = self
            .base
            .key
            .open(SEAL_PURPOSE, sealed)
            .map_err(|_| SupportError::InvalidCredentials)?;
        serde_json::from_slice(&json).map_err(internal)
    }

    /// Stores a ceremony's state in a short flow.
    async fn ceremony(&self, kind: FlowKind, state: &CeremonyState) -> Result<Uuid, SupportError> {
        let now = self.base.clock.now();
        let flow = FlowRecord {
            id: new_id(now),
            kind: kind.as_str().into(),
            account_id: None,
            state: serde_json::to_string(state).map_err(internal)?,
            version: 0,
            attempts: 0,
            created_at: now,
            expires_at: now + CEREMONY_TTL,
            completed_at: None,
        };
        self.ports.create_flow(&flow, &[], &[]).await?;
        Ok(flow.id)
    }

    /// Takes a ceremony's state: once, before it expires.
    async fn take_ceremony(&self, kind: FlowKind, flow: Uuid) -> Result<CeremonyState, SupportError> {
        let now = self.base.clock.now();
        let record = self
            .ports
            .find_flow(flow, kind.as_str())
            .await?
            .filter(|f| f.expires_at > now)
            .ok_or(SupportError::InvalidCredentials)?;
        if !self.ports.complete_flow(flow, now).await? {
            return Err(SupportError::InvalidCredentials);
        }
        serde_json::from_str(&record.state).map_err(internal)
    }

    /// SUPPORT-1: the invitation's first step: the password (PWD-2), then the key's options.
    pub async fn begin_enrolment(&self, token: &str, password: &str) -> Result<KeyCeremony, SupportError> {
        let (agent, invitation) = self.invitation(token).await?;
        let password = Password::new(password);
        let personal = [agent.name.as_str(), agent.email.local_part()];
        self.base
            .settings
            .password_policy
            // Agents belong to no subsidiary: the default policy.
            .check("", &password, &personal)
            .map_err(|e| SupportError::Invalid(e.to_string()))?;
        let phc = self.base.hasher.hash(&password).await?;
        let (options, state) = self
            .webauthn()?
            .start_securitykey_registration(agent.id, agent.email.address(), &agent.name, None, None, None)
            .map_err(internal)?;
        let state = CeremonyState {
            agent: agent.id,
            invitation: Some(invitation),
            phc: Some(phc),
            sealed: self.seal(&state)?,
        };
        let flow = self.ceremony(FlowKind::AgentEnrolment, &state).await?;
        Ok(KeyCeremony {
            flow,
            options: serde_json::to_value(options).map_err(internal)?,
        })
    }

    /// SUPPORT-1: the key's answer ends the enrolment; the invitation is used up.
    pub async fn finish_enrolment(&self, flow: Uuid, credential: &serde_json::Value) -> Result<Agent, SupportError> {
        let state = self.take_ceremony(FlowKind::AgentEnrolment, flow).await?;
        let registration: SecurityKeyRegistration = self.open(&state.sealed)?;
        let credential: RegisterPublicKeyCredential =
            serde_json::from_value(credential.clone()).map_err(|_| SupportError::InvalidCredentials)?;
        let key = self
            .webauthn()?
            .finish_securitykey_registration(&credential, &registration)
            .map_err(|err| {
                tracing::info!(%err, "agent key registration refused");
                SupportError::InvalidCredentials
            })?;
        let key = serde_json::to_string(&key).map_err(internal)?;
        let (Some(invitation), Some(phc)) = (state.invitation, state.phc) else {
            return Err(SupportError::InvitationInvalid);
        };
        let now = self.base.clock.now();
        if !self.ports.enrol_agent(state.agent, invitation, &phc, &key, now).await? {
            return Err(SupportError::InvitationInvalid);
        }
        self.ports.agent(state.agent).await?.ok_or(SupportError::NotFound)
    }

    /// SUPPORT-1: email and password first (an unknown email costs a dummy hash and gets the same
    /// answer), then the key's challenge. Wrong passwords are limited per email and per source
    /// address (`ip`), within a 15-minute window.
    pub async fn begin_login(
        &self,
        email: &str,
        password: &str,
        ip: Option<&str>,
    ) -> Result<KeyCeremony, SupportError> {
        let password = Password::new(password);
        if password.is_too_long() {
            return Err(SupportError::InvalidCredentials);
        }
        let canonical =
            crate::types::LoginIdentifier::parse(email).map_or_else(String::new, |id| id.as_str().to_owned());
        let now = self.base.clock.now();
        // Counted before the password is looked at, in one statement, so that a burst of parallel
        // guesses can't all pass a count none of them was in yet; a success clears it.
        let tried = self.ports.hit(LOGIN_SCOPE, &canonical, now - LOGIN_WINDOW, now).await?;
        if tried > LOGIN_FAILURES {
            return Err(SupportError::Throttled);
        }
        let address = ip.map(crate::throttle::address_key);
        if let Some(address) = &address {
            let (failures, _) = self.ports.count(ADDRESS_SCOPE, address, now - LOGIN_WINDOW).await?;
            if failures >= ADDRESS_FAILURES {
                return Err(SupportError::Throttled);
            }
        }
        let agent = match Email::parse(email) {
            Ok(email) => self.ports.agent_by_email(email.canonical()).await?,
            Err(_) => None,
        }
        .filter(|a| a.disabled_at.is_none());
        let phc = agent.as_ref().and_then(|a| a.password_phc.clone());
        let verified = self.base.hasher.verify(&password, phc.as_deref()).await?;
        let (Verification::Match, Some(agent), Some(phc)) = (verified, agent, phc) else {
            let client = ClientInfo {
                ip: ip.map(str::to_owned),
                ..ClientInfo::default()
            };
            self.record_access("login_failed", None, Actor::Anonymous, &client, false)
                .await?;
            if let Some(address) = &address {
                self.ports.hit(ADDRESS_SCOPE, address, now - LOGIN_WINDOW, now).await?;
            }
            return Err(SupportError::InvalidCredentials);
        };
        self.ports.reset(LOGIN_SCOPE, &canonical).await?;
        // PWD-1, as for customers.
        if let Some(new) = self.base.hasher.rehash_if_due(&phc, &password).await {
            self.ports.update_agent_password(agent.id, &phc, &new).await?;
        }
        let key: SecurityKey = agent
            .security_key
            .as_deref()
            .and_then(|k| serde_json::from_str(k).ok())
            .ok_or(SupportError::InvalidCredentials)?;
        let (options, state) = self
            .webauthn()?
            .start_securitykey_authentication(&[key])
            .map_err(internal)?;
        let state = CeremonyState {
            agent: agent.id,
            invitation: None,
            phc: None,
            sealed: self.seal(&state)?,
        };
        let flow = self.ceremony(FlowKind::AgentLogin, &state).await?;
        Ok(KeyCeremony {
            flow,
            options: serde_json::to_value(options).map_err(internal)?,
        })
    }

    /// AUDIT-1: an agent's access, with no account: `action` (`invited`, `disabled`, `login`,
    /// `login_failed`, `key_refused`), and who when known (never what was typed).
    async fn record_access(
        &self,
        action: &str,
        agent: Option<&Agent>,
        actor: Actor,
        client: &ClientInfo,
        success: bool,
    ) -> Result<(), StoreError> {
        let mut detail = serde_json::json!({ "action": action });
        if let Some(agent) = agent {
            detail["agent_id"] = agent.id.to_string().into();
            detail["role"] = agent.role.as_str().into();
        }
        let mut event = AuditEvent::new(self.base.clock.now(), AuditKind::AgentAccess, actor, client);
        event.success = success;
        event.detail = Some(detail.to_string());
        self.ports.record(&event).await
    }

    /// The agent whose key made this assertion, its sign counter moved on; `InvalidCredentials`
    /// for a wrong or replayed assertion, a disabled agent, or a key changed meanwhile.
    async fn key_holder(&self, state: &CeremonyState, credential: &serde_json::Value) -> Result<Agent, SupportError> {
        let authentication: SecurityKeyAuthentication = self.open(&state.sealed)?;
        let credential: PublicKeyCredential =
            serde_json::from_value(credential.clone()).map_err(|_| SupportError::InvalidCredentials)?;
        let result = self
            .webauthn()?
            .finish_securitykey_authentication(&credential, &authentication)
            .map_err(|err| {
                tracing::info!(%err, "agent key assertion refused");
                SupportError::InvalidCredentials
            })?;
        let agent = self
            .ports
            .agent(state.agent)
            .await?
            .filter(|a| a.disabled_at.is_none())
            .ok_or(SupportError::InvalidCredentials)?;
        let stored = agent.security_key.clone().ok_or(SupportError::InvalidCredentials)?;
        let mut key: SecurityKey = serde_json::from_str(&stored).map_err(internal)?;
        key.update_credential(&result);
        let updated = serde_json::to_string(&key).map_err(internal)?;
        if !self.ports.update_agent_key(agent.id, &stored, &updated).await? {
            return Err(SupportError::InvalidCredentials);
        }
        Ok(agent)
    }

    /// SUPPORT-1: the key's assertion opens an agent session (8 hours).
    pub async fn finish_login(
        &self,
        flow: Uuid,
        credential: &serde_json::Value,
        client: &ClientInfo,
    ) -> Result<(Token, AgentAuth), SupportError> {
        let state = self.take_ceremony(FlowKind::AgentLogin, flow).await?;
        let agent = match self.key_holder(&state, credential).await {
            Ok(agent) => agent,
            Err(SupportError::InvalidCredentials) => {
                // AUDIT-1: the password was right and the key (or the agent) was not, on record
                // like a wrong password.
                let agent = self.ports.agent(state.agent).await?;
                self.record_access("key_refused", agent.as_ref(), Actor::Anonymous, client, false)
                    .await?;
                return Err(SupportError::InvalidCredentials);
            }
            Err(other) => return Err(other),
        };
        let now = self.base.clock.now();
        let token = Token::generate(self.base.rng.as_ref());
        let session = AgentSession {
            id: new_id(now),
            agent_id: agent.id,
            token_hash: token.hash(),
            created_at: now,
            expires_at: now + AGENT_SESSION,
            last_seen_at: now,
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
        };
        self.ports.create_agent_session(&session).await?;
        self.record_access("login", Some(&agent), Actor::Support, client, true)
            .await?;
        Ok((token, AgentAuth { agent, session }))
    }

    /// The agent behind a presented token: a live session, not past its 8 hours nor idle for 30
    /// minutes, of an agent not disabled.
    pub async fn authenticate(&self, token: &str) -> Result<Option<AgentAuth>, StoreError> {
        let Some(session) = self.ports.agent_session(&hash_token(token)).await? else {
            return Ok(None);
        };
        let now = self.base.clock.now();
        if now >= session.expires_at || now - session.last_seen_at >= AGENT_IDLE {
            return Ok(None);
        }
        if now - session.last_seen_at >= AGENT_TOUCH {
            self.ports.touch_agent_session(session.id, now).await?;
        }
        let agent = self.ports.agent(session.agent_id).await?;
        Ok(agent
            .filter(|a| a.disabled_at.is_none())
            .map(|agent| AgentAuth { agent, session }))
    }

    pub async fn logout(&self, auth: &AgentAuth) -> Result<(), StoreError> {
        self.ports
            .end_agent_session(auth.session.id, self.base.clock.now())
            .await
    }

    pub async fn agents(&self) -> Result<Vec<Agent>, StoreError> {
        self.ports.agents().await
    }

    /// SUPPORT-1: disables an agent; their sessions end at once.
    pub async fn disable(&self, email: &str) -> Result<Agent, SupportError> {
        let email = Email::parse(email).map_err(|e| SupportError::Invalid(e.to_string()))?;
        let agent = self
            .ports
            .agent_by_email(email.canonical())
            .await?
            .ok_or(SupportError::NotFound)?;
        self.ports.disable_agent(agent.id, self.base.clock.now()).await?;
        self.record_access("disabled", Some(&agent), Actor::Operator, &ClientInfo::default(), true)
            .await?;
        Ok(agent)
    }
}
