//! Use cases: the only code that composes ports, factors and policies. `web` and the CLI call
//! these methods and render what comes back; nothing here knows HTTP or SQL.
//!
//! Services are split by capability (lldap's habit): [`Accounts`], [`Login`] (password, the
//! pipeline, the second step, sessions), [`Signup`] and [`Devices`], over a [`Factors`] registry.
//! Each holds only the narrow ports it needs (`AccountPorts`, `LoginPorts`, … in [`ports`]), so
//! a use case can't reach a table that is none of its business, and a test can drive a flow with
//! nothing but those ports. [`Services`] wires them and hands each out.
//!
//! [`ports`]: crate::ports

mod accounts;
mod activity;
mod contact;
mod desk;
mod devices;
mod email_code;
mod factors;
mod import;
mod ip_restriction;
mod login_flow;
mod lost_devices;
pub mod maintenance;
mod notice;
mod password_guard;
mod recovery;
mod session_cache;
mod sessions;
mod signup;
mod support;
mod throttle_log;

pub use accounts::{Accounts, CreateAccountError, NewAccountInput, ProfileError, ProfileInput, account_type_choice};
pub use activity::{DeviceView, SessionView};
pub use contact::{ContactView, EmailChangeOutcome, PendingPrimary, mask};
pub use desk::{AccountSummary, By, DocumentInfo, Justification, Verification};
pub use devices::{Device, DeviceStart, Devices, TwoFactorSummary};
pub use email_code::{EmailCodePolicy, EmailStep};
pub use factors::Factors;
pub use import::{ImportLine, ImportOutcome, PreparedImport};
pub use ip_restriction::IpRestrictionError;
pub use login_flow::{Login, LoginOutcome, SecondStep, TwoFactorError};
pub use lost_devices::{MAX_DOCUMENTS, RequestView, document_type};
pub use recovery::{Recovery, RecoveryError, RecoveryPorts};
pub use sessions::{Authenticated, LoginError, LoginSuccess, device_description};
pub use signup::{Signup, SignupError, SignupSettings, SignupStart, SignupStep, SignupView};
pub use support::{AGENT_SESSION, AgentAuth, Invitation, KeyCeremony, Support, SupportError, SupportPorts};

use crate::clock::Clock;
use crate::factor::password::PasswordHasher;
use crate::factor::{FactorSettings, security_key};
use crate::keys::ServerKey;
use crate::limits::Limits;
use crate::mail::{ComposeError, ComposedMail, MailComposer, MailKind, MailRequest};
use crate::ports::{Account, Health, Store};
use crate::random::Random;
use crate::types::PasswordPolicy;
use std::sync::Arc;
use time::Duration;

/// The one-time secrets mailed to the account's primary address (links and codes): they stop
/// working when that address stops being the account's (RECOVER-4, RECOVER-6), since whoever
/// holds the old mailbox may not be the owner.
pub const MAILED_SECRETS: [&str; 5] = [
    recovery::RESET_PURPOSE,
    sessions::NOT_ME_PURPOSE,
    login_flow::UNLOCK_PURPOSE,
    lost_devices::CONFIRM_PURPOSE,
    email_code::PURPOSE,
];

/// Settings the services need (each a setting in the configuration file).
#[derive(Debug, Clone)]
pub struct CoreSettings {
    /// ACCT-1: the NIC handle suffix, `ovh` by default.
    pub nic_suffix: String,
    /// ACCT-1: the digits of a new NIC handle, the fewest first (5 to 7 by default).
    pub nic_digits: std::ops::RangeInclusive<u32>,
    pub password_policy: PasswordPolicy,
    /// SESS-2: a session ends after this long without a request.
    pub session_idle: Duration,
    /// SESS-2: a session ends this long after login, whatever happens.
    pub session_absolute: Duration,
    /// How long a node trusts a session it checked without asking the database again; a session
    /// ended on another node stops working within this time (zero: ask every time).
    pub session_cache_ttl: Duration,
    pub signup: SignupSettings,
    /// The issuer authenticator apps show next to the customer ID.
    pub issuer: String,
    /// The public URL (with its trailing slash), the only base of links in mail (MAIL-1) and
    /// the WebAuthn relying party (MFA-3).
    pub public_url: String,
    /// MFA-4: the subsidiaries where SMS is offered.
    pub sms_subsidiaries: Vec<String>,
    /// LOGIN-6: subsidiaries whose customers log in by email only.
    pub email_only_subsidiaries: Vec<String>,
    /// LOGIN-3, RISK-1: when a login without 2FA must give an emailed code.
    pub login_email_code: EmailCodePolicy,
    /// RISK-2: wrong passwords from unknown devices, across the service, per minute; past it,
    /// unknown devices wait (known ones don't).
    pub global_failures_per_minute: i64,
    /// The numbers of the security rules (sessions, codes, locks, recovery).
    pub limits: Limits,
}

impl Default for CoreSettings {
    fn default() -> Self {
        Self {
            nic_suffix: "ovh".into(),
            nic_digits: 5..=7,
            password_policy: PasswordPolicy::default(),
            session_idle: Duration::minutes(30),
            session_absolute: Duration::hours(12),
            session_cache_ttl: Duration::seconds(1),
            signup: SignupSettings::default(),
            issuer: "Sesame".into(),
            public_url: "http://localhost:8080/".into(),
            sms_subsidiaries: ["FR", "GB", "DE", "ES", "IT", "PL", "PT", "IE", "NL", "LT", "CZ", "FI"]
                .map(String::from)
                .to_vec(),
            email_only_subsidiaries: Vec::new(),
            login_email_code: EmailCodePolicy::Unusual,
            global_failures_per_minute: 1000,
            limits: Limits::default(),
        }
    }
}

