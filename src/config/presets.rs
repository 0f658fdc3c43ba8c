//! Provider presets: what each federation fixes (endpoints, algorithms, levels, scopes,
//! quirks). Every value here is a default that a `[[providers]]` key can override; `guichet
//! check` prints the effective result.
//!
//! Sources for each value are in `/tmp/research/providers.md` (FranceConnect's partner docs and
//! server code, the MConnect terms). Where a federation publishes nothing (MConnect's acr
//! spelling, the shape of its `Authority` claim), the preset holds an assumption that the
//! README names and the operator can override.

use super::{Pkce, TokenAuth, UserinfoFormat};
use crate::vocab::{Flavour, Level};

/// Endpoints of a provider without discovery (FranceConnect v1).
#[derive(Debug, Clone, Copy)]
pub struct FixedEndpoints {
    pub authorization: &'static str,
    pub token: &'static str,
    pub userinfo: &'static str,
    pub end_session: &'static str,
}

/// Where a provider says whether a digital identity is active (MConnect's `Authority`).
#[derive(Debug, Clone, Copy)]
pub struct StatusDefaults {
    /// Dot-separated JSON path to the status, starting with the claim name.
    pub path: &'static str,
    /// The only status value accepted.
    pub active: &'static str,
    /// Dot-separated JSON path to the registration authority (sent to the application).
    pub authority_path: &'static str,
}

/// Defaults for one provider flavour.
#[derive(Debug, Clone)]
pub struct Preset {
    pub name: &'static str,
    pub flavour: Flavour,
    /// Fixed issuer; `None` means the operator must give one (`generic`, `mconnect`).
    pub issuer: Option<&'static str>,
    pub display_name: &'static str,
    pub scopes: &'static [&'static str],
    /// `acr_values` asked for when no route needs more.
    pub acr_values: Option<&'static str>,
    /// Which `acr` value proves which level (read in the id_token, chosen for `acr_values`).
    pub acr_levels: &'static [(&'static str, Level)],
    /// JWS algorithms of the id_token (and signed userinfo). HS* only for FranceConnect v1.
    pub id_token_algs: &'static [&'static str],
    /// JWE key management algorithms; non-empty means id_token and userinfo are encrypted.
    pub jwe_algs: &'static [&'static str],
    /// JWE content encryption algorithms.
    pub jwe_encs: &'static [&'static str],
    pub token_auth: TokenAuth,
    pub userinfo: UserinfoFormat,
    pub pkce: Pkce,
    pub authorize_params: &'static [(&'static str, &'static str)],
    /// Read `ISSUER/.well-known/openid-configuration` (false: [`Preset::endpoints`]).
    pub discovery: bool,
    pub endpoints: Option<FixedEndpoints>,
    pub identity_status: Option<StatusDefaults>,
    /// Revoke the access token once userinfo is read (FranceConnect+).
    pub revoke_access_token: bool,
    /// The provider sends RFC 9207's `iss` in every authorization response, success and error.
    pub authorization_response_iss: bool,
}

/// What every FranceConnect service is authorised for: `openid` and the identité pivot, claim
/// by claim. FranceConnect answers `invalid_scope` to every login that asks for a scope the
/// service's authorisation (its habilitation) lacks ("erreur FS non habilité pour ce scope" in
/// `quality/fcp/cypress/integration/usager/connexion-scope.feature` of
/// `github.com/france-connect/sources`), so `email`, `preferred_username`, `idp_id`,
/// `idp_birthdate`, `rnipp_*` (and `amr`, through `claims`) are for services that asked for
/// them (docs/federations.md).
const FC_SCOPES: &[&str] = &[
    "openid",
    "given_name",
    "family_name",
    "birthdate",
    "gender",
    "birthplace",
    "birthcountry",
];

const FC_V1: Preset = Preset {
    name: "franceconnect-v1",
    flavour: Flavour::FranceConnectV1,
    // FranceConnect v1's id_token `iss` is the bare host, without `/api/v1`.
    issuer: Some("https://app.franceconnect.gouv.fr"),
    display_name: "FranceConnect",
    scopes: FC_SCOPES,
    acr_values: Some("eidas1"),
    acr_levels: &[("eidas1", Level::Low)],
    // v1 signs the id_token with the client secret; nothing else is accepted from it.
    id_token_algs: &["HS256"],
    jwe_algs: &[],
    jwe_encs: &[],
    token_auth: TokenAuth::ClientSecretPost,
    userinfo: UserinfoFormat::Json,
    pkce: Pkce::Never,
    authorize_params: &[],
    discovery: false,
    endpoints: Some(FixedEndpoints {
        authorization: "https://app.franceconnect.gouv.fr/api/v1/authorize",
        token: "https://app.franceconnect.gouv.fr/api/v1/token",
        userinfo: "https://app.franceconnect.gouv.fr/api/v1/userinfo?schema=openid",
        end_session: "https://app.franceconnect.gouv.fr/api/v1/logout",
    }),
    identity_status: None,
    revoke_access_token: false,
    // FranceConnect v1 runs on another code base; nothing says it sends `iss`.
    authorization_response_iss: false,
};

