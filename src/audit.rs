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
//! Writing: [`Audit::record`] serializes the line (its `time` is the event's) and hands it to
//! a bounded queue (`[audit] queue_size` lines); a dedicated thread writes the lines in order
//! and flushes each one. A request never waits for the output, only, when the queue is full
//! (the output is stuck or far too slow), for room in it, asynchronously: the worker thread
//! serves other requests meanwhile.
//!
//! A full queue (policy, docs/operations.md "Evidence log"): the event waits up to
//! [`FULL_WAIT`] for room (`guichet_audit_waits_total`). Still full, the line is not written:
//! it is counted (`guichet_audit_dropped_total{event}`) and logged on stderr (event, outcome,
//! reason, request id; no identifier), never lost silently; for a successful login,
//! [`Audit::record`]'s error makes the gateway refuse the login (the session is deleted, the
//! citizen gets a 503 page): no session exists without its evidence line.
//!
//! Invariants:
//! - An [`Event`] has no field that could hold a token, a secret, a name or a birth date; the
//!   provider's `sub` (a pseudonymous identifier) is the only identifier recorded
//!   (`tests/ops.rs::no_personal_data_or_token_in_any_log`).
//! - Lines are written in the order they were recorded, whole, each flushed at once (a file
//!   is unbuffered, stdout is flushed per line); on a clean shutdown [`Audit::close`] waits
//!   for every queued line, then syncs the file to disk
//!   (`tests/ops.rs::evidence_lines_survive_a_clean_shutdown`, `tests::lines_keep_their_order_and_close_waits_for_them`).
//! - A stuck output never blocks a caller beyond [`FULL_WAIT`], and every line that is not
//!   written is counted (`tests::a_stuck_output_drops_and_counts_after_the_wait`,
//!   `tests/ops.rs::a_stuck_evidence_log_refuses_logins_and_counts_lost_lines`).
//! - A failed write is counted (`guichet_audit_write_errors_total`) and logged, never ignored.

use crate::config::AuditOutput;
use crate::web::Request;
use prometheus::{IntCounter, IntCounterVec};
use serde::Serialize;
use std::fs::File;
use std::io::Write;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;

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
            client_ip: req.client_ip,
            request_id: req.request_id,
            ..Event::none(event, outcome, reason)
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

/// How long an event waits for room in a full queue before its line is given up.
pub const FULL_WAIT: Duration = Duration::from_secs(1);

/// What the writer thread receives.
enum Msg {
    Line(Vec<u8>),
    /// Everything before has been written: sync, then say so.
    Sync(std::sync::mpsc::Sender<()>),
}

/// The evidence log's counters (registered in [`crate::metrics::Metrics`]).
#[derive(Clone)]
pub struct AuditCounters {
    pub write_errors: IntCounter,
    pub waits: IntCounter,
    pub dropped: IntCounterVec,
}

impl AuditCounters {
    /// Unregistered counters (tests).
    pub fn unregistered() -> AuditCounters {
        let made = || -> prometheus::Result<AuditCounters> {
            Ok(AuditCounters {
                write_errors: IntCounter::new("audit_write_errors", "unregistered")?,
                waits: IntCounter::new("audit_waits", "unregistered")?,
                dropped: IntCounterVec::new(
                    prometheus::Opts::new("audit_dropped", "unregistered"),
                    &["event"],
                )?,
            })
        };
        made().unwrap_or_else(|e| panic!("malformed metric: {e}"))
    }
}

/// The line was not written: the queue stayed full for [`FULL_WAIT`] (or the writer is gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("evidence log queue full: line not written")]
pub struct NotRecorded;

pub struct Audit {
    queue: mpsc::Sender<Msg>,
    counters: AuditCounters,
    /// Lines recorded and not written yet (queued, or in the writer's hands).
    pending: Arc<AtomicUsize>,
}

impl Audit {
    /// Opens the output (a file is created if needed and appended to) and starts the writer.
    pub fn open(
        output: &AuditOutput,
        queue_size: usize,
        counters: AuditCounters,
    ) -> std::io::Result<Audit> {
        let sink = match output {
            AuditOutput::Stdout => Sink::Stdout(std::io::stdout()),
            AuditOutput::File(path) => Sink::File(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            ),
        };
        Audit::start(sink, queue_size, counters)
    }

