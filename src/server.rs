//! Start-up and shut-down: build the gateway from a [`Config`], start the background work
//! (provider discovery with backoff, key refresh, the upstream's name resolution, the check
//! that closes upgraded connections of ended sessions), and run pingora's services (the proxy on
//! the main listener, metrics on their own) until a signal stops them.
//!
//! Pingora handles the signals: SIGTERM drains in-flight requests for `grace_period` then
//! exits, SIGQUIT hands the listening sockets to a new process started with `--upgrade`
//! (zero-downtime restart), SIGINT exits at once. SIGHUP reloads the TLS certificate
//! ([`crate::listeners`], which also owns the listeners themselves). The evidence log is
//! written out after pingora has drained, whatever the signal.
//!
//! # Design notes, and the tests that guard each rule
//!
//! ## `src/server.rs`, `src/main.rs`
//! Start-up (build the gateway, background work: discovery with backoff, the upstream's name
//! resolution, the watcher of upgraded connections; pingora's settings and services, the
//! metrics listener), shut-down (the evidence log closed after pingora has drained: `Audit::close` waits for a
//! line being written, then syncs the file) and the CLI (`run`, `check`, `demo`, `keygen`).
//! Config errors exit 2. Logging (`main.rs`) caps pingora at `info`.

use crate::assertion::Signer;
use crate::audit::{Audit, AuditCounters};
use crate::config::Config;
use crate::config::StoreKind;
use crate::gateway::{Gateway, Keys};
use crate::listeners;
pub use crate::listeners::StartError;
use crate::metrics::Metrics;
use crate::oidc::Provider;
use crate::session::memory::MemoryStore;
use crate::session::redis::RedisStore;
use crate::session::{SessionBuilder, SessionStore};
use async_trait::async_trait;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::{RunArgs, Server};
use pingora::services::listening::Service;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Longest wait at start for the upstream's name to resolve before serving anyway (not ready
/// until it does).
const FIRST_RESOLUTION: Duration = Duration::from_secs(2);

/// Options from the command line that are not in the configuration file.
#[derive(Debug, Default, Clone)]
pub struct RunOptions {
    /// Take over the listening sockets of a running guichet (zero-downtime upgrade).
    pub upgrade: bool,
    /// Unix socket used to hand over listeners during an upgrade (default
    /// [`DEFAULT_UPGRADE_SOCK`]).
    pub upgrade_sock: Option<String>,
}

/// Where the running process hands its listening sockets to the new one during a
/// zero-downtime upgrade, by default: a directory only guichet's user may write to (a
/// socket planted there by another user would receive the listening sockets).
pub const DEFAULT_UPGRADE_SOCK: &str = "/run/guichet/upgrade.sock";

/// The upgrade socket's path, its directory made private: created with mode 0700 when
/// missing; refused when it exists and another user owns it or may write to it. When the
/// default directory cannot be created (a read-only root filesystem, no permission) guichet
/// still starts, without zero-downtime upgrades, and says so; a directory given with
/// `--upgrade-sock`, or needed by `--upgrade`, must be usable.
pub fn upgrade_socket(opts: &RunOptions) -> Result<String, StartError> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let path = opts
        .upgrade_sock
        .clone()
        .unwrap_or_else(|| DEFAULT_UPGRADE_SOCK.to_string());
    let required = opts.upgrade || opts.upgrade_sock.is_some();
    let dir = std::path::Path::new(&path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."))
        .to_path_buf();
    let refuse = |why: String| {
        StartError::Setup(format!(
            "upgrade socket {path}: {why} (a socket planted there by another user would receive \
             guichet's listening sockets); use a directory owned by guichet's user with mode \
             0700, or --upgrade-sock"
        ))
    };
    match std::fs::metadata(&dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Err(e) = std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
            {
                if required {
                    return Err(StartError::Setup(format!(
                        "upgrade socket {path}: cannot create {}: {e}",
                        dir.display()
                    )));
                }
                tracing::info!(
                    directory = %dir.display(),
                    error = %e,
                    "zero-downtime upgrade (SIGQUIT) unavailable: cannot create the directory \
                     of the upgrade socket; pass --upgrade-sock to enable it"
                );
            }
            Ok(path)
        }
        Err(e) => Err(refuse(format!("cannot inspect {}: {e}", dir.display()))),
        Ok(meta) => {
            if !meta.is_dir() {
                return Err(refuse(format!("{} is not a directory", dir.display())));
            }
            if meta.permissions().mode() & 0o022 != 0 {
                return Err(refuse(format!(
                    "{} is writable by other users (mode {:o})",
                    dir.display(),
                    meta.permissions().mode() & 0o7777
                )));
            }
            // The owner of /proc/self is this process's effective user.
            if let Ok(me) = std::fs::metadata("/proc/self") {
                if meta.uid() != me.uid() {
                    return Err(refuse(format!(
                        "{} belongs to another user (uid {})",
                        dir.display(),
                        meta.uid()
                    )));
                }
            }
            Ok(path)
        }
    }
}

