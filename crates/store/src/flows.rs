//! The flow and throttle ports: persisted multi-step flows (no flow state in a node's memory) and
//! windowed counters shared by every node (sign-up limits today, RISK-2 and MFA-7 later).

use crate::{SqlStore, db_error, from_micros, micros, opt_from_micros, parse_uuid};
use async_trait::async_trait;
use sesame_core::mail::ComposedMail;
use sesame_core::ports::{FlowRecord, FlowStore, FlowUpdate, OneTimeSecret, StoreError, ThrottleStore};
use sesame_core::types::AccountId;
use sqlx::{Any, Row};
use time::OffsetDateTime;
use uuid::Uuid;

async fn insert_secrets(tx: &mut sqlx::Transaction<'_, Any>, secrets: &[OneTimeSecret]) -> Result<(), StoreError> {
    for s in secrets {
        crate::secrets::insert(&mut **tx, s).await?;
    }
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
        insert_secrets(&mut tx, secrets).await?;
        crate::outbox::enqueue(&mut tx, mails).await?;
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
            sqlx::query(
                "UPDATE one_time_secrets SET used_at = $1 WHERE flow_id = $2 AND purpose = $3 AND used_at IS NULL",
            )
            .bind(micros(u.now))
            .bind(u.id.to_string())
            .bind(purpose)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        insert_secrets(&mut tx, u.secrets).await?;
        crate::outbox::enqueue(&mut tx, u.mails).await?;
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
}

#[async_trait]
impl ThrottleStore for SqlStore {
    async fn count(
        &self,
        scope: &str,
        key: &str,
        window_start: OffsetDateTime,
    ) -> Result<(i64, Option<OffsetDateTime>), StoreError> {
        let row = sqlx::query(
            "SELECT failures, last_failure_at FROM throttle_counters WHERE scope = $1 AND key = $2 AND window_start >= $3",
        )
        .bind(scope)
        .bind(key)
        .bind(micros(window_start))
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        match row {
            None => Ok((0, None)),
            Some(r) => Ok((
                r.try_get::<i64, _>("failures").map_err(db_error)?,
                Some(from_micros(r.try_get("last_failure_at").map_err(db_error)?)?),
            )),
        }
    }

    async fn reset(&self, scope: &str, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM throttle_counters WHERE scope = $1 AND key = $2")
            .bind(scope)
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn hit(
        &self,
        scope: &str,
        key: &str,
        window_start: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO throttle_counters (scope, key, failures, window_start, last_failure_at) VALUES ($1, $2, 1, $3, $3) \
             ON CONFLICT (scope, key) DO UPDATE SET \
               failures = CASE WHEN throttle_counters.window_start < $4 THEN 1 ELSE throttle_counters.failures + 1 END, \
               window_start = CASE WHEN throttle_counters.window_start < $4 THEN $3 ELSE throttle_counters.window_start END, \
               last_failure_at = $3 \
             RETURNING failures",
        )
        .bind(scope)
        .bind(key)
        .bind(micros(now))
        .bind(micros(window_start))
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        row.try_get::<i64, _>("failures").map_err(db_error)
    }
}
