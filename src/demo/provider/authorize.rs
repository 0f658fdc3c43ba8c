//! The authorization endpoint: the request is checked (as FranceConnect does for its
//! flavours, [`platform`]; as a plain OpenID provider otherwise), kept as an interaction, and
//! the browser sent to the interaction's page ([`interaction`]).

use super::platform::{self, Refused};
use super::*;

pub(super) struct AuthorizeRequest {
    pub(super) client_id: String,
    pub(super) redirect_uri: Url,
    pub(super) state: String,
    pub(super) nonce: String,
    pub(super) acr: String,
    pub(super) scope: String,
    pub(super) code_challenge: Option<String>,
    /// `amr` asked for through `claims` (FranceConnect: by an authorised service); other
    /// flavours always send it.
    pub(super) amr: bool,
}

pub(super) const MAX_PARAM_LEN: usize = 2048;

/// How the mock answers a request it refuses.
pub(super) enum AuthorizeRefusal {
    /// 400 with a JSON OAuth error (plain OpenID providers, and FranceConnect's token side).
    Json(super::responses::Refusal),
    /// FranceConnect's own error page: the citizen does not go back to the service.
    Page { code: &'static str, why: String },
    /// Back to the service with an OAuth error.
    Redirect {
        redirect_uri: Box<Url>,
        state: Option<String>,
        /// RFC 9207's `iss`, for the flavours that send it.
        iss: Option<String>,
        error: &'static str,
        description: String,
    },
}

impl IntoResponse for AuthorizeRefusal {
    fn into_response(self) -> Response {
        match self {
            AuthorizeRefusal::Json(r) => r.into_response(),
            AuthorizeRefusal::Page { code, why } => fc_error_page(code, &why),
            AuthorizeRefusal::Redirect {
                mut redirect_uri,
                state,
                iss,
                error,
                description,
            } => {
                {
                    let mut q = redirect_uri.query_pairs_mut();
                    q.append_pair("error", error)
                        .append_pair("error_description", &description);
                    if let Some(s) = &state {
                        q.append_pair("state", s);
                    }
                    if let Some(iss) = &iss {
                        q.append_pair("iss", iss);
                    }
                }
                redirect(&redirect_uri)
            }
        }
    }
}

fn json_refusal(error: &'static str, description: impl Into<String>) -> AuthorizeRefusal {
    AuthorizeRefusal::Json(refuse(error, description))
}

/// An absolute http(s) URL without fragment.
fn redirect_uri(raw: Option<&str>) -> Option<Url> {
    raw.and_then(|r| Url::parse(r).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.fragment().is_none())
}

pub(super) fn validate_authorize(
    inner: &Inner,
    p: &BTreeMap<String, String>,
) -> Result<AuthorizeRequest, AuthorizeRefusal> {
    if inner.config.flavour.is_franceconnect() {
        return validate_franceconnect(inner, p);
    }
    let get = |k: &str| p.get(k).map(String::as_str).filter(|v| !v.is_empty());
    if let Some((k, _)) = p.iter().find(|(_, v)| v.len() > MAX_PARAM_LEN) {
        return Err(json_refusal(
            "invalid_request",
            format!("parameter {k} too long"),
        ));
    }
    match get("response_type") {
        Some("code") => {}
        Some(_) => {
            return Err(json_refusal(
                "unsupported_response_type",
                "only response_type=code is supported",
            ))
        }
        None => return Err(json_refusal("invalid_request", "response_type is required")),
    }
    let client_id = match get("client_id") {
        Some(c) if c == inner.config.client_id => c.to_owned(),
        Some(_) => return Err(json_refusal("invalid_client", "unknown client_id")),
        None => return Err(json_refusal("invalid_request", "client_id is required")),
    };
    let Some(redirect_uri) = redirect_uri(get("redirect_uri")) else {
        return Err(json_refusal(
            "invalid_request",
            "redirect_uri must be an absolute http(s) URL without fragment",
        ));
    };
    let scope = get("scope").unwrap_or_default();
    if !scope.split(' ').any(|s| s == "openid") {
        return Err(json_refusal("invalid_scope", "scope must contain openid"));
    }
    let Some(state) = get("state") else {
        return Err(json_refusal("invalid_request", "state is required"));
    };
    let Some(nonce) = get("nonce") else {
        return Err(json_refusal("invalid_request", "nonce is required"));
    };
    let acr = get("acr_values")
        .and_then(|a| a.split(' ').find(|s| !s.is_empty()))
        .unwrap_or(if inner.config.flavour == Flavour::MConnect {
            "substantial"
        } else {
            "eidas1"
        });
    let code_challenge = match (get("code_challenge"), get("code_challenge_method")) {
        (None, None) => None,
        (Some(c), Some("S256")) => {
            let ok = c.len() == 43
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                return Err(json_refusal(
                    "invalid_request",
                    "code_challenge must be 43 base64url characters",
                ));
            }
            Some(c.to_owned())
        }
        (Some(_), _) => {
            return Err(json_refusal(
                "invalid_request",
                "only code_challenge_method=S256 is supported",
            ))
        }
        (None, Some(_)) => {
            return Err(json_refusal(
                "invalid_request",
                "code_challenge_method without code_challenge",
            ))
        }
    };
    Ok(AuthorizeRequest {
        client_id,
        redirect_uri,
        state: state.to_owned(),
        nonce: nonce.to_owned(),
        acr: acr.to_owned(),
        scope: scope.to_owned(),
        code_challenge,
        amr: true,
    })
}

