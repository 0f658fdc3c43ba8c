//! The memory store's live sessions: a sharded hash table with its back-channel index, kept
//! small (a million sessions is the target: about 200 bytes of bookkeeping per session, where
//! a general-purpose cache took 800; `benches/memory.rs` measures it).
//!
//! Invariants:
//! - At most `max_sessions` sessions are held: an insert past the bound evicts one session,
//!   an expired one if the sample has one, else the least recently active of a sample taken
//!   at a random place of a random shard (`tests::bounded_store_evicts_instead_of_growing`,
//!   `tests::eviction_samples_start_at_random`); never the session being inserted.
//! - At most `max_sessions_per_citizen` sessions per provider and `sub`: an insert past it
//!   ends that citizen's oldest (`tests::one_citizen_cannot_crowd_out_the_others`), exactly
//!   even within one second (`tests::the_cap_ends_the_oldest_of_the_same_second`).
//! - Every session removed by the store itself (sweep, eviction, cap) is reported to the
//!   [`Notices`] with its reason, once, after the locks are released.
//! - Expired sessions (idle or absolute limit, [`Session::expired`]) are removed by a sweep of
//!   a few shards per second ([`Sessions::sweep_step`], called by the server's background task,
//!   never by a request), so memory is reclaimed even for sessions nobody asks for again; the
//!   same pass drops cached assertions that can no longer be sent ([`crate::session::headers::SessionHeaders::clear_stale`]). Lookups return
//!   what is held: the caller decides expiry (the gateway removes and counts).
//! - The index maps a 64-bit prefix of each [`Match::index_key`] to the session's store key.
//!   An entry is added before the session is inserted and removed after the session is,
//!   whatever removes it (remove, back-channel match, eviction, sweep, replacement), so it is
//!   bounded by the sessions held and a live session is always reachable through it. A prefix
//!   is only a hint: a back-channel logout removes a session only if its record matches the
//!   full index key (`tests::index_prefix_collisions_remove_nothing_else`).

use super::super::{now, EndReason, Match, Notices, Session, SessionKey};
use crate::config::SessionConfig;
use std::borrow::Borrow;
use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

const SHARDS: usize = 64;
/// Sessions looked at to choose one to evict.
const SAMPLE: usize = 16;

/// A held session, hashed and compared by its store key (which it carries): a table slot is
/// one pointer, not a key and a pointer.
#[derive(Clone)]
struct Entry(Arc<Session>);

impl Borrow<SessionKey> for Entry {
    fn borrow(&self) -> &SessionKey {
        self.0.key()
    }
}

impl Hash for Entry {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.0.key().hash(h)
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        self.0.key() == other.0.key()
    }
}

impl Eq for Entry {}

type Shard = HashSet<Entry>;
/// (prefix of an index key, address of the session) -> the session. The address is unique
/// while the index holds the session.
type Index = BTreeMap<(u64, usize), Arc<Session>>;

fn addr(session: &Arc<Session>) -> usize {
    Arc::as_ptr(session) as usize
}

pub(super) struct Sessions {
    shards: Box<[RwLock<Shard>]>,
    index: Mutex<Index>,
    len: AtomicU64,
    max: u64,
    per_citizen: usize,
    notices: Notices,
    idle: Duration,
    absolute: Duration,
    /// Where the background sweep ([`Sessions::sweep_step`]) continues.
    step_cursor: AtomicUsize,
}

fn shard_of(key: &SessionKey) -> usize {
    // Store keys are SHA-256 values: any byte is uniform.
    usize::from(key.0[31]) % SHARDS
}

fn prefix(index_key: &[u8; 32]) -> u64 {
    let mut p = [0u8; 8];
    p.copy_from_slice(&index_key[..8]);
    u64::from_le_bytes(p)
}

fn read(shard: &RwLock<Shard>) -> RwLockReadGuard<'_, Shard> {
    shard.read().unwrap_or_else(|p| p.into_inner())
}

