//! A citizen's journey over real HTTP, where it used to break (issue 16): a cancelled login
//! retried goes to the same page at the same level, Back to the provider after logging in
//! lands on the citizen's page, the language chosen lasts for the journey, the browser's
//! icon request starts no login, and a failure page is shown again (its language switch)
//! without replaying anything. The same journeys in a real browser: `tests/browser.rs`.

mod common;

use common::*;
use guichet::demo::provider::{Faults, Flavour};
use reqwest::StatusCode;

/// FranceConnect (low) and FranceConnect+, `/dossiers` needing eIDAS substantial.
async fn low_and_plus() -> Harness {
    Harness::with(Setup {
        also: vec![Flavour::FranceConnectPlus],
        extra_toml: "[[routes]]\npath = \"/dossiers\"\nmin_level = \"eidas2\"\n".into(),
        ..Setup::default()
    })
    .await
}

/// The first `href` of an `<a class="{class}"` in a page, `&amp;` decoded.
fn href_of(page: &str, class: &str) -> String {
    page.split(&format!("<a class=\"{class}\" href=\""))
        .nth(1)
        .and_then(|a| a.split('"').next())
        .unwrap_or_else(|| panic!("no {class} link in {page}"))
        .replace("&amp;", "&")
}

fn absolute(h: &Harness, href: &str) -> String {
    if href.starts_with('/') {
        format!("{}{href}", h.url)
    } else {
        href.to_string()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_step_up_retries_to_the_same_page_and_level() {
    let h = low_and_plus().await;
    let plus = h.stack.mock_for(Flavour::FranceConnectPlus).unwrap();
    let b = h.browser();
    let landed = b.login_at(&h, "demo", "elodie", "/").await;
    assert_eq!(landed.status, StatusCode::OK);
    // The citizen cancels at FranceConnect+ on the way to an eidas2 page with a query.
    plus.set_faults(Faults {
        authorize_error: Some("access_denied".into()),
        ..Faults::default()
    });
    let landed = b
        .follow(&format!("{}/dossiers/7?onglet=pieces&tri=date", h.url))
        .await;
    assert_eq!(landed.status, StatusCode::FORBIDDEN, "{}", landed.body);
    assert!(landed.body.contains("Connexion annulée"));
    let retry = href_of(&landed.body, "btn");
    assert_eq!(
        retry,
        "/.guichet/login?return_to=%2Fdossiers%2F7%3Fonglet%3Dpieces%26tri%3Ddate&level=eidas2"
    );
    // The same page in English: shown again, not replayed, with the same way forward.
    let switch = href_of(&landed.body, "lang");
    assert!(
        switch.starts_with("/.guichet/error?page=cancelled&ref="),
        "{switch}"
    );
    let r = b.get(&absolute(&h, &switch)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let lang_cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(lang_cookie.starts_with("guichet-lang=en;"), "{lang_cookie}");
    let page = r.text().await.unwrap();
    assert!(page.contains("Login cancelled"), "{page}");
    assert_eq!(href_of(&page, "btn"), retry);
    // Log in again: FranceConnect+ again (the level), then the page with its query.
    plus.set_faults(Faults::default());
    let landed = b.follow_as(&absolute(&h, &retry), "elodie").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    assert!(
        landed.url.ends_with("/dossiers/7?onglet=pieces&tri=date"),
        "{}",
        landed.url
    );
    assert!(landed.body.contains("eidas2"), "{}", landed.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_to_the_provider_after_logging_in_lands_on_the_citizen_s_page() {
    let h = Harness::start().await;
    let b = h.browser();
    // To a page, through the provider (its authorization endpoint, then its own page where
    // the citizen picks an identity).
    let r = b.get(&format!("{}/dossiers/42?x=1", h.url)).await;
    let login = absolute(&h, &location(&r));
    let r = b.get(&login).await;
    let authorize = location(&r);
    let landed = b.follow_as(&authorize, "elodie").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    let cookie = landed.session_cookie();
    // Back to the provider, the same citizen again: a new code, a spent state.
    let again = b.follow_as(&authorize, "elodie").await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert!(again.url.ends_with("/dossiers/42?x=1"), "{}", again.url);
    assert!(again.set_cookies.is_empty(), "{:?}", again.set_cookies);
    let r = get_with_cookie(&format!("{}/whoami", h.url), &cookie).await;
    assert_eq!(r.status(), StatusCode::OK, "the same session");
    // Without that session, the spent state is refused as ever.
    let other = h.browser().follow_as(&authorize, "elodie").await;
    assert_eq!(other.status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_language_chosen_lasts_for_the_journey() {
    let h = Harness::start().await;
    let b = Browser::with_headers(&[("accept-language", "fr-FR,fr")]);
    let cancelled = format!("{}/.guichet/callback?error=access_denied", h.url);
    let page = b.get(&cancelled).await.text().await.unwrap();
    assert!(
        page.contains("<html lang=\"fr\">"),
        "Accept-Language is the default"
    );
    // The switch on the logged-out page: English from then on, on every page.
    let r = b
        .get(&format!("{}/.guichet/logged-out?lang=en", h.url))
        .await;
    assert!(r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age="));
    let page = b.get(&cancelled).await.text().await.unwrap();
    assert!(page.contains("<html lang=\"en\">") && page.contains("Login cancelled"));
    let page = b
        .get(&format!("{}/.guichet/nope", h.url))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Page not found"));
    // And back.
    b.get(&format!("{}/.guichet/logged-out?lang=fr", h.url))
        .await;
    let page = b.get(&cancelled).await.text().await.unwrap();
    assert!(page.contains("Connexion annulée"));
    // The application never sees the choice (guichet's cookie).
    b.login(&h, "elodie", "/whoami").await;
    let landed = b.follow(&format!("{}/whoami", h.url)).await;
    assert!(!landed.body.contains("guichet-lang"), "{}", landed.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_s_icon_request_starts_no_login() {
    let h = Harness::start().await;
    let b = h.browser();
    let r = b.get(&format!("{}/favicon.ico", h.url)).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.headers().get("location").is_none());
    assert!(r.headers().get("set-cookie").is_none());
    assert_eq!(h.stack.mock.counters().authorize, 0);
    // With a session, the application's own icon.
    b.login(&h, "elodie", "/").await;
    let r = b.get(&format!("{}/favicon.ico", h.url)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("/favicon.ico"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_page_is_shown_again_without_replaying_anything() {
    let h = Harness::start().await;
    let b = h.browser();
    let url = |q: &str| format!("{}/.guichet/error?{q}", h.url);
    let r = b
        .get(&url(
            "page=provider_error&code=%3Cb%3Einvalid_scope&ref=89abcdef&return_to=/x&level=eidas2&lang=en",
        ))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    let page = r.text().await.unwrap();
    assert!(page.contains("Identity provider error"), "{page}");
    assert!(page.contains("<code>binvalid_scope</code>"), "{page}");
    assert!(page.contains("<code>89abcdef</code>"));
    assert!(page.contains("href=\"/.guichet/login?return_to=%2Fx&amp;level=eidas2\""));
    // What could only come from a request is refused: a long or odd reference, an open
    // redirect, an unknown page.
    let page = b
        .get(&url(
            "page=cancelled&ref=appelez-le-0899&return_to=https://evil.example/",
        ))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !page.contains("appelez") && !page.contains("evil.example"),
        "{page}"
    );
    let r = b.get(&url("page=../../etc")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = b.get(&url("page=throttled&wait=90")).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "90");
    // Nothing was a login, nothing was counted.
    assert!(h.audit().is_empty(), "{:?}", h.audit());
    assert_eq!(h.stack.mock.counters().authorize, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guichet_serves_the_franceconnect_logo_itself() {
    let h = Harness::start().await;
    let b = h.browser();
    let r = b
        .get(&format!("{}/.guichet/assets/franceconnect.svg", h.url))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/svg+xml");
    assert!(r.text().await.unwrap().starts_with("<svg"));
    let r = b.get(&format!("{}/.guichet/assets/nope.svg", h.url)).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
