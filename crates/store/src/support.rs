//! The support port (SUPPORT-1..5): agents and their sessions, the desk's lookups, and the
//! two-person approval of a lost-2FA request, which switches 2FA off in one transaction.

use crate::recovery::{REQUEST_COLUMNS, delete_documents, request_from_row};
use crate::{SqlStore, commit_with, db_error, from_micros, micros, opt_from_micros, parse_uuid};
use async_trait::async_trait;
use sesame_core::audit::AuditEvent;
use sesame_core::ports::{Account, AccountStore, OneTimeSecret, StoreError};
use sesame_core::recovery::RecoveryRequest;
use sesame_core::support::{Agent, AgentRole, AgentSession, Approval, SupportStore};
use sesame_core::types::{AccountId, Email};
use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;
use uuid::Uuid;

const AGENT_COLUMNS: &str =
    "id, email, email_canonical, name, role, password_phc, security_key, created_at, enrolled_at, disabled_at";

fn agent_from_row(row: &AnyRow) -> Result<Agent, StoreError> {
    let text = |name: &str| row.try_get::<String, _>(name).map_err(db_error);
    let role = text("role")?;
    Ok(Agent {
        id: parse_uuid(&text("id")?)?,
        email: Email::from_stored(text("email")?, text("email_canonical")?),
        name: text("name")?,
        role: AgentRole::parse(&role).ok_or_else(|| StoreError::Internal(format!("unknown role {role}")))?,
        password_phc: row.try_get("password_phc").map_err(db_error)?,
        security_key: row.try_get("security_key").map_err(db_error)?,
        created_at: from_micros(row.try_get("created_at").map_err(db_error)?)?,
        enrolled_at: opt_from_micros(row.try_get("enrolled_at").map_err(db_error)?)?,
        disabled_at: opt_from_micros(row.try_get("disabled_at").map_err(db_error)?)?,
    })
}

impl SqlStore {
    async fn one_agent(&self, clause: &'static str, value: String) -> Result<Option<Agent>, StoreError> {
        let sql = format!("SELECT {AGENT_COLUMNS} FROM agents WHERE {clause} = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(value)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(agent_from_row).transpose()
    }

    async fn requests_where(
        &self,
        clause: &'static str,
        value: Option<String>,
        limit: u32,
    ) -> Result<Vec<RecoveryRequest>, StoreError> {
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM recovery_requests WHERE {clause} LIMIT $2");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(value.unwrap_or_default())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter().map(request_from_row).collect()
    }

    /// Compare-and-swap of one agent column: `sql` sets `$1` where the id is `$2` and the column
    /// still holds `$3`; whether it did.
    async fn swap_agent_value(&self, sql: &'static str, id: Uuid, old: &str, new: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(sql)
            .bind(new)
            .bind(id.to_string())
            .bind(old)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected() == 1)
    }
}

