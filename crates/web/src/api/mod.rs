//! The JSON API (OPS-2), `/api/v1/…`, and its OpenAPI document at `/api/openapi.json`.

mod auth;

use crate::AppState;
use crate::error::ErrorBody;
use axum::routing::{get, post};
use axum::{Json, Router};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(title = "Sesame API", description = "Customer-account login and account security."),
    paths(auth::login, auth::logout, auth::me),
    components(schemas(ErrorBody, auth::LoginRequest, auth::LoginResponse, auth::Me))
)]
pub struct ApiDoc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/session", post(auth::login).delete(auth::logout))
        .route("/api/v1/me", get(auth::me))
        .route("/api/openapi.json", get(openapi))
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
