//! OpenID Connect Back-Channel Logout 1.0: a provider POSTs a signed `logout_token` to
//! `/.guichet/backchannel-logout`, and every session it names is deleted from the store, so
//! refused by every replica (with Redis, within a second: `session::redis`'s cache).
//!
//! Invariants (each guarded by a test in `tests/backchannel_logout.rs` or
//! `tests/certified_provider.rs`), following Back-Channel Logout 1.0 (with its errata):
//! - Only providers configured with `backchannel_logout = true` are heard, chosen by the
//!   token's `iss` compared exactly. The token is verified like an id_token by [`jws::verify`]
//!   (algorithm pinned, provider key, `iss` one string equal to the issuer, `aud` naming the
//!   client id, `azp`, `iat` not in the future, `exp` not past), then (section 2.6): `typ`,
//!   when present, `logout+jwt`; `iat` present and recent; `exp` present (required since
//!   errata set 1); `jti` present and accepted once; the back-channel `events` member
//!   present; `sub`, `sid` or both; no `nonce` (an id_token is not a logout token).
//! - Nothing is deleted unless every check passes. A token naming a `sid` ends the sessions
//!   opened in that provider session, and only those: when none is left (the citizen logged
//!   out here first, or the session expired) it ends nothing, never every session of the
//!   `sub`. Only a token without `sid` ends all of that citizen's sessions from that provider
//!   (section 2.7).
//! - Answers follow the specification: 200 on success, 400 with a JSON error otherwise, both
//!   `Cache-Control: no-store`. Every outcome writes an evidence-log line with a reason code;
//!   no token ever reaches a log.

use super::Gateway;
use crate::audit::Event;
use crate::oidc::jws::{self, Expect};
use crate::oidc::Provider;
use crate::session::{now, Match};
use crate::web::{Reply, Request};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http::header::{self, HeaderValue};
use http::{Method, StatusCode};
use serde_json::{Map, Value};
use std::time::Duration;

/// The `events` member that makes a JWT a back-channel logout token.
pub const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How old (beyond the clock skew) a logout token's `iat` may be. Tokens are sent as soon as
/// the provider session ends; the replay cache keeps `jti`s for longer than this window.
const MAX_TOKEN_AGE: u64 = 300;

/// What a verified logout token asks for.
struct LogoutRequest {
    provider: String,
    sub: Option<String>,
    sid: Option<String>,
    jti: String,
    skew: u64,
}

impl Gateway {
    /// `POST /.guichet/backchannel-logout` with the form field `logout_token`.
    pub(super) async fn backchannel_logout(&self, req: &Request<'_>) -> Reply {
        if *req.method != Method::POST {
            return Reply::json(
                StatusCode::METHOD_NOT_ALLOWED,
                &serde_json::json!({"error": "invalid_request"}),
            )
            .header(header::ALLOW, HeaderValue::from_static("POST"));
        }
        let Some(token) = req.form_field("logout_token") else {
            return self
                .logout_token_refused(req, None, "missing_logout_token")
                .await;
        };
        let logout = match self.verify_logout_token(&token).await {
            Ok(l) => l,
            Err((provider, reason)) => {
                return self
                    .logout_token_refused(req, provider.as_deref(), &reason)
                    .await
            }
        };
        let provider = logout.provider.as_str();
        let replay_key = format!("{provider}\0{}", logout.jti);
        let ttl = Duration::from_secs(MAX_TOKEN_AGE + 2 * logout.skew + 60);
        match self.store.remember_once(&replay_key, ttl).await {
            Ok(true) => {}
            Ok(false) => {
                return self
                    .logout_token_refused(req, Some(provider), "jti_replayed")
                    .await
            }
            Err(e) => {
                self.store_failed(&e);
                return self
                    .logout_token_refused(req, Some(provider), "store_unavailable")
                    .await;
            }
        }
        let removed = match self.end_sessions(&logout).await {
            Ok(n) => n,
            Err(e) => {
                self.store_failed(&e);
                // Let the provider send the same token again.
                if let Err(e) = self.store.forget(&replay_key).await {
                    tracing::warn!(error = %e, "cannot forget a logout token id after a failure");
                }
                return self
                    .logout_token_refused(req, Some(provider), "store_unavailable")
                    .await;
            }
        };
        self.metrics
            .logouts
            .with_label_values(&["backchannel"])
            .inc_by(removed);
        let reason = if removed > 0 {
            "backchannel"
        } else {
            "backchannel_no_session"
        };
        tracing::info!(provider, sessions = removed, "back-channel logout");
        let mut e = Event::of(req, "logout", "success", reason);
        e.provider = Some(provider);
        e.sub = logout.sub.as_deref();
        let _ = self.audit.record(&e).await;
        Reply::text(StatusCode::OK, "")
    }

    /// Deletes the sessions the token names: those of its `sid` when it has one (none left:
    /// nothing is deleted), every session of its `sub` only when it has no `sid`.
    async fn end_sessions(
        &self,
        logout: &LogoutRequest,
    ) -> Result<u64, crate::session::StoreError> {
        let provider = logout.provider.as_str();
        let m = match (&logout.sid, &logout.sub) {
            (Some(sid), _) => Match::Sid(sid),
            (None, Some(sub)) => Match::Sub(sub),
            (None, None) => return Ok(0),
        };
        self.store.remove_matching(provider, m).await
    }

