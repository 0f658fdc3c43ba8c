//! What FranceConnect's platform refuses, and how, for the mock's FranceConnect flavours.
//!
//! Each rule names the file of FranceConnect's published platform code it mirrors
//! (`github.com/france-connect/sources`, read at commit `fc-392RC1`; paths relative to that
//! repository). The rules are restated here, not copied. FranceConnect v2 is the
//! `core-fcp-low` instance, FranceConnect+ `core-fcp-high`; both run `back/apps/core-fcp`.
//! FranceConnect v1 (legacy) is not published: the mock holds it to the same rules, except
//! that `acr_values` stays optional there (its partner documentation).

use super::Flavour;
use serde_json::Value;

/// How FranceConnect answers a refused authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Refused {
    /// FranceConnect's own error page (HTTP 400, HTML) with this error code: the citizen never
    /// goes back to the service.
    Page { code: &'static str, why: String },
    /// Back to the service's `redirect_uri` with `error`, `error_description` and `state`.
    Redirect {
        error: &'static str,
        description: String,
    },
}

fn page(code: &'static str, why: impl Into<String>) -> Refused {
    Refused::Page {
        code,
        why: why.into(),
    }
}

fn redirect(error: &'static str, description: impl Into<String>) -> Refused {
    Refused::Redirect {
        error,
        description: description.into(),
    }
}

/// `Y` + scope (2 digits) + code (4 digits): `back/libs/exceptions/src/helpers/code.helper.ts`.
/// `OidcProviderAuthorizeParamsException` (scope 3, code 7):
/// `back/libs/oidc-provider/src/exceptions/oidc-provider-authorize-params.exception.ts`.
pub(super) const Y_AUTHORIZE_PARAMS: &str = "Y030007";
/// Unknown `client_id` (node-oidc-provider's InvalidClient, rendered as a page):
/// `back/libs/oidc-provider/src/exceptions/runtime/oidc-provider-runtime-InvalidClient-EA6EF.exception.ts`,
/// code checked in `quality/fcp/cypress/integration/api/api-authorize.feature`.
pub(super) const Y_UNKNOWN_CLIENT: &str = "Y04EA6EF";
/// `amr` asked through `claims` by a service not authorised for it (`CoreClaimAmrException`,
/// scope 10, code 9): `back/libs/core/src/exceptions/core-claim-amr.exception.ts`.
pub(super) const Y_CLAIM_AMR: &str = "Y100009";

/// The only authorization parameters FranceConnect accepts: the properties of
/// `back/apps/core-fcp/src/dto/authorize-params.dto.ts`, validated with `whitelist` and
/// `forbidNonWhitelisted` in `back/apps/core-fcp/src/controllers/oidc-provider.controller.ts`.
/// Anything else (`login_hint`, `code_challenge`, `max_age`...) is [`Y_AUTHORIZE_PARAMS`].
pub(super) const AUTHORIZE_PARAMS: &[&str] = &[
    "client_id",
    "acr_values",
    "claims",
    "response_type",
    "nonce",
    "state",
    "redirect_uri",
    "scope",
    "prompt",
    "idp_hint",
    "ui_locales",
];

/// `nonce` is at least 22 characters (`@MinLength(22)` in `authorize-params.dto.ts`; a 16
/// character nonce is refused in `quality/fcp/cypress/integration/api/api-authorize.feature`).
pub(super) const NONCE_MIN_LEN: usize = 22;

/// `prompt` values a service may send (`allowedPrompt` in
/// `back/instances/core-fcp-{low,high}/src/config/oidc-provider.ts`, checked by
/// `back/libs/oidc-provider/src/validators/prompt.validator.ts`); FranceConnect then forces
/// `login consent` whatever was sent (`overrideAuthorizePrompt` in
/// `back/libs/core/src/services/core-oidc-provider-middleware.service.ts`).
pub(super) const PROMPTS: &[&str] = &["login", "consent"];

/// The eIDAS levels FranceConnect knows, weakest first (`knownAcrValues` in
/// `back/instances/core-fcp-{low,high}/src/config/oidc-acr.ts`).
const KNOWN_ACR: &[&str] = &["eidas1", "eidas2", "eidas3"];

/// The levels a platform serves (`acrValues` in `core-fcp-low` / `core-fcp-high`
/// `src/config/oidc-provider.ts`), and the one it uses when the request names none it knows
/// (`defaultAcrValue` in `src/config/oidc-acr.ts`: `eidas1` on low, `eidas3` on high).
pub(super) fn acr_values(flavour: Flavour) -> (&'static [&'static str], &'static str) {
    match flavour {
        Flavour::FranceConnectPlus => (&["eidas2", "eidas3"], "eidas3"),
        _ => (&["eidas1"], "eidas1"),
    }
}

