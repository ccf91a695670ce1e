//! Configuration: defaults, then the TOML file given with `--config`, then `SESAME_*` environment
//! variables (nested keys with `__`, e.g. `SESAME_ARGON2__M_COST_KIB`). Every setting is documented
//! in `config/sesame.example.toml`. A bad setting stops start-up with a message naming it.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use sesame_core::factor::password::Argon2Settings;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use url::Url;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address and port to listen on.
    pub listen: String,
    /// The URL customers use; empty means `http://localhost:PORT` (development).
    pub public_url: String,
    /// Where the SQLite database, the generated key file and captured mail live.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; empty means a SQLite file under `data_dir`.
    pub database_url: String,
    /// SEC-1 key file; empty means `DATA_DIR/secret.key`, generated when missing.
    pub secret_key_file: String,
    /// ACCT-1 NIC handle suffix.
    pub nic_suffix: String,
    /// ACCT-1: digits of a new NIC handle, the fewest tried first.
    pub nic_digits_min: u32,
    pub nic_digits_max: u32,
    /// `text` or `json`.
    pub log_format: String,
    /// Reverse proxies (IPs or CIDR ranges) whose `X-Forwarded-For` names the real client.
    pub trusted_proxies: Vec<String>,
    /// OPS-3: where Prometheus scrapes `/metrics`, apart from the customers' listener (loopback
    /// by default); empty: no separate listener.
    pub metrics_listen: String,
    /// OPS-3: a bearer token that opens `/metrics` on the customers' listener too; empty: it is
    /// not served there.
    pub metrics_token: String,
    /// Product name on every page.
    pub brand_name: String,
    /// Folder whose `templates/` and `static/` override the embedded default theme; empty: none.
    pub theme_dir: String,
    pub login: LoginConfig,
    /// MAIL-1: `smtp://host:port` (plain), `smtp://…?tls=required` (STARTTLS), `smtps://user:pass@host:465`.
    /// Empty: mail is written as `.eml` files under `DATA_DIR/mail`.
    pub smtp_url: String,
    /// `From` of every mail; empty: `Sesame <no-reply@HOST>` with the public URL's host.
    pub mail_from: String,
    /// Development mode: lists captured mail at `/dev/mail` and texts at `/dev/sms` (they hold
    /// codes and links). Off unless asked for (`serve --dev`), and only on a loopback address.
    pub dev_mode: Option<bool>,
    pub mail: MailConfig,
    pub sms: SmsConfig,
    pub signup: SignupConfig,
    /// Support phone number per subsidiary code (`FR = "+33 …"`), shown on help pages.
    pub support_phones: BTreeMap<String, String>,
    pub database: DatabaseConfig,
    pub argon2: Argon2Settings,
    pub hashing: HashingConfig,
    pub http: HttpConfig,
    pub risk: RiskConfig,
    pub session: SessionConfig,
    pub password: PasswordConfig,
    pub limits: LimitsConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// The worker looks for mail at least this often (it is also woken when this node queues).
    pub poll_interval_ms: u64,
    /// First retry after a failed delivery; doubles each time…
    pub retry_base_ms: u64,
    /// …up to this.
    pub retry_max_ms: u64,
    /// Deliveries tried before a mail is parked (`sesame outbox retry` sends it again).
    pub max_attempts: i64,
    /// Whether this node runs a delivery worker. Every node may (claims keep each mail to one
    /// sender); switch it off to keep delivery on chosen nodes.
    pub worker: bool,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            poll_interval_ms: 2_000,
            retry_base_ms: 5_000,
            retry_max_ms: 600_000,
            max_attempts: 12,
            worker: true,
        }
    }
}

