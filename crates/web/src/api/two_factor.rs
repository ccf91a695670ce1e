//! Two-factor authentication over JSON (LOGIN-2, MFA-1 to MFA-6, SESS-3): the second login step
//! (with its challenge for security keys and SMS), re-authentication, and managing devices of
//! every kind and backup codes. Management calls need an authentication within 10 minutes, else
//! 403 `REAUTH_REQUIRED`.

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
use sesame_core::factor::{EnrolPrompt, Method, Prompt, Proof};
use sesame_core::service::{DeviceStart, TwoFactorError};
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
            )
            .retry_after(retry_after),
            TwoFactorError::SendThrottled { retry_after } => Self::with_message(
                ErrorCode::SmsThrottled,
                format!(
                    "Too many codes were sent. Ask again in {} seconds.",
                    retry_after.whole_seconds().max(1)
                ),
            ),
            TwoFactorError::InvalidPhone => Self::new(ErrorCode::PhoneInvalid),
            TwoFactorError::MethodUnavailable => Self::new(ErrorCode::TwoFactorMethodUnavailable),
            TwoFactorError::DeviceProofRequired => Self::new(ErrorCode::TwoFactorDeviceProofRequired),
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
    /// `totp`, `security_key`, `sms` or `backup_code`.
    pub method: String,
    /// A code (app, SMS, backup code).
    #[serde(default)]
    pub code: Option<String>,
    /// A security key's answer: the browser's `PublicKeyCredential` as JSON (`toJSON()`).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub credential: Option<serde_json::Value>,
}

/// A proof from a request: a credential when one is given, else the code.
fn proof(code: Option<String>, credential: Option<serde_json::Value>) -> Proof {
    match credential {
        Some(credential) => Proof::Credential(credential),
        None => Proof::Code(code.unwrap_or_default()),
    }
}

/// The second login step: a code, or a security key's answer to its challenge.
#[utoipa::path(post, path = "/api/v1/session/second-factor", request_body = SecondFactorRequest, responses(
    (status = 200, description = "Logged in (or re-authenticated); the session cookie is set", body = LoginResponse),
    (status = 400, description = "SECOND_FACTOR_INVALID", body = ErrorBody),
    (status = 404, description = "LOGIN_FLOW_NOT_FOUND (start again from the password)", body = ErrorBody),
    (status = 409, description = "SECOND_FACTOR_METHOD_NOT_ALLOWED", body = ErrorBody),
    (status = 429, description = "SECOND_FACTOR_TOO_MANY_ATTEMPTS, SECOND_FACTOR_LOCKED or SECOND_FACTOR_THROTTLED", body = ErrorBody),
))]
pub async fn second_factor(
    State(state): State<AppState>,
    Client(client): Client,
    jar: CookieJar,
    ApiJson(req): ApiJson<SecondFactorRequest>,
) -> Result<Response, ApiError> {
    let proof = proof(req.code, req.credential);
    let done = state
        .services()
        .login()
        .second_factor(req.flow, &req.method, &proof, &client)
        .await?;
    state.metrics().login("success");
    Ok(logged_in(&state, jar, done, "logged_in"))
}

#[derive(Deserialize, ToSchema)]
pub struct ChallengeRequest {
    pub flow: Uuid,
    /// `security_key` or `sms` (the others need no challenge).
    pub method: String,
    /// `sms`: the phone to text, an `id` from the login's `phones`; absent or empty, the one
    /// used last. Anything else is `TWO_FACTOR_DEVICE_NOT_FOUND`.
    #[serde(default)]
    #[schema(format = Uuid)]
    pub device: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChallengeResponse {
    /// For a security key: what `navigator.credentials.get()` takes (`{"publicKey": …}`, binary
    /// fields base64url).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub options: Option<serde_json::Value>,
    /// For SMS: the number the code went to, masked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_to: Option<String>,
}

fn challenge_answer(prompt: Prompt) -> Response {
    match prompt {
        Prompt::None => Json(ChallengeResponse {
            options: None,
            sent_to: None,
        })
        .into_response(),
        Prompt::Options(options) => Json(ChallengeResponse {
            options: Some(options),
            sent_to: None,
        })
        .into_response(),
        Prompt::CodeSent { to } => (
            StatusCode::ACCEPTED,
            Json(ChallengeResponse {
                options: None,
                sent_to: Some(to),
            }),
        )
            .into_response(),
    }
}

/// What a method needs before its proof: security key request options, or an SMS code sent
/// (at most one text per 30 s and 5 per hour per account).
#[utoipa::path(post, path = "/api/v1/session/second-factor/challenge", request_body = ChallengeRequest, responses(
    (status = 200, description = "Security key options (or nothing to do)", body = ChallengeResponse),
    (status = 202, description = "SMS code sent", body = ChallengeResponse),
    (status = 404, description = "LOGIN_FLOW_NOT_FOUND, or TWO_FACTOR_DEVICE_NOT_FOUND (no such device of the method)", body = ErrorBody),
    (status = 409, description = "SECOND_FACTOR_METHOD_NOT_ALLOWED or TWO_FACTOR_METHOD_UNAVAILABLE", body = ErrorBody),
    (status = 429, description = "SMS_THROTTLED", body = ErrorBody),
))]
pub async fn challenge(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ChallengeRequest>,
) -> Result<Response, ApiError> {
    let prompt = state
        .services()
        .login()
        .second_factor_challenge(req.flow, &req.method, req.device.as_deref())
        .await?;
    Ok(challenge_answer(prompt))
}

