//! A real `redis-server` for the tests: its own process on a free loopback port, its data
//! (append-only file) in a temporary directory so a restart keeps the sessions; optionally a
//! replica of another one. `make test` (`scripts/deps.sh`) installs it; when it is missing the
//! tests that need it fail and say so. Sentinels are in [`super::sentinel`].

use guichet::demo::free_port;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    child: Option<Child>,
    /// Plain-text port (the harness's own commands, and gateways without TLS).
    pub port: u16,
    /// TLS port, when started with [`RedisServer::start_tls`].
    pub tls_port: Option<u16>,
    password: Option<String>,
    dir: tempfile::TempDir,
    paused: bool,
    /// `--replicaof` at start (a replica of this port).
    replica_of: Option<u16>,
}

impl RedisServer {
    /// Starts a server and waits (bounded) until it answers `PING`.
    pub fn start() -> RedisServer {
        RedisServer::new(false, None)
    }

    /// A server that also listens with TLS (a certificate for 127.0.0.1 from a private CA,
    /// [`RedisServer::ca_path`]) and requires `password`. Needs the `openssl` command.
    pub fn start_tls(password: &str) -> RedisServer {
        RedisServer::new(true, Some(password.to_string()))
    }

    /// A server that starts as a replica of `primary` (over TLS, with its password, when
    /// `primary` has them).
    pub fn start_replica_of(primary: &RedisServer) -> RedisServer {
        let certs = primary.tls_port.map(|_| primary.dir.path().to_path_buf());
        let replica_of = primary.tls_port.unwrap_or(primary.port);
        RedisServer::build(
            primary.tls_port.is_some(),
            primary.password.clone(),
            Some(replica_of),
            certs.as_deref(),
        )
    }

    /// A TLS server (with `password`) whose certificate and CA are copied from `certs`
    /// (`ca.pem`, `server.pem`, `server.key`): several servers trusted through one CA.
    pub fn start_tls_with(password: &str, certs: &std::path::Path) -> RedisServer {
        RedisServer::build(true, Some(password.to_string()), None, Some(certs))
    }

    fn new(tls: bool, password: Option<String>) -> RedisServer {
        RedisServer::build(tls, password, None, None)
    }

    fn build(
        tls: bool,
        password: Option<String>,
        replica_of: Option<u16>,
        certs: Option<&std::path::Path>,
    ) -> RedisServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port().expect("free port");
        let tls_port = tls.then(|| free_port().expect("free port"));
        match (tls, certs) {
            (true, Some(from)) => {
                for f in ["ca.pem", "server.pem", "server.key"] {
                    std::fs::copy(from.join(f), dir.path().join(f)).expect("certificate");
                }
            }
            (true, None) => make_certificates(dir.path()),
            _ => {}
        }
        let mut server = RedisServer {
            child: None,
            port,
            tls_port,
            password,
            dir,
            paused: false,
            replica_of,
        };
        std::fs::write(server.seal_key_path(), SEAL_KEY).expect("seal key");
        server.spawn();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// The `rediss://` URL of the TLS port, with the password.
    pub fn tls_url(&self) -> String {
        format!(
            "rediss://:{}@127.0.0.1:{}/0",
            self.password.as_deref().unwrap_or_default(),
            self.tls_port.expect("started with start_tls")
        )
    }

    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The directory holding `ca.pem`, `server.pem` and `server.key` (TLS servers).
    pub fn certs_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// A file holding the sealing key every gateway of a test shares ([`SEAL_KEY`]).
    pub fn seal_key_path(&self) -> PathBuf {
        self.dir.path().join("seal.key")
    }

    /// `seal_keys = ["file:..."]` for this server's key file.
    pub fn seal_keys_toml(&self) -> String {
        format!(
            "seal_keys = [\"file:{}\"]\n",
            self.seal_key_path().display()
        )
    }

    /// `[session]` for a gateway using this server (append `extra` keys to the section).
    pub fn session_toml(&self, extra: &str) -> String {
        format!(
            "[session]\nstore = \"redis\"\nredis_url = \"{}\"\nredis_connect_timeout = \"500ms\"\n\
             redis_command_timeout = \"500ms\"\n{}{extra}\n",
            self.url(),
            self.seal_keys_toml()
        )
    }

