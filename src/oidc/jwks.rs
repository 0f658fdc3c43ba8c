//! The provider's signing keys: fetched from `jwks_uri`, cached, and refreshed when a token
//! names a key we do not have, at most once per `jwks_refresh_interval` so that a flood of
//! forged tokens with random `kid`s cannot make guichet hammer the provider.

use super::http;
use super::OidcError;
use arc_swap::ArcSwap;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm, PublicKeyUse};
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kty {
    Ec,
    Rsa,
    Okp,
}

impl VerifyKey {
    /// Can this key verify a token signed with `alg` (and naming `kid`, if any)?
    fn fits(&self, kid: Option<&str>, alg: Algorithm) -> bool {
        let kty_ok = match alg {
            Algorithm::ES256 | Algorithm::ES384 => self.kty == Kty::Ec,
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => self.kty == Kty::Rsa,
            Algorithm::EdDSA => self.kty == Kty::Okp,
            // Shared-secret algorithms never use a JWKS key (that would be alg confusion).
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => false,
        };
        let kid_ok = match (kid, &self.kid) {
            (Some(want), Some(have)) => want == have,
            (Some(_), None) => false,
            (None, _) => true,
        };
        kty_ok && kid_ok && self.alg.is_none_or(|a| a == alg)
    }
}

/// Keys of one provider.
pub struct JwksCache {
    keys: ArcSwap<Vec<Arc<VerifyKey>>>,
    last_fetch: Mutex<Option<Instant>>,
    fetch_lock: tokio::sync::Mutex<()>,
    min_interval: Duration,
    /// Successful and failed downloads, for metrics.
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

    /// Keys that fit `kid`/`alg`, refreshing once (rate-limited) if none do.
    pub async fn keys_for(
        &self,
        client: &reqwest::Client,
        jwks_uri: Option<&str>,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Vec<Arc<VerifyKey>> {
        let found = self.matching(kid, alg);
        if !found.is_empty() {
            return found;
        }
        let Some(uri) = jwks_uri else { return found };
        let _guard = self.fetch_lock.lock().await;
        // Another task may have refreshed while we waited.
        let found = self.matching(kid, alg);
        if !found.is_empty() || !self.may_refresh() {
            return found;
        }
        if let Err(e) = self.refresh(client, uri).await {
            tracing::warn!(error = %e, "JWKS refresh after an unknown key failed");
        }
        self.matching(kid, alg)
    }

    fn matching(&self, kid: Option<&str>, alg: Algorithm) -> Vec<Arc<VerifyKey>> {
        self.keys
            .load()
            .iter()
            .filter(|k| k.fits(kid, alg))
            .cloned()
            .collect()
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
                self.fetches.fetch_add(1, Ordering::Relaxed);
                tracing::info!(keys = keys.len(), "JWKS loaded");
            }
            Err(_) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
            }
        }
        let keys = result?;
        self.keys.store(Arc::new(keys));
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
        AlgorithmParameters::EllipticCurve(_) => Kty::Ec,
        AlgorithmParameters::RSA(_) => Kty::Rsa,
        AlgorithmParameters::OctetKeyPair(_) => Kty::Okp,
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

    #[test]
    fn key_selection_by_kid_family_and_alg() {
        let k = parse_key(&ec_jwk("k1", Some("ES256"), None)).unwrap();
        assert!(k.fits(Some("k1"), Algorithm::ES256));
        assert!(k.fits(None, Algorithm::ES256));
        assert!(!k.fits(Some("k2"), Algorithm::ES256));
        assert!(!k.fits(Some("k1"), Algorithm::RS256));
        assert!(
            !k.fits(Some("k1"), Algorithm::HS256),
            "HMAC must never use a JWKS key"
        );
    }
}
