//! Getting back in over JSON (RECOVER-1..5): password reset and change, the backup email, the
//! primary email's change, and lost-2FA requests with their documents.

use crate::AppState;
use crate::client::Client;
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::json::ApiJson;
use crate::session::CurrentSession;
use axum::Json;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::{Deserialize, Serialize};
use sesame_core::random::OsRandom;
use sesame_core::service::{EmailChangeOutcome, RecoveryError};
use sesame_core::token::Token;
use sesame_core::types::EmailError;
use utoipa::ToSchema;
use uuid::Uuid;

impl From<RecoveryError> for ApiError {
    fn from(err: RecoveryError) -> Self {
        match err {
            RecoveryError::LinkInvalid => Self::new(ErrorCode::RecoveryLinkInvalid),
            RecoveryError::NicHandleMismatch => Self::new(ErrorCode::NicHandleMismatch),
            RecoveryError::CurrentPasswordWrong => Self::new(ErrorCode::CurrentPasswordInvalid),
            RecoveryError::Password(violation) => violation.into(),
            RecoveryError::Email(EmailError::Invalid) => Self::new(ErrorCode::EmailInvalid),
            RecoveryError::Email(EmailError::NonAsciiLocalPart) => Self::new(ErrorCode::EmailNonAscii),
            RecoveryError::SameAddress => Self::new(ErrorCode::EmailSameAsCurrent),
            RecoveryError::EmailTaken => Self::new(ErrorCode::EmailTaken),
            RecoveryError::CodeInvalid => Self::new(ErrorCode::ContactCodeInvalid),
            RecoveryError::TooManyAttempts => Self::new(ErrorCode::ContactCodeTooManyAttempts),
            RecoveryError::ChangeNotFound => Self::new(ErrorCode::EmailChangeNotFound),
            RecoveryError::NoBackupEmail => Self::new(ErrorCode::BackupEmailNotFound),
            RecoveryError::RequestNotFound => Self::new(ErrorCode::RecoveryRequestNotFound),
            RecoveryError::RequestOpen => Self::new(ErrorCode::RecoveryRequestOpen),
            RecoveryError::DocumentType => Self::new(ErrorCode::DocumentTypeRefused),
            RecoveryError::DocumentTooLarge => Self::new(ErrorCode::BodyTooLarge),
            RecoveryError::DocumentLimit => Self::new(ErrorCode::DocumentLimit),
            RecoveryError::NoDocuments => Self::new(ErrorCode::RecoveryNoDocuments),
            RecoveryError::WrongStep => Self::new(ErrorCode::RecoveryWrongStep),
            RecoveryError::TwoFactor(e) => e.into(),
            RecoveryError::Hash(e) => e.into(),
            RecoveryError::Mail(e) => Self::internal(e),
            RecoveryError::Store(e) => e.into(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    /// What happened: `accepted`, `password_reset`, `password_changed`, `code_sent`, `verified`,
    /// `applied`, `scheduled`, `submitted`.
    pub status: &'static str,
}

fn status(code: StatusCode, status: &'static str) -> Response {
    (code, Json(Status { status })).into_response()
}

#[derive(Deserialize, ToSchema)]
pub struct ResetRequest {
    /// NIC handle or primary email.
    pub login: String,
}

/// RECOVER-1: ask for a reset link. Always the same answer, at once, account or not.
#[utoipa::path(post, path = "/api/v1/password-reset", request_body = ResetRequest, responses(
    (status = 202, description = "`accepted`: if an account has this login, a link was mailed to it", body = Status),
    (status = 400, description = "MALFORMED_JSON", body = ErrorBody),
    (status = 413, description = "BODY_TOO_LARGE", body = ErrorBody),
    (status = 415, description = "UNSUPPORTED_CONTENT_TYPE", body = ErrorBody),
    (status = 422, description = "INVALID_REQUEST", body = ErrorBody),
))]
pub async fn request_reset(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(req): ApiJson<ResetRequest>,
) -> Response {
    // The answer does not wait for the work: its time says nothing either.
    drop(state.services().recovery().request_password_reset(&req.login, &client));
    status(StatusCode::ACCEPTED, "accepted")
}

