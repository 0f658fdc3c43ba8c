//! The citizen's identity: the claims guichet accepts from a provider, each checked against
//! a whitelist rule (charset, length, format) before it is kept.
//!
//! Invariants:
//! - Only claims listed in [`CLAIMS`] and accepted for the provider's flavour ([`intake`]) are
//!   kept; anything else the provider sends is dropped. Rules differ per flavour only where the
//!   federation documents it (FranceConnect's `unspecified` gender, eIDAS identities marked by
//!   their `amr`, MConnect's user key), never by loosening a rule for every provider.
//! - Claim rules belong to the federation: FranceConnect (v1, v2, FranceConnect+) and MConnect
//!   keep their documented identity formats; a generic provider's claims follow OpenID Connect
//!   Core 5.1 (strings without control or bidi-override characters, bounded sizes; `sub` an
//!   identifier; `birthdate` `YYYY-MM-DD` or `YYYY`; `email` an address).
//! - A value outside its rule is never truncated, "cleaned" or passed on as is
//!   ([`ClaimError`] names the claim, never its value). At login ([`Identity::intake`]) it
//!   fails the login when the claim is required by its federation ([`required`]: `sub`
//!   always, the identity a federation guarantees) and forwarded to the application;
//!   otherwise the claim is dropped and reported ([`Intake::dropped`]: a metric and an
//!   evidence line), so a claim guichet does not forward, or an optional one, never fails a
//!   login.
//! - `Debug` of an [`Identity`] prints claim *names* only: personal data never reaches a log.
//!
//! # Design notes, and the tests that guard each rule
//!
//! ## `src/identity/`
//! `mod.rs`: the claims guichet accepts ([`CLAIMS`]), from which flavours,
//! and per-flavour exceptions ([`intake`]: FranceConnect+ eIDAS identities, MConnect's user key,
//! FranceConnect v1's `idp`); `rules.rs`: the whitelist rules;
//! `status.rs`: whether an MConnect identity is active;
//! `headers.rs`: value encodings (`percent`, `utf8`, `base64url`, `latin1`). What a session
//! sends upstream (one header block and one cached assertion per profile, built at login) is
//! [`crate::session::headers::SessionHeaders`].
//!
//! **Invariants.** Unknown claims are dropped; rules belong to the federation: FranceConnect and
//! MConnect keep their formats, a generic provider's claims follow OpenID Connect Core
//! (`identity::tests::{each_rule_refuses_what_it_should, a_generic_provider_s_claims_follow_openid_connect_core}`,
//! `tests/hostile_provider.rs::a_login_handle_is_a_generic_provider_s_preferred_username`). A
//! required (`identity::required`) and forwarded claim outside its rule fails the login with a
//! reason naming the claim (against a provider sending control characters, escaped NULs, bidi
//! overrides, 100 KiB values or non-strings: `tests/hostile_provider.rs::json_userinfo_with_*`,
//! `fuzz::claims_are_whitelisted_or_refused`); an optional or unforwarded one is dropped, counted
//! and logged, never fatal
//! (`identity::tests::at_login_only_required_forwarded_claims_fail_and_the_others_are_dropped`,
//! `tests/hostile_provider.rs::{a_generic_provider_s_bad_claims_are_dropped_and_counted_not_fatal,
//! a_claim_the_application_never_receives_never_fails_a_login}`); a rule
//! is relaxed only for the flavour that needs it
//! (`franceconnect_plus_accepts_eidas_identities_and_rnipp_claims`,
//! `mconnect_claims_and_the_user_key`): FranceConnect's genders include `unspecified` (register
//! sex I: `register_sex_i_is_unspecified_at_every_franceconnect`,
//! `tests/franceconnect_rules.rs::register_sex_i_logs_in_as_unspecified`), and a birthplace in
//! words passes only for an identity whose `amr` contains `eidas`
//! (`eidas_formats_only_when_amr_says_eidas`,
//! `tests/franceconnect_rules.rs::eidas_formats_only_for_identities_whose_amr_says_eidas`). The identity status fails closed
//! (`status::tests::only_an_explicit_active_status_passes`,
//! `tests/providers.rs::suspended_mconnect_identity_gets_the_refusal_page`). Every encoding round-trips and none can
//! carry a control character (`identity::headers::tests::every_encoding_round_trips`,
//! `control_characters_never_become_a_header_value`). Identity headers plus the assertion stay
//! under `max_bytes` or the login is refused
//! (`session::headers::tests::an_identity_too_large_for_the_headers_is_refused`,
//! `tests/upstream_identity.rs::an_oversized_identity_is_refused_at_login`); a replica with a
//! smaller cap refuses such a session's requests (503; public pages pass without identity:
//! `a_replica_with_a_smaller_cap_never_forwards_an_oversized_identity`). A route receives only
//! its profile's claims (`tests/upstream_identity.rs::a_route_receives_only_the_claims_it_lists`).
//! `Debug` of an identity or a header block prints claim names only. **Never**: build headers per
//! request.

