//! A lenient upstream we did not write: Python's `http.server`, routing request-targets the
//! way Werkzeug does (`"/" + unquote(path).lstrip("/")`), in `lenient_upstream.py`. It accepts
//! any request-target, so it serves whatever guichet forwards, and tells what it received.
//! `make test` installs `python3` (`scripts/deps.sh`).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub struct LenientUpstream {
    child: Child,
    pub port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for LenientUpstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the lenient upstream answered with (its JSON body).
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// The request-target exactly as received.
    pub target: String,
    /// The path Werkzeug would route.
    pub routed: String,
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub fn from_body(body: &[u8]) -> Option<Seen> {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        Some(Seen {
            method: v["method"].as_str()?.to_string(),
            target: v["target"].as_str()?.to_string(),
            routed: v["routed"].as_str()?.to_string(),
            headers: v["headers"]
                .as_array()?
                .iter()
                .filter_map(|p| Some((p[0].as_str()?.to_string(), p[1].as_str()?.to_string())))
                .collect(),
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Identity headers (`x-pivot-*`) received.
    pub fn identity(&self) -> Vec<&str> {
        self.headers
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| n.starts_with("x-pivot-"))
            .collect()
    }
}

impl LenientUpstream {
    pub fn start() -> LenientUpstream {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("targets.log");
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/common/lenient_upstream.py"
        );
        let mut child = Command::new("python3")
            .arg(script)
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 (installed by scripts/deps.sh)");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the lenient upstream's port");
        let port = line.trim().parse().expect("a port");
        LenientUpstream {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request-target it received so far, in order.
    pub fn targets(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }
}

/// The routes the raw-request tests configure (besides the stack's `/public`, public, and
/// `/api`, api): levels and a claim profile to bypass, if anything could.
pub const ROUTES_TOML: &str = "[[routes]]\npath = \"/renforce\"\nmin_level = \"eidas2\"\n\n\
     [[routes]]\npath = \"/eleve\"\nmin_level = \"eidas3\"\n\n\
     [[routes]]\npath = \"/etat-civil\"\nclaims = [\"given_name\", \"family_name\"]\n";

/// `ROUTES_TOML` with a public `/`: what reaches the default route needs no session.
pub const PUBLIC_ROOT_TOML: &str = "[[routes]]\npath = \"/\"\naccess = \"public\"\n";

/// What a route asks of a request, as the test models it.
#[derive(Debug, Clone, Copy)]
pub struct Need {
    pub prefix: &'static str,
    pub session: bool,
    /// eIDAS level 1..3, 0 for none.
    pub level: u8,
    /// The only identity headers it may receive; `None`: any.
    pub identity: Option<&'static [&'static str]>,
}

/// The route table of a gateway configured with [`ROUTES_TOML`] (and [`PUBLIC_ROOT_TOML`]
/// when `public_root`), longest prefix first.
pub fn routes(public_root: bool) -> Vec<Need> {
    let need = |prefix, session, level, identity| Need {
        prefix,
        session,
        level,
        identity,
    };
    vec![
        need(
            "/etat-civil",
            true,
            0,
            Some(&["x-pivot-sub", "x-pivot-given-name", "x-pivot-family-name"][..]),
        ),
        need("/renforce", true, 2, None),
        need("/public", false, 0, None),
        need("/eleve", true, 3, None),
        need("/api", true, 0, None),
        need("/", !public_root, 0, None),
    ]
}

/// The route of a path (segments matched whole, case as given).
pub fn route_of<'a>(routes: &'a [Need], path: &str) -> &'a Need {
    routes
        .iter()
        .find(|r| {
            r.prefix == "/"
                || path == r.prefix
                || path
                    .strip_prefix(r.prefix)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
        .expect("the default route matches everything")
}

/// Every way an upstream may read a request-target it received: Werkzeug's routing (what the
/// lenient upstream reported), the raw path, decoded once or twice, backslashes read as
/// slashes, `;parameters` dropped (Java), trailing dots and spaces trimmed (Windows),
/// dot segments resolved, letter case folded.
pub fn views(seen: &Seen) -> Vec<String> {
    let raw_path = seen
        .target
        .split('?')
        .next()
        .unwrap_or_default()
        .to_string();
    let mut out = Vec::new();
    for base in [raw_path, seen.routed.clone()] {
        let mut decoded = base;
        for _ in 0..3 {
            for lower in [false, true] {
                let mut segments: Vec<String> = Vec::new();
                let s = decoded.replace('\\', "/");
                for segment in s.split('/') {
                    let segment = segment.split(';').next().unwrap_or("");
                    let segment = segment.trim_end_matches(['.', ' ']);
                    let segment = if lower {
                        segment.to_lowercase()
                    } else {
                        segment.to_string()
                    };
                    match segment.as_str() {
                        "" => {}
                        ".." => {
                            segments.pop();
                        }
                        _ => segments.push(segment),
                    }
                }
                out.push(format!("/{}", segments.join("/")));
            }
            decoded = percent_encoding::percent_decode_str(&decoded)
                .decode_utf8_lossy()
                .into_owned();
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Checks what the upstream served against what the session used may reach: under every
/// reading of the target, the route it names is open to that session (level 0: no session),
/// and the identity headers received are the route's. Returns what is wrong.
pub fn bypass(routes: &[Need], seen: &Seen, level: u8) -> Option<String> {
    let identity = seen.identity();
    if level == 0 && !identity.is_empty() {
        return Some(format!("identity without a session: {identity:?}"));
    }
    for view in views(seen) {
        let need = route_of(routes, &view);
        if need.session && level == 0 {
            return Some(format!("{view} ({}) served without a session", need.prefix));
        }
        if level < need.level {
            return Some(format!(
                "{view} ({}, eidas{}) served to an eidas{level} session",
                need.prefix, need.level
            ));
        }
        if let Some(allowed) = need.identity {
            if let Some(extra) = identity.iter().find(|h| !allowed.contains(h)) {
                return Some(format!("{view} ({}) received {extra}", need.prefix));
            }
        }
    }
    None
}
