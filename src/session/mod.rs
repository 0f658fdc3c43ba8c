//! Sessions: what a logged-in citizen's cookie points to, the pre-auth login state between
//! the redirect to the provider and the callback, and the store trait both live behind
//! (in this process: [`memory`]; shared by several replicas: [`redis`]).
//!
//! Invariants:
//! - The cookie holds 256 random bits; stores are keyed by their SHA-256 ([`SessionKey`]),
//!   so a dump of the store gives no usable cookie.
//! - A login state is taken at most once ([`SessionStore::take_login`] is atomic).
//! - Expiry is decided here ([`Session::expired`]) and the caller deletes what is expired;
//!   stores also end sessions by themselves past the idle and absolute limits (a sweep), and
//!   report every session they end by themselves to [`Notices`] (the evidence log), with its
//!   reason: expiry, the per-citizen cap, a full memory store.
//! - One citizen (provider + `sub`) holds at most `max_sessions_per_citizen` live sessions: a
//!   login past it ends the oldest ([`EndReason::TooManySessions`]).
//! - Activity is written back at most once per [`touch_interval`], never per request.
//! - Only the [`SessionRecord`] is stored; what is derived from it (the identity header
//!   block...) is built by one [`SessionBuilder`], once per session and process.
//! - The store is the authority on whether a session exists: a session deleted on one replica
//!   is refused by every other within a second (Redis: [`redis`]'s cache and invalidation
//!   channel). Back-channel logout finds sessions through an index by provider + `sid` and
//!   provider + `sub` ([`Match`]).
//! - `Debug` of a session shows no token and no personal data.
//!
//! # Design notes, and the tests that guard each rule
//!
//! ## `src/session/`
//! `mod.rs`: session record, expiry, login state, the `SessionStore` trait,
//! [`SessionBuilder`] (the one place derived data such as the header block is made, at login and
//! when a replica first reads a record), [`Match`] (back-channel index keys);
//! `memory/`: the memory store (live sessions in a sharded table
//! with the back-channel index, `sessions.rs`; login states and
//! logout token ids in moka caches); `id_token.rs`: the id_token kept
//! for the logout hint, held compactly;
//! `redis/`: the Redis store (key layout and what is sealed in its
//! module doc; `link.rs`: one server, or the primary Sentinel
//! names, followed across failovers; `scripts.rs`: the Lua that
//! writes activity back and ends sessions);
//! `seal.rs`: AES-256-GCM sealing of Redis records bound to where they
//! are stored, keyed index names, key rotation;
//! `cookies.rs`: cookie names and attributes. Stores report what they
//! do by themselves ([`Notices`]: sessions ended by a sweep, the per-citizen cap, a full memory
//! store; records refused) to the evidence log and metrics (`gateway::store_notices`).
//! docs/replicas.md is the operator's side.
//!
//! **Invariants.**
//! - Every Redis key is scoped to the deployment (a tag from its public URL after the prefix):
//!   staging and production sharing one Redis and one prefix never open each other's sessions
//!   (`tests/hostile_client.rs::a_session_cookie_from_another_deployment_opens_nothing`,
//!   `redis::tests::each_deployment_gets_its_own_key_space`).
//! - Store keys are SHA-256 of the cookie; cookies are 256 random bits; nothing in Redis names a
//!   cookie, a state, a `sub` or a `sid` in clear
//!   (`tests/redis_store.rs::back_channel_index_token_ids_and_login_states`,
//!   `tests/redis_sessions.rs::login_on_one_replica_holds_on_the_other_and_logout_on_either_ends_it`).
//! - Every record in Redis (session, login state, index entry) is sealed, bound to the
//!   deployment, key and field; a dump shows no personal data and no token
//!   (`tests/redis_sessions.rs::a_redis_dump_shows_no_personal_data_and_no_token`); a record
//!   altered, moved or sealed with another key opens nothing, is reported and not deleted
//!   (`seal::tests::altered_copied_or_foreign_records_do_not_open`,
//!   `tests/redis_store.rs::{records_are_sealed_and_altered_moved_or_foreign_ones_are_refused,
//!   login_states_and_index_entries_are_sealed_where_they_are_stored}`,
//!   `tests/redis_sessions.rs::a_record_altered_or_copied_in_redis_opens_nothing_and_is_in_the_evidence_log`);
//!   the first key seals, all open (`seal::tests::rotation_the_first_key_seals_every_key_opens`);
//!   the Redis store does not start without keys
//!   (`config::tests::sentinels_plaintext_and_sealing_keys_are_checked`).
//! - With Sentinel, guichet writes only through a connection whose server answered `ROLE` as
//!   primary, drops it when it breaks, times out or answers `READONLY`/`EXECABORT`, and fails
//!   closed while no primary is known; sessions already replicated survive a SIGKILLed or
//!   handed-over primary on every replica
//!   (`tests/redis_failover.rs::{sessions_survive_a_killed_primary_and_the_old_primary_returns_as_a_replica,
//!   a_graceful_failover_loses_no_session_and_writes_go_to_the_new_primary,
//!   sentinels_and_primary_over_tls_with_passwords, every_write_a_replica_refuses_is_recognised}`). Plain `redis://` to a remote host needs
//!   `redis_allow_plaintext` (`config::tests::sentinels_plaintext_and_sealing_keys_are_checked`).
//! - One citizen holds at most `max_sessions_per_citizen` sessions, the oldest ended first with
//!   an evidence line (`sessions::tests::one_citizen_cannot_crowd_out_the_others`,
//!   `tests/redis_store.rs::one_citizen_is_capped_and_the_index_holds_only_live_sessions`,
//!   `tests/session_expiry.rs::one_citizen_is_capped_*`); the Redis index loses an entry when
//!   its session ends, whatever ends it (same tests,
//!   `tests/redis_store.rs::every_replica_sweeps_and_each_expired_session_is_ended_once`).
//! - Every session end is in the evidence log once with its reason, in both stores, idle
//!   expiry nobody sees included (a sweep: `tests/session_expiry.rs::idle_expiry_nobody_sees_is_recorded_*`,
//!   `sessions::tests::the_sweep_and_eviction_report_why_each_session_ended`).
//! - A login state is taken once, on any replica (`memory::tests::login_state_is_single_use`,
//!   `tests/login_security.rs::replayed_state_is_refused`,
//!   `tests/redis_sessions.rs::login_started_on_one_replica_is_finished_by_the_other`).
//! - The store is the authority on existence: a session deleted on one replica is refused by the
//!   others at the next request, whatever they cached
//!   (`tests/redis_store.rs::redis_is_the_authority_and_derived_data_is_cached_per_version`,
//!   `tests/redis_sessions.rs::login_on_one_replica_holds_on_the_other_and_logout_on_either_ends_it`).
//!   Derived data is reused only for the same version stamp (same test).
//! - Idle and absolute limits hold on every request, activity slides only the idle one, expired
//!   sessions are gone from the store (`tests/session_expiry.rs::*`, both stores;
//!   `session::tests::idle_and_absolute_expiry`).
//! - Activity is written back at most once per `touch_interval`
//!   (`session::tests::touch_writes_back_at_most_once_per_interval`,
//!   `tests/redis_sessions.rs::activity_is_written_back_at_most_once_per_interval_and_keys_expire`)
//!   and a write-back never resurrects a deleted session
//!   (`tests/redis_store.rs::a_late_write_back_never_resurrects_a_deleted_session`).
//! - Store errors are bounded in time and delete nothing; Redis coming back needs no restart
//!   (`tests/redis_store.rs::an_unreachable_or_untrusted_redis_is_an_error_within_the_time_bound`,
//!   `tests/redis_sessions.rs::redis_outage_fails_closed_then_service_resumes_with_the_same_sessions`).
//! - Login states in memory are bounded by their size ([`LoginState::weight`]: a kept form
//!   counts its bytes), not their number
//!   (`memory::tests::kept_forms_count_in_the_bound_of_login_states_by_their_size`).
//! - The memory store and its index are bounded; an insert past `max_sessions` evicts an expired
//!   or the least recently active session of a sample taken at a random place, never the one
//!   inserted (`memory::tests::bounded_store_evicts_instead_of_growing`,
//!   `sessions::tests::{bounded_store_evicts_instead_of_growing, eviction_samples_start_at_random}`); expired sessions leave the
//!   store and the index by themselves
//!   (`sessions::tests::expired_sessions_are_swept_with_their_index_entries`); back-channel matches stay within
//!   one provider (`memory::tests::back_channel_matches_by_sid_or_by_sub_within_one_provider`,
//!   `tests/redis_store.rs::back_channel_index_token_ids_and_login_states`).
//! - A new session id at every login and the previous one deleted
//!   (`tests/login_flow.rs::each_login_gets_a_new_session_id_and_the_old_one_dies`).
//! - The Redis password never prints (`config::tests::redis_store_settings_are_checked_and_its_password_never_prints`,
//!   `redis::tests::passwords_are_scrubbed_from_messages`,
//!   `tests/redis_sessions.rs::rediss_with_a_private_ca_and_a_password_kept_out_of_logs_and_check`).
//!
//! **Never**: print a token in `Debug`; store derived data (header block, assertion) in Redis;
//! delete a session because the store failed or a record did not open; write anything to Redis
//! unsealed but numbers and hashes; generate a sealing key per process.

