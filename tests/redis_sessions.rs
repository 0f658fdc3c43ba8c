//! Several replicas sharing one real Redis: a login on one replica holds on the other at
//! once, a logout or a back-channel logout within a second (each replica serves a session
//! Redis confirmed less than a second ago while its invalidation subscription is
//! known-good); a Redis outage fails closed and loses nothing.
//! The harness starts `redis-server` (installed by `make test`); these tests fail, with a
//! message saying so, when it is missing.

mod common;

use common::redis::{ended_everywhere_within_a_second, lookups_for, RedisServer};
use common::*;
use guichet::demo::citizens;
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

const BACKCHANNEL: &str = "http://schemas.openid.net/event/backchannel-logout";

async fn with_redis(redis: &RedisServer, session_extra: &str, provider_toml: &str) -> Harness {
    Harness::with(Setup {
        extra_toml: redis.session_toml(session_extra),
        provider_toml: provider_toml.into(),
        ..Setup::default()
    })
    .await
}

fn sub_of(h: &Harness, citizen: &str) -> String {
    citizens::find(citizen)
        .expect("citizen")
        .sub(h.stack.mock.client_id())
}

/// The `x-pivot-sub` the upstream received, from an echo body.
fn echoed_sub(body: &str) -> Option<String> {
    echoed_headers(body)
        .get("x-pivot-sub")
        .and_then(|v| v.as_str())
        .map(String::from)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_on_one_replica_holds_on_the_other_and_logout_on_either_ends_it() {
    let redis = RedisServer::start();
    let a = with_redis(&redis, "", "").await;
    let b_replica = a.replica("b").await;
    let b = a.browser();
    let landed = b.login(&a, "elodie", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    let cookie = landed.session_cookie();

    // The same cookie opens the session on replica B (cookies ignore ports).
    let r = b.get(&format!("{}/whoami", b_replica.url)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        echoed_sub(&r.text().await.unwrap()),
        Some(sub_of(&a, "elodie"))
    );

    // Both replicas have it cached (A since the login).
    let r = get_with_cookie(&format!("{}/whoami", a.url), &cookie).await;
    assert_eq!(r.status(), StatusCode::OK);

    // Logout on B...
    let r = b.get(&format!("{}/.guichet/logout", b_replica.url)).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let ended = Instant::now();
    assert!(location(&r).starts_with(&h_issuer(&a)), "{}", location(&r));
    // ...and the cookie, replayed on A or on B, opens nothing any more.
    ended_everywhere_within_a_second(&[&a.url, &b_replica.url], &cookie, ended).await;
    // Nothing in Redis names the cookie itself: keys are hashes.
    let value = cookie.split('=').nth(1).unwrap();
    assert!(!redis.keys("*").iter().any(|k| k.contains(value)));
    assert!(b_replica
        .gateway
        .audit()
        .iter()
        .any(|e| e["event"] == "logout" && e["reason"] == "rp_initiated"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_cache_drops_ended_sessions_and_fails_closed_without_its_channel() {
    let redis = RedisServer::start();
    let a = with_redis(&redis, "", "").await;
    let b_replica = a.replica("b").await;
    let cookie = a.browser().login(&a, "elodie", "/").await.session_cookie();
    let other = a.browser().login(&a, "ana", "/").await.session_cookie();
    // B serves repeated requests from its cache (once its subscription is known-good).
    let deadline = Instant::now() + Duration::from_secs(10);
    while lookups_for(&redis, &b_replica.url, &cookie, 10).await > 3 {
        assert!(Instant::now() < deadline, "B asks Redis at every request");
    }

    // The Redis user may no longer use the invalidation channel: B stops trusting its cache
    // and asks Redis at every request...
    let acl = |rule: &str| {
        let reply = redis.command(&format!("ACL SETUSER default {rule}"));
        assert_eq!(reply.as_deref(), Some("+OK\r\n"), "{rule}");
    };
    acl("resetchannels");
    let deadline = Instant::now() + Duration::from_secs(10);
    while lookups_for(&redis, &b_replica.url, &other, 5).await < 5 {
        assert!(Instant::now() < deadline, "B still answers from its cache");
    }
    // ...so a session deleted behind guichet's back (nothing announces it) is refused at once.
    let hashed = guichet::crypto::sha256_hex(other.split('=').nth(1).unwrap().as_bytes());
    let key = redis.keys(&format!("guichet:*:s:{hashed}"));
    assert_eq!(
        redis.command(&format!("DEL {}", key[0])).as_deref(),
        Some(":1\r\n")
    );
    let r = get_with_cookie(&format!("{}/whoami", b_replica.url), &other).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    // Logouts still work without the right to publish.
    let r = get_with_cookie(&format!("{}/.guichet/logout", a.url), &cookie).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let ended = Instant::now();
    ended_everywhere_within_a_second(&[&b_replica.url, &a.url], &cookie, ended).await;

    // Allowed again: the cache comes back by itself, and drops what ends.
    acl("allchannels");
    let fresh = a.browser().login(&a, "angela", "/").await.session_cookie();
    let deadline = Instant::now() + Duration::from_secs(10);
    while lookups_for(&redis, &b_replica.url, &fresh, 10).await > 3 {
        assert!(Instant::now() < deadline, "B's cache did not come back");
    }
    let r = get_with_cookie(&format!("{}/.guichet/logout", a.url), &fresh).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let ended = Instant::now();
    ended_everywhere_within_a_second(&[&b_replica.url, &a.url], &fresh, ended).await;
}

fn h_issuer(h: &Harness) -> String {
    h.stack.mock.issuer()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_started_on_one_replica_is_finished_by_the_other() {
    let redis = RedisServer::start();
    let a = with_redis(&redis, "", "").await;
    let b_replica = a.replica("b").await;
    let b = a.browser();
    let callback = b.start_login(&a, "jean-philippe").await;
    assert!(callback.starts_with(&format!("{}/.guichet/callback?", a.url)));
    // The load balancer sends the provider's redirect to replica B.
    let on_b = callback.replacen(&a.url, &b_replica.url, 1);
    let landed = b.follow(&on_b).await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    assert!(landed.url.starts_with(&b_replica.url) && landed.url.ends_with("/whoami"));
    assert_eq!(echoed_sub(&landed.body), Some(sub_of(&a, "jean-philippe")));
    // The state was taken by B: replaying the callback on A fails (a browser without the
    // session; with it, A sends it back to its page and makes no session).
    let r = a.browser().get(&callback).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = b.get(&callback).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(location(&r), "/whoami");
    assert!(r.headers().get("set-cookie").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_channel_logout_received_by_one_replica_ends_the_session_on_the_other() {
    let redis = RedisServer::start();
    let a = with_redis(&redis, "", "backchannel_logout = true").await;
    let b_replica = a.replica("b").await;
    let b = a.browser();
    let cookie = b.login(&a, "ana", "/").await.session_cookie();
    let other = a.browser();
    let other_cookie = other.login(&a, "elodie", "/").await.session_cookie();
    let r = get_with_cookie(&format!("{}/whoami", b_replica.url), &cookie).await;
    assert_eq!(r.status(), StatusCode::OK);

    let mock = &a.stack.mock;
    let now = guichet::session::now();
    let token = mock.sign_jwt(
        "logout+jwt",
        &json!({
            "iss": mock.issuer(), "aud": mock.client_id(), "iat": now, "exp": now + 120,
            "jti": guichet::crypto::random_hex32(), "sub": sub_of(&a, "ana"),
            "events": { BACKCHANNEL: {} },
        }),
    );
    let r = post_form(
        &format!("{}/.guichet/backchannel-logout", a.url),
        &[("logout_token", &token)],
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let ended = Instant::now();
    assert_eq!(r.headers()["cache-control"], "no-store");
    ended_everywhere_within_a_second(&[&b_replica.url, &a.url], &cookie, ended).await;
    // Another citizen's session is untouched.
    let r = get_with_cookie(&format!("{}/whoami", b_replica.url), &other_cookie).await;
    assert_eq!(r.status(), StatusCode::OK);
    // The same token sent again (to B) is a replay.
    let r = post_form(
        &format!("{}/.guichet/backchannel-logout", b_replica.url),
        &[("logout_token", &token)],
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error_description"], "jti_replayed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_fails_closed_then_service_resumes_with_the_same_sessions() {
    let mut redis = RedisServer::start();
    let h = with_redis(&redis, "", "").await;
    let b = h.browser();
    let landed = b.login(&h, "angela", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK);
    let whoami = format!("{}/whoami", h.url);

    // Redis hangs (frozen process): within a second (no heartbeat comes back on the
    // invalidation subscription, the session cache is off) requests that need a session get
    // 503, quickly.
    redis.pause();
    let paused = Instant::now();
    let r = fails_closed_within_a_second(&b, &whoami, paused).await;
    assert!(
        paused.elapsed() < Duration::from_secs(6),
        "{:?}",
        paused.elapsed()
    );
    let seen_before = h.stack.echo.requests().len();
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Service momentanément indisponible"));
    let r = b.get(&format!("{}/api/me", h.url)).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let r = b.get(&format!("{}/readyz", h.url)).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    // A public page needs no session: it passes, without an identity.
    let r = b.get(&format!("{}/public/x", h.url)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(echoed_sub(&r.text().await.unwrap()).is_none());
    // Nothing reached the upstream with an identity while the store was down.
    assert!(h.stack.echo.requests()[seen_before..]
        .iter()
        .all(|r| r.headers.iter().all(|(n, _)| !n.starts_with("x-pivot-"))));

    // Back: the same session works again, by itself.
    redis.resume();
    assert_eventually_ok(&b, &whoami).await;

    // Redis stopped and restarted (with its data): 503 meanwhile, then the session is back.
    redis.stop();
    fails_closed_within_a_second(&b, &whoami, Instant::now()).await;
    redis.restart();
    let body = assert_eventually_ok(&b, &whoami).await;
    assert_eq!(echoed_sub(&body), Some(sub_of(&h, "angela")));
    let m = h.metrics().await;
    let errors = m
        .lines()
        .find(|l| l.starts_with("guichet_session_store_errors_total "))
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(errors >= 3, "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_cannot_delete_gives_an_error_not_a_false_logout() {
    let mut redis = RedisServer::start();
    let h = with_redis(&redis, "", "").await;
    let b = h.browser();
    let cookie = b.login(&h, "elodie", "/").await.session_cookie();
    redis.stop();
    let r = b.get(&format!("{}/.guichet/logout", h.url)).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().get("set-cookie").is_none());
    redis.restart();
    // The session was not lost; a logout now works and ends it.
    assert_eventually_ok(&b, &format!("{}/whoami", h.url)).await;
    let r = b.get(&format!("{}/.guichet/logout", h.url)).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let r = get_with_cookie(&format!("{}/whoami", h.url), &cookie).await;
    assert_eq!(r.status(), StatusCode::FOUND);
}

/// GETs `url` until it answers 503 (Redis is down since `down`) and returns that answer; a
/// page served from a request sent more than a second after `down` fails the test (the
/// session cache is trusted for a second at most).
async fn fails_closed_within_a_second(b: &Browser, url: &str, down: Instant) -> reqwest::Response {
    loop {
        let sent = Instant::now();
        let r = b.get(url).await;
        if r.status() != StatusCode::OK {
            assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
            return r;
        }
        let late = sent.saturating_duration_since(down);
        assert!(
            late < Duration::from_secs(1),
            "served {late:?} into the outage"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// GETs `url` until it answers 200 (at most 15 s); returns the body.
async fn assert_eventually_ok(b: &Browser, url: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = None;
    while Instant::now() < deadline {
        let r = b.get(url).await;
        if r.status() == StatusCode::OK {
            return r.text().await.unwrap();
        }
        last = Some(r.status());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} did not recover within 15 s (last status {last:?})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_is_written_back_at_most_once_per_interval_and_keys_expire() {
    let redis = RedisServer::start();
    // idle 40 s -> write-back interval 2 s.
    let h = with_redis(
        &redis,
        "idle_timeout = \"40s\"\nabsolute_timeout = \"1h\"",
        "",
    )
    .await;
    let b = h.browser();
    b.login(&h, "ana", "/").await;
    let calls = |stats: &str| -> u64 {
        stats
            .lines()
            .filter(|l| l.starts_with("cmdstat_evalsha:") || l.starts_with("cmdstat_eval:"))
            .filter_map(|l| l.split("calls=").nth(1))
            .filter_map(|v| v.split(',').next())
            .filter_map(|v| v.parse::<u64>().ok())
            .sum()
    };
    let before = calls(&redis.command("INFO commandstats").unwrap_or_default());
    let started = Instant::now();
    for _ in 0..30 {
        let r = b.get(&format!("{}/whoami", h.url)).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let elapsed = started.elapsed().as_secs() + 1;
    let after = calls(&redis.command("INFO commandstats").unwrap_or_default());
    // At most one write-back per 2 s interval (plus one for a boundary crossed).
    assert!(
        after - before <= elapsed / 2 + 1,
        "{} write-backs for 30 requests in {elapsed} s",
        after - before
    );
    // After an interval, the next request writes the activity back, once.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    for _ in 0..3 {
        let r = b.get(&format!("{}/whoami", h.url)).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let later = calls(&redis.command("INFO commandstats").unwrap_or_default());
    assert!(later - after >= 1, "activity never written back");
    // The session key carries a TTL bounded by idle + interval.
    let keys = redis.keys("guichet:*:s:*");
    assert_eq!(keys.len(), 1, "{keys:?}");
    let pttl: i64 = redis
        .command(&format!("PTTL {}", keys[0]))
        .unwrap_or_default()
        .trim()
        .trim_start_matches(':')
        .parse()
        .unwrap_or(-3);
    // idle 40 s + one write-back interval (2 s) to the sweep deadline, plus the grace Redis
    // gives the sweep before dropping a key by itself.
    let bound = 42_000 + guichet::session::redis::GRACE.as_millis() as i64;
    assert!(pttl > 0 && pttl <= bound, "PTTL {pttl}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_a_private_ca_and_a_password_kept_out_of_logs_and_check() {
    const PASSWORD: &str = "s3cret-redis-pass-7f1c";
    let redis = RedisServer::start_tls(PASSWORD);
    let secrets = tempfile::tempdir().unwrap();
    let url_file = secrets.path().join("redis-url");
    std::fs::write(&url_file, format!("{}\n", redis.tls_url())).unwrap();
    let h = Harness::with(Setup {
        extra_toml: format!(
            "[session]\nstore = \"redis\"\nredis_url = \"file:{}\"\nredis_ca_file = \"{}\"\n{}",
            url_file.display(),
            redis.ca_path().display(),
            redis.seal_keys_toml()
        ),
        ..Setup::default()
    })
    .await;
    let b = h.browser();
    let landed = b.login(&h, "elodie", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    assert_eq!(redis.keys("guichet:*:s:*").len(), 1, "session not in Redis");
    assert!(!h.logs().contains(PASSWORD));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_guichet"))
        .args(["check", "--config"])
        .arg(&h.stack.config_path)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!("<redacted file:{}>", url_file.display())),
        "{text}"
    );
    assert!(!text.contains(PASSWORD), "{text}");
}

/// Every byte Redis holds for a deployment, as whoever copies it would read it: the files it
/// persists (`SAVE` then the RDB and append-only files) and `DUMP` of every key.
fn everything_redis_holds(redis: &RedisServer) -> Vec<u8> {
    let mut c = ::redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = ::redis::cmd("SAVE").query(&mut c).unwrap();
    let mut all = redis.files_on_disk();
    let keys: Vec<Vec<u8>> = ::redis::cmd("KEYS").arg("*").query(&mut c).unwrap();
    assert!(!keys.is_empty());
    for k in keys {
        let value: Vec<u8> = ::redis::cmd("DUMP").arg(&k).query(&mut c).unwrap();
        all.extend(k);
        all.extend(value);
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_dump_shows_no_personal_data_and_no_token() {
    let redis = RedisServer::start();
    let h = with_redis(&redis, "", "backchannel_logout = true").await;
    let b = h.browser();
    let landed = b.login(&h, "elodie", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK);
    let cookie = landed.session_cookie();
    // A login in progress too: its state and nonce are in Redis.
    let other = h.browser();
    let r = other
        .get(&format!("{}/.guichet/login?return_to=/dossier/4512", h.url))
        .await;
    let authorize = query(&location(&r));
    let dump = everything_redis_holds(&redis);
    assert!(dump.len() > 1000, "{} bytes", dump.len());

    let elodie = citizens::find("elodie").unwrap();
    let mut clear: Vec<String> = [
        elodie.given_name,
        "Elodie",
        elodie.family_name,
        "Muller",
        elodie.birthdate,
        elodie.email,
        "elodie.muller",
        "/dossier/4512",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Short codes as JSON would carry them (key names hold hex digits).
    clear.push(format!("\"{}\"", elodie.birthplace));
    clear.push(format!("\"{}\"", elodie.gender));
    clear.push(sub_of(&h, "elodie"));
    clear.push(cookie.split('=').nth(1).unwrap().to_string());
    for p in ["state", "nonce"] {
        clear.push(authorize[p].clone());
    }
    // Percent- or JSON-escaped forms of the accented names.
    clear.push("%C3%89lodie".into());
    clear.push("\\u00c9lodie".into());
    // Tokens: any JWT (header `{"`...), and the id_token itself, from the logout's hint.
    clear.push("eyJhbGciOi".into());
    let r = b.get(&format!("{}/.guichet/logout", h.url)).await;
    let hint = query(&location(&r))["id_token_hint"].clone();
    for part in hint.split('.') {
        clear.push(part[..24.min(part.len())].to_string());
    }
    for needle in &clear {
        assert!(!contains(&dump, needle), "{needle:?} readable in Redis");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_altered_or_copied_in_redis_opens_nothing_and_is_in_the_evidence_log() {
    let redis = RedisServer::start();
    let h = with_redis(&redis, "", "").await;
    // The replica that reads the records: it never saw these sessions (the one they were
    // made on keeps what Redis confirmed for up to a second).
    let reader = h.replica("reader").await;
    let alice = h.browser().login(&h, "elodie", "/").await.session_cookie();
    let bob_browser = h.browser();
    let bob = bob_browser.login(&h, "ana", "/").await.session_cookie();
    let key_of = |cookie: &str| {
        let hashed = guichet::crypto::sha256_hex(cookie.split('=').nth(1).unwrap().as_bytes());
        let keys = redis.keys(&format!("guichet:*:s:{hashed}"));
        assert_eq!(keys.len(), 1);
        keys[0].clone()
    };
    let (alice_key, bob_key) = (key_of(&alice), key_of(&bob));
    let mut c = ::redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    // Someone who can write to Redis copies Alice's session into Bob's (a new version stamp,
    // so that guichet reads it again).
    let sealed: Vec<u8> = ::redis::cmd("HGET")
        .arg(&alice_key)
        .arg("rec")
        .query(&mut c)
        .unwrap();
    let _: () = ::redis::cmd("HSET")
        .arg(&bob_key)
        .arg("rec")
        .arg(&sealed)
        .arg("v")
        .arg(1)
        .query(&mut c)
        .unwrap();
    let r = get_with_cookie(&format!("{}/whoami", reader.url), &bob).await;
    assert_eq!(
        r.status(),
        StatusCode::FOUND,
        "Bob's cookie opened something"
    );
    let r = get_with_cookie(&format!("{}/api/me", reader.url), &bob).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Alice's own record altered by one bit: refused too.
    let mut altered = sealed.clone();
    let i = altered.len() / 2;
    altered[i] ^= 0x80;
    let _: () = ::redis::cmd("HSET")
        .arg(&alice_key)
        .arg("rec")
        .arg(&altered)
        .arg("v")
        .arg(2)
        .query(&mut c)
        .unwrap();
    let r = get_with_cookie(&format!("{}/whoami", reader.url), &alice).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    // Nobody's identity went upstream since; the refusals are evidence.
    assert!(!h
        .stack
        .echo
        .requests()
        .iter()
        .any(|r| r.path == "/whoami" && r.header_str("x-pivot-sub").is_some()));
    let refused: Vec<_> = reader
        .gateway
        .audit()
        .into_iter()
        .filter(|e| e["event"] == "store_record_refused")
        .collect();
    assert!(refused.len() >= 2, "{refused:?}");
    assert!(refused
        .iter()
        .all(|e| e["outcome"] == "failure" && e["reason"] == "session_altered_or_moved"));
    let m = reqwest::get(format!("{}/metrics", reader.gateway.metrics_url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains("guichet_store_records_refused_total{kind=\"session\"}"),
        "{m}"
    );
    // Bob logs in again: his browser's refused session is replaced, and works.
    let again = bob_browser.login(&h, "ana", "/whoami").await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(echoed_sub(&again.body), Some(sub_of(&h, "ana")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_up_on_one_replica_holds_on_the_other() {
    let redis = RedisServer::start();
    let a = Harness::with(Setup {
        also: vec![guichet::demo::provider::Flavour::FranceConnectPlus],
        extra_toml: format!(
            "{}\n[[routes]]\npath = \"/dossiers\"\nmin_level = \"eidas2\"\n",
            redis.session_toml("")
        ),
        ..Setup::default()
    })
    .await;
    let b_replica = a.replica("b").await;
    let browser = a.browser();
    let low = browser
        .login_at(&a, "demo", "elodie", "/")
        .await
        .session_cookie();
    // B serves the low session from its cache, and asks for a step-up on the eidas2 pages.
    let deadline = Instant::now() + Duration::from_secs(10);
    while lookups_for(&redis, &b_replica.url, &low, 10).await > 3 {
        assert!(Instant::now() < deadline, "B asks Redis at every request");
    }
    let page = format!("{}/dossiers/7", b_replica.url);
    let r = get_with_cookie(&page, &low).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert!(location(&r).contains("level=eidas2"), "{}", location(&r));

    // The step-up happens on A (FranceConnect+): a new session at the higher level, and the
    // low one ends.
    let landed = browser
        .follow_as(&format!("{}/dossiers/7", a.url), "elodie")
        .await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    let ended = Instant::now();
    let high = landed.session_cookie();
    assert_ne!(high, low);
    // B serves the eidas2 page with the new session at once, and refuses the old one within
    // a second.
    let r = get_with_cookie(&page, &high).await;
    assert_eq!(r.status(), StatusCode::OK);
    ended_everywhere_within_a_second(&[&b_replica.url, &a.url], &low, ended).await;
    let r = get_with_cookie(&page, &high).await;
    assert_eq!(r.status(), StatusCode::OK);
}
