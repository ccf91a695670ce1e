//! Logging in and out, and who am I (LOGIN-1, SESS-1, SESS-2).

use crate::AppState;
use crate::client::Client;
use crate::error::{ApiError, ErrorBody};
use crate::json::ApiJson;
use crate::session::{CurrentSession, presented_token, removal_cookie, session_cookie};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum_extra::extract::cookie::CookieJar;
use serde::{Deserialize, Serialize};
use sesame_core::ports::Account;
use sesame_core::service::{LoginOutcome, LoginSuccess};
use utoipa::ToSchema;

/// `Debug` is not derived: the password must never reach a log.
#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    /// NIC handle (`ab12345-ovh`) or primary email, in any case.
    pub login: String,
    pub password: String,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct LoginResponse {
    /// `logged_in` (the session cookie is set), `reauthenticated` (a new session cookie replaces
    /// the old one), `second_factor_required` (no session yet: send the code with `flow`) or
    /// `email_code_required` (LOGIN-3: send the code mailed to the account with `flow`).
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<Me>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow: Option<uuid::Uuid>,
    /// `totp`, `security_key`, `sms`, `backup_code`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<&'static str>>,
    /// The method to offer first: the one used last, else the newest device's (SMS only when
    /// nothing else is left); absent when no method can be used here now (then only a
    /// lost-devices request goes on, RECOVER-5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<&'static str>,
    /// `email_code_required`: where the code went, masked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_to: Option<String>,
    /// `second_factor_required` with `sms` among the methods: the phones a code may be texted
    /// to (MFA-1), masked, the default (used last) first; send the chosen one's `id` as the
    /// challenge's `device`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phones: Option<Vec<Phone>>,
}

/// A phone the second step may text.
#[derive(Debug, Serialize, ToSchema)]
pub struct Phone {
    pub id: uuid::Uuid,
    /// The number, masked: `+33 ••• ••• •78`.
    pub number: String,
}

/// The logged-in customer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub nic_handle: String,
    pub customer_code: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// `individual`, `company` or `non_profit`.
    pub account_type: &'static str,
    pub company_name: Option<String>,
    pub phone: Option<String>,
    pub country: String,
    pub language: String,
    pub currency: String,
    pub subsidiary: String,
    /// LOGIN-4: whether each login sends an email.
    pub login_notifications: bool,
    /// RECOVER-3: the backup email, masked (`j•••@example.com`): the verified one, else one
    /// waiting for its code.
    pub backup_email: Option<String>,
    /// Whether `backup_email` was proved by its code.
    pub backup_email_verified: bool,
    /// RECOVER-6: support made the backup email the primary; a new backup email is due first.
    pub backup_email_required: bool,
}

impl Me {
    /// The customer as `GET /api/v1/me` shows them: the verified backup email, else the one
    /// waiting for its code.
    pub(crate) fn of(account: &Account, pending_backup: Option<&sesame_core::types::Email>) -> Self {
        let mut me = Self::from(account);
        if me.backup_email.is_none() {
            me.backup_email = pending_backup.map(|e| sesame_core::service::mask(e.address()));
        }
        me
    }
}

impl From<&Account> for Me {
    fn from(a: &Account) -> Self {
        Self {
            nic_handle: a.nic_handle.as_str().to_owned(),
            customer_code: a.customer_code.as_str().to_owned(),
            email: a.email.address().to_owned(),
            first_name: a.first_name.clone(),
            last_name: a.last_name.clone(),
            account_type: a.account_type.as_str(),
            company_name: a.company_name.clone(),
            phone: a.phone.clone(),
            country: a.country.clone(),
            language: a.language.clone(),
            currency: a.currency.clone(),
            subsidiary: a.subsidiary.clone(),
            login_notifications: a.login_notifications,
            backup_email: a.backup_email.as_ref().map(|e| sesame_core::service::mask(e.address())),
            backup_email_verified: a.backup_email.is_some(),
            backup_email_required: a.backup_email_required,
        }
    }
}

/// Log in with a NIC handle or email and a password.
///
/// Every failure (unknown account, wrong password) gets the same 401 and body, in the same time.
#[utoipa::path(
    post, path = "/api/v1/session", request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in; the session cookie is set", body = LoginResponse),
        (status = 400, description = "PASSWORD_TOO_LONG or MALFORMED_JSON", body = ErrorBody),
        (status = 401, description = "LOGIN_INVALID_CREDENTIALS", body = ErrorBody),
        (status = 403, description = "ACCOUNT_BLOCKED (only after a correct password) or CSRF_REJECTED", body = ErrorBody),
        (status = 413, description = "BODY_TOO_LARGE", body = ErrorBody),
        (status = 415, description = "UNSUPPORTED_CONTENT_TYPE", body = ErrorBody),
        (status = 422, description = "INVALID_REQUEST", body = ErrorBody),
        (status = 503, description = "SERVICE_BUSY or SERVICE_UNAVAILABLE, with Retry-After", body = ErrorBody),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    jar: CookieJar,
    uri: axum::http::Uri,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<impl IntoResponse, ApiError> {
    // LOGIN-6: the JSON login honours `?subsidiary=` like the pages.
    let subsidiary = crate::pages::context::from_query(uri.query()).map(|s| s.code);
    let result = state
        .services()
        .login()
        .login(&req.login, &req.password, subsidiary, &client)
        .await;
    state.metrics().login(crate::metrics::login_outcome(&result));
    Ok(login_answer(&state, jar, result?))
}

