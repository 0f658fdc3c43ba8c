//! The pingora side: one `ProxyHttp` implementation that reads like the story of a request.
//!
//! 1. `request_filter`: find the client's address, strip every header a client could use to
//!    forge identity or its address ([`Hygiene`]), then ask the [`Gateway`] what to do; either
//!    write its reply and stop, or remember the decision in the per-request [`Ctx`].
//! 2. `upstream_peer`: where the application lives.
//! 3. `upstream_request_filter`: remove guichet's cookies, copy the session's pre-built
//!    identity block for the route's profile and its cached assertion, set the forwarding
//!    headers.
//! 4. `logging`: metrics.
//!
//! Once the process is leaving (SIGQUIT for an upgrade, SIGTERM), every response closes its
//! HTTP/1.1 connection (`Connection: close`, [`GuichetProxy::draining`]): clients move to
//! new connections, which the new process (or another replica) accepts, instead of finding
//! a kept-alive connection closed under their next request.
//!
//! Invariant: identity and assertion headers (any case, any number of copies) and guichet's
//! own cookies never reach the upstream from the client; only the session's block is added
//! ([`crate::hygiene`], tested in `tests/upstream_identity.rs`).

use crate::gateway::{Forward, Gateway, Outcome};
use crate::hygiene::Hygiene;
use crate::pages::Failure;
use crate::web::{Body, Lang, Reply, Request, MAX_OWN_BODY};
use async_trait::async_trait;
use bytes::Bytes;
use http::header;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use std::sync::atomic::{AtomicBool, Ordering};
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
    hygiene: Hygiene,
    draining: Arc<AtomicBool>,
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
        GuichetProxy {
            hygiene: Hygiene::new(cfg, &gateway.cookies),
            peer,
            gateway,
            draining: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Set to `true` when the process starts leaving: from then on responses close their
    /// connection instead of keeping it alive (see the module doc).
    pub fn draining(&self) -> Arc<AtomicBool> {
        self.draining.clone()
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
        if self.draining.load(Ordering::Relaxed) {
            session.set_keepalive(None);
        }
        let peer = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip());
        ctx.client_ip = self.hygiene.client_ip(peer, &session.req_header().headers);
        self.hygiene.strip_incoming(session.req_header_mut());
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
        self.hygiene.strip_own_cookies(upstream);
        if let Some(forward) = &ctx.forward {
            if let Some(session) = &forward.session {
                self.hygiene.inject(
                    upstream,
                    session.headers.block(forward.profile),
                    forward.assertion.as_ref(),
                )?;
            }
        }
        self.hygiene.set_forwarding(upstream, ctx.client_ip)?;
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
