//! What a client request must look like before anything else reads it: a bounded number of
//! header lines, a bounded number of header bytes (huge cookies included), and exactly one
//! well-formed `Host` on HTTP/1.1 (RFC 9112 3.2: `host[:port]`, nothing else). pingora already
//! refuses more than 256 lines or 1 MiB of headers, several `Host` lines, a `Host` with
//! userinfo, and an absolute-form target naming another host than `Host` (a bare 400); these
//! checks are guichet's own, tighter and configurable (`[server] max_request_headers`,
//! `max_request_header_bytes`), and end on a page.
//!
//! guichet never builds a URL from `Host`: its redirects are relative or start with
//! `server.public_url`, and the forwarding headers it sets name the public host.
//!
//! Invariants:
//! - A request over a bound is answered 431 and never reaches the gateway or the upstream
//!   (`tests/hostile_client.rs::huge_cookies_and_many_headers_get_a_431_page`).
//! - Nothing here allocates or depends on header contents beyond their length: the check is
//!   one pass over the header map.
//!
//! # Design notes, and the tests that guard each rule
//!
//! ## `src/limits.rs`
//! What a request head must be before anything reads it: at most `[server] max_request_headers`
//! lines (100) and `max_request_header_bytes` (32 KiB, cookies included), exactly one `Host` that
//! is `host[:port]` on HTTP/1.1. `Edge::admit` checks it first; a refusal is
//! a 431 (or 400) page and a log line.
//!
//! **Invariants.** Oversized heads never reach the gateway or the upstream and leave nothing stuck
//! (`tests/hostile_client.rs::huge_cookies_and_many_headers_get_a_431_page`); guichet never builds a
//! URL from `Host`: redirects are relative or under `server.public_url`, forwarding headers name
//! the public host (`tests/hostile_client.rs::host_header_games_never_shape_guichet_s_urls`,
//! `limits::tests::*`, `fuzz::host_values_are_authorities_only`).

use crate::authority::is_authority;
use crate::config::ServerConfig;
use crate::pages::Failure;
use http::{HeaderMap, Version};

/// Why a request was refused before anything read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{0} header lines, more than allowed")]
    TooManyHeaders(usize),
    #[error("{0} bytes of headers, more than allowed")]
    HeadersTooLarge(usize),
    #[error("HTTP/1.1 request without Host")]
    NoHost,
    #[error("Host is not host[:port], or given twice")]
    BadHost,
}

impl Refusal {
    pub fn failure(self) -> Failure {
        match self {
            Refusal::TooManyHeaders(_) | Refusal::HeadersTooLarge(_) => Failure::HeadersTooLarge,
            Refusal::NoHost | Refusal::BadHost => Failure::InvalidRequest("host"),
        }
    }
}

/// The bounds, from `[server]`.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    pub max_headers: usize,
    pub max_header_bytes: usize,
}

impl RequestLimits {
    pub fn new(server: &ServerConfig) -> RequestLimits {
        RequestLimits {
            max_headers: server.max_request_headers,
            max_header_bytes: server.max_request_header_bytes,
        }
    }

    /// Checks one request head. Header bytes are counted as on the wire: name, `: `, value,
    /// CRLF.
    pub fn check(&self, version: Version, headers: &HeaderMap) -> Result<(), Refusal> {
        let lines = headers.len();
        if lines > self.max_headers {
            return Err(Refusal::TooManyHeaders(lines));
        }
        let bytes: usize = headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum();
        if bytes > self.max_header_bytes {
            return Err(Refusal::HeadersTooLarge(bytes));
        }
        let mut hosts = headers.get_all(http::header::HOST).iter();
        match (hosts.next(), hosts.next()) {
            // HTTP/2 carries the host in `:authority`; HTTP/1.0 may omit it.
            (None, _) if version == Version::HTTP_11 => Err(Refusal::NoHost),
            (None, _) => Ok(()),
            (Some(host), None) if is_authority(host.as_bytes()) => Ok(()),
            _ => Err(Refusal::BadHost),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{HeaderName, HeaderValue};

    fn limits() -> RequestLimits {
        RequestLimits {
            max_headers: 10,
            max_header_bytes: 100,
        }
    }

    fn with(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn bounds_on_lines_bytes_and_host() {
        let l = limits();
        let ok = with(&[("host", "a.example"), ("cookie", "x=1")]);
        assert_eq!(l.check(Version::HTTP_11, &ok), Ok(()));
        let many: Vec<(String, String)> = (0..11)
            .map(|i| (format!("x-h{i}"), "v".to_string()))
            .collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            l.check(Version::HTTP_11, &with(&many)),
            Err(Refusal::TooManyHeaders(11))
        );
        // Repeated lines count one by one.
        let repeated = vec![("cookie", "a=1"); 11];
        assert!(l.check(Version::HTTP_11, &with(&repeated)).is_err());
        let big = "b".repeat(100);
        assert_eq!(
            l.check(Version::HTTP_11, &with(&[("host", "a"), ("cookie", &big)])),
            Err(Refusal::HeadersTooLarge(4 + 1 + 4 + 6 + 100 + 4))
        );
        assert_eq!(
            l.check(Version::HTTP_11, &with(&[("cookie", "x=1")])),
            Err(Refusal::NoHost)
        );
        assert_eq!(
            l.check(Version::HTTP_11, &with(&[("host", "a"), ("host", "b")])),
            Err(Refusal::BadHost)
        );
        assert_eq!(
            l.check(Version::HTTP_10, &with(&[("host", "a b")])),
            Err(Refusal::BadHost)
        );
        assert_eq!(
            l.check(Version::HTTP_10, &with(&[("cookie", "x=1")])),
            Ok(())
        );
        assert_eq!(l.check(Version::HTTP_2, &HeaderMap::new()), Ok(()));
        assert_eq!(Refusal::NoHost.failure().status().as_u16(), 400);
        assert_eq!(Refusal::BadHost.failure().status().as_u16(), 400);
        assert_eq!(Refusal::TooManyHeaders(1).failure().status().as_u16(), 431);
    }
}
