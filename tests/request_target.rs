//! What is judged is what is forwarded (issue 14): raw request lines of every form, sent on a
//! socket (no HTTP client to tidy them up), with no session and with sessions at eIDAS 1, 2
//! and 3, through guichet to a lenient upstream we did not write (Python's `http.server`,
//! routing like Werkzeug: [`common::lenient`]). No route's `access`, `min_level` or claim
//! profile can be bypassed, under any way an upstream may read the target it receives; and
//! the upstream receives exactly the canonical origin-form guichet judged.

mod common;

use common::lenient::{self, LenientUpstream, Seen};
use common::*;
use guichet::demo::provider::Flavour;
use std::borrow::Cow;

/// The forms a client may send, `{HOST}` standing for the public host.
const TARGETS: &[&str] = &[
    // origin-form, plain and canonical or not
    "/renforce/",
    "/renforce",
    "/eleve/x",
    "/etat-civil/acte",
    "/public/x",
    "/api/x",
    "/",
    "//renforce/",
    "/%72enforce/",
    "/RENFORCE/",
    "/Renforce/x",
    "/public/../renforce/",
    "/public/%2e%2e/renforce/",
    "/public/.%2E/eleve/",
    "/public%2f..%2frenforce/",
    "/public%2F..%2Feleve",
    "/public/%252e%252e/renforce/",
    "/%2572enforce/",
    "/public\\..\\renforce/",
    "/renforce./",
    "/renforce%2e/",
    "/renforce%20/",
    "/renforce;x=1/",
    "/public;/../renforce/",
    "/renforce%3bx/",
    "/renforce%3F/x",
    "/public/x?r=/renforce/",
    "/public/%00/../renforce",
    "/etat-civil%2f../x",
    "/public/x#/renforce",
    "/caf%c3%a9",
    "/%c0%ae%c0%ae/renforce",
    "/public/\u{e9}",
    // no leading slash: what started issue 14
    "renforce/",
    "renforce",
    "eleve/x",
    "etat-civil/acte",
    "a:b/renforce/",
    "public/../renforce/",
    "?x=1",
    "*",
    // absolute-form
    "http://{HOST}/renforce/",
    "https://{HOST}/eleve/x",
    "HTTP://{HOST}/%72enforce/",
    "http://{HOST}",
    "http://{HOST}?x=/renforce/",
    "http://evil.example/renforce/",
    "http://user@{HOST}/renforce/",
    "http://{HOST}/public/../renforce/",
    "http://{HOST}renforce/",
    // authority-form and other schemes
    "{HOST}",
    "{HOST}:443",
    "ftp://{HOST}/renforce/",
    "javascript:alert(1)",
];

/// Sessions: none (0), then eIDAS 1 (FranceConnect), 2 and 3 (FranceConnect+).
async fn sessions(h: &Harness) -> Vec<(u8, Option<String>)> {
    let mut out = vec![(0, None)];
    let b = h.browser();
    let landed = b.login_at(h, "demo", "elodie", "/public/x").await;
    out.push((1, Some(landed.session_cookie())));
    let b = h.browser();
    let landed = b.login_at(h, "fc-plus", "angela", "/public/x").await;
    out.push((2, Some(landed.session_cookie())));
    let b = h.browser();
    let landed = b
        .follow_as(
            &format!(
                "{}/.guichet/login?provider=fc-plus&level=eidas3&return_to=/public/x",
                h.url
            ),
            "angela",
        )
        .await;
    out.push((3, Some(landed.session_cookie())));
    for (level, cookie) in &out[1..] {
        let cookie = cookie.as_deref().expect("cookie");
        let r = get_with_cookie(&format!("{}/.guichet/session", h.url), cookie).await;
        let v: serde_json::Value = r.json().await.expect("session JSON");
        assert_eq!(v["level"], format!("eidas{level}"), "{v}");
    }
    out
}

