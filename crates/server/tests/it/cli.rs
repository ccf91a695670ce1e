//! OPS-1 and SEC-1 through the real `sesame` binary: account commands, start-up errors, the key
//! file, and a served login whose logs carry no secret.

use crate::helpers::*;
use serde_json::Value;
use sesame_store::testing::TestDb;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

pub struct Env {
    pub db: TestDb,
    pub dir: tempfile::TempDir,
}

impl Env {
    pub async fn new() -> Self {
        Self {
            db: TestDb::new().await,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sesame"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SESAME_DATABASE_URL", &self.db.url)
            .env("SESAME_DATA_DIR", self.dir.path())
            .env("SESAME_METRICS_LISTEN", "127.0.0.1:0")
            .env("SESAME_RISK__LOGIN_EMAIL_CODE", "never")
            .env("SESAME_ARGON2__M_COST_KIB", "256")
            .env("SESAME_ARGON2__T_COST", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// Runs a command with `stdin` as its input; returns exit code, stdout and stderr.
    pub async fn run(&self, args: &[&str], stdin: &str) -> (i32, String, String) {
        let mut child = self.command(args).spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).await.unwrap();
        drop(input);
        let out = child.wait_with_output().await.unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    async fn create(&self, password_line: &str) -> Value {
        let args = [
            "account",
            "create",
            "--email",
            "Élodie@example.com",
            "--first-name",
            "Élodie",
            "--last-name",
            "Ørsted",
            "--country",
            "fr",
            "--json",
        ];
        let (code, out, err) = self.run(&args, password_line).await;
        assert_eq!(code, 3, "a non-ASCII local part is refused: {out} {err}");
        assert!(err.contains("ASCII"), "{err}");
        let args = [
            "account",
            "create",
            "--email",
            "Elodie.Orsted@Example.com",
            "--first-name",
            "Élodie",
            "--last-name",
            "Ørsted",
            "--country",
            "fr",
            "--phone",
            "+33 6 12 34 56 78",
            "--json",
        ];
        let (code, out, err) = self.run(&args, password_line).await;
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap()
    }
}

#[tokio::test]
async fn account_create_reads_one_line_and_keeps_inner_and_trailing_spaces() {
    let env = Env::new().await;
    let created = env.create("  spaced out passphrase  \r\n").await;
    let nic = created["nic_handle"].as_str().unwrap();
    assert!(nic.starts_with("eo") && nic.ends_with("-ovh"), "{nic}");
    let code = created["customer_code"].as_str().unwrap();
    assert_eq!(code.len(), 11);
    assert_eq!(created["phone"], "+33612345678");
    assert_eq!(created["subsidiary"], "FR");

    let (status, out, err) = env
        .run(&["account", "show", " ELODIE.ORSTED@example.com ", "--json"], "")
        .await;
    assert_eq!(status, 0, "{err}");
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["nic_handle"], nic);
    assert_eq!(shown["email"], "Elodie.Orsted@Example.com");
    assert_eq!(shown["security"]["state"], "active");
    assert_eq!(shown["security"]["recent_events"][0]["event"], "account_created");

    // Serve on the same database: the password is exactly the line, spaces included.
    let app = spawn_on(env.db, env.dir, |_| {}).await;
    assert_eq!(app.login(nic, "  spaced out passphrase  ").await.status(), 200);
    assert_eq!(app.login(nic, "spaced out passphrase").await.status(), 401);
}

#[tokio::test]
async fn account_create_explains_a_refused_password_or_name() {
    let env = Env::new().await;
    let base = [
        "account",
        "create",
        "--email",
        "ann@example.com",
        "--first-name",
        "Annabelle",
        "--last-name",
        "Smith",
        "--country",
        "GB",
    ];
    let cases = [
        ("short pass\n", "at least 12"),
        ("password1234\n", "too common"),
        ("annabelle-rides-bikes\n", "your name"),
        ("\n", "no password"),
    ];
    for (line, why) in cases {
        let (code, _, err) = env.run(&base, line).await;
        assert_ne!(code, 0, "{line:?}");
        assert!(err.contains(why), "{line:?}: {err}");
    }
    let mut injected = base.to_vec();
    injected[5] = "Ann\r\nBcc: x@evil.example";
    let (code, _, err) = env.run(&injected, "a perfectly fine passphrase\n").await;
    assert_eq!(code, 3, "{err}");
    let (code, _, err) = env.run(&[&base[..], &["--password", "x"]].concat(), "").await;
    assert_eq!(code, 2, "passwords are never taken from arguments: {err}");
}

#[tokio::test]
async fn block_and_unblock_from_the_command_line() {
    let env = Env::new().await;
    let created = env.create("a perfectly fine passphrase\n").await;
    let nic = created["nic_handle"].as_str().unwrap();
    let (code, _, err) = env.run(&["account", "block", nic, "--json"], "").await;
    assert_eq!(code, 2, "a reason and a ticket are required: {err}");
    let why = ["--reason", "fraud report", "--ticket", "T-1"];
    let (code, _, err) = env
        .run(&["account", "block", nic, "--reason", " ", "--ticket", "T-1"], "")
        .await;
    assert_eq!(code, 2, "{err}");
    let (code, out, _) = env
        .run(&[&["account", "block", nic, "--json"][..], &why].concat(), "")
        .await;
    assert_eq!(code, 0);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["changed"], true);
    let (code, out, _) = env.run(&["account", "show", nic], "").await;
    assert_eq!(code, 0);
    assert!(out.contains("state: blocked"), "{out}");
    let (code, _, _) = env.run(&[&["account", "unblock", nic][..], &why].concat(), "").await;
    assert_eq!(code, 0);
    for command in ["unlock", "end-sessions"] {
        let (code, out, err) = env.run(&[&["account", command, nic][..], &why].concat(), "").await;
        assert_eq!(code, 0, "{command}: {err}");
        assert!(out.contains(nic), "{out}");
    }
    let (code, _, err) = env.run(&["account", "show", "nobody@example.com"], "").await;
    assert_eq!(code, 3);
    assert!(err.contains("no account"), "{err}");
}

