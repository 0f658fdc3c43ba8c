//! Prometheus metrics, in a registry of guichet's own (served on the metrics listener,
//! `[metrics] listen`, at `/metrics`). Names follow Prometheus conventions: `guichet_` prefix,
//! counters end in `_total`, durations are histograms in `_seconds`.
//!
//! | metric | labels |
//! |---|---|
//! | `guichet_http_requests_total`, `guichet_http_request_duration_seconds` | `route` ([`route_class`]), `status` |
//! | `guichet_upstream_response_duration_seconds` | `route` |
//! | `guichet_upstream_errors_total` | `kind` (`connect`, `timeout`, `other`) |
//! | `guichet_provider_request_duration_seconds` | `provider`, `call` (`token`, `userinfo`) |
//! | `guichet_logins_started_total` | `provider`, `level` |
//! | `guichet_logins_total` | `provider`, `idp`, `level`, `outcome`, `reason` |
//! | `guichet_claims_dropped_total` | `provider`, `claim` (a claim outside its rule, dropped at a login that went on) |
//! | `guichet_step_ups_total` | `level`, `outcome` (`required`, `success`, `failure`) |
//! | `guichet_logouts_total` | `kind` (`rp_initiated`, `backchannel`) |
//! | `guichet_sessions_expired_total` | `reason` (`idle_timeout`, `absolute_timeout`) |
//! | `guichet_sessions_ended_total` | `reason` (`too_many_sessions`, `store_full`) |
//! | `guichet_store_records_refused_total` | `kind` (`session`, `login_state`, `index_entry`) |
//! | `guichet_active_sessions` | (memory store) |
//! | `guichet_session_store_errors_total`, `guichet_audit_write_errors_total` | |
//! | `guichet_audit_queue_depth` (lines recorded, not written yet; at scrape), `guichet_audit_waits_total` (events that waited for room) | |
//! | `guichet_audit_dropped_total` | `event` (lines lost: the queue stayed full) |
//! | `guichet_upstream_addresses` (addresses the upstream's name resolves to) | |
//! | `guichet_upstream_resolutions_total` | `result` (`success`, `failure`) |
//! | `guichet_upgraded_connections` (open websockets and other upgraded connections with a session; at scrape) | |
//! | `guichet_upgraded_closed_total` | `reason` (`session_ended`, `session_expired`) |
//! | `guichet_jwks_refreshes_total` | `provider`, `result` |
//! | `guichet_providers_ready` | |
//! | `guichet_throttled_requests_total` | `kind` (`login_starts`, `failed_callbacks`), `action` (`delayed`, `refused`) |
//! | `guichet_throttle_blocks_total` | `kind` |
//! | `guichet_throttle_clients` | (addresses tracked) |
//! | `guichet_kept_forms_total` | `outcome` (`kept`, `too_large`, `not_kept`, `not_same_origin`, `replayed`, `gone`, `other_citizen`) |
//! | `guichet_build_info` | `version` |
//!
//! Invariant: every label value comes from a fixed set, from the configuration (provider
//! names), or is capped ([`Metrics::idp_label`]: at most [`MAX_IDP_LABELS`] identity
//! providers, then `other`; provider error codes folded by `Failure::metric_reason`), so a
//! hostile provider or client cannot blow up the number of series
//! (`tests::idp_labels_are_capped`, `tests/ops.rs::metrics_count_logins_by_provider_idp_and_level`).
//!
//! # Design notes, and the tests that guard each rule
//!
//! ## `src/metrics.rs`, `src/audit.rs`, `src/request_id.rs`
//! Prometheus registry of guichet's own, conventional names (the table at the top of
//! `metrics.rs`); the evidence log (one JSON line per event: login, step-up,
//! logout, session expiry, throttling block; time, client IP, provider, `sub`, `idp_id`, level,
//! outcome, reason, request id); request ids. The Grafana dashboard
//! (`dashboards/guichet.json`, made by `dashboards/generate.py`)
//! plots only exported metrics (`metrics::tests::the_dashboard_plots_only_metrics_that_exist`).
//! **Invariants.** Label values are bounded: `idp` capped, provider error codes folded, route
//! classes a fixed set (`metrics::tests::*`); counts by provider, identity provider and level are
//! right after logins and failures (`tests/ops.rs::metrics_count_logins_by_provider_idp_and_level`);
//! no token, secret, name, birth data or e-mail in stderr (even at `debug`: pingora's logging is
//! capped at `info` in `main.rs`) or in the evidence log, and `sub` only in the evidence log
//! (`tests/ops.rs::no_personal_data_or_token_in_any_log`); every event has its line with the
//! request id (same test, `request_ids_reach_the_upstream_and_the_evidence_log`); a dedicated thread
//! writes the lines, in order, each whole and flushed, from a bounded queue; `close` waits for
//! every queued line and syncs the file after the listeners drained
//! (`audit::tests::{lines_keep_their_order_and_close_waits_for_them,
//! a_file_output_is_appended_and_synced_on_close}`,
//! `tests/ops.rs::evidence_lines_survive_a_clean_shutdown`); a stuck output never blocks a
//! request beyond 1 s, refuses logins once the queue is full, and every line not written is
//! counted and reported (`audit::tests::a_stuck_output_drops_and_counts_after_the_wait`,
//! `tests/evidence_log.rs::a_stuck_evidence_log_refuses_logins_and_counts_lost_lines`; policy
//! in docs/operations.md); a client's `X-Request-Id` is only
//! believed from a trusted proxy (`request_id::tests`, `tests/ops.rs::a_trusted_proxy_sets_the_request_id`).
//! **Never**: put a value that comes from a request or a provider into a label without a bound.

