//! The listeners browsers reach, as pingora services: the main listener (plain HTTP, or TLS
//! with HTTP/2 and HTTP/1.1 chosen by ALPN), the optional plain-HTTP listener that only
//! redirects to the public URL, and what reloads the TLS certificate.
//!
//! Reloads: the certificate and key files are read again on SIGHUP and every
//! `[server.tls] reload_interval` (a change of contents is what counts, so Kubernetes Secret
//! updates and cert-manager renewals are picked up by themselves). A pair that loads serves
//! the next handshakes; open connections keep theirs; a pair that does not load changes
//! nothing and is logged ([`crate::tls`]). A zero-downtime upgrade (`guichet run --upgrade`)
//! also reads them, like any start.
//!
//! Connections on the main listener live by `[server]` `keepalive_requests` (HTTP/1.1 only;
//! HTTP/2 connections close after [`H2_IDLE_TIMEOUT`] idle), `tcp_keepalive` (probes, applied
//! to every accepted connection, also after an upgrade) and `tcp_fastopen` (set when the
//! socket is bound: a socket handed over by an upgrade keeps the old process's setting).
//!
//! Invariants:
//! - After `keepalive_requests` requests, the response says `Connection: close` and the
//!   connection closes
//!   (`tests/connections.rs::keepalive_requests_closes_the_connection_after_the_limit`).
//! - The redirect listener answers every request with a redirect to `public_url` plus the
//!   request's path and query, whatever its `Host` header says (never an open redirect), and
//!   `/healthz`; nothing else (`tests/tls.rs::http_redirects_to_the_public_url_and_nothing_else`).
//! - Every listener address is free before anything starts, except during an upgrade, when
//!   the sockets come from the running process (a taken port is a start-up error naming
//!   the key, exit 2: `tests/tls.rs::bad_certificates_and_taken_ports_exit_2_naming_the_key`).
//!
//! # Design notes, and the tests that guard each rule
//!
//! ## `src/listeners.rs`, `src/tls.rs`
//! `listeners.rs`: the pingora services browsers reach: the proxy on
//! `[server] listen`, plain or TLS (rustls; HTTP/2 and HTTP/1.1 by ALPN; pingora asks the
//! certificate of [`tls::ReloadingCert`] at every handshake), the plain-HTTP redirect listener
//! (`redirect_http`), the certificate reloads (SIGHUP and every `reload_interval`, on the
//! background runtime), the check that every listener address is free before start (skipped
//! with `--upgrade`, whose sockets come from the running process), and the switch that makes
//! responses close their connections once the process leaves (pingora's execution phases:
//! SIGQUIT, SIGTERM; [`GuichetProxy::draining`]). `tls.rs`: loading and checking
//! a certificate chain and key, and the resolver that swaps them. `[server.tls]`,
//! `redirect_http` and the main listener's connection options (`keepalive_requests`,
//! `tcp_keepalive`, `tcp_fastopen`, [`config::ListenerOptions`], mapped to pingora's
//! `HttpServerOptions` and `TcpSocketOptions` in `listeners.rs`) are validated in
//! `config/transport.rs`.
//!
//! **Invariants.**
//! - A certificate is served only with its own key; a bad chain or key is a config error
//!   naming `server.tls.cert_file`/`key_file`, exit 2, and a taken port one naming the
//!   listener's key (`tls::tests::a_key_that_does_not_match_is_refused`,
//!   `tests/tls.rs::bad_certificates_and_taken_ports_exit_2_naming_the_key`).
//! - A reload replaces the certificate for new handshakes only and drops no open connection; a
//!   reload that fails changes nothing (`tls::tests::a_failed_reload_keeps_the_current_certificate`,
//!   `tests/tls.rs::sighup_reloads_the_certificate_without_dropping_connections`,
//!   `changed_files_are_picked_up_by_the_periodic_check`).
//! - Neither the key nor the certificate's contents appear in a message, a log or `Debug`
//!   (`tls::tests::errors_never_print_the_key`, and the end of
//!   `sighup_reloads_the_certificate_without_dropping_connections`).
//! - Browsers get HTTP/2 and the whole login works over it
//!   (`tests/tls.rs::a_full_login_over_https_and_http2`).
//! - The redirect listener redirects to the public URL with the request's path and query only,
//!   whatever `Host` or an absolute-form target say, and serves nothing else
//!   (`listeners::tests::redirects_keep_path_and_query_and_never_the_host`,
//!   `tests/tls.rs::http_redirects_to_the_public_url_and_nothing_else`).
//! - An HTTP/1.1 connection serves at most `keepalive_requests` requests, the last one answered
//!   with `Connection: close`, then closes; 0 means no limit (pingora counts reuses, so N
//!   requests are N - 1 reuses: `listeners::tests::connection_options_map_to_pingora`,
//!   `tests/connections.rs::keepalive_requests_closes_the_connection_after_the_limit`,
//!   `without_a_limit_a_connection_serves_many_requests`).
//! - `tcp_keepalive` is off or whole seconds Linux accepts (a value the kernel refuses would
//!   fail every accepted connection): `config::transport::tests::listener_options_defaults_and_checks`.
//! - SIGTERM: no new connection, requests in flight finish within `grace_period` (longer ones
//!   are cut), the evidence log is complete, exit 0
//!   (`tests/shutdown.rs::sigterm_drains_in_flight_requests_flushes_the_evidence_log_and_exits_0`,
//!   `sigterm_right_after_a_login_keeps_its_evidence_line`).
//! - Upgrade (`--upgrade`, SIGQUIT to the old process): no request fails, the Redis session
//!   carries over (`tests/shutdown.rs::zero_downtime_upgrade_under_load_drops_no_request`). The
//!   upgrade socket (default `/run/guichet/upgrade.sock`, [`server::upgrade_socket`]) is in a
//!   directory guichet creates 0700, refused if another user owns it or may write to it
//!   (`server::tests::the_upgrade_socket_lives_in_a_private_directory`): a socket planted there
//!   would receive the listening sockets.
//!
//! **Never**: read the key file anywhere else; print a PEM; let the redirect listener use the
//! `Host` header.

