//! The userinfo endpoint (JSON or signed JWT) and the RP-initiated logout endpoint.

use super::*;

/// Claims released for these scopes, as a provider of this flavour sends them.
pub(super) fn userinfo_claims(
    flavour: Flavour,
    c: &Citizen,
    sub: String,
    scope: &str,
) -> Map<String, Value> {
    match flavour {
        Flavour::MConnect => mconnect_claims(c, sub),
        Flavour::Generic => generic_claims(c, sub, scope),
        Flavour::FranceConnectV1 | Flavour::FranceConnectV2 | Flavour::FranceConnectPlus => {
            franceconnect_claims(flavour, c, sub, scope)
        }
    }
}

/// FranceConnect: the claims of every requested scope ([`platform::scope_claims`]: unknown
/// scopes release nothing, `idp_id` and `idp_birthdate` only their own). v2 completes unknown
/// birth date parts with `01` (RNIPP) and passes the identity provider's value in
/// `idp_birthdate`; v1 and FranceConnect+ pass the identity provider's value in `birthdate`.
/// An eIDAS identity has neither e-mail nor birth country nor RNIPP version
/// (`back/apps/core-fcp/src/dto/eidas-identity.dto.ts`).
fn franceconnect_claims(
    flavour: Flavour,
    c: &Citizen,
    sub: String,
    scope: &str,
) -> Map<String, Value> {
    let released: std::collections::BTreeSet<&str> = scope
        .split(' ')
        .flat_map(|s| platform::scope_claims(flavour, s).iter().copied())
        .collect();
    let mut m = Map::new();
    m.insert("sub".into(), json!(sub));
    let rnipp = flavour == Flavour::FranceConnectPlus && !c.eidas;
    for claim in released {
        let value = match claim {
            "given_name" | "rnipp_given_name" => json!(c.given_name),
            "given_name_array" | "rnipp_given_name_array" => json!(c.given_name_array()),
            "family_name" | "rnipp_family_name" => json!(c.family_name),
            "preferred_username" if !c.preferred_username.is_empty() => {
                json!(c.preferred_username)
            }
            "birthdate" if flavour == Flavour::FranceConnectV2 => json!(c.birthdate),
            "birthdate" => json!(c.idp_birthdate),
            "rnipp_birthdate" => json!(c.birthdate),
            "idp_birthdate" => json!(c.idp_birthdate),
            "gender" | "rnipp_gender" => json!(c.gender),
            "birthplace" | "rnipp_birthplace" => json!(c.birthplace),
            "birthcountry" | "rnipp_birthcountry" if !c.birthcountry.is_empty() => {
                json!(c.birthcountry)
            }
            "email" if !c.eidas => json!(c.email),
            "idp_id" => json!(c.idp_id()),
            "amr" => json!(platform::amr(flavour, c.eidas)),
            _ => continue,
        };
        if claim.starts_with("rnipp_") && !rnipp {
            continue;
        }
        m.insert(claim.into(), value);
    }
    m
}

/// A plain OpenID provider: FranceConnect-like scope names, `given_name_array` with the given
/// name, `idp_birthdate` with the birth date, `idp_id` always.
fn generic_claims(c: &Citizen, sub: String, scope: &str) -> Map<String, Value> {
    let scopes: HashSet<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
    let has = |names: &[&str]| names.iter().any(|n| scopes.contains(n));
    let mut m = Map::new();
    m.insert("sub".into(), json!(sub));
    if has(&["given_name", "profile", "identite_pivot"]) {
        m.insert("given_name".into(), json!(c.given_name));
        m.insert("given_name_array".into(), json!(c.given_name_array()));
    }
    if has(&["family_name", "profile", "identite_pivot"]) {
        m.insert("family_name".into(), json!(c.family_name));
    }
    if has(&["preferred_username", "profile"]) && !c.preferred_username.is_empty() {
        m.insert("preferred_username".into(), json!(c.preferred_username));
    }
    if has(&["birthdate", "profile", "identite_pivot"]) {
        m.insert("birthdate".into(), json!(c.birthdate));
        m.insert("idp_birthdate".into(), json!(c.idp_birthdate));
    }
    if has(&["gender", "profile", "identite_pivot"]) {
        m.insert("gender".into(), json!(c.gender));
    }
    if has(&["birthplace", "birth", "identite_pivot"]) {
        m.insert("birthplace".into(), json!(c.birthplace));
    }
    if has(&["birthcountry", "birth", "identite_pivot"]) && !c.birthcountry.is_empty() {
        m.insert("birthcountry".into(), json!(c.birthcountry));
    }
    if has(&["email"]) {
        m.insert("email".into(), json!(c.email));
    }
    m.insert("idp_id".into(), json!(IDP_ID));
    m
}

