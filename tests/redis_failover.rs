//! Sessions through a Redis failover: a primary, a replica and three real `redis-sentinel`
//! ([`common::sentinel`]), two guichet replicas that find the primary through the sentinels.
//! The primary is killed (SIGKILL) or handed over (`SENTINEL FAILOVER`): sessions already
//! replicated survive on both guichet replicas, logins and logouts after it hold everywhere,
//! no request during the election carries an identity it should not, and the old primary
//! comes back as a replica. `make test` installs `redis-server` and `redis-sentinel`.

mod common;

use common::redis::{ended_everywhere_within_a_second, lookups_for};
use common::sentinel::{SentinelSetup, MASTER};
use common::*;
use guichet::demo::citizens;
use reqwest::StatusCode;
use std::time::{Duration, Instant};

async fn two_replicas(setup: &SentinelSetup) -> (Harness, Replica) {
    let a = Harness::with(Setup {
        extra_toml: setup.session_toml(""),
        ..Setup::default()
    })
    .await;
    let b = a.replica("b").await;
    (a, b)
}

fn sub_of(h: &Harness, citizen: &str) -> String {
    citizens::find(citizen)
        .expect("citizen")
        .sub(h.stack.mock.client_id())
}

/// The percent-decoded `x-pivot-sub` the upstream received, from an echo body.
fn echoed_sub(body: &str) -> Option<String> {
    echoed_headers(body)
        .get("x-pivot-sub")
        .and_then(|v| v.as_str())
        .map(percent_decode)
}

/// A logged-in citizen: their cookie and `sub`.
struct Citizen {
    cookie: String,
    sub: String,
}

async fn log_in(h: &Harness, via: &str, citizen: &str) -> Citizen {
    let landed = h.browser().login_via(via, citizen, "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    Citizen {
        cookie: landed.session_cookie(),
        sub: sub_of(h, citizen),
    }
}

/// One request with a citizen's cookie: 200 with exactly their identity, or 503 (fails
/// closed) while there is no primary; anything else fails the test. Returns the status.
async fn check(base: &str, who: &Citizen) -> StatusCode {
    let r = get_with_cookie(&format!("{base}/whoami"), &who.cookie).await;
    let status = r.status();
    let body = r.text().await.unwrap_or_default();
    match status {
        StatusCode::OK => assert_eq!(echoed_sub(&body), Some(who.sub.clone()), "{base}"),
        StatusCode::SERVICE_UNAVAILABLE => {
            assert!(
                body.contains("Service momentanément indisponible"),
                "{body}"
            )
        }
        other => panic!("{base}: {other} for a live session during the failover: {body}"),
    }
    status
}

