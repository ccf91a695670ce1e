//! The customer's sessions (SESS-4), known devices (RISK-2) and security activity (AUDIT-2) over
//! JSON.

use crate::AppState;
use crate::client::Client;
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::session::CurrentSession;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use sesame_core::service::device_description;
use utoipa::ToSchema;
use uuid::Uuid;

pub(crate) fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionJson {
    pub id: Uuid,
    /// The session making this request.
    pub current: bool,
    pub ip: Option<String>,
    /// Browser and system, e.g. `Firefox 120 on Linux`.
    pub device: String,
    #[schema(value_type = String)]
    pub created_at: String,
    #[schema(value_type = String)]
    pub last_seen_at: String,
}

/// The account's live sessions, this one first.
#[utoipa::path(get, path = "/api/v1/me/sessions", responses(
    (status = 200, body = [SessionJson]),
    (status = 401, description = "AUTH_REQUIRED", body = ErrorBody),
))]
pub async fn sessions(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
) -> Result<Json<Vec<SessionJson>>, ApiError> {
    let views = state.services().login().sessions(&auth).await?;
    Ok(Json(
        views
            .into_iter()
            .map(|v| SessionJson {
                id: v.id,
                current: v.current,
                ip: v.ip,
                device: v.device,
                created_at: rfc3339(v.created_at),
                last_seen_at: rfc3339(v.last_seen_at),
            })
            .collect(),
    ))
}

/// End one of the account's sessions, on every node at once.
#[utoipa::path(delete, path = "/api/v1/me/sessions/{id}", responses(
    (status = 204),
    (status = 404, description = "NOT_FOUND: no such live session of this account", body = ErrorBody),
))]
pub async fn end_session(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::new(ErrorCode::NotFound))?;
    if state.services().login().end_own_session(&auth, id, &client).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(ErrorCode::NotFound))
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Ended {
    pub ended: u64,
}

/// End every session of the account but this one.
#[utoipa::path(delete, path = "/api/v1/me/sessions", responses((status = 200, body = Ended)))]
pub async fn end_others(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    Client(client): Client,
) -> Result<Json<Ended>, ApiError> {
    let ended = state.services().login().end_other_sessions(&auth, &client).await?;
    Ok(Json(Ended { ended }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KnownDeviceJson {
    pub id: String,
    /// The browser making this request.
    pub current: bool,
    #[schema(value_type = String)]
    pub created_at: String,
    #[schema(value_type = String)]
    pub last_seen_at: String,
}

/// The browsers that logged in to the account: they keep working while it is throttled.
#[utoipa::path(get, path = "/api/v1/me/devices", responses((status = 200, body = [KnownDeviceJson])))]
pub async fn devices(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    Client(client): Client,
) -> Result<Json<Vec<KnownDeviceJson>>, ApiError> {
    let views = state.services().login().known_devices(&auth, &client).await?;
    Ok(Json(
        views
            .into_iter()
            .map(|v| KnownDeviceJson {
                id: v.id,
                current: v.current,
                created_at: rfc3339(v.created_at),
                last_seen_at: rfc3339(v.last_seen_at),
            })
            .collect(),
    ))
}

/// Forget a known device.
#[utoipa::path(delete, path = "/api/v1/me/devices/{id}", responses(
    (status = 204),
    (status = 404, description = "NOT_FOUND", body = ErrorBody),
))]
pub async fn forget_device(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.services().login().forget_device(&auth, &id, &client).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(ErrorCode::NotFound))
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityJson {
    #[schema(value_type = String)]
    pub at: String,
    /// `login_succeeded`, `login_failed`, `two_factor_changed`, …
    pub kind: &'static str,
    pub ip: Option<String>,
    pub device: String,
    /// `success`, or why it failed (`wrong_password`, `throttled`, …).
    pub outcome: String,
    /// SUPPORT-5: the first name of the support agent who acted, when one did.
    pub by: Option<String>,
    /// AUDIT-1: the event came from the browser making this request.
    pub this_browser: bool,
}

/// How the audit log names the browser making a request, when it has a device cookie.
pub(crate) fn this_browser(client: &sesame_core::audit::ClientInfo) -> Option<String> {
    client.presented_device().map(sesame_core::audit::device_fingerprint)
}

/// The account's security events of the last 90 days, newest first.
#[utoipa::path(get, path = "/api/v1/me/activity", responses((status = 200, body = [ActivityJson])))]
pub async fn activity(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    Client(client): Client,
) -> Result<Json<Vec<ActivityJson>>, ApiError> {
    let events = state.services().login().activity(&auth).await?;
    let here = this_browser(&client);
    Ok(Json(
        events
            .into_iter()
            .map(|e| ActivityJson {
                this_browser: here.is_some() && e.device == here,
                by: e.support_agent(),
                at: rfc3339(e.at),
                kind: e.kind.as_str(),
                device: device_description(e.user_agent.as_deref()),
                ip: e.ip,
                outcome: if e.success {
                    "success".to_owned()
                } else {
                    e.detail.unwrap_or_else(|| "failed".to_owned())
                },
            })
            .collect(),
    ))
}

/// RISK-3: the account's IP restriction (`default` and `rules`, the most specific matching
/// rule deciding).
#[utoipa::path(get, path = "/api/v1/me/ip-restrictions", responses((status = 200, body = Object)))]
pub async fn ip_rules(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
) -> Result<Json<sesame_core::ip_rules::IpRules>, ApiError> {
    Ok(Json(state.services().login().ip_rules(&auth.account).await?))
}

/// RISK-3: replaces the IP restriction (needs an authentication within 10 minutes; refused when
/// it would refuse the address saving it).
#[utoipa::path(put, path = "/api/v1/me/ip-restrictions", request_body = Object, responses(
    (status = 200, body = Object),
    (status = 403, description = "REAUTH_REQUIRED", body = ErrorBody),
    (status = 409, description = "IP_RULES_WOULD_LOCK_YOU_OUT", body = ErrorBody),
    (status = 422, description = "INVALID_FIELD (a range that is not one, too many rules)", body = ErrorBody),
))]
pub async fn set_ip_rules(
    State(state): State<AppState>,
    CurrentSession(auth): CurrentSession,
    Client(client): Client,
    crate::json::ApiJson(body): crate::json::ApiJson<serde_json::Value>,
) -> Result<Json<sesame_core::ip_rules::IpRules>, ApiError> {
    // An object, as documented: serde would also read a struct from an array.
    if !body.is_object() {
        return Err(ApiError::with_message(
            ErrorCode::InvalidRequest,
            "The body must be a JSON object.",
        ));
    }
    let rules =
        serde_json::from_value(body).map_err(|e| ApiError::with_message(ErrorCode::InvalidRequest, e.to_string()))?;
    Ok(Json(
        state.services().login().set_ip_rules(&auth, rules, &client).await?,
    ))
}
