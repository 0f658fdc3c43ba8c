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
//! - A login that carries a kept form (`form=ID`, `gateway::forms`) ends on the form's replay
//!   page instead of `return_to`; every login sets the author mark ([`crate::forms::author`]).
//!
//! # Design notes, and the tests that guard each rule
//!
//! ## Life of a login
//!
//! 1. `GET /.guichet/login?return_to=/page[&level=eidasN][&provider=NAME]`
//!    (`gateway/login.rs`): `return_to` is reduced to a same-origin path
//!    ([`policy::safe_return_to`]); the provider is the one named, or the only one whose
//!    `acr_levels` reach the level asked for, or the citizen chooses among those (chooser); none:
//!    a "level not available" page. `acr_values` is the provider's default, or its acr value for
//!    the level asked when that is higher (step-up); `state`, `nonce`
//!    (32 CSPRNG bytes, hex) and a PKCE verifier (when the provider supports it) are made; a
//!    `LoginState` is stored under `state` with the SHA-256 of the
//!    browser's pre-auth cookie (`guichet-login`, set on this response); 302 to the provider's
//!    authorize URL (`oidc/flow.rs`).
//! 2. The citizen authenticates at the provider, which redirects to the provider's redirect URI
//!    (`/.guichet/callback` with one provider, `/.guichet/callback/NAME` with several:
//!    `ProviderConfig::redirect_uri`) with `code`, `state` and (RFC 9207)
//!    `iss`.
//! 3. Callback: the login state is *taken* (deleted) from the store; the pre-auth cookie must match;
//!    the response must have come to the redirect URI of the login's provider and carry that
//!    provider's `iss` when it sends one (`Gateway::foreign_response`: success and error
//!    responses alike); the code is exchanged ([`Provider::exchange_code`]); a FranceConnect+ id_token is decrypted
//!    (`oidc/jwe.rs`: pinned `alg`/`enc`, configured `kid`); the id_token is
//!    verified (`oidc/jws.rs`: pinned algorithm, JWKS key (FranceConnect v1:
//!    the client secret), `iss`, `aud`, `azp`, `exp`, `iat`, `nonce`) and its `acr`, read
//!    through the provider's `acr_levels`, checked against the level asked; userinfo is fetched
//!    (a signed JWT for FranceConnect v2, a JWE for FranceConnect+, opened and verified the same
//!    way) and its `sub` compared; an MConnect identity's status must be `active`
//!    (`identity/status.rs`); claims are whitelisted with the
//!    provider flavour's rules (`Identity::intake`: a required, forwarded
//!    claim outside its rule fails the login, any other is dropped, counted and logged as
//!    `claim_dropped`); the session is created with a
//!    new random id, its identity header blocks built once, one per route claim profile
//!    (`SessionHeaders`; a login whose headers would exceed
//!    `[headers] max_bytes` is refused here); the browser's previous session (if any) is deleted;
//!    302 to `return_to`.
//! 4. Any failure ends on a page from `pages.rs` with a status (400, 403, 429,
//!    502, 503, never 500), an evidence-log line with a reason code and the request id, and a
//!    metric; when the login state was known, the page's "log in again" resumes its journey
//!    (`return_to`, and the level for a step-up: `Journey`). A callback whose
//!    state is spent or unknown, from a browser with a live session (Back to the provider
//!    after logging in, the callback reopened), goes to that session's landing page (the
//!    `return_to` of its login, kept in the record) and makes nothing; without a live session
//!    it is refused (`tests/login_security.rs::replayed_state_is_refused`,
//!    `tests/journeys.rs::back_to_the_provider_after_logging_in_lands_on_the_citizen_s_page`). A failure the client controls (bad state, code, token) also counts against its
//!    address (`throttle`); login starts count too, before the state is
//!    stored.

use super::Gateway;
use crate::audit::Event;
use crate::crypto;
use crate::identity::{status, ClaimError, Identity, Intake};
use crate::oidc::flow::{sanitize_error_code, AuthorizeRequest};
use crate::oidc::jws::{self, Expect, TokenError};
use crate::oidc::{acr, jwe, response, OidcError, Provider};
use crate::pages::{from_provider_error, ChooserEntry, Failure, Journey};
use crate::policy::safe_return_to;
use crate::session::cookies;
use crate::session::{now, FormLink, IdToken, LoginState, SessionKey, SessionRecord};
use crate::throttle::Kind;
use crate::vocab::{header_claim_index, ClaimSpec, Level};
use crate::web::{Reply, Request};
use serde_json::{Map, Value};
use std::sync::Arc;

