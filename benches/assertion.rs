//! The identity assertion on the request path: what an authenticated request costs with the
//! per-session cached assertion (a header copy) against signing one per request (what R16
//! forbids). `cargo bench --bench assertion`. Figures, never pass/fail.

mod common;

use common::{browser_request, config, identity};
use criterion::{criterion_group, criterion_main, Criterion};
use guichet::assertion::Signer;
use guichet::hygiene::Hygiene;
use guichet::session::cookies::CookieNames;
use guichet::session::headers::SessionHeaders;
use guichet::session::{SessionKey, SessionRecord};
use guichet::vocab::Level;
use guichet::vocab::ProfileId;
use std::hint::black_box;

fn benches(c: &mut Criterion) {
    let cfg = config();
    let signer = Signer::new(&cfg.headers.assertion).expect("signer");
    let hygiene = Hygiene::new(&cfg, &CookieNames::new(true));
    let record = SessionRecord {
        provider: "fc".into(),
        identity: identity(),
        level: Some(Level::Low),
        created_at: 0,
        id_token: "".into(),
        sid: None,
        landing: None,
    };
    let key = SessionKey([42; 32]);
    let headers = SessionHeaders::build(&record, &key, &cfg.headers);
    let payload = headers
        .payload(&key, &record, ProfileId(0), &cfg.headers)
        .expect("profile");
    let now = guichet::session::now();
    let peer = Some("192.0.2.10".parse().expect("ip"));
    let template = browser_request();

    c.bench_function("assertion: cached (per request)", |b| {
        b.iter(|| {
            headers
                .assertion(
                    &key,
                    &record,
                    ProfileId(0),
                    &signer,
                    &cfg.headers,
                    black_box(now),
                )
                .expect("assertion")
        })
    });
    c.bench_function("assertion: signed (per request)", |b| {
        b.iter(|| signer.sign(black_box(&payload), now).expect("signature"))
    });

    // The whole identity step of proxy.rs, both ways.
    let step = |sign_each_time: bool| {
        let mut req = template.clone();
        let ip = hygiene.client_ip(peer, &req.headers);
        hygiene.strip_incoming(&mut req);
        let assertion = if sign_each_time {
            signer.sign(&payload, now).expect("signature").value
        } else {
            headers
                .assertion(&key, &record, ProfileId(0), &signer, &cfg.headers, now)
                .expect("assertion")
        };
        hygiene.strip_own_cookies(&mut req);
        hygiene
            .inject(&mut req, headers.block(ProfileId(0)), Some(&assertion))
            .expect("inject");
        hygiene.set_forwarding(&mut req, ip).expect("forwarding");
        req
    };
    c.bench_function("identity step, cached assertion", |b| {
        b.iter(|| step(false))
    });
    c.bench_function("identity step, signing each request", |b| {
        b.iter(|| step(true))
    });
    c.bench_function("request header clone alone (pingora does it)", |b| {
        b.iter(|| black_box(&template).clone())
    });
    // The parts of the step.
    let incoming = browser_request();
    c.bench_function("part: client ip + strip incoming", |b| {
        b.iter(|| {
            let mut req = incoming.clone();
            let ip = hygiene.client_ip(peer, &req.headers);
            hygiene.strip_incoming(&mut req);
            (ip, req)
        })
    });
    c.bench_function("part: clone + strip own cookies", |b| {
        b.iter(|| {
            let mut req = incoming.clone();
            hygiene.strip_own_cookies(&mut req);
            req
        })
    });
    let assertion = headers
        .assertion(&key, &record, ProfileId(0), &signer, &cfg.headers, now)
        .expect("assertion");
    c.bench_function("part: clone + inject identity block and assertion", |b| {
        b.iter(|| {
            let mut req = incoming.clone();
            hygiene
                .inject(&mut req, headers.block(ProfileId(0)), Some(&assertion))
                .expect("inject");
            req
        })
    });
    c.bench_function("part: clone + forwarding headers", |b| {
        b.iter(|| {
            let mut req = incoming.clone();
            hygiene.set_forwarding(&mut req, peer).expect("forwarding");
            req
        })
    });
}

criterion_group!(assertion, benches);
criterion_main!(assertion);
