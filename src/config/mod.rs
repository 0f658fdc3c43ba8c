//! Configuration: load the TOML file, apply provider presets, resolve secrets, validate,
//! and produce the one [`Config`] the rest of the program reads.
//!
//! Invariants:
//! - A `Config` value is always valid: every check happens in [`Config::from_file`] /
//!   [`Config::from_toml`], and a failure names the file and the key ([`ConfigError`]).
//! - Secrets are [`Secret`]s: printing a `Config` (Debug or `guichet check`) never shows them.
//!
//! # Design notes, and the tests that guard each rule
//!
//! ## `src/config/`
//! Loads the TOML (`file.rs`: serde structs, `deny_unknown_fields`, one doc
//! comment per key), applies provider presets (`presets.rs`: one per
//! federation, with the sources of each value), validates `[[providers]]`
//! (`provider.rs`: endpoints, formats, the rest;
//! `pins.rs`: signature algorithms, JWE pins and decryption keys;
//! `assurance.rs`: `acr` levels and the identity status check),
//! resolves secrets (`secret.rs`) and validates everything into the
//! internal `Config` the rest of the code reads; `[session]` and its Redis
//! settings are validated in `session.rs`; `[headers]`, route claim lists and
//! `[server] trusted_proxies` are validated in `headers.rs`
//! (`config::headers::tests::bad_header_settings_name_the_key`).
//!
//! **Invariants.** The issuer is kept as configured, trailing `/` included, and compared as a
//! string everywhere (`config::tests::the_issuer_is_kept_exactly_as_configured`,
//! `tests/certified_provider.rs::an_issuer_ending_in_a_slash_is_used_exactly_as_configured`);
//! with several providers each has its own redirect URI
//! (`config::tests::one_redirect_uri_per_provider_when_there_are_several`). A `Config` is always valid; every error names the file and the key
//! (`config::tests::*`, `tests/cli.rs::bad_configs_exit_2_naming_the_file_and_the_key`). Secrets
//! come only from `env:`/`file:` and never print (`secret::tests`,
//! `tests/cli.rs::check_prints_the_effective_config_with_secrets_redacted`). An `http://` issuer is
//! refused unless loopback (`config::tests::http_issuer_must_be_loopback`). HMAC id_tokens only
//! with the FranceConnect v1 presets, alone, without a `jwks_uri`, with a 256-bit secret
//! (`config::tests::franceconnect_v1_signs_with_the_secret_and_has_no_discovery`); a provider
//! pinned to JWE has keys that load, each `alg` pinned
//! (`config::tests::franceconnect_plus_needs_a_decryption_key_that_loads`,
//! `tests/cli.rs::bad_configs_exit_2_naming_the_file_and_the_key`); one `kid` never names two
//! keys (`one_kid_never_names_two_keys`); the MConnect status check cannot be turned off
//! (`mconnect_checks_the_identity_status_and_reads_its_levels`). A FranceConnect preset
//! (v1, v2, FranceConnect+) is never configured into something FranceConnect refuses
//! (`franceconnect.rs`, each rule citing FranceConnect's source):
//! PKCE, `authorize_params` outside `claims`/`idp_hint`/`ui_locales`/`prompt`, a `prompt` other
//! than `login`/`consent`, a malformed `claims`, no `acr_values` (v2, +) or a level the platform
//! does not serve (also through a step-up's `acr_levels`), `client_secret_basic` (or `auto`
//! without discovery) (`config::franceconnect_tests::overrides_franceconnect_refuses_are_refused_naming_the_key`,
//! `tests/cli.rs::bad_configs_exit_2_naming_the_file_and_the_key`); the presets ask for the
//! identité pivot only (`the_presets_ask_only_for_what_every_service_may_have`,
//! `tests/franceconnect_rules.rs::every_franceconnect_preset_passes_with_the_authorisation_every_service_has`).
//! **Never**: read the file again after start-up, or accept a literal secret.

mod assurance;
pub mod file;
pub mod franceconnect;
pub mod headers;
mod pages;
mod pins;
pub mod presets;
mod provider;
mod rate_limit;
mod routes;
pub mod secret;
mod session;
mod transport;

pub use assurance::IdentityStatus;
use file::FileConfig;
pub use headers::{AssertionConfig, ClaimHeader, HeaderConfig, SigningKeyConfig};
use ipnet::IpNet;
pub use pages::{Colors, Compliance, Logo, PageTexts, PagesConfig, Rgb, Texts};
pub use pins::DecryptionKey;
pub use provider::{EndpointOverrides, Pkce, ProviderConfig, TokenAuth, UserinfoFormat};
pub use rate_limit::{Limits, RateLimitConfig};
pub use routes::Route;
pub use secret::Secret;
use serde::Serialize;
pub use session::{seal_key, seal_keys, RedisConfig, SealKeyError, SessionConfig, StoreKind};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;
pub use transport::{ListenerOptions, TlsConfig};
use url::Url;

