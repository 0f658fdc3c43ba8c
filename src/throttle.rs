//! Throttling of login starts and failed callbacks per client address (R21, `[rate_limit]`).
//!
//! Each client address has one leaky bucket per kind of request ([`Kind`]): every counted
//! request adds 1, and the level drains at `block_after / window` per second, so a client
//! that stays under `block_after` requests per `window` is never refused. Above
//! `delay_after` the answer is delayed by `delay`; the request that takes the level above
//! `block_after` is refused, and so is every login start and callback from that address for
//! `block_for` (`429` with `Retry-After`).
//!
//! Invariants:
//! - The key is the client address [`crate::hygiene`] computed (the peer, or the right-most
//!   untrusted `X-Forwarded-For` entry behind a trusted proxy), IPv6 addresses grouped by
//!   `ipv6_prefix` (a /64 is one subscriber); requests without an address are not throttled.
//! - Memory is bounded: at most `max_clients` addresses are tracked (a moka cache with a
//!   size bound; idle entries expire after `max(window, block_for)`)
//!   (`tests::memory_is_bounded`).
//! - Only guichet's own login starts and failed callbacks are counted or refused: proxied
//!   requests never pass here (`tests/throttling.rs`).
//!
//! # Design notes, and the tests that guard each rule
//!
//! ## `src/throttle.rs`
//! Per client address (IPv6 per prefix), one leaky bucket for login starts and one for failed
//! callbacks; over `delay_after` answers wait, over `block_after` the address is blocked
//! (`429`, `Retry-After`) for `block_for`; a moka cache bounds the addresses tracked. The
//! gateway's side (refuse, count, delay, record) is `gateway/throttling.rs`.
//! **Invariants.** Delay then block, other addresses unaffected, a client under the rate never
//! refused, memory bounded (`throttle::tests::*`); over HTTP: 429 with `Retry-After` after
//! repeated bad callbacks, one evidence line and metrics
//! (`tests/throttling.rs::repeated_bad_callbacks_are_delayed_then_refused_with_retry_after`),
//! the trusted proxy's client address counts, a forged `X-Forwarded-For` does not
//! (`behind_a_trusted_proxy_each_client_address_counts_alone`,
//! `a_client_cannot_escape_by_forging_x_forwarded_for`), a citizen who cancels is not counted
//! and proxied requests are never throttled
//! (`login_starts_are_throttled_but_cancelling_is_not_a_failure`).
//! **Never**: count or delay a proxied request.

use crate::config::RateLimitConfig;
use moka::sync::Cache;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A redirect to a provider (`/.guichet/login`).
    LoginStart,
    /// A callback that failed for a reason the client controls (bad state, code, token...).
    FailedCallback,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::LoginStart => "login_starts",
            Kind::FailedCallback => "failed_callbacks",
        }
    }
}

/// What to do with the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Answer, but only after this long.
    Delay(Duration),
    /// Answer `429`; the client may retry after this long. `newly` is true for the request
    /// that started the block (it is recorded in the evidence log once).
    Refuse {
        retry_after: Duration,
        newly: bool,
    },
}

#[derive(Debug, Default)]
struct Bucket {
    level: f64,
    last: Option<Instant>,
}

impl Bucket {
    fn add(&mut self, now: Instant, drain_per_sec: f64) -> f64 {
        let elapsed = self
            .last
            .map_or(0.0, |l| now.saturating_duration_since(l).as_secs_f64());
        self.level = (self.level - elapsed * drain_per_sec).max(0.0) + 1.0;
        self.last = Some(now);
        self.level
    }
}

#[derive(Debug, Default)]
struct Client {
    login_starts: Bucket,
    failed_callbacks: Bucket,
    blocked_until: Option<Instant>,
}

pub struct Throttle {
    cfg: RateLimitConfig,
    clients: Cache<IpAddr, Arc<Mutex<Client>>>,
}

impl Throttle {
    pub fn new(cfg: &RateLimitConfig) -> Throttle {
        Throttle {
            clients: Cache::builder()
                .max_capacity(cfg.max_clients)
                .time_to_idle(cfg.window.max(cfg.block_for))
                .build(),
            cfg: cfg.clone(),
        }
    }

