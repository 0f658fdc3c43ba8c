//! The configuration file as written by the operator: serde structs with defaults and
//! `deny_unknown_fields`, one doc comment per key. Nothing outside `config` reads these;
//! [`super::Config::from_file`] validates them once into the internal [`super::Config`].
//!
//! `config.example.toml` at the repository root documents every key with the same words.

use serde::Deserialize;
use std::collections::BTreeMap;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub server: ServerSection,
    pub upstream: UpstreamSection,
    #[serde(default)]
    pub providers: Vec<ProviderSection>,
    #[serde(default)]
    pub session: SessionSection,
    #[serde(default)]
    pub routes: Vec<RouteSection>,
    #[serde(default)]
    pub headers: HeadersSection,
    #[serde(default)]
    pub metrics: MetricsSection,
    #[serde(default)]
    pub audit: AuditSection,
    #[serde(default)]
    pub pages: PagesSection,
    #[serde(default)]
    pub rate_limit: RateLimitSection,
}

/// `[server]`: the listener the browsers talk to.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// Address and port of the main listener.
    pub listen: String,
    /// The URL browsers use to reach guichet (scheme, host, optional port, no path).
    /// Redirect URIs registered at the provider are derived from it.
    pub public_url: String,
    /// Worker threads of the proxy; 0 means one per CPU (the CPUs the container may use).
    pub threads: usize,
    /// Prefix of guichet's own paths (login, callback, logout, ...).
    pub prefix: String,
    /// Seconds to let in-flight requests finish on shutdown.
    pub grace_period: String,
    /// Proxies in front of guichet (CIDRs or addresses, e.g. the ingress) whose
    /// `X-Forwarded-For` is believed: the client is the right-most address of that chain not in
    /// this list. Empty: the client is the peer address and `X-Forwarded-For` is ignored.
    pub trusted_proxies: Vec<String>,
    /// Other host names this service answers to (e.g. `www.demarches.example.fr`,
    /// `localhost`), without port: a request naming one is redirected (308) to the same path
    /// on `public_url`. A request naming any other host gets 421 Misdirected Request, except
    /// `/healthz` and `/readyz`.
    pub host_aliases: Vec<String>,
    /// Most header lines a client request may carry (at most 256); more gets a 431 page.
    pub max_request_headers: usize,
    /// Most bytes of header lines (names, values, cookies included) a client request may carry;
    /// more gets a 431 page.
    pub max_request_header_bytes: usize,
    /// Requests served on one HTTP/1.1 client connection before guichet closes it (the client
    /// reconnects); 0: no limit. Bounds how long one connection (an ingress's) stays pinned to
    /// one replica.
    pub keepalive_requests: u32,
    /// TCP keepalive on accepted connections: after this much silence the kernel probes the
    /// client (every 10 s, 6 times) and drops it if it is gone; `"0s"` turns probes off.
    pub tcp_keepalive: String,
    /// TCP Fast Open on the main listener: length of its queue of pending fast-open
    /// connections; 0 turns it off (Linux also needs `net.ipv4.tcp_fastopen = 3`).
    pub tcp_fastopen: u32,
    /// `[server.tls]`: guichet terminates TLS on `listen` (HTTP/2 and HTTP/1.1). Absent: plain
    /// HTTP, TLS being terminated in front of guichet (ingress, load balancer).
    pub tls: Option<TlsSection>,
    /// Address of a plain-HTTP listener that only redirects to `public_url` (308, same path and
    /// query) and answers `/healthz`, e.g. `"0.0.0.0:80"`. Empty (the default): none.
    pub redirect_http: String,
}

/// `[server.tls]`: the certificate of the main listener, read from files.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// PEM file with the server certificate first, then its intermediates.
    pub cert_file: String,
    /// PEM file with the certificate's private key (PKCS#8, PKCS#1 RSA or SEC1 EC). It is a
    /// secret: keep it readable by guichet only; guichet never prints it.
    pub key_file: String,
    /// How often both files are checked for new contents, which then replace the certificate
    /// for new connections without dropping open ones; `"0s"` turns the check off. SIGHUP
    /// reloads at once either way.
    #[serde(default = "defaults::tls_reload_interval")]
    pub reload_interval: String,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            public_url: "http://127.0.0.1:8080".into(),
            threads: 0,
            prefix: "/.guichet".into(),
            grace_period: "5s".into(),
            trusted_proxies: Vec::new(),
            host_aliases: Vec::new(),
            max_request_headers: 100,
            max_request_header_bytes: 32 * 1024,
            keepalive_requests: 1000,
            tcp_keepalive: "60s".into(),
            tcp_fastopen: 0,
            tls: None,
            redirect_http: String::new(),
        }
    }
}

