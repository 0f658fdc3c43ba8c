//! OpenID Connect relying party: provider metadata (discovery), keys (JWKS), the
//! authorization request, the code exchange, id_token and userinfo validation.
//!
//! Invariants:
//! - Nothing here trusts the provider's answer before checking it: metadata `issuer` must
//!   equal the configured issuer, an encrypted token is opened only with a pinned algorithm
//!   and a configured key ([`jwe`]), every JWS is verified with a key from the provider's
//!   JWKS and an algorithm from the provider's pinned list ([`jws`]), every claim is then
//!   checked.
//! - A provider without discovery (FranceConnect v1) is ready at once with its configured
//!   endpoints.
//! - Errors carry no token and no personal data; [`OidcError::reason`] is a short code from a
//!   fixed set, used as a metrics label and in the evidence log.
//!
//! # Design notes, and the tests that guard each rule
//!
//! ## `src/oidc/`
//! The relying party: `mod.rs` (provider at run time, discovery (or fixed
//! endpoints: FranceConnect v1 is ready at once), errors), `jwks.rs` (keys,
//! refresh on unknown `kid` with a floor), `jwe.rs` (FranceConnect+: opening
//! the encrypted id_token and userinfo with guichet's keys), `jws.rs`
//! (signed-token verification), `acr.rs` (the level an `acr` proves, through
//! `acr_levels`), `flow.rs`
//! (authorize URL, code exchange, userinfo), `response.rs` (is an
//! authorization response the answer of the provider its login was sent to: its redirect URI,
//! RFC 9207's `iss`), `http.rs` (client: bounded time
//! and size, no redirects).
//!
//! We use `jsonwebtoken` for JWS and write the OpenID Connect checks ourselves rather than use the
//! `openidconnect` crate's typed flow: FranceConnect+ sends JWE id_tokens and userinfo (which that
//! crate cannot parse), FranceConnect v1 signs with the client secret, and every check must map to
//! a named refusal reason for the evidence log.
//!
//! **Invariants.** The token's `alg` must be in the provider's pinned list before any key is looked
//! at (`jws::tests::alg_none_and_hmac_are_refused_before_any_key_lookup`,
//! `tests/login_security.rs::{alg_none, hs256_keyed_with_the_public_key}`); signature, `iss`,
//! `aud`, `azp`, `exp`, `iat`, `nonce`, `acr`, userinfo `sub` each have an end-to-end test in
//! `tests/login_security.rs` that fails if the check is removed. JWKS downloads triggered by unknown
//! keys happen at most once per `jwks_refresh_interval`, a floor of 5 s by default
//! (`a_flood_of_unknown_kids_does_not_hammer_the_jwks_endpoint`), and rotation is picked up without
//! a restart, seconds after the last download
//! (`a_key_rotated_seconds_after_the_last_download_is_picked_up_at_once`,
//! `tests/certified_provider.rs::a_key_rotation_is_picked_up_seconds_after_the_last_download`,
//! `provider_key_rotation_is_picked_up_after_an_unknown_kid`, and for the JWS inside
//! FranceConnect+'s JWE `tests/providers.rs::franceconnect_plus_key_rotation_mid_run`). A provider
//! pinned to JWE never gets a plain JWS accepted, a JWE is refused before decryption unless its
//! `alg`/`enc` are pinned and its `kid` is a configured key, and every decryption failure gives
//! one reason (`jwe::tests::*`, `tests/federation_security.rs::fcplus_*`); FranceConnect v1's
//! HMAC is keyed with the client secret only (`tests/federation_security.rs::fcv1_*`). The session keeps the inner
//! JWS for FranceConnect+ logout, never the JWE (`tests/providers.rs::franceconnect_plus_with_*`).
//! Every call to a provider is bounded in time by the provider's `http_timeout` (default 5 s;
//! `tests/hostile_provider.rs::a_token_endpoint_that_never_answers_is_cut_off_by_guichet_s_timeout`)
//! and in size (256 KiB per answer, 16 KiB per token:
//! `tests/hostile_provider.rs::{id_token_of_100_kib, token_response_larger_than_any_answer_guichet_reads,
//! signed_userinfo_with_a_claim_of_100_kib, json_userinfo_larger_than_any_answer_guichet_reads}`);
//! a provider's `error` text is reduced to a bounded charset before it reaches a page, a log or a
//! metric label (`provider_errors_with_odd_characters_are_escaped_and_bounded`).
//! `login_hint` never reaches a FranceConnect provider, which refuses it
//! (`tests/login_flow.rs::authorization_request_carries_state_nonce_acr_and_never_login_hint`; other
//! providers get it: `login_hint_goes_to_providers_that_accept_it`). With `revoke_access_token`
//! (FranceConnect+), the access token is revoked once userinfo is read, whatever the login's
//! outcome, in the background, with exactly the fields FranceConnect accepts
//! (`tests/franceconnect_rules.rs::franceconnect_plus_access_tokens_are_revoked_once_userinfo_is_read`).
//! Keys are chosen by type, curve and `kid` (kid-less keys after the named ones) and every
//! candidate is tried (`jwks::tests::*`, `jws::tests::every_candidate_key_is_tried_until_one_verifies`).
//! `iss` is one string equal to the issuer and `aud` a string or an array of strings naming the
//! client, re-checked after jsonwebtoken (`jws::tests::the_issuer_is_one_string_compared_exactly`,
//! `an_audience_of_the_wrong_type_is_refused_even_where_aud_is_optional`,
//! `tests/login_security.rs::{issuer_given_as_an_array_with_one_matching_member,
//! signed_userinfo_with_an_audience_that_is_not_a_string}`). An authorization response (success
//! or error) is taken only at its provider's redirect URI and, when the provider sends RFC 9207's
//! `iss` (discovery says so, or its preset), with that exact `iss`
//! (`tests/login_security.rs::{rfc_9207_iss_is_required_and_exact_on_success_and_error_responses,
//! with_several_providers_a_response_is_only_taken_at_its_own_redirect_uri}`,
//! `tests/certified_provider.rs::rfc_9207_iss_present_absent_or_wrong`).
//! **Never**: log a token or a code; follow a redirect from a provider endpoint; accept a plain-JSON
//! userinfo from a provider pinned to signed userinfo.

