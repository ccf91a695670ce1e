//! Errors at the edge: one [`ApiError`] with a stable public code (listed in
//! `docs/design/error-codes.md`) and an HTTP status. Tests match codes, not prose. Internal
//! errors are logged with their detail and answered without it.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sesame_core::factor::password::HashError;
use sesame_core::ports::StoreError;
use sesame_core::service::LoginError;
use utoipa::ToSchema;

/// Every public error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    LoginInvalidCredentials,
    AccountBlocked,
    PasswordTooLong,
    AuthRequired,
    CsrfRejected,
    BodyTooLarge,
    UnsupportedContentType,
    MalformedJson,
    InvalidRequest,
    NotFound,
    MethodNotAllowed,
    ServiceBusy,
    ServiceUnavailable,
    InternalError,
    EmailInvalid,
    EmailNonAscii,
    EmailTaken,
    PasswordTooShort,
    PasswordTooCommon,
    PasswordContainsPersonalInfo,
    PasswordMissingCharacterKinds,
    InvalidField,
    SignupRateLimited,
    SignupFlowNotFound,
    SignupFlowExpired,
    SignupInvalidCode,
    SignupTooManyAttempts,
    SignupWrongStep,
    LoginFlowNotFound,
    SecondFactorMethodNotAllowed,
    SecondFactorInvalid,
    SecondFactorTooManyAttempts,
    SecondFactorLocked,
    ReauthRequired,
    TwoFactorDeviceNotFound,
    TwoFactorNotEnabled,
    SecondFactorThrottled,
    UnlockInvalid,
    NotMeInvalid,
    SmsThrottled,
    TwoFactorMethodUnavailable,
    TwoFactorDeviceProofRequired,
    PhoneInvalid,
    Throttled,
    LoginCodeInvalid,
    LoginCodeThrottled,
    LoginIpDenied,
    IpRulesWouldLockYouOut,
    RecoveryLinkInvalid,
    NicHandleMismatch,
    CurrentPasswordInvalid,
    EmailSameAsCurrent,
    ContactCodeInvalid,
    ContactCodeTooManyAttempts,
    EmailChangeNotFound,
    BackupEmailNotFound,
    RecoveryRequestNotFound,
    RecoveryRequestOpen,
    DocumentTypeRefused,
    DocumentLimit,
    RecoveryNoDocuments,
    RecoveryWrongStep,
    PasswordsDiffer,
    SupportReasonRequired,
    SupportVerificationRequired,
    SupportSupervisorOnly,
    SupportSameAgent,
    TwoFactorOffConfirmRequired,
    BackupCodesConfirmRequired,
}

