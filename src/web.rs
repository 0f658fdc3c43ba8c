//! The small HTTP vocabulary the gateway speaks, independent of pingora: a borrowed view of
//! the incoming request, and the [`Reply`] guichet sends when it answers by itself.
//! Unit tests build these directly; `proxy` converts to and from pingora's types.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use std::borrow::Cow;
use std::net::IpAddr;

/// What the gateway needs to know about a request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a Method,
    /// The path: from the proxy, the canonical path of an origin-form target
    /// ([`crate::edge`]), exactly what the upstream receives.
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub client_ip: Option<IpAddr>,
    /// This request's id ([`crate::request_id`]); `None` in unit tests.
    pub request_id: Option<&'a str>,
    /// The body, read only for `POST`s to guichet's own paths (forms, back-channel logout).
    pub body: Body<'a>,
}

/// Largest request body guichet reads for its own paths.
pub const MAX_OWN_BODY: usize = 64 * 1024;

/// A request body as far as the gateway is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body<'a> {
    /// Not read: not a `POST` to one of guichet's paths (or none was sent).
    None,
    Read(&'a [u8]),
    /// Longer than [`MAX_OWN_BODY`]; the rest was not read.
    TooLarge,
}

/// Several values for one query parameter: refused (RFC 6749 3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("query parameter {0} appears more than once")]
pub struct DuplicateParam(pub &'static str);

impl<'a> Request<'a> {
    /// The first cookie with this name, among all `Cookie` headers.
    pub fn cookie(&self, name: &str) -> Option<&'a str> {
        cookie_value(self.headers, name)
    }

    /// A query parameter that must appear at most once.
    pub fn param(&self, name: &'static str) -> Result<Option<Cow<'a, str>>, DuplicateParam> {
        let Some(q) = self.query else { return Ok(None) };
        let mut found = None;
        for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
            if k == name {
                if found.is_some() {
                    return Err(DuplicateParam(name));
                }
                found = Some(v);
            }
        }
        Ok(found)
    }

    /// A field of an `application/x-www-form-urlencoded` body that must appear exactly once.
    /// `None` when the body is missing, too large, or has zero or several such fields.
    pub fn form_field(&self, name: &str) -> Option<Cow<'a, str>> {
        let Body::Read(body) = self.body else {
            return None;
        };
        let mut found = None;
        for (k, v) in url::form_urlencoded::parse(body) {
            if k == name {
                if found.is_some() {
                    return None;
                }
                found = Some(v);
            }
        }
        found
    }

    /// A request header as text (first copy).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The path and query, as the browser asked for them (for `return_to`).
    pub fn path_and_query(&self) -> String {
        match self.query {
            Some(q) => format!("{}?{}", self.path, q),
            None => self.path.to_string(),
        }
    }

    /// The language asked for in the query (`?lang=fr` or `?lang=en`), if any.
    pub fn lang_param(&self) -> Option<Lang> {
        self.param("lang")
            .ok()
            .flatten()
            .and_then(|l| Lang::parse(&l))
    }

    /// Page language: `?lang=` first, then the language the citizen chose earlier (cookie set
    /// by guichet's language switch), then `Accept-Language`, French by default.
    pub fn lang(&self) -> Lang {
        if let Some(lang) = self.lang_param() {
            return lang;
        }
        let chosen = [
            crate::session::cookies::LANG_HTTPS,
            crate::session::cookies::LANG_HTTP,
        ]
        .iter()
        .find_map(|name| self.cookie(name).and_then(Lang::parse));
        if let Some(lang) = chosen {
            return lang;
        }
        self.headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(Lang::from_accept_language)
            .unwrap_or(Lang::Fr)
    }
}

/// Finds a cookie by name across every `Cookie` header. Malformed pairs are skipped.
pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// Languages of guichet's pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Fr,
    En,
}

impl Lang {
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "fr" => Some(Lang::Fr),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The first of `fr`/`en` in the header's order of preference (q-values ignored, as
    /// browsers send them in order).
    fn from_accept_language(v: &str) -> Option<Lang> {
        v.split(',')
            .map(|item| item.split(';').next().unwrap_or("").trim())
            .map(|tag| tag.split('-').next().unwrap_or("").to_ascii_lowercase())
            .find_map(|primary| Lang::parse(&primary))
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }

    /// The other language (the switch on every page).
    pub fn other(self) -> Lang {
        match self {
            Lang::Fr => Lang::En,
            Lang::En => Lang::Fr,
        }
    }
}

/// A response guichet writes itself (pages, redirects, JSON).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

