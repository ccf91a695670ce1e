//! Managing two-factor authentication in the browser (MFA-1 to MFA-6, SESS-3): add an app (QR
//! code, "Show secret", confirm with a code) or a phone (a texted code), see the backup codes
//! once, regenerate them, remove a device with a code from it (or, when it is lost, after a login
//! with another one), and re-authenticate when a change needs a fresh login. Security keys are
//! added and removed by `static/webauthn.js` through the JSON API: WebAuthn needs JavaScript.

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
use sesame_core::factor::{EnrolPrompt, Method, Proof};
use sesame_core::service::{Authenticated, DeviceStart, LoginOutcome, TwoFactorError};
use uuid::Uuid;

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    /// Removing the last device: the customer ticked "two-factor authentication will be off".
    #[serde(default)]
    confirm_off: String,
    /// New backup codes: the customer ticked "the current ones stop working".
    #[serde(default)]
    confirm_replace: String,
    /// The name of a new app, chosen when it is added.
    #[serde(default)]
    description: String,
}

/// Where a change that needs a fresh login sends the customer.
fn to_reauth(ctx: PageContext) -> Response {
    ctx.redirect("/reauth?return_to=%2Fsecurity")
}

/// The customer behind a management form, once its form token is checked; `id` is the device
/// named in the path, when there is one.
fn customer(
    ctx: &PageContext,
    csrf: &str,
    id: Option<&str>,
) -> Result<(std::sync::Arc<Authenticated>, Uuid), ErrorCode> {
    let auth = super::form_customer(ctx, csrf)?;
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

/// A failed change on the security page: back to it, the error shown next to the section.
fn back_with_error(ctx: PageContext, err: TwoFactorError, section: &str) -> Response {
    match err {
        TwoFactorError::ReauthRequired => to_reauth(ctx),
        other => {
            let code = ApiError::from(other).code();
            ctx.redirect(&format!("/security?error={}#{section}", code.as_str()))
        }
    }
}

fn inline_svg(svg: &str) -> String {
    // Inline in HTML: drop the XML declaration the renderer puts first.
    svg.find("<svg").map_or_else(String::new, |i| svg[i..].to_owned())
}

/// The enrolment page of a pending device: an app's QR code, or a phone's code field.
fn enrol_page(ctx: PageContext, start: DeviceStart, error: Option<ErrorCode>) -> Response {
    let status = error.map_or(StatusCode::OK, ErrorCode::status);
    let error_code = error.map(ErrorCode::as_str);
    match start.prompt {
        EnrolPrompt::Totp { secret, qr_svg, .. } => {
            // In groups of four, as people copy it by hand into an app.
            let grouped = secret
                .as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join(" ");
            let extra = context! {
                id => start.id.to_string(), secret => grouped, qr_svg => inline_svg(&qr_svg), error_code => error_code,
            };
            ctx.render("totp_enrol.html", "security", status, extra)
        }
        EnrolPrompt::Sms { to } => {
            let extra = context! { id => start.id.to_string(), sent_to => to, error_code => error_code };
            ctx.render("sms_enrol.html", "security", status, extra)
        }
        EnrolPrompt::SecurityKey { .. } => ctx.redirect("/security"),
    }
}

/// The description a device gets until the customer renames it.
fn default_name(lang: &str, method: Method) -> &'static str {
    match (lang, method) {
        ("fr", Method::Sms) => "Téléphone",
        (_, Method::Sms) => "Phone",
        ("fr", _) => "Application d’authentification",
        _ => "Authenticator app",
    }
}

/// A new device's name: the one typed (#15 item 11), or the translated default when left empty.
fn device_name<'a>(lang: &str, method: Method, typed: &'a str) -> &'a str {
    match typed.trim() {
        "" => default_name(lang, method),
        chosen => chosen,
    }
}

/// The backup codes after the first device, or back to the security page.
fn enabled(state: &AppState, ctx: PageContext, codes: Option<Vec<String>>) -> Response {
    match codes {
        Some(codes) => codes_page(state, ctx, codes),
        None => ctx.redirect("/security?saved=2fa#sec-2fa"),
    }
}

