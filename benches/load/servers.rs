//! The processes a load run starts, each stopped when its handle drops: nginx (the upstream
//! and the bare reverse proxy), Redis, the pingora pass-through, guichet.

use super::common::Proc;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn spawn(name: &'static str, cmd: &mut Command, log: &Path) -> Result<Proc, String> {
    let err = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot start {name}: {e}"))?;
    Ok(Proc(child))
}

/// Waits until `addr` accepts TCP connections.
pub fn wait_listening(addr: &str, within: Duration) -> Result<(), String> {
    let until = Instant::now() + within;
    while Instant::now() < until {
        if std::net::TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("nothing listens on {addr} after {within:?}"))
}

const NGINX_COMMON: &str = "daemon off;\nmaster_process on;\nworker_processes 2;\n\
events { worker_connections 4096; }\n";

/// nginx answering `ok` to every request: the application every target forwards to.
pub fn nginx_upstream(dir: &Path, port: u16) -> Result<Proc, String> {
    let conf = format!(
        "{NGINX_COMMON}http {{\n  access_log off;\n  keepalive_requests 1000000;\n  \
         server {{\n    listen 127.0.0.1:{port};\n    \
         location / {{ default_type text/plain; return 200 \"ok\\n\"; }}\n  }}\n}}\n"
    );
    nginx("nginx upstream", &dir.join("upstream"), &conf, port)
}

/// nginx as a bare reverse proxy with keepalive connections on both sides: the reference.
pub fn nginx_proxy(dir: &Path, port: u16, upstream: u16) -> Result<Proc, String> {
    let conf = format!(
        "{NGINX_COMMON}http {{\n  access_log off;\n  keepalive_requests 1000000;\n  \
         upstream app {{ server 127.0.0.1:{upstream}; keepalive 64; keepalive_requests 1000000; }}\n  \
         server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      \
         proxy_pass http://app;\n      proxy_http_version 1.1;\n      \
         proxy_set_header Connection \"\";\n    }}\n  }}\n}}\n"
    );
    nginx("nginx proxy", &dir.join("proxy"), &conf, port)
}

fn nginx(name: &'static str, dir: &Path, conf: &str, port: u16) -> Result<Proc, String> {
    std::fs::create_dir_all(dir.join("logs")).map_err(|e| e.to_string())?;
    let conf = format!("pid {}/nginx.pid;\n{conf}", dir.display());
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).map_err(|e| e.to_string())?;
    let p = spawn(
        name,
        Command::new("nginx")
            .arg("-p")
            .arg(dir)
            .arg("-e")
            .arg(dir.join("logs/error.log"))
            .arg("-c")
            .arg(&path),
        &dir.join("stderr.log"),
    )?;
    wait_listening(&format!("127.0.0.1:{port}"), Duration::from_secs(10))?;
    Ok(p)
}

pub fn redis(dir: &Path, port: u16) -> Result<Proc, String> {
    let p = spawn(
        "redis-server",
        Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--port")
            .arg(port.to_string())
            .arg("--dir")
            .arg(dir),
        &dir.join("redis.log"),
    )?;
    wait_listening(&format!("127.0.0.1:{port}"), Duration::from_secs(10))?;
    Ok(p)
}

/// This bench binary again, as the pingora pass-through (see `passthrough.rs`).
pub fn passthrough(dir: &Path, port: u16, upstream: u16, threads: usize) -> Result<Proc, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let p = spawn(
        "pingora pass-through",
        Command::new(exe)
            .env("LOAD_ROLE", "passthrough")
            .env("LOAD_LISTEN", format!("127.0.0.1:{port}"))
            .env("LOAD_UPSTREAM", format!("127.0.0.1:{upstream}"))
            .env("LOAD_THREADS", threads.to_string()),
        &dir.join("passthrough.log"),
    )?;
    wait_listening(&format!("127.0.0.1:{port}"), Duration::from_secs(20))?;
    Ok(p)
}

