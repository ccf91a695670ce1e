//! The store's connection pool, in place of sqlx's.
//!
//! sqlx's pool pings every connection as it comes back (`return_to_pool`, unconditionally): on
//! SQLite a second hand-off to the connection's thread for every statement, on PostgreSQL a
//! second round trip. And it hands out the connection idle the longest, so on SQLite each
//! statement runs on a connection whose page cache other connections' writes have voided. This
//! pool takes connections back as they are, hands out the one used last (its cache is warm), and
//! checks only a connection left idle long enough for the server to have dropped it. A statement
//! that failed for want of a working connection sends it away instead of back.
//!
//! Transactions are begun and ended by this module, not by sqlx: a [`Tx`] dropped before its
//! commit (an error, or a client that went away mid-request) is rolled back on a task of its own
//! before its connection returns.

use crate::Backend;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use sqlx::any::{AnyConnectOptions, AnyQueryResult, AnyRow, AnyStatement, AnyTypeInfo};
use sqlx::{Any, AnyConnection, ConnectOptions, Connection, Describe, Either, Execute, Executor, SqlStr};
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// SQLite's answer to a ROLLBACK with no transaction to end.
pub(crate) const NO_TRANSACTION: &str = "no transaction is active";

/// A connection idle for longer is checked before it is used again.
const IDLE_CHECK: Duration = Duration::from_secs(10);

/// Connections to one database, at most `max` at a time.
#[derive(Debug, Clone)]
pub(crate) struct Pool(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    options: AnyConnectOptions,
    backend: Backend,
    /// Idle connections, the one returned last at the end.
    idle: Mutex<Vec<(AnyConnection, Instant)>>,
    permits: Arc<Semaphore>,
    acquire_timeout: Duration,
}

/// A connection taken from the pool; it goes back when dropped.
#[derive(Debug)]
pub(crate) struct Conn {
    conn: Option<AnyConnection>,
    pool: Arc<Inner>,
    _permit: OwnedSemaphorePermit,
}

impl Pool {
    pub(crate) fn new(options: AnyConnectOptions, backend: Backend, max: u32, acquire_timeout: Duration) -> Self {
        Self(Arc::new(Inner {
            options,
            backend,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(usize::try_from(max).unwrap_or(1).max(1))),
            acquire_timeout,
        }))
    }

    /// A connection, within the acquire timeout (`PoolTimedOut` after it: the caller answers 503).
    pub(crate) async fn acquire(&self) -> Result<Conn, sqlx::Error> {
        let inner = &self.0;
        let deadline = tokio::time::Instant::now() + inner.acquire_timeout;
        let permit = tokio::time::timeout_at(deadline, Arc::clone(&inner.permits).acquire_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        loop {
            let idle = inner.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
            let conn = match idle {
                Some((mut conn, since)) => {
                    if since.elapsed() > IDLE_CHECK && conn.ping().await.is_err() {
                        continue;
                    }
                    conn
                }
                None => tokio::time::timeout_at(deadline, inner.connect())
                    .await
                    .map_err(|_| sqlx::Error::PoolTimedOut)??,
            };
            return Ok(Conn {
                conn: Some(conn),
                pool: Arc::clone(inner),
                _permit: permit,
            });
        }
    }

    /// Begins a transaction on a connection of its own.
    pub(crate) async fn begin(&self) -> Result<Tx, sqlx::Error> {
        let mut conn = self.acquire().await?;
        conn.run("BEGIN").await?;
        Ok(Tx { conn: Some(conn) })
    }

    /// Closes the idle connections and refuses new ones.
    pub(crate) async fn close(&self) {
        self.0.permits.close();
        let idle = std::mem::take(&mut *self.0.idle.lock().unwrap_or_else(PoisonError::into_inner));
        for (conn, _) in idle {
            conn.close().await.ok();
        }
    }
}

impl Inner {
    async fn connect(&self) -> Result<AnyConnection, sqlx::Error> {
        let mut conn = self.options.connect().await?;
        if self.backend == Backend::Sqlite {
            conn.execute(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; \
                 PRAGMA foreign_keys = ON;",
            )
            .await?;
        }
        Ok(conn)
    }
}

/// Errors after which a connection is not worth keeping.
fn broken(err: &sqlx::Error) -> bool {
    matches!(
        err,
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed
    )
}

impl Conn {
    /// Closes the connection instead of returning it (its state is unknown).
    pub(crate) fn discard(mut self) {
        self.conn = None;
    }

    /// Runs a statement without parameters, keeping the connection only if it still works.
    async fn run(&mut self, sql: &'static str) -> Result<(), sqlx::Error> {
        let result = sqlx::query(sql).execute(&mut **self).await;
        self.settle(result.map(drop))
    }

    /// Passes a statement's outcome through, sending the connection away if it broke.
    fn settle<T>(&mut self, result: Result<T, sqlx::Error>) -> Result<T, sqlx::Error> {
        if let Err(err) = &result
            && broken(err)
        {
            self.conn = None;
        }
        result
    }
}

impl Deref for Conn {
    type Target = AnyConnection;

    #[allow(clippy::expect_used)]
    fn deref(&self) -> &AnyConnection {
        // Only `settle` takes it, and only on the way out.
        self.conn
            .as_ref()
            .expect("a pooled connection is present until dropped")
    }
}

impl DerefMut for Conn {
    #[allow(clippy::expect_used)]
    fn deref_mut(&mut self) -> &mut AnyConnection {
        self.conn
            .as_mut()
            .expect("a pooled connection is present until dropped")
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let mut idle = self.pool.idle.lock().unwrap_or_else(PoisonError::into_inner);
            idle.push((conn, Instant::now()));
        }
    }
}

