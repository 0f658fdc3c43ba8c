//! Shared integration-test harness: the demo [`Stack`] (mock provider signing real JWTs, echo
//! upstream) plus the real `guichet` binary on ephemeral loopback ports, and a [`Browser`]
//! that keeps cookies and follows redirects one hop at a time.
#![allow(dead_code)]

pub mod forms;
pub mod lenient;
pub mod oidc_provider;
pub mod process;
pub mod redis;
pub mod sentinel;
pub mod tls;

pub use process::GatewayProcess;
use process::{port_of, spawn_gateway, spawn_gateway_alive, spawn_process, wait_ready};

use guichet::demo::certs::{CertPair, TestCa};
use guichet::demo::provider::{Faults, Flavour};
use guichet::demo::{free_port, Stack, StackOptions, StackTls};
use reqwest::header::LOCATION;
use reqwest::{Response, StatusCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options for one test's stack.
pub struct Setup {
    /// The first mock provider (`[[providers]]` entry `demo`).
    pub flavour: Flavour,
    /// More mock providers, one per flavour, named by `Flavour::short_name` (`fc-plus`...).
    pub also: Vec<Flavour>,
    /// FranceConnect+: the algorithm of guichet's encryption key.
    pub encryption_alg: &'static str,
    /// Appended to the configuration.
    pub extra_toml: String,
    /// Added to the provider's `[[providers]]` entry.
    pub provider_toml: String,
    /// Added to the `[server]` section.
    pub server_toml: String,
    /// `GUICHET_LOG` of the gateway processes of this harness (default `info`).
    pub log_filter: &'static str,
    /// TLS on guichet's listener with a certificate from a private CA made for the test
    /// ([`Harness::tls`]); the public URL is then `https://127.0.0.1:PORT`.
    pub tls: bool,
    /// `[server.tls] reload_interval` (with `tls`).
    pub tls_reload_interval: Option<String>,
    /// `[server] grace_period`; default 1s.
    pub grace_period: Option<String>,
    /// FranceConnect mocks authorised for every scope and `amr`, and guichet asking for the
    /// data beyond the identité pivot (`StackOptions::rich_identity`, what `guichet demo`
    /// runs). Default: the presets' scopes against a client authorised for the pivot only.
    pub rich_identity: bool,
    /// `[upstream] url`; default: the stack's echo application.
    pub upstream_url: Option<String>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            flavour: Flavour::FranceConnectV2,
            also: Vec::new(),
            encryption_alg: "ECDH-ES",
            extra_toml: String::new(),
            provider_toml: String::new(),
            server_toml: String::new(),
            log_filter: "info",
            tls: false,
            tls_reload_interval: None,
            grace_period: None,
            rich_identity: false,
            upstream_url: None,
        }
    }
}

/// The test CA and the certificate files guichet serves (with [`Setup::tls`]).
pub struct TlsFiles {
    pub ca: TestCa,
    /// PEM of the CA certificate, for clients to trust.
    pub ca_pem: Vec<u8>,
    /// The files named in `[server.tls]`: replace their contents to test reloads.
    pub live: CertPair,
}

/// A running stack and gateway; everything stops when it is dropped.
pub struct Harness {
    pub stack: Stack,
    pub gateway: GatewayProcess,
    pub url: String,
    pub dir: tempfile::TempDir,
    pub tls: Option<TlsFiles>,
}

impl Harness {
    pub async fn start() -> Harness {
        Harness::with(Setup::default()).await
    }

