//! Test databases: a fresh SQLite file or a fresh PostgreSQL database per test, chosen by
//! `SESAME_TEST_BACKEND` (`sqlite`, the default, or `postgres`). The README's test command runs
//! the whole suite once per backend; for PostgreSQL it starts a throwaway cluster and sets
//! `SESAME_TEST_POSTGRES_URL` to its admin URL.

use crate::{Backend, PoolSettings, SqlStore};
use std::time::Duration;

/// A database that exists for one test.
#[derive(Debug)]
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
}

/// Pool settings for tests: small, and quick to give up when the database is gone.
pub const TEST_POOL: PoolSettings = PoolSettings {
    max_connections: 8,
    acquire_timeout: Duration::from_secs(3),
    statement_timeout: Duration::from_secs(10),
};

impl TestDb {
    /// A new, empty database on the backend this test run targets.
    ///
    /// # Panics
    /// When the backend can't be prepared: a test can't go on without its database.
    #[allow(clippy::panic, clippy::expect_used)]
    pub async fn new() -> Self {
        match std::env::var("SESAME_TEST_BACKEND").as_deref() {
            Ok("postgres") => {
                let admin = std::env::var("SESAME_TEST_POSTGRES_URL")
                    .expect("SESAME_TEST_BACKEND=postgres needs SESAME_TEST_POSTGRES_URL");
                let name = format!("t_{}", uuid::Uuid::new_v4().simple());
                let store = SqlStore::open(&admin, TEST_POOL)
                    .await
                    .expect("connect to the PostgreSQL admin database");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&store.pool)
                    .await
                    .expect("create a test database");
                store.close().await;
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base);
                Self {
                    url: format!("{base}/{name}"),
                    backend: Backend::Postgres,
                    _dir: None,
                }
            }
            Ok("sqlite") | Err(_) => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("sesame.db").display());
                Self {
                    url,
                    backend: Backend::Sqlite,
                    _dir: Some(dir),
                }
            }
            Ok(other) => panic!("unknown SESAME_TEST_BACKEND {other:?}"),
        }
    }

    /// Opens the test database and applies the migrations.
    #[allow(clippy::expect_used)]
    pub async fn store(&self) -> SqlStore {
        let store = SqlStore::open(&self.url, TEST_POOL)
            .await
            .expect("open the test database");
        store.migrate().await.expect("migrate the test database");
        store
    }
}

/// The stored text of an SMS, `None` once cleared (MFA-4: a code must not linger).
///
/// # Panics
/// When the text is not in the outbox.
#[allow(clippy::expect_used)]
pub async fn stored_sms_text(store: &SqlStore, id: uuid::Uuid) -> Option<String> {
    sqlx::query_scalar::<_, Option<String>>("SELECT body FROM sms_outbox WHERE id = $1")
        .bind(id.to_string())
        .fetch_one(&store.pool)
        .await
        .expect("the text is in the SMS outbox")
}

/// Moves an account to another subsidiary (as support does for a customer who moved country), so
/// a test can watch what its second factors become there.
///
/// # Panics
/// When the database refuses the update: the test can't go on.
#[allow(clippy::expect_used)]
pub async fn move_to_subsidiary(store: &SqlStore, account: uuid::Uuid, subsidiary: &str) {
    sqlx::query("UPDATE accounts SET subsidiary = $1 WHERE id = $2")
        .bind(subsidiary)
        .bind(account.to_string())
        .execute(&store.pool)
        .await
        .expect("the account is updated");
    store.changed(sesame_core::types::AccountId(account));
}

/// Rewrites an account's stored email as an older version would have stored it, and forgets that
/// the start-up data migrations ran, so a test can watch them run on old data.
///
/// # Panics
/// When the database refuses the update: the test can't go on.
#[allow(clippy::expect_used)]
pub async fn store_email_as_before(store: &SqlStore, account: uuid::Uuid, address: &str, canonical: &str) {
    sqlx::query("UPDATE accounts SET email = $1, email_canonical = $2 WHERE id = $3")
        .bind(address)
        .bind(canonical)
        .bind(account.to_string())
        .execute(&store.pool)
        .await
        .expect("the account is updated");
    sqlx::query("DELETE FROM data_migrations")
        .execute(&store.pool)
        .await
        .expect("the data migrations are forgotten");
}

/// Gives an account a verified backup email directly, as if its code had come back (RECOVER-3),
/// for tests of what comes after (the operator's promotion).
///
/// # Panics
/// When the database refuses the update: the test can't go on.
#[allow(clippy::expect_used)]
pub async fn store_verified_backup_email(store: &SqlStore, account: uuid::Uuid, address: &str) {
    sqlx::query("UPDATE accounts SET backup_email = $1, backup_email_canonical = $2 WHERE id = $3")
        .bind(address)
        .bind(address.to_lowercase())
        .bind(account.to_string())
        .execute(&store.pool)
        .await
        .expect("the account is updated");
}

/// Every recipient in the mail outbox, sent or not (MAIL-1: a change's mail is written with it).
///
/// # Panics
/// When the outbox can't be read: the test can't go on.
#[allow(clippy::expect_used)]
pub async fn outbox_recipients(store: &SqlStore) -> Vec<String> {
    sqlx::query_scalar::<_, String>("SELECT recipient FROM outbox")
        .fetch_all(&store.pool)
        .await
        .expect("the outbox is readable")
}

/// The text bodies the outbox still holds (MAIL-1: a code or a link is cleared once sent).
///
/// # Panics
/// When the outbox can't be read: the test can't go on.
#[allow(clippy::expect_used)]
pub async fn outbox_bodies(store: &SqlStore) -> Vec<String> {
    sqlx::query_scalar::<_, String>("SELECT body_text FROM outbox WHERE body_text IS NOT NULL")
        .fetch_all(&store.pool)
        .await
        .expect("the outbox is readable")
}

/// The details of the audit events of `kind` that name no account (an agent's access).
///
/// # Panics
/// When the log can't be read: the test can't go on.
#[allow(clippy::expect_used)]
pub async fn unattached_events(store: &SqlStore, kind: &str) -> Vec<String> {
    sqlx::query_scalar::<_, String>(
        "SELECT detail FROM audit_events WHERE account_id IS NULL AND kind = $1 AND detail IS NOT NULL",
    )
    .bind(kind)
    .fetch_all(&store.pool)
    .await
    .expect("the audit log is readable")
}
