//! PWD-2: passwords as a secret type and the policy a new password must pass.
//!
//! A password is NFKC-normalised before it is counted or hashed, so the same password typed on
//! two keyboards is the same password. Its `Debug` never shows it and its memory is wiped on drop.
//! The policy has no composition rules: length (12 to 128 code points by default), not a common password
//! (zxcvbn's shipped lists and patterns), and not built on the customer's own name, email local
//! part or NIC handle. A refusal names the rule that failed. A subsidiary may switch on the
//! reference system's classic policy instead of the length rule: 8 code points or more with an
//! upper-case letter, a lower-case letter, a digit and another character (the other rules stay).

use super::identifier::canonical;
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

/// The longest password any setting allows; a login reads no longer one (it is refused before
/// any hashing), whatever `max_chars` says for new passwords, so that lowering the setting
/// never locks out a customer whose password was longer.
pub const MOST_PASSWORD_CHARS: usize = 1024;

/// A password, NFKC-normalised.
#[derive(Clone)]
pub struct Password(Zeroizing<String>);

impl Password {
    pub fn new(input: &str) -> Self {
        Self(Zeroizing::new(input.nfkc().collect()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn char_count(&self) -> usize {
        self.0.chars().count()
    }

    /// Over-long input is refused at every login before any hashing, so that no caller can make
    /// the server normalise or hash megabytes ([`MOST_PASSWORD_CHARS`]; a new password is held
    /// to the policy's `max_chars` instead).
    pub fn is_too_long(&self) -> bool {
        self.char_count() > MOST_PASSWORD_CHARS
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Why a new password was refused; each maps to its own stable error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PolicyViolation {
    #[error("the password must have at least {0} characters")]
    TooShort(usize),
    #[error("the password must have at most {0} characters")]
    TooLong(usize),
    #[error("the password is too common or too easy to guess")]
    TooCommon,
    #[error("the password must not contain your name, email address or customer ID")]
    ContainsPersonalInfo,
    #[error("the password must contain an upper-case letter, a lower-case letter, a digit and a symbol")]
    MissingCharacterKinds,
}

/// The settings of PWD-2.
#[derive(Debug, Clone)]
pub struct PasswordPolicy {
    pub min_chars: usize,
    /// The most code points a password may have.
    pub max_chars: usize,
    /// Subsidiaries (codes) under the classic policy: [`CLASSIC_MIN_CHARS`] and every kind of
    /// character instead of `min_chars`.
    pub classic_subsidiaries: Vec<String>,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_chars: 12,
            max_chars: 128,
            classic_subsidiaries: Vec::new(),
        }
    }
}

/// The classic policy's shortest password.
pub const CLASSIC_MIN_CHARS: usize = 8;

/// zxcvbn estimates below this many guesses are refused as too easy (its scores 0 and 1).
const MIN_GUESSES: u64 = 1_000_000;
/// Personal values shorter than this are too common to forbid inside a password ("Li", "Al").
const MIN_PERSONAL_LEN: usize = 3;

impl PasswordPolicy {
    /// The shortest password some account may have (the classic policy's, where a subsidiary
    /// keeps it).
    pub fn fewest_chars(&self) -> usize {
        if self.classic_subsidiaries.is_empty() {
            self.min_chars
        } else {
            self.min_chars.min(CLASSIC_MIN_CHARS)
        }
    }

    /// Whether the accounts of `subsidiary` are under the classic policy.
    pub fn is_classic(&self, subsidiary: &str) -> bool {
        self.classic_subsidiaries
            .iter()
            .any(|s| s.eq_ignore_ascii_case(subsidiary))
    }

    /// Checks a new password of an account of `subsidiary` (empty for none: support agents)
    /// against every rule. `personal` holds the customer's names, email local part and NIC
    /// handle, as far as they are known at this point.
    pub fn check(&self, subsidiary: &str, password: &Password, personal: &[&str]) -> Result<(), PolicyViolation> {
        let classic = self.is_classic(subsidiary);
        let min = if classic { CLASSIC_MIN_CHARS } else { self.min_chars };
        let count = password.char_count();
        if count < min {
            return Err(PolicyViolation::TooShort(min));
        }
        if count > self.max_chars {
            return Err(PolicyViolation::TooLong(self.max_chars));
        }
        if classic && !has_every_kind(password.expose()) {
            return Err(PolicyViolation::MissingCharacterKinds);
        }
        let folded = canonical(password.expose());
        let contains_personal = personal
            .iter()
            .map(|value| canonical(value))
            .filter(|value| value.chars().count() >= MIN_PERSONAL_LEN)
            .any(|value| folded.contains(&value));
        if contains_personal {
            return Err(PolicyViolation::ContainsPersonalInfo);
        }
        if is_common(password.expose()) {
            return Err(PolicyViolation::TooCommon);
        }
        Ok(())
    }
}

/// The classic policy's kinds: an upper-case letter, a lower-case letter, a digit and anything
/// else (in any script: `É` counts as upper case, `ß` as lower case).
fn has_every_kind(password: &str) -> bool {
    let any = |f: fn(&char) -> bool| password.chars().any(|c| f(&c));
    any(|c| c.is_uppercase()) && any(|c| c.is_lowercase()) && any(|c| c.is_numeric()) && any(|c| !c.is_alphanumeric())
}

/// A password is common when zxcvbn's shipped password list matches it whole (also reversed or
/// with l33t substitutions), or when its guess estimate is tiny (repeats, sequences, keyboard walks).
fn is_common(password: &str) -> bool {
    let entropy = zxcvbn::zxcvbn(password, &[]);
    if entropy.guesses() < MIN_GUESSES {
        return true;
    }
    let last = password.chars().count().saturating_sub(1);
    entropy.sequence().iter().any(|m| {
        m.i == 0
            && m.j == last
            && matches!(
                &m.pattern,
                // zxcvbn does not export its `DictionaryType`; its default variant is `Passwords`.
                zxcvbn::matching::patterns::MatchPattern::Dictionary(d)
                    if d.dictionary_name == Default::default()
            )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pw: &str, personal: &[&str]) -> Result<(), PolicyViolation> {
        PasswordPolicy::default().check("FR", &Password::new(pw), personal)
    }

    #[test]
    fn a_subsidiary_under_the_classic_policy_wants_8_characters_of_every_kind() {
        let policy = PasswordPolicy {
            classic_subsidiaries: vec!["fr".into()],
            ..PasswordPolicy::default()
        };
        let classic = |pw: &str| policy.check("FR", &Password::new(pw), &["jane"]);
        assert_eq!(classic("Vq7#mPz"), Err(PolicyViolation::TooShort(8)));
        assert_eq!(classic("Vq7#mPz2"), Ok(()));
        assert_eq!(classic("Éq7#mpz2"), Ok(()), "upper case in any script");
        for missing in ["vq7#mpz2", "VQ7#MPZ2", "Vqx#mPz!", "Vq7xmPz2"] {
            assert_eq!(
                classic(missing),
                Err(PolicyViolation::MissingCharacterKinds),
                "{missing}"
            );
        }
        assert_eq!(classic("Jane#2026x"), Err(PolicyViolation::ContainsPersonalInfo));
        assert_eq!(
            classic("Password1!"),
            Err(PolicyViolation::TooCommon),
            "the other rules stay"
        );
        // Elsewhere, and for agents (no subsidiary), the default policy.
        assert_eq!(
            policy.check("GB", &Password::new("Vq7#mPz2"), &[]),
            Err(PolicyViolation::TooShort(12))
        );
        assert_eq!(
            policy.check("", &Password::new("Vq7#mPz2"), &[]),
            Err(PolicyViolation::TooShort(12))
        );
    }

    #[test]
    fn length_counts_code_points_after_nfkc() {
        assert_eq!(check("short-pass!", &[]), Err(PolicyViolation::TooShort(12)));
        // 12 code points, 14 bytes: long enough.
        assert_eq!(check("où est-ce là", &[]), Ok(()));
        assert_eq!(check("où est-ce l", &[]), Err(PolicyViolation::TooShort(12)));
        // Full-width digits become ASCII under NFKC but keep their count.
        assert_eq!(Password::new("ｐａｓｓ").expose(), "pass");
        assert_eq!(check(&"vérité-".repeat(19), &[]), Err(PolicyViolation::TooLong(128)));
        assert!(Password::new(&"a".repeat(MOST_PASSWORD_CHARS + 1)).is_too_long());
        assert!(!Password::new(&"a".repeat(MOST_PASSWORD_CHARS)).is_too_long());
        // The maximum is a setting.
        let longer = PasswordPolicy {
            max_chars: 200,
            ..PasswordPolicy::default()
        };
        assert_eq!(longer.check("", &Password::new(&"vérité-".repeat(19)), &[]), Ok(()));
        assert_eq!(
            longer.check("", &Password::new(&"vérité-".repeat(29)), &[]),
            Err(PolicyViolation::TooLong(200))
        );
    }

    #[test]
    fn no_composition_rules() {
        assert_eq!(check("correct horse battery staple", &[]), Ok(()));
        assert_eq!(check("tuyauterie verte du jardin", &[]), Ok(()));
    }

    #[test]
    fn common_and_patterned_passwords_are_refused() {
        for pw in [
            "password1234",
            "123456789012",
            "aaaaaaaaaaaa",
            "qwertyuiopasdf",
            "1q2w3e4r5t6y",
        ] {
            assert_eq!(check(pw, &[]), Err(PolicyViolation::TooCommon), "{pw}");
        }
    }

    #[test]
    fn personal_information_is_refused_in_any_case() {
        let personal = ["Élodie", "Ørsted", "elodie.o", "eo12345-ovh"];
        assert_eq!(
            check("ÉLODIE-likes-trains", &personal),
            Err(PolicyViolation::ContainsPersonalInfo)
        );
        assert_eq!(
            check("trains-and-ørsted", &personal),
            Err(PolicyViolation::ContainsPersonalInfo)
        );
        assert_eq!(
            check("x-EO12345-OVH-x!", &personal),
            Err(PolicyViolation::ContainsPersonalInfo)
        );
        assert_eq!(
            check("Elodie.O is my nick", &personal),
            Err(PolicyViolation::ContainsPersonalInfo)
        );
        assert_eq!(check("quiet river stones", &personal), Ok(()));
    }

    #[test]
    fn very_short_names_are_not_forbidden_fragments() {
        assert_eq!(check("quiet river stones", &["Li", "Al"]), Ok(()));
    }

    #[test]
    fn debug_never_shows_the_password() {
        assert_eq!(format!("{:?}", Password::new("hunter2hunter2")), "Password(<redacted>)");
    }
}