/// MFA-4: SMS codes, sent through an HTTP gateway by a worker like mail's.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsConfig {
    /// `http://host[:port]/path` the texts are posted to. Empty: each text is written to a file
    /// under `DATA_DIR/sms` (and, in development mode, listed at `/dev/sms`).
    pub gateway_url: String,
    /// Sent as `Authorization: Bearer TOKEN` to the gateway.
    pub gateway_token: String,
    /// Subsidiary codes whose customers are offered SMS codes.
    pub subsidiaries: Vec<String>,
    /// The worker looks for texts at least this often (it is also woken when this node queues).
    pub poll_interval_ms: u64,
    /// First retry after a failed delivery; doubles each time…
    pub retry_base_ms: u64,
    /// …up to this.
    pub retry_max_ms: u64,
    /// Deliveries tried before a text is given up (a code also expires after 5 minutes).
    pub max_attempts: i64,
    /// Whether this node runs an SMS delivery worker (claims keep each text to one sender).
    pub worker: bool,
}

impl Default for SmsConfig {
    fn default() -> Self {
        Self {
            gateway_url: String::new(),
            gateway_token: String::new(),
            // The European subsidiaries.
            subsidiaries: ["FR", "GB", "DE", "ES", "IT", "PL", "PT", "IE", "NL", "LT", "CZ", "FI"]
                .map(String::from)
                .to_vec(),
            poll_interval_ms: 2_000,
            retry_base_ms: 2_000,
            retry_max_ms: 60_000,
            max_attempts: 8,
            worker: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignupConfig {
    pub code_ttl_minutes: i64,
    pub max_code_attempts: i64,
    pub mails_per_address_per_hour: i64,
    pub per_ip_per_hour: i64,
}

impl Default for SignupConfig {
    fn default() -> Self {
        Self {
            code_ttl_minutes: 10,
            max_code_attempts: 5,
            mails_per_address_per_hour: 3,
            per_ip_per_hour: 20,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginConfig {
    /// LOGIN-6: subsidiary of a page that names none.
    pub default_subsidiary: String,
    /// LOGIN-6: subsidiaries whose customers log in by email only.
    pub email_only_subsidiaries: Vec<String>,
    /// LOGIN-5: origins besides the public URL that `return_to` may lead to.
    pub return_to_origins: Vec<String>,
    /// LOGIN-5: path prefixes `return_to` may lead to.
    pub return_to_paths: Vec<String>,
}

impl Default for LoginConfig {
    fn default() -> Self {
        Self {
            default_subsidiary: "WE".into(),
            email_only_subsidiaries: Vec::new(),
            return_to_origins: Vec::new(),
            return_to_paths: vec!["/".into()],
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    pub max_connections: u32,
    pub acquire_timeout_ms: u64,
    /// How long a statement outside a transaction waits for its answer: past it, 503 for a
    /// request, a retry later for the mail workers and the janitor (a link gone silent).
    pub statement_timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HashingConfig {
    /// Hashes running at once; 0 means one per CPU core.
    pub workers: usize,
    /// Callers allowed to wait for a worker; more get 503 at once.
    pub max_queue: usize,
    /// How long a caller waits for a worker before 503.
    pub queue_deadline_ms: u64,
}

/// RISK-1 (the `[risk]` section).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RiskConfig {
    /// LOGIN-3: `unusual` (an unknown device, a network not seen in 90 days, recent failures: two
    /// of these), `always` or `never`: when a login without 2FA must give a code mailed to it.
    pub login_email_code: sesame_core::service::EmailCodePolicy,
    /// RISK-2: wrong passwords from unknown devices across the service per minute before unknown
    /// devices wait for the minute to pass (known devices carry on).
    pub global_failures_per_minute: i64,
}

impl Default for RiskConfig {
    fn default() -> Self {
        Self {
            login_email_code: sesame_core::service::EmailCodePolicy::default(),
            global_failures_per_minute: 1000,
        }
    }
}

/// Limits on slow and idle clients (the `[http]` section).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Seconds a client has to send a request's headers; also how long an idle keep-alive
    /// connection stays open.
    pub header_timeout_secs: u64,
    /// Seconds a client has to send a request's body.
    pub body_timeout_secs: u64,
    /// Connections open at once; more wait until one closes.
    pub max_connections: usize,
    /// Seconds a stopping node (SIGTERM, Ctrl-C) gives the requests in flight to finish before
    /// it cuts them and exits.
    pub drain_timeout_secs: u64,
    /// Seconds a request may take in all, its body included, however slow the database is (a
    /// link that went silent answers nothing for many minutes): past it, 503
    /// `SERVICE_UNAVAILABLE`.
    pub request_timeout_secs: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            header_timeout_secs: 10,
            body_timeout_secs: 10,
            max_connections: 1024,
            drain_timeout_secs: 20,
            request_timeout_secs: 30,
        }
    }
}

impl HttpConfig {
    pub fn limits(&self) -> crate::http::Limits {
        crate::http::Limits {
            header_read: std::time::Duration::from_secs(self.header_timeout_secs),
            body_read: std::time::Duration::from_secs(self.body_timeout_secs),
            max_connections: self.max_connections,
            drain: std::time::Duration::from_secs(self.drain_timeout_secs),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    pub idle_timeout_minutes: i64,
    pub absolute_timeout_minutes: i64,
    /// How long a node trusts a session it checked, in milliseconds (0 to 1000): a session ended
    /// on another node stops working here within this time.
    pub cache_ms: u64,
}

/// The numbers of the security rules (the `[limits]` section); the defaults are the
/// requirements' own.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// SESS-3: a sensitive change needs an authentication this recent.
    pub reauth_minutes: i64,
    /// MFA-4: how long a texted code works, and the wrong tries it takes.
    pub sms_code_minutes: i64,
    pub sms_code_tries: i64,
    /// MFA-4, LOGIN-3: codes sent by text or email to one account per hour, and the least time
    /// between two.
    pub codes_per_hour: i64,
    pub code_resend_seconds: i64,
    /// MFA-5: codes in a set, and how few left make the security page warn.
    pub backup_codes: usize,
    pub backup_codes_warning: i64,
    /// MFA-7: wrong codes a login flow takes; failures across flows after which tries wait, and
    /// after which no code is accepted until the mailed unlock link is used.
    pub login_flow_code_tries: i64,
    pub code_failures_before_delay: i64,
    pub code_failures_to_lock: i64,
    /// RECOVER-1: how long a password-reset link works.
    pub reset_link_minutes: i64,
    /// RECOVER-4: when the current primary address can't be reached, the delay before a primary
    /// change applies by itself.
    pub unreachable_change_hours: i64,
    /// RECOVER-5: the largest identity document, in MB (MiB).
    pub document_max_mb: usize,
    /// RISK-1: how long a network stays known to an account, and how wide a network is (the
    /// leading bits of an IPv4 and of an IPv6 address).
    pub network_memory_days: i64,
    pub network_prefix_v4: u8,
    pub network_prefix_v6: u8,
    /// MFA-2: time steps of drift either side of now an authenticator app's code may have.
    pub totp_drift_steps: u16,
    /// RISK-2: consecutive wrong passwords from unknown devices before the unlock link is needed.
    pub password_failures_to_lock: i64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let core = sesame_core::limits::Limits::default();
        Self {
            reauth_minutes: core.fresh_auth.whole_minutes(),
            sms_code_minutes: core.sms_code_ttl.whole_minutes(),
            sms_code_tries: core.sms_code_tries,
            codes_per_hour: core.codes_per_hour,
            code_resend_seconds: core.code_resend_after.whole_seconds(),
            backup_codes: core.backup_codes,
            backup_codes_warning: core.backup_codes_warning,
            login_flow_code_tries: core.flow_attempts,
            code_failures_before_delay: core.code_failures_before_delay,
            code_failures_to_lock: core.code_failures_to_lock,
            reset_link_minutes: core.reset_link_ttl.whole_minutes(),
            unreachable_change_hours: core.unreachable_delay.whole_hours(),
            document_max_mb: core.document_max_bytes / (1024 * 1024),
            network_memory_days: core.network_memory.whole_days(),
            network_prefix_v4: core.network_prefix_v4,
            network_prefix_v6: core.network_prefix_v6,
            totp_drift_steps: core.totp_drift_steps,
            password_failures_to_lock: core.password_failures_to_lock,
        }
    }
}

impl LimitsConfig {
    /// Each number within its bounds (a bad one names itself).
    fn check(&self) -> Result<(), ConfigError> {
        let ranges: [(&'static str, i64, i64, i64); 18] = [
            ("limits.reauth_minutes", self.reauth_minutes, 1, 60),
            ("limits.sms_code_minutes", self.sms_code_minutes, 1, 15),
            ("limits.sms_code_tries", self.sms_code_tries, 1, 10),
            ("limits.codes_per_hour", self.codes_per_hour, 1, 60),
            ("limits.code_resend_seconds", self.code_resend_seconds, 0, 600),
            (
                "limits.backup_codes",
                i64::try_from(self.backup_codes).unwrap_or(i64::MAX),
                5,
                20,
            ),
            ("limits.backup_codes_warning", self.backup_codes_warning, 0, 19),
            ("limits.login_flow_code_tries", self.login_flow_code_tries, 1, 10),
            (
                "limits.code_failures_before_delay",
                self.code_failures_before_delay,
                1,
                100,
            ),
            ("limits.code_failures_to_lock", self.code_failures_to_lock, 2, 1000),
            ("limits.reset_link_minutes", self.reset_link_minutes, 5, 1440),
            ("limits.unreachable_change_hours", self.unreachable_change_hours, 1, 168),
            (
                "limits.document_max_mb",
                i64::try_from(self.document_max_mb).unwrap_or(i64::MAX),
                1,
                50,
            ),
            ("limits.network_memory_days", self.network_memory_days, 1, 365),
            ("limits.network_prefix_v4", self.network_prefix_v4.into(), 8, 32),
            ("limits.network_prefix_v6", self.network_prefix_v6.into(), 16, 128),
            ("limits.totp_drift_steps", self.totp_drift_steps.into(), 0, 2),
            // Above the five free tries an account takes before its tries wait (RISK-2).
            (
                "limits.password_failures_to_lock",
                self.password_failures_to_lock,
                6,
                1000,
            ),
        ];
        for (setting, value, low, high) in ranges {
            if !(low..=high).contains(&value) {
                return Err(invalid(setting, format!("must be between {low} and {high}")));
            }
        }
        if i64::try_from(self.backup_codes).is_ok_and(|n| self.backup_codes_warning >= n) {
            return Err(invalid(
                "limits.backup_codes_warning",
                "must be below limits.backup_codes",
            ));
        }
        if self.code_failures_to_lock <= self.code_failures_before_delay {
            return Err(invalid(
                "limits.code_failures_to_lock",
                "must be above limits.code_failures_before_delay",
            ));
        }
        Ok(())
    }

    /// The services' view.
    pub fn limits(&self) -> sesame_core::limits::Limits {
        use time::Duration;
        sesame_core::limits::Limits {
            fresh_auth: Duration::minutes(self.reauth_minutes),
            sms_code_ttl: Duration::minutes(self.sms_code_minutes),
            sms_code_tries: self.sms_code_tries,
            codes_per_hour: self.codes_per_hour,
            code_resend_after: Duration::seconds(self.code_resend_seconds),
            backup_codes: self.backup_codes,
            backup_codes_warning: self.backup_codes_warning,
            flow_attempts: self.login_flow_code_tries,
            code_failures_before_delay: self.code_failures_before_delay,
            code_failures_to_lock: self.code_failures_to_lock,
            reset_link_ttl: Duration::minutes(self.reset_link_minutes),
            unreachable_delay: Duration::hours(self.unreachable_change_hours),
            document_max_bytes: self.document_max_mb * 1024 * 1024,
            network_memory: Duration::days(self.network_memory_days),
            network_prefix_v4: self.network_prefix_v4,
            network_prefix_v6: self.network_prefix_v6,
            totp_drift_steps: self.totp_drift_steps,
            password_failures_to_lock: self.password_failures_to_lock,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordConfig {
    pub min_length: usize,
    /// PWD-2: the longest password, in code points (also the most a login reads before refusing).
    pub max_length: usize,
    /// PWD-2: subsidiaries under the classic policy (8 characters or more, with an upper-case
    /// letter, a lower-case letter, a digit and a symbol) instead of `min_length`.
    pub classic_subsidiaries: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            public_url: String::new(),
            data_dir: PathBuf::from("./data"),
            database_url: String::new(),
            secret_key_file: String::new(),
            nic_suffix: "ovh".into(),
            nic_digits_min: 5,
            nic_digits_max: 7,
            log_format: "text".into(),
            trusted_proxies: Vec::new(),
            metrics_listen: "127.0.0.1:9464".into(),
            metrics_token: String::new(),
            brand_name: "Sesame".into(),
            theme_dir: String::new(),
            login: LoginConfig::default(),
            smtp_url: String::new(),
            mail_from: String::new(),
            dev_mode: None,
            mail: MailConfig::default(),
            sms: SmsConfig::default(),
            signup: SignupConfig::default(),
            support_phones: BTreeMap::new(),
            database: DatabaseConfig::default(),
            argon2: Argon2Settings::default(),
            hashing: HashingConfig::default(),
            http: HttpConfig::default(),
            risk: RiskConfig::default(),
            session: SessionConfig::default(),
            password: PasswordConfig::default(),
            limits: LimitsConfig::default(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout_ms: 3_000,
            statement_timeout_ms: 10_000,
        }
    }
}

impl Default for HashingConfig {
    fn default() -> Self {
        Self {
            workers: 0,
            max_queue: 64,
            queue_deadline_ms: 2_000,
        }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle_timeout_minutes: 30,
            absolute_timeout_minutes: 12 * 60,
            cache_ms: 1000,
        }
    }
}

impl Default for PasswordConfig {
    fn default() -> Self {
        Self {
            min_length: 12,
            max_length: 128,
            classic_subsidiaries: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(String),
    #[error("setting `{setting}`: {why}")]
    Invalid { setting: &'static str, why: String },
}

fn invalid(setting: &'static str, why: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        setting,
        why: why.into(),
    }
}

/// Settings after validation, with every default resolved.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub raw: Config,
    pub listen: SocketAddr,
    pub public_url: Url,
    pub database_url: String,
    pub secret_key_file: PathBuf,
    /// True when the key file path was not configured, so it may be generated.
    pub generate_key: bool,
    /// True when no public URL was configured: it is then `http://localhost:PORT` of the port
    /// actually bound (which differs from `listen` when that asks for port 0).
    pub public_url_is_default: bool,
    pub dev_mode: bool,
    pub mail_from: String,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub hashing_workers: usize,
    /// OPS-3: the separate metrics listener, if any.
    pub metrics_listen: Option<SocketAddr>,
}

impl Config {
    /// Reads the layers: defaults, the TOML file, the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::Load(format!("the file {} does not exist", file.display())));
            }
            figment = figment.merge(Toml::file(file));
        }
        // SESAME_TEST_* variables belong to the test harness, not to the server.
        let env = Env::prefixed("SESAME_")
            .split("__")
            .filter(|key| !key.as_str().starts_with("test_"));
        figment
            .merge(env)
            .extract()
            .map_err(|e| ConfigError::Load(e.to_string()))
    }

    /// Checks every setting and resolves the defaults that depend on others.
    pub fn resolve(self) -> Result<Resolved, ConfigError> {
        let listen: SocketAddr = self.listen.parse().map_err(|_| {
            invalid(
                "listen",
                format!("{:?} is not an address:port such as 127.0.0.1:8080", self.listen),
            )
        })?;
        let dev_mode = self.dev_mode.unwrap_or(false);
        if dev_mode && !listen.ip().is_loopback() {
            return Err(invalid(
                "dev_mode",
                "development mode shows captured codes and links to anyone who reaches the port: \
                 listen on a loopback address (127.0.0.1 or [::1]) or switch it off",
            ));
        }
        let public_url = if self.public_url.is_empty() {
            Url::parse(&format!("http://localhost:{}", listen.port()))
                .map_err(|e| invalid("public_url", e.to_string()))?
        } else {
            parse_public_url(&self.public_url)?
        };
        let database_url = if self.database_url.is_empty() {
            format!("sqlite://{}?mode=rwc", self.data_dir.join("sesame.db").display())
        } else {
            self.database_url.clone()
        };
        if sesame_store::Backend::from_url(&database_url).is_none() {
            return Err(invalid("database_url", "must start with sqlite:// or postgres://"));
        }
        let generate_key = self.secret_key_file.is_empty();
        let secret_key_file = if generate_key {
            self.data_dir.join("secret.key")
        } else {
            PathBuf::from(&self.secret_key_file)
        };
        let suffix_ok = !self.nic_suffix.is_empty()
            && self.nic_suffix.len() <= 10
            && self
                .nic_suffix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !suffix_ok {
            return Err(invalid(
                "nic_suffix",
                "must be 1 to 10 lowercase ASCII letters or digits",
            ));
        }
        let (fewest, most) = sesame_core::types::NIC_DIGITS;
        if !(fewest..=most).contains(&self.nic_digits_min) {
            return Err(invalid(
                "nic_digits_min",
                format!("must be between {fewest} and {most}"),
            ));
        }
        // At least 5: one pair of initials then has 90,000 handles or more, so sign-ups never run
        // out of them.
        if !(self.nic_digits_min.max(5)..=most).contains(&self.nic_digits_max) {
            return Err(invalid(
                "nic_digits_max",
                format!("must be at least 5 and nic_digits_min, and at most {most}"),
            ));
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err(invalid("log_format", "must be \"text\" or \"json\""));
        }
        if self.database.max_connections == 0 {
            return Err(invalid("database.max_connections", "must be at least 1"));
        }
        if self.session.idle_timeout_minutes <= 0 || self.session.absolute_timeout_minutes <= 0 {
            return Err(invalid("session", "timeouts must be positive"));
        }
        if self.session.cache_ms > 1000 {
            return Err(invalid(
                "session.cache_ms",
                "must be at most 1000: an ended session must stop working on every node within a second",
            ));
        }
        let most = sesame_core::types::MOST_PASSWORD_CHARS;
        if !(8..=most).contains(&self.password.min_length) {
            return Err(invalid("password.min_length", "must be between 8 and 1024"));
        }
        if !(self.password.min_length..=most).contains(&self.password.max_length) {
            return Err(invalid(
                "password.max_length",
                "must be between password.min_length and 1024",
            ));
        }
        let known = |code: &str| sesame_core::types::subsidiary(code).is_some();
        if !known(&self.login.default_subsidiary) {
            return Err(invalid(
                "login.default_subsidiary",
                "is not one of the subsidiary codes (FR, GB, …)",
            ));
        }
        if let Some(bad) = self.login.email_only_subsidiaries.iter().find(|c| !known(c)) {
            return Err(invalid(
                "login.email_only_subsidiaries",
                format!("{bad:?} is not a subsidiary code"),
            ));
        }
        if let Some(bad) = self.password.classic_subsidiaries.iter().find(|c| !known(c)) {
            return Err(invalid(
                "password.classic_subsidiaries",
                format!("{bad:?} is not a subsidiary code"),
            ));
        }
        if let Some(bad) = self.support_phones.keys().find(|c| !known(c)) {
            return Err(invalid("support_phones", format!("{bad:?} is not a subsidiary code")));
        }
        for origin in &self.login.return_to_origins {
            let ok = Url::parse(origin).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.path() == "/");
            if !ok {
                return Err(invalid(
                    "login.return_to_origins",
                    format!("{origin:?} is not an origin such as https://panel.example.com"),
                ));
            }
        }
        if let Some(bad) = self.login.return_to_paths.iter().find(|p| !p.starts_with('/')) {
            return Err(invalid("login.return_to_paths", format!("{bad:?} must start with /")));
        }
        if !self.theme_dir.is_empty() && !Path::new(&self.theme_dir).is_dir() {
            return Err(invalid("theme_dir", format!("{} is not a folder", self.theme_dir)));
        }
        let mail_from = if self.mail_from.is_empty() {
            // An IP host makes no valid mailbox for every mail library: fall back to localhost.
            let host = public_url.host_str().unwrap_or("localhost");
            let candidate = format!("Sesame <no-reply@{host}>");
            if sesame_mail::transport::parse_from(&candidate).is_ok() {
                candidate
            } else {
                "Sesame <no-reply@localhost>".to_owned()
            }
        } else {
            self.mail_from.clone()
        };
        sesame_mail::transport::parse_from(&mail_from).map_err(|e| invalid("mail_from", e.to_string()))?;
        if !self.smtp_url.is_empty() {
            sesame_mail::Transport::smtp(&self.smtp_url).map_err(|e| invalid("smtp_url", e.to_string()))?;
        }
        if self.mail.max_attempts < 1 || self.mail.poll_interval_ms == 0 || self.mail.retry_base_ms == 0 {
            return Err(invalid(
                "mail",
                "poll interval, retry delay and attempts must be positive",
            ));
        }
        if !self.sms.gateway_url.is_empty() {
            sesame_mail::SmsTransport::gateway(&self.sms.gateway_url, &self.sms.gateway_token)
                .map_err(|e| invalid("sms.gateway_url", e.to_string()))?;
        }
        if let Some(bad) = self.sms.subsidiaries.iter().find(|c| !known(c)) {
            return Err(invalid("sms.subsidiaries", format!("{bad:?} is not a subsidiary code")));
        }
        if self.sms.max_attempts < 1 || self.sms.poll_interval_ms == 0 || self.sms.retry_base_ms == 0 {
            return Err(invalid(
                "sms",
                "poll interval, retry delay and attempts must be positive",
            ));
        }
        if self.risk.global_failures_per_minute < 1 {
            return Err(invalid("risk.global_failures_per_minute", "must be positive"));
        }
        if self.http.header_timeout_secs == 0 || self.http.body_timeout_secs == 0 || self.http.max_connections == 0 {
            return Err(invalid("http", "timeouts and the connection cap must be positive"));
        }
        self.limits.check()?;
        if self.signup.code_ttl_minutes <= 0 || self.signup.max_code_attempts <= 0 {
            return Err(invalid("signup", "code lifetime and attempts must be positive"));
        }
        let trusted_proxies = self
            .trusted_proxies
            .iter()
            .map(|p| {
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| invalid("trusted_proxies", format!("{p:?} is not an IP address or CIDR range")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let metrics_listen = match self.metrics_listen.as_str() {
            "" => None,
            addr => Some(addr.parse::<SocketAddr>().map_err(|_| {
                invalid(
                    "metrics_listen",
                    format!("{addr:?} is not an address:port such as 127.0.0.1:9464"),
                )
            })?),
        };
        let hashing_workers = match self.hashing.workers {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        Ok(Resolved {
            listen,
            public_url,
            database_url,
            secret_key_file,
            generate_key,
            public_url_is_default: self.public_url.is_empty(),
            dev_mode,
            trusted_proxies,
            mail_from,
            hashing_workers,
            metrics_listen,
            raw: self,
        })
    }
}

/// Any http or https URL with a host (an IP host included), no path beyond `/`, no query.
fn parse_public_url(input: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(input).map_err(|e| invalid("public_url", format!("{input:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("public_url", "must start with http:// or https://"));
    }
    if url.host().is_none() {
        return Err(invalid("public_url", "needs a host"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(invalid(
            "public_url",
            "must be just scheme://host[:port], without path, query or credentials",
        ));
    }
    // SESS-1, OPS-4: over plain HTTP cookies lose `Secure` and the `__Host-` prefix and no HSTS
    // is sent; that is for development on this machine only.
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if url.scheme() == "http" && !loopback {
        return Err(invalid(
            "public_url",
            "plain http:// is for development on this machine (localhost, 127.0.0.1, [::1]): customers need https://",
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(f: impl FnOnce(&mut Config)) -> Result<Resolved, ConfigError> {
        let mut config = Config::default();
        f(&mut config);
        config.resolve()
    }

    #[test]
    fn defaults_resolve_to_a_local_development_setup() {
        let r = resolve(|_| {}).unwrap();
        assert_eq!(r.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(r.public_url.as_str(), "http://localhost:8080/");
        assert!(r.database_url.starts_with("sqlite://./data/sesame.db"));
        assert_eq!(r.secret_key_file, PathBuf::from("./data/secret.key"));
        assert!(r.generate_key);
        assert!(!r.dev_mode, "development mode only when asked for, public URL or not");
    }

    #[test]
    fn development_mode_stays_on_loopback() {
        assert!(resolve(|c| c.dev_mode = Some(true)).unwrap().dev_mode);
        assert!(
            resolve(|c| {
                c.dev_mode = Some(true);
                c.listen = "[::1]:8080".into();
            })
            .is_ok()
        );
        let err = resolve(|c| {
            c.dev_mode = Some(true);
            c.listen = "0.0.0.0:8080".into();
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("`dev_mode`"), "{err}");
    }

    #[test]
    fn public_urls_are_https_or_plain_http_on_this_machine() {
        for ok in [
            "https://login.example.com",
            "https://192.0.2.10:8443",
            "http://localhost:8080",
            "http://127.0.0.1:8080",
            "http://[::1]:8080/",
        ] {
            assert!(resolve(|c| c.public_url = ok.into()).is_ok(), "{ok}");
        }
        for bad in [
            "ftp://example.com",
            "example.com",
            "https://example.com/login",
            "https://u:p@example.com",
            "http://192.0.2.10:8080",
            "http://login.example.com",
        ] {
            let err = resolve(|c| c.public_url = bad.into()).unwrap_err().to_string();
            assert!(err.contains("`public_url`"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_limits_default_to_the_requirements_numbers_and_stay_in_bounds() {
        assert_eq!(LimitsConfig::default().limits(), sesame_core::limits::Limits::default());
        assert!(resolve(|c| c.limits.reset_link_minutes = 30).is_ok());
        type Tweak = fn(&mut Config);
        let cases: [(&str, Tweak); 8] = [
            ("limits.reauth_minutes", |c| c.limits.reauth_minutes = 0),
            ("limits.network_prefix_v4", |c| c.limits.network_prefix_v4 = 33),
            ("limits.network_prefix_v6", |c| c.limits.network_prefix_v6 = 8),
            ("limits.totp_drift_steps", |c| c.limits.totp_drift_steps = 3),
            ("limits.sms_code_tries", |c| c.limits.sms_code_tries = 50),
            ("limits.document_max_mb", |c| c.limits.document_max_mb = 500),
            ("limits.backup_codes_warning", |c| c.limits.backup_codes_warning = 10),
            ("limits.code_failures_to_lock", |c| {
                c.limits.code_failures_before_delay = 20;
                c.limits.code_failures_to_lock = 20;
            }),
        ];
        for (setting, tweak) in cases {
            let err = resolve(tweak).unwrap_err().to_string();
            assert!(err.contains(&format!("`{setting}`")), "{setting}: {err}");
        }
    }

    #[test]
    fn bad_settings_name_themselves() {
        type Tweak = fn(&mut Config);
        let cases: [(&str, Tweak); 13] = [
            ("listen", |c| c.listen = "localhost".into()),
            ("database_url", |c| c.database_url = "mysql://x".into()),
            ("nic_suffix", |c| c.nic_suffix = "OVH!".into()),
            ("nic_digits_min", |c| c.nic_digits_min = 2),
            ("nic_digits_max", |c| {
                c.nic_digits_min = 6;
                c.nic_digits_max = 5;
            }),
            ("nic_digits_max", |c| {
                c.nic_digits_min = 3;
                c.nic_digits_max = 4;
            }),
            ("log_format", |c| c.log_format = "xml".into()),
            ("password.min_length", |c| c.password.min_length = 4),
            ("password.max_length", |c| c.password.max_length = 10),
            ("password.max_length", |c| c.password.max_length = 5000),
            ("sms.gateway_url", |c| {
                c.sms.gateway_url = "ftp://sms.example.com/send".into()
            }),
            ("sms.subsidiaries", |c| c.sms.subsidiaries = vec!["BE".into()]),
            ("password.classic_subsidiaries", |c| {
                c.password.classic_subsidiaries = vec!["XX".into()]
            }),
        ];
        for (setting, f) in cases {
            let err = resolve(f).unwrap_err().to_string();
            assert!(err.contains(&format!("`{setting}`")), "{err}");
        }
    }
}
