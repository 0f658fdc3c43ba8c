//! A login, from `/.guichet/login` to the provider and back to `/.guichet/callback`.
//!
//! Invariants:
//! - A login asking for a level (step-up) only goes to a provider whose `acr_levels` reach it;
//!   when none can, the citizen gets a page saying so, not a provider error
//!   (`tests/providers.rs::step_up_*`). The id_token's `acr` must prove at least that level.
//! - `state` and `nonce` are 256-bit CSPRNG values; the `state` is stored with a hash of the
//!   browser's pre-auth cookie and taken (deleted) by the first callback that names it.
//! - A session is created only after the code exchange, the full id_token validation, the
//!   userinfo `sub` check, the identity status (MConnect) and the claim whitelist all pass;
//!   it gets a fresh id, and the session the browser had before (if any) is deleted.
//! - The session keeps the *signed* id_token for logout: for FranceConnect+ the JWS found inside
//!   the JWE, never the JWE itself.

use super::Gateway;
use crate::audit::Event;
use crate::crypto;
use crate::identity::{status, Identity};
use crate::oidc::flow::{sanitize_error_code, AuthorizeRequest};
use crate::oidc::jws::{self, Expect, TokenError};
use crate::oidc::{acr, jwe, OidcError, Provider};
use crate::pages::{from_provider_error, ChooserEntry, Failure};
use crate::policy::{safe_return_to, Level};
use crate::session::cookies;
use crate::session::{now, IdToken, LoginState, SessionKey, SessionRecord};
use crate::throttle::Kind;
use crate::web::{Reply, Request};
use serde_json::{Map, Value};
use std::sync::Arc;

/// A successful login, ready to become a session.
struct Verified {
    identity: Identity,
    level: Option<Level>,
    /// The signed id_token (decrypted when it came as a JWE), for `id_token_hint`.
    id_token: String,
    sid: Option<String>,
}

/// What is known about a login when it ends: for the metrics and the evidence log.
#[derive(Debug, Default, Clone, Copy)]
struct Attempt<'a> {
    provider: Option<&'a str>,
    /// The level asked for.
    level: Option<Level>,
    step_up: bool,
}

impl<'a> Attempt<'a> {
    fn of(login: &'a LoginState) -> Attempt<'a> {
        Attempt {
            provider: Some(&login.provider),
            level: login.level,
            step_up: login.step_up,
        }
    }
}

/// Can this provider prove `level` (any provider can when no level is asked)?
fn can_reach(provider: &Provider, level: Option<Level>) -> bool {
    level.is_none_or(|l| provider.cfg.max_level().is_some_and(|m| m >= l))
}

impl Gateway {
    /// `GET /.guichet/login?return_to=/path&provider=NAME&level=eidasN&login_hint=...`
    pub(super) async fn login(&self, req: &Request<'_>) -> Reply {
        if let Some(refused) = self.refuse_if_blocked(req) {
            return refused;
        }
        let (return_to, provider, level, hint) = match (
            req.param("return_to"),
            req.param("provider"),
            req.param("level"),
            req.param("login_hint"),
        ) {
            (Ok(r), Ok(p), Ok(l), Ok(h)) => (r, p, l, h),
            _ => return self.fail(req, &Failure::InvalidRequest("query")),
        };
        let return_to = safe_return_to(return_to.as_deref(), &self.cfg.server.prefix).to_string();
        let level = match level.as_deref().map(Level::parse) {
            None => None,
            Some(Some(l)) => Some(l),
            Some(None) => return self.fail(req, &Failure::InvalidRequest("level")),
        };
        let provider = match provider.as_deref() {
            Some(name) => match self.provider(name) {
                Some(p) => p,
                None => return self.fail(req, &Failure::UnknownProvider),
            },
            None => {
                let able: Vec<&Arc<Provider>> = self
                    .providers
                    .iter()
                    .filter(|p| can_reach(p, level))
                    .collect();
                match able.as_slice() {
                    [] => return self.level_unavailable(req, level),
                    [only] => *only,
                    _ => return self.chooser(req, &return_to, level, &able),
                }
            }
        };
        if !can_reach(provider, level) {
            return self.level_unavailable(req, level);
        }
        let hint =
            hint.filter(|h| !h.is_empty() && h.len() <= 256 && !h.chars().any(char::is_control));
        let Some(endpoints) = provider.endpoints() else {
            return self.fail(req, &Failure::ProviderUnavailable);
        };

        let state = crypto::random_hex32();
        let nonce = crypto::random_hex32();
        let (verifier, challenge) = if provider.wants_pkce(&endpoints) {
            let (v, c) = crypto::pkce_pair();
            (Some(v), Some(c))
        } else {
            (None, None)
        };
        // One binding cookie per browser, reused by concurrent logins in several tabs.
        let binding = match req.cookie(self.cookies.login) {
            Some(b) if crypto::is_token(b) => b.to_string(),
            _ => crypto::random_token(),
        };
        // The configured acr_values, unless a route asks for more: then the provider's acr
        // value(s) for the lowest level at or above the one asked (step-up).
        let default_level = provider.cfg.default_level();
        let requested = level.max(default_level);
        let acr_values = match level {
            Some(l) if default_level.is_none_or(|d| l > d) => provider.cfg.acr_for(l),
            _ => provider.cfg.acr_values.clone(),
        };
        if let Some(refused) = self.throttle(req, Kind::LoginStart).await {
            return refused;
        }
        let login = LoginState {
            provider: provider.name().to_string(),
            nonce: nonce.clone(),
            pkce_verifier: verifier,
            return_to,
            level: requested,
            binding: crypto::sha256_hex(binding.as_bytes()),
            created_at: now(),
            logout: false,
            step_up: level.is_some(),
        };
        if let Err(e) = self.store.put_login(&state, login).await {
            return self.fail(req, &self.store_failed(&e));
        }
        let redirect_uri = self.cfg.server.own_url("callback");
        let url = provider.authorize_url(
            &endpoints,
            &AuthorizeRequest {
                redirect_uri: &redirect_uri,
                state: &state,
                nonce: &nonce,
                acr_values: acr_values.as_deref(),
                code_challenge: challenge.as_deref(),
                login_hint: hint.as_deref(),
            },
        );
        self.metrics
            .logins_started
            .with_label_values(&[provider.name(), requested.map_or("none", |l| l.eidas())])
            .inc();
        Reply::redirect(&url).set_cookie(cookies::set_for(
            self.cookies.login,
            &binding,
            self.cfg.session.login_timeout,
        ))
    }

