//! The evidence log (seed 002, 4.3): one JSON line per authentication event, to stdout or to
//! a file (`[audit] output`).
//!
//! A line: `time` (UTC, RFC 3339 with milliseconds), `event`, `outcome`, `reason`, `provider`,
//! `sub`, `idp_id`, `level`, `client_ip`, `request_id`, and for step-ups `required_level`.
//!
//! | event | outcomes | written by |
//! |---|---|---|
//! | `login` | `success`, `failure` (reason: why) | callback |
//! | `claim_dropped` | `dropped` (reason `invalid_claim_NAME`: a value outside its rule, optional or not forwarded, left out of a login that went on) | callback |
//! | `step_up` | `required` (a session below a page's level sent to log in again) | gateway |
//! | `logout` | `success` (reason `rp_initiated`, `backchannel`...), `failure` | logout, back-channel |
//! | `session_expired` | `success` (reason `idle_timeout`/`absolute_timeout`) | session lookup, store sweep |
//! | `session_ended` | `success` (reason `too_many_sessions`, `store_full`) | session store |
//! | `store_record_refused` | `failure` (reason `session_altered_or_moved`, `login_state_unknown_key`...) | Redis store |
//! | `throttled` | `blocked` (reason `login_starts`/`failed_callbacks`) | [`crate::throttle`] |
//!
//! Invariants:
//! - An [`Event`] has no field that could hold a token, a secret, a name or a birth date; the
//!   provider's `sub` (a pseudonymous identifier) is the only identifier recorded
//!   (`tests/ops.rs::no_personal_data_or_token_in_any_log`).
//! - Each line is written whole under a lock and flushed at once (a file is unbuffered, stdout
//!   is flushed per line), so a crash loses at most the line being written; on a clean
//!   shutdown [`Audit::close`] waits for that line, then syncs the file to disk
//!   (`tests/ops.rs::evidence_lines_survive_a_clean_shutdown`).
//! - A failed write is counted (`guichet_audit_write_errors_total`) and logged, never ignored.

use crate::config::AuditOutput;
use crate::web::Request;
use prometheus::IntCounter;
use serde::Serialize;
use std::fs::File;
use std::io::Write;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::SystemTime;

/// One authentication event.
#[derive(Debug, Clone, Serialize)]
pub struct Event<'a> {
    /// `login`, `claim_dropped`, `step_up`, `logout`, `session_expired`, `session_ended`,
    /// `store_record_refused`, `throttled`.
    pub event: &'static str,
    /// `success`, `failure`, `dropped` (claim), `required` (step-up), `blocked` (throttling).
    pub outcome: &'static str,
    /// Short reason code (`ok`, `id_token_bad_signature`, `access_denied`, ...).
    pub reason: &'a str,
    pub provider: Option<&'a str>,
    pub sub: Option<&'a str>,
    pub idp_id: Option<&'a str>,
    /// The session's eIDAS level (`eidas1`...), when known.
    pub level: Option<&'a str>,
    pub client_ip: Option<IpAddr>,
    pub request_id: Option<&'a str>,
    /// Step-up: the level the page asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_level: Option<&'a str>,
}

impl<'a> Event<'a> {
    /// An event no request caused (a sweep, a store's own decision): no client address, no
    /// request id, no identity yet.
    pub fn none(event: &'static str, outcome: &'static str, reason: &'a str) -> Event<'a> {
        Event {
            event,
            outcome,
            reason,
            provider: None,
            sub: None,
            idp_id: None,
            level: None,
            client_ip: None,
            request_id: None,
            required_level: None,
        }
    }

    /// An event about `req` (its client address and request id), with no identity yet.
    pub fn of(
        req: &Request<'a>,
        event: &'static str,
        outcome: &'static str,
        reason: &'a str,
    ) -> Event<'a> {
        Event {
            event,
            outcome,
            reason,
            provider: None,
            sub: None,
            idp_id: None,
            level: None,
            client_ip: req.client_ip,
            request_id: req.request_id,
            required_level: None,
        }
    }
}

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    #[serde(flatten)]
    event: &'a Event<'a>,
}

