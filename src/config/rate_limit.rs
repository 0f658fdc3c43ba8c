//! `[rate_limit]`: throttling of login starts and failed callbacks per client address,
//! validated into [`RateLimitConfig`] (used by [`crate::throttle`]).
//!
//! Invariants: every limit is at least 1 and `*_delay_after <= *_block_after`; the delay is
//! at most [`MAX_DELAY`] (a delayed answer holds a connection); the number of tracked
//! addresses is bounded.

use super::{duration_str, file, ConfigError, Validator};
use serde::Serialize;
use std::time::Duration;

/// Longest delay an answer can be held for.
pub const MAX_DELAY: Duration = Duration::from_secs(10);

/// Thresholds for one kind of request, per window.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Limits {
    pub delay_after: u32,
    pub block_after: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct RateLimitConfig {
    pub enabled: bool,
    #[serde(with = "duration_str")]
    pub window: Duration,
    pub login_starts: Limits,
    pub failed_callbacks: Limits,
    #[serde(with = "duration_str")]
    pub delay: Duration,
    #[serde(with = "duration_str")]
    pub block_for: Duration,
    pub max_clients: u64,
    pub ipv6_prefix: u8,
}

impl Validator {
    pub(super) fn rate_limit(
        &self,
        r: &file::RateLimitSection,
    ) -> Result<RateLimitConfig, ConfigError> {
        let window = self.duration("rate_limit.window", &r.window)?;
        if window < Duration::from_secs(1) {
            return Err(self.err("rate_limit.window", "must be at least 1s"));
        }
        let delay = self.duration("rate_limit.delay", &r.delay)?;
        if delay > MAX_DELAY {
            return Err(self.err("rate_limit.delay", "must be at most 10s"));
        }
        let block_for = self.duration("rate_limit.block_for", &r.block_for)?;
        if block_for < Duration::from_secs(1) || block_for > Duration::from_secs(86_400) {
            return Err(self.err("rate_limit.block_for", "must be between 1s and 24h"));
        }
        if r.max_clients == 0 {
            return Err(self.err("rate_limit.max_clients", "must be at least 1"));
        }
        if !(32..=128).contains(&r.ipv6_prefix) {
            return Err(self.err("rate_limit.ipv6_prefix", "must be between 32 and 128"));
        }
        let limits = |kind: &str, delay_after: u32, block_after: u32| {
            if block_after == 0 {
                return Err(self.err(
                    format!("rate_limit.{kind}_block_after"),
                    "must be at least 1",
                ));
            }
            if delay_after > block_after {
                return Err(self.err(
                    format!("rate_limit.{kind}_delay_after"),
                    format!("must not exceed {kind}_block_after ({block_after})"),
                ));
            }
            Ok(Limits {
                delay_after,
                block_after,
            })
        };
        Ok(RateLimitConfig {
            enabled: r.enabled,
            window,
            login_starts: limits(
                "login_starts",
                r.login_starts_delay_after,
                r.login_starts_block_after,
            )?,
            failed_callbacks: limits(
                "failed_callbacks",
                r.failed_callbacks_delay_after,
                r.failed_callbacks_block_after,
            )?,
            delay,
            block_for,
            max_clients: r.max_clients,
            ipv6_prefix: r.ipv6_prefix,
        })
    }
}
