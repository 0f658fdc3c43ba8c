//! The assurance level an id_token proves: its `acr`, read through the provider's
//! `acr_levels` (FranceConnect `eidas1..3`, MConnect `substantial`/`high`), checked against
//! the level the login asked for.
//!
//! Invariant: an `acr` the provider's mapping does not know proves no level; a login that asked
//! for a level is refused unless the `acr` proves at least that level
//! (`tests/federation_security.rs::acr_*`, `tests/providers.rs::step_up_*`).

use super::jws::TokenError;
use crate::vocab::Level;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The level an id_token's `acr` proves (through the provider's `acr_levels`), checked
/// against the level the login asked for.
///
/// - A requested level needs an `acr` that maps to at least that level.
/// - A requested raw `acr_values` the mapping does not know needs that exact `acr`.
/// - Nothing requested: any `acr` (or none) is accepted; the level is what it maps to.
pub fn check_acr(
    claims: &Map<String, Value>,
    requested: Option<Level>,
    raw_requested: Option<&str>,
    levels: &BTreeMap<String, Level>,
) -> Result<Option<Level>, TokenError> {
    let acr = match claims.get("acr") {
        None => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(TokenError::Malformed),
    };
    let proven = acr.and_then(|a| levels.get(a).copied());
    match (requested, raw_requested, acr) {
        (Some(level), _, _) => match proven {
            Some(p) if p >= level => Ok(Some(p)),
            _ => Err(TokenError::Acr),
        },
        (None, Some(raw), got) => {
            if got.is_some_and(|g| raw.split(' ').any(|r| r == g)) {
                Ok(proven)
            } else {
                Err(TokenError::Acr)
            }
        }
        _ => Ok(proven),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn eidas() -> BTreeMap<String, Level> {
        [
            ("eidas1", Level::Low),
            ("eidas2", Level::Substantial),
            ("eidas3", Level::High),
        ]
        .into_iter()
        .map(|(a, l)| (a.to_string(), l))
        .collect()
    }

    #[test]
    fn acr_must_reach_the_requested_level() {
        let c = |acr: &str| claims(json!({ "acr": acr }));
        let m = eidas();
        assert_eq!(
            check_acr(&c("eidas2"), Some(Level::Low), None, &m),
            Ok(Some(Level::Substantial))
        );
        assert_eq!(
            check_acr(&c("eidas1"), Some(Level::Substantial), None, &m),
            Err(TokenError::Acr)
        );
        assert_eq!(
            check_acr(&claims(json!({})), Some(Level::Low), None, &m),
            Err(TokenError::Acr)
        );
        assert_eq!(
            check_acr(&c("urn:x:loa2"), None, Some("urn:x:loa2"), &m),
            Ok(None)
        );
        assert_eq!(
            check_acr(&c("urn:x:loa1"), None, Some("urn:x:loa2"), &m),
            Err(TokenError::Acr)
        );
        assert_eq!(
            check_acr(&claims(json!({})), None, Some("urn:x:loa2"), &m),
            Err(TokenError::Acr)
        );
        assert_eq!(check_acr(&claims(json!({})), None, None, &m), Ok(None));
        assert_eq!(
            check_acr(&claims(json!({"acr": 2})), None, None, &m),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn acr_is_read_through_the_provider_mapping() {
        // MConnect-style values: "substantial" proves eidas2, "high" eidas3.
        let m: BTreeMap<String, Level> = [
            ("substantial".to_string(), Level::Substantial),
            ("high".to_string(), Level::High),
        ]
        .into_iter()
        .collect();
        let c = |acr: &str| claims(json!({ "acr": acr }));
        assert_eq!(
            check_acr(&c("high"), Some(Level::Substantial), None, &m),
            Ok(Some(Level::High))
        );
        // A value another federation uses means nothing here.
        assert_eq!(
            check_acr(&c("eidas3"), Some(Level::Substantial), None, &m),
            Err(TokenError::Acr)
        );
        // FranceConnect+ has no eidas1: an eidas1 token proves nothing there.
        let plus: BTreeMap<String, Level> = [
            ("eidas2".to_string(), Level::Substantial),
            ("eidas3".to_string(), Level::High),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            check_acr(&c("eidas1"), Some(Level::Substantial), None, &plus),
            Err(TokenError::Acr)
        );
    }
}
