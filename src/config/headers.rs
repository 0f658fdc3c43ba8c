//! `[headers]` (what the application receives: identity headers, their encodings, route claim
//! profiles, the signed assertion and its keys, extra names to strip) and
//! `[server] trusted_proxies`, validated into [`HeaderConfig`] and a list of networks.
//!
//! Invariants: every header name guichet sets is a valid name that does not collide with
//! another one or with a header the proxy needs (`Host`, `Cookie`, forwarding headers...);
//! `sub` cannot be dropped; signing keys are ES256 (P-256) private keys loaded from
//! `file:`/`env:` and never printed.

use super::{file, ConfigError, Secret, Validator};
use crate::vocab::{
    header_claim_index, header_claims, ClaimSet, HeaderEncoding, ProfileId, SUB_INDEX,
};
use ipnet::IpNet;
use serde::Serialize;
use std::net::IpAddr;
use std::time::Duration;

/// One claim's header: its name (case kept), its encoding, or dropped.
#[derive(Debug, Clone, Serialize)]
pub struct ClaimHeader {
    pub claim: &'static str,
    pub header: String,
    pub encoding: HeaderEncoding,
    /// Never sent, neither as a header nor in the assertion.
    pub dropped: bool,
}

/// `[headers]`, validated.
#[derive(Debug, Serialize)]
pub struct HeaderConfig {
    pub prefix: String,
    /// Default encoding.
    pub encoding: HeaderEncoding,
    /// One entry per claim of [`header_claims`], in that order.
    pub claims: Vec<ClaimHeader>,
    /// Other names removed from client requests (lowercase).
    pub strip: Vec<String>,
    /// Largest total size of the identity headers and the assertion of one request.
    pub max_bytes: usize,
    /// Claim sets of route profiles; `profiles[0]` is every claim not dropped.
    pub profiles: Vec<ClaimSet>,
    pub assertion: AssertionConfig,
    /// Also serve the JWK set at `/jwks.json` on the metrics listener.
    pub jwks_on_metrics: bool,
}

/// The signed assertion.
#[derive(Debug, Serialize)]
pub struct AssertionConfig {
    pub header: String,
    /// `iss`: the public URL.
    pub issuer: String,
    pub audience: String,
    #[serde(with = "super::duration_str")]
    pub ttl: Duration,
    /// The first signs; all are published. Empty: a key is generated at start.
    pub keys: Vec<SigningKeyConfig>,
}

/// A signing key: PKCS#8 PEM (held as a secret) and its `kid` (RFC 7638 thumbprint).
#[derive(Debug, Clone, Serialize)]
pub struct SigningKeyConfig {
    pub pem: Secret,
    pub kid: String,
    #[serde(skip)]
    pub public_jwk: serde_json::Value,
}

/// Most distinct route claim lists (each costs a header block per session).
const MAX_PROFILES: usize = 16;

/// Headers guichet or the HTTP layer own, never usable as an identity header name.
const RESERVED: &[&str] = &[
    "host",
    "cookie",
    "authorization",
    "connection",
    "content-length",
    "content-type",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "forwarded",
    "x-real-ip",
];

fn is_reserved(lower: &str) -> bool {
    RESERVED.contains(&lower) || lower.starts_with("x-forwarded-")
}

