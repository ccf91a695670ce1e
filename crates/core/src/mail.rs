//! Mail as the engine sees it (MAIL-1, MAIL-2): a service asks for a [`MailRequest`]; the
//! [`MailComposer`] port (implemented by the `mail` crate) turns it into a [`ComposedMail`] with
//! subject, text and HTML in the customer's language; the store writes that to the outbox in the
//! same transaction as the change it reports; a worker delivers it later.

use crate::types::AccountId;
use time::OffsetDateTime;
use uuid::Uuid;

/// What a mail is about, with the values it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailKind {
    /// SIGNUP-1: the code that proves the address. Sensitive: cleared once sent or expired.
    SignupCode { code: String },
    /// SIGNUP-2: someone tried to sign up with an address that already has an account.
    SignupExists,
    /// SIGNUP-1: the account exists; carries the NIC handle.
    Welcome,
    /// LOGIN-4: a successful login, with when, where from and on what.
    LoginNotification {
        at: OffsetDateTime,
        ip: String,
        device: String,
        /// RISK-2 item "not you?": a single-use link that ends every session, without a login.
        not_me_url: String,
    },
    /// A security event the customer should know about (MFA-2, MFA-5, MFA-6, MFA-7), with who
    /// caused it when someone did (#15 item 9).
    SecurityNotice(Notice, Option<EventContext>),
    /// LOGIN-3: the code an unusual login must give; from where the login comes. Sensitive.
    LoginCode { code: String, ip: String, device: String },
    /// MFA-7 and RISK-2: codes (or, with `passwords`, passwords from new devices) are refused after
    /// 100 failures until this link is used. Sensitive.
    UnlockLink { url: String, passwords: bool },
    /// RECOVER-1, RECOVER-4, RECOVER-5: a single-use link. Sensitive.
    AccountLink { purpose: LinkPurpose, url: String },
    /// RECOVER-3, RECOVER-4: the code that proves an address. Sensitive.
    ContactCode { code: String, purpose: CodePurpose },
    /// SUPPORT-5: what the support desk did on the account, by whom (first name), and why when
    /// the customer must know (a refused request).
    SupportNotice {
        action: SupportAction,
        agent: String,
        reason: Option<String>,
    },
    /// SUPPORT-1: the invitation of a new agent. Sensitive.
    AgentInvitation { url: String },
}

/// When, from where and on what a change was made, and the "not you?" link that ends every
/// session without a login (RISK-2), for the notice that reports it (#15 item 9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventContext {
    pub at: OffsetDateTime,
    pub ip: Option<String>,
    /// Browser and system in no language (`Firefox 120 · Linux`); empty when unknown.
    pub device: String,
    pub not_me_url: String,
}

/// SUPPORT-2..4: the desk's actions a customer is told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SupportAction {
    Blocked,
    Unblocked,
    Unlocked,
    SessionsEnded,
    /// SUPPORT-3: a lost-2FA request was approved: 2FA is off.
    TwoFactorOff,
    /// SUPPORT-3: a lost-2FA request was refused.
    RequestRejected,
}

/// What an [`MailKind::AccountLink`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    /// RECOVER-1: choose a new password (1 hour).
    PasswordReset,
    /// RECOVER-4: the primary email changes at `applies_at` unless this link cancels it.
    EmailChangeCancel { applies_at: OffsetDateTime },
    /// RECOVER-5: confirm the lost-2FA request made in your name.
    RecoveryConfirm,
}

/// Which address an [`MailKind::ContactCode`] proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodePurpose {
    /// Sent to the address that would become the backup email.
    BackupEmail,
    /// Sent to the address that would become the primary email.
    NewPrimary,
    /// Sent to the current primary, which must agree to being replaced.
    CurrentPrimary,
}

/// The security events that reach the customer by email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// MFA-7: three wrong second-factor codes right after a correct password.
    PasswordUsed,
    /// MFA-2: a TOTP code was replayed.
    TotpReplayed,
    /// MFA-5: a backup code was used; `left` remain.
    BackupCodeUsed {
        left: i64,
    },
    TwoFactorEnabled,
    TwoFactorDisabled,
    /// MFA-6: a device of this method was added, removed or renamed.
    DeviceAdded(crate::factor::Method),
    DeviceRemoved(crate::factor::Method),
    DeviceRenamed(crate::factor::Method),
    BackupCodesRegenerated,
    /// RISK-3: the IP restriction was saved.
    IpRulesChanged,
    /// RISK-3: a login with the right password came from an address a rule with an alert
    /// decided; `denied` when the rule refused it.
    IpLoginAlert {
        denied: bool,
    },
    /// RECOVER-2: the password was changed from the security page.
    PasswordChanged,
    /// RECOVER-1: the password was reset from an emailed link; every session ended.
    PasswordReset,
    /// RECOVER-3: a backup email was proved and saved.
    BackupEmailAdded,
    BackupEmailRemoved,
    /// RECOVER-4: the primary email changed (sent to the old and the new address).
    PrimaryEmailChanged,
    /// RECOVER-4: a waiting change of the primary email was cancelled.
    EmailChangeCancelled,
    /// RECOVER-6: support made the backup email the primary (sent to both).
    BackupEmailPromoted,
    /// RECOVER-5: the lost-2FA request is confirmed and waits for support.
    RecoveryRequestReceived,
    /// RECOVER-5: a confirmed request expired before support decided; its documents are gone.
    RecoveryRequestExpired,
    /// LOGIN-4: login notifications were switched off (the last one they send).
    NotificationsOff,
}

