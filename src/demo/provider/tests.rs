use super::*;
use josekit::jwk::Jwk;
use josekit::jws::JwsVerifier;

pub(super) use super::driver::*;

/// Verify a JWS against a JWK set; returns its claims.
pub(super) fn verify(jwt: &str, jwks: &Value) -> Result<Value, String> {
    let header = part(jwt, 0);
    let kid = header["kid"].as_str().ok_or("no kid")?;
    let alg = header["alg"].as_str().ok_or("no alg")?;
    let jwk = jwks["keys"]
        .as_array()
        .and_then(|ks| ks.iter().find(|k| k["kid"] == kid))
        .ok_or("kid not in JWKS")?;
    let jwk =
        Jwk::from_map(jwk.as_object().cloned().unwrap_or_default()).map_err(|e| e.to_string())?;
    let verifier: Box<dyn JwsVerifier> = match alg {
        "ES256" => Box::new(ES256.verifier_from_jwk(&jwk).map_err(|e| e.to_string())?),
        "RS256" => Box::new(RS256.verifier_from_jwk(&jwk).map_err(|e| e.to_string())?),
        other => return Err(format!("alg {other} refused")),
    };
    let (msg, sig) = jwt.rsplit_once('.').ok_or("not a JWS")?;
    let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|e| e.to_string())?;
    verifier
        .verify(msg.as_bytes(), &sig)
        .map_err(|e| e.to_string())?;
    Ok(part(jwt, 1))
}

#[tokio::test]
async fn discovery_fc_v2_and_generic() {
    let env = start(Flavour::FranceConnectV2).await;
    let (st, d) = get_json(&env, "/.well-known/openid-configuration").await;
    assert_eq!(st, 200);
    let iss = env.mp.issuer();
    assert!(iss.starts_with("http://127.0.0.1:") && iss.ends_with("/api/v2"));
    assert_eq!(d["issuer"], iss);
    assert_eq!(d["authorization_endpoint"], format!("{iss}/authorize"));
    assert_eq!(d["token_endpoint"], format!("{iss}/token"));
    assert_eq!(d["userinfo_endpoint"], format!("{iss}/userinfo"));
    assert_eq!(d["end_session_endpoint"], format!("{iss}/session/end"));
    assert_eq!(d["jwks_uri"], format!("{iss}/jwks"));
    // As FranceConnect's: post or private_key_jwt, S256 listed (yet code_challenge refused).
    assert_eq!(
        d["token_endpoint_auth_methods_supported"],
        json!(["client_secret_post", "private_key_jwt"])
    );
    assert_eq!(d["acr_values_supported"], json!(["eidas1"]));
    assert_eq!(
        d["id_token_signing_alg_values_supported"],
        json!(["ES256", "RS256"])
    );
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(d["claims_parameter_supported"], true);
    assert_eq!(d["revocation_endpoint"], format!("{iss}/token/revocation"));
    let (_, k) = get_json(&env, "/jwks").await;
    assert_eq!(k["keys"].as_array().map(Vec::len), Some(1));
    assert_eq!(k["keys"][0]["kty"], "EC");
    assert_eq!(k["keys"][0]["crv"], "P-256");
    assert_eq!(k["keys"][0]["alg"], "ES256");
    assert_eq!(k["keys"][0]["use"], "sig");
    assert!(k["keys"][0].get("d").is_none(), "private part published");

    let env = start(Flavour::Generic).await;
    let (_, d) = get_json(&env, "/.well-known/openid-configuration").await;
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(d["id_token_signing_alg_values_supported"], json!(["RS256"]));
    assert_eq!(
        d["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post"])
    );
    let (_, k) = get_json(&env, "/jwks").await;
    assert_eq!(k["keys"][0]["kty"], "RSA");
    assert!(k["keys"][0].get("d").is_none(), "private part published");
    assert_eq!(env.mp.counters().discovery, 1);
    assert_eq!(env.mp.counters().jwks, 1);
}

