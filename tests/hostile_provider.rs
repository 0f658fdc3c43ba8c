//! A provider that misbehaves in the ways `tests/login_security.rs` does not cover: a code
//! redeemed twice, answers far too large, claims that are not text, a token endpoint that
//! never answers, keys that cannot be fetched, errors full of markup (issue 9, R3, R6).
//!
//! Like `login_security.rs`, each refusal must end on a clear page (never a 500), set no
//! session, record its reason in the evidence log, and the upstream must never see an
//! identity; each test fails if its check is removed (the login would then succeed, or hang).

mod common;

use common::*;
use guichet::demo::provider::{Faults, Flavour};
use reqwest::StatusCode;
use std::time::{Duration, Instant};

fn f() -> Faults {
    Faults::default()
}

/// A stack whose provider answers userinfo as plain JSON and whose `given_name` is part of
/// the identity its federation guarantees (FranceConnect v1): a value outside the rule fails
/// the login. (A generic provider's optional claims are dropped instead: see
/// `a_generic_provider_s_bad_claims_are_dropped_and_counted_not_fatal`.)
fn json_userinfo() -> Setup {
    Setup {
        flavour: Flavour::FranceConnectV1,
        ..Setup::default()
    }
}

/// A userinfo `given_name` whose JSON value is exactly `raw`.
fn raw_given_name(raw: &[u8]) -> Faults {
    Faults {
        userinfo_raw_claim: Some(("given_name".into(), raw.to_vec())),
        ..f()
    }
}

/// A JSON string of `n` letters.
fn long_string(n: usize) -> Vec<u8> {
    format!("\"{}\"", "a".repeat(n)).into_bytes()
}

macro_rules! refused {
    ($name:ident, $setup:expr, $faults:expr, $reason:literal) => {
        refused!($name, $setup, $faults, $reason, StatusCode::BAD_GATEWAY);
    };
    ($name:ident, $setup:expr, $faults:expr, $reason:literal, $status:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let h = Harness::with($setup).await;
            assert_refused(&h, $faults, $reason, $status).await;
        }
    };
}

// Oversized tokens and claims: every provider answer is read within 256 KiB, every token
// within 16 KiB, every claim within its rule's length.
refused!(
    id_token_of_100_kib,
    Setup::default(),
    Faults {
        id_token_padding: 100 * 1024,
        ..f()
    },
    "bad_response_token"
);
refused!(
    token_response_larger_than_any_answer_guichet_reads,
    Setup::default(),
    Faults {
        id_token_padding: 400 * 1024,
        ..f()
    },
    "bad_response_token"
);
refused!(
    signed_userinfo_with_a_claim_of_100_kib,
    Setup::default(),
    raw_given_name(&long_string(100 * 1024)),
    "userinfo_malformed"
);
refused!(
    json_userinfo_with_a_claim_of_100_kib,
    json_userinfo(),
    raw_given_name(&long_string(100 * 1024)),
    "invalid_claim_given_name"
);
refused!(
    json_userinfo_larger_than_any_answer_guichet_reads,
    json_userinfo(),
    raw_given_name(&long_string(400 * 1024)),
    "bad_response_userinfo"
);

// Claims that are not clean text.
refused!(
    json_userinfo_with_invalid_utf8,
    json_userinfo(),
    raw_given_name(b"\"\xc3\x28\xff\xfeJean\""),
    "bad_response_userinfo"
);
refused!(
    json_userinfo_with_a_lone_surrogate,
    json_userinfo(),
    raw_given_name(b"\"Jean\\ud800\""),
    "bad_response_userinfo"
);
refused!(
    json_userinfo_with_a_raw_control_character,
    json_userinfo(),
    raw_given_name(b"\"Jean\x01Pierre\""),
    "bad_response_userinfo"
);
refused!(
    json_userinfo_with_an_escaped_line_break,
    json_userinfo(),
    raw_given_name(b"\"Jean\\r\\nX-Pivot-Sub: admin\""),
    "invalid_claim_given_name"
);
refused!(
    json_userinfo_with_an_escaped_nul,
    json_userinfo(),
    raw_given_name(b"\"Jean\\u0000\""),
    "invalid_claim_given_name"
);
refused!(
    json_userinfo_with_a_bidi_override,
    json_userinfo(),
    raw_given_name("\"Jean\u{202e}nialliV\"".as_bytes()),
    "invalid_claim_given_name"
);
refused!(
    json_userinfo_with_a_claim_of_the_wrong_type,
    json_userinfo(),
    raw_given_name(b"{\"first\": \"Jean\"}"),
    "invalid_claim_given_name"
);
refused!(
    signed_userinfo_with_invalid_utf8,
    Setup::default(),
    raw_given_name(b"\"\xc3\x28\xff\xfeJean\""),
    "userinfo_malformed"
);
refused!(
    signed_userinfo_with_an_escaped_control_character,
    Setup::default(),
    raw_given_name(b"\"Jean\\u0007\""),
    "invalid_claim_given_name"
);