/// The level a request gets: the weakest known value it names, else the platform's default
/// (`pickAcr`, `back/libs/core/src/transforms/acr.transform.ts`); a level the platform does not
/// serve is `invalid_acr`, sent back to the service with FranceConnect's description
/// (`rejectInvalidAcr`, `back/libs/core/src/services/core-acr.service.ts`; e.g. eidas1 at
/// FranceConnect+, `quality/fcp/cypress/integration/usager/connexion-acr-fcp-high.feature`).
pub(super) fn pick_acr(flavour: Flavour, requested: &str) -> Result<&'static str, Refused> {
    let (allowed, default) = acr_values(flavour);
    let asked: Vec<&str> = requested.split(' ').filter(|a| !a.is_empty()).collect();
    let picked = KNOWN_ACR
        .iter()
        .find(|k| asked.contains(k))
        .copied()
        .unwrap_or(default);
    if allowed.contains(&picked) {
        Ok(picked)
    } else {
        Err(redirect(
            "invalid_acr",
            format!(
                "acr_value is not valid, should be equal one of these values, expected {}, got {picked}",
                allowed.join(",")
            ),
        ))
    }
}

/// The claims each scope releases: `back/libs/scopes/src/data/fcp-low/fcp-low.scopes.ts`
/// (FranceConnect v2) and `fcp-high/fcp-high.scopes.ts` (FranceConnect+). `idp_id` and
/// `idp_birthdate` come only with their own scopes, and only from FranceConnect v2;
/// `given_name_array` is not a scope. FranceConnect v1 (not published) is given v2's table
/// without the v2 additions (`idp_id`, `idp_birthdate`, `given_name_array`, `amr`).
pub(super) fn scope_claims(flavour: Flavour, scope: &str) -> &'static [&'static str] {
    const PIVOT_LOW: &[&str] = &[
        "given_name",
        "given_name_array",
        "family_name",
        "birthdate",
        "gender",
        "birthplace",
        "birthcountry",
    ];
    const PIVOT: &[&str] = &[
        "given_name",
        "family_name",
        "birthdate",
        "gender",
        "birthplace",
        "birthcountry",
    ];
    let low = flavour == Flavour::FranceConnectV2;
    let plus = flavour == Flavour::FranceConnectPlus;
    match scope {
        "openid" => &["sub"],
        "profile" if low => &[
            "given_name",
            "given_name_array",
            "family_name",
            "birthdate",
            "gender",
            "preferred_username",
        ],
        "profile" => &[
            "given_name",
            "family_name",
            "birthdate",
            "gender",
            "preferred_username",
        ],
        "birth" => &["birthplace", "birthcountry"],
        "identite_pivot" if low => PIVOT_LOW,
        "identite_pivot" => PIVOT,
        "given_name" if low => &["given_name", "given_name_array"],
        "given_name" => &["given_name"],
        "family_name" => &["family_name"],
        "birthdate" => &["birthdate"],
        "gender" => &["gender"],
        "birthplace" => &["birthplace"],
        "birthcountry" => &["birthcountry"],
        "email" => &["email"],
        "preferred_username" => &["preferred_username"],
        "idp_birthdate" if low => &["idp_birthdate"],
        "idp_id" if low => &["idp_id"],
        "amr" if low || plus => &["amr"],
        "rnipp_identite_pivot" if plus => &[
            "gender",
            "rnipp_gender",
            "family_name",
            "rnipp_family_name",
            "given_name",
            "rnipp_given_name",
            "rnipp_given_name_array",
            "birthdate",
            "rnipp_birthdate",
            "birthplace",
            "rnipp_birthplace",
            "birthcountry",
            "rnipp_birthcountry",
        ],
        "rnipp_gender" if plus => &["gender", "rnipp_gender"],
        "rnipp_family_name" if plus => &["family_name", "rnipp_family_name"],
        "rnipp_given_name" if plus => &["given_name", "rnipp_given_name", "rnipp_given_name_array"],
        "rnipp_birthdate" if plus => &["birthdate", "rnipp_birthdate"],
        "rnipp_birthplace" if plus => &["birthplace", "rnipp_birthplace"],
        "rnipp_birthcountry" if plus => &["birthcountry", "rnipp_birthcountry"],
        "rnipp_profile" if plus => &[
            "given_name",
            "rnipp_given_name",
            "rnipp_given_name_array",
            "family_name",
            "rnipp_family_name",
            "birthdate",
            "rnipp_birthdate",
            "gender",
            "rnipp_gender",
            "preferred_username",
        ],
        "rnipp_birth" if plus => &[
            "birthplace",
            "rnipp_birthplace",
            "birthcountry",
            "rnipp_birthcountry",
        ],
        _ => &[],
    }
}

