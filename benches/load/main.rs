//! Load benchmark (`make bench`, or `benches/load.sh`): an authenticated request through
//! guichet against the same request straight to the application, through nginx as a bare
//! keepalive reverse proxy, and through a bare pingora pass-through, all on loopback, driven
//! by `wrk` in interleaved rounds (figures move 20-30% between runs on a shared machine: only
//! ratios measured in the same run mean something). Then login flows per second and
//! guichet's memory per session. Prints figures; never fails because the machine is slow.
//!
//! The application is nginx answering `ok` (2 workers). guichet runs the release binary with
//! its defaults (threads = one per CPU, upstream pool 128) in front of it, with a real session
//! obtained by logging in through the mock FranceConnect provider: every measured request
//! goes cookie -> session lookup -> policy -> identity headers + cached signed assertion ->
//! upstream. The same with `store = "redis"` against a local redis-server, with the replica's
//! session cache (the default) and without it (`redis_local_cache = false`).
//!
//! Settings, from the environment:
//! - `LOAD_SECONDS` (8): length of each wrk run;
//! - `LOAD_ROUNDS` (3): rounds over every target (medians are reported);
//! - `LOAD_CONNECTIONS` (32): wrk connections (one wrk thread);
//! - `LOAD_THREADS` (0 = one per CPU): worker threads of guichet and of the pass-through;
//! - `LOAD_LOGIN_SECONDS` (10) and `LOAD_LOGIN_CONCURRENCY` (8): the login-flow run;
//! - `LOAD_REDIS` (1): also measure the Redis store (0: skip);
//! - `LOAD_APACHE` (1): also measure Apache 2.4 + mod_auth_openidc (0: skip);
//! - `LOAD_TARGETS` (all): comma-separated targets to drive (`direct,nginx,pingora,guichet,
//!   guichet redis,guichet redis uncached,apache`; the last Redis one with
//!   `redis_local_cache = false`), e.g. `guichet` alone while profiling it with `perf record -p PID`.
//!
//! Apache + mod_auth_openidc (Debian's packages, `servers::apache`) does the same job as
//! guichet: every request needs a valid session of its own (shared-memory cache), obtained by
//! logging in through the same mock provider (as a generic OpenID provider: discovery, RS256
//! id_token, JSON userinfo), and the claims go to the application as headers.
//!
//! Does nothing under a plain `cargo bench` unless `GUICHET_LOAD` is set.

#[path = "../common/mod.rs"]
mod common;
mod passthrough;
mod servers;
mod wrk;

use common::Proc;
use guichet::demo::provider::{Flavour, MockConfig, MockProvider};
use guichet::demo::{free_port, Stack, StackOptions};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Settings {
    seconds: u64,
    rounds: usize,
    connections: usize,
    threads: usize,
    login_seconds: u64,
    login_concurrency: usize,
    redis: bool,
    apache: bool,
}

/// Something wrk drives.
struct Target {
    name: &'static str,
    url: String,
    cookie: Option<String>,
    /// Processes whose CPU is charged to this target's requests.
    pids: Vec<u32>,
    runs: Vec<wrk::Run>,
}

fn main() {
    if std::env::var("LOAD_ROLE").as_deref() == Ok("passthrough") {
        passthrough::run(
            &std::env::var("LOAD_LISTEN").unwrap_or_default(),
            &std::env::var("LOAD_UPSTREAM").unwrap_or_default(),
            env("LOAD_THREADS", 2),
            128,
        );
        return;
    }
    if std::env::var_os("GUICHET_LOAD").is_none() {
        eprintln!("load: skipped (run benches/load.sh or make bench, or set GUICHET_LOAD=1)");
        return;
    }
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    let threads = match env("LOAD_THREADS", 0) {
        0 => cpus,
        n => n,
    };
    let settings = Settings {
        seconds: env("LOAD_SECONDS", 8),
        rounds: env("LOAD_ROUNDS", 3),
        connections: env("LOAD_CONNECTIONS", 32),
        threads,
        login_seconds: env("LOAD_LOGIN_SECONDS", 10),
        login_concurrency: env("LOAD_LOGIN_CONCURRENCY", 8),
        redis: env("LOAD_REDIS", 1) != 0,
        apache: env("LOAD_APACHE", 1) != 0,
    };
    guichet::server::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    if let Err(e) = runtime.block_on(bench(&settings)) {
        eprintln!("load: {e}");
        std::process::exit(2);
    }
}

