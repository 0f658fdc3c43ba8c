//! The Redis store on its own, against a real `redis-server`: two store instances stand for
//! two replicas. Redis decides whether a session exists; derived data is cached per version;
//! write-backs never resurrect a deleted session; the back-channel index, token ids and
//! login states behave as the trait says; errors are bounded in time.

mod common;

use common::redis::RedisServer;
use guichet::config::{RedisConfig, Secret, SessionConfig, StoreKind};
use guichet::identity::headers::SessionHeaders;
use guichet::identity::Identity;
use guichet::session::redis::RedisStore;
use guichet::session::{
    now, LoginState, Match, Session, SessionBuilder, SessionKey, SessionRecord, SessionStore,
};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn session_cfg() -> SessionConfig {
    SessionConfig {
        store: StoreKind::Memory,
        idle_timeout: Duration::from_secs(600),
        absolute_timeout: Duration::from_secs(3600),
        login_timeout: Duration::from_secs(60),
        max_sessions: 1000,
        preserve_post_max_bytes: 65536,
    }
}

fn redis_cfg(url: &str, ca: Option<std::path::PathBuf>) -> RedisConfig {
    RedisConfig {
        url: Secret::inline(url, "test"),
        key_prefix: "t:".into(),
        connect_timeout: Duration::from_millis(300),
        command_timeout: Duration::from_millis(300),
        ca_file: ca,
    }
}

/// A store whose builder counts how many sessions it derived.
fn store(url: &str) -> (RedisStore, Arc<AtomicUsize>) {
    let builds = Arc::new(AtomicUsize::new(0));
    let counter = builds.clone();
    let builder = SessionBuilder::new(move |key, record, seen| {
        counter.fetch_add(1, Ordering::Relaxed);
        Session::new(*key, record, seen, SessionHeaders::default())
    });
    let s = RedisStore::new(
        &session_cfg(),
        &redis_cfg(url, None),
        "https://demarches.example.fr",
        builder,
    )
    .expect("store");
    (s, builds)
}

fn record(provider: &str, sub: &str, sid: Option<&str>) -> SessionRecord {
    let claims = json!({ "sub": sub });
    SessionRecord {
        provider: provider.into(),
        identity: Identity::from_claims(&[claims.as_object().unwrap()]).unwrap(),
        level: None,
        created_at: now(),
        id_token: "h.p.s".into(),
        sid: sid.map(String::from),
    }
}

fn live(k: SessionKey, r: SessionRecord) -> Arc<Session> {
    let t = r.created_at;
    Arc::new(Session::new(k, r, t, SessionHeaders::default()))
}

