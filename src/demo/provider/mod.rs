//! Mock FranceConnect-like OpenID Provider, for `guichet demo` and the integration tests.
//!
//! It behaves like FranceConnect v2 (`fcp-low`) by default: discovery and JWKS under `/api/v2`,
//! `client_secret_post` only, ES256 id_token, userinfo as a signed JWT (`application/jwt`),
//! `/session/end` logout with `id_token_hint`, `/token/revocation`. Its FranceConnect flavours
//! refuse what FranceConnect's published platform code refuses, the way it refuses it
//! ([`platform`]: the authorization parameter whitelist, required `acr_values` and each
//! platform's levels, the scopes the client is authorised for ([`MockConfig::authorized_scopes`]),
//! `amr` only through `claims` ([`MockConfig::authorized_claims`]), `idp_id`/`idp_birthdate`
//! only with their scopes, nonces of 22 characters or more). A valid request leads to an
//! interaction page where the citizen is chosen ([`interaction`]). The other
//! [`Flavour`]s imitate FranceConnect v1 (no discovery, HS256 id_token keyed with the client
//! secret, JSON userinfo, `/logout`), FranceConnect+ (id_token and userinfo encrypted to the
//! relying party's key, fetched from its JWKS URL as FranceConnect+ does, around an ES256 JWS;
//! `eidas2`/`eidas3`), MConnect (its claims, an `Authority` with the identity's status) and a
//! plain OIDC provider (RS256, JSON userinfo, PKCE S256, `client_secret_basic`). Every key is
//! real and every token really signed (and encrypted), so a relying party validates them
//! exactly as it would validate the real provider's; [`Faults`] make it misbehave in controlled
//! ways.
//!
//! It is a test double: it keeps its state in memory, serves plain HTTP on the listener it is
//! given (meant to be loopback), and exposes what the relying party sent it
//! ([`MockProvider::last_authorize_params`], [`MockProvider::last_token_request`]) so tests can
//! assert on it. Handlers never panic on request input: bad input gets a 4xx with a JSON OAuth
//! error (`{"error": .., "error_description": ..}`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use josekit::jwk::alg::ec::EcCurve;
use josekit::jwk::KeyPair as _;
use josekit::jws::{JwsSigner, ES256, HS256, RS256};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::watch;
use url::Url;

use super::citizens::{self, Citizen};
pub use super::flavour::{Flavour, IDP_ID};

/// Lifetime of an authorization code (FranceConnect: 30 s).
pub const CODE_TTL: Duration = Duration::from_secs(30);
/// Lifetime of access and id tokens, in seconds (FranceConnect: 60 s).
pub const TOKEN_TTL_SECS: u64 = 60;
/// Audience used by [`Faults::wrong_audience`] and [`Faults::extra_audience_without_azp`].
pub const OTHER_AUDIENCE: &str = "other-client";

/// How the mock provider is set up.
#[derive(Clone)]
pub struct MockConfig {
    pub client_id: String,
    pub client_secret: String,
    /// Path prefix under which endpoints live, e.g. "/api/v2" (issuer = base_url + prefix,
    /// except FranceConnect v1 whose issuer is the bare base URL).
    pub path_prefix: String,
    pub flavour: Flavour,
    /// FranceConnect+: the relying party's JWKS URL (registered at FranceConnect+), read to
    /// find the key to encrypt id_tokens and userinfo to.
    pub rp_jwks_uri: Option<String>,
    /// FranceConnect flavours: the scopes this client is authorised for (its habilitation);
    /// asking for another scope the platform knows sends the service back `invalid_scope`.
    /// `None`: `openid` and the identité pivot ([`platform::PIVOT_SCOPES`]), what every
    /// service is authorised for.
    pub authorized_scopes: Option<Vec<String>>,
    /// FranceConnect flavours: the claims this client may ask for through `claims` (only
    /// `amr` exists); asking without the authorisation ends on FranceConnect's error page.
    pub authorized_claims: Vec<String>,
}