pub mod acr;
pub mod flow;
pub mod http;
pub mod jwe;
pub mod jwks;
pub mod jws;
pub mod response;

use crate::config::{ProviderConfig, TokenAuth};
use crate::identity::ClaimError;
use arc_swap::ArcSwapOption;
use jwks::JwksCache;
use serde::Deserialize;
use std::sync::Arc;

/// Why a login step with the provider failed.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// Network error, timeout, 5xx, or metadata not loaded yet.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
    /// The provider answered something that is not what the protocol says.
    #[error("{0}: {1}")]
    BadResponse(&'static str, &'static str),
    /// The token endpoint refused the code (`invalid_grant`, ...): the sanitized error code.
    #[error("token endpoint refused the request: {0}")]
    TokenRefused(String),
    #[error("id_token rejected: {0}")]
    IdToken(jws::TokenError),
    #[error("userinfo rejected: {0}")]
    Userinfo(jws::TokenError),
    #[error(transparent)]
    Claims(#[from] ClaimError),
    /// The identity is known to the provider but not active (MConnect: suspended, inactive).
    #[error("digital identity not active")]
    IdentityNotActive,
    /// The provider cannot be set up (a decryption key that does not load).
    #[error("provider setup: {0}")]
    Setup(String),
}

impl OidcError {
    /// A short, bounded reason code (metrics label, evidence log).
    pub fn reason(&self) -> String {
        match self {
            OidcError::Unavailable(_) => "provider_unavailable".into(),
            OidcError::BadResponse(what, _) => format!("bad_response_{what}"),
            OidcError::TokenRefused(_) => "token_refused".into(),
            OidcError::IdToken(e) => format!("id_token_{}", e.as_str()),
            OidcError::Userinfo(e) => format!("userinfo_{}", e.as_str()),
            OidcError::Claims(e) => format!("invalid_claim_{}", e.claim),
            OidcError::IdentityNotActive => "identity_not_active".into(),
            OidcError::Setup(_) => "provider_setup".into(),
        }
    }
}

/// Endpoints and capabilities of a provider, after discovery and configured overrides.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub authorization: String,
    pub token: String,
    pub userinfo: Option<String>,
    pub end_session: Option<String>,
    pub jwks_uri: Option<String>,
    /// RFC 7009 revocation endpoint (discovery's `revocation_endpoint`).
    pub revocation: Option<String>,
    /// The provider lists `S256` in `code_challenge_methods_supported`.
    pub pkce_s256: bool,
    /// Resolved client authentication at the token endpoint.
    pub token_auth: TokenAuth,
    /// Authorization responses must carry RFC 9207's `iss`: discovery advertises
    /// `authorization_response_iss_parameter_supported`, or the provider's preset says it
    /// always sends it.
    pub iss_parameter: bool,
}

/// The subset of the discovery document guichet reads.
#[derive(Debug, Default, Deserialize)]
struct Metadata {
    issuer: String,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    userinfo_endpoint: Option<String>,
    end_session_endpoint: Option<String>,
    jwks_uri: Option<String>,
    revocation_endpoint: Option<String>,
    #[serde(default)]
    code_challenge_methods_supported: Vec<String>,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Vec<String>,
    /// RFC 9207 section 3; any value but `true` means not advertised.
    #[serde(default)]
    authorization_response_iss_parameter_supported: serde_json::Value,
}

/// One configured provider at run time.
pub struct Provider {
    pub cfg: ProviderConfig,
    endpoints: ArcSwapOption<Endpoints>,
    pub jwks: JwksCache,
    /// guichet's keys this provider encrypts to (empty unless pinned to JWE).
    pub decrypters: Vec<jwe::Decrypter>,
    http: reqwest::Client,
}

