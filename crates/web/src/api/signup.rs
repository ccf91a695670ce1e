//! Sign-up over JSON (SIGNUP-1, SIGNUP-2): start, verify the emailed code, resend, profile, and a
//! new password when the name rule refused the first. The last step logs the customer in.

use super::auth::LoginResponse;
use crate::AppState;
use crate::client::Client;
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::json::ApiJson;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum_extra::extract::cookie::CookieJar;
use serde::{Deserialize, Serialize};
use sesame_core::service::account_type_choice;
use sesame_core::service::{LoginSuccess, ProfileInput, SignupStart, SignupStep};
use utoipa::ToSchema;
use uuid::Uuid;

/// `Debug` is not derived: the password must never reach a log.
#[derive(Deserialize, ToSchema)]
pub struct SignupRequest {
    #[schema(
        pattern = r"^[a-z0-9]+([._+-][a-z0-9]+)*@[a-z0-9]+(-[a-z0-9]+)*(\.[a-z]{2,10})+$",
        max_length = 254
    )]
    pub email: String,
    /// PWD-2: 12 to 128 code points by default, or at least 8 with upper and lower case, a digit
    /// and a symbol where the account's subsidiary keeps the classic policy (the bounds served
    /// are this deployment's).
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
    /// ISO 3166-1 alpha-2; it fixes the subsidiary.
    #[schema(pattern = r"^[A-Z]{2}$")]
    pub country: String,
    /// Defaults to the subsidiary's language.
    #[schema(pattern = r"^(en|fr)$")]
    pub language: Option<String>,
    /// Defaults to the subsidiary's currency.
    #[schema(pattern = r"^(EUR|GBP|USD)$")]
    pub currency: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignupFlow {
    pub flow: Uuid,
    /// `verify_email`, `profile` or `password_required`.
    #[schema(value_type = String)]
    pub step: SignupStep,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct VerifyRequest {
    /// The 6 digits from the email (spaces and hyphens are ignored).
    #[schema(pattern = r"^[0-9]{6}$")]
    pub code: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ProfileRequest {
    /// Letters of any script, marks, spaces and the usual punctuation; no markup (`<`, `>`,
    /// `{`, `}`, `\\`), emoji or control characters (`INVALID_FIELD` otherwise).
    #[schema(min_length = 1, max_length = 100)]
    pub first_name: String,
    /// As `first_name`.
    #[schema(min_length = 1, max_length = 100)]
    pub last_name: String,
    /// `individual` (the default, also when empty), `company` or `non_profit` (these two need
    /// `company_name`).
    #[schema(pattern = r"^(individual|company|non_profit)?$")]
    pub account_type: Option<String>,
    /// Required for companies and non-profits.
    pub company_name: Option<String>,
    /// E.164, optional (empty for none).
    #[schema(pattern = r"^(\+[1-9][0-9]{7,14})?$")]
    pub phone: Option<String>,
}

impl ProfileRequest {
    /// The profile as the engine takes it; an unknown account type is refused here.
    pub(crate) fn into_input(self) -> Result<ProfileInput, ApiError> {
        let account_type = account_type_choice(self.account_type.as_deref()).map_err(|_| {
            ApiError::with_message(
                ErrorCode::InvalidField,
                "account_type must be individual, company or non_profit",
            )
        })?;
        Ok(ProfileInput {
            first_name: self.first_name,
            last_name: self.last_name,
            account_type,
            company_name: self.company_name,
            phone: self.phone,
        })
    }
}

#[derive(Deserialize, ToSchema)]
pub struct PasswordRequest {
    /// PWD-2: 12 to 128 code points by default, or at least 8 with upper and lower case, a digit
    /// and a symbol where the account's subsidiary keeps the classic policy (the bounds served
    /// are this deployment's).
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
}

/// A flow id from the path; anything else is a flow that does not exist.
fn flow_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::new(ErrorCode::SignupFlowNotFound))
}

/// Start a sign-up: mails a 6-digit code to the address.
///
/// An address that already has an account gets the same answer; its owner is told by email.
#[utoipa::path(post, path = "/api/v1/signup", request_body = SignupRequest, responses(
    (status = 200, description = "Code sent; the flow continues only from this browser (its device cookie is set)", body = SignupFlow),
    (status = 422, description = "EMAIL_INVALID, EMAIL_NON_ASCII, PASSWORD_TOO_SHORT, PASSWORD_TOO_COMMON, PASSWORD_CONTAINS_PERSONAL_INFO, INVALID_FIELD", body = ErrorBody),
    (status = 429, description = "SIGNUP_RATE_LIMITED", body = ErrorBody),
))]
pub async fn start(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(req): ApiJson<SignupRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let input = SignupStart {
        email: req.email,
        password: req.password,
        country: req.country,
        language: req.language,
        currency: req.currency,
    };
    let flow = state.services().signup().signup_start(input, &client).await?;
    // The flow continues only from this browser (its device cookie is set with this answer).
    let flow = Json(SignupFlow {
        flow,
        step: SignupStep::VerifyEmail,
    });
    Ok((axum::Extension(crate::device::BindsDevice), flow))
}

