//! Verification of the provider's signed tokens (id_token, signed userinfo): algorithm
//! pinned per provider, key from the provider's JWKS (or, for FranceConnect v1 only, the
//! client secret), then every claim check of OpenID Connect Core 3.1.3.7 that applies.
//! Encrypted tokens are opened first by [`super::jwe`]; the JWS inside is verified here.
//! Signatures are checked by ring ([`crate::jose`]).
//!
//! Invariants (each guarded by a test in `tests/login_security.rs`):
//! - The header's `alg` must be in the provider's pinned list *before* any key is chosen:
//!   `none`, and HMAC with a public key (algorithm confusion), never reach a verifier. HMAC is
//!   keyed with the client secret only, and only a provider pinned to HMAC alone (FranceConnect
//!   v1, enforced by the configuration) gets there.
//! - `iss` is compared exactly; `aud` must contain the client id; with several audiences `azp`
//!   must be the client id; `exp` and `iat` are checked with the configured skew.
//! - `nonce` is compared in constant time with the one stored for this login.

use super::Provider;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use std::collections::HashSet;

/// Largest token accepted.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Why a signed token was refused (bounded set: used as a metrics label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("algorithm not allowed for this provider")]
    AlgorithmNotAllowed,
    #[error("no provider key matches the token")]
    UnknownKey,
    #[error("bad signature")]
    BadSignature,
    #[error("wrong issuer")]
    Issuer,
    #[error("wrong audience")]
    Audience,
    #[error("several audiences and azp is not the client")]
    Azp,
    #[error("expired")]
    Expired,
    #[error("not valid yet")]
    NotYetValid,
    #[error("issued in the future")]
    IssuedInFuture,
    #[error("issued too long ago")]
    TooOld,
    #[error("nonce does not match this login")]
    Nonce,
    #[error("assurance level lower than requested")]
    Acr,
    #[error("a required claim is missing")]
    MissingClaim,
    #[error("sub differs from the id_token's")]
    SubMismatch,
    #[error("not encrypted, but the provider is pinned to encrypted tokens")]
    NotEncrypted,
    #[error("encryption algorithm not allowed for this provider")]
    JweAlgNotAllowed,
    #[error("content encryption not allowed for this provider")]
    JweEncNotAllowed,
    #[error("encrypted to a key guichet does not have")]
    JweUnknownKey,
    #[error("cannot be decrypted")]
    Undecryptable,
}

impl TokenError {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenError::Malformed => "malformed",
            TokenError::AlgorithmNotAllowed => "alg_not_allowed",
            TokenError::UnknownKey => "unknown_key",
            TokenError::BadSignature => "bad_signature",
            TokenError::Issuer => "wrong_issuer",
            TokenError::Audience => "wrong_audience",
            TokenError::Azp => "wrong_azp",
            TokenError::Expired => "expired",
            TokenError::NotYetValid => "not_yet_valid",
            TokenError::IssuedInFuture => "iat_in_future",
            TokenError::TooOld => "too_old",
            TokenError::Nonce => "nonce_mismatch",
            TokenError::Acr => "acr_too_low",
            TokenError::MissingClaim => "missing_claim",
            TokenError::SubMismatch => "sub_mismatch",
            TokenError::NotEncrypted => "not_encrypted",
            TokenError::JweAlgNotAllowed => "jwe_alg_not_allowed",
            TokenError::JweEncNotAllowed => "jwe_enc_not_allowed",
            TokenError::JweUnknownKey => "jwe_unknown_key",
            TokenError::Undecryptable => "jwe_undecryptable",
        }
    }
}

/// How old an id_token's `iat` may be (beyond the skew): it was just issued by the token
/// endpoint, so anything older is a replay.
const MAX_ID_TOKEN_AGE: u64 = 300;

/// What a token must satisfy besides its signature.
pub struct Expect<'a> {
    /// `exp` and `iat` required (id_token) or only checked when present (userinfo).
    pub require_times: bool,
    /// `aud` required (id_token) or only checked when present (userinfo).
    pub require_aud: bool,
    pub nonce: Option<&'a str>,
    pub now: u64,
}

