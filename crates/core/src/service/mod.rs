//! Use cases: the only code that composes ports, factors and policies. `web` and the CLI call
//! these methods and render what comes back; nothing here knows HTTP or SQL.

mod accounts;
mod devices;
mod login_flow;
mod sessions;
mod signup;

pub use accounts::{CreateAccountError, NewAccountInput, ProfileInput};
pub use devices::{Device, DeviceStart, TwoFactorSummary};
pub use login_flow::{FRESH_AUTH, LoginOutcome, SecondStep, TwoFactorError, failure_delay};
pub use sessions::{Authenticated, LoginError, LoginSuccess};
pub use signup::{SignupError, SignupSettings, SignupStart, SignupStep};

use crate::clock::Clock;
use crate::factor::password::PasswordHasher;
use crate::factor::{FactorSettings, SecondFactor, registry, security_key};
use crate::keys::ServerKey;
use crate::mail::{ComposeError, ComposedMail, MailComposer, MailKind, MailRequest};
use crate::ports::Account;
use crate::ports::Store;
use crate::random::Random;
use crate::types::PasswordPolicy;
use std::sync::Arc;
use time::Duration;

/// Settings the services need (each a setting in the configuration file).
#[derive(Debug, Clone)]
pub struct CoreSettings {
    /// ACCT-1: the NIC handle suffix, `ovh` by default.
    pub nic_suffix: String,
    pub password_policy: PasswordPolicy,
    /// SESS-2: a session ends after this long without a request.
    pub session_idle: Duration,
    /// SESS-2: a session ends this long after login, whatever happens.
    pub session_absolute: Duration,
    pub signup: SignupSettings,
    /// The issuer authenticator apps show next to the customer ID.
    pub issuer: String,
    /// The public URL (with its trailing slash), the only base of links in mail (MAIL-1) and
    /// the WebAuthn relying party (MFA-3).
    pub public_url: String,
    /// MFA-4: the subsidiaries where SMS is offered.
    pub sms_subsidiaries: Vec<String>,
}

impl Default for CoreSettings {
    fn default() -> Self {
        Self {
            nic_suffix: "ovh".into(),
            password_policy: PasswordPolicy::default(),
            session_idle: Duration::minutes(30),
            session_absolute: Duration::hours(12),
            signup: SignupSettings::default(),
            issuer: "Sesame".into(),
            public_url: "http://localhost:8080/".into(),
            sms_subsidiaries: [
                "FR", "GB", "DE", "ES", "IT", "NL", "PL", "PT", "IE", "BE", "CZ", "FI", "LT",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// Everything a use case may touch.
#[derive(Clone)]
pub struct Services {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    rng: Arc<dyn Random>,
    hasher: Arc<PasswordHasher>,
    key: ServerKey,
    settings: CoreSettings,
    composer: Arc<dyn MailComposer>,
    mail_queued: Arc<tokio::sync::Notify>,
    sms_queued: Arc<tokio::sync::Notify>,
    /// Every second factor, in the order methods are offered (MFA-1).
    factors: Vec<Arc<dyn SecondFactor>>,
    factor_settings: FactorSettings,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("settings", &self.settings)
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
        let factor_settings = FactorSettings {
            issuer: settings.issuer.clone(),
            webauthn: webauthn.map(Arc::new),
            sms_subsidiaries: settings.sms_subsidiaries.clone(),
        };
        Self {
            store,
            clock,
            rng,
            hasher,
            key,
            settings,
            composer,
            mail_queued: Arc::new(tokio::sync::Notify::new()),
            sms_queued: Arc::new(tokio::sync::Notify::new()),
            factors: registry(),
            factor_settings,
        }
    }

    /// Wakes this node's mail worker; other nodes find new mail when they poll.
    pub fn mail_signal(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.mail_queued)
    }

    fn mail_queued(&self) {
        self.mail_queued.notify_one();
    }

    /// Wakes this node's SMS worker (MFA-4); other nodes find new texts when they poll.
    pub fn sms_signal(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.sms_queued)
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

    pub fn settings(&self) -> &CoreSettings {
        &self.settings
    }

    /// The server key (SEC-1), for HMACs at the edge (CSRF tokens).
    pub fn key(&self) -> &ServerKey {
        &self.key
    }

    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    pub fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }

    /// Whether the database answers (`/readyz`).
    pub async fn ready(&self) -> bool {
        self.store.ping().await.is_ok()
    }
}
