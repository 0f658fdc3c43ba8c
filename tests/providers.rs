//! Every provider flavour end to end (FranceConnect v1, v2, FranceConnect+ with JWE, MConnect),
//! and levels: a route's minimum level sends a session below it to a new login at that level
//! (step-up) with a provider that can prove it, and back to the page.

mod common;

use common::*;
use guichet::demo::citizens;
use guichet::demo::provider::{Faults, Flavour};
use reqwest::StatusCode;
use std::time::Duration;

fn header(body: &str, name: &str) -> Option<String> {
    echoed_headers(body)
        .get(name)
        .and_then(|v| v.as_str())
        .map(percent_decode)
}

async fn session(b: &Browser, h: &Harness) -> serde_json::Value {
    b.get(&format!("{}/.guichet/session", h.url))
        .await
        .json()
        .await
        .expect("session JSON")
}

fn plus() -> Setup {
    Setup {
        flavour: Flavour::FranceConnectPlus,
        ..Setup::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn franceconnect_v1_without_discovery_hs256_and_json_userinfo() {
    let h = Harness::with(Setup {
        flavour: Flavour::FranceConnectV1,
        ..Setup::default()
    })
    .await;
    let b = h.browser();
    let landed = b.login(&h, "partial", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    // v1 passes the identity provider's partial birth date through, and names the IdP in `idp`.
    assert_eq!(
        header(&landed.body, "x-pivot-birthdate").as_deref(),
        Some("1962-00-00")
    );
    assert_eq!(
        header(&landed.body, "x-pivot-idp-id").as_deref(),
        Some(guichet::demo::provider::IDP_ID)
    );
    assert_eq!(
        header(&landed.body, "x-pivot-family-name").as_deref(),
        Some("Martin")
    );
    let mock = &h.stack.mock;
    let c = mock.counters();
    assert_eq!((c.discovery, c.jwks), (0, 0), "v1 has neither");
    assert_eq!(mock.last_token_request().unwrap()["_auth"], "post");
    let auth = mock.last_authorize_params().unwrap();
    assert_eq!(auth["acr_values"], "eidas1");
    assert!(!auth.contains_key("prompt") && !auth.contains_key("code_challenge"));
    assert_eq!(session(&b, &h).await["level"], "eidas1");
    // Logout goes to /api/v1/logout with the id_token.
    let r = b.get(&format!("{}/.guichet/logout", h.url)).await;
    let to_provider = location(&r);
    assert!(
        to_provider.starts_with(&mock.endpoint("logout")),
        "{to_provider}"
    );
    let landed = b.follow(&to_provider).await;
    assert!(
        landed.url.contains("/.guichet/logged-out"),
        "{}",
        landed.url
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn franceconnect_v2_signed_userinfo_and_partial_birth_dates() {
    // idp_birthdate comes only with its own scope.
    let h = Harness::with(Setup {
        rich_identity: true,
        ..Setup::default()
    })
    .await;
    let b = h.browser();
    let landed = b.login(&h, "partial", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    // v2 completes the date (RNIPP) and passes the raw one in idp_birthdate.
    assert_eq!(
        header(&landed.body, "x-pivot-birthdate").as_deref(),
        Some("1962-01-01")
    );
    assert_eq!(
        header(&landed.body, "x-pivot-idp-birthdate").as_deref(),
        Some("1962-00-00")
    );
    assert_eq!(h.stack.mock.counters().userinfo, 1);
    assert_eq!(h.stack.mock.encrypted_count(), 0);
}

/// One FranceConnect+ login with guichet's key of this algorithm: the JWE sent to the key
/// guichet publishes opens, the identity arrives, logout sends the inner JWS.
async fn franceconnect_plus_login(alg: &'static str) {
    let h = Harness::with(Setup {
        encryption_alg: alg,
        ..plus()
    })
    .await;
    // The public key FranceConnect+ reads at the registered JWKS URL.
    let jwks: serde_json::Value = reqwest::get(format!("{}/.guichet/jwks.json", h.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The set also holds the assertion signing key (`use: sig`); exactly one encryption key.
    let keys: Vec<&serde_json::Value> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["use"] == "enc")
        .collect();
    assert_eq!(keys.len(), 1, "{jwks}");
    assert_eq!(keys[0]["use"], "enc");
    assert_eq!(keys[0]["alg"], alg);
    assert_eq!(keys[0]["kid"], guichet::demo::ENCRYPTION_KID);
    for private in ["d", "p", "q", "dp", "dq", "qi"] {
        assert!(keys[0].get(private).is_none(), "{alg}: {private} published");
    }

    let b = h.browser();
    let landed = b.login(&h, "elodie", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK, "{alg}: {}", landed.body);
    assert_eq!(
        header(&landed.body, "x-pivot-given-name").as_deref(),
        Some("Élodie")
    );
    assert_eq!(
        header(&landed.body, "x-pivot-acr").as_deref(),
        Some("eidas2")
    );
    let mock = &h.stack.mock;
    assert_eq!(mock.encrypted_count(), 2, "{alg}: id_token and userinfo");
    assert_eq!(
        mock.last_authorize_params().unwrap()["acr_values"],
        "eidas2"
    );
    assert_eq!(session(&b, &h).await["level"], "eidas2");

    // Logout: the id_token_hint is the signed token found inside the JWE, which the provider
    // recognises (it refuses anything it did not issue).
    let r = b.get(&format!("{}/.guichet/logout", h.url)).await;
    let to_provider = location(&r);
    let hint = query(&to_provider)["id_token_hint"].clone();
    assert_eq!(hint.split('.').count(), 3, "{alg}: a JWS, not the JWE");
    let landed = b.follow(&to_provider).await;
    assert_eq!(landed.status, StatusCode::OK, "{alg}: {}", landed.body);
    assert!(
        landed.url.contains("/.guichet/logged-out"),
        "{}",
        landed.url
    );
    assert_eq!(mock.counters().end_session, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn franceconnect_plus_with_an_ecdh_es_key() {
    franceconnect_plus_login("ECDH-ES").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn franceconnect_plus_with_an_rsa_oaep_key() {
    franceconnect_plus_login("RSA-OAEP").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn franceconnect_plus_with_an_rsa_oaep_256_key() {
    franceconnect_plus_login("RSA-OAEP-256").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn franceconnect_plus_eidas_identity_from_another_eu_state() {
    // Recognised by its amr, which a service authorised for it asks for
    // (tests/franceconnect_rules.rs: without amr, the register's formats apply).
    let h = Harness::with(Setup {
        rich_identity: true,
        ..plus()
    })
    .await;
    let landed = h.browser().login(&h, "giulia", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    assert_eq!(
        header(&landed.body, "x-pivot-gender").as_deref(),
        Some("unspecified")
    );
    assert_eq!(
        header(&landed.body, "x-pivot-birthplace").as_deref(),
        Some("Roma")
    );
    assert_eq!(header(&landed.body, "x-pivot-birthcountry"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn franceconnect_plus_key_rotation_mid_run() {
    let h = Harness::with(Setup {
        provider_toml: "jwks_refresh_interval = \"1s\"".into(),
        ..plus()
    })
    .await;
    let b = h.browser();
    assert_eq!(b.login(&h, "elodie", "/").await.status, StatusCode::OK);
    // FranceConnect+ starts signing (inside the JWE) with a key it has not published yet...
    h.set_faults(Faults {
        unknown_kid: true,
        ..Faults::default()
    });
    let landed = h.browser().login(&h, "angela", "/").await;
    assert_eq!(landed.status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        h.last_login_reason().as_deref(),
        Some("id_token_unknown_key")
    );
    // ...then publishes it. After the refresh floor, logins work again without a restart.
    h.stack.mock.rotate_signing_key();
    h.set_faults(Faults::default());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let landed = h.browser().login(&h, "angela", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mconnect_claims_user_key_and_registration_authority() {
    let h = Harness::with(Setup {
        flavour: Flavour::MConnect,
        ..Setup::default()
    })
    .await;
    let b = h.browser();
    let landed = b.login(&h, "louise", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    let louise = citizens::find("louise").unwrap();
    let get = |n: &str| header(&landed.body, n);
    assert_eq!(
        get("x-pivot-user-key").as_deref(),
        Some(louise.mconnect_key)
    );
    assert_eq!(get("x-pivot-preferred-username"), None, "a key, not a name");
    assert_eq!(
        get("x-pivot-name").as_deref(),
        Some("Louise Charlotte Grimaldi")
    );
    assert_eq!(get("x-pivot-birth-name").as_deref(), Some("Grimaldi"));
    assert_eq!(
        get("x-pivot-birth-datetime").as_deref(),
        Some("1990-04-12T08:30:00")
    );
    assert_eq!(get("x-pivot-birth-place").as_deref(), Some("Monaco"));
    assert_eq!(
        get("x-pivot-registration-authority").as_deref(),
        Some("Mairie de Monaco")
    );
    assert_eq!(get("x-pivot-acr").as_deref(), Some("substantial"));
    assert_eq!(
        h.stack.mock.last_authorize_params().unwrap()["acr_values"],
        "substantial"
    );
    // MConnect's "substantial" is eIDAS substantial.
    assert_eq!(session(&b, &h).await["level"], "eidas2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspended_mconnect_identity_gets_the_refusal_page() {
    let h = Harness::with(Setup {
        flavour: Flavour::MConnect,
        ..Setup::default()
    })
    .await;
    let b = h.browser();
    let landed = b.login(&h, "suspendu", "/whoami").await;
    assert_eq!(landed.status, StatusCode::FORBIDDEN, "{}", landed.body);
    assert!(landed.body.contains("Identité numérique inactive"));
    assert!(landed.body.contains("suspendue"));
    // The service's other way to log in (MConnect terms 5.1).
    assert!(
        landed.body.contains("href=\"/public/autre-connexion\""),
        "{}",
        landed.body
    );
    assert_eq!(
        h.last_login_reason().as_deref(),
        Some("identity_not_active")
    );
    assert!(!landed.set_cookies.iter().any(|c| c.starts_with("guichet=")));
    assert!(!h.upstream_saw_identity());
    let r = b.get(&format!("{}/whoami", h.url)).await;
    assert_eq!(r.status(), StatusCode::FOUND, "no session");
}

/// FranceConnect (low) and FranceConnect+ side by side, `/dossiers` needing eIDAS substantial.
async fn low_and_plus() -> Harness {
    Harness::with(Setup {
        also: vec![Flavour::FranceConnectPlus],
        extra_toml: "[[routes]]\npath = \"/dossiers\"\nmin_level = \"eidas2\"\n".into(),
        ..Setup::default()
    })
    .await
}

/// Visits a page that needs a higher level and returns the step-up login URL it is sent to.
async fn step_up_url(b: &Browser, h: &Harness, path: &str) -> String {
    let r = b.get(&format!("{}{path}", h.url)).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let loc = location(&r);
    assert!(loc.contains("/.guichet/login?"), "{loc}");
    format!("{}{loc}", if loc.starts_with('/') { &h.url } else { "" })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_up_from_franceconnect_to_franceconnect_plus() {
    let h = low_and_plus().await;
    let b = h.browser();
    let landed = b.login_at(&h, "demo", "elodie", "/").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    assert_eq!(session(&b, &h).await["level"], "eidas1");
    // An eidas1 session on an eidas2 page: sent to log in again at eidas2...
    let step_up = step_up_url(&b, &h, "/dossiers/7").await;
    assert_eq!(query(&step_up)["level"], "eidas2");
    // ...where only FranceConnect+ can prove it, so the citizen goes straight there.
    let landed = b.follow_as(&step_up, "elodie").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    assert!(landed.url.ends_with("/dossiers/7"), "{}", landed.url);
    let plus = h.stack.mock_for(Flavour::FranceConnectPlus).unwrap();
    assert_eq!(
        plus.last_authorize_params().unwrap()["acr_values"],
        "eidas2"
    );
    assert_eq!(
        header(&landed.body, "x-pivot-provider").as_deref(),
        Some("fc-plus")
    );
    let s = session(&b, &h).await;
    assert_eq!(
        (s["level"].as_str(), s["provider"].as_str()),
        (Some("eidas2"), Some("fc-plus"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_up_refuses_an_eidas1_token_for_an_eidas2_route() {
    let h = low_and_plus().await;
    let b = h.browser();
    b.login_at(&h, "demo", "elodie", "/").await;
    let step_up = step_up_url(&b, &h, "/dossiers").await;
    // FranceConnect+ answers with an eidas1 token: refused, no session at eidas2.
    h.stack
        .mock_for(Flavour::FranceConnectPlus)
        .unwrap()
        .set_faults(Faults {
            acr: Some("eidas1".into()),
            ..Faults::default()
        });
    let landed = b.follow_as(&step_up, "elodie").await;
    assert_eq!(landed.status, StatusCode::FORBIDDEN, "{}", landed.body);
    assert!(landed.body.contains("Niveau de sécurité insuffisant"));
    assert_eq!(
        h.last_login_reason().as_deref(),
        Some("id_token_acr_too_low")
    );
    assert!(
        !h.stack
            .echo
            .requests()
            .iter()
            .any(|r| r.path.starts_with("/dossiers")),
        "the eidas2 page was reached"
    );
    // Still sent to step up, never let through.
    let r = b.get(&format!("{}/dossiers", h.url)).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert!(location(&r).contains("level=eidas2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_up_within_franceconnect_plus_to_eidas3() {
    let h = Harness::with(Setup {
        extra_toml: "[[routes]]\npath = \"/coffre\"\nmin_level = \"eidas3\"\n".into(),
        ..plus()
    })
    .await;
    let b = h.browser();
    b.login(&h, "angela", "/").await;
    assert_eq!(session(&b, &h).await["level"], "eidas2");
    let step_up = step_up_url(&b, &h, "/coffre").await;
    let landed = b.follow_as(&step_up, "angela").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    assert!(landed.url.ends_with("/coffre"));
    assert_eq!(
        h.stack.mock.last_authorize_params().unwrap()["acr_values"],
        "eidas3"
    );
    assert_eq!(session(&b, &h).await["level"], "eidas3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chooser_offers_only_providers_that_reach_the_level() {
    let h = Harness::with(Setup {
        also: vec![Flavour::FranceConnectPlus, Flavour::MConnect],
        ..Setup::default()
    })
    .await;
    let b = h.browser();
    let r = b
        .get(&format!(
            "{}/.guichet/login?return_to=/x&level=eidas2",
            h.url
        ))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(page.contains("provider=fc-plus"), "{page}");
    assert!(page.contains("provider=mconnect"), "{page}");
    assert!(
        page.contains("S’identifier avec</span> <span class=\"fc-brand\">FranceConnect+</span>")
    );
    assert!(page.contains("Qu’est-ce que FranceConnect+\u{202f}?"));
    assert!(page.contains("S’identifier avec MConnect (démo)"), "{page}");
    assert!(
        !page.contains("provider=demo"),
        "FranceConnect (low) cannot reach eidas2"
    );
    // Asking a provider directly for a level it cannot prove: a page, not a provider error.
    let r = b
        .get(&format!(
            "{}/.guichet/login?provider=demo&level=eidas2",
            h.url
        ))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Without a level, every provider is offered.
    let page = b
        .get(&format!("{}/.guichet/login", h.url))
        .await
        .text()
        .await
        .unwrap();
    for p in ["provider=demo", "provider=fc-plus", "provider=mconnect"] {
        assert!(page.contains(p), "{p}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_level_no_provider_reaches_gets_a_clear_page() {
    let h = Harness::with(Setup {
        extra_toml: "[[routes]]\npath = \"/coffre\"\nmin_level = \"eidas3\"\n".into(),
        ..Setup::default()
    })
    .await;
    let b = h.browser();
    let landed = b.follow(&format!("{}/coffre", h.url)).await;
    assert_eq!(landed.status, StatusCode::FORBIDDEN, "{}", landed.body);
    assert!(landed.body.contains("Niveau de sécurité non disponible"));
    assert!(landed.body.contains("href=\"/public/autre-connexion\""));
    assert_eq!(h.stack.mock.counters().authorize, 0);
    assert!(h.stack.echo.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_flavour_on_one_gateway() {
    let h = Harness::with(Setup {
        flavour: Flavour::FranceConnectV1,
        also: vec![
            Flavour::FranceConnectV2,
            Flavour::FranceConnectPlus,
            Flavour::MConnect,
            Flavour::Generic,
        ],
        ..Setup::default()
    })
    .await;
    let page = h
        .browser()
        .get(&format!("{}/.guichet/login", h.url))
        .await
        .text()
        .await
        .unwrap();
    for p in ["demo", "fc", "fc-plus", "mconnect", "generic"] {
        assert!(page.contains(&format!("provider={p}&")), "{p}: {page}");
    }
    for (provider, level) in [
        ("demo", "eidas1"),
        ("fc", "eidas1"),
        ("fc-plus", "eidas2"),
        ("mconnect", "eidas2"),
        ("generic", "eidas1"),
    ] {
        let b = h.browser();
        let landed = b.login_at(&h, provider, "angela", "/whoami").await;
        assert_eq!(landed.status, StatusCode::OK, "{provider}: {}", landed.body);
        assert_eq!(
            header(&landed.body, "x-pivot-provider").as_deref(),
            Some(provider)
        );
        assert_eq!(
            header(&landed.body, "x-pivot-family-name").as_deref(),
            Some("Dubois")
        );
        assert_eq!(session(&b, &h).await["level"], level, "{provider}");
    }
}
