//! The gateway's side of throttling ([`crate::throttle`]): refuse a blocked client, count a
//! login start or a failed callback, delay or refuse it, and record what happened (metric
//! `guichet_throttled_requests_total`, evidence line `throttled` once per block).
//!
//! Only `/.guichet/login` and `/.guichet/callback` call these: proxied requests are never
//! counted, delayed or refused (`tests/throttling.rs`).

use super::Gateway;
use crate::audit::Event;
use crate::pages::Failure;
use crate::throttle::{Kind, Verdict};
use crate::web::{Reply, Request};
use std::time::Duration;

fn retry_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

impl Gateway {
    /// `429` if this client is blocked.
    pub(super) fn refuse_if_blocked(&self, req: &Request<'_>) -> Option<Reply> {
        let left = self.throttle.blocked(req.client_ip)?;
        self.metrics
            .throttled
            .with_label_values(&["blocked", "refused"])
            .inc();
        Some(self.fail(
            req,
            &Failure::Throttled {
                retry_after: retry_secs(left),
            },
        ))
    }

    /// Counts one request of `kind` from this client; waits when the client is over the
    /// delay limit; `429` when it goes over the block limit.
    pub(super) async fn throttle(&self, req: &Request<'_>, kind: Kind) -> Option<Reply> {
        match self.throttle.hit(kind, req.client_ip) {
            Verdict::Allow => None,
            Verdict::Delay(d) => {
                self.metrics
                    .throttled
                    .with_label_values(&[kind.as_str(), "delayed"])
                    .inc();
                tokio::time::sleep(d).await;
                None
            }
            Verdict::Refuse { retry_after, newly } => {
                self.metrics
                    .throttled
                    .with_label_values(&[kind.as_str(), "refused"])
                    .inc();
                if newly {
                    self.metrics
                        .throttle_blocks
                        .with_label_values(&[kind.as_str()])
                        .inc();
                    tracing::warn!(
                        client_ip = ?req.client_ip,
                        kind = kind.as_str(),
                        block_for = ?retry_after,
                        "client blocked by throttling"
                    );
                    let _ = self
                        .audit
                        .record(&Event::of(req, "throttled", "blocked", kind.as_str()))
                        .await;
                }
                Some(self.fail(
                    req,
                    &Failure::Throttled {
                        retry_after: retry_secs(retry_after),
                    },
                ))
            }
        }
    }
}
