//! The gateway's decisions, free of any server: given a [`Request`], answer it ([`Reply`]) or
//! let it through to the upstream ([`Forward`]) with or without an identity.
//!
//! `proxy` calls [`Gateway::handle`] from pingora's `request_filter`; tests call it directly.
//!
//! Invariants:
//! - A request reaches the upstream as authenticated only with a live, unexpired session from
//!   the store; a store error fails closed (503) for every route that needs a session, and
//!   public routes then pass without an identity. Nothing is deleted because of an error.
//! - An expired session is deleted when seen, not only ignored.
//! - A request forwarded with a session always carries that session's signed assertion for the
//!   route's claim profile; if none can be made, the request is refused (503), or on a public
//!   route forwarded without any identity.
//!
//! # Design notes, and the tests that guard each rule
//!
//! ## `src/gateway/`
//! The decisions: `mod.rs` (dispatch, session lookup, route decision),
//! `login.rs`, `logout.rs` (logout, logged-out,
//! session JSON), `backchannel.rs` (back-channel logout).
//!
//! **Invariants.** Only a live session from the store makes a request authenticated; store errors
//! fail closed (503) where a session is needed
//! (`tests/redis_sessions.rs::redis_outage_fails_closed_then_service_resumes_with_the_same_sessions`);
//! expired sessions are deleted when seen and get a 401 on API routes
//! (`tests/session_expiry.rs`); logout deletes the local session before redirecting
//! (`tests/login_flow.rs::logout_deletes_the_session_then_logs_out_of_the_provider`), and a store
//! that cannot delete gives an error page, not a false logout
//! (`tests/redis_sessions.rs::a_store_that_cannot_delete_gives_an_error_not_a_false_logout`);
//! logout ends only its cookie's session (`tests/logout.rs::logout_ends_only_the_session_of_its_cookie`),
//! is never an open redirect (`logout_is_never_an_open_redirect`), needs a click when it comes
//! from another site (`cross_site_logout_asks_for_confirmation`), takes `Origin: null` as this
//! site only with the browser's `Sec-Fetch-Site: same-origin` or the session's token
//! (`an_opaque_origin_needs_the_browser_s_word_or_the_token`), leaves a confirmed form for the
//! provider without a form redirect (`a_confirmed_logout_leaves_for_the_provider_without_a_form_redirect`);
//! `logged-out` trusts a state once (`logged_out_checks_the_state_once`) and never says "logged
//! out" to a live session (`the_logged_out_page_never_lies_about_a_live_session`); a stale
//! callback with a live session goes back to its page and makes nothing
//! (`tests/login_security.rs::replayed_state_is_refused`); the browser's `/favicon.ico` starts
//! no login (`tests/journeys.rs::the_browser_s_icon_request_starts_no_login`); every logout-token rule refuses with its reason
//! and deletes nothing (`tests/backchannel_logout.rs::each_logout_token_check_refuses_and_keeps_the_session`,
//! `backchannel::tests::each_logout_claim_rule_refuses_what_it_should`: `typ`, `exp` required),
//! a token's `sid` ends that provider session only, never every session of its `sub`
//! (`tests/certified_provider.rs::back_channel_logout_ends_only_the_provider_session_it_names`), only providers with
//! `backchannel_logout = true` are heard (`providers_without_back_channel_logout_are_not_heard`),
//! and a back-channel logout on one replica holds on the others within 1 s
//! (`tests/redis_sessions.rs::back_channel_logout_received_by_one_replica_ends_the_session_on_the_other`).
//! A session below a route's level is sent to step up, never let through, and a login asking a
//! level goes only to providers that can prove it
//! (`tests/providers.rs::step_up_*`, `chooser_offers_only_providers_that_reach_the_level`,
//! `a_level_no_provider_reaches_gets_a_clear_page`).
//! **Never**: talk to pingora (it gets a `web::Request`, returns an `Outcome`).

mod backchannel;
mod forms;
mod login;
mod logout;
mod throttling;

pub use forms::FormPlan;

use crate::assertion::Signer;
use crate::audit::{Audit, Event};
use crate::config::Config;
use crate::config::StoreKind;
use crate::edge::path::normalize_path;
use crate::metrics::{Metrics, RouteClass};
use crate::oidc::Provider;
use crate::pages::{Failure, Journey, Pages};
use crate::policy::{safe_return_to, Policy};
use crate::session::cookies::{self, CookieNames};
use crate::session::logout_hint::HintSealer;
use crate::session::{
    now, touch_interval, EndReason, Notice, Notices, Session, SessionBuilder, SessionKey,
    SessionRecord, SessionStore,
};
use crate::throttle::Throttle;
use crate::upgraded::Upgraded;
use crate::upstream::Upstream;
use crate::vocab::{Access, Level, ProfileId};
use crate::web::{Body, Reply, Request};
use http::header::{self, HeaderValue};
use http::{Method, StatusCode};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

