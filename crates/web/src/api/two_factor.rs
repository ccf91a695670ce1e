//! Two-factor authentication over JSON (LOGIN-2, MFA-2, MFA-5, MFA-6, SESS-3): the second login
//! step, re-authentication, and managing authenticator apps and backup codes. Management calls
//! need an authentication within 10 minutes, else 403 `REAUTH_REQUIRED`.

use super::auth::{LoginResponse, logged_in, login_answer};
use crate::AppState;
use crate::client::Client;
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::json::ApiJson;
use crate::session::CurrentSession;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use serde::{Deserialize, Serialize};
use sesame_core::service::TwoFactorError;
use utoipa::ToSchema;
use uuid::Uuid;

impl From<TwoFactorError> for ApiError {
    fn from(err: TwoFactorError) -> Self {
        match err {
            TwoFactorError::FlowNotFound => Self::new(ErrorCode::LoginFlowNotFound),
            TwoFactorError::MethodNotAllowed => Self::new(ErrorCode::SecondFactorMethodNotAllowed),
            TwoFactorError::InvalidCode => Self::new(ErrorCode::SecondFactorInvalid),
            TwoFactorError::TooManyAttempts => Self::new(ErrorCode::SecondFactorTooManyAttempts),
            TwoFactorError::AccountLocked => Self::new(ErrorCode::SecondFactorLocked),
            TwoFactorError::Throttled { retry_after } => Self::with_message(
                ErrorCode::SecondFactorThrottled,
                format!(
                    "Too many wrong codes. Try again in {} seconds.",
                    retry_after.whole_seconds().max(1)
                ),
            ),
            TwoFactorError::InvalidUnlock => Self::new(ErrorCode::UnlockInvalid),
            TwoFactorError::ReauthRequired => Self::new(ErrorCode::ReauthRequired),
            TwoFactorError::NotFound => Self::new(ErrorCode::TwoFactorDeviceNotFound),
            TwoFactorError::InvalidDescription => Self::with_message(ErrorCode::InvalidField, err.to_string()),
            TwoFactorError::NotEnabled => Self::new(ErrorCode::TwoFactorNotEnabled),
            TwoFactorError::Login(e) => e.into(),
            TwoFactorError::Mail(e) => Self::internal(e),
            TwoFactorError::Store(e) => e.into(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct SecondFactorRequest {
    pub flow: Uuid,
    /// `totp` or `backup_code` (security keys and SMS come next).
    pub method: String,
    pub code: String,
}

/// The second login step: a code from an enabled method.
#[utoipa::path(post, path = "/api/v1/session/second-factor", request_body = SecondFactorRequest, responses(
    (status = 200, description = "Logged in (or re-authenticated); the session cookie is set", body = LoginResponse),
    (status = 400, description = "SECOND_FACTOR_INVALID", body = ErrorBody),
    (status = 404, description = "LOGIN_FLOW_NOT_FOUND (start again from the password)", body = ErrorBody),
    (status = 429, description = "SECOND_FACTOR_TOO_MANY_ATTEMPTS or SECOND_FACTOR_LOCKED", body = ErrorBody),
))]
pub async fn second_factor(
    State(state): State<AppState>,
    Client(client): Client,
    jar: CookieJar,
    ApiJson(req): ApiJson<SecondFactorRequest>,
) -> Result<Response, ApiError> {
    let done = state
        .services()
        .second_factor(req.flow, &req.method, &req.code, &client)
        .await?;
    state.metrics().login("success");
    Ok(logged_in(&state, jar, done, "logged_in"))
}

#[derive(Deserialize, ToSchema)]
pub struct ReauthRequest {
    pub password: String,
}

/// SESS-3: authenticate again (password, then the second factor like a login).
#[utoipa::path(post, path = "/api/v1/session/reauth", request_body = ReauthRequest, responses(
    (status = 200, description = "`reauthenticated` with a new session cookie, or `second_factor_required`", body = LoginResponse),
    (status = 401, description = "LOGIN_INVALID_CREDENTIALS or AUTH_REQUIRED", body = ErrorBody),
))]
pub async fn reauth(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    Client(client): Client,
    jar: CookieJar,
    ApiJson(req): ApiJson<ReauthRequest>,
) -> Result<Response, ApiError> {
    let outcome = state.services().reauthenticate(&auth, &req.password, &client).await?;
    Ok(match outcome {
        sesame_core::service::LoginOutcome::LoggedIn(done) => logged_in(&state, jar, *done, "reauthenticated"),
        other => login_answer(&state, jar, other),
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct App {
    pub id: Uuid,
    pub description: String,
    #[schema(value_type = String)]
    pub created_at: String,
    #[schema(value_type = Option<String>)]
    pub last_used_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TwoFactorStatus {
    pub enabled: bool,
    pub totp: Vec<App>,
    pub backup_codes_left: i64,
    /// MFA-5: shown when 3 or fewer backup codes remain.
    pub backup_codes_low: bool,
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The account's second factors.
#[utoipa::path(get, path = "/api/v1/me/2fa", responses((status = 200, body = TwoFactorStatus)))]
pub async fn status(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
) -> Result<Json<TwoFactorStatus>, ApiError> {
    let summary = state.services().two_factor_summary(&auth.account).await?;
    let totp = summary
        .apps
        .iter()
        .map(|c| App {
            id: c.id,
            description: c.description.clone(),
            created_at: rfc3339(c.created_at),
            last_used_at: c.last_used_at.map(rfc3339),
        })
        .collect();
    Ok(Json(TwoFactorStatus {
        enabled: summary.enabled,
        totp,
        backup_codes_left: summary.backup_codes_left,
        backup_codes_low: summary.enabled && summary.backup_codes_left <= 3,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct DescriptionRequest {
    pub description: String,
}

#[derive(Serialize, ToSchema)]
pub struct TotpEnrolment {
    pub id: Uuid,
    /// Unpadded RFC 4648 base32.
    pub secret: String,
    pub otpauth_url: String,
    pub qr_svg: String,
}

/// Start enrolling an authenticator app (confirm it with `enable`).
#[utoipa::path(post, path = "/api/v1/me/2fa/totp", request_body = DescriptionRequest, responses(
    (status = 201, body = TotpEnrolment),
    (status = 403, description = "REAUTH_REQUIRED", body = ErrorBody),
))]
pub async fn totp_begin(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    ApiJson(req): ApiJson<DescriptionRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let e = state.services().totp_begin(&auth, &req.description).await?;
    let body = TotpEnrolment {
        id: e.id,
        secret: e.secret,
        otpauth_url: e.otpauth_url,
        qr_svg: e.qr_svg,
    };
    Ok((StatusCode::CREATED, Json(body)))
}

#[derive(Deserialize, ToSchema)]
pub struct CodeRequest {
    pub code: String,
}

#[derive(Serialize, ToSchema)]
pub struct BackupCodes {
    /// Shown once: `xxxxx-xxxxx`, each usable once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_codes: Option<Vec<String>>,
}

fn app_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::new(ErrorCode::TwoFactorDeviceNotFound))
}

/// Confirm an app with a current code. For the first method, the answer holds the backup codes.
#[utoipa::path(post, path = "/api/v1/me/2fa/totp/{id}/enable", request_body = CodeRequest, responses(
    (status = 200, body = BackupCodes),
    (status = 400, description = "SECOND_FACTOR_INVALID", body = ErrorBody),
))]
pub async fn totp_enable(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<CodeRequest>,
) -> Result<Json<BackupCodes>, ApiError> {
    let codes = state.services().totp_enable(&auth, app_id(&id)?, &req.code).await?;
    Ok(Json(BackupCodes { backup_codes: codes }))
}

/// Rename an app.
#[utoipa::path(patch, path = "/api/v1/me/2fa/totp/{id}", request_body = DescriptionRequest, responses((status = 204)))]
pub async fn totp_rename(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<DescriptionRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .services()
        .totp_rename(&auth, app_id(&id)?, &req.description)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct Removed {
    /// True when this was the last method: 2FA is off and the backup codes are gone.
    pub two_factor_off: bool,
}

/// Remove an app, with a current code from that very app (MFA-6).
#[utoipa::path(delete, path = "/api/v1/me/2fa/totp/{id}", request_body = CodeRequest, responses((status = 200, body = Removed)))]
pub async fn totp_remove(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<CodeRequest>,
) -> Result<Json<Removed>, ApiError> {
    let off = state.services().totp_remove(&auth, app_id(&id)?, &req.code).await?;
    Ok(Json(Removed { two_factor_off: off }))
}

/// A new set of backup codes; the old set stops working.
#[utoipa::path(post, path = "/api/v1/me/2fa/backup-codes", responses((status = 200, body = BackupCodes)))]
pub async fn regenerate(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
) -> Result<Json<BackupCodes>, ApiError> {
    let codes = state.services().regenerate_backup_codes(&auth).await?;
    Ok(Json(BackupCodes {
        backup_codes: Some(codes),
    }))
}
