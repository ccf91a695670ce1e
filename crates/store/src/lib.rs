//! Sesame's storage: the `core` ports implemented once, with sqlx's `Any` driver, for SQLite (one
//! machine) and PostgreSQL (several nodes).
//!
//! One business logic, two dialects: the SQL text is shared (`$N` parameters work on both), times
//! are BIGINT microseconds and ids UUID text so that both backends sort and compare alike, and the
//! few real differences (migrations, connection set-up) stay in this module. Every port method is
//! a single statement or one short transaction; one-time values are consumed with a conditional
//! `UPDATE … RETURNING`, which is atomic on both backends under their default isolation.

mod accounts;
mod audit;
mod batch;
#[cfg(test)]
mod contract;
mod credentials;
mod flows;
mod outbox;
mod pool;
mod recovery;
mod secrets;
mod sessions;
mod sms;
mod support;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

use async_trait::async_trait;
use sesame_core::ports::{Health, StoreError, Unique};
use sesame_core::types::AccountId;
use sqlx::ConnectOptions;
use sqlx::any::AnyConnectOptions;
use std::str::FromStr;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;
use time::OffsetDateTime;

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else {
            None
        }
    }
}

/// Pool settings (the `[database]` section of the configuration).
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    pub max_connections: u32,
    /// How long a request waits for a connection before it gets 503 (never a hang).
    pub acquire_timeout: Duration,
    /// How long a statement through the pool may wait for its answer (a link gone silent gives
    /// none for many minutes): past it, `Unavailable`, and the connection is checked before its
    /// next use. Transactions are bounded by their callers (the HTTP request deadline).
    pub statement_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("the database URL must start with sqlite: or postgres://")]
    UnknownScheme,
    #[error("cannot open the database: {0}")]
    Connect(String),
    #[error("cannot apply migrations: {0}")]
    Migrate(String),
}

/// The session cache's numbers (SESS-2): one for any change, and one per stripe of accounts.
#[derive(Debug)]
struct Generations {
    any: AtomicU64,
    accounts: [AtomicU64; STRIPES],
}

/// Accounts share this many numbers: a change voids the cached sessions of about
/// 1/`STRIPES` of the accounts, not of all.
const STRIPES: usize = 256;

impl Default for Generations {
    fn default() -> Self {
        Self {
            any: AtomicU64::new(0),
            accounts: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Generations {
    fn stripe(account: AccountId) -> usize {
        // The id's last bits are random.
        usize::from(account.0.as_bytes()[15])
    }
}

/// The store: one pool, either backend.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: pool::Pool,
    backend: Backend,
    /// Raised after every write through this store that ends sessions or changes an account
    /// (SESS-2): the per-node session cache trusts only what it read since the last raise.
    generations: std::sync::Arc<Generations>,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl SqlStore {
    /// Opens a pool. A SQLite file is created when missing and put in WAL mode with a busy
    /// timeout, so readers never wait for the writer and writers queue briefly instead of failing.
    pub async fn open(url: &str, settings: PoolSettings) -> Result<Self, OpenError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url).ok_or(OpenError::UnknownScheme)?;
        let options = AnyConnectOptions::from_str(url)
            .map_err(|e| OpenError::Connect(e.to_string()))?
            .disable_statement_logging();
        let pool = pool::Pool::new(options, backend, settings);
        let store = Self {
            pool,
            backend,
            generations: Default::default(),
        };
        store.ping().await.map_err(|e| OpenError::Connect(e.to_string()))?;
        Ok(store)
    }

    /// Applies pending migrations. On PostgreSQL sqlx holds an advisory lock meanwhile, so nodes
    /// that start together take turns instead of racing. SQLite has no such lock; there each
    /// migration runs in a transaction, so a process that lost the race sees its statements fail
    /// and simply reads the migration table again, where the winner's work is now recorded.
    pub async fn migrate(&self) -> Result<(), OpenError> {
        let (migrator, attempts) = match self.backend {
            // Each lost race leaves one more migration applied by the winner, so one retry per
            // migration always suffices.
            Backend::Sqlite => (&SQLITE_MIGRATIONS, SQLITE_MIGRATIONS.iter().count() + 1),
            Backend::Postgres => (&POSTGRES_MIGRATIONS, 1),
        };
        let mut result = Ok(());
        for _ in 0..attempts {
            result = match self.pool.acquire().await {
                Ok(mut conn) => migrator.run(&mut *conn).await,
                Err(err) => Err(sqlx::migrate::MigrateError::Execute(err)),
            };
            if result.is_ok() {
                break;
            }
        }
        result.map_err(|e| OpenError::Migrate(e.to_string()))
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Says that an account or its sessions just changed (after the commit, so that a reader
    /// that started before it can't cache what it read under the new numbers).
    pub(crate) fn changed(&self, account: AccountId) {
        let g = &self.generations;
        // The shared number first: a reader that sees the account's new number then also sees
        // that something changed during its read (see `service::session_cache`).
        g.any.fetch_add(1, SeqCst);
        g.accounts[Generations::stripe(account)].fetch_add(1, SeqCst);
    }

    /// Says that sessions of an unknown account just changed: every account's number moves.
    pub(crate) fn changed_all(&self) {
        let g = &self.generations;
        g.any.fetch_add(1, SeqCst);
        for n in g.accounts.iter() {
            n.fetch_add(1, SeqCst);
        }
    }

    /// The janitor's batch: deletes up to `limit` rows of `table` (a table with an `id` and an
    /// indexed `expires_at`) that expired before `before`; returns how many went.
    pub(crate) async fn purge_expired(
        &self,
        table: &'static str,
        before: OffsetDateTime,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let sql = format!("DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE expires_at < $1 LIMIT $2)");
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(micros(before))
            .bind(i64::from(limit))
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected())
    }

    /// Closes the pool (graceful shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl Health for SqlStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(db_error)?;
        Ok(())
    }
}

/// Maps a sqlx error to the ports' error: lost connections and timeouts are `Unavailable`
/// (503), unique violations name the constraint, everything else is internal.
pub(crate) fn db_error(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
            StoreError::Unavailable(err.to_string())
        }
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            let text = format!("{} {}", db.constraint().unwrap_or(""), db.message());
            let which = if text.contains("nic_handle") {
                Unique::NicHandle
            } else if text.contains("customer_code") {
                Unique::CustomerCode
            } else if text.contains("email_canonical") {
                Unique::Email
            } else {
                Unique::Other
            };
            StoreError::Conflict(which)
        }
        sqlx::Error::Database(db) if is_busy(db.code().as_deref()) => StoreError::Unavailable(err.to_string()),
        _ => StoreError::Internal(err.to_string()),
    }
}