#[tokio::test]
async fn fc_v2_full_flow() {
    let env = start(Flavour::FranceConnectV2).await;
    let t = tokens(&env, &[("acr_values", Some("eidas1"))]).await;
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 60);
    let id_token = t["id_token"].as_str().expect("id_token");
    let claims = verify(id_token, &env.mp.jwks()).expect("valid signature");
    assert_eq!(part(id_token, 0)["alg"], "ES256");
    assert_eq!(claims["iss"], env.mp.issuer());
    assert_eq!(claims["aud"], "guichet-demo");
    assert_eq!(claims["nonce"], NONCE);
    assert_eq!(claims["acr"], "eidas1");
    // amr only through `claims`, idp_id only in userinfo with its scope.
    assert!(claims.get("amr").is_none());
    assert!(claims.get("idp_id").is_none());
    let sub = citizens::sub_for("guichet-demo", "elodie");
    assert_eq!(claims["sub"], sub);
    let exp = claims["exp"].as_u64().unwrap_or(0);
    let iat = claims["iat"].as_u64().unwrap_or(0);
    assert_eq!(exp - iat, 60);

    let at = t["access_token"].as_str().expect("access_token");
    let r = env
        .http
        .get(format!("{}/userinfo", env.mp.issuer()))
        .bearer_auth(at)
        .send()
        .await
        .expect("userinfo");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("application/jwt")
    );
    let jwt = r.text().await.expect("body");
    let ui = verify(&jwt, &env.mp.jwks()).expect("userinfo signature");
    assert_eq!(ui["sub"], sub);
    assert_eq!(ui["iss"], env.mp.issuer());
    assert_eq!(ui["aud"], "guichet-demo");
    assert_eq!(ui["given_name"], "Élodie");
    assert_eq!(ui["given_name_array"], json!(["Élodie"]));
    assert_eq!(ui["family_name"], "Müller");
    assert_eq!(ui["birthdate"], "1990-03-12");
    assert_eq!(ui["gender"], "female");
    assert_eq!(ui["birthplace"], "75056");
    assert_eq!(ui["birthcountry"], "99100");
    assert_eq!(ui["email"], "elodie.muller@example.fr");
    assert!(ui.get("preferred_username").is_none());

    let tr = env.mp.last_token_request().expect("recorded");
    assert_eq!(tr.get("_auth").map(String::as_str), Some("post"));
    assert_eq!(
        tr.get("client_secret").map(String::as_str),
        Some(env.mp.client_secret())
    );
    let ar = env.mp.last_authorize_params().expect("recorded");
    assert_eq!(ar.get("nonce").map(String::as_str), Some(NONCE));
    let c = env.mp.counters();
    assert_eq!((c.authorize, c.token, c.userinfo), (1, 1, 1));
}

