//! The recovery pages (RECOVER-1..7): "forgot password" and the reset page, password change,
//! backup email and primary email change on the security pages, the pages behind the mailed cancel
//! and confirmation links, and the lost-devices request with its upload form.
//!
//! Pages behind a mailed link show a button first: a GET changes nothing, so mail scanners that
//! follow links can't use a link up.

use super::context::PageContext;
use super::return_to::safe_return_to;
use super::{HtmlForm, TokenForm, classic_password, form_customer, query_param, to_login};
use crate::AppState;
use crate::api::recovery::{browser_secret, document_of, presented_secret, read_upload};
use crate::client::Client;
use crate::error::{ApiError, ErrorCode};
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use minijinja::{Value, context};
use serde::Deserialize;
use sesame_core::service::{Authenticated, EmailChangeOutcome, MAX_DOCUMENTS, RecoveryError, TwoFactorError};
use uuid::Uuid;

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    login: String,
}

/// RECOVER-1, RECOVER-7: the "forgot password" page and its help.
pub async fn recover_page(ctx: PageContext) -> Response {
    ctx.render("recover.html", "recover", StatusCode::OK, context! { sent => false })
}

/// RECOVER-1: always the same answer, at once.
pub async fn recover_submit(
    State(state): State<AppState>,
    ctx: PageContext,
    Client(client): Client,
    HtmlForm(form): HtmlForm<LoginForm>,
) -> Response {
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.error(ErrorCode::CsrfRejected);
    }
    if form.login.trim().is_empty() {
        let extra = context! { sent => false, error_code => ErrorCode::InvalidField.as_str(), error_field => "login" };
        return ctx.render("recover.html", "recover", StatusCode::UNPROCESSABLE_ENTITY, extra);
    }
    drop(state.services().recovery().request_password_reset(&form.login, &client));
    ctx.render("recover.html", "recover", StatusCode::OK, context! { sent => true })
}

/// RECOVER-1: the page a reset link opens.
pub async fn reset_page(State(state): State<AppState>, ctx: PageContext, Path(token): Path<String>) -> Response {
    match state.services().recovery().reset_link_subsidiary(&token).await {
        Ok(Some(subsidiary)) => ctx.render(
            "password_reset.html",
            "recover",
            StatusCode::OK,
            context! { token => token, valid => true, classic_password => classic_password(&state, &subsidiary) },
        ),
        Ok(None) => ctx.render(
            "password_reset.html",
            "recover",
            StatusCode::GONE,
            context! { valid => false, error_code => ErrorCode::RecoveryLinkInvalid.as_str() },
        ),
        Err(err) => ctx.error(ApiError::from(err).code()),
    }
}

/// `Debug` is not derived: passwords must never reach a log.
#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    nic_handle: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password2: String,
}

/// The field an error belongs to, for `aria-invalid` and the message beside it.
fn field_of(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::NicHandleMismatch => "nic_handle",
        ErrorCode::CurrentPasswordInvalid => "current_password",
        ErrorCode::PasswordsDiffer => "password2",
        ErrorCode::PasswordTooShort
        | ErrorCode::PasswordTooLong
        | ErrorCode::PasswordTooCommon
        | ErrorCode::PasswordContainsPersonalInfo
        | ErrorCode::PasswordMissingCharacterKinds => "password",
        ErrorCode::EmailInvalid | ErrorCode::EmailNonAscii | ErrorCode::EmailSameAsCurrent | ErrorCode::EmailTaken => {
            "email"
        }
        ErrorCode::ContactCodeInvalid | ErrorCode::ContactCodeTooManyAttempts => "code",
        _ => "",
    }
}

/// An error shown on the page it came from, with its field.
fn with_error(code: ErrorCode, extra: Value) -> Value {
    context! { error_code => code.as_str(), error_field => field_of(code), ..extra }
}

