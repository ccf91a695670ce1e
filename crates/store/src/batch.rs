//! Writes that commit together, sent to the database as one unit.
//!
//! sqlx's SQLite driver runs each connection on a thread of its own and hands it every statement
//! and the answer back: two thread wake-ups a statement, more for `BEGIN` and `COMMIT`, which wait
//! for their acknowledgement. On two cores busy hashing passwords, those wake-ups cost more than
//! the statements (docs/benchmarks.md); on PostgreSQL each statement is a round trip. So a batch
//! goes as one text, its statements' `$N` parameters renumbered into one list: on SQLite the
//! statements one after the other (with their own `BEGIN IMMEDIATE` and `COMMIT` when the batch
//! is its own transaction); on PostgreSQL, whose extended protocol takes one statement at a time,
//! one statement whose `WITH` clauses hold all but the last, which PostgreSQL runs exactly once
//! each, atomically.
//!
//! So the statements of a batch must not depend on one another's effects, nor touch the same
//! row twice: on PostgreSQL they share one snapshot and run in no set order.

use crate::{Backend, SqlStore, db_error};
use sesame_core::ports::StoreError;
use sqlx::{Any, AnyConnection, AssertSqlSafe, Database, Sqlite};

/// A parameter of a batched statement, owned so that a batch can outlive its caller.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    Text(Option<String>),
    Int(Option<i64>),
    Bytes(Option<Vec<u8>>),
}

impl From<String> for Arg {
    fn from(v: String) -> Self {
        Self::Text(Some(v))
    }
}

impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Self::Text(Some(v.to_owned()))
    }
}

impl From<&String> for Arg {
    fn from(v: &String) -> Self {
        Self::Text(Some(v.clone()))
    }
}

impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Self::Text(v)
    }
}

impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Self {
        Self::Text(v.map(str::to_owned))
    }
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Self::Int(Some(v))
    }
}

impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        Self::Int(v)
    }
}

impl From<Vec<u8>> for Arg {
    fn from(v: Vec<u8>) -> Self {
        Self::Bytes(Some(v))
    }
}

#[derive(Debug)]
struct Statement {
    sql: &'static str,
    args: Vec<Arg>,
}

/// Statements to run together, in order.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    statements: Vec<Statement>,
}

type Query = sqlx::query::Query<'static, Any, sqlx::any::AnyArguments>;

fn bind(mut query: Query, args: Vec<Arg>) -> Query {
    for arg in args {
        query = match arg {
            Arg::Text(v) => query.bind(v),
            Arg::Int(v) => query.bind(v),
            Arg::Bytes(v) => query.bind(v),
        };
    }
    query
}