    /// Everything the server persisted (append-only files, an RDB after `SAVE`), as bytes.
    pub fn files_on_disk(&self) -> Vec<u8> {
        fn walk(dir: &std::path::Path, out: &mut Vec<u8>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if path.is_dir() {
                    walk(&path, out);
                } else if name.contains("aof") || name.ends_with(".rdb") {
                    out.extend(std::fs::read(&path).unwrap_or_default());
                }
            }
        }
        let mut out = Vec::new();
        walk(self.dir.path(), &mut out);
        out
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new("redis-server");
        if let Some(tls_port) = self.tls_port {
            let file = |name: &str| self.dir.path().join(name).display().to_string();
            cmd.args([
                "--tls-port",
                &tls_port.to_string(),
                "--tls-auth-clients",
                "no",
            ])
            .args(["--tls-cert-file", &file("server.pem")])
            .args(["--tls-key-file", &file("server.key")])
            .args(["--tls-ca-cert-file", &file("ca.pem")]);
        }
        if let Some(password) = &self.password {
            cmd.args(["--requirepass", password, "--masterauth", password]);
        }
        if let Some(primary) = self.replica_of {
            cmd.args(["--replicaof", "127.0.0.1", &primary.to_string()]);
        }
        if self.tls_port.is_some() {
            cmd.args(["--tls-replication", "yes"]);
        }
        let child = cmd
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(self.dir.path())
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .args(["--daemonize", "no", "--loglevel", "warning"])
            .arg("--logfile")
            .arg(self.log_path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-server ({e}). The Redis tests need it: run \
                     `scripts/deps.sh` (or `make test`), or `apt-get install redis-server`."
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.ping() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        panic!(
            "redis-server did not answer on port {} within 10 s:\n{log}",
            self.port
        );
    }

    /// Does the server answer `PING` right now?
    pub fn ping(&self) -> bool {
        self.command("PING").is_some_and(|r| r.starts_with("+PONG"))
    }

    /// Sends one inline command on the plain port and returns its raw reply (None if the
    /// server does not answer within 500 ms).
    pub fn command(&self, cmd: &str) -> Option<String> {
        command_on(self.port, self.password.as_deref(), cmd)
    }

    /// Keys matching a pattern (`KEYS`, fine on a test server).
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        let reply = self.command(&format!("KEYS {pattern}")).unwrap_or_default();
        reply
            .split("\r\n")
            .filter(|l| !l.is_empty() && !l.starts_with('*') && !l.starts_with('$'))
            .map(String::from)
            .collect()
    }

    /// How many times the server ran `command` (lowercase, `INFO commandstats`).
    pub fn command_calls(&self, command: &str) -> u64 {
        let stats = self.command("INFO commandstats").unwrap_or_default();
        let prefix = format!("cmdstat_{command}:calls=");
        stats
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// Freezes the process (SIGSTOP): connections stay open, nothing answers.
    pub fn pause(&mut self) {
        self.signal("STOP");
        self.paused = true;
    }

    pub fn resume(&mut self) {
        self.signal("CONT");
        self.paused = false;
    }

    /// Stops the server cleanly (SIGTERM; the append-only file keeps the data).
    pub fn stop(&mut self) {
        if self.paused {
            self.resume();
        }
        self.signal("TERM");
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port with the same data.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Kills the server at once (SIGKILL): no goodbye to its replicas or clients.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.paused = false;
    }

    /// Starts a killed server again, same port and data, as it was configured at first
    /// (a primary starts as a primary: Sentinel must turn it into a replica).
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "still running");
        self.spawn();
    }

    /// `master` or `slave`, from `ROLE` (None if it does not answer).
    pub fn role(&self) -> Option<String> {
        strings_of(&self.command("ROLE")?).into_iter().next()
    }

    fn signal(&self, sig: &str) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .args([&format!("-{sig}"), &child.id().to_string()])
                .status();
        }
    }
}

/// Sends `n` requests with `cookie` to `base`'s `/whoami` (each must be served); returns how
/// many of them asked `redis` (the `HMGET`s it ran meanwhile): few when the replica answers
/// from its session cache.
pub async fn lookups_for(redis: &RedisServer, base: &str, cookie: &str, n: u64) -> u64 {
    let before = redis.command_calls("hmget");
    for _ in 0..n {
        let r = super::get_with_cookie(&format!("{base}/whoami"), cookie).await;
        assert_eq!(r.status(), reqwest::StatusCode::OK, "{base}");
    }
    redis.command_calls("hmget") - before
}

