//! Discovery document and JWKS.

use super::*;

pub(super) const SCOPES: &[&str] = &[
    "openid",
    "given_name",
    "given_name_array",
    "family_name",
    "preferred_username",
    "birthdate",
    "idp_birthdate",
    "gender",
    "birthplace",
    "birthcountry",
    "email",
    "profile",
    "birth",
    "identite_pivot",
];

pub(super) const CLAIMS: &[&str] = &[
    "sub",
    "given_name",
    "given_name_array",
    "family_name",
    "preferred_username",
    "birthdate",
    "idp_birthdate",
    "gender",
    "birthplace",
    "birthcountry",
    "email",
    "idp_id",
    "amr",
    "acr",
    "auth_time",
];

pub(super) fn discovery_document(inner: &Inner) -> Value {
    let iss = &inner.issuer;
    let mut d = json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/authorize"),
        "token_endpoint": format!("{iss}/token"),
        "userinfo_endpoint": format!("{iss}/userinfo"),
        "end_session_endpoint": format!("{iss}/session/end"),
        "jwks_uri": format!("{iss}/jwks"),
        "scopes_supported": SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "claims_supported": CLAIMS,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
    });
    if let Value::Object(m) = &mut d {
        match inner.config.flavour {
            Flavour::FranceConnectV2 => {
                m.insert(
                    "id_token_signing_alg_values_supported".into(),
                    json!(["ES256", "RS256"]),
                );
                m.insert(
                    "userinfo_signing_alg_values_supported".into(),
                    json!(["ES256", "RS256"]),
                );
                m.insert(
                    "token_endpoint_auth_methods_supported".into(),
                    json!(["client_secret_post"]),
                );
                m.insert("acr_values_supported".into(), json!(["eidas1"]));
            }
            Flavour::Generic => {
                m.insert(
                    "id_token_signing_alg_values_supported".into(),
                    json!(["RS256"]),
                );
                m.insert(
                    "token_endpoint_auth_methods_supported".into(),
                    json!(["client_secret_basic", "client_secret_post"]),
                );
                m.insert(
                    "acr_values_supported".into(),
                    json!(["eidas1", "eidas2", "eidas3"]),
                );
                m.insert("code_challenge_methods_supported".into(), json!(["S256"]));
            }
        }
    }
    d
}

pub(super) async fn discovery(State(inner): State<Arc<Inner>>) -> Response {
    lock(&inner.state).counters.discovery += 1;
    json_response(&discovery_document(&inner))
}

pub(super) async fn jwks(State(inner): State<Arc<Inner>>) -> Response {
    let (down, set) = {
        let mut st = lock(&inner.state);
        st.counters.jwks += 1;
        (
            st.faults.jwks_down,
            json!({"keys": [st.key.public_jwk.clone()]}),
        )
    };
    if down {
        return oauth_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "JWKS down (fault injected)",
        );
    }
    json_response(&set)
}
