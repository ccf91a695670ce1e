//! RISK-2 password throttling as a pure function of counters and the time (Kanidm's habit:
//! policy without I/O, tested with a fixed clock). The counters live in the database, so every
//! node sees them; `service` reads and counts them.
//!
//! * **Per account** (keyed by the account, or by the identifier typed when no account has it, so
//!   unknown and known identifiers are throttled alike): consecutive failures from devices that
//!   never logged in to it. After 5, each try waits 1 s, doubling up to 15 minutes; at 100, such
//!   devices are refused until the owner uses the unlock link mailed to them.
//! * **Per known device** (a browser whose device cookie logged in to this account before): only
//!   its own failures count, with the same delays and no lock. The account's lock and the source
//!   address's delays don't apply to it: an attacker can't lock the owner out.
//! * **Per source address**: consecutive failures from one IP (a /48 for IPv6); after 20, delays
//!   grow the same way. Unknown devices only.

use crate::limits::Limits;
use crate::ports::{StoreError, ThrottleStore};
use time::{Duration, OffsetDateTime};

/// Failures an identifier takes from unknown devices before it waits between tries.
pub const ACCOUNT_FREE: i64 = 5;
/// Failures one source address takes before it waits between tries.
const ADDRESS_FREE: i64 = 20;
/// Failures a known device takes before it waits between tries.
pub const DEVICE_FREE: i64 = 5;
/// What a try waits when the count it was judged by moved before it was counted (another try of
/// the same burst got through): tried again at once, it meets the wait that try started.
pub const BURST_WAIT: Duration = Duration::seconds(1);
/// The longest wait between tries.
const MAX_WAIT: Duration = Duration::minutes(15);

/// One counter: consecutive failures and when the last was counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count {
    pub failures: i64,
    pub last: Option<OffsetDateTime>,
}

/// What a password try may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Go,
    /// Not before this long.
    Wait(Duration),
    /// Refused until the unlock link is used (unknown devices only).
    Locked,
}

/// The wait after `failures` consecutive failures when the first `free` cost nothing.
fn wait(failures: i64, free: i64) -> Duration {
    if failures < free {
        return Duration::ZERO;
    }
    let exponent = u32::try_from((failures - free).min(20)).unwrap_or(20);
    Duration::seconds(2i64.pow(exponent)).min(MAX_WAIT)
}

fn ready(count: Count, free: i64, now: OffsetDateTime) -> Option<Duration> {
    let wait = wait(count.failures, free);
    // Within the free tries nothing waits, even when another request (on this node or another)
    // counted its try a moment after this one read the clock.
    if wait == Duration::ZERO {
        return None;
    }
    let at = count.last? + wait;
    (now < at).then(|| at - now)
}

/// The verdict for a try from a known device (`device`) or an unknown one (`account`, `address`);
/// `lock` is the account's failures from unknown devices that need the unlock link.
pub fn verdict(known_device: Option<Count>, account: Count, address: Count, now: OffsetDateTime, lock: i64) -> Verdict {
    if let Some(device) = known_device {
        return ready(device, DEVICE_FREE, now).map_or(Verdict::Go, Verdict::Wait);
    }
    if account.failures >= lock {
        return Verdict::Locked;
    }
    let waits = [ready(account, ACCOUNT_FREE, now), ready(address, ADDRESS_FREE, now)];
    waits.into_iter().flatten().max().map_or(Verdict::Go, Verdict::Wait)
}

/// The source-address key of an IP: the address itself for IPv4, its /48 for IPv6 (one site
/// gets a /48 and can pick any address in it, so counting single IPv6 addresses counts nothing).
pub fn address_key(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
        _ => ip.to_owned(),
    }
}

