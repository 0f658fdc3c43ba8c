//! FranceConnect+ encryption: the relying party's public key, read from the JWKS URL the
//! relying party registered ([`MockConfig::rp_jwks_uri`]) as FranceConnect+ does, and the JWE
//! around the signed token (with the faults [`JweFault`] asks for).

use super::*;
// RSA1_5 is deprecated: the mock only sends it to show that guichet refuses it.
#[allow(deprecated)]
use josekit::jwe::RSA1_5;
use josekit::jwe::{JweEncrypter, JweHeader, ECDH_ES, ECDH_ES_A128KW, RSA_OAEP, RSA_OAEP_256};
use josekit::jwk::alg::ec::EcKeyPair;
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jwk::Jwk;

/// Key management algorithms FranceConnect+ encrypts with.
const ALGS: &[&str] = &["RSA-OAEP", "RSA-OAEP-256", "ECDH-ES"];

/// An encryption key published by the relying party.
pub(super) struct RpKey {
    /// The public JWK without its `alg` (josekit refuses to use a key for another alg, which
    /// the [`JweFault::WrongAlg`] fault needs).
    jwk: Jwk,
    alg: String,
    kid: Option<String>,
}

/// Reads the relying party's JWKS and takes its first encryption key FranceConnect+ supports.
pub(super) async fn rp_key(inner: &Inner) -> Result<RpKey, String> {
    let uri = inner
        .config
        .rp_jwks_uri
        .as_deref()
        .ok_or("no relying party JWKS URL configured")?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let resp = client.get(uri).send().await.map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("relying party JWKS: HTTP {}", resp.status()));
    }
    let doc: Value = resp.json().await.map_err(|e| e.to_string())?;
    let keys = doc["keys"].as_array().cloned().unwrap_or_default();
    keys.into_iter()
        .filter_map(|k| match k {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .filter(|m| m.get("use").is_none_or(|u| u == "enc"))
        .find_map(|mut m| {
            let alg = m.remove("alg")?.as_str()?.to_owned();
            if !ALGS.contains(&alg.as_str()) {
                return None;
            }
            let kid = m.get("kid").and_then(Value::as_str).map(str::to_owned);
            let jwk = Jwk::from_map(m).ok()?;
            Some(RpKey { jwk, alg, kid })
        })
        .ok_or_else(|| "no usable encryption key in the relying party's JWKS".to_owned())
}

/// A public key of the same type as `rp`'s that the relying party never had.
fn foreign_key(rp: &RpKey) -> Jwk {
    if rp.jwk.key_type() == "RSA" {
        RsaKeyPair::generate(2048)
            .expect("RSA 2048 key generation")
            .to_jwk_public_key()
    } else {
        EcKeyPair::generate(EcCurve::P256)
            .expect("P-256 key generation")
            .to_jwk_public_key()
    }
}

/// The JWE around `jws`, or `jws` itself with [`JweFault::NotEncrypted`]. Returns whether it
/// encrypted; an error when the relying party's key cannot be used.
pub(super) fn seal(
    jws: &str,
    rp: &RpKey,
    fault: Option<JweFault>,
) -> Result<(String, bool), String> {
    if fault == Some(JweFault::NotEncrypted) {
        return Ok((jws.to_owned(), false));
    }
    let other;
    let (jwk, alg, kid) = match fault {
        Some(JweFault::OtherKey) => {
            other = foreign_key(rp);
            (
                &other,
                rp.alg.as_str(),
                Some(format!("other-{}", random_hex(4))),
            )
        }
        Some(JweFault::OtherKeySameKid) => {
            other = foreign_key(rp);
            (&other, rp.alg.as_str(), rp.kid.clone())
        }
        Some(JweFault::WrongAlg) if rp.jwk.key_type() == "RSA" => {
            (&rp.jwk, "RSA1_5", rp.kid.clone())
        }
        Some(JweFault::WrongAlg) => (&rp.jwk, "ECDH-ES+A128KW", rp.kid.clone()),
        _ => (&rp.jwk, rp.alg.as_str(), rp.kid.clone()),
    };
    let enc = if fault == Some(JweFault::WrongEnc) {
        "A128GCM"
    } else {
        "A256GCM"
    };
    let mut header = JweHeader::new();
    header.set_content_encryption(enc);
    header.set_content_type("JWT");
    if let Some(k) = kid {
        header.set_key_id(k);
    }
    let bad = |e: josekit::JoseError| format!("cannot encrypt to the relying party's key: {e}");
    let encrypter: Box<dyn JweEncrypter> = match alg {
        "RSA-OAEP" => Box::new(RSA_OAEP.encrypter_from_jwk(jwk).map_err(bad)?),
        "RSA-OAEP-256" => Box::new(RSA_OAEP_256.encrypter_from_jwk(jwk).map_err(bad)?),
        #[allow(deprecated)]
        "RSA1_5" => Box::new(RSA1_5.encrypter_from_jwk(jwk).map_err(bad)?),
        "ECDH-ES+A128KW" => Box::new(ECDH_ES_A128KW.encrypter_from_jwk(jwk).map_err(bad)?),
        _ => Box::new(ECDH_ES.encrypter_from_jwk(jwk).map_err(bad)?),
    };
    let jwe = josekit::jwe::serialize_compact(jws.as_bytes(), &header, encrypter.as_ref())
        .map_err(bad)?;
    Ok((jwe, true))
}
