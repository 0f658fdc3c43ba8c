//! What the application receives, end to end over real HTTP: the signed assertion (verified
//! with a JWT library other than the one that signs it, against the keys guichet publishes),
//! header hygiene against spoofing, trusted proxies, per-claim encodings, route claim
//! profiles, the size cap, and signing key rotation.

mod common;

use common::*;
use guichet::demo::citizens;
use guichet::demo::provider::Faults;
use guichet::identity::headers::decode;
use guichet::vocab::HeaderEncoding;
use reqwest::StatusCode;
use serde_json::{Map, Value};

async fn fetch_jwks(url: &str) -> Value {
    let r = reqwest::get(url).await.expect("jwks");
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.expect("jwks json")
}

/// What an application does: pick the published key by `kid`, pin ES256, verify (josekit).
fn verify(token: &str, jwks: &Value) -> Result<(String, Map<String, Value>), String> {
    let set = josekit::jwk::JwkSet::from_bytes(jwks.to_string()).map_err(|e| e.to_string())?;
    let header = josekit::jwt::decode_header(token).map_err(|e| e.to_string())?;
    let kid = header
        .claim("kid")
        .and_then(Value::as_str)
        .ok_or("no kid")?;
    if header.claim("alg").and_then(Value::as_str) != Some("ES256") {
        return Err("alg".into());
    }
    let jwk = set.get(kid).into_iter().next().ok_or("unknown kid")?;
    let verifier = josekit::jws::ES256
        .verifier_from_jwk(jwk)
        .map_err(|e| e.to_string())?;
    let (payload, _) =
        josekit::jwt::decode_with_verifier(token, &verifier).map_err(|e| e.to_string())?;
    Ok((kid.to_string(), payload.claims_set().clone()))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn assertion_of(r: &guichet::demo::echo::EchoedRequest) -> String {
    let all = r.header_all("x-guichet-assertion");
    assert_eq!(all.len(), 1, "{}: {} assertion headers", r.path, all.len());
    String::from_utf8(all[0].to_vec()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_verifies_the_assertion_against_the_published_keys() {
    let h = Harness::with(Setup {
        rich_identity: true,
        ..Setup::default()
    })
    .await;
    let b = h.browser();
    let landed = b.login(&h, "elodie", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    let token = assertion_of(&h.stack.echo.last_request().unwrap());

    let jwks = fetch_jwks(&format!("{}/.guichet/jwks.json", h.url)).await;
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{jwks}");
    assert_eq!(keys[0]["use"], "sig");
    assert_eq!(keys[0]["alg"], "ES256");
    assert_eq!(keys[0]["kty"], "EC");
    assert!(keys[0].get("d").is_none());

    let (kid, c) = verify(&token, &jwks).unwrap();
    assert_eq!(kid, keys[0]["kid"].as_str().unwrap());
    let elodie = citizens::find("elodie").unwrap();
    assert_eq!(c["iss"], h.url.as_str());
    assert_eq!(c["aud"], h.url.as_str());
    assert_eq!(c["sub"], elodie.sub(h.stack.mock.client_id()));
    let (iat, exp) = (c["iat"].as_u64().unwrap(), c["exp"].as_u64().unwrap());
    assert_eq!(exp - iat, 60);
    assert!(iat <= now() + 1 && now() < exp);
    assert_eq!(c["acr"], "eidas1");
    assert_eq!(c["provider"], "demo");
    assert_eq!(c["idp_id"], "fia1v2");
    // UTF-8 inside the JWT, whatever the header encoding.
    assert_eq!(c["given_name"], "Élodie");
    assert_eq!(c["family_name"], "Müller");
    assert_eq!(c["birthdate"], elodie.birthdate);
    // The session hash is neither the cookie nor its store key.
    let sid = c["sid"].as_str().unwrap();
    let cookie = landed.session_cookie();
    let cookie_value = cookie.split_once('=').unwrap().1;
    assert_eq!(sid.len(), 43);
    assert_ne!(sid, cookie_value);
    assert_ne!(sid, guichet::crypto::sha256_hex(cookie_value.as_bytes()));

    // A tampered token does not verify.
    let mut forged = token.clone();
    forged.replace_range(forged.len() - 5.., "AAAAA");
    assert!(verify(&forged, &jwks).is_err());

    // The echo upstream verified it too, and says so in its answer.
    let body: Value = serde_json::from_str(&landed.body).unwrap();
    assert_eq!(body["assertion"]["verified"], true, "{body}");
    h.assert_assertions_verified();
    // No key configured: a loud warning, and the metrics listener does not serve keys.
    assert!(h.logs().contains("NO ASSERTION SIGNING KEY CONFIGURED"));
    let r = reqwest::get(format!("{}/jwks.json", h.gateway.metrics_url))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_assertion_is_signed_once_then_reused() {
    let h = Harness::start().await;
    let b = h.browser();
    b.login(&h, "ana", "/first").await;
    // More than a second later a new signature would carry another `iat`.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    for _ in 0..3 {
        let r = b.get(&format!("{}/again", h.url)).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let tokens: Vec<String> = h.stack.echo.requests().iter().map(assertion_of).collect();
    assert_eq!(tokens.len(), 4);
    let distinct: std::collections::HashSet<_> = tokens.iter().collect();
    assert_eq!(distinct.len(), 1, "the assertion was signed again");
    h.assert_assertions_verified();
}

const SPOOFED: &[&str] = &[
    "X-Pivot-Sub: forged",
    "x-pivot-sub: forged-again",
    "X-PIVOT-SUB: FORGED",
    "x-PiVoT-sUb: forged",
    "X_Pivot_Sub: forged-cgi",
    "X-Pivot-Acr: eidas3",
    "X-Pivot-Given-Name: Mallory",
    "X-Pivot-Given-Name: Mallory-again",
    "X-Guichet-Assertion: eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.",
    "x-guichet-assertion: forged",
    "X_GUICHET_ASSERTION: forged",
    "X-Nom: Forged",
    "x-nom: Forged",
    "Remote-User: admin",
    "remote_user: admin",
    "X-Forwarded-User: admin",
    "X-Forwarded-For: 203.0.113.9",
    "X-Forwarded-Host: evil.example",
    "X-Forwarded-Proto: gopher",
    "Forwarded: for=203.0.113.9;host=evil.example",
    "X-Real-IP: 203.0.113.9",
];

fn spoofed_lines(extra: &str) -> String {
    let mut s: String = SPOOFED.iter().map(|l| format!("{l}\r\n")).collect();
    s.push_str(extra);
    s
}

/// Header names of a request, `_` read as `-`.
fn folded_names(r: &guichet::demo::echo::EchoedRequest) -> Vec<String> {
    r.headers.iter().map(|(n, _)| n.replace('_', "-")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_identity_and_assertion_headers_never_arrive() {
    let h = Harness::with(Setup {
        extra_toml: "[headers]\nstrip = [\"Remote-User\"]\n\
                     [headers.claims.family_name]\nheader = \"X-Nom\"\n"
            .into(),
        ..Setup::default()
    })
    .await;
    // Without a session, on a public route: none of it arrives.
    let (status, _) = raw_get(&h.url, "/public/x", &spoofed_lines("")).await;
    assert_eq!(status, 200);
    let seen = h.stack.echo.last_request().unwrap();
    for name in folded_names(&seen) {
        assert!(
            !name.starts_with("x-pivot-")
                && ![
                    "x-guichet-assertion",
                    "x-nom",
                    "remote-user",
                    "x-forwarded-user"
                ]
                .contains(&name.as_str()),
            "{name} reached the upstream"
        );
    }
    assert_eq!(seen.header_str("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(seen.header_str("x-real-ip"), Some("127.0.0.1"));
    assert_eq!(seen.header_str("x-forwarded-proto"), Some("http"));
    let host = h.url.trim_start_matches("http://");
    assert_eq!(seen.header_str("x-forwarded-host"), Some(host));
    assert_eq!(
        seen.header_str("forwarded"),
        Some(format!("for=127.0.0.1;proto=http;host=\"{host}\"").as_str())
    );
    assert!(seen.assertion.is_none());
    assert!(!h.upstream_saw_identity());

    // With a session: the real identity, one copy of each header.
    let b = h.browser();
    let landed = b.login(&h, "elodie", "/").await;
    let cookie = landed.session_cookie();
    let (status, _) = raw_get(
        &h.url,
        "/whoami",
        &spoofed_lines(&format!("Cookie: {cookie}\r\n")),
    )
    .await;
    assert_eq!(status, 200);
    let seen = h.stack.echo.last_request().unwrap();
    let names = folded_names(&seen);
    for name in &names {
        assert_eq!(
            names.iter().filter(|n| *n == name).count(),
            1,
            "{name} twice"
        );
        assert!(!["remote-user", "x-forwarded-user"].contains(&name.as_str()));
    }
    let elodie = citizens::find("elodie").unwrap();
    let sub = elodie.sub(h.stack.mock.client_id());
    assert_eq!(seen.header_str("x-pivot-sub"), Some(sub.as_str()));
    assert_eq!(seen.header_str("x-pivot-acr"), Some("eidas1"));
    assert_eq!(seen.header_str("x-pivot-given-name"), Some("%C3%89lodie"));
    assert_eq!(seen.header_str("x-nom"), Some("M%C3%BCller"));
    assert!(seen.header("x-pivot-family-name").is_none());
    assert_eq!(seen.header_str("x-forwarded-for"), Some("127.0.0.1"));
    assert!(seen.header("cookie").is_none());
    let claims = seen.assertion.clone().unwrap().unwrap();
    assert_eq!(claims["sub"], sub.as_str());
    assert_eq!(claims["acr"], "eidas1");
    h.assert_assertions_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_peer_cannot_choose_its_address() {
    // The test client (127.0.0.1) is not among the trusted proxies.
    let h = Harness::with(Setup {
        server_toml: "trusted_proxies = [\"10.0.0.0/8\"]".into(),
        ..Setup::default()
    })
    .await;
    let b = Browser::with_headers(&[("x-forwarded-for", "203.0.113.9")]);
    let landed = b.login(&h, "angela", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK);
    let seen = h.stack.echo.last_request().unwrap();
    assert_eq!(seen.header_str("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(seen.header_str("x-real-ip"), Some("127.0.0.1"));
    let login = h
        .audit()
        .into_iter()
        .find(|e| e["event"] == "login")
        .unwrap();
    assert_eq!(login["client_ip"], "127.0.0.1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_the_client_is_the_rightmost_untrusted_address() {
    let h = Harness::with(Setup {
        server_toml: "trusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\"]".into(),
        ..Setup::default()
    })
    .await;
    // The client wrote 198.51.100.1 itself; the ingress (10.0.0.7) saw 203.0.113.9.
    let b = Browser::with_headers(&[("x-forwarded-for", "198.51.100.1, 203.0.113.9, 10.0.0.7")]);
    let landed = b.login(&h, "angela", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK);
    let seen = h.stack.echo.last_request().unwrap();
    assert_eq!(seen.header_str("x-forwarded-for"), Some("203.0.113.9"));
    assert_eq!(seen.header_str("x-real-ip"), Some("203.0.113.9"));
    assert!(seen
        .header_str("forwarded")
        .unwrap()
        .starts_with("for=203.0.113.9;proto=http;"));
    // The evidence log records the same address.
    let login = h
        .audit()
        .into_iter()
        .find(|e| e["event"] == "login")
        .unwrap();
    assert_eq!(login["client_ip"], "203.0.113.9");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_claim_encodings_reach_the_app_intact() {
    let h = Harness::with(Setup {
        extra_toml: r#"
[headers.claims.given_name]
encoding = "utf8"
[headers.claims.family_name]
encoding = "latin1"
[headers.claims.birthdate]
header = "X-Date-Naissance"
encoding = "base64url"
[headers.claims.email]
drop = true
"#
        .into(),
        rich_identity: true,
        ..Setup::default()
    })
    .await;
    let b = h.browser();
    let landed = b.login(&h, "elodie", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    let seen = h.stack.echo.last_request().unwrap();
    let elodie = citizens::find("elodie").unwrap();
    let raw = |n: &str| seen.header(n).unwrap_or_else(|| panic!("{n} missing"));
    assert_eq!(raw("x-pivot-given-name"), "Élodie".as_bytes());
    assert_eq!(raw("x-pivot-family-name"), b"M\xfcller");
    assert_eq!(
        decode(raw("x-pivot-family-name"), HeaderEncoding::Latin1).as_deref(),
        Some("Müller")
    );
    assert_eq!(
        decode(raw("x-date-naissance"), HeaderEncoding::Base64url).as_deref(),
        Some(elodie.birthdate)
    );
    assert!(seen.header("x-pivot-birthdate").is_none());
    // Dropped: neither a header nor in the assertion.
    assert!(seen.header("x-pivot-email").is_none());
    let claims = seen.assertion.clone().unwrap().unwrap();
    assert!(claims.get("email").is_none());
    assert_eq!(claims["family_name"], "Müller");
    h.assert_assertions_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_receives_only_the_claims_it_lists() {
    let h = Harness::with(Setup {
        extra_toml:
            "[[routes]]\npath = \"/etat-civil\"\nclaims = [\"given_name\", \"family_name\"]\n"
                .into(),
        rich_identity: true,
        ..Setup::default()
    })
    .await;
    let b = h.browser();
    b.login(&h, "elodie", "/").await;
    let r = b.get(&format!("{}/etat-civil/acte", h.url)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let seen = h.stack.echo.last_request().unwrap();
    let mut identity: Vec<_> = seen
        .headers
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| n.starts_with("x-pivot-"))
        .collect();
    identity.sort();
    assert_eq!(
        identity,
        ["x-pivot-family-name", "x-pivot-given-name", "x-pivot-sub"]
    );
    let claims = seen.assertion.clone().unwrap().unwrap();
    for absent in [
        "birthdate",
        "email",
        "gender",
        "birthplace",
        "idp_birthdate",
    ] {
        assert!(claims.get(absent).is_none(), "{absent} in the assertion");
    }
    for present in [
        "sub",
        "given_name",
        "family_name",
        "acr",
        "provider",
        "idp_id",
        "sid",
    ] {
        assert!(claims.contains_key(present), "{present} missing");
    }
    // Another route still gets everything.
    b.get(&format!("{}/dossiers", h.url)).await;
    let seen = h.stack.echo.last_request().unwrap();
    assert!(seen.header("x-pivot-birthdate").is_some());
    assert!(seen
        .assertion
        .clone()
        .unwrap()
        .unwrap()
        .contains_key("birthdate"));
    h.assert_assertions_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_identity_is_refused_at_login() {
    let h = Harness::start().await;
    h.set_faults(Faults {
        oversized_claims: true,
        ..Faults::default()
    });
    let b = h.browser();
    let landed = b.login(&h, "elodie", "/whoami").await;
    assert_eq!(landed.status, StatusCode::BAD_GATEWAY);
    assert!(
        landed.body.contains("Identité trop longue"),
        "{}",
        landed.body
    );
    assert!(!landed.set_cookies.iter().any(|c| c.starts_with("guichet=")));
    assert_eq!(h.last_login_reason().as_deref(), Some("identity_too_large"));
    assert!(!h.upstream_saw_identity());
    // No name in the logs, only the sizes.
    assert!(!h.logs().contains("Éloïse"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_keys_rotate_without_a_failed_verification() {
    let keys = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for name in ["a.pem", "b.pem"] {
        let (pem, _) = guichet::keys::generate("ES256", None).unwrap();
        let path = keys.path().join(name);
        std::fs::write(&path, pem).unwrap();
        paths.push(format!("file:{}", path.display()));
    }
    let (a, b_key) = (&paths[0], &paths[1]);
    let mut h = Harness::with(Setup {
        extra_toml: format!(
            "[headers]\nsigning_keys = [\"{a}\", \"{b_key}\"]\njwks_on_metrics = true\n"
        ),
        ..Setup::default()
    })
    .await;
    assert!(!h.logs().contains("NO ASSERTION SIGNING KEY"));
    let jwks_url = format!("{}/.guichet/jwks.json", h.url);
    // An application fetches the set once and caches it: both keys are in it.
    let cached = fetch_jwks(&jwks_url).await;
    let kids: Vec<String> = cached["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kids.len(), 2);
    assert_eq!(
        fetch_jwks(&format!("{}/jwks.json", h.gateway.metrics_url)).await,
        cached
    );
    let browser = h.browser();
    browser.login(&h, "elodie", "/before").await;
    let old = assertion_of(&h.stack.echo.last_request().unwrap());
    assert_eq!(verify(&old, &cached).unwrap().0, kids[0]);

    // Rotation: the second key becomes the signing key; the first stays published.
    h.restart_with(|text| {
        text.replace(
            &format!("[\"{a}\", \"{b_key}\"]"),
            &format!("[\"{b_key}\", \"{a}\"]"),
        )
    })
    .await;
    let published = fetch_jwks(&jwks_url).await;
    assert_eq!(published["keys"].as_array().unwrap().len(), 2);
    // An assertion signed by the old key still verifies against the new set.
    assert_eq!(verify(&old, &published).unwrap().0, kids[0]);
    // New assertions come from the new key and verify against the set cached before.
    let browser = h.browser();
    let landed = browser.login(&h, "elodie", "/after").await;
    assert_eq!(landed.status, StatusCode::OK);
    let new = assertion_of(&h.stack.echo.last_request().unwrap());
    assert_eq!(verify(&new, &cached).unwrap().0, kids[1]);
    // The echo application never failed a verification and never had to refetch the keys.
    h.assert_assertions_verified();
    assert_eq!(h.stack.echo.jwks_fetches(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_cannot_make_guichet_drop_the_identity_with_connection() {
    let h = Harness::start().await;
    let b = h.browser();
    let landed = b.login(&h, "elodie", "/").await;
    let cookie = landed.session_cookie();
    // RFC 9110 7.6.1: headers named in `Connection` are hop-by-hop. pingora removes the ones a
    // client nominates before guichet adds its own, so the identity arrives whatever the client
    // lists (and nominating X-Forwarded-For is refused outright by pingora with a 400).
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = h.url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET /whoami HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\n\
         Connection: close, X-Pivot-Sub, X-Guichet-Assertion, X-Real-IP, Forwarded\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    let status = String::from_utf8_lossy(&buf)
        .split(' ')
        .nth(1)
        .unwrap_or("")
        .to_string();
    assert_eq!(status, "200", "{}", String::from_utf8_lossy(&buf));
    let seen = h.stack.echo.last_request().unwrap();
    assert_eq!(seen.header_all("x-pivot-sub").len(), 1);
    assert_eq!(seen.header_str("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(seen.header_str("x-real-ip"), Some("127.0.0.1"));
    assert!(seen.header("forwarded").is_some());
    assert!(
        matches!(seen.assertion, Some(Ok(_))),
        "{:?}",
        seen.assertion
    );
    let connection = seen
        .header_str("connection")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        !connection.contains("x-pivot") && !connection.contains("assertion"),
        "{connection}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_with_a_smaller_cap_never_forwards_an_oversized_identity() {
    // Replica A accepts large identities; replica B, sharing the same Redis, does not (a
    // rolling change of max_bytes). B must not send what its upstream cannot take.
    let redis = common::redis::RedisServer::start();
    let a = Harness::with(Setup {
        extra_toml: format!("{}\n[headers]\nmax_bytes = 65536\n", redis.session_toml("")),
        ..Setup::default()
    })
    .await;
    let b = a
        .replica_with("small", |t| {
            t.replace("max_bytes = 65536", "max_bytes = 4096")
        })
        .await;
    a.set_faults(Faults {
        oversized_claims: true,
        ..Faults::default()
    });
    let browser = a.browser();
    let landed = browser.login(&a, "elodie", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    echo_count(&a, 1);
    // Protected page on B: refused, nothing forwarded.
    let r = browser.get(&format!("{}/whoami", b.url)).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    echo_count(&a, 1);
    // Public page on B: passes, without any identity.
    let r = browser.get(&format!("{}/public/x", b.url)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let seen = a.stack.echo.last_request().unwrap();
    assert!(seen.headers.iter().all(|(n, _)| !n.starts_with("x-pivot-")));
    assert!(seen.header("x-guichet-assertion").is_none());
    assert!(b.logs().contains("no identity assertion"));
}

/// How many requests the echo upstream received.
fn echo_count(h: &Harness, n: usize) {
    assert_eq!(h.stack.echo.requests().len(), n);
}