fn key() -> SessionKey {
    SessionKey::from_cookie(&guichet::crypto::random_token()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_is_the_authority_and_derived_data_is_cached_per_version() {
    let redis = RedisServer::start();
    let (a, _) = store(&redis.url());
    let (b, b_builds) = store(&redis.url());
    let k = key();
    a.insert(k, live(k, record("p", "alice", None)))
        .await
        .unwrap();
    // B derives the session once, then reuses it while Redis answers the same version.
    for _ in 0..5 {
        let s = b.get(&k).await.unwrap().expect("visible on B");
        assert_eq!(s.record.identity.sub(), "alice");
    }
    assert_eq!(b_builds.load(Ordering::Relaxed), 1);
    // Recreated under the same key with another record while B holds the old one in its
    // cache: the version differs, B derives the new one.
    a.remove(&k).await.unwrap();
    a.insert(k, live(k, record("p", "bob", None)))
        .await
        .unwrap();
    let s = b.get(&k).await.unwrap().unwrap();
    assert_eq!(s.record.identity.sub(), "bob");
    assert_eq!(b_builds.load(Ordering::Relaxed), 2);
    // Deleted on A: gone on B at once, although B has it cached.
    a.remove(&k).await.unwrap();
    assert!(b.get(&k).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_write_back_never_resurrects_a_deleted_session() {
    let redis = RedisServer::start();
    let (a, _) = store(&redis.url());
    let (b, _) = store(&redis.url());
    let k = key();
    a.insert(k, live(k, record("p", "alice", None)))
        .await
        .unwrap();
    let on_a = a.get(&k).await.unwrap().unwrap();
    b.remove(&k).await.unwrap();
    assert!(on_a.touch(now() + 5, Duration::from_secs(1)));
    a.touch(&k, &on_a).await.unwrap();
    assert!(a.get(&k).await.unwrap().is_none());
    assert!(redis.keys("t:*:s:*").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_written_by_one_replica_is_seen_by_the_other() {
    let redis = RedisServer::start();
    let (a, _) = store(&redis.url());
    let (b, _) = store(&redis.url());
    let k = key();
    let s = live(k, record("p", "alice", None));
    let created = s.last_seen();
    a.insert(k, s.clone()).await.unwrap();
    let on_b = b.get(&k).await.unwrap().unwrap();
    assert_eq!(on_b.last_seen(), created);
    assert!(s.touch(created + 30, Duration::from_secs(1)));
    a.touch(&k, &s).await.unwrap();
    let on_b = b.get(&k).await.unwrap().unwrap();
    assert_eq!(on_b.last_seen(), created + 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_channel_index_token_ids_and_login_states() {
    let redis = RedisServer::start();
    let (a, _) = store(&redis.url());
    let (b, _) = store(&redis.url());
    let (k1, k2, k3, k4) = (key(), key(), key(), key());
    a.insert(k1, live(k1, record("p", "alice", Some("sid-1"))))
        .await
        .unwrap();
    a.insert(k2, live(k2, record("p", "alice", Some("sid-2"))))
        .await
        .unwrap();
    a.insert(k3, live(k3, record("p", "bob", Some("sid-3"))))
        .await
        .unwrap();
    a.insert(k4, live(k4, record("q", "alice", Some("sid-1"))))
        .await
        .unwrap();
    assert_eq!(
        b.remove_matching("p", Match::Sid("sid-1")).await.unwrap(),
        1
    );
    assert!(a.get(&k1).await.unwrap().is_none());
    assert!(a.get(&k2).await.unwrap().is_some());
    assert!(
        a.get(&k4).await.unwrap().is_some(),
        "other provider touched"
    );
    assert_eq!(
        b.remove_matching("p", Match::Sub("alice")).await.unwrap(),
        1
    );
    assert!(a.get(&k2).await.unwrap().is_none());
    assert!(a.get(&k3).await.unwrap().is_some());
    assert_eq!(
        b.remove_matching("p", Match::Sub("nobody")).await.unwrap(),
        0
    );

    let ttl = Duration::from_secs(60);
    assert!(a.remember_once("jti-1", ttl).await.unwrap());
    assert!(!b.remember_once("jti-1", ttl).await.unwrap());
    b.forget("jti-1").await.unwrap();
    assert!(a.remember_once("jti-1", ttl).await.unwrap());

    let login = LoginState {
        provider: "p".into(),
        nonce: "n".into(),
        pkce_verifier: Some("v".into()),
        return_to: "/x".into(),
        level: None,
        binding: "b".into(),
        created_at: now(),
        logout: false,
        step_up: false,
        form: None,
    };
    a.put_login("state-1", login).await.unwrap();
    let taken = b
        .take_login("state-1")
        .await
        .unwrap()
        .expect("visible on B");
    assert_eq!(taken.return_to, "/x");
    assert!(
        a.take_login("state-1").await.unwrap().is_none(),
        "state used twice"
    );
    // Nothing stored names a state, a cookie, a sub or a sid in clear.
    for k in redis.keys("t:*") {
        for clear in ["state-1", "alice", "sid-", "jti-1"] {
            assert!(!k.contains(clear), "{k}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_or_untrusted_redis_is_an_error_within_the_time_bound() {
    guichet::server::install_crypto_provider();
    let closed = guichet::demo::free_port().unwrap();
    let (s, _) = store(&format!("redis://127.0.0.1:{closed}/0"));
    let started = Instant::now();
    assert!(s.get(&key()).await.is_err());
    assert!(s.ready().await.is_err());
    assert!(s
        .insert(key(), live(key(), record("p", "a", None)))
        .await
        .is_err());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // TLS to a server whose certificate no trusted CA signed: refused.
    let tls = RedisServer::start_tls("pw");
    let untrusted = RedisStore::new(
        &session_cfg(),
        &redis_cfg(&tls.tls_url(), None),
        "https://demarches.example.fr",
        SessionBuilder::new(|k, r, t| Session::new(*k, r, t, SessionHeaders::default())),
    )
    .unwrap();
    assert!(untrusted.ready().await.is_err());
    let trusted = RedisStore::new(
        &session_cfg(),
        &redis_cfg(&tls.tls_url(), Some(tls.ca_path())),
        "https://demarches.example.fr",
        SessionBuilder::new(|k, r, t| Session::new(*k, r, t, SessionHeaders::default())),
    )
    .unwrap();
    trusted.ready().await.unwrap();
}
