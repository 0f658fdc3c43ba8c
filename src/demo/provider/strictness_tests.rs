//! The mock refuses what FranceConnect refuses, the way FranceConnect does ([`platform`]):
//! its error page for what its parameter DTO refuses, a redirect back to the service with
//! FranceConnect's error code for the rest.

use super::tests::*;
use super::*;

/// A mock with the default authorisation (openid and the identité pivot).
async fn pivot_only(flavour: Flavour) -> Env {
    start_with(MockConfig {
        flavour,
        ..MockConfig::default()
    })
    .await
}

/// The authorize parameters a FranceConnect preset sends, then `over`.
fn pivot<'a>(over: &[(&'a str, Option<&'a str>)]) -> Vec<(&'a str, Option<&'a str>)> {
    let mut v = vec![(
        "scope",
        Some("openid given_name family_name birthdate gender birthplace birthcountry"),
    )];
    v.extend_from_slice(over);
    v
}

/// FranceConnect's error page: 400, HTML, the code, no link back to the service.
async fn error_page(env: &Env, over: &[(&str, Option<&str>)]) -> String {
    let r = env
        .http
        .get(authorize_url(&env.mp, over))
        .send()
        .await
        .expect("authorize");
    assert_eq!(r.status(), 400, "{over:?}");
    assert!(r.headers().get(header::LOCATION).is_none(), "{over:?}");
    let html = r.text().await.expect("html");
    assert!(!html.contains(CB), "a way back to the service: {html}");
    let at = html.find("error-code\">").expect("error code") + 12;
    html[at..at + html[at..].find('<').expect("end")].to_owned()
}

/// Back to the service with an error: `(error, error_description)`.
async fn sent_back(env: &Env, over: &[(&str, Option<&str>)]) -> (String, String) {
    let r = env
        .http
        .get(authorize_url(&env.mp, over))
        .send()
        .await
        .expect("authorize");
    assert_eq!(r.status(), 302, "{over:?}");
    let loc = location(&r);
    assert!(loc.starts_with(CB), "{loc}");
    let q = query_of(&loc);
    assert_eq!(q["state"], "s7a7e");
    (q["error"].clone(), q["error_description"].clone())
}

#[tokio::test]
async fn parameters_outside_franceconnect_s_list_get_its_error_page() {
    for flavour in [
        Flavour::FranceConnectV1,
        Flavour::FranceConnectV2,
        Flavour::FranceConnectPlus,
    ] {
        let env = pivot_only(flavour).await;
        for (k, v) in [
            ("login_hint", "elodie"),
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            ),
            ("code_challenge_method", "S256"),
            ("max_age", "0"),
            ("request", "x"),
        ] {
            assert_eq!(
                error_page(&env, &pivot(&[(k, Some(v))])).await,
                "Y030007",
                "{flavour:?} {k}"
            );
        }
        let mut required = vec![
            "client_id",
            "nonce",
            "redirect_uri",
            "response_type",
            "scope",
            "state",
        ];
        if flavour != Flavour::FranceConnectV1 {
            required.push("acr_values");
        }
        for k in required {
            assert_eq!(
                error_page(&env, &pivot(&[(k, None)])).await,
                "Y030007",
                "{flavour:?} without {k}"
            );
        }
        for (k, v) in [
            ("nonce", "nonce_trop_court"),
            ("nonce", ""),
            ("prompt", ""),
            ("prompt", "none"),
            ("prompt", "select_account"),
            ("client_id", ""),
            ("redirect_uri", "example.com"),
        ] {
            assert_eq!(
                error_page(&env, &pivot(&[(k, Some(v))])).await,
                "Y030007",
                "{flavour:?} {k}={v:?}"
            );
        }
        assert_eq!(
            error_page(&env, &pivot(&[("client_id", Some("inconnu"))])).await,
            "Y04EA6EF"
        );
        // A repeated parameter is an array to FranceConnect's DTO: refused too.
        let twice = format!("{}&state=again", authorize_url(&env.mp, &pivot(&[])));
        let r = env.http.get(twice).send().await.expect("authorize");
        assert_eq!(r.status(), 400);
        assert!(r.text().await.expect("html").contains("Y030007"));
        // What FranceConnect accepts passes.
        let c = code(
            &env,
            &pivot(&[
                ("prompt", Some("login consent")),
                ("ui_locales", Some("fr-FR")),
                ("idp_hint", Some(IDP_ID)),
            ]),
        )
        .await;
        assert_eq!(c.len(), 64);
    }
}

