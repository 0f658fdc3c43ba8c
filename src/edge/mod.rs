//! The HTTP edge: what a request head must be before the gateway judges it, so that what
//! guichet judges is exactly what the upstream receives.
//!
//! [`Edge::admit`] runs first in `proxy::request_filter`, on pingora's raw request head:
//! 1. the bounds of [`RequestLimits`] (header lines and bytes, one well-formed `Host`);
//! 2. the request-target ([`target`]): origin-form with a canonical path ([`path`]),
//!    absolute-form (rewritten to origin-form), or `OPTIONS *` (answered here); anything else
//!    is a 400 page;
//! 3. the host it names ([`host`]: the absolute-form authority, else `Host`, else HTTP/2's
//!    `:authority`): the public host passes, an alias of `[server] host_aliases` is
//!    redirected (308) to the same path on the public URL, any other host gets a 421 page.
//!    The probe paths `/healthz` and `/readyz` skip this step (Kubernetes calls them with
//!    the pod's address).
//!
//! What passes is an origin-form target whose path is canonical; when it differs from the
//! bytes received, [`Edge::admit`] returns the target to forward instead, and the proxy
//! replaces the request's target with it before anything else reads the request. From then
//! on the path the gateway routes and judges, the path logged and the path the upstream
//! receives are the same bytes.
//!
//! Invariants (tests in each submodule, `tests/request_target.rs`, `tests/fuzz.rs`):
//! - Nothing that is not origin-form with a canonical path reaches the gateway.
//! - A refusal here never reaches the gateway or the upstream, and is a page, not a reset.
//!
//! # Design notes, and the tests that guard each rule
//!
//! ## `src/edge/`
//! The HTTP edge (`mod.rs`: `Edge::admit`, run first on pingora's raw head):
//! `target.rs` (the raw request-target's form),
//! `path.rs` (the canonical path, `normalize_path`),
//! `host.rs` (public host, `[server] host_aliases`, 421). The decisions, form
//! by form, are in docs/security.md.
//!
//! **Invariants** (issue 14).
//! - The path routed, judged and logged is byte for byte the path the upstream receives:
//!   only origin-form targets with a canonical path reach the gateway, the proxy replaces the
//!   target with its canonical form before anything reads it, and the gateway refuses a path
//!   that is not canonical (`edge::tests::*`, `edge::target::tests::*`,
//!   `tests/request_target.rs::raw_request_lines_of_every_form_never_bypass_a_route`, which
//!   fails on the pre-issue-14 code with `GET renforce/`).
//! - No route's `access`, `min_level` or claim profile can be bypassed by the spelling of a
//!   target, under any reading by an upstream (decoded once or twice, `;` dropped, trailing dots
//!   trimmed, backslashes, case folded, Werkzeug's `lstrip`), with or without a session, at
//!   eIDAS 1 to 3 (`tests/request_target.rs::*`,
//!   `fuzz::raw_request_lines_are_judged_as_they_are_forwarded`).
//! - Forms some upstreams trim or fold are refused, equivalent spellings forwarded canonical
//!   (`edge::path::tests::ambiguous_paths_are_refused`,
//!   `equivalent_spellings_become_one_canonical_path`,
//!   `the_canonical_form_is_its_own_canonical_form`); plain paths cost one scan and no
//!   allocation (`plain_paths_are_borrowed_as_they_are`).
//! - A host other than the public one or an alias gets 421, an alias a redirect to the public
//!   URL, the probes any host (`edge::tests::*`, `edge::host::tests::*`,
//!   `tests/hostile_client.rs::host_header_games_never_shape_guichet_s_urls`,
//!   `tests/cli.rs::demo_runs_with_no_setup_and_a_script_can_log_in` for `localhost`).
//!
//! **Never**: read `session.req_header().uri` for a decision; forward a target the gateway did
//! not see.

pub mod host;
pub mod path;
pub mod target;

use crate::config::ServerConfig;
use crate::limits::{self, RequestLimits};
use crate::pages::Failure;
use crate::web::Reply;
use host::{HostMatch, Hosts};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode, Version};
use target::{Target, TargetError};

