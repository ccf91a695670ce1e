//! The sign-up pages (SIGNUP-1): step 1 (country, language, currency), step 2 (email, password,
//! then the emailed code with "resend" and "change email"), step 3 (profile), and a new password
//! when the name rule refuses the first. Each page calls the same service as the JSON API.

use super::context::PageContext;
use super::{HtmlForm, query_param, to_json_error};
use crate::AppState;
use crate::client::Client;
use crate::error::ErrorCode;
use crate::session::session_cookie;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use minijinja::{Value, context};
use serde::Deserialize;
use sesame_core::audit::ClientInfo;
use sesame_core::service::{
    CreateAccountError, LoginSuccess, ProfileInput, SignupError, SignupStart, SignupStep, account_type_choice,
};
use sesame_core::types::{SUBSIDIARIES, subsidiary_for_country};
use uuid::Uuid;

const CURRENCIES: [&str; 12] = [
    "EUR", "GBP", "USD", "CAD", "PLN", "CZK", "MAD", "XOF", "TND", "AUD", "SGD", "INR",
];

pub async fn start_page(ctx: PageContext, uri: Uri) -> Response {
    if ctx.auth.is_some() {
        // Logged in already: say so, rather than start a second account by mistake.
        return super::logged_in(ctx, "signup");
    }
    // Countries with a subsidiary of their own (the world subsidiaries are not countries).
    let is_country = |code: &str| code.len() == 2 && !matches!(code, "WE" | "WS" | "QC");
    let countries: Vec<Value> = SUBSIDIARIES
        .iter()
        .filter(|s| is_country(s.code))
        .map(|s| context! { code => s.code, name => s.name })
        .collect();
    let languages = super::negotiate::language_choices();
    // #15 item 7: the subsidiary's own country when it is one; under World or Asia, nothing is
    // chosen for the customer (not France, not the United Kingdom).
    let country = if is_country(ctx.subsidiary.code) {
        ctx.subsidiary.code
    } else {
        ""
    };
    // Sent back from step 2 without a country.
    let missing = query_param(&uri, "missing") == "country";
    let extra = context! {
        countries => countries, languages => languages, currencies => CURRENCIES, country => country,
        error_field => missing.then_some("country"),
    };
    ctx.render("signup_start.html", "signup", StatusCode::OK, extra)
}

pub async fn account_page(State(state): State<AppState>, ctx: PageContext, uri: Uri) -> Response {
    // Step 2 needs what step 1 chose: without a country, start there (never a form that can't
    // succeed).
    let country = query_param(&uri, "country");
    if sesame_core::types::Country::parse(&country).is_none() {
        return ctx.redirect("/signup?missing=country");
    }
    let extra = context! {
        classic_password => classic_for_country(&state, &country),
        country => country,
        language => query_param(&uri, "language"),
        currency => query_param(&uri, "currency"),
        email => "",
    };
    ctx.render("signup_account.html", "signup", StatusCode::OK, extra)
}

#[derive(Deserialize)]
pub struct AccountForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    country: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    currency: String,
}

/// PWD-2: the password rules of the subsidiary a country gives (the classic ones, or not).
fn classic_for_country(state: &AppState, country: &str) -> bool {
    super::classic_password(state, subsidiary_for_country(country.trim()).code)
}

fn field_of(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::EmailInvalid | ErrorCode::EmailNonAscii => "email",
        ErrorCode::SignupInvalidCode => "code",
        ErrorCode::PasswordTooShort
        | ErrorCode::PasswordTooLong
        | ErrorCode::PasswordTooCommon
        | ErrorCode::PasswordContainsPersonalInfo
        | ErrorCode::PasswordMissingCharacterKinds => "password",
        _ => "",
    }
}

pub async fn account_submit(
    State(state): State<AppState>,
    ctx: PageContext,
    Client(client): Client,
    HtmlForm(form): HtmlForm<AccountForm>,
) -> Response {
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.error(ErrorCode::CsrfRejected);
    }
    let non_empty = |s: &str| (!s.trim().is_empty()).then(|| s.to_owned());
    let input = SignupStart {
        email: form.email.clone(),
        password: form.password,
        country: form.country.clone(),
        language: non_empty(&form.language),
        currency: non_empty(&form.currency),
    };
    match state.services().signup().signup_start(input, &client).await {
        // The flow continues only from this browser (its device cookie is set with the redirect).
        Ok(flow) => {
            let mut response = ctx.redirect(&format!("/signup/{flow}"));
            response.extensions_mut().insert(crate::device::BindsDevice);
            response
        }
        Err(err) => {
            let code = to_json_error(err);
            let extra = context! {
                classic_password => classic_for_country(&state, &form.country),
                country => form.country, language => form.language, currency => form.currency,
                email => form.email, error_code => code.as_str(), error_field => field_of(code),
            };
            ctx.render("signup_account.html", "signup", code.status(), extra)
        }
    }
}

/// Renders the page for the step a flow is at, with an optional error or notice.
async fn step_page(
    state: &AppState,
    ctx: PageContext,
    client: &ClientInfo,
    flow: Uuid,
    error: Option<ErrorCode>,
    notice: Option<&str>,
) -> Response {
    let view = match state.services().signup().signup_step(flow, client).await {
        Ok(found) => found,
        Err(err) => return ctx.error(to_json_error(err)),
    };
    let status = error.map_or(StatusCode::OK, ErrorCode::status);
    let extra = context! {
        classic_password => classic_for_country(state, &view.country),
        flow => flow.to_string(), email => view.email, error_code => error.map(ErrorCode::as_str), notice => notice,
        account_type => "individual", country => view.country, language => view.language, currency => view.currency,
        error_field => error.map(field_of),
    };
    let template = match view.step {
        SignupStep::VerifyEmail => "signup_verify.html",
        SignupStep::Profile => "signup_profile.html",
        SignupStep::PasswordRequired => "signup_password.html",
    };
    ctx.render(template, "signup", status, extra)
}

