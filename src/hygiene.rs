//! Header hygiene: what a client sends that must never reach the application, who the client
//! is (behind trusted proxies), and the forwarding headers guichet sets in its place.
//!
//! Order in [`crate::proxy`]: [`Hygiene::client_ip`] reads the peer and `X-Forwarded-For`
//! first, then [`Hygiene::strip_incoming`] runs before the gateway looks at the request; when
//! the request goes upstream, guichet's cookies are removed ([`Hygiene::strip_own_cookies`]),
//! the session's identity is added ([`Hygiene::inject`]) and the forwarding headers are set
//! ([`Hygiene::set_forwarding`]).
//!
//! Invariants:
//! - Every client copy of an identity header (the prefix), of the assertion header, of a
//!   renamed claim header and of `[headers] strip` names is removed, in any letter case, with
//!   `_` standing for `-` (CGI-style stacks read `X_Pivot_Sub` as `X-Pivot-Sub`), and every
//!   copy (`tests::spoofed_headers_are_removed_in_every_form`).
//! - The client's `X-Forwarded-*`, `Forwarded` and `X-Real-IP` never pass through; guichet
//!   sets `X-Forwarded-For`/`-Proto`/`-Host`, `X-Real-IP` and `Forwarded` from what it saw.
//! - The client IP is the peer address unless the peer is a trusted proxy; then it is the
//!   right-most address of `X-Forwarded-For` that is not a trusted proxy
//!   ([`client_ip_from_chain`]). The evidence log and throttling use this same value.
//! - guichet's cookies never reach the upstream, whatever bytes the `Cookie` header holds.
//!
//! # Design notes, and the tests that guard each rule
//!
//! ## `src/hygiene.rs`
//! Header hygiene: the client address behind trusted proxies ([`client_ip_from_chain`]), removal
//! of client headers guichet owns, removal of guichet's cookies, identity injection, forwarding
//! headers.
//!
//! **Invariants.** No client copy of an identity header, the assertion header, a renamed claim or
//! a `strip` name reaches the upstream, in any case, with `_` for `-`, duplicated or not
//! (`hygiene::tests::spoofed_headers_are_removed_in_every_form`,
//! `tests/upstream_identity.rs::spoofed_identity_and_assertion_headers_never_arrive`). The client
//! address is the peer unless the peer is trusted; then the right-most untrusted
//! `X-Forwarded-For` entry (`hygiene::tests::chain_gives_the_rightmost_untrusted_address`,
//! `malformed_or_endless_chains_stop_at_the_last_trusted_hop`,
//! `tests/upstream_identity.rs::{an_untrusted_peer_cannot_choose_its_address,
//! behind_a_trusted_proxy_the_client_is_the_rightmost_untrusted_address}`); the evidence log uses
//! the same address. guichet's cookies never reach the upstream, whatever bytes surround them
//! (`hygiene::tests::own_cookies_never_reach_the_upstream`).

use crate::config::Config;
use crate::session::cookies::CookieNames;
use crate::session::headers::HeaderBlock;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use ipnet::IpNet;
use pingora::http::RequestHeader;
use pingora::{ErrorType, OrErr};
use std::net::{IpAddr, SocketAddr};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
// Names as written on the wire (pingora keeps the case of `&'static str` names for free).
const X_FORWARDED_FOR_CASE: &str = "X-Forwarded-For";
const X_FORWARDED_PROTO_CASE: &str = "X-Forwarded-Proto";
const X_FORWARDED_HOST_CASE: &str = "X-Forwarded-Host";
const X_REAL_IP_CASE: &str = "X-Real-IP";
const FORWARDED_CASE: &str = "Forwarded";

/// Client header families that describe the connection: removed, guichet sets its own.
const FORWARDING_PREFIX: &[u8] = b"x-forwarded-";
const FORWARDING_NAMES: &[&[u8]] = &[b"forwarded", b"x-real-ip"];

/// Most `X-Forwarded-For` entries examined (a longer chain of trusted proxies is a mistake).
pub const MAX_HOPS: usize = 32;

/// Lowercase, `_` read as `-`: the form names are compared in.
fn fold(b: u8) -> u8 {
    if b == b'_' {
        b'-'
    } else {
        b.to_ascii_lowercase()
    }
}

fn folded(s: &str) -> Vec<u8> {
    s.bytes().map(fold).collect()
}

