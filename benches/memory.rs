//! Memory per session: resident memory (RSS) of a process whose memory store holds N live
//! sessions, each built the way the gateway builds one after a FranceConnect login (record
//! with a distinct `sub`, `sid` and a 1 KiB id_token kept for the logout hint, header block,
//! assertion claims) and each having served one request (its assertion signed and cached).
//!
//! `cargo bench --bench memory` (N = 100000), `MEMORY_SESSIONS=1000000 cargo bench --bench
//! memory` for the headline figure; `make bench` runs it. Figures, never pass/fail.

mod common;

use common::config;
use guichet::assertion::Signer;
use guichet::config::{SessionConfig, StoreKind};
use guichet::identity::headers::{ProfileId, SessionHeaders};
use guichet::identity::Identity;
use guichet::policy::Level;
use guichet::session::memory::MemoryStore;
use guichet::session::{Session, SessionKey, SessionRecord, SessionStore};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Resident set size of this process, in KiB (Linux `/proc`).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The bench identity with its `sub` made unique to session `i`.
fn identity_of(base: &serde_json::Value, i: usize) -> Identity {
    let mut claims = base.clone();
    claims["sub"] = format!("{i:064x}v1").into();
    Identity::from_claims(&[claims.as_object().expect("object")]).expect("valid")
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing useful: run small.
    let n: usize = std::env::var("MEMORY_SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let cfg = config();
    let store_cfg = SessionConfig {
        store: StoreKind::Memory,
        idle_timeout: Duration::from_secs(1800),
        absolute_timeout: Duration::from_secs(43200),
        login_timeout: Duration::from_secs(600),
        max_sessions: n as u64,
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
    let store = MemoryStore::new(&store_cfg);
    let before = rss_kib();
    let started = Instant::now();
    let now = guichet::session::now();
    for i in 0..n {
        let token = guichet::crypto::random_token();
        let key = SessionKey::from_cookie(&token).expect("key");
        let record = SessionRecord {
            provider: "franceconnect".into(),
            identity: identity_of(&base, i),
            level: Some(Level::Low),
            created_at: now,
            // A FranceConnect v2 id_token (RS256) is about 1 KiB.
            id_token: format!("{:x}{}", i, "e".repeat(1000)),
            sid: Some(format!("{i:08x}-6f3b-4b5e-9d1c-2a7e5c0f1b3d")),
        };
        let headers = SessionHeaders::build(&record, &key, &cfg.headers);
        let session = Arc::new(Session::new(record, now, headers));
        session
            .headers
            .assertion(ProfileId::default(), &signer, now)
            .expect("assertion");
        rt.block_on(store.insert(key, session)).expect("insert");
    }
    store.sync();
    let after = rss_kib();
    let per = (after.saturating_sub(before)) as f64 * 1024.0 / n as f64;
    println!(
        "memory: {n} sessions in {:.1} s; RSS {before} KiB before, {after} KiB after: {per:.0} bytes per session ({:.2} GiB per million)",
        started.elapsed().as_secs_f64(),
        per * 1e6 / (1u64 << 30) as f64
    );
}