pub mod cookies;
pub mod headers;
pub mod id_token;
pub mod logout_hint;
pub mod memory;
pub mod redis;
pub mod seal;

use crate::forms::KeptForm;
use crate::identity::Identity;
use crate::vocab::Level;
use async_trait::async_trait;
use headers::SessionHeaders;
pub use id_token::IdToken;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The store key of a session: SHA-256 of the cookie value.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionKey(pub [u8; 32]);

impl SessionKey {
    /// Accepts only cookie values guichet could have issued (43 base64url characters).
    pub fn from_cookie(value: &str) -> Option<SessionKey> {
        crate::crypto::is_token(value).then(|| SessionKey(crate::crypto::sha256(value.as_bytes())))
    }

    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionKey({}..)", &self.hex()[..8])
    }
}

/// What is stored for a session (and serialized by stores that leave the process).
#[derive(Clone, Serialize, Deserialize)]
pub struct SessionRecord {
    pub provider: String,
    pub identity: Identity,
    /// Level proven at login (from the id_token's `acr`).
    pub level: Option<Level>,
    pub created_at: u64,
    /// Kept for RP-initiated logout (`id_token_hint`), compactly. Never logged, never sent
    /// upstream.
    pub id_token: IdToken,
    /// The provider's session id, for back-channel logout.
    pub sid: Option<String>,
    /// Where the login that made this session was going (`return_to`), when not `/`: a
    /// stale callback (Back to the provider, a reopened callback URL) with this live session
    /// lands there instead of on a login error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landing: Option<Box<str>>,
}

