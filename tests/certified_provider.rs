//! guichet against a certified OpenID provider: panva's node-oidc-provider (OpenID Foundation
//! certified; `tests/oidc-provider/`, version pinned in its `package-lock.json`), configured
//! from each test (algorithms, userinfo, client authentication, PKCE, RFC 9207, back-channel
//! logout, key rotation, clock), driven through its own pages as a browser would. Our mock
//! shares our assumptions; this provider does not. The mock stays for what only it can do
//! (FranceConnect's quirks, JWE, faults).

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::oidc_provider::{OpHarness, OpSetup, USER};
use common::*;
use reqwest::StatusCode;
use serde_json::Value;
use std::time::{Duration, Instant};

fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("json")
}

fn header(token: &str) -> Value {
    let part = token.split('.').next().expect("header");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("json")
}

/// `url` with its `iss` parameter removed, then set to `iss` if given.
fn with_iss(url: &str, iss: Option<&str>) -> String {
    let mut u = reqwest::Url::parse(url).unwrap();
    let mut kept: Vec<(String, String)> = u
        .query_pairs()
        .filter(|(k, _)| k != "iss")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if let Some(iss) = iss {
        kept.push(("iss".into(), iss.into()));
    }
    u.query_pairs_mut().clear().extend_pairs(kept);
    u.to_string()
}

