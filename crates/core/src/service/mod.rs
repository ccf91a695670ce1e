//! Use cases: the only code that composes ports, factors and policies. `web` and the CLI call
//! these methods and render what comes back; nothing here knows HTTP or SQL.

mod accounts;
mod sessions;
mod signup;
mod two_factor;

pub use accounts::{CreateAccountError, NewAccountInput, ProfileInput};
pub use sessions::{Authenticated, LoginError, LoginSuccess};
pub use signup::{SignupError, SignupSettings, SignupStart, SignupStep};
pub use two_factor::{
    FRESH_AUTH, LoginOutcome, SecondStep, TotpEnrolment, TwoFactorError, TwoFactorSummary, failure_delay,
};

use crate::clock::Clock;
use crate::factor::password::PasswordHasher;
use crate::factor::{BackupCodeFactor, SecondFactor, TotpFactor};
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
    /// The public URL (with its trailing slash), the only base of links in mail (MAIL-1).
    pub public_url: String,
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
    /// Every second factor, in the order methods are offered (MFA-1).
    factors: Vec<Arc<dyn SecondFactor>>,
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
        Self {
            store,
            clock,
            rng,
            hasher,
            key,
            settings,
            composer,
            mail_queued: Arc::new(tokio::sync::Notify::new()),
            factors: vec![Arc::new(TotpFactor), Arc::new(BackupCodeFactor)],
        }
    }

    /// Wakes this node's mail worker; other nodes find new mail when they poll.
    pub fn mail_signal(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.mail_queued)
    }

    fn mail_queued(&self) {
        self.mail_queued.notify_one();
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
