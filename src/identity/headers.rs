//! Identity header value encodings (`percent`, `utf8`, `base64url`, `latin1`): how a claim
//! value becomes a header value, and back (what an application does). What a session carries
//! so the hot path only copies headers is [`crate::session::headers`].
//!
//! Invariants:
//! - Every encoded value is a valid header value without CR, LF, NUL or any other control
//!   character ([`encode`]); `percent`, `base64url` and `latin1` are reversible
//!   ([`decode`], `tests::every_encoding_round_trips`).

use crate::vocab::HeaderEncoding;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use http::HeaderValue;
use percent_encoding::{percent_decode, utf8_percent_encode, AsciiSet, CONTROLS};

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
/// and documented in `docs/headers.md`).
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

#[cfg(test)]
mod tests;
