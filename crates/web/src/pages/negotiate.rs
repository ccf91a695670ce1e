//! Choosing a page's language and subsidiary (LOGIN-6).
//!
//! Language: the customer's own language when logged in, then the browser's `Accept-Language`,
//! then the subsidiary's language, then English. Subsidiary: `?subsidiary=` (alias
//! `ovhSubsidiary`), then the one remembered in a cookie from an earlier `?subsidiary=`, then the
//! customer's own, then the configured default.

use super::templates::LANGUAGES;

/// The first supported language in an `Accept-Language` header, by quality.
pub fn from_accept_language(header: &str) -> Option<&'static str> {
    let mut tags: Vec<(f32, &str)> = header
        .split(',')
        .filter_map(|part| {
            let mut pieces = part.trim().split(';');
            let tag = pieces.next()?.trim();
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
            (q > 0.0 && !tag.is_empty()).then_some((q, tag))
        })
        .collect();
    // Stable sort: equal qualities keep the browser's order.
    tags.sort_by(|a, b| b.0.total_cmp(&a.0));
    tags.iter()
        .find_map(|(_, tag)| supported(tag.split('-').next().unwrap_or(tag)))
}

/// The supported language code for a code in any case.
pub fn supported(code: &str) -> Option<&'static str> {
    LANGUAGES
        .iter()
        .map(|(lang, _)| *lang)
        .find(|lang| lang.eq_ignore_ascii_case(code.trim()))
}

pub fn choose_language(account: Option<&str>, accept: Option<&str>, subsidiary_language: &str) -> &'static str {
    account
        .and_then(supported)
        .or_else(|| accept.and_then(from_accept_language))
        .or_else(|| supported(subsidiary_language))
        .unwrap_or(LANGUAGES[0].0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_respects_quality_and_order() {
        assert_eq!(from_accept_language("fr-FR,fr;q=0.9,en;q=0.8"), Some("fr"));
        assert_eq!(from_accept_language("de-DE, en;q=0.5, fr;q=0.7"), Some("fr"));
        assert_eq!(from_accept_language("en-GB,fr"), Some("en"));
        assert_eq!(from_accept_language("de, it;q=0.9"), None);
        assert_eq!(from_accept_language("fr;q=0, en;q=0.1"), Some("en"));
        assert_eq!(from_accept_language("*"), None);
        assert_eq!(from_accept_language(";;;,q=,fr;q=abc"), None);
    }

    #[test]
    fn customer_then_browser_then_subsidiary() {
        assert_eq!(choose_language(Some("fr"), Some("en"), "en"), "fr");
        assert_eq!(choose_language(Some("de"), Some("en"), "fr"), "en");
        assert_eq!(choose_language(None, Some("de"), "fr"), "fr");
        assert_eq!(choose_language(None, None, "pl"), "en");
    }
}
