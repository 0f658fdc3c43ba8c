//! `guichet demo` and the test stack: mock providers (FranceConnect v1/v2/+, MConnect or a
//! generic OpenID provider), an echo upstream, and a generated configuration that puts the
//! gateway in front of them, all on loopback.
//!
//! The integration tests (`tests/common`) start the same [`Stack`] and run the real binary
//! against it, so the demo a newcomer runs is the setup the tests check.
//!
//! # Design notes, and the tests that guard each rule
//!
//! ## `src/demo/`
//! The mock provider (`provider/`: one `Flavour` per federation:
//! FranceConnect v1 (HS256 with the client secret), v2, FranceConnect+ (encrypts to the key it
//! reads at guichet's `/.guichet/jwks.json`, `encryption.rs`),
//! MConnect (`Authority` with a status), generic; real keys, signed userinfo, PKCE, fault switches
//! for the security tests; one file per endpoint). Its FranceConnect flavours refuse what
//! FranceConnect's published code refuses, the same way
//! (`platform.rs`, each rule citing its source: the parameter
//! whitelist and its error page `Y030007`, required `acr_values` and each platform's levels
//! (`invalid_acr`), per-client scope authorisation (`MockConfig::authorized_scopes`,
//! `invalid_scope`), `amr` only through `claims` for an authorised client (`Y100009`),
//! `idp_id`/`idp_birthdate` only with their scopes, nonces of 22 characters, `client_secret_post`
//! only, the revocation endpoint's exact form: `provider::strictness_tests::*`,
//! `provider::platform::tests::*`). A valid request leads to an interaction page where the
//! citizen is picked (`GET`/`POST {prefix}/interaction/{uid}/login?citizen=ID`,
//! `interaction.rs`); its cancel link answers
//! `access_denied`. The echo upstream
//! (`echo.rs`: it verifies every identity assertion with josekit against the
//! gateway's JWKS, as `docs/headers.md` tells applications to; it accepts websockets and
//! answers slowly on `?sleep_ms=`), test certificates from a private CA made with the `openssl`
//! command (`certs.rs`), test citizens (`citizens.rs`) and the
//! `Stack` that wires them (one or several mocks, an encryption key for
//! FranceConnect+) with a generated configuration. `guichet demo` and
//! the integration tests use the same `Stack`; by default its FranceConnect mocks authorise the
//! identité pivot only and guichet runs the presets' defaults, and `rich_identity` (what `guichet
//! demo` runs) authorises everything and makes guichet ask for it.

pub mod certs;
pub mod citizens;
pub mod echo;
pub mod flavour;
pub mod provider;

use crate::config::Config;
use crate::server::{self, RunOptions, StartError};
use provider::{Flavour, MockConfig, MockProvider};
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};

/// How to set up a stack.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// Gateway port on 127.0.0.1.
    pub gateway_port: u16,
    /// Metrics port on 127.0.0.1; `None` disables the metrics listener.
    pub metrics_port: Option<u16>,
    /// The first mock provider: `[[providers]]` entry `demo`.
    pub flavour: Flavour,
    /// Further mock providers, one per flavour, each in its own `[[providers]]` entry named by
    /// [`Flavour::short_name`] (`fc-plus`, `mconnect`...).
    pub also: Vec<Flavour>,
    /// FranceConnect+: algorithm of the relying party encryption key the stack generates
    /// (`RSA-OAEP`, `RSA-OAEP-256` or `ECDH-ES`).
    pub encryption_alg: &'static str,
    /// TOML appended to the generated configuration (extra sections, routes...). The
    /// placeholders `{MOCK_ISSUER}`, `{MOCK_CLIENT_ID}` and `{MOCK_SECRET_FILE}` are replaced, so
    /// tests can add a second provider entry pointing at the same mock.
    pub extra_toml: String,
    /// Extra keys for the `[[providers]]` entry (e.g. `clock_skew = "5s"`).
    pub provider_toml: String,
    /// Extra keys for the `[server]` section (e.g. `trusted_proxies = [...]`).
    pub server_toml: String,
    /// Audit log file; `None` writes the evidence log to stdout.
    pub audit_file: Option<PathBuf>,
    /// TLS on the gateway's listener: the public URL becomes `https://127.0.0.1:PORT`.
    pub tls: Option<StackTls>,
    /// `[server] grace_period` (time given to in-flight requests on SIGTERM).
    pub grace_period: String,
    /// `[upstream] url`; `None`: the echo application the stack starts (load benchmarks put
    /// another server there).
    pub upstream_url: Option<String>,
    /// FranceConnect mocks: the demo client is authorised for every scope and the `amr`
    /// claim, and guichet asks for the data beyond the identité pivot ([`rich_scopes`]), as a
    /// service authorised for them would. `false`: the presets' defaults against a client
    /// authorised for the identité pivot only, what every service has.
    pub rich_identity: bool,
}

