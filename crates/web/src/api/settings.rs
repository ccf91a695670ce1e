//! The customer's own settings: login notifications on or off (LOGIN-4), with a fresh
//! authentication (SESS-3).

use crate::AppState;
use crate::client::Client;
use crate::error::{ApiError, ErrorBody};
use crate::json::ApiJson;
use crate::session::CurrentSession;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Settings {
    pub login_notifications: bool,
}

/// Switch login notifications on or off (needs an authentication within 10 minutes).
#[utoipa::path(put, path = "/api/v1/me/settings", request_body = Settings, responses(
    (status = 200, body = Settings),
    (status = 401, description = "AUTH_REQUIRED", body = ErrorBody),
    (status = 403, description = "REAUTH_REQUIRED", body = ErrorBody),
))]
pub async fn update(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    Client(client): Client,
    ApiJson(req): ApiJson<Settings>,
) -> Result<Json<Settings>, ApiError> {
    state
        .services()
        .login()
        .set_login_notifications(&auth, req.login_notifications, &client)
        .await?;
    Ok(Json(Settings {
        login_notifications: req.login_notifications,
    }))
}
