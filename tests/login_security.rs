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
    let again = b.follow(&callback).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(again.body.contains("expiré") || again.body.contains("utilisée"));
    assert_eq!(h.last_login_reason().as_deref(), Some("state_unknown"));
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
    let before = h.stack.mock.counters().jwks;
    h.set_faults(Faults {
        unknown_kid: true,
        ..f()
    });
    for _ in 0..5 {
        h.browser().login(&h, "elodie", "/").await;
    }
    let fetched = h.stack.mock.counters().jwks - before;
    assert!(
        fetched <= 1,
        "{fetched} JWKS downloads for 5 bad tokens within the refresh interval"
    );
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
