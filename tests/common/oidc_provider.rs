//! guichet in front of panva's node-oidc-provider, the OpenID Foundation certified provider
//! (`tests/oidc-provider/`: the npm package pinned in `package-lock.json`, installed by
//! `make test` through `scripts/deps.sh`, and a launcher configured from here), everything
//! on ephemeral loopback ports. A browser goes through the provider's own pages: its login
//! form and its logout confirmation are posted as a browser would post them.
//!
//! The provider's back-channel logout calls can go through a [`Recorder`] that keeps each
//! `logout_token` and hands the request on to guichet unchanged, so tests can replay and
//! tamper with tokens the provider really signed.

use super::process::{set_log_filter, spawn_gateway, spawn_gateway_alive, GatewayProcess};
use super::{Browser, Landed};
use guichet::demo::echo::{self, AssertionCheck, EchoHandle};
use guichet::demo::free_port;
use reqwest::header::LOCATION;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The client guichet is registered as at the provider.
pub const CLIENT_ID: &str = "guichet-rp";
/// The provider's test user: any password logs in, the login is the `sub`.
pub const USER: &str = "alice";

/// The directory of the launcher and its pinned npm packages.
fn provider_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc-provider")
}

/// A running node-oidc-provider.
pub struct CertifiedProvider {
    child: Child,
    /// Kept open: the launcher exits when it closes (this process died).
    _stdin: ChildStdin,
    pub issuer: String,
    pub base_url: String,
    stderr_path: PathBuf,
}

