//! The JSON API (OPS-2), `/api/v1/…`, and its OpenAPI document at `/api/openapi.json`.

pub(crate) mod activity;
pub(crate) mod auth;
mod profile;
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
    modifiers(&CommonErrors),
    paths(
        auth::login,
        auth::logout,
        auth::check,
        auth::me,
        settings::update,
        profile::update,
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
        auth::Phone,
        auth::Me,
        auth::SessionInfo,
        settings::Settings,
        profile::ProfileUpdateRequest,
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

/// The answers every operation of a kind can give, added to each operation that doesn't list them
/// already: a body that is not JSON (400, 413, 415, 422), a path naming nothing (404), a state
/// change from another site (403), a missing session on `/me` (401), limits (429) and a busy or
/// unreachable database (503).
struct CommonErrors;

impl CommonErrors {
    fn error(description: &str) -> utoipa::openapi::RefOr<utoipa::openapi::Response> {
        let content = utoipa::openapi::Content::new(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")));
        utoipa::openapi::ResponseBuilder::new()
            .description(description)
            .content("application/json", content)
            .build()
            .into()
    }
}

impl utoipa::Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        // The device paths of one kind, documented as the generic ones they mean.
        for (alias, generic) in DEVICE_ALIASES {
            if let Some(mut item) = openapi.paths.paths.get(generic).cloned() {
                let kind = alias.split('/').nth(4).unwrap_or("kind");
                for op in [&mut item.patch, &mut item.delete, &mut item.post]
                    .into_iter()
                    .flatten()
                {
                    op.operation_id = op.operation_id.take().map(|id| format!("{id}_{kind}"));
                }
                openapi.paths.paths.insert(alias.to_owned(), item);
            }
        }
        for (path, item) in &mut openapi.paths.paths {
            let operations = [
                (false, item.get.as_mut()),
                (true, item.post.as_mut()),
                (true, item.put.as_mut()),
                (true, item.patch.as_mut()),
                (true, item.delete.as_mut()),
            ];
            for (changes, operation) in operations {
                let Some(operation) = operation else { continue };
                let mut codes = vec![("503", "SERVICE_BUSY or SERVICE_UNAVAILABLE, with Retry-After")];
                if operation.request_body.is_some() {
                    codes.extend([
                        ("400", "MALFORMED_JSON"),
                        ("413", "BODY_TOO_LARGE"),
                        ("415", "UNSUPPORTED_CONTENT_TYPE"),
                        ("422", "INVALID_REQUEST: a field is missing or of the wrong type"),
                    ]);
                }
                if path.contains('{') {
                    codes.push(("404", "NOT_FOUND or a more precise code: the path names nothing"));
                }
                if changes {
                    codes.push(("403", "CSRF_REJECTED: sent from another site"));
                    codes.push(("429", "THROTTLED or a code-sending limit, with Retry-After"));
                }
                if path.starts_with("/api/v1/me") {
                    codes.push(("401", "AUTH_REQUIRED"));
                }
                for (code, description) in codes {
                    operation
                        .responses
                        .responses
                        .entry(code.to_owned())
                        .or_insert_with(|| Self::error(description));
                }
            }
        }
    }
}

pub fn routes(max_upload_body: usize) -> Router<AppState> {
    let mut router = Router::new()
        .route(
            "/api/v1/session",
            get(auth::check).post(auth::login).delete(auth::logout),
        )
        .route("/api/v1/me", get(auth::me))
        .route("/api/v1/me/settings", axum::routing::put(settings::update))
        .route("/api/v1/me/profile", axum::routing::put(profile::update))
        .route("/api/v1/session/second-factor", post(two_factor::second_factor))
        .route("/api/v1/session/second-factor/challenge", post(two_factor::challenge))
        .route("/api/v1/session/email-code", post(two_factor::email_code))
        .route("/api/v1/session/email-code/resend", post(two_factor::email_code_resend))
        .route("/api/v1/session/reauth", post(two_factor::reauth))
        .route("/api/v1/me/2fa", get(two_factor::status))
        .route("/api/v1/me/2fa/totp", post(two_factor::totp_begin))
        .route("/api/v1/me/2fa/security-keys", post(two_factor::security_key_begin))
        .route("/api/v1/me/2fa/sms", post(two_factor::sms_begin))
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
            post(recovery::add_document).layer(axum::extract::DefaultBodyLimit::max(max_upload_body)),
        )
        .route("/api/v1/recovery-requests/{request}/submit", post(recovery::submit))
        .route("/api/v1/signup", post(signup::start))
        .route("/api/v1/signup/{flow}", get(signup::show))
        .route("/api/v1/signup/{flow}/verify", post(signup::verify))
        .route("/api/v1/signup/{flow}/resend", post(signup::resend))
        .route("/api/v1/signup/{flow}/profile", post(signup::profile))
        .route("/api/v1/signup/{flow}/password", post(signup::password))
        .route("/api/openapi.json", get(openapi));
    // The routes of one kind (`/totp/{id}`, `/security-keys/{id}/enable`, …) reach the same
    // handlers as the generic `/devices/{id}`: a device is a device.
    for (alias, generic) in DEVICE_ALIASES {
        router = match generic {
            "/api/v1/me/2fa/devices/{id}" => router.route(alias, patch(two_factor::rename).delete(two_factor::remove)),
            _ => router.route(alias, post(two_factor::enable)),
        };
    }
    router
}