/// `Debug` is not derived: the password must never reach a log.
#[derive(Deserialize, ToSchema)]
pub struct ResetPassword {
    /// The account's NIC handle, as the reset mail reminds it.
    #[schema(pattern = r"^[a-z]{2}[0-9]{3,12}-[a-z0-9]+$")]
    pub nic_handle: String,
    /// PWD-2: 12 to 128 code points by default, or at least 8 with upper and lower case, a digit
    /// and a symbol where the account's subsidiary keeps the classic policy (the bounds served
    /// are this deployment's).
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
}

/// RECOVER-1/2: a new password with the mailed link's token. Every session ends; none opens.
#[utoipa::path(post, path = "/api/v1/password-reset/{token}", request_body = ResetPassword, responses(
    (status = 200, description = "`password_reset`: log in with the new password (and the second factor)", body = Status),
    (status = 400, description = "NIC_HANDLE_MISMATCH, PASSWORD_TOO_LONG or MALFORMED_JSON", body = ErrorBody),
    (status = 410, description = "RECOVERY_LINK_INVALID: wrong, used, voided or expired", body = ErrorBody),
    (status = 422, description = "PASSWORD_TOO_SHORT, PASSWORD_TOO_COMMON, PASSWORD_CONTAINS_PERSONAL_INFO or INVALID_REQUEST", body = ErrorBody),
    (status = 503, description = "SERVICE_BUSY", body = ErrorBody),
))]
pub async fn reset(
    State(state): State<AppState>,
    Client(client): Client,
    Path(token): Path<String>,
    ApiJson(req): ApiJson<ResetPassword>,
) -> Result<Response, ApiError> {
    state
        .services()
        .recovery()
        .reset_password(&token, &req.nic_handle, &req.password, &client)
        .await?;
    Ok(status(StatusCode::OK, "password_reset"))
}

/// `Debug` is not derived: passwords must never reach a log.
#[derive(Deserialize, ToSchema)]
pub struct ChangePassword {
    pub current_password: String,
    /// PWD-2: 12 to 128 code points by default, or at least 8 with upper and lower case, a digit
    /// and a symbol where the account's subsidiary keeps the classic policy (the bounds served
    /// are this deployment's).
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
}

/// RECOVER-2: change the password (fresh authentication and the current password); the other
/// sessions end, this one stays.
#[utoipa::path(put, path = "/api/v1/me/password", request_body = ChangePassword, responses(
    (status = 200, description = "`password_changed`", body = Status),
    (status = 401, description = "AUTH_REQUIRED", body = ErrorBody),
    (status = 403, description = "REAUTH_REQUIRED or CURRENT_PASSWORD_INVALID", body = ErrorBody),
    (status = 422, description = "PASSWORD_TOO_SHORT, PASSWORD_TOO_COMMON or PASSWORD_CONTAINS_PERSONAL_INFO", body = ErrorBody),
    (status = 429, description = "THROTTLED, with Retry-After", body = ErrorBody),
))]
pub async fn change_password(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    Client(client): Client,
    ApiJson(req): ApiJson<ChangePassword>,
) -> Result<Response, ApiError> {
    state
        .services()
        .recovery()
        .change_password(&auth, &req.current_password, &req.password, &client)
        .await?;
    Ok(status(StatusCode::OK, "password_changed"))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct EmailRequest {
    #[schema(
        pattern = r"^[a-z0-9]+([._+-][a-z0-9]+)*@[a-z0-9]+(-[a-z0-9]+)*(\.[a-z]{2,10})+$",
        max_length = 254
    )]
    pub email: String,
}

