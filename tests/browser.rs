//! The real-browser test (issues 7 and 16): headless Chromium, driven through chromedriver,
//! walks `guichet demo --provider all` as a citizen would, one journey per function: login,
//! step-up, cancel and retry with a query string, Back after login and a stale callback,
//! cross-site logout confirmed by a click (the other site is a page on 127.0.0.2), the
//! logged-out page while logged in, both languages, a 375 px phone, forced colours (Windows
//! high contrast), failure pages, and a service's own look. On every page guichet shows it
//! runs axe-core (WCAG 2.1 A and AA: any violation fails) and its own checks (language, one
//! title, labels, contrast from the real styles, links underlined, no horizontal scrolling,
//! the strict policy still lets the page's style apply), and saves a screenshot into
//! `e2e-screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` and axe-core from npm
//! (`tests/browser/package.json`, pinned, `npm ci --prefix tests/browser`): `make test` runs
//! it (`cargo test --test browser -- --ignored`) after installing them; plain `cargo test`
//! leaves it out (ignored), as a machine without Chromium cannot run it.
//!
//! To add a journey: write `async fn my_journey(env: &Env)` (start with `env.fresh()`, check
//! each guichet page with `env.check(name, lang)`), and call it from
//! [`citizen_journeys_in_a_real_browser`].

#[path = "browser/env.rs"]
mod env;
#[path = "browser/webdriver.rs"]
mod webdriver;

use env::{check_focus_order, start_overridden, Env};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium, chromium-driver and axe-core: `make test` runs it"]
async fn citizen_journeys_in_a_real_browser() {
    let started = Instant::now();
    let env = Env::start().await;
    login_then_log_out(&env).await;
    step_up_cancelled_then_done(&env).await;
    cancel_and_retry_keep_the_page_and_its_query(&env).await;
    back_after_login_and_a_stale_callback(&env).await;
    cross_site_logout_confirmed_by_a_click(&env).await;
    logged_out_page_while_logged_in(&env).await;
    the_language_switch_lasts_for_the_journey(&env).await;
    on_a_phone(&env).await;
    forced_colours(&env).await;
    failure_pages(&env).await;
    a_service_s_own_look(&env).await;
    a_form_sent_after_the_session_ended_reaches_the_application(&env).await;
    eprintln!(
        "browser journeys: {:.0?} ({} guichet pages checked with axe-core)",
        started.elapsed(),
        env.checked.load(std::sync::atomic::Ordering::Relaxed)
    );
}

// ---------------------------------------------------------------------------- journeys

/// The chooser, FranceConnect, the application with the identity, logout.
async fn login_then_log_out(env: &Env) {
    env.fresh().await;
    let d = &env.d;
    d.goto(&env.at("/")).await;
    d.wait_url(|u| u.contains("/.guichet/login")).await;
    let text = env.text().await;
    assert!(text.contains("S’identifier avec\nFranceConnect"), "{text}");
    assert!(
        text.contains("Qu’est-ce que FranceConnect\u{202f}?"),
        "{text}"
    );
    assert!(text.contains("Se connecter autrement"), "{text}");
    // The official button with its logo, served by guichet.
    let logo = d
        .script(
            "const i = document.querySelector('a.fc img'); return i.complete ? i.naturalWidth : 0",
        )
        .await;
    assert!(
        logo.as_u64().unwrap_or(0) > 0,
        "FranceConnect logo not loaded"
    );
    // The footer links of a French public service.
    for link in [
        "Accessibilité\u{a0}: partiellement conforme",
        "Mentions légales",
        "Données personnelles",
        "Aide et contact",
    ] {
        assert!(text.contains(link), "{link}: {text}");
    }
    env.check("01-chooser-fr", "fr").await;
    check_focus_order(env, "01-chooser-fr").await;

    env.fc_citizen("a.fc", "elodie", |u| !u.contains("/.guichet/"))
        .await;
    let app = d.source().await;
    assert!(
        app.contains("x-pivot-given-name") && app.contains("%C3%89lodie"),
        "{app}"
    );
    assert!(app.contains("\"verified\": true") || app.contains("\"verified\":true"));
    env.shot("02-application").await;

    d.goto(&env.at("/.guichet/logout")).await;
    d.wait_url(|u| u.contains("/.guichet/logged-out")).await;
    assert!(env.text().await.contains("Vous êtes déconnecté"));
    env.check("03-logged-out-fr", "fr").await;
    check_focus_order(env, "03-logged-out-fr").await;
    d.goto(&env.at("/")).await;
    d.wait_url(|u| u.contains("/.guichet/login")).await;
}