impl Drop for CertifiedProvider {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("node-oidc-provider's stderr:\n{}", self.logs());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl CertifiedProvider {
    /// Starts the launcher with `config` (see `tests/oidc-provider/launcher.mjs`) and waits
    /// (30 s at most) until it listens.
    pub fn start(dir: &Path, name: &str, config: &Value) -> CertifiedProvider {
        let modules = provider_dir().join("node_modules/oidc-provider");
        assert!(
            modules.exists(),
            "{} is missing: run `scripts/deps.sh` (or `npm ci` in tests/oidc-provider) first",
            modules.display()
        );
        let config_path = dir.join(format!("{name}.json"));
        std::fs::write(&config_path, config.to_string()).expect("provider config");
        let stderr_path = dir.join(format!("{name}.stderr"));
        let mut child = Command::new("node")
            .arg(provider_dir().join("launcher.mjs"))
            .arg(&config_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
            .spawn()
            .expect("node (install Node.js: scripts/deps.sh)");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            // Keep reading what the provider prints (its notices), so it never writes to a
            // closed pipe.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        let Some(ready) = line.strip_prefix("READY ") else {
            let _ = child.kill();
            panic!(
                "node-oidc-provider did not start: {line:?}\n{}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        };
        let ready: Value = serde_json::from_str(ready.trim()).expect("READY line");
        CertifiedProvider {
            child,
            _stdin: stdin,
            issuer: ready["issuer"].as_str().expect("issuer").to_string(),
            base_url: format!("http://127.0.0.1:{}", ready["port"]),
            stderr_path,
        }
    }

    async fn control(&self, path: &str) {
        let r = reqwest::Client::new()
            .post(format!("{}/__control/{path}", self.base_url))
            .send()
            .await
            .expect("provider control");
        assert!(r.status().is_success(), "{path}: {}", r.status());
    }

    /// New signing keys with new key ids; the old ones are withdrawn from the JWKS.
    pub async fn rotate_keys(&self) {
        self.control("rotate").await;
    }

    /// Sets the provider's clock `seconds` away from the real one.
    pub async fn set_clock_offset(&self, seconds: i64) {
        self.control(&format!("clock?offset={seconds}")).await;
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

/// How one test sets up the provider and guichet.
pub struct OpSetup {
    /// `""`: issuer `http://127.0.0.1:PORT`; `"/"`: `http://127.0.0.1:PORT/`.
    pub issuer_path: &'static str,
    /// The client's `id_token_signed_response_alg`.
    pub id_token_alg: &'static str,
    /// The client's `userinfo_signed_response_alg` (signed userinfo), or plain JSON.
    pub userinfo_alg: Option<&'static str>,
    /// The client's `token_endpoint_auth_method`.
    pub token_auth: &'static str,
    pub pkce_required: bool,
    /// `false`: the provider sends no RFC 9207 `iss` and does not advertise it.
    pub iss_parameter: bool,
    /// Register guichet's back-channel logout URI (through a [`Recorder`]).
    pub backchannel: bool,
    /// Extra keys of guichet's `[[providers]]` entry.
    pub provider_toml: String,
    /// The issuer in guichet's configuration, when not exactly the provider's.
    pub configured_issuer: Option<String>,
}

impl Default for OpSetup {
    fn default() -> Self {
        OpSetup {
            issuer_path: "",
            id_token_alg: "ES256",
            userinfo_alg: None,
            token_auth: "client_secret_basic",
            pkce_required: true,
            iss_parameter: true,
            backchannel: false,
            provider_toml: String::new(),
            configured_issuer: None,
        }
    }
}

/// Keeps the provider's back-channel logout requests and passes them on to guichet.
#[derive(Clone, Default)]
pub struct Recorder {
    tokens: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    /// Every `logout_token` the provider sent so far.
    pub fn tokens(&self) -> Vec<String> {
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Serves on 127.0.0.1 and relays to `target`; returns its URL.
    async fn serve(&self, target: String) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/bc", listener.local_addr().expect("addr"));
        let tokens = self.tokens.clone();
        let app = axum::Router::new().route(
            "/bc",
            axum::routing::post(move |body: axum::body::Bytes| {
                let tokens = tokens.clone();
                let target = target.clone();
                async move {
                    if let Some((_, t)) =
                        url::form_urlencoded::parse(&body).find(|(k, _)| k == "logout_token")
                    {
                        tokens
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(t.into_owned());
                    }
                    let r = reqwest::Client::new()
                        .post(&target)
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(body)
                        .send()
                        .await;
                    match r {
                        Ok(r) => {
                            let status = axum::http::StatusCode::from_u16(r.status().as_u16())
                                .unwrap_or(axum::http::StatusCode::BAD_GATEWAY);
                            (status, r.text().await.unwrap_or_default())
                        }
                        Err(e) => (axum::http::StatusCode::BAD_GATEWAY, e.to_string()),
                    }
                }
            }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        url
    }
}

/// node-oidc-provider, an echo application, and guichet in front of it with the provider as
/// its only `[[providers]]` entry (`op`, preset `generic`).
pub struct OpHarness {
    pub op: CertifiedProvider,
    pub gateway: GatewayProcess,
    pub echo: EchoHandle,
    pub url: String,
    pub recorder: Recorder,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
}

/// The claims of the provider's test user: a login handle as `preferred_username`.
pub fn user_claims() -> Value {
    json!({
        "given_name": "Élodie",
        "family_name": "Müller",
        "preferred_username": "bench-user-42",
        "email": "elodie.muller@example.org",
        "email_verified": true,
        "birthdate": "1990-02-28",
        "gender": "female",
    })
}

impl OpHarness {
    pub async fn start(setup: OpSetup) -> OpHarness {
        OpHarness::start_with(setup, true).await
    }

    /// Starts everything; `wait_ready`: wait for `/readyz` (else only `/healthz`).
    pub async fn start_with(setup: OpSetup, wait_ready: bool) -> OpHarness {
        guichet::server::install_crypto_provider();
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port().expect("free port");
        let metrics_port = free_port().expect("free port");
        let url = format!("http://127.0.0.1:{port}");
        let secret = guichet::crypto::random_hex32();
        let recorder = Recorder::default();
        let mut client = json!({
            "client_id": CLIENT_ID,
            "client_secret": secret,
            "redirect_uris": [format!("{url}/.guichet/callback")],
            "post_logout_redirect_uris": [format!("{url}/.guichet/logged-out")],
            "token_endpoint_auth_method": setup.token_auth,
            "id_token_signed_response_alg": setup.id_token_alg,
        });
        if let Some(alg) = setup.userinfo_alg {
            client["userinfo_signed_response_alg"] = json!(alg);
        }
        if setup.backchannel {
            let relay = recorder
                .serve(format!("{url}/.guichet/backchannel-logout"))
                .await;
            client["backchannel_logout_uri"] = json!(relay);
            client["backchannel_logout_session_required"] = json!(true);
        }
        let op = CertifiedProvider::start(
            dir.path(),
            "oidc-provider",
            &json!({
                "issuerPath": setup.issuer_path,
                "clients": [client],
                "accounts": { USER: user_claims() },
                "pkceRequired": setup.pkce_required,
                "issParameter": setup.iss_parameter,
            }),
        );
        let echo_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let echo = echo::serve_with(
            echo_listener,
            Some(AssertionCheck {
                header: "x-guichet-assertion".into(),
                jwks_url: format!("{url}/.guichet/jwks.json"),
                issuer: url.clone(),
                audience: url.clone(),
                root_ca: None,
            }),
        )
        .await
        .expect("echo");
        let secret_path = dir.path().join("client_secret");
        std::fs::write(&secret_path, &secret).expect("secret");
        let audit_path = dir.path().join("audit.log");
        let issuer = setup
            .configured_issuer
            .clone()
            .unwrap_or_else(|| op.issuer.clone());
        let text = format!(
            r#"[server]
listen = "127.0.0.1:{port}"
public_url = "{url}"
grace_period = "1s"

[upstream]
url = "{upstream}"

[[providers]]
name = "op"
preset = "generic"
issuer = "{issuer}"
client_id = "{CLIENT_ID}"
client_secret = "file:{secret}"
backchannel_logout = {backchannel}
{provider_toml}

[metrics]
listen = "127.0.0.1:{metrics_port}"

[audit]
output = "{audit}"
"#,
            upstream = echo.url(),
            secret = secret_path.display(),
            backchannel = setup.backchannel,
            provider_toml = setup.provider_toml,
            audit = audit_path.display(),
        );
        let config_path = dir.path().join("guichet.toml");
        std::fs::write(&config_path, text).expect("config");
        set_log_filter(dir.path(), "info");
        let gateway = if wait_ready {
            spawn_gateway(
                &config_path,
                dir.path(),
                "guichet",
                audit_path,
                metrics_port,
                &url,
                None,
            )
            .await
        } else {
            spawn_gateway_alive(
                &config_path,
                dir.path(),
                "guichet",
                audit_path,
                metrics_port,
                &url,
            )
            .await
        };
        OpHarness {
            op,
            gateway,
            echo,
            url,
            recorder,
            dir,
            config_path,
        }
    }

    /// Starts a login at guichet and goes through the provider's pages as `USER`; returns
    /// the URL the provider sends the browser back to (not visited), and the authorization
    /// request guichet made.
    pub async fn authorize(&self, b: &Browser) -> (String, String) {
        let r = b
            .get(&format!("{}/.guichet/login?return_to=/whoami", self.url))
            .await;
        assert_eq!(r.status(), reqwest::StatusCode::FOUND, "login start");
        let authorize = location_of(&r);
        match through_provider(b, &authorize, &self.url, &self.op.base_url).await {
            Ok(back) => (back, authorize),
            Err(landed) => panic!(
                "the provider did not send the browser back: {} {}\n{}\n{}",
                landed.status,
                landed.url,
                landed.body,
                self.op.logs()
            ),
        }
    }

    /// The whole journey: guichet, the provider's login page, back to `/whoami`.
    pub async fn login(&self, b: &Browser) -> Landed {
        let (back, _) = self.authorize(b).await;
        b.follow(&back).await
    }

    /// RP-initiated logout: guichet's logout, the provider's confirmation page (posted, which
    /// makes the provider send its back-channel logout tokens), back to guichet's logged-out.
    pub async fn logout(&self, b: &Browser) -> Landed {
        let start = format!("{}/.guichet/logout", self.url);
        match through_provider(b, &start, "\u{0}", &self.op.base_url).await {
            Ok(url) => panic!("unexpected stop at {url}"),
            Err(landed) => landed,
        }
    }

    /// A logout at the provider itself (another application's logout button): its end-session
    /// page, confirmed, signing the browser out of every client.
    pub async fn logout_at_provider(&self, b: &Browser) -> Landed {
        let start = format!("{}/session/end", self.op.base_url);
        match through_provider(b, &start, "\u{0}", &self.op.base_url).await {
            Ok(url) => panic!("unexpected stop at {url}"),
            Err(landed) => landed,
        }
    }

    /// Is the session behind `cookie` alive (the protected page answers 200)?
    pub async fn alive(&self, cookie: &str) -> bool {
        super::get_with_cookie(&format!("{}/whoami", self.url), cookie)
            .await
            .status()
            == reqwest::StatusCode::OK
    }

    pub fn audit(&self) -> Vec<Value> {
        self.gateway.audit()
    }

    pub fn last_login_reason(&self) -> Option<String> {
        self.gateway.last_login_reason()
    }

    pub fn logs(&self) -> String {
        self.gateway.logs()
    }

    pub async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.gateway.metrics_url))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics body")
    }

    /// Headers the application received on its last request (lowercase names).
    pub fn upstream_header(&self, name: &str) -> Option<String> {
        self.echo
            .last_request()
            .and_then(|r| r.header_str(name).map(super::percent_decode))
    }
}

fn location_of(r: &reqwest::Response) -> String {
    r.headers()
        .get(LOCATION)
        .and_then(|l| l.to_str().ok())
        .expect("Location")
        .to_string()
}

/// Follows redirects and posts the provider's forms (pages under `provider`: its login form
/// as [`USER`], its logout confirmation with "yes") from `url`, until the next URL starts with
/// `stop_at` (returned, not visited) or a page is reached (`Err`, the page).
pub async fn through_provider(
    b: &Browser,
    url: &str,
    stop_at: &str,
    provider: &str,
) -> Result<String, Landed> {
    let mut url = url.to_string();
    let mut hops = Vec::new();
    let mut set_cookies = Vec::new();
    let mut form: Option<Vec<(String, String)>> = None;
    for _ in 0..20 {
        if url.starts_with(stop_at) {
            return Ok(url);
        }
        hops.push(url.clone());
        let resp = match form.take() {
            None => match b.client.get(&url).send().await {
                Ok(r) => r,
                Err(e) => panic!("GET {url}: {e:?}"),
            },
            Some(fields) => match b.client.post(&url).form(&fields).send().await {
                Ok(r) => r,
                Err(e) => panic!("POST {url}: {e:?}"),
            },
        };
        for c in resp.headers().get_all(reqwest::header::SET_COOKIE) {
            set_cookies.push(c.to_str().unwrap_or_default().to_string());
        }
        let status = resp.status();
        if status.is_redirection() {
            let next = location_of(&resp);
            url = reqwest::Url::parse(&url)
                .and_then(|base| base.join(&next))
                .expect("Location")
                .to_string();
            continue;
        }
        let body = resp.text().await.unwrap_or_default();
        if let Some((action, fields)) = provider_form(&body).filter(|_| url.starts_with(provider)) {
            url = reqwest::Url::parse(&url)
                .and_then(|base| base.join(&action))
                .expect("form action")
                .to_string();
            form = Some(fields);
            continue;
        }
        return Err(Landed {
            status,
            url,
            body,
            hops,
            set_cookies,
        });
    }
    panic!("too many hops: {hops:?}");
}

/// The provider's login form or logout confirmation in `html`: its action and the fields a
/// browser would post (hidden inputs, the login and any password, "yes" to signing out).
fn provider_form(html: &str) -> Option<(String, Vec<(String, String)>)> {
    let start = html.find("<form")?;
    let tag_end = start + html[start..].find('>')?;
    let tag = &html[start..tag_end];
    if !tag.contains("method=\"post\"") {
        return None;
    }
    let action = attr(tag, "action")?;
    let end = html[tag_end..]
        .find("</form>")
        .map_or(html.len(), |e| tag_end + e);
    let mut fields = Vec::new();
    for input in html[tag_end..end].split("<input").skip(1) {
        let input = &input[..input.find('>').unwrap_or(input.len())];
        let Some(name) = attr(input, "name") else {
            continue;
        };
        match name.as_str() {
            "login" => fields.push((name, USER.to_string())),
            "password" => fields.push((name, "any password".to_string())),
            _ => fields.push((name, attr(input, "value").unwrap_or_default())),
        }
    }
    if action.contains("/session/end/confirm") {
        fields.push(("logout".into(), "yes".into()));
    }
    Some((action, fields))
}

/// The value of `name="..."` in an HTML tag (entities `&amp;`, `&#x2F;` and `&quot;` decoded).
fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!("{name}=\"");
    let at = tag.find(&key)? + key.len();
    let value = &tag[at..at + tag[at..].find('"')?];
    Some(
        value
            .replace("&#x2F;", "/")
            .replace("&quot;", "\"")
            .replace("&amp;", "&"),
    )
}
