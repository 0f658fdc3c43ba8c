//! Throttling (R21): repeated failed callbacks and login starts from one client address are
//! delayed, then refused with `429` and `Retry-After` for a while; other addresses are not
//! affected; the address is the one header hygiene computes (trusted proxies honoured); the
//! application's own pages are never throttled.

mod common;

use common::*;
use guichet::demo::provider::Faults;
use reqwest::StatusCode;
use std::time::{Duration, Instant};

fn limits(server: &str) -> Setup {
    Setup {
        server_toml: server.into(),
        extra_toml:
            "[rate_limit]\nfailed_callbacks_delay_after = 2\nfailed_callbacks_block_after = 4\n\
                     login_starts_delay_after = 5\nlogin_starts_block_after = 6\n\
                     delay = \"300ms\"\nblock_for = \"2m\"\n"
                .into(),
        ..Setup::default()
    }
}

async fn bad_callback(b: &Browser, h: &Harness) -> (StatusCode, Duration, reqwest::Response) {
    let t = Instant::now();
    let r = b
        .get(&format!(
            "{}/.guichet/callback?code=guess&state={}",
            h.url,
            guichet::crypto::random_hex32()
        ))
        .await;
    (r.status(), t.elapsed(), r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_bad_callbacks_are_delayed_then_refused_with_retry_after() {
    let h = Harness::with(limits("")).await;
    let b = h.browser();
    let mut took = Vec::new();
    for _ in 0..4 {
        let (status, t, _) = bad_callback(&b, &h).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        took.push(t);
    }
    assert!(
        took[2] >= Duration::from_millis(300) && took[3] >= Duration::from_millis(300),
        "{took:?}"
    );
    // The fifth goes over the limit: 429, for the block time.
    let (status, _, r) = bad_callback(&b, &h).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((110..=120).contains(&retry), "{retry}");
    let page = r.text().await.unwrap();
    assert!(
        page.contains("Trop de tentatives") && page.contains("dans 2 minutes"),
        "{page}"
    );
    // Blocked: callbacks and login starts, even well-formed ones, without reaching a provider.
    let before = h.stack.mock.last_authorize_params();
    let r = b.get(&format!("{}/.guichet/login", h.url)).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().get("retry-after").is_some());
    assert_eq!(h.stack.mock.last_authorize_params(), before);
    let (status, _, _) = bad_callback(&b, &h).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // The application itself is never throttled.
    let r = b.get(&format!("{}/public/", h.url)).await;
    assert_eq!(r.status(), StatusCode::OK);
    // One evidence line for the block, metrics for every refusal.
    let blocks: Vec<_> = h
        .audit()
        .into_iter()
        .filter(|e| e["event"] == "throttled")
        .collect();
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    assert_eq!(blocks[0]["outcome"], "blocked");
    assert_eq!(blocks[0]["reason"], "failed_callbacks");
    assert_eq!(blocks[0]["client_ip"], "127.0.0.1");
    let m = h.metrics().await;
    assert!(
        m.contains("guichet_throttle_blocks_total{kind=\"failed_callbacks\"} 1"),
        "{m}"
    );
    assert!(
        m.contains(
            "guichet_throttled_requests_total{action=\"delayed\",kind=\"failed_callbacks\"} 2"
        ),
        "{m}"
    );
    assert!(
        m.contains(
            "guichet_throttled_requests_total{action=\"refused\",kind=\"failed_callbacks\"} 1"
        ),
        "{m}"
    );
    assert!(
        m.contains("guichet_throttled_requests_total{action=\"refused\",kind=\"blocked\"} 2"),
        "{m}"
    );
    assert!(
        m.contains("guichet_http_requests_total{route=\"callback\",status=\"429\"} 2"),
        "{m}"
    );
    assert!(m.contains("guichet_throttle_clients 1"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_client_address_counts_alone() {
    let h = Harness::with(limits("trusted_proxies = [\"127.0.0.1/32\"]")).await;
    let attacker = Browser::with_headers(&[("x-forwarded-for", "198.51.100.7")]);
    for _ in 0..5 {
        bad_callback(&attacker, &h).await;
    }
    let (status, _, _) = bad_callback(&attacker, &h).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Another citizen behind the same proxy logs in normally, without delay.
    let citizen = Browser::with_headers(&[("x-forwarded-for", "198.51.100.8")]);
    let landed = citizen.login(&h, "elodie", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    let m = h.metrics().await;
    assert!(!m.contains("kind=\"login_starts\""), "{m}");
    let block = h
        .audit()
        .into_iter()
        .find(|e| e["event"] == "throttled")
        .unwrap();
    assert_eq!(block["client_ip"], "198.51.100.7");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_cannot_escape_by_forging_x_forwarded_for() {
    // No trusted proxy: the peer address counts, whatever X-Forwarded-For says.
    let h = Harness::with(limits("")).await;
    for i in 0..5 {
        let b = Browser::with_headers(&[("x-forwarded-for", &format!("203.0.113.{i}"))]);
        bad_callback(&b, &h).await;
    }
    let b = Browser::with_headers(&[("x-forwarded-for", "203.0.113.99")]);
    let (status, _, _) = bad_callback(&b, &h).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_starts_are_throttled_but_cancelling_is_not_a_failure() {
    let h = Harness::with(limits("")).await;
    // A citizen who cancels at the provider five times: five login starts, five genuine
    // provider answers; none counts as a failed callback.
    h.set_faults(Faults {
        authorize_error: Some("access_denied".into()),
        ..Faults::default()
    });
    let b = h.browser();
    for _ in 0..5 {
        let landed = b.login(&h, "elodie", "/").await;
        assert_eq!(landed.status, StatusCode::FORBIDDEN, "{}", landed.body);
        assert!(landed.body.contains("Connexion annulée"));
    }
    // The sixth login start is delayed, the seventh refused.
    h.set_faults(Faults::default());
    let t = Instant::now();
    let landed = b.login(&h, "elodie", "/").await;
    assert_eq!(landed.status, StatusCode::OK);
    assert!(t.elapsed() >= Duration::from_millis(300));
    let r = b.get(&format!("{}/.guichet/login", h.url)).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let block = h
        .audit()
        .into_iter()
        .find(|e| e["event"] == "throttled")
        .unwrap();
    assert_eq!(block["reason"], "login_starts");
    // The session the citizen has keeps working: proxied requests are not throttled.
    let r = b.get(&format!("{}/whoami", h.url)).await;
    assert_eq!(r.status(), StatusCode::OK);
}
