//! Provider presets: what each federation fixes (endpoints, algorithms, scopes, quirks).
//! Every value here is a default that a `[[providers]]` key can override; `guichet check`
//! prints the effective result.

use super::{Flavour, Pkce, TokenAuth, UserinfoFormat};

/// Defaults for one provider flavour.
#[derive(Debug, Clone)]
pub struct Preset {
    pub name: &'static str,
    pub flavour: Flavour,
    /// Fixed issuer; `None` means the operator must give one (`generic`, `mconnect`).
    pub issuer: Option<&'static str>,
    pub display_name: &'static str,
    pub scopes: &'static [&'static str],
    pub acr_values: Option<&'static str>,
    pub id_token_algs: &'static [&'static str],
    pub token_auth: TokenAuth,
    pub userinfo: UserinfoFormat,
    pub pkce: Pkce,
    pub authorize_params: &'static [(&'static str, &'static str)],
}

/// The FranceConnect "identité pivot" scopes plus e-mail and usage name.
const FC_SCOPES: &[&str] = &[
    "openid",
    "given_name",
    "family_name",
    "birthdate",
    "gender",
    "birthplace",
    "birthcountry",
    "email",
    "preferred_username",
];

const FC_V2: Preset = Preset {
    name: "franceconnect-v2",
    flavour: Flavour::FranceConnectV2,
    issuer: Some("https://oidc.franceconnect.gouv.fr/api/v2"),
    display_name: "FranceConnect",
    scopes: FC_SCOPES,
    acr_values: Some("eidas1"),
    id_token_algs: &["ES256", "RS256"],
    token_auth: TokenAuth::ClientSecretPost,
    userinfo: UserinfoFormat::Jwt,
    // FranceConnect does not document PKCE; sending it must never break a login.
    pkce: Pkce::Never,
    authorize_params: &[("prompt", "login consent")],
};

const GENERIC: Preset = Preset {
    name: "generic",
    flavour: Flavour::Generic,
    issuer: None,
    display_name: "OpenID Connect",
    scopes: &["openid", "profile", "email"],
    acr_values: None,
    id_token_algs: &["RS256", "ES256", "PS256"],
    token_auth: TokenAuth::Auto,
    userinfo: UserinfoFormat::Auto,
    pkce: Pkce::Auto,
    authorize_params: &[],
};

/// Finds a preset by name.
pub fn lookup(name: &str) -> Option<Preset> {
    let p = match name {
        "generic" => GENERIC,
        "franceconnect-v2" => FC_V2,
        "franceconnect-v2-integration" => Preset {
            name: "franceconnect-v2-integration",
            issuer: Some("https://fcp-low.integ01.dev-franceconnect.fr/api/v2"),
            display_name: "FranceConnect (intégration)",
            ..FC_V2
        },
        _ => return None,
    };
    Some(p)
}

/// Names accepted by `preset = ...`, for error messages.
pub const NAMES: &[&str] = &[
    "generic",
    "franceconnect-v2-integration",
    "franceconnect-v2",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_name_resolves_and_pins_asymmetric_algorithms() {
        for name in NAMES {
            let p = lookup(name).expect(name);
            assert_eq!(&p.name, name);
            assert!(p.scopes.contains(&"openid"));
            assert!(!p.id_token_algs.is_empty());
            assert!(p
                .id_token_algs
                .iter()
                .all(|a| !a.starts_with("HS") && *a != "none"));
        }
        assert!(lookup("franceconnect-v3").is_none());
    }
}
