//! Policy: which route a path belongs to, what that route requires (session, level), and
//! which `return_to` targets are safe.
//!
//! Invariants:
//! - Routes are matched on the canonical path (`edge::path::normalize_path`, checked by the
//!   gateway before it asks), which is also what the upstream receives; a path whose meaning could differ between
//!   guichet and the upstream is refused, never guessed.
//! - Route matching never makes a path *less* protected because of letter case: the
//!   stricter of the case-sensitive and case-insensitive matches wins ([`Policy::route_for`]).
//! - `return_to` is a same-origin path or it is replaced by `/` ([`safe_return_to`]).
//!
//! # Design notes, and the tests that guard each rule
//!
//! ## `src/policy.rs`
//! Levels, routes, `return_to` (the canonical path is `edge::path`'s).
//!
//! **Invariants.** Paths an upstream could read differently are refused, including dots and
//! separators encoded twice
//! (`edge::path::tests::ambiguous_paths_are_refused`,
//! `tests/login_security.rs::hostile_paths_never_reach_a_protected_route_unauthenticated`,
//! `tests/hostile_client.rs::letter_case_and_encoded_separators_never_open_a_public_door`); a
//! request let through without a session is on a public route however an upstream reads its
//! path (decoding once or twice, backslashes, `;params`, any case: `fuzz::the_gateway_fails_closed_on_any_request`);
//! letter case never lowers protection (`case_games_never_lower_protection`); `return_to` is a
//! same-origin path with no dot segment, outside guichet's own paths, as a browser resolves it
//! (`return_to_only_accepts_same_origin_paths`, `tests/login_flow.rs::return_to_never_leaves_the_origin`,
//! `tests/hostile_client.rs::every_return_to_trick_lands_on_the_home_page`,
//! `fuzz::return_to_stays_on_the_origin`).

use crate::config::Route;
use crate::vocab::{Access, Level, ProfileId};

/// How much a route demands: a session or not, then its level.
fn strictness(route: &Route) -> (u8, Option<Level>) {
    let needs_session = u8::from(route.access != Access::Public);
    (needs_session, route.min_level)
}

/// The routing table, longest prefix first.
#[derive(Debug, Clone)]
pub struct Policy {
    routes: Vec<Route>,
    default: Route,
}

impl Policy {
    /// Builds the table; a route with prefix `/` replaces the default (browser, no level).
    pub fn new(routes: &[Route]) -> Policy {
        let mut routes = routes.to_vec();
        let default = match routes.iter().position(|r| r.prefix == "/") {
            Some(i) => routes.remove(i),
            None => Route {
                prefix: "/".into(),
                access: Access::Browser,
                min_level: None,
                profile: ProfileId::default(),
                preserve_post: true,
            },
        };
        routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        Policy { routes, default }
    }

    /// The route for a canonical path (`edge::path::normalize_path`).
    pub fn route_for(&self, path: &str) -> &Route {
        let exact = self.find(path, false);
        let folded = self.find(path, true);
        if strictness(folded) > strictness(exact) {
            folded
        } else {
            exact
        }
    }

    fn find(&self, path: &str, fold_case: bool) -> &Route {
        self.routes
            .iter()
            .find(|r| prefix_matches(&r.prefix, path, fold_case))
            .unwrap_or(&self.default)
    }
}

fn prefix_matches(prefix: &str, path: &str, fold_case: bool) -> bool {
    let (p, s) = (prefix.as_bytes(), path.as_bytes());
    if s.len() < p.len() {
        return false;
    }
    let head = &s[..p.len()];
    let same = if fold_case {
        head.eq_ignore_ascii_case(p)
    } else {
        head == p
    };
    same && (s.len() == p.len() || s[p.len()] == b'/')
}

