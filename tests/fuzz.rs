//! Property tests (proptest) over everything that parses what a client or a provider sends:
//! the gateway as a whole, callback query parameters, cookies, path normalization,
//! `return_to`, `Host`, claims, header encodings, header stripping, `X-Forwarded-For` chains;
//! and raw request lines sent on a socket to a running guichet in front of a lenient upstream
//! (`raw_request_lines_are_judged_as_they_are_forwarded`).
//! Each property says what must hold for every input, not only that nothing panics.
//!
//! `cargo test` runs 256 cases per property (a few seconds in all); `make fuzz` runs
//! `PROPTEST_CASES=200000` in release mode. A failing case is shrunk and printed, and saved in
//! `tests/fuzz.proptest-regressions` (commit it) to be replayed first from then on.

mod common;

use common::lenient::{self, LenientUpstream, Seen};
use guichet::authority::is_authority;
use guichet::config::Config;
use guichet::edge::path::normalize_path;
use guichet::gateway::{Gateway, Outcome};
use guichet::hygiene::{client_ip_from_chain, Hygiene};
use guichet::identity::headers::{decode, encode};
use guichet::identity::Identity;
use guichet::policy::safe_return_to;
use guichet::vocab::HeaderEncoding;
use guichet::web::{cookie_value, Body, Request};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use ipnet::IpNet;
use pingora::http::RequestHeader;
use proptest::prelude::*;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

const PUBLIC_URL: &str = "https://demarches.example.fr";
const PREFIX: &str = "/.guichet";

/// A gateway built in this process from a real configuration (its provider is never
/// contacted: logins answer "provider unavailable"), and the runtime to drive it.
struct World {
    gateway: Arc<Gateway>,
    hygiene: Hygiene,
    runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "a-client-secret-of-more-than-32-bytes-0123").expect("secret");
        let text = format!(
            r#"
[server]
listen = "127.0.0.1:1"
public_url = "{PUBLIC_URL}"
[upstream]
url = "http://127.0.0.1:3000"
[[providers]]
name = "fc"
preset = "franceconnect-v2-integration"
issuer = "http://127.0.0.1:9/api/v2"
client_id = "client"
client_secret = "file:{secret}"
[[routes]]
path = "/public"
access = "public"
[[routes]]
path = "/api"
access = "api"
[[routes]]
path = "/admin"
min_level = "eidas3"
[headers]
strip = ["Remote-User"]
[headers.claims.family_name]
header = "X-Nom"
[metrics]
listen = ""
[audit]
output = "{audit}"
"#,
            secret = secret.display(),
            audit = dir.path().join("audit.log").display(),
        );
        let cfg = Config::from_toml(&text, std::path::Path::new("fuzz.toml")).expect("config");
        let built = guichet::server::build(cfg).expect("gateway");
        let hygiene = Hygiene::new(built.gateway.cfg(), built.gateway.cookies());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        World {
            gateway: built.gateway,
            hygiene,
            runtime,
            _dir: dir,
        }
    })
}

/// Pieces hostile paths are made of.
fn path_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("/".to_string()),
        Just("//".to_string()),
        Just("public".to_string()),
        Just("PUBLIC".to_string()),
        Just("Public".to_string()),
        Just("admin".to_string()),
        Just("api".to_string()),
        Just(".".to_string()),
        Just("..".to_string()),
        Just("%2e".to_string()),
        Just("%2E".to_string()),
        Just("%252e".to_string()),
        Just("%2f".to_string()),
        Just("%2F".to_string()),
        Just("%252f".to_string()),
        Just("%5c".to_string()),
        Just("\\".to_string()),
        Just(";x=1".to_string()),
        Just(";".to_string()),
        Just("%3b".to_string()),
        Just("%00".to_string()),
        Just("%0a".to_string()),
        Just("%".to_string()),
        Just("%zz".to_string()),
        Just("%ff".to_string()),
        Just("%c3%a9".to_string()),
        Just("é".to_string()),
        Just("\u{ff0e}".to_string()),
        Just(".guichet".to_string()),
        Just("login".to_string()),
        Just("callback".to_string()),
        Just("%61dmin".to_string()),
        "[a-zA-Z0-9._~-]{1,6}",
    ]
}

