//! ACCT-1..4, PWD-2: identifiers, emails, NIC handles, names, countries, customer codes and the
//! password policy, on any text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesame_core::types::{
    Country, CustomerCode, Email, LoginIdentifier, NicHandle, Password, PasswordPolicy, PersonName,
};

fuzz_target!(|input: &str| {
    let id = LoginIdentifier::parse(input);
    if let Some(id) = &id {
        // Canonical forms are stable: parsing one again gives itself.
        assert_eq!(LoginIdentifier::parse(id.as_str()).as_ref().map(LoginIdentifier::as_str), Some(id.as_str()));
    }
    if let Ok(email) = Email::parse(input) {
        assert!(email.canonical().contains('@'));
        let _ = email.local_part();
    }
    let _ = NicHandle::looks_like(input, "ovh", &(3..=12));
    let _ = PersonName::parse(input);
    let _ = Country::parse(input);
    let _ = CustomerCode::from_digits(input);
    let password = Password::new(input);
    // PWD-2 under both policies: the default, and a subsidiary's classic one.
    let policy = PasswordPolicy {
        classic_subsidiaries: vec!["FR".into()],
        ..PasswordPolicy::default()
    };
    for subsidiary in ["GB", "FR"] {
        let _ = policy.check(subsidiary, &password, &[input, "jane", "doe"]);
    }
});
