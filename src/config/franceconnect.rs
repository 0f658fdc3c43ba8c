//! What FranceConnect refuses, refused at start-up: an override of a FranceConnect preset
//! (v1, v2, FranceConnect+) that would make FranceConnect answer every login with an error
//! stops `guichet check` and `guichet run`, naming the key.
//!
//! The rules come from FranceConnect's published platform code
//! (`github.com/france-connect/sources`; the mock provider mirrors the same rules in
//! `src/demo/provider/platform.rs`):
//! - The authorization endpoint accepts only `client_id`, `acr_values`, `claims`,
//!   `response_type`, `nonce`, `state`, `redirect_uri`, `scope`, `prompt`, `idp_hint` and
//!   `ui_locales`; anything else is its error page Y030007, and the citizen never comes back
//!   (`back/apps/core-fcp/src/dto/authorize-params.dto.ts`, `forbidNonWhitelisted` in
//!   `back/apps/core-fcp/src/controllers/oidc-provider.controller.ts`). guichet sets the others
//!   itself, so `authorize_params` may hold `claims`, `idp_hint`, `ui_locales` and `prompt`, and
//!   PKCE (`code_challenge`) is off, although FranceConnect's discovery lists S256.
//! - `prompt` is `login` and/or `consent` (`allowedPrompt` in
//!   `back/instances/core-fcp-{low,high}/src/config/oidc-provider.ts`).
//! - `acr_values` is required on v2 and FranceConnect+ (the same DTO), and the weakest known
//!   level it names must be one the platform serves, else `invalid_acr` (`pickAcr` in
//!   `back/libs/core/src/transforms/acr.transform.ts`, `rejectInvalidAcr` in
//!   `back/libs/core/src/services/core-acr.service.ts`): `eidas1` on v2, `eidas2`/`eidas3` on
//!   FranceConnect+. FranceConnect v1 (not published) documents `acr_values` as optional.
//! - The token endpoint takes `client_secret_post` or `private_key_jwt`, never Basic
//!   (`tokenEndpointAuthMethods` in the same configuration files). guichet implements
//!   `client_secret_post`; `auto` resolves to it through discovery only.

use super::provider::{Pkce, ProviderConfig, TokenAuth};
use super::{ConfigError, Validator};
use crate::vocab::{Flavour, Level};

/// `authorize_params` a FranceConnect preset may carry.
pub const AUTHORIZE_PARAMS: &[&str] = &["claims", "idp_hint", "ui_locales", "prompt"];
/// `prompt` values FranceConnect accepts.
pub const PROMPTS: &[&str] = &["login", "consent"];
/// The levels FranceConnect knows, weakest first (`knownAcrValues`).
const KNOWN_ACR: &[&str] = &["eidas1", "eidas2", "eidas3"];

/// The `acr_values` a platform serves, and its default for a request naming no known level.
fn platform_acr(flavour: Flavour) -> Option<(&'static [&'static str], &'static str)> {
    match flavour {
        Flavour::FranceConnectV2 => Some((&["eidas1"], "eidas1")),
        Flavour::FranceConnectPlus => Some((&["eidas2", "eidas3"], "eidas3")),
        _ => None,
    }
}

/// The level FranceConnect picks for these `acr_values` (`pickAcr`), if it serves it.
fn served(allowed: &[&str], default: &'static str, acr_values: &str) -> Result<(), String> {
    let asked: Vec<&str> = acr_values.split(' ').filter(|a| !a.is_empty()).collect();
    let picked = KNOWN_ACR
        .iter()
        .find(|k| asked.contains(k))
        .copied()
        .unwrap_or(default);
    if allowed.contains(&picked) {
        Ok(())
    } else {
        Err(format!(
            "{acr_values:?} asks for {picked}, which this platform does not serve \
             (FranceConnect answers invalid_acr); use {}",
            allowed.join(" or ")
        ))
    }
}

impl Validator {
    /// Refuses, for the FranceConnect flavours, every setting FranceConnect would refuse.
    pub(super) fn franceconnect(
        &self,
        key: &dyn Fn(&str) -> String,
        cfg: &ProviderConfig,
    ) -> Result<(), ConfigError> {
        if !cfg.flavour.is_franceconnect() {
            return Ok(());
        }
        if cfg.pkce != Pkce::Never {
            return Err(self.err(
                key("pkce"),
                "FranceConnect refuses code_challenge at its authorization endpoint (error \
                 Y030007, though its discovery lists S256): use \"never\"",
            ));
        }
        for (k, v) in &cfg.authorize_params {
            if !AUTHORIZE_PARAMS.contains(&k.as_str()) {
                return Err(self.err(
                    key(&format!("authorize_params.{k}")),
                    format!(
                        "FranceConnect refuses this parameter (error Y030007, the citizen never \
                         comes back); it accepts {}",
                        AUTHORIZE_PARAMS.join(", ")
                    ),
                ));
            }
            match k.as_str() {
                "prompt" => {
                    let values: Vec<&str> = v.split(' ').filter(|p| !p.is_empty()).collect();
                    if values.is_empty() || values.iter().any(|p| !PROMPTS.contains(p)) {
                        return Err(self.err(
                            key("authorize_params.prompt"),
                            format!("{v:?}: FranceConnect accepts login and/or consent"),
                        ));
                    }
                }
                "claims" => {
                    let ok = serde_json::from_str::<serde_json::Value>(v)
                        .ok()
                        .and_then(|j| j.as_object().cloned())
                        .is_some_and(|o| {
                            o.iter().all(|(m, c)| {
                                matches!(m.as_str(), "id_token" | "userinfo") && c.is_object()
                            })
                        });
                    if !ok {
                        return Err(self.err(
                            key("authorize_params.claims"),
                            "must be a JSON object with id_token and/or userinfo members, e.g. \
                             {\"id_token\":{\"amr\":{\"essential\":true}}}",
                        ));
                    }
                }
                _ => {}
            }
        }
        if let Some((allowed, default)) = platform_acr(cfg.flavour) {
            let Some(acr_values) = cfg.acr_values.as_deref() else {
                return Err(self.err(
                    key("acr_values"),
                    format!(
                        "FranceConnect requires acr_values (error Y030007 without it): {}",
                        allowed.join(" or ")
                    ),
                ));
            };
            served(allowed, default, acr_values).map_err(|m| self.err(key("acr_values"), m))?;
            // What a step-up to a higher level would send.
            let base = cfg.default_level();
            for level in [Level::Low, Level::Substantial, Level::High] {
                if base.is_some_and(|b| level <= b) {
                    continue;
                }
                if let Some(values) = cfg.acr_for(level) {
                    served(allowed, default, &values).map_err(|m| {
                        self.err(
                            key("acr_levels"),
                            format!("a step-up to {}: {m}", level.eidas()),
                        )
                    })?;
                }
            }
        }
        match cfg.token_auth {
            TokenAuth::ClientSecretPost => {}
            TokenAuth::ClientSecretBasic => {
                return Err(self.err(
                    key("token_auth"),
                    "FranceConnect refuses client_secret_basic; it accepts client_secret_post \
                     (and private_key_jwt, which guichet does not implement)",
                ))
            }
            TokenAuth::Auto if !cfg.discovery => {
                return Err(self.err(
                    key("token_auth"),
                    "\"auto\" without discovery means client_secret_basic, which FranceConnect \
                     refuses: use client_secret_post",
                ))
            }
            TokenAuth::Auto => {}
        }
        Ok(())
    }
}
