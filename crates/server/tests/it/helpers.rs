//! `spawn_app()`: the real router on 127.0.0.1:0 over a fresh database, a manual clock, cheap
//! Argon2, and a client with a cookie jar.

use reqwest::{Client, Response};
use serde_json::{Value, json};
use sesame_core::audit::{Actor, ClientInfo};
use sesame_core::clock::ManualClock;
use sesame_core::ports::Account;
use sesame_core::service::NewAccountInput;
use sesame_core::types::{AccountType, Password};
use sesame_server::App;
use sesame_server::config::Config;
use sesame_store::testing::TestDb;
use std::sync::Arc;
use time::macros::datetime;

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub clock: Arc<ManualClock>,
    pub app: App,
    pub db: TestDb,
    pub dir: tempfile::TempDir,
    pub _server: ServerGuard,
}

/// Stops the server (gracefully) when dropped.
pub struct ServerGuard(Option<tokio::sync::oneshot::Sender<()>>);

impl Drop for ServerGuard {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

/// Settings every test app shares: cheap hashing, a short queue deadline.
pub fn test_config(dir: &std::path::Path, db: &TestDb) -> Config {
    let mut config = Config {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.to_path_buf(),
        database_url: db.url.clone(),
        ..Config::default()
    };
    config.argon2.m_cost_kib = 256;
    config.argon2.t_cost = 1;
    config.hashing.workers = 2;
    config.hashing.max_queue = 16;
    config.hashing.queue_deadline_ms = 200;
    // Tests deliver mail themselves (`TestApp::deliver`), so that what they read is settled.
    config.mail.worker = false;
    // Likewise for texts (`app.sms.deliver_due()`).
    config.sms.worker = false;
    // Tests log in from fresh clients all the time; those about LOGIN-3 ask for the email code.
    config.risk.login_email_code = sesame_core::service::EmailCodePolicy::Never;
    // `/metrics` on the customers' listener, for tests that read it (`TestApp::metrics`).
    config.metrics_token = METRICS_TOKEN.into();
    config
}

/// The bearer token that opens `/metrics` in tests.
pub const METRICS_TOKEN: &str = "test-metrics-token";

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts an app after `tweak` has adjusted its configuration.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    spawn_on(db, dir, tweak).await
}

/// Starts an app on an existing database and data directory (to restart with other settings).
pub async fn spawn_on(db: TestDb, dir: tempfile::TempDir, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://127.0.0.1:{}", addr.port());
    let mut config = test_config(dir.path(), &db);
    config.public_url = base.clone();
    tweak(&mut config);
    let resolved = config.resolve().unwrap();
    let clock = Arc::new(ManualClock::new(datetime!(2026-11-25 09:00 UTC)));
    let app = App::start(&resolved, clock.clone()).await.unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let serving = app.clone();
    tokio::spawn(async move {
        serving
            .serve(listener, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    TestApp {
        base,
        client: client(),
        clock,
        app,
        db,
        dir,
        _server: ServerGuard(Some(tx)),
    }
}

/// A fresh client with its own cookie jar.
pub fn client() -> Client {
    Client::builder().cookie_store(true).build().unwrap()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Creates an account in France through the service, as the CLI does.
    pub async fn account(&self, email: &str, first: &str, last: &str) -> Account {
        self.account_in(email, first, last, "FR").await
    }

    /// Creates an account in a country (which fixes its subsidiary).
    pub async fn account_in(&self, email: &str, first: &str, last: &str, country: &str) -> Account {
        self.account_with_password(email, first, last, country, PASSWORD).await
    }

    /// [`Self::account_in`] with a password of its own.
    pub async fn account_with_password(
        &self,
        email: &str,
        first: &str,
        last: &str,
        country: &str,
        password: &str,
    ) -> Account {
        let input = NewAccountInput {
            email: email.into(),
            first_name: first.into(),
            last_name: last.into(),
            country: country.into(),
            account_type: AccountType::Individual,
            company_name: None,
            phone: None,
            language: None,
            currency: None,
            password: Password::new(password),
        };
        self.app
            .services
            .accounts()
            .create_account(input, Actor::Operator, &ClientInfo::default())
            .await
            .unwrap()
    }

    /// SUPPORT-2 by the operator: `account`'s verified backup email becomes its primary; the
    /// account as it is then.
    pub async fn promote_backup(
        &self,
        account: &Account,
        ticket: &str,
    ) -> Result<Account, sesame_core::service::SupportError> {
        use sesame_core::service::{By, Justification, Verification};
        let why = Justification {
            reason: "caller verified".into(),
            ticket: ticket.into(),
        };
        let client = ClientInfo::default();
        let support = self.app.services.support();
        support
            .promote_backup_email(
                By::Operator,
                account.id,
                Some(Verification::CustomerCode),
                &why,
                &client,
            )
            .await?;
        Ok(self
            .app
            .services
            .accounts()
            .find_account(account.nic_handle.as_str())
            .await
            .unwrap()
            .unwrap())
    }

    pub async fn jane(&self) -> Account {
        self.account("Jane.Doe@Example.com", "Jane", "Doe").await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).json(body).send().await.unwrap()
    }

    pub async fn login(&self, login: &str, password: &str) -> Response {
        self.post_json("/api/v1/session", &json!({"login": login, "password": password}))
            .await
    }

    /// The `/metrics` page, with the bearer token.
    pub async fn metrics(&self) -> Response {
        self.client
            .get(self.url("/metrics"))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// Runs the mail worker once, as its timer would: every due mail is handed to the SMTP server.
    pub async fn deliver(&self) -> sesame_mail::worker::Pass {
        self.app.mailer.deliver_due().await
    }

    /// Runs the SMS worker once (MFA-4): every due text is handed to the gateway (or its file).
    pub async fn deliver_sms(&self) -> sesame_mail::worker::Pass {
        self.app.sms.deliver_due().await
    }

    pub fn advance(&self, minutes: i64) {
        self.clock.advance(time::Duration::minutes(minutes));
    }
}

/// Sends `body` as JSON with `client`'s cookies; the status and the JSON answer.
pub async fn call(client: &Client, app: &TestApp, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
    status_json(client.request(method, app.url(path)).json(&body).send().await.unwrap()).await
}

pub async fn post(client: &Client, app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    call(client, app, reqwest::Method::POST, path, body).await
}

/// The password step of a login that owes a second factor offering `methods`: its flow.
/// Logs in with the password over JSON: the status and the answer.
pub async fn password_login(client: &Client, app: &TestApp, nic: &str) -> (u16, Value) {
    post(
        client,
        app,
        "/api/v1/session",
        json!({"login": nic, "password": PASSWORD}),
    )
    .await
}

pub async fn password_step(client: &Client, app: &TestApp, nic: &str, methods: &[&str]) -> String {
    let (status, body) = password_login(client, app, nic).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("second_factor_required")),
        "{body}"
    );
    assert_eq!(body["methods"], json!(methods), "{body}");
    body["flow"].as_str().unwrap().to_owned()
}

/// Opens an unlock link from a mail (MFA-7, RISK-2) as a browser would: the browser, and the
/// form token and unlock token of the page's form.
pub async fn open_unlock_link(link: &str) -> (Client, String, String) {
    let browser = client();
    let page = browser.get(link).send().await.unwrap().text().await.unwrap();
    let csrf_at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    let token_at = page.find("name=\"token\" value=\"").unwrap() + 20;
    let (csrf, token) = (
        page[csrf_at..csrf_at + 64].to_owned(),
        page[token_at..token_at + 64].to_owned(),
    );
    (browser, csrf, token)
}

/// Status and parsed JSON body of a response.
pub async fn status_json(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}"));
    (status, body)
}

