//! Idle and absolute timeouts, with seconds-long configured limits, on both stores: activity
//! slides the idle window, nothing slides the absolute one, and an expired session is refused
//! everywhere (browser redirect, API 401, `/.guichet/session`) and gone from the store.
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
        server.keys("guichet:s:*").is_empty(),
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
        server.keys("guichet:s:*").is_empty(),
        "expired session still in Redis"
    );
}
