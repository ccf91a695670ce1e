//! The password factor: Argon2id hashing and verification on a bounded pool (PWD-1, PWD-3, PWD-4).
//!
//! * PWD-1: Argon2id v19 with the configured cost, PHC strings; a stored hash made with other
//!   settings is reported by [`PasswordHasher::needs_rehash`] so login can upgrade it.
//! * PWD-3: `workers` threads of their own hash, each with its Argon2 memory (19 MiB by
//!   default) allocated once when it starts and reused for every hash, so resident memory stays
//!   at `workers` × the memory cost whatever the load (tokio's blocking pool used to give each of
//!   its threads an allocator arena that kept its own 19 MiB). At most `workers` jobs are out at
//!   once; at most `max_queue` callers wait, each for at most `queue_deadline`. Past either bound
//!   the caller gets [`HashError::Busy`] (the web layer answers 503 with Retry-After), so a flood
//!   of logins can't queue without bound. A stored hash with other settings than the current ones
//!   is checked with memory of its own, once, before login rehashes it.
//! * PWD-4: [`PasswordHasher::verify`] with no stored hash checks against a dummy hash made
//!   with the same settings, so an unknown account costs what a known one costs. A hash of
//!   another kind or cost (imported, or made before the settings changed) takes its own time to
//!   check, which would tell its account from an unknown one until the next login rehashes it.
//!   So while such hashes exist, every check takes at least the *floor*: a quarter above the
//!   slowest of them and of a current hash's check (cheaper imported hashes must hide too),
//!   learnt at start from the stored hashes ([`PasswordHasher::calibrate`]) and raised by a
//!   slower one checked later, up to twice the floor first set. The wait is a timer after the
//!   worker is done, counted from the worker's start of the check: it costs latency, never a
//!   hashing slot (so a check of a slower hash still holds a worker longer).

use crate::types::Password;
use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
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
    phc_prefix: String,
    jobs: mpsc::Sender<Job>,
    slots: Arc<Semaphore>,
    workers: usize,
    waiting: AtomicUsize,
    max_queue: usize,
    queue_deadline: Duration,
    dummy_hash: String,
    /// How long making the dummy hash took: what a current hash's check costs.
    current_cost: Duration,
    floor: Mutex<Floor>,
}

/// PWD-4: the least time a password check takes, counted from the worker's start of it.
#[derive(Debug, Default, Clone, Copy)]
struct Floor {
    /// Zero while every hash seen is current.
    least: Duration,
    /// Twice the floor first set: an outlier (a stalled machine, a flood) can't raise every
    /// check's wait without bound.
    ceiling: Duration,
}

