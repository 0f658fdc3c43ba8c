//! The embedded store: bounded moka caches in this process (sessions, login states, logout
//! token ids) and the back-channel index. The default for a single replica; with several
//! replicas use Redis.
//!
//! Invariants: at most `max_sessions` sessions are held (moka evicts, it never grows past the
//! bound); entries also expire by themselves at the absolute and idle limits, so memory is
//! reclaimed even for sessions nobody asks for again. The index (provider + `sid`/`sub` ->
//! sessions) gets an entry when a session is inserted and loses it when moka drops the
//! session for any reason (eviction listener), so it is bounded by the sessions held and a
//! live session is always reachable through it.

use super::{LoginState, Match, Session, SessionKey, SessionStore, StoreError};
use crate::config::SessionConfig;
use async_trait::async_trait;
use moka::notification::RemovalCause;
use moka::sync::Cache;
use moka::Expiry;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Upper bound of logins in progress kept at once (a flood of login starts evicts the oldest).
const MAX_PENDING_LOGINS: u64 = 100_000;
/// Upper bound of logout token ids remembered (only valid, signed tokens get here).
const MAX_TOKEN_IDS: u64 = 100_000;

type Index = Arc<Mutex<HashMap<[u8; 32], Vec<SessionKey>>>>;

pub struct MemoryStore {
    sessions: Cache<SessionKey, Arc<Session>>,
    logins: Cache<String, LoginState>,
    token_ids: Cache<String, Duration>,
    index: Index,
}

impl MemoryStore {
    pub fn new(cfg: &SessionConfig) -> MemoryStore {
        let index: Index = Arc::default();
        let listener_index = index.clone();
        MemoryStore {
            sessions: Cache::builder()
                .max_capacity(cfg.max_sessions)
                .time_to_live(cfg.absolute_timeout)
                .time_to_idle(cfg.idle_timeout)
                .eviction_listener(move |key: Arc<SessionKey>, session: Arc<Session>, cause| {
                    // A replaced entry keeps its key: its index entries still point to it.
                    if cause != RemovalCause::Replaced {
                        unindex(&listener_index, &key, &session);
                    }
                })
                .build(),
            logins: Cache::builder()
                .max_capacity(MAX_PENDING_LOGINS)
                .time_to_live(cfg.login_timeout)
                .build(),
            // Each id lives for the ttl it was remembered with.
            token_ids: Cache::builder()
                .max_capacity(MAX_TOKEN_IDS)
                .expire_after(OwnTtl)
                .build(),
            index,
        }
    }

    /// Applies pending evictions now (tests and benchmarks that count entries).
    pub fn sync(&self) {
        self.sessions.run_pending_tasks();
        self.logins.run_pending_tasks();
    }

    /// Index entries held (tests: the index is bounded by the sessions).
    pub fn index_len(&self) -> usize {
        lock(&self.index).values().map(Vec::len).sum()
    }
}

/// Expiry policy of remembered token ids: the value is the id's own lifetime.
struct OwnTtl;

impl Expiry<String, Duration> for OwnTtl {
    fn expire_after_create(&self, _id: &String, ttl: &Duration, _at: Instant) -> Option<Duration> {
        Some(*ttl)
    }
}

fn lock(index: &Index) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Vec<SessionKey>>> {
    index.lock().unwrap_or_else(|p| p.into_inner())
}