pub async fn reset_submit(
    State(state): State<AppState>,
    ctx: PageContext,
    Client(client): Client,
    Path(token): Path<String>,
    HtmlForm(form): HtmlForm<ResetForm>,
) -> Response {
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.error(ErrorCode::CsrfRejected);
    }
    let result = if form.password == form.password2 {
        state
            .services()
            .recovery()
            .reset_password(&token, &form.nic_handle, &form.password, &client)
            .await
            .map_err(|e| ApiError::from(e).code())
    } else {
        Err(ErrorCode::PasswordsDiffer)
    };
    match result {
        Ok(()) => ctx.render(
            "password_reset.html",
            "recover",
            StatusCode::OK,
            context! { done => true },
        ),
        Err(code) => {
            let valid = code != ErrorCode::RecoveryLinkInvalid;
            let subsidiary = match state.services().recovery().reset_link_subsidiary(&token).await {
                Ok(found) => found.unwrap_or_default(),
                Err(err) => return ctx.error(ApiError::from(err).code()),
            };
            let classic = classic_password(&state, &subsidiary);
            let extra =
                context! { token => token, valid => valid, nic_handle => form.nic_handle, classic_password => classic };
            ctx.render("password_reset.html", "recover", code.status(), with_error(code, extra))
        }
    }
}

/// Where a security-page change goes when it needs a fresh authentication (SESS-3) first.
fn reauth_for(ctx: PageContext, path: &str) -> Response {
    let target = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("return_to", path)
        .finish();
    ctx.redirect(&format!("/reauth?{target}"))
}

/// RECOVER-2: the password change page.
pub async fn password_page(State(state): State<AppState>, ctx: PageContext) -> Response {
    let Some(auth) = &ctx.auth else {
        return to_login(ctx, "/security/password");
    };
    let extra = context! { classic_password => classic_password(&state, &auth.account.subsidiary) };
    ctx.render("password_change.html", "security", StatusCode::OK, extra)
}

pub async fn password_submit(
    State(state): State<AppState>,
    ctx: PageContext,
    Client(client): Client,
    HtmlForm(form): HtmlForm<ResetForm>,
) -> Response {
    let auth = match form_customer(&ctx, &form.csrf) {
        Ok(auth) => auth,
        Err(ErrorCode::AuthRequired) => return to_login(ctx, "/security/password"),
        Err(code) => return ctx.error(code),
    };
    let rules = context! { classic_password => classic_password(&state, &auth.account.subsidiary) };
    if form.password != form.password2 {
        let extra = with_error(ErrorCode::PasswordsDiffer, rules);
        return ctx.render(
            "password_change.html",
            "security",
            StatusCode::UNPROCESSABLE_ENTITY,
            extra,
        );
    }
    let result = state
        .services()
        .recovery()
        .change_password(&auth, &form.current_password, &form.password, &client)
        .await;
    match result {
        Ok(()) => ctx.redirect("/security?saved=password#sec-access"),
        Err(RecoveryError::TwoFactor(TwoFactorError::ReauthRequired)) => reauth_for(ctx, "/security/password"),
        Err(err) => {
            let code = ApiError::from(err).code();
            ctx.render(
                "password_change.html",
                "security",
                code.status(),
                with_error(code, rules),
            )
        }
    }
}

/// The signed-in customer of a contact page, or where to send the visitor.
fn customer(ctx: &PageContext) -> Option<std::sync::Arc<Authenticated>> {
    ctx.auth.clone()
}

/// The backup email page's address, for a query to follow.
pub(super) fn backup_page_url() -> url::form_urlencoded::Serializer<'static, String> {
    const PAGE: &str = "/security/backup-email?";
    url::form_urlencoded::Serializer::for_suffix(PAGE.to_owned(), PAGE.len())
}

/// RECOVER-3: the backup email page (also where a customer lands when support promoted the old
/// one, RECOVER-6: `return_to` is where they were going, and where they go once it is verified).
pub async fn backup_page(State(state): State<AppState>, ctx: PageContext, uri: Uri) -> Response {
    let return_to = safe_return_to(&query_param(&uri, "return_to"), state.settings()).unwrap_or_default();
    backup_render(
        &state,
        ctx,
        StatusCode::OK,
        context! { sent => query_param(&uri, "sent") == "1", return_to => return_to },
    )
    .await
}

