//! This replica's cache of the sessions Redis confirmed, and the rule that says when one may
//! be served without asking Redis again.
//!
//! Every entry holds what was derived from a record (the [`Session`]: header blocks, cached
//! assertions) under the record's version stamp, and when Redis last confirmed that the
//! session exists at that version. An entry is served without asking Redis only while all of
//! these hold ([`Local::fresh`]):
//! - Redis confirmed it less than [`MAX_AGE`] ago (a lookup that started then);
//! - the invalidation subscription ([`super::invalidation`]) has not changed since (same
//!   epoch: a subscription that dropped or was made again invalidates every entry at once);
//! - the subscription is known-good: this replica's own heartbeat, published through the
//!   connection guichet writes with, came back on it less than [`WINDOW`] after it was sent.
//!
//! Otherwise the lookup asks Redis, exactly as without a cache (fail closed: no known-good
//! subscription, no cache).
//!
//! Why a session ended anywhere is refused here within a second, whatever happens to the
//! subscription: an entry's confirmation time is when the lookup that confirmed it *began*,
//! before Redis answered; a session that ended before that lookup reached Redis was not
//! confirmed, and one that ended after it is served for less than [`MAX_AGE`] after its end.
//! This alone covers what no message announces (a key deleted by hand, a `maxmemory`
//! eviction, a failover that lost writes, ends published on a new primary before this replica
//! follows it). The subscription makes it milliseconds: every end of a session (logout,
//! back-channel logout, expiry, the per-citizen cap) is a script that deletes it and publishes
//! its key in one step, and the message drops the entry on arrival. The heartbeat rule keeps
//! the cache off whenever that channel is not known to work: Redis delivers a subscription's
//! messages in the order it ran the commands that published them, so a heartbeat sent after an
//! end comes back after that end's message, and while heartbeats come back within [`WINDOW`]
//! (same server) ends are applied as fast as the network delivers them.
//!
//! A record never changes under its key (a step-up or a new login makes a new session and ends
//! the old one; only the last activity moves, and a session that looks idle is asked of Redis:
//! `RedisStore::lookup`), so a cached entry cannot carry another identity or level than Redis.
//!
//! A lookup that asked Redis while an invalidation arrived cannot tell whether Redis answered
//! before or after that end: its entry is kept for the derived data but marked to be
//! confirmed again ([`Local::confirm`]).

use crate::session::{Session, SessionKey};
use moka::sync::Cache;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a session Redis confirmed is served without asking Redis again.
pub const MAX_AGE: Duration = Duration::from_secs(1);

/// How long after a heartbeat was sent its return keeps the subscription known-good.
pub const WINDOW: Duration = Duration::from_secs(1);

/// A session as Redis last confirmed it.
#[derive(Clone)]
pub struct Entry {
    pub version: u64,
    pub session: Arc<Session>,
    /// When the lookup that confirmed it started ([`Local::clock`]); 0: confirm again.
    confirmed: u64,
    /// The subscription's epoch at that lookup.
    epoch: u64,
}

/// What a lookup notes before it asks Redis.
#[derive(Clone, Copy)]
pub struct Ticket {
    at: u64,
    epoch: u64,
    seq: u64,
}

pub struct Local {
    entries: Cache<SessionKey, Entry>,
    base: Instant,
    max_age: u64,
    /// Changes whenever the subscription is made or lost.
    epoch: AtomicU64,
    /// Counts the invalidations received.
    seq: AtomicU64,
    /// Until when (clock) the subscription is known-good; 0: it is not.
    good_until: AtomicU64,
}

impl Local {
    /// A cache of at most `capacity` sessions, each dropped after `idle` unused and after
    /// `absolute` in all (a session cannot live longer), served without Redis for `max_age`.
    pub fn new(capacity: u64, idle: Duration, absolute: Duration, max_age: Duration) -> Local {
        Local {
            entries: Cache::builder()
                .max_capacity(capacity)
                .time_to_idle(idle)
                .time_to_live(absolute)
                .build(),
            base: Instant::now(),
            max_age: nanos(max_age),
            epoch: AtomicU64::new(0),
            seq: AtomicU64::new(0),
            good_until: AtomicU64::new(0),
        }
    }

    /// Nanoseconds since this cache was made, never 0.
    pub fn clock(&self) -> u64 {
        nanos(self.base.elapsed()).saturating_add(1)
    }

    pub fn get(&self, key: &SessionKey) -> Option<Entry> {
        self.entries.get(key)
    }

    /// May `entry` be served without asking Redis, now?
    pub fn fresh(&self, entry: &Entry) -> bool {
        let now = self.clock();
        entry.confirmed != 0
            && now < entry.confirmed.saturating_add(self.max_age)
            && entry.epoch == self.epoch.load(SeqCst)
            && now < self.good_until.load(SeqCst)
    }

    /// Is the subscription known-good right now (may anything be served from the cache)?
    pub fn active(&self) -> bool {
        self.clock() < self.good_until.load(SeqCst)
    }

    /// To note before asking Redis.
    pub fn ticket(&self) -> Ticket {
        Ticket {
            at: self.clock(),
            epoch: self.epoch.load(SeqCst),
            seq: self.seq.load(SeqCst),
        }
    }