/// FranceConnect's checks, in its order: the parameter DTO (an error page), the client (an
/// error page), then node-oidc-provider's and FranceConnect's middlewares (back to the
/// service with an error, except `amr` asked without authorisation: a page). Each rule is in
/// [`platform`] with the source it mirrors.
fn validate_franceconnect(
    inner: &Inner,
    p: &BTreeMap<String, String>,
) -> Result<AuthorizeRequest, AuthorizeRefusal> {
    let flavour = inner.config.flavour;
    let as_page = |r: Refused| match r {
        Refused::Page { code, why } => AuthorizeRefusal::Page { code, why },
        Refused::Redirect { error, description } => AuthorizeRefusal::Page {
            code: platform::Y_AUTHORIZE_PARAMS,
            why: format!("{error}: {description}"),
        },
    };
    if let Some((k, _)) = p.iter().find(|(_, v)| v.len() > MAX_PARAM_LEN) {
        return Err(AuthorizeRefusal::Page {
            code: platform::Y_AUTHORIZE_PARAMS,
            why: format!("parameter {k} too long"),
        });
    }
    platform::check_params(flavour, p).map_err(as_page)?;
    // The DTO's URL check (`IsUrlRequiredTldFromConfig`): a malformed redirect_uri is a page.
    let Some(redirect_uri) = redirect_uri(p.get("redirect_uri").map(String::as_str)) else {
        return Err(AuthorizeRefusal::Page {
            code: platform::Y_AUTHORIZE_PARAMS,
            why: "redirect_uri is not a URL".into(),
        });
    };
    let get = |k: &str| p.get(k).map(String::as_str).unwrap_or_default();
    if get("client_id") != inner.config.client_id {
        return Err(AuthorizeRefusal::Page {
            code: platform::Y_UNKNOWN_CLIENT,
            why: "client is invalid, client not found".into(),
        });
    }
    let state = p.get("state").cloned();
    let iss = inner
        .config
        .flavour
        .sends_iss()
        .then(|| inner.issuer.clone());
    let back = |r: Refused| match r {
        Refused::Redirect { error, description } => AuthorizeRefusal::Redirect {
            redirect_uri: Box::new(redirect_uri.clone()),
            state: state.clone(),
            iss: iss.clone(),
            error,
            description,
        },
        Refused::Page { code, why } => AuthorizeRefusal::Page { code, why },
    };
    // node-oidc-provider: response_type empty (missing) or other than `code` (FranceConnect
    // serves `responseTypes: ['code']`), "Erreur <error> avec response_type" in
    // `quality/fcp/cypress/integration/api/api-authorize.feature`.
    match get("response_type") {
        "code" => {}
        "" => {
            return Err(back(Refused::Redirect {
                error: "invalid_request",
                description: "missing required parameter 'response_type'".into(),
            }))
        }
        _ => {
            return Err(back(Refused::Redirect {
                error: "unsupported_response_type",
                description: "unsupported response_type requested".into(),
            }))
        }
    }
    platform::check_scopes(flavour, get("scope"), &inner.authorised_scopes()).map_err(back)?;
    let amr = platform::claims_ask_amr(p.get("claims").map(String::as_str)).map_err(back)?;
    if amr && !inner.config.authorized_claims.iter().any(|c| c == "amr") {
        return Err(AuthorizeRefusal::Page {
            code: platform::Y_CLAIM_AMR,
            why: "the amr claim is not authorised for this service".into(),
        });
    }
    // An idp_hint must name an identity provider the service may be sent to directly
    // (`redirectToHintedIdpMiddleware` in
    // `back/libs/core/src/services/core-oidc-provider-middleware.service.ts`): the mock has one.
    if p.get("idp_hint").is_some_and(|h| h != IDP_ID) {
        return Err(back(Refused::Redirect {
            error: "invalid_idp_hint",
            description: "An idp_hint was provided but is not allowed".into(),
        }));
    }
    let acr = match (flavour, p.get("acr_values")) {
        (Flavour::FranceConnectV1, None) => "eidas1",
        (_, requested) => {
            platform::pick_acr(flavour, requested.map(String::as_str).unwrap_or_default())
                .map_err(back)?
        }
    };
    Ok(AuthorizeRequest {
        client_id: get("client_id").to_owned(),
        redirect_uri,
        state: get("state").to_owned(),
        nonce: get("nonce").to_owned(),
        acr: acr.to_owned(),
        scope: get("scope").to_owned(),
        code_challenge: None,
        amr,
    })
}

