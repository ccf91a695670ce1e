//! Creating and finding accounts (ACCT-1 to ACCT-5, PWD-2). The NIC handle is drawn at random
//! among unused ones: a taken candidate is redrawn, and after a few collisions the number grows a
//! digit (by default 5, then 6, then 7 digits: `nic_digits_min`, `nic_digits_max`), so a crowded
//! initials pair still gets a handle quickly.
//! The account, its password, its audit event and its confirmation mail (carrying the NIC handle)
//! are written in one transaction.

use super::Base;
use super::sessions::Authenticated;
use crate::audit::{Actor, AuditEvent, AuditKind, ClientInfo};
use crate::factor::password::HashError;
use crate::mail::{ComposeError, MailKind};
use crate::ports::AccountStore;
use crate::ports::{Account, NewAccount, ProfileUpdate, StoreError, Unique};
use crate::types::{
    AccountId, AccountState, AccountType, Country, CustomerCode, Email, EmailError, LoginIdentifier, NicHandle,
    Password, PersonName, PolicyViolation, initials, new_id, subsidiary_for_country,
};
use std::sync::Arc;
use uuid::Uuid;

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
    Mail(#[from] ComposeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a profile change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error(transparent)]
    Invalid(#[from] CreateAccountError),
    /// Support may call a customer back on the phone on file to check who is calling: changing
    /// it needs an authentication within 10 minutes, like the email addresses (SESS-3).
    #[error("changing the phone number needs a fresh login")]
    ReauthRequired,
}

impl From<StoreError> for ProfileError {
    fn from(err: StoreError) -> Self {
        Self::Invalid(err.into())
    }
}

/// Collisions tolerated at one length before the handle grows a digit.
const DRAWS_PER_LENGTH: u32 = 8;
/// Draws of any kind (handle or customer code) before giving up; far beyond any real collision run.
const MAX_DRAWS: u32 = 64;

/// Validated profile fields (ACCT-4), before a NIC handle exists.
#[derive(Debug, Clone)]
pub(crate) struct AccountDraft {
    pub email: Email,
    pub first: PersonName,
    pub last: PersonName,
    pub country: Country,
    pub account_type: AccountType,
    pub company_name: Option<String>,
    pub phone: Option<String>,
    pub language: String,
    pub currency: String,
    pub subsidiary: String,
}

/// The profile part of account creation, as sign-up step 3 and the CLI supply it.
#[derive(Debug, Clone, Default)]
pub struct ProfileInput {
    pub first_name: String,
    pub last_name: String,
    pub account_type: Option<AccountType>,
    pub company_name: Option<String>,
    pub phone: Option<String>,
}

/// An account type as a form or a request names it: empty or absent for the default
/// (individual); anything else must be one of the three, never read as an individual.
pub fn account_type_choice(raw: Option<&str>) -> Result<Option<AccountType>, CreateAccountError> {
    match raw {
        None | Some("") => Ok(None),
        Some(given) => AccountType::parse(given)
            .map(Some)
            .ok_or(CreateAccountError::InvalidField("account type")),
    }
}

/// ACCT-4's rules on a profile, the same at sign-up and when the customer edits it.
struct ValidProfile {
    first: PersonName,
    last: PersonName,
    account_type: AccountType,
    company_name: Option<String>,
    phone: Option<String>,
}

impl ValidProfile {
    fn new(profile: &ProfileInput) -> Result<Self, CreateAccountError> {
        let first = PersonName::parse(&profile.first_name).ok_or(CreateAccountError::InvalidField("first name"))?;
        let last = PersonName::parse(&profile.last_name).ok_or(CreateAccountError::InvalidField("last name"))?;
        let account_type = profile.account_type.unwrap_or(AccountType::Individual);
        let company_name = match (account_type, profile.company_name.as_deref().map(str::trim)) {
            (AccountType::Individual, _) => None,
            (_, Some(name)) if !name.is_empty() => Some(
                PersonName::parse(name)
                    .ok_or(CreateAccountError::InvalidField("company name"))?
                    .as_str()
                    .to_owned(),
            ),
            (_, _) => return Err(CreateAccountError::InvalidField("company name")),
        };
        let phone = match profile.phone.as_deref().map(str::trim) {
            Some(p) if !p.is_empty() => Some(parse_e164(p)?),
            _ => None,
        };
        Ok(Self {
            first,
            last,
            account_type,
            company_name,
            phone,
        })
    }
}

impl AccountDraft {
    pub(crate) fn new(
        email: Email,
        country: Country,
        language: Option<&str>,
        currency: Option<&str>,
        profile: &ProfileInput,
    ) -> Result<Self, CreateAccountError> {
        let ValidProfile {
            first,
            last,
            account_type,
            company_name,
            phone,
        } = ValidProfile::new(profile)?;
        let (language, currency) = language_and_currency(&country, language, currency)?;
        Ok(Self {
            email,
            first,
            last,
            account_type,
            company_name,
            phone,
            language,
            currency,
            subsidiary: subsidiary_for_country(country.as_str()).code.to_owned(),
            country,
        })
    }

    /// The values PWD-2 forbids inside a password once the name is known.
    pub(crate) fn personal(&self) -> [&str; 3] {
        [self.first.as_str(), self.last.as_str(), self.email.local_part()]
    }

    /// The new, active account these fields make, with its identifiers.
    pub(crate) fn into_account(
        self,
        id: AccountId,
        nic_handle: NicHandle,
        customer_code: CustomerCode,
        created_at: time::OffsetDateTime,
    ) -> Account {
        Account {
            id,
            nic_handle,
            customer_code,
            email: self.email,
            first_name: self.first.as_str().to_owned(),
            last_name: self.last.as_str().to_owned(),
            account_type: self.account_type,
            company_name: self.company_name,
            phone: self.phone,
            country: self.country.as_str().to_owned(),
            language: self.language,
            currency: self.currency,
            subsidiary: self.subsidiary,
            state: AccountState::Active,
            login_notifications: true,
            last_second_factor: None,
            created_at,
            backup_email: None,
            backup_email_required: false,
        }
    }
}

/// Language and currency, defaulting to the country's subsidiary.
pub(crate) fn language_and_currency(
    country: &Country,
    language: Option<&str>,
    currency: Option<&str>,
) -> Result<(String, String), CreateAccountError> {
    let sub = subsidiary_for_country(country.as_str());
    let language = pick_code(language, sub.language, 2, "language")?.to_ascii_lowercase();
    let currency = pick_code(currency, sub.currency, 3, "currency")?.to_ascii_uppercase();
    Ok((language, currency))
}

/// ACCT-1..5: creating, finding and blocking accounts; their settings.
#[derive(Clone)]
pub struct Accounts {
    pub(super) base: Arc<Base>,
    pub(super) ports: Arc<dyn AccountStore>,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts").finish_non_exhaustive()
    }
}

