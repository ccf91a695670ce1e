//! The SMS outbox port (MFA-4), the twin of the mail outbox (MAIL-1): a text is queued in the same
//! transaction as the code it carries (voiding the older codes of its flow), claimed by one worker
//! at a time with a lease (a conditional `UPDATE`, so two workers on two nodes never both get it),
//! and its text, which holds the code, is cleared once sent or expired.

use crate::{SqlStore, db_error, from_micros, micros, parse_uuid};
use async_trait::async_trait;
use sesame_core::ports::{OneTimeSecret, StoreError};
use sesame_core::sms::{ClaimedSms, SmsMessage, SmsOutboxStore};
use sesame_core::types::AccountId;
use sqlx::Row;
use time::OffsetDateTime;
use uuid::Uuid;

/// Voids the unused secrets a new one replaces: same purpose and flow, or, without a flow, same
/// purpose and account.
async fn void_older(tx: &mut crate::pool::Tx, secret: &OneTimeSecret, now: OffsetDateTime) -> Result<(), StoreError> {
    let (column, owner) = match (secret.flow_id, secret.account_id) {
        (Some(flow), _) => ("flow_id", flow),
        (None, Some(account)) => ("account_id", account.0),
        (None, None) => return Ok(()),
    };
    let sql =
        format!("UPDATE one_time_secrets SET used_at = $1 WHERE {column} = $2 AND purpose = $3 AND used_at IS NULL");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(micros(now))
        .bind(owner.to_string())
        .bind(&secret.purpose)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    Ok(())
}

#[async_trait]
impl SmsOutboxStore for SqlStore {
    async fn queue_sms(
        &self,
        sms: &SmsMessage,
        secret: Option<&OneTimeSecret>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        if let Some(secret) = secret {
            void_older(&mut tx, secret, now).await?;
            crate::secrets_and_mails(&mut tx, std::slice::from_ref(secret), &[]).await?;
        }
        sqlx::query(
            "INSERT INTO sms_outbox (id, account_id, recipient, body, created_at, expires_at, next_attempt_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $5)",
        )
        .bind(sms.id.to_string())
        .bind(sms.account_id.map(|a| a.0.to_string()))
        .bind(&sms.to)
        .bind(&sms.text)
        .bind(micros(sms.created_at))
        .bind(micros(sms.expires_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    async fn claim_sms(
        &self,
        worker: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Result<Option<ClaimedSms>, StoreError> {
        let due = "sent_at IS NULL AND parked_at IS NULL AND next_attempt_at <= $3 AND expires_at > $3 \
                   AND (claimed_until IS NULL OR claimed_until < $3) AND body IS NOT NULL";
        let sql = format!(
            "UPDATE sms_outbox SET claimed_by = $1, claimed_until = $2, attempts = attempts + 1 \
             WHERE id = (SELECT id FROM sms_outbox WHERE {due} ORDER BY next_attempt_at, id LIMIT 1) AND {due} \
             RETURNING id, account_id, recipient, body, attempts, created_at, expires_at"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(worker)
            .bind(micros(lease_until))
            .bind(micros(now))
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.map(|row| {
            let text = |name: &str| row.try_get::<String, _>(name).map_err(db_error);
            let time = |name: &str| row.try_get::<i64, _>(name).map_err(db_error).and_then(from_micros);
            let account: Option<String> = row.try_get("account_id").map_err(db_error)?;
            Ok(ClaimedSms {
                sms: SmsMessage {
                    id: parse_uuid(&text("id")?)?,
                    account_id: account.map(|a| parse_uuid(&a).map(AccountId)).transpose()?,
                    to: text("recipient")?,
                    text: text("body")?,
                    created_at: time("created_at")?,
                    expires_at: time("expires_at")?,
                },
                attempts: row.try_get("attempts").map_err(db_error)?,
            })
        })
        .transpose()
    }

    async fn mark_sms_sent(&self, id: Uuid, now: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sms_outbox SET sent_at = $1, body = NULL, claimed_by = NULL, claimed_until = NULL, \
             last_error = NULL WHERE id = $2",
        )
        .bind(micros(now))
        .bind(id.to_string())
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn mark_sms_failed(
        &self,
        id: Uuid,
        error: &str,
        retry_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let error: String = error.chars().take(500).collect();
        // Parked for good: a code is useless later, so its text goes too.
        let query = match retry_at {
            Some(at) => sqlx::query(
                "UPDATE sms_outbox SET last_error = $1, next_attempt_at = $2, claimed_by = NULL, claimed_until = NULL \
                 WHERE id = $3",
            )
            .bind(error)
            .bind(micros(at)),
            None => sqlx::query(
                "UPDATE sms_outbox SET last_error = $1, parked_at = $2, body = NULL, claimed_by = NULL, \
                 claimed_until = NULL WHERE id = $3",
            )
            .bind(error)
            .bind(micros(now)),
        };
        query.bind(id.to_string()).execute(&self.pool).await.map_err(db_error)?;
        Ok(())
    }

    async fn drop_expired_sms(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE sms_outbox SET parked_at = $1, body = NULL, last_error = 'expired before delivery' \
             WHERE sent_at IS NULL AND parked_at IS NULL AND expires_at <= $1 \
             AND (claimed_until IS NULL OR claimed_until < $1)",
        )
        .bind(micros(now))
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected())
    }
}