/// Why the edge refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{0}")]
    Limits(#[from] limits::Refusal),
    #[error("{0}")]
    Target(#[from] TargetError),
    #[error("the request names a host that is neither the public host nor an alias")]
    Misdirected,
}

impl Refusal {
    pub fn failure(self) -> Failure {
        match self {
            Refusal::Limits(r) => r.failure(),
            Refusal::Target(_) => Failure::InvalidRequest("target"),
            Refusal::Misdirected => Failure::Misdirected,
        }
    }
}

/// A request the edge does not let through.
#[derive(Debug)]
pub enum Stop {
    /// Refused: a page with the refusal's status.
    Refused(Refusal),
    /// Answered here: the redirect from an alias to the public URL, or `OPTIONS *`.
    Answer(Reply),
}

/// The parts of a request head the edge reads.
#[derive(Debug, Clone, Copy)]
pub struct Head<'a> {
    pub method: &'a Method,
    pub version: Version,
    /// The request-target exactly as received.
    pub target: &'a [u8],
    pub headers: &'a HeaderMap,
    /// HTTP/2's `:authority` (pingora keeps it in the `Uri`).
    pub authority: Option<&'a str>,
}

/// The edge's settings, from `[server]`.
#[derive(Debug, Clone)]
pub struct Edge {
    limits: RequestLimits,
    hosts: Hosts,
    public_url: String,
}

/// Paths Kubernetes probes with the pod's address as `Host`.
const PROBES: &[&str] = &["/healthz", "/readyz"];

impl Edge {
    pub fn new(server: &ServerConfig) -> Edge {
        Edge {
            limits: RequestLimits::new(server),
            hosts: Hosts::new(&server.public_url, &server.host_aliases),
            public_url: server.public_url.clone(),
        }
    }

    /// Checks a request head. `Ok(None)`: forward the target as received (it is origin-form
    /// and canonical); `Ok(Some(t))`: replace the target with `t` first.
    pub fn admit(&self, head: Head<'_>) -> Result<Option<String>, Stop> {
        self.limits
            .check(head.version, head.headers)
            .map_err(|r| Stop::Refused(r.into()))?;
        let target = target::parse(head.method, head.target)
            .map_err(|e| Stop::Refused(Refusal::Target(e)))?;
        let (target_authority, probe) = match &target {
            Target::Path {
                authority, path, ..
            } => (*authority, PROBES.contains(&path.as_ref())),
            Target::Asterisk => (None, false),
        };
        if !probe {
            // An absolute-form target's authority wins over `Host` (RFC 9112 3.2.2).
            let authority = target_authority
                .map(str::as_bytes)
                .or_else(|| head.headers.get(header::HOST).map(HeaderValue::as_bytes))
                .or_else(|| head.authority.map(str::as_bytes));
            match self.hosts.judge(authority) {
                HostMatch::Public => {}
                HostMatch::Other => return Err(Stop::Refused(Refusal::Misdirected)),
                HostMatch::Alias => {
                    let Target::Path { path, query, .. } = &target else {
                        return Err(Stop::Answer(asterisk()));
                    };
                    return Err(Stop::Answer(self.to_public_url(path, *query)));
                }
            }
        }
        match target {
            Target::Asterisk => Err(Stop::Answer(asterisk())),
            t => Ok(t.rewrite()),
        }
    }

