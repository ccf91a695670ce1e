//! The outbox worker (MAIL-1). It wakes when this node queues a mail and polls at least every
//! `poll` interval for mail queued by other nodes. Each mail is claimed with a lease (one worker at
//! a time), sent, and marked sent as soon as the SMTP server accepts it; a failure is retried
//! after `retry_base`, doubling up to `retry_max`, and parked after `max_attempts` (shown by
//! `sesame outbox status`, sent again by `sesame outbox retry`). The only way a mail goes out
//! twice is a crash between the server's acceptance and the update; it then keeps its Message-ID.

use crate::transport::Transport;
use lettre::message::Mailbox;
use sesame_core::clock::Clock;
use sesame_core::ports::OutboxStore;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::Notify;

#[derive(Debug, Clone, Copy)]
pub struct WorkerSettings {
    pub poll: Duration,
    pub retry_base: Duration,
    pub retry_max: Duration,
    pub max_attempts: i64,
    /// How long a claim lasts; past it another worker may take the mail.
    pub lease: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            poll: Duration::from_secs(2),
            retry_base: Duration::from_secs(5),
            retry_max: Duration::from_secs(600),
            max_attempts: 12,
            lease: Duration::from_secs(60),
        }
    }
}

/// What one pass delivered.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub sent: u32,
    pub failed: u32,
}

pub struct Worker {
    store: Arc<dyn OutboxStore>,
    transport: Transport,
    from: Mailbox,
    clock: Arc<dyn Clock>,
    settings: WorkerSettings,
    name: String,
    /// Raised when the node stops: the pass ends after the mail in hand.
    stopping: AtomicBool,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("name", &self.name)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

/// The wait before attempt `attempts + 1`: `base`, doubling, at most `max`.
pub fn backoff(settings: &WorkerSettings, attempts: i64) -> Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    settings
        .retry_base
        .saturating_mul(2u32.saturating_pow(exponent))
        .min(settings.retry_max)
}

/// When a delivery that failed on attempt `attempts` is tried again; `None` parks it.
pub fn retry_at(settings: &WorkerSettings, attempts: i64, now: OffsetDateTime) -> Option<OffsetDateTime> {
    (attempts < settings.max_attempts).then(|| now + backoff(settings, attempts))
}

/// Runs `pass` until `shutdown` resolves: once at the start, whenever `wake` is notified, and at
/// least every `poll` (for what other nodes queued). Shared by the mail and SMS workers.
///
/// A pass is never cut in the middle of a delivery (the message could then be sent and not
/// recorded, and go twice): when `shutdown` resolves during a pass, `stopping` is raised, the pass
/// ends after the delivery in hand, and the loop returns. So a worker stops at once even while
/// mail keeps arriving.
pub(crate) async fn run_passes<P: std::future::Future>(
    poll: Duration,
    wake: &Notify,
    shutdown: impl std::future::Future<Output = ()>,
    stopping: &AtomicBool,
    mut pass: impl FnMut() -> P,
) {
    tokio::pin!(shutdown);
    loop {
        let running = pass();
        tokio::pin!(running);
        let mut stopped = false;
        loop {
            tokio::select! {
                _ = &mut running => break,
                () = &mut shutdown, if !stopped => {
                    stopping.store(true, Ordering::SeqCst);
                    stopped = true;
                }
            }
        }
        if stopped {
            return;
        }
        tokio::select! {
            () = &mut shutdown => return,
            () = wake.notified() => {}
            () = tokio::time::sleep(poll) => {}
        }
    }
}

impl Worker {
    pub fn new(
        store: Arc<dyn OutboxStore>,
        transport: Transport,
        from: Mailbox,
        clock: Arc<dyn Clock>,
        settings: WorkerSettings,
    ) -> Self {
        let name = format!("worker-{}", uuid::Uuid::new_v4().simple());
        Self {
            store,
            transport,
            from,
            clock,
            settings,
            name,
            stopping: AtomicBool::new(false),
        }
    }

    /// Delivers every due mail now; returns what happened. Store errors end the pass early
    /// (the next pass tries again).
    pub async fn deliver_due(&self) -> Pass {
        let mut pass = Pass::default();
        let now = self.clock.now();
        if let Err(err) = self.store.drop_expired_mail(now).await {
            tracing::warn!(%err, "outbox: cannot drop expired mail");
            return pass;
        }
        loop {
            if self.stopping.load(Ordering::SeqCst) {
                return pass;
            }
            let now = self.clock.now();
            let lease = now + self.settings.lease;
            let claimed = match self.store.claim_mail(&self.name, now, lease).await {
                Ok(Some(claimed)) => claimed,
                Ok(None) => return pass,
                Err(err) => {
                    tracing::warn!(%err, "outbox: cannot claim mail");
                    return pass;
                }
            };
            let mail = &claimed.mail;
            let result = match self.transport.send(&self.from, mail).await {
                Ok(()) => {
                    pass.sent += 1;
                    tracing::info!(id = %mail.id, template = %mail.template, "mail sent");
                    self.store.mark_sent(mail.id, self.clock.now()).await
                }
                Err(error) => {
                    pass.failed += 1;
                    let now = self.clock.now();
                    let retry_at = retry_at(&self.settings, claimed.attempts, now);
                    tracing::warn!(id = %mail.id, attempts = claimed.attempts, parked = retry_at.is_none(), %error, "mail not sent");
                    let result = self.store.mark_failed(mail.id, &error, retry_at, now).await;
                    // Don't hammer a server that is down: the rest waits for the next pass.
                    if result.is_ok() {
                        return pass;
                    }
                    result
                }
            };
            if let Err(err) = result {
                tracing::error!(%err, id = %mail.id, "outbox: cannot record delivery");
                return pass;
            }
        }
    }

    /// Runs until `shutdown` resolves: a pass whenever woken, and at least every `poll`.
    pub async fn run(self: Arc<Self>, wake: Arc<Notify>, shutdown: impl std::future::Future<Output = ()>) {
        run_passes(self.settings.poll, &wake, shutdown, &self.stopping, || {
            self.deliver_due()
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let s = WorkerSettings::default();
        let secs: Vec<u64> = (1..=10).map(|a| backoff(&s, a).as_secs()).collect();
        assert_eq!(secs, [5, 10, 20, 40, 80, 160, 320, 600, 600, 600]);
        assert_eq!(backoff(&s, 1_000_000).as_secs(), 600);
    }
}