/// A code sent by text or email (MFA-4, LOGIN-3): at most one per 30 s and 5 per hour per
/// account by default (`limits`). Given the codes sent in the current hour's window and the last
/// one, how long to wait.
pub fn code_send_wait(
    limits: &Limits,
    sent: i64,
    last: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Option<Duration> {
    let last = last?;
    if sent >= limits.codes_per_hour {
        return Some(CODE_WINDOW - (now - last).min(CODE_WINDOW) + Duration::seconds(1));
    }
    let after = limits.code_resend_after;
    (now < last + after).then(|| last + after - now)
}

/// MFA-4, LOGIN-3: takes one of the account's code sends, counted under `scope`; when the limits
/// refuse it, how long to wait instead. Decided by the counting statement itself, so parallel
/// requests can't all pass a check made before any of them was counted.
pub async fn take_code_send<P: ThrottleStore + ?Sized>(
    ports: &P,
    limits: &Limits,
    scope: &str,
    key: &str,
    now: OffsetDateTime,
) -> Result<Option<Duration>, StoreError> {
    let since = now - CODE_WINDOW;
    if ports
        .hit_spaced(scope, key, since, now, limits.codes_per_hour, limits.code_resend_after)
        .await?
    {
        return Ok(None);
    }
    // The sends of the current window, and the last send whatever its window.
    let read = ports
        .counts(&[(scope, key, since), (scope, key, OffsetDateTime::UNIX_EPOCH)])
        .await?;
    let sent = read.first().map_or(0, |r| r.0);
    let last = read.get(1).and_then(|r| r.1);
    Ok(Some(
        code_send_wait(limits, sent, last, now).unwrap_or(Duration::seconds(1)),
    ))
}

/// The window of [`code_send_wait`]'s count.
pub const CODE_WINDOW: Duration = Duration::hours(1);

/// RISK-1: the network of an IP for "not seen in 90 days": by default its /24 for IPv4, its
/// /48 for IPv6 (`limits`).
pub fn network_key(limits: &Limits, ip: &str) -> String {
    let network = match ip.parse::<std::net::IpAddr>() {
        Ok(ip @ std::net::IpAddr::V4(_)) => ipnet::IpNet::new(ip, limits.network_prefix_v4),
        Ok(ip @ std::net::IpAddr::V6(_)) => ipnet::IpNet::new(ip, limits.network_prefix_v6),
        Err(_) => return ip.to_owned(),
    };
    network.map_or_else(|_| ip.to_owned(), |net| net.trunc().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: i64 = 100;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-25 12:00 UTC);

    #[test]
    fn a_try_counted_a_moment_later_by_a_parallel_request_makes_nobody_wait() {
        // Found by the rolling-restart test: two logins from one address at once, the other one
        // counted its try 2 ms after this one read the clock.
        let later = Count {
            failures: 1,
            last: Some(NOW + Duration::milliseconds(2)),
        };
        assert_eq!(verdict(None, later, later, NOW, LOCK), Verdict::Go);
        assert_eq!(
            verdict(Some(later), Count::default(), Count::default(), NOW, LOCK),
            Verdict::Go
        );
        let beyond = Count {
            failures: ACCOUNT_FREE,
            last: Some(NOW + Duration::milliseconds(2)),
        };
        assert!(matches!(
            verdict(None, beyond, Count::default(), NOW, LOCK),
            Verdict::Wait(_)
        ));
    }

    fn count(failures: i64, ago: Duration) -> Count {
        Count {
            failures,
            last: Some(NOW - ago),
        }
    }

    #[test]
    fn unknown_devices_wait_after_five_failures_and_lock_at_a_hundred() {
        let none = Count::default();
        assert_eq!(verdict(None, count(4, Duration::ZERO), none, NOW, LOCK), Verdict::Go);
        assert_eq!(
            verdict(None, count(5, Duration::ZERO), none, NOW, LOCK),
            Verdict::Wait(Duration::seconds(1))
        );
        assert_eq!(
            verdict(None, count(5, Duration::seconds(1)), none, NOW, LOCK),
            Verdict::Go
        );
        assert_eq!(
            verdict(None, count(8, Duration::ZERO), none, NOW, LOCK),
            Verdict::Wait(Duration::seconds(8))
        );
        assert_eq!(
            verdict(None, count(60, Duration::ZERO), none, NOW, LOCK),
            Verdict::Wait(Duration::minutes(15))
        );
        assert_eq!(
            verdict(None, count(100, Duration::days(30)), none, NOW, LOCK),
            Verdict::Locked
        );
    }

    #[test]
    fn a_known_device_counts_only_its_own_failures() {
        let locked = count(500, Duration::ZERO);
        let busy_address = count(500, Duration::ZERO);
        assert_eq!(
            verdict(Some(Count::default()), locked, busy_address, NOW, LOCK),
            Verdict::Go
        );
        assert_eq!(
            verdict(Some(count(6, Duration::ZERO)), locked, busy_address, NOW, LOCK),
            Verdict::Wait(Duration::seconds(2))
        );
    }

    #[test]
    fn a_busy_address_waits_after_twenty_failures() {
        let none = Count::default();
        assert_eq!(verdict(None, none, count(19, Duration::ZERO), NOW, LOCK), Verdict::Go);
        assert_eq!(
            verdict(None, none, count(21, Duration::ZERO), NOW, LOCK),
            Verdict::Wait(Duration::seconds(2))
        );
    }

    #[test]
    fn networks_are_a_24_or_a_48() {
        let limits = Limits::default();
        assert_eq!(network_key(&limits, "192.0.2.7"), "192.0.2.0/24");
        assert_eq!(network_key(&limits, "192.0.2.200"), network_key(&limits, "192.0.2.7"));
        assert_eq!(network_key(&limits, "2001:db8:1:2::1"), "2001:db8:1::/48");
        // The widths are settings.
        let wider = Limits {
            network_prefix_v4: 16,
            network_prefix_v6: 32,
            ..limits
        };
        assert_eq!(network_key(&wider, "192.0.2.7"), "192.0.0.0/16");
        assert_eq!(network_key(&wider, "2001:db8:1:2::1"), "2001:db8::/32");
    }

    #[test]
    fn ipv6_addresses_count_by_their_48() {
        assert_eq!(address_key("2001:db8:1:2:aaaa::1"), "2001:db8:1::/48");
        assert_eq!(address_key("2001:db8:1:ffff::9"), address_key("2001:db8:1::1"));
        assert_ne!(address_key("2001:db8:2::1"), address_key("2001:db8:1::1"));
        assert_eq!(address_key("192.0.2.7"), "192.0.2.7");
    }
}