#[tokio::test]
async fn scopes_filter_userinfo_claims() {
    let env = start(Flavour::Generic).await;
    let t = tokens(
        &env,
        &[("scope", Some("openid birth")), ("citizen", Some("ana"))],
    )
    .await;
    let r = env
        .http
        .get(format!("{}/userinfo", env.mp.issuer()))
        .bearer_auth(t["access_token"].as_str().unwrap_or_default())
        .send()
        .await
        .expect("userinfo");
    assert_eq!(
        r.headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let ui: Value = r.json().await.expect("json");
    assert_eq!(ui["birthplace"], "");
    assert_eq!(ui["birthcountry"], "99134");
    assert!(ui.get("given_name").is_none());
    assert!(ui.get("email").is_none());
    assert_eq!(ui["sub"], citizens::sub_for("guichet-demo", "ana"));
}

#[tokio::test]
async fn a_plain_provider_refuses_bad_requests_with_json_400() {
    // FranceConnect's own ways of refusing are in `strictness_tests`.
    let env = start(Flavour::Generic).await;
    let cases: &[(&str, Option<&str>, &str)] = &[
        ("state", None, "invalid_request"),
        ("nonce", None, "invalid_request"),
        ("redirect_uri", None, "invalid_request"),
        ("redirect_uri", Some("not a url"), "invalid_request"),
        (
            "redirect_uri",
            Some("javascript:alert(1)"),
            "invalid_request",
        ),
        ("client_id", Some("intruder"), "invalid_client"),
        ("response_type", Some("token"), "unsupported_response_type"),
        ("response_type", None, "invalid_request"),
        ("scope", Some("profile email"), "invalid_scope"),
        ("code_challenge", Some("abc"), "invalid_request"),
    ];
    for (k, v, err) in cases {
        let r = env
            .http
            .get(authorize_url(&env.mp, &[(k, *v)]))
            .send()
            .await
            .expect("authorize");
        assert_eq!(r.status(), 400, "{k}={v:?}");
        let j: Value = r.json().await.expect("json error");
        assert_eq!(j["error"], *err, "{k}={v:?}");
    }
    // Repeated parameter, garbage encoding.
    let url = format!("{}&state=again", authorize_url(&env.mp, &[]));
    let r = env.http.get(url).send().await.expect("authorize");
    assert_eq!(r.status(), 400);
    let url = format!("{}/authorize?%FF%FE=%00&&==", env.mp.issuer());
    let r = env.http.get(url).send().await.expect("authorize");
    assert_eq!(r.status(), 400);
    // Generic: acr_values optional.
    let env = start(Flavour::Generic).await;
    let c = code(&env, &[("acr_values", None)]).await;
    let t: Value = exchange(&env, &c, &[]).await.json().await.expect("json");
    let claims =
        verify(t["id_token"].as_str().unwrap_or_default(), &env.mp.jwks()).expect("signature");
    assert_eq!(claims["acr"], "eidas1");
    assert_eq!(
        part(t["id_token"].as_str().unwrap_or_default(), 0)["alg"],
        "RS256"
    );
}

#[tokio::test]
async fn interaction_page_then_choose() {
    let env = start(Flavour::FranceConnectV2).await;
    let r = env
        .http
        .get(authorize_url(&env.mp, &[]))
        .send()
        .await
        .expect("authorize");
    // As FranceConnect: 303 to the interaction, the request kept server-side.
    assert_eq!(r.status(), 303);
    let interaction = format!("{}{}", env.mp.base_url(), location(&r));
    assert!(
        interaction.contains("/api/v2/interaction/"),
        "{interaction}"
    );
    let r = env.http.get(&interaction).send().await.expect("page");
    assert_eq!(r.status(), 200);
    assert!(r
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .starts_with("text/html"));
    let html = r.text().await.expect("html");
    assert!(html.contains("<html lang=\"fr\">"));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "external asset"
    );
    for c in citizens::CITIZENS {
        // Only the identities that exist at a FranceConnect v2 provider are offered.
        assert_eq!(
            html.contains(&crate::pages::escape(&c.display_name())),
            c.exists_with(Flavour::FranceConnectV2),
            "{}",
            c.id
        );
    }
    // Follow the link for jean-philippe.
    let start_href = html.find("citizen=jean-philippe").expect("link");
    let href_start = html[..start_href].rfind("href=\"").expect("href") + 6;
    let href_end = href_start + html[href_start..].find('"').expect("end");
    let href = html[href_start..href_end].replace("&amp;", "&");
    // An unknown citizen changes nothing; the interaction is still there.
    let nobody = href.replace("jean-philippe", "nobody");
    let r = env
        .http
        .get(format!("{}{nobody}", env.mp.base_url()))
        .send()
        .await
        .expect("choose");
    assert_eq!(r.status(), 400);
    // A form post works as well as the link (scripts).
    let login = href.split('?').next().unwrap_or_default().to_owned();
    let r = env
        .http
        .post(format!("{}{login}", env.mp.base_url()))
        .form(&[("citizen", "jean-philippe")])
        .send()
        .await
        .expect("choose");
    assert_eq!(r.status(), 302);
    let q = query_of(&location(&r));
    assert_eq!(q.get("state").map(String::as_str), Some("s7a7e"));
    let c = q.get("code").expect("code");
    let t: Value = exchange(&env, c, &[]).await.json().await.expect("json");
    let claims = verify(t["id_token"].as_str().unwrap_or_default(), &env.mp.jwks()).expect("sig");
    assert_eq!(
        claims["sub"],
        citizens::sub_for("guichet-demo", "jean-philippe")
    );
    // An interaction serves once.
    let r = env
        .http
        .get(format!("{}{href}", env.mp.base_url()))
        .send()
        .await
        .expect("again");
    assert_eq!(r.status(), 400);
    let r = env.http.get(&interaction).send().await.expect("page");
    assert_eq!(r.status(), 400);
    // Giving up: back to the service with access_denied.
    let r = env
        .http
        .get(authorize_url(&env.mp, &[]))
        .send()
        .await
        .expect("authorize");
    let r = env
        .http
        .get(format!("{}{}/abort", env.mp.base_url(), location(&r)))
        .send()
        .await
        .expect("abort");
    assert_eq!(r.status(), 302);
    let q = query_of(&location(&r));
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], "s7a7e");
}