fn parse_flow(raw: &str) -> Option<Uuid> {
    Uuid::parse_str(raw).ok()
}

pub async fn flow_page(
    State(state): State<AppState>,
    ctx: PageContext,
    Client(client): Client,
    Path(flow): Path<String>,
) -> Response {
    match parse_flow(&flow) {
        Some(flow) => step_page(&state, ctx, &client, flow, None, None).await,
        None => ctx.error(ErrorCode::SignupFlowNotFound),
    }
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

pub async fn verify_submit(
    State(state): State<AppState>,
    ctx: PageContext,
    Client(client): Client,
    Path(flow): Path<String>,
    HtmlForm(form): HtmlForm<CodeForm>,
) -> Response {
    let Some(flow) = parse_flow(&flow) else {
        return ctx.error(ErrorCode::SignupFlowNotFound);
    };
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.error(ErrorCode::CsrfRejected);
    }
    match state.services().signup().signup_verify(flow, &form.code, &client).await {
        Ok(_) => ctx.redirect(&format!("/signup/{flow}")),
        Err(err) => step_page(&state, ctx, &client, flow, Some(to_json_error(err)), None).await,
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn resend_submit(
    State(state): State<AppState>,
    ctx: PageContext,
    Client(client): Client,
    Path(flow): Path<String>,
    HtmlForm(form): HtmlForm<CsrfForm>,
) -> Response {
    let Some(flow) = parse_flow(&flow) else {
        return ctx.error(ErrorCode::SignupFlowNotFound);
    };
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.error(ErrorCode::CsrfRejected);
    }
    match state.services().signup().signup_resend(flow, &client).await {
        Ok(()) => step_page(&state, ctx, &client, flow, None, Some("signup.resent")).await,
        Err(err) => step_page(&state, ctx, &client, flow, Some(to_json_error(err)), None).await,
    }
}

/// The form field an invalid profile field is shown beside (`first name` → `first_name`).
pub(super) fn field_id(name: &str) -> String {
    name.replace(' ', "_").replace("_number", "")
}

/// ACCT-4's fields as the sign-up and profile forms post them.
#[derive(Deserialize)]
pub struct ProfileForm {
    #[serde(default)]
    pub(super) csrf: String,
    #[serde(default)]
    pub(super) first_name: String,
    #[serde(default)]
    pub(super) last_name: String,
    #[serde(default)]
    pub(super) account_type: String,
    #[serde(default)]
    pub(super) company_name: String,
    #[serde(default)]
    pub(super) phone: String,
}

impl ProfileForm {
    /// The profile as the engine takes it; an account type the form never offers is refused
    /// (not read as an individual).
    pub(super) fn input(&self) -> Result<ProfileInput, CreateAccountError> {
        let account_type = account_type_choice(Some(self.account_type.trim()))?;
        Ok(ProfileInput {
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            account_type,
            company_name: Some(self.company_name.clone()),
            phone: Some(self.phone.clone()),
        })
    }
}

pub async fn profile_submit(
    State(state): State<AppState>,
    ctx: PageContext,
    Client(client): Client,
    Path(flow): Path<String>,
    HtmlForm(form): HtmlForm<ProfileForm>,
) -> Response {
    let Some(flow) = parse_flow(&flow) else {
        return ctx.error(ErrorCode::SignupFlowNotFound);
    };
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.error(ErrorCode::CsrfRejected);
    }
    let done = match form.input() {
        Ok(profile) => state.services().signup().signup_profile(flow, profile, &client).await,
        Err(err) => Err(err.into()),
    };
    match done {
        Ok(done) => logged_in(&state, ctx, done),
        Err(SignupError::Password(p)) => {
            step_page(
                &state,
                ctx,
                &client,
                flow,
                Some(to_json_error(SignupError::Password(p))),
                None,
            )
            .await
        }
        Err(err) => {
            // Which field, said next to it (#15 item 1).
            let field = match &err {
                SignupError::InvalidField(name) => field_id(name),
                _ => String::new(),
            };
            let code = to_json_error(err);
            let extra = context! {
                flow => flow.to_string(), error_code => code.as_str(), error_field => field, first_name => form.first_name,
                last_name => form.last_name, account_type => form.account_type, company_name => form.company_name,
                phone => form.phone,
            };
            ctx.render("signup_profile.html", "signup", code.status(), extra)
        }
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
}

pub async fn password_submit(
    State(state): State<AppState>,
    ctx: PageContext,
    Client(client): Client,
    Path(flow): Path<String>,
    HtmlForm(form): HtmlForm<PasswordForm>,
) -> Response {
    let Some(flow) = parse_flow(&flow) else {
        return ctx.error(ErrorCode::SignupFlowNotFound);
    };
    if !ctx.csrf_ok(&form.csrf) {
        return ctx.error(ErrorCode::CsrfRejected);
    }
    match state
        .services()
        .signup()
        .signup_password(flow, &form.password, &client)
        .await
    {
        Ok(done) => logged_in(&state, ctx, done),
        Err(err) => step_page(&state, ctx, &client, flow, Some(to_json_error(err)), None).await,
    }
}

fn logged_in(state: &AppState, mut ctx: PageContext, done: LoginSuccess) -> Response {
    ctx.add_cookie(session_cookie(state, done.token.expose()));
    ctx.redirect("/")
}