impl Validator {
    fn header_name(&self, key: &str, name: &str) -> Result<String, ConfigError> {
        let parsed = http::HeaderName::from_bytes(name.as_bytes());
        if name.is_empty() || parsed.is_err() || !name.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(self.err(key, format!("{name:?} is not a header name")));
        }
        let lower = name.to_ascii_lowercase();
        if is_reserved(&lower) {
            return Err(self.err(
                key,
                format!("{name:?} is a header guichet or HTTP itself manages"),
            ));
        }
        Ok(lower)
    }

    pub(super) fn headers(
        &self,
        h: &file::HeadersSection,
        public_url: &str,
    ) -> Result<HeaderConfig, ConfigError> {
        let prefix = &h.prefix;
        if prefix.len() < 2
            || !prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            || http::HeaderName::from_bytes(prefix.as_bytes()).is_err()
            || is_reserved(&prefix.to_ascii_lowercase())
        {
            return Err(self.err(
                "headers.prefix",
                "must be a header name prefix like \"X-Pivot-\"",
            ));
        }
        let encoding = self.encoding("headers.encoding", &h.encoding)?;
        let assertion_header = self.header_name("headers.assertion_header", &h.assertion_header)?;
        for name in h.claims.keys() {
            if header_claim_index(name).is_none() {
                let known: Vec<_> = header_claims().map(|(n, _)| n).collect();
                return Err(self.err(
                    format!("headers.claims.{name}"),
                    format!("unknown claim; known: {}", known.join(", ")),
                ));
            }
        }
        let mut claims = Vec::new();
        let mut profile = ClaimSet::all();
        let mut names = vec![assertion_header.clone()];
        let mut strip = vec![assertion_header];
        for (i, (claim, suffix)) in header_claims().enumerate() {
            let key = |k: &str| format!("headers.claims.{claim}.{k}");
            let settings = h.claims.get(claim);
            let header = match settings.and_then(|s| s.header.as_deref()) {
                Some(name) => {
                    let lower = self.header_name(&key("header"), name)?;
                    if !lower.starts_with(&prefix.to_ascii_lowercase()) {
                        strip.push(lower);
                    }
                    name.to_string()
                }
                None => format!("{prefix}{suffix}"),
            };
            let lower = header.to_ascii_lowercase();
            if names.contains(&lower) {
                return Err(self.err(
                    key("header"),
                    format!("{header:?} is already used by another claim or the assertion"),
                ));
            }
            names.push(lower);
            let encoding = match settings.and_then(|s| s.encoding.as_deref()) {
                Some(e) => self.encoding(&key("encoding"), e)?,
                None => encoding,
            };
            let dropped = settings.is_some_and(|s| s.drop);
            if dropped && i == SUB_INDEX {
                return Err(self.err(key("drop"), "sub identifies the citizen and is always sent"));
            }
            if dropped {
                profile.remove(i);
            }
            claims.push(ClaimHeader {
                claim,
                header,
                encoding,
                dropped,
            });
        }
        for (i, name) in h.strip.iter().enumerate() {
            let lower = self.header_name(&format!("headers.strip[{i}]"), name)?;
            if !strip.contains(&lower) {
                strip.push(lower);
            }
        }
        if !(1024..=65536).contains(&h.max_bytes) {
            return Err(self.err("headers.max_bytes", "must be between 1024 and 65536"));
        }
        let ttl = self.duration("headers.assertion_ttl", &h.assertion_ttl)?;
        if !(Duration::from_secs(10)..=Duration::from_secs(600)).contains(&ttl) {
            return Err(self.err(
                "headers.assertion_ttl",
                "must be between 10s and 10m (the assertion is re-signed when a third of it remains)",
            ));
        }
        let audience = match &h.assertion_audience {
            None => public_url.to_string(),
            Some(a)
                if !a.is_empty() && a.len() <= 256 && a.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                a.clone()
            }
            Some(_) => {
                return Err(self.err(
                    "headers.assertion_audience",
                    "must be 1-256 printable ASCII characters",
                ))
            }
        };
        let mut keys: Vec<SigningKeyConfig> = Vec::new();
        for (i, reference) in h.signing_keys.iter().enumerate() {
            let key = format!("headers.signing_keys[{i}]");
            let secret = Secret::load(reference).map_err(|e| self.err(&key, e.to_string()))?;
            let (pem, public_jwk) =
                crate::keys::load_signing_key(secret.expose()).map_err(|e| {
                    self.err(
                        &key,
                        format!("{}: {e} (guichet keygen --alg ES256)", secret.source()),
                    )
                })?;
            let kid = public_jwk["kid"].as_str().unwrap_or_default().to_string();
            if keys.iter().any(|k| k.kid == kid) {
                return Err(self.err(&key, "the same key appears twice"));
            }
            keys.push(SigningKeyConfig {
                pem: Secret::inline(pem, secret.source()),
                kid,
                public_jwk,
            });
        }
        Ok(HeaderConfig {
            prefix: prefix.clone(),
            encoding,
            claims,
            strip,
            max_bytes: h.max_bytes,
            profiles: vec![profile],
            assertion: AssertionConfig {
                header: h.assertion_header.clone(),
                issuer: public_url.to_string(),
                audience,
                ttl,
                keys,
            },
            jwks_on_metrics: h.jwks_on_metrics,
        })
    }

    fn encoding(&self, key: &str, value: &str) -> Result<HeaderEncoding, ConfigError> {
        HeaderEncoding::parse(value).ok_or_else(|| {
            self.err(
                key,
                format!("{value:?}: expected percent, utf8, base64url or latin1"),
            )
        })
    }

    /// The profile of a route with `claims = [...]`: `sub` and the listed claims.
    pub(super) fn route_profile(
        &self,
        key: &str,
        list: Option<&[String]>,
        headers: &mut HeaderConfig,
    ) -> Result<ProfileId, ConfigError> {
        let Some(list) = list else {
            return Ok(ProfileId(0));
        };
        let mut set = ClaimSet::default();
        set.insert(SUB_INDEX);
        for name in list {
            let i = header_claim_index(name)
                .ok_or_else(|| self.err(key, format!("{name:?} is not a known claim")))?;
            if headers.claims[i].dropped {
                return Err(self.err(
                    key,
                    format!("{name:?} is dropped in [headers.claims.{name}]"),
                ));
            }
            set.insert(i);
        }
        if let Some(p) = headers.profiles.iter().position(|s| *s == set) {
            return Ok(ProfileId(p));
        }
        if headers.profiles.len() >= MAX_PROFILES {
            return Err(self.err(
                key,
                format!("more than {MAX_PROFILES} distinct claim lists across routes"),
            ));
        }
        headers.profiles.push(set);
        Ok(ProfileId(headers.profiles.len() - 1))
    }

    /// `[server] trusted_proxies`: CIDRs or single addresses.
    pub(super) fn trusted_proxies(&self, list: &[String]) -> Result<Vec<IpNet>, ConfigError> {
        list.iter()
            .enumerate()
            .map(|(i, s)| {
                let s = s.trim();
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map(|n| n.trunc())
                    .map_err(|_| {
                        self.err(
                            format!("server.trusted_proxies[{i}]"),
                            format!("{s:?} is not an address or a CIDR like \"10.0.0.0/8\""),
                        )
                    })
            })
            .collect()
    }
}

/// Networks print as strings in the effective configuration.
pub(super) fn serialize_nets<S: serde::Serializer>(
    nets: &[IpNet],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(nets.iter().map(ToString::to_string))
}

impl HeaderConfig {
    /// `[headers]` with every default, for a gateway at `public_url` (tests, benches).
    pub fn defaults(public_url: &str) -> HeaderConfig {
        let v = Validator {
            file: "(defaults)".into(),
        };
        match v.headers(&file::HeadersSection::default(), public_url) {
            Ok(h) => h,
            Err(e) => unreachable!("the default [headers] section is valid: {e}"),
        }
    }
}

#[cfg(test)]
mod tests;
