use super::*;
use crate::vocab::{Access, Flavour, Level};
use jsonwebtoken::Algorithm;
use std::io::Write;

/// A secret file with 64 hex characters; kept alive for the test's duration.
pub(super) fn secret_file() -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(f, "{}", "ab".repeat(32)).unwrap();
    f
}

pub(super) fn base(secret: &tempfile::NamedTempFile) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:8080"
public_url = "https://demarches.example.fr"

[upstream]
url = "http://127.0.0.1:3000"

[[providers]]
name = "fc"
preset = "franceconnect-v2-integration"
client_id = "abc"
client_secret = "file:{}"

[[routes]]
path = "/public"
access = "public"
"#,
        secret.path().display()
    )
}

pub(super) fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, Path::new("guichet.toml"))
}

#[test]
fn valid_file_applies_preset_and_defaults() {
    let s = secret_file();
    let cfg = load(&base(&s)).unwrap();
    let p = &cfg.providers[0];
    assert_eq!(
        p.issuer,
        "https://fcp-low.integ01.dev-franceconnect.fr/api/v2"
    );
    assert_eq!(p.acr_values.as_deref(), Some("eidas1"));
    assert_eq!(p.token_auth, TokenAuth::ClientSecretPost);
    assert_eq!(p.id_token_algs, vec![Algorithm::ES256, Algorithm::RS256]);
    assert_eq!(cfg.session.idle_timeout, Duration::from_secs(1800));
    assert_eq!(cfg.session.absolute_timeout, Duration::from_secs(12 * 3600));
    assert!(cfg.server.https);
    assert_eq!(
        cfg.server.own_url("callback"),
        "https://demarches.example.fr/.guichet/callback"
    );
    assert_eq!(cfg.upstream.address, "127.0.0.1:3000");
    assert_eq!(cfg.routes[0].access, Access::Public);
}

#[test]
fn effective_config_redacts_secrets() {
    let s = secret_file();
    let cfg = load(&base(&s)).unwrap();
    let out = cfg.to_effective_toml();
    assert!(!out.contains(&"ab".repeat(32)), "{out}");
    assert!(out.contains("<redacted file:"));
    assert!(out.contains("fcp-low.integ01"));
}

/// Asserts that loading fails with a message naming the file and `key`.
pub(super) fn fails(text: &str, key: &str) -> String {
    let e = load(text).expect_err("config should be refused");
    let msg = e.to_string();
    assert!(msg.starts_with("guichet.toml: "), "{msg}");
    assert!(
        e.key.contains(key),
        "key {:?} should name {key:?} ({msg})",
        e.key
    );
    msg
}

#[test]
fn unknown_key_is_named() {
    let s = secret_file();
    let msg = fails(
        &base(&s).replace("[upstream]", "[upstream]\nurll = \"x\""),
        "upstream",
    );
    assert!(msg.contains("urll"), "{msg}");
}

#[test]
fn wrong_type_is_named() {
    let s = secret_file();
    let msg = fails(
        &base(&s).replace("[server]", "[server]\nthreads = \"many\""),
        "server.threads",
    );
    assert!(msg.contains("line"), "{msg}");
}

#[test]
fn missing_client_id_is_named() {
    let s = secret_file();
    fails(
        &base(&s).replace("client_id = \"abc\"\n", ""),
        "providers[0].client_id",
    );
}

#[test]
fn http_issuer_must_be_loopback() {
    let s = secret_file();
    let text = base(&s).replace(
        "preset = \"franceconnect-v2-integration\"",
        "preset = \"generic\"\nissuer = \"http://idp.example.fr\"",
    );
    let msg = fails(&text, "providers[0].issuer");
    assert!(msg.contains("loopback"));
    let ok = base(&s).replace(
        "preset = \"franceconnect-v2-integration\"",
        "preset = \"generic\"\nissuer = \"http://127.0.0.1:9000/oidc\"",
    );
    assert!(load(&ok).is_ok());
}

#[test]
fn unreadable_secret_file_is_named() {
    let s = secret_file();
    let text = base(&s).replace(&s.path().display().to_string(), "/nonexistent/secret");
    let msg = fails(&text, "providers[0].client_secret");
    assert!(msg.contains("/nonexistent/secret"));
}

