//! The emailed-code step of an unusual login in the browser (LOGIN-3): where the code went, a
//! field for it, "send a new code", and a reminder to look in the spam folder.

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
use sesame_core::service::TwoFactorError;
use uuid::Uuid;

/// The step's address, keeping where to go afterwards.
pub fn location(flow: Uuid, return_to: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("return_to", return_to)
        .finish();
    format!("/login/{flow}/email?{query}")
}

async fn render(
    state: &AppState,
    ctx: PageContext,
    flow: Uuid,
    return_to: &str,
    error: Option<ErrorCode>,
    resent: bool,
) -> Response {
    let step = match state.services().login().email_step(flow).await {
        Ok(step) => step,
        Err(err) => return ctx.error(ApiError::from(err).code()),
    };
    let safe = safe_return_to(return_to, state.settings()).unwrap_or_default();
    let status = error.map_or(StatusCode::OK, ErrorCode::status);
    let extra = context! {
        flow => flow.to_string(), sent_to => step.sent_to, return_to => safe,
        error_code => error.map(ErrorCode::as_str), resent => resent,
    };
    ctx.render("email_code.html", "login", status, extra)
}

fn flow_id(raw: &str) -> Option<Uuid> {
    Uuid::parse_str(raw).ok()
}

pub async fn page(State(state): State<AppState>, ctx: PageContext, Path(flow): Path<String>, uri: Uri) -> Response {
    let Some(flow) = flow_id(&flow) else {
        return ctx.error(ErrorCode::LoginFlowNotFound);
    };
    render(&state, ctx, flow, &query_param(&uri, "return_to"), None, false).await
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    return_to: String,
}

/// An error the step shows beside its form; anything else ends on an error page.
fn shown(err: TwoFactorError) -> Result<ErrorCode, ErrorCode> {
    match err {
        TwoFactorError::InvalidCode => Ok(ErrorCode::LoginCodeInvalid),
        TwoFactorError::SendThrottled { .. } => Ok(ErrorCode::LoginCodeThrottled),
        other => Err(ApiError::from(other).code()),
    }
}

pub async fn submit(
    State(state): State<AppState>,
    ctx: PageContext,
    Client(client): Client,
    Path(flow): Path<String>,
    HtmlForm(form): HtmlForm<CodeForm>,
) -> Response {
    let Some(flow) = flow_id(&flow) else {
        return ctx.error(ErrorCode::LoginFlowNotFound);
    };
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.error(ErrorCode::CsrfRejected);
    }
    match state.services().login().email_code(flow, &form.code, &client).await {
        Ok(done) => {
            state.metrics().login("success");
            super::after_login(&state, ctx, &done, &form.return_to)
        }
        Err(err) => match shown(err) {
            Ok(code) => render(&state, ctx, flow, &form.return_to, Some(code), false).await,
            Err(code) => ctx.error(code),
        },
    }
}

pub async fn resend(
    State(state): State<AppState>,
    ctx: PageContext,
    Client(client): Client,
    Path(flow): Path<String>,
    HtmlForm(form): HtmlForm<CodeForm>,
) -> Response {
    let Some(flow) = flow_id(&flow) else {
        return ctx.error(ErrorCode::LoginFlowNotFound);
    };
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.error(ErrorCode::CsrfRejected);
    }
    match state.services().login().email_code_resend(flow, &client).await {
        Ok(_) => render(&state, ctx, flow, &form.return_to, None, true).await,
        Err(err) => match shown(err) {
            Ok(code) => render(&state, ctx, flow, &form.return_to, Some(code), false).await,
            Err(code) => ctx.error(code),
        },
    }
}