impl Accounts {
    pub(super) fn new(base: Arc<Base>, ports: Arc<dyn AccountStore>) -> Self {
        Self { base, ports }
    }

    /// Creates an account with a password (operator CLI).
    pub async fn create_account(
        &self,
        input: NewAccountInput,
        actor: Actor,
        client: &ClientInfo,
    ) -> Result<Account, CreateAccountError> {
        let email = Email::parse(&input.email)?;
        let country = Country::parse(&input.country).ok_or(CreateAccountError::InvalidField("country"))?;
        let profile = ProfileInput {
            first_name: input.first_name,
            last_name: input.last_name,
            account_type: Some(input.account_type),
            company_name: input.company_name,
            phone: input.phone,
        };
        let draft = AccountDraft::new(
            email,
            country,
            input.language.as_deref(),
            input.currency.as_deref(),
            &profile,
        )?;
        self.base
            .settings
            .password_policy
            .check(&draft.subsidiary, &input.password, &draft.personal())?;
        if self
            .ports
            .find_account_by_login(draft.email.canonical())
            .await?
            .is_some()
        {
            return Err(CreateAccountError::EmailTaken);
        }
        let password_phc = self.base.hasher.hash(&input.password).await?;
        self.insert_account(draft, password_phc, &input.password, actor, client, None)
            .await
    }

    /// Draws a NIC handle and customer code and writes the account, its password, its audit
    /// event and its confirmation mail together, redrawing taken values.
    pub(crate) async fn insert_account(
        &self,
        draft: AccountDraft,
        password_phc: String,
        password: &Password,
        actor: Actor,
        client: &ClientInfo,
        completes_flow: Option<Uuid>,
    ) -> Result<Account, CreateAccountError> {
        let now = self.base.clock.now();
        let id = AccountId(new_id(now));
        let letters = initials(draft.first.as_str(), draft.last.as_str());
        let settings = &self.base.settings;
        let (fewest, most) = (*settings.nic_digits.start(), *settings.nic_digits.end());
        let nic_handle = NicHandle::draw(letters, fewest, &settings.nic_suffix, self.base.rng.as_ref());
        let customer_code = CustomerCode::draw(self.base.rng.as_ref());
        let mut account = draft.into_account(id, nic_handle, customer_code, now);
        let audit = AuditEvent::new(now, AuditKind::AccountCreated, actor, client).account(id);
        let folded_password = crate::types::canonical(password.expose());
        let mut collisions = 0u32;
        for _ in 0..MAX_DRAWS {
            // A handle that happens to sit inside the password would break PWD-2: draw another.
            let result = if folded_password.contains(account.nic_handle.as_str()) {
                Err(StoreError::Conflict(Unique::NicHandle))
            } else {
                let welcome = self.base.compose_for(&account, MailKind::Welcome, None)?;
                let new = NewAccount {
                    account: account.clone(),
                    password_phc: password_phc.clone(),
                    audit: audit.clone(),
                    mails: vec![welcome],
                    completes_flow,
                };
                self.ports.create_account(&new).await
            };
            match result {
                Ok(()) => {
                    self.base.mail_queued();
                    return Ok(account);
                }
                Err(StoreError::Conflict(Unique::NicHandle)) => {
                    collisions += 1;
                    let digits = fewest + collisions / DRAWS_PER_LENGTH;
                    if digits > most {
                        return Err(StoreError::Internal("no free NIC handle".into()).into());
                    }
                    let suffix = &settings.nic_suffix;
                    account.nic_handle = NicHandle::draw(letters, digits, suffix, self.base.rng.as_ref());
                }
                Err(StoreError::Conflict(Unique::CustomerCode)) => {
                    account.customer_code = CustomerCode::draw(self.base.rng.as_ref());
                }
                Err(StoreError::Conflict(Unique::Email)) => return Err(CreateAccountError::EmailTaken),
                Err(other) => return Err(other.into()),
            }
        }
        Err(StoreError::Internal("no free customer code".into()).into())
    }