use crate::vocab::Access;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};
use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

/// Distinct `idp` label values kept before new ones are reported as `other`.
pub const MAX_IDP_LABELS: usize = 64;

/// The `idp` label when the provider did not say which identity provider was used.
pub const UNKNOWN: &str = "unknown";

/// Buckets for request durations (seconds): 0.5 ms to 10 s.
const REQUEST_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Buckets for calls to a provider (seconds): 5 ms to 30 s.
const PROVIDER_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub request_duration: HistogramVec,
    pub upstream_duration: HistogramVec,
    pub upstream_errors: IntCounterVec,
    pub provider_duration: HistogramVec,
    pub logins_started: IntCounterVec,
    pub logins: IntCounterVec,
    /// Claims outside their rule dropped at a login that went on (optional or not forwarded).
    pub claims_dropped: IntCounterVec,
    pub step_ups: IntCounterVec,
    pub logouts: IntCounterVec,
    pub sessions_expired: IntCounterVec,
    pub sessions_ended: IntCounterVec,
    pub records_refused: IntCounterVec,
    pub active_sessions: IntGauge,
    pub store_errors: IntCounter,
    pub audit_write_errors: IntCounter,
    pub audit_queue_depth: IntGauge,
    pub audit_waits: IntCounter,
    pub audit_dropped: IntCounterVec,
    pub upstream_addresses: IntGauge,
    pub upstream_resolutions: IntCounterVec,
    pub upgraded_connections: IntGauge,
    pub upgraded_closed: IntCounterVec,
    pub jwks_refreshes: IntCounterVec,
    pub providers_ready: IntGauge,
    pub throttled: IntCounterVec,
    pub throttle_blocks: IntCounterVec,
    pub throttle_clients: IntGauge,
    pub kept_forms: IntCounterVec,
    idps: Mutex<HashSet<String>>,
    /// Per-request series, resolved once per label pair on first use (not per request, and
    /// not before: a series appears in `/metrics` once it has been used, as before).
    hot: Hot,
}

/// The series every proxied request touches, indexed by ([`ROUTE_CLASSES`], [`STATUS_LABELS`]).
struct Hot {
    requests: Box<[OnceLock<(IntCounter, Histogram)>]>,
    upstream: Box<[OnceLock<Histogram>]>,
}

