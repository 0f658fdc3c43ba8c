//! The real `guichet` binary as a child process: started (optionally with `--upgrade`),
//! waited for until `/readyz` answers, signalled, and waited for until it exits.

use reqwest::StatusCode;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct GatewayProcess {
    child: Child,
    pub stderr_path: PathBuf,
    pub audit_path: PathBuf,
    pub metrics_url: String,
    /// The socket an upgrading process (`--upgrade`) receives this one's listeners on.
    pub upgrade_sock: PathBuf,
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl GatewayProcess {
    /// Evidence log lines so far, parsed (see [`GatewayProcess::audit_text`]).
    pub fn audit(&self) -> Vec<serde_json::Value> {
        self.audit_text()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The last `login` event's reason in the evidence log.
    pub fn last_login_reason(&self) -> Option<String> {
        self.audit()
            .iter()
            .rev()
            .find(|e| e["event"] == "login")
            .and_then(|e| e["reason"].as_str().map(String::from))
    }

    /// The evidence log's text once every line recorded so far is written: guichet's writer
    /// thread writes after the request that recorded a line was answered, so this waits
    /// (bounded) until `guichet_audit_queue_depth` is 0. A gateway that is gone (or has no
    /// metrics listener) wrote everything before leaving: the file is read as it is.
    pub fn audit_text(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Some(depth) = self.audit_queue_depth() {
            if depth == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "evidence lines still not written after 10 s ({depth} pending)"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        std::fs::read_to_string(&self.audit_path).unwrap_or_default()
    }

    /// `guichet_audit_queue_depth` from the metrics listener; `None` when it does not answer.
    fn audit_queue_depth(&self) -> Option<u64> {
        use std::io::{Read, Write};
        let addr = self.metrics_url.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        s.write_all(
            format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("guichet_audit_queue_depth "))
            .and_then(|v| v.trim().parse().ok())
    }

    /// Sends SIGTERM and waits (bounded) for a clean exit.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        self.signal("TERM");
        self.wait_exit(Duration::from_secs(15))
    }

    /// Sends a signal (`TERM`, `QUIT`, `HUP`...) to the process.
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{sig} failed");
    }

    /// Waits at most `limit` for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Has the process exited?
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Everything this process wrote to stderr so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

pub(crate) fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port")
}

/// Runs the real binary on `config_path` and waits until `/readyz` answers 200.
pub(crate) async fn spawn_gateway(
    config_path: &Path,
    dir: &Path,
    name: &str,
    audit_path: PathBuf,
    metrics_port: u16,
    url: &str,
    ca: Option<&[u8]>,
) -> GatewayProcess {
    let sock = dir.join(format!("{name}.upgrade.sock"));
    let mut gateway = spawn_process(
        config_path,
        dir,
        name,
        audit_path,
        metrics_port,
        &sock,
        false,
    );
    wait_ready(url, &mut gateway, ca).await;
    gateway
}

/// Runs the real binary on `config_path` and waits until `/healthz` answers 200 (plain HTTP):
/// a gateway that runs but may not be ready (its provider down).
pub(crate) async fn spawn_gateway_alive(
    config_path: &Path,
    dir: &Path,
    name: &str,
    audit_path: PathBuf,
    metrics_port: u16,
    url: &str,
) -> GatewayProcess {
    spawn_gateway_wrapped(&[], config_path, dir, name, audit_path, metrics_port, url).await
}

/// Sets `GUICHET_LOG` for every gateway started in `dir` (kept in a file there, so restarts
/// and replicas of a harness log alike).
pub(crate) fn set_log_filter(dir: &Path, filter: &str) {
    std::fs::write(dir.join("log-filter"), filter).expect("log filter");
}

fn log_filter(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("log-filter")).unwrap_or_else(|_| "info".into())
}

/// Starts `guichet run` (with `--upgrade` when asked) without waiting for it.
pub(crate) fn spawn_process(
    config_path: &Path,
    dir: &Path,
    name: &str,
    audit_path: PathBuf,
    metrics_port: u16,
    upgrade_sock: &Path,
    upgrade: bool,
) -> GatewayProcess {
    spawn_wrapped(
        &[],
        config_path,
        dir,
        name,
        audit_path,
        metrics_port,
        upgrade_sock,
        upgrade,
    )
}

/// Runs the real binary through `wrapper` (a command that ends by running its arguments,
/// e.g. `unshare --mount ...`) and waits until `/healthz` answers 200: a gateway that may not
/// be ready.
pub async fn spawn_gateway_wrapped(
    wrapper: &[&str],
    config_path: &Path,
    dir: &Path,
    name: &str,
    audit_path: PathBuf,
    metrics_port: u16,
    url: &str,
) -> GatewayProcess {
    let sock = dir.join(format!("{name}.upgrade.sock"));
    let mut gateway = spawn_wrapped(
        wrapper,
        config_path,
        dir,
        name,
        audit_path,
        metrics_port,
        &sock,
        false,
    );
    wait_for(url, &mut gateway, None, "healthz").await;
    gateway
}

#[allow(clippy::too_many_arguments)]
fn spawn_wrapped(
    wrapper: &[&str],
    config_path: &Path,
    dir: &Path,
    name: &str,
    audit_path: PathBuf,
    metrics_port: u16,
    upgrade_sock: &Path,
    upgrade: bool,
) -> GatewayProcess {
    let stderr_path = dir.join(format!("{name}.stderr"));
    let mut cmd = match wrapper.split_first() {
        Some((program, args)) => {
            let mut cmd = Command::new(program);
            cmd.args(args).arg(env!("CARGO_BIN_EXE_guichet"));
            cmd
        }
        None => Command::new(env!("CARGO_BIN_EXE_guichet")),
    };
    cmd.args(["run", "--config"])
        .arg(config_path)
        .arg("--upgrade-sock")
        .arg(upgrade_sock);
    if upgrade {
        cmd.arg("--upgrade");
    }
    let child = cmd
        .env("GUICHET_LOG", log_filter(dir))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&stderr_path)
                .expect("stderr file"),
        )
        .spawn()
        .expect("spawn guichet");
    GatewayProcess {
        child,
        stderr_path,
        audit_path,
        metrics_url: format!("http://127.0.0.1:{metrics_port}"),
        upgrade_sock: upgrade_sock.to_path_buf(),
    }
}

pub(crate) async fn wait_ready(url: &str, gw: &mut GatewayProcess, ca: Option<&[u8]>) {
    wait_for(url, gw, ca, "readyz").await
}

/// Waits (30 s at most) until `url/probe` answers 200; panics with the logs otherwise.
async fn wait_for(url: &str, gw: &mut GatewayProcess, ca: Option<&[u8]>, probe: &str) {
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(5));
    if let Some(pem) = ca {
        builder = builder.add_root_certificate(reqwest::Certificate::from_pem(pem).expect("CA"));
    }
    let client = builder.build().expect("client");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = gw.child.try_wait() {
            let logs = std::fs::read_to_string(&gw.stderr_path).unwrap_or_default();
            panic!("guichet exited early ({status}):\n{logs}");
        }
        if let Ok(r) = client.get(format!("{url}/{probe}")).send().await {
            if r.status() == StatusCode::OK {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let logs = std::fs::read_to_string(&gw.stderr_path).unwrap_or_default();
    panic!("guichet: no 200 at /{probe} after 30 s:\n{logs}");
}
