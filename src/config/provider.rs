//! `[[providers]]`: the validated provider settings and how they are built from a preset plus
//! the operator's overrides.
//!
//! Invariants (each guarded by a test in `config::tests`):
//! - Algorithms are pinned per provider. HMAC (`HS256`...) is accepted only with the
//!   FranceConnect v1 presets, then alone (never next to a public-key algorithm, never with a
//!   `jwks_uri`), and with a client secret at least as long as the hash.
//! - A provider pinned to JWE has at least one decryption key and every key's `alg` is pinned;
//!   keys load at start-up or the configuration is refused naming the key.
//! - MConnect identities are always checked for their status (the path can change, the check
//!   cannot be turned off).

use super::file::{self, DecryptionKeySection};
use super::presets::{self, Preset};
use super::{duration_str, ConfigError, Secret, Validator};
use crate::policy::Level;
use jsonwebtoken::Algorithm;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Which federation a provider belongs to; decides quirks the presets cannot express as data
/// (claim rules, the chooser's button).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Flavour {
    #[serde(rename = "franceconnect-v1")]
    FranceConnectV1,
    #[serde(rename = "franceconnect-v2")]
    FranceConnectV2,
    #[serde(rename = "franceconnect-plus")]
    FranceConnectPlus,
    #[serde(rename = "mconnect")]
    MConnect,
    #[serde(rename = "generic")]
    Generic,
}

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
    pub authorize_params: BTreeMap<String, String>,
    pub discovery: bool,
    pub endpoints: EndpointOverrides,
    pub identity_status: Option<IdentityStatus>,
    /// Logout tokens from this provider are accepted at `/.guichet/backchannel-logout`.
    pub backchannel_logout: bool,
}

impl ProviderConfig {
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

    /// Are the id_token (and userinfo) expected encrypted?
    pub fn expects_jwe(&self) -> bool {
        !self.jwe_algs.is_empty()
    }
}

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

/// Where the claims say whether the digital identity is active, and what counts as active.
#[derive(Debug, Clone, Serialize)]
pub struct IdentityStatus {
    /// Dot-separated path, starting with the claim name (`Authority.status`).
    pub path: String,
    pub active: String,
    /// Dot-separated path to the registration authority, if the application should get it.
    pub authority_path: Option<String>,
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

/// `jwe_algs`, `jwe_encs`, `decryption_keys`, validated together.
type Encryption = (Vec<String>, Vec<String>, Vec<DecryptionKey>);

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

/// An `acr` value: 1-128 characters among `A-Za-z0-9._:/-` (the identity claim rule).
fn is_acr_token(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:/-".contains(&b))
}

fn is_hmac(a: Algorithm) -> bool {
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
        let issuer_url = self.provider_url(&key("issuer"), &issuer)?;
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
        let id_token_algs = self.signature_algs(&key, p, &preset, &client_secret, &endpoints)?;
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
        let jwks_refresh_interval = match &p.jwks_refresh_interval {
            Some(s) => self.duration(&key("jwks_refresh_interval"), s)?,
            None => Duration::from_secs(60),
        };
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
        Ok(ProviderConfig {
            name: p.name.clone(),
            preset: preset.name.to_string(),
            flavour: preset.flavour,
            display_name: p
                .display_name
                .clone()
                .unwrap_or(preset.display_name.to_string()),
            issuer: issuer_url.as_str().trim_end_matches('/').to_string(),
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
            authorize_params,
            discovery,
            endpoints,
            identity_status,
            backchannel_logout: p.backchannel_logout,
        })
    }

    /// `acr_values` and `acr_levels`.
    fn levels(
        &self,
        key: &dyn Fn(&str) -> String,
        p: &file::ProviderSection,
        preset: &Preset,
    ) -> Result<(Option<String>, BTreeMap<String, Level>), ConfigError> {
        let acr_levels: BTreeMap<String, Level> = match &p.acr_levels {
            None => preset
                .acr_levels
                .iter()
                .map(|(a, l)| (a.to_string(), *l))
                .collect(),
            Some(map) => {
                let mut out = BTreeMap::new();
                for (acr, level) in map {
                    if !is_acr_token(acr) {
                        return Err(self.err(
                            key(&format!("acr_levels.{acr}")),
                            "is not an acr value (1-128 characters among A-Z a-z 0-9 . _ : / -)",
                        ));
                    }
                    let l = Level::parse(level).ok_or_else(|| {
                        self.err(
                            key(&format!("acr_levels.{acr}")),
                            format!("{level:?}: expected eidas1, eidas2, eidas3 (or low, substantial, high)"),
                        )
                    })?;
                    out.insert(acr.clone(), l);
                }
                out
            }
        };
        // `acr_values = ""` sends none (and then asks no level unless a route does).
        let acr_values = match &p.acr_values {
            Some(v) if v.is_empty() => None,
            Some(v) => Some(v.clone()),
            None => preset.acr_values.map(String::from),
        };
        if let Some(v) = &acr_values {
            if v.split(' ').any(|a| !is_acr_token(a)) {
                return Err(self.err(
                    key("acr_values"),
                    format!("{v:?} is not a space-separated list of acr values"),
                ));
            }
        }
        Ok((acr_values, acr_levels))
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

    /// The pinned JWS algorithms, with the HMAC rules.
    fn signature_algs(
        &self,
        key: &dyn Fn(&str) -> String,
        p: &file::ProviderSection,
        preset: &Preset,
        secret: &Secret,
        endpoints: &EndpointOverrides,
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
        if endpoints.jwks_uri.is_some() {
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
    fn encryption(
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

    fn identity_status(
        &self,
        key: &dyn Fn(&str) -> String,
        p: &file::ProviderSection,
        preset: &Preset,
    ) -> Result<Option<IdentityStatus>, ConfigError> {
        let defaults = preset.identity_status;
        let path = p
            .identity_status_path
            .clone()
            .or(defaults.map(|d| d.path.to_string()))
            .filter(|s| !s.is_empty());
        let Some(path) = path else {
            if preset.flavour == Flavour::MConnect {
                return Err(self.err(
                    key("identity_status_path"),
                    "cannot be empty: MConnect identities that are not active must be refused",
                ));
            }
            return Ok(None);
        };
        let check_path = |k: &str, v: &str| {
            let ok = v.split('.').all(|seg| {
                (1..=64).contains(&seg.len())
                    && seg
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            });
            if ok {
                Ok(())
            } else {
                Err(self.err(
                    key(k),
                    format!("{v:?} is not a dot-separated claim path like \"Authority.status\""),
                ))
            }
        };
        check_path("identity_status_path", &path)?;
        let active = p
            .identity_status_active
            .clone()
            .or(defaults.map(|d| d.active.to_string()))
            .unwrap_or_else(|| "active".into());
        if active.is_empty() || active.len() > 64 {
            return Err(self.err(key("identity_status_active"), "must be 1-64 characters"));
        }
        let authority_path = p
            .registration_authority_path
            .clone()
            .or(defaults.map(|d| d.authority_path.to_string()))
            .filter(|s| !s.is_empty());
        if let Some(a) = &authority_path {
            check_path("registration_authority_path", a)?;
        }
        Ok(Some(IdentityStatus {
            path,
            active,
            authority_path,
        }))
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