/// Paths of one kind of device and the generic path they mean, for the router and the document.
const DEVICE_ALIASES: [(&str, &str); 4] = [
    ("/api/v1/me/2fa/totp/{id}", "/api/v1/me/2fa/devices/{id}"),
    ("/api/v1/me/2fa/totp/{id}/enable", "/api/v1/me/2fa/devices/{id}/enable"),
    (
        "/api/v1/me/2fa/security-keys/{id}/enable",
        "/api/v1/me/2fa/devices/{id}/enable",
    ),
    ("/api/v1/me/2fa/sms/{id}/enable", "/api/v1/me/2fa/devices/{id}/enable"),
];

async fn openapi(axum::extract::State(state): axum::extract::State<AppState>) -> Json<serde_json::Value> {
    Json(with_settings(ApiDoc::openapi(), state.services().settings()))
}

/// The request bodies that carry a new password (PWD-2); a login's or a re-authentication's
/// password is never bounded by the new-password policy.
const NEW_PASSWORD_SCHEMAS: [&str; 4] = ["SignupRequest", "PasswordRequest", "ResetPassword", "ChangePassword"];

/// The document as this deployment's settings make it: a new password's maximum length (PWD-2)
/// is a setting, and the annotations give the default. (The minimum stays the 8 that no policy
/// goes below: the server counts after NFKC, a schema counts what is sent.)
fn with_settings(doc: utoipa::openapi::OpenApi, settings: &sesame_core::service::CoreSettings) -> serde_json::Value {
    let mut doc = serde_json::to_value(doc).unwrap_or_default();
    for schema in NEW_PASSWORD_SCHEMAS {
        if let Some(password) = doc.pointer_mut(&format!("/components/schemas/{schema}/properties/password")) {
            password["maxLength"] = settings.password_policy.max_chars.into();
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `(path, method)` the router serves under `/api/v1/`, read from this file's routes.
    fn served() -> Vec<(String, String)> {
        let source = include_str!("mod.rs");
        let start = source.find("pub fn routes(").unwrap_or(0);
        let end = source.find("const DEVICE_ALIASES").unwrap_or(source.len());
        let mut served = Vec::new();
        for call in source[start..end].split(".route(").skip(1) {
            let Some(path) = call.split('"').nth(1).filter(|p| p.starts_with("/api/v1/")) else {
                continue;
            };
            for method in ["get", "post", "put", "patch", "delete"] {
                let called = call.match_indices(&format!("{method}(")).any(|(i, _)| {
                    let before = call.as_bytes().get(i.wrapping_sub(1)).copied().unwrap_or(b' ');
                    !before.is_ascii_alphanumeric() && before != b'_'
                });
                if called {
                    served.push((path.to_owned(), method.to_owned()));
                }
            }
        }
        for (alias, generic) in DEVICE_ALIASES {
            for (path, method) in served.clone() {
                if path == generic {
                    served.push((alias.to_owned(), method));
                }
            }
        }
        served
    }

    #[test]
    fn the_document_states_this_deployments_password_maximum() {
        let mut settings = sesame_core::service::CoreSettings::default();
        let defaults = with_settings(ApiDoc::openapi(), &settings);
        let password = &defaults["components"]["schemas"]["SignupRequest"]["properties"]["password"];
        assert_eq!(
            (&password["minLength"], &password["maxLength"]),
            (&8.into(), &128.into())
        );
        settings.password_policy.max_chars = 200;
        let doc = with_settings(ApiDoc::openapi(), &settings);
        let schemas = &doc["components"]["schemas"];
        for schema in NEW_PASSWORD_SCHEMAS {
            let password = &schemas[schema]["properties"]["password"];
            assert_eq!(password["maxLength"], 200, "{schema}");
        }
        for login in ["LoginRequest", "ReauthRequest"] {
            let password = &schemas[login]["properties"]["password"];
            assert!(password.is_object(), "{login}");
            assert_eq!(
                password.get("maxLength"),
                None,
                "{login}: a login is not bounded by the policy"
            );
        }
    }

    #[test]
    fn every_json_route_is_in_the_openapi_document() {
        let doc = ApiDoc::openapi();
        let served = served();
        assert!(served.len() > 40, "the route walk found {} routes", served.len());
        for (path, method) in served {
            let item = doc
                .paths
                .paths
                .get(&path)
                .unwrap_or_else(|| panic!("{path} is not documented"));
            let op = match method.as_str() {
                "get" => &item.get,
                "post" => &item.post,
                "put" => &item.put,
                "patch" => &item.patch,
                _ => &item.delete,
            };
            let op = op
                .as_ref()
                .unwrap_or_else(|| panic!("{method} {path} is not documented"));
            assert!(
                op.responses.responses.contains_key("503"),
                "{method} {path}: the common errors"
            );
        }
    }
}
