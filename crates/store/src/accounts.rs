//! The account port: accounts, reserved NIC handles and the password credential.

use crate::batch::Batch;
use crate::{SqlStore, db_error, from_micros, micros, parse_uuid};
use async_trait::async_trait;
use sesame_core::audit::AuditEvent;
use sesame_core::mail::ComposedMail;
use sesame_core::ports::{
    Account, AccountStore, FactorCredential, ImportResult, NewAccount, PasswordCredential, ProfileUpdate, StoreError,
    Unique,
};
use sesame_core::types::{AccountId, AccountState, AccountType, CustomerCode, Email, NicHandle};
use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;
use uuid::Uuid;

/// `SELECT` of every account column, followed by the given clause.
macro_rules! account_columns {
    () => {
        concat!(
            "id, nic_handle, customer_code, email, email_canonical, first_name, last_name, account_type, ",
            "company_name, phone, country, language, currency, subsidiary, state, login_notifications, created_at, ",
            "last_second_factor, backup_email, backup_email_canonical, backup_email_required "
        )
    };
}

macro_rules! select_account {
    ($clause:literal) => {
        concat!("SELECT ", account_columns!(), "FROM accounts ", $clause)
    };
}

pub(crate) fn account_from_row(row: &AnyRow) -> Result<Account, StoreError> {
    let get = |name: &str| row.try_get::<String, _>(name).map_err(db_error);
    let opt = |name: &str| row.try_get::<Option<String>, _>(name).map_err(db_error);
    let account_type = get("account_type")?;
    let state = get("state")?;
    Ok(Account {
        id: AccountId(parse_uuid(&get("id")?)?),
        nic_handle: NicHandle::from_stored(get("nic_handle")?),
        customer_code: CustomerCode::from_stored(get("customer_code")?),
        email: Email::from_stored(get("email")?, get("email_canonical")?),
        first_name: get("first_name")?,
        last_name: get("last_name")?,
        account_type: AccountType::parse(&account_type)
            .ok_or_else(|| StoreError::Internal(format!("unknown account type {account_type}")))?,
        company_name: opt("company_name")?,
        phone: opt("phone")?,
        country: get("country")?,
        language: get("language")?,
        currency: get("currency")?,
        subsidiary: get("subsidiary")?,
        state: AccountState::parse(&state).ok_or_else(|| StoreError::Internal(format!("unknown state {state}")))?,
        login_notifications: row.try_get::<i64, _>("login_notifications").map_err(db_error)? != 0,
        last_second_factor: row.try_get("last_second_factor").map_err(db_error)?,
        created_at: from_micros(row.try_get("created_at").map_err(db_error)?)?,
        backup_email: match (opt("backup_email")?, opt("backup_email_canonical")?) {
            (Some(address), Some(canonical)) => Some(Email::from_stored(address, canonical)),
            _ => None,
        },
        backup_email_required: row.try_get::<i64, _>("backup_email_required").map_err(db_error)? != 0,
    })
}

/// Binds every column of an account to the `INSERT` of `create_account` and `import_one`.
const INSERT_ACCOUNT: &str = "INSERT INTO accounts (id, nic_handle, customer_code, email, email_canonical, first_name, \
     last_name, account_type, company_name, phone, country, language, currency, subsidiary, state, created_at, updated_at, \
     login_notifications) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16, $17)";

fn bind_account<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    a: &'q Account,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    query
        .bind(a.id.0.to_string())
        .bind(a.nic_handle.as_str())
        .bind(a.customer_code.as_str())
        .bind(a.email.address())
        .bind(a.email.canonical())
        .bind(&a.first_name)
        .bind(&a.last_name)
        .bind(a.account_type.as_str())
        .bind(a.company_name.as_deref())
        .bind(a.phone.as_deref())
        .bind(&a.country)
        .bind(&a.language)
        .bind(&a.currency)
        .bind(&a.subsidiary)
        .bind(a.state.as_str())
        .bind(micros(a.created_at))
        .bind(i64::from(a.login_notifications))
}

impl SqlStore {
    /// Ends a change to one account's row: committed with its audit event and mails, and the
    /// account's cached sessions voided, when `rows` changed; rolled back (false) when none did.
    async fn commit_account_change(
        &self,
        tx: crate::pool::Tx,
        rows: u64,
        id: AccountId,
        audit: &AuditEvent,
        mails: &[sesame_core::mail::ComposedMail],
    ) -> Result<bool, StoreError> {
        if rows == 0 {
            return Ok(false);
        }
        crate::commit_with(tx, audit, mails).await?;
        self.changed(id);
        Ok(true)
    }
}

