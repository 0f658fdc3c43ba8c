//! The claims guichet knows: the name each is kept under, its header suffix, the rule that
//! checks its value ([`Rule`]: an identifier, the checking itself is `identity`'s) and the
//! flavours it is accepted from; the claims that can become headers ([`header_claims`]) and
//! sets of them ([`ClaimSet`]).

use super::Flavour;
use serde::Serialize;
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
    /// A date with an optional time (MConnect `birth_datetime`): `YYYY-MM-DD`, then optionally
    /// `T` (or a space) `HH:MM[:SS[.fraction]]` and an optional `Z` or `±HH:MM` offset.
    DateTime,
    /// `male` or `female` (FranceConnect's values).
    Gender,
    /// `male`, `female` or `unspecified`: FranceConnect's genders, the national register's
    /// sexes M, F and I (`back/libs/rnipp/src/mappers/oidc-to-rnipp.mappers.ts`,
    /// `back/libs/rnipp/src/enums/genders.enum.ts`) and eIDAS identities'
    /// (`back/libs/eidas-oidc-mapper/src/enums/eidas-gender.enum.ts`), in
    /// `github.com/france-connect/sources`.
    GenderFc,
    /// INSEE commune code: 5 digits, or Corsica's `2A`/`2B` + 3 digits.
    InseeCommune,
    /// INSEE country code: 5 digits (`99100` is France).
    InseeCountry,
    /// Free text such as a place or an authority: 1-128 characters among letters (any script),
    /// digits, combining accents, space and `- ' ’ . , ( ) /`.
    Text,
    Email,
    /// A protocol token: 1-128 characters among `A-Za-z0-9._:/-`.
    Token,
    /// A JSON array of tokens, kept space-separated.
    TokenList,
    /// A JSON array of names, kept comma-separated.
    NameList,
    /// An OpenID Connect Core string (generic providers): 1-256 characters, no control
    /// character, no bidi embedding/override/isolate, no line or paragraph separator, no
    /// leading or trailing white space.
    OidcString,
    /// A JSON array of [`Rule::OidcString`], kept comma-separated.
    OidcStringList,
    /// OpenID Connect Core's `birthdate`: `YYYY-MM-DD` (year `0000` when omitted) or `YYYY`
    /// (also the `00` forms of [`Rule::Date`]).
    OidcDate,
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
    /// No claim.
    pub const fn empty() -> ClaimSet {
        ClaimSet(0)
    }

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

    /// The set as a mask: bit `i` for the claim of index `i` in [`header_claims`].
    pub const fn bits(self) -> u64 {
        self.0
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
