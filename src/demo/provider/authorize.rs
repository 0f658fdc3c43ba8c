//! The authorization endpoint, the citizen chooser page and code issuance.

use super::*;

pub(super) struct AuthorizeRequest {
    client_id: String,
    redirect_uri: Url,
    state: String,
    nonce: String,
    acr: String,
    scope: String,
    code_challenge: Option<String>,
}

pub(super) const MAX_PARAM_LEN: usize = 2048;

pub(super) fn validate_authorize(
    inner: &Inner,
    p: &BTreeMap<String, String>,
) -> Result<AuthorizeRequest, Refusal> {
    let get = |k: &str| p.get(k).map(String::as_str).filter(|v| !v.is_empty());
    if let Some((k, _)) = p.iter().find(|(_, v)| v.len() > MAX_PARAM_LEN) {
        return Err(refuse("invalid_request", format!("parameter {k} too long")));
    }
    match get("response_type") {
        Some("code") => {}
        Some(_) => {
            return Err(refuse(
                "unsupported_response_type",
                "only response_type=code is supported",
            ))
        }
        None => return Err(refuse("invalid_request", "response_type is required")),
    }
    let client_id = match get("client_id") {
        Some(c) if c == inner.config.client_id => c.to_owned(),
        Some(_) => return Err(refuse("invalid_client", "unknown client_id")),
        None => return Err(refuse("invalid_request", "client_id is required")),
    };
    let redirect_uri = match get("redirect_uri").map(Url::parse) {
        Some(Ok(u)) if matches!(u.scheme(), "http" | "https") && u.fragment().is_none() => u,
        Some(_) => {
            return Err(refuse(
                "invalid_request",
                "redirect_uri must be an absolute http(s) URL without fragment",
            ))
        }
        None => return Err(refuse("invalid_request", "redirect_uri is required")),
    };
    let scope = get("scope").unwrap_or_default();
    if !scope.split(' ').any(|s| s == "openid") {
        return Err(refuse("invalid_scope", "scope must contain openid"));
    }
    let Some(state) = get("state") else {
        return Err(refuse("invalid_request", "state is required"));
    };
    let Some(nonce) = get("nonce") else {
        return Err(refuse("invalid_request", "nonce is required"));
    };
    let requested: Vec<&str> = get("acr_values")
        .map(|a| a.split(' ').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let acr = match (inner.config.flavour, requested.first()) {
        (Flavour::FranceConnectV2, None) | (Flavour::FranceConnectPlus, None) => {
            return Err(refuse("invalid_request", "acr_values is required"))
        }
        // FranceConnect+ knows eidas2 and eidas3 only (eidas1 is an error there).
        (Flavour::FranceConnectPlus, Some(_)) => {
            match requested.iter().find(|a| ["eidas2", "eidas3"].contains(a)) {
                Some(a) => a,
                None => {
                    return Err(refuse(
                        "invalid_request",
                        "acr_values must ask for eidas2 or eidas3",
                    ))
                }
            }
        }
        (_, Some(a)) => a,
        (Flavour::MConnect, None) => "substantial",
        (_, None) => "eidas1",
    };
    let code_challenge = match (get("code_challenge"), get("code_challenge_method")) {
        (None, None) => None,
        (Some(c), Some("S256")) => {
            let ok = c.len() == 43
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                return Err(refuse(
                    "invalid_request",
                    "code_challenge must be 43 base64url characters",
                ));
            }
            Some(c.to_owned())
        }
        (Some(_), _) => {
            return Err(refuse(
                "invalid_request",
                "only code_challenge_method=S256 is supported",
            ))
        }
        (None, Some(_)) => {
            return Err(refuse(
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
    })
}

pub(super) async fn authorize(State(inner): State<Arc<Inner>>, RawQuery(q): RawQuery) -> Response {
    lock(&inner.state).counters.authorize += 1;
    let params = match parse_params(q.as_deref().unwrap_or("").as_bytes()) {
        Ok(p) => p,
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
    if let Some(c) = params
        .get("login_hint")
        .and_then(|h| citizens::find_for(h, inner.config.flavour))
    {
        return issue_code(&inner, req, c);
    }
    chooser_page(&inner, &params)
}

/// The citizen gives up on the provider's page: back to the relying party with
/// `access_denied`, as FranceConnect does ("user authentication aborted").
pub(super) async fn cancel(State(inner): State<Arc<Inner>>, RawQuery(q): RawQuery) -> Response {
    let params = match parse_params(q.as_deref().unwrap_or("").as_bytes()) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let req = match validate_authorize(&inner, &params) {
        Ok(r) => r,
        Err(r) => return r.into_response(),
    };
    let mut u = req.redirect_uri.clone();
    u.query_pairs_mut()
        .append_pair("error", "access_denied")
        .append_pair("error_description", "User auth aborted")
        .append_pair("state", &req.state);
    append_iss(&inner, &mut u);
    redirect(&u)
}

pub(super) async fn choose(State(inner): State<Arc<Inner>>, RawQuery(q): RawQuery) -> Response {
    let mut params = match parse_params(q.as_deref().unwrap_or("").as_bytes()) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let flavour = inner.config.flavour;
    let citizen = match params
        .remove("citizen")
        .as_deref()
        .map(|c| citizens::find_for(c, flavour))
    {
        Some(Some(c)) => c,
        Some(None) => return bad_request("invalid_request", "unknown citizen"),
        None => return bad_request("invalid_request", "citizen is required"),
    };
    match validate_authorize(&inner, &params) {
        Ok(req) => issue_code(&inner, req, citizen),
        Err(r) => r.into_response(),
    }
}

pub(super) fn issue_code(
    inner: &Inner,
    req: AuthorizeRequest,
    citizen: &'static Citizen,
) -> Response {
    let code = random_hex(32);
    {
        let mut st = lock(&inner.state);
        st.remember(&code);
        st.codes.retain(|_, g| g.issued.elapsed() < CODE_TTL);
        st.codes.insert(
            code.clone(),
            CodeGrant {
                client_id: req.client_id,
                redirect_uri: req.redirect_uri.as_str().to_owned(),
                nonce: req.nonce,
                acr: req.acr,
                scope: req.scope,
                citizen,
                code_challenge: req.code_challenge,
                issued: Instant::now(),
            },
        );
    }
    let mut u = req.redirect_uri;
    u.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &req.state);
    append_iss(inner, &mut u);
    redirect(&u)
}

/// RFC 9207: the issuer in the authorization response, for the flavours that send it.
fn append_iss(inner: &Inner, u: &mut Url) {
    if inner.config.flavour.sends_iss() {
        u.query_pairs_mut().append_pair("iss", &inner.issuer);
    }
}

pub(super) fn chooser_page(inner: &Inner, params: &BTreeMap<String, String>) -> Response {
    let mut back = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params.iter().filter(|(k, _)| *k != "login_hint") {
        back.append_pair(k, v);
    }
    let cancel = crate::pages::escape(&format!(
        "{}/authorize/cancel?{}",
        inner.prefix,
        back.finish()
    ));
    let mut items = String::new();
    for c in citizens::CITIZENS
        .iter()
        .filter(|c| c.exists_with(inner.config.flavour))
    {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("citizen", c.id);
        for (k, v) in params.iter().filter(|(k, _)| *k != "login_hint") {
            q.append_pair(k, v);
        }
        let href = format!("{}/authorize/choose?{}", inner.prefix, q.finish());
        let born = if c.birthplace.is_empty() {
            format!("né·e le {} à l'étranger ({})", c.birthdate, c.birthcountry)
        } else {
            format!("né·e le {} (commune {})", c.birthdate, c.birthplace)
        };
        let born = if c.idp_birthdate.len() < c.birthdate.len() {
            format!("{born}, date connue : {}", c.idp_birthdate)
        } else {
            born
        };
        items.push_str(&format!(
            "<li><a href=\"{}\"><span class=\"name\">{}</span> <span class=\"meta\">{}</span> \
             <span class=\"meta\">Identifiant de test (login_hint) : {}</span></a></li>\n",
            crate::pages::escape(&href),
            crate::pages::escape(&c.display_name()),
            crate::pages::escape(&born),
            crate::pages::escape(c.id),
        ));
    }
    let body = format!(
        r#"<!DOCTYPE html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Fournisseur d'identité fictif : choisir une identité de test</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 0; background: #ffffff; color: #161616; }}
main {{ max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }}
h1 {{ font-size: 1.5rem; color: #000091; }}
ul {{ list-style: none; padding: 0; }}
li {{ margin: 0.75rem 0; }}
a {{ display: block; padding: 0.75rem 1rem; border: 2px solid #000091; border-radius: 4px;
     color: #000091; text-decoration: none; }}
a:hover {{ background: #e3e3fd; }}
a:focus {{ outline: 3px solid #0a76f6; outline-offset: 2px; }}
.name {{ font-weight: bold; }}
.meta {{ display: block; color: #3a3a3a; font-size: 0.9rem; }}
.warning {{ border-left: 4px solid #b34000; padding: 0.5rem 1rem; background: #fff4f3; }}
</style>
</head>
<body>
<main>
<h1>Fournisseur d'identité fictif</h1>
<p class="warning">Ceci est un fournisseur de démonstration : aucune vraie identité n'est utilisée.</p>
<p id="consigne">Choisissez l'identité de test avec laquelle vous connecter :</p>
<ul aria-labelledby="consigne">
{items}</ul>
<p><a class="cancel" href="{cancel}">Annuler et revenir au service</a></p>
</main>
</body>
</html>
"#
    );
    html_page(StatusCode::OK, body)
}