use crate::config::{Config, ListenerOptions, TlsConfig};
use crate::gateway::Gateway;
use crate::proxy::GuichetProxy;
use crate::tls::{Reload, ReloadingCert};
use async_trait::async_trait;
use pingora::apps::http_app::ServeHttp;
use pingora::apps::HttpServerOptions;
use pingora::listeners::tls::TlsSettings;
use pingora::listeners::TcpSocketOptions;
use pingora::protocols::http::ServerSession;
use pingora::protocols::l4::ext::TcpKeepalive;
use pingora::server::{ExecutionPhase, Server};
use pingora::services::listening::Service;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A problem that prevents start-up (reported with exit code 2, like a config error). Raised
/// here first (a taken port, a certificate that does not load), and by [`crate::server`],
/// which re-exports it.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Setup(String),
}

/// Idle HTTP/2 connections from browsers are closed after this long (HTTP/1.1 keep-alive
/// connections after pingora's 60 s as well).
const H2_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Fails if a listener address cannot be bound (another process holds it), naming the key.
/// Not called during an upgrade: the old process holds the sockets it hands over.
pub fn check_free(cfg: &Config) -> Result<(), StartError> {
    let listeners = [
        ("server.listen", Some(cfg.server.listen)),
        ("server.redirect_http", cfg.server.redirect_http),
        ("metrics.listen", cfg.metrics.listen),
    ];
    for (key, addr) in listeners {
        let Some(addr) = addr else { continue };
        if let Err(e) = std::net::TcpListener::bind(addr) {
            return Err(StartError::Setup(format!(
                "{}: {key}: cannot listen on {addr}: {e}",
                cfg.source.display()
            )));
        }
    }
    Ok(())
}

/// What the running listeners need from the outside: the certificate to reload (with TLS),
/// and the switch that makes responses close their connections when the process leaves.
pub struct Listening {
    pub cert: Option<Arc<ReloadingCert>>,
    pub draining: Arc<AtomicBool>,
}

/// Adds the proxy service on `[server] listen` (TLS when configured) and the redirect
/// listener.
pub fn add_services(server: &mut Server, gateway: &Arc<Gateway>) -> Result<Listening, StartError> {
    let cfg = &gateway.cfg();
    let listen = cfg.server.listen.to_string();
    let app = GuichetProxy::new(gateway.clone());
    let draining = app.draining();
    let mut proxy =
        pingora::proxy::http_proxy_service_with_name(&server.configuration, app, "guichet");
    if let Some(app) = proxy.app_logic_mut() {
        app.server_options = Some(server_options(&cfg.server.connections));
    }
    let cert = match &cfg.server.tls {
        Some(tls) => {
            let cert = Arc::new(open_cert(cfg, tls)?);
            let mut settings = TlsSettings::intermediate("", "")
                .map_err(|e| StartError::Setup(format!("server.tls: cannot set up TLS: {e}")))?;
            settings.set_cert_resolver(cert.clone());
            settings.enable_h2();
            proxy.add_tls_with_settings(
                &listen,
                Some(socket_options(&cfg.server.connections)),
                settings,
            );
            tracing::info!(%listen, fingerprint = %cert.fingerprint(), "TLS on the main listener (HTTP/2 and HTTP/1.1)");
            Some(cert)
        }
        None => {
            proxy.add_tcp_with_settings(&listen, socket_options(&cfg.server.connections));
            None
        }
    };
    server.add_service(proxy);

    if let Some(addr) = cfg.server.redirect_http {
        let mut redirect = Service::new(
            "guichet redirect".into(),
            RedirectApp {
                public_url: cfg.server.public_url.clone(),
            },
        );
        redirect.add_tcp(&addr.to_string());
        server.add_service(redirect);
        tracing::info!(%addr, to = %cfg.server.public_url, "plain HTTP redirects to the public URL");
    }
    Ok(Listening { cert, draining })
}

