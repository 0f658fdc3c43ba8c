use super::*;
use std::io::Write;

/// A secret file with 64 hex characters; kept alive for the test's duration.
fn secret_file() -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(f, "{}", "ab".repeat(32)).unwrap();
    f
}

fn base(secret: &tempfile::NamedTempFile) -> String {
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

fn load(text: &str) -> Result<Config, ConfigError> {
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
fn fails(text: &str, key: &str) -> String {
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
    let session = |keys: &str| format!("{}\n[session]\nstore = \"redis\"\n{keys}\n", base(&s));
    // A literal URL without a password is fine and printed as is.
    let cfg = load(&session("redis_url = \"redis://redis.internal:6379/2\"")).unwrap();
    let StoreKind::Redis(r) = &cfg.session.store else {
        panic!("redis store expected")
    };
    assert_eq!(r.key_prefix, "guichet:");
    assert_eq!(r.command_timeout, Duration::from_secs(1));
    assert!(cfg
        .to_effective_toml()
        .contains("redis://redis.internal:6379/2"));
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
            "redis_url = \"redis://:pw@redis:6379\"",
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
            "redis_url = \"redis://r\"\nredis_key_prefix = \"\"",
            "session.redis_key_prefix",
        ),
        (
            "redis_url = \"redis://r\"\nredis_key_prefix = \"a b\"",
            "session.redis_key_prefix",
        ),
        (
            "redis_url = \"redis://r\"\nredis_command_timeout = \"0s\"",
            "session.redis_command_timeout",
        ),
        (
            "redis_url = \"redis://r\"\nredis_connect_timeout = \"2m\"",
            "session.redis_connect_timeout",
        ),
        (
            "redis_url = \"redis://r\"\nredis_ca_file = \"/etc/hosts\"",
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
