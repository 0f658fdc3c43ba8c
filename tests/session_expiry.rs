//! Idle and absolute timeouts, with seconds-long configured limits, on both stores: activity
//! slides the idle window, nothing slides the absolute one, and an expired session is refused
//! everywhere (browser redirect, API 401, `/.guichet/session`) and gone from the store.
//!
//! Every end of a session is in the evidence log with its reason, once, whether a request
//! found it expired or the store's sweep ended it while nobody asked (idle expiry included).
//!
//! Times are Unix seconds, so every bound below keeps a margin of at least one second.

mod common;

use common::redis::RedisServer;
use common::*;
use reqwest::StatusCode;
use std::time::Duration;

fn memory(session: &str) -> Setup {
    Setup {
        extra_toml: format!("[session]\n{session}\n"),
        ..Setup::default()
    }
}

fn redis(server: &RedisServer, session: &str) -> Setup {
    Setup {
        extra_toml: server.session_toml(session),
        ..Setup::default()
    }
}

async fn status(h: &Harness, cookie: &str, path: &str) -> StatusCode {
    get_with_cookie(&format!("{}{path}", h.url), cookie)
        .await
        .status()
}

async fn sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// idle 3 s: requests every 1.5 s keep the session past 3 s, then 4.5 s of silence end it.
async fn idle_timeout_slides_with_activity_then_ends_the_session(h: &Harness) {
    let cookie = h.browser().login(h, "elodie", "/").await.session_cookie();
    for _ in 0..4 {
        assert_eq!(status(h, &cookie, "/whoami").await, StatusCode::OK);
        sleep_ms(1500).await;
    }
    assert_eq!(status(h, &cookie, "/whoami").await, StatusCode::OK);
    let forwarded = h.stack.echo.requests().len();
    sleep_ms(4500).await;
    assert_eq!(
        status(h, &cookie, "/api/me").await,
        StatusCode::UNAUTHORIZED
    );
    let r = get_with_cookie(&format!("{}/api/me", h.url), &cookie).await;
    assert!(r.headers().get("www-authenticate").is_some());
    assert!(r.headers().get("location").is_none());
    let r = get_with_cookie(&format!("{}/whoami", h.url), &cookie).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert!(location(&r).starts_with("/.guichet/login?return_to="));
    let info: serde_json::Value = get_with_cookie(&format!("{}/.guichet/session", h.url), &cookie)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["authenticated"], false);
    // Every request after the expiry was answered by guichet itself.
    assert_eq!(h.stack.echo.requests().len(), forwarded);
}

/// absolute 5 s (idle 3 s): a request every 1.2 s does not keep the session past 5 s.
async fn absolute_timeout_ends_an_active_session(h: &Harness) {
    let cookie = h.browser().login(h, "ana", "/").await.session_cookie();
    for _ in 0..3 {
        sleep_ms(1200).await;
        assert_eq!(status(h, &cookie, "/whoami").await, StatusCode::OK);
    }
    sleep_ms(1200).await;
    let _ = status(h, &cookie, "/whoami").await; // at about 4.8 s: either, by the clock
    sleep_ms(1200).await;
    assert_eq!(status(h, &cookie, "/whoami").await, StatusCode::FOUND);
    assert_eq!(status(h, &cookie, "/api/x").await, StatusCode::UNAUTHORIZED);
}

