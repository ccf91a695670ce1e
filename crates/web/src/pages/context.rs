//! What every page needs from its request: language, subsidiary (with its support phone), the
//! logged-in customer if any, and the form token (OPS-4). The token is an HMAC under the server
//! key (SEC-1) of a random value kept in a cookie, so any node can check it without shared state;
//! forms carry it and every state-changing form request must present it.

use super::negotiate::{LanguageHints, choose_language, own_name, supported};
use super::templates::LANGUAGES;
use crate::AppState;
use crate::error::{ApiError, ErrorCode};
use axum::extract::FromRequestParts;
use axum::http::header::ACCEPT_LANGUAGE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use minijinja::{Value, context};
use sesame_core::random::OsRandom;
use sesame_core::service::Authenticated;
use sesame_core::token::Token;
use sesame_core::types::{SUBSIDIARIES, Subsidiary, subsidiary};
use std::sync::Arc;
use subtle::ConstantTimeEq;

const SUBSIDIARY_COOKIE: &str = "sesame_subsidiary";
const LANGUAGE_COOKIE: &str = "sesame_lang";
/// The time zone the browser named at login (#15 item 8).
pub(crate) const ZONE_COOKIE: &str = "sesame_tz";
const CSRF_PURPOSE: &str = "csrf-form";

fn csrf_cookie_name(state: &AppState) -> &'static str {
    if state.settings().is_https() {
        "__Host-sesame_csrf"
    } else {
        "sesame_csrf"
    }
}

/// The request-derived part of every page.
pub struct PageContext {
    pub lang: &'static str,
    pub subsidiary: &'static Subsidiary,
    pub auth: Option<Arc<Authenticated>>,
    /// This page's address without `lang`, for the language switcher's links.
    here: (String, Vec<(String, String)>),
    /// The browser's time zone, when it named one the database knows.
    zone: Option<jiff::tz::TimeZone>,
    csrf_seed: String,
    cookies: Vec<Cookie<'static>>,
    state: AppState,
}

/// The subsidiary a request names in its query (`subsidiary` or `ovhSubsidiary`).
pub(crate) fn from_query(query: Option<&str>) -> Option<&'static Subsidiary> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == "subsidiary" || k == "ovhSubsidiary")
        .and_then(|(_, v)| subsidiary(&v))
}

/// Language and subsidiary for a request without looking up its session (error pages).
pub fn basic_language(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
) -> (&'static str, &'static Subsidiary) {
    let jar = CookieJar::from_headers(headers);
    let explicit = from_query(query).or_else(|| jar.get(SUBSIDIARY_COOKIE).and_then(|c| subsidiary(c.value())));
    let sub = explicit
        .or_else(|| subsidiary(&state.settings().default_subsidiary))
        .unwrap_or(&SUBSIDIARIES[0]);
    let hints = LanguageHints {
        chosen: chosen_language(query, &jar),
        explicit_subsidiary: explicit.map(|s| s.language),
        accept: headers.get(ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()),
        ..LanguageHints::default()
    };
    (choose_language(hints, sub.language), sub)
}

/// The language picked with the switcher: `?lang=` on this request, else the cookie it left.
fn chosen_language(query: Option<&str>, jar: &CookieJar) -> Option<&'static str> {
    query_value(query, "lang")
        .and_then(|l| supported(&l))
        .or_else(|| jar.get(LANGUAGE_COOKIE).and_then(|c| supported(c.value())))
}

fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

impl FromRequestParts<AppState> for PageContext {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        let auth = match crate::session::presented_token(state, &parts.headers) {
            Some(token) => state
                .services()
                .login()
                .authenticate(&token)
                .await
                .map_err(|e| error_page(state, &parts.headers, parts.uri.query(), ApiError::from(e).code()))?,
            None => None,
        };
        let mut cookies = Vec::new();
        let queried = from_query(parts.uri.query());
        if let Some(sub) = queried
            && jar.get(SUBSIDIARY_COOKIE).map(|c| c.value()) != Some(sub.code)
        {
            cookies.push(plain_cookie(state, SUBSIDIARY_COOKIE, sub.code.to_owned()));
        }
        let account = auth.as_ref().map(|a| &a.account);
        let explicit = queried.or_else(|| jar.get(SUBSIDIARY_COOKIE).and_then(|c| subsidiary(c.value())));
        let sub = explicit
            .or_else(|| account.and_then(|a| subsidiary(&a.subsidiary)))
            .or_else(|| subsidiary(&state.settings().default_subsidiary))
            .unwrap_or(&SUBSIDIARIES[0]);
        let query = parts.uri.query();
        let picked = query_value(query, "lang").and_then(|l| supported(&l));
        if let Some(lang) = picked
            && jar.get(LANGUAGE_COOKIE).map(|c| c.value()) != Some(lang)
        {
            cookies.push(plain_cookie(state, LANGUAGE_COOKIE, lang.to_owned()));
        }
        let hints = LanguageHints {
            chosen: chosen_language(query, &jar),
            account: account.map(|a| a.language.as_str()),
            explicit_subsidiary: explicit.map(|s| s.language),
            accept: parts.headers.get(ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()),
        };
        let lang = choose_language(hints, sub.language);
        let here = (
            parts.uri.path().to_owned(),
            url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .filter(|(k, _)| k != "lang")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        );
        // Read by its exact name, like the session cookie (`session::cookie_value`).
        let csrf_seed = match crate::session::cookie_value(&parts.headers, csrf_cookie_name(state)) {
            Some(seed) if !seed.is_empty() && seed.len() <= 128 => seed,
            _ => {
                let seed = Token::generate(&OsRandom).expose().to_owned();
                cookies.push(plain_cookie(state, csrf_cookie_name(state), seed.clone()));
                seed
            }
        };
        let zone = jar
            .get(ZONE_COOKIE)
            .and_then(|c| sesame_core::types::time_zone(c.value()));
        Ok(Self {
            lang,
            subsidiary: sub,
            auth,
            here,
            zone,
            csrf_seed,
            cookies,
            state: state.clone(),
        })
    }
}