impl ErrorCode {
    /// Every code, for the tests that check each has a message in every language.
    pub const ALL: [Self; 69] = [
        Self::LoginInvalidCredentials,
        Self::AccountBlocked,
        Self::PasswordTooLong,
        Self::AuthRequired,
        Self::CsrfRejected,
        Self::BodyTooLarge,
        Self::UnsupportedContentType,
        Self::MalformedJson,
        Self::InvalidRequest,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::ServiceBusy,
        Self::ServiceUnavailable,
        Self::InternalError,
        Self::EmailInvalid,
        Self::EmailNonAscii,
        Self::EmailTaken,
        Self::PasswordTooShort,
        Self::PasswordTooCommon,
        Self::PasswordContainsPersonalInfo,
        Self::PasswordMissingCharacterKinds,
        Self::InvalidField,
        Self::SignupRateLimited,
        Self::SignupFlowNotFound,
        Self::SignupFlowExpired,
        Self::SignupInvalidCode,
        Self::SignupTooManyAttempts,
        Self::SignupWrongStep,
        Self::LoginFlowNotFound,
        Self::SecondFactorMethodNotAllowed,
        Self::SecondFactorInvalid,
        Self::SecondFactorTooManyAttempts,
        Self::SecondFactorLocked,
        Self::ReauthRequired,
        Self::TwoFactorDeviceNotFound,
        Self::TwoFactorNotEnabled,
        Self::SecondFactorThrottled,
        Self::UnlockInvalid,
        Self::NotMeInvalid,
        Self::SmsThrottled,
        Self::TwoFactorMethodUnavailable,
        Self::TwoFactorDeviceProofRequired,
        Self::PhoneInvalid,
        Self::Throttled,
        Self::LoginCodeInvalid,
        Self::LoginCodeThrottled,
        Self::LoginIpDenied,
        Self::IpRulesWouldLockYouOut,
        Self::RecoveryLinkInvalid,
        Self::NicHandleMismatch,
        Self::CurrentPasswordInvalid,
        Self::EmailSameAsCurrent,
        Self::ContactCodeInvalid,
        Self::ContactCodeTooManyAttempts,
        Self::EmailChangeNotFound,
        Self::BackupEmailNotFound,
        Self::RecoveryRequestNotFound,
        Self::RecoveryRequestOpen,
        Self::DocumentTypeRefused,
        Self::DocumentLimit,
        Self::RecoveryNoDocuments,
        Self::RecoveryWrongStep,
        Self::PasswordsDiffer,
        Self::SupportReasonRequired,
        Self::SupportVerificationRequired,
        Self::SupportSupervisorOnly,
        Self::SupportSameAgent,
        Self::TwoFactorOffConfirmRequired,
        Self::BackupCodesConfirmRequired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoginInvalidCredentials => "LOGIN_INVALID_CREDENTIALS",
            Self::AccountBlocked => "ACCOUNT_BLOCKED",
            Self::PasswordTooLong => "PASSWORD_TOO_LONG",
            Self::AuthRequired => "AUTH_REQUIRED",
            Self::CsrfRejected => "CSRF_REJECTED",
            Self::BodyTooLarge => "BODY_TOO_LARGE",
            Self::UnsupportedContentType => "UNSUPPORTED_CONTENT_TYPE",
            Self::MalformedJson => "MALFORMED_JSON",
            Self::InvalidRequest => "INVALID_REQUEST",
            Self::NotFound => "NOT_FOUND",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::ServiceBusy => "SERVICE_BUSY",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            Self::InternalError => "INTERNAL_ERROR",
            Self::EmailInvalid => "EMAIL_INVALID",
            Self::EmailNonAscii => "EMAIL_NON_ASCII",
            Self::EmailTaken => "EMAIL_TAKEN",
            Self::PasswordTooShort => "PASSWORD_TOO_SHORT",
            Self::PasswordTooCommon => "PASSWORD_TOO_COMMON",
            Self::PasswordContainsPersonalInfo => "PASSWORD_CONTAINS_PERSONAL_INFO",
            Self::PasswordMissingCharacterKinds => "PASSWORD_MISSING_CHARACTER_KINDS",
            Self::InvalidField => "INVALID_FIELD",
            Self::SignupRateLimited => "SIGNUP_RATE_LIMITED",
            Self::SignupFlowNotFound => "SIGNUP_FLOW_NOT_FOUND",
            Self::SignupFlowExpired => "SIGNUP_FLOW_EXPIRED",
            Self::SignupInvalidCode => "SIGNUP_INVALID_CODE",
            Self::SignupTooManyAttempts => "SIGNUP_TOO_MANY_ATTEMPTS",
            Self::SignupWrongStep => "SIGNUP_WRONG_STEP",
            Self::LoginFlowNotFound => "LOGIN_FLOW_NOT_FOUND",
            Self::SecondFactorMethodNotAllowed => "SECOND_FACTOR_METHOD_NOT_ALLOWED",
            Self::SecondFactorInvalid => "SECOND_FACTOR_INVALID",
            Self::SecondFactorTooManyAttempts => "SECOND_FACTOR_TOO_MANY_ATTEMPTS",
            Self::SecondFactorLocked => "SECOND_FACTOR_LOCKED",
            Self::ReauthRequired => "REAUTH_REQUIRED",
            Self::TwoFactorDeviceNotFound => "TWO_FACTOR_DEVICE_NOT_FOUND",
            Self::TwoFactorNotEnabled => "TWO_FACTOR_NOT_ENABLED",
            Self::SecondFactorThrottled => "SECOND_FACTOR_THROTTLED",
            Self::UnlockInvalid => "UNLOCK_INVALID",
            Self::NotMeInvalid => "NOT_ME_INVALID",
            Self::SmsThrottled => "SMS_THROTTLED",
            Self::TwoFactorMethodUnavailable => "TWO_FACTOR_METHOD_UNAVAILABLE",
            Self::TwoFactorDeviceProofRequired => "TWO_FACTOR_DEVICE_PROOF_REQUIRED",
            Self::PhoneInvalid => "PHONE_INVALID",
            Self::Throttled => "THROTTLED",
            Self::LoginCodeInvalid => "LOGIN_CODE_INVALID",
            Self::LoginCodeThrottled => "LOGIN_CODE_THROTTLED",
            Self::LoginIpDenied => "LOGIN_IP_DENIED",
            Self::IpRulesWouldLockYouOut => "IP_RULES_WOULD_LOCK_YOU_OUT",
            Self::RecoveryLinkInvalid => "RECOVERY_LINK_INVALID",
            Self::NicHandleMismatch => "NIC_HANDLE_MISMATCH",
            Self::CurrentPasswordInvalid => "CURRENT_PASSWORD_INVALID",
            Self::EmailSameAsCurrent => "EMAIL_SAME_AS_CURRENT",
            Self::ContactCodeInvalid => "CONTACT_CODE_INVALID",
            Self::ContactCodeTooManyAttempts => "CONTACT_CODE_TOO_MANY_ATTEMPTS",
            Self::EmailChangeNotFound => "EMAIL_CHANGE_NOT_FOUND",
            Self::BackupEmailNotFound => "BACKUP_EMAIL_NOT_FOUND",
            Self::RecoveryRequestNotFound => "RECOVERY_REQUEST_NOT_FOUND",
            Self::RecoveryRequestOpen => "RECOVERY_REQUEST_OPEN",
            Self::DocumentTypeRefused => "DOCUMENT_TYPE_REFUSED",
            Self::DocumentLimit => "DOCUMENT_LIMIT",
            Self::RecoveryNoDocuments => "RECOVERY_NO_DOCUMENTS",
            Self::RecoveryWrongStep => "RECOVERY_WRONG_STEP",
            Self::PasswordsDiffer => "PASSWORDS_DIFFER",
            Self::SupportReasonRequired => "SUPPORT_REASON_REQUIRED",
            Self::SupportVerificationRequired => "SUPPORT_VERIFICATION_REQUIRED",
            Self::SupportSupervisorOnly => "SUPPORT_SUPERVISOR_ONLY",
            Self::SupportSameAgent => "SUPPORT_SAME_AGENT",
            Self::TwoFactorOffConfirmRequired => "TWO_FACTOR_OFF_CONFIRM_REQUIRED",
            Self::BackupCodesConfirmRequired => "BACKUP_CODES_CONFIRM_REQUIRED",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Self::LoginInvalidCredentials | Self::AuthRequired => StatusCode::UNAUTHORIZED,
            Self::AccountBlocked | Self::CsrfRejected => StatusCode::FORBIDDEN,
            Self::PasswordTooLong | Self::MalformedJson => StatusCode::BAD_REQUEST,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedContentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::InvalidRequest => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::ServiceBusy | Self::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            Self::EmailInvalid
            | Self::EmailNonAscii
            | Self::PasswordTooShort
            | Self::PasswordTooCommon
            | Self::PasswordContainsPersonalInfo
            | Self::PasswordMissingCharacterKinds
            | Self::InvalidField
            | Self::PhoneInvalid => StatusCode::UNPROCESSABLE_ENTITY,
            Self::EmailTaken | Self::SignupWrongStep => StatusCode::CONFLICT,
            Self::SignupRateLimited | Self::SignupTooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            Self::SignupFlowNotFound => StatusCode::NOT_FOUND,
            Self::SignupFlowExpired => StatusCode::GONE,
            Self::SignupInvalidCode | Self::SecondFactorInvalid | Self::LoginCodeInvalid => StatusCode::BAD_REQUEST,
            Self::LoginFlowNotFound | Self::TwoFactorDeviceNotFound => StatusCode::NOT_FOUND,
            Self::SecondFactorMethodNotAllowed | Self::TwoFactorNotEnabled | Self::TwoFactorMethodUnavailable => {
                StatusCode::CONFLICT
            }
            Self::SecondFactorTooManyAttempts
            | Self::SecondFactorLocked
            | Self::SecondFactorThrottled
            | Self::SmsThrottled
            | Self::Throttled
            | Self::LoginCodeThrottled => StatusCode::TOO_MANY_REQUESTS,
            Self::UnlockInvalid | Self::NotMeInvalid => StatusCode::GONE,
            Self::ReauthRequired | Self::TwoFactorDeviceProofRequired | Self::LoginIpDenied => StatusCode::FORBIDDEN,
            Self::IpRulesWouldLockYouOut => StatusCode::CONFLICT,
            Self::RecoveryLinkInvalid => StatusCode::GONE,
            Self::NicHandleMismatch => StatusCode::BAD_REQUEST,
            Self::CurrentPasswordInvalid => StatusCode::FORBIDDEN,
            Self::EmailSameAsCurrent => StatusCode::UNPROCESSABLE_ENTITY,
            Self::ContactCodeInvalid => StatusCode::BAD_REQUEST,
            Self::ContactCodeTooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            Self::EmailChangeNotFound => StatusCode::NOT_FOUND,
            Self::BackupEmailNotFound => StatusCode::NOT_FOUND,
            Self::RecoveryRequestNotFound => StatusCode::NOT_FOUND,
            Self::RecoveryRequestOpen => StatusCode::CONFLICT,
            Self::DocumentTypeRefused => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::DocumentLimit => StatusCode::CONFLICT,
            Self::RecoveryNoDocuments => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RecoveryWrongStep => StatusCode::CONFLICT,
            Self::PasswordsDiffer => StatusCode::UNPROCESSABLE_ENTITY,
            Self::SupportReasonRequired => StatusCode::UNPROCESSABLE_ENTITY,
            Self::SupportVerificationRequired => StatusCode::UNPROCESSABLE_ENTITY,
            Self::SupportSupervisorOnly => StatusCode::FORBIDDEN,
            Self::SupportSameAgent => StatusCode::CONFLICT,
            Self::TwoFactorOffConfirmRequired | Self::BackupCodesConfirmRequired => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    fn default_message(self) -> &'static str {
        match self {
            Self::LoginInvalidCredentials => "The customer ID, email or password is incorrect.",
            Self::AccountBlocked => "This account is blocked. Please contact support.",
            Self::PasswordTooLong => "The password is longer than this service allows.",
            Self::AuthRequired => "You need to log in.",
            Self::CsrfRejected => "This request did not come from this site.",
            Self::BodyTooLarge => "The request body is too large.",
            Self::UnsupportedContentType => "The request body must be JSON (Content-Type: application/json).",
            Self::MalformedJson => "The request body is not valid JSON.",
            Self::InvalidRequest => "The request is missing a field or has one of the wrong type.",
            Self::NotFound => "There is nothing here.",
            Self::MethodNotAllowed => "This method is not allowed here.",
            Self::ServiceBusy => "The service is busy. Please try again in a moment.",
            Self::ServiceUnavailable => "The service is temporarily unavailable. Please try again in a moment.",
            Self::InternalError => "Something went wrong on our side.",
            Self::EmailInvalid => "This is not a valid email address.",
            Self::EmailNonAscii => "The part of the email address before @ must use ASCII characters only.",
            Self::EmailTaken => "An account already uses this email address.",
            Self::PasswordTooShort => "The password is too short.",
            Self::PasswordTooCommon => "This password is too common or too easy to guess.",
            Self::PasswordContainsPersonalInfo => {
                "The password must not contain your name, email address or customer ID."
            }
            Self::PasswordMissingCharacterKinds => {
                "The password needs an upper-case letter, a lower-case letter, a digit and a symbol."
            }
            Self::InvalidField => "A field is missing or invalid.",
            Self::SignupRateLimited => "Too many attempts. Please try again later.",
            Self::SignupFlowNotFound => "This sign-up does not exist.",
            Self::SignupFlowExpired => "This sign-up has expired. Please start again.",
            Self::SignupInvalidCode => "The code is wrong or has expired.",
            Self::SignupTooManyAttempts => "Too many wrong codes. Please start again.",
            Self::SignupWrongStep => "This step is not available now.",
            Self::LoginFlowNotFound => "This login has ended or expired. Please enter your password again.",
            Self::SecondFactorMethodNotAllowed => "This method is not available for this login.",
            Self::SecondFactorInvalid => "The code is wrong.",
            Self::SecondFactorTooManyAttempts => "Too many wrong codes. Please enter your password again.",
            Self::SecondFactorLocked => "Too many wrong codes on this account. Codes are refused for now.",
            Self::ReauthRequired => "Please confirm it is you: enter your password again.",
            Self::TwoFactorDeviceNotFound => "There is no such device.",
            Self::TwoFactorNotEnabled => "Two-factor authentication is off.",
            Self::SecondFactorThrottled => "Too many wrong codes. Please wait a moment before the next try.",
            Self::UnlockInvalid => "This unlock link is wrong, already used or expired.",
            Self::NotMeInvalid => {
                "This link is wrong, already used or expired. If someone else is using your account, reset your password."
            }
            Self::SmsThrottled => "Too many codes were sent. Please wait before asking for another one.",
            Self::TwoFactorMethodUnavailable => "This method is not available here.",
            Self::TwoFactorDeviceProofRequired => {
                "To remove this device, use it one last time, or log in again with another device or a backup code."
            }
            Self::PhoneInvalid => "Enter the phone number in international format, like +33612345678.",
            Self::Throttled => "Too many attempts. Please wait a moment before trying again.",
            Self::LoginCodeInvalid => "The code is wrong or has expired.",
            Self::LoginCodeThrottled => "A code was sent a moment ago. Please wait before asking for another one.",
            Self::LoginIpDenied => "Your account's IP restriction does not allow logins from this address.",
            Self::IpRulesWouldLockYouOut => "These rules would refuse the address you are using now. Allow it first.",
            Self::RecoveryLinkInvalid => "This link is wrong, already used or expired. Ask for a new one.",
            Self::NicHandleMismatch => "This is not the customer ID of the account. It is in the email we sent you.",
            Self::CurrentPasswordInvalid => "The current password is wrong.",
            Self::EmailSameAsCurrent => "This is already an address of your account. Choose another one.",
            Self::ContactCodeInvalid => "The code is wrong or has expired.",
            Self::ContactCodeTooManyAttempts => "Too many wrong codes. Please start again.",
            Self::EmailChangeNotFound => "There is no such email change waiting. Please start again.",
            Self::BackupEmailNotFound => "Your account has no backup email.",
            Self::RecoveryRequestNotFound => "There is no such request from this browser.",
            Self::RecoveryRequestOpen => {
                "A request already waits for our support team. You will get its answer by email."
            }
            Self::DocumentTypeRefused => "The document must be a JPEG, PNG or PDF file.",
            Self::DocumentLimit => "A request holds at most 3 documents.",
            Self::RecoveryNoDocuments => "Add at least one identity document first.",
            Self::RecoveryWrongStep => "This request can no longer be changed.",
            Self::PasswordsDiffer => "The two passwords are not the same.",
            Self::SupportReasonRequired => "A reason and a ticket reference are required.",
            Self::SupportVerificationRequired => "Say how the caller was verified.",
            Self::SupportSupervisorOnly => "Only a supervisor may do this.",
            Self::SupportSameAgent => "The agent who proposed this can't confirm it: another supervisor must.",
            Self::TwoFactorOffConfirmRequired => {
                "This is your last two-factor device: removing it turns two-factor authentication off. Tick the box to confirm."
            }
            Self::BackupCodesConfirmRequired => {
                "New backup codes replace the current ones, which stop working at once. Tick the box to confirm."
            }
        }
    }
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable code, e.g. `LOGIN_INVALID_CREDENTIALS`.
    pub code: &'static str,
    /// Human-readable explanation; may change between versions.
    pub message: String,
}