/// Verifies a compact JWS from `provider` and returns its claims.
pub async fn verify(
    provider: &Provider,
    token: &str,
    expect: &Expect<'_>,
) -> Result<Map<String, Value>, TokenError> {
    crate::jose::install();
    let cfg = &provider.cfg;
    let (alg, kid) = pinned_header(token, &cfg.id_token_algs)?;
    let keys: Vec<DecodingKey> = if is_hmac(alg) {
        // Only reachable for FranceConnect v1: the configuration refuses HMAC in any other
        // provider's pinned list, and HMAC next to a public-key algorithm.
        vec![DecodingKey::from_secret(
            cfg.client_secret.expose().as_bytes(),
        )]
    } else {
        let endpoints = provider.endpoints();
        let jwks_uri = endpoints.as_ref().and_then(|e| e.jwks_uri.as_deref());
        provider
            .jwks
            .keys_for(provider.http(), jwks_uri, kid.as_deref(), alg)
            .await
            .iter()
            .map(|k| k.key.clone())
            .collect()
    };
    if keys.is_empty() {
        return Err(TokenError::UnknownKey);
    }
    let mut validation = Validation::new(alg);
    validation.leeway = cfg.clock_skew.as_secs();
    validation.set_issuer(&[&cfg.issuer]);
    validation.validate_nbf = true;
    let mut required: HashSet<String> = ["iss", "sub"].iter().map(|s| s.to_string()).collect();
    if expect.require_times {
        required.insert("exp".into());
    } else {
        validation.validate_exp = false;
    }
    if expect.require_aud {
        required.insert("aud".into());
    }
    validation.required_spec_claims = required;
    validation.set_audience(&[&cfg.client_id]);
    // Tokens without `aud` pass jsonwebtoken when it is not required; then we accept only
    // tokens with no audience at all (userinfo), never one naming someone else.
    let mut last = TokenError::BadSignature;
    for key in &keys {
        match jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation) {
            Ok(data) => {
                check_claims(
                    &data.claims,
                    cfg.client_id.as_str(),
                    cfg.clock_skew.as_secs(),
                    expect,
                )?;
                return Ok(data.claims);
            }
            Err(e) => {
                last = map_error(e.kind());
                if last != TokenError::BadSignature {
                    return Err(last);
                }
            }
        }
    }
    Err(last)
}

/// Reads the protected header and refuses any algorithm outside `allowed` before anything
/// else happens. Returns the algorithm and the `kid`.
pub fn pinned_header(
    token: &str,
    allowed: &[Algorithm],
) -> Result<(Algorithm, Option<String>), TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let raw = URL_SAFE_NO_PAD
        .decode(h)
        .map_err(|_| TokenError::Malformed)?;
    let header: Map<String, Value> =
        serde_json::from_slice(&raw).map_err(|_| TokenError::Malformed)?;
    if header.contains_key("crit") {
        // No extension is understood, so a critical one must be refused (RFC 7515 4.1.11).
        return Err(TokenError::Malformed);
    }
    let alg_name = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(TokenError::Malformed)?;
    let alg = allowed
        .iter()
        .copied()
        .find(|a| alg_label(*a) == alg_name)
        .ok_or(TokenError::AlgorithmNotAllowed)?;
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) if k.len() <= 256 => Some(k.clone()),
        Some(_) => return Err(TokenError::Malformed),
    };
    Ok((alg, kid))
}

fn is_hmac(a: Algorithm) -> bool {
    matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

fn alg_label(a: Algorithm) -> &'static str {
    match a {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::EdDSA => "EdDSA",
    }
}

fn map_error(kind: &jsonwebtoken::errors::ErrorKind) -> TokenError {
    use jsonwebtoken::errors::ErrorKind as K;
    match kind {
        K::InvalidSignature => TokenError::BadSignature,
        K::ExpiredSignature => TokenError::Expired,
        K::ImmatureSignature => TokenError::NotYetValid,
        K::InvalidIssuer => TokenError::Issuer,
        K::InvalidAudience => TokenError::Audience,
        K::InvalidAlgorithm => TokenError::AlgorithmNotAllowed,
        K::MissingRequiredClaim(_) => TokenError::MissingClaim,
        _ => TokenError::Malformed,
    }
}

