//! The provider's signing keys: fetched from `jwks_uri`, cached, and downloaded again when a
//! token names a key we do not have (a rotation), at most once per `jwks_refresh_interval`
//! (a floor of a few seconds, default 5 s) so that a flood of forged tokens with random
//! `kid`s cannot make guichet hammer the provider.
//!
//! Key selection (RFC 7515 4.1.4, RFC 7517 4, RFC 7518 3.4 and 6.2.1.1): a key is a candidate
//! for a token when its type and curve fit the token's `alg` (ES256 needs an EC P-256 key,
//! ES384 P-384, EdDSA Ed25519, RS*/PS* RSA; never HMAC), its own `alg` (if any) is the token's,
//! and its `kid` is the token's, or it has no `kid` (a set without key ids). Keys named by the
//! token's `kid` come first; every candidate is tried until one verifies.

use super::http;
use super::OidcError;
use arc_swap::ArcSwap;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One usable verification key.
pub struct VerifyKey {
    pub kid: Option<String>,
    /// The JWK's `alg`, when it pins one.
    pub alg: Option<Algorithm>,
    kty: Kty,
    pub key: DecodingKey,
}

/// Key type, with the curve for elliptic-curve and octet key pair keys.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kty {
    Ec(EllipticCurve),
    Rsa,
    Okp(EllipticCurve),
}

impl VerifyKey {
    /// Can this key verify a token signed with `alg` (type, curve, the key's own `alg`)?
    fn fits_alg(&self, alg: Algorithm) -> bool {
        let kty_ok = match alg {
            Algorithm::ES256 => self.kty == Kty::Ec(EllipticCurve::P256),
            Algorithm::ES384 => self.kty == Kty::Ec(EllipticCurve::P384),
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => self.kty == Kty::Rsa,
            Algorithm::EdDSA => self.kty == Kty::Okp(EllipticCurve::Ed25519),
            // Shared-secret algorithms never use a JWKS key (that would be alg confusion).
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => false,
        };
        kty_ok && self.alg.is_none_or(|a| a == alg)
    }
}

/// The keys that may verify one token.
pub struct Candidates {
    /// Keys named by the token's `kid` first, then keys without a `kid`.
    pub keys: Vec<Arc<VerifyKey>>,
    /// The token names a `kid` that some key of the set has: a failure is then a bad
    /// signature, never a reason to download the set again.
    pub known_kid: bool,
}

/// Keys of one provider.
pub struct JwksCache {
    keys: ArcSwap<Vec<Arc<VerifyKey>>>,
    last_fetch: Mutex<Option<Instant>>,
    fetch_lock: tokio::sync::Mutex<()>,
    min_interval: Duration,
    /// Successful downloads so far (also tells a waiting task that the keys changed).
    pub fetches: AtomicU64,
    pub failures: AtomicU64,
}