fn write(shard: &RwLock<Shard>) -> RwLockWriteGuard<'_, Shard> {
    shard.write().unwrap_or_else(|p| p.into_inner())
}

impl Sessions {
    pub(super) fn new(cfg: &SessionConfig, notices: Notices) -> Sessions {
        Sessions {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            index: Mutex::default(),
            len: AtomicU64::new(0),
            max: cfg.max_sessions.max(1),
            per_citizen: usize::try_from(cfg.max_sessions_per_citizen.max(1)).unwrap_or(usize::MAX),
            notices,
            idle: cfg.idle_timeout,
            absolute: cfg.absolute_timeout,
            step_cursor: AtomicUsize::new(0),
        }
    }

    fn index(&self) -> MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn shard(&self, key: &SessionKey) -> &RwLock<Shard> {
        &self.shards[shard_of(key)]
    }

    pub(super) fn get(&self, key: &SessionKey) -> Option<Arc<Session>> {
        read(self.shard(key)).get(key).map(|e| e.0.clone())
    }

    /// Holds `session` (under its own key), replacing a session with the same key; ends the
    /// citizen's oldest sessions past the per-citizen cap.
    pub(super) fn insert(&self, session: Arc<Session>) {
        let key = *session.key();
        for old in self.over_cap(&session) {
            let gone = write(self.shard(old.key())).take(old.key());
            if let Some(gone) = gone {
                self.forget(&gone.0);
                self.notices
                    .ended(&gone.0.record, EndReason::TooManySessions);
            }
        }
        let entry = Entry(session);
        let keys = Match::keys_of(&entry.0.record);
        {
            let mut index = self.index();
            for ik in &keys {
                index.insert((prefix(ik), addr(&entry.0)), entry.0.clone());
            }
        }
        let old = write(self.shard(&key)).replace(entry);
        match old {
            // Same store key: the old session's index entries go.
            Some(old) => self.unindex(&old.0),
            None => {
                if self.len.fetch_add(1, Ordering::Relaxed) >= self.max {
                    self.evict_one(&key, now());
                }
            }
        }
    }

    /// The sessions of `session`'s citizen (other than one under its key) that must end for it
    /// to fit under the cap, oldest first.
    fn over_cap(&self, session: &Session) -> Vec<Arc<Session>> {
        let record = &session.record;
        let ik = Match::Sub(record.identity.sub()).index_key(&record.provider);
        let p = prefix(&ik);
        let mut same: Vec<Arc<Session>> = self
            .index()
            .range((p, 0)..=(p, usize::MAX))
            .map(|(_, s)| s.clone())
            .filter(|s| {
                s.key() != session.key()
                    && s.record.provider == record.provider
                    && s.record.identity.sub() == record.identity.sub()
            })
            .collect();
        let excess = (same.len() + 1).saturating_sub(self.per_citizen);
        // `created_at` is in seconds: within one, the order of creation decides (a citizen's
        // session of the same second as the login must not go before an older one).
        same.sort_by_key(|s| (s.record.created_at, s.born()));
        same.truncate(excess);
        same
    }

    pub(super) fn remove(&self, key: &SessionKey) -> Option<Arc<Session>> {
        let removed = write(self.shard(key)).take(key)?;
        self.forget(&removed.0);
        Some(removed.0)
    }

    /// Removes the sessions of `provider` that `m` names; returns how many.
    pub(super) fn remove_matching(&self, provider: &str, m: Match<'_>) -> u64 {
        let ik = m.index_key(provider);
        let p = prefix(&ik);
        let candidates: Vec<Arc<Session>> = self
            .index()
            .range((p, 0)..=(p, usize::MAX))
            .map(|(_, s)| s.clone())
            .filter(|s| Match::keys_of(&s.record).contains(&ik))
            .collect();
        let mut removed = 0;
        for session in candidates {
            if let Some(gone) = write(self.shard(session.key())).take(session.key()) {
                self.forget(&gone.0);
                removed += 1;
            }
        }
        removed
    }

