//! LOGIN-5: where to go after login. `return_to` is honoured only when it is a path on this site,
//! or an absolute URL on an allow-listed origin, and in both cases under an allow-listed path
//! prefix. Anything else (other sites, `//evil`, `/\evil`, `javascript:`, control characters) is
//! ignored and the customer lands on the home page.

use crate::WebSettings;
use url::Url;

pub fn safe_return_to(input: &str, settings: &WebSettings) -> Option<String> {
    let input = input.trim();
    if input.is_empty() || input.len() > 2048 || input.chars().any(|c| c.is_control() || c == '\\') {
        return None;
    }
    let (origin_ok, path, target) = if input.starts_with('/') {
        if input.starts_with("//") {
            return None;
        }
        let url = settings.public_url.join(input).ok()?;
        (true, url.path().to_owned(), input.to_owned())
    } else {
        let url = Url::parse(input).ok()?;
        if !matches!(url.scheme(), "http" | "https") || !url.username().is_empty() {
            return None;
        }
        let origin = url.origin().ascii_serialization();
        let ok = origin == settings.public_origin()
            || settings
                .return_to_origins
                .iter()
                .any(|o| o.trim_end_matches('/') == origin);
        (ok, url.path().to_owned(), url.to_string())
    };
    let path_ok = settings.return_to_paths.iter().any(|prefix| {
        path == *prefix || path.starts_with(&format!("{}/", prefix.trim_end_matches('/'))) || prefix == "/"
    });
    (origin_ok && path_ok).then_some(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> WebSettings {
        WebSettings {
            return_to_origins: vec!["https://panel.example.com".into()],
            return_to_paths: vec!["/".into()],
            ..WebSettings::for_url(Url::parse("https://login.example.com").unwrap())
        }
    }

    #[test]
    fn local_paths_and_allowed_origins_pass() {
        let s = settings();
        assert_eq!(safe_return_to("/security", &s).as_deref(), Some("/security"));
        assert_eq!(
            safe_return_to("/security?tab=2", &s).as_deref(),
            Some("/security?tab=2")
        );
        assert_eq!(
            safe_return_to("https://panel.example.com/billing", &s).as_deref(),
            Some("https://panel.example.com/billing")
        );
        assert_eq!(
            safe_return_to("https://login.example.com/", &s).as_deref(),
            Some("https://login.example.com/")
        );
    }

    #[test]
    fn everything_else_is_ignored() {
        let s = settings();
        for bad in [
            "",
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "javascript:alert(1)",
            "https://panel.example.com.evil.example/",
            "http://panel.example.com/",
            "https://user@panel.example.com/",
            "/ok\r\nSet-Cookie: x",
            "data:text/html,hi",
        ] {
            assert_eq!(safe_return_to(bad, &s), None, "{bad:?}");
        }
    }

    #[test]
    fn path_prefixes_are_enforced() {
        let s = WebSettings {
            return_to_paths: vec!["/panel".into()],
            ..settings()
        };
        assert!(safe_return_to("/panel", &s).is_some());
        assert!(safe_return_to("/panel/bills", &s).is_some());
        assert!(safe_return_to("/panelling", &s).is_none());
        assert!(safe_return_to("/security", &s).is_none());
        assert!(
            safe_return_to("/panel/../security", &s).is_none(),
            "dot segments are resolved first"
        );
    }
}