impl fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRecord")
            .field("provider", &self.provider)
            .field("level", &self.level)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// Why a session is no longer valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    Idle,
    Absolute,
}

impl Expiry {
    pub fn as_str(self) -> &'static str {
        match self {
            Expiry::Idle => "idle_timeout",
            Expiry::Absolute => "absolute_timeout",
        }
    }
}

/// Why a store ended a session by itself (no request asked for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// Past its idle or absolute limit, found by a sweep.
    Expired(Expiry),
    /// The citizen's oldest session, ended by a new login past `max_sessions_per_citizen`.
    TooManySessions,
    /// The memory store is full (`max_sessions`): the least recently active of a sample.
    StoreFull,
}

impl EndReason {
    /// The evidence log's `event`: expiry is `session_expired` wherever it is found.
    pub fn event(self) -> &'static str {
        match self {
            EndReason::Expired(_) => "session_expired",
            _ => "session_ended",
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            EndReason::Expired(e) => e.as_str(),
            EndReason::TooManySessions => "too_many_sessions",
            EndReason::StoreFull => "store_full",
        }
    }
}

/// What a store reports for the evidence log and metrics: sessions it ended by itself, and
/// records it refused to open (sealed records altered, moved or sealed with an unknown key:
/// `kind` is `session`, `login_state` or `index_entry`).
pub enum Notice<'a> {
    Ended(&'a SessionRecord, EndReason),
    Refused {
        kind: &'static str,
        why: &'static str,
    },
}

/// Where a store sends its [`Notice`]s (built by the server with the evidence log).
#[derive(Clone)]
pub struct Notices(Arc<NoticeFn>);

