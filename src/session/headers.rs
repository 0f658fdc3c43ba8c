//! What a session sends upstream, derived from its record at login and never stored
//! ([`SessionHeaders`]): the encoded identity header values (one pre-built [`HeaderBlock`]
//! per route profile, a view of one buffer) and one cached assertion per profile, so the hot
//! path only copies headers.
//!
//! Invariants:
//! - Blocks are built once per session and profile, at login ([`SessionHeaders::build`]), never
//!   per request; the assertion is signed at most once per validity window
//!   ([`crate::assertion::Cache`]).
//! - A session whose headers (assertion included) would exceed `[headers] max_bytes` gets no
//!   header block at all ([`SessionHeaders::too_large`]): the login refuses it, and a replica
//!   with a smaller limit refuses its requests (no assertion, 503) rather than send them.
//! - `Debug` of anything here prints no claim value.

use super::{SessionKey, SessionRecord};
use crate::assertion::{self, AssertionError, Cache, Signer};
use crate::config::HeaderConfig;
use crate::identity::headers::encode;
use crate::identity::Identity;
use crate::vocab::{header_claims, ClaimSet, ProfileId, CLAIMS};
use bytes::Bytes;
use http::HeaderValue;
use serde_json::{Map, Value};
use std::fmt;

/// The encoded identity header values of one session, for every claim it can send (present,
/// not dropped; the provider's name included): one buffer holding the end offset of each
/// value (little-endian `u16`) then the values, so that a header value is a slice of it (a
/// reference count, no copy, no allocation). Names are not kept per session: they come from
/// the configuration ([`HeaderConfig::claims`]).
#[derive(Clone, Default)]
struct Encoded {
    /// Claims (indexes into [`header_claims`]) with a value in `buf`, in that order.
    present: ClaimSet,
    buf: Bytes,
}

impl Encoded {
    /// Encodes every claim of `identity` that is not dropped, plus the provider's name. `Err`
    /// with the values' size when they cannot be indexed (more than 64 KiB: far beyond any
    /// `max_bytes`).
    fn build(identity: &Identity, provider: &str, cfg: &HeaderConfig) -> Result<Encoded, usize> {
        let mut present = ClaimSet::default();
        let mut ends: Vec<u16> = Vec::new();
        let mut values = Vec::new();
        let claims = CLAIMS
            .iter()
            .map(|spec| identity.get(spec.name))
            .chain([Some(provider)]);
        for (i, value) in claims.enumerate() {
            let (Some(value), Some(h)) = (value, cfg.claims.get(i)) else {
                continue;
            };
            if h.dropped {
                continue;
            }
            // A value `encode` refuses (a control character) is left out rather than sent raw.
            if let Some(v) = encode(value, h.encoding) {
                values.extend_from_slice(v.as_bytes());
                ends.push(u16::try_from(values.len()).map_err(|_| values.len())?);
                present.insert(i);
            }
        }
        let mut buf = Vec::with_capacity(2 * ends.len() + values.len());
        for end in ends {
            buf.extend_from_slice(&end.to_le_bytes());
        }
        buf.extend_from_slice(&values);
        Ok(Encoded {
            present,
            buf: Bytes::from(buf),
        })
    }

    /// (claim index, value) of each header whose claim is in `claims`, in header order.
    fn iter(&self, claims: ClaimSet) -> impl Iterator<Item = (usize, Bytes)> + '_ {
        let base = 2 * self.present.bits().count_ones() as usize;
        let mut bits = self.present.bits();
        let mut k = 0;
        let mut start = 0;
        std::iter::from_fn(move || loop {
            if bits == 0 {
                return None;
            }
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let end = match self.buf.get(2 * k..2 * k + 2) {
                Some(&[lo, hi]) => usize::from(u16::from_le_bytes([lo, hi])),
                _ => return None,
            };
            k += 1;
            let range = base + start..base + end;
            start = end;
            if claims.contains(i) && range.start <= range.end && range.end <= self.buf.len() {
                return Some((i, self.buf.slice(range)));
            }
        })
    }
}

/// The identity headers one route profile of one session receives: a view of the session's
/// encoded values, restricted to the profile's claims. Header names (case kept) are the
/// configured ones, indexed like [`header_claims`].
#[derive(Clone, Copy)]
pub struct HeaderBlock<'a> {
    encoded: &'a Encoded,
    claims: ClaimSet,
}

impl fmt::Debug for HeaderBlock<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self
            .values()
            .filter_map(|(i, _)| header_claims().nth(i).map(|(n, _)| n))
            .collect();
        f.debug_struct("HeaderBlock")
            .field("claims", &names)
            .finish()
    }
}

static EMPTY: Encoded = Encoded {
    present: ClaimSet::empty(),
    buf: Bytes::new(),
};

