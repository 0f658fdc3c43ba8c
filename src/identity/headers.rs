//! Identity headers: value encodings, which claims a route receives (claim sets and route
//! profiles), and what a session carries so the hot path only copies headers
//! ([`SessionHeaders`]: one pre-built [`HeaderBlock`] and one cached assertion per profile).
//!
//! Invariants:
//! - Every encoded value is a valid header value without CR, LF, NUL or any other control
//!   character ([`encode`]); `percent`, `base64url` and `latin1` are reversible
//!   ([`decode`], `tests::every_encoding_round_trips`).
//! - Blocks are built once per session and profile, at login ([`SessionHeaders::build`]), never
//!   per request; the assertion is signed at most once per validity window
//!   ([`crate::assertion::Cache`]).
//! - A session whose headers (assertion included) would exceed `[headers] max_bytes` gets no
//!   header block at all ([`SessionHeaders::too_large`]): the login refuses it, and a replica
//!   with a smaller limit refuses its requests (no assertion, 503) rather than send them.
//! - `Debug` of anything here prints no claim value.

use super::{Identity, CLAIMS};
use crate::assertion::{self, AssertionError, Cache, Signer};
use crate::config::{HeaderConfig, HeaderEncoding};
use crate::session::{SessionKey, SessionRecord};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use bytes::Bytes;
use http::HeaderValue;
use percent_encoding::{percent_decode, utf8_percent_encode, AsciiSet, CONTROLS};
use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;

/// Bytes the `percent` encoding escapes on top of everything outside ASCII: `%` (so decoding
/// is unambiguous) and `+` (which form decoders such as Java's `URLDecoder` turn into a space).
const PERCENT_SET: &AsciiSet = &CONTROLS.add(b'%').add(b'+');

/// Encodes a claim value as a header value, or `None` for a value that cannot be one (a
/// control character, which the claim rules never let through).
pub fn encode(value: &str, encoding: HeaderEncoding) -> Option<HeaderValue> {
    if value.chars().any(char::is_control) {
        return None;
    }
    let bytes = match encoding {
        HeaderEncoding::Percent => utf8_percent_encode(value, PERCENT_SET)
            .to_string()
            .into_bytes(),
        HeaderEncoding::Utf8 => value.as_bytes().to_vec(),
        HeaderEncoding::Base64url => URL_SAFE.encode(value).into_bytes(),
        HeaderEncoding::Latin1 => latin1(value),
    };
    HeaderValue::from_bytes(&bytes).ok()
}

/// ISO-8859-1 bytes for U+0020..U+007E and U+00A0..U+00FF (except `%` and `+`); every other
/// character as percent-encoded UTF-8, like the `percent` encoding.
fn latin1(value: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    for c in value.chars() {
        let code = u32::from(c);
        let plain =
            ((0x20..0x7f).contains(&code) && c != '%' && c != '+') || (0xa0..=0xff).contains(&code);
        match u8::try_from(code) {
            Ok(byte) if plain => out.push(byte),
            _ => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.extend_from_slice(format!("%{b:02X}").as_bytes());
                }
            }
        }
    }
    out
}

/// base64url that accepts values with or without `=` padding.
const BASE64URL_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes a header value written with `encoding` (what an application does; used by tests
/// and documented in `docs/upstream.md`).
pub fn decode(raw: &[u8], encoding: HeaderEncoding) -> Option<String> {
    match encoding {
        HeaderEncoding::Percent => percent_decode(raw)
            .decode_utf8()
            .ok()
            .map(|s| s.into_owned()),
        HeaderEncoding::Utf8 => String::from_utf8(raw.to_vec()).ok(),
        HeaderEncoding::Base64url => BASE64URL_ANY_PADDING
            .decode(raw)
            .ok()
            .and_then(|b| String::from_utf8(b).ok()),
        HeaderEncoding::Latin1 => {
            let text: String = raw.iter().map(|&b| char::from(b)).collect();
            percent_decode(text.as_bytes())
                .decode_utf8()
                .ok()
                .map(|s| s.into_owned())
        }
    }
}

/// Claims that can become headers: every entry of [`CLAIMS`], then the provider's name.
/// Their index is their position here.
pub fn header_claims() -> impl Iterator<Item = (&'static str, &'static str)> {
    CLAIMS
        .iter()
        .map(|c| (c.name, c.header))
        .chain([(PROVIDER, "Provider")])
}

/// Name of the pseudo-claim carrying the provider's configured name.
pub const PROVIDER: &str = "provider";
/// Index of [`PROVIDER`] in [`header_claims`].
pub const PROVIDER_INDEX: usize = CLAIMS.len();
/// Index of `sub` in [`header_claims`] (always sent).
pub const SUB_INDEX: usize = 0;
const _: () = assert!(CLAIMS.len() < 64, "ClaimSet is a 64-bit mask");

/// Position of a claim in [`header_claims`].
pub fn header_claim_index(name: &str) -> Option<usize> {
    header_claims().position(|(n, _)| n == name)
}

/// A set of claims (indexes into [`header_claims`]): what one route profile receives.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct ClaimSet(u64);

impl ClaimSet {
    pub fn all() -> ClaimSet {
        ClaimSet((1u64 << (PROVIDER_INDEX + 1)) - 1)
    }

    pub fn contains(self, index: usize) -> bool {
        index < 64 && self.0 & (1 << index) != 0
    }

    pub fn insert(&mut self, index: usize) {
        if index < 64 {
            self.0 |= 1 << index;
        }
    }

    pub fn remove(&mut self, index: usize) {
        if index < 64 {
            self.0 &= !(1 << index);
        }
    }

    pub fn names(self) -> Vec<&'static str> {
        header_claims()
            .enumerate()
            .filter(|(i, _)| self.contains(*i))
            .map(|(_, (n, _))| n)
            .collect()
    }
}

