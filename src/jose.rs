//! Every JWS signature and verification guichet makes, on ring (the library rustls already
//! uses for TLS): the identity assertion it signs ([`Es256Key`]) and the provider's tokens it
//! verifies (id_token, signed userinfo, logout token), through jsonwebtoken with this module's
//! [`PROVIDER`] as its crypto backend (claims checks stay jsonwebtoken's and
//! [`crate::oidc::jws`]'s). OpenSSL (through josekit) is left with what only it does here:
//! opening FranceConnect+'s JWE, and reading or generating key files at start-up.
//!
//! Why: the pure-Rust backend took about 0.4 ms per ES256 signature and 0.25 ms per RS256
//! verification (`cargo bench --bench assertion --bench id_token`), several times per login;
//! ring does each in tens of microseconds, and it is already linked.
//!
//! Invariants:
//! - [`install`] runs before any jsonwebtoken call (it is called by every function of guichet
//!   that reaches jsonwebtoken); without it jsonwebtoken would panic, never verify without a
//!   backend.
//! - RSA keys under 2048 bits are refused (ring's floor), as are algorithms without a ring
//!   implementation here: an error, never a pass (`tests::*`).
//!
//! # Design notes, and the tests that guard each rule
//!
//! **Crypto stacks** (`src/jose.rs`). Every JWS signature and verification runs on
//! *ring*, the library rustls (pingora's TLS, reqwest) already links: jsonwebtoken keeps the
//! token parsing and claim checks, with guichet's ring backend installed as its `CryptoProvider`
//! (`jose::install`, called on every path into jsonwebtoken), and the identity assertion is
//! signed directly with a ring `EcdsaKeyPair` loaded once ([`jose::Es256Key`]). SHA-256 (store
//! keys, PKCE, thumbprints) and the sealed logout hint (AES-256-GCM) are ring too. OpenSSL,
//! through josekit, is kept only where ring has nothing: opening FranceConnect+'s JWE (RSA-OAEP,
//! ECDH-ES, A256GCM key unwrapping) and reading or generating key files at start-up (PEM in its
//! PKCS#8, SEC1 and PKCS#1 forms, `guichet keygen`). The pure-Rust RustCrypto backend is gone: it
//! took 0.4 ms per ES256 signature and 0.26 ms per RS256 verification, ring tens of microseconds
//! (figures in `benches/README.md`). aws-lc-rs (jsonwebtoken's other
//! backend) would have been a fourth native stack next to ring and OpenSSL. The runtime image
//! needs nothing new: ring is statically linked (`deploy::binary_needs_only_what_the_runtime_image_has`).
//! Invariants: ring verifies what another library signed and the reverse, a flipped bit or the
//! wrong key family fails, RSA keys under 2048 bits are refused (`jose::tests::*`).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::crypto::{CryptoProvider, JwkUtils, JwtSigner, JwtVerifier};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::jwk::ThumbprintHash;
use jsonwebtoken::signature;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::rand::SystemRandom;
use ring::signature::{self as sig, EcdsaKeyPair, KeyPair};
use std::sync::Once;

/// jsonwebtoken's backend: ring.
pub static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    jwk_utils: JwkUtils {
        extract_rsa_public_key_components: |_| Err(ErrorKind::InvalidKeyFormat.into()),
        extract_ec_public_key_coordinates: |_, _| Err(ErrorKind::InvalidKeyFormat.into()),
        compute_digest,
    },
};

/// Makes ring jsonwebtoken's backend for this process (idempotent, cheap after the first call).
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Fails only if a backend is already installed, which only this function does.
        let _ = PROVIDER.install_default();
    });
}

fn compute_digest(data: &[u8], hash: ThumbprintHash) -> Vec<u8> {
    let alg = match hash {
        ThumbprintHash::SHA256 => &ring::digest::SHA256,
        ThumbprintHash::SHA384 => &ring::digest::SHA384,
        ThumbprintHash::SHA512 => &ring::digest::SHA512,
    };
    ring::digest::digest(alg, data).as_ref().to_vec()
}

