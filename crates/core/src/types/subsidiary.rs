//! LOGIN-6 and SIGNUP-1: the reference system's 24 subsidiaries. A customer's country fixes the
//! subsidiary, which gives the default language and currency (and, in the web layer, branding and
//! the support phone number).

/// One subsidiary: its code, display name, default language and currency, and the support phone
/// number the reference system publishes for it (`support_phones` in the configuration adds or
/// replaces numbers; where none is known, pages link to the help page instead of guessing one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subsidiary {
    pub code: &'static str,
    pub name: &'static str,
    pub language: &'static str,
    pub currency: &'static str,
    pub phone: Option<&'static str>,
}

const fn sub(code: &'static str, name: &'static str, language: &'static str, currency: &'static str) -> Subsidiary {
    Subsidiary {
        code,
        name,
        language,
        currency,
        phone: None,
    }
}

const fn with_phone(subsidiary: Subsidiary, phone: &'static str) -> Subsidiary {
    Subsidiary {
        phone: Some(phone),
        ..subsidiary
    }
}

/// Every subsidiary, in the reference system's order.
pub const SUBSIDIARIES: [Subsidiary; 24] = [
    sub("FR", "France", "fr", "EUR"),
    sub("GB", "United Kingdom", "en", "GBP"),
    sub("DE", "Deutschland", "de", "EUR"),
    sub("ES", "España", "es", "EUR"),
    sub("IT", "Italia", "it", "EUR"),
    sub("PL", "Polska", "pl", "PLN"),
    sub("PT", "Portugal", "pt", "EUR"),
    sub("IE", "Ireland", "en", "EUR"),
    sub("NL", "Nederland", "nl", "EUR"),
    sub("LT", "Lietuva", "lt", "EUR"),
    sub("CZ", "Česká republika", "cs", "CZK"),
    sub("FI", "Suomi", "fi", "EUR"),
    sub("MA", "Maroc", "fr", "MAD"),
    sub("SN", "Sénégal", "fr", "XOF"),
    sub("TN", "Tunisie", "fr", "TND"),
    sub("CA", "Canada (English)", "en", "CAD"),
    sub("QC", "Québec", "fr", "CAD"),
    sub("US", "United States", "en", "USD"),
    sub("WE", "World (English)", "en", "USD"),
    sub("WS", "World (Spanish)", "es", "USD"),
    // The reference guide's number for Asia's customer service.
    with_phone(sub("ASIA", "Asia", "en", "USD"), "+65 6962 8978"),
    sub("AU", "Australia", "en", "AUD"),
    sub("SG", "Singapore", "en", "SGD"),
    sub("IN", "India", "en", "INR"),
];

/// The subsidiary with this code (any case), if there is one.
pub fn subsidiary(code: &str) -> Option<&'static Subsidiary> {
    SUBSIDIARIES.iter().find(|s| s.code.eq_ignore_ascii_case(code.trim()))
}

/// The subsidiary that serves a country: its own where it has one, else the world subsidiary of
/// its language area.
pub fn subsidiary_for_country(country: &str) -> &'static Subsidiary {
    const SPANISH_SPEAKING: [&str; 18] = [
        "AR", "BO", "CL", "CO", "CR", "CU", "DO", "EC", "GT", "HN", "MX", "NI", "PA", "PE", "PR", "PY", "SV", "UY",
    ];
    const ASIA: [&str; 12] = ["CN", "HK", "ID", "JP", "KR", "MY", "PH", "TH", "TW", "VN", "BD", "PK"];
    let country = country.trim().to_ascii_uppercase();
    let code = match country.as_str() {
        "QC" | "ASIA" | "WE" | "WS" => "WE",
        c if SPANISH_SPEAKING.contains(&c) || c == "VE" => "WS",
        c if ASIA.contains(&c) => "ASIA",
        "NZ" => "AU",
        c => c,
    };
    subsidiary(code).unwrap_or(&SUBSIDIARIES[18])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_map_to_subsidiaries() {
        assert_eq!(subsidiary_for_country("fr").code, "FR");
        assert_eq!(subsidiary_for_country("MX").code, "WS");
        assert_eq!(subsidiary_for_country("JP").code, "ASIA");
        assert_eq!(subsidiary_for_country("BR").code, "WE");
        assert_eq!(subsidiary_for_country("QC").code, "WE");
        assert_eq!(subsidiary_for_country("FR").language, "fr");
        assert_eq!(subsidiary_for_country("PL").currency, "PLN");
    }

    #[test]
    fn every_code_is_unique() {
        for (i, a) in SUBSIDIARIES.iter().enumerate() {
            assert!(SUBSIDIARIES[i + 1..].iter().all(|b| b.code != a.code), "{}", a.code);
            assert_eq!(subsidiary(&a.code.to_lowercase()), Some(a));
        }
    }
}
