//! The invalidation subscription that keeps this replica's session cache ([`super::cache`])
//! coherent with Redis.
//!
//! One task per store: it subscribes (a connection of its own, RESP2 pub/sub, so any Redis
//! 6.2+ or compatible server will do) to the deployment's channel on the server guichet writes
//! to (with Sentinel, the primary the [`Link`] uses now: when that primary changes, it
//! subscribes again there), and receives two kinds of messages:
//! - a session's store key in hex: the session ended (published by the scripts that end
//!   sessions, [`super::scripts`]): it leaves the cache;
//! - `h <replica> <sent>`: a heartbeat. Every [`HEARTBEAT`] this task publishes one of its
//!   own through the link guichet writes with; its return on the subscription is what makes
//!   the subscription known-good for [`super::cache::WINDOW`] after it was sent. Other
//!   replicas' heartbeats are ignored.
//!
//! Whenever the subscription breaks, ends, cannot be made, or the primary changes, every
//! cached entry is invalidated and nothing is served from the cache until a heartbeat comes
//! back on a new subscription: lookups ask Redis (fail closed).

use super::cache::Local;
use super::link::Link;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;

/// How often a heartbeat is published.
pub const HEARTBEAT: Duration = Duration::from_millis(250);

/// Waits between attempts to subscribe again, doubling up to the second.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(1);

/// What the subscription task needs.
pub struct Subscription {
    pub link: Arc<Link>,
    pub local: Arc<Local>,
    pub channel: String,
    /// This store's heartbeat id.
    pub replica: u64,
    /// Bound of each step (connect, subscribe, publish).
    pub budget: Duration,
    /// Scrubbed from what is logged.
    pub passwords: Vec<String>,
    /// Whether the cache being off from the start was logged as a warning (once).
    pub warned: std::sync::atomic::AtomicBool,
}

/// How long a replica waits for its cache to come on before it warns that it is off.
const WARN_AFTER: Duration = Duration::from_secs(10);

/// The task; it runs until the store drops it ([`Running`]).
pub fn spawn(sub: Subscription) -> Running {
    Running(tokio::spawn(async move { sub.run().await }))
}

/// A running subscription task, stopped when dropped.
pub struct Running(tokio::task::JoinHandle<()>);

