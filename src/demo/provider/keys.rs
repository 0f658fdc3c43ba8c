//! Signing keys of the mock and compact JWS encoding (including the deliberately broken
//! encodings the fault switches ask for).

use super::*;

#[derive(Clone)]
pub(super) enum KeySigner {
    Es(josekit::jws::alg::ecdsa::EcdsaJwsSigner),
    Rs(josekit::jws::alg::rsassa::RsassaJwsSigner),
}

#[derive(Clone)]
pub(super) struct SigningKey {
    pub(super) kid: String,
    pub(super) alg: &'static str,
    signer: KeySigner,
    pub(super) public_jwk: Value,
    pub(super) public_pem: Vec<u8>,
}

impl SigningKey {
    /// A fresh key for this flavour. Key generation failing is an internal invariant broken
    /// (OpenSSL unusable), not a request error.
    pub(super) fn generate(flavour: Flavour) -> SigningKey {
        let kid = random_hex(8);
        let (alg, signer, jwk, pem) = match flavour {
            // FranceConnect v1 signs with the client secret; its key pair is never published.
            Flavour::FranceConnectV2 | Flavour::FranceConnectPlus | Flavour::FranceConnectV1 => {
                let kp = josekit::jwk::alg::ec::EcKeyPair::generate(EcCurve::P256)
                    .expect("P-256 key generation");
                let signer = ES256
                    .signer_from_der(kp.to_der_private_key())
                    .expect("ES256 signer from fresh key");
                (
                    "ES256",
                    KeySigner::Es(signer),
                    kp.to_jwk_public_key(),
                    kp.to_pem_public_key(),
                )
            }
            Flavour::Generic | Flavour::MConnect => {
                let kp = RS256
                    .generate_key_pair(2048)
                    .expect("RSA 2048 key generation");
                let signer = RS256
                    .signer_from_der(kp.to_der_private_key())
                    .expect("RS256 signer from fresh key");
                (
                    "RS256",
                    KeySigner::Rs(signer),
                    kp.to_jwk_public_key(),
                    kp.to_pem_public_key(),
                )
            }
        };
        let mut public_jwk = Value::Object(jwk.into());
        if let Value::Object(m) = &mut public_jwk {
            m.insert("kid".into(), Value::String(kid.clone()));
            m.insert("alg".into(), Value::String(alg.into()));
            m.insert("use".into(), Value::String("sig".into()));
        }
        SigningKey {
            kid,
            alg,
            signer,
            public_jwk,
            public_pem: pem,
        }
    }

    fn sign(&self, input: &[u8]) -> Vec<u8> {
        let r = match &self.signer {
            KeySigner::Es(s) => s.sign(input),
            KeySigner::Rs(s) => s.sign(input),
        };
        r.expect("signing with an in-memory key")
    }
}

/// How to sign a JWS.
pub(super) enum Signing<'a> {
    Key(&'a SigningKey),
    None,
    /// HS256 keyed with this key's public PEM, header `kid` of this key.
    HsConfusion(&'a SigningKey),
    /// HS256 keyed with the client secret, no `kid` (FranceConnect v1).
    Secret(&'a [u8]),
}

pub(super) fn encode_jws(typ: &str, claims: &Value, signing: Signing<'_>, corrupt: bool) -> String {
    encode_jws_payload(typ, claims.to_string().as_bytes(), signing, corrupt)
}

/// [`encode_jws`] with the payload as bytes (which need not be valid JSON, or UTF-8).
pub(super) fn encode_jws_payload(
    typ: &str,
    payload: &[u8],
    signing: Signing<'_>,
    corrupt: bool,
) -> String {
    let mut header = match &signing {
        Signing::Key(k) => json!({"alg": k.alg, "kid": k.kid, "typ": typ}),
        Signing::None => json!({"alg": "none", "typ": typ}),
        Signing::HsConfusion(k) => json!({"alg": "HS256", "kid": k.kid, "typ": typ}),
        Signing::Secret(_) => json!({"alg": "HS256", "typ": typ}),
    };
    // An empty `typ` means none (the header is optional).
    if typ.is_empty() {
        if let Some(h) = header.as_object_mut() {
            h.remove("typ");
        }
    }
    let mut out = URL_SAFE_NO_PAD.encode(header.to_string());
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(payload));
    let mut sig = match signing {
        Signing::Key(k) => k.sign(out.as_bytes()),
        Signing::None => Vec::new(),
        Signing::HsConfusion(k) => HS256
            .signer_from_bytes(&k.public_pem)
            .and_then(|s| s.sign(out.as_bytes()))
            .expect("HMAC with a PEM key"),
        Signing::Secret(secret) => HS256
            .signer_from_bytes(secret)
            .and_then(|s| s.sign(out.as_bytes()))
            .expect("HMAC with the client secret"),
    };
    if corrupt {
        if let Some(b) = sig.first_mut() {
            *b ^= 0x01;
        }
        if let Some(b) = sig.last_mut() {
            *b ^= 0x80;
        }
    }
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(&sig));
    out
}