impl MockConfig {
    /// A client authorised for every scope of its platform and for the `amr` claim.
    pub fn authorised_for_everything(mut self) -> MockConfig {
        self.authorized_scopes = Some(platform::all_scopes(self.flavour));
        self.authorized_claims = vec!["amr".into()];
        self
    }
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            client_id: "guichet-demo".to_owned(),
            client_secret: "demo-secret-0123456789abcdef0123456789".to_owned(),
            path_prefix: "/api/v2".to_owned(),
            flavour: Flavour::FranceConnectV2,
            rp_jwks_uri: None,
            authorized_scopes: None,
            authorized_claims: Vec::new(),
        }
    }
}

impl fmt::Debug for MockConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("path_prefix", &self.path_prefix)
            .field("flavour", &self.flavour)
            .field("rp_jwks_uri", &self.rp_jwks_uri)
            .field("authorized_scopes", &self.authorized_scopes)
            .field("authorized_claims", &self.authorized_claims)
            .finish()
    }
}

/// A running mock provider; cheap to clone.
#[derive(Clone)]
pub struct MockProvider {
    inner: Arc<Inner>,
}

impl fmt::Debug for MockProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockProvider")
            .field("issuer", &self.inner.issuer)
            .field("flavour", &self.inner.config.flavour)
            .finish_non_exhaustive()
    }
}

struct Inner {
    config: MockConfig,
    addr: SocketAddr,
    base_url: String,
    /// Normalised prefix: "" or "/x/y" (no trailing slash).
    prefix: String,
    issuer: String,
    state: Mutex<MockState>,
    stop: watch::Sender<bool>,
}

struct MockState {
    faults: Faults,
    /// Current key: signs tokens, the only one in the JWKS.
    key: SigningKey,
    /// Not published; used by `unknown_kid` / `userinfo_signed_by_other_key`, promoted by rotation.
    spare: SigningKey,
    /// FranceConnect+: JWEs made (id_token and userinfo), for tests.
    encrypted: u64,
    codes: HashMap<String, CodeGrant>,
    tokens: HashMap<String, AccessGrant>,
    /// sha256 of every id_token issued, to accept them as `id_token_hint`.
    issued_id_tokens: HashSet<[u8; 32]>,
    /// The previous generation of `issued_id_tokens` (both are bounded, and a hint issued
    /// just before a generation turns over is still recognised).
    previous_id_tokens: HashSet<[u8; 32]>,
    last_authorize: Option<BTreeMap<String, String>>,
    last_token: Option<BTreeMap<String, String>>,
    last_end_session: Option<BTreeMap<String, String>>,
    last_revocation: Option<BTreeMap<String, String>>,
    /// Authorization requests waiting for the citizen, by interaction id.
    interactions: HashMap<String, Interaction>,
    counters: MockCounters,
    /// Every code and token handed out (the latest [`MAX_ISSUED`]), for log-leak tests.
    issued: Vec<String>,
}

/// Codes and tokens remembered by [`MockProvider::issued`].
const MAX_ISSUED: usize = 1000;

impl MockState {
    fn remember(&mut self, secret: &str) {
        if self.issued.len() >= MAX_ISSUED {
            self.issued.remove(0);
        }
        self.issued.push(secret.to_string());
    }
}

struct CodeGrant {
    client_id: String,
    redirect_uri: String,
    nonce: String,
    acr: String,
    scope: String,
    citizen: &'static Citizen,
    code_challenge: Option<String>,
    /// Put `amr` in the id_token.
    amr: bool,
    issued: Instant,
}

struct AccessGrant {
    citizen: &'static Citizen,
    scope: String,
    expires: Instant,
}

mod authorize;
mod discovery;
pub mod driver;
mod encryption;
mod faults;
#[cfg(test)]
mod flavour_tests;
mod interaction;
mod keys;
mod platform;
#[cfg(test)]
mod platform_tests;
mod responses;
mod revocation;
#[cfg(test)]
mod strictness_tests;
#[cfg(test)]
mod tests;
mod token;
mod userinfo;

use authorize::*;
use discovery::*;
use encryption::*;
pub use faults::{Faults, JweFault, MockCounters};
use interaction::*;
use keys::*;
use responses::*;
use revocation::*;
use token::*;
use userinfo::*;