async fn bench(s: &Settings) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dir = dir.path();
    let port = || free_port().map_err(|e| e.to_string());
    let (up_port, nginx_port, pass_port) = (port()?, port()?, port()?);
    let upstream = servers::nginx_upstream(dir, up_port)?;
    let nginx = servers::nginx_proxy(dir, nginx_port, up_port)?;
    let pass = servers::passthrough(dir, pass_port, up_port, s.threads)?;
    let up_url = format!("http://127.0.0.1:{up_port}");

    // The login run logs the mock's four test identities in hundreds of times a second, each
    // standing for many citizens: at the default per-citizen cap (10) guichet would hold 40
    // sessions and the RSS per session would mean nothing. At its highest (1000), 4000.
    let mem = start_guichet(
        dir,
        "guichet",
        &up_url,
        &format!("[session]\nmax_sessions_per_citizen = {PER_CITIZEN}\n"),
        s.threads,
    )
    .await?;
    let redis_proc;
    let red = if s.redis {
        let redis_port = port()?;
        redis_proc = servers::redis(dir, redis_port)?;
        // Records in Redis are sealed: the key of this run, in a file.
        let seal = dir.join("seal.key");
        std::fs::write(&seal, guichet::session::seal::generate_key())
            .map_err(|e| format!("seal key: {e}"))?;
        let store = format!(
            "[session]\nstore = \"redis\"\nredis_url = \"redis://127.0.0.1:{redis_port}\"\n\
             seal_keys = [\"file:{}\"]\n",
            seal.display()
        );
        let g = start_guichet(dir, "guichet redis", &up_url, &store, s.threads).await?;
        // The same without the replica's session cache: one round trip per request.
        let uncached = format!("{store}redis_local_cache = false\n");
        let u = start_guichet(dir, "guichet redis uncached", &up_url, &uncached, s.threads).await?;
        Some((g, u, redis_proc))
    } else {
        None
    };

    let apache = if s.apache {
        match start_apache(dir, up_port).await {
            Ok(a) => Some(a),
            Err(e) => {
                println!("load: apache skipped: {e}");
                None
            }
        }
    } else {
        None
    };

    let mut targets = vec![
        target("direct", &up_url, None, &upstream),
        target(
            "nginx",
            &format!("http://127.0.0.1:{nginx_port}"),
            None,
            &nginx,
        ),
        target(
            "pingora",
            &format!("http://127.0.0.1:{pass_port}"),
            None,
            &pass,
        ),
        target("guichet", &mem.url, Some(mem.cookie.clone()), &mem.proc),
    ];
    if let Some((g, u, _)) = &red {
        targets.push(target(
            "guichet redis",
            &g.url,
            Some(g.cookie.clone()),
            &g.proc,
        ));
        targets.push(target(
            "guichet redis uncached",
            &u.url,
            Some(u.cookie.clone()),
            &u.proc,
        ));
    }
    if let Some(a) = &apache {
        targets.push(target("apache", &a.url, Some(a.cookie.clone()), &a.proc));
    }
    if let Ok(only) = std::env::var("LOAD_TARGETS") {
        let only: Vec<&str> = only.split(',').map(str::trim).collect();
        targets.retain(|t| only.contains(&t.name));
    }
    for t in &targets {
        check_ok(t).await?;
        println!("load: {} at {} (pid {})", t.name, t.url, t.pids[0]);
    }

    println!(
        "load: {} CPUs, wrk -t1 -c{} -d{}s x {} rounds, guichet and pass-through threads = {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        s.connections,
        s.seconds,
        s.rounds,
        s.threads
    );
    let scratch = dir.to_path_buf();
    for round in 0..s.rounds {
        for t in targets.iter_mut() {
            let load = wrk::Load {
                url: &t.url,
                cookie: t.cookie.as_deref(),
                connections: s.connections,
                duration: Duration::from_secs(s.seconds),
                delay_ms: None,
                scratch: &scratch,
            };
            let run = wrk::run(&load, &t.pids)?;
            println!(
                "  round {} {:<14} {:>9.0} req/s  p50 {:.3} ms  p99 {:.3} ms  {:.1} us CPU/req  {} errors",
                round + 1,
                t.name,
                run.rps,
                run.p50_ms,
                run.p99_ms,
                run.cpu_us,
                run.errors
            );
            t.runs.push(run);
        }
        // A session that expired or a redirect to the login page would not count as an error
        // in wrk: check that every target still answers the application's 200.
        for t in &targets {
            check_ok(t).await?;
        }
    }

    let peak = summarize(&targets);
    print_peak_table(&peak);

    // Latency at half of guichet's peak: every target at that same paced rate. Each wrk
    // connection waits 1 ms then sends; a short calibration run per target gives its rate per
    // connection, hence the number of connections that makes the rate.
    let guichet_rps = peak
        .iter()
        .find(|p| p.name == "guichet")
        .map_or(0.0, |p| p.rps);
    let rate = guichet_rps / 2.0;
    if rate < 1.0 {
        return Ok(());
    }
    println!("\nload: paced at about half of guichet's peak ({rate:.0} req/s, 1 ms between requests on each connection)");
    let mut paced = Vec::new();
    for t in &targets {
        let mut load = wrk::Load {
            url: &t.url,
            cookie: t.cookie.as_deref(),
            connections: 8,
            duration: Duration::from_secs(2),
            delay_ms: Some(1),
            scratch: &scratch,
        };
        let calibration = wrk::run(&load, &t.pids)?;
        let per_connection = (calibration.rps / 8.0).max(1.0);
        load.connections = ((rate / per_connection).round() as usize).clamp(1, 1000);
        load.duration = Duration::from_secs(s.seconds);
        let run = wrk::run(&load, &t.pids)?;
        paced.push((t.name, load.connections, run));
    }
    print_paced_table(&paced);

    let login = logins(&mem.url, mem.proc.pid(), Flow::Guichet, s).await?;
    println!(
        "\nload: guichet logins: {} complete flows in {:.1} s = {:.0} flows/s ({} failed), {:.3} ms of guichet CPU per flow; \
         guichet RSS {} KiB -> {} KiB: {:.0} bytes per session held ({})",
        login.flows,
        login.seconds,
        login.flows as f64 / login.seconds,
        login.failed.values().sum::<u64>(),
        login.cpu_ms_per_flow,
        login.rss_before,
        login.rss_after,
        login.bytes_per_session,
        login.held,
    );
    print_failures("guichet", &login.failed);
    if let Some(a) = &apache {
        let al = logins(&a.url, a.proc.pid(), Flow::Apache, s).await?;
        println!(
            "load: apache logins: {} complete flows in {:.1} s = {:.0} flows/s ({} failed), {:.3} ms of Apache CPU per flow",
            al.flows,
            al.seconds,
            al.flows as f64 / al.seconds,
            al.failed.values().sum::<u64>(),
            al.cpu_ms_per_flow,
        );
        print_failures("apache", &al.failed);
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        println!(
            "load: logins, guichet / apache: {:.2}x the flows per second, {:.2}x the CPU per flow",
            ratio(
                login.flows as f64 / login.seconds,
                al.flows as f64 / al.seconds
            ),
            ratio(login.cpu_ms_per_flow, al.cpu_ms_per_flow),
        );
    }
    drop(apache);
    drop(red);
    drop(mem);
    drop(pass);
    drop(nginx);
    drop(upstream);
    Ok(())
}

