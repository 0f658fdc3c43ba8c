//! The id_token a session keeps for the RP-initiated logout (`id_token_hint`), held compactly:
//! a live session is mostly this token (about 1 KiB for FranceConnect's RS256 tokens), and a
//! million of them are kept.
//!
//! Invariants:
//! - [`IdToken::expose`] gives back exactly the string the session was created with, whatever
//!   it was: a compact JWS whose three segments are canonical unpadded base64url is kept as its
//!   decoded bytes (three quarters of the size), the runs of lowercase hex digits of its
//!   payload (FranceConnect's `sub`, client id, guichet's `nonce`) two digits to a byte, and
//!   re-encoded on demand; it is stored that way only when re-encoding was checked to give the
//!   same string; anything else (a JWE, odd padding or trailing bits, another number of
//!   segments) is kept as received (`tests::every_token_comes_back_exactly`).
//! - Serialized as that string (what the Redis store has always kept).
//! - `Debug` prints nothing of the token.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;

/// An id_token as the provider signed it. Never logged, never sent upstream.
#[derive(Clone, PartialEq, Eq)]
pub struct IdToken(Repr);

#[derive(Clone, PartialEq, Eq)]
enum Repr {
    /// The three segments of a compact JWS, decoded and concatenated; the lengths of the
    /// first two (the third is the rest).
    Jws {
        bytes: Box<[u8]>,
        header: u16,
        payload: u16,
        /// The payload's hex runs are packed ([`pack_hex`]).
        hex: bool,
    },
    /// Kept as received.
    Raw(Box<str>),
}

impl IdToken {
    pub fn new(token: &str) -> IdToken {
        IdToken(Self::pack(token).unwrap_or_else(|| Repr::Raw(token.into())))
    }

    fn pack(token: &str) -> Option<Repr> {
        let mut parts = token.split('.');
        let (header, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let mut bytes = URL_SAFE_NO_PAD.decode(header).ok()?;
        let header = u16::try_from(bytes.len()).ok()?;
        let decoded = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let packed = pack_hex(&decoded);
        let hex = packed.is_some();
        bytes.extend_from_slice(packed.as_deref().unwrap_or(&decoded));
        let payload = u16::try_from(bytes.len() - usize::from(header)).ok()?;
        URL_SAFE_NO_PAD.decode_vec(signature, &mut bytes).ok()?;
        let repr = Repr::Jws {
            bytes: bytes.into_boxed_slice(),
            header,
            payload,
            hex,
        };
        // Only a representation that gives the same string back is kept.
        (IdToken(repr.clone()).expose() == token).then_some(repr)
    }

    /// No token held ([`IdToken::default`]).
    pub fn is_empty(&self) -> bool {
        matches!(&self.0, Repr::Raw(s) if s.is_empty())
    }

    /// The token, exactly as received (for `id_token_hint`).
    pub fn expose(&self) -> Cow<'_, str> {
        match &self.0 {
            Repr::Raw(s) => Cow::Borrowed(s),
            Repr::Jws {
                bytes,
                header,
                payload,
                hex,
            } => {
                let (h, rest) = bytes.split_at(usize::from(*header).min(bytes.len()));
                let (p, s) = rest.split_at(usize::from(*payload).min(rest.len()));
                let mut out = String::with_capacity(bytes.len() * 3 / 2 + 4);
                URL_SAFE_NO_PAD.encode_string(h, &mut out);
                out.push('.');
                if *hex {
                    URL_SAFE_NO_PAD.encode_string(unpack_hex(p), &mut out);
                } else {
                    URL_SAFE_NO_PAD.encode_string(p, &mut out);
                }
                out.push('.');
                URL_SAFE_NO_PAD.encode_string(s, &mut out);
                Cow::Owned(out)
            }
        }
    }

    /// Is it held decoded (tests, benches)?
    pub fn is_packed(&self) -> bool {
        matches!(self.0, Repr::Jws { .. })
    }
}

/// Marks a packed hex run in a payload (which then has no NUL of its own).
const HEX_RUN: u8 = 0;
/// Shortest run worth packing (the marker and the count cost two bytes).
const MIN_RUN: usize = 16;
const HEX: &[u8; 16] = b"0123456789abcdef";

fn nibble(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// Each run of at least [`MIN_RUN`] lowercase hex digits becomes [`HEX_RUN`], a count of
/// bytes (up to 255) and the digits two to a byte; `None` when nothing is worth packing or the
/// payload has a NUL.
fn pack_hex(payload: &[u8]) -> Option<Vec<u8>> {
    if payload.contains(&HEX_RUN) {
        return None;
    }
    let mut out = Vec::with_capacity(payload.len());
    let mut i = 0;
    let mut packed = false;
    while i < payload.len() {
        let run = payload[i..]
            .iter()
            .take(2 * 255)
            .take_while(|b| nibble(**b).is_some())
            .count()
            & !1;
        if run >= MIN_RUN {
            out.push(HEX_RUN);
            out.push(u8::try_from(run / 2).ok()?);
            for pair in payload[i..i + run].chunks_exact(2) {
                out.push((nibble(pair[0])? << 4) | nibble(pair[1])?);
            }
            i += run;
            packed = true;
        } else {
            // Past the whole run (or one byte), so a run is never split at a bad place.
            let skip = run.max(1);
            out.extend_from_slice(&payload[i..i + skip]);
            i += skip;
        }
    }
    packed.then_some(out)
}

/// The inverse of [`pack_hex`].
fn unpack_hex(packed: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(packed.len() * 3 / 2);
    let mut bytes = packed.iter();
    while let Some(&b) = bytes.next() {
        if b != HEX_RUN {
            out.push(b);
            continue;
        }
        let n = bytes.next().copied().unwrap_or(0);
        for &d in bytes.by_ref().take(usize::from(n)) {
            out.push(HEX[usize::from(d >> 4)]);
            out.push(HEX[usize::from(d & 15)]);
        }
    }
    out
}

/// No token (the memory store keeps it in the browser: [`super::logout_hint`]).
impl Default for IdToken {
    fn default() -> Self {
        IdToken(Repr::Raw(Box::from("")))
    }
}

impl From<String> for IdToken {
    fn from(token: String) -> IdToken {
        IdToken::new(&token)
    }
}

impl From<&str> for IdToken {
    fn from(token: &str) -> IdToken {
        IdToken::new(token)
    }
}

impl fmt::Debug for IdToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdToken(..)")
    }
}

