//! The second login step in the browser (LOGIN-2): the default method's form, "Try another
//! method" listing every enabled method (backup codes included), and "I have lost access to my
//! devices", which explains recovery. SMS codes are sent only when asked (a button, never on a
//! GET), to the phone the customer picks when there are several (MFA-1); a security key is used
//! through `static/webauthn.js` and the JSON API.

use super::context::PageContext;
use super::return_to::safe_return_to;
use super::{HtmlForm, query_param};
use crate::AppState;
use crate::client::Client;
use crate::error::{ApiError, ErrorCode};
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;
use sesame_core::factor::{Method, Prompt, Proof};
use sesame_core::service::SecondStep;
use uuid::Uuid;

/// What the page says beside the form: an error, or where a texted code went.
#[derive(Default)]
struct Shown {
    error: Option<ErrorCode>,
    sent_to: Option<String>,
    /// Seconds to wait before the next try (after too many wrong codes).
    wait: Option<i64>,
    /// The phone chosen for the last text (MFA-1), kept selected.
    phone: Option<Uuid>,
}

/// Where a login that owes its second factor goes next: the step, with its default method.
pub fn location(step: &SecondStep, return_to: &str) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if let Some(method) = step.default {
        query.append_pair("method", method.as_str());
    }
    let query = query.append_pair("return_to", return_to).finish();
    format!("/login/{}?{query}", step.flow)
}

async fn render(
    state: &AppState,
    ctx: PageContext,
    flow: Uuid,
    method: &str,
    return_to: &str,
    shown: Shown,
) -> Response {
    let step = match state.services().login().second_step(flow).await {
        Ok(step) => step,
        Err(err) => return ctx.error(ApiError::from(err).code()),
    };
    if shown.error == Some(ErrorCode::SecondFactorInvalid) && step.tries_left == 0 {
        // The last try was wrong: nothing more to type here, the way forward is a new login.
        return ctx.error(ErrorCode::SecondFactorTooManyAttempts);
    }
    let method = Method::parse(method)
        .filter(|m| step.methods.contains(m))
        .or(step.default);
    let safe = safe_return_to(return_to, state.settings()).unwrap_or_default();
    let others: Vec<_> = step
        .methods
        .iter()
        .filter(|m| Some(**m) != method)
        .map(|m| {
            let q = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("method", m.as_str())
                .append_pair("return_to", &safe)
                .finish();
            context! { method => m.as_str(), href => format!("/login/{flow}?{q}") }
        })
        .collect();
    // MFA-1: with several phones the customer picks the one to text; the default (used last)
    // comes first and stays selected unless another was just chosen.
    let selected = shown
        .phone
        .filter(|id| step.phones.iter().any(|p| p.id == *id))
        .or_else(|| step.phones.first().map(|p| p.id));
    let phones: Vec<_> = step
        .phones
        .iter()
        .map(|p| context! { id => p.id.to_string(), to => &p.to, checked => Some(p.id) == selected })
        .collect();
    let status = shown.error.map_or(StatusCode::OK, ErrorCode::status);
    let extra = context! {
        flow => flow.to_string(), method => method.map(Method::as_str), others => others, return_to => safe,
        error_code => shown.error.map(ErrorCode::as_str), sent_to => shown.sent_to, account_hint => step.account,
        // Said once few remain, so the last tries are not a surprise.
        tries_left => (shown.error.is_some() && step.tries_left <= 2).then_some(step.tries_left),
        wait => shown.wait, phones => phones,
    };
    ctx.render("second_factor.html", "login", status, extra)
}

pub async fn page(State(state): State<AppState>, ctx: PageContext, Path(flow): Path<String>, uri: Uri) -> Response {
    let Ok(flow) = Uuid::parse_str(&flow) else {
        return ctx.error(ErrorCode::LoginFlowNotFound);
    };
    render(
        &state,
        ctx,
        flow,
        &query_param(&uri, "method"),
        &query_param(&uri, "return_to"),
        Shown::default(),
    )
    .await
}

/// MFA-4: texts a code for this login (the "Send me a code" button).
pub async fn send_code(
    State(state): State<AppState>,
    ctx: PageContext,
    Path(flow): Path<String>,
    HtmlForm(form): HtmlForm<CodeForm>,
) -> Response {
    let Ok(flow) = Uuid::parse_str(&flow) else {
        return ctx.error(ErrorCode::LoginFlowNotFound);
    };
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.error(ErrorCode::CsrfRejected);
    }
    // No choice sent: the phone used last. A choice that names no phone of this login is
    // refused; the one made stays picked whatever the answer (never back to a lost phone).
    let chosen = Uuid::parse_str(form.device.trim()).ok();
    let sent = state
        .services()
        .login()
        .second_factor_challenge(flow, &form.method, Some(&form.device))
        .await;
    let shown = match sent {
        Ok(Prompt::CodeSent { to }) => Shown {
            sent_to: Some(to),
            phone: chosen,
            ..Shown::default()
        },
        Ok(_) => Shown::default(),
        Err(err) => match ApiError::from(err).code() {
            code @ (ErrorCode::SmsThrottled
            | ErrorCode::SecondFactorMethodNotAllowed
            | ErrorCode::TwoFactorDeviceNotFound) => Shown {
                error: Some(code),
                phone: chosen,
                ..Shown::default()
            },
            other => return ctx.error(other),
        },
    };
    render(&state, ctx, flow, &form.method, &form.return_to, shown).await
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    return_to: String,
    /// The phone to text (MFA-1), when the login has several.
    #[serde(default)]
    device: String,
}

pub async fn submit(
    State(state): State<AppState>,
    ctx: PageContext,
    Client(client): Client,
    Path(flow): Path<String>,
    HtmlForm(form): HtmlForm<CodeForm>,
) -> Response {
    let Ok(flow) = Uuid::parse_str(&flow) else {
        return ctx.error(ErrorCode::LoginFlowNotFound);
    };
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.error(ErrorCode::CsrfRejected);
    }
    match state
        .services()
        .login()
        .second_factor(flow, &form.method, &Proof::Code(form.code.clone()), &client)
        .await
    {
        Ok(done) => {
            state.metrics().login("success");
            super::after_login(&state, ctx, &done, &form.return_to)
        }
        Err(err) => {
            let err = ApiError::from(err);
            match err.code() {
                code @ (ErrorCode::SecondFactorInvalid
                | ErrorCode::SecondFactorMethodNotAllowed
                | ErrorCode::SecondFactorThrottled) => {
                    let shown = Shown {
                        error: Some(code),
                        wait: err.wait_seconds(),
                        ..Shown::default()
                    };
                    render(&state, ctx, flow, &form.method, &form.return_to, shown).await
                }
                other => ctx.error(other),
            }
        }
    }
}