// The provider refuses the code (as for a code already redeemed) and says so with markup.
refused!(
    token_endpoint_says_invalid_grant,
    Setup::default(),
    Faults {
        token_error: Some("invalid_grant".into()),
        ..f()
    },
    "token_refused"
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_code_is_refused_by_the_provider_and_gets_a_clear_page() {
    let h = Harness::start().await;
    // A first login redeems its code.
    let first = h.browser();
    let callback = first.start_login(&h, "elodie").await;
    let code = query(&callback)["code"].clone();
    assert_eq!(first.follow(&callback).await.status, StatusCode::OK);
    // An attacker who saw that code starts a login of their own (a fresh state bound to their
    // browser) and comes back with the stolen code instead of theirs.
    let attacker = h.browser();
    let theirs = attacker.start_login(&h, "angela").await;
    let mut url = reqwest::Url::parse(&theirs).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "code" { code.clone() } else { v.into() };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let tokens_before = h.stack.mock.counters().token;
    let landed = attacker.follow(url.as_str()).await;
    assert_eq!(landed.status, StatusCode::BAD_GATEWAY, "{}", landed.body);
    assert!(landed.body.contains("<h1>") && landed.body.contains("lang=\"fr\""));
    assert_eq!(h.last_login_reason().as_deref(), Some("token_refused"));
    assert_eq!(h.stack.mock.counters().token, tokens_before + 1);
    assert!(!landed.set_cookies.iter().any(|c| c.starts_with("guichet=")));
    let r = attacker.get(&format!("{}/whoami", h.url)).await;
    assert_eq!(r.status(), StatusCode::FOUND, "the attacker got a session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provider_s_error_text_never_reaches_a_page_or_a_log() {
    let h = Harness::start().await;
    assert_refused(
        &h,
        Faults {
            token_error: Some("<script>alert(1)</script>\r\nSet-Cookie: pwned=1".into()),
            ..f()
        },
        "token_refused",
        StatusCode::BAD_GATEWAY,
    )
    .await;
    let logs = h.logs();
    for bad in ["<script>", "pwned", "alert"] {
        assert!(!logs.contains(bad), "{bad} in the logs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_errors_with_odd_characters_are_escaped_and_bounded() {
    let h = Harness::start().await;
    let error = format!(
        "<script>alert(1)</script>\r\nSet-Cookie: pwned=1\u{0}\u{202e}{}",
        "é".repeat(5000)
    );
    h.set_faults(Faults {
        authorize_error: Some(error),
        authorize_error_description: Some(format!(
            "<img src=x onerror=alert(2)>\"'\u{7}{}",
            "x".repeat(20_000)
        )),
        ..f()
    });
    let b = h.browser();
    let landed = b.login(&h, "elodie", "/whoami").await;
    assert_eq!(landed.status, StatusCode::BAD_GATEWAY, "{}", landed.body);
    assert!(landed.body.contains("<h1>"));
    for bad in ["<script", "<img", "onerror", "pwned=1\r", "\u{202e}"] {
        assert!(!landed.body.contains(bad), "{bad:?} on the page");
    }
    assert!(
        landed.body.len() < 16 * 1024,
        "the page grew with the error"
    );
    let reason = h.last_login_reason().expect("a login event");
    assert!(reason.starts_with("provider_error_"), "{reason}");
    assert!(
        reason.len() <= "provider_error_".len() + 64
            && reason
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"_-.".contains(&c)),
        "{reason}"
    );
    // The metrics label is folded: a provider cannot mint label values.
    let metrics = h.metrics().await;
    assert!(
        metrics.contains("reason=\"provider_error_other\""),
        "{metrics}"
    );
    assert!(!metrics.contains("script"));
    assert!(!h.logs().contains("onerror"));
    assert!(!h.upstream_saw_identity());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_endpoint_that_never_answers_is_cut_off_by_guichet_s_timeout() {
    let h = Harness::with(Setup {
        provider_toml: "http_timeout = \"1s\"".into(),
        ..Setup::default()
    })
    .await;
    let started = Instant::now();
    assert_refused(
        &h,
        Faults {
            token_delay_ms: 8_000,
            ..f()
        },
        "provider_unavailable",
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "the login took {took:?}");
    assert!(h
        .metrics()
        .await
        .contains("reason=\"provider_unavailable\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_down_during_a_login_with_an_unknown_key_refuses_then_recovers() {
    let h = Harness::with(Setup {
        provider_toml: "jwks_refresh_interval = \"1s\"".into(),
        ..Setup::default()
    })
    .await;
    // Past the refresh floor since the keys were loaded at start.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let jwks_before = h.stack.mock.counters().jwks;
    // A token signed with a key guichet does not have, and the JWKS endpoint answers 503.
    assert_refused(
        &h,
        Faults {
            unknown_kid: true,
            jwks_down: true,
            ..f()
        },
        "id_token_unknown_key",
        StatusCode::BAD_GATEWAY,
    )
    .await;
    assert_eq!(
        h.stack.mock.counters().jwks,
        jwks_before + 1,
        "guichet should have tried the JWKS once"
    );
    // The keys it had are kept: still ready, and the known key still verifies.
    let r = reqwest::get(format!("{}/readyz", h.url)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    h.set_faults(Faults {
        jwks_down: true,
        ..f()
    });
    let landed = h.browser().login(&h, "elodie", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    // The provider rotates and its JWKS comes back: the new key is picked up.
    h.stack.mock.rotate_signing_key();
    h.set_faults(f());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let landed = h.browser().login(&h, "angela", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
}

/// The claims the echo upstream received on its last request.
fn upstream_headers(h: &Harness) -> Vec<(String, String)> {
    h.stack
        .echo
        .last_request()
        .expect("the upstream saw a request")
        .headers
        .iter()
        .map(|(n, v)| (n.clone(), String::from_utf8_lossy(v).into_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generic_provider_s_bad_claims_are_dropped_and_counted_not_fatal() {
    // OpenID Connect Core: a generic provider's given_name is an optional string. One that is
    // not clean text is left out of the identity, counted and recorded; the login goes on.
    let h = Harness::with(Setup {
        flavour: Flavour::Generic,
        ..Setup::default()
    })
    .await;
    let bad: [&[u8]; 5] = [
        b"\"Jean\\u0000\"",
        "\"Jean\u{202e}nialliV\"".as_bytes(),
        b"\"Jean\\r\\nX-Pivot-Sub: admin\"",
        b"{\"first\": \"Jean\"}",
        &long_string(100 * 1024),
    ];
    for (i, raw) in bad.iter().enumerate() {
        h.set_faults(raw_given_name(raw));
        let landed = h.browser().login(&h, "elodie", "/whoami").await;
        assert_eq!(landed.status, StatusCode::OK, "case {i}: {}", landed.body);
        let headers = upstream_headers(&h);
        assert!(
            !headers.iter().any(|(n, _)| n == "x-pivot-given-name"),
            "case {i}: {headers:?}"
        );
        assert!(headers.iter().any(|(n, _)| n == "x-pivot-family-name"));
    }
    let m = h.metrics().await;
    assert!(
        m.contains("guichet_claims_dropped_total{claim=\"given_name\",provider=\"demo\"} 5"),
        "{m}"
    );
    let dropped: Vec<_> = h
        .audit()
        .into_iter()
        .filter(|e| e["event"] == "claim_dropped")
        .collect();
    assert_eq!(dropped.len(), 5);
    assert!(dropped
        .iter()
        .all(|e| e["reason"] == "invalid_claim_given_name" && e["provider"] == "demo"));
    assert!(!std::fs::read_to_string(&h.gateway.audit_path)
        .unwrap()
        .contains("nialliV"));
    h.assert_assertions_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_handle_is_a_generic_provider_s_preferred_username() {
    let h = Harness::with(Setup {
        flavour: Flavour::Generic,
        ..Setup::default()
    })
    .await;
    h.set_faults(Faults {
        userinfo_raw_claim: Some(("preferred_username".into(), b"\"bench-user-42\"".to_vec())),
        ..f()
    });
    let landed = h.browser().login(&h, "elodie", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    let headers = upstream_headers(&h);
    assert!(
        headers
            .iter()
            .any(|(n, v)| n == "x-pivot-preferred-username" && v == "bench-user-42"),
        "{headers:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_the_application_never_receives_never_fails_a_login() {
    // FranceConnect's gender is required in its format, unless the service does not take it.
    let bad_gender = Faults {
        userinfo_raw_claim: Some(("gender".into(), b"\"unknown\"".to_vec())),
        ..f()
    };
    let h = Harness::start().await;
    assert_refused(
        &h,
        bad_gender.clone(),
        "invalid_claim_gender",
        StatusCode::BAD_GATEWAY,
    )
    .await;
    let h = Harness::with(Setup {
        extra_toml: "[headers.claims.gender]\ndrop = true\n".into(),
        ..Setup::default()
    })
    .await;
    h.set_faults(bad_gender);
    let landed = h.browser().login(&h, "elodie", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    assert!(!upstream_headers(&h)
        .iter()
        .any(|(n, _)| n == "x-pivot-gender"));
    assert!(h
        .metrics()
        .await
        .contains("guichet_claims_dropped_total{claim=\"gender\",provider=\"demo\"} 1"));
}
