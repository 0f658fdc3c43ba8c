//! The signed identity assertion guichet adds to every authenticated request (default header
//! `X-Guichet-Assertion`): a compact ES256 JWT with `kid`, so the application can prove the
//! identity came through guichet and not from a client that found a way around it.
//!
//! Claims: `iss` (the public URL), `aud`, `sub`, `iat`, `exp` (short, 60 s by default), `sid`
//! (a one-way hash of the session's store key: the upstream learns nothing it could use as a
//! cookie or store key), `provider`, `acr`, `idp_id` when known, and the route profile's
//! identity claims as plain UTF-8 strings.
//!
//! Invariants:
//! - Signing keys are ES256 (P-256); the first configured key signs, every configured key is
//!   published ([`Signer::jwks`]) so rotating the order never breaks an application that
//!   cached the set. With no key configured, one is generated at start ([`Signer::generated`]).
//! - A session signs once per profile per validity window: [`Cache::get`] hands out the cached
//!   value while it is fresh, and when it is due for renewal exactly one caller signs while the
//!   others keep sending the current (still valid) one. No lock is held while signing.
//!
//! # Design notes, and the tests that guard each rule
//!
//! ## `src/assertion.rs`
//! The signed identity assertion: claims ([`payload`], with `sid` a one-way hash of the store key),
//! ES256 signing with the first configured key ([`Signer`]; all keys published at
//! `/.guichet/jwks.json`, a generated key with a loud warning when none is configured), and the
//! per-session [`Cache`] (lock-free: `ArcSwap` plus a renewal flag).
//!
//! **Invariants.** The assertion verifies with another library against the published keys
//! (`session::headers::tests::assertion_is_es256_with_kid_and_the_documented_claims`, and the echo
//! upstream verifies every assertion in the end-to-end tests:
//! `tests/upstream_identity.rs::the_app_verifies_the_assertion_against_the_published_keys`). One
//! signature per session and profile per validity window; at renewal one caller signs and the
//! others keep the current one (`assertion::tests::the_cache_signs_once_per_window_and_renews_before_expiry`,
//! `concurrent_requests_at_renewal_sign_once`,
//! `tests/upstream_identity.rs::the_assertion_is_signed_once_then_reused`). Rotating the key order
//! never fails a verification (`signing_keys_rotate_without_a_failed_verification`).
//! **Never**: hold a lock while signing; sign per request; put the store key or cookie in a claim.