impl Serialize for IdToken {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.expose())
    }
}

impl<'de> Deserialize<'de> for IdToken {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<IdToken, D::Error> {
        Ok(IdToken::new(&Cow::<str>::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn every_token_comes_back_exactly() {
        let jws = format!(
            "{}.{}.{}",
            b64(br#"{"alg":"RS256","kid":"k1"}"#),
            b64(br#"{"sub":"abc","nonce":"n"}"#),
            b64(&[0xff; 256])
        );
        let jwe = format!("{0}.{0}.{0}.{0}.{0}", b64(b"x"));
        let cases: Vec<(String, bool)> = vec![
            (jws.clone(), true),
            ("e30.e30.".into(), true), // empty signature (alg none: refused at login)
            ("..".into(), true),       // three empty segments
            ("a.b.c".into(), false),   // "a" is not a whole base64 quantum
            ("e30.e30.AB".into(), false), // non-zero trailing bits: decodes, re-encodes as "AA"
            ("e30=.e30.e30".into(), false), // padding
            ("e30.e30.e3+".into(), false), // standard, not url-safe, alphabet
            ("e30.e30".into(), false), // two segments
            (jwe, false),              // a JWE is kept as the provider sent it
            (format!("{jws}."), false), // a fourth, empty, segment
            ("".into(), false),
            ("pas un jeton, é".into(), false),
            (format!("{}.e30.e30", "A".repeat(100_000)), false), // past the u16 lengths
            // Hex runs of every length around the packing threshold and the count limit,
            // uppercase hex (not packed), a NUL in the payload (nothing packed).
            (
                hex_payload(r#"{"sub":"0123456789abcdef0123456789abcdef01234567v1"}"#),
                true,
            ),
            (
                hex_payload(&format!(
                    r#"{{"a":"{}","b":"{}"}}"#,
                    "f".repeat(15),
                    "e".repeat(17)
                )),
                true,
            ),
            (
                hex_payload(&format!(r#"{{"a":"{}"}}"#, "0a".repeat(300))),
                true,
            ),
            (
                hex_payload(&format!(r#"{{"a":"{}"}}"#, "ABCDEF0123456789ABCDEF")),
                true,
            ),
            (hex_payload("0123456789abcdef0123456789abcdef\0"), true),
            (hex_payload("\u{0}0123456789abcdef0123456789abcdef"), true),
            (hex_payload(&"9".repeat(511)), true),
        ];
        for (token, packed) in cases {
            let t = IdToken::from(token.as_str());
            assert_eq!(t.expose(), token, "{token:.40}");
            assert_eq!(t.is_packed(), packed, "{token:.40}");
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, serde_json::to_string(&token).unwrap());
            let back: IdToken = serde_json::from_str(&json).unwrap();
            assert_eq!(back.expose(), token);
            assert_eq!(back, t);
        }
    }

    /// A JWS whose payload is `payload`.
    fn hex_payload(payload: &str) -> String {
        format!("e30.{}.{}", b64(payload.as_bytes()), b64(&[1; 64]))
    }

    #[test]
    fn hex_runs_are_packed_two_digits_to_a_byte() {
        let hex = "53ed7e08f2fcb14c2464576370556d1aa37afee022b6249ff44fb8a19a68b7a9";
        let payload = format!(r#"{{"sub":"{hex}v1","nonce":"{hex}"}}"#);
        let packed = pack_hex(payload.as_bytes()).unwrap();
        assert_eq!(packed.len(), payload.len() - 2 * 32 + 2 * 2);
        assert_eq!(unpack_hex(&packed), payload.as_bytes());
        assert_eq!(pack_hex(b"{\"sub\":\"short\"}"), None);
        assert_eq!(pack_hex(b"0123456789abcdef\0"), None);
    }

    #[test]
    fn a_packed_token_is_smaller_and_debug_shows_nothing() {
        let token = format!(
            "{}.{}.{}",
            b64(br#"{"alg":"RS256"}"#),
            b64(&[b'z'; 600]),
            b64(&[7; 256])
        );
        let t = IdToken::new(&token);
        let Repr::Jws { bytes, .. } = &t.0 else {
            panic!("not packed")
        };
        assert_eq!(bytes.len(), 15 + 600 + 256);
        assert!(bytes.len() * 4 < token.len() * 3 + 8);
        assert_eq!(format!("{t:?}"), "IdToken(..)");
    }
}