/// The answer to a correct password: a session, or the second step (no session yet).
pub(crate) fn login_answer(state: &AppState, jar: CookieJar, outcome: LoginOutcome) -> axum::response::Response {
    match outcome {
        LoginOutcome::LoggedIn(success) => logged_in(state, jar, *success, "logged_in"),
        LoginOutcome::SecondFactor(step) => Json(LoginResponse {
            status: "second_factor_required",
            flow: Some(step.flow),
            methods: Some(step.methods.iter().map(|m| m.as_str()).collect()),
            default: step.default.map(|m| m.as_str()),
            phones: (!step.phones.is_empty()).then(|| {
                step.phones
                    .into_iter()
                    .map(|p| Phone { id: p.id, number: p.to })
                    .collect()
            }),
            ..LoginResponse::default()
        })
        .into_response(),
        LoginOutcome::EmailCode(step) => Json(LoginResponse {
            status: "email_code_required",
            flow: Some(step.flow),
            sent_to: Some(step.sent_to),
            ..LoginResponse::default()
        })
        .into_response(),
    }
}

/// Sets the new session's cookie and answers with the account.
pub(crate) fn logged_in(
    state: &AppState,
    jar: CookieJar,
    success: LoginSuccess,
    status: &'static str,
) -> axum::response::Response {
    let jar = jar.add(session_cookie(state, success.token.expose()));
    let body = LoginResponse {
        status,
        account: Some(Me::from(&success.account)),
        ..LoginResponse::default()
    };
    (jar, Json(body)).into_response()
}

/// End the current session on the server.
#[utoipa::path(
    delete, path = "/api/v1/session",
    responses(
        (status = 204, description = "The session is over (also when there was none)"),
        (status = 403, description = "CSRF_REJECTED", body = ErrorBody),
    )
)]
pub async fn logout(
    State(state): State<AppState>,
    Client(client): Client,
    headers: axum::http::HeaderMap,
    jar: CookieJar,
) -> Result<impl IntoResponse, ApiError> {
    if let Some(token) = presented_token(&state, &headers) {
        state.services().login().logout(&token, &client).await?;
    }
    Ok((jar.add(removal_cookie(&state)), StatusCode::NO_CONTENT))
}

/// What a session check answers (SESS-2): whose session it is and until when at most.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionInfo {
    pub nic_handle: String,
    pub customer_code: String,
    /// When the customer last proved who they are (RFC 3339); SESS-3's sensitive changes need it
    /// within the last 10 minutes.
    pub authenticated_at: String,
    /// When the session ends whatever happens (RFC 3339); it ends sooner after 30 minutes idle.
    pub expires_at: String,
}

/// Check the session of the cookie: what every page and service of the control panel asks
/// first. Answered from this node's memory when it checked the same session within the last
/// second, so it costs no database query most of the time.
#[utoipa::path(
    get, path = "/api/v1/session",
    responses(
        (status = 200, description = "The session is live", body = SessionInfo),
        (status = 401, description = "AUTH_REQUIRED", body = ErrorBody),
    )
)]
pub async fn check(State(state): State<AppState>, CurrentSession(auth): CurrentSession) -> Json<SessionInfo> {
    let expires_at = auth.session.created_at + state.services().settings().session_absolute;
    Json(SessionInfo {
        nic_handle: auth.account.nic_handle.as_str().to_owned(),
        customer_code: auth.account.customer_code.as_str().to_owned(),
        authenticated_at: super::activity::rfc3339(auth.session.authenticated_at),
        expires_at: super::activity::rfc3339(expires_at),
    })
}

/// The logged-in customer's profile.
#[utoipa::path(
    get, path = "/api/v1/me",
    responses(
        (status = 200, description = "The customer", body = Me),
        (status = 401, description = "AUTH_REQUIRED", body = ErrorBody),
    )
)]
pub async fn me(CurrentSession(auth): CurrentSession) -> Json<Me> {
    Json(Me::of(&auth.account, auth.pending_backup.as_ref()))
}