use crate::config::{AssertionConfig, HeaderConfig};
use crate::identity::Identity;
use crate::jose::Es256Key;
use crate::keys::{self, KeyError};
use crate::vocab::{ClaimSet, Level, CLAIMS};
use arc_swap::ArcSwapOption;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http::HeaderValue;
use serde::Serialize;
use serde_json::{Map, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Why no assertion could be made.
#[derive(Debug, thiserror::Error)]
pub enum AssertionError {
    #[error("signing failed: {0}")]
    Sign(String),
    #[error("the session has no header profile")]
    NoProfile,
}

/// Claims the assertion always carries, outside the route profile's choice.
const PROTOCOL_CLAIMS: &[&str] = &["sub", "acr", "idp_id"];

/// `sid`: base64url SHA-256 of a fixed label and the session's store key (the bytes of a
/// [`crate::session::SessionKey`]). One-way, so it cannot be turned back into the store key
/// (let alone the cookie), yet stable for the session.
pub fn session_id_hash(store_key: &[u8; 32]) -> String {
    let mut input = b"guichet assertion sid\0".to_vec();
    input.extend_from_slice(store_key);
    URL_SAFE_NO_PAD.encode(crate::crypto::sha256(&input))
}

/// The assertion's claims for one session (its identity, provider and proven level) and
/// profile, without `iat` and `exp`.
pub fn payload(
    id: &Identity,
    provider: &str,
    level: Option<Level>,
    sid: &str,
    claims: ClaimSet,
    cfg: &HeaderConfig,
) -> Map<String, Value> {
    let mut m = Map::new();
    let mut put = |k: &str, v: &str| {
        m.insert(k.to_string(), Value::String(v.to_string()));
    };
    put("iss", &cfg.assertion.issuer);
    put("aud", &cfg.assertion.audience);
    put("sub", id.sub());
    put("sid", sid);
    put("provider", provider);
    if let Some(acr) = id.get("acr").or(level.map(|l| l.eidas())) {
        put("acr", acr);
    }
    if let Some(idp) = id.get("idp_id") {
        put("idp_id", idp);
    }
    for (i, spec) in CLAIMS.iter().enumerate() {
        let dropped = cfg.claims.get(i).is_none_or(|c| c.dropped);
        if PROTOCOL_CLAIMS.contains(&spec.name) || dropped || !claims.contains(i) {
            continue;
        }
        if let Some(v) = id.get(spec.name) {
            put(spec.name, v);
        }
    }
    m
}

/// Upper bound of the JWT header's JSON (`typ`, `alg`, a thumbprint `kid`).
const HEADER_JSON_MAX: usize = 100;
/// `,"iat":NNNNNNNNNN,"exp":NNNNNNNNNN` with room to spare.
const TIMES_JSON_MAX: usize = 48;
/// An ES256 signature, base64url: 64 bytes -> 86 characters.
const SIGNATURE_B64: usize = 86;

fn b64_len(n: usize) -> usize {
    (n * 4).div_ceil(3)
}

/// Size on the wire of the assertion header for `payload` (an upper bound).
pub fn wire_len_estimate(payload: &Map<String, Value>, cfg: &HeaderConfig) -> usize {
    let json = serde_json::to_vec(payload).map_or(usize::MAX / 2, |v| v.len());
    let jwt = b64_len(HEADER_JSON_MAX) + 1 + b64_len(json + TIMES_JSON_MAX) + 1 + SIGNATURE_B64;
    cfg.assertion.header.len() + 4 + jwt
}

/// One signed assertion and its validity.
#[derive(Clone)]
pub struct Issued {
    pub value: HeaderValue,
    pub iat: u64,
    pub exp: u64,
}

impl Issued {
    fn life(&self) -> u64 {
        self.exp.saturating_sub(self.iat)
    }

    /// More than a third of its life left: hand it out as is.
    fn fresh(&self, now: u64) -> bool {
        self.iat <= now && now < self.exp.saturating_sub(self.life() / 3)
    }

    /// Still safe to send while someone else renews it (a sixth of its life left, so it does
    /// not expire on the way). A clock that went back makes it unusable: `iat` would be in
    /// the future for the application.
    fn usable(&self, now: u64) -> bool {
        self.iat <= now && now < self.exp.saturating_sub((self.life() / 6).max(1))
    }
}

/// Signs assertions with the first configured key and publishes every key (ring: see
/// [`crate::jose`]).
pub struct Signer {
    /// The JWS header, base64url: `{"typ":"JWT","alg":"ES256","kid":...}`.
    header_b64: String,
    kid: Option<String>,
    key: Es256Key,
    jwks: Vec<Value>,
    ttl: u64,
    generated: bool,
    signatures: AtomicU64,
}

impl Signer {
    /// The configured keys, or a key generated now when none is configured.
    pub fn new(cfg: &AssertionConfig) -> Result<Signer, KeyError> {
        let (pem, jwks, generated) = match cfg.keys.first() {
            Some(first) => (
                first.pem.expose().to_string(),
                cfg.keys.iter().map(|k| k.public_jwk.clone()).collect(),
                false,
            ),
            None => {
                let (pem, jwk) = keys::generate("ES256", None)?;
                (pem, vec![jwk], true)
            }
        };
        let key = Es256Key::from_pkcs8_pem(&pem).map_err(|_| KeyError::Pem("EC P-256"))?;
        let kid = jwks
            .first()
            .and_then(|j| j["kid"].as_str())
            .map(String::from);
        let header = match &kid {
            Some(k) => format!(
                r#"{{"typ":"JWT","alg":"ES256","kid":{}}}"#,
                Value::from(k.as_str())
            ),
            None => r#"{"typ":"JWT","alg":"ES256"}"#.to_string(),
        };
        Ok(Signer {
            header_b64: URL_SAFE_NO_PAD.encode(header),
            kid,
            key,
            jwks,
            ttl: cfg.ttl.as_secs(),
            generated,
            signatures: AtomicU64::new(0),
        })
    }

    /// Public keys to publish (`use: sig`), the signing key first.
    pub fn jwks(&self) -> &[Value] {
        &self.jwks
    }

    /// `kid` of the signing key.
    pub fn kid(&self) -> &str {
        self.kid.as_deref().unwrap_or_default()
    }

    /// Was the key generated at start (nothing configured)?
    pub fn generated(&self) -> bool {
        self.generated
    }

    /// Signatures made so far (tests, benches).
    pub fn signatures(&self) -> u64 {
        self.signatures.load(Ordering::Relaxed)
    }

    /// Signs `payload` with `iat = now` and `exp = now + ttl`.
    pub fn sign(&self, payload: &Map<String, Value>, now: u64) -> Result<Issued, AssertionError> {
        #[derive(Serialize)]
        struct Claims<'a> {
            iat: u64,
            exp: u64,
            #[serde(flatten)]
            rest: &'a Map<String, Value>,
        }
        let exp = now.saturating_add(self.ttl);
        let claims = serde_json::to_vec(&Claims {
            iat: now,
            exp,
            rest: payload,
        })
        .map_err(|e| AssertionError::Sign(e.to_string()))?;
        let token = self
            .key
            .sign_compact(&self.header_b64, &claims)
            .map_err(|e| AssertionError::Sign(e.to_string()))?;
        let value =
            HeaderValue::try_from(token).map_err(|e| AssertionError::Sign(e.to_string()))?;
        self.signatures.fetch_add(1, Ordering::Relaxed);
        Ok(Issued {
            value,
            iat: now,
            exp,
        })
    }
}