/// `return_to` if it is a same-origin path outside guichet's own prefix, else `/`.
///
/// Dot segments are refused, encoded or not: browsers resolve `/a/%2e%2e/.guichet/logout`
/// to `/.guichet/logout`, which would make a login link end in a logout (or any own path).
pub fn safe_return_to<'a>(candidate: Option<&'a str>, own_prefix: &str) -> &'a str {
    let Some(c) = candidate else { return "/" };
    let ok = c.len() <= 2048
        && c.starts_with('/')
        && !c.starts_with("//")
        && !c.starts_with("/\\")
        && !c
            .bytes()
            .any(|b| b == b'\\' || b.is_ascii_control() || b == b' ' || b >= 0x80)
        && !starts_with_ignore_case(c, own_prefix)
        && !has_dot_segment(c);
    if !ok {
        return "/";
    }
    // The decoded form must not become scheme-relative or leave the path either.
    match percent_encoding::percent_decode_str(c).decode_utf8() {
        Ok(d)
            if !d.starts_with("//")
                && !d.starts_with("/\\")
                && !d.chars().any(|ch| ch.is_control() || ch == '\\')
                && !starts_with_ignore_case(&d, own_prefix) =>
        {
            c
        }
        _ => "/",
    }
}

/// Does the path part (before `?` or `#`) hold a `.` or `..` segment, percent-encoded or not?
fn has_dot_segment(target: &str) -> bool {
    let path = target.split(['?', '#']).next().unwrap_or("");
    path.split('/').any(|segment| {
        let decoded = percent_encoding::percent_decode_str(segment).collect::<Vec<u8>>();
        decoded == b"." || decoded == b".."
    })
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy::new(&[
            Route {
                prefix: "/public".into(),
                access: Access::Public,
                min_level: None,
                profile: ProfileId::default(),
                preserve_post: false,
            },
            Route {
                prefix: "/api".into(),
                access: Access::Api,
                min_level: None,
                profile: ProfileId::default(),
                preserve_post: false,
            },
            Route {
                prefix: "/admin".into(),
                access: Access::Browser,
                min_level: Some(Level::High),
                profile: ProfileId::default(),
                preserve_post: true,
            },
        ])
    }

    #[test]
    fn longest_segment_prefix_wins() {
        let p = policy();
        assert_eq!(p.route_for("/public").access, Access::Public);
        assert_eq!(p.route_for("/public/css/a.css").access, Access::Public);
        assert_eq!(p.route_for("/publicity").access, Access::Browser);
        assert_eq!(p.route_for("/api/v1/me").access, Access::Api);
        assert_eq!(p.route_for("/").access, Access::Browser);
    }

    #[test]
    fn case_games_never_lower_protection() {
        let p = policy();
        // /ADMIN would fall to the default route case-sensitively; the folded match is stricter.
        assert_eq!(p.route_for("/ADMIN/x").min_level, Some(Level::High));
        // /PUBLIC is not public: the exact (stricter) default route wins.
        assert_eq!(p.route_for("/PUBLIC/x").access, Access::Browser);
    }

    #[test]
    fn return_to_only_accepts_same_origin_paths() {
        let pre = "/.guichet";
        assert_eq!(safe_return_to(Some("/whoami?x=1"), pre), "/whoami?x=1");
        // Dots in the query or inside a segment are data.
        assert_eq!(
            safe_return_to(Some("/a/b.c/..d?p=../..#../x"), pre),
            "/a/b.c/..d?p=../..#../x"
        );
        for evil in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "%2F%2Fevil.example",
            "/%2F%2Fevil.example",
            "/%5Cevil.example",
            "javascript:alert(1)",
            "/ok\r\nSet-Cookie: x=1",
            "/.guichet/logout",
            "/.GUICHET/logout",
            "/a/../.guichet/logout",
            "/%2e%2e/.guichet/logout",
            "/x/.%2E/.guichet/logout",
            "/x%3F/../.guichet/logout",
            "/./x",
            "",
        ] {
            assert_eq!(safe_return_to(Some(evil), pre), "/", "{evil:?}");
        }
        assert_eq!(safe_return_to(None, pre), "/");
    }
}
