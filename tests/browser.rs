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

#[path = "browser/webdriver.rs"]
mod webdriver;

use serde_json::{json, Value};
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use webdriver::Driver;

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

/// Logged in, Back to the provider's page and the citizen chosen again, then a callback
/// with a spent state reopened: the citizen's page, never "login expired".
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
    d.click("a[href*='citizen=elodie']").await;
    d.wait_url(|u| u.ends_with("/dossiers/7?vue=liste")).await;
    d.back().await;
    d.wait_url(|u| !u.starts_with(&env.url)).await;
    d.click("a[href*='citizen=elodie']").await;
    let landed = d
        .wait_url(|u| u.starts_with(&env.url) && !u.contains("/callback"))
        .await;
    assert!(landed.ends_with("/dossiers/7?vue=liste"), "{landed}");
    assert!(!env.text().await.contains("Connexion expirée"));
    // The callback URL itself, reopened (a new code from the provider, the spent state).
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
    assert!(callback.contains("/.guichet/callback?"), "{callback}");
    d.goto(&callback).await;
    let landed = d.wait_url(|u| !u.contains("/callback")).await;
    assert!(landed.ends_with("/dossiers/7?vue=liste"), "{landed}");
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

// ------------------------------------------------------------------------ environment

/// The demo, the browser, axe-core and the other site, for every journey.
struct Env {
    demo: Demo,
    d: Driver,
    /// guichet's URL, `http://127.0.0.1:PORT`.
    url: String,
    /// axe-core's source.
    axe: String,
    /// A page of another site linking and posting to guichet's logout.
    foreign: String,
    checked: std::sync::atomic::AtomicUsize,
    _foreign_server: tokio::task::JoinHandle<()>,
}