/// The gateway's certificate for a stack with TLS (see [`certs`]).
#[derive(Debug, Clone)]
pub struct StackTls {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// The CA that signed it: the echo upstream trusts it to fetch the gateway's JWKS.
    pub ca_file: PathBuf,
    /// `[server.tls] reload_interval`; `None`: the default.
    pub reload_interval: Option<String>,
}

impl StackOptions {
    /// `http://127.0.0.1:PORT`, or `https://` with [`StackOptions::tls`].
    pub fn gateway_url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.gateway_port)
    }

    pub fn new(gateway_port: u16) -> StackOptions {
        StackOptions {
            gateway_port,
            metrics_port: None,
            flavour: Flavour::FranceConnectV2,
            also: Vec::new(),
            encryption_alg: "ECDH-ES",
            extra_toml: String::new(),
            provider_toml: String::new(),
            server_toml: String::new(),
            audit_file: None,
            tls: None,
            grace_period: "1s".into(),
            upstream_url: None,
            rich_identity: false,
        }
    }
}

/// Key id of the relying party encryption key the stack generates for FranceConnect+.
pub const ENCRYPTION_KID: &str = "guichet-demo-enc";

/// Running mock providers and echo upstream, with the gateway configuration that fronts them.
pub struct Stack {
    pub mock: MockProvider,
    /// The mocks of [`StackOptions::also`], in order.
    pub others: Vec<MockProvider>,
    pub echo: echo::EchoHandle,
    pub config_path: PathBuf,
    pub gateway_url: String,
    pub metrics_url: Option<String>,
}

impl Stack {
    /// Starts the providers and the upstream on the current tokio runtime and writes
    /// `guichet.toml` (the client secret file, and an encryption key for FranceConnect+) into
    /// `dir`.
    pub async fn start(dir: &Path, opts: &StackOptions) -> std::io::Result<Stack> {
        // FranceConnect+ reads the relying party's public keys at the JWKS URL registered for
        // the client: guichet's own.
        let rp_jwks = format!("http://127.0.0.1:{}/.guichet/jwks.json", opts.gateway_port);
        let mut mocks = Vec::new();
        for flavour in std::iter::once(opts.flavour).chain(opts.also.iter().copied()) {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let mut config = MockConfig {
                flavour,
                path_prefix: flavour.default_prefix().to_owned(),
                rp_jwks_uri: Some(rp_jwks.clone()),
                ..MockConfig::default()
            };
            if opts.rich_identity && flavour.is_franceconnect() {
                config = config.authorised_for_everything();
            }
            mocks.push(MockProvider::serve(listener, config).await?);
        }
        let echo_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        // The echo checks guichet's assertion the way an application should.
        let gateway_url = opts.gateway_url();
        let root_ca = match &opts.tls {
            Some(tls) => Some(std::fs::read(&tls.ca_file)?),
            None => None,
        };
        let check = echo::AssertionCheck {
            header: "x-guichet-assertion".into(),
            jwks_url: format!("{gateway_url}/.guichet/jwks.json"),
            issuer: gateway_url.clone(),
            audience: gateway_url.clone(),
            root_ca,
        };
        let echo = echo::serve_with(echo_listener, Some(check)).await?;
        std::fs::create_dir_all(dir)?;
        let secret_path = dir.join("client_secret");
        std::fs::write(&secret_path, mocks[0].client_secret())?;
        let needs_key = mocks
            .iter()
            .any(|m| m.flavour() == Flavour::FranceConnectPlus);
        let key_path = if needs_key {
            let (pem, _) = crate::keys::generate(opts.encryption_alg, Some(ENCRYPTION_KID))
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            let path = dir.join("encryption-key.pem");
            std::fs::write(&path, pem)?;
            Some(path)
        } else {
            None
        };
        let config_path = dir.join("guichet.toml");
        let text = config_text(&mocks, &echo, &secret_path, key_path.as_deref(), opts);
        std::fs::write(&config_path, text)?;
        let mock = mocks.remove(0);
        Ok(Stack {
            mock,
            others: mocks,
            echo,
            config_path,
            gateway_url,
            metrics_url: opts.metrics_port.map(|p| format!("http://127.0.0.1:{p}")),
        })
    }

