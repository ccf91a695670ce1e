//! The support desk's records (SUPPORT-1..5): agents (not customers), their sessions, and the port
//! that keeps them, with the desk's lookups and the two-person approval of lost-2FA requests.

use crate::audit::AuditEvent;
use crate::mail::ComposedMail;
use crate::ports::{Account, OneTimeSecret, StoreError};
use crate::recovery::RecoveryRequest;
use crate::types::{AccountId, Email};
use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

/// SUPPORT-1: what an agent may do. A supervisor confirms what an agent proposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentRole {
    Agent,
    Supervisor,
}

impl AgentRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Supervisor => "supervisor",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Agent, Self::Supervisor].into_iter().find(|r| r.as_str() == s)
    }
}

/// A support agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    pub id: Uuid,
    pub email: Email,
    pub name: String,
    pub role: AgentRole,
    /// Set when the invitation is used (PHC string).
    pub password_phc: Option<String>,
    /// The agent's security key (webauthn-rs JSON), required to log in.
    pub security_key: Option<String>,
    pub created_at: OffsetDateTime,
    pub enrolled_at: Option<OffsetDateTime>,
    pub disabled_at: Option<OffsetDateTime>,
}

impl Agent {
    /// The first word of the name: what customers see of the agent (SUPPORT-5).
    pub fn first_name(&self) -> &str {
        self.name.split_whitespace().next().unwrap_or("")
    }
}

/// An agent's session: only the token's hash is kept; 8 hours at most.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSession {
    pub id: Uuid,
    pub agent_id: Uuid,
    pub token_hash: Vec<u8>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// The last request seen (to the minute): 30 minutes idle end the session.
    pub last_seen_at: OffsetDateTime,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// SUPPORT-3: the approval of a lost-2FA request, once a supervisor confirms an agent's proposal:
/// 2FA off (devices and backup codes deleted), sessions ended, documents deleted.
#[derive(Debug, Clone)]
pub struct Approval<'a> {
    pub request: Uuid,
    pub account: AccountId,
    pub confirmed_by: Uuid,
    pub now: OffsetDateTime,
    pub audit: &'a AuditEvent,
    pub mails: &'a [ComposedMail],
}

#[async_trait]
pub trait SupportStore: Send + Sync {
    /// Stores a new agent with its invitation; [`StoreError::Conflict`] when the email is taken.
    async fn create_agent(&self, agent: &Agent, invitation: &OneTimeSecret) -> Result<(), StoreError>;
    async fn agent(&self, id: Uuid) -> Result<Option<Agent>, StoreError>;
    async fn agent_by_email(&self, canonical: &str) -> Result<Option<Agent>, StoreError>;
    async fn agents(&self) -> Result<Vec<Agent>, StoreError>;
    /// Uses an invitation: consumes its secret and sets the password and key, once.
    async fn enrol_agent(
        &self,
        id: Uuid,
        invitation: Uuid,
        password_phc: &str,
        security_key: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Replaces the stored key only if it still is `old` (its sign counter).
    async fn update_agent_key(&self, id: Uuid, old: &str, new: &str) -> Result<bool, StoreError>;
    /// Replaces the password hash only if it still is `old` (a rehash at login, PWD-1).
    async fn update_agent_password(&self, id: Uuid, old: &str, new: &str) -> Result<bool, StoreError>;
    /// Disables an agent and ends every session of theirs.
    async fn disable_agent(&self, id: Uuid, now: OffsetDateTime) -> Result<bool, StoreError>;
    async fn create_agent_session(&self, session: &AgentSession) -> Result<(), StoreError>;
    /// The live (not ended) session with this token hash.
    async fn agent_session(&self, token_hash: &[u8]) -> Result<Option<AgentSession>, StoreError>;
    async fn end_agent_session(&self, id: Uuid, now: OffsetDateTime) -> Result<(), StoreError>;
    /// Records a request on a live session (its last-seen time never moves back).
    async fn touch_agent_session(&self, id: Uuid, now: OffsetDateTime) -> Result<(), StoreError>;

    async fn account_by_customer_code(&self, code: &str) -> Result<Option<Account>, StoreError>;
    async fn accounts_by_backup_email(&self, canonical: &str) -> Result<Vec<Account>, StoreError>;
    /// Requests waiting for support, oldest first.
    async fn requests_to_review(&self, limit: u32) -> Result<Vec<RecoveryRequest>, StoreError>;
    /// An account's requests, newest first.
    async fn account_requests(&self, account: AccountId) -> Result<Vec<RecoveryRequest>, StoreError>;
    /// SUPPORT-3: an agent proposes approving a request waiting for review; false when it is not
    /// waiting or already proposed.
    async fn propose_approval(
        &self,
        request: Uuid,
        agent: Uuid,
        reason: &str,
        ticket: &str,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;
    /// SUPPORT-3: a supervisor other than the proposer confirms; false otherwise (nothing done).
    async fn approve_recovery(&self, approval: &Approval<'_>) -> Result<bool, StoreError>;
}