/// The HTTP options of the main listener.
fn server_options(c: &ListenerOptions) -> HttpServerOptions {
    let mut options = HttpServerOptions::default();
    options.h2_idle_timeout = Some(H2_IDLE_TIMEOUT);
    // pingora counts reuses after the first request: N requests are N - 1 reuses.
    options.keepalive_request_limit = c.keepalive_requests.checked_sub(1);
    options
}

/// The socket options of the main listener and its accepted connections.
fn socket_options(c: &ListenerOptions) -> TcpSocketOptions {
    let mut options = TcpSocketOptions::default();
    if !c.tcp_keepalive.is_zero() {
        let interval = ListenerOptions::PROBE_INTERVAL;
        let count = ListenerOptions::PROBE_COUNT;
        options.tcp_keepalive = Some(TcpKeepalive {
            idle: c.tcp_keepalive,
            interval,
            count: count as usize,
            // Data left unacknowledged this long also drops the connection (a client gone
            // while guichet writes to it): the same bound as unanswered probes.
            #[cfg(target_os = "linux")]
            user_timeout: c.tcp_keepalive + interval * count,
        });
    }
    if c.tcp_fastopen > 0 {
        options.tcp_fastopen = Some(c.tcp_fastopen as usize);
    }
    options
}

/// Watches pingora's execution phases: from SIGQUIT (upgrade) or SIGTERM on, responses close
/// their connections ([`GuichetProxy::draining`]).
pub fn watch_shutdown(
    runtime: &tokio::runtime::Runtime,
    mut phases: tokio::sync::broadcast::Receiver<ExecutionPhase>,
    draining: Arc<AtomicBool>,
) {
    runtime.spawn(async move {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            let phase = match phases.recv().await {
                Ok(p) => p,
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            };
            let why = match phase {
                ExecutionPhase::GracefulUpgradeTransferringFds => "upgrade (SIGQUIT)",
                ExecutionPhase::GracefulTerminate => "shutdown (SIGTERM)",
                ExecutionPhase::ShutdownStarted => "shutdown",
                _ => continue,
            };
            if !draining.swap(true, Ordering::Relaxed) {
                tracing::info!(
                    reason = why,
                    "leaving: responses now close their connections"
                );
            }
        }
    });
}

fn open_cert(cfg: &Config, tls: &TlsConfig) -> Result<ReloadingCert, StartError> {
    ReloadingCert::open(&tls.cert_file, &tls.key_file).map_err(|e| {
        StartError::Setup(format!(
            "{}: {}: {e}",
            cfg.source.display(),
            e.which().key()
        ))
    })
}