fn unindex(index: &Index, key: &SessionKey, session: &Session) {
    let mut map = lock(index);
    for ik in Match::keys_of(&session.record) {
        if let Some(keys) = map.get_mut(&ik) {
            keys.retain(|k| k != key);
            if keys.is_empty() {
                map.remove(&ik);
            }
        }
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn get(&self, key: &SessionKey) -> Result<Option<Arc<Session>>, StoreError> {
        Ok(self.sessions.get(key))
    }

    async fn insert(&self, key: SessionKey, session: Arc<Session>) -> Result<(), StoreError> {
        {
            let mut map = lock(&self.index);
            for ik in Match::keys_of(&session.record) {
                let keys = map.entry(ik).or_default();
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
        }
        self.sessions.insert(key, session);
        Ok(())
    }

    async fn remove(&self, key: &SessionKey) -> Result<(), StoreError> {
        self.sessions.invalidate(key);
        Ok(())
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
        let keys = lock(&self.index)
            .get(&m.index_key(provider))
            .cloned()
            .unwrap_or_default();
        let mut removed = 0;
        for key in keys {
            if self.sessions.remove(&key).is_some() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    async fn remember_once(&self, id: &str, ttl: Duration) -> Result<bool, StoreError> {
        let entry = self.token_ids.entry(id.to_string()).or_insert(ttl);
        Ok(entry.is_fresh())
    }

    async fn forget(&self, id: &str) -> Result<(), StoreError> {
        self.token_ids.invalidate(id);
        Ok(())
    }

    async fn ready(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn active_sessions(&self) -> Option<u64> {
        // moka counts lazily; settle pending work first (called at scrape time, not per request).
        self.sessions.run_pending_tasks();
        Some(self.sessions.entry_count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StoreKind;
    use crate::identity::{headers::SessionHeaders, Identity};
    use crate::session::SessionRecord;
    use serde_json::json;

    fn cfg(max: u64) -> SessionConfig {
        SessionConfig {
            store: StoreKind::Memory,
            idle_timeout: Duration::from_secs(60),
            absolute_timeout: Duration::from_secs(600),
            login_timeout: Duration::from_secs(60),
            max_sessions: max,
        }
    }

    fn session_of(sub: &str, sid: Option<&str>) -> Arc<Session> {
        let claims = json!({ "sub": sub });
        Arc::new(Session::new(
            SessionRecord {
                provider: "p".into(),
                identity: Identity::from_claims(&[claims.as_object().unwrap()]).unwrap(),
                level: None,
                created_at: 0,
                id_token: "".into(),
                sid: sid.map(String::from),
            },
            0,
            SessionHeaders::default(),
        ))
    }

    fn session() -> Arc<Session> {
        session_of("s", None)
    }

    fn key(i: u32) -> SessionKey {
        SessionKey(crate::crypto::sha256(&i.to_le_bytes()))
    }

    #[tokio::test]
    async fn login_state_is_single_use() {
        let store = MemoryStore::new(&cfg(10));
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
        };
        store.put_login("st", login).await.unwrap();
        assert!(store.take_login("st").await.unwrap().is_some());
        assert!(store.take_login("st").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn bounded_store_evicts_instead_of_growing() {
        let store = MemoryStore::new(&cfg(100));
        for i in 0..1000 {
            store
                .insert(
                    key(i),
                    session_of(&format!("s{i}"), Some(&format!("sid{i}"))),
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
    async fn removed_session_is_gone() {
        let store = MemoryStore::new(&cfg(10));
        store.insert(key(1), session()).await.unwrap();
        assert!(store.get(&key(1)).await.unwrap().is_some());
        store.remove(&key(1)).await.unwrap();
        assert!(store.get(&key(1)).await.unwrap().is_none());
        store.sync();
        assert_eq!(store.index_len(), 0);
    }

    #[tokio::test]
    async fn back_channel_matches_by_sid_or_by_sub_within_one_provider() {
        let store = MemoryStore::new(&cfg(10));
        store
            .insert(key(1), session_of("alice", Some("sid-a1")))
            .await
            .unwrap();
        store
            .insert(key(2), session_of("alice", Some("sid-a2")))
            .await
            .unwrap();
        store
            .insert(key(3), session_of("bob", Some("sid-b")))
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
        let store = MemoryStore::new(&cfg(10));
        let ttl = Duration::from_secs(60);
        assert!(store.remember_once("j1", ttl).await.unwrap());
        assert!(!store.remember_once("j1", ttl).await.unwrap());
        store.forget("j1").await.unwrap();
        assert!(store.remember_once("j1", ttl).await.unwrap());
    }
}
