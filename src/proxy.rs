//! The pingora side: one `ProxyHttp` implementation that reads like the story of a request.
//!
//! 1. `request_filter`: admit the request head at the [`Edge`] (bounds, request-target, host:
//!    a page, a redirect or a 421 otherwise) and, when the edge says so, replace the target
//!    with its canonical origin-form, so that the path judged below is a slice of the very
//!    bytes forwarded; find the client's address, strip every header a client could use to
//!    forge identity or its address ([`Hygiene`]), then ask the [`Gateway`] what to do; either
//!    write its reply and stop, or remember the decision in the per-request [`Ctx`].
//! 2. `upstream_peer`: one of the application's resolved addresses ([`crate::upstream`]);
//!    `fail_to_connect` moves a request to the next one. An upgrade request gets a
//!    connection of its own, which its [`Switch`] closes when its session ends.
//! 3. `upstream_request_filter`: remove guichet's cookies, copy the session's pre-built
//!    identity block for the route's profile and its cached assertion, set the forwarding
//!    headers, `X-Request-Id`, and `Host` (the public host, or `[upstream] host_header`).
//! 4. `upstream_response_filter`: upstream latency; a `101` registers the upgraded connection
//!    under its session ([`crate::upgraded`]) until the request ends; `logging`: request
//!    metrics.
//!
//! A request body is read only when the gateway needs it: `POST`s to guichet's own paths
//! (before deciding), and a form posted to a browser route without a session that the gateway
//! keeps across the login ([`Outcome::KeepForm`]: read whole and bounded, then
//! [`Gateway::keep_form`]); every other body streams to the upstream untouched.
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
//!
//! # Design notes, and the tests that guard each rule
//!
//! ## Life of an authenticated request
//!
//! 1. `proxy::request_filter`: the head is admitted by the `Edge`: bounds
//!    (`RequestLimits`: header count and size, `Host`; 431 or 400 page), the
//!    raw request-target (origin-form with a canonical path, absolute-form rewritten,
//!    `OPTIONS *` answered, anything else a 400 page), the host it names (the public host;
//!    an alias is redirected, any other a 421 page; the probes answer any host); when the
//!    target must change, the request's target is replaced with the canonical origin-form, so
//!    that the path judged below is a slice of the very bytes forwarded; the client address
//!    (`Hygiene::client_ip`: the
//!    peer, or behind `[server] trusted_proxies` the right-most untrusted `X-Forwarded-For`
//!    entry) and the request id (`request_id`: a counter after a random
//!    prefix, or a trusted proxy's well-formed `X-Request-Id`), then every client header guichet owns or that describes the connection is removed
//!    ([`Hygiene::strip_incoming`]), then `Gateway::handle`.
//! 2. Own paths (`/.guichet/*`, `/healthz`, `/readyz`) are answered directly.
//! 3. The path must already be canonical ([`policy::normalize_path`], from
//!    `edge::path`); a path that is not is refused (400), never judged in
//!    one spelling and forwarded in another.
//! 4. The route is chosen ([`Policy::route_for`]); the session is looked up
//!    ([`Gateway::current_session`]): expired sessions are deleted and counted; activity is
//!    written back at most once per interval. With Redis the lookup is one `HMGET` (does the
//!    session exist, at which version, last activity); the record is decoded and the header
//!    block built only the first time a replica sees that version. A store error is a 503,
//!    except on public routes, which pass without identity.
//! 5. Public route, or a session at the required level: `Forward`, carrying the route's claim
//!    profile and the session's assertion for it (`assertion::Cache`: the
//!    cached JWT while fresh, a new signature when a third of its life remains). Otherwise:
//!    browser routes get a redirect to login (with `level=` for step-up), API routes a 401.
//! 6. `proxy::upstream_peer`: one of the application's addresses, resolved in the background
//!    ([`crate::upstream`]; a connection that fails moves the request to the next address); an
//!    upgrade request gets a connection of its own that a `Switch` closes.
//!    `proxy::upstream_request_filter`: guichet's cookies are removed, the profile's pre-built
//!    header block and the assertion are copied in, and guichet's own `X-Forwarded-For`/`-Proto`/
//!    `-Host`, `X-Real-IP` and `Forwarded` are set ([`crate::hygiene`]), `X-Request-Id`, and
//!    `Host` (the public host, or `[upstream] host_header`).
//! 7. `proxy::upstream_response_filter`: the application's latency; a `101` with a session
//!    registers the upgraded connection under its session until it ends ([`crate::upgraded`]);
//!    `proxy::logging`: request count and latency by route class and status.
//!
//! ## `src/proxy.rs`
//! The pingora `ProxyHttp` implementation: calls [`crate::hygiene`] first, then the gateway, then
//! copies what the decision says.
//!
//! It reads a request body only for `POST`s to guichet's own paths (the gateway says which,
//! [`Gateway::wants_body`]), at most 64 KiB within 10 s (larger: 413,
//! `tests/backchannel_logout.rs`), and for a form the gateway keeps across a login
//! (`Outcome::KeepForm`: at most `preserve_post_max_bytes` within 30 s); every other body
//! streams to the upstream untouched. A body over its limit is read on and dropped (at most
//! 16 MiB, within the same time) so the client sees the page, or the connection is closed.
//!
//! Websocket handshakes (`Upgrade: websocket`) go through the same path as any request (the
//! gateway decides, hygiene strips and injects); pingora then relays the upgraded bytes over a
//! connection of their own (`upstream::peer`: closable, one pool group
//! per request). Once the process leaves (SIGQUIT, SIGTERM), responses carry `Connection:
//! close`. pingora-proxy is patched (`vendor/pingora-proxy`, `PATCHED.md` there: pingora issue
//! #946) so that an application answering its `101` at once does not get the tunnel closed
//! right after it opened
//! (`tests/websocket.rs::many_websockets_opened_at_once_all_get_their_first_message`).
//!
//! **Invariant.** No client-sent identity header, forwarding header or guichet cookie reaches the
//! upstream (`tests/login_flow.rs::spoofed_identity_headers_never_reach_the_upstream`,
//! `tests/upstream_identity.rs::spoofed_identity_and_assertion_headers_never_arrive`, and for
//! websocket handshakes
//! `tests/websocket.rs::an_authenticated_websocket_reaches_the_app_with_its_identity`). Without a
//! live session a protected route is never upgraded and the application sees nothing
//! (`tests/websocket.rs::without_a_live_session_a_protected_route_is_never_upgraded`). Many
//! websockets opened at once all work (`many_websockets_opened_at_once_all_get_their_first_message`,
//! which fails without the pingora 946 workaround). The upstream gets the public `Host`
//! (`tests/hostile_client.rs::host_header_games_never_shape_guichet_s_urls`,
//! `tests/request_target.rs`).
//! **Never**: decide anything; query strings never appear in its log lines (`request_summary`).

