//! Forms kept across a login (`preserve_post`, R28; the plain functions are in
//! [`crate::forms`], the page in `pages/replay.rs`).
//!
//! 1. A `POST` to a browser route finds no live session: if the route keeps forms, the body
//!    is a form (`application/x-www-form-urlencoded`, `multipart/form-data`) and the request
//!    comes from this site ([`forms::same_origin`]), [`Gateway::handle`] answers
//!    [`Outcome::KeepForm`]; `proxy` reads the whole body (at most
//!    `[session] preserve_post_max_bytes`, nothing forwarded) and calls [`Gateway::keep_form`].
//! 2. The form is stored like a login state, under [`form_key`] of a random id, with the hash
//!    of the browser's pre-auth cookie and the browser's author mark; `303` to
//!    `/.guichet/login?return_to=PATH&form=ID`. The login state carries the id.
//! 3. A successful callback takes the form, checks it was posted by this browser (its pre-auth
//!    cookie), stores it again under a new id bound to the new session
//!    ([`Gateway::hand_form_to_session`]) and sends the browser to `/.guichet/replay?form=NEW`
//!    instead of `return_to`; [`Gateway::replay`] *takes* it (once, on any replica) and serves
//!    the page that posts it again.
//!
//! Invariants (tests in `tests/preserve_post.rs`):
//! - A form is replayed at most once (`take_login`), only in the browser that posted it and
//!   only with the session made by the login that carried it (whatever else this or another
//!   browser holds), never after `login_timeout` from the post, and only if the citizen who
//!   logged in is the one the browser's author mark names (when it names someone).
//! - `api` routes, other routes with `preserve_post = false`, other content types, posts
//!   from other sites, and `preserve_post_max_bytes = 0` behave as without this feature.
//! - Nothing of a form reaches a log line or a metric label; a body over the limit is never
//!   forwarded, half or whole.
//!
//! # Design notes, and the tests that guard each rule
//!
//! ## Life of a form kept across a login (issue 19)
//!
//! 1. A `POST` to a browser route finds no live session ([`Gateway::handle`]). If the route has
//!    `preserve_post` (the default), `[session] preserve_post_max_bytes` is not 0, the body is
//!    `application/x-www-form-urlencoded` or `multipart/form-data` and the request comes from
//!    this site (`forms::same_origin`: `Sec-Fetch-Site: same-origin`, or
//!    without it `Origin` = the public URL), the gateway answers `Outcome::KeepForm`; otherwise
//!    the usual redirect (or 401 on `api` routes).
//! 2. `proxy` reads the whole body, bounded in size and time, and calls
//!    `Gateway::keep_form`: the fields are parsed in order
//!    ([`forms::parse`]), refused with a page when they could not be sent back exactly or the
//!    body is over the limit, else stored like a login state under `form:<random id>` with the
//!    hash of the browser's pre-auth cookie and its author mark (cookie `guichet-author`,
//!    [`forms::author`]: who logged in on this browser last); `303` to
//!    `/.guichet/login?return_to=PATH&form=ID` (counted as a login start).
//! 3. The login carries the id (`LoginState::form`, the chooser's links too). The callback, once
//!    the session exists, takes the form, checks the pre-auth cookie, stores it again under a new
//!    id bound to the hash of the new session cookie (`hand_form_to_session`), and sends the
//!    browser to `/.guichet/replay?form=NEW` instead of `return_to`.
//! 4. `/.guichet/replay` takes the form (once, any replica), checks the session cookie is the one
//!    it was handed to, `login_timeout` from the post, and the author mark against the new
//!    session's provider and `sub`; it serves `Pages::replay`: hidden
//!    inputs in order, file inputs filled by the page's nonce script, which submits at once. The
//!    browser's POST then goes through step 1 with a live session: an ordinary forward.

use super::{Gateway, Outcome};
use crate::config::Route;
use crate::crypto;
use crate::forms::{self, author, KeptForm};
use crate::pages::Failure;
use crate::policy::safe_return_to;
use crate::session::{cookies, form_key, now, FormLink, LoginState};
use crate::throttle::Kind;
use crate::vocab::Level;
use crate::web::{Body, Reply, Request};
use http::{Method, StatusCode};