/// Where a sign-up stands.
#[utoipa::path(get, path = "/api/v1/signup/{flow}", responses(
    (status = 200, body = SignupFlow),
    (status = 404, description = "SIGNUP_FLOW_NOT_FOUND: no such flow, or one another browser started (every step answers so)", body = ErrorBody),
    (status = 410, description = "SIGNUP_FLOW_EXPIRED", body = ErrorBody),
))]
pub async fn show(
    State(state): State<AppState>,
    Client(client): Client,
    Path(flow): Path<String>,
) -> Result<Json<SignupFlow>, ApiError> {
    let flow = flow_id(&flow)?;
    let step = state.services().signup().signup_step(flow, &client).await?.step;
    Ok(Json(SignupFlow { flow, step }))
}

/// Check the emailed code (5 tries per sign-up).
#[utoipa::path(post, path = "/api/v1/signup/{flow}/verify", request_body = VerifyRequest, responses(
    (status = 200, description = "Email verified", body = SignupFlow),
    (status = 400, description = "SIGNUP_INVALID_CODE", body = ErrorBody),
    (status = 429, description = "SIGNUP_TOO_MANY_ATTEMPTS", body = ErrorBody),
))]
pub async fn verify(
    State(state): State<AppState>,
    Client(client): Client,
    Path(flow): Path<String>,
    ApiJson(req): ApiJson<VerifyRequest>,
) -> Result<Json<SignupFlow>, ApiError> {
    let flow = flow_id(&flow)?;
    let step = state
        .services()
        .signup()
        .signup_verify(flow, &req.code, &client)
        .await?;
    Ok(Json(SignupFlow { flow, step }))
}

/// Send a new code (the previous one stops working).
#[utoipa::path(post, path = "/api/v1/signup/{flow}/resend", responses(
    (status = 202, description = "A new code is on its way", body = SignupFlow),
    (status = 409, description = "SIGNUP_WRONG_STEP (already verified)", body = ErrorBody),
    (status = 429, description = "SIGNUP_RATE_LIMITED", body = ErrorBody),
))]
pub async fn resend(
    State(state): State<AppState>,
    Client(client): Client,
    Path(flow): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let flow = flow_id(&flow)?;
    state.services().signup().signup_resend(flow, &client).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(SignupFlow {
            flow,
            step: SignupStep::VerifyEmail,
        }),
    ))
}

/// The profile: creates the account (its NIC handle is in the answer) and logs in.
#[utoipa::path(post, path = "/api/v1/signup/{flow}/profile", request_body = ProfileRequest, responses(
    (status = 200, description = "Account created; the session cookie is set", body = LoginResponse),
    (status = 422, description = "PASSWORD_CONTAINS_PERSONAL_INFO (send a new password next) or INVALID_FIELD", body = ErrorBody),
    (status = 409, description = "SIGNUP_WRONG_STEP or EMAIL_TAKEN", body = ErrorBody),
))]
pub async fn profile(
    State(state): State<AppState>,
    Client(client): Client,
    jar: CookieJar,
    Path(flow): Path<String>,
    ApiJson(req): ApiJson<ProfileRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let flow = flow_id(&flow)?;
    let profile = req.into_input()?;
    let done = state.services().signup().signup_profile(flow, profile, &client).await?;
    Ok(logged_in(&state, jar, done))
}

/// A new password, after the profile step refused the first one.
#[utoipa::path(post, path = "/api/v1/signup/{flow}/password", request_body = PasswordRequest, responses(
    (status = 200, description = "Account created; the session cookie is set", body = LoginResponse),
    (status = 422, description = "A password rule failed", body = ErrorBody),
))]
pub async fn password(
    State(state): State<AppState>,
    Client(client): Client,
    jar: CookieJar,
    Path(flow): Path<String>,
    ApiJson(req): ApiJson<PasswordRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let flow = flow_id(&flow)?;
    let done = state
        .services()
        .signup()
        .signup_password(flow, &req.password, &client)
        .await?;
    Ok(logged_in(&state, jar, done))
}

fn logged_in(state: &AppState, jar: CookieJar, done: LoginSuccess) -> axum::response::Response {
    super::auth::logged_in(state, jar, done, "logged_in")
}
