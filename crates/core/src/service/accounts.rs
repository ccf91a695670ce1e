//! Creating and finding accounts (ACCT-1 to ACCT-5, PWD-2). The NIC handle is drawn at random
//! among unused ones: a taken candidate is redrawn, and after a few collisions the number grows a
//! digit (5, then 6, then 7 digits), so a crowded initials pair still gets a handle quickly.

use super::Services;
use crate::audit::{Actor, AuditEvent, AuditKind, ClientInfo};
use crate::factor::password::HashError;
use crate::ports::{Account, NewAccount, StoreError, Unique};
use crate::types::{
    AccountId, AccountState, AccountType, Country, CustomerCode, Email, EmailError,
    LoginIdentifier, NicHandle, Password, PersonName, PolicyViolation, initials, new_id,
    subsidiary_for_country,
};

/// What the caller supplies to create an account.
#[derive(Debug, Clone)]
pub struct NewAccountInput {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub country: String,
    pub account_type: AccountType,
    pub company_name: Option<String>,
    pub phone: Option<String>,
    /// Defaults to the subsidiary's language.
    pub language: Option<String>,
    /// Defaults to the subsidiary's currency.
    pub currency: Option<String>,
    pub password: Password,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreateAccountError {
    #[error("{0}")]
    Email(#[from] EmailError),
    #[error("the {0} is missing or invalid")]
    InvalidField(&'static str),
    #[error("{0}")]
    Password(#[from] PolicyViolation),
    #[error("an account already uses this email address")]
    EmailTaken,
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Collisions tolerated at one length before the handle grows a digit.
const DRAWS_PER_LENGTH: u32 = 8;
/// Draws of any kind (handle or customer code) before giving up; far beyond any real collision run.
const MAX_DRAWS: u32 = 64;

impl Services {
    /// Creates an account with a password; used by the operator CLI today and by sign-up later.
    pub async fn create_account(
        &self,
        input: NewAccountInput,
        actor: Actor,
        client: &ClientInfo,
    ) -> Result<Account, CreateAccountError> {
        let email = Email::parse(&input.email)?;
        let first = PersonName::parse(&input.first_name)
            .ok_or(CreateAccountError::InvalidField("first name"))?;
        let last = PersonName::parse(&input.last_name)
            .ok_or(CreateAccountError::InvalidField("last name"))?;
        let country =
            Country::parse(&input.country).ok_or(CreateAccountError::InvalidField("country"))?;
        let company_name = match (input.account_type, input.company_name.as_deref()) {
            (AccountType::Individual, _) => None,
            (_, Some(name)) => Some(
                PersonName::parse(name)
                    .ok_or(CreateAccountError::InvalidField("company name"))?
                    .as_str()
                    .to_owned(),
            ),
            (_, None) => return Err(CreateAccountError::InvalidField("company name")),
        };
        let phone = input.phone.as_deref().map(parse_e164).transpose()?;
        let sub = subsidiary_for_country(country.as_str());
        let language =
            pick_code(input.language.as_deref(), sub.language, 2, "language")?.to_ascii_lowercase();
        let currency =
            pick_code(input.currency.as_deref(), sub.currency, 3, "currency")?.to_ascii_uppercase();

        self.settings.password_policy.check(
            &input.password,
            &[first.as_str(), last.as_str(), email.local_part()],
        )?;
        if self
            .store
            .find_account_by_login(email.canonical())
            .await?
            .is_some()
        {
            return Err(CreateAccountError::EmailTaken);
        }
        let password_phc = self.hasher.hash(&input.password).await?;

        let now = self.clock.now();
        let id = AccountId(new_id(now));
        let letters = initials(first.as_str(), last.as_str());
        let mut account = Account {
            id,
            nic_handle: NicHandle::draw(letters, 5, &self.settings.nic_suffix, self.rng.as_ref()),
            customer_code: CustomerCode::draw(self.rng.as_ref()),
            email,
            first_name: first.as_str().to_owned(),
            last_name: last.as_str().to_owned(),
            account_type: input.account_type,
            company_name,
            phone,
            country: country.as_str().to_owned(),
            language,
            currency,
            subsidiary: sub.code.to_owned(),
            state: AccountState::Active,
            created_at: now,
        };
        let audit = AuditEvent::new(now, AuditKind::AccountCreated, actor, client).account(id);
        let folded_password = crate::types::canonical(input.password.expose());
        let mut collisions = 0u32;
        for _ in 0..MAX_DRAWS {
            // A handle that happens to sit inside the password would break PWD-2: draw another.
            let handle_in_password = folded_password.contains(account.nic_handle.as_str());
            let result = if handle_in_password {
                Err(StoreError::Conflict(Unique::NicHandle))
            } else {
                let new = NewAccount {
                    account: account.clone(),
                    password_phc: password_phc.clone(),
                    audit: audit.clone(),
                };
                self.store.create_account(&new).await
            };
            match result {
                Ok(()) => return Ok(account),
                Err(StoreError::Conflict(Unique::NicHandle)) => {
                    collisions += 1;
                    let digits = 5 + collisions / DRAWS_PER_LENGTH;
                    if digits > 7 {
                        return Err(StoreError::Internal("no free NIC handle".into()).into());
                    }
                    let suffix = &self.settings.nic_suffix;
                    account.nic_handle =
                        NicHandle::draw(letters, digits, suffix, self.rng.as_ref());
                }
                Err(StoreError::Conflict(Unique::CustomerCode)) => {
                    account.customer_code = CustomerCode::draw(self.rng.as_ref());
                }
                Err(StoreError::Conflict(Unique::Email)) => {
                    return Err(CreateAccountError::EmailTaken);
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(StoreError::Internal("no free customer code".into()).into())
    }

    /// Finds an account by NIC handle or primary email in any case or width (ACCT-3).
    pub async fn find_account(&self, identifier: &str) -> Result<Option<Account>, StoreError> {
        match LoginIdentifier::parse(identifier) {
            Some(id) => self.store.find_account_by_login(id.as_str()).await,
            None => Ok(None),
        }
    }

    /// Blocks or unblocks an account (ACCT-5); blocking ends every session (SESS-5).
    pub async fn set_account_state(
        &self,
        account: AccountId,
        state: AccountState,
        client: &ClientInfo,
    ) -> Result<bool, StoreError> {
        let kind = match state {
            AccountState::Active => AuditKind::AccountUnblocked,
            AccountState::Blocked | AccountState::Closed => AuditKind::AccountBlocked,
        };
        let audit =
            AuditEvent::new(self.clock.now(), kind, Actor::Operator, client).account(account);
        self.store.set_account_state(account, state, &audit).await
    }
}

/// A phone number in E.164: `+`, then 8 to 15 digits, the first not zero (ACCT-4).
fn parse_e164(input: &str) -> Result<String, CreateAccountError> {
    let compact: String = input
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let digits = compact.strip_prefix('+').unwrap_or("");
    let ok = (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    ok.then_some(compact)
        .ok_or(CreateAccountError::InvalidField("phone number"))
}

fn pick_code<'a>(
    given: Option<&'a str>,
    default: &'a str,
    len: usize,
    field: &'static str,
) -> Result<&'a str, CreateAccountError> {
    let code = given.map_or(default, str::trim);
    let ok = code.len() == len && code.bytes().all(|b| b.is_ascii_alphabetic());
    ok.then_some(code)
        .ok_or(CreateAccountError::InvalidField(field))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_must_be_e164() {
        assert_eq!(
            parse_e164("+33 6 12 34 56 78").ok(),
            Some("+33612345678".into())
        );
        assert!(parse_e164("0612345678").is_err());
        assert!(parse_e164("+0612345678").is_err());
        assert!(parse_e164("+33abc").is_err());
        assert!(parse_e164("+1234567890123456").is_err());
    }

    #[test]
    fn codes_default_to_the_subsidiary() {
        assert_eq!(pick_code(None, "fr", 2, "language").ok(), Some("fr"));
        assert_eq!(
            pick_code(Some(" en "), "fr", 2, "language").ok(),
            Some("en")
        );
        assert!(pick_code(Some("eng"), "fr", 2, "language").is_err());
        assert!(pick_code(Some("€€€"), "EUR", 3, "currency").is_err());
    }
}