const FC_V2: Preset = Preset {
    name: "franceconnect-v2",
    flavour: Flavour::FranceConnectV2,
    issuer: Some("https://oidc.franceconnect.gouv.fr/api/v2"),
    display_name: "FranceConnect",
    scopes: FC_SCOPES,
    acr_values: Some("eidas1"),
    acr_levels: &[("eidas1", Level::Low)],
    id_token_algs: &["ES256", "RS256"],
    jwe_algs: &[],
    jwe_encs: &[],
    token_auth: TokenAuth::ClientSecretPost,
    userinfo: UserinfoFormat::Jwt,
    // FranceConnect's authorization endpoint refuses `code_challenge` (config/franceconnect.rs).
    pkce: Pkce::Never,
    authorize_params: &[("prompt", "login consent")],
    discovery: true,
    endpoints: None,
    identity_status: None,
    revoke_access_token: false,
    // FranceConnect v2 and FranceConnect+ run on panva's oidc-provider (7.14.3 in
    // france-connect/sources `back/package.json`), which adds `iss` to every authorization
    // response and advertises it in discovery; FranceConnect's own error redirects add it
    // too (`back/libs/oidc-provider`, `OidcProviderRedirectExceptionFilter`).
    authorization_response_iss: true,
};

const FC_PLUS: Preset = Preset {
    name: "franceconnect-plus",
    flavour: Flavour::FranceConnectPlus,
    issuer: Some("https://auth.franceconnect.gouv.fr/api/v2"),
    display_name: "FranceConnect+",
    scopes: FC_SCOPES,
    acr_values: Some("eidas2"),
    acr_levels: &[("eidas2", Level::Substantial), ("eidas3", Level::High)],
    // The signed token inside the JWE: ES256 is mandatory on FranceConnect+.
    id_token_algs: &["ES256"],
    jwe_algs: &["RSA-OAEP", "RSA-OAEP-256", "ECDH-ES"],
    jwe_encs: &["A256GCM"],
    token_auth: TokenAuth::ClientSecretPost,
    userinfo: UserinfoFormat::Jwe,
    pkce: Pkce::Never,
    authorize_params: &[("prompt", "login consent")],
    discovery: true,
    endpoints: None,
    identity_status: None,
    // FranceConnect+ asks services to revoke the access token ("Comment déconnecter un
    // utilisateur de FranceConnect+ ?", `fs/technique/technique-deconnexion.md` of
    // `github.com/france-connect/Documentation-FranceConnect-Plus`).
    revoke_access_token: true,
    authorization_response_iss: true,
};

const MCONNECT: Preset = Preset {
    name: "mconnect",
    flavour: Flavour::MConnect,
    issuer: None,
    display_name: "S’identifier avec MConnect",
    scopes: &["openid", "profile"],
    // MConnect publishes no acr spelling: "substantial"/"high" is an assumption (README).
    acr_values: Some("substantial"),
    acr_levels: &[("substantial", Level::Substantial), ("high", Level::High)],
    id_token_algs: &["RS256", "ES256", "PS256"],
    jwe_algs: &[],
    jwe_encs: &[],
    token_auth: TokenAuth::Auto,
    userinfo: UserinfoFormat::Auto,
    pkce: Pkce::Auto,
    authorize_params: &[],
    discovery: true,
    endpoints: None,
    // The shape of `Authority` is not published either; these paths are overridable.
    identity_status: Some(StatusDefaults {
        path: "Authority.status",
        active: "active",
        authority_path: "Authority.registration_authority",
    }),
    revoke_access_token: false,
    // Unknown: required when its discovery advertises it.
    authorization_response_iss: false,
};

const GENERIC: Preset = Preset {
    name: "generic",
    flavour: Flavour::Generic,
    issuer: None,
    display_name: "OpenID Connect",
    scopes: &["openid", "profile", "email"],
    acr_values: None,
    acr_levels: &[
        ("eidas1", Level::Low),
        ("eidas2", Level::Substantial),
        ("eidas3", Level::High),
    ],
    id_token_algs: &["RS256", "ES256", "PS256"],
    jwe_algs: &[],
    jwe_encs: &[],
    token_auth: TokenAuth::Auto,
    userinfo: UserinfoFormat::Auto,
    pkce: Pkce::Auto,
    authorize_params: &[],
    discovery: true,
    endpoints: None,
    identity_status: None,
    revoke_access_token: false,
    // Required when the provider's discovery advertises it.
    authorization_response_iss: false,
};

