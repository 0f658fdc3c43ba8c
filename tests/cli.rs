//! The `guichet` command as an operator runs it: `check`, bad configurations, `keygen`, `demo`.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn guichet(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_guichet"))
        .args(args)
        .output()
        .expect("run guichet")
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn config(secret_path: &str) -> String {
    format!(
        r#"
[server]
public_url = "https://demarches.example.fr"
[upstream]
url = "http://127.0.0.1:3000"
[[providers]]
name = "fc"
preset = "franceconnect-v2-integration"
client_id = "0123456789"
client_secret = "file:{secret_path}"
"#
    )
}

#[test]
fn check_prints_the_effective_config_with_secrets_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let secret = write(
        dir.path(),
        "secret",
        "super-secret-value-0123456789abcdef\n",
    );
    let cfg = write(dir.path(), "guichet.toml", &config(&secret));
    let out = guichet(&["check", "--config", &cfg]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("valid"));
    assert!(stdout.contains("https://fcp-low.integ01.dev-franceconnect.fr/api/v2"));
    assert!(stdout.contains("idle_timeout = \"30m\""));
    assert!(stdout.contains("<redacted file:"));
    assert!(!stdout.contains("super-secret-value"));
}

#[test]
fn check_warns_about_an_upstream_name_that_does_not_resolve_now() {
    let dir = tempfile::tempdir().unwrap();
    let secret = write(dir.path(), "secret", "super-secret-value-0123456789abcdef");
    let text = config(&secret).replace("127.0.0.1:3000", "app.guichet-test.invalid:3000");
    let cfg = write(dir.path(), "guichet.toml", &text);
    let out = guichet(&["check", "--config", &cfg]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "a warning, not an error: {stderr}");
    assert!(
        stderr.contains("warning")
            && stderr.contains("upstream.url")
            && stderr.contains("app.guichet-test.invalid")
            && stderr.contains("does not resolve"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("resolve_interval = \"5s\""));
    // A name that resolves, or an address: no warning.
    let text = config(&secret).replace("127.0.0.1:3000", "localhost:3000");
    let cfg = write(dir.path(), "guichet.toml", &text);
    let out = guichet(&["check", "--config", &cfg]);
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"));
}

#[test]
fn bad_configs_exit_2_naming_the_file_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let secret = write(dir.path(), "secret", "super-secret-value-0123456789abcdef");
    let good = config(&secret);
    let seal = write(
        dir.path(),
        "seal",
        "9Zbx7k0a1lQ9m8b8Kx0bq2yYk7oN1c3U4wq8f0sVZ3E=\n",
    );
    let redis = |keys: &str| format!("{good}[session]\nstore = \"redis\"\n{keys}\n");
    let cases = [
        (
            "plain redis:// to a remote host",
            redis(&format!(
                "redis_url = \"redis://redis.internal:6379/0\"\nseal_keys = [\"file:{seal}\"]"
            )),
            "session.redis_url: session.redis_url: plain redis://",
        ),
        (
            "Redis without sealing keys",
            redis("redis_url = \"rediss://redis.internal:6380/0\""),
            "session.seal_keys: required",
        ),
        (
            "a sealing key that is not 32 bytes",
            redis(&format!(
                "redis_url = \"rediss://redis.internal:6380/0\"\nseal_keys = [\"file:{secret}\"]"
            )),
            "session.seal_keys",
        ),
        (
            "sentinels with a port on the master name",
            redis(&format!(
                "redis_url = \"rediss://mymaster:6379/0\"\nredis_sentinels = [\"rediss://s1:26379\"]\n\
                 seal_keys = [\"file:{seal}\"]"
            )),
            "session.redis_url",
        ),
        (
            "unknown key",
            good.replace("[upstream]", "[upstream]\ntimeout = 3"),
            "upstream",
        ),
        (
            "wrong type",
            good.replace("[server]", "[server]\nthreads = \"two\""),
            "server.threads",
        ),
        (
            "missing client_id",
            good.replace("client_id = \"0123456789\"\n", ""),
            "providers[0].client_id",
        ),
        (
            "http issuer",
            good.replace(
                "preset = \"franceconnect-v2-integration\"",
                "preset = \"generic\"\nissuer = \"http://idp.example.org\"",
            ),
            "providers[0].issuer",
        ),
        (
            "unreadable secret",
            good.replace(&secret, "/nonexistent/secret"),
            "providers[0].client_secret",
        ),
        // Overrides FranceConnect would refuse at every login.
        (
            "PKCE with FranceConnect",
            good.replace(
                "client_id = \"0123456789\"",
                "client_id = \"0123456789\"\npkce = \"auto\"",
            ),
            "providers[0].pkce",
        ),
        (
            "a parameter FranceConnect refuses",
            good.replace(
                "client_id = \"0123456789\"",
                "client_id = \"0123456789\"\nauthorize_params = { max_age = \"0\" }",
            ),
            "providers[0].authorize_params.max_age",
        ),
        (
            "prompt=none with FranceConnect",
            good.replace(
                "client_id = \"0123456789\"",
                "client_id = \"0123456789\"\nauthorize_params = { prompt = \"none\" }",
            ),
            "providers[0].authorize_params.prompt",
        ),
        (
            "no acr_values with FranceConnect v2",
            good.replace(
                "client_id = \"0123456789\"",
                "client_id = \"0123456789\"\nacr_values = \"\"",
            ),
            "providers[0].acr_values",
        ),
        (
            "Basic authentication with FranceConnect",
            good.replace(
                "client_id = \"0123456789\"",
                "client_id = \"0123456789\"\ntoken_auth = \"client_secret_basic\"",
            ),
            "providers[0].token_auth",
        ),
        (
            "FranceConnect+ decryption key that is not a key",
            good.replace(
                "preset = \"franceconnect-v2-integration\"",
                &format!(
                    "preset = \"franceconnect-plus-integration\"\n\
                     decryption_keys = [{{ alg = \"RSA-OAEP\", key = \"file:{secret}\" }}]"
                ),
            ),
            "providers[0].decryption_keys[0].key",
        ),
        (
            "host alias with a port",
            good.replace(
                "public_url = \"https://demarches.example.fr\"",
                "public_url = \"https://demarches.example.fr\"\nhost_aliases = [\"www.example.fr:443\"]",
            ),
            "server.host_aliases[0]",
        ),
        (
            "resolve interval below a second",
            good.replace("[upstream]", "[upstream]\nresolve_interval = \"100ms\""),
            "upstream.resolve_interval",
        ),
        (
            "empty evidence queue",
            format!("{good}[audit]\nqueue_size = 0\n"),
            "audit.queue_size",
        ),
    ];
    for (what, text, key) in cases {
        let cfg = write(dir.path(), "bad.toml", &text);
        for cmd in ["check", "run"] {
            let out = guichet(&[cmd, "--config", &cfg]);
            assert_eq!(out.status.code(), Some(2), "{what} ({cmd})");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains(&cfg) && stderr.contains(key),
                "{what} ({cmd}): {stderr}"
            );
            assert!(!stderr.contains("panicked"), "{what}: {stderr}");
            assert_eq!(
                stderr.trim().lines().count(),
                1,
                "{what}: one message, got {stderr}"
            );
        }
    }
    let out = guichet(&["check", "--config", "/nonexistent/guichet.toml"]);
    assert_eq!(out.status.code(), Some(2));
    // The plaintext refusal says how to allow it; allowed, the config is valid.
    let text = redis(&format!(
        "redis_url = \"redis://redis.internal:6379/0\"\nseal_keys = [\"file:{seal}\"]"
    ));
    let cfg = write(dir.path(), "plain.toml", &text);
    let out = guichet(&["check", "--config", &cfg]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("session.redis_allow_plaintext = true"));
    let allowed = text.replace("[session]\n", "[session]\nredis_allow_plaintext = true\n");
    let cfg = write(dir.path(), "allowed.toml", &allowed);
    let out = guichet(&["check", "--config", &cfg]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("<redacted file:{seal}>")),
        "{stdout}"
    );
    assert!(!stdout.contains("9Zbx7k0a1lQ9"));
}

