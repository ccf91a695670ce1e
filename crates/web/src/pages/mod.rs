//! The HTML pages: login (LOGIN-1, LOGIN-5, LOGIN-6), the recovery explanation, and the control
//! panel (PANEL-1 name menu, home, security). They call the same services as the JSON API and work
//! without JavaScript. Every form carries the CSRF token and passes the Origin check (OPS-4).

pub(crate) mod context;
mod dev;
mod email_step;
pub(crate) mod negotiate;
mod profile;
mod recovery;
pub(crate) mod return_to;
mod second_step;
mod signup;
pub(crate) mod support;
pub mod templates;
mod two_factor;

pub use context::error_page;

use crate::AppState;
use crate::client::Client;
use crate::error::ErrorCode;
use crate::session::{presented_token, removal_cookie, session_cookie};
use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum_extra::extract::cookie::CookieJar;
use context::PageContext;
use minijinja::context;
use return_to::safe_return_to;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sesame_core::service::{LoginError, LoginOutcome, LoginSuccess, SignupError, TwoFactorError};

pub fn routes(max_upload_body: usize) -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/security", get(security))
        .route("/profile", get(profile::page).post(profile::submit))
        .route("/login", get(login_page).post(login_submit))
        .route("/logout", axum::routing::post(logout))
        .route("/recover", get(recovery::recover_page).post(recovery::recover_submit))
        .route("/recover/lost-2fa", get(recovery::lost_page).post(recovery::lost_start))
        .route("/recover/request/{id}", get(recovery::request_page))
        .route(
            "/recover/request/{id}/documents",
            axum::routing::post(recovery::request_upload).layer(axum::extract::DefaultBodyLimit::max(max_upload_body)),
        )
        .route(
            "/recover/request/{id}/submit",
            axum::routing::post(recovery::request_submit),
        )
        .route(
            "/recovery/confirm",
            get(recovery::confirm_link_page).post(recovery::confirm_link_submit),
        )
        .route(
            "/password-reset/{token}",
            get(recovery::reset_page).post(recovery::reset_submit),
        )
        .route(
            "/email-change/cancel",
            get(recovery::cancel_link_page).post(recovery::cancel_link_submit),
        )
        .route(
            "/security/password",
            get(recovery::password_page).post(recovery::password_submit),
        )
        .route(
            "/security/backup-email",
            get(recovery::backup_page).post(recovery::backup_set),
        )
        .route(
            "/security/backup-email/verify",
            axum::routing::post(recovery::backup_verify),
        )
        .route(
            "/security/backup-email/remove",
            axum::routing::post(recovery::backup_remove),
        )
        .route("/security/email", get(recovery::email_page).post(recovery::email_start))
        .route(
            "/security/email/{id}/confirm",
            axum::routing::post(recovery::email_confirm),
        )
        .route(
            "/security/email/{id}/cancel",
            axum::routing::post(recovery::email_cancel),
        )
        .route("/security/totp", axum::routing::post(two_factor::add_app))
        .route("/security/sms", axum::routing::post(two_factor::add_phone))
        .route(
            "/security/devices/{id}/enable",
            axum::routing::post(two_factor::enable_device),
        )
        .route(
            "/security/devices/{id}/remove",
            axum::routing::post(two_factor::remove_device),
        )
        .route(
            "/security/devices/{id}/code",
            axum::routing::post(two_factor::send_device_code),
        )
        .route("/security/ip/default", axum::routing::post(ip_default))
        .route("/security/ip/add", axum::routing::post(ip_add))
        .route("/security/ip/remove", axum::routing::post(ip_remove))
        .route("/security/sessions/{id}/end", axum::routing::post(end_session))
        .route("/security/sessions/end-others", axum::routing::post(end_other_sessions))
        .route(
            "/security/known-devices/{id}/forget",
            axum::routing::post(forget_device),
        )
        .route("/login/{flow}/code", axum::routing::post(second_step::send_code))
        .route("/login/{flow}/email", get(email_step::page).post(email_step::submit))
        .route("/login/{flow}/email/resend", axum::routing::post(email_step::resend))
        .route(
            "/security/totp/{id}/enable",
            axum::routing::post(two_factor::enable_device),
        )
        .route(
            "/security/totp/{id}/remove",
            axum::routing::post(two_factor::remove_device),
        )
        .route("/security/backup-codes", axum::routing::post(two_factor::regenerate))
        .route("/reauth", get(two_factor::reauth_page).post(two_factor::reauth_submit))
        .route("/unlock", get(two_factor::unlock_page).post(two_factor::unlock_submit))
        .route("/not-me", get(two_factor::not_me_page).post(two_factor::not_me_submit))
        .route("/login/{flow}", get(second_step::page).post(second_step::submit))
        .route("/security/notifications", axum::routing::post(notifications))
        .route("/signup", get(signup::start_page))
        .route(
            "/signup/account",
            get(signup::account_page).post(signup::account_submit),
        )
        .route("/signup/{flow}", get(signup::flow_page))
        .route("/signup/{flow}/verify", axum::routing::post(signup::verify_submit))
        .route("/signup/{flow}/resend", axum::routing::post(signup::resend_submit))
        .route("/signup/{flow}/profile", axum::routing::post(signup::profile_submit))
        .route("/signup/{flow}/password", axum::routing::post(signup::password_submit))
        .route("/support", get(support::home))
        .route("/support/login", get(support::login_page).post(support::login_submit))
        .route("/support/login/key", axum::routing::post(support::login_key))
        .route("/support/logout", axum::routing::post(support::logout))
        .route(
            "/support/invite/{token}",
            get(support::invite_page).post(support::invite_submit),
        )
        .route("/support/invite/key", axum::routing::post(support::invite_key))
        .route("/support/accounts/{id}", get(support::account_page))
        .route(
            "/support/accounts/{id}/{action}",
            axum::routing::post(support::account_action),
        )
        .route("/support/requests/{id}", get(support::request_page))
        .route(
            "/support/requests/{id}/{action}",
            axum::routing::post(support::request_action),
        )
        .route("/support/requests/{id}/documents/{document}", get(support::document))
        .route("/dev/mail", get(dev::mail))
        .route("/dev/mail/{stem}", get(dev::mail_html))
        .route("/dev/sms", get(dev::sms))
        .route("/static/{file}", get(static_file))
}