/// What to do with a request.
pub enum Outcome {
    /// guichet answers by itself.
    Reply(Reply),
    /// Send it to the upstream.
    Forward(Forward),
    /// A form posted without a session, to keep across the login: read the body (at most
    /// the plan's limit), then [`Gateway::keep_form`].
    KeepForm(FormPlan),
}

/// A request allowed through, with the session whose identity it carries (if any).
pub struct Forward {
    pub session: Option<Arc<Session>>,
    /// Route class, for metrics: `browser`, `api`, `public`.
    pub class: RouteClass,
    /// The route's claim profile: which of the session's header blocks to send.
    pub profile: ProfileId,
    /// The session's signed assertion for that profile (`None` without a session).
    pub assertion: Option<HeaderValue>,
}

/// guichet's own keys: the signer of identity assertions, and every public key published at
/// `/.guichet/jwks.json` (assertion signing keys, keys providers encrypt to).
pub struct Keys {
    pub signer: Arc<Signer>,
    pub jwks: Vec<serde_json::Value>,
}

/// Everything the request path needs, built once at start-up.
pub struct Gateway {
    cfg: Arc<Config>,
    providers: Vec<Arc<Provider>>,
    store: Arc<dyn SessionStore>,
    /// Makes a live session (with its derived data) from a record.
    sessions: SessionBuilder,
    policy: Policy,
    cookies: CookieNames,
    pages: Pages,
    metrics: Arc<Metrics>,
    audit: Arc<Audit>,
    /// Signs the identity assertions.
    signer: Arc<Signer>,
    /// Login starts and failed callbacks per client address (`[rate_limit]`).
    throttle: Throttle,
    /// The application's addresses, resolved in the background ([`crate::upstream`]).
    upstream: Arc<Upstream>,
    /// Open upgraded connections by session, closed when their session ends
    /// ([`crate::upgraded`]).
    upgraded: Arc<Upgraded>,
    /// `last_seen` is written back to the store at most this often.
    touch_interval: Duration,
    /// With the memory store, the id_token for the logout hint is sealed in a cookie scoped
    /// to the logout path instead of being kept in memory ([`HintSealer`]).
    hints: Option<HintSealer>,
    /// Public keys served at `/.guichet/jwks.json`: keys the upstream uses to verify guichet's
    /// assertions (`use: sig`) and keys providers encrypt to (`use: enc`). Public parts only.
    jwks: Vec<serde_json::Value>,
}

impl Gateway {
    pub fn new(
        cfg: Arc<Config>,
        providers: Vec<Arc<Provider>>,
        store: Arc<dyn SessionStore>,
        sessions: SessionBuilder,
        metrics: Arc<Metrics>,
        audit: Arc<Audit>,
        keys: Keys,
    ) -> Gateway {
        let touch_interval = touch_interval(cfg.session.idle_timeout);
        let policy = Policy::new(&cfg.routes);
        let home_needs_login = policy.route_for("/").access != Access::Public;
        let hints = matches!(cfg.session.store, StoreKind::Memory).then(HintSealer::new);
        Gateway {
            hints,
            pages: Pages::new(&cfg.pages, &cfg.server.prefix, home_needs_login),
            policy,
            cookies: CookieNames::new(cfg.server.https),
            throttle: Throttle::new(&cfg.rate_limit),
            upstream: Arc::new(Upstream::new(&cfg.upstream)),
            upgraded: Upgraded::new(),
            cfg,
            providers,
            store,
            sessions,
            metrics,
            audit,
            signer: keys.signer,
            touch_interval,
            jwks: keys.jwks,
        }
    }

    /// The validated configuration.
    pub fn cfg(&self) -> &Arc<Config> {
        &self.cfg
    }

    /// The providers, in configuration order (discovery runs in the background).
    pub fn providers(&self) -> &[Arc<Provider>] {
        &self.providers
    }

