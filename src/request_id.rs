//! Request ids: one per request, in the evidence log, on guichet's own pages ("référence") and
//! sent to the application as `X-Request-Id`, so a citizen's complaint, an evidence line and
//! the application's own logs can be matched.
//!
//! Invariants:
//! - Making an id costs an atomic increment and a hex encoding into a fixed buffer: no
//!   allocation, no system call on the request path ([`RequestIds::next`]).
//! - Ids are unique across restarts and replicas (a random 64-bit prefix per process, then a
//!   counter from a random start), and are not secrets: they may appear in pages and logs.
//!   Pages show their last 8 characters, which find the whole id in the evidence log.
//! - An incoming `X-Request-Id` is kept only when the peer is a trusted proxy and the value is
//!   1 to [`MAX_LEN`] characters of `[A-Za-z0-9._:-]` ([`RequestId::parse`]); anything else
//!   is replaced by guichet's own id before the request goes upstream
//!   (`tests/ops.rs::request_ids_reach_the_upstream_and_the_evidence_log`).

use http::header::HeaderValue;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// Longest id accepted from a trusted proxy.
pub const MAX_LEN: usize = 64;

/// The header carrying the id, as written on the wire.
pub const HEADER: &str = "X-Request-Id";

/// One request's id: ASCII, at most [`MAX_LEN`] bytes, kept inline.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RequestId {
    buf: [u8; MAX_LEN],
    len: u8,
}

fn allowed(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-')
}

impl RequestId {
    /// An id set by a trusted proxy, if it is well-formed.
    pub fn parse(value: &[u8]) -> Option<RequestId> {
        if value.is_empty() || value.len() > MAX_LEN || !value.iter().all(|b| allowed(*b)) {
            return None;
        }
        let mut buf = [0u8; MAX_LEN];
        buf[..value.len()].copy_from_slice(value);
        Some(RequestId {
            buf,
            len: u8::try_from(value.len()).ok()?,
        })
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII bytes are ever stored.
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or("")
    }

    /// The id as a header value (always valid: the charset is a subset of header bytes).
    pub fn header_value(&self) -> HeaderValue {
        HeaderValue::from_bytes(&self.buf[..usize::from(self.len)])
            .unwrap_or(HeaderValue::from_static("-"))
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Makes request ids: 32 hex characters, a per-process random prefix then a counter.
pub struct RequestIds {
    prefix: u64,
    counter: AtomicU64,
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_into(out: &mut [u8], v: u64) {
    for (i, slot) in out.iter_mut().enumerate().take(16) {
        let shift = 60 - 4 * i;
        *slot = HEX[((v >> shift) & 0xf) as usize];
    }
}

impl RequestIds {
    pub fn new() -> RequestIds {
        RequestIds {
            prefix: u64::from_be_bytes(crate::crypto::random_bytes::<8>()),
            // A random start: the last characters, which pages show as the reference a
            // citizen reads out ([`crate::pages::short_reference`]), differ between processes.
            counter: AtomicU64::new(u64::from(u32::from_be_bytes(
                crate::crypto::random_bytes::<4>(),
            ))),
        }
    }

    pub fn next(&self) -> RequestId {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut buf = [0u8; MAX_LEN];
        hex_into(&mut buf[..16], self.prefix);
        hex_into(&mut buf[16..32], n);
        RequestId { buf, len: 32 }
    }
}

impl Default for RequestIds {
    fn default() -> Self {
        RequestIds::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_unique_hex_and_valid_headers() {
        let ids = RequestIds::new();
        let a = ids.next();
        let b = ids.next();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
        assert!(a.as_str().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a.as_str()[..16], b.as_str()[..16]);
        assert_eq!(a.header_value().to_str().unwrap(), a.as_str());
        // Another process (another prefix) never repeats them, nor (but by a 1 in 2^32
        // chance) the last 8 characters pages show.
        let other = RequestIds::new().next();
        assert_ne!(other, ids.next());
        assert_ne!(other.as_str()[24..], ids.next().as_str()[24..]);
    }

    #[test]
    fn only_plain_ids_are_taken_from_a_proxy() {
        assert_eq!(
            RequestId::parse(b"req-42_a.b:c").map(|r| r.to_string()),
            Some("req-42_a.b:c".into())
        );
        for bad in [
            &b""[..],
            b"a b",
            b"a\"b",
            b"<script>",
            b"caf\xc3\xa9",
            &[b'a'; MAX_LEN + 1],
        ] {
            assert!(RequestId::parse(bad).is_none(), "{bad:?}");
        }
        assert!(RequestId::parse(&[b'a'; MAX_LEN]).is_some());
    }
}
