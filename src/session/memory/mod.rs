//! The embedded store, in this process: live sessions with their back-channel index
//! ([`sessions`]: a sharded table sized for a million sessions), and bounded moka caches for
//! login states (weighed by their size, kept forms included) and logout token ids. The default for a single replica; with several replicas
//! use Redis.
//!
//! Invariants: at most `max_sessions` sessions are held (an insert past the bound evicts);
//! expired sessions are swept by themselves at the absolute and idle limits, so memory is
//! reclaimed even for sessions nobody asks for again; the index (provider + `sid`/`sub` ->
//! sessions) is bounded by the sessions held and a live session is always reachable through
//! it (see [`sessions`]).
//!
//! # Design notes, and the tests that guard each rule
//!
//! **Memory per session.** The memory store is sized for a million live sessions;
//! `benches/memory.rs` measures the resident memory per session built the way a
//! FranceConnect login builds it (`MEMORY_SESSIONS=1000000 cargo bench --bench memory`):
//! about 970 bytes per session (0.91 GiB per million; it was 8 KB, then 1.65 KB with
//! FranceConnect's largest id_tokens kept in the session, `MEMORY_ID_TOKEN=1`), plus about 0.95 KB per session that has
//! a cached assertion (`MEMORY_SIGN=1`), dropped once it can no longer be sent. What keeps it there, each with the test that guards its correctness: the
//! `Identity` is one string buffer with the end offset of each claim (not a
//! map of strings), serialized as the same `{"claims": {...}}` map as before
//! (`identity::tests::serialized_form_is_the_claim_map_of_earlier_versions`); the identity headers
//! are one buffer of encoded values per session, each request's header values being slices of it
//! (a reference count, no copy) and the names coming from the configuration, every profile's block
//! a view of the same buffer (`session::headers::tests::every_claim_value_is_sliced_back_exactly`); the
//! assertion's claims are not kept, they are made from the record when it is signed (once per
//! validity window); the id_token is held as its decoded bytes when it re-encodes to the exact
//! same string, as received otherwise (`id_token::tests::every_token_comes_back_exactly`); the
//! session table is a set of sessions keyed by the key each session carries (one pointer per
//! slot) and the back-channel index a B-tree of 64-bit prefixes of the index keys, checked against
//! the record before any removal (`sessions::tests::index_prefix_collisions_remove_nothing_else`);
//! the sweep that removes expired sessions (one shard per second, in the server's background
//! task: no request ever pays for it, `sessions::tests::lookups_never_sweep`) also drops cached assertions
//! that can no longer be sent, so an idle session does not keep its last assertion
//! (`sessions::tests::the_sweep_drops_assertions_that_can_no_longer_be_sent`). The id_token kept
//! for the logout hint, which was half of a session, is not in memory at all with the memory store:
//! the browser holds it, sealed (AES-256-GCM under a key of the process, the store key as
//! associated data) in a cookie sent only to `/.guichet/logout`
//! (`session/logout_hint.rs`, `logout_hint::tests::a_hint_opens_only_for_its_session_and_its_process`,
//! end to end `tests/login_flow.rs::logout_deletes_the_session_then_logs_out_of_the_provider`,
//! `tests/providers.rs::franceconnect_plus_with_*`); a token too large for a cookie stays in the
//! session; the Redis store keeps it in its record (another replica must be able to log out).

mod sessions;