/// Finds a preset by name.
pub fn lookup(name: &str) -> Option<Preset> {
    let p = match name {
        "generic" => GENERIC,
        "mconnect" => MCONNECT,
        "franceconnect-v1" => FC_V1,
        "franceconnect-v1-integration" => Preset {
            name: "franceconnect-v1-integration",
            issuer: Some("https://fcp.integ01.dev-franceconnect.fr"),
            display_name: "FranceConnect (intégration)",
            endpoints: Some(FixedEndpoints {
                authorization: "https://fcp.integ01.dev-franceconnect.fr/api/v1/authorize",
                token: "https://fcp.integ01.dev-franceconnect.fr/api/v1/token",
                userinfo: "https://fcp.integ01.dev-franceconnect.fr/api/v1/userinfo?schema=openid",
                end_session: "https://fcp.integ01.dev-franceconnect.fr/api/v1/logout",
            }),
            ..FC_V1
        },
        "franceconnect-v2" => FC_V2,
        "franceconnect-v2-integration" => Preset {
            name: "franceconnect-v2-integration",
            issuer: Some("https://fcp-low.integ01.dev-franceconnect.fr/api/v2"),
            display_name: "FranceConnect (intégration)",
            ..FC_V2
        },
        "franceconnect-plus" => FC_PLUS,
        "franceconnect-plus-integration" => Preset {
            name: "franceconnect-plus-integration",
            issuer: Some("https://auth.integ01.dev-franceconnect.fr/api/v2"),
            display_name: "FranceConnect+ (intégration)",
            ..FC_PLUS
        },
        _ => return None,
    };
    Some(p)
}

/// Names accepted by `preset = ...`, for error messages.
pub const NAMES: &[&str] = &[
    "generic",
    "mconnect",
    "franceconnect-v1-integration",
    "franceconnect-v1",
    "franceconnect-v2-integration",
    "franceconnect-v2",
    "franceconnect-plus-integration",
    "franceconnect-plus",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_name_resolves_and_pins_its_algorithms() {
        for name in NAMES {
            let p = lookup(name).expect(name);
            assert_eq!(&p.name, name);
            assert!(p.scopes.contains(&"openid"));
            assert!(!p.id_token_algs.is_empty());
            assert!(!p.acr_levels.is_empty(), "{name}");
            assert!(p.id_token_algs.iter().all(|a| *a != "none"));
            // Shared-secret signatures only where the federation uses them: FranceConnect v1,
            // and then nothing else (no mix of HMAC and public keys).
            let hmac = p
                .id_token_algs
                .iter()
                .filter(|a| a.starts_with("HS"))
                .count();
            if p.flavour == Flavour::FranceConnectV1 {
                assert_eq!(hmac, p.id_token_algs.len(), "{name}");
                assert!(!p.discovery && p.endpoints.is_some(), "{name}");
            } else {
                assert_eq!(hmac, 0, "{name}");
                assert!(p.discovery, "{name}");
            }
            // Encryption comes with content encryption pinned, and only for FranceConnect+.
            assert_eq!(p.jwe_algs.is_empty(), p.jwe_encs.is_empty(), "{name}");
            assert_eq!(
                !p.jwe_algs.is_empty(),
                p.flavour == Flavour::FranceConnectPlus,
                "{name}"
            );
            // The default acr_values is one of the values the preset knows a level for.
            if let Some(acr) = p.acr_values {
                assert!(p.acr_levels.iter().any(|(a, _)| *a == acr), "{name}");
            }
        }
        assert!(lookup("franceconnect-v3").is_none());
    }

    #[test]
    fn franceconnect_plus_pins_jwe_and_levels() {
        let p = lookup("franceconnect-plus-integration").unwrap();
        assert_eq!(p.jwe_encs, &["A256GCM"]);
        assert_eq!(p.jwe_algs, &["RSA-OAEP", "RSA-OAEP-256", "ECDH-ES"]);
        assert_eq!(p.id_token_algs, &["ES256"]);
        assert_eq!(
            p.issuer,
            Some("https://auth.integ01.dev-franceconnect.fr/api/v2")
        );
        assert!(!p.acr_levels.iter().any(|(a, _)| *a == "eidas1"));
    }
}
