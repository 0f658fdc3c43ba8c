//! Soak test: the release `guichet` binary in front of the demo stack (mock provider and echo
//! application, in this process), driven on loopback by a bounded number of simulated citizens
//! who log in, use the application, log out, and start again, for a bounded time. Reports
//! requests, errors and guichet's resident memory (RSS) at start, every few seconds, and at
//! the end; exits 1 if any request failed or if RSS grew more than a factor after warm-up.
//!
//! Run it with `benches/soak.sh [SECONDS]` or `make soak` (it does nothing under a plain
//! `cargo bench`). Throttling (`[rate_limit]`) is off: every citizen comes from 127.0.0.1. Settings, from the environment:
//! - `SOAK_SECONDS` (300): how long to drive traffic;
//! - `SOAK_CONCURRENCY` (16): simultaneous citizens;
//! - `SOAK_SAMPLE_SECONDS` (15): how often to print a line;
//! - `SOAK_MAX_RSS_GROWTH` (2.0): allowed RSS at the end over RSS after warm-up (the first
//!   sample, or a tenth of the run).

mod common;

use common::{rss_kib, wait_ready, Proc};
use guichet::demo::{free_port, Stack, StackOptions};
use reqwest::StatusCode;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CITIZENS: &[&str] = &["elodie", "jean-philippe", "ana", "partial", "angela"];

/// One lock per test citizen: logins share it, a logout takes it alone. A logout at the
/// provider ends every access token of that citizen (as FranceConnect's does), so a logout
/// landing between another visit's code exchange and its userinfo call would fail that login
/// at the provider: real, but not what this test measures.
type CitizenLocks = Arc<Vec<tokio::sync::RwLock<()>>>;
/// Authenticated rounds (three requests each) between a login and its logout.
const ROUNDS: usize = 8;

#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    errors: AtomicU64,
    logins: AtomicU64,
    logouts: AtomicU64,
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if std::env::var_os("GUICHET_SOAK").is_none() {
        eprintln!("soak: skipped (run benches/soak.sh, or set GUICHET_SOAK=1)");
        return;
    }
    let seconds: u64 = env("SOAK_SECONDS", 300);
    let concurrency: usize = env("SOAK_CONCURRENCY", 16);
    let sample: u64 = env("SOAK_SAMPLE_SECONDS", 15);
    let max_growth: f64 = env("SOAK_MAX_RSS_GROWTH", 2.0);
    guichet::server::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let code = runtime.block_on(soak(seconds, concurrency, sample, max_growth));
    std::process::exit(code);
}