    pub async fn with(setup: Setup) -> Harness {
        guichet::server::install_crypto_provider();
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port().expect("free port");
        let metrics_port = free_port().expect("free port");
        let audit_path = dir.path().join("audit.log");
        let tls = setup.tls.then(|| {
            let ca = TestCa::new(dir.path(), "test-ca").expect("test CA (openssl)");
            let issued = ca.issue("gateway").expect("gateway certificate");
            let live = CertPair {
                cert: dir.path().join("live-cert.pem"),
                key: dir.path().join("live-key.pem"),
            };
            std::fs::copy(&issued.cert, &live.cert).expect("cert");
            std::fs::copy(&issued.key, &live.key).expect("key");
            let ca_pem = std::fs::read(&ca.cert).expect("CA");
            TlsFiles { ca, ca_pem, live }
        });
        let mut opts = StackOptions::new(port);
        opts.tls = tls.as_ref().map(|t| StackTls {
            cert_file: t.live.cert.clone(),
            key_file: t.live.key.clone(),
            ca_file: t.ca.cert.clone(),
            reload_interval: setup.tls_reload_interval.clone(),
        });
        opts.metrics_port = Some(metrics_port);
        opts.flavour = setup.flavour;
        opts.also = setup.also;
        opts.encryption_alg = setup.encryption_alg;
        opts.extra_toml = setup.extra_toml;
        opts.provider_toml = setup.provider_toml;
        opts.server_toml = setup.server_toml;
        opts.rich_identity = setup.rich_identity;
        process::set_log_filter(dir.path(), setup.log_filter);
        opts.audit_file = Some(audit_path.clone());
        if let Some(grace) = setup.grace_period {
            opts.grace_period = grace;
        }
        opts.upstream_url = setup.upstream_url;
        let stack = Stack::start(dir.path(), &opts).await.expect("stack");
        let url = stack.gateway_url.clone();
        let ca = tls.as_ref().map(|t| t.ca_pem.as_slice());
        let gateway = spawn_gateway(
            &stack.config_path,
            dir.path(),
            "guichet",
            audit_path,
            metrics_port,
            &url,
            ca,
        )
        .await;
        Harness {
            stack,
            gateway,
            url,
            dir,
            tls,
        }
    }

    /// The test CA's certificate (PEM), with [`Setup::tls`].
    pub fn ca_pem(&self) -> Option<&[u8]> {
        self.tls.as_ref().map(|t| t.ca_pem.as_slice())
    }

