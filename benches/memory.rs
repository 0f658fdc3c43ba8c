//! Memory per session: resident memory (RSS) of a process whose memory store holds N live
//! sessions, each built the way the gateway builds one after a FranceConnect login: a record
//! with a distinct `sub`, `sid` and a distinct ~1 KiB RS256 id_token (JWT-shaped, random
//! nonce and signature: nothing compresses better than a real one) kept for the logout hint,
//! and its derived header data ([`SessionHeaders::build`]), inserted into the [`MemoryStore`]
//! (its table slot and its two back-channel index entries included). RSS also counts the
//! allocator's overhead and slack, which is the point: it is what a deployment pays. Login
//! states, logout token ids and the process's fixed cost are outside the figure (measured
//! before the first session).
//!
//! The id_tokens are RS256 (FranceConnect allows it; the largest tokens); `MEMORY_ALG=ES256`
//! gives the smaller ES256 ones FranceConnect recommends. With the memory store the gateway
//! seals the id_token into the browser's logout cookie (`session::logout_hint`) instead of
//! keeping it: so does this bench (the token is made and sealed, the session keeps none).
//! `MEMORY_ID_TOKEN=1` keeps it in the session as before (what a Redis replica caches).
//!
//! By default no assertion is signed (a session that logged in and has not been forwarded a
//! request yet; signing costs tens of microseconds each). `MEMORY_SIGN=1` also signs and caches each
//! session's assertion (one request served), and the difference between the two runs is the
//! cost of a cached assertion per active session.
//!
//! `cargo bench --bench memory` (N = 100000), `MEMORY_SESSIONS=1000000 cargo bench --bench
//! memory` for the headline figure; `make bench` runs it. Figures, never pass/fail.

mod common;

use common::{config, rss_kib};
use guichet::assertion::Signer;
use guichet::config::{SessionConfig, StoreKind};
use guichet::identity::Identity;
use guichet::session::headers::SessionHeaders;
use guichet::session::memory::MemoryStore;
use guichet::session::{IdToken, Session, SessionKey, SessionRecord, SessionStore};
use guichet::vocab::Level;
use guichet::vocab::ProfileId;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A FranceConnect v2 id_token of session `i`: a header with a `kid`, the usual claims (its
/// `sub` and `sid`, a random `nonce`), a random (incompressible) signature of 256 bytes for
/// RS256, 64 for ES256.
fn id_token_of(i: usize, sub: &str, sid: &str, now: u64, es256: bool) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;
    let header = if es256 {
        r#"{"alg":"ES256","kid":"pkcs11:ES256:hsm-2024","typ":"JWT"}"#
    } else {
        r#"{"alg":"RS256","kid":"pkcs11:RS256:hsm-2024","typ":"JWT"}"#
    };
    let payload = serde_json::json!({
        "sub": sub, "auth_time": now, "acr": "eidas1", "nonce": guichet::crypto::random_hex32(),
        "aud": "6925fb8143c76eded44d32b40c0cb1006065f7f003de52712b78985704f39950",
        "exp": now + 60, "iat": now, "iss": "https://auth.franceconnect.gouv.fr/api/v2",
        "sid": sid, "idp_id": "fia1v2", "amr": ["pwd"], "jti": format!("{i:016x}"),
        "at_hash": "dGhlIGFjY2VzcyB0b2tlbiBoYXNo",
    });
    let mut signature = Vec::with_capacity(256);
    for _ in 0..if es256 { 2 } else { 8 } {
        signature.extend_from_slice(&guichet::crypto::random_bytes::<32>());
    }
    format!(
        "{}.{}.{}",
        B64.encode(header),
        B64.encode(payload.to_string()),
        B64.encode(signature)
    )
}

/// The bench identity with its `sub` made unique to session `i`.
fn identity_of(base: &serde_json::Value, sub: &str) -> Identity {
    let mut claims = base.clone();
    claims["sub"] = sub.into();
    Identity::from_claims(&[claims.as_object().expect("object")]).expect("valid")
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing useful: run small.
    let n: usize = std::env::var("MEMORY_SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let sign = std::env::var("MEMORY_SIGN").is_ok_and(|v| v == "1");
    let es256 = std::env::var("MEMORY_ALG").is_ok_and(|v| v == "ES256");
    let keep_id_token = std::env::var("MEMORY_ID_TOKEN").is_ok_and(|v| v == "1");
    let hints = guichet::session::logout_hint::HintSealer::new();
    let mut cookie_bytes = 0;
    let cfg = config();
    let store_cfg = SessionConfig {
        store: StoreKind::Memory,
        idle_timeout: Duration::from_secs(1800),
        absolute_timeout: Duration::from_secs(43200),
        login_timeout: Duration::from_secs(600),
        max_sessions: n as u64,
        max_sessions_per_citizen: 10,
        preserve_post_max_bytes: 65536,
    };
    let signer = Signer::new(&cfg.headers.assertion).expect("signer");
    let base = serde_json::json!({
        "sub": "", "given_name": "Jean-Philippe Marie", "family_name": "Lefèvre-Dubois",
        "birthdate": "1962-01-01", "gender": "male", "birthplace": "75056",
        "birthcountry": "99100", "email": "jp@example.fr", "acr": "eidas1", "idp_id": "fia1v2"
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let store = MemoryStore::new(&store_cfg, guichet::session::Notices::none());
    let before = rss_kib(std::process::id());
    let started = Instant::now();
    let now = guichet::session::now();
    let mut token_bytes = 0;
    for i in 0..n {
        let token = guichet::crypto::random_token();
        let key = SessionKey::from_cookie(&token).expect("key");
        let sub = format!("{i:064x}v1");
        let sid = format!("{i:08x}-6f3b-4b5e-9d1c-2a7e5c0f1b3d");
        let id_token = id_token_of(i, &sub, &sid, now, es256);
        token_bytes += id_token.len();
        let id_token = if keep_id_token {
            id_token.into()
        } else {
            // What the login does with the memory store: the browser gets it, sealed.
            cookie_bytes += hints.seal(&key, &id_token).map_or(0, |c| c.len());
            IdToken::default()
        };
        let record = SessionRecord {
            provider: "franceconnect".into(),
            identity: identity_of(&base, &sub),
            level: Some(Level::Low),
            created_at: now,
            id_token,
            sid: Some(sid),
            landing: None,
        };
        let headers = SessionHeaders::build(&record, &key, &cfg.headers);
        let session = Arc::new(Session::new(key, record, now, headers));
        if sign {
            session
                .assertion(ProfileId::default(), &signer, &cfg.headers, now)
                .expect("assertion");
        }
        rt.block_on(store.insert(key, session)).expect("insert");
    }
    store.sync();
    let after = rss_kib(std::process::id());
    let per = (after.saturating_sub(before)) as f64 * 1024.0 / n as f64;
    println!(
        "memory: {n} sessions ({}, {} id_tokens of {} bytes on average, {}) in {:.1} s; RSS {before} KiB before, {after} KiB after: {per:.0} bytes per session ({:.2} GiB per million)",
        if sign { "each with a signed assertion cached" } else { "no assertion signed yet" },
        if es256 { "ES256" } else { "RS256" },
        token_bytes / n.max(1),
        if keep_id_token {
            "kept in the session".to_string()
        } else {
            format!(
                "in the browser's logout cookie, {} bytes sealed",
                cookie_bytes / n.max(1)
            )
        },
        started.elapsed().as_secs_f64(),
        per * 1e6 / (1u64 << 30) as f64
    );
}
