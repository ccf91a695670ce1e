//! The second-factor credential port (MFA-1 to MFA-6): apps and keys in `credentials` (kind,
//! version, sealed data), backup codes as one-time secrets, and the last TOTP step per account,
//! advanced only forward by one conditional upsert so a step is accepted once (MFA-2, RISK-4).

use crate::{SqlStore, db_error, from_micros, micros, opt_from_micros, parse_uuid};
use async_trait::async_trait;
use sesame_core::audit::AuditEvent;
use sesame_core::factor::backup_code;
use sesame_core::mail::ComposedMail;
use sesame_core::ports::{CredentialStore, FactorCredential, OneTimeSecret, StoreError, Unique};
use sesame_core::types::AccountId;
use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;
use uuid::Uuid;

/// Takes the account row's lock for the rest of the transaction (a no-op write): changes to an
/// account's devices run one at a time.
pub(crate) async fn lock_account(tx: &mut crate::pool::Tx, account: AccountId) -> Result<(), StoreError> {
    sqlx::query("UPDATE accounts SET updated_at = updated_at WHERE id = $1")
        .bind(account.0.to_string())
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// The account's enabled second-factor devices, as the transaction sees them.
async fn enabled_devices(tx: &mut crate::pool::Tx, account: AccountId) -> Result<i64, StoreError> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM credentials WHERE account_id = $1 AND kind <> 'password' AND enabled_at IS NOT NULL",
    )
    .bind(account.0.to_string())
    .fetch_one(&mut **tx)
    .await
    .map_err(db_error)
}

pub(crate) async fn void_backup_codes(
    tx: &mut crate::pool::Tx,
    account: AccountId,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE one_time_secrets SET used_at = $1 WHERE account_id = $2 AND purpose = $3 AND used_at IS NULL")
        .bind(micros(now))
        .bind(account.0.to_string())
        .bind(backup_code::PURPOSE)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    Ok(())
}

