//! The cryptographic pins of a `[[providers]]` entry: the JWS algorithms its tokens may be
//! signed with, and for FranceConnect+ the JWE algorithms and guichet's decryption keys.
//!
//! Invariants (tests in `config::tests`): HMAC only for FranceConnect v1, alone, without a
//! `jwks_uri`, with a secret as long as the hash; JWE pins come with at least one key that
//! loads, each key's `alg` pinned. The pins and the keys are parts [`super::provider`] assembles;
//! nothing here knows a whole provider.

use super::file::{self, DecryptionKeySection};
use super::presets::Preset;
use super::{ConfigError, Secret, Validator};
use crate::vocab::Flavour;
use jsonwebtoken::Algorithm;
use serde::Serialize;

/// JWE key management algorithms guichet can decrypt.
pub const JWE_ALGS: &[&str] = &["RSA-OAEP", "RSA-OAEP-256", "ECDH-ES"];
/// JWE content encryption algorithms guichet can decrypt.
pub const JWE_ENCS: &[&str] = &[
    "A128GCM",
    "A192GCM",
    "A256GCM",
    "A128CBC-HS256",
    "A192CBC-HS384",
    "A256CBC-HS512",
];

/// A private key a provider encrypts tokens to (FranceConnect+).
#[derive(Debug, Clone, Serialize)]
pub struct DecryptionKey {
    pub alg: String,
    pub kid: String,
    /// The PEM private key.
    #[serde(rename = "key")]
    pub pem: Secret,
    /// The public JWK published at `/.guichet/jwks.json` (`use: enc`, `alg`, `kid`).
    #[serde(skip)]
    pub public_jwk: serde_json::Value,
}

/// `jwe_algs`, `jwe_encs`, `decryption_keys`, validated together.
type Encryption = (Vec<String>, Vec<String>, Vec<DecryptionKey>);

