//! Managing two-factor authentication in the browser (MFA-2, MFA-5, MFA-6, SESS-3): add an app
//! (QR code, "Show secret", confirm with a code), see the backup codes once, regenerate them,
//! remove an app with a code from it, and re-authenticate when a change needs a fresh login.

use super::context::PageContext;
use super::return_to::safe_return_to;
use super::{HtmlForm, query_param};
use crate::AppState;
use crate::client::Client;
use crate::error::{ApiError, ErrorCode};
use crate::session::session_cookie;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;
use sesame_core::service::{Authenticated, LoginOutcome, TwoFactorError};
use uuid::Uuid;

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

/// Where a change that needs a fresh login sends the customer.
fn to_reauth(ctx: PageContext) -> Response {
    ctx.redirect("/reauth?return_to=%2Fsecurity")
}

/// The customer behind a management form, once its form token is checked; `id` is the device
/// named in the path, when there is one.
fn customer(ctx: &PageContext, csrf: &str, id: Option<&str>) -> Result<(Authenticated, Uuid), ErrorCode> {
    if !ctx.csrf_ok(csrf) {
        return Err(ErrorCode::CsrfRejected);
    }
    let auth = ctx.auth.clone().ok_or(ErrorCode::AuthRequired)?;
    let id = match id {
        Some(raw) => Uuid::parse_str(raw).map_err(|_| ErrorCode::TwoFactorDeviceNotFound)?,
        None => Uuid::nil(),
    };
    Ok((auth, id))
}

fn failed(ctx: PageContext, err: TwoFactorError) -> Response {
    match err {
        TwoFactorError::ReauthRequired => to_reauth(ctx),
        other => ctx.error(ApiError::from(other).code()),
    }
}

fn inline_svg(svg: &str) -> String {
    // Inline in HTML: drop the XML declaration the renderer puts first.
    svg.find("<svg").map_or_else(String::new, |i| svg[i..].to_owned())
}

pub async fn add_app(State(state): State<AppState>, ctx: PageContext, HtmlForm(form): HtmlForm<CodeForm>) -> Response {
    let (auth, _) = match customer(&ctx, &form.csrf, None) {
        Ok(found) => found,
        Err(code) => return ctx.error(code),
    };
    match state.services().totp_begin(&auth, "Authenticator app").await {
        Ok(e) => {
            let extra = context! { id => e.id.to_string(), secret => e.secret, qr_svg => inline_svg(&e.qr_svg) };
            ctx.render("totp_enrol.html", "security", StatusCode::OK, extra)
        }
        Err(err) => failed(ctx, err),
    }
}

pub async fn enable_app(
    State(state): State<AppState>,
    ctx: PageContext,
    Path(id): Path<String>,
    HtmlForm(form): HtmlForm<CodeForm>,
) -> Response {
    let (auth, id) = match customer(&ctx, &form.csrf, Some(&id)) {
        Ok(found) => found,
        Err(code) => return ctx.error(code),
    };
    match state.services().totp_enable(&auth, id, &form.code).await {
        Ok(Some(codes)) => ctx.render(
            "backup_codes.html",
            "security",
            StatusCode::OK,
            context! { codes => codes },
        ),
        Ok(None) => ctx.redirect("/security?saved=1"),
        Err(TwoFactorError::InvalidCode) => match state.services().totp_pending(&auth, id).await {
            // The same secret again: it is still pending, nothing was enabled.
            Ok(e) => {
                let extra = context! {
                    id => e.id.to_string(), secret => e.secret, qr_svg => inline_svg(&e.qr_svg),
                    error_code => ErrorCode::SecondFactorInvalid.as_str(),
                };
                ctx.render("totp_enrol.html", "security", StatusCode::BAD_REQUEST, extra)
            }
            Err(err) => failed(ctx, err),
        },
        Err(err) => failed(ctx, err),
    }
}