    /// The mock of this flavour (the first one, or one of [`StackOptions::also`]).
    pub fn mock_for(&self, flavour: Flavour) -> Option<&MockProvider> {
        std::iter::once(&self.mock)
            .chain(self.others.iter())
            .find(|m| m.flavour() == flavour)
    }
}

/// What a FranceConnect service authorised beyond the identité pivot asks for: e-mail and
/// usage name, v2's `idp_id` and `idp_birthdate`, FranceConnect+'s RNIPP version of the
/// identity, and `amr` through `claims` (which marks eIDAS identities). `None` for the other
/// flavours.
pub fn rich_scopes(flavour: Flavour) -> Option<(Vec<&'static str>, &'static str)> {
    const AMR: &str = r#"{"id_token":{"amr":{"essential":true}}}"#;
    let (extra, claims): (&[&str], &str) = match flavour {
        Flavour::FranceConnectV1 => (&[], ""),
        Flavour::FranceConnectV2 => (&["idp_id", "idp_birthdate"], AMR),
        Flavour::FranceConnectPlus => (&["rnipp_identite_pivot"], AMR),
        Flavour::MConnect | Flavour::Generic => return None,
    };
    let scopes = [
        "openid",
        "given_name",
        "family_name",
        "birthdate",
        "gender",
        "birthplace",
        "birthcountry",
        "email",
        "preferred_username",
    ]
    .iter()
    .chain(extra)
    .copied()
    .collect();
    Some((scopes, claims))
}

/// One `[[providers]]` entry for a mock.
fn provider_block(
    name: &str,
    mock: &MockProvider,
    secret: &Path,
    key: Option<(&Path, &str)>,
    rich: bool,
    extra: &str,
) -> String {
    let flavour = mock.flavour();
    let display_name = match flavour {
        Flavour::FranceConnectV1 => "FranceConnect v1 (démo)",
        Flavour::FranceConnectV2 => "FranceConnect (démo)",
        Flavour::FranceConnectPlus => "FranceConnect+ (démo)",
        Flavour::MConnect => "S’identifier avec MConnect (démo)",
        Flavour::Generic => "Compte de démonstration",
    };
    let mut b = format!(
        "[[providers]]\nname = \"{name}\"\npreset = \"{preset}\"\ndisplay_name = \"{display_name}\"\n\
         # The mock provider stands in for the real one.\nissuer = \"{issuer}\"\n\
         client_id = \"{client_id}\"\nclient_secret = \"file:{secret}\"\n",
        preset = flavour.preset(),
        issuer = mock.issuer(),
        client_id = mock.client_id(),
        secret = secret.display(),
    );
    if flavour == Flavour::FranceConnectV1 {
        // No discovery: the endpoints are configured.
        b.push_str(&format!(
            "authorization_endpoint = \"{}\"\ntoken_endpoint = \"{}\"\n\
             userinfo_endpoint = \"{}?schema=openid\"\nend_session_endpoint = \"{}\"\n",
            mock.endpoint("authorize"),
            mock.endpoint("token"),
            mock.endpoint("userinfo"),
            mock.end_session_endpoint(),
        ));
    }
    if let Some((scopes, claims)) = rich_scopes(flavour).filter(|_| rich) {
        b.push_str(
            "# The demo client is authorised for more than the identité pivot (a real service\n\
             # asks FranceConnect for each: docs/federations.md), so it asks for more.\n",
        );
        let list: Vec<String> = scopes.iter().map(|s| format!("\"{s}\"")).collect();
        b.push_str(&format!("scopes = [{}]\n", list.join(", ")));
        if !claims.is_empty() {
            b.push_str(&format!("authorize_params = {{ claims = '{claims}' }}\n"));
        }
    }
    if let (Flavour::FranceConnectPlus, Some((path, alg))) = (flavour, key) {
        b.push_str(&format!(
            "decryption_keys = [{{ alg = \"{alg}\", key = \"file:{}\", kid = \"{ENCRYPTION_KID}\" }}]\n",
            path.display()
        ));
    }
    b.push_str(extra);
    b.push('\n');
    b
}