fn hostile_path() -> impl Strategy<Value = String> {
    prop::collection::vec(path_piece(), 1..10).prop_map(|v| v.concat())
}

/// An upstream's reading of a raw path: percent-decoded `decodes` times, backslashes as
/// slashes, `;params` dropped, dot segments resolved (RFC 3986 5.2.4), letter case ignored.
/// Returns the segments.
fn upstream_view(raw: &str, decodes: usize) -> Vec<String> {
    let mut s = raw.to_string();
    for _ in 0..decodes {
        s = percent_encoding::percent_decode_str(&s)
            .decode_utf8_lossy()
            .into_owned();
    }
    let s = s.replace('\\', "/");
    let mut out: Vec<String> = Vec::new();
    for segment in s.split('/') {
        let segment = segment.split(';').next().unwrap_or("");
        match segment {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            other => out.push(other.to_lowercase()),
        }
    }
    out
}

/// Any value that can be a header value (visible ASCII, spaces, tabs, bytes above 0x7f).
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop_oneof![Just(b'\t'), 0x20u8..0x7f, 0x80u8..=0xff], 0..80)
}

fn header_value() -> impl Strategy<Value = HeaderValue> {
    header_bytes().prop_map(|b| HeaderValue::from_bytes(&b).expect("valid header bytes"))
}

/// Header names a client could use to smuggle an identity, and harmless ones.
fn header_name() -> impl Strategy<Value = String> {
    let dangerous = prop_oneof![
        Just("x-pivot-".to_string()),
        Just("x_pivot_".to_string()),
        Just("X-PIVOT-".to_string()),
        Just("x-PiVoT_".to_string()),
    ];
    prop_oneof![
        (dangerous, "[a-zA-Z_-]{0,12}").prop_map(|(p, s)| format!("{p}{s}")),
        prop::sample::select(vec![
            "X-Guichet-Assertion",
            "x_guichet_assertion",
            "X-Nom",
            "x_nom",
            "Remote-User",
            "REMOTE_USER",
            "X-Forwarded-For",
            "x_forwarded_host",
            "X-Forwarded-Anything",
            "Forwarded",
            "x-real-ip",
            "X_Real_IP",
        ])
        .prop_map(String::from),
        "[a-zA-Z][a-zA-Z0-9_-]{0,15}",
    ]
}

