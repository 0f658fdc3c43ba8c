//! Start-up and shut-down: build the gateway from a [`Config`], start the background work
//! (provider discovery with backoff, key refresh), and run pingora's services (the proxy on
//! the main listener, metrics on their own) until a signal stops them.
//!
//! Pingora handles the signals: SIGTERM drains in-flight requests for `grace_period` then
//! exits, SIGQUIT hands the listening sockets to a new process started with `--upgrade`
//! (zero-downtime restart), SIGINT exits at once. SIGHUP reloads the TLS certificate
//! ([`crate::listeners`], which also owns the listeners themselves). The evidence log is
//! written out after pingora has drained, whatever the signal.

use crate::assertion::Signer;
use crate::audit::Audit;
use crate::config::Config;
use crate::config::StoreKind;
use crate::gateway::{Gateway, Keys};
use crate::listeners;
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

/// Options from the command line that are not in the configuration file.
#[derive(Debug, Default, Clone)]
pub struct RunOptions {
    /// Take over the listening sockets of a running guichet (zero-downtime upgrade).
    pub upgrade: bool,
    /// Unix socket used to hand over listeners during an upgrade.
    pub upgrade_sock: Option<String>,
}

/// A problem that prevents start-up (reported with exit code 2, like a config error).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Setup(String),
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
        Audit::open(&cfg.audit.output, metrics.audit_write_errors.clone()).map_err(|e| {
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
    let store: Arc<dyn SessionStore> = match &cfg.session.store {
        StoreKind::Memory => Arc::new(MemoryStore::new(&cfg.session)),
        StoreKind::Redis(redis) => {
            let store = RedisStore::new(
                &cfg.session,
                redis,
                &cfg.server.public_url,
                sessions.clone(),
            )
            .map_err(|e| {
                StartError::Setup(format!("{}: session.redis_url: {e}", cfg.source.display()))
            })?;
            tracing::info!(prefix = %redis.key_prefix, "sessions in Redis");
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

/// The store's housekeeping, once a second, off the request path (the memory store sweeps
/// one shard of expired sessions each time).
async fn maintain_store(gateway: Arc<Gateway>) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let store = gateway.store.clone();
        // A sweep takes a shard's lock for a moment: off the async workers.
        let _ = tokio::task::spawn_blocking(move || store.maintain(crate::session::now())).await;
    }
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
    let conf = pingora_conf(&cfg, &opts);
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
    for provider in &gateway.providers {
        background.spawn(keep_provider_loaded(provider.clone(), gateway.clone()));
    }
    background.spawn(maintain_store(gateway.clone()));

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

    tracing::info!(listen = %gateway.cfg.server.listen, "guichet listening");
    server.run(RunArgs::default());
    // Every listener has drained: no request can write to the evidence log any more.
    built.audit.close();
    background.shutdown_timeout(Duration::from_secs(2));
    tracing::info!("guichet stopped");
    Ok(())
}

/// Pingora's settings: worker threads, the drain time on SIGTERM/SIGQUIT, the upstream pool,
/// the upgrade socket.
fn pingora_conf(cfg: &Config, opts: &RunOptions) -> ServerConf {
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
        upgrade_sock: opts
            .upgrade_sock
            .clone()
            .unwrap_or_else(|| "/tmp/guichet-upgrade.sock".into()),
        ..ServerConf::default()
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
                gateway.metrics.providers_ready.inc();
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
                gw.metrics
                    .throttle_clients
                    .set(i64::try_from(gw.throttle.tracked()).unwrap_or(i64::MAX));
                if let Some(n) = gw.store.active_sessions() {
                    gw.metrics
                        .active_sessions
                        .set(i64::try_from(n).unwrap_or(i64::MAX));
                }
                for p in &gw.providers {
                    let ok = p.jwks.fetches.load(Ordering::Relaxed);
                    let failed = p.jwks.failures.load(Ordering::Relaxed);
                    for (result, value) in [("success", ok), ("failure", failed)] {
                        let c = gw
                            .metrics
                            .jwks_refreshes
                            .with_label_values(&[p.name(), result]);
                        let delta = value.saturating_sub(c.get());
                        c.inc_by(delta);
                    }
                }
                (
                    200,
                    "text/plain; version=0.0.4",
                    gw.metrics.render().into_bytes(),
                )
            }
            "/jwks.json" if self.gateway.cfg.headers.jwks_on_metrics => (
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
