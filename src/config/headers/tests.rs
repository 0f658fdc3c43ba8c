use super::super::{Config, ConfigError};
use super::*;
use crate::vocab::header_claim_index;
use std::path::Path;

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Files {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret"), "0123456789abcdef0123").unwrap();
        Files { dir }
    }

    fn key(&self, name: &str) -> String {
        let (pem, _) = crate::keys::generate("ES256", None).unwrap();
        let path = self.dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        format!("file:{}", path.display())
    }

    fn load(&self, extra: &str) -> Result<Config, ConfigError> {
        let text = format!(
            r#"
[server]
public_url = "https://demarches.example.fr"
[upstream]
url = "http://127.0.0.1:3000"
[[providers]]
name = "fc"
preset = "generic"
issuer = "https://idp.example.fr"
client_id = "abc"
client_secret = "file:{}"
{extra}
"#,
            self.dir.path().join("secret").display()
        );
        Config::from_toml(&text, Path::new("guichet.toml"))
    }

    fn error(&self, extra: &str) -> ConfigError {
        self.load(extra).expect_err(extra)
    }
}

#[test]
fn defaults() {
    let f = Files::new();
    let h = f.load("").unwrap().headers;
    assert_eq!(h.prefix, "X-Pivot-");
    assert_eq!(h.encoding, HeaderEncoding::Percent);
    assert_eq!(h.assertion.header, "X-Guichet-Assertion");
    assert_eq!(h.assertion.issuer, "https://demarches.example.fr");
    assert_eq!(h.assertion.audience, "https://demarches.example.fr");
    assert_eq!(h.assertion.ttl, Duration::from_secs(60));
    assert!(h.assertion.keys.is_empty());
    assert_eq!(h.max_bytes, 4096);
    assert_eq!(h.profiles, vec![ClaimSet::all()]);
    assert_eq!(h.strip, ["x-guichet-assertion"]);
    assert!(!h.jwks_on_metrics);
    let sub = &h.claims[SUB_INDEX];
    assert_eq!((sub.claim, sub.header.as_str()), ("sub", "X-Pivot-Sub"));
}

#[test]
fn per_claim_settings_and_route_profiles() {
    let f = Files::new();
    let cfg = f
        .load(
            r#"
[headers]
encoding = "latin1"
strip = ["Remote-User", "X-Auth-Request-Email"]
assertion_audience = "urn:mairie:demarches"
assertion_ttl = "2m"
max_bytes = 8192
[headers.claims.family_name]
header = "X-Nom"
encoding = "utf8"
[headers.claims.email]
drop = true

[[routes]]
path = "/etat-civil"
claims = ["given_name", "family_name", "birthdate"]
[[routes]]
path = "/stats"
claims = []
[[routes]]
path = "/etat-civil-bis"
claims = ["birthdate", "family_name", "given_name"]
"#,
        )
        .unwrap();
    let h = &cfg.headers;
    let family = header_claim_index("family_name").unwrap();
    let email = header_claim_index("email").unwrap();
    assert_eq!(h.claims[family].header, "X-Nom");
    assert_eq!(h.claims[family].encoding, HeaderEncoding::Utf8);
    assert_eq!(h.claims[0].encoding, HeaderEncoding::Latin1);
    assert!(h.claims[email].dropped && !h.profiles[0].contains(email));
    // A renamed header outside the prefix is stripped from clients too.
    assert_eq!(
        h.strip,
        [
            "x-guichet-assertion",
            "x-nom",
            "remote-user",
            "x-auth-request-email"
        ]
    );
    assert_eq!(h.assertion.audience, "urn:mairie:demarches");
    assert_eq!(h.assertion.ttl, Duration::from_secs(120));
    // Same claim list in another order: the same profile.
    let profiles: Vec<_> = cfg.routes.iter().map(|r| r.profile.0).collect();
    assert_eq!(profiles, [1, 2, 1]);
    assert_eq!(
        h.profiles[1].names(),
        ["sub", "given_name", "family_name", "birthdate"]
    );
    assert_eq!(h.profiles[2].names(), ["sub"]);
    // The effective configuration prints the profiles by name.
    assert!(cfg.to_effective_toml().contains("\"birthdate\""));
}

#[test]
fn signing_keys_load_in_order_and_never_print() {
    let f = Files::new();
    let (a, b) = (f.key("a.pem"), f.key("b.pem"));
    let cfg = f
        .load(&format!("[headers]\nsigning_keys = [\"{a}\", \"{b}\"]\n"))
        .unwrap();
    let keys = &cfg.headers.assertion.keys;
    assert_eq!(keys.len(), 2);
    assert_ne!(keys[0].kid, keys[1].kid);
    assert_eq!(keys[0].public_jwk["kid"], keys[0].kid.as_str());
    let printed = format!("{} {cfg:?}", cfg.to_effective_toml());
    assert!(!printed.contains("PRIVATE KEY"), "{printed}");
    assert!(printed.contains("a.pem"));
}

