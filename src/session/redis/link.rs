//! The connection to Redis: one server (`redis_url`), through a [`ConnectionManager`] that
//! reconnects by itself, or the primary that Redis Sentinel names (`redis_sentinels`),
//! followed across failovers.
//!
//! With Sentinel, guichet asks the sentinels which server is primary (the `redis` crate's
//! [`SentinelClient`]: a server the sentinels flag down is skipped, and the server named must
//! answer `ROLE` as primary), connects to it, and checks `ROLE` again on its own connection.
//! That connection is dropped, and the sentinels asked again at the next operation, when it
//! breaks (the primary died, or was demoted: Sentinel disconnects the clients of a server it
//! reconfigures), when an operation times out, and when a server answers `READONLY`
//! (a demoted primary refuses writes: the write was not applied, so it is retried once on the
//! primary found next). The store's periodic sweep and `/readyz` check `ROLE` too, so a
//! connection to a server that is no longer primary does not outlive them.
//!
//! Invariants:
//! - Nothing is written through a connection whose server did not answer `ROLE` as primary
//!   when it was made; a `READONLY` answer drops it (`tests/redis_failover.rs`).
//! - While no primary is known, every operation fails (the store fails closed); the sentinels
//!   are asked at most every [`REDISCOVER_FLOOR`], however many requests arrive.

use crate::config::RedisConfig;
use arc_swap::ArcSwapOption;
use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{AsyncConnectionConfig, Client, ConnectionAddr, RedisError, RedisFuture, Role};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// After a failed discovery, operations fail at once for this long instead of asking the
/// sentinels again (a storm of requests during an election asks them a few times a second).
pub const REDISCOVER_FLOOR: Duration = Duration::from_millis(200);

/// Default port of a sentinel URL without one.
const SENTINEL_PORT: u16 = 26379;

/// One connection to whatever guichet writes to, cheap to clone.
#[derive(Clone)]
pub enum Conn {
    Manager(ConnectionManager),
    /// A primary found through the sentinels, with the generation it was found in.
    Primary(MultiplexedConnection, u64),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> RedisFuture<'a, redis::Value> {
        match self {
            Conn::Manager(c) => c.req_packed_command(cmd),
            Conn::Primary(c, _) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Conn::Manager(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Primary(c, _) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Manager(c) => c.get_db(),
            Conn::Primary(c, _) => c.get_db(),
        }
    }
}

/// How guichet reaches the server it writes to (boxed: made once per store).
pub enum Link {
    Direct(Box<Direct>),
    Sentinel(Box<Sentinel>),
}

pub struct Direct {
    client: Client,
    /// Created on first use, inside the runtime that serves requests.
    manager: OnceLock<ConnectionManager>,
    connect_timeout: Duration,
    command_timeout: Duration,
}

pub struct Sentinel {
    sentinels: tokio::sync::Mutex<SentinelClient>,
    primary: ArcSwapOption<Primary>,
    generation: AtomicU64,
    last_failure: Mutex<Option<Instant>>,
    config: AsyncConnectionConfig,
    master: String,
}

struct Primary {
    conn: MultiplexedConnection,
    /// Where `conn` goes: the invalidation subscription connects there too.
    client: Client,
    generation: u64,
}

/// Does this error say the server is not (or no longer) a writable primary? The operation
/// was not applied. A transaction a replica refused ends in `EXECABORT` (its commands were
/// refused one by one as they were queued): taken as such too, the primary being checked
/// again before the retry.
pub fn not_primary(e: &RedisError) -> bool {
    let text = e.to_string();
    [
        "READONLY",
        "MASTERDOWN",
        "LOADING",
        "EXECABORT",
        "not a primary",
    ]
    .iter()
    .any(|code| text.contains(code))
        || matches!(
            e.kind(),
            redis::ErrorKind::Server(
                redis::ServerErrorKind::ReadOnly
                    | redis::ServerErrorKind::MasterDown
                    | redis::ServerErrorKind::BusyLoading
                    | redis::ServerErrorKind::ExecAbort
            )
        )
}

