//! Forms kept across a login (`preserve_post`, issue 19, R28): a citizen whose session ended
//! posts a form, logs in again, and the application receives the same POST once, with the new
//! session's identity. Real HTTP over loopback against the real binary; the replay page is
//! read and submitted the way a browser does (`common::forms`; `tests/browser.rs` does it
//! in Chromium). Redis tests start `redis-server` (installed by `make test`).

mod common;

use common::forms::{post, post_with, replay_form, Field};
use common::redis::RedisServer;
use common::*;
use guichet::demo::citizens;
use reqwest::cookie::CookieStore;
use reqwest::StatusCode;
use std::time::{Duration, Instant};

const URLENCODED: &str = "application/x-www-form-urlencoded";

/// What a browser sends for a filled form: the application's CSRF token first, accents,
/// line breaks, a repeated name, the clicked button's name.
const BODY: &str = "csrf=T0K3N-app&nom=%C3%89lodie+Dupont-M%C3%BCller&enfant=Lou&enfant=Sacha\
&commentaire=ligne+1%0D%0Aligne+2+%26+%3Cb%3Egras%3C%2Fb%3E&vide=&action=envoyer";

fn sub_of(h: &Harness, citizen: &str) -> String {
    citizens::find(citizen)
        .expect("citizen")
        .sub(h.stack.mock.client_id())
}

/// Logs `citizen` in with `b`, then ends the session the way "logged out in another tab"
/// does: the session is deleted in the store, the browser keeps its cookies.
async fn login_then_lose_the_session(h: &Harness, b: &Browser, citizen: &str) {
    let landed = b.login(h, citizen, "/").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    assert!(
        landed
            .set_cookies
            .iter()
            .any(|c| c.starts_with("guichet-author=")),
        "no author mark: {:?}",
        landed.set_cookies
    );
    let cookie = landed.session_cookie();
    let r = get_with_cookie(&format!("{}/.guichet/logout", h.url), &cookie).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let r = b.get(&format!("{}/whoami", h.url)).await;
    assert_eq!(r.status(), StatusCode::FOUND, "the session is still alive");
}

/// Posts `BODY` to `path` as a page of this site does; asserts it was kept and returns the
/// login URL it was sent to.
async fn post_kept(h: &Harness, b: &Browser, path: &str, body: &str) -> String {
    let r = post(
        b,
        &format!("{}{path}", h.url),
        URLENCODED,
        body.into(),
        &h.url,
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "form not kept");
    let to = location(&r);
    let q = query(&format!("{}{to}", h.url));
    assert!(to.starts_with("/.guichet/login?"), "{to}");
    assert_eq!(q["return_to"], path);
    assert!(
        q["form"].len() == 64 && q["form"].bytes().all(|c| c.is_ascii_hexdigit()),
        "{q:?}"
    );
    format!("{}{to}", h.url)
}

/// Follows the login started by a kept form as `citizen`; returns where it landed.
async fn login_for_form(b: &Browser, login_url: &str, citizen: &str) -> Landed {
    let callback = callback_of(b, login_url, citizen).await;
    b.follow(&callback).await
}

fn upstream_saw_path(h: &Harness, path: &str) -> bool {
    h.stack.echo.requests().iter().any(|r| r.path == path)
}