/// A query parameter of a page's URL (empty when absent).
pub(crate) fn query_param(uri: &Uri, key: &str) -> String {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// A form body; a malformed one gets an error page with a code, never a panic.
pub struct HtmlForm<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for HtmlForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let headers = req.headers().clone();
        let query = req.uri().query().map(str::to_owned);
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(value)) => Ok(Self(value)),
            Err(rejection) => {
                let code = match &rejection {
                    FormRejection::InvalidFormContentType(_) => ErrorCode::UnsupportedContentType,
                    other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::BodyTooLarge,
                    _ => ErrorCode::InvalidRequest,
                };
                Err(error_page(state, &headers, query.as_deref(), code))
            }
        }
    }
}

/// PWD-2: whether a new password of an account of `subsidiary` follows the classic policy, so
/// that the page's hint and strength meter state the rules that apply.
pub(super) fn classic_password(state: &AppState, subsidiary: &str) -> bool {
    state.services().settings().password_policy.is_classic(subsidiary)
}

/// Where a logged-out visitor of a panel page goes: the login page, coming back afterwards.
pub(super) fn to_login(ctx: PageContext, path: &str) -> Response {
    let target = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("return_to", path)
        .finish();
    ctx.redirect(&format!("/login?{target}"))
}

/// RECOVER-6: after support promoted the backup email, a new one comes before anything else.
fn backup_email_due(ctx: &PageContext) -> bool {
    ctx.auth.as_ref().is_some_and(|a| a.account.backup_email_required)
}