/// Most cost classes [`PasswordHasher::calibrate`] times (each a check of one stored hash).
pub const CALIBRATION_CLASSES: usize = 16;

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
        let jobs = start_workers(pool.workers, &params).map_err(|e| SettingsError::Argon2(e.to_string()))?;
        // The dummy hash is made by a worker too: no 19 MiB allocation outside the workers.
        let (reply, answer) = mpsc::channel();
        let dummy = Password::new("sesame-dummy-password-for-unknown-accounts");
        let started = Instant::now();
        jobs.send(Job::Hash {
            password: dummy,
            salt: random_salt(),
            reply: Box::new(move |hashed| drop(reply.send(hashed))),
        })
        .map_err(|e| SettingsError::Argon2(e.to_string()))?;
        let dummy_hash = answer
            .recv()
            .map_err(|e| SettingsError::Argon2(e.to_string()))?
            .map_err(SettingsError::Argon2)?;
        let current_cost = started.elapsed();
        Ok(Self {
            phc_prefix: format!(
                "$argon2id$v=19$m={},t={},p={}$",
                settings.m_cost_kib, settings.t_cost, settings.p_cost
            ),
            jobs,
            slots: Arc::new(Semaphore::new(pool.workers)),
            workers: pool.workers,
            waiting: AtomicUsize::new(0),
            max_queue: pool.max_queue,
            queue_deadline: pool.queue_deadline,
            dummy_hash,
            current_cost,
            floor: Mutex::new(Floor::default()),
        })
    }

    /// Hashes a new password into a PHC string.
    pub async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let password = password.clone();
        let salt = random_salt();
        self.run(|reply| Job::Hash {
            password,
            salt,
            reply: Box::new(move |hashed| drop(reply.send(hashed.map_err(HashError::Internal)))),
        })
        .await?
    }

    /// Checks a password against a stored PHC string, or against the dummy hash when the account
    /// is unknown (the answer is then always a mismatch, at the same cost). It takes at least the
    /// floor (PWD-4), which a slower hash of another kind or cost raises.
    pub async fn verify(&self, password: &Password, stored: Option<&str>) -> Result<Verification, HashError> {
        let known = stored.is_some();
        let other_cost = stored.is_some_and(|s| self.needs_rehash(s));
        let phc = stored.unwrap_or(&self.dummy_hash).to_owned();
        let (matched, took) = self.check(password, phc).await?;
        if other_cost {
            self.raise_floor(took);
        }
        if let Some(rest) = self.floor().checked_sub(took).filter(|rest| !rest.is_zero()) {
            tokio::time::sleep(rest).await;
        }
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

    /// PWD-1: `password` hashed with the current settings when `stored` was made with others;
    /// `None` when it is current, or when the pool is busy (the upgrade waits for the next login).
    pub async fn rehash_if_due(&self, stored: &str, password: &Password) -> Option<String> {
        if !self.needs_rehash(stored) {
            return None;
        }
        match self.hash(password).await {
            Ok(phc) => Some(phc),
            Err(err) => {
                tracing::info!(%err, "password rehash postponed");
                None
            }
        }
    }

    /// How every current hash begins: `$argon2id$v=19$m=…,t=…,p=…$` (what the store looks past to
    /// find the others).
    pub fn current_prefix(&self) -> &str {
        &self.phc_prefix
    }

    /// The least time a password check takes now (zero while every hash seen is current).
    pub fn floor(&self) -> Duration {
        self.lock_floor().least
    }

    fn lock_floor(&self) -> std::sync::MutexGuard<'_, Floor> {
        self.floor.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// PWD-4: after a hash of another kind or cost took `took` to check, the floor becomes a
    /// quarter above it or above a current hash's check, whichever is slower, so both hide
    /// behind it despite their jitter; never above the ceiling the first floor set.
    fn raise_floor(&self, took: Duration) {
        let wanted = took.max(self.current_cost);
        let wanted = wanted.saturating_add(wanted / 4);
        let mut floor = self.lock_floor();
        if floor.ceiling.is_zero() {
            floor.ceiling = wanted.saturating_mul(2);
        }
        let raised = wanted.min(floor.ceiling);
        if raised > floor.least {
            floor.least = raised;
            tracing::info!(
                floor_ms = u64::try_from(raised.as_millis()).unwrap_or(u64::MAX),
                "hashes of other kinds or costs: every password check now takes at least the floor"
            );
        }
    }

    /// PWD-4: times a check of one of `stored` (hashes of other kinds or costs, as the store
    /// found them) for each cost class among them, at most [`CALIBRATION_CLASSES`], and sets the
    /// floor from the slowest before any customer's check could show the difference. Returns
    /// how many classes it timed.
    pub async fn calibrate(&self, stored: &[String]) -> Result<usize, HashError> {
        let mut classes: Vec<&str> = Vec::new();
        let mut slowest = Duration::ZERO;
        let probe = Password::new("sesame-calibration-not-a-password");
        for phc in stored.iter().filter(|s| self.needs_rehash(s)) {
            let class = super::imported_hash::cost_class(phc);
            if classes.contains(&class) {
                continue;
            }
            if classes.len() == CALIBRATION_CLASSES {
                break;
            }
            classes.push(class);
            let (_, took) = self.check(&probe, phc.clone()).await?;
            slowest = slowest.max(took);
        }
        if !classes.is_empty() {
            self.raise_floor(slowest);
        }
        Ok(classes.len())
    }

    /// Whether `password` matches `phc`, and how long the worker took to say.
    async fn check(&self, password: &Password, phc: String) -> Result<(bool, Duration), HashError> {
        let password = password.clone();
        self.run(|reply| Job::Verify {
            password,
            phc,
            reply: Box::new(move |matched, took| {
                // A caller that stopped waiting just gets no answer.
                reply.send((matched, took)).ok();
            }),
        })
        .await
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

    /// Hands a job to the workers once a slot is free. The slot goes with the job and is freed
    /// by the worker when done, so a caller that gives up waiting never lets more jobs in.
    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(tokio::sync::oneshot::Sender<T>) -> Job,
    ) -> Result<T, HashError> {
        let permit = self.acquire().await?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = job(reply).with_slot(permit);
        self.jobs.send(job).map_err(|e| HashError::Internal(e.to_string()))?;
        answer.await.map_err(|e| HashError::Internal(e.to_string()))
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

/// Work for a hashing thread; the answer goes to `reply`.
enum Job {
    Hash {
        password: Password,
        salt: [u8; 16],
        reply: Box<dyn FnOnce(Result<String, String>) + Send>,
    },
    /// Answers whether it matched and how long the check took on the worker.
    Verify {
        password: Password,
        phc: String,
        reply: Box<dyn FnOnce(bool, Duration) + Send>,
    },
    /// A job with the pool slot it holds until it is done.
    Slotted(Box<Job>, OwnedSemaphorePermit),
}

impl Job {
    fn with_slot(self, permit: OwnedSemaphorePermit) -> Self {
        Self::Slotted(Box::new(self), permit)
    }
}

fn random_salt() -> [u8; 16] {
    let mut salt = [0u8; 16];
    crate::random::Random::fill(&crate::random::OsRandom, &mut salt);
    salt
}

/// Starts the hashing threads, each with its memory, sharing one queue.
fn start_workers(count: usize, params: &Params) -> std::io::Result<mpsc::Sender<Job>> {
    let (jobs, queue) = mpsc::channel::<Job>();
    let queue = Arc::new(Mutex::new(queue));
    for index in 0..count {
        let queue = Arc::clone(&queue);
        let params = params.clone();
        std::thread::Builder::new()
            .name(format!("argon2-{index}"))
            .spawn(move || work(&queue, &params))?;
    }
    Ok(jobs)
}

/// A hashing thread: its memory blocks are allocated here, once, and reused for every job. It
/// ends when the hasher (the last sender) is gone.
fn work(queue: &Mutex<mpsc::Receiver<Job>>, params: &Params) {
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut blocks = vec![Block::new(); params.block_count()];
    loop {
        let next = match queue.lock() {
            Ok(receiver) => receiver.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        let Ok(job) = next else { return };
        do_job(job, &argon, params, &mut blocks);
    }
}

fn do_job(job: Job, argon: &Argon2<'_>, params: &Params, blocks: &mut [Block]) {
    match job {
        Job::Slotted(job, permit) => {
            do_job(*job, argon, params, blocks);
            drop(permit);
        }
        Job::Hash { password, salt, reply } => {
            reply(hash_with(argon, params, blocks, password.expose().as_bytes(), &salt))
        }
        Job::Verify { password, phc, reply } => {
            let started = Instant::now();
            let matched = verify_with(argon, params, blocks, password.expose().as_bytes(), &phc);
            reply(matched, started.elapsed())
        }
    }
}

/// A new PHC string, computed in the thread's own memory.
fn hash_with(
    argon: &Argon2<'_>,
    params: &Params,
    blocks: &mut [Block],
    password: &[u8],
    salt: &[u8],
) -> Result<String, String> {
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon
        .hash_password_into_with_memory(password, salt, &mut out, &mut *blocks)
        .map_err(|e| e.to_string())?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| e.to_string())?,
        salt: Some(Salt::new(salt).map_err(|e| e.to_string())?),
        hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches a stored PHC string: in the thread's memory when the hash was made
/// with the current settings, else (an older hash, rehashed at this login) with memory of its own.
fn verify_with(argon: &Argon2<'_>, params: &Params, blocks: &mut [Block], password: &[u8], phc: &str) -> bool {
    let Ok(stored) = PasswordHash::new(phc) else {
        // bcrypt's strings are not PHC.
        return super::imported_hash::verify(password, phc);
    };
    let current = stored.algorithm == Algorithm::Argon2id.ident()
        && stored.version == Some(Version::V0x13.into())
        && Params::try_from(&stored).is_ok_and(|p| {
            p.m_cost() == params.m_cost() && p.t_cost() == params.t_cost() && p.p_cost() == params.p_cost()
        });
    match (current, &stored.salt, &stored.hash) {
        (true, Some(salt), Some(expected)) if expected.len() == Params::DEFAULT_OUTPUT_LEN => {
            let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
            argon
                .hash_password_into_with_memory(password, salt.as_ref(), &mut out, &mut *blocks)
                .is_ok()
                && bool::from(out.ct_eq(expected.as_bytes()))
        }
        _ => super::imported_hash::verify(password, phc),
    }
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
    async fn other_settings_need_a_rehash_and_still_verify() {
        let pw = Password::new("a long enough passphrase");
        let old = hasher(CHEAP, 8);
        let stored = old.hash(&pw).await.unwrap();
        assert!(!old.needs_rehash(&stored));
        let new = hasher(Argon2Settings { t_cost: 2, ..CHEAP }, 8);
        assert!(new.needs_rehash(&stored));
        assert!(new.needs_rehash("$2b$12$bcrypt-hash"));
        assert_eq!(new.verify(&pw, Some(&stored)).await.unwrap(), Verification::Match);
        assert_eq!(
            new.verify(&pw, Some("$2b$12$bcrypt-hash")).await.unwrap(),
            Verification::Mismatch
        );
    }

    #[tokio::test]
    async fn a_hash_of_another_cost_raises_the_floor_that_every_check_then_waits_out() {
        let h = hasher(CHEAP, 8);
        let pw = Password::new("a long enough passphrase");
        let current = h.hash(&pw).await.unwrap();
        h.verify(&pw, Some(&current)).await.unwrap();
        h.verify(&pw, None).await.unwrap();
        assert_eq!(h.floor(), Duration::ZERO, "only current hashes: no floor");
        // bcrypt at cost 6 takes far longer than Argon2 at these test costs.
        let imported = bcrypt::hash(pw.expose(), 6).unwrap();
        assert_eq!(h.verify(&pw, Some(&imported)).await.unwrap(), Verification::Match);
        let floor = h.floor();
        assert!(floor > h.current_cost, "never below a current hash's check");
        // Unknown account, current hash, wrong password: none answers before the floor.
        for stored in [None, Some(current.as_str()), Some(imported.as_str())] {
            let started = Instant::now();
            h.verify(&Password::new("wrong"), stored).await.unwrap();
            assert!(started.elapsed() >= floor, "{stored:?} answered before the floor");
        }
        assert!(h.floor() >= floor, "the floor never comes down");
    }

    #[tokio::test]
    async fn calibration_times_one_stored_hash_of_each_other_cost_class() {
        let h = hasher(CHEAP, 8);
        let pw = Password::new("a long enough passphrase");
        let current = h.hash(&pw).await.unwrap();
        assert_eq!(h.calibrate(std::slice::from_ref(&current)).await.unwrap(), 0);
        assert_eq!(h.floor(), Duration::ZERO);
        let older = hasher(Argon2Settings { t_cost: 2, ..CHEAP }, 8)
            .hash(&pw)
            .await
            .unwrap();
        let stored = [
            current,
            bcrypt::hash(pw.expose(), 5).unwrap(),
            bcrypt::hash("another one", 5).unwrap(),
            older,
        ];
        // Two classes: bcrypt at cost 5 (twice) and the older Argon2 settings.
        assert_eq!(h.calibrate(&stored).await.unwrap(), 2);
        let floor = h.floor();
        assert!(floor > h.current_cost);
        // A later outlier raises the floor at most to twice the first one.
        h.raise_floor(floor * 10);
        assert_eq!(h.floor(), floor * 2);
    }

    #[tokio::test]
    async fn a_cheaper_imported_hash_waits_as_long_as_a_current_one() {
        // The current settings cost far more than bcrypt at cost 4.
        let h = hasher(
            Argon2Settings {
                m_cost_kib: 32_768,
                t_cost: 4,
                ..CHEAP
            },
            8,
        );
        let pw = Password::new("a long enough passphrase");
        let cheap = bcrypt::hash(pw.expose(), 4).unwrap();
        assert_eq!(h.calibrate(std::slice::from_ref(&cheap)).await.unwrap(), 1);
        let started = Instant::now();
        h.verify(&Password::new("wrong"), Some(&cheap)).await.unwrap();
        assert!(started.elapsed() > h.current_cost, "the cheap hash answered first");
    }

    #[tokio::test]
    async fn the_workers_speak_standard_phc_both_ways() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let h = hasher(CHEAP, 8);
        let pw = Password::new("a long enough passphrase");
        let params = Params::new(CHEAP.m_cost_kib, CHEAP.t_cost, CHEAP.p_cost, None).unwrap();
        let standard = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let theirs = standard.hash_password(pw.expose().as_bytes()).unwrap().to_string();
        assert_eq!(h.verify(&pw, Some(&theirs)).await.unwrap(), Verification::Match);
        let ours = h.hash(&pw).await.unwrap();
        assert!(standard.verify_password(pw.expose().as_bytes(), ours.as_str()).is_ok());
        assert!(standard.verify_password(b"another passphrase", ours.as_str()).is_err());
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