impl Hot {
    fn new() -> Hot {
        Hot {
            requests: (0..ROUTE_CLASSES.len() * STATUS_LABELS.len())
                .map(|_| OnceLock::new())
                .collect(),
            upstream: (0..ROUTE_CLASSES.len()).map(|_| OnceLock::new()).collect(),
        }
    }
}

/// Registers a collector. Names, help texts and labels are constants, so a failure here is a
/// programming error caught by the first test run, not a runtime condition.
fn register<C: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    made: prometheus::Result<C>,
) -> C {
    let c = made.unwrap_or_else(|e| panic!("malformed metric: {e}"));
    registry
        .register(Box::new(c.clone()))
        .unwrap_or_else(|e| panic!("metric registered twice: {e}"));
    c
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    register(registry, IntCounterVec::new(Opts::new(name, help), labels))
}

fn counter1(registry: &Registry, name: &str, help: &str) -> IntCounter {
    register(registry, IntCounter::new(name, help))
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    register(registry, IntGauge::new(name, help))
}

fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> HistogramVec {
    register(
        registry,
        HistogramVec::new(
            HistogramOpts::new(name, help).buckets(buckets.to_vec()),
            labels,
        ),
    )
}

/// Every value the `status` label takes.
pub const STATUS_LABELS: &[&str] = &[
    "2xx", "3xx", "400", "401", "403", "404", "429", "4xx", "502", "503", "5xx", "other",
];

/// Index in [`STATUS_LABELS`] of a response status.
fn status_index(status: u16) -> usize {
    match status {
        200..=299 => 0,
        300..=399 => 1,
        400 => 2,
        401 => 3,
        403 => 4,
        404 => 5,
        429 => 6,
        402 | 405..=428 | 430..=499 => 7,
        502 => 8,
        503 => 9,
        500 | 501 | 504..=599 => 10,
        _ => 11,
    }
}

/// The `status` label of a response: the codes guichet itself produces, classes otherwise.
pub fn status_label(status: u16) -> &'static str {
    STATUS_LABELS[status_index(status)]
}

/// The `route` label of a request: the class of the route it went to (`browser`, `api`,
/// `public`), or which of guichet's own paths answered it. A fixed set, so the label is bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteClass {
    Browser,
    Api,
    Public,
    Health,
    Login,
    Callback,
    Logout,
    LoggedOut,
    BackchannelLogout,
    Session,
    Jwks,
    OwnOther,
    /// A request refused before the gateway saw it (the HTTP edge).
    Own,
}

impl RouteClass {
    /// Every class, in the order of [`ROUTE_CLASSES`].
    pub const ALL: [RouteClass; 13] = [
        RouteClass::Browser,
        RouteClass::Api,
        RouteClass::Public,
        RouteClass::Health,
        RouteClass::Login,
        RouteClass::Callback,
        RouteClass::Logout,
        RouteClass::LoggedOut,
        RouteClass::BackchannelLogout,
        RouteClass::Session,
        RouteClass::Jwks,
        RouteClass::OwnOther,
        RouteClass::Own,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        ROUTE_CLASSES[self as usize]
    }
}

impl From<Access> for RouteClass {
    fn from(access: Access) -> RouteClass {
        match access {
            Access::Browser => RouteClass::Browser,
            Access::Api => RouteClass::Api,
            Access::Public => RouteClass::Public,
        }
    }
}

impl PartialEq<&str> for RouteClass {
    fn eq(&self, other: &&str) -> bool {
        self.label() == *other
    }
}

/// The `route` label of one of guichet's own paths (the part after the prefix).
pub fn own_route_label(leaf: &str) -> RouteClass {
    match leaf {
        "login" => RouteClass::Login,
        "callback" => RouteClass::Callback,
        l if l.starts_with("callback/") => RouteClass::Callback,
        "logout" => RouteClass::Logout,
        "logged-out" => RouteClass::LoggedOut,
        "backchannel-logout" => RouteClass::BackchannelLogout,
        "session" => RouteClass::Session,
        "jwks.json" => RouteClass::Jwks,
        _ => RouteClass::OwnOther,
    }
}