#[tokio::test]
async fn other_refusals_go_back_to_the_service_with_franceconnect_s_codes() {
    let env = pivot_only(Flavour::FranceConnectV2).await;
    assert_eq!(
        sent_back(&env, &pivot(&[("response_type", Some("token"))])).await,
        (
            "unsupported_response_type".into(),
            "unsupported response_type requested".into()
        )
    );
    assert_eq!(
        sent_back(&env, &pivot(&[("response_type", Some(""))]))
            .await
            .0,
        "invalid_request"
    );
    assert_eq!(
        sent_back(&env, &pivot(&[("scope", Some("profile"))])).await,
        (
            "invalid_request".into(),
            "openid scope must be requested when using the acr_values parameter".into()
        )
    );
    assert_eq!(
        sent_back(&env, &pivot(&[("claims", Some("{not json"))]))
            .await
            .0,
        "invalid_request"
    );
    assert_eq!(
        sent_back(&env, &pivot(&[("idp_hint", Some("another-idp"))])).await,
        (
            "invalid_idp_hint".into(),
            "An idp_hint was provided but is not allowed".into()
        )
    );
    // Levels: v2 serves eidas1 only; an unknown value means the default.
    assert_eq!(
        sent_back(&env, &pivot(&[("acr_values", Some("eidas2"))])).await,
        (
            "invalid_acr".into(),
            "acr_value is not valid, should be equal one of these values, expected eidas1, got eidas2"
                .into()
        )
    );
    let c = code(&env, &pivot(&[("acr_values", Some("niveau_inconnu"))])).await;
    let t: Value = exchange(&env, &c, &[]).await.json().await.expect("json");
    let claims = verify(t["id_token"].as_str().unwrap_or_default(), &env.mp.jwks()).expect("sig");
    assert_eq!(claims["acr"], "eidas1");
}

#[tokio::test]
async fn franceconnect_plus_answers_eidas1_with_invalid_acr() {
    let env = pivot_only(Flavour::FranceConnectPlus).await;
    for asked in ["eidas1", "eidas1 eidas2 eidas3", "inconnu eidas1"] {
        assert_eq!(
            sent_back(&env, &pivot(&[("acr_values", Some(asked))])).await,
            (
                "invalid_acr".into(),
                "acr_value is not valid, should be equal one of these values, expected eidas2,eidas3, got eidas1"
                    .into()
            ),
            "{asked}"
        );
    }
    // Valid levels lead to the interaction (no relying party key here: no token).
    for asked in ["eidas2", "eidas3 eidas2", "niveau_inconnu"] {
        let r = env
            .http
            .get(authorize_url(
                &env.mp,
                &pivot(&[("acr_values", Some(asked))]),
            ))
            .send()
            .await
            .expect("authorize");
        assert_eq!(r.status(), 303, "{asked}");
    }
}

#[tokio::test]
async fn scopes_beyond_the_client_s_authorisation_get_invalid_scope() {
    let env = pivot_only(Flavour::FranceConnectV2).await;
    for extra in [
        "email",
        "preferred_username",
        "idp_id",
        "idp_birthdate",
        "profile",
        "amr",
    ] {
        let scope = format!("openid given_name {extra}");
        assert_eq!(
            sent_back(&env, &pivot(&[("scope", Some(&scope))])).await,
            (
                "invalid_scope".into(),
                "requested scope is not allowed".into()
            ),
            "{extra}"
        );
    }
    // A scope FranceConnect does not know is ignored.
    let c = code(
        &env,
        &pivot(&[("scope", Some("openid given_name unknown_scope"))]),
    )
    .await;
    assert_eq!(c.len(), 64);
    // The authorisation is configurable.
    let env = start_with(MockConfig {
        authorized_scopes: Some(vec!["openid".into(), "email".into()]),
        ..MockConfig::default()
    })
    .await;
    code(&env, &pivot(&[("scope", Some("openid email"))])).await;
    assert_eq!(
        sent_back(&env, &pivot(&[("scope", Some("openid given_name"))]))
            .await
            .0,
        "invalid_scope"
    );
}

/// Userinfo (v2: a signed JWT) for a token.
async fn userinfo_of(env: &Env, t: &Value) -> Value {
    let jwt = env
        .http
        .get(env.mp.endpoint("userinfo"))
        .bearer_auth(t["access_token"].as_str().unwrap_or_default())
        .send()
        .await
        .expect("userinfo")
        .text()
        .await
        .expect("body");
    verify(&jwt, &env.mp.jwks()).expect("signed userinfo")
}

#[tokio::test]
async fn amr_only_through_claims_and_only_when_authorised() {
    const AMR: &str = r#"{"id_token":{"amr":{"essential":true}}}"#;
    let env = pivot_only(Flavour::FranceConnectV2).await;
    assert_eq!(
        error_page(&env, &pivot(&[("claims", Some(AMR))])).await,
        "Y100009"
    );
    let env = start(Flavour::FranceConnectV2).await;
    let t = tokens(&env, &pivot(&[("claims", Some(AMR))])).await;
    let claims = verify(t["id_token"].as_str().unwrap_or_default(), &env.mp.jwks()).expect("sig");
    assert_eq!(claims["amr"], json!(["fc", "pwd"]));
    // Not asked: absent, authorised or not.
    let t = tokens(&env, &pivot(&[])).await;
    let claims = verify(t["id_token"].as_str().unwrap_or_default(), &env.mp.jwks()).expect("sig");
    assert!(claims.get("amr").is_none());
    // An eIDAS identity says so in its amr.
    let t = tokens(
        &env,
        &pivot(&[("claims", Some(AMR)), ("citizen", Some("giulia"))]),
    )
    .await;
    let claims = verify(t["id_token"].as_str().unwrap_or_default(), &env.mp.jwks()).expect("sig");
    assert_eq!(claims["amr"], json!(["eidas"]));
}

