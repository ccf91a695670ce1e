//! RISK-2 device cookie: a browser that logged in once is recognised later, so the owner keeps
//! logging in while an attacker's guesses throttle the account for everyone else.
//!
//! The cookie holds a random id and its HMAC under the server key (SEC-1); the server keeps only
//! the id's hash, per account, after a successful login. It is set (400 days, HttpOnly,
//! SameSite=Lax, `__Host-` over HTTPS) on the response that opens a session, or that binds
//! something to this browser (a sign-up's start, [`BindsDevice`]), when the browser had no valid
//! one; a forged or altered cookie is ignored.

use crate::AppState;
use axum::extract::{Request, State};
use axum::http::header::SET_COOKIE;
use axum::middleware::Next;
use axum::response::Response;
use axum_extra::extract::cookie::{Cookie, SameSite};
use sesame_core::random::OsRandom;
use sesame_core::token::Token;
use std::sync::{Arc, OnceLock};
use subtle::ConstantTimeEq;

const PURPOSE: &str = "device-cookie";

/// The device id a request carries, for the `Client` extractor: the verified one of its cookie,
/// or a new one, made when first asked for (a request that never asks, like a session check,
/// draws no random id).
#[derive(Debug, Clone)]
pub struct Device {
    presented: Option<String>,
    fresh: Arc<OnceLock<String>>,
}

impl Device {
    pub fn id(&self) -> &str {
        match &self.presented {
            Some(id) => id,
            None => self
                .fresh
                .get_or_init(|| Token::generate(&OsRandom).expose().to_owned()),
        }
    }

    /// Whether the browser had no valid device cookie.
    pub fn is_new(&self) -> bool {
        self.presented.is_none()
    }
}

/// Marks a response that bound something to the browser's device id: the cookie is set with it
/// when the browser had none.
#[derive(Debug, Clone, Copy)]
pub struct BindsDevice;

fn cookie_name(state: &AppState) -> &'static str {
    if state.settings().is_https() {
        "__Host-sesame_device"
    } else {
        "sesame_device"
    }
}

fn signature(state: &AppState, id: &str) -> String {
    hex::encode(state.services().key().hmac(PURPOSE, id.as_bytes()))
}

/// The id in a cookie value, if its signature holds under any of the server's keys.
fn verified(state: &AppState, value: &str) -> Option<String> {
    let (id, sig) = value.split_once('.')?;
    let sig = hex::decode(sig).ok()?;
    let ok = state
        .services()
        .key()
        .hmacs(PURPOSE, id.as_bytes())
        .iter()
        .any(|mac| bool::from(mac.as_slice().ct_eq(&sig)));
    ok.then(|| id.to_owned())
}

pub async fn device_cookie(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    // The first value whose signature holds: a cookie planted beside it (plain-HTTP deployments
    // have no `__Host-` prefix) can't make the browser look new.
    let presented =
        crate::session::cookie_values(req.headers(), cookie_name(&state)).find_map(|v| verified(&state, &v));
    let device = Device {
        presented,
        fresh: Arc::default(),
    };
    req.extensions_mut().insert(device.clone());
    let mut response = next.run(req).await;
    let session = crate::session::cookie_name(&state);
    let opens_session = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.starts_with(&format!("{session}=")) && !v.starts_with(&format!("{session}=;")));
    if device.is_new() && (opens_session || response.extensions().get::<BindsDevice>().is_some()) {
        let id = device.id();
        let cookie = Cookie::build((cookie_name(&state), format!("{id}.{}", signature(&state, id))))
            .path("/")
            .http_only(true)
            .secure(state.settings().is_https())
            .same_site(SameSite::Lax)
            .max_age(time::Duration::days(400))
            .build();
        if let Ok(value) = cookie.to_string().parse() {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}