impl JwksCache {
    pub fn new(min_interval: Duration) -> JwksCache {
        JwksCache {
            keys: ArcSwap::from_pointee(Vec::new()),
            last_fetch: Mutex::new(None),
            fetch_lock: tokio::sync::Mutex::new(()),
            min_interval,
            fetches: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }

    /// The candidate keys for a token with this `kid` and `alg`.
    pub fn candidates(&self, kid: Option<&str>, alg: Algorithm) -> Candidates {
        let keys = self.keys.load();
        let fitting = keys.iter().filter(|k| k.fits_alg(alg));
        let Some(kid) = kid else {
            return Candidates {
                keys: fitting.cloned().collect(),
                known_kid: false,
            };
        };
        let named: Vec<Arc<VerifyKey>> = fitting
            .clone()
            .filter(|k| k.kid.as_deref() == Some(kid))
            .cloned()
            .collect();
        let known_kid = !named.is_empty();
        let unnamed = fitting.filter(|k| k.kid.is_none()).cloned();
        Candidates {
            keys: named.into_iter().chain(unnamed).collect(),
            known_kid,
        }
    }

    /// A token named a key we do not have (or no candidate verified a token without `kid`):
    /// downloads the set again if the cached one is older than the floor
    /// (`jwks_refresh_interval`). Returns true when the keys changed since `seen` (this call
    /// or a concurrent one downloaded them), so the token is worth trying again.
    pub async fn refresh_after_unknown_key(
        &self,
        client: &reqwest::Client,
        jwks_uri: Option<&str>,
        seen: u64,
    ) -> bool {
        let Some(uri) = jwks_uri else { return false };
        let _guard = self.fetch_lock.lock().await;
        // Another task may have downloaded the keys while we waited.
        if self.fetches.load(Ordering::Acquire) != seen {
            return true;
        }
        if !self.may_refresh() {
            return false;
        }
        match self.refresh(client, uri).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "JWKS refresh after an unknown key failed");
                false
            }
        }
    }

    fn may_refresh(&self) -> bool {
        match *self.last_fetch.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(t) => t.elapsed() >= self.min_interval,
            None => true,
        }
    }

    /// Downloads the JWKS now. On failure the previous keys stay in use.
    pub async fn refresh(&self, client: &reqwest::Client, uri: &str) -> Result<(), OidcError> {
        *self.last_fetch.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        let result = self.download(client, uri).await;
        match &result {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "JWKS loaded");
            }
            Err(_) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
            }
        }
        let keys = result?;
        self.keys.store(Arc::new(keys));
        self.fetches.fetch_add(1, Ordering::Release);
        Ok(())
    }

    async fn download(
        &self,
        client: &reqwest::Client,
        uri: &str,
    ) -> Result<Vec<Arc<VerifyKey>>, OidcError> {
        let resp = http::send(client.get(uri), "jwks").await?;
        if resp.status != 200 {
            return Err(OidcError::Unavailable(format!(
                "jwks: HTTP {}",
                resp.status
            )));
        }
        let doc: serde_json::Value = serde_json::from_slice(&resp.body)
            .map_err(|_| OidcError::BadResponse("jwks", "not JSON"))?;
        let keys = doc
            .get("keys")
            .and_then(|k| k.as_array())
            .ok_or(OidcError::BadResponse("jwks", "no keys array"))?;
        let parsed: Vec<Arc<VerifyKey>> = keys.iter().filter_map(parse_key).map(Arc::new).collect();
        if parsed.is_empty() {
            return Err(OidcError::BadResponse("jwks", "no usable signing key"));
        }
        Ok(parsed)
    }

    /// Number of keys held (tests, readiness).
    pub fn len(&self) -> usize {
        self.keys.load().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A public signing key, or `None` for anything else (encryption keys, symmetric keys,
/// unsupported types): those are skipped, never an error for the whole set.
fn parse_key(value: &serde_json::Value) -> Option<VerifyKey> {
    let jwk: Jwk = serde_json::from_value(value.clone()).ok()?;
    if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
        return None;
    }
    let kty = match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(p) => Kty::Ec(p.curve.clone()),
        AlgorithmParameters::RSA(_) => Kty::Rsa,
        AlgorithmParameters::OctetKeyPair(p) => Kty::Okp(p.curve.clone()),
        AlgorithmParameters::OctetKey(_) => return None,
    };
    let alg = match jwk.common.key_algorithm {
        None => None,
        Some(ka) => Some(signing_alg(ka)?),
    };
    let key = DecodingKey::from_jwk(&jwk).ok()?;
    Some(VerifyKey {
        kid: jwk.common.key_id.clone(),
        alg,
        kty,
        key,
    })
}

