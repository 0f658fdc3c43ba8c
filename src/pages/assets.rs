//! Images guichet's pages show, served by guichet itself under `/.guichet/assets/` (nothing
//! is fetched from elsewhere, at build or run time): the FranceConnect logo of the official
//! button, and the State's brand (Marianne, motto) for services that opt in. All come,
//! unchanged, from the State design system's npm package `@gouvfr/dsfr` (pinned version,
//! Licence Ouverte 2.0): provenance and licence in `src/pages/assets/README.md`.

use crate::web::Reply;
use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::StatusCode;

/// `(name, bytes)` of every asset.
const ASSETS: &[(&str, &[u8])] = &[
    (
        "franceconnect.svg",
        include_bytes!("assets/franceconnect.svg"),
    ),
    ("marianne.svg", include_bytes!("assets/marianne.svg")),
    ("devise.svg", include_bytes!("assets/devise.svg")),
];

/// The asset `name` (the path after `/.guichet/assets/`), or `None`.
pub fn asset(name: &str) -> Option<Reply> {
    let (_, bytes) = ASSETS.iter().find(|(n, _)| *n == name)?;
    let mut r = Reply::new(StatusCode::OK);
    r.body = Bytes::from_static(bytes);
    let h = |v: &'static str| HeaderValue::from_static(v);
    r.headers.extend([
        (header::CONTENT_TYPE, h("image/svg+xml")),
        // The same bytes for a given guichet version; a day keeps upgrades visible.
        (header::CACHE_CONTROL, h("public, max-age=86400")),
        (header::X_CONTENT_TYPE_OPTIONS, h("nosniff")),
        // Opened on its own, an image runs nothing and loads nothing.
        (
            header::CONTENT_SECURITY_POLICY,
            h("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
        ),
    ]);
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_plain_svg_served_locked_down() {
        for (name, bytes) in ASSETS {
            let text = std::str::from_utf8(bytes).unwrap();
            assert!(
                text.starts_with("<svg xmlns='http://www.w3.org/2000/svg'"),
                "{name}"
            );
            for active in [
                "<script",
                "onload",
                "javascript:",
                "http://",
                "https://",
                "<foreignObject",
            ] {
                let outside_ns = text.replacen("http://www.w3.org/2000/svg", "", 1);
                assert!(!outside_ns.contains(active), "{name}: {active}");
            }
            let r = asset(name).unwrap();
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(r.header_value(&header::CONTENT_TYPE), Some("image/svg+xml"));
            assert!(r
                .header_value(&header::CONTENT_SECURITY_POLICY)
                .unwrap()
                .contains("sandbox"));
        }
        assert!(asset("../config.toml").is_none());
        assert!(asset("").is_none());
    }
}
