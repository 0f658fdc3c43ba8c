//! The canonical form of a request path: the one string guichet routes, judges, logs and
//! forwards ([`normalize_path`]).
//!
//! A path is either refused (400) or rewritten to its canonical form, which the upstream then
//! receives byte for byte. The canonical form differs from what was received only by
//! equivalences RFC 3986 6.2.2 allows and that no server reads differently: percent-encoded
//! unreserved characters decoded (`%61` is `a`, `%2E` is `.`), hexadecimal digits of the
//! other escapes in upper case, and runs of `/` collapsed to one.
//!
//! Refused, because some upstreams trim, fold, split or decode them while others do not, so
//! the path would name different resources on each side of guichet (docs/security.md, "HTTP
//! edge"):
//! - dot segments, `.` and `..`, written plainly or encoded;
//! - a segment ending in a dot or a space (`/admin.`, `/admin%20`: Windows and IIS trim them);
//! - `;` and `%3B` (Java servers drop `;parameters`, others keep them);
//! - encoded `/` and `\`, and `\` itself; encoded `?` and `#` (a stack that decodes then splits
//!   would read a query or a fragment);
//! - `%00` and every other encoded control character;
//! - a `%` that decodes into the start of another escape (`%252e`, `%2561`: a second decoding
//!   would make a dot, a slash or another letter);
//! - escapes that do not decode to UTF-8 (overlong forms such as `%C0%AE` included), a `%` not
//!   followed by two hexadecimal digits;
//! - raw bytes outside printable ASCII, and the printable characters RFC 3986 never allows in
//!   a path (`"`, `<`, `>`, `` ` ``, `{`, `}`) except `[`, `]`, `|` and `^`, which browsers send
//!   unencoded.
//!
//! The common case (a path of plain characters, no `%`, no `//`) is checked in one pass and
//! returned borrowed, without allocation.

use std::borrow::Cow;

/// Why a request path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path contains a dot segment")]
    DotSegment,
    #[error("path contains an encoded slash or a backslash")]
    AmbiguousSeparator,
    #[error("path contains control characters, invalid characters or invalid encoding")]
    BadEncoding,
    #[error("path is not absolute")]
    NotAbsolute,
    #[error("path holds a percent sign that a second decoding would read as an escape")]
    DoubleEncoded,
    #[error("path contains a ';' parameter")]
    Parameter,
    #[error("path contains a segment ending in a dot or a space")]
    TrailingDotOrSpace,
    #[error("path contains an encoded '?' or '#'")]
    EncodedDelimiter,
}

/// Characters that stand for themselves in a canonical path (besides `/`): RFC 3986's
/// unreserved characters and sub-delimiters without `;`, `:` and `@`, and the four
/// characters browsers leave unencoded.
fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,=:@[]|^".contains(&b)
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~".contains(&b)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The byte a `%HH` at `at` stands for.
fn escape_at(raw: &[u8], at: usize) -> Option<u8> {
    let hi = hex_value(*raw.get(at + 1)?)?;
    let lo = hex_value(*raw.get(at + 2)?)?;
    Some(hi << 4 | lo)
}

/// The canonical form of an origin-form path (without its query), or why it is refused.
/// See the module documentation.
pub fn normalize_path(raw: &str) -> Result<Cow<'_, str>, PathError> {
    let bytes = raw.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    let mut plain = true;
    let mut previous = 0u8;
    for &b in bytes {
        if b == b'/' {
            if previous == b'/' {
                plain = false;
            }
        } else if !is_plain(b) {
            plain = false;
        }
        previous = b;
    }
    if plain {
        check_segments(raw)?;
        return Ok(Cow::Borrowed(raw));
    }
    let canonical = canonicalize(bytes)?;
    check_segments(&canonical)?;
    if canonical == raw {
        Ok(Cow::Borrowed(raw))
    } else {
        Ok(Cow::Owned(canonical))
    }
}

/// Builds the canonical form of a path that is not plain; refuses what cannot have one.
fn canonicalize(raw: &[u8]) -> Result<String, PathError> {
    let mut out = String::with_capacity(raw.len());
    // Every byte the path stands for, decoded once, to check that escapes make UTF-8.
    let mut decoded = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        match b {
            b'/' => {
                if !out.ends_with('/') {
                    out.push('/');
                }
                decoded.push(b);
                i += 1;
            }
            b'%' => {
                let value = escape_at(raw, i).ok_or(PathError::BadEncoding)?;
                match value {
                    b'/' | b'\\' => return Err(PathError::AmbiguousSeparator),
                    b';' => return Err(PathError::Parameter),
                    b'?' | b'#' => return Err(PathError::EncodedDelimiter),
                    0..=0x1f | 0x7f => return Err(PathError::BadEncoding),
                    v if is_unreserved(v) => out.push(char::from(v)),
                    v => {
                        const HEX: &[u8; 16] = b"0123456789ABCDEF";
                        out.push('%');
                        out.push(char::from(HEX[usize::from(v >> 4)]));
                        out.push(char::from(HEX[usize::from(v & 0xf)]));
                    }
                }
                decoded.push(value);
                i += 3;
            }
            b'\\' => return Err(PathError::AmbiguousSeparator),
            b';' => return Err(PathError::Parameter),
            b if is_plain(b) => {
                out.push(char::from(b));
                decoded.push(b);
                i += 1;
            }
            _ => return Err(PathError::BadEncoding),
        }
    }
    // A decoded `%` (from `%25`) followed by two hexadecimal digits once decoded: a second
    // decoding would read an escape there.
    if decoded
        .iter()
        .enumerate()
        .any(|(at, b)| *b == b'%' && escape_at(&decoded, at).is_some())
    {
        return Err(PathError::DoubleEncoded);
    }
    if std::str::from_utf8(&decoded).is_err() {
        return Err(PathError::BadEncoding);
    }
    Ok(out)
}

