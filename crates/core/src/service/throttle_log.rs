//! RISK-2 under a flood: a throttled login is refused before any hash, and goes to the audit log
//! at most once a minute per account (or identifier no account has) on each node. An attacker's
//! thousands of refused guesses a second then leave a few rows a minute instead of filling the
//! database and the owner's activity page; the metrics still count every one
//! (`sesame_logins_total{outcome="throttled"}`).
//!
//! The memory is bounded ([`CAPACITY`] identifiers); one forgotten early only means one more row.

use time::{Duration, OffsetDateTime};

/// Identifiers remembered at most; beyond, the least useful go (S3-FIFO).
pub const CAPACITY: usize = 4096;
/// How long after a recorded throttled try the next ones of the same identifier go unrecorded.
const QUIET: Duration = Duration::minutes(1);

pub(super) struct ThrottleLog {
    recorded: quick_cache::sync::Cache<String, OffsetDateTime>,
}

impl ThrottleLog {
    pub fn new() -> Self {
        Self {
            recorded: quick_cache::sync::Cache::new(CAPACITY),
        }
    }

    /// Whether a throttled try of `key` at `now` goes to the audit log; if so, it is noted.
    pub fn record(&self, key: &str, now: OffsetDateTime) -> bool {
        match self.recorded.get(key) {
            Some(at) if now >= at && now < at + QUIET => false,
            _ => {
                self.recorded.insert(key.to_owned(), now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-26 09:00 UTC);

    #[test]
    fn one_record_a_minute_per_identifier() {
        let log = ThrottleLog::new();
        assert!(log.record("account-1", T0));
        assert!(!log.record("account-1", T0 + Duration::seconds(59)));
        assert!(
            log.record("?someone", T0 + Duration::seconds(59)),
            "identifiers are apart"
        );
        assert!(log.record("account-1", T0 + Duration::minutes(1)));
        // A clock that moved back doesn't silence it.
        assert!(log.record("account-1", T0));
    }

    #[test]
    fn memory_stays_bounded() {
        let log = ThrottleLog::new();
        for i in 0..(CAPACITY * 2) {
            log.record(&i.to_string(), T0);
        }
        assert!(log.recorded.len() <= CAPACITY);
    }
}
