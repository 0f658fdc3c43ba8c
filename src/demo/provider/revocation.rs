//! The revocation endpoint (RFC 7009) of the FranceConnect flavours with discovery:
//! `POST {prefix}/token/revocation` (`OidcProviderRoutes.REVOCATION`, enabled with
//! `revocation: { enabled: true }` and `revocationEndpointAuthMethods: ['client_secret_post',
//! 'private_key_jwt']` in `back/instances/core-fcp-{low,high}/src/config/oidc-provider.ts`).
//! FranceConnect+ asks services to revoke the access token they no longer need
//! (`fs/technique/technique-deconnexion.md` of `france-connect/Documentation-FranceConnect-Plus`).

use super::*;

pub(super) async fn revocation(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let down = {
        let mut st = lock(&inner.state);
        st.counters.revocation += 1;
        st.faults.revocation_down
    };
    if down {
        return oauth_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "revocation down (fault injected)",
        );
    }
    let form_ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_ct {
        return bad_request(
            "invalid_request",
            "Content-Type must be application/x-www-form-urlencoded",
        );
    }
    let form = match parse_params(&body) {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    lock(&inner.state).last_revocation = Some(form.clone());
    // The body DTO (exactly token, client_id, client_secret): Basic credentials leave the
    // secret out of the body and are refused here, as `token_type_hint` is.
    if let Err(why) = platform::check_revocation_form(&form) {
        return bad_request("invalid_request", &why);
    }
    let id = form
        .get("client_id")
        .map(String::as_str)
        .unwrap_or_default();
    let secret = form
        .get("client_secret")
        .map(String::as_str)
        .unwrap_or_default();
    if id != inner.config.client_id || !secret_matches(secret, &inner.config.client_secret) {
        return invalid_client(false, "client authentication failed");
    }
    // RFC 7009 2.2: an unknown or already invalid token is not an error.
    if let Some(token) = form.get("token") {
        lock(&inner.state).tokens.remove(token);
    }
    let mut r = Response::new(Body::empty());
    no_store(&mut r);
    r
}
