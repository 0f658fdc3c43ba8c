//! The citizen's identity: the claims guichet accepts from a provider, each checked against
//! a whitelist rule (charset, length, format) before it is kept.
//!
//! Invariants:
//! - Only claims listed in [`CLAIMS`] are kept; anything else the provider sends is dropped.
//! - A listed claim with a value outside its rule fails the whole login
//!   ([`ClaimError`]); it is never truncated, "cleaned" or passed on as is.
//! - `Debug` of an [`Identity`] prints claim *names* only: personal data never reaches a log.

pub mod headers;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

/// How a claim's value is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Opaque identifier: 1-255 printable ASCII characters, no spaces.
    Subject,
    /// A person's name: letters (any script), combining accents, space, `-`, `'`, `’`, `.`.
    Name,
    /// `YYYY-MM-DD`, a calendar date; `00` stands for an unknown month or day (`YYYY-MM-00`,
    /// `YYYY-00-00`: people whose exact birth date is unknown, as FranceConnect sends them).
    Date,
    /// [`Rule::Date`], or the shorter `YYYY-MM` and `YYYY` forms (`idp_birthdate`).
    PartialDate,
    /// `male` or `female` (FranceConnect's values).
    Gender,
    /// INSEE commune code: 5 digits, or Corsica's `2A`/`2B` + 3 digits.
    InseeCommune,
    /// INSEE country code: 5 digits (`99100` is France).
    InseeCountry,
    Email,
    /// A protocol token: 1-128 characters among `A-Za-z0-9._:/-`.
    Token,
    /// A JSON array of tokens, kept space-separated.
    TokenList,
    /// A JSON array of names, kept comma-separated.
    NameList,
}

/// A claim guichet knows: its JSON name, its header suffix, and its rule.
#[derive(Debug, Clone, Copy)]
pub struct ClaimSpec {
    pub name: &'static str,
    /// Appended to the header prefix: `Given-Name` -> `X-Pivot-Given-Name`.
    pub header: &'static str,
    pub rule: Rule,
}

const fn spec(name: &'static str, header: &'static str, rule: Rule) -> ClaimSpec {
    ClaimSpec { name, header, rule }
}

/// Every claim guichet accepts, in header order.
pub const CLAIMS: &[ClaimSpec] = &[
    spec("sub", "Sub", Rule::Subject),
    spec("given_name", "Given-Name", Rule::Name),
    spec("given_name_array", "Given-Name-Array", Rule::NameList),
    spec("family_name", "Family-Name", Rule::Name),
    spec("preferred_username", "Preferred-Username", Rule::Name),
    spec("birthdate", "Birthdate", Rule::Date),
    spec("idp_birthdate", "Idp-Birthdate", Rule::PartialDate),
    spec("gender", "Gender", Rule::Gender),
    spec("birthplace", "Birthplace", Rule::InseeCommune),
    spec("birthcountry", "Birthcountry", Rule::InseeCountry),
    spec("email", "Email", Rule::Email),
    spec("idp_id", "Idp-Id", Rule::Token),
    spec("acr", "Acr", Rule::Token),
    spec("amr", "Amr", Rule::TokenList),
];

pub fn claim_spec(name: &str) -> Option<&'static ClaimSpec> {
    CLAIMS.iter().find(|c| c.name == name)
}

/// A claim that failed its rule. Carries the claim *name* only, never the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("claim {claim} is not valid ({reason})")]
pub struct ClaimError {
    pub claim: &'static str,
    pub reason: &'static str,
}

/// Validated claims of one citizen, as strings.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    claims: BTreeMap<String, String>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("claims", &self.claims.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Identity {
    /// Builds an identity from JSON claim sets, later sets overriding earlier ones
    /// (id_token claims, then userinfo claims). Unknown claims are dropped; known claims are
    /// validated; empty strings mean "absent" (FranceConnect sends `""` for some of them).
    pub fn from_claims(sets: &[&Map<String, Value>]) -> Result<Identity, ClaimError> {
        let mut claims = BTreeMap::new();
        for set in sets {
            for spec in CLAIMS {
                let Some(value) = set.get(spec.name) else {
                    continue;
                };
                match validate(spec, value)? {
                    Some(v) => {
                        claims.insert(spec.name.to_string(), v);
                    }
                    None => {
                        claims.remove(spec.name);
                    }
                }
            }
        }
        if !claims.contains_key("sub") {
            return Err(ClaimError {
                claim: "sub",
                reason: "missing",
            });
        }
        Ok(Identity { claims })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.claims.get(name).map(String::as_str)
    }

    pub fn sub(&self) -> &str {
        self.get("sub").unwrap_or_default()
    }

    /// Claims in [`CLAIMS`] order with their specs.
    pub fn iter(&self) -> impl Iterator<Item = (&'static ClaimSpec, &str)> + '_ {
        CLAIMS
            .iter()
            .filter_map(|spec| self.claims.get(spec.name).map(|v| (spec, v.as_str())))
    }
}

