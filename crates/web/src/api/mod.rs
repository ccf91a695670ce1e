//! The JSON API (OPS-2), `/api/v1/…`, and its OpenAPI document at `/api/openapi.json`.

pub(crate) mod auth;
mod settings;
mod signup;
mod two_factor;

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
        signup::PasswordRequest,
        two_factor::SecondFactorRequest,
        two_factor::ReauthRequest,
        two_factor::TwoFactorStatus,
        two_factor::App,
        two_factor::DescriptionRequest,
        two_factor::TotpEnrolment,
        two_factor::CodeRequest,
        two_factor::BackupCodes,
        two_factor::Removed
    ))
)]
pub struct ApiDoc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/session", post(auth::login).delete(auth::logout))
        .route("/api/v1/me", get(auth::me))
        .route("/api/v1/me/settings", axum::routing::put(settings::update))
        .route("/api/v1/session/second-factor", post(two_factor::second_factor))
        .route("/api/v1/session/reauth", post(two_factor::reauth))
        .route("/api/v1/me/2fa", get(two_factor::status))
        .route("/api/v1/me/2fa/totp", post(two_factor::totp_begin))
        .route(
            "/api/v1/me/2fa/totp/{id}",
            axum::routing::patch(two_factor::totp_rename).delete(two_factor::totp_remove),
        )
        .route("/api/v1/me/2fa/totp/{id}/enable", post(two_factor::totp_enable))
        .route("/api/v1/me/2fa/backup-codes", post(two_factor::regenerate))
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