    /// 308 to the same path and query on the public URL (the method and body are kept).
    fn to_public_url(&self, path: &str, query: Option<&str>) -> Reply {
        let location = match query {
            Some(q) => format!("{}{path}?{q}", self.public_url),
            None => format!("{}{path}", self.public_url),
        };
        let mut r = Reply::new(StatusCode::PERMANENT_REDIRECT);
        // Public URL, canonical path and query are printable ASCII: always a valid value.
        if let Ok(v) = HeaderValue::try_from(location) {
            r = r.header(header::LOCATION, v);
        }
        r.header(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
    }
}

/// `OPTIONS *` asks about the server as a whole: guichet answers it, with nothing to add.
fn asterisk() -> Reply {
    Reply::new(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::HeaderName;

    fn edge() -> Edge {
        Edge {
            limits: RequestLimits {
                max_headers: 20,
                max_header_bytes: 4096,
            },
            hosts: Hosts::new("https://demarches.example.fr", &["localhost".into()]),
            public_url: "https://demarches.example.fr".into(),
        }
    }

    fn admit(method: &str, target: &str, host: Option<&str>) -> Result<Option<String>, Stop> {
        let mut headers = HeaderMap::new();
        if let Some(h) = host {
            headers.insert(
                HeaderName::from_static("host"),
                HeaderValue::from_str(h).unwrap(),
            );
        }
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        edge().admit(Head {
            method: &method,
            version: Version::HTTP_11,
            target: target.as_bytes(),
            headers: &headers,
            authority: None,
        })
    }

    fn refused(r: Result<Option<String>, Stop>) -> Refusal {
        match r {
            Err(Stop::Refused(why)) => why,
            other => panic!("not refused: {other:?}"),
        }
    }

    fn answered(r: Result<Option<String>, Stop>) -> Reply {
        match r {
            Err(Stop::Answer(reply)) => reply,
            other => panic!("not answered: {other:?}"),
        }
    }

    const PUBLIC: Option<&str> = Some("demarches.example.fr");

    #[test]
    fn origin_form_on_the_public_host_passes_as_it_is_or_canonical() {
        assert_eq!(admit("GET", "/a?b=1", PUBLIC).unwrap(), None);
        assert_eq!(
            admit("GET", "//%61dmin?b=1", PUBLIC).unwrap().as_deref(),
            Some("/admin?b=1")
        );
        assert_eq!(
            admit("GET", "http://demarches.example.fr/x", Some("other"))
                .unwrap()
                .as_deref(),
            Some("/x"),
            "the absolute-form authority wins over Host"
        );
    }

    #[test]
    fn other_forms_and_hosts_are_refused_with_their_status() {
        for (target, host) in [
            ("renforce/", PUBLIC),
            ("a:b/x", PUBLIC),
            ("demarches.example.fr:443", PUBLIC),
            ("*", PUBLIC),
            ("/a;b", PUBLIC),
        ] {
            let why = refused(admit("GET", target, host));
            assert_eq!(why.failure().status(), StatusCode::BAD_REQUEST, "{target}");
        }
        for (target, host) in [
            ("/x", Some("evil.example")),
            ("http://evil.example/x", PUBLIC),
            ("/x", Some("10.1.2.3:8080")),
        ] {
            let why = refused(admit("GET", target, host));
            assert_eq!(why, Refusal::Misdirected, "{target} {host:?}");
            assert_eq!(why.failure().status(), StatusCode::MISDIRECTED_REQUEST);
        }
        assert!(matches!(
            refused(admit("GET", "/x", None)),
            Refusal::Limits(limits::Refusal::NoHost)
        ));
    }

    #[test]
    fn probes_answer_any_host() {
        assert_eq!(
            admit("GET", "/healthz", Some("10.1.2.3:8080")).unwrap(),
            None
        );
        assert_eq!(admit("GET", "/readyz", Some("10.1.2.3")).unwrap(), None);
        assert_eq!(
            refused(admit("GET", "/readyz/x", Some("10.1.2.3"))),
            Refusal::Misdirected
        );
    }

    #[test]
    fn aliases_are_redirected_to_the_public_url() {
        let r = answered(admit("POST", "/a/b?x=1", Some("localhost:8080")));
        assert_eq!(r.status, StatusCode::PERMANENT_REDIRECT);
        assert_eq!(
            r.header_value(&header::LOCATION),
            Some("https://demarches.example.fr/a/b?x=1")
        );
        let r = answered(admit("GET", "http://LOCALHOST/%61", PUBLIC));
        assert_eq!(
            r.header_value(&header::LOCATION),
            Some("https://demarches.example.fr/a")
        );
    }

    #[test]
    fn options_asterisk_is_answered_here() {
        let r = answered(admit("OPTIONS", "*", PUBLIC));
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert_eq!(
            refused(admit("OPTIONS", "*", Some("evil.example"))),
            Refusal::Misdirected
        );
    }
}
