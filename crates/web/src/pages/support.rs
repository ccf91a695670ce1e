//! The support console (SUPPORT-1..5) under `/support`: invitation and enrolment, login with
//! email, password and security key, search, an account's security summary, the desk's actions,
//! and the review of lost-2FA requests with their documents.
//!
//! Agents have their own cookie, `Path=/support` (`__Secure-` over HTTPS: `__Host-` would force
//! `Path=/`), HttpOnly, SameSite=Strict, 8 hours: a customer cookie never opens these pages and
//! this one is never sent to a customer page. Forms work without JavaScript except the two
//! WebAuthn ceremonies, which `static/support.js` answers into a hidden field.

use super::context::PageContext;
use super::{HtmlForm, query_param};
use crate::AppState;
use crate::client::Client;
use crate::error::ErrorCode;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, SameSite};
use minijinja::{Value, context};
use serde::Deserialize;
use sesame_core::service::{AgentAuth, By, Justification, SupportError, Verification};
use sesame_core::types::AccountId;
use uuid::Uuid;

pub fn cookie_name(state: &AppState) -> &'static str {
    if state.settings().is_https() {
        "__Secure-sesame_agent"
    } else {
        "sesame_agent"
    }
}

fn agent_cookie(state: &AppState, token: &str) -> Cookie<'static> {
    Cookie::build((cookie_name(state), token.to_owned()))
        .path("/support")
        .http_only(true)
        .secure(state.settings().is_https())
        .same_site(SameSite::Strict)
        .max_age(sesame_core::service::AGENT_SESSION)
        .build()
}

/// The logged-in agent, from the agent cookie only.
pub struct AgentSession(pub Option<AgentAuth>);

impl FromRequestParts<AppState> for AgentSession {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(token) = crate::session::cookie_value(&parts.headers, cookie_name(state)) else {
            return Ok(Self(None));
        };
        Ok(Self(
            state.services().support().authenticate(&token).await.ok().flatten(),
        ))
    }
}

/// The stable code of a desk error.
fn code_of(err: &SupportError) -> ErrorCode {
    match err {
        SupportError::InvitationInvalid => ErrorCode::RecoveryLinkInvalid,
        SupportError::InvalidCredentials => ErrorCode::LoginInvalidCredentials,
        SupportError::KeysUnavailable => ErrorCode::TwoFactorMethodUnavailable,
        SupportError::EmailTaken => ErrorCode::EmailTaken,
        SupportError::Invalid(_) => ErrorCode::InvalidField,
        SupportError::ReasonRequired => ErrorCode::SupportReasonRequired,
        SupportError::VerificationRequired => ErrorCode::SupportVerificationRequired,
        SupportError::SupervisorOnly => ErrorCode::SupportSupervisorOnly,
        SupportError::SameAgent => ErrorCode::SupportSameAgent,
        SupportError::NotFound => ErrorCode::NotFound,
        SupportError::Throttled => ErrorCode::Throttled,
        SupportError::WrongState => ErrorCode::RecoveryWrongStep,
        SupportError::AccountNotActive => ErrorCode::AccountBlocked,
        SupportError::Recovery(e) => crate::error::ApiError::from(e.clone()).code(),
        SupportError::Hash(e) => crate::error::ApiError::from(e.clone()).code(),
        SupportError::Mail(_) => ErrorCode::InternalError,
        SupportError::Store(e) => crate::error::ApiError::from(e.clone()).code(),
    }
}

/// A console page: never the customer's menu, even when a customer cookie came along.
fn render(mut ctx: PageContext, template: &str, status: StatusCode, extra: Value) -> Response {
    ctx.auth = None;
    ctx.render(template, "support", status, extra)
}

fn to_login(ctx: PageContext) -> Response {
    ctx.redirect("/support/login")
}

#[derive(Deserialize)]
pub struct CredentialsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    /// The browser's time zone (`static/tz.js`): the console's dates read as the agent's clock.
    #[serde(default)]
    tz: String,
    #[serde(default)]
    flow: String,
    #[serde(default)]
    credential: String,
}

pub async fn login_page(ctx: PageContext, AgentSession(agent): AgentSession) -> Response {
    if agent.is_some() {
        return ctx.redirect("/support");
    }
    render(ctx, "support_login.html", StatusCode::OK, context! {})
}