fn signing_alg(ka: KeyAlgorithm) -> Option<Algorithm> {
    Some(match ka {
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ec_jwk(kid: &str, alg: Option<&str>, use_: Option<&str>) -> serde_json::Value {
        let mut k = json!({
            "kty": "EC", "crv": "P-256", "kid": kid,
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
        });
        if let Some(a) = alg {
            k["alg"] = json!(a);
        }
        if let Some(u) = use_ {
            k["use"] = json!(u);
        }
        k
    }

    #[test]
    fn only_public_signing_keys_are_kept() {
        assert!(parse_key(&ec_jwk("a", Some("ES256"), Some("sig"))).is_some());
        assert!(parse_key(&ec_jwk("a", None, None)).is_some());
        assert!(parse_key(&ec_jwk("a", Some("ES256"), Some("enc"))).is_none());
        assert!(parse_key(&json!({"kty": "oct", "k": "c2VjcmV0"})).is_none());
        assert!(parse_key(&json!({"kty": "EC"})).is_none());
    }

    fn cache_with(keys: Vec<VerifyKey>) -> JwksCache {
        let c = JwksCache::new(Duration::from_secs(5));
        c.keys
            .store(Arc::new(keys.into_iter().map(Arc::new).collect()));
        c
    }

    fn kids(c: &Candidates) -> Vec<Option<&str>> {
        c.keys.iter().map(|k| k.kid.as_deref()).collect()
    }

    #[test]
    fn key_selection_by_kid_family_and_alg() {
        let k = parse_key(&ec_jwk("k1", Some("ES256"), None)).unwrap();
        assert!(k.fits_alg(Algorithm::ES256));
        assert!(!k.fits_alg(Algorithm::RS256));
        assert!(
            !k.fits_alg(Algorithm::HS256),
            "HMAC must never use a JWKS key"
        );
        let c = cache_with(vec![k]);
        assert_eq!(
            kids(&c.candidates(Some("k1"), Algorithm::ES256)),
            [Some("k1")]
        );
        assert_eq!(kids(&c.candidates(None, Algorithm::ES256)), [Some("k1")]);
        assert!(c.candidates(Some("k2"), Algorithm::ES256).keys.is_empty());
        assert!(!c.candidates(Some("k2"), Algorithm::ES256).known_kid);
        assert!(c.candidates(Some("k1"), Algorithm::ES256).known_kid);
        assert!(c.candidates(Some("k1"), Algorithm::RS256).keys.is_empty());
    }

    #[test]
    fn the_curve_must_be_the_algorithm_s() {
        // ES384 needs P-384: a P-256 key is never a candidate for it (RFC 7518 3.4).
        let p256 = parse_key(&ec_jwk("k", None, None)).unwrap();
        assert!(p256.fits_alg(Algorithm::ES256));
        assert!(!p256.fits_alg(Algorithm::ES384));
        let p384 = parse_key(&json!({
            "kty": "EC", "crv": "P-384", "kid": "k",
            "x": "iA8wGHGH2r6oWUVgVrN-y1BFa6hRV4mqH8p8aJePnyDnDLqNEuvw4EC0WrXfW9Nl",
            "y": "kXVSFpo_U5APTi0XfGwHGt2bHIzKNodRbOCbF_XQ9JOcHX4DXRbsWs1EWp_ywyz_"
        }))
        .unwrap();
        assert!(p384.fits_alg(Algorithm::ES384));
        assert!(!p384.fits_alg(Algorithm::ES256));
    }

    #[test]
    fn keys_without_kid_are_candidates_after_the_named_ones() {
        let mut unnamed = ec_jwk("x", None, None);
        unnamed.as_object_mut().unwrap().remove("kid");
        let c = cache_with(vec![
            parse_key(&unnamed).unwrap(),
            parse_key(&ec_jwk("k1", None, None)).unwrap(),
        ]);
        // A token naming k1: k1 first, then the key without kid.
        let named = c.candidates(Some("k1"), Algorithm::ES256);
        assert_eq!(kids(&named), [Some("k1"), None]);
        assert!(named.known_kid);
        // A token naming a kid the set does not have: the key without kid may still be it.
        let other = c.candidates(Some("k9"), Algorithm::ES256);
        assert_eq!(kids(&other), [None]);
        assert!(!other.known_kid);
    }
}
