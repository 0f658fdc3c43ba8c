//! The rules of [`super::platform`], one by one.

use super::platform::*;
use super::Flavour;
use std::collections::BTreeMap;

fn params(over: &[(&str, Option<&str>)]) -> BTreeMap<String, String> {
    let mut p: BTreeMap<String, String> = [
        ("client_id", "c"),
        ("acr_values", "eidas1"),
        ("response_type", "code"),
        ("nonce", "n".repeat(22).as_str()),
        ("state", "s"),
        ("redirect_uri", "https://sp.example.fr/cb"),
        ("scope", "openid"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in over {
        match v {
            Some(v) => p.insert(k.to_string(), v.to_string()),
            None => p.remove(*k),
        };
    }
    p
}

fn code_of(r: Result<(), Refused>) -> Option<&'static str> {
    match r {
        Err(Refused::Page { code, .. }) => Some(code),
        _ => None,
    }
}

#[test]
fn the_parameter_whitelist_and_the_required_ones() {
    let v2 = Flavour::FranceConnectV2;
    assert_eq!(check_params(v2, &params(&[])), Ok(()));
    for extra in ["login_hint", "code_challenge", "max_age", "request"] {
        assert_eq!(
            code_of(check_params(v2, &params(&[(extra, Some("x"))]))),
            Some(Y_AUTHORIZE_PARAMS),
            "{extra}"
        );
    }
    for ok in ["claims", "idp_hint", "ui_locales"] {
        assert_eq!(
            check_params(v2, &params(&[(ok, Some("x"))])),
            Ok(()),
            "{ok}"
        );
    }
    for missing in [
        "acr_values",
        "client_id",
        "nonce",
        "redirect_uri",
        "response_type",
        "scope",
        "state",
    ] {
        assert_eq!(
            code_of(check_params(v2, &params(&[(missing, None)]))),
            Some(Y_AUTHORIZE_PARAMS),
            "{missing}"
        );
    }
    // FranceConnect v1: acr_values optional.
    let v1 = Flavour::FranceConnectV1;
    assert_eq!(check_params(v1, &params(&[("acr_values", None)])), Ok(()));
    // Nonce length, empty client_id, prompt values.
    let short = "n".repeat(21);
    assert!(check_params(v2, &params(&[("nonce", Some(&short))])).is_err());
    assert!(check_params(v2, &params(&[("client_id", Some(""))])).is_err());
    for bad in ["", "none", "select_account", "login none"] {
        assert!(
            check_params(v2, &params(&[("prompt", Some(bad))])).is_err(),
            "{bad:?}"
        );
    }
    for good in ["login", "consent", "login consent", "consent login"] {
        assert_eq!(check_params(v2, &params(&[("prompt", Some(good))])), Ok(()));
    }
}

#[test]
fn acr_picks_the_weakest_known_value_and_refuses_another_platform_s() {
    let v2 = Flavour::FranceConnectV2;
    let plus = Flavour::FranceConnectPlus;
    assert_eq!(pick_acr(v2, "eidas1"), Ok("eidas1"));
    assert_eq!(pick_acr(v2, "niveau_inconnu"), Ok("eidas1"));
    assert_eq!(pick_acr(v2, "eidas1 eidas2 eidas3"), Ok("eidas1"));
    assert_eq!(pick_acr(plus, "eidas2"), Ok("eidas2"));
    assert_eq!(pick_acr(plus, "eidas3 eidas2"), Ok("eidas2"));
    assert_eq!(pick_acr(plus, "niveau_inconnu"), Ok("eidas3"));
    assert_eq!(
        pick_acr(plus, "eidas1 eidas2 eidas3"),
        Err(Refused::Redirect {
            error: "invalid_acr",
            description: "acr_value is not valid, should be equal one of these values, \
                          expected eidas2,eidas3, got eidas1"
                .into()
        })
    );
    assert!(matches!(
        pick_acr(v2, "inconnu eidas3"),
        Err(Refused::Redirect {
            error: "invalid_acr",
            ..
        })
    ));
}

#[test]
fn scopes_are_authorised_per_client_and_unknown_ones_ignored() {
    let v2 = Flavour::FranceConnectV2;
    let pivot: Vec<String> = PIVOT_SCOPES.iter().map(|s| s.to_string()).collect();
    let ok = "openid given_name family_name birthdate gender birthplace birthcountry";
    assert_eq!(check_scopes(v2, ok, &pivot), Ok(()));
    assert_eq!(check_scopes(v2, "openid unknown_scope", &pivot), Ok(()));
    for extra in [
        "email",
        "preferred_username",
        "idp_id",
        "idp_birthdate",
        "profile",
    ] {
        assert!(
            matches!(
                check_scopes(v2, &format!("openid {extra}"), &pivot),
                Err(Refused::Redirect {
                    error: "invalid_scope",
                    ..
                })
            ),
            "{extra}"
        );
    }
    assert!(matches!(
        check_scopes(v2, "profile", &all_scopes(v2)),
        Err(Refused::Redirect {
            error: "invalid_request",
            ..
        })
    ));
    // Platform differences: idp_id only on v2, rnipp_* only on FranceConnect+.
    assert!(all_scopes(v2).contains(&"idp_id".to_string()));
    assert!(!all_scopes(Flavour::FranceConnectPlus).contains(&"idp_id".to_string()));
    assert!(all_scopes(Flavour::FranceConnectPlus).contains(&"rnipp_gender".to_string()));
    assert!(!scope_claims(Flavour::FranceConnectPlus, "given_name").contains(&"given_name_array"));
}

#[test]
fn amr_is_released_through_claims_only() {
    assert_eq!(claims_ask_amr(None), Ok(false));
    assert_eq!(
        claims_ask_amr(Some(r#"{"id_token":{"amr":{"essential":true}}}"#)),
        Ok(true)
    );
    assert_eq!(
        claims_ask_amr(Some(r#"{"userinfo":{"amr":null}}"#)),
        Ok(true)
    );
    assert_eq!(claims_ask_amr(Some(r#"{"id_token":{}}"#)), Ok(false));
    assert!(matches!(
        claims_ask_amr(Some("amr")),
        Err(Refused::Redirect {
            error: "invalid_request",
            ..
        })
    ));
}

#[test]
fn revocation_takes_exactly_three_fields() {
    let form = |extra: &[(&str, &str)]| {
        let mut f: BTreeMap<String, String> = [
            ("token", "t".repeat(64)),
            ("client_id", "c".into()),
            ("client_secret", "s".repeat(32)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for (k, v) in extra {
            f.insert(k.to_string(), v.to_string());
        }
        f
    };
    assert_eq!(check_revocation_form(&form(&[])), Ok(()));
    assert!(check_revocation_form(&form(&[("token_type_hint", "access_token")])).is_err());
    assert!(check_revocation_form(&form(&[("token", "short")])).is_err());
    assert!(check_revocation_form(&form(&[("client_secret", "short")])).is_err());
}
