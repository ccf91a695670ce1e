//! The numbers in the security rules that an operator may change (docs/requirements.md: every
//! number the requirements give is a default, and a setting). The defaults are the requirements'
//! own; `sesame-server`'s configuration checks each value before it gets here.

use time::Duration;

/// The numbers the services and factors read instead of constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// SESS-3: a sensitive change needs an authentication within this long.
    pub fresh_auth: Duration,
    /// MFA-4: how long a texted code works.
    pub sms_code_ttl: Duration,
    /// MFA-4: wrong tries a texted code takes before it is void.
    pub sms_code_tries: i64,
    /// MFA-4, LOGIN-3: codes sent by text or email to one account within an hour…
    pub codes_per_hour: i64,
    /// …and the least time between two of them.
    pub code_resend_after: Duration,
    /// MFA-5: codes in a set of backup codes.
    pub backup_codes: usize,
    /// MFA-5: the security page warns when this many or fewer codes remain.
    pub backup_codes_warning: i64,
    /// MFA-7: wrong codes one login flow takes.
    pub flow_attempts: i64,
    /// MFA-7: failures across flows after which each try waits, longer and longer…
    pub code_failures_before_delay: i64,
    /// …and after which no code is accepted until the mailed unlock link is used.
    pub code_failures_to_lock: i64,
    /// RECOVER-1: how long a password-reset link works.
    pub reset_link_ttl: Duration,
    /// RECOVER-4: when the current primary address can't be reached, how long before a primary
    /// change applies by itself.
    pub unreachable_delay: Duration,
    /// RECOVER-5: the largest identity document.
    pub document_max_bytes: usize,
    /// RISK-1: how long a network stays "seen" for an account…
    pub network_memory: Duration,
    /// …and how wide a network is: an IPv4 address's leading bits (24 by default)…
    pub network_prefix_v4: u8,
    /// …and an IPv6 address's (48).
    pub network_prefix_v6: u8,
    /// MFA-2: time steps of drift either side of now that an authenticator app's code may have.
    pub totp_drift_steps: u16,
    /// RISK-2: consecutive wrong passwords from unknown devices before the account needs the
    /// mailed unlock link.
    pub password_failures_to_lock: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            fresh_auth: Duration::minutes(10),
            sms_code_ttl: Duration::minutes(5),
            sms_code_tries: 5,
            codes_per_hour: 5,
            code_resend_after: Duration::seconds(30),
            backup_codes: 10,
            backup_codes_warning: 3,
            flow_attempts: 5,
            code_failures_before_delay: 10,
            code_failures_to_lock: 100,
            reset_link_ttl: Duration::hours(1),
            unreachable_delay: Duration::hours(24),
            document_max_bytes: 10 * 1024 * 1024,
            network_memory: Duration::days(90),
            network_prefix_v4: 24,
            network_prefix_v6: 48,
            totp_drift_steps: 1,
            password_failures_to_lock: 100,
        }
    }
}

impl Limits {
    /// MFA-7: the wait before the next code after `failures` consecutive failures on the
    /// account: none before `code_failures_before_delay`, then 1 s doubling up to 15 minutes.
    pub fn code_failure_delay(&self, failures: i64) -> Duration {
        if failures < self.code_failures_before_delay {
            return Duration::ZERO;
        }
        let exponent = u32::try_from((failures - self.code_failures_before_delay).min(20)).unwrap_or(20);
        Duration::seconds(2i64.pow(exponent)).min(Duration::minutes(15))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_delays_start_after_ten_failures_and_double_up_to_fifteen_minutes() {
        let delay = |n| Limits::default().code_failure_delay(n);
        assert_eq!(delay(0), Duration::ZERO);
        assert_eq!(delay(9), Duration::ZERO);
        assert_eq!(delay(10), Duration::seconds(1));
        assert_eq!(delay(11), Duration::seconds(2));
        assert_eq!(delay(15), Duration::seconds(32));
        assert_eq!(delay(40), Duration::minutes(15));
        assert_eq!(delay(1000), Duration::minutes(15));
    }

    #[test]
    fn code_delays_follow_the_setting() {
        let limits = Limits {
            code_failures_before_delay: 3,
            ..Limits::default()
        };
        assert_eq!(limits.code_failure_delay(2), Duration::ZERO);
        assert_eq!(limits.code_failure_delay(3), Duration::seconds(1));
        assert_eq!(limits.code_failure_delay(5), Duration::seconds(4));
    }
}
