//! MFA-4 SMS delivery: the SMS outbox worker against a real HTTP gateway (an axum server on
//! 127.0.0.1 that records what it gets and can answer 503 or be down), and the development files
//! listed at `/dev/sms`. Texts are queued through the store, as the SMS factor does.

use crate::helpers::{TestApp, spawn_app_with};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use sesame_core::clock::Clock;
use sesame_core::sms::{SmsMessage, SmsOutboxStore, code_text};
use sesame_core::types::new_id;
use sesame_mail::worker::Pass;
use sesame_store::testing::stored_sms_text;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOKEN: &str = "gateway-token-1";

/// A request as the gateway received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub authorization: String,
    pub idempotency_key: String,
    pub body: Value,
    /// What the gateway answered.
    pub status: u16,
}

#[derive(Default)]
struct Log {
    received: Vec<Received>,
    /// Requests still to be refused with 503.
    refuse: usize,
}

/// A real HTTP SMS gateway on 127.0.0.1.
pub struct Gateway {
    pub port: u16,
    log: Arc<Mutex<Log>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Gateway {
    /// A gateway that is down: its port is reserved but nothing listens (connection refused).
    pub fn down() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self {
            port,
            log: Arc::default(),
            server: None,
        }
    }

    pub async fn start() -> Self {
        let mut gateway = Self::down();
        gateway.up().await;
        gateway
    }

    /// Starts listening on the gateway's port.
    pub async fn up(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        let router = axum::Router::new()
            .route("/send", axum::routing::post(receive))
            .with_state(Arc::clone(&self.log));
        self.server = Some(tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        }));
    }

    /// The next `n` requests get 503.
    pub fn refuse(&self, n: usize) {
        self.log.lock().unwrap().refuse = n;
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/send", self.port)
    }

    pub fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().received.clone()
    }

    /// The requests it accepted (2xx).
    pub fn delivered(&self) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.status == 200).collect()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

async fn receive(State(log): State<Arc<Mutex<Log>>>, headers: HeaderMap, Json(body): Json<Value>) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let mut log = log.lock().unwrap();
    let status = if log.refuse > 0 {
        log.refuse -= 1;
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    log.received.push(Received {
        authorization: header("authorization"),
        idempotency_key: header("idempotency-key"),
        body,
        status: status.as_u16(),
    });
    status
}

pub async fn gateway_app(gateway: &Gateway) -> TestApp {
    let url = gateway.url();
    spawn_app_with(|c| {
        c.sms.gateway_url = url;
        c.sms.gateway_token = TOKEN.into();
    })
    .await
}

/// Queues a code text to `to`, as the SMS factor does, created now and valid 5 minutes.
async fn queue(app: &TestApp, to: &str, code: &str) -> SmsMessage {
    let now = app.clock.now();
    let sms = SmsMessage {
        id: new_id(now),
        account_id: None,
        to: to.into(),
        text: code_text("en", "Sesame", code, time::Duration::minutes(5)),
        created_at: now,
        expires_at: now + time::Duration::minutes(5),
    };
    app.app.store.queue_sms(&sms, None, now).await.unwrap();
    sms
}

fn sent(n: u32) -> Pass {
    Pass { sent: n, failed: 0 }
}

fn failed() -> Pass {
    Pass { sent: 0, failed: 1 }
}

#[tokio::test]
async fn a_queued_text_reaches_the_gateway_with_its_token_and_is_then_cleared() {
    let gateway = Gateway::start().await;
    let app = gateway_app(&gateway).await;
    let sms = queue(&app, "+33612345678", "123456").await;
    assert_eq!(app.deliver_sms().await, sent(1));
    let received = gateway.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].authorization, format!("Bearer {TOKEN}"));
    assert_eq!(received[0].idempotency_key, sms.id.to_string());
    assert_eq!(
        received[0].body,
        json!({
            "to": "+33612345678",
            "text": "Sesame: your verification code is 123456. It expires in 5 minutes. Never share it."
        })
    );
    assert_eq!(
        stored_sms_text(&app.app.store, sms.id).await,
        None,
        "the code is not kept once sent"
    );
    app.advance(1);
    assert_eq!(app.deliver_sms().await, sent(0), "sent once");
    assert_eq!(gateway.received().len(), 1);
}