/// Requests every citizen's page on both guichet replicas until all of them answer 200
/// (at most 30 s), checking every answer on the way ([`check`]). Returns how many 503s.
async fn until_all_served(bases: &[&str], citizens: &[&Citizen]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut unavailable = 0;
    loop {
        let mut all = true;
        for base in bases {
            for who in citizens {
                if check(base, who).await != StatusCode::OK {
                    unavailable += 1;
                    all = false;
                }
            }
        }
        if all {
            return unavailable;
        }
        assert!(
            Instant::now() < deadline,
            "sessions not served again within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (at most 10 s) until `server` holds `n` sessions of this deployment.
async fn replicated(setup: &SentinelSetup, server: usize, n: usize) {
    setup
        .wait_until("the sessions to reach the replica", |s| {
            s.servers[server].keys("guichet:*:s:*").len() == n
        })
        .await;
}

/// Every identity the upstream received was one of these citizens'.
fn upstream_saw_only(h: &Harness, subs: &[&str]) {
    for r in h.stack.echo.requests() {
        if let Some(sub) = r.header_str("x-pivot-sub").map(percent_decode) {
            assert!(subs.contains(&sub.as_str()), "unexpected identity {sub}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_survive_a_killed_primary_and_the_old_primary_returns_as_a_replica() {
    let mut setup = SentinelSetup::start();
    let (a, b) = two_replicas(&setup).await;
    let alice = log_in(&a, &a.url, "elodie").await;
    let bob = log_in(&a, &b.url, "ana").await;
    let carol = log_in(&a, &a.url, "angela").await;
    replicated(&setup, 1, 3).await;

    setup.servers[0].kill();
    // At once, before the sentinels even agree it is down (1 s): the store fails closed.
    let r = reqwest::get(format!("{}/readyz", a.url)).await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(check(&b.url, &alice).await, StatusCode::SERVICE_UNAVAILABLE);
    // A page that needs no session still passes, without identity.
    let r = get_with_cookie(&format!("{}/public/x", a.url), &alice.cookie).await;
    assert_eq!(r.status(), StatusCode::OK);
    // Through the election and after it: each answer is 503 or the right identity, until
    // every session is served again on both replicas.
    until_all_served(&[&a.url, &b.url], &[&alice, &bob, &carol]).await;
    assert_eq!(setup.primary(), Some(1), "the replica was promoted");
    for base in [&a.url, &b.url] {
        let r = reqwest::get(format!("{base}/readyz")).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{base}");
    }
    // Nothing was deleted by the outage.
    assert_eq!(setup.servers[1].keys("guichet:*:s:*").len(), 3);

    // Logout after the failover holds on both replicas (within a second: their session
    // caches subscribe to the new primary).
    let r = get_with_cookie(&format!("{}/.guichet/logout", b.url), &carol.cookie).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    ended_everywhere_within_a_second(&[&a.url, &b.url], &carol.cookie, Instant::now()).await;
    // A new login after the failover is seen by both.
    let dave = log_in(&a, &b.url, "jean-philippe").await;
    assert_eq!(check(&a.url, &dave).await, StatusCode::OK);

    // The old primary comes back (with its data from before the kill): the sentinels turn
    // it into a replica of the new primary, and it catches up.
    setup.servers[0].start_again();
    setup
        .wait_until("the old primary to become a replica", |s| {
            s.servers[0].role().as_deref() == Some("slave")
                && s.servers[0]
                    .command("INFO replication")
                    .is_some_and(|i| i.contains("master_link_status:up"))
        })
        .await;
    replicated(&setup, 0, 3).await;
    // Still served, by the new primary, on both.
    until_all_served(&[&a.url, &b.url], &[&alice, &bob, &dave]).await;
    upstream_saw_only(
        &a,
        &[&alice.sub, &bob.sub, &carol.sub, &dave.sub].map(String::as_str),
    );
    assert!(a
        .logs()
        .contains("Redis primary found through the sentinels"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_failover_loses_no_session_and_writes_go_to_the_new_primary() {
    let setup = SentinelSetup::start();
    let (a, b) = two_replicas(&setup).await;
    let alice = log_in(&a, &a.url, "elodie").await;
    let bob = log_in(&a, &b.url, "ana").await;
    replicated(&setup, 1, 2).await;

    let reply = setup.sentinels[0]
        .command(&format!("SENTINEL FAILOVER {MASTER}"))
        .unwrap_or_default();
    assert!(reply.starts_with("+OK"), "{reply}");
    // Requests all through the hand-over: 200 with the right identity, or 503.
    setup
        .wait_until("the replica to be promoted", |s| {
            s.primary() == Some(1) && s.servers[0].role().as_deref() == Some("slave")
        })
        .await;
    until_all_served(&[&a.url, &b.url], &[&alice, &bob]).await;
    // B's session cache followed the primary: it serves repeated requests without asking the
    // new primary each time (its heartbeats come back through it).
    let deadline = Instant::now() + Duration::from_secs(15);
    while lookups_for(&setup.servers[1], &b.url, &bob.cookie, 10).await > 3 {
        assert!(
            Instant::now() < deadline,
            "B's cache did not follow the failover"
        );
    }
    // Writes after the hand-over (a login, a logout) land on the new primary and hold on
    // both replicas, B's cache included.
    let carol = log_in(&a, &a.url, "angela").await;
    assert_eq!(check(&b.url, &carol).await, StatusCode::OK);
    let r = get_with_cookie(&format!("{}/.guichet/logout", a.url), &bob.cookie).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    ended_everywhere_within_a_second(&[&b.url, &a.url], &bob.cookie, Instant::now()).await;
    until_all_served(&[&a.url, &b.url], &[&alice, &carol]).await;
    // Every session written is on the new primary, and reached the demoted one by
    // replication only: Alice's and Carol's (Bob's logout removed his).
    assert_eq!(setup.servers[1].keys("guichet:*:s:*").len(), 2);
    replicated(&setup, 0, 2).await;
    upstream_saw_only(&a, &[&alice.sub, &bob.sub, &carol.sub].map(String::as_str));
}

/// What a demoted primary answers to each kind of write guichet makes (a command, a
/// MULTI/EXEC pipeline, a script) is recognised as "not the primary": the connection is
/// dropped, the sentinels asked again, and the write (never applied) made on the primary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_a_replica_refuses_is_recognised() {
    use guichet::session::redis::link::not_primary;
    let primary = common::redis::RedisServer::start();
    let replica = common::redis::RedisServer::start_replica_of(&primary);
    let mut conn = ::redis::Client::open(replica.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let set: ::redis::RedisResult<()> = ::redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query_async(&mut conn)
        .await;
    let mut pipe = ::redis::pipe();
    pipe.atomic()
        .cmd("HSET")
        .arg("h")
        .arg("f")
        .arg("v")
        .ignore();
    let multi: ::redis::RedisResult<()> = pipe.query_async(&mut conn).await;
    let script: ::redis::RedisResult<i64> =
        ::redis::Script::new("return redis.call('DEL', KEYS[1])")
            .key("k")
            .invoke_async(&mut conn)
            .await;
    for (what, e) in [
        ("command", set.map(|_| 0)),
        ("transaction", multi.map(|_| 0)),
        ("script", script),
    ] {
        let e = e.expect_err(what);
        assert!(not_primary(&e), "{what}: {e}");
    }
    // Other errors are not taken for a failover.
    let wrong: ::redis::RedisResult<()> =
        ::redis::cmd("NOSUCHCOMMAND").query_async(&mut conn).await;
    assert!(!not_primary(&wrong.unwrap_err()));
}

/// TLS to the sentinels and to the primary (one private CA), a password for Redis and
/// another for the sentinels, every URL from a file: a hand-over keeps the sessions, and no
/// password reaches a log or `guichet check`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinels_and_primary_over_tls_with_passwords() {
    const REDIS_PASSWORD: &str = "redis-pw-5b8e0c";
    const SENTINEL_PASSWORD: &str = "sentinel-pw-91d2aa";
    let setup = SentinelSetup::start_tls(REDIS_PASSWORD, SENTINEL_PASSWORD);
    let a = Harness::with(Setup {
        extra_toml: setup.session_toml_tls(""),
        ..Setup::default()
    })
    .await;
    let b = a.replica("b").await;
    let alice = log_in(&a, &a.url, "elodie").await;
    assert_eq!(check(&b.url, &alice).await, StatusCode::OK);
    replicated(&setup, 1, 1).await;
    let reply = setup.sentinels[1]
        .command(&format!("SENTINEL FAILOVER {MASTER}"))
        .unwrap_or_default();
    assert!(reply.starts_with("+OK"), "{reply}");
    setup
        .wait_until("the replica to be promoted", |s| s.primary() == Some(1))
        .await;
    until_all_served(&[&a.url, &b.url], &[&alice]).await;
    let bob = log_in(&a, &b.url, "ana").await;
    assert_eq!(check(&a.url, &bob).await, StatusCode::OK);
    for logs in [a.logs(), b.logs()] {
        assert!(!logs.contains(REDIS_PASSWORD) && !logs.contains(SENTINEL_PASSWORD));
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_guichet"))
        .args(["check", "--config"])
        .arg(&a.stack.config_path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        text.contains("sentinel_master = \"guichet-test\""),
        "{text}"
    );
    assert!(!text.contains(REDIS_PASSWORD) && !text.contains(SENTINEL_PASSWORD));
}