    fn chooser(
        &self,
        req: &Request<'_>,
        return_to: &str,
        level: Option<Level>,
        providers: &[&Arc<Provider>],
    ) -> Reply {
        let entries: Vec<ChooserEntry<'_>> = providers
            .iter()
            .map(|p| {
                let mut q = url::form_urlencoded::Serializer::new(String::new());
                q.append_pair("provider", p.name())
                    .append_pair("return_to", return_to);
                if let Some(l) = level {
                    q.append_pair("level", l.eidas());
                }
                ChooserEntry {
                    display_name: p.cfg.display_name.as_str(),
                    flavour: p.cfg.flavour,
                    href: format!("{}/login?{}", self.cfg.server.prefix, q.finish()),
                }
            })
            .collect();
        self.pages.chooser(req.lang(), &entries, level)
    }

    /// No configured provider can prove the level a page asks for.
    fn level_unavailable(&self, req: &Request<'_>, level: Option<Level>) -> Reply {
        tracing::info!(
            level = level.map(|l| l.eidas()),
            "no provider can reach the level asked for"
        );
        self.fail(req, &Failure::LevelUnavailable)
    }

    /// `GET /.guichet/callback?code=...&state=...` (or `?error=...&state=...`).
    pub(super) async fn callback(&self, req: &Request<'_>) -> Reply {
        if let Some(refused) = self.refuse_if_blocked(req) {
            return refused;
        }
        let none = Attempt::default();
        let (code, state, error) = match (req.param("code"), req.param("state"), req.param("error"))
        {
            (Ok(c), Ok(s), Ok(e)) => (c, s, e),
            _ => {
                return self
                    .login_failed(req, none, Failure::InvalidRequest("query"))
                    .await
            }
        };
        let state = state.filter(|s| crypto::is_hex(s, 64));
        if let Some(error) = error {
            // The provider refused (or the citizen cancelled): consume the state so it cannot
            // be used again, then explain. With a state guichet issued this is a genuine
            // answer to a login; without one it counts against the client.
            let login = match &state {
                Some(s) => self.store.take_login(s).await.ok().flatten(),
                None => None,
            };
            let failure = from_provider_error(&sanitize_error_code(&error));
            let attempt = login.as_ref().map_or(none, Attempt::of);
            let count = login.is_none();
            return self.login_failed_with(req, attempt, failure, count).await;
        }
        let Some(state) = state else {
            return self
                .login_failed(req, none, Failure::InvalidRequest("state"))
                .await;
        };
        let Some(code) = code.filter(|c| {
            !c.is_empty() && c.len() <= 1024 && c.bytes().all(|b| b.is_ascii_graphic())
        }) else {
            return self
                .login_failed(req, none, Failure::InvalidRequest("code"))
                .await;
        };
        let login = match self.store.take_login(&state).await {
            Ok(Some(l)) if !l.logout => l,
            Ok(_) => return self.login_failed(req, none, Failure::LoginExpired).await,
            Err(e) => return self.login_failed(req, none, self.store_failed(&e)).await,
        };
        let attempt = Attempt::of(&login);
        let bound = req.cookie(self.cookies.login).is_some_and(|b| {
            crypto::constant_time_eq(
                crypto::sha256_hex(b.as_bytes()).as_bytes(),
                login.binding.as_bytes(),
            )
        });
        if !bound {
            return self
                .login_failed(req, attempt, Failure::StateMismatch)
                .await;
        }
        let Some(provider) = self.provider(&login.provider).cloned() else {
            return self.login_failed(req, none, Failure::UnknownProvider).await;
        };
        // RFC 9207: a provider that names itself in the response must be the one we asked
        // (FranceConnect adds `iss`); a mismatch is a mix-up attack.
        match req.param("iss") {
            Ok(None) => {}
            Ok(Some(iss)) if iss.trim_end_matches('/') == provider.cfg.issuer => {}
            _ => {
                let f = Failure::Verification("response_wrong_issuer".into());
                return self.login_failed(req, attempt, f).await;
            }
        }
        let verified = match self.verify(&provider, &code, &login).await {
            Ok(v) => v,
            Err(e) => {
                let failure = match &e {
                    OidcError::Unavailable(why) => {
                        tracing::warn!(provider = provider.name(), error = %why, request_id = req.request_id, "provider unavailable during callback");
                        Failure::ProviderUnavailable
                    }
                    OidcError::Claims(_) => Failure::InvalidIdentity(e.reason()),
                    OidcError::IdentityNotActive => Failure::IdentityNotActive,
                    OidcError::IdToken(TokenError::Acr) => Failure::LevelTooLow,
                    _ => Failure::Verification(e.reason()),
                };
                tracing::warn!(provider = provider.name(), reason = %e.reason(), request_id = req.request_id, "login refused");
                return self.login_failed(req, attempt, failure).await;
            }
        };
        self.open_session(req, &provider, verified, &login).await
    }