/// RECOVER-3: mail a code to the address that should become the backup email.
#[utoipa::path(put, path = "/api/v1/me/backup-email", request_body = EmailRequest, responses(
    (status = 202, description = "`code_sent`", body = Status),
    (status = 401, description = "AUTH_REQUIRED", body = ErrorBody),
    (status = 403, description = "REAUTH_REQUIRED", body = ErrorBody),
    (status = 422, description = "EMAIL_INVALID, EMAIL_NON_ASCII or EMAIL_SAME_AS_CURRENT", body = ErrorBody),
    (status = 429, description = "SMS_THROTTLED: codes are sent once per 30 s, 5 an hour", body = ErrorBody),
))]
pub async fn set_backup_email(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    ApiJson(req): ApiJson<EmailRequest>,
) -> Result<Response, ApiError> {
    state.services().recovery().set_backup_email(&auth, &req.email).await?;
    Ok(status(StatusCode::ACCEPTED, "code_sent"))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CodeRequest {
    #[schema(pattern = r"^[0-9]{6}$")]
    pub code: String,
}

/// RECOVER-3: the code from the backup address makes it the backup email.
#[utoipa::path(post, path = "/api/v1/me/backup-email/verify", request_body = CodeRequest, responses(
    (status = 200, description = "`verified`", body = Status),
    (status = 400, description = "CONTACT_CODE_INVALID", body = ErrorBody),
    (status = 401, description = "AUTH_REQUIRED", body = ErrorBody),
    (status = 404, description = "EMAIL_CHANGE_NOT_FOUND", body = ErrorBody),
    (status = 429, description = "CONTACT_CODE_TOO_MANY_ATTEMPTS", body = ErrorBody),
))]
pub async fn verify_backup_email(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    Client(client): Client,
    ApiJson(req): ApiJson<CodeRequest>,
) -> Result<Response, ApiError> {
    state
        .services()
        .recovery()
        .verify_backup_email(&auth, &req.code, &client)
        .await?;
    Ok(status(StatusCode::OK, "verified"))
}

