//! The checks that depend on the federation, each against a provider of that flavour that
//! breaks exactly that rule (as in `login_security.rs`): FranceConnect+'s encryption (JWE
//! around the JWS) and the JWS inside it, FranceConnect v1's HMAC with the client secret, and
//! levels (an `acr` below what was asked).

mod common;

use common::*;
use guichet::demo::provider::{Faults, Flavour, JweFault};
use reqwest::StatusCode;

/// A login refused with `reason` by a gateway in front of a provider of this flavour.
macro_rules! refused_by {
    ($name:ident, $flavour:expr, $faults:expr, $reason:literal) => {
        refused_by!($name, $flavour, $faults, $reason, StatusCode::BAD_GATEWAY);
    };
    ($name:ident, $flavour:expr, $faults:expr, $reason:literal, $status:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let h = Harness::with(Setup {
                flavour: $flavour,
                ..Setup::default()
            })
            .await;
            assert_refused(&h, $faults, $reason, $status).await;
        }
    };
}

fn f() -> Faults {
    Faults::default()
}

// FranceConnect+: the id_token and userinfo are JWE around a JWS. Each check of the envelope,
// then the checks of the JWS inside it.
refused_by!(
    fcplus_id_token_encrypted_to_another_key,
    Flavour::FranceConnectPlus,
    Faults {
        id_token_jwe: Some(JweFault::OtherKey),
        ..f()
    },
    "id_token_jwe_unknown_key"
);
refused_by!(
    fcplus_id_token_encrypted_to_another_key_under_our_kid,
    Flavour::FranceConnectPlus,
    Faults {
        id_token_jwe: Some(JweFault::OtherKeySameKid),
        ..f()
    },
    "id_token_jwe_undecryptable"
);
refused_by!(
    fcplus_id_token_with_unpinned_content_encryption,
    Flavour::FranceConnectPlus,
    Faults {
        id_token_jwe: Some(JweFault::WrongEnc),
        ..f()
    },
    "id_token_jwe_enc_not_allowed"
);
refused_by!(
    fcplus_id_token_with_unpinned_key_management,
    Flavour::FranceConnectPlus,
    Faults {
        id_token_jwe: Some(JweFault::WrongAlg),
        ..f()
    },
    "id_token_jwe_alg_not_allowed"
);
refused_by!(
    fcplus_plain_jws_id_token,
    Flavour::FranceConnectPlus,
    Faults {
        id_token_jwe: Some(JweFault::NotEncrypted),
        ..f()
    },
    "id_token_not_encrypted"
);
refused_by!(
    fcplus_plain_jws_userinfo,
    Flavour::FranceConnectPlus,
    Faults {
        userinfo_jwe: Some(JweFault::NotEncrypted),
        ..f()
    },
    "userinfo_not_encrypted"
);
refused_by!(
    fcplus_userinfo_encrypted_to_another_key,
    Flavour::FranceConnectPlus,
    Faults {
        userinfo_jwe: Some(JweFault::OtherKey),
        ..f()
    },
    "userinfo_jwe_unknown_key"
);
refused_by!(
    fcplus_forged_signature_inside_the_jwe,
    Flavour::FranceConnectPlus,
    Faults {
        bad_signature: true,
        ..f()
    },
    "id_token_bad_signature"
);
refused_by!(
    fcplus_alg_none_inside_the_jwe,
    Flavour::FranceConnectPlus,
    Faults {
        alg_none: true,
        ..f()
    },
    "id_token_alg_not_allowed"
);
refused_by!(
    fcplus_userinfo_signed_by_another_key_inside_the_jwe,
    Flavour::FranceConnectPlus,
    Faults {
        userinfo_signed_by_other_key: true,
        ..f()
    },
    "userinfo_unknown_key"
);
refused_by!(
    fcplus_acr_eidas1_is_no_level_at_franceconnect_plus,
    Flavour::FranceConnectPlus,
    Faults {
        acr: Some("eidas1".into()),
        ..f()
    },
    "id_token_acr_too_low",
    StatusCode::FORBIDDEN
);
// FranceConnect v1: HS256 keyed with the client secret, and nothing else.
refused_by!(
    fcv1_forged_hmac,
    Flavour::FranceConnectV1,
    Faults {
        bad_signature: true,
        ..f()
    },
    "id_token_bad_signature"
);
refused_by!(
    fcv1_hmac_keyed_with_something_else_than_the_client_secret,
    Flavour::FranceConnectV1,
    Faults {
        hs256_with_public_key: true,
        ..f()
    },
    "id_token_bad_signature"
);
refused_by!(
    fcv1_alg_none,
    Flavour::FranceConnectV1,
    Faults {
        alg_none: true,
        ..f()
    },
    "id_token_alg_not_allowed"
);
refused_by!(
    fcv1_wrong_nonce,
    Flavour::FranceConnectV1,
    Faults {
        wrong_nonce: true,
        ..f()
    },
    "id_token_nonce_mismatch"
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acr_lower_than_the_level_requested() {
    // FranceConnect+ asked for eidas3 answers with an eidas2 token: refused.
    let h = Harness::with(Setup {
        flavour: Flavour::FranceConnectPlus,
        ..Setup::default()
    })
    .await;
    h.set_faults(Faults {
        acr: Some("eidas2".into()),
        ..f()
    });
    let b = h.browser();
    let landed = b
        .follow_as(&format!("{}/.guichet/login?level=eidas3", h.url), "elodie")
        .await;
    assert_eq!(
        h.stack.mock.last_authorize_params().unwrap()["acr_values"],
        "eidas3"
    );
    // A level too low gets its own page (403), not a verification error.
    assert_eq!(landed.status, StatusCode::FORBIDDEN);
    assert_eq!(
        h.last_login_reason().as_deref(),
        Some("id_token_acr_too_low")
    );
    assert!(!h.upstream_saw_identity());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_level_the_provider_cannot_prove_is_never_asked_of_it() {
    // FranceConnect v2 is eIDAS low only: a login at eidas2 gets a page, not a provider error.
    let h = Harness::start().await;
    let landed = h
        .browser()
        .follow_as(&format!("{}/.guichet/login?level=eidas2", h.url), "elodie")
        .await;
    assert_eq!(landed.status, StatusCode::FORBIDDEN, "{}", landed.body);
    assert!(landed.body.contains("Niveau de sécurité non disponible"));
    assert_eq!(h.stack.mock.counters().authorize, 0);
}