#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    message: Option<String>,
    /// Seconds to send as `Retry-After`.
    retry_after: Option<i64>,
}

impl ApiError {
    pub fn new(code: ErrorCode) -> Self {
        Self {
            code,
            message: None,
            retry_after: None,
        }
    }

    pub fn with_message(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: Some(message.into()),
            retry_after: None,
        }
    }

    /// Says when to try again (`Retry-After`, whole seconds, at least 1).
    pub fn retry_after(mut self, wait: time::Duration) -> Self {
        self.retry_after = Some(wait.whole_seconds().max(1));
        self
    }

    /// The wait this error asks for, in seconds.
    pub fn wait_seconds(&self) -> Option<i64> {
        self.retry_after
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// Logs the detail of an unexpected failure and hides it from the client.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "internal error");
        Self::new(ErrorCode::InternalError)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.code.status();
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.as_str(),
                message: self.message.unwrap_or_else(|| self.code.default_message().to_owned()),
            },
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if self.code == ErrorCode::SignupRateLimited {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("3600"));
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(detail) => {
                tracing::warn!(%detail, "database unavailable");
                Self::new(ErrorCode::ServiceUnavailable)
            }
            other => Self::internal(other),
        }
    }
}

impl From<HashError> for ApiError {
    fn from(err: HashError) -> Self {
        match err {
            HashError::Busy => Self::new(ErrorCode::ServiceBusy),
            HashError::Internal(detail) => Self::internal(detail),
        }
    }
}