/// The failed login flows of a run, by reason, most frequent first.
fn print_failures(name: &str, failed: &BTreeMap<String, u64>) {
    let mut by_count: Vec<_> = failed.iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(a.1));
    for (why, n) in by_count.iter().take(10) {
        println!("load: {name} logins failed: {n} x {why}");
    }
}

fn target(name: &'static str, url: &str, cookie: Option<String>, proc: &Proc) -> Target {
    Target {
        name,
        url: format!("{}/", url.trim_end_matches('/')),
        cookie,
        pids: vec![proc.pid()],
        runs: Vec::new(),
    }
}

/// A GET with the target's cookie must give the application's own `ok`.
async fn check_ok(t: &Target) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let mut rb = client.get(&t.url);
    if let Some(c) = &t.cookie {
        rb = rb.header("cookie", c);
    }
    let r = rb.send().await.map_err(|e| format!("{}: {e}", t.name))?;
    let status = r.status();
    let body = r.text().await.unwrap_or_default();
    if status != reqwest::StatusCode::OK || body != "ok\n" {
        return Err(format!(
            "{} answered {status} instead of the application's 200 ok",
            t.name
        ));
    }
    Ok(())
}

/// A running guichet with a logged-in session.
struct Gateway {
    url: String,
    cookie: String,
    proc: Proc,
    _stack: Stack,
}

