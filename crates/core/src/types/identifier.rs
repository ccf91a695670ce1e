//! ACCT-3: identifiers (NIC handles, emails) are matched on a canonical form: Unicode NFKC, then
//! default (full) case folding, then trimmed (NFKC can turn a character into a space and a
//! combining mark, so trimming last keeps the form stable: canonical(canonical(x)) = canonical(x)).
//! Full-width letters equal ASCII ones; a dotless `ı` stays different from `i` because default case
//! folding keeps it.

use unicode_normalization::UnicodeNormalization;

/// The canonical form of any identifier as typed.
pub fn canonical(input: &str) -> String {
    let nfkc: String = input.nfkc().collect();
    let folded = caseless::default_case_fold_str(&nfkc);
    // Folding may leave a form that is no longer NFKC; the second pass settles it.
    let settled: String = folded.trim().nfkc().collect();
    settled.trim().to_owned()
}

/// What a customer typed in the login field, in canonical form; it may be a NIC handle or an
/// email and is looked up against both (LOGIN-1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginIdentifier(String);

impl LoginIdentifier {
    /// `None` for input that can't be any account's identifier: empty, longer than any email,
    /// or holding control characters (which no stored identifier has, and which some databases
    /// refuse outright, like NUL in PostgreSQL text). Such input simply matches no account.
    pub fn parse(input: &str) -> Option<Self> {
        // An email compares by its own canonical form (ACCT-3: IDNA domains); anything else,
        // a NIC handle, by the generic one.
        // Anything with an `@` once normalised (a full-width `＠` too) is an email or nothing: the
        // generic folding would turn `rß@x.de` into `rss@x.de`, another account's address.
        let generic = canonical(input);
        let canon = if generic.contains('@') {
            super::Email::parse(input).ok()?.canonical().to_owned()
        } else {
            generic
        };
        let plausible = !canon.is_empty() && canon.chars().count() <= 320 && !canon.chars().any(char::is_control);
        plausible.then_some(Self(canon))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_email_is_no_identifier_rather_than_a_folded_one() {
        // Found by the `identifiers` fuzz target: folding made a valid address of an invalid one.
        assert_eq!(LoginIdentifier::parse("rß@-ovhÛanee.de"), None);
        assert_eq!(
            LoginIdentifier::parse("jane＠Straße.de").map(|i| i.as_str().to_owned()),
            Some("jane@xn--strae-oqa.de".to_owned())
        );
        for input in ["rß@x.de", "JANE@Example.COM", "jd12345-OVH", "¯"] {
            if let Some(id) = LoginIdentifier::parse(input) {
                assert_eq!(LoginIdentifier::parse(id.as_str()), Some(id.clone()), "{input:?}");
            }
        }
    }

    #[test]
    fn the_canonical_form_is_stable() {
        // Found by the `identifiers` fuzz target: NFKC turns a macron into a space and a mark.
        for input in [
            "\u{af}",
            " \u{304}",
            "ＡＢ１２３４５-ＯＶＨ",
            "Straße",
            "ǅ",
            "\u{1e9e}x",
        ] {
            let once = canonical(input);
            assert_eq!(canonical(&once), once, "{input:?}");
        }
    }

    #[test]
    fn trims_and_folds_case() {
        assert_eq!(canonical("  AB12345-OVH \t"), "ab12345-ovh");
        assert_eq!(canonical("Mike@Example.COM"), "mike@example.com");
    }

    #[test]
    fn full_width_letters_equal_ascii() {
        assert_eq!(canonical("ＭＩＫＥ@example.com"), "mike@example.com");
        assert_eq!(canonical("ａｂ１２３４５-ｏｖｈ"), "ab12345-ovh");
    }

    #[test]
    fn dotless_i_stays_different() {
        assert_ne!(canonical("mıke@example.com"), canonical("mike@example.com"));
        assert_eq!(canonical("MIKE@example.com"), "mike@example.com");
    }

    #[test]
    fn german_sharp_s_folds_fully() {
        assert_eq!(canonical("STRASSE"), canonical("straße"));
    }

    #[test]
    fn empty_or_huge_input_is_no_identifier() {
        assert!(LoginIdentifier::parse("   ").is_none());
        assert!(LoginIdentifier::parse(&"a".repeat(321)).is_none());
        assert!(LoginIdentifier::parse(&"a".repeat(320)).is_some());
        assert!(LoginIdentifier::parse("ab12345-ovh\0").is_none());
        assert!(LoginIdentifier::parse("ab\u{7}12345-ovh").is_none());
    }
}
