//! guichet's own key pairs: generation (`guichet keygen`) and the public JWK of a private key,
//! for the two uses guichet has: signing the assertion it sends upstream (`sig`, ES256) and
//! receiving tokens encrypted by FranceConnect+ (`enc`, RSA-OAEP / RSA-OAEP-256 / ECDH-ES).
//!
//! Invariant: a public JWK built here never carries private members (`d`, `p`, `q`, ...).
//!
//! # Design notes, and the tests that guard each rule
//!
//! ## `src/keys.rs`
//! guichet's own key pairs: `guichet keygen --alg ES256|RSA-OAEP|RSA-OAEP-256|ECDH-ES` and the
//! public JWK of a private key (with `kid`, `use`, `alg`) for `/.guichet/jwks.json`, which the
//! gateway serves from the list `server::build` assembles (assertion keys from the [`Signer`]
//! first, `use: sig`; FranceConnect+ decryption keys, `use: enc`; also on the metrics listener with
//! `[headers] jwks_on_metrics`); the JWE decrypter of an encryption key (RSA 2048+ or EC P-256). A
//! key file may hold `keygen`'s whole output (`keys::tests::keygen_output_loads_as_it_is`).
//! **Invariant.** Published JWKs carry no private member
//! (`keys::tests::generated_keys_publish_only_public_members`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwe::JweDecrypter;
use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jwk::{Jwk, KeyPair};
use serde_json::Value;

/// What a key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    Sig,
    Enc,
}

impl KeyUse {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyUse::Sig => "sig",
            KeyUse::Enc => "enc",
        }
    }
}

/// Algorithms guichet can make keys for, and their key type.
pub const ALGS: &[(&str, KeyUse)] = &[
    ("ES256", KeyUse::Sig),
    ("RSA-OAEP", KeyUse::Enc),
    ("RSA-OAEP-256", KeyUse::Enc),
    ("ECDH-ES", KeyUse::Enc),
];

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("unsupported algorithm {0:?} (supported: ES256, RSA-OAEP, RSA-OAEP-256, ECDH-ES; A256GCM for a sealing key)")]
    Algorithm(String),
    #[error("not a {0} private key in PEM form")]
    Pem(&'static str),
    #[error("key generation failed: {0}")]
    Generate(String),
}

fn is_rsa(alg: &str) -> bool {
    alg.starts_with("RSA")
}

fn use_of(alg: &str) -> Result<KeyUse, KeyError> {
    ALGS.iter()
        .find(|(a, _)| *a == alg)
        .map(|(_, u)| *u)
        .ok_or_else(|| KeyError::Algorithm(alg.into()))
}

/// A new key pair for `alg`: the private key as PKCS#8 PEM and the public JWK (with `kid`,
/// `use` and `alg`). The `kid` defaults to the key's RFC 7638 thumbprint.
pub fn generate(alg: &str, kid: Option<&str>) -> Result<(String, Value), KeyError> {
    use_of(alg)?;
    let pem = if is_rsa(alg) {
        RsaKeyPair::generate(3072)
            .map_err(|e| KeyError::Generate(e.to_string()))?
            .to_pem_private_key()
    } else {
        EcKeyPair::generate(EcCurve::P256)
            .map_err(|e| KeyError::Generate(e.to_string()))?
            .to_pem_private_key()
    };
    let pem = String::from_utf8(pem).map_err(|e| KeyError::Generate(e.to_string()))?;
    let jwk = public_jwk(&pem, alg, kid)?;
    Ok((pem, jwk))
}

/// The public JWK of a PEM private key, for publication at `/.guichet/jwks.json`.
pub fn public_jwk(private_pem: &str, alg: &str, kid: Option<&str>) -> Result<Value, KeyError> {
    let private_pem = pem_block(private_pem);
    let key_use = use_of(alg)?;
    let mut jwk: Jwk = if is_rsa(alg) {
        RsaKeyPair::from_pem(private_pem.as_bytes())
            .map_err(|_| KeyError::Pem("RSA"))?
            .to_jwk_public_key()
    } else {
        EcKeyPair::from_pem(private_pem.as_bytes(), Some(EcCurve::P256))
            .map_err(|_| KeyError::Pem("EC P-256"))?
            .to_jwk_public_key()
    };
    jwk.set_algorithm(alg);
    jwk.set_key_use(key_use.as_str());
    let kid = match kid {
        Some(k) => k.to_string(),
        None => thumbprint(&jwk),
    };
    jwk.set_key_id(kid);
    let value: Value =
        serde_json::from_str(&jwk.to_string()).map_err(|e| KeyError::Generate(e.to_string()))?;
    Ok(strip_private(value))
}

/// The assertion's signing key: an EC P-256 private key (PKCS#8 `PRIVATE KEY` or SEC1 `EC
/// PRIVATE KEY` PEM, alone or followed by `guichet keygen`'s public JWK) as PKCS#8 PEM, with
/// its public JWK (`use: sig`, `alg: ES256`, thumbprint `kid`).
pub fn load_signing_key(pem: &str) -> Result<(String, Value), KeyError> {
    let pem = pem_block(pem);
    let pair = EcKeyPair::from_pem(pem.as_bytes(), Some(EcCurve::P256))
        .map_err(|_| KeyError::Pem("EC P-256"))?;
    let pkcs8 = String::from_utf8(pair.to_pem_private_key())
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    let jwk = public_jwk(&pkcs8, "ES256", None)?;
    Ok((pkcs8, jwk))
}