/// MConnect's claims (seed 000 section 6). `preferred_username` is the user's unique key.
fn mconnect_claims(c: &Citizen, sub: String) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("sub".into(), json!(sub));
    m.insert("family_name".into(), json!(c.family_name));
    m.insert("given_name".into(), json!(c.given_name));
    m.insert("birth_name".into(), json!(c.family_name));
    m.insert(
        "name".into(),
        json!(format!("{} {}", c.given_name, c.family_name)),
    );
    m.insert("preferred_username".into(), json!(c.mconnect_key));
    m.insert(
        "birth_datetime".into(),
        json!(format!("{}T{}", c.birthdate, c.birth_time)),
    );
    m.insert("birth_place".into(), json!(c.birth_place_name));
    m.insert("gender".into(), json!(c.gender));
    m.insert(
        "Authority".into(),
        json!({"registration_authority": c.authority, "status": c.status}),
    );
    m
}

/// The claims as JSON text, with [`Faults::userinfo_raw_claim`]'s bytes written in verbatim.
fn payload(mut claims: Map<String, Value>, raw: Option<&(String, Vec<u8>)>) -> Vec<u8> {
    const MARKER: &str = "\u{e000}raw-claim\u{e000}";
    if let Some((name, _)) = raw {
        claims.insert(name.clone(), json!(MARKER));
    }
    let text = serde_json::to_vec(&Value::Object(claims)).unwrap_or_default();
    let Some((_, bytes)) = raw else { return text };
    let quoted = format!("\"{MARKER}\"");
    match text
        .windows(quoted.len())
        .position(|w| w == quoted.as_bytes())
    {
        Some(at) => [&text[..at], bytes, &text[at + quoted.len()..]].concat(),
        None => text,
    }
}