#[test]
fn literal_and_short_secrets_are_refused() {
    let s = secret_file();
    let literal = base(&s).replace(
        &format!("file:{}", s.path().display()),
        "hunter2hunter2hunter2",
    );
    fails(&literal, "providers[0].client_secret");
    let mut short = tempfile::NamedTempFile::new().unwrap();
    write!(short, "tooshort").unwrap();
    let text = base(&s).replace(
        &s.path().display().to_string(),
        &short.path().display().to_string(),
    );
    let msg = fails(&text, "providers[0].client_secret");
    assert!(msg.contains("128 bits"));
}

#[test]
fn other_checks() {
    let s = secret_file();
    fails(
        &base(&s).replace("franceconnect-v2-integration", "franceconnect-v9"),
        "providers[0].preset",
    );
    fails(
        &base(&s).replace(
            "https://demarches.example.fr",
            "http://demarches.example.fr",
        ),
        "server.public_url",
    );
    fails(
        &base(&s).replace("path = \"/public\"", "path = \"/.guichet/x\""),
        "routes[0].path",
    );
    fails(
        &base(&s).replace("path = \"/public\"", "path = \"/a/../b\""),
        "routes[0].path",
    );
    fails(
        &base(&s).replace("access = \"public\"", "access = \"open\""),
        "routes[0].access",
    );
    fails(
        &format!("{}\n[session]\nidle_timeout = \"forever\"\n", base(&s)),
        "session.idle_timeout",
    );
    fails(
        &base(&s).replace(
            "client_id = \"abc\"",
            "client_id = \"abc\"\nid_token_algs = [\"HS256\"]",
        ),
        "providers[0].id_token_algs",
    );
    fails(
        &base(&s).replace(
            "client_id = \"abc\"",
            "client_id = \"abc\"\nauthorize_params = { state = \"x\" }",
        ),
        "authorize_params.state",
    );
    fails("[server\n", "(syntax)");
}

#[test]
fn duplicate_provider_names_are_refused() {
    let s = secret_file();
    let text = base(&s);
    let block = &text[text.find("[[providers]]").unwrap()..text.find("[[routes]]").unwrap()];
    let doubled = text.replace(block, &format!("{block}\n{block}"));
    fails(&doubled, "providers[1].name");
}

#[test]
fn redis_store_settings_are_checked_and_its_password_never_prints() {
    let s = secret_file();
    let seal = seal_key_file();
    let session = |keys: &str| {
        format!(
            "{}\n[session]\nstore = \"redis\"\nseal_keys = [\"file:{}\"]\n{keys}\n",
            base(&s),
            seal.path().display()
        )
    };
    // A literal URL without a password is fine and printed as is.
    let cfg = load(&session("redis_url = \"rediss://redis.internal:6379/2\"")).unwrap();
    let StoreKind::Redis(r) = &cfg.session.store else {
        panic!("redis store expected")
    };
    assert_eq!(r.key_prefix, "guichet:");
    assert_eq!(r.command_timeout, Duration::from_secs(1));
    assert!(cfg
        .to_effective_toml()
        .contains("rediss://redis.internal:6379/2"));
    // A URL with a password comes from a file (or env:) and never prints.
    let mut url_file = tempfile::NamedTempFile::new().unwrap();
    writeln!(url_file, "rediss://:hunter2-redis@redis.internal:6380/0").unwrap();
    let cfg = load(&session(&format!(
        "redis_url = \"file:{}\"",
        url_file.path().display()
    )))
    .unwrap();
    let shown = format!("{}{cfg:?}", cfg.to_effective_toml());
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("<redacted file:"));
    // Refusals, each naming its key.
    let cases = [
        ("", "session.redis_url"),
        (
            "redis_url = \"rediss://:pw@redis:6379\"",
            "session.redis_url",
        ),
        ("redis_url = \"http://redis:6379\"", "session.redis_url"),
        (
            "redis_url = \"rediss://redis:6380/#insecure\"",
            "session.redis_url",
        ),
        ("redis_url = \"redis://\"", "session.redis_url"),
        (
            "redis_url = \"env:GUICHET_TEST_UNSET_REDIS_URL\"",
            "session.redis_url",
        ),
        (
            "redis_url = \"rediss://r\"\nredis_key_prefix = \"\"",
            "session.redis_key_prefix",
        ),
        (
            "redis_url = \"rediss://r\"\nredis_key_prefix = \"a b\"",
            "session.redis_key_prefix",
        ),
        (
            "redis_url = \"rediss://r\"\nredis_command_timeout = \"0s\"",
            "session.redis_command_timeout",
        ),
        (
            "redis_url = \"rediss://r\"\nredis_connect_timeout = \"2m\"",
            "session.redis_connect_timeout",
        ),
        (
            "redis_url = \"rediss://r\"\nredis_ca_file = \"/etc/hosts\"",
            "session.redis_ca_file",
        ),
        (
            "redis_url = \"rediss://r\"\nredis_ca_file = \"/nonexistent.pem\"",
            "session.redis_ca_file",
        ),
        (
            "redis_url = \"rediss://r\"\nredis_ca_file = \"/etc/hostname\"",
            "session.redis_ca_file",
        ),
    ];
    for (keys, key) in cases {
        let msg = fails(&session(keys), key);
        assert!(!msg.contains(":pw@"), "{msg}");
    }
    // A Redis URL with the memory store is a mistake worth stopping for.
    fails(
        &format!("{}\n[session]\nredis_url = \"redis://r\"\n", base(&s)),
        "session.redis_url",
    );
}

