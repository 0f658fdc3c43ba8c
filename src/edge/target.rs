//! The request-target as the client sent it (pingora's raw bytes, never the parsed `Uri`,
//! which falls back to `/` for targets it cannot parse), classified by RFC 9112 3.2.
//!
//! - origin-form `/path?query`: accepted, its path made canonical ([`normalize_path`]);
//! - absolute-form `http(s)://authority/path?query`: accepted, its authority checked like a
//!   `Host` ([`super::host`]), then rewritten to origin-form;
//! - asterisk-form `*`, with `OPTIONS` only: answered by guichet itself, never forwarded;
//! - anything else (authority-form, `renforce/`, `a:b/x`, `*` with another method, bytes
//!   outside printable ASCII, a fragment): refused, 400.

use super::path::{normalize_path, PathError};
use crate::authority::is_authority;
use http::Method;
use std::borrow::Cow;

/// Why a request-target was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("request-target is not origin-form (/path) or absolute-form (http://host/path)")]
    NotOriginForm,
    #[error("request-target holds bytes outside printable ASCII, or a fragment")]
    BadCharacter,
    #[error("absolute-form request-target with userinfo or an authority that is not host[:port]")]
    BadAuthority,
    #[error("request path refused: {0}")]
    Path(#[from] PathError),
}

/// A request-target guichet accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target<'a> {
    /// A path (canonical) and its query, from an origin-form or an absolute-form target.
    Path {
        /// The authority of an absolute-form target (to check like `Host`).
        authority: Option<&'a str>,
        path: Cow<'a, str>,
        query: Option<&'a str>,
    },
    /// `OPTIONS *`.
    Asterisk,
}

impl Target<'_> {
    /// The origin-form target to forward when it differs from what was received (an
    /// absolute-form target, a path that was not canonical); `None` when the bytes received
    /// are already it.
    pub fn rewrite(&self) -> Option<String> {
        match self {
            Target::Path {
                authority: None,
                path: Cow::Borrowed(_),
                ..
            }
            | Target::Asterisk => None,
            Target::Path { path, query, .. } => Some(match query {
                Some(q) => format!("{path}?{q}"),
                None => path.to_string(),
            }),
        }
    }
}

/// Splits an origin-form target into its path and query (at the first `?`).
pub fn split(target: &str) -> (&str, Option<&str>) {
    match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    }
}

/// Classifies a raw request-target (see the module documentation).
pub fn parse<'a>(method: &Method, raw: &'a [u8]) -> Result<Target<'a>, TargetError> {
    // Printable ASCII only (the HTTP parser already refuses spaces and controls; raw bytes
    // above 0x7f are read differently by each server); no fragment.
    if raw.iter().any(|b| !(0x21..0x7f).contains(b) || *b == b'#') {
        return Err(TargetError::BadCharacter);
    }
    // Checked ASCII above: never fails.
    let text = std::str::from_utf8(raw).map_err(|_| TargetError::BadCharacter)?;
    if text == "*" {
        return if *method == Method::OPTIONS {
            Ok(Target::Asterisk)
        } else {
            Err(TargetError::NotOriginForm)
        };
    }
    if text.starts_with('/') {
        let (path, query) = split(text);
        return Ok(Target::Path {
            authority: None,
            path: normalize_path(path)?,
            query,
        });
    }
    let rest = strip_prefix_ignore_case(text, "http://")
        .or_else(|| strip_prefix_ignore_case(text, "https://"))
        .ok_or(TargetError::NotOriginForm)?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if !is_authority(authority.as_bytes()) {
        return Err(TargetError::BadAuthority);
    }
    let (path, query) = split(tail);
    let path = if path.is_empty() {
        Cow::Borrowed("/")
    } else {
        normalize_path(path)?
    };
    Ok(Target::Path {
        authority: Some(authority),
        path,
        query,
    })
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(raw: &str) -> Result<Target<'_>, TargetError> {
        parse(&Method::GET, raw.as_bytes())
    }

    #[test]
    fn origin_form_is_accepted_with_its_canonical_path() {
        let t = get("/a/b?x=1&y=%2F").unwrap();
        assert_eq!(
            t,
            Target::Path {
                authority: None,
                path: Cow::Borrowed("/a/b"),
                query: Some("x=1&y=%2F"),
            }
        );
        assert_eq!(t.rewrite(), None);
        let t = get("//%61dmin?q").unwrap();
        assert_eq!(t.rewrite().as_deref(), Some("/admin?q"));
        assert_eq!(get("/?").unwrap().rewrite(), None);
    }

    #[test]
    fn absolute_form_is_rewritten_to_origin_form() {
        let t = get("http://demarches.example.fr/renforce/x?y=1").unwrap();
        assert!(matches!(
            &t,
            Target::Path { authority: Some("demarches.example.fr"), path, query: Some("y=1") } if path == "/renforce/x"
        ));
        assert_eq!(t.rewrite().as_deref(), Some("/renforce/x?y=1"));
        let t = get("HTTPS://h.example:8443").unwrap();
        assert_eq!(t.rewrite().as_deref(), Some("/"));
        let t = get("http://h.example?x").unwrap();
        assert_eq!(t.rewrite().as_deref(), Some("/?x"));
        assert_eq!(
            get("http://u:p@h.example/x"),
            Err(TargetError::BadAuthority)
        );
        assert_eq!(get("http:///x"), Err(TargetError::BadAuthority));
        assert_eq!(
            get("http://h.example/../admin"),
            Err(TargetError::Path(PathError::DotSegment))
        );
    }

    #[test]
    fn every_other_form_is_refused() {
        for raw in [
            "renforce/",
            "a:b/x",
            "demarches.example.fr:443",
            "*",
            "ftp://h/x",
            "http:/x",
            "",
        ] {
            let t = get(raw);
            assert!(
                matches!(
                    t,
                    Err(TargetError::NotOriginForm) | Err(TargetError::BadAuthority)
                ),
                "{raw:?}: {t:?}"
            );
        }
        assert_eq!(get("/a#frag"), Err(TargetError::BadCharacter));
        assert_eq!(
            parse(&Method::GET, b"/caf\xc3\xa9"),
            Err(TargetError::BadCharacter)
        );
        assert_eq!(parse(&Method::OPTIONS, b"*"), Ok(Target::Asterisk));
        assert_eq!(
            get("/admin;x"),
            Err(TargetError::Path(PathError::Parameter))
        );
    }
}