    /// Redis said, during the lookup `ticket` began, that the session exists at `version`.
    pub fn confirm(&self, key: SessionKey, version: u64, session: Arc<Session>, ticket: Ticket) {
        let entry = Entry {
            version,
            session,
            confirmed: ticket.at,
            epoch: ticket.epoch,
        };
        self.entries.insert(key, entry.clone());
        // Checked after the insert: an invalidation counted after this load removes the
        // entry itself ([`Local::invalidated`] counts, then removes).
        if self.seq.load(SeqCst) != ticket.seq {
            self.entries.insert(
                key,
                Entry {
                    confirmed: 0,
                    ..entry
                },
            );
        }
    }

    /// Forgets a session (ended by this replica, or gone from Redis).
    pub fn forget(&self, key: &SessionKey) {
        self.entries.invalidate(key);
    }

    /// A message said the session ended.
    pub fn invalidated(&self, key: &SessionKey) {
        self.seq.fetch_add(1, SeqCst);
        self.entries.invalidate(key);
    }

    /// A subscription was made (it is known-good once a heartbeat comes back on it).
    pub fn subscribed(&self) {
        self.good_until.store(0, SeqCst);
        self.epoch.fetch_add(1, SeqCst);
    }

    /// The subscription is lost, or not to be trusted: every entry must be confirmed again.
    pub fn lost(&self) {
        self.good_until.store(0, SeqCst);
        self.epoch.fetch_add(1, SeqCst);
    }

    /// This replica's heartbeat sent at `sent` ([`Local::clock`]) came back on the
    /// subscription. Returns whether the subscription was not known-good before.
    pub fn heartbeat(&self, sent: u64) -> bool {
        let was = self.active();
        self.good_until
            .fetch_max(sent.saturating_add(nanos(WINDOW)), SeqCst);
        !was && self.active()
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::session::headers::SessionHeaders;
    use crate::session::SessionRecord;

    fn session(key: SessionKey) -> Arc<Session> {
        let claims = serde_json::json!({"sub": "s"});
        let record = SessionRecord {
            provider: "p".into(),
            identity: Identity::from_claims(&[claims.as_object().unwrap()]).unwrap(),
            level: None,
            created_at: 1,
            id_token: "h.p.s".into(),
            sid: None,
            landing: None,
        };
        Arc::new(Session::new(key, record, 1, SessionHeaders::default()))
    }

    fn cache() -> Local {
        let hour = Duration::from_secs(3600);
        Local::new(100, hour, hour, hour)
    }

    fn fresh(local: &Local, key: &SessionKey) -> bool {
        local.get(key).is_some_and(|e| local.fresh(&e))
    }

    #[test]
    fn nothing_is_fresh_without_a_heartbeat_back_on_the_subscription() {
        let local = cache();
        let k = SessionKey([1; 32]);
        local.confirm(k, 7, session(k), local.ticket());
        assert!(!fresh(&local, &k), "never subscribed");
        local.subscribed();
        let t = local.ticket();
        local.confirm(k, 7, session(k), t);
        assert!(!fresh(&local, &k), "subscribed, no heartbeat back yet");
        assert!(local.heartbeat(local.clock()));
        assert!(fresh(&local, &k));
        assert!(!local.heartbeat(local.clock()), "already known-good");
    }

    #[test]
    fn a_heartbeat_sent_longer_ago_than_the_window_proves_nothing() {
        let mut local = cache();
        local.base = Instant::now().checked_sub(WINDOW * 10).expect("uptime");
        let k = SessionKey([6; 32]);
        local.subscribed();
        local.confirm(k, 7, session(k), local.ticket());
        assert!(!local.heartbeat(local.clock() - nanos(WINDOW) - 1));
        assert!(!local.active() && !fresh(&local, &k));
        assert!(local.heartbeat(local.clock() - nanos(WINDOW) / 2));
        assert!(fresh(&local, &k));
    }

    #[test]
    fn a_lost_or_remade_subscription_invalidates_every_entry() {
        let local = cache();
        let k = SessionKey([2; 32]);
        local.subscribed();
        local.heartbeat(local.clock());
        local.confirm(k, 1, session(k), local.ticket());
        assert!(fresh(&local, &k));
        local.lost();
        assert!(!fresh(&local, &k));
        assert!(!local.active());
        // Back: entries confirmed before the new subscription are not trusted.
        local.subscribed();
        local.heartbeat(local.clock());
        assert!(local.active());
        assert!(!fresh(&local, &k));
        // The derived data is still there for the version check.
        assert_eq!(local.get(&k).map(|e| e.version), Some(1));
    }

    #[test]
    fn an_invalidation_during_a_lookup_leaves_the_answer_unconfirmed() {
        let local = cache();
        let (k, other) = (SessionKey([3; 32]), SessionKey([4; 32]));
        local.subscribed();
        local.heartbeat(local.clock());
        let t = local.ticket();
        // The message arrives while Redis is being asked (here about another session: a
        // lookup cannot tell which one it was about).
        local.invalidated(&other);
        local.confirm(k, 1, session(k), t);
        assert!(!fresh(&local, &k));
        assert_eq!(local.get(&k).map(|e| e.version), Some(1));
        // The next lookup confirms it.
        local.confirm(k, 1, session(k), local.ticket());
        assert!(fresh(&local, &k));
        local.invalidated(&k);
        assert!(local.get(&k).is_none());
    }

    #[test]
    fn entries_age_out_after_the_max_age() {
        let local = Local::new(
            10,
            Duration::from_secs(60),
            Duration::from_secs(60),
            Duration::ZERO,
        );
        let k = SessionKey([5; 32]);
        local.subscribed();
        local.heartbeat(local.clock());
        local.confirm(k, 1, session(k), local.ticket());
        assert!(!fresh(&local, &k));
    }
}
