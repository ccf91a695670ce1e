//! LOGIN-3, RISK-1: without 2FA, an unusual login proves the mailbox before any session exists.
//!
//! Unusual means at least two of: a browser that never logged in to the account (no known device
//! cookie), a network (`/24`, `/48` by default) the account has not logged in from in 90 days, and wrong
//! passwords tried on it just before. `risk.login_email_code` may also ask `always` or `never`.
//! The code: 6 digits mailed to the primary address, an HMAC bound to the login flow, 10 minutes,
//! single use, 5 tries per flow; a new one (one per 30 s, 5 an hour) voids the older.

use super::Services;
use super::contact::mask;
use super::login_flow::{Entry, Login, LoginFlowState, OpenFlow, Step, TwoFactorError};
use super::password_guard::{Cleared, device_hash};
use super::sessions::{LoginError, LoginSuccess, device_description};
use crate::audit::ClientInfo;
use crate::flow::FlowKind;
use crate::mail::MailKind;
use crate::ports::{Account, FlowRecord, FlowUpdate, OneTimeSecret, StoreError};
use crate::throttle::{network_key, take_code_send};
use crate::types::new_id;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::Duration;
use uuid::Uuid;

pub(super) const PURPOSE: &str = "login-email-code";
const CODE_TTL: Duration = Duration::minutes(10);
const ATTEMPTS: i64 = 5;
const SENT: &str = "login-code-sent";

/// `risk.login_email_code`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailCodePolicy {
    /// When the login is unusual (the default).
    #[default]
    Unusual,
    Always,
    Never,
}

/// The answer to a correct password when the mailbox must be proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailStep {
    pub flow: Uuid,
    /// Where the code went, masked (`j•••@example.com`).
    pub sent_to: String,
}

impl Login {
    /// Whether this login owes the emailed code.
    pub(super) async fn email_code_owed(
        &self,
        account: &Account,
        client: &ClientInfo,
        recent_failures: bool,
    ) -> Result<bool, StoreError> {
        match self.base.settings.login_email_code {
            EmailCodePolicy::Never => return Ok(false),
            EmailCodePolicy::Always => return Ok(true),
            EmailCodePolicy::Unusual => {}
        }
        let known_device = match client.presented_device() {
            Some(device) => self.ports.is_known_device(account.id, &device_hash(device)).await?,
            _ => false,
        };
        let since = self.base.clock.now() - self.base.settings.limits.network_memory;
        let known_network = match client.ip.as_deref() {
            Some(ip) => {
                self.ports
                    .network_seen_since(account.id, &network_key(&self.base.settings.limits, ip), since)
                    .await?
            }
            None => false,
        };
        let signals = [!known_device, !known_network, recent_failures];
        Ok(signals.into_iter().filter(|s| *s).count() >= 2)
    }

    /// A code and its mail, bound to `flow`.
    fn new_code(
        &self,
        account: &Account,
        flow: Uuid,
        client: &ClientInfo,
    ) -> Result<(OneTimeSecret, crate::mail::ComposedMail), LoginError> {
        let now = self.base.clock.now();
        let code = format!("{:06}", self.base.rng.below(1_000_000));
        let secret = OneTimeSecret {
            id: new_id(now),
            purpose: PURPOSE.into(),
            account_id: Some(account.id),
            flow_id: Some(flow),
            secret_hash: self.base.key.hmac(PURPOSE, format!("{flow}:{code}").as_bytes()),
            created_at: now,
            expires_at: now + CODE_TTL,
        };
        let kind = MailKind::LoginCode {
            code,
            ip: client.ip.clone().unwrap_or_else(|| "-".into()),
            device: device_description(client.user_agent.as_deref()),
        };
        let mail = self.base.compose_for(account, kind, Some(now + CODE_TTL))?;
        Ok((secret, mail))
    }

    /// MFA-4's limits for texts, for mails too: one per 30 s, 5 an hour, per account.
    async fn code_limit(&self, account: &Account) -> Result<(), TwoFactorError> {
        let now = self.base.clock.now();
        let key = account.id.to_string();
        match take_code_send(self.ports.as_ref(), &self.base.settings.limits, SENT, &key, now).await? {
            Some(retry_after) => Err(TwoFactorError::SendThrottled { retry_after }),
            None => Ok(()),
        }
    }