/// `[upstream]`: the application guichet protects.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSection {
    /// `http://host:port` or `https://host:port` of the application.
    pub url: String,
    /// Value of the `Host` header sent upstream; default: the public URL's host (never the
    /// client's `Host`).
    #[serde(default)]
    pub host_header: Option<String>,
    /// How often the upstream's host name is resolved again (the system resolver, every
    /// address it returns is used); until it first resolves, `/readyz` answers 503 and
    /// requests get the "service unavailable" page. Ignored when `url` names an IP address.
    #[serde(default = "defaults::resolve_interval")]
    pub resolve_interval: String,
    /// Time allowed to open a connection to the upstream.
    #[serde(default = "defaults::connect_timeout")]
    pub connect_timeout: String,
    /// Time allowed between two reads from the upstream.
    #[serde(default = "defaults::read_timeout")]
    pub read_timeout: String,
    /// Time allowed between two writes to the upstream.
    #[serde(default = "defaults::read_timeout")]
    pub write_timeout: String,
    /// How long an idle keepalive connection to the upstream is kept.
    #[serde(default = "defaults::idle_timeout")]
    pub idle_timeout: String,
    /// Idle keepalive connections to the upstream kept for reuse, per worker thread (the
    /// process keeps up to `pool_size` x `server.threads`); a request that finds none opens a
    /// new connection.
    #[serde(default = "defaults::pool_size")]
    pub pool_size: usize,
    /// Verify the upstream's certificate when `url` is https.
    #[serde(default = "defaults::yes")]
    pub verify_tls: bool,
}

