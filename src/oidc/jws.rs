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
//! - `iss` is a string equal to the configured issuer, byte for byte (Core 3.1.3.7 item 2:
//!   no array, no trailing-slash games); `aud` is a string or an array of strings containing
//!   the client id, of any other type refused even where `aud` is optional (userinfo); with
//!   several audiences `azp` must be the client id; `exp` and `iat` are checked with the
//!   configured skew. jsonwebtoken's own checks run first, and are re-done here because it
//!   accepts an `iss` array with one matching member and ignores a wrongly typed optional
//!   `aud`.
//! - Every candidate key is tried (named by `kid` first, then keys without `kid`); a key that
//!   cannot verify (wrong type, bad signature) moves on to the next. A token whose `kid` is
//!   unknown triggers one rate-limited JWKS download, then one more try.
//! - Explicit typing (RFC 8725 3.11): a logout token, when typed, is `logout+jwt`; an
//!   id_token or userinfo typed `logout+jwt` is refused.
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
    #[error("explicit type (typ) is not the one this token must have")]
    Typ,
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
            TokenError::Typ => "wrong_typ",
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
    /// A back-channel logout token: `typ`, when present, must be `logout+jwt`, and `sub` is
    /// optional (it carries `sub`, `sid` or both). Otherwise `sub` is required and a token
    /// typed `logout+jwt` is refused.
    pub logout: bool,
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
    let header = pinned_header(token, &cfg.id_token_algs)?;
    check_typ(header.typ.as_deref(), expect.logout)?;
    let (alg, kid) = (header.alg, header.kid);
    let validation = validation(provider, alg, expect);
    if is_hmac(alg) {
        // Only reachable for FranceConnect v1: the configuration refuses HMAC in any other
        // provider's pinned list, and HMAC next to a public-key algorithm.
        let key = DecodingKey::from_secret(cfg.client_secret.expose().as_bytes());
        return match try_keys(token, std::slice::from_ref(&key), &validation)? {
            Some(claims) => checked(provider, claims, expect),
            None => Err(TokenError::BadSignature),
        };
    }
    let endpoints = provider.endpoints();
    let jwks_uri = endpoints.as_ref().and_then(|e| e.jwks_uri.as_deref());
    let jwks = &provider.jwks;
    let seen = jwks.fetches.load(std::sync::atomic::Ordering::Acquire);
    let first = jwks.candidates(kid.as_deref(), alg);
    let keys: Vec<DecodingKey> = first.keys.iter().map(|k| k.key.clone()).collect();
    if let Some(claims) = try_keys(token, &keys, &validation)? {
        return checked(provider, claims, expect);
    }
    // No key verified. A token naming a key we have is simply badly signed; otherwise the
    // provider may have rotated its keys: download them again (rate-limited) and retry once.
    if first.known_kid
        || !jwks
            .refresh_after_unknown_key(provider.http(), jwks_uri, seen)
            .await
    {
        return Err(no_key_verified(&first.keys));
    }
    let second = jwks.candidates(kid.as_deref(), alg);
    let keys: Vec<DecodingKey> = second.keys.iter().map(|k| k.key.clone()).collect();
    match try_keys(token, &keys, &validation)? {
        Some(claims) => checked(provider, claims, expect),
        None => Err(no_key_verified(&second.keys)),
    }
}

/// No candidate at all: the key is unknown; candidates that all failed: a bad signature.
fn no_key_verified(candidates: &[std::sync::Arc<super::jwks::VerifyKey>]) -> TokenError {
    if candidates.is_empty() {
        TokenError::UnknownKey
    } else {
        TokenError::BadSignature
    }
}

/// jsonwebtoken's checks: signature, `exp`/`nbf` with the skew, `iss`, `aud`, required claims.
fn validation(provider: &Provider, alg: Algorithm, expect: &Expect<'_>) -> Validation {
    let cfg = &provider.cfg;
    let mut validation = Validation::new(alg);
    validation.leeway = cfg.clock_skew.as_secs();
    validation.set_issuer(&[&cfg.issuer]);
    validation.validate_nbf = true;
    let mut required: HashSet<String> = HashSet::from(["iss".to_string()]);
    if !expect.logout {
        required.insert("sub".into());
    }
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
    validation
}

