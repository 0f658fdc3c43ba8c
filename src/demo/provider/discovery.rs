//! Discovery document and JWKS.

use super::*;

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

/// FranceConnect+: no `idp_id`, `idp_birthdate` or `given_name_array`; `rnipp_*` instead.
const CLAIMS_PLUS: &[&str] = &[
    "sub",
    "given_name",
    "family_name",
    "preferred_username",
    "birthdate",
    "gender",
    "birthplace",
    "birthcountry",
    "email",
    "rnipp_given_name",
    "rnipp_given_name_array",
    "rnipp_family_name",
    "rnipp_birthdate",
    "rnipp_gender",
    "rnipp_birthplace",
    "rnipp_birthcountry",
    "amr",
    "acr",
];

/// MConnect (seed 000 section 6).
const CLAIMS_MCONNECT: &[&str] = &[
    "sub",
    "family_name",
    "given_name",
    "birth_name",
    "name",
    "preferred_username",
    "birth_datetime",
    "birth_place",
    "gender",
    "Authority",
    "acr",
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
        "scopes_supported": ["openid", "profile", "email"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "claims_supported": CLAIMS,
        "claims_parameter_supported": inner.config.flavour.is_franceconnect(),
        "request_parameter_supported": false,
    });
    if let Value::Object(m) = &mut d {
        let mut set = |k: &str, v: Value| {
            m.insert(k.into(), v);
        };
        if inner.config.flavour.sends_iss() {
            set(
                "authorization_response_iss_parameter_supported",
                json!(true),
            );
        }
        match inner.config.flavour {
            Flavour::FranceConnectV1 | Flavour::FranceConnectV2 | Flavour::FranceConnectPlus => {
                // What FranceConnect's node-oidc-provider publishes from
                // `back/instances/core-fcp-{low,high}/src/config/oidc-provider.ts` and the PKCE
                // setting of `back/libs/oidc-provider/src/services/oidc-provider-config.service.ts`
                // (S256 is listed, yet `code_challenge` is refused at the authorization endpoint).
                let plus = inner.config.flavour == Flavour::FranceConnectPlus;
                set(
                    "token_endpoint_auth_methods_supported",
                    json!(["client_secret_post", "private_key_jwt"]),
                );
                set(
                    "revocation_endpoint_auth_methods_supported",
                    json!(["client_secret_post", "private_key_jwt"]),
                );
                set(
                    "revocation_endpoint",
                    json!(format!("{iss}/token/revocation")),
                );
                set("code_challenge_methods_supported", json!(["S256"]));
                set(
                    "scopes_supported",
                    json!(platform::all_scopes(inner.config.flavour)),
                );
                let (acr, _) = platform::acr_values(inner.config.flavour);
                set("acr_values_supported", json!(acr));
                if plus {
                    set("id_token_signing_alg_values_supported", json!(["ES256"]));
                    set("userinfo_signing_alg_values_supported", json!(["ES256"]));
                    let algs = json!(["RSA-OAEP", "RSA-OAEP-256", "ECDH-ES"]);
                    set("id_token_encryption_alg_values_supported", algs.clone());
                    set("userinfo_encryption_alg_values_supported", algs);
                    set(
                        "id_token_encryption_enc_values_supported",
                        json!(["A256GCM"]),
                    );
                    set(
                        "userinfo_encryption_enc_values_supported",
                        json!(["A256GCM"]),
                    );
                    set("claims_supported", json!(CLAIMS_PLUS));
                } else {
                    set(
                        "id_token_signing_alg_values_supported",
                        json!(["ES256", "RS256"]),
                    );
                    set(
                        "userinfo_signing_alg_values_supported",
                        json!(["ES256", "RS256"]),
                    );
                }
            }
            Flavour::MConnect => {
                set("id_token_signing_alg_values_supported", json!(["RS256"]));
                set(
                    "token_endpoint_auth_methods_supported",
                    json!(["client_secret_basic", "client_secret_post"]),
                );
                set("acr_values_supported", json!(["substantial", "high"]));
                set("code_challenge_methods_supported", json!(["S256"]));
                set("scopes_supported", json!(["openid", "profile"]));
                set("claims_supported", json!(CLAIMS_MCONNECT));
            }
            Flavour::Generic => {
                set("id_token_signing_alg_values_supported", json!(["RS256"]));
                set(
                    "token_endpoint_auth_methods_supported",
                    json!(["client_secret_basic", "client_secret_post"]),
                );
                set(
                    "acr_values_supported",
                    json!(["eidas1", "eidas2", "eidas3"]),
                );
                set("code_challenge_methods_supported", json!(["S256"]));
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