fn config_text(
    mocks: &[MockProvider],
    echo: &echo::EchoHandle,
    secret: &Path,
    key: Option<&Path>,
    opts: &StackOptions,
) -> String {
    let key = key.map(|k| (k, opts.encryption_alg));
    let mut providers = String::new();
    for (i, mock) in mocks.iter().enumerate() {
        let (name, extra) = if i == 0 {
            ("demo", opts.provider_toml.as_str())
        } else {
            (mock.flavour().short_name(), "")
        };
        providers.push_str(&provider_block(
            name,
            mock,
            secret,
            key,
            opts.rich_identity,
            extra,
        ));
        providers.push('\n');
    }
    let first = &mocks[0];
    let metrics = match opts.metrics_port {
        Some(p) => format!("127.0.0.1:{p}"),
        None => String::new(),
    };
    let audit = match &opts.audit_file {
        Some(p) => p.display().to_string(),
        None => "stdout".into(),
    };
    format!(
        r#"# Generated by `guichet demo`: the gateway in front of mock providers and an echo app.
[server]
listen = "127.0.0.1:{port}"
public_url = "{public_url}"
grace_period = "{grace}"
{server_extra}
{tls}

[upstream]
url = "{upstream}"

{providers}
[[routes]]
path = "/public"
access = "public"

[[routes]]
path = "/api"
access = "api"

[metrics]
listen = "{metrics}"

[audit]
output = "{audit}"

[pages]
service_name = "Démo guichet"
# MConnect terms 5.1: the service keeps another way to log in.
other_login_url = "/public/autre-connexion"
# The links a French public service shows on every page (the echo app answers them).
accessibility_url = "/public/accessibilite"
accessibility_compliance = "partial"
legal_notice_url = "/public/mentions-legales"
personal_data_url = "/public/donnees-personnelles"
help_url = "/public/aide"

{extra}
"#,
        port = opts.gateway_port,
        public_url = opts.gateway_url(),
        grace = opts.grace_period,
        tls = tls_block(opts.tls.as_ref()),
        upstream = opts.upstream_url.clone().unwrap_or_else(|| echo.url()),
        extra = opts
            .extra_toml
            .replace("{MOCK_ISSUER}", &first.issuer())
            .replace("{MOCK_CLIENT_ID}", first.client_id())
            .replace("{MOCK_SECRET_FILE}", &secret.display().to_string()),
        server_extra = opts.server_toml,
    )
}

/// `[server.tls]` for a stack with TLS.
fn tls_block(tls: Option<&StackTls>) -> String {
    let Some(tls) = tls else {
        return String::new();
    };
    let mut b = format!(
        "[server.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
        tls.cert_file.display(),
        tls.key_file.display()
    );
    if let Some(every) = &tls.reload_interval {
        b.push_str(&format!("reload_interval = \"{every}\"\n"));
    }
    b
}

/// A free port on 127.0.0.1 (bound then released; the caller binds it again at once).
///
/// Ports come from 20000-32767, below Linux's ephemeral range, so a listener bound to port 0
/// (the mocks, the echo app, outgoing connections) can never take a port handed out here
/// before the gateway binds it; within a process each port is handed out once.
pub fn free_port() -> std::io::Result<u16> {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_768;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    if NEXT.load(Ordering::Relaxed) == u32::MAX {
        // Spread concurrent test processes apart.
        let _ = NEXT.compare_exchange(
            u32::MAX,
            (std::process::id() * 97) % SPAN,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = u16::try_from(LOW + n % SPAN).unwrap_or(20_000);
        if StdListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).is_ok() {
            return Ok(port);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        "no free port in 20000-32767",
    ))
}