#[derive(Deserialize, ToSchema)]
pub struct EmailCodeRequest {
    pub flow: Uuid,
    #[schema(pattern = r"^[0-9]{6}$")]
    pub code: String,
}

/// LOGIN-3's own codes for the email step's errors.
fn email_error(err: TwoFactorError) -> ApiError {
    match err {
        TwoFactorError::InvalidCode => ApiError::new(ErrorCode::LoginCodeInvalid),
        TwoFactorError::SendThrottled { retry_after } => {
            ApiError::new(ErrorCode::LoginCodeThrottled).retry_after(retry_after)
        }
        other => other.into(),
    }
}

/// LOGIN-3: the code mailed for an unusual login ends it.
#[utoipa::path(post, path = "/api/v1/session/email-code", request_body = EmailCodeRequest, responses(
    (status = 200, description = "Logged in; the session cookie is set", body = LoginResponse),
    (status = 400, description = "LOGIN_CODE_INVALID", body = ErrorBody),
    (status = 404, description = "LOGIN_FLOW_NOT_FOUND", body = ErrorBody),
    (status = 429, description = "SECOND_FACTOR_TOO_MANY_ATTEMPTS (5 per login)", body = ErrorBody),
))]
pub async fn email_code(
    State(state): State<AppState>,
    Client(client): Client,
    jar: CookieJar,
    ApiJson(req): ApiJson<EmailCodeRequest>,
) -> Result<Response, ApiError> {
    let done = state
        .services()
        .login()
        .email_code(req.flow, &req.code, &client)
        .await
        .map_err(email_error)?;
    state.metrics().login("success");
    Ok(logged_in(&state, jar, done, "logged_in"))
}

#[derive(Deserialize, ToSchema)]
pub struct FlowRequest {
    pub flow: Uuid,
}

