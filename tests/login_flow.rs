//! The foundation, end to end over real HTTP: a citizen logs in through the mock provider and
//! the upstream sees who they are; what needs a session gets one, what does not passes.

mod common;

use common::*;
use guichet::demo::citizens;
use guichet::demo::provider::Flavour;
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn citizen_logs_in_and_the_upstream_sees_the_verified_identity() {
    let h = Harness::start().await;
    let b = h.browser();
    let landed = b.login(&h, "elodie", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    assert!(landed.url.ends_with("/whoami"), "{}", landed.url);
    let headers = echoed_headers(&landed.body);
    let get = |k: &str| headers.get(k).and_then(|v| v.as_str()).map(percent_decode);
    let elodie = citizens::find("elodie").unwrap();
    assert_eq!(get("x-pivot-given-name").as_deref(), Some("Élodie"));
    assert_eq!(get("x-pivot-family-name").as_deref(), Some("Müller"));
    assert_eq!(get("x-pivot-birthdate").as_deref(), Some(elodie.birthdate));
    assert_eq!(
        get("x-pivot-sub"),
        Some(elodie.sub(h.stack.mock.client_id()))
    );
    assert_eq!(get("x-pivot-acr").as_deref(), Some("eidas1"));
    assert_eq!(get("x-pivot-provider").as_deref(), Some("demo"));
    // The raw header is ASCII: percent-encoded UTF-8.
    assert_eq!(headers["x-pivot-family-name"], "M%C3%BCller");
    // guichet's cookies never reach the app.
    assert!(headers.get("cookie").is_none(), "{headers:?}");

    let audit = h.audit();
    let login = audit
        .iter()
        .find(|e| e["event"] == "login")
        .expect("login event");
    assert_eq!(login["outcome"], "success");
    assert_eq!(login["sub"], elodie.sub(h.stack.mock.client_id()));
    // The app verified guichet's signed assertion for the same citizen.
    h.assert_assertions_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_request_carries_state_nonce_acr_and_never_login_hint() {
    let h = Harness::start().await;
    let b = h.browser();
    let r = b
        .get(&format!(
            "{}/.guichet/login?login_hint=angela&return_to=/x",
            h.url
        ))
        .await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("guichet-login="))
        .expect("pre-auth cookie");
    for attr in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    let q = query(&location(&r));
    let is_hex64 = |s: &str| s.len() == 64 && s.bytes().all(|c| c.is_ascii_hexdigit());
    assert!(is_hex64(&q["state"]) && is_hex64(&q["nonce"]), "{q:?}");
    assert_ne!(q["state"], q["nonce"]);
    assert_eq!(q["acr_values"], "eidas1");
    // FranceConnect refuses login_hint (its page Y030007, no way back): never forwarded.
    assert!(!q.contains_key("login_hint"), "{q:?}");
    for k in q.keys() {
        assert!(
            [
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
                "ui_locales"
            ]
            .contains(&k.as_str()),
            "{k} is not a parameter FranceConnect accepts"
        );
    }
    // The preset asks for what every service is authorised for: the identité pivot.
    assert_eq!(
        q["scope"],
        "openid given_name family_name birthdate gender birthplace birthcountry"
    );
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["redirect_uri"], format!("{}/.guichet/callback", h.url));
    assert!(q["scope"].split(' ').any(|s| s == "openid"));
    assert!(
        !q.contains_key("code_challenge"),
        "FranceConnect preset must not send PKCE"
    );

    // A second login gets fresh values.
    let r2 = b.get(&format!("{}/.guichet/login", h.url)).await;
    let q2 = query(&location(&r2));
    assert_ne!(q["state"], q2["state"]);
    assert_ne!(q["nonce"], q2["nonce"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generic_provider_gets_pkce_and_basic_auth() {
    let h = Harness::with(Setup {
        flavour: Flavour::Generic,
        ..Setup::default()
    })
    .await;
    let b = h.browser();
    let landed = b.login(&h, "angela", "/").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    let auth = h.stack.mock.last_authorize_params().unwrap();
    assert_eq!(auth["code_challenge_method"], "S256");
    assert_eq!(auth["code_challenge"].len(), 43);
    let token = h.stack.mock.last_token_request().unwrap();
    assert_eq!(token["_auth"], "basic");
    assert_eq!(token["code_verifier"].len(), 43);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_hint_goes_to_providers_that_accept_it() {
    // A plain OpenID provider gets the hint (OpenID Connect Core 3.1.2.1); the mock takes it
    // as the test citizen and answers at once.
    let h = Harness::with(Setup {
        flavour: Flavour::Generic,
        ..Setup::default()
    })
    .await;
    let landed = h
        .browser()
        .follow(&format!(
            "{}/.guichet/login?login_hint=angela&return_to=/whoami",
            h.url
        ))
        .await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    assert_eq!(
        h.stack.mock.last_authorize_params().unwrap()["login_hint"],
        "angela"
    );
    assert_eq!(
        percent_decode(
            echoed_headers(&landed.body)["x-pivot-given-name"]
                .as_str()
                .unwrap()
        ),
        "Angela Claire Louise"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_without_session_goes_to_login_and_comes_back_to_the_page() {
    let h = Harness::start().await;
    let b = h.browser();
    let r = b.get(&format!("{}/dossiers/42?tab=pieces", h.url)).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let loc = location(&r);
    assert_eq!(
        loc,
        "/.guichet/login?return_to=%2Fdossiers%2F42%3Ftab%3Dpieces"
    );
    // Follow: login (one provider: straight to it), the mock's chooser page.
    let landed = b.follow(&format!("{}{loc}", h.url)).await;
    assert_eq!(landed.status, StatusCode::OK);
    assert!(landed.body.contains("elodie"), "mock chooser page expected");
    // Choosing a citizen on the mock's page comes back to the original page.
    let landed = b
        .follow(&format!("{}/login?citizen=jean-philippe", landed.url))
        .await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    assert!(
        landed.url.ends_with("/dossiers/42?tab=pieces"),
        "{}",
        landed.url
    );
    let headers = echoed_headers(&landed.body);
    assert_eq!(
        percent_decode(headers["x-pivot-family-name"].as_str().unwrap()),
        "Lefèvre-Dubois"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_routes_pass_and_api_routes_get_401() {
    let h = Harness::start().await;
    let b = h.browser();
    let r = b.get(&format!("{}/public/style.css", h.url)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = b.get(&format!("{}/api/me", h.url)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get("www-authenticate").is_some());
    assert!(r.headers().get("location").is_none());
    // With a session, the API passes and carries the identity.
    b.login(&h, "ana", "/").await;
    let r = b.get(&format!("{}/api/me", h.url)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let headers = echoed_headers(&r.text().await.unwrap());
    assert!(headers.contains_key("x-pivot-sub"));
    // And a public page sees the identity when there is a session.
    let r = b.get(&format!("{}/public/x", h.url)).await;
    let headers = echoed_headers(&r.text().await.unwrap());
    assert!(headers.contains_key("x-pivot-sub"));
    h.assert_assertions_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_identity_headers_never_reach_the_upstream() {
    let h = Harness::start().await;
    let b = h.browser();
    let spoof = |rb: reqwest::RequestBuilder| {
        rb.header("X-Pivot-Sub", "forged")
            .header("x-pivot-sub", "forged-again")
            .header("X-PIVOT-GIVEN-NAME", "Mallory")
            .header("X-Pivot-Acr", "eidas3")
            .header("X-Forwarded-For", "203.0.113.9")
    };
    // Without a session, on a public route.
    let r = spoof(b.client.get(format!("{}/public/", h.url)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let headers = echoed_headers(&r.text().await.unwrap());
    assert!(
        !headers.keys().any(|k| k.starts_with("x-pivot-")),
        "{headers:?}"
    );
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
    // With a session: only the real identity arrives, once.
    b.login(&h, "elodie", "/").await;
    let r = spoof(b.client.get(format!("{}/whoami", h.url)))
        .send()
        .await
        .unwrap();
    let _ = r.text().await.unwrap();
    let seen = h.stack.echo.last_request().unwrap();
    let subs = seen.header_all("x-pivot-sub");
    assert_eq!(subs.len(), 1);
    assert_eq!(
        std::str::from_utf8(subs[0]).unwrap(),
        citizens::find("elodie")
            .unwrap()
            .sub(h.stack.mock.client_id())
    );
    assert_eq!(seen.header_str("x-pivot-given-name"), Some("%C3%89lodie"));
    assert_eq!(seen.header_str("x-pivot-acr"), Some("eidas1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn return_to_never_leaves_the_origin() {
    let h = Harness::start().await;
    for evil in [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "%2F%2Fevil.example",
        "javascript:alert(1)",
    ] {
        let b = h.browser();
        let landed = b.login(&h, "angela", evil).await;
        let last = landed.hops.last().unwrap();
        assert!(last.starts_with(&h.url), "{evil} led to {last}");
        assert_eq!(reqwest::Url::parse(last).unwrap().path(), "/", "{evil}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_login_gets_a_new_session_id_and_the_old_one_dies() {
    let h = Harness::start().await;
    let b = h.browser();
    let first = b.login(&h, "elodie", "/").await;
    let c1 = first.session_cookie();
    assert!(first.set_cookies.iter().any(|c| c.starts_with("guichet=")
        && c.contains("HttpOnly")
        && c.contains("Secure")
        && c.contains("SameSite=Lax")));
    let second = b.login(&h, "elodie", "/").await;
    let c2 = second.session_cookie();
    assert_ne!(c1, c2);
    // The first cookie, replayed, no longer opens anything.
    let r = get_with_cookie(&format!("{}/whoami", h.url), &c1).await;
    assert_eq!(r.status(), StatusCode::FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_deletes_the_session_then_logs_out_of_the_provider() {
    let h = Harness::start().await;
    let b = h.browser();
    let landed = b.login(&h, "elodie", "/").await;
    let session_cookie = landed.session_cookie();
    let r = b.get(&format!("{}/.guichet/logout", h.url)).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let to_provider = location(&r);
    assert!(
        to_provider.starts_with(&format!("{}/session/end", h.stack.mock.issuer())),
        "{to_provider}"
    );
    let q = query(&to_provider);
    assert_eq!(
        q["post_logout_redirect_uri"],
        format!("{}/.guichet/logged-out", h.url)
    );
    assert_eq!(q["state"].len(), 64);
    assert_eq!(q["id_token_hint"].split('.').count(), 3);
    let landed = b.follow(&to_provider).await;
    assert_eq!(landed.status, StatusCode::OK);
    assert!(landed.url.contains("/.guichet/logged-out"));
    assert!(landed.body.contains("déconnecté"));
    // The old cookie is dead everywhere.
    let r = get_with_cookie(&format!("{}/whoami", h.url), &session_cookie).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert!(h.audit().iter().any(|e| e["event"] == "logout"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_session_and_metrics() {
    let h = Harness::with(Setup {
        rich_identity: true,
        ..Setup::default()
    })
    .await;
    let b = h.browser();
    let r = b.get(&format!("{}/healthz", h.url)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = b.get(&format!("{}/readyz", h.url)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r: serde_json::Value = b
        .get(&format!("{}/.guichet/session", h.url))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["authenticated"], false);
    b.login(&h, "angela", "/").await;
    let r: serde_json::Value = b
        .get(&format!("{}/.guichet/session", h.url))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["authenticated"], true);
    assert_eq!(r["level"], "eidas1");
    assert!(r.get("id_token").is_none());
    let m = h.metrics().await;
    assert!(m.contains("guichet_logins_total{idp=\"fia1v2\",level=\"eidas1\",outcome=\"success\",provider=\"demo\",reason=\"ok\"} 1"), "{m}");
    assert!(m.contains("guichet_active_sessions 1"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_or_personal_data_in_the_logs() {
    let h = Harness::with(Setup {
        rich_identity: true,
        ..Setup::default()
    })
    .await;
    let b = h.browser();
    b.login(&h, "elodie", "/").await;
    b.get(&format!("{}/.guichet/logout", h.url)).await;
    let logs = h.logs();
    let audit = h.gateway.audit_text();
    let elodie = citizens::find("elodie").unwrap();
    for secret in [
        elodie.given_name,
        elodie.family_name,
        elodie.birthdate,
        elodie.email,
        h.stack.mock.client_secret(),
    ] {
        assert!(!logs.contains(secret), "{secret:?} in logs");
        assert!(!audit.contains(secret), "{secret:?} in the evidence log");
    }
    let token = h.stack.mock.last_token_request().unwrap()["code"].clone();
    assert!(!logs.contains(&token), "authorization code in logs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_providers_get_a_chooser_page() {
    // A second provider entry (same mock, generic preset) next to the FranceConnect one.
    let extra =
        "[[providers]]\nname = \"agents\"\npreset = \"generic\"\ndisplay_name = \"Compte agent\"\n\
                 issuer = \"{MOCK_ISSUER}\"\nclient_id = \"{MOCK_CLIENT_ID}\"\n\
                 client_secret = \"file:{MOCK_SECRET_FILE}\"\n";
    let h = Harness::with(Setup {
        extra_toml: extra.into(),
        ..Setup::default()
    })
    .await;
    let b = h.browser();
    let r = b
        .get(&format!("{}/.guichet/login?return_to=/dossiers", h.url))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("S’identifier avec</span> <span class=\"fc-brand\">FranceConnect</span>"),
        "{page}"
    );
    assert!(page.contains("Qu’est-ce que FranceConnect\u{202f}?"));
    assert!(page.contains("Se connecter avec Compte agent"));
    assert!(
        page.contains("provider=agents&amp;return_to=%2Fdossiers"),
        "{page}"
    );
    let landed = b
        .follow_as(
            &format!("{}/.guichet/login?provider=demo&return_to=/dossiers", h.url),
            "ana",
        )
        .await;
    assert_eq!(landed.status, StatusCode::OK);
    assert!(landed.url.ends_with("/dossiers"));
    let r = b
        .get(&format!("{}/.guichet/login?provider=nope", h.url))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}