/// Everything built from the configuration, before any listener opens.
pub struct Built {
    pub gateway: Arc<Gateway>,
    pub audit: Arc<Audit>,
}

/// Builds the gateway (providers, store, metrics, audit) without starting anything.
pub fn build(cfg: Config) -> Result<Built, StartError> {
    install_crypto_provider();
    let cfg = Arc::new(cfg);
    let metrics = Arc::new(Metrics::new());
    let audit = Arc::new(
        Audit::open(
            &cfg.audit.output,
            cfg.audit.queue_size,
            AuditCounters {
                write_errors: metrics.audit_write_errors.clone(),
                waits: metrics.audit_waits.clone(),
                dropped: metrics.audit_dropped.clone(),
            },
        )
        .map_err(|e| {
            StartError::Setup(format!(
                "{}: audit.output: cannot open {:?}: {e}",
                cfg.source.display(),
                cfg.audit.output
            ))
        })?,
    );
    let mut providers = Vec::new();
    for p in &cfg.providers {
        let provider = Provider::new(p.clone()).map_err(|e| StartError::Setup(e.to_string()))?;
        providers.push(Arc::new(provider));
    }
    let sessions = SessionBuilder::for_config(cfg.clone());
    let notices = crate::gateway::store_notices(audit.clone(), metrics.clone());
    let store: Arc<dyn SessionStore> = match &cfg.session.store {
        StoreKind::Memory => Arc::new(MemoryStore::new(&cfg.session, notices)),
        StoreKind::Redis(redis) => {
            let store = RedisStore::new(
                &cfg.session,
                redis,
                &cfg.server.public_url,
                sessions.clone(),
                notices,
            )
            .map_err(|e| {
                StartError::Setup(format!("{}: session.redis_url: {e}", cfg.source.display()))
            })?;
            match &redis.sentinel_master {
                Some(master) => tracing::info!(
                    prefix = %redis.key_prefix,
                    %master,
                    sentinels = redis.sentinels.len(),
                    "sessions in Redis, primary found through Sentinel"
                ),
                None => tracing::info!(prefix = %redis.key_prefix, "sessions in Redis"),
            }
            Arc::new(store)
        }
    };
    // Public keys: assertion signing keys and provider encryption keys join this set.
    let mut jwks: Vec<serde_json::Value> = Vec::new();
    // FranceConnect+ encryption keys (`use: enc`): the provider reads this set at the JWKS URL
    // registered for the client and encrypts id_tokens and userinfo to one of them.
    for p in &cfg.providers {
        for k in &p.decryption_keys {
            if !jwks.contains(&k.public_jwk) {
                jwks.push(k.public_jwk.clone());
            }
        }
    }

    // Assertion signing keys (`use: sig`): the first signs, every configured one is published.
    let signer = Arc::new(Signer::new(&cfg.headers.assertion).map_err(|e| {
        StartError::Setup(format!(
            "{}: headers.signing_keys: {e}",
            cfg.source.display()
        ))
    })?);
    if signer.generated() {
        tracing::warn!(
            kid = signer.kid(),
            "NO ASSERTION SIGNING KEY CONFIGURED: generated one for this process only. It will \
             not survive a restart and is not shared by other replicas, so applications that \
             verify the assertion will meet unknown keys. Set [headers] signing_keys = \
             [\"file:/path/key.pem\"] with a key from `guichet keygen --alg ES256`."
        );
    }
    jwks.extend(signer.jwks().iter().cloned());

    let gateway = Arc::new(Gateway::new(
        cfg,
        providers,
        store,
        sessions,
        metrics,
        audit.clone(),
        Keys { signer, jwks },
    ));
    Ok(Built { gateway, audit })
}

/// rustls needs one process-wide crypto provider; pingora and reqwest both use *ring*. So does
/// jsonwebtoken, through guichet's backend ([`crate::jose`]; also installed by every path into
/// jsonwebtoken, this is a second guard).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    crate::jose::install();
}

