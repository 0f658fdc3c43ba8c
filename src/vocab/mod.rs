//! The words every layer of guichet shares, and nothing else: assurance levels ([`Level`]),
//! what a route demands ([`Access`]), the federation a
//! provider belongs to ([`Flavour`]), how a claim is written in a header
//! ([`HeaderEncoding`]), which claim set a route receives ([`ProfileId`], [`ClaimSet`]), and
//! the claims guichet knows with the rule that checks each ([`CLAIMS`], [`Rule`]).
//!
//! This module imports nothing of guichet: `config` validates into these words, and every
//! module above reads them. Behaviour (checking a claim against its rule, encoding a header
//! value, matching a route) lives with the module that does it, never here.

mod claims;

pub use claims::{
    claim_spec, header_claim_index, header_claims, ClaimSet, ClaimSpec, Rule, CLAIMS, PROVIDER,
    PROVIDER_INDEX, SUB_INDEX,
};
use serde::{Deserialize, Serialize};

/// eIDAS assurance level (FranceConnect `eidas1..3`, MConnect `substantial`/`high`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Low = 1,
    Substantial = 2,
    High = 3,
}

impl Level {
    /// Accepts the eIDAS names (`eidas1`) and the plain ones (`low`, `substantial`, `high`).
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "eidas1" | "low" => Some(Level::Low),
            "eidas2" | "substantial" => Some(Level::Substantial),
            "eidas3" | "high" => Some(Level::High),
            _ => None,
        }
    }

    /// FranceConnect's `acr` value for this level.
    pub fn eidas(self) -> &'static str {
        match self {
            Level::Low => "eidas1",
            Level::Substantial => "eidas2",
            Level::High => "eidas3",
        }
    }
}

/// What a route demands of a request (`[[routes]] access`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// A session is required; without one the browser is sent to login.
    Browser,
    /// A session is required; without one the answer is `401` (for XHR/fetch clients).
    Api,
    /// No session required (identity is still forwarded when a session exists).
    Public,
}

/// Which federation a provider belongs to; decides quirks the presets cannot express as data
/// (claim rules, the chooser's button).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Flavour {
    #[serde(rename = "franceconnect-v1")]
    FranceConnectV1,
    #[serde(rename = "franceconnect-v2")]
    FranceConnectV2,
    #[serde(rename = "franceconnect-plus")]
    FranceConnectPlus,
    #[serde(rename = "mconnect")]
    MConnect,
    #[serde(rename = "generic")]
    Generic,
}

impl Flavour {
    /// FranceConnect v1, v2 or FranceConnect+: FranceConnect's rules apply
    /// (`config::franceconnect`).
    pub fn is_franceconnect(self) -> bool {
        matches!(
            self,
            Flavour::FranceConnectV1 | Flavour::FranceConnectV2 | Flavour::FranceConnectPlus
        )
    }
}

/// How a claim's value is written in its header (`[headers] encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HeaderEncoding {
    /// UTF-8, then `%XX` for every byte outside printable ASCII and for `%` and `+`.
    Percent,
    /// The UTF-8 bytes as they are (non-ASCII bytes in the header value).
    Utf8,
    /// base64url (RFC 4648 section 5, with `=` padding) of the UTF-8 bytes.
    Base64url,
    /// ISO-8859-1 bytes for characters up to U+00FF; other characters, `%` and `+`
    /// percent-encoded as UTF-8 (`Łukasz` -> `%C5%81ukasz`).
    Latin1,
}

impl HeaderEncoding {
    /// The configuration's spelling: `percent`, `utf8`, `base64url`, `latin1`.
    pub fn parse(s: &str) -> Option<HeaderEncoding> {
        Some(match s {
            "percent" => HeaderEncoding::Percent,
            "utf8" => HeaderEncoding::Utf8,
            "base64url" => HeaderEncoding::Base64url,
            "latin1" => HeaderEncoding::Latin1,
            _ => return None,
        })
    }
}

/// Which claim set a route receives: an index into `HeaderConfig::profiles` (0: every claim
/// that is not dropped). Carried by the route decision so the proxy copies the right block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct ProfileId(pub usize);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_and_order() {
        assert!(Level::parse("eidas3").unwrap() > Level::parse("substantial").unwrap());
        assert_eq!(Level::parse("eidas2"), Some(Level::Substantial));
        assert_eq!(Level::parse("EIDAS2"), None);
    }
}
