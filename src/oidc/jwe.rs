//! Encrypted tokens (FranceConnect+): the id_token and the userinfo response are a JWE,
//! encrypted to one of guichet's keys, wrapping the provider's signed JWS. This module opens
//! the envelope; [`super::jws`] then verifies the JWS inside exactly as for any provider.
//!
//! Invariants (each guarded by a test here and in `tests/login_security.rs`):
//! - A provider pinned to JWE never gets a plain JWS accepted ([`TokenError::NotEncrypted`]).
//! - The header's `alg` and `enc` must be in the provider's pinned lists before any key is
//!   used; `zip` and `crit` are refused (no decompression, no unknown extension).
//! - The `kid` must name a configured key whose algorithm is the header's; every decryption
//!   failure gives the same error (no oracle on which step failed).

use super::jws::{TokenError, MAX_TOKEN_LEN};
use super::Provider;
use crate::config::ProviderConfig;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwe::JweDecrypter;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

/// One of guichet's decryption keys, ready to use.
pub struct Decrypter {
    pub kid: String,
    pub alg: String,
    inner: Box<dyn JweDecrypter>,
}

impl fmt::Debug for Decrypter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decrypter")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl Decrypter {
    pub fn new(kid: &str, alg: &str, inner: Box<dyn JweDecrypter>) -> Decrypter {
        Decrypter {
            kid: kid.into(),
            alg: alg.into(),
            inner,
        }
    }
}

/// Builds the decrypters of a provider's `decryption_keys` (already checked by the config).
pub fn decrypters(cfg: &ProviderConfig) -> Result<Vec<Decrypter>, crate::keys::KeyError> {
    cfg.decryption_keys
        .iter()
        .map(|k| {
            Ok(Decrypter::new(
                &k.kid,
                &k.alg,
                crate::keys::decrypter(k.pem.expose(), &k.alg)?,
            ))
        })
        .collect()
}

/// The JWS to verify in what the provider sent: the token itself for a provider that does not
/// encrypt, the decrypted content for one pinned to JWE.
pub fn open<'a>(provider: &Provider, token: &'a str) -> Result<Cow<'a, str>, TokenError> {
    let cfg = &provider.cfg;
    if !cfg.expects_jwe() {
        // A 5-part token is refused as malformed by the JWS header check.
        return Ok(Cow::Borrowed(token));
    }
    decrypt(
        token,
        &cfg.jwe_algs,
        &cfg.jwe_encs,
        provider.decrypters.as_slice(),
    )
    .map(Cow::Owned)
}

/// Decrypts a compact JWE with one of `keys`, after checking its header against the pins.
pub fn decrypt(
    token: &str,
    algs: &[String],
    encs: &[String],
    keys: &[Decrypter],
) -> Result<String, TokenError> {
    let parts = token.split('.').count();
    if parts == 3 {
        return Err(TokenError::NotEncrypted);
    }
    if parts != 5 || token.len() > 2 * MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    let header = header_of(token)?;
    if header.contains_key("crit") || header.contains_key("zip") {
        return Err(TokenError::Malformed);
    }
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(TokenError::Malformed)?;
    if !algs.iter().any(|a| a == alg) {
        return Err(TokenError::JweAlgNotAllowed);
    }
    let enc = header
        .get("enc")
        .and_then(Value::as_str)
        .ok_or(TokenError::Malformed)?;
    if !encs.iter().any(|e| e == enc) {
        return Err(TokenError::JweEncNotAllowed);
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) if k.len() <= 256 => Some(k.as_str()),
        Some(_) => return Err(TokenError::Malformed),
    };
    let candidates: Vec<&Decrypter> = keys
        .iter()
        .filter(|k| k.alg == alg && kid.is_none_or(|want| want == k.kid))
        .collect();
    if candidates.is_empty() {
        return Err(TokenError::JweUnknownKey);
    }
    let payload = candidates
        .iter()
        .find_map(|k| josekit::jwe::deserialize_compact(token, k.inner.as_ref()).ok())
        .map(|(payload, _)| payload)
        .ok_or(TokenError::Undecryptable)?;
    let inner = String::from_utf8(payload).map_err(|_| TokenError::Malformed)?;
    let inner = inner.trim();
    if inner.len() > MAX_TOKEN_LEN || inner.split('.').count() != 3 {
        return Err(TokenError::Malformed);
    }
    Ok(inner.to_string())
}

