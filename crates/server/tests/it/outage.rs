//! Connection loss (PostgreSQL): while the database can't be reached, requests get 503 with a code,
//! never a hang or a 500, and `/readyz` fails; once it is back, Sesame recovers without a restart.
//!
//! The outage is real from Sesame's side: its connections go through a TCP relay that the test
//! cuts (live connections reset, new ones closed at once) or silences (nothing passes either way
//! and nothing is closed, as when a network drops packets), and then restores. SQLite has no
//! connection to lose; under `SESAME_TEST_BACKEND=sqlite` these tests have nothing to do.

use crate::helpers::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A TCP relay to the database that can be cut, silenced and restored.
struct Relay {
    port: u16,
    down: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
    /// While true, bytes wait in the relay (and behind it, in the kernel's buffers).
    silent: watch::Sender<bool>,
}

/// Copies `from` to `to`, holding each chunk while the relay is silent.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut silent: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let Ok(n @ 1..) = from.read(&mut buf).await else {
            return;
        };
        if silent.wait_for(|s| !*s).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl Relay {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicBool::new(false));
        let (cut, cuts) = watch::channel(0u64);
        let (silent, silence) = watch::channel(false);
        let flag = down.clone();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if flag.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let mut cuts = cuts.clone();
                let mut silence = silence.clone();
                // Only cuts from now on end this connection.
                cuts.borrow_and_update();
                tokio::spawn(async move {
                    // A silent relay accepts, then forwards nothing, not even the connection.
                    if silence.wait_for(|s| !*s).await.is_err() {
                        return;
                    }
                    let Ok(outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let ((in_read, in_write), (out_read, out_write)) = (inbound.into_split(), outbound.into_split());
                    tokio::select! {
                        () = pump(in_read, out_write, silence.clone()) => {}
                        () = pump(out_read, in_write, silence) => {}
                        _ = cuts.changed() => {}
                    }
                });
            }
        });
        Self {
            port,
            down,
            cut,
            silent,
        }
    }

    fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    /// Nothing passes any more, and nothing is closed.
    fn silence(&self) {
        self.silent.send_replace(true);
    }

    fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
        self.silent.send_replace(false);
    }
}

#[tokio::test]
async fn a_lost_database_gives_503_and_sesame_recovers_by_itself() {
    outage_and_recovery(Relay::cut).await;
}

/// A link that goes silent (no reset, no answer) holds no request past its deadline.
#[tokio::test]
async fn a_silent_database_link_gives_503_and_sesame_recovers_by_itself() {
    outage_and_recovery(Relay::silence).await;
}

/// While `interrupt` keeps the database away, every request that needs it gets 503 with a code;
/// once the relay is restored, everything works again, the session included.
async fn outage_and_recovery(interrupt: fn(&Relay)) {
    if std::env::var("SESAME_TEST_BACKEND").as_deref() != Ok("postgres") {
        return;
    }
    let db = sesame_store::testing::TestDb::new().await;
    let url = url::Url::parse(&db.url).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let relay = Relay::start(target).await;
    let mut via_relay = url.clone();
    via_relay.set_port(Some(relay.port)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_on(db, dir, |c| {
        c.database_url = via_relay.to_string();
        c.database.acquire_timeout_ms = 500;
        c.http.request_timeout_secs = 1;
    })
    .await;
    let jane = app.jane().await;
    assert_eq!(app.login(jane.nic_handle.as_str(), PASSWORD).await.status(), 200);

    interrupt(&relay);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.headers().get("retry-after").unwrap(), "1");
    assert_eq!(error_code(ready).await, (503, "SERVICE_UNAVAILABLE".into()));
    for _ in 0..3 {
        let me = app.get("/api/v1/me").await;
        // Cut at its deadline on a silent link: the answer still carries the security headers.
        assert_eq!(me.headers().get("x-content-type-options").unwrap(), "nosniff");
        assert_eq!(error_code(me).await, (503, "SERVICE_UNAVAILABLE".into()));
        let login = app.login(jane.nic_handle.as_str(), PASSWORD).await;
        assert_eq!(error_code(login).await, (503, "SERVICE_UNAVAILABLE".into()));
    }
    assert_eq!(app.get("/healthz").await.status(), 200);

    relay.restore();
    assert_eq!(app.get("/readyz").await.status(), 200);
    assert_eq!(
        app.get("/api/v1/me").await.status(),
        200,
        "the session survived the outage"
    );
    assert_eq!(
        client()
            .post(app.url("/api/v1/session"))
            .json(&serde_json::json!({"login": jane.nic_handle.as_str(), "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
