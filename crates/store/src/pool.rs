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
//! before its connection returns. A connection dropped while it may still be inside a
//! transaction (a cancelled `BEGIN`, `COMMIT` or `ROLLBACK`) is closed, never pooled. The idle
//! list shrinks back after a peak: connections idle for 10 minutes are closed.

use crate::{Backend, PoolSettings};
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
const NO_TRANSACTION: &str = "no transaction is active";

/// A connection idle for longer is checked before it is used again.
const IDLE_CHECK: Duration = Duration::from_secs(10);

/// A connection idle for longer is closed (the pool shrinks back after a peak).
const IDLE_LIMIT: Duration = Duration::from_secs(600);

/// How long ending a transaction or closing a connection may take before the connection is given
/// up: a link the network dropped silently never answers (sqlx sets no TCP keepalive).
const CLOSE_LIMIT: Duration = Duration::from_secs(5);

/// Connections to one database, at most `max` at a time.
#[derive(Debug, Clone)]
pub(crate) struct Pool(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    options: AnyConnectOptions,
    backend: Backend,
    /// Idle connections, the one returned last at the end.
    idle: Mutex<Vec<Idle>>,
    permits: Arc<Semaphore>,
    acquire_timeout: Duration,
    statement_timeout: Duration,
}

/// A connection waiting in the pool.
#[derive(Debug)]
struct Idle {
    conn: AnyConnection,
    since: Instant,
    /// Its last statement was abandoned: the answer may still be on its way, or the link dead.
    unsettled: bool,
}

/// A connection taken from the pool; it goes back when dropped, unless it may be inside a
/// transaction or broken.
#[derive(Debug)]
pub(crate) struct Conn {
    conn: Option<AnyConnection>,
    /// Set before a transaction begins, cleared once it is known to be over: a connection
    /// dropped in between (a cancelled BEGIN, COMMIT or ROLLBACK) is closed, never pooled.
    in_transaction: bool,
    /// A statement failed for want of a working connection: it is dropped, not pooled.
    broken: bool,
    /// Set while a statement through the pool runs: dropped meanwhile, the connection is
    /// checked before its next use.
    busy: bool,
    pool: Arc<Inner>,
    _permit: OwnedSemaphorePermit,
}

impl Pool {
    pub(crate) fn new(options: AnyConnectOptions, backend: Backend, settings: PoolSettings) -> Self {
        let max = usize::try_from(settings.max_connections).unwrap_or(1).max(1);
        Self(Arc::new(Inner {
            options,
            backend,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(max)),
            acquire_timeout: settings.acquire_timeout,
            statement_timeout: settings.statement_timeout,
        }))
    }

    /// `statement` within the statement timeout; `None` past it (the connection, still marked
    /// busy, is checked before its next use).
    async fn within<T>(&self, statement: impl Future<Output = T>) -> Option<T> {
        tokio::time::timeout(self.0.statement_timeout, statement).await.ok()
    }

    /// A connection, within the acquire timeout (`PoolTimedOut` after it: the caller answers
    /// 503, never hangs).
    pub(crate) async fn acquire(&self) -> Result<Conn, sqlx::Error> {
        let inner = &self.0;
        let deadline = tokio::time::Instant::now() + inner.acquire_timeout;
        let permit = tokio::time::timeout_at(deadline, Arc::clone(&inner.permits).acquire_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        loop {
            let idle = inner.lock_idle().pop();
            let conn = match idle {
                Some(Idle {
                    mut conn,
                    since,
                    unsettled,
                }) => {
                    if unsettled || since.elapsed() > IDLE_CHECK {
                        // A link the network dropped silently must not hold the request.
                        match tokio::time::timeout_at(deadline, conn.ping()).await {
                            Ok(Ok(())) => {}
                            Ok(Err(_)) => continue,
                            Err(_) => return Err(sqlx::Error::PoolTimedOut),
                        }
                    }
                    conn
                }
                None => tokio::time::timeout_at(deadline, inner.connect())
                    .await
                    .map_err(|_| sqlx::Error::PoolTimedOut)??,
            };
            return Ok(Conn {
                conn: Some(conn),
                in_transaction: false,
                busy: false,
                broken: false,
                pool: Arc::clone(inner),
                _permit: permit,
            });
        }
    }

    /// Begins a transaction on a connection of its own. The `Tx` exists before `BEGIN` is sent,
    /// so a caller dropped while it runs, or a failed `BEGIN`, still ends in its rollback.
    pub(crate) async fn begin(&self) -> Result<Tx, sqlx::Error> {
        let mut conn = self.acquire().await?;
        conn.in_transaction = true;
        let mut tx = Tx { conn: Some(conn) };
        tx.conn_mut().run("BEGIN").await?;
        Ok(tx)
    }

    /// Closes the idle connections and refuses new ones; connections in use are closed as they
    /// come back.
    pub(crate) async fn close(&self) {
        self.0.permits.close();
        let idle = std::mem::take(&mut *self.0.lock_idle());
        for Idle { conn, .. } in idle {
            tokio::time::timeout(CLOSE_LIMIT, conn.close()).await.ok();
        }
    }
}