type NoticeFn = dyn Fn(Notice<'_>) + Send + Sync;

impl Notices {
    pub fn new(f: impl Fn(Notice<'_>) + Send + Sync + 'static) -> Self {
        Notices(Arc::new(f))
    }

    /// Notices nobody reads (tests, benchmarks).
    pub fn none() -> Self {
        Notices::new(|_| {})
    }

    pub fn ended(&self, record: &SessionRecord, why: EndReason) {
        (self.0)(Notice::Ended(record, why))
    }

    pub fn refused(&self, kind: &'static str, why: &'static str) {
        (self.0)(Notice::Refused { kind, why })
    }
}

/// How often a session's activity is written back to the store: a twentieth of the idle
/// timeout, between 1 s and 60 s. A replica that did not see the latest activity may
/// therefore expire a session up to this much early.
pub fn touch_interval(idle: Duration) -> Duration {
    (idle / 20).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

/// A live session: the record, its last activity, and what it sends upstream (derived from
/// the record by the [`SessionBuilder`], never stored: header blocks and cached assertions).
pub struct Session {
    key: SessionKey,
    pub record: SessionRecord,
    last_seen: AtomicU64,
    /// Order of creation in this process: breaks ties of `record.created_at` (a second), so
    /// that "the oldest" is exact for the memory store's per-citizen cap.
    born: u64,
    pub headers: SessionHeaders,
}

/// The next [`Session::born`].
static BORN: AtomicU64 = AtomicU64::new(0);

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("record", &self.record)
            .field("last_seen", &self.last_seen())
            .finish_non_exhaustive()
    }
}

impl Session {
    pub fn new(
        key: SessionKey,
        record: SessionRecord,
        last_seen: u64,
        headers: SessionHeaders,
    ) -> Session {
        Session {
            key,
            record,
            last_seen: AtomicU64::new(last_seen),
            born: BORN.fetch_add(1, Ordering::Relaxed),
            headers,
        }
    }

    /// Order of creation of the sessions built by this process (later is larger).
    pub fn born(&self) -> u64 {
        self.born
    }

    /// The store key this session was built for.
    pub fn key(&self) -> &SessionKey {
        &self.key
    }

    pub fn last_seen(&self) -> u64 {
        self.last_seen.load(Ordering::Relaxed)
    }

    /// Is the session past its idle or absolute limit at `now`?
    pub fn expired(&self, now: u64, idle: Duration, absolute: Duration) -> Option<Expiry> {
        if now >= self.record.created_at.saturating_add(absolute.as_secs()) {
            Some(Expiry::Absolute)
        } else if now >= self.last_seen().saturating_add(idle.as_secs()) {
            Some(Expiry::Idle)
        } else {
            None
        }
    }

    /// The signed assertion for a route profile (see [`SessionHeaders::assertion`]): the cached
    /// one while fresh, its claims made from this session's record when it must be signed.
    pub fn assertion(
        &self,
        profile: crate::vocab::ProfileId,
        signer: &crate::assertion::Signer,
        cfg: &crate::config::HeaderConfig,
        now: u64,
    ) -> Result<http::HeaderValue, crate::assertion::AssertionError> {
        self.headers
            .assertion(&self.key, &self.record, profile, signer, cfg, now)
    }

    /// Takes into account activity recorded elsewhere (another replica's write-back).
    pub fn observe(&self, last_seen: u64) {
        self.last_seen.fetch_max(last_seen, Ordering::Relaxed);
    }

    /// Records activity. Returns true when the stored copy should be refreshed: activity is
    /// only written back once per `interval`, never on every request.
    pub fn touch(&self, now: u64, interval: Duration) -> bool {
        let seen = self.last_seen();
        if now >= seen.saturating_add(interval.as_secs().max(1)) {
            self.last_seen
                .compare_exchange(seen, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        } else {
            false
        }
    }
}

/// Everything the callback needs to finish a login it did not start (another replica may
/// have started it), keyed by `state`.
#[derive(Clone, Serialize, Deserialize)]
pub struct LoginState {
    pub provider: String,
    pub nonce: String,
    pub pkce_verifier: Option<String>,
    pub return_to: String,
    pub level: Option<Level>,
    /// SHA-256 (hex) of the pre-auth cookie of the browser that started the login.
    pub binding: String,
    pub created_at: u64,
    /// This state was sent with an RP-initiated logout, not a login.
    #[serde(default)]
    pub logout: bool,
    /// A page asked for this level (step-up), rather than the provider's default.
    #[serde(default)]
    pub step_up: bool,
    /// A form kept across this login (`preserve_post`, [`crate::forms`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<FormLink>,
}

/// How a login state relates to a kept form.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FormLink {
    /// A login that carries the form kept under this id: after the callback the browser goes
    /// to the replay page with it.
    Id(String),
    /// The record of the form itself, stored under [`form_key`] of its id.
    Kept(Box<KeptForm>),
}

/// The key a kept form is stored under with [`SessionStore::put_login`]: never a `state`
/// (states are 64 hex digits and the callback takes nothing else).
pub fn form_key(id: &str) -> String {
    format!("form:{id}")
}

impl LoginState {
    /// Bytes this state takes in the memory store, for its bound: about 1 KiB for a login,
    /// plus the kept form's fields.
    pub fn weight(&self) -> usize {
        const BASE: usize = 1024;
        match &self.form {
            Some(FormLink::Kept(f)) => BASE + f.weight(),
            _ => BASE,
        }
    }

    /// The kept form, if this is a kept form's record.
    pub fn kept_form(&self) -> Option<&KeptForm> {
        match &self.form {
            Some(FormLink::Kept(f)) => Some(f),
            _ => None,
        }
    }
}

impl fmt::Debug for LoginState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginState")
            .field("provider", &self.provider)
            .field("level", &self.level)
            .field("form", &self.kept_form())
            .finish_non_exhaustive()
    }
}

