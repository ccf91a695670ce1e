//! The audit port (AUDIT-1): insert and read, nothing else. There is deliberately no statement
//! here that updates or deletes an event.

use crate::batch::Batch;
use crate::{SqlStore, db_error, from_micros, micros, parse_uuid};
use async_trait::async_trait;
use sesame_core::audit::{Actor, AuditEvent, AuditKind};
use sesame_core::ports::{AuditLog, StoreError};
use sesame_core::types::AccountId;
use sqlx::Row;

/// Writes one event with whatever executor the caller holds (pool or transaction), so an event
/// commits together with the change it records.
pub(crate) fn push_event(batch: &mut Batch, event: &AuditEvent) {
    batch.push(
        "INSERT INTO audit_events (id, at, account_id, actor, kind, success, ip, user_agent, device, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        [
            event.id.to_string().into(),
            micros(event.at).into(),
            event.account_id.map(|a| a.0.to_string()).into(),
            event.actor.as_str().into(),
            event.kind.as_str().into(),
            i64::from(event.success).into(),
            event.ip.as_deref().into(),
            event.user_agent.as_deref().into(),
            event.device.as_deref().into(),
            event.detail.as_deref().into(),
        ],
    );
}

#[async_trait]
impl AuditLog for SqlStore {
    async fn record(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        push_event(&mut batch, event);
        batch.commit(self).await
    }

    async fn recent_events(&self, account: AccountId, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, account_id, actor, kind, success, ip, user_agent, device, detail FROM audit_events \
             WHERE account_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
        )
        .bind(account.0.to_string())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                let text = |name: &str| row.try_get::<String, _>(name).map_err(db_error);
                let opt = |name: &str| row.try_get::<Option<String>, _>(name).map_err(db_error);
                let kind = text("kind")?;
                let actor = text("actor")?;
                Ok(AuditEvent {
                    id: parse_uuid(&text("id")?)?,
                    at: from_micros(row.try_get("at").map_err(db_error)?)?,
                    account_id: opt("account_id")?.map(|s| parse_uuid(&s).map(AccountId)).transpose()?,
                    actor: Actor::parse(&actor)
                        .ok_or_else(|| StoreError::Internal(format!("unknown actor {actor}")))?,
                    kind: AuditKind::parse(&kind)
                        .ok_or_else(|| StoreError::Internal(format!("unknown event {kind}")))?,
                    success: row.try_get::<i64, _>("success").map_err(db_error)? != 0,
                    ip: opt("ip")?,
                    user_agent: opt("user_agent")?,
                    device: opt("device")?,
                    detail: opt("detail")?,
                })
            })
            .collect()
    }
}