#[test]
fn bad_header_settings_name_the_key() {
    let f = Files::new();
    let not_a_key = f.dir.path().join("not-a-key");
    std::fs::write(&not_a_key, "hello").unwrap();
    let key = f.key("k.pem");
    let cases: Vec<(String, &str)> = vec![
        (
            "[headers]\nencoding = \"ebcdic\"".into(),
            "headers.encoding",
        ),
        (
            "[headers.claims.shoe_size]\ndrop = true".into(),
            "headers.claims.shoe_size",
        ),
        (
            "[headers.claims.sub]\ndrop = true".into(),
            "headers.claims.sub.drop",
        ),
        (
            "[headers.claims.email]\nencoding = \"rot13\"".into(),
            "headers.claims.email.encoding",
        ),
        (
            "[headers.claims.email]\nheader = \"Host\"".into(),
            "headers.claims.email.header",
        ),
        (
            "[headers.claims.email]\nheader = \"X-Forwarded-Email\"".into(),
            "headers.claims.email.header",
        ),
        (
            "[headers.claims.email]\nheader = \"bad name\"".into(),
            "headers.claims.email.header",
        ),
        (
            "[headers.claims.email]\nheader = \"X-Guichet-Assertion\"".into(),
            "headers.claims.email.header",
        ),
        (
            "[headers.claims.email]\nheader = \"x-pivot-sub\"".into(),
            "headers.claims.email.header",
        ),
        ("[headers]\nstrip = [\"Cookie\"]".into(), "headers.strip[0]"),
        (
            "[headers]\nprefix = \"X-Forwarded-\"".into(),
            "headers.prefix",
        ),
        (
            "[headers]\nassertion_header = \"Authorization\"".into(),
            "headers.assertion_header",
        ),
        ("[headers]\nmax_bytes = 100".into(), "headers.max_bytes"),
        (
            "[headers]\nassertion_ttl = \"1h\"".into(),
            "headers.assertion_ttl",
        ),
        (
            "[headers]\nassertion_ttl = \"1s\"".into(),
            "headers.assertion_ttl",
        ),
        (
            "[headers]\nassertion_audience = \"two words\"".into(),
            "headers.assertion_audience",
        ),
        (
            format!(
                "[headers]\nsigning_keys = [\"file:{}\"]",
                not_a_key.display()
            ),
            "headers.signing_keys[0]",
        ),
        (
            "[headers]\nsigning_keys = [\"-----BEGIN PRIVATE KEY-----\"]".into(),
            "headers.signing_keys[0]",
        ),
        (
            format!("[headers]\nsigning_keys = [\"{key}\", \"{key}\"]"),
            "headers.signing_keys[1]",
        ),
        (
            "[[routes]]\npath = \"/x\"\nclaims = [\"shoe_size\"]".into(),
            "routes[0].claims",
        ),
        (
            "[headers.claims.email]\ndrop = true\n[[routes]]\npath = \"/x\"\nclaims = [\"email\"]"
                .into(),
            "routes[0].claims",
        ),
        (
            "[server]\ntrusted_proxies = [\"10.0.0.0/33\"]".into(),
            "server.trusted_proxies[0]",
        ),
    ];
    for (extra, key) in cases {
        // [server] is in the base text already: add the line to it.
        let e = if let Some(line) = extra.strip_prefix("[server]\n") {
            match f.load_server(line) {
                Err(e) => e,
                Ok(_) => panic!("{extra} was accepted"),
            }
        } else {
            f.error(&extra)
        };
        assert_eq!(e.key, key, "{extra}: {e}");
        assert_eq!(e.file, "guichet.toml");
    }
}

#[test]
fn trusted_proxies_accept_cidrs_and_addresses() {
    let f = Files::new();
    let cfg = f
        .load_server(
            "trusted_proxies = [\"10.0.0.0/8\", \"192.0.2.7\", \"fd00::/8\", \"10.1.2.3/8\"]",
        )
        .unwrap();
    let printed: Vec<String> = cfg
        .server
        .trusted_proxies
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        printed,
        ["10.0.0.0/8", "192.0.2.7/32", "fd00::/8", "10.0.0.0/8"]
    );
}

impl Files {
    /// The base file with `line` added to `[server]`.
    fn load_server(&self, line: &str) -> Result<Config, ConfigError> {
        let text = format!(
            r#"
[server]
public_url = "https://demarches.example.fr"
{line}
[upstream]
url = "http://127.0.0.1:3000"
[[providers]]
name = "fc"
preset = "generic"
issuer = "https://idp.example.fr"
client_id = "abc"
client_secret = "file:{}"
"#,
            self.dir.path().join("secret").display()
        );
        Config::from_toml(&text, Path::new("guichet.toml"))
    }
}