#[tokio::test]
async fn codes_are_single_use_and_bound() {
    let env = start(Flavour::FranceConnectV2).await;
    let c = code(&env, &[]).await;
    assert_eq!(exchange(&env, &c, &[]).await.status(), 200);
    let r = exchange(&env, &c, &[]).await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.expect("json")["error"],
        "invalid_grant"
    );

    let c = code(&env, &[]).await;
    let r = exchange(
        &env,
        &c,
        &[("redirect_uri", Some("http://127.0.0.1:9/other"))],
    )
    .await;
    assert_eq!(
        r.json::<Value>().await.expect("json")["error"],
        "invalid_grant"
    );
    // The failed attempt consumed it.
    assert_eq!(exchange(&env, &c, &[]).await.status(), 400);

    let r = exchange(&env, "nope", &[]).await;
    assert_eq!(
        r.json::<Value>().await.expect("json")["error"],
        "invalid_grant"
    );

    // Expired code.
    let c = code(&env, &[]).await;
    if let Some(old) = Instant::now().checked_sub(CODE_TTL + Duration::from_secs(1)) {
        if let Some(g) = lock(&env.mp.inner.state).codes.get_mut(&c) {
            g.issued = old;
        }
        let r = exchange(&env, &c, &[]).await;
        assert_eq!(
            r.json::<Value>().await.expect("json")["error"],
            "invalid_grant"
        );
    }
    let r = exchange(&env, "x", &[("grant_type", Some("password"))]).await;
    assert_eq!(
        r.json::<Value>().await.expect("json")["error"],
        "unsupported_grant_type"
    );
}

#[tokio::test]
async fn client_authentication() {
    let env = start(Flavour::FranceConnectV2).await;
    let c = code(&env, &[]).await;
    let r = exchange(&env, &c, &[("client_secret", Some("wrong"))]).await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.expect("json")["error"],
        "invalid_client"
    );
    // FC v2 only allows client_secret_post.
    let c = code(&env, &[]).await;
    let r = env
        .http
        .post(format!("{}/token", env.mp.issuer()))
        .basic_auth(env.mp.client_id(), Some(env.mp.client_secret()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", c.as_str()),
            ("redirect_uri", CB),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key(header::WWW_AUTHENTICATE));
    let tr = env.mp.last_token_request().expect("recorded");
    assert_eq!(tr.get("_auth").map(String::as_str), Some("basic"));
    // No form content type.
    let r = env
        .http
        .post(format!("{}/token", env.mp.issuer()))
        .json(&json!({"grant_type": "authorization_code"}))
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.expect("json")["error"],
        "invalid_request"
    );

    // Generic accepts basic; credentials are form-urlencoded first (RFC 6749 2.3.1).
    let env = start(Flavour::Generic).await;
    let c = code(&env, &[]).await;
    let r = env
        .http
        .post(format!("{}/token", env.mp.issuer()))
        .basic_auth(env.mp.client_id(), Some(env.mp.client_secret()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", c.as_str()),
            ("redirect_uri", CB),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), 200);
    let tr = env.mp.last_token_request().expect("recorded");
    assert_eq!(tr.get("_auth").map(String::as_str), Some("basic"));
    assert_eq!(
        tr.get("_basic_client_id").map(String::as_str),
        Some("guichet-demo")
    );
    // Garbage basic header.
    let r = env
        .http
        .post(format!("{}/token", env.mp.issuer()))
        .header(header::AUTHORIZATION, "Basic !!!not-base64")
        .form(&[("grant_type", "authorization_code")])
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.expect("json")["error"],
        "invalid_client"
    );
}