/// MFA-5: the new backup codes, shown once, with the account and the date on them, to copy,
/// download as a text file (a `data:` link made by the template, so it works without
/// JavaScript) or print (#15 item 11).
fn codes_page(state: &AppState, ctx: PageContext, codes: Vec<String>) -> Response {
    let nic = ctx
        .auth
        .as_ref()
        .map(|a| a.account.nic_handle.as_str().to_owned())
        .unwrap_or_default();
    let date = sesame_core::types::day(state.services().now(), ctx.lang);
    let extra = context! { codes => codes, filename => format!("backup-codes-{nic}.txt"), nic => nic, date => date };
    ctx.render("backup_codes.html", "security", StatusCode::OK, extra)
}

pub async fn add_app(State(state): State<AppState>, ctx: PageContext, HtmlForm(form): HtmlForm<CodeForm>) -> Response {
    let (auth, _) = match customer(&ctx, &form.csrf, None) {
        Ok(found) => found,
        Err(code) => return ctx.error(code),
    };
    let description = device_name(ctx.lang, Method::Totp, &form.description);
    match state
        .services()
        .devices()
        .device_begin(&auth, Method::Totp, description, None)
        .await
    {
        Ok(start) => enrol_page(ctx, start, None),
        Err(err) => back_with_error(ctx, err, "sec-2fa"),
    }
}

#[derive(Deserialize)]
pub struct PhoneForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    description: String,
}

pub async fn add_phone(
    State(state): State<AppState>,
    ctx: PageContext,
    HtmlForm(form): HtmlForm<PhoneForm>,
) -> Response {
    let (auth, _) = match customer(&ctx, &form.csrf, None) {
        Ok(found) => found,
        Err(code) => return ctx.error(code),
    };
    let description = device_name(ctx.lang, Method::Sms, &form.description);
    match state
        .services()
        .devices()
        .device_begin(&auth, Method::Sms, description, Some(&form.phone))
        .await
    {
        Ok(start) => enrol_page(ctx, start, None),
        Err(err) => back_with_error(ctx, err, "add-phone-form"),
    }
}

/// Confirms a pending app or phone with its code; a wrong code shows the same page again.
pub async fn enable_device(
    State(state): State<AppState>,
    ctx: PageContext,
    Path(id): Path<String>,
    HtmlForm(form): HtmlForm<CodeForm>,
) -> Response {
    let (auth, id) = match customer(&ctx, &form.csrf, Some(&id)) {
        Ok(found) => found,
        Err(code) => return ctx.error(code),
    };
    match state
        .services()
        .devices()
        .device_enable(&auth, id, &Proof::Code(form.code))
        .await
    {
        Ok(codes) => enabled(&state, ctx, codes),
        Err(TwoFactorError::InvalidCode) => match state.services().devices().device_pending(&auth, id).await {
            // The same secret or number again: it is still pending, nothing was enabled.
            Ok(start) => enrol_page(ctx, start, Some(ErrorCode::SecondFactorInvalid)),
            Err(err) => failed(ctx, err),
        },
        Err(err) => failed(ctx, err),
    }
}

/// MFA-6: removes a device with a code from it; an empty code works only after a login with
/// another device or a backup code.
pub async fn remove_device(
    State(state): State<AppState>,
    ctx: PageContext,
    Path(id): Path<String>,
    HtmlForm(form): HtmlForm<CodeForm>,
) -> Response {
    let (auth, id) = match customer(&ctx, &form.csrf, Some(&id)) {
        Ok(found) => found,
        Err(code) => return ctx.error(code),
    };
    // The last device takes 2FA with it: the page asks first (the API's caller decides alone).
    if form.confirm_off != "on" {
        match state.services().devices().two_factor_summary(&auth.account).await {
            Ok(summary) if summary.devices.len() == 1 => {
                let code = ErrorCode::TwoFactorOffConfirmRequired;
                return ctx.redirect(&format!("/security?error={}#device-{id}", code.as_str()));
            }
            Ok(_) => {}
            Err(err) => return ctx.error(ApiError::from(err).code()),
        }
    }
    let proof = (!form.code.trim().is_empty()).then(|| Proof::Code(form.code));
    match state
        .services()
        .devices()
        .device_remove(&auth, id, proof.as_ref())
        .await
    {
        Ok(_) => ctx.redirect("/security?saved=2fa#sec-2fa"),
        Err(err) => back_with_error(ctx, err, &format!("device-{id}")),
    }
}

