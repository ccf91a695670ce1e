//! Who is calling: the peer address and User-Agent, for the audit log and (later) risk signals.
//! The peer address is the TCP peer; forwarded headers are not trusted.

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::USER_AGENT;
use axum::http::request::Parts;
use sesame_core::audit::ClientInfo;
use std::convert::Infallible;
use std::net::SocketAddr;

/// Longest User-Agent kept; longer ones are cut (on a character boundary).
const MAX_USER_AGENT: usize = 512;

pub struct Client(pub ClientInfo);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_canonical().to_string());
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .chars()
                    .filter(|c| !c.is_control())
                    .collect::<String>()
            })
            .map(|ua| ua.chars().take(MAX_USER_AGENT).collect());
        Ok(Self(ClientInfo { ip, user_agent }))
    }
}