async fn gateway(upstream: &LenientUpstream, public_root: bool) -> Harness {
    let mut routes = lenient::ROUTES_TOML.to_string();
    if public_root {
        routes.push_str(lenient::PUBLIC_ROOT_TOML);
    }
    Harness::with(Setup {
        also: vec![Flavour::FranceConnectPlus],
        extra_toml: routes,
        upstream_url: Some(upstream.url()),
        ..Setup::default()
    })
    .await
}

/// One request on a socket; what the upstream served, if it did.
struct Exchange {
    method: &'static str,
    target: String,
    level: u8,
    response: RawResponse,
    seen: Option<Seen>,
}

async fn exchange(
    url: &str,
    method: &'static str,
    target: &str,
    level: u8,
    cookie: Option<&str>,
) -> Exchange {
    let host = url.trim_start_matches("http://");
    let mut lines = format!("Host: {host}\r\n");
    if let Some(c) = cookie {
        lines.push_str(&format!("Cookie: {c}\r\n"));
    }
    let response = raw_request(url, method, target.as_bytes(), &lines).await;
    let seen = (response.header("x-lenient-upstream") == Some("1"))
        .then(|| Seen::from_body(&response.body).expect("the upstream's JSON"));
    Exchange {
        method,
        target: target.to_string(),
        level,
        response,
        seen,
    }
}

/// Every target with every session, on the gateway at `url`; checks the invariants on each
/// exchange and returns them for the specific checks.
async fn matrix(
    url: &str,
    public_root: bool,
    sessions: &[(u8, Option<String>)],
    upstream: &LenientUpstream,
) -> Vec<Exchange> {
    let host = url.trim_start_matches("http://");
    let routes = lenient::routes(public_root);
    let mut all = Vec::new();
    for (level, cookie) in sessions {
        for template in TARGETS {
            let target = template.replace("{HOST}", host);
            let before = upstream.targets().len();
            for method in ["GET", "POST"] {
                let e = exchange(url, method, &target, *level, cookie.as_deref()).await;
                let what = format!("{method} {target} (eidas{level})");
                assert!(
                    e.response.status != 0 && e.response.status != 500,
                    "{what}: {}",
                    e.response.head
                );
                match &e.seen {
                    Some(seen) => {
                        assert_eq!(e.response.status, 200, "{what}");
                        // Exactly what guichet judged: origin-form, canonical.
                        let (path, _) = seen.target.split_once('?').unwrap_or((&seen.target, ""));
                        assert!(
                            matches!(
                                guichet::edge::path::normalize_path(path),
                                Ok(Cow::Borrowed(_))
                            ),
                            "{what}: the upstream received {:?}",
                            seen.target
                        );
                        assert_eq!(seen.header("host"), Some(host), "{what}: public Host");
                        if let Some(why) = lenient::bypass(&routes, seen, *level) {
                            panic!("{what}: bypass: {why}");
                        }
                    }
                    None => assert!(
                        matches!(e.response.status, 204 | 302 | 308 | 400 | 401 | 421),
                        "{what}: {}",
                        e.response.head
                    ),
                }
                all.push(e);
            }
            let reached = upstream.targets().len() - before;
            let served = all[all.len() - 2..]
                .iter()
                .filter(|e| e.seen.is_some())
                .count();
            assert_eq!(
                reached, served,
                "{target} (eidas{level}): the upstream saw requests guichet did not forward"
            );
        }
    }
    all
}

