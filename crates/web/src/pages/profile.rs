//! The profile page (PANEL-3, ACCT-4): the customer's names, account type and company name,
//! phone and the language of their mail, with the sign-up form's fields and rules; the
//! identifiers and what sets billing (country, currency, region) shown beside, not editable.

use super::context::PageContext;
use super::signup::{ProfileForm, field_id};
use super::templates::LANGUAGES;
use super::{HtmlForm, query_param, to_login};
use crate::AppState;
use crate::client::Client;
use crate::error::{ApiError, ErrorCode};
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;
use sesame_core::ports::Account;
use sesame_core::service::{CreateAccountError, ProfileError, SignupError};
use sesame_core::types::subsidiary;

#[derive(Deserialize)]
pub struct Form {
    #[serde(flatten)]
    profile: ProfileForm,
    #[serde(default)]
    language: String,
}

/// The languages to choose from: Sesame's, and the account's own if it is another.
fn languages(current: &str) -> Vec<minijinja::Value> {
    let mut choices = super::negotiate::language_choices();
    if !LANGUAGES.iter().any(|(code, _)| *code == current) {
        choices.push(context! { code => current, name => current });
    }
    choices
}

fn render(
    ctx: PageContext,
    form: &ProfileForm,
    language: &str,
    error: Option<(ErrorCode, String)>,
    saved: bool,
) -> Response {
    let status = error.as_ref().map_or(StatusCode::OK, |(code, _)| code.status());
    let (error_code, error_field) = error.map_or((None, String::new()), |(code, field)| (Some(code.as_str()), field));
    // What sets billing, by name: the account's own country and region, not the page's.
    let fixed = ctx.auth.as_ref().map(|auth| {
        let a = &auth.account;
        let name = |code: &str| subsidiary(code).map_or_else(|| code.to_owned(), |s| s.name.to_owned());
        context! { country => name(&a.country), currency => &a.currency, region => name(&a.subsidiary) }
    });
    let extra = context! {
        fixed => fixed,
        first_name => &form.first_name, last_name => &form.last_name, account_type => &form.account_type,
        company_name => &form.company_name, phone => &form.phone, language => language,
        languages => languages(language), error_code => error_code, error_field => error_field, saved => saved,
    };
    ctx.render("profile.html", "profile", status, extra)
}

fn form_of(account: &Account) -> ProfileForm {
    ProfileForm {
        csrf: String::new(),
        first_name: account.first_name.clone(),
        last_name: account.last_name.clone(),
        account_type: account.account_type.as_str().to_owned(),
        company_name: account.company_name.clone().unwrap_or_default(),
        phone: account.phone.clone().unwrap_or_default(),
    }
}

pub async fn page(ctx: PageContext, uri: Uri) -> Response {
    let Some(auth) = ctx.auth.clone() else {
        return to_login(ctx, "/profile");
    };
    let saved = query_param(&uri, "saved") == "1";
    render(ctx, &form_of(&auth.account), &auth.account.language, None, saved)
}

pub async fn submit(
    State(state): State<AppState>,
    ctx: PageContext,
    Client(client): Client,
    HtmlForm(form): HtmlForm<Form>,
) -> Response {
    if !ctx.csrf_ok(&form.profile.csrf) {
        return ctx.error(ErrorCode::CsrfRejected);
    }
    let Some(auth) = ctx.auth.clone() else {
        return to_login(ctx, "/profile");
    };
    let saved = match form.profile.input() {
        Ok(profile) => {
            let accounts = state.services().accounts();
            accounts
                .update_profile(&auth, &profile, Some(&form.language), &client)
                .await
        }
        Err(err) => Err(err.into()),
    };
    match saved {
        Ok(_) => ctx.redirect("/profile?saved=1"),
        // Which field, said next to it, with what was typed kept.
        Err(ProfileError::Invalid(CreateAccountError::InvalidField(name))) => {
            let error = (ErrorCode::InvalidField, field_id(name));
            render(ctx, &form.profile, &form.language, Some(error), false)
        }
        Err(ProfileError::Invalid(err)) => ctx.error(ApiError::from(SignupError::from(err)).code()),
        // A new phone number: the password again first (SESS-3), then back here.
        Err(ProfileError::ReauthRequired) => ctx.redirect("/reauth?return_to=%2Fprofile"),
    }
}