    /// ACCT-4, PANEL-3: the customer changes their names, account type, company name, phone or
    /// the language of their mail, under the rules of sign-up. Any live session may change the
    /// names and the language; the phone, which support may use to check a caller, needs a fresh
    /// authentication. Audited with the fields that changed. The account as it now is.
    pub async fn update_profile(
        &self,
        auth: &Authenticated,
        profile: &ProfileInput,
        language: Option<&str>,
        client: &ClientInfo,
    ) -> Result<Account, ProfileError> {
        let valid = ValidProfile::new(profile)?;
        let current = &auth.account;
        let language = pick_code(language, &current.language, 2, "language")?.to_ascii_lowercase();
        let update = ProfileUpdate {
            first_name: valid.first.as_str().to_owned(),
            last_name: valid.last.as_str().to_owned(),
            account_type: valid.account_type,
            company_name: valid.company_name,
            phone: valid.phone,
            language,
        };
        if update.phone != current.phone {
            self.base
                .require_fresh(auth)
                .map_err(|_| ProfileError::ReauthRequired)?;
        }
        let changed: Vec<&str> = [
            ("first_name", update.first_name != current.first_name),
            ("last_name", update.last_name != current.last_name),
            ("account_type", update.account_type != current.account_type),
            ("company_name", update.company_name != current.company_name),
            ("phone", update.phone != current.phone),
            ("language", update.language != current.language),
        ]
        .into_iter()
        .filter_map(|(field, differs)| differs.then_some(field))
        .collect();
        if changed.is_empty() {
            return Ok(current.clone());
        }
        let mut audit = AuditEvent::new(
            self.base.clock.now(),
            AuditKind::ProfileChanged,
            Actor::Customer,
            client,
        )
        .account(current.id);
        audit.detail = Some(serde_json::json!({ "changed": changed }).to_string());
        self.ports.update_profile(current.id, &update, &audit).await?;
        Ok(Account {
            first_name: update.first_name,
            last_name: update.last_name,
            account_type: update.account_type,
            company_name: update.company_name,
            phone: update.phone,
            language: update.language,
            ..current.clone()
        })
    }

    /// Finds an account by NIC handle or primary email in any case or width (ACCT-3).
    pub async fn find_account(&self, identifier: &str) -> Result<Option<Account>, StoreError> {
        match LoginIdentifier::parse(identifier) {
            Some(id) => self.ports.find_account_by_login(id.as_str()).await,
            None => Ok(None),
        }
    }
}

/// A phone number in E.164 (ACCT-4), read as an SMS phone is (MFA-4): separators dropped.
fn parse_e164(input: &str) -> Result<String, CreateAccountError> {
    crate::factor::sms::parse_e164(input).ok_or(CreateAccountError::InvalidField("phone number"))
}

fn pick_code<'a>(
    given: Option<&'a str>,
    default: &'a str,
    len: usize,
    field: &'static str,
) -> Result<&'a str, CreateAccountError> {
    let code = given.map(str::trim).filter(|c| !c.is_empty()).unwrap_or(default);
    let ok = code.len() == len && code.bytes().all(|b| b.is_ascii_alphabetic());
    ok.then_some(code).ok_or(CreateAccountError::InvalidField(field))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_must_be_e164() {
        assert_eq!(parse_e164("+33 6 12 34 56 78").ok(), Some("+33612345678".into()));
        assert!(parse_e164("0612345678").is_err());
        assert!(parse_e164("+0612345678").is_err());
        assert!(parse_e164("+33abc").is_err());
        assert!(parse_e164("+1234567890123456").is_err());
    }

    #[test]
    fn codes_default_to_the_subsidiary() {
        assert_eq!(pick_code(None, "fr", 2, "language").ok(), Some("fr"));
        assert_eq!(pick_code(Some(" en "), "fr", 2, "language").ok(), Some("en"));
        assert_eq!(pick_code(Some(""), "fr", 2, "language").ok(), Some("fr"));
        assert!(pick_code(Some("eng"), "fr", 2, "language").is_err());
        assert!(pick_code(Some("€€€"), "EUR", 3, "currency").is_err());
    }
}
