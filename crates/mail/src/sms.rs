//! SMS delivery (MFA-4). The [`SmsTransport`] posts each text to the configured HTTP gateway
//! (`POST URL` with `{"to": "+33612345678", "text": "…"}`, `Authorization: Bearer TOKEN` and an
//! `Idempotency-Key` naming the text; any 2xx means accepted) or, with no gateway, writes it to
//! `ID.txt` in a folder for development (`/dev/sms` lists them). The gateway is reached over
//! https (rustls, the platform's root certificates) or, for a gateway on the same host or in
//! tests, plain http; redirects are not followed, so the bearer token goes nowhere else.
//!
//! The [`SmsWorker`] mirrors the mail [`Worker`](crate::Worker): it claims each due text with a
//! lease, marks it sent the moment the gateway accepts it (the text, holding a code, is then
//! cleared), retries failures with the same backoff and parks a text after `max_attempts`; texts
//! past their expiry are dropped, since a late code is useless. Nothing here logs a text.

use crate::worker::{Pass, WorkerSettings, retry_at, run_passes};
use sesame_core::clock::Clock;
use sesame_core::sms::{SmsMessage, SmsOutboxStore};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Notify;
use url::Url;

/// How long a gateway has to answer (connection included).
pub const GATEWAY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum SmsTransportError {
    /// The gateway URL is not an `http://` URL with a host.
    #[error("{0}")]
    Url(String),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

#[derive(Clone)]
pub enum SmsTransport {
    Gateway {
        client: reqwest::Client,
        url: Url,
        token: String,
    },
    /// Each text becomes `ID.txt` in this folder: `To: NUMBER`, a blank line, the text.
    Files(PathBuf),
}

impl std::fmt::Debug for SmsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Gateway { url, .. } => f.debug_tuple("SmsTransport::Gateway").field(&url.as_str()).finish(),
            Self::Files(dir) => f.debug_tuple("SmsTransport::Files").field(dir).finish(),
        }
    }
}

impl SmsTransport {
    /// The HTTP gateway at `url` (`https://`, or `http://`), authenticated with `token` as a
    /// bearer token.
    pub fn gateway(url: &str, token: &str) -> Result<Self, SmsTransportError> {
        let url = Url::parse(url).map_err(|e| SmsTransportError::Url(format!("{url:?} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
            return Err(SmsTransportError::Url(
                "must be an https:// or http:// URL with a host".into(),
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(GATEWAY_TIMEOUT)
            .connect_timeout(GATEWAY_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SmsTransportError::Client(e.to_string()))?;
        Ok(Self::Gateway {
            client,
            url,
            token: token.to_owned(),
        })
    }

    /// Sends one text; `Ok` means the gateway accepted it (or the file was written). The error
    /// names what failed, never the text.
    pub async fn send(&self, sms: &SmsMessage) -> Result<(), String> {
        match self {
            Self::Gateway { client, url, token } => {
                let response = client
                    .post(url.clone())
                    .bearer_auth(token)
                    .header("Idempotency-Key", sms.id.to_string())
                    .json(&serde_json::json!({ "to": sms.to, "text": sms.text }))
                    .send()
                    .await
                    .map_err(|e| format!("gateway: {}", without_url(e)))?;
                let status = response.status();
                if status.is_success() {
                    Ok(())
                } else {
                    Err(format!("gateway answered {status}"))
                }
            }
            Self::Files(dir) => {
                tokio::fs::create_dir_all(dir).await.map_err(|e| e.to_string())?;
                let content = format!("To: {}\n\n{}\n", sms.to, sms.text);
                tokio::fs::write(dir.join(format!("{}.txt", sms.id)), content)
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    }
}

/// A reqwest error's message and causes, without the URL (which may carry credentials).
fn without_url(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// How long a worker holds a claimed text: well past a gateway call's timeout.
pub const LEASE: Duration = Duration::from_secs(30);

pub struct SmsWorker {
    store: Arc<dyn SmsOutboxStore>,
    transport: SmsTransport,
    clock: Arc<dyn Clock>,
    settings: WorkerSettings,
    name: String,
    /// Raised when the node stops: the pass ends after the text in hand.
    stopping: AtomicBool,
}

impl std::fmt::Debug for SmsWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsWorker")
            .field("name", &self.name)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl SmsWorker {
    pub fn new(
        store: Arc<dyn SmsOutboxStore>,
        transport: SmsTransport,
        clock: Arc<dyn Clock>,
        settings: WorkerSettings,
    ) -> Self {
        let name = format!("sms-worker-{}", uuid::Uuid::new_v4().simple());
        Self {
            store,
            transport,
            clock,
            settings,
            name,
            stopping: AtomicBool::new(false),
        }
    }

    /// Delivers every due text now; returns what happened. Store errors and a failed delivery
    /// end the pass early (the next pass tries again; a gateway that is down is not hammered).
    pub async fn deliver_due(&self) -> Pass {
        let mut pass = Pass::default();
        match self.store.drop_expired_sms(self.clock.now()).await {
            Ok(0) => {}
            Ok(dropped) => tracing::warn!(dropped, "sms: texts expired before delivery"),
            Err(err) => {
                tracing::warn!(%err, "sms: cannot drop expired texts");
                return pass;
            }
        }
        loop {
            if self.stopping.load(Ordering::SeqCst) {
                return pass;
            }
            let now = self.clock.now();
            let claimed = match self.store.claim_sms(&self.name, now, now + self.settings.lease).await {
                Ok(Some(claimed)) => claimed,
                Ok(None) => return pass,
                Err(err) => {
                    tracing::warn!(%err, "sms: cannot claim a text");
                    return pass;
                }
            };
            let id = claimed.sms.id;
            let result = match self.transport.send(&claimed.sms).await {
                Ok(()) => {
                    pass.sent += 1;
                    tracing::info!(%id, attempts = claimed.attempts, "sms sent");
                    self.store.mark_sms_sent(id, self.clock.now()).await
                }
                Err(error) => {
                    pass.failed += 1;
                    let now = self.clock.now();
                    let retry_at = retry_at(&self.settings, claimed.attempts, now);
                    tracing::warn!(%id, attempts = claimed.attempts, parked = retry_at.is_none(), %error, "sms not sent");
                    let result = self.store.mark_sms_failed(id, &error, retry_at, now).await;
                    if result.is_ok() {
                        return pass;
                    }
                    result
                }
            };
            if let Err(err) = result {
                tracing::error!(%err, %id, "sms: cannot record delivery");
                return pass;
            }
        }
    }

    /// Runs until `shutdown` resolves: a pass whenever woken, and at least every `poll`.
    pub async fn run(self: Arc<Self>, wake: Arc<Notify>, shutdown: impl std::future::Future<Output = ()>) {
        // Texts are claimed one at a time: nothing to gather.
        run_passes(
            self.settings.poll,
            Duration::ZERO,
            &wake,
            shutdown,
            &self.stopping,
            || self.deliver_due(),
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_gateways_with_a_host_are_taken() {
        assert!(SmsTransport::gateway("http://127.0.0.1:9000/send", "t").is_ok());
        assert!(SmsTransport::gateway("https://sms.example.com/send", "t").is_ok());
        for bad in ["sms.example.com", "file:///tmp/x", "ftp://sms.example.com/"] {
            assert!(
                matches!(SmsTransport::gateway(bad, "t"), Err(SmsTransportError::Url(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn debug_never_shows_the_token() {
        let gateway = SmsTransport::gateway("http://127.0.0.1:9000/send", "s3cr3t-token");
        assert!(gateway.is_ok_and(|g| !format!("{g:?}").contains("s3cr3t")));
    }
}