async fn home(ctx: PageContext) -> Response {
    if ctx.auth.is_none() {
        return to_login(ctx, "/");
    }
    if backup_email_due(&ctx) {
        return ctx.redirect("/security/backup-email");
    }
    ctx.render("home.html", "home", StatusCode::OK, context! {})
}

async fn security(State(state): State<AppState>, ctx: PageContext, Client(client): Client, uri: Uri) -> Response {
    let Some(auth) = &ctx.auth else {
        return to_login(ctx, "/security");
    };
    if backup_email_due(&ctx) {
        return ctx.redirect("/security/backup-email");
    }
    let contact = match state.services().recovery().contact(&auth.account).await {
        Ok(contact) => contact,
        Err(err) => return ctx.error(crate::error::ApiError::from(err).code()),
    };
    let notifications = auth.account.login_notifications;
    // Which section a change was saved in: `1` for notifications, `2fa` for devices.
    let saved = query_param(&uri, "saved");
    let summary = match state.services().devices().two_factor_summary(&auth.account).await {
        Ok(summary) => summary,
        Err(err) => return ctx.error(crate::error::ApiError::from(err).code()),
    };
    let sent = query_param(&uri, "sent");
    let devices: Vec<_> = summary
        .devices
        .iter()
        .map(|d| {
            context! {
                id => d.id.to_string(), kind => d.method.as_str(), description => &d.description,
                created => ctx.day(d.created_at),
                last_used => d.last_used_at.map(|t| ctx.day(t)),
                code_sent => sent == d.id.to_string(),
            }
        })
        .collect();
    // An error from a change made on this page (`?error=CODE`), shown beside its section.
    let asked = query_param(&uri, "error");
    let error = ErrorCode::ALL
        .into_iter()
        .find(|c| c.as_str() == asked)
        .map(ErrorCode::as_str);
    // Which section the error belongs to: the IP restriction's, or two-factor's.
    let section = query_param(&uri, "section");
    let login = state.services().login();
    let (sessions, known, events) = match tokio::try_join!(
        login.sessions(auth),
        login.known_devices(auth, &client),
        login.activity(auth)
    ) {
        Ok(found) => found,
        Err(err) => return ctx.error(crate::error::ApiError::from(err).code()),
    };
    let sessions: Vec<_> = sessions
        .iter()
        .map(|v| {
            context! {
                id => v.id.to_string(), current => v.current, ip => &v.ip, device => &v.device,
                created => ctx.when(v.created_at),
                last_seen => ctx.when(v.last_seen_at),
            }
        })
        .collect();
    let known: Vec<_> = known
        .iter()
        .map(|v| {
            context! {
                id => &v.id, current => v.current,
                created => ctx.day(v.created_at),
                last_seen => ctx.day(v.last_seen_at),
            }
        })
        .collect();
    let here = crate::api::activity::this_browser(&client);
    let events: Vec<_> = events
        .iter()
        .take(20)
        .map(|e| {
            context! {
                at => ctx.when(e.at), kind => e.kind.as_str(), success => e.success,
                by => e.support_agent(), this_browser => here.is_some() && e.device == here,
                staff => matches!(e.actor, sesame_core::audit::Actor::Support | sesame_core::audit::Actor::Operator),
                ip => &e.ip, device => sesame_core::service::device_description(e.user_agent.as_deref()),
            }
        })
        .collect();
    let ip_rules = match login.ip_rules(&auth.account).await {
        Ok(rules) => rules,
        Err(err) => return ctx.error(crate::error::ApiError::from(err).code()),
    };
    let rules: Vec<_> = ip_rules
        .rules
        .iter()
        .map(|r| context! { cidr => &r.cidr, action => action_name(r.action), alert => r.alert })
        .collect();
    let extra = context! {
        ip_default => action_name(ip_rules.default), ip_rules => rules, client_ip => client.ip.clone(),
        sessions => sessions, known_devices => known, events => events,
        login_notifications => notifications, saved => saved,
        twofa_enabled => summary.enabled, devices => devices, backup_codes_left => summary.backup_codes_left, backup_codes_low => summary.backup_codes_low,
        security_keys => summary.security_keys_available, sms => summary.sms_available,
        error_code => error.filter(|_| section != "ip"), ip_error_code => error.filter(|_| section == "ip"),
        backup_email => contact.backup_email, pending_backup => contact.pending_backup,
        pending_email => contact.pending_primary.map(|p| p.email),
    };
    ctx.render("security.html", "security", StatusCode::OK, extra)
}