/// The checks jsonwebtoken does not do: `iat`, `azp`, `nonce`.
fn check_claims(
    claims: &Map<String, Value>,
    client_id: &str,
    skew: u64,
    expect: &Expect<'_>,
) -> Result<(), TokenError> {
    if !claims.get("sub").is_some_and(Value::is_string) {
        return Err(TokenError::MissingClaim);
    }
    match claims.get("iat") {
        Some(v) => {
            let iat = v.as_u64().ok_or(TokenError::Malformed)?;
            if iat > expect.now + skew {
                return Err(TokenError::IssuedInFuture);
            }
            if expect.require_times && iat + MAX_ID_TOKEN_AGE + skew < expect.now {
                return Err(TokenError::TooOld);
            }
        }
        None if expect.require_times => return Err(TokenError::MissingClaim),
        None => {}
    }
    let azp = claims.get("azp");
    if let Some(Value::Array(auds)) = claims.get("aud") {
        if auds.len() > 1 && azp.and_then(Value::as_str) != Some(client_id) {
            return Err(TokenError::Azp);
        }
    }
    if let Some(azp) = azp {
        if azp.as_str() != Some(client_id) {
            return Err(TokenError::Azp);
        }
    }
    if let Some(expected) = expect.nonce {
        let got = claims
            .get("nonce")
            .and_then(Value::as_str)
            .ok_or(TokenError::Nonce)?;
        if !crate::crypto::constant_time_eq(got.as_bytes(), expected.as_bytes()) {
            return Err(TokenError::Nonce);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn token_with_header(h: Value) -> String {
        format!("{}.e30.c2ln", URL_SAFE_NO_PAD.encode(h.to_string()))
    }

    #[test]
    fn alg_none_and_hmac_are_refused_before_any_key_lookup() {
        let pinned = [Algorithm::ES256, Algorithm::RS256];
        for alg in ["none", "None", "HS256", "HS512", "ES512", ""] {
            let t = token_with_header(json!({"alg": alg, "kid": "k"}));
            assert_eq!(
                pinned_header(&t, &pinned),
                Err(TokenError::AlgorithmNotAllowed),
                "{alg}"
            );
        }
        let t = token_with_header(json!({"alg": "ES256", "kid": "k"}));
        assert_eq!(
            pinned_header(&t, &pinned),
            Ok((Algorithm::ES256, Some("k".into())))
        );
    }

    #[test]
    fn malformed_headers() {
        let pinned = [Algorithm::ES256];
        assert_eq!(pinned_header("a.b", &pinned), Err(TokenError::Malformed));
        assert_eq!(
            pinned_header("a.b.c.d.e", &pinned),
            Err(TokenError::Malformed)
        );
        assert_eq!(pinned_header("!!.b.c", &pinned), Err(TokenError::Malformed));
        let t = token_with_header(json!({"alg": "ES256", "crit": ["exp"]}));
        assert_eq!(pinned_header(&t, &pinned), Err(TokenError::Malformed));
        let t = token_with_header(json!({"alg": "ES256", "kid": 7}));
        assert_eq!(pinned_header(&t, &pinned), Err(TokenError::Malformed));
    }

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn expect(nonce: &str) -> Expect<'_> {
        Expect {
            require_times: true,
            require_aud: true,
            nonce: Some(nonce),
            now: 10_000,
        }
    }

    #[test]
    fn iat_azp_nonce_checks() {
        let ok = json!({"sub": "s", "iat": 10_000, "nonce": "n1", "aud": "c"});
        assert_eq!(check_claims(&claims(ok), "c", 60, &expect("n1")), Ok(()));
        let cases = [
            (
                json!({"sub": "s", "iat": 10_000, "nonce": "n2"}),
                TokenError::Nonce,
            ),
            (json!({"sub": "s", "iat": 10_000}), TokenError::Nonce),
            (
                json!({"sub": "s", "iat": 20_000, "nonce": "n1"}),
                TokenError::IssuedInFuture,
            ),
            (
                json!({"sub": "s", "iat": 1_000, "nonce": "n1"}),
                TokenError::TooOld,
            ),
            (json!({"sub": "s", "nonce": "n1"}), TokenError::MissingClaim),
            (
                json!({"iat": 10_000, "nonce": "n1"}),
                TokenError::MissingClaim,
            ),
            (
                json!({"sub": "s", "iat": 10_000, "nonce": "n1", "aud": ["c", "other"]}),
                TokenError::Azp,
            ),
            (
                json!({"sub": "s", "iat": 10_000, "nonce": "n1", "azp": "other"}),
                TokenError::Azp,
            ),
        ];
        for (c, want) in cases {
            assert_eq!(
                check_claims(&claims(c.clone()), "c", 60, &expect("n1")),
                Err(want),
                "{c}"
            );
        }
        let multi =
            json!({"sub": "s", "iat": 10_000, "nonce": "n1", "aud": ["c", "o"], "azp": "c"});
        assert_eq!(check_claims(&claims(multi), "c", 60, &expect("n1")), Ok(()));
    }
}