/// Does `name` start with `prefix` (already folded), ignoring case and `_`/`-`?
fn starts_with_folded(name: &[u8], prefix: &[u8]) -> bool {
    name.len() >= prefix.len() && name.iter().zip(prefix).all(|(a, b)| fold(*a) == *b)
}

fn eq_folded(name: &[u8], other: &[u8]) -> bool {
    name.len() == other.len() && starts_with_folded(name, other)
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) as plain IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// One `X-Forwarded-For` entry: an address, optionally with a port or IPv6 brackets.
fn parse_entry(entry: &[u8]) -> Option<IpAddr> {
    let s = std::str::from_utf8(entry).ok()?.trim();
    s.parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            s.strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|r| r.parse().ok())
        })
        .map(canonical)
}

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|n| n.contains(&ip))
}

/// The client's address when the request came from `peer`, a trusted proxy: walking the
/// `X-Forwarded-For` values from the right (each trusted hop appended the address it saw), the
/// first address that is not a trusted proxy. When the chain ends, is malformed, or is longer
/// than [`MAX_HOPS`], the last trusted address reached is the best known answer.
pub fn client_ip_from_chain<'a>(
    peer: IpAddr,
    values: impl DoubleEndedIterator<Item = &'a [u8]>,
    trusted: &[IpNet],
) -> IpAddr {
    let mut last = peer;
    let mut hops = 0;
    for value in values.rev() {
        for entry in value.rsplit(|b| *b == b',') {
            hops += 1;
            if hops > MAX_HOPS {
                return last;
            }
            let Some(ip) = parse_entry(entry) else {
                return last;
            };
            if !is_trusted(ip, trusted) {
                return ip;
            }
            last = ip;
        }
    }
    last
}

/// The request-independent part of header hygiene, built once at start-up.
pub struct Hygiene {
    /// Identity prefix, folded.
    prefix: Vec<u8>,
    /// Exact names to remove (assertion header, renamed claims, `[headers] strip`), folded.
    names: Vec<Vec<u8>>,
    own_cookies: [&'static str; 5],
    trusted: Vec<IpNet>,
    proto_value: HeaderValue,
    host_value: HeaderValue,
    /// `;proto=...;host="..."`: the part of `Forwarded` that is the same on every request.
    forwarded_tail: String,
    assertion: Bytes,
    /// Configured identity header names (case kept), indexed like
    /// [`crate::vocab::header_claims`]; shared by every session's block.
    claim_names: Vec<Bytes>,
}

impl Hygiene {
    pub fn new(cfg: &Config, cookies: &CookieNames) -> Hygiene {
        let host = cfg
            .server
            .public_url
            .split_once("://")
            .map(|(_, h)| h.to_string())
            .unwrap_or_default();
        Hygiene {
            prefix: folded(&cfg.headers.prefix),
            names: cfg.headers.strip.iter().map(|n| folded(n)).collect(),
            own_cookies: [
                cookies.session,
                cookies.login,
                cookies.lang,
                cookies.author,
                cookies.logout,
            ],
            trusted: cfg.server.trusted_proxies.clone(),
            proto_value: HeaderValue::from_static(if cfg.server.https { "https" } else { "http" }),
            // The public URL's host was validated as a URL host: always a valid value.
            host_value: HeaderValue::from_str(&host).unwrap_or(HeaderValue::from_static("")),
            forwarded_tail: format!(
                ";proto={};host=\"{host}\"",
                if cfg.server.https { "https" } else { "http" }
            ),
            assertion: Bytes::from(cfg.headers.assertion.header.clone()),
            claim_names: cfg
                .headers
                .claims
                .iter()
                .map(|c| Bytes::from(c.header.clone()))
                .collect(),
        }
    }

    /// Is the peer one of the trusted proxies (whose `X-Forwarded-For` and `X-Request-Id`
    /// are believed)?
    pub fn trusts(&self, peer: Option<IpAddr>) -> bool {
        peer.is_some_and(|p| is_trusted(canonical(p), &self.trusted))
    }

    /// The client's address (see [`client_ip_from_chain`]); `None` without a peer address.
    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = canonical(peer?);
        if !is_trusted(peer, &self.trusted) {
            return Some(peer);
        }
        let values = headers
            .get_all(X_FORWARDED_FOR)
            .iter()
            .map(|v| v.as_bytes());
        Some(client_ip_from_chain(peer, values, &self.trusted))
    }