/// A file with a sealing key (32 random bytes, base64); kept alive for the test's duration.
fn seal_key_file() -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(f, "{}", crate::session::seal::generate_key()).unwrap();
    f
}

#[test]
fn sentinels_plaintext_and_sealing_keys_are_checked() {
    let s = secret_file();
    let seal = seal_key_file();
    let seal_ref = format!("seal_keys = [\"file:{}\"]", seal.path().display());
    let session = |keys: &str| format!("{}\n[session]\nstore = \"redis\"\n{keys}\n", base(&s));
    // Plain redis:// to a remote host: refused unless allowed, naming the key that allows it.
    let msg = fails(
        &session(&format!(
            "redis_url = \"redis://redis.internal:6379\"\n{seal_ref}"
        )),
        "session.redis_url",
    );
    assert!(msg.contains("session.redis_allow_plaintext"), "{msg}");
    load(&session(&format!(
        "redis_url = \"redis://redis.internal:6379\"\nredis_allow_plaintext = true\n{seal_ref}"
    )))
    .unwrap();
    load(&session(&format!(
        "redis_url = \"redis://127.0.0.1:6379\"\n{seal_ref}"
    )))
    .unwrap();
    // Sealing keys: required with Redis, from env:/file:, 32 bytes, distinct.
    let msg = fails(&session("redis_url = \"rediss://r\""), "session.seal_keys");
    assert!(msg.contains("guichet keygen --alg A256GCM"), "{msg}");
    let mut short = tempfile::NamedTempFile::new().unwrap();
    writeln!(short, "c2hvcnQ=").unwrap();
    let bad_keys = [
        "seal_keys = [\"aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8gd28=\"]".to_string(),
        format!("seal_keys = [\"file:{}\"]", short.path().display()),
        "seal_keys = [\"env:GUICHET_TEST_UNSET_SEAL_KEY\"]".to_string(),
        format!(
            "seal_keys = [\"file:{0}\", \"file:{0}\"]",
            seal.path().display()
        ),
    ];
    for keys in &bad_keys {
        let msg = fails(
            &session(&format!("redis_url = \"rediss://r\"\n{keys}")),
            "session.seal_keys",
        );
        assert!(!msg.contains("aGVsbG8"), "{msg}");
    }
    fails(
        &format!("{}\n[session]\n{seal_ref}\n", base(&s)),
        "session.seal_keys",
    );
    // Sentinels: the URL's host is the master name, no port; sentinels alike; plain redis://
    // refused as soon as a sentinel is remote.
    let cfg = load(&session(&format!(
        "redis_url = \"rediss://mymaster/1\"\nredis_sentinels = [\"rediss://10.0.0.5:26379\", \
         \"rediss://10.0.0.6\"]\n{seal_ref}"
    )))
    .unwrap();
    let StoreKind::Redis(r) = &cfg.session.store else {
        panic!("redis store expected")
    };
    assert_eq!(r.sentinel_master.as_deref(), Some("mymaster"));
    assert_eq!(r.sentinels.len(), 2);
    let shown = cfg.to_effective_toml();
    assert!(shown.contains("rediss://10.0.0.5:26379"), "{shown}");
    assert!(shown.contains("sentinel_master = \"mymaster\""), "{shown}");
    assert!(!shown.contains(
        &std::fs::read_to_string(seal.path())
            .unwrap()
            .trim()
            .to_string()
    ));
    let cases = [
        (
            "redis_url = \"rediss://mymaster:6379\"\nredis_sentinels = [\"rediss://s:26379\"]",
            "session.redis_url",
        ),
        (
            "redis_url = \"rediss://m\"\nredis_sentinels = [\"rediss://s:26379/2\"]",
            "session.redis_sentinels[0]",
        ),
        (
            "redis_url = \"rediss://m\"\nredis_sentinels = [\"rediss://s:26379\", \"redis://t:26379\"]",
            "session.redis_sentinels[1]",
        ),
        (
            "redis_url = \"rediss://m\"\nredis_sentinels = [\"rediss://:pw@s:26379\"]",
            "session.redis_sentinels[0]",
        ),
        (
            "redis_url = \"rediss://m\"\nredis_sentinels = [\"redis://s:26379\"]",
            "session.redis_sentinels[0]",
        ),
        (
            "redis_url = \"redis://m\"\nredis_sentinels = [\"rediss://s:26379\"]",
            "session.redis_url",
        ),
    ];
    for (keys, key) in cases {
        let msg = fails(&session(&format!("{keys}\n{seal_ref}")), key);
        assert!(!msg.contains(":pw@"), "{msg}");
    }
    load(&session(&format!(
        "redis_url = \"redis://m\"\nredis_sentinels = [\"redis://127.0.0.1:26379\"]\n{seal_ref}"
    )))
    .unwrap();
    // The per-citizen cap.
    fails(
        &format!("{}\n[session]\nmax_sessions_per_citizen = 0\n", base(&s)),
        "session.max_sessions_per_citizen",
    );
    assert_eq!(
        load(&base(&s)).unwrap().session.max_sessions_per_citizen,
        10
    );
}