pub(super) fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::fill(&mut b[..]);
    hex::encode(b)
}

pub(super) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing holding this lock can leave the state half-updated in a harmful way.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    /// The scopes the client is authorised for ([`MockConfig::authorized_scopes`]).
    pub(super) fn authorised_scopes(&self) -> Vec<String> {
        match &self.config.authorized_scopes {
            Some(s) => s.clone(),
            None => platform::PIVOT_SCOPES
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

pub(super) fn normalise_prefix(p: &str) -> String {
    let p = p.trim().trim_end_matches('/');
    if p.is_empty() {
        String::new()
    } else if p.starts_with('/') {
        p.to_owned()
    } else {
        format!("/{p}")
    }
}

impl MockProvider {
    /// Serves on the given listener, spawned onto the current tokio runtime. Binds nothing
    /// itself; the issuer is `http://<listener address><path_prefix>`.
    pub async fn serve(
        listener: tokio::net::TcpListener,
        config: MockConfig,
    ) -> std::io::Result<MockProvider> {
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}");
        let prefix = normalise_prefix(&config.path_prefix);
        // FranceConnect v1's `iss` is the bare host, without `/api/v1`.
        let issuer = if config.flavour == Flavour::FranceConnectV1 {
            base_url.clone()
        } else {
            format!("{base_url}{prefix}")
        };
        let key = SigningKey::generate(config.flavour);
        let spare = SigningKey::generate(config.flavour);
        let (stop, mut stopped) = watch::channel(false);
        let inner = Arc::new(Inner {
            config,
            addr,
            base_url,
            prefix: prefix.clone(),
            issuer,
            state: Mutex::new(MockState {
                faults: Faults::default(),
                key,
                spare,
                encrypted: 0,
                codes: HashMap::new(),
                tokens: HashMap::new(),
                issued_id_tokens: HashSet::new(),
                previous_id_tokens: HashSet::new(),
                last_authorize: None,
                last_token: None,
                last_end_session: None,
                last_revocation: None,
                interactions: HashMap::new(),
                counters: MockCounters::default(),
                issued: Vec::new(),
            }),
            stop,
        });
        let p = prefix;
        let mut app = Router::new()
            .route(&format!("{p}/authorize"), get(authorize))
            .route(&format!("{p}/interaction/{{uid}}"), get(interaction_page))
            .route(
                &format!("{p}/interaction/{{uid}}/login"),
                get(interaction_login).post(interaction_login),
            )
            .route(
                &format!("{p}/interaction/{{uid}}/abort"),
                get(interaction_abort),
            )
            .route(&format!("{p}/token"), axum::routing::post(token))
            .route(&format!("{p}/userinfo"), get(userinfo).post(userinfo));
        app = if inner.config.flavour == Flavour::FranceConnectV1 {
            // No discovery, no JWKS: the relying party is configured with these endpoints.
            app.route(&format!("{p}/logout"), get(end_session))
        } else {
            app.route(
                &format!("{p}/.well-known/openid-configuration"),
                get(discovery),
            )
            .route(&format!("{p}/jwks"), get(jwks))
            .route(&format!("{p}/session/end"), get(end_session))
            .route(
                &format!("{p}/token/revocation"),
                axum::routing::post(revocation),
            )
        };
        let app = app.fallback(not_found).with_state(inner.clone());
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::warn!(error = %e, "mock provider stopped");
            }
        });
        Ok(MockProvider { inner })
    }

    /// e.g. "http://127.0.0.1:41234/api/v2".
    pub fn issuer(&self) -> String {
        self.inner.issuer.clone()
    }

    /// e.g. "http://127.0.0.1:41234".
    pub fn base_url(&self) -> String {
        self.inner.base_url.clone()
    }

    /// The URL of one endpoint, e.g. `endpoint("token")` (for relying parties configured
    /// without discovery).
    pub fn endpoint(&self, leaf: &str) -> String {
        format!("{}{}/{leaf}", self.inner.base_url, self.inner.prefix)
    }

    /// The end-session endpoint (`/logout` for v1, `/session/end` otherwise).
    pub fn end_session_endpoint(&self) -> String {
        if self.flavour() == Flavour::FranceConnectV1 {
            self.endpoint("logout")
        } else {
            self.endpoint("session/end")
        }
    }

    /// How many JWEs (id_tokens and userinfo responses) the mock has encrypted.
    pub fn encrypted_count(&self) -> u64 {
        lock(&self.inner.state).encrypted
    }

    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    pub fn flavour(&self) -> Flavour {
        self.inner.config.flavour
    }

    pub fn client_id(&self) -> &str {
        &self.inner.config.client_id
    }

    pub fn client_secret(&self) -> &str {
        &self.inner.config.client_secret
    }

    /// Replace all faults.
    pub fn set_faults(&self, f: Faults) {
        lock(&self.inner.state).faults = f;
    }

    pub fn faults(&self) -> Faults {
        lock(&self.inner.state).faults.clone()
    }

    /// New signing key with a new kid; the JWKS then publishes only the new key. The new key
    /// is the former spare key (the one [`Faults::unknown_kid`] signs with), so a token signed
    /// under `unknown_kid` before the rotation verifies after it.
    pub fn rotate_signing_key(&self) {
        let fresh = SigningKey::generate(self.inner.config.flavour);
        let mut st = lock(&self.inner.state);
        let spare = std::mem::replace(&mut st.spare, fresh);
        st.key = spare;
    }

    /// The `kid` of the key currently signing and published.
    pub fn current_kid(&self) -> String {
        lock(&self.inner.state).key.kid.clone()
    }

    /// Signs arbitrary claims with the current published key, as a compact JWS with header
    /// `typ` (e.g. a back-channel `logout_token` with typ `logout+jwt`; "" for no `typ`).
    pub fn sign_jwt(&self, typ: &str, claims: &Value) -> String {
        let key = lock(&self.inner.state).key.clone();
        encode_jws(typ, claims, Signing::Key(&key), false)
    }

    /// The JWK set currently published at `/jwks`.
    pub fn jwks(&self) -> Value {
        json!({"keys": [lock(&self.inner.state).key.public_jwk.clone()]})
    }

    /// Query parameters of the last `/authorize` request (recorded even if it was refused).
    pub fn last_authorize_params(&self) -> Option<BTreeMap<String, String>> {
        lock(&self.inner.state).last_authorize.clone()
    }

    /// Form fields of the last `/token` request (secret included: it is a test mock), plus
    /// `"_auth"` = `"basic"` | `"post"` | `"none"` (how the client authenticated; `"basic"`
    /// also when both were attempted) and, with basic auth, `"_basic_client_id"`.
    /// Every authorization code, access token, id_token (signed, and encrypted for
    /// FranceConnect+) and userinfo JWT this mock handed out, oldest first.
    pub fn issued(&self) -> Vec<String> {
        lock(&self.inner.state).issued.clone()
    }

    pub fn last_token_request(&self) -> Option<BTreeMap<String, String>> {
        lock(&self.inner.state).last_token.clone()
    }

    /// Query parameters of the last `/session/end` request.
    pub fn last_end_session_params(&self) -> Option<BTreeMap<String, String>> {
        lock(&self.inner.state).last_end_session.clone()
    }

    /// Form fields of the last `/token/revocation` request (secret included: a test mock).
    pub fn last_revocation(&self) -> Option<BTreeMap<String, String>> {
        lock(&self.inner.state).last_revocation.clone()
    }

    /// Is this access token still accepted at userinfo?
    pub fn access_token_is_live(&self, token: &str) -> bool {
        lock(&self.inner.state)
            .tokens
            .get(token)
            .is_some_and(|g| g.expires > Instant::now())
    }

    /// Number of requests per endpoint.
    pub fn counters(&self) -> MockCounters {
        lock(&self.inner.state).counters
    }

    /// Stops serving: no new connection is accepted, in-flight requests finish.
    pub fn shutdown(&self) {
        self.inner.stop.send_replace(true);
    }
}
