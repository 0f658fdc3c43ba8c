//! Echo upstream: a tiny web "application" that answers every request with a JSON description
//! of what it received, so `guichet demo` can show the identity headers and tests can assert
//! exactly what the protected application saw.
//!
//! A websocket handshake (`Upgrade: websocket`, any path) is accepted: the first message the
//! echo sends is that same JSON description of the handshake request, then it sends back
//! every text or binary message it receives. `?sleep_ms=N` (at most 10 s) delays the answer
//! (a slow request, for the shutdown tests). `GET /formulaire` is an HTML page with two forms
//! posting back to it ([`FORM_PAGE`], for forms kept across a login).
//!
//! Given an [`AssertionCheck`], it also does what `docs/headers.md` tells applications to do
//! with guichet's signed assertion, using josekit (not the library guichet signs with): fetch
//! the JWK set over HTTP, pin ES256, verify the signature, `iss`, `aud`, `exp` and `iat`. The
//! outcome is in each [`EchoedRequest::assertion`] and in the JSON it answers.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Body;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use josekit::jwk::{Jwk, JwkSet};
use josekit::jws::ES256;
use serde_json::{Map, Value};
use tokio::sync::watch;

/// How many requests [`EchoHandle::requests`] remembers.
pub const KEEP_REQUESTS: usize = 64;

/// Largest request body the echo reads (larger bodies get 413).
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// Longest delay `?sleep_ms=` asks for.
pub const MAX_SLEEP_MS: u64 = 10_000;

/// One request as the upstream received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EchoedRequest {
    pub method: String,
    pub path: String,
    /// Raw query string (without `?`), if any.
    pub query: Option<String>,
    /// Header names lowercased, values as raw bytes, in arrival order (repeats kept).
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    /// The identity assertion: `None` when the request had none (or no check is configured),
    /// its verified claims, or why it was rejected.
    pub assertion: Option<Result<Map<String, Value>, String>>,
}

impl EchoedRequest {
    /// First value of a header (name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// First value of a header as UTF-8 text, if it is valid UTF-8.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every value of a header, in order.
    pub fn header_all(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
            .collect()
    }
}

/// How the echo verifies guichet's identity assertion.
#[derive(Clone, Debug)]
pub struct AssertionCheck {
    /// Header carrying the assertion.
    pub header: String,
    /// Where guichet publishes its keys (`/.guichet/jwks.json`).
    pub jwks_url: String,
    /// Expected `iss` and `aud`.
    pub issuer: String,
    pub audience: String,
    /// PEM of a CA to trust for `jwks_url` (a gateway with a test certificate).
    pub root_ca: Option<Vec<u8>>,
}

/// Tolerated clock difference when checking `exp` and `iat`.
const LEEWAY_SECS: u64 = 5;

struct Inner {
    addr: SocketAddr,
    requests: Mutex<VecDeque<EchoedRequest>>,
    stop: watch::Sender<bool>,
    check: Option<AssertionCheck>,
    /// Keys fetched from `jwks_url`, refreshed when a token names an unknown `kid`.
    keys: Mutex<Vec<Jwk>>,
    jwks_fetches: AtomicU64,
}

/// Handle on a running echo upstream; cheap to clone.
#[derive(Clone)]
pub struct EchoHandle {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EchoHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EchoHandle")
            .field("addr", &self.inner.addr)
            .finish_non_exhaustive()
    }
}

impl EchoHandle {
    /// The address the echo listens on.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// `http://ADDR`, handy as an upstream URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    /// The last [`KEEP_REQUESTS`] requests, oldest first.
    pub fn requests(&self) -> Vec<EchoedRequest> {
        lock(&self.inner.requests).iter().cloned().collect()
    }

    /// The most recent request, if any.
    pub fn last_request(&self) -> Option<EchoedRequest> {
        lock(&self.inner.requests).back().cloned()
    }

    /// Forget the recorded requests.
    pub fn clear(&self) {
        lock(&self.inner.requests).clear();
    }

    /// How many times the echo downloaded the JWK set.
    pub fn jwks_fetches(&self) -> u64 {
        self.inner.jwks_fetches.load(Ordering::Relaxed)
    }

    /// Stop serving (graceful: in-flight requests finish, no new connection is accepted).
    pub fn shutdown(&self) {
        self.inner.stop.send_replace(true);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding this lock cannot leave the data inconsistent: keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Serve the echo upstream on `listener`, spawned onto the current tokio runtime.
pub async fn serve(listener: tokio::net::TcpListener) -> std::io::Result<EchoHandle> {
    serve_with(listener, None).await
}

/// [`serve`], verifying each request's identity assertion when `check` is given.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    check: Option<AssertionCheck>,
) -> std::io::Result<EchoHandle> {
    let addr = listener.local_addr()?;
    let (stop, mut stopped) = watch::channel(false);
    let inner = Arc::new(Inner {
        addr,
        requests: Mutex::new(VecDeque::with_capacity(KEEP_REQUESTS)),
        stop,
        check,
        keys: Mutex::new(Vec::new()),
        jwks_fetches: AtomicU64::new(0),
    });
    let app = Router::new().fallback(echo).with_state(inner.clone());
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::warn!(error = %e, "echo upstream stopped");
        }
    });
    Ok(EchoHandle { inner })
}

