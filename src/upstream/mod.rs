//! The application's addresses: resolved in the background, never on the request path.
//!
//! `[upstream] url` names an IP address (used as it is) or a host name, resolved with the
//! system resolver (`getaddrinfo`: `/etc/hosts`, then DNS, as every other program on the
//! machine) at start and again every `resolve_interval` ([`keep_resolved`]). Every address of
//! the answer is used: requests take them in turn, and a request whose connection fails moves
//! to the next address ([`Upstream::pick`], driven by `proxy::fail_to_connect`).
//!
//! While the name has never resolved, `/readyz` answers 503 and requests get the "service
//! unavailable" page (503); nothing panics. A later failure keeps the last addresses (a DNS
//! outage does not take the application away), logged and counted.
//!
//! Invariants:
//! - No lookup happens on the request path; picking an address is an atomic load and an
//!   increment (`tests::addresses_are_taken_in_turn_and_failover_covers_them_all`).
//! - A name that does not resolve never stops guichet, and requests pass as soon as it does,
//!   without a restart (`tests/upstream_dns.rs`).
//!
//! # Design notes, and the tests that guard each rule
//!
//! ## `src/upstream/`
//! The application's addresses (`mod.rs`: resolution in the background
//! with the system resolver every `[upstream] resolve_interval`, requests taking the addresses
//! in turn, `guichet check`'s warning) and pingora's peers (`peer.rs`:
//! built from resolved addresses, never from a name; upgrade connections closable by a switch).
//!
//! **Invariants.**
//! - An upstream name never panics: guichet starts while it does not resolve (`/readyz` 503,
//!   the "service unavailable" page), then serves as soon as it resolves, without a restart;
//!   every address is used and a dead one is skipped; a later failure keeps the last addresses
//!   (`tests/upstream_dns.rs::an_upstream_name_that_resolves_later_serves_without_a_restart`,
//!   under `unshare` with a bind-mounted hosts file; `upstream::tests::*`).
//! - No lookup on the request path; picking an address is an atomic load
//!   (`upstream::tests::addresses_are_taken_in_turn_and_failover_covers_them_all`).
//! - A closable connection is never pooled for another request
//!   (`upstream::peer::tests::peers_are_built_from_addresses_and_closable_ones_never_share_a_pool`).
//! - `guichet check` warns, exits 0 (`tests/cli.rs::check_warns_about_an_upstream_name_that_does_not_resolve_now`).

pub mod peer;

use crate::config::UpstreamConfig;
use arc_swap::ArcSwap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Longest wait for one resolution (the system resolver has its own, often longer, timeouts).
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);

/// The application's addresses and where the next request starts among them.
#[derive(Debug)]
pub struct Upstream {
    /// The host name to resolve; `None` when the URL names an IP address.
    name: Option<String>,
    port: u16,
    addrs: ArcSwap<Vec<SocketAddr>>,
    next: AtomicUsize,
}

/// Why a resolution gave no address.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("{0}")]
    Lookup(std::io::Error),
    #[error("no address in the answer")]
    Empty,
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

impl Upstream {
    pub fn new(cfg: &UpstreamConfig) -> Upstream {
        let literal: Vec<SocketAddr> = match &cfg.host_name {
            Some(_) => Vec::new(),
            None => cfg.address.parse().into_iter().collect(),
        };
        Upstream {
            name: cfg.host_name.clone(),
            port: cfg.port,
            addrs: ArcSwap::from_pointee(literal),
            next: AtomicUsize::new(0),
        }
    }

    /// The name to resolve, if the URL gives one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Has any address been found (always true for an IP address)?
    pub fn is_resolved(&self) -> bool {
        !self.addrs.load().is_empty()
    }

    /// The current addresses.
    pub fn addresses(&self) -> Arc<Vec<SocketAddr>> {
        self.addrs.load_full()
    }

    /// A new request's first address: each request starts one further than the previous.
    pub fn start(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// The address for a request that started at `start` and already failed to connect
    /// `attempt` times; `None` when every address was tried, or none is known.
    pub fn pick(&self, start: usize, attempt: usize) -> Option<SocketAddr> {
        let addrs = self.addrs.load();
        if attempt >= addrs.len() {
            return None;
        }
        addrs
            .get(start.wrapping_add(attempt) % addrs.len())
            .copied()
    }

    /// Resolves the name once; on success the answer replaces the addresses. Returns them.
    pub async fn resolve(&self) -> Result<Arc<Vec<SocketAddr>>, ResolveError> {
        let Some(name) = &self.name else {
            return Ok(self.addresses());
        };
        let lookup = tokio::net::lookup_host((name.as_str(), self.port));
        let found = match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
            Err(_) => return Err(ResolveError::Timeout(RESOLVE_TIMEOUT)),
            Ok(Err(e)) => return Err(ResolveError::Lookup(e)),
            Ok(Ok(found)) => found,
        };
        let mut addrs: Vec<SocketAddr> = Vec::new();
        for a in found {
            if !addrs.contains(&a) {
                addrs.push(a);
            }
        }
        if addrs.is_empty() {
            return Err(ResolveError::Empty);
        }
        let addrs = Arc::new(addrs);
        self.addrs.store(addrs.clone());
        Ok(addrs)
    }

    /// Sets the addresses (tests).
    pub fn set_addresses(&self, addrs: Vec<SocketAddr>) {
        self.addrs.store(Arc::new(addrs));
    }
}

