//! The real-browser test (issue 7 item 5): headless Chromium, driven through chromedriver,
//! walks `guichet demo --provider all` from the chooser to the application and back through
//! logout, checks the basics of accessibility in the rendered pages (language, one title,
//! labels, contrast computed from the real styles, focus order and a visible focus, links
//! underlined) and that the strict Content-Security-Policy still lets the page's own style
//! apply, and saves a screenshot of every page in French and English into
//! `e2e-screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver`: run it with `make e2e`, which installs
//! them (`cargo test --test browser -- --ignored`). `make test` does not run it.

#[path = "browser/webdriver.rs"]
mod webdriver;

use serde_json::Value;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use webdriver::Driver;

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

/// Accessibility basics, computed by the browser on the rendered page; returns the problems.
const A11Y: &str = r#"
const out = [];
const html = document.documentElement;
if (!['fr', 'en'].includes(html.lang)) out.push('lang: ' + html.lang);
if (document.querySelectorAll('h1').length !== 1) out.push('not exactly one h1');
if (!document.querySelector('main')) out.push('no main landmark');
if (!document.title.trim()) out.push('no title');
for (const img of document.images) if (!img.hasAttribute('alt')) out.push('img without alt');
for (const a of document.querySelectorAll('a, button')) {
  if (!a.textContent.trim()) out.push('link or button without text');
}
for (const a of document.querySelectorAll('a:not(.btn):not(.fc)')) {
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

async fn check_page(d: &Driver, name: &str, lang: &str) {
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
    d.screenshot(&shots().join(format!("{name}.png"))).await;
}

async fn check_focus_order(d: &Driver, name: &str) {
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
            d.screenshot(&shots().join(format!("{name}-focus.png")))
                .await;
        }
    }
}

