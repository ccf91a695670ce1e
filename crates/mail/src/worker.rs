//! The outbox worker (MAIL-1). It wakes when this node queues a mail and polls at least every
//! `poll` interval for mail queued by other nodes. Up to `BATCH` due mails are claimed at once
//! with a lease (one worker at a time), sent side by side (one recipient's mails in order), and
//! marked sent together once the SMTP server accepted them; a failure is retried after
//! `retry_base`, doubling up to `retry_max`, and parked after `max_attempts` (shown by
//! `sesame outbox status`, sent again by `sesame outbox retry`). The only way a mail goes out
//! twice is a crash between the server's acceptance and the update; it then keeps its Message-ID.

use crate::transport::Transport;
use lettre::message::Mailbox;
use sesame_core::clock::Clock;
use sesame_core::ports::{ClaimedMail, OutboxStore};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
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
    /// When expired mail is next parked (at most once per `poll`: claims skip it meanwhile).
    next_drop: Mutex<OffsetDateTime>,
}

/// Mails claimed and sent at once. lettre writes a message's closing dot in a write of its own,
/// which Nagle's algorithm holds until the relay acknowledges the body, and a relay that delays
/// its ACKs (Linux does, about 40 ms) then paces each connection at some 25 mails a second;
/// sending a batch over several of the pool's connections keeps a node's rate well above its
/// login rate (NOTIFY-1 mails every login).
pub const BATCH: u32 = 8;

/// How long a woken mail worker waits for more mail before its pass: under load, one claim and
/// one update then serve a batch rather than each mail alone.
const GATHER: Duration = Duration::from_millis(50);

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

/// Runs `pass` until `shutdown` resolves: once at the start, `gather` after `wake` is notified
/// (what is queued meanwhile joins the pass), and at least every `poll` (for what other nodes
/// queued). Shared by the mail and SMS workers.
///
/// A pass is never cut in the middle of a delivery (the message could then be sent and not
/// recorded, and go twice): when `shutdown` resolves during a pass, `stopping` is raised, the pass
/// ends after the delivery in hand, and the loop returns. So a worker stops at once even while
/// mail keeps arriving.
pub(crate) async fn run_passes<P: std::future::Future>(
    poll: Duration,
    gather: Duration,
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
            () = wake.notified() => {
                tokio::select! {
                    () = &mut shutdown => return,
                    () = tokio::time::sleep(gather) => {}
                }
            }
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
            next_drop: Mutex::new(OffsetDateTime::UNIX_EPOCH),
        }
    }

    /// Parks expired mail, at most once per `poll` (a pass per queued mail would otherwise pay
    /// for it each time); false when the store failed.
    async fn drop_expired(&self, now: OffsetDateTime) -> bool {
        {
            let mut next = self.next_drop.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if now < *next {
                return true;
            }
            *next = now + self.settings.poll;
        }
        match self.store.drop_expired_mail(now).await {
            Ok(_) => true,
            Err(err) => {
                tracing::warn!(%err, "outbox: cannot drop expired mail");
                false
            }
        }
    }

    /// Sends claimed mails side by side, one recipient's in the order claimed; each result in
    /// the order of `claimed`, `None` for a mail not tried. Sending stops at half the lease, so
    /// what was accepted is recorded while the claim holds (after it, another node could send
    /// it again); a mail not tried waits for its lease to run out.
    async fn send_all(&self, claimed: &[ClaimedMail]) -> Vec<Option<Result<(), String>>> {
        let deadline = tokio::time::Instant::now() + self.settings.lease / 2;
        let mut by_recipient: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, c) in claimed.iter().enumerate() {
            by_recipient.entry(c.mail.recipient.as_str()).or_default().push(i);
        }
        let mut sending = tokio::task::JoinSet::new();
        for indexes in by_recipient.into_values() {
            let mails: Vec<_> = indexes.iter().map(|&i| (i, claimed[i].mail.clone())).collect();
            let (transport, from) = (self.transport.clone(), self.from.clone());
            sending.spawn(async move {
                let mut results = Vec::with_capacity(mails.len());
                for (i, mail) in mails {
                    let send = tokio::time::timeout_at(deadline, transport.send(&from, &mail));
                    match send.await {
                        Ok(result) => results.push((i, Some(result))),
                        // Cut short: the relay may have taken it, so it is not marked failed.
                        Err(_) => break,
                    }
                }
                results
            });
        }
        let mut results = vec![None; claimed.len()];
        while let Some(joined) = sending.join_next().await {
            match joined {
                Ok(group) => group.into_iter().for_each(|(i, result)| results[i] = result),
                Err(err) => tracing::error!(%err, "outbox: a sending task failed"),
            }
        }
        results
    }

    /// Delivers every due mail now; returns what happened. Store errors end the pass early
    /// (the next pass tries again).
    pub async fn deliver_due(&self) -> Pass {
        let mut pass = Pass::default();
        if !self.drop_expired(self.clock.now()).await {
            return pass;
        }
        loop {
            if self.stopping.load(Ordering::SeqCst) {
                return pass;
            }
            let now = self.clock.now();
            let lease = now + self.settings.lease;
            let claimed = match self.store.claim_mails(&self.name, now, lease, BATCH).await {
                Ok(claimed) if claimed.is_empty() => return pass,
                Ok(claimed) => claimed,
                Err(err) => {
                    tracing::warn!(%err, "outbox: cannot claim mail");
                    return pass;
                }
            };
            let results = self.send_all(&claimed).await;
            let mut sent = Vec::with_capacity(claimed.len());
            let mut failed = false;
            for (claimed, result) in claimed.iter().zip(results) {
                let mail = &claimed.mail;
                match result {
                    None => failed = true,
                    Some(Ok(())) => {
                        tracing::info!(id = %mail.id, template = %mail.template, "mail sent");
                        sent.push(mail.id);
                    }
                    Some(Err(error)) => {
                        pass.failed += 1;
                        failed = true;
                        let now = self.clock.now();
                        let retry_at = retry_at(&self.settings, claimed.attempts, now);
                        tracing::warn!(id = %mail.id, attempts = claimed.attempts, parked = retry_at.is_none(), %error, "mail not sent");
                        if let Err(err) = self.store.mark_failed(mail.id, &error, retry_at, now).await {
                            tracing::error!(%err, id = %mail.id, "outbox: cannot record delivery");
                        }
                    }
                }
            }
            if let Err(err) = self.store.mark_sent(&sent, self.clock.now()).await {
                tracing::error!(%err, "outbox: cannot record delivery");
                return pass;
            }
            pass.sent += u32::try_from(sent.len()).unwrap_or(u32::MAX);
            // Don't hammer a server that is down: the rest waits for the next pass. A short
            // batch took every due mail.
            if failed || claimed.len() < BATCH as usize {
                return pass;
            }
        }
    }

    /// Runs until `shutdown` resolves: a pass whenever woken, and at least every `poll`.
    pub async fn run(self: Arc<Self>, wake: Arc<Notify>, shutdown: impl std::future::Future<Output = ()>) {
        run_passes(self.settings.poll, GATHER, &wake, shutdown, &self.stopping, || {
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
