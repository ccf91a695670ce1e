//! The password factor: Argon2id hashing and verification on a bounded pool (PWD-1, PWD-3, PWD-4).
//!
//! * PWD-1: Argon2id v19 with the configured cost, PHC strings; a stored hash made with other
//!   settings is reported by [`PasswordHasher::needs_rehash`] so login can upgrade it.
//! * PWD-3: at most `workers` hashes run at once on Tokio's blocking threads; at most
//!   `max_queue` callers wait, each for at most `queue_deadline`. Past either bound the caller
//!   gets [`HashError::Busy`] (the web layer answers 503 with Retry-After), so a flood of logins
//!   can't queue without bound.
//! * PWD-4: [`PasswordHasher::verify`] with no stored hash checks against a dummy hash made
//!   with the same settings, so an unknown account costs what a known one costs.

use crate::types::Password;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Argon2id cost settings (PWD-1 defaults: m=19456 KiB, t=2, p=1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Argon2Settings {
    pub m_cost_kib: u32,
    pub t_cost: u32,
    pub p_cost: u32,
}

impl Default for Argon2Settings {
    fn default() -> Self {
        Self {
            m_cost_kib: 19_456,
            t_cost: 2,
            p_cost: 1,
        }
    }
}

/// Bounds of the hashing pool (PWD-3).
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    pub workers: usize,
    pub max_queue: usize,
    pub queue_deadline: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    #[error("every password-hashing slot is busy")]
    Busy,
    #[error("password hashing failed: {0}")]
    Internal(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("invalid Argon2 parameters: {0}")]
    Argon2(String),
    #[error("the hashing pool needs at least one worker")]
    NoWorkers,
}

/// The result of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    Match,
    Mismatch,
}

/// Hashes and verifies passwords on a bounded pool.
#[derive(Debug)]
pub struct PasswordHasher {
    params: Params,
    phc_prefix: String,
    slots: Arc<Semaphore>,
    workers: usize,
    waiting: AtomicUsize,
    max_queue: usize,
    queue_deadline: Duration,
    dummy_hash: String,
}

/// Every slot of the pool, held: while it lives, no hash runs. Operators use it nowhere; tests
/// use it to prove the pool answers "busy" instead of queueing without bound.
#[derive(Debug)]
pub struct OccupiedSlots {
    _permits: OwnedSemaphorePermit,
}

impl PasswordHasher {
    pub fn new(settings: Argon2Settings, pool: PoolSettings) -> Result<Self, SettingsError> {
        if pool.workers == 0 {
            return Err(SettingsError::NoWorkers);
        }
        let params = Params::new(settings.m_cost_kib, settings.t_cost, settings.p_cost, None)
            .map_err(|e| SettingsError::Argon2(e.to_string()))?;
        let dummy_hash =
            hash_blocking(&params, b"sesame-dummy-password-for-unknown-accounts").map_err(SettingsError::Argon2)?;
        Ok(Self {
            phc_prefix: format!(
                "$argon2id$v=19$m={},t={},p={}$",
                settings.m_cost_kib, settings.t_cost, settings.p_cost
            ),
            params,
            slots: Arc::new(Semaphore::new(pool.workers)),
            workers: pool.workers,
            waiting: AtomicUsize::new(0),
            max_queue: pool.max_queue,
            queue_deadline: pool.queue_deadline,
            dummy_hash,
        })
    }