/// Does a header name belong to what guichet strips (compared the way it compares)?
fn forbidden(name: &str) -> bool {
    let n = name.to_ascii_lowercase().replace('_', "-");
    n.starts_with("x-pivot-")
        || n.starts_with("x-forwarded-")
        || [
            "x-guichet-assertion",
            "x-nom",
            "remote-user",
            "forwarded",
            "x-real-ip",
        ]
        .contains(&n.as_str())
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    /// Whatever a client sends (path, query, cookies), the gateway never panics, never
    /// answers 500, never makes a relative redirect leave the origin, and lets a request
    /// through without a session only on the public route, under every way an upstream may
    /// read the path (decoding once or twice, backslashes, `;params`, any letter case).
    #[test]
    fn the_gateway_fails_closed_on_any_request(
        path in prop_oneof![hostile_path(), "\\PC{0,40}"],
        query in prop::option::of("\\PC{0,60}"),
        cookie in header_value(),
    ) {
        let w = world();
        let mut headers = HeaderMap::new();
        headers.insert(http::header::COOKIE, cookie);
        let req = Request {
            method: &Method::GET,
            path: &path,
            query: query.as_deref(),
            headers: &headers,
            client_ip: None,
            request_id: None,
            body: Body::None,
        };
        match w.runtime.block_on(w.gateway.handle(&req)) {
            Outcome::Reply(r) => {
                prop_assert_ne!(r.status.as_u16(), 500);
                if let Some(location) = r.header_value(&http::header::LOCATION) {
                    prop_assert!(location.starts_with('/'), "{}", location);
                    prop_assert!(!location.starts_with("//") && !location.starts_with("/\\"));
                }
            }
            Outcome::Forward(f) => {
                prop_assert!(f.session.is_none() && f.assertion.is_none());
                prop_assert_eq!(f.class, "public");
                for decodes in 1..=2 {
                    let view = upstream_view(&path, decodes);
                    prop_assert_eq!(
                        view.first().map(String::as_str), Some("public"),
                        "{:?} decoded {} times", path, decodes
                    );
                }
            }
            // Only a POST of a form is ever kept across a login.
            Outcome::KeepForm(_) => prop_assert!(false, "a GET was taken for a form"),
        }
    }

    /// Callback-style query parameters: one value or a refusal, never a guess.
    #[test]
    fn query_parameters_are_single_or_refused(query in "\\PC{0,120}", name in "[a-z]{1,5}") {
        let headers = HeaderMap::new();
        let req = Request {
            method: &Method::GET,
            path: "/.guichet/callback",
            query: Some(&query),
            headers: &headers,
            client_ip: None,
            request_id: None,
            body: Body::None,
        };
        let name: &'static str = Box::leak(name.into_boxed_str());
        let count = url::form_urlencoded::parse(query.as_bytes())
            .filter(|(k, _)| k == name)
            .count();
        match req.param(name) {
            Ok(None) => prop_assert_eq!(count, 0),
            Ok(Some(_)) => prop_assert_eq!(count, 1),
            Err(_) => prop_assert!(count > 1),
        }
    }

    /// Paths guichet accepts hold no dot segment, no backslash, no control character and no
    /// empty segment, even after one more decoding (what a double-decoding upstream does).
    #[test]
    fn normalized_paths_have_no_dot_segments(raw in prop_oneof![hostile_path(), "\\PC{0,40}"]) {
        if let Ok(p) = normalize_path(&raw) {
            prop_assert!(p.starts_with('/'));
            for form in [p.to_string(), percent_encoding::percent_decode_str(&p).decode_utf8_lossy().into_owned()] {
                prop_assert!(!form.contains('\\'), "{:?} -> {:?}", raw, form);
                prop_assert!(!form.chars().any(char::is_control), "{:?} -> {:?}", raw, form);
                prop_assert!(!form.split('/').any(|s| s == "." || s == ".."), "{:?} -> {:?}", raw, form);
            }
            prop_assert!(!p.contains("//"));
        }
    }

    /// `return_to` is either `/` or the candidate itself, and a browser resolving it against
    /// the public URL stays on the origin and outside guichet's own paths.
    #[test]
    fn return_to_stays_on_the_origin(candidate in prop_oneof![
        hostile_path(),
        "\\PC{0,40}",
        (prop::sample::select(vec!["/", "//", "/\\", "\\", "https:", "javascript:", " /", "\t/", "/\t/"]),
         "[a-zA-Z0-9./%:@?#\\\\-]{0,30}").prop_map(|(a, b)| format!("{a}{b}")),
    ]) {
        let out = safe_return_to(Some(&candidate), PREFIX);
        prop_assert!(out == "/" || out == candidate);
        prop_assert!(out.starts_with('/') && !out.starts_with("//") && !out.starts_with("/\\"));
        let base = url::Url::parse(PUBLIC_URL).unwrap();
        let resolved = base.join(out).expect("joins");
        prop_assert_eq!(resolved.origin(), base.origin(), "{:?}", out);
        prop_assert!(
            !resolved.path().to_ascii_lowercase().starts_with(PREFIX),
            "{:?} resolves to {}", out, resolved
        );
    }

    /// Cookie lookup never panics and returns a value without separators; removing guichet's
    /// cookies keeps every other pair, in order, and leaves none of guichet's.
    #[test]
    fn cookies_parse_and_guichet_s_are_always_stripped(
        values in prop::collection::vec(
            prop_oneof![
                header_bytes(),
                (prop::sample::select(vec!["__Host-guichet", "__Host-guichet-login", "guichet", " __Host-guichet", "app"]),
                 "[ -~]{0,30}").prop_map(|(n, v)| format!("{n}={v}").into_bytes()),
            ],
            0..4,
        ),
    ) {
        let w = world();
        let mut headers = HeaderMap::new();
        let mut head = RequestHeader::build("GET", b"/", None).unwrap();
        for v in &values {
            let v = HeaderValue::from_bytes(v).unwrap();
            headers.append(http::header::COOKIE, v.clone());
            head.append_header("Cookie", v).unwrap();
        }
        if let Some(v) = cookie_value(&headers, w.gateway.cookies().session) {
            prop_assert!(!v.contains(';'));
        }
        w.hygiene.strip_own_cookies(&mut head);
        let pairs = |h: &HeaderMap| -> Vec<String> {
            h.get_all(http::header::COOKIE)
                .iter()
                .flat_map(|v| v.as_bytes().split(|b| *b == b';').map(|p| String::from_utf8_lossy(p.trim_ascii()).into_owned()).collect::<Vec<_>>())
                .filter(|p| !p.is_empty())
                .collect()
        };
        let own = [w.gateway.cookies().session, w.gateway.cookies().login];
        let is_own = |p: &String| own.contains(&p.split('=').next().unwrap_or(p).trim());
        let after = pairs(&head.headers);
        prop_assert!(!after.iter().any(is_own), "{:?}", after);
        let expected: Vec<String> = pairs(&headers).into_iter().filter(|p| !is_own(p)).collect();
        prop_assert_eq!(after, expected);
    }

    /// No client header guichet owns survives stripping, whatever its case, `_` or copies.
    #[test]
    fn stripped_requests_keep_no_identity_header(
        headers in prop::collection::vec((header_name(), header_value()), 0..12),
    ) {
        let w = world();
        let mut head = RequestHeader::build("GET", b"/", None).unwrap();
        for (name, value) in &headers {
            if let Ok(n) = HeaderName::from_bytes(name.as_bytes()) {
                head.append_header(n, value.clone()).unwrap();
            }
        }
        w.hygiene.strip_incoming(&mut head);
        for name in head.headers.keys() {
            prop_assert!(!forbidden(name.as_str()), "{} survived", name);
        }
        let kept = headers.iter().filter(|(n, _)| !forbidden(n) && HeaderName::from_bytes(n.as_bytes()).is_ok()).count();
        prop_assert_eq!(head.headers.len(), kept);
    }

    /// The client address from an `X-Forwarded-For` chain is the peer or an address of the
    /// chain, and never one written left of an untrusted hop.
    #[test]
    fn forwarded_chains_give_the_rightmost_untrusted_address(
        peer in any::<[u8; 4]>(),
        entries in prop::collection::vec(prop_oneof![
            any::<[u8; 4]>().prop_map(|o| IpAddr::from(o).to_string()),
            Just("10.0.0.1".to_string()),
            Just("10.9.9.9:443".to_string()),
            Just("[::ffff:10.0.0.2]".to_string()),
            Just("unknown".to_string()),
            Just("".to_string()),
            // Anything printable but the separator.
            "[ -+\\--~]{0,12}",
        ], 0..40),
    ) {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer = IpAddr::from(peer);
        let joined = entries.join(",");
        let ip = client_ip_from_chain(peer, std::iter::once(joined.as_bytes()), &trusted);
        let parsed: Vec<Option<IpAddr>> = entries.iter().map(|e| parse_like_guichet(e)).collect();
        prop_assert!(ip == peer || parsed.contains(&Some(ip)), "{} from {:?}", ip, entries);
        // Walking from the right: every entry right of the answer was a trusted address.
        if ip != peer {
            let at = parsed.iter().rposition(|p| *p == Some(ip)).unwrap();
            for right in &parsed[at + 1..] {
                prop_assert!(matches!(right, Some(a) if trusted.iter().any(|n| n.contains(a))));
            }
        }
    }

    /// Claims from a provider either fail with a reason or are clean text.
    #[test]
    fn claims_are_whitelisted_or_refused(
        given in prop_oneof![Just(serde_json::Value::Null), any::<i64>().prop_map(serde_json::Value::from), "\\PC{0,300}".prop_map(serde_json::Value::from), ".{0,40}".prop_map(serde_json::Value::from)],
        birthdate in "\\PC{0,12}",
        sub in ".{0,80}",
    ) {
        let claims = serde_json::json!({"sub": sub, "given_name": given, "birthdate": birthdate});
        for flavour in [guichet::vocab::Flavour::FranceConnectV2, guichet::vocab::Flavour::MConnect, guichet::vocab::Flavour::Generic] {
            if let Ok(identity) = Identity::from_provider(flavour, &[claims.as_object().unwrap()]) {
                for (spec, value) in identity.iter() {
                    prop_assert!(!value.chars().any(char::is_control), "{}: {:?}", spec.name, value);
                    prop_assert!(value.len() <= 4096, "{}", spec.name);
                }
            }
        }
    }

    /// Every encoding makes a valid header value without CR, LF or NUL, and decodes back.
    #[test]
    fn header_encodings_round_trip(value in "\\PC{0,60}") {
        for encoding in [HeaderEncoding::Percent, HeaderEncoding::Utf8, HeaderEncoding::Base64url, HeaderEncoding::Latin1] {
            let Some(v) = encode(&value, encoding) else {
                prop_assert!(value.chars().any(char::is_control));
                continue;
            };
            prop_assert!(!v.as_bytes().iter().any(|b| matches!(b, b'\r' | b'\n' | 0)));
            let back = decode(v.as_bytes(), encoding);
            prop_assert_eq!(back.as_deref(), Some(value.as_str()));
        }
    }

    /// What passes as `Host` names a host and a port, nothing else.
    #[test]
    fn host_values_are_authorities_only(raw in prop_oneof![header_bytes(), "[a-z0-9.:@/\\[\\]% -]{0,20}".prop_map(String::into_bytes)]) {
        if is_authority(&raw) {
            prop_assert!(!raw.iter().any(|b| b"@/\\ ?#\t".contains(b) || *b >= 0x80), "{:?}", String::from_utf8_lossy(&raw));
            // Whatever a URL parser makes of it (some reject `08` as a bad octal address), it
            // can never move into the path or the credentials.
            let text = format!("http://{}/x", String::from_utf8_lossy(&raw));
            if let Ok(url) = url::Url::parse(&text) {
                prop_assert_eq!(url.path(), "/x");
                prop_assert!(url.username().is_empty() && url.password().is_none());
            }
        }
    }
}