impl Inner {
    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

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

/// Closes connections off the caller's path (they say goodbye to the server), or just drops them
/// when no runtime is left.
fn close_all(conns: Vec<AnyConnection>) {
    if conns.is_empty() {
        return;
    }
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            for conn in conns {
                tokio::time::timeout(CLOSE_LIMIT, conn.close()).await.ok();
            }
        });
    }
}

/// PostgreSQL ending the session: connection exceptions (class 08), admin shutdown, crash
/// recovery, cannot connect now.
pub(crate) fn session_ended(code: &str) -> bool {
    matches!(code, "57P01" | "57P02" | "57P03") || code.starts_with("08")
}

/// Errors after which a connection is not worth keeping: lost or broken links, and PostgreSQL
/// ending the session.
fn broken(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| session_ended(&code)),
        _ => false,
    }
}

impl Conn {
    /// Marks the connection as inside a transaction (see `in_transaction`) or out of it.
    pub(crate) fn set_in_transaction(&mut self, inside: bool) {
        self.in_transaction = inside;
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
            self.broken = true;
        }
        result
    }

    /// Rolls back whatever transaction the connection may be in. One that can't say, within
    /// `CLOSE_LIMIT`, that it is out of it stays marked as inside and is closed when dropped.
    pub(crate) async fn end_transaction(&mut self) {
        let rollback = async {
            match self.run("ROLLBACK").await {
                Ok(()) => true,
                // SQLite may have ended it already, after some errors.
                Err(e) => e.to_string().contains(NO_TRANSACTION),
            }
        };
        if let Ok(true) = tokio::time::timeout(CLOSE_LIMIT, rollback).await {
            self.in_transaction = false;
        }
    }
}

impl Deref for Conn {
    type Target = AnyConnection;

    #[allow(clippy::expect_used)]
    fn deref(&self) -> &AnyConnection {
        // Only `drop` takes it.
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
        let Some(conn) = self.conn.take() else {
            return;
        };
        if self.broken {
            return;
        }
        if self.in_transaction {
            close_all(vec![conn]);
            return;
        }
        let mut idle = self.pool.lock_idle();
        // Checked under the lock, which `close` takes after closing the permits.
        if self.pool.permits.is_closed() {
            drop(idle);
            close_all(vec![conn]);
            return;
        }
        // The oldest are at the start; those idle too long go.
        let stale = idle.iter().take_while(|i| i.since.elapsed() > IDLE_LIMIT).count();
        let stale: Vec<_> = idle.drain(..stale).map(|i| i.conn).collect();
        idle.push(Idle {
            conn,
            since: Instant::now(),
            unsettled: self.busy,
        });
        drop(idle);
        close_all(stale);
    }
}

/// A transaction: committed by [`Tx::commit`], rolled back if dropped before.
#[derive(Debug)]
pub(crate) struct Tx {
    conn: Option<Conn>,
}

impl Tx {
    #[allow(clippy::expect_used)]
    fn conn_mut(&mut self) -> &mut Conn {
        self.conn
            .as_mut()
            .expect("a transaction has its connection until it ends")
    }