/// `base` with the provider entry's preset replaced and `extra` keys added to it.
pub(super) fn with_provider(s: &tempfile::NamedTempFile, preset: &str, extra: &str) -> String {
    base(s).replace(
        "preset = \"franceconnect-v2-integration\"",
        &format!("preset = \"{preset}\"\n{extra}"),
    )
}

/// A generated key written to a temporary file.
pub(super) fn key_file(alg: &str) -> tempfile::NamedTempFile {
    let (pem, _) = crate::keys::generate(alg, None).unwrap();
    let mut f = tempfile::NamedTempFile::new().unwrap();
    write!(f, "{pem}").unwrap();
    f
}

pub(super) fn enc_key(alg: &str, key: &tempfile::NamedTempFile, kid: &str) -> String {
    format!(
        "decryption_keys = [{{ alg = \"{alg}\", key = \"file:{}\", kid = \"{kid}\" }}]",
        key.path().display()
    )
}

#[test]
fn franceconnect_v1_signs_with_the_secret_and_has_no_discovery() {
    let s = secret_file();
    let cfg = load(&with_provider(&s, "franceconnect-v1-integration", "")).unwrap();
    let p = &cfg.providers[0];
    assert_eq!(p.flavour, Flavour::FranceConnectV1);
    assert_eq!(p.id_token_algs, vec![Algorithm::HS256]);
    assert!(!p.discovery);
    assert_eq!(p.issuer, "https://fcp.integ01.dev-franceconnect.fr");
    assert_eq!(
        p.endpoints.token_endpoint.as_deref(),
        Some("https://fcp.integ01.dev-franceconnect.fr/api/v1/token")
    );
    assert_eq!(p.userinfo, UserinfoFormat::Json);
    // HMAC never next to a public-key algorithm, never with keys to fetch.
    fails(
        &with_provider(
            &s,
            "franceconnect-v1",
            "id_token_algs = [\"HS256\", \"RS256\"]",
        ),
        "providers[0].id_token_algs",
    );
    fails(
        &with_provider(
            &s,
            "franceconnect-v1",
            "jwks_uri = \"https://fc.example/jwks\"",
        ),
        "providers[0].jwks_uri",
    );
    // HS256 needs a 256-bit key (RFC 7518 3.2).
    let mut short = tempfile::NamedTempFile::new().unwrap();
    write!(short, "{}", "ab".repeat(12)).unwrap();
    let text = with_provider(&s, "franceconnect-v1", "").replace(
        &s.path().display().to_string(),
        &short.path().display().to_string(),
    );
    let msg = fails(&text, "providers[0].client_secret");
    assert!(msg.contains("32 bytes"), "{msg}");
    // Other presets never accept shared-secret signatures.
    for (preset, extra) in [
        ("generic", "issuer = \"https://idp.example\"\n"),
        ("franceconnect-v2", ""),
    ] {
        fails(
            &with_provider(&s, preset, &format!("{extra}id_token_algs = [\"HS256\"]")),
            "providers[0].id_token_algs",
        );
    }
}