/// Builds a live [`Session`] from its store key and record: the one place where derived data
/// (identity header blocks and assertion caches, anything else computed once per session) is
/// made. The gateway uses it at login; stores that keep only records (Redis) use it when a
/// replica first sees a session.
#[derive(Clone)]
pub struct SessionBuilder(Arc<BuildFn>);

type BuildFn = dyn Fn(&SessionKey, SessionRecord, u64) -> Session + Send + Sync;

impl SessionBuilder {
    pub fn new(
        f: impl Fn(&SessionKey, SessionRecord, u64) -> Session + Send + Sync + 'static,
    ) -> Self {
        SessionBuilder(Arc::new(f))
    }

    /// The builder for a configuration: identity headers and assertion claims per `[headers]`
    /// (the key gives the assertion's `sid`).
    pub fn for_config(cfg: Arc<crate::config::Config>) -> Self {
        SessionBuilder::new(move |key, record, last_seen| {
            let headers = SessionHeaders::build(&record, key, &cfg.headers);
            Session::new(*key, record, last_seen, headers)
        })
    }

    /// A live session for `record` stored under `key`, last active at `last_seen`.
    pub fn build(&self, key: &SessionKey, record: SessionRecord, last_seen: u64) -> Session {
        (self.0)(key, record, last_seen)
    }
}

/// Which sessions a back-channel logout names: those of one provider session (`sid`), or all
/// of one citizen at one provider (`sub`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match<'a> {
    Sid(&'a str),
    Sub(&'a str),
}

impl Match<'_> {
    /// What identifies this match for `provider`: the provider, the kind and the value,
    /// separated so that kinds cannot collide. Stores keep only a hash of it (keyed, in Redis).
    pub fn message(&self, provider: &str) -> Vec<u8> {
        let (kind, value) = match self {
            Match::Sid(v) => ("sid", v),
            Match::Sub(v) => ("sub", v),
        };
        format!("{provider}\0{kind}\0{value}").into_bytes()
    }

    /// Index key of this match for `provider` in this process: SHA-256 of [`Match::message`].
    pub fn index_key(&self, provider: &str) -> [u8; 32] {
        crate::crypto::sha256(&self.message(provider))
    }

    /// The index keys a session is listed under.
    pub fn keys_of(record: &SessionRecord) -> Vec<[u8; 32]> {
        let mut keys = vec![Match::Sub(record.identity.sub()).index_key(&record.provider)];
        if let Some(sid) = &record.sid {
            keys.push(Match::Sid(sid).index_key(&record.provider));
        }
        keys
    }
}

/// A store that cannot answer, and why. Requests that need it fail closed. Messages name no
/// password (the Redis store scrubs them before it builds one).
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The store's settings cannot be used (at start: the Redis URLs, the sealing keys).
    #[error("session store unavailable: {0}")]
    Setup(String),
    /// Redis answered with an error, or the connection failed.
    #[error("session store unavailable: redis: {0}")]
    Redis(String),
    /// Redis did not answer within the store's time bound.
    #[error("session store unavailable: redis: timed out")]
    TimedOut,
    /// A record could not be encoded for the store (`what`: the session, the login state).
    #[error("session store unavailable: cannot encode the {what}: {reason}")]
    Encode { what: &'static str, reason: String },
    /// A session was handed to the store under a key it was not built for (a caller's bug).
    #[error("session store unavailable: session built for another key")]
    WrongKey,
}