    /// An evidence log that writes into any writer (tests).
    pub fn to_writer(w: Box<dyn Write + Send>, queue_size: usize) -> Audit {
        Audit::start(Sink::Writer(w), queue_size, AuditCounters::unregistered())
            .unwrap_or_else(|e| panic!("cannot start the evidence log writer: {e}"))
    }

    fn start(mut sink: Sink, queue_size: usize, counters: AuditCounters) -> std::io::Result<Audit> {
        let (queue, mut lines) = mpsc::channel::<Msg>(queue_size.max(1));
        let write_errors = counters.write_errors.clone();
        let pending = Arc::new(AtomicUsize::new(0));
        let written = pending.clone();
        std::thread::Builder::new()
            .name("guichet-audit".into())
            .spawn(move || {
                while let Some(msg) = lines.blocking_recv() {
                    match msg {
                        Msg::Line(line) => {
                            if let Err(e) = sink.write_line(&line) {
                                write_errors.inc();
                                tracing::error!(error = %e, "cannot write to the evidence log");
                            }
                            written.fetch_sub(1, Ordering::AcqRel);
                        }
                        Msg::Sync(done) => {
                            if let Err(e) = sink.sync() {
                                write_errors.inc();
                                tracing::error!(error = %e, "cannot sync the evidence log");
                            }
                            let _ = done.send(());
                        }
                    }
                }
            })?;
        Ok(Audit {
            queue,
            counters,
            pending,
        })
    }

    /// Lines recorded and not written yet: the queue, and the line the writer holds. Zero
    /// means every line recorded so far is in the output.
    pub fn queue_depth(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    /// Queues one event's line (see the module documentation for a full queue).
    pub async fn record(&self, event: &Event<'_>) -> Result<(), NotRecorded> {
        let msg = match self.offer(event)? {
            None => return Ok(()),
            Some(msg) => msg,
        };
        self.counters.waits.inc();
        match tokio::time::timeout(FULL_WAIT, self.queue.send(msg)).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(self.dropped(event)),
        }
    }

    /// Queues one event's line from code that cannot wait (the session store's own notices,
    /// made outside any request): a full queue drops it at once, counted and reported like a
    /// line [`Audit::record`] gave up on.
    pub fn record_now(&self, event: &Event<'_>) -> Result<(), NotRecorded> {
        match self.offer(event)? {
            None => Ok(()),
            Some(_) => Err(self.dropped(event)),
        }
    }

    /// Tries to queue the line: `None` when queued, the message back when the queue is full.
    fn offer(&self, event: &Event<'_>) -> Result<Option<Msg>, NotRecorded> {
        let line = Line {
            time: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            event,
        };
        let Ok(mut json) = serde_json::to_vec(&line) else {
            self.counters.write_errors.inc();
            return Err(NotRecorded);
        };
        json.push(b'\n');
        // Counted before it is sent: the writer may write it (and count it out) at once.
        self.pending.fetch_add(1, Ordering::AcqRel);
        match self.queue.try_send(Msg::Line(json)) {
            Ok(()) => Ok(None),
            Err(mpsc::error::TrySendError::Full(msg)) => Ok(Some(msg)),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(self.dropped(event)),
        }
    }

    fn dropped(&self, event: &Event<'_>) -> NotRecorded {
        self.pending.fetch_sub(1, Ordering::AcqRel);
        self.counters
            .dropped
            .with_label_values(&[event.event])
            .inc();
        tracing::error!(
            event = event.event,
            outcome = event.outcome,
            reason = event.reason,
            request_id = event.request_id.unwrap_or("-"),
            "EVIDENCE LOG LINE LOST: the evidence log's queue stayed full (its output is stuck)"
        );
        NotRecorded
    }

