//! Test citizens served by the mock provider (`guichet demo` and the integration tests).
//!
//! They are chosen to exercise what real FranceConnect identities throw at a relying party:
//! accented and hyphenated names, several given names, a person born abroad (empty
//! `birthplace`), a partially unknown birth date, with and without a usage name, a person whose
//! sex in the national register (RNIPP) is `I` (FranceConnect: gender `unspecified`); an eIDAS
//! identity from another EU state (FranceConnect v2 and FranceConnect+, through the eIDAS
//! bridge: `amr` `eidas`, gender `unspecified`, birthplace as free text, no birth country); and
//! a suspended MConnect identity (MConnect only).

use super::flavour::{Flavour, IDP_ID};
use sha2::{Digest, Sha256};

/// One test identity, as the provider's userinfo endpoint describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Citizen {
    /// Stable identifier: the mock's interaction page (`citizen=ID`) and `login_hint` (plain
    /// OpenID providers only).
    pub id: &'static str,
    /// Given names separated by spaces (OIDC `given_name`).
    pub given_name: &'static str,
    /// Birth name (OIDC `family_name`).
    pub family_name: &'static str,
    /// Usage name (`preferred_username`), `""` if the citizen has none (the claim is then omitted).
    pub preferred_username: &'static str,
    /// `YYYY-MM-DD`; unknown parts are presumed (`-01`) as FranceConnect does.
    pub birthdate: &'static str,
    /// The birth date as the identity provider knows it: `YYYY-MM-DD`, `YYYY-MM` or `YYYY`.
    pub idp_birthdate: &'static str,
    /// `male`, `female`, or `unspecified` (RNIPP sex `I`, eIDAS identities): FranceConnect's
    /// genders (`back/libs/rnipp/src/enums/genders.enum.ts` and the mapping of register sexes
    /// M/F/I in `back/libs/rnipp/src/mappers/oidc-to-rnipp.mappers.ts`, in
    /// `github.com/france-connect/sources`).
    pub gender: &'static str,
    /// INSEE code of the birth town (5 characters), `""` when born abroad.
    pub birthplace: &'static str,
    /// INSEE code of the birth country (5 digits, `99100` = France).
    pub birthcountry: &'static str,
    pub email: &'static str,
    /// Where this identity exists; empty: with every flavour of the mock.
    pub only: &'static [Flavour],
    /// An identity from another EU state, through FranceConnect's eIDAS bridge: its `amr` is
    /// `eidas` and its formats are the eIDAS ones.
    pub eidas: bool,
    /// MConnect: the user's unique key (its `preferred_username`).
    pub mconnect_key: &'static str,
    /// MConnect: time of birth (`HH:MM:SS`), joined to the birth date in `birth_datetime`.
    pub birth_time: &'static str,
    /// Birth place in words (MConnect `birth_place`).
    pub birth_place_name: &'static str,
    /// MConnect: registration authority and status (`active`, `suspended`, `inactive`).
    pub authority: &'static str,
    pub status: &'static str,
}

