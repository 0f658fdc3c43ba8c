//! TLS on guichet's own listener: a whole login over https with HTTP/2, certificate reloads
//! (SIGHUP, changed files) that keep open connections, the plain-HTTP redirect listener, and
//! bad certificates or taken ports at start-up.

mod common;

use common::tls::{alpn, connect, file_fingerprint, http1_get, peer_fingerprint};
use common::*;
use guichet::demo::certs::TestCa;
use reqwest::{StatusCode, Version};
use std::process::Command;
use std::time::{Duration, Instant};

fn tls_setup() -> Setup {
    Setup {
        tls: true,
        ..Setup::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_login_over_https_and_http2() {
    let h = Harness::with(tls_setup()).await;
    assert!(h.url.starts_with("https://127.0.0.1:"), "{}", h.url);
    let b = h.browser();
    let landed = b.login(&h, "elodie", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    // Over https the session cookie is `__Host-` and `Secure`.
    let set = landed
        .set_cookies
        .iter()
        .find(|c| c.starts_with("__Host-guichet="))
        .expect("__Host- session cookie");
    assert!(set.contains("Secure"), "{set}");
    let headers = echoed_headers(&landed.body);
    assert_eq!(headers["x-pivot-family-name"], "M%C3%BCller");
    assert_eq!(headers["x-forwarded-proto"], "https");

    // The browser and guichet speak HTTP/2 (ALPN h2); the app still gets HTTP/1.1.
    let r = b.get(&format!("{}/whoami", h.url)).await;
    assert_eq!(r.version(), Version::HTTP_2);
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.text().await.expect("body");
    assert!(body.contains("x-pivot-sub"), "{body}");
    // A client that only speaks HTTP/1.1 is served too.
    let h1 = reqwest::Client::builder()
        .http1_only()
        .add_root_certificate(reqwest::Certificate::from_pem(h.ca_pem().expect("CA")).expect("CA"))
        .build()
        .expect("client");
    let r = h1
        .get(format!("{}/public/x", h.url))
        .send()
        .await
        .expect("h1");
    assert_eq!(r.version(), Version::HTTP_11);
    assert_eq!(r.status(), StatusCode::OK);
    // ALPN as a browser offers it.
    let ca = h.ca_pem().expect("CA");
    let s = connect(&h.url, ca, &[b"h2", b"http/1.1"]).await;
    assert_eq!(alpn(&s).as_deref(), Some(&b"h2"[..]));
    // The identity came through verified, and the logout works over h2.
    h.assert_assertions_verified();
    let out = b.follow(&format!("{}/.guichet/logout", h.url)).await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.body);
    let r = b.get(&format!("{}/whoami", h.url)).await;
    assert_eq!(r.status(), StatusCode::FOUND);
}

/// Waits (bounded) until a new connection is served the certificate with `fingerprint`.
async fn wait_for_certificate(h: &Harness, fingerprint: &str) {
    let ca = h.ca_pem().expect("CA");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let s = connect(&h.url, ca, &[b"http/1.1"]).await;
        if peer_fingerprint(&s) == fingerprint {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate is not served after 15 s:\n{}",
            h.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_certificate_without_dropping_connections() {
    let h = Harness::with(Setup {
        tls_reload_interval: Some("0s".into()),
        ..tls_setup()
    })
    .await;
    let files = h.tls.as_ref().expect("tls");
    let ca = files.ca_pem.clone();
    let first = file_fingerprint(&files.live.cert);
    let mut open = connect(&h.url, &ca, &[b"http/1.1"]).await;
    assert_eq!(peer_fingerprint(&open), first);
    assert_eq!(http1_get(&mut open, "/healthz").await.0, 200);

    // A renewed certificate (another key) from the same CA replaces the files.
    let renewed = files.ca.issue("renewed").expect("issue");
    let second = file_fingerprint(&renewed.cert);
    assert_ne!(first, second);
    std::fs::copy(&renewed.key, &files.live.key).expect("key");
    std::fs::copy(&renewed.cert, &files.live.cert).expect("cert");
    // Without a trigger (the periodic check is off) nothing changes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let s = connect(&h.url, &ca, &[b"http/1.1"]).await;
    assert_eq!(peer_fingerprint(&s), first);

    h.gateway.signal("HUP");
    wait_for_certificate(&h, &second).await;
    h.wait_log("TLS certificate reloaded", Duration::from_secs(10))
        .await;
    // The connection opened before the reload is still served.
    let (status, body) = http1_get(&mut open, "/healthz").await;
    assert_eq!(status, 200, "{body}");

    // A broken replacement changes nothing: the renewed certificate stays.
    std::fs::write(&files.live.cert, "not a certificate\n").expect("write");
    h.gateway.signal("HUP");
    h.wait_log("TLS certificate reload failed", Duration::from_secs(10))
        .await;
    assert!(h.logs().contains("server.tls.cert_file"), "{}", h.logs());
    let s = connect(&h.url, &ca, &[b"http/1.1"]).await;
    assert_eq!(peer_fingerprint(&s), second);
    let r = h.browser().get(&format!("{}/healthz", h.url)).await;
    assert_eq!(r.status(), StatusCode::OK);

    // The key never appears in the logs.
    let key = std::fs::read_to_string(&files.live.key).expect("key");
    for line in key.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!h.logs().contains(line), "the key is in the logs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_files_are_picked_up_by_the_periodic_check() {
    let h = Harness::with(Setup {
        tls_reload_interval: Some("1s".into()),
        ..tls_setup()
    })
    .await;
    let files = h.tls.as_ref().expect("tls");
    let mut open = connect(&h.url, &files.ca_pem, &[b"http/1.1"]).await;
    assert_eq!(http1_get(&mut open, "/healthz").await.0, 200);
    // A certificate from another CA (the client trusts both).
    let other_ca = TestCa::new(h.dir.path(), "other-ca").expect("CA");
    let renewed = other_ca.issue("renewed").expect("issue");
    std::fs::copy(&renewed.key, &files.live.key).expect("key");
    std::fs::copy(&renewed.cert, &files.live.cert).expect("cert");
    let second = file_fingerprint(&renewed.cert);
    let mut both = files.ca_pem.clone();
    both.extend(std::fs::read(&other_ca.cert).expect("CA"));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let s = connect(&h.url, &both, &[b"http/1.1"]).await;
        if peer_fingerprint(&s) == second {
            break;
        }
        assert!(Instant::now() < deadline, "not reloaded:\n{}", h.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        h.logs().contains("periodic check"),
        "the reload names its trigger:\n{}",
        h.logs()
    );
    assert_eq!(http1_get(&mut open, "/healthz").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_redirects_to_the_public_url_and_nothing_else() {
    let port = guichet::demo::free_port().expect("port");
    let h = Harness::with(Setup {
        server_toml: format!("redirect_http = \"127.0.0.1:{port}\""),
        ..tls_setup()
    })
    .await;
    let plain = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = client
        .get(format!("{plain}/whoami/a%20b?x=1&y=%C3%A9"))
        .header("host", "evil.example")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        location(&r),
        format!("{}/whoami/a%20b?x=1&y=%C3%A9", h.url),
        "same path and query, on the public URL whatever the Host header"
    );
    let r = client
        .post(format!("{plain}/.guichet/logout"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(location(&r), format!("{}/.guichet/logout", h.url));
    // An absolute-form target cannot choose the host either.
    let head = raw_request(
        port,
        "GET http://evil.example/steal?x=1 HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 308"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("location: {}/steal?x=1", h.url)),
        "{head}"
    );
    let r = client
        .get(format!("{plain}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(r.status(), StatusCode::OK);
    // Nothing went to the application or to guichet's own pages.
    assert!(h.stack.echo.requests().is_empty());
    // Following the redirect lands on the https site.
    let b = h.browser();
    let r = b.get(&format!("{plain}/public/page")).await;
    let landed = b.follow(&location(&r)).await;
    assert_eq!(landed.status, StatusCode::OK);
    assert!(landed.url.starts_with("https://"), "{}", landed.url);
}

/// Sends `request` as written to 127.0.0.1:`port` and returns the whole answer.
async fn raw_request(port: u16, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    s.write_all(request.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    String::from_utf8_lossy(&buf).to_string()
}

fn guichet(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_guichet"))
        .args(args)
        .output()
        .expect("run guichet")
}

#[test]
fn bad_certificates_and_taken_ports_exit_2_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let ca = TestCa::new(d, "ca").expect("CA");
    let good = ca.issue("good").expect("issue");
    let other = ca.issue("other").expect("issue");
    let secret = d.join("secret");
    std::fs::write(&secret, "super-secret-value-0123456789abcdef").expect("secret");
    let garbage = d.join("garbage.pem");
    std::fs::write(&garbage, "hello\n").expect("garbage");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let busy_port = busy.local_addr().expect("addr").port();
    let free = guichet::demo::free_port().expect("port");
    let metrics = guichet::demo::free_port().expect("port");
    let config = |public_url: &str, listen: u16, server_extra: &str, cert: &str, key: &str| {
        format!(
            "[server]\nlisten = \"127.0.0.1:{listen}\"\npublic_url = \"{public_url}\"\n{server_extra}\n\
             [server.tls]\ncert_file = \"{cert}\"\nkey_file = \"{key}\"\n\
             [upstream]\nurl = \"http://127.0.0.1:3000\"\n\
             [metrics]\nlisten = \"127.0.0.1:{metrics}\"\n\
             [[providers]]\nname = \"fc\"\npreset = \"franceconnect-v2-integration\"\n\
             client_id = \"0123456789\"\nclient_secret = \"file:{}\"\n",
            secret.display()
        )
    };
    let (g_cert, g_key) = (
        good.cert.display().to_string(),
        good.key.display().to_string(),
    );
    let https = "https://127.0.0.1:8443";
    let cases = [
        (
            "garbage certificate",
            config(https, free, "", &garbage.display().to_string(), &g_key),
            "server.tls.cert_file",
        ),
        (
            "missing key file",
            config(https, free, "", &g_cert, "/nonexistent/key.pem"),
            "server.tls.key_file",
        ),
        (
            "key of another certificate",
            config(https, free, "", &g_cert, &other.key.display().to_string()),
            "server.tls.key_file",
        ),
        (
            "TLS with an http public URL",
            config("http://127.0.0.1:8080", free, "", &g_cert, &g_key),
            "server.public_url",
        ),
        (
            "redirect on the main port",
            config(
                https,
                free,
                &format!("redirect_http = \"0.0.0.0:{free}\""),
                &g_cert,
                &g_key,
            ),
            "server.redirect_http",
        ),
        (
            "reload interval too short",
            config(https, free, "", &g_cert, &g_key)
                .replace("[upstream]", "reload_interval = \"10ms\"\n[upstream]"),
            "server.tls.reload_interval",
        ),
    ];
    for (what, text, key) in cases {
        let path = d.join("guichet.toml");
        std::fs::write(&path, &text).expect("config");
        let path = path.display().to_string();
        for cmd in ["check", "run"] {
            let out = guichet(&[cmd, "--config", &path]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{what} ({cmd}): {stderr}");
            assert!(
                stderr.contains(&path) && stderr.contains(key),
                "{what} ({cmd}) should name {key}: {stderr}"
            );
        }
    }
    // A port another process holds: `run` says which key, exit 2 (check has nothing to
    // bind).
    let path = d.join("busy.toml");
    std::fs::write(&path, config(https, busy_port, "", &g_cert, &g_key)).expect("config");
    let path = path.display().to_string();
    let out = guichet(&["run", "--config", &path]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("server.listen"), "{stderr}");
    let key = std::fs::read_to_string(&good.key).expect("key");
    let body: Vec<&str> = key.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(!stderr.contains(body[0]));
    drop(busy);
}