/// Email and password, then the key step.
pub async fn login_submit(
    State(state): State<AppState>,
    mut ctx: PageContext,
    crate::client::Client(client): crate::client::Client,
    HtmlForm(form): HtmlForm<CredentialsForm>,
) -> Response {
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.error(ErrorCode::CsrfRejected);
    }
    if sesame_core::types::time_zone(&form.tz).is_some() {
        ctx.add_cookie(super::zone_cookie(&state, &form.tz));
    }
    match state
        .services()
        .support()
        .begin_login(&form.email, &form.password, client.ip.as_deref())
        .await
    {
        Ok(ceremony) => {
            let extra = context! {
                flow => ceremony.flow.to_string(), options => ceremony.options.to_string(),
                action => "/support/login/key", mode => "get",
            };
            render(ctx, "support_key.html", StatusCode::OK, extra)
        }
        Err(err) => {
            let code = code_of(&err);
            render(
                ctx,
                "support_login.html",
                code.status(),
                context! { error_code => code.as_str() },
            )
        }
    }
}

fn credential_of(form: &CredentialsForm) -> Result<(Uuid, serde_json::Value), SupportError> {
    let flow = Uuid::parse_str(&form.flow).map_err(|_| SupportError::InvalidCredentials)?;
    let credential = serde_json::from_str(&form.credential).map_err(|_| SupportError::InvalidCredentials)?;
    Ok((flow, credential))
}

/// The key's assertion opens the agent session.
pub async fn login_key(
    State(state): State<AppState>,
    mut ctx: PageContext,
    Client(client): Client,
    HtmlForm(form): HtmlForm<CredentialsForm>,
) -> Response {
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.error(ErrorCode::CsrfRejected);
    }
    let support = state.services().support();
    let done = match credential_of(&form) {
        Ok((flow, credential)) => support.finish_login(flow, &credential, &client).await,
        Err(err) => Err(err),
    };
    match done {
        Ok((token, _)) => {
            ctx.add_cookie(agent_cookie(&state, token.expose()));
            ctx.redirect("/support")
        }
        Err(err) => {
            let code = code_of(&err);
            render(
                ctx,
                "support_login.html",
                code.status(),
                context! { error_code => code.as_str() },
            )
        }
    }
}

pub async fn logout(
    State(state): State<AppState>,
    mut ctx: PageContext,
    AgentSession(agent): AgentSession,
    HtmlForm(form): HtmlForm<super::TokenForm>,
) -> Response {
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.error(ErrorCode::CsrfRejected);
    }
    if let Some(agent) = agent
        && let Err(err) = state.services().support().logout(&agent).await
    {
        return ctx.error(crate::error::ApiError::from(err).code());
    }
    let mut removal = agent_cookie(&state, "");
    removal.make_removal();
    ctx.add_cookie(removal);
    ctx.redirect("/support/login")
}

/// SUPPORT-1: an invitation link: the password first.
pub async fn invite_page(State(state): State<AppState>, ctx: PageContext, Path(token): Path<String>) -> Response {
    match state.services().support().invitation(&token).await {
        Ok((agent, _)) => {
            let extra = context! { token => token, agent_name => agent.name, agent_email => agent.email.address() };
            render(ctx, "support_invite.html", StatusCode::OK, extra)
        }
        Err(err) => ctx.error(code_of(&err)),
    }
}

pub async fn invite_submit(
    State(state): State<AppState>,
    ctx: PageContext,
    Path(token): Path<String>,
    HtmlForm(form): HtmlForm<CredentialsForm>,
) -> Response {
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.error(ErrorCode::CsrfRejected);
    }
    match state.services().support().begin_enrolment(&token, &form.password).await {
        Ok(ceremony) => {
            let extra = context! {
                flow => ceremony.flow.to_string(), options => ceremony.options.to_string(),
                action => "/support/invite/key", mode => "create",
            };
            render(ctx, "support_key.html", StatusCode::OK, extra)
        }
        Err(err) => {
            let code = code_of(&err);
            let extra = context! { token => token, error_code => code.as_str(), message => err.to_string() };
            render(ctx, "support_invite.html", code.status(), extra)
        }
    }
}