/// RECOVER-3: remove the backup email (fresh authentication).
#[utoipa::path(delete, path = "/api/v1/me/backup-email", responses(
    (status = 204),
    (status = 401, description = "AUTH_REQUIRED", body = ErrorBody),
    (status = 403, description = "REAUTH_REQUIRED", body = ErrorBody),
    (status = 404, description = "BACKUP_EMAIL_NOT_FOUND", body = ErrorBody),
))]
pub async fn remove_backup_email(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    Client(client): Client,
) -> Result<StatusCode, ApiError> {
    state.services().recovery().remove_backup_email(&auth, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct EmailChangeRequest {
    #[schema(
        pattern = r"^[a-z0-9]+([._+-][a-z0-9]+)*@[a-z0-9]+(-[a-z0-9]+)*(\.[a-z]{2,10})+$",
        max_length = 254
    )]
    pub email: String,
    /// Whether the current primary can still receive mail; when false the change waits 24 hours.
    pub current_reachable: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EmailChangeStarted {
    pub change: Uuid,
}

/// RECOVER-4: start changing the primary email; codes go to the new address and, when it can be
/// reached, the current one.
#[utoipa::path(post, path = "/api/v1/me/email", request_body = EmailChangeRequest, responses(
    (status = 202, description = "Codes sent", body = EmailChangeStarted),
    (status = 401, description = "AUTH_REQUIRED", body = ErrorBody),
    (status = 403, description = "REAUTH_REQUIRED", body = ErrorBody),
    (status = 422, description = "EMAIL_INVALID, EMAIL_NON_ASCII, EMAIL_SAME_AS_CURRENT or INVALID_REQUEST", body = ErrorBody),
    (status = 429, description = "SMS_THROTTLED: codes are sent once per 30 s, 5 an hour", body = ErrorBody),
))]
pub async fn start_email_change(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    ApiJson(req): ApiJson<EmailChangeRequest>,
) -> Result<Response, ApiError> {
    let change = state
        .services()
        .recovery()
        .start_email_change(&auth, &req.email, req.current_reachable)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(EmailChangeStarted { change })).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct EmailChangeConfirm {
    /// The code sent to the current primary (absent when it can't be reached).
    #[serde(default)]
    pub current_code: Option<String>,
    #[schema(pattern = r"^[0-9]{6}$")]
    pub new_code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EmailChangeConfirmed {
    /// `applied`, or `scheduled` (RECOVER-4: in 24 hours unless cancelled).
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub applies_at: Option<String>,
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// RECOVER-4: the codes confirm the change.
#[utoipa::path(post, path = "/api/v1/me/email/{change}/confirm", request_body = EmailChangeConfirm, responses(
    (status = 200, description = "`applied`: the new address is the primary now", body = EmailChangeConfirmed),
    (status = 202, description = "`scheduled`: applies at `applies_at` unless cancelled", body = EmailChangeConfirmed),
    (status = 400, description = "CONTACT_CODE_INVALID", body = ErrorBody),
    (status = 401, description = "AUTH_REQUIRED", body = ErrorBody),
    (status = 404, description = "EMAIL_CHANGE_NOT_FOUND", body = ErrorBody),
    (status = 409, description = "EMAIL_TAKEN", body = ErrorBody),
    (status = 429, description = "CONTACT_CODE_TOO_MANY_ATTEMPTS", body = ErrorBody),
))]
pub async fn confirm_email_change(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    Client(client): Client,
    Path(change): Path<String>,
    ApiJson(req): ApiJson<EmailChangeConfirm>,
) -> Result<Response, ApiError> {
    let change = Uuid::parse_str(&change).map_err(|_| ApiError::new(ErrorCode::EmailChangeNotFound))?;
    let current = req.current_code.unwrap_or_default();
    let outcome = state
        .services()
        .recovery()
        .confirm_email_change(&auth, change, &current, &req.new_code, &client)
        .await?;
    Ok(match outcome {
        EmailChangeOutcome::Applied => Json(EmailChangeConfirmed {
            status: "applied",
            applies_at: None,
        })
        .into_response(),
        EmailChangeOutcome::Scheduled { applies_at } => (
            StatusCode::ACCEPTED,
            Json(EmailChangeConfirmed {
                status: "scheduled",
                applies_at: Some(rfc3339(applies_at)),
            }),
        )
            .into_response(),
    })
}