#[tokio::test]
async fn a_gateway_that_is_down_then_refuses_then_is_back_gets_the_text_exactly_once() {
    let mut gateway = Gateway::down();
    let app = gateway_app(&gateway).await;
    let sms = queue(&app, "+447700900123", "654321").await;
    assert_eq!(app.deliver_sms().await, failed(), "connection refused");
    assert_eq!(app.deliver_sms().await, sent(0), "the retry waits for its time");
    assert!(stored_sms_text(&app.app.store, sms.id).await.is_some());

    gateway.up().await;
    gateway.refuse(1);
    app.advance(1);
    assert_eq!(app.deliver_sms().await, failed(), "503");
    app.advance(1);
    assert_eq!(app.deliver_sms().await, sent(1));
    app.advance(1);
    assert_eq!(app.deliver_sms().await, sent(0));

    let received = gateway.received();
    assert_eq!(received.iter().map(|r| r.status).collect::<Vec<_>>(), [503, 200]);
    assert!(received.iter().all(|r| r.idempotency_key == sms.id.to_string()));
    assert_eq!(gateway.delivered().len(), 1, "delivered exactly once");
    assert_eq!(stored_sms_text(&app.app.store, sms.id).await, None);
}

#[tokio::test]
async fn a_text_past_its_expiry_is_never_sent_and_its_code_is_dropped() {
    let gateway = Gateway::down();
    let app = gateway_app(&gateway).await;
    let sms = queue(&app, "+33612345678", "111111").await;
    assert_eq!(app.deliver_sms().await, failed());
    app.advance(5);
    assert_eq!(app.deliver_sms().await, sent(0));
    assert_eq!(stored_sms_text(&app.app.store, sms.id).await, None);
}

#[tokio::test]
async fn the_running_worker_is_woken_when_this_node_queues_a_text() {
    let gateway = Gateway::start().await;
    let url = gateway.url();
    let app = spawn_app_with(|c| {
        c.sms.gateway_url = url;
        c.sms.gateway_token = TOKEN.into();
        c.sms.worker = true;
        // Never by its timer in this test: only the signal can wake it.
        c.sms.poll_interval_ms = 3_600_000;
    })
    .await;
    let sms = queue(&app, "+33612345678", "222222").await;
    app.app.services.sms_signal().notify_one();
    for _ in 0..100 {
        if !gateway.delivered().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let delivered = gateway.delivered();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].body["text"], json!(sms.text));
}

#[tokio::test]
async fn without_a_gateway_texts_are_files_listed_at_dev_sms_newest_first() {
    let app = spawn_app_with(|c| c.dev_mode = Some(true)).await;
    let first = queue(&app, "+33612345678", "333333").await;
    app.clock.advance(time::Duration::seconds(1));
    let second = queue(&app, "+33698765432", "444444").await;
    assert_eq!(app.deliver_sms().await, sent(2));
    let file = app.dir.path().join("sms").join(format!("{}.txt", first.id));
    assert_eq!(
        std::fs::read_to_string(file).unwrap(),
        format!("To: +33612345678\n\n{}\n", first.text)
    );
    let page = app.get("/dev/sms").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let (older, newer) = (html.find("333333").unwrap(), html.find("444444").unwrap());
    assert!(newer < older, "newest first");
    assert!(html.contains("+33698765432"));
    assert_eq!(stored_sms_text(&app.app.store, second.id).await, None);
}

#[tokio::test]
async fn dev_sms_is_only_for_development_without_a_gateway() {
    let app = spawn_app_with(|_| {}).await;
    assert_eq!(app.get("/dev/sms").await.status(), 404, "not in development mode");
    let gateway = Gateway::down();
    let url = gateway.url();
    let app = spawn_app_with(|c| {
        c.dev_mode = Some(true);
        c.sms.gateway_url = url;
    })
    .await;
    assert_eq!(app.get("/dev/sms").await.status(), 404, "texts go to the gateway");
}