fn io_failure(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_unrecoverable_error()
}

fn tls_certificates(ca: Option<&[u8]>) -> redis::TlsCertificates {
    redis::TlsCertificates {
        client_tls: None,
        root_cert: ca.map(<[u8]>::to_vec),
    }
}

fn decoded(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

impl Link {
    /// The link for a validated configuration (reads the CA file); connects lazily.
    pub fn new(redis: &RedisConfig) -> Result<Link, String> {
        let ca = match &redis.ca_file {
            None => None,
            Some(path) => Some(
                std::fs::read(path)
                    .map_err(|e| format!("cannot read {}: {}", path.display(), e.kind()))?,
            ),
        };
        let url = redis.url.expose().trim();
        if redis.sentinels.is_empty() {
            let client = match &ca {
                None => Client::open(url),
                Some(pem) => Client::build_with_tls(url, tls_certificates(Some(pem))),
            }
            .map_err(|e| e.to_string())?;
            return Ok(Link::Direct(Box::new(Direct {
                client,
                manager: OnceLock::new(),
                connect_timeout: redis.connect_timeout,
                command_timeout: redis.command_timeout,
            })));
        }
        let primary = url::Url::parse(url).map_err(|e| e.to_string())?;
        let mut addrs = Vec::new();
        let mut sentinel_tls = false;
        let mut sentinel_auth = None;
        for s in &redis.sentinels {
            let u = url::Url::parse(s.expose().trim()).map_err(|e| e.to_string())?;
            let host = u.host_str().unwrap_or_default();
            let host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            let port = u.port().unwrap_or(SENTINEL_PORT);
            sentinel_tls = u.scheme() == "rediss";
            addrs.push(if sentinel_tls {
                ConnectionAddr::TcpTls {
                    host,
                    port,
                    insecure: false,
                    tls_params: None,
                }
            } else {
                ConnectionAddr::Tcp(host, port)
            });
            sentinel_auth = Some((decoded(u.username()), u.password().map(decoded)));
        }
        let master = primary.host_str().unwrap_or_default().to_string();
        let mut b = SentinelClientBuilder::new(addrs, &master, SentinelServerType::Master)
            .map_err(|e| e.to_string())?;
        if let Some((user, password)) = sentinel_auth {
            if !user.is_empty() {
                b = b.set_client_to_sentinel_username(user);
            }
            if let Some(p) = password {
                b = b.set_client_to_sentinel_password(p);
            }
        }
        if sentinel_tls {
            b = b.set_client_to_sentinel_tls_mode(redis::TlsMode::Secure);
            if let Some(pem) = &ca {
                b = b.set_client_to_sentinel_certificates(tls_certificates(Some(pem)));
            }
        }
        if primary.scheme() == "rediss" {
            b = b.set_client_to_redis_tls_mode(redis::TlsMode::Secure);
            if let Some(pem) = &ca {
                b = b.set_client_to_redis_certificates(tls_certificates(Some(pem)));
            }
        }
        if !primary.username().is_empty() {
            b = b.set_client_to_redis_username(decoded(primary.username()));
        }
        if let Some(p) = primary.password() {
            b = b.set_client_to_redis_password(decoded(p));
        }
        let db = primary.path().trim_start_matches('/');
        if !db.is_empty() {
            b = b.set_client_to_redis_db(db.parse().map_err(|_| "bad database number")?);
        }
        let tcp = redis::io::tcp::TcpSettings::default();
        b = b
            .set_client_to_redis_tcp_settings(tcp.clone())
            .set_client_to_sentinel_tcp_settings(tcp);
        Ok(Link::Sentinel(Box::new(Sentinel {
            sentinels: tokio::sync::Mutex::new(b.build().map_err(|e| e.to_string())?),
            primary: ArcSwapOption::empty(),
            generation: AtomicU64::new(0),
            last_failure: Mutex::new(None),
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(Some(redis.connect_timeout))
                .set_response_timeout(Some(redis.command_timeout)),
            master,
        })))
    }

    /// How long one operation may take in all: with Sentinel, finding the primary may come
    /// first.
    pub fn budget(&self, connect: Duration, command: Duration) -> Duration {
        match self {
            Link::Direct(_) => connect + command,
            Link::Sentinel(_) => 2 * (connect + command),
        }
    }

    /// A connection to the server to write to (with Sentinel, finding the primary first if
    /// none is known).
    pub async fn conn(&self) -> Result<Conn, RedisError> {
        match self {
            Link::Direct(d) => d.conn().map(Conn::Manager),
            Link::Sentinel(s) => s.conn().await,
        }
    }

    /// Takes note of an operation's error; returns true when the operation was certainly not
    /// applied and may be tried again on the primary found next.
    pub fn failed(&self, conn: &Conn, e: &RedisError) -> bool {
        let (Link::Sentinel(s), Conn::Primary(_, generation)) = (self, conn) else {
            return false;
        };
        if not_primary(e) {
            tracing::warn!(master = %s.master, "the Redis server answered as a replica; asking the sentinels for the primary");
            s.forget(*generation);
            return true;
        }
        if io_failure(e) {
            tracing::warn!(master = %s.master, error = %e, "lost the Redis primary; asking the sentinels again");
            s.forget(*generation);
            return e.is_connection_refusal();
        }
        false
    }

    /// An operation ran out of time: with Sentinel, the primary may be frozen or gone.
    pub fn timed_out(&self) {
        if let Link::Sentinel(s) = self {
            if let Some(p) = s.primary.load_full() {
                s.forget(p.generation);
            }
        }
    }

    /// The server guichet writes to, for the invalidation subscription, and the generation
    /// of that primary with Sentinel (always 0 with one server).
    pub async fn subscriber(&self) -> Result<(Client, u64), RedisError> {
        match self {
            Link::Direct(d) => Ok((d.client.clone(), 0)),
            Link::Sentinel(s) => {
                s.conn().await?;
                s.primary
                    .load_full()
                    .map(|p| (p.client.clone(), p.generation))
                    .ok_or_else(|| {
                        RedisError::from((redis::ErrorKind::Io, "the Redis primary was lost"))
                    })
            }
        }
    }

    /// The generation of the primary guichet writes to now (0: none known, or one server).
    pub fn generation(&self) -> u64 {
        match self {
            Link::Direct(_) => 0,
            Link::Sentinel(s) => s.primary.load().as_ref().map_or(0, |p| p.generation),
        }
    }

    /// With Sentinel: is the server guichet writes to still primary? (`ROLE`; it is dropped
    /// otherwise.) Without: nothing to check.
    pub async fn verify(&self) -> Result<(), RedisError> {
        let Link::Sentinel(s) = self else {
            return Ok(());
        };
        let mut conn = s.conn().await?;
        let role: Result<Role, RedisError> = redis::cmd("ROLE").query_async(&mut conn).await;
        match role {
            Ok(Role::Primary { .. }) => Ok(()),
            Ok(_) => {
                if let Conn::Primary(_, g) = conn {
                    s.forget(g);
                }
                Err(RedisError::from((
                    redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly),
                    "the Redis server is no longer primary",
                )))
            }
            Err(e) => {
                self.failed(&conn, &e);
                Err(e)
            }
        }
    }
}

