//! The shared store for several replicas: sessions, login states, the back-channel index and
//! logout token ids in Redis (one server, or the primary Sentinel names: [`link`]), every
//! record sealed ([`super::seal`]).
//!
//! Keys (all under the configured prefix, default `guichet:`, then the deployment's tag: the
//! first 16 hex digits of SHA-256 of its public URL, so `guichet:3f1c...:s:...`):
//! - `s:<sha256(cookie)>`: a hash `{v, seen, dl, rec, ix}`: a random version stamp, the last
//!   activity written back, the sweep deadline, the sealed [`SessionRecord`] and the
//!   session's index entries (see [`scripts`]). Its TTL is the sweep deadline plus
//!   [`GRACE`].
//! - `x:`: the sweep set, session keys by deadline: the earlier of the absolute limit and
//!   the last activity written back plus the idle limit and one write-back interval.
//! - `l:<sha256(state)>`: a sealed login (or logout) state, TTL `login_timeout`, taken with
//!   `GETDEL` so it works once.
//! - `i:<keyed hash(provider, sid|sub)>`: a sorted set of the sealed store keys of the
//!   sessions of one provider session or one citizen, by the microsecond they were stored
//!   (back-channel index, and the per-citizen cap). An entry leaves when its session ends.
//! - `j:<sha256(provider, jti)>`: a logout token id already used (`SET NX`), TTL given by the
//!   caller.
//! - `invalidations`, a pub/sub channel (not a key): the store key (hex) of every session that
//!   ends, published by the script that ends it, and each replica's heartbeats
//!   ([`invalidation`]). Each replica subscribes to it to keep its session cache ([`cache`]).
//!
//! Sealing: the associated data of each record is the deployment's public URL, the Redis key
//! and the field, so a record copied under another key, or into another deployment's keys,
//! does not open; a record that does not open is refused (no session, no login state, no
//! index entry), reported ([`Notices::refused`]), and never deleted because of it (a replica
//! with the wrong keys must not delete the others' sessions). What is not sealed: the
//! version stamp, `seen` and the deadline (numbers the scripts compare; forging them can
//! keep a session alive at most until its absolute limit, which is in the sealed record), the
//! SHA-256 of the cookie in key names, and the number of sessions per citizen.
//!
//! Invariants:
//! - Every key is scoped to the deployment (its public URL): two deployments sharing a Redis
//!   and a prefix (staging and production) never see each other's sessions, login states or
//!   index, so a cookie from one never opens a session on the other
//!   (`tests/hostile_client.rs::a_session_cookie_from_another_deployment_opens_nothing`).
//! - Redis is the authority. A session is served without asking Redis only if Redis
//!   confirmed it less than [`CACHE_MAX_AGE`] (1 s) ago and the invalidation subscription is
//!   known-good ([`cache`], [`invalidation`]); every end of a session (logout, back-channel
//!   logout, expiry, the cap) publishes it in the same script, so an end on one replica holds
//!   on every replica as soon as its message arrives, within a second in any case
//!   (`tests/redis_sessions.rs::login_on_one_replica_holds_on_the_other_and_logout_on_either_ends_it`,
//!   `tests/redis_store.rs::a_session_gone_without_a_message_is_refused_within_a_second`).
//!   Without a known-good subscription, every lookup asks Redis
//!   (`tests/redis_store.rs::without_a_known_good_subscription_every_lookup_asks_redis`,
//!   `a_killed_subscription_distrusts_every_entry_until_confirmed_again`).
//!   `session.redis_local_cache = false`: no cache, no subscription.
//!   What is derived from a record (identity headers...) is cached in this process under the
//!   session key *and* its version stamp, and only reused while Redis answers that version.
//! - A request-path operation waits at most `connect_timeout + command_timeout` (twice that
//!   with Sentinel, finding the primary included); any error or timeout is a [`StoreError`]
//!   (the gateway fails closed) and nothing is deleted because of it.
//! - Activity is written back at most once per interval, by a script that never recreates a
//!   deleted session.
//! - Every end of a session (logout, back-channel, expiry, cap) goes through one script that
//!   removes its index entries: the index holds live sessions only, at most
//!   `max_sessions_per_citizen` per citizen after a login.
//! - Error messages never carry the URL's password.