    /// Every check of a logout token. On failure: the provider (if known) and a reason code.
    async fn verify_logout_token(
        &self,
        token: &str,
    ) -> Result<LogoutRequest, (Option<String>, String)> {
        let refuse = |p: &Provider, why: &str| (Some(p.name().to_string()), why.to_string());
        let iss = unverified_issuer(token).ok_or((None, "malformed".to_string()))?;
        let candidates: Vec<&std::sync::Arc<Provider>> = self
            .providers
            .iter()
            .filter(|p| p.cfg.backchannel_logout && p.cfg.issuer == iss)
            .collect();
        let t = now();
        let expect = Expect {
            require_times: false,
            require_aud: true,
            logout: true,
            nonce: None,
            now: t,
        };
        let mut last = (None, "unknown_issuer".to_string());
        let mut verified = None;
        for p in candidates {
            match jws::verify(p, token, &expect).await {
                Ok(claims) => {
                    verified = Some((p, claims));
                    break;
                }
                Err(e) => last = refuse(p, &format!("token_{}", e.as_str())),
            }
        }
        let (provider, claims) = verified.ok_or(last)?;
        let skew = provider.cfg.clock_skew.as_secs();
        check_logout_claims(&claims, t, skew).map_err(|why| refuse(provider, why))?;
        let text = |name: &str| claims.get(name).and_then(Value::as_str).map(String::from);
        let (sub, sid) = (text("sub"), text("sid"));
        if sub.is_none() && sid.is_none() {
            return Err(refuse(provider, "sub_and_sid_missing"));
        }
        Ok(LogoutRequest {
            provider: provider.name().to_string(),
            sub,
            sid,
            jti: text("jti").ok_or_else(|| refuse(provider, "jti_missing"))?,
            skew,
        })
    }

    async fn logout_token_refused(
        &self,
        req: &Request<'_>,
        provider: Option<&str>,
        why: &str,
    ) -> Reply {
        tracing::info!(provider, reason = why, "back-channel logout refused");
        let reason = format!("backchannel_{why}");
        let mut e = Event::of(req, "logout", "failure", &reason);
        e.provider = provider;
        let _ = self.audit.record(&e).await;
        Reply::json(
            StatusCode::BAD_REQUEST,
            &serde_json::json!({"error": "invalid_request", "error_description": why}),
        )
    }
}

/// The token's `iss`, read before verification only to choose the provider whose keys verify
/// it (then compared exactly by the verification itself).
fn unverified_issuer(token: &str) -> Option<String> {
    if token.len() > jws::MAX_TOKEN_LEN {
        return None;
    }
    let payload = token.split('.').nth(1)?;
    let raw = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: Map<String, Value> = serde_json::from_slice(&raw).ok()?;
    claims.get("iss")?.as_str().map(String::from)
}

/// The checks of Back-Channel Logout 1.0 section 2.6 beyond those [`jws::verify`] makes (it
/// checks `typ`, and `exp` when present).
fn check_logout_claims(
    claims: &Map<String, Value>,
    now: u64,
    skew: u64,
) -> Result<(), &'static str> {
    if claims.contains_key("nonce") {
        return Err("nonce_present");
    }
    let is_logout_event = claims
        .get("events")
        .and_then(Value::as_object)
        .and_then(|e| e.get(BACKCHANNEL_EVENT))
        .is_some_and(Value::is_object);
    if !is_logout_event {
        return Err("events_missing");
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_u64)
        .ok_or("iat_missing")?;
    if iat.saturating_add(MAX_TOKEN_AGE + skew) < now {
        return Err("too_old");
    }
    // Required since errata set 1 of Back-Channel Logout 1.0 (its validity is checked with
    // the signature, by `jws::verify`).
    if claims.get("exp").and_then(Value::as_u64).is_none() {
        return Err("exp_missing");
    }
    let short_text = |v: &Value| {
        v.as_str()
            .is_some_and(|s| !s.is_empty() && s.len() <= 256 && !s.chars().any(char::is_control))
    };
    if !claims.get("jti").is_some_and(short_text) {
        return Err("jti_missing");
    }
    if claims.get("sid").is_some_and(|s| !short_text(s)) {
        return Err("sid_malformed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn good() -> Value {
        json!({
            "iat": 10_000, "exp": 10_120, "jti": "j1", "sub": "s", "sid": "x",
            "events": { BACKCHANNEL_EVENT: {} },
        })
    }

    #[test]
    fn each_logout_claim_rule_refuses_what_it_should() {
        assert_eq!(check_logout_claims(&claims(good()), 10_000, 60), Ok(()));
        let with = |k: &str, v: Value| {
            let mut c = good();
            c[k] = v;
            claims(c)
        };
        let without = |k: &str| {
            let mut c = claims(good());
            c.remove(k);
            c
        };
        let cases = [
            (with("nonce", json!("n")), "nonce_present"),
            (without("events"), "events_missing"),
            (with("events", json!({"other": {}})), "events_missing"),
            (
                with("events", json!({ BACKCHANNEL_EVENT: "yes" })),
                "events_missing",
            ),
            (without("iat"), "iat_missing"),
            (with("iat", json!(10_000 - 400)), "too_old"),
            (without("exp"), "exp_missing"),
            (with("exp", json!("soon")), "exp_missing"),
            (without("jti"), "jti_missing"),
            (with("jti", json!("")), "jti_missing"),
            (with("jti", json!(7)), "jti_missing"),
            (with("sid", json!("a\nb")), "sid_malformed"),
        ];
        for (c, want) in cases {
            assert_eq!(check_logout_claims(&c, 10_000, 60), Err(want), "{c:?}");
        }
    }

    #[test]
    fn issuer_is_read_only_from_a_three_part_token() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"iss":"https://op.example"}"#);
        assert_eq!(
            unverified_issuer(&format!("e30.{payload}.sig")).as_deref(),
            Some("https://op.example")
        );
        assert_eq!(unverified_issuer("nodots"), None);
        assert_eq!(unverified_issuer("e30.!!.x"), None);
    }
}