fn text(v: &[u8]) -> Value {
    Value::String(match std::str::from_utf8(v) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(v).into_owned(),
    })
}

async fn echo(State(inner): State<Arc<Inner>>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let websocket = if is_websocket(&parts.headers) {
        match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
            Ok(ws) => Some(ws),
            Err(rejection) => return rejection.into_response(),
        }
    } else {
        None
    };
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "body too large\n").into_response(),
    };
    let headers: Vec<(String, Vec<u8>)> = parts
        .headers
        .iter()
        .map(|(n, v)| (n.as_str().to_ascii_lowercase(), v.as_bytes().to_vec()))
        .collect();
    let assertion = match &inner.check {
        Some(check) => {
            let values: Vec<_> = parts
                .headers
                .get_all(check.header.as_str())
                .iter()
                .collect();
            match values.as_slice() {
                [] => None,
                [token] => Some(verify(&inner, check, token.to_str().unwrap_or_default()).await),
                _ => Some(Err("several assertion headers".into())),
            }
        }
        None => None,
    };
    let record = EchoedRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers,
        body: body.to_vec(),
        assertion,
    };

    let mut hmap = Map::new();
    for (name, value) in &record.headers {
        match hmap.get_mut(name) {
            None => {
                hmap.insert(name.clone(), text(value));
            }
            Some(Value::Array(values)) => values.push(text(value)),
            Some(first) => {
                let first = first.take();
                hmap.insert(name.clone(), Value::Array(vec![first, text(value)]));
            }
        }
    }
    let json = serde_json::json!({
        "method": record.method,
        "path": record.path,
        "query": record.query,
        "headers": hmap,
        "body": text(&record.body),
        "assertion": match &record.assertion {
            None => Value::Null,
            Some(Ok(claims)) => serde_json::json!({"verified": true, "claims": claims}),
            Some(Err(e)) => serde_json::json!({"verified": false, "error": e}),
        },
    });

    {
        let mut reqs = lock(&inner.requests);
        if reqs.len() >= KEEP_REQUESTS {
            reqs.pop_front();
        }
        reqs.push_back(record);
    }
    // Recorded first: a test sees a slow request as soon as it has arrived.
    if let Some(ms) = sleep_ms(parts.uri.query()) {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }

    if websocket.is_none()
        && parts.method == axum::http::Method::GET
        && parts.uri.path() == FORM_PAGE
    {
        return form_page();
    }
    let mut out = serde_json::to_vec_pretty(&json).unwrap_or_default();
    out.push(b'\n');
    if let Some(ws) = websocket {
        return ws.on_upgrade(move |socket| echo_socket(socket, out));
    }
    let mut resp = Response::new(Body::from(out));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The demo application's form page (`GET`; a `POST` to it is echoed like any request).
pub const FORM_PAGE: &str = "/formulaire";

/// A small application page with two forms posting to [`FORM_PAGE`]: one
/// `application/x-www-form-urlencoded`, one `multipart/form-data` with a file, each with the
/// application's own CSRF token (a hidden field, and the same value in a `demo_csrf` cookie),
/// to show a form kept across a login (`preserve_post`) reaching the application unchanged.
fn form_page() -> Response {
    let token = crate::crypto::random_hex32();
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\">\
<title>Demande d'acte (démo)</title></head><body><main>\
<h1>Demande d'acte de naissance (démo)</h1>\
<p>Remplissez le formulaire, puis laissez votre session prendre fin (ou déconnectez-vous dans \
un autre onglet) avant de l'envoyer : guichet le garde pendant que vous vous reconnectez, puis \
l'envoie.</p>\
<form method=\"post\" action=\"{FORM_PAGE}\" id=\"demande\">\
<input type=\"hidden\" name=\"csrf\" value=\"{token}\">\
<p><label for=\"nom\">Nom</label> <input name=\"nom\" id=\"nom\"></p>\
<p><label for=\"prenom\">Prénom</label> <input name=\"prenom\" id=\"prenom\"></p>\
<p><label for=\"motif\">Motif</label> <select name=\"motif\" id=\"motif\">\
<option value=\"passeport\">Passeport</option><option value=\"mariage\">Mariage</option></select></p>\
<p><label for=\"commentaire\">Commentaire</label> <textarea name=\"commentaire\" id=\"commentaire\"></textarea></p>\
<p><input type=\"checkbox\" name=\"accord\" value=\"oui\" id=\"accord\"> <label for=\"accord\">J'accepte</label></p>\
<p><button type=\"submit\" name=\"action\" value=\"envoyer\" id=\"envoyer\">Envoyer</button></p>\
</form>\
<h2>Avec une pièce jointe</h2>\
<form method=\"post\" action=\"{FORM_PAGE}\" enctype=\"multipart/form-data\" id=\"avec-piece\">\
<input type=\"hidden\" name=\"csrf\" value=\"{token}\">\
<p><label for=\"objet\">Objet</label> <input name=\"objet\" id=\"objet\"></p>\
<p><label for=\"piece\">Pièce</label> <input type=\"file\" name=\"piece\" id=\"piece\"></p>\
<p><button type=\"submit\" id=\"envoyer-piece\">Envoyer</button></p>\
</form></main></body></html>\n"
    );
    let mut resp = Response::new(Body::from(html));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "demo_csrf={token}; Path=/; HttpOnly; SameSite=Lax"
    )) {
        h.insert(header::SET_COOKIE, v);
    }
    resp
}

