//! Forms kept across a login (`preserve_post`, R28): a citizen whose session ended while they
//! filled a form posts it, guichet keeps it in the login state, the citizen logs in, and the
//! browser posts it again to the same URL from guichet's replay page.
//!
//! This module holds the plain functions (no server, no store): which requests may be kept
//! ([`same_origin`], [`Encoding::of`]), reading a body into an ordered list of fields
//! ([`parse`]: `application/x-www-form-urlencoded` and `multipart/form-data`, file parts
//! included), the [`KeptForm`] record, and the author mark ([`author`]) that tells whether the
//! citizen who logs in is the one whose session the form was filled in.
//! The gateway's side is in `gateway/forms.rs`, the replay page in `pages/replay.rs`.
//!
//! Invariants:
//! - Only same-origin posts are kept: `Sec-Fetch-Site: same-origin`, or without fetch
//!   metadata an `Origin` equal to the public URL; anything else (cross-site, same-site, no
//!   header at all, `Origin: null` without fetch metadata) is not (`tests::only_same_origin_posts_are_kept`).
//! - A body is kept only if it can be sent again exactly: names and text values valid UTF-8,
//!   a multipart body as browsers write it (`tests::what_cannot_be_replayed_exactly_is_refused`);
//!   fields keep their order, names and values their bytes
//!   (`tests::urlencoded_fields_keep_their_order_and_bytes`, `tests::multipart_text_and_file_parts`).
//! - `Debug` of a kept form prints sizes only: a form is personal data and is never logged.
//!
//! # Design notes, and the tests that guard each rule
//!
//! ## `src/forms/`
//! Forms kept across a login: which posts are kept ([`same_origin`], [`Encoding::of`]), the body
//! as ordered fields ([`parse`]; `multipart.rs`: browser-written
//! multipart, names kept as written), [`KeptForm`] (its weight for the memory bound; `Debug`
//! prints sizes only) and the author mark. The gateway side is
//! `gateway/forms.rs`, the page `pages/replay.rs`;
//! user documentation in `docs/pages.md`.
//!
//! **Invariants.** Only same-origin posts are kept
//! (`forms::tests::only_same_origin_posts_are_kept`,
//! `tests/preserve_post.rs::only_same_origin_forms_on_browser_routes_are_kept`, which also
//! covers `api` routes (401), `preserve_post = false` and other content types); only bodies that
//! can be sent back byte for byte (`what_cannot_be_replayed_exactly_is_refused`,
//! `urlencoded_fields_keep_their_order_and_bytes`, `multipart_text_and_file_parts`); a body
//! over the limit is answered with a page, never forwarded, and its rest never taken for a
//! request (`tests/preserve_post.rs::forms_over_the_limit_or_not_replayable_get_a_page_and_nothing_is_forwarded`);
//! replayed once (`a_form_posted_after_the_session_ended_reaches_the_app_once_after_the_new_login`),
//! only with the session made by the login it started, in the browser that posted it
//! (`a_replay_page_opens_only_in_the_browser_that_posted_and_only_once`,
//! `a_kept_form_is_replayed_only_after_a_login_that_ended_after_it`,
//! `a_login_from_another_browser_naming_the_form_does_not_get_it`), never to another citizen
//! (`another_citizen_logging_in_does_not_get_the_form`, the mark:
//! `the_author_mark_names_one_citizen_and_nobody_else`), never after `login_timeout`
//! (`a_kept_form_is_never_replayed_after_login_timeout`), on Redis and across replicas
//! (`with_redis_*`); none of it logged (first test above). The real browser posts it back with
//! the same fields, files included (`tests/browser.rs::a_form_sent_after_the_session_ended_reaches_the_application_after_a_new_login`).
//! **Never**: log a field; store a form anywhere but through `put_login` (one record path, sealed
//! with the others); replay without taking.

mod multipart;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use http::header::{self, HeaderMap};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Most fields a kept form may have (a form with more is not kept).
pub const MAX_FIELDS: usize = 1000;

/// Bytes counted for each field on top of its name and value (the memory store's bound).
const FIELD_OVERHEAD: usize = 64;

/// How a form body is encoded (the `enctype` of the HTML form).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// `application/x-www-form-urlencoded`.
    Urlencoded,
    /// `multipart/form-data`.
    Multipart,
}

