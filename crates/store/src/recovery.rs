//! The recovery port (RECOVER-1..6): password writes that end sessions and consume their link in
//! one transaction, email changes, the backup email, and lost-2FA requests with their documents.
//! Every "only once" step is a conditional `UPDATE` whose row count decides.

use crate::{SqlStore, commit_with, db_error, from_micros, micros, opt_from_micros, parse_uuid};
use async_trait::async_trait;
use sesame_core::audit::AuditEvent;
use sesame_core::mail::ComposedMail;
use sesame_core::ports::{OneTimeSecret, StoreError, Unique};
use sesame_core::recovery::{
    EmailChange, EmailTarget, PasswordChange, RecoveryRequest, RecoveryStore, RequestStatus, RequestStep,
    StoredDocument,
};
use sesame_core::types::{AccountId, Email};
use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;
use uuid::Uuid;

const CHANGE_COLUMNS: &str = "id, account_id, target, email, email_canonical, current_reachable, attempts, \
     created_at, expires_at, applies_at, completed_at, cancelled_at";

pub(crate) const REQUEST_COLUMNS: &str = "id, account_id, browser_hash, status, created_at, updated_at, expires_at, \
     decided_at, reason, proposed_by, ticket";

/// The condition that an email change (`table`, a name or an alias) is still open at the
/// parameter `now`: neither completed nor cancelled, and its code still valid or its date set.
/// SESS-2's session read shares it.
pub(crate) fn open_change(table: &str, now: &str) -> String {
    format!(
        "{table}.completed_at IS NULL AND {table}.cancelled_at IS NULL \
         AND ({table}.expires_at > {now} OR {table}.applies_at IS NOT NULL)"
    )
}

/// The statuses of a request that is still open (the one-open-request index lists the same).
const OPEN: &str = "('draft', 'awaiting_confirmation', 'pending_review')";

fn text(row: &AnyRow, name: &str) -> Result<String, StoreError> {
    row.try_get::<String, _>(name).map_err(db_error)
}

fn time_of(row: &AnyRow, name: &str) -> Result<OffsetDateTime, StoreError> {
    from_micros(row.try_get(name).map_err(db_error)?)
}

fn opt_time(row: &AnyRow, name: &str) -> Result<Option<OffsetDateTime>, StoreError> {
    opt_from_micros(row.try_get(name).map_err(db_error)?)
}

fn change_from_row(row: &AnyRow) -> Result<EmailChange, StoreError> {
    let target = text(row, "target")?;
    Ok(EmailChange {
        id: parse_uuid(&text(row, "id")?)?,
        account_id: AccountId(parse_uuid(&text(row, "account_id")?)?),
        target: EmailTarget::parse(&target).ok_or_else(|| StoreError::Internal(format!("unknown target {target}")))?,
        email: Email::from_stored(text(row, "email")?, text(row, "email_canonical")?),
        current_reachable: row.try_get::<i64, _>("current_reachable").map_err(db_error)? != 0,
        attempts: row.try_get("attempts").map_err(db_error)?,
        created_at: time_of(row, "created_at")?,
        expires_at: time_of(row, "expires_at")?,
        applies_at: opt_time(row, "applies_at")?,
        completed_at: opt_time(row, "completed_at")?,
        cancelled_at: opt_time(row, "cancelled_at")?,
    })
}

pub(crate) fn request_from_row(row: &AnyRow) -> Result<RecoveryRequest, StoreError> {
    let status = text(row, "status")?;
    Ok(RecoveryRequest {
        id: parse_uuid(&text(row, "id")?)?,
        account_id: AccountId(parse_uuid(&text(row, "account_id")?)?),
        browser_hash: row.try_get("browser_hash").map_err(db_error)?,
        status: RequestStatus::parse(&status)
            .ok_or_else(|| StoreError::Internal(format!("unknown status {status}")))?,
        created_at: time_of(row, "created_at")?,
        updated_at: time_of(row, "updated_at")?,
        expires_at: time_of(row, "expires_at")?,
        decided_at: opt_time(row, "decided_at")?,
        reason: row.try_get("reason").map_err(db_error)?,
        proposed_by: row
            .try_get::<Option<String>, _>("proposed_by")
            .map_err(db_error)?
            .map(|s| parse_uuid(&s))
            .transpose()?,
        ticket: row.try_get("ticket").map_err(db_error)?,
    })
}

