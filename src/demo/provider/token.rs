//! The token endpoint: client authentication, code redemption, PKCE, id_token issuance.

use super::*;

pub(super) enum ClientAuth {
    Basic { id: String, secret: String },
    Post { id: String, secret: String },
    None,
}

pub(super) fn form_decode(s: &str) -> Option<String> {
    let s = s.replace('+', " ");
    percent_encoding::percent_decode_str(&s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

pub(super) fn basic_credentials(headers: &HeaderMap) -> Option<Result<(String, String), ()>> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let parsed = STANDARD
        .decode(rest.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            let (id, secret) = s.split_once(':')?;
            Some((form_decode(id)?, form_decode(secret)?))
        });
    Some(parsed.ok_or(()))
}

pub(super) fn secret_matches(given: &str, expected: &str) -> bool {
    given.len() == expected.len() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

pub(super) fn invalid_client(basic: bool, description: &str) -> Response {
    let mut r = oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", description);
    if basic {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"mock-provider\""),
        );
    }
    r
}

pub(super) fn pkce_ok(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    well_formed && URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == challenge
}

pub(super) async fn token(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let faults = {
        let mut st = lock(&inner.state);
        st.counters.token += 1;
        st.faults.clone()
    };
    if faults.token_delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.token_delay_ms)).await;
    }
    if faults.token_returns_html {
        let mut r = Response::new(Body::from("<html>maintenance</html>"));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        return r;
    }
    if let Some(error) = &faults.token_error {
        return bad_request(
            error,
            "<script>alert('x')</script>\r\nSet-Cookie: pwned=1 \u{0000}\u{202e}",
        );
    }
    let form_ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
        .unwrap_or(false);
    let basic = basic_credentials(&headers);
    let form = if form_ct {
        parse_params(&body)
    } else {
        Err(refuse(
            "invalid_request",
            "Content-Type must be application/x-www-form-urlencoded",
        ))
    };
    {
        let mut record = form.as_ref().cloned().unwrap_or_default();
        let auth = match (&basic, record.contains_key("client_secret")) {
            (Some(_), _) => "basic",
            (None, true) => "post",
            (None, false) => "none",
        };
        record.insert("_auth".into(), auth.into());
        if let Some(Ok((id, _))) = &basic {
            record.insert("_basic_client_id".into(), id.clone());
        }
        lock(&inner.state).last_token = Some(record);
    }
    let form = match form {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };

    // Client authentication.
    let auth = match (basic, form.get("client_secret")) {
        (Some(_), Some(_)) => {
            return bad_request(
                "invalid_request",
                "more than one client authentication method",
            )
        }
        (Some(Err(())), None) => return invalid_client(true, "malformed Basic credentials"),
        (Some(Ok((id, secret))), None) => ClientAuth::Basic { id, secret },
        (None, Some(secret)) => match form.get("client_id") {
            Some(id) => ClientAuth::Post {
                id: id.clone(),
                secret: secret.clone(),
            },
            None => return invalid_client(false, "client_id is required"),
        },
        (None, None) => ClientAuth::None,
    };
    // FranceConnect: `tokenEndpointAuthMethods: ['client_secret_post', 'private_key_jwt']` in
    // `back/instances/core-fcp-{low,high}/src/config/oidc-provider.ts`; Basic is refused.
    // guichet does not implement private_key_jwt, so neither does the mock.
    if form.contains_key("client_assertion") {
        return invalid_client(false, "private_key_jwt is not implemented by this mock");
    }
    let supported: &[&str] = if inner.config.flavour.is_franceconnect() {
        &["client_secret_post"]
    } else {
        &["client_secret_basic", "client_secret_post"]
    };
    let (id, secret, is_basic) = match auth {
        ClientAuth::None => return invalid_client(false, "client authentication required"),
        ClientAuth::Basic { id, secret } => (id, secret, true),
        ClientAuth::Post { id, secret } => (id, secret, false),
    };
    let method = if is_basic {
        "client_secret_basic"
    } else {
        "client_secret_post"
    };
    if !supported.contains(&method) {
        return invalid_client(
            is_basic,
            &format!("{method} is not allowed for this client"),
        );
    }
    if is_basic {
        if let Some(form_id) = form.get("client_id") {
            if *form_id != id {
                return bad_request("invalid_request", "client_id does not match credentials");
            }
        }
    }
    if id != inner.config.client_id || !secret_matches(&secret, &inner.config.client_secret) {
        return invalid_client(is_basic, "client authentication failed");
    }

    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {}
        Some(_) => {
            return bad_request(
                "unsupported_grant_type",
                "only authorization_code is supported",
            )
        }
        None => return bad_request("invalid_request", "grant_type is required"),
    }
    let Some(code) = form.get("code").filter(|c| !c.is_empty()) else {
        return bad_request("invalid_request", "code is required");
    };
    let grant = lock(&inner.state).codes.remove(code);
    let Some(grant) = grant else {
        return bad_request("invalid_grant", "unknown or already used code");
    };
    if grant.issued.elapsed() >= CODE_TTL {
        return bad_request("invalid_grant", "code expired");
    }
    if grant.client_id != id {
        return bad_request("invalid_grant", "code was issued to another client");
    }
    if form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return bad_request(
            "invalid_grant",
            "redirect_uri does not match the authorization request",
        );
    }
    match (&grant.code_challenge, form.get("code_verifier")) {
        (Some(challenge), Some(verifier)) if pkce_ok(verifier, challenge) => {}
        (Some(_), Some(_)) => return bad_request("invalid_grant", "PKCE verification failed"),
        (Some(_), None) => return bad_request("invalid_grant", "code_verifier is required"),
        // node-oidc-provider (FranceConnect's too) refuses a verifier nobody asked for.
        (None, Some(_)) => {
            return bad_request(
                "invalid_grant",
                "code_verifier given but the authorization request had no code_challenge",
            )
        }
        (None, None) => {}
    }

    let now = now_secs();
    let sub = grant.citizen.sub(&grant.client_id);
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(inner.issuer));
    claims.insert("sub".into(), json!(sub));
    claims.insert("aud".into(), json!(grant.client_id));
    claims.insert("exp".into(), json!(now + TOKEN_TTL_SECS));
    claims.insert("iat".into(), json!(now));
    claims.insert("auth_time".into(), json!(now));
    claims.insert("nonce".into(), json!(grant.nonce));
    claims.insert(
        "acr".into(),
        json!(faults.acr.clone().unwrap_or_else(|| grant.acr.clone())),
    );
    match inner.config.flavour {
        // FranceConnect v2 and FranceConnect+ put `amr` in the id_token only when the service
        // asked for it through `claims` (and was authorised: [`platform::claims_ask_amr`]);
        // `idp_id` comes only in userinfo, with its scope ([`platform::scope_claims`]).
        Flavour::FranceConnectV2 | Flavour::FranceConnectPlus => {
            if grant.amr {
                let amr = platform::amr(inner.config.flavour, grant.citizen.eidas);
                claims.insert("amr".into(), json!(amr));
            }
        }
        // v1 names the identity provider in `idp`.
        Flavour::FranceConnectV1 => {
            claims.insert("amr".into(), json!(["pwd"]));
            claims.insert("idp".into(), json!(IDP_ID));
        }
        Flavour::Generic => {
            claims.insert("amr".into(), json!(["pwd"]));
            claims.insert("idp_id".into(), json!(IDP_ID));
        }
        Flavour::MConnect => {
            claims.insert("amr".into(), json!(["pwd"]));
        }
    }
    if faults.wrong_issuer {
        claims.insert("iss".into(), json!(format!("{}/other", inner.issuer)));
    }
    if faults.issuer_as_array {
        claims.insert("iss".into(), json!([inner.issuer, "https://evil.example"]));
    }
    if faults.extra_audience_without_azp {
        claims.insert("aud".into(), json!([grant.client_id, OTHER_AUDIENCE]));
        claims.remove("azp");
    }
    if faults.wrong_audience {
        claims.insert("aud".into(), json!(OTHER_AUDIENCE));
    }
    if faults.expired {
        claims.insert("exp".into(), json!(now.saturating_sub(300)));
        claims.insert("iat".into(), json!(now.saturating_sub(360)));
        claims.insert("auth_time".into(), json!(now.saturating_sub(360)));
    }
    if faults.iat_in_future {
        claims.insert("iat".into(), json!(now + 3600));
        claims.insert("exp".into(), json!(now + 3600 + TOKEN_TTL_SECS));
    }
    if faults.wrong_nonce {
        claims.insert("nonce".into(), json!(random_hex(32)));
    }
    if faults.missing_nonce {
        claims.remove("nonce");
    }
    if faults.id_token_padding > 0 {
        claims.insert("pad".into(), json!("a".repeat(faults.id_token_padding)));
    }
    let claims = Value::Object(claims);
    // FranceConnect+ encrypts to the key the relying party publishes.
    let rp = if inner.config.flavour == Flavour::FranceConnectPlus {
        match rp_key(&inner).await {
            Ok(k) => Some(k),
            Err(e) => return oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", &e),
        }
    } else {
        None
    };

    let access_token = random_hex(32);
    let secret = inner.config.client_secret.as_bytes();
    let id_token = {
        let mut st = lock(&inner.state);
        let signing = if faults.alg_none {
            Signing::None
        } else if faults.hs256_with_public_key {
            Signing::HsConfusion(&st.key)
        } else if inner.config.flavour.is_hmac() {
            Signing::Secret(secret)
        } else if faults.unknown_kid {
            Signing::Key(&st.spare)
        } else {
            Signing::Key(&st.key)
        };
        let t = encode_jws("JWT", &claims, signing, faults.bad_signature);
        st.remember(&t);
        st.remember(&access_token);
        if st.issued_id_tokens.len() >= 10_000 {
            st.previous_id_tokens = std::mem::take(&mut st.issued_id_tokens);
        }
        st.issued_id_tokens
            .insert(Sha256::digest(t.as_bytes()).into());
        st.tokens.retain(|_, g| g.expires > Instant::now());
        st.tokens.insert(
            access_token.clone(),
            AccessGrant {
                citizen: grant.citizen,
                scope: grant.scope.clone(),
                expires: Instant::now() + Duration::from_secs(TOKEN_TTL_SECS),
            },
        );
        t
    };
    let id_token = match &rp {
        Some(k) => match seal(&id_token, k, faults.id_token_jwe) {
            Ok((jwe, encrypted)) => {
                let mut st = lock(&inner.state);
                if encrypted {
                    st.encrypted += 1;
                }
                st.remember(&jwe);
                jwe
            }
            Err(e) => return oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", &e),
        },
        None => id_token,
    };
    let mut r = json_response(&json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": TOKEN_TTL_SECS,
        "id_token": id_token,
        "scope": grant.scope,
    }));
    no_store(&mut r);
    r
}
