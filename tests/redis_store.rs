//! The Redis store on its own, against a real `redis-server`: two store instances stand for
//! two replicas. Redis decides whether a session exists; derived data is cached per version;
//! write-backs never resurrect a deleted session; the back-channel index, token ids and
//! login states behave as the trait says; records are sealed, and a record altered, moved or
//! sealed with another key is refused; the index loses an entry when its session ends; one
//! citizen's sessions are capped; sweeps end expired sessions once, with a notice; errors are
//! bounded in time.

mod common;

use common::redis::RedisServer;
use guichet::config::{RedisConfig, Secret, SessionConfig, StoreKind};
use guichet::identity::Identity;
use guichet::session::headers::SessionHeaders;
use guichet::session::redis::RedisStore;
use guichet::session::{
    now, LoginState, Match, Notice, Notices, Session, SessionBuilder, SessionKey, SessionRecord,
    SessionStore,
};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const DEPLOYMENT: &str = "https://demarches.example.fr";

fn session_cfg() -> SessionConfig {
    SessionConfig {
        store: StoreKind::Memory,
        idle_timeout: Duration::from_secs(600),
        absolute_timeout: Duration::from_secs(3600),
        login_timeout: Duration::from_secs(60),
        max_sessions: 1000,
        max_sessions_per_citizen: 10,
        preserve_post_max_bytes: 65536,
    }
}

fn redis_cfg(url: &str, ca: Option<std::path::PathBuf>) -> RedisConfig {
    redis_cfg_sealed(url, ca, common::redis::SEAL_KEY)
}

fn redis_cfg_sealed(url: &str, ca: Option<std::path::PathBuf>, key: &str) -> RedisConfig {
    RedisConfig {
        url: Secret::inline(url, "test"),
        sentinels: Vec::new(),
        sentinel_master: None,
        allow_plaintext: false,
        seal_keys: vec![Secret::inline(key, "test")],
        key_prefix: "t:".into(),
        connect_timeout: Duration::from_millis(300),
        command_timeout: Duration::from_millis(300),
        ca_file: ca,
        local_cache: true,
    }
}

fn plain_builder() -> SessionBuilder {
    SessionBuilder::new(|k, r, t| Session::new(*k, r, t, SessionHeaders::default()))
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
        DEPLOYMENT,
        builder,
        Notices::none(),
    )
    .expect("store");
    (s, builds)
}

/// What a store reported, as `ended SUB REASON` and `refused KIND WHY` lines.
type Reported = Arc<Mutex<Vec<String>>>;

/// A store with `session` settings and the sealing `key` whose notices are kept.
fn watched(url: &str, session: &SessionConfig, key: &str) -> (RedisStore, Reported) {
    let seen: Reported = Arc::default();
    let sink = seen.clone();
    let notices = Notices::new(move |n| {
        let line = match n {
            Notice::Ended(r, why) => format!("ended {} {}", r.identity.sub(), why.reason()),
            Notice::Refused { kind, why } => format!("refused {kind} {why}"),
        };
        sink.lock().unwrap().push(line);
    });
    let s = RedisStore::new(
        session,
        &redis_cfg_sealed(url, None, key),
        DEPLOYMENT,
        plain_builder(),
        notices,
    )
    .expect("store");
    (s, seen)
}

fn conn(redis: &RedisServer) -> redis::Connection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap()
}