const MAX_LEN: usize = 256;

fn invalid(claim: &'static str, reason: &'static str) -> ClaimError {
    ClaimError { claim, reason }
}

/// `Ok(None)` for an empty value (treated as absent).
fn validate(spec: &ClaimSpec, value: &Value) -> Result<Option<String>, ClaimError> {
    let claim = spec.name;
    match spec.rule {
        Rule::TokenList | Rule::NameList => {
            let items = value.as_array().ok_or(invalid(claim, "not an array"))?;
            if items.len() > 16 {
                return Err(invalid(claim, "too many items"));
            }
            let item_rule = if spec.rule == Rule::TokenList {
                Rule::Token
            } else {
                Rule::Name
            };
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                let s = item
                    .as_str()
                    .ok_or(invalid(claim, "item is not a string"))?;
                check(claim, item_rule, s)?;
                out.push(s);
            }
            if out.is_empty() {
                return Ok(None);
            }
            Ok(Some(out.join(if spec.rule == Rule::TokenList {
                " "
            } else {
                ", "
            })))
        }
        rule => {
            let s = value.as_str().ok_or(invalid(claim, "not a string"))?;
            if s.is_empty() {
                return Ok(None);
            }
            check(claim, rule, s)?;
            Ok(Some(s.to_string()))
        }
    }
}

fn check(claim: &'static str, rule: Rule, s: &str) -> Result<(), ClaimError> {
    let ok = match rule {
        Rule::Subject => (1..=255).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic()),
        Rule::Name => {
            s.chars().count() <= MAX_LEN
                && !s.is_empty()
                && s.chars().any(char::is_alphabetic)
                && s.chars().all(is_name_char)
                && !s.starts_with(' ')
                && !s.ends_with(' ')
        }
        Rule::Date => is_date(s),
        Rule::PartialDate => is_date(s) || is_year_month(s),
        Rule::Gender => s == "male" || s == "female",
        Rule::InseeCommune => {
            let b = s.as_bytes();
            b.len() == 5
                && (b.iter().all(u8::is_ascii_digit)
                    || (b[0] == b'2'
                        && (b[1] == b'A' || b[1] == b'B')
                        && b[2..].iter().all(u8::is_ascii_digit)))
        }
        Rule::InseeCountry => s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit()),
        Rule::Email => is_email(s),
        Rule::Token => {
            (1..=128).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._:/-".contains(&b))
        }
        Rule::TokenList | Rule::NameList => false,
    };
    if ok {
        Ok(())
    } else {
        Err(invalid(claim, rule_reason(rule)))
    }
}

fn rule_reason(rule: Rule) -> &'static str {
    match rule {
        Rule::Subject => "not an identifier",
        Rule::Name => "characters outside a name",
        Rule::Date => "not a YYYY-MM-DD date",
        Rule::PartialDate => "not a YYYY[-MM[-DD]] date",
        Rule::Gender => "not male/female",
        Rule::InseeCommune => "not an INSEE commune code",
        Rule::InseeCountry => "not an INSEE country code",
        Rule::Email => "not an e-mail address",
        Rule::Token | Rule::TokenList => "not a token",
        Rule::NameList => "not a list of names",
    }
}

fn is_name_char(c: char) -> bool {
    c.is_alphabetic()
        || ('\u{0300}'..='\u{036F}').contains(&c) // combining diacritics (NFD input)
        || matches!(c, ' ' | '-' | '\'' | '\u{2019}' | '.')
}

/// `YYYY-MM-DD` with a real day, or with `00` for an unknown day (`YYYY-MM-00`) or an unknown
/// month and day (`YYYY-00-00`).
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (Some(y), Some(m), Some(d)) = (digits(&s[0..4]), digits(&s[5..7]), digits(&s[8..10]))
    else {
        return false;
    };
    if !(1800..=2200).contains(&y) {
        return false;
    }
    if m == 0 {
        return d == 0;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    d <= days
}