/// Every value the `route` label takes, indexed by [`RouteClass`].
pub const ROUTE_CLASSES: &[&str] = &[
    "browser",
    "api",
    "public",
    "health",
    "login",
    "callback",
    "logout",
    "logged_out",
    "backchannel_logout",
    "session",
    "jwks",
    "own_other",
    "own",
];

/// `route` label of a request path, for the requests guichet answers itself.
pub fn route_class(
    prefix: &str,
    path: &str,
    policy_class: impl FnOnce() -> RouteClass,
) -> RouteClass {
    if let Some(leaf) = path.strip_prefix(prefix) {
        if leaf.is_empty() || leaf.starts_with('/') {
            return own_route_label(leaf.trim_start_matches('/'));
        }
    }
    match path {
        "/healthz" | "/readyz" => RouteClass::Health,
        _ => policy_class(),
    }
}

impl Metrics {
    /// Builds and registers every metric.
    pub fn new() -> Metrics {
        let r = Registry::new();
        let info = register(
            &r,
            prometheus::IntGaugeVec::new(
                Opts::new(
                    "guichet_build_info",
                    "Always 1; the running version is in the label.",
                ),
                &["version"],
            ),
        );
        info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        Metrics {
            requests: counter(
                &r,
                "guichet_http_requests_total",
                "Requests answered, by route class and status.",
                &["route", "status"],
            ),
            request_duration: histogram(
                &r,
                "guichet_http_request_duration_seconds",
                "Time from request to end of response, by route class and status.",
                &["route", "status"],
                REQUEST_BUCKETS,
            ),
            upstream_duration: histogram(
                &r,
                "guichet_upstream_response_duration_seconds",
                "Time from sending a request to the application to its response header, by route class.",
                &["route"],
                REQUEST_BUCKETS,
            ),
            upstream_errors: counter(
                &r,
                "guichet_upstream_errors_total",
                "Requests that failed to reach the application, by kind (connect, timeout, other).",
                &["kind"],
            ),
            provider_duration: histogram(
                &r,
                "guichet_provider_request_duration_seconds",
                "Calls to a provider during a login (token, userinfo), by provider and call.",
                &["provider", "call"],
                PROVIDER_BUCKETS,
            ),
            logins_started: counter(
                &r,
                "guichet_logins_started_total",
                "Redirects to a provider's login, by provider and level asked.",
                &["provider", "level"],
            ),
            logins: counter(
                &r,
                "guichet_logins_total",
                "Completed login callbacks, by provider, identity provider, eIDAS level, outcome and reason.",
                &["provider", "idp", "level", "outcome", "reason"],
            ),
            claims_dropped: counter(
                &r,
                "guichet_claims_dropped_total",
                "Claims whose value failed its rule and that were dropped at a login that went on (optional, or not forwarded), by provider and claim.",
                &["provider", "claim"],
            ),
            step_ups: counter(
                &r,
                "guichet_step_ups_total",
                "Step-ups: sessions sent to log in again at a higher level (required), and how those logins ended.",
                &["level", "outcome"],
            ),
            logouts: counter(
                &r,
                "guichet_logouts_total",
                "Logouts, by kind (rp_initiated, backchannel).",
                &["kind"],
            ),
            sessions_expired: counter(
                &r,
                "guichet_sessions_expired_total",
                "Sessions found expired and deleted, by reason.",
                &["reason"],
            ),
            sessions_ended: counter(
                &r,
                "guichet_sessions_ended_total",
                "Sessions the store ended to make room: a citizen's oldest past \
                 max_sessions_per_citizen (too_many_sessions), the memory store full (store_full).",
                &["reason"],
            ),
            records_refused: counter(
                &r,
                "guichet_store_records_refused_total",
                "Sealed records read from Redis that did not open (altered, moved, or sealed \
                 with a key this replica lacks), by kind.",
                &["kind"],
            ),
            active_sessions: gauge(
                &r,
                "guichet_active_sessions",
                "Sessions held by the store (memory store; updated at scrape).",
            ),
            store_errors: counter1(
                &r,
                "guichet_session_store_errors_total",
                "Session store operations that failed (requests then fail closed).",
            ),
            audit_write_errors: counter1(
                &r,
                "guichet_audit_write_errors_total",
                "Evidence log lines that could not be written.",
            ),
            audit_queue_depth: gauge(
                &r,
                "guichet_audit_queue_depth",
                "Evidence log lines recorded and not written yet (updated at scrape).",
            ),
            audit_waits: counter1(
                &r,
                "guichet_audit_waits_total",
                "Evidence log events that found the writer's queue full and waited for room.",
            ),
            audit_dropped: counter(
                &r,
                "guichet_audit_dropped_total",
                "Evidence log lines lost because the writer's queue stayed full (a login is refused instead), by event.",
                &["event"],
            ),
            upstream_addresses: gauge(
                &r,
                "guichet_upstream_addresses",
                "Addresses of the application in use (what its name resolved to last).",
            ),
            upstream_resolutions: counter(
                &r,
                "guichet_upstream_resolutions_total",
                "Resolutions of the application's host name, by result.",
                &["result"],
            ),
            upgraded_connections: gauge(
                &r,
                "guichet_upgraded_connections",
                "Open upgraded connections (websockets) carrying a session (updated at scrape).",
            ),
            upgraded_closed: counter(
                &r,
                "guichet_upgraded_closed_total",
                "Sessions whose upgraded connections guichet closed, by reason.",
                &["reason"],
            ),
            jwks_refreshes: counter(
                &r,
                "guichet_jwks_refreshes_total",
                "JWKS downloads, by provider and result.",
                &["provider", "result"],
            ),
            providers_ready: gauge(
                &r,
                "guichet_providers_ready",
                "Providers whose metadata and keys are loaded.",
            ),
            throttled: counter(
                &r,
                "guichet_throttled_requests_total",
                "Login starts and callbacks delayed or refused (429) by throttling, by kind and action.",
                &["kind", "action"],
            ),
            throttle_blocks: counter(
                &r,
                "guichet_throttle_blocks_total",
                "Client addresses blocked by throttling, by the kind of request that went over the limit.",
                &["kind"],
            ),
            throttle_clients: gauge(
                &r,
                "guichet_throttle_clients",
                "Client addresses the throttling currently tracks (updated at scrape).",
            ),
            kept_forms: counter(
                &r,
                "guichet_kept_forms_total",
                "Forms posted without a session (preserve_post): kept across the login or not, and how their replay ended.",
                &["outcome"],
            ),
            registry: r,
            idps: Mutex::new(HashSet::new()),
            hot: Hot::new(),
        }
    }

