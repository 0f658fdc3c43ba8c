//! The shared store for several replicas: sessions, login states, the back-channel index and
//! logout token ids in Redis, through one auto-reconnecting [`ConnectionManager`].
//!
//! Keys (all under the configured prefix, default `guichet:`, then the deployment's tag: the
//! first 16 hex digits of SHA-256 of its public URL, so `guichet:3f1c...:s:...`):
//! - `s:<sha256(cookie)>`: a hash `{v, seen, rec}`: a random version stamp, the last activity
//!   written back, and the [`SessionRecord`] as JSON. Its TTL follows the idle limit (plus one
//!   write-back interval) and never passes the absolute limit.
//! - `l:<sha256(state)>`: a login (or logout) state as JSON, TTL `login_timeout`, taken with
//!   `GETDEL` so it works once.
//! - `i:<sha256(provider, sid|sub)>`: a set of session keys (back-channel index), TTL the
//!   absolute limit. Members of deleted sessions may linger until then; they point nowhere.
//! - `j:<sha256(id)>`: a logout token id already used (`SET NX`), TTL given by the caller.
//!
//! Invariants:
//! - Every key is scoped to the deployment (its public URL): two deployments sharing a Redis
//!   and a prefix (staging and production) never see each other's sessions, login states or
//!   index, so a cookie from one never opens a session on the other
//!   (`tests/hostile_client.rs::a_session_cookie_from_another_deployment_opens_nothing`).
//! - Redis is the authority: every lookup asks Redis whether the session still exists, so a
//!   logout or back-channel logout on one replica holds on every replica at the next request.
//!   What is derived from a record (identity headers...) is cached in this process under the
//!   session key *and* its version stamp, and only reused while Redis answers that version.
//! - A request-path operation waits at most `connect_timeout + command_timeout`; any error or
//!   timeout is a [`StoreError`] (the gateway fails closed) and nothing is deleted because of
//!   it. The connection manager reconnects by itself when Redis comes back.
//! - Activity is written back at most once per interval, by a script that never recreates a
//!   deleted session.
//! - Error messages never carry the URL's password.