mod cache;
mod invalidation;
pub mod link;
mod scripts;

use super::seal::Sealer;
use super::{
    now, touch_interval, EndReason, Expiry, LoginState, Match, Notices, Session, SessionBuilder,
    SessionKey, SessionRecord, SessionStore, StoreError,
};
use crate::config::{RedisConfig, SessionConfig};
use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use cache::Local;
use link::Link;
use redis::{FromRedisValue, Script};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use cache::MAX_AGE as CACHE_MAX_AGE;

/// How long an ended session stays in Redis past its sweep deadline when no replica sweeps
/// (all of them down): the sweep of any replica ends it with an evidence line within a
/// second; past this, Redis drops it silently.
pub const GRACE: Duration = Duration::from_secs(120);

/// Sessions ended per sweep call at most (the next call continues).
const SWEEP_BATCH: usize = 100;

/// The prefix of every key a deployment writes: the configured prefix, then a tag derived from
/// the deployment's public URL (64 bits: no accidental collision between deployments).
pub fn deployment_prefix(prefix: &str, deployment: &str) -> String {
    let digest = crate::crypto::sha256_hex(format!("guichet deployment\0{deployment}").as_bytes());
    format!("{prefix}{}:", &digest[..16])
}

/// One operation against Redis.
#[derive(Clone, Copy)]
enum Op<'a> {
    Cmd(&'a redis::Cmd),
    Pipe(&'a redis::Pipeline),
    Script(&'a redis::ScriptInvocation<'a>),
}

pub struct RedisStore {
    link: Arc<Link>,
    prefix: String,
    /// The public URL: part of every record's associated data.
    deployment: String,
    sealer: Sealer,
    connect_timeout: Duration,
    command_timeout: Duration,
    idle: Duration,
    absolute: Duration,
    interval: Duration,
    login_timeout: Duration,
    per_citizen: u64,
    /// Sessions this replica keeps derived data for, at most.
    local_capacity: u64,
    builder: SessionBuilder,
    notices: Notices,
    /// Derived data per session, keyed by session key, valid for one version stamp, and
    /// when Redis last confirmed it.
    local: Arc<Local>,
    /// Where session ends are published ([`invalidation`]).
    channel: String,
    /// `session.redis_local_cache`: false, nothing is served from `local` without Redis
    /// and there is no subscription.
    cache_on: bool,
    /// The invalidation subscription, once started ([`RedisStore::listen`]).
    subscription: Mutex<Option<invalidation::Running>>,
    touch: Script,
    end: Script,
    sweep: Script,
    /// Scrubbed from error messages.
    passwords: Vec<String>,
}

impl RedisStore {
    /// Prepares the store; connects lazily on first use (guichet starts even if Redis is
    /// down, and `/readyz` says so).
    /// `deployment` is the public URL: it scopes every key ([`deployment_prefix`]) and is
    /// part of every sealed record's associated data.
    pub fn new(
        session: &SessionConfig,
        redis: &RedisConfig,
        deployment: &str,
        builder: SessionBuilder,
        notices: Notices,
    ) -> Result<RedisStore, StoreError> {
        let passwords: Vec<String> = std::iter::once(&redis.url)
            .chain(&redis.sentinels)
            .filter_map(|u| url::Url::parse(u.expose().trim()).ok())
            .filter_map(|u| u.password().map(String::from))
            .collect();
        let scrub = |e: String| {
            passwords
                .iter()
                .fold(e, |m, p| scrubbed(&m, Some(p.as_str())))
        };
        let link = Link::new(redis).map_err(|e| StoreError::Setup(scrub(e)))?;
        let sealer = Sealer::new(&redis.seal_keys)
            .map_err(|e| StoreError::Setup(format!("session.seal_keys: {e}")))?;
        let prefix = deployment_prefix(&redis.key_prefix, deployment);
        Ok(RedisStore {
            link: Arc::new(link),
            channel: format!("{prefix}invalidations"),
            subscription: Mutex::new(None),
            cache_on: redis.local_cache,
            prefix,
            deployment: deployment.to_string(),
            sealer,
            connect_timeout: redis.connect_timeout,
            command_timeout: redis.command_timeout,
            idle: session.idle_timeout,
            absolute: session.absolute_timeout,
            interval: touch_interval(session.idle_timeout),
            login_timeout: session.login_timeout,
            per_citizen: session.max_sessions_per_citizen,
            local_capacity: session.max_sessions,
            builder,
            notices,
            local: Arc::new(Local::new(
                session.max_sessions,
                session.idle_timeout,
                session.absolute_timeout,
                if redis.local_cache {
                    CACHE_MAX_AGE
                } else {
                    Duration::ZERO
                },
            )),
            touch: Script::new(scripts::TOUCH),
            end: Script::new(&scripts::end()),
            sweep: Script::new(&scripts::sweep()),
            passwords,
        })
    }

    /// Starts the invalidation subscription, if it is not running (the store's sweep calls
    /// this: in guichet, it starts with the server's background task). Until a heartbeat
    /// comes back on it, nothing is served from the cache. Needs a Tokio runtime.
    pub fn listen(&self) {
        if !self.cache_on || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let mut running = self.subscription.lock().unwrap_or_else(|p| p.into_inner());
        if running.as_ref().is_some_and(|r| !r.finished()) {
            return;
        }
        *running = Some(invalidation::spawn(invalidation::Subscription {
            link: self.link.clone(),
            local: self.local.clone(),
            channel: self.channel.clone(),
            replica: u64::from_le_bytes(crate::crypto::random_bytes::<8>()),
            budget: self.link.budget(self.connect_timeout, self.command_timeout),
            passwords: self.passwords.clone(),
            warned: std::sync::atomic::AtomicBool::new(false),
        }));
    }

    /// May a lookup be answered from this replica's cache right now (is the invalidation
    /// subscription known-good)?
    pub fn cache_active(&self) -> bool {
        self.local.active()
    }

    /// The same store trusting what Redis confirmed for `max_age` instead of
    /// [`CACHE_MAX_AGE`] (tests: a long one shows that the invalidation messages alone end
    /// cached sessions). Before [`RedisStore::listen`].
    #[doc(hidden)]
    pub fn with_cache_max_age(mut self, max_age: Duration) -> RedisStore {
        self.local = Arc::new(Local::new(
            self.local_capacity,
            self.idle,
            self.absolute,
            max_age,
        ));
        self
    }

    fn error(&self, e: &redis::RedisError) -> StoreError {
        let message = self
            .passwords
            .iter()
            .fold(e.to_string(), |m, p| scrubbed(&m, Some(p.as_str())));
        StoreError::Redis(message)
    }

    /// Runs one operation within the store's time bound. With Sentinel, an operation a
    /// demoted primary refused is run once more on the primary found next.
    async fn run<T: FromRedisValue>(&self, op: Op<'_>) -> Result<T, StoreError> {
        let attempts = async {
            let mut tried = false;
            loop {
                let mut conn = self.link.conn().await?;
                let result = match op {
                    Op::Cmd(c) => c.query_async(&mut conn).await,
                    Op::Pipe(p) => p.query_async(&mut conn).await,
                    Op::Script(s) => s.invoke_async(&mut conn).await,
                };
                match result {
                    Ok(v) => return Ok::<T, redis::RedisError>(v),
                    Err(e) => {
                        if self.link.failed(&conn, &e) && !tried {
                            tried = true;
                            continue;
                        }
                        return Err(e);
                    }
                }
            }
        };
        let budget = self.link.budget(self.connect_timeout, self.command_timeout);
        match tokio::time::timeout(budget, attempts).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.error(&e)),
            Err(_) => {
                self.link.timed_out();
                Err(StoreError::TimedOut)
            }
        }
    }

    fn session_key(&self, key: &SessionKey) -> String {
        format!("{}s:{}", self.prefix, key.hex())
    }

    fn sweep_set(&self) -> String {
        format!("{}x:", self.prefix)
    }

    fn login_key(&self, state: &str) -> String {
        format!(
            "{}l:{}",
            self.prefix,
            crate::crypto::sha256_hex(state.as_bytes())
        )
    }

    fn index_key(&self, name: &[u8; 32]) -> String {
        format!("{}i:{}", self.prefix, hex::encode(name))
    }

    fn token_key(&self, id: &str) -> String {
        format!(
            "{}j:{}",
            self.prefix,
            crate::crypto::sha256_hex(id.as_bytes())
        )
    }

    /// Associated data of what is sealed at `key` (and `field`): the deployment, the key.
    fn aad(&self, key: &str, field: &str) -> Vec<u8> {
        format!("{}\0{key}\0{field}", self.deployment).into_bytes()
    }

    /// When the sweep ends the session: at the absolute limit, or once the last activity
    /// written back is older than the idle limit plus one write-back interval (activity is
    /// written back late).
    fn deadline(&self, record: &SessionRecord, last_seen: u64) -> u64 {
        let absolute_end = record.created_at.saturating_add(self.absolute.as_secs());
        let idle_end = last_seen
            .saturating_add(self.idle.as_secs())
            .saturating_add(self.interval.as_secs());
        absolute_end.min(idle_end)
    }

    /// Milliseconds the stored session lives: to its deadline, plus [`GRACE`] for the sweep.
    fn ttl_ms(&self, deadline: u64, now: u64) -> u64 {
        deadline
            .saturating_sub(now)
            .saturating_mul(1000)
            .saturating_add(GRACE.as_millis() as u64)
    }

    /// Opens a sealed record, reporting a refusal.
    fn open(&self, kind: &'static str, key: &str, field: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        match self.sealer.open(&self.aad(key, field), sealed) {
            Ok(plain) => Some(plain),
            Err(e) => {
                let why = match e {
                    super::seal::OpenError::Malformed => "malformed",
                    super::seal::OpenError::UnknownKey => "unknown_key",
                    super::seal::OpenError::Refused => "altered_or_moved",
                };
                tracing::warn!(kind, reason = why, "sealed record refused");
                self.notices.refused(kind, why);
                None
            }
        }
    }

    /// The session key of a sealed index entry of `index`.
    fn entry_key(&self, index: &str, member: &str) -> Option<SessionKey> {
        let Ok(sealed) = URL_SAFE_NO_PAD.decode(member) else {
            self.notices.refused("index_entry", "malformed");
            return None;
        };
        let plain = self.open("index_entry", index, "", &sealed)?;
        Some(SessionKey(plain.try_into().ok()?))
    }

    /// Reads and opens the record of a session whose version Redis just gave.
    async fn load(
        &self,
        key: &SessionKey,
        version: u64,
        seen: Option<u64>,
        ticket: cache::Ticket,
    ) -> Result<Option<Arc<Session>>, StoreError> {
        let skey = self.session_key(key);
        let raw: Option<Vec<u8>> = self
            .run(Op::Cmd(redis::cmd("HGET").arg(&skey).arg("rec")))
            .await?;
        let Some(raw) = raw else { return Ok(None) };
        let Some(json) = self.open("session", &skey, "rec", &raw) else {
            return Ok(None);
        };
        let record: SessionRecord = match serde_json::from_slice(&json) {
            Ok(r) => r,
            Err(e) => {
                // Not this version's format: treated as no session (it expires by its TTL).
                tracing::warn!(session = ?key, error = %e, "undecodable session record ignored");
                return Ok(None);
            }
        };
        let last_seen = seen.unwrap_or(record.created_at);
        let session = Arc::new(self.builder.build(key, record, last_seen));
        self.local.confirm(*key, version, session.clone(), ticket);
        Ok(Some(session))
    }

    /// Ends a session through `script`; returns its record if there was a session (the
    /// record may not open: then `Some(None)`).
    async fn end_with(
        &self,
        script: &Script,
        key: &SessionKey,
        at: Option<u64>,
    ) -> Result<Option<Option<SessionRecord>>, StoreError> {
        let skey = self.session_key(key);
        let mut invocation = script.key(&skey);
        invocation
            .key(self.sweep_set())
            .arg(key.hex())
            .arg(&self.channel);
        if let Some(t) = at {
            invocation.arg(t);
        }
        let sealed: Option<Vec<u8>> = self.run(Op::Script(&invocation)).await?;
        let Some(sealed) = sealed else {
            return Ok(None);
        };
        self.local.forget(key);
        let record = self
            .open("session", &skey, "rec", &sealed)
            .and_then(|json| serde_json::from_slice(&json).ok());
        Ok(Some(record))
    }

    /// After a login of `record`'s citizen added an entry to their index: ends their oldest
    /// sessions past the cap, and drops entries of sessions that are gone.
    async fn enforce_cap(
        &self,
        index: &str,
        entries: Vec<(String, f64)>,
        keep: &SessionKey,
    ) -> Result<(), StoreError> {
        let mut excess = entries.len().saturating_sub(self.per_citizen as usize);
        if excess == 0 {
            return Ok(());
        }
        // Oldest first (the set is sorted by creation time).
        for (member, _) in entries {
            if excess == 0 {
                break;
            }
            let key = self.entry_key(index, &member);
            if key.as_ref() == Some(keep) {
                continue;
            }
            let ended = match &key {
                Some(k) => self.end_with(&self.end, k, None).await?,
                None => None,
            };
            match ended {
                Some(record) => {
                    if let Some(r) = &record {
                        self.notices.ended(r, EndReason::TooManySessions);
                    }
                }
                // A refused entry, or a session already gone: the entry goes.
                None => {
                    self.run::<()>(Op::Cmd(redis::cmd("ZREM").arg(index).arg(&member)))
                        .await?;
                }
            }
            excess -= 1;
        }
        Ok(())
    }
}