/// A successful login, ready to become a session.
struct Verified {
    identity: Identity,
    /// Claims refused by their rule and dropped (optional, or not forwarded).
    dropped: Vec<ClaimError>,
    level: Option<Level>,
    /// The signed id_token (decrypted when it came as a JWE), for `id_token_hint`.
    id_token: String,
    sid: Option<String>,
}

/// What is known about a login when it ends: for the metrics, the evidence log, and the
/// page's "log in again" (where the citizen was going).
#[derive(Debug, Default, Clone, Copy)]
struct Attempt<'a> {
    provider: Option<&'a str>,
    /// The level asked for.
    level: Option<Level>,
    step_up: bool,
    return_to: Option<&'a str>,
}

impl<'a> Attempt<'a> {
    fn of(login: &'a LoginState) -> Attempt<'a> {
        Attempt {
            provider: Some(&login.provider),
            level: login.level,
            step_up: login.step_up,
            return_to: Some(&login.return_to),
        }
    }

    /// The journey to resume: the page, and the level only if the page asked for it.
    fn journey(&self) -> Option<Journey> {
        Some(Journey {
            return_to: self.return_to?.to_string(),
            level: self.level.filter(|_| self.step_up),
        })
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
        let (return_to, provider, level, hint, form) = match (
            req.param("return_to"),
            req.param("provider"),
            req.param("level"),
            req.param("login_hint"),
            req.param("form"),
        ) {
            (Ok(r), Ok(p), Ok(l), Ok(h), Ok(f)) => (r, p, l, h, f),
            _ => return self.fail(req, &Failure::InvalidRequest("query")),
        };
        // The id of a form kept across this login (`gateway::forms`).
        let form = match form {
            None => None,
            Some(f) if crypto::is_hex(&f, 64) => Some(f.into_owned()),
            Some(_) => return self.fail(req, &Failure::InvalidRequest("form")),
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
                    _ => {
                        return self
                            .chooser(req, &return_to, level, form.as_deref(), &able)
                            .await
                    }
                }
            }
        };
        if !can_reach(provider, level) {
            return self.level_unavailable(req, level);
        }
        let hint =
            hint.filter(|h| !h.is_empty() && h.len() <= 256 && !h.chars().any(char::is_control));
        let journey = Journey {
            return_to: return_to.clone(),
            level,
        };
        let Some(endpoints) = provider.endpoints() else {
            return self.fail_on(req, &Failure::ProviderUnavailable, &journey);
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
            form: form.map(FormLink::Id),
        };
        if let Err(e) = self.store.put_login(&state, login).await {
            return self.fail_on(req, &self.store_failed(&e), &journey);
        }
        let url = provider.authorize_url(
            &endpoints,
            &AuthorizeRequest {
                redirect_uri: &provider.cfg.redirect_uri,
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

    async fn chooser(
        &self,
        req: &Request<'_>,
        return_to: &str,
        level: Option<Level>,
        form: Option<&str>,
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
                if let Some(f) = form {
                    q.append_pair("form", f);
                }
                ChooserEntry {
                    display_name: p.cfg.display_name.as_str(),
                    flavour: p.cfg.flavour,
                    href: format!("{}/login?{}", self.cfg.server.prefix, q.finish()),
                }
            })
            .collect();
        // A page asking for a level, and a citizen already logged in: a step-up, which the
        // page says (a store error only changes these words).
        let logged_in = level.is_some() && matches!(self.current_session(req).await, Ok(Some(_)));
        let journey = Journey {
            return_to: return_to.to_string(),
            level,
        };
        self.pages
            .chooser(req.lang(), &entries, &journey, logged_in)
    }

    /// No configured provider can prove the level a page asks for.
    fn level_unavailable(&self, req: &Request<'_>, level: Option<Level>) -> Reply {
        tracing::info!(
            level = level.map(|l| l.eidas()),
            "no provider can reach the level asked for"
        );
        self.fail(req, &Failure::LevelUnavailable)
    }

