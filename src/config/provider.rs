//! `[[providers]]`: the validated provider settings and how they are built from a preset plus
//! the operator's overrides.
//!
//! Invariants (each guarded by a test in `config::tests`):
//! - Algorithms are pinned per provider ([`super::pins`]); levels and the identity status
//!   check are in [`super::assurance`]. Those are parts this file assembles: they never import
//!   it.
//! - One `kid` never names two different decryption keys across providers.
//! - A provider without discovery has its authorization and token endpoints (and a JWKS URL
//!   unless it signs with the client secret).

use super::assurance::IdentityStatus;
use super::file;
use super::pins::{is_hmac, DecryptionKey};
use super::presets::{self, Preset};
use super::{duration_str, ConfigError, Secret, Validator};
use crate::vocab::{Flavour, Level};
use jsonwebtoken::Algorithm;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Default bound on one call to a provider: long enough for a slow token endpoint, short
/// enough that a citizen waiting on the callback gets an answer.
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_HTTP_TIMEOUT: Duration = Duration::from_secs(60);
/// Least age of the cached JWKS before a token naming an unknown key downloads it again.
pub const DEFAULT_JWKS_REFRESH_FLOOR: Duration = Duration::from_secs(5);

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenAuth {
    ClientSecretPost,
    ClientSecretBasic,
    /// `client_secret_basic` if the provider's metadata lists it (or lists nothing), else post.
    Auto,
}

/// What the userinfo endpoint returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UserinfoFormat {
    Json,
    /// A JWS signed with one of the provider's keys (`application/jwt`).
    Jwt,
    /// A JWE, encrypted to one of guichet's keys, wrapping a JWS (FranceConnect+).
    Jwe,
    /// Decided by the response's content type (and, for a JWT, by its shape).
    Auto,
}

/// When to send a PKCE S256 challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pkce {
    /// When the discovery document lists `S256` in `code_challenge_methods_supported`.
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProviderConfig {
    pub name: String,
    pub preset: String,
    pub flavour: Flavour,
    pub display_name: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub scopes: Vec<String>,
    pub acr_values: Option<String>,
    /// `acr` value -> the level it proves.
    pub acr_levels: BTreeMap<String, Level>,
    pub id_token_algs: Vec<Algorithm>,
    /// Empty: tokens are not encrypted. Otherwise the id_token must be a JWE with one of these.
    pub jwe_algs: Vec<String>,
    pub jwe_encs: Vec<String>,
    pub decryption_keys: Vec<DecryptionKey>,
    pub token_auth: TokenAuth,
    pub userinfo: UserinfoFormat,
    pub pkce: Pkce,
    #[serde(with = "duration_str")]
    pub clock_skew: Duration,
    #[serde(with = "duration_str")]
    pub jwks_refresh_interval: Duration,
    /// Bound on one HTTP call to the provider (connect to last byte).
    #[serde(with = "duration_str")]
    pub http_timeout: Duration,
    pub authorize_params: BTreeMap<String, String>,
    pub discovery: bool,
    pub endpoints: EndpointOverrides,
    pub identity_status: Option<IdentityStatus>,
    /// Logout tokens from this provider are accepted at `/.guichet/backchannel-logout`.
    pub backchannel_logout: bool,
    /// Revoke the access token at the provider's revocation endpoint once userinfo is read.
    pub revoke_access_token: bool,
    /// The provider names itself in every authorization response (RFC 9207 `iss`), so a
    /// response without it is refused even if discovery does not advertise
    /// `authorization_response_iss_parameter_supported`.
    pub authorization_response_iss: bool,
    /// Where the provider sends the browser back: `PUBLIC_URL/.guichet/callback` with one
    /// provider, `PUBLIC_URL/.guichet/callback/NAME` for each when there are several (a
    /// response can then only be redeemed at the provider it was sent for: no mix-up).
    pub redirect_uri: String,
    /// The path of [`ProviderConfig::redirect_uri`] under guichet's prefix (`callback` or
    /// `callback/NAME`).
    #[serde(skip)]
    pub callback_leaf: String,
}

impl ProviderConfig {
    /// Are the id_token (and userinfo) expected encrypted?
    pub fn expects_jwe(&self) -> bool {
        !self.jwe_algs.is_empty()
    }