use crate::edge::{self, Edge, Stop};
use crate::gateway::{Forward, Gateway, Outcome};
use crate::hygiene::Hygiene;
use crate::metrics::RouteClass;
use crate::pages::Failure;
use crate::request_id::{self, RequestId, RequestIds};
use crate::upgraded::{Registration, Switch};
use crate::upstream::peer::Peers;
use crate::web::{Body, Lang, Reply, Request, MAX_OWN_BODY};
use async_trait::async_trait;
use bytes::Bytes;
use http::header::{self, HeaderValue};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Per-request state.
pub struct Ctx {
    forward: Option<Forward>,
    class: RouteClass,
    started: Instant,
    client_ip: Option<std::net::IpAddr>,
    request_id: RequestId,
    /// When the request was handed to the upstream.
    upstream_sent: Option<Instant>,
    /// Where this request starts among the upstream's addresses, and how many connections
    /// failed so far.
    upstream_start: Option<usize>,
    connect_failures: usize,
    /// For an upgrade request: what closes its upstream connection.
    switch: Option<Arc<Switch>>,
    /// The upgraded connection, registered under its session until the request ends.
    upgraded: Option<Registration>,
}

/// The error of `upstream_peer` while the upstream's name has not resolved.
const UNRESOLVED: ErrorType = ErrorType::Custom("upstream name does not resolve");

/// `Strict-Transport-Security` on guichet's own replies when the public URL is https.
const HSTS: &str = "max-age=31536000";

pub struct GuichetProxy {
    gateway: Arc<Gateway>,
    peers: Peers,
    hygiene: Hygiene,
    draining: Arc<AtomicBool>,
    ids: RequestIds,
    https: bool,
    edge: Edge,
    /// `Host` sent upstream: `[upstream] host_header`, or the public URL's host.
    upstream_host: HeaderValue,
}