/// Tries each key in turn: the claims of the first that verifies (`None` when none does). A
/// key that cannot verify this token (bad signature, wrong key type) moves on to the next;
/// any other error (malformed token, a claim check after a valid signature) stops.
fn try_keys(
    token: &str,
    keys: &[DecodingKey],
    validation: &Validation,
) -> Result<Option<Map<String, Value>>, TokenError> {
    use jsonwebtoken::errors::ErrorKind as K;
    for key in keys {
        match jsonwebtoken::decode::<Map<String, Value>>(token, key, validation) {
            Ok(data) => return Ok(Some(data.claims)),
            Err(e) => match e.kind() {
                K::InvalidSignature
                | K::InvalidEcdsaKey
                | K::InvalidEddsaKey
                | K::InvalidRsaKey(_)
                | K::InvalidKeyFormat
                | K::InvalidAlgorithm => continue,
                kind => return Err(map_error(kind)),
            },
        }
    }
    Ok(None)
}

fn checked(
    provider: &Provider,
    claims: Map<String, Value>,
    expect: &Expect<'_>,
) -> Result<Map<String, Value>, TokenError> {
    let cfg = &provider.cfg;
    check_claims(
        &claims,
        &Expected {
            issuer: &cfg.issuer,
            client_id: &cfg.client_id,
            skew: cfg.clock_skew.as_secs(),
        },
        expect,
    )?;
    Ok(claims)
}

/// RFC 8725 3.11 and Back-Channel Logout 1.0 section 2.4: a logout token, when typed, is
/// `logout+jwt` (the `application/` prefix may be omitted, RFC 7515 4.1.9; compared without
/// case); any other token typed `logout+jwt` is refused.
fn check_typ(typ: Option<&str>, logout: bool) -> Result<(), TokenError> {
    let is_logout = |t: &str| {
        let t = t.to_ascii_lowercase();
        t == "logout+jwt" || t == "application/logout+jwt"
    };
    match (typ, logout) {
        (None, _) => Ok(()),
        (Some(t), true) if is_logout(t) => Ok(()),
        (Some(t), false) if !is_logout(t) => Ok(()),
        _ => Err(TokenError::Typ),
    }
}

/// What the protected header says, once its `alg` is known to be pinned.
#[derive(Debug, PartialEq, Eq)]
pub struct PinnedHeader {
    pub alg: Algorithm,
    pub kid: Option<String>,
    pub typ: Option<String>,
}

/// Reads the protected header and refuses any algorithm outside `allowed` before anything
/// else happens. Returns the algorithm and the `kid`.
pub fn pinned_header(token: &str, allowed: &[Algorithm]) -> Result<PinnedHeader, TokenError> {
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
    let text = |name: &str| match header.get(name) {
        None => Ok(None),
        Some(Value::String(k)) if k.len() <= 256 => Ok(Some(k.clone())),
        Some(_) => Err(TokenError::Malformed),
    };
    Ok(PinnedHeader {
        alg,
        kid: text("kid")?,
        typ: text("typ")?,
    })
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

/// What the provider's tokens must name.
struct Expected<'a> {
    issuer: &'a str,
    client_id: &'a str,
    skew: u64,
}

/// The checks jsonwebtoken does not do (`iat`, `azp`, `nonce`, `sub` type), and those it does
/// leniently, done again strictly: `iss` a string equal to the issuer, `aud` a string or an
/// array of strings naming the client, `exp` a number in the future (when present).
fn check_claims(
    claims: &Map<String, Value>,
    want: &Expected<'_>,
    expect: &Expect<'_>,
) -> Result<(), TokenError> {
    let skew = want.skew;
    if claims.get("iss").and_then(Value::as_str) != Some(want.issuer) {
        return Err(TokenError::Issuer);
    }
    match claims.get("sub") {
        Some(Value::String(_)) => {}
        None if expect.logout => {}
        _ => return Err(TokenError::MissingClaim),
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        None if expect.require_aud => return Err(TokenError::MissingClaim),
        None => Vec::new(),
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(items)) => items
            .iter()
            .map(Value::as_str)
            .collect::<Option<Vec<&str>>>()
            .ok_or(TokenError::Audience)?,
        Some(_) => return Err(TokenError::Audience),
    };
    if claims.contains_key("aud") && !audiences.contains(&want.client_id) {
        return Err(TokenError::Audience);
    }
    match claims.get("exp") {
        Some(v) => {
            let exp = v.as_u64().ok_or(TokenError::Malformed)?;
            if expect.now > exp.saturating_add(skew) {
                return Err(TokenError::Expired);
            }
        }
        None if expect.require_times => return Err(TokenError::MissingClaim),
        None => {}
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
    if audiences.len() > 1 && azp.and_then(Value::as_str) != Some(want.client_id) {
        return Err(TokenError::Azp);
    }
    if let Some(azp) = azp {
        if azp.as_str() != Some(want.client_id) {
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
mod tests;