/// One `[[providers]]` entry: an OpenID provider citizens can log in with.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSection {
    /// Short name used in URLs (`?provider=NAME`), metrics and logs.
    pub name: String,
    /// Preset: `franceconnect-v1-integration`, `franceconnect-v1`,
    /// `franceconnect-v2-integration`, `franceconnect-v2`, `franceconnect-plus-integration`,
    /// `franceconnect-plus`, `mconnect`, `generic`.
    pub preset: String,
    /// Label shown on the login chooser (MConnect: the whole button label).
    #[serde(default)]
    pub display_name: Option<String>,
    /// Issuer URL; required for `generic` and `mconnect`, fixed by the FranceConnect presets.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Client identifier given by the provider.
    #[serde(default)]
    pub client_id: Option<String>,
    /// `env:VARIABLE` or `file:/path/to/secret`; never the secret itself.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Scopes requested (`openid` is always sent).
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// `acr_values` sent when no route asks for a higher level.
    #[serde(default)]
    pub acr_values: Option<String>,
    /// Which `acr` value proves which level: `{ eidas2 = "eidas2", eidas3 = "eidas3" }`
    /// (levels: `eidas1`/`low`, `eidas2`/`substantial`, `eidas3`/`high`). Used to read the
    /// id_token's `acr` and to choose the `acr_values` of a step-up login.
    #[serde(default)]
    pub acr_levels: Option<BTreeMap<String, String>>,
    /// Accepted id_token signature algorithms (pinned; `none` is refused, HMAC only with the
    /// FranceConnect v1 presets).
    #[serde(default)]
    pub id_token_algs: Option<Vec<String>>,
    /// Accepted JWE key management algorithms (`RSA-OAEP`, `RSA-OAEP-256`, `ECDH-ES`); when
    /// set, id_tokens must be encrypted (FranceConnect+).
    #[serde(default)]
    pub jwe_algs: Option<Vec<String>>,
    /// Accepted JWE content encryption algorithms (FranceConnect+: `A256GCM`).
    #[serde(default)]
    pub jwe_encs: Option<Vec<String>>,
    /// Private keys the provider encrypts to; their public parts are published at
    /// `/.guichet/jwks.json`.
    #[serde(default)]
    pub decryption_keys: Option<Vec<DecryptionKeySection>>,
    /// Token endpoint authentication: `client_secret_post`, `client_secret_basic` or `auto`.
    #[serde(default)]
    pub token_auth: Option<String>,
    /// Userinfo response format: `json`, `jwt` (signed), `jwe` (encrypted signed JWT), or
    /// `auto` (by content type).
    #[serde(default)]
    pub userinfo: Option<String>,
    /// PKCE S256: `auto` (when the provider advertises it), `always` or `never`.
    #[serde(default)]
    pub pkce: Option<String>,
    /// Tolerated clock difference with the provider, e.g. `60s`.
    #[serde(default)]
    pub clock_skew: Option<String>,
    /// A token naming a key guichet does not have (the provider rotated its keys) downloads
    /// the JWKS again once the cached set is older than this (default `5s`, 1s to 1h): the
    /// floor that bounds downloads under a flood of forged `kid`s.
    #[serde(default)]
    pub jwks_refresh_interval: Option<String>,
    /// Longest wait for one call to the provider (discovery, JWKS, token, userinfo), from
    /// connecting to the last byte; past it the login fails with "provider unavailable".
    #[serde(default)]
    pub http_timeout: Option<String>,
    /// Extra parameters added to the authorization request (e.g. `prompt`).
    #[serde(default)]
    pub authorize_params: Option<BTreeMap<String, String>>,
    /// Read `ISSUER/.well-known/openid-configuration`; `false` takes the endpoints below
    /// (FranceConnect v1 has no discovery).
    #[serde(default)]
    pub discovery: Option<bool>,
    /// Endpoint overrides (normally from discovery).
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    #[serde(default)]
    pub token_endpoint: Option<String>,
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Accept OpenID Connect Back-Channel Logout tokens from this provider at
    /// `/.guichet/backchannel-logout` (FranceConnect sends none; leave it off for it).
    #[serde(default)]
    pub backchannel_logout: bool,
    /// Revoke the access token (RFC 7009, at the discovery's `revocation_endpoint`) once the
    /// login has read userinfo with it; default: on for the FranceConnect+ presets, which ask
    /// services to revoke it.
    #[serde(default)]
    pub revoke_access_token: Option<bool>,
    /// Require RFC 9207's `iss` in every authorization response (success and error), even
    /// when the provider's discovery does not advertise it (it is required whenever discovery
    /// advertises `authorization_response_iss_parameter_supported`). Default: the preset's
    /// (true for FranceConnect v2 and FranceConnect+, which always send it).
    #[serde(default)]
    pub authorization_response_iss: Option<bool>,
    /// Dot-separated path to the digital identity's status in the claims
    /// (MConnect: `Authority.status`); a login whose status is not `identity_status_active`
    /// is refused.
    #[serde(default)]
    pub identity_status_path: Option<String>,
    /// The status value of an active identity (MConnect: `active`).
    #[serde(default)]
    pub identity_status_active: Option<String>,
    /// Dot-separated path to the registration authority, sent as
    /// `X-Pivot-Registration-Authority` (MConnect: `Authority.registration_authority`).
    #[serde(default)]
    pub registration_authority_path: Option<String>,
}

/// One entry of `decryption_keys`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecryptionKeySection {
    /// `RSA-OAEP`, `RSA-OAEP-256` (RSA key, at least 2048 bits) or `ECDH-ES` (EC P-256 key).
    pub alg: String,
    /// `file:/path/key.pem` or `env:VARIABLE` holding the PEM private key.
    pub key: String,
    /// Key id published in the JWKS and expected in the JWE header; default: the key's
    /// RFC 7638 thumbprint.
    #[serde(default)]
    pub kid: Option<String>,
}

