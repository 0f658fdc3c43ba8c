//! A client that plays games with what it sends (issue 9, R13, R14): oversized heads, `Host`
//! tricks, letter case and encoded separators, `return_to` tricks, and a session cookie from
//! another deployment. Spoofed identity headers are in `tests/upstream_identity.rs`, dot
//! segments in `tests/login_security.rs`, replayed cookies in `tests/logout.rs` and
//! `tests/session_expiry.rs`.

mod common;

use common::redis::RedisServer;
use common::*;
use reqwest::StatusCode;

/// One header of a raw response head.
fn head_value(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

/// `GET target` with exactly these header lines (each ending in CRLF), connection closed.
fn request(target: &str, lines: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\n{lines}Connection: close\r\n\r\n").into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_cookies_and_many_headers_get_a_431_page() {
    let h = Harness::start().await;
    let host = format!("Host: {}\r\n", h.url.trim_start_matches("http://"));
    let b = h.browser();
    let cookie = b.login(&h, "elodie", "/").await.session_cookie();
    h.stack.echo.clear();

    let big_cookie = format!("{host}Cookie: {cookie}; pad={}\r\n", "b".repeat(64 * 1024));
    let many: String = (0..200).map(|i| format!("X-Filler-{i}: v\r\n")).collect();
    let many_cookies: String = (0..150).map(|i| format!("Cookie: c{i}=1\r\n")).collect();
    for (what, lines) in [
        ("a 64 KiB cookie next to a valid session", big_cookie),
        ("200 header lines", format!("{host}{many}")),
        ("150 Cookie lines", format!("{host}{many_cookies}")),
    ] {
        let (status, head) = raw_exchange(&h.url, &request("/whoami", &lines)).await;
        assert_eq!(status, 431, "{what}: {head}");
        assert_eq!(
            head_value(&head, "content-type").as_deref(),
            Some("text/html; charset=utf-8"),
            "{what}: no page"
        );
    }
    // Beyond what pingora reads at all: a bare 400, still no panic.
    let huge = format!("{host}X-Big: {}\r\n", "b".repeat(2 << 20));
    let (status, _) = raw_exchange(&h.url, &request("/public/x", &huge)).await;
    assert_eq!(status, 400);
    let too_many: String = (0..300).map(|i| format!("X-F{i}: v\r\n")).collect();
    let (status, _) =
        raw_exchange(&h.url, &request("/public/x", &format!("{host}{too_many}"))).await;
    assert_eq!(status, 400);

    assert!(h.stack.echo.requests().is_empty(), "the upstream saw one");
    assert!(h.logs().contains("request refused before reading it"));
    // Nothing is stuck: the same session works at once.
    let r = get_with_cookie(&format!("{}/whoami", h.url), &cookie).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_header_games_never_shape_guichet_s_urls() {
    let h = Harness::start().await;
    let public_host = h.url.trim_start_matches("http://").to_string();
    let evil = "Host: evil.example\r\n";

    // Another host's name: 421 with a page, for every path, guichet's own included; only the
    // probes answer (Kubernetes calls them with the pod's address).
    for target in [
        "/dossiers/1",
        "/public/x",
        "/.guichet/login?return_to=/x",
        "/.guichet/logout",
        "http://evil.example/dossiers/1",
    ] {
        let (status, head) = raw_exchange(&h.url, &request(target, evil)).await;
        assert_eq!(status, 421, "{target}: {head}");
        assert_eq!(
            head_value(&head, "content-type").as_deref(),
            Some("text/html; charset=utf-8"),
            "{target}: a page"
        );
        assert!(head_value(&head, "location").is_none(), "{target}");
    }
    for probe in ["/healthz", "/readyz"] {
        let (status, head) = raw_exchange(&h.url, &request(probe, "Host: 10.1.2.3:8080\r\n")).await;
        assert_eq!(status, 200, "{probe}: {head}");
    }

    // The public host, whatever the port (cookies ignore ports too): a protected page sends
    // to login with a relative path.
    let (status, head) =
        raw_exchange(&h.url, &request("/dossiers/1", "Host: 127.0.0.1:1\r\n")).await;
    assert_eq!(status, 302, "{head}");
    assert_eq!(
        head_value(&head, "location").as_deref(),
        Some("/.guichet/login?return_to=%2Fdossiers%2F1")
    );
    // An absolute-form target naming the public host wins over a foreign Host.
    let (status, head) = raw_exchange(
        &h.url,
        &request(&format!("http://{public_host}/dossiers/1"), evil),
    )
    .await;
    assert!(matches!(status, 302 | 400), "{head}");

    // Login: the provider is told to come back to the public URL.
    let (status, head) = raw_exchange(
        &h.url,
        &request(
            "/.guichet/login?return_to=/x",
            &format!("Host: {public_host}\r\n"),
        ),
    )
    .await;
    assert_eq!(status, 302, "{head}");
    let authorize = head_value(&head, "location").unwrap();
    assert!(authorize.starts_with(&h.stack.mock.issuer()), "{authorize}");
    assert_eq!(
        query(&authorize)["redirect_uri"],
        format!("{}/.guichet/callback", h.url)
    );
    let set_cookie = head_value(&head, "set-cookie").unwrap();
    assert!(
        !set_cookie.to_ascii_lowercase().contains("domain"),
        "{set_cookie}"
    );

    // Logout: the provider sends the citizen back to the public URL.
    let b = h.browser();
    let cookie = b.login(&h, "elodie", "/").await.logout_cookies();
    let (status, head) = raw_exchange(
        &h.url,
        &request(
            "/.guichet/logout",
            &format!("Host: 127.0.0.1:1\r\nCookie: {cookie}\r\nSec-Fetch-Site: same-origin\r\n"),
        ),
    )
    .await;
    assert_eq!(status, 302, "{head}");
    let to_provider = head_value(&head, "location").unwrap();
    assert_eq!(
        query(&to_provider)["post_logout_redirect_uri"],
        format!("{}/.guichet/logged-out", h.url)
    );

    // The application is told the public host, not the client's Host.
    h.stack.echo.clear();
    let (status, _) = raw_exchange(&h.url, &request("/public/x", "Host: 127.0.0.1:1\r\n")).await;
    assert_eq!(status, 200);
    let seen = h.stack.echo.last_request().unwrap();
    assert_eq!(seen.header_str("host"), Some(public_host.as_str()));
    assert_eq!(
        seen.header_str("x-forwarded-host"),
        Some(public_host.as_str())
    );
    assert!(seen
        .header_str("forwarded")
        .unwrap()
        .ends_with(&format!("host=\"{public_host}\"")));

    // Hosts that are not a host: refused before anything else.
    h.stack.echo.clear();
    for (what, raw) in [
        ("no Host", request("/public/x", "")),
        (
            "two Hosts",
            request("/public/x", &format!("Host: {public_host}\r\n{evil}")),
        ),
        (
            "userinfo",
            request(
                "/public/x",
                &format!("Host: evil.example@{public_host}\r\n"),
            ),
        ),
        ("a path", request("/public/x", "Host: evil.example/x\r\n")),
        ("a space", request("/public/x", "Host: evil example\r\n")),
        ("empty", request("/public/x", "Host: \r\n")),
        (
            "absolute-form elsewhere",
            request(
                "http://evil.example/public/x",
                &format!("Host: {public_host}\r\n"),
            ),
        ),
    ] {
        let (status, head) = raw_exchange(&h.url, &raw).await;
        // An absolute-form target naming another host: pingora's bare 400, or guichet's 421.
        let expected: &[u16] = if what == "absolute-form elsewhere" {
            &[400, 421]
        } else {
            &[400]
        };
        assert!(expected.contains(&status), "{what}: {head}");
    }
    assert!(h.stack.echo.requests().is_empty(), "the upstream saw one");
    // HTTP/1.0 needs no Host.
    let (status, _) = raw_exchange(&h.url, b"GET /public/x HTTP/1.0\r\n\r\n").await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn letter_case_and_encoded_separators_never_open_a_public_door() {
    let h = Harness::start().await;
    // A case-sensitive application serves /PUBLIC as something else than /public: guichet
    // does not treat it as public.
    for path in ["/PUBLIC", "/PUBLIC/x", "/Public/x", "/pUBLIC/../x"] {
        let (status, head) = raw_get(&h.url, path, "").await;
        if path.contains("..") {
            assert_eq!(status, 400, "{path}: {head}");
        } else {
            assert_eq!(status, 302, "{path}: {head}");
            assert!(head_value(&head, "location")
                .unwrap()
                .starts_with("/.guichet/login"));
        }
    }
    // Encoded slashes and backslashes in the path are refused, and so are dots and
    // separators encoded twice (an application decoding twice would see `/public/../..`)...
    for path in [
        "/public%2Fx",
        "/public%2fx",
        "/public/x%2F..%2F..%2Fwhoami",
        "/public%5Cx",
        "/public/%252e%252e/%252e%252e/whoami",
        "/public%252fx",
    ] {
        let (status, head) = raw_get(&h.url, path, "").await;
        assert_eq!(status, 400, "{path}: {head}");
    }
    assert!(h.stack.echo.requests().is_empty());
    // ...but in the query string they are data, passed on untouched.
    let (status, _) = raw_get(&h.url, "/public/x?next=%2F..%2Fadmin&p=%5C%2f", "").await;
    assert_eq!(status, 200);
    let seen = h.stack.echo.last_request().unwrap();
    assert_eq!(seen.path, "/public/x");
    assert_eq!(seen.query.as_deref(), Some("next=%2F..%2Fadmin&p=%5C%2f"));
    assert!(!h.upstream_saw_identity());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_return_to_trick_lands_on_the_home_page() {
    let h = Harness::start().await;
    // The list is in `tests/login_flow.rs::return_to_never_leaves_the_origin`; these
    // are the variants browsers normalize into an external URL, or guichet's own paths.
    for evil in [
        "/%2F%2Fevil.example",
        "/%5Cevil.example",
        "/\\/evil.example",
        "/\t/evil.example",
        "/%09/evil.example",
        "\t//evil.example",
        " //evil.example",
        "JaVaScRiPt:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "https:evil.example",
        "\\\\evil.example",
        "/.guichet/logout",
        "/.GUICHET/login?return_to=//evil.example",
        "/%2e%2e/.guichet/logout",
        "/a/../.guichet/logout",
        "/x%3F/../.guichet/logout",
    ] {
        let landed = h.browser().login(&h, "angela", evil).await;
        assert_eq!(landed.status, StatusCode::OK, "{evil:?}");
        let last = landed.hops.last().unwrap();
        assert!(last.starts_with(&h.url), "{evil:?} led to {last}");
        assert_eq!(reqwest::Url::parse(last).unwrap().path(), "/", "{evil:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_cookie_from_another_deployment_opens_nothing() {
    // Production and staging share one Redis and the default key prefix.
    let redis = RedisServer::start();
    let prod = Harness::with(Setup {
        extra_toml: redis.session_toml(""),
        ..Setup::default()
    })
    .await;
    let staging = prod
        .other_gateway(
            "staging",
            Other {
                own_public_url: true,
                ..Other::default()
            },
            |text| text,
        )
        .await;
    // Each deployment's own sessions work.
    let citizen = prod.browser();
    let prod_cookie = citizen.login(&prod, "elodie", "/").await.session_cookie();
    let tester = prod.browser();
    let landed = tester.login_via(&staging.url, "angela", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    let staging_cookie = landed.session_cookie();
    let r = get_with_cookie(&format!("{}/whoami", staging.url), &staging_cookie).await;
    assert_eq!(r.status(), StatusCode::OK);

    // A staging cookie never opens production, nor the reverse.
    prod.stack.echo.clear();
    let r = get_with_cookie(&format!("{}/whoami", prod.url), &staging_cookie).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let r = get_with_cookie(&format!("{}/api/me", prod.url), &staging_cookie).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = get_with_cookie(&format!("{}/whoami", staging.url), &prod_cookie).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let r = get_with_cookie(&format!("{}/public/x", prod.url), &staging_cookie).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        !prod.upstream_saw_identity(),
        "staging's identity reached production's app"
    );
    // Both live in the same Redis, each under its own key space.
    let spaces: std::collections::BTreeSet<String> = redis
        .keys("guichet:*:s:*")
        .iter()
        .filter_map(|k| k.split(':').nth(1).map(String::from))
        .collect();
    assert_eq!(spaces.len(), 2, "{spaces:?}");
}