pub async fn remove_app(
    State(state): State<AppState>,
    ctx: PageContext,
    Path(id): Path<String>,
    HtmlForm(form): HtmlForm<CodeForm>,
) -> Response {
    let (auth, id) = match customer(&ctx, &form.csrf, Some(&id)) {
        Ok(found) => found,
        Err(code) => return ctx.error(code),
    };
    match state.services().totp_remove(&auth, id, &form.code).await {
        Ok(_) => ctx.redirect("/security?saved=1"),
        Err(err) => failed(ctx, err),
    }
}

pub async fn regenerate(
    State(state): State<AppState>,
    ctx: PageContext,
    HtmlForm(form): HtmlForm<CodeForm>,
) -> Response {
    let (auth, _) = match customer(&ctx, &form.csrf, None) {
        Ok(found) => found,
        Err(code) => return ctx.error(code),
    };
    match state.services().regenerate_backup_codes(&auth).await {
        Ok(codes) => ctx.render(
            "backup_codes.html",
            "security",
            StatusCode::OK,
            context! { codes => codes },
        ),
        Err(err) => failed(ctx, err),
    }
}

pub async fn reauth_page(State(state): State<AppState>, ctx: PageContext, uri: Uri) -> Response {
    let asked = query_param(&uri, "return_to");
    let return_to = safe_return_to(&asked, state.settings()).unwrap_or_default();
    ctx.render(
        "reauth.html",
        "security",
        StatusCode::OK,
        context! { return_to => return_to },
    )
}

#[derive(Deserialize)]
pub struct ReauthForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    return_to: String,
}

pub async fn reauth_submit(
    State(state): State<AppState>,
    mut ctx: PageContext,
    Client(client): Client,
    HtmlForm(form): HtmlForm<ReauthForm>,
) -> Response {
    let (auth, _) = match customer(&ctx, &form.csrf, None) {
        Ok(found) => found,
        Err(code) => return ctx.error(code),
    };
    let to = safe_return_to(&form.return_to, state.settings()).unwrap_or_else(|| "/security".to_owned());
    match state.services().reauthenticate(&auth, &form.password, &client).await {
        Ok(LoginOutcome::LoggedIn(done)) => {
            ctx.add_cookie(session_cookie(&state, done.token.expose()));
            ctx.redirect(&to)
        }
        Ok(LoginOutcome::SecondFactor(step)) => {
            let query = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("method", step.default.as_str())
                .append_pair("return_to", &to)
                .finish();
            ctx.redirect(&format!("/login/{}?{query}", step.flow))
        }
        Err(err) => {
            let code = ApiError::from(err).code();
            let extra = context! { return_to => to, error_code => code.as_str() };
            ctx.render("reauth.html", "security", code.status(), extra)
        }
    }
}

/// MFA-7: the unlock link from the mail opens a confirmation (a GET changes nothing, so mail
/// scanners that follow links can't use it up).
pub async fn unlock_page(ctx: PageContext, uri: Uri) -> Response {
    let token = query_param(&uri, "token");
    ctx.render(
        "unlock.html",
        "unlock",
        StatusCode::OK,
        context! { token => token, done => false },
    )
}

#[derive(Deserialize)]
pub struct UnlockForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
}

pub async fn unlock_submit(
    State(state): State<AppState>,
    ctx: PageContext,
    Client(client): Client,
    HtmlForm(form): HtmlForm<UnlockForm>,
) -> Response {
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.error(ErrorCode::CsrfRejected);
    }
    match state.services().unlock_second_factor(&form.token, &client).await {
        Ok(()) => ctx.render("unlock.html", "unlock", StatusCode::OK, context! { done => true }),
        Err(err) => {
            let code = ApiError::from(err).code();
            ctx.render(
                "unlock.html",
                "unlock",
                code.status(),
                context! { done => false, error_code => code.as_str(), token => form.token },
            )
        }
    }
}
