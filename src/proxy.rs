//! The pingora side: one `ProxyHttp` implementation that reads like the story of a request.
//!
//! 1. `request_filter`: ask the [`Gateway`] what to do; either write its reply and stop, or
//!    remember the decision in the per-request [`Ctx`].
//! 2. `upstream_peer`: where the application lives.
//! 3. `upstream_request_filter`: strip everything a client could use to forge identity, then
//!    inject the session's pre-built identity headers.
//! 4. `logging`: metrics.
//!
//! Invariant: identity headers (any case, any number of copies) and guichet's own cookies
//! never reach the upstream from the client; only the session's block is added
//! ([`strip_client_identity`], tested in `tests/login_flow.rs`).

use crate::gateway::{Forward, Gateway, Outcome};
use crate::identity::headers::is_identity_header;
use crate::pages::Failure;
use crate::web::{Body, Lang, Reply, Request, MAX_OWN_BODY};
use async_trait::async_trait;
use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Per-request state.
pub struct Ctx {
    forward: Option<Forward>,
    class: &'static str,
    started: Instant,
    client_ip: Option<std::net::IpAddr>,
}

pub struct GuichetProxy {
    gateway: Arc<Gateway>,
    peer: HttpPeer,
    prefix_lower: String,
    forwarded_proto: &'static str,
    forwarded_host: String,
}

impl GuichetProxy {
    pub fn new(gateway: Arc<Gateway>) -> GuichetProxy {
        let cfg = &gateway.cfg;
        let up = &cfg.upstream;
        let mut peer = HttpPeer::new(up.address.as_str(), up.tls, up.sni.clone());
        peer.options.connection_timeout = Some(up.connect_timeout);
        peer.options.read_timeout = Some(up.read_timeout);
        peer.options.write_timeout = Some(up.write_timeout);
        peer.options.idle_timeout = Some(up.idle_timeout);
        peer.options.verify_cert = up.verify_tls;
        peer.options.verify_hostname = up.verify_tls;
        let forwarded_host = cfg
            .server
            .public_url
            .split_once("://")
            .map(|(_, h)| h.to_string())
            .unwrap_or_default();
        GuichetProxy {
            prefix_lower: cfg.headers.prefix.to_ascii_lowercase(),
            forwarded_proto: if cfg.server.https { "https" } else { "http" },
            forwarded_host,
            peer,
            gateway,
        }
    }
}

#[async_trait]
impl ProxyHttp for GuichetProxy {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx {
            forward: None,
            class: "own",
            started: Instant::now(),
            client_ip: None,
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        ctx.client_ip = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip());
        let body = read_own_body(&self.gateway, session).await?;
        let head = session.req_header();
        let request = Request {
            method: &head.method,
            path: head.uri.path(),
            query: head.uri.query(),
            headers: &head.headers,
            client_ip: ctx.client_ip,
            body: match &body {
                OwnBody::Skipped => Body::None,
                OwnBody::Read(b) => Body::Read(b),
                OwnBody::TooLarge => Body::TooLarge,
            },
        };
        match self.gateway.handle(&request).await {
            Outcome::Reply(reply) => {
                write_reply(session, reply).await?;
                Ok(true)
            }
            Outcome::Forward(forward) => {
                ctx.class = forward.class;
                ctx.forward = Some(forward);
                Ok(false)
            }
        }
    }

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        Ok(Box::new(self.peer.clone()))
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        strip_client_identity(
            upstream,
            &self.prefix_lower,
            &[self.gateway.cookies.session, self.gateway.cookies.login],
        );
        if let Some(session) = ctx.forward.as_ref().and_then(|f| f.session.as_ref()) {
            for (name, value) in &session.headers.headers {
                upstream.append_header(name.clone(), value.clone())?;
            }
        }
        if let Some(ip) = ctx.client_ip {
            upstream.insert_header(X_FORWARDED_FOR, ip.to_string())?;
        }
        upstream.insert_header(X_FORWARDED_PROTO, self.forwarded_proto)?;
        upstream.insert_header(X_FORWARDED_HOST, self.forwarded_host.as_str())?;
        if let Some(host) = &self.gateway.cfg.upstream.host_header {
            upstream.insert_header(header::HOST, host.as_str())?;
        }
        Ok(())
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, _ctx: &mut Ctx) -> FailToProxy {
        let code = match e.esource() {
            ErrorSource::Upstream => {
                self.gateway.metrics.upstream_errors.inc();
                502
            }
            ErrorSource::Downstream => match e.etype() {
                ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => 0,
                _ => 400,
            },
            _ => 502,
        };
        if code > 0 {
            let lang = lang_of(session.req_header());
            let failure = if code == 502 {
                Failure::UpstreamUnavailable
            } else {
                Failure::InvalidRequest("request")
            };
            let reply = self.gateway.pages.failure(&failure, lang);
            if let Err(err) = write_reply(session, reply).await {
                tracing::debug!(error = %err, "could not send the error page");
            }
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut Ctx) {
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let metrics = &self.gateway.metrics;
        metrics
            .requests
            .with_label_values(&[ctx.class, status_label(status)])
            .inc();
        metrics
            .request_duration
            .with_label_values(&[ctx.class])
            .observe(ctx.started.elapsed().as_secs_f64());
    }

    /// Method and path only: query strings carry codes and states, which stay out of logs.
    fn request_summary(&self, session: &Session, _ctx: &Ctx) -> String {
        let h = session.req_header();
        format!("{} {}", h.method, h.uri.path())
    }
}