/// Runs until a shutdown signal. Returns after pingora has drained.
pub fn run(cfg: Config, opts: RunOptions) -> Result<(), StartError> {
    let upgrade_sock = upgrade_socket(&opts)?;
    let conf = pingora_conf(&cfg, upgrade_sock);
    let metrics_listen = cfg.metrics.listen;
    let tls_reload = cfg
        .server
        .tls
        .as_ref()
        .map_or(Duration::ZERO, |t| t.reload_interval);
    if !opts.upgrade {
        listeners::check_free(&cfg)?;
    }
    let built = build(cfg)?;
    let gateway = built.gateway;

    let background = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("guichet-background")
        .enable_all()
        .build()
        .map_err(|e| StartError::Setup(format!("cannot start the background runtime: {e}")))?;
    for provider in gateway.providers() {
        background.spawn(keep_provider_loaded(provider.clone(), gateway.clone()));
    }
    background.spawn(sweep_sessions(gateway.store().clone()));
    // A first resolution before serving (bounded), so that a name that resolves is ready at
    // once, also for the process taking over in a zero-downtime upgrade.
    if gateway.upstream().name().is_some() {
        let upstream = &gateway.upstream();
        let first = async { tokio::time::timeout(FIRST_RESOLUTION, upstream.resolve()).await };
        if let Ok(Ok(addrs)) = background.block_on(first) {
            tracing::info!(addresses = ?addrs, "upstream name resolved");
        }
    }
    background.spawn(crate::upstream::keep_resolved(
        gateway.upstream().clone(),
        gateway.cfg().upstream.resolve_interval,
        gateway.metrics().clone(),
    ));
    background.spawn(crate::upgraded::watch(
        gateway.upgraded().clone(),
        gateway.store().clone(),
        gateway.cfg().session.idle_timeout,
        gateway.cfg().session.absolute_timeout,
        gateway.metrics().clone(),
    ));

    let opt = Opt {
        upgrade: opts.upgrade,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    // With --upgrade: waits here for the running process to hand over its listening sockets.
    server.bootstrap();

    let listening = listeners::add_services(&mut server, &gateway)?;
    listeners::watch_reloads(&background, listening.cert, tls_reload)?;
    listeners::watch_shutdown(
        &background,
        server.watch_execution_phase(),
        listening.draining,
    );

    if let Some(addr) = metrics_listen {
        let mut metrics = Service::new(
            "guichet metrics".into(),
            MetricsApp {
                gateway: gateway.clone(),
            },
        );
        metrics.add_tcp(&addr.to_string());
        server.add_service(metrics);
    }

    tracing::info!(listen = %gateway.cfg().server.listen, "guichet listening");
    server.run(RunArgs::default());
    // Every listener has drained: no request can write to the evidence log any more.
    built.audit.close();
    background.shutdown_timeout(Duration::from_secs(2));
    tracing::info!("guichet stopped");
    Ok(())
}

/// Pingora's settings: worker threads, the drain time on SIGTERM/SIGQUIT, the upstream pool,
/// the upgrade socket.
fn pingora_conf(cfg: &Config, upgrade_sock: String) -> ServerConf {
    let threads = match cfg.server.threads {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    // Whole seconds for pingora, rounded up ("500ms" must not become no grace at all).
    let grace = u64::try_from(cfg.server.grace_period.as_millis().div_ceil(1000)).unwrap_or(60);
    ServerConf {
        threads,
        grace_period_seconds: Some(grace),
        graceful_shutdown_timeout_seconds: Some(grace + 5),
        upstream_keepalive_pool_size: cfg.upstream.pool_size,
        upgrade_sock,
        ..ServerConf::default()
    }
}

/// Ends expired sessions nobody asks for, about once a second, so that each end is in the
/// evidence log (the memory store sweeps a shard per call; Redis ends what is past its
/// deadline, every replica sweeping, each session ended by one).
async fn sweep_sessions(store: Arc<dyn SessionStore>) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match store.sweep().await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(sessions = n, "expired sessions ended by the sweep"),
            // The requests that need the store report it; the sweep tries again.
            Err(e) => tracing::debug!(error = %e, "session sweep failed"),
        }
    }
}