impl Provider {
    pub fn new(cfg: ProviderConfig) -> Result<Provider, OidcError> {
        let jwks = JwksCache::new(cfg.jwks_refresh_interval);
        let provider_timeout = cfg.http_timeout;
        let decrypters = jwe::decrypters(&cfg)
            .map_err(|e| OidcError::Setup(format!("{}: decryption key: {e}", cfg.name)))?;
        let provider = Provider {
            cfg,
            endpoints: ArcSwapOption::empty(),
            jwks,
            decrypters,
            http: http::client(provider_timeout)?,
        };
        if !provider.cfg.discovery && provider.cfg.endpoints.jwks_uri.is_none() {
            // Nothing to fetch (FranceConnect v1): ready at once.
            let endpoints = provider.resolve(Metadata::default())?;
            provider.endpoints.store(Some(Arc::new(endpoints)));
        }
        Ok(provider)
    }

    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// Endpoints, once discovery succeeded.
    pub fn endpoints(&self) -> Option<Arc<Endpoints>> {
        self.endpoints.load_full()
    }

    pub fn is_ready(&self) -> bool {
        self.endpoints.load().is_some()
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Loads the discovery document and the JWKS. Called at start-up and retried with backoff
    /// until it succeeds; a failure leaves the previous endpoints (if any) in place.
    pub async fn discover(&self) -> Result<(), OidcError> {
        if !self.cfg.discovery {
            let endpoints = self.resolve(Metadata::default())?;
            if let Some(jwks_uri) = &endpoints.jwks_uri {
                self.jwks.refresh(&self.http, jwks_uri).await?;
            }
            self.endpoints.store(Some(Arc::new(endpoints)));
            return Ok(());
        }
        let url = discovery_url(&self.cfg.issuer);
        let resp = http::send(self.http.get(&url), "discovery").await?;
        if resp.status != 200 {
            return Err(OidcError::Unavailable(format!(
                "discovery: HTTP {}",
                resp.status
            )));
        }
        let meta: Metadata = serde_json::from_slice(&resp.body)
            .map_err(|_| OidcError::BadResponse("discovery", "not a discovery document"))?;
        // Discovery 4.3: the issuer in the metadata is exactly the configured one.
        if meta.issuer != self.cfg.issuer {
            return Err(OidcError::BadResponse(
                "discovery",
                "issuer differs from the configured issuer",
            ));
        }
        let endpoints = self.resolve(meta)?;
        if let Some(jwks_uri) = &endpoints.jwks_uri {
            self.jwks.refresh(&self.http, jwks_uri).await?;
        }
        self.endpoints.store(Some(Arc::new(endpoints)));
        Ok(())
    }

    fn resolve(&self, meta: Metadata) -> Result<Endpoints, OidcError> {
        let o = &self.cfg.endpoints;
        let pick = |over: &Option<String>, found: Option<String>| over.clone().or(found);
        let checked = |u: Option<String>| -> Result<Option<String>, OidcError> {
            match u {
                Some(u) if !is_acceptable_endpoint(&u) => {
                    Err(OidcError::BadResponse("discovery", "endpoint is not https"))
                }
                other => Ok(other),
            }
        };
        let authorization =
            checked(pick(&o.authorization_endpoint, meta.authorization_endpoint))?.ok_or(
                OidcError::BadResponse("discovery", "no authorization_endpoint"),
            )?;
        let token = checked(pick(&o.token_endpoint, meta.token_endpoint))?
            .ok_or(OidcError::BadResponse("discovery", "no token_endpoint"))?;
        let methods = &meta.token_endpoint_auth_methods_supported;
        let token_auth = match self.cfg.token_auth {
            TokenAuth::Auto => {
                let has = |m: &str| methods.iter().any(|x| x == m);
                if methods.is_empty() || has("client_secret_basic") {
                    TokenAuth::ClientSecretBasic
                } else if has("client_secret_post") {
                    TokenAuth::ClientSecretPost
                } else {
                    return Err(OidcError::BadResponse(
                        "discovery",
                        "provider supports neither client_secret_basic nor client_secret_post",
                    ));
                }
            }
            fixed => fixed,
        };
        Ok(Endpoints {
            authorization,
            token,
            userinfo: checked(pick(&o.userinfo_endpoint, meta.userinfo_endpoint))?,
            end_session: checked(pick(&o.end_session_endpoint, meta.end_session_endpoint))?,
            jwks_uri: checked(pick(&o.jwks_uri, meta.jwks_uri))?,
            revocation: checked(meta.revocation_endpoint)?,
            pkce_s256: meta
                .code_challenge_methods_supported
                .iter()
                .any(|m| m == "S256"),
            token_auth,
            iss_parameter: self.cfg.authorization_response_iss
                || meta.authorization_response_iss_parameter_supported
                    == serde_json::Value::Bool(true),
        })
    }
}

/// Where the discovery document of `issuer` is (OpenID Connect Discovery 4.1: a terminating
/// `/` of the issuer is removed before appending the well-known path).
pub fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// https, or http to a loopback host (tests, the demo).
fn is_acceptable_endpoint(u: &str) -> bool {
    match url::Url::parse(u) {
        Ok(url) => {
            url.scheme() == "https"
                || (url.scheme() == "http" && crate::config::is_loopback_url(&url))
        }
        Err(_) => false,
    }
}