/// Reloads the certificate on SIGHUP and every `interval` (zero: SIGHUP only). Without TLS,
/// SIGHUP is logged and ignored (instead of ending the process, its default). The signal
/// handler is installed before this returns.
pub fn watch_reloads(
    runtime: &tokio::runtime::Runtime,
    cert: Option<Arc<ReloadingCert>>,
    interval: Duration,
) -> Result<(), StartError> {
    use tokio::signal::unix::{signal, SignalKind};
    let _enter = runtime.enter();
    let mut hup = signal(SignalKind::hangup())
        .map_err(|e| StartError::Setup(format!("cannot handle SIGHUP: {e}")))?;
    runtime.spawn(async move {
        let mut tick = (!interval.is_zero()).then(|| {
            let mut t = tokio::time::interval(interval);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        loop {
            let why = tokio::select! {
                got = hup.recv() => match got {
                    Some(()) => "SIGHUP",
                    None => return,
                },
                _ = async {
                    match tick.as_mut() {
                        Some(t) => { t.tick().await; }
                        None => std::future::pending::<()>().await,
                    }
                } => "periodic check",
            };
            match &cert {
                Some(cert) => reload(cert, why).await,
                None => tracing::info!("SIGHUP: nothing to reload (no [server.tls])"),
            }
        }
    });
    Ok(())
}

async fn reload(cert: &Arc<ReloadingCert>, why: &'static str) {
    let task = cert.clone();
    match tokio::task::spawn_blocking(move || task.reload()).await {
        Ok(Ok(Reload::Replaced(fingerprint))) => {
            tracing::info!(trigger = why, %fingerprint, "TLS certificate reloaded: new connections use it");
        }
        Ok(Ok(Reload::Unchanged)) => {
            if why == "SIGHUP" {
                tracing::info!(trigger = why, fingerprint = %cert.fingerprint(), "TLS certificate unchanged");
            }
        }
        Ok(Err(e)) => tracing::error!(
            trigger = why,
            key = e.which().key(),
            error = %e,
            fingerprint = %cert.fingerprint(),
            "TLS certificate reload failed: still serving the current certificate"
        ),
        Err(e) => tracing::error!(error = %e, "TLS certificate reload task failed"),
    }
}

/// The plain-HTTP listener: `/healthz`, and a permanent redirect to the public URL for
/// everything else.
struct RedirectApp {
    public_url: String,
}

impl RedirectApp {
    /// The redirect target: the public URL, then the request's path and query only (an
    /// absolute-form request target or a `Host` header cannot choose the host).
    fn location(&self, uri: &http::Uri) -> String {
        let tail = uri.path_and_query().map_or("/", |p| p.as_str());
        if tail.starts_with('/') {
            format!("{}{tail}", self.public_url)
        } else {
            format!("{}/", self.public_url)
        }
    }
}

#[async_trait]
impl ServeHttp for RedirectApp {
    async fn response(&self, session: &mut ServerSession) -> http::Response<Vec<u8>> {
        let uri = &session.req_header().uri;
        let builder = http::Response::builder()
            .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .header(http::header::CACHE_CONTROL, "no-store");
        let response = if uri.path() == "/healthz" {
            let body = b"ok\n".to_vec();
            builder
                .status(200)
                .header(http::header::CONTENT_LENGTH, body.len())
                .body(body)
        } else {
            let location = self.location(uri);
            let body = format!("{location}\n").into_bytes();
            // 308 keeps the method (a form posted to http:// is posted again to https://).
            builder
                .status(308)
                .header(http::header::LOCATION, location)
                .header(http::header::CONTENT_LENGTH, body.len())
                .body(body)
        };
        response.unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_options_map_to_pingora() {
        let opts = |keepalive_requests, secs, tcp_fastopen| ListenerOptions {
            keepalive_requests,
            tcp_keepalive: Duration::from_secs(secs),
            tcp_fastopen,
        };
        // N requests per connection: the first, then N - 1 reuses; 0: no limit.
        assert_eq!(
            server_options(&opts(1000, 60, 0)).keepalive_request_limit,
            Some(999)
        );
        assert_eq!(
            server_options(&opts(1, 60, 0)).keepalive_request_limit,
            Some(0)
        );
        assert_eq!(
            server_options(&opts(0, 60, 0)).keepalive_request_limit,
            None
        );
        assert_eq!(
            server_options(&opts(0, 60, 0)).h2_idle_timeout,
            Some(H2_IDLE_TIMEOUT)
        );

        let on = socket_options(&opts(1000, 60, 256));
        let ka = on.tcp_keepalive.expect("keepalive on");
        assert_eq!(ka.idle, Duration::from_secs(60));
        assert_eq!(ka.interval, Duration::from_secs(10));
        assert_eq!(ka.count, 6);
        #[cfg(target_os = "linux")]
        assert_eq!(ka.user_timeout, Duration::from_secs(120));
        assert_eq!(on.tcp_fastopen, Some(256));
        let off = socket_options(&opts(1000, 0, 0));
        assert!(off.tcp_keepalive.is_none());
        assert_eq!(off.tcp_fastopen, None);
        // Only these two are set: the rest stays pingora's (and the kernel's) default.
        assert_eq!(off.so_reuseport, None);
    }

    #[test]
    fn redirects_keep_path_and_query_and_never_the_host() {
        let app = RedirectApp {
            public_url: "https://demarches.example.fr".into(),
        };
        let loc = |target: &str| app.location(&target.parse::<http::Uri>().expect("uri"));
        assert_eq!(
            loc("/a/b?x=1&y=%C3%A9"),
            "https://demarches.example.fr/a/b?x=1&y=%C3%A9"
        );
        assert_eq!(loc("/"), "https://demarches.example.fr/");
        assert_eq!(
            loc("http://evil.example/steal?x=1"),
            "https://demarches.example.fr/steal?x=1"
        );
        assert_eq!(
            loc("//evil.example/x"),
            "https://demarches.example.fr//evil.example/x"
        );
        assert_eq!(loc("*"), "https://demarches.example.fr/");
    }
}
