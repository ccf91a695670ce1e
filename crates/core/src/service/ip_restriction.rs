//! RISK-3 IP restriction around the login: after the right password, an address the account's
//! rules deny is refused with its own message (and, if the rule asks, the owner is mailed); saving
//! rules needs a fresh authentication (SESS-3) and can't shut out the address that saves them.

use super::login_flow::{Login, TwoFactorError};
use super::sessions::{Authenticated, LoginError};
use crate::audit::{Actor, AuditEvent, AuditKind, ClientInfo};
use crate::ip_rules::{Action, IpRules, IpRulesError};
use crate::mail::{ComposeError, Notice};
use crate::ports::{Account, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpRestrictionError {
    #[error(transparent)]
    Invalid(#[from] IpRulesError),
    #[error("these rules would refuse the address saving them")]
    WouldLockOut,
    #[error(transparent)]
    Fresh(#[from] TwoFactorError),
    #[error(transparent)]
    Mail(#[from] ComposeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Stored rules (a JSON document), or none: everything allowed.
pub(super) fn parse_rules(stored: Option<String>) -> Result<IpRules, StoreError> {
    match stored {
        Some(json) => serde_json::from_str(&json).map_err(|e| StoreError::Internal(e.to_string())),
        None => Ok(IpRules::default()),
    }
}

impl Login {
    /// The account's rules (no rules: everything allowed).
    pub async fn ip_rules(&self, account: &Account) -> Result<IpRules, StoreError> {
        parse_rules(self.ports.ip_rules(account.id).await?)
    }

    /// Saves the account's rules, unless they would refuse the client saving them.
    pub async fn set_ip_rules(
        &self,
        auth: &Authenticated,
        rules: IpRules,
        client: &ClientInfo,
    ) -> Result<IpRules, IpRestrictionError> {
        self.require_fresh(auth)?;
        let rules = rules.validated()?;
        if rules.decide(client.ip.as_deref()).action == Action::Deny {
            return Err(IpRestrictionError::WouldLockOut);
        }
        let json = serde_json::to_string(&rules).map_err(|e| StoreError::Internal(e.to_string()))?;
        let audit = AuditEvent::new(
            self.base.clock.now(),
            AuditKind::IpRulesChanged,
            Actor::Customer,
            client,
        )
        .account(auth.account.id);
        let mail = self
            .security_notice(&auth.account, Notice::IpRulesChanged, &audit)
            .await?;
        self.ports.set_ip_rules(auth.account.id, &json, &audit, &[mail]).await?;
        self.base.mail_queued();
        Ok(rules)
    }

    /// After the right password: refuses an address the rules deny, mailing the owner when the
    /// deciding rule asks for it (for an allowed address too).
    pub(super) async fn check_ip(
        &self,
        account: &Account,
        rules: &IpRules,
        client: &ClientInfo,
    ) -> Result<(), LoginError> {
        let decision = rules.decide(client.ip.as_deref());
        let denied = decision.action == Action::Deny;
        let event = AuditEvent::new(self.base.clock.now(), AuditKind::LoginFailed, Actor::Customer, client)
            .account(account.id)
            .failed("ip_denied");
        if decision.alert {
            let mail = self
                .security_notice(account, Notice::IpLoginAlert { denied }, &event)
                .await?;
            self.ports.queue_mail(&mail).await?;
            self.base.mail_queued();
        }
        if denied {
            self.ports.record(&event).await?;
            return Err(LoginError::IpDenied);
        }
        Ok(())
    }
}