    /// Commits. The connection stays with the transaction until `COMMIT` is answered, so a
    /// caller dropped meanwhile still ends in a rollback (harmless after a commit).
    pub(crate) async fn commit(mut self) -> Result<(), sqlx::Error> {
        let conn = self.conn_mut();
        let committed = conn.run("COMMIT").await;
        if committed.is_ok() {
            conn.in_transaction = false;
            self.conn = None;
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
    fn deref_mut(&mut self) -> &mut AnyConnection {
        self.conn_mut()
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        // Back to the pool only once the transaction is over. If the task never runs (the
        // runtime is ending), the connection, still marked as in a transaction, is closed.
        if !conn.broken
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                conn.end_transaction().await;
            });
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
            conn.busy = true;
            let results: Result<Vec<_>, sqlx::Error> = pool
                .within(conn.fetch_many(query).try_collect())
                .await
                .ok_or(sqlx::Error::PoolTimedOut)?;
            conn.busy = false;
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
            conn.busy = true;
            let row = pool
                .within(conn.fetch_optional(query))
                .await
                .ok_or(sqlx::Error::PoolTimedOut)?;
            conn.busy = false;
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
            conn.busy = true;
            let statement = pool
                .within(conn.prepare_with(sql, parameters))
                .await
                .ok_or(sqlx::Error::PoolTimedOut)?;
            conn.busy = false;
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
            conn.busy = true;
            let described = pool.within(conn.describe(sql)).await.ok_or(sqlx::Error::PoolTimedOut)?;
            conn.busy = false;
            conn.settle(described)
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::testing::TestDb;
    use std::str::FromStr;

    async fn pool(max: u32) -> (TestDb, Pool) {
        let db = TestDb::new().await;
        db.store().await.close().await;
        let pool = another(&db, max);
        (db, pool)
    }

    fn another(db: &TestDb, max: u32) -> Pool {
        with_settings(
            db,
            PoolSettings {
                max_connections: max,
                ..crate::testing::TEST_POOL
            },
        )
    }

    fn with_settings(db: &TestDb, settings: PoolSettings) -> Pool {
        sqlx::any::install_default_drivers();
        Pool::new(AnyConnectOptions::from_str(&db.url).unwrap(), db.backend, settings)
    }

    /// Polls a future once and drops it: the caller went away while it waited for an answer.
    fn abandon<F: std::future::Future>(future: F) {
        let mut future = std::pin::pin!(future);
        let waker = std::task::Waker::noop();
        let _ = future.as_mut().poll(&mut std::task::Context::from_waker(waker));
    }

    async fn reserve(pool: &Pool, handle: &str) {
        sqlx::query("INSERT INTO nic_handles (handle, reserved_at) VALUES ($1, 1)")
            .bind(handle)
            .execute(pool)
            .await
            .unwrap();
    }

    /// The reserved NIC handles, in order (the tables of this module's and the batch's tests).
    pub(crate) async fn handles(pool: &Pool) -> Vec<String> {
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_transaction_abandoned_in_begin_or_commit_leaves_no_connection_inside_it() {
        let (db, pool) = pool(1).await;
        let mut committed = Vec::new();
        for round in 0..10 {
            abandon(pool.begin());
            // Had the connection come back inside that transaction, this write would stay in it.
            reserve(&pool, &format!("after-begin-{round}")).await;
            let mut tx = pool.begin().await.unwrap();
            sqlx::query("INSERT INTO nic_handles (handle, reserved_at) VALUES ($1, 1)")
                .bind(format!("in-tx-{round}"))
                .execute(&mut *tx)
                .await
                .unwrap();
            abandon(tx.commit());
            reserve(&pool, &format!("after-commit-{round}")).await;
            committed.extend([format!("after-begin-{round}"), format!("after-commit-{round}")]);
        }
        // Another connection sees every write that was answered as done.
        let seen = handles(&another(&db, 1)).await;
        for handle in committed {
            assert!(seen.contains(&handle), "{handle} is committed: {seen:?}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_statement_abandoned_midway_has_its_connection_checked_before_the_next_use() {
        let (_db, pool) = pool(1).await;
        reserve(&pool, "first-ovh").await;
        // Slow enough (a few milliseconds of counting) that the first poll can't see it end.
        let slow = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) \
                    SELECT count(*) FROM c";
        abandon(sqlx::query(slow).fetch_one(&pool));
        let unsettled = |pool: &Pool| pool.0.lock_idle().iter().map(|i| i.unsettled).collect::<Vec<_>>();
        // Dropped on its first poll, after the pool had handed it a connection.
        assert_eq!(unsettled(&pool), [true]);
        // The next user gets it pinged (so answered in full) and gets its own answer.
        let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM nic_handles")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(count, 1);
        assert_eq!(unsettled(&pool), [false]);
    }

    #[tokio::test]
    async fn a_full_pool_times_out_and_a_returned_connection_is_taken_again() {
        let (db, _) = pool(1).await;
        let pool = with_settings(
            &db,
            PoolSettings {
                max_connections: 1,
                acquire_timeout: Duration::from_millis(200),
                ..crate::testing::TEST_POOL
            },
        );
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

    #[tokio::test]
    async fn a_statement_past_its_timeout_gives_up_and_its_connection_is_checked_before_reuse() {
        let (db, _) = pool(1).await;
        let pool = with_settings(
            &db,
            PoolSettings {
                max_connections: 1,
                statement_timeout: Duration::from_millis(1),
                ..crate::testing::TEST_POOL
            },
        );
        // Counting this far takes far longer than a millisecond on either backend.
        let slow = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) \
                    SELECT count(*) FROM c";
        let answer = sqlx::query(slow).fetch_one(&pool).await.map(drop);
        assert!(matches!(answer, Err(sqlx::Error::PoolTimedOut)), "{answer:?}");
        let unsettled = pool.0.lock_idle().iter().map(|i| i.unsettled).collect::<Vec<_>>();
        assert_eq!(unsettled, [true], "kept, to be checked first");
        // The next user waits out the abandoned count (the ping queues behind it), then works.
        let conn = pool.acquire().await.unwrap();
        drop(conn);
        assert_eq!(
            pool.0.lock_idle().iter().map(|i| i.unsettled).collect::<Vec<_>>(),
            [false]
        );
    }
}
