//! ACCT-1 and ACCT-2: the customer ID ("NIC handle", `ab12345-ovh`) and the numeric customer code
//! (`1234-567-89`) given out on the phone. Candidates are drawn here; the store guarantees they are
//! unused and never handed out twice (a reserved-handle table that is never deleted from).

use super::identifier::canonical;
use crate::random::Random;
use serde::{Deserialize, Serialize};

/// A NIC handle: two lowercase ASCII letters, 5 to 7 digits by default, `-`, the deployment
/// suffix.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NicHandle(String);

/// The widest range of digits a deployment may set for NIC handles (ACCT-1).
pub const MOST_DIGITS: (u32, u32) = (3, 12);

impl NicHandle {
    /// Draws a candidate with `digits` digits (the settings keep them within 3 to 12), the first
    /// one never zero so that the length is visible.
    pub fn draw(initials: [char; 2], digits: u32, suffix: &str, rng: &dyn Random) -> Self {
        let digits = digits.clamp(MOST_DIGITS.0, MOST_DIGITS.1);
        let low = 10u64.pow(digits - 1);
        let number = low + rng.below(9 * low);
        Self(format!("{}{}{number}-{suffix}", initials[0], initials[1]))
    }

    /// Whether `input` has the shape of a NIC handle for `suffix` with a number of digits in
    /// `digits` (after canonicalisation).
    pub fn looks_like(input: &str, suffix: &str, digits: &std::ops::RangeInclusive<u32>) -> bool {
        let canon = canonical(input);
        let Some(body) = canon.strip_suffix(&format!("-{suffix}")) else {
            return false;
        };
        let bytes = body.as_bytes();
        bytes.len() > 2
            && u32::try_from(bytes.len() - 2).is_ok_and(|n| digits.contains(&n))
            && bytes[..2].iter().all(u8::is_ascii_lowercase)
            && bytes[2..].iter().all(u8::is_ascii_digit)
    }

    /// Reads a handle that the store gave back.
    pub fn from_stored(handle: String) -> Self {
        Self(handle)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for NicHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The initials of first and last name, transliterated to ASCII (`Élodie Ørsted` → `eo`,
/// `Łukasz Żak` → `lz`); a name whose first letter has no ASCII letter gives `x`.
pub fn initials(first_name: &str, last_name: &str) -> [char; 2] {
    [initial(first_name), initial(last_name)]
}

fn initial(name: &str) -> char {
    name.trim()
        .chars()
        .next()
        .filter(|c| c.is_alphabetic())
        .map(|c| deunicode::deunicode_char(c).unwrap_or(""))
        .and_then(|ascii| ascii.chars().next())
        .filter(char::is_ascii_alphabetic)
        .map_or('x', |c| c.to_ascii_lowercase())
}

/// ACCT-2: a nine-digit code shown as `1234-567-89`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerCode(String);

impl CustomerCode {
    pub fn draw(rng: &dyn Random) -> Self {
        let n = 100_000_000 + rng.below(900_000_000);
        Self::from_digits(&n.to_string())
    }

    /// The code as shown, from its digits as typed without dashes or spaces; other lengths are
    /// kept as they are (they match no account).
    pub fn from_digits(digits: &str) -> Self {
        if digits.len() == 9 && digits.bytes().all(|b| b.is_ascii_digit()) {
            Self(format!("{}-{}-{}", &digits[..4], &digits[4..7], &digits[7..]))
        } else {
            Self(digits.to_owned())
        }
    }

    pub fn from_stored(code: String) -> Self {
        Self(code)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::{OsRandom, testing::Scripted};

    #[test]
    fn initials_are_transliterated() {
        assert_eq!(initials("Élodie", "Ørsted"), ['e', 'o']);
        assert_eq!(initials("Łukasz", "Żak"), ['l', 'z']);
        assert_eq!(initials("jane", "Doe"), ['j', 'd']);
        assert_eq!(initials("Иван", "Петров"), ['i', 'p']);
    }

    #[test]
    fn initials_fall_back_to_x() {
        assert_eq!(initials("1234", "!!"), ['x', 'x']);
        assert_eq!(initials("", "Doe"), ['x', 'd']);
        assert_eq!(initials("😀", "李"), ['x', 'l']);
    }

    #[test]
    fn drawn_handles_have_the_right_shape() {
        for digits in MOST_DIGITS.0..=MOST_DIGITS.1 {
            for _ in 0..100 {
                let nic = NicHandle::draw(['a', 'b'], digits, "ovh", &OsRandom);
                let s = nic.as_str();
                assert!(NicHandle::looks_like(s, "ovh", &(digits..=digits)), "{s}");
                assert_eq!(s.len(), 2 + digits as usize + 4, "{s}");
                assert_ne!(s.as_bytes()[2], b'0', "{s}");
            }
        }
    }

    #[test]
    fn digits_follow_the_random_source() {
        let rng = Scripted::new(vec![0, 89_999]);
        assert_eq!(NicHandle::draw(['a', 'b'], 5, "ovh", &rng).as_str(), "ab10000-ovh");
        assert_eq!(NicHandle::draw(['a', 'b'], 5, "ovh", &rng).as_str(), "ab99999-ovh");
    }

    #[test]
    fn looks_like_checks_shape_digits_and_suffix() {
        let digits = 5..=7;
        assert!(NicHandle::looks_like(" AB12345-OVH ", "ovh", &digits));
        assert!(NicHandle::looks_like("ab1234567-ovh", "ovh", &digits));
        assert!(!NicHandle::looks_like("ab1234-ovh", "ovh", &digits));
        assert!(!NicHandle::looks_like("ab12345678-ovh", "ovh", &digits));
        assert!(!NicHandle::looks_like("ab12345-kim", "ovh", &digits));
        assert!(!NicHandle::looks_like("a112345-ovh", "ovh", &digits));
        assert!(!NicHandle::looks_like("ab-ovh", "ovh", &digits));
        // A deployment whose handles have 4 to 8 digits.
        assert!(NicHandle::looks_like("ab1234-ovh", "ovh", &(4..=8)));
        assert!(NicHandle::looks_like("ab12345678-ovh", "ovh", &(4..=8)));
    }

    #[test]
    fn customer_codes_are_grouped_digits() {
        let code = CustomerCode::draw(&OsRandom);
        let s = code.as_str();
        assert_eq!(s.len(), 11);
        assert_eq!(&s[4..5], "-");
        assert_eq!(&s[8..9], "-");
        assert!(s.replace('-', "").bytes().all(|b| b.is_ascii_digit()));
    }
}