async fn backup_render(state: &AppState, ctx: PageContext, status: StatusCode, extra: Value) -> Response {
    let Some(auth) = customer(&ctx) else {
        return to_login(ctx, "/security/backup-email");
    };
    let contact = match state.services().recovery().contact(&auth.account).await {
        Ok(contact) => contact,
        Err(err) => return ctx.error(ApiError::from(err).code()),
    };
    let extra = context! {
        backup => contact.backup_email, pending => contact.pending_backup,
        required => auth.account.backup_email_required, ..extra
    };
    ctx.render("backup_email.html", "security", status, extra)
}

#[derive(Deserialize)]
pub struct ContactForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    current_code: String,
    #[serde(default)]
    unreachable: String,
    /// RECOVER-6: where a customer sent here at login was going.
    #[serde(default)]
    return_to: String,
}

/// The two contact pages a form comes back to (RECOVER-3, RECOVER-4).
#[derive(Clone, Copy)]
enum ContactPage<'a> {
    /// With where the customer goes once a backup email is verified (empty: the security page).
    Backup {
        return_to: &'a str,
    },
    Email,
}

/// The outcome of a contact form: where to go, or its page again with the error beside the field.
async fn contact_outcome(
    state: &AppState,
    ctx: PageContext,
    page: ContactPage<'_>,
    result: Result<String, RecoveryError>,
) -> Response {
    let path = match page {
        // RECOVER-6: a detour at login comes back here with where it was going.
        ContactPage::Backup { return_to } if !return_to.is_empty() => {
            backup_page_url().append_pair("return_to", return_to).finish()
        }
        ContactPage::Backup { .. } => "/security/backup-email".to_owned(),
        ContactPage::Email => "/security/email".to_owned(),
    };
    match result {
        Ok(to) => ctx.redirect(&to),
        Err(RecoveryError::TwoFactor(TwoFactorError::ReauthRequired)) => reauth_for(ctx, &path),
        Err(err) => {
            let code = ApiError::from(err).code();
            match page {
                ContactPage::Backup { return_to } => {
                    let extra = with_error(code, context! { return_to => return_to });
                    backup_render(state, ctx, code.status(), extra).await
                }
                ContactPage::Email => email_render(state, ctx, code.status(), with_error(code, context! {})).await,
            }
        }
    }
}

pub async fn backup_set(
    State(state): State<AppState>,
    ctx: PageContext,
    HtmlForm(form): HtmlForm<ContactForm>,
) -> Response {
    let auth = match form_customer(&ctx, &form.csrf) {
        Ok(auth) => auth,
        Err(code) => return ctx.error(code),
    };
    let result = state.services().recovery().set_backup_email(&auth, &form.email).await;
    let return_to = safe_return_to(&form.return_to, state.settings()).unwrap_or_default();
    let sent = backup_page_url()
        .append_pair("sent", "1")
        .append_pair("return_to", &return_to)
        .finish();
    let page = ContactPage::Backup { return_to: &return_to };
    contact_outcome(&state, ctx, page, result.map(|()| sent)).await
}

pub async fn backup_verify(
    State(state): State<AppState>,
    ctx: PageContext,
    Client(client): Client,
    HtmlForm(form): HtmlForm<ContactForm>,
) -> Response {
    let auth = match form_customer(&ctx, &form.csrf) {
        Ok(auth) => auth,
        Err(code) => return ctx.error(code),
    };
    let result = state
        .services()
        .recovery()
        .verify_backup_email(&auth, &form.code, &client)
        .await;
    let return_to = safe_return_to(&form.return_to, state.settings()).unwrap_or_default();
    let to = if return_to.is_empty() {
        "/security?saved=backup#sec-access".to_owned()
    } else {
        return_to.clone()
    };
    let page = ContactPage::Backup { return_to: &return_to };
    contact_outcome(&state, ctx, page, result.map(|()| to)).await
}