    /// Code exchange, id_token, userinfo, claims: every check of a login.
    async fn verify(
        &self,
        provider: &Provider,
        code: &str,
        login: &LoginState,
    ) -> Result<Verified, OidcError> {
        let endpoints = provider
            .endpoints()
            .ok_or_else(|| OidcError::Unavailable("metadata not loaded".into()))?;
        let redirect_uri = self.cfg.server.own_url("callback");
        let timer = self.provider_timer(provider, "token");
        let (access_token, id_token) = provider
            .exchange_code(
                &endpoints,
                code,
                &redirect_uri,
                login.pkce_verifier.as_deref(),
            )
            .await?;
        timer.observe_duration();
        let t = now();
        let expect = Expect {
            require_times: true,
            require_aud: true,
            nonce: Some(&login.nonce),
            now: t,
        };
        // FranceConnect+: the id_token is a JWE around the signed token.
        let id_token = jwe::open(provider, &id_token).map_err(OidcError::IdToken)?;
        let id_claims = jws::verify(provider, &id_token, &expect)
            .await
            .map_err(OidcError::IdToken)?;
        let cfg = &provider.cfg;
        let level = acr::check_acr(
            &id_claims,
            login.level,
            cfg.acr_values.as_deref(),
            &cfg.acr_levels,
        )
        .map_err(OidcError::IdToken)?;
        let sub = id_claims
            .get("sub")
            .and_then(Value::as_str)
            .ok_or(OidcError::IdToken(jws::TokenError::MissingClaim))?;
        let timer = self.provider_timer(provider, "userinfo");
        let mut userinfo = provider.userinfo(&endpoints, &access_token, sub, t).await?;
        timer.observe_duration();
        // Protocol claims come from the id_token only.
        userinfo.remove("acr");
        userinfo.remove("amr");
        // MConnect: an identity that is not active (suspended, inactive) is refused.
        let mut derived = Map::new();
        if let Some(st) = &cfg.identity_status {
            let authority = status::check(st, &[&id_claims, &userinfo]).map_err(|e| {
                tracing::info!(provider = provider.name(), reason = %e, "identity refused");
                OidcError::IdentityNotActive
            })?;
            if let Some(a) = authority {
                derived.insert("registration_authority".into(), Value::String(a));
            }
        }
        let identity = Identity::from_provider(cfg.flavour, &[&id_claims, &userinfo, &derived])?;
        let sid = id_claims
            .get("sid")
            .and_then(Value::as_str)
            .filter(|s| s.len() <= 256 && s.bytes().all(|b| b.is_ascii_graphic()))
            .map(String::from);
        Ok(Verified {
            identity,
            level,
            id_token: id_token.into_owned(),
            sid,
        })
    }

