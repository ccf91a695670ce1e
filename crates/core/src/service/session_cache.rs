//! SESS-2 at the cost of a page view: each node keeps the sessions it checked in the last second.
//!
//! Every page and API call of the control panel checks its session, so the check must not cost
//! a database round trip each time. An entry is trusted only while both hold:
//! - it is younger than the time to live (1 s by default), so a session ended on another node
//!   (logout, password change, a support action) stops working here within that time;
//! - its account's generation is the one it was read under: this node's store raises it after
//!   every committed write that ends the account's sessions or changes the account, so what this
//!   node ends stops working here at once, while other accounts' entries stay.
//!
//! A read is cached only if the store's shared generation did not move while it ran: the writer
//! raises the shared number, then the account's, after its commit, and the reader takes the
//! shared number before its query, the account's after it, then the shared one again. If the
//! reader saw the account's new number, it also sees the shared one moved, and keeps nothing; if
//! not, the account's number moves after the reader took it, and the entry is never used.
//!
//! The cache holds at most [`CAPACITY`] entries (a few MiB), so memory stays bounded whatever the
//! number of sessions; a miss is one indexed query.

use super::sessions::Authenticated;
use crate::types::AccountId;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// Most sessions a node keeps; beyond, the least useful entries go (S3-FIFO).
pub const CAPACITY: usize = 4096;

#[derive(Clone)]
struct Entry {
    /// Shared, so that a hit copies a pointer, not the account.
    auth: Arc<Authenticated>,
    read_at: OffsetDateTime,
    generation: u64,
}

pub(super) struct SessionCache {
    entries: quick_cache::sync::Cache<Vec<u8>, Entry>,
    ttl: Duration,
}

impl SessionCache {
    /// A cache whose entries live `ttl`; zero turns it off.
    pub fn new(ttl: Duration) -> Self {
        Self {
            entries: quick_cache::sync::Cache::new(CAPACITY),
            ttl,
        }
    }

    /// The session of a token hash, when it was read and under which generation of its account,
    /// if that is still to be trusted `now`; `generation` gives an account's current one.
    pub fn get(
        &self,
        token_hash: &[u8],
        now: OffsetDateTime,
        generation: impl FnOnce(AccountId) -> u64,
    ) -> Option<(Arc<Authenticated>, OffsetDateTime, u64)> {
        let entry = self.entries.get(token_hash)?;
        let fresh = now >= entry.read_at && now < entry.read_at + self.ttl;
        if fresh && entry.generation == generation(entry.auth.account.id) {
            Some((entry.auth, entry.read_at, entry.generation))
        } else {
            self.entries.remove(token_hash);
            None
        }
    }

    /// Remembers a session read from the store at `read_at`, under its account's generation
    /// taken after the read (by a read during which the shared generation stayed put).
    pub fn put(&self, token_hash: Vec<u8>, auth: Arc<Authenticated>, read_at: OffsetDateTime, generation: u64) {
        if self.ttl > Duration::ZERO {
            let entry = Entry {
                auth,
                read_at,
                generation,
            };
            self.entries.insert(token_hash, entry);
        }
    }

    pub fn forget(&self, token_hash: &[u8]) {
        self.entries.remove(token_hash);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::SessionRecord;
    use crate::types::AccountId;
    use time::macros::datetime;
    use uuid::Uuid;

    const T0: OffsetDateTime = datetime!(2026-11-26 09:00 UTC);

    fn auth(n: u8) -> Arc<Authenticated> {
        let account = AccountId(Uuid::from_u128(u128::from(n)));
        Arc::new(Authenticated {
            session: SessionRecord {
                id: Uuid::from_u128(1000 + u128::from(n)),
                account_id: account,
                token_hash: vec![n; 32],
                created_at: T0,
                last_seen_at: T0,
                authenticated_at: T0,
                ip: None,
                user_agent: None,
                ended_at: None,
                second_factor: None,
            },
            account: crate::fixtures::account(n, T0),
            pending_backup: None,
        })
    }

    #[test]
    fn an_entry_is_trusted_for_its_time_to_live_only() {
        let cache = SessionCache::new(Duration::seconds(1));
        cache.put(vec![1; 32], auth(1), T0, 7);
        let (hit, read_at, generation) = cache.get(&[1; 32], T0 + Duration::milliseconds(999), |_| 7).unwrap();
        assert_eq!(hit.session.id, auth(1).session.id);
        assert_eq!((read_at, generation), (T0, 7));
        assert!(cache.get(&[1; 32], T0 + Duration::seconds(1), |_| 7).is_none());
        // Gone for good: an expired entry is dropped, not kept for later.
        assert!(cache.get(&[1; 32], T0, |_| 7).is_none());
        // A clock that moved back doesn't extend trust either.
        cache.put(vec![2; 32], auth(2), T0, 7);
        assert!(cache.get(&[2; 32], T0 - Duration::milliseconds(1), |_| 7).is_none());
    }

    #[test]
    fn a_write_on_this_node_voids_its_accounts_entries_at_once_and_no_other() {
        let cache = SessionCache::new(Duration::seconds(1));
        cache.put(vec![1; 32], auth(1), T0, 7);
        cache.put(vec![2; 32], auth(2), T0, 7);
        // Account 1 changed; account 2 did not.
        let now = |account: AccountId| if account == auth(1).account.id { 8 } else { 7 };
        assert!(cache.get(&[1; 32], T0, now).is_none());
        assert!(cache.get(&[2; 32], T0, now).is_some());
        cache.put(vec![3; 32], auth(3), T0, 8);
        cache.forget(&[3; 32]);
        assert!(cache.get(&[3; 32], T0, |_| 8).is_none());
    }

    #[test]
    fn a_zero_time_to_live_keeps_nothing_and_the_size_is_bounded() {
        let off = SessionCache::new(Duration::ZERO);
        off.put(vec![1; 32], auth(1), T0, 0);
        assert!(off.get(&[1; 32], T0, |_| 0).is_none());
        let cache = SessionCache::new(Duration::seconds(1));
        for i in 0..(CAPACITY as u32 * 2) {
            cache.put(i.to_be_bytes().to_vec(), auth(1), T0, 0);
        }
        assert!(cache.entries.len() <= CAPACITY);
    }
}
