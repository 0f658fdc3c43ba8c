//! Logout (RP-initiated: local session first, then the provider) and the session endpoint
//! for the application's front end.
//!
//! Invariant: the local session is deleted before the browser is sent anywhere; if the
//! store cannot delete it, the citizen gets an error page, not a false "logged out".

use super::Gateway;
use crate::audit::Event;
use crate::crypto;
use crate::pages::Failure;
use crate::session::cookies;
use crate::session::{now, LoginState, SessionKey};
use crate::web::{Reply, Request};
use http::StatusCode;

impl Gateway {
    /// `GET` or `POST /.guichet/logout`.
    pub(super) async fn logout(&self, req: &Request<'_>) -> Reply {
        let key = req
            .cookie(self.cookies.session)
            .and_then(SessionKey::from_cookie);
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
        let logged_out = self.cfg.server.own_url("logged-out");
        let Some(session) = session else {
            return Reply::redirect(&logged_out).set_cookie(clear);
        };
        let record = &session.record;
        self.metrics
            .logouts
            .with_label_values(&["rp_initiated"])
            .inc();
        self.audit.record(&Event {
            event: "logout",
            outcome: "success",
            reason: "rp_initiated",
            provider: Some(&record.provider),
            sub: Some(record.identity.sub()),
            idp_id: record.identity.get("idp_id"),
            level: record.level.map(|l| l.eidas()),
            client_ip: req.client_ip,
        });
        let end_session = self
            .provider(&record.provider)
            .and_then(|p| p.endpoints())
            .and_then(|e| e.end_session.clone());
        let Some(end_session) = end_session else {
            return Reply::redirect(&logged_out).set_cookie(clear);
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
        };
        if let Err(e) = self.store.put_login(&state, pending).await {
            // The local session is already gone; the provider's logout is best effort.
            tracing::warn!(error = %e, "cannot store the logout state; skipping provider logout");
            return Reply::redirect(&logged_out).set_cookie(clear);
        }
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("id_token_hint", &record.id_token)
            .append_pair("state", &state)
            .append_pair("post_logout_redirect_uri", &logged_out)
            .finish();
        let sep = if end_session.contains('?') { '&' } else { '?' };
        Reply::redirect(&format!("{end_session}{sep}{query}")).set_cookie(clear)
    }

    /// `GET /.guichet/logged-out?state=...`: where the provider sends the browser back.
    pub(super) async fn logged_out(&self, req: &Request<'_>) -> Reply {
        let state = req
            .param("state")
            .ok()
            .flatten()
            .filter(|s| crypto::is_hex(s, 64));
        let known = match state {
            Some(ref s) => matches!(self.store.take_login(s).await, Ok(Some(l)) if l.logout),
            None => false,
        };
        if !known && state.is_some() {
            tracing::info!("logged-out reached with an unknown state");
        }
        self.pages
            .logged_out(req.lang())
            .set_cookie(cookies::clear(self.cookies.session))
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