#[tokio::test]
async fn pkce_s256() {
    let env = start(Flavour::Generic).await;
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    assert!(pkce_ok(verifier, challenge));
    let over = [
        ("code_challenge", Some(challenge)),
        ("code_challenge_method", Some("S256")),
    ];
    let c = code(&env, &over).await;
    let r = exchange(&env, &c, &[]).await;
    assert_eq!(
        r.json::<Value>().await.expect("json")["error"],
        "invalid_grant"
    );
    let c = code(&env, &over).await;
    let wrong = "x".repeat(43);
    let r = exchange(&env, &c, &[("code_verifier", Some(&wrong))]).await;
    assert_eq!(
        r.json::<Value>().await.expect("json")["error"],
        "invalid_grant"
    );
    let c = code(&env, &over).await;
    let r = exchange(&env, &c, &[("code_verifier", Some(verifier))]).await;
    assert_eq!(r.status(), 200);
    // plain is refused at authorize.
    let r = env
        .http
        .get(authorize_url(
            &env.mp,
            &[
                ("code_challenge", Some(challenge)),
                ("code_challenge_method", Some("plain")),
            ],
        ))
        .send()
        .await
        .expect("authorize");
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn id_token_faults() {
    let env = start(Flavour::FranceConnectV2).await;
    let jwks = env.mp.jwks();
    let id_token = |t: &Value| t["id_token"].as_str().unwrap_or_default().to_owned();

    env.mp.set_faults(Faults {
        bad_signature: true,
        ..Faults::default()
    });
    let t = id_token(&tokens(&env, &[]).await);
    assert!(verify(&t, &jwks).is_err());

    env.mp.set_faults(Faults {
        alg_none: true,
        ..Faults::default()
    });
    let t = id_token(&tokens(&env, &[]).await);
    assert_eq!(part(&t, 0), json!({"alg": "none", "typ": "JWT"}));
    assert!(t.ends_with('.'));

    env.mp.set_faults(Faults {
        hs256_with_public_key: true,
        ..Faults::default()
    });
    let t = id_token(&tokens(&env, &[]).await);
    assert_eq!(part(&t, 0)["alg"], "HS256");
    assert_eq!(part(&t, 0)["kid"], env.mp.current_kid());
    let pem = lock(&env.mp.inner.state).key.public_pem.clone();
    assert!(pem.starts_with(b"-----BEGIN PUBLIC KEY-----"));
    let (msg, sig) = t.rsplit_once('.').expect("jws");
    let ok = HS256.verifier_from_bytes(&pem).and_then(|v| {
        v.verify(
            msg.as_bytes(),
            &URL_SAFE_NO_PAD.decode(sig).unwrap_or_default(),
        )
    });
    assert!(ok.is_ok(), "HMAC keyed with the public PEM");

    let check = |f: Faults| {
        let env = &env;
        async move {
            env.mp.set_faults(f);
            let t = id_token(&tokens(env, &[]).await);
            verify(&t, &env.mp.jwks()).expect("still properly signed")
        }
    };
    let c = check(Faults {
        wrong_issuer: true,
        ..Faults::default()
    })
    .await;
    assert_ne!(c["iss"], env.mp.issuer());
    let c = check(Faults {
        wrong_audience: true,
        ..Faults::default()
    })
    .await;
    assert_eq!(c["aud"], OTHER_AUDIENCE);
    let c = check(Faults {
        extra_audience_without_azp: true,
        ..Faults::default()
    })
    .await;
    assert_eq!(c["aud"], json!(["guichet-demo", OTHER_AUDIENCE]));
    assert!(c.get("azp").is_none());
    let now = now_secs();
    let c = check(Faults {
        expired: true,
        ..Faults::default()
    })
    .await;
    assert!(c["exp"].as_u64().unwrap_or(u64::MAX) < now);
    let c = check(Faults {
        iat_in_future: true,
        ..Faults::default()
    })
    .await;
    assert!(c["iat"].as_u64().unwrap_or(0) >= now + 3600);
    let c = check(Faults {
        wrong_nonce: true,
        ..Faults::default()
    })
    .await;
    assert!(c["nonce"].is_string() && c["nonce"] != NONCE);
    let c = check(Faults {
        missing_nonce: true,
        ..Faults::default()
    })
    .await;
    assert!(c.get("nonce").is_none());
    let c = check(Faults {
        acr: Some("eidas3".into()),
        ..Faults::default()
    })
    .await;
    assert_eq!(c["acr"], "eidas3");
}

#[tokio::test]
async fn unknown_kid_then_rotation() {
    let env = start(Flavour::FranceConnectV2).await;
    let old_kid = env.mp.current_kid();
    env.mp.set_faults(Faults {
        unknown_kid: true,
        ..Faults::default()
    });
    let t = tokens(&env, &[]).await;
    let t = t["id_token"].as_str().unwrap_or_default();
    assert_ne!(part(t, 0)["kid"], old_kid);
    assert_eq!(
        verify(t, &env.mp.jwks()).err().as_deref(),
        Some("kid not in JWKS")
    );
    env.mp.rotate_signing_key();
    let (_, jwks) = get_json(&env, "/jwks").await;
    assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(1));
    assert_ne!(jwks["keys"][0]["kid"], old_kid);
    verify(t, &jwks).expect("spare key published by rotation");
    // After rotation, normal tokens use the new key.
    env.mp.set_faults(Faults::default());
    let t2 = tokens(&env, &[]).await;
    let t2 = t2["id_token"].as_str().unwrap_or_default();
    assert_eq!(part(t2, 0)["kid"], env.mp.current_kid());
    verify(t2, &jwks).expect("new key");
}

