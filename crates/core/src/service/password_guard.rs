//! RISK-2 around every password check (per account, per address, per known device, and a
//! service-wide limit on wrong passwords from unknown devices per minute) (login and re-authentication): read the counters, refuse a
//! throttled try before any hash is computed, count the try before the password is looked at (so
//! a burst can't pass the lock), and settle the counters once the answer is known (a right
//! password's are cleared by the session's batch, or on their own when the login ends otherwise).
//! The policy is `crate::throttle`; this is its I/O.

use super::login_flow::Login;
use super::sessions::LoginError;
use crate::audit::ClientInfo;
use crate::ports::{Account, CounterKey};
use crate::throttle::{ACCOUNT_FREE, BURST_WAIT, Count, DEVICE_FREE, Verdict, address_key, verdict};
use crate::types::AccountId;
use time::{Duration, OffsetDateTime};

pub(super) const ACCOUNT: &str = "pw-account";
const ADDRESS: &str = "pw-address";
const DEVICE: &str = "pw-device";
/// Wrong passwords from unknown devices across the whole service, per minute.
const GLOBAL: &str = "pw-global";
/// Wrong codes checked without a session (the second step, the emailed code), per source address.
const CODE_ADDRESS: &str = "code-address";
const GLOBAL_WINDOW: Duration = Duration::minutes(1);
/// Consecutive failures, however far apart: the windows never restart.
const CONSECUTIVE: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;
/// What a locked identifier is told to wait (it learns nothing more than a throttled one).
const LOCKED_WAIT: Duration = Duration::minutes(15);

pub(super) use crate::audit::device_hash;

