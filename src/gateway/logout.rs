//! RP-initiated logout (local session first, then the provider), the provider's return to
//! `/.guichet/logged-out`, and the session endpoint for the application's front end.
//!
//! Invariants (tests in `tests/logout.rs` unless noted):
//! - The local session is deleted in the store (so on every replica) before the browser is sent
//!   anywhere; if the store cannot delete it, the citizen gets an error page, not a false
//!   "logged out" (`tests/redis_sessions.rs::a_store_that_cannot_delete_gives_an_error_not_a_false_logout`).
//! - A logout only ever affects the session of the cookie it carries
//!   (`logout_ends_only_the_session_of_its_cookie`).
//! - No destination comes from the request: the browser goes to the provider's end-session
//!   endpoint (whose `post_logout_redirect_uri` is our own logged-out URL), to the configured
//!   `[pages] logged_out_url`, or to guichet's own page (`logout_is_never_an_open_redirect`).
//! - A logout the citizen did not start on this site (`Sec-Fetch-Site` cross-site or
//!   same-site, an `Origin` other than the public URL, a prefetch) changes nothing and shows a
//!   confirmation page whose button posts the logout from this origin
//!   (`cross_site_logout_asks_for_confirmation`). Legacy `GET` links from the application
//!   itself keep working (same-origin, or browsers that send no fetch metadata).
//! - `Origin: null` (what browsers send for a form on a page with `Referrer-Policy:
//!   no-referrer`, guichet's own confirmation included) is this site only when the browser
//!   says so (`Sec-Fetch-Site: same-origin`) or the form carries the session's logout token,
//!   compared in constant time; a foreign site can do neither
//!   (`an_opaque_origin_needs_the_browser_s_word_or_the_token`). The token is a hash of the
//!   session cookie ([`logout_token`]): per session, nothing stored, the same on every
//!   replica, and the cookie cannot be found from it.
//! - `/.guichet/logged-out` lands on the configured page only with a logout `state` guichet
//!   issued, and only once; without one (FranceConnect v1 sometimes drops it) or with an
//!   unknown one it shows guichet's own neutral page, and it never clears or deletes anything
//!   (`logged_out_checks_the_state_once`). While the browser's session is alive it says so
//!   and offers the logout button, never "you are logged out"
//!   (`the_logged_out_page_never_lies_about_a_live_session`); when the store cannot tell,
//!   the store-unavailable page, not "logged out" either.
//!
//! # Design notes, and the tests that guard each rule
//!
//! ## Life of a logout
//!
//! - RP-initiated (`gateway/logout.rs`): `GET`/`POST
//!   /.guichet/logout`. A request not started on this site (fetch metadata, `Origin`, prefetch)
//!   gets a confirmation page and nothing else; `Origin: null` (forms on no-referrer pages,
//!   guichet's own) counts as this site only with `Sec-Fetch-Site: same-origin` or the
//!   session's logout token (a hash of the cookie, in the confirmation form). Otherwise the
//!   cookie's session is read, deleted
//!   from the store, the cookie cleared, and the browser sent to the provider's end-session
//!   endpoint with `id_token_hint`, a fresh `state` (stored like a login state, flagged
//!   `logout`) and `post_logout_redirect_uri` = our `logged-out`: a redirect, or for a form
//!   (`POST`) a page that moves on by itself (`meta refresh`), as browsers block a form's
//!   redirects outside `form-action 'self'`. `logged-out` takes the state
//!   once: valid, it lands on `[pages] logged_out_url`; missing or unknown, guichet's own page;
//!   with a live session, a page saying so (never "logged out").
//! - Back-channel (`gateway/backchannel.rs`): the provider POSTs
//!   `logout_token`; `proxy` reads the (bounded) body of `POST`s to guichet's own paths into
//!   [`web::Request::body`]. The provider is chosen by `iss` among those with
//!   `backchannel_logout = true`, the token verified by [`jws::verify`] plus the logout-token
//!   rules, its `jti` recorded in the store (`remember_once`), then the sessions found through
//!   the store's index deleted: provider + `sid` when the token has a `sid` (none found: nothing
//!   ends), provider + `sub` only when it has none (Back-Channel Logout 2.7).

use super::Gateway;
use crate::crypto;
use crate::pages::Failure;
use crate::session::cookies;
use crate::session::{now, LoginState, SessionKey};
use crate::web::{Reply, Request};
use http::header::{self, HeaderValue};
use http::{Method, StatusCode};

