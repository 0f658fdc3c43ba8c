//! Unit tests of [`super`]: headers, typing, claims, key candidates.

use super::*;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

fn token_with_header(h: Value) -> String {
    format!("{}.e30.c2ln", URL_SAFE_NO_PAD.encode(h.to_string()))
}

#[test]
fn alg_none_and_hmac_are_refused_before_any_key_lookup() {
    let pinned = [Algorithm::ES256, Algorithm::RS256];
    for alg in ["none", "None", "HS256", "HS512", "ES512", ""] {
        let t = token_with_header(json!({"alg": alg, "kid": "k"}));
        assert_eq!(
            pinned_header(&t, &pinned),
            Err(TokenError::AlgorithmNotAllowed),
            "{alg}"
        );
    }
    let t = token_with_header(json!({"alg": "ES256", "kid": "k", "typ": "JWT"}));
    assert_eq!(
        pinned_header(&t, &pinned),
        Ok(PinnedHeader {
            alg: Algorithm::ES256,
            kid: Some("k".into()),
            typ: Some("JWT".into())
        })
    );
}

#[test]
fn malformed_headers() {
    let pinned = [Algorithm::ES256];
    assert_eq!(pinned_header("a.b", &pinned), Err(TokenError::Malformed));
    assert_eq!(
        pinned_header("a.b.c.d.e", &pinned),
        Err(TokenError::Malformed)
    );
    assert_eq!(pinned_header("!!.b.c", &pinned), Err(TokenError::Malformed));
    let t = token_with_header(json!({"alg": "ES256", "crit": ["exp"]}));
    assert_eq!(pinned_header(&t, &pinned), Err(TokenError::Malformed));
    let t = token_with_header(json!({"alg": "ES256", "kid": 7}));
    assert_eq!(pinned_header(&t, &pinned), Err(TokenError::Malformed));
    let t = token_with_header(json!({"alg": "ES256", "typ": ["logout+jwt"]}));
    assert_eq!(pinned_header(&t, &pinned), Err(TokenError::Malformed));
}

#[test]
fn logout_tokens_and_other_tokens_are_told_apart_by_typ() {
    for typ in ["logout+jwt", "Logout+JWT", "application/logout+jwt"] {
        assert_eq!(check_typ(Some(typ), true), Ok(()), "{typ}");
        assert_eq!(check_typ(Some(typ), false), Err(TokenError::Typ), "{typ}");
    }
    for typ in ["JWT", "jwt", "at+jwt"] {
        assert_eq!(check_typ(Some(typ), true), Err(TokenError::Typ), "{typ}");
        assert_eq!(check_typ(Some(typ), false), Ok(()), "{typ}");
    }
    assert_eq!(check_typ(None, true), Ok(()));
    assert_eq!(check_typ(None, false), Ok(()));
}

fn claims(v: Value) -> Map<String, Value> {
    let mut m = v.as_object().cloned().unwrap_or_default();
    m.entry("iss").or_insert(json!("https://op.example/"));
    m
}

const WANT: Expected<'static> = Expected {
    issuer: "https://op.example/",
    client_id: "c",
    skew: 60,
};

fn expect(nonce: &str) -> Expect<'_> {
    Expect {
        require_times: true,
        require_aud: true,
        logout: false,
        nonce: Some(nonce),
        now: 10_000,
    }
}

fn userinfo() -> Expect<'static> {
    Expect {
        require_times: false,
        require_aud: false,
        logout: false,
        nonce: None,
        now: 10_000,
    }
}