pub async fn invite_key(
    State(state): State<AppState>,
    ctx: PageContext,
    HtmlForm(form): HtmlForm<CredentialsForm>,
) -> Response {
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.error(ErrorCode::CsrfRejected);
    }
    let support = state.services().support();
    let done = match credential_of(&form) {
        Ok((flow, credential)) => support.finish_enrolment(flow, &credential).await,
        Err(err) => Err(err),
    };
    match done {
        Ok(_) => ctx.redirect("/support/login?enrolled=1"),
        Err(err) => ctx.error(code_of(&err)),
    }
}

/// SUPPORT-2: search, and the requests waiting for review.
pub async fn home(
    State(state): State<AppState>,
    ctx: PageContext,
    AgentSession(agent): AgentSession,
    uri: Uri,
) -> Response {
    let Some(agent) = agent else {
        return to_login(ctx);
    };
    let support = state.services().support();
    let query = query_param(&uri, "q");
    let found = if query.trim().is_empty() {
        Vec::new()
    } else {
        match support.search(&query).await {
            Ok(found) => found,
            Err(err) => return ctx.error(code_of(&err)),
        }
    };
    let results: Vec<_> = found
        .iter()
        .map(|a| {
            context! {
                id => a.id.0.to_string(), nic => a.nic_handle.as_str(), name => format!("{} {}", a.first_name, a.last_name),
                email => sesame_core::service::mask(a.email.address()), state => a.state.as_str(),
            }
        })
        .collect();
    let queue = match support.queue().await {
        Ok(queue) => queue,
        Err(err) => return ctx.error(code_of(&err)),
    };
    let queue: Vec<_> = queue
        .iter()
        .map(|r| context! { id => r.id.to_string(), since => ctx.when(r.updated_at), proposed => r.proposed_by.is_some() })
        .collect();
    let extra = context! {
        agent => agent.agent.name, role => agent.agent.role.as_str(), searched => !query.trim().is_empty(), q => query,
        results => results, queue => queue,
    };
    render(ctx, "support_home.html", StatusCode::OK, extra)
}

fn account_id(raw: &str) -> Option<AccountId> {
    Uuid::parse_str(raw).ok().map(AccountId)
}

/// SUPPORT-2: an account's security summary and the action forms.
pub async fn account_page(
    State(state): State<AppState>,
    ctx: PageContext,
    AgentSession(agent): AgentSession,
    Path(id): Path<String>,
    uri: Uri,
) -> Response {
    let Some(agent) = agent else {
        return to_login(ctx);
    };
    let notice = (query_param(&uri, "done") == "1").then_some("support.done");
    account_render(&state, ctx, &agent, &id, StatusCode::OK, context! { notice => notice }).await
}

async fn account_render(
    state: &AppState,
    ctx: PageContext,
    agent: &AgentAuth,
    id: &str,
    status: StatusCode,
    extra: Value,
) -> Response {
    let Some(id) = account_id(id) else {
        return ctx.error(ErrorCode::NotFound);
    };
    let summary = match state.services().support().summary(id).await {
        Ok(summary) => summary,
        Err(err) => return ctx.error(code_of(&err)),
    };
    let a = &summary.account;
    let devices: Vec<_> = summary
        .two_factor
        .devices
        .iter()
        .map(|d| {
            context! { kind => d.method.as_str(), added => ctx.day(d.created_at),
            used => d.last_used_at.map(|t| ctx.day(t)) }
        })
        .collect();
    let events: Vec<_> = summary
        .events
        .iter()
        .map(|e| {
            context! { at => ctx.when(e.at), kind => e.kind.as_str(), success => e.success,
            ip => &e.ip, by => e.support_agent() }
        })
        .collect();
    let requests: Vec<_> = summary
        .requests
        .iter()
        .map(|r| context! { id => r.id.to_string(), status => r.status.as_str(), at => ctx.when(r.created_at) })
        .collect();
    let extra = context! {
        agent => &agent.agent.name, id => a.id.0.to_string(), nic => a.nic_handle.as_str(),
        name => format!("{} {}", a.first_name, a.last_name), email => sesame_core::service::mask(a.email.address()),
        customer_code => a.customer_code.as_str(), state => a.state.as_str(),
        backup => a.backup_email.as_ref().map(|e| sesame_core::service::mask(e.address())),
        // SUPPORT-2: the number a "called back on the phone on file" check calls, masked until
        // an audited look (`reveal-phone`).
        phone => a.phone.as_deref().map(sesame_core::factor::sms::mask),
        pending_primary => summary.pending_primary.as_ref().map(|c| context! {
            email => sesame_core::service::mask(c.email.address()),
            applies_at => c.applies_at.map(|at| ctx.when(at)),
        }),
        twofa => summary.two_factor.enabled, devices => devices, backup_codes_left => summary.two_factor.backup_codes_left,
        second_factor_failures => summary.second_factor_failures, password_failures => summary.password_failures,
        live_sessions => summary.live_sessions, events => events, requests => requests, ..extra
    };
    render(ctx, "support_account.html", status, extra)
}