fn is_websocket(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// `sleep_ms=N` in a query string, capped at [`MAX_SLEEP_MS`].
fn sleep_ms(query: Option<&str>) -> Option<u64> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == "sleep_ms")
        .and_then(|(_, v)| v.parse::<u64>().ok())
        .map(|ms| ms.min(MAX_SLEEP_MS))
}

/// The websocket side: the handshake's description first, then every message echoed.
async fn echo_socket(mut socket: WebSocket, handshake: Vec<u8>) {
    let first = String::from_utf8_lossy(&handshake).into_owned();
    if socket.send(Message::Text(first.into())).await.is_err() {
        return;
    }
    while let Some(Ok(msg)) = socket.recv().await {
        let reply = match msg {
            Message::Text(t) => Message::Text(t),
            Message::Binary(b) => Message::Binary(b),
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        if socket.send(reply).await.is_err() {
            break;
        }
    }
}

/// Verifies an assertion the way `docs/headers.md` describes, with josekit.
async fn verify(
    inner: &Inner,
    check: &AssertionCheck,
    token: &str,
) -> Result<Map<String, Value>, String> {
    let header: Value = token
        .split('.')
        .next()
        .and_then(|h| URL_SAFE_NO_PAD.decode(h).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("not a JWT")?;
    if header["alg"] != "ES256" {
        return Err(format!("alg {} is not ES256", header["alg"]));
    }
    let kid = header["kid"].as_str().ok_or("no kid")?.to_string();
    let find = |inner: &Inner| {
        lock(&inner.keys)
            .iter()
            .find(|k| k.key_id() == Some(kid.as_str()))
            .cloned()
    };
    let jwk = match find(inner) {
        Some(k) => k,
        None => {
            fetch_keys(inner, check).await?;
            find(inner).ok_or_else(|| format!("kid {kid} is not in the JWK set"))?
        }
    };
    let verifier = ES256
        .verifier_from_jwk(&jwk)
        .map_err(|e| format!("key: {e}"))?;
    let (payload, _) = josekit::jwt::decode_with_verifier(token, &verifier)
        .map_err(|e| format!("signature: {e}"))?;
    let claims = payload.claims_set().clone();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let time = |k: &str| claims.get(k).and_then(Value::as_u64);
    match (time("iat"), time("exp")) {
        (Some(iat), Some(exp)) if iat <= now + LEEWAY_SECS && now < exp + LEEWAY_SECS => {}
        _ => return Err("iat/exp: not valid now".into()),
    }
    if claims.get("iss").and_then(Value::as_str) != Some(check.issuer.as_str()) {
        return Err("iss".into());
    }
    if claims.get("aud").and_then(Value::as_str) != Some(check.audience.as_str()) {
        return Err("aud".into());
    }
    Ok(claims)
}

/// Downloads the JWK set (once per unknown `kid`).
async fn fetch_keys(inner: &Inner, check: &AssertionCheck) -> Result<(), String> {
    inner.jwks_fetches.fetch_add(1, Ordering::Relaxed);
    let mut builder = reqwest::Client::builder().timeout(std::time::Duration::from_secs(5));
    if let Some(pem) = &check.root_ca {
        let ca = reqwest::Certificate::from_pem(pem).map_err(|e| format!("jwks CA: {e}"))?;
        builder = builder.add_root_certificate(ca);
    }
    let client = builder.build().map_err(|e| format!("jwks: {e}"))?;
    let url = check.jwks_url.as_str();
    let body = client
        .get(url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| format!("jwks: {e}"))?
        .bytes()
        .await
        .map_err(|e| format!("jwks: {e}"))?;
    let set = JwkSet::from_bytes(&body).map_err(|e| format!("jwks: {e}"))?;
    *lock(&inner.keys) = set.keys().into_iter().cloned().collect();
    Ok(())
}

#[cfg(test)]
mod tests;