impl<'a> HeaderBlock<'a> {
    /// (index into [`header_claims`], value) of each header, in header order. Values are
    /// slices of the session's buffer (no copy); each was a valid [`HeaderValue`] when the
    /// session was built.
    pub fn values(&self) -> impl Iterator<Item = (usize, HeaderValue)> + 'a {
        self.encoded
            .iter(self.claims)
            .filter_map(|(i, v)| HeaderValue::from_maybe_shared(v).ok().map(|v| (i, v)))
    }

    pub fn len(&self) -> usize {
        self.values().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Names (as configured in `cfg`) and values (tests, tools).
    pub fn headers(&self, cfg: &HeaderConfig) -> Vec<(String, HeaderValue)> {
        self.values()
            .filter_map(|(i, v)| cfg.claims.get(i).map(|h| (h.header.clone(), v)))
            .collect()
    }

    /// Total size on the wire with the names of `cfg` (names, values, `: ` and CRLF).
    pub fn wire_len(&self, cfg: &HeaderConfig) -> usize {
        self.values()
            .map(|(i, v)| cfg.claims.get(i).map_or(0, |h| h.header.len()) + v.len() + 4)
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

/// One route profile of one session: its claims and the assertion last signed for them.
struct Profile {
    claims: ClaimSet,
    cache: Cache,
}

/// What a session sends upstream, derived from its record at login and never stored: the
/// encoded identity header values (one buffer; each profile's block is a view of it) and one
/// cached assertion per route profile. The assertion's claims are not kept: they are made
/// from the record when the assertion is signed (once per validity window), so an idle
/// session costs only its encoded values.
#[derive(Default)]
pub struct SessionHeaders {
    encoded: Encoded,
    profiles: Box<[Profile]>,
    too_large: Option<Box<TooLarge>>,
}

impl fmt::Debug for SessionHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionHeaders")
            .field("profiles", &self.profiles.len())
            .finish()
    }
}

impl SessionHeaders {
    /// Encodes the identity header values and checks every profile's headers (assertion
    /// included) against `max_bytes`. An identity that would not fit under some profile gets
    /// no headers at all ([`SessionHeaders::too_large`]).
    pub fn build(record: &SessionRecord, key: &SessionKey, cfg: &HeaderConfig) -> SessionHeaders {
        match Self::try_build(record, key, cfg) {
            Ok((encoded, profiles)) => SessionHeaders {
                encoded,
                profiles,
                too_large: None,
            },
            Err(e) => SessionHeaders {
                too_large: Some(Box::new(e)),
                ..SessionHeaders::default()
            },
        }
    }

    fn try_build(
        record: &SessionRecord,
        key: &SessionKey,
        cfg: &HeaderConfig,
    ) -> Result<(Encoded, Box<[Profile]>), TooLarge> {
        let too_large = |bytes| TooLarge {
            bytes,
            max: cfg.max_bytes,
        };
        let encoded = Encoded::build(&record.identity, &record.provider, cfg).map_err(too_large)?;
        let sid = assertion::session_id_hash(&key.0);
        let mut profiles = Vec::with_capacity(cfg.profiles.len());
        for &claims in &cfg.profiles {
            let block = HeaderBlock {
                encoded: &encoded,
                claims,
            };
            let payload = assertion::payload(
                &record.identity,
                &record.provider,
                record.level,
                &sid,
                claims,
                cfg,
            );
            let bytes = block.wire_len(cfg) + assertion::wire_len_estimate(&payload, cfg);
            if bytes > cfg.max_bytes {
                return Err(too_large(bytes));
            }
            profiles.push(Profile {
                claims,
                cache: Cache::default(),
            });
        }
        Ok((encoded, profiles.into_boxed_slice()))
    }

    /// Set when the identity does not fit in `[headers] max_bytes`: such a session sends
    /// nothing upstream (the login is refused; see the module invariants).
    pub fn too_large(&self) -> Option<&TooLarge> {
        self.too_large.as_deref()
    }

    fn profile(&self, id: ProfileId) -> Option<&Profile> {
        self.profiles.get(id.0).or_else(|| self.profiles.first())
    }

    /// The identity headers for a route profile (an unknown profile gets the default one).
    pub fn block(&self, id: ProfileId) -> HeaderBlock<'_> {
        match self.profile(id) {
            Some(p) => HeaderBlock {
                encoded: &self.encoded,
                claims: p.claims,
            },
            None => HeaderBlock {
                encoded: &EMPTY,
                claims: ClaimSet::default(),
            },
        }
    }

    /// The signed assertion for a route profile: the cached one while it is fresh, a new one
    /// when it is due for renewal (see [`Cache::get`]), its claims made from `key` and
    /// `record` (those these headers were built from) and `cfg`.
    pub fn assertion(
        &self,
        key: &SessionKey,
        record: &SessionRecord,
        id: ProfileId,
        signer: &Signer,
        cfg: &HeaderConfig,
        now: u64,
    ) -> Result<HeaderValue, AssertionError> {
        let p = self.profile(id).ok_or(AssertionError::NoProfile)?;
        p.cache
            .get(now, || signer.sign(&Self::claims(key, record, p, cfg), now))
    }

    fn claims(
        key: &SessionKey,
        record: &SessionRecord,
        p: &Profile,
        cfg: &HeaderConfig,
    ) -> Map<String, Value> {
        let sid = assertion::session_id_hash(&key.0);
        assertion::payload(
            &record.identity,
            &record.provider,
            record.level,
            &sid,
            p.claims,
            cfg,
        )
    }

    /// The assertion claims of a profile, but `iat` and `exp` (tests, benches).
    pub fn payload(
        &self,
        key: &SessionKey,
        record: &SessionRecord,
        id: ProfileId,
        cfg: &HeaderConfig,
    ) -> Option<Map<String, Value>> {
        self.profile(id).map(|p| Self::claims(key, record, p, cfg))
    }

    /// Profiles with an assertion cached (tests, benches).
    pub fn cached_assertions(&self) -> usize {
        self.profiles.iter().filter(|p| p.cache.is_cached()).count()
    }

    /// Drops cached assertions that can no longer be sent at `now` (expired, or from a clock
    /// that went back): an idle session keeps nothing it cannot use. Returns how many.
    pub fn clear_stale(&self, now: u64) -> usize {
        self.profiles
            .iter()
            .filter(|p| p.cache.clear_if_unusable(now))
            .count()
    }
}

#[cfg(test)]
mod tests;