/// Where sessions and login states live.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    async fn get(&self, key: &SessionKey) -> Result<Option<Arc<Session>>, StoreError>;
    /// [`SessionStore::get`] asking the authority itself, never a replica's cache (the
    /// periodic check of upgraded connections: its bound must not add the cache's).
    async fn get_confirmed(&self, key: &SessionKey) -> Result<Option<Arc<Session>>, StoreError> {
        self.get(key).await
    }
    async fn insert(&self, key: SessionKey, session: Arc<Session>) -> Result<(), StoreError>;
    /// Deletes a session; returns whether there was one to delete (so that an end is
    /// recorded once, whoever else ends it at the same moment).
    async fn remove(&self, key: &SessionKey) -> Result<bool, StoreError>;
    /// Persists the session's new `last_seen` (called at most once per refresh interval).
    /// Never brings back a session deleted in the meantime.
    async fn touch(&self, key: &SessionKey, session: &Session) -> Result<(), StoreError>;
    async fn put_login(&self, state: &str, login: LoginState) -> Result<(), StoreError>;
    /// Returns and deletes the login state in one step: a `state` works once.
    async fn take_login(&self, state: &str) -> Result<Option<LoginState>, StoreError>;
    /// Deletes every session of `provider` that `m` names (back-channel logout); returns how
    /// many were deleted.
    async fn remove_matching(&self, provider: &str, m: Match<'_>) -> Result<u64, StoreError>;
    /// Records a one-time token id (a logout token's `jti`) for `ttl`. Returns false if it was
    /// already recorded: the token is a replay.
    async fn remember_once(&self, id: &str, ttl: Duration) -> Result<bool, StoreError>;
    /// Forgets a recorded token id (its processing failed; the provider may send it again).
    async fn forget(&self, id: &str) -> Result<(), StoreError>;
    /// Ends the sessions past their limits that nobody asked for (reported to the store's
    /// [`Notices`]); called about once a second. Returns how many it ended.
    async fn sweep(&self) -> Result<usize, StoreError>;
    /// Can the store serve requests right now (for `/readyz`)?
    async fn ready(&self) -> Result<(), StoreError>;
    /// Sessions currently held, when the store can tell cheaply.
    fn active_sessions(&self) -> Option<u64>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn session(created: u64) -> Session {
        let claims = json!({"sub": "s"});
        let record = SessionRecord {
            provider: "fc".into(),
            identity: Identity::from_claims(&[claims.as_object().unwrap()]).unwrap(),
            level: Some(Level::Low),
            created_at: created,
            id_token: "secret.token.value".into(),
            sid: None,
            landing: None,
        };
        Session::new(
            SessionKey([1; 32]),
            record,
            created,
            SessionHeaders::default(),
        )
    }

    #[test]
    fn idle_and_absolute_expiry() {
        let s = session(1000);
        let idle = Duration::from_secs(60);
        let abs = Duration::from_secs(600);
        assert_eq!(s.expired(1059, idle, abs), None);
        assert_eq!(s.expired(1060, idle, abs), Some(Expiry::Idle));
        assert!(s.touch(1050, Duration::from_secs(10)));
        assert_eq!(s.expired(1100, idle, abs), None);
        assert_eq!(s.expired(1600, idle, abs), Some(Expiry::Absolute));
    }

    #[test]
    fn touch_writes_back_at_most_once_per_interval() {
        let s = session(1000);
        let every = Duration::from_secs(30);
        assert!(!s.touch(1010, every));
        assert!(s.touch(1030, every));
        assert!(!s.touch(1031, every));
        assert!(!s.touch(1059, every));
        assert!(s.touch(1060, every));
    }

    #[test]
    fn debug_output_has_no_token() {
        let s = session(1);
        assert!(!format!("{s:?}").contains("secret.token"));
    }

    #[test]
    fn session_key_only_from_wellformed_cookies() {
        assert!(SessionKey::from_cookie(&crate::crypto::random_token()).is_some());
        assert!(SessionKey::from_cookie("short").is_none());
        assert!(SessionKey::from_cookie(&"a".repeat(42).replace('a', "é")).is_none());
    }
}
