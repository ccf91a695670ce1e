//! AUDIT-1: the security events Sesame records. The log is append-only: the store offers no way
//! to change or delete an event. Events never carry a secret, and a failed login never records
//! what was typed as identifier (people type passwords there by mistake).

use crate::types::{AccountId, new_id};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    AccountCreated,
    AccountBlocked,
    AccountUnblocked,
    LoginSucceeded,
    LoginFailed,
    Logout,
    SessionExpired,
    NotificationsOn,
    NotificationsOff,
    SecondFactorSucceeded,
    SecondFactorFailed,
    TotpReplayed,
    BackupCodeUsed,
    Reauthenticated,
    TwoFactorChanged,
    /// SESS-4: the customer ended one of their sessions (or all the others).
    SessionEnded,
    /// RISK-2: the customer made Sesame forget a known device.
    DeviceForgotten,
    /// RISK-3: the IP restriction was saved.
    IpRulesChanged,
    /// RECOVER-2: the password was changed from the security page.
    PasswordChanged,
    /// RECOVER-1: the password was reset from an emailed link.
    PasswordReset,
    /// RECOVER-3: the backup email was set, removed or promoted (the detail says which).
    BackupEmailChanged,
    /// RECOVER-4: a change of the primary email was applied, scheduled or cancelled.
    EmailChanged,
    /// RECOVER-5: a lost-2FA request was submitted or confirmed.
    RecoveryRequested,
    /// SUPPORT-2..4: an action of the support desk on the account (the detail says which).
    SupportAction,
    /// ACCT-4: the customer changed their profile.
    ProfileChanged,
    /// SUPPORT-1: an agent was invited or disabled, logged in or was refused (the detail says
    /// which and who); no account.
    AgentAccess,
}

impl AuditKind {
    pub const ALL: [Self; 26] = [
        Self::AccountCreated,
        Self::AccountBlocked,
        Self::AccountUnblocked,
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::Logout,
        Self::SessionExpired,
        Self::NotificationsOn,
        Self::NotificationsOff,
        Self::SecondFactorSucceeded,
        Self::SecondFactorFailed,
        Self::TotpReplayed,
        Self::BackupCodeUsed,
        Self::Reauthenticated,
        Self::TwoFactorChanged,
        Self::SessionEnded,
        Self::DeviceForgotten,
        Self::IpRulesChanged,
        Self::PasswordChanged,
        Self::PasswordReset,
        Self::BackupEmailChanged,
        Self::EmailChanged,
        Self::RecoveryRequested,
        Self::SupportAction,
        Self::ProfileChanged,
        Self::AgentAccess,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccountCreated => "account_created",
            Self::AccountBlocked => "account_blocked",
            Self::AccountUnblocked => "account_unblocked",
            Self::LoginSucceeded => "login_succeeded",
            Self::LoginFailed => "login_failed",
            Self::Logout => "logout",
            Self::SessionExpired => "session_expired",
            Self::NotificationsOn => "login_notifications_on",
            Self::NotificationsOff => "login_notifications_off",
            Self::SecondFactorSucceeded => "second_factor_succeeded",
            Self::SecondFactorFailed => "second_factor_failed",
            Self::TotpReplayed => "totp_replayed",
            Self::BackupCodeUsed => "backup_code_used",
            Self::Reauthenticated => "reauthenticated",
            Self::TwoFactorChanged => "two_factor_changed",
            Self::SessionEnded => "session_ended",
            Self::DeviceForgotten => "device_forgotten",
            Self::IpRulesChanged => "ip_rules_changed",
            Self::PasswordChanged => "password_changed",
            Self::PasswordReset => "password_reset",
            Self::BackupEmailChanged => "backup_email_changed",
            Self::EmailChanged => "email_changed",
            Self::RecoveryRequested => "recovery_requested",
            Self::SupportAction => "support_action",
            Self::ProfileChanged => "profile_changed",
            Self::AgentAccess => "agent_access",
        }
    }
}

/// Who acted: the customer, an operator at the command line, or nobody known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Customer,
    Operator,
    Anonymous,
    /// SUPPORT-5: a support agent; the detail names them (JSON with `agent`, `reason`, `ticket`).
    Support,
}