/// `sql` with each `$N` raised by `offset`. Sesame's statements hold no `$` but in parameters.
fn renumber(sql: &str, offset: usize, out: &mut String) {
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        match rest[..digits].parse::<usize>() {
            Ok(n) => out.push_str(&(n + offset).to_string()),
            Err(_) => out.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
}

impl Batch {
    /// Adds a statement; its parameters are `$1`, `$2`… in its own numbering.
    pub(crate) fn push<const N: usize>(&mut self, sql: &'static str, args: [Arg; N]) {
        self.statements.push(Statement { sql, args: args.into() });
    }

    /// The statements as one text for `backend`, and their parameters in order.
    fn text(self, backend: Backend) -> (String, Vec<Arg>) {
        let (mut sql, mut args) = (String::new(), Vec::new());
        let last = self.statements.len().saturating_sub(1);
        for (i, statement) in self.statements.into_iter().enumerate() {
            match backend {
                Backend::Sqlite => {
                    renumber(statement.sql, args.len(), &mut sql);
                    sql.push_str(";\n");
                }
                Backend::Postgres if i < last => {
                    sql.push_str(if i == 0 { "WITH " } else { ", " });
                    sql.push_str(&format!("s{i} AS ("));
                    renumber(statement.sql, args.len(), &mut sql);
                    sql.push_str(")\n");
                }
                Backend::Postgres => renumber(statement.sql, args.len(), &mut sql),
            }
            args.extend(statement.args);
        }
        (sql, args)
    }

    fn query(sql: String, args: Vec<Arg>) -> Query {
        bind(sqlx::query(AssertSqlSafe(sql)), args)
    }

    /// Runs the statements on a connection inside the caller's transaction, which commits them.
    pub(crate) async fn run(self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        if self.statements.is_empty() {
            return Ok(());
        }
        let backend = if conn.backend_name() == Sqlite::NAME {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let (sql, args) = self.text(backend);
        Self::query(sql, args).execute(conn).await.map_err(db_error)?;
        Ok(())
    }

    /// Runs the statements as a transaction of their own: all of them, or none.
    pub(crate) async fn commit(self, store: &SqlStore) -> Result<(), StoreError> {
        if self.statements.is_empty() {
            return Ok(());
        }
        // One statement (PostgreSQL's is always one) is atomic by itself.
        if store.backend == Backend::Postgres || self.statements.len() == 1 {
            let (sql, args) = self.text(store.backend);
            Self::query(sql, args).execute(&store.pool).await.map_err(db_error)?;
            return Ok(());
        }
        // On a task of its own: a caller dropped halfway (a client that hung up) would stop the
        // connection's thread between BEGIN and COMMIT and send the connection back to the pool
        // inside a transaction that no one ends.
        let pool = store.pool.clone();
        let (sql, args) = self.text(Backend::Sqlite);
        let work = tokio::spawn(async move {
            let mut conn = pool.acquire().await.map_err(db_error)?;
            let batch = Self::query(format!("BEGIN IMMEDIATE;\n{sql}COMMIT;"), args);
            conn.set_in_transaction(true);
            let Err(err) = batch.execute(&mut *conn).await else {
                conn.set_in_transaction(false);
                return Ok(());
            };
            // A statement failed: undo the ones before it. A connection that can't say its
            // transaction is over is closed, not pooled.
            conn.end_transaction().await;
            Err(db_error(err))
        });
        work.await.map_err(|e| StoreError::Internal(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::tests::handles;
    use crate::testing::TestDb;

    const INSERT: &str = "INSERT INTO nic_handles (handle, reserved_at) VALUES ($1, $2)";

    fn reserve(batch: &mut Batch, handle: &str) {
        batch.push(INSERT, [handle.into(), 7_i64.into()]);
    }

    /// Another write goes through: no connection was left holding a transaction (on SQLite it
    /// would hold the write lock, and this would fail once the busy timeout ran out).
    async fn still_writable(store: &SqlStore, handle: &str) {
        for _ in 0..crate::testing::TEST_POOL.max_connections {
            let mut batch = Batch::default();
            reserve(&mut batch, &format!("{handle}-{}", uuid::Uuid::new_v4()));
            reserve(&mut batch, &format!("{handle}-{}", uuid::Uuid::new_v4()));
            batch.commit(store).await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_batch_commits_all_its_statements_with_their_own_parameters() {
        let db = TestDb::new().await;
        let store = db.store().await;
        let mut batch = Batch::default();
        reserve(&mut batch, "aa1-ovh");
        batch.push(
            "INSERT INTO nic_handles (handle, reserved_at) VALUES ($2, $1)",
            [8_i64.into(), "bb2-ovh".into()],
        );
        reserve(&mut batch, "cc3-ovh");
        batch.commit(&store).await.unwrap();
        let rows: Vec<(String, i64)> = sqlx::query_as("SELECT handle, reserved_at FROM nic_handles ORDER BY handle")
            .fetch_all(&store.pool)
            .await
            .unwrap();
        assert_eq!(
            rows,
            [("aa1-ovh".into(), 7), ("bb2-ovh".into(), 8), ("cc3-ovh".into(), 7)]
        );
    }

    #[tokio::test]
    async fn a_failing_statement_undoes_the_batch_and_frees_the_connection() {
        let db = TestDb::new().await;
        let store = db.store().await;
        let mut first = Batch::default();
        reserve(&mut first, "taken-ovh");
        first.commit(&store).await.unwrap();

        let mut batch = Batch::default();
        reserve(&mut batch, "before-ovh");
        reserve(&mut batch, "taken-ovh");
        reserve(&mut batch, "after-ovh");
        let err = batch.commit(&store).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        assert_eq!(handles(&store.pool).await, ["taken-ovh"]);
        still_writable(&store, "next").await;
    }

    /// Two reservations with a slow statement between them (a few milliseconds of counting).
    fn slow_pair(batch: &mut Batch, round: u32) {
        let first = format!("x{round:02}a-ovh");
        reserve(batch, &first);
        batch.push(
            "UPDATE nic_handles SET reserved_at = (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c \
             WHERE x < 100000) SELECT count(*) FROM c) WHERE handle = $1",
            [first.into()],
        );
        reserve(batch, &format!("x{round:02}b-ovh"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_caller_that_goes_away_leaves_all_or_nothing_and_no_open_transaction() {
        let db = TestDb::new().await;
        let store = db.store().await;
        const ROUNDS: u32 = 40;
        let mut batch = Batch::default();
        slow_pair(&mut batch, ROUNDS);
        let started = std::time::Instant::now();
        batch.commit(&store).await.unwrap();
        let whole = started.elapsed();
        // Dropped after a growing share of what the whole batch took, so that some rounds stop
        // before it is sent, some in the middle, some after: the client hung up mid-login.
        for round in 0..ROUNDS {
            let mut batch = Batch::default();
            slow_pair(&mut batch, round);
            if let Ok(done) = tokio::time::timeout(whole * round / ROUNDS, batch.commit(&store)).await {
                // Not "cannot start a transaction within a transaction": no connection came
                // back from an earlier round inside its transaction.
                assert!(done.is_ok(), "round {round}: {done:?}");
            }
        }
        still_writable(&store, "next").await;
        let names = handles(&store.pool).await;
        for round in 0..ROUNDS {
            let a = names.contains(&format!("x{round:02}a-ovh"));
            let b = names.contains(&format!("x{round:02}b-ovh"));
            assert_eq!(a, b, "round {round}: all or nothing");
        }
    }

    fn renumbered(sql: &str, offset: usize) -> String {
        let mut out = String::new();
        renumber(sql, offset, &mut out);
        out
    }

    #[test]
    fn a_batch_is_one_text_on_either_backend() {
        let batch = || {
            let mut batch = Batch::default();
            batch.push("INSERT INTO a (x, y) VALUES ($1, $2)", [1_i64.into(), "y".into()]);
            batch.push("INSERT INTO b (z) VALUES ($1)", [None::<i64>.into()]);
            batch.push("UPDATE c SET x = $2 WHERE y = $1", ["k".into(), 3_i64.into()]);
            batch
        };
        let args = vec![
            Arg::Int(Some(1)),
            Arg::Text(Some("y".into())),
            Arg::Int(None),
            Arg::Text(Some("k".into())),
            Arg::Int(Some(3)),
        ];
        assert_eq!(
            batch().text(Backend::Sqlite),
            (
                "INSERT INTO a (x, y) VALUES ($1, $2);\nINSERT INTO b (z) VALUES ($3);\nUPDATE c SET x = $5 WHERE y = $4;\n"
                    .to_owned(),
                args.clone()
            )
        );
        assert_eq!(
            batch().text(Backend::Postgres),
            (
                "WITH s0 AS (INSERT INTO a (x, y) VALUES ($1, $2))\n, s1 AS (INSERT INTO b (z) VALUES ($3))\n\
                 UPDATE c SET x = $5 WHERE y = $4"
                    .to_owned(),
                args
            )
        );
    }

    #[test]
    fn parameters_are_renumbered_after_the_statements_before() {
        assert_eq!(
            renumbered("INSERT INTO t (a, b, c) VALUES ($1, $2, $1) -- $10", 9),
            "INSERT INTO t (a, b, c) VALUES ($10, $11, $10) -- $19"
        );
        assert_eq!(renumbered("SELECT 1", 3), "SELECT 1");
        assert_eq!(renumbered("a $ b $x $", 2), "a $ b $x $");
    }
}