fn session_key_of(redis: &RedisServer, k: &SessionKey) -> String {
    let keys = redis.keys(&format!("t:*:s:{}", k.hex()));
    assert_eq!(keys.len(), 1, "{keys:?}");
    keys[0].clone()
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
        landing: None,
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
    // Nor its sweep entry (an empty sorted set is no key at all).
    assert!(redis.keys("t:*:x:").is_empty());
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
        DEPLOYMENT,
        plain_builder(),
        Notices::none(),
    )
    .unwrap();
    assert!(untrusted.ready().await.is_err());
    let trusted = RedisStore::new(
        &session_cfg(),
        &redis_cfg(&tls.tls_url(), Some(tls.ca_path())),
        DEPLOYMENT,
        plain_builder(),
        Notices::none(),
    )
    .unwrap();
    trusted.ready().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_sealed_and_altered_moved_or_foreign_ones_are_refused() {
    let redis = RedisServer::start();
    let (a, reported) = watched(&redis.url(), &session_cfg(), common::redis::SEAL_KEY);
    let (alice, bob) = (key(), key());
    a.insert(
        alice,
        live(alice, record("p", "alice-sub-4f2a", Some("sid-alice"))),
    )
    .await
    .unwrap();
    a.insert(bob, live(bob, record("p", "bob-sub-77c1", None)))
        .await
        .unwrap();
    let (alice_key, bob_key) = (session_key_of(&redis, &alice), session_key_of(&redis, &bob));
    let mut c = conn(&redis);
    let sealed: Vec<u8> = redis::cmd("HGET")
        .arg(&alice_key)
        .arg("rec")
        .query(&mut c)
        .unwrap();
    for clear in ["alice-sub", "sid-alice", "h.p.s"] {
        assert!(
            !sealed.windows(clear.len()).any(|w| w == clear.as_bytes()),
            "{clear} in clear"
        );
    }
    // Alice's record copied into Bob's session (with a new version, so no cache helps): Bob's
    // cookie must not open Alice's identity.
    let _: () = redis::cmd("HSET")
        .arg(&bob_key)
        .arg("rec")
        .arg(&sealed)
        .arg("v")
        .arg(12345)
        .query(&mut c)
        .unwrap();
    let (b, b_reported) = watched(&redis.url(), &session_cfg(), common::redis::SEAL_KEY);
    assert!(b.get(&bob).await.unwrap().is_none());
    assert_eq!(
        *b_reported.lock().unwrap(),
        ["refused session altered_or_moved"]
    );
    // One bit of Alice's record changed: refused too.
    let mut altered = sealed.clone();
    let last = altered.len() - 20;
    altered[last] ^= 0x01;
    let _: () = redis::cmd("HSET")
        .arg(&alice_key)
        .arg("rec")
        .arg(&altered)
        .arg("v")
        .arg(777)
        .query(&mut c)
        .unwrap();
    assert!(b.get(&alice).await.unwrap().is_none());
    // Refused records are not deleted (a replica with the wrong keys must not delete
    // sessions): they expire, or the citizen's next login replaces them.
    assert_eq!(redis.keys("t:*:s:*").len(), 2);
    // Restored: opens again. A replica with another key cannot open it.
    let _: () = redis::cmd("HSET")
        .arg(&alice_key)
        .arg("rec")
        .arg(&sealed)
        .query(&mut c)
        .unwrap();
    assert_eq!(
        b.get(&alice).await.unwrap().unwrap().record.identity.sub(),
        "alice-sub-4f2a"
    );
    let other_key = guichet::session::seal::generate_key();
    let (foreign, f_reported) = watched(&redis.url(), &session_cfg(), &other_key);
    assert!(foreign.get(&alice).await.unwrap().is_none());
    assert_eq!(*f_reported.lock().unwrap(), ["refused session unknown_key"]);
    assert!(reported.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_states_and_index_entries_are_sealed_where_they_are_stored() {
    let redis = RedisServer::start();
    let (a, reported) = watched(&redis.url(), &session_cfg(), common::redis::SEAL_KEY);
    let login = |nonce: &str| LoginState {
        provider: "p".into(),
        nonce: nonce.into(),
        pkce_verifier: Some("verifier-secret-9d1".into()),
        return_to: "/dossier/4512".into(),
        level: None,
        binding: "b".into(),
        created_at: now(),
        logout: false,
        step_up: false,
        form: None,
    };
    a.put_login("state-one", login("nonce-one-5e2"))
        .await
        .unwrap();
    a.put_login("state-two", login("nonce-two-8c0"))
        .await
        .unwrap();
    // A form kept across a login (issue 19) is a login state too: sealed the same way.
    let kept = LoginState {
        form: Some(guichet::session::FormLink::Kept(Box::new(
            guichet::forms::KeptForm {
                action: "/dossier/acte-de-naissance".into(),
                encoding: guichet::forms::Encoding::Urlencoded,
                fields: vec![guichet::forms::Field {
                    name: "nom".into(),
                    value: guichet::forms::Value::Text("nonce-like Dupont-Müller".into()),
                }],
                author: None,
            },
        ))),
        ..login("nonce-form-1b7")
    };
    a.put_login(&guichet::session::form_key("f1"), kept)
        .await
        .unwrap();
    let mut c = conn(&redis);
    let states: Vec<String> = redis::cmd("KEYS").arg("t:*:l:*").query(&mut c).unwrap();
    assert_eq!(states.len(), 3);
    for k in &states {
        let raw: Vec<u8> = redis::cmd("GET").arg(k).query(&mut c).unwrap();
        for clear in ["nonce-", "verifier-secret", "/dossier", "Dupont"] {
            assert!(
                !raw.windows(clear.len()).any(|w| w == clear.as_bytes()),
                "{clear}"
            );
        }
    }
    // State two's record put under state one's key: refused, and used up.
    let two_key = redis
        .keys("t:*:l:*")
        .into_iter()
        .find(|k| k.ends_with(&guichet::crypto::sha256_hex(b"state-two")));
    let one_key = redis
        .keys("t:*:l:*")
        .into_iter()
        .find(|k| k.ends_with(&guichet::crypto::sha256_hex(b"state-one")));
    let raw_two: Vec<u8> = redis::cmd("GET")
        .arg(two_key.unwrap())
        .query(&mut c)
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg(one_key.unwrap())
        .arg(raw_two)
        .query(&mut c)
        .unwrap();
    assert!(a.take_login("state-one").await.unwrap().is_none());
    assert_eq!(
        a.take_login("state-two").await.unwrap().unwrap().nonce,
        "nonce-two-8c0"
    );
    assert_eq!(
        *reported.lock().unwrap(),
        ["refused login_state altered_or_moved"]
    );
    reported.lock().unwrap().clear();

    // Index entries: a forged entry in Alice's index (Bob's session key, unsealed, or sealed
    // for another index) never ends Bob's session.
    let (alice, bob) = (key(), key());
    a.insert(alice, live(alice, record("p", "alice", Some("sid-a"))))
        .await
        .unwrap();
    a.insert(bob, live(bob, record("p", "bob", Some("sid-b"))))
        .await
        .unwrap();
    let ix_of = |k: &SessionKey, c: &mut redis::Connection| -> Vec<(String, String)> {
        let ix: String = redis::cmd("HGET")
            .arg(session_key_of(&redis, k))
            .arg("ix")
            .query(c)
            .unwrap();
        ix.lines()
            .map(|l| {
                let (n, m) = l.split_once(' ').unwrap();
                (n.to_string(), m.to_string())
            })
            .collect()
    };
    let alice_ix = ix_of(&alice, &mut c);
    let bob_ix = ix_of(&bob, &mut c);
    assert_eq!(alice_ix.len(), 2, "sub and sid entries");
    for (name, member) in alice_ix.iter().chain(&bob_ix) {
        for clear in ["alice", "bob", "sid-"] {
            assert!(!name.contains(clear) && !member.contains(clear));
        }
    }
    let (alice_sub_index, _) = &alice_ix[0];
    let (_, bob_sub_member) = &bob_ix[0];
    for forged in [bob.hex(), bob_sub_member.clone(), "garbage".to_string()] {
        let _: () = redis::cmd("ZADD")
            .arg(alice_sub_index)
            .arg(1)
            .arg(&forged)
            .query(&mut c)
            .unwrap();
    }
    assert_eq!(
        a.remove_matching("p", Match::Sub("alice")).await.unwrap(),
        1
    );
    assert!(a.get(&alice).await.unwrap().is_none());
    assert!(
        a.get(&bob).await.unwrap().is_some(),
        "a forged entry ended Bob's session"
    );
    let left: u64 = redis::cmd("EXISTS")
        .arg(alice_sub_index)
        .query(&mut c)
        .unwrap();
    assert_eq!(left, 0, "refused entries are dropped with the rest");
    let refused = reported.lock().unwrap().clone();
    assert_eq!(refused.len(), 3, "{refused:?}");
    assert!(refused.iter().all(|r| r.starts_with("refused index_entry")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_citizen_is_capped_and_the_index_holds_only_live_sessions() {
    let redis = RedisServer::start();
    let mut cfg = session_cfg();
    cfg.max_sessions_per_citizen = 3;
    let (a, reported) = watched(&redis.url(), &cfg, common::redis::SEAL_KEY);
    let keys: Vec<SessionKey> = (0..5).map(|_| key()).collect();
    for (i, k) in keys.iter().enumerate() {
        let mut r = record("p", "alice", Some(&format!("sid-{i}")));
        r.created_at = now() - 100 + i as u64;
        a.insert(*k, live(*k, r)).await.unwrap();
    }
    let bob = key();
    a.insert(bob, live(bob, record("p", "bob", None)))
        .await
        .unwrap();
    // Alice's two oldest sessions ended, with their notices; her three newest and Bob's live.
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(a.get(k).await.unwrap().is_some(), i >= 2, "session {i}");
    }
    assert!(a.get(&bob).await.unwrap().is_some());
    assert_eq!(
        *reported.lock().unwrap(),
        [
            "ended alice too_many_sessions",
            "ended alice too_many_sessions"
        ]
    );
    // Index: Alice's sub index has 3 entries, and the sid indexes of ended sessions are gone.
    let mut c = conn(&redis);
    let mut sizes: Vec<u64> = redis
        .keys("t:*:i:*")
        .iter()
        .map(|k| redis::cmd("ZCARD").arg(k).query(&mut c).unwrap())
        .collect();
    sizes.sort();
    assert_eq!(sizes, [1, 1, 1, 1, 3], "3 sids + bob's sub + alice's sub");
    // Ending a session (logout) removes its entries; the back-channel finds the rest.
    assert!(a.remove(&keys[4]).await.unwrap());
    assert!(
        !a.remove(&keys[4]).await.unwrap(),
        "a second removal removes nothing"
    );
    assert_eq!(
        redis.keys("t:*:i:*").len(),
        4,
        "its sid index went, the rest stays"
    );
    assert_eq!(
        a.remove_matching("p", Match::Sub("alice")).await.unwrap(),
        2
    );
    assert_eq!(redis.keys("t:*:i:*").len(), 1, "only Bob's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_replica_sweeps_and_each_expired_session_is_ended_once() {
    let redis = RedisServer::start();
    let (a, a_reported) = watched(&redis.url(), &session_cfg(), common::redis::SEAL_KEY);
    let (b, b_reported) = watched(&redis.url(), &session_cfg(), common::redis::SEAL_KEY);
    // idle 600 s, absolute 3600 s: one idle for 700 s, one created 4000 s ago, one fresh.
    let (idle, old, fresh) = (key(), key(), key());
    let mut r = record("p", "idle-one", Some("sid-i"));
    r.created_at = now() - 700;
    a.insert(
        idle,
        Arc::new(Session::new(
            idle,
            r,
            now() - 700,
            SessionHeaders::default(),
        )),
    )
    .await
    .unwrap();
    let mut r = record("p", "old-one", None);
    r.created_at = now() - 4000;
    a.insert(
        old,
        Arc::new(Session::new(old, r, now(), SessionHeaders::default())),
    )
    .await
    .unwrap();
    a.insert(fresh, live(fresh, record("p", "fresh-one", None)))
        .await
        .unwrap();
    let (x, y) = tokio::join!(a.sweep(), b.sweep());
    assert_eq!(x.unwrap() + y.unwrap(), 2);
    let mut all: Vec<String> = a_reported
        .lock()
        .unwrap()
        .iter()
        .chain(b_reported.lock().unwrap().iter())
        .cloned()
        .collect();
    all.sort();
    assert_eq!(
        all,
        [
            "ended idle-one idle_timeout",
            "ended old-one absolute_timeout"
        ]
    );
    assert!(a.get(&fresh).await.unwrap().is_some());
    assert_eq!(redis.keys("t:*:s:*").len(), 1);
    assert_eq!(
        redis.keys("t:*:i:*").len(),
        1,
        "the index lost the ended sessions"
    );
    assert_eq!(a.sweep().await.unwrap(), 0);
}

/// A store that trusts what Redis confirmed for an hour, listening to the invalidation
/// channel, once its subscription is known-good (at most 10 s): only the channel's messages
/// can make it drop a cached session.
async fn caching(url: &str, session: &SessionConfig) -> RedisStore {
    let (s, _) = watched(url, session, common::redis::SEAL_KEY);
    let s = s.with_cache_max_age(Duration::from_secs(3600));
    s.listen();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !s.cache_active() {
        assert!(
            Instant::now() < deadline,
            "no known-good subscription in 10 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    s
}

/// Looks `k` up on `s` until it is gone (at most 10 s).
async fn gone_from(s: &RedisStore, k: &SessionKey, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.get(k).await.unwrap().is_some() {
        assert!(Instant::now() < deadline, "{what}: still served after 10 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_end_of_a_session_reaches_the_other_replica_s_cache() {
    let redis = RedisServer::start();
    let mut cfg = session_cfg();
    cfg.max_sessions_per_citizen = 1;
    let (a, _) = watched(&redis.url(), &cfg, common::redis::SEAL_KEY);
    let b = caching(&redis.url(), &cfg).await;
    let keys: Vec<SessionKey> = (0..5).map(|_| key()).collect();
    for (i, k) in keys.iter().enumerate() {
        a.insert(
            *k,
            live(*k, record("p", &format!("c{i}"), Some(&format!("s{i}")))),
        )
        .await
        .unwrap();
    }
    // Cached on B: looking them up again asks Redis nothing.
    for k in &keys {
        assert!(b.get(k).await.unwrap().is_some());
    }
    let asked = redis.command_calls("hmget");
    for _ in 0..20 {
        for k in &keys {
            assert!(b.get(k).await.unwrap().is_some());
        }
    }
    assert!(
        redis.command_calls("hmget") - asked <= 5,
        "B asks Redis at every lookup"
    );
    // A logout, a back-channel logout by sid and by sub, each on A: gone from B's cache.
    assert!(a.remove(&keys[0]).await.unwrap());
    gone_from(&b, &keys[0], "logout").await;
    assert_eq!(a.remove_matching("p", Match::Sid("s1")).await.unwrap(), 1);
    gone_from(&b, &keys[1], "back-channel logout (sid)").await;
    assert_eq!(a.remove_matching("p", Match::Sub("c2")).await.unwrap(), 1);
    gone_from(&b, &keys[2], "back-channel logout (sub)").await;
    // The citizen's cap (one session here): a new login of c3 ends the first.
    let newer = key();
    a.insert(newer, live(newer, record("p", "c3", None)))
        .await
        .unwrap();
    gone_from(&b, &keys[3], "the per-citizen cap").await;
    // Expiry found by a sweep: c4's session made idle in Redis, then swept by A.
    let mut c = conn(&redis);
    let skey = session_key_of(&redis, &keys[4]);
    let _: () = redis::cmd("HSET")
        .arg(&skey)
        .arg("dl")
        .arg(1)
        .query(&mut c)
        .unwrap();
    let _: () = redis::cmd("ZADD")
        .arg(redis.keys("t:*:x:")[0].as_str())
        .arg(1)
        .arg(keys[4].hex())
        .query(&mut c)
        .unwrap();
    assert_eq!(a.sweep().await.unwrap(), 1);
    gone_from(&b, &keys[4], "expiry").await;
    assert!(b.get(&newer).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_known_good_subscription_every_lookup_asks_redis() {
    let mut redis = RedisServer::start();
    let (a, _) = watched(&redis.url(), &session_cfg(), common::redis::SEAL_KEY);
    let b = caching(&redis.url(), &session_cfg()).await;
    let (k, other) = (key(), key());
    for s in [k, other] {
        a.insert(s, live(s, record("p", "alice", None)))
            .await
            .unwrap();
        assert!(b.get(&s).await.unwrap().is_some());
    }

    // Redis freezes (SIGSTOP: connections stay open, no heartbeat comes back): within the
    // heartbeat window B stops trusting its cache, and lookups fail (closed) instead of
    // answering from it.
    redis.pause();
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.cache_active() {
        assert!(Instant::now() < deadline, "cache still trusted after 10 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(b.get(&k).await.is_err());
    redis.resume();
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.get(&k).await.is_err() {
        assert!(Instant::now() < deadline, "Redis not back after 10 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let mut c = conn(&redis);
    // This Redis user may no longer use the channel: the subscription is closed and cannot be
    // made again, heartbeats cannot be published. A session deleted behind guichet's back (no
    // message) is refused by B at its next lookup.
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("default")
        .arg("resetchannels")
        .query(&mut c)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.cache_active() {
        assert!(Instant::now() < deadline, "cache still trusted after 10 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _: () = redis::cmd("DEL")
        .arg(session_key_of(&redis, &k))
        .query(&mut c)
        .unwrap();
    assert!(b.get(&k).await.unwrap().is_none());
    // Ending sessions still works without the right to publish.
    assert!(a.remove(&other).await.unwrap());
    assert!(b.get(&other).await.unwrap().is_none());

    // Allowed again: the subscription comes back by itself and the cache with it.
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("default")
        .arg("allchannels")
        .query(&mut c)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !b.cache_active() {
        assert!(
            Instant::now() < deadline,
            "no subscription again after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let k = key();
    a.insert(k, live(k, record("p", "bob", None)))
        .await
        .unwrap();
    assert!(b.get(&k).await.unwrap().is_some());
    a.remove(&k).await.unwrap();
    gone_from(&b, &k, "logout after the subscription came back").await;
}

/// A store with the real cache settings (a second), once its subscription is known-good.
async fn listening(url: &str) -> RedisStore {
    let (s, _) = watched(url, &session_cfg(), common::redis::SEAL_KEY);
    s.listen();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !s.cache_active() {
        assert!(Instant::now() < deadline, "no known-good subscription");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_gone_without_a_message_is_refused_within_a_second() {
    // Deleted by hand, evicted by maxmemory: nothing is published, the second bounds it.
    let redis = RedisServer::start();
    let (a, _) = watched(&redis.url(), &session_cfg(), common::redis::SEAL_KEY);
    let b = listening(&redis.url()).await;
    let k = key();
    a.insert(k, live(k, record("p", "alice", None)))
        .await
        .unwrap();
    assert!(b.get(&k).await.unwrap().is_some());
    let asked = redis.command_calls("hmget");
    assert!(b.get(&k).await.unwrap().is_some());
    assert_eq!(
        redis.command_calls("hmget"),
        asked,
        "not served from the cache"
    );
    // Websockets are checked against Redis itself, never the cache.
    let _: () = redis::cmd("DEL")
        .arg(session_key_of(&redis, &k))
        .query(&mut conn(&redis))
        .unwrap();
    assert!(b.get_confirmed(&k).await.unwrap().is_none());
    // Page requests: within a second.
    let k2 = key();
    a.insert(k2, live(k2, record("p", "bob", None)))
        .await
        .unwrap();
    assert!(b.get(&k2).await.unwrap().is_some());
    let _: () = redis::cmd("DEL")
        .arg(session_key_of(&redis, &k2))
        .query(&mut conn(&redis))
        .unwrap();
    let deleted2 = Instant::now();
    loop {
        let sent = Instant::now();
        if b.get(&k2).await.unwrap().is_none() {
            break;
        }
        assert!(
            sent.saturating_duration_since(deleted2) < Duration::from_secs(1),
            "served more than a second after it was deleted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_subscription_distrusts_every_entry_until_confirmed_again() {
    let redis = RedisServer::start();
    let (a, _) = watched(&redis.url(), &session_cfg(), common::redis::SEAL_KEY);
    // Trusts what Redis confirmed for an hour: only the subscription's state protects it.
    let b = caching(&redis.url(), &session_cfg()).await;
    let k = key();
    a.insert(k, live(k, record("p", "alice", None)))
        .await
        .unwrap();
    assert!(b.get(&k).await.unwrap().is_some());
    let asked = redis.command_calls("hmget");
    assert!(b.get(&k).await.unwrap().is_some());
    assert_eq!(
        redis.command_calls("hmget"),
        asked,
        "not served from the cache"
    );

    // The subscription is killed: B distrusts its cache, then subscribes again by itself.
    let reply = redis.command("CLIENT KILL TYPE pubsub");
    assert!(
        reply.as_deref().is_some_and(|r| r.starts_with(':')),
        "{reply:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.cache_active() {
        assert!(Instant::now() < deadline, "cache still trusted after 10 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !b.cache_active() {
        assert!(
            Instant::now() < deadline,
            "no subscription again after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // What was confirmed before the break is not trusted on the new subscription: a session
    // deleted without a message (here by hand) is refused at once.
    let _: () = redis::cmd("DEL")
        .arg(session_key_of(&redis, &k))
        .query(&mut conn(&redis))
        .unwrap();
    assert!(b.get(&k).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_looks_idle_on_a_replica_is_asked_of_redis() {
    // B's copy says the session is about to go idle; A saw activity since. B must not decide
    // from its copy (the gateway would end a session in use): it asks Redis.
    let redis = RedisServer::start();
    let (a, _) = watched(&redis.url(), &session_cfg(), common::redis::SEAL_KEY);
    let b = caching(&redis.url(), &session_cfg()).await;
    let k = key();
    let mut r = record("p", "alice", None);
    let created = now() - 599; // idle_timeout is 600 s
    r.created_at = created;
    let s = live(k, r);
    a.insert(k, s.clone()).await.unwrap();
    assert_eq!(b.get(&k).await.unwrap().unwrap().last_seen(), created);
    let t = now();
    assert!(s.touch(t, Duration::from_secs(1)));
    a.touch(&k, &s).await.unwrap();
    assert!(b.get(&k).await.unwrap().unwrap().last_seen() >= t);
}