    /// Where sessions and login states live.
    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.store
    }

    /// The names of guichet's cookies (hygiene strips them before the upstream).
    pub fn cookies(&self) -> &CookieNames {
        &self.cookies
    }

    /// The pages citizens see (the proxy shows one when a body cannot be read).
    pub fn pages(&self) -> &Pages {
        &self.pages
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The evidence log.
    pub fn audit(&self) -> &Arc<Audit> {
        &self.audit
    }

    /// Client addresses the login throttle tracks now (a gauge).
    pub fn throttled_addresses(&self) -> u64 {
        self.throttle.tracked()
    }

    /// The application's addresses.
    pub fn upstream(&self) -> &Arc<Upstream> {
        &self.upstream
    }

    /// Open upgraded connections by session.
    pub fn upgraded(&self) -> &Arc<Upgraded> {
        &self.upgraded
    }

    /// The JWK set guichet publishes.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": self.jwks })
    }

    pub fn provider(&self, name: &str) -> Option<&Arc<Provider>> {
        self.providers.iter().find(|p| p.name() == name)
    }

    /// Decides what happens to one request.
    pub async fn handle(&self, req: &Request<'_>) -> Outcome {
        if let Some(leaf) = req.path.strip_prefix(self.cfg.server.prefix.as_str()) {
            if leaf.is_empty() || leaf.starts_with('/') {
                return Outcome::Reply(self.own_path(leaf.trim_start_matches('/'), req).await);
            }
        }
        match req.path {
            "/healthz" => return Outcome::Reply(Reply::text(StatusCode::OK, "ok\n")),
            "/readyz" => return Outcome::Reply(self.readiness().await),
            _ => {}
        }
        // The path judged is the path forwarded: it must already be canonical (the edge
        // rewrote it), never judged in one spelling and forwarded in another.
        match normalize_path(req.path) {
            Ok(Cow::Borrowed(_)) => {}
            Ok(Cow::Owned(_)) => {
                tracing::info!("request path not canonical");
                return Outcome::Reply(self.fail(req, &Failure::PathRefused));
            }
            Err(e) => {
                tracing::info!(reason = %e, "request path refused");
                return Outcome::Reply(self.fail(req, &Failure::PathRefused));
            }
        }
        let route = self.policy.route_for(req.path);
        let class = RouteClass::from(route.access);
        let session = match self.current_session(req).await {
            Ok(s) => s,
            // A public page needs no session: it passes without an identity.
            Err(_) if route.access == Access::Public => None,
            Err(failure) => return Outcome::Reply(self.fail(req, &failure)),
        };
        match (route.access, session) {
            (Access::Public, session) => self.forward(req, session, class, route.profile),
            (_, Some(s))
                if route
                    .min_level
                    .is_none_or(|min| s.record.level.is_some_and(|l| l >= min)) =>
            {
                self.forward(req, Some(s), class, route.profile)
            }
            (Access::Api, session) => Outcome::Reply(self.unauthorized(session.is_some())),
            // A browser asks for the icon by itself: a login page is no icon, and a login
            // started for it would count against the citizen.
            (Access::Browser, _) if req.path == "/favicon.ico" => {
                Outcome::Reply(Reply::text(StatusCode::NOT_FOUND, "not found\n"))
            }
            (Access::Browser, session) => {
                if let (Some(s), Some(min)) = (&session, route.min_level) {
                    self.step_up_required(req, s, min).await;
                }
                if session.is_none() {
                    if let Some(keep) = self.plan_keep(req, route) {
                        return keep;
                    }
                }
                let mut location = format!(
                    "{}/login?return_to={}",
                    self.cfg.server.prefix,
                    url::form_urlencoded::byte_serialize(req.path_and_query().as_bytes())
                        .collect::<String>()
                );
                if let Some(min) = route.min_level {
                    location.push_str("&level=");
                    location.push_str(min.eidas());
                }
                Outcome::Reply(Reply::redirect(&location))
            }
        }
    }

    /// Lets the request through, with the session's assertion for the route's profile
    /// (signed only when the cached one is due for renewal).
    fn forward(
        &self,
        req: &Request<'_>,
        session: Option<Arc<Session>>,
        class: RouteClass,
        profile: ProfileId,
    ) -> Outcome {
        let assertion = match &session {
            None => None,
            Some(s) => match s.assertion(profile, &self.signer, &self.cfg.headers, now()) {
                Ok(v) => Some(v),
                // A public page needs no identity: it passes without one.
                Err(e) if class == RouteClass::Public => {
                    tracing::error!(error = %e, "no identity assertion; public page sent without identity");
                    return Outcome::Forward(Forward {
                        session: None,
                        class,
                        profile,
                        assertion: None,
                    });
                }
                Err(e) => {
                    tracing::error!(error = %e, "no identity assertion; request not forwarded");
                    return Outcome::Reply(self.fail(req, &Failure::AssertionUnavailable));
                }
            },
        };
        Outcome::Forward(Forward {
            session,
            class,
            profile,
            assertion,
        })
    }

    /// Path of the logout hint cookie: the logout endpoint.
    fn logout_path(&self) -> String {
        format!("{}/logout", self.cfg.server.prefix)
    }

    /// `401` for API routes: no redirect a script could not follow.
    fn unauthorized(&self, level_too_low: bool) -> Reply {
        let (challenge, body) = if level_too_low {
            (
                "Bearer realm=\"guichet\", error=\"insufficient_user_authentication\"",
                serde_json::json!({"error": "insufficient_user_authentication", "login": format!("{}/login", self.cfg.server.prefix)}),
            )
        } else {
            (
                "Bearer realm=\"guichet\"",
                serde_json::json!({"error": "unauthenticated", "login": format!("{}/login", self.cfg.server.prefix)}),
            )
        };
        Reply::json(StatusCode::UNAUTHORIZED, &body).header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        )
    }

    /// The live session named by the request's cookie. Expired sessions are deleted here.
    pub async fn current_session(
        &self,
        req: &Request<'_>,
    ) -> Result<Option<Arc<Session>>, Failure> {
        let Some(key) = req
            .cookie(self.cookies.session)
            .and_then(SessionKey::from_cookie)
        else {
            return Ok(None);
        };
        let session = self
            .store
            .get(&key)
            .await
            .map_err(|e| self.store_failed(&e))?;
        let Some(session) = session else {
            return Ok(None);
        };
        let t = now();
        let s = &self.cfg.session;
        if let Some(why) = session.expired(t, s.idle_timeout, s.absolute_timeout) {
            let removed = self
                .store
                .remove(&key)
                .await
                .map_err(|e| self.store_failed(&e))?;
            if !removed {
                // Ended meanwhile by someone else (a sweep), who recorded it.
                return Ok(None);
            }
            self.metrics
                .sessions_expired
                .with_label_values(&[why.as_str()])
                .inc();
            let _ = self
                .audit
                .record(&session_event(
                    req,
                    &session,
                    "session_expired",
                    "success",
                    why.as_str(),
                ))
                .await;
            return Ok(None);
        }
        if session.touch(t, self.touch_interval) {
            self.store
                .touch(&key, &session)
                .await
                .map_err(|e| self.store_failed(&e))?;
        }
        Ok(Some(session))
    }

    fn store_failed(&self, e: &crate::session::StoreError) -> Failure {
        tracing::error!(error = %e, "session store error; failing closed");
        self.metrics.store_errors.inc();
        Failure::StoreUnavailable
    }

    /// A failure page in the request's language.
    pub fn fail(&self, req: &Request<'_>, failure: &Failure) -> Reply {
        self.pages
            .failure(failure, req.lang(), req.request_id, None)
    }

    /// A failure page that knows where the citizen was going: "log in again" resumes it.
    pub fn fail_on(&self, req: &Request<'_>, failure: &Failure, journey: &Journey) -> Reply {
        self.pages
            .failure(failure, req.lang(), req.request_id, Some(journey))
    }

    /// A session below the level a page asks for is sent to log in again (step-up): an
    /// evidence line and a metric say so.
    async fn step_up_required(&self, req: &Request<'_>, s: &Session, min: Level) {
        let mut e = session_event(req, s, "step_up", "required", "level_too_low");
        e.required_level = Some(min.eidas());
        let _ = self.audit.record(&e).await;
        self.metrics
            .step_ups
            .with_label_values(&[min.eidas(), "required"])
            .inc();
    }

    /// The `route` metrics label of a request guichet answered itself.
    pub fn route_class(&self, path: &str) -> RouteClass {
        crate::metrics::route_class(&self.cfg.server.prefix, path, || {
            match normalize_path(path) {
                Ok(p) => self.policy.route_for(&p).access.into(),
                Err(_) => RouteClass::Browser,
            }
        })
    }

    /// Does the gateway need this request's body? Only `POST`s to its own paths (the logout
    /// confirmation form, back-channel logout); every other body streams to the upstream.
    pub fn wants_body(&self, method: &Method, path: &str) -> bool {
        *method == Method::POST
            && path
                .strip_prefix(self.cfg.server.prefix.as_str())
                .is_some_and(|leaf| leaf.starts_with('/'))
    }

    async fn own_path(&self, leaf: &str, req: &Request<'_>) -> Reply {
        if req.body == Body::TooLarge {
            return Reply::text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n");
        }
        let reply = match leaf {
            "login" => self.login(req).await,
            "callback" => self.callback(req, leaf).await,
            _ if leaf.starts_with("callback/") => self.callback(req, leaf).await,
            "logout" => self.logout(req).await,
            "logged-out" => self.logged_out(req).await,
            "error" => self.error_page(req),
            "backchannel-logout" => self.backchannel_logout(req).await,
            "session" => self.session_info(req).await,
            "replay" => self.replay(req).await,
            "jwks.json" => Reply::json(StatusCode::OK, &self.jwks()),
            _ => match leaf.strip_prefix("assets/").and_then(crate::pages::asset) {
                Some(asset) => asset,
                None => self.fail(req, &Failure::NotFound),
            },
        };
        // The language switch (`?lang=`) is remembered for the rest of the journey.
        match req.lang_param() {
            Some(lang) if req.cookie(self.cookies.lang) != Some(lang.code()) => reply.set_cookie(
                cookies::set_for(self.cookies.lang, lang.code(), cookies::LANG_MAX_AGE),
            ),
            _ => reply,
        }
    }

    /// `GET /.guichet/error?page=KEY&...`: a failure page shown again (its language switch),
    /// without the request that failed: nothing is retried, counted or logged.
    fn error_page(&self, req: &Request<'_>) -> Reply {
        let param = |name: &'static str| req.param(name).ok().flatten();
        let failure = param("page").and_then(|key| {
            let wait = param("wait").and_then(|w| w.parse().ok());
            Failure::from_page(&key, param("code").as_deref(), wait)
        });
        let Some(failure) = failure else {
            return self.fail(req, &Failure::NotFound);
        };
        let reference = param("ref").filter(|r| crate::pages::is_reference(r));
        let journey = self.journey(req);
        self.pages
            .failure(&failure, req.lang(), reference.as_deref(), journey.as_ref())
    }

    /// The journey a request names (`return_to`, `level`), if it names one.
    fn journey(&self, req: &Request<'_>) -> Option<Journey> {
        let return_to = req.param("return_to").ok().flatten();
        let level = req
            .param("level")
            .ok()
            .flatten()
            .and_then(|l| Level::parse(&l));
        if return_to.is_none() && level.is_none() {
            return None;
        }
        Some(Journey {
            return_to: safe_return_to(return_to.as_deref(), &self.cfg.server.prefix).to_string(),
            level,
        })
    }

    async fn readiness(&self) -> Reply {
        let missing: Vec<&str> = self
            .providers
            .iter()
            .filter(|p| !p.is_ready())
            .map(|p| p.name())
            .collect();
        let store = self.store.ready().await;
        let upstream = self.upstream.is_resolved();
        if missing.is_empty() && store.is_ok() && upstream {
            Reply::json(StatusCode::OK, &serde_json::json!({"ready": true}))
        } else {
            Reply::json(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({
                    "ready": false,
                    "providers_not_ready": missing,
                    "store_ready": store.is_ok(),
                    "upstream_resolved": upstream,
                }),
            )
        }
    }
}

