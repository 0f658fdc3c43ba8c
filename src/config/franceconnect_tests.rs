//! Every override that would break FranceConnect logins is refused, naming the key, for each
//! FranceConnect flavour; what FranceConnect accepts passes ([`super::franceconnect`]).

use super::tests::{enc_key, fails, key_file, load, secret_file, with_provider};
use super::*;

/// One FranceConnect provider of this preset, with `extra` keys; FranceConnect+ gets its key.
fn fc(
    s: &tempfile::NamedTempFile,
    key: &tempfile::NamedTempFile,
    preset: &str,
    extra: &str,
) -> String {
    let extra = if preset.starts_with("franceconnect-plus") {
        format!("{}\n{extra}", enc_key("ECDH-ES", key, "k"))
    } else {
        extra.to_string()
    };
    with_provider(s, preset, &extra)
}

const PRESETS: &[&str] = &[
    "franceconnect-v1-integration",
    "franceconnect-v1",
    "franceconnect-v2-integration",
    "franceconnect-v2",
    "franceconnect-plus-integration",
    "franceconnect-plus",
];

#[test]
fn the_presets_ask_only_for_what_every_service_may_have() {
    let s = secret_file();
    let k = key_file("ECDH-ES");
    for preset in PRESETS {
        let cfg = load(&fc(&s, &k, preset, "")).unwrap();
        let p = &cfg.providers[0];
        assert_eq!(
            p.scopes,
            [
                "openid",
                "given_name",
                "family_name",
                "birthdate",
                "gender",
                "birthplace",
                "birthcountry"
            ],
            "{preset}"
        );
        assert_eq!(p.pkce, Pkce::Never, "{preset}");
        assert_eq!(p.token_auth, TokenAuth::ClientSecretPost, "{preset}");
        assert!(p
            .authorize_params
            .keys()
            .all(|k| franceconnect::AUTHORIZE_PARAMS.contains(&k.as_str())));
        assert!(p.acr_values.is_some(), "{preset}");
        assert_eq!(
            p.revoke_access_token,
            preset.starts_with("franceconnect-plus"),
            "{preset}"
        );
    }
}

#[test]
fn overrides_franceconnect_refuses_are_refused_naming_the_key() {
    let s = secret_file();
    let k = key_file("ECDH-ES");
    for preset in PRESETS {
        let v1 = preset.starts_with("franceconnect-v1");
        let mut cases: Vec<(&str, &str)> = vec![
            ("pkce = \"auto\"", "pkce"),
            ("pkce = \"always\"", "pkce"),
            (
                "authorize_params = { login_hint = \"x\" }",
                "authorize_params.login_hint",
            ),
            (
                "authorize_params = { max_age = \"0\" }",
                "authorize_params.max_age",
            ),
            (
                "authorize_params = { acr = \"eidas1\" }",
                "authorize_params.acr",
            ),
            (
                "authorize_params = { prompt = \"none\" }",
                "authorize_params.prompt",
            ),
            (
                "authorize_params = { prompt = \"select_account\" }",
                "authorize_params.prompt",
            ),
            (
                "authorize_params = { prompt = \"\" }",
                "authorize_params.prompt",
            ),
            (
                "authorize_params = { claims = \"amr\" }",
                "authorize_params.claims",
            ),
            ("token_auth = \"client_secret_basic\"", "token_auth"),
        ];
        if v1 {
            // No discovery: "auto" would be Basic.
            cases.push(("token_auth = \"auto\"", "token_auth"));
        } else {
            cases.push(("acr_values = \"\"", "acr_values"));
        }
        for (extra, key) in cases {
            let msg = fails(&fc(&s, &k, preset, extra), key);
            assert!(msg.contains("providers[0]."), "{preset} {extra}: {msg}");
        }
    }
    // Levels a platform does not serve: invalid_acr at every login.
    let plus = "franceconnect-plus-integration";
    fails(&fc(&s, &k, plus, "acr_values = \"eidas1\""), "acr_values");
    fails(
        &fc(&s, &k, plus, "acr_values = \"eidas1 eidas2\""),
        "acr_values",
    );
    fails(
        &fc(&s, &k, "franceconnect-v2", "acr_values = \"eidas2\""),
        "acr_values",
    );
    // A step-up would ask v2 for a level it does not serve.
    fails(
        &fc(
            &s,
            &k,
            "franceconnect-v2",
            "acr_levels = { eidas1 = \"eidas1\", eidas2 = \"eidas2\" }",
        ),
        "acr_levels",
    );
}

#[test]
fn what_franceconnect_accepts_passes() {
    let s = secret_file();
    let k = key_file("ECDH-ES");
    let amr = r#"claims = '{"id_token":{"amr":{"essential":true}}}'"#;
    for preset in PRESETS {
        for extra in [
            format!("authorize_params = {{ {amr} }}"),
            "authorize_params = { idp_hint = \"fia1v2\", ui_locales = \"fr\" }".into(),
            "authorize_params = { prompt = \"login\" }".into(),
            "authorize_params = { prompt = \"consent login\" }".into(),
            "pkce = \"never\"".into(),
            "token_auth = \"client_secret_post\"".into(),
            "scopes = [\"openid\", \"email\", \"preferred_username\"]".into(),
        ] {
            let text = fc(&s, &k, preset, &extra);
            assert!(
                load(&text).is_ok(),
                "{preset} {extra}: {:?}",
                load(&text).err()
            );
        }
    }
    // v2 and FranceConnect+ find client_secret_post through discovery.
    for preset in ["franceconnect-v2", "franceconnect-plus"] {
        assert!(load(&fc(&s, &k, preset, "token_auth = \"auto\"")).is_ok());
    }
    // An unknown level is FranceConnect's default (eidas3 at FranceConnect+).
    assert!(load(&fc(&s, &k, "franceconnect-plus", "acr_values = \"eidas3\"")).is_ok());
    // v1 documents acr_values as optional.
    assert!(load(&fc(&s, &k, "franceconnect-v1", "acr_values = \"\"")).is_ok());
    // Other presets keep their freedom.
    let generic = with_provider(
        &s,
        "generic",
        "issuer = \"https://sso.example.fr\"\npkce = \"always\"\n\
         authorize_params = { max_age = \"0\", prompt = \"select_account\" }\n\
         token_auth = \"client_secret_basic\"",
    );
    let cfg = load(&generic).unwrap();
    assert!(!cfg.providers[0].revoke_access_token);
    // Revocation can be turned on or off.
    let off = fc(&s, &k, "franceconnect-plus", "revoke_access_token = false");
    assert!(!load(&off).unwrap().providers[0].revoke_access_token);
}
