//! Fault switches: ways to make the mock provider misbehave, one per check a relying party
//! must make, and the request counters tests read.

/// Ways to break FranceConnect+'s encryption ([`Faults::id_token_jwe`], [`Faults::userinfo_jwe`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JweFault {
    /// Encrypted to a key the relying party never had, under that key's own `kid`.
    OtherKey,
    /// Encrypted to a key the relying party never had, under the relying party's `kid`.
    OtherKeySameKid,
    /// `enc` = `A128GCM` instead of `A256GCM`.
    WrongEnc,
    /// Key management outside FranceConnect+'s (`RSA1_5` or `ECDH-ES+A128KW`).
    WrongAlg,
    /// Not encrypted at all: the plain JWS.
    NotEncrypted,
}

/// Ways to make the mock misbehave. [`MockProvider::set_faults`] replaces them all at once;
/// they apply to the requests that follow.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    // id_token
    /// Signature bytes altered.
    pub bad_signature: bool,
    /// Header `{"alg":"none"}`, empty signature.
    pub alg_none: bool,
    /// Algorithm confusion: HS256 HMAC keyed with the published public key's PEM (SPKI) bytes,
    /// header carrying the published `kid`.
    pub hs256_with_public_key: bool,
    /// `iss` = issuer + "/other" (a near miss: exact comparison required).
    pub wrong_issuer: bool,
    /// `iss` = `[issuer, "https://evil.example"]`: an array with one matching member (some
    /// JWT libraries accept it).
    pub issuer_as_array: bool,
    /// `aud` = [`OTHER_AUDIENCE`].
    pub wrong_audience: bool,
    /// `aud` = `[client_id, OTHER_AUDIENCE]` and no `azp`.
    pub extra_audience_without_azp: bool,
    /// `exp` = now - 300, `iat` = now - 360.
    pub expired: bool,
    /// `iat` = now + 3600 (and `exp` = iat + 60, so only `iat` is wrong).
    pub iat_in_future: bool,
    /// `nonce` is a different random value.
    pub wrong_nonce: bool,
    /// No `nonce` claim.
    pub missing_nonce: bool,
    /// Override the `acr` claim (default: the requested `acr_values`' first value, or "eidas1").
    pub acr: Option<String>,
    /// Sign with a spare key whose `kid` is not (yet) in the JWKS;
    /// [`MockProvider::rotate_signing_key`] publishes that spare key.
    pub unknown_kid: bool,
    // userinfo
    /// Userinfo `sub` is another citizen's.
    pub userinfo_sub_mismatch: bool,
    /// Signed userinfo with `aud` = 42 (a number: some JWT libraries ignore an optional `aud`
    /// of the wrong type).
    pub userinfo_aud_not_a_string: bool,
    /// Userinfo JWT signed with the spare key (not in the JWKS). No effect on JSON userinfo
    /// ([`Flavour::Generic`]).
    pub userinfo_signed_by_other_key: bool,
    /// Userinfo names that are each valid but far too long together for HTTP headers
    /// (16 given names of 240 accented letters).
    pub oversized_claims: bool,
    /// One userinfo claim whose JSON value is exactly these bytes, written into the JSON text
    /// (or the signed JWT's payload) as they are: invalid UTF-8, raw control characters,
    /// escaped ones (`"\u0000"`), lone surrogates, a 100 KiB string...
    pub userinfo_raw_claim: Option<(String, Vec<u8>)>,
    /// An extra id_token claim `pad` of this many bytes (an oversized token).
    pub id_token_padding: usize,
    // endpoints
    /// Token endpoint answers 200 `text/html` "<html>maintenance</html>".
    pub token_returns_html: bool,
    /// Token endpoint waits this long before answering.
    pub token_delay_ms: u64,
    /// Token endpoint refuses with 400 `{"error": <value>, "error_description": ...}` (as for a
    /// code already redeemed: `invalid_grant`), the description full of markup and controls.
    pub token_error: Option<String>,
    /// JWKS endpoint answers 503.
    pub jwks_down: bool,
    /// Revocation endpoint answers 503.
    pub revocation_down: bool,
    /// Authorize redirects back with `?error=<value>&error_description=...&state=<state>`.
    pub authorize_error: Option<String>,
    /// The `error_description` sent with [`Faults::authorize_error`] (default: a plain French
    /// sentence).
    pub authorize_error_description: Option<String>,
    // FranceConnect+ encryption
    pub id_token_jwe: Option<JweFault>,
    pub userinfo_jwe: Option<JweFault>,
}

/// Number of requests received per endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MockCounters {
    pub discovery: u64,
    pub jwks: u64,
    /// `/authorize` only (not the interaction that follows).
    pub authorize: u64,
    pub token: u64,
    pub userinfo: u64,
    pub end_session: u64,
    /// `/token/revocation`.
    pub revocation: u64,
}
