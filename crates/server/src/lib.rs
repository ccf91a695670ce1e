//! The `sesame` binary's library: configuration, start-up and serving, shared by `main` and by the
//! integration tests (which start the real server on port 0 with a moved clock).

pub mod cli;
pub mod config;
pub mod http;
pub mod import;
pub mod keyfile;

use config::Resolved;
use sesame_core::clock::Clock;
use sesame_core::factor::imported_hash::cost_class;
use sesame_core::factor::password::{CALIBRATION_CLASSES, PasswordHasher, PoolSettings};
use sesame_core::random::OsRandom;
use sesame_core::service::{CoreSettings, Services, SignupSettings};
use sesame_core::types::PasswordPolicy;
use sesame_mail::{
    Composer, ComposerSettings, SmsTransport, SmsTransportError, SmsWorker, Transport, TransportError as MailError,
    Worker, WorkerSettings,
};
use sesame_store::SqlStore;
use sesame_web::{AppState, Metrics, WebSettings};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Key(#[from] keyfile::KeyFileError),
    #[error("setting `database_url`: {0}")]
    Database(#[from] sesame_store::OpenError),
    #[error("setting `argon2` or `hashing`: {0}")]
    Hashing(#[from] sesame_core::factor::password::SettingsError),
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error("setting `sms.gateway_url`: {0}")]
    Sms(#[from] SmsTransportError),
    #[error("setting `theme_dir`: {0}")]
    Theme(#[from] sesame_web::ThemeError),
    #[error("metrics: {0}")]
    Metrics(#[from] sesame_web::MetricsError),
    #[error("cannot listen on {addr}: {why}")]
    Listen { addr: String, why: String },
    #[error("setting `data_dir`: {0}")]
    DataDir(String),
    #[error("data migration: {0}")]
    DataMigration(sesame_core::ports::StoreError),
    #[error("timing the stored password hashes: {0}")]
    Calibration(String),
}

/// A started application: the services, the store behind them and the mail and SMS workers.
#[derive(Clone, Debug)]
pub struct App {
    pub services: Services,
    pub store: Arc<SqlStore>,
    pub web: WebSettings,
    pub mailer: Arc<Worker>,
    /// Whether `serve` runs the mail worker (`mail.worker`).
    pub run_worker: bool,
    /// MFA-4: the SMS outbox worker.
    pub sms: Arc<SmsWorker>,
    /// Whether `serve` runs the SMS worker (`sms.worker`).
    pub run_sms_worker: bool,
    /// OPS-3: one registry for the customers' listener and the metrics listener.
    pub metrics: Metrics,
    /// Limits on slow and idle clients of the customers' listener.
    pub http: http::Limits,
}

/// Everything Sesame writes is for its eyes only: the database, mail and texts (they hold codes
/// and links), the key. Files are created 0600 and folders 0700 (the process's creation mask),
/// and the data directory is made 0700 even when it existed before.
fn private_files(data_dir: &std::path::Path) -> Result<(), StartError> {
    use std::os::unix::fs::PermissionsExt;
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let failed = |what: &str, e: std::io::Error| StartError::DataDir(format!("{what} {}: {e}", data_dir.display()));
    std::fs::create_dir_all(data_dir).map_err(|e| failed("cannot create", e))?;
    std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| failed("cannot make private", e))
}

/// PWD-4: times one stored hash of each cost class other than the current settings (imported, or
/// made with older settings; customers' and support agents'), at most
/// [`CALIBRATION_CLASSES`], before any login can show theirs, so every password check waits as
/// long as the slowest. [`App::serve`] runs it before it accepts a connection (the CLI's other
/// commands check no password, so they skip it); the bench runs it again after importing into
/// a running server.
pub async fn calibrate(store: &SqlStore, hasher: &PasswordHasher) -> Result<(), StartError> {
    use sesame_core::ports::AccountStore as _;
    let failed = |e: &dyn std::fmt::Display| StartError::Calibration(e.to_string());
    let (mut found, mut classes) = (Vec::new(), Vec::new());
    while classes.len() < CALIBRATION_CLASSES {
        let Some(phc) = store
            .other_password_hash(hasher.current_prefix(), &classes)
            .await
            .map_err(|e| failed(&e))?
        else {
            break;
        };
        classes.push(cost_class(&phc).to_owned());
        found.push(phc);
    }
    let timed = hasher.calibrate(&found).await.map_err(|e| failed(&e))?;
    if timed > 0 {
        tracing::info!(
            classes = timed,
            floor_ms = u64::try_from(hasher.floor().as_millis()).unwrap_or(u64::MAX),
            "password hashes of other kinds or costs remain (imported, or made with older settings): \
             every password check takes at least the floor until the next logins rehash them"
        );
    }
    Ok(())
}

impl App {
    /// Opens the database (migrating it), loads or creates the key and wires the services.
    pub async fn start(config: &Resolved, clock: Arc<dyn Clock>) -> Result<Self, StartError> {
        let raw = &config.raw;
        private_files(&raw.data_dir)?;
        let key = keyfile::load_or_create(&config.secret_key_file, config.generate_key, clock.now())?;
        let pool = sesame_store::PoolSettings {
            max_connections: raw.database.max_connections,
            acquire_timeout: Duration::from_millis(raw.database.acquire_timeout_ms),
            statement_timeout: Duration::from_millis(raw.database.statement_timeout_ms),
        };
        let store = Arc::new(SqlStore::open(&config.database_url, pool).await?);
        store.migrate().await?;
        let report = sesame_core::service::maintenance::canonical_emails(store.as_ref(), clock.now())
            .await
            .map_err(StartError::DataMigration)?;
        if report.ran {
            tracing::info!(updated = report.updated, "canonical emails recomputed (IDNA domains)");
        }
        for account in &report.collisions {
            tracing::warn!(
                %account,
                "after the IDNA change this account's email equals another account's; it was left as it was: resolve by hand"
            );
        }
        let hasher = PasswordHasher::new(
            raw.argon2,
            PoolSettings {
                workers: config.hashing_workers,
                max_queue: raw.hashing.max_queue,
                queue_deadline: Duration::from_millis(raw.hashing.queue_deadline_ms),
            },
        )?;
        let settings = CoreSettings {
            nic_suffix: raw.nic_suffix.clone(),
            nic_digits: raw.nic_digits_min..=raw.nic_digits_max,
            password_policy: PasswordPolicy {
                min_chars: raw.password.min_length,
                max_chars: raw.password.max_length,
                classic_subsidiaries: raw.password.classic_subsidiaries.clone(),
            },
            session_idle: time::Duration::minutes(raw.session.idle_timeout_minutes),
            session_absolute: time::Duration::minutes(raw.session.absolute_timeout_minutes),
            session_cache_ttl: time::Duration::milliseconds(raw.session.cache_ms as i64),
            signup: SignupSettings {
                code_ttl: time::Duration::minutes(raw.signup.code_ttl_minutes),
                max_code_attempts: raw.signup.max_code_attempts,
                mails_per_address_per_hour: raw.signup.mails_per_address_per_hour,
                per_ip_per_hour: raw.signup.per_ip_per_hour,
                ..SignupSettings::default()
            },
            issuer: raw.brand_name.clone(),
            public_url: config.public_url.to_string(),
            sms_subsidiaries: raw.sms.subsidiaries.iter().map(|c| c.to_ascii_uppercase()).collect(),
            email_only_subsidiaries: raw.login.email_only_subsidiaries.clone(),
            login_email_code: raw.risk.login_email_code,
            global_failures_per_minute: raw.risk.global_failures_per_minute,
            limits: raw.limits.limits(),
        };
        let composer = Composer::new(ComposerSettings {
            brand: raw.brand_name.clone(),
            public_url: config.public_url.clone(),
            support_phones: phones(raw),
        });
        let mail_dir = raw.data_dir.join("mail");
        let transport = if raw.smtp_url.is_empty() {
            Transport::Files(mail_dir.clone())
        } else {
            Transport::smtp(&raw.smtp_url)?
        };
        let from = sesame_mail::transport::parse_from(&config.mail_from)?;
        let ms = Duration::from_millis;
        let worker_settings = WorkerSettings {
            poll: ms(raw.mail.poll_interval_ms),
            retry_base: ms(raw.mail.retry_base_ms),
            retry_max: ms(raw.mail.retry_max_ms),
            max_attempts: raw.mail.max_attempts,
            ..WorkerSettings::default()
        };
        let mailer = Arc::new(Worker::new(
            store.clone(),
            transport,
            from,
            clock.clone(),
            worker_settings,
        ));
        let sms_dir = raw.data_dir.join("sms");
        let sms_transport = if raw.sms.gateway_url.is_empty() {
            SmsTransport::Files(sms_dir.clone())
        } else {
            SmsTransport::gateway(&raw.sms.gateway_url, &raw.sms.gateway_token)?
        };
        let sms = Arc::new(SmsWorker::new(
            store.clone(),
            sms_transport,
            clock.clone(),
            WorkerSettings {
                poll: ms(raw.sms.poll_interval_ms),
                retry_base: ms(raw.sms.retry_base_ms),
                retry_max: ms(raw.sms.retry_max_ms),
                max_attempts: raw.sms.max_attempts,
                lease: sesame_mail::sms::LEASE,
            },
        ));
        let services = Services::new(
            store.clone(),
            clock,
            Arc::new(OsRandom),
            Arc::new(hasher),
            key,
            settings,
            Arc::new(composer),
        );
        Ok(Self {
            metrics: Metrics::new()?,
            http: raw.http.limits(),
            services,
            store,
            mailer,
            run_worker: raw.mail.worker,
            sms,
            run_sms_worker: raw.sms.worker,
            web: WebSettings {
                brand_name: raw.brand_name.clone(),
                theme_dir: (!raw.theme_dir.is_empty()).then(|| raw.theme_dir.clone().into()),
                default_subsidiary: raw.login.default_subsidiary.clone(),
                support_phones: phones(raw),
                dev_mail_dir: (config.dev_mode && raw.smtp_url.is_empty()).then_some(mail_dir),
                dev_sms_dir: (config.dev_mode && raw.sms.gateway_url.is_empty()).then_some(sms_dir),
                trusted_proxies: config.trusted_proxies.clone(),
                metrics_token: (!raw.metrics_token.is_empty()).then(|| raw.metrics_token.clone()),
                return_to_origins: raw.login.return_to_origins.clone(),
                return_to_paths: raw.login.return_to_paths.clone(),
                request_timeout: Duration::from_secs(raw.http.request_timeout_secs),
                ..WebSettings::for_url(config.public_url.clone())
            },
        })
    }

    /// OPS-3: serves `GET /metrics` alone on `listener` (the `metrics_listen` address) until
    /// `shutdown` resolves.
    pub async fn serve_metrics(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
        axum::serve(listener, sesame_web::metrics_router(self.metrics.clone()))
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|e| StartError::Listen {
                addr,
                why: e.to_string(),
            })
    }

    /// Serves HTTP on `listener` until `shutdown` resolves, then finishes in-flight requests.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        calibrate(&self.store, self.services.hasher()).await?;
        // Dropping `stop_workers` stops both workers.
        let (stop_workers, stopped) = tokio::sync::watch::channel(());
        let until_stopped = |mut stopped: tokio::sync::watch::Receiver<()>| async move {
            let _ = stopped.changed().await;
        };
        let mail_worker = self.run_worker.then(|| {
            let run = Arc::clone(&self.mailer).run(self.services.mail_signal(), until_stopped(stopped.clone()));
            tokio::spawn(run)
        });
        let sms_worker = self.run_sms_worker.then(|| {
            let run = Arc::clone(&self.sms).run(self.services.sms_signal(), until_stopped(stopped.clone()));
            tokio::spawn(run)
        });
        let janitor = tokio::spawn(janitor(self.services.clone(), until_stopped(stopped.clone())));
        let state = AppState::new(self.services, self.web, self.metrics)?;
        http::serve(listener, sesame_web::router(state), self.http, shutdown).await;
        drop(stop_workers);
        for worker in [mail_worker, sms_worker, Some(janitor)].into_iter().flatten() {
            let _ = worker.await;
        }
        // Connections still checked out (a task that outlived the drain) can't hold the exit.
        let _ = tokio::time::timeout(self.http.drain, self.store.close()).await;
        Ok(())
    }
}

/// How often the janitor looks for due work.
const JANITOR_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// RECOVER-4/5: applies the email changes whose 24 hours are over, deletes the documents of
/// requests older than 30 days, the one-time secrets and flows expired for a day and the throttle
/// counters idle for 30 days (not the per-account ones of failures in a row), every half minute, on every node (each step is
/// idempotent and conditional in the database, so nodes can't apply a change twice).
async fn janitor(services: sesame_core::service::Services, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    loop {
        let recovery = services.recovery();
        if let Err(err) = recovery.apply_due_email_changes().await {
            tracing::warn!(%err, "applying due email changes failed");
        }
        if let Err(err) = recovery.expire_requests().await {
            tracing::warn!(%err, "expiring recovery requests failed");
        }
        if let Err(err) = recovery.purge_expired_secrets().await {
            tracing::warn!(%err, "purging expired one-time secrets failed");
        }
        if let Err(err) = services.login().purge_stale().await {
            tracing::warn!(%err, "purging expired flows and idle throttle counters failed");
        }
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(JANITOR_EVERY) => {}
        }
    }
}

/// Support phone numbers keyed by upper-case subsidiary code: the subsidiaries' published numbers,
/// then the configured ones (which add or replace).
fn phones(raw: &config::Config) -> std::collections::BTreeMap<String, String> {
    let published = sesame_core::types::SUBSIDIARIES
        .iter()
        .filter_map(|s| s.phone.map(|p| (s.code.to_owned(), p.to_owned())));
    let configured = raw
        .support_phones
        .iter()
        .map(|(k, v)| (k.to_ascii_uppercase(), v.clone()));
    published.chain(configured).collect()
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(err) => {
                tracing::error!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