impl Reply {
    pub fn new(status: StatusCode) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// `302 Found` to `location`, never cached.
    pub fn redirect(location: &str) -> Reply {
        let mut r = Reply::new(StatusCode::FOUND);
        match HeaderValue::from_str(location) {
            Ok(v) => r.headers.push((header::LOCATION, v)),
            // Every location guichet builds is ASCII; fall back to the root rather than panic.
            Err(_) => r
                .headers
                .push((header::LOCATION, HeaderValue::from_static("/"))),
        }
        r.no_store()
    }

    pub fn json(status: StatusCode, value: &serde_json::Value) -> Reply {
        let mut r = Reply::new(status);
        r.body = Bytes::from(value.to_string());
        r.headers.push((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ));
        r.no_store()
    }

    pub fn text(status: StatusCode, body: &'static str) -> Reply {
        let mut r = Reply::new(status);
        r.body = Bytes::from_static(body.as_bytes());
        r.headers.push((
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        ));
        r.no_store()
    }

    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Reply {
        self.headers.push((name, value));
        self
    }

    /// Adds a `Set-Cookie` built by [`crate::session::cookies`].
    pub fn set_cookie(self, cookie: String) -> Reply {
        match HeaderValue::try_from(cookie) {
            Ok(v) => self.header(header::SET_COOKIE, v),
            Err(_) => self,
        }
    }

    fn no_store(self) -> Reply {
        self.header(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
    }

    /// The value of a header of this reply (tests, proxy).
    pub fn header_value(&self, name: &HeaderName) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.to_str().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn cookies_are_found_across_headers_and_malformed_pairs_skipped() {
        let h = headers(&[("cookie", "a=1; junk; b=2"), ("cookie", "c=\"3\"")]);
        assert_eq!(cookie_value(&h, "b"), Some("2"));
        assert_eq!(cookie_value(&h, "c"), Some("3"));
        assert_eq!(cookie_value(&h, "junk"), None);
        assert_eq!(cookie_value(&h, "d"), None);
    }

    #[test]
    fn duplicate_query_parameters_are_refused() {
        let h = HeaderMap::new();
        let m = Method::GET;
        let r = Request {
            method: &m,
            path: "/cb",
            query: Some("state=a&code=x&state=b"),
            headers: &h,
            client_ip: None,
            request_id: None,
            body: Body::None,
        };
        assert_eq!(r.param("state"), Err(DuplicateParam("state")));
        assert_eq!(r.param("code").unwrap().as_deref(), Some("x"));
        assert_eq!(r.param("nope").unwrap(), None);
    }

    #[test]
    fn form_fields_must_appear_once() {
        let h = HeaderMap::new();
        let m = Method::POST;
        let mut r = Request {
            method: &m,
            path: "/x",
            query: None,
            headers: &h,
            client_ip: None,
            request_id: None,
            body: Body::Read(b"logout_token=a.b%2Bc&x=1"),
        };
        assert_eq!(r.form_field("logout_token").as_deref(), Some("a.b+c"));
        assert_eq!(r.form_field("nope"), None);
        r.body = Body::Read(b"logout_token=a&logout_token=b");
        assert_eq!(r.form_field("logout_token"), None);
        r.body = Body::TooLarge;
        assert_eq!(r.form_field("logout_token"), None);
    }

    #[test]
    fn language_from_query_then_header_then_french() {
        let m = Method::GET;
        let h = headers(&[("accept-language", "de-DE, en-GB;q=0.8, fr;q=0.5")]);
        let mut r = Request {
            method: &m,
            path: "/",
            query: None,
            headers: &h,
            client_ip: None,
            request_id: None,
            body: Body::None,
        };
        assert_eq!(r.lang(), Lang::En);
        r.query = Some("lang=fr");
        assert_eq!(r.lang(), Lang::Fr);
        // The citizen's earlier choice (the switch's cookie) beats Accept-Language, not ?lang=.
        let chosen = headers(&[
            ("accept-language", "en"),
            ("cookie", "a=1; guichet-lang=fr"),
        ]);
        r.headers = &chosen;
        r.query = None;
        assert_eq!(r.lang(), Lang::Fr);
        r.query = Some("lang=en");
        assert_eq!(r.lang(), Lang::En);
        let odd = headers(&[("accept-language", "en"), ("cookie", "guichet-lang=de")]);
        r.headers = &odd;
        r.query = None;
        assert_eq!(r.lang(), Lang::En);
        let empty = HeaderMap::new();
        r.headers = &empty;
        r.query = None;
        assert_eq!(r.lang(), Lang::Fr);
    }
}
