//! The one-time secret port (RISK-4): a secret is consumed by one conditional `UPDATE …
//! RETURNING`, so of any number of parallel attempts exactly one gets the row back.

use crate::batch::Batch;
use crate::{SqlStore, db_error, from_micros, micros, parse_uuid};
use async_trait::async_trait;
use sesame_core::audit::AuditEvent;
use sesame_core::ports::{OneTimeSecret, SecretStore, StoreError};
use sesame_core::types::AccountId;
use sqlx::Row;
use time::OffsetDateTime;

/// Inserts a secret with the caller's executor (pool or transaction).
pub(crate) fn push(batch: &mut Batch, s: &OneTimeSecret) {
    batch.push(
        "INSERT INTO one_time_secrets (id, purpose, account_id, flow_id, secret_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [
            s.id.to_string().into(),
            (&s.purpose).into(),
            s.account_id.map(|a| a.0.to_string()).into(),
            s.flow_id.map(|f| f.to_string()).into(),
            s.secret_hash.clone().into(),
            micros(s.created_at).into(),
            micros(s.expires_at).into(),
        ],
    );
}

#[async_trait]
impl SecretStore for SqlStore {
    async fn create_secret(&self, s: &OneTimeSecret) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        push(&mut batch, s);
        batch.commit(self).await
    }

    async fn consume_secret(
        &self,
        purpose: &str,
        hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<OneTimeSecret>, StoreError> {
        consume(&self.pool, purpose, hash, now).await
    }

    async fn purge_expired_secrets(&self, before: OffsetDateTime, limit: u32) -> Result<u64, StoreError> {
        self.purge_expired("one_time_secrets", before, limit).await
    }

    async fn consume_ending_sessions(
        &self,
        purpose: &str,
        hash: &[u8],
        now: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<Option<AccountId>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let Some(account) = consume(&mut *tx, purpose, hash, now).await?.and_then(|s| s.account_id) else {
            return Ok(None);
        };
        crate::recovery::take_back(&mut tx, account, now).await?;
        let mut audit = audit.clone();
        audit.account_id = Some(account);
        crate::commit_with(tx, &audit, &[]).await?;
        self.changed(account);
        Ok(Some(account))
    }
}

/// Consumes an unexpired, unused secret, once, inside the caller's executor.
async fn consume<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    exec: E,
    purpose: &str,
    hash: &[u8],
    now: OffsetDateTime,
) -> Result<Option<OneTimeSecret>, StoreError> {
    let row = sqlx::query(
        "UPDATE one_time_secrets SET used_at = $1 \
         WHERE purpose = $2 AND secret_hash = $3 AND used_at IS NULL AND expires_at > $1 \
         RETURNING id, purpose, account_id, flow_id, secret_hash, created_at, expires_at",
    )
    .bind(micros(now))
    .bind(purpose)
    .bind(hash.to_vec())
    .fetch_optional(exec)
    .await
    .map_err(db_error)?;
    row.map(|row| {
        let opt = |name: &str| row.try_get::<Option<String>, _>(name).map_err(db_error);
        let time = |name: &str| row.try_get::<i64, _>(name).map_err(db_error).and_then(from_micros);
        Ok(OneTimeSecret {
            id: parse_uuid(&row.try_get::<String, _>("id").map_err(db_error)?)?,
            purpose: row.try_get("purpose").map_err(db_error)?,
            account_id: opt("account_id")?.map(|s| parse_uuid(&s).map(AccountId)).transpose()?,
            flow_id: opt("flow_id")?.map(|s| parse_uuid(&s)).transpose()?,
            secret_hash: row.try_get("secret_hash").map_err(db_error)?,
            created_at: time("created_at")?,
            expires_at: time("expires_at")?,
        })
    })
    .transpose()
}