/// The test citizens, in the order the chooser page lists them.
pub const CITIZENS: &[Citizen] = &[
    Citizen {
        id: "elodie",
        given_name: "Élodie",
        family_name: "Müller",
        preferred_username: "",
        birthdate: "1990-03-12",
        idp_birthdate: "1990-03-12",
        gender: "female",
        birthplace: "75056",
        birthcountry: "99100",
        email: "elodie.muller@example.fr",
        only: &[],
        eidas: false,
        mconnect_key: "MC-0001-4412",
        birth_time: "08:15:00",
        birth_place_name: "Paris",
        authority: "Mairie de Monaco",
        status: "active",
    },
    Citizen {
        id: "jean-philippe",
        given_name: "Jean-Philippe Marie",
        family_name: "Lefèvre-Dubois",
        preferred_username: "Lefèvre",
        birthdate: "1975-11-30",
        idp_birthdate: "1975-11-30",
        gender: "male",
        birthplace: "69123",
        birthcountry: "99100",
        email: "jp.lefevre-dubois@example.fr",
        only: &[],
        eidas: false,
        mconnect_key: "MC-0002-9034",
        birth_time: "23:40:00",
        birth_place_name: "Lyon",
        authority: "Direction de la Sûreté Publique",
        status: "active",
    },
    Citizen {
        id: "ana",
        given_name: "Ana María",
        family_name: "García López",
        preferred_username: "",
        birthdate: "1988-07-04",
        idp_birthdate: "1988-07-04",
        gender: "female",
        // Born abroad: FranceConnect sends an empty birthplace and the country code.
        birthplace: "",
        birthcountry: "99134",
        email: "ana.garcia@example.es",
        only: &[],
        eidas: false,
        mconnect_key: "MC-0003-1170",
        birth_time: "12:00:00",
        birth_place_name: "Madrid",
        authority: "Direction de la Sûreté Publique",
        status: "active",
    },
    Citizen {
        id: "partial",
        given_name: "Louis",
        family_name: "Martin",
        preferred_username: "",
        // Day and month unknown ("présumé né"). FranceConnect v2 completes `birthdate` with
        // `01` (YYYY-01-01) and passes the identity provider's raw value in `idp_birthdate`
        // (`YYYY-00-00`; FC v1 and FC+ send that form in `birthdate` itself).
        birthdate: "1962-01-01",
        idp_birthdate: "1962-00-00",
        gender: "male",
        birthplace: "13055",
        birthcountry: "99100",
        email: "louis.martin@example.fr",
        only: &[],
        eidas: false,
        mconnect_key: "MC-0004-5521",
        birth_time: "00:00:00",
        birth_place_name: "Marseille",
        authority: "Mairie de Monaco",
        status: "active",
    },
    Citizen {
        id: "angela",
        given_name: "Angela Claire Louise",
        family_name: "Dubois",
        preferred_username: "Dupont",
        birthdate: "1962-08-24",
        idp_birthdate: "1962-08-24",
        gender: "female",
        birthplace: "75107",
        birthcountry: "99100",
        email: "angela.dubois@example.fr",
        only: &[],
        eidas: false,
        mconnect_key: "MC-0005-6608",
        birth_time: "06:30:00",
        birth_place_name: "Paris",
        authority: "Mairie de Monaco",
        status: "active",
    },
    Citizen {
        id: "camille",
        given_name: "Camille",
        family_name: "Bernard",
        preferred_username: "",
        birthdate: "1979-09-15",
        idp_birthdate: "1979-09-15",
        // Sex `I` (indéterminé) in the national register: FranceConnect sends `unspecified`,
        // in `gender` (v2) and `rnipp_gender` (FranceConnect+).
        gender: "unspecified",
        birthplace: "33063",
        birthcountry: "99100",
        email: "camille.bernard@example.fr",
        only: &[
            Flavour::FranceConnectV1,
            Flavour::FranceConnectV2,
            Flavour::FranceConnectPlus,
        ],
        eidas: false,
        mconnect_key: "",
        birth_time: "",
        birth_place_name: "Bordeaux",
        authority: "",
        status: "active",
    },
    Citizen {
        id: "giulia",
        given_name: "Giulia Maria",
        family_name: "Rossi",
        preferred_username: "",
        // An eIDAS identity from another EU state, through FranceConnect's eIDAS bridge: no
        // INSEE codes, gender may be unspecified, no "présumé né" handling, no e-mail.
        birthdate: "1985-06-21",
        idp_birthdate: "1985-06-21",
        gender: "unspecified",
        birthplace: "Roma",
        birthcountry: "",
        email: "giulia.rossi@example.it",
        only: &[Flavour::FranceConnectV2, Flavour::FranceConnectPlus],
        eidas: true,
        mconnect_key: "",
        birth_time: "",
        birth_place_name: "Roma",
        authority: "",
        status: "active",
    },
    Citizen {
        id: "louise",
        given_name: "Louise Charlotte",
        family_name: "Grimaldi",
        preferred_username: "",
        birthdate: "1990-04-12",
        idp_birthdate: "1990-04-12",
        gender: "female",
        birthplace: "",
        birthcountry: "99138",
        email: "louise.grimaldi@example.mc",
        only: &[Flavour::MConnect],
        eidas: false,
        mconnect_key: "MC-0042-7781",
        birth_time: "08:30:00",
        birth_place_name: "Monaco",
        authority: "Mairie de Monaco",
        status: "active",
    },
    Citizen {
        id: "suspendu",
        given_name: "Marc",
        family_name: "Pastor",
        preferred_username: "",
        birthdate: "1971-02-03",
        idp_birthdate: "1971-02-03",
        gender: "male",
        birthplace: "",
        birthcountry: "99138",
        email: "marc.pastor@example.mc",
        // A digital identity the registration authority has suspended: MConnect still
        // authenticates it and says so in `Authority`; the service must refuse it.
        only: &[Flavour::MConnect],
        eidas: false,
        mconnect_key: "MC-0043-0917",
        birth_time: "17:45:00",
        birth_place_name: "Monaco",
        authority: "Direction de la Sûreté Publique",
        status: "suspended",
    },
];

/// The test citizen with this id.
pub fn find(id: &str) -> Option<&'static Citizen> {
    CITIZENS.iter().find(|c| c.id == id)
}