fn metric(text: &str, outcome: &str) -> u64 {
    let line = format!("guichet_kept_forms_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&line))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_posted_after_the_session_ended_reaches_the_app_once_after_the_new_login() {
    let h = Harness::start().await;
    let b = h.browser();
    login_then_lose_the_session(&h, &b, "elodie").await;
    // The application's own cookie (its CSRF token), set on its form page.
    b.jar
        .add_cookie_str("app_csrf=T0K3N-app; Path=/", &h.url.parse().unwrap());

    let login = post_kept(&h, &b, "/demarches/acte?etape=2", BODY).await;
    assert!(
        !upstream_saw_path(&h, "/demarches/acte"),
        "forwarded without a session"
    );

    // The login, then the replay page (not the POST's URL).
    let landed = login_for_form(&b, &login, "elodie").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    assert!(
        landed.url.contains("/.guichet/replay?form="),
        "{}",
        landed.url
    );
    assert!(landed.body.contains("Votre formulaire va être envoyé"));
    assert!(landed.body.contains("<script nonce="));
    let form = replay_form(&landed.body).expect("a form on the replay page");
    assert_eq!(form.action, "/demarches/acte?etape=2");
    assert_eq!(form.enctype, URLENCODED);
    // Encoded again by the browser: the same bytes.
    assert_eq!(form.encode().1, BODY.as_bytes());
    assert!(!upstream_saw_path(&h, "/demarches/acte"));

    // The browser posts it: the application sees an ordinary authenticated POST.
    let r = form.submit(&b, &h.url).await;
    assert_eq!(r.status(), StatusCode::OK);
    let seen = h.stack.echo.last_request().expect("upstream request");
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path, "/demarches/acte");
    assert_eq!(seen.query.as_deref(), Some("etape=2"));
    assert_eq!(seen.body, BODY.as_bytes());
    assert_eq!(seen.header_str("content-type"), Some(URLENCODED));
    assert_eq!(
        seen.header_str("x-pivot-sub"),
        Some(sub_of(&h, "elodie").as_str())
    );
    let cookies = seen.header_str("cookie").unwrap_or_default();
    assert!(cookies.contains("app_csrf=T0K3N-app"), "{cookies}");
    assert!(!cookies.contains("guichet"), "{cookies}");
    h.assert_assertions_verified();

    // Once: a reload (or back) of the replay page gets "already sent", nothing is sent.
    let before = h.stack.echo.requests().len();
    let again = b.get(&landed.url).await;
    assert_eq!(again.status(), StatusCode::GONE);
    let text = again.text().await.unwrap();
    assert!(text.contains("Formulaire déjà envoyé ou expiré"), "{text}");
    assert!(replay_form(&text).is_none());
    assert_eq!(h.stack.echo.requests().len(), before);

    let m = h.metrics().await;
    assert_eq!(metric(&m, "kept"), 1, "{m}");
    assert_eq!(metric(&m, "replayed"), 1, "{m}");
    assert_eq!(metric(&m, "gone"), 1, "{m}");
    // The form is personal data: none of it in guichet's logs or evidence log.
    let logs = format!("{}{:?}", h.logs(), h.audit());
    for secret in ["T0K3N", "Dupont", "Lou", "ligne", "gras"] {
        assert!(!logs.contains(secret), "{secret} logged");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_citizen_logging_in_does_not_get_the_form() {
    let h = Harness::start().await;
    let b = h.browser();
    login_then_lose_the_session(&h, &b, "elodie").await;
    let login = post_kept(&h, &b, "/demarches/acte", BODY).await;
    // Someone else logs in on this browser.
    let landed = login_for_form(&b, &login, "jean-philippe").await;
    assert_eq!(landed.status, StatusCode::FORBIDDEN, "{}", landed.body);
    assert!(
        landed.body.contains("Formulaire non envoyé"),
        "{}",
        landed.body
    );
    assert!(landed.body.contains("une autre personne"));
    assert!(replay_form(&landed.body).is_none());
    assert!(!landed.body.contains("Dupont"));
    assert!(!upstream_saw_path(&h, "/demarches/acte"));
    // The new citizen is logged in all the same.
    let r = b.get(&format!("{}/whoami", h.url)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        echoed_headers(&r.text().await.unwrap())["x-pivot-sub"],
        sub_of(&h, "jean-philippe")
    );
    assert_eq!(metric(&h.metrics().await, "other_citizen"), 1);
    // The same citizen again (the mark of the last login): sent.
    let r = get_with_cookie(
        &format!("{}/.guichet/logout", h.url),
        &b.login(&h, "elodie", "/").await.session_cookie(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let login = post_kept(&h, &b, "/demarches/acte", BODY).await;
    let landed = login_for_form(&b, &login, "elodie").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    assert!(replay_form(&landed.body).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_any_guichet_cookie_the_form_goes_with_the_login_it_started() {
    // A form on a public page posting to a protected one, or cookies cleared: nobody was
    // logged in on this browser, so the citizen who logs in is the one who sent it.
    let h = Harness::start().await;
    let b = h.browser();
    let login = post_kept(&h, &b, "/inscription", "email=a%40b.fr&ok=1").await;
    let landed = login_for_form(&b, &login, "ana").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    let form = replay_form(&landed.body).expect("form");
    let r = form.submit(&b, &h.url).await;
    assert_eq!(r.status(), StatusCode::OK);
    let seen = h.stack.echo.last_request().unwrap();
    assert_eq!(seen.body, b"email=a%40b.fr&ok=1");
    assert_eq!(
        seen.header_str("x-pivot-sub"),
        Some(sub_of(&h, "ana").as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_page_opens_only_in_the_browser_that_posted_and_only_once() {
    let h = Harness::start().await;
    let b = h.browser();
    login_then_lose_the_session(&h, &b, "elodie").await;
    let login = post_kept(&h, &b, "/demarches/acte", BODY).await;
    // Stop at the replay URL without opening it.
    let r = b.get(&callback_of(&b, &login, "elodie").await).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let url = format!("{}{}", h.url, location(&r));
    assert!(url.contains("/.guichet/replay?form="), "{url}");
    // Another browser with its own session, given the URL: nothing, and the form is
    // destroyed rather than shown (fail closed).
    let other = h.browser();
    assert_eq!(other.login(&h, "elodie", "/").await.status, StatusCode::OK);
    let r = other.get(&url).await;
    assert_eq!(r.status(), StatusCode::GONE);
    assert!(!r.text().await.unwrap().contains("Dupont"));
    let r = b.get(&url).await;
    assert_eq!(r.status(), StatusCode::GONE);
    // Only GET.
    let r = post(&b, &url, URLENCODED, Vec::new(), &h.url).await;
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(!upstream_saw_path(&h, "/demarches/acte"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_same_origin_forms_on_browser_routes_are_kept() {
    let h = Harness::with(Setup {
        extra_toml: "[[routes]]\npath = \"/paiement\"\npreserve_post = false\n\
                     [[routes]]\npath = \"/niveau\"\nmin_level = \"eidas1\"\n"
            .into(),
        ..Setup::default()
    })
    .await;
    let b = h.browser();
    let url = format!("{}/demarches/acte", h.url);
    let plain_redirect = |r: &reqwest::Response, what: &str| {
        assert_eq!(r.status(), StatusCode::FOUND, "{what}");
        let to = location(r);
        assert!(to.starts_with("/.guichet/login?"), "{what}: {to}");
        assert!(!to.contains("form="), "{what}: kept: {to}");
    };
    for (what, headers) in [
        (
            "cross-site",
            &[
                ("origin", "https://evil.example"),
                ("sec-fetch-site", "cross-site"),
            ][..],
        ),
        ("same-site", &[("sec-fetch-site", "same-site")][..]),
        ("foreign origin", &[("origin", "https://evil.example")][..]),
        (
            "origin of another port",
            &[("origin", "http://127.0.0.1:1")][..],
        ),
        ("opaque origin", &[("origin", "null")][..]),
        ("no origin at all", &[][..]),
    ] {
        let r = post_with(&b, &url, URLENCODED, BODY.into(), headers).await;
        plain_redirect(&r, what);
    }
    // Not a form encoding.
    for ct in ["text/plain", "application/json"] {
        let r = post(&b, &url, ct, b"{\"a\":1}".to_vec(), &h.url).await;
        plain_redirect(&r, ct);
    }
    // A route with preserve_post = false.
    let r = post(
        &b,
        &format!("{}/paiement", h.url),
        URLENCODED,
        BODY.into(),
        &h.url,
    )
    .await;
    plain_redirect(&r, "preserve_post = false");
    // API routes answer 401 as before; public routes pass without a session.
    let r = post(
        &b,
        &format!("{}/api/dossiers", h.url),
        URLENCODED,
        BODY.into(),
        &h.url,
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get("www-authenticate").is_some());
    let r = post(
        &b,
        &format!("{}/public/contact", h.url),
        URLENCODED,
        BODY.into(),
        &h.url,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(h.stack.echo.last_request().unwrap().path, "/public/contact");
    assert!(!upstream_saw_path(&h, "/demarches/acte"));
    assert!(!upstream_saw_path(&h, "/paiement"));
    assert!(!upstream_saw_path(&h, "/api/dossiers"));
    // A route that asks for a level: kept, and the login asks for that level.
    let login = post_kept(&h, &b, "/niveau/demande", BODY).await;
    assert_eq!(query(&login)["level"], "eidas1");
    let m = h.metrics().await;
    assert_eq!(metric(&m, "kept"), 1, "{m}");
    assert_eq!(metric(&m, "not_same_origin"), 6, "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_over_the_limit_or_not_replayable_get_a_page_and_nothing_is_forwarded() {
    let h = Harness::with(Setup {
        extra_toml: "[session]\npreserve_post_max_bytes = 1024\n".into(),
        ..Setup::default()
    })
    .await;
    let b = h.browser();
    let url = format!("{}/demarches/acte", h.url);
    let at_limit = format!("a={}", "x".repeat(1022));
    assert_eq!(at_limit.len(), 1024);
    post_kept(&h, &b, "/demarches/acte", &at_limit).await;

    // Announced over the limit: refused before reading.
    let over = format!("a={}", "x".repeat(1023));
    let r = post(&b, &url, URLENCODED, over.clone().into(), &h.url).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let page = r.text().await.unwrap();
    assert!(page.contains("Formulaire trop volumineux"), "{page}");
    assert!(
        page.contains("Se connecter dans un nouvel onglet"),
        "{page}"
    );
    assert!(page.contains("target=\"_blank\""));

    // Over raw connections: chunked with no length announced, read up to the limit then
    // dropped; and a length announced over the limit. Either way one answer, the page, and
    // what follows the form in the body is never taken for a request of its own.
    let addr = h.url.trim_start_matches("http://");
    let smuggled = "GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n";
    let chunk = "x".repeat(500);
    let mut chunked = String::from("6\r\nlong=x\r\n");
    for _ in 0..4 {
        chunked.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    chunked.push_str(&format!("{:x}\r\n{smuggled}\r\n0\r\n\r\n", smuggled.len()));
    let big = format!("a={}{smuggled}", "x".repeat(50_000));
    for (framing, body) in [
        ("Transfer-Encoding: chunked".to_string(), chunked),
        (format!("Content-Length: {}", big.len()), big),
    ] {
        let raw = format!(
            "POST /demarches/acte HTTP/1.1\r\nHost: {addr}\r\nOrigin: {}\r\n\
             Content-Type: {URLENCODED}\r\n{framing}\r\nConnection: close\r\n\r\n{body}",
            h.url,
        );
        let (status, head) = raw_exchange(&h.url, raw.as_bytes()).await;
        assert_eq!(status, 413, "{framing}: {head}");
        assert_eq!(head.matches("HTTP/1.1 ").count(), 1, "{framing}: {head}");
    }

    // Latin-1 (a page not in UTF-8): cannot be sent again exactly.
    let r = post(&b, &url, URLENCODED, b"nom=%C9lodie".to_vec(), &h.url).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("Formulaire non conservé"));
    assert!(!upstream_saw_path(&h, "/demarches/acte"));
    let m = h.metrics().await;
    assert_eq!(metric(&m, "too_large"), 3, "{m}");
    // Nothing after the refusals was taken for a request of its own.
    assert!(!h.stack.echo.requests().iter().any(|r| r.path == "/whoami"));
    assert_eq!(metric(&m, "not_kept"), 1, "{m}");
    assert_eq!(metric(&m, "kept"), 1, "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_form_is_never_replayed_after_login_timeout() {
    let h = Harness::with(Setup {
        extra_toml: "[session]\nlogin_timeout = \"6s\"\n".into(),
        ..Setup::default()
    })
    .await;
    let kept_at = Instant::now();
    // Two citizens post at the same time; both log in (their logins each have 6 s).
    let late_login = async {
        let b = h.browser();
        let login = post_kept(&h, &b, "/demarches/acte", BODY).await;
        // The login starts late and ends after the form's own 6 s: the form has left the
        // store with its login_timeout; the login succeeds, the form is not sent.
        sleep_until(kept_at + Duration::from_millis(3500)).await;
        let callback = callback_of(&b, &login, "elodie").await;
        sleep_until(kept_at + Duration::from_millis(6300)).await;
        let landed = b.follow(&callback).await;
        assert_eq!(landed.status, StatusCode::GONE, "{}", landed.body);
        assert!(landed.body.contains("Formulaire déjà envoyé ou expiré"));
        let r = b.get(&format!("{}/whoami", h.url)).await;
        assert_eq!(r.status(), StatusCode::OK, "the login itself went through");
    };
    let late_replay = async {
        let b = h.browser();
        let login = post_kept(&h, &b, "/demarches/acte", BODY).await;
        // The login ends in time (the form is handed to the new session, stored again for
        // another login_timeout), but the replay page is opened after 6 s from the post.
        sleep_until(kept_at + Duration::from_millis(2500)).await;
        let callback = callback_of(&b, &login, "ana").await;
        let r = b.get(&callback).await;
        assert_eq!(r.status(), StatusCode::FOUND);
        let replay = format!("{}{}", h.url, location(&r));
        assert!(replay.contains("/.guichet/replay?form="), "{replay}");
        sleep_until(kept_at + Duration::from_millis(6500)).await;
        let r = b.get(&replay).await;
        assert_eq!(r.status(), StatusCode::GONE);
    };
    tokio::join!(late_login, late_replay);
    assert!(!upstream_saw_path(&h, "/demarches/acte"));
    assert_eq!(metric(&h.metrics().await, "gone"), 2);
}

/// Starts the login of a kept form as `citizen` and returns the provider's redirect back to
/// the callback, without visiting it. The mock picks the citizen from `login_hint`, or (a
/// mock as strict as FranceConnect, which never gets one) on its interaction page, as
/// `Browser::start_login` does.
async fn callback_of(b: &Browser, login_url: &str, citizen: &str) -> String {
    let r = b.get(&format!("{login_url}&login_hint={citizen}")).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let authorize = location(&r);
    let r = b.get(&authorize).await;
    if r.status() == StatusCode::SEE_OTHER {
        let interaction = reqwest::Url::parse(&authorize)
            .and_then(|base| base.join(&location(&r)))
            .expect("interaction URL");
        let r = b
            .get(&format!("{interaction}/login?citizen={citizen}"))
            .await;
        assert_eq!(r.status(), StatusCode::FOUND, "provider");
        return location(&r);
    }
    assert_eq!(r.status(), StatusCode::FOUND, "provider");
    location(&r)
}

async fn sleep_until(t: Instant) {
    tokio::time::sleep(t.saturating_duration_since(Instant::now())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_forms_come_back_whole_files_included() {
    let h = Harness::start().await;
    let b = h.browser();
    login_then_lose_the_session(&h, &b, "elodie").await;
    let pdf = b"%PDF-1.4\n\x00\x01\x02\xff binary \r\n--not-a-boundary\r\n".to_vec();
    let fields = vec![
        ("csrf".to_string(), Field::Text("T0K3N-app".into())),
        (
            "objet".to_string(),
            Field::Text("Pièce pour « acte »\r\nmerci".into()),
        ),
        (
            "piece".to_string(),
            Field::File {
                filename: "reçu mai.pdf".into(),
                content_type: "application/pdf".into(),
                data: pdf.clone(),
            },
        ),
        (
            "autre".to_string(),
            Field::File {
                filename: String::new(),
                content_type: "application/octet-stream".into(),
                data: Vec::new(),
            },
        ),
        ("objet".to_string(), Field::Text("deuxième".into())),
    ];
    let boundary = "----WebKitFormBoundaryq2b8Xz";
    let body = common::forms::multipart(boundary, &fields);
    let ct = format!("multipart/form-data; boundary={boundary}");
    let r = post(&b, &format!("{}/demarches/piece", h.url), &ct, body, &h.url).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let landed = b
        .follow(&callback_of(&b, &format!("{}{}", h.url, location(&r)), "elodie").await)
        .await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    let form = replay_form(&landed.body).expect("form");
    assert_eq!(form.enctype, "multipart/form-data");
    assert_eq!(form.fields, fields);
    // A chosen file needs the page's script: without it the button stays disabled.
    assert!(landed.body.contains("id=\"guichet-send\" disabled"));
    let r = form.submit(&b, &h.url).await;
    assert_eq!(r.status(), StatusCode::OK);
    let seen = h.stack.echo.last_request().unwrap();
    assert_eq!(seen.path, "/demarches/piece");
    let received = guichet::forms::parse(seen.header_str("content-type").unwrap(), &seen.body)
        .expect("multipart");
    let sent = guichet::forms::parse(&ct, &common::forms::multipart(boundary, &fields)).unwrap();
    assert_eq!(received, sent);
    assert!(seen.body.windows(pdf.len()).any(|w| w == pdf.as_slice()));
    assert_eq!(
        seen.header_str("x-pivot-sub"),
        Some(sub_of(&h, "elodie").as_str())
    );
}

async fn with_redis(redis: &RedisServer) -> Harness {
    Harness::with(Setup {
        extra_toml: redis.session_toml(""),
        ..Setup::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_a_form_kept_on_one_replica_is_replayed_by_another_once() {
    let redis = RedisServer::start();
    let a = with_redis(&redis).await;
    let b_replica = a.replica("b").await;
    let b = a.browser();
    login_then_lose_the_session(&a, &b, "elodie").await;
    let login = post_kept(&a, &b, "/demarches/acte", BODY).await;
    // The form is in Redis, under a hashed key: neither its id nor a field in any key.
    let id = query(&login)["form"].clone();
    let keys = redis.keys("*");
    assert!(
        keys.iter().all(|k| !k.contains(&id) && !k.contains("form")),
        "{keys:?}"
    );

    // The login starts on A; the provider's redirect lands on B, which ends it and serves
    // the replay page from Redis.
    let callback = callback_of(&b, &login, "elodie")
        .await
        .replacen(&a.url, &b_replica.url, 1);
    let landed = b.follow(&callback).await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    assert!(landed.url.starts_with(&b_replica.url), "{}", landed.url);
    let form = replay_form(&landed.body).expect("form");
    assert_eq!(form.encode().1, BODY.as_bytes());
    let r = form.submit(&b, &b_replica.url).await;
    assert_eq!(r.status(), StatusCode::OK);
    let seen = a.stack.echo.last_request().unwrap();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("POST", "/demarches/acte")
    );
    assert_eq!(seen.body, BODY.as_bytes());
    assert_eq!(
        seen.header_str("x-pivot-sub"),
        Some(sub_of(&a, "elodie").as_str())
    );
    // Taken on B: gone from Redis, so gone on A too.
    let on_a = landed.url.replacen(&b_replica.url, &a.url, 1);
    assert_eq!(b.get(&on_a).await.status(), StatusCode::GONE);
    assert_eq!(b.get(&landed.url).await.status(), StatusCode::GONE);
    let handed = query(&landed.url)["form"].clone();
    assert_ne!(
        handed, id,
        "the form moves to a new id bound to the new session"
    );
    let keys = redis.keys("*");
    assert!(!keys.contains(&form_key_in_redis(&a, &id)), "{keys:?}");
    assert!(!keys.contains(&form_key_in_redis(&a, &handed)), "{keys:?}");
}

/// The Redis key of a kept form: a login state's, under the SHA-256 of `form:ID`.
fn form_key_in_redis(h: &Harness, id: &str) -> String {
    format!(
        "{}l:{}",
        guichet::session::redis::deployment_prefix("guichet:", &h.url),
        guichet::crypto::sha256_hex(format!("form:{id}").as_bytes())
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_another_citizen_does_not_get_the_form_and_it_expires() {
    let redis = RedisServer::start();
    let a = Harness::with(Setup {
        extra_toml: redis.session_toml("login_timeout = \"3s\""),
        ..Setup::default()
    })
    .await;
    let b = a.browser();
    login_then_lose_the_session(&a, &b, "elodie").await;
    let login = post_kept(&a, &b, "/demarches/acte", BODY).await;
    let landed = login_for_form(&b, &login, "jean-philippe").await;
    assert_eq!(landed.status, StatusCode::FORBIDDEN, "{}", landed.body);
    assert!(!upstream_saw_path(&a, "/demarches/acte"));
    // A kept form nobody logs in for leaves Redis with its login_timeout.
    let login = post_kept(&a, &a.browser(), "/demarches/acte", BODY).await;
    let key = form_key_in_redis(&a, &query(&login)["form"]);
    assert!(redis.keys("*").contains(&key), "{:?}", redis.keys("*"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while redis.keys("*").contains(&key) {
        assert!(Instant::now() < deadline, "kept form still in Redis");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_form_is_replayed_only_after_a_login_that_ended_after_it() {
    let h = Harness::start().await;
    let b = h.browser();
    assert_eq!(b.login(&h, "elodie", "/").await.status, StatusCode::OK);
    // The same browser posts without its session cookie (every other cookie sent), then
    // goes straight to the replay page with its older session: no login happened since.
    let url: reqwest::Url = h.url.parse().unwrap();
    let cookies = b
        .jar
        .cookies(&url)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let without_session: Vec<&str> = cookies
        .split("; ")
        .filter(|c| !c.starts_with("guichet="))
        .collect();
    assert!(without_session
        .iter()
        .any(|c| c.starts_with("guichet-login=")));
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/demarches/acte", h.url))
        .header("content-type", URLENCODED)
        .header("origin", &h.url)
        .header("cookie", without_session.join("; "))
        .body(BODY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let id = query(&format!("{}{}", h.url, location(&r)))["form"].clone();
    let r = b.get(&format!("{}/.guichet/replay?form={id}", h.url)).await;
    assert_eq!(r.status(), StatusCode::GONE);
    assert!(!upstream_saw_path(&h, "/demarches/acte"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_from_another_browser_naming_the_form_does_not_get_it() {
    // No guichet cookie on the posting browser (no author mark to compare): only its own
    // pre-auth cookie ties the form to it.
    let h = Harness::start().await;
    let posting = h.browser();
    let login = post_kept(&h, &posting, "/inscription", "email=a%40b.fr").await;
    // Someone who learnt the URL logs in with it in their own browser.
    let other = h.browser();
    let landed = login_for_form(&other, &login, "jean-philippe").await;
    assert_eq!(landed.status, StatusCode::GONE, "{}", landed.body);
    assert!(replay_form(&landed.body).is_none());
    assert!(!landed.body.contains("a%40b.fr") && !landed.body.contains("a@b.fr"));
    assert!(!upstream_saw_path(&h, "/inscription"));
    // And the form is gone for everyone (fail closed), the poster included.
    let landed = login_for_form(&posting, &login, "ana").await;
    assert_eq!(landed.status, StatusCode::GONE, "{}", landed.body);
}