impl Env {
    async fn start() -> Env {
        let axe_path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/browser/node_modules/axe-core/axe.min.js");
        let axe = std::fs::read_to_string(&axe_path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; install axe-core with `npm ci --prefix tests/browser` (make test does)",
                axe_path.display()
            )
        });
        clear_shots();
        let demo = start_demo().await;
        let url = demo.url.clone();
        let (foreign, server) = serve_foreign_site(&url).await;
        let d = Driver::start(guichet::demo::free_port().expect("port")).await;
        Env {
            demo,
            d,
            url,
            axe,
            foreign,
            checked: Default::default(),
            _foreign_server: server,
        }
    }

    fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// A new visitor: no cookie, a desktop window.
    async fn fresh(&self) {
        self.d.cdp("Network.clearBrowserCookies", json!({})).await;
        self.phone(false).await;
    }

    /// A 375 px wide phone, or back to a 1280 px desktop.
    async fn phone(&self, on: bool) {
        let (width, height, mobile) = if on {
            (375, 812, true)
        } else {
            (1280, 900, false)
        };
        self.d
            .cdp(
                "Emulation.setDeviceMetricsOverride",
                json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}),
            )
            .await;
    }

    async fn text(&self) -> String {
        self.d
            .script("return document.body.innerText")
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    async fn shot(&self, name: &str) {
        self.d
            .screenshot(&shots().join(format!("{name}.png")))
            .await;
    }

    /// Does the application let this browser in (a live session)? Asked with the browser's
    /// cookies from outside (guichet's pages allow no script to fetch anything).
    async fn logged_in(&self) -> bool {
        let cookies = self.d.cdp("Network.getAllCookies", json!({})).await;
        let cookie = cookies["cookies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["name"] == "guichet")
            .map(|c| format!("guichet={}", c["value"].as_str().unwrap_or_default()))
            .next();
        let Some(cookie) = cookie else {
            return false;
        };
        let r = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
            .get(self.at("/whoami"))
            .header("cookie", cookie)
            .send()
            .await
            .expect("whoami");
        r.status() == reqwest::StatusCode::OK
    }

    /// Clicks the provider button `button` on the chooser, then the test citizen, and waits
    /// to be back on guichet's origin at a URL `arrived` accepts.
    async fn fc_citizen(&self, button: &str, citizen: &str, arrived: impl Fn(&str) -> bool) {
        let d = &self.d;
        d.click(button).await;
        d.wait_url(|u| !u.starts_with(&self.url)).await;
        d.click(&format!("a[href*='citizen={citizen}']")).await;
        let url = self.url.clone();
        d.wait_url(move |u| u.starts_with(&url) && !u.contains("/callback") && arrived(u))
            .await;
    }

    /// Logs in with FranceConnect (eIDAS low) from a fresh chooser.
    async fn login_fc(&self, citizen: &str) {
        self.d.goto(&self.at("/.guichet/login?return_to=/")).await;
        self.fc_citizen("a.fc", citizen, |u| !u.contains("/.guichet/"))
            .await;
    }

    /// Everything checked on a page guichet shows, then its screenshot.
    async fn check(&self, name: &str, lang: &str) {
        let d = &self.d;
        self.checked
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let problems = d.script(A11Y).await;
        assert_eq!(problems, Value::Array(vec![]), "{name}: {problems}");
        let got = d.script("return document.documentElement.lang").await;
        assert_eq!(got, lang, "{name}");
        // The page's own style applied under the strict policy (a blocked style would leave
        // the browser's default margins).
        let margin = d
            .script("return getComputedStyle(document.body).margin")
            .await;
        assert_eq!(margin, "0px", "{name}: the inline style did not apply");
        let violations = self.axe().await;
        assert_eq!(
            violations,
            Value::Array(vec![]),
            "{name}: axe-core (WCAG 2.1 A/AA) violations"
        );
        self.shot(name).await;
    }

    /// axe-core, injected the same way, finds a violation where there is one (an image
    /// without a text alternative, added to the other site's page): a check that cannot
    /// silently pass.
    async fn axe_sees_a_violation(&self) {
        self.d
            .script("const i = document.createElement('img'); i.src = 'data:,'; document.body.append(i)")
            .await;
        let violations = self.axe().await;
        assert!(
            violations.as_array().is_some_and(|v| v
                .iter()
                .any(|v| v.as_str().is_some_and(|v| v.starts_with("image-alt")))),
            "axe-core missed an image without alt: {violations}"
        );
    }

    /// axe-core's WCAG 2.1 A and AA violations on the current page.
    async fn axe(&self) -> Value {
        let d = &self.d;
        if d.script("return typeof window.axe").await != "object" {
            d.script(&format!("{}\n;return typeof window.axe", self.axe))
                .await;
        }
        d.script_async(
            "const done = arguments[arguments.length - 1];\
             axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},\
               resultTypes: ['violations']})\
             .then(r => done(r.violations.map(v => v.id + ': ' + v.help + ' @ ' +\
               v.nodes.map(n => n.target.join(' ')).join(', '))))\
             .catch(e => done(['axe failed: ' + e]));",
        )
        .await
    }
}

/// A page on another site (127.0.0.2, cross-site for the browser; another loopback port of
/// `localhost` where that address is missing) with a link and a form to guichet's logout.
async fn serve_foreign_site(guichet: &str) -> (String, tokio::task::JoinHandle<()>) {
    let listener = match tokio::net::TcpListener::bind("127.0.0.2:0").await {
        Ok(l) => l,
        Err(_) => tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind"),
    };
    let addr = listener.local_addr().expect("addr");
    let host = if addr.ip().to_string() == "127.0.0.2" {
        addr.to_string()
    } else {
        format!("localhost:{}", addr.port())
    };
    let page = format!(
        "<!DOCTYPE html><html lang=\"fr\"><head><meta charset=\"utf-8\"><title>Un autre site</title></head>\
         <body><main><h1>Un autre site</h1>\
         <p><a id=\"logout\" href=\"{guichet}/.guichet/logout\">Se déconnecter du service</a></p>\
         <form id=\"logout\" method=\"post\" action=\"{guichet}/.guichet/logout\"><button>Déconnecter</button></form>\
         </main></body></html>"
    );
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let page = page.clone();
            async move { axum::response::Html(page) }
        }),
    );
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{host}/"), server)
}