/// A FranceConnect session on a page that needs eIDAS substantial: the step-up chooser says
/// why, offers only what reaches the level, survives a cancel, and ends on the page.
async fn step_up_cancelled_then_done(env: &Env) {
    env.fresh().await;
    let d = &env.d;
    env.login_fc("elodie").await;
    d.goto(&env.at("/renforce/dossier?piece=3")).await;
    d.wait_url(|u| u.contains("/.guichet/login")).await;
    let text = env.text().await;
    assert!(text.contains("Confirmez votre identité"), "{text}");
    assert!(text.contains("Vous êtes bien connecté"), "{text}");
    assert!(text.contains("Ne pas confirmer"), "{text}");
    assert!(
        !text.contains("FranceConnect\u{202f}?"),
        "FranceConnect (low) offered: {text}"
    );
    assert!(
        !text.contains("garantie") && !text.contains("supérieur"),
        "{text}"
    );
    env.check("04-step-up-chooser-fr", "fr").await;
    // FranceConnect+, cancelled: "log in again" keeps the level.
    d.click("a.fc").await;
    d.wait_url(|u| !u.starts_with(&env.url)).await;
    d.click("a.cancel").await;
    d.wait_url(|u| u.contains("/.guichet/callback")).await;
    assert!(env.text().await.contains("Connexion annulée"));
    env.check("05-step-up-cancelled-fr", "fr").await;
    d.click("main a.btn").await;
    d.wait_url(|u| u.contains("/.guichet/login")).await;
    let text = env.text().await;
    assert!(text.contains("Confirmez votre identité"), "{text}");
    assert!(!text.contains("FranceConnect\u{202f}?"), "{text}");
    env.fc_citizen("a.fc", "elodie", |u| {
        u.contains("/renforce/dossier?piece=3")
    })
    .await;
    assert!(d.source().await.contains("eidas2"));
}

/// A page with a query string, a cancel at the provider, "log in again": the same page.
async fn cancel_and_retry_keep_the_page_and_its_query(env: &Env) {
    env.fresh().await;
    let d = &env.d;
    d.goto(&env.at("/dossiers/42?onglet=pieces&tri=date")).await;
    d.wait_url(|u| u.contains("/.guichet/login")).await;
    d.click("a.fc").await;
    d.wait_url(|u| !u.starts_with(&env.url)).await;
    env.shot("06-provider-franceconnect").await;
    d.click("a.cancel").await;
    d.wait_url(|u| u.contains("/.guichet/callback")).await;
    let text = env.text().await;
    assert!(text.contains("Connexion annulée") && text.contains("Se connecter à nouveau"));
    assert!(
        text.contains("Référence à communiquer au service si besoin\u{a0}:"),
        "{text}"
    );
    env.check("07-cancelled-fr", "fr").await;
    check_focus_order(env, "07-cancelled-fr").await;
    d.click("main a.btn").await;
    d.wait_url(|u| u.contains("/.guichet/login")).await;
    env.fc_citizen("a.fc", "ana", |u| {
        u.ends_with("/dossiers/42?onglet=pieces&tri=date")
    })
    .await;
}