impl fmt::Debug for ClaimSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Serialize for ClaimSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.names().serialize(s)
    }
}

/// Which claim set a route receives: an index into `HeaderConfig::profiles` (0: every claim
/// that is not dropped). Carried by the route decision so the proxy copies the right block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct ProfileId(pub usize);

/// Identity headers of one profile of one session, names with their case preserved.
#[derive(Clone, Default)]
pub struct HeaderBlock {
    pub headers: Vec<(Bytes, HeaderValue)>,
}

impl fmt::Debug for HeaderBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self
            .headers
            .iter()
            .map(|(n, _)| String::from_utf8_lossy(n))
            .collect();
        f.debug_struct("HeaderBlock")
            .field("names", &names)
            .finish()
    }
}

impl HeaderBlock {
    /// One header per claim of `identity` in `claims` (with its configured name and
    /// encoding), plus the provider's name when `claims` has it.
    pub fn build(
        identity: &Identity,
        provider: &str,
        cfg: &HeaderConfig,
        claims: ClaimSet,
    ) -> HeaderBlock {
        let mut headers = Vec::new();
        let values = CLAIMS
            .iter()
            .map(|spec| identity.get(spec.name))
            .chain([Some(provider)]);
        for (i, value) in values.enumerate() {
            let (Some(value), Some(h)) = (value, cfg.claims.get(i)) else {
                continue;
            };
            if !claims.contains(i) || h.dropped {
                continue;
            }
            // A value `encode` refuses (a control character) is left out rather than sent raw.
            if let Some(v) = encode(value, h.encoding) {
                headers.push((Bytes::from(h.header.clone()), v));
            }
        }
        HeaderBlock { headers }
    }

    /// Total size on the wire (names, values, `: ` and CRLF).
    pub fn wire_len(&self) -> usize {
        self.headers
            .iter()
            .map(|(n, v)| n.len() + v.len() + 4)
            .sum()
    }
}

/// A login whose identity headers would be too large for the upstream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("identity headers would take {bytes} bytes, more than headers.max_bytes = {max}")]
pub struct TooLarge {
    pub bytes: usize,
    pub max: usize,
}

/// One route profile of one session: its header block, its assertion claims (all but `iat`
/// and `exp`), and the assertion last signed for them.
struct Profile {
    block: HeaderBlock,
    payload: Map<String, Value>,
    cache: Cache,
}

/// What a session sends upstream, derived from its record at login and never stored: one
/// header block and one cached assertion per route profile.
#[derive(Default)]
pub struct SessionHeaders {
    profiles: Box<[Profile]>,
    too_large: Option<TooLarge>,
}

impl fmt::Debug for SessionHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionHeaders")
            .field("profiles", &self.profiles.len())
            .finish()
    }
}

static EMPTY: HeaderBlock = HeaderBlock {
    headers: Vec::new(),
};

impl SessionHeaders {
    /// Builds every profile's block and assertion claims for a session. An identity that would
    /// not fit in `max_bytes` under some profile gets none ([`SessionHeaders::too_large`]).
    pub fn build(record: &SessionRecord, key: &SessionKey, cfg: &HeaderConfig) -> SessionHeaders {
        match Self::try_build(record, key, cfg) {
            Ok(profiles) => SessionHeaders {
                profiles,
                too_large: None,
            },
            Err(e) => SessionHeaders {
                profiles: Box::default(),
                too_large: Some(e),
            },
        }
    }

    fn try_build(
        record: &SessionRecord,
        key: &SessionKey,
        cfg: &HeaderConfig,
    ) -> Result<Box<[Profile]>, TooLarge> {
        let sid = assertion::session_id_hash(key);
        let mut profiles = Vec::with_capacity(cfg.profiles.len());
        for &claims in &cfg.profiles {
            let block = HeaderBlock::build(&record.identity, &record.provider, cfg, claims);
            let payload = assertion::payload(record, &sid, claims, cfg);
            let bytes = block.wire_len() + assertion::wire_len_estimate(&payload, cfg);
            if bytes > cfg.max_bytes {
                return Err(TooLarge {
                    bytes,
                    max: cfg.max_bytes,
                });
            }
            profiles.push(Profile {
                block,
                payload,
                cache: Cache::default(),
            });
        }
        Ok(profiles.into_boxed_slice())
    }

    /// Set when the identity does not fit in `[headers] max_bytes`: such a session sends
    /// nothing upstream (the login is refused; see the module invariants).
    pub fn too_large(&self) -> Option<&TooLarge> {
        self.too_large.as_ref()
    }

    fn profile(&self, id: ProfileId) -> Option<&Profile> {
        self.profiles.get(id.0).or_else(|| self.profiles.first())
    }

    /// The identity headers for a route profile.
    pub fn block(&self, id: ProfileId) -> &HeaderBlock {
        self.profile(id).map_or(&EMPTY, |p| &p.block)
    }

    /// The signed assertion for a route profile: the cached one while it is fresh, a new one
    /// when it is due for renewal (see [`Cache::get`]).
    pub fn assertion(
        &self,
        id: ProfileId,
        signer: &Signer,
        now: u64,
    ) -> Result<HeaderValue, AssertionError> {
        let p = self.profile(id).ok_or(AssertionError::NoProfile)?;
        p.cache.get(now, || signer.sign(&p.payload, now))
    }

    /// The assertion claims of a profile (tests, benches).
    pub fn payload(&self, id: ProfileId) -> Option<&Map<String, Value>> {
        self.profile(id).map(|p| &p.payload)
    }
}

#[cfg(test)]
mod tests;
