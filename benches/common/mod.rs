//! Helpers shared by the benches: a configuration, an identity, a browser request.
#![allow(dead_code)]

use guichet::config::Config;
use guichet::identity::Identity;
use pingora::http::RequestHeader;
use std::path::Path;

/// A validated configuration with every `[headers]` default (secret in a temporary file).
pub fn config() -> Config {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "0123456789abcdef0123456789").expect("secret");
    let text = format!(
        "[server]\npublic_url = \"https://demarches.example.fr\"\n\
         [upstream]\nurl = \"http://127.0.0.1:3000\"\n\
         [[providers]]\nname = \"fc\"\npreset = \"franceconnect-v2-integration\"\n\
         client_id = \"abc\"\nclient_secret = \"file:{}\"\n",
        secret.display()
    );
    Config::from_toml(&text, Path::new("bench.toml")).expect("config")
}

pub fn identity() -> Identity {
    let claims = serde_json::json!({
        "sub": "53ed7e08f2fcb14c2464576370556d1aa37afee022b6249ff44fb8a19a68b7a9v1",
        "given_name": "Jean-Philippe Marie", "family_name": "Lefèvre-Dubois",
        "birthdate": "1962-01-01", "gender": "male", "birthplace": "75056",
        "birthcountry": "99100", "email": "jp@example.fr", "acr": "eidas1", "idp_id": "fia1v2"
    });
    Identity::from_claims(&[claims.as_object().expect("object")]).expect("valid")
}

/// A typical browser request for a protected page, with guichet's session cookie.
pub fn browser_request() -> RequestHeader {
    let mut req = RequestHeader::build("GET", b"/dossiers/42", None).expect("request");
    for (k, v) in [
        ("Host", "demarches.example.fr"),
        (
            "User-Agent",
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        ),
        ("Accept", "text/html,application/xhtml+xml"),
        ("Accept-Language", "fr-FR,fr;q=0.9"),
        (
            "Cookie",
            "lang=fr; __Host-guichet=Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE",
        ),
    ] {
        req.append_header(k, v).expect("header");
    }
    req
}

/// Resident set size of a process, in KiB (Linux `/proc`; 0 when unreadable).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// A child process, sent SIGTERM when dropped, then SIGKILL if it is still there after 5 s.
pub struct Proc(pub std::process::Child);

impl Proc {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits (up to 30 s) until a gateway at `url` answers `/readyz` with 200.
pub async fn wait_ready(url: &str) -> bool {
    let probe = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(r) = probe.get(format!("{url}/readyz")).send().await {
            if r.status() == reqwest::StatusCode::OK {
                return true;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}