    pub(super) fn len(&self) -> u64 {
        self.len.load(Ordering::Relaxed)
    }

    pub(super) fn index_len(&self) -> usize {
        self.index().len()
    }

    /// Sweeps every shard now (tests, benches).
    pub(super) fn sweep_all(&self, now: u64) -> usize {
        (0..SHARDS).map(|i| self.sweep(i, now)).sum()
    }

    /// A removed session: counted and unindexed.
    fn forget(&self, session: &Arc<Session>) {
        self.len.fetch_sub(1, Ordering::Relaxed);
        self.unindex(session);
    }

    fn unindex(&self, session: &Arc<Session>) {
        let mut index = self.index();
        for ik in Match::keys_of(&session.record) {
            index.remove(&(prefix(&ik), addr(session)));
        }
    }

    /// Sweeps the next `shards` shards (the server's background sweep, once a second: a whole
    /// pass every few seconds, so an expiry reaches the evidence log soon after it happens);
    /// returns how many sessions it removed. Never called from a request.
    pub(super) fn sweep_step(&self, now: u64, shards: usize) -> usize {
        (0..shards)
            .map(|_| self.step_cursor.fetch_add(1, Ordering::Relaxed) % SHARDS)
            .map(|shard| self.sweep(shard, now))
            .sum()
    }

    /// Removes the expired sessions of one shard and drops the cached assertions that can no
    /// longer be sent; returns how many sessions were removed. Readers are blocked only
    /// while expired sessions are taken out.
    fn sweep(&self, shard: usize, now: u64) -> usize {
        let expired = |s: &Session| s.expired(now, self.idle, self.absolute).is_some();
        let doomed: Vec<SessionKey> = read(&self.shards[shard])
            .iter()
            .filter(|e| {
                e.0.headers.clear_stale(now);
                expired(&e.0)
            })
            .map(|e| *e.0.key())
            .collect();
        if doomed.is_empty() {
            return 0;
        }
        let gone: Vec<Entry> = {
            let mut map = write(&self.shards[shard]);
            doomed
                .into_iter()
                .filter_map(|k| {
                    let still = map.get(&k).is_some_and(|e| expired(&e.0));
                    still.then(|| map.take(&k)).flatten()
                })
                .collect()
        };
        for e in &gone {
            self.forget(&e.0);
            if let Some(why) = e.0.expired(now, self.idle, self.absolute) {
                self.notices.ended(&e.0.record, EndReason::Expired(why));
            }
        }
        gone.len()
    }

    /// Removes one session to make room (not `keep`, the one just inserted): an expired one
    /// if the sample has one, else the least recently active of the sample. The sample is
    /// [`SAMPLE`] sessions in a row from a random place of a random shard.
    fn evict_one(&self, keep: &SessionKey, now: u64) {
        let start = rand::random::<u32>() as usize;
        for i in 0..SHARDS {
            let shard = &self.shards[(start + i) % SHARDS];
            let gone = {
                let mut map = write(shard);
                let victim = sample(&map, keep, rand::random::<u32>() as usize)
                    .min_by_key(|s| {
                        let live = s.expired(now, self.idle, self.absolute).is_none();
                        (live, s.last_seen(), s.record.created_at)
                    })
                    .map(|s| *s.key());
                victim.and_then(|k| map.take(&k))
            };
            if let Some(e) = gone {
                self.forget(&e.0);
                let why = match e.0.expired(now, self.idle, self.absolute) {
                    Some(expiry) => EndReason::Expired(expiry),
                    None => EndReason::StoreFull,
                };
                self.notices.ended(&e.0.record, why);
                return;
            }
        }
    }
}