fn scrubbed(message: &str, password: Option<&str>) -> String {
    match password {
        Some(p) if !p.is_empty() => {
            let decoded = percent_encoding::percent_decode_str(p).decode_utf8_lossy();
            message.replace(p, "***").replace(decoded.as_ref(), "***")
        }
        _ => message.to_string(),
    }
}

impl RedisStore {
    /// A session lookup; `serve_cached`: may it be answered from this replica's cache
    /// (otherwise Redis is asked, and the cache only spares decoding the record).
    async fn lookup(
        &self,
        key: &SessionKey,
        serve_cached: bool,
    ) -> Result<Option<Arc<Session>>, StoreError> {
        let cached = self.local.get(key);
        if let Some(entry) = cached.as_ref().filter(|_| serve_cached) {
            // Served from the cache only while Redis confirmed it a moment ago and the
            // invalidation subscription is known-good; and never when it looks idle here
            // (another replica may have seen activity since: Redis decides).
            let idle_end = entry
                .session
                .last_seen()
                .saturating_add(self.idle.as_secs());
            if self.local.fresh(entry) && now().saturating_add(1) < idle_end {
                return Ok(Some(entry.session.clone()));
            }
        }
        let ticket = self.local.ticket();
        let (version, seen): (Option<u64>, Option<u64>) = self
            .run(Op::Cmd(
                redis::cmd("HMGET")
                    .arg(self.session_key(key))
                    .arg("v")
                    .arg("seen"),
            ))
            .await?;
        let Some(version) = version else {
            self.local.forget(key);
            return Ok(None);
        };
        if let Some(entry) = cached {
            if entry.version == version {
                if let Some(seen) = seen {
                    entry.session.observe(seen);
                }
                let session = entry.session;
                self.local.confirm(*key, version, session.clone(), ticket);
                return Ok(Some(session));
            }
        }
        self.load(key, version, seen, ticket).await
    }
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn get(&self, key: &SessionKey) -> Result<Option<Arc<Session>>, StoreError> {
        self.lookup(key, true).await
    }

