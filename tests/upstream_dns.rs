//! An upstream given by name (issue 14): guichet starts while the name does not resolve
//! (no panic: `/readyz` 503, requests get the "service unavailable" page), then serves as soon
//! as it resolves, without a restart; every address of the answer is used, a dead one is
//! skipped for the next.
//!
//! guichet resolves with the system resolver, as in production. The test gives it its own
//! `/etc/hosts` and `/etc/resolv.conf`: it runs under `unshare --mount` (root in CI; otherwise
//! a user namespace), with both files bind-mounted from a temporary directory, and rewrites
//! that hosts file in place while guichet runs. The resolver points at a closed local port,
//! so a name missing from the hosts file fails at once instead of waiting for a DNS timeout.

mod common;

use common::process::spawn_gateway_wrapped;
use common::*;
use guichet::demo::{free_port, Stack, StackOptions};
use std::time::{Duration, Instant};

const NAME: &str = "app.guichet.test";

/// Waits (bounded) until `url` answers `status`.
async fn wait_status(url: &str, status: u16, limit: Duration) -> reqwest::Response {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(r) = client.get(url).send().await {
            if r.status().as_u16() == status {
                return r;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{url}: no {status} within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_name_that_resolves_later_serves_without_a_restart() {
    guichet::server::install_crypto_provider();
    let dir = tempfile::tempdir().expect("tempdir");
    let echo_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let echo_port = echo_listener.local_addr().unwrap().port();
    let echo = guichet::demo::echo::serve(echo_listener).await.unwrap();

    // The files guichet's resolver reads, bind-mounted over the real ones.
    let hosts = dir.path().join("hosts");
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(&hosts, "127.0.0.1 localhost\n").unwrap();
    std::fs::write(
        &resolv,
        "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
    )
    .unwrap();

    let port = free_port().unwrap();
    let metrics_port = free_port().unwrap();
    let audit = dir.path().join("audit.log");
    let mut opts = StackOptions::new(port);
    opts.metrics_port = Some(metrics_port);
    opts.audit_file = Some(audit.clone());
    opts.upstream_url = Some(format!("http://{NAME}:{echo_port}"));
    let stack = Stack::start(dir.path(), &opts).await.unwrap();
    let text = std::fs::read_to_string(&stack.config_path)
        .unwrap()
        .replace(
            &format!("url = \"http://{NAME}:{echo_port}\""),
            &format!("url = \"http://{NAME}:{echo_port}\"\nresolve_interval = \"1s\""),
        );
    std::fs::write(&stack.config_path, text).unwrap();

    let script = "mount --bind \"$1\" /etc/hosts && mount --bind \"$2\" /etc/resolv.conf \
                  && shift 2 && exec \"$@\"";
    let hosts_arg = hosts.display().to_string();
    let resolv_arg = resolv.display().to_string();
    let mut wrapper = vec!["unshare"];
    // Root (CI) has its own mount namespace; anyone else gets one inside a user namespace.
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if !root {
        wrapper.extend(["--user", "--map-root-user"]);
    }
    wrapper.extend([
        "--mount",
        "sh",
        "-c",
        script,
        "sh",
        hosts_arg.as_str(),
        resolv_arg.as_str(),
    ]);
    let url = stack.gateway_url.clone();
    let gw = spawn_gateway_wrapped(
        &wrapper,
        &stack.config_path,
        dir.path(),
        "guichet",
        audit,
        metrics_port,
        &url,
    )
    .await;
    let logs = || std::fs::read_to_string(&gw.stderr_path).unwrap_or_default();

    // Not resolvable: alive, not ready, a clear page; nothing reaches anything.
    let r = reqwest::get(format!("{url}/readyz")).await.unwrap();
    assert_eq!(r.status(), 503);
    let ready: serde_json::Value = r.json().await.unwrap();
    assert_eq!(ready["upstream_resolved"], false, "{ready}");
    let r = reqwest::get(format!("{url}/public/x")).await.unwrap();
    assert_eq!(r.status(), 503);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("Service momentanément indisponible"),
        "{page}"
    );
    assert!(echo.requests().is_empty());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !logs().contains("upstream name does not resolve") {
        assert!(Instant::now() < deadline, "no warning logged:\n{}", logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!logs().contains("panicked"), "{}", logs());

    // The name appears (same file, rewritten in place): ready, and requests pass.
    std::fs::write(&hosts, format!("127.0.0.1 localhost\n127.0.0.1 {NAME}\n")).unwrap();
    wait_status(&format!("{url}/readyz"), 200, Duration::from_secs(15)).await;
    let r = reqwest::get(format!("{url}/public/x")).await.unwrap();
    assert_eq!(r.status(), 200);
    let seen = echo.last_request().expect("the application got it");
    assert_eq!(seen.path, "/public/x");
    let b = Browser::new();
    let landed = b
        .follow_as(&format!("{url}/.guichet/login?return_to=/whoami"), "elodie")
        .await;
    assert_eq!(landed.status, 200, "{}", landed.body);
    assert!(echo.last_request().unwrap().header("x-pivot-sub").is_some());

    // Two addresses, one dead (nothing listens on 127.0.0.2): every request still passes,
    // moving on to the next address when a connection fails.
    std::fs::write(
        &hosts,
        format!("127.0.0.1 localhost\n127.0.0.2 {NAME}\n127.0.0.1 {NAME}\n"),
    )
    .unwrap();
    let metrics_url = format!("http://127.0.0.1:{metrics_port}/metrics");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let m = reqwest::get(&metrics_url)
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if m.contains("guichet_upstream_addresses 2") {
            break;
        }
        assert!(Instant::now() < deadline, "two addresses never used:\n{m}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for i in 0..8 {
        let r = b.get(&format!("{url}/whoami?n={i}")).await;
        assert_eq!(r.status(), 200, "request {i}");
    }
    assert!(logs().contains("127.0.0.2"), "{}", logs());

    // The name disappears: the last addresses are kept (a DNS outage does not take the
    // application away).
    std::fs::write(&hosts, "127.0.0.1 localhost\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !logs().contains("no longer resolves") {
        assert!(Instant::now() < deadline, "{}", logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = b.get(&format!("{url}/whoami")).await;
    assert_eq!(r.status(), 200);
    let r = reqwest::get(format!("{url}/readyz")).await.unwrap();
    assert_eq!(r.status(), 200);
}