async fn start_guichet(
    dir: &Path,
    name: &'static str,
    upstream: &str,
    extra: &str,
    threads: usize,
) -> Result<Gateway, String> {
    let port = free_port().map_err(|e| e.to_string())?;
    let mut opts = StackOptions::new(port);
    opts.upstream_url = Some(upstream.to_string());
    opts.audit_file = Some(dir.join(format!("{}-audit.log", name.replace(' ', "-"))));
    // nginx gets keepalive_requests 1000000: no per-connection request limit on either side.
    opts.server_toml = format!("threads = {threads}\nkeepalive_requests = 0\n");
    // Every simulated citizen comes from 127.0.0.1.
    opts.extra_toml = format!("[rate_limit]\nenabled = false\n\n{extra}");
    let sub = dir.join(name.replace(' ', "-"));
    let stack = Stack::start(&sub, &opts)
        .await
        .map_err(|e| format!("{name}: {e}"))?;
    let proc = servers::guichet(dir, name, &stack.config_path, port)?;
    let url = stack.gateway_url.clone();
    if !common::wait_ready(&url).await {
        return Err(format!("{name} did not become ready"));
    }
    let cookie = login(&url, Flow::Guichet, "elodie")
        .await
        .map_err(|e| format!("{name}: the login through the mock provider failed: {e}"))?;
    Ok(Gateway {
        url,
        cookie,
        proc,
        _stack: stack,
    })
}

/// Apache + mod_auth_openidc with a logged-in session, and the mock provider it trusts.
struct Apache {
    url: String,
    cookie: String,
    proc: Proc,
    _mock: MockProvider,
}

async fn start_apache(dir: &Path, upstream: u16) -> Result<Apache, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let config = MockConfig {
        flavour: Flavour::Generic,
        path_prefix: Flavour::Generic.default_prefix().to_owned(),
        ..MockConfig::default()
    };
    let mock = MockProvider::serve(listener, config)
        .await
        .map_err(|e| e.to_string())?;
    let port = free_port().map_err(|e| e.to_string())?;
    let issuer = mock.issuer();
    let proc = servers::apache(
        dir,
        port,
        upstream,
        &servers::OidcClient {
            issuer: &issuer,
            client_id: mock.client_id(),
            client_secret: mock.client_secret(),
        },
    )?;
    let url = format!("http://127.0.0.1:{port}");
    let cookie = login(&url, Flow::Apache, "elodie").await.map_err(|e| {
        format!(
            "the login through the mock provider failed: {e} (see {})",
            dir.join("apache/error.log").display()
        )
    })?;
    Ok(Apache {
        url,
        cookie,
        proc,
        _mock: mock,
    })
}