#[tokio::test]
async fn bad_settings_stop_start_up_and_name_the_setting() {
    let env = Env::new().await;
    for (var, value, setting) in [
        ("SESAME_PUBLIC_URL", "ftp://example.com", "public_url"),
        ("SESAME_LISTEN", "nowhere", "listen"),
        ("SESAME_ARGON2__M_COST_KIB", "1", "argon2"),
        ("SESAME_SECRET_KEY_FILE", "/nonexistent/sesame.key", "secret_key_file"),
        ("SESAME_HASHING__WORKERS", "many", "workers"),
    ] {
        let out = env.command(&["migrate"]).env(var, value).output().await.unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{var}: {err}");
        assert!(err.to_lowercase().contains(setting), "{var}: {err}");
    }
    let missing = env
        .command(&["--config", "/nonexistent.toml", "migrate"])
        .output()
        .await
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
}

#[tokio::test]
async fn migrate_creates_a_private_key_file_and_a_config_file_is_read() {
    let env = Env::new().await;
    let (code, out, err) = env.run(&["migrate"], "").await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("migrations applied"));
    let key = env.dir.path().join("secret.key");
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    let config = env.dir.path().join("sesame.toml");
    std::fs::write(&config, "nic_suffix = \"kim\"\n[password]\nmin_length = 16\n").unwrap();
    let args = [
        "--config",
        config.to_str().unwrap(),
        "account",
        "create",
        "--email",
        "a@example.com",
        "--first-name",
        "Ann",
        "--last-name",
        "Lee",
        "--country",
        "DE",
    ];
    let (code, _, err) = env.run(&args, "fifteen chars!!\n").await;
    assert_eq!(code, 3, "min_length from the file applies: {err}");
    let (code, out, err) = env.run(&args, "sixteen chars!!!\n").await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("-kim"), "{out}");
    std::fs::write(&config, "nic_sufix = \"kim\"\n").unwrap();
    let (code, _, err) = env.run(&["--config", config.to_str().unwrap(), "migrate"], "").await;
    assert_eq!(code, 1);
    assert!(err.contains("nic_sufix"), "a typo is named: {err}");
}