impl Actor {
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Customer, Self::Operator, Self::Anonymous, Self::Support]
            .into_iter()
            .find(|a| a.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Operator => "operator",
            Self::Anonymous => "anonymous",
            Self::Support => "support",
        }
    }
}

/// Where a request came from, as far as the edge could tell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// RISK-2: the browser's device id (from its signed device cookie), if it has one.
    pub device: Option<String>,
    /// The device id was made for this response (the browser had no cookie): no account can
    /// know it yet, so it is not looked up.
    pub new_device: bool,
}

impl ClientInfo {
    /// The device id of the browser's own cookie; none for an id made for this response.
    pub fn presented_device(&self) -> Option<&str> {
        self.device.as_deref().filter(|_| !self.new_device)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: Uuid,
    pub at: OffsetDateTime,
    pub account_id: Option<AccountId>,
    pub actor: Actor,
    pub kind: AuditKind,
    pub success: bool,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The browser's device (RISK-2) as [`device_fingerprint`] gives it: never the id itself.
    pub device: Option<String>,
    /// A short machine-readable reason (`wrong_password`, `blocked`), never a secret.
    pub detail: Option<String>,
}

/// The stored form of a device id (RISK-2's known devices): its SHA-256.
pub(crate) fn device_hash(device: &str) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(device.as_bytes()).to_vec()
}

/// AUDIT-1: how an event names the browser it came from: [`device_hash`] in hex (the id with its
/// signature is the device cookie; the log keeps neither).
pub fn device_fingerprint(device: &str) -> String {
    hex::encode(device_hash(device))
}

impl AuditEvent {
    pub fn new(at: OffsetDateTime, kind: AuditKind, actor: Actor, client: &ClientInfo) -> Self {
        Self {
            id: new_id(at),
            at,
            account_id: None,
            actor,
            kind,
            success: true,
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
            // A device id made for this response names a browser only if the response sets its
            // cookie ([`Self::opening_session`]).
            device: client.presented_device().map(device_fingerprint),
            detail: None,
        }
    }

    /// The event of a response that opens a session, and so gives a browser without a device
    /// cookie the one made for it (RISK-2): that device is the event's.
    pub fn opening_session(mut self, client: &ClientInfo) -> Self {
        self.device = client.device.as_deref().map(device_fingerprint);
        self
    }

    pub fn account(mut self, id: AccountId) -> Self {
        self.account_id = Some(id);
        self
    }

    /// SUPPORT-5: the first name of the agent who acted, for the customer's activity.
    pub fn support_agent(&self) -> Option<String> {
        if self.actor != Actor::Support {
            return None;
        }
        let detail: serde_json::Value = serde_json::from_str(self.detail.as_deref()?).ok()?;
        detail["agent"].as_str().map(str::to_owned)
    }

    pub fn failed(mut self, reason: &str) -> Self {
        self.success = false;
        self.detail = Some(reason.to_owned());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn an_event_names_a_device_only_when_the_browser_holds_its_cookie() {
        let at = datetime!(2026-11-27 10:00 UTC);
        let fresh = ClientInfo {
            device: Some("made-for-this-response".into()),
            new_device: true,
            ..ClientInfo::default()
        };
        let event = AuditEvent::new(at, AuditKind::LoginFailed, Actor::Anonymous, &fresh);
        assert_eq!(event.device, None, "no browser holds that id unless a session opens");
        let opened = AuditEvent::new(at, AuditKind::LoginSucceeded, Actor::Customer, &fresh).opening_session(&fresh);
        assert_eq!(opened.device, Some(device_fingerprint("made-for-this-response")));
        let known = ClientInfo {
            new_device: false,
            ..fresh
        };
        let event = AuditEvent::new(at, AuditKind::Logout, Actor::Customer, &known);
        let fingerprint = event.device.unwrap();
        assert_eq!(fingerprint.len(), 64, "SHA-256 in hex");
        assert!(!fingerprint.contains("made-for-this-response"));
    }
}
