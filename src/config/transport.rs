//! `[server.tls]`, `[server] redirect_http` and the main listener's connection options
//! (`keepalive_requests`, `tcp_keepalive`, `tcp_fastopen`): how browsers reach guichet (TLS on
//! the main listener, a plain-HTTP listener that only redirects, how long connections live),
//! validated into [`TlsConfig`], [`ServerConfig::redirect_http`](super::ServerConfig) and
//! [`ListenerOptions`].
//!
//! Invariants: a configuration with TLS names a certificate and key that load and match at
//! validation time (`guichet check` says so, and a bad pair is a config error naming
//! `server.tls.cert_file` or `server.tls.key_file`); TLS and the redirect listener need an
//! `https://` public URL; the redirect listener never shares an address with another; a
//! `tcp_keepalive` is off or whole seconds the kernel accepts (a value it refuses would fail
//! every accepted connection, so it is refused here: `listener_options_defaults_and_checks`).

use super::{duration_str, file, ConfigError, Validator};
use serde::Serialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The main listener's certificate files.
#[derive(Debug, Clone, Serialize)]
pub struct TlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// How often the files are checked for new contents; zero: never (SIGHUP only).
    #[serde(with = "duration_str")]
    pub reload_interval: Duration,
}

/// Options of the main listener's connections (`[server]`, printed flat there by
/// `guichet check`).
#[derive(Debug, Clone, Serialize)]
pub struct ListenerOptions {
    /// Requests served on one HTTP/1.1 connection before it is closed; 0: no limit.
    pub keepalive_requests: u32,
    /// Silence before TCP keepalive probes start; zero: no probes.
    #[serde(with = "duration_str")]
    pub tcp_keepalive: Duration,
    /// TCP Fast Open queue length; 0: off.
    pub tcp_fastopen: u32,
}

impl ListenerOptions {
    /// Time between two TCP keepalive probes.
    pub const PROBE_INTERVAL: Duration = Duration::from_secs(10);
    /// Unanswered probes before the connection is dropped.
    pub const PROBE_COUNT: u32 = 6;
}

/// Linux's bound on `TCP_KEEPIDLE` (seconds).
const MAX_TCP_KEEPALIVE_SECS: u64 = 32767;

impl Validator {
    pub(super) fn listener_options(
        &self,
        s: &file::ServerSection,
    ) -> Result<ListenerOptions, ConfigError> {
        let key = "server.tcp_keepalive";
        let tcp_keepalive = self.duration(key, &s.tcp_keepalive)?;
        if !tcp_keepalive.is_zero()
            && (tcp_keepalive.subsec_nanos() != 0
                || !(1..=MAX_TCP_KEEPALIVE_SECS).contains(&tcp_keepalive.as_secs()))
        {
            return Err(self.err(
                key,
                format!(
                    "must be whole seconds between 1s and {MAX_TCP_KEEPALIVE_SECS}s, \
                     or \"0s\" for no probes"
                ),
            ));
        }
        if s.tcp_fastopen > 65535 {
            return Err(self.err("server.tcp_fastopen", "must be between 0 (off) and 65535"));
        }
        Ok(ListenerOptions {
            keepalive_requests: s.keepalive_requests,
            tcp_keepalive,
            tcp_fastopen: s.tcp_fastopen,
        })
    }

    pub(super) fn tls(
        &self,
        t: Option<&file::TlsSection>,
        https: bool,
    ) -> Result<Option<TlsConfig>, ConfigError> {
        let Some(t) = t else {
            return Ok(None);
        };
        if !https {
            return Err(self.err(
                "server.public_url",
                "must be https:// when guichet terminates TLS ([server.tls])",
            ));
        }
        for (key, value) in [
            ("server.tls.cert_file", &t.cert_file),
            ("server.tls.key_file", &t.key_file),
        ] {
            if value.trim().is_empty() {
                return Err(self.err(key, "a path to a PEM file is required"));
            }
        }
        let cfg = TlsConfig {
            cert_file: PathBuf::from(&t.cert_file),
            key_file: PathBuf::from(&t.key_file),
            reload_interval: self.duration("server.tls.reload_interval", &t.reload_interval)?,
        };
        if !cfg.reload_interval.is_zero() && cfg.reload_interval < Duration::from_secs(1) {
            return Err(self.err(
                "server.tls.reload_interval",
                "must be at least 1s, or \"0s\" to check only on SIGHUP",
            ));
        }
        crate::tls::load(&cfg.cert_file, &cfg.key_file)
            .map_err(|e| self.err(e.which().key(), e.to_string()))?;
        Ok(Some(cfg))
    }

    /// `redirect_http`, checked against the other listeners.
    pub(super) fn redirect_http(
        &self,
        value: &str,
        https: bool,
        taken: &[SocketAddr],
    ) -> Result<Option<SocketAddr>, ConfigError> {
        if value.is_empty() {
            return Ok(None);
        }
        let addr = self.socket_addr("server.redirect_http", value)?;
        if !https {
            return Err(self.err(
                "server.redirect_http",
                "redirects to public_url, which must then be https://",
            ));
        }
        if taken
            .iter()
            .any(|t| t.port() == addr.port() && overlaps(*t, addr))
        {
            return Err(self.err(
                "server.redirect_http",
                format!("{addr} is already used by another listener"),
            ));
        }
        Ok(Some(addr))
    }
}

/// Would two listeners on the same port collide (same address, or one of them on all
/// addresses)?
fn overlaps(a: SocketAddr, b: SocketAddr) -> bool {
    a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified()
}