/// The identity headers the application received match the provider's user.
fn assert_identity(h: &OpHarness) {
    assert_eq!(h.upstream_header("x-pivot-sub").as_deref(), Some(USER));
    assert_eq!(
        h.upstream_header("x-pivot-given-name").as_deref(),
        Some("Élodie")
    );
    // A login handle is a generic provider's preferred_username (OpenID Connect Core).
    assert_eq!(
        h.upstream_header("x-pivot-preferred-username").as_deref(),
        Some("bench-user-42")
    );
    assert_eq!(
        h.upstream_header("x-pivot-email").as_deref(),
        Some("elodie.muller@example.org")
    );
    assert_eq!(h.upstream_header("x-pivot-provider").as_deref(), Some("op"));
    let r = h.echo.last_request().expect("a request");
    match &r.assertion {
        Some(Ok(claims)) => assert_eq!(claims["sub"], USER),
        other => panic!("assertion: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es256_pkce_basic_auth_json_userinfo_then_rp_initiated_logout() {
    // The provider refuses any authorization request without PKCE.
    let h = OpHarness::start(OpSetup::default()).await;
    let b = Browser::new();
    let (back, authorize) = h.authorize(&b).await;
    let q = query(&authorize);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["redirect_uri"], format!("{}/.guichet/callback", h.url));
    assert_eq!(query(&back)["iss"], h.op.issuer);
    let landed = b.follow(&back).await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    assert_identity(&h);
    let cookie = landed.session_cookie();
    assert!(h.alive(&cookie).await);

    // RP-initiated logout: guichet ends the session, the provider confirms (id_token_hint,
    // registered post_logout_redirect_uri, state) and sends the browser back.
    let landed = h.logout(&b).await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    assert!(
        landed.hops.iter().any(
            |u| u.starts_with(&format!("{}/session/end?", h.op.base_url))
                && query(u).contains_key("id_token_hint")
        ),
        "{:?}",
        landed.hops
    );
    assert!(landed
        .url
        .starts_with(&format!("{}/.guichet/logged-out", h.url)));
    assert!(!h.alive(&cookie).await);
    // The provider's session is over too: a new login meets its login form again instead of
    // coming straight back.
    let r = b
        .get(&format!("{}/.guichet/login?return_to=/whoami", h.url))
        .await;
    let mut next = location(&r);
    for _ in 0..5 {
        let r = b.get(&next).await;
        if !r.status().is_redirection() {
            assert!(r.text().await.unwrap().contains("name=\"login\""));
            return;
        }
        next = reqwest::Url::parse(&next)
            .unwrap()
            .join(&location(&r))
            .unwrap()
            .to_string();
        assert!(!next.starts_with(&h.url), "back without a login: {next}");
    }
    panic!("no login form");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs256_signed_userinfo_and_client_secret_post() {
    // The client is registered for client_secret_post (the provider refuses basic for it),
    // RS256 id_tokens and RS256-signed userinfo; guichet is pinned to a signed userinfo, so a
    // JSON answer would be refused.
    let h = OpHarness::start(OpSetup {
        id_token_alg: "RS256",
        userinfo_alg: Some("RS256"),
        token_auth: "client_secret_post",
        provider_toml:
            "token_auth = \"client_secret_post\"\nuserinfo = \"jwt\"\nid_token_algs = [\"RS256\"]\n"
                .into(),
        ..OpSetup::default()
    })
    .await;
    let landed = h.login(&Browser::new()).await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    assert_identity(&h);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es256_signed_userinfo_with_automatic_format_and_authentication() {
    let h = OpHarness::start(OpSetup {
        userinfo_alg: Some("ES256"),
        ..OpSetup::default()
    })
    .await;
    let landed = h.login(&Browser::new()).await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    assert_identity(&h);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc_9207_iss_present_absent_or_wrong() {
    // The provider sends `iss` and advertises it: required, and compared exactly.
    let h = OpHarness::start(OpSetup::default()).await;
    let wrong = format!("{}/", h.op.issuer);
    for (iss, reason) in [
        (None, "response_missing_issuer"),
        (Some(wrong.as_str()), "response_wrong_issuer"),
    ] {
        let b = Browser::new();
        let (back, _) = h.authorize(&b).await;
        let landed = b.follow(&with_iss(&back, iss)).await;
        assert_eq!(landed.status, StatusCode::BAD_GATEWAY, "{reason}");
        assert_eq!(h.last_login_reason().as_deref(), Some(reason));
    }
    // A provider without RFC 9207: no `iss`, nothing advertised; logins work, and an `iss`
    // slipped into a response is still compared.
    let h = OpHarness::start(OpSetup {
        iss_parameter: false,
        ..OpSetup::default()
    })
    .await;
    let b = Browser::new();
    let (back, _) = h.authorize(&b).await;
    assert!(!query(&back).contains_key("iss"), "{back}");
    assert_eq!(b.follow(&back).await.status, StatusCode::OK);
    let b = Browser::new();
    let (back, _) = h.authorize(&b).await;
    let landed = b
        .follow(&with_iss(&back, Some("https://evil.example")))
        .await;
    assert_eq!(landed.status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        h.last_login_reason().as_deref(),
        Some("response_wrong_issuer")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issuer_ending_in_a_slash_is_used_exactly_as_configured() {
    // Auth0-style: the issuer is "http://127.0.0.1:PORT/". Discovery, the id_token, the
    // RFC 9207 `iss` and the logout token all carry it with its slash.
    let h = OpHarness::start(OpSetup {
        issuer_path: "/",
        backchannel: true,
        ..OpSetup::default()
    })
    .await;
    assert!(h.op.issuer.ends_with('/'));
    let b = Browser::new();
    let (back, _) = h.authorize(&b).await;
    assert_eq!(query(&back)["iss"], h.op.issuer);
    let landed = b.follow(&back).await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    let cookie = landed.session_cookie();
    // A logout at the provider: its logout token names the issuer with its slash.
    let landed = h.logout_at_provider(&b).await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    let tokens = h.recorder.tokens();
    assert_eq!(tokens.len(), 1);
    assert_eq!(payload(&tokens[0])["iss"], h.op.issuer);
    assert!(!h.alive(&cookie).await, "the logout token was refused");
    assert!(h
        .audit()
        .iter()
        .any(|e| e["event"] == "logout" && e["reason"] == "backchannel"));

    // The same provider configured without the slash is another issuer: discovery says so,
    // guichet never becomes ready and tells why.
    let trimmed = h.op.issuer.trim_end_matches('/').to_string();
    let other = OpHarness::start_with(
        OpSetup {
            issuer_path: "/",
            configured_issuer: Some(trimmed),
            ..OpSetup::default()
        },
        false,
    )
    .await;
    let r = reqwest::get(format!("{}/readyz", other.url)).await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["providers_not_ready"][0], "op");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_channel_logout_ends_only_the_provider_session_it_names() {
    let h = OpHarness::start(OpSetup {
        backchannel: true,
        ..OpSetup::default()
    })
    .await;
    // The same citizen in two browsers: two provider sessions, two `sid`s.
    let (a, b) = (Browser::new(), Browser::new());
    let landed = h.login(&a).await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    let cookie_a = landed.session_cookie();
    let landed = h.login(&b).await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    let cookie_b = landed.session_cookie();

    // A logs out through guichet: guichet ends A's session, then the provider posts a logout
    // token with A's `sid`. No session of that `sid` is left: B must live on.
    let landed = h.logout(&a).await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    let tokens = h.recorder.tokens();
    assert_eq!(tokens.len(), 1, "{}", h.op.logs());
    let token_a = tokens[0].clone();
    assert_eq!(header(&token_a)["typ"], "logout+jwt");
    let claims_a = payload(&token_a);
    assert!(
        claims_a["sid"].is_string() && claims_a["exp"].is_u64(),
        "{claims_a}"
    );
    assert!(!h.alive(&cookie_a).await);
    assert!(
        h.alive(&cookie_b).await,
        "a logout in one browser ended the other"
    );
    assert!(h
        .audit()
        .iter()
        .any(|e| e["event"] == "logout" && e["reason"] == "backchannel_no_session"));

    // The provider's token again: a replay.
    let send = |token: String| {
        let url = format!("{}/.guichet/backchannel-logout", h.url);
        async move {
            let r = post_form(&url, &[("logout_token", &token)], &[]).await;
            let status = r.status();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            (
                status,
                body["error_description"].as_str().unwrap_or("").to_string(),
            )
        }
    };
    assert_eq!(
        send(token_a.clone()).await,
        (StatusCode::BAD_REQUEST, "jti_replayed".to_string())
    );
    // Tampered tokens: B's `sid` under A's signature, no signature, alg none, another typ,
    // the id_token guichet holds for B is not a logout token either.
    let parts: Vec<&str> = token_a.split('.').collect();
    let mut forged = claims_a.clone();
    forged["sid"] = Value::String("someone-else".into());
    forged["jti"] = Value::String("forged".into());
    let forged = URL_SAFE_NO_PAD.encode(forged.to_string());
    let none = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"logout+jwt"}"#);
    for (token, reason) in [
        (
            format!("{}.{forged}.{}", parts[0], parts[2]),
            "token_bad_signature",
        ),
        (format!("{}.{}.", parts[0], parts[1]), "token_bad_signature"),
        (format!("{none}.{forged}."), "token_alg_not_allowed"),
        ("a.b".to_string(), "malformed"),
    ] {
        assert_eq!(
            send(token).await,
            (StatusCode::BAD_REQUEST, reason.to_string())
        );
    }
    assert!(h.alive(&cookie_b).await);

    // B logs out at the provider itself (another application's button): its token names B's
    // `sid`, and B's session ends.
    let landed = h.logout_at_provider(&b).await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    let tokens = h.recorder.tokens();
    assert_eq!(tokens.len(), 2);
    assert_ne!(payload(&tokens[1])["sid"], claims_a["sid"]);
    assert!(!h.alive(&cookie_b).await);
    let m = h.metrics().await;
    assert!(
        m.contains("guichet_logouts_total{kind=\"backchannel\"} 1"),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotation_is_picked_up_seconds_after_the_last_download() {
    let h = OpHarness::start(OpSetup::default()).await;
    let ready = Instant::now();
    let landed = h.login(&Browser::new()).await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    // The provider replaces its keys: tokens now name a kid guichet never saw. Once its
    // cached set is older than the floor (5 s by default), guichet downloads it again.
    h.op.rotate_keys().await;
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(ready.elapsed())).await;
    let landed = h.login(&Browser::new()).await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    assert!(h
        .metrics()
        .await
        .contains("guichet_jwks_refreshes_total{provider=\"op\",result=\"success\"} 2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_skew_both_ways() {
    // id_tokens live 60 s; guichet tolerates 60 s of skew by default.
    let h = OpHarness::start(OpSetup::default()).await;
    for (offset, expect) in [
        (45, None),
        (-45, None),
        (200, Some("id_token_iat_in_future")),
        (-200, Some("id_token_expired")),
    ] {
        h.op.set_clock_offset(offset).await;
        let landed = h.login(&Browser::new()).await;
        match expect {
            None => assert_eq!(landed.status, StatusCode::OK, "{offset}: {}", landed.body),
            Some(reason) => {
                assert_eq!(landed.status, StatusCode::BAD_GATEWAY, "{offset}");
                assert_eq!(h.last_login_reason().as_deref(), Some(reason), "{offset}");
            }
        }
    }
}
