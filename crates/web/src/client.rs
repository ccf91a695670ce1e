//! Who is calling: the client's IP address, User-Agent and device id (RISK-2), for the audit log,
//! notifications and limits. The IP is the TCP peer, unless the peer is one of the configured `trusted_proxies`:
//! then it is the right-most address in `X-Forwarded-For` that is not itself a trusted proxy
//! (addresses further left can be forged by the client). An entry that can't be read there
//! (`unknown`, a name) stops the walk at the peer: what lies left of it is no proxy's word.

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
    let values: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().unwrap_or("unreadable"))
        .collect();
    for entry in values.iter().rev().flat_map(|v| v.rsplit(',')) {
        match forwarded_ip(entry.trim()) {
            Some(ip) if is_trusted(&ip) => {}
            Some(ip) => return ip,
            None => return peer,
        }
    }
    peer
}

/// One `X-Forwarded-For` entry: an address, perhaps with a port (`192.0.2.1:5555`,
/// `[2001:db8::1]:443`), as some proxies write it.
fn forwarded_ip(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
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

    #[test]
    fn an_entry_that_cant_be_read_stops_the_walk_and_ports_are_read() {
        let trusted = vec!["10.0.0.0/8".parse().unwrap()];
        // The proxy wrote the real client with its port: that is the client, not the forged one.
        let ported = headers(&["6.6.6.6, 198.51.100.7:5555"]);
        assert_eq!(client_ip(ip("10.0.0.1"), &ported, &trusted), ip("198.51.100.7"));
        let v6 = headers(&["6.6.6.6, [2001:db8::7]:443"]);
        assert_eq!(client_ip(ip("10.0.0.1"), &v6, &trusted), ip("2001:db8::7"));
        // An entry the proxy couldn't fill: nothing left of it is believed.
        let unknown = headers(&["6.6.6.6, unknown"]);
        assert_eq!(client_ip(ip("10.0.0.1"), &unknown, &trusted), ip("10.0.0.1"));
        let behind = headers(&["6.6.6.6", "unknown, 10.2.2.2"]);
        assert_eq!(client_ip(ip("10.0.0.1"), &behind, &trusted), ip("10.0.0.1"));
    }
}
