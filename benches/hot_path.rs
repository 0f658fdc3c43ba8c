//! Micro-benchmarks of the pieces on an authenticated request's path:
//! cookie -> session key -> store lookup -> policy -> header strip + inject.
//! `cargo bench --bench hot_path`. Figures, never pass/fail.

use criterion::{criterion_group, criterion_main, Criterion};
use guichet::config::{HeaderConfig, HeaderEncoding, SessionConfig, StoreKind};
use guichet::identity::headers::HeaderBlock;
use guichet::identity::Identity;
use guichet::policy::{normalize_path, Access, Level, Policy, Route};
use guichet::proxy::strip_client_identity;
use guichet::session::memory::MemoryStore;
use guichet::session::{Session, SessionKey, SessionRecord, SessionStore};
use guichet::web::cookie_value;
use http::{HeaderMap, HeaderValue};
use pingora::http::RequestHeader;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

fn identity() -> Identity {
    let claims = serde_json::json!({
        "sub": "53ed7e08f2fcb14c2464576370556d1aa37afee022b6249ff44fb8a19a68b7a9v1",
        "given_name": "Jean-Philippe Marie", "family_name": "Lefèvre-Dubois",
        "birthdate": "1962-01-01", "gender": "male", "birthplace": "75056",
        "birthcountry": "99100", "email": "jp@example.fr", "acr": "eidas1", "idp_id": "fia1v2"
    });
    Identity::from_claims(&[claims.as_object().expect("object")]).expect("valid")
}

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
    };
    let store = MemoryStore::new(&cfg);
    let hcfg = HeaderConfig {
        prefix: "X-Pivot-".into(),
        encoding: HeaderEncoding::Percent,
    };
    let id = identity();
    let block = HeaderBlock::build(&id, "fc", &hcfg);
    let session = Arc::new(Session::new(
        SessionRecord {
            provider: "fc".into(),
            identity: id,
            level: Some(Level::Low),
            created_at: 0,
            id_token: String::new(),
            sid: None,
        },
        0,
        block,
    ));
    let key = SessionKey::from_cookie(&token).expect("key");
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
        },
        Route {
            prefix: "/api".into(),
            access: Access::Api,
            min_level: None,
            profile: ProfileId::default(),
        },
        Route {
            prefix: "/admin".into(),
            access: Access::Browser,
            min_level: Some(Level::High),
            profile: ProfileId::default(),
        },
    ]);
    c.bench_function("normalize path + policy match", |b| {
        b.iter(|| {
            let p = normalize_path(black_box("/dossiers/42/pieces")).expect("path");
            policy.route_for(&p).access
        })
    });

    let mut template = RequestHeader::build("GET", b"/dossiers/42", None).expect("request");
    for (k, v) in [
        ("host", "demarches.example.fr"),
        ("user-agent", "Mozilla/5.0"),
        ("accept", "text/html"),
        ("cookie", "lang=fr; guichet=x"),
    ] {
        template.append_header(k, v).expect("header");
    }
    c.bench_function("strip client identity + inject header block", |b| {
        b.iter(|| {
            let mut req = template.clone();
            strip_client_identity(&mut req, "x-pivot-", &["guichet", "guichet-login"]);
            for (n, v) in &session.headers.headers {
                req.append_header(n.clone(), v.clone()).expect("append");
            }
            req
        })
    });
}

criterion_group!(hot_path, benches);
criterion_main!(hot_path);
