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
