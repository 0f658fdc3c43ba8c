//! Every check of a login (R2-R6), each against a provider or a client that breaks exactly
//! that rule. A test here fails if its check is removed: the login would then succeed.
//!
//! Each refused login must end on a clear page (4xx/502/503, never 500), set no session,
//! record the reason in the evidence log, and the upstream must never see an identity.

mod common;

use common::*;
use guichet::demo::provider::Faults;
use reqwest::StatusCode;
use std::time::Duration;

macro_rules! refused {
    ($name:ident, $faults:expr, $reason:literal) => {
        refused!($name, $faults, $reason, StatusCode::BAD_GATEWAY);
    };
    ($name:ident, $faults:expr, $reason:literal, $status:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let h = Harness::start().await;
            assert_refused(&h, $faults, $reason, $status).await;
        }
    };
}

fn f() -> Faults {
    Faults::default()
}

refused!(
    forged_signature,
    Faults {
        bad_signature: true,
        ..f()
    },
    "id_token_bad_signature"
);
refused!(
    alg_none,
    Faults {
        alg_none: true,
        ..f()
    },
    "id_token_alg_not_allowed"
);
refused!(
    hs256_keyed_with_the_public_key,
    Faults {
        hs256_with_public_key: true,
        ..f()
    },
    "id_token_alg_not_allowed"
);
refused!(
    wrong_issuer,
    Faults {
        wrong_issuer: true,
        ..f()
    },
    "id_token_wrong_issuer"
);
refused!(
    issuer_given_as_an_array_with_one_matching_member,
    Faults {
        issuer_as_array: true,
        ..f()
    },
    "id_token_wrong_issuer"
);
refused!(
    signed_userinfo_with_an_audience_that_is_not_a_string,
    Faults {
        userinfo_aud_not_a_string: true,
        ..f()
    },
    "userinfo_wrong_audience"
);
refused!(
    wrong_audience,
    Faults {
        wrong_audience: true,
        ..f()
    },
    "id_token_wrong_audience"
);
refused!(
    several_audiences_without_azp,
    Faults {
        extra_audience_without_azp: true,
        ..f()
    },
    "id_token_wrong_azp"
);
refused!(
    expired_id_token,
    Faults {
        expired: true,
        ..f()
    },
    "id_token_expired"
);
refused!(
    iat_in_the_future,
    Faults {
        iat_in_future: true,
        ..f()
    },
    "id_token_iat_in_future"
);
refused!(
    wrong_nonce,
    Faults {
        wrong_nonce: true,
        ..f()
    },
    "id_token_nonce_mismatch"
);
refused!(
    missing_nonce,
    Faults {
        missing_nonce: true,
        ..f()
    },
    "id_token_nonce_mismatch"
);
refused!(
    acr_not_a_level,
    Faults {
        acr: Some("eidas0".into()),
        ..f()
    },
    "id_token_acr_too_low",
    StatusCode::FORBIDDEN
);
refused!(
    unknown_signing_key,
    Faults {
        unknown_kid: true,
        ..f()
    },
    "id_token_unknown_key"
);
refused!(
    userinfo_sub_swapped,
    Faults {
        userinfo_sub_mismatch: true,
        ..f()
    },
    "userinfo_sub_mismatch"
);
refused!(
    userinfo_signed_by_another_key,
    Faults {
        userinfo_signed_by_other_key: true,
        ..f()
    },
    "userinfo_unknown_key"
);
refused!(
    token_endpoint_returns_html,
    Faults {
        token_returns_html: true,
        ..f()
    },
    "bad_response_token"
);
refused!(
    citizen_cancels_at_the_provider,
    Faults {
        authorize_error: Some("access_denied".into()),
        ..f()
    },
    "access_denied",
    StatusCode::FORBIDDEN
);
refused!(
    provider_error_response,
    Faults {
        authorize_error: Some("server_error".into()),
        ..f()
    },
    "provider_error_server_error",
    StatusCode::SERVICE_UNAVAILABLE
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_state_is_refused() {
    let h = Harness::start().await;
    let b = h.browser();
    let callback = b.start_login(&h, "elodie").await;
    let first = b.follow(&callback).await;
    assert_eq!(first.status, StatusCode::OK);
    let cookie = first.session_cookie();
    let exchanges = h.stack.mock.counters().token;
    // The same browser, still logged in (Back to the provider, the callback reopened): back
    // to its page, with the session it has; the state makes nothing.
    let again = b.follow(&callback).await;
    assert_eq!(again.status, StatusCode::OK);
    assert!(again.url.ends_with("/whoami"), "{}", again.url);
    assert!(again.set_cookies.is_empty(), "{:?}", again.set_cookies);
    assert_eq!(h.stack.mock.counters().token, exchanges, "no code exchange");
    // Anyone else (a browser without that session): refused, the state is spent.
    let again = h.browser().follow(&callback).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(again.body.contains("expiré") || again.body.contains("utilisée"));
    assert_eq!(h.last_login_reason().as_deref(), Some("state_unknown"));
    assert_eq!(h.stack.mock.counters().token, exchanges, "no code exchange");
    // Even with the session's cookie, a replay never makes another session.
    let r = get_with_cookie(&callback, &cookie).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(location(&r), "/whoami");
    assert!(r.headers().get("set-cookie").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_from_another_browser_is_refused() {
    let h = Harness::start().await;
    let victim = h.browser();
    let attacker = h.browser();
    // Login CSRF: the attacker starts a login and makes the victim's browser finish it.
    let callback = attacker.start_login(&h, "angela").await;
    let landed = victim.follow(&callback).await;
    assert_eq!(landed.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        h.last_login_reason().as_deref(),
        Some("state_browser_mismatch")
    );
    assert!(!landed.set_cookies.iter().any(|c| c.starts_with("guichet=")));
    assert!(!h.upstream_saw_identity());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_malformed_state_is_refused() {
    let h = Harness::start().await;
    let b = h.browser();
    for q in [
        "code=abc",
        "code=abc&state=short",
        "code=abc&state=a&state=b",
        "",
    ] {
        let r = b.get(&format!("{}/.guichet/callback?{q}", h.url)).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{q}");
    }
    // A well-formed state nobody issued.
    let r = b
        .get(&format!(
            "{}/.guichet/callback?code=abc&state={}",
            h.url,
            "ab".repeat(32)
        ))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        h.stack.mock.counters().token,
        0,
        "no code exchange without a valid state"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_key_rotation_is_picked_up_after_an_unknown_kid() {
    let h = Harness::with(Setup {
        provider_toml: "jwks_refresh_interval = \"1s\"".into(),
        ..Setup::default()
    })
    .await;
    // The provider starts signing with a key it has not published yet: refused...
    assert_refused(
        &h,
        Faults {
            unknown_kid: true,
            ..f()
        },
        "id_token_unknown_key",
        StatusCode::BAD_GATEWAY,
    )
    .await;
    // ...then publishes it (rotation). After the refresh floor, logins work without a restart.
    h.stack.mock.rotate_signing_key();
    h.set_faults(f());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let landed = h.browser().login(&h, "elodie", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unknown_kids_does_not_hammer_the_jwks_endpoint() {
    let h = Harness::start().await;
    let start = std::time::Instant::now();
    let before = h.stack.mock.counters().jwks;
    h.set_faults(Faults {
        unknown_kid: true,
        ..f()
    });
    for _ in 0..6 {
        h.browser().login(&h, "elodie", "/").await;
    }
    let fetched = h.stack.mock.counters().jwks - before;
    // One download per refresh floor (5 s by default) at most, however many forged kids.
    let allowed = 1 + start.elapsed().as_secs() / 5;
    assert!(
        fetched <= allowed,
        "{fetched} JWKS downloads for 6 bad tokens in {:?}",
        start.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotated_seconds_after_the_last_download_is_picked_up_at_once() {
    // Default settings: the JWKS was downloaded at start.
    let h = Harness::start().await;
    let ready = std::time::Instant::now();
    let landed = h.browser().login(&h, "elodie", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    // The provider rotates its key and signs with the new one at once. Once the cached set
    // is older than the floor (seconds, not the minute it used to be), the first token
    // naming the new key downloads the set again and the login succeeds.
    h.stack.mock.rotate_signing_key();
    let floor = Duration::from_secs(5);
    tokio::time::sleep(floor.saturating_sub(ready.elapsed())).await;
    let before = h.stack.mock.counters().jwks;
    let landed = h.browser().login(&h, "angela", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    assert_eq!(h.stack.mock.counters().jwks, before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc_9207_iss_is_required_and_exact_on_success_and_error_responses() {
    // The FranceConnect v2 mock sends `iss` and advertises it, as FranceConnect does.
    let h = Harness::start().await;
    let issuer = h.stack.mock.issuer();
    // Present and exact: the login goes through.
    let b = h.browser();
    let callback = b.start_login(&h, "elodie").await;
    assert_eq!(query(&callback).get("iss"), Some(&issuer));
    assert_eq!(b.follow(&callback).await.status, StatusCode::OK);
    // Missing, or not byte for byte the issuer (a trailing slash more): refused before the
    // code is exchanged.
    let tokens = h.stack.mock.counters().token;
    for reason in ["response_missing_issuer", "response_wrong_issuer"] {
        let b = h.browser();
        let callback = b.start_login(&h, "elodie").await;
        let landed = b.follow(&mutate_for(&callback, reason, &issuer)).await;
        assert_eq!(landed.status, StatusCode::BAD_GATEWAY, "{reason}");
        assert_eq!(h.last_login_reason().as_deref(), Some(reason));
    }
    assert_eq!(
        h.stack.mock.counters().token,
        tokens,
        "no code was exchanged"
    );
    // Error responses too: a cancel without `iss` (or with another) is not believed.
    h.set_faults(Faults {
        authorize_error: Some("access_denied".into()),
        ..f()
    });
    for reason in ["response_missing_issuer", "response_wrong_issuer"] {
        let b = h.browser();
        let callback = b.start_login(&h, "elodie").await;
        assert_eq!(
            query(&callback).get("error").map(String::as_str),
            Some("access_denied")
        );
        let landed = b.follow(&mutate_for(&callback, reason, &issuer)).await;
        assert_eq!(landed.status, StatusCode::BAD_GATEWAY, "{reason}");
        assert_eq!(h.last_login_reason().as_deref(), Some(reason));
    }
    // With its `iss`, the cancel gets its own page.
    let b = h.browser();
    let callback = b.start_login(&h, "elodie").await;
    let landed = b.follow(&callback).await;
    assert_eq!(landed.status, StatusCode::FORBIDDEN);
    assert_eq!(h.last_login_reason().as_deref(), Some("access_denied"));
}

/// The callback URL with its `iss` removed (`response_missing_issuer`) or replaced by the
/// issuer plus a trailing slash (`response_wrong_issuer`).
fn mutate_for(callback: &str, reason: &str, issuer: &str) -> String {
    let mut u = reqwest::Url::parse(callback).unwrap();
    let mut kept: Vec<(String, String)> = u
        .query_pairs()
        .filter(|(k, _)| k != "iss")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if reason == "response_wrong_issuer" {
        kept.push(("iss".into(), format!("{issuer}/")));
    }
    u.query_pairs_mut().clear().extend_pairs(kept);
    u.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_paths_never_reach_a_protected_route_unauthenticated() {
    let h = Harness::with(Setup {
        extra_toml: "[[routes]]\npath = \"/admin\"\naccess = \"browser\"\nmin_level = \"eidas3\"\n"
            .into(),
        ..Setup::default()
    })
    .await;
    for path in [
        "/public/../admin",
        "/public/./../admin",
        "/public/%2e%2e/admin",
        "/public/%2E%2E/admin",
        "/public%2f..%2fadmin",
        "/public/..%5cadmin",
        "/public/..\\admin",
        // Java servers drop `;parameters`, others keep them: refused (docs/security.md).
        "/admin;x=1",
        "/public;x=1/../admin",
    ] {
        let (status, head) = raw_get(&h.url, path, "").await;
        assert_eq!(status, 400, "{path}: {head}");
    }
    for path in ["//admin", "/ADMIN", "/%61dmin", "/public/x/../../admin"] {
        let (status, head) = raw_get(&h.url, path, "").await;
        if path.contains("..") {
            assert_eq!(status, 400, "{path}: {head}");
        } else {
            assert_eq!(status, 302, "{path}: {head}");
            assert!(head.contains("level=eidas3"), "{path}: {head}");
        }
    }
    assert!(h.stack.echo.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callback_naming_another_issuer_is_refused() {
    let h = Harness::start().await;
    let b = h.browser();
    let callback = b.start_login(&h, "elodie").await;
    let landed = b
        .follow(&format!("{callback}&iss=https%3A%2F%2Fevil.example"))
        .await;
    assert_eq!(landed.status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        h.last_login_reason().as_deref(),
        Some("response_wrong_issuer")
    );
    assert_eq!(
        h.stack.mock.counters().token,
        0,
        "the code must not be exchanged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_several_providers_a_response_is_only_taken_at_its_own_redirect_uri() {
    // Two providers; the generic one sends no RFC 9207 `iss`, so only the redirect URI tells
    // whose response a callback is (RFC 9700 4.4.2: mix-up).
    let h = Harness::with(Setup {
        also: vec![guichet::demo::provider::Flavour::Generic],
        ..Setup::default()
    })
    .await;
    let generic = h.stack.others[0].clone();
    // A login at each provider works through its own redirect URI.
    for provider in ["demo", "generic"] {
        let b = h.browser();
        let callback = start_at(&h, &b, provider).await;
        assert!(callback.contains(&format!("/.guichet/callback/{provider}?")));
        assert_eq!(
            b.follow(&callback).await.status,
            StatusCode::OK,
            "{provider}"
        );
    }
    // A response for the generic login brought to the other provider's redirect URI, or to
    // the single-provider one, is refused before its code goes anywhere.
    let tokens = (h.stack.mock.counters().token, generic.counters().token);
    for wrong in ["/.guichet/callback/demo?", "/.guichet/callback?"] {
        let b = h.browser();
        let callback = start_at(&h, &b, "generic").await;
        let moved = callback.replace("/.guichet/callback/generic?", wrong);
        let landed = b.follow(&moved).await;
        assert_eq!(landed.status, StatusCode::BAD_GATEWAY, "{wrong}");
        assert_eq!(
            h.last_login_reason().as_deref(),
            Some("response_wrong_callback")
        );
        // The state was used up: the genuine callback does not work afterwards either.
        assert_eq!(b.follow(&callback).await.status, StatusCode::BAD_REQUEST);
    }
    assert_eq!(
        (h.stack.mock.counters().token, generic.counters().token),
        tokens,
        "no code was exchanged"
    );
}

/// Starts a login at `provider` and returns where the provider sends the browser back
/// (without going there), checking the redirect URI guichet asked for.
async fn start_at(h: &Harness, b: &Browser, provider: &str) -> String {
    let r = b
        .get(&format!(
            "{}/.guichet/login?provider={provider}&return_to=/whoami",
            h.url
        ))
        .await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let authorize = location(&r);
    assert_eq!(
        query(&authorize)["redirect_uri"],
        format!("{}/.guichet/callback/{provider}", h.url)
    );
    b.pick_at_provider(&authorize, "elodie").await
}
