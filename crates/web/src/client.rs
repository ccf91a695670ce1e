//! Who is calling: the client's IP address, User-Agent and device id (RISK-2), for the audit log,
//! notifications and limits. The IP is the TCP peer, unless the peer is one of the configured `trusted_proxies`:
//! then it is the right-most address in `X-Forwarded-For` that is not itself a trusted proxy
//! (addresses further left can be forged by the client).

use crate::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::header::USER_AGENT;
use axum::http::request::Parts;
use sesame_core::audit::ClientInfo;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

/// Longest User-Agent kept; longer ones are cut (on a character boundary).
const MAX_USER_AGENT: usize = 512;

pub struct Client(pub ClientInfo);

/// The client address behind `peer`, given the proxies that are trusted.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|part| part.trim().parse::<IpAddr>().ok())
        .collect();
    forwarded.into_iter().rev().find(|ip| !is_trusted(ip)).unwrap_or(peer)
}

impl FromRequestParts<AppState> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| {
                client_ip(
                    addr.ip().to_canonical(),
                    &parts.headers,
                    &state.settings().trusted_proxies,
                )
                .to_canonical()
                .to_string()
            });
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
        let device = parts.extensions.get::<crate::device::Device>();
        Ok(Self(ClientInfo {
            ip,
            user_agent,
            device: device.map(|d| d.id().to_owned()),
            new_device: device.is_some_and(crate::device::Device::is_new),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in xff {
            map.append("x-forwarded-for", v.parse().unwrap());
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let trusted = vec!["10.0.0.0/8".parse().unwrap()];
        assert_eq!(
            client_ip(ip("203.0.113.9"), &headers(&["198.51.100.1"]), &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(ip("203.0.113.9"), &headers(&["198.51.100.1"]), &[]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_address_counts() {
        let trusted = vec!["10.0.0.0/8".parse().unwrap(), "127.0.0.1/32".parse().unwrap()];
        let forged = headers(&["6.6.6.6, 198.51.100.7, 10.1.2.3"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &forged, &trusted), ip("198.51.100.7"));
        let split = headers(&["6.6.6.6", "198.51.100.7"]);
        assert_eq!(client_ip(ip("10.0.0.1"), &split, &trusted), ip("198.51.100.7"));
        assert_eq!(
            client_ip(ip("10.0.0.1"), &headers(&["garbage"]), &trusted),
            ip("10.0.0.1")
        );
        assert_eq!(client_ip(ip("10.0.0.1"), &HeaderMap::new(), &trusted), ip("10.0.0.1"));
    }
}
