//! Entry points for the fuzz targets (`fuzz/`), built only with the `fuzzing` feature: the edge's
//! parsers of untrusted input, called without a server. Each must return, never panic.

use axum::http::{HeaderMap, HeaderValue, Uri};

const PUBLIC: &str = "https://login.example.com";

/// LOGIN-5: `return_to` as a page receives it.
pub fn return_to(input: &str) -> Option<String> {
    let url = url::Url::parse(PUBLIC).ok()?;
    crate::pages::return_to::safe_return_to(input, &crate::WebSettings::for_url(url))
}

/// The page language from an `Accept-Language` header.
pub fn accept_language(header: &str) -> Option<&'static str> {
    crate::pages::negotiate::from_accept_language(header)
}

/// OPS-4: the cross-site check on `Origin` and `Sec-Fetch-Site` values.
pub fn same_site(origin: &[u8], fetch_site: &[u8]) -> bool {
    let mut headers = HeaderMap::new();
    for (name, value) in [("origin", origin), ("sec-fetch-site", fetch_site)] {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.insert(name, value);
        }
    }
    crate::csrf::same_site(&headers, PUBLIC)
}

/// The client address behind a trusted proxy's `X-Forwarded-For`.
pub fn forwarded_for(value: &[u8]) -> std::net::IpAddr {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(value) {
        headers.insert("x-forwarded-for", value);
    }
    let trusted: Vec<ipnet::IpNet> = "10.0.0.0/8".parse().into_iter().collect();
    crate::client::client_ip(std::net::Ipv4Addr::new(10, 0, 0, 1).into(), &headers, &trusted)
}

/// A query parameter of a page's URL (subsidiary, return_to, method, …).
pub fn query_param(query: &str) -> String {
    match format!("/login?{query}").parse::<Uri>() {
        Ok(uri) => crate::pages::query_param(&uri, "return_to"),
        Err(_) => String::new(),
    }
}

/// A JSON login body, as the API reads it.
pub fn login_json(body: &[u8]) -> bool {
    serde_json::from_slice::<crate::api::auth::LoginRequest>(body).is_ok()
}