/// A configuration problem, located by file and key.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {key}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub key: String,
    pub message: String,
}

/// The validated configuration.
#[derive(Debug, Serialize)]
pub struct Config {
    #[serde(skip)]
    pub source: PathBuf,
    pub server: ServerConfig,
    pub upstream: UpstreamConfig,
    pub providers: Vec<ProviderConfig>,
    pub session: SessionConfig,
    pub routes: Vec<Route>,
    pub headers: HeaderConfig,
    pub metrics: MetricsConfig,
    pub audit: AuditConfig,
    pub pages: PagesConfig,
    pub rate_limit: RateLimitConfig,
}

#[derive(Debug, Serialize)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// `scheme://host[:port]`, no trailing slash.
    pub public_url: String,
    /// Whether the public URL is https (cookies get `__Host-` and `Secure`).
    pub https: bool,
    pub threads: usize,
    pub prefix: String,
    #[serde(with = "duration_str")]
    pub grace_period: Duration,
    /// Proxies whose `X-Forwarded-For` is believed (see `proxy::hygiene`).
    #[serde(serialize_with = "headers::serialize_nets")]
    pub trusted_proxies: Vec<IpNet>,
    /// Other host names of this service, lower case, without port (see [`crate::edge`]).
    pub host_aliases: Vec<String>,
    /// TLS on the main listener (`[server.tls]`).
    pub tls: Option<TlsConfig>,
    /// The plain-HTTP listener that redirects to `public_url`.
    pub redirect_http: Option<SocketAddr>,
    /// Bounds on a client request's headers (see [`crate::limits`]).
    pub max_request_headers: usize,
    pub max_request_header_bytes: usize,
    /// How the main listener's connections live (`keepalive_requests`, `tcp_*`).
    #[serde(flatten)]
    pub connections: ListenerOptions,
}

impl ServerConfig {
    /// Absolute URL of one of guichet's own paths, e.g. `callback`.
    pub fn own_url(&self, leaf: &str) -> String {
        format!("{}{}/{}", self.public_url, self.prefix, leaf)
    }
}

#[derive(Debug, Serialize)]
pub struct UpstreamConfig {
    pub url: String,
    /// `host:port` to connect to.
    pub address: String,
    pub tls: bool,
    /// Server name for TLS (the URL's host).
    pub sni: String,
    pub host_header: Option<String>,
    /// The host name to resolve, or `None` when `url` names an IP address.
    pub host_name: Option<String>,
    /// The port to connect to.
    pub port: u16,
    #[serde(with = "duration_str")]
    pub resolve_interval: Duration,
    #[serde(with = "duration_str")]
    pub connect_timeout: Duration,
    #[serde(with = "duration_str")]
    pub read_timeout: Duration,
    #[serde(with = "duration_str")]
    pub write_timeout: Duration,
    #[serde(with = "duration_str")]
    pub idle_timeout: Duration,
    pub pool_size: usize,
    pub verify_tls: bool,
}

#[derive(Debug, Serialize)]
pub struct MetricsConfig {
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutput {
    Stdout,
    File(PathBuf),
}

#[derive(Debug, Serialize)]
pub struct AuditConfig {
    pub output: AuditOutput,
    /// Lines the writer's queue holds (see [`crate::audit`]).
    pub queue_size: usize,
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            key: "(file)".into(),
            message: format!("cannot read: {e}"),
        })?;
        Self::from_toml(&text, path)
    }

    /// Parses and validates configuration text; `path` is only used in messages.
    pub fn from_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut v = Validator {
            file: path.display().to_string(),
        };
        let raw = v.parse(text)?;
        v.build(raw, path)
    }

    /// The effective configuration as TOML, secrets redacted (for `guichet check`).
    pub fn to_effective_toml(&self) -> String {
        toml::to_string_pretty(self)
            .unwrap_or_else(|e| format!("# cannot render the effective configuration: {e}\n"))
    }

    pub fn provider(&self, name: &str) -> Option<&ProviderConfig> {
        self.providers.iter().find(|p| p.name == name)
    }
}

/// Carries the file name so every error can name it.
struct Validator {
    file: String,
}