/// `YYYY` or `YYYY-MM`.
fn is_year_month(s: &str) -> bool {
    let year_ok = |y: &str| digits(y).is_some_and(|y| (1800..=2200).contains(&y));
    match s.len() {
        4 => year_ok(s),
        7 => {
            s.as_bytes()[4] == b'-'
                && year_ok(&s[0..4])
                && digits(&s[5..7]).is_some_and(|m| (1..=12).contains(&m))
        }
        _ => false,
    }
}

fn digits(part: &str) -> Option<u32> {
    if part.bytes().all(|c| c.is_ascii_digit()) {
        part.parse().ok()
    } else {
        None
    }
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    s.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~.-".contains(&b))
        && domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn french_names_with_accents_and_hyphens_pass() {
        let c = obj(json!({
            "sub": "abc123v1", "given_name": "Jean-Philippe Élodie", "family_name": "Lefèvre-D’Arc",
            "birthdate": "1990-02-28", "gender": "female", "birthplace": "2A004",
            "birthcountry": "99100", "email": "elodie.muller@example.fr", "unknown": "dropped",
            "amr": ["pwd", "mfa"], "preferred_username": ""
        }));
        let id = Identity::from_claims(&[&c]).unwrap();
        assert_eq!(id.get("family_name"), Some("Lefèvre-D’Arc"));
        assert_eq!(id.get("amr"), Some("pwd mfa"));
        assert_eq!(id.get("unknown"), None);
        assert_eq!(id.get("preferred_username"), None);
        assert!(!format!("{id:?}").contains("Lefèvre"));
    }

    #[test]
    fn later_claim_sets_override_earlier_ones() {
        let a = obj(json!({"sub": "s1", "acr": "eidas1"}));
        let b = obj(json!({"sub": "s1", "given_name": "Ana"}));
        let id = Identity::from_claims(&[&a, &b]).unwrap();
        assert_eq!(id.get("acr"), Some("eidas1"));
        assert_eq!(id.get("given_name"), Some("Ana"));
    }

    #[test]
    fn each_rule_refuses_what_it_should() {
        let cases = [
            json!({"sub": "a b"}),
            json!({"sub": "s", "given_name": "Bob<script>"}),
            json!({"sub": "s", "given_name": "Bob\r\nX-Pivot-Sub: admin"}),
            json!({"sub": "s", "family_name": "R2D2"}),
            json!({"sub": "s", "birthdate": "1990-02-30"}),
            json!({"sub": "s", "birthdate": "1990-2-3"}),
            json!({"sub": "s", "birthdate": "1990"}),
            json!({"sub": "s", "gender": "unknown"}),
            json!({"sub": "s", "birthplace": "7505"}),
            json!({"sub": "s", "birthplace": "2C004"}),
            json!({"sub": "s", "birthcountry": "FR"}),
            json!({"sub": "s", "email": "a@b"}),
            json!({"sub": "s", "email": "a b@example.fr"}),
            json!({"sub": "s", "idp_id": "x y"}),
            json!({"sub": "s", "given_name": 42}),
            json!({"sub": "s", "amr": "pwd"}),
            json!({"sub": "s", "given_name": "a".repeat(300)}),
            json!({"given_name": "Ana"}),
        ];
        for c in cases {
            assert!(Identity::from_claims(&[&obj(c.clone())]).is_err(), "{c}");
        }
    }

    #[test]
    fn dates_full_and_partially_unknown() {
        assert!(is_date("2000-02-29"));
        assert!(!is_date("1900-02-29"));
        assert!(is_date("2024-02-29"));
        // Présumés nés: unknown day, or unknown month and day.
        assert!(is_date("1992-11-00"));
        assert!(is_date("1992-00-00"));
        assert!(!is_date("1992-00-05"));
        assert!(!is_date("1992-13-01"));
        let partial = |v: &str| {
            Identity::from_claims(&[&obj(json!({"sub": "s", "idp_birthdate": v}))])
                .map(|i| i.get("idp_birthdate").map(String::from))
        };
        for ok in ["1962", "1962-03", "1962-03-00", "1962-00-00", "1962-03-14"] {
            assert_eq!(partial(ok), Ok(Some(ok.to_string())), "{ok}");
        }
        for bad in ["62", "1962-3", "1962-13", "1962-03-1", "abcd"] {
            assert!(partial(bad).is_err(), "{bad}");
        }
    }
}