/// A page cookie: HttpOnly, SameSite=Lax, Secure over HTTPS, on the whole site.
pub(crate) fn plain_cookie(state: &AppState, name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .secure(state.settings().is_https())
        .same_site(SameSite::Lax)
        .build()
}

fn csrf_token(state: &AppState, seed: &str) -> String {
    hex_encode(&state.services().key().hmac(CSRF_PURPOSE, seed.as_bytes()))
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl PageContext {
    /// Whether a submitted form token matches this browser's cookie (constant time).
    /// Tokens made under an older server key still pass until the key is dropped (SEC-1).
    pub fn csrf_ok(&self, submitted: &str) -> bool {
        let key = self.state.services().key();
        key.hmacs(CSRF_PURPOSE, self.csrf_seed.as_bytes())
            .iter()
            .any(|expected| bool::from(hex_encode(expected).as_bytes().ct_eq(submitted.as_bytes())))
    }

    /// A time as this customer reads it: their language, their browser's time zone (#15 item 8).
    pub fn when(&self, at: time::OffsetDateTime) -> String {
        sesame_core::types::when_in(at, self.lang, self.zone.as_ref())
    }

    /// A day as this customer reads it.
    pub fn day(&self, at: time::OffsetDateTime) -> String {
        sesame_core::types::day_in(at, self.lang, self.zone.as_ref())
    }

    pub fn add_cookie(&mut self, cookie: Cookie<'static>) {
        self.cookies.push(cookie);
    }

    /// The values every template sees, merged with the page's own.
    pub fn values(&self, page: &str, extra: Value) -> Value {
        let settings = self.state.settings();
        let phone = settings.support_phones.get(self.subsidiary.code).cloned();
        let account = self.auth.as_ref().map(|a| {
            let a = &a.account;
            context! {
                first_name => &a.first_name, last_name => &a.last_name, email => a.email.address(),
                nic_handle => a.nic_handle.as_str(), customer_code => a.customer_code.as_str(),
            }
        });
        let common = context! {
            lang => self.lang,
            brand => &settings.brand_name,
            page => page,
            csrf => csrf_token(&self.state, &self.csrf_seed),
            subsidiary => context! { code => self.subsidiary.code, name => self.subsidiary.name, phone => phone },
            account => account,
            language_links => self.switcher(),
        };
        context! { ..extra, ..common }
    }

    /// The language switcher: every language, with a link to this page in it.
    fn switcher(&self) -> Vec<Value> {
        let (path, params) = &self.here;
        if path.is_empty() {
            return Vec::new();
        }
        LANGUAGES
            .iter()
            .map(|(code, _)| {
                let mut query = url::form_urlencoded::Serializer::new(String::new());
                query.extend_pairs(params.iter()).append_pair("lang", code);
                context! {
                    code => *code, name => own_name(code), current => *code == self.lang,
                    href => format!("{path}?{}", query.finish()),
                }
            })
            .collect()
    }

    /// Renders a page with its status, setting any cookie this request needs.
    pub fn render(self, template: &str, page: &str, status: StatusCode, extra: Value) -> Response {
        match self.state.templates().render(template, self.values(page, extra)) {
            Ok(html) => self.respond(status, html),
            Err(err) => {
                tracing::error!(template, error = %format!("{err:#}"), "template failed");
                ApiError::new(ErrorCode::InternalError).into_response()
            }
        }
    }

    /// An error page for this request.
    pub fn error(self, code: ErrorCode) -> Response {
        let extra = context! { error_code => code.as_str() };
        self.render("error.html", "error", code.status(), extra)
    }

    /// A redirect after a form (303), with this request's cookies.
    pub fn redirect(self, to: &str) -> Response {
        let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response();
        add_cookies(&mut response, self.cookies);
        response
    }

    fn respond(self, status: StatusCode, html: String) -> Response {
        let mut response = (status, Html(html)).into_response();
        add_cookies(&mut response, self.cookies);
        response
    }
}

fn add_cookies(response: &mut Response, cookies: Vec<Cookie<'static>>) {
    for cookie in cookies {
        if let Ok(value) = cookie.encoded().to_string().parse() {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
}

/// An error page rendered without session lookup (fallbacks, rejected requests).
pub fn error_page(state: &AppState, headers: &HeaderMap, query: Option<&str>, code: ErrorCode) -> Response {
    let (lang, sub) = basic_language(state, headers, query);
    let ctx = PageContext {
        lang,
        subsidiary: sub,
        auth: None,
        // An error page offers no language switch: its address may be a form's.
        here: (String::new(), Vec::new()),
        zone: None,
        csrf_seed: String::new(),
        cookies: Vec::new(),
        state: state.clone(),
    };
    ctx.error(code)
}