/// `guichet demo`, stopped when dropped.
struct Demo {
    child: Child,
    url: String,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_demo() -> Demo {
    let port = guichet::demo::free_port().expect("free port");
    let child = Command::new(env!("CARGO_BIN_EXE_guichet"))
        .args(["demo", "--provider", "all", "--port", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("guichet demo");
    // Owned at once: stopped even if it never announces itself.
    let mut demo = Demo {
        child,
        url: String::new(),
    };
    let stdout = demo.child.stdout.take().expect("stdout");
    // The demo prints its URL on stdout once it is ready (the evidence log follows).
    let line = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || {
            let mut reader = std::io::BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            // Keep draining the evidence log so the demo never blocks on a full pipe.
            std::thread::spawn(move || {
                let mut sink = String::new();
                while reader.read_line(&mut sink).is_ok_and(|n| n > 0) {
                    sink.clear();
                }
            });
            line
        }),
    )
    .await
    .expect("the demo did not start within 60 s")
    .expect("reader");
    let url = line.trim().trim_end_matches('/').to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{line:?}");
    demo.url = url;
    demo
}

fn shots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("e2e-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

/// Screenshots of this run only.
fn clear_shots() {
    let _ = std::fs::remove_dir_all(shots());
}

/// guichet's own checks, computed by the browser on the rendered page (beside axe-core):
/// language, one title, main landmark, text of links and images, links underlined, contrast
/// of every text from the real styles, no horizontal scrolling; returns the problems.
const A11Y: &str = r#"
const out = [];
const html = document.documentElement;
if (!['fr', 'en'].includes(html.lang)) out.push('lang: ' + html.lang);
if (document.querySelectorAll('h1').length !== 1) out.push('not exactly one h1');
if (!document.querySelector('main')) out.push('no main landmark');
if (!document.title.trim()) out.push('no title');
if (html.scrollWidth > window.innerWidth) out.push('horizontal scrolling: ' + html.scrollWidth + ' > ' + window.innerWidth);
for (const img of document.images) if (!img.hasAttribute('alt')) out.push('img without alt');
for (const a of document.querySelectorAll('a, button')) {
  if (!a.textContent.trim()) out.push('link or button without text');
}
for (const a of document.querySelectorAll('a:not(.btn):not(.fc):not(.skip)')) {
  if (!getComputedStyle(a).textDecorationLine.includes('underline')) {
    out.push('link told apart by colour only: ' + a.textContent.trim());
  }
}
const rgb = s => (s.match(/[\d.]+/g) || ['0', '0', '0']).map(Number);
const lum = c => {
  const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
};
const bg = el => {
  for (; el; el = el.parentElement) {
    const c = rgb(getComputedStyle(el).backgroundColor);
    if (c.length < 4 || c[3] > 0) return c;
  }
  return [255, 255, 255];
};
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
while (walker.nextNode()) {
  const t = walker.currentNode;
  if (!t.textContent.trim()) continue;
  const el = t.parentElement;
  if (el.closest('.skip')) continue;
  const st = getComputedStyle(el);
  if (st.visibility === 'hidden' || st.display === 'none') continue;
  const a = lum(rgb(st.color)), b = lum(bg(el));
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  if (ratio < 4.5) out.push('contrast ' + ratio.toFixed(2) + ':1 for ' + t.textContent.trim().slice(0, 40));
}
return out;
"#;

/// Tabs through the page: focus must follow the document order and always be visible.
const FOCUS: &str = r#"
const focusable = [...document.querySelectorAll('a[href], button')];
return focusable.map(e => e.textContent.trim().replace(/\s+/g, ' '));
"#;

const ACTIVE: &str = r#"
const e = document.activeElement;
const st = getComputedStyle(e);
return [e.textContent.trim().replace(/\s+/g, ' '), st.outlineStyle, parseFloat(st.outlineWidth)];
"#;

async fn check_focus_order(env: &Env, name: &str) {
    let d = &env.d;
    let order = d.script(FOCUS).await;
    let order = order.as_array().expect("focusable list").clone();
    assert!(!order.is_empty(), "{name}: nothing to focus");
    for (i, expected) in order.iter().enumerate() {
        d.key("\u{E004}").await;
        let active = d.script(ACTIVE).await;
        assert_eq!(&active[0], expected, "{name}: tab {i} went elsewhere");
        assert_ne!(active[1], "none", "{name}: no visible focus on {expected}");
        assert!(
            active[2].as_f64().unwrap_or(0.0) >= 2.0,
            "{name}: focus too thin"
        );
        if i == 0 {
            env.shot(&format!("{name}-focus-skip-link")).await;
        }
    }
}

/// A second gateway on the demo's configuration (same mock providers and application), with
/// a logo, colours, texts and the State's brand.
async fn start_overridden(demo: &Demo) -> Gateway {
    let dir = std::env::temp_dir().join(format!("guichet-demo-{}", demo.child.id()));
    let config = std::fs::read_to_string(dir.join("guichet.toml")).expect("demo config");
    let port = guichet::demo::free_port().expect("port");
    let demo_port = demo.url.rsplit(':').next().expect("port");
    let logo = dir.join("logo.svg");
    std::fs::write(
        &logo,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"48\" height=\"56\" viewBox=\"0 0 48 56\">\
         <path d=\"M4 4h40v24c0 14-10 22-20 26C14 50 4 42 4 28z\" fill=\"#ffffff\"/>\
         <path d=\"M14 16h20v4H14zm0 9h20v4H14zm0 9h20v4H14z\" fill=\"#8a1c1c\"/></svg>",
    )
    .expect("logo");
    let config = config
        .replace(
            &format!("listen = \"127.0.0.1:{demo_port}\""),
            &format!("listen = \"127.0.0.1:{port}\""),
        )
        .replace(
            &format!("public_url = \"http://127.0.0.1:{demo_port}\""),
            &format!("public_url = \"http://127.0.0.1:{port}\""),
        )
        .replace(
            "[pages]\n",
            &format!(
                "[pages]\nlogo = \"file:{}\"\nstate_branding = true\n",
                logo.display()
            ),
        );
    let config = without_metrics_listener(&config)
        + "\n[pages.colors]\nprimary = \"#8a1c1c\"\nheader_background = \"#8a1c1c\"\nheader_text = \"#ffffff\"\n\
           [pages.texts.fr]\nchooser_intro = \"Pour suivre vos démarches, identifiez-vous :\"\n\
           footer = \"Mairie de Saint-Exemple, 1 place de la Mairie\"\n\
           [pages.texts.en]\nerror_help = \"Call the town hall on 01 23 45 67 89 if this persists.\"\n";
    let path = dir.join("overridden.toml");
    std::fs::write(&path, config).expect("config");
    let child = Command::new(env!("CARGO_BIN_EXE_guichet"))
        .args(["run", "--config"])
        .arg(&path)
        .arg("--upgrade-sock")
        .arg(dir.join("overridden.sock"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("guichet run");
    // Owned at once: stopped (and waited for) even if it never becomes ready.
    let gateway = Gateway {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = client.get(format!("{}/readyz", gateway.url)).send().await {
            if r.status().is_success() {
                return gateway;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the second gateway did not become ready");
}

/// The demo's metrics listener is taken: the second gateway has none.
fn without_metrics_listener(config: &str) -> String {
    let mut out = String::new();
    let mut in_metrics = false;
    for line in config.lines() {
        if line.starts_with('[') {
            in_metrics = line == "[metrics]";
        }
        if in_metrics && line.starts_with("listen") {
            out.push_str("listen = \"\"\n");
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// A `guichet run`, stopped when dropped.
struct Gateway {
    child: Child,
    url: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
