//! `[[routes]]`: which path prefixes need a session, at which level, and which claims they
//! receive, validated into [`Route`]s (matched at run time by `policy`).
//!
//! Invariants (tests in `config::tests`): a prefix is a plain path (no `//`, no dot segment)
//! outside guichet's own prefix, given once; a public route asks no level; only browser
//! routes keep forms across a login.

use super::headers::HeaderConfig;
use super::{file, is_path_byte, ConfigError, Validator};
use crate::vocab::{Access, Level, ProfileId};
use serde::Serialize;

/// One configured path prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    /// Matched on whole segments: `/api` matches `/api` and `/api/x`, not `/apix`.
    pub prefix: String,
    pub access: Access,
    pub min_level: Option<Level>,
    /// Which claims this route's requests receive (`[[routes]] claims`).
    pub profile: ProfileId,
    /// A form posted here without a session is kept across the login (browser routes,
    /// `[[routes]] preserve_post`, default true; see `forms`).
    pub preserve_post: bool,
}

impl Validator {
    pub(super) fn routes(
        &self,
        routes: &[file::RouteSection],
        prefix: &str,
        headers: &mut HeaderConfig,
    ) -> Result<Vec<Route>, ConfigError> {
        let mut out: Vec<Route> = Vec::new();
        for (i, r) in routes.iter().enumerate() {
            let key = |k: &str| format!("routes[{i}].{k}");
            let path = if r.path.len() > 1 {
                r.path.trim_end_matches('/')
            } else {
                &r.path
            };
            let plain = path.starts_with('/')
                && path.bytes().all(is_path_byte)
                && !path.contains("//")
                && !path.split('/').any(|s| s == "." || s == "..");
            if !plain {
                return Err(self.err(
                    key("path"),
                    format!("{:?} is not a plain path prefix like \"/public\"", r.path),
                ));
            }
            if path.starts_with(prefix) {
                return Err(self.err(
                    key("path"),
                    format!("{prefix} is reserved for guichet's own pages"),
                ));
            }
            if out.iter().any(|o| o.prefix == path) {
                return Err(self.err(key("path"), format!("{path:?} appears twice")));
            }
            let access = match r.access.as_str() {
                "browser" => Access::Browser,
                "api" => Access::Api,
                "public" => Access::Public,
                o => {
                    return Err(self.err(
                        key("access"),
                        format!("{o:?}: expected browser, api or public"),
                    ))
                }
            };
            let min_level = r
                .min_level
                .as_deref()
                .map(|l| {
                    Level::parse(l).ok_or_else(|| {
                        self.err(
                            key("min_level"),
                            format!("{l:?}: expected eidas1, eidas2 or eidas3"),
                        )
                    })
                })
                .transpose()?;
            if access == Access::Public && min_level.is_some() {
                return Err(self.err(key("min_level"), "a public route cannot require a level"));
            }
            if access != Access::Browser && r.preserve_post.is_some() {
                return Err(self.err(
                    key("preserve_post"),
                    "only browser routes keep forms across a login",
                ));
            }
            let profile = self.route_profile(&key("claims"), r.claims.as_deref(), headers)?;
            out.push(Route {
                prefix: path.to_string(),
                access,
                min_level,
                profile,
                preserve_post: access == Access::Browser && r.preserve_post.unwrap_or(true),
            });
        }
        Ok(out)
    }
}
