//! The embedded store: two bounded moka caches in this process (sessions, login states).
//! The default for a single replica; with several replicas use Redis.
//!
//! Invariants: at most `max_sessions` sessions are held (moka evicts, it never grows past the
//! bound); entries also expire by themselves at the absolute and idle limits, so memory is
//! reclaimed even for sessions nobody asks for again.

use super::{LoginState, Session, SessionKey, SessionStore, StoreError};
use crate::config::SessionConfig;
use async_trait::async_trait;
use moka::sync::Cache;
use std::sync::Arc;

/// Upper bound of logins in progress kept at once (a flood of login starts evicts the oldest).
const MAX_PENDING_LOGINS: u64 = 100_000;

pub struct MemoryStore {
    sessions: Cache<SessionKey, Arc<Session>>,
    logins: Cache<String, LoginState>,
}

impl MemoryStore {
    pub fn new(cfg: &SessionConfig) -> MemoryStore {
        MemoryStore {
            sessions: Cache::builder()
                .max_capacity(cfg.max_sessions)
                .time_to_live(cfg.absolute_timeout)
                .time_to_idle(cfg.idle_timeout)
                .build(),
            logins: Cache::builder()
                .max_capacity(MAX_PENDING_LOGINS)
                .time_to_live(cfg.login_timeout)
                .build(),
        }
    }

    /// Applies pending evictions now (tests and benchmarks that count entries).
    pub fn sync(&self) {
        self.sessions.run_pending_tasks();
        self.logins.run_pending_tasks();
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn get(&self, key: &SessionKey) -> Result<Option<Arc<Session>>, StoreError> {
        Ok(self.sessions.get(key))
    }

    async fn insert(&self, key: SessionKey, session: Arc<Session>) -> Result<(), StoreError> {
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
    use crate::identity::{headers::HeaderBlock, Identity};
    use crate::session::SessionRecord;
    use serde_json::json;
    use std::time::Duration;

    fn cfg(max: u64) -> SessionConfig {
        SessionConfig {
            store: StoreKind::Memory,
            idle_timeout: Duration::from_secs(60),
            absolute_timeout: Duration::from_secs(600),
            login_timeout: Duration::from_secs(60),
            max_sessions: max,
        }
    }

    fn session() -> Arc<Session> {
        let claims = json!({"sub": "s"});
        Arc::new(Session::new(
            SessionRecord {
                provider: "p".into(),
                identity: Identity::from_claims(&[claims.as_object().unwrap()]).unwrap(),
                level: None,
                created_at: 0,
                id_token: String::new(),
                sid: None,
            },
            0,
            HeaderBlock::default(),
        ))
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
        };
        store.put_login("st", login).await.unwrap();
        assert!(store.take_login("st").await.unwrap().is_some());
        assert!(store.take_login("st").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn bounded_store_evicts_instead_of_growing() {
        let store = MemoryStore::new(&cfg(100));
        for i in 0..1000 {
            store.insert(key(i), session()).await.unwrap();
        }
        store.sync();
        let n = store.active_sessions().unwrap();
        assert!(n <= 100, "{n} sessions held with max_sessions = 100");
    }

    #[tokio::test]
    async fn removed_session_is_gone() {
        let store = MemoryStore::new(&cfg(10));
        store.insert(key(1), session()).await.unwrap();
        assert!(store.get(&key(1)).await.unwrap().is_some());
        store.remove(&key(1)).await.unwrap();
        assert!(store.get(&key(1)).await.unwrap().is_none());
    }
}
