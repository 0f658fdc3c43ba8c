//! HTTP response helpers: OAuth JSON errors, redirects, the chooser page's HTML shell,
//! strict parameter parsing.

use super::*;

pub(super) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = json!({"error": error, "error_description": description});
    let mut r = (status, axum::Json(body)).into_response();
    no_store(&mut r);
    r
}

pub(super) fn bad_request(error: &str, description: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, error, description)
}

/// A request refused with 400 and a JSON OAuth error (small, unlike a `Response`).
pub(super) struct Refusal {
    error: &'static str,
    description: String,
}

pub(super) fn refuse(error: &'static str, description: impl Into<String>) -> Refusal {
    Refusal {
        error,
        description: description.into(),
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        bad_request(self.error, &self.description)
    }
}

pub(super) fn no_store(r: &mut Response) {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

pub(super) fn json_response(v: &Value) -> Response {
    (StatusCode::OK, axum::Json(v.clone())).into_response()
}

pub(super) fn redirect(url: &Url) -> Response {
    match HeaderValue::try_from(url.as_str()) {
        Ok(loc) => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::FOUND;
            r.headers_mut().insert(header::LOCATION, loc);
            no_store(&mut r);
            r
        }
        Err(_) => bad_request("invalid_request", "redirect URI not usable"),
    }
}

/// FranceConnect's error page: HTTP 400, HTML, the error code, and no way back to the
/// service (`back/apps/core-fcp/src/views/error.ejs`; "le lien retour vers le FS n'est pas
/// affiché" in `quality/fcp/cypress/integration/api/api-authorize.feature`).
pub(super) fn fc_error_page(code: &str, why: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\">\
         <title>Erreur - FranceConnect (fournisseur fictif)</title></head><body><main>\
         <h1>Une erreur technique est survenue</h1>\
         <p>Fermez l'onglet de votre navigateur et reconnectez-vous.</p>\
         <p>Code d'erreur : <strong class=\"error-code\">{code}</strong></p>\
         <p class=\"error-detail\">{}</p></main></body></html>\n",
        crate::pages::escape(why)
    );
    html_page(StatusCode::BAD_REQUEST, body)
}

pub(super) fn html_page(status: StatusCode, body: String) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    no_store(&mut r);
    r
}

/// Parse a query string or form body; a repeated parameter is an error (RFC 6749 3.1).
pub(super) fn parse_params(raw: &[u8]) -> Result<BTreeMap<String, String>, Refusal> {
    let mut out = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(raw) {
        if out.insert(k.to_string(), v.into_owned()).is_some() {
            return Err(refuse(
                "invalid_request",
                format!("parameter {k} given more than once"),
            ));
        }
    }
    Ok(out)
}

pub(super) async fn not_found() -> Response {
    oauth_error(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}