impl Encoding {
    /// The encoding of a request's `Content-Type`, if it is one guichet keeps, with the
    /// multipart boundary.
    pub fn of(content_type: &str) -> Option<(Encoding, Option<String>)> {
        let mut parts = content_type.split(';');
        let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        match essence.as_str() {
            "application/x-www-form-urlencoded" => Some((Encoding::Urlencoded, None)),
            "multipart/form-data" => {
                let boundary = parts.find_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    k.trim()
                        .eq_ignore_ascii_case("boundary")
                        .then(|| v.trim().trim_matches('"').to_string())
                })?;
                multipart::valid_boundary(&boundary)
                    .then_some((Encoding::Multipart, Some(boundary)))
            }
            _ => None,
        }
    }

    /// The HTML `enctype` value.
    pub fn enctype(self) -> &'static str {
        match self {
            Encoding::Urlencoded => "application/x-www-form-urlencoded",
            Encoding::Multipart => "multipart/form-data",
        }
    }
}

/// One field of a form, in the order the browser sent it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub value: Value,
}

/// A field's value: text, or a file part (multipart only).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    Text(String),
    File {
        /// As the browser wrote it in `Content-Disposition` (empty: no file chosen).
        filename: String,
        /// The part's `Content-Type` (`application/octet-stream` when it had none).
        content_type: String,
        /// The file's bytes, base64 (standard alphabet, padded).
        data: String,
    },
}

/// Sizes only: a value is personal data.
impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Text(t) => write!(f, "Text({} bytes)", t.len()),
            Value::File { data, .. } => write!(f, "File({} base64 bytes)", data.len()),
        }
    }
}

/// The name and the value's size.
impl fmt::Debug for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {:?}", self.name, self.value)
    }
}

impl Value {
    /// Bytes held by the value.
    fn len(&self) -> usize {
        match self {
            Value::Text(t) => t.len(),
            Value::File {
                filename,
                content_type,
                data,
            } => filename.len() + content_type.len() + data.len(),
        }
    }
}

/// A form kept across a login: what the replay page posts again.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptForm {
    /// Where it was posted: the same-origin path and query.
    pub action: String,
    pub encoding: Encoding,
    pub fields: Vec<Field>,
    /// The browser's author mark when the form was posted ([`author`]): who was logged in on
    /// this browser last. `None`: nobody known.
    pub author: Option<String>,
}

impl KeptForm {
    /// Bytes this form takes, as the memory store counts them.
    pub fn weight(&self) -> usize {
        self.action.len()
            + self
                .fields
                .iter()
                .map(|f| f.name.len() + f.value.len() + FIELD_OVERHEAD)
                .sum::<usize>()
    }

    /// Does it hold a chosen file (which only a script can put back in a form)? A part
    /// with no filename and no content is an input where no file was chosen.
    pub fn has_file_contents(&self) -> bool {
        self.fields.iter().any(|f| {
            matches!(&f.value, Value::File { filename, data, .. }
                if !filename.is_empty() || !data.is_empty())
        })
    }
}

impl fmt::Debug for KeptForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeptForm")
            .field("encoding", &self.encoding)
            .field("fields", &self.fields.len())
            .field("bytes", &self.weight())
            .finish_non_exhaustive()
    }
}

/// Why a body cannot be kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("a field name or text value is not UTF-8")]
    NotUtf8,
    #[error("malformed {0} body")]
    Malformed(&'static str),
    #[error("more than {MAX_FIELDS} fields")]
    TooManyFields,
    /// An HTML page cannot carry a NUL (the parser replaces it).
    #[error("a field name or text value holds a NUL character")]
    Nul,
}

/// The body's fields, in order. `content_type` is the request's; see [`Encoding::of`].
pub fn parse(content_type: &str, body: &[u8]) -> Result<(Encoding, Vec<Field>), FormError> {
    let fields = match Encoding::of(content_type) {
        Some((Encoding::Urlencoded, _)) => (Encoding::Urlencoded, urlencoded(body)?),
        Some((Encoding::Multipart, Some(b))) => {
            (Encoding::Multipart, multipart::parse(body, b.as_bytes())?)
        }
        _ => return Err(FormError::Malformed("form")),
    };
    if fields.1.len() > MAX_FIELDS {
        return Err(FormError::TooManyFields);
    }
    let nul = |s: &str| s.contains('\0');
    if fields.1.iter().any(|f| {
        nul(&f.name)
            || match &f.value {
                Value::Text(t) => nul(t),
                Value::File {
                    filename,
                    content_type,
                    ..
                } => nul(filename) || nul(content_type),
            }
    }) {
        return Err(FormError::Nul);
    }
    Ok(fields)
}