/// Dot segments, and segments ending in a dot or an (encoded) space, are refused.
fn check_segments(path: &str) -> Result<(), PathError> {
    for segment in path.split('/') {
        if segment == "." || segment == ".." {
            return Err(PathError::DotSegment);
        }
        if segment.ends_with('.') || segment.ends_with("%20") {
            return Err(PathError::TrailingDotOrSpace);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(raw: &str) -> Result<String, PathError> {
        normalize_path(raw).map(Cow::into_owned)
    }

    #[test]
    fn plain_paths_are_borrowed_as_they_are() {
        for p in [
            "/",
            "/a/b",
            "/a/",
            "/dossiers/42/pieces",
            "/.well-known/x",
            "/file.tar.gz",
            "/a:b@c!$&'()*+,=~_-",
            "/q[1]|x^",
        ] {
            assert!(
                matches!(normalize_path(p), Ok(Cow::Borrowed(b)) if b == p),
                "{p}"
            );
        }
    }

    #[test]
    fn equivalent_spellings_become_one_canonical_path() {
        assert_eq!(canon("/%61dmin").unwrap(), "/admin");
        assert_eq!(canon("//admin").unwrap(), "/admin");
        assert_eq!(canon("/a//b///").unwrap(), "/a/b/");
        assert_eq!(canon("/caf%c3%a9").unwrap(), "/caf%C3%A9");
        assert_eq!(canon("/caf%C3%A9").unwrap(), "/caf%C3%A9");
        assert!(matches!(normalize_path("/caf%C3%A9"), Ok(Cow::Borrowed(_))));
        assert_eq!(canon("/a%20b").unwrap(), "/a%20b");
        assert_eq!(canon("/100%25").unwrap(), "/100%25");
        assert_eq!(canon("/%7euser").unwrap(), "/~user");
        assert_eq!(canon("/a%2Db").unwrap(), "/a-b");
        // Encoded sub-delimiters keep their escape (they may mean something to the app).
        assert_eq!(canon("/a%2Bb").unwrap(), "/a%2Bb");
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        use PathError::*;
        for (raw, why) in [
            ("x", NotAbsolute),
            ("", NotAbsolute),
            ("renforce/", NotAbsolute),
            ("/public/../admin", DotSegment),
            ("/public/%2e%2e/admin", DotSegment),
            ("/public/.%2E/admin", DotSegment),
            ("/./x", DotSegment),
            ("/x/.", DotSegment),
            ("/admin.", TrailingDotOrSpace),
            ("/admin./x", TrailingDotOrSpace),
            ("/admin%2e", TrailingDotOrSpace),
            ("/admin%20", TrailingDotOrSpace),
            ("/admin%20/x", TrailingDotOrSpace),
            ("/public%2f..%2fadmin", AmbiguousSeparator),
            ("/public%2F", AmbiguousSeparator),
            ("/public%5cadmin", AmbiguousSeparator),
            ("/public\\..\\admin", AmbiguousSeparator),
            ("/admin;jsessionid=1/x", Parameter),
            ("/admin%3bx", Parameter),
            ("/public;x=1/../admin", Parameter),
            ("/admin%3F/x", EncodedDelimiter),
            ("/admin%23x", EncodedDelimiter),
            ("/public/%00", BadEncoding),
            ("/a%0a", BadEncoding),
            ("/a%7F", BadEncoding),
            ("/a%", BadEncoding),
            ("/a%2", BadEncoding),
            ("/a%zz", BadEncoding),
            ("/a%ff", BadEncoding),
            ("/%c0%ae%c0%ae/admin", BadEncoding),
            ("/a b", BadEncoding),
            ("/a\"b", BadEncoding),
            ("/a<b>", BadEncoding),
            ("/a{b}", BadEncoding),
            ("/a`b", BadEncoding),
            ("/é", BadEncoding),
            ("/a\tb", BadEncoding),
            ("/public/%252e%252e/admin", DoubleEncoded),
            ("/public/%252E./admin", DoubleEncoded),
            ("/public%252fadmin", DoubleEncoded),
            ("/public/..%255cadmin", DoubleEncoded),
            ("/%2561dmin", DoubleEncoded),
            ("/%25%32%65", DoubleEncoded),
        ] {
            assert_eq!(normalize_path(raw), Err(why), "{raw:?}");
        }
    }

    #[test]
    fn the_canonical_form_is_its_own_canonical_form() {
        for raw in ["/%61dmin", "//a//b/", "/caf%c3%a9/x", "/a%2bb", "/%7e%2D"] {
            let once = canon(raw).unwrap();
            assert!(
                matches!(normalize_path(&once), Ok(Cow::Borrowed(b)) if b == once),
                "{raw} -> {once}"
            );
        }
    }
}