/// The stable code a failed sign-up step shows.
fn to_json_error(err: SignupError) -> ErrorCode {
    crate::error::ApiError::from(err).code()
}

#[derive(Deserialize)]
struct ToggleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    enabled: String,
}

#[derive(Deserialize)]
pub(super) struct TokenForm {
    #[serde(default)]
    pub(super) csrf: String,
}

/// The customer behind a security-page form, once its form token is checked.
pub(super) fn form_customer(
    ctx: &PageContext,
    csrf: &str,
) -> Result<std::sync::Arc<sesame_core::service::Authenticated>, ErrorCode> {
    if !ctx.csrf_ok(csrf) {
        return Err(ErrorCode::CsrfRejected);
    }
    ctx.auth.clone().ok_or(ErrorCode::AuthRequired)
}

/// Back to the sessions section after a change there.
fn sessions_done(ctx: PageContext, result: Result<bool, sesame_core::ports::StoreError>) -> Response {
    match result {
        Ok(_) => ctx.redirect("/security?saved=sessions#sec-sessions"),
        Err(err) => ctx.error(crate::error::ApiError::from(err).code()),
    }
}

/// SESS-4: ends one of the customer's other sessions.
async fn end_session(
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
    let Ok(id) = uuid::Uuid::parse_str(&id) else {
        return ctx.error(ErrorCode::NotFound);
    };
    let result = state.services().login().end_own_session(&auth, id, &client).await;
    sessions_done(ctx, result)
}

/// SESS-4: ends every session but this one.
async fn end_other_sessions(
    State(state): State<AppState>,
    ctx: PageContext,
    Client(client): Client,
    HtmlForm(form): HtmlForm<TokenForm>,
) -> Response {
    let auth = match form_customer(&ctx, &form.csrf) {
        Ok(auth) => auth,
        Err(code) => return ctx.error(code),
    };
    let result = state.services().login().end_other_sessions(&auth, &client).await;
    sessions_done(ctx, result.map(|n| n > 0))
}

/// RISK-2: forgets a known device.
async fn forget_device(
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
    let result = state.services().login().forget_device(&auth, &id, &client).await;
    sessions_done(ctx, result)
}

fn action_name(action: sesame_core::ip_rules::Action) -> &'static str {
    match action {
        sesame_core::ip_rules::Action::Allow => "allow",
        sesame_core::ip_rules::Action::Deny => "deny",
    }
}

#[derive(Deserialize)]
struct IpForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    cidr: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    alert: String,
}

/// RISK-3: one change to the IP restriction from the security page (the default, a rule added or
/// removed), saved whole; errors come back beside the section.
async fn change_ip_rules(
    state: &AppState,
    ctx: PageContext,
    client: &sesame_core::audit::ClientInfo,
    form: &IpForm,
    change: impl FnOnce(&mut sesame_core::ip_rules::IpRules),
) -> Response {
    let auth = match form_customer(&ctx, &form.csrf) {
        Ok(auth) => auth,
        Err(code) => return ctx.error(code),
    };
    let login = state.services().login();
    let mut rules = match login.ip_rules(&auth.account).await {
        Ok(rules) => rules,
        Err(err) => return ctx.error(crate::error::ApiError::from(err).code()),
    };
    change(&mut rules);
    match login.set_ip_rules(&auth, rules, client).await {
        Ok(_) => ctx.redirect("/security?saved=ip#sec-ip"),
        Err(sesame_core::service::IpRestrictionError::Fresh(TwoFactorError::ReauthRequired)) => {
            ctx.redirect("/reauth?return_to=%2Fsecurity")
        }
        Err(err) => {
            let code = crate::error::ApiError::from(err).code();
            ctx.redirect(&format!("/security?error={}&section=ip#sec-ip", code.as_str()))
        }
    }
}

