//! Whether a digital identity is active (MConnect's `Authority` claim: registration authority
//! and status of the identity: active, suspended or inactive).
//!
//! MConnect does not publish the shape of `Authority`, so where the status sits is a
//! configured path ([`IdentityStatus`]). Invariant: the check fails closed. A missing claim, a
//! path that leads nowhere, a value that is not a string, or any string other than the
//! configured active value refuses the login (`status::tests`, `tests/providers.rs`).

use crate::config::IdentityStatus;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// Why an identity is not accepted as active. The value itself is never carried (it would
/// end up in logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    #[error("the identity status is missing")]
    Missing,
    #[error("the identity is not active")]
    NotActive,
}

/// Checks the status in the claim sets (later sets win, as for claims) and returns the
/// registration authority when the configuration names one and the claims carry it.
pub fn check(
    cfg: &IdentityStatus,
    sets: &[&Map<String, Value>],
) -> Result<Option<String>, StatusError> {
    let status = lookup(&cfg.path, sets).ok_or(StatusError::Missing)?;
    match status.as_ref() {
        Value::String(s) if *s == cfg.active => {}
        _ => return Err(StatusError::NotActive),
    }
    let authority = cfg
        .authority_path
        .as_deref()
        .and_then(|p| lookup(p, sets))
        .and_then(|v| v.as_str().map(String::from));
    Ok(authority)
}

/// The value at a dot-separated path, the first segment being a claim name. A string met
/// before the end of the path is read as JSON (some providers send objects as strings).
fn lookup<'a>(path: &str, sets: &[&'a Map<String, Value>]) -> Option<Cow<'a, Value>> {
    let mut segments = path.split('.');
    let first = segments.next()?;
    let mut current: Cow<'a, Value> = Cow::Borrowed(sets.iter().rev().find_map(|s| s.get(first))?);
    for seg in segments {
        current = match current {
            Cow::Borrowed(Value::Object(m)) => Cow::Borrowed(m.get(seg)?),
            Cow::Borrowed(Value::String(s)) => Cow::Owned(field_of_json(s, seg)?),
            Cow::Owned(Value::Object(mut m)) => Cow::Owned(m.remove(seg)?),
            Cow::Owned(Value::String(s)) => Cow::Owned(field_of_json(&s, seg)?),
            _ => return None,
        };
    }
    Some(current)
}

fn field_of_json(s: &str, field: &str) -> Option<Value> {
    if s.len() > 4096 {
        return None;
    }
    match serde_json::from_str::<Value>(s).ok()? {
        Value::Object(mut m) => m.remove(field),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg() -> IdentityStatus {
        IdentityStatus {
            path: "Authority.status".into(),
            active: "active".into(),
            authority_path: Some("Authority.registration_authority".into()),
        }
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn only_an_explicit_active_status_passes() {
        let ok =
            obj(json!({"Authority": {"status": "active", "registration_authority": "Mairie"}}));
        assert_eq!(check(&cfg(), &[&ok]), Ok(Some("Mairie".into())));
        for (claims, want) in [
            (
                json!({"Authority": {"status": "suspended"}}),
                StatusError::NotActive,
            ),
            (
                json!({"Authority": {"status": "inactive"}}),
                StatusError::NotActive,
            ),
            (
                json!({"Authority": {"status": "Active "}}),
                StatusError::NotActive,
            ),
            (
                json!({"Authority": {"status": true}}),
                StatusError::NotActive,
            ),
            (
                json!({"Authority": {"status": ["active"]}}),
                StatusError::NotActive,
            ),
            (
                json!({"Authority": {"state": "active"}}),
                StatusError::Missing,
            ),
            (json!({"Authority": "active"}), StatusError::Missing),
            (
                json!({"authority": {"status": "active"}}),
                StatusError::Missing,
            ),
            (json!({}), StatusError::Missing),
        ] {
            assert_eq!(
                check(&cfg(), &[&obj(claims.clone())]),
                Err(want),
                "{claims}"
            );
        }
    }

    #[test]
    fn later_sets_win_and_json_strings_are_read() {
        let id_token = obj(json!({"Authority": {"status": "active"}}));
        let userinfo = obj(json!({"Authority": "{\"status\":\"suspended\"}"}));
        assert_eq!(
            check(&cfg(), &[&id_token, &userinfo]),
            Err(StatusError::NotActive)
        );
        assert_eq!(check(&cfg(), &[&userinfo, &id_token]), Ok(None));
        let flat = IdentityStatus {
            path: "Authority".into(),
            active: "active".into(),
            authority_path: None,
        };
        assert_eq!(
            check(&flat, &[&obj(json!({"Authority": "active"}))]),
            Ok(None)
        );
    }
}
