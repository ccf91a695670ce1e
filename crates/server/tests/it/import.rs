//! `sesame account import` through the real binary: every accepted hash kind (made by Python's
//! libraries, `fixtures/make_import_fixture.py`) logs in and is rehashed at that login (PWD-1);
//! bad lines are reported with their number while the rest goes in; a second run adds nothing;
//! until they are rehashed, the imported hashes set how long every password check takes (PWD-4);
//! `--generate` writes a file that imports and logs in.

use crate::cli::Env;
use crate::helpers::*;
use sesame_core::ports::AccountStore;
use sesame_core::types::NicHandle;

const FIXTURE: &str = include_str!("../fixtures/import.jsonl");
/// The password every fixture hash was made from.
const FIXTURE_PASSWORD: &str = "correct horse battery staple";

fn bad_lines() -> Vec<String> {
    let good: serde_json::Value = serde_json::from_str(FIXTURE.lines().next().unwrap()).unwrap();
    let with = |field: &str, value: serde_json::Value| {
        let mut line = good.clone();
        line[field] = value;
        line.to_string()
    };
    vec![
        with("email", "not an address".into()),
        with("password_hash", "$md5$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".into()),
        with("nic_handle", "ab-12".into()),
        // Another account's email under a new handle.
        with("nic_handle", "zz99999-ovh".into()),
        with("first_name", "<script>".into()),
        "{\"nic_handle\": \"ab12345-ovh\"}".into(),
        "not json at all".into(),
        format!("{{\"x\": \"{}\"}}", "a".repeat(20_000)),
    ]
}

#[tokio::test]
async fn every_hash_kind_logs_in_and_is_upgraded_and_bad_lines_are_reported() {
    let env = Env::new().await;
    let file = env.dir.path().join("accounts.jsonl");
    // The good lines first, then the bad ones (numbers 6 to 13) with a blank line between.
    let mut text = FIXTURE.to_owned();
    text.push('\n');
    for line in bad_lines() {
        text.push_str(&line);
        text.push('\n');
    }
    std::fs::write(&file, text).unwrap();
    let path = file.to_str().unwrap();

    let (code, out, err) = env.run(&["account", "import", path, "--batch", "2"], "").await;
    assert_eq!(code, 3, "bad lines make the run fail at its end: {out} {err}");
    assert!(out.contains("imported 5, already there 0, refused 8"), "{out}");
    for (number, reason) in [
        (7, "email:"),
        (8, "password_hash: unsupported algorithm md5"),
        (9, "nic_handle: not a NIC handle"),
        (10, "email: used by another account"),
        (11, "first_name: invalid"),
        (12, "not a valid line"),
        (13, "not a valid line"),
        (14, "longer than 16384 bytes"),
    ] {
        assert!(
            err.contains(&format!("line {number}: {reason}")),
            "line {number}: {err}"
        );
    }

    // Run again: nothing twice.
    let (code, out, _) = env.run(&["account", "import", path], "").await;
    assert_eq!(code, 3);
    assert!(out.contains("imported 0, already there 5, refused 8"), "{out}");

    let Env { db, dir } = env;
    let app = spawn_on(db, dir, |_| {}).await;
    // PWD-4: the imported hashes were timed before the first connection was taken (this first
    // request waits for that), so every check waits as long as the slowest of them, an unknown
    // identifier's too: timing can't tell an imported account.
    assert_eq!(app.login("nobody-here@example.com", "wrong").await.status(), 401);
    let floor = app.app.services.hasher().floor();
    assert!(floor > std::time::Duration::ZERO, "imported hashes are timed at start");
    let started = std::time::Instant::now();
    let unknown = app.login("nobody-else@example.com", "not the password at all").await;
    assert_eq!(unknown.status(), 401);
    assert!(started.elapsed() >= floor, "an unknown identifier waited for the floor");
    for line in FIXTURE.lines() {
        let line: serde_json::Value = serde_json::from_str(line).unwrap();
        let nic = line["nic_handle"].as_str().unwrap();
        let account = app.app.store.find_account_by_login(nic).await.unwrap().unwrap();
        assert_eq!(account.nic_handle, NicHandle::from_stored(nic.into()));
        assert_eq!(account.customer_code.as_str(), line["customer_code"].as_str().unwrap());
        assert_eq!(account.created_at.year(), 2019);
        assert_eq!(account.language, "fr");
        let before = app
            .app
            .store
            .password_credential(account.id)
            .await
            .unwrap()
            .unwrap()
            .phc;
        assert_eq!(before, line["password_hash"].as_str().unwrap());
        assert_eq!(app.login(nic, "not the password at all").await.status(), 401, "{nic}");
        assert_eq!(app.login(nic, FIXTURE_PASSWORD).await.status(), 200, "{nic}");
        let after = app
            .app
            .store
            .password_credential(account.id)
            .await
            .unwrap()
            .unwrap()
            .phc;
        assert!(after.starts_with("$argon2id$v=19$m=256,t=1,p=1$"), "{nic}: {after}");
        // The upgraded hash still opens the account, by email too.
        let email = line["email"].as_str().unwrap();
        assert_eq!(app.login(email, FIXTURE_PASSWORD).await.status(), 200, "{email}");
    }
    // Every imported hash is rehashed now: after a restart, checks take Argon2id's time only.
    let TestApp { db, dir, .. } = app;
    let app = spawn_on(db, dir, |_| {}).await;
    assert_eq!(app.login("nobody-here@example.com", "wrong").await.status(), 401);
    assert_eq!(app.app.services.hasher().floor(), std::time::Duration::ZERO);
}

#[tokio::test]
async fn a_generated_file_imports_and_its_accounts_log_in() {
    let env = Env::new().await;
    let file = env.dir.path().join("generated.jsonl");
    let path = file.to_str().unwrap();
    let (code, out, err) = env.run(&["account", "import", "--generate", "30", path], "").await;
    assert_eq!(code, 0, "{err}");
    let password = out.split('"').nth(1).unwrap().to_owned();
    assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 30);
    let (code, out, err) = env.run(&["account", "import", path, "--batch", "7"], "").await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("imported 30, already there 0, refused 0"), "{out}");
    let Env { db, dir } = env;
    let app = spawn_on(db, dir, |_| {}).await;
    assert_eq!(app.login("gn0000017-ovh", &password).await.status(), 200);
    assert_eq!(app.login("customer30@generated.example", &password).await.status(), 200);
}