/// RECOVER-4: cancel a change that waits for its codes or its 24 hours.
#[utoipa::path(delete, path = "/api/v1/me/email/{change}", responses(
    (status = 204),
    (status = 401, description = "AUTH_REQUIRED", body = ErrorBody),
    (status = 404, description = "EMAIL_CHANGE_NOT_FOUND", body = ErrorBody),
))]
pub async fn cancel_email_change(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    Client(client): Client,
    Path(change): Path<String>,
) -> Result<StatusCode, ApiError> {
    let change = Uuid::parse_str(&change).map_err(|_| ApiError::new(ErrorCode::EmailChangeNotFound))?;
    state
        .services()
        .recovery()
        .cancel_email_change(&auth, change, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The cookie that binds a lost-2FA request to the browser that made it.
pub(crate) fn browser_cookie_name(state: &AppState) -> &'static str {
    if state.settings().is_https() {
        "__Host-sesame_recovery"
    } else {
        "sesame_recovery"
    }
}

/// This browser's recovery secret, or a new one with the cookie that keeps it (30 days).
pub(crate) fn browser_secret(state: &AppState, headers: &HeaderMap) -> (String, Option<Cookie<'static>>) {
    if let Some(secret) = cookie_secret(state, headers) {
        return (secret, None);
    }
    let secret = Token::generate(&OsRandom).expose().to_owned();
    let cookie = Cookie::build((browser_cookie_name(state), secret.clone()))
        .path("/")
        .http_only(true)
        .secure(state.settings().is_https())
        .same_site(SameSite::Lax)
        .max_age(time::Duration::days(30))
        .build();
    (secret, Some(cookie))
}

/// The recovery secret a request presents (empty: matches no request).
pub(crate) fn presented_secret(state: &AppState, headers: &HeaderMap) -> String {
    cookie_secret(state, headers).unwrap_or_default()
}

/// The secret in the recovery cookie, read by its exact name (a sibling site can't toss in a
/// percent-encoded look-alike, SESS-1), and only when it has the form this server gives it: an
/// empty or made-up value would bind a request to a secret someone else knows.
fn cookie_secret(state: &AppState, headers: &HeaderMap) -> Option<String> {
    crate::session::cookie_value(headers, browser_cookie_name(state))
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LostRequest {
    /// The login flow waiting for its second factor.
    pub flow: Uuid,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RequestStarted {
    /// Usable only from this browser (its recovery cookie is set with this answer).
    pub request: Uuid,
}

/// RECOVER-5: "I have lost access to my devices", from the second step of a login.
#[utoipa::path(post, path = "/api/v1/session/second-factor/lost", request_body = LostRequest, responses(
    (status = 201, description = "A draft request; the browser's recovery cookie is set", body = RequestStarted),
    (status = 404, description = "LOGIN_FLOW_NOT_FOUND", body = ErrorBody),
    (status = 409, description = "RECOVERY_REQUEST_OPEN", body = ErrorBody),
))]
pub async fn start_lost(
    State(state): State<AppState>,
    Client(client): Client,
    jar: CookieJar,
    headers: HeaderMap,
    ApiJson(req): ApiJson<LostRequest>,
) -> Result<Response, ApiError> {
    let (secret, cookie) = browser_secret(&state, &headers);
    let jar = match cookie {
        Some(cookie) => jar.add(cookie),
        None => jar,
    };
    let request = state
        .services()
        .recovery()
        .start_lost_devices_request(req.flow, &secret, &client)
        .await?;
    Ok((StatusCode::CREATED, jar, Json(RequestStarted { request })).into_response())
}

fn request_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::new(ErrorCode::RecoveryRequestNotFound))
}

/// An upload's fields: the form token (pages) and the document.
#[derive(Default)]
pub(crate) struct Upload {
    pub csrf: String,
    pub document: Option<Vec<u8>>,
}