pub async fn backup_remove(
    State(state): State<AppState>,
    ctx: PageContext,
    Client(client): Client,
    HtmlForm(form): HtmlForm<TokenForm>,
) -> Response {
    let auth = match form_customer(&ctx, &form.csrf) {
        Ok(auth) => auth,
        Err(code) => return ctx.error(code),
    };
    let result = state.services().recovery().remove_backup_email(&auth, &client).await;
    contact_outcome(
        &state,
        ctx,
        ContactPage::Backup { return_to: "" },
        result.map(|()| "/security?saved=backup#sec-access".to_owned()),
    )
    .await
}

/// RECOVER-4: the primary email page: start a change, give its codes, see or cancel a waiting one.
pub async fn email_page(State(state): State<AppState>, ctx: PageContext, uri: Uri) -> Response {
    let notice = match query_param(&uri, "done").as_str() {
        "cancelled" => Some("email.cancelled"),
        "scheduled" => Some("email.scheduled_notice"),
        _ => None,
    };
    email_render(&state, ctx, StatusCode::OK, context! { notice => notice }).await
}

async fn email_render(state: &AppState, ctx: PageContext, status: StatusCode, extra: Value) -> Response {
    let Some(auth) = customer(&ctx) else {
        return to_login(ctx, "/security/email");
    };
    let contact = match state.services().recovery().contact(&auth.account).await {
        Ok(contact) => contact,
        Err(err) => return ctx.error(ApiError::from(err).code()),
    };
    let pending = contact.pending_primary.map(|p| {
        context! {
            id => p.id.to_string(), email => p.email, reachable => p.current_reachable,
            applies_at => p.applies_at.map(|t| ctx.when(t)),
        }
    });
    ctx.render(
        "email_change.html",
        "security",
        status,
        context! { pending => pending, ..extra },
    )
}

pub async fn email_start(
    State(state): State<AppState>,
    ctx: PageContext,
    HtmlForm(form): HtmlForm<ContactForm>,
) -> Response {
    let auth = match form_customer(&ctx, &form.csrf) {
        Ok(auth) => auth,
        Err(code) => return ctx.error(code),
    };
    let reachable = form.unreachable != "on";
    let result = state
        .services()
        .recovery()
        .start_email_change(&auth, &form.email, reachable)
        .await;
    contact_outcome(
        &state,
        ctx,
        ContactPage::Email,
        result.map(|_| "/security/email".to_owned()),
    )
    .await
}

fn change_id(raw: &str) -> Result<Uuid, RecoveryError> {
    Uuid::parse_str(raw).map_err(|_| RecoveryError::ChangeNotFound)
}

pub async fn email_confirm(
    State(state): State<AppState>,
    ctx: PageContext,
    Client(client): Client,
    Path(id): Path<String>,
    HtmlForm(form): HtmlForm<ContactForm>,
) -> Response {
    let auth = match form_customer(&ctx, &form.csrf) {
        Ok(auth) => auth,
        Err(code) => return ctx.error(code),
    };
    let recovery = state.services().recovery();
    let result = match change_id(&id) {
        Ok(id) => {
            recovery
                .confirm_email_change(&auth, id, &form.current_code, &form.code, &client)
                .await
        }
        Err(err) => Err(err),
    };
    let to = result.map(|outcome| match outcome {
        EmailChangeOutcome::Applied => "/security?saved=email#sec-access".to_owned(),
        EmailChangeOutcome::Scheduled { .. } => "/security/email?done=scheduled".to_owned(),
    });
    contact_outcome(&state, ctx, ContactPage::Email, to).await
}

