//! `[session]`: how long a citizen stays logged in, and where sessions live (the memory store,
//! or Redis, alone or behind Sentinel, with its connection settings and sealing keys),
//! validated into [`SessionConfig`].
//!
//! Invariants: a Redis URL that carries a password comes from `env:`/`file:` only and prints
//! as `<redacted env:VAR>`; a literal URL never has a password; certificate checks cannot be
//! turned off (`#insecure` is refused); plain `redis://` to a host that is not loopback is
//! refused unless `redis_allow_plaintext` says so; the Redis store cannot run without sealing
//! keys (`config::tests::redis_store_settings_are_checked_and_its_password_never_prints`,
//! `sentinels_plaintext_and_sealing_keys_are_checked`).

use super::{duration_str, file, ConfigError, Secret, Validator};
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

#[derive(Debug, Serialize)]
pub struct SessionConfig {
    pub store: StoreKind,
    #[serde(with = "duration_str")]
    pub idle_timeout: Duration,
    #[serde(with = "duration_str")]
    pub absolute_timeout: Duration,
    #[serde(with = "duration_str")]
    pub login_timeout: Duration,
    pub max_sessions: u64,
    /// Most live sessions per provider and `sub`.
    pub max_sessions_per_citizen: u64,
    /// Largest form body kept across a login (`preserve_post`); 0: none.
    pub preserve_post_max_bytes: usize,
}

/// Largest value of `session.preserve_post_max_bytes`: kept forms live in the login states
/// (memory, or Redis) and in the replay page.
pub const MAX_PRESERVE_POST_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    Memory,
    Redis(Box<RedisConfig>),
}

/// Where a Redis store connects, how long it waits, and how it seals what it writes.
#[derive(Debug, Clone, Serialize)]
pub struct RedisConfig {
    /// The URL; may hold a password when it comes from `env:`/`file:`. With sentinels, its
    /// host is the master name.
    #[serde(serialize_with = "url_for_display")]
    pub url: Secret,
    /// Sentinel URLs (empty: `url` is the server itself).
    #[serde(serialize_with = "urls_for_display")]
    pub sentinels: Vec<Secret>,
    /// With sentinels: the master name they monitor (the host of `url`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sentinel_master: Option<String>,
    pub allow_plaintext: bool,
    /// Sealing keys, the first seals (`session::seal`).
    pub seal_keys: Vec<Secret>,
    pub key_prefix: String,
    #[serde(with = "duration_str")]
    pub connect_timeout: Duration,
    #[serde(with = "duration_str")]
    pub command_timeout: Duration,
    pub ca_file: Option<PathBuf>,
    /// Serve sessions Redis confirmed less than a second ago from memory
    /// (`session::redis`'s cache).
    pub local_cache: bool,
}

/// Why a configured sealing key cannot be used (the message never contains the key).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealKeyError {
    #[error(
        "{0}: must be 32 random bytes in base64 (44 characters) or hex (64), e.g. from \
         `guichet keygen --alg A256GCM` or `openssl rand -base64 32`"
    )]
    Format(String),
    #[error("{0}: is not random (all its bytes are equal)")]
    Weak(String),
    #[error("{0} and {1} are the same key")]
    Duplicate(String, String),
    #[error("at least one key is required")]
    Empty,
}

/// A 32-byte sealing key from its configured text: base64 (standard or URL-safe, with or
/// without padding) or hex.
pub fn seal_key(secret: &Secret) -> Result<[u8; 32], SealKeyError> {
    let text = secret.expose().trim();
    let decoded = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text).ok()
    } else {
        [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|e| e.decode(text).ok())
    };
    let bytes: [u8; 32] = decoded
        .and_then(|d| d.try_into().ok())
        .ok_or_else(|| SealKeyError::Format(secret.source().to_string()))?;
    if bytes.iter().all(|b| *b == bytes[0]) {
        return Err(SealKeyError::Weak(secret.source().to_string()));
    }
    Ok(bytes)
}