pub mod headers;
mod rules;
pub mod status;

use crate::vocab::{ClaimSpec, Flavour, Rule, CLAIMS};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

use Flavour::{FranceConnectPlus as PLUS, FranceConnectV1 as V1, FranceConnectV2 as V2};
use Flavour::{Generic as GEN, MConnect as MC};

/// Where a claim comes from for a provider of this flavour (its name in the provider's JSON)
/// and which rule checks it; `None` when this flavour's claims never include it. `eidas`: the
/// identity comes from FranceConnect's eIDAS bridge ([`is_eidas`]).
pub fn intake(flavour: Flavour, eidas: bool, spec: &ClaimSpec) -> Option<(&'static str, Rule)> {
    match (flavour, spec.name) {
        // FranceConnect's genders include `unspecified`: the national register's sex I, sent
        // as `gender` (v2) and `rnipp_gender` (FranceConnect+), and eIDAS identities'.
        (V1 | V2 | PLUS, "gender") => Some(("gender", Rule::GenderFc)),
        (PLUS, "rnipp_gender") => Some(("rnipp_gender", Rule::GenderFc)),
        // An identity from another EU state, through the eIDAS bridge, has its birthplace in
        // words, not an INSEE code (`back/apps/core-fcp/src/dto/eidas-identity.dto.ts`, checked
        // instead of `oidc-identity.dto.ts` for those identities, in
        // `github.com/france-connect/sources`). Only for them: FranceConnect checks every other
        // identity against the register.
        (V2 | PLUS, "birthplace") if eidas => Some(("birthplace", Rule::Text)),
        (MC, "user_key") => Some(("preferred_username", Rule::Subject)),
        // FranceConnect v1 names the identity provider used in `idp`.
        (V1, "idp_id") => Some(("idp", Rule::Token)),
        (GEN, _) => spec
            .from
            .contains(&GEN)
            .then_some((spec.name, oidc_rule(spec))),
        _ => spec
            .from
            .contains(&flavour)
            .then_some((spec.name, spec.rule)),
    }
}

/// Does this claim set say the identity came through FranceConnect's eIDAS bridge? Its `amr`
/// then contains `eidas` (the bridge's identity provider record has `amr: ["eidas"]`:
/// `docker/volumes/mongo-fcp-{low,high}/scripts/db-states/_default/idp.js`; "avec claim AMR
/// eidas" in `quality/fcp/cypress/integration/eidas-bridge/connexion-eidas-fs-fr.feature`, in
/// `github.com/france-connect/sources`). FranceConnect sends `amr` only to services that ask
/// for it through `claims` (docs/federations.md): without it, an eIDAS identity is held to the
/// register's formats.
pub fn is_eidas(set: &Map<String, Value>) -> bool {
    set.get("amr")
        .and_then(Value::as_array)
        .is_some_and(|methods| methods.iter().any(|m| m.as_str() == Some("eidas")))
}

/// A generic provider's claims follow OpenID Connect Core 5.1 rather than a federation's
/// formats: free text where Core says "string", Core's `birthdate`, an address for `email`, an
/// identifier for `sub`; `idp_id` stays a token (it becomes a metrics label).
fn oidc_rule(spec: &ClaimSpec) -> Rule {
    match (spec.name, spec.rule) {
        ("sub", _) => Rule::Subject,
        ("email", _) => Rule::Email,
        ("idp_id", _) => Rule::Token,
        (_, Rule::Date | Rule::PartialDate) => Rule::OidcDate,
        // `amr` values are tokens (RFC 8176), kept space-separated.
        (_, Rule::TokenList) => Rule::TokenList,
        (_, Rule::NameList) => Rule::OidcStringList,
        _ => Rule::OidcString,
    }
}

