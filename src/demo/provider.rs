//! Mock FranceConnect-like OpenID Provider, for `guichet demo` and the integration tests.
//!
//! It behaves like FranceConnect v2 (`fcp-low`) by default: discovery and JWKS under `/api/v2`,
//! `acr_values` and `state`/`nonce` required, `client_secret_post` only, ES256 id_token, userinfo
//! as a signed JWT (`application/jwt`), `/session/end` logout with `id_token_hint`. The
//! [`Flavour::Generic`] variant behaves like a plain OIDC provider (RS256, JSON userinfo, PKCE S256,
//! `client_secret_basic`). Every key is real and every token really signed, so a relying party
//! validates them exactly as it would validate the real provider's; [`Faults`] make it misbehave
//! in controlled ways.
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

/// Lifetime of an authorization code (FranceConnect: 30 s).
pub const CODE_TTL: Duration = Duration::from_secs(30);
/// Lifetime of access and id tokens, in seconds (FranceConnect: 60 s).
pub const TOKEN_TTL_SECS: u64 = 60;
/// The `idp_id` claim the mock puts in tokens (an identity provider id like FranceConnect's).
pub const IDP_ID: &str = "fia1v2";
/// Audience used by [`Faults::wrong_audience`] and [`Faults::extra_audience_without_azp`].
pub const OTHER_AUDIENCE: &str = "other-client";

/// How the mock provider is set up.
#[derive(Clone)]
pub struct MockConfig {
    pub client_id: String,
    pub client_secret: String,
    /// Path prefix under which endpoints live, e.g. "/api/v2" (issuer = base_url + prefix).
    pub path_prefix: String,
    pub flavour: Flavour,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            client_id: "guichet-demo".to_owned(),
            client_secret: "demo-secret-0123456789abcdef0123456789".to_owned(),
            path_prefix: "/api/v2".to_owned(),
            flavour: Flavour::FranceConnectV2,
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
            .finish()
    }
}

/// Which kind of provider the mock imitates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// FranceConnect v2 (eIDAS low): ES256 id_token, userinfo `application/jwt` signed ES256,
    /// `client_secret_post` only, `acr_values` required, no PKCE advertised.
    FranceConnectV2,
    /// A plain OIDC provider: RS256 id_token, JSON userinfo, PKCE S256 advertised,
    /// `client_secret_basic` and `client_secret_post`.
    Generic,
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
    /// Userinfo JWT signed with the spare key (not in the JWKS). No effect on JSON userinfo
    /// ([`Flavour::Generic`]).
    pub userinfo_signed_by_other_key: bool,
    // endpoints
    /// Token endpoint answers 200 `text/html` "<html>maintenance</html>".
    pub token_returns_html: bool,
    /// Token endpoint waits this long before answering.
    pub token_delay_ms: u64,
    /// JWKS endpoint answers 503.
    pub jwks_down: bool,
    /// Authorize redirects back with `?error=<value>&error_description=...&state=<state>`.
    pub authorize_error: Option<String>,
}

/// Number of requests received per endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MockCounters {
    pub discovery: u64,
    pub jwks: u64,
    /// `/authorize` only (not the chooser's follow-up `/authorize/choose`).
    pub authorize: u64,
    pub token: u64,
    pub userinfo: u64,
    pub end_session: u64,
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
    codes: HashMap<String, CodeGrant>,
    tokens: HashMap<String, AccessGrant>,
    /// sha256 of every id_token issued, to accept them as `id_token_hint`.
    issued_id_tokens: HashSet<[u8; 32]>,
    last_authorize: Option<BTreeMap<String, String>>,
    last_token: Option<BTreeMap<String, String>>,
    last_end_session: Option<BTreeMap<String, String>>,
    counters: MockCounters,
}

struct CodeGrant {
    client_id: String,
    redirect_uri: String,
    nonce: String,
    acr: String,
    scope: String,
    citizen: &'static Citizen,
    code_challenge: Option<String>,
    issued: Instant,
}

struct AccessGrant {
    citizen: &'static Citizen,
    scope: String,
    expires: Instant,
}

#[derive(Clone)]
enum KeySigner {
    Es(josekit::jws::alg::ecdsa::EcdsaJwsSigner),
    Rs(josekit::jws::alg::rsassa::RsassaJwsSigner),
}

#[derive(Clone)]
struct SigningKey {
    kid: String,
    alg: &'static str,
    signer: KeySigner,
    public_jwk: Value,
    public_pem: Vec<u8>,
}