    /// The bucket key of a client address: IPv4 (and IPv4-mapped IPv6) as is, IPv6 cut to
    /// the configured prefix.
    fn key(&self, ip: IpAddr) -> IpAddr {
        match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let bits = u32::from(self.cfg.ipv6_prefix.min(128));
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                IpAddr::V6((u128::from(v6) & mask).into())
            }
            v4 => v4,
        }
    }

    /// Is this client blocked now? (Checked before a callback is processed.)
    pub fn blocked(&self, ip: Option<IpAddr>) -> Option<Duration> {
        self.blocked_at(ip, Instant::now())
    }

    pub fn blocked_at(&self, ip: Option<IpAddr>, now: Instant) -> Option<Duration> {
        if !self.cfg.enabled {
            return None;
        }
        let entry = self.clients.get(&self.key(ip?))?;
        let client = entry.lock().unwrap_or_else(|p| p.into_inner());
        client
            .blocked_until
            .and_then(|until| until.checked_duration_since(now))
            .filter(|d| !d.is_zero())
    }

    /// Counts one request of this kind from this client and says what to do with it.
    pub fn hit(&self, kind: Kind, ip: Option<IpAddr>) -> Verdict {
        self.hit_at(kind, ip, Instant::now())
    }

    pub fn hit_at(&self, kind: Kind, ip: Option<IpAddr>, now: Instant) -> Verdict {
        let Some(ip) = ip.filter(|_| self.cfg.enabled) else {
            return Verdict::Allow;
        };
        let entry = self
            .clients
            .get_with(self.key(ip), || Arc::new(Mutex::new(Client::default())));
        let mut client = entry.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(left) = client
            .blocked_until
            .and_then(|until| until.checked_duration_since(now))
            .filter(|d| !d.is_zero())
        {
            return Verdict::Refuse {
                retry_after: left,
                newly: false,
            };
        }
        let limits = match kind {
            Kind::LoginStart => self.cfg.login_starts,
            Kind::FailedCallback => self.cfg.failed_callbacks,
        };
        let drain = f64::from(limits.block_after) / self.cfg.window.as_secs_f64().max(1.0);
        let bucket = match kind {
            Kind::LoginStart => &mut client.login_starts,
            Kind::FailedCallback => &mut client.failed_callbacks,
        };
        let level = bucket.add(now, drain);
        if level > f64::from(limits.block_after) {
            // A fresh start once the block is over.
            client.login_starts = Bucket::default();
            client.failed_callbacks = Bucket::default();
            client.blocked_until = Some(now + self.cfg.block_for);
            return Verdict::Refuse {
                retry_after: self.cfg.block_for,
                newly: true,
            };
        }
        if level > f64::from(limits.delay_after) {
            return Verdict::Delay(self.cfg.delay);
        }
        Verdict::Allow
    }

    /// Client addresses tracked now (approximate; for the metrics).
    pub fn tracked(&self) -> u64 {
        self.clients.run_pending_tasks();
        self.clients.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Limits;

    fn cfg() -> RateLimitConfig {
        RateLimitConfig {
            enabled: true,
            window: Duration::from_secs(60),
            login_starts: Limits {
                delay_after: 5,
                block_after: 10,
            },
            failed_callbacks: Limits {
                delay_after: 2,
                block_after: 4,
            },
            delay: Duration::from_millis(500),
            block_for: Duration::from_secs(300),
            max_clients: 1000,
            ipv6_prefix: 64,
        }
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn failures_are_delayed_then_refused_for_the_block_time() {
        let t = Throttle::new(&cfg());
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        let verdicts: Vec<Verdict> = (0..5)
            .map(|_| t.hit_at(Kind::FailedCallback, a, t0))
            .collect();
        assert_eq!(verdicts[0], Verdict::Allow);
        assert_eq!(verdicts[1], Verdict::Allow);
        assert_eq!(verdicts[2], Verdict::Delay(Duration::from_millis(500)));
        assert_eq!(verdicts[3], Verdict::Delay(Duration::from_millis(500)));
        assert_eq!(
            verdicts[4],
            Verdict::Refuse {
                retry_after: Duration::from_secs(300),
                newly: true
            }
        );
        // Blocked for login starts too, with the time left.
        let later = t0 + Duration::from_secs(100);
        assert_eq!(
            t.hit_at(Kind::LoginStart, a, later),
            Verdict::Refuse {
                retry_after: Duration::from_secs(200),
                newly: false
            }
        );
        assert_eq!(t.blocked_at(a, later), Some(Duration::from_secs(200)));
        // Another address is not affected.
        assert_eq!(
            t.hit_at(Kind::FailedCallback, ip("192.0.2.2"), later),
            Verdict::Allow
        );
        assert_eq!(t.blocked_at(ip("192.0.2.2"), later), None);
        // After the block, a fresh start.
        let after = t0 + Duration::from_secs(301);
        assert_eq!(t.blocked_at(a, after), None);
        assert_eq!(t.hit_at(Kind::FailedCallback, a, after), Verdict::Allow);
    }

    #[test]
    fn a_client_under_the_rate_is_never_refused() {
        let t = Throttle::new(&cfg());
        let t0 = Instant::now();
        // 10 per 60 s drains one every 6 s: one login start every 7 s forever is fine.
        for i in 0..200u64 {
            let v = t.hit_at(
                Kind::LoginStart,
                ip("192.0.2.9"),
                t0 + Duration::from_secs(7 * i),
            );
            assert_eq!(v, Verdict::Allow, "request {i}");
        }
    }

    #[test]
    fn ipv6_addresses_are_grouped_by_prefix_and_v4_mapped_as_v4() {
        let t = Throttle::new(&cfg());
        let t0 = Instant::now();
        for i in 0..5 {
            t.hit_at(Kind::FailedCallback, ip(&format!("2001:db8:1:2::{i}")), t0);
        }
        assert!(t.blocked_at(ip("2001:db8:1:2:ffff::1"), t0).is_some());
        assert!(t.blocked_at(ip("2001:db8:1:3::1"), t0).is_none());
        for _ in 0..5 {
            t.hit_at(Kind::FailedCallback, ip("::ffff:198.51.100.4"), t0);
        }
        assert!(t.blocked_at(ip("198.51.100.4"), t0).is_some());
    }

    #[test]
    fn disabled_or_without_an_address_nothing_is_counted() {
        let mut c = cfg();
        c.enabled = false;
        let t = Throttle::new(&c);
        for _ in 0..20 {
            assert_eq!(t.hit(Kind::FailedCallback, ip("192.0.2.1")), Verdict::Allow);
        }
        let t = Throttle::new(&cfg());
        for _ in 0..20 {
            assert_eq!(t.hit(Kind::FailedCallback, None), Verdict::Allow);
        }
        assert_eq!(t.tracked(), 0);
    }

    #[test]
    fn memory_is_bounded() {
        let mut c = cfg();
        c.max_clients = 100;
        let t = Throttle::new(&c);
        for i in 0..5000u32 {
            t.hit(Kind::LoginStart, Some(IpAddr::from(i.to_be_bytes())));
        }
        assert!(t.tracked() <= 100, "{}", t.tracked());
    }
}
