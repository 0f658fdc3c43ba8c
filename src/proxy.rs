//! The pingora side: one `ProxyHttp` implementation that reads like the story of a request.
//!
//! 1. `request_filter`: refuse a request whose head is out of bounds ([`RequestLimits`]),
//!    find the client's address, strip every header a client could use to
//!    forge identity or its address ([`Hygiene`]), then ask the [`Gateway`] what to do; either
//!    write its reply and stop, or remember the decision in the per-request [`Ctx`].
//! 2. `upstream_peer`: where the application lives.
//! 3. `upstream_request_filter`: remove guichet's cookies, copy the session's pre-built
//!    identity block for the route's profile and its cached assertion, set the forwarding
//!    headers and `X-Request-Id`.
//! 4. `upstream_response_filter`: upstream latency; `logging`: request metrics.
//!
//! guichet's own replies carry `X-Request-Id`, and `Strict-Transport-Security` when the
//! public URL is https ([`write_reply`]).
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
use crate::limits::RequestLimits;
use crate::pages::Failure;
use crate::request_id::{self, RequestId, RequestIds};
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
    request_id: RequestId,
    /// When the request was handed to the upstream.
    upstream_sent: Option<Instant>,
}

/// `Strict-Transport-Security` on guichet's own replies when the public URL is https.
const HSTS: &str = "max-age=31536000";

pub struct GuichetProxy {
    gateway: Arc<Gateway>,
    peer: HttpPeer,
    hygiene: Hygiene,
    draining: Arc<AtomicBool>,
    ids: RequestIds,
    https: bool,
    limits: RequestLimits,
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
            limits: RequestLimits::new(&cfg.server),
            peer,
            ids: RequestIds::new(),
            https: cfg.server.https,
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
            request_id: self.ids.next(),
            upstream_sent: None,
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        if self.draining.load(Ordering::Relaxed) {
            session.set_keepalive(None);
        }
        let head = session.req_header();
        if let Err(refusal) = self.limits.check(head.version, &head.headers) {
            tracing::info!(reason = %refusal, "request refused before reading it");
            let rid = ctx.request_id;
            let reply =
                self.gateway
                    .pages
                    .failure(&refusal.failure(), lang_of(head), Some(rid.as_str()));
            write_reply(session, reply, &rid, self.https).await?;
            return Ok(true);
        }
        let peer = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip());
        ctx.client_ip = self.hygiene.client_ip(peer, &session.req_header().headers);
        // A request id set by a trusted proxy is kept; any other is replaced upstream.
        if self.hygiene.trusts(peer) {
            if let Some(id) = session
                .req_header()
                .headers
                .get(request_id::HEADER)
                .and_then(|v| RequestId::parse(v.as_bytes()))
            {
                ctx.request_id = id;
            }
        }
        self.hygiene.strip_incoming(session.req_header_mut());
        let rid = ctx.request_id;
        let body = read_own_body(&self.gateway, session).await?;
        let head = session.req_header();
        let request = Request {
            method: &head.method,
            path: head.uri.path(),
            query: head.uri.query(),
            headers: &head.headers,
            client_ip: ctx.client_ip,
            request_id: Some(rid.as_str()),
            body: match &body {
                OwnBody::Skipped => Body::None,
                OwnBody::Read(b) => Body::Read(b),
                OwnBody::TooLarge => Body::TooLarge,
            },
        };
        match self.gateway.handle(&request).await {
            Outcome::Reply(reply) => {
                ctx.class = self.gateway.route_class(session.req_header().uri.path());
                write_reply(session, reply, &rid, self.https).await?;
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
        upstream.insert_header(request_id::HEADER, ctx.request_id.header_value())?;
        if let Some(host) = &self.gateway.cfg.upstream.host_header {
            upstream.insert_header(header::HOST, host.as_str())?;
        }
        ctx.upstream_sent = Some(Instant::now());
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        _upstream_response: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        if let Some(sent) = ctx.upstream_sent.take() {
            self.gateway
                .metrics
                .observe_upstream(ctx.class, sent.elapsed().as_secs_f64());
        }
        Ok(())
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        let code = match e.esource() {
            ErrorSource::Upstream => {
                let kind = match e.etype() {
                    ErrorType::ConnectTimedout
                    | ErrorType::ConnectRefused
                    | ErrorType::ConnectNoRoute
                    | ErrorType::ConnectError
                    | ErrorType::TLSHandshakeFailure => "connect",
                    ErrorType::ReadTimedout | ErrorType::WriteTimedout => "timeout",
                    _ => "other",
                };
                self.gateway
                    .metrics
                    .upstream_errors
                    .with_label_values(&[kind])
                    .inc();
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
            let rid = ctx.request_id;
            let reply = self
                .gateway
                .pages
                .failure(&failure, lang, Some(rid.as_str()));
            if let Err(err) = write_reply(session, reply, &rid, self.https).await {
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
        self.gateway.metrics.observe_request(
            ctx.class,
            status,
            ctx.started.elapsed().as_secs_f64(),
        );
    }

    /// Method and path only: query strings carry codes and states, which stay out of logs.
    fn request_summary(&self, session: &Session, _ctx: &Ctx) -> String {
        let h = session.req_header();
        format!("{} {}", h.method, h.uri.path())
    }
}

fn lang_of(head: &RequestHeader) -> Lang {
    Request {
        method: &head.method,
        path: head.uri.path(),
        query: head.uri.query(),
        headers: &head.headers,
        client_ip: None,
        request_id: None,
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

/// Writes one of guichet's own replies (no body for `HEAD`), with the request id and, over
/// https, HSTS.
async fn write_reply(
    session: &mut Session,
    reply: Reply,
    id: &RequestId,
    https: bool,
) -> Result<()> {
    let mut resp = ResponseHeader::build(reply.status, Some(reply.headers.len() + 3))?;
    for (name, value) in reply.headers {
        resp.append_header(name, value)?;
    }
    resp.insert_header(request_id::HEADER, id.header_value())?;
    if https {
        resp.insert_header(header::STRICT_TRANSPORT_SECURITY, HSTS)?;
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