impl SigningKey {
    /// A fresh key for this flavour. Key generation failing is an internal invariant broken
    /// (OpenSSL unusable), not a request error.
    fn generate(flavour: Flavour) -> SigningKey {
        let kid = random_hex(8);
        let (alg, signer, jwk, pem) = match flavour {
            Flavour::FranceConnectV2 => {
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
            Flavour::Generic => {
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
enum Signing<'a> {
    Key(&'a SigningKey),
    None,
    /// HS256 keyed with this key's public PEM, header `kid` of this key.
    HsConfusion(&'a SigningKey),
}

fn encode_jws(typ: &str, claims: &Value, signing: Signing<'_>, corrupt: bool) -> String {
    let header = match &signing {
        Signing::Key(k) => json!({"alg": k.alg, "kid": k.kid, "typ": typ}),
        Signing::None => json!({"alg": "none", "typ": typ}),
        Signing::HsConfusion(k) => json!({"alg": "HS256", "kid": k.kid, "typ": typ}),
    };
    let mut out = URL_SAFE_NO_PAD.encode(header.to_string());
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
    let mut sig = match signing {
        Signing::Key(k) => k.sign(out.as_bytes()),
        Signing::None => Vec::new(),
        Signing::HsConfusion(k) => HS256
            .signer_from_bytes(&k.public_pem)
            .and_then(|s| s.sign(out.as_bytes()))
            .expect("HMAC with a PEM key"),
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

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::fill(&mut b[..]);
    hex::encode(b)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing holding this lock can leave the state half-updated in a harmful way.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn normalise_prefix(p: &str) -> String {
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
        let issuer = format!("{base_url}{prefix}");
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
                codes: HashMap::new(),
                tokens: HashMap::new(),
                issued_id_tokens: HashSet::new(),
                last_authorize: None,
                last_token: None,
                last_end_session: None,
                counters: MockCounters::default(),
            }),
            stop,
        });
        let p = prefix;
        let app = Router::new()
            .route(
                &format!("{p}/.well-known/openid-configuration"),
                get(discovery),
            )
            .route(&format!("{p}/jwks"), get(jwks))
            .route(&format!("{p}/authorize"), get(authorize))
            .route(&format!("{p}/authorize/choose"), get(choose))
            .route(&format!("{p}/token"), axum::routing::post(token))
            .route(&format!("{p}/userinfo"), get(userinfo).post(userinfo))
            .route(&format!("{p}/session/end"), get(end_session))
            .fallback(not_found)
            .with_state(inner.clone());
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
    pub fn last_token_request(&self) -> Option<BTreeMap<String, String>> {
        lock(&self.inner.state).last_token.clone()
    }

    /// Query parameters of the last `/session/end` request.
    pub fn last_end_session_params(&self) -> Option<BTreeMap<String, String>> {
        lock(&self.inner.state).last_end_session.clone()
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

// ---------------------------------------------------------------------------------------------
// Responses

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = json!({"error": error, "error_description": description});
    let mut r = (status, axum::Json(body)).into_response();
    no_store(&mut r);
    r
}

fn bad_request(error: &str, description: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, error, description)
}

/// A request refused with 400 and a JSON OAuth error (small, unlike a `Response`).
struct Refusal {
    error: &'static str,
    description: String,
}

fn refuse(error: &'static str, description: impl Into<String>) -> Refusal {
    Refusal {
        error,
        description: description.into(),
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        bad_request(self.error, &self.description)
    }
}

fn no_store(r: &mut Response) {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

fn json_response(v: &Value) -> Response {
    (StatusCode::OK, axum::Json(v.clone())).into_response()
}

fn redirect(url: &Url) -> Response {
    match HeaderValue::try_from(url.as_str()) {
        Ok(loc) => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::FOUND;
            r.headers_mut().insert(header::LOCATION, loc);
            no_store(&mut r);
            r
        }
        Err(_) => bad_request("invalid_request", "redirect URI not usable"),
    }
}

fn html_page(status: StatusCode, body: String) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    no_store(&mut r);
    r
}

/// Parse a query string or form body; a repeated parameter is an error (RFC 6749 3.1).
fn parse_params(raw: &[u8]) -> Result<BTreeMap<String, String>, Refusal> {
    let mut out = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(raw) {
        if out.insert(k.to_string(), v.into_owned()).is_some() {
            return Err(refuse(
                "invalid_request",
                format!("parameter {k} given more than once"),
            ));
        }
    }
    Ok(out)
}

async fn not_found() -> Response {
    oauth_error(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

// ---------------------------------------------------------------------------------------------
// Discovery and JWKS

const SCOPES: &[&str] = &[
    "openid",
    "given_name",
    "given_name_array",
    "family_name",
    "preferred_username",
    "birthdate",
    "idp_birthdate",
    "gender",
    "birthplace",
    "birthcountry",
    "email",
    "profile",
    "birth",
    "identite_pivot",
];

const CLAIMS: &[&str] = &[
    "sub",
    "given_name",
    "given_name_array",
    "family_name",
    "preferred_username",
    "birthdate",
    "idp_birthdate",
    "gender",
    "birthplace",
    "birthcountry",
    "email",
    "idp_id",
    "amr",
    "acr",
    "auth_time",
];

fn discovery_document(inner: &Inner) -> Value {
    let iss = &inner.issuer;
    let mut d = json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/authorize"),
        "token_endpoint": format!("{iss}/token"),
        "userinfo_endpoint": format!("{iss}/userinfo"),
        "end_session_endpoint": format!("{iss}/session/end"),
        "jwks_uri": format!("{iss}/jwks"),
        "scopes_supported": SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "claims_supported": CLAIMS,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
    });
    if let Value::Object(m) = &mut d {
        match inner.config.flavour {
            Flavour::FranceConnectV2 => {
                m.insert(
                    "id_token_signing_alg_values_supported".into(),
                    json!(["ES256", "RS256"]),
                );
                m.insert(
                    "userinfo_signing_alg_values_supported".into(),
                    json!(["ES256", "RS256"]),
                );
                m.insert(
                    "token_endpoint_auth_methods_supported".into(),
                    json!(["client_secret_post"]),
                );
                m.insert("acr_values_supported".into(), json!(["eidas1"]));
            }
            Flavour::Generic => {
                m.insert(
                    "id_token_signing_alg_values_supported".into(),
                    json!(["RS256"]),
                );
                m.insert(
                    "token_endpoint_auth_methods_supported".into(),
                    json!(["client_secret_basic", "client_secret_post"]),
                );
                m.insert(
                    "acr_values_supported".into(),
                    json!(["eidas1", "eidas2", "eidas3"]),
                );
                m.insert("code_challenge_methods_supported".into(), json!(["S256"]));
            }
        }
    }
    d
}

async fn discovery(State(inner): State<Arc<Inner>>) -> Response {
    lock(&inner.state).counters.discovery += 1;
    json_response(&discovery_document(&inner))
}

async fn jwks(State(inner): State<Arc<Inner>>) -> Response {
    let (down, set) = {
        let mut st = lock(&inner.state);
        st.counters.jwks += 1;
        (
            st.faults.jwks_down,
            json!({"keys": [st.key.public_jwk.clone()]}),
        )
    };
    if down {
        return oauth_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "JWKS down (fault injected)",
        );
    }
    json_response(&set)
}

// ---------------------------------------------------------------------------------------------
// Authorize

struct AuthorizeRequest {
    client_id: String,
    redirect_uri: Url,
    state: String,
    nonce: String,
    acr: String,
    scope: String,
    code_challenge: Option<String>,
}

const MAX_PARAM_LEN: usize = 2048;

fn validate_authorize(
    inner: &Inner,
    p: &BTreeMap<String, String>,
) -> Result<AuthorizeRequest, Refusal> {
    let get = |k: &str| p.get(k).map(String::as_str).filter(|v| !v.is_empty());
    if let Some((k, _)) = p.iter().find(|(_, v)| v.len() > MAX_PARAM_LEN) {
        return Err(refuse("invalid_request", format!("parameter {k} too long")));
    }
    match get("response_type") {
        Some("code") => {}
        Some(_) => {
            return Err(refuse(
                "unsupported_response_type",
                "only response_type=code is supported",
            ))
        }
        None => return Err(refuse("invalid_request", "response_type is required")),
    }
    let client_id = match get("client_id") {
        Some(c) if c == inner.config.client_id => c.to_owned(),
        Some(_) => return Err(refuse("invalid_client", "unknown client_id")),
        None => return Err(refuse("invalid_request", "client_id is required")),
    };
    let redirect_uri = match get("redirect_uri").map(Url::parse) {
        Some(Ok(u)) if matches!(u.scheme(), "http" | "https") && u.fragment().is_none() => u,
        Some(_) => {
            return Err(refuse(
                "invalid_request",
                "redirect_uri must be an absolute http(s) URL without fragment",
            ))
        }
        None => return Err(refuse("invalid_request", "redirect_uri is required")),
    };
    let scope = get("scope").unwrap_or_default();
    if !scope.split(' ').any(|s| s == "openid") {
        return Err(refuse("invalid_scope", "scope must contain openid"));
    }
    let Some(state) = get("state") else {
        return Err(refuse("invalid_request", "state is required"));
    };
    let Some(nonce) = get("nonce") else {
        return Err(refuse("invalid_request", "nonce is required"));
    };
    let acr = match (get("acr_values"), inner.config.flavour) {
        (Some(a), _) => a.split(' ').find(|s| !s.is_empty()).unwrap_or("eidas1"),
        (None, Flavour::FranceConnectV2) => {
            return Err(refuse("invalid_request", "acr_values is required"))
        }
        (None, Flavour::Generic) => "eidas1",
    };
    let code_challenge = match (get("code_challenge"), get("code_challenge_method")) {
        (None, None) => None,
        (Some(c), Some("S256")) => {
            let ok = c.len() == 43
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                return Err(refuse(
                    "invalid_request",
                    "code_challenge must be 43 base64url characters",
                ));
            }
            Some(c.to_owned())
        }
        (Some(_), _) => {
            return Err(refuse(
                "invalid_request",
                "only code_challenge_method=S256 is supported",
            ))
        }
        (None, Some(_)) => {
            return Err(refuse(
                "invalid_request",
                "code_challenge_method without code_challenge",
            ))
        }
    };
    Ok(AuthorizeRequest {
        client_id,
        redirect_uri,
        state: state.to_owned(),
        nonce: nonce.to_owned(),
        acr: acr.to_owned(),
        scope: scope.to_owned(),
        code_challenge,
    })
}

async fn authorize(State(inner): State<Arc<Inner>>, RawQuery(q): RawQuery) -> Response {
    lock(&inner.state).counters.authorize += 1;
    let params = match parse_params(q.as_deref().unwrap_or("").as_bytes()) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let error_fault = {
        let mut st = lock(&inner.state);
        st.last_authorize = Some(params.clone());
        st.faults.authorize_error.clone()
    };
    let req = match validate_authorize(&inner, &params) {
        Ok(r) => r,
        Err(r) => return r.into_response(),
    };
    if let Some(error) = error_fault {
        let mut u = req.redirect_uri.clone();
        u.query_pairs_mut()
            .append_pair("error", &error)
            .append_pair(
                "error_description",
                "Erreur simulée par le fournisseur fictif",
            )
            .append_pair("state", &req.state);
        return redirect(&u);
    }
    if let Some(c) = params.get("login_hint").and_then(|h| citizens::find(h)) {
        return issue_code(&inner, req, c);
    }
    chooser_page(&inner, &params)
}

async fn choose(State(inner): State<Arc<Inner>>, RawQuery(q): RawQuery) -> Response {
    let mut params = match parse_params(q.as_deref().unwrap_or("").as_bytes()) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let citizen = match params.remove("citizen").as_deref().map(citizens::find) {
        Some(Some(c)) => c,
        Some(None) => return bad_request("invalid_request", "unknown citizen"),
        None => return bad_request("invalid_request", "citizen is required"),
    };
    match validate_authorize(&inner, &params) {
        Ok(req) => issue_code(&inner, req, citizen),
        Err(r) => r.into_response(),
    }
}

fn issue_code(inner: &Inner, req: AuthorizeRequest, citizen: &'static Citizen) -> Response {
    let code = random_hex(32);
    {
        let mut st = lock(&inner.state);
        st.codes.retain(|_, g| g.issued.elapsed() < CODE_TTL);
        st.codes.insert(
            code.clone(),
            CodeGrant {
                client_id: req.client_id,
                redirect_uri: req.redirect_uri.as_str().to_owned(),
                nonce: req.nonce,
                acr: req.acr,
                scope: req.scope,
                citizen,
                code_challenge: req.code_challenge,
                issued: Instant::now(),
            },
        );
    }
    let mut u = req.redirect_uri;
    u.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &req.state);
    redirect(&u)
}