/// The keys of `[session] seal_keys`, in order: at least one, each a key, no key twice.
pub fn seal_keys(secrets: &[Secret]) -> Result<Vec<[u8; 32]>, SealKeyError> {
    if secrets.is_empty() {
        return Err(SealKeyError::Empty);
    }
    let mut raw: Vec<([u8; 32], &str)> = Vec::new();
    for s in secrets {
        let k = seal_key(s)?;
        if let Some((_, first)) = raw.iter().find(|(r, _)| *r == k) {
            return Err(SealKeyError::Duplicate(
                first.to_string(),
                s.source().to_string(),
            ));
        }
        raw.push((k, s.source()));
    }
    Ok(raw.into_iter().map(|(k, _)| k).collect())
}

/// Source label of a URL written in the TOML itself (it has no password).
const LITERAL: &str = "session.redis_url";
const LITERAL_SENTINEL: &str = "session.redis_sentinels";

fn url_for_display<S: serde::Serializer>(url: &Secret, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&shown(url))
}

fn urls_for_display<S: serde::Serializer>(urls: &[Secret], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(urls.iter().map(shown))
}

fn shown(url: &Secret) -> String {
    if url.source() == LITERAL || url.source() == LITERAL_SENTINEL {
        url.expose().to_string()
    } else {
        format!("<redacted {}>", url.source())
    }
}