fn find<'a>(all: &'a [Exchange], method: &str, target: &str, level: u8) -> &'a Exchange {
    all.iter()
        .find(|e| e.method == method && e.target == target && e.level == level)
        .unwrap_or_else(|| panic!("no exchange {method} {target} eidas{level}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_request_lines_of_every_form_never_bypass_a_route() {
    let upstream = LenientUpstream::start();
    let h = gateway(&upstream, false).await;
    let sessions = sessions(&h).await;
    let all = matrix(&h.url, false, &sessions, &upstream).await;
    let host = h.url.trim_start_matches("http://");

    // What started issue 14: no leading slash. Refused, for everyone, nothing forwarded.
    for level in 0..=3 {
        for target in ["renforce/", "eleve/x", "a:b/renforce/", "etat-civil/acte"] {
            let e = find(&all, "GET", target, level);
            assert_eq!(e.response.status, 400, "{target} eidas{level}");
            assert!(
                e.response
                    .header("content-type")
                    .unwrap_or_default()
                    .starts_with("text/html"),
                "a page"
            );
        }
    }
    // The same page by its real name: eidas1 is sent to step up, eidas2 gets it, exactly.
    for target in [
        "/renforce/".to_string(),
        "//renforce/".to_string(),
        "/%72enforce/".to_string(),
        format!("http://{host}/renforce/"),
        format!("HTTP://{host}/%72enforce/"),
    ] {
        let e = find(&all, "GET", &target, 1);
        assert_eq!(e.response.status, 302, "{target}: {}", e.response.head);
        let location = e.response.header("location").unwrap_or_default();
        assert!(location.contains("level=eidas2"), "{target}: {location}");
        let e = find(&all, "GET", &target, 2);
        let seen = e
            .seen
            .as_ref()
            .unwrap_or_else(|| panic!("{target}: not served"));
        assert_eq!(seen.target, "/renforce/", "{target}: forwarded canonical");
    }
    // eIDAS 3 only for eidas3.
    assert_eq!(find(&all, "GET", "/eleve/x", 2).response.status, 302);
    assert!(find(&all, "GET", "/eleve/x", 3).seen.is_some());
    // Forms that some upstreams trim or fold: refused.
    for target in [
        "/renforce./",
        "/renforce%20/",
        "/renforce;x=1/",
        "/renforce%3bx/",
        "/public/../renforce/",
        "/public%2f..%2frenforce/",
        "/public/%252e%252e/renforce/",
        "/%2572enforce/",
        "/public/%00/../renforce",
        "/renforce%3F/x",
    ] {
        for level in [0, 1] {
            assert_eq!(
                find(&all, "GET", target, level).response.status,
                400,
                "{target} eidas{level}"
            );
        }
    }
    // Another host: 421 (or pingora's own 400 for a target naming another host than Host);
    // OPTIONS * is answered by guichet, never forwarded.
    let elsewhere = find(&all, "GET", "http://evil.example/renforce/", 2);
    assert!(matches!(elsewhere.response.status, 400 | 421));
    let other_host = raw_request(
        &h.url,
        "GET",
        b"/renforce/",
        &format!(
            "Host: evil.example\r\nCookie: {}\r\n",
            sessions[2].1.as_deref().unwrap_or_default()
        ),
    )
    .await;
    assert_eq!(other_host.status, 421, "{}", other_host.head);
    let options = exchange(&h.url, "OPTIONS", "*", 0, None).await;
    assert_eq!(options.response.status, 204, "{}", options.response.head);
    assert!(options.seen.is_none());
    // A claim profile holds through every spelling.
    let e = find(&all, "GET", "/etat-civil/acte", 1);
    let mut identity = e.seen.as_ref().expect("served").identity();
    identity.sort();
    assert_eq!(
        identity,
        ["x-pivot-family-name", "x-pivot-given-name", "x-pivot-sub"]
    );
    // The evidence of a step-up names the page's level, whatever spelling asked for it.
    assert!(h
        .audit()
        .iter()
        .any(|e| e["event"] == "step_up" && e["required_level"] == "eidas2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_public_root_nothing_else_becomes_public() {
    let upstream = LenientUpstream::start();
    let h = gateway(&upstream, true).await;
    let sessions = sessions(&h).await;
    let all = matrix(&h.url, true, &sessions, &upstream).await;
    // Without a session, `/` and anything it covers pass, the protected routes never do.
    assert!(find(&all, "GET", "/", 0).seen.is_some());
    for target in ["renforce/", "renforce", "eleve/x", "public/../renforce/"] {
        assert_eq!(
            find(&all, "GET", target, 0).response.status,
            400,
            "{target}"
        );
        assert_eq!(
            find(&all, "GET", target, 1).response.status,
            400,
            "{target}"
        );
    }
    assert_eq!(find(&all, "GET", "/renforce/", 0).response.status, 302);
    assert_eq!(find(&all, "GET", "/%72enforce/", 1).response.status, 302);
}