    /// Hashes a new password into a PHC string.
    pub async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let password = password.clone();
        let params = self.params.clone();
        self.run(move || hash_blocking(&params, password.expose().as_bytes()).map_err(HashError::Internal))
            .await
    }

    /// Checks a password against a stored PHC string, or against the dummy hash when the account
    /// is unknown (the answer is then always a mismatch, at the same cost).
    pub async fn verify(&self, password: &Password, stored: Option<&str>) -> Result<Verification, HashError> {
        let known = stored.is_some();
        let phc = stored.unwrap_or(&self.dummy_hash).to_owned();
        let password = password.clone();
        let params = self.params.clone();
        let matched = self
            .run(move || {
                let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
                Ok(argon
                    .verify_password(password.expose().as_bytes(), phc.as_str())
                    .is_ok())
            })
            .await?;
        Ok(if matched && known {
            Verification::Match
        } else {
            Verification::Mismatch
        })
    }

    /// Whether a stored hash was made with other settings than the current ones (PWD-1).
    pub fn needs_rehash(&self, stored: &str) -> bool {
        !stored.starts_with(&self.phc_prefix)
    }

    /// Takes every slot and holds it until the guard is dropped (see [`OccupiedSlots`]).
    pub async fn occupy_all_slots(&self) -> Result<OccupiedSlots, HashError> {
        let count = u32::try_from(self.workers).map_err(|e| HashError::Internal(e.to_string()))?;
        let permits = Arc::clone(&self.slots)
            .acquire_many_owned(count)
            .await
            .map_err(|e| HashError::Internal(e.to_string()))?;
        Ok(OccupiedSlots { _permits: permits })
    }

    async fn run<T, F>(&self, work: F) -> Result<T, HashError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, HashError> + Send + 'static,
    {
        let permit = self.acquire().await?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|e| HashError::Internal(e.to_string()))?
    }

    async fn acquire(&self) -> Result<OwnedSemaphorePermit, HashError> {
        if let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_queue {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(HashError::Busy);
        }
        let waited = tokio::time::timeout(self.queue_deadline, Arc::clone(&self.slots).acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        match waited {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(closed)) => Err(HashError::Internal(closed.to_string())),
            Err(_elapsed) => Err(HashError::Busy),
        }
    }
}

fn hash_blocking(params: &Params, password: &[u8]) -> Result<String, String> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password)
        .map(|hash| hash.to_string())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: Argon2Settings = Argon2Settings {
        m_cost_kib: 64,
        t_cost: 1,
        p_cost: 1,
    };

    fn hasher(settings: Argon2Settings, max_queue: usize) -> PasswordHasher {
        PasswordHasher::new(
            settings,
            PoolSettings {
                workers: 2,
                max_queue,
                queue_deadline: Duration::from_millis(50),
            },
        )
        .unwrap()
    }

    #[tokio::test]
    async fn hashes_verify_and_differ_by_salt() {
        let h = hasher(CHEAP, 8);
        let pw = Password::new("a long enough passphrase");
        let one = h.hash(&pw).await.unwrap();
        let two = h.hash(&pw).await.unwrap();
        assert_ne!(one, two);
        assert!(one.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert_eq!(h.verify(&pw, Some(&one)).await.unwrap(), Verification::Match);
        let wrong = Password::new("another passphrase");
        assert_eq!(h.verify(&wrong, Some(&one)).await.unwrap(), Verification::Mismatch);
    }

    #[tokio::test]
    async fn unknown_accounts_never_match() {
        let h = hasher(CHEAP, 8);
        let pw = Password::new("sesame-dummy-password-for-unknown-accounts");
        assert_eq!(h.verify(&pw, None).await.unwrap(), Verification::Mismatch);
    }

    #[tokio::test]
    async fn other_settings_need_a_rehash() {
        let old = hasher(CHEAP, 8);
        let stored = old.hash(&Password::new("a long enough passphrase")).await.unwrap();
        assert!(!old.needs_rehash(&stored));
        let new = hasher(Argon2Settings { t_cost: 2, ..CHEAP }, 8);
        assert!(new.needs_rehash(&stored));
        assert!(new.needs_rehash("$2b$12$bcrypt-hash"));
    }

    #[tokio::test]
    async fn a_full_pool_answers_busy_after_the_deadline() {
        let h = hasher(CHEAP, 8);
        let held = h.occupy_all_slots().await.unwrap();
        let pw = Password::new("a long enough passphrase");
        assert_eq!(h.hash(&pw).await, Err(HashError::Busy));
        drop(held);
        assert!(h.hash(&pw).await.is_ok());
    }

    #[tokio::test]
    async fn a_full_queue_answers_busy_at_once() {
        let h = hasher(CHEAP, 0);
        let _held = h.occupy_all_slots().await.unwrap();
        assert_eq!(h.verify(&Password::new("x"), None).await, Err(HashError::Busy));
    }

    #[test]
    fn bad_settings_are_refused() {
        let pool = PoolSettings {
            workers: 1,
            max_queue: 1,
            queue_deadline: Duration::from_millis(1),
        };
        assert!(PasswordHasher::new(Argon2Settings { m_cost_kib: 1, ..CHEAP }, pool).is_err());
        assert_eq!(
            PasswordHasher::new(CHEAP, PoolSettings { workers: 0, ..pool }).err(),
            Some(SettingsError::NoWorkers)
        );
    }
}