/// A session ended at `ended` (the end was answered then) must be refused by every replica
/// in `bases` within a second: each replica is asked (`/whoami` with `cookie`) until it
/// sends the browser to log in, and a page served from a request sent more than a second
/// after the end fails the test (replicas serve a session Redis confirmed at most a second
/// ago, and drop it as soon as the end's message arrives). Gives up after 10 s.
pub async fn ended_everywhere_within_a_second(bases: &[&str], cookie: &str, ended: Instant) {
    for base in bases {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let sent = Instant::now();
            let r = super::get_with_cookie(&format!("{base}/whoami"), cookie).await;
            if r.status() == reqwest::StatusCode::FOUND {
                assert!(super::location(&r).contains("/.guichet/login"), "{base}");
                break;
            }
            assert_eq!(r.status(), reqwest::StatusCode::OK, "{base}");
            let late = sent.saturating_duration_since(ended);
            assert!(
                late < Duration::from_secs(1),
                "{base} served a session {late:?} after its end"
            );
            assert!(
                Instant::now() < deadline,
                "{base}: session alive after 10 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let r = super::get_with_cookie(&format!("{base}/api/me"), cookie).await;
        assert_eq!(r.status(), reqwest::StatusCode::UNAUTHORIZED, "{base}");
    }
}

/// Sends one inline command to the server on `port` (with `AUTH password` first) and returns
/// its raw reply, None if it does not answer within 500 ms.
pub fn command_on(port: u16, password: Option<&str>, cmd: &str) -> Option<String> {
    let addr = format!("127.0.0.1:{port}");
    let mut s = TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_millis(200)).ok()?;
    s.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    let (auth, replies) = match password {
        Some(p) => (format!("AUTH {p}\r\n"), 2),
        None => (String::new(), 1),
    };
    s.write_all(format!("{auth}{cmd}\r\n").as_bytes()).ok()?;
    // Read until the replies are whole (a sentinel knows no QUIT to close on).
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        let mut at = 0;
        let mut whole = 0;
        while whole < replies {
            match resp_len(&buf[at..]) {
                Some(n) => {
                    at += n;
                    whole += 1;
                }
                None => break,
            }
        }
        if whole == replies {
            break;
        }
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf).to_string();
    let text = if auth.is_empty() {
        text.as_str()
    } else {
        text.strip_prefix("+OK\r\n")?
    };
    Some(text.to_string())
}

/// The length of the first whole RESP2 value at the start of `buf` (None: not whole yet).
fn resp_len(buf: &[u8]) -> Option<usize> {
    let line_end = buf.windows(2).position(|w| w == b"\r\n")?;
    let head = std::str::from_utf8(&buf[1..line_end]).ok()?;
    let after = line_end + 2;
    match buf.first()? {
        b'+' | b'-' | b':' => Some(after),
        b'$' => {
            let n: i64 = head.parse().ok()?;
            if n < 0 {
                return Some(after);
            }
            let end = after + n as usize + 2;
            (buf.len() >= end).then_some(end)
        }
        b'*' => {
            let n: i64 = head.parse().ok()?;
            let mut at = after;
            for _ in 0..n.max(0) {
                at += resp_len(&buf[at..])?;
            }
            Some(at)
        }
        _ => None,
    }
}

/// The strings of a raw RESP reply, in order: bulk strings (even empty ones), simple strings
/// and integers; array headers are skipped.
pub fn strings_of(reply: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = reply.split("\r\n");
    while let Some(line) = lines.next() {
        match line.chars().next() {
            Some('$') if line != "$-1" => out.push(lines.next().unwrap_or_default().to_string()),
            Some('+') | Some(':') => out.push(line[1..].to_string()),
            _ => {}
        }
    }
    out
}

/// The sealing key of the test gateways (base64 of 32 bytes; a test constant, never a real
/// deployment's).
pub const SEAL_KEY: &str = "dGVzdCBzZWFsaW5nIGtleSBvZiB0aGUgdGVzdHMgISE=";

/// A private CA (`ca.pem`) and a certificate for 127.0.0.1/localhost (`server.pem`,
/// `server.key`), with the `openssl` command.
fn make_certificates(dir: &std::path::Path) {
    let ca = guichet::demo::certs::TestCa::new(dir, "ca")
        .unwrap_or_else(|e| panic!("the TLS Redis test needs certificates: {e}"));
    ca.issue("server")
        .unwrap_or_else(|e| panic!("the TLS Redis test needs certificates: {e}"));
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if self.paused {
            self.signal("CONT");
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
