//! OPS-3 operations endpoints: liveness, readiness (the database answers) and metrics. Metrics
//! tell an outsider about traffic and outcomes, so the customers' listener serves them only with
//! the configured bearer token; Prometheus normally scrapes them on their own (loopback) listener,
//! [`metrics_router`].

use crate::AppState;
use crate::Metrics;
use crate::error::{ApiError, ErrorCode};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use subtle::ConstantTimeEq;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    if state.services().ready().await {
        Ok("ready\n")
    } else {
        Err(ApiError::new(ErrorCode::ServiceUnavailable))
    }
}

fn exposition(metrics: &Metrics) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        metrics.render(),
    )
        .into_response()
}

/// `/metrics` on the customers' listener: 404 unless a token is configured, then only with it.
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let Some(token) = &state.settings().metrics_token else {
        return Err(ApiError::new(ErrorCode::NotFound));
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !bool::from(presented.as_bytes().ct_eq(token.as_bytes())) {
        return Err(ApiError::new(ErrorCode::AuthRequired));
    }
    Ok(exposition(state.metrics()))
}

/// The metrics listener's whole application: `GET /metrics`, nothing else.
pub fn metrics_router(metrics: Metrics) -> Router {
    Router::new().route("/metrics", get(move || async move { exposition(&metrics) }))
}
