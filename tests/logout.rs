//! RP-initiated logout and the return from the provider: only the cookie's own session ends,
//! nobody else's site can log a citizen out without a click, no destination comes from the
//! request, and the logged-out page only trusts a `state` guichet issued, once.

mod common;

use common::*;
use reqwest::StatusCode;

async fn whoami_status(h: &Harness, cookie: &str) -> StatusCode {
    get_with_cookie(&format!("{}/whoami", h.url), cookie)
        .await
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_logout_asks_for_confirmation() {
    let h = Harness::start().await;
    let b = h.browser();
    let cookie = b.login(&h, "elodie", "/").await.session_cookie();
    let logout = format!("{}/.guichet/logout", h.url);
    // A link or an auto-submitted form on another site, a prefetch: a page, nothing else.
    let attempts = [
        b.client.get(&logout).header("sec-fetch-site", "cross-site"),
        b.client.get(&logout).header("sec-fetch-site", "same-site"),
        b.client
            .get(&logout)
            .header("sec-fetch-site", "same-origin")
            .header("sec-purpose", "prefetch"),
        b.client
            .post(&logout)
            .header("origin", "https://evil.example")
            .body(""),
        b.client
            .post(&logout)
            .header("sec-fetch-site", "cross-site")
            .header("origin", "https://evil.example")
            .body(""),
    ];
    for attempt in attempts {
        let r = attempt.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers().get("set-cookie").is_none());
        assert!(r.headers().get("location").is_none());
        let page = r.text().await.unwrap();
        assert!(
            page.contains("<form method=\"post\" action=\"/.guichet/logout\">"),
            "{page}"
        );
        assert!(page.contains("Me déconnecter"));
        assert_eq!(whoami_status(&h, &cookie).await, StatusCode::OK);
    }
    // Methods other than GET and POST do nothing.
    let r = b.client.put(&logout).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(whoami_status(&h, &cookie).await, StatusCode::OK);
    // The confirmation button: a POST from this origin logs out, then goes to the provider.
    let r = b
        .client
        .post(&logout)
        .header("sec-fetch-site", "same-origin")
        .header("origin", &h.url)
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(refresh_target(&r.text().await.unwrap()).starts_with(&h.stack.mock.issuer()));
    assert_eq!(whoami_status(&h, &cookie).await, StatusCode::FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_get_links_from_the_application_log_out() {
    let h = Harness::start().await;
    let b = h.browser();
    let cookie = b.login(&h, "ana", "/").await.session_cookie();
    let r = b
        .client
        .get(format!("{}/.guichet/logout", h.url))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(whoami_status(&h, &cookie).await, StatusCode::FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_only_the_session_of_its_cookie() {
    let h = Harness::start().await;
    let (b1, b2) = (h.browser(), h.browser());
    let c1 = b1.login(&h, "elodie", "/").await.session_cookie();
    let c2 = b2.login(&h, "elodie", "/").await.session_cookie();
    // A logout without a cookie, or with a cookie guichet never issued, ends nothing.
    for cookie in ["", "guichet=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
        let r = get_with_cookie(&format!("{}/.guichet/logout", h.url), cookie).await;
        assert_eq!(r.status(), StatusCode::FOUND);
        assert_eq!(location(&r), "/.guichet/logged-out");
    }
    assert_eq!(whoami_status(&h, &c1).await, StatusCode::OK);
    let r = b1.get(&format!("{}/.guichet/logout", h.url)).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(whoami_status(&h, &c1).await, StatusCode::FOUND);
    assert_eq!(whoami_status(&h, &c2).await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_is_never_an_open_redirect() {
    let h = Harness::start().await;
    let b = h.browser();
    b.login(&h, "angela", "/").await;
    let evil = "https://evil.example/";
    let r = b
        .get(&format!(
            "{}/.guichet/logout?post_logout_redirect_uri={evil}&return_to={evil}&redirect_uri={evil}&id_token_hint=x",
            h.url
        ))
        .await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let to_provider = location(&r);
    assert!(to_provider.starts_with(&format!("{}/session/end?", h.stack.mock.issuer())));
    let q = query(&to_provider);
    assert_eq!(
        q["post_logout_redirect_uri"],
        format!("{}/.guichet/logged-out", h.url)
    );
    assert_ne!(q["id_token_hint"], "x");
    let landed = b.follow(&to_provider).await;
    assert!(
        landed.hops.iter().all(|u| !u.contains("evil.example")),
        "{:?}",
        landed.hops
    );
    assert!(landed
        .url
        .starts_with(&format!("{}/.guichet/logged-out", h.url)));
    // Without a session, and on the logged-out page, no parameter chooses a destination.
    let r = b
        .get(&format!("{}/.guichet/logout?return_to={evil}", h.url))
        .await;
    assert_eq!(location(&r), "/.guichet/logged-out");
    let r = b
        .get(&format!(
            "{}/.guichet/logged-out?post_logout_redirect_uri={evil}&return_to={evil}",
            h.url
        ))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("location").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logged_out_checks_the_state_once() {
    // Keys right after the generated `[pages]` section land in it.
    let h = Harness::with(Setup {
        extra_toml: "logged_out_url = \"/au-revoir\"\n".into(),
        ..Setup::default()
    })
    .await;
    let b = h.browser();
    b.login(&h, "elodie", "/").await;
    let r = b.get(&format!("{}/.guichet/logout", h.url)).await;
    let r = b.get(&location(&r)).await;
    assert_eq!(r.status(), StatusCode::FOUND, "provider logout");
    let back = location(&r);
    assert!(back.starts_with(&format!("{}/.guichet/logged-out?state=", h.url)));
    // The state guichet issued: the configured page.
    let r = b.get(&back).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(location(&r), "/au-revoir");
    // The same state again, an unknown state, or none (FranceConnect v1 drops it sometimes):
    // guichet's own neutral page.
    let unknown = format!(
        "{}/.guichet/logged-out?state={}",
        h.url,
        guichet::crypto::random_hex32()
    );
    let none = format!("{}/.guichet/logged-out", h.url);
    for url in [&back, &unknown, &none] {
        let r = b.get(url).await;
        assert_eq!(r.status(), StatusCode::OK, "{url}");
        assert!(r.headers().get("location").is_none());
        assert!(r.text().await.unwrap().contains("Vous êtes déconnecté"));
    }
    // The logged-out page never ends a session (anyone can link to it).
    let other = h.browser();
    let cookie = other.login(&h, "ana", "/").await.session_cookie();
    let r = other.get(&none).await;
    assert!(r.headers().get("set-cookie").is_none());
    assert_eq!(whoami_status(&h, &cookie).await, StatusCode::OK);
}

/// Where a page that moves on by itself (`meta refresh`) goes.
fn refresh_target(page: &str) -> String {
    page.split("<meta http-equiv=\"refresh\" content=\"0;url=")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .unwrap_or_else(|| panic!("no refresh in {page}"))
        .replace("&amp;", "&")
}

/// The confirmation page's logout token (`<input name="token" value="...">`).
fn token_of(page: &str) -> String {
    page.split("name=\"token\" value=\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .unwrap_or_else(|| panic!("no token in {page}"))
        .to_string()
}

async fn post_logout(
    b: &Browser,
    h: &Harness,
    headers: &[(&str, &str)],
    body: &str,
) -> reqwest::Response {
    let mut r = b
        .client
        .post(format!("{}/.guichet/logout", h.url))
        .header("content-type", "application/x-www-form-urlencoded");
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.body(body.to_string()).send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opaque_origin_needs_the_browser_s_word_or_the_token() {
    // guichet's pages send no Referer, so a browser posts their forms with `Origin: null`.
    let h = Harness::start().await;
    let b = h.browser();
    let cookie = b.login(&h, "elodie", "/").await.session_cookie();
    let r = b
        .client
        .get(format!("{}/.guichet/logout", h.url))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    let token = token_of(&r.text().await.unwrap());
    assert_eq!(token.len(), 32);
    assert!(!cookie.contains(&token));
    // Without fetch metadata, `Origin: null` proves nothing: no token, or a wrong one, or the
    // token from a foreign origin or a cross-site request: the question again.
    let wrong = "0".repeat(32);
    let refused: [(&[(&str, &str)], String); 5] = [
        (&[("origin", "null")], String::new()),
        (&[("origin", "null")], format!("token={wrong}")),
        (
            &[("origin", "null")],
            format!("token={token}&token={token}"),
        ),
        (
            &[("origin", "https://evil.example")],
            format!("token={token}"),
        ),
        (
            &[("origin", "null"), ("sec-fetch-site", "cross-site")],
            format!("token={token}"),
        ),
    ];
    for (headers, body) in refused {
        let r = post_logout(&b, &h, headers, &body).await;
        assert_eq!(r.status(), StatusCode::OK, "{headers:?} {body}");
        assert!(r.text().await.unwrap().contains("Se déconnecter"));
        assert_eq!(
            whoami_status(&h, &cookie).await,
            StatusCode::OK,
            "{headers:?} {body}"
        );
    }
    // The session's token: the citizen's own click.
    let r = post_logout(&b, &h, &[("origin", "null")], &format!("token={token}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(refresh_target(&r.text().await.unwrap()).contains("/session/end?"));
    assert_eq!(whoami_status(&h, &cookie).await, StatusCode::FOUND);

    // A browser that says the form is this site's (`Sec-Fetch-Site: same-origin`): guichet's
    // confirmation in Chromium, or the application's own form on a no-referrer page.
    let cookie = b.login(&h, "elodie", "/").await.session_cookie();
    let r = post_logout(
        &b,
        &h,
        &[("origin", "null"), ("sec-fetch-site", "same-origin")],
        "",
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(refresh_target(&r.text().await.unwrap()).contains("/session/end?"));
    assert_eq!(whoami_status(&h, &cookie).await, StatusCode::FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_confirmation_in_the_other_language_never_logs_out() {
    let h = Harness::start().await;
    let b = h.browser();
    let cookie = b.login(&h, "elodie", "/").await.session_cookie();
    // The link on the confirmation page, clicked on this site.
    let r = b
        .client
        .get(format!("{}/.guichet/logout?confirm=1&lang=en", h.url))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("Log out?") && page.contains("name=\"token\""),
        "{page}"
    );
    assert_eq!(whoami_status(&h, &cookie).await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_logged_out_page_never_lies_about_a_live_session() {
    let h = Harness::start().await;
    let b = h.browser();
    let cookie = b.login(&h, "elodie", "/").await.session_cookie();
    let r = b.get(&format!("{}/.guichet/logged-out", h.url)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("set-cookie").is_none());
    let page = r.text().await.unwrap();
    assert!(page.contains("Vous êtes toujours connecté"), "{page}");
    assert!(!page.contains("Vous êtes déconnecté"));
    // Its button logs out for real.
    let token = token_of(&page);
    let r = post_logout(&b, &h, &[("origin", "null")], &format!("token={token}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(whoami_status(&h, &cookie).await, StatusCode::FOUND);
    let landed = b.follow(&refresh_target(&r.text().await.unwrap())).await;
    assert!(
        landed.body.contains("Vous êtes déconnecté"),
        "{}",
        landed.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_logout_leaves_for_the_provider_without_a_form_redirect() {
    // A browser checks the confirmation page's `form-action 'self'` against every redirect
    // of the form's navigation: a redirect to the provider would leave the citizen stuck.
    let h = Harness::start().await;
    let b = h.browser();
    let cookie = b.login(&h, "elodie", "/").await.session_cookie();
    let r = post_logout(&b, &h, &[("sec-fetch-site", "same-origin")], "").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("location").is_none());
    let cleared = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cleared.starts_with("guichet=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    let page = r.text().await.unwrap();
    assert!(page.contains("Déconnexion en cours"), "{page}");
    let to = refresh_target(&page);
    assert!(
        to.starts_with(&format!("{}/session/end?", h.stack.mock.issuer())),
        "{to}"
    );
    let q = query(&to);
    assert_eq!(
        q["post_logout_redirect_uri"],
        format!("{}/.guichet/logged-out", h.url)
    );
    assert!(page.contains(&format!(
        "<a class=\"btn\" href=\"{}\"",
        to.replace('&', "&amp;")
    )));
    assert_eq!(whoami_status(&h, &cookie).await, StatusCode::FOUND);
    // The provider sends the browser back: logged out.
    let landed = b.follow(&to).await;
    assert!(landed.body.contains("Vous êtes déconnecté"));
    // A link (GET) is no form: a plain redirect.
    b.login(&h, "elodie", "/").await;
    let r = b.get(&format!("{}/.guichet/logout", h.url)).await;
    assert_eq!(r.status(), StatusCode::FOUND);
}

/// With the memory store the id_token for `id_token_hint` is not kept in memory: the browser
/// holds it, sealed, in a cookie sent only to the logout path. A browser without it (lost, or
/// another session's) is logged out locally, never sent to the provider with a wrong hint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_logout_hint_lives_in_a_cookie_scoped_to_the_logout_path() {
    let h = Harness::start().await;
    let b = h.browser();
    let landed = b.login(&h, "elodie", "/").await;
    let hint = landed
        .set_cookies
        .iter()
        .find(|c| c.starts_with("guichet-logout="))
        .expect("the logout hint cookie");
    for attr in [
        "Path=/.guichet/logout;",
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
    ] {
        assert!(hint.contains(attr), "{hint}");
    }
    assert!(!hint.contains("eyJ"), "the id_token is sealed: {hint}");
    // Without it: the session ends here, and the browser lands on guichet's own page.
    let cookie = landed.session_cookie();
    let r = get_with_cookie(&format!("{}/.guichet/logout", h.url), &cookie).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(location(&r), "/.guichet/logged-out");
    assert_eq!(whoami_status(&h, &cookie).await, StatusCode::FOUND);
    // The browser that has it goes to the provider with the token the provider issued
    // (the mock refuses any other hint).
    let other = h.browser();
    other.login(&h, "angela", "/").await;
    let landed = other.follow(&format!("{}/.guichet/logout", h.url)).await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    assert!(
        landed.hops.iter().any(|u| u.contains("/session/end")),
        "{:?}",
        landed.hops
    );
    assert!(landed.url.contains("/.guichet/logged-out"));
}