fn form_action(raw: &str) -> sesame_core::ip_rules::Action {
    if raw == "deny" {
        sesame_core::ip_rules::Action::Deny
    } else {
        sesame_core::ip_rules::Action::Allow
    }
}

async fn ip_default(
    State(state): State<AppState>,
    ctx: PageContext,
    Client(client): Client,
    HtmlForm(form): HtmlForm<IpForm>,
) -> Response {
    let action = form_action(&form.action);
    change_ip_rules(&state, ctx, &client, &form, |rules| rules.default = action).await
}

async fn ip_add(
    State(state): State<AppState>,
    ctx: PageContext,
    Client(client): Client,
    HtmlForm(form): HtmlForm<IpForm>,
) -> Response {
    let rule = sesame_core::ip_rules::IpRule {
        cidr: form.cidr.clone(),
        action: form_action(&form.action),
        alert: form.alert == "on",
    };
    change_ip_rules(&state, ctx, &client, &form, |rules| rules.rules.push(rule)).await
}

async fn ip_remove(
    State(state): State<AppState>,
    ctx: PageContext,
    Client(client): Client,
    HtmlForm(form): HtmlForm<IpForm>,
) -> Response {
    let cidr = form.cidr.clone();
    change_ip_rules(&state, ctx, &client, &form, |rules| {
        rules.rules.retain(|r| r.cidr != cidr)
    })
    .await
}

/// LOGIN-4: switch login notifications from the security page.
async fn notifications(
    State(state): State<AppState>,
    ctx: PageContext,
    Client(client): Client,
    HtmlForm(form): HtmlForm<ToggleForm>,
) -> Response {
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.error(ErrorCode::CsrfRejected);
    }
    let Some(auth) = &ctx.auth else {
        return to_login(ctx, "/security");
    };
    let on = form.enabled == "on";
    match state
        .services()
        .login()
        .set_login_notifications(auth, on, &client)
        .await
    {
        Ok(_) => ctx.redirect("/security?saved=1"),
        Err(TwoFactorError::ReauthRequired) => ctx.redirect("/reauth?return_to=%2Fsecurity"),
        Err(err) => ctx.error(crate::error::ApiError::from(err).code()),
    }
}

fn email_only(state: &AppState, ctx: &PageContext) -> bool {
    state
        .services()
        .settings()
        .email_only_subsidiaries
        .iter()
        .any(|s| s.eq_ignore_ascii_case(ctx.subsidiary.code))
}

/// The cookie that keeps the identifier typed at the password step while the next step lasts, so
/// that "Log in again" doesn't ask for it twice (only on `/login`, for 15 minutes).
const LOGIN_HINT: &str = "sesame_login_hint";

/// The browser's time zone, kept a year (not personal data worth a session: only how to show
/// dates).
pub(super) fn zone_cookie(state: &AppState, zone: &str) -> axum_extra::extract::cookie::Cookie<'static> {
    let mut cookie = context::plain_cookie(state, context::ZONE_COOKIE, zone.to_owned());
    cookie.set_max_age(time::Duration::days(365));
    cookie
}