#[tokio::test]
async fn serve_logs_no_secret_and_stops_gracefully() {
    let env = Env::new().await;
    let created = env.create("a perfectly fine passphrase\n").await;
    let nic = created["nic_handle"].as_str().unwrap().to_owned();
    let mut child = env
        .command(&["serve"])
        .env("SESAME_LISTEN", "127.0.0.1:0")
        .env("SESAME_LOG_FORMAT", "json")
        .env("RUST_LOG", "trace")
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).await.unwrap();
    let base = served_base(&first);
    let response = client()
        .post(format!("{base}/api/v1/session"))
        .json(&serde_json::json!({"login": nic, "password": "a perfectly fine passphrase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let cookie = session_cookie(&response);
    let token = cookie.split_once('=').unwrap().1.to_owned();
    let me = client()
        .get(format!("{base}/api/v1/me"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);

    let pid = child.id().unwrap();
    let killed = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let status = child.wait().await.unwrap();
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");
    let mut logs = String::new();
    child.stderr.take().unwrap().read_to_string(&mut logs).await.unwrap();
    assert!(logs.contains("/api/v1/session"), "requests are logged: {logs}");
    assert!(!logs.contains("perfectly fine"), "the password leaked into the logs");
    assert!(!logs.contains(&token), "the session token leaked into the logs");
}

#[tokio::test]
async fn promote_backup_email_needs_a_reason_a_ticket_and_a_verified_backup_email() {
    use sesame_core::ports::AccountStore;
    let env = Env::new().await;
    let created = env.create("correct horse battery staple\n").await;
    let nic = created["nic_handle"].as_str().unwrap();
    let promote = |reason: &'static str, verified_by: &'static str| {
        let nic = nic.to_owned();
        let env = &env;
        async move {
            let args = [
                "account",
                "promote-backup-email",
                &nic,
                "--verified-by",
                verified_by,
                "--reason",
                reason,
                "--ticket",
                "T-42",
                "--json",
            ];
            env.run(&args, "").await
        }
    };
    let (code, _, err) = promote(" ", "callback").await;
    assert_eq!(code, 2, "an empty reason is a usage error: {err}");
    // SUPPORT-2: how the caller was verified is one of the desk's methods.
    let (code, _, err) = promote("caller verified", "they sounded nice").await;
    assert_eq!(code, 2, "an unknown verification is a usage error: {err}");
    let (code, _, err) = promote("customer code given on the phone", "customer_code").await;
    assert_eq!(code, 3, "no backup email yet: {err}");
    assert!(err.contains("backup email"), "{err}");
    let store = env.db.store().await;
    let account = store.find_account_by_login(nic).await.unwrap().unwrap();
    sesame_store::testing::store_verified_backup_email(&store, account.id.0, "elodie@backup.example").await;
    let (code, out, err) = promote("customer code given on the phone", "customer_code").await;
    assert_eq!(code, 0, "{err}");
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["email"], "elodie@backup.example");
    assert_eq!(shown["backup_email"], Value::Null);
    assert_eq!(shown["backup_email_required"], true);
    let events = sesame_core::ports::AuditLog::recent_events(&store, account.id, 1)
        .await
        .unwrap();
    let detail: Value = serde_json::from_str(events[0].detail.as_deref().unwrap_or_default()).unwrap();
    assert_eq!(
        (
            detail["ticket"].as_str(),
            detail["verification"].as_str(),
            events[0].actor.as_str()
        ),
        (Some("T-42"), Some("customer_code"), "operator")
    );
}

#[tokio::test]
async fn development_mode_says_so_at_start_and_where_mail_and_texts_go() {
    // #15 item 10: a developer sees at once that mail and texts are captured, and where.
    let env = Env::new().await;
    let mut child = env
        .command(&["serve", "--dev"])
        .env("SESAME_LISTEN", "127.0.0.1:0")
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    for _ in 0..4 {
        let mut line = String::new();
        stdout.read_line(&mut line).await.unwrap();
        lines.push(line);
    }
    let text = lines.concat();
    // Listening on port 0: the default public URL (mail links) names the port actually bound.
    let port = served_base(&text).rsplit(':').next().unwrap().to_owned();
    assert!(text.contains(&format!("public URL http://localhost:{port}/")), "{text}");
    assert!(text.contains("Development mode: mail is captured in"), "{text}");
    assert!(text.contains("/dev/mail)"), "{text}");
    assert!(text.contains("Development mode: texts are captured in"), "{text}");
    child.kill().await.unwrap();
}