impl Direct {
    fn conn(&self) -> Result<ConnectionManager, RedisError> {
        if let Some(m) = self.manager.get() {
            return Ok(m.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.command_timeout))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(100))
            .set_max_delay(Duration::from_secs(1));
        let made = ConnectionManager::new_lazy_with_config(self.client.clone(), config)?;
        // Two first requests may race: one manager wins, the other is dropped unused.
        Ok(self.manager.get_or_init(|| made).clone())
    }
}

impl Sentinel {
    fn current(&self) -> Option<Conn> {
        self.primary
            .load_full()
            .map(|p| Conn::Primary(p.conn.clone(), p.generation))
    }

    /// Drops the primary found in `generation` (not a newer one another task found since).
    fn forget(&self, generation: u64) {
        let current = self.primary.load();
        if current.as_ref().is_some_and(|p| p.generation == generation) {
            self.primary
                .compare_and_swap(&*current, None::<Arc<Primary>>);
        }
    }

    async fn conn(&self) -> Result<Conn, RedisError> {
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let mut sentinels = self.sentinels.lock().await;
        // Another task may have found it while this one waited.
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let recent = self
            .last_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|t| t.elapsed() < REDISCOVER_FLOOR);
        if recent {
            return Err(RedisError::from((
                redis::ErrorKind::Io,
                "no Redis primary known (the sentinels were asked a moment ago)",
            )));
        }
        match self.discover(&mut sentinels).await {
            Ok((conn, client)) => {
                let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
                self.primary.store(Some(Arc::new(Primary {
                    conn: conn.clone(),
                    client,
                    generation,
                })));
                Ok(Conn::Primary(conn, generation))
            }
            Err(e) => {
                *self.last_failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
                tracing::warn!(master = %self.master, error = %e, "no Redis primary found through the sentinels");
                Err(e)
            }
        }
    }

    async fn discover(
        &self,
        sentinels: &mut SentinelClient,
    ) -> Result<(MultiplexedConnection, Client), RedisError> {
        let client = sentinels.async_get_client().await?;
        let address = client.get_connection_info().addr().to_string();
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await?;
        // The sentinels' answer may be a moment old: the server itself must say it is primary.
        let role: Role = redis::cmd("ROLE").query_async(&mut conn).await?;
        if !matches!(role, Role::Primary { .. }) {
            return Err(RedisError::from((
                redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly),
                "the server the sentinels name is not primary (yet)",
            )));
        }
        tracing::info!(master = %self.master, %address, "Redis primary found through the sentinels");
        Ok((conn, client))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn config(url: &str, sentinels: &[&str], ca: Option<std::path::PathBuf>) -> RedisConfig {
        RedisConfig {
            url: Secret::inline(url, "test"),
            sentinels: sentinels
                .iter()
                .map(|s| Secret::inline(*s, "test"))
                .collect(),
            sentinel_master: None,
            allow_plaintext: false,
            seal_keys: Vec::new(),
            key_prefix: "t:".into(),
            connect_timeout: Duration::from_millis(100),
            command_timeout: Duration::from_millis(100),
            ca_file: ca,
            local_cache: true,
        }
    }

    #[test]
    fn sentinel_links_build_with_tls_a_private_ca_and_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let ca = crate::demo::certs::TestCa::new(dir.path(), "ca").expect("openssl");
        let cfg = config(
            "rediss://:pw%40rd@mymaster/2",
            &[
                "rediss://user:s3nt@127.0.0.1:26379",
                "rediss://user:s3nt@[::1]",
            ],
            Some(ca.cert.clone()),
        );
        let link = Link::new(&cfg).unwrap();
        assert!(matches!(&link, Link::Sentinel(s) if s.master == "mymaster"));
        assert_eq!(
            link.budget(Duration::from_secs(1), Duration::from_secs(1)),
            Duration::from_secs(4)
        );
        // Plain sentinels and primary, no credentials.
        let link = Link::new(&config("redis://m", &["redis://127.0.0.1:26379"], None)).unwrap();
        assert!(matches!(link, Link::Sentinel(_)));
        let link = Link::new(&config("redis://127.0.0.1:6379", &[], None)).unwrap();
        assert!(matches!(link, Link::Direct(_)));
    }

    #[test]
    fn only_failover_answers_count_as_a_lost_primary() {
        let readonly = RedisError::from((
            redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly),
            "You can't write against a read only replica.",
        ));
        assert!(not_primary(&readonly));
        let other = RedisError::from((
            redis::ErrorKind::Server(redis::ServerErrorKind::ResponseError),
            "WRONGTYPE Operation against a key holding the wrong kind of value",
        ));
        assert!(!not_primary(&other));
    }
}