impl From<sesame_core::service::IpRestrictionError> for ApiError {
    fn from(err: sesame_core::service::IpRestrictionError) -> Self {
        use sesame_core::service::IpRestrictionError;
        match err {
            IpRestrictionError::Invalid(e) => Self::with_message(ErrorCode::InvalidField, e.to_string()),
            IpRestrictionError::WouldLockOut => Self::new(ErrorCode::IpRulesWouldLockYouOut),
            IpRestrictionError::Fresh(e) => e.into(),
            IpRestrictionError::Mail(e) => Self::internal(e),
            IpRestrictionError::Store(e) => e.into(),
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(err: LoginError) -> Self {
        match err {
            LoginError::InvalidCredentials => Self::new(ErrorCode::LoginInvalidCredentials),
            LoginError::Blocked => Self::new(ErrorCode::AccountBlocked),
            LoginError::PasswordTooLong => Self::new(ErrorCode::PasswordTooLong),
            LoginError::Throttled { retry_after } => Self::new(ErrorCode::Throttled).retry_after(retry_after),
            LoginError::IpDenied => Self::new(ErrorCode::LoginIpDenied),
            LoginError::Hash(err) => err.into(),
            LoginError::Mail(err) => Self::internal(err),
            LoginError::Store(err) => err.into(),
        }
    }
}

/// An error for any request: JSON under `/api/` and for the operations endpoints, an HTML page in
/// the visitor's language everywhere else.
pub fn respond(state: &crate::AppState, uri: &Uri, headers: &HeaderMap, code: ErrorCode) -> Response {
    if for_machines(uri) {
        ApiError::new(code).into_response()
    } else {
        crate::pages::error_page(state, headers, uri.query(), code)
    }
}

/// PWD-2: each rule a new password failed has its own code; a length says how long.
impl From<sesame_core::types::PolicyViolation> for ApiError {
    fn from(violation: sesame_core::types::PolicyViolation) -> Self {
        use sesame_core::types::PolicyViolation as P;
        match violation {
            P::TooShort(_) => Self::with_message(ErrorCode::PasswordTooShort, violation.to_string()),
            P::TooLong(_) => Self::with_message(ErrorCode::PasswordTooLong, violation.to_string()),
            P::TooCommon => Self::new(ErrorCode::PasswordTooCommon),
            P::ContainsPersonalInfo => Self::new(ErrorCode::PasswordContainsPersonalInfo),
            P::MissingCharacterKinds => Self::new(ErrorCode::PasswordMissingCharacterKinds),
        }
    }
}

impl From<sesame_core::service::SignupError> for ApiError {
    fn from(err: sesame_core::service::SignupError) -> Self {
        use sesame_core::service::SignupError as E;
        use sesame_core::types::EmailError;
        let message = err.to_string();
        match err {
            E::Email(EmailError::Invalid) => Self::new(ErrorCode::EmailInvalid),
            E::Email(EmailError::NonAsciiLocalPart) => Self::new(ErrorCode::EmailNonAscii),
            E::Password(violation) => violation.into(),
            E::InvalidField(_) => Self::with_message(ErrorCode::InvalidField, message),
            E::RateLimited => Self::new(ErrorCode::SignupRateLimited),
            E::NotFound => Self::new(ErrorCode::SignupFlowNotFound),
            E::Expired => Self::new(ErrorCode::SignupFlowExpired),
            E::InvalidCode => Self::new(ErrorCode::SignupInvalidCode),
            E::TooManyAttempts => Self::new(ErrorCode::SignupTooManyAttempts),
            E::WrongStep => Self::new(ErrorCode::SignupWrongStep),
            E::EmailTaken => Self::new(ErrorCode::EmailTaken),
            E::Hash(h) => h.into(),
            E::Mail(m) => Self::internal(m),
            E::Store(s) => s.into(),
        }
    }
}

pub async fn not_found(State(state): State<crate::AppState>, uri: Uri, headers: HeaderMap) -> Response {
    respond(&state, &uri, &headers, ErrorCode::NotFound)
}

pub async fn method_not_allowed(
    State(state): State<crate::AppState>,
    method: axum::http::Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    // Reloading a page a security form posted to (`/security/totp`, …) asks for its address
    // with GET: back to the security page rather than an error.
    if method == axum::http::Method::GET && uri.path().starts_with("/security/") {
        return (StatusCode::SEE_OTHER, [(header::LOCATION, "/security")]).into_response();
    }
    respond(&state, &uri, &headers, ErrorCode::MethodNotAllowed)
}

/// Whether `uri` answers programs (JSON errors) rather than people (error pages).
fn for_machines(uri: &Uri) -> bool {
    let path = uri.path();
    path.starts_with("/api/") || matches!(path, "/healthz" | "/readyz" | "/metrics")
}

/// A request still unanswered after `request_timeout` (a database link gone silent answers
/// nothing for the many minutes TCP takes to give up) gets 503 `SERVICE_UNAVAILABLE`, as a page
/// or as JSON like any error. Its handler is dropped: a transaction it began rolls back, and a
/// connection it left mid-statement is checked before its next use.
pub async fn deadline(
    State(state): State<crate::AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let uri = request.uri().clone();
    // A page's error speaks the visitor's language (its headers say which); JSON needs none.
    let headers = if for_machines(&uri) {
        HeaderMap::new()
    } else {
        request.headers().clone()
    };
    let limit = state.settings().request_timeout;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(seconds = limit.as_secs_f64(), "request cut at its deadline");
            respond(&state, &uri, &headers, ErrorCode::ServiceUnavailable)
        }
    }
}

/// A panic in a handler becomes a plain 500 with a code; the panic message goes to the log only.
pub fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::internal("a request handler panicked").into_response()
}
