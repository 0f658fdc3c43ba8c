//! Upgraded connections (websockets, anything after a `101 Switching Protocols`) that carry a
//! session's identity, and what closes them when that session ends.
//!
//! A request forwarded with a session and asking for an upgrade reaches the application
//! through a connection guichet can close ([`Switch`]: the upstream socket reads end-of-file
//! and refuses writes once it is thrown, so pingora ends both sides). After the `101`, the
//! connection is [`Upgraded::register`]ed under its session's store key until it ends.
//!
//! [`watch`] checks every registered session against the store every [`CHECK_EVERY`]: a
//! session the store no longer has (logout on any replica, back-channel logout, deleted as
//! expired) or that is past its idle or absolute limit closes all its upgraded connections.
//! With Redis every replica checks the shared store, so a logout anywhere closes the
//! session's websockets everywhere within [`CHECK_EVERY`] plus one store round trip (bounded
//! by `redis_command_timeout`). An RP-initiated logout also closes the session's connections
//! on the replica that served it at once ([`Upgraded::close_session`]).
//!
//! A store error proves nothing: the connection stays, unless the session is past its
//! absolute limit as last seen. Traffic on an upgraded connection is not activity: the
//! session's idle limit runs from the last HTTP request.
//!
//! Invariants:
//! - A thrown switch makes the socket read end-of-file and fail writes, now and later
//!   (`tests::a_thrown_switch_ends_reads_and_writes`).
//! - Registrations leave the registry when the connection ends (`tests::registrations_end_with_their_guard`).
//! - Logout, back-channel logout and expiry close a session's websockets within the bound, on
//!   every replica with Redis (`tests/websocket.rs`).
//!
//! # Design notes, and the tests that guard each rule
//!
//! ## `src/upgraded.rs`
//! Upgraded connections by session, and the watcher that closes them when their session ends.
//!
//! **Invariants.**
//! - A websocket of a session that logs out (RP-initiated: at once on that replica), is logged
//!   out by the provider, or expires is closed within `CHECK_EVERY` (1 s) plus one store round
//!   trip, on every replica with Redis; others stay
//!   (`tests/websocket.rs::{a_websocket_closes_when_its_session_logs_out_and_others_stay,
//!   a_websocket_closes_when_its_session_expires_even_while_it_talks,
//!   redis_replicas::logout_or_back_channel_logout_on_one_replica_closes_websockets_on_the_other}`,
//!   `upgraded::tests::*`).
//! - A thrown switch ends reads and writes now and later
//!   (`upstream::peer::tests::a_thrown_switch_ends_reads_and_writes`); registrations end with
//!   their request (`upgraded::tests::registrations_end_with_their_guard`).
//! - A store error closes nothing but sessions past their absolute limit.

use crate::session::{now, SessionKey, SessionStore};
use futures_util::task::AtomicWaker;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use std::time::Duration;

/// How often registered sessions are checked against the store.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Store lookups of one check run at the same time.
const PARALLEL_CHECKS: usize = 32;

/// Closes one upstream connection: thrown once, never reset.
#[derive(Debug, Default)]
pub struct Switch {
    thrown: AtomicBool,
    reader: AtomicWaker,
    writer: AtomicWaker,
}

impl Switch {
    pub fn new() -> Arc<Switch> {
        Arc::new(Switch::default())
    }

    /// Closes the connection: its pending and future reads end, its writes fail.
    pub fn throw(&self) {
        self.thrown.store(true, Ordering::Release);
        self.reader.wake();
        self.writer.wake();
    }

    pub fn is_thrown(&self) -> bool {
        self.thrown.load(Ordering::Acquire)
    }

    /// Registers the task reading the connection, then says whether the switch is thrown (in
    /// that order, so a throw between the two is never missed).
    pub fn thrown_for_reader(&self, w: &Waker) -> bool {
        self.reader.register(w);
        self.is_thrown()
    }

    /// Same as [`Switch::thrown_for_reader`], for the task writing to it.
    pub fn thrown_for_writer(&self, w: &Waker) -> bool {
        self.writer.register(w);
        self.is_thrown()
    }
}

struct Entry {
    id: u64,
    switch: Arc<Switch>,
    /// The session's absolute limit (Unix seconds), used when the store cannot answer.
    ends_at: u64,
    /// When the session expires as the store last showed it (idle or absolute limit, Unix
    /// seconds): a session gone from the store at or after it expired (the store's sweep may
    /// remove it before this check sees it), one gone before it ended.
    expires_at: u64,
}

/// The upgraded connections of this process, by session.
#[derive(Default)]
pub struct Upgraded {
    by_session: Mutex<HashMap<SessionKey, Vec<Entry>>>,
    next_id: AtomicU64,
}

/// Why connections were closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// The store no longer has the session (logout, back-channel logout, deleted).
    Ended,
    /// The session is past its idle or absolute limit.
    Expired,
}