#[cfg(test)]
mod tests {
    use super::super::{Config, ConfigError};
    use std::io::Write;
    use std::path::Path;
    use std::time::Duration;

    fn load(public_url: &str, server_extra: &str) -> Result<Config, ConfigError> {
        let mut secret = tempfile::NamedTempFile::new().expect("secret");
        writeln!(secret, "{}", "ab".repeat(32)).expect("secret");
        let text = format!(
            "[server]\nlisten = \"127.0.0.1:8080\"\npublic_url = \"{public_url}\"\n{server_extra}\n\
             [upstream]\nurl = \"http://127.0.0.1:3000\"\n[metrics]\nlisten = \"127.0.0.1:9090\"\n\
             [[providers]]\nname = \"fc\"\npreset = \"franceconnect-v2-integration\"\n\
             client_id = \"abc\"\nclient_secret = \"file:{}\"\n",
            secret.path().display()
        );
        Config::from_toml(&text, Path::new("guichet.toml"))
    }

    #[test]
    fn the_redirect_listener_needs_https_and_its_own_address() {
        let https = "https://demarches.example.fr";
        let cfg = load(https, "redirect_http = \"0.0.0.0:80\"").expect("valid");
        assert_eq!(
            cfg.server.redirect_http,
            Some("0.0.0.0:80".parse().expect("addr"))
        );
        assert!(cfg.server.tls.is_none());
        assert_eq!(load(https, "").expect("valid").server.redirect_http, None);
        for (url, extra) in [
            (
                "http://127.0.0.1:8080",
                "redirect_http = \"127.0.0.1:8081\"",
            ),
            (https, "redirect_http = \"127.0.0.1:8080\""),
            (https, "redirect_http = \"0.0.0.0:9090\""),
            (https, "redirect_http = \"[::]:8080\""),
            (https, "redirect_http = \"port 80\""),
        ] {
            let e = load(url, extra).expect_err(extra);
            assert_eq!(e.key, "server.redirect_http", "{extra}: {e}");
        }
        // Another port on the same address is fine.
        assert!(load(https, "redirect_http = \"127.0.0.1:8081\"").is_ok());
    }

    #[test]
    fn listener_options_defaults_and_checks() {
        let https = "https://demarches.example.fr";
        let cfg = load(https, "").expect("valid");
        let c = &cfg.server.connections;
        assert_eq!(c.keepalive_requests, 1000);
        assert_eq!(c.tcp_keepalive, Duration::from_secs(60));
        assert_eq!(c.tcp_fastopen, 0);
        // `guichet check` prints them with the other [server] keys.
        let effective = cfg.to_effective_toml();
        for line in [
            "keepalive_requests = 1000",
            "tcp_keepalive = \"1m\"",
            "tcp_fastopen = 0",
        ] {
            assert!(effective.contains(line), "{line} not in:\n{effective}");
        }
        let cfg = load(
            https,
            "keepalive_requests = 0\ntcp_keepalive = \"0s\"\ntcp_fastopen = 256",
        )
        .expect("valid");
        let c = &cfg.server.connections;
        assert_eq!(c.keepalive_requests, 0);
        assert!(c.tcp_keepalive.is_zero());
        assert_eq!(c.tcp_fastopen, 256);
        assert_eq!(
            load(https, "tcp_keepalive = \"2h\"")
                .expect("valid")
                .server
                .connections
                .tcp_keepalive,
            Duration::from_secs(7200)
        );

        for (extra, key) in [
            ("tcp_keepalive = \"soon\"", "server.tcp_keepalive"),
            ("tcp_keepalive = \"-5s\"", "server.tcp_keepalive"),
            ("tcp_keepalive = \"500ms\"", "server.tcp_keepalive"),
            ("tcp_keepalive = \"1500ms\"", "server.tcp_keepalive"),
            ("tcp_keepalive = \"10h\"", "server.tcp_keepalive"),
            ("tcp_keepalive = 60", "server.tcp_keepalive"),
            ("tcp_fastopen = 65536", "server.tcp_fastopen"),
            ("tcp_fastopen = -1", "server.tcp_fastopen"),
            ("keepalive_requests = -1", "server.keepalive_requests"),
            (
                "keepalive_requests = 4294967296",
                "server.keepalive_requests",
            ),
            ("keepalive_requests = \"1000\"", "server.keepalive_requests"),
            ("reuse_port = true", "server.reuse_port"),
        ] {
            let e = load(https, extra).expect_err(extra);
            assert_eq!(e.key, key, "{extra}: {e}");
        }
    }

    #[test]
    fn tls_needs_both_files_and_an_https_public_url() {
        let https = "https://demarches.example.fr";
        let e = load(
            https,
            "[server.tls]\ncert_file = \"\"\nkey_file = \"k.pem\"",
        )
        .expect_err("empty path");
        assert_eq!(e.key, "server.tls.cert_file");
        let e = load(https, "[server.tls]\ncert_file = \"c.pem\"").expect_err("no key");
        assert!(e.key.contains("server.tls"), "{e}");
        let e = load(
            "http://127.0.0.1:8080",
            "[server.tls]\ncert_file = \"c.pem\"\nkey_file = \"k.pem\"",
        )
        .expect_err("http");
        assert_eq!(e.key, "server.public_url");
        let e = load(
            https,
            "[server.tls]\ncert_file = \"/nonexistent/c.pem\"\nkey_file = \"k.pem\"",
        )
        .expect_err("missing file");
        assert_eq!(e.key, "server.tls.cert_file");
        assert!(e.message.contains("/nonexistent/c.pem"), "{e}");
    }
}
