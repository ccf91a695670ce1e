//! The JSON API (OPS-2), `/api/v1/…`, and its OpenAPI document at `/api/openapi.json`.

pub(crate) mod auth;
mod settings;
mod signup;

use crate::AppState;
use crate::error::ErrorBody;
use axum::routing::{get, post};
use axum::{Json, Router};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(title = "Sesame API", description = "Customer-account login and account security."),
    paths(
        auth::login,
        auth::logout,
        auth::me,
        settings::update,
        signup::start,
        signup::show,
        signup::verify,
        signup::resend,
        signup::profile,
        signup::password
    ),
    components(schemas(
        ErrorBody,
        auth::LoginRequest,
        auth::LoginResponse,
        auth::Me,
        settings::Settings,
        signup::SignupRequest,
        signup::SignupFlow,
        signup::VerifyRequest,
        signup::ProfileRequest,
        signup::PasswordRequest
    ))
)]
pub struct ApiDoc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/session", post(auth::login).delete(auth::logout))
        .route("/api/v1/me", get(auth::me))
        .route("/api/v1/me/settings", axum::routing::put(settings::update))
        .route("/api/v1/signup", post(signup::start))
        .route("/api/v1/signup/{flow}", get(signup::show))
        .route("/api/v1/signup/{flow}/verify", post(signup::verify))
        .route("/api/v1/signup/{flow}/resend", post(signup::resend))
        .route("/api/v1/signup/{flow}/profile", post(signup::profile))
        .route("/api/v1/signup/{flow}/password", post(signup::password))
        .route("/api/openapi.json", get(openapi))
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