pub async fn email_cancel(
    State(state): State<AppState>,
    ctx: PageContext,
    Client(client): Client,
    Path(id): Path<String>,
    HtmlForm(form): HtmlForm<TokenForm>,
) -> Response {
    let auth = match form_customer(&ctx, &form.csrf) {
        Ok(auth) => auth,
        Err(code) => return ctx.error(code),
    };
    let result = match change_id(&id) {
        Ok(id) => {
            state
                .services()
                .recovery()
                .cancel_email_change(&auth, id, &client)
                .await
        }
        Err(err) => Err(err),
    };
    contact_outcome(
        &state,
        ctx,
        ContactPage::Email,
        result.map(|()| "/security/email?done=cancelled".to_owned()),
    )
    .await
}

/// A page behind a mailed link: `kind` is `cancel` (RECOVER-4) or `confirm` (RECOVER-5).
fn link_page(ctx: PageContext, kind: &str, uri: &Uri) -> Response {
    let token = query_param(uri, "token");
    let extra = context! { kind => kind, token => token, done => false };
    ctx.render("link_action.html", "recover", StatusCode::OK, extra)
}

#[derive(Deserialize)]
pub struct LinkForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
}

fn link_done(ctx: PageContext, kind: &str, form: LinkForm, result: Result<(), RecoveryError>) -> Response {
    match result {
        Ok(()) => ctx.render(
            "link_action.html",
            "recover",
            StatusCode::OK,
            context! { kind => kind, done => true },
        ),
        Err(err) => {
            let code = ApiError::from(err).code();
            let extra = context! { kind => kind, done => false, token => form.token, error_code => code.as_str() };
            ctx.render("link_action.html", "recover", code.status(), extra)
        }
    }
}

pub async fn cancel_link_page(ctx: PageContext, uri: Uri) -> Response {
    link_page(ctx, "cancel", &uri)
}

pub async fn cancel_link_submit(
    State(state): State<AppState>,
    ctx: PageContext,
    Client(client): Client,
    HtmlForm(form): HtmlForm<LinkForm>,
) -> Response {
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.error(ErrorCode::CsrfRejected);
    }
    let result = state
        .services()
        .recovery()
        .cancel_email_change_by_link(&form.token, &client)
        .await;
    link_done(ctx, "cancel", form, result)
}

pub async fn confirm_link_page(ctx: PageContext, uri: Uri) -> Response {
    link_page(ctx, "confirm", &uri)
}

pub async fn confirm_link_submit(
    State(state): State<AppState>,
    ctx: PageContext,
    Client(client): Client,
    HtmlForm(form): HtmlForm<LinkForm>,
) -> Response {
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.error(ErrorCode::CsrfRejected);
    }
    let result = state.services().recovery().confirm_request(&form.token, &client).await;
    link_done(ctx, "confirm", form, result)
}

/// RECOVER-5: "I have lost access to my devices", from the second step (`?flow=`).
pub async fn lost_page(ctx: PageContext, uri: Uri) -> Response {
    let flow = query_param(&uri, "flow");
    let flow = Uuid::parse_str(&flow).ok().map(|f| f.to_string());
    ctx.render("lost_2fa.html", "recover", StatusCode::OK, context! { flow => flow })
}

#[derive(Deserialize)]
pub struct FlowForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    flow: String,
}

pub async fn lost_start(
    State(state): State<AppState>,
    mut ctx: PageContext,
    Client(client): Client,
    headers: HeaderMap,
    HtmlForm(form): HtmlForm<FlowForm>,
) -> Response {
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.error(ErrorCode::CsrfRejected);
    }
    let (secret, cookie) = browser_secret(&state, &headers);
    let started = match Uuid::parse_str(&form.flow) {
        Ok(flow) => {
            state
                .services()
                .recovery()
                .start_lost_devices_request(flow, &secret, &client)
                .await
        }
        Err(_) => Err(RecoveryError::TwoFactor(TwoFactorError::FlowNotFound)),
    };
    match started {
        Ok(id) => {
            if let Some(cookie) = cookie {
                ctx.add_cookie(cookie);
            }
            ctx.redirect(&format!("/recover/request/{id}"))
        }
        Err(err) => {
            let code = ApiError::from(err).code();
            let extra = context! { flow => form.flow, error_code => code.as_str() };
            ctx.render("lost_2fa.html", "recover", code.status(), extra)
        }
    }
}