#[derive(Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    ticket: String,
    #[serde(default)]
    verification: String,
}

impl ActionForm {
    fn why(&self) -> Justification {
        Justification {
            reason: self.reason.clone(),
            ticket: self.ticket.clone(),
        }
    }
}

/// The agent behind a console form, once its form token is checked (like `form_customer`).
fn form_agent(ctx: &PageContext, agent: Option<AgentAuth>, csrf: &str) -> Result<AgentAuth, ErrorCode> {
    match agent {
        None => Err(ErrorCode::AuthRequired),
        Some(_) if !ctx.csrf_ok(csrf) => Err(ErrorCode::CsrfRejected),
        Some(agent) => Ok(agent),
    }
}

/// SUPPORT-2..4: one action on an account (`block`, `unblock`, `unlock`, `end-sessions`,
/// `promote-backup-email`, `reveal-phone`).
pub async fn account_action(
    State(state): State<AppState>,
    ctx: PageContext,
    AgentSession(agent): AgentSession,
    Client(client): Client,
    Path((id, action)): Path<(String, String)>,
    HtmlForm(form): HtmlForm<ActionForm>,
) -> Response {
    let agent = match form_agent(&ctx, agent, &form.csrf) {
        Ok(agent) => agent,
        Err(ErrorCode::AuthRequired) => return to_login(ctx),
        Err(code) => return ctx.error(code),
    };
    let Some(account) = account_id(&id) else {
        return ctx.error(ErrorCode::NotFound);
    };
    let support = state.services().support();
    let why = form.why();
    let mut revealed = None;
    let result = match action.as_str() {
        "block" => {
            support
                .set_blocked(By::Agent(&agent), account, true, &why, &client)
                .await
        }
        "unblock" => {
            support
                .set_blocked(By::Agent(&agent), account, false, &why, &client)
                .await
        }
        "unlock" => support.unlock(By::Agent(&agent), account, &why, &client).await,
        "end-sessions" => support.end_sessions(By::Agent(&agent), account, &why, &client).await,
        "reveal-phone" => support
            .reveal_phone(By::Agent(&agent), account, &why, &client)
            .await
            .map(|phone| revealed = Some(phone.unwrap_or_default())),
        "promote-backup-email" => {
            let verification = Verification::parse(&form.verification);
            support
                .promote_backup_email(By::Agent(&agent), account, verification, &why, &client)
                .await
        }
        _ => Err(SupportError::NotFound),
    };
    match result {
        // Shown on this answer only: the number is never in a URL or a page that can be reloaded.
        Ok(()) if revealed.is_some() => {
            let extra = context! { phone_revealed => revealed };
            account_render(&state, ctx, &agent, &id, StatusCode::OK, extra).await
        }
        Ok(()) => ctx.redirect(&format!("/support/accounts/{id}?done=1")),
        Err(err) => {
            let code = code_of(&err);
            account_render(
                &state,
                ctx,
                &agent,
                &id,
                code.status(),
                context! { error_code => code.as_str() },
            )
            .await
        }
    }
}

/// SUPPORT-3: a lost-2FA request: its documents (shown inline) and the decision forms.
pub async fn request_page(
    State(state): State<AppState>,
    ctx: PageContext,
    AgentSession(agent): AgentSession,
    Path(id): Path<String>,
    uri: Uri,
) -> Response {
    let Some(agent) = agent else {
        return to_login(ctx);
    };
    let notice = (query_param(&uri, "done") == "1").then_some("support.done");
    request_render(&state, ctx, &agent, &id, StatusCode::OK, context! { notice => notice }).await
}

