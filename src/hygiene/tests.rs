use super::*;
use std::path::Path;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn nets(list: &[&str]) -> Vec<IpNet> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

fn chain(peer: &str, values: &[&str], trusted: &[&str]) -> IpAddr {
    client_ip_from_chain(
        ip(peer),
        values.iter().map(|v| v.as_bytes()),
        &nets(trusted),
    )
}

#[test]
fn chain_gives_the_rightmost_untrusted_address() {
    let t = ["10.0.0.0/8", "fd00::/8"];
    // The ingress (10.0.0.5) appended what it saw; anything to its left is the client's word.
    assert_eq!(
        chain("10.0.0.5", &["203.0.113.9, 198.51.100.7"], &t),
        ip("198.51.100.7")
    );
    // Several trusted hops, over several header lines.
    assert_eq!(
        chain(
            "10.0.0.5",
            &["6.6.6.6, 198.51.100.7", "10.1.1.1 , 10.2.2.2"],
            &t
        ),
        ip("198.51.100.7")
    );
    // Ports and IPv6 forms.
    assert_eq!(
        chain("10.0.0.5", &["198.51.100.7:4711"], &t),
        ip("198.51.100.7")
    );
    assert_eq!(
        chain("10.0.0.5", &["[2001:db8::1]:443"], &t),
        ip("2001:db8::1")
    );
    assert_eq!(chain("10.0.0.5", &["[2001:db8::2]"], &t), ip("2001:db8::2"));
    assert_eq!(
        chain("fd00::1", &["::ffff:198.51.100.7"], &t),
        ip("198.51.100.7")
    );
    // Only trusted addresses: the furthest one is all we know.
    assert_eq!(
        chain("10.0.0.5", &["10.9.9.9, 10.1.1.1"], &t),
        ip("10.9.9.9")
    );
    // No header: the trusted peer itself.
    assert_eq!(chain("10.0.0.5", &[], &t), ip("10.0.0.5"));
}

#[test]
fn malformed_or_endless_chains_stop_at_the_last_trusted_hop() {
    let t = ["10.0.0.0/8"];
    for bad in [
        "unknown",
        "",
        "not an ip, 10.1.1.1",
        "1.2.3.4,,10.1.1.1",
        "_hidden",
    ] {
        let got = chain("10.0.0.5", &[bad], &t);
        assert!(
            got == ip("10.0.0.5") || got == ip("10.1.1.1"),
            "{bad:?} gave {got}"
        );
    }
    assert_eq!(
        chain("10.0.0.5", &["203.0.113.9, garbage, 10.1.1.1"], &t),
        ip("10.1.1.1")
    );
    let long = vec!["10.1.1.1"; MAX_HOPS + 5].join(", ");
    let with_client = format!("203.0.113.9, {long}");
    assert_eq!(chain("10.0.0.5", &[&with_client], &t), ip("10.1.1.1"));
}

fn hygiene(extra: &str) -> Hygiene {
    let secret = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret.path(), "0123456789abcdef0123").unwrap();
    let text = format!(
        r#"
[server]
public_url = "https://demarches.example.fr"
trusted_proxies = ["10.0.0.0/8", "127.0.0.1"]
[upstream]
url = "http://127.0.0.1:3000"
[[providers]]
name = "fc"
preset = "generic"
issuer = "https://idp.example.fr"
client_id = "abc"
client_secret = "file:{secret}"
{extra}
"#,
        secret = secret.path().display()
    );
    let cfg = Config::from_toml(&text, Path::new("t.toml")).unwrap();
    Hygiene::new(&cfg, &CookieNames::new(true))
}

fn request(headers: &[(&str, &[u8])]) -> RequestHeader {
    let mut req = RequestHeader::build("GET", b"/", None).unwrap();
    for (k, v) in headers {
        req.append_header(k.to_string(), HeaderValue::from_bytes(v).unwrap())
            .unwrap();
    }
    req
}

#[test]
fn client_ip_ignores_forwarded_for_from_untrusted_peers() {
    let h = hygiene("");
    let req = request(&[("X-Forwarded-For", b"203.0.113.9")]);
    assert_eq!(
        h.client_ip(Some(ip("192.0.2.1")), &req.headers),
        Some(ip("192.0.2.1"))
    );
    assert_eq!(
        h.client_ip(Some(ip("10.0.0.5")), &req.headers),
        Some(ip("203.0.113.9"))
    );
    assert_eq!(
        h.client_ip(Some(ip("::ffff:127.0.0.1")), &req.headers),
        Some(ip("203.0.113.9"))
    );
    assert_eq!(h.client_ip(None, &req.headers), None);
}

