//! Choosing a page's language and subsidiary (LOGIN-6).
//!
//! Language: the one picked with the language switcher (`?lang=`, remembered in a cookie), then
//! the customer's own language when logged in, then the language of a subsidiary given
//! explicitly (`?subsidiary=`, or remembered from one), then the browser's `Accept-Language`,
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

/// What a request says about its language, strongest first.
#[derive(Debug, Default, Clone, Copy)]
pub struct LanguageHints<'a> {
    /// Picked with the language switcher.
    pub chosen: Option<&'a str>,
    /// The logged-in customer's language.
    pub account: Option<&'a str>,
    /// The language of a subsidiary the visitor named explicitly.
    pub explicit_subsidiary: Option<&'a str>,
    /// The browser's `Accept-Language`.
    pub accept: Option<&'a str>,
}

pub fn choose_language(hints: LanguageHints<'_>, subsidiary_language: &str) -> &'static str {
    hints
        .chosen
        .and_then(supported)
        .or_else(|| hints.account.and_then(supported))
        .or_else(|| hints.explicit_subsidiary.and_then(supported))
        .or_else(|| hints.accept.and_then(from_accept_language))
        .or_else(|| supported(subsidiary_language))
        .unwrap_or(LANGUAGES[0].0)
}

/// Every language of the pages, by code and own name, for a form's choice of language.
pub fn language_choices() -> Vec<minijinja::Value> {
    LANGUAGES
        .iter()
        .map(|(code, _)| minijinja::context! { code => *code, name => own_name(code) })
        .collect()
}

/// A language's name in that language, for the switcher.
pub fn own_name(code: &str) -> &'static str {
    match code {
        "fr" => "Français",
        _ => "English",
    }
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
    fn switcher_then_customer_then_explicit_subsidiary_then_browser_then_subsidiary() {
        let hints = |chosen, account, explicit_subsidiary, accept| LanguageHints {
            chosen,
            account,
            explicit_subsidiary,
            accept,
        };
        assert_eq!(
            choose_language(hints(Some("en"), Some("fr"), Some("fr"), Some("fr")), "fr"),
            "en"
        );
        assert_eq!(choose_language(hints(None, Some("fr"), None, Some("en")), "en"), "fr");
        assert_eq!(choose_language(hints(None, Some("de"), None, Some("en")), "fr"), "en");
        assert_eq!(choose_language(hints(None, None, Some("fr"), Some("en")), "fr"), "fr");
        assert_eq!(choose_language(hints(None, None, Some("pl"), Some("en")), "pl"), "en");
        assert_eq!(choose_language(hints(None, None, None, Some("de")), "fr"), "fr");
        assert_eq!(choose_language(hints(None, None, None, None), "pl"), "en");
    }
}