    /// The highest level this provider can prove, if it speaks levels at all.
    pub fn max_level(&self) -> Option<Level> {
        self.acr_levels.values().copied().max()
    }

    /// The level the configured `acr_values` asks for (the lowest of its known values).
    pub fn default_level(&self) -> Option<Level> {
        self.acr_values
            .as_deref()?
            .split(' ')
            .filter_map(|a| self.acr_levels.get(a).copied())
            .min()
    }

    /// The `acr_values` that ask for at least `level`: every value of the lowest level at or
    /// above it. `None` when the provider cannot reach `level`.
    pub fn acr_for(&self, level: Level) -> Option<String> {
        let target = self
            .acr_levels
            .values()
            .copied()
            .filter(|l| *l >= level)
            .min()?;
        let values: Vec<&str> = self
            .acr_levels
            .iter()
            .filter(|(_, l)| **l == target)
            .map(|(a, _)| a.as_str())
            .collect();
        Some(values.join(" "))
    }
}

/// Endpoints given in the configuration (or fixed by a preset without discovery); the rest
/// comes from discovery.
#[derive(Debug, Default, Clone, Serialize)]
pub struct EndpointOverrides {
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: Option<String>,
    pub userinfo_endpoint: Option<String>,
    pub end_session_endpoint: Option<String>,
    pub jwks_uri: Option<String>,
}

/// Parameters guichet computes itself for every authorization request.
const RESERVED_AUTHORIZE_PARAMS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "acr_values",
    "code_challenge",
    "code_challenge_method",
    "login_hint",
];

fn is_scope_byte(b: u8) -> bool {
    // RFC 6749 3.3: %x21 / %x23-5B / %x5D-7E
    b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)
}

