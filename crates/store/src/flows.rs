//! The flow and throttle ports: persisted multi-step flows (no flow state in a node's memory) and
//! windowed counters shared by every node (sign-up limits today, RISK-2 and MFA-7 later).

use crate::{SqlStore, db_error, from_micros, micros, opt_from_micros, parse_uuid};
use async_trait::async_trait;
use sesame_core::audit::AuditEvent;
use sesame_core::mail::ComposedMail;
use sesame_core::ports::{CounterKey, FlowRecord, FlowStore, FlowUpdate, OneTimeSecret, StoreError, ThrottleStore};
use sesame_core::types::AccountId;
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::HashMap;
use time::OffsetDateTime;
use uuid::Uuid;

/// Ends the account's login flows still open (a second step or an emailed code waiting): after a
/// new password, or a device that changes what a login must prove, a flow begun before must start
/// again from the password.
pub(crate) async fn end_login_flows(
    tx: &mut crate::pool::Tx,
    account: AccountId,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    // Live flows only, found by the expiry index (the table keeps ended ones a day).
    sqlx::query(
        "UPDATE flows SET completed_at = $1 WHERE expires_at > $1 AND account_id = $2 AND kind = $3 \
         AND completed_at IS NULL",
    )
    .bind(micros(now))
    .bind(account.0.to_string())
    .bind(sesame_core::flow::FlowKind::Login.as_str())
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok(())
}