    /// Counts one answered request and its duration, by route class and status
    /// (`guichet_http_requests_total`, `guichet_http_request_duration_seconds`).
    pub fn observe_request(&self, class: RouteClass, status: u16, seconds: f64) {
        let s = status_index(status);
        let r = class as usize;
        let (count, duration) = self.hot.requests[r * STATUS_LABELS.len() + s].get_or_init(|| {
            let labels = [class.label(), STATUS_LABELS[s]];
            (
                self.requests.with_label_values(&labels),
                self.request_duration.with_label_values(&labels),
            )
        });
        count.inc();
        duration.observe(seconds);
    }

    /// The application's latency for one request, by route class
    /// (`guichet_upstream_response_duration_seconds`).
    pub fn observe_upstream(&self, class: RouteClass, seconds: f64) {
        self.hot.upstream[class as usize]
            .get_or_init(|| self.upstream_duration.with_label_values(&[class.label()]))
            .observe(seconds)
    }

    /// The `idp` label for an identity provider id: itself while fewer than
    /// [`MAX_IDP_LABELS`] distinct values were seen, `other` after that; [`UNKNOWN`] when the
    /// provider does not say.
    pub fn idp_label(&self, idp: Option<&str>) -> String {
        let Some(idp) = idp else {
            return UNKNOWN.into();
        };
        let mut seen = self.idps.lock().unwrap_or_else(|p| p.into_inner());
        if seen.contains(idp) {
            return idp.to_string();
        }
        if seen.len() < MAX_IDP_LABELS {
            seen.insert(idp.to_string());
            return idp.to_string();
        }
        "other".into()
    }