#[test]
fn iat_azp_nonce_checks() {
    let ok = json!({"sub": "s", "iat": 10_000, "exp": 10_060, "nonce": "n1", "aud": "c"});
    assert_eq!(check_claims(&claims(ok), &WANT, &expect("n1")), Ok(()));
    let good = |extra: Value| {
        let mut c = json!({"sub": "s", "iat": 10_000, "exp": 10_060, "nonce": "n1", "aud": "c"});
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let cases = [
        (good(json!({"nonce": "n2"})), TokenError::Nonce),
        (good(json!({"nonce": null})), TokenError::Nonce),
        (good(json!({"iat": 20_000})), TokenError::IssuedInFuture),
        (good(json!({"iat": 1_000})), TokenError::TooOld),
        (good(json!({"iat": null})), TokenError::MissingClaim),
        (good(json!({"exp": null})), TokenError::MissingClaim),
        (good(json!({"exp": 9_000})), TokenError::Expired),
        (good(json!({"exp": "later"})), TokenError::Malformed),
        (good(json!({"sub": null})), TokenError::MissingClaim),
        (good(json!({"sub": 42})), TokenError::MissingClaim),
        (good(json!({"aud": ["c", "other"]})), TokenError::Azp),
        (good(json!({"azp": "other"})), TokenError::Azp),
    ];
    for (c, want) in cases {
        assert_eq!(
            check_claims(&claims(c.clone()), &WANT, &expect("n1")),
            Err(want),
            "{c}"
        );
    }
    let multi = good(json!({"aud": ["c", "o"], "azp": "c"}));
    assert_eq!(check_claims(&claims(multi), &WANT, &expect("n1")), Ok(()));
}

#[test]
fn the_issuer_is_one_string_compared_exactly() {
    let with_iss = |iss: Value| {
        let mut c =
            claims(json!({"sub": "s", "iat": 10_000, "exp": 10_060, "nonce": "n1", "aud": "c"}));
        c.insert("iss".into(), iss);
        c
    };
    assert_eq!(
        check_claims(
            &with_iss(json!("https://op.example/")),
            &WANT,
            &expect("n1")
        ),
        Ok(())
    );
    // jsonwebtoken accepts an array with one matching member: not an issuer.
    for iss in [
        json!(["https://op.example/", "https://evil.example"]),
        json!(["https://op.example/"]),
        json!("https://op.example"),
        json!("https://op.example//"),
        json!("HTTPS://op.example/"),
        json!(null),
        json!(7),
    ] {
        assert_eq!(
            check_claims(&with_iss(iss.clone()), &WANT, &expect("n1")),
            Err(TokenError::Issuer),
            "{iss}"
        );
    }
}

#[test]
fn an_audience_of_the_wrong_type_is_refused_even_where_aud_is_optional() {
    let with_aud = |aud: Value| claims(json!({"sub": "s", "aud": aud}));
    // Userinfo: no aud is fine, a string or array naming the client too.
    assert_eq!(
        check_claims(&claims(json!({"sub": "s"})), &WANT, &userinfo()),
        Ok(())
    );
    assert_eq!(
        check_claims(&with_aud(json!("c")), &WANT, &userinfo()),
        Ok(())
    );
    assert_eq!(
        check_claims(&with_aud(json!(["c"])), &WANT, &userinfo()),
        Ok(())
    );
    for aud in [
        json!(42),
        json!({"c": true}),
        json!(["c", 42]),
        json!([]),
        json!("other"),
        json!(["other"]),
        json!(true),
    ] {
        assert_eq!(
            check_claims(&with_aud(aud.clone()), &WANT, &userinfo()),
            Err(TokenError::Audience),
            "{aud}"
        );
    }
    // An expired signed userinfo is refused too.
    assert_eq!(
        check_claims(&claims(json!({"sub": "s", "exp": 100})), &WANT, &userinfo()),
        Err(TokenError::Expired)
    );
}

#[test]
fn a_logout_token_may_carry_no_sub() {
    let logout = Expect {
        require_times: false,
        require_aud: true,
        logout: true,
        nonce: None,
        now: 10_000,
    };
    let c = claims(json!({"aud": "c", "iat": 10_000, "sid": "x"}));
    assert_eq!(check_claims(&c, &WANT, &logout), Ok(()));
    let c = claims(json!({"aud": "c", "iat": 10_000, "sub": 42}));
    assert_eq!(
        check_claims(&c, &WANT, &logout),
        Err(TokenError::MissingClaim)
    );
    let c = claims(json!({"iat": 10_000, "sub": "s"}));
    assert_eq!(
        check_claims(&c, &WANT, &logout),
        Err(TokenError::MissingClaim)
    );
}

fn es256_key() -> (EncodingKey, DecodingKey) {
    let (pem, jwk) = crate::keys::generate("ES256", Some("k")).unwrap();
    let der = crate::jose::pem_der(&pem, "PRIVATE KEY").unwrap();
    let enc = EncodingKey::from_ec_der(&der);
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk).unwrap();
    (enc, DecodingKey::from_jwk(&jwk).unwrap())
}

#[test]
fn every_candidate_key_is_tried_until_one_verifies() {
    let (signer, good) = es256_key();
    let (_, other) = es256_key();
    let claims = json!({"iss": "https://op.example", "sub": "s"});
    let token = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &signer).unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.validate_exp = false;
    validation.required_spec_claims = HashSet::new();
    // A point that is not on the curve: the key cannot even be built to verify (not a bad
    // signature), and the next candidate is tried all the same.
    let broken = DecodingKey::from_ec_components(
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    )
    .unwrap();
    for keys in [
        vec![broken.clone(), good.clone()],
        vec![other.clone(), good.clone()],
        vec![broken.clone(), other.clone(), good.clone()],
    ] {
        let got = try_keys(&token, &keys, &validation).unwrap();
        assert_eq!(got.and_then(|c| c.get("sub").cloned()), Some(json!("s")));
    }
    assert_eq!(try_keys(&token, &[broken, other], &validation), Ok(None));
    // A failure after a valid signature (a claim) stops at once.
    let mut strict = validation.clone();
    strict.set_issuer(&["https://other.example"]);
    assert_eq!(try_keys(&token, &[good], &strict), Err(TokenError::Issuer));
}