pub(super) fn is_hmac(a: Algorithm) -> bool {
    matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

/// Bytes of secret an HMAC algorithm needs (RFC 7518 3.2: at least the hash size).
fn hmac_key_len(a: Algorithm) -> usize {
    match a {
        Algorithm::HS384 => 48,
        Algorithm::HS512 => 64,
        _ => 32,
    }
}

impl Validator {
    /// The pinned JWS algorithms, with the HMAC rules.
    pub(super) fn signature_algs(
        &self,
        key: &dyn Fn(&str) -> String,
        p: &file::ProviderSection,
        preset: &Preset,
        secret: &Secret,
        jwks_uri: Option<&str>,
    ) -> Result<Vec<Algorithm>, ConfigError> {
        let names: Vec<String> = match &p.id_token_algs {
            Some(a) => a.clone(),
            None => preset.id_token_algs.iter().map(|s| s.to_string()).collect(),
        };
        let mut algs = Vec::new();
        for a in &names {
            let alg: Algorithm = a.parse().map_err(|_| {
                self.err(
                    key("id_token_algs"),
                    format!("{a:?} is not a JWS algorithm"),
                )
            })?;
            if !algs.contains(&alg) {
                algs.push(alg);
            }
        }
        if algs.is_empty() {
            return Err(self.err(key("id_token_algs"), "at least one algorithm is required"));
        }
        let hmac: Vec<Algorithm> = algs.iter().copied().filter(|a| is_hmac(*a)).collect();
        if hmac.is_empty() {
            return Ok(algs);
        }
        if preset.flavour != Flavour::FranceConnectV1 {
            return Err(self.err(
                key("id_token_algs"),
                format!(
                    "{:?} (shared-secret signatures) is refused for preset {:?}; only the \
                     FranceConnect v1 presets sign with the client secret",
                    hmac[0], p.preset
                ),
            ));
        }
        if hmac.len() != algs.len() {
            return Err(self.err(
                key("id_token_algs"),
                "shared-secret and public-key algorithms cannot be accepted together \
                 (algorithm confusion)",
            ));
        }
        if jwks_uri.is_some() {
            return Err(self.err(
                key("jwks_uri"),
                "a provider signing with the client secret has no keys to fetch",
            ));
        }
        let need = hmac.iter().map(|a| hmac_key_len(*a)).max().unwrap_or(32);
        if secret.expose().len() < need {
            return Err(self.err(
                key("client_secret"),
                format!(
                    "{} is shorter than the {need} bytes {:?} needs as an HMAC key",
                    secret.source(),
                    hmac[hmac.len() - 1]
                ),
            ));
        }
        Ok(algs)
    }

    /// `jwe_algs`, `jwe_encs` and `decryption_keys`.
    pub(super) fn encryption(
        &self,
        key: &dyn Fn(&str) -> String,
        p: &file::ProviderSection,
        preset: &Preset,
    ) -> Result<Encryption, ConfigError> {
        let list = |given: &Option<Vec<String>>, default: &[&str], known: &[&str], k: &str| {
            let v: Vec<String> = match given {
                Some(v) => v.clone(),
                None => default.iter().map(|s| s.to_string()).collect(),
            };
            match v.iter().find(|a| !known.contains(&a.as_str())) {
                Some(bad) => Err(self.err(
                    key(k),
                    format!("{bad:?} is not supported; known: {}", known.join(", ")),
                )),
                None => Ok(v),
            }
        };
        let algs = list(&p.jwe_algs, preset.jwe_algs, JWE_ALGS, "jwe_algs")?;
        let encs = list(&p.jwe_encs, preset.jwe_encs, JWE_ENCS, "jwe_encs")?;
        let sections: &[DecryptionKeySection] = p.decryption_keys.as_deref().unwrap_or(&[]);
        if algs.is_empty() {
            if !sections.is_empty() {
                return Err(self.err(
                    key("decryption_keys"),
                    "given but jwe_algs is empty: this provider does not encrypt",
                ));
            }
            return Ok((algs, encs, Vec::new()));
        }
        if encs.is_empty() {
            return Err(self.err(key("jwe_encs"), "at least one is required with jwe_algs"));
        }
        if sections.is_empty() {
            return Err(self.err(
                key("decryption_keys"),
                "required: this provider encrypts tokens to guichet \
                 (make one with `guichet keygen --alg RSA-OAEP`)",
            ));
        }
        let mut keys: Vec<DecryptionKey> = Vec::new();
        for (j, s) in sections.iter().enumerate() {
            let k = |f: &str| key(&format!("decryption_keys[{j}].{f}"));
            if !algs.contains(&s.alg) {
                return Err(self.err(
                    k("alg"),
                    format!("{:?} is not one of jwe_algs ({})", s.alg, algs.join(", ")),
                ));
            }
            if let Some(kid) = &s.kid {
                if kid.is_empty() || kid.len() > 128 || !kid.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(self.err(k("kid"), "must be 1-128 printable ASCII characters"));
                }
            }
            let pem = Secret::load(&s.key).map_err(|e| self.err(k("key"), e.to_string()))?;
            let bad_key =
                |e: crate::keys::KeyError| self.err(k("key"), format!("{}: {e}", pem.source()));
            crate::keys::decrypter(pem.expose(), &s.alg).map_err(bad_key)?;
            let public_jwk =
                crate::keys::public_jwk(pem.expose(), &s.alg, s.kid.as_deref()).map_err(bad_key)?;
            let kid = public_jwk["kid"].as_str().unwrap_or_default().to_string();
            if keys.iter().any(|o| o.kid == kid) {
                return Err(self.err(
                    k("kid"),
                    format!("{kid:?} is used by two keys of this provider"),
                ));
            }
            keys.push(DecryptionKey {
                alg: s.alg.clone(),
                kid,
                pem,
                public_jwk,
            });
        }
        Ok((algs, encs, keys))
    }
}