/// The address an `X-Forwarded-For` entry names, parsed like guichet (for the property).
fn parse_like_guichet(e: &str) -> Option<IpAddr> {
    let s = e.trim();
    s.parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            s.strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|r| r.parse().ok())
        })
        .map(|ip: IpAddr| ip.to_canonical())
}

/// Pieces of raw request-targets: the hostile path pieces, the routes to bypass, and what
/// makes a target something else than origin-form.
fn raw_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec!["/", "/", "/renforce/", "/eleve/", "/etat-civil/", "/public/", "/api/"])
            .prop_map(String::from),
        2 => "[a-z0-9._-]{1,6}",
        3 => path_piece(),
        2 => prop::sample::select(vec![
            "renforce", "eleve", "etat-civil", "public", "%72enforce", "RENFORCE", "%2572",
            ";", "%3b", "%20", "%3f", "%23", "#", "?", "?x=/renforce/", ".", "..", "*", ":",
            "@", "%", "~", "[", "]", "|", "^", "{", "\"", " ",
        ])
        .prop_map(String::from),
    ]
}

/// A raw request-target: origin-form or not, absolute-form to the public host or another,
/// authority-form, asterisk, or printable noise. `{HOST}` stands for the public host.
fn raw_target() -> impl Strategy<Value = String> {
    let prefix = prop::sample::select(vec![
        "",
        "//",
        "http://{HOST}",
        "https://{HOST}",
        "HTTP://{HOST}",
        "http://{HOST}/",
        "http://evil.example/",
        "http://user@{HOST}/",
        "{HOST}",
        "*",
        "a:b/",
        "ftp://{HOST}/",
    ]);
    prop_oneof![
        6 => prop::collection::vec(raw_piece(), 1..6)
            .prop_map(|pieces| format!("/{}", pieces.join(""))),
        3 => (prefix, prop::collection::vec(raw_piece(), 0..6))
            .prop_map(|(p, pieces)| format!("{p}{}", pieces.join(""))),
        1 => "[!-~]{0,24}",
    ]
}