#[tokio::test]
async fn idp_id_and_idp_birthdate_only_with_their_scopes() {
    let env = start(Flavour::FranceConnectV2).await;
    let t = tokens(&env, &pivot(&[("citizen", Some("partial"))])).await;
    let ui = userinfo_of(&env, &t).await;
    assert_eq!(ui["birthdate"], "1962-01-01");
    assert_eq!(ui["given_name_array"], json!(["Louis"]));
    assert!(ui.get("idp_id").is_none() && ui.get("idp_birthdate").is_none());
    assert!(ui.get("email").is_none(), "email not asked");
    let scope = "openid birthdate idp_birthdate idp_id";
    let t = tokens(
        &env,
        &pivot(&[("scope", Some(scope)), ("citizen", Some("partial"))]),
    )
    .await;
    let ui = userinfo_of(&env, &t).await;
    assert_eq!(ui["idp_birthdate"], "1962-00-00");
    assert_eq!(ui["idp_id"], IDP_ID);
    assert!(ui.get("given_name").is_none());
}

#[tokio::test]
async fn register_sex_i_is_sent_as_unspecified() {
    let env = start(Flavour::FranceConnectV2).await;
    let t = tokens(&env, &pivot(&[("citizen", Some("camille"))])).await;
    assert_eq!(userinfo_of(&env, &t).await["gender"], "unspecified");
}

#[tokio::test]
async fn token_endpoint_takes_client_secret_post_only() {
    let env = start(Flavour::FranceConnectV2).await;
    let c = code(&env, &pivot(&[])).await;
    let basic = env
        .http
        .post(env.mp.endpoint("token"))
        .basic_auth(env.mp.client_id(), Some(env.mp.client_secret()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", c.as_str()),
            ("redirect_uri", CB),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(basic.status(), 401);
    let c = code(&env, &pivot(&[])).await;
    let r = exchange(
        &env,
        &c,
        &[
            ("client_secret", None),
            (
                "client_assertion_type",
                Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ),
            ("client_assertion", Some("a.b.c")),
        ],
    )
    .await;
    assert_eq!(r.status(), 401);
    // A verifier nobody asked for is refused.
    let c = code(&env, &pivot(&[])).await;
    let r = exchange(&env, &c, &[("code_verifier", Some(&"v".repeat(43)))]).await;
    assert_eq!(
        r.json::<Value>().await.expect("json")["error"],
        "invalid_grant"
    );
}

#[tokio::test]
async fn revocation_takes_exactly_token_client_id_and_client_secret() {
    let env = start(Flavour::FranceConnectPlus).await;
    let (_, d) = get_json(&env, "/.well-known/openid-configuration").await;
    let url = d["revocation_endpoint"]
        .as_str()
        .expect("revocation_endpoint");
    assert_eq!(url, format!("{}/token/revocation", env.mp.issuer()));
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        d["token_endpoint_auth_methods_supported"],
        json!(["client_secret_post", "private_key_jwt"])
    );
    // A live token, planted as the token endpoint would (no relying party key here).
    let token = "t".repeat(64);
    let plant = |t: &str| {
        lock(&env.mp.inner.state).tokens.insert(
            t.to_owned(),
            AccessGrant {
                citizen: &citizens::CITIZENS[0],
                scope: "openid".into(),
                expires: Instant::now() + Duration::from_secs(60),
            },
        );
    };
    plant(&token);
    let post = |form: Vec<(&'static str, String)>| {
        let http = env.http.clone();
        let url = url.to_owned();
        async move { http.post(url).form(&form).send().await.expect("revoke") }
    };
    let id = env.mp.client_id().to_owned();
    let secret = env.mp.client_secret().to_owned();
    let r = post(vec![
        ("token", token.clone()),
        ("client_id", id.clone()),
        ("client_secret", secret.clone()),
        ("token_type_hint", "access_token".into()),
    ])
    .await;
    assert_eq!(r.status(), 400, "token_type_hint is not accepted");
    let r = env
        .http
        .post(url)
        .basic_auth(&id, Some(&secret))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .expect("basic");
    assert_eq!(r.status(), 400, "Basic is not accepted");
    let r = post(vec![
        ("token", token.clone()),
        ("client_id", id.clone()),
        ("client_secret", "x".repeat(40)),
    ])
    .await;
    assert_eq!(r.status(), 401);
    assert!(env.mp.access_token_is_live(&token));
    let r = post(vec![
        ("token", token.clone()),
        ("client_id", id.clone()),
        ("client_secret", secret.clone()),
    ])
    .await;
    assert_eq!(r.status(), 200);
    assert!(!env.mp.access_token_is_live(&token));
    assert_eq!(env.mp.counters().revocation, 4);
    // Unknown tokens are not an error (RFC 7009 2.2).
    let r = post(vec![
        ("token", "u".repeat(64)),
        ("client_id", id),
        ("client_secret", secret),
    ])
    .await;
    assert_eq!(r.status(), 200);
}