/// `[session]`: how long a citizen stays logged in and where sessions live.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionSection {
    /// `memory` (one replica) or `redis` (several replicas).
    pub store: String,
    /// `redis://` or `rediss://` URL, when `store = "redis"`: `env:VARIABLE` or `file:/path`
    /// (required when the URL carries a password), or the URL itself without a password.
    /// With `redis_sentinels`, its host is the master name the sentinels monitor (no port),
    /// and its scheme, user, password and database are how guichet talks to the primary.
    pub redis_url: Option<String>,
    /// Redis Sentinel: URLs of the sentinels (`redis://host:26379` or `rediss://`, each a
    /// literal without password or `env:`/`file:`), all with the same scheme and credentials.
    /// guichet asks them which server is primary and follows failovers. Empty: `redis_url` is
    /// the server itself.
    pub redis_sentinels: Vec<String>,
    /// Allow plain `redis://` to a host that is not loopback (sessions and the Redis password
    /// cross the network in clear). Default: refused, use `rediss://`.
    pub redis_allow_plaintext: bool,
    /// Keys sealing what guichet writes to Redis (AES-256-GCM): each `env:VARIABLE` or
    /// `file:/path` holding 32 random bytes in base64 or hex (`guichet keygen --alg A256GCM`).
    /// Required with `store = "redis"`; every replica needs the same list. The first seals,
    /// every key opens: to rotate, put a new key first and keep the old one for
    /// `absolute_timeout`.
    pub seal_keys: Vec<String>,
    /// Prefix of every key guichet writes in Redis (several deployments can share one Redis).
    pub redis_key_prefix: String,
    /// Time allowed to open a connection to Redis.
    pub redis_connect_timeout: String,
    /// Time allowed for one Redis command; past it the request fails closed (503).
    pub redis_command_timeout: String,
    /// PEM file of the CA that signed the Redis server's certificate (`rediss://` with a
    /// private CA); default: the public web PKI roots.
    pub redis_ca_file: Option<String>,
    /// Each replica serves a session Redis confirmed less than a second ago from memory,
    /// while its subscription to the deployment's invalidation channel works (an end on any
    /// replica reaches it in milliseconds, and in a second in any case). `false`: every
    /// request asks Redis.
    pub redis_local_cache: bool,
    /// A session unused for this long is deleted (FranceConnect: 30 minutes).
    pub idle_timeout: String,
    /// A session older than this is deleted whatever its activity.
    pub absolute_timeout: String,
    /// Time allowed between the redirect to the provider and the callback.
    pub login_timeout: String,
    /// Upper bound of sessions kept by the memory store.
    pub max_sessions: u64,
    /// Most live sessions of one citizen (one provider and `sub`), in both stores: a new login
    /// past it ends that citizen's oldest session.
    pub max_sessions_per_citizen: u64,
    /// Largest form body kept across a login when a browser route's POST finds no session
    /// (`preserve_post`); 0 keeps none.
    pub preserve_post_max_bytes: usize,
}

impl Default for SessionSection {
    fn default() -> Self {
        Self {
            store: "memory".into(),
            redis_url: None,
            redis_sentinels: Vec::new(),
            redis_allow_plaintext: false,
            seal_keys: Vec::new(),
            redis_key_prefix: "guichet:".into(),
            redis_connect_timeout: "2s".into(),
            redis_command_timeout: "1s".into(),
            redis_ca_file: None,
            redis_local_cache: true,
            idle_timeout: "30m".into(),
            absolute_timeout: "12h".into(),
            login_timeout: "10m".into(),
            max_sessions: 100_000,
            max_sessions_per_citizen: 10,
            preserve_post_max_bytes: 64 * 1024,
        }
    }
}

/// One `[[routes]]` entry: what a path prefix requires.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSection {
    /// Path prefix, matched on whole segments (`/api` matches `/api` and `/api/x`, not `/apix`).
    pub path: String,
    /// `browser` (redirect to login), `api` (401), or `public` (no session needed).
    #[serde(default = "defaults::browser")]
    pub access: String,
    /// Minimum assurance level (`eidas1`, `eidas2`, `eidas3`).
    #[serde(default)]
    pub min_level: Option<String>,
    /// Claims this route's requests receive, as headers and in the assertion (least
    /// privilege); `sub` is always sent. Default: every claim not dropped in `[headers.claims]`.
    #[serde(default)]
    pub claims: Option<Vec<String>>,
    /// Browser routes: keep a form posted without a session across the login and send it
    /// again after (default true); `false` turns it off for this route.
    #[serde(default)]
    pub preserve_post: Option<bool>,
}