/// Every scope of a platform's table ([`scope_claims`]), for a client authorised for all.
pub(super) fn all_scopes(flavour: Flavour) -> Vec<String> {
    const CANDIDATES: &[&str] = &[
        "openid",
        "profile",
        "birth",
        "identite_pivot",
        "given_name",
        "family_name",
        "birthdate",
        "gender",
        "birthplace",
        "birthcountry",
        "email",
        "preferred_username",
        "idp_birthdate",
        "idp_id",
        "amr",
        "rnipp_identite_pivot",
        "rnipp_gender",
        "rnipp_family_name",
        "rnipp_given_name",
        "rnipp_birthdate",
        "rnipp_birthplace",
        "rnipp_birthcountry",
        "rnipp_profile",
        "rnipp_birth",
    ];
    CANDIDATES
        .iter()
        .filter(|s| !scope_claims(flavour, s).is_empty())
        .map(|s| s.to_string())
        .collect()
}

/// What every service is authorised for when the mock is not told otherwise: `openid` and the
/// identité pivot, claim by claim, and the scopes made only of those (`birth`,
/// `identite_pivot`). A real service's authorisation (its DataPass habilitation) is the
/// `scopes` list of its record (`back/libs/service-provider-adapter-mongo/src/services/
/// service-provider-adapter-mongo.service.ts`, turned into node-oidc-provider's client `scope`).
pub(super) const PIVOT_SCOPES: &[&str] = &[
    "openid",
    "given_name",
    "family_name",
    "birthdate",
    "gender",
    "birthplace",
    "birthcountry",
    "birth",
    "identite_pivot",
];

/// Checks the requested scopes against the client's authorisation. Scopes the platform does
/// not know are ignored ("attribut scope inconnu ignoré" in
/// `quality/fcp/cypress/integration/usager/connexion-scope.feature`); a known scope outside the
/// authorisation sends the service back `invalid_scope` / "requested scope is not allowed"
/// ("erreur FS non habilité pour ce scope", same file). Without `openid`, node-oidc-provider
/// answers `invalid_request` ("erreur invalid_request scope" in
/// `quality/fcp/cypress/integration/api/api-authorize.feature`).
pub(super) fn check_scopes(
    flavour: Flavour,
    scope: &str,
    authorised: &[String],
) -> Result<(), Refused> {
    let scopes: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
    if !scopes.contains(&"openid") {
        return Err(redirect(
            "invalid_request",
            "openid scope must be requested when using the acr_values parameter",
        ));
    }
    let refused = scopes
        .iter()
        .any(|s| !scope_claims(flavour, s).is_empty() && !authorised.iter().any(|a| a == s));
    if refused {
        return Err(redirect("invalid_scope", "requested scope is not allowed"));
    }
    Ok(())
}

/// Does the `claims` parameter ask for `amr`? FranceConnect releases `amr` only when asked for
/// through `claims` (e.g. `{"id_token":{"amr":{"essential":true}}}`), and then only to a
/// service authorised for that claim; any other service gets [`Y_CLAIM_AMR`]
/// (`overrideClaimAmrMiddleware` in
/// `back/libs/core/src/services/core-oidc-provider-middleware.service.ts`; "Connexion avec
/// claims" in `quality/fcp/cypress/integration/usager/connexion-claims.feature`). A `claims`
/// value that is not a JSON object goes back to the service as node-oidc-provider's
/// `invalid_request` (its `check_claims` step, which FranceConnect runs with
/// `claimsParameter` enabled in `core-fcp-{low,high}/src/config/oidc-provider.ts`).
pub(super) fn claims_ask_amr(claims: Option<&str>) -> Result<bool, Refused> {
    let Some(raw) = claims else { return Ok(false) };
    let Ok(Value::Object(members)) = serde_json::from_str::<Value>(raw) else {
        return Err(redirect(
            "invalid_request",
            "could not parse the claims parameter JSON",
        ));
    };
    Ok(members
        .values()
        .filter_map(Value::as_object)
        .any(|m| m.contains_key("amr")))
}