#[async_trait]
impl CredentialStore for SqlStore {
    async fn add_credential(&self, c: &FactorCredential, audit: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        if c.enabled_at.is_none() {
            // One pending device per kind: starting again replaces an abandoned enrolment, so
            // pending rows can't pile up.
            sqlx::query("DELETE FROM credentials WHERE account_id = $1 AND kind = $2 AND enabled_at IS NULL")
                .bind(c.account_id.0.to_string())
                .bind(&c.kind)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        sqlx::query(
            "INSERT INTO credentials (id, account_id, kind, version, data, description, created_at, updated_at, enabled_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)",
        )
        .bind(c.id.to_string())
        .bind(c.account_id.0.to_string())
        .bind(&c.kind)
        .bind(c.version)
        .bind(&c.data)
        .bind(&c.description)
        .bind(micros(c.created_at))
        .bind(c.enabled_at.map(micros))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        crate::commit_with(tx, audit, &[]).await
    }

    async fn credentials(&self, account: AccountId) -> Result<Vec<FactorCredential>, StoreError> {
        let sql = format!(
            "SELECT {} FROM credentials c WHERE account_id = $1 AND kind <> 'password' ORDER BY created_at, id",
            CREDENTIAL_COLUMNS
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account.0.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter().map(credential_from_row).collect()
    }

    async fn enable_credential(
        &self,
        id: Uuid,
        account: AccountId,
        data: &str,
        backup_codes: &[OneTimeSecret],
        audit: &AuditEvent,
        mails: &[ComposedMail],
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        // Like a removal (below): under the account row's lock, whether this is the first device
        // (the one that brings backup codes) is decided on what is really enabled.
        lock_account(&mut tx, account).await?;
        if enabled_devices(&mut tx, account).await? == 0 && backup_codes.is_empty() {
            return Err(StoreError::Conflict(Unique::Other));
        }
        let done = sqlx::query(
            "UPDATE credentials SET enabled_at = $1, updated_at = $1, data = $4 \
             WHERE id = $2 AND account_id = $3 AND enabled_at IS NULL",
        )
        .bind(micros(audit.at))
        .bind(id.to_string())
        .bind(account.0.to_string())
        .bind(data)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected();
        if done == 0 {
            return Ok(false);
        }
        if !backup_codes.is_empty() {
            void_backup_codes(&mut tx, account, audit.at).await?;
            crate::secrets_and_mails(&mut tx, backup_codes, &[]).await?;
        }
        crate::flows::end_login_flows(&mut tx, account, audit.at).await?;
        crate::commit_with(tx, audit, mails).await?;
        Ok(true)
    }

    async fn rename_credential(
        &self,
        id: Uuid,
        account: AccountId,
        description: &str,
        audit: &AuditEvent,
        mails: &[ComposedMail],
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let done =
            sqlx::query("UPDATE credentials SET description = $1, updated_at = $2 WHERE id = $3 AND account_id = $4")
                .bind(description)
                .bind(micros(audit.at))
                .bind(id.to_string())
                .bind(account.0.to_string())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?
                .rows_affected();
        if done == 0 {
            return Ok(false);
        }
        crate::commit_with(tx, audit, mails).await?;
        Ok(true)
    }

    async fn delete_credential(
        &self,
        id: Uuid,
        account: AccountId,
        drop_backup_codes: bool,
        audit: &AuditEvent,
        mails: &[ComposedMail],
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        // One change at a time per account (the row's lock), so whether this is the last device
        // is decided on what is really left: two removals side by side can't both see another.
        lock_account(&mut tx, account).await?;
        let deleted: Option<Option<i64>> = sqlx::query_scalar(
            "DELETE FROM credentials WHERE id = $1 AND account_id = $2 AND kind <> 'password' RETURNING enabled_at",
        )
        .bind(id.to_string())
        .bind(account.0.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let Some(enabled) = deleted else {
            return Ok(false);
        };
        if enabled.is_some() {
            let left = enabled_devices(&mut tx, account).await?;
            if (left == 0) != drop_backup_codes {
                return Err(StoreError::Conflict(Unique::Other));
            }
        }
        if drop_backup_codes {
            void_backup_codes(&mut tx, account, audit.at).await?;
        }
        crate::commit_with(tx, audit, mails).await?;
        Ok(true)
    }

    async fn touch_credential(&self, id: Uuid, now: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query("UPDATE credentials SET last_used_at = $1 WHERE id = $2")
            .bind(micros(now))
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn update_credential_data(
        &self,
        id: Uuid,
        account: AccountId,
        old: &str,
        new: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE credentials SET data = $1, updated_at = $2, last_used_at = $2 \
             WHERE id = $3 AND account_id = $4 AND data = $5",
        )
        .bind(new)
        .bind(micros(now))
        .bind(id.to_string())
        .bind(account.0.to_string())
        .bind(old)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_credential_challenge(&self, id: Uuid, account: AccountId, sealed: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE credentials SET challenge = $1 WHERE id = $2 AND account_id = $3")
            .bind(sealed)
            .bind(id.to_string())
            .bind(account.0.to_string())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn take_credential_challenge(&self, id: Uuid, account: AccountId) -> Result<Option<String>, StoreError> {
        // Read, then clear only if it is still what was read: of two racing callers, one
        // clears it and the other changes no row (RISK-4).
        let current: Option<Option<String>> =
            sqlx::query_scalar("SELECT challenge FROM credentials WHERE id = $1 AND account_id = $2")
                .bind(id.to_string())
                .bind(account.0.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
        let Some(Some(challenge)) = current else {
            return Ok(None);
        };
        let done = sqlx::query("UPDATE credentials SET challenge = NULL WHERE id = $1 AND challenge = $2")
            .bind(id.to_string())
            .bind(&challenge)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok((done.rows_affected() == 1).then_some(challenge))
    }

    async fn use_totp_step(&self, account: AccountId, step: i64) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "INSERT INTO totp_steps (account_id, last_step) VALUES ($1, $2) \
             ON CONFLICT (account_id) DO UPDATE SET last_step = $2 WHERE totp_steps.last_step < $2 \
             RETURNING last_step",
        )
        .bind(account.0.to_string())
        .bind(step)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(row.is_some())
    }

    async fn replace_backup_codes(
        &self,
        account: AccountId,
        codes: &[OneTimeSecret],
        audit: &AuditEvent,
        mails: &[ComposedMail],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        void_backup_codes(&mut tx, account, audit.at).await?;
        crate::secrets_and_mails(&mut tx, codes, &[]).await?;
        crate::commit_with(tx, audit, mails).await
    }

    async fn backup_codes_left(&self, account: AccountId, now: OffsetDateTime) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS left_count FROM one_time_secrets \
             WHERE account_id = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
        )
        .bind(account.0.to_string())
        .bind(backup_code::PURPOSE)
        .bind(micros(now))
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        row.try_get::<i64, _>("left_count").map_err(db_error)
    }

    async fn set_last_second_factor(&self, account: AccountId, method: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE accounts SET last_second_factor = $1 WHERE id = $2")
            .bind(method)
            .bind(account.0.to_string())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        self.changed(account);
        Ok(())
    }

    async fn complete_flow(&self, id: Uuid, now: OffsetDateTime) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE flows SET completed_at = $1 WHERE id = $2 AND completed_at IS NULL")
            .bind(micros(now))
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected() == 1)
    }
}

/// What [`credential_from_row`] reads, from a `credentials` table named `c`.
pub(crate) const CREDENTIAL_COLUMNS: &str =
    "c.id, c.account_id, c.kind, c.version, c.data, c.description, c.created_at, c.enabled_at, c.last_used_at";

/// A `credentials` row, its columns as [`CREDENTIAL_COLUMNS`] names them.
pub(crate) fn credential_from_row(r: &AnyRow) -> Result<FactorCredential, StoreError> {
    Ok(FactorCredential {
        id: parse_uuid(&r.try_get::<String, _>("id").map_err(db_error)?)?,
        account_id: AccountId(parse_uuid(&r.try_get::<String, _>("account_id").map_err(db_error)?)?),
        kind: r.try_get("kind").map_err(db_error)?,
        version: r.try_get("version").map_err(db_error)?,
        data: r.try_get("data").map_err(db_error)?,
        description: r
            .try_get::<Option<String>, _>("description")
            .map_err(db_error)?
            .unwrap_or_default(),
        created_at: from_micros(r.try_get("created_at").map_err(db_error)?)?,
        enabled_at: opt_from_micros(r.try_get("enabled_at").map_err(db_error)?)?,
        last_used_at: opt_from_micros(r.try_get("last_used_at").map_err(db_error)?)?,
    })
}