#[test]
fn spoofed_headers_are_removed_in_every_form() {
    let h = hygiene(
        "[headers]\nstrip = [\"Remote-User\"]\n[headers.claims.family_name]\nheader = \"Nom\"\n",
    );
    let spoofed: &[&str] = &[
        "X-Pivot-Sub",
        "x-pivot-sub",
        "X-PIVOT-SUB",
        "x-PiVoT-sUb",
        "X_Pivot_Sub",
        "x-pivot_given-name",
        "X-Pivot-Anything-New",
        "X-Guichet-Assertion",
        "x-guichet-assertion",
        "X_GUICHET_ASSERTION",
        "Nom",
        "nom",
        "remote-user",
        "Remote_User",
        "X-Forwarded-For",
        "x-forwarded-proto",
        "X-Forwarded-Host",
        "X-Forwarded-User",
        "X_Forwarded_For",
        "Forwarded",
        "X-Real-IP",
    ];
    let mut req = RequestHeader::build("GET", b"/", None).unwrap();
    for name in spoofed {
        req.append_header(name.to_string(), "forged").unwrap();
        req.append_header(name.to_string(), "forged-again").unwrap();
    }
    req.append_header("X-Other", "kept").unwrap();
    req.append_header("X-Pivo", "kept").unwrap();
    req.append_header("Nomad", "kept").unwrap();
    h.strip_incoming(&mut req);
    let mut left: Vec<_> = req.headers.keys().map(|k| k.as_str().to_string()).collect();
    left.sort();
    assert_eq!(left, ["nomad", "x-other", "x-pivo"]);
    // The case map stays consistent with the headers (pingora writes from both).
    assert_eq!(req.case_header_iter().count(), 3);
}

#[test]
fn own_cookies_never_reach_the_upstream() {
    let h = hygiene("");
    let mut req = request(&[
        ("Cookie", b"app=1; __Host-guichet=secret"),
        (
            "Cookie",
            b"__Host-guichet-login=x;theme=dark; __Host-guichet-lang=en",
        ),
        ("Cookie", b"__Host-guichet-author=mark"),
    ]);
    h.strip_own_cookies(&mut req);
    assert_eq!(req.headers.get_all("cookie").iter().count(), 1);
    assert_eq!(req.headers.get("cookie").unwrap(), "app=1; theme=dark");

    let mut req = request(&[("Cookie", b"__Host-guichet=secret")]);
    h.strip_own_cookies(&mut req);
    assert!(req.headers.get("cookie").is_none());

    // Bytes outside ASCII do not hide the session cookie.
    let mut req = request(&[("Cookie", b"caf\xe9=1; __Host-guichet=secret")]);
    h.strip_own_cookies(&mut req);
    assert_eq!(req.headers.get("cookie").unwrap().as_bytes(), b"caf\xe9=1");

    // Nothing of ours: untouched.
    let mut req = request(&[("Cookie", b"guichet=not-ours-over-https")]);
    h.strip_own_cookies(&mut req);
    assert_eq!(
        req.headers.get("cookie").unwrap(),
        "guichet=not-ours-over-https"
    );
}

#[test]
fn forwarding_headers_say_what_guichet_saw() {
    let h = hygiene("");
    let get = |r: &RequestHeader, n: &str| r.headers.get(n).unwrap().to_str().unwrap().to_string();
    let mut req = request(&[]);
    h.set_forwarding(&mut req, Some(ip("203.0.113.9"))).unwrap();
    assert_eq!(get(&req, "x-forwarded-for"), "203.0.113.9");
    assert_eq!(get(&req, "x-real-ip"), "203.0.113.9");
    assert_eq!(get(&req, "x-forwarded-proto"), "https");
    assert_eq!(get(&req, "x-forwarded-host"), "demarches.example.fr");
    assert_eq!(
        get(&req, "forwarded"),
        "for=203.0.113.9;proto=https;host=\"demarches.example.fr\""
    );
    let mut req = request(&[]);
    h.set_forwarding(&mut req, Some(ip("2001:db8::1"))).unwrap();
    assert_eq!(
        get(&req, "forwarded"),
        "for=\"[2001:db8::1]\";proto=https;host=\"demarches.example.fr\""
    );
    let mut req = request(&[]);
    h.set_forwarding(&mut req, None).unwrap();
    assert!(req.headers.get("x-forwarded-for").is_none());
    assert!(get(&req, "forwarded").starts_with("for=unknown;"));
}
