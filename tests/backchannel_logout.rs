//! OpenID Connect Back-Channel Logout at `/.guichet/backchannel-logout`: one test per check a
//! logout token must pass (each refusal names its reason and leaves the session alive), then
//! the valid token that ends it. The cross-replica case is in `tests/redis_sessions.rs`.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::*;
use guichet::demo::citizens;
use reqwest::StatusCode;
use serde_json::{json, Value};

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

async fn with_backchannel() -> Harness {
    Harness::with(Setup {
        provider_toml: "backchannel_logout = true".into(),
        ..Setup::default()
    })
    .await
}

fn claims(h: &Harness, citizen: &str) -> Value {
    let mock = &h.stack.mock;
    let now = guichet::session::now();
    json!({
        "iss": mock.issuer(), "aud": mock.client_id(), "iat": now, "exp": now + 120,
        "jti": guichet::crypto::random_hex32(),
        "sub": citizens::find(citizen).unwrap().sub(mock.client_id()),
        "events": { EVENT: {} },
    })
}

async fn send(h: &Harness, fields: &[(&str, &str)]) -> (StatusCode, Value) {
    let r = post_form(
        &format!("{}/.guichet/backchannel-logout", h.url),
        fields,
        &[],
    )
    .await;
    let status = r.status();
    assert_eq!(r.headers()["cache-control"], "no-store");
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn alive(h: &Harness, cookie: &str) -> bool {
    get_with_cookie(&format!("{}/whoami", h.url), cookie)
        .await
        .status()
        == StatusCode::OK
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_logout_token_check_refuses_and_keeps_the_session() {
    let h = with_backchannel().await;
    let cookie = h.browser().login(&h, "elodie", "/").await.session_cookie();
    let mock = &h.stack.mock;
    let now = guichet::session::now();
    let good = claims(&h, "elodie");
    let signed = |c: &Value| mock.sign_jwt("logout+jwt", c);
    let with = |k: &str, v: Value| {
        let mut c = good.clone();
        c[k] = v;
        signed(&c)
    };
    let without = |k: &str| {
        let mut c = good.clone();
        c.as_object_mut().unwrap().remove(k);
        signed(&c)
    };
    // One signature character changed (the first: a full 6 bits, so still valid base64url).
    let token = signed(&good);
    let at = token.rfind('.').unwrap() + 1;
    let flipped = if token[at..].starts_with('A') {
        "B"
    } else {
        "A"
    };
    let bad_signature = format!("{}{flipped}{}", &token[..at], &token[at + 1..]);
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"logout+jwt"}"#),
        URL_SAFE_NO_PAD.encode(good.to_string())
    );
    let cases: Vec<(String, &str)> = vec![
        ("not a token".into(), "malformed"),
        (bad_signature, "token_bad_signature"),
        (unsigned, "token_alg_not_allowed"),
        (
            with("iss", json!(format!("{}/other", mock.issuer()))),
            "unknown_issuer",
        ),
        (with("aud", json!("someone-else")), "token_wrong_audience"),
        (with("iat", json!(now + 3600)), "token_iat_in_future"),
        (with("iat", json!(now - 1000)), "too_old"),
        (without("iat"), "iat_missing"),
        (with("exp", json!(now - 200)), "token_expired"),
        // Required since errata set 1 of Back-Channel Logout 1.0.
        (without("exp"), "exp_missing"),
        // `iss` one string, compared exactly; `aud` naming the client.
        (
            with("iss", json!([mock.issuer(), "https://evil.example"])),
            "malformed",
        ),
        (
            with("iss", json!(format!("{}/", mock.issuer()))),
            "unknown_issuer",
        ),
        (with("aud", json!(42)), "token_missing_claim"),
        (
            with("aud", json!([mock.client_id(), "someone-else"])),
            "token_wrong_azp",
        ),
        (without("jti"), "jti_missing"),
        (without("events"), "events_missing"),
        (
            with("events", json!({"http://example.com/other": {}})),
            "events_missing",
        ),
        (with("nonce", json!("n")), "nonce_present"),
        (without("sub"), "sub_and_sid_missing"),
        (with("sub", json!(42)), "token_missing_claim"),
        // Explicitly typed as something else (an id_token is typed JWT).
        (mock.sign_jwt("JWT", &good), "token_wrong_typ"),
        (mock.sign_jwt("at+jwt", &good), "token_wrong_typ"),
    ];
    for (token, reason) in &cases {
        let (status, body) = send(&h, &[("logout_token", token)]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{reason}");
        assert_eq!(body["error"], "invalid_request");
        assert_eq!(body["error_description"], *reason);
        assert!(
            alive(&h, &cookie).await,
            "session ended by a token with {reason}"
        );
    }
    // No field, two fields: refused too.
    let token = signed(&good);
    let (status, body) = send(&h, &[]).await;
    assert_eq!(
        (status, body["error_description"].as_str()),
        (StatusCode::BAD_REQUEST, Some("missing_logout_token"))
    );
    let (status, _) = send(&h, &[("logout_token", &token), ("logout_token", &token)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Only POST; bodies are bounded.
    let r = reqwest::get(format!("{}/.guichet/backchannel-logout", h.url))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    let huge = "a".repeat(70 * 1024);
    let r = post_form(
        &format!("{}/.guichet/backchannel-logout", h.url),
        &[("logout_token", &huge)],
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(alive(&h, &cookie).await);
    let refusals = h
        .audit()
        .iter()
        .filter(|e| e["event"] == "logout" && e["outcome"] == "failure")
        .count();
    assert!(
        refusals >= cases.len(),
        "{refusals} refusals in the evidence log"
    );

    // A valid token whose `sid` names no session here (the mock puts no `sid` in id_tokens)
    // is accepted and ends nothing: never every session of its `sub`.
    let mut c = good.clone();
    c["sid"] = json!("op-session-1");
    let token = signed(&c);
    let (status, _) = send(&h, &[("logout_token", &token)]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        alive(&h, &cookie).await,
        "a sid that names no session ends nothing"
    );
    // Without `sid`, the `sub` decides: the session ends (the typ may be left out).
    let mut c = good.clone();
    c["jti"] = json!(guichet::crypto::random_hex32());
    let token = mock.sign_jwt("", &c);
    let (status, _) = send(&h, &[("logout_token", &token)]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!alive(&h, &cookie).await);
    let (status, body) = send(&h, &[("logout_token", &token)]).await;
    assert_eq!(
        (status, body["error_description"].as_str()),
        (StatusCode::BAD_REQUEST, Some("jti_replayed"))
    );

    let audit = h.audit();
    let done = audit
        .iter()
        .find(|e| e["event"] == "logout" && e["reason"] == "backchannel")
        .expect("back-channel logout in the evidence log");
    assert_eq!(done["sub"], good["sub"]);
    let m = h.metrics().await;
    assert!(
        m.contains("guichet_logouts_total{kind=\"backchannel\"} 1"),
        "{m}"
    );
    let logs = h.logs();
    let all_audit = h.gateway.audit_text();
    for (token, _) in &cases {
        if token.len() > 20 {
            assert!(!logs.contains(token.as_str()) && !all_audit.contains(token.as_str()));
        }
    }
    assert!(!logs.contains(&token) && !all_audit.contains(&token));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sub_ends_every_session_of_that_citizen_and_only_theirs() {
    let h = with_backchannel().await;
    let a1 = h.browser().login(&h, "ana", "/").await.session_cookie();
    let a2 = h.browser().login(&h, "ana", "/").await.session_cookie();
    let other = h.browser().login(&h, "angela", "/").await.session_cookie();
    let token = h.stack.mock.sign_jwt("logout+jwt", &claims(&h, "ana"));
    let (status, _) = send(&h, &[("logout_token", &token)]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!alive(&h, &a1).await && !alive(&h, &a2).await);
    assert!(alive(&h, &other).await);
    let m = h.metrics().await;
    assert!(
        m.contains("guichet_logouts_total{kind=\"backchannel\"} 2"),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_without_back_channel_logout_are_not_heard() {
    let h = Harness::start().await;
    let cookie = h.browser().login(&h, "ana", "/").await.session_cookie();
    let token = h.stack.mock.sign_jwt("logout+jwt", &claims(&h, "ana"));
    let (status, body) = send(&h, &[("logout_token", &token)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error_description"], "unknown_issuer");
    assert!(alive(&h, &cookie).await);
}