    async fn get_confirmed(&self, key: &SessionKey) -> Result<Option<Arc<Session>>, StoreError> {
        self.lookup(key, false).await
    }

    async fn insert(&self, key: SessionKey, session: Arc<Session>) -> Result<(), StoreError> {
        let record = &session.record;
        let json = serde_json::to_vec(record).map_err(|e| StoreError::Encode {
            what: "session",
            reason: e.to_string(),
        })?;
        let version = u64::from_le_bytes(crate::crypto::random_bytes::<8>());
        let seen = session.last_seen();
        let skey = self.session_key(&key);
        let deadline = self.deadline(record, seen);
        let sealed = self.sealer.seal(&self.aad(&skey, "rec"), &json);
        // Index entries: the session key sealed for each index, under the first key's names.
        let mut entries = Vec::new();
        for m in [
            Some(Match::Sub(record.identity.sub())),
            record.sid.as_deref().map(Match::Sid),
        ]
        .into_iter()
        .flatten()
        {
            let index = self.index_key(&self.sealer.name(&m.message(&record.provider)));
            let member = URL_SAFE_NO_PAD.encode(self.sealer.seal(&self.aad(&index, ""), &key.0));
            entries.push((index, member));
        }
        let ix: String = entries
            .iter()
            .map(|(name, member)| format!("{name} {member}\n"))
            .collect();
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("HSET")
            .arg(&skey)
            .arg("v")
            .arg(version)
            .arg("seen")
            .arg(seen)
            .arg("dl")
            .arg(deadline)
            .arg("rec")
            .arg(sealed)
            .arg("ix")
            .arg(ix)
            .ignore()
            .cmd("PEXPIRE")
            .arg(&skey)
            .arg(self.ttl_ms(deadline, now()))
            .ignore()
            .cmd("ZADD")
            .arg(self.sweep_set())
            .arg(deadline)
            .arg(key.hex())
            .ignore();
        let index_ms = (self.absolute + GRACE).as_millis() as u64;
        // Ordered by when they were stored, to the microsecond (exact in a sorted set's
        // scores): the cap ends the oldest.
        let stored_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        for (index, member) in &entries {
            pipe.cmd("ZADD")
                .arg(index)
                .arg(stored_us)
                .arg(member)
                .ignore()
                .cmd("PEXPIRE")
                .arg(index)
                .arg(index_ms)
                .ignore();
        }
        // The citizen's sessions, oldest first: for the cap.
        let (sub_index, _) = &entries[0];
        pipe.cmd("ZRANGE")
            .arg(sub_index)
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES");
        let ticket = self.local.ticket();
        let (citizen,): (Vec<(String, f64)>,) = self.run(Op::Pipe(&pipe)).await?;
        self.local.confirm(key, version, session.clone(), ticket);
        // The session is stored: a failure to end older ones leaves the citizen over the cap
        // until their next login, it does not fail this one.
        if let Err(e) = self.enforce_cap(sub_index, citizen, &key).await {
            tracing::warn!(error = %e, "could not end a citizen's sessions past the cap");
        }
        Ok(())
    }

