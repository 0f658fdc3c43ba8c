//! The evidence log when its output is stuck (issue 14): guichet's evidence log is a named
//! pipe that nobody reads. Lines queue in memory up to `[audit] queue_size`; requests keep
//! being served; once the queue is full a login is refused (no session without its evidence
//! line) and every line not written is counted and reported, never lost silently. When the
//! output drains, everything queued is written, in order, and logins work again.

mod common;

use common::*;
use reqwest::StatusCode;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_evidence_log_refuses_logins_and_counts_lost_lines() {
    let mut h = Harness::with(Setup {
        extra_toml: "[[routes]]\npath = \"/renforce\"\nmin_level = \"eidas2\"\n".into(),
        ..Setup::default()
    })
    .await;
    let fifo = h.dir.path().join("evidence.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());

    // The reader opens the pipe (guichet's open waits for it), then reads nothing until told.
    let read = Arc::new(Mutex::new(Vec::<u8>::new()));
    let (release, released) = std::sync::mpsc::channel::<()>();
    let reader = {
        let fifo = fifo.clone();
        let read = read.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::File::open(&fifo).expect("open the pipe");
            let _ = released.recv();
            let mut buf = [0u8; 4096];
            while let Ok(n) = f.read(&mut buf) {
                if n == 0 {
                    break;
                }
                read.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    let audit_file = h.gateway.audit_path.display().to_string();
    h.restart_with(|text| {
        text.replace(
            &format!("output = \"{audit_file}\""),
            &format!("output = \"{}\"\nqueue_size = 4", fifo.display()),
        )
    })
    .await;

    let b = h.browser();
    let cookie = b.login(&h, "elodie", "/whoami").await.session_cookie();
    // Step-ups make evidence lines without a login: enough of them fill the pipe (64 KiB),
    // then the queue (4 lines, and the one the writer is stuck on), until a line waits 1 s
    // in vain and is dropped. Every request is answered meanwhile.
    let started = Instant::now();
    for i in 0.. {
        let r = get_with_cookie(&format!("{}/renforce/{i}", h.url), &cookie).await;
        assert_eq!(r.status(), StatusCode::FOUND);
        let m = h.metrics().await;
        if m.contains("guichet_audit_dropped_total{event=\"step_up\"}")
            && m.contains("guichet_audit_queue_depth 5")
        {
            assert!(!m.contains("guichet_audit_waits_total 0"), "{m}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "never full:\n{m}"
        );
    }

    // A login now: its line cannot be written, so it is refused, with a page; no session.
    let landed = h.browser().login(&h, "ana", "/whoami").await;
    assert_eq!(
        landed.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        landed.body
    );
    assert!(
        landed.body.contains("enregistrer votre connexion"),
        "{}",
        landed.body
    );
    assert!(
        !landed.set_cookies.iter().any(|c| c.starts_with("guichet=")),
        "{:?}",
        landed.set_cookies
    );
    // Pages that write no evidence are served at once.
    let r = reqwest::get(format!("{}/public/x", h.url)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let m = h.metrics().await;
    assert!(
        m.contains("guichet_audit_dropped_total{event=\"login\"} 2"),
        "{m}"
    );
    assert!(m.contains("reason=\"evidence_log_unavailable\""), "{m}");
    h.wait_log("EVIDENCE LOG LINE LOST", Duration::from_secs(5))
        .await;

    // The output drains: every queued line arrives, in order; logins work again.
    release.send(()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !h.metrics().await.contains("guichet_audit_queue_depth 0") {
        assert!(Instant::now() < deadline, "the queue never drained");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let landed = h.browser().login(&h, "ana", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    let deadline = Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let text = String::from_utf8_lossy(&read.lock().unwrap()).to_string();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        if lines
            .iter()
            .any(|e| e["event"] == "login" && e["outcome"] == "success" && lines.len() > 10)
        {
            break lines;
        }
        assert!(Instant::now() < deadline, "no login line after the drain");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let logins: Vec<_> = lines.iter().filter(|e| e["event"] == "login").collect();
    // elodie's login (before), then only ana's second login: the refused one left no line.
    assert_eq!(logins.len(), 2, "{logins:?}");
    assert!(logins.iter().all(|e| e["outcome"] == "success"));
    let steps: Vec<_> = lines
        .iter()
        .filter(|e| e["event"] == "step_up")
        .map(|e| e["request_id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(steps.len() > 100, "{}", steps.len());
    drop(h);
    reader.join().unwrap();
}