impl Validator {
    fn err(&self, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            key: key.into(),
            message: message.into(),
        }
    }

    fn parse(&self, text: &str) -> Result<FileConfig, ConfigError> {
        let de =
            toml::Deserializer::parse(text).map_err(|e| self.toml_err(text, "(syntax)", &e))?;
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let key = if path.is_empty() || path == "." {
                "(top level)".to_string()
            } else {
                path
            };
            self.toml_err(text, &key, e.inner())
        })
    }

    fn toml_err(&self, text: &str, key: &str, e: &toml::de::Error) -> ConfigError {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        let message = match line {
            Some(l) => format!("{} (line {l})", e.message().trim()),
            None => e.message().trim().to_string(),
        };
        self.err(key, message)
    }

    fn duration(&self, key: &str, value: &str) -> Result<Duration, ConfigError> {
        humantime::parse_duration(value).map_err(|e| {
            self.err(
                key,
                format!("{value:?} is not a duration like \"30s\" or \"12h\": {e}"),
            )
        })
    }

    fn build(&mut self, raw: FileConfig, path: &Path) -> Result<Config, ConfigError> {
        let mut server = self.server(&raw.server)?;
        let upstream = self.upstream(&raw.upstream)?;
        if raw.providers.is_empty() {
            return Err(self.err("providers", "at least one [[providers]] entry is required"));
        }
        let mut providers = Vec::new();
        for (i, p) in raw.providers.iter().enumerate() {
            let provider = self.provider(i, p)?;
            if providers
                .iter()
                .any(|q: &ProviderConfig| q.name == provider.name)
            {
                return Err(self.err(
                    format!("providers[{i}].name"),
                    format!("{:?} is used by two providers", provider.name),
                ));
            }
            providers.push(provider);
        }
        self.shared_kids(&providers)?;
        // One redirect URI per provider when there are several (RFC 9700 4.4.2: a response can
        // only come back for the provider its login was sent to, so a code from one provider
        // is never redeemed at another); the historical single URI with one provider.
        let several = providers.len() > 1;
        for p in &mut providers {
            p.callback_leaf = if several {
                format!("callback/{}", p.name)
            } else {
                "callback".to_string()
            };
            p.redirect_uri = server.own_url(&p.callback_leaf);
        }
        let session = self.session(&raw.session)?;
        let mut headers = self.headers(&raw.headers, &server.public_url)?;
        let routes = self.routes(&raw.routes, &server.prefix, &mut headers)?;
        let metrics = MetricsConfig {
            listen: if raw.metrics.listen.is_empty() {
                None
            } else {
                Some(self.socket_addr("metrics.listen", &raw.metrics.listen)?)
            },
        };
        let taken: Vec<SocketAddr> = std::iter::once(server.listen)
            .chain(metrics.listen)
            .collect();
        server.redirect_http =
            self.redirect_http(&raw.server.redirect_http, server.https, &taken)?;
        if !(1..=1_000_000).contains(&raw.audit.queue_size) {
            return Err(self.err("audit.queue_size", "must be between 1 and 1000000"));
        }
        let audit = AuditConfig {
            output: match raw.audit.output.as_str() {
                "stdout" | "" => AuditOutput::Stdout,
                other => AuditOutput::File(PathBuf::from(other)),
            },
            queue_size: raw.audit.queue_size,
        };
        let pages = self.pages(&raw.pages)?;
        let rate_limit = self.rate_limit(&raw.rate_limit)?;
        Ok(Config {
            source: path.to_path_buf(),
            server,
            upstream,
            providers,
            session,
            routes,
            headers,
            metrics,
            audit,
            pages,
            rate_limit,
        })
    }

    fn socket_addr(&self, key: &str, value: &str) -> Result<SocketAddr, ConfigError> {
        value.parse().map_err(|_| {
            self.err(
                key,
                format!("{value:?} is not an address like \"0.0.0.0:8080\""),
            )
        })
    }

    fn server(&self, s: &file::ServerSection) -> Result<ServerConfig, ConfigError> {
        let listen = self.socket_addr("server.listen", &s.listen)?;
        let url = self.url("server.public_url", &s.public_url)?;
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(self.err(
                "server.public_url",
                "must be scheme://host[:port] with no path (guichet serves the whole origin)",
            ));
        }
        let https = url.scheme() == "https";
        if !https && !is_loopback_url(&url) {
            return Err(self.err(
                "server.public_url",
                "http:// is only allowed for loopback hosts; use the https:// URL browsers see",
            ));
        }
        let prefix = s.prefix.trim_end_matches('/').to_string();
        if !prefix.starts_with('/') || prefix.len() < 2 || !prefix.bytes().all(is_path_byte) {
            return Err(self.err("server.prefix", "must be a path like \"/.guichet\""));
        }
        // pingora itself refuses more than 256 header lines and 1 MiB of headers.
        if !(8..=256).contains(&s.max_request_headers) {
            return Err(self.err("server.max_request_headers", "must be between 8 and 256"));
        }
        if !(1024..=1024 * 1024).contains(&s.max_request_header_bytes) {
            return Err(self.err(
                "server.max_request_header_bytes",
                "must be between 1024 and 1048576",
            ));
        }
        Ok(ServerConfig {
            listen,
            public_url: origin_of(&url),
            https,
            threads: s.threads,
            prefix,
            grace_period: self.duration("server.grace_period", &s.grace_period)?,
            trusted_proxies: self.trusted_proxies(&s.trusted_proxies)?,
            host_aliases: self.host_aliases(&s.host_aliases)?,
            tls: self.tls(s.tls.as_ref(), https)?,
            // Checked against the other listeners once they are known (`build`).
            redirect_http: None,
            max_request_headers: s.max_request_headers,
            max_request_header_bytes: s.max_request_header_bytes,
            connections: self.listener_options(s)?,
        })
    }

    /// `[server] host_aliases`: host names (no port), lower case.
    fn host_aliases(&self, aliases: &[String]) -> Result<Vec<String>, ConfigError> {
        let mut out = Vec::new();
        for (i, a) in aliases.iter().enumerate() {
            let key = format!("server.host_aliases[{i}]");
            let host = crate::authority::host_part(a.as_bytes());
            if !crate::authority::is_authority(a.as_bytes()) || host.len() != a.len() {
                return Err(self.err(
                    key,
                    format!(
                        "{a:?} is not a host name without port, like \"www.demarches.example.fr\""
                    ),
                ));
            }
            out.push(a.to_ascii_lowercase());
        }
        Ok(out)
    }

    fn url(&self, key: &str, value: &str) -> Result<Url, ConfigError> {
        let url =
            Url::parse(value).map_err(|e| self.err(key, format!("{value:?} is not a URL: {e}")))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(self.err(key, "must be an http:// or https:// URL"));
        }
        if url.host_str().is_none() || !url.username().is_empty() || url.password().is_some() {
            return Err(self.err(key, "must name a host and carry no credentials"));
        }
        Ok(url)
    }

    /// A provider-side URL: https, or http on a loopback host only.
    fn provider_url(&self, key: &str, value: &str) -> Result<Url, ConfigError> {
        let url = self.url(key, value)?;
        if url.scheme() == "http" && !is_loopback_url(&url) {
            return Err(self.err(
                key,
                format!("{value:?}: http:// is refused for a provider unless its host is loopback"),
            ));
        }
        Ok(url)
    }

    fn upstream(&self, u: &file::UpstreamSection) -> Result<UpstreamConfig, ConfigError> {
        let url = self.url("upstream.url", &u.url)?;
        if url.path() != "/" || url.query().is_some() {
            return Err(self.err("upstream.url", "must be scheme://host[:port] with no path"));
        }
        let tls = url.scheme() == "https";
        let host = url.host_str().unwrap_or_default().to_string();
        let port = url
            .port_or_known_default()
            .unwrap_or(if tls { 443 } else { 80 });
        let address = match url.host() {
            Some(url::Host::Ipv6(ip)) => format!("[{ip}]:{port}"),
            _ => format!("{host}:{port}"),
        };
        let host_name = match url.host() {
            Some(url::Host::Domain(d)) => Some(d.to_string()),
            _ => None,
        };
        let resolve_interval = self.duration("upstream.resolve_interval", &u.resolve_interval)?;
        if resolve_interval < Duration::from_secs(1) {
            return Err(self.err("upstream.resolve_interval", "must be at least 1s"));
        }
        if let Some(h) = &u.host_header {
            if !crate::authority::is_authority(h.as_bytes()) {
                return Err(self.err("upstream.host_header", format!("{h:?} is not host[:port]")));
            }
        }
        if u.pool_size == 0 {
            return Err(self.err("upstream.pool_size", "must be at least 1"));
        }
        Ok(UpstreamConfig {
            url: origin_of(&url),
            address,
            tls,
            sni: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            host_header: u.host_header.clone(),
            host_name,
            port,
            resolve_interval,
            connect_timeout: self.duration("upstream.connect_timeout", &u.connect_timeout)?,
            read_timeout: self.duration("upstream.read_timeout", &u.read_timeout)?,
            write_timeout: self.duration("upstream.write_timeout", &u.write_timeout)?,
            idle_timeout: self.duration("upstream.idle_timeout", &u.idle_timeout)?,
            pool_size: u.pool_size,
            verify_tls: u.verify_tls,
        })
    }
}

pub(super) fn is_path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"/-._~".contains(&b)
}

fn origin_of(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// True for `localhost`, 127.0.0.0/8 and `::1`.
pub fn is_loopback_url(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Durations print as `30m`, `12h`, ... in the effective configuration.
mod duration_str {
    use serde::Serializer;
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("<redacted {}>", self.source()))
    }
}

#[cfg(test)]
mod franceconnect_tests;
#[cfg(test)]
mod ops_tests;
#[cfg(test)]
mod tests;