    async fn remove(&self, key: &SessionKey) -> Result<bool, StoreError> {
        self.local.forget(key);
        Ok(self.end_with(&self.end, key, None).await?.is_some())
    }

    async fn touch(&self, key: &SessionKey, session: &Session) -> Result<(), StoreError> {
        let seen = session.last_seen();
        let deadline = self.deadline(&session.record, seen);
        let mut invocation = self.touch.key(self.session_key(key));
        invocation
            .key(self.sweep_set())
            .arg(seen)
            .arg(self.ttl_ms(deadline, now()))
            .arg(deadline)
            .arg(key.hex());
        self.run::<i64>(Op::Script(&invocation)).await.map(|_| ())
    }

    async fn put_login(&self, state: &str, login: LoginState) -> Result<(), StoreError> {
        let json = serde_json::to_vec(&login).map_err(|e| StoreError::Encode {
            what: "login state",
            reason: e.to_string(),
        })?;
        let lkey = self.login_key(state);
        let sealed = self.sealer.seal(&self.aad(&lkey, ""), &json);
        let ttl = u64::try_from(self.login_timeout.as_millis()).unwrap_or(u64::MAX);
        self.run(Op::Cmd(
            redis::cmd("SET").arg(&lkey).arg(sealed).arg("PX").arg(ttl),
        ))
        .await
    }

