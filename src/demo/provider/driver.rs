//! Drives a mock provider the way a relying party does, for tests: one mock on an ephemeral
//! loopback port ([`start`], [`start_with`]) with a client that follows no redirect
//! ([`Env`]), FranceConnect-valid authorize parameters with overrides ([`authorize_url`]), the
//! citizen picked on the interaction page ([`code`]), the token exchange ([`exchange`],
//! [`tokens`]). The mock's own tests and the integration tests (`tests/mock_provider.rs`)
//! share these fixtures rather than each writing its own.

use super::{Flavour, MockConfig, MockProvider};
use axum::http::header;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;
use std::collections::BTreeMap;
use url::Url;

/// The redirect URI [`authorize_url`] and [`exchange`] send.
pub const CB: &str = "http://127.0.0.1:9/callback";

/// A running mock and a client that follows no redirect.
pub struct Env {
    pub mp: MockProvider,
    pub http: reqwest::Client,
}

/// A mock whose client is authorised for every scope and `amr` (see [`start_with`] for the
/// default authorisation).
pub async fn start(flavour: Flavour) -> Env {
    start_with(
        MockConfig {
            flavour,
            ..MockConfig::default()
        }
        .authorised_for_everything(),
    )
    .await
}

pub async fn start_with(config: MockConfig) -> Env {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let mp = MockProvider::serve(l, config).await.expect("serve");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    Env { mp, http }
}

/// The nonce of [`authorize_url`] (FranceConnect wants 22 characters or more).
pub const NONCE: &str = "n0nce-of-twenty-two-chars";

/// Default FranceConnect-valid authorize parameters, with overrides (`None` removes a
/// parameter). The pseudo-parameter `citizen` is not sent: [`code`] picks it on the
/// interaction page.
pub fn authorize_url(mp: &MockProvider, over: &[(&str, Option<&str>)]) -> String {
    let acr = if mp.flavour() == Flavour::FranceConnectPlus {
        "eidas2"
    } else {
        "eidas1"
    };
    let mut p: BTreeMap<String, String> = [
        ("response_type", "code"),
        ("client_id", mp.client_id()),
        ("redirect_uri", CB),
        ("scope", "openid identite_pivot email preferred_username"),
        ("state", "s7a7e"),
        ("nonce", NONCE),
        ("acr_values", acr),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in over.iter().filter(|(k, _)| *k != "citizen") {
        match v {
            Some(v) => p.insert(k.to_string(), v.to_string()),
            None => p.remove(*k),
        };
    }
    let mut u = Url::parse(&mp.endpoint("authorize")).expect("url");
    u.query_pairs_mut().extend_pairs(p.iter());
    u.to_string()
}

/// The query parameters of a URL.
pub fn query_of(location: &str) -> BTreeMap<String, String> {
    Url::parse(location)
        .expect("location url")
        .query_pairs()
        .into_owned()
        .collect()
}

/// The `Location` of a response (empty when none).
pub fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Authorize, then pick the citizen (`("citizen", Some(id))` in `over`, default `elodie`) on
/// the interaction page: the code.
pub async fn code(env: &Env, over: &[(&str, Option<&str>)]) -> String {
    let r = env
        .http
        .get(authorize_url(&env.mp, over))
        .send()
        .await
        .expect("authorize");
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    let citizen = over
        .iter()
        .find(|(k, _)| *k == "citizen")
        .and_then(|(_, v)| *v)
        .unwrap_or("elodie");
    let r = env
        .http
        .get(format!(
            "{}{}/login?citizen={citizen}",
            env.mp.base_url(),
            location(&r)
        ))
        .send()
        .await
        .expect("interaction");
    assert_eq!(r.status(), 302, "{:?}", r.text().await);
    let q = query_of(&location(&r));
    assert_eq!(q.get("state").map(String::as_str), Some("s7a7e"));
    q.get("code").cloned().expect("code in redirect")
}

/// The token request for `code`, with overrides (`None` removes a field).
pub async fn exchange(env: &Env, code: &str, over: &[(&str, Option<&str>)]) -> reqwest::Response {
    let mut f: BTreeMap<String, String> = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CB),
        ("client_id", env.mp.client_id()),
        ("client_secret", env.mp.client_secret()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in over {
        match v {
            Some(v) => f.insert(k.to_string(), v.to_string()),
            None => f.remove(*k),
        };
    }
    env.http
        .post(env.mp.endpoint("token"))
        .form(&f)
        .send()
        .await
        .expect("token")
}

/// A code for `over`, exchanged: the token response.
pub async fn tokens(env: &Env, over: &[(&str, Option<&str>)]) -> Value {
    let c = code(env, over).await;
    let r = exchange(env, &c, &[]).await;
    assert_eq!(r.status(), 200);
    r.json().await.expect("token json")
}

/// Part `i` of a compact JWT (0: header, 1: payload), decoded as JSON.
pub fn part(jwt: &str, i: usize) -> Value {
    let p = jwt.split('.').nth(i).expect("jwt part");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).expect("b64")).expect("json")
}

/// `GET` a path under the issuer: status and JSON body (`null` when not JSON).
pub async fn get_json(env: &Env, path: &str) -> (u16, Value) {
    let r = env
        .http
        .get(format!("{}{path}", env.mp.issuer()))
        .send()
        .await
        .expect("get");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}
