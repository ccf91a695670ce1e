//! The session port (SESS-1, SESS-2, SESS-5): rows keyed by the token's SHA-256.
//! Known devices (RISK-2) live here too: browsers that logged in before, by their id's hash.

use crate::{SqlStore, db_error, from_micros, micros, opt_from_micros, parse_uuid};
use async_trait::async_trait;
use sesame_core::audit::AuditEvent;
use sesame_core::mail::ComposedMail;
use sesame_core::ports::{LiveSession, NewSession, SessionRecord, SessionStore, StoreError};
use sesame_core::types::{AccountId, Email};
use sqlx::{Any, Executor, Row};
use time::OffsetDateTime;
use uuid::Uuid;

/// Ends every live session of an account inside the caller's transaction.
pub(crate) async fn end_all<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    account: AccountId,
    now: OffsetDateTime,
) -> Result<u64, StoreError> {
    let done = sqlx::query("UPDATE sessions SET ended_at = $1 WHERE account_id = $2 AND ended_at IS NULL")
        .bind(micros(now))
        .bind(account.0.to_string())
        .execute(exec)
        .await
        .map_err(db_error)?;
    Ok(done.rows_affected())
}

const SESSION_COLUMNS: &str =
    "id, account_id, token_hash, created_at, last_seen_at, authenticated_at, ip, user_agent, ended_at, second_factor";

fn session_from_row(row: &sqlx::any::AnyRow) -> Result<SessionRecord, StoreError> {
    prefixed_session(row, "")
}

/// A session from columns named with a prefix (`s_id`, … in a join with `accounts`).
fn prefixed_session(row: &sqlx::any::AnyRow, prefix: &str) -> Result<SessionRecord, StoreError> {
    let column = |name: &str| format!("{prefix}{name}");
    let text = |name: &str| row.try_get::<String, _>(column(name).as_str()).map_err(db_error);
    let time = |name: &str| {
        row.try_get::<i64, _>(column(name).as_str())
            .map_err(db_error)
            .and_then(from_micros)
    };
    let get = |name: &str| {
        row.try_get::<Option<String>, _>(column(name).as_str())
            .map_err(db_error)
    };
    Ok(SessionRecord {
        id: parse_uuid(&text("id")?)?,
        account_id: AccountId(parse_uuid(&text("account_id")?)?),
        token_hash: row.try_get(column("token_hash").as_str()).map_err(db_error)?,
        created_at: time("created_at")?,
        last_seen_at: time("last_seen_at")?,
        authenticated_at: time("authenticated_at")?,
        ip: get("ip")?,
        user_agent: get("user_agent")?,
        ended_at: opt_from_micros(row.try_get(column("ended_at").as_str()).map_err(db_error)?)?,
        second_factor: get("second_factor")?,
    })
}

/// SESS-2's check on every request: the live session of a token hash (`$1`), its account and
/// the backup email waiting for its code at `$2`, in one query by the unique index on
/// `token_hash` (and `email_changes`' index on account and target).
static LIVE_SESSION_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let session = SESSION_COLUMNS
        .split(", ")
        .map(|c| format!("s.{c} AS s_{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let open = crate::recovery::open_change("ec", "$2");
    let backup = sesame_core::recovery::EmailTarget::Backup.as_str();
    format!(
        "SELECT a.*, {session}, pb.email AS pb_email, pb.email_canonical AS pb_canonical \
         FROM sessions s JOIN accounts a ON a.id = s.account_id \
         LEFT JOIN email_changes pb ON pb.id = (SELECT ec.id FROM email_changes ec \
         WHERE ec.account_id = a.id AND ec.target = '{backup}' AND {open} ORDER BY ec.created_at DESC LIMIT 1) \
         WHERE s.token_hash = $1 AND s.ended_at IS NULL"
    )
});