/// The stable error code of an error response.
pub async fn error_code(response: Response) -> (u16, String) {
    let (status, body) = status_json(response).await;
    (status, body["error"]["code"].as_str().unwrap_or_default().to_owned())
}

/// The session cookie a response set, as `name=value`.
pub fn session_cookie(response: &Response) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.contains("sesame_session="))
        .and_then(|c| c.split(';').next().map(str::to_owned))
        .expect("a session cookie")
}

/// An app that sends its mail to a real SMTP server.
pub async fn spawn_mail_app(tweak: impl FnOnce(&mut Config)) -> (TestApp, crate::smtp::Smtp) {
    let smtp = crate::smtp::Smtp::start().await;
    let url = smtp.url();
    let app = spawn_app_with(|c| {
        c.smtp_url = url;
        tweak(c);
    })
    .await;
    (app, smtp)
}

/// Blocks or unblocks an account as an operator does (ACCT-5, SUPPORT-4).
pub async fn block(app: &TestApp, account: sesame_core::types::AccountId, blocked: bool) {
    let why = sesame_core::service::Justification {
        reason: "test".into(),
        ticket: "T-0".into(),
    };
    app.app
        .services
        .support()
        .set_blocked(
            sesame_core::service::By::Operator,
            account,
            blocked,
            &why,
            &ClientInfo::default(),
        )
        .await
        .unwrap();
}

/// The base URL `sesame serve` prints on its first line ("listening on http://ADDR …").
pub fn served_base(first_line: &str) -> String {
    let addr = first_line
        .split("http://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {first_line:?}"));
    format!("http://{addr}")
}

/// A change of `account`'s primary email to `to` waiting for its day (RECOVER-4), written straight
/// to the store as if started and confirmed with the current mailbox said lost.
pub async fn waiting_primary_change(app: &TestApp, account: sesame_core::types::AccountId, to: &str) -> uuid::Uuid {
    use sesame_core::recovery::RecoveryStore;
    let now = sesame_core::clock::Clock::now(app.clock.as_ref());
    let change = sesame_core::recovery::EmailChange {
        id: uuid::Uuid::now_v7(),
        account_id: account,
        target: sesame_core::recovery::EmailTarget::Primary,
        email: sesame_core::types::Email::parse(to).unwrap(),
        current_reachable: false,
        attempts: 0,
        created_at: now,
        expires_at: now + time::Duration::minutes(30),
        applies_at: None,
        completed_at: None,
        cancelled_at: None,
    };
    let store = &app.app.store;
    store.create_email_change(&change, &[], &[]).await.unwrap();
    let client = sesame_core::audit::ClientInfo::default();
    let kind = sesame_core::audit::AuditKind::EmailChanged;
    let scheduled = sesame_core::audit::AuditEvent::new(now, kind, sesame_core::audit::Actor::Customer, &client);
    let applies_at = now + time::Duration::hours(24);
    let done = store.schedule_email_change(change.id, applies_at, &[], &scheduled, &[]);
    assert!(done.await.unwrap());
    change.id
}

/// Sends `n` requests at once, the `i`th made by `request(i)`, and returns their answers sorted.
pub async fn at_once<T, Fut>(n: usize, request: impl Fn(usize) -> Fut) -> Vec<T>
where
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Ord + Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        set.spawn(request(i));
    }
    let mut answers = set.join_all().await;
    answers.sort();
    answers
}

/// The sorted statuses of `n` requests of which one got through (`first`) and the rest were
/// refused (`rest`, a higher status).
pub fn one_through(n: usize, first: u16, rest: u16) -> Vec<u16> {
    let mut statuses = vec![rest; n];
    statuses[0] = first;
    statuses
}