#[tokio::test]
async fn userinfo_faults_and_errors() {
    let env = start(Flavour::FranceConnectV2).await;
    let ui = |at: String| {
        let env = &env;
        async move {
            env.http
                .get(format!("{}/userinfo", env.mp.issuer()))
                .bearer_auth(at)
                .send()
                .await
                .expect("userinfo")
        }
    };
    let at = |t: &Value| t["access_token"].as_str().unwrap_or_default().to_owned();

    env.mp.set_faults(Faults {
        userinfo_sub_mismatch: true,
        ..Faults::default()
    });
    let t = tokens(&env, &[]).await;
    let jwt = ui(at(&t)).await.text().await.expect("body");
    let claims = verify(&jwt, &env.mp.jwks()).expect("signed");
    let id = verify(t["id_token"].as_str().unwrap_or_default(), &env.mp.jwks()).expect("id");
    assert_ne!(claims["sub"], id["sub"]);

    env.mp.set_faults(Faults {
        userinfo_signed_by_other_key: true,
        ..Faults::default()
    });
    let t = tokens(&env, &[]).await;
    let jwt = ui(at(&t)).await.text().await.expect("body");
    assert!(verify(&jwt, &env.mp.jwks()).is_err());

    let r = ui("unknown".into()).await;
    assert_eq!(r.status(), 401);
    let www = r
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        www.starts_with("Bearer") && www.contains("invalid_token"),
        "{www}"
    );
    let r = env
        .http
        .get(format!("{}/userinfo", env.mp.issuer()))
        .send()
        .await
        .expect("userinfo");
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key(header::WWW_AUTHENTICATE));
}