/// Discovery with exponential backoff until it succeeds, then a refresh every hour (keys
/// also refresh on demand when a token names an unknown key).
async fn keep_provider_loaded(provider: Arc<Provider>, gateway: Arc<Gateway>) {
    let name = provider.name().to_string();
    let mut delay = Duration::from_secs(1);
    loop {
        match provider.discover().await {
            Ok(()) => {
                tracing::info!(provider = %name, "provider metadata and keys loaded");
                gateway.metrics().providers_ready.inc();
                break;
            }
            Err(e) => {
                tracing::warn!(provider = %name, error = %e, retry_in = ?delay, "provider discovery failed");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(60));
            }
        }
    }
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        if let Err(e) = provider.discover().await {
            tracing::warn!(provider = %name, error = %e, "periodic provider refresh failed; keeping the previous metadata");
        }
    }
}

/// The metrics listener: `/metrics` in Prometheus text format, and the public keys at
/// `/jwks.json` when `[headers] jwks_on_metrics` is set.
struct MetricsApp {
    gateway: Arc<Gateway>,
}

#[async_trait]
impl ServeHttp for MetricsApp {
    async fn response(&self, session: &mut ServerSession) -> http::Response<Vec<u8>> {
        let path = session.req_header().uri.path().to_string();
        let (status, content_type, body) = match path.as_str() {
            "/metrics" => {
                let gw = &self.gateway;
                gw.metrics()
                    .throttle_clients
                    .set(i64::try_from(gw.throttled_addresses()).unwrap_or(i64::MAX));
                gw.metrics()
                    .audit_queue_depth
                    .set(i64::try_from(gw.audit().queue_depth()).unwrap_or(i64::MAX));
                gw.metrics()
                    .upgraded_connections
                    .set(i64::try_from(gw.upgraded().connections()).unwrap_or(i64::MAX));
                if let Some(n) = gw.store().active_sessions() {
                    gw.metrics()
                        .active_sessions
                        .set(i64::try_from(n).unwrap_or(i64::MAX));
                }
                for p in gw.providers() {
                    let ok = p.jwks.fetches.load(Ordering::Relaxed);
                    let failed = p.jwks.failures.load(Ordering::Relaxed);
                    for (result, value) in [("success", ok), ("failure", failed)] {
                        let c = gw
                            .metrics()
                            .jwks_refreshes
                            .with_label_values(&[p.name(), result]);
                        let delta = value.saturating_sub(c.get());
                        c.inc_by(delta);
                    }
                }
                (
                    200,
                    "text/plain; version=0.0.4",
                    gw.metrics().render().into_bytes(),
                )
            }
            "/jwks.json" if self.gateway.cfg().headers.jwks_on_metrics => (
                200,
                "application/json",
                self.gateway.jwks().to_string().into_bytes(),
            ),
            _ => (404, "text/plain", b"not found\n".to_vec()),
        };
        http::Response::builder()
            .status(status)
            .header(http::header::CONTENT_TYPE, content_type)
            .header(http::header::CONTENT_LENGTH, body.len())
            .body(body)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn opts(sock: &std::path::Path, upgrade: bool) -> RunOptions {
        RunOptions {
            upgrade,
            upgrade_sock: Some(sock.display().to_string()),
        }
    }

    #[test]
    fn the_upgrade_socket_lives_in_a_private_directory() {
        assert!(DEFAULT_UPGRADE_SOCK.starts_with("/run/guichet/"));
        let tmp = tempfile::tempdir().unwrap();
        // Missing: created, mode 0700.
        let sock = tmp.path().join("run/guichet/upgrade.sock");
        assert_eq!(
            upgrade_socket(&opts(&sock, false)).unwrap(),
            sock.display().to_string()
        );
        let mode = std::fs::metadata(sock.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        // Writable by others (like /tmp): refused, saying why.
        let shared = tmp.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let e = upgrade_socket(&opts(&shared.join("upgrade.sock"), true)).unwrap_err();
        assert!(e.to_string().contains("writable by other users"), "{e}");
        let e =
            upgrade_socket(&opts(std::path::Path::new("/tmp/guichet.sock"), false)).unwrap_err();
        assert!(e.to_string().contains("/tmp"), "{e}");
        // Readable by others is fine (systemd's RuntimeDirectory is 0755).
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).unwrap();
        upgrade_socket(&opts(&shared.join("upgrade.sock"), true)).unwrap();
        // A socket path where no directory can be made, asked for explicitly: refused.
        let file = tmp.path().join("file");
        std::fs::write(&file, "").unwrap();
        assert!(upgrade_socket(&opts(&file.join("sub/upgrade.sock"), false)).is_err());
    }
}
