//! The environment of the real-browser test (`tests/browser.rs`): `guichet demo`, the
//! browser, axe-core, the other site, guichet's own page checks, and a second gateway with a
//! service's own look.

use super::webdriver::Driver;
use serde_json::{json, Value};
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The demo, the browser, axe-core and the other site, for every journey.
pub struct Env {
    pub demo: Demo,
    pub d: Driver,
    /// guichet's URL, `http://127.0.0.1:PORT`.
    pub url: String,
    /// axe-core's source.
    pub axe: String,
    /// A page of another site linking and posting to guichet's logout.
    pub foreign: String,
    pub checked: std::sync::atomic::AtomicUsize,
    _foreign_server: tokio::task::JoinHandle<()>,
}

impl Env {
    pub async fn start() -> Env {
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

    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// A new visitor: no cookie, a desktop window.
    pub async fn fresh(&self) {
        self.d.cdp("Network.clearBrowserCookies", json!({})).await;
        self.phone(false).await;
    }

    /// A 375 px wide phone, or back to a 1280 px desktop.
    pub async fn phone(&self, on: bool) {
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

    pub async fn text(&self) -> String {
        self.d
            .script("return document.body.innerText")
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub async fn shot(&self, name: &str) {
        self.d
            .screenshot(&shots().join(format!("{name}.png")))
            .await;
    }

    /// Does the application let this browser in (a live session)? Asked with the browser's
    /// cookies from outside (guichet's pages allow no script to fetch anything).
    pub async fn logged_in(&self) -> bool {
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
    pub async fn fc_citizen(&self, button: &str, citizen: &str, arrived: impl Fn(&str) -> bool) {
        let d = &self.d;
        d.click(button).await;
        d.wait_url(|u| !u.starts_with(&self.url)).await;
        d.click(&format!("a[href*='citizen={citizen}']")).await;
        let url = self.url.clone();
        d.wait_url(move |u| u.starts_with(&url) && !u.contains("/callback") && arrived(u))
            .await;
    }

    /// Logs in with FranceConnect (eIDAS low) from a fresh chooser.
    pub async fn login_fc(&self, citizen: &str) {
        self.d.goto(&self.at("/.guichet/login?return_to=/")).await;
        self.fc_citizen("a.fc", citizen, |u| !u.contains("/.guichet/"))
            .await;
    }

    /// Everything checked on a page guichet shows, then its screenshot.
    pub async fn check(&self, name: &str, lang: &str) {
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
    pub async fn axe_sees_a_violation(&self) {
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
    pub async fn axe(&self) -> Value {
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
pub struct Demo {
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

pub async fn check_focus_order(env: &Env, name: &str) {
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
pub async fn start_overridden(demo: &Demo) -> Gateway {
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
pub struct Gateway {
    child: Child,
    pub url: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