    /// Zero-downtime upgrade: starts another guichet with `--upgrade` on the same
    /// configuration and upgrade socket, waits (bounded) until it listens on that socket,
    /// sends SIGQUIT to the running one, and makes the new process [`Harness::gateway`].
    /// Returns the old process, which hands its listening sockets over, drains and exits by
    /// itself. Wait for the new one with [`Harness::wait_ready`].
    pub fn upgrade(&mut self, name: &str) -> GatewayProcess {
        let sock = self.gateway.upgrade_sock.clone();
        let metrics_port = port_of(&self.gateway.metrics_url);
        let mut new = spawn_process(
            &self.stack.config_path,
            self.dir.path(),
            name,
            self.gateway.audit_path.clone(),
            metrics_port,
            &sock,
            true,
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while !sock.exists() {
            if new.exited() || Instant::now() > deadline {
                panic!(
                    "the upgrading guichet never opened {sock:?}:\n{}",
                    new.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.gateway.signal("QUIT");
        std::mem::replace(&mut self.gateway, new)
    }

    /// Waits until the current gateway answers `/readyz` with 200.
    pub async fn wait_ready(&mut self) {
        let url = self.url.clone();
        let ca = self.tls.as_ref().map(|t| t.ca_pem.clone());
        wait_ready(&url, &mut self.gateway, ca.as_deref()).await;
    }

    /// A second guichet with the same configuration (same public URL, providers and session
    /// store) listening on another port: another replica behind the same load balancer.
    /// Browsers reach it at [`Replica::url`]; cookies are shared since they ignore ports.
    pub async fn replica(&self, name: &str) -> Replica {
        self.replica_with(name, |text| text).await
    }

    /// [`Harness::replica`] with its configuration text changed by `edit` (a replica deployed
    /// with other settings).
    pub async fn replica_with(&self, name: &str, edit: impl FnOnce(String) -> String) -> Replica {
        self.other_gateway(name, Other::default(), edit).await
    }

    /// Another guichet from this one's configuration changed by `edit`, on its own ports, as
    /// `other` says: a replica, or (with `own_public_url`) another deployment.
    pub async fn other_gateway(
        &self,
        name: &str,
        other: Other,
        edit: impl FnOnce(String) -> String,
    ) -> Replica {
        let text = edit(std::fs::read_to_string(&self.stack.config_path).expect("config"));
        let port = free_port().expect("free port");
        let metrics_port = free_port().expect("free port");
        let own_port = self.url.rsplit(':').next().expect("port");
        let own_metrics = self.gateway.metrics_url.rsplit(':').next().expect("port");
        let audit_path = self.dir.path().join(format!("{name}.audit.log"));
        let mut text = text
            .replace(
                &format!("listen = \"127.0.0.1:{own_port}\""),
                &format!("listen = \"127.0.0.1:{port}\""),
            )
            .replace(
                &format!("listen = \"127.0.0.1:{own_metrics}\""),
                &format!("listen = \"127.0.0.1:{metrics_port}\""),
            )
            .replace(
                &format!("output = \"{}\"", self.gateway.audit_path.display()),
                &format!("output = \"{}\"", audit_path.display()),
            );
        let url = format!("http://127.0.0.1:{port}");
        if other.own_public_url {
            text = text.replace(
                &format!("public_url = \"{}\"", self.url),
                &format!("public_url = \"{url}\""),
            );
        }
        let config_path = self.dir.path().join(format!("{name}.toml"));
        std::fs::write(&config_path, text).expect("replica config");
        let gateway = if other.wait_ready {
            spawn_gateway(
                &config_path,
                self.dir.path(),
                name,
                audit_path,
                metrics_port,
                &url,
                None,
            )
            .await
        } else {
            spawn_gateway_alive(
                &config_path,
                self.dir.path(),
                name,
                audit_path,
                metrics_port,
                &url,
            )
            .await
        };
        Replica { gateway, url }
    }

    /// Stops guichet (SIGTERM), rewrites its configuration with `edit`, and starts it again on
    /// the same ports (stderr and the evidence log keep growing in the same files).
    pub async fn restart_with(&mut self, edit: impl FnOnce(String) -> String) {
        assert!(self.gateway.terminate().is_some(), "guichet did not stop");
        let path = &self.stack.config_path;
        let text = std::fs::read_to_string(path).expect("config");
        std::fs::write(path, edit(text)).expect("config");
        let audit = self.gateway.audit_path.clone();
        let metrics_port = port_of(&self.gateway.metrics_url);
        let ca = self.tls.as_ref().map(|t| t.ca_pem.clone());
        self.gateway = spawn_gateway(
            &self.stack.config_path,
            self.dir.path(),
            "guichet",
            audit,
            metrics_port,
            &self.url,
            ca.as_deref(),
        )
        .await;
    }

    /// Checks what the echo upstream found of the identity assertion on every request it
    /// recorded: a request carrying identity headers had exactly one assertion, verified
    /// (josekit, keys fetched from `/.guichet/jwks.json`), for the same `sub`; a request without
    /// identity had none.
    pub fn assert_assertions_verified(&self) {
        let requests = self.stack.echo.requests();
        assert!(!requests.is_empty(), "the upstream saw no request");
        for r in requests {
            let sub = r.header_str("x-pivot-sub").map(percent_decode);
            match (&r.assertion, &sub) {
                (Some(Ok(claims)), Some(sub)) => {
                    assert_eq!(claims["sub"].as_str(), Some(sub.as_str()), "{}", r.path)
                }
                (None, None) => {}
                (other, _) => panic!(
                    "{} {}: identity {:?} with assertion {other:?}",
                    r.method,
                    r.path,
                    sub.is_some()
                ),
            }
        }
    }

    /// A browser for this gateway (trusting the test CA with [`Setup::tls`]).
    pub fn browser(&self) -> Browser {
        Browser::build(&[], self.ca_pem())
    }

    pub fn set_faults(&self, f: Faults) {
        self.stack.mock.set_faults(f);
    }

    /// Everything guichet wrote to stderr so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.gateway.stderr_path).unwrap_or_default()
    }

    /// Waits (at most `limit`) until guichet's stderr contains `needle`; panics with the logs
    /// otherwise. A log line is written after the effect it reports, so a test that saw the
    /// effect waits for the line instead of reading the file once.
    pub async fn wait_log(&self, needle: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.logs().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "{needle:?} not logged within {limit:?}:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Evidence log lines so far, parsed.
    pub fn audit(&self) -> Vec<serde_json::Value> {
        self.gateway.audit()
    }

    /// The last `login` event's reason in the evidence log.
    pub fn last_login_reason(&self) -> Option<String> {
        self.gateway.last_login_reason()
    }

    /// Did the upstream see any request carrying an identity?
    pub fn upstream_saw_identity(&self) -> bool {
        self.stack
            .echo
            .requests()
            .iter()
            .any(|r| r.headers.iter().any(|(n, _)| n.starts_with("x-pivot-")))
    }

    pub async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.gateway.metrics_url))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics body")
    }
}

/// How [`Harness::other_gateway`] starts another guichet.
pub struct Other {
    /// Its own URL as `public_url` (another deployment), instead of the first one's.
    pub own_public_url: bool,
    /// Wait for `/readyz`; `false` waits only for `/healthz` (a gateway whose provider is
    /// down).
    pub wait_ready: bool,
}

impl Default for Other {
    fn default() -> Self {
        Other {
            own_public_url: false,
            wait_ready: true,
        }
    }
}

/// Another guichet process of the same deployment (see [`Harness::replica`]).
pub struct Replica {
    pub gateway: GatewayProcess,
    pub url: String,
}

impl Replica {
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.gateway.stderr_path).unwrap_or_default()
    }
}