/// The throttle counters a right password clears (scope, key).
#[derive(Debug, Default)]
pub(crate) struct Cleared(Vec<(&'static str, String)>);

impl Cleared {
    pub(crate) fn keys(&self) -> Vec<CounterKey<'_>> {
        self.0.iter().map(|(scope, key)| (*scope, key.as_str())).collect()
    }
}

/// Whom a password try is about: an account, or an identifier no account has.
pub(super) enum Subject<'a> {
    Account(&'a Account),
    Unknown(&'a str),
}

impl Subject<'_> {
    /// The account's id, or the identifier typed when no account has it.
    pub(super) fn key(&self) -> String {
        match self {
            Self::Account(account) => account.id.to_string(),
            Self::Unknown(identifier) => format!("?{identifier}"),
        }
    }

    fn account(&self) -> Option<&Account> {
        match self {
            Self::Account(account) => Some(account),
            Self::Unknown(_) => None,
        }
    }
}

/// A counted password try, to settle with [`Login::end_password_try`].
pub(super) struct PasswordTry {
    account_key: String,
    address_key: Option<String>,
    /// The known device's key, when the try comes from one.
    device_key: Option<String>,
    /// Consecutive failures of the account from unknown devices, this try included.
    account_failures: i64,
    /// Failures counted against the account before this try (RISK-1: "recent failures").
    pub(super) failed_before: bool,
}

impl Login {
    /// RISK-2: failures from unknown devices that lock the account until the unlock link.
    fn lock(&self) -> i64 {
        self.base.settings.limits.password_failures_to_lock
    }

    async fn count(&self, scope: &str, key: &str) -> Result<Count, LoginError> {
        let (failures, last) = self.ports.count(scope, key, CONSECUTIVE).await?;
        Ok(Count { failures, last })
    }

    /// Refuses a throttled try (no hash is computed for it), else counts it.
    pub(super) async fn begin_password_try(
        &self,
        subject: &Subject<'_>,
        client: &ClientInfo,
    ) -> Result<PasswordTry, LoginError> {
        let now = self.base.clock.now();
        let device = match (subject.account(), client.presented_device()) {
            (Some(account), Some(device)) => {
                let hash = device_hash(device);
                self.ports
                    .is_known_device(account.id, &hash)
                    .await?
                    .then(|| format!("{}:{}", account.id, hex::encode(hash)))
            }
            _ => None,
        };
        let account_key = subject.key();
        let address = client.ip.as_deref().map(address_key);
        // Every counter this try depends on, in one read: the known device's, or else the
        // service-wide one; the account's; the address's.
        let window = |scope| {
            if scope == GLOBAL {
                now - GLOBAL_WINDOW
            } else {
                CONSECUTIVE
            }
        };
        let mut keys: Vec<(&str, &str)> = vec![match &device {
            Some(key) => (DEVICE, key.as_str()),
            None => (GLOBAL, "all"),
        }];
        keys.push((ACCOUNT, &account_key));
        if let Some(key) = &address {
            keys.push((ADDRESS, key));
        }
        let windows: Vec<_> = keys.iter().map(|&(scope, key)| (scope, key, window(scope))).collect();
        let counts = self.ports.counts(&windows).await?;
        let count = |i: usize| {
            counts
                .get(i)
                .map_or_else(Count::default, |&(failures, last)| Count { failures, last })
        };
        let account_count = count(1);
        let device_count = device.is_some().then(|| count(0));
        let address_count = if address.is_some() { count(2) } else { Count::default() };
        let refused = match verdict(device_count, account_count, address_count, now, self.lock()) {
            Verdict::Go => None,
            Verdict::Wait(wait) => Some(wait),
            Verdict::Locked => {
                self.mail_password_unlock(&account_key, subject.account(), false, now)
                    .await?;
                Some(LOCKED_WAIT)
            }
        };
        if let Some(retry_after) = refused {
            return Err(LoginError::Throttled { retry_after });
        }
        // The global limit: past it, unknown devices wait for the minute to pass; known ones
        // carry on.
        if device.is_none() && count(0).failures >= self.base.settings.global_failures_per_minute {
            return Err(LoginError::Throttled {
                retry_after: GLOBAL_WINDOW,
            });
        }
        // Once tries wait between them, a try is counted only on the count it was judged by, so
        // parallel tries that all read it get one through, not all (the rest wait a second).
        let paced = |counted: Option<i64>| {
            counted.ok_or(LoginError::Throttled {
                retry_after: BURST_WAIT,
            })
        };
        let mut account_failures = 0;
        if let Some(key) = &device {
            match device_count {
                Some(seen) if seen.failures >= DEVICE_FREE => {
                    paced(self.ports.hit_unchanged(DEVICE, key, seen.failures, now).await?)?;
                }
                _ => {
                    self.ports.hit(DEVICE, key, CONSECUTIVE, now).await?;
                }
            }
        } else {
            account_failures = if account_count.failures >= ACCOUNT_FREE {
                let counted = self
                    .ports
                    .hit_unchanged(ACCOUNT, &account_key, account_count.failures, now)
                    .await?;
                let counted = paced(counted)?;
                if let Some(key) = &address {
                    self.ports.hit(ADDRESS, key, CONSECUTIVE, now).await?;
                }
                counted
            } else {
                // The account's counter and the address's, in one statement.
                let counted = self.ports.hits(&keys[1..], CONSECUTIVE, now).await?;
                counted.first().copied().unwrap_or_default()
            };
            if account_failures > self.lock() {
                return Err(LoginError::Throttled {
                    retry_after: LOCKED_WAIT,
                });
            }
        }
        Ok(PasswordTry {
            account_key,
            address_key: address,
            device_key: device,
            account_failures,
            failed_before: account_count.failures > 0,
        })
    }

    /// Settles a try. A right password clears the counters it touched (they count consecutive
    /// failures; the account's only from an unknown device): they are returned, for the session
    /// the login opens to clear in its own batch, or [`Login::clear_counters`] at once. The wrong
    /// one that reaches the lock mails the owner the unlock link.
    pub(super) async fn end_password_try(
        &self,
        tried: PasswordTry,
        right: bool,
        account: Option<&Account>,
    ) -> Result<Cleared, LoginError> {
        if right {
            // A known device's success clears its own counter, not the account's: an owner who
            // logs in often must not hand an attacker on unknown devices fresh tries each time.
            let account_key = tried.device_key.is_none().then_some(tried.account_key);
            let keys = [
                (ACCOUNT, account_key),
                (ADDRESS, tried.address_key),
                (DEVICE, tried.device_key),
            ]
            .into_iter()
            .filter_map(|(scope, key)| Some((scope, key?)))
            .collect();
            return Ok(Cleared(keys));
        }
        if tried.device_key.is_none() {
            let now = self.base.clock.now();
            self.ports.hit(GLOBAL, "all", now - GLOBAL_WINDOW, now).await?;
        }
        if tried.account_failures == self.lock() {
            self.mail_password_unlock(&tried.account_key, account, true, self.base.clock.now())
                .await?;
        }
        Ok(Cleared::default())
    }

    /// RISK-2: the unlock link for new devices (when the lock is `reached`, and again a day later
    /// if needed).
    async fn mail_password_unlock(
        &self,
        key: &str,
        account: Option<&Account>,
        reached: bool,
        now: OffsetDateTime,
    ) -> Result<(), LoginError> {
        self.send_unlock_link(key, account, true, reached, now)
            .await
            .map_err(|e| LoginError::Store(crate::ports::StoreError::Internal(e.to_string())))
    }

    /// Clears the counters a right password settled, when no session takes them.
    pub(super) async fn clear_counters(&self, cleared: &Cleared) -> Result<(), LoginError> {
        self.ports.resets(&cleared.keys()).await?;
        Ok(())
    }

    /// RISK-2 for codes checked without a session: the source address waits after 20 wrong codes
    /// in a row, like after 20 wrong passwords (each account's own limits come on top).
    pub(super) async fn code_address_gate(&self, client: &ClientInfo) -> Result<(), LoginError> {
        let Some(key) = client.ip.as_deref().map(address_key) else {
            return Ok(());
        };
        let count = self.count(CODE_ADDRESS, &key).await?;
        match verdict(None, Count::default(), count, self.base.clock.now(), self.lock()) {
            Verdict::Wait(retry_after) => Err(LoginError::Throttled { retry_after }),
            Verdict::Go | Verdict::Locked => Ok(()),
        }
    }

    /// Settles a code check for its source address: a wrong code counts, a right one clears.
    pub(super) async fn code_address_settle(&self, client: &ClientInfo, right: bool) -> Result<(), LoginError> {
        let Some(key) = client.ip.as_deref().map(address_key) else {
            return Ok(());
        };
        if right {
            self.ports.reset(CODE_ADDRESS, &key).await?;
        } else {
            let now = self.base.clock.now();
            self.ports.hit(CODE_ADDRESS, &key, CONSECUTIVE, now).await?;
        }
        Ok(())
    }

    /// The unlock link lifts the account's password lock too.
    pub(super) async fn unlock_passwords(&self, account: AccountId) -> Result<(), LoginError> {
        self.ports.reset(ACCOUNT, &account.to_string()).await?;
        Ok(())
    }
}
