//! OPS-3 metrics in Prometheus format: login outcomes and request latency per route. Each app
//! has its own registry (no global recorder), so several servers in one test process don't mix.

use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder};
use std::time::Instant;

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    logins: IntCounterVec,
    latency: HistogramVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let logins = IntCounterVec::new(
            Opts::new("sesame_logins_total", "Login attempts by outcome"),
            &["outcome"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new("sesame_http_request_duration_seconds", "HTTP request latency by route").buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["method", "route", "status"],
        )?;
        registry.register(Box::new(logins.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        for outcome in [
            "success",
            "invalid_credentials",
            "blocked",
            "rejected",
            "throttled",
            "ip_denied",
            "busy",
            "error",
        ] {
            logins.with_label_values(&[outcome]);
        }
        Ok(Self {
            registry,
            logins,
            latency,
        })
    }

    pub fn login(&self, outcome: &str) {
        self.logins.with_label_values(&[outcome]).inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(err) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!(%err, "metrics encoding failed");
        }
        String::from_utf8_lossy(&buf).into_owned()
    }
}

/// The `outcome` label of a login attempt, shared by the JSON API and the login page.
pub fn login_outcome<T>(result: &Result<T, sesame_core::service::LoginError>) -> &'static str {
    use sesame_core::factor::password::HashError;
    use sesame_core::service::LoginError;
    match result {
        Ok(_) => "success",
        Err(LoginError::InvalidCredentials) => "invalid_credentials",
        Err(LoginError::Blocked) => "blocked",
        Err(LoginError::PasswordTooLong) => "rejected",
        Err(LoginError::Throttled { .. }) => "throttled",
        Err(LoginError::IpDenied) => "ip_denied",
        Err(LoginError::Hash(HashError::Busy)) => "busy",
        Err(_) => "error",
    }
}

/// Times every request; the labels come from bounded sets (known methods or `other`, the matched
/// route pattern or `unmatched`, the status), never from raw request text.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    // A fixed set of labels: a made-up method must not add a series (or fill the page).
    let method = match *req.method() {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(req).await;
    state
        .metrics()
        .latency
        .with_label_values(&[method, route.as_str(), response.status().as_str()])
        .observe(started.elapsed().as_secs_f64());
    response
}