/// What `proxy` must do for a form to be kept: read the body, at most `limit` bytes, then
/// call [`Gateway::keep_form`] with this plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormPlan {
    pub limit: usize,
    /// The level the route asks for (the login is asked at that level).
    level: Option<Level>,
}

impl Gateway {
    /// Should this request's form be kept across a login? Called for a browser route without
    /// a session; `None`: the usual redirect to login.
    pub(super) fn plan_keep(&self, req: &Request<'_>, route: &Route) -> Option<Outcome> {
        let limit = self.cfg.session.preserve_post_max_bytes;
        if *req.method != Method::POST || !route.preserve_post || limit == 0 {
            return None;
        }
        forms::Encoding::of(req.header("content-type")?)?;
        if let Err(why) = forms::same_origin(req.headers, &self.cfg.server.public_url) {
            tracing::info!(
                why,
                request_id = req.request_id,
                "form posted without a session from elsewhere: not kept"
            );
            self.count_form("not_same_origin");
            return None;
        }
        Some(Outcome::KeepForm(FormPlan {
            limit,
            level: route.min_level,
        }))
    }

    /// Keeps the form whose body `proxy` read, and sends the browser to log in.
    pub async fn keep_form(&self, req: &Request<'_>, plan: FormPlan) -> Reply {
        let body = match req.body {
            Body::Read(b) => b,
            Body::TooLarge => {
                tracing::info!(
                    request_id = req.request_id,
                    "form posted without a session is over preserve_post_max_bytes: not kept"
                );
                self.count_form("too_large");
                return self.fail(req, &Failure::FormTooLarge);
            }
            Body::None => &[],
        };
        let content_type = req.header("content-type").unwrap_or_default();
        let action = req.path_and_query();
        let parsed = forms::parse(content_type, body).and_then(|p| {
            if safe_return_to(Some(&action), &self.cfg.server.prefix) == action {
                Ok(p)
            } else {
                Err(forms::FormError::Malformed("target"))
            }
        });
        let (encoding, fields) = match parsed {
            Ok(p) => p,
            Err(e) => {
                tracing::info!(reason = %e, request_id = req.request_id, "form posted without a session cannot be kept");
                self.count_form("not_kept");
                return self.fail(req, &Failure::FormNotKept);
            }
        };
        // A kept form leads to a login: it counts like one.
        if let Some(refused) = self.throttle(req, Kind::LoginStart).await {
            return refused;
        }
        let binding = match req.cookie(self.cookies.login) {
            Some(b) if crypto::is_token(b) => b.to_string(),
            _ => crypto::random_token(),
        };
        let form = KeptForm {
            action: action.clone(),
            encoding,
            fields,
            author: req
                .cookie(self.cookies.author)
                .filter(|m| author::well_formed(m))
                .map(String::from),
        };
        let id = crypto::random_hex32();
        let record = LoginState {
            provider: String::new(),
            nonce: String::new(),
            pkce_verifier: None,
            return_to: action.clone(),
            level: None,
            binding: crypto::sha256_hex(binding.as_bytes()),
            created_at: now(),
            logout: false,
            step_up: false,
            form: Some(FormLink::Kept(Box::new(form))),
        };
        if let Err(e) = self.store.put_login(&form_key(&id), record).await {
            return self.fail(req, &self.store_failed(&e));
        }
        self.count_form("kept");
        tracing::info!(
            request_id = req.request_id,
            "form posted without a session kept across the login"
        );
        let mut location = url::form_urlencoded::Serializer::new(String::new());
        location
            .append_pair("return_to", &action)
            .append_pair("form", &id);
        if let Some(level) = plan.level {
            location.append_pair("level", level.eidas());
        }
        let mut reply = Reply::redirect(&format!(
            "{}/login?{}",
            self.cfg.server.prefix,
            location.finish()
        ))
        .set_cookie(cookies::set_for(
            self.cookies.login,
            &binding,
            self.cfg.session.login_timeout,
        ));
        // The browser follows with a GET.
        reply.status = StatusCode::SEE_OTHER;
        reply
    }

