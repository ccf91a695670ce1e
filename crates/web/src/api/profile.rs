//! The customer's profile over JSON (ACCT-4, PANEL-3): names, account type and company name,
//! phone, and the language of their mail, under the rules of sign-up. Country, currency and
//! subsidiary are shown by `GET /api/v1/me`, not changed here.

use super::auth::Me;
use super::signup::ProfileRequest;
use crate::AppState;
use crate::client::Client;
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::json::ApiJson;
use crate::session::CurrentSession;
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use sesame_core::service::{ProfileError, SignupError};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
pub struct ProfileUpdateRequest {
    #[serde(flatten)]
    pub profile: ProfileRequest,
    /// The language of pages, mail and texts, two letters (`en`, `fr`: Sesame's own; any other
    /// gets English); unchanged when absent or empty.
    #[schema(pattern = r"^([A-Za-z]{2})?$")]
    pub language: Option<String>,
}

/// Replace the profile: an absent `company_name` or `phone` is removed, an absent
/// `account_type` is `individual`; an absent `language` stays. Changing the phone needs an
/// authentication within 10 minutes. The customer as it now is.
#[utoipa::path(put, path = "/api/v1/me/profile", request_body = ProfileUpdateRequest, responses(
    (status = 200, description = "Saved (or nothing changed)", body = Me),
    (status = 401, description = "AUTH_REQUIRED", body = ErrorBody),
    (status = 403, description = "REAUTH_REQUIRED (a new phone number)", body = ErrorBody),
    (status = 422, description = "INVALID_FIELD (the message names it) or INVALID_REQUEST", body = ErrorBody),
))]
pub async fn update(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    Client(client): Client,
    ApiJson(req): ApiJson<ProfileUpdateRequest>,
) -> Result<Json<Me>, ApiError> {
    let profile = req.profile.into_input()?;
    let account = state
        .services()
        .accounts()
        .update_profile(&auth, &profile, req.language.as_deref(), &client)
        .await
        .map_err(|err| match err {
            ProfileError::Invalid(invalid) => ApiError::from(SignupError::from(invalid)),
            ProfileError::ReauthRequired => ApiError::new(ErrorCode::ReauthRequired),
        })?;
    Ok(Json(Me::of(&account, auth.pending_backup.as_ref())))
}
