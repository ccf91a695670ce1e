//! The session cookie (SESS-1) and the extractor that turns it into an authenticated session.
//!
//! Over HTTPS the cookie is `__Host-sesame_session`: Secure, Path=/, no Domain. When the public URL
//! is plain `http://` (development), browsers refuse `__Host-` and `Secure` cookies there, so it is
//! `sesame_session` without `Secure`. Always HttpOnly and SameSite=Lax.

use crate::AppState;
use crate::error::{ApiError, ErrorCode};
use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::COOKIE;
use axum::http::request::Parts;
use axum_extra::extract::cookie::{Cookie, SameSite};
use sesame_core::service::Authenticated;
use std::sync::Arc;

pub fn cookie_name(state: &AppState) -> &'static str {
    if state.settings().is_https() {
        "__Host-sesame_session"
    } else {
        "sesame_session"
    }
}

/// The `Set-Cookie` for a new session. No Max-Age: the server ends sessions (SESS-2), and a
/// browser-session cookie leaves nothing behind on a shared computer.
pub fn session_cookie(state: &AppState, token: &str) -> Cookie<'static> {
    Cookie::build((cookie_name(state), token.to_owned()))
        .path("/")
        .http_only(true)
        .secure(state.settings().is_https())
        .same_site(SameSite::Lax)
        .build()
}

/// A cookie that removes the session cookie.
pub fn removal_cookie(state: &AppState) -> Cookie<'static> {
    let mut cookie = session_cookie(state, "");
    cookie.make_removal();
    cookie
}

/// The session token presented by the client, if any: every reader of the session cookie (API,
/// pages, logouts) goes through here, so they all agree on which cookie it is.
pub fn presented_token(state: &AppState, headers: &HeaderMap) -> Option<String> {
    cookie_value(headers, cookie_name(state))
}

/// The value of the cookie `name` in the request's `Cookie` headers (the last, if sent twice),
/// without building a jar of every cookie. Names are matched exactly, never percent-decoded: a
/// jar would take `__Host%2Dsesame_session` for `__Host-sesame_session`, and a browser applies
/// the `__Host-` prefix's protections only to the name as written, so anyone able to plant a
/// cookie (a sibling subdomain) could pass one off as the session's. Values are taken as sent:
/// Sesame writes its cookies' values (random tokens) unencoded.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    cookie_values(headers, name).last()
}

/// Every value sent for the cookie `name`, in order, matched as [`cookie_value`] matches.
pub fn cookie_values<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = String> + 'a {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .filter(move |c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// A request with a live session; answers 401 `AUTH_REQUIRED` otherwise.
pub struct CurrentSession(pub Arc<Authenticated>);

impl FromRequestParts<AppState> for CurrentSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = presented_token(state, &parts.headers).ok_or(ApiError::new(ErrorCode::AuthRequired))?;
        match state.services().login().authenticate(&token).await? {
            Some(auth) => Ok(Self(auth)),
            None => Err(ApiError::new(ErrorCode::AuthRequired)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::cookie_value;
    use axum::http::{HeaderMap, HeaderValue, header::COOKIE};

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(COOKIE, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn one_cookie_is_read_by_its_exact_name_the_last_one_sent_winning() {
        let h = headers(&["a=1; sesame_session=abc.def;b=2", "sesame_session=second; c=%20x"]);
        assert_eq!(
            cookie_value(&h, "sesame_session").as_deref(),
            Some("second"),
            "the last one sent"
        );
        assert_eq!(cookie_value(&h, "c").as_deref(), Some("%20x"), "as sent");
        assert_eq!(cookie_value(&h, "a").as_deref(), Some("1"));
        let planted = headers(&["__Host-sesame_session=mine; __Host%2Dsesame_session=planted"]);
        assert_eq!(
            cookie_value(&planted, "__Host-sesame_session").as_deref(),
            Some("mine"),
            "an encoded name is another cookie"
        );
        assert_eq!(cookie_value(&h, "sesame"), None);
        assert_eq!(cookie_value(&headers(&["garbage", "=;;"]), "garbage"), None);
        assert_eq!(cookie_value(&HeaderMap::new(), "a"), None);
    }
}