impl Notice {
    /// The notice's message key in the mail catalogs.
    pub fn key(self) -> &'static str {
        match self {
            Self::PasswordUsed => "password_used",
            Self::TotpReplayed => "totp_replayed",
            Self::BackupCodeUsed { .. } => "backup_code_used",
            Self::TwoFactorEnabled => "two_factor_enabled",
            Self::TwoFactorDisabled => "two_factor_disabled",
            Self::DeviceAdded(_) => "device_added",
            Self::DeviceRemoved(_) => "device_removed",
            Self::DeviceRenamed(_) => "device_renamed",
            Self::BackupCodesRegenerated => "backup_codes_regenerated",
            Self::IpRulesChanged => "ip_rules_changed",
            Self::IpLoginAlert { .. } => "ip_login_alert",
            Self::PasswordChanged => "password_changed",
            Self::PasswordReset => "password_reset",
            Self::BackupEmailAdded => "backup_email_added",
            Self::BackupEmailRemoved => "backup_email_removed",
            Self::PrimaryEmailChanged => "primary_email_changed",
            Self::EmailChangeCancelled => "email_change_cancelled",
            Self::BackupEmailPromoted => "backup_email_promoted",
            Self::RecoveryRequestReceived => "recovery_request_received",
            Self::RecoveryRequestExpired => "recovery_request_expired",
            Self::NotificationsOff => "notifications_off",
        }
    }
}

impl MailKind {
    pub fn template(&self) -> &'static str {
        match self {
            Self::SignupCode { .. } => "signup_code",
            Self::LoginCode { .. } => "login_code",
            Self::SignupExists => "signup_exists",
            Self::Welcome => "welcome",
            Self::LoginNotification { .. } => "login_notification",
            Self::SecurityNotice(..)
            | Self::UnlockLink { .. }
            | Self::AccountLink { .. }
            | Self::SupportNotice { .. }
            | Self::AgentInvitation { .. } => "security_notice",
            Self::ContactCode { .. } => "contact_code",
        }
    }

    /// Whether the body holds a code or a link that must not outlive its use.
    pub fn sensitive(&self) -> bool {
        matches!(
            self,
            Self::SignupCode { .. }
                | Self::LoginCode { .. }
                | Self::UnlockLink { .. }
                | Self::LoginNotification { .. }
                | Self::AccountLink { .. }
                | Self::ContactCode { .. }
                | Self::AgentInvitation { .. }
                // A notice a customer's request caused carries a "not you?" link.
                | Self::SecurityNotice(_, Some(_))
        )
    }
}

/// A mail to compose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailRequest {
    pub kind: MailKind,
    /// The stored address (ACCT-3), never the address as typed at login.
    pub to: String,
    pub language: String,
    pub subsidiary: String,
    pub account_id: Option<AccountId>,
    pub first_name: Option<String>,
    pub nic_handle: Option<String>,
    /// After this the mail is pointless (an expired code): it is dropped instead of sent.
    pub expires_at: Option<OffsetDateTime>,
}

/// A composed mail, ready for the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposedMail {
    pub id: Uuid,
    /// Kept across retries, so a resend after a crash is recognisably the same message.
    pub message_id: String,
    pub recipient: String,
    pub template: String,
    pub language: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub sensitive: bool,
    pub account_id: Option<AccountId>,
    pub created_at: OffsetDateTime,
    pub expires_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComposeError {
    /// A value that reaches a header holds CR, LF or NUL, or the address is not one.
    #[error("a mail header value is unsafe: {0}")]
    UnsafeHeader(String),
    #[error("mail template failed: {0}")]
    Template(String),
}

/// Turns requests into mails (the `mail` crate renders the templates).
pub trait MailComposer: Send + Sync + std::fmt::Debug {
    fn compose(&self, request: &MailRequest, now: OffsetDateTime) -> Result<ComposedMail, ComposeError>;
}
/// How long something lasts, as a mail or a page says it (`1 hour`, `10 minutes`, `7 jours`):
/// in days, hours or minutes, whichever unit divides it, in the language (`fr`; else English).
/// The texts quote the settings this way, so they stay true when an operator changes them.
pub fn span(lang: &str, duration: time::Duration) -> String {
    let minutes = duration.whole_minutes().max(1);
    let fr = lang == "fr";
    let (n, one, many) = if minutes % (24 * 60) == 0 {
        (
            minutes / (24 * 60),
            if fr { "jour" } else { "day" },
            if fr { "jours" } else { "days" },
        )
    } else if minutes % 60 == 0 {
        (
            minutes / 60,
            if fr { "heure" } else { "hour" },
            if fr { "heures" } else { "hours" },
        )
    } else {
        (minutes, "minute", "minutes")
    };
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    #[test]
    fn spans_read_in_the_largest_unit_that_divides_them() {
        assert_eq!(span("en", Duration::hours(1)), "1 hour");
        assert_eq!(span("en", Duration::minutes(90)), "90 minutes");
        assert_eq!(span("en", Duration::hours(24)), "1 day");
        assert_eq!(span("fr", Duration::hours(48)), "2 jours");
        assert_eq!(span("fr", Duration::minutes(10)), "10 minutes");
        assert_eq!(span("fr", Duration::hours(3)), "3 heures");
        assert_eq!(span("de", Duration::days(7)), "7 days");
    }
}