async fn body_text(d: &Driver) -> String {
    d.script("return document.body.innerText")
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromium-driver: run `make e2e`"]
async fn a_citizen_logs_in_steps_up_and_logs_out_in_a_real_browser() {
    let demo = start_demo().await;
    let url = demo.url.clone();
    let d = Driver::start(guichet::demo::free_port().expect("port")).await;

    // 1. The application's home page needs a session: the chooser, in French.
    d.goto(&format!("{url}/")).await;
    d.wait_url(|u| u.contains("/.guichet/login")).await;
    let text = body_text(&d).await;
    assert!(
        text.contains("S’identifier avec\nFranceConnect")
            || text.contains("S’identifier avec FranceConnect"),
        "{text}"
    );
    assert!(text.contains("Qu’est-ce que FranceConnect ?"), "{text}");
    assert!(text.contains("Se connecter autrement"), "{text}");
    check_page(&d, "01-chooser-fr", "fr").await;
    check_focus_order(&d, "01-chooser-fr").await;
    let chooser = d.url().await;

    // The same page in English, and on a phone.
    d.goto(&format!("{chooser}&lang=en")).await;
    assert!(body_text(&d)
        .await
        .contains("Choose how to identify yourself"));
    check_page(&d, "02-chooser-en", "en").await;
    d.window(390, 844).await;
    d.goto(&chooser).await;
    check_page(&d, "03-chooser-fr-mobile", "fr").await;
    d.window(1280, 900).await;

    // 2. FranceConnect (the mock), citizen Élodie, back to the application with her identity.
    d.goto(&chooser).await;
    d.click("a.fc").await;
    d.wait_url(|u| !u.starts_with(&url)).await;
    d.screenshot(&shots().join("04-provider-franceconnect.png"))
        .await;
    d.click("a[href*='citizen=elodie']").await;
    d.wait_url(|u| u.starts_with(&url) && !u.contains("/.guichet/"))
        .await;
    let app = d.source().await;
    assert!(
        app.contains("x-pivot-given-name") && app.contains("%C3%89lodie"),
        "{app}"
    );
    assert!(
        app.contains("\"verified\": true") || app.contains("\"verified\":true"),
        "{app}"
    );
    d.screenshot(&shots().join("05-application.png")).await;

    // 3. A page that needs eIDAS substantial: step-up, FranceConnect+ or MConnect.
    d.goto(&format!("{url}/renforce/")).await;
    d.wait_url(|u| u.contains("/.guichet/login")).await;
    let text = body_text(&d).await;
    assert!(text.contains("substantiel"), "{text}");
    assert!(
        !text.contains("FranceConnect ?"),
        "FranceConnect (eidas1) offered: {text}"
    );
    check_page(&d, "06-step-up-chooser-fr", "fr").await;
    d.click("a.fc").await;
    d.wait_url(|u| !u.starts_with(&url)).await;
    d.click("a[href*='citizen=elodie']").await;
    d.wait_url(|u| u.starts_with(&format!("{url}/renforce/")))
        .await;
    let app = d.source().await;
    assert!(app.contains("eidas2"), "{app}");
    d.screenshot(&shots().join("07-application-eidas2.png"))
        .await;

    // 4. Logout: the session first, then the provider, back to the logged-out page.
    d.goto(&format!("{url}/.guichet/logout")).await;
    d.wait_url(|u| u.contains("/.guichet/logged-out")).await;
    assert!(body_text(&d).await.contains("Vous êtes déconnecté"));
    check_page(&d, "08-logged-out-fr", "fr").await;
    check_focus_order(&d, "08-logged-out-fr").await;
    d.goto(&format!("{url}/.guichet/logged-out?lang=en")).await;
    assert!(body_text(&d).await.contains("You are logged out"));
    check_page(&d, "09-logged-out-en", "en").await;
    // The session is gone: the application asks to log in again.
    d.goto(&format!("{url}/")).await;
    d.wait_url(|u| u.contains("/.guichet/login")).await;

    // 5. The citizen gives up at the provider: a plain page, a way forward.
    d.click("a.fc").await;
    d.wait_url(|u| !u.starts_with(&url)).await;
    d.click("a.cancel").await;
    d.wait_url(|u| u.contains("/.guichet/callback")).await;
    let text = body_text(&d).await;
    assert!(
        text.contains("Connexion annulée") && text.contains("Se connecter à nouveau"),
        "{text}"
    );
    check_page(&d, "10-cancelled-fr", "fr").await;
    check_focus_order(&d, "10-cancelled-fr").await;
    d.goto(&format!(
        "{url}/.guichet/callback?error=access_denied&lang=en"
    ))
    .await;
    assert!(body_text(&d).await.contains("Login cancelled"));
    check_page(&d, "11-cancelled-en", "en").await;

    // 6. A suspended MConnect identity is refused with a page that says why.
    d.goto(&format!("{url}/.guichet/login?provider=mconnect"))
        .await;
    d.wait_url(|u| !u.starts_with(&url)).await;
    d.click("a[href*='citizen=suspendu']").await;
    d.wait_url(|u| u.contains("/.guichet/callback")).await;
    assert!(body_text(&d).await.contains("Identité numérique inactive"));
    check_page(&d, "12-identity-not-active-fr", "fr").await;
    d.goto(&format!("{url}/.guichet/nope?lang=en")).await;
    assert!(body_text(&d).await.contains("Page not found"));
    check_page(&d, "13-not-found-en", "en").await;

    // 7. The same deployment with the service's own logo, colours and texts: a second gateway
    // on the demo's configuration, with `[pages]` overrides.
    let overridden = start_overridden(&demo).await;
    d.goto(&format!("{}/.guichet/login?return_to=/", overridden.url))
        .await;
    let logo = d
        .script("const i = document.querySelector('header img'); return i ? i.naturalWidth : 0")
        .await;
    assert!(
        logo.as_u64().unwrap_or(0) > 0,
        "the logo did not load under the page policy"
    );
    let text = body_text(&d).await;
    assert!(
        text.contains("Pour suivre vos démarches, identifiez-vous"),
        "{text}"
    );
    assert!(
        text.contains("Mairie de Saint-Exemple, 1 place de la Mairie"),
        "{text}"
    );
    let bg = d
        .script("return getComputedStyle(document.querySelector('a.btn')).backgroundColor")
        .await;
    assert_eq!(bg, "rgb(138, 28, 28)", "the service's colour did not apply");
    check_page(&d, "14-chooser-service-colours-fr", "fr").await;
    d.goto(&format!(
        "{}/.guichet/callback?error=access_denied&lang=en",
        overridden.url
    ))
    .await;
    assert!(body_text(&d).await.contains("Call the town hall"));
    check_page(&d, "15-cancelled-service-colours-en", "en").await;
    drop(overridden);
    drop(d);
    drop(demo);
}

/// Issue 19: a form on an application page, the session ended in another tab, the form
/// sent, a new login: the application receives the POST, same fields in the same order, its
/// own CSRF token and cookie, the new session's identity; then the same with a file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromium-driver: run `make e2e`"]
async fn a_form_sent_after_the_session_ended_reaches_the_application_after_a_new_login() {
    let demo = start_demo().await;
    let url = demo.url.clone();
    let d = Driver::start(guichet::demo::free_port().expect("port")).await;
    let form_page = format!("{url}/formulaire");
    let login_as_elodie = || async {
        d.wait_url(|u| u.contains("/.guichet/login")).await;
        d.click("a.fc").await;
        d.wait_url(|u| !u.starts_with(&url)).await;
        d.click("a[href*='citizen=elodie']").await;
    };
    d.goto(&form_page).await;
    login_as_elodie().await;
    d.wait_url(|u| u == form_page).await;

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
    lose_the_session(&d).await;
    d.click("#envoyer").await;
    d.wait_url(|u| u.contains("/.guichet/login") && u.contains("form="))
        .await;
    login_as_elodie().await;
    d.wait_url(|u| u == form_page).await;
    let got = posted(&d).await;
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
    assert_eq!(headers["origin"], url.as_str(), "{got}");
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
    lose_the_session(&d).await;
    d.click("#envoyer-piece").await;
    login_as_elodie().await;
    d.wait_url(|u| u == form_page).await;
    let got = posted(&d).await;
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
    drop(d);
    drop(demo);
}

/// Ends the session the way a logout in another tab does (the browser keeps its other
/// cookies).
async fn lose_the_session(d: &Driver) {
    let authenticated = d
        .script(
            "return fetch('/.guichet/logout', {redirect: 'manual'})\
             .then(() => fetch('/.guichet/session')).then(r => r.json())\
             .then(j => j.authenticated)",
        )
        .await;
    assert_eq!(authenticated, false);
}

/// What the echo application answered to the replayed POST (waits for it, bounded).
async fn posted(d: &Driver) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let got = d
            .script("try { return JSON.parse(document.body.innerText) } catch (e) { return null }")
            .await;
        if got["method"] == "POST" {
            return got;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no POST echoed: {got}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A second gateway on the demo's configuration (same mock providers and application), with
/// a logo, colours, texts and a help link.
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
                "[pages]\nlogo = \"file:{}\"\nhelp_url = \"/public/aide\"\n",
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
    for _ in 0..300 {
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
