//! Use cases: the only code that composes ports, factors and policies. `web` and the CLI call
//! these methods and render what comes back; nothing here knows HTTP or SQL.

mod accounts;
mod sessions;

pub use accounts::{CreateAccountError, NewAccountInput};
pub use sessions::{Authenticated, LoginError, LoginSuccess};

use crate::clock::Clock;
use crate::factor::password::PasswordHasher;
use crate::keys::ServerKey;
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
}

impl Default for CoreSettings {
    fn default() -> Self {
        Self {
            nic_suffix: "ovh".into(),
            password_policy: PasswordPolicy::default(),
            session_idle: Duration::minutes(30),
            session_absolute: Duration::hours(12),
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
    ) -> Self {
        Self {
            store,
            clock,
            rng,
            hasher,
            key,
            settings,
        }
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