    fn doomed(&self, name: &HeaderName) -> bool {
        let n = name.as_str().as_bytes();
        starts_with_folded(n, &self.prefix)
            || starts_with_folded(n, FORWARDING_PREFIX)
            || FORWARDING_NAMES.iter().any(|f| eq_folded(n, f))
            || self.names.iter().any(|f| eq_folded(n, f))
    }

    /// Removes every client header guichet owns or that describes the connection.
    pub fn strip_incoming(&self, req: &mut RequestHeader) {
        let doomed: Vec<HeaderName> = req
            .headers
            .keys()
            .filter(|n| self.doomed(n))
            .cloned()
            .collect();
        for name in doomed {
            req.remove_header(&name);
        }
    }

    fn is_own_cookie(&self, pair: &[u8]) -> bool {
        let name = pair
            .split(|b| *b == b'=')
            .next()
            .unwrap_or(pair)
            .trim_ascii();
        self.own_cookies.iter().any(|o| name == o.as_bytes())
    }

    /// Removes guichet's cookies, keeping the application's (all `Cookie` headers merged into
    /// one when something had to go).
    pub fn strip_own_cookies(&self, req: &mut RequestHeader) {
        let found = req.headers.get_all(header::COOKIE).iter().any(|v| {
            v.as_bytes()
                .split(|b| *b == b';')
                .any(|p| self.is_own_cookie(p))
        });
        if !found {
            return;
        }
        let mut kept = Vec::new();
        for v in req.headers.get_all(header::COOKIE) {
            for pair in v.as_bytes().split(|b| *b == b';') {
                let pair = pair.trim_ascii();
                if pair.is_empty() || self.is_own_cookie(pair) {
                    continue;
                }
                if !kept.is_empty() {
                    kept.extend_from_slice(b"; ");
                }
                kept.extend_from_slice(pair);
            }
        }
        match HeaderValue::from_bytes(&kept) {
            // Replaces every `Cookie` header at once. insert_header only fails on invalid
            // names, and this one is valid.
            Ok(v) if !kept.is_empty() => {
                let _ = req.insert_header("Cookie", v);
            }
            _ => {
                req.remove_header(&header::COOKIE);
            }
        }
    }

    /// Adds a session's identity block and its assertion.
    pub fn inject(
        &self,
        req: &mut RequestHeader,
        block: HeaderBlock<'_>,
        assertion: Option<&HeaderValue>,
    ) -> pingora::Result<()> {
        for (claim, value) in block.values() {
            if let Some(name) = self.claim_names.get(claim) {
                req.append_header(name.clone(), value)?;
            }
        }
        if let Some(a) = assertion {
            req.append_header(self.assertion.clone(), a.clone())?;
        }
        Ok(())
    }

    /// `X-Forwarded-For`, `X-Real-IP` (the client IP), `X-Forwarded-Proto`,
    /// `X-Forwarded-Host` (from the public URL) and `Forwarded` (RFC 7239, the same facts).
    pub fn set_forwarding(
        &self,
        req: &mut RequestHeader,
        client_ip: Option<IpAddr>,
    ) -> pingora::Result<()> {
        use std::fmt::Write;
        // The only per-request part is the address: `Forwarded` is that and a fixed tail.
        let mut forwarded = String::with_capacity(56 + self.forwarded_tail.len());
        match client_ip {
            Some(ip) => {
                let mut text = String::with_capacity(46);
                let _ = write!(text, "{ip}");
                let value = HeaderValue::from_str(&text)
                    .or_err(ErrorType::InvalidHTTPHeader, "client address")?;
                req.insert_header(X_FORWARDED_FOR_CASE, value.clone())?;
                req.insert_header(X_REAL_IP_CASE, value)?;
                let _ = match ip {
                    IpAddr::V4(_) => write!(forwarded, "for={text}"),
                    IpAddr::V6(_) => write!(forwarded, "for=\"[{text}]\""),
                };
            }
            None => forwarded.push_str("for=unknown"),
        }
        forwarded.push_str(&self.forwarded_tail);
        req.insert_header(X_FORWARDED_PROTO_CASE, self.proto_value.clone())?;
        req.insert_header(X_FORWARDED_HOST_CASE, self.host_value.clone())?;
        req.insert_header(
            FORWARDED_CASE,
            HeaderValue::try_from(forwarded).or_err(ErrorType::InvalidHTTPHeader, "Forwarded")?,
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