    /// Called once the listeners have drained: waits for every queued line to be written, then
    /// makes everything durable (a file is synced to disk).
    /// The writer ends when the `Audit` is dropped, after writing what was queued.
    pub fn close(&self) {
        let (done, synced) = std::sync::mpsc::channel();
        let mut msg = Msg::Sync(done);
        // Not `blocking_send`: this may run on a thread that drives a runtime (tests).
        loop {
            match self.queue.try_send(msg) {
                Ok(()) => break,
                Err(mpsc::error::TrySendError::Full(m)) => {
                    msg = m;
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            }
        }
        let _ = synced.recv();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Condvar, Mutex};

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

    /// A writer stuck until opened, like a pipe nobody reads.
    #[derive(Clone, Default)]
    struct Gate {
        open: Arc<(Mutex<bool>, Condvar)>,
        buf: Buf,
    }
    impl Gate {
        fn open(&self) {
            *self.open.0.lock().unwrap() = true;
            self.open.1.notify_all();
        }
    }
    impl Write for Gate {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            let (lock, cv) = &*self.open;
            let mut open = lock.lock().unwrap();
            while !*open {
                open = cv.wait(open).unwrap();
            }
            self.buf.write(b)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn request(headers: &http::HeaderMap) -> Request<'_> {
        Request {
            method: &http::Method::GET,
            path: "/",
            query: None,
            headers,
            client_ip: Some("127.0.0.1".parse().unwrap()),
            request_id: Some("abc123"),
            body: crate::web::Body::None,
        }
    }

    #[tokio::test]
    async fn one_json_line_per_event_with_utc_time_and_request_id() {
        let buf = Buf::default();
        let audit = Audit::to_writer(Box::new(buf.clone()), 16);
        let headers = http::HeaderMap::new();
        let req = request(&headers);
        let mut e = Event::of(&req, "login", "success", "ok");
        e.provider = Some("fc");
        e.sub = Some("abc");
        e.level = Some("eidas1");
        audit.record(&e).await.unwrap();
        let mut step = Event::of(&req, "step_up", "required", "level_too_low");
        step.required_level = Some("eidas2");
        audit.record(&step).await.unwrap();
        audit.close();
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

    #[tokio::test]
    async fn lines_keep_their_order_and_close_waits_for_them() {
        let gate = Gate::default();
        let audit = Arc::new(Audit::to_writer(Box::new(gate.clone()), 1000));
        let headers = http::HeaderMap::new();
        let req = request(&headers);
        let reasons: Vec<String> = (0..500).map(|i| format!("r{i}")).collect();
        for r in &reasons {
            // The output is stuck, yet recording returns at once: the queue has room.
            tokio::time::timeout(
                Duration::from_millis(500),
                audit.record(&Event::of(&req, "logout", "success", r)),
            )
            .await
            .expect("no wait while the queue has room")
            .unwrap();
        }
        assert_eq!(audit.queue_depth(), 500, "queued or in the writer's hands");
        let closing = {
            let audit = audit.clone();
            std::thread::spawn(move || audit.close())
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!closing.is_finished(), "close waits for the queued lines");
        gate.open();
        closing.join().unwrap();
        let text = String::from_utf8(gate.buf.0.lock().unwrap().clone()).unwrap();
        let written: Vec<String> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["reason"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(written, reasons);
        assert_eq!(audit.queue_depth(), 0);
    }

    #[tokio::test]
    async fn a_stuck_output_drops_and_counts_after_the_wait() {
        let gate = Gate::default();
        let audit = Audit::to_writer(Box::new(gate.clone()), 2);
        let headers = http::HeaderMap::new();
        let req = request(&headers);
        // Three lines: the writer takes the first and is stuck on it, two fill the queue
        // (the third may wait until the writer took the first).
        for _ in 0..3 {
            audit
                .record(&Event::of(&req, "logout", "success", "queued"))
                .await
                .unwrap();
        }
        assert_eq!(
            audit.queue_depth(),
            3,
            "two queued, one in the writer's hands"
        );
        let waited = std::time::Instant::now();
        let lost = audit
            .record(&Event::of(&req, "login", "success", "ok"))
            .await;
        assert_eq!(lost, Err(NotRecorded));
        assert!(waited.elapsed() >= FULL_WAIT, "it waited for room first");
        assert!(audit.counters.waits.get() >= 1);
        assert_eq!(
            audit.counters.dropped.with_label_values(&["login"]).get(),
            1
        );
        assert_eq!(
            audit.counters.dropped.with_label_values(&["logout"]).get(),
            0
        );
        gate.open();
        audit.close();
        let text = String::from_utf8(gate.buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.lines().all(|l| l.contains("\"queued\"")));
    }

    #[tokio::test]
    async fn a_file_output_is_appended_and_synced_on_close() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        std::fs::write(&path, "earlier\n").unwrap();
        let counters = AuditCounters::unregistered();
        let audit = Audit::open(&AuditOutput::File(path.clone()), 8, counters.clone()).unwrap();
        let headers = http::HeaderMap::new();
        let req = request(&headers);
        audit
            .record(&Event::of(&req, "logout", "success", "rp_initiated"))
            .await
            .unwrap();
        audit.close();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("earlier\n{"), "{text}");
        assert!(text.ends_with("}\n"));
        assert_eq!(counters.write_errors.get(), 0);
    }
}