/// LOGIN-3: a new code for the same login; the older one stops working.
#[utoipa::path(post, path = "/api/v1/session/email-code/resend", request_body = FlowRequest, responses(
    (status = 202, description = "Sent", body = ChallengeResponse),
    (status = 404, description = "LOGIN_FLOW_NOT_FOUND", body = ErrorBody),
    (status = 429, description = "LOGIN_CODE_THROTTLED", body = ErrorBody),
))]
pub async fn email_code_resend(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(req): ApiJson<FlowRequest>,
) -> Result<Response, ApiError> {
    let step = state
        .services()
        .login()
        .email_code_resend(req.flow, &client)
        .await
        .map_err(email_error)?;
    Ok(challenge_answer(Prompt::CodeSent { to: step.sent_to }))
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
    let outcome = state
        .services()
        .login()
        .reauthenticate(&auth, &req.password, &client)
        .await?;
    Ok(match outcome {
        sesame_core::service::LoginOutcome::LoggedIn(done) => logged_in(&state, jar, *done, "reauthenticated"),
        other => login_answer(&state, jar, other),
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceView {
    pub id: Uuid,
    /// `totp`, `security_key` or `sms`.
    pub kind: &'static str,
    pub description: String,
    #[schema(value_type = String)]
    pub created_at: String,
    #[schema(value_type = Option<String>)]
    pub last_used_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TwoFactorStatus {
    /// On while any device (app, key or phone) is enrolled.
    pub enabled: bool,
    pub devices: Vec<DeviceView>,
    /// The authenticator apps alone (the devices of kind `totp`), as before devices existed.
    pub totp: Vec<DeviceView>,
    pub backup_codes_left: i64,
    /// MFA-5: shown when 3 or fewer backup codes remain.
    pub backup_codes_low: bool,
    /// Whether security keys can be added here (not when the public URL is an IP address).
    pub security_keys_available: bool,
    /// Whether SMS is offered in the account's subsidiary.
    pub sms_available: bool,
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
    let summary = state.services().devices().two_factor_summary(&auth.account).await?;
    let view = |d: &sesame_core::service::Device| DeviceView {
        id: d.id,
        kind: d.method.as_str(),
        description: d.description.clone(),
        created_at: rfc3339(d.created_at),
        last_used_at: d.last_used_at.map(rfc3339),
    };
    Ok(Json(TwoFactorStatus {
        enabled: summary.enabled,
        devices: summary.devices.iter().map(view).collect(),
        totp: summary
            .devices
            .iter()
            .filter(|d| d.method == Method::Totp)
            .map(view)
            .collect(),
        backup_codes_left: summary.backup_codes_left,
        backup_codes_low: summary.backup_codes_low,
        security_keys_available: summary.security_keys_available,
        sms_available: summary.sms_available,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct DescriptionRequest {
    #[schema(
        min_length = 1,
        max_length = 60,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub description: String,
}

#[derive(Serialize, ToSchema)]
pub struct Enrolment {
    pub id: Uuid,
    /// Apps: the secret in unpadded RFC 4648 base32, its `otpauth://` URL and QR code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otpauth_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qr_svg: Option<String>,
    /// Security keys: what `navigator.credentials.create()` takes (`{"publicKey": …}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub options: Option<serde_json::Value>,
    /// SMS: the number the code went to, masked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_to: Option<String>,
}

impl From<DeviceStart> for Enrolment {
    fn from(start: DeviceStart) -> Self {
        let mut out = Self {
            id: start.id,
            secret: None,
            otpauth_url: None,
            qr_svg: None,
            options: None,
            sent_to: None,
        };
        match start.prompt {
            EnrolPrompt::Totp {
                secret,
                otpauth_url,
                qr_svg,
            } => {
                out.secret = Some(secret);
                out.otpauth_url = Some(otpauth_url);
                out.qr_svg = Some(qr_svg);
            }
            EnrolPrompt::SecurityKey { options } => out.options = Some(options),
            EnrolPrompt::Sms { to } => out.sent_to = Some(to),
        }
        out
    }
}

async fn begin(
    state: &AppState,
    auth: &sesame_core::service::Authenticated,
    method: Method,
    description: &str,
    phone: Option<&str>,
) -> Result<(StatusCode, Json<Enrolment>), ApiError> {
    let start = state
        .services()
        .devices()
        .device_begin(auth, method, description, phone)
        .await?;
    Ok((StatusCode::CREATED, Json(start.into())))
}

/// Start enrolling an authenticator app (confirm it with `enable`).
#[utoipa::path(post, path = "/api/v1/me/2fa/totp", request_body = DescriptionRequest, responses(
    (status = 201, body = Enrolment),
    (status = 403, description = "REAUTH_REQUIRED", body = ErrorBody),
))]
pub async fn totp_begin(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    ApiJson(req): ApiJson<DescriptionRequest>,
) -> Result<impl IntoResponse, ApiError> {
    begin(&state, &auth, Method::Totp, &req.description, None).await
}

/// Start enrolling a security key: pass `options` to `navigator.credentials.create()`, then send
/// the result to `enable`.
#[utoipa::path(post, path = "/api/v1/me/2fa/security-keys", request_body = DescriptionRequest, responses(
    (status = 201, body = Enrolment),
    (status = 403, description = "REAUTH_REQUIRED", body = ErrorBody),
    (status = 409, description = "TWO_FACTOR_METHOD_UNAVAILABLE (the public URL is an IP address)", body = ErrorBody),
))]
pub async fn security_key_begin(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    ApiJson(req): ApiJson<DescriptionRequest>,
) -> Result<impl IntoResponse, ApiError> {
    begin(&state, &auth, Method::SecurityKey, &req.description, None).await
}

#[derive(Deserialize, ToSchema)]
pub struct PhoneRequest {
    /// E.164 (`+33612345678`); spaces, dots and dashes are allowed.
    #[schema(pattern = r"^\+[1-9][0-9]{7,14}$")]
    pub phone: String,
    #[schema(
        min_length = 1,
        max_length = 60,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub description: String,
}

/// Start enrolling a phone: a code is texted to it (confirm with `enable`).
#[utoipa::path(post, path = "/api/v1/me/2fa/sms", request_body = PhoneRequest, responses(
    (status = 201, body = Enrolment),
    (status = 403, description = "REAUTH_REQUIRED", body = ErrorBody),
    (status = 409, description = "TWO_FACTOR_METHOD_UNAVAILABLE (no SMS in this subsidiary)", body = ErrorBody),
    (status = 422, description = "PHONE_INVALID", body = ErrorBody),
    (status = 429, description = "SMS_THROTTLED", body = ErrorBody),
))]
pub async fn sms_begin(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    ApiJson(req): ApiJson<PhoneRequest>,
) -> Result<impl IntoResponse, ApiError> {
    begin(&state, &auth, Method::Sms, &req.description, Some(&req.phone)).await
}