/// Is a value outside its rule fatal for this federation (when the claim is forwarded)? `sub`
/// always; the identity FranceConnect and MConnect guarantee in their formats (a value
/// outside them means something is wrong, and the application relies on them). A generic
/// provider's other claims, and each federation's optional ones (usage name, e-mail, identity
/// provider, `amr`...), are dropped instead.
pub fn required(flavour: Flavour, claim: &str) -> bool {
    const PIVOT: &[&str] = &[
        "given_name",
        "family_name",
        "birthdate",
        "gender",
        "birthplace",
        "birthcountry",
    ];
    const MCONNECT_IDENTITY: &[&str] = &[
        "given_name",
        "family_name",
        "birth_name",
        "name",
        "user_key",
        "birth_datetime",
        "birth_place",
        "gender",
        "registration_authority",
    ];
    claim == "sub"
        || match flavour {
            V1 | V2 => PIVOT.contains(&claim),
            PLUS => PIVOT.contains(&claim) || claim.starts_with("rnipp_"),
            MC => MCONNECT_IDENTITY.contains(&claim),
            GEN => false,
        }
}

/// The identity made at login, and the claims dropped on the way.
#[derive(Debug)]
pub struct Intake {
    pub identity: Identity,
    /// Claims whose value failed its rule and that were dropped (not required, or not
    /// forwarded), one entry per claim.
    pub dropped: Vec<ClaimError>,
}

/// A claim that failed its rule. Carries the claim *name* only, never the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("claim {claim} is not valid ({reason})")]
pub struct ClaimError {
    pub claim: &'static str,
    pub reason: &'static str,
}

/// Validated claims of one citizen, as strings, kept compact (a million live sessions each
/// hold one): every value in one buffer, in [`CLAIMS`] order, and the end offset of each
/// claim's value. An absent claim is an empty range (a value is never empty: `""` means
/// absent). Serialized as `{"claims": {name: value}}` (what the Redis store keeps).
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    values: Box<str>,
    ends: [u16; CLAIMS.len()],
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.iter().map(|(spec, _)| spec.name).collect();
        f.debug_struct("Identity").field("claims", &names).finish()
    }
}

/// The claims of an identity being made, by index into [`CLAIMS`].
type Slots = [Option<String>; CLAIMS.len()];

impl Identity {
    /// [`Identity::from_provider`] with the generic OpenID Connect claims.
    pub fn from_claims(sets: &[&Map<String, Value>]) -> Result<Identity, ClaimError> {
        Identity::from_provider(Flavour::Generic, sets)
    }

    /// Builds an identity from JSON claim sets of a provider of this flavour, later sets
    /// overriding earlier ones (id_token claims, then userinfo claims). Unknown claims are
    /// dropped; known claims are validated; empty strings mean "absent" (FranceConnect sends
    /// `""` for some of them).
    ///
    /// Strict: any claim outside its rule is an error (see [`Identity::intake`] for a login).
    pub fn from_provider(
        flavour: Flavour,
        sets: &[&Map<String, Value>],
    ) -> Result<Identity, ClaimError> {
        Identity::take(flavour, sets, |_| true).map(|i| i.identity)
    }

    /// The identity of a login: like [`Identity::from_provider`], but a claim outside its rule
    /// fails the login only when it is [`required`] by the federation and `forwarded` (sent to
    /// the application: not dropped in `[headers.claims]`); otherwise it is dropped and listed
    /// in [`Intake::dropped`].
    pub fn intake(
        flavour: Flavour,
        sets: &[&Map<String, Value>],
        forwarded: impl Fn(&ClaimSpec) -> bool,
    ) -> Result<Intake, ClaimError> {
        Identity::take(flavour, sets, |spec| {
            required(flavour, spec.name) && forwarded(spec)
        })
    }