    /// At the end of a login that carries the kept form `id`: the form is taken and stored
    /// again under a new id, bound to the new session (the hash of its cookie) instead of the
    /// pre-auth cookie, so that only the session this very login made can open its replay
    /// page. Returns where the browser goes next: the replay page (which explains when the
    /// form is gone).
    pub(super) async fn hand_form_to_session(
        &self,
        id: &str,
        login: &LoginState,
        session_token: &str,
    ) -> String {
        let replay = |id: &str| format!("{}/replay?form={id}", self.cfg.server.prefix);
        let mut record = match self.store.take_login(&form_key(id)).await {
            Ok(Some(r)) if r.kept_form().is_some() => r,
            Ok(_) => return replay(id),
            Err(e) => {
                self.store_failed(&e);
                return replay(id);
            }
        };
        // The form was posted by the browser that made this login (same pre-auth cookie).
        if !crypto::constant_time_eq(record.binding.as_bytes(), login.binding.as_bytes()) {
            tracing::info!("kept form named by a login from another browser: dropped");
            return replay(id);
        }
        record.binding = crypto::sha256_hex(session_token.as_bytes());
        let new_id = crypto::random_hex32();
        if let Err(e) = self.store.put_login(&form_key(&new_id), record).await {
            self.store_failed(&e);
            return replay(id);
        }
        replay(&new_id)
    }

    /// `GET /.guichet/replay?form=ID`: the page that posts a kept form again, once.
    pub(super) async fn replay(&self, req: &Request<'_>) -> Reply {
        if *req.method != Method::GET {
            return Reply::text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n")
                .header(http::header::ALLOW, http::HeaderValue::from_static("GET"));
        }
        let id = match req.param("form") {
            Ok(Some(id)) if crypto::is_hex(&id, 64) => id,
            _ => return self.fail(req, &Failure::InvalidRequest("form")),
        };
        // Taken: whatever happens next, it is never shown again.
        let record = match self.store.take_login(&form_key(&id)).await {
            Ok(r) => r,
            Err(e) => return self.fail(req, &self.store_failed(&e)),
        };
        let gone = |why: &'static str| {
            tracing::info!(why, request_id = req.request_id, "kept form not replayed");
            self.count_form("gone");
            self.fail(req, &Failure::FormGone)
        };
        let Some(record) = record else {
            return gone("unknown_or_already_shown");
        };
        let Some(form) = record.kept_form() else {
            return gone("not_a_form");
        };
        if now()
            >= record
                .created_at
                .saturating_add(self.cfg.session.login_timeout.as_secs())
        {
            return gone("expired");
        }
        // Only the session made by the login that carried the form (see
        // `hand_form_to_session`): another browser, or this one before that login, gets none.
        let own_session = req.cookie(self.cookies.session).is_some_and(|c| {
            crypto::constant_time_eq(
                crypto::sha256_hex(c.as_bytes()).as_bytes(),
                record.binding.as_bytes(),
            )
        });
        if !own_session {
            return gone("not_the_session_of_its_login");
        }
        let session = match self.current_session(req).await {
            Ok(Some(s)) => s,
            Ok(None) => return gone("no_session"),
            Err(failure) => return self.fail(req, &failure),
        };
        let r = &session.record;
        if let Some(mark) = &form.author {
            if !author::matches(
                mark,
                &self.cfg.server.public_url,
                &r.provider,
                r.identity.sub(),
            ) {
                tracing::info!(
                    request_id = req.request_id,
                    "kept form not replayed: another citizen logged in"
                );
                self.count_form("other_citizen");
                return self.fail(req, &Failure::FormOtherCitizen);
            }
        }
        self.count_form("replayed");
        let nonce = crypto::random_token();
        self.pages.replay(req.lang(), form, &nonce)
    }

    /// The author mark cookie for a citizen who just logged in ([`forms::author`]).
    pub(super) fn author_cookie(&self, provider: &str, sub: &str) -> String {
        cookies::set_for(
            self.cookies.author,
            &author::mark(&self.cfg.server.public_url, provider, sub),
            self.cfg.session.absolute_timeout,
        )
    }

    fn count_form(&self, outcome: &str) {
        self.metrics.kept_forms.with_label_values(&[outcome]).inc();
    }
}