impl Closed {
    pub fn as_str(self) -> &'static str {
        match self {
            Closed::Ended => "session_ended",
            Closed::Expired => "session_expired",
        }
    }
}

/// Keeps a connection registered while it lives; dropping it (the request ends) removes it.
pub struct Registration {
    registry: Arc<Upgraded>,
    key: SessionKey,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut map = self.registry.lock();
        if let Some(entries) = map.get_mut(&self.key) {
            entries.retain(|e| e.id != self.id);
            if entries.is_empty() {
                map.remove(&self.key);
            }
        }
    }
}

impl Upgraded {
    pub fn new() -> Arc<Upgraded> {
        Arc::new(Upgraded::default())
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<SessionKey, Vec<Entry>>> {
        // Entries stay consistent whatever panicked while the lock was held.
        self.by_session.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers the connection `switch` closes, for the session stored under `key`, whose
    /// absolute limit is `ends_at`.
    pub fn register(
        self: &Arc<Self>,
        key: SessionKey,
        switch: Arc<Switch>,
        ends_at: u64,
    ) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().entry(key).or_default().push(Entry {
            id,
            switch,
            ends_at,
            expires_at: ends_at,
        });
        Registration {
            registry: self.clone(),
            key,
            id,
        }
    }

    /// Closes every upgraded connection of a session; returns how many.
    pub fn close_session(&self, key: &SessionKey) -> usize {
        let map = self.lock();
        let Some(entries) = map.get(key) else {
            return 0;
        };
        for e in entries {
            e.switch.throw();
        }
        entries.len()
    }

    /// Open upgraded connections.
    pub fn connections(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }

    /// The sessions with at least one connection, with the earliest absolute limit and the
    /// earliest expiry as last seen of each.
    fn sessions(&self) -> Vec<(SessionKey, u64, u64)> {
        self.lock()
            .iter()
            .map(|(k, v)| {
                let ends_at = v.iter().map(|e| e.ends_at).min().unwrap_or(0);
                let expires_at = v.iter().map(|e| e.expires_at).min().unwrap_or(0);
                (*k, ends_at, expires_at)
            })
            .collect()
    }

    /// Notes when a session the store still has expires, as it showed it.
    fn seen(&self, key: &SessionKey, expires_at: u64) {
        if let Some(entries) = self.lock().get_mut(key) {
            for e in entries {
                e.expires_at = expires_at.min(e.ends_at);
            }
        }
    }

    /// Asks the store about every registered session once ([`SessionStore::get_confirmed`]:
    /// never a replica's cache, whose second would add to this bound); closes the connections
    /// of those that ended or expired. Returns the sessions closed, with why.
    pub async fn check_once(
        &self,
        store: &Arc<dyn SessionStore>,
        idle: Duration,
        absolute: Duration,
    ) -> Vec<(SessionKey, Closed)> {
        let mut closed = Vec::new();
        let mut pending = tokio::task::JoinSet::new();
        let mut sessions = self.sessions().into_iter();
        loop {
            while pending.len() < PARALLEL_CHECKS {
                let Some((key, ends_at, expires_at)) = sessions.next() else {
                    break;
                };
                let store = store.clone();
                pending.spawn(async move {
                    let t = now();
                    let mut live_until = None;
                    let verdict = match store.get_confirmed(&key).await {
                        // Gone: expired if it was past its limits as last seen (the store's
                        // sweep got there first), ended otherwise.
                        Ok(None) if t >= expires_at => Some(Closed::Expired),
                        Ok(None) => Some(Closed::Ended),
                        Ok(Some(s)) => {
                            let verdict = s.expired(t, idle, absolute).map(|_| Closed::Expired);
                            live_until = Some(s.last_seen().saturating_add(idle.as_secs()));
                            verdict
                        }
                        // The store cannot say; only the absolute limit is certain.
                        Err(_) => (t >= ends_at).then_some(Closed::Expired),
                    };
                    (key, verdict, live_until)
                });
            }
            let Some(done) = pending.join_next().await else {
                break;
            };
            match done {
                Ok((key, Some(why), _)) => {
                    self.close_session(&key);
                    closed.push((key, why));
                }
                Ok((key, None, Some(live_until))) => self.seen(&key, live_until),
                _ => {}
            }
        }
        closed
    }
}

/// Checks the registered sessions every [`CHECK_EVERY`], for the life of the process.
pub async fn watch(
    registry: Arc<Upgraded>,
    store: Arc<dyn SessionStore>,
    idle: Duration,
    absolute: Duration,
    metrics: Arc<crate::metrics::Metrics>,
) {
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for (_, why) in registry.check_once(&store, idle, absolute).await {
            tracing::info!(
                reason = why.as_str(),
                "upgraded connections of an ended session closed"
            );
            metrics
                .upgraded_closed
                .with_label_values(&[why.as_str()])
                .inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::session::headers::SessionHeaders;
    use crate::session::memory::MemoryStore;
    use crate::session::{Session, SessionRecord};
    use std::future::poll_fn;
    use std::task::Poll;

    #[test]
    fn registrations_end_with_their_guard() {
        let r = Upgraded::new();
        let a = r.register(SessionKey([1; 32]), Switch::new(), 10);
        let b = r.register(SessionKey([1; 32]), Switch::new(), 5);
        let c = r.register(SessionKey([2; 32]), Switch::new(), 10);
        assert_eq!(r.connections(), 3);
        let mut s = r.sessions();
        s.sort_by_key(|(k, _, _)| k.0);
        assert_eq!(
            s,
            vec![(SessionKey([1; 32]), 5, 5), (SessionKey([2; 32]), 10, 10)]
        );
        drop(b);
        drop(c);
        assert_eq!(r.connections(), 1);
        assert_eq!(r.sessions().len(), 1);
        drop(a);
        assert_eq!(r.connections(), 0);
        assert!(r.lock().is_empty());
    }

    #[tokio::test]
    async fn a_thrown_switch_wakes_its_reader() {
        let switch = Switch::new();
        let waiting = {
            let switch = switch.clone();
            tokio::spawn(async move {
                poll_fn(|cx| {
                    if switch.thrown_for_reader(cx.waker()) {
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    }
                })
                .await
            })
        };
        tokio::task::yield_now().await;
        switch.throw();
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("woken")
            .expect("task");
        assert!(switch.is_thrown());
    }

    fn session(key: SessionKey, created: u64) -> Arc<Session> {
        let claims = serde_json::json!({"sub": "s"});
        let record = SessionRecord {
            provider: "fc".into(),
            identity: Identity::from_claims(&[claims.as_object().unwrap()]).unwrap(),
            level: None,
            created_at: created,
            id_token: "a.b.c".into(),
            sid: None,
            landing: None,
        };
        Arc::new(Session::new(
            key,
            record,
            created,
            SessionHeaders::default(),
        ))
    }

    /// A memory store (idle 60 s, absolute 1 h).
    fn memory_store() -> Arc<dyn SessionStore> {
        let session_cfg = crate::config::SessionConfig {
            store: crate::config::StoreKind::Memory,
            idle_timeout: Duration::from_secs(60),
            absolute_timeout: Duration::from_secs(3600),
            login_timeout: Duration::from_secs(600),
            max_sessions: 100,
            max_sessions_per_citizen: 10,
            preserve_post_max_bytes: 0,
        };
        Arc::new(MemoryStore::new(
            &session_cfg,
            crate::session::Notices::none(),
        ))
    }

    #[tokio::test]
    async fn ended_and_expired_sessions_close_their_connections_and_live_ones_keep_them() {
        let store = memory_store();
        let (live, gone, old) = (
            SessionKey([1; 32]),
            SessionKey([2; 32]),
            SessionKey([3; 32]),
        );
        let t = now();
        store.insert(live, session(live, t)).await.unwrap();
        store.insert(old, session(old, t - 100)).await.unwrap();
        let r = Upgraded::new();
        let switches: Vec<_> = (0..3).map(|_| Switch::new()).collect();
        let _regs: Vec<_> = [live, gone, old]
            .iter()
            .zip(&switches)
            .map(|(k, s)| r.register(*k, s.clone(), t + 3600))
            .collect();
        let mut closed = r
            .check_once(&store, Duration::from_secs(60), Duration::from_secs(3600))
            .await;
        closed.sort_by_key(|(k, _)| k.0);
        assert_eq!(closed, vec![(gone, Closed::Ended), (old, Closed::Expired)]);
        assert!(!switches[0].is_thrown());
        assert!(switches[1].is_thrown() && switches[2].is_thrown());
        assert_eq!(r.close_session(&live), 1);
        assert!(switches[0].is_thrown());
    }

    /// The store's sweep may remove an expired session before the watcher asks: gone after
    /// its limit as last seen is still "expired", gone before it "ended".
    #[tokio::test]
    async fn a_session_swept_after_its_limit_counts_as_expired() {
        let store = memory_store();
        let (idle, absolute) = (Duration::from_secs(60), Duration::from_secs(3600));
        let (swept, logged_out) = (SessionKey([4; 32]), SessionKey([5; 32]));
        let t = now();
        // Idle for 59 of its 60 s: it expires at t + 1.
        store.insert(swept, session(swept, t - 59)).await.unwrap();
        store
            .insert(logged_out, session(logged_out, t))
            .await
            .unwrap();
        let r = Upgraded::new();
        let _regs: Vec<_> = [swept, logged_out]
            .iter()
            .map(|k| r.register(*k, Switch::new(), t + 3600))
            .collect();
        assert!(r.check_once(&store, idle, absolute).await.is_empty());
        store.remove(&swept).await.unwrap();
        store.remove(&logged_out).await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while now() < t + 1 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut closed = r.check_once(&store, idle, absolute).await;
        closed.sort_by_key(|(k, _)| k.0);
        assert_eq!(
            closed,
            vec![(swept, Closed::Expired), (logged_out, Closed::Ended)]
        );
    }
}