/// The end of a login in the browser: the session's cookie, the kept identifier forgotten, and on
/// to where the customer was going; when support promoted the backup email (RECOVER-6), a new one
/// comes first, whatever the destination, and the customer goes on there afterwards.
pub(super) fn after_login(state: &AppState, mut ctx: PageContext, success: &LoginSuccess, return_to: &str) -> Response {
    ctx.add_cookie(session_cookie(state, success.token.expose()));
    ctx.add_cookie(forget_login_hint(state));
    let to = safe_return_to(return_to, state.settings()).unwrap_or_else(|| "/".to_owned());
    if success.account.backup_email_required {
        return ctx.redirect(&recovery::backup_page_url().append_pair("return_to", &to).finish());
    }
    ctx.redirect(&to)
}

/// Forgets the kept identifier once logged in or out.
pub(crate) fn forget_login_hint(state: &AppState) -> axum_extra::extract::cookie::Cookie<'static> {
    let mut cookie = login_hint_cookie(state, "");
    cookie.make_removal();
    cookie
}

fn login_hint_cookie(state: &AppState, login: &str) -> axum_extra::extract::cookie::Cookie<'static> {
    let mut cookie = context::plain_cookie(state, LOGIN_HINT, login.trim().chars().take(254).collect());
    cookie.set_path("/login");
    cookie.set_max_age(time::Duration::minutes(15));
    cookie
}

/// The page a logged-in customer gets at `/login` or `/signup` (`page`): who is logged in, the way
/// to the control panel, and a logout button to use another account.
fn logged_in(ctx: PageContext, page: &str) -> Response {
    let Some(account) = ctx.auth.as_ref().map(|a| a.account.clone()) else {
        return ctx.redirect("/");
    };
    let extra = context! {
        name => format!("{} {}", account.first_name, account.last_name),
        nic => account.nic_handle.as_str(),
        title_key => format!("{page}.title"),
        message_key => format!("{page}.logged_in"),
    };
    ctx.render("logged_in.html", page, StatusCode::OK, extra)
}

async fn login_page(State(state): State<AppState>, jar: CookieJar, ctx: PageContext, uri: Uri) -> Response {
    let return_to = query_param(&uri, "return_to");
    let safe = safe_return_to(&return_to, state.settings()).unwrap_or_default();
    if ctx.auth.is_some() {
        // Sent here by a page: carry on there. Came on purpose: say who is logged in already.
        return if safe.is_empty() {
            logged_in(ctx, "login")
        } else {
            ctx.redirect(&safe)
        };
    }
    // Why the visitor is here: sent by a page that needs a login, or just logged out.
    let notice = if query_param(&uri, "logged_out") == "1" {
        Some("login.logged_out")
    } else if !safe.is_empty() && safe != "/" {
        Some("login.to_continue")
    } else {
        None
    };
    // "Log in again" after a second step that failed or expired: the identifier is kept.
    let login = jar.get(LOGIN_HINT).map(|c| c.value().to_owned()).unwrap_or_default();
    let extra =
        context! { return_to => safe, login => login, email_only => email_only(&state, &ctx), notice => notice };
    ctx.render("login.html", "login", StatusCode::OK, extra)
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    login: String,
    /// The browser's time zone (IANA name), filled in by a script; dates follow it.
    #[serde(default)]
    tz: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    return_to: String,
}