/// MFA-6: texts a code to a phone before removing it.
pub async fn send_device_code(
    State(state): State<AppState>,
    ctx: PageContext,
    Path(id): Path<String>,
    HtmlForm(form): HtmlForm<CodeForm>,
) -> Response {
    let (auth, id) = match customer(&ctx, &form.csrf, Some(&id)) {
        Ok(found) => found,
        Err(code) => return ctx.error(code),
    };
    match state.services().devices().device_challenge(&auth, id).await {
        Ok(_) => ctx.redirect(&format!("/security?sent={id}#device-{id}")),
        Err(err) => back_with_error(ctx, err, &format!("device-{id}")),
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
    // The current codes stop working: the page asks first (the API's caller decides alone).
    if form.confirm_replace != "on" {
        let code = ErrorCode::BackupCodesConfirmRequired;
        return ctx.redirect(&format!("/security?error={}#sec-2fa", code.as_str()));
    }
    match state.services().devices().regenerate_backup_codes(&auth).await {
        Ok(codes) => codes_page(&state, ctx, codes),
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
    match state
        .services()
        .login()
        .reauthenticate(&auth, &form.password, &client)
        .await
    {
        Ok(LoginOutcome::LoggedIn(done)) => {
            ctx.add_cookie(session_cookie(&state, done.token.expose()));
            ctx.redirect(&to)
        }
        Ok(LoginOutcome::SecondFactor(step)) => ctx.redirect(&super::second_step::location(&step, &to)),
        Ok(LoginOutcome::EmailCode(step)) => ctx.redirect(&super::email_step::location(step.flow, &to)),
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
    match state
        .services()
        .login()
        .unlock_second_factor(&form.token, &client)
        .await
    {
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

/// "Not you?" (from a login notification): a confirmation page; a GET changes nothing, so mail
/// scanners that follow links can't use it up.
pub async fn not_me_page(ctx: PageContext, uri: Uri) -> Response {
    let token = query_param(&uri, "token");
    ctx.render(
        "not_me.html",
        "unlock",
        StatusCode::OK,
        context! { token => token, done => false },
    )
}

/// Ends every session of the account whose notification carried the link (once, no login needed).
pub async fn not_me_submit(
    State(state): State<AppState>,
    ctx: PageContext,
    Client(client): Client,
    HtmlForm(form): HtmlForm<UnlockForm>,
) -> Response {
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.error(ErrorCode::CsrfRejected);
    }
    match state.services().login().not_me(&form.token, &client).await {
        Ok(Some(account)) => {
            // RISK-2: the link proved the mailbox, like a reset mail: straight to a new password.
            match state.services().recovery().reset_token_for(account).await {
                Ok(Some(token)) => {
                    let extra = context! { done => true, reset_token => token };
                    ctx.render("not_me.html", "unlock", StatusCode::OK, extra)
                }
                Ok(None) => ctx.render("not_me.html", "unlock", StatusCode::OK, context! { done => true }),
                Err(err) => ctx.error(ApiError::from(err).code()),
            }
        }
        Ok(None) => {
            let code = ErrorCode::NotMeInvalid;
            let extra = context! { done => false, error_code => code.as_str(), token => form.token };
            ctx.render("not_me.html", "unlock", code.status(), extra)
        }
        Err(err) => ctx.error(ApiError::from(err).code()),
    }
}