impl GuichetProxy {
    pub fn new(gateway: Arc<Gateway>) -> GuichetProxy {
        let cfg = &gateway.cfg();
        let public_host = cfg
            .server
            .public_url
            .split_once("://")
            .map_or("", |(_, host)| host);
        let host = cfg.upstream.host_header.as_deref().unwrap_or(public_host);
        GuichetProxy {
            hygiene: Hygiene::new(cfg, gateway.cookies()),
            edge: Edge::new(&cfg.server),
            peers: Peers::new(&cfg.upstream),
            // Both were validated as host[:port]: always a valid value.
            upstream_host: HeaderValue::from_str(host)
                .unwrap_or(HeaderValue::from_static("localhost")),
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
            class: RouteClass::Own,
            started: Instant::now(),
            client_ip: None,
            request_id: self.ids.next(),
            upstream_sent: None,
            upstream_start: None,
            connect_failures: 0,
            switch: None,
            upgraded: None,
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        if self.draining.load(Ordering::Relaxed) {
            session.set_keepalive(None);
        }
        let rewrite = {
            let head = session.req_header();
            let admitted = self.edge.admit(edge::Head {
                method: &head.method,
                version: head.version,
                target: head.raw_path(),
                headers: &head.headers,
                authority: head.uri.authority().map(|a| a.as_str()),
            });
            match admitted {
                Ok(rewrite) => rewrite,
                Err(stop) => {
                    let rid = ctx.request_id;
                    let reply = match stop {
                        Stop::Refused(refusal) => {
                            tracing::info!(reason = %refusal, "request refused before reading it");
                            self.gateway.pages().failure(
                                &refusal.failure(),
                                lang_of(head),
                                Some(rid.as_str()),
                                None,
                            )
                        }
                        Stop::Answer(reply) => reply,
                    };
                    write_reply(session, reply, &rid, self.https).await?;
                    return Ok(true);
                }
            }
        };
        // From here on the target is origin-form and canonical: what is judged, logged and
        // forwarded is these bytes.
        if let Some(target) = rewrite {
            session.req_header_mut().set_raw_path(target.as_bytes())?;
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
        let wants_body = {
            let head = session.req_header();
            self.gateway.wants_body(&head.method, target_of(head).0)
        };
        let body = if wants_body {
            read_body(session, MAX_OWN_BODY, OWN_BODY_TIMEOUT).await?
        } else {
            OwnBody::Skipped
        };
        let outcome = self
            .gateway
            .handle(&request_of(session.req_header(), ctx, &rid, body.as_body()))
            .await;
        match outcome {
            Outcome::Reply(reply) => {
                ctx.class = self.gateway.route_class(target_of(session.req_header()).0);
                write_reply(session, reply, &rid, self.https).await?;
                Ok(true)
            }
            Outcome::Forward(forward) => {
                ctx.class = forward.class;
                // Every upgrade gets a connection of its own (see `upstream::peer`); one with a
                // session is registered after its 101, to be closed when the session ends.
                if session.is_upgrade_req() {
                    ctx.switch = Some(Switch::new());
                }
                ctx.forward = Some(forward);
                Ok(false)
            }
            // A form posted without a session: read it whole (bounded), keep it, reply.
            Outcome::KeepForm(plan) => {
                ctx.class = RouteClass::Browser;
                let body = read_body(session, plan.limit, FORM_BODY_TIMEOUT).await?;
                let request = request_of(session.req_header(), ctx, &rid, body.as_body());
                let reply = self.gateway.keep_form(&request, plan).await;
                write_reply(session, reply, &rid, self.https).await?;
                Ok(true)
            }
        }
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let upstream = &self.gateway.upstream();
        let start = *ctx.upstream_start.get_or_insert_with(|| upstream.start());
        match upstream.pick(start, ctx.connect_failures) {
            Some(addr) => Ok(Box::new(self.peers.peer(addr, ctx.switch.as_ref()))),
            None => Err(Error::explain(UNRESOLVED, "no address for the upstream")),
        }
    }

    /// A connection that failed moves the request to the upstream's next address, once per
    /// address (nothing was sent: safe for any method).
    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Ctx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        ctx.connect_failures += 1;
        e.set_retry(ctx.connect_failures < self.gateway.upstream().addresses().len());
        e
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
        // The public host (already there, as the client sent it, in the common case).
        let mut hosts = upstream.headers.get_all(header::HOST).iter();
        if !(hosts.next() == Some(&self.upstream_host) && hosts.next().is_none()) {
            upstream.insert_header(header::HOST, self.upstream_host.clone())?;
        }
        ctx.upstream_sent = Some(Instant::now());
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        if upstream_response.status == http::StatusCode::SWITCHING_PROTOCOLS {
            if let (Some(switch), Some(s)) = (
                &ctx.switch,
                ctx.forward.as_ref().and_then(|f| f.session.as_ref()),
            ) {
                let ends_at = s
                    .record
                    .created_at
                    .saturating_add(self.gateway.cfg().session.absolute_timeout.as_secs());
                ctx.upgraded = Some(self.gateway.upgraded().register(
                    *s.key(),
                    switch.clone(),
                    ends_at,
                ));
            }
        }
        if let Some(sent) = ctx.upstream_sent.take() {
            self.gateway
                .metrics()
                .observe_upstream(ctx.class, sent.elapsed().as_secs_f64());
        }
        Ok(())
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        let unresolved = e.etype() == &UNRESOLVED;
        let code = match e.esource() {
            _ if unresolved => 503,
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
                    .metrics()
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
        // Once a response started (an upgraded connection closed), there is nothing to write.
        if code > 0 && session.response_written().is_none() {
            let lang = lang_of(session.req_header());
            let failure = match code {
                503 => Failure::UpstreamUnresolved,
                502 => Failure::UpstreamUnavailable,
                _ => Failure::InvalidRequest("request"),
            };
            let rid = ctx.request_id;
            let reply = self
                .gateway
                .pages()
                .failure(&failure, lang, Some(rid.as_str()), None);
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
        self.gateway.metrics().observe_request(
            ctx.class,
            status,
            ctx.started.elapsed().as_secs_f64(),
        );
    }

    /// Method and path only: query strings carry codes and states, which stay out of logs.
    fn request_summary(&self, session: &Session, _ctx: &Ctx) -> String {
        let h = session.req_header();
        let target = String::from_utf8_lossy(h.raw_path());
        let path = target.split('?').next().unwrap_or_default();
        format!("{} {path}", h.method)
    }
}

/// The path and query of an admitted request: slices of the target that is forwarded. (Not
/// UTF-8 cannot happen after the edge; it would give an empty path, which the gateway
/// refuses.)
fn target_of(head: &RequestHeader) -> (&str, Option<&str>) {
    edge::target::split(std::str::from_utf8(head.raw_path()).unwrap_or_default())
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

/// The gateway's view of a request.
fn request_of<'a>(
    head: &'a RequestHeader,
    ctx: &Ctx,
    rid: &'a RequestId,
    body: Body<'a>,
) -> Request<'a> {
    let (path, query) = target_of(head);
    Request {
        method: &head.method,
        path,
        query,
        headers: &head.headers,
        client_ip: ctx.client_ip,
        request_id: Some(rid.as_str()),
        body,
    }
}

/// Time allowed to receive the body of a request to guichet's own paths.
const OWN_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Time allowed to receive a form kept across a login (a citizen's connection may be slow).
const FORM_BODY_TIMEOUT: Duration = Duration::from_secs(30);

enum OwnBody {
    Skipped,
    Read(Vec<u8>),
    TooLarge,
}

impl OwnBody {
    fn as_body(&self) -> Body<'_> {
        match self {
            OwnBody::Skipped => Body::None,
            OwnBody::Read(b) => Body::Read(b),
            OwnBody::TooLarge => Body::TooLarge,
        }
    }
}

/// Bytes of a body over its limit that guichet still reads and drops, so that the client
/// sees the refusal page (a browser still uploading when the connection closes shows a
/// network error instead of the page). Past it, or past the time allowed, the connection is
/// closed.
const DISCARD_MAX: u64 = 16 * 1024 * 1024;

/// Reads a request body the gateway needs (a `POST` to its own paths, a form to keep across a
/// login), at most `limit` bytes within `time`; other requests' bodies stream to the upstream.
/// A larger body is read on and dropped (at most [`DISCARD_MAX`] bytes, within `time`), or
/// else the connection is not reused: its unread rest is never taken for a next request.
async fn read_body(session: &mut Session, limit: usize, time: Duration) -> Result<OwnBody> {
    let announced = session
        .req_header()
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > DISCARD_MAX) {
        session.set_keepalive(None);
        return Ok(OwnBody::TooLarge);
    }
    let deadline = tokio::time::Instant::now() + time;
    let mut buf = Vec::new();
    let mut total = 0u64;
    let mut over = announced.is_some_and(|n| n > limit as u64);
    loop {
        let chunk = match tokio::time::timeout_at(deadline, session.read_request_body()).await {
            Ok(chunk) => chunk?,
            Err(_) if over => {
                session.set_keepalive(None);
                return Ok(OwnBody::TooLarge);
            }
            Err(_) => {
                return Err(
                    Error::explain(ErrorType::ReadTimedout, "request body too slow").into_down(),
                )
            }
        };
        let Some(chunk) = chunk else { break };
        total += chunk.len() as u64;
        if total > DISCARD_MAX {
            session.set_keepalive(None);
            return Ok(OwnBody::TooLarge);
        }
        if over || buf.len() + chunk.len() > limit {
            over = true;
            buf = Vec::new();
            continue;
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(if over {
        OwnBody::TooLarge
    } else {
        OwnBody::Read(buf)
    })
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