pub(super) async fn authorize(State(inner): State<Arc<Inner>>, RawQuery(q): RawQuery) -> Response {
    lock(&inner.state).counters.authorize += 1;
    let params = match parse_params(q.as_deref().unwrap_or("").as_bytes()) {
        Ok(p) => p,
        // FranceConnect: a repeated parameter is an array, which its DTO refuses.
        Err(_) if inner.config.flavour.is_franceconnect() => {
            return fc_error_page(platform::Y_AUTHORIZE_PARAMS, "malformed query")
        }
        Err(r) => return r.into_response(),
    };
    let error_fault = {
        let mut st = lock(&inner.state);
        st.last_authorize = Some(params.clone());
        (
            st.faults.authorize_error.clone(),
            st.faults.authorize_error_description.clone(),
        )
    };
    let req = match validate_authorize(&inner, &params) {
        Ok(r) => r,
        Err(r) => return r.into_response(),
    };
    if let (Some(error), description) = error_fault {
        let mut u = req.redirect_uri.clone();
        u.query_pairs_mut()
            .append_pair("error", &error)
            .append_pair(
                "error_description",
                description
                    .as_deref()
                    .unwrap_or("Erreur simulée par le fournisseur fictif"),
            )
            .append_pair("state", &req.state);
        append_iss(&inner, &mut u);
        return redirect(&u);
    }
    // Plain OpenID providers may use `login_hint` (OpenID Connect Core 3.1.2.1): the mock
    // takes it as the test citizen. FranceConnect refuses it (above).
    if let Some(c) = params
        .get("login_hint")
        .and_then(|h| citizens::find_for(h, inner.config.flavour))
    {
        return issue_code(&inner, req, c);
    }
    start_interaction(&inner, req)
}

/// RFC 9207: the issuer in the authorization response, for the flavours that send it.
pub(super) fn append_iss(inner: &Inner, u: &mut Url) {
    if inner.config.flavour.sends_iss() {
        u.query_pairs_mut().append_pair("iss", &inner.issuer);
    }
}
