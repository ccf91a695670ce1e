//! OPS-4 security headers on every response: a CSP without inline script, no framing, no MIME
//! sniffing, no referrer, a Permissions-Policy that allows only WebAuthn, HSTS over HTTPS, and `no-store` on API answers (they carry
//! personal data and session state).

use crate::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// The CSP of every response. A form's redirect counts as its action in Chrome and Safari, so
/// `form-action` names the origins `return_to` may lead to after a login (LOGIN-5) besides our own.
pub fn content_security_policy(return_to_origins: &[String]) -> HeaderValue {
    let mut actions = String::from("'self'");
    for origin in return_to_origins.iter().filter_map(|o| url::Url::parse(o).ok()) {
        actions.push(' ');
        actions.push_str(&origin.origin().ascii_serialization());
    }
    let policy = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; \
         base-uri 'none'; form-action {actions}; frame-ancestors 'none'"
    );
    // The origins come from checked settings and serialise to ASCII; were one ever unfit for a
    // header, the page would load nothing rather than go without a policy.
    HeaderValue::from_str(&policy).unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
}

pub async fn security_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    // API answers and pages carry personal data, session state or form tokens: never cache them.
    // Only the theme's static files may be cached.
    let cacheable = req.uri().path().starts_with("/static/");
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    // A handler that set one of these itself (a captured mail's HTML in development) keeps it.
    let set = |h: &mut axum::http::HeaderMap, name: HeaderName, value: &'static str| {
        if !h.contains_key(&name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    };
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(header::CONTENT_SECURITY_POLICY, state.csp().clone());
    }
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::REFERRER_POLICY, "no-referrer");
    // Nothing here needs a camera, a microphone, a location or payments; WebAuthn only on our own
    // origin (MFA-3).
    set(
        h,
        HeaderName::from_static("permissions-policy"),
        "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=(), \
         publickey-credentials-get=(self), publickey-credentials-create=(self)",
    );
    set(h, HeaderName::from_static("cross-origin-opener-policy"), "same-origin");
    set(
        h,
        HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    );
    if state.settings().is_https() {
        set(
            h,
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=63072000; includeSubDomains",
        );
    }
    if !cacheable {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    response
}