#[test]
fn no_discovery_needs_endpoints() {
    let s = secret_file();
    let generic = "issuer = \"https://idp.example\"\ndiscovery = false\n";
    fails(
        &with_provider(&s, "generic", generic),
        "authorization_endpoint",
    );
    let endpoints = format!(
        "{generic}authorization_endpoint = \"https://idp.example/a\"\n\
         token_endpoint = \"https://idp.example/t\""
    );
    fails(
        &with_provider(&s, "generic", &endpoints),
        "providers[0].jwks_uri",
    );
    let ok = format!("{endpoints}\njwks_uri = \"https://idp.example/k\"");
    assert!(load(&with_provider(&s, "generic", &ok)).is_ok());
}

#[test]
fn franceconnect_plus_needs_a_decryption_key_that_loads() {
    let s = secret_file();
    let plus = "franceconnect-plus-integration";
    let msg = fails(&with_provider(&s, plus, ""), "providers[0].decryption_keys");
    assert!(msg.contains("keygen"), "{msg}");
    let ec = key_file("ECDH-ES");
    let cfg = load(&with_provider(&s, plus, &enc_key("ECDH-ES", &ec, "enc-1"))).unwrap();
    let p = &cfg.providers[0];
    assert!(p.expects_jwe());
    assert_eq!(p.jwe_encs, vec!["A256GCM".to_string()]);
    assert_eq!(p.userinfo, UserinfoFormat::Jwe);
    let jwk = &p.decryption_keys[0].public_jwk;
    assert_eq!(
        (jwk["use"].as_str(), jwk["alg"].as_str()),
        (Some("enc"), Some("ECDH-ES"))
    );
    assert_eq!(jwk["kid"], "enc-1");
    assert!(jwk.get("d").is_none());
    let shown = cfg.to_effective_toml();
    assert!(
        shown.contains("<redacted file:") && !shown.contains("PRIVATE KEY"),
        "{shown}"
    );
    // An EC key declared as RSA, a missing file, a PEM that is not a key, an unpinned alg.
    fails(
        &with_provider(&s, plus, &enc_key("RSA-OAEP", &ec, "k")),
        "providers[0].decryption_keys[0].key",
    );
    let gone =
        enc_key("ECDH-ES", &ec, "k").replace(&ec.path().display().to_string(), "/nonexistent.pem");
    fails(
        &with_provider(&s, plus, &gone),
        "providers[0].decryption_keys[0].key",
    );
    let garbage = with_provider(&s, plus, &enc_key("ECDH-ES", &s, "k"));
    fails(&garbage, "providers[0].decryption_keys[0].key");
    let pinned = format!(
        "{}\njwe_algs = [\"RSA-OAEP\"]",
        enc_key("ECDH-ES", &ec, "k")
    );
    fails(
        &with_provider(&s, plus, &pinned),
        "providers[0].decryption_keys[0].alg",
    );
    let enc = format!("{}\njwe_encs = [\"A256KW\"]", enc_key("ECDH-ES", &ec, "k"));
    fails(&with_provider(&s, plus, &enc), "providers[0].jwe_encs");
    // Keys for a provider that does not encrypt.
    fails(
        &with_provider(&s, "franceconnect-v2", &enc_key("ECDH-ES", &ec, "k")),
        "providers[0].decryption_keys",
    );
    fails(
        &with_provider(&s, "franceconnect-v2", "userinfo = \"jwe\""),
        "providers[0].userinfo",
    );
}