fn request_id(raw: &str) -> Result<Uuid, RecoveryError> {
    Uuid::parse_str(raw).map_err(|_| RecoveryError::RequestNotFound)
}

/// RECOVER-5: the request's page: upload, submit, and where it stands.
pub async fn request_page(
    State(state): State<AppState>,
    ctx: PageContext,
    headers: HeaderMap,
    Path(id): Path<String>,
    uri: Uri,
) -> Response {
    let notice = (query_param(&uri, "added") == "1").then_some("request.added");
    request_render(
        &state,
        ctx,
        &headers,
        &id,
        StatusCode::OK,
        context! { notice => notice },
    )
    .await
}

async fn request_render(
    state: &AppState,
    ctx: PageContext,
    headers: &HeaderMap,
    id: &str,
    status: StatusCode,
    extra: Value,
) -> Response {
    let secret = presented_secret(state, headers);
    let view = match request_id(id) {
        Ok(id) => state.services().recovery().request_status(id, &secret).await,
        Err(err) => Err(err),
    };
    match view {
        Ok(view) => {
            let extra = context! {
                id => view.id.to_string(), status_name => view.status.as_str(), documents => view.documents,
                max => MAX_DOCUMENTS, ..extra
            };
            ctx.render("recovery_request.html", "recover", status, extra)
        }
        Err(err) => ctx.error(ApiError::from(err).code()),
    }
}

pub async fn request_upload(
    State(state): State<AppState>,
    ctx: PageContext,
    Path(id): Path<String>,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let Ok(multipart) = multipart else {
        return ctx.error(ErrorCode::InvalidRequest);
    };
    let Some(_permit) = state.upload_permit() else {
        return ctx.error(ErrorCode::ServiceBusy);
    };
    let upload = match read_upload(&state, &headers, multipart).await {
        Ok(upload) => upload,
        Err(err) => return request_render(&state, ctx, &headers, &id, err.code().status(), error_of(&err)).await,
    };
    if !ctx.csrf_ok(&upload.csrf) {
        return ctx.error(ErrorCode::CsrfRejected);
    }
    let secret = presented_secret(&state, &headers);
    let added = match (document_of(upload), request_id(&id)) {
        (Ok(bytes), Ok(request)) => state
            .services()
            .recovery()
            .add_document(request, &secret, &bytes)
            .await
            .map_err(ApiError::from),
        (Err(err), _) => Err(err),
        (_, Err(err)) => Err(err.into()),
    };
    match added {
        Ok(()) => ctx.redirect(&format!("/recover/request/{id}?added=1")),
        Err(err) => request_render(&state, ctx, &headers, &id, err.code().status(), error_of(&err)).await,
    }
}

fn error_of(err: &ApiError) -> Value {
    context! { error_code => err.code().as_str() }
}

pub async fn request_submit(
    State(state): State<AppState>,
    ctx: PageContext,
    Client(client): Client,
    headers: HeaderMap,
    Path(id): Path<String>,
    HtmlForm(form): HtmlForm<TokenForm>,
) -> Response {
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.error(ErrorCode::CsrfRejected);
    }
    let secret = presented_secret(&state, &headers);
    let submitted = match request_id(&id) {
        Ok(request) => {
            state
                .services()
                .recovery()
                .submit_request(request, &secret, &client)
                .await
        }
        Err(err) => Err(err),
    };
    match submitted {
        Ok(()) => ctx.redirect(&format!("/recover/request/{id}")),
        Err(err) => {
            let err = ApiError::from(err);
            request_render(&state, ctx, &headers, &id, err.code().status(), error_of(&err)).await
        }
    }
}