const IDLE: &str = "idle_timeout = \"3s\"\nabsolute_timeout = \"1h\"";
const ABSOLUTE: &str = "idle_timeout = \"3s\"\nabsolute_timeout = \"5s\"";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_timeout_memory_store() {
    let h = Harness::with(memory(IDLE)).await;
    idle_timeout_slides_with_activity_then_ends_the_session(&h).await;
    let m = h.metrics().await;
    assert!(
        m.contains("guichet_active_sessions 0"),
        "expired session still held:\n{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_timeout_redis_store() {
    let server = RedisServer::start();
    let h = Harness::with(redis(&server, IDLE)).await;
    idle_timeout_slides_with_activity_then_ends_the_session(&h).await;
    assert!(
        server.keys("guichet:*:s:*").is_empty(),
        "expired session still in Redis"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absolute_timeout_memory_store() {
    let h = Harness::with(memory(ABSOLUTE)).await;
    absolute_timeout_ends_an_active_session(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absolute_timeout_redis_store() {
    let server = RedisServer::start();
    let h = Harness::with(redis(&server, ABSOLUTE)).await;
    absolute_timeout_ends_an_active_session(&h).await;
    assert!(
        server.keys("guichet:*:s:*").is_empty(),
        "expired session still in Redis"
    );
}

/// Waits (at most 25 s) for the evidence line of `sub`'s session ending with `reason`, then
/// checks there is exactly one.
async fn ended_once(
    audits: &dyn Fn() -> Vec<serde_json::Value>,
    event: &str,
    sub: &str,
    reason: &str,
) -> serde_json::Value {
    let matching = || -> Vec<serde_json::Value> {
        audits()
            .into_iter()
            .filter(|e| e["event"] == event && e["sub"] == sub && e["reason"] == reason)
            .collect()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(25);
    while matching().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no {event} {reason} line for {sub}: {:?}",
            audits()
        );
        sleep_ms(200).await;
    }
    sleep_ms(1500).await;
    let lines = matching();
    assert_eq!(lines.len(), 1, "{lines:?}");
    lines[0].clone()
}

fn sub_of(h: &Harness, citizen: &str) -> String {
    guichet::demo::citizens::find(citizen)
        .expect("citizen")
        .sub(h.stack.mock.client_id())
}

/// idle 2 s, nobody comes back: the sweep ends the session by itself, with its evidence line
/// (in the evidence log of whichever replica ended it: `audits` reads them all).
async fn an_abandoned_session_ends_in_the_evidence_log(
    h: &Harness,
    audits: &dyn Fn() -> Vec<serde_json::Value>,
) {
    let cookie = h.browser().login(h, "ana", "/").await.session_cookie();
    let line = ended_once(audits, "session_expired", &sub_of(h, "ana"), "idle_timeout").await;
    assert_eq!(line["outcome"], "success");
    assert_eq!(line["provider"], "demo");
    assert_eq!(status(h, &cookie, "/whoami").await, StatusCode::FOUND);
}

/// A fourth login of one citizen with max_sessions_per_citizen = 3 ends the first.
async fn a_fourth_session_ends_the_first(h: &Harness) {
    let first = h.browser().login(h, "elodie", "/").await.session_cookie();
    // Creation times are seconds: the first is older than the others by one at least.
    sleep_ms(1100).await;
    let mut others = Vec::new();
    for _ in 0..3 {
        others.push(h.browser().login(h, "elodie", "/").await.session_cookie());
    }
    assert_eq!(status(h, &first, "/whoami").await, StatusCode::FOUND);
    for c in &others {
        assert_eq!(status(h, c, "/whoami").await, StatusCode::OK);
    }
    let audits = || h.audit();
    ended_once(
        &audits,
        "session_ended",
        &sub_of(h, "elodie"),
        "too_many_sessions",
    )
    .await;
    // Someone else is not affected.
    let other = h.browser().login(h, "ana", "/").await.session_cookie();
    assert_eq!(status(h, &other, "/whoami").await, StatusCode::OK);
}

/// A script logging one citizen in many times a second (cap 3): each login ends the oldest
/// session, never one of the newer ones of the same second, whose flow may not have reached
/// the application yet (creation times are seconds: the memory store broke ties at random).
async fn logins_of_one_second_end_the_oldest(h: &Harness) {
    let mut cookies = Vec::new();
    for i in 0..12 {
        cookies.push(h.browser().login(h, "elodie", "/").await.session_cookie());
        for c in cookies.iter().rev().take(3) {
            assert_eq!(status(h, c, "/whoami").await, StatusCode::OK, "login {i}");
        }
        if i >= 3 {
            let oldest = &cookies[i - 3];
            assert_eq!(
                status(h, oldest, "/whoami").await,
                StatusCode::FOUND,
                "login {i}"
            );
        }
    }
}

const ABANDONED: &str = "idle_timeout = \"2s\"\nabsolute_timeout = \"1h\"";
const CAPPED: &str = "max_sessions_per_citizen = 3";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_expiry_nobody_sees_is_recorded_memory_store() {
    let h = Harness::with(memory(ABANDONED)).await;
    an_abandoned_session_ends_in_the_evidence_log(&h, &|| h.audit()).await;
    let m = h.metrics().await;
    assert!(
        m.contains("guichet_sessions_expired_total{reason=\"idle_timeout\"} 1"),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_expiry_nobody_sees_is_recorded_redis_store() {
    let server = RedisServer::start();
    let h = Harness::with(redis(&server, ABANDONED)).await;
    // Two replicas sweep the same Redis: the end is still recorded once.
    let b = h.replica("b").await;
    let both = || {
        let mut all = h.audit();
        all.extend(b.gateway.audit());
        all
    };
    an_abandoned_session_ends_in_the_evidence_log(&h, &both).await;
    assert!(server.keys("guichet:*:s:*").is_empty());
    assert!(
        server.keys("guichet:*:i:*").is_empty(),
        "index entries left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_citizen_is_capped_memory_store() {
    let h = Harness::with(memory(CAPPED)).await;
    a_fourth_session_ends_the_first(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_citizen_is_capped_redis_store() {
    let server = RedisServer::start();
    let h = Harness::with(redis(&server, CAPPED)).await;
    a_fourth_session_ends_the_first(&h).await;
    assert_eq!(server.keys("guichet:*:s:*").len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_of_one_second_end_the_oldest_memory_store() {
    let h = Harness::with(memory(CAPPED)).await;
    logins_of_one_second_end_the_oldest(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_of_one_second_end_the_oldest_redis_store() {
    let server = RedisServer::start();
    let h = Harness::with(redis(&server, CAPPED)).await;
    logins_of_one_second_end_the_oldest(&h).await;
}
