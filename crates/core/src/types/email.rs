//! Email addresses (ACCT-3). The address is kept as the customer typed it (trimmed, NFKC), because
//! mail goes to the stored address; uniqueness and lookup use the canonical form. A non-ASCII
//! local part is refused; an internationalised domain is accepted and checked with IDNA.
//!
//! The canonical form is the local part in ASCII lower case, `@`, and the domain in its IDNA ASCII
//! form (punycode, lower case). Domains compare as DNS resolves them: `straße.de` and `strasse.de`
//! are different domains (IDNA 2008 keeps `ß`), so they are different addresses; Unicode case
//! folding of the whole address would have merged them.

use unicode_normalization::UnicodeNormalization;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("the address is not a valid email address")]
    Invalid,
    #[error("the part before @ must use ASCII characters only")]
    NonAsciiLocalPart,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    address: String,
    canonical: String,
}

impl Email {
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let address: String = input.trim().nfkc().collect();
        if address.len() > 254 || address.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(EmailError::Invalid);
        }
        let (local, domain) = address.rsplit_once('@').ok_or(EmailError::Invalid)?;
        if !local.is_ascii() {
            return Err(EmailError::NonAsciiLocalPart);
        }
        let ascii_domain = idna::domain_to_ascii(domain).map_err(|_| EmailError::Invalid)?;
        if !valid_local_part(local) || !valid_domain(&ascii_domain) {
            return Err(EmailError::Invalid);
        }
        let canonical = format!("{}@{ascii_domain}", local.to_ascii_lowercase());
        Ok(Self { address, canonical })
    }

    /// The address mail is sent to.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The form used for uniqueness and lookup.
    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    pub fn local_part(&self) -> &str {
        self.address.rsplit_once('@').map_or("", |(local, _)| local)
    }

    /// Rebuilds an address read back from storage, where both forms were stored by `parse`.
    pub fn from_stored(address: String, canonical: String) -> Self {
        Self { address, canonical }
    }
}

/// RFC 5322 dot-atom local part (no quoted strings: no provider hands those out).
fn valid_local_part(local: &str) -> bool {
    const SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~";
    !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || SPECIALS.contains(c))
}

/// A domain in its IDNA ASCII form: at least two labels of letters, digits and inner hyphens.
fn valid_domain(ascii: &str) -> bool {
    let labels: Vec<&str> = ascii.split('.').collect();
    labels.len() >= 2
        && ascii.len() <= 253
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_typed_address_and_a_canonical_form() {
        let email = Email::parse("  Jane.Doe@Example.COM ").unwrap();
        assert_eq!(email.address(), "Jane.Doe@Example.COM");
        assert_eq!(email.canonical(), "jane.doe@example.com");
        assert_eq!(email.local_part(), "Jane.Doe");
    }

    #[test]
    fn refuses_a_non_ascii_local_part() {
        assert_eq!(Email::parse("élodie@example.com"), Err(EmailError::NonAsciiLocalPart));
        assert_eq!(Email::parse("mıke@example.com"), Err(EmailError::NonAsciiLocalPart));
    }

    #[test]
    fn full_width_local_part_becomes_ascii_under_nfkc() {
        let email = Email::parse("ｍｉｋｅ@example.com").unwrap();
        assert_eq!(email.canonical(), "mike@example.com");
    }

    #[test]
    fn accepts_an_internationalised_domain() {
        let email = Email::parse("info@BÜCHER.example").unwrap();
        assert_eq!(email.address(), "info@BÜCHER.example", "mail goes to what was typed");
        assert_eq!(email.canonical(), "info@xn--bcher-kva.example");
        assert_eq!(
            Email::parse("INFO@xn--bcher-kva.example").unwrap().canonical(),
            "info@xn--bcher-kva.example",
            "the same domain typed in punycode"
        );
    }

    #[test]
    fn domains_that_differ_under_idna_stay_different() {
        let sharp = Email::parse("victim@straße.de").unwrap();
        let double = Email::parse("victim@strasse.de").unwrap();
        assert_ne!(sharp.canonical(), double.canonical());
        assert_eq!(sharp.canonical(), "victim@xn--strae-oqa.de");
        assert_eq!(
            Email::parse("Victim@STRASSE.de").unwrap().canonical(),
            "victim@strasse.de"
        );
    }

    #[test]
    fn refuses_malformed_addresses() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@localhost",
            "a..b@example.com",
            ".a@example.com",
            "a b@example.com",
            "a@exa mple.com",
            "a@-example.com",
            "a\r\nBcc: x@y.z@example.com",
            "a\0@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(65))).is_err());
    }
}
