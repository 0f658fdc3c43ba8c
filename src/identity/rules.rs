//! Whitelist rules for claim values: charset, length and format, checked before a value is
//! kept. A value outside its rule is refused, never cleaned or truncated.

use super::ClaimError;
use crate::vocab::Rule;
use serde_json::Value;

const MAX_LEN: usize = 256;

pub(super) fn invalid(claim: &'static str, reason: &'static str) -> ClaimError {
    ClaimError { claim, reason }
}

/// Checks `value` under `rule` for `claim`. `Ok(None)` for an empty value (treated as absent:
/// FranceConnect sends `""` for some claims).
pub(super) fn validate(
    claim: &'static str,
    rule: Rule,
    value: &Value,
) -> Result<Option<String>, ClaimError> {
    match rule {
        Rule::TokenList | Rule::NameList | Rule::OidcStringList => {
            let items = value.as_array().ok_or(invalid(claim, "not an array"))?;
            if items.len() > 16 {
                return Err(invalid(claim, "too many items"));
            }
            let item_rule = match rule {
                Rule::TokenList => Rule::Token,
                Rule::NameList => Rule::Name,
                _ => Rule::OidcString,
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
            Ok(Some(out.join(if rule == Rule::TokenList {
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
        Rule::DateTime => is_date_time(s),
        Rule::Gender => s == "male" || s == "female",
        Rule::GenderFc => s == "male" || s == "female" || s == "unspecified",
        Rule::InseeCommune => {
            let b = s.as_bytes();
            b.len() == 5
                && (b.iter().all(u8::is_ascii_digit)
                    || (b[0] == b'2'
                        && (b[1] == b'A' || b[1] == b'B')
                        && b[2..].iter().all(u8::is_ascii_digit)))
        }
        Rule::InseeCountry => s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit()),
        Rule::Text => {
            s.chars().count() <= 128
                && s.chars().any(char::is_alphanumeric)
                && s.chars().all(|c| {
                    is_name_char(c) || c.is_numeric() || matches!(c, ',' | '(' | ')' | '/')
                })
                && !s.starts_with(' ')
                && !s.ends_with(' ')
        }
        Rule::Email => is_email(s),
        Rule::Token => {
            (1..=128).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._:/-".contains(&b))
        }
        Rule::OidcString => is_oidc_string(s),
        Rule::OidcDate => is_oidc_date(s),
        Rule::TokenList | Rule::NameList | Rule::OidcStringList => false,
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
        Rule::DateTime => "not a YYYY-MM-DD[THH:MM[:SS]] date and time",
        Rule::Gender => "not male/female",
        Rule::GenderFc => "not male/female/unspecified",
        Rule::InseeCommune => "not an INSEE commune code",
        Rule::InseeCountry => "not an INSEE country code",
        Rule::Text => "characters outside plain text",
        Rule::Email => "not an e-mail address",
        Rule::Token | Rule::TokenList => "not a token",
        Rule::NameList => "not a list of names",
        Rule::OidcString => "not plain text of at most 256 characters",
        Rule::OidcStringList => "not a list of plain texts",
        Rule::OidcDate => "not a YYYY-MM-DD or YYYY date",
    }
}

/// Text a header can carry unchanged and a reader cannot be tricked by: no control character
/// (C0, DEL, C1), no line or paragraph separator, no bidi embedding, override or isolate (the
/// "Trojan Source" characters), nothing a header parser would trim at either end.
fn is_oidc_string(s: &str) -> bool {
    let forbidden = |c: char| {
        c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    };
    !s.is_empty()
        && s.chars().count() <= MAX_LEN
        && !s.chars().any(forbidden)
        && !s.starts_with(char::is_whitespace)
        && !s.ends_with(char::is_whitespace)
}

/// OpenID Connect Core 5.1 `birthdate`: `YYYY-MM-DD`, with `0000` for an omitted year, or the
/// year alone; FranceConnect's `00` month and day are accepted too ([`is_date`]).
fn is_oidc_date(s: &str) -> bool {
    if s.len() == 4 {
        return digits(s).is_some_and(|y| y >= 1);
    }
    match s.strip_prefix("0000") {
        // Any real day of a leap year (the year is unknown).
        Some(rest) => is_date(&format!("2000{rest}")) && !rest.contains("-00"),
        None => is_date(s),
    }
}

fn is_name_char(c: char) -> bool {
    c.is_alphabetic()
        || ('\u{0300}'..='\u{036F}').contains(&c) // combining diacritics (NFD input)
        || matches!(c, ' ' | '-' | '\'' | '\u{2019}' | '.')
}

/// `YYYY-MM-DD` with a real day, or with `00` for an unknown day (`YYYY-MM-00`) or an unknown
/// month and day (`YYYY-00-00`).
pub(super) fn is_date(s: &str) -> bool {
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

/// A [`Rule::Date`], optionally followed by a time of day and an offset (ISO 8601 subset).
fn is_date_time(s: &str) -> bool {
    if !s.is_ascii() || s.len() < 10 || s.len() > 40 || !is_date(&s[..10]) {
        return false;
    }
    let rest = &s[10..];
    if rest.is_empty() {
        return true;
    }
    let Some(time) = rest.strip_prefix('T').or_else(|| rest.strip_prefix(' ')) else {
        return false;
    };
    let (clock, offset) = match time.find(['Z', '+', '-']) {
        Some(i) => time.split_at(i),
        None => (time, ""),
    };
    let (hms, fraction) = match clock.split_once('.') {
        Some((hms, f)) => (hms, Some(f)),
        None => (clock, None),
    };
    let two = |p: &str, max: u32| p.len() == 2 && digits(p).is_some_and(|v| v <= max);
    let parts: Vec<&str> = hms.split(':').collect();
    let hms_ok = match parts.as_slice() {
        [h, m] => two(h, 23) && two(m, 59) && fraction.is_none(),
        [h, m, sec] => two(h, 23) && two(m, 59) && two(sec, 60),
        _ => false,
    };
    let fraction_ok = fraction.is_none_or(|f| (1..=9).contains(&f.len()) && digits(f).is_some());
    let offset_ok = match offset {
        "" | "Z" => true,
        o => {
            let o = &o[1..];
            match o.split_once(':') {
                Some((h, m)) => two(h, 14) && two(m, 59),
                None => o.len() == 4 && two(&o[..2], 14) && two(&o[2..], 59),
            }
        }
    };
    hms_ok && fraction_ok && offset_ok
}

fn digits(part: &str) -> Option<u32> {
    if !part.is_empty() && part.bytes().all(|c| c.is_ascii_digit()) {
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

    fn ok(rule: Rule, v: &str) -> bool {
        validate("c", rule, &json!(v)).is_ok()
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
        for good in ["1962", "1962-03", "1962-03-00", "1962-00-00", "1962-03-14"] {
            assert!(ok(Rule::PartialDate, good), "{good}");
        }
        for bad in ["62", "1962-3", "1962-13", "1962-03-1", "abcd"] {
            assert!(!ok(Rule::PartialDate, bad), "{bad}");
        }
    }

    #[test]
    fn date_times_in_the_iso_forms_only() {
        for good in [
            "1975-11-30",
            "1975-11-30T14:05",
            "1975-11-30T14:05:09",
            "1975-11-30 14:05:09",
            "1975-11-30T14:05:09Z",
            "1975-11-30T14:05:09.123+01:00",
            "1975-11-30T14:05:09-0500",
            "1962-00-00T00:00:00",
        ] {
            assert!(ok(Rule::DateTime, good), "{good}");
        }
        for bad in [
            "1975-11-30T",
            "1975-11-30T24:00",
            "1975-11-30T14:60",
            "1975-11-30T14:05.5",
            "1975-11-30T14:05:09+1",
            "1975-11-30X14:05",
            "1975-11-31T10:00",
            "30/11/1975",
            "1975-11-30T14:05:09Z<script>",
            "1975-11-30T１４:05",
        ] {
            assert!(!ok(Rule::DateTime, bad), "{bad}");
        }
    }

    #[test]
    fn free_text_places_and_genders() {
        for good in [
            "Monaco",
            "Roma",
            "Saint-Jean-Cap-Ferrat",
            "Nice (06)",
            "Łódź",
            "2A004",
        ] {
            assert!(ok(Rule::Text, good), "{good}");
        }
        for bad in [
            "<b>",
            "a\r\nb",
            " Monaco",
            "Monaco;",
            "---",
            &"x".repeat(129),
        ] {
            assert!(!ok(Rule::Text, bad), "{bad:?}");
        }
        assert!(ok(Rule::GenderFc, "unspecified"));
        assert!(!ok(Rule::Gender, "unspecified"));
        assert!(!ok(Rule::GenderFc, "other"));
    }
}
