//! The session cookie (SESS-1) and the extractor that turns it into an authenticated session.
//!
//! Over HTTPS the cookie is `__Host-sesame_session`: Secure, Path=/, no Domain. When the public URL
//! is plain `http://` (development), browsers refuse `__Host-` and `Secure` cookies there, so it is
//! `sesame_session` without `Secure`. Always HttpOnly and SameSite=Lax.

use crate::AppState;
use crate::error::{ApiError, ErrorCode};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use sesame_core::service::Authenticated;

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

/// The session token presented by the client, if any.
pub fn presented_token(state: &AppState, jar: &CookieJar) -> Option<String> {
    jar.get(cookie_name(state)).map(|c| c.value().to_owned())
}

/// A request with a live session; answers 401 `AUTH_REQUIRED` otherwise.
pub struct CurrentSession(pub Authenticated);

impl FromRequestParts<AppState> for CurrentSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        let token = presented_token(state, &jar).ok_or(ApiError::new(ErrorCode::AuthRequired))?;
        match state.services().login().authenticate(&token).await? {
            Some(auth) => Ok(Self(auth)),
            None => Err(ApiError::new(ErrorCode::AuthRequired)),
        }
    }
}