/// What the demo prints once it answers.
fn banner(stack: &Stack) -> String {
    let url = &stack.gateway_url;
    format!(
        "\n  guichet demo\n\
         \n  Open {url}/ in a browser and pick a test citizen\n\
         \x20 ({localhost}/ works too: it redirects to {url}/, where the cookies live).\n\
         \n  The app behind guichet echoes the headers it receives, identity included, and\n\
         \x20 verifies guichet's signed assertion (X-Guichet-Assertion) against its JWKS.\n\
         \x20 Pages:   {url}/            (login required)\n\
         \x20          {url}/public/     (no login)\n\
         \x20          {url}/api/        (401 without a session)\n\
         \x20          {url}/renforce/   (eIDAS substantial: step-up to FranceConnect+ or MConnect)\n\
         \x20          {url}/formulaire  (a form: log out in another tab, send it, log in again)\n\
         \x20          {url}/.guichet/logout\n\
         \x20 Script:  page=$(curl -sL -c jar -b jar -o /dev/null -w '%{{url_effective}}' '{url}/.guichet/login?provider=demo&return_to=/whoami')\n\
         \x20          curl -sL -c jar -b jar \"$page/login?citizen=elodie\"   (the mock's page, as a browser would)\n\
         \x20 Metrics: {metrics}/metrics\n\
         \x20 Config:  {config} (try: guichet check --config {config})\n\
         \x20 Mock providers: {issuers}\n\
         \x20 Echo app: {echo}\n",
        metrics = stack.metrics_url.as_deref().unwrap_or("-"),
        localhost = url.replacen("127.0.0.1", "localhost", 1),
        config = stack.config_path.display(),
        issuers = std::iter::once(&stack.mock)
            .chain(stack.others.iter())
            .map(|m| format!("{} ({})", m.issuer(), m.flavour().short_name()))
            .collect::<Vec<_>>()
            .join(", "),
        echo = stack.echo.url(),
    )
}

/// Prints the banner (stderr) and the URL (stdout) once `/readyz` answers 200.
async fn announce_when_ready(url: String, banner: String) {
    let client = reqwest::Client::new();
    for _ in 0..600 {
        if let Ok(r) = client.get(format!("{url}/readyz")).send().await {
            if r.status() == reqwest::StatusCode::OK {
                eprintln!("{banner}");
                println!("{url}/");
                return;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    eprintln!("guichet demo: the gateway did not become ready within 60 s");
}

/// Which mock providers `guichet demo --provider NAME` starts: one flavour by its short name
/// (`fc`, `fc-v1`, `fc-plus`, `mconnect`, `generic`), or `all` (FranceConnect, FranceConnect+
/// and MConnect on one chooser).
pub fn demo_flavours(name: &str) -> Option<(Flavour, Vec<Flavour>)> {
    if name == "all" {
        return Some((
            Flavour::FranceConnectV2,
            vec![Flavour::FranceConnectPlus, Flavour::MConnect],
        ));
    }
    Flavour::from_short_name(name).map(|f| (f, Vec::new()))
}

/// `guichet demo`: starts everything and serves until interrupted.
pub fn run(port: u16, provider: &str) -> Result<(), StartError> {
    let (flavour, also) = demo_flavours(provider).ok_or_else(|| {
        StartError::Setup(format!(
            "demo: unknown provider {provider:?}; known: fc, fc-v1, fc-plus, mconnect, generic, all"
        ))
    })?;
    server::install_crypto_provider();
    let setup = |e: std::io::Error| StartError::Setup(format!("demo: {e}"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("guichet-demo")
        .enable_all()
        .build()
        .map_err(setup)?;
    StdListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).map_err(|e| {
        StartError::Setup(format!("demo: port {port} is not free ({e}); try --port"))
    })?;
    let dir = DemoDir(std::env::temp_dir().join(format!("guichet-demo-{}", std::process::id())));
    let mut opts = StackOptions::new(port);
    opts.metrics_port = Some(free_port().map_err(setup)?);
    opts.flavour = flavour;
    opts.also = also;
    // A page that needs eIDAS substantial: a FranceConnect (low) session is sent to step up.
    opts.extra_toml =
        "[[routes]]\npath = \"/renforce\"\naccess = \"browser\"\nmin_level = \"eidas2\"\n".into();
    // The demo shows every header a service can get (docs/federations.md says how to ask).
    opts.rich_identity = true;
    // The same demo at http://localhost:PORT: redirected to the public URL (127.0.0.1), where
    // the login's cookies are set; any other host name gets 421.
    opts.server_toml = "host_aliases = [\"localhost\"]".into();
    let stack = runtime
        .block_on(Stack::start(&dir.0, &opts))
        .map_err(setup)?;
    let cfg =
        Config::from_file(&stack.config_path).map_err(|e| StartError::Setup(e.to_string()))?;
    runtime.spawn(announce_when_ready(
        stack.gateway_url.clone(),
        banner(&stack),
    ));
    let result = server::run(cfg, RunOptions::default());
    runtime.shutdown_background();
    result
}

/// The demo's directory (its configuration and generated secrets): it lives as long as the
/// demo (the banner offers `guichet check` on it), and is removed however the demo ends.
struct DemoDir(std::path::PathBuf);

impl Drop for DemoDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