use super::{LoginState, Match, Notices, Session, SessionKey, SessionStore, StoreError};
use crate::config::SessionConfig;
use async_trait::async_trait;
use moka::sync::Cache;
use moka::Expiry;
use sessions::Sessions;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Shards of the session table the background sweep goes through per call (a call a
/// second: every session is looked at every 8 s).
const SWEEP_SHARDS: usize = 8;

/// Upper bound of the bytes of login states kept at once, as [`LoginState::weight`] counts
/// them: 100 000 logins in progress, fewer when some carry a kept form (a 64 KiB form counts
/// as 65 logins). Past it, states are evicted (or new ones not admitted) rather than grow.
const MAX_PENDING_LOGIN_BYTES: u64 = 100_000 * 1024;
/// Upper bound of logout token ids remembered (only valid, signed tokens get here).
const MAX_TOKEN_IDS: u64 = 100_000;

pub struct MemoryStore {
    sessions: Sessions,
    logins: Cache<String, LoginState>,
    token_ids: Cache<String, Duration>,
}

impl MemoryStore {
    /// The store for `cfg`; sessions it ends by itself are reported to `notices`.
    pub fn new(cfg: &SessionConfig, notices: Notices) -> MemoryStore {
        MemoryStore::with_login_bytes(cfg, notices, MAX_PENDING_LOGIN_BYTES)
    }

    /// A store whose login states may take `login_bytes` (tests of the bound).
    fn with_login_bytes(cfg: &SessionConfig, notices: Notices, login_bytes: u64) -> MemoryStore {
        MemoryStore {
            sessions: Sessions::new(cfg, notices),
            logins: Cache::builder()
                .max_capacity(login_bytes)
                .weigher(|_state, login: &LoginState| {
                    u32::try_from(login.weight()).unwrap_or(u32::MAX)
                })
                .time_to_live(cfg.login_timeout)
                .build(),
            // Each id lives for the ttl it was remembered with.
            token_ids: Cache::builder()
                .max_capacity(MAX_TOKEN_IDS)
                .expire_after(OwnTtl)
                .build(),
        }
    }

    /// Sweeps expired sessions (and stale cached assertions) and applies pending evictions
    /// now, rather than a shard per second (tests and benchmarks that count entries).
    pub fn sync(&self) {
        self.sweep(super::now());
        self.logins.run_pending_tasks();
    }

    /// Sweeps every session as at `now` (see [`MemoryStore::sync`]); returns how many
    /// expired sessions were removed.
    pub fn sweep(&self, now: u64) -> usize {
        self.sessions.sweep_all(now)
    }

    /// Index entries held (tests: the index is bounded by the sessions).
    pub fn index_len(&self) -> usize {
        self.sessions.index_len()
    }
}

/// Expiry policy of remembered token ids: the value is the id's own lifetime.
struct OwnTtl;

impl Expiry<String, Duration> for OwnTtl {
    fn expire_after_create(&self, _id: &String, ttl: &Duration, _at: Instant) -> Option<Duration> {
        Some(*ttl)
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn get(&self, key: &SessionKey) -> Result<Option<Arc<Session>>, StoreError> {
        Ok(self.sessions.get(key))
    }

    async fn insert(&self, key: SessionKey, session: Arc<Session>) -> Result<(), StoreError> {
        if *session.key() != key {
            // A session built for another key: a bug, never stored under the wrong key.
            return Err(StoreError::WrongKey);
        }
        self.sessions.insert(session);
        Ok(())
    }

    async fn remove(&self, key: &SessionKey) -> Result<bool, StoreError> {
        Ok(self.sessions.remove(key).is_some())
    }

    async fn touch(&self, _key: &SessionKey, _session: &Session) -> Result<(), StoreError> {
        // The session object itself is shared: its `last_seen` is already updated.
        Ok(())
    }

    async fn put_login(&self, state: &str, login: LoginState) -> Result<(), StoreError> {
        self.logins.insert(state.to_string(), login);
        Ok(())
    }

    async fn take_login(&self, state: &str) -> Result<Option<LoginState>, StoreError> {
        Ok(self.logins.remove(state))
    }

    async fn remove_matching(&self, provider: &str, m: Match<'_>) -> Result<u64, StoreError> {
        Ok(self.sessions.remove_matching(provider, m))
    }

    async fn remember_once(&self, id: &str, ttl: Duration) -> Result<bool, StoreError> {
        let entry = self.token_ids.entry(id.to_string()).or_insert(ttl);
        Ok(entry.is_fresh())
    }

    async fn forget(&self, id: &str) -> Result<(), StoreError> {
        self.token_ids.invalidate(id);
        Ok(())
    }

    async fn sweep(&self) -> Result<usize, StoreError> {
        Ok(self.sessions.sweep_step(super::now(), SWEEP_SHARDS))
    }

    async fn ready(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn active_sessions(&self) -> Option<u64> {
        Some(self.sessions.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StoreKind;
    use crate::identity::Identity;
    use crate::session::headers::SessionHeaders;
    use crate::session::SessionRecord;
    use serde_json::json;

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

    fn session_of(k: u32, sub: &str, sid: Option<&str>) -> Arc<Session> {
        let claims = json!({ "sub": sub });
        Arc::new(Session::new(
            key(k),
            SessionRecord {
                provider: "p".into(),
                identity: Identity::from_claims(&[claims.as_object().unwrap()]).unwrap(),
                level: None,
                created_at: 0,
                id_token: "".into(),
                sid: sid.map(String::from),
                landing: None,
            },
            0,
            SessionHeaders::default(),
        ))
    }

    fn session(k: u32) -> Arc<Session> {
        session_of(k, "s", None)
    }

    fn key(i: u32) -> SessionKey {
        SessionKey(crate::crypto::sha256(&i.to_le_bytes()))
    }

    #[tokio::test]
    async fn login_state_is_single_use() {
        let store = MemoryStore::new(&cfg(10), Notices::none());
        let login = LoginState {
            provider: "p".into(),
            nonce: "n".into(),
            pkce_verifier: None,
            return_to: "/".into(),
            level: None,
            binding: "b".into(),
            created_at: 0,
            logout: false,
            step_up: false,
            form: None,
        };
        store.put_login("st", login).await.unwrap();
        assert!(store.take_login("st").await.unwrap().is_some());
        assert!(store.take_login("st").await.unwrap().is_none());
    }

    fn kept_form(bytes: usize) -> LoginState {
        use crate::forms::{Encoding, Field, KeptForm, Value};
        LoginState {
            provider: String::new(),
            nonce: String::new(),
            pkce_verifier: None,
            return_to: "/f".into(),
            level: None,
            binding: "b".into(),
            created_at: 0,
            logout: false,
            step_up: false,
            form: Some(crate::session::FormLink::Kept(Box::new(KeptForm {
                action: "/f".into(),
                encoding: Encoding::Urlencoded,
                fields: vec![Field {
                    name: "a".into(),
                    value: Value::Text("x".repeat(bytes)),
                }],
                author: None,
            }))),
        }
    }

    #[tokio::test]
    async fn kept_forms_count_in_the_bound_of_login_states_by_their_size() {
        // Room for 64 plain logins: a 64 KiB form alone takes (more than) all of it.
        let store = MemoryStore::with_login_bytes(&cfg(10), Notices::none(), 64 * 1024);
        for i in 0..64 {
            let mut l = kept_form(0);
            l.form = None;
            store.put_login(&format!("s{i}"), l).await.unwrap();
        }
        store.sync();
        assert_eq!(store.logins.entry_count(), 64);
        for i in 0..20 {
            store
                .put_login(&format!("f{i}"), kept_form(16 * 1024))
                .await
                .unwrap();
        }
        store.sync();
        let held = store.logins.weighted_size();
        assert!(held <= 64 * 1024, "{held} bytes of login states held");
        assert!(
            store.logins.entry_count() < 64 + 20,
            "forms counted as one login each"
        );
        assert!(kept_form(16 * 1024).weight() > 17 * 1024);
    }

    #[tokio::test]
    async fn bounded_store_evicts_instead_of_growing() {
        let store = MemoryStore::new(&cfg(100), Notices::none());
        for i in 0..1000 {
            store
                .insert(
                    key(i),
                    session_of(i, &format!("s{i}"), Some(&format!("sid{i}"))),
                )
                .await
                .unwrap();
        }
        store.sync();
        let n = store.active_sessions().unwrap();
        assert!(n <= 100, "{n} sessions held with max_sessions = 100");
        // The back-channel index shrinks with the sessions (two entries per session at most).
        let indexed = store.index_len();
        assert!(
            indexed <= 2 * 100,
            "{indexed} index entries for {n} sessions"
        );
    }

    #[tokio::test]
    async fn a_session_is_only_stored_under_its_own_key() {
        let store = MemoryStore::new(&cfg(10), Notices::none());
        assert!(store.insert(key(2), session(1)).await.is_err());
        assert!(store.get(&key(1)).await.unwrap().is_none());
        assert!(store.get(&key(2)).await.unwrap().is_none());
        assert_eq!(store.active_sessions(), Some(0));
    }

    #[tokio::test]
    async fn removed_session_is_gone() {
        let store = MemoryStore::new(&cfg(10), Notices::none());
        store.insert(key(1), session(1)).await.unwrap();
        assert!(store.get(&key(1)).await.unwrap().is_some());
        store.remove(&key(1)).await.unwrap();
        assert!(store.get(&key(1)).await.unwrap().is_none());
        store.sync();
        assert_eq!(store.index_len(), 0);
    }

    #[tokio::test]
    async fn back_channel_matches_by_sid_or_by_sub_within_one_provider() {
        let store = MemoryStore::new(&cfg(10), Notices::none());
        store
            .insert(key(1), session_of(1, "alice", Some("sid-a1")))
            .await
            .unwrap();
        store
            .insert(key(2), session_of(2, "alice", Some("sid-a2")))
            .await
            .unwrap();
        store
            .insert(key(3), session_of(3, "bob", Some("sid-b")))
            .await
            .unwrap();
        // Another provider's session with the same sub is not touched.
        assert_eq!(
            store
                .remove_matching("other", Match::Sub("alice"))
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            store
                .remove_matching("p", Match::Sid("sid-a1"))
                .await
                .unwrap(),
            1
        );
        assert!(store.get(&key(1)).await.unwrap().is_none());
        assert!(store.get(&key(2)).await.unwrap().is_some());
        assert_eq!(
            store
                .remove_matching("p", Match::Sub("alice"))
                .await
                .unwrap(),
            1
        );
        assert!(store.get(&key(2)).await.unwrap().is_none());
        assert!(store.get(&key(3)).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn token_ids_are_remembered_once() {
        let store = MemoryStore::new(&cfg(10), Notices::none());
        let ttl = Duration::from_secs(60);
        assert!(store.remember_once("j1", ttl).await.unwrap());
        assert!(!store.remember_once("j1", ttl).await.unwrap());
        store.forget("j1").await.unwrap();
        assert!(store.remember_once("j1", ttl).await.unwrap());
    }
}