fn status_label(status: u16) -> &'static str {
    match status {
        200..=299 => "2xx",
        300..=399 => "3xx",
        401 => "401",
        403 => "403",
        404 => "404",
        429 => "429",
        400..=499 => "4xx",
        502 => "502",
        503 => "503",
        500..=599 => "5xx",
        _ => "other",
    }
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const FORWARDED: HeaderName = HeaderName::from_static("forwarded");

/// Removes from the upstream request every header whose name starts with the identity prefix
/// (any case, every copy), the client's forwarding headers (guichet sets its own), and
/// guichet's own cookies.
pub fn strip_client_identity(req: &mut RequestHeader, prefix_lower: &str, own_cookies: &[&str]) {
    let doomed: Vec<HeaderName> = req
        .headers
        .keys()
        .filter(|n| is_identity_header(n.as_str(), prefix_lower))
        .cloned()
        .collect();
    for name in doomed {
        req.remove_header(&name);
    }
    for name in [
        X_FORWARDED_FOR,
        X_FORWARDED_PROTO,
        X_FORWARDED_HOST,
        FORWARDED,
    ] {
        req.remove_header(&name);
    }
    let cookies: Vec<String> = req
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(String::from)
        .collect();
    if cookies.is_empty()
        || !cookies
            .iter()
            .any(|c| own_cookies.iter().any(|o| c.contains(o)))
    {
        return;
    }
    let kept: Vec<&str> = cookies
        .iter()
        .flat_map(|c| c.split(';'))
        .map(str::trim)
        .filter(|pair| {
            let name = pair.split_once('=').map_or(*pair, |(k, _)| k);
            !pair.is_empty() && !own_cookies.contains(&name)
        })
        .collect();
    req.remove_header(&header::COOKIE);
    if !kept.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&kept.join("; ")) {
            // insert_header only fails on invalid names; COOKIE is valid.
            let _ = req.insert_header(header::COOKIE, v);
        }
    }
}

fn lang_of(head: &RequestHeader) -> Lang {
    Request {
        method: &head.method,
        path: head.uri.path(),
        query: head.uri.query(),
        headers: &head.headers,
        client_ip: None,
        body: Body::None,
    }
    .lang()
}

/// Time allowed to receive the body of a request to guichet's own paths.
const OWN_BODY_TIMEOUT: Duration = Duration::from_secs(10);

enum OwnBody {
    Skipped,
    Read(Vec<u8>),
    TooLarge,
}

/// Reads the body of a request the gateway wants it for (a `POST` to its own paths), at most
/// [`MAX_OWN_BODY`] bytes within [`OWN_BODY_TIMEOUT`]. Other requests' bodies are left to
/// stream to the upstream.
async fn read_own_body(gateway: &Gateway, session: &mut Session) -> Result<OwnBody> {
    let head = session.req_header();
    if !gateway.wants_body(&head.method, head.uri.path()) {
        return Ok(OwnBody::Skipped);
    }
    let read = async {
        let mut buf = Vec::new();
        while let Some(chunk) = session.read_request_body().await? {
            if buf.len() + chunk.len() > MAX_OWN_BODY {
                return Ok(OwnBody::TooLarge);
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(OwnBody::Read(buf))
    };
    match tokio::time::timeout(OWN_BODY_TIMEOUT, read).await {
        Ok(result) => result,
        Err(_) => Err(Error::explain(ErrorType::ReadTimedout, "request body too slow").into_down()),
    }
}

/// Writes one of guichet's own replies (no body for `HEAD`).
async fn write_reply(session: &mut Session, reply: Reply) -> Result<()> {
    let mut resp = ResponseHeader::build(reply.status, Some(reply.headers.len() + 1))?;
    for (name, value) in reply.headers {
        resp.append_header(name, value)?;
    }
    resp.insert_header(header::CONTENT_LENGTH, reply.body.len().to_string())?;
    let head_only = session.req_header().method == http::Method::HEAD;
    session
        .write_response_header(Box::new(resp), head_only || reply.body.is_empty())
        .await?;
    if !head_only && !reply.body.is_empty() {
        session
            .write_response_body(Some(Bytes::clone(&reply.body)), true)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spoofed_identity_headers_and_own_cookies_are_stripped() {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        req.append_header("X-Pivot-Sub", "attacker").unwrap();
        req.append_header("x-pivot-sub", "again").unwrap();
        req.append_header("X-PIVOT-GIVEN-NAME", "Eve").unwrap();
        req.append_header("X-Forwarded-For", "1.2.3.4").unwrap();
        req.append_header("X-Other", "kept").unwrap();
        req.append_header("Cookie", "app=1; guichet=secret; guichet-login=x")
            .unwrap();
        strip_client_identity(&mut req, "x-pivot-", &["guichet", "guichet-login"]);
        assert!(req.headers.get("x-pivot-sub").is_none());
        assert!(req.headers.get("x-pivot-given-name").is_none());
        assert!(req.headers.get("x-forwarded-for").is_none());
        assert_eq!(req.headers.get("x-other").unwrap(), "kept");
        assert_eq!(req.headers.get("cookie").unwrap(), "app=1");
    }

    #[test]
    fn cookie_header_removed_when_only_own_cookies() {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        req.append_header("Cookie", "guichet=secret").unwrap();
        strip_client_identity(&mut req, "x-pivot-", &["guichet", "guichet-login"]);
        assert!(req.headers.get("cookie").is_none());
    }
}