/// The assertion last signed for one session profile.
#[derive(Default)]
pub struct Cache {
    current: ArcSwapOption<Issued>,
    renewing: AtomicBool,
}

/// Clears the renewal flag when the renewing caller is done (or unwinds).
struct Renewal<'a>(&'a AtomicBool);

impl<'a> Renewal<'a> {
    fn claim(flag: &'a AtomicBool) -> Option<Renewal<'a>> {
        flag.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| Renewal(flag))
    }
}

impl Drop for Renewal<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Cache {
    /// The assertion to send at `now`:
    /// - fresh (more than a third of its life left): the cached value, no signature;
    /// - due for renewal but still usable: one caller signs a new one, every concurrent caller
    ///   keeps sending the current one (and so does the renewing caller if signing fails);
    /// - nothing usable (first request, long idle, clock change): the caller signs; callers
    ///   arriving at that same instant may each sign once, never more.
    pub fn get(
        &self,
        now: u64,
        sign: impl FnOnce() -> Result<Issued, AssertionError>,
    ) -> Result<HeaderValue, AssertionError> {
        let usable = {
            let current = self.current.load();
            match current.as_deref() {
                Some(c) if c.fresh(now) => return Ok(c.value.clone()),
                Some(c) if c.usable(now) => Some(c.value.clone()),
                _ => None,
            }
        };
        if let Some(value) = usable {
            let Some(_renewal) = Renewal::claim(&self.renewing) else {
                return Ok(value);
            };
            return match sign() {
                Ok(new) => Ok(self.store(new)),
                Err(e) => {
                    tracing::error!(error = %e, "assertion renewal failed; sending the current one");
                    Ok(value)
                }
            };
        }
        let new = sign()?;
        Ok(self.store(new))
    }

    /// Drops the cached assertion if it can no longer be sent at `now` (it would be re-signed
    /// anyway). Never drops one stored concurrently. Returns whether one was dropped.
    pub fn clear_if_unusable(&self, now: u64) -> bool {
        let current = self.current.load_full();
        match current.as_deref() {
            Some(c) if !c.usable(now) => {
                let previous = self.current.compare_and_swap(&current, None);
                match (previous.as_ref(), current.as_ref()) {
                    (Some(p), Some(c)) => Arc::ptr_eq(p, c),
                    _ => false,
                }
            }
            _ => false,
        }
    }

    /// Is an assertion cached (tests, benches)?
    pub fn is_cached(&self) -> bool {
        self.current.load().is_some()
    }

    fn store(&self, new: Issued) -> HeaderValue {
        let value = new.value.clone();
        self.current.store(Some(Arc::new(new)));
        value
    }
}

#[cfg(test)]
pub(crate) mod tests;