/// The identities the login run takes turns with.
const CITIZENS: &[&str] = &["elodie", "jean-philippe", "ana", "angela"];
/// guichet's `max_sessions_per_citizen` in the login run (the most it accepts).
const PER_CITIZEN: u64 = 1000;

/// Where a login flow starts.
#[derive(Clone, Copy)]
enum Flow {
    /// guichet's login URL.
    Guichet,
    /// Any protected page: mod_auth_openidc redirects to the provider. Both flows go through
    /// the mock's interaction page, where the citizen is picked: no `login_hint` (the generic
    /// mock would honour it and skip the page, a shorter flow than guichet's, which
    /// FranceConnect's rules give no hint).
    Apache,
}

/// One complete login flow (gateway -> mock provider -> callback -> application); the
/// session's cookie header on success, else the step that failed and how (for the tally).
async fn login(url: &str, flow: Flow, who: &str) -> Result<String, String> {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| format!("client: {e}"))?;
    let start = match flow {
        Flow::Guichet => format!("{url}/.guichet/login?return_to=%2F"),
        Flow::Apache => format!("{url}/"),
    };
    let r = client
        .get(start)
        .send()
        .await
        .map_err(|e| why("start", e))?;
    // The mock provider's page: the citizen is picked there, as a browser would (the
    // authorization request never names the citizen: FranceConnect would refuse it).
    let page = r.url().clone();
    if r.status() != reqwest::StatusCode::OK || !page.path().contains("/interaction/") {
        return Err(format!("start: {} at {}", r.status(), shape(page.path())));
    }
    let r = client
        .get(format!("{page}/login?citizen={who}"))
        .send()
        .await
        .map_err(|e| why("citizen", e))?;
    let (status, path) = (r.status(), r.url().path().to_string());
    let body = r.text().await.map_err(|e| why("citizen body", e))?;
    if status != reqwest::StatusCode::OK || body != "ok\n" {
        return Err(format!("citizen: {status} at {}", shape(&path)));
    }
    use reqwest::cookie::CookieStore;
    let base = reqwest::Url::parse(url).map_err(|e| e.to_string())?;
    let cookies = jar
        .cookies(&base)
        .ok_or_else(|| "no session cookie".to_string())?;
    cookies
        .to_str()
        .map(str::to_string)
        .map_err(|e| e.to_string())
}

/// A failed request, by kind (the tally groups them).
fn why(step: &str, e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_redirect() {
        "redirect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else {
        "request"
    };
    format!("{step}: {kind} error ({})", e.without_url())
}

