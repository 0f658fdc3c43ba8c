//! Redis Sentinel for the tests: a primary, a replica and three real `redis-sentinel`
//! processes watching them, on free loopback ports, with short timeouts (a primary is down
//! after 1 s of silence) so a failover takes a few seconds. `make test` (`scripts/deps.sh`)
//! installs `redis-sentinel`.

use super::redis::{command_on, strings_of, RedisServer};
use guichet::demo::free_port;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The master name the sentinels monitor.
pub const MASTER: &str = "guichet-test";

pub struct Sentinel {
    child: Option<Child>,
    /// Plain port (the harness's commands).
    pub port: u16,
    /// TLS port, with [`SentinelSetup::start_tls`].
    pub tls_port: Option<u16>,
    password: Option<String>,
    dir: tempfile::TempDir,
}

/// TLS and passwords of a setup: the certificates' directory, Redis's password, the
/// sentinels' own.
struct Secure<'a> {
    certs: &'a std::path::Path,
    redis_password: &'a str,
    sentinel_password: &'a str,
}

impl Sentinel {
    fn start(primary_port: u16, secure: Option<&Secure<'_>>) -> Sentinel {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port().expect("free port");
        let tls_port = secure.map(|_| free_port().expect("free port"));
        let conf = dir.path().join("sentinel.conf");
        let mut text = format!(
            "port {port}\nbind 127.0.0.1\ndaemonize no\ndir {dir}\nlogfile {dir}/sentinel.log\n\
             sentinel monitor {MASTER} 127.0.0.1 {primary_port} 2\n\
             sentinel down-after-milliseconds {MASTER} 1000\n\
             sentinel failover-timeout {MASTER} 4000\n\
             sentinel parallel-syncs {MASTER} 1\n",
            dir = dir.path().display()
        );
        if let (Some(s), Some(tls_port)) = (secure, tls_port) {
            let file = |f: &str| s.certs.join(f).display().to_string();
            text += &format!(
                "tls-port {tls_port}\ntls-cert-file {}\ntls-key-file {}\ntls-ca-cert-file {}\n\
                 tls-auth-clients no\ntls-replication yes\nrequirepass {sp}\n\
                 sentinel sentinel-pass {sp}\nsentinel auth-pass {MASTER} {rp}\n",
                file("server.pem"),
                file("server.key"),
                file("ca.pem"),
                sp = s.sentinel_password,
                rp = s.redis_password,
            );
        }
        std::fs::write(&conf, text).expect("sentinel.conf");
        let child = Command::new("redis-sentinel")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-sentinel ({e}). The Sentinel tests need it: run \
                     `scripts/deps.sh` (or `make test`), or `apt-get install redis-sentinel`."
                )
            });
        Sentinel {
            child: Some(child),
            port,
            tls_port,
            password: secure.map(|s| s.sentinel_password.to_string()),
            dir,
        }
    }

    pub fn command(&self, cmd: &str) -> Option<String> {
        command_on(self.port, self.password.as_deref(), cmd)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("sentinel.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The port of the server this sentinel names as primary.
    pub fn primary_port(&self) -> Option<u16> {
        let reply = self.command(&format!("SENTINEL GET-MASTER-ADDR-BY-NAME {MASTER}"))?;
        strings_of(&reply).get(1)?.parse().ok()
    }

    /// A field of `SENTINEL MASTER` (`num-other-sentinels`, `num-slaves`, `flags`...).
    pub fn master_field(&self, field: &str) -> Option<String> {
        let reply = self.command(&format!("SENTINEL MASTER {MASTER}"))?;
        strings_of(&reply)
            .chunks(2)
            .find(|kv| kv[0] == field)
            .and_then(|kv| kv.get(1).cloned())
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A primary, its replica, and three sentinels that agree on them.
pub struct SentinelSetup {
    /// Index 0 starts as the primary, 1 as its replica.
    pub servers: Vec<RedisServer>,
    pub sentinels: Vec<Sentinel>,
    /// With [`SentinelSetup::start_tls`]: the sentinels' password, and where the URL files
    /// of the gateways' configuration are.
    sentinel_password: Option<String>,
    dir: tempfile::TempDir,
}

impl SentinelSetup {
    /// Starts everything and waits (at most 20 s) until every sentinel sees the replica and
    /// the two other sentinels (what a failover needs).
    pub fn start() -> SentinelSetup {
        let primary = RedisServer::start();
        let replica = RedisServer::start_replica_of(&primary);
        let sentinels: Vec<Sentinel> = (0..3)
            .map(|_| Sentinel::start(primary.port, None))
            .collect();
        SentinelSetup::ready(SentinelSetup {
            servers: vec![primary, replica],
            sentinels,
            sentinel_password: None,
            dir: tempfile::tempdir().expect("tempdir"),
        })
    }

    /// [`SentinelSetup::start`] with TLS everywhere (one private CA) and passwords: Redis's
    /// `redis_password`, the sentinels' `sentinel_password`.
    pub fn start_tls(redis_password: &str, sentinel_password: &str) -> SentinelSetup {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = guichet::demo::certs::TestCa::new(dir.path(), "ca")
            .unwrap_or_else(|e| panic!("the TLS Sentinel test needs certificates: {e}"));
        ca.issue("server")
            .unwrap_or_else(|e| panic!("the TLS Sentinel test needs certificates: {e}"));
        let primary = RedisServer::start_tls_with(redis_password, dir.path());
        let replica = RedisServer::start_replica_of(&primary);
        let secure = Secure {
            certs: dir.path(),
            redis_password,
            sentinel_password,
        };
        let primary_tls = primary.tls_port.expect("TLS port");
        let sentinels: Vec<Sentinel> = (0..3)
            .map(|_| Sentinel::start(primary_tls, Some(&secure)))
            .collect();
        SentinelSetup::ready(SentinelSetup {
            servers: vec![primary, replica],
            sentinels,
            sentinel_password: Some(sentinel_password.to_string()),
            dir,
        })
    }

    fn ready(setup: SentinelSetup) -> SentinelSetup {
        let ready = |s: &SentinelSetup| {
            s.sentinels.iter().all(|x| {
                x.master_field("num-slaves").as_deref() == Some("1")
                    && x.master_field("num-other-sentinels").as_deref() == Some("2")
            }) && s.servers[1]
                .command("INFO replication")
                .is_some_and(|i| i.contains("master_link_status:up"))
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ready(&setup) {
            if Instant::now() > deadline {
                setup.fail("the sentinels to see the replica and each other");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        setup
    }

    /// `[session]` for gateways that reach these sentinels and the primary over TLS with
    /// the passwords, every URL from a `file:` (they carry passwords).
    pub fn session_toml_tls(&self, extra: &str) -> String {
        let redis_password = self.servers[0].password().expect("password");
        let sentinel_password = self.sentinel_password.as_deref().expect("password");
        let url_file = |name: &str, url: String| {
            let path = self.dir.path().join(name);
            std::fs::write(&path, url).expect("url file");
            format!("\"file:{}\"", path.display())
        };
        let sentinels: Vec<String> = self
            .sentinels
            .iter()
            .enumerate()
            .map(|(i, s)| {
                url_file(
                    &format!("sentinel-{i}"),
                    format!(
                        "rediss://:{sentinel_password}@127.0.0.1:{}",
                        s.tls_port.expect("TLS")
                    ),
                )
            })
            .collect();
        format!(
            "[session]\nstore = \"redis\"\nredis_url = {}\nredis_sentinels = [{}]\n\
             redis_ca_file = \"{}\"\nredis_connect_timeout = \"500ms\"\n\
             redis_command_timeout = \"500ms\"\n{}{extra}\n",
            url_file(
                "redis-url",
                format!("rediss://:{redis_password}@{MASTER}/0")
            ),
            sentinels.join(", "),
            self.dir.path().join("ca.pem").display(),
            self.servers[0].seal_keys_toml()
        )
    }

    /// `[session]` for gateways that find the primary through these sentinels.
    pub fn session_toml(&self, extra: &str) -> String {
        let sentinels: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| format!("\"redis://127.0.0.1:{}\"", s.port))
            .collect();
        format!(
            "[session]\nstore = \"redis\"\nredis_url = \"redis://{MASTER}/0\"\n\
             redis_sentinels = [{}]\nredis_connect_timeout = \"500ms\"\n\
             redis_command_timeout = \"500ms\"\n{}{extra}\n",
            sentinels.join(", "),
            self.servers[0].seal_keys_toml()
        )
    }

    /// Index in `servers` of the server the sentinels agree is primary (None: no agreement).
    pub fn primary(&self) -> Option<usize> {
        let ports: Vec<Option<u16>> = self.sentinels.iter().map(|s| s.primary_port()).collect();
        let port = ports.first().copied().flatten()?;
        if ports.iter().any(|p| *p != Some(port)) {
            return None;
        }
        self.servers
            .iter()
            .position(|s| s.port == port || s.tls_port == Some(port))
    }

    /// Waits (at most 30 s) for `what`; panics with the sentinels' logs otherwise.
    pub async fn wait_until(&self, what: &str, ok: impl Fn(&SentinelSetup) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if ok(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.fail(what);
    }

    fn fail(&self, what: &str) -> ! {
        for (i, x) in self.sentinels.iter().enumerate() {
            eprintln!(
                "sentinel {i}: slaves {:?}, other sentinels {:?}, primary port {:?}",
                x.master_field("num-slaves"),
                x.master_field("num-other-sentinels"),
                x.primary_port()
            );
        }
        for (i, s) in self.servers.iter().enumerate() {
            eprintln!("server {i} (port {}): role {:?}", s.port, s.role());
        }
        panic!(
            "waited 30 s for {what}; sentinel logs:\n{}",
            self.sentinels
                .iter()
                .map(|s| s.log())
                .collect::<Vec<_>>()
                .join("\n----\n")
        );
    }
}