#[async_trait]
impl SessionStore for SqlStore {
    async fn create_session(&self, new: NewSession<'_>) -> Result<(), StoreError> {
        // One batch: on SQLite, one hand-off to the connection's thread for the whole login.
        let s = new.session;
        let account = s.account_id.0.to_string();
        let mut batch = crate::closing_batch(new.secrets, Some(new.audit), new.mails);
        batch.push(
            "INSERT INTO sessions (id, account_id, token_hash, created_at, last_seen_at, authenticated_at, ip, user_agent, \
             second_factor) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            [
                s.id.to_string().into(),
                (&account).into(),
                s.token_hash.clone().into(),
                micros(s.created_at).into(),
                micros(s.last_seen_at).into(),
                micros(s.authenticated_at).into(),
                s.ip.as_deref().into(),
                s.user_agent.as_deref().into(),
                s.second_factor.as_deref().into(),
            ],
        );
        if let Some(device_hash) = new.device_hash {
            batch.push(
                "INSERT INTO known_devices (account_id, device_hash, created_at, last_seen_at) VALUES ($1, $2, $3, $3) \
                 ON CONFLICT (account_id, device_hash) DO UPDATE SET last_seen_at = $3",
                [
                    (&account).into(),
                    device_hash.to_vec().into(),
                    micros(s.created_at).into(),
                ],
            );
        }
        if let Some(network) = new.network {
            batch.push(
                "INSERT INTO login_networks (account_id, network, last_seen_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (account_id, network) DO UPDATE SET last_seen_at = $3",
                [(&account).into(), network.into(), micros(s.created_at).into()],
            );
        }
        for (scope, key) in new.counters {
            batch.push(
                "DELETE FROM throttle_counters WHERE scope = $1 AND key = $2",
                [(*scope).into(), (*key).into()],
            );
        }
        batch.commit(self).await
    }

    async fn find_session(&self, token_hash: &[u8]) -> Result<Option<SessionRecord>, StoreError> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE token_hash = $1 AND ended_at IS NULL");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token_hash.to_vec())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn find_live_session(
        &self,
        token_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<LiveSession>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(LIVE_SESSION_SQL.as_str()))
            .bind(token_hash.to_vec())
            .bind(micros(now))
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        let Some(row) = row else { return Ok(None) };
        let pending = row.try_get::<Option<String>, _>("pb_email").map_err(db_error)?;
        let canonical = row.try_get::<Option<String>, _>("pb_canonical").map_err(db_error)?;
        Ok(Some(LiveSession {
            session: prefixed_session(&row, "s_")?,
            account: crate::accounts::account_from_row(&row)?,
            pending_backup: pending
                .zip(canonical)
                .map(|(email, canonical)| Email::from_stored(email, canonical)),
        }))
    }

    fn generation(&self) -> u64 {
        self.generations.any.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn account_generation(&self, account: AccountId) -> u64 {
        self.generations.accounts[crate::Generations::stripe(account)].load(std::sync::atomic::Ordering::SeqCst)
    }

    async fn touch_session(&self, id: Uuid, now: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND ended_at IS NULL AND last_seen_at < $1")
            .bind(micros(now))
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn end_session(&self, id: Uuid, now: OffsetDateTime, audit: &AuditEvent) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let ended = sqlx::query("UPDATE sessions SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL")
            .bind(micros(now))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?
            .rows_affected();
        if ended == 0 {
            return Ok(false);
        }
        crate::commit_with(tx, audit, &[]).await?;
        match audit.account_id {
            Some(account) => self.changed(account),
            None => self.changed_all(),
        }
        Ok(true)
    }

    async fn end_all_sessions(
        &self,
        account: AccountId,
        audit: &AuditEvent,
        mails: &[ComposedMail],
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let ended = crate::recovery::take_back(&mut tx, account, audit.at).await?;
        crate::commit_with(tx, audit, mails).await?;
        self.changed(account);
        Ok(ended)
    }

    async fn live_sessions(&self, account: AccountId) -> Result<Vec<SessionRecord>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE account_id = $1 AND ended_at IS NULL \
             ORDER BY created_at DESC, id DESC LIMIT 200"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account.0.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter().map(session_from_row).collect()
    }

    async fn end_other_sessions(
        &self,
        account: AccountId,
        keep: Uuid,
        now: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let ended =
            sqlx::query("UPDATE sessions SET ended_at = $1 WHERE account_id = $2 AND id <> $3 AND ended_at IS NULL")
                .bind(micros(now))
                .bind(account.0.to_string())
                .bind(keep.to_string())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?
                .rows_affected();
        crate::commit_with(tx, audit, &[]).await?;
        self.changed(account);
        Ok(ended)
    }
}

#[async_trait]
impl sesame_core::ports::KnownDeviceStore for SqlStore {
    async fn known_devices(&self, account: AccountId) -> Result<Vec<sesame_core::ports::KnownDevice>, StoreError> {
        let rows = sqlx::query(
            "SELECT device_hash, created_at, last_seen_at FROM known_devices WHERE account_id = $1 \
             ORDER BY last_seen_at DESC LIMIT 200",
        )
        .bind(account.0.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|r| {
                Ok(sesame_core::ports::KnownDevice {
                    device_hash: r.try_get("device_hash").map_err(db_error)?,
                    created_at: from_micros(r.try_get("created_at").map_err(db_error)?)?,
                    last_seen_at: from_micros(r.try_get("last_seen_at").map_err(db_error)?)?,
                })
            })
            .collect()
    }

    async fn forget_device(
        &self,
        account: AccountId,
        device_hash: &[u8],
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let gone = sqlx::query("DELETE FROM known_devices WHERE account_id = $1 AND device_hash = $2")
            .bind(account.0.to_string())
            .bind(device_hash.to_vec())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?
            .rows_affected();
        if gone == 0 {
            return Ok(false);
        }
        crate::commit_with(tx, audit, &[]).await?;
        Ok(true)
    }

    async fn network_seen_since(
        &self,
        account: AccountId,
        network: &str,
        since: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let found = sqlx::query(
            "SELECT network FROM login_networks WHERE account_id = $1 AND network = $2 AND last_seen_at >= $3",
        )
        .bind(account.0.to_string())
        .bind(network)
        .bind(micros(since))
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(found.is_some())
    }

    async fn is_known_device(&self, account: AccountId, device_hash: &[u8]) -> Result<bool, StoreError> {
        let found = sqlx::query("SELECT account_id FROM known_devices WHERE account_id = $1 AND device_hash = $2")
            .bind(account.0.to_string())
            .bind(device_hash.to_vec())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(found.is_some())
    }
}