async fn soak(seconds: u64, concurrency: usize, sample: u64, max_growth: f64) -> i32 {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port().expect("port");
    let mut opts = StackOptions::new(port);
    opts.metrics_port = Some(free_port().expect("port"));
    opts.audit_file = Some(dir.path().join("audit.log"));
    // Every simulated citizen comes from 127.0.0.1: per-address throttling would block them.
    opts.extra_toml = "[rate_limit]\nenabled = false\n".into();
    let stack = Stack::start(dir.path(), &opts).await.expect("stack");
    let url = stack.gateway_url.clone();
    let stderr = std::fs::File::create(dir.path().join("guichet.stderr")).expect("stderr");
    let child = Command::new(env!("CARGO_BIN_EXE_guichet"))
        .args(["run", "--config"])
        .arg(&stack.config_path)
        .arg("--upgrade-sock")
        .arg(dir.path().join("upgrade.sock"))
        .env("GUICHET_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("spawn guichet (release build)");
    let gateway = Proc(child);
    let pid = gateway.pid();
    if !wait_ready(&url).await {
        eprintln!("soak: guichet did not become ready");
        return 2;
    }
    let rss_start = rss_kib(pid);
    println!(
        "soak: {seconds} s, {concurrency} citizens, guichet pid {pid} at {url}, RSS at start {rss_start} KiB"
    );
    println!("  elapsed   requests  req/s   errors   logins  logouts   RSS KiB");

    let counts = Arc::new(Counts::default());
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let locks: CitizenLocks = Arc::new(CITIZENS.iter().map(|_| Default::default()).collect());
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let counts = counts.clone();
        let url = url.clone();
        let locks = locks.clone();
        workers.push(tokio::spawn(async move {
            let mut n = w;
            while Instant::now() < deadline {
                let i = n % CITIZENS.len();
                citizen(&url, CITIZENS[i], &locks[i], &counts).await;
                n += 1;
            }
        }));
    }

    let warm_at = Duration::from_secs((seconds / 10).clamp(1, sample.max(1)));
    let mut rss_warm = None;
    let mut rss_max = rss_start;
    let mut next = started + Duration::from_secs(sample.max(1));
    let mut last_requests = 0;
    let mut last_at = started;
    loop {
        let now = Instant::now();
        if rss_warm.is_none() && now >= started + warm_at {
            rss_warm = Some(rss_kib(pid));
        }
        if now >= next || now >= deadline {
            let rss = rss_kib(pid);
            rss_max = rss_max.max(rss);
            let requests = counts.requests.load(Ordering::Relaxed);
            let rate =
                (requests - last_requests) as f64 / now.duration_since(last_at).as_secs_f64();
            println!(
                "  {:>6} s {:>10} {:>6.0} {:>8} {:>8} {:>8} {:>9}",
                now.duration_since(started).as_secs(),
                requests,
                rate,
                counts.errors.load(Ordering::Relaxed),
                counts.logins.load(Ordering::Relaxed),
                counts.logouts.load(Ordering::Relaxed),
                rss
            );
            last_requests = requests;
            last_at = now;
            next += Duration::from_secs(sample.max(1));
            if now >= deadline {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for w in workers {
        let _ = w.await;
    }
    let rss_end = rss_kib(pid);
    let rss_warm = rss_warm.unwrap_or(rss_start).max(1);
    let requests = counts.requests.load(Ordering::Relaxed);
    let errors = counts.errors.load(Ordering::Relaxed);
    let growth = rss_end as f64 / rss_warm as f64;
    println!(
        "soak: {requests} requests in {:.0} s ({:.0}/s), {errors} errors, {} logins, {} logouts",
        started.elapsed().as_secs_f64(),
        requests as f64 / started.elapsed().as_secs_f64(),
        counts.logins.load(Ordering::Relaxed),
        counts.logouts.load(Ordering::Relaxed),
    );
    println!(
        "soak: RSS start {rss_start} KiB, after warm-up {rss_warm} KiB, max {rss_max} KiB, end {rss_end} KiB (x{growth:.2} since warm-up, limit x{max_growth})"
    );
    drop(gateway);
    drop(stack);
    // Why logins failed, from guichet's evidence log.
    let mut reasons = std::collections::BTreeMap::<String, u64>::new();
    let audit = std::fs::read_to_string(dir.path().join("audit.log")).unwrap_or_default();
    for line in audit.lines() {
        if let Ok(e) = serde_json::from_str::<serde_json::Value>(line) {
            if e["outcome"] == "failure" {
                let what = format!(
                    "{} {}",
                    e["event"].as_str().unwrap_or("?"),
                    e["reason"].as_str().unwrap_or("?")
                );
                *reasons.entry(what).or_default() += 1;
            }
        }
    }
    for (what, n) in &reasons {
        println!("soak: evidence log: {n} x {what}");
    }
    let mut code = 0;
    if errors > 0 {
        eprintln!("soak: FAILED: {errors} requests failed");
        code = 1;
    }
    if growth > max_growth {
        eprintln!("soak: FAILED: RSS grew x{growth:.2}");
        code = 1;
    }
    code
}

/// One citizen's visit: login, a few rounds of pages, logout, then checks the session is gone.
async fn citizen(url: &str, who: &str, lock: &tokio::sync::RwLock<()>, counts: &Counts) {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let Ok(client) = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_provider(jar)
        .timeout(Duration::from_secs(10))
        .build()
    else {
        counts.errors.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let login = format!("{url}/.guichet/login?return_to=%2Fwhoami");
    let logging_in = lock.read().await;
    // The mock provider's page, then the citizen picked on it (as a browser would: the
    // authorization request never names the citizen, FranceConnect would refuse it).
    let landed = match follow_to(&client, &login, &[], counts).await {
        Some((StatusCode::OK, page, _)) if page.path().contains("/interaction/") => {
            follow(&client, &format!("{page}/login?citizen={who}"), counts).await
        }
        other => other.map(|(status, _, body)| (status, body)),
    };
    drop(logging_in);
    match landed {
        Some((StatusCode::OK, body)) if body.contains("x-pivot-sub") => {
            counts.logins.fetch_add(1, Ordering::Relaxed);
        }
        other => {
            error(counts, "login", other.map(|(s, _)| s));
            return;
        }
    }
    for _ in 0..ROUNDS {
        for path in ["/whoami", "/public/x", "/api/me"] {
            let status = get(&client, &format!("{url}{path}"), &[], counts).await;
            if status != Some(StatusCode::OK) {
                error(counts, path, status);
            }
        }
    }
    let logout = format!("{url}/.guichet/logout");
    let logging_out = lock.write().await;
    let landed = follow_with(
        &client,
        &logout,
        &[("sec-fetch-site", "same-origin")],
        counts,
    )
    .await;
    drop(logging_out);
    match landed {
        Some((StatusCode::OK, _)) => {
            counts.logouts.fetch_add(1, Ordering::Relaxed);
        }
        other => error(counts, "logout", other.map(|(s, _)| s)),
    }
    let status = get(&client, &format!("{url}/whoami"), &[], counts).await;
    if status != Some(StatusCode::FOUND) {
        error(counts, "after logout", status);
    }
}

fn error(counts: &Counts, what: &str, status: Option<StatusCode>) {
    let n = counts.errors.fetch_add(1, Ordering::Relaxed);
    if n < 10 {
        eprintln!("soak: {what}: unexpected {status:?}");
    }
}

async fn get(
    client: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
    counts: &Counts,
) -> Option<StatusCode> {
    send(client, url, headers, counts).await.map(|r| r.status())
}

async fn send(
    client: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
    counts: &Counts,
) -> Option<reqwest::Response> {
    counts.requests.fetch_add(1, Ordering::Relaxed);
    let mut rb = client.get(url);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    rb.send().await.ok()
}

async fn follow(
    client: &reqwest::Client,
    url: &str,
    counts: &Counts,
) -> Option<(StatusCode, String)> {
    follow_with(client, url, &[], counts).await
}

/// GETs `url` and follows at most 10 redirects; the first hop carries `headers`.
async fn follow_with(
    client: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
    counts: &Counts,
) -> Option<(StatusCode, String)> {
    follow_to(client, url, headers, counts)
        .await
        .map(|(status, _, body)| (status, body))
}

/// [`follow_with`], with the URL it ended on.
async fn follow_to(
    client: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
    counts: &Counts,
) -> Option<(StatusCode, reqwest::Url, String)> {
    let mut url = reqwest::Url::parse(url).ok()?;
    let mut first = headers;
    for _ in 0..10 {
        let r = send(client, url.as_str(), first, counts).await?;
        first = &[];
        if r.status().is_redirection() {
            let location = r.headers().get("location")?.to_str().ok()?;
            url = url.join(location).ok()?;
            continue;
        }
        let status = r.status();
        return Some((status, url, r.text().await.ok()?));
    }
    None
}