fn secret_from_row(row: &AnyRow) -> Result<OneTimeSecret, StoreError> {
    let opt = |name: &str| row.try_get::<Option<String>, _>(name).map_err(db_error);
    Ok(OneTimeSecret {
        id: parse_uuid(&text(row, "id")?)?,
        purpose: text(row, "purpose")?,
        account_id: opt("account_id")?.map(|s| parse_uuid(&s).map(AccountId)).transpose()?,
        flow_id: opt("flow_id")?.map(|s| parse_uuid(&s)).transpose()?,
        secret_hash: row.try_get("secret_hash").map_err(db_error)?,
        created_at: time_of(row, "created_at")?,
        expires_at: time_of(row, "expires_at")?,
    })
}

/// Voids the unused secrets of `purpose` of an account (or of one flow) inside a transaction.
async fn void_secrets(
    tx: &mut crate::pool::Tx,
    purpose: &str,
    account: AccountId,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE one_time_secrets SET used_at = $1 WHERE purpose = $2 AND account_id = $3 AND used_at IS NULL")
        .bind(micros(now))
        .bind(purpose)
        .bind(account.0.to_string())
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Deletes the documents of one request inside a transaction.
pub(crate) async fn delete_documents(tx: &mut crate::pool::Tx, request: &str) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM recovery_documents WHERE request_id = $1")
        .bind(request)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    Ok(done.rows_affected())
}

/// Closes a change (applied or cancelled) if it is still open: its account, or none if it was not.
async fn close_change(
    tx: &mut crate::pool::Tx,
    id: Uuid,
    column: &str,
    now: OffsetDateTime,
) -> Result<Option<AccountId>, StoreError> {
    let sql = format!(
        "UPDATE email_changes SET {column} = $1 WHERE id = $2 AND completed_at IS NULL AND cancelled_at IS NULL \
         RETURNING account_id"
    );
    let account: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(micros(now))
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_error)?;
    account.map(|a| parse_uuid(&a).map(AccountId)).transpose()
}

/// What someone else may have left going on an account, ended when its owner takes it back (a
/// password reset or change, "not you?", a block, support ending every session, a lost-2FA
/// approval, a promoted backup email): its open email changes are cancelled (RECOVER-4's day-long
/// wait included) with their codes and cancel links, and its open login flows end.
pub(crate) async fn end_pending(
    tx: &mut crate::pool::Tx,
    account: AccountId,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    cancel_email_changes(tx, account, now).await?;
    crate::flows::end_login_flows(tx, account, now).await
}

/// The owner takes the account back (not you?, a block, support ending every session, a lost-2FA
/// approval): every session ends, and so does what was pending on it ([`end_pending`]); how many
/// sessions ended.
pub(crate) async fn take_back(
    tx: &mut crate::pool::Tx,
    account: AccountId,
    now: OffsetDateTime,
) -> Result<u64, StoreError> {
    let ended = crate::sessions::end_all(&mut **tx, account, now).await?;
    end_pending(tx, account, now).await?;
    Ok(ended)
}