/// Inserts the password credential of a new account.
async fn insert_password(tx: &mut crate::pool::Tx, account: &Account, phc: &str) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO credentials (id, account_id, kind, version, data, created_at, updated_at) \
         VALUES ($1, $2, 'password', 1, $3, $4, $4)",
    )
    .bind(sesame_core::types::new_id(account.created_at).to_string())
    .bind(account.id.0.to_string())
    .bind(phc)
    .bind(micros(account.created_at))
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// One imported account, inside the batch's transaction: the handle is reserved unless it is
/// already, the account written unless its email or customer code is taken (then the new
/// reservation is undone), then its password and audit event.
async fn import_one(tx: &mut crate::pool::Tx, new: &NewAccount) -> Result<ImportResult, StoreError> {
    let a = &new.account;
    let reserved = sqlx::query("INSERT INTO nic_handles (handle, reserved_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(a.nic_handle.as_str())
        .bind(micros(a.created_at))
        .execute(&mut **tx)
        .await
        .map_err(db_error)?
        .rows_affected();
    if reserved == 0 {
        let holder: Option<String> = sqlx::query_scalar("SELECT email_canonical FROM accounts WHERE nic_handle = $1")
            .bind(a.nic_handle.as_str())
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_error)?;
        return Ok(if holder.as_deref() == Some(a.email.canonical()) {
            ImportResult::Exists
        } else {
            ImportResult::Taken(Unique::NicHandle)
        });
    }
    let insert = format!("{INSERT_ACCOUNT} ON CONFLICT DO NOTHING");
    let written = bind_account(sqlx::query(sqlx::AssertSqlSafe(insert)), a)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?
        .rows_affected();
    if written == 0 {
        sqlx::query("DELETE FROM nic_handles WHERE handle = $1")
            .bind(a.nic_handle.as_str())
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        let email_taken: Option<i64> = sqlx::query_scalar("SELECT 1 FROM accounts WHERE email_canonical = $1")
            .bind(a.email.canonical())
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_error)?;
        return Ok(ImportResult::Taken(if email_taken.is_some() {
            Unique::Email
        } else {
            Unique::CustomerCode
        }));
    }
    insert_password(tx, a, &new.password_phc).await?;
    let mut batch = Batch::default();
    crate::audit::push_event(&mut batch, &new.audit);
    batch.run(tx).await?;
    Ok(ImportResult::Inserted)
}

#[async_trait]
impl AccountStore for SqlStore {
    async fn create_account(&self, new: &NewAccount) -> Result<(), StoreError> {
        let a = &new.account;
        let now = micros(a.created_at);
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        sqlx::query("INSERT INTO nic_handles (handle, reserved_at) VALUES ($1, $2)")
            .bind(a.nic_handle.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        bind_account(sqlx::query(INSERT_ACCOUNT), a)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        insert_password(&mut tx, a, &new.password_phc).await?;
        let mut batch = Batch::default();
        crate::audit::push_event(&mut batch, &new.audit);
        crate::outbox::push(&mut batch, &new.mails);
        batch.run(&mut tx).await?;
        if let Some(flow) = new.completes_flow {
            let closed = sqlx::query("UPDATE flows SET completed_at = $1 WHERE id = $2 AND completed_at IS NULL")
                .bind(now)
                .bind(flow.to_string())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?
                .rows_affected();
            if closed == 0 {
                // Another request completed this flow first; this account must not exist.
                return Err(StoreError::Conflict(Unique::Other));
            }
        }
        tx.commit().await.map_err(db_error)
    }

    async fn import_accounts(&self, accounts: &[NewAccount]) -> Result<Vec<ImportResult>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let mut results = Vec::with_capacity(accounts.len());
        for new in accounts {
            results.push(import_one(&mut tx, new).await?);
        }
        tx.commit().await.map_err(db_error)?;
        Ok(results)
    }

    async fn find_account_by_login(&self, canonical: &str) -> Result<Option<Account>, StoreError> {
        let sql = select_account!("WHERE nic_handle = $1 OR email_canonical = $1");
        let row = sqlx::query(sql)
            .bind(canonical)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(account_from_row).transpose()
    }