impl Running {
    pub fn finished(&self) -> bool {
        self.0.is_finished()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A message on the channel.
#[derive(Debug, PartialEq, Eq)]
enum Message {
    Ended(crate::session::SessionKey),
    Heartbeat { replica: u64, sent: u64 },
    Other,
}

fn parse(payload: &[u8]) -> Message {
    if payload.len() == 64 {
        let mut key = [0u8; 32];
        if hex::decode_to_slice(payload, &mut key).is_ok() {
            return Message::Ended(crate::session::SessionKey(key));
        }
    }
    let text = std::str::from_utf8(payload).unwrap_or_default();
    let mut parts = text.split(' ');
    if let (Some("h"), Some(replica), Some(sent), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    {
        if let (Ok(replica), Ok(sent)) = (u64::from_str_radix(replica, 16), sent.parse()) {
            return Message::Heartbeat { replica, sent };
        }
    }
    Message::Other
}

fn heartbeat(replica: u64, sent: u64) -> String {
    format!("h {replica:016x} {sent}")
}

impl Subscription {
    async fn run(self) {
        let mut retry = RETRY_FIRST;
        let mut was_good = false;
        loop {
            let why = self.subscribed_session(&mut was_good).await;
            self.local.lost();
            let why = self
                .passwords
                .iter()
                .fold(why, |m, p| super::scrubbed(&m, Some(p.as_str())));
            if was_good {
                tracing::warn!(reason = %why, "session cache off (every request asks Redis) until the invalidation subscription is back");
                was_good = false;
                retry = RETRY_FIRST;
            } else {
                self.never_on(&why);
            }
            tokio::time::sleep(retry).await;
            retry = (retry * 2).min(RETRY_MAX);
        }
    }

    /// The cache has not come on: said once as a warning (an ACL without channel rights, a
    /// Redis that refuses `PUBLISH` or `SUBSCRIBE`), then at debug level.
    fn never_on(&self, why: &str) {
        if self.warned.swap(true, std::sync::atomic::Ordering::Relaxed) {
            tracing::debug!(reason = %why, "no invalidation subscription yet");
        } else {
            tracing::warn!(reason = %why, "session cache off (every request asks Redis): no working invalidation subscription; the Redis user needs SUBSCRIBE and PUBLISH on the deployment's channel");
        }
    }

    /// This replica's heartbeat sent at `sent` came back.
    fn heard(&self, sent: u64, was_good: &mut bool) {
        if self.local.heartbeat(sent) && !*was_good {
            *was_good = true;
            tracing::info!("session cache on: invalidations are received from Redis");
        }
    }

    /// Subscribes, then handles messages and sends heartbeats until the subscription can no
    /// longer be trusted; returns why.
    async fn subscribed_session(&self, was_good: &mut bool) -> String {
        let (client, generation) =
            match step(self.budget, "find the server", self.link.subscriber()).await {
                Ok(found) => found,
                Err(why) => return why,
            };
        let mut pubsub = match step(self.budget, "connect", client.get_async_pubsub()).await {
            Ok(p) => p,
            Err(why) => return why,
        };
        if let Err(why) = step(self.budget, "subscribe", pubsub.subscribe(&self.channel)).await {
            return why;
        }
        self.local.subscribed();
        let subscribed = tokio::time::Instant::now();
        let mut told = false;
        let (_sink, mut messages) = pubsub.split();
        let mut tick = tokio::time::interval(HEARTBEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut in_flight: Option<tokio::task::JoinHandle<()>> = None;
        loop {
            tokio::select! {
                biased;
                message = messages.next() => {
                    let Some(message) = message else {
                        return "the subscription was closed".into();
                    };
                    match parse(message.get_payload_bytes()) {
                        Message::Ended(key) => self.local.invalidated(&key),
                        Message::Heartbeat { replica, sent } if replica == self.replica => {
                            self.heard(sent, was_good);
                        }
                        _ => {}
                    }
                }
                _ = tick.tick() => {
                    if self.link.generation() != generation {
                        return "the primary changed".into();
                    }
                    if !*was_good && !told && subscribed.elapsed() > WARN_AFTER {
                        told = true;
                        self.never_on("subscribed, but no heartbeat came back (PUBLISH refused?)");
                    }
                    if in_flight.as_ref().is_none_or(|t| t.is_finished()) {
                        in_flight = Some(tokio::spawn(publish(
                            self.link.clone(),
                            self.channel.clone(),
                            heartbeat(self.replica, self.local.clock()),
                            self.budget,
                        )));
                    }
                }
            }
        }
    }
}

/// One step of making the subscription, within `budget`.
async fn step<T, E: std::fmt::Display>(
    budget: Duration,
    what: &str,
    f: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(budget, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!("{what}: timed out")),
    }
}

/// Publishes a heartbeat through the connection guichet writes with (a lost connection is
/// reported to the link, as any operation's).
async fn publish(link: Arc<Link>, channel: String, message: String, budget: Duration) {
    let attempt = async {
        let mut conn = link.conn().await?;
        let sent: Result<i64, redis::RedisError> = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(&message)
            .query_async(&mut conn)
            .await;
        if let Err(e) = &sent {
            link.failed(&conn, e);
        }
        sent
    };
    match tokio::time::timeout(budget, attempt).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "heartbeat not published"),
        Err(_) => {
            link.timed_out();
            tracing::debug!("heartbeat not published: timed out");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_session_keys_or_heartbeats() {
        let key = crate::session::SessionKey([0xab; 32]);
        assert_eq!(parse(key.hex().as_bytes()), Message::Ended(key));
        assert_eq!(
            parse(heartbeat(0x1f, 42).as_bytes()),
            Message::Heartbeat {
                replica: 0x1f,
                sent: 42
            }
        );
        for other in [
            &b"h 1f"[..],
            b"h 1f 42 9",
            b"h zz 42",
            &[b'g'; 64],
            b"",
            &[0xff, 0xfe],
        ] {
            assert_eq!(parse(other), Message::Other, "{other:?}");
        }
    }
}