/// The release guichet binary with `config`.
pub fn guichet(dir: &Path, name: &'static str, config: &Path, port: u16) -> Result<Proc, String> {
    let p = spawn(
        name,
        Command::new(env!("CARGO_BIN_EXE_guichet"))
            .args(["run", "--config"])
            .arg(config)
            .arg("--upgrade-sock")
            .arg(dir.join(format!("{name}.sock").replace(' ', "-")))
            .env("GUICHET_LOG", "warn"),
        &dir.join(format!("{name}.log").replace(' ', "-")),
    )?;
    wait_listening(&format!("127.0.0.1:{port}"), Duration::from_secs(30))?;
    Ok(p)
}

/// What Apache + mod_auth_openidc needs to know of the provider it logs citizens in through.
pub struct OidcClient<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
}

/// Apache 2.4 with mod_auth_openidc (Debian's packages) in front of the application: what a
/// service provider would otherwise install. Every request needs a valid mod_auth_openidc
/// session (`AuthType openid-connect`, `Require valid-user`), whose claims are passed to the
/// application as headers; sessions in the shared-memory cache (its default), keepalive on
/// both sides. Configured from `dir` on a loopback port, never from the system's config;
/// event MPM, workers as `www-data` when started as root.
pub fn apache(dir: &Path, port: u16, upstream: u16, oidc: &OidcClient) -> Result<Proc, String> {
    const MODULES: &str = "/usr/lib/apache2/modules";
    let dir = dir.join("apache");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let d = dir.display();
    let user = if is_root() {
        "User www-data\nGroup www-data\n"
    } else {
        ""
    };
    let modules: String = [
        ("mpm_event", "mod_mpm_event"),
        ("authn_core", "mod_authn_core"),
        ("authz_core", "mod_authz_core"),
        ("authz_user", "mod_authz_user"),
        ("proxy", "mod_proxy"),
        ("proxy_http", "mod_proxy_http"),
        ("auth_openidc", "mod_auth_openidc"),
    ]
    .iter()
    .map(|(name, file)| format!("LoadModule {name}_module {MODULES}/{file}.so\n"))
    .collect();
    let conf = format!(
        "ServerRoot \"{d}\"\nServerName 127.0.0.1\nListen 127.0.0.1:{port}\n\
         PidFile \"{d}/httpd.pid\"\nDefaultRuntimeDir \"{d}\"\nErrorLog \"{d}/error.log\"\n\
         LogLevel warn\n{modules}{user}Mutex pthread default\n\
         KeepAlive On\nMaxKeepAliveRequests 0\nKeepAliveTimeout 30\n\
         StartServers 2\nServerLimit 4\nThreadsPerChild 64\nMaxRequestWorkers 256\n\
         OIDCProviderMetadataURL {issuer}/.well-known/openid-configuration\n\
         OIDCClientID {client_id}\nOIDCClientSecret {client_secret}\n\
         OIDCRedirectURI http://127.0.0.1:{port}/redirect_uri\n\
         OIDCCryptoPassphrase {passphrase}\nOIDCScope \"openid profile email\"\n\
         OIDCPassClaimsAs headers\n\
         OIDCCacheShmMax 50000\nOIDCSessionInactivityTimeout 1800\n\
         <Location />\n  AuthType openid-connect\n  Require valid-user\n\
         ProxyPass http://127.0.0.1:{upstream}/ keepalive=On\n</Location>\n",
        issuer = oidc.issuer.trim_end_matches('/'),
        client_id = oidc.client_id,
        client_secret = oidc.client_secret,
        passphrase = hex::encode(guichet::crypto::random_bytes::<16>()),
    );
    let path = dir.join("httpd.conf");
    std::fs::write(&path, conf).map_err(|e| e.to_string())?;
    let p = spawn(
        "apache2",
        Command::new("apache2")
            .arg("-f")
            .arg(&path)
            .arg("-DFOREGROUND"),
        &dir.join("stderr.log"),
    )?;
    wait_listening(&format!("127.0.0.1:{port}"), Duration::from_secs(10))?;
    Ok(p)
}

/// Is this process root (Apache then needs a `User` for its workers)?
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}