    async fn take_login(&self, state: &str) -> Result<Option<LoginState>, StoreError> {
        let lkey = self.login_key(state);
        let raw: Option<Vec<u8>> = self.run(Op::Cmd(redis::cmd("GETDEL").arg(&lkey))).await?;
        let Some(json) = raw.and_then(|r| self.open("login_state", &lkey, "", &r)) else {
            return Ok(None);
        };
        Ok(match serde_json::from_slice(&json) {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!(error = %e, "undecodable login state ignored");
                None
            }
        })
    }

    async fn remove_matching(&self, provider: &str, m: Match<'_>) -> Result<u64, StoreError> {
        let mut removed = 0;
        // Every key's name: entries made before a key rotation are found too.
        for name in self.sealer.names(&m.message(provider)) {
            let index = self.index_key(&name);
            let members: Vec<String> = self
                .run(Op::Cmd(redis::cmd("ZRANGE").arg(&index).arg(0).arg(-1)))
                .await?;
            for member in members {
                let ended = match self.entry_key(&index, &member) {
                    Some(k) => self.end_with(&self.end, &k, None).await?,
                    None => None,
                };
                match ended {
                    Some(_) => removed += 1,
                    None => {
                        self.run::<()>(Op::Cmd(redis::cmd("ZREM").arg(&index).arg(&member)))
                            .await?;
                    }
                }
            }
        }
        Ok(removed)
    }

    async fn remember_once(&self, id: &str, ttl: Duration) -> Result<bool, StoreError> {
        let ttl = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let set: Option<String> = self
            .run(Op::Cmd(
                redis::cmd("SET")
                    .arg(self.token_key(id))
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl),
            ))
            .await?;
        Ok(set.is_some())
    }

    async fn forget(&self, id: &str) -> Result<(), StoreError> {
        self.run(Op::Cmd(redis::cmd("DEL").arg(self.token_key(id))))
            .await
    }

    async fn sweep(&self) -> Result<usize, StoreError> {
        self.listen();
        let budget = self.link.budget(self.connect_timeout, self.command_timeout);
        // With Sentinel, this is also where a primary that was demoted without guichet
        // noticing is dropped.
        match tokio::time::timeout(budget, self.link.verify()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(self.error(&e)),
            Err(_) => {
                self.link.timed_out();
                return Err(StoreError::TimedOut);
            }
        }
        let t = now();
        let due: Vec<String> = self
            .run(Op::Cmd(
                redis::cmd("ZRANGEBYSCORE")
                    .arg(self.sweep_set())
                    .arg("-inf")
                    .arg(t)
                    .arg("LIMIT")
                    .arg(0)
                    .arg(SWEEP_BATCH),
            ))
            .await?;
        let mut ended = 0;
        for member in due {
            let Some(key) = hex::decode(&member)
                .ok()
                .and_then(|b| b.try_into().ok())
                .map(SessionKey)
            else {
                self.run::<()>(Op::Cmd(
                    redis::cmd("ZREM").arg(self.sweep_set()).arg(&member),
                ))
                .await?;
                continue;
            };
            if let Some(record) = self.end_with(&self.sweep, &key, Some(t)).await? {
                ended += 1;
                if let Some(r) = record {
                    let absolute = t >= r.created_at.saturating_add(self.absolute.as_secs());
                    let why = if absolute {
                        Expiry::Absolute
                    } else {
                        Expiry::Idle
                    };
                    self.notices.ended(&r, EndReason::Expired(why));
                }
            }
        }
        Ok(ended)
    }

    async fn ready(&self) -> Result<(), StoreError> {
        let budget = self.link.budget(self.connect_timeout, self.command_timeout);
        match tokio::time::timeout(budget, self.link.verify()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(self.error(&e)),
            Err(_) => {
                self.link.timed_out();
                return Err(StoreError::TimedOut);
            }
        }
        self.run::<String>(Op::Cmd(&redis::cmd("PING")))
            .await
            .map(|_| ())
    }

    fn active_sessions(&self) -> Option<u64> {
        // Counting keys in a shared Redis is not cheap; the gauge covers the memory store.
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_scrubbed_from_messages() {
        assert_eq!(
            scrubbed("auth failed for p%40ss and p@ss", Some("p%40ss")),
            "auth failed for *** and ***"
        );
        assert_eq!(scrubbed("refused", None), "refused");
    }

    #[test]
    fn each_deployment_gets_its_own_key_space() {
        let prod = deployment_prefix("guichet:", "https://demarches.example.fr");
        let staging = deployment_prefix("guichet:", "https://recette.demarches.example.fr");
        assert_ne!(prod, staging);
        assert_eq!(
            prod,
            deployment_prefix("guichet:", "https://demarches.example.fr")
        );
        assert!(prod.starts_with("guichet:") && prod.ends_with(':'));
        assert_eq!(prod.len(), "guichet:".len() + 17);
    }
}