async fn request_render(
    state: &AppState,
    ctx: PageContext,
    agent: &AgentAuth,
    id: &str,
    status: StatusCode,
    extra: Value,
) -> Response {
    let Ok(request) = Uuid::parse_str(id) else {
        return ctx.error(ErrorCode::NotFound);
    };
    let (found, account, documents) = match state.services().support().review(request).await {
        Ok(review) => review,
        Err(err) => return ctx.error(code_of(&err)),
    };
    let documents: Vec<_> = documents
        .iter()
        .map(|d| {
            context! { id => d.id.to_string(), content_type => &d.content_type, size => d.size,
            image => d.content_type.starts_with("image/") }
        })
        .collect();
    let extra = context! {
        agent => &agent.agent.name, role => agent.agent.role.as_str(), id => id, status_name => found.status.as_str(),
        account_id => account.id.0.to_string(), nic => account.nic_handle.as_str(),
        name => format!("{} {}", account.first_name, account.last_name),
        proposed => found.proposed_by.is_some(), proposed_by_me => found.proposed_by == Some(agent.agent.id),
        proposal_reason => found.reason, ticket => found.ticket, files => documents, ..extra
    };
    render(ctx, "support_request.html", status, extra)
}

/// SUPPORT-3: `propose`, `confirm` or `reject`.
pub async fn request_action(
    State(state): State<AppState>,
    ctx: PageContext,
    AgentSession(agent): AgentSession,
    Client(client): Client,
    Path((id, action)): Path<(String, String)>,
    HtmlForm(form): HtmlForm<ActionForm>,
) -> Response {
    let agent = match form_agent(&ctx, agent, &form.csrf) {
        Ok(agent) => agent,
        Err(ErrorCode::AuthRequired) => return to_login(ctx),
        Err(code) => return ctx.error(code),
    };
    let Ok(request) = Uuid::parse_str(&id) else {
        return ctx.error(ErrorCode::NotFound);
    };
    let support = state.services().support();
    let why = form.why();
    let result = match action.as_str() {
        "propose" => support.propose_approval(&agent, request, &why, &client).await,
        "confirm" => support.confirm_approval(&agent, request, &why, &client).await,
        "reject" => support.reject(&agent, request, &why, &client).await,
        _ => Err(SupportError::NotFound),
    };
    match result {
        Ok(()) => ctx.redirect(&format!("/support/requests/{id}?done=1")),
        Err(err) => {
            let code = code_of(&err);
            request_render(
                &state,
                ctx,
                &agent,
                &id,
                code.status(),
                context! { error_code => code.as_str() },
            )
            .await
        }
    }
}

/// SUPPORT-3: a document, decrypted in memory, shown inline, never stored by the browser, and
/// only to a logged-in agent (the cookie's path and SameSite keep it to the console).
pub async fn document(
    State(state): State<AppState>,
    ctx: PageContext,
    Client(client): Client,
    AgentSession(agent): AgentSession,
    Path((id, document)): Path<(String, String)>,
) -> Response {
    let Some(agent) = agent else {
        return to_login(ctx);
    };
    let (Ok(request), Ok(document)) = (Uuid::parse_str(&id), Uuid::parse_str(&document)) else {
        return ctx.error(ErrorCode::NotFound);
    };
    match state
        .services()
        .support()
        .document(&agent, request, document, &client)
        .await
    {
        Ok((content_type, bytes)) => (
            [
                // An uploader's file, on our origin: a PDF is downloaded, not run by the
                // browser's viewer here; an image shows in a sandbox with nothing else allowed.
                (
                    header::CONTENT_DISPOSITION,
                    if content_type == "application/pdf" {
                        "attachment; filename=\"document.pdf\"".to_owned()
                    } else {
                        "inline".to_owned()
                    },
                ),
                (header::CONTENT_TYPE, content_type),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "sandbox; default-src 'none'; img-src 'self'".to_owned(),
                ),
                (header::CACHE_CONTROL, "no-store".to_owned()),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
                (
                    header::HeaderName::from_static("cross-origin-resource-policy"),
                    "same-origin".to_owned(),
                ),
            ],
            bytes.to_vec(),
        )
            .into_response(),
        Err(err) => ctx.error(code_of(&err)),
    }
}