    /// `GET /.guichet/callback[/NAME]?code=...&state=...[&iss=...]` (or `?error=...`);
    /// `leaf` is the path under the prefix (`callback` or `callback/NAME`).
    pub(super) async fn callback(&self, req: &Request<'_>, leaf: &str) -> Reply {
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
            let Some(login) = login else {
                // Back at the provider after logging in, then "cancel": the citizen is
                // logged in, and goes back to their page.
                if let Some(back) = self.back_to_the_session(req).await {
                    return back;
                }
                let failure = from_provider_error(&sanitize_error_code(&error));
                return self.login_failed_with(req, none, failure, true).await;
            };
            // An error response is a response too (RFC 9207 2.4): it must come back where its
            // login was sent and name its issuer, or it is not believed.
            if !login.logout {
                if let Some(f) = self.foreign_response(req, leaf, &login) {
                    return self.login_failed(req, Attempt::of(&login), f).await;
                }
            }
            let failure = from_provider_error(&sanitize_error_code(&error));
            return self
                .login_failed_with(req, Attempt::of(&login), failure, false)
                .await;
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
            Ok(Some(l)) if !l.logout && l.kept_form().is_none() => l,
            Ok(_) => {
                // A used or expired state: Back to the provider after logging in, or the
                // callback URL opened again. A citizen with a live session goes back to their
                // page (no session is made: the state stays spent); anyone else is refused.
                if let Some(back) = self.back_to_the_session(req).await {
                    return back;
                }
                return self.login_failed(req, none, Failure::LoginExpired).await;
            }
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
        if let Some(f) = self.foreign_response(req, leaf, &login) {
            // The code is never sent anywhere.
            return self.login_failed(req, attempt, f).await;
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

    /// Is this authorization response (success or error) not the answer of the provider the
    /// login was sent to? ([`response::check`]: its redirect URI, RFC 9207's `iss`.)
    fn foreign_response(
        &self,
        req: &Request<'_>,
        leaf: &str,
        login: &LoginState,
    ) -> Option<Failure> {
        let Some(provider) = self.provider(&login.provider) else {
            return Some(Failure::UnknownProvider);
        };
        let advertised = provider.endpoints().is_some_and(|e| e.iss_parameter);
        let iss = req.param("iss");
        let iss = match &iss {
            Ok(v) => Ok(v.as_deref()),
            Err(_) => Err(()),
        };
        response::check(&provider.cfg, advertised, leaf, iss)
            .err()
            .map(|f| Failure::Verification(f.reason().to_string()))
    }

    /// Code exchange, id_token, userinfo, claims: every check of a login. The access token
    /// is revoked once the checks are done, whatever their outcome, when the provider asks
    /// for it (`revoke_access_token`).
    async fn verify(
        &self,
        provider: &Arc<Provider>,
        code: &str,
        login: &LoginState,
    ) -> Result<Verified, OidcError> {
        let endpoints = provider
            .endpoints()
            .ok_or_else(|| OidcError::Unavailable("metadata not loaded".into()))?;
        let timer = self.provider_timer(provider, "token");
        let (access_token, id_token) = provider
            .exchange_code(
                &endpoints,
                code,
                &provider.cfg.redirect_uri,
                login.pkce_verifier.as_deref(),
            )
            .await?;
        timer.observe_duration();
        let verified = self
            .verify_tokens(provider, &endpoints, &access_token, &id_token, login)
            .await;
        if provider.cfg.revoke_access_token {
            Provider::revoke_in_background(provider.clone(), endpoints, access_token);
        }
        verified
    }

    /// The id_token, then userinfo with the access token, then the identity.
    async fn verify_tokens(
        &self,
        provider: &Provider,
        endpoints: &crate::oidc::Endpoints,
        access_token: &str,
        id_token: &str,
        login: &LoginState,
    ) -> Result<Verified, OidcError> {
        let t = now();
        let expect = Expect {
            require_times: true,
            require_aud: true,
            logout: false,
            nonce: Some(&login.nonce),
            now: t,
        };
        // FranceConnect+: the id_token is a JWE around the signed token.
        let id_token = jwe::open(provider, id_token).map_err(OidcError::IdToken)?;
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
        let mut userinfo = provider.userinfo(endpoints, access_token, sub, t).await?;
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
        // A claim the application never receives (dropped in [headers.claims]) never fails a
        // login; neither does an optional one: both are dropped and reported at login.
        let headers = &self.cfg.headers;
        let forwarded = |spec: &ClaimSpec| {
            header_claim_index(spec.name)
                .and_then(|i| headers.claims.get(i))
                .is_some_and(|c| !c.dropped)
        };
        let Intake { identity, dropped } =
            Identity::intake(cfg.flavour, &[&id_claims, &userinfo, &derived], forwarded)?;
        let sid = id_claims
            .get("sid")
            .and_then(Value::as_str)
            .filter(|s| s.len() <= 256 && s.bytes().all(|b| b.is_ascii_graphic()))
            .map(String::from);
        Ok(Verified {
            identity,
            dropped,
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
        let v_dropped = v.dropped;
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
            landing: (login.return_to != "/").then(|| login.return_to.as_str().into()),
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
        let mut e = super::session_event(req, &session, "login", "success", "ok");
        if login.step_up {
            e.required_level = login.level.map(|l| l.eidas());
        }
        // No session without its evidence line: if the evidence log cannot take it, the
        // session just made is deleted and the login refused.
        if self.audit.record(&e).await.is_err() {
            if let Err(err) = self.store.remove(&key).await {
                tracing::error!(error = %err, "could not delete a session whose login has no evidence line");
            }
            return self
                .login_failed(req, attempt, Failure::EvidenceUnavailable)
                .await;
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
        for d in &v_dropped {
            self.claim_dropped(req, &session, provider, d).await;
        }
        // A form kept across this login goes to its replay page; otherwise back to the page.
        let next = match &login.form {
            Some(FormLink::Id(id)) => self.hand_form_to_session(id, login, &token).await,
            _ => login.return_to.clone(),
        };
        let author = self.author_cookie(provider.name(), identity.sub());
        let reply = Reply::redirect(&next)
            .set_cookie(cookies::set(self.cookies.session, &token))
            .set_cookie(author);
        match hint {
            Some(sealed) => reply.set_cookie(cookies::set_at(
                self.cookies.logout,
                &sealed,
                &self.logout_path(),
            )),
            None => reply,
        }
    }

    /// A claim dropped at login: counted (`guichet_claims_dropped_total`), an evidence line
    /// (`claim_dropped`, reason `invalid_claim_NAME`) and a log line naming the claim and the
    /// rule it failed, never its value.
    async fn claim_dropped(
        &self,
        req: &Request<'_>,
        session: &crate::session::Session,
        provider: &Provider,
        d: &ClaimError,
    ) {
        tracing::info!(
            provider = provider.name(),
            claim = d.claim,
            rule = d.reason,
            request_id = req.request_id,
            "claim dropped"
        );
        self.metrics
            .claims_dropped
            .with_label_values(&[provider.name(), d.claim])
            .inc();
        let reason = format!("invalid_claim_{}", d.claim);
        // Lost only if the evidence log is stuck (counted there); the login itself has its line.
        let _ = self
            .audit
            .record(&super::session_event(
                req,
                session,
                "claim_dropped",
                "dropped",
                &reason,
            ))
            .await;
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
        let _ = self.audit.record(&e).await;
        if count {
            if let Some(refused) = self.throttle(req, Kind::FailedCallback).await {
                return refused;
            }
        }
        match at.journey() {
            Some(journey) => self.fail_on(req, &failure, &journey),
            None => self.fail(req, &failure),
        }
    }

    /// A stale callback (its state used or unknown) from a browser with a live session: to
    /// the page that session's login was going to. `None` without a live session (or when
    /// the store cannot tell: then the usual refusal).
    async fn back_to_the_session(&self, req: &Request<'_>) -> Option<Reply> {
        let session = self.current_session(req).await.ok()??;
        let landing = session.record.landing.as_deref().unwrap_or("/");
        // Stored at login from a safe `return_to`; checked again all the same.
        let landing = safe_return_to(Some(landing), &self.cfg.server.prefix);
        tracing::info!(
            request_id = req.request_id,
            "stale callback from a browser with a live session; back to its page"
        );
        Some(Reply::redirect(landing))
    }
}