    /// Text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let encoder = TextEncoder::new();
        if let Err(e) = encoder.encode(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idp_labels_are_capped() {
        let m = Metrics::new();
        for i in 0..MAX_IDP_LABELS {
            assert_eq!(m.idp_label(Some(&format!("idp{i}"))), format!("idp{i}"));
        }
        assert_eq!(m.idp_label(Some("one-too-many")), "other");
        assert_eq!(m.idp_label(Some("idp3")), "idp3");
        assert_eq!(m.idp_label(None), "unknown");
    }

    #[test]
    fn renders_registered_metrics_with_conventional_names() {
        let m = Metrics::new();
        m.logins
            .with_label_values(&["fc", "unknown", "eidas1", "success", "ok"])
            .inc();
        m.request_duration
            .with_label_values(&["browser", "2xx"])
            .observe(0.01);
        let text = m.render();
        assert!(text.contains("guichet_logins_total{"));
        assert!(text.contains("outcome=\"success\""));
        assert!(text.contains("guichet_build_info{version=\""));
        for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            let mut parts = line.split(' ').skip(2);
            let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
            assert!(name.starts_with("guichet_"), "{line}");
            match kind {
                "counter" => assert!(name.ends_with("_total"), "{line}"),
                "histogram" => assert!(name.ends_with("_seconds"), "{line}"),
                _ => assert!(!name.ends_with("_total"), "{line}"),
            }
        }
    }

    #[test]
    fn resolved_series_are_the_labelled_ones() {
        let m = Metrics::new();
        m.observe_request(RouteClass::Browser, 200, 0.001);
        m.observe_request(RouteClass::Browser, 204, 0.001);
        m.observe_request(RouteClass::Api, 401, 0.001);
        m.observe_request(RouteClass::Own, 418, 0.001);
        m.observe_upstream(RouteClass::Browser, 0.001);
        assert_eq!(m.requests.with_label_values(&["browser", "2xx"]).get(), 2);
        assert_eq!(m.requests.with_label_values(&["api", "401"]).get(), 1);
        assert_eq!(m.requests.with_label_values(&["own", "4xx"]).get(), 1);
        let h = m.upstream_duration.with_label_values(&["browser"]);
        assert_eq!(h.get_sample_count(), 1);
        // Series not used yet are not exported.
        assert!(!m.render().contains("route=\"public\""));
        for s in [
            100, 200, 302, 400, 401, 402, 403, 404, 429, 499, 500, 502, 503, 599, 700,
        ] {
            assert!(STATUS_LABELS.contains(&status_label(s)));
        }
    }

    #[test]
    fn route_labels_are_a_fixed_set() {
        let public = || RouteClass::Public;
        assert_eq!(route_class("/.guichet", "/.guichet/login", public), "login");
        assert_eq!(
            route_class("/.guichet", "/.guichet/x%00y", public),
            "own_other"
        );
        assert_eq!(route_class("/.guichet", "/.guichetx", public), "public");
        assert_eq!(route_class("/.guichet", "/healthz", public), "health");
        for leaf in [
            "login",
            "callback",
            "logout",
            "logged-out",
            "backchannel-logout",
            "session",
            "jwks.json",
            "zzz",
        ] {
            assert!(ROUTE_CLASSES.contains(&own_route_label(leaf).label()));
        }
        for (i, c) in RouteClass::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i);
        }
        assert_eq!(RouteClass::ALL.len(), ROUTE_CLASSES.len());
    }
}