enum Sink {
    Stdout(std::io::Stdout),
    File(File),
    Writer(Box<dyn Write + Send>),
}

impl Sink {
    fn write_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Stdout(s) => {
                let mut s = s.lock();
                s.write_all(line)?;
                s.flush()
            }
            Sink::File(f) => f.write_all(line),
            Sink::Writer(w) => {
                w.write_all(line)?;
                w.flush()
            }
        }
    }

    fn sync(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Stdout(s) => s.flush(),
            Sink::File(f) => f.sync_data(),
            Sink::Writer(w) => w.flush(),
        }
    }
}

pub struct Audit {
    out: Mutex<Sink>,
    write_errors: IntCounter,
}

impl Audit {
    /// Opens the output (a file is created if needed and appended to).
    pub fn open(output: &AuditOutput, write_errors: IntCounter) -> std::io::Result<Audit> {
        let sink = match output {
            AuditOutput::Stdout => Sink::Stdout(std::io::stdout()),
            AuditOutput::File(path) => Sink::File(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            ),
        };
        Ok(Audit {
            out: Mutex::new(sink),
            write_errors,
        })
    }

    /// An audit log that writes into any writer (tests).
    pub fn to_writer(w: Box<dyn Write + Send>) -> Audit {
        Audit {
            out: Mutex::new(Sink::Writer(w)),
            write_errors: IntCounter::new("audit_write_errors", "unregistered")
                .unwrap_or_else(|e| panic!("malformed metric: {e}")),
        }
    }

    pub fn record(&self, event: &Event<'_>) {
        let line = Line {
            time: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            event,
        };
        let Ok(mut json) = serde_json::to_vec(&line) else {
            self.write_errors.inc();
            return;
        };
        json.push(b'\n');
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = out.write_line(&json) {
            self.write_errors.inc();
            tracing::error!(error = %e, event = event.event, "cannot write to the evidence log");
        }
    }

    /// Called once the listeners have drained: waits for a line being written, then makes
    /// everything durable (a file is synced to disk).
    pub fn close(&self) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = out.sync() {
            self.write_errors.inc();
            tracing::error!(error = %e, "cannot sync the evidence log");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn one_json_line_per_event_with_utc_time_and_request_id() {
        let buf = Buf::default();
        let audit = Audit::to_writer(Box::new(buf.clone()));
        let headers = http::HeaderMap::new();
        let req = Request {
            method: &http::Method::GET,
            path: "/",
            query: None,
            headers: &headers,
            client_ip: Some("127.0.0.1".parse().unwrap()),
            request_id: Some("abc123"),
            body: crate::web::Body::None,
        };
        let mut e = Event::of(&req, "login", "success", "ok");
        e.provider = Some("fc");
        e.sub = Some("abc");
        e.level = Some("eidas1");
        audit.record(&e);
        let mut step = Event::of(&req, "step_up", "required", "level_too_low");
        step.required_level = Some("eidas2");
        audit.record(&step);
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 2);
        let v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(v["event"], "login");
        assert_eq!(v["client_ip"], "127.0.0.1");
        assert_eq!(v["request_id"], "abc123");
        assert!(v.get("required_level").is_none());
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
        let v: serde_json::Value = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
        assert_eq!(v["required_level"], "eidas2");
    }

    #[test]
    fn a_file_output_is_appended_and_synced_on_close() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        std::fs::write(&path, "earlier\n").unwrap();
        let audit = Audit::open(
            &AuditOutput::File(path.clone()),
            IntCounter::new("e", "e").unwrap(),
        )
        .unwrap();
        let headers = http::HeaderMap::new();
        let req = Request {
            method: &http::Method::GET,
            path: "/",
            query: None,
            headers: &headers,
            client_ip: None,
            request_id: None,
            body: crate::web::Body::None,
        };
        audit.record(&Event::of(&req, "logout", "success", "rp_initiated"));
        audit.close();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("earlier\n{"), "{text}");
        assert!(text.ends_with("}\n"));
        assert_eq!(audit.write_errors.get(), 0);
    }
}
