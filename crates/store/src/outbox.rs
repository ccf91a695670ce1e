//! The outbox port (MAIL-1): mails are rows written with the change they report; workers claim a
//! few at a time with a lease (one conditional `UPDATE`, so two workers on two nodes never both
//! get one), mark them sent once the SMTP server accepted them, and clear bodies holding a code or
//! a link once sent or expired.

use crate::batch::Batch;
use crate::{SqlStore, db_error, from_micros, micros, opt_from_micros, parse_uuid};
use async_trait::async_trait;
use sesame_core::mail::ComposedMail;
use sesame_core::ports::{ClaimedMail, OutboxStatus, OutboxStore, ParkedMail, StoreError};
use sesame_core::types::AccountId;
use sqlx::Row;
use time::OffsetDateTime;
use uuid::Uuid;

/// Queues mails inside the caller's transaction.
pub(crate) fn push(batch: &mut Batch, mails: &[ComposedMail]) {
    for m in mails {
        batch.push(
            "INSERT INTO outbox (id, account_id, message_id, recipient, template, language, subject, body_text, body_html, \
             sensitive, created_at, expires_at, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $11)",
            [
                m.id.to_string().into(),
                m.account_id.map(|a| a.0.to_string()).into(),
                (&m.message_id).into(),
                (&m.recipient).into(),
                (&m.template).into(),
                (&m.language).into(),
                (&m.subject).into(),
                m.text.clone().into(),
                m.html.clone().into(),
                i64::from(m.sensitive).into(),
                micros(m.created_at).into(),
                m.expires_at.map(micros).into(),
            ],
        );
    }
}