/// Reads an upload: the `document` field (one file), refused past the size limit before the body
/// is read whole (a declared length is checked first), and the `csrf` field of a page's form.
pub(crate) async fn read_upload(
    state: &AppState,
    headers: &HeaderMap,
    mut multipart: Multipart,
) -> Result<Upload, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > state.max_upload_body()) {
        return Err(ApiError::new(ErrorCode::BodyTooLarge));
    }
    let too_large_or_bad = |err: axum::extract::multipart::MultipartError| {
        if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(ErrorCode::BodyTooLarge)
        } else {
            ApiError::new(ErrorCode::InvalidRequest)
        }
    };
    let mut upload = Upload::default();
    while let Some(mut field) = multipart.next_field().await.map_err(too_large_or_bad)? {
        match field.name() {
            Some("csrf") => {
                upload.csrf = field
                    .text()
                    .await
                    .map_err(too_large_or_bad)?
                    .chars()
                    .take(128)
                    .collect()
            }
            Some("document") if upload.document.is_none() => {
                let mut bytes = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(too_large_or_bad)? {
                    if bytes.len() + chunk.len() > state.max_document() {
                        return Err(ApiError::new(ErrorCode::BodyTooLarge));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                upload.document = Some(bytes);
            }
            _ => {}
        }
    }
    Ok(upload)
}

/// The document of an upload, or the error that says it is missing.
pub(crate) fn document_of(upload: Upload) -> Result<Vec<u8>, ApiError> {
    upload
        .document
        .ok_or_else(|| ApiError::with_message(ErrorCode::InvalidRequest, "The upload has no `document` field."))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RequestJson {
    pub request: Uuid,
    /// `draft`, `awaiting_confirmation`, `pending_review`, `approved`, `rejected` or `cancelled`.
    pub status: &'static str,
    pub documents: i64,
}

/// RECOVER-5: add one identity document (multipart, field `document`): JPEG, PNG or PDF by
/// content, at most 10 MB, at most 3 per request.
#[utoipa::path(post, path = "/api/v1/recovery-requests/{request}/documents", responses(
    (status = 201, description = "Stored, encrypted", body = RequestJson),
    (status = 404, description = "RECOVERY_REQUEST_NOT_FOUND (or another browser)", body = ErrorBody),
    (status = 409, description = "DOCUMENT_LIMIT or RECOVERY_WRONG_STEP", body = ErrorBody),
    (status = 413, description = "BODY_TOO_LARGE: over 10 MB", body = ErrorBody),
    (status = 415, description = "DOCUMENT_TYPE_REFUSED", body = ErrorBody),
    (status = 422, description = "INVALID_REQUEST: not multipart, or no `document` field", body = ErrorBody),
    (status = 503, description = "SERVICE_BUSY: too many uploads at once", body = ErrorBody),
))]
pub async fn add_document(
    State(state): State<AppState>,
    Path(request): Path<String>,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, ApiError> {
    let request = request_id(&request)?;
    let multipart = multipart.map_err(|_| ApiError::new(ErrorCode::InvalidRequest))?;
    let _permit = state.upload_permit().ok_or(ApiError::new(ErrorCode::ServiceBusy))?;
    let bytes = document_of(read_upload(&state, &headers, multipart).await?)?;
    let secret = presented_secret(&state, &headers);
    let recovery = state.services().recovery();
    recovery.add_document(request, &secret, &bytes).await?;
    let view = recovery.request_status(request, &secret).await?;
    Ok((StatusCode::CREATED, Json(request_json(&view))).into_response())
}

fn request_json(view: &sesame_core::service::RequestView) -> RequestJson {
    RequestJson {
        request: view.id,
        status: view.status.as_str(),
        documents: view.documents,
    }
}

/// RECOVER-5: send the request; a confirmation link goes to the account's email addresses.
#[utoipa::path(post, path = "/api/v1/recovery-requests/{request}/submit", responses(
    (status = 202, description = "`submitted`: confirm from the mailed link", body = Status),
    (status = 404, description = "RECOVERY_REQUEST_NOT_FOUND", body = ErrorBody),
    (status = 409, description = "RECOVERY_WRONG_STEP", body = ErrorBody),
    (status = 422, description = "RECOVERY_NO_DOCUMENTS", body = ErrorBody),
))]
pub async fn submit(
    State(state): State<AppState>,
    Client(client): Client,
    Path(request): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let request = request_id(&request)?;
    let secret = presented_secret(&state, &headers);
    state
        .services()
        .recovery()
        .submit_request(request, &secret, &client)
        .await?;
    Ok(status(StatusCode::ACCEPTED, "submitted"))
}

/// RECOVER-5: where the request stands.
#[utoipa::path(get, path = "/api/v1/recovery-requests/{request}", responses(
    (status = 200, body = RequestJson),
    (status = 404, description = "RECOVERY_REQUEST_NOT_FOUND (or another browser)", body = ErrorBody),
))]
pub async fn show(
    State(state): State<AppState>,
    Path(request): Path<String>,
    headers: HeaderMap,
) -> Result<Json<RequestJson>, ApiError> {
    let request = request_id(&request)?;
    let secret = presented_secret(&state, &headers);
    let view = state.services().recovery().request_status(request, &secret).await?;
    Ok(Json(request_json(&view)))
}
