//! `[session]`: how long a citizen stays logged in, and where sessions live (the memory store,
//! or Redis with its connection settings), validated into [`SessionConfig`].
//!
//! Invariants: a Redis URL that carries a password comes from `env:`/`file:` only and prints
//! as `<redacted env:VAR>`; a literal URL never has a password; certificate checks cannot be
//! turned off (`#insecure` is refused).

use super::{duration_str, file, ConfigError, Secret, Validator};
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
    Redis(RedisConfig),
}

/// Where a Redis store connects and how long it waits.
#[derive(Debug, Clone, Serialize)]
pub struct RedisConfig {
    /// The URL; may hold a password when it comes from `env:`/`file:`.
    #[serde(serialize_with = "url_for_display")]
    pub url: Secret,
    pub key_prefix: String,
    #[serde(with = "duration_str")]
    pub connect_timeout: Duration,
    #[serde(with = "duration_str")]
    pub command_timeout: Duration,
    pub ca_file: Option<PathBuf>,
}

/// Source label of a URL written in the TOML itself (it has no password).
const LITERAL: &str = "session.redis_url";

fn url_for_display<S: serde::Serializer>(url: &Secret, s: S) -> Result<S::Ok, S::Error> {
    if url.source() == LITERAL {
        s.serialize_str(url.expose())
    } else {
        s.serialize_str(&format!("<redacted {}>", url.source()))
    }
}

const MAX_REDIS_TIMEOUT: Duration = Duration::from_secs(60);

impl Validator {
    pub(super) fn session(&self, s: &file::SessionSection) -> Result<SessionConfig, ConfigError> {
        let store = match s.store.as_str() {
            "memory" => {
                if s.redis_url.is_some() {
                    return Err(
                        self.err("session.redis_url", "is only used with store = \"redis\"")
                    );
                }
                StoreKind::Memory
            }
            "redis" => StoreKind::Redis(self.redis(s)?),
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
            preserve_post_max_bytes: s.preserve_post_max_bytes,
        })
    }

    fn redis(&self, s: &file::SessionSection) -> Result<RedisConfig, ConfigError> {
        const KEY: &str = "session.redis_url";
        let reference = s
            .redis_url
            .as_deref()
            .ok_or_else(|| self.err(KEY, "required with store = \"redis\""))?;
        let from_secret = reference.starts_with("env:") || reference.starts_with("file:");
        let url = if from_secret {
            Secret::load(reference).map_err(|e| self.err(KEY, e.to_string()))?
        } else {
            Secret::inline(reference, LITERAL)
        };
        // Messages below name the source, never the URL (it may hold a password).
        let source = url.source().to_string();
        let bad = |why: &str| self.err(KEY, format!("{source}: {why}"));
        let parsed = Url::parse(url.expose().trim())
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
        if redis::Client::open(url.expose().trim()).is_err() {
            return Err(bad("is not a URL the Redis client accepts"));
        }
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
        let ca_file = match &s.redis_ca_file {
            None => None,
            Some(path) => {
                const CA: &str = "session.redis_ca_file";
                if parsed.scheme() != "rediss" {
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
        Ok(RedisConfig {
            url,
            key_prefix: prefix.clone(),
            connect_timeout,
            command_timeout,
            ca_file,
        })
    }
}