#[async_trait]
impl OutboxStore for SqlStore {
    async fn queue_mail(&self, mail: &ComposedMail) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        push(&mut batch, std::slice::from_ref(mail));
        batch.commit(self).await
    }

    async fn claim_mails(
        &self,
        worker: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<ClaimedMail>, StoreError> {
        let due = "sent_at IS NULL AND parked_at IS NULL AND next_attempt_at <= $3 \
                   AND (claimed_until IS NULL OR claimed_until < $3) AND body_text IS NOT NULL \
                   AND (expires_at IS NULL OR expires_at > $3)";
        let sql = format!(
            "UPDATE outbox SET claimed_by = $1, claimed_until = $2, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM outbox WHERE {due} ORDER BY next_attempt_at, id LIMIT $4) AND {due} \
             RETURNING id, account_id, message_id, recipient, template, language, subject, body_text, body_html, \
             sensitive, attempts, created_at, expires_at, next_attempt_at"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(worker)
            .bind(micros(lease_until))
            .bind(micros(now))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        let mut claimed = rows
            .iter()
            .map(|row| {
                let text = |name: &str| row.try_get::<String, _>(name).map_err(db_error);
                let account: Option<String> = row.try_get("account_id").map_err(db_error)?;
                let mail = ComposedMail {
                    id: parse_uuid(&text("id")?)?,
                    message_id: text("message_id")?,
                    recipient: text("recipient")?,
                    template: text("template")?,
                    language: text("language")?,
                    subject: text("subject")?,
                    text: text("body_text")?,
                    html: row
                        .try_get::<Option<String>, _>("body_html")
                        .map_err(db_error)?
                        .unwrap_or_default(),
                    sensitive: row.try_get::<i64, _>("sensitive").map_err(db_error)? != 0,
                    account_id: account.map(|a| parse_uuid(&a).map(AccountId)).transpose()?,
                    created_at: from_micros(row.try_get("created_at").map_err(db_error)?)?,
                    expires_at: opt_from_micros(row.try_get("expires_at").map_err(db_error)?)?,
                };
                let due: i64 = row.try_get("next_attempt_at").map_err(db_error)?;
                Ok((
                    due,
                    ClaimedMail {
                        mail,
                        attempts: row.try_get("attempts").map_err(db_error)?,
                    },
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // RETURNING keeps no order: oldest first, as claimed.
        claimed.sort_by(|(a, x), (b, y)| (a, x.mail.id).cmp(&(b, y.mail.id)));
        Ok(claimed.into_iter().map(|(_, c)| c).collect())
    }

    async fn mark_sent(&self, ids: &[Uuid], now: OffsetDateTime) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let list = (2..ids.len() + 2)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "UPDATE outbox SET sent_at = $1, claimed_by = NULL, claimed_until = NULL, last_error = NULL, \
             body_text = CASE WHEN sensitive <> 0 THEN NULL ELSE body_text END, \
             body_html = CASE WHEN sensitive <> 0 THEN NULL ELSE body_html END WHERE id IN ({list})"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(micros(now));
        for id in ids {
            query = query.bind(id.to_string());
        }
        query.execute(&self.pool).await.map_err(db_error)?;
        Ok(())
    }

    async fn mark_failed(
        &self,
        id: Uuid,
        error: &str,
        retry_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let error: String = error.chars().take(500).collect();
        let query = match retry_at {
            Some(at) => sqlx::query(
                "UPDATE outbox SET last_error = $1, next_attempt_at = $2, claimed_by = NULL, claimed_until = NULL \
                 WHERE id = $3",
            )
            .bind(error)
            .bind(micros(at)),
            None => sqlx::query(
                "UPDATE outbox SET last_error = $1, parked_at = $2, claimed_by = NULL, claimed_until = NULL WHERE id = $3",
            )
            .bind(error)
            .bind(micros(now)),
        };
        query.bind(id.to_string()).execute(&self.pool).await.map_err(db_error)?;
        Ok(())
    }

    async fn drop_expired_mail(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        // Mail parked earlier (its deliveries failed) loses its code or link too (MAIL-1).
        let done = sqlx::query(
            "UPDATE outbox SET parked_at = COALESCE(parked_at, $1), \
             last_error = CASE WHEN parked_at IS NULL THEN 'expired before delivery' ELSE last_error END, \
             body_text = CASE WHEN sensitive <> 0 THEN NULL ELSE body_text END, \
             body_html = CASE WHEN sensitive <> 0 THEN NULL ELSE body_html END \
             WHERE sent_at IS NULL AND expires_at IS NOT NULL AND expires_at <= $1 \
             AND (parked_at IS NULL OR (sensitive <> 0 AND body_text IS NOT NULL)) \
             AND (claimed_until IS NULL OR claimed_until < $1)",
        )
        .bind(micros(now))
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected())
    }

    async fn outbox_status(&self, parked_limit: u32) -> Result<OutboxStatus, StoreError> {
        let row = sqlx::query(
            "SELECT COALESCE(SUM(CASE WHEN sent_at IS NULL AND parked_at IS NULL THEN 1 ELSE 0 END), 0) AS pending, \
             COALESCE(SUM(CASE WHEN sent_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS sent FROM outbox",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        let parked = sqlx::query(
            "SELECT id, recipient, template, attempts, last_error, created_at FROM outbox \
             WHERE parked_at IS NOT NULL AND sent_at IS NULL ORDER BY parked_at DESC LIMIT $1",
        )
        .bind(i64::from(parked_limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        let parked = parked
            .iter()
            .map(|r| {
                Ok(ParkedMail {
                    id: parse_uuid(&r.try_get::<String, _>("id").map_err(db_error)?)?,
                    recipient: r.try_get("recipient").map_err(db_error)?,
                    template: r.try_get("template").map_err(db_error)?,
                    attempts: r.try_get("attempts").map_err(db_error)?,
                    last_error: r.try_get("last_error").map_err(db_error)?,
                    created_at: from_micros(r.try_get("created_at").map_err(db_error)?)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(OutboxStatus {
            pending: row.try_get("pending").map_err(db_error)?,
            sent: row.try_get("sent").map_err(db_error)?,
            parked,
        })
    }

    async fn retry_parked(&self, id: Option<Uuid>, now: OffsetDateTime) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET parked_at = NULL, next_attempt_at = $1, attempts = 0 \
             WHERE parked_at IS NOT NULL AND sent_at IS NULL AND body_text IS NOT NULL AND ($2 = '' OR id = $2)",
        )
        .bind(micros(now))
        .bind(id.map(|i| i.to_string()).unwrap_or_default())
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected())
    }
}
