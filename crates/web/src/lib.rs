//! Sesame's HTTP edge (axum). It turns requests into calls on `core` services and renders the
//! outcome; it owns what only HTTP has: cookies, CSRF and Origin checks, security headers, body
//! limits, error codes, metrics and the OpenAPI document. JSON API and (later) HTML pages share the
//! same services.

mod api;
mod client;
mod csrf;
mod device;
mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod headers;
mod json;
mod metrics;
mod ops;
mod pages;
mod session;

pub use error::{ApiError, ErrorCode};
pub use metrics::Metrics;
pub use ops::metrics_router;
use pages::templates::Templates;
pub use pages::templates::ThemeError;
pub use prometheus::Error as MetricsError;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use sesame_core::service::Services;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use url::Url;

/// API request bodies larger than this get 413 `BODY_TOO_LARGE`.
pub const MAX_API_BODY: usize = 64 * 1024;

/// RECOVER-5: what an identity document upload's body may hold besides the document (the
/// multipart framing and the form's token).
const UPLOAD_FRAMING: usize = 64 * 1024;

/// Uploads read at once per node; each holds its document in memory, so this bounds that memory.
const PARALLEL_UPLOADS: usize = 4;

/// Settings of the edge.
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// The URL customers use; links, cookie flags and the Origin check derive from it alone,
    /// never from `Host` or `X-Forwarded-*` headers.
    pub public_url: Url,
    /// Product name shown on every page.
    pub brand_name: String,
    /// A folder whose `templates/` and `static/` override the embedded default theme.
    pub theme_dir: Option<PathBuf>,
    /// Subsidiary used when a request names none (LOGIN-6).
    pub default_subsidiary: String,
    /// Support phone number per subsidiary code, shown on help pages.
    pub support_phones: BTreeMap<String, String>,
    /// LOGIN-5: origins besides the public URL that `return_to` may lead to.
    pub return_to_origins: Vec<String>,
    /// LOGIN-5: path prefixes `return_to` may lead to.
    pub return_to_paths: Vec<String>,
    /// Development mode with mail captured to files: `/dev/mail` lists this folder.
    pub dev_mail_dir: Option<PathBuf>,
    /// Development mode with texts captured to files: `/dev/sms` lists this folder (MFA-4).
    pub dev_sms_dir: Option<PathBuf>,
    /// Reverse proxies whose `X-Forwarded-For` is believed (empty: the TCP peer is the client).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// OPS-3: the bearer token that opens `/metrics` on this listener; `None`: not served here.
    pub metrics_token: Option<String>,
    /// How long a request may take in all, however slow the database (`error::deadline`).
    pub request_timeout: std::time::Duration,
}

impl WebSettings {
    /// Defaults for everything but the public URL.
    pub fn for_url(public_url: Url) -> Self {
        Self {
            public_url,
            brand_name: "Sesame".into(),
            theme_dir: None,
            default_subsidiary: "WE".into(),
            support_phones: BTreeMap::new(),
            return_to_origins: Vec::new(),
            return_to_paths: vec!["/".into()],
            dev_mail_dir: None,
            dev_sms_dir: None,
            trusted_proxies: Vec::new(),
            metrics_token: None,
            request_timeout: std::time::Duration::from_secs(30),
        }
    }

