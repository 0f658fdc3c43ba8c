//! Test citizens served by the mock provider (`guichet demo` and the integration tests).
//!
//! They are chosen to exercise what real FranceConnect identities throw at a relying party:
//! accented and hyphenated names, several given names, a person born abroad (empty
//! `birthplace`), a partially unknown birth date, with and without a usage name.

use sha2::{Digest, Sha256};

/// One test identity, as the provider's userinfo endpoint describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Citizen {
    /// Stable identifier used by `login_hint` and the chooser page.
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
    /// `male` or `female`.
    pub gender: &'static str,
    /// INSEE code of the birth town (5 characters), `""` when born abroad.
    pub birthplace: &'static str,
    /// INSEE code of the birth country (5 digits, `99100` = France).
    pub birthcountry: &'static str,
    pub email: &'static str,
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
    },
];

/// The test citizen with this id.
pub fn find(id: &str) -> Option<&'static Citizen> {
    CITIZENS.iter().find(|c| c.id == id)
}

impl Citizen {
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
        }
    }

    #[test]
    fn claims_have_fc_formats() {
        for c in CITIZENS {
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
            assert!(c.gender == "male" || c.gender == "female");
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
