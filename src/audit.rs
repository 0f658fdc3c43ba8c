//! The evidence log (seed 002, 4.3): one JSON line per authentication event, to stdout or to
//! a file, flushed after every line so a crash or shutdown loses nothing already written.
//!
//! Invariant: an [`Event`] has no field that could hold a token, a secret, a name or a birth
//! date; the provider's `sub` (a pseudonymous identifier) is the only identifier recorded.

use crate::config::AuditOutput;
use serde::Serialize;
use std::io::Write;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::SystemTime;

/// One authentication event.
#[derive(Debug, Clone, Serialize)]
pub struct Event<'a> {
    /// `login`, `logout`, `session_expired`, `login_start`...
    pub event: &'static str,
    /// `success` or `failure`.
    pub outcome: &'static str,
    /// Short reason code (`ok`, `id_token_bad_signature`, `access_denied`, ...).
    pub reason: &'a str,
    pub provider: Option<&'a str>,
    pub sub: Option<&'a str>,
    pub idp_id: Option<&'a str>,
    pub level: Option<&'a str>,
    pub client_ip: Option<IpAddr>,
}

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    #[serde(flatten)]
    event: &'a Event<'a>,
}

pub struct Audit {
    out: Mutex<Box<dyn Write + Send>>,
}

impl Audit {
    pub fn open(output: &AuditOutput) -> std::io::Result<Audit> {
        let out: Box<dyn Write + Send> = match output {
            AuditOutput::Stdout => Box::new(std::io::stdout()),
            AuditOutput::File(path) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            ),
        };
        Ok(Audit {
            out: Mutex::new(out),
        })
    }

    /// An audit log that writes into a shared buffer (tests).
    pub fn to_writer(w: Box<dyn Write + Send>) -> Audit {
        Audit { out: Mutex::new(w) }
    }

    pub fn record(&self, event: &Event<'_>) {
        let line = Line {
            time: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            event,
        };
        let Ok(mut json) = serde_json::to_vec(&line) else {
            return;
        };
        json.push(b'\n');
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        if out.write_all(&json).and_then(|_| out.flush()).is_err() {
            tracing::error!("cannot write to the evidence log");
        }
    }

    pub fn flush(&self) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = out.flush();
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
    fn one_json_line_per_event_with_utc_time() {
        let buf = Buf::default();
        let audit = Audit::to_writer(Box::new(buf.clone()));
        audit.record(&Event {
            event: "login",
            outcome: "success",
            reason: "ok",
            provider: Some("fc"),
            sub: Some("abc"),
            idp_id: None,
            level: Some("eidas1"),
            client_ip: Some("127.0.0.1".parse().unwrap()),
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1);
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["event"], "login");
        assert_eq!(v["client_ip"], "127.0.0.1");
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
    }
}