/// `[headers]`: how the identity reaches the application.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeadersSection {
    /// Prefix of identity headers; every client header starting with it is removed.
    pub prefix: String,
    /// Default encoding of values: `percent` (UTF-8 percent-encoded), `utf8` (raw bytes),
    /// `base64url`, or `latin1` (ISO-8859-1, other characters percent-encoded).
    pub encoding: String,
    /// Per-claim settings, `[headers.claims.NAME]`: `header`, `encoding`, `drop`.
    pub claims: BTreeMap<String, ClaimHeaderSection>,
    /// Other header names removed from every client request (any case, `-` and `_` alike).
    pub strip: Vec<String>,
    /// Largest total size, in bytes, of the identity headers plus the assertion of one
    /// request; a login whose identity would exceed it is refused.
    pub max_bytes: usize,
    /// Name of the header carrying the signed identity assertion (a JWT).
    pub assertion_header: String,
    /// `aud` of the assertion; default: `server.public_url`.
    pub assertion_audience: Option<String>,
    /// Lifetime of an assertion (`exp - iat`); it is re-signed when a third of it remains.
    pub assertion_ttl: String,
    /// ES256 private keys (PEM) as `file:/path` or `env:VARIABLE`: the first signs, all are
    /// published at `/.guichet/jwks.json`. Empty: a key is generated at start (one replica,
    /// lost at restart).
    pub signing_keys: Vec<String>,
    /// Also serve the public keys at `/jwks.json` on the metrics listener.
    pub jwks_on_metrics: bool,
}

impl Default for HeadersSection {
    fn default() -> Self {
        Self {
            prefix: "X-Pivot-".into(),
            encoding: "percent".into(),
            claims: BTreeMap::new(),
            strip: Vec::new(),
            max_bytes: 4096,
            assertion_header: "X-Guichet-Assertion".into(),
            assertion_audience: None,
            assertion_ttl: "60s".into(),
            signing_keys: Vec::new(),
            jwks_on_metrics: false,
        }
    }
}

/// `[headers.claims.NAME]`: how one claim is sent.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClaimHeaderSection {
    /// Full header name for this claim instead of PREFIX + the claim's default suffix.
    pub header: Option<String>,
    /// Encoding for this claim (overrides `[headers] encoding`).
    pub encoding: Option<String>,
    /// Never send this claim, neither as a header nor in the assertion (not for `sub`).
    pub drop: bool,
}

/// `[metrics]`: the Prometheus listener.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    /// Address of the metrics listener; empty string disables it.
    pub listen: String,
}

impl Default for MetricsSection {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9090".into(),
        }
    }
}

/// `[audit]`: the evidence log of authentication events.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSection {
    /// `stdout`, or a file path the events are appended to.
    pub output: String,
    /// Lines waiting for the evidence log's writer. When it is full (the output is stuck), an
    /// event waits up to 1 s for room; past that a login is refused (no session without its
    /// evidence line) and any other event is dropped and counted
    /// (`guichet_audit_dropped_total`).
    pub queue_size: usize,
}

impl Default for AuditSection {
    fn default() -> Self {
        Self {
            output: "stdout".into(),
            queue_size: 16384,
        }
    }
}