/// `application/x-www-form-urlencoded`, as the URL standard parses it (`+` is a space), with
/// every name and value required to be UTF-8 once decoded (the replay page re-encodes UTF-8).
fn urlencoded(body: &[u8]) -> Result<Vec<Field>, FormError> {
    let mut fields = Vec::new();
    for pair in body.split(|b| *b == b'&') {
        if pair.is_empty() {
            continue;
        }
        if fields.len() >= MAX_FIELDS {
            return Err(FormError::TooManyFields);
        }
        let (name, value) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &[][..]),
        };
        fields.push(Field {
            name: decode(name)?,
            value: Value::Text(decode(value)?),
        });
    }
    Ok(fields)
}

fn decode(raw: &[u8]) -> Result<String, FormError> {
    let plus: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    let bytes: Vec<u8> = percent_encoding::percent_decode(&plus).collect();
    String::from_utf8(bytes).map_err(|_| FormError::NotUtf8)
}

/// Is this request from a page of this site? `Sec-Fetch-Site` (set by the browser, which no
/// page can forge) must say `same-origin` when present; without it, `Origin` must be the
/// public URL. Returns why not.
pub fn same_origin(headers: &HeaderMap, public_url: &str) -> Result<(), &'static str> {
    let get = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or("\u{0}"));
    let origin = get(header::ORIGIN.as_str());
    match get("sec-fetch-site") {
        Some("same-origin") => match origin {
            // A page with `Referrer-Policy: no-referrer` sends `Origin: null`.
            None | Some("null") => Ok(()),
            Some(o) if o == public_url => Ok(()),
            Some(_) => Err("foreign_origin"),
        },
        Some(_) => Err("cross_site"),
        None => match origin {
            Some(o) if o == public_url => Ok(()),
            Some(_) => Err("foreign_origin"),
            None => Err("no_origin"),
        },
    }
}

/// The author mark: a cookie set at each login that tells, later, whether the citizen who
/// logs in is the one who was logged in on this browser before (a form filled in a session
/// that has since ended is only sent for the same citizen).
///
/// The mark is 16 random bytes (a salt) and the first 16 bytes of SHA-256 over the
/// deployment, the salt, the provider and the `sub`, base64url: it names nobody to whoever
/// reads it, and two marks of one citizen look unrelated.
pub mod author {
    use super::*;

    fn tag(deployment: &str, salt: &[u8], provider: &str, sub: &str) -> [u8; 16] {
        let mut input = Vec::with_capacity(64 + deployment.len() + provider.len() + sub.len());
        input.extend_from_slice(b"guichet author\0");
        input.extend_from_slice(deployment.as_bytes());
        input.push(0);
        input.extend_from_slice(salt);
        input.extend_from_slice(provider.as_bytes());
        input.push(0);
        input.extend_from_slice(sub.as_bytes());
        let digest = crate::crypto::sha256(&input);
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        out
    }

    /// A new mark for this citizen (43 characters).
    pub fn mark(deployment: &str, provider: &str, sub: &str) -> String {
        let salt = crate::crypto::random_bytes::<16>();
        let mut raw = [0u8; 32];
        raw[..16].copy_from_slice(&salt);
        raw[16..].copy_from_slice(&tag(deployment, &salt, provider, sub));
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Is `mark` one made for this citizen? A malformed mark matches nobody.
    pub fn matches(mark: &str, deployment: &str, provider: &str, sub: &str) -> bool {
        let Ok(raw) = URL_SAFE_NO_PAD.decode(mark) else {
            return false;
        };
        if raw.len() != 32 {
            return false;
        }
        crate::crypto::constant_time_eq(&raw[16..], &tag(deployment, &raw[..16], provider, sub))
    }

    /// A cookie value that could be a mark (checked before it is kept with a form).
    pub fn well_formed(value: &str) -> bool {
        crate::crypto::is_token(value)
    }
}

/// Base64 (standard, padded) of a file's bytes, as [`Value::File`] holds them.
pub(crate) fn encode_file(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests;