/// SQLite's "database is locked" (5, 261, 517) and PostgreSQL ending the session.
fn is_busy(code: Option<&str>) -> bool {
    matches!(code, Some("5" | "261" | "517")) || code.is_some_and(pool::session_ended)
}

/// Ends a change: its audit event and the mails that report it go into the same transaction,
/// which then commits (AUDIT-1, MAIL-1).
pub(crate) async fn commit_with(
    tx: pool::Tx,
    audit: &sesame_core::audit::AuditEvent,
    mails: &[sesame_core::mail::ComposedMail],
) -> Result<(), StoreError> {
    commit_all(tx, &[], audit, mails).await
}

/// [`commit_with`], with the change's new one-time secrets in the same batch.
pub(crate) async fn commit_all(
    mut tx: pool::Tx,
    secrets: &[sesame_core::ports::OneTimeSecret],
    audit: &sesame_core::audit::AuditEvent,
    mails: &[sesame_core::mail::ComposedMail],
) -> Result<(), StoreError> {
    closing_batch(secrets, Some(audit), mails).run(&mut tx).await?;
    tx.commit().await.map_err(db_error)
}

/// Stores one-time secrets and queues mails inside the caller's transaction, in one batch.
pub(crate) async fn secrets_and_mails(
    conn: &mut sqlx::AnyConnection,
    secrets: &[sesame_core::ports::OneTimeSecret],
    mails: &[sesame_core::mail::ComposedMail],
) -> Result<(), StoreError> {
    closing_batch(secrets, None, mails).run(conn).await
}

/// The writes that close a change, as one batch: its secrets, its audit event, its mails.
pub(crate) fn closing_batch(
    secrets: &[sesame_core::ports::OneTimeSecret],
    audit: Option<&sesame_core::audit::AuditEvent>,
    mails: &[sesame_core::mail::ComposedMail],
) -> batch::Batch {
    let mut batch = batch::Batch::default();
    for s in secrets {
        secrets::push(&mut batch, s);
    }
    if let Some(event) = audit {
        audit::push_event(&mut batch, event);
    }
    outbox::push(&mut batch, mails);
    batch
}

/// Times are stored as microseconds since the Unix epoch.
pub(crate) fn micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

pub(crate) fn from_micros(us: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000)
        .map_err(|e| StoreError::Internal(format!("stored time out of range: {e}")))
}

pub(crate) fn opt_from_micros(us: Option<i64>) -> Result<Option<OffsetDateTime>, StoreError> {
    us.map(from_micros).transpose()
}

pub(crate) fn parse_uuid(s: &str) -> Result<uuid::Uuid, StoreError> {
    uuid::Uuid::parse_str(s).map_err(|e| StoreError::Internal(format!("stored id is not a UUID: {e}")))
}