/// Raw request lines (method, target, `Host`, a session or none) sent on a socket to a running
/// guichet in front of Python's http.server routing like Werkzeug ([`common::lenient`]):
/// guichet never answers 500 and stays up; whatever reaches the upstream is an origin-form,
/// canonical target, and under every way an upstream may read it, the route it names is open
/// to the session used (none, eIDAS 1 or 2) and receives only its claims.
///
/// A test with its own runner (not `proptest!`), so that the gateway and the upstream it
/// starts are stopped at the end. Cases: `PROPTEST_CASES` (256 by default), at most 20000
/// (each is a request through two processes).
#[test]
fn raw_request_lines_are_judged_as_they_are_forwarded() {
    use proptest::test_runner::{Config as RunnerConfig, FileFailurePersistence, TestRunner};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let upstream = LenientUpstream::start();
    let (h, sessions) = runtime.block_on(async {
        let h = common::Harness::with(common::Setup {
            also: vec![guichet::demo::provider::Flavour::FranceConnectPlus],
            extra_toml: lenient::ROUTES_TOML.into(),
            upstream_url: Some(upstream.url()),
            ..common::Setup::default()
        })
        .await;
        let eidas1 = h
            .browser()
            .login_at(&h, "demo", "elodie", "/public/x")
            .await;
        let eidas2 = h
            .browser()
            .login_at(&h, "fc-plus", "angela", "/public/x")
            .await;
        let sessions = vec![
            (0u8, None),
            (1u8, Some(eidas1.session_cookie())),
            (2u8, Some(eidas2.session_cookie())),
        ];
        (h, sessions)
    });
    let host = h.url.trim_start_matches("http://").to_string();
    let routes = lenient::routes(false);
    let base = RunnerConfig::default();
    let config = RunnerConfig {
        cases: base.cases.min(20_000),
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..base
    };
    let strategy = (
        prop::sample::select(vec!["GET", "POST", "HEAD", "OPTIONS", "PUT"]),
        raw_target(),
        0..sessions.len(),
        prop_oneof![8 => Just("{HOST}"), 1 => Just("evil.example"), 1 => Just("localhost")],
    );
    let (served, answered) = (std::cell::Cell::new(0u32), std::cell::Cell::new(0u32));
    let result =
        TestRunner::new(config).run(&strategy, |(method, target, session, host_header)| {
            let target = target.replace("{HOST}", &host);
            let (level, cookie) = &sessions[session];
            let mut lines = format!("Host: {}\r\n", host_header.replace("{HOST}", &host));
            if let Some(c) = cookie {
                lines.push_str(&format!("Cookie: {c}\r\n"));
            }
            let response = runtime.block_on(common::raw_request(
                &h.url,
                method,
                target.as_bytes(),
                &lines,
            ));
            prop_assert_ne!(
                response.status,
                500,
                "{} {:?}: {}",
                method,
                target,
                response.head
            );
            answered.set(answered.get() + 1);
            if response.header("x-lenient-upstream") == Some("1") {
                served.set(served.get() + 1);
                let seen = Seen::from_body(&response.body);
                // HEAD answers have no body: what matters was checked on the other methods.
                let Some(seen) = seen else {
                    prop_assert_eq!(method, "HEAD");
                    return Ok(());
                };
                let (path, _) = seen.target.split_once('?').unwrap_or((&seen.target, ""));
                prop_assert!(
                    matches!(normalize_path(path), Ok(std::borrow::Cow::Borrowed(_))),
                    "{} {:?}: the upstream received {:?}",
                    method,
                    target,
                    seen.target
                );
                prop_assert_eq!(seen.header("host"), Some(host.as_str()));
                if let Some(why) = lenient::bypass(&routes, &seen, *level) {
                    prop_assert!(false, "{} {:?} (eidas{}): {}", method, target, level, why);
                }
            }
            Ok(())
        });
    // guichet is still up: a plain request is answered.
    let alive = runtime.block_on(common::raw_request(
        &h.url,
        "GET",
        b"/public/alive",
        &format!("Host: {host}\r\n"),
    ));
    assert_eq!(alive.status, 200, "{}", alive.head);
    drop(h);
    drop(runtime);
    if let Err(e) = result {
        panic!("{e}");
    }
    // Not a vacuous run: a fair share of the cases reached the application.
    eprintln!(
        "{} of {} raw requests reached the upstream",
        served.get(),
        answered.get()
    );
    assert!(
        served.get() * 10 >= answered.get(),
        "{} of {}",
        served.get(),
        answered.get()
    );
}
