use super::*;
use crate::config::{HeaderConfig, Secret, SigningKeyConfig};
use crate::identity::Identity;
use crate::vocab::Level;
use josekit::jwk::Jwk;
use josekit::jws::ES256;
use serde_json::json;
use std::sync::Barrier;
use std::time::Duration;

pub(crate) fn key_config() -> SigningKeyConfig {
    let (pem, _) = keys::generate("ES256", None).unwrap();
    let (pem, public_jwk) = keys::load_signing_key(&pem).unwrap();
    SigningKeyConfig {
        pem: Secret::inline(pem, "test"),
        kid: public_jwk["kid"].as_str().unwrap().to_string(),
        public_jwk,
    }
}

pub(crate) fn cfg(keys: Vec<SigningKeyConfig>) -> HeaderConfig {
    let mut c = HeaderConfig::defaults("https://demarches.example.fr");
    c.assertion.audience = "urn:app".into();
    c.assertion.keys = keys;
    c
}

pub(crate) fn identity() -> Identity {
    let claims = json!({"sub": "s1", "given_name": "Élodie", "family_name": "Lefèvre-D’Arc",
        "acr": "eidas1", "idp_id": "fia1v2", "birthdate": "1990-03-12"});
    Identity::from_claims(&[claims.as_object().unwrap()]).unwrap()
}

/// The claims of [`identity`] logged in with provider `fc` at level low.
fn claims_of(sid: &str, claims: ClaimSet, c: &HeaderConfig) -> Map<String, Value> {
    payload(&identity(), "fc", Some(Level::Low), sid, claims, c)
}

/// Verifies with josekit (not the library that signed) against a published JWK.
pub(crate) fn verify(token: &str, jwk: &Value) -> Map<String, Value> {
    let jwk = Jwk::from_bytes(jwk.to_string()).unwrap();
    let verifier = ES256.verifier_from_jwk(&jwk).unwrap();
    let (payload, header) = josekit::jwt::decode_with_verifier(token, &verifier).unwrap();
    assert_eq!(header.algorithm(), Some("ES256"));
    assert_eq!(header.key_id(), jwk.key_id());
    payload.claims_set().clone()
}

#[test]
fn dropped_and_unlisted_claims_stay_out_of_the_assertion() {
    let mut c = cfg(vec![]);
    let family = crate::vocab::header_claim_index("family_name").unwrap();
    c.claims[family].dropped = true;
    c.profiles[0].remove(family);
    let mut only_sub = ClaimSet::default();
    only_sub.insert(0);
    let all = claims_of("sid", c.profiles[0], &c);
    assert!(all.get("family_name").is_none());
    assert_eq!(all["given_name"], "Élodie");
    let minimal = claims_of("sid", only_sub, &c);
    assert!(minimal.get("given_name").is_none() && minimal.get("birthdate").is_none());
    // Protocol claims are always there.
    for k in ["iss", "aud", "sub", "sid", "provider", "acr", "idp_id"] {
        assert!(minimal.contains_key(k), "{k}");
    }
}

#[test]
fn first_key_signs_and_every_key_is_published() {
    let (a, b) = (key_config(), key_config());
    let signer = Signer::new(&cfg(vec![a.clone(), b.clone()]).assertion).unwrap();
    assert_eq!(signer.kid(), a.kid);
    assert_eq!(signer.jwks(), &[a.public_jwk.clone(), b.public_jwk.clone()]);
    let issued = signer.sign(&Map::new(), 5).unwrap();
    verify(issued.value.to_str().unwrap(), &a.public_jwk);
    for jwk in signer.jwks() {
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["alg"], "ES256");
        assert!(jwk.get("d").is_none());
    }
}

#[test]
fn without_configured_keys_one_is_generated() {
    let signer = Signer::new(&cfg(vec![]).assertion).unwrap();
    assert!(signer.generated());
    assert_eq!(signer.jwks().len(), 1);
    let issued = signer.sign(&Map::new(), 5).unwrap();
    verify(issued.value.to_str().unwrap(), &signer.jwks()[0]);
}

#[test]
fn the_size_estimate_is_an_upper_bound() {
    let c = cfg(vec![key_config()]);
    let signer = Signer::new(&c.assertion).unwrap();
    let p = claims_of(&"x".repeat(43), c.profiles[0], &c);
    let real =
        signer.sign(&p, u64::from(u32::MAX)).unwrap().value.len() + c.assertion.header.len() + 4;
    let estimate = wire_len_estimate(&p, &c);
    assert!(
        estimate >= real && estimate < real + 120,
        "{estimate} vs {real}"
    );
}

fn signer_ttl(ttl: u64) -> Signer {
    let mut c = cfg(vec![]);
    c.assertion.ttl = Duration::from_secs(ttl);
    Signer::new(&c.assertion).unwrap()
}

#[test]
fn the_cache_signs_once_per_window_and_renews_before_expiry() {
    let signer = signer_ttl(60);
    let cache = Cache::default();
    let p = Map::new();
    let get = |now| cache.get(now, || signer.sign(&p, now)).unwrap();
    let first = get(1000);
    for t in 1000..1040 {
        assert_eq!(get(t), first, "fresh at {t}");
    }
    assert_eq!(signer.signatures(), 1);
    // Less than a third of its life left (20 s of 60): renewed.
    let second = get(1040);
    assert_ne!(second, first);
    assert_eq!(signer.signatures(), 2);
    assert_eq!(get(1041), second);
    // Long idle: the old one is expired, a new one is signed.
    let third = get(5000);
    assert_ne!(third, second);
    // A clock that went back never reuses an assertion from the "future".
    let fourth = get(4000);
    assert_ne!(fourth, third);
    assert_eq!(signer.signatures(), 4);
}

#[test]
fn concurrent_requests_at_renewal_sign_once() {
    let signer = signer_ttl(60);
    let cache = Cache::default();
    let p = Map::new();
    let old = cache.get(1000, || signer.sign(&p, 1000)).unwrap();
    let threads = 8;
    let barrier = Barrier::new(threads);
    let now = 1045; // due for renewal, still usable
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                barrier.wait();
                let v = cache
                    .get(now, || {
                        // A slow signature: everyone else arrives while it runs.
                        std::thread::sleep(Duration::from_millis(100));
                        signer.sign(&p, now)
                    })
                    .unwrap();
                assert!(!v.is_empty());
            });
        }
    });
    assert_eq!(signer.signatures(), 2, "one at start, one renewal");
    let renewed = cache.get(now, || signer.sign(&p, now)).unwrap();
    assert_ne!(renewed, old);
    assert_eq!(signer.signatures(), 2);
}

#[test]
fn a_failed_renewal_keeps_sending_the_valid_assertion() {
    let signer = signer_ttl(60);
    let cache = Cache::default();
    let p = Map::new();
    let old = cache.get(1000, || signer.sign(&p, 1000)).unwrap();
    let v = cache
        .get(1045, || Err(AssertionError::Sign("boom".into())))
        .unwrap();
    assert_eq!(v, old);
    // Once it is no longer usable, the failure is the caller's (the request is refused).
    assert!(cache
        .get(1059, || Err(AssertionError::Sign("boom".into())))
        .is_err());
}