    /// Starts the flow and mails its code, in one transaction.
    pub(super) async fn start_email_step(
        &self,
        account: &Account,
        entry: Entry,
        client: &ClientInfo,
    ) -> Result<EmailStep, LoginError> {
        let now = self.base.clock.now();
        self.code_limit(account).await.map_err(|_| LoginError::Throttled {
            retry_after: Duration::seconds(30),
        })?;
        let state = LoginFlowState {
            account_id: account.id.0,
            entry,
            step: Step::EmailCode,
            methods: Vec::new(),
            challenges: BTreeMap::new(),
        };
        let flow = FlowRecord {
            id: new_id(now),
            kind: FlowKind::Login.as_str().into(),
            account_id: Some(account.id),
            state: serde_json::to_string(&state).map_err(|e| StoreError::Internal(e.to_string()))?,
            version: 0,
            attempts: 0,
            created_at: now,
            expires_at: now + CODE_TTL,
            completed_at: None,
        };
        let (secret, mail) = self.new_code(account, flow.id, client)?;
        self.ports.create_flow(&flow, &[secret], &[mail]).await?;
        self.base.mail_queued();
        Ok(EmailStep {
            flow: flow.id,
            sent_to: mask(account.email.address()),
        })
    }

    async fn email_flow(&self, flow: Uuid) -> Result<OpenFlow, TwoFactorError> {
        let open = self.open_login_flow(flow).await?;
        if open.state.step != Step::EmailCode {
            return Err(TwoFactorError::FlowNotFound);
        }
        Ok(open)
    }

    /// Where an open email-code step sent its code (for its page).
    pub async fn email_step(&self, flow: Uuid) -> Result<EmailStep, TwoFactorError> {
        let open = self.email_flow(flow).await?;
        Ok(EmailStep {
            flow,
            sent_to: mask(open.account.email.address()),
        })
    }

    /// LOGIN-3: the mailed code ends the login.
    pub async fn email_code(
        &self,
        flow: Uuid,
        code: &str,
        client: &ClientInfo,
    ) -> Result<LoginSuccess, TwoFactorError> {
        let OpenFlow { state, account, .. } = self.email_flow(flow).await?;
        self.code_address_gate(client).await?;
        // The try is counted before the code is looked at.
        if self.ports.count_flow_attempt(flow, ATTEMPTS).await?.is_none() {
            return Err(TwoFactorError::TooManyAttempts);
        }
        let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        let now = self.base.clock.now();
        let hashes = self.base.key.hmacs(PURPOSE, format!("{flow}:{digits}").as_bytes());
        let right = crate::factor::consume_any(self.ports.as_ref(), PURPOSE, &hashes, now)
            .await?
            .is_some();
        self.code_address_settle(client, right).await?;
        if !right {
            return Err(TwoFactorError::InvalidCode);
        }
        if !self.ports.complete_flow(flow, now).await? {
            return Err(TwoFactorError::FlowNotFound);
        }
        Ok(self
            .complete_login(account, state.entry, None, client, &Cleared::default())
            .await?)
    }

    /// LOGIN-3: a new code for the same login (the older stops working).
    pub async fn email_code_resend(&self, flow: Uuid, client: &ClientInfo) -> Result<EmailStep, TwoFactorError> {
        let OpenFlow {
            flow: record, account, ..
        } = self.email_flow(flow).await?;
        self.code_limit(&account).await?;
        let (secret, mail) = self.new_code(&account, flow, client)?;
        let update = FlowUpdate {
            id: flow,
            expected_version: record.version,
            state: &record.state,
            void_purpose: Some(PURPOSE),
            secrets: &[secret],
            mails: &[mail],
            now: self.base.clock.now(),
        };
        if !self.ports.update_flow(&update).await? {
            return Err(TwoFactorError::FlowNotFound);
        }
        self.base.mail_queued();
        Ok(EmailStep {
            flow,
            sent_to: mask(account.email.address()),
        })
    }
}

impl Services {
    /// The email-code policy in force.
    pub fn email_code_policy(&self) -> EmailCodePolicy {
        self.settings().login_email_code
    }
}