/// The checks of `authorize-params.dto.ts` that end on [`Y_AUTHORIZE_PARAMS`]: parameters
/// outside [`AUTHORIZE_PARAMS`], a required one missing (`acr_values` too, except on v1:
/// "erreur Y030007 <param> manquant" in `api-authorize.feature`), an empty `client_id`, a
/// `nonce` shorter than [`NONCE_MIN_LEN`], a `prompt` that is empty or outside [`PROMPTS`].
pub(super) fn check_params(
    flavour: Flavour,
    params: &std::collections::BTreeMap<String, String>,
) -> Result<(), Refused> {
    if let Some(k) = params
        .keys()
        .find(|k| !AUTHORIZE_PARAMS.contains(&k.as_str()))
    {
        return Err(page(
            Y_AUTHORIZE_PARAMS,
            format!("{k} is not an accepted parameter"),
        ));
    }
    let mut required = vec![
        "client_id",
        "response_type",
        "nonce",
        "state",
        "redirect_uri",
        "scope",
    ];
    if flavour != Flavour::FranceConnectV1 {
        required.push("acr_values");
    }
    if let Some(k) = required.iter().find(|k| !params.contains_key(**k)) {
        return Err(page(Y_AUTHORIZE_PARAMS, format!("{k} is required")));
    }
    if params.get("client_id").is_some_and(String::is_empty) {
        return Err(page(Y_AUTHORIZE_PARAMS, "client_id is empty"));
    }
    if params
        .get("nonce")
        .is_some_and(|n| n.chars().count() < NONCE_MIN_LEN)
    {
        return Err(page(
            Y_AUTHORIZE_PARAMS,
            format!("nonce is shorter than {NONCE_MIN_LEN} characters"),
        ));
    }
    if let Some(prompt) = params.get("prompt") {
        let values: Vec<&str> = prompt.split(' ').filter(|p| !p.is_empty()).collect();
        if values.is_empty() || values.iter().any(|p| !PROMPTS.contains(p)) {
            return Err(page(
                Y_AUTHORIZE_PARAMS,
                "prompt must be login and/or consent",
            ));
        }
    }
    Ok(())
}

/// FranceConnect's `amr` for an identity: the identity provider's methods, as configured for
/// it (`amr` of the identity provider record, read in
/// `back/apps/core-fcp/src/controllers/oidc-client.controller.ts`): `fc pwd` on the low
/// platform, `fc pop mfa pin` on the high one ("Connexion avec claims - avec claim AMR fc" in
/// `connexion-claims.feature`), `eidas` for an identity from the eIDAS bridge
/// (`docker/volumes/mongo-fcp-{low,high}/scripts/db-states/_default/idp.js`).
pub(super) fn amr(flavour: Flavour, eidas: bool) -> &'static [&'static str] {
    match (flavour, eidas) {
        (_, true) => &["eidas"],
        (Flavour::FranceConnectPlus, false) => &["fc", "pop", "mfa", "pin"],
        _ => &["fc", "pwd"],
    }
}

/// The revocation endpoint's body (`back/libs/oidc-provider/src/dto/revocation-token-params.dto.ts`,
/// validated with `forbidNonWhitelisted` in `back/libs/oidc-provider/src/oidc-provider.controller.ts`):
/// exactly `token` (43 characters or more, no `.*?{}()|[]\` nor spaces), `client_id` and
/// `client_secret` (32 ASCII characters or more): `client_secret_post`, no `token_type_hint`.
pub(super) fn check_revocation_form(
    form: &std::collections::BTreeMap<String, String>,
) -> Result<(), String> {
    if let Some(k) = form
        .keys()
        .find(|k| !["token", "client_id", "client_secret"].contains(&k.as_str()))
    {
        return Err(format!("{k} should not exist"));
    }
    let token = form.get("token").ok_or("token is required")?;
    if token.len() < 43
        || token
            .chars()
            .any(|c| c.is_whitespace() || ".*?{}()|[]\\".contains(c))
    {
        return Err("token must be a safe string of 43 characters or more".into());
    }
    if !form.contains_key("client_id") {
        return Err("client_id is required".into());
    }
    let secret = form
        .get("client_secret")
        .ok_or("client_secret is required")?;
    if secret.len() < 32 || !secret.is_ascii() {
        return Err("client_secret must be 32 ASCII characters or more".into());
    }
    Ok(())
}