pub(super) fn bearer_error(error: Option<&str>, description: &str) -> Response {
    let www = match error {
        Some(e) => format!("Bearer realm=\"mock-provider\", error=\"{e}\""),
        None => "Bearer realm=\"mock-provider\"".to_owned(),
    };
    let mut r = oauth_error(
        StatusCode::UNAUTHORIZED,
        error.unwrap_or("invalid_request"),
        description,
    );
    if let Ok(v) = HeaderValue::try_from(www) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

pub(super) async fn userinfo(State(inner): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    let faults = {
        let mut st = lock(&inner.state);
        st.counters.userinfo += 1;
        st.faults.clone()
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_owned());
    let Some(token) = token else {
        return bearer_error(None, "Bearer access token required");
    };
    let grant = {
        let st = lock(&inner.state);
        st.tokens
            .get(&token)
            .filter(|g| g.expires > Instant::now())
            .map(|g| (g.citizen, g.scope.clone()))
    };
    let Some((citizen, scope)) = grant else {
        return bearer_error(Some("invalid_token"), "unknown or expired access token");
    };
    let client_id = &inner.config.client_id;
    let sub = if faults.userinfo_sub_mismatch {
        citizens::sub_for(client_id, "someone-else")
    } else {
        citizen.sub(client_id)
    };
    let mut claims = userinfo_claims(inner.config.flavour, citizen, sub, &scope);
    if faults.oversized_claims {
        let long = "Éloïse".repeat(40);
        claims.insert("given_name".into(), json!(long));
        claims.insert("given_name_array".into(), json!(vec![long; 16]));
    }
    match inner.config.flavour {
        Flavour::FranceConnectV1 | Flavour::MConnect | Flavour::Generic => {
            let body = payload(claims, faults.userinfo_raw_claim.as_ref());
            let mut r = Response::new(Body::from(body));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            no_store(&mut r);
            r
        }
        Flavour::FranceConnectV2 | Flavour::FranceConnectPlus => {
            let rp = if inner.config.flavour == Flavour::FranceConnectPlus {
                match rp_key(&inner).await {
                    Ok(k) => Some(k),
                    Err(e) => {
                        return oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", &e)
                    }
                }
            } else {
                None
            };
            let now = now_secs();
            claims.insert("iss".into(), json!(inner.issuer));
            claims.insert("aud".into(), json!(client_id));
            claims.insert("iat".into(), json!(now));
            claims.insert("exp".into(), json!(now + TOKEN_TTL_SECS));
            if faults.userinfo_aud_not_a_string {
                claims.insert("aud".into(), json!(42));
            }
            let claims = payload(claims, faults.userinfo_raw_claim.as_ref());
            let jwt = {
                let st = lock(&inner.state);
                let key = if faults.userinfo_signed_by_other_key {
                    &st.spare
                } else {
                    &st.key
                };
                encode_jws_payload("JWT", &claims, Signing::Key(key), false)
            };
            lock(&inner.state).remember(&jwt);
            let jwt = match &rp {
                Some(k) => match seal(&jwt, k, faults.userinfo_jwe) {
                    Ok((jwe, encrypted)) => {
                        if encrypted {
                            lock(&inner.state).encrypted += 1;
                        }
                        jwe
                    }
                    Err(e) => {
                        return oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", &e)
                    }
                },
                None => jwt,
            };
            lock(&inner.state).remember(&jwt);
            let mut r = Response::new(Body::from(jwt));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/jwt"),
            );
            no_store(&mut r);
            r
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Logout

pub(super) async fn end_session(
    State(inner): State<Arc<Inner>>,
    RawQuery(q): RawQuery,
) -> Response {
    lock(&inner.state).counters.end_session += 1;
    let params = match parse_params(q.as_deref().unwrap_or("").as_bytes()) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    lock(&inner.state).last_end_session = Some(params.clone());
    let get = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let Some(hint) = get("id_token_hint") else {
        return bad_request("invalid_request", "id_token_hint is required");
    };
    let digest: [u8; 32] = Sha256::digest(hint.as_bytes()).into();
    let sub = {
        let st = lock(&inner.state);
        if !st.issued_id_tokens.contains(&digest) && !st.previous_id_tokens.contains(&digest) {
            None
        } else {
            // The hint is one of ours: find its sub to end that citizen's access tokens.
            hint.split('.')
                .nth(1)
                .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .and_then(|v| v.get("sub").and_then(Value::as_str).map(str::to_owned))
                .or(Some(String::new()))
        }
    };
    let Some(sub) = sub else {
        return bad_request(
            "invalid_request",
            "id_token_hint was not issued by this provider",
        );
    };
    {
        let client_id = inner.config.client_id.clone();
        lock(&inner.state)
            .tokens
            .retain(|_, g| g.citizen.sub(&client_id) != sub);
    }
    match get("post_logout_redirect_uri").map(Url::parse) {
        Some(Ok(mut u)) if matches!(u.scheme(), "http" | "https") && u.fragment().is_none() => {
            let Some(state) = get("state") else {
                return bad_request("invalid_request", "state is required");
            };
            u.query_pairs_mut().append_pair("state", state);
            redirect(&u)
        }
        Some(_) => bad_request(
            "invalid_request",
            "post_logout_redirect_uri must be an absolute http(s) URL without fragment",
        ),
        None => html_page(
            StatusCode::OK,
            "<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\">\
             <title>Déconnexion</title></head><body><main><h1>Vous êtes déconnecté·e</h1>\
             <p>Vous avez été déconnecté·e du fournisseur d'identité fictif.</p></main></body></html>\n"
                .to_owned(),
        ),
    }
}