#[async_trait]
impl SupportStore for SqlStore {
    async fn create_agent(&self, a: &Agent, invitation: &OneTimeSecret) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        sqlx::query(
            "INSERT INTO agents (id, email, email_canonical, name, role, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(a.id.to_string())
        .bind(a.email.address())
        .bind(a.email.canonical())
        .bind(&a.name)
        .bind(a.role.as_str())
        .bind(micros(a.created_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        crate::secrets_and_mails(&mut tx, std::slice::from_ref(invitation), &[]).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn agent(&self, id: Uuid) -> Result<Option<Agent>, StoreError> {
        self.one_agent("id", id.to_string()).await
    }

    async fn agent_by_email(&self, canonical: &str) -> Result<Option<Agent>, StoreError> {
        self.one_agent("email_canonical", canonical.to_owned()).await
    }

    async fn agents(&self) -> Result<Vec<Agent>, StoreError> {
        let sql = format!("SELECT {AGENT_COLUMNS} FROM agents ORDER BY created_at");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter().map(agent_from_row).collect()
    }

    async fn enrol_agent(
        &self,
        id: Uuid,
        invitation: Uuid,
        password_phc: &str,
        security_key: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let used = sqlx::query(
            "UPDATE one_time_secrets SET used_at = $1 WHERE id = $2 AND flow_id = $3 AND used_at IS NULL \
             AND expires_at > $1",
        )
        .bind(micros(now))
        .bind(invitation.to_string())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if used.rows_affected() != 1 {
            return Ok(false);
        }
        let done = sqlx::query(
            "UPDATE agents SET password_phc = $1, security_key = $2, enrolled_at = $3 \
             WHERE id = $4 AND enrolled_at IS NULL AND disabled_at IS NULL",
        )
        .bind(password_phc)
        .bind(security_key)
        .bind(micros(now))
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    async fn update_agent_password(&self, id: Uuid, old: &str, new: &str) -> Result<bool, StoreError> {
        self.swap_agent_value(
            "UPDATE agents SET password_phc = $1 WHERE id = $2 AND password_phc = $3",
            id,
            old,
            new,
        )
        .await
    }

    async fn update_agent_key(&self, id: Uuid, old: &str, new: &str) -> Result<bool, StoreError> {
        self.swap_agent_value(
            "UPDATE agents SET security_key = $1 WHERE id = $2 AND security_key = $3",
            id,
            old,
            new,
        )
        .await
    }

    async fn disable_agent(&self, id: Uuid, now: OffsetDateTime) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let done = sqlx::query("UPDATE agents SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL")
            .bind(micros(now))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        sqlx::query("UPDATE agent_sessions SET ended_at = $1 WHERE agent_id = $2 AND ended_at IS NULL")
            .bind(micros(now))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn create_agent_session(&self, s: &AgentSession) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO agent_sessions (id, agent_id, token_hash, created_at, expires_at, last_seen_at, ip, \
             user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(s.id.to_string())
        .bind(s.agent_id.to_string())
        .bind(s.token_hash.clone())
        .bind(micros(s.created_at))
        .bind(micros(s.expires_at))
        .bind(micros(s.last_seen_at))
        .bind(s.ip.as_deref())
        .bind(s.user_agent.as_deref())
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn agent_session(&self, token_hash: &[u8]) -> Result<Option<AgentSession>, StoreError> {
        let row = sqlx::query(
            "SELECT id, agent_id, token_hash, created_at, expires_at, COALESCE(last_seen_at, created_at) AS seen, \
             ip, user_agent FROM agent_sessions WHERE token_hash = $1 AND ended_at IS NULL",
        )
        .bind(token_hash.to_vec())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.map(|row| {
            let text = |name: &str| row.try_get::<String, _>(name).map_err(db_error);
            Ok(AgentSession {
                id: parse_uuid(&text("id")?)?,
                agent_id: parse_uuid(&text("agent_id")?)?,
                token_hash: row.try_get("token_hash").map_err(db_error)?,
                created_at: from_micros(row.try_get("created_at").map_err(db_error)?)?,
                expires_at: from_micros(row.try_get("expires_at").map_err(db_error)?)?,
                last_seen_at: from_micros(row.try_get("seen").map_err(db_error)?)?,
                ip: row.try_get("ip").map_err(db_error)?,
                user_agent: row.try_get("user_agent").map_err(db_error)?,
            })
        })
        .transpose()
    }

    async fn touch_agent_session(&self, id: Uuid, now: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE agent_sessions SET last_seen_at = $1 WHERE id = $2 AND ended_at IS NULL \
             AND (last_seen_at IS NULL OR last_seen_at < $1)",
        )
        .bind(micros(now))
        .bind(id.to_string())
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn end_agent_session(&self, id: Uuid, now: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query("UPDATE agent_sessions SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL")
            .bind(micros(now))
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn account_by_customer_code(&self, code: &str) -> Result<Option<Account>, StoreError> {
        let id: Option<String> = sqlx::query_scalar("SELECT id FROM accounts WHERE customer_code = $1")
            .bind(code)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        match id {
            Some(id) => self.find_account(AccountId(parse_uuid(&id)?)).await,
            None => Ok(None),
        }
    }

    async fn accounts_by_backup_email(&self, canonical: &str) -> Result<Vec<Account>, StoreError> {
        let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM accounts WHERE backup_email_canonical = $1 LIMIT 20")
            .bind(canonical)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        let mut found = Vec::new();
        for id in ids {
            if let Some(account) = self.find_account(AccountId(parse_uuid(&id)?)).await? {
                found.push(account);
            }
        }
        Ok(found)
    }

    async fn requests_to_review(&self, limit: u32) -> Result<Vec<RecoveryRequest>, StoreError> {
        self.requests_where(
            "status = 'pending_review' OR status = $1 ORDER BY updated_at",
            None,
            limit,
        )
        .await
    }

    async fn account_requests(&self, account: AccountId) -> Result<Vec<RecoveryRequest>, StoreError> {
        self.requests_where(
            "account_id = $1 ORDER BY created_at DESC",
            Some(account.0.to_string()),
            20,
        )
        .await
    }

    async fn propose_approval(
        &self,
        request: Uuid,
        agent: Uuid,
        reason: &str,
        ticket: &str,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let done = sqlx::query(
            "UPDATE recovery_requests SET proposed_by = $1, proposed_at = $2, reason = $3, ticket = $4, updated_at = $2 \
             WHERE id = $5 AND status = 'pending_review' AND proposed_by IS NULL",
        )
        .bind(agent.to_string())
        .bind(micros(audit.at))
        .bind(reason)
        .bind(ticket)
        .bind(request.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        commit_with(tx, audit, &[]).await?;
        Ok(true)
    }

    async fn approve_recovery(&self, a: &Approval<'_>) -> Result<bool, StoreError> {
        let now = micros(a.now);
        let account = a.account.0.to_string();
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let done = sqlx::query(
            "UPDATE recovery_requests SET status = 'approved', decided_at = $1, updated_at = $1 \
             WHERE id = $2 AND account_id = $3 AND status = 'pending_review' AND proposed_by IS NOT NULL \
             AND proposed_by <> $4 AND EXISTS (SELECT 1 FROM accounts WHERE id = $3 AND state = 'active')",
        )
        .bind(now)
        .bind(a.request.to_string())
        .bind(&account)
        .bind(a.confirmed_by.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        delete_documents(&mut tx, &a.request.to_string()).await?;
        // 2FA off: every second-factor device and the backup codes go; the password stays.
        sqlx::query("DELETE FROM credentials WHERE account_id = $1 AND kind <> 'password'")
            .bind(&account)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        crate::credentials::void_backup_codes(&mut tx, a.account, a.now).await?;
        crate::recovery::take_back(&mut tx, a.account, a.now).await?;
        commit_with(tx, a.audit, a.mails).await?;
        self.changed(a.account);
        Ok(true)
    }
}