/// The test citizen with this id, if it exists with this flavour of provider.
pub fn find_for(id: &str, flavour: Flavour) -> Option<&'static Citizen> {
    find(id).filter(|c| c.exists_with(flavour))
}

impl Citizen {
    /// Does this identity exist at a provider of this flavour?
    pub fn exists_with(&self, flavour: Flavour) -> bool {
        self.only.is_empty() || self.only.contains(&flavour)
    }

    /// The identity provider FranceConnect names in `idp_id`: the eIDAS bridge for eIDAS
    /// identities, the mock's identity provider otherwise.
    pub fn idp_id(&self) -> &'static str {
        if self.eidas {
            "eidas-bridge"
        } else {
            IDP_ID
        }
    }

    /// Pairwise-looking subject for this citizen at this client:
    /// `hex(sha256(client_id ":" id))` followed by `v1`, like FranceConnect's subs.
    pub fn sub(&self, client_id: &str) -> String {
        sub_for(client_id, self.id)
    }

    /// The given names one by one (`given_name_array`), split on spaces.
    pub fn given_name_array(&self) -> Vec<&'static str> {
        self.given_name
            .split(' ')
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// Display name for the chooser page.
    pub fn display_name(&self) -> String {
        format!("{} {}", self.given_name, self.family_name)
    }
}

/// `hex(sha256(client_id + ":" + citizen_id)) + "v1"`.
pub fn sub_for(client_id: &str, citizen_id: &str) -> String {
    let mut h = Sha256::new();
    h.update(client_id.as_bytes());
    h.update(b":");
    h.update(citizen_id.as_bytes());
    let mut s = hex::encode(h.finalize());
    s.push_str("v1");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_findable() {
        for c in CITIZENS {
            assert_eq!(find(c.id), Some(c));
            assert_eq!(CITIZENS.iter().filter(|o| o.id == c.id).count(), 1);
        }
        assert!(find("nobody").is_none());
        for id in ["elodie", "jean-philippe", "ana", "partial", "angela"] {
            assert!(find(id).is_some(), "{id}");
            assert!(find_for(id, Flavour::MConnect).is_some(), "{id}");
        }
        assert!(find_for("giulia", Flavour::FranceConnectV1).is_none());
        assert!(find_for("giulia", Flavour::FranceConnectPlus).is_some());
        assert!(find_for("camille", Flavour::MConnect).is_none());
        assert!(find_for("camille", Flavour::FranceConnectPlus).is_some());
        assert!(find_for("suspendu", Flavour::FranceConnectPlus).is_none());
        assert_eq!(
            find_for("suspendu", Flavour::MConnect).map(|c| c.status),
            Some("suspended")
        );
    }

    #[test]
    fn claims_have_fc_formats() {
        // The French identities FranceConnect checks against the national register.
        let french = |c: &&Citizen| !c.eidas && c.only != [Flavour::MConnect];
        for c in CITIZENS.iter().filter(french) {
            let d = c.birthdate.as_bytes();
            assert_eq!(d.len(), 10, "{}", c.id);
            assert!(d.iter().enumerate().all(|(i, b)| if i == 4 || i == 7 {
                *b == b'-'
            } else {
                b.is_ascii_digit()
            }));
            // idp_birthdate is the identity provider's raw value: the same date, or the same
            // year with unknown parts as 00.
            assert_eq!(c.idp_birthdate.len(), 10, "{}", c.id);
            assert_eq!(&c.birthdate[..4], &c.idp_birthdate[..4], "{}", c.id);
            assert!(["male", "female", "unspecified"].contains(&c.gender));
            assert!(c.birthplace.is_empty() || c.birthplace.len() == 5);
            assert_eq!(c.birthcountry.len(), 5);
            assert!(c.birthcountry.starts_with("99"));
            // Born abroad <=> empty birthplace.
            assert_eq!(c.birthplace.is_empty(), c.birthcountry != "99100");
            assert!(c.email.contains('@'));
        }
    }

    #[test]
    fn sub_format() {
        let s = sub_for("guichet-demo", "elodie");
        assert_eq!(s.len(), 66);
        assert!(s.ends_with("v1"));
        assert!(s[..64].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(s, sub_for("other-client", "elodie"));
        assert_eq!(
            s,
            find("elodie")
                .map(|c| c.sub("guichet-demo"))
                .unwrap_or_default()
        );
    }

    #[test]
    fn given_name_array_splits_on_spaces_not_hyphens() {
        let jp = find("jean-philippe").map(|c| c.given_name_array());
        assert_eq!(jp, Some(vec!["Jean-Philippe", "Marie"]));
    }
}