#[derive(Deserialize, ToSchema)]
pub struct ProofRequest {
    /// A code from the device (app, SMS).
    #[serde(default)]
    pub code: Option<String>,
    /// A security key's answer (`PublicKeyCredential.toJSON()`).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub credential: Option<serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
pub struct BackupCodes {
    /// Shown once: `xxxxx-xxxxx`, each usable once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_codes: Option<Vec<String>>,
}

fn device_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::new(ErrorCode::TwoFactorDeviceNotFound))
}

/// Confirm a pending device with a proof from it (a code, or the key's credential). For the
/// first device, the answer holds the backup codes.
#[utoipa::path(post, path = "/api/v1/me/2fa/devices/{id}/enable", request_body = ProofRequest, responses(
    (status = 200, body = BackupCodes),
    (status = 400, description = "SECOND_FACTOR_INVALID", body = ErrorBody),
    (status = 404, description = "TWO_FACTOR_DEVICE_NOT_FOUND", body = ErrorBody),
))]
pub async fn enable(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ProofRequest>,
) -> Result<Json<BackupCodes>, ApiError> {
    let codes = state
        .services()
        .devices()
        .device_enable(&auth, device_id(&id)?, &proof(req.code, req.credential))
        .await?;
    Ok(Json(BackupCodes { backup_codes: codes }))
}

/// Rename a device.
#[utoipa::path(patch, path = "/api/v1/me/2fa/devices/{id}", request_body = DescriptionRequest, responses(
    (status = 204),
    (status = 404, description = "TWO_FACTOR_DEVICE_NOT_FOUND", body = ErrorBody),
))]
pub async fn rename(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<DescriptionRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .services()
        .devices()
        .device_rename(&auth, device_id(&id)?, &req.description)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A challenge for one device before removing it: options for a key, a texted code for a phone.
#[utoipa::path(post, path = "/api/v1/me/2fa/devices/{id}/challenge", responses(
    (status = 200, description = "Security key options (or nothing to do, for an app)", body = ChallengeResponse),
    (status = 202, description = "SMS code sent", body = ChallengeResponse),
    (status = 429, description = "SMS_THROTTLED", body = ErrorBody),
))]
pub async fn device_challenge(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let prompt = state
        .services()
        .devices()
        .device_challenge(&auth, device_id(&id)?)
        .await?;
    Ok(challenge_answer(prompt))
}

#[derive(Serialize, ToSchema)]
pub struct Removed {
    /// True when this was the last device: 2FA is off and the backup codes are gone.
    pub two_factor_off: bool,
}

/// Remove a device, with a proof from that very device (`code` or `credential`), or with `{}`
/// after a fresh login that used another device or a backup code (MFA-6).
#[utoipa::path(delete, path = "/api/v1/me/2fa/devices/{id}", request_body = ProofRequest, responses(
    (status = 200, body = Removed),
    (status = 400, description = "SECOND_FACTOR_INVALID", body = ErrorBody),
    (status = 403, description = "REAUTH_REQUIRED or TWO_FACTOR_DEVICE_PROOF_REQUIRED", body = ErrorBody),
))]
pub async fn remove(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ProofRequest>,
) -> Result<Json<Removed>, ApiError> {
    let given = (req.code.is_some() || req.credential.is_some()).then(|| proof(req.code, req.credential));
    let off = state
        .services()
        .devices()
        .device_remove(&auth, device_id(&id)?, given.as_ref())
        .await?;
    Ok(Json(Removed { two_factor_off: off }))
}

/// A new set of backup codes; the old set stops working.
#[utoipa::path(post, path = "/api/v1/me/2fa/backup-codes", responses((status = 200, body = BackupCodes), (status = 409, description = "TWO_FACTOR_NOT_ENABLED", body = ErrorBody)))]
pub async fn regenerate(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
) -> Result<Json<BackupCodes>, ApiError> {
    let codes = state.services().devices().regenerate_backup_codes(&auth).await?;
    Ok(Json(BackupCodes {
        backup_codes: Some(codes),
    }))
}
