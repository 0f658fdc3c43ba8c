//! The interaction: where the citizen picks a test identity (the mock's stand-in for
//! FranceConnect's identity provider choice and the identity provider's login form), or gives
//! up. FranceConnect answers a valid authorization request with a redirect to
//! `/interaction/{uid}` (`interactions.url` in
//! `back/libs/oidc-provider/src/services/oidc-provider-config.service.ts`); the mock does the
//! same, so the request's parameters never travel again through the browser.
//!
//! Scripts pick a citizen the way a browser does: `GET` (or `POST` a form with `citizen=ID`
//! to) `{prefix}/interaction/{uid}/login?citizen=ID`. Nothing in the authorization request
//! names the citizen, so it stays one real FranceConnect accepts.

use super::*;
use axum::extract::Path;

/// How long an interaction waits for the citizen (FranceConnect+: `Interaction: 600` in
/// `back/instances/core-fcp-high/src/config/oidc-provider.ts`).
pub(super) const INTERACTION_TTL: Duration = Duration::from_secs(600);
/// Interactions kept at most (the oldest pending ones are dropped beyond).
const MAX_INTERACTIONS: usize = 10_000;

pub(super) struct Interaction {
    req: AuthorizeRequest,
    created: Instant,
}

/// Keeps the request and sends the browser to its interaction page (303, as FranceConnect).
pub(super) fn start_interaction(inner: &Inner, req: AuthorizeRequest) -> Response {
    let uid = random_hex(16);
    {
        let mut st = lock(&inner.state);
        st.interactions
            .retain(|_, i| i.created.elapsed() < INTERACTION_TTL);
        if st.interactions.len() >= MAX_INTERACTIONS {
            let oldest = st
                .interactions
                .iter()
                .min_by_key(|(_, i)| i.created)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                st.interactions.remove(&k);
            }
        }
        st.interactions.insert(
            uid.clone(),
            Interaction {
                req,
                created: Instant::now(),
            },
        );
    }
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(loc) = HeaderValue::try_from(format!("{}/interaction/{uid}", inner.prefix)) {
        r.headers_mut().insert(header::LOCATION, loc);
    }
    no_store(&mut r);
    r
}

fn unknown_interaction() -> Response {
    html_page(
        StatusCode::BAD_REQUEST,
        "<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\">\
         <title>Session expirée</title></head><body><main><h1>Session expirée</h1>\
         <p>Cette demande de connexion est inconnue ou a expiré. Recommencez depuis le service.</p>\
         </main></body></html>\n"
            .to_owned(),
    )
}

/// Takes the interaction (single use), if it is still pending.
fn take(inner: &Inner, uid: &str) -> Option<AuthorizeRequest> {
    let i = lock(&inner.state).interactions.remove(uid)?;
    (i.created.elapsed() < INTERACTION_TTL).then_some(i.req)
}

/// `GET {prefix}/interaction/{uid}`: the test identities to choose from.
pub(super) async fn interaction_page(
    State(inner): State<Arc<Inner>>,
    Path(uid): Path<String>,
) -> Response {
    let pending = lock(&inner.state)
        .interactions
        .get(&uid)
        .is_some_and(|i| i.created.elapsed() < INTERACTION_TTL);
    if !pending {
        return unknown_interaction();
    }
    chooser_page(&inner, &uid)
}

/// `GET`/`POST {prefix}/interaction/{uid}/login` with `citizen=ID` (query or form).
pub(super) async fn interaction_login(
    State(inner): State<Arc<Inner>>,
    Path(uid): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let from_query = parse_params(q.as_deref().unwrap_or("").as_bytes());
    let from_body = parse_params(&body);
    let citizen = match (from_query, from_body) {
        (Ok(q), Ok(b)) => q.get("citizen").or(b.get("citizen")).cloned(),
        _ => return bad_request("invalid_request", "malformed citizen"),
    };
    let citizen = match citizen
        .as_deref()
        .map(|c| citizens::find_for(c, inner.config.flavour))
    {
        Some(Some(c)) => c,
        Some(None) => return bad_request("invalid_request", "unknown citizen"),
        None => return bad_request("invalid_request", "citizen is required"),
    };
    match take(&inner, &uid) {
        Some(req) => issue_code(&inner, req, citizen),
        None => unknown_interaction(),
    }
}

/// `GET {prefix}/interaction/{uid}/abort`: the citizen gives up; back to the service with
/// `access_denied` / "User auth aborted", as FranceConnect does
/// (`back/apps/core-fcp/src/controllers/oidc-provider.controller.ts`, `redirectToSpWithError`).
pub(super) async fn interaction_abort(
    State(inner): State<Arc<Inner>>,
    Path(uid): Path<String>,
) -> Response {
    let Some(req) = take(&inner, &uid) else {
        return unknown_interaction();
    };
    let mut u = req.redirect_uri.clone();
    u.query_pairs_mut()
        .append_pair("error", "access_denied")
        .append_pair("error_description", "User auth aborted")
        .append_pair("state", &req.state);
    append_iss(&inner, &mut u);
    redirect(&u)
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
                amr: req.amr,
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

fn chooser_page(inner: &Inner, uid: &str) -> Response {
    let base = format!("{}/interaction/{uid}", inner.prefix);
    let cancel = crate::pages::escape(&format!("{base}/abort"));
    let mut items = String::new();
    for c in citizens::CITIZENS
        .iter()
        .filter(|c| c.exists_with(inner.config.flavour))
    {
        let href = format!("{base}/login?citizen={}", c.id);
        let born = if c.birthplace.is_empty() || c.birthcountry.is_empty() {
            let country = if c.birthcountry.is_empty() {
                c.birthplace
            } else {
                c.birthcountry
            };
            format!("né·e le {} à l'étranger ({country})", c.birthdate)
        } else {
            format!("né·e le {} (commune {})", c.birthdate, c.birthplace)
        };
        let born = if c.idp_birthdate.len() < c.birthdate.len() {
            format!("{born}, date connue : {}", c.idp_birthdate)
        } else {
            born
        };
        let mut notes = Vec::new();
        if c.gender == "unspecified" {
            notes.push("sexe indéterminé (I) au répertoire");
        }
        if c.eidas {
            notes.push("identité européenne (eIDAS)");
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!(
                " <span class=\"meta\">{}</span>",
                crate::pages::escape(&notes.join(", "))
            )
        };
        items.push_str(&format!(
            "<li><a href=\"{}\"><span class=\"name\">{}</span> <span class=\"meta\">{}</span>{notes} \
             <span class=\"meta\">Identifiant de test (citizen) : {}</span></a></li>\n",
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
