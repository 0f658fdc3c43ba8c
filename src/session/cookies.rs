//! Names and attributes of guichet's cookies: the session cookie, the pre-auth "login
//! binding" cookie that ties a `state` (and a kept form) to the browser that started the
//! login, the language the citizen chose on guichet's pages (`fr` or `en`, nothing else), the
//! author mark ([`crate::forms::author`]: who was logged in on this browser last, so a form
//! kept across a login is only sent for the same citizen), and (memory store) the sealed
//! logout hint ([`super::logout_hint`]).
//!
//! All are `HttpOnly`, `Secure` and `SameSite=Lax`. All but the logout hint have `Path=/`
//! and, with an https public URL, the `__Host-` prefix, which browsers only accept from a
//! secure origin without a `Domain` attribute (no subdomain can plant or read them); the
//! logout hint is sent only to the logout path, so it has `__Secure-` (`__Host-` requires
//! `Path=/`). Browsers and curl treat `http://127.0.0.1` and `http://localhost` as secure, so
//! the demo works over plain http.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct CookieNames {
    pub session: &'static str,
    pub login: &'static str,
    pub lang: &'static str,
    pub author: &'static str,
    /// The sealed id_token for the logout hint (memory store), scoped to the logout path.
    pub logout: &'static str,
}

impl CookieNames {
    pub fn new(https: bool) -> CookieNames {
        if https {
            CookieNames {
                session: "__Host-guichet",
                login: "__Host-guichet-login",
                lang: LANG_HTTPS,
                author: "__Host-guichet-author",
                logout: "__Secure-guichet-logout",
            }
        } else {
            CookieNames {
                session: "guichet",
                login: "guichet-login",
                lang: LANG_HTTP,
                author: "guichet-author",
                logout: "guichet-logout",
            }
        }
    }
}

/// The language cookie's names (with and without an https public URL): a page reads
/// either, as the language is no secret and [`crate::web::Request::lang`] knows no URL.
pub const LANG_HTTPS: &str = "__Host-guichet-lang";
pub const LANG_HTTP: &str = "guichet-lang";

/// How long the chosen language is remembered.
pub const LANG_MAX_AGE: Duration = Duration::from_secs(365 * 24 * 3600);

const ATTRS: &str = "Path=/; HttpOnly; Secure; SameSite=Lax";

/// A browser-session cookie (no `Max-Age`: the server enforces the timeouts).
pub fn set(name: &str, value: &str) -> String {
    format!("{name}={value}; {ATTRS}")
}

/// A cookie that expires by itself after `max_age`.
pub fn set_for(name: &str, value: &str, max_age: Duration) -> String {
    format!("{name}={value}; Max-Age={}; {ATTRS}", max_age.as_secs())
}

/// Deletes a cookie.
pub fn clear(name: &str) -> String {
    format!("{name}=; Max-Age=0; {ATTRS}")
}

/// Longest cookie value guichet sets: browsers keep at least 4096 bytes per cookie, name
/// and attributes included.
pub const MAX_VALUE: usize = 3800;

const SCOPED_ATTRS: &str = "HttpOnly; Secure; SameSite=Lax";

/// A browser-session cookie sent only to `path` (and below).
pub fn set_at(name: &str, value: &str, path: &str) -> String {
    format!("{name}={value}; Path={path}; {SCOPED_ATTRS}")
}

/// Deletes a cookie set with [`set_at`].
pub fn clear_at(name: &str, path: &str) -> String {
    format!("{name}=; Max-Age=0; Path={path}; {SCOPED_ATTRS}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_uses_host_prefix_and_all_cookies_are_locked_down() {
        assert_eq!(CookieNames::new(true).session, "__Host-guichet");
        let c = set("__Host-guichet", "v");
        for attr in ["Path=/", "HttpOnly", "Secure", "SameSite=Lax"] {
            assert!(c.contains(attr), "{c}");
        }
        assert!(!c.contains("Domain"));
        assert!(clear("x").contains("Max-Age=0"));
        assert!(set_for("x", "v", Duration::from_secs(600)).contains("Max-Age=600"));
        let names = CookieNames::new(true);
        assert!(names.logout.starts_with("__Secure-"));
        let c = set_at(names.logout, "v", "/.guichet/logout");
        for attr in [
            "Path=/.guichet/logout;",
            "HttpOnly",
            "Secure",
            "SameSite=Lax",
        ] {
            assert!(c.contains(attr), "{c}");
        }
        assert!(!c.contains("Path=/;") && !c.contains("Domain"));
        assert!(clear_at("x", "/p").contains("Max-Age=0; Path=/p;"));
    }
}