/// The primary address changed: what was mailed to the old one (reset and unlock links, "not
/// you?" links, lost-2FA confirmations, login codes) stops working, since whoever holds that
/// mailbox may be who the change keeps out.
async fn void_mailed_secrets(
    tx: &mut crate::pool::Tx,
    account: AccountId,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let purposes = sesame_core::service::MAILED_SECRETS
        .iter()
        .map(|p| format!("'{p}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "UPDATE one_time_secrets SET used_at = $1 WHERE account_id = $2 AND used_at IS NULL \
         AND purpose IN ({purposes})"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(micros(now))
        .bind(account.0.to_string())
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Cancels the account's open email changes and voids their codes and cancel links.
async fn cancel_email_changes(
    tx: &mut crate::pool::Tx,
    account: AccountId,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    const OPEN: &str = "account_id = $2 AND completed_at IS NULL AND cancelled_at IS NULL";
    let void = format!(
        "UPDATE one_time_secrets SET used_at = $1 WHERE used_at IS NULL \
         AND flow_id IN (SELECT id FROM email_changes WHERE {OPEN})"
    );
    let cancel = format!("UPDATE email_changes SET cancelled_at = $1 WHERE {OPEN}");
    for sql in [void, cancel] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(micros(now))
            .bind(account.0.to_string())
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
    }
    Ok(())
}

#[async_trait]
impl RecoveryStore for SqlStore {
    async fn replace_secret(&self, secret: &OneTimeSecret, mails: &[ComposedMail]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        if let Some(account) = secret.account_id {
            // One request at a time per account: the later one's void then sees the earlier
            // one's link (PostgreSQL's read committed would otherwise let both stay live).
            crate::credentials::lock_account(&mut tx, account).await?;
            void_secrets(&mut tx, &secret.purpose, account, secret.created_at).await?;
        }
        crate::secrets_and_mails(&mut tx, std::slice::from_ref(secret), mails).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn find_secret(
        &self,
        purpose: &str,
        hashes: &[Vec<u8>],
        now: OffsetDateTime,
    ) -> Result<Option<OneTimeSecret>, StoreError> {
        for hash in hashes {
            let row = sqlx::query(
                "SELECT id, purpose, account_id, flow_id, secret_hash, created_at, expires_at FROM one_time_secrets \
                 WHERE purpose = $1 AND secret_hash = $2 AND used_at IS NULL AND expires_at > $3",
            )
            .bind(purpose)
            .bind(hash.clone())
            .bind(micros(now))
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
            if let Some(row) = row {
                return secret_from_row(&row).map(Some);
            }
        }
        Ok(None)
    }

    async fn count_secret_attempt(&self, id: Uuid, max: i64) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "UPDATE one_time_secrets SET attempts = attempts + 1, \
             used_at = CASE WHEN attempts + 1 >= $2 THEN created_at ELSE used_at END \
             WHERE id = $1 AND used_at IS NULL RETURNING attempts",
        )
        .bind(id.to_string())
        .bind(max)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(match row {
            Some(row) => row.try_get::<i64, _>("attempts").map_err(db_error)? < max,
            None => false,
        })
    }

    async fn set_password(&self, change: &PasswordChange<'_>) -> Result<bool, StoreError> {
        let now = micros(change.now);
        let account = change.account.0.to_string();
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        if let Some(secret) = change.consume {
            let row = sqlx::query(
                "UPDATE one_time_secrets SET used_at = $1 WHERE id = $2 AND account_id = $3 AND used_at IS NULL \
                 AND expires_at > $1 RETURNING purpose",
            )
            .bind(now)
            .bind(secret.to_string())
            .bind(&account)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_error)?;
            let Some(row) = row else {
                return Ok(false);
            };
            let purpose = text(&row, "purpose")?;
            void_secrets(&mut tx, &purpose, change.account, change.now).await?;
        }
        let updated = sqlx::query(
            "UPDATE credentials SET data = $1, updated_at = $2 WHERE account_id = $3 AND kind = 'password'",
        )
        .bind(change.phc)
        .bind(now)
        .bind(&account)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if updated.rows_affected() != 1 {
            return Ok(false);
        }
        end_pending(&mut tx, change.account, change.now).await?;
        let keep = change.keep_session.map(|k| k.to_string()).unwrap_or_default();
        sqlx::query("UPDATE sessions SET ended_at = $1 WHERE account_id = $2 AND id <> $3 AND ended_at IS NULL")
            .bind(now)
            .bind(&account)
            .bind(keep)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        commit_with(tx, change.audit, change.mails).await?;
        self.changed(change.account);
        Ok(true)
    }

    async fn create_email_change(
        &self,
        c: &EmailChange,
        secrets: &[OneTimeSecret],
        mails: &[ComposedMail],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        sqlx::query(
            "UPDATE email_changes SET cancelled_at = $1 WHERE account_id = $2 AND target = $3 \
             AND completed_at IS NULL AND cancelled_at IS NULL",
        )
        .bind(micros(c.created_at))
        .bind(c.account_id.0.to_string())
        .bind(c.target.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        sqlx::query(
            "INSERT INTO email_changes (id, account_id, target, email, email_canonical, current_reachable, attempts, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8)",
        )
        .bind(c.id.to_string())
        .bind(c.account_id.0.to_string())
        .bind(c.target.as_str())
        .bind(c.email.address())
        .bind(c.email.canonical())
        .bind(i64::from(c.current_reachable))
        .bind(micros(c.created_at))
        .bind(micros(c.expires_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        crate::secrets_and_mails(&mut tx, secrets, mails).await?;
        tx.commit().await.map_err(db_error)?;
        if c.target == EmailTarget::Backup {
            // SESS-2's session read, which may be cached, shows the backup email waiting.
            self.changed(c.account_id);
        }
        Ok(())
    }

    async fn open_email_change(
        &self,
        account: AccountId,
        target: EmailTarget,
        now: OffsetDateTime,
    ) -> Result<Option<EmailChange>, StoreError> {
        let open = open_change("email_changes", "$3");
        let sql = format!(
            "SELECT {CHANGE_COLUMNS} FROM email_changes WHERE account_id = $1 AND target = $2 AND {open} \
             ORDER BY created_at DESC LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account.0.to_string())
            .bind(target.as_str())
            .bind(micros(now))
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(change_from_row).transpose()
    }

    async fn find_email_change(&self, id: Uuid) -> Result<Option<EmailChange>, StoreError> {
        let sql = format!("SELECT {CHANGE_COLUMNS} FROM email_changes WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(change_from_row).transpose()
    }

    async fn count_email_change_attempt(&self, id: Uuid, max: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE email_changes SET attempts = attempts + 1 WHERE id = $1 AND attempts < $2 \
             AND completed_at IS NULL AND cancelled_at IS NULL",
        )
        .bind(id.to_string())
        .bind(max)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn schedule_email_change(
        &self,
        id: Uuid,
        applies_at: OffsetDateTime,
        secrets: &[OneTimeSecret],
        audit: &AuditEvent,
        mails: &[ComposedMail],
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let done = sqlx::query(
            "UPDATE email_changes SET applies_at = $1 WHERE id = $2 AND applies_at IS NULL \
             AND completed_at IS NULL AND cancelled_at IS NULL",
        )
        .bind(micros(applies_at))
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        crate::commit_all(tx, secrets, audit, mails).await?;
        Ok(true)
    }

    async fn apply_email_change(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        audit: &AuditEvent,
        mails: &[ComposedMail],
    ) -> Result<bool, StoreError> {
        let Some(change) = self.find_email_change(id).await? else {
            return Ok(false);
        };
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        if close_change(&mut tx, id, "completed_at", now).await?.is_none() {
            return Ok(false);
        }
        // RECOVER-3, checked again as the change applies: two changes started side by side (a
        // backup and a primary to one address) each passed the check at their start.
        let sql = match change.target {
            EmailTarget::Primary => {
                "UPDATE accounts SET email = $1, email_canonical = $2, updated_at = $3 WHERE id = $4 \
                 AND (backup_email_canonical IS NULL OR backup_email_canonical <> $2)"
            }
            EmailTarget::Backup => {
                "UPDATE accounts SET backup_email = $1, backup_email_canonical = $2, backup_email_required = 0, \
                 updated_at = $3 WHERE id = $4 AND email_canonical <> $2"
            }
        };
        let updated = sqlx::query(sql)
            .bind(change.email.address())
            .bind(change.email.canonical())
            .bind(micros(now))
            .bind(change.account_id.0.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::Conflict(Unique::OtherAddress));
        }
        // The cancel link of a scheduled change is pointless once it applied.
        sqlx::query("UPDATE one_time_secrets SET used_at = $1 WHERE flow_id = $2 AND used_at IS NULL")
            .bind(micros(now))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        if change.target == EmailTarget::Primary {
            void_mailed_secrets(&mut tx, change.account_id, now).await?;
        }
        commit_with(tx, audit, mails).await?;
        self.changed(change.account_id);
        Ok(true)
    }

    async fn cancel_email_change(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        audit: &AuditEvent,
        mails: &[ComposedMail],
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let Some(account) = close_change(&mut tx, id, "cancelled_at", now).await? else {
            return Ok(false);
        };
        sqlx::query("UPDATE one_time_secrets SET used_at = $1 WHERE flow_id = $2 AND used_at IS NULL")
            .bind(micros(now))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        commit_with(tx, audit, mails).await?;
        // A cancelled backup change leaves SESS-2's (possibly cached) session read.
        self.changed(account);
        Ok(true)
    }

    async fn due_email_changes(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<EmailChange>, StoreError> {
        let sql = format!(
            "SELECT {CHANGE_COLUMNS} FROM email_changes WHERE applies_at IS NOT NULL AND applies_at <= $1 \
             AND completed_at IS NULL AND cancelled_at IS NULL ORDER BY applies_at LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(micros(now))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter().map(change_from_row).collect()
    }

    async fn remove_backup_email(
        &self,
        account: AccountId,
        audit: &AuditEvent,
        mails: &[ComposedMail],
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let done = sqlx::query(
            "UPDATE accounts SET backup_email = NULL, backup_email_canonical = NULL, updated_at = $1 \
             WHERE id = $2 AND backup_email IS NOT NULL",
        )
        .bind(micros(audit.at))
        .bind(account.0.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        commit_with(tx, audit, mails).await?;
        self.changed(account);
        Ok(true)
    }

    async fn promote_backup_email(
        &self,
        account: AccountId,
        audit: &AuditEvent,
        mails: &[ComposedMail],
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let done = sqlx::query(
            "UPDATE accounts SET email = backup_email, email_canonical = backup_email_canonical, \
             backup_email = NULL, backup_email_canonical = NULL, backup_email_required = 1, updated_at = $1 \
             WHERE id = $2 AND backup_email IS NOT NULL",
        )
        .bind(micros(audit.at))
        .bind(account.0.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        // A pending change of the primary would now replace the address support just set, and
        // the links mailed to the old address would still work from it.
        end_pending(&mut tx, account, audit.at).await?;
        void_mailed_secrets(&mut tx, account, audit.at).await?;
        commit_with(tx, audit, mails).await?;
        self.changed(account);
        Ok(true)
    }

    async fn create_recovery_request(&self, r: &RecoveryRequest) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let waiting = sqlx::query(
            "SELECT id FROM recovery_requests WHERE account_id = $1 AND status IN ('draft', 'awaiting_confirmation')",
        )
        .bind(r.account_id.0.to_string())
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        for row in &waiting {
            let id = text(row, "id")?;
            delete_documents(&mut tx, &id).await?;
            sqlx::query("UPDATE recovery_requests SET status = 'cancelled', updated_at = $1 WHERE id = $2")
                .bind(micros(r.created_at))
                .bind(&id)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        sqlx::query(
            "INSERT INTO recovery_requests (id, account_id, browser_hash, status, created_at, updated_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $5, $6)",
        )
        .bind(r.id.to_string())
        .bind(r.account_id.0.to_string())
        .bind(r.browser_hash.clone())
        .bind(r.status.as_str())
        .bind(micros(r.created_at))
        .bind(micros(r.expires_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    async fn recovery_request(&self, id: Uuid) -> Result<Option<RecoveryRequest>, StoreError> {
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM recovery_requests WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(request_from_row).transpose()
    }

    async fn expired_reviews(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<RecoveryRequest>, StoreError> {
        let sql = format!(
            "SELECT {REQUEST_COLUMNS} FROM recovery_requests WHERE status = 'pending_review' AND expires_at <= $1 \
             ORDER BY expires_at LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(micros(now))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter().map(request_from_row).collect()
    }

    async fn add_document(&self, d: &StoredDocument, max: i64) -> Result<bool, StoreError> {
        // The request row is locked by the conditional update first, so two parallel uploads
        // can't both see room for one more.
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let draft = sqlx::query("UPDATE recovery_requests SET updated_at = $1 WHERE id = $2 AND status = 'draft'")
            .bind(micros(d.created_at))
            .bind(d.request_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        if draft.rows_affected() != 1 {
            return Ok(false);
        }
        let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM recovery_documents WHERE request_id = $1")
            .bind(d.request_id.to_string())
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?
            .try_get("n")
            .map_err(db_error)?;
        if count >= max {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO recovery_documents (id, request_id, content_type, size, sealed_key, ciphertext, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(d.id.to_string())
        .bind(d.request_id.to_string())
        .bind(&d.content_type)
        .bind(d.size)
        .bind(&d.sealed_key)
        .bind(d.ciphertext.clone())
        .bind(micros(d.created_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    async fn document_count(&self, request: Uuid) -> Result<i64, StoreError> {
        sqlx::query("SELECT COUNT(*) AS n FROM recovery_documents WHERE request_id = $1")
            .bind(request.to_string())
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?
            .try_get("n")
            .map_err(db_error)
    }

    async fn documents(&self, request: Uuid) -> Result<Vec<StoredDocument>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, request_id, content_type, size, sealed_key, ciphertext, created_at FROM recovery_documents \
             WHERE request_id = $1 ORDER BY created_at, id",
        )
        .bind(request.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                Ok(StoredDocument {
                    id: parse_uuid(&text(row, "id")?)?,
                    request_id: parse_uuid(&text(row, "request_id")?)?,
                    content_type: text(row, "content_type")?,
                    size: row.try_get("size").map_err(db_error)?,
                    sealed_key: text(row, "sealed_key")?,
                    ciphertext: row.try_get("ciphertext").map_err(db_error)?,
                    created_at: time_of(row, "created_at")?,
                })
            })
            .collect()
    }

    async fn advance_recovery_request(&self, step: &RequestStep<'_>) -> Result<bool, StoreError> {
        let RequestStep {
            id,
            from,
            to,
            now,
            secrets,
            reason,
            expires_at,
            audit,
            mails,
        } = *step;
        let decided = matches!(to, RequestStatus::Approved | RequestStatus::Rejected).then(|| micros(now));
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let done = sqlx::query(
            "UPDATE recovery_requests SET status = $1, updated_at = $2, decided_at = $3, reason = COALESCE($6, reason), \
             expires_at = COALESCE($7, expires_at) WHERE id = $4 AND status = $5",
        )
        .bind(to.as_str())
        .bind(micros(now))
        .bind(decided)
        .bind(id.to_string())
        .bind(from.as_str())
        .bind(reason)
        .bind(expires_at.map(micros))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        if matches!(
            to,
            RequestStatus::Approved | RequestStatus::Rejected | RequestStatus::Cancelled
        ) {
            delete_documents(&mut tx, &id.to_string()).await?;
        }
        crate::commit_all(tx, secrets, audit, mails).await?;
        Ok(true)
    }

    async fn expire_recovery_requests(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let deleted = sqlx::query(
            "DELETE FROM recovery_documents WHERE request_id IN \
             (SELECT id FROM recovery_requests WHERE expires_at <= $1)",
        )
        .bind(micros(now))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected();
        let sql = format!(
            "UPDATE recovery_requests SET status = 'cancelled', updated_at = $1 WHERE expires_at <= $1 AND status IN {OPEN}"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(micros(now))
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(deleted)
    }
}