/// A JWE decrypter for one of guichet's encryption keys (FranceConnect+): `alg` is pinned in
/// the decrypter, so a JWE naming another algorithm is refused by it.
pub fn decrypter(private_pem: &str, alg: &str) -> Result<Box<dyn JweDecrypter>, KeyError> {
    let private_pem = pem_block(private_pem);
    use josekit::jwe::{ECDH_ES, RSA_OAEP, RSA_OAEP_256};
    let rsa_err = |_| KeyError::Pem("RSA (2048 bits or more)");
    Ok(match alg {
        "RSA-OAEP" => Box::new(RSA_OAEP.decrypter_from_pem(private_pem).map_err(rsa_err)?),
        "RSA-OAEP-256" => Box::new(
            RSA_OAEP_256
                .decrypter_from_pem(private_pem)
                .map_err(rsa_err)?,
        ),
        "ECDH-ES" => {
            // Only P-256: the curve FranceConnect+ uses (and the one `keygen` makes).
            EcKeyPair::from_pem(private_pem.as_bytes(), Some(EcCurve::P256))
                .map_err(|_| KeyError::Pem("EC P-256"))?;
            Box::new(
                ECDH_ES
                    .decrypter_from_pem(private_pem)
                    .map_err(|_| KeyError::Pem("EC P-256"))?,
            )
        }
        other => return Err(KeyError::Algorithm(other.into())),
    })
}

/// The first `-----BEGIN ...-----` to `-----END ...-----` block of `text`, so that a file made
/// with `guichet keygen > key.pem` (the PEM, then the public JWK line) loads as it is.
fn pem_block(text: &str) -> &str {
    let Some(start) = text.find("-----BEGIN ") else {
        return text;
    };
    let rest = &text[start..];
    match rest.find("-----END ") {
        Some(end) => {
            let after = &rest[end + 9..];
            let close = after.find("-----").map_or(after.len(), |i| i + 5);
            &rest[..end + 9 + close]
        }
        None => rest,
    }
}

/// RFC 7638 thumbprint (SHA-256, base64url) of an EC or RSA public key.
fn thumbprint(jwk: &Jwk) -> String {
    let member = |n: &str| {
        jwk.parameter(n)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let canonical = match jwk.key_type() {
        "RSA" => format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            member("e"),
            member("n")
        ),
        _ => format!(
            r#"{{"crv":"{}","kty":"{}","x":"{}","y":"{}"}}"#,
            member("crv"),
            jwk.key_type(),
            member("x"),
            member("y")
        ),
    };
    URL_SAFE_NO_PAD.encode(crate::crypto::sha256(canonical.as_bytes()))
}

/// Removes every private member a JWK could carry.
fn strip_private(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        for k in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            o.remove(k);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_load_from_pkcs8_or_sec1_and_nothing_else() {
        let (pem, jwk) = generate("ES256", None).unwrap();
        let pair = EcKeyPair::from_pem(pem.as_bytes(), Some(EcCurve::P256)).unwrap();
        let sec1 = String::from_utf8(pair.to_traditional_pem_private_key()).unwrap();
        assert!(sec1.contains("EC PRIVATE KEY"));
        assert_eq!(load_signing_key(&pem).unwrap().1["kid"], jwk["kid"]);
        assert_eq!(load_signing_key(&sec1).unwrap().1["kid"], jwk["kid"]);
        // `guichet keygen > key.pem` writes the PEM then the public JWK: accepted as is.
        let keygen_output = format!("{pem}{jwk}\n");
        assert_eq!(
            load_signing_key(&keygen_output).unwrap().1["kid"],
            jwk["kid"]
        );
        let (rsa, _) = generate("RSA-OAEP", None).unwrap();
        assert!(load_signing_key(&rsa).is_err());
        assert!(load_signing_key("not a key").is_err());
    }

    #[test]
    fn generated_keys_publish_only_public_members() {
        for (alg, key_use) in ALGS {
            let (pem, jwk) = generate(alg, None).unwrap_or_else(|e| panic!("{alg}: {e}"));
            assert!(pem.contains("PRIVATE KEY"));
            assert_eq!(jwk["alg"], *alg);
            assert_eq!(jwk["use"], key_use.as_str());
            assert!(jwk["kid"].as_str().is_some_and(|k| k.len() == 43));
            for private in ["d", "p", "q", "dp", "dq", "qi"] {
                assert!(jwk.get(private).is_none(), "{alg} leaks {private}");
            }
            // The same PEM gives the same public JWK (stable kid).
            assert_eq!(public_jwk(&pem, alg, None).unwrap(), jwk);
        }
    }

    #[test]
    fn keygen_output_loads_as_it_is() {
        for alg in ["ECDH-ES", "RSA-OAEP"] {
            let (pem, jwk) = generate(alg, Some("k")).unwrap();
            // What `guichet keygen > key.pem` writes: the PEM, then the JWK line.
            let file = format!("{pem}{jwk}\n");
            assert_eq!(public_jwk(&file, alg, Some("k")).unwrap(), jwk, "{alg}");
            assert!(decrypter(&file, alg).is_ok(), "{alg}");
        }
        assert_eq!(pem_block("no pem here"), "no pem here");
    }

    #[test]
    fn wrong_key_type_or_algorithm_is_an_error() {
        let (ec_pem, _) = generate("ES256", Some("k1")).unwrap();
        assert!(matches!(
            public_jwk(&ec_pem, "RSA-OAEP", None),
            Err(KeyError::Pem(_))
        ));
        assert!(matches!(
            generate("HS256", None),
            Err(KeyError::Algorithm(_))
        ));
        assert_eq!(
            public_jwk(&ec_pem, "ES256", Some("k1")).unwrap()["kid"],
            "k1"
        );
    }
}