/// [`SAMPLE`] sessions of `map` (never `keep`), in iteration order from position
/// `at % len`, wrapping around.
// An `Entry` hashes by the store key its session carries, which never changes; what is
// mutable in a session (its last activity) is not part of the key.
#[allow(clippy::mutable_key_type)]
fn sample<'a>(
    map: &'a Shard,
    keep: &'a SessionKey,
    at: usize,
) -> impl Iterator<Item = &'a Arc<Session>> + 'a {
    let skip = match map.len() {
        0 => 0,
        n => at % n,
    };
    map.iter()
        .skip(skip)
        .chain(map.iter().take(skip))
        .map(|e| &e.0)
        .filter(move |s| s.key() != keep)
        .take(SAMPLE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assertion::Signer;
    use crate::config::{HeaderConfig, StoreKind};
    use crate::identity::Identity;
    use crate::session::headers::SessionHeaders;
    use crate::session::{Expiry, Notice, SessionRecord};
    use crate::vocab::ProfileId;
    use serde_json::json;
    use std::sync::Mutex as StdMutex;

    type Ended = Arc<StdMutex<Vec<(String, &'static str)>>>;

    /// Notices collected as (sub, reason).
    fn collected() -> (Notices, Ended) {
        let seen = Arc::new(StdMutex::new(Vec::new()));
        let sink = seen.clone();
        let notices = Notices::new(move |n| {
            if let Notice::Ended(r, why) = n {
                sink.lock()
                    .unwrap()
                    .push((r.identity.sub().to_string(), why.reason()));
            }
        });
        (notices, seen)
    }

    fn cfg(max: u64) -> SessionConfig {
        SessionConfig {
            store: StoreKind::Memory,
            idle_timeout: Duration::from_secs(60),
            absolute_timeout: Duration::from_secs(600),
            login_timeout: Duration::from_secs(60),
            max_sessions: max,
            max_sessions_per_citizen: 10,
            preserve_post_max_bytes: 65536,
        }
    }

    fn key(i: u32) -> SessionKey {
        SessionKey(crate::crypto::sha256(&i.to_le_bytes()))
    }

    fn record(sub: &str, sid: &str, created_at: u64) -> SessionRecord {
        let claims = json!({ "sub": sub });
        SessionRecord {
            provider: "p".into(),
            identity: Identity::from_claims(&[claims.as_object().unwrap()]).unwrap(),
            level: None,
            created_at,
            id_token: "".into(),
            sid: Some(sid.into()),
            landing: None,
        }
    }

    fn session(k: u32, sub: &str, sid: &str, at: u64) -> Arc<Session> {
        Arc::new(Session::new(
            key(k),
            record(sub, sid, at),
            at,
            SessionHeaders::default(),
        ))
    }

    #[test]
    fn bounded_store_evicts_instead_of_growing() {
        let s = Sessions::new(&cfg(100), Notices::none());
        let t = now();
        for i in 0..1000 {
            s.insert(session(i, &format!("s{i}"), &format!("sid{i}"), t));
            // The session just inserted is never the one evicted to make room for it.
            assert!(s.get(&key(i)).is_some(), "{i}");
        }
        let held = s.shards.iter().map(|m| read(m).len() as u64).sum::<u64>();
        assert_eq!(s.len(), held);
        assert!(held <= 100, "{held} sessions held with max_sessions = 100");
        assert_eq!(s.index_len() as u64, 2 * held);
    }

    #[test]
    fn one_citizen_cannot_crowd_out_the_others() {
        let (notices, seen) = collected();
        let mut c = cfg(100);
        c.max_sessions_per_citizen = 3;
        let s = Sessions::new(&c, notices);
        let t = now();
        s.insert(session(100, "bob", "b", t));
        for i in 0..5 {
            s.insert(session(i, "alice", &format!("a{i}"), t + u64::from(i)));
        }
        // Alice keeps her three newest sessions; Bob his own.
        assert!(s.get(&key(0)).is_none() && s.get(&key(1)).is_none());
        for i in 2..5 {
            assert!(s.get(&key(i)).is_some(), "{i}");
        }
        assert!(s.get(&key(100)).is_some());
        assert_eq!((s.len(), s.index_len()), (4, 8));
        assert_eq!(
            *seen.lock().unwrap(),
            [
                ("alice".to_string(), "too_many_sessions"),
                ("alice".to_string(), "too_many_sessions")
            ]
        );
        // Another provider's citizen with the same sub is someone else.
        let mut other = record("alice", "x", t);
        other.provider = "q".into();
        s.insert(Arc::new(Session::new(
            key(200),
            other,
            t,
            SessionHeaders::default(),
        )));
        assert_eq!(s.len(), 5);
    }

    #[test]
    fn the_cap_ends_the_oldest_of_the_same_second() {
        // A script logging one identity in many times a second: every new login ends the
        // oldest session, never one just created (whose flow may not have used it yet).
        let mut c = cfg(100);
        c.max_sessions_per_citizen = 2;
        let s = Sessions::new(&c, Notices::none());
        let t = now();
        for i in 0..40 {
            s.insert(session(i, "alice", &format!("a{i}"), t));
            if i >= 1 {
                assert!(
                    s.get(&key(i - 1)).is_some(),
                    "{i}: the previous login's session"
                );
            }
            if i >= 2 {
                assert!(s.get(&key(i - 2)).is_none(), "{i}: the oldest session");
            }
        }
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn eviction_samples_start_at_random() {
        // 200 sessions, equally old, all in one shard: the first of a sample is the victim.
        let s = Sessions::new(&cfg(1000), Notices::none());
        let in_shard_0 = |i: u32| {
            let mut k = key(i).0;
            k[31] = 0;
            SessionKey(k)
        };
        for i in 0..200 {
            let k = in_shard_0(i);
            s.insert(Arc::new(Session::new(
                k,
                record(&format!("s{i}"), "x", 5),
                5,
                SessionHeaders::default(),
            )));
        }
        let order: Vec<SessionKey> = read(&s.shards[0]).iter().map(|e| *e.0.key()).collect();
        assert_eq!(order.len(), 200);
        let keep = in_shard_0(9999);
        for _ in 0..20 {
            s.evict_one(&keep, 10);
        }
        let evicted: Vec<usize> = order
            .iter()
            .enumerate()
            .filter(|(_, k)| s.get(k).is_none())
            .map(|(i, _)| i)
            .collect();
        assert_eq!(evicted.len(), 20);
        // Taking the first entries of the shard would evict exactly positions 0..20.
        assert!(
            evicted.iter().any(|i| *i >= 20),
            "eviction always took the first entries: {evicted:?}"
        );
    }

    #[test]
    fn the_sweep_and_eviction_report_why_each_session_ended() {
        let (notices, seen) = collected();
        let s = Sessions::new(&cfg(2), notices);
        let t = now();
        s.insert(session(1, "idle", "a", t));
        s.insert(session(2, "old", "b", t - 600));
        assert_eq!(s.sweep_all(t + 1), 1);
        s.insert(session(3, "live", "c", t));
        s.insert(session(4, "new", "d", t));
        assert_eq!(s.len(), 2);
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            [
                ("old".to_string(), Expiry::Absolute.as_str()),
                (seen[1].0.clone(), "store_full")
            ]
        );
        assert!(seen[1].0 == "idle" || seen[1].0 == "live", "{seen:?}");
    }

    #[test]
    fn expired_sessions_are_swept_with_their_index_entries() {
        let s = Sessions::new(&cfg(10), Notices::none());
        let t = 1_000_000;
        s.insert(session(1, "idle", "a", t));
        s.insert(session(2, "live", "b", t + 100));
        s.insert(session(3, "old", "c", t - 600));
        assert_eq!(s.sweep_all(t + 59), 1, "only the absolute limit is reached");
        assert_eq!(s.sweep_all(t + 60), 1, "then the idle one");
        assert!(s.get(&key(1)).is_none() && s.get(&key(3)).is_none());
        assert!(s.get(&key(2)).is_some());
        assert_eq!((s.len(), s.index_len()), (1, 2));
        assert_eq!(s.remove_matching("p", Match::Sub("idle")), 0);
    }

    #[test]
    fn lookups_never_sweep() {
        let s = Sessions::new(&cfg(1000), Notices::none());
        let long_ago = 1_000_000;
        for i in 0..200 {
            s.insert(session(i, &format!("s{i}"), &format!("sid{i}"), long_ago));
        }
        // Every session is expired: lookups and inserts return and keep them (the gateway
        // decides expiry); only the background maintenance removes them.
        for i in 0..200 {
            assert!(s.get(&key(i)).is_some(), "{i}");
        }
        s.insert(session(1000, "new", "sidnew", now()));
        assert_eq!(s.len(), 201);
        // One shard per step (the first one first).
        let t = now();
        let in_first = read(&s.shards[0])
            .iter()
            .filter(|e| e.0.expired(t, s.idle, s.absolute).is_some())
            .count();
        assert_eq!(s.sweep_step(t, 1), in_first);
        assert_eq!(s.len(), 201 - in_first as u64);
        for _ in 1..SHARDS {
            s.sweep_step(t, 1);
        }
        assert_eq!(s.len(), 1, "only the live session is left");
        assert_eq!(s.index_len(), 2);
    }

    #[test]
    fn the_sweep_drops_assertions_that_can_no_longer_be_sent() {
        let hc = HeaderConfig::defaults("https://demarches.example.fr");
        let signer = Signer::new(&hc.assertion).unwrap();
        let t = 1_000_000;
        let r = record("s", "a", t);
        let headers = SessionHeaders::build(&r, &key(1), &hc);
        let live = Arc::new(Session::new(key(1), r, t, headers));
        live.assertion(ProfileId(0), &signer, &hc, t).unwrap();
        let s = Sessions::new(&cfg(10), Notices::none());
        s.insert(live.clone());
        s.sweep_all(t + 30);
        assert_eq!(live.headers.cached_assertions(), 1, "still usable: kept");
        s.sweep_all(t + 59);
        assert_eq!(live.headers.cached_assertions(), 0, "unusable: dropped");
        assert!(s.get(&key(1)).is_some(), "the session itself stays");
        // The next request signs a new one.
        live.assertion(ProfileId(0), &signer, &hc, t + 59).unwrap();
        assert_eq!(signer.signatures(), 2);
    }

    #[test]
    fn index_prefix_collisions_remove_nothing_else() {
        let s = Sessions::new(&cfg(10), Notices::none());
        s.insert(session(1, "alice", "sa", now()));
        s.insert(session(2, "bob", "sb", now()));
        // An index entry for alice's sub that points at bob's session (what a 64-bit prefix
        // collision would give): bob's session does not match, it stays.
        let ik = Match::Sub("alice").index_key("p");
        let bob = s.get(&key(2)).unwrap();
        s.index().insert((prefix(&ik), addr(&bob)), bob.clone());
        assert_eq!(s.remove_matching("p", Match::Sub("alice")), 1);
        assert!(s.get(&key(1)).is_none());
        assert!(s.get(&key(2)).is_some());
    }

    #[test]
    fn replacing_a_session_keeps_the_index_exact() {
        let s = Sessions::new(&cfg(10), Notices::none());
        s.insert(session(1, "alice", "s1", now()));
        s.insert(session(1, "alice", "s2", now()));
        assert_eq!((s.len(), s.index_len()), (1, 2));
        assert_eq!(s.remove_matching("p", Match::Sid("s1")), 0);
        assert_eq!(s.remove_matching("p", Match::Sub("alice")), 1);
        assert_eq!((s.len(), s.index_len()), (0, 0));
    }
}
