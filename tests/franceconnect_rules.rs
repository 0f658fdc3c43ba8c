//! guichet against a mock as strict as FranceConnect's own code (issue 21): the presets pass
//! it with the authorisation every service has, the data beyond it needs the service's
//! authorisation and guichet's asking, register sex I and eIDAS identities log in,
//! FranceConnect+'s access token is revoked.

mod common;

use common::*;
use guichet::demo::provider::{Faults, Flavour};
use reqwest::StatusCode;
use std::time::{Duration, Instant};

fn header(body: &str, name: &str) -> Option<String> {
    echoed_headers(body)
        .get(name)
        .and_then(|v| v.as_str())
        .map(percent_decode)
}

fn flavour(f: Flavour) -> Setup {
    Setup {
        flavour: f,
        ..Setup::default()
    }
}

/// The parameters FranceConnect's authorization endpoint accepts.
const ACCEPTED: &[&str] = &[
    "client_id",
    "acr_values",
    "claims",
    "response_type",
    "nonce",
    "state",
    "redirect_uri",
    "scope",
    "prompt",
    "idp_hint",
    "ui_locales",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_franceconnect_preset_passes_with_the_authorisation_every_service_has() {
    for f in [
        Flavour::FranceConnectV1,
        Flavour::FranceConnectV2,
        Flavour::FranceConnectPlus,
    ] {
        let h = Harness::with(flavour(f)).await;
        let landed = h.browser().login(&h, "jean-philippe", "/whoami").await;
        assert_eq!(landed.status, StatusCode::OK, "{f:?}: {}", landed.body);
        let sent = h.stack.mock.last_authorize_params().unwrap();
        for k in sent.keys() {
            assert!(ACCEPTED.contains(&k.as_str()), "{f:?} sent {k}");
        }
        assert_eq!(
            sent["scope"], "openid given_name family_name birthdate gender birthplace birthcountry",
            "{f:?}"
        );
        let get = |n: &str| header(&landed.body, n);
        assert_eq!(
            get("x-pivot-family-name").as_deref(),
            Some("Lefèvre-Dubois")
        );
        // Nothing beyond the identité pivot: the service did not ask.
        for absent in [
            "x-pivot-email",
            "x-pivot-preferred-username",
            "x-pivot-idp-birthdate",
        ] {
            assert_eq!(get(absent), None, "{f:?}: {absent}");
        }
        if f != Flavour::FranceConnectV1 {
            // (v1, legacy, puts amr and the identity provider in every id_token.)
            assert_eq!(get("x-pivot-amr"), None, "{f:?}");
            assert_eq!(get("x-pivot-idp-id"), None, "{f:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asking_beyond_the_authorisation_gets_invalid_scope_and_a_clear_page() {
    let h = Harness::with(Setup {
        provider_toml: "scopes = [\"openid\", \"given_name\", \"email\"]".into(),
        ..Setup::default()
    })
    .await;
    let landed = h.browser().login(&h, "elodie", "/whoami").await;
    // FranceConnect sends the citizen back with invalid_scope: guichet's page, no session.
    assert_eq!(landed.status, StatusCode::BAD_GATEWAY, "{}", landed.body);
    assert!(landed.url.contains("/.guichet/callback"), "{}", landed.url);
    assert_eq!(
        h.last_login_reason().as_deref(),
        Some("provider_error_invalid_scope")
    );
    assert!(!h.upstream_saw_identity());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amr_asked_without_the_authorisation_ends_on_franceconnect_s_page() {
    let h = Harness::with(Setup {
        provider_toml:
            r#"authorize_params = { claims = '{"id_token":{"amr":{"essential":true}}}' }"#.into(),
        ..Setup::default()
    })
    .await;
    let landed = h.browser().login(&h, "elodie", "/whoami").await;
    // What the issue warns about: the citizen stays on FranceConnect's error page.
    assert_eq!(landed.status, StatusCode::BAD_REQUEST);
    assert!(
        landed.url.starts_with(&h.stack.mock.issuer()),
        "{}",
        landed.url
    );
    assert!(landed.body.contains("Y100009"), "{}", landed.body);
    assert!(!landed.hops.iter().any(|u| u.contains("/.guichet/callback")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorised_service_gets_the_extra_data_and_amr() {
    let h = Harness::with(Setup {
        rich_identity: true,
        ..Setup::default()
    })
    .await;
    let landed = h.browser().login(&h, "angela", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    let get = |n: &str| header(&landed.body, n);
    assert_eq!(
        get("x-pivot-email").as_deref(),
        Some("angela.dubois@example.fr")
    );
    assert_eq!(get("x-pivot-preferred-username").as_deref(), Some("Dupont"));
    assert_eq!(get("x-pivot-amr").as_deref(), Some("fc pwd"));
    assert_eq!(
        get("x-pivot-idp-id").as_deref(),
        Some(guichet::demo::provider::IDP_ID)
    );
    assert_eq!(get("x-pivot-idp-birthdate").as_deref(), Some("1962-08-24"));
    let sent = h.stack.mock.last_authorize_params().unwrap();
    assert_eq!(sent["claims"], r#"{"id_token":{"amr":{"essential":true}}}"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_sex_i_logs_in_as_unspecified() {
    let h = Harness::start().await;
    let landed = h.browser().login(&h, "camille", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    assert_eq!(
        header(&landed.body, "x-pivot-gender").as_deref(),
        Some("unspecified")
    );
    // FranceConnect+ sends it in rnipp_gender too.
    let h = Harness::with(Setup {
        rich_identity: true,
        ..flavour(Flavour::FranceConnectPlus)
    })
    .await;
    let landed = h.browser().login(&h, "camille", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    assert_eq!(
        header(&landed.body, "x-pivot-gender").as_deref(),
        Some("unspecified")
    );
    assert_eq!(
        header(&landed.body, "x-pivot-rnipp-gender").as_deref(),
        Some("unspecified")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eidas_formats_only_for_identities_whose_amr_says_eidas() {
    // Without amr (the preset's default) guichet cannot tell an eIDAS identity: its
    // birthplace in words fails the register's format, with a page naming the claim.
    let h = Harness::with(flavour(Flavour::FranceConnectPlus)).await;
    let landed = h.browser().login(&h, "giulia", "/whoami").await;
    assert_eq!(landed.status, StatusCode::BAD_GATEWAY, "{}", landed.body);
    assert_eq!(
        h.last_login_reason().as_deref(),
        Some("invalid_claim_birthplace")
    );
    // A service authorised for amr asks for it: the identity is marked and accepted, on
    // FranceConnect+ and on v2.
    for f in [Flavour::FranceConnectPlus, Flavour::FranceConnectV2] {
        let h = Harness::with(Setup {
            rich_identity: true,
            ..flavour(f)
        })
        .await;
        let landed = h.browser().login(&h, "giulia", "/whoami").await;
        assert_eq!(landed.status, StatusCode::OK, "{f:?}: {}", landed.body);
        let get = |n: &str| header(&landed.body, n);
        assert_eq!(get("x-pivot-amr").as_deref(), Some("eidas"));
        assert_eq!(get("x-pivot-birthplace").as_deref(), Some("Roma"));
        assert_eq!(get("x-pivot-gender").as_deref(), Some("unspecified"));
        assert_eq!(get("x-pivot-birthcountry"), None);
        // A French identity there keeps the register's formats.
        let landed = h.browser().login(&h, "elodie", "/whoami").await;
        assert_eq!(landed.status, StatusCode::OK, "{f:?}: {}", landed.body);
        assert_eq!(
            header(&landed.body, "x-pivot-birthplace").as_deref(),
            Some("75056")
        );
    }
}

/// Waits (bounded) until the mock has answered this many revocation requests.
async fn wait_revocations(mock: &guichet::demo::provider::MockProvider, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while mock.counters().revocation < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(mock.counters().revocation, n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn franceconnect_plus_access_tokens_are_revoked_once_userinfo_is_read() {
    let h = Harness::with(flavour(Flavour::FranceConnectPlus)).await;
    let landed = h.browser().login(&h, "elodie", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    let mock = &h.stack.mock;
    wait_revocations(mock, 1).await;
    let form = mock.last_revocation().unwrap();
    let keys: Vec<&str> = form.keys().map(String::as_str).collect();
    assert_eq!(keys, ["client_id", "client_secret", "token"]);
    assert!(!mock.access_token_is_live(&form["token"]), "still live");
    // The revocation answering badly changes nothing to the login.
    h.set_faults(Faults {
        revocation_down: true,
        ..Faults::default()
    });
    let landed = h.browser().login(&h, "angela", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    wait_revocations(mock, 2).await;
    h.wait_log("access token revocation failed", Duration::from_secs(10))
        .await;
    // A failed login (its access token was issued) is revoked too.
    h.set_faults(Faults {
        userinfo_sub_mismatch: true,
        ..Faults::default()
    });
    let landed = h.browser().login(&h, "ana", "/whoami").await;
    assert_eq!(landed.status, StatusCode::BAD_GATEWAY);
    wait_revocations(mock, 3).await;
}