/// A transaction: committed by [`Tx::commit`], rolled back if dropped before.
#[derive(Debug)]
pub(crate) struct Tx {
    conn: Option<Conn>,
}

impl Tx {
    pub(crate) async fn commit(mut self) -> Result<(), sqlx::Error> {
        let Some(mut conn) = self.conn.take() else {
            return Ok(());
        };
        let committed = conn.run("COMMIT").await;
        if committed.is_err() && conn.conn.is_some() {
            // Rolled back on drop, before the connection goes back.
            self.conn = Some(conn);
        }
        committed
    }
}

impl Deref for Tx {
    type Target = AnyConnection;

    #[allow(clippy::expect_used)]
    fn deref(&self) -> &AnyConnection {
        self.conn
            .as_ref()
            .expect("a transaction has its connection until it ends")
    }
}

impl DerefMut for Tx {
    #[allow(clippy::expect_used)]
    fn deref_mut(&mut self) -> &mut AnyConnection {
        self.conn
            .as_mut()
            .expect("a transaction has its connection until it ends")
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        // Back to the pool only once the transaction is over; a connection that can't end it is
        // closed instead. Without a runtime (the process is ending) it is just closed.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) if conn.conn.is_some() => {
                runtime.spawn(async move {
                    match conn.run("ROLLBACK").await {
                        // SQLite may have ended it already, after some errors.
                        Err(e) if !e.to_string().contains(NO_TRANSACTION) => conn.discard(),
                        _ => {}
                    }
                });
            }
            _ => conn.discard(),
        }
    }
}

impl<'p> Executor<'p> for &'_ Pool {
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> BoxStream<'e, Result<Either<AnyQueryResult, AnyRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Any>,
    {
        let pool = self.clone();
        // The results are gathered before they are handed on: a stream borrowing the connection
        // could not own it. The store reads bounded results only.
        futures_util::stream::once(async move {
            let mut conn = pool.acquire().await?;
            let results: Result<Vec<_>, sqlx::Error> = conn.fetch_many(query).try_collect().await;
            conn.settle(results)
        })
        .map_ok(|results| futures_util::stream::iter(results.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Option<AnyRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Any>,
    {
        let pool = self.clone();
        Box::pin(async move {
            let mut conn = pool.acquire().await?;
            let row = conn.fetch_optional(query).await;
            conn.settle(row)
        })
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [AnyTypeInfo],
    ) -> BoxFuture<'e, Result<AnyStatement, sqlx::Error>>
    where
        'p: 'e,
    {
        let pool = self.clone();
        Box::pin(async move {
            let mut conn = pool.acquire().await?;
            let statement = conn.prepare_with(sql, parameters).await;
            conn.settle(statement)
        })
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<Describe<Any>, sqlx::Error>>
    where
        'p: 'e,
    {
        let pool = self.clone();
        Box::pin(async move {
            let mut conn = pool.acquire().await?;
            let described = conn.describe(sql).await;
            conn.settle(described)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestDb;
    use std::str::FromStr;

    async fn pool(max: u32) -> (TestDb, Pool) {
        let db = TestDb::new().await;
        db.store().await.close().await;
        sqlx::any::install_default_drivers();
        let options = AnyConnectOptions::from_str(&db.url).unwrap();
        let pool = Pool::new(options, db.backend, max, Duration::from_millis(200));
        (db, pool)
    }

    async fn handles(pool: &Pool) -> Vec<String> {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT handle FROM nic_handles ORDER BY handle")
            .fetch_all(pool)
            .await
            .unwrap();
        rows.into_iter().map(|(h,)| h).collect()
    }

    #[tokio::test]
    async fn the_connection_returned_last_is_handed_out_first() {
        let (_db, pool) = pool(4).await;
        let mut first = pool.acquire().await.unwrap();
        let mut second = pool.acquire().await.unwrap();
        // A temporary table lives on its connection only.
        sqlx::query("CREATE TEMPORARY TABLE marker (x BIGINT)")
            .execute(&mut *second)
            .await
            .unwrap();
        sqlx::query("SELECT 1").execute(&mut *first).await.unwrap();
        drop(first);
        drop(second);
        let mut again = pool.acquire().await.unwrap();
        sqlx::query("SELECT count(*) FROM marker")
            .execute(&mut *again)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_full_pool_times_out_and_a_returned_connection_is_taken_again() {
        let (_db, pool) = pool(1).await;
        let held = pool.acquire().await.unwrap();
        assert!(matches!(pool.acquire().await, Err(sqlx::Error::PoolTimedOut)));
        drop(held);
        pool.acquire().await.unwrap();
        pool.close().await;
        assert!(matches!(pool.acquire().await, Err(sqlx::Error::PoolClosed)));
    }

    #[tokio::test]
    async fn a_transaction_dropped_before_its_commit_leaves_nothing_and_no_open_transaction() {
        let (_db, pool) = pool(1).await;
        let mut tx = pool.begin().await.unwrap();
        sqlx::query("INSERT INTO nic_handles (handle, reserved_at) VALUES ('gone-ovh', 1)")
            .execute(&mut *tx)
            .await
            .unwrap();
        drop(tx);
        // The one connection comes back only after its rollback, so this waits for it.
        let mut tx = pool.begin().await.unwrap();
        sqlx::query("INSERT INTO nic_handles (handle, reserved_at) VALUES ('kept-ovh', 1)")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(handles(&pool).await, ["kept-ovh"]);
    }
}