async fn login_submit(
    State(state): State<AppState>,
    mut ctx: PageContext,
    Client(client): Client,
    HtmlForm(form): HtmlForm<LoginForm>,
) -> Response {
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.error(ErrorCode::CsrfRejected);
    }
    let email_only = email_only(&state, &ctx);
    // #15 item 8: dates follow the time zone the browser names (the database must know it).
    if sesame_core::types::time_zone(&form.tz).is_some() {
        ctx.add_cookie(zone_cookie(&state, &form.tz));
    }
    // An empty field is asked for, not judged "incorrect".
    let missing = if form.login.trim().is_empty() {
        Some("login")
    } else if form.password.is_empty() {
        Some("password")
    } else {
        None
    };
    if let Some(field) = missing {
        let safe = safe_return_to(&form.return_to, state.settings()).unwrap_or_default();
        let extra = context! {
            return_to => safe, login => form.login, email_only => email_only,
            error => format!("missing_{field}"), error_field => field, error_code => ErrorCode::InvalidField.as_str(),
        };
        return ctx.render("login.html", "login", StatusCode::UNPROCESSABLE_ENTITY, extra);
    }
    let result = state
        .services()
        .login()
        .login(&form.login, &form.password, Some(ctx.subsidiary.code), &client)
        .await;
    state.metrics().login(crate::metrics::login_outcome(&result));
    let mut wait = None;
    let (error, status) = match result {
        Ok(LoginOutcome::LoggedIn(success)) => return after_login(&state, ctx, &success, &form.return_to),
        Ok(LoginOutcome::EmailCode(step)) => {
            // LOGIN-3: no session yet; the code step keeps where to go afterwards.
            let to = safe_return_to(&form.return_to, state.settings()).unwrap_or_default();
            ctx.add_cookie(login_hint_cookie(&state, &form.login));
            return ctx.redirect(&email_step::location(step.flow, &to));
        }
        Ok(LoginOutcome::SecondFactor(step)) => {
            ctx.add_cookie(login_hint_cookie(&state, &form.login));
            // LOGIN-2: no session yet; the second step keeps where to go afterwards.
            let to = safe_return_to(&form.return_to, state.settings()).unwrap_or_default();
            return ctx.redirect(&second_step::location(&step, &to));
        }
        Err(LoginError::InvalidCredentials) => ("invalid", ErrorCode::LoginInvalidCredentials),
        Err(LoginError::Blocked) => ("blocked", ErrorCode::AccountBlocked),
        Err(LoginError::PasswordTooLong) => ("too_long", ErrorCode::PasswordTooLong),
        Err(LoginError::IpDenied) => ("ip_denied", ErrorCode::LoginIpDenied),
        Err(LoginError::Throttled { retry_after }) => {
            wait = Some(retry_after.whole_seconds().max(1));
            ("throttled", ErrorCode::Throttled)
        }
        Err(other) => match crate::error::ApiError::from(other).code() {
            ErrorCode::ServiceBusy => ("busy", ErrorCode::ServiceBusy),
            ErrorCode::ServiceUnavailable => ("unavailable", ErrorCode::ServiceUnavailable),
            code => return ctx.error(code),
        },
    };
    let safe = safe_return_to(&form.return_to, state.settings()).unwrap_or_default();
    let extra = context! {
        return_to => safe, login => form.login, email_only => email_only,
        error => error, error_code => status.as_str(),
    };
    let mut response = ctx.render("login.html", "login", status.status(), extra);
    if status.status() == StatusCode::SERVICE_UNAVAILABLE {
        wait = Some(1);
    }
    if let Some(seconds) = wait {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
    }
    response
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    mut ctx: PageContext,
    Client(client): Client,
    headers: axum::http::HeaderMap,
    HtmlForm(form): HtmlForm<CsrfOnly>,
) -> Response {
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.error(ErrorCode::CsrfRejected);
    }
    if let Some(token) = presented_token(&state, &headers)
        && let Err(err) = state.services().login().logout(&token, &client).await
    {
        return ctx.error(crate::error::ApiError::from(err).code());
    }
    ctx.add_cookie(removal_cookie(&state));
    ctx.add_cookie(forget_login_hint(&state));
    ctx.redirect("/login?logged_out=1")
}

async fn static_file(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let Some(bytes) = state.templates().static_file(&file) else {
        // A stylesheet or script the page asked for: the code, without a page around it.
        return crate::error::ApiError::new(ErrorCode::NotFound).into_response();
    };
    let content_type = match file.rsplit_once('.').map(|(_, ext)| ext) {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        bytes,
    )
        .into_response()
}