/// Resolves the upstream's name now and every `every`, for the life of the process (nothing
/// to do for an IP address). Changes and failures are logged; `guichet_upstream_addresses`
/// and `guichet_upstream_resolutions_total` follow.
pub async fn keep_resolved(
    upstream: Arc<Upstream>,
    every: Duration,
    metrics: Arc<crate::metrics::Metrics>,
) {
    metrics
        .upstream_addresses
        .set(i64::try_from(upstream.addresses().len()).unwrap_or(i64::MAX));
    let Some(name) = upstream.name().map(String::from) else {
        return;
    };
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        let before = upstream.addresses();
        match upstream.resolve().await {
            Ok(addrs) => {
                metrics
                    .upstream_resolutions
                    .with_label_values(&["success"])
                    .inc();
                metrics
                    .upstream_addresses
                    .set(i64::try_from(addrs.len()).unwrap_or(i64::MAX));
                if *addrs != *before || failing {
                    tracing::info!(upstream = %name, addresses = ?addrs, "upstream name resolved");
                }
                failing = false;
            }
            Err(e) => {
                metrics
                    .upstream_resolutions
                    .with_label_values(&["failure"])
                    .inc();
                if !failing {
                    if before.is_empty() {
                        tracing::warn!(upstream = %name, error = %e, retry_every = ?every, "upstream name does not resolve: not ready, requests get 503 until it does");
                    } else {
                        tracing::warn!(upstream = %name, error = %e, addresses = ?before, "upstream name no longer resolves: keeping the last addresses");
                    }
                }
                failing = true;
            }
        }
    }
}

/// For `guichet check`: a warning when the upstream's name does not resolve right now (guichet
/// would start anyway, not ready until it does).
pub fn check_now(cfg: &UpstreamConfig) -> Option<String> {
    use std::net::ToSocketAddrs;
    let name = cfg.host_name.as_deref()?;
    match (name, cfg.port).to_socket_addrs() {
        Ok(found) if found.len() > 0 => None,
        Ok(_) => Some(format!(
            "upstream.url: {name:?} resolves to no address right now; guichet will start, \
             answer /readyz with 503 and keep resolving it every {}",
            humantime::format_duration(cfg.resolve_interval)
        )),
        Err(e) => Some(format!(
            "upstream.url: {name:?} does not resolve right now ({e}); guichet will start, \
             answer /readyz with 503 and keep resolving it every {}",
            humantime::format_duration(cfg.resolve_interval)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> UpstreamConfig {
        use std::io::Write;
        let mut secret = tempfile::NamedTempFile::new().expect("secret");
        writeln!(secret, "{}", "ab".repeat(32)).expect("secret");
        let text = format!(
            "[upstream]\nurl = \"{url}\"\n[[providers]]\nname = \"g\"\npreset = \"generic\"\n\
             issuer = \"http://127.0.0.1:9\"\nclient_id = \"c\"\nclient_secret = \"file:{}\"\n",
            secret.path().display()
        );
        crate::config::Config::from_toml(&text, std::path::Path::new("t.toml"))
            .expect("config")
            .upstream
    }

    fn upstream(url: &str) -> Upstream {
        Upstream::new(&config(url))
    }

    #[test]
    fn an_ip_address_needs_no_resolution() {
        let u = upstream("http://127.0.0.1:3000");
        assert!(u.is_resolved());
        assert_eq!(u.name(), None);
        assert_eq!(u.pick(0, 0), Some("127.0.0.1:3000".parse().unwrap()));
        assert_eq!(u.pick(0, 1), None);
        let v6 = upstream("https://[::1]:8443");
        assert_eq!(v6.pick(7, 0), Some("[::1]:8443".parse().unwrap()));
    }

    #[test]
    fn addresses_are_taken_in_turn_and_failover_covers_them_all() {
        let u = upstream("http://app.invalid:3000");
        assert!(!u.is_resolved());
        assert_eq!(
            u.pick(u.start(), 0),
            None,
            "nothing known: no address, no panic"
        );
        let addrs: Vec<SocketAddr> = (1..=3)
            .map(|i| SocketAddr::from(([10, 0, 0, i], 3000)))
            .collect();
        u.set_addresses(addrs.clone());
        let firsts: Vec<_> = (0..3).map(|_| u.pick(u.start(), 0).unwrap()).collect();
        let mut sorted = firsts.clone();
        sorted.sort();
        assert_eq!(sorted, addrs, "each request starts at the next address");
        let start = u.start();
        let mut tried: Vec<_> = (0..3).map(|a| u.pick(start, a).unwrap()).collect();
        tried.sort();
        assert_eq!(tried, addrs, "a request fails over to every address once");
        assert_eq!(u.pick(start, 3), None);
    }

    #[tokio::test]
    async fn a_name_that_does_not_resolve_keeps_what_was_known() {
        let u = upstream("http://guichet-test.invalid:3000");
        assert!(u.resolve().await.is_err());
        assert!(!u.is_resolved());
        let known = SocketAddr::from(([10, 0, 0, 1], 3000));
        u.set_addresses(vec![known]);
        assert!(u.resolve().await.is_err());
        assert_eq!(*u.addresses(), vec![known]);
        let local = upstream("http://localhost:3000");
        let found = local.resolve().await.expect("localhost resolves");
        assert!(found
            .iter()
            .all(|a| a.ip().is_loopback() && a.port() == 3000));
        assert!(local.is_resolved());
        let warning = check_now(&config("http://guichet-test.invalid:3000"));
        assert!(warning.is_some_and(|w| w.contains("guichet-test.invalid")));
        assert_eq!(check_now(&config("http://localhost:3000")), None);
        assert_eq!(check_now(&config("http://127.0.0.1:3000")), None);
    }
}
