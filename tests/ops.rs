//! What operators see: metrics after logins and failures (by provider, identity provider and
//! level), the evidence log (every event, request ids, nothing personal, nothing lost on a
//! clean shutdown), request ids up to the application, HSTS over https.

mod common;

use common::*;
use guichet::demo::citizens;
use guichet::demo::provider::{Faults, Flavour};
use reqwest::StatusCode;
use serde_json::Value;

/// FranceConnect (eidas1), FranceConnect+ and MConnect; `/renforce` needs eidas2.
fn three_providers(log_filter: &'static str) -> Setup {
    Setup {
        also: vec![Flavour::FranceConnectPlus, Flavour::MConnect],
        extra_toml: "[[routes]]\npath = \"/renforce\"\nmin_level = \"eidas2\"\n".into(),
        log_filter,
        // The full identity (e-mail, usage name, idp_id, amr...) must stay out of the logs.
        rich_identity: true,
        ..Setup::default()
    }
}

/// The value of the metric line starting with `series` (labels in Prometheus' sorted order).
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_logins_by_provider_idp_and_level() {
    let h = Harness::with(three_providers("info")).await;
    // Two FranceConnect logins, one FranceConnect+ step-up, one MConnect login refused
    // (suspended identity), one cancelled at FranceConnect, one forged callback.
    for _ in 0..2 {
        let b = h.browser();
        let landed = b.login_at(&h, "demo", "elodie", "/").await;
        assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    }
    let b = h.browser();
    b.login_at(&h, "demo", "elodie", "/").await;
    let r = b.get(&format!("{}/renforce/", h.url)).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let landed = b
        .follow_as(
            &format!(
                "{}/.guichet/login?provider=fc-plus&level=eidas2&return_to=/renforce/",
                h.url
            ),
            "elodie",
        )
        .await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    let landed = h.browser().login_at(&h, "mconnect", "suspendu", "/").await;
    assert_eq!(landed.status, StatusCode::FORBIDDEN);
    h.set_faults(Faults {
        authorize_error: Some("access_denied".into()),
        ..Faults::default()
    });
    let landed = h.browser().login_at(&h, "demo", "elodie", "/").await;
    assert_eq!(landed.status, StatusCode::FORBIDDEN);
    assert!(landed.body.contains("Connexion annulée"));
    let r = h
        .browser()
        .get(&format!(
            "{}/.guichet/callback?code=x&state={}",
            h.url,
            "ab".repeat(32)
        ))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    let m = h.metrics().await;
    let logins = |labels: &str| metric(&m, &format!("guichet_logins_total{{{labels}}}"));
    let idp = guichet::demo::provider::IDP_ID;
    assert_eq!(
        logins(&format!(
            "idp=\"{idp}\",level=\"eidas1\",outcome=\"success\",provider=\"demo\",reason=\"ok\""
        )),
        Some(3.0),
        "{m}"
    );
    assert_eq!(
        logins("idp=\"unknown\",level=\"eidas2\",outcome=\"success\",provider=\"fc-plus\",reason=\"ok\"")
            .or_else(|| logins(&format!("idp=\"{idp}\",level=\"eidas2\",outcome=\"success\",provider=\"fc-plus\",reason=\"ok\""))),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        logins("idp=\"unknown\",level=\"eidas2\",outcome=\"failure\",provider=\"mconnect\",reason=\"identity_not_active\""),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        logins("idp=\"unknown\",level=\"eidas1\",outcome=\"failure\",provider=\"demo\",reason=\"access_denied\""),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        logins("idp=\"unknown\",level=\"none\",outcome=\"failure\",provider=\"unknown\",reason=\"state_unknown\""),
        Some(1.0),
        "{m}"
    );
    let series = |s: &str| metric(&m, s);
    assert_eq!(
        series("guichet_logins_started_total{level=\"eidas1\",provider=\"demo\"}"),
        Some(4.0),
        "{m}"
    );
    assert_eq!(
        series("guichet_logins_started_total{level=\"eidas2\",provider=\"fc-plus\"}"),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        series("guichet_step_ups_total{level=\"eidas2\",outcome=\"required\"}"),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        series("guichet_step_ups_total{level=\"eidas2\",outcome=\"success\"}"),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        series("guichet_http_requests_total{route=\"callback\",status=\"400\"}"),
        Some(1.0),
        "{m}"
    );
    assert!(
        series("guichet_http_requests_total{route=\"browser\",status=\"2xx\"}").unwrap_or(0.0)
            >= 4.0,
        "{m}"
    );
    assert!(
        series("guichet_upstream_response_duration_seconds_count{route=\"browser\"}")
            .unwrap_or(0.0)
            >= 4.0,
        "{m}"
    );
    assert!(
        series("guichet_http_request_duration_seconds_count{route=\"login\",status=\"3xx\"}")
            .unwrap_or(0.0)
            >= 1.0,
        "{m}"
    );
    assert_eq!(
        series("guichet_provider_request_duration_seconds_count{call=\"token\",provider=\"demo\"}"),
        Some(3.0),
        "{m}"
    );
    assert_eq!(series("guichet_provider_request_duration_seconds_count{call=\"userinfo\",provider=\"fc-plus\"}"), Some(1.0), "{m}");
    assert!(
        series("guichet_jwks_refreshes_total{provider=\"fc-plus\",result=\"success\"}")
            .unwrap_or(0.0)
            >= 1.0,
        "{m}"
    );
    assert_eq!(series("guichet_providers_ready"), Some(3.0), "{m}");
    assert_eq!(series("guichet_audit_write_errors_total"), Some(0.0), "{m}");
    assert!(m.contains("guichet_build_info{version=\""), "{m}");
    // Label values stay within their sets.
    for line in m
        .lines()
        .filter(|l| l.starts_with("guichet_http_requests_total{"))
    {
        let route = line
            .split("route=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap();
        assert!(guichet::metrics::ROUTE_CLASSES.contains(&route), "{line}");
    }
}

/// Everything that must never be written to a log, for one citizen and one provider.
fn forbidden(c: &citizens::Citizen) -> Vec<String> {
    let mut v: Vec<String> = [
        c.given_name,
        c.family_name,
        c.birthdate,
        c.email,
        c.birthplace,
        c.preferred_username,
    ]
    .iter()
    .filter(|s| s.len() > 3)
    .map(|s| s.to_string())
    .collect();
    // The forms they travel in: percent-encoded header values, given names one by one.
    for s in [c.given_name, c.family_name] {
        v.push(
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
                .to_string(),
        );
        v.extend(
            s.split([' ', '-'])
                .filter(|p| p.len() > 3)
                .map(String::from),
        );
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_personal_data_or_token_in_any_log() {
    // Debug logging: the most guichet ever writes.
    let h = Harness::with(three_providers("debug")).await;
    let b = h.browser();
    let mut secrets: Vec<String> = Vec::new();
    let landed = b.login_at(&h, "demo", "jean-philippe", "/").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    secrets.push(landed.session_cookie());
    let auth = h.stack.mock.last_authorize_params().unwrap();
    secrets.extend([auth["state"].clone(), auth["nonce"].clone()]);
    // Step-up to FranceConnect+ (JWE id_token and userinfo).
    let r = b.get(&format!("{}/renforce/dossier", h.url)).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let landed = b
        .follow_as(
            &format!(
                "{}/.guichet/login?provider=fc-plus&level=eidas2&return_to=%2Frenforce%2Fdossier",
                h.url
            ),
            "jean-philippe",
        )
        .await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    assert!(landed.url.ends_with("/renforce/dossier"));
    secrets.push(landed.session_cookie());
    let plus = h.stack.mock_for(Flavour::FranceConnectPlus).unwrap();
    let auth = plus.last_authorize_params().unwrap();
    secrets.extend([auth["state"].clone(), auth["nonce"].clone()]);
    secrets.extend(
        landed
            .set_cookies
            .iter()
            .filter_map(|c| c.split(';').next())
            .filter_map(|c| c.split_once('=').map(|(_, v)| v.to_string()))
            .filter(|v| v.len() > 16),
    );
    // Logout through the provider.
    let landed = b.follow(&format!("{}/.guichet/logout", h.url)).await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    let end = plus.last_end_session_params().unwrap();
    secrets.extend([end["state"].clone(), end["id_token_hint"].clone()]);
    // Everything the providers issued, what guichet sent the application, the secrets.
    for mock in std::iter::once(&h.stack.mock).chain(h.stack.others.iter()) {
        secrets.extend(mock.issued());
        secrets.push(mock.client_secret().to_string());
    }
    for r in h.stack.echo.requests() {
        if let Some(a) = r.header_str("x-guichet-assertion") {
            secrets.push(a.to_string());
        }
    }
    let key = std::fs::read_to_string(h.dir.path().join("encryption-key.pem")).unwrap();
    secrets.extend(key.lines().filter(|l| l.len() > 40).map(String::from));
    assert!(secrets.len() > 15, "{secrets:?}");
    let jp = citizens::find("jean-philippe").unwrap();
    let personal = forbidden(jp);

    let stderr = h.logs();
    let audit = h.gateway.audit_text();
    assert!(stderr.contains("DEBUG"), "debug logging expected");
    for s in secrets.iter().chain(personal.iter()) {
        if let Some(line) = stderr.lines().find(|l| l.contains(s.as_str())) {
            panic!("{s:?} in stderr: {}", &line[..line.len().min(400)]);
        }
        assert!(!audit.contains(s.as_str()), "{s:?} in the evidence log");
    }
    // The pseudonymous sub is in the evidence log only.
    let sub = jp.sub(h.stack.mock.client_id());
    assert!(audit.contains(&sub));
    assert!(!stderr.contains(&sub), "sub in stderr");

    // Every event is there, with its request id, client address and time.
    let events: Vec<Value> = h.audit();
    let kinds: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e["event"].as_str().unwrap(), e["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("login", "success"),
            ("step_up", "required"),
            ("login", "success"),
            ("logout", "success"),
        ],
        "{events:?}"
    );
    for e in &events {
        assert_eq!(e["client_ip"], "127.0.0.1");
        assert_eq!(e["request_id"].as_str().map(str::len), Some(32), "{e}");
        assert!(e["time"].as_str().unwrap().ends_with('Z'));
    }
    assert_eq!(events[1]["required_level"], "eidas2");
    assert_eq!(events[1]["level"], "eidas1");
    assert_eq!(events[2]["level"], "eidas2");
    assert_eq!(events[2]["provider"], "fc-plus");
    assert_eq!(events[2]["required_level"], "eidas2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_reach_the_upstream_and_the_evidence_log() {
    let h = Harness::start().await;
    // A client's own X-Request-Id is not believed (no trusted proxy).
    let b = Browser::with_headers(&[("x-request-id", "forged-by-client")]);
    let r = b.get(&format!("{}/public/", h.url)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let seen = h.stack.echo.last_request().unwrap();
    let id = seen.header_str("x-request-id").unwrap().to_string();
    assert_eq!(id.len(), 32, "{id}");
    assert_eq!(seen.header_all("x-request-id").len(), 1);
    // Each request gets its own.
    b.get(&format!("{}/public/", h.url)).await;
    assert_ne!(
        h.stack
            .echo
            .last_request()
            .unwrap()
            .header_str("x-request-id")
            .unwrap(),
        id
    );

    // guichet's own answers carry theirs; the evidence line of the callback has the same.
    let url = b.start_login(&h, "elodie").await;
    let r = b.get(&url).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let callback_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let login = h
        .audit()
        .into_iter()
        .find(|e| e["event"] == "login")
        .unwrap();
    assert_eq!(login["request_id"], callback_id.as_str());
    // An error page shows its end as a short reference (a browser that is not logged in:
    // a logged-in one goes back to its page).
    let r = h
        .browser()
        .get(&format!("{}/.guichet/callback?error=access_denied", h.url))
        .await;
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let page = r.text().await.unwrap();
    assert!(
        page.contains(&format!("<code>{}</code>", &id[24..])),
        "{page}"
    );
    assert!(!page.contains(&id));
    // No HSTS over http.
    let r = b.get(&format!("{}/.guichet/login", h.url)).await;
    assert!(r.headers().get("strict-transport-security").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxy_sets_the_request_id() {
    let h = Harness::with(Setup {
        server_toml: "trusted_proxies = [\"127.0.0.1/32\"]".into(),
        ..Setup::default()
    })
    .await;
    let b = Browser::with_headers(&[("x-request-id", "ingress-42.a_b:c")]);
    b.get(&format!("{}/public/", h.url)).await;
    let seen = h.stack.echo.last_request().unwrap();
    assert_eq!(seen.header_str("x-request-id"), Some("ingress-42.a_b:c"));
    // A malformed one is replaced.
    let b = Browser::with_headers(&[("x-request-id", "has space")]);
    b.get(&format!("{}/public/", h.url)).await;
    let seen = h.stack.echo.last_request().unwrap();
    assert_eq!(seen.header_str("x-request-id").map(str::len), Some(32));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_lines_survive_a_clean_shutdown() {
    let mut h = Harness::start().await;
    let b = h.browser();
    for _ in 0..3 {
        b.login(&h, "elodie", "/").await;
    }
    b.follow(&format!("{}/.guichet/logout", h.url)).await;
    let status = h
        .gateway
        .terminate()
        .expect("guichet did not stop on SIGTERM");
    assert!(status.success(), "{status}");
    let text = h.gateway.audit_text();
    assert!(text.ends_with('\n'));
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let logins = events.iter().filter(|e| e["event"] == "login").count();
    assert_eq!(logins, 3);
    assert_eq!(events.last().unwrap()["event"], "logout");
    assert!(events.iter().all(|e| e["request_id"].is_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_public_urls_get_hsts_on_guichets_own_answers() {
    // The browser still talks plain HTTP on loopback; TLS would end at an ingress.
    let mut h = Harness::start().await;
    let port = h.url.rsplit(':').next().unwrap().to_string();
    h.restart_with(|t| {
        t.replace(
            &format!("public_url = \"http://127.0.0.1:{port}\""),
            &format!("public_url = \"https://127.0.0.1:{port}\""),
        )
    })
    .await;
    let b = h.browser();
    for path in ["/.guichet/login", "/.guichet/nope", "/"] {
        let r = b.get(&format!("{}{path}", h.url)).await;
        assert_eq!(
            r.headers()
                .get("strict-transport-security")
                .and_then(|v| v.to_str().ok()),
            Some("max-age=31536000"),
            "{path}"
        );
    }
}

/// Every metric the Grafana dashboard (`dashboards/guichet.json`) plots exists.
#[test]
fn the_dashboard_plots_only_metrics_that_exist() {
    use prometheus::core::Collector;
    let m = guichet::metrics::Metrics::new();
    let one = ["x"; 5];
    for v in [
        &m.requests,
        &m.upstream_errors,
        &m.logins_started,
        &m.logins,
        &m.step_ups,
        &m.logouts,
        &m.sessions_expired,
        &m.jwks_refreshes,
        &m.throttled,
        &m.throttle_blocks,
        &m.audit_dropped,
    ] {
        let n = v.desc()[0].variable_labels.len();
        v.with_label_values(&one[..n]).inc();
    }
    for h in [
        &m.request_duration,
        &m.upstream_duration,
        &m.provider_duration,
    ] {
        let n = h.desc()[0].variable_labels.len();
        h.with_label_values(&one[..n]).observe(0.1);
    }
    let text = m.render();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/dashboards/guichet.json");
    let dashboard = std::fs::read_to_string(path).expect("dashboard");
    let parsed: Value = serde_json::from_str(&dashboard).expect("dashboard JSON");
    assert_eq!(parsed["uid"], "guichet-overview");
    let mut checked = 0;
    for (i, _) in dashboard.match_indices("guichet_") {
        let name: String = dashboard[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if name == "guichet_" || name.starts_with("guichet_overview") {
            continue;
        }
        assert!(
            text.contains(&format!("\n{name}{{")) || text.contains(&format!("\n{name} ")),
            "the dashboard plots {name}, which guichet does not export"
        );
        checked += 1;
    }
    assert!(checked > 20, "{checked}");
}
