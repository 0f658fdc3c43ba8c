//! The citizen's identity: the claims guichet accepts from a provider, each checked against
//! a whitelist rule (charset, length, format) before it is kept.
//!
//! Invariants:
//! - Only claims listed in [`CLAIMS`] and accepted for the provider's flavour ([`intake`]) are
//!   kept; anything else the provider sends is dropped. Rules differ per flavour only where the
//!   federation documents it (FranceConnect's `unspecified` gender, eIDAS identities marked by
//!   their `amr`, MConnect's user key), never by loosening a rule for every provider.
//! - A listed claim with a value outside its rule fails the whole login
//!   ([`ClaimError`], naming the claim, never its value); it is never truncated, "cleaned" or
//!   passed on as is.
//! - `Debug` of an [`Identity`] prints claim *names* only: personal data never reaches a log.

pub mod headers;
mod rules;
pub mod status;

use crate::config::Flavour;
pub use rules::Rule;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

/// A claim guichet knows: the name it is kept under, its header suffix, its rule, and the
/// flavours it is accepted from.
#[derive(Debug, Clone, Copy)]
pub struct ClaimSpec {
    pub name: &'static str,
    /// Appended to the header prefix: `Given-Name` -> `X-Pivot-Given-Name`.
    pub header: &'static str,
    pub rule: Rule,
    pub from: &'static [Flavour],
}

const fn spec(
    name: &'static str,
    header: &'static str,
    rule: Rule,
    from: &'static [Flavour],
) -> ClaimSpec {
    ClaimSpec {
        name,
        header,
        rule,
        from,
    }
}

use Flavour::{FranceConnectPlus as PLUS, FranceConnectV1 as V1, FranceConnectV2 as V2};
use Flavour::{Generic as GEN, MConnect as MC};

const EVERY: &[Flavour] = &[V1, V2, PLUS, MC, GEN];
/// FranceConnect's identité pivot and the generic OpenID claims.
const FC: &[Flavour] = &[V1, V2, PLUS, GEN];
/// FranceConnect v2 (eIDAS low) only sends these.
const FC_LOW: &[Flavour] = &[V2, GEN];
const FC_PLUS: &[Flavour] = &[PLUS];
const MCONNECT: &[Flavour] = &[MC];

/// Every claim guichet accepts, in header order.
pub const CLAIMS: &[ClaimSpec] = &[
    spec("sub", "Sub", Rule::Subject, EVERY),
    spec("given_name", "Given-Name", Rule::Name, EVERY),
    spec(
        "given_name_array",
        "Given-Name-Array",
        Rule::NameList,
        FC_LOW,
    ),
    spec("family_name", "Family-Name", Rule::Name, EVERY),
    spec("preferred_username", "Preferred-Username", Rule::Name, FC),
    spec("birth_name", "Birth-Name", Rule::Name, MCONNECT),
    spec("name", "Name", Rule::Name, MCONNECT),
    // MConnect's `preferred_username` is the user's unique key, not a usage name: it is
    // kept under its own name so an application never shows it as a name.
    spec("user_key", "User-Key", Rule::Subject, MCONNECT),
    spec("birthdate", "Birthdate", Rule::Date, FC),
    spec("idp_birthdate", "Idp-Birthdate", Rule::PartialDate, FC_LOW),
    spec("birth_datetime", "Birth-Datetime", Rule::DateTime, MCONNECT),
    spec("gender", "Gender", Rule::Gender, EVERY),
    spec("birthplace", "Birthplace", Rule::InseeCommune, FC),
    spec("birth_place", "Birth-Place", Rule::Text, MCONNECT),
    spec("birthcountry", "Birthcountry", Rule::InseeCountry, FC),
    spec("email", "Email", Rule::Email, FC),
    spec("rnipp_given_name", "Rnipp-Given-Name", Rule::Name, FC_PLUS),
    spec(
        "rnipp_given_name_array",
        "Rnipp-Given-Name-Array",
        Rule::NameList,
        FC_PLUS,
    ),
    spec(
        "rnipp_family_name",
        "Rnipp-Family-Name",
        Rule::Name,
        FC_PLUS,
    ),
    spec("rnipp_birthdate", "Rnipp-Birthdate", Rule::Date, FC_PLUS),
    spec("rnipp_gender", "Rnipp-Gender", Rule::Gender, FC_PLUS),
    spec(
        "rnipp_birthplace",
        "Rnipp-Birthplace",
        Rule::InseeCommune,
        FC_PLUS,
    ),
    spec(
        "rnipp_birthcountry",
        "Rnipp-Birthcountry",
        Rule::InseeCountry,
        FC_PLUS,
    ),
    spec(
        "registration_authority",
        "Registration-Authority",
        Rule::Text,
        MCONNECT,
    ),
    spec("idp_id", "Idp-Id", Rule::Token, FC),
    spec("acr", "Acr", Rule::Token, EVERY),
    spec("amr", "Amr", Rule::TokenList, EVERY),
];

pub fn claim_spec(name: &str) -> Option<&'static ClaimSpec> {
    CLAIMS.iter().find(|c| c.name == name)
}

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
    pub fn from_provider(
        flavour: Flavour,
        sets: &[&Map<String, Value>],
    ) -> Result<Identity, ClaimError> {
        let mut claims: Slots = Default::default();
        let eidas = sets.iter().any(|set| is_eidas(set));
        for set in sets {
            for (slot, spec) in claims.iter_mut().zip(CLAIMS) {
                let Some((source, rule)) = intake(flavour, eidas, spec) else {
                    continue;
                };
                let Some(value) = set.get(source) else {
                    continue;
                };
                *slot = rules::validate(spec.name, rule, value)?;
            }
        }
        if claims[0].as_deref().is_none_or(str::is_empty) {
            return Err(ClaimError {
                claim: "sub",
                reason: "missing",
            });
        }
        Identity::pack(&claims)
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
            assert!(Identity::from_claims(&[&obj(c.clone())]).is_err(), "{c}");
        }
    }

    #[test]
    fn partial_birth_dates_are_kept() {
        let partial = |v: &str| {
            Identity::from_claims(&[&obj(
                json!({"sub": "s", "idp_birthdate": v, "birthdate": v}),
            )])
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
        // v1 has no eIDAS bridge; generic providers keep OpenID's genders.
        let e = Identity::from_provider(Flavour::FranceConnectV1, &[&eu]).unwrap_err();
        assert_eq!(e.claim, "birthplace");
        let e = Identity::from_provider(Flavour::Generic, &[&eu]).unwrap_err();
        assert_eq!(e.claim, "gender");
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
        for f in [Flavour::MConnect, Flavour::Generic] {
            assert_eq!(
                Identity::from_provider(f, &[&c]).unwrap_err().claim,
                "gender",
                "{f:?}"
            );
        }
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
