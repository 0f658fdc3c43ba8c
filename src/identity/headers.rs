//! Identity headers: names, value encoding, and the pre-built block a session carries so the
//! hot path only copies headers.
//!
//! Invariants:
//! - Every value is encoded so that it is plain ASCII on the wire ([`encode`]): a name with
//!   accents reaches Java, PHP or Python stacks intact, and no value can carry CR/LF.
//! - The block is built once per session ([`HeaderBlock::build`]), never per request.

use super::Identity;
use crate::config::{HeaderConfig, HeaderEncoding};
use bytes::Bytes;
use http::HeaderValue;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

/// Bytes encoded by the `percent` encoding, on top of everything outside ASCII.
const PERCENT_SET: &AsciiSet = &CONTROLS.add(b'%');

/// Encodes a claim value for a header.
pub fn encode(value: &str, encoding: HeaderEncoding) -> String {
    match encoding {
        HeaderEncoding::Percent => utf8_percent_encode(value, PERCENT_SET).to_string(),
    }
}

/// Identity headers for one session, names with their case preserved.
#[derive(Debug, Clone, Default)]
pub struct HeaderBlock {
    pub headers: Vec<(Bytes, HeaderValue)>,
}

impl HeaderBlock {
    /// Builds `PREFIX-Claim` headers for every claim of `identity`, plus `PREFIX-Provider`.
    pub fn build(identity: &Identity, provider: &str, cfg: &HeaderConfig) -> HeaderBlock {
        let mut headers = Vec::new();
        let mut push = |suffix: &str, value: &str| {
            let name = Bytes::from(format!("{}{}", cfg.prefix, suffix));
            // `encode` only produces visible ASCII and spaces, so this cannot fail; a value
            // that somehow did would be dropped rather than sent raw.
            if let Ok(v) = HeaderValue::from_str(&encode(value, cfg.encoding)) {
                headers.push((name, v));
            }
        };
        for (spec, value) in identity.iter() {
            push(spec.header, value);
        }
        push("Provider", provider);
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

/// Does this header name (any case) belong to guichet: the identity prefix?
pub fn is_identity_header(name: &str, prefix_lower: &str) -> bool {
    name.len() >= prefix_lower.len()
        && name.as_bytes()[..prefix_lower.len()].eq_ignore_ascii_case(prefix_lower.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg() -> HeaderConfig {
        HeaderConfig {
            prefix: "X-Pivot-".into(),
            encoding: HeaderEncoding::Percent,
        }
    }

    #[test]
    fn accented_names_are_percent_encoded_utf8() {
        assert_eq!(
            encode("Élodie Müller", HeaderEncoding::Percent),
            "%C3%89lodie M%C3%BCller"
        );
        assert_eq!(encode("100%", HeaderEncoding::Percent), "100%25");
        assert_eq!(encode("a\r\nb", HeaderEncoding::Percent), "a%0D%0Ab");
    }

    #[test]
    fn block_has_one_header_per_claim_plus_provider() {
        let claims = json!({"sub": "s1", "given_name": "Élodie", "family_name": "Müller"});
        let id = Identity::from_claims(&[claims.as_object().unwrap()]).unwrap();
        let block = HeaderBlock::build(&id, "fc", &cfg());
        let names: Vec<_> = block
            .headers
            .iter()
            .map(|(n, _)| String::from_utf8_lossy(n).to_string())
            .collect();
        assert_eq!(
            names,
            [
                "X-Pivot-Sub",
                "X-Pivot-Given-Name",
                "X-Pivot-Family-Name",
                "X-Pivot-Provider"
            ]
        );
        assert_eq!(block.headers[1].1, "%C3%89lodie");
        assert!(block.wire_len() < 200);
    }

    #[test]
    fn identity_prefix_matches_any_case() {
        assert!(is_identity_header("x-pivot-sub", "x-pivot-"));
        assert!(is_identity_header("X-PIVOT-SUB", "x-pivot-"));
        assert!(!is_identity_header("x-pivo", "x-pivot-"));
    }
}
