use super::*;
use crate::assertion::tests::{cfg as assertion_cfg, key_config, verify};
use crate::assertion::Signer;
use crate::vocab::HeaderEncoding::{Latin1, Utf8};
use crate::vocab::{header_claim_index, Level, PROVIDER_INDEX, SUB_INDEX};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;

fn cfg() -> HeaderConfig {
    HeaderConfig::defaults("https://demarches.example.fr")
}

pub(crate) fn record(claims: Value) -> SessionRecord {
    SessionRecord {
        provider: "fc".into(),
        identity: Identity::from_claims(&[claims.as_object().expect("object")]).expect("valid"),
        level: Some(Level::Low),
        created_at: 1,
        id_token: "secret.token.value".into(),
        sid: None,
        landing: None,
    }
}

fn key() -> SessionKey {
    SessionKey([7u8; 32])
}

/// The block of profile `claims` for record `r` under `c`.
fn block_of(
    r: &SessionRecord,
    c: &mut HeaderConfig,
    claims: ClaimSet,
) -> Vec<(String, HeaderValue)> {
    c.profiles.push(claims);
    let h = SessionHeaders::build(r, &key(), c);
    let block = h.block(ProfileId(c.profiles.len() - 1)).headers(c);
    c.profiles.pop();
    block
}

#[test]
fn block_has_one_header_per_claim_plus_provider() {
    let r = record(json!({"sub": "s1", "given_name": "Élodie", "family_name": "Müller"}));
    let c = cfg();
    let h = SessionHeaders::build(&r, &key(), &c);
    let block = h.block(ProfileId(0));
    let headers = block.headers(&c);
    let names: Vec<_> = headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "X-Pivot-Sub",
            "X-Pivot-Given-Name",
            "X-Pivot-Family-Name",
            "X-Pivot-Provider"
        ]
    );
    assert_eq!(headers[1].1, "%C3%89lodie");
    assert_eq!(headers[3].1, "fc");
    assert_eq!(block.len(), 4);
    assert!(block.wire_len(&c) < 200);
    assert!(!format!("{block:?}").contains("lodie"));
}

#[test]
fn claims_can_be_renamed_reencoded_dropped_and_restricted() {
    let mut c = cfg();
    let family = header_claim_index("family_name").unwrap();
    let given = header_claim_index("given_name").unwrap();
    let email = header_claim_index("email").unwrap();
    c.claims[family].header = "X-Nom".into();
    c.claims[family].encoding = Latin1;
    c.claims[given].encoding = Utf8;
    c.claims[email].dropped = true;
    let r = record(
        json!({"sub": "s1", "given_name": "Łukasz", "family_name": "Müller",
        "email": "a@example.fr", "birthdate": "1990-01-02"}),
    );
    let block = block_of(&r, &mut c, ClaimSet::all());
    let get = |b: &[(String, HeaderValue)], n: &str| {
        b.iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_bytes().to_vec())
    };
    assert_eq!(get(&block, "X-Nom").unwrap(), b"M\xFCller");
    assert_eq!(
        get(&block, "X-Pivot-Given-Name").unwrap(),
        "Łukasz".as_bytes()
    );
    assert_eq!(get(&block, "X-Pivot-Email"), None);
    assert_eq!(get(&block, "X-Pivot-Family-Name"), None);
    assert_eq!(get(&block, "X-Pivot-Birthdate").unwrap(), b"1990-01-02");

    let mut only_given = ClaimSet::default();
    only_given.insert(SUB_INDEX);
    only_given.insert(given);
    let small = block_of(&r, &mut c, only_given);
    assert_eq!(small.len(), 2);
    assert!(get(&small, "X-Pivot-Sub").is_some());
    assert!(get(&small, "X-Pivot-Birthdate").is_none());
    assert!(get(&small, "X-Pivot-Provider").is_none());
}

#[test]
fn session_headers_hold_one_block_per_profile() {
    let mut c = cfg();
    let mut only_sub = ClaimSet::default();
    only_sub.insert(SUB_INDEX);
    c.profiles.push(only_sub);
    let r = record(json!({"sub": "s1", "given_name": "Ana", "family_name": "García"}));
    let h = SessionHeaders::build(&r, &key(), &c);
    assert_eq!(h.block(ProfileId(0)).len(), 4);
    assert_eq!(h.block(ProfileId(1)).len(), 1);
    assert_eq!(h.block(ProfileId(1)).headers(&c)[0].1, "s1");
    // An unknown profile falls back to the default one, never to "no identity".
    assert_eq!(h.block(ProfileId(9)).len(), 4);
    assert!(h
        .payload(&key(), &r, ProfileId(1), &c)
        .unwrap()
        .get("family_name")
        .is_none());
    assert_eq!(
        h.payload(&key(), &r, ProfileId(0), &c).unwrap()["family_name"],
        "García"
    );
    assert!(!format!("{h:?}").contains("García"));
}

