//! Drives the mock provider the way a relying party does (discovery -> authorize -> the
//! interaction page, where the citizen is picked -> token -> userinfo) and checks its tokens
//! with an independent JWT library (jsonwebtoken) against the published JWKS.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use guichet::demo::citizens;
use guichet::demo::provider::{driver, Faults, Flavour, MockProvider};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::Url;

const CALLBACK: &str = "http://127.0.0.1:9/.guichet/callback";

/// A mock on an ephemeral port, authorised for everything (the mock's shared fixture).
async fn start(flavour: Flavour) -> MockProvider {
    driver::start(flavour).await.mp
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

fn random_hex() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

async fn get_json(http: &reqwest::Client, url: &str) -> Value {
    let r = http.get(url).send().await.expect("GET");
    assert_eq!(r.status(), 200, "GET {url}");
    r.json().await.expect("JSON body")
}

fn validation(alg: Algorithm, issuer: &str, client_id: &str) -> Validation {
    let mut v = Validation::new(alg);
    v.set_issuer(&[issuer]);
    v.set_audience(&[client_id]);
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    v.leeway = 60;
    v
}

fn key_for(jwks: &JwkSet, token: &str) -> DecodingKey {
    // jsonwebtoken verifies on ring, guichet's backend for it.
    guichet::jose::install();
    let header = decode_header(token).expect("JWS header");
    let kid = header.kid.expect("kid in header");
    let jwk = jwks.find(&kid).expect("kid published in JWKS");
    DecodingKey::from_jwk(jwk).expect("decoding key from JWK")
}

struct Login {
    discovery: Value,
    jwks: JwkSet,
    tokens: Value,
    nonce: String,
}

/// Discovery, JWKS, authorize, the citizen picked on the interaction page, token exchange.
async fn login(
    http: &reqwest::Client,
    mp: &MockProvider,
    citizen: &str,
    scope: &str,
    pkce: Option<(&str, &str)>,
    basic_auth: bool,
) -> Login {
    let discovery = get_json(
        http,
        &format!("{}/.well-known/openid-configuration", mp.issuer()),
    )
    .await;
    assert_eq!(discovery["issuer"], mp.issuer());
    let jwks_uri = discovery["jwks_uri"].as_str().expect("jwks_uri");
    let jwks: JwkSet = serde_json::from_value(get_json(http, jwks_uri).await).expect("JWK set");

    let state = random_hex();
    let nonce = random_hex();
    let mut authz = Url::parse(
        discovery["authorization_endpoint"]
            .as_str()
            .expect("authorization_endpoint"),
    )
    .expect("authorize URL");
    authz
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", mp.client_id())
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("scope", scope)
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("acr_values", "eidas1");
    if let Some((_, challenge)) = pkce {
        authz
            .query_pairs_mut()
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
    }
    let r = http.get(authz.clone()).send().await.expect("authorize");
    assert_eq!(r.status(), 303, "authorize opens an interaction");
    let interaction = authz
        .join(
            r.headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .expect("Location"),
        )
        .expect("interaction URL");
    let r = http
        .get(format!("{interaction}/login?citizen={citizen}"))
        .send()
        .await
        .expect("pick the citizen");
    assert_eq!(r.status(), 302);
    let location = r
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .expect("Location");
    assert!(location.starts_with(CALLBACK), "{location}");
    let q: BTreeMap<String, String> = Url::parse(location)
        .expect("callback URL")
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(q.get("state"), Some(&state));
    let code = q.get("code").expect("code").clone();

    let mut form = vec![
        ("grant_type", "authorization_code".to_owned()),
        ("code", code),
        ("redirect_uri", CALLBACK.to_owned()),
    ];
    if let Some((verifier, _)) = pkce {
        form.push(("code_verifier", verifier.to_owned()));
    }
    let mut req = http.post(
        discovery["token_endpoint"]
            .as_str()
            .expect("token_endpoint"),
    );
    if basic_auth {
        req = req.basic_auth(mp.client_id(), Some(mp.client_secret()));
    } else {
        form.push(("client_id", mp.client_id().to_owned()));
        form.push(("client_secret", mp.client_secret().to_owned()));
    }
    let r = req.form(&form).send().await.expect("token");
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.expect("token JSON");
    assert_eq!(tokens["token_type"], "Bearer");
    Login {
        discovery,
        jwks,
        tokens,
        nonce,
    }
}

#[tokio::test]
async fn franceconnect_v2_flow_verified_with_jsonwebtoken() {
    let mp = start(Flavour::FranceConnectV2).await;
    let http = client();
    let l = login(
        &http,
        &mp,
        "elodie",
        "openid given_name family_name preferred_username birthdate gender birthplace birthcountry email",
        None,
        false,
    )
    .await;
    // FranceConnect lists S256 (yet refuses code_challenge) and private_key_jwt.
    assert_eq!(
        l.discovery["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        l.discovery["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_post", "private_key_jwt"])
    );

    let id_token = l.tokens["id_token"].as_str().expect("id_token");
    assert_eq!(
        decode_header(id_token).expect("header").alg,
        Algorithm::ES256
    );
    let claims = decode::<Value>(
        id_token,
        &key_for(&l.jwks, id_token),
        &validation(Algorithm::ES256, &mp.issuer(), mp.client_id()),
    )
    .expect("id_token verifies against the JWKS")
    .claims;
    let sub = citizens::sub_for(mp.client_id(), "elodie");
    assert_eq!(claims["sub"], sub);
    assert_eq!(claims["nonce"], l.nonce);
    assert_eq!(claims["acr"], "eidas1");
    // amr only when asked through `claims`; idp_id only in userinfo, with its scope.
    assert!(claims.get("amr").is_none());
    assert!(claims.get("idp_id").is_none());
    assert!(claims["auth_time"].is_u64());

    let r = http
        .get(
            l.discovery["userinfo_endpoint"]
                .as_str()
                .expect("userinfo_endpoint"),
        )
        .bearer_auth(l.tokens["access_token"].as_str().expect("access_token"))
        .send()
        .await
        .expect("userinfo");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("application/jwt")
    );
    let jwt = r.text().await.expect("userinfo body");
    let info = decode::<Value>(
        &jwt,
        &key_for(&l.jwks, &jwt),
        &validation(Algorithm::ES256, &mp.issuer(), mp.client_id()),
    )
    .expect("userinfo JWT verifies against the JWKS")
    .claims;
    assert_eq!(info["sub"], sub);
    assert_eq!(info["given_name"], "Élodie");
    assert_eq!(info["family_name"], "Müller");
    assert_eq!(info["birthdate"], "1990-03-12");
    assert_eq!(info["gender"], "female");
    assert_eq!(info["birthplace"], "75056");
    assert_eq!(info["birthcountry"], "99100");
    assert!(info["email"].as_str().is_some_and(|e| e.contains('@')));

    let sent = mp.last_token_request().expect("token request recorded");
    assert_eq!(sent.get("_auth").map(String::as_str), Some("post"));
    let c = mp.counters();
    assert_eq!(
        (c.discovery, c.jwks, c.authorize, c.token, c.userinfo),
        (1, 1, 1, 1, 1)
    );

    // Logout with the id_token as hint.
    let mut end = Url::parse(
        l.discovery["end_session_endpoint"]
            .as_str()
            .expect("end_session_endpoint"),
    )
    .expect("end_session URL");
    end.query_pairs_mut()
        .append_pair("id_token_hint", id_token)
        .append_pair("state", "st")
        .append_pair("post_logout_redirect_uri", "http://127.0.0.1:9/bye");
    let r = http.get(end).send().await.expect("end_session");
    assert_eq!(r.status(), 302);
    mp.shutdown();
}

#[tokio::test]
async fn generic_flow_with_pkce_and_basic_auth() {
    let mp = start(Flavour::Generic).await;
    let http = client();
    let verifier = random_hex();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let l = login(
        &http,
        &mp,
        "jean-philippe",
        "openid profile",
        Some((&verifier, &challenge)),
        true,
    )
    .await;
    assert_eq!(
        l.discovery["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    let id_token = l.tokens["id_token"].as_str().expect("id_token");
    let claims = decode::<Value>(
        id_token,
        &key_for(&l.jwks, id_token),
        &validation(Algorithm::RS256, &mp.issuer(), mp.client_id()),
    )
    .expect("RS256 id_token verifies")
    .claims;
    assert_eq!(
        claims["sub"],
        citizens::sub_for(mp.client_id(), "jean-philippe")
    );
    let sent = mp.last_authorize_params().expect("authorize recorded");
    assert_eq!(sent.get("code_challenge"), Some(&challenge));
    assert_eq!(
        mp.last_token_request()
            .expect("token recorded")
            .get("_auth")
            .map(String::as_str),
        Some("basic")
    );

    let info: Value = http
        .get(
            l.discovery["userinfo_endpoint"]
                .as_str()
                .expect("userinfo_endpoint"),
        )
        .bearer_auth(l.tokens["access_token"].as_str().expect("access_token"))
        .send()
        .await
        .expect("userinfo")
        .json()
        .await
        .expect("JSON userinfo");
    assert_eq!(info["given_name"], "Jean-Philippe Marie");
    assert_eq!(
        info["given_name_array"],
        serde_json::json!(["Jean-Philippe", "Marie"])
    );
    assert_eq!(info["family_name"], "Lefèvre-Dubois");
}

#[tokio::test]
async fn forged_tokens_are_rejected_by_a_strict_verifier() {
    let mp = start(Flavour::FranceConnectV2).await;
    let http = client();
    let strict = validation(Algorithm::ES256, &mp.issuer(), mp.client_id());
    let scope = "openid identite_pivot";

    for faults in [
        Faults {
            hs256_with_public_key: true,
            ..Faults::default()
        },
        Faults {
            bad_signature: true,
            ..Faults::default()
        },
        Faults {
            wrong_issuer: true,
            ..Faults::default()
        },
        Faults {
            wrong_audience: true,
            ..Faults::default()
        },
        Faults {
            expired: true,
            ..Faults::default()
        },
    ] {
        mp.set_faults(faults.clone());
        let l = login(&http, &mp, "angela", scope, None, false).await;
        let id_token = l.tokens["id_token"].as_str().expect("id_token");
        let r = decode::<Value>(id_token, &key_for(&l.jwks, id_token), &strict);
        assert!(r.is_err(), "accepted with {faults:?}");
    }

    // alg none: not even a parseable header for jsonwebtoken.
    mp.set_faults(Faults {
        alg_none: true,
        ..Faults::default()
    });
    let l = login(&http, &mp, "angela", scope, None, false).await;
    assert!(decode_header(l.tokens["id_token"].as_str().expect("id_token")).is_err());

    // Unknown kid: not in the JWKS until the key is rotated in.
    mp.set_faults(Faults {
        unknown_kid: true,
        ..Faults::default()
    });
    let l = login(&http, &mp, "angela", scope, None, false).await;
    let id_token = l.tokens["id_token"].as_str().expect("id_token");
    let kid = decode_header(id_token).expect("header").kid.expect("kid");
    assert!(l.jwks.find(&kid).is_none());
    mp.rotate_signing_key();
    let jwks: JwkSet =
        serde_json::from_value(get_json(&http, &format!("{}/jwks", mp.issuer())).await)
            .expect("JWK set");
    assert_eq!(jwks.keys.len(), 1);
    decode::<Value>(id_token, &key_for(&jwks, id_token), &strict)
        .expect("verifies once its key is published");
}