#[tokio::test]
async fn endpoint_faults() {
    let env = start(Flavour::FranceConnectV2).await;
    env.mp.set_faults(Faults {
        jwks_down: true,
        ..Faults::default()
    });
    assert_eq!(get_json(&env, "/jwks").await.0, 503);
    assert!(env.mp.faults().jwks_down);

    env.mp.set_faults(Faults {
        authorize_error: Some("access_denied".into()),
        ..Faults::default()
    });
    let r = env
        .http
        .get(authorize_url(&env.mp, &[]))
        .send()
        .await
        .expect("authorize");
    assert_eq!(r.status(), 302);
    let loc = location(&r);
    assert!(loc.starts_with(CB));
    let q = query_of(&loc);
    assert_eq!(q.get("error").map(String::as_str), Some("access_denied"));
    assert!(q.contains_key("error_description"));
    assert_eq!(q.get("state").map(String::as_str), Some("s7a7e"));
    assert!(!q.contains_key("code"));

    env.mp.set_faults(Faults::default());
    let c = code(&env, &[]).await;
    env.mp.set_faults(Faults {
        token_returns_html: true,
        token_delay_ms: 150,
        ..Faults::default()
    });
    let t0 = Instant::now();
    let r = exchange(&env, &c, &[]).await;
    assert!(t0.elapsed() >= Duration::from_millis(150));
    assert_eq!(r.status(), 200);
    assert!(r
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .starts_with("text/html"));
    assert_eq!(r.text().await.expect("body"), "<html>maintenance</html>");
}

#[tokio::test]
async fn end_session() {
    let env = start(Flavour::FranceConnectV2).await;
    let t = tokens(&env, &[]).await;
    let id_token = t["id_token"].as_str().unwrap_or_default();
    let url = |q: &[(&str, &str)]| {
        let mut u = Url::parse(&format!("{}/session/end", env.mp.issuer())).expect("url");
        u.query_pairs_mut().extend_pairs(q);
        u.to_string()
    };
    let r = env
        .http
        .get(url(&[("state", "x"), ("post_logout_redirect_uri", CB)]))
        .send()
        .await
        .expect("end");
    assert_eq!(r.status(), 400);
    let r = env
        .http
        .get(url(&[("id_token_hint", "a.b.c"), ("state", "x")]))
        .send()
        .await
        .expect("end");
    assert_eq!(r.status(), 400);
    let r = env
        .http
        .get(url(&[
            ("id_token_hint", id_token),
            ("state", "bye"),
            ("post_logout_redirect_uri", "http://127.0.0.1:9/logged-out"),
        ]))
        .send()
        .await
        .expect("end");
    assert_eq!(r.status(), 302);
    assert_eq!(location(&r), "http://127.0.0.1:9/logged-out?state=bye");
    // The access token is revoked.
    let r = env
        .http
        .get(format!("{}/userinfo", env.mp.issuer()))
        .bearer_auth(t["access_token"].as_str().unwrap_or_default())
        .send()
        .await
        .expect("userinfo");
    assert_eq!(r.status(), 401);
    assert_eq!(env.mp.counters().end_session, 3);
    let p = env.mp.last_end_session_params().expect("recorded");
    assert_eq!(p.get("state").map(String::as_str), Some("bye"));
}

#[tokio::test]
async fn prefix_and_shutdown() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let mp = MockProvider::serve(
        l,
        MockConfig {
            path_prefix: "oidc/".into(),
            ..MockConfig::default()
        },
    )
    .await
    .expect("serve");
    assert_eq!(mp.issuer(), format!("{}/oidc", mp.base_url()));
    let http = reqwest::Client::new();
    let r = http
        .get(format!("{}/.well-known/openid-configuration", mp.issuer()))
        .send()
        .await
        .expect("discovery");
    assert_eq!(r.status(), 200);
    let r = http
        .get(format!("{}/nothing", mp.base_url()))
        .send()
        .await
        .expect("404");
    assert_eq!(r.status(), 404);
    assert!(format!("{:?}", MockConfig::default()).contains("<redacted>"));
    mp.shutdown();
    let mut refused = false;
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(mp.addr()).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "still accepting after shutdown");
}
