//! OPS-4 cross-site request check for every state-changing request (and, first, a path that
//! isn't text once decoded is answered here, with a stable code). A browser says where a
//! request comes from with `Sec-Fetch-Site` (modern browsers) or `Origin`; either must say "this
//! site" (the configured public URL, never the `Host` header). A request with neither header is
//! not from a browser and can't ride on a victim's cookies, so it passes. JSON endpoints also
//! require `Content-Type: application/json`, which a cross-site form can't send without a
//! preflight.

use crate::AppState;
use crate::error::ErrorCode;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::Response;

pub async fn check_origin(State(state): State<AppState>, req: Request, next: Next) -> Response {
    // Before routing to a handler whose path parameters are text: a path that isn't UTF-8 once
    // decoded names nothing here (axum's `Path` would answer it in plain text, without a code).
    let path = req.uri().path();
    if path.contains('%') && percent_encoding::percent_decode_str(path).decode_utf8().is_err() {
        return crate::error::respond(&state, req.uri(), req.headers(), ErrorCode::NotFound);
    }
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && !same_site(req.headers(), &state.settings().public_origin()) {
        tracing::info!(path = %req.uri().path(), "cross-site request refused");
        return crate::error::respond(&state, req.uri(), req.headers(), ErrorCode::CsrfRejected);
    }
    next.run(req).await
}

pub(crate) fn same_site(headers: &HeaderMap, public_origin: &str) -> bool {
    let origin_ok = headers
        .get("origin")
        .is_none_or(|origin| origin.as_bytes() == public_origin.as_bytes());
    match headers.get("sec-fetch-site").map(|site| site.as_bytes()) {
        Some(b"same-origin") => true,
        // `none` (typed in the address bar, a bookmark) never comes with a foreign Origin from a
        // browser: that pair is forged, and refused.
        Some(b"none") => origin_ok,
        Some(_) => false,
        None => origin_ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    const ORIGIN: &str = "https://login.example.com";

    #[test]
    fn fetch_metadata_decides_when_present() {
        assert!(same_site(&headers(&[("sec-fetch-site", "same-origin")]), ORIGIN));
        assert!(same_site(&headers(&[("sec-fetch-site", "none")]), ORIGIN));
        assert!(!same_site(&headers(&[("sec-fetch-site", "cross-site")]), ORIGIN));
        assert!(!same_site(&headers(&[("sec-fetch-site", "same-site")]), ORIGIN));
        let spoofed = headers(&[("sec-fetch-site", "cross-site"), ("origin", ORIGIN)]);
        assert!(!same_site(&spoofed, ORIGIN));
    }

    #[test]
    fn origin_must_be_the_public_url() {
        assert!(same_site(&headers(&[("origin", ORIGIN)]), ORIGIN));
        assert!(!same_site(&headers(&[("origin", "https://evil.example")]), ORIGIN));
        assert!(!same_site(&headers(&[("origin", "null")]), ORIGIN));
        assert!(!same_site(&headers(&[("origin", "http://login.example.com")]), ORIGIN));
    }

    #[test]
    fn non_browser_clients_pass() {
        assert!(same_site(&HeaderMap::new(), ORIGIN));
    }
}