#[test]
fn keygen_makes_sealing_keys() {
    use base64::Engine;
    let a = guichet(&["keygen", "--alg", "A256GCM"]);
    let b = guichet(&["keygen", "--alg", "A256GCM"]);
    assert!(a.status.success() && b.status.success());
    let key = String::from_utf8_lossy(&a.stdout).trim().to_string();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&key)
        .expect("base64");
    assert_eq!(raw.len(), 32);
    assert_ne!(a.stdout, b.stdout);
}

#[test]
fn keygen_prints_a_private_key_and_a_public_jwk() {
    let out = guichet(&["keygen", "--alg", "ECDH-ES", "--kid", "enc-2026"]);
    assert!(out.status.success());
    let jwk_line = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.starts_with('{'))
        .map(String::from)
        .expect("jwk");
    let jwk: serde_json::Value = serde_json::from_str(&jwk_line).unwrap();
    assert_eq!(
        (jwk["use"].as_str(), jwk["kid"].as_str()),
        (Some("enc"), Some("enc-2026"))
    );
    let out = guichet(&["keygen", "--alg", "none"]);
    assert!(!out.status.success());
    let out = guichet(&["keygen"]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("-----BEGIN PRIVATE KEY-----"));
    let jwk_line = stdout.lines().find(|l| l.starts_with('{')).expect("jwk");
    let jwk: serde_json::Value = serde_json::from_str(jwk_line).unwrap();
    assert_eq!(jwk["kty"], "EC");
    assert_eq!(jwk["crv"], "P-256");
    assert!(
        jwk.get("d").is_none(),
        "public JWK must not contain the private part"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_runs_with_no_setup_and_a_script_can_log_in() {
    let port = guichet::demo::free_port().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_guichet"))
        .args(["demo", "--port", &port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().unwrap();
    let pid = child.id();
    let mut guard = Kill(child);
    let url = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line.trim().to_string()
    })
    .await
    .unwrap();
    assert_eq!(url, format!("http://127.0.0.1:{port}/"));
    let b = Browser::new();
    // Wait until the provider's metadata is loaded.
    for _ in 0..100 {
        if b.get(&format!("{url}readyz")).await.status() == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let landed = b
        .follow_as(&format!("{url}.guichet/login?return_to=/whoami"), "elodie")
        .await;
    assert_eq!(landed.status, 200, "{}", landed.body);
    let headers = echoed_headers(&landed.body);
    assert_eq!(
        percent_decode(headers["x-pivot-given-name"].as_str().unwrap()),
        "Élodie"
    );
    // Without the cookie: back to login.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client.get(format!("{url}whoami")).send().await.unwrap();
    assert_eq!(r.status(), 302);
    // Opened as localhost: redirected to the public URL, where the login works as above.
    let localhost = format!("http://localhost:{port}");
    let r = client
        .get(format!("{localhost}/whoami?x=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(location(&r), format!("{url}whoami?x=1"));
    let b = Browser::new();
    let landed = b
        .follow_as(
            &format!("{localhost}/.guichet/login?return_to=/whoami"),
            "elodie",
        )
        .await;
    assert_eq!(landed.status, 200, "{}", landed.body);
    assert_eq!(landed.url, format!("{url}whoami"));
    // Any other name for this address: 421.
    let r = client
        .get(format!("{url}whoami"))
        .header("host", format!("guichet.example:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 421);
    // Stopped as with Ctrl-C: it exits, and its directory (configuration, generated client
    // secret) goes with it.
    let dir = std::env::temp_dir().join(format!("guichet-demo-{pid}"));
    assert!(dir.join("guichet.toml").exists());
    let sent = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = tokio::task::spawn_blocking(move || guard.0.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "demo exited with {status}");
    assert!(!dir.exists(), "{} left behind", dir.display());
}

#[test]
fn check_shows_the_franceconnect_plus_pins_and_the_key_without_its_secret() {
    let dir = tempfile::tempdir().unwrap();
    let secret = write(dir.path(), "secret", "super-secret-value-0123456789abcdef");
    let out = guichet(&["keygen", "--alg", "ECDH-ES", "--kid", "enc-1"]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let pem: String = stdout
        .lines()
        .take_while(|l| !l.starts_with('{'))
        .map(|l| format!("{l}\n"))
        .collect();
    let key = write(dir.path(), "enc.pem", &pem);
    let text = config(&secret).replace(
        "preset = \"franceconnect-v2-integration\"",
        &format!(
            "preset = \"franceconnect-plus-integration\"\n\
             decryption_keys = [{{ alg = \"ECDH-ES\", key = \"file:{key}\", kid = \"enc-1\" }}]"
        ),
    );
    let cfg = write(dir.path(), "guichet.toml", &text);
    let out = guichet(&["check", "--config", &cfg]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "https://auth.integ01.dev-franceconnect.fr/api/v2",
        "jwe_encs = [\"A256GCM\"]",
        "\"RSA-OAEP-256\"",
        "kid = \"enc-1\"",
        "<redacted file:",
        "eidas3 = \"high\"",
    ] {
        assert!(shown.contains(want), "{want} not in:\n{shown}");
    }
    assert!(!shown.contains("PRIVATE KEY"));
}

#[test]
fn demo_refuses_an_unknown_provider() {
    let out = guichet(&["demo", "--port", "1", "--provider", "fc-v9"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("fc-plus"));
}

#[test]
fn config_example_is_valid() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_guichet"))
        .args(["check", "--config", path])
        .env(
            "GUICHET_FC_CLIENT_SECRET",
            "an-example-secret-of-enough-length",
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("an-example-secret"));
}
