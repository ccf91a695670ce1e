//! Bringing existing customers in from another system (`sesame account import`): one JSON line
//! per account, with the field names `GET /api/v1/me` uses, checked here line by line and written
//! by the store in batches. A line whose NIC handle is already there with the same email is
//! skipped (so a run can be resumed or repeated); a bad line is refused with its reason and the
//! others go on. Passwords arrive as the other system's hashes (`factor::imported_hash`) and are
//! rehashed with the current Argon2id settings at the customer's next successful login (PWD-1).

use super::accounts::{AccountDraft, Accounts, CreateAccountError, ProfileInput};
use crate::audit::{Actor, AuditEvent, AuditKind, ClientInfo};
use crate::factor::imported_hash;
use crate::ports::{ImportResult, NewAccount, StoreError, Unique};
use crate::types::{AccountId, Country, CustomerCode, Email, NicHandle, canonical, new_id};
use time::OffsetDateTime;

/// One line of an import file.
#[derive(Debug, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ImportLine {
    pub nic_handle: String,
    /// `1234-567-89` or its nine digits.
    pub customer_code: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    /// ISO 3166 code; it fixes the subsidiary (and the default language and currency).
    pub country: String,
    #[serde(default)]
    pub language: Option<String>,
    /// RFC 3339; the time of the import when absent.
    #[serde(default)]
    pub created_at: Option<String>,
    pub password_hash: String,
}

/// A line checked and ready to write.
#[derive(Debug)]
pub struct PreparedImport(NewAccount);

/// What became of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    Imported,
    /// Its NIC handle is there with the same email: imported by an earlier run.
    AlreadyImported,
    Refused(String),
}

impl Accounts {
    /// Checks one line of an import file; why it can't be imported otherwise.
    pub fn prepare_import(&self, line: &str) -> Result<PreparedImport, String> {
        let line: ImportLine = serde_json::from_str(line).map_err(|e| format!("not a valid line: {e}"))?;
        let suffix = &self.base.settings.nic_suffix;
        if !NicHandle::looks_like(&line.nic_handle, suffix, &self.base.settings.nic_digits) {
            return Err(format!("nic_handle: not a NIC handle like ab12345-{suffix}"));
        }
        let digits: String = line.customer_code.chars().filter(|c| *c != '-').collect();
        if digits.len() != 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err("customer_code: not nine digits like 1234-567-89".into());
        }
        let email = Email::parse(&line.email).map_err(|e| format!("email: {e}"))?;
        let country = Country::parse(&line.country).ok_or("country: not a two-letter country code")?;
        let profile = ProfileInput {
            first_name: line.first_name,
            last_name: line.last_name,
            ..ProfileInput::default()
        };
        let draft =
            AccountDraft::new(email, country, line.language.as_deref(), None, &profile).map_err(|e| match e {
                CreateAccountError::InvalidField(field) => format!("{}: invalid", field.replace(' ', "_")),
                other => other.to_string(),
            })?;
        let now = self.base.clock.now();
        let created_at = match line.created_at.as_deref() {
            Some(at) => OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
                .map_err(|e| format!("created_at: not an RFC 3339 time: {e}"))?,
            None => now,
        };
        imported_hash::accept(&line.password_hash).map_err(|e| format!("password_hash: {e}"))?;
        let id = AccountId(new_id(now));
        let account = draft.into_account(
            id,
            NicHandle::from_stored(canonical(&line.nic_handle)),
            CustomerCode::from_digits(&digits),
            created_at,
        );
        let mut audit =
            AuditEvent::new(now, AuditKind::AccountCreated, Actor::Operator, &ClientInfo::default()).account(id);
        audit.detail = Some("imported".into());
        Ok(PreparedImport(NewAccount {
            account,
            password_phc: line.password_hash,
            audit,
            mails: Vec::new(),
            completes_flow: None,
        }))
    }

    /// Writes checked lines in one transaction; what became of each, in order.
    pub async fn import(&self, batch: Vec<PreparedImport>) -> Result<Vec<ImportOutcome>, StoreError> {
        let accounts: Vec<NewAccount> = batch.into_iter().map(|p| p.0).collect();
        let results = self.ports.import_accounts(&accounts).await?;
        Ok(results
            .into_iter()
            .map(|r| match r {
                ImportResult::Inserted => ImportOutcome::Imported,
                ImportResult::Exists => ImportOutcome::AlreadyImported,
                ImportResult::Taken(Unique::NicHandle) => {
                    ImportOutcome::Refused("nic_handle: used by another account".into())
                }
                ImportResult::Taken(Unique::Email) => ImportOutcome::Refused("email: used by another account".into()),
                ImportResult::Taken(_) => ImportOutcome::Refused("customer_code: used by another account".into()),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_names_its_fields_as_get_me_does() {
        let line = ImportLine {
            nic_handle: "ab12345-ovh".into(),
            customer_code: "1234-567-89".into(),
            first_name: "Jane".into(),
            last_name: "Doe".into(),
            email: "jane@example.com".into(),
            country: "FR".into(),
            language: None,
            created_at: None,
            password_hash: "$2b$04$x".into(),
        };
        let json = serde_json::to_value(&line).unwrap();
        for field in [
            "nic_handle",
            "customer_code",
            "first_name",
            "last_name",
            "email",
            "country",
            "language",
        ] {
            assert!(json.get(field).is_some(), "{field}");
        }
        assert!(serde_json::from_str::<ImportLine>(r#"{"nic_handle":"x","typo":1}"#).is_err());
    }
}