/// An HTTP client with a cookie jar that does not follow redirects by itself.
pub struct Browser {
    pub client: reqwest::Client,
    pub jar: Arc<reqwest::cookie::Jar>,
}

/// The end of a chain of redirects.
pub struct Landed {
    pub status: StatusCode,
    pub url: String,
    pub body: String,
    /// Every URL visited, in order.
    pub hops: Vec<String>,
    pub set_cookies: Vec<String>,
}

impl Browser {
    pub fn new() -> Browser {
        Browser::with_headers(&[])
    }

    /// A browser that sends these headers on every request (e.g. a spoofed `X-Forwarded-For`).
    pub fn with_headers(headers: &[(&'static str, &str)]) -> Browser {
        Browser::build(headers, None)
    }

    /// A browser with default headers that also trusts the CA in `ca` (PEM). Over https it
    /// offers HTTP/2 and HTTP/1.1 (ALPN), as browsers do.
    pub fn build(headers: &[(&'static str, &str)], ca: Option<&[u8]>) -> Browser {
        let mut defaults = reqwest::header::HeaderMap::new();
        for (k, v) in headers {
            defaults.append(*k, v.parse().expect("header value"));
        }
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_provider(jar.clone())
            .default_headers(defaults)
            .tls_info(true)
            .timeout(Duration::from_secs(20));
        if let Some(pem) = ca {
            builder =
                builder.add_root_certificate(reqwest::Certificate::from_pem(pem).expect("CA"));
        }
        let client = builder.build().expect("client");
        Browser { client, jar }
    }

    pub async fn get(&self, url: &str) -> Response {
        self.client.get(url).send().await.expect("request")
    }

    /// GETs `url` and follows redirects (at most 10).
    pub async fn follow(&self, url: &str) -> Landed {
        let mut url = url.to_string();
        let mut hops = Vec::new();
        let mut set_cookies = Vec::new();
        for _ in 0..10 {
            hops.push(url.clone());
            let resp = self.get(&url).await;
            for c in resp.headers().get_all(reqwest::header::SET_COOKIE) {
                set_cookies.push(c.to_str().unwrap_or_default().to_string());
            }
            if resp.status().is_redirection() {
                let loc = resp
                    .headers()
                    .get(LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .expect("redirect without Location")
                    .to_string();
                url = reqwest::Url::parse(&url)
                    .and_then(|base| base.join(&loc))
                    .expect("bad Location")
                    .to_string();
                continue;
            }
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            return Landed {
                status,
                url,
                body,
                hops,
                set_cookies,
            };
        }
        panic!("too many redirects: {hops:?}");
    }

    /// Follows `url`; when that lands on the mock provider's interaction page (the citizen
    /// chooser), picks `citizen` there as a browser clicking it would, and follows on. The
    /// authorization request itself never names the citizen: FranceConnect would refuse it.
    pub async fn follow_as(&self, url: &str, citizen: &str) -> Landed {
        let first = self.follow(url).await;
        if first.status != StatusCode::OK || !first.url.contains("/interaction/") {
            return first;
        }
        let enc: String = url::form_urlencoded::byte_serialize(citizen.as_bytes()).collect();
        let mut next = self
            .follow(&format!("{}/login?citizen={enc}", first.url))
            .await;
        next.hops = [first.hops, next.hops].concat();
        next.set_cookies = [first.set_cookies, next.set_cookies].concat();
        next
    }

    /// Logs in as a test citizen through the whole flow; returns where it landed.
    pub async fn login(&self, h: &Harness, citizen: &str, return_to: &str) -> Landed {
        self.login_via(&h.url, citizen, return_to).await
    }

    /// [`Browser::login`] through the guichet at `gateway_url` (a replica, another deployment).
    pub async fn login_via(&self, gateway_url: &str, citizen: &str, return_to: &str) -> Landed {
        let enc: String = url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
        self.follow_as(
            &format!("{gateway_url}/.guichet/login?return_to={enc}"),
            citizen,
        )
        .await
    }

    /// Logs in at one provider (by its `[[providers]]` name) as a test citizen.
    pub async fn login_at(
        &self,
        h: &Harness,
        provider: &str,
        citizen: &str,
        return_to: &str,
    ) -> Landed {
        let enc: String = url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
        self.follow_as(
            &format!(
                "{}/.guichet/login?provider={provider}&return_to={enc}",
                h.url
            ),
            citizen,
        )
        .await
    }

    /// Starts a login and stops at the provider's redirect back to the callback, returning the
    /// callback URL without visiting it: through the provider's interaction page (the citizen
    /// picked), or straight back when the provider answers the authorization request itself
    /// (an error response).
    pub async fn start_login(&self, h: &Harness, citizen: &str) -> String {
        let r = self
            .get(&format!("{}/.guichet/login?return_to=/whoami", h.url))
            .await;
        assert_eq!(r.status(), StatusCode::FOUND);
        self.pick_at_provider(&location(&r), citizen).await
    }

    /// GETs the provider's authorization URL and, when it opens an interaction, picks
    /// `citizen` there; returns where the provider sends the browser back.
    pub async fn pick_at_provider(&self, authorize: &str, citizen: &str) -> String {
        let r = self.get(authorize).await;
        assert!(
            r.status().is_redirection(),
            "the provider answered {}",
            r.status()
        );
        let next = reqwest::Url::parse(authorize)
            .and_then(|base| base.join(&location(&r)))
            .expect("provider redirect");
        if !next.path().contains("/interaction/") {
            return next.to_string();
        }
        let r = self.get(&format!("{next}/login?citizen={citizen}")).await;
        assert_eq!(
            r.status(),
            StatusCode::FOUND,
            "provider did not redirect back"
        );
        location(&r)
    }
}

impl Landed {
    /// The `name=value` of the session cookie set along the way.
    pub fn session_cookie(&self) -> String {
        self.set_cookies
            .iter()
            .find(|c| c.starts_with("guichet=") || c.starts_with("__Host-guichet="))
            .map(|c| c.split(';').next().unwrap_or_default().to_string())
            .expect("no session cookie was set")
    }

    /// The `Cookie` value a browser sends to `/.guichet/logout`: the session cookie and, with
    /// the memory store, the sealed logout hint (`session::logout_hint`).
    pub fn logout_cookies(&self) -> String {
        let mut cookie = self.session_cookie();
        if let Some(hint) = self
            .set_cookies
            .iter()
            .find(|c| c.starts_with("guichet-logout=") || c.starts_with("__Secure-guichet-logout="))
        {
            cookie.push_str("; ");
            cookie.push_str(hint.split(';').next().unwrap_or_default());
        }
        cookie
    }
}

/// GETs `url` with exactly this `Cookie` header, from a fresh client (a replayed cookie).
pub async fn get_with_cookie(url: &str, cookie: &str) -> Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(url)
        .header("cookie", cookie)
        .send()
        .await
        .expect("request")
}

/// POSTs an `application/x-www-form-urlencoded` body from a fresh client (a provider's
/// back-channel call, or a form), with extra headers.
pub async fn post_form(url: &str, fields: &[(&str, &str)], headers: &[(&str, &str)]) -> Response {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let mut rb = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    rb.send().await.expect("request")
}

pub fn location(r: &Response) -> String {
    r.headers()
        .get(LOCATION)
        .and_then(|l| l.to_str().ok())
        .expect("Location")
        .to_string()
}

/// Query parameters of a URL.
pub fn query(url: &str) -> std::collections::BTreeMap<String, String> {
    reqwest::Url::parse(url)
        .expect("url")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Decodes the echo upstream's JSON body into its headers object.
pub fn echoed_headers(body: &str) -> serde_json::Map<String, serde_json::Value> {
    let v: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|_| panic!("not echo JSON: {body}"));
    v["headers"].as_object().cloned().unwrap_or_default()
}

pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .expect("utf-8")
        .into_owned()
}

/// Sends these bytes as they are on a new connection to `base_url` and returns the status code
/// and the raw response head (status 0 when the connection closed without an answer). Waits
/// at most 10 s.
pub async fn raw_exchange(base_url: &str, raw: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base_url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    // The server may answer and close before reading everything (a request too large).
    let _ = s.write_all(raw).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).to_string();
    let head = text
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_string();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head)
}

/// A raw response: status (0 when the connection closed without one), head and body.
pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// One header of the head (first copy).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Sends `METHOD TARGET HTTP/1.1` with exactly these header lines (each ending in CRLF, no
/// `Connection`) on a new connection, the target's bytes as they are, and reads the whole
/// response (the connection is closed after it). Waits at most 10 s.
pub async fn raw_request(base_url: &str, method: &str, target: &[u8], lines: &str) -> RawResponse {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base_url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut req = format!("{method} ").into_bytes();
    req.extend_from_slice(target);
    req.extend_from_slice(format!(" HTTP/1.1\r\n{lines}Connection: close\r\n\r\n").as_bytes());
    let _ = s.write_all(&req).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(buf.len());
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let body = buf.get(split + 4..).unwrap_or_default().to_vec();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    RawResponse { status, head, body }
}

/// Sends `GET <raw_target>` exactly as written (no client-side normalization) and returns the
/// status code and the raw response head.
pub async fn raw_get(base_url: &str, raw_target: &str, extra_headers: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base_url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "GET {raw_target} HTTP/1.1\r\nHost: {addr}\r\n{extra_headers}Connection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).to_string();
    let head = text
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_string();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head)
}

/// Logs in with `faults` set and asserts the login is refused with `reason`.
pub async fn assert_refused(h: &Harness, faults: Faults, reason: &str, status: StatusCode) {
    h.set_faults(faults);
    let b = h.browser();
    let landed = b.login(h, "elodie", "/whoami").await;
    assert_eq!(landed.status, status, "{reason}: {}", landed.body);
    assert!(
        landed.body.contains("<h1>") && landed.body.contains("lang=\"fr\""),
        "{reason}: no error page"
    );
    assert!(
        !landed.set_cookies.iter().any(|c| c.starts_with("guichet=")),
        "{reason}: a session cookie was set"
    );
    assert_eq!(h.last_login_reason().as_deref(), Some(reason));
    assert!(
        !h.upstream_saw_identity(),
        "{reason}: upstream saw an identity"
    );
    let r = b.get(&format!("{}/whoami", h.url)).await;
    assert_eq!(
        r.status(),
        StatusCode::FOUND,
        "{reason}: browser has a session"
    );
}