/// Logged in, then Back to the provider's page, then the callback with its spent state
/// reopened: the citizen's page, never guichet's "login expired". (The provider's interaction
/// is single-use, as FranceConnect's: Back shows the provider's own expiry page.)
async fn back_after_login_and_a_stale_callback(env: &Env) {
    env.fresh().await;
    let d = &env.d;
    d.goto(&env.at("/dossiers/7?vue=liste")).await;
    d.wait_url(|u| u.contains("/.guichet/login")).await;
    d.click("a.fc").await;
    d.wait_url(|u| !u.starts_with(&env.url)).await;
    let choose = d
        .script("return document.querySelector(\"a[href*='citizen=elodie']\").href")
        .await;
    let choose = choose.as_str().expect("citizen link").to_string();
    // The citizen's choice, made outside the browser so the test keeps the callback URL the
    // provider answered (its code and the login's state); the browser then opens it.
    let callback = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(&choose)
        .send()
        .await
        .unwrap()
        .headers()["location"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(callback.contains("/.guichet/callback"), "{callback}");
    d.goto(&callback).await;
    let landed = d.wait_url(|u| !u.contains("/callback")).await;
    assert!(landed.ends_with("/dossiers/7?vue=liste"), "{landed}");
    // Back: the provider's page again, never a guichet error.
    d.back().await;
    d.wait_url(|u| !u.ends_with("/dossiers/7?vue=liste")).await;
    assert!(!env.text().await.contains("Connexion expirée"));
    // The callback URL itself, reopened (its state spent): the citizen's page.
    d.goto(&callback).await;
    let landed = d.wait_url(|u| !u.contains("/callback")).await;
    assert!(landed.ends_with("/dossiers/7?vue=liste"), "{landed}");
    assert!(!env.text().await.contains("Connexion expirée"));
}

/// Another site (127.0.0.2) links to and posts to guichet's logout: a question, then the
/// citizen's click logs out for real (mouse, then keyboard).
async fn cross_site_logout_confirmed_by_a_click(env: &Env) {
    for (how, css) in [("link", "a#logout"), ("form", "form#logout button")] {
        env.fresh().await;
        let d = &env.d;
        env.login_fc("elodie").await;
        d.goto(&env.foreign).await;
        if how == "link" {
            env.axe_sees_a_violation().await;
        }
        d.click(css).await;
        d.wait_url(|u| u.contains("/.guichet/logout")).await;
        let text = env.text().await;
        assert!(text.contains("Se déconnecter\u{202f}?"), "{how}: {text}");
        env.check(&format!("08-logout-confirm-{how}-fr"), "fr")
            .await;
        assert!(
            env.logged_in().await,
            "{how}: the question alone logged out"
        );
        if how == "link" {
            check_focus_order(env, "08-logout-confirm-link-fr").await;
            // "Stay logged in" changes nothing.
            d.click("form a").await;
            d.wait_url(|u| !u.contains("/.guichet/logout")).await;
            assert!(env.logged_in().await, "stay logged in");
            d.goto(&env.foreign).await;
            d.click(css).await;
            d.wait_url(|u| u.contains("/.guichet/logout")).await;
            d.click("form button").await;
        } else {
            // The keyboard: focus the button, press Enter.
            d.script("document.querySelector('form button').focus()")
                .await;
            d.key("\u{E007}").await;
        }
        d.wait_url(|u| u.contains("/.guichet/logged-out")).await;
        assert!(
            env.text().await.contains("Vous êtes déconnecté"),
            "{how}: {}",
            env.text().await
        );
        assert!(
            !env.logged_in().await,
            "{how}: still logged in after the click"
        );
    }
}

/// `/.guichet/logged-out` opened while the session is alive: it says so, and its button logs
/// out.
async fn logged_out_page_while_logged_in(env: &Env) {
    env.fresh().await;
    let d = &env.d;
    env.login_fc("elodie").await;
    d.goto(&env.at("/.guichet/logged-out")).await;
    let text = env.text().await;
    assert!(text.contains("Vous êtes toujours connecté"), "{text}");
    assert!(!text.contains("Vous êtes déconnecté"), "{text}");
    env.check("09-still-logged-in-fr", "fr").await;
    d.click("form button").await;
    d.wait_url(|u| u.contains("/.guichet/logged-out?state="))
        .await;
    assert!(env.text().await.contains("Vous êtes déconnecté"));
    assert!(!env.logged_in().await);
}

/// "English" on the chooser: English through the provider and back, on every page, until
/// "Français".
async fn the_language_switch_lasts_for_the_journey(env: &Env) {
    env.fresh().await;
    let d = &env.d;
    d.goto(&env.at("/dossiers/1?a=b")).await;
    d.wait_url(|u| u.contains("/.guichet/login")).await;
    d.click("header a.lang").await;
    d.wait_url(|u| u.contains("lang=en")).await;
    let text = env.text().await;
    assert!(text.contains("Choose how to identify yourself"), "{text}");
    assert!(text.contains("Sign in with\nFranceConnect"), "{text}");
    assert!(
        text.contains("Sign in with MConnect") || text.contains("MConnect"),
        "{text}"
    );
    assert!(
        text.contains("Accessibility: partially compliant"),
        "{text}"
    );
    env.check("10-chooser-en", "en").await;
    // The choice is kept through the provider: the cancelled page is English.
    d.click("a.fc").await;
    d.wait_url(|u| !u.starts_with(&env.url)).await;
    d.click("a.cancel").await;
    d.wait_url(|u| u.contains("/.guichet/callback")).await;
    assert!(env.text().await.contains("Login cancelled"));
    env.check("11-cancelled-en", "en").await;
    // Back to French from the failure page: the same page, not the callback again.
    d.click("header a.lang").await;
    d.wait_url(|u| u.contains("/.guichet/error?")).await;
    let text = env.text().await;
    assert!(text.contains("Connexion annulée"), "{text}");
    env.check("12-cancelled-again-fr", "fr").await;
    // "Log in again" still goes to the page with its query.
    d.click("main a.btn").await;
    d.wait_url(|u| u.contains("/.guichet/login")).await;
    env.fc_citizen("a.fc", "elodie", |u| u.ends_with("/dossiers/1?a=b"))
        .await;
    // The logout confirmation in English, and its switch never logs out.
    d.goto(&env.at("/.guichet/logout?confirm=1&lang=en")).await;
    assert!(env.text().await.contains("Log out?"));
    env.check("13-logout-confirm-en", "en").await;
    d.click("header a.lang").await;
    d.wait_url(|u| u.contains("lang=fr")).await;
    assert!(env.text().await.contains("Se déconnecter\u{202f}?"));
    assert!(env.logged_in().await, "the language switch logged out");
    d.goto(&env.at("/.guichet/logged-out?lang=en")).await;
    assert!(env.text().await.contains("You are still logged in"));
    env.check("14-still-logged-in-en", "en").await;
}

/// A 375 px phone: every page fits without horizontal scrolling.
async fn on_a_phone(env: &Env) {
    env.fresh().await;
    let d = &env.d;
    env.phone(true).await;
    d.goto(&env.at("/renforce/")).await;
    d.wait_url(|u| u.contains("/.guichet/login")).await;
    env.check("15-chooser-fr-375px", "fr").await;
    d.click("a.fc").await;
    d.wait_url(|u| !u.starts_with(&env.url)).await;
    d.click("a.cancel").await;
    d.wait_url(|u| u.contains("/.guichet/callback")).await;
    env.check("16-cancelled-fr-375px", "fr").await;
    d.goto(&env.at("/.guichet/logout?confirm=1&lang=en")).await;
    env.check("17-logout-confirm-en-375px", "en").await;
    d.goto(&env.at("/.guichet/logged-out?lang=fr")).await;
    env.check("18-logged-out-fr-375px", "fr").await;
    env.phone(false).await;
}

/// Windows high contrast (forced colours): buttons keep a visible box.
async fn forced_colours(env: &Env) {
    env.fresh().await;
    let d = &env.d;
    d.cdp(
        "Emulation.setEmulatedMedia",
        json!({"features": [{"name": "forced-colors", "value": "active"}]}),
    )
    .await;
    d.goto(&env.at("/.guichet/login?return_to=/")).await;
    for css in ["a.fc", "a.btn"] {
        let border = d
            .script(&format!(
                "const s = getComputedStyle(document.querySelector('{css}')); \
                 return [s.borderTopStyle, parseFloat(s.borderTopWidth)]"
            ))
            .await;
        assert_eq!(border[0], "solid", "{css}: {border}");
        assert!(border[1].as_f64().unwrap_or(0.0) >= 1.0, "{css}: {border}");
    }
    env.shot("19-chooser-forced-colours").await;
    d.goto(&env.at("/.guichet/callback?error=access_denied"))
        .await;
    let border = d
        .script("return getComputedStyle(document.querySelector('main a.btn')).borderTopStyle")
        .await;
    assert_eq!(border, "solid");
    d.cdp("Emulation.setEmulatedMedia", json!({"features": []}))
        .await;
}

/// Refusals with their own words: a suspended MConnect identity, a page that does not exist.
async fn failure_pages(env: &Env) {
    env.fresh().await;
    let d = &env.d;
    d.goto(&env.at("/.guichet/login?provider=mconnect")).await;
    d.wait_url(|u| !u.starts_with(&env.url)).await;
    d.click("a[href*='citizen=suspendu']").await;
    d.wait_url(|u| u.contains("/.guichet/callback")).await;
    assert!(env.text().await.contains("Identité numérique inactive"));
    env.check("20-identity-not-active-fr", "fr").await;
    d.goto(&env.at("/.guichet/nope?lang=en")).await;
    assert!(env.text().await.contains("Page not found"));
    env.check("21-not-found-en", "en").await;
}

/// The same deployment with the service's logo, colours, texts and the State's brand: a
/// second gateway on the demo's configuration, with `[pages]` overrides.
async fn a_service_s_own_look(env: &Env) {
    env.fresh().await;
    let d = &env.d;
    let overridden = start_overridden(&env.demo).await;
    d.goto(&format!("{}/.guichet/login?return_to=/", overridden.url))
        .await;
    let logo = d
        .script("const i = document.querySelector('header img'); return i ? i.naturalWidth : 0")
        .await;
    assert!(logo.as_u64().unwrap_or(0) > 0, "the logo did not load");
    let text = env.text().await;
    assert!(
        text.contains("Pour suivre vos démarches, identifiez-vous"),
        "{text}"
    );
    assert!(
        text.contains("Mairie de Saint-Exemple, 1 place de la Mairie"),
        "{text}"
    );
    assert!(
        text.to_lowercase().contains("république\nfrançaise"),
        "{text}"
    );
    let bg = d
        .script("return getComputedStyle(document.querySelector('a.btn')).backgroundColor")
        .await;
    assert_eq!(bg, "rgb(138, 28, 28)", "the service's colour did not apply");
    // The brand's images came from guichet itself (bounded wait: background images).
    for asset in ["marianne.svg", "devise.svg", "franceconnect.svg"] {
        let path = format!("/.guichet/assets/{asset}");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let loaded = d
                .script(
                    "return performance.getEntriesByType('resource').map(e => new URL(e.name).pathname)",
                )
                .await;
            if loaded
                .as_array()
                .is_some_and(|l| l.iter().any(|p| *p == path.as_str()))
            {
                break;
            }
            assert!(Instant::now() < deadline, "{asset} never loaded: {loaded}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    env.check("22-chooser-service-look-fr", "fr").await;
    d.goto(&format!(
        "{}/.guichet/callback?error=access_denied&lang=en",
        overridden.url
    ))
    .await;
    assert!(env.text().await.contains("Call the town hall"));
    env.check("23-cancelled-service-look-en", "en").await;
}

/// Issue 19: a form on an application page, the session ended in another tab, the form
/// sent, a new login: the application receives the POST, same fields in the same order, its
/// own CSRF token and cookie, the new session's identity; then the same with a file.
async fn a_form_sent_after_the_session_ended_reaches_the_application(env: &Env) {
    env.fresh().await;
    let d = &env.d;
    let form_page = env.at("/formulaire");
    d.goto(&form_page).await;
    d.wait_url(|u| u.contains("/.guichet/login")).await;
    env.fc_citizen("a.fc", "elodie", |u| u == form_page).await;

    // 1. An urlencoded form: filled, the session ends in another tab, then "Envoyer".
    let csrf = d
        .script(
            "document.getElementById('nom').value = 'Dupont-Müller';\
             document.getElementById('prenom').value = 'Élodie';\
             document.getElementById('motif').value = 'mariage';\
             document.getElementById('commentaire').value = 'Ligne 1\\nLigne 2 & <b>';\
             document.getElementById('accord').checked = true;\
             return document.querySelector('#demande input[name=csrf]').value",
        )
        .await;
    lose_the_session(env).await;
    d.click("#envoyer").await;
    d.wait_url(|u| u.contains("/.guichet/login") && u.contains("form="))
        .await;
    env.fc_citizen("a.fc", "elodie", |u| u == form_page).await;
    let got = posted(env).await;
    let fields: Vec<(String, String)> =
        url::form_urlencoded::parse(got["body"].as_str().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let csrf = csrf.as_str().expect("csrf").to_string();
    let expected = [
        ("csrf", csrf.as_str()),
        ("nom", "Dupont-Müller"),
        ("prenom", "Élodie"),
        ("motif", "mariage"),
        ("commentaire", "Ligne 1\r\nLigne 2 & <b>"),
        ("accord", "oui"),
        ("action", "envoyer"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    assert_eq!(fields, expected, "{got}");
    let headers = &got["headers"];
    assert_eq!(headers["content-type"], "application/x-www-form-urlencoded");
    assert!(
        headers["cookie"]
            .as_str()
            .is_some_and(|c| c.contains(&format!("demo_csrf={csrf}")) && !c.contains("guichet")),
        "{got}"
    );
    assert_eq!(headers["origin"], env.url.as_str(), "{got}");
    assert!(headers["x-pivot-given-name"].as_str().is_some(), "{got}");
    assert_eq!(got["assertion"]["verified"], true, "{got}");
    // Back from the application's answer: the replay page, sent while it loaded, was replaced
    // in the history (HTML: a form submitted before the page is loaded replaces it).
    d.script("history.back(); return 1").await;
    let back = d.wait_url(|u| u != form_page).await;
    assert!(!back.contains("/.guichet/replay"), "{back}");

    // 2. The multipart form, with a file the citizen attached.
    d.goto(&form_page).await;
    d.script(
        "document.getElementById('objet').value = 'Justificatif « mai »';\
         const list = new DataTransfer();\
         list.items.add(new File(['%PDF-1.4 données\\n'], 'reçu.pdf', {type: 'application/pdf'}));\
         document.getElementById('piece').files = list.files; return 1",
    )
    .await;
    lose_the_session(env).await;
    d.click("#envoyer-piece").await;
    d.wait_url(|u| u.contains("/.guichet/login") && u.contains("form="))
        .await;
    env.fc_citizen("a.fc", "elodie", |u| u == form_page).await;
    let got = posted(env).await;
    let body = got["body"].as_str().unwrap_or_default();
    assert!(
        got["headers"]["content-type"]
            .as_str()
            .is_some_and(|c| c.starts_with("multipart/form-data; boundary=")),
        "{got}"
    );
    for part in [
        "name=\"csrf\"\r\n\r\n",
        "name=\"objet\"\r\n\r\nJustificatif « mai »\r\n",
        "name=\"piece\"; filename=\"reçu.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.4 données\n\r\n",
    ] {
        assert!(body.contains(part), "{part:?} not in {body:?}");
    }
    let at = |name: &str| body.find(&format!("name=\"{name}\""));
    assert!(
        at("csrf") < at("objet") && at("objet") < at("piece"),
        "{body}"
    );
}

/// Ends the session the way a logout in another tab does (the browser keeps its other
/// cookies): the application's page asks guichet's logout, then checks it took.
async fn lose_the_session(env: &Env) {
    env.d
        .script("return fetch('/.guichet/logout', {redirect: 'manual'}).then(() => 1)")
        .await;
    assert!(!env.logged_in().await, "the session is still alive");
}

/// What the echo application answered to the replayed POST (waits for it, bounded).
async fn posted(env: &Env) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = env
            .d
            .script("try { return JSON.parse(document.body.innerText) } catch (e) { return null }")
            .await;
        if got["method"] == "POST" {
            return got;
        }
        assert!(Instant::now() < deadline, "no POST echoed: {got}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