/// An evidence event about a session: its provider, `sub`, identity provider and level.
pub(crate) fn session_event<'a>(
    req: &Request<'a>,
    s: &'a Session,
    event: &'static str,
    outcome: &'static str,
    reason: &'a str,
) -> Event<'a> {
    let mut e = Event::of(req, event, outcome, reason);
    about(&mut e, &s.record);
    e
}

fn about<'a>(e: &mut Event<'a>, r: &'a SessionRecord) {
    e.provider = Some(&r.provider);
    e.sub = Some(r.identity.sub());
    e.idp_id = r.identity.get("idp_id");
    e.level = r.level.map(|l| l.eidas());
}

/// Where the session store reports what it does by itself (no request: no client address or
/// request id): sessions it ends (expiry found by a sweep: `session_expired`; the per-citizen
/// cap or a full memory store: `session_ended`) and sealed records it refuses
/// (`store_record_refused`, reason `KIND_WHY`), each an evidence line and a metric.
pub fn store_notices(audit: Arc<Audit>, metrics: Arc<Metrics>) -> Notices {
    Notices::new(move |n| match n {
        Notice::Ended(record, why) => {
            let mut e = Event::none(why.event(), "success", why.reason());
            about(&mut e, record);
            let _ = audit.record_now(&e);
            match why {
                EndReason::Expired(_) => &metrics.sessions_expired,
                _ => &metrics.sessions_ended,
            }
            .with_label_values(&[why.reason()])
            .inc();
        }
        Notice::Refused { kind, why } => {
            let reason = format!("{kind}_{why}");
            let _ = audit.record_now(&Event::none("store_record_refused", "failure", &reason));
            metrics.records_refused.with_label_values(&[kind]).inc();
        }
    })
}