#[test]
fn every_claim_value_is_sliced_back_exactly() {
    // Every claim guichet can send, with values of many lengths and encodings: each header
    // of the block is the value `encode` gives, under the configured name, in claim order.
    let mut c = cfg();
    let claims = json!({
        "sub": "x".repeat(255), "given_name": "Élodie", "family_name": "Lefèvre-D’Arc",
        "birthdate": "1990-02-28", "gender": "female", "birthplace": "2A004",
        "birthcountry": "99100", "email": "a+b@example.fr", "preferred_username": "Ana",
        "idp_id": "fia1v2", "acr": "eidas1", "amr": ["pwd", "mfa"]
    });
    let r = record(claims);
    let block = block_of(&r, &mut c, ClaimSet::all());
    let expected: Vec<(String, HeaderValue)> = CLAIMS
        .iter()
        .enumerate()
        .filter_map(|(i, spec)| {
            let v = r.identity.get(spec.name)?;
            Some((c.claims[i].header.clone(), encode(v, c.claims[i].encoding)?))
        })
        .chain([(
            c.claims[PROVIDER_INDEX].header.clone(),
            HeaderValue::from_static("fc"),
        )])
        .collect();
    assert_eq!(block, expected);
    assert_eq!(block.len(), 13);
}

#[test]
fn an_identity_too_large_for_the_headers_is_refused() {
    let long = "Éloïse".repeat(40);
    let names: Vec<&str> = std::iter::repeat_n(long.as_str(), 16).collect();
    let r = record(json!({"sub": "s1", "given_name": long, "given_name_array": names}));
    let h = SessionHeaders::build(&r, &key(), &cfg());
    let err = h.too_large().unwrap().clone();
    assert!(h.block(ProfileId(0)).is_empty());
    assert!(h.payload(&key(), &r, ProfileId(0), &cfg()).is_none());
    assert_eq!(err.max, 4096);
    assert!(err.bytes > 4096);
    assert!(!err.to_string().contains("Élo"));
    // A real identity, even with long names, fits well below the cap.
    let r = record(
        json!({"sub": "a".repeat(64), "given_name": "Jean-Philippe Marie Élodie",
        "family_name": "Lefèvre-D’Arc de la Tour du Pin", "birthdate": "1962-01-01",
        "email": "jean-philippe.lefevre@example.fr", "acr": "eidas1", "idp_id": "fia1v2"}),
    );
    let h = SessionHeaders::build(&r, &key(), &cfg());
    assert!(h.too_large().is_none());
    assert!(h.block(ProfileId(0)).wire_len(&cfg()) < 1024);
}

/// A session of the assertion tests' identity (every protocol claim present).
fn assertion_record() -> SessionRecord {
    SessionRecord {
        identity: crate::assertion::tests::identity(),
        ..record(json!({"sub": "s1"}))
    }
}

#[test]
fn assertion_is_es256_with_kid_and_the_documented_claims() {
    let k = key_config();
    let c = assertion_cfg(vec![k.clone()]);
    let signer = Signer::new(&c.assertion).unwrap();
    assert!(!signer.generated());
    let key = SessionKey([9u8; 32]);
    let r = assertion_record();
    let h = SessionHeaders::build(&r, &key, &c);
    let v = h
        .assertion(&key, &r, ProfileId(0), &signer, &c, 1_000_000)
        .unwrap();
    let claims = verify(v.to_str().unwrap(), &k.public_jwk);
    assert_eq!(claims["iss"], "https://demarches.example.fr");
    assert_eq!(claims["aud"], "urn:app");
    assert_eq!(claims["sub"], "s1");
    assert_eq!(claims["iat"], 1_000_000);
    assert_eq!(claims["exp"], 1_000_060);
    assert_eq!(claims["acr"], "eidas1");
    assert_eq!(claims["idp_id"], "fia1v2");
    assert_eq!(claims["provider"], "fc");
    // Plain UTF-8, no header encoding inside the JWT.
    assert_eq!(claims["given_name"], "Élodie");
    assert_eq!(claims["family_name"], "Lefèvre-D’Arc");
    // The session hash reveals neither the store key nor anything derived the usual way.
    let sid = claims["sid"].as_str().unwrap();
    assert_eq!(sid.len(), 43);
    assert_eq!(sid, assertion::session_id_hash(&key.0));
    assert!(!sid.contains(&key.hex()) && sid != URL_SAFE_NO_PAD.encode(key.0));
    assert_ne!(sid, assertion::session_id_hash(&[8u8; 32]));
}
