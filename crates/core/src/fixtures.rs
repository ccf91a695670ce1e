//! Values the unit tests of several modules build the same way.

use crate::ports::Account;
use crate::types::{AccountId, AccountState, AccountType, CustomerCode, Email, NicHandle};
use time::OffsetDateTime;
use uuid::Uuid;

/// Account number `n`: active, French, created at `at`.
pub(crate) fn account(n: u8, at: OffsetDateTime) -> Account {
    Account {
        id: AccountId(Uuid::from_u128(u128::from(n))),
        nic_handle: NicHandle::from_stored(format!("ab{n:05}-ovh")),
        customer_code: CustomerCode::from_stored("1111-111-11".into()),
        email: Email::from_stored(format!("{n}@example.com"), format!("{n}@example.com")),
        first_name: "Jane".into(),
        last_name: "Doe".into(),
        account_type: AccountType::Individual,
        company_name: None,
        phone: None,
        country: "FR".into(),
        language: "fr".into(),
        currency: "EUR".into(),
        subsidiary: "FR".into(),
        state: AccountState::Active,
        login_notifications: true,
        last_second_factor: None,
        created_at: at,
        backup_email: None,
        backup_email_required: false,
    }
}