    /// Takes the claims in; `fatal` says which claims fail the whole login when invalid.
    fn take(
        flavour: Flavour,
        sets: &[&Map<String, Value>],
        fatal: impl Fn(&ClaimSpec) -> bool,
    ) -> Result<Intake, ClaimError> {
        let mut claims: Slots = Default::default();
        let eidas = sets.iter().any(|set| is_eidas(set));
        let mut dropped: Vec<ClaimError> = Vec::new();
        for set in sets {
            for (slot, spec) in claims.iter_mut().zip(CLAIMS) {
                let Some((source, rule)) = intake(flavour, eidas, spec) else {
                    continue;
                };
                let Some(value) = set.get(source) else {
                    continue;
                };
                match rules::validate(spec.name, rule, value) {
                    Ok(v) => {
                        *slot = v;
                        dropped.retain(|d| d.claim != spec.name);
                    }
                    Err(e) if spec.name == "sub" || fatal(spec) => return Err(e),
                    Err(e) => {
                        // The provider's latest word on this claim is invalid: nothing of it
                        // is kept, not even an earlier valid value.
                        *slot = None;
                        dropped.retain(|d| d.claim != spec.name);
                        dropped.push(e);
                    }
                }
            }
        }
        if claims[0].as_deref().is_none_or(str::is_empty) {
            return Err(ClaimError {
                claim: "sub",
                reason: "missing",
            });
        }
        Ok(Intake {
            identity: Identity::pack(&claims)?,
            dropped,
        })
    }

    /// One buffer for every value. Fails (naming the claim that overflows) past 64 KiB of
    /// values, far beyond what any header limit lets through.
    fn pack(claims: &Slots) -> Result<Identity, ClaimError> {
        let mut values = String::with_capacity(claims.iter().flatten().map(String::len).sum());
        let mut ends = [0u16; CLAIMS.len()];
        for ((end, value), spec) in ends.iter_mut().zip(claims).zip(CLAIMS) {
            values.push_str(value.as_deref().unwrap_or_default());
            *end = u16::try_from(values.len()).map_err(|_| ClaimError {
                claim: spec.name,
                reason: "identity too large",
            })?;
        }
        Ok(Identity {
            values: values.into_boxed_str(),
            ends,
        })
    }

    fn value(&self, index: usize) -> Option<&str> {
        let start = match index {
            0 => 0,
            i => usize::from(*self.ends.get(i - 1)?),
        };
        let end = usize::from(*self.ends.get(index)?);
        self.values.get(start..end).filter(|v| !v.is_empty())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.value(CLAIMS.iter().position(|c| c.name == name)?)
    }

    pub fn sub(&self) -> &str {
        self.value(0).unwrap_or_default()
    }

    /// Claims in [`CLAIMS`] order with their specs.
    pub fn iter(&self) -> impl Iterator<Item = (&'static ClaimSpec, &str)> + '_ {
        CLAIMS
            .iter()
            .enumerate()
            .filter_map(|(i, spec)| self.value(i).map(|v| (spec, v)))
    }
}

/// The serialized form: `{"claims": {name: value}}`, as when claims were a map.
#[derive(Serialize, Deserialize)]
#[serde(rename = "Identity")]
struct Wire<C> {
    claims: C,
}

/// The claims of an identity as a serde map (in [`CLAIMS`] order).
struct ClaimMap<'a>(&'a Identity);

impl Serialize for ClaimMap<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(spec, v)| (spec.name, v)))
    }
}

