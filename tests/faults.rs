//! Dependencies that fail (issue 9, R22): the provider down at start or during a login, the
//! application down, clients too slow to finish their request. guichet keeps serving what it
//! can, says clearly what it cannot, and never lets a request through that should stop.
//! Redis outages are in `tests/redis_sessions.rs`.

mod common;

use common::*;
use guichet::demo::provider::{Flavour, MockConfig, MockProvider};
use reqwest::StatusCode;
use std::time::{Duration, Instant};

/// Polls `url` until it answers 200, for at most `within`.
async fn eventually_ok(url: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(r) = reqwest::get(url).await {
            if r.status() == StatusCode::OK {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// The value of a counter line (`name{labels} value`) in a Prometheus text page, 0 if absent.
fn counter(metrics: &str, line_start: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(line_start))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_down_at_start_then_up_makes_the_gateway_ready() {
    let h = Harness::start().await;
    // A second deployment whose provider is not running yet: its port is reserved (below the
    // ephemeral range, nobody else gets it) and nothing listens there.
    let port = guichet::demo::free_port().unwrap();
    let late_issuer = format!("http://127.0.0.1:{port}/api/v2");
    let late = h
        .other_gateway(
            "late",
            Other {
                own_public_url: true,
                wait_ready: false,
            },
            |text| text.replace(&h.stack.mock.issuer(), &late_issuer),
        )
        .await;

    // It runs, says it is not ready and why, and a login gets a clear page.
    let r = reqwest::get(format!("{}/readyz", late.url)).await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["providers_not_ready"], serde_json::json!(["demo"]));
    let b = h.browser();
    let landed = b.login_via(&late.url, "elodie", "/whoami").await;
    assert_eq!(landed.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        landed.body.contains("Service de connexion indisponible"),
        "{}",
        landed.body
    );
    let r = reqwest::get(format!("{}/healthz", late.url)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // The provider comes up on that port: discovery is retried (with backoff) and succeeds.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let _mock = MockProvider::serve(
        listener,
        MockConfig {
            flavour: Flavour::FranceConnectV2,
            path_prefix: Flavour::FranceConnectV2.default_prefix().into(),
            ..MockConfig::default()
        },
    )
    .await
    .unwrap();
    assert!(
        eventually_ok(&format!("{}/readyz", late.url), Duration::from_secs(20)).await,
        "not ready after the provider came up:\n{}",
        late.logs()
    );
    let landed = b.login_via(&late.url, "elodie", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    let logs = late.logs();
    assert!(logs.contains("provider discovery failed"), "{logs}");
    assert!(logs.contains("retry_in"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_down_during_a_login_gets_a_clear_page_and_a_metric() {
    let h = Harness::start().await;
    let b = h.browser();
    let callback = b.start_login(&h, "elodie").await;
    // The provider disappears between the redirect and the callback.
    h.stack.mock.shutdown();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let landed = b.follow(&callback).await;
    assert!(started.elapsed() < Duration::from_secs(8));
    assert_eq!(
        landed.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        landed.body
    );
    assert!(landed.body.contains("Service de connexion indisponible"));
    assert_eq!(
        h.last_login_reason().as_deref(),
        Some("provider_unavailable")
    );
    assert!(!landed.set_cookies.iter().any(|c| c.starts_with("guichet=")));
    assert!(!h.upstream_saw_identity());
    let metrics = h.metrics().await;
    let failed: f64 = metrics
        .lines()
        .filter(|l| {
            l.starts_with("guichet_logins_total{")
                && l.contains("outcome=\"failure\"")
                && l.contains("reason=\"provider_unavailable\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(failed >= 1.0, "{metrics}");
    // guichet itself is fine: its health and public pages still answer.
    let r = reqwest::get(format!("{}/public/x", h.url)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_down_gets_a_502_page_and_a_metric() {
    let h = Harness::start().await;
    let b = h.browser();
    let cookie = b.login(&h, "elodie", "/").await.session_cookie();
    let before = counter(&h.metrics().await, "guichet_upstream_errors_total");
    h.stack.echo.shutdown();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for path in ["/public/x", "/whoami"] {
        let r = get_with_cookie(&format!("{}{path}", h.url), &cookie).await;
        assert_eq!(r.status(), StatusCode::BAD_GATEWAY, "{path}");
        assert_eq!(
            r.headers()["content-type"].to_str().unwrap(),
            "text/html; charset=utf-8"
        );
        let body = r.text().await.unwrap();
        assert!(body.contains("ne répond pas pour le moment"), "{body}");
    }
    let after = counter(&h.metrics().await, "guichet_upstream_errors_total");
    assert!(after >= before + 2.0, "{before} -> {after}");
    // guichet's own pages do not depend on the application.
    let r = get_with_cookie(&format!("{}/.guichet/session", h.url), &cookie).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_do_not_stop_others_from_being_served() {
    use tokio::io::AsyncWriteExt;
    // One proxy thread: the worst case for a slowloris.
    let h = Harness::with(Setup {
        server_toml: "threads = 1".into(),
        ..Setup::default()
    })
    .await;
    let addr = h.url.trim_start_matches("http://").to_string();
    let cookie = h.browser().login(&h, "elodie", "/").await.session_cookie();
    // 300 connections that send their headers one byte every 100 ms, for 4 s at most.
    let mut slow = Vec::new();
    for _ in 0..300 {
        let addr = addr.clone();
        slow.push(tokio::spawn(async move {
            let Ok(mut s) = tokio::net::TcpStream::connect(&addr).await else {
                return;
            };
            let head = format!("GET /public/x HTTP/1.1\r\nHost: {addr}\r\nX-Slow: ");
            let _ = s.write_all(head.as_bytes()).await;
            for _ in 0..40 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if s.write_all(b"a").await.is_err() {
                    return;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Meanwhile a normal client is served, each request well within a second.
    let client = reqwest::Client::new();
    for i in 0..20 {
        let path = if i % 2 == 0 { "/public/x" } else { "/whoami" };
        let started = Instant::now();
        let r = client
            .get(format!("{}{path}", h.url))
            .header("cookie", &cookie)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let took = started.elapsed();
        assert!(took < Duration::from_secs(1), "{path} took {took:?}");
    }
    for t in slow {
        t.abort();
    }
    let r = reqwest::get(format!("{}/healthz", h.url)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}
