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

mod backchannel;
mod login;
mod logout;
mod throttling;

use crate::assertion::Signer;
use crate::audit::{Audit, Event};
use crate::config::Config;
use crate::config::StoreKind;
use crate::identity::headers::ProfileId;
use crate::metrics::Metrics;
use crate::oidc::Provider;
use crate::pages::{Failure, Pages};
use crate::policy::{normalize_path, Access, Policy};
use crate::session::cookies::CookieNames;
use crate::session::logout_hint::HintSealer;
use crate::session::{now, touch_interval, Session, SessionBuilder, SessionKey, SessionStore};
use crate::throttle::Throttle;
use crate::web::{Body, Reply, Request};
use http::header::{self, HeaderValue};
use http::{Method, StatusCode};
use std::sync::Arc;
use std::time::Duration;

/// What to do with a request.
pub enum Outcome {
    /// guichet answers by itself.
    Reply(Reply),
    /// Send it to the upstream.
    Forward(Forward),
}

/// A request allowed through, with the session whose identity it carries (if any).
pub struct Forward {
    pub session: Option<Arc<Session>>,
    /// Route class, for metrics: `browser`, `api`, `public`.
    pub class: &'static str,
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
    pub cfg: Arc<Config>,
    pub providers: Vec<Arc<Provider>>,
    pub store: Arc<dyn SessionStore>,
    /// Makes a live session (with its derived data) from a record.
    pub sessions: SessionBuilder,
    pub policy: Policy,
    pub cookies: CookieNames,
    pub pages: Pages,
    pub metrics: Arc<Metrics>,
    pub audit: Arc<Audit>,
    /// Signs the identity assertions.
    pub signer: Arc<Signer>,
    /// Login starts and failed callbacks per client address (`[rate_limit]`).
    pub throttle: Throttle,
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
        let hints = matches!(cfg.session.store, StoreKind::Memory).then(HintSealer::new);
        Gateway {
            hints,
            policy: Policy::new(&cfg.routes),
            cookies: CookieNames::new(cfg.server.https),
            pages: Pages::new(&cfg.pages, &cfg.server.prefix),
            throttle: Throttle::new(&cfg.rate_limit),
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
        let path = match normalize_path(req.path) {
            Ok(p) => p,
            Err(e) => {
                tracing::info!(reason = %e, "request path refused");
                return Outcome::Reply(self.fail(req, &Failure::PathRefused));
            }
        };
        let route = self.policy.route_for(&path);
        let class = match route.access {
            Access::Browser => "browser",
            Access::Api => "api",
            Access::Public => "public",
        };
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
            (Access::Browser, session) => {
                if let (Some(s), Some(min)) = (&session, route.min_level) {
                    self.step_up_required(req, s, min);
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
        class: &'static str,
        profile: ProfileId,
    ) -> Outcome {
        let assertion = match &session {
            None => None,
            Some(s) => match s.assertion(profile, &self.signer, &self.cfg.headers, now()) {
                Ok(v) => Some(v),
                // A public page needs no identity: it passes without one.
                Err(e) if class == "public" => {
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
            self.store
                .remove(&key)
                .await
                .map_err(|e| self.store_failed(&e))?;
            self.metrics
                .sessions_expired
                .with_label_values(&[why.as_str()])
                .inc();
            self.audit.record(&session_event(
                req,
                &session,
                "session_expired",
                "success",
                why.as_str(),
            ));
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
        self.pages.failure(failure, req.lang(), req.request_id)
    }

    /// A session below the level a page asks for is sent to log in again (step-up): an
    /// evidence line and a metric say so.
    fn step_up_required(&self, req: &Request<'_>, s: &Session, min: crate::policy::Level) {
        let mut e = session_event(req, s, "step_up", "required", "level_too_low");
        e.required_level = Some(min.eidas());
        self.audit.record(&e);
        self.metrics
            .step_ups
            .with_label_values(&[min.eidas(), "required"])
            .inc();
    }

    /// The `route` metrics label of a request guichet answered itself.
    pub fn route_class(&self, path: &str) -> &'static str {
        crate::metrics::route_class(&self.cfg.server.prefix, path, || {
            match normalize_path(path) {
                Ok(p) => match self.policy.route_for(&p).access {
                    Access::Browser => "browser",
                    Access::Api => "api",
                    Access::Public => "public",
                },
                Err(_) => "browser",
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
        match leaf {
            "login" => self.login(req).await,
            "callback" => self.callback(req).await,
            "logout" => self.logout(req).await,
            "logged-out" => self.logged_out(req).await,
            "backchannel-logout" => self.backchannel_logout(req).await,
            "session" => self.session_info(req).await,
            "jwks.json" => Reply::json(StatusCode::OK, &self.jwks()),
            _ => self.fail(req, &Failure::NotFound),
        }
    }

    async fn readiness(&self) -> Reply {
        let missing: Vec<&str> = self
            .providers
            .iter()
            .filter(|p| !p.is_ready())
            .map(|p| p.name())
            .collect();
        let store = self.store.ready().await;
        if missing.is_empty() && store.is_ok() {
            Reply::json(StatusCode::OK, &serde_json::json!({"ready": true}))
        } else {
            Reply::json(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({
                    "ready": false,
                    "providers_not_ready": missing,
                    "store_ready": store.is_ok(),
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
    let r = &s.record;
    let mut e = Event::of(req, event, outcome, reason);
    e.provider = Some(&r.provider);
    e.sub = Some(r.identity.sub());
    e.idp_id = r.identity.get("idp_id");
    e.level = r.level.map(|l| l.eidas());
    e
}