/// What every capability shares: time, randomness, the server key, settings, mail composition and
/// the workers' wake-up signals. No port.
pub(crate) struct Base {
    clock: Arc<dyn Clock>,
    rng: Arc<dyn Random>,
    hasher: Arc<PasswordHasher>,
    key: ServerKey,
    settings: CoreSettings,
    composer: Arc<dyn MailComposer>,
    mail_queued: Arc<tokio::sync::Notify>,
    sms_queued: Arc<tokio::sync::Notify>,
}

impl Base {
    /// SESS-3: a sensitive change needs an authentication within the last 10 minutes.
    fn require_fresh(&self, auth: &Authenticated) -> Result<(), TwoFactorError> {
        if self.clock.now() - auth.session.authenticated_at > self.settings.limits.fresh_auth {
            return Err(TwoFactorError::ReauthRequired);
        }
        Ok(())
    }

    fn mail_queued(&self) {
        self.mail_queued.notify_one();
    }

    fn sms_queued(&self) {
        self.sms_queued.notify_one();
    }

    /// Composes a mail about an account, to its stored address, in its language (MAIL-2).
    fn compose_for(
        &self,
        account: &Account,
        kind: MailKind,
        expires_at: Option<time::OffsetDateTime>,
    ) -> Result<ComposedMail, ComposeError> {
        let request = MailRequest {
            kind,
            to: account.email.address().to_owned(),
            language: account.language.clone(),
            subsidiary: account.subsidiary.clone(),
            account_id: Some(account.id),
            first_name: Some(account.first_name.clone()),
            nic_handle: Some(account.nic_handle.as_str().to_owned()),
            expires_at,
        };
        self.composer.compose(&request, self.clock.now())
    }
}

/// Every capability, wired over one store.
#[derive(Clone)]
pub struct Services {
    base: Arc<Base>,
    health: Arc<dyn Health>,
    accounts: Accounts,
    login: Login,
    signup: Signup,
    devices: Devices,
    recovery: Recovery,
    support: Support,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("settings", &self.base.settings)
            .finish_non_exhaustive()
    }
}

impl Services {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn Random>,
        hasher: Arc<PasswordHasher>,
        key: ServerKey,
        settings: CoreSettings,
        composer: Arc<dyn MailComposer>,
    ) -> Self {
        let webauthn = security_key::relying_party(&settings.public_url, &settings.issuer);
        if webauthn.is_none() {
            tracing::warn!(
                public_url = %settings.public_url,
                "security keys are off: WebAuthn needs a domain name in the public URL, not an IP address"
            );
        }
        let webauthn = webauthn.map(Arc::new);
        let factor_settings = FactorSettings {
            issuer: settings.issuer.clone(),
            webauthn: webauthn.clone(),
            sms_subsidiaries: settings.sms_subsidiaries.clone(),
            limits: settings.limits,
        };
        let base = Arc::new(Base {
            clock,
            rng,
            hasher,
            key,
            settings,
            composer,
            mail_queued: Arc::new(tokio::sync::Notify::new()),
            sms_queued: Arc::new(tokio::sync::Notify::new()),
        });
        let factors = Factors::new(Arc::clone(&base), store.clone(), factor_settings);
        let accounts = Accounts::new(Arc::clone(&base), store.clone());
        let login = Login::new(Arc::clone(&base), store.clone(), factors.clone());
        let signup = Signup::new(Arc::clone(&base), store.clone(), accounts.clone(), login.clone());
        let devices = Devices::new(Arc::clone(&base), store.clone(), factors, login.clone());
        let recovery = Recovery::new(Arc::clone(&base), store.clone(), login.clone());
        let support = Support::new(
            Arc::clone(&base),
            store.clone(),
            webauthn,
            recovery.clone(),
            devices.clone(),
            login.clone(),
        );
        Self {
            base,
            health: store,
            accounts,
            login,
            signup,
            devices,
            recovery,
            support,
        }
    }

    /// ACCT-1..5: creating, finding, blocking accounts; their settings.
    pub fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    /// LOGIN-1/2, SESS-1..3, MFA-7: the password, the pipeline after it, the second step, sessions.
    pub fn login(&self) -> &Login {
        &self.login
    }

    /// SIGNUP-1/2.
    pub fn signup(&self) -> &Signup {
        &self.signup
    }

    /// MFA-1..6: second-factor devices and backup codes.
    pub fn devices(&self) -> &Devices {
        &self.devices
    }

    /// RECOVER-1..6: password reset and change, backup email, email change, lost-2FA requests.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// SUPPORT-1..5: agents and what they do to accounts.
    pub fn support(&self) -> &Support {
        &self.support
    }

    /// Wakes this node's mail worker; other nodes find new mail when they poll.
    pub fn mail_signal(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.base.mail_queued)
    }

    /// Wakes this node's SMS worker (MFA-4); other nodes find new texts when they poll.
    pub fn sms_signal(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.base.sms_queued)
    }

    pub fn settings(&self) -> &CoreSettings {
        &self.base.settings
    }

    /// The server key (SEC-1), for HMACs at the edge (CSRF tokens).
    pub fn key(&self) -> &ServerKey {
        &self.base.key
    }

    pub fn hasher(&self) -> &PasswordHasher {
        &self.base.hasher
    }

    pub fn now(&self) -> time::OffsetDateTime {
        self.base.clock.now()
    }

    /// Whether the database answers (`/readyz`).
    pub async fn ready(&self) -> bool {
        self.health.ping().await.is_ok()
    }
}