impl Validator {
    pub(super) fn provider(
        &self,
        i: usize,
        p: &file::ProviderSection,
    ) -> Result<ProviderConfig, ConfigError> {
        let key = |k: &str| format!("providers[{i}].{k}");
        if p.name.is_empty()
            || p.name.len() > 32
            || !p
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(self.err(
                key("name"),
                "must be 1-32 characters among a-z, 0-9, '-', '_'",
            ));
        }
        let preset = presets::lookup(&p.preset).ok_or_else(|| {
            self.err(
                key("preset"),
                format!(
                    "unknown preset {:?}; known: {}",
                    p.preset,
                    presets::NAMES.join(", ")
                ),
            )
        })?;
        let issuer = match (&p.issuer, preset.issuer) {
            (Some(i), _) => i.clone(),
            (None, Some(i)) => i.to_string(),
            (None, None) => {
                return Err(self.err(
                    key("issuer"),
                    format!("required with preset {:?}", p.preset),
                ))
            }
        };
        // The issuer is an identifier compared as a string (OpenID Connect Core 3.1.3.7,
        // Discovery 4.3, RFC 9207 2.4): kept exactly as configured, trailing slash included.
        let issuer_url = self.provider_url(&key("issuer"), &issuer)?;
        if issuer_url.query().is_some() || issuer_url.fragment().is_some() {
            return Err(self.err(key("issuer"), "must have no query and no fragment"));
        }
        if issuer.trim() != issuer || issuer.chars().any(char::is_control) {
            return Err(self.err(key("issuer"), "must have no spaces or control characters"));
        }
        let client_id = match &p.client_id {
            Some(c)
                if !c.is_empty() && c.len() <= 256 && c.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                c.clone()
            }
            Some(_) => {
                return Err(self.err(key("client_id"), "must be 1-256 printable ASCII characters"))
            }
            None => return Err(self.err(key("client_id"), "required")),
        };
        let secret_ref = p.client_secret.as_deref().ok_or_else(|| {
            self.err(
                key("client_secret"),
                "required (\"env:VARIABLE\" or \"file:/path\")",
            )
        })?;
        let client_secret =
            Secret::load(secret_ref).map_err(|e| self.err(key("client_secret"), e.to_string()))?;
        if client_secret.expose().len() < 16 {
            return Err(self.err(
                key("client_secret"),
                format!(
                    "{} is shorter than 128 bits (16 bytes)",
                    client_secret.source()
                ),
            ));
        }
        let scopes: Vec<String> = match &p.scopes {
            Some(s) => {
                let mut s = s.clone();
                if !s.iter().any(|x| x == "openid") {
                    s.insert(0, "openid".into());
                }
                s
            }
            None => preset.scopes.iter().map(|s| s.to_string()).collect(),
        };
        if let Some(bad) = scopes
            .iter()
            .find(|s| s.is_empty() || !s.bytes().all(is_scope_byte))
        {
            return Err(self.err(key("scopes"), format!("{bad:?} is not a valid scope token")));
        }
        let (acr_values, acr_levels) = self.levels(&key, p, &preset)?;
        let endpoints = self.endpoints(&key, p, &preset)?;
        let discovery = p.discovery.unwrap_or(preset.discovery);
        let id_token_algs = self.signature_algs(
            &key,
            p,
            &preset,
            &client_secret,
            endpoints.jwks_uri.as_deref(),
        )?;
        let (jwe_algs, jwe_encs, decryption_keys) = self.encryption(&key, p, &preset)?;
        let token_auth = match p.token_auth.as_deref() {
            None => preset.token_auth,
            Some("client_secret_post") => TokenAuth::ClientSecretPost,
            Some("client_secret_basic") => TokenAuth::ClientSecretBasic,
            Some("auto") => TokenAuth::Auto,
            Some(o) => {
                return Err(self.err(
                    key("token_auth"),
                    format!("{o:?}: expected client_secret_post, client_secret_basic or auto"),
                ))
            }
        };
        let userinfo = match p.userinfo.as_deref() {
            None => preset.userinfo,
            Some("json") => UserinfoFormat::Json,
            Some("jwt") => UserinfoFormat::Jwt,
            Some("jwe") => UserinfoFormat::Jwe,
            Some("auto") => UserinfoFormat::Auto,
            Some(o) => {
                return Err(self.err(
                    key("userinfo"),
                    format!("{o:?}: expected json, jwt, jwe or auto"),
                ))
            }
        };
        if userinfo == UserinfoFormat::Jwe && jwe_algs.is_empty() {
            return Err(self.err(
                key("userinfo"),
                "\"jwe\" needs jwe_algs and decryption_keys",
            ));
        }
        let pkce = match p.pkce.as_deref() {
            None => preset.pkce,
            Some("auto") => Pkce::Auto,
            Some("always") => Pkce::Always,
            Some("never") => Pkce::Never,
            Some(o) => {
                return Err(self.err(
                    key("pkce"),
                    format!("{o:?}: expected auto, always or never"),
                ))
            }
        };
        let clock_skew = match &p.clock_skew {
            Some(s) => self.duration(&key("clock_skew"), s)?,
            None => Duration::from_secs(60),
        };
        if clock_skew > Duration::from_secs(600) {
            return Err(self.err(
                key("clock_skew"),
                "more than 10 minutes would accept stale tokens",
            ));
        }
        // A floor, not a period: a token naming a key guichet does not have (a rotation)
        // downloads the set again once the cached one is older than this; a flood of forged
        // `kid`s gets one download per floor at most.
        let jwks_refresh_interval = match &p.jwks_refresh_interval {
            Some(s) => self.duration(&key("jwks_refresh_interval"), s)?,
            None => DEFAULT_JWKS_REFRESH_FLOOR,
        };
        if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&jwks_refresh_interval) {
            return Err(self.err(
                key("jwks_refresh_interval"),
                "must be between 1s and 1h (it bounds JWKS downloads under a flood of unknown keys)",
            ));
        }
        let http_timeout = match &p.http_timeout {
            Some(s) => self.duration(&key("http_timeout"), s)?,
            None => DEFAULT_HTTP_TIMEOUT,
        };
        if http_timeout.is_zero() || http_timeout > MAX_HTTP_TIMEOUT {
            return Err(self.err(key("http_timeout"), "must be between 1ms and 60s"));
        }
        let authorize_params = self.authorize_params(&key, p, &preset)?;
        if !discovery {
            for (k, v) in [
                ("authorization_endpoint", &endpoints.authorization_endpoint),
                ("token_endpoint", &endpoints.token_endpoint),
            ] {
                if v.is_none() {
                    return Err(self.err(key(k), "required when discovery = false"));
                }
            }
            if endpoints.jwks_uri.is_none() && !id_token_algs.iter().all(|a| is_hmac(*a)) {
                return Err(self.err(
                    key("jwks_uri"),
                    "required when discovery = false and id_tokens are signed with public keys",
                ));
            }
        }
        let identity_status = self.identity_status(&key, p, &preset)?;
        let cfg = ProviderConfig {
            name: p.name.clone(),
            preset: preset.name.to_string(),
            flavour: preset.flavour,
            display_name: p
                .display_name
                .clone()
                .unwrap_or(preset.display_name.to_string()),
            issuer,
            client_id,
            client_secret,
            scopes,
            acr_values,
            acr_levels,
            id_token_algs,
            jwe_algs,
            jwe_encs,
            decryption_keys,
            token_auth,
            userinfo,
            pkce,
            clock_skew,
            jwks_refresh_interval,
            http_timeout,
            authorize_params,
            discovery,
            endpoints,
            identity_status,
            backchannel_logout: p.backchannel_logout,
            revoke_access_token: p.revoke_access_token.unwrap_or(preset.revoke_access_token),
            authorization_response_iss: p
                .authorization_response_iss
                .unwrap_or(preset.authorization_response_iss),
            // Set once every provider is known (see `Validator::build`).
            redirect_uri: String::new(),
            callback_leaf: String::new(),
        };
        self.franceconnect(&key, &cfg)?;
        Ok(cfg)
    }

    /// Endpoint overrides, with the preset's fixed endpoints when it has no discovery.
    fn endpoints(
        &self,
        key: &dyn Fn(&str) -> String,
        p: &file::ProviderSection,
        preset: &Preset,
    ) -> Result<EndpointOverrides, ConfigError> {
        let fixed = match (p.discovery.unwrap_or(preset.discovery), preset.endpoints) {
            (false, Some(f)) => Some(f),
            _ => None,
        };
        let endpoint =
            |k: &str, v: &Option<String>, default: Option<&str>| match v.as_deref().or(default) {
                Some(s) => self.provider_url(&key(k), s).map(|u| Some(u.to_string())),
                None => Ok(None),
            };
        Ok(EndpointOverrides {
            authorization_endpoint: endpoint(
                "authorization_endpoint",
                &p.authorization_endpoint,
                fixed.map(|f| f.authorization),
            )?,
            token_endpoint: endpoint("token_endpoint", &p.token_endpoint, fixed.map(|f| f.token))?,
            userinfo_endpoint: endpoint(
                "userinfo_endpoint",
                &p.userinfo_endpoint,
                fixed.map(|f| f.userinfo),
            )?,
            end_session_endpoint: endpoint(
                "end_session_endpoint",
                &p.end_session_endpoint,
                fixed.map(|f| f.end_session),
            )?,
            jwks_uri: endpoint("jwks_uri", &p.jwks_uri, None)?,
        })
    }

    fn authorize_params(
        &self,
        key: &dyn Fn(&str) -> String,
        p: &file::ProviderSection,
        preset: &Preset,
    ) -> Result<BTreeMap<String, String>, ConfigError> {
        let mut params: BTreeMap<String, String> = preset
            .authorize_params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if let Some(extra) = &p.authorize_params {
            for (k, v) in extra {
                if RESERVED_AUTHORIZE_PARAMS.contains(&k.as_str()) {
                    return Err(self.err(
                        key(&format!("authorize_params.{k}")),
                        "is set by guichet itself and cannot be overridden",
                    ));
                }
                params.insert(k.clone(), v.clone());
            }
        }
        if params
            .get("prompt")
            .is_some_and(|v| v.split(' ').any(|p| p == "none"))
        {
            return Err(self.err(
                key("authorize_params.prompt"),
                "prompt=none is not supported",
            ));
        }
        Ok(params)
    }

    /// Two providers may share a decryption key (same `kid`), never publish two different
    /// keys under one `kid`: a provider could not tell which one to encrypt to.
    pub(super) fn shared_kids(&self, providers: &[ProviderConfig]) -> Result<(), ConfigError> {
        let mut seen: BTreeMap<&str, &serde_json::Value> = BTreeMap::new();
        for (i, p) in providers.iter().enumerate() {
            for (j, k) in p.decryption_keys.iter().enumerate() {
                match seen.get(k.kid.as_str()) {
                    Some(other) if **other != k.public_jwk => {
                        return Err(self.err(
                            format!("providers[{i}].decryption_keys[{j}].kid"),
                            format!("{:?} already names another key", k.kid),
                        ))
                    }
                    _ => {
                        seen.insert(&k.kid, &k.public_jwk);
                    }
                }
            }
        }
        Ok(())
    }
}
