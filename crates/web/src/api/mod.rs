//! The JSON API (OPS-2), `/api/v1/…`, and its OpenAPI document at `/api/openapi.json`.

mod activity;
pub(crate) mod auth;
pub(crate) mod recovery;
mod settings;
mod signup;
mod two_factor;

use crate::AppState;
use crate::error::ErrorBody;
use axum::routing::{get, patch, post};
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
        signup::password,
        two_factor::second_factor,
        two_factor::challenge,
        two_factor::email_code,
        two_factor::email_code_resend,
        two_factor::reauth,
        two_factor::status,
        two_factor::totp_begin,
        two_factor::security_key_begin,
        two_factor::sms_begin,
        two_factor::enable,
        two_factor::rename,
        two_factor::device_challenge,
        two_factor::remove,
        two_factor::regenerate,
        activity::sessions,
        activity::end_session,
        activity::end_others,
        activity::devices,
        activity::forget_device,
        activity::activity,
        activity::ip_rules,
        activity::set_ip_rules,
        recovery::request_reset,
        recovery::reset,
        recovery::change_password,
        recovery::set_backup_email,
        recovery::verify_backup_email,
        recovery::remove_backup_email,
        recovery::start_email_change,
        recovery::confirm_email_change,
        recovery::cancel_email_change,
        recovery::start_lost,
        recovery::add_document,
        recovery::submit,
        recovery::show
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
        two_factor::ChallengeRequest,
        two_factor::EmailCodeRequest,
        two_factor::FlowRequest,
        two_factor::ChallengeResponse,
        two_factor::TwoFactorStatus,
        two_factor::DeviceView,
        two_factor::DescriptionRequest,
        two_factor::PhoneRequest,
        two_factor::Enrolment,
        two_factor::ProofRequest,
        two_factor::BackupCodes,
        activity::SessionJson,
        activity::Ended,
        activity::KnownDeviceJson,
        activity::ActivityJson,
        two_factor::Removed,
        recovery::Status,
        recovery::ResetRequest,
        recovery::ResetPassword,
        recovery::ChangePassword,
        recovery::EmailRequest,
        recovery::CodeRequest,
        recovery::EmailChangeRequest,
        recovery::EmailChangeStarted,
        recovery::EmailChangeConfirm,
        recovery::EmailChangeConfirmed,
        recovery::LostRequest,
        recovery::RequestStarted,
        recovery::RequestJson
    ))
)]
pub struct ApiDoc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/session", post(auth::login).delete(auth::logout))
        .route("/api/v1/me", get(auth::me))
        .route("/api/v1/me/settings", axum::routing::put(settings::update))
        .route("/api/v1/session/second-factor", post(two_factor::second_factor))
        .route("/api/v1/session/second-factor/challenge", post(two_factor::challenge))
        .route("/api/v1/session/email-code", post(two_factor::email_code))
        .route("/api/v1/session/email-code/resend", post(two_factor::email_code_resend))
        .route("/api/v1/session/reauth", post(two_factor::reauth))
        .route("/api/v1/me/2fa", get(two_factor::status))
        .route("/api/v1/me/2fa/totp", post(two_factor::totp_begin))
        .route("/api/v1/me/2fa/security-keys", post(two_factor::security_key_begin))
        .route("/api/v1/me/2fa/sms", post(two_factor::sms_begin))
        // The routes of one kind (`/totp/{id}`, `/security-keys/{id}/enable`, …) and the
        // generic `/devices/{id}` reach the same handlers: a device is a device.
        .route(
            "/api/v1/me/2fa/totp/{id}",
            patch(two_factor::rename).delete(two_factor::remove),
        )
        .route("/api/v1/me/2fa/totp/{id}/enable", post(two_factor::enable))
        .route("/api/v1/me/2fa/security-keys/{id}/enable", post(two_factor::enable))
        .route("/api/v1/me/2fa/sms/{id}/enable", post(two_factor::enable))
        .route(
            "/api/v1/me/2fa/devices/{id}",
            patch(two_factor::rename).delete(two_factor::remove),
        )
        .route("/api/v1/me/2fa/devices/{id}/enable", post(two_factor::enable))
        .route(
            "/api/v1/me/2fa/devices/{id}/challenge",
            post(two_factor::device_challenge),
        )
        .route("/api/v1/me/2fa/backup-codes", post(two_factor::regenerate))
        .route(
            "/api/v1/me/sessions",
            get(activity::sessions).delete(activity::end_others),
        )
        .route("/api/v1/me/sessions/{id}", axum::routing::delete(activity::end_session))
        .route("/api/v1/me/devices", get(activity::devices))
        .route(
            "/api/v1/me/devices/{id}",
            axum::routing::delete(activity::forget_device),
        )
        .route("/api/v1/me/activity", get(activity::activity))
        .route(
            "/api/v1/me/ip-restrictions",
            get(activity::ip_rules).put(activity::set_ip_rules),
        )
        .route("/api/v1/password-reset", post(recovery::request_reset))
        .route("/api/v1/password-reset/{token}", post(recovery::reset))
        .route("/api/v1/me/password", axum::routing::put(recovery::change_password))
        .route(
            "/api/v1/me/backup-email",
            axum::routing::put(recovery::set_backup_email).delete(recovery::remove_backup_email),
        )
        .route("/api/v1/me/backup-email/verify", post(recovery::verify_backup_email))
        .route("/api/v1/me/email", post(recovery::start_email_change))
        .route(
            "/api/v1/me/email/{change}",
            axum::routing::delete(recovery::cancel_email_change),
        )
        .route(
            "/api/v1/me/email/{change}/confirm",
            post(recovery::confirm_email_change),
        )
        .route("/api/v1/session/second-factor/lost", post(recovery::start_lost))
        .route("/api/v1/recovery-requests/{request}", get(recovery::show))
        .route(
            "/api/v1/recovery-requests/{request}/documents",
            post(recovery::add_document).layer(axum::extract::DefaultBodyLimit::max(crate::MAX_UPLOAD_BODY)),
        )
        .route("/api/v1/recovery-requests/{request}/submit", post(recovery::submit))
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
