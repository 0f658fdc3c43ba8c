//! Micro-benchmarks of the pieces on an authenticated request's path:
//! cookie -> session key -> store lookup -> policy -> header strip + inject.
//! `cargo bench --bench hot_path`. Figures, never pass/fail.

mod common;

use common::{browser_request, config, identity};
use criterion::{criterion_group, criterion_main, Criterion};
use guichet::assertion::Signer;
use guichet::config::Route;
use guichet::config::{SessionConfig, StoreKind};
use guichet::edge::path::normalize_path;
use guichet::hygiene::Hygiene;
use guichet::policy::Policy;
use guichet::session::cookies::CookieNames;
use guichet::session::headers::SessionHeaders;
use guichet::session::memory::MemoryStore;
use guichet::session::{Session, SessionKey, SessionRecord, SessionStore};
use guichet::vocab::ProfileId;
use guichet::vocab::{Access, Level};
use guichet::web::cookie_value;
use http::{HeaderMap, HeaderValue};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

fn benches(c: &mut Criterion) {
    let token = guichet::crypto::random_token();
    let mut headers = HeaderMap::new();
    headers.insert(
        "cookie",
        HeaderValue::from_str(&format!(
            "_ga=GA1.2.3; lang=fr; guichet={token}; theme=dark"
        ))
        .expect("ascii"),
    );
    c.bench_function("cookie parse + session key (sha256)", |b| {
        b.iter(|| {
            let v = cookie_value(black_box(&headers), "guichet").expect("cookie");
            SessionKey::from_cookie(v).expect("key")
        })
    });

    let cfg = SessionConfig {
        store: StoreKind::Memory,
        idle_timeout: Duration::from_secs(1800),
        absolute_timeout: Duration::from_secs(43200),
        login_timeout: Duration::from_secs(600),
        max_sessions: 1_000_000,
        max_sessions_per_citizen: 10,
        preserve_post_max_bytes: 65536,
    };
    let store = MemoryStore::new(&cfg, guichet::session::Notices::none());
    let gcfg = config();
    let key = SessionKey::from_cookie(&token).expect("key");
    let record = SessionRecord {
        provider: "fc".into(),
        identity: identity(),
        level: Some(Level::Low),
        created_at: 0,
        id_token: "".into(),
        sid: None,
        landing: None,
    };
    let headers = SessionHeaders::build(&record, &key, &gcfg.headers);
    let session = Arc::new(Session::new(key, record, 0, headers));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(store.insert(key, session.clone()))
        .expect("insert");
    c.bench_function("memory store lookup", |b| {
        b.iter(|| {
            rt.block_on(store.get(black_box(&key)))
                .expect("get")
                .expect("hit")
        })
    });

    let policy = Policy::new(&[
        Route {
            prefix: "/public".into(),
            access: Access::Public,
            min_level: None,
            profile: ProfileId::default(),
            preserve_post: false,
        },
        Route {
            prefix: "/api".into(),
            access: Access::Api,
            min_level: None,
            profile: ProfileId::default(),
            preserve_post: false,
        },
        Route {
            prefix: "/admin".into(),
            access: Access::Browser,
            min_level: Some(Level::High),
            profile: ProfileId::default(),
            preserve_post: false,
        },
    ]);
    c.bench_function("normalize path + policy match", |b| {
        b.iter(|| {
            let p = normalize_path(black_box("/dossiers/42/pieces")).expect("path");
            policy.route_for(&p).access
        })
    });

    // What proxy.rs does to an authenticated request (see benches/assertion.rs for the parts).
    let hygiene = Hygiene::new(&gcfg, &CookieNames::new(true));
    let signer = Signer::new(&gcfg.headers.assertion).expect("signer");
    let template = browser_request();
    let now = guichet::session::now();
    let peer = Some("192.0.2.10".parse().expect("ip"));
    c.bench_function("header hygiene + identity block + cached assertion", |b| {
        b.iter(|| {
            let mut req = template.clone();
            let ip = hygiene.client_ip(peer, &req.headers);
            hygiene.strip_incoming(&mut req);
            let assertion = session
                .assertion(ProfileId(0), &signer, &gcfg.headers, now)
                .expect("assertion");
            hygiene.strip_own_cookies(&mut req);
            let block = session.headers.block(ProfileId(0));
            hygiene
                .inject(&mut req, block, Some(&assertion))
                .expect("inject");
            hygiene.set_forwarding(&mut req, ip).expect("forwarding");
            req
        })
    });

    // The request id every request gets, and its header for the upstream.
    let ids = guichet::request_id::RequestIds::new();
    let mut upstream = browser_request();
    c.bench_function("request id + X-Request-Id header", |b| {
        b.iter(|| {
            let id = ids.next();
            upstream
                .insert_header(guichet::request_id::HEADER, id.header_value())
                .expect("header");
        })
    });
}

criterion_group!(hot_path, benches);
criterion_main!(hot_path);