/// Is the URL's host loopback (`localhost`, 127.0.0.0/8, `::1`)? `redis://` is not a
/// scheme the URL standard knows, so its host is not parsed as an address: done here.
fn is_loopback_url(url: &Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A Redis URL read from the config (literal or `env:`/`file:`), parsed and checked.
struct RedisUrl {
    secret: Secret,
    parsed: Url,
}

const MAX_REDIS_TIMEOUT: Duration = Duration::from_secs(60);

impl Validator {
    pub(super) fn session(&self, s: &file::SessionSection) -> Result<SessionConfig, ConfigError> {
        let store = match s.store.as_str() {
            "memory" => {
                let redis_only = [
                    ("session.redis_url", s.redis_url.is_some()),
                    ("session.redis_sentinels", !s.redis_sentinels.is_empty()),
                    ("session.seal_keys", !s.seal_keys.is_empty()),
                ];
                if let Some((key, _)) = redis_only.iter().find(|(_, set)| *set) {
                    return Err(self.err(
                        *key,
                        "is only used with store = \"redis\" (the memory store never leaves \
                         the process)",
                    ));
                }
                StoreKind::Memory
            }
            "redis" => StoreKind::Redis(Box::new(self.redis(s)?)),
            o => return Err(self.err("session.store", format!("{o:?}: expected memory or redis"))),
        };
        let idle_timeout = self.duration("session.idle_timeout", &s.idle_timeout)?;
        let absolute_timeout = self.duration("session.absolute_timeout", &s.absolute_timeout)?;
        let login_timeout = self.duration("session.login_timeout", &s.login_timeout)?;
        if idle_timeout.is_zero() || absolute_timeout.is_zero() || login_timeout.is_zero() {
            return Err(self.err("session", "timeouts must be positive"));
        }
        if idle_timeout > absolute_timeout {
            return Err(self.err(
                "session.idle_timeout",
                "is longer than session.absolute_timeout",
            ));
        }
        if s.max_sessions == 0 {
            return Err(self.err("session.max_sessions", "must be at least 1"));
        }
        if !(1..=1000).contains(&s.max_sessions_per_citizen) {
            return Err(self.err(
                "session.max_sessions_per_citizen",
                "must be between 1 and 1000",
            ));
        }
        if s.preserve_post_max_bytes > MAX_PRESERVE_POST_BYTES {
            return Err(self.err(
                "session.preserve_post_max_bytes",
                format!("must be at most {MAX_PRESERVE_POST_BYTES} (1 MiB); 0 keeps no form"),
            ));
        }
        Ok(SessionConfig {
            store,
            idle_timeout,
            absolute_timeout,
            login_timeout,
            max_sessions: s.max_sessions,
            max_sessions_per_citizen: s.max_sessions_per_citizen,
            preserve_post_max_bytes: s.preserve_post_max_bytes,
        })
    }

    /// A Redis URL setting (`key`): a literal without password, or `env:`/`file:`. Messages
    /// name the source, never the URL (it may hold a password).
    fn redis_url(
        &self,
        key: &str,
        reference: &str,
        literal: &str,
    ) -> Result<RedisUrl, ConfigError> {
        let from_secret = reference.starts_with("env:") || reference.starts_with("file:");
        let secret = if from_secret {
            Secret::load(reference).map_err(|e| self.err(key, e.to_string()))?
        } else {
            Secret::inline(reference, literal)
        };
        let source = secret.source().to_string();
        let bad = |why: &str| self.err(key, format!("{source}: {why}"));
        let parsed = Url::parse(secret.expose().trim())
            .map_err(|_| bad("is not a redis:// or rediss:// URL"))?;
        if parsed.scheme() != "redis" && parsed.scheme() != "rediss" {
            return Err(bad("must be a redis:// or rediss:// URL"));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(bad("must name a host"));
        }
        if parsed.fragment().is_some() {
            return Err(bad(
                "must not have a #fragment (#insecure would turn off certificate checks)",
            ));
        }
        if parsed.password().is_some() && !from_secret {
            return Err(bad(
                "carries a password: give the URL as \"env:VARIABLE\" or \"file:/path\"",
            ));
        }
        if redis::Client::open(secret.expose().trim()).is_err() {
            return Err(bad("is not a URL the Redis client accepts"));
        }
        Ok(RedisUrl { secret, parsed })
    }

    /// Plain `redis://` to a host that is not loopback, unless the operator allowed it.
    fn plaintext_refused(
        &self,
        key: &str,
        url: &RedisUrl,
        remote: bool,
        s: &file::SessionSection,
    ) -> Result<(), ConfigError> {
        if url.parsed.scheme() == "redis" && remote && !s.redis_allow_plaintext {
            return Err(self.err(
                key,
                format!(
                    "{}: plain redis:// to a host that is not loopback sends the sessions and \
                     the Redis password in clear: use rediss:// (TLS), or set \
                     session.redis_allow_plaintext = true if that network is private",
                    url.secret.source()
                ),
            ));
        }
        Ok(())
    }

    fn redis(&self, s: &file::SessionSection) -> Result<RedisConfig, ConfigError> {
        const KEY: &str = "session.redis_url";
        const SENTINELS: &str = "session.redis_sentinels";
        let reference = s.redis_url.as_deref().ok_or_else(|| {
            self.err(
                KEY,
                "required with store = \"redis\" (the server, or with redis_sentinels \
                 rediss://[:PASSWORD@]MASTER-NAME[/DB])",
            )
        })?;
        let url = self.redis_url(KEY, reference, LITERAL)?;
        let mut sentinels: Vec<RedisUrl> = Vec::new();
        for (i, reference) in s.redis_sentinels.iter().enumerate() {
            let key = format!("{SENTINELS}[{i}]");
            let sentinel = self.redis_url(&key, reference, LITERAL_SENTINEL)?;
            let p = &sentinel.parsed;
            if !matches!(p.path(), "" | "/" | "/0") {
                return Err(self.err(
                    key,
                    format!(
                        "{}: a sentinel has no database: no path after host:port",
                        sentinel.secret.source()
                    ),
                ));
            }
            if let Some(first) = sentinels.first() {
                let f = &first.parsed;
                if (p.scheme(), p.username(), p.password())
                    != (f.scheme(), f.username(), f.password())
                {
                    return Err(self.err(
                        key,
                        format!(
                            "{}: every sentinel must use the same scheme and credentials as \
                             the first",
                            sentinel.secret.source()
                        ),
                    ));
                }
            }
            self.plaintext_refused(&key, &sentinel, !is_loopback_url(p), s)?;
            sentinels.push(sentinel);
        }
        let sentinel_master = if sentinels.is_empty() {
            self.plaintext_refused(KEY, &url, !is_loopback_url(&url.parsed), s)?;
            None
        } else {
            if url.parsed.port().is_some() {
                return Err(self.err(
                    KEY,
                    format!(
                        "{}: with session.redis_sentinels, the URL's host is the master name the \
                         sentinels monitor, without a port (rediss://[:PASSWORD@]MASTER-NAME[/DB])",
                        url.secret.source()
                    ),
                ));
            }
            // The primary's address comes from the sentinels: it is as remote as they are.
            let remote = sentinels.iter().any(|s| !is_loopback_url(&s.parsed));
            self.plaintext_refused(KEY, &url, remote, s)?;
            url.parsed.host_str().map(String::from)
        };
        let prefix = &s.redis_key_prefix;
        if prefix.is_empty() || prefix.len() > 64 || !prefix.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(self.err(
                "session.redis_key_prefix",
                "must be 1-64 printable ASCII characters without spaces",
            ));
        }
        let timeout = |key: &str, value: &str| -> Result<Duration, ConfigError> {
            let d = self.duration(key, value)?;
            if d.is_zero() || d > MAX_REDIS_TIMEOUT {
                return Err(self.err(key, "must be between 1ms and 60s"));
            }
            Ok(d)
        };
        let connect_timeout = timeout("session.redis_connect_timeout", &s.redis_connect_timeout)?;
        let command_timeout = timeout("session.redis_command_timeout", &s.redis_command_timeout)?;
        let tls = url.parsed.scheme() == "rediss"
            || sentinels.iter().any(|s| s.parsed.scheme() == "rediss");
        let ca_file = match &s.redis_ca_file {
            None => None,
            Some(path) => {
                const CA: &str = "session.redis_ca_file";
                if !tls {
                    return Err(self.err(CA, "is only used with a rediss:// URL"));
                }
                let pem = std::fs::read_to_string(path)
                    .map_err(|e| self.err(CA, format!("cannot read {path:?}: {}", e.kind())))?;
                if !pem.contains("-----BEGIN CERTIFICATE-----") {
                    return Err(self.err(CA, format!("{path:?} holds no PEM certificate")));
                }
                Some(PathBuf::from(path))
            }
        };
        let seal_keys = self.seal_keys(&s.seal_keys)?;
        Ok(RedisConfig {
            url: url.secret,
            sentinels: sentinels.into_iter().map(|s| s.secret).collect(),
            sentinel_master,
            allow_plaintext: s.redis_allow_plaintext,
            seal_keys,
            key_prefix: prefix.clone(),
            connect_timeout,
            command_timeout,
            ca_file,
            local_cache: s.redis_local_cache,
        })
    }

    /// `seal_keys`: required with Redis, each from `env:`/`file:`, 32 bytes, no duplicates.
    fn seal_keys(&self, refs: &[String]) -> Result<Vec<Secret>, ConfigError> {
        const KEY: &str = "session.seal_keys";
        if refs.is_empty() {
            return Err(self.err(
                KEY,
                "required with store = \"redis\": records in Redis are sealed (encrypted and \
                 authenticated) with a key every replica shares. Make one with `guichet keygen \
                 --alg A256GCM`, store it as a secret, and set seal_keys = \
                 [\"env:GUICHET_SEAL_KEY\"] or [\"file:/path\"]",
            ));
        }
        let mut keys = Vec::new();
        for (i, r) in refs.iter().enumerate() {
            let key = format!("{KEY}[{i}]");
            let secret = Secret::load(r).map_err(|e| self.err(&key, e.to_string()))?;
            keys.push(secret);
        }
        seal_keys(&keys).map_err(|e| self.err(KEY, e.to_string()))?;
        Ok(keys)
    }
}