fn chooser_page(inner: &Inner, params: &BTreeMap<String, String>) -> Response {
    let mut items = String::new();
    for c in citizens::CITIZENS {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("citizen", c.id);
        for (k, v) in params.iter().filter(|(k, _)| *k != "login_hint") {
            q.append_pair(k, v);
        }
        let href = format!("{}/authorize/choose?{}", inner.prefix, q.finish());
        let born = if c.birthplace.is_empty() {
            format!("né·e le {} à l'étranger ({})", c.birthdate, c.birthcountry)
        } else {
            format!("né·e le {} (commune {})", c.birthdate, c.birthplace)
        };
        let born = if c.idp_birthdate.len() < c.birthdate.len() {
            format!("{born}, date connue : {}", c.idp_birthdate)
        } else {
            born
        };
        items.push_str(&format!(
            "<li><a href=\"{}\"><span class=\"name\">{}</span> <span class=\"meta\">{}</span> \
             <span class=\"meta\">Identifiant de test (login_hint) : {}</span></a></li>\n",
            crate::pages::escape(&href),
            crate::pages::escape(&c.display_name()),
            crate::pages::escape(&born),
            crate::pages::escape(c.id),
        ));
    }
    let body = format!(
        r#"<!DOCTYPE html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Fournisseur d'identité fictif : choisir une identité de test</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 0; background: #ffffff; color: #161616; }}
main {{ max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }}
h1 {{ font-size: 1.5rem; color: #000091; }}
ul {{ list-style: none; padding: 0; }}
li {{ margin: 0.75rem 0; }}
a {{ display: block; padding: 0.75rem 1rem; border: 2px solid #000091; border-radius: 4px;
     color: #000091; text-decoration: none; }}
a:hover {{ background: #e3e3fd; }}
a:focus {{ outline: 3px solid #0a76f6; outline-offset: 2px; }}
.name {{ font-weight: bold; }}
.meta {{ display: block; color: #3a3a3a; font-size: 0.9rem; }}
.warning {{ border-left: 4px solid #b34000; padding: 0.5rem 1rem; background: #fff4f3; }}
</style>
</head>
<body>
<main>
<h1>Fournisseur d'identité fictif</h1>
<p class="warning">Ceci est un fournisseur de démonstration : aucune vraie identité n'est utilisée.</p>
<p id="consigne">Choisissez l'identité de test avec laquelle vous connecter :</p>
<ul aria-labelledby="consigne">
{items}</ul>
</main>
</body>
</html>
"#
    );
    html_page(StatusCode::OK, body)
}

// ---------------------------------------------------------------------------------------------
// Token

enum ClientAuth {
    Basic { id: String, secret: String },
    Post { id: String, secret: String },
    None,
}

fn form_decode(s: &str) -> Option<String> {
    let s = s.replace('+', " ");
    percent_encoding::percent_decode_str(&s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

fn basic_credentials(headers: &HeaderMap) -> Option<Result<(String, String), ()>> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let parsed = STANDARD
        .decode(rest.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            let (id, secret) = s.split_once(':')?;
            Some((form_decode(id)?, form_decode(secret)?))
        });
    Some(parsed.ok_or(()))
}

fn secret_matches(given: &str, expected: &str) -> bool {
    given.len() == expected.len() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

fn invalid_client(basic: bool, description: &str) -> Response {
    let mut r = oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", description);
    if basic {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"mock-provider\""),
        );
    }
    r
}

fn pkce_ok(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    well_formed && URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == challenge
}

async fn token(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let faults = {
        let mut st = lock(&inner.state);
        st.counters.token += 1;
        st.faults.clone()
    };
    if faults.token_delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.token_delay_ms)).await;
    }
    if faults.token_returns_html {
        let mut r = Response::new(Body::from("<html>maintenance</html>"));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        return r;
    }
    let form_ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
        .unwrap_or(false);
    let basic = basic_credentials(&headers);
    let form = if form_ct {
        parse_params(&body)
    } else {
        Err(refuse(
            "invalid_request",
            "Content-Type must be application/x-www-form-urlencoded",
        ))
    };
    {
        let mut record = form.as_ref().cloned().unwrap_or_default();
        let auth = match (&basic, record.contains_key("client_secret")) {
            (Some(_), _) => "basic",
            (None, true) => "post",
            (None, false) => "none",
        };
        record.insert("_auth".into(), auth.into());
        if let Some(Ok((id, _))) = &basic {
            record.insert("_basic_client_id".into(), id.clone());
        }
        lock(&inner.state).last_token = Some(record);
    }
    let form = match form {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };

    // Client authentication.
    let auth = match (basic, form.get("client_secret")) {
        (Some(_), Some(_)) => {
            return bad_request(
                "invalid_request",
                "more than one client authentication method",
            )
        }
        (Some(Err(())), None) => return invalid_client(true, "malformed Basic credentials"),
        (Some(Ok((id, secret))), None) => ClientAuth::Basic { id, secret },
        (None, Some(secret)) => match form.get("client_id") {
            Some(id) => ClientAuth::Post {
                id: id.clone(),
                secret: secret.clone(),
            },
            None => return invalid_client(false, "client_id is required"),
        },
        (None, None) => ClientAuth::None,
    };
    let supported: &[&str] = match inner.config.flavour {
        Flavour::FranceConnectV2 => &["client_secret_post"],
        Flavour::Generic => &["client_secret_basic", "client_secret_post"],
    };
    let (id, secret, is_basic) = match auth {
        ClientAuth::None => return invalid_client(false, "client authentication required"),
        ClientAuth::Basic { id, secret } => (id, secret, true),
        ClientAuth::Post { id, secret } => (id, secret, false),
    };
    let method = if is_basic {
        "client_secret_basic"
    } else {
        "client_secret_post"
    };
    if !supported.contains(&method) {
        return invalid_client(
            is_basic,
            &format!("{method} is not allowed for this client"),
        );
    }
    if is_basic {
        if let Some(form_id) = form.get("client_id") {
            if *form_id != id {
                return bad_request("invalid_request", "client_id does not match credentials");
            }
        }
    }
    if id != inner.config.client_id || !secret_matches(&secret, &inner.config.client_secret) {
        return invalid_client(is_basic, "client authentication failed");
    }

    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {}
        Some(_) => {
            return bad_request(
                "unsupported_grant_type",
                "only authorization_code is supported",
            )
        }
        None => return bad_request("invalid_request", "grant_type is required"),
    }
    let Some(code) = form.get("code").filter(|c| !c.is_empty()) else {
        return bad_request("invalid_request", "code is required");
    };
    let grant = lock(&inner.state).codes.remove(code);
    let Some(grant) = grant else {
        return bad_request("invalid_grant", "unknown or already used code");
    };
    if grant.issued.elapsed() >= CODE_TTL {
        return bad_request("invalid_grant", "code expired");
    }
    if grant.client_id != id {
        return bad_request("invalid_grant", "code was issued to another client");
    }
    if form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return bad_request(
            "invalid_grant",
            "redirect_uri does not match the authorization request",
        );
    }
    match (&grant.code_challenge, form.get("code_verifier")) {
        (Some(challenge), Some(verifier)) if pkce_ok(verifier, challenge) => {}
        (Some(_), Some(_)) => return bad_request("invalid_grant", "PKCE verification failed"),
        (Some(_), None) => return bad_request("invalid_grant", "code_verifier is required"),
        (None, Some(_)) if inner.config.flavour == Flavour::Generic => {
            return bad_request(
                "invalid_grant",
                "code_verifier given but the authorization request had no code_challenge",
            )
        }
        (None, _) => {}
    }

    let now = now_secs();
    let sub = grant.citizen.sub(&grant.client_id);
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(inner.issuer));
    claims.insert("sub".into(), json!(sub));
    claims.insert("aud".into(), json!(grant.client_id));
    claims.insert("exp".into(), json!(now + TOKEN_TTL_SECS));
    claims.insert("iat".into(), json!(now));
    claims.insert("auth_time".into(), json!(now));
    claims.insert("nonce".into(), json!(grant.nonce));
    claims.insert(
        "acr".into(),
        json!(faults.acr.clone().unwrap_or_else(|| grant.acr.clone())),
    );
    claims.insert("amr".into(), json!(["pwd"]));
    claims.insert("idp_id".into(), json!(IDP_ID));
    if faults.wrong_issuer {
        claims.insert("iss".into(), json!(format!("{}/other", inner.issuer)));
    }
    if faults.extra_audience_without_azp {
        claims.insert("aud".into(), json!([grant.client_id, OTHER_AUDIENCE]));
        claims.remove("azp");
    }
    if faults.wrong_audience {
        claims.insert("aud".into(), json!(OTHER_AUDIENCE));
    }
    if faults.expired {
        claims.insert("exp".into(), json!(now.saturating_sub(300)));
        claims.insert("iat".into(), json!(now.saturating_sub(360)));
        claims.insert("auth_time".into(), json!(now.saturating_sub(360)));
    }
    if faults.iat_in_future {
        claims.insert("iat".into(), json!(now + 3600));
        claims.insert("exp".into(), json!(now + 3600 + TOKEN_TTL_SECS));
    }
    if faults.wrong_nonce {
        claims.insert("nonce".into(), json!(random_hex(32)));
    }
    if faults.missing_nonce {
        claims.remove("nonce");
    }
    let claims = Value::Object(claims);

    let access_token = random_hex(32);
    let id_token = {
        let mut st = lock(&inner.state);
        let signing = if faults.alg_none {
            Signing::None
        } else if faults.hs256_with_public_key {
            Signing::HsConfusion(&st.key)
        } else if faults.unknown_kid {
            Signing::Key(&st.spare)
        } else {
            Signing::Key(&st.key)
        };
        let t = encode_jws("JWT", &claims, signing, faults.bad_signature);
        if st.issued_id_tokens.len() > 10_000 {
            st.issued_id_tokens.clear();
        }
        st.issued_id_tokens
            .insert(Sha256::digest(t.as_bytes()).into());
        st.tokens.retain(|_, g| g.expires > Instant::now());
        st.tokens.insert(
            access_token.clone(),
            AccessGrant {
                citizen: grant.citizen,
                scope: grant.scope.clone(),
                expires: Instant::now() + Duration::from_secs(TOKEN_TTL_SECS),
            },
        );
        t
    };
    let mut r = json_response(&json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": TOKEN_TTL_SECS,
        "id_token": id_token,
        "scope": grant.scope,
    }));
    no_store(&mut r);
    r
}

// ---------------------------------------------------------------------------------------------
// Userinfo

/// Claims released for these scopes (FranceConnect's scope -> claims table; `given_name_array`
/// comes with `given_name` and `idp_birthdate` with `birthdate`).
fn userinfo_claims(c: &Citizen, sub: String, scope: &str) -> Map<String, Value> {
    let scopes: HashSet<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
    let has = |names: &[&str]| names.iter().any(|n| scopes.contains(n));
    let mut m = Map::new();
    m.insert("sub".into(), json!(sub));
    if has(&["given_name", "profile", "identite_pivot"]) {
        m.insert("given_name".into(), json!(c.given_name));
    }
    if has(&[
        "given_name",
        "given_name_array",
        "profile",
        "identite_pivot",
    ]) {
        m.insert("given_name_array".into(), json!(c.given_name_array()));
    }
    if has(&["family_name", "profile", "identite_pivot"]) {
        m.insert("family_name".into(), json!(c.family_name));
    }
    if has(&["preferred_username", "profile"]) && !c.preferred_username.is_empty() {
        m.insert("preferred_username".into(), json!(c.preferred_username));
    }
    if has(&["birthdate", "profile", "identite_pivot"]) {
        m.insert("birthdate".into(), json!(c.birthdate));
    }
    if has(&["birthdate", "idp_birthdate", "profile", "identite_pivot"]) {
        m.insert("idp_birthdate".into(), json!(c.idp_birthdate));
    }
    if has(&["gender", "profile", "identite_pivot"]) {
        m.insert("gender".into(), json!(c.gender));
    }
    if has(&["birthplace", "birth", "identite_pivot"]) {
        m.insert("birthplace".into(), json!(c.birthplace));
    }
    if has(&["birthcountry", "birth", "identite_pivot"]) {
        m.insert("birthcountry".into(), json!(c.birthcountry));
    }
    if has(&["email"]) {
        m.insert("email".into(), json!(c.email));
    }
    m.insert("idp_id".into(), json!(IDP_ID));
    m
}

fn bearer_error(error: Option<&str>, description: &str) -> Response {
    let www = match error {
        Some(e) => format!("Bearer realm=\"mock-provider\", error=\"{e}\""),
        None => "Bearer realm=\"mock-provider\"".to_owned(),
    };
    let mut r = oauth_error(
        StatusCode::UNAUTHORIZED,
        error.unwrap_or("invalid_request"),
        description,
    );
    if let Ok(v) = HeaderValue::try_from(www) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

async fn userinfo(State(inner): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    let faults = {
        let mut st = lock(&inner.state);
        st.counters.userinfo += 1;
        st.faults.clone()
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_owned());
    let Some(token) = token else {
        return bearer_error(None, "Bearer access token required");
    };
    let grant = {
        let st = lock(&inner.state);
        st.tokens
            .get(&token)
            .filter(|g| g.expires > Instant::now())
            .map(|g| (g.citizen, g.scope.clone()))
    };
    let Some((citizen, scope)) = grant else {
        return bearer_error(Some("invalid_token"), "unknown or expired access token");
    };
    let client_id = &inner.config.client_id;
    let sub = if faults.userinfo_sub_mismatch {
        citizens::sub_for(client_id, "someone-else")
    } else {
        citizen.sub(client_id)
    };
    let mut claims = userinfo_claims(citizen, sub, &scope);
    match inner.config.flavour {
        Flavour::Generic => {
            let mut r = json_response(&Value::Object(claims));
            no_store(&mut r);
            r
        }
        Flavour::FranceConnectV2 => {
            let now = now_secs();
            claims.insert("iss".into(), json!(inner.issuer));
            claims.insert("aud".into(), json!(client_id));
            claims.insert("iat".into(), json!(now));
            claims.insert("exp".into(), json!(now + TOKEN_TTL_SECS));
            let claims = Value::Object(claims);
            let jwt = {
                let st = lock(&inner.state);
                let key = if faults.userinfo_signed_by_other_key {
                    &st.spare
                } else {
                    &st.key
                };
                encode_jws("JWT", &claims, Signing::Key(key), false)
            };
            let mut r = Response::new(Body::from(jwt));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/jwt"),
            );
            no_store(&mut r);
            r
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Logout

async fn end_session(State(inner): State<Arc<Inner>>, RawQuery(q): RawQuery) -> Response {
    lock(&inner.state).counters.end_session += 1;
    let params = match parse_params(q.as_deref().unwrap_or("").as_bytes()) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    lock(&inner.state).last_end_session = Some(params.clone());
    let get = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let Some(hint) = get("id_token_hint") else {
        return bad_request("invalid_request", "id_token_hint is required");
    };
    let digest: [u8; 32] = Sha256::digest(hint.as_bytes()).into();
    let sub = {
        let st = lock(&inner.state);
        if !st.issued_id_tokens.contains(&digest) {
            None
        } else {
            // The hint is one of ours: find its sub to end that citizen's access tokens.
            hint.split('.')
                .nth(1)
                .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .and_then(|v| v.get("sub").and_then(Value::as_str).map(str::to_owned))
                .or(Some(String::new()))
        }
    };
    let Some(sub) = sub else {
        return bad_request(
            "invalid_request",
            "id_token_hint was not issued by this provider",
        );
    };
    {
        let client_id = inner.config.client_id.clone();
        lock(&inner.state)
            .tokens
            .retain(|_, g| g.citizen.sub(&client_id) != sub);
    }
    match get("post_logout_redirect_uri").map(Url::parse) {
        Some(Ok(mut u)) if matches!(u.scheme(), "http" | "https") && u.fragment().is_none() => {
            let Some(state) = get("state") else {
                return bad_request("invalid_request", "state is required");
            };
            u.query_pairs_mut().append_pair("state", state);
            redirect(&u)
        }
        Some(_) => bad_request(
            "invalid_request",
            "post_logout_redirect_uri must be an absolute http(s) URL without fragment",
        ),
        None => html_page(
            StatusCode::OK,
            "<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\">\
             <title>Déconnexion</title></head><body><main><h1>Vous êtes déconnecté·e</h1>\
             <p>Vous avez été déconnecté·e du fournisseur d'identité fictif.</p></main></body></html>\n"
                .to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use josekit::jwk::Jwk;
    use josekit::jws::JwsVerifier;

    const CB: &str = "http://127.0.0.1:9/callback";

    struct Env {
        mp: MockProvider,
        http: reqwest::Client,
    }

    async fn start(flavour: Flavour) -> Env {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let mp = MockProvider::serve(
            l,
            MockConfig {
                flavour,
                ..MockConfig::default()
            },
        )
        .await
        .expect("serve");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Env { mp, http }
    }

    /// Default FC-like authorize parameters, with overrides (`None` removes a parameter).
    fn authorize_url(mp: &MockProvider, over: &[(&str, Option<&str>)]) -> String {
        let mut p: BTreeMap<String, String> = [
            ("response_type", "code"),
            ("client_id", mp.client_id()),
            ("redirect_uri", CB),
            ("scope", "openid identite_pivot email preferred_username"),
            ("state", "s7a7e"),
            ("nonce", "n0nce"),
            ("acr_values", "eidas1"),
            ("login_hint", "elodie"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in over {
            match v {
                Some(v) => p.insert(k.to_string(), v.to_string()),
                None => p.remove(*k),
            };
        }
        let mut u = Url::parse(&format!("{}/authorize", mp.issuer())).expect("url");
        u.query_pairs_mut().extend_pairs(p.iter());
        u.to_string()
    }

    fn query_of(location: &str) -> BTreeMap<String, String> {
        Url::parse(location)
            .expect("location url")
            .query_pairs()
            .into_owned()
            .collect()
    }

    fn location(r: &reqwest::Response) -> String {
        r.headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    async fn code(env: &Env, over: &[(&str, Option<&str>)]) -> String {
        let r = env
            .http
            .get(authorize_url(&env.mp, over))
            .send()
            .await
            .expect("authorize");
        assert_eq!(r.status(), 302, "{:?}", r.text().await);
        let q = query_of(&location(&r));
        assert_eq!(q.get("state").map(String::as_str), Some("s7a7e"));
        q.get("code").cloned().expect("code in redirect")
    }

    async fn exchange(env: &Env, code: &str, over: &[(&str, Option<&str>)]) -> reqwest::Response {
        let mut f: BTreeMap<String, String> = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CB),
            ("client_id", env.mp.client_id()),
            ("client_secret", env.mp.client_secret()),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in over {
            match v {
                Some(v) => f.insert(k.to_string(), v.to_string()),
                None => f.remove(*k),
            };
        }
        env.http
            .post(format!("{}/token", env.mp.issuer()))
            .form(&f)
            .send()
            .await
            .expect("token")
    }

    async fn tokens(env: &Env, over: &[(&str, Option<&str>)]) -> Value {
        let c = code(env, over).await;
        let r = exchange(env, &c, &[]).await;
        assert_eq!(r.status(), 200);
        r.json().await.expect("token json")
    }

    fn part(jwt: &str, i: usize) -> Value {
        let p = jwt.split('.').nth(i).expect("jwt part");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).expect("b64")).expect("json")
    }

    /// Verify a JWS against a JWK set; returns its claims.
    fn verify(jwt: &str, jwks: &Value) -> Result<Value, String> {
        let header = part(jwt, 0);
        let kid = header["kid"].as_str().ok_or("no kid")?;
        let alg = header["alg"].as_str().ok_or("no alg")?;
        let jwk = jwks["keys"]
            .as_array()
            .and_then(|ks| ks.iter().find(|k| k["kid"] == kid))
            .ok_or("kid not in JWKS")?;
        let jwk = Jwk::from_map(jwk.as_object().cloned().unwrap_or_default())
            .map_err(|e| e.to_string())?;
        let verifier: Box<dyn JwsVerifier> = match alg {
            "ES256" => Box::new(ES256.verifier_from_jwk(&jwk).map_err(|e| e.to_string())?),
            "RS256" => Box::new(RS256.verifier_from_jwk(&jwk).map_err(|e| e.to_string())?),
            other => return Err(format!("alg {other} refused")),
        };
        let (msg, sig) = jwt.rsplit_once('.').ok_or("not a JWS")?;
        let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|e| e.to_string())?;
        verifier
            .verify(msg.as_bytes(), &sig)
            .map_err(|e| e.to_string())?;
        Ok(part(jwt, 1))
    }

    async fn get_json(env: &Env, path: &str) -> (u16, Value) {
        let r = env
            .http
            .get(format!("{}{path}", env.mp.issuer()))
            .send()
            .await
            .expect("get");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    #[tokio::test]
    async fn discovery_fc_v2_and_generic() {
        let env = start(Flavour::FranceConnectV2).await;
        let (st, d) = get_json(&env, "/.well-known/openid-configuration").await;
        assert_eq!(st, 200);
        let iss = env.mp.issuer();
        assert!(iss.starts_with("http://127.0.0.1:") && iss.ends_with("/api/v2"));
        assert_eq!(d["issuer"], iss);
        assert_eq!(d["authorization_endpoint"], format!("{iss}/authorize"));
        assert_eq!(d["token_endpoint"], format!("{iss}/token"));
        assert_eq!(d["userinfo_endpoint"], format!("{iss}/userinfo"));
        assert_eq!(d["end_session_endpoint"], format!("{iss}/session/end"));
        assert_eq!(d["jwks_uri"], format!("{iss}/jwks"));
        assert_eq!(
            d["token_endpoint_auth_methods_supported"],
            json!(["client_secret_post"])
        );
        assert_eq!(d["acr_values_supported"], json!(["eidas1"]));
        assert_eq!(
            d["id_token_signing_alg_values_supported"],
            json!(["ES256", "RS256"])
        );
        assert!(d.get("code_challenge_methods_supported").is_none());
        let (_, k) = get_json(&env, "/jwks").await;
        assert_eq!(k["keys"].as_array().map(Vec::len), Some(1));
        assert_eq!(k["keys"][0]["kty"], "EC");
        assert_eq!(k["keys"][0]["crv"], "P-256");
        assert_eq!(k["keys"][0]["alg"], "ES256");
        assert_eq!(k["keys"][0]["use"], "sig");
        assert!(k["keys"][0].get("d").is_none(), "private part published");

        let env = start(Flavour::Generic).await;
        let (_, d) = get_json(&env, "/.well-known/openid-configuration").await;
        assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(d["id_token_signing_alg_values_supported"], json!(["RS256"]));
        assert_eq!(
            d["token_endpoint_auth_methods_supported"],
            json!(["client_secret_basic", "client_secret_post"])
        );
        let (_, k) = get_json(&env, "/jwks").await;
        assert_eq!(k["keys"][0]["kty"], "RSA");
        assert!(k["keys"][0].get("d").is_none(), "private part published");
        assert_eq!(env.mp.counters().discovery, 1);
        assert_eq!(env.mp.counters().jwks, 1);
    }

    #[tokio::test]
    async fn fc_v2_full_flow() {
        let env = start(Flavour::FranceConnectV2).await;
        let t = tokens(&env, &[("acr_values", Some("eidas1"))]).await;
        assert_eq!(t["token_type"], "Bearer");
        assert_eq!(t["expires_in"], 60);
        let id_token = t["id_token"].as_str().expect("id_token");
        let claims = verify(id_token, &env.mp.jwks()).expect("valid signature");
        assert_eq!(part(id_token, 0)["alg"], "ES256");
        assert_eq!(claims["iss"], env.mp.issuer());
        assert_eq!(claims["aud"], "guichet-demo");
        assert_eq!(claims["nonce"], "n0nce");
        assert_eq!(claims["acr"], "eidas1");
        assert_eq!(claims["amr"], json!(["pwd"]));
        assert_eq!(claims["idp_id"], IDP_ID);
        let sub = citizens::sub_for("guichet-demo", "elodie");
        assert_eq!(claims["sub"], sub);
        let exp = claims["exp"].as_u64().unwrap_or(0);
        let iat = claims["iat"].as_u64().unwrap_or(0);
        assert_eq!(exp - iat, 60);

        let at = t["access_token"].as_str().expect("access_token");
        let r = env
            .http
            .get(format!("{}/userinfo", env.mp.issuer()))
            .bearer_auth(at)
            .send()
            .await
            .expect("userinfo");
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some("application/jwt")
        );
        let jwt = r.text().await.expect("body");
        let ui = verify(&jwt, &env.mp.jwks()).expect("userinfo signature");
        assert_eq!(ui["sub"], sub);
        assert_eq!(ui["iss"], env.mp.issuer());
        assert_eq!(ui["aud"], "guichet-demo");
        assert_eq!(ui["given_name"], "Élodie");
        assert_eq!(ui["given_name_array"], json!(["Élodie"]));
        assert_eq!(ui["family_name"], "Müller");
        assert_eq!(ui["birthdate"], "1990-03-12");
        assert_eq!(ui["gender"], "female");
        assert_eq!(ui["birthplace"], "75056");
        assert_eq!(ui["birthcountry"], "99100");
        assert_eq!(ui["email"], "elodie.muller@example.fr");
        assert!(ui.get("preferred_username").is_none());

        let tr = env.mp.last_token_request().expect("recorded");
        assert_eq!(tr.get("_auth").map(String::as_str), Some("post"));
        assert_eq!(
            tr.get("client_secret").map(String::as_str),
            Some(env.mp.client_secret())
        );
        let ar = env.mp.last_authorize_params().expect("recorded");
        assert_eq!(ar.get("nonce").map(String::as_str), Some("n0nce"));
        let c = env.mp.counters();
        assert_eq!((c.authorize, c.token, c.userinfo), (1, 1, 1));
    }

    #[tokio::test]
    async fn scopes_filter_userinfo_claims() {
        let env = start(Flavour::Generic).await;
        let t = tokens(
            &env,
            &[("scope", Some("openid birth")), ("login_hint", Some("ana"))],
        )
        .await;
        let r = env
            .http
            .get(format!("{}/userinfo", env.mp.issuer()))
            .bearer_auth(t["access_token"].as_str().unwrap_or_default())
            .send()
            .await
            .expect("userinfo");
        assert_eq!(
            r.headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some("application/json")
        );
        let ui: Value = r.json().await.expect("json");
        assert_eq!(ui["birthplace"], "");
        assert_eq!(ui["birthcountry"], "99134");
        assert!(ui.get("given_name").is_none());
        assert!(ui.get("email").is_none());
        assert_eq!(ui["sub"], citizens::sub_for("guichet-demo", "ana"));
    }

    #[tokio::test]
    async fn authorize_refuses_bad_requests_with_json_400() {
        let env = start(Flavour::FranceConnectV2).await;
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("state", None, "invalid_request"),
            ("nonce", None, "invalid_request"),
            ("acr_values", None, "invalid_request"),
            ("redirect_uri", None, "invalid_request"),
            ("redirect_uri", Some("not a url"), "invalid_request"),
            (
                "redirect_uri",
                Some("javascript:alert(1)"),
                "invalid_request",
            ),
            ("client_id", Some("intruder"), "invalid_client"),
            ("response_type", Some("token"), "unsupported_response_type"),
            ("response_type", None, "invalid_request"),
            ("scope", Some("profile email"), "invalid_scope"),
            ("code_challenge", Some("abc"), "invalid_request"),
        ];
        for (k, v, err) in cases {
            let r = env
                .http
                .get(authorize_url(&env.mp, &[(k, *v)]))
                .send()
                .await
                .expect("authorize");
            assert_eq!(r.status(), 400, "{k}={v:?}");
            let j: Value = r.json().await.expect("json error");
            assert_eq!(j["error"], *err, "{k}={v:?}");
        }
        // Repeated parameter, garbage encoding.
        let url = format!("{}&state=again", authorize_url(&env.mp, &[]));
        let r = env.http.get(url).send().await.expect("authorize");
        assert_eq!(r.status(), 400);
        let url = format!("{}/authorize?%FF%FE=%00&&==", env.mp.issuer());
        let r = env.http.get(url).send().await.expect("authorize");
        assert_eq!(r.status(), 400);
        // Generic: acr_values optional.
        let env = start(Flavour::Generic).await;
        let c = code(&env, &[("acr_values", None)]).await;
        let t: Value = exchange(&env, &c, &[]).await.json().await.expect("json");
        let claims =
            verify(t["id_token"].as_str().unwrap_or_default(), &env.mp.jwks()).expect("signature");
        assert_eq!(claims["acr"], "eidas1");
        assert_eq!(
            part(t["id_token"].as_str().unwrap_or_default(), 0)["alg"],
            "RS256"
        );
    }

    #[tokio::test]
    async fn chooser_page_then_choose() {
        let env = start(Flavour::FranceConnectV2).await;
        let r = env
            .http
            .get(authorize_url(&env.mp, &[("login_hint", None)]))
            .send()
            .await
            .expect("authorize");
        assert_eq!(r.status(), 200);
        assert!(r
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .starts_with("text/html"));
        let html = r.text().await.expect("html");
        assert!(html.contains("<html lang=\"fr\">"));
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "external asset"
        );
        for c in citizens::CITIZENS {
            assert!(
                html.contains(&crate::pages::escape(&c.display_name())),
                "{}",
                c.id
            );
        }
        // Follow the link for jean-philippe.
        let start_href = html.find("citizen=jean-philippe").expect("link");
        let href_start = html[..start_href].rfind("href=\"").expect("href") + 6;
        let href_end = href_start + html[href_start..].find('"').expect("end");
        let href = html[href_start..href_end].replace("&amp;", "&");
        let r = env
            .http
            .get(format!("{}{href}", env.mp.base_url()))
            .send()
            .await
            .expect("choose");
        assert_eq!(r.status(), 302);
        let q = query_of(&location(&r));
        assert_eq!(q.get("state").map(String::as_str), Some("s7a7e"));
        let c = q.get("code").expect("code");
        let t: Value = exchange(&env, c, &[]).await.json().await.expect("json");
        let claims =
            verify(t["id_token"].as_str().unwrap_or_default(), &env.mp.jwks()).expect("sig");
        assert_eq!(
            claims["sub"],
            citizens::sub_for("guichet-demo", "jean-philippe")
        );
        // Unknown citizen.
        let r = env
            .http
            .get(format!(
                "{}/authorize/choose?citizen=nobody",
                env.mp.issuer()
            ))
            .send()
            .await
            .expect("choose");
        assert_eq!(r.status(), 400);
    }

    #[tokio::test]
    async fn codes_are_single_use_and_bound() {
        let env = start(Flavour::FranceConnectV2).await;
        let c = code(&env, &[]).await;
        assert_eq!(exchange(&env, &c, &[]).await.status(), 200);
        let r = exchange(&env, &c, &[]).await;
        assert_eq!(r.status(), 400);
        assert_eq!(
            r.json::<Value>().await.expect("json")["error"],
            "invalid_grant"
        );

        let c = code(&env, &[]).await;
        let r = exchange(
            &env,
            &c,
            &[("redirect_uri", Some("http://127.0.0.1:9/other"))],
        )
        .await;
        assert_eq!(
            r.json::<Value>().await.expect("json")["error"],
            "invalid_grant"
        );
        // The failed attempt consumed it.
        assert_eq!(exchange(&env, &c, &[]).await.status(), 400);

        let r = exchange(&env, "nope", &[]).await;
        assert_eq!(
            r.json::<Value>().await.expect("json")["error"],
            "invalid_grant"
        );

        // Expired code.
        let c = code(&env, &[]).await;
        if let Some(old) = Instant::now().checked_sub(CODE_TTL + Duration::from_secs(1)) {
            if let Some(g) = lock(&env.mp.inner.state).codes.get_mut(&c) {
                g.issued = old;
            }
            let r = exchange(&env, &c, &[]).await;
            assert_eq!(
                r.json::<Value>().await.expect("json")["error"],
                "invalid_grant"
            );
        }
        let r = exchange(&env, "x", &[("grant_type", Some("password"))]).await;
        assert_eq!(
            r.json::<Value>().await.expect("json")["error"],
            "unsupported_grant_type"
        );
    }

    #[tokio::test]
    async fn client_authentication() {
        let env = start(Flavour::FranceConnectV2).await;
        let c = code(&env, &[]).await;
        let r = exchange(&env, &c, &[("client_secret", Some("wrong"))]).await;
        assert_eq!(r.status(), 401);
        assert_eq!(
            r.json::<Value>().await.expect("json")["error"],
            "invalid_client"
        );
        // FC v2 only allows client_secret_post.
        let c = code(&env, &[]).await;
        let r = env
            .http
            .post(format!("{}/token", env.mp.issuer()))
            .basic_auth(env.mp.client_id(), Some(env.mp.client_secret()))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", c.as_str()),
                ("redirect_uri", CB),
            ])
            .send()
            .await
            .expect("token");
        assert_eq!(r.status(), 401);
        assert!(r.headers().contains_key(header::WWW_AUTHENTICATE));
        let tr = env.mp.last_token_request().expect("recorded");
        assert_eq!(tr.get("_auth").map(String::as_str), Some("basic"));
        // No form content type.
        let r = env
            .http
            .post(format!("{}/token", env.mp.issuer()))
            .json(&json!({"grant_type": "authorization_code"}))
            .send()
            .await
            .expect("token");
        assert_eq!(r.status(), 400);
        assert_eq!(
            r.json::<Value>().await.expect("json")["error"],
            "invalid_request"
        );

        // Generic accepts basic; credentials are form-urlencoded first (RFC 6749 2.3.1).
        let env = start(Flavour::Generic).await;
        let c = code(&env, &[]).await;
        let r = env
            .http
            .post(format!("{}/token", env.mp.issuer()))
            .basic_auth(env.mp.client_id(), Some(env.mp.client_secret()))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", c.as_str()),
                ("redirect_uri", CB),
            ])
            .send()
            .await
            .expect("token");
        assert_eq!(r.status(), 200);
        let tr = env.mp.last_token_request().expect("recorded");
        assert_eq!(tr.get("_auth").map(String::as_str), Some("basic"));
        assert_eq!(
            tr.get("_basic_client_id").map(String::as_str),
            Some("guichet-demo")
        );
        // Garbage basic header.
        let r = env
            .http
            .post(format!("{}/token", env.mp.issuer()))
            .header(header::AUTHORIZATION, "Basic !!!not-base64")
            .form(&[("grant_type", "authorization_code")])
            .send()
            .await
            .expect("token");
        assert_eq!(r.status(), 401);
        assert_eq!(
            r.json::<Value>().await.expect("json")["error"],
            "invalid_client"
        );
    }

    #[tokio::test]
    async fn pkce_s256() {
        let env = start(Flavour::Generic).await;
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_ok(verifier, challenge));
        let over = [
            ("code_challenge", Some(challenge)),
            ("code_challenge_method", Some("S256")),
        ];
        let c = code(&env, &over).await;
        let r = exchange(&env, &c, &[]).await;
        assert_eq!(
            r.json::<Value>().await.expect("json")["error"],
            "invalid_grant"
        );
        let c = code(&env, &over).await;
        let wrong = "x".repeat(43);
        let r = exchange(&env, &c, &[("code_verifier", Some(&wrong))]).await;
        assert_eq!(
            r.json::<Value>().await.expect("json")["error"],
            "invalid_grant"
        );
        let c = code(&env, &over).await;
        let r = exchange(&env, &c, &[("code_verifier", Some(verifier))]).await;
        assert_eq!(r.status(), 200);
        // plain is refused at authorize.
        let r = env
            .http
            .get(authorize_url(
                &env.mp,
                &[
                    ("code_challenge", Some(challenge)),
                    ("code_challenge_method", Some("plain")),
                ],
            ))
            .send()
            .await
            .expect("authorize");
        assert_eq!(r.status(), 400);
    }

    #[tokio::test]
    async fn id_token_faults() {
        let env = start(Flavour::FranceConnectV2).await;
        let jwks = env.mp.jwks();
        let id_token = |t: &Value| t["id_token"].as_str().unwrap_or_default().to_owned();

        env.mp.set_faults(Faults {
            bad_signature: true,
            ..Faults::default()
        });
        let t = id_token(&tokens(&env, &[]).await);
        assert!(verify(&t, &jwks).is_err());

        env.mp.set_faults(Faults {
            alg_none: true,
            ..Faults::default()
        });
        let t = id_token(&tokens(&env, &[]).await);
        assert_eq!(part(&t, 0), json!({"alg": "none", "typ": "JWT"}));
        assert!(t.ends_with('.'));

        env.mp.set_faults(Faults {
            hs256_with_public_key: true,
            ..Faults::default()
        });
        let t = id_token(&tokens(&env, &[]).await);
        assert_eq!(part(&t, 0)["alg"], "HS256");
        assert_eq!(part(&t, 0)["kid"], env.mp.current_kid());
        let pem = lock(&env.mp.inner.state).key.public_pem.clone();
        assert!(pem.starts_with(b"-----BEGIN PUBLIC KEY-----"));
        let (msg, sig) = t.rsplit_once('.').expect("jws");
        let ok = HS256.verifier_from_bytes(&pem).and_then(|v| {
            v.verify(
                msg.as_bytes(),
                &URL_SAFE_NO_PAD.decode(sig).unwrap_or_default(),
            )
        });
        assert!(ok.is_ok(), "HMAC keyed with the public PEM");

        let check = |f: Faults| {
            let env = &env;
            async move {
                env.mp.set_faults(f);
                let t = id_token(&tokens(env, &[]).await);
                verify(&t, &env.mp.jwks()).expect("still properly signed")
            }
        };
        let c = check(Faults {
            wrong_issuer: true,
            ..Faults::default()
        })
        .await;
        assert_ne!(c["iss"], env.mp.issuer());
        let c = check(Faults {
            wrong_audience: true,
            ..Faults::default()
        })
        .await;
        assert_eq!(c["aud"], OTHER_AUDIENCE);
        let c = check(Faults {
            extra_audience_without_azp: true,
            ..Faults::default()
        })
        .await;
        assert_eq!(c["aud"], json!(["guichet-demo", OTHER_AUDIENCE]));
        assert!(c.get("azp").is_none());
        let now = now_secs();
        let c = check(Faults {
            expired: true,
            ..Faults::default()
        })
        .await;
        assert!(c["exp"].as_u64().unwrap_or(u64::MAX) < now);
        let c = check(Faults {
            iat_in_future: true,
            ..Faults::default()
        })
        .await;
        assert!(c["iat"].as_u64().unwrap_or(0) >= now + 3600);
        let c = check(Faults {
            wrong_nonce: true,
            ..Faults::default()
        })
        .await;
        assert!(c["nonce"].is_string() && c["nonce"] != "n0nce");
        let c = check(Faults {
            missing_nonce: true,
            ..Faults::default()
        })
        .await;
        assert!(c.get("nonce").is_none());
        let c = check(Faults {
            acr: Some("eidas3".into()),
            ..Faults::default()
        })
        .await;
        assert_eq!(c["acr"], "eidas3");
    }

    #[tokio::test]
    async fn unknown_kid_then_rotation() {
        let env = start(Flavour::FranceConnectV2).await;
        let old_kid = env.mp.current_kid();
        env.mp.set_faults(Faults {
            unknown_kid: true,
            ..Faults::default()
        });
        let t = tokens(&env, &[]).await;
        let t = t["id_token"].as_str().unwrap_or_default();
        assert_ne!(part(t, 0)["kid"], old_kid);
        assert_eq!(
            verify(t, &env.mp.jwks()).err().as_deref(),
            Some("kid not in JWKS")
        );
        env.mp.rotate_signing_key();
        let (_, jwks) = get_json(&env, "/jwks").await;
        assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(1));
        assert_ne!(jwks["keys"][0]["kid"], old_kid);
        verify(t, &jwks).expect("spare key published by rotation");
        // After rotation, normal tokens use the new key.
        env.mp.set_faults(Faults::default());
        let t2 = tokens(&env, &[]).await;
        let t2 = t2["id_token"].as_str().unwrap_or_default();
        assert_eq!(part(t2, 0)["kid"], env.mp.current_kid());
        verify(t2, &jwks).expect("new key");
    }

    #[tokio::test]
    async fn userinfo_faults_and_errors() {
        let env = start(Flavour::FranceConnectV2).await;
        let ui = |at: String| {
            let env = &env;
            async move {
                env.http
                    .get(format!("{}/userinfo", env.mp.issuer()))
                    .bearer_auth(at)
                    .send()
                    .await
                    .expect("userinfo")
            }
        };
        let at = |t: &Value| t["access_token"].as_str().unwrap_or_default().to_owned();

        env.mp.set_faults(Faults {
            userinfo_sub_mismatch: true,
            ..Faults::default()
        });
        let t = tokens(&env, &[]).await;
        let jwt = ui(at(&t)).await.text().await.expect("body");
        let claims = verify(&jwt, &env.mp.jwks()).expect("signed");
        let id = verify(t["id_token"].as_str().unwrap_or_default(), &env.mp.jwks()).expect("id");
        assert_ne!(claims["sub"], id["sub"]);

        env.mp.set_faults(Faults {
            userinfo_signed_by_other_key: true,
            ..Faults::default()
        });
        let t = tokens(&env, &[]).await;
        let jwt = ui(at(&t)).await.text().await.expect("body");
        assert!(verify(&jwt, &env.mp.jwks()).is_err());

        let r = ui("unknown".into()).await;
        assert_eq!(r.status(), 401);
        let www = r
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            www.starts_with("Bearer") && www.contains("invalid_token"),
            "{www}"
        );
        let r = env
            .http
            .get(format!("{}/userinfo", env.mp.issuer()))
            .send()
            .await
            .expect("userinfo");
        assert_eq!(r.status(), 401);
        assert!(r.headers().contains_key(header::WWW_AUTHENTICATE));
    }

    #[tokio::test]
    async fn endpoint_faults() {
        let env = start(Flavour::FranceConnectV2).await;
        env.mp.set_faults(Faults {
            jwks_down: true,
            ..Faults::default()
        });
        assert_eq!(get_json(&env, "/jwks").await.0, 503);
        assert!(env.mp.faults().jwks_down);

        env.mp.set_faults(Faults {
            authorize_error: Some("access_denied".into()),
            ..Faults::default()
        });
        let r = env
            .http
            .get(authorize_url(&env.mp, &[]))
            .send()
            .await
            .expect("authorize");
        assert_eq!(r.status(), 302);
        let loc = location(&r);
        assert!(loc.starts_with(CB));
        let q = query_of(&loc);
        assert_eq!(q.get("error").map(String::as_str), Some("access_denied"));
        assert!(q.contains_key("error_description"));
        assert_eq!(q.get("state").map(String::as_str), Some("s7a7e"));
        assert!(!q.contains_key("code"));

        env.mp.set_faults(Faults::default());
        let c = code(&env, &[]).await;
        env.mp.set_faults(Faults {
            token_returns_html: true,
            token_delay_ms: 150,
            ..Faults::default()
        });
        let t0 = Instant::now();
        let r = exchange(&env, &c, &[]).await;
        assert!(t0.elapsed() >= Duration::from_millis(150));
        assert_eq!(r.status(), 200);
        assert!(r
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .starts_with("text/html"));
        assert_eq!(r.text().await.expect("body"), "<html>maintenance</html>");
    }

    #[tokio::test]
    async fn end_session() {
        let env = start(Flavour::FranceConnectV2).await;
        let t = tokens(&env, &[]).await;
        let id_token = t["id_token"].as_str().unwrap_or_default();
        let url = |q: &[(&str, &str)]| {
            let mut u = Url::parse(&format!("{}/session/end", env.mp.issuer())).expect("url");
            u.query_pairs_mut().extend_pairs(q);
            u.to_string()
        };
        let r = env
            .http
            .get(url(&[("state", "x"), ("post_logout_redirect_uri", CB)]))
            .send()
            .await
            .expect("end");
        assert_eq!(r.status(), 400);
        let r = env
            .http
            .get(url(&[("id_token_hint", "a.b.c"), ("state", "x")]))
            .send()
            .await
            .expect("end");
        assert_eq!(r.status(), 400);
        let r = env
            .http
            .get(url(&[
                ("id_token_hint", id_token),
                ("state", "bye"),
                ("post_logout_redirect_uri", "http://127.0.0.1:9/logged-out"),
            ]))
            .send()
            .await
            .expect("end");
        assert_eq!(r.status(), 302);
        assert_eq!(location(&r), "http://127.0.0.1:9/logged-out?state=bye");
        // The access token is revoked.
        let r = env
            .http
            .get(format!("{}/userinfo", env.mp.issuer()))
            .bearer_auth(t["access_token"].as_str().unwrap_or_default())
            .send()
            .await
            .expect("userinfo");
        assert_eq!(r.status(), 401);
        assert_eq!(env.mp.counters().end_session, 3);
        let p = env.mp.last_end_session_params().expect("recorded");
        assert_eq!(p.get("state").map(String::as_str), Some("bye"));
    }

    #[tokio::test]
    async fn prefix_and_shutdown() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let mp = MockProvider::serve(
            l,
            MockConfig {
                path_prefix: "oidc/".into(),
                ..MockConfig::default()
            },
        )
        .await
        .expect("serve");
        assert_eq!(mp.issuer(), format!("{}/oidc", mp.base_url()));
        let http = reqwest::Client::new();
        let r = http
            .get(format!("{}/.well-known/openid-configuration", mp.issuer()))
            .send()
            .await
            .expect("discovery");
        assert_eq!(r.status(), 200);
        let r = http
            .get(format!("{}/nothing", mp.base_url()))
            .send()
            .await
            .expect("404");
        assert_eq!(r.status(), 404);
        assert!(format!("{:?}", MockConfig::default()).contains("<redacted>"));
        mp.shutdown();
        let mut refused = false;
        for _ in 0..50 {
            if tokio::net::TcpStream::connect(mp.addr()).await.is_err() {
                refused = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(refused, "still accepting after shutdown");
    }
}