/// A verifier for one algorithm and one key (the key is copied: jsonwebtoken makes one per
/// verification).
struct Verifier {
    alg: Algorithm,
    key: DecodingKeyKind,
}

fn new_verifier(alg: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
    if key.family() != alg.family() {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    Ok(Box::new(Verifier {
        alg: *alg,
        key: key.kind().clone(),
    }))
}

fn rsa_params(alg: Algorithm) -> Option<&'static sig::RsaParameters> {
    Some(match alg {
        Algorithm::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

impl Verifier {
    fn check(&self, msg: &[u8], signature: &[u8]) -> Result<(), ring::error::Unspecified> {
        use ring::error::Unspecified;
        let hmac = |a: ring::hmac::Algorithm, secret: &[u8]| {
            ring::hmac::verify(&ring::hmac::Key::new(a, secret), msg, signature)
        };
        match (&self.key, self.alg) {
            (DecodingKeyKind::SecretOrDer(k), Algorithm::HS256) => hmac(ring::hmac::HMAC_SHA256, k),
            (DecodingKeyKind::SecretOrDer(k), Algorithm::HS384) => hmac(ring::hmac::HMAC_SHA384, k),
            (DecodingKeyKind::SecretOrDer(k), Algorithm::HS512) => hmac(ring::hmac::HMAC_SHA512, k),
            (DecodingKeyKind::SecretOrDer(k), Algorithm::ES256) => {
                sig::UnparsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, k).verify(msg, signature)
            }
            (DecodingKeyKind::SecretOrDer(k), Algorithm::ES384) => {
                sig::UnparsedPublicKey::new(&sig::ECDSA_P384_SHA384_FIXED, k).verify(msg, signature)
            }
            (DecodingKeyKind::SecretOrDer(k), Algorithm::EdDSA) => {
                sig::UnparsedPublicKey::new(&sig::ED25519, k).verify(msg, signature)
            }
            // A PKCS#1 `RSAPublicKey` (a PEM public key).
            (DecodingKeyKind::SecretOrDer(k), alg) => {
                let params = rsa_params(alg).ok_or(Unspecified)?;
                sig::UnparsedPublicKey::new(params, k).verify(msg, signature)
            }
            // A JWK's `n` and `e`.
            (DecodingKeyKind::RsaModulusExponent { n, e }, alg) => {
                let params = rsa_params(alg).ok_or(Unspecified)?;
                sig::RsaPublicKeyComponents { n, e }.verify(params, msg, signature)
            }
        }
    }
}

impl signature::Verifier<Vec<u8>> for Verifier {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        self.check(msg, signature)
            .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for Verifier {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

/// Signing through jsonwebtoken (tests and tools; guichet's own assertion uses [`Es256Key`]):
/// HMAC and ES256.
enum Signer {
    Hmac(ring::hmac::Key, Algorithm),
    Es256(Es256Key),
}

fn new_signer(alg: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
    let hmac = |a| -> Result<Box<dyn JwtSigner>, Error> {
        let secret = key.try_get_hmac_secret()?;
        Ok(Box::new(Signer::Hmac(
            ring::hmac::Key::new(a, secret),
            *alg,
        )))
    };
    match alg {
        Algorithm::HS256 => hmac(ring::hmac::HMAC_SHA256),
        Algorithm::HS384 => hmac(ring::hmac::HMAC_SHA384),
        Algorithm::HS512 => hmac(ring::hmac::HMAC_SHA512),
        Algorithm::ES256 if key.family() == AlgorithmFamily::Ec => Ok(Box::new(Signer::Es256(
            Es256Key::from_pkcs8(key.inner()).map_err(|_| ErrorKind::InvalidEcdsaKey)?,
        ))),
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

impl signature::Signer<Vec<u8>> for Signer {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        match self {
            Signer::Hmac(k, _) => Ok(ring::hmac::sign(k, msg).as_ref().to_vec()),
            Signer::Es256(k) => k.sign(msg).map_err(|_| signature::Error::new()),
        }
    }
}

impl JwtSigner for Signer {
    fn algorithm(&self) -> Algorithm {
        match self {
            Signer::Hmac(_, a) => *a,
            Signer::Es256(_) => Algorithm::ES256,
        }
    }
}

/// An ES256 (P-256) private key, loaded once, signing with ring.
pub struct Es256Key {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
}

/// Why a key could not be loaded (no detail: key material never reaches a message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a P-256 private key (PKCS#8)")]
pub struct BadKey;

impl Es256Key {
    /// From PKCS#8 DER.
    pub fn from_pkcs8(der: &[u8]) -> Result<Es256Key, BadKey> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
            .map_err(|_| BadKey)?;
        Ok(Es256Key { pair, rng })
    }

    /// From a PKCS#8 `PRIVATE KEY` PEM block.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Es256Key, BadKey> {
        Es256Key::from_pkcs8(&pem_der(pem, "PRIVATE KEY").ok_or(BadKey)?)
    }

    /// The public point, uncompressed (`04 || x || y`).
    pub fn public_point(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// A JWS signature of `msg` (`r || s`, 64 bytes).
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, ring::error::Unspecified> {
        Ok(self.pair.sign(&self.rng, msg)?.as_ref().to_vec())
    }

    /// A compact JWS: `header_b64` (already base64url, without the dot) and the payload.
    pub fn sign_compact(&self, header_b64: &str, payload: &[u8]) -> Result<String, BadKey> {
        let mut out = String::with_capacity(header_b64.len() + 2 + payload.len() * 4 / 3 + 90);
        out.push_str(header_b64);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut out);
        let signature = self.sign(out.as_bytes()).map_err(|_| BadKey)?;
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut out);
        Ok(out)
    }
}

/// The DER inside the first `-----BEGIN {label}-----` block of `pem`.
pub fn pem_der(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = start + pem[start..].find(&end)?;
    let body: String = pem[start..stop]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    STANDARD.decode(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{Header, Validation};
    use serde_json::{json, Value};

    fn es256_pem() -> String {
        crate::keys::generate("ES256", Some("k")).unwrap().0
    }

    #[test]
    fn es256_signatures_verify_with_openssl_and_with_ring() {
        install();
        let pem = es256_pem();
        let key = Es256Key::from_pkcs8_pem(&pem).unwrap();
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256","typ":"JWT"}"#);
        let token = key.sign_compact(&header, br#"{"sub":"s"}"#).unwrap();
        // Another library (OpenSSL through josekit) accepts it.
        let pair = josekit::jwk::alg::ec::EcKeyPair::from_pem(pem.as_bytes(), None).unwrap();
        let verifier = josekit::jws::ES256
            .verifier_from_jwk(&pair.to_jwk_public_key())
            .unwrap();
        assert!(josekit::jwt::decode_with_verifier(&token, &verifier).is_ok());
        // And so does jsonwebtoken on ring, with the key as a JWK.
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_str(&pair.to_jwk_public_key().to_string()).unwrap();
        let dk = DecodingKey::from_jwk(&jwk).unwrap();
        let mut v = Validation::new(Algorithm::ES256);
        v.required_spec_claims.clear();
        v.validate_exp = false;
        let got = jsonwebtoken::decode::<Value>(&token, &dk, &v).unwrap();
        assert_eq!(got.claims, json!({"sub": "s"}));
        // A flipped bit does not verify.
        let mut bad = token.into_bytes();
        let i = bad.len() - 5;
        bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
        let bad = String::from_utf8(bad).unwrap();
        assert!(jsonwebtoken::decode::<Value>(&bad, &dk, &v).is_err());
    }

    #[test]
    fn rsa_and_hmac_tokens_verify_and_the_wrong_key_family_is_refused() {
        install();
        // RS256 made by OpenSSL (josekit), verified by ring from the JWK's n and e.
        let pair = josekit::jwk::alg::rsa::RsaKeyPair::generate(2048).unwrap();
        let signer = josekit::jws::RS256
            .signer_from_der(pair.to_der_private_key())
            .unwrap();
        let mut h = josekit::jws::JwsHeader::new();
        h.set_token_type("JWT");
        let mut p = josekit::jwt::JwtPayload::new();
        p.set_subject("s");
        let token = josekit::jwt::encode_with_signer(&p, &h, &signer).unwrap();
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_str(&pair.to_jwk_public_key().to_string()).unwrap();
        let dk = DecodingKey::from_jwk(&jwk).unwrap();
        let mut v = Validation::new(Algorithm::RS256);
        v.required_spec_claims.clear();
        v.validate_exp = false;
        assert!(jsonwebtoken::decode::<Value>(&token, &dk, &v).is_ok());
        // The same key named for PS256 does not verify an RS256 signature.
        let mut ps = Validation::new(Algorithm::PS256);
        ps.required_spec_claims.clear();
        ps.validate_exp = false;
        assert!(jsonwebtoken::decode::<Value>(&token, &dk, &ps).is_err());
        // HS256 round trip; an HMAC key never verifies an RSA token.
        let secret = DecodingKey::from_secret(b"0123456789abcdef0123456789abcdef");
        let hs = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &json!({"sub": "s"}),
            &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
        )
        .unwrap();
        let mut hv = Validation::new(Algorithm::HS256);
        hv.required_spec_claims.clear();
        hv.validate_exp = false;
        assert!(jsonwebtoken::decode::<Value>(&hs, &secret, &hv).is_ok());
        assert!(jsonwebtoken::decode::<Value>(&token, &secret, &v).is_err());
    }

    #[test]
    fn rsa_moduli_under_2048_bits_are_refused() {
        install();
        // OpenSSL will not sign with a key under 2048 bits any more: a 1024-bit modulus made
        // of the first half of a real one stands for such a key, and is refused before any
        // signature is checked.
        let pair = josekit::jwk::alg::rsa::RsaKeyPair::generate(2048).unwrap();
        let signer = josekit::jws::RS256
            .signer_from_der(pair.to_der_private_key())
            .unwrap();
        let mut p = josekit::jwt::JwtPayload::new();
        p.set_subject("s");
        let token =
            josekit::jwt::encode_with_signer(&p, &josekit::jws::JwsHeader::new(), &signer).unwrap();
        let jwk = pair.to_jwk_public_key();
        let n = URL_SAFE_NO_PAD
            .decode(jwk.parameter("n").and_then(Value::as_str).unwrap())
            .unwrap();
        let e = jwk.parameter("e").and_then(Value::as_str).unwrap();
        let short =
            DecodingKey::from_rsa_components(&URL_SAFE_NO_PAD.encode(&n[..128]), e).unwrap();
        let full = DecodingKey::from_rsa_components(&URL_SAFE_NO_PAD.encode(&n), e).unwrap();
        let mut v = Validation::new(Algorithm::RS256);
        v.required_spec_claims.clear();
        v.validate_exp = false;
        assert!(jsonwebtoken::decode::<Value>(&token, &full, &v).is_ok());
        assert!(jsonwebtoken::decode::<Value>(&token, &short, &v).is_err());
    }

    #[test]
    fn pem_blocks_and_bad_keys() {
        assert!(Es256Key::from_pkcs8_pem("no pem").is_err());
        let (rsa, _) = crate::keys::generate("RSA-OAEP", Some("k")).unwrap();
        assert!(Es256Key::from_pkcs8_pem(&rsa).is_err());
        let key = Es256Key::from_pkcs8_pem(&es256_pem()).unwrap();
        assert_eq!(key.public_point().len(), 65);
    }
}
