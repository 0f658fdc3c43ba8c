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
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Sentinel {
    fn start(primary_port: u16) -> Sentinel {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port().expect("free port");
        let conf = dir.path().join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndaemonize no\ndir {dir}\nlogfile {dir}/sentinel.log\n\
                 sentinel monitor {MASTER} 127.0.0.1 {primary_port} 2\n\
                 sentinel down-after-milliseconds {MASTER} 1000\n\
                 sentinel failover-timeout {MASTER} 4000\n\
                 sentinel parallel-syncs {MASTER} 1\n",
                dir = dir.path().display()
            ),
        )
        .expect("sentinel.conf");
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
            dir,
        }
    }

    pub fn command(&self, cmd: &str) -> Option<String> {
        command_on(self.port, None, cmd)
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
}

impl SentinelSetup {
    /// Starts everything and waits (at most 20 s) until every sentinel sees the replica and
    /// the two other sentinels (what a failover needs).
    pub fn start() -> SentinelSetup {
        let primary = RedisServer::start();
        let replica = RedisServer::start_replica_of(&primary);
        let sentinels: Vec<Sentinel> = (0..3).map(|_| Sentinel::start(primary.port)).collect();
        let setup = SentinelSetup {
            servers: vec![primary, replica],
            sentinels,
        };
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
        self.servers.iter().position(|s| s.port == port)
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