/// A path with its random parts (interaction ids) blanked, so that failures group.
fn shape(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.len() >= 16 && seg.bytes().all(|b| b.is_ascii_hexdigit()) {
                "{id}"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

struct Logins {
    flows: u64,
    /// Failed flows, by reason.
    failed: BTreeMap<String, u64>,
    seconds: f64,
    cpu_ms_per_flow: f64,
    rss_before: u64,
    rss_after: u64,
    /// Sessions the gateway holds at the end (past its per-citizen cap, logins end the
    /// oldest ones).
    held: u64,
    bytes_per_session: f64,
}

/// Complete login flows, `login_concurrency` at a time, for `login_seconds`; CPU and RSS of
/// `pid` (and its children).
async fn logins(url: &str, pid: u32, flow: Flow, s: &Settings) -> Result<Logins, String> {
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(Mutex::new(BTreeMap::<String, u64>::new()));
    let rss_before = common::rss_kib(pid);
    let cpu_before = wrk::cpu_ticks(&[pid]);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(s.login_seconds);
    let mut tasks = Vec::new();
    for w in 0..s.login_concurrency {
        let (done, failed, url) = (done.clone(), failed.clone(), url.to_string());
        tasks.push(tokio::spawn(async move {
            let mut n = w;
            while Instant::now() < deadline {
                match login(&url, flow, CITIZENS[n % CITIZENS.len()]).await {
                    Ok(_) => {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(why) => {
                        if let Ok(mut f) = failed.lock() {
                            *f.entry(why).or_default() += 1;
                        }
                    }
                }
                n += 1;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = wrk::cpu_ticks(&[pid]).saturating_sub(cpu_before);
    let rss_after = common::rss_kib(pid);
    let flows = done.load(Ordering::Relaxed);
    let held = flows.min(CITIZENS.len() as u64 * PER_CITIZEN);
    Ok(Logins {
        flows,
        failed: failed.lock().map(|f| f.clone()).unwrap_or_default(),
        seconds,
        cpu_ms_per_flow: cpu as f64 * 10.0 / flows.max(1) as f64,
        rss_before,
        rss_after,
        held,
        bytes_per_session: rss_after.saturating_sub(rss_before) as f64 * 1024.0
            / held.max(1) as f64,
    })
}

/// Medians of a target's rounds.
struct Peak {
    name: &'static str,
    rps: f64,
    p50: f64,
    p99: f64,
    cpu: f64,
    errors: u64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn summarize(targets: &[Target]) -> Vec<Peak> {
    targets
        .iter()
        .map(|t| Peak {
            name: t.name,
            rps: median(t.runs.iter().map(|r| r.rps).collect()),
            p50: median(t.runs.iter().map(|r| r.p50_ms).collect()),
            p99: median(t.runs.iter().map(|r| r.p99_ms).collect()),
            cpu: median(t.runs.iter().map(|r| r.cpu_us).collect()),
            errors: t.runs.iter().map(|r| r.errors).sum(),
        })
        .collect()
}

fn print_peak_table(peak: &[Peak]) {
    let get = |name: &str| peak.iter().find(|p| p.name == name);
    let rps = |name: &str| get(name).map_or(0.0, |p| p.rps);
    let cpu = |name: &str| get(name).map_or(0.0, |p| p.cpu);
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    println!("\n| target | req/s | p50 ms | p99 ms | CPU us/req | CPU vs pingora | errors | vs nginx | vs pingora | vs apache | vs direct |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for p in peak {
        println!(
            "| {} | {:.0} | {:.3} | {:.3} | {:.1} | {:.2}x | {} | {:.2}x | {:.2}x | {:.2}x | {:.2}x |",
            p.name,
            p.rps,
            p.p50,
            p.p99,
            p.cpu,
            ratio(p.cpu, cpu("pingora")),
            p.errors,
            ratio(p.rps, rps("nginx")),
            ratio(p.rps, rps("pingora")),
            ratio(p.rps, rps("apache")),
            ratio(p.rps, rps("direct")),
        );
    }
    for name in ["guichet", "guichet redis", "apache"] {
        if get(name).is_some() {
            println!(
                "load: {name}: {:.2}x pingora's CPU per request; throughput {:.2}x pingora pass-through, {:.2}x nginx, {:.2}x apache, {:.2}x direct",
                ratio(cpu(name), cpu("pingora")),
                ratio(rps(name), rps("pingora")),
                ratio(rps(name), rps("nginx")),
                ratio(rps(name), rps("apache")),
                ratio(rps(name), rps("direct")),
            );
        }
    }
    for name in ["guichet redis", "guichet redis uncached"] {
        if get(name).is_some() {
            println!(
                "load: {name} / guichet memory = {:.2}x the throughput, {:.2}x the CPU per request",
                ratio(rps(name), rps("guichet")),
                ratio(cpu(name), cpu("guichet"))
            );
        }
    }
}

fn print_paced_table(paced: &[(&'static str, usize, wrk::Run)]) {
    let direct = paced
        .iter()
        .find(|(n, _, _)| *n == "direct")
        .map_or(0.0, |(_, _, r)| r.p99_ms);
    println!("\n| target | connections | req/s | p50 ms | p99 ms | p99 added vs direct, ms | CPU us/req | errors |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (name, connections, r) in paced {
        println!(
            "| {} | {} | {:.0} | {:.3} | {:.3} | {:+.3} | {:.1} | {} |",
            name,
            connections,
            r.rps,
            r.p50_ms,
            r.p99_ms,
            r.p99_ms - direct,
            r.cpu_us,
            r.errors
        );
    }
}
