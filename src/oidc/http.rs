//! The HTTP client guichet uses to talk to providers: rustls, bounded time, bounded size,
//! no redirects (a token endpoint that redirects is misbehaving, not to be followed).

use super::OidcError;
use bytes::{Bytes, BytesMut};
use std::time::Duration;

/// Largest provider response read (discovery, JWKS, tokens, userinfo).
pub const MAX_BODY: usize = 256 * 1024;

/// Builds the shared client. Building only fails if the TLS backend cannot initialise,
/// which is a start-up error, reported as such.
pub fn client(timeout: Duration) -> Result<reqwest::Client, OidcError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5).min(timeout))
        .timeout(timeout)
        .user_agent(concat!("guichet/", env!("CARGO_PKG_VERSION")))
        .https_only(false)
        .build()
        .map_err(|e| OidcError::Unavailable(format!("cannot build HTTP client: {e}")))
}

/// A provider response, read whole within [`MAX_BODY`].
pub struct Response {
    pub status: u16,
    pub content_type: String,
    pub body: Bytes,
}

impl Response {
    pub fn is_json(&self) -> bool {
        let ct = self.content_type.to_ascii_lowercase();
        ct.starts_with("application/json")
            || (ct.starts_with("application/") && ct.contains("+json"))
    }

    pub fn is_jwt(&self) -> bool {
        self.content_type
            .to_ascii_lowercase()
            .starts_with("application/jwt")
    }
}

/// Sends a request and reads the response, mapping network failures and oversized bodies to
/// [`OidcError::Unavailable`] / [`OidcError::BadResponse`]. `what` names the endpoint in logs.
pub async fn send(req: reqwest::RequestBuilder, what: &'static str) -> Result<Response, OidcError> {
    let mut resp = req.send().await.map_err(|e| {
        let kind = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "connection failed"
        } else {
            "request failed"
        };
        OidcError::Unavailable(format!("{what}: {kind}"))
    })?;
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if resp.content_length().is_some_and(|l| l > MAX_BODY as u64) {
        return Err(OidcError::BadResponse(what, "response too large"));
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|_| OidcError::Unavailable(format!("{what}: response interrupted")))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(OidcError::BadResponse(what, "response too large"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Response {
        status,
        content_type,
        body: body.freeze(),
    })
}
