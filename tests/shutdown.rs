//! Stopping and replacing guichet: SIGTERM lets in-flight requests finish (within
//! `grace_period`), flushes the evidence log and exits 0; pingora's zero-downtime upgrade
//! (`guichet run --upgrade`, then SIGQUIT to the old process) under load drops no request.

mod common;

use common::redis::RedisServer;
use common::tls::http1_exchange;
use common::*;
use guichet::demo::citizens;
use reqwest::StatusCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests_flushes_the_evidence_log_and_exits_0() {
    let mut h = Harness::with(Setup {
        grace_period: Some("3s".into()),
        ..Setup::default()
    })
    .await;
    let b = h.browser();
    let landed = b.login(&h, "elodie", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    let sub = citizens::find("elodie")
        .expect("elodie")
        .sub(h.stack.mock.client_id());

    // Two requests in flight: one the grace period covers, one it does not.
    let slow = tokio::spawn({
        let client = b.client.clone();
        let url = format!("{}/whoami/slow?sleep_ms=1500", h.url);
        async move {
            let r = client.get(url).send().await?;
            let status = r.status();
            let body = r.text().await?;
            Ok::<_, reqwest::Error>((status, body))
        }
    });
    let too_slow = tokio::spawn({
        let client = b.client.clone();
        let url = format!("{}/whoami/too-slow?sleep_ms=9000", h.url);
        async move { client.get(url).send().await?.text().await }
    });
    // Both have reached the application before the signal.
    let deadline = Instant::now() + Duration::from_secs(10);
    while h
        .stack
        .echo
        .requests()
        .iter()
        .filter(|r| r.path.contains("slow"))
        .count()
        < 2
    {
        assert!(Instant::now() < deadline, "slow requests never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let signalled = Instant::now();
    h.gateway.signal("TERM");

    let (status, body) = slow
        .await
        .expect("task")
        .expect("the in-flight request completes");
    assert_eq!(status, StatusCode::OK);
    let seen: serde_json::Value = serde_json::from_str(&body).expect("a complete JSON body");
    assert_eq!(seen["path"], "/whoami/slow");
    assert_eq!(
        seen["headers"]["x-pivot-sub"].as_str().map(percent_decode),
        Some(sub.clone())
    );

    // New connections are refused while draining.
    let fresh = reqwest::Client::new()
        .get(format!("{}/healthz", h.url))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(
        fresh.is_err(),
        "a new connection was accepted during the drain"
    );

    let status = h
        .gateway
        .wait_exit(Duration::from_secs(3 + 10))
        .expect("guichet exits within grace_period + 10 s");
    assert!(status.success(), "exit status {status}");
    let took = signalled.elapsed();
    assert!(
        took >= Duration::from_secs(3),
        "exited before the grace period: {took:?}"
    );
    eprintln!("exited {took:?} after SIGTERM");
    // The request longer than the grace period was cut, not left hanging.
    let cut = tokio::time::timeout(Duration::from_secs(5), too_slow)
        .await
        .expect("the too-slow request ends with the process")
        .expect("task");
    assert!(
        cut.is_err(),
        "a request beyond the grace period cannot complete: {cut:?}"
    );

    // The login made just before the signal is in the evidence log.
    let audit = h.audit();
    assert!(
        audit.iter().any(|e| e["event"] == "login"
            && e["outcome"] == "success"
            && e["sub"] == sub.as_str()),
        "{audit:?}"
    );
    let logs = h.logs();
    assert!(logs.contains("guichet stopped"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_right_after_a_login_keeps_its_evidence_line() {
    let mut h = Harness::start().await;
    let b = h.browser();
    let landed = b.login(&h, "ana", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    // No pause: whatever the evidence log still holds must be written on the way out.
    h.gateway.signal("TERM");
    let status = h.gateway.wait_exit(Duration::from_secs(15)).expect("exit");
    assert!(status.success(), "{status}");
    let sub = citizens::find("ana")
        .expect("ana")
        .sub(h.stack.mock.client_id());
    let logins: Vec<_> = h
        .audit()
        .into_iter()
        .filter(|e| e["event"] == "login")
        .collect();
    assert_eq!(logins.len(), 1, "{logins:?}");
    assert_eq!(logins[0]["outcome"], "success");
    assert_eq!(logins[0]["sub"], sub.as_str());
}

/// One load client's tally.
#[derive(Default)]
struct Tally {
    ok: usize,
    failures: Vec<String>,
    /// Successful requests that completed after the old process had exited.
    ok_after_switch: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_downtime_upgrade_under_load_drops_no_request() {
    // Sessions live in Redis: they survive the change of process.
    let redis = RedisServer::start();
    let mut h = Harness::with(Setup {
        extra_toml: redis.session_toml(""),
        ..Setup::default()
    })
    .await;
    let b = h.browser();
    let landed = b.login(&h, "elodie", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    let cookie = landed.session_cookie();

    // Four clients, each with its own keep-alive connections, one request at a time with a
    // short pause: a few hundred authenticated requests a second, bounded in count and time.
    const CLIENTS: usize = 4;
    const MAX_PER_CLIENT: usize = 2_000;
    let stop = Arc::new(AtomicBool::new(false));
    let switched = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut load = Vec::new();
    for i in 0..CLIENTS {
        let url = format!("{}/whoami/load-{i}", h.url);
        let cookie = cookie.clone();
        let stop = stop.clone();
        let switched = switched.clone();
        load.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(10))
                .build()
                .expect("client");
            let mut tally = Tally::default();
            for _ in 0..MAX_PER_CLIENT {
                if stop.load(Ordering::Relaxed) || started.elapsed() > Duration::from_secs(60) {
                    break;
                }
                let after_switch = switched.load(Ordering::Relaxed);
                let result = client.get(&url).header("cookie", &cookie).send().await;
                match result {
                    Ok(r) if r.status() == StatusCode::OK => match r.text().await {
                        Ok(body) if body.contains("x-pivot-sub") => {
                            tally.ok += 1;
                            if after_switch {
                                tally.ok_after_switch += 1;
                            }
                        }
                        Ok(body) => tally.failures.push(format!("no identity: {body}")),
                        Err(e) => tally.failures.push(format!("body: {e}")),
                    },
                    Ok(r) => tally.failures.push(format!("status {}", r.status())),
                    Err(e) => tally.failures.push(format!("{e:?}")),
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            tally
        }));
    }

    // A kept-alive connection to the old process, from before the upgrade.
    let addr = h.url.trim_start_matches("http://").to_string();
    let mut kept = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let (status, head, _) = http1_exchange(&mut kept, "/healthz").await;
    assert_eq!(status, 200);
    assert!(
        !head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );

    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut old = h.upgrade("guichet-upgraded");
    // Once it has been asked to leave, the old process closes each connection after its
    // response, so clients move to new connections (which the new process accepts).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !old.logs().contains("responses now close their connections") {
        assert!(
            Instant::now() < deadline,
            "never started leaving:\n{}",
            old.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, head, _) = http1_exchange(&mut kept, "/healthz").await;
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    // The old process hands its sockets over, keeps accepting 5 s (pingora), stops
    // listening, drains for grace_period (1 s) and exits.
    let status = old
        .wait_exit(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("the old guichet did not exit:\n{}", old.logs()));
    assert!(status.success(), "old process: {status}\n{}", old.logs());
    assert!(
        old.logs().contains("listener sockets sent"),
        "{}",
        old.logs()
    );
    switched.store(true, Ordering::Relaxed);
    h.wait_ready().await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Relaxed);

    let mut total = Tally::default();
    for task in load {
        let t = task.await.expect("load task");
        total.ok += t.ok;
        total.ok_after_switch += t.ok_after_switch;
        total.failures.extend(t.failures);
    }
    assert!(
        total.failures.is_empty(),
        "{} of {} requests failed: {:?}\nold:\n{}\nnew:\n{}",
        total.failures.len(),
        total.ok + total.failures.len(),
        &total.failures[..total.failures.len().min(5)],
        old.logs(),
        h.logs()
    );
    assert!(
        total.ok >= 200,
        "too little load to mean anything: {}",
        total.ok
    );
    assert!(
        total.ok_after_switch > 0,
        "the new process served the same session"
    );
    // The new process serves new logins too.
    let landed = h.browser().login(&h, "ana", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    eprintln!(
        "upgrade under load: {} requests, {} after the old process exited, 0 failed",
        total.ok, total.ok_after_switch
    );
}
