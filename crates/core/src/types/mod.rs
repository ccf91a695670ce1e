//! Domain types that are parsed once at the edge and trusted afterwards ("parse, don't validate").

mod dates;
mod email;
mod identifier;
mod nic;
mod password;
mod subsidiary;

pub use dates::{day, day_in, time_zone, when, when_in};
pub use email::{Email, EmailError};
pub use identifier::{LoginIdentifier, canonical};
pub use nic::{CustomerCode, MOST_DIGITS as NIC_DIGITS, NicHandle, initials};
pub use password::{MOST_PASSWORD_CHARS, Password, PasswordPolicy, PolicyViolation};
pub use subsidiary::{SUBSIDIARIES, Subsidiary, subsidiary, subsidiary_for_country};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A new UUID v7 stamped with the injected clock's time (ids sort by creation on every backend).
pub fn new_id(at: time::OffsetDateTime) -> Uuid {
    let nanos = at.unix_timestamp_nanos();
    let secs = u64::try_from(nanos.div_euclid(1_000_000_000)).unwrap_or(0);
    let subsec = u32::try_from(nanos.rem_euclid(1_000_000_000)).unwrap_or(0);
    Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, secs, subsec))
}

/// An account's internal id (UUID v7: sorts by creation time on every backend).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AccountId(pub Uuid);

impl std::fmt::Display for AccountId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// ACCT-5: what an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountState {
    Active,
    Blocked,
    Closed,
}

impl AccountState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Blocked => "blocked",
            Self::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "blocked" => Some(Self::Blocked),
            "closed" => Some(Self::Closed),
            _ => None,
        }
    }
}

/// ACCT-4: the kind of customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountType {
    Individual,
    Company,
    NonProfit,
}

impl AccountType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Individual => "individual",
            Self::Company => "company",
            Self::NonProfit => "non_profit",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "individual" => Some(Self::Individual),
            "company" => Some(Self::Company),
            "non_profit" => Some(Self::NonProfit),
            _ => None,
        }
    }
}

/// A two-letter ISO 3166-1 country code, upper case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Country(String);

impl Country {
    pub fn parse(input: &str) -> Option<Self> {
        let code = input.trim().to_ascii_uppercase();
        (code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase())).then_some(Self(code))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A person's name part (first or last name): trimmed, NFKC, 1 to 100 characters, no control
/// characters (they have no place in a name and would reach mail headers later).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonName(String);

/// Pictographs, emoji and their joiners and variation selectors (not letters of any script).
fn is_symbol(c: char) -> bool {
    matches!(u32::from(c),
        0x2190..=0x21FF | 0x2300..=0x23FF | 0x2460..=0x27BF | 0x2900..=0x297F | 0x2B00..=0x2BFF
        | 0xFE00..=0xFE0F | 0x200D | 0x1F000..=0x1FAFF | 0xE0000..=0xE007F)
}

impl PersonName {
    pub fn parse(input: &str) -> Option<Self> {
        use unicode_normalization::UnicodeNormalization;
        let name: String = input.trim().nfkc().collect();
        let len = name.chars().count();
        // Names end up on bills: letters of any script, marks, spaces and the usual punctuation;
        // no control characters, no markup, no emoji or other symbols.
        let allowed = |c: char| !c.is_control() && !matches!(c, '<' | '>' | '{' | '}' | '\\') && !is_symbol(c);
        let ok = (1..=100).contains(&len) && name.chars().all(allowed);
        ok.then_some(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn country_codes_are_two_ascii_letters() {
        assert_eq!(Country::parse(" fr ").map(|c| c.0), Some("FR".into()));
        assert!(Country::parse("FRA").is_none());
        assert!(Country::parse("F1").is_none());
        assert!(Country::parse("ÉT").is_none());
    }

    #[test]
    fn person_names_keep_every_script_but_refuse_markup_and_emoji() {
        for ok in [
            "Élodie",
            "Ørsted",
            "Σωκράτης",
            "王小明",
            "Анна-Мария",
            "O'Brien",
            "محمد",
            "Nguyễn Văn",
        ] {
            assert!(PersonName::parse(ok).is_some(), "{ok}");
        }
        for bad in ["<b>Jane</b>", "Jane 😀", "Jo\u{200d}hn", "Ann>", "☃ Snow", "a\u{7}b"] {
            assert!(PersonName::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn person_names_refuse_control_characters() {
        assert!(PersonName::parse("Ann\r\nBcc: x@y.z").is_none());
        assert!(PersonName::parse("   ").is_none());
        assert_eq!(PersonName::parse(" Élodie ").map(|n| n.0), Some("Élodie".into()));
    }
}
