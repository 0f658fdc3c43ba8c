//! Prometheus metrics, in a registry of guichet's own (served on the metrics listener).
//!
//! Invariant: every label value comes from a fixed set or is capped ([`Metrics::idp_label`]),
//! so a hostile provider or client cannot blow up the number of series.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};
use std::collections::HashSet;
use std::sync::Mutex;

/// Distinct `idp` label values kept before new ones are reported as `other`.
const MAX_IDP_LABELS: usize = 64;

pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub request_duration: HistogramVec,
    pub upstream_errors: IntCounter,
    pub logins_started: IntCounterVec,
    pub logins: IntCounterVec,
    pub logouts: IntCounterVec,
    pub sessions_expired: IntCounterVec,
    pub active_sessions: IntGauge,
    pub store_errors: IntCounter,
    pub jwks_refreshes: IntCounterVec,
    pub providers_ready: IntGauge,
    idps: Mutex<HashSet<String>>,
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

impl Metrics {
    /// Builds and registers every metric.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests = counter(
            &registry,
            "guichet_http_requests_total",
            "Requests answered, by route class and status code.",
            &["route", "status"],
        );
        let request_duration = register(
            &registry,
            HistogramVec::new(
                HistogramOpts::new(
                    "guichet_http_request_duration_seconds",
                    "Time from request to end of response, by route class.",
                )
                .buckets(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0,
                ]),
                &["route"],
            ),
        );
        let upstream_errors = register(
            &registry,
            IntCounter::new(
                "guichet_upstream_errors_total",
                "Requests that failed to reach the upstream.",
            ),
        );
        let logins_started = counter(
            &registry,
            "guichet_logins_started_total",
            "Redirects to a provider's login, by provider.",
            &["provider"],
        );
        let logins = counter(
            &registry,
            "guichet_logins_total",
            "Completed login callbacks, by provider, identity provider, eIDAS level, outcome and reason.",
            &["provider", "idp", "level", "outcome", "reason"],
        );
        let logouts = counter(
            &registry,
            "guichet_logouts_total",
            "Logouts, by kind (rp_initiated, backchannel).",
            &["kind"],
        );
        let sessions_expired = counter(
            &registry,
            "guichet_sessions_expired_total",
            "Sessions found expired and deleted, by reason.",
            &["reason"],
        );
        let active_sessions = register(
            &registry,
            IntGauge::new(
                "guichet_active_sessions",
                "Sessions held by the store (memory store; updated at scrape).",
            ),
        );
        let store_errors = register(
            &registry,
            IntCounter::new(
                "guichet_session_store_errors_total",
                "Session store operations that failed (requests then fail closed).",
            ),
        );
        let jwks_refreshes = counter(
            &registry,
            "guichet_jwks_refreshes_total",
            "JWKS downloads, by provider and result.",
            &["provider", "result"],
        );
        let providers_ready = register(
            &registry,
            IntGauge::new(
                "guichet_providers_ready",
                "Providers whose metadata and keys are loaded.",
            ),
        );
        Metrics {
            registry,
            requests,
            request_duration,
            upstream_errors,
            logins_started,
            logins,
            logouts,
            sessions_expired,
            active_sessions,
            store_errors,
            jwks_refreshes,
            providers_ready,
            idps: Mutex::new(HashSet::new()),
        }
    }

    /// The `idp` label for an identity provider id: itself while fewer than
    /// [`MAX_IDP_LABELS`] distinct values were seen, `other` after that.
    pub fn idp_label(&self, idp: Option<&str>) -> String {
        let Some(idp) = idp else { return "none".into() };
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
        assert_eq!(m.idp_label(None), "none");
    }

    #[test]
    fn renders_registered_metrics() {
        let m = Metrics::new();
        m.logins
            .with_label_values(&["fc", "none", "eidas1", "success", "ok"])
            .inc();
        let text = m.render();
        assert!(text.contains("guichet_logins_total{"));
        assert!(text.contains("outcome=\"success\""));
    }
}