#[test]
fn one_kid_never_names_two_keys() {
    let s = secret_file();
    let (a, b) = (key_file("ECDH-ES"), key_file("ECDH-ES"));
    let first = with_provider(&s, "franceconnect-plus", &enc_key("ECDH-ES", &a, "enc"));
    let second = |k: &tempfile::NamedTempFile| {
        format!(
            "{first}\n[[providers]]\nname = \"fcplus-integ\"\npreset = \"franceconnect-plus-integration\"\n\
             client_id = \"abc\"\nclient_secret = \"file:{}\"\n{}\n",
            s.path().display(),
            enc_key("ECDH-ES", k, "enc")
        )
    };
    // The same key for integration and production: fine, published once.
    assert!(load(&second(&a)).is_ok());
    fails(&second(&b), "providers[1].decryption_keys[0].kid");
}

#[test]
fn mconnect_checks_the_identity_status_and_reads_its_levels() {
    let s = secret_file();
    fails(&with_provider(&s, "mconnect", ""), "providers[0].issuer");
    let mc = "issuer = \"https://mconnect.example.mc\"";
    let cfg = load(&with_provider(&s, "mconnect", mc)).unwrap();
    let p = &cfg.providers[0];
    let status = p.identity_status.as_ref().unwrap();
    assert_eq!(
        (status.path.as_str(), status.active.as_str()),
        ("Authority.status", "active")
    );
    assert_eq!(p.max_level(), Some(Level::High));
    assert_eq!(p.default_level(), Some(Level::Substantial));
    assert_eq!(p.acr_for(Level::High).as_deref(), Some("high"));
    assert_eq!(p.acr_for(Level::Low).as_deref(), Some("substantial"));
    let off = format!("{mc}\nidentity_status_path = \"\"");
    fails(
        &with_provider(&s, "mconnect", &off),
        "providers[0].identity_status_path",
    );
    let bad = format!("{mc}\nidentity_status_path = \"Authority..status\"");
    fails(
        &with_provider(&s, "mconnect", &bad),
        "providers[0].identity_status_path",
    );
    let other = format!(
        "{mc}\nidentity_status_path = \"Authority.etat\"\nidentity_status_active = \"actif\"\n\
         acr_levels = {{ \"urn:mc:loa:3\" = \"substantial\", \"urn:mc:loa:4\" = \"high\" }}\n\
         acr_values = \"urn:mc:loa:3\""
    );
    let cfg = load(&with_provider(&s, "mconnect", &other)).unwrap();
    let p = &cfg.providers[0];
    assert_eq!(p.identity_status.as_ref().unwrap().active, "actif");
    assert_eq!(p.acr_for(Level::High).as_deref(), Some("urn:mc:loa:4"));
    let bad_level = format!("{mc}\nacr_levels = {{ substantial = \"eidas4\" }}");
    fails(
        &with_provider(&s, "mconnect", &bad_level),
        "providers[0].acr_levels.substantial",
    );
}

#[test]
fn levels_of_the_franceconnect_presets() {
    let s = secret_file();
    let v2 = load(&base(&s)).unwrap();
    assert_eq!(v2.providers[0].max_level(), Some(Level::Low));
    assert_eq!(v2.providers[0].acr_for(Level::Substantial), None);
    let ec = key_file("ECDH-ES");
    let plus = load(&with_provider(
        &s,
        "franceconnect-plus",
        &enc_key("ECDH-ES", &ec, "k"),
    ))
    .unwrap();
    let p = &plus.providers[0];
    assert_eq!(p.default_level(), Some(Level::Substantial));
    assert_eq!(p.acr_for(Level::Low).as_deref(), Some("eidas2"));
    assert_eq!(p.acr_for(Level::High).as_deref(), Some("eidas3"));
    assert_eq!(p.max_level(), Some(Level::High));
}

#[test]
fn the_issuer_is_kept_exactly_as_configured() {
    let s = secret_file();
    // Auth0-style issuers end with a slash: it is part of the identifier.
    for issuer in [
        "https://tenant.example/",
        "https://tenant.example",
        "https://idp.example/realms/x/",
    ] {
        let cfg = load(&with_provider(
            &s,
            "generic",
            &format!("issuer = \"{issuer}\""),
        ))
        .unwrap();
        assert_eq!(cfg.providers[0].issuer, issuer);
    }
    for bad in [
        "https://idp.example/?tenant=x",
        "https://idp.example/#x",
        " https://idp.example",
    ] {
        fails(
            &with_provider(&s, "generic", &format!("issuer = \"{bad}\"")),
            "providers[0].issuer",
        );
    }
    assert_eq!(
        crate::oidc::discovery_url("https://tenant.example/"),
        "https://tenant.example/.well-known/openid-configuration"
    );
    assert_eq!(
        crate::oidc::discovery_url("https://idp.example/realms/x"),
        "https://idp.example/realms/x/.well-known/openid-configuration"
    );
}

