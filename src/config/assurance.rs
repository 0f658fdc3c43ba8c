//! What a provider's identities are worth: the `acr` values that prove each level (read in the
//! id_token, chosen for a step-up), and whether a digital identity is active (MConnect).
//!
//! Invariants (tests in `config::tests`): every `acr_levels` value is a level and every key an
//! `acr` token; the MConnect status check can be moved (path, active value) but not removed.

use super::file;
use super::presets::Preset;
use super::{ConfigError, Validator};
use crate::vocab::{Flavour, Level};
use serde::Serialize;
use std::collections::BTreeMap;

/// Where the claims say whether the digital identity is active, and what counts as active.
#[derive(Debug, Clone, Serialize)]
pub struct IdentityStatus {
    /// Dot-separated path, starting with the claim name (`Authority.status`).
    pub path: String,
    pub active: String,
    /// Dot-separated path to the registration authority, if the application should get it.
    pub authority_path: Option<String>,
}

/// An `acr` value: 1-128 characters among `A-Za-z0-9._:/-` (the identity claim rule).
fn is_acr_token(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:/-".contains(&b))
}

impl Validator {
    /// `acr_values` and `acr_levels`.
    pub(super) fn levels(
        &self,
        key: &dyn Fn(&str) -> String,
        p: &file::ProviderSection,
        preset: &Preset,
    ) -> Result<(Option<String>, BTreeMap<String, Level>), ConfigError> {
        let acr_levels: BTreeMap<String, Level> = match &p.acr_levels {
            None => preset
                .acr_levels
                .iter()
                .map(|(a, l)| (a.to_string(), *l))
                .collect(),
            Some(map) => {
                let mut out = BTreeMap::new();
                for (acr, level) in map {
                    if !is_acr_token(acr) {
                        return Err(self.err(
                            key(&format!("acr_levels.{acr}")),
                            "is not an acr value (1-128 characters among A-Z a-z 0-9 . _ : / -)",
                        ));
                    }
                    let l = Level::parse(level).ok_or_else(|| {
                        self.err(
                            key(&format!("acr_levels.{acr}")),
                            format!("{level:?}: expected eidas1, eidas2, eidas3 (or low, substantial, high)"),
                        )
                    })?;
                    out.insert(acr.clone(), l);
                }
                out
            }
        };
        // `acr_values = ""` sends none (and then asks no level unless a route does).
        let acr_values = match &p.acr_values {
            Some(v) if v.is_empty() => None,
            Some(v) => Some(v.clone()),
            None => preset.acr_values.map(String::from),
        };
        if let Some(v) = &acr_values {
            if v.split(' ').any(|a| !is_acr_token(a)) {
                return Err(self.err(
                    key("acr_values"),
                    format!("{v:?} is not a space-separated list of acr values"),
                ));
            }
        }
        Ok((acr_values, acr_levels))
    }

    pub(super) fn identity_status(
        &self,
        key: &dyn Fn(&str) -> String,
        p: &file::ProviderSection,
        preset: &Preset,
    ) -> Result<Option<IdentityStatus>, ConfigError> {
        let defaults = preset.identity_status;
        let path = p
            .identity_status_path
            .clone()
            .or(defaults.map(|d| d.path.to_string()))
            .filter(|s| !s.is_empty());
        let Some(path) = path else {
            if preset.flavour == Flavour::MConnect {
                return Err(self.err(
                    key("identity_status_path"),
                    "cannot be empty: MConnect identities that are not active must be refused",
                ));
            }
            return Ok(None);
        };
        let check_path = |k: &str, v: &str| {
            let ok = v.split('.').all(|seg| {
                (1..=64).contains(&seg.len())
                    && seg
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            });
            if ok {
                Ok(())
            } else {
                Err(self.err(
                    key(k),
                    format!("{v:?} is not a dot-separated claim path like \"Authority.status\""),
                ))
            }
        };
        check_path("identity_status_path", &path)?;
        let active = p
            .identity_status_active
            .clone()
            .or(defaults.map(|d| d.active.to_string()))
            .unwrap_or_else(|| "active".into());
        if active.is_empty() || active.len() > 64 {
            return Err(self.err(key("identity_status_active"), "must be 1-64 characters"));
        }
        let authority_path = p
            .registration_authority_path
            .clone()
            .or(defaults.map(|d| d.authority_path.to_string()))
            .filter(|s| !s.is_empty());
        if let Some(a) = &authority_path {
            check_path("registration_authority_path", a)?;
        }
        Ok(Some(IdentityStatus {
            path,
            active,
            authority_path,
        }))
    }
}