    /// Times a call to a provider (`guichet_provider_request_duration_seconds`); a call that
    /// fails is not observed.
    fn provider_timer(&self, provider: &Provider, call: &str) -> prometheus::HistogramTimer {
        self.metrics
            .provider_duration
            .with_label_values(&[provider.name(), call])
            .start_timer()
    }

    async fn open_session(
        &self,
        req: &Request<'_>,
        provider: &Provider,
        v: Verified,
        login: &LoginState,
    ) -> Reply {
        let attempt = Attempt::of(login);
        // No session fixation: whatever session this browser had is deleted, a new id is made.
        if let Some(old) = req
            .cookie(self.cookies.session)
            .and_then(SessionKey::from_cookie)
        {
            if let Err(e) = self.store.remove(&old).await {
                return self.login_failed(req, attempt, self.store_failed(&e)).await;
            }
        }
        let token = crypto::random_token();
        let Some(key) = SessionKey::from_cookie(&token) else {
            return self
                .login_failed(req, attempt, Failure::InvalidRequest("session"))
                .await;
        };
        let t = now();
        // Memory store: the id_token goes to the browser, sealed, scoped to the logout path.
        let hint = match &self.hints {
            // Past what a browser keeps in one cookie (4 KiB), it stays in memory.
            Some(sealer) => sealer
                .seal(&key, &v.id_token)
                .filter(|s| s.len() <= cookies::MAX_VALUE),
            None => None,
        };
        let record = SessionRecord {
            provider: provider.name().to_string(),
            identity: v.identity,
            level: v.level,
            created_at: t,
            id_token: if hint.is_some() {
                IdToken::default()
            } else {
                v.id_token.into()
            },
            sid: v.sid,
        };
        let session = Arc::new(self.sessions.build(&key, record, t));
        // Header blocks per route profile are built once, above; absurd claim sizes stop here.
        if let Some(e) = session.headers.too_large() {
            tracing::warn!(provider = provider.name(), error = %e, "login refused");
            return self
                .login_failed(req, attempt, Failure::IdentityTooLarge)
                .await;
        }
        if let Err(e) = self.store.insert(key, session.clone()).await {
            return self.login_failed(req, attempt, self.store_failed(&e)).await;
        }
        let identity = &session.record.identity;
        let level = session.record.level.map(|l| l.eidas());
        self.metrics
            .logins
            .with_label_values(&[
                provider.name(),
                &self.metrics.idp_label(identity.get("idp_id")),
                level.unwrap_or("none"),
                "success",
                "ok",
            ])
            .inc();
        if login.step_up {
            self.metrics
                .step_ups
                .with_label_values(&[login.level.map_or("none", |l| l.eidas()), "success"])
                .inc();
        }
        let mut e = super::session_event(req, &session, "login", "success", "ok");
        if login.step_up {
            e.required_level = login.level.map(|l| l.eidas());
        }
        self.audit.record(&e);
        let reply = Reply::redirect(&login.return_to)
            .set_cookie(cookies::set(self.cookies.session, &token));
        match hint {
            Some(sealed) => reply.set_cookie(cookies::set_at(
                self.cookies.logout,
                &sealed,
                &self.logout_path(),
            )),
            None => reply,
        }
    }

    async fn login_failed(&self, req: &Request<'_>, at: Attempt<'_>, failure: Failure) -> Reply {
        let count = failure.blames_client();
        self.login_failed_with(req, at, failure, count).await
    }

    /// Records a failed login (metric, evidence line), counts it against the client when
    /// `count` ([`crate::throttle`]), and answers with its page (or `429`).
    async fn login_failed_with(
        &self,
        req: &Request<'_>,
        at: Attempt<'_>,
        failure: Failure,
        count: bool,
    ) -> Reply {
        let reason = failure.reason();
        let level = at.level.map(|l| l.eidas());
        self.metrics
            .logins
            .with_label_values(&[
                at.provider.unwrap_or("unknown"),
                crate::metrics::UNKNOWN,
                level.unwrap_or("none"),
                "failure",
                &failure.metric_reason(),
            ])
            .inc();
        if at.step_up {
            self.metrics
                .step_ups
                .with_label_values(&[level.unwrap_or("none"), "failure"])
                .inc();
        }
        let mut e = Event::of(req, "login", "failure", &reason);
        e.provider = at.provider;
        if at.step_up {
            e.required_level = level;
        }
        self.audit.record(&e);
        if count {
            if let Some(refused) = self.throttle(req, Kind::FailedCallback).await {
                return refused;
            }
        }
        self.fail(req, &failure)
    }
}