fn header_of(token: &str) -> Result<Map<String, Value>, TokenError> {
    let h = token.split('.').next().ok_or(TokenError::Malformed)?;
    let raw = URL_SAFE_NO_PAD
        .decode(h)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&raw).map_err(|_| TokenError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use josekit::jwe::{JweHeader, ECDH_ES, RSA_OAEP, RSA_OAEP_256};
    use josekit::jwk::Jwk;

    const JWS: &str = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJzIn0.c2ln";

    fn key(alg: &str, kid: &str) -> (Decrypter, Jwk) {
        let (pem, public) = crate::keys::generate(alg, Some(kid)).unwrap();
        let d = Decrypter {
            kid: kid.into(),
            alg: alg.into(),
            inner: crate::keys::decrypter(&pem, alg).unwrap(),
        };
        // Without `alg`: josekit would refuse to use it for another algorithm, which the
        // tests need to try.
        let mut map = public.as_object().cloned().unwrap();
        map.remove("alg");
        (d, Jwk::from_map(map).unwrap())
    }

    fn seal(payload: &str, jwk: &Jwk, alg: &str, enc: &str, kid: Option<&str>) -> String {
        let mut h = JweHeader::new();
        h.set_content_encryption(enc);
        h.set_content_type("JWT");
        if let Some(k) = kid {
            h.set_key_id(k);
        }
        let enc: Box<dyn josekit::jwe::JweEncrypter> = match alg {
            "RSA-OAEP" => Box::new(RSA_OAEP.encrypter_from_jwk(jwk).unwrap()),
            "RSA-OAEP-256" => Box::new(RSA_OAEP_256.encrypter_from_jwk(jwk).unwrap()),
            _ => Box::new(ECDH_ES.encrypter_from_jwk(jwk).unwrap()),
        };
        josekit::jwe::serialize_compact(payload.as_bytes(), &h, enc.as_ref()).unwrap()
    }

    fn pins() -> (Vec<String>, Vec<String>) {
        (
            vec!["RSA-OAEP".into(), "RSA-OAEP-256".into(), "ECDH-ES".into()],
            vec!["A256GCM".into()],
        )
    }

    #[test]
    fn each_pinned_algorithm_opens_and_gives_the_inner_jws() {
        let (algs, encs) = pins();
        for alg in ["RSA-OAEP", "RSA-OAEP-256", "ECDH-ES"] {
            let (d, jwk) = key(alg, "k1");
            let t = seal(JWS, &jwk, alg, "A256GCM", Some("k1"));
            assert_eq!(decrypt(&t, &algs, &encs, &[d]).as_deref(), Ok(JWS), "{alg}");
        }
    }

    #[test]
    fn refusals_before_and_after_decryption() {
        let (algs, encs) = pins();
        let (d, jwk) = key("ECDH-ES", "k1");
        let (_, other_jwk) = key("ECDH-ES", "k2");
        let keys = [d];
        let refused = |t: &str| decrypt(t, &algs, &encs, &keys).unwrap_err();
        assert_eq!(refused(JWS), TokenError::NotEncrypted);
        assert_eq!(
            refused(&seal(JWS, &jwk, "ECDH-ES", "A128GCM", Some("k1"))),
            TokenError::JweEncNotAllowed
        );
        assert_eq!(
            refused(&seal(JWS, &other_jwk, "ECDH-ES", "A256GCM", Some("k2"))),
            TokenError::JweUnknownKey
        );
        // Another key under our kid: the decryption fails, with one error whatever the cause.
        assert_eq!(
            refused(&seal(JWS, &other_jwk, "ECDH-ES", "A256GCM", Some("k1"))),
            TokenError::Undecryptable
        );
        // Not a JWS inside.
        assert_eq!(
            refused(&seal(
                "{\"sub\":\"s\"}",
                &jwk,
                "ECDH-ES",
                "A256GCM",
                Some("k1")
            )),
            TokenError::Malformed
        );
        let good = seal(JWS, &jwk, "ECDH-ES", "A256GCM", None);
        assert_eq!(decrypt(&good, &algs, &encs, &keys).as_deref(), Ok(JWS));
        let (_, rest) = good.split_once('.').unwrap();
        for header in [
            r#"{"alg":"RSA1_5","enc":"A256GCM"}"#,
            r#"{"alg":"dir","enc":"A256GCM"}"#,
        ] {
            let t = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header));
            assert_eq!(refused(&t), TokenError::JweAlgNotAllowed, "{header}");
        }
        for header in [
            r#"{"alg":"ECDH-ES","enc":"A256GCM","zip":"DEF"}"#,
            r#"{"alg":"ECDH-ES","enc":"A256GCM","crit":["x"]}"#,
            r#"{"alg":"ECDH-ES","enc":"A256GCM","kid":7}"#,
            "not json",
        ] {
            let t = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header));
            assert_eq!(refused(&t), TokenError::Malformed, "{header}");
        }
        assert_eq!(refused("a.b.c.d"), TokenError::Malformed);
    }

    #[test]
    fn a_key_is_used_only_for_its_own_algorithm() {
        let (algs, encs) = pins();
        let (d, jwk) = key("RSA-OAEP", "k1");
        // Same RSA key, but the JWE says RSA-OAEP-256: the configured key is RSA-OAEP only.
        let t = seal(JWS, &jwk, "RSA-OAEP-256", "A256GCM", Some("k1"));
        assert_eq!(
            decrypt(&t, &algs, &encs, &[d]),
            Err(TokenError::JweUnknownKey)
        );
    }
}