impl Gateway {
    /// `GET` or `POST /.guichet/logout`.
    pub(super) async fn logout(&self, req: &Request<'_>) -> Reply {
        if *req.method != Method::GET && *req.method != Method::POST {
            return Reply::text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n")
                .header(header::ALLOW, HeaderValue::from_static("GET, POST"));
        }
        let cookie = req.cookie(self.cookies.session);
        let token = cookie.filter(|c| crypto::is_token(c)).map(logout_token);
        // `?confirm`: the confirmation page itself (its language switch), never a logout.
        let asked = *req.method == Method::GET && matches!(req.param("confirm"), Ok(Some(_)));
        let refused = if asked {
            Some("confirmation_page")
        } else {
            self.not_from_this_site(req, token.as_deref())
        };
        if let Some(why) = refused {
            tracing::info!(
                why,
                "logout request not started on this site; asking to confirm"
            );
            return self.pages.logout_confirm(req.lang(), token.as_deref());
        }
        let key = cookie.and_then(SessionKey::from_cookie);
        let session = match key {
            Some(k) => match self.store.get(&k).await {
                Ok(s) => s,
                Err(e) => return self.fail(req, &self.store_failed(&e)),
            },
            None => None,
        };
        if let Some(k) = &key {
            if let Err(e) = self.store.remove(k).await {
                return self.fail(req, &self.store_failed(&e));
            }
        }
        let clear = cookies::clear(self.cookies.session);
        let clear_hint = cookies::clear_at(self.cookies.logout, &self.logout_path());
        let Some(session) = session else {
            return self
                .after_logout(req)
                .set_cookie(clear)
                .set_cookie(clear_hint);
        };
        let record = &session.record;
        self.metrics
            .logouts
            .with_label_values(&["rp_initiated"])
            .inc();
        // A lost line is counted and logged by the evidence log; the logout stands.
        let _ = self
            .audit
            .record(&super::session_event(
                req,
                &session,
                "logout",
                "success",
                "rp_initiated",
            ))
            .await;
        // This replica closes the session's websockets at once; the others within
        // `upgraded::CHECK_EVERY`.
        if let Some(k) = &key {
            if self.upgraded.close_session(k) > 0 {
                self.metrics
                    .upgraded_closed
                    .with_label_values(&[crate::upgraded::Closed::Ended.as_str()])
                    .inc();
            }
        }
        let end_session = self
            .provider(&record.provider)
            .and_then(|p| p.endpoints())
            .and_then(|e| e.end_session.clone());
        // The id_token for the hint: in the record (Redis), or sealed in the logout cookie
        // (memory store), which only opens for this session.
        let hint = if record.id_token.is_empty() {
            match (&self.hints, &key, req.cookie(self.cookies.logout)) {
                (Some(sealer), Some(k), Some(c)) => sealer.open(k, c),
                _ => None,
            }
        } else {
            Some(record.id_token.expose().into_owned())
        };
        let (Some(end_session), Some(hint)) = (end_session, hint) else {
            // No end-session endpoint, or no id_token to name the session there (a browser
            // that lost the logout cookie): the local logout is all there is.
            return self
                .after_logout(req)
                .set_cookie(clear)
                .set_cookie(clear_hint);
        };
        let state = crypto::random_hex32();
        let pending = LoginState {
            provider: record.provider.clone(),
            nonce: String::new(),
            pkce_verifier: None,
            return_to: String::new(),
            level: None,
            binding: String::new(),
            created_at: now(),
            logout: true,
            step_up: false,
            form: None,
        };
        if let Err(e) = self.store.put_login(&state, pending).await {
            // The local session is already gone; the provider's logout is best effort.
            tracing::warn!(error = %e, "cannot store the logout state; skipping provider logout");
            return self
                .after_logout(req)
                .set_cookie(clear)
                .set_cookie(clear_hint);
        }
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("id_token_hint", &hint)
            .append_pair("state", &state)
            .append_pair(
                "post_logout_redirect_uri",
                &self.cfg.server.own_url("logged-out"),
            )
            .finish();
        let sep = if end_session.contains('?') { '&' } else { '?' };
        let to = format!("{end_session}{sep}{query}");
        let provider = self
            .provider(&record.provider)
            .map(|p| p.cfg.display_name.as_str());
        self.leave(req, &to, provider)
            .set_cookie(clear)
            .set_cookie(clear_hint)
    }