/// `[pages]`: what citizens see on guichet's own pages.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PagesSection {
    /// Name of the service shown in the header and page titles.
    pub service_name: Option<String>,
    /// Link to the service's other way to log in (MConnect terms 5.1), shown on the chooser.
    pub other_login_url: Option<String>,
    /// Where `/.guichet/logged-out` sends the citizen after logout; default: a guichet page.
    pub logged_out_url: Option<String>,
    /// Link to the service's help or contact page, in the footer of every page.
    pub help_url: Option<String>,
    /// Link to the service's accessibility statement, in the footer of every page with its
    /// compliance level ("Accessibilité : partiellement conforme").
    pub accessibility_url: Option<String>,
    /// Compliance with the RGAA stated in the footer: `none`, `partial` or `full`
    /// ("non", "partiellement", "totalement conforme"); `none` when only
    /// `accessibility_url` is set; no mention without either.
    pub accessibility_compliance: Option<String>,
    /// Link to the service's legal notice ("Mentions légales"), in the footer of every page.
    pub legal_notice_url: Option<String>,
    /// Link to the service's personal data page ("Données personnelles"), in the footer.
    pub personal_data_url: Option<String>,
    /// Show the State's brand block (Marianne, "République française", the motto) in the
    /// header and use the Marianne typeface when installed: only for State services allowed
    /// to carry the State's brand. Default false.
    pub state_branding: Option<bool>,
    /// The service's logo in the header: `file:/path` (PNG, JPEG, GIF, WebP or SVG) or a
    /// `data:image/...;base64,...` URL; at most 64 KiB, inlined in the pages.
    pub logo: Option<String>,
    /// Text alternative of the logo; default empty (the logo only repeats the service name).
    pub logo_alt: Option<String>,
    /// `[pages.colors]`: the service's colours (checked for contrast).
    pub colors: ColorsSection,
    /// `[pages.texts.fr]`, `[pages.texts.en]`: texts replacing guichet's own.
    pub texts: TextsSection,
}

/// `[pages.colors]`: `#rrggbb` colours.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ColorsSection {
    /// Buttons (white text on it) and links (on white): contrast at least 4.5:1 with white.
    pub primary: Option<String>,
    /// Header background.
    pub header_background: Option<String>,
    /// Header text: contrast at least 4.5:1 with `header_background`.
    pub header_text: Option<String>,
}

/// `[pages.texts]`: one table per language.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TextsSection {
    pub fr: PageTextsSection,
    pub en: PageTextsSection,
}

/// Texts of one language; plain text (no HTML), each at most 1000 characters.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PageTextsSection {
    /// Title of the login chooser.
    pub chooser_title: Option<String>,
    /// Sentence above the login buttons.
    pub chooser_intro: Option<String>,
    /// Title of the logged-out page.
    pub logged_out_title: Option<String>,
    /// Text of the logged-out page.
    pub logged_out_text: Option<String>,
    /// Sentence added to every error page (who to contact).
    pub error_help: Option<String>,
    /// Footer text of every page.
    pub footer: Option<String>,
}

/// `[rate_limit]`: throttling of login starts and failed callbacks per client address.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSection {
    /// Throttle at all.
    pub enabled: bool,
    /// Counts fade over this period: a client is refused when it goes over a limit within it.
    pub window: String,
    /// Login starts (redirects to a provider) per `window` before answers are delayed.
    pub login_starts_delay_after: u32,
    /// Login starts per `window` before the client is blocked.
    pub login_starts_block_after: u32,
    /// Failed callbacks (bad state, code or token) per `window` before answers are delayed.
    pub failed_callbacks_delay_after: u32,
    /// Failed callbacks per `window` before the client is blocked.
    pub failed_callbacks_block_after: u32,
    /// Delay added to each answer over a `*_delay_after` limit (at most 10s).
    pub delay: String,
    /// How long a blocked client gets `429` on login starts and callbacks.
    pub block_for: String,
    /// Most client addresses tracked at once (memory bound).
    pub max_clients: u64,
    /// IPv6 clients are counted per prefix of this length (64: one subscriber).
    pub ipv6_prefix: u8,
}

impl Default for RateLimitSection {
    fn default() -> Self {
        Self {
            enabled: true,
            window: "10m".into(),
            login_starts_delay_after: 60,
            login_starts_block_after: 200,
            failed_callbacks_delay_after: 10,
            failed_callbacks_block_after: 30,
            delay: "1s".into(),
            block_for: "5m".into(),
            max_clients: 100_000,
            ipv6_prefix: 64,
        }
    }
}

mod defaults {
    pub fn connect_timeout() -> String {
        "5s".into()
    }
    pub fn read_timeout() -> String {
        "60s".into()
    }
    pub fn idle_timeout() -> String {
        "90s".into()
    }
    pub fn pool_size() -> usize {
        128
    }
    pub fn resolve_interval() -> String {
        "5s".into()
    }
    pub fn yes() -> bool {
        true
    }
    pub fn browser() -> String {
        "browser".into()
    }
    pub fn tls_reload_interval() -> String {
        "60s".into()
    }
}