    pub fn is_https(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// The public URL's origin as browsers send it in `Origin` (`scheme://host[:port]`).
    pub fn public_origin(&self) -> String {
        self.public_url.origin().ascii_serialization()
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    services: Services,
    settings: WebSettings,
    metrics: Metrics,
    templates: Templates,
    uploads: Arc<tokio::sync::Semaphore>,
    /// OPS-4, built once from the settings.
    csp: axum::http::HeaderValue,
}

impl AppState {
    pub fn new(services: Services, settings: WebSettings, metrics: Metrics) -> Result<Self, ThemeError> {
        let core = services.settings();
        let quoted = pages::templates::Quoted {
            sms_code: core.limits.sms_code_ttl,
            reset_link: core.limits.reset_link_ttl,
            signup_code: core.signup.code_ttl,
            change_delay: core.limits.unreachable_delay,
            document_mb: core.limits.document_max_bytes / (1024 * 1024),
            password_min: core.password_policy.min_chars,
            password_max: core.password_policy.max_chars,
        };
        let templates = Templates::new(settings.theme_dir.clone(), quoted)?;
        let csp = headers::content_security_policy(&settings.return_to_origins);
        Ok(Self {
            inner: Arc::new(Inner {
                csp,
                services,
                settings,
                metrics,
                templates,
                uploads: Arc::new(tokio::sync::Semaphore::new(PARALLEL_UPLOADS)),
            }),
        })
    }

    pub fn csp(&self) -> &axum::http::HeaderValue {
        &self.inner.csp
    }

    pub fn templates(&self) -> &Templates {
        &self.inner.templates
    }

    pub fn services(&self) -> &Services {
        &self.inner.services
    }

    pub fn settings(&self) -> &WebSettings {
        &self.inner.settings
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// RECOVER-5: the largest identity document (a setting).
    pub fn max_document(&self) -> usize {
        self.services().settings().limits.document_max_bytes
    }

    /// RECOVER-5: the largest upload body, refused at the edge before it is read.
    pub fn max_upload_body(&self) -> usize {
        self.max_document().saturating_add(UPLOAD_FRAMING)
    }

    /// A place among the uploads read at once; `None` when all are taken (503).
    pub fn upload_permit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        Arc::clone(&self.inner.uploads).try_acquire_owned().ok()
    }
}

/// Paths whose last part is a bearer secret (a reset link's token, an agent's invitation): logged
/// without it.
const SECRET_PATHS: [&str; 3] = ["/password-reset/", "/api/v1/password-reset/", "/support/invite/"];

/// A request path as the log may show it.
fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    match SECRET_PATHS.iter().find(|prefix| path.starts_with(*prefix)) {
        Some(prefix) if path.len() > prefix.len() && path != "/support/invite/key" => format!("{prefix}…").into(),
        _ => match FLOW_PATHS.iter().find(|prefix| path.starts_with(*prefix)) {
            // The flow's id, whatever follows it: "/signup/…/profile".
            Some(prefix) if path.len() > prefix.len() => {
                let rest = path[prefix.len()..]
                    .find('/')
                    .map_or("", |at| &path[prefix.len() + at..]);
                format!("{prefix}…{rest}").into()
            }
            _ => path.into(),
        },
    }
}

/// Paths whose next part is a sign-up or login flow's id: whoever holds a sign-up's id once its
/// code is verified may finish it, so it stays out of the log too.
const FLOW_PATHS: [&str; 3] = ["/signup/", "/api/v1/signup/", "/login/"];

/// The whole application: API, operations endpoints and the layers every response passes.
///
/// axum's `Router::layer` wraps each route in a boxed service per layer, and every request clones
/// and calls each of those boxes in turn; so the layers that need nothing of the route (logging,
/// security headers, the panic guard, the body limit) wrap the whole router once instead. Only the
/// metric, which is labelled by the route matched, and the deadline inside it (so that a request
/// cut at its deadline is counted) stay on the routes.
pub fn router(state: AppState) -> Router {
    let upload = state.max_upload_body();
    let checked = api::routes(upload)
        .merge(pages::routes(upload))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            device::device_cookie,
        ))
        .layer(axum::middleware::from_fn_with_state(state.clone(), csrf::check_origin));
    let routes = Router::new()
        .merge(checked)
        .merge(ops::routes())
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), error::deadline))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .with_state(state.clone());
    let whole = tower::ServiceBuilder::new()
        .layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                // Method and path only: query strings and headers may carry tokens or cookies.
                tracing::info_span!("request", method = %req.method(), path = %loggable_path(req.uri().path()))
            }),
        )
        .layer(axum::middleware::from_fn_with_state(state, headers::security_headers))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(error::panic_response))
        .layer(DefaultBodyLimit::max(MAX_API_BODY))
        .service(routes);
    Router::new().fallback_service(whole)
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_in_paths_stay_out_of_the_log() {
        assert_eq!(super::loggable_path("/password-reset/0123abcd"), "/password-reset/…");
        assert_eq!(
            super::loggable_path("/api/v1/password-reset/0123abcd"),
            "/api/v1/password-reset/…"
        );
        assert_eq!(super::loggable_path("/support/invite/0123abcd"), "/support/invite/…");
        assert_eq!(super::loggable_path("/support/invite/key"), "/support/invite/key");
        assert_eq!(super::loggable_path("/api/v1/password-reset"), "/api/v1/password-reset");
        assert_eq!(super::loggable_path("/security"), "/security");
        assert_eq!(
            super::loggable_path("/api/v1/signup/0190a0a0-0000-7000-8000-000000000000/profile"),
            "/api/v1/signup/…/profile"
        );
        assert_eq!(super::loggable_path("/signup/0190a0a0-0000"), "/signup/…");
        assert_eq!(
            super::loggable_path("/login/0190a0a0/email/resend"),
            "/login/…/email/resend"
        );
        assert_eq!(super::loggable_path("/login"), "/login");
    }
}