impl Serialize for Identity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Wire {
            claims: ClaimMap(self),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Identity {
    /// Claims this version does not know are dropped, empty values are absent; `sub` must be
    /// there.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Identity, D::Error> {
        let wire = Wire::<BTreeMap<String, String>>::deserialize(d)?;
        let mut claims: Slots = Default::default();
        for (name, value) in wire.claims {
            if let Some(i) = CLAIMS.iter().position(|c| c.name == name) {
                claims[i] = Some(value);
            }
        }
        if claims[0].as_deref().is_none_or(str::is_empty) {
            return Err(serde::de::Error::custom("identity without sub"));
        }
        Identity::pack(&claims).map_err(serde::de::Error::custom)
    }
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
            let fc = Identity::from_provider(Flavour::FranceConnectV2, &[&obj(c.clone())]);
            assert!(fc.is_err(), "{c}");
        }
    }

    #[test]
    fn a_generic_provider_s_claims_follow_openid_connect_core() {
        // Free text where OpenID Connect Core says "string": a login handle is a fine
        // preferred_username, a name may have digits, gender may be another value.
        let ok = obj(json!({
            "sub": "auth0|5f7c8ec7c33c6c004bbafe82", "preferred_username": "bench-user-42",
            "given_name": "R2D2", "family_name": "O'Brien <the 3rd>", "gender": "non-binary",
            "birthdate": "0000-03-14", "name": "李小龍", "email": "bench-user-42@example.org",
            "amr": ["pwd", "otp"], "acr": "urn:mace:incommon:iap:silver"
        }));
        let id = Identity::from_claims(&[&ok]).unwrap();
        assert_eq!(id.get("preferred_username"), Some("bench-user-42"));
        assert_eq!(id.get("gender"), Some("non-binary"));
        assert_eq!(id.get("birthdate"), Some("0000-03-14"));
        assert_eq!(id.get("amr"), Some("pwd otp"));
        for year in ["1962", "1962-03-14"] {
            let c = obj(json!({"sub": "s", "birthdate": year}));
            assert!(Identity::from_claims(&[&c]).is_ok(), "{year}");
        }
        // ...but never a control character, a bidi override, a line separator, a value a
        // header parser would trim, a value too long, or something that is not a string.
        for bad in [
            json!("Bob\r\nX-Pivot-Sub: admin"),
            json!("Jean\u{0000}"),
            json!("Jean\u{007f}"),
            json!("Jean\u{0085}"),
            json!("Jean\u{202e}nialliV"),
            json!("Jean\u{2066}x"),
            json!("Jean\u{2028}"),
            json!(" Jean"),
            json!("Jean\t"),
            json!(""),
            json!("a".repeat(257)),
            json!(42),
            json!(["Jean"]),
        ] {
            let c = obj(json!({"sub": "s", "preferred_username": bad.clone()}));
            match Identity::from_claims(&[&c]) {
                Err(e) => assert_eq!(e.claim, "preferred_username"),
                // An empty string means absent.
                Ok(id) => {
                    assert_eq!(bad, json!(""));
                    assert_eq!(id.get("preferred_username"), None);
                }
            }
        }
        for bad in ["1962-02-30", "62", "0000", "0000-00-00", "14/03/1962"] {
            let c = obj(json!({"sub": "s", "birthdate": bad}));
            assert!(Identity::from_claims(&[&c]).is_err(), "{bad}");
        }
        // `sub` stays an identifier, required.
        assert!(Identity::from_claims(&[&obj(json!({"sub": "a b"}))]).is_err());
    }

    #[test]
    fn at_login_only_required_forwarded_claims_fail_and_the_others_are_dropped() {
        let every = |_: &ClaimSpec| true;
        // A generic provider: only `sub` is required; a bad optional claim is dropped.
        let c = obj(
            json!({"sub": "s", "given_name": "Ana", "preferred_username": "x\u{202e}y",
                           "email": "not-an-address"}),
        );
        let got = Identity::intake(Flavour::Generic, &[&c], every).unwrap();
        assert_eq!(got.identity.get("given_name"), Some("Ana"));
        assert_eq!(got.identity.get("preferred_username"), None);
        assert_eq!(got.identity.get("email"), None);
        let names: Vec<_> = got.dropped.iter().map(|d| d.claim).collect();
        assert_eq!(names, ["preferred_username", "email"]);
        let bad_sub = obj(json!({"sub": "a\u{0000}b", "given_name": "Ana"}));
        assert_eq!(
            Identity::intake(Flavour::Generic, &[&bad_sub], every)
                .unwrap_err()
                .claim,
            "sub"
        );
        // FranceConnect: the identité pivot is required in its formats; e-mail and usage
        // name are optional.
        let fc = obj(json!({"sub": "s", "gender": "unknown", "email": "a@b"}));
        let e = Identity::intake(Flavour::FranceConnectV2, &[&fc], every).unwrap_err();
        assert_eq!(e.claim, "gender");
        let fc = obj(json!({"sub": "s", "gender": "female", "email": "a@b",
                            "preferred_username": "R2D2"}));
        let got = Identity::intake(Flavour::FranceConnectV2, &[&fc], every).unwrap();
        assert_eq!(got.identity.get("gender"), Some("female"));
        let names: Vec<_> = got.dropped.iter().map(|d| d.claim).collect();
        assert_eq!(names, ["preferred_username", "email"]);
        // A required claim the application never receives does not fail the login either.
        let fc = obj(json!({"sub": "s", "gender": "unknown"}));
        let not_gender = |spec: &ClaimSpec| spec.name != "gender";
        let got = Identity::intake(Flavour::FranceConnectV2, &[&fc], not_gender).unwrap();
        assert_eq!(got.identity.get("gender"), None);
        assert_eq!(got.dropped[0].claim, "gender");
        // A later invalid value replaces an earlier valid one with nothing.
        let id_token = obj(json!({"sub": "s", "preferred_username": "good"}));
        let userinfo = obj(json!({"sub": "s", "preferred_username": "bad\u{0001}"}));
        let got = Identity::intake(Flavour::Generic, &[&id_token, &userinfo], every).unwrap();
        assert_eq!(got.identity.get("preferred_username"), None);
        assert_eq!(got.dropped.len(), 1);
        // MConnect's identity is required too.
        let mc = obj(json!({"sub": "MC:1", "birth_datetime": "12/04/1990"}));
        let e = Identity::intake(Flavour::MConnect, &[&mc], every).unwrap_err();
        assert_eq!(e.claim, "birth_datetime");
        for (f, claim) in [
            (Flavour::FranceConnectV1, "birthplace"),
            (Flavour::FranceConnectPlus, "rnipp_birthdate"),
            (Flavour::MConnect, "user_key"),
        ] {
            assert!(required(f, claim), "{f:?} {claim}");
            assert!(!required(Flavour::Generic, claim), "{claim}");
        }
        assert!(required(Flavour::Generic, "sub"));
        assert!(!required(Flavour::FranceConnectV2, "email"));
    }

    #[test]
    fn partial_birth_dates_are_kept() {
        let partial = |v: &str| {
            Identity::from_provider(
                Flavour::FranceConnectV2,
                &[&obj(
                    json!({"sub": "s", "idp_birthdate": v, "birthdate": v}),
                )],
            )
            .map(|i| i.get("idp_birthdate").map(String::from))
        };
        assert_eq!(partial("1962-00-00"), Ok(Some("1962-00-00".into())));
        assert!(partial("1962").is_err(), "birthdate itself is never YYYY");
    }

    #[test]
    fn franceconnect_plus_accepts_eidas_identities_and_rnipp_claims() {
        let eu = obj(json!({
            "sub": "s", "amr": ["eidas"], "given_name": "Giulia", "family_name": "Rossi",
            "gender": "unspecified", "birthplace": "Roma", "birthdate": "1985-00-00",
            "rnipp_birthdate": "1985-01-01", "rnipp_given_name_array": ["Giulia", "Maria"],
            "rnipp_gender": "female", "rnipp_birthplace": "", "rnipp_birthcountry": "99127"
        }));
        let id = Identity::from_provider(Flavour::FranceConnectPlus, &[&eu]).unwrap();
        assert_eq!(id.get("gender"), Some("unspecified"));
        assert_eq!(id.get("birthplace"), Some("Roma"));
        assert_eq!(id.get("amr"), Some("eidas"));
        assert_eq!(id.get("rnipp_given_name_array"), Some("Giulia, Maria"));
        assert_eq!(id.get("rnipp_birthplace"), None);
        // FranceConnect v2 carries eIDAS identities too.
        assert!(Identity::from_provider(Flavour::FranceConnectV2, &[&eu]).is_ok());
        // v1 has no eIDAS bridge.
        let e = Identity::from_provider(Flavour::FranceConnectV1, &[&eu]).unwrap_err();
        assert_eq!(e.claim, "birthplace");
        // A generic provider's claims follow OpenID Connect Core: free strings.
        assert!(Identity::from_provider(Flavour::Generic, &[&eu]).is_ok());
        let rnipp_only = obj(json!({"sub": "s", "rnipp_gender": "female"}));
        let id = Identity::from_provider(Flavour::FranceConnectV2, &[&rnipp_only]).unwrap();
        assert_eq!(
            id.get("rnipp_gender"),
            None,
            "rnipp_* only from FranceConnect+"
        );
    }

    #[test]
    fn eidas_formats_only_when_amr_says_eidas() {
        // The same identity without `amr` (the service did not ask for it), or with the `amr`
        // of a French identity provider: its birthplace must be an INSEE code.
        for amr in [
            json!(null),
            json!(["fc", "pop", "mfa", "pin"]),
            json!("eidas"),
        ] {
            let mut c = obj(json!({"sub": "s", "birthplace": "Roma", "gender": "female"}));
            if !amr.is_null() {
                c.insert("amr".into(), amr.clone());
            }
            for f in [Flavour::FranceConnectV2, Flavour::FranceConnectPlus] {
                let e = Identity::from_provider(f, &[&c]);
                assert!(e.is_err(), "{f:?} {amr}");
            }
        }
        // The eIDAS mark in the id_token relaxes the userinfo's birthplace.
        let id_token = obj(json!({"sub": "s", "amr": ["eidas"]}));
        let userinfo = obj(json!({"sub": "s", "birthplace": "Łódź"}));
        let id = Identity::from_provider(Flavour::FranceConnectPlus, &[&id_token, &userinfo]);
        assert_eq!(id.unwrap().get("birthplace"), Some("Łódź"));
    }

    #[test]
    fn register_sex_i_is_unspecified_at_every_franceconnect() {
        let c = obj(
            json!({"sub": "s", "gender": "unspecified", "rnipp_gender": "unspecified",
                           "birthplace": "33063"}),
        );
        for f in [
            Flavour::FranceConnectV1,
            Flavour::FranceConnectV2,
            Flavour::FranceConnectPlus,
        ] {
            let id = Identity::from_provider(f, &[&c]).unwrap();
            assert_eq!(id.get("gender"), Some("unspecified"), "{f:?}");
        }
        let plus = Identity::from_provider(Flavour::FranceConnectPlus, &[&c]).unwrap();
        assert_eq!(plus.get("rnipp_gender"), Some("unspecified"));
        // MConnect keeps its genders; a generic provider's `gender` is free text (OpenID
        // Connect Core 5.1).
        assert_eq!(
            Identity::from_provider(Flavour::MConnect, &[&c])
                .unwrap_err()
                .claim,
            "gender"
        );
        let generic = Identity::from_provider(Flavour::Generic, &[&c]).unwrap();
        assert_eq!(generic.get("gender"), Some("unspecified"));
        let other = obj(json!({"sub": "s", "gender": "other"}));
        assert!(Identity::from_provider(Flavour::FranceConnectV2, &[&other]).is_err());
    }

    #[test]
    fn mconnect_claims_and_the_user_key() {
        let mc = obj(json!({
            "sub": "MC:123456", "family_name": "Grimaldi", "given_name": "Louise Charlotte",
            "birth_name": "Grimaldi", "name": "Louise Charlotte Grimaldi",
            "preferred_username": "MC-0042-7781", "birth_datetime": "1990-04-12T08:30:00",
            "birth_place": "Monaco", "gender": "female", "email": "dropped@example.mc",
            "Authority": {"status": "active"}
        }));
        let id = Identity::from_provider(Flavour::MConnect, &[&mc]).unwrap();
        assert_eq!(id.get("user_key"), Some("MC-0042-7781"));
        assert_eq!(id.get("preferred_username"), None, "not a usage name");
        assert_eq!(id.get("birth_datetime"), Some("1990-04-12T08:30:00"));
        assert_eq!(id.get("birth_place"), Some("Monaco"));
        assert_eq!(id.get("name"), Some("Louise Charlotte Grimaldi"));
        assert_eq!(id.get("email"), None, "MConnect does not release e-mail");
        let headers: Vec<&str> = id.iter().map(|(s, _)| s.header).collect();
        assert!(headers.contains(&"User-Key") && !headers.contains(&"Preferred-Username"));
        let bad = obj(json!({"sub": "MC:1", "birth_datetime": "12/04/1990"}));
        let e = Identity::from_provider(Flavour::MConnect, &[&bad]).unwrap_err();
        assert_eq!(e.claim, "birth_datetime");
        // A FranceConnect usage name stays a name.
        let fc = obj(json!({"sub": "s", "preferred_username": "MC-0042"}));
        assert_eq!(
            Identity::from_provider(Flavour::FranceConnectV2, &[&fc])
                .unwrap_err()
                .claim,
            "preferred_username"
        );
    }

    #[test]
    fn franceconnect_v1_names_the_identity_provider_in_idp() {
        let v1 = obj(json!({"sub": "s", "idp": "dgfip", "birthdate": "1992-11-00"}));
        let id = Identity::from_provider(Flavour::FranceConnectV1, &[&v1]).unwrap();
        assert_eq!(id.get("idp_id"), Some("dgfip"));
        assert_eq!(id.get("birthdate"), Some("1992-11-00"));
    }

    #[test]
    fn serialized_form_is_the_claim_map_of_earlier_versions() {
        // What a Redis record written by an earlier version (claims in a BTreeMap) holds.
        let old = r#"{"claims":{"acr":"eidas1","amr":"pwd mfa","family_name":"Lefèvre-D’Arc","given_name":"Élodie","sub":"abc123v1","zzz_future_claim":"x"}}"#;
        let id: Identity = serde_json::from_str(old).unwrap();
        assert_eq!(id.sub(), "abc123v1");
        assert_eq!(id.get("family_name"), Some("Lefèvre-D’Arc"));
        assert_eq!(id.get("amr"), Some("pwd mfa"));
        assert_eq!(id.get("zzz_future_claim"), None);
        assert_eq!(id.get("email"), None);
        let names: Vec<_> = id.iter().map(|(s, _)| s.name).collect();
        assert_eq!(names, ["sub", "given_name", "family_name", "acr", "amr"]);
        // Written back, it reads the same in the old shape.
        let json: Value = serde_json::to_value(&id).unwrap();
        assert_eq!(json["claims"]["given_name"], "Élodie");
        assert_eq!(json["claims"].as_object().unwrap().len(), 5);
        let again: Identity = serde_json::from_value(json).unwrap();
        assert_eq!(again, id);
        // A record without `sub` is not an identity.
        assert!(serde_json::from_str::<Identity>(r#"{"claims":{"given_name":"A"}}"#).is_err());
        assert!(serde_json::from_str::<Identity>(r#"{"claims":{"sub":""}}"#).is_err());
    }

    #[test]
    fn every_claim_reads_back_from_the_packed_buffer() {
        let c = obj(json!({
            "sub": "s".repeat(255), "given_name": "Jean-Philippe", "family_name": "Müller",
            "birthdate": "1990-02-28", "gender": "female", "birthplace": "2A004",
            "birthcountry": "99100", "email": "e@example.fr", "idp_id": "fia1v2",
            "acr": "eidas1", "amr": ["pwd"], "preferred_username": "Ana",
            "idp_birthdate": "1990-00-00", "given_name_array": ["Jean", "Philippe"]
        }));
        let id = Identity::from_claims(&[&c]).unwrap();
        assert_eq!(id.sub().len(), 255);
        for (k, v) in &c {
            let want = match v {
                Value::String(s) => s.clone(),
                Value::Array(items) if k == "amr" => "pwd".to_string(),
                Value::Array(_) => "Jean, Philippe".to_string(),
                _ => unreachable!(),
            };
            assert_eq!(id.get(k), Some(want.as_str()), "{k}");
        }
        assert_eq!(id.iter().count(), c.len());
        assert_eq!(CLAIMS[0].name, "sub", "Identity::sub reads slot 0");
    }

    #[test]
    fn every_claim_is_accepted_somewhere_and_headers_are_unique() {
        for (i, c) in CLAIMS.iter().enumerate() {
            assert!(!c.from.is_empty(), "{}", c.name);
            assert!(
                CLAIMS[..i]
                    .iter()
                    .all(|o| o.name != c.name && o.header != c.header),
                "{}",
                c.name
            );
        }
    }
}