    /// Why this logout request may not be the citizen's own action on this site, if so.
    /// `token`: the logout token of the request's session cookie, if it has one.
    fn not_from_this_site(&self, req: &Request<'_>, token: Option<&str>) -> Option<&'static str> {
        let purpose = req.header("sec-purpose").or_else(|| req.header("purpose"));
        if purpose.is_some_and(|p| p.contains("prefetch") || p.contains("prerender")) {
            return Some("prefetch");
        }
        let site = req.header("sec-fetch-site");
        match site {
            // `none`: typed in the address bar, a bookmark.
            None | Some("same-origin") | Some("none") => {}
            Some(_) => return Some("cross_site"),
        }
        match req.header("origin") {
            None => None,
            Some(origin) if origin == self.cfg.server.public_url => None,
            // A page without a referrer (guichet's own, or the application's with
            // `no-referrer`) posts with an opaque origin: this site only if the browser says
            // so, or if the form carries the session's token.
            Some("null") if site == Some("same-origin") => None,
            Some("null") if form_token_matches(req, token) => None,
            Some("null") => Some("opaque_origin"),
            Some(_) => Some("foreign_origin"),
        }
    }

    /// Where a logout ends when the provider is not involved: the configured page, or
    /// guichet's own.
    fn after_logout(&self, req: &Request<'_>) -> Reply {
        match &self.cfg.pages.logged_out_url {
            Some(url) => self.leave(req, url, None),
            None => Reply::redirect(&format!("{}/logged-out", self.cfg.server.prefix)),
        }
    }

    /// Sends the browser on after a logout: a redirect, except for a form (`POST`) leaving
    /// this origin. A browser checks the form's page's `form-action 'self'` against every
    /// redirect of the form's navigation, so a redirect to the provider would be blocked
    /// and the citizen left on the confirmation page: they get a page that moves on by
    /// itself (`meta refresh`, no script) with a link, and the navigation that leaves is
    /// not the form's (`a_confirmed_logout_leaves_for_the_provider_without_a_form_redirect`).
    fn leave(&self, req: &Request<'_>, to: &str, provider: Option<&str>) -> Reply {
        let same_origin = to.starts_with('/') && !to.starts_with("//");
        if *req.method == Method::POST && !same_origin {
            self.pages.leaving(req.lang(), to, provider)
        } else {
            Reply::redirect(to)
        }
    }

    /// `GET /.guichet/logged-out?state=...`: where the provider sends the browser back.
    pub(super) async fn logged_out(&self, req: &Request<'_>) -> Reply {
        // Anyone can link here: with a live session, the page says so (never "logged out").
        match self.current_session(req).await {
            Ok(Some(_)) => {
                let token = req
                    .cookie(self.cookies.session)
                    .filter(|c| crypto::is_token(c))
                    .map(logout_token);
                return self.pages.still_logged_in(req.lang(), token.as_deref());
            }
            Ok(None) => {}
            Err(failure) => return self.fail(req, &failure),
        }
        let state = req
            .param("state")
            .ok()
            .flatten()
            .filter(|s| crypto::is_hex(s, 64));
        let verified = match &state {
            Some(s) => match self.store.take_login(s).await {
                Ok(Some(l)) if l.logout => true,
                Ok(_) => {
                    tracing::info!("logged-out reached with an unknown or already used state");
                    false
                }
                Err(e) => {
                    self.store_failed(&e);
                    false
                }
            },
            None => {
                tracing::info!("logged-out reached without a state (FranceConnect v1 does this)");
                false
            }
        };
        match &self.cfg.pages.logged_out_url {
            Some(url) if verified => Reply::redirect(url),
            _ => self.pages.logged_out(req.lang()),
        }
    }

    /// `GET /.guichet/session`: the current session for the application's front end (no
    /// token, no personal data beyond the pseudonymous `sub`).
    pub(super) async fn session_info(&self, req: &Request<'_>) -> Reply {
        let session = match self.current_session(req).await {
            Ok(s) => s,
            Err(f @ Failure::StoreUnavailable) => {
                return Reply::json(
                    f.status(),
                    &serde_json::json!({"error": "session_store_unavailable"}),
                )
            }
            Err(f) => return self.fail(req, &f),
        };
        let Some(s) = session else {
            return Reply::json(StatusCode::OK, &serde_json::json!({"authenticated": false}));
        };
        let cfg = &self.cfg.session;
        let r = &s.record;
        Reply::json(
            StatusCode::OK,
            &serde_json::json!({
                "authenticated": true,
                "provider": r.provider,
                "level": r.level.map(|l| l.eidas()),
                "acr": r.identity.get("acr"),
                "idp_id": r.identity.get("idp_id"),
                "created_at": r.created_at,
                "idle_expires_at": s.last_seen() + cfg.idle_timeout.as_secs(),
                "absolute_expires_at": r.created_at + cfg.absolute_timeout.as_secs(),
            }),
        )
    }
}

/// The logout token of a session cookie: what guichet's logout forms carry to prove they are
/// its own. A hash of the cookie (256 random bits, `HttpOnly`, never in a page) under a label
/// of its own: per session, the same on every replica, and no way back to the cookie.
pub(crate) fn logout_token(cookie: &str) -> String {
    let mut input = b"guichet logout confirmation\0".to_vec();
    input.extend_from_slice(cookie.as_bytes());
    hex::encode(&crypto::sha256(&input)[..16])
}

/// Does the form's `token` field match the session's logout token (constant time)?
fn form_token_matches(req: &Request<'_>, token: Option<&str>) -> bool {
    match (req.form_field("token"), token) {
        (Some(sent), Some(expected)) => {
            crypto::constant_time_eq(sent.as_bytes(), expected.as_bytes())
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logout_tokens_are_per_cookie_and_do_not_show_the_cookie() {
        let (a, b) = (crypto::random_token(), crypto::random_token());
        assert_eq!(logout_token(&a), logout_token(&a));
        assert_ne!(logout_token(&a), logout_token(&b));
        assert_eq!(logout_token(&a).len(), 32);
        assert!(!logout_token(&a).contains(&a[..8]));
    }
}