#[test]
fn one_redirect_uri_per_provider_when_there_are_several() {
    let s = secret_file();
    let one = load(&base(&s)).unwrap();
    assert_eq!(
        one.providers[0].redirect_uri,
        "https://demarches.example.fr/.guichet/callback"
    );
    assert_eq!(one.providers[0].callback_leaf, "callback");
    let two = format!(
        "{}\n[[providers]]\nname = \"agents\"\npreset = \"generic\"\n\
         issuer = \"https://sso.example.fr\"\nclient_id = \"g\"\nclient_secret = \"file:{}\"\n",
        base(&s),
        s.path().display()
    );
    let cfg = load(&two).unwrap();
    let uris: Vec<&str> = cfg
        .providers
        .iter()
        .map(|p| p.redirect_uri.as_str())
        .collect();
    assert_eq!(
        uris,
        [
            "https://demarches.example.fr/.guichet/callback/fc",
            "https://demarches.example.fr/.guichet/callback/agents"
        ]
    );
    // `guichet check` shows what to register.
    assert!(cfg
        .to_effective_toml()
        .contains("redirect_uri = \"https://demarches.example.fr/.guichet/callback/agents\""));
}

#[test]
fn rfc_9207_iss_is_required_for_the_franceconnect_presets_that_send_it() {
    let s = secret_file();
    let iss = |preset: &str, extra: &str| {
        let extra = format!("issuer = \"https://idp.example\"\n{extra}");
        load(&with_provider(&s, preset, &extra)).unwrap().providers[0].authorization_response_iss
    };
    assert!(iss("franceconnect-v2-integration", ""));
    assert!(iss("franceconnect-v2", ""));
    assert!(!iss("generic", ""));
    assert!(!iss("mconnect", ""));
    assert!(iss("generic", "authorization_response_iss = true"));
}

#[test]
fn jwks_refresh_is_a_floor_of_seconds() {
    let s = secret_file();
    let cfg = load(&base(&s)).unwrap();
    assert_eq!(
        cfg.providers[0].jwks_refresh_interval,
        Duration::from_secs(5)
    );
    for bad in ["0s", "500ms", "2h"] {
        fails(
            &with_provider(
                &s,
                "franceconnect-v2-integration",
                &format!("jwks_refresh_interval = \"{bad}\""),
            ),
            "providers[0].jwks_refresh_interval",
        );
    }
}

#[test]
fn forms_are_kept_on_browser_routes_unless_turned_off() {
    let s = secret_file();
    let cfg = load(&format!(
        "{}\n[[routes]]\npath = \"/paiement\"\npreserve_post = false\n\
         [[routes]]\npath = \"/demarches\"\n",
        base(&s)
    ))
    .unwrap();
    assert_eq!(cfg.session.preserve_post_max_bytes, 64 * 1024);
    let route = |p: &str| cfg.routes.iter().find(|r| r.prefix == p).unwrap();
    assert!(
        !route("/public").preserve_post,
        "public routes need no session"
    );
    assert!(!route("/paiement").preserve_post);
    assert!(route("/demarches").preserve_post);
    let cfg = load(&format!(
        "{}\n[session]\npreserve_post_max_bytes = 0\n",
        base(&s)
    ))
    .unwrap();
    assert_eq!(cfg.session.preserve_post_max_bytes, 0);
    assert!(cfg
        .to_effective_toml()
        .contains("preserve_post_max_bytes = 0"));

    let msg = fails(
        &base(&s).replace(
            "access = \"public\"",
            "access = \"public\"\npreserve_post = true",
        ),
        "routes[0].preserve_post",
    );
    assert!(msg.contains("browser routes"), "{msg}");
    fails(
        &format!(
            "{}\n[session]\npreserve_post_max_bytes = 2000000\n",
            base(&s)
        ),
        "session.preserve_post_max_bytes",
    );
}