    async fn find_login(&self, canonical: &str) -> Result<Option<(Account, Option<PasswordCredential>)>, StoreError> {
        let password = "FROM credentials c WHERE c.account_id = accounts.id AND c.kind = 'password'";
        let sql = format!(
            "SELECT {}, (SELECT c.id {password}) AS password_id, (SELECT c.data {password}) AS password_phc \
             FROM accounts WHERE nic_handle = $1 OR email_canonical = $1",
            account_columns!()
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(canonical)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.map(|row| {
            let account = account_from_row(&row)?;
            let id: Option<String> = row.try_get("password_id").map_err(db_error)?;
            let phc: Option<String> = row.try_get("password_phc").map_err(db_error)?;
            let credential = match (id, phc) {
                (Some(id), Some(phc)) => Some(PasswordCredential {
                    id: parse_uuid(&id)?,
                    phc,
                }),
                _ => None,
            };
            Ok((account, credential))
        })
        .transpose()
    }

    async fn find_account(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        let sql = select_account!("WHERE id = $1");
        let row = sqlx::query(sql)
            .bind(id.0.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(account_from_row).transpose()
    }

    async fn password_credential(&self, id: AccountId) -> Result<Option<PasswordCredential>, StoreError> {
        let row = sqlx::query("SELECT id, data FROM credentials WHERE account_id = $1 AND kind = 'password'")
            .bind(id.0.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.map(|row| {
            let id: String = row.try_get("id").map_err(db_error)?;
            Ok(PasswordCredential {
                id: parse_uuid(&id)?,
                phc: row.try_get("data").map_err(db_error)?,
            })
        })
        .transpose()
    }

    async fn other_password_hash(&self, current: &str, skip: &[String]) -> Result<Option<String>, StoreError> {
        // Compared by prefix (counted in characters, as `substr` counts), not with LIKE, whose
        // `_` is a wildcard and whose case rules differ between the databases.
        let mut sql = String::from(
            "SELECT phc FROM (SELECT data AS phc FROM credentials WHERE kind = 'password' \
             UNION ALL SELECT password_phc AS phc FROM agents WHERE password_phc IS NOT NULL) AS hashes WHERE ",
        );
        let prefixes: Vec<&str> = std::iter::once(current)
            .chain(skip.iter().map(String::as_str))
            .collect();
        for (i, _) in prefixes.iter().enumerate() {
            if i > 0 {
                sql.push_str(" AND ");
            }
            sql.push_str(&format!(
                "substr(phc, 1, CAST(${} AS INTEGER)) <> ${}",
                2 * i + 1,
                2 * i + 2
            ));
        }
        sql.push_str(" LIMIT 1");
        let mut query = sqlx::query_as::<_, (String,)>(sqlx::AssertSqlSafe(sql));
        for prefix in prefixes {
            query = query
                .bind(i64::try_from(prefix.chars().count()).unwrap_or(i64::MAX))
                .bind(prefix);
        }
        let row = query.fetch_optional(&self.pool).await.map_err(db_error)?;
        Ok(row.map(|(phc,)| phc))
    }

    async fn update_password_hash(&self, credential: Uuid, phc: &str, now: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query("UPDATE credentials SET data = $1, updated_at = $2 WHERE id = $3 AND kind = 'password'")
            .bind(phc)
            .bind(micros(now))
            .bind(credential.to_string())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn update_profile(
        &self,
        id: AccountId,
        profile: &ProfileUpdate,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let changed = sqlx::query(
            "UPDATE accounts SET first_name = $1, last_name = $2, account_type = $3, company_name = $4, phone = $5, \
             language = $6, updated_at = $7 WHERE id = $8 AND (first_name <> $1 OR last_name <> $2 \
             OR account_type <> $3 OR company_name IS DISTINCT FROM $4 OR phone IS DISTINCT FROM $5 OR language <> $6)",
        )
        .bind(&profile.first_name)
        .bind(&profile.last_name)
        .bind(profile.account_type.as_str())
        .bind(profile.company_name.as_deref())
        .bind(profile.phone.as_deref())
        .bind(&profile.language)
        .bind(micros(audit.at))
        .bind(id.0.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected();
        self.commit_account_change(tx, changed, id, audit, &[]).await
    }

    async fn set_login_notifications(
        &self,
        id: AccountId,
        on: bool,
        audit: &AuditEvent,
        mails: &[sesame_core::mail::ComposedMail],
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let changed = sqlx::query(
            "UPDATE accounts SET login_notifications = $1, updated_at = $2 WHERE id = $3 AND login_notifications <> $1",
        )
        .bind(i64::from(on))
        .bind(micros(audit.at))
        .bind(id.0.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected();
        self.commit_account_change(tx, changed, id, audit, mails).await
    }

    async fn set_account_state(
        &self,
        id: AccountId,
        state: AccountState,
        audit: &AuditEvent,
        mails: &[ComposedMail],
    ) -> Result<bool, StoreError> {
        let now = micros(audit.at);
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let changed = sqlx::query(
            "UPDATE accounts SET state = $1, updated_at = $2 WHERE id = $3 AND state <> $1 AND state <> 'closed'",
        )
        .bind(state.as_str())
        .bind(now)
        .bind(id.0.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected();
        if changed == 0 {
            return Ok(false);
        }
        if state != AccountState::Active {
            crate::recovery::take_back(&mut tx, id, audit.at).await?;
        }
        crate::commit_with(tx, audit, mails).await?;
        self.changed(id);
        Ok(true)
    }
}

#[async_trait]
impl sesame_core::ports::MaintenanceStore for SqlStore {
    async fn data_migration_done(&self, name: &str) -> Result<bool, StoreError> {
        let found = sqlx::query("SELECT name FROM data_migrations WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(found.is_some())
    }

    async fn mark_data_migration(&self, name: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO data_migrations (name, applied_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(micros(at))
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn emails_after(
        &self,
        after: Option<AccountId>,
        limit: u32,
    ) -> Result<Vec<sesame_core::ports::StoredEmail>, StoreError> {
        let rows = sqlx::query("SELECT id, email, email_canonical FROM accounts WHERE id > $1 ORDER BY id LIMIT $2")
            .bind(after.map_or_else(String::new, |a| a.0.to_string()))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter()
            .map(|r| {
                Ok(sesame_core::ports::StoredEmail {
                    account: AccountId(parse_uuid(&r.try_get::<String, _>("id").map_err(db_error)?)?),
                    address: r.try_get("email").map_err(db_error)?,
                    canonical: r.try_get("email_canonical").map_err(db_error)?,
                })
            })
            .collect()
    }

    async fn set_email_canonical(&self, account: AccountId, canonical: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE accounts SET email_canonical = $1 WHERE id = $2")
            .bind(canonical)
            .bind(account.0.to_string())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        self.changed(account);
        Ok(())
    }
}

#[async_trait]
impl sesame_core::ports::IpRuleStore for SqlStore {
    async fn ip_rules(&self, account: AccountId) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar::<_, String>("SELECT rules FROM ip_rules WHERE account_id = $1")
            .bind(account.0.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)
    }

    async fn ip_rules_and_credentials(
        &self,
        account: AccountId,
    ) -> Result<(Option<String>, Vec<FactorCredential>), StoreError> {
        // One row per credential, or one row of NULLs without any; the rules on every row.
        let sql = format!(
            "SELECT r.rules AS ip_rules, {} FROM (SELECT CAST($1 AS TEXT) AS id) a \
             LEFT JOIN ip_rules r ON r.account_id = a.id \
             LEFT JOIN credentials c ON c.account_id = a.id AND c.kind <> 'password' \
             ORDER BY c.created_at, c.id",
            crate::credentials::CREDENTIAL_COLUMNS
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account.0.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        let rules = match rows.first() {
            Some(row) => row.try_get::<Option<String>, _>("ip_rules").map_err(db_error)?,
            None => None,
        };
        let mut credentials = Vec::with_capacity(rows.len());
        for row in &rows {
            if row.try_get::<Option<String>, _>("id").map_err(db_error)?.is_some() {
                credentials.push(crate::credentials::credential_from_row(row)?);
            }
        }
        Ok((rules, credentials))
    }

    async fn set_ip_rules(
        &self,
        account: AccountId,
        rules: &str,
        audit: &AuditEvent,
        mails: &[sesame_core::mail::ComposedMail],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        sqlx::query(
            "INSERT INTO ip_rules (account_id, rules, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (account_id) DO UPDATE SET rules = $2, updated_at = $3",
        )
        .bind(account.0.to_string())
        .bind(rules)
        .bind(micros(audit.at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        crate::commit_with(tx, audit, mails).await
    }
}