#[async_trait]
impl FlowStore for SqlStore {
    async fn create_flow(
        &self,
        f: &FlowRecord,
        secrets: &[OneTimeSecret],
        mails: &[ComposedMail],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        sqlx::query(
            "INSERT INTO flows (id, kind, account_id, state, version, attempts, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(f.id.to_string())
        .bind(&f.kind)
        .bind(f.account_id.map(|a| a.0.to_string()))
        .bind(&f.state)
        .bind(f.version)
        .bind(f.attempts)
        .bind(micros(f.created_at))
        .bind(micros(f.expires_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        crate::secrets_and_mails(&mut tx, secrets, mails).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn find_flow(&self, id: Uuid, kind: &str) -> Result<Option<FlowRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, kind, account_id, state, version, attempts, created_at, expires_at, completed_at FROM flows \
             WHERE id = $1 AND kind = $2 AND completed_at IS NULL",
        )
        .bind(id.to_string())
        .bind(kind)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.map(|row| {
            let account: Option<String> = row.try_get("account_id").map_err(db_error)?;
            Ok(FlowRecord {
                id: parse_uuid(&row.try_get::<String, _>("id").map_err(db_error)?)?,
                kind: row.try_get("kind").map_err(db_error)?,
                account_id: account.map(|a| parse_uuid(&a).map(AccountId)).transpose()?,
                state: row.try_get("state").map_err(db_error)?,
                version: row.try_get("version").map_err(db_error)?,
                attempts: row.try_get("attempts").map_err(db_error)?,
                created_at: from_micros(row.try_get("created_at").map_err(db_error)?)?,
                expires_at: from_micros(row.try_get("expires_at").map_err(db_error)?)?,
                completed_at: opt_from_micros(row.try_get("completed_at").map_err(db_error)?)?,
            })
        })
        .transpose()
    }

    async fn update_flow(&self, u: &FlowUpdate<'_>) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let changed = sqlx::query(
            "UPDATE flows SET state = $1, version = version + 1 WHERE id = $2 AND version = $3 AND completed_at IS NULL",
        )
        .bind(u.state)
        .bind(u.id.to_string())
        .bind(u.expected_version)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected();
        if changed == 0 {
            return Ok(false);
        }
        if let Some(purpose) = u.void_purpose {
            // Deleted, not marked used: a new code of this flow may draw the same digits as an
            // older one (one chance in a million), and the secrets' hashes are unique.
            sqlx::query("DELETE FROM one_time_secrets WHERE flow_id = $1 AND purpose = $2")
                .bind(u.id.to_string())
                .bind(purpose)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        crate::secrets_and_mails(&mut tx, u.secrets, u.mails).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    async fn count_flow_attempt(&self, id: Uuid, max: i64) -> Result<Option<i64>, StoreError> {
        let row =
            sqlx::query("UPDATE flows SET attempts = attempts + 1 WHERE id = $1 AND attempts < $2 RETURNING attempts")
                .bind(id.to_string())
                .bind(max)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
        row.map(|r| r.try_get::<i64, _>("attempts").map_err(db_error))
            .transpose()
    }

    async fn purge_expired_flows(&self, before: OffsetDateTime, limit: u32) -> Result<u64, StoreError> {
        self.purge_expired("flows", before, limit).await
    }
}

#[async_trait]
impl ThrottleStore for SqlStore {
    async fn hit_spaced(
        &self,
        scope: &str,
        key: &str,
        window_start: OffsetDateTime,
        now: OffsetDateTime,
        max: i64,
        gap: time::Duration,
    ) -> Result<bool, StoreError> {
        let counted = sqlx::query(
            "INSERT INTO throttle_counters (scope, key, failures, window_start, last_failure_at) \
             VALUES ($3, $4, 1, $1, $1) \
             ON CONFLICT (scope, key) DO UPDATE SET \
               failures = CASE WHEN throttle_counters.window_start < $2 THEN 1 ELSE throttle_counters.failures + 1 END, \
               window_start = CASE WHEN throttle_counters.window_start < $2 THEN $1 ELSE throttle_counters.window_start END, \
               last_failure_at = $1 \
             WHERE throttle_counters.last_failure_at <= $5 \
               AND (throttle_counters.window_start < $2 OR throttle_counters.failures < $6) \
             RETURNING failures",
        )
        .bind(micros(now))
        .bind(micros(window_start))
        .bind(scope)
        .bind(key)
        .bind(micros(now - gap))
        .bind(max)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(counted.is_some())
    }

    async fn hit_unchanged(
        &self,
        scope: &str,
        key: &str,
        seen: i64,
        now: OffsetDateTime,
    ) -> Result<Option<i64>, StoreError> {
        // No row (it was reset meanwhile): the count starts again, as a reset means.
        sqlx::query_scalar(
            "INSERT INTO throttle_counters (scope, key, failures, window_start, last_failure_at) \
             VALUES ($1, $2, 1, $3, $3) \
             ON CONFLICT (scope, key) DO UPDATE SET \
               failures = throttle_counters.failures + 1, last_failure_at = $3 \
             WHERE throttle_counters.failures = $4 \
             RETURNING failures",
        )
        .bind(scope)
        .bind(key)
        .bind(micros(now))
        .bind(seen)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)
    }

    async fn counts(
        &self,
        keys: &[(&str, &str, OffsetDateTime)],
    ) -> Result<Vec<(i64, Option<OffsetDateTime>)>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT scope, key, failures, window_start, last_failure_at FROM throttle_counters WHERE {}",
            key_conditions(keys.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (scope, key, _) in keys {
            query = query.bind(*scope).bind(*key);
        }
        let rows = query.fetch_all(&self.pool).await.map_err(db_error)?;
        let found = by_counter(&rows, |row| {
            let failures: i64 = row.try_get("failures").map_err(db_error)?;
            let started = from_micros(row.try_get("window_start").map_err(db_error)?)?;
            let last = from_micros(row.try_get("last_failure_at").map_err(db_error)?)?;
            Ok((failures, started, last))
        })?;
        Ok(keys
            .iter()
            .map(
                |(scope, key, window_start)| match found.get(&((*scope).to_owned(), (*key).to_owned())) {
                    Some(&(failures, started, last)) if started >= *window_start => (failures, Some(last)),
                    _ => (0, None),
                },
            )
            .collect())
    }

    async fn purge_idle_counters(&self, before: OffsetDateTime, keep: &[&str], limit: u32) -> Result<u64, StoreError> {
        // $1 is the cut-off, $2 the limit, then the kept scopes. The outer statement checks again,
        // so a counter counted meanwhile stays.
        let idle: String = std::iter::once("last_failure_at < $1".to_owned())
            .chain((0..keep.len()).map(|i| format!("scope <> ${}", i + 3)))
            .collect::<Vec<_>>()
            .join(" AND ");
        let sql = format!(
            "DELETE FROM throttle_counters WHERE (scope, key) IN \
             (SELECT scope, key FROM throttle_counters WHERE {idle} LIMIT $2) AND {idle}"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(micros(before))
            .bind(i64::from(limit));
        for scope in keep {
            query = query.bind(*scope);
        }
        Ok(query.execute(&self.pool).await.map_err(db_error)?.rows_affected())
    }

    async fn resets(&self, keys: &[CounterKey<'_>]) -> Result<(), StoreError> {
        if let Some(query) = delete_counters(keys) {
            query.execute(&self.pool).await.map_err(db_error)?;
        }
        Ok(())
    }

    async fn resets_recorded(
        &self,
        keys: &[CounterKey<'_>],
        audit: &AuditEvent,
        mails: &[ComposedMail],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        if let Some(query) = delete_counters(keys) {
            query.execute(&mut *tx).await.map_err(db_error)?;
        }
        crate::commit_with(tx, audit, mails).await
    }

    async fn hits(
        &self,
        keys: &[CounterKey<'_>],
        window_start: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Vec<i64>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        // $1 is now, $2 the window start, then each counter's scope and key.
        let values = (0..keys.len())
            .map(|i| format!("(${}, ${}, 1, $1, $1)", 2 * i + 3, 2 * i + 4))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO throttle_counters (scope, key, failures, window_start, last_failure_at) VALUES {values} \
             ON CONFLICT (scope, key) DO UPDATE SET \
               failures = CASE WHEN throttle_counters.window_start < $2 THEN 1 ELSE throttle_counters.failures + 1 END, \
               window_start = CASE WHEN throttle_counters.window_start < $2 THEN $1 ELSE throttle_counters.window_start END, \
               last_failure_at = $1 \
             RETURNING scope, key, failures"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(micros(now))
            .bind(micros(window_start));
        for (scope, key) in keys {
            query = query.bind(*scope).bind(*key);
        }
        let rows = query.fetch_all(&self.pool).await.map_err(db_error)?;
        let counted = by_counter(&rows, |row| row.try_get::<i64, _>("failures").map_err(db_error))?;
        keys.iter()
            .map(|(scope, key)| {
                counted
                    .get(&((*scope).to_owned(), (*key).to_owned()))
                    .copied()
                    .ok_or_else(|| StoreError::Internal("a counter was not counted".into()))
            })
            .collect()
    }
}

/// Rows of `throttle_counters` by their `(scope, key)`, each read by `value` (statements over
/// several counters return them in no particular order).
fn by_counter<T>(
    rows: &[AnyRow],
    value: impl Fn(&AnyRow) -> Result<T, StoreError>,
) -> Result<HashMap<(String, String), T>, StoreError> {
    rows.iter()
        .map(|row| {
            let scope: String = row.try_get("scope").map_err(db_error)?;
            let key: String = row.try_get("key").map_err(db_error)?;
            Ok(((scope, key), value(row)?))
        })
        .collect()
}

/// `(scope = $1 AND key = $2) OR …` for `n` counters: each term is a lookup by the primary key.
/// The statement that forgets `keys`' counters; `None` when there are none.
fn delete_counters<'q>(
    keys: &'q [CounterKey<'q>],
) -> Option<sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>> {
    if keys.is_empty() {
        return None;
    }
    let sql = format!("DELETE FROM throttle_counters WHERE {}", key_conditions(keys.len()));
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (scope, key) in keys {
        query = query.bind(*scope).bind(*key);
    }
    Some(query)
}

fn key_conditions(n: usize) -> String {
    (0..n)
        .map(|i| format!("(scope = ${} AND key = ${})", 2 * i + 1, 2 * i + 2))
        .collect::<Vec<_>>()
        .join(" OR ")
}