use super::{
    now, touch_interval, LoginState, Match, Session, SessionBuilder, SessionKey, SessionRecord,
    SessionStore, StoreError,
};
use crate::config::{RedisConfig, SessionConfig};
use async_trait::async_trait;
use moka::sync::Cache;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script};
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Writes the last activity back, and extends the TTL, only if the session still exists and
/// the new value is later than the stored one (another replica may have written a later one).
const TOUCH: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local seen = tonumber(redis.call('HGET', KEYS[1], 'seen') or '0') or 0
if tonumber(ARGV[1]) > seen then
  redis.call('HSET', KEYS[1], 'seen', ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
";

/// The prefix of every key a deployment writes: the configured prefix, then a tag derived from
/// the deployment's public URL (64 bits: no accidental collision between deployments).
pub fn deployment_prefix(prefix: &str, deployment: &str) -> String {
    let digest = crate::crypto::sha256_hex(format!("guichet deployment\0{deployment}").as_bytes());
    format!("{prefix}{}:", &digest[..16])
}

pub struct RedisStore {
    client: Client,
    /// Created on first use, inside the runtime that serves requests.
    manager: OnceLock<ConnectionManager>,
    prefix: String,
    connect_timeout: Duration,
    command_timeout: Duration,
    idle: Duration,
    absolute: Duration,
    interval: Duration,
    login_timeout: Duration,
    builder: SessionBuilder,
    /// Derived data per session, keyed by session key, valid for one version stamp.
    local: Cache<SessionKey, (u64, Arc<Session>)>,
    touch: Script,
    /// Scrubbed from error messages.
    password: Option<String>,
}

impl RedisStore {
    /// Prepares the store; connects lazily on first use (guichet starts even if Redis is
    /// down, and `/readyz` says so).
    /// `deployment` is the public URL: it scopes every key ([`deployment_prefix`]).
    pub fn new(
        session: &SessionConfig,
        redis: &RedisConfig,
        deployment: &str,
        builder: SessionBuilder,
    ) -> Result<RedisStore, StoreError> {
        let url = redis.url.expose().trim();
        let password = url::Url::parse(url)
            .ok()
            .and_then(|u| u.password().map(String::from));
        let scrub = |e: redis::RedisError| scrubbed(&e.to_string(), password.as_deref());
        let client = match &redis.ca_file {
            None => Client::open(url).map_err(|e| StoreError(scrub(e)))?,
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| {
                    StoreError(format!("cannot read {}: {}", path.display(), e.kind()))
                })?;
                let certs = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem),
                };
                Client::build_with_tls(url, certs).map_err(|e| StoreError(scrub(e)))?
            }
        };
        Ok(RedisStore {
            client,
            manager: OnceLock::new(),
            prefix: deployment_prefix(&redis.key_prefix, deployment),
            connect_timeout: redis.connect_timeout,
            command_timeout: redis.command_timeout,
            idle: session.idle_timeout,
            absolute: session.absolute_timeout,
            interval: touch_interval(session.idle_timeout),
            login_timeout: session.login_timeout,
            builder,
            local: Cache::builder()
                .max_capacity(session.max_sessions)
                .time_to_idle(session.idle_timeout)
                .time_to_live(session.absolute_timeout)
                .build(),
            touch: Script::new(TOUCH),
            password,
        })
    }

    fn conn(&self) -> Result<ConnectionManager, StoreError> {
        if let Some(m) = self.manager.get() {
            return Ok(m.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.command_timeout))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(100))
            .set_max_delay(Duration::from_secs(1));
        let made = ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            .map_err(|e| self.error(e))?;
        // Two first requests may race: one manager wins, the other is dropped unused.
        Ok(self.manager.get_or_init(|| made).clone())
    }

    fn error(&self, e: redis::RedisError) -> StoreError {
        StoreError(format!(
            "redis: {}",
            scrubbed(&e.to_string(), self.password.as_deref())
        ))
    }

    /// Runs one operation with the store's time bound.
    async fn run<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        match tokio::time::timeout(self.connect_timeout + self.command_timeout, op).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.error(e)),
            Err(_) => Err(StoreError("redis: timed out".into())),
        }
    }

    fn session_key(&self, key: &SessionKey) -> String {
        format!("{}s:{}", self.prefix, key.hex())
    }

    fn login_key(&self, state: &str) -> String {
        format!(
            "{}l:{}",
            self.prefix,
            crate::crypto::sha256_hex(state.as_bytes())
        )
    }

    fn index_key(&self, ik: &[u8; 32]) -> String {
        format!("{}i:{}", self.prefix, hex::encode(ik))
    }

    fn token_key(&self, id: &str) -> String {
        format!(
            "{}j:{}",
            self.prefix,
            crate::crypto::sha256_hex(id.as_bytes())
        )
    }

    /// Milliseconds the stored session should live: until the idle limit (plus one write-back
    /// interval, as activity is written back late) or the absolute limit, whichever is first.
    fn ttl_ms(&self, record: &SessionRecord, last_seen: u64, now: u64) -> u64 {
        let absolute_end = record.created_at.saturating_add(self.absolute.as_secs());
        let idle_end = last_seen
            .saturating_add(self.idle.as_secs())
            .saturating_add(self.interval.as_secs());
        absolute_end
            .min(idle_end)
            .saturating_sub(now)
            .saturating_mul(1000)
            .max(1)
    }

    /// Reads and decodes the record of a session whose version Redis just gave.
    async fn load(
        &self,
        conn: &mut ConnectionManager,
        key: &SessionKey,
        version: u64,
        seen: Option<u64>,
    ) -> Result<Option<Arc<Session>>, StoreError> {
        let raw: Option<Vec<u8>> = self
            .run(
                redis::cmd("HGET")
                    .arg(self.session_key(key))
                    .arg("rec")
                    .query_async(conn),
            )
            .await?;
        let Some(raw) = raw else { return Ok(None) };
        let record: SessionRecord = match serde_json::from_slice(&raw) {
            Ok(r) => r,
            Err(e) => {
                // Not this version's format: treated as no session (it expires by its TTL).
                tracing::warn!(session = ?key, error = %e, "undecodable session record ignored");
                return Ok(None);
            }
        };
        let last_seen = seen.unwrap_or(record.created_at);
        let session = Arc::new(self.builder.build(key, record, last_seen));
        self.local.insert(*key, (version, session.clone()));
        Ok(Some(session))
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

#[async_trait]
impl SessionStore for RedisStore {
    async fn get(&self, key: &SessionKey) -> Result<Option<Arc<Session>>, StoreError> {
        let mut conn = self.conn()?;
        let (version, seen): (Option<u64>, Option<u64>) = self
            .run(
                redis::cmd("HMGET")
                    .arg(self.session_key(key))
                    .arg("v")
                    .arg("seen")
                    .query_async(&mut conn),
            )
            .await?;
        let Some(version) = version else {
            self.local.invalidate(key);
            return Ok(None);
        };
        if let Some((cached, session)) = self.local.get(key) {
            if cached == version {
                if let Some(seen) = seen {
                    session.observe(seen);
                }
                return Ok(Some(session));
            }
        }
        self.load(&mut conn, key, version, seen).await
    }

    async fn insert(&self, key: SessionKey, session: Arc<Session>) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let record = &session.record;
        let json = serde_json::to_vec(record)
            .map_err(|e| StoreError(format!("cannot encode the session: {e}")))?;
        let version = u64::from_le_bytes(crate::crypto::random_bytes::<8>());
        let seen = session.last_seen();
        let skey = self.session_key(&key);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("HSET")
            .arg(&skey)
            .arg("v")
            .arg(version)
            .arg("seen")
            .arg(seen)
            .arg("rec")
            .arg(json)
            .ignore()
            .cmd("PEXPIRE")
            .arg(&skey)
            .arg(self.ttl_ms(record, seen, now()))
            .ignore();
        let absolute_ms = u64::try_from(self.absolute.as_millis()).unwrap_or(u64::MAX);
        for ik in Match::keys_of(record) {
            let ikey = self.index_key(&ik);
            pipe.cmd("SADD")
                .arg(&ikey)
                .arg(key.hex())
                .ignore()
                .cmd("PEXPIRE")
                .arg(&ikey)
                .arg(absolute_ms)
                .ignore();
        }
        self.run(pipe.query_async::<()>(&mut conn)).await?;
        self.local.insert(key, (version, session));
        Ok(())
    }

    async fn remove(&self, key: &SessionKey) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        self.local.invalidate(key);
        self.run(
            redis::cmd("DEL")
                .arg(self.session_key(key))
                .query_async::<()>(&mut conn),
        )
        .await
    }

    async fn touch(&self, key: &SessionKey, session: &Session) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let seen = session.last_seen();
        let ttl = self.ttl_ms(&session.record, seen, now());
        let mut invocation = self.touch.key(self.session_key(key));
        invocation.arg(seen).arg(ttl);
        self.run(invocation.invoke_async::<i64>(&mut conn))
            .await
            .map(|_| ())
    }

    async fn put_login(&self, state: &str, login: LoginState) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let json = serde_json::to_vec(&login)
            .map_err(|e| StoreError(format!("cannot encode the login state: {e}")))?;
        let ttl = u64::try_from(self.login_timeout.as_millis()).unwrap_or(u64::MAX);
        self.run(
            redis::cmd("SET")
                .arg(self.login_key(state))
                .arg(json)
                .arg("PX")
                .arg(ttl)
                .query_async::<()>(&mut conn),
        )
        .await
    }

    async fn take_login(&self, state: &str) -> Result<Option<LoginState>, StoreError> {
        let mut conn = self.conn()?;
        let raw: Option<Vec<u8>> = self
            .run(
                redis::cmd("GETDEL")
                    .arg(self.login_key(state))
                    .query_async(&mut conn),
            )
            .await?;
        Ok(raw.and_then(|r| match serde_json::from_slice(&r) {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!(error = %e, "undecodable login state ignored");
                None
            }
        }))
    }

    async fn remove_matching(&self, provider: &str, m: Match<'_>) -> Result<u64, StoreError> {
        let mut conn = self.conn()?;
        let ikey = self.index_key(&m.index_key(provider));
        let members: Vec<String> = self
            .run(redis::cmd("SMEMBERS").arg(&ikey).query_async(&mut conn))
            .await?;
        let keys: Vec<SessionKey> = members
            .iter()
            .filter_map(|m| {
                let bytes = hex::decode(m).ok()?;
                Some(SessionKey(bytes.try_into().ok()?))
            })
            .collect();
        if members.is_empty() {
            return Ok(0);
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        if !keys.is_empty() {
            let mut del = redis::cmd("DEL");
            for k in &keys {
                del.arg(self.session_key(k));
            }
            pipe.add_command(del);
        }
        pipe.cmd("SREM").arg(&ikey).arg(&members).ignore();
        let deleted: Vec<u64> = self.run(pipe.query_async(&mut conn)).await?;
        for k in &keys {
            self.local.invalidate(k);
        }
        Ok(deleted.first().copied().unwrap_or(0))
    }

    async fn remember_once(&self, id: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        let ttl = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let set: Option<String> = self
            .run(
                redis::cmd("SET")
                    .arg(self.token_key(id))
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl)
                    .query_async(&mut conn),
            )
            .await?;
        Ok(set.is_some())
    }

    async fn forget(&self, id: &str) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        self.run(
            redis::cmd("DEL")
                .arg(self.token_key(id))
                .query_async::<()>(&mut conn),
        )
        .await
    }

    async fn ready(&self) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        self.run(redis::cmd("PING").query_async::<String>(&mut conn))
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
