//! The mock's FranceConnect v1, FranceConnect+ and MConnect flavours, driven over HTTP.

use super::tests::*;
use super::*;

#[tokio::test]
async fn fc_v1_hs256_without_discovery_and_json_userinfo() {
    let env = start_with(
        MockConfig {
            flavour: Flavour::FranceConnectV1,
            path_prefix: "/api/v1".into(),
            ..MockConfig::default()
        }
        .authorised_for_everything(),
    )
    .await;
    let mp = &env.mp;
    // The bare host is the issuer; nothing to discover.
    assert_eq!(mp.issuer(), mp.base_url());
    for leaf in [".well-known/openid-configuration", "jwks", "session/end"] {
        let r = env.http.get(mp.endpoint(leaf)).send().await.expect("get");
        assert_eq!(r.status(), 404, "{leaf}");
    }
    // acr_values is optional on v1.
    let t = tokens(&env, &[("acr_values", None), ("citizen", Some("partial"))]).await;
    let id_token = t["id_token"].as_str().expect("id_token");
    let header = part(id_token, 0);
    assert_eq!(header["alg"], "HS256");
    assert!(header.get("kid").is_none());
    let (msg, sig) = id_token.rsplit_once('.').expect("jws");
    let verifier = HS256
        .verifier_from_bytes(mp.client_secret())
        .expect("hmac key");
    let sig = URL_SAFE_NO_PAD.decode(sig).expect("b64");
    josekit::jws::JwsVerifier::verify(&verifier, msg.as_bytes(), &sig).expect("HMAC");
    let claims = part(id_token, 1);
    assert_eq!(claims["iss"], mp.base_url());
    assert_eq!(claims["acr"], "eidas1");
    assert_eq!(claims["idp"], IDP_ID);
    assert!(claims.get("idp_id").is_none());
    let r = env
        .http
        .get(format!("{}?schema=openid", mp.endpoint("userinfo")))
        .bearer_auth(t["access_token"].as_str().unwrap_or_default())
        .send()
        .await
        .expect("userinfo");
    assert!(r
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json")));
    let ui: Value = r.json().await.expect("json");
    // The identity provider's partial date, passed through.
    assert_eq!(ui["birthdate"], "1962-00-00");
    assert!(ui.get("idp_birthdate").is_none() && ui.get("given_name_array").is_none());
}

/// Serves `{"keys": [jwk]}` on loopback, as a relying party publishes its JWKS.
async fn rp_jwks(jwk: Value) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    let set = json!({ "keys": [jwk] });
    let app = Router::new().route(
        "/jwks.json",
        get(move || {
            let set = set.clone();
            async move { axum::Json(set) }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    format!("http://{addr}/jwks.json")
}

#[tokio::test]
async fn fc_plus_encrypts_to_the_relying_party_key() {
    let (pem, public) = crate::keys::generate("ECDH-ES", Some("rp-1")).expect("key");
    let env = start_with(
        MockConfig {
            flavour: Flavour::FranceConnectPlus,
            rp_jwks_uri: Some(rp_jwks(public).await),
            ..MockConfig::default()
        }
        .authorised_for_everything(),
    )
    .await;
    let keys = [crate::oidc::jwe::Decrypter::new(
        "rp-1",
        "ECDH-ES",
        crate::keys::decrypter(&pem, "ECDH-ES").expect("decrypter"),
    )];
    let open = |t: &str| {
        crate::oidc::jwe::decrypt(t, &["ECDH-ES".to_string()], &["A256GCM".to_string()], &keys)
    };
    let (_, discovery) = get_json(&env, "/.well-known/openid-configuration").await;
    assert_eq!(
        discovery["acr_values_supported"],
        json!(["eidas2", "eidas3"])
    );
    // eidas1 does not exist at FranceConnect+: back to the service with invalid_acr.
    let r = env
        .http
        .get(authorize_url(&env.mp, &[("acr_values", Some("eidas1"))]))
        .send()
        .await
        .expect("authorize");
    assert_eq!(r.status(), 302);
    assert_eq!(query_of(&location(&r))["error"], "invalid_acr");
    let t = tokens(&env, &[("acr_values", Some("eidas3"))]).await;
    let jwe = t["id_token"].as_str().expect("id_token");
    assert_eq!(jwe.split('.').count(), 5);
    let header = part(jwe, 0);
    assert_eq!(
        (
            header["alg"].as_str(),
            header["enc"].as_str(),
            header["kid"].as_str()
        ),
        (Some("ECDH-ES"), Some("A256GCM"), Some("rp-1"))
    );
    let jws = open(jwe).expect("decrypts with the relying party's key");
    let claims = verify(&jws, &env.mp.jwks()).expect("ES256 inside");
    assert_eq!(claims["acr"], "eidas3");
    let r = env
        .http
        .get(env.mp.endpoint("userinfo"))
        .bearer_auth(t["access_token"].as_str().unwrap_or_default())
        .send()
        .await
        .expect("userinfo");
    let body = r.text().await.expect("body");
    let ui = verify(&open(&body).expect("userinfo JWE"), &env.mp.jwks()).expect("signed");
    assert_eq!(ui["birthdate"], "1990-03-12");
    assert_eq!(env.mp.encrypted_count(), 2);
    // Faults: another key, and no encryption at all.
    env.mp.set_faults(Faults {
        id_token_jwe: Some(JweFault::OtherKeySameKid),
        ..Faults::default()
    });
    let t = tokens(&env, &[("acr_values", Some("eidas2"))]).await;
    assert!(open(t["id_token"].as_str().unwrap_or_default()).is_err());
    env.mp.set_faults(Faults {
        id_token_jwe: Some(JweFault::NotEncrypted),
        ..Faults::default()
    });
    let t = tokens(&env, &[("acr_values", Some("eidas2"))]).await;
    assert_eq!(
        t["id_token"]
            .as_str()
            .unwrap_or_default()
            .split('.')
            .count(),
        3
    );
}

#[tokio::test]
async fn fc_plus_without_a_relying_party_key_cannot_issue_tokens() {
    let env = start(Flavour::FranceConnectPlus).await;
    let c = code(&env, &[("acr_values", Some("eidas2"))]).await;
    let r = exchange(&env, &c, &[]).await;
    assert_eq!(r.status(), 500);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"], "server_error");
}

#[tokio::test]
async fn mconnect_claims_and_identity_status() {
    let env = start_with(MockConfig {
        flavour: Flavour::MConnect,
        path_prefix: "/mconnect".into(),
        ..MockConfig::default()
    })
    .await;
    let (_, discovery) = get_json(&env, "/.well-known/openid-configuration").await;
    assert_eq!(
        discovery["acr_values_supported"],
        json!(["substantial", "high"])
    );
    let t = tokens(&env, &[("acr_values", None), ("citizen", Some("suspendu"))]).await;
    let claims = verify(t["id_token"].as_str().unwrap_or_default(), &env.mp.jwks()).expect("RS256");
    assert_eq!(claims["acr"], "substantial");
    let ui: Value = env
        .http
        .get(env.mp.endpoint("userinfo"))
        .bearer_auth(t["access_token"].as_str().unwrap_or_default())
        .send()
        .await
        .expect("userinfo")
        .json()
        .await
        .expect("json");
    assert_eq!(ui["Authority"]["status"], "suspended");
    assert_eq!(ui["preferred_username"], "MC-0043-0917");
    assert_eq!(ui["birth_datetime"], "1971-02-03T17:45:00");
    assert_eq!(ui["name"], "Marc Pastor");
    // The suspended identity exists at MConnect only.
    assert!(citizens::find_for("suspendu", Flavour::FranceConnectV2).is_none());
}
