//! Crash safety: `sesame serve` is killed with SIGKILL 20 times under a load of logins, sign-ups
//! and backup-code logins (on SQLite or PostgreSQL, as the suite runs). After each restart, every
//! change that was acknowledged is there (sessions work, sign-ups exist with their mail in the
//! outbox), and no backup code was ever accepted twice (RISK-4, MAIL-1).

use crate::cli::Env;
use crate::helpers::*;
use serde_json::{Value, json};
use sesame_store::testing::outbox_recipients;
use std::collections::BTreeMap;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

const ROUNDS: usize = 20;

/// Starts `sesame serve` on a free port, with `vars` in its environment; the child and its base
/// URL.
pub async fn start_with(env: &Env, vars: &[(&str, &str)]) -> (Child, String) {
    let mut command = env.command(&["serve"]);
    command
        .env("SESAME_LISTEN", "127.0.0.1:0")
        .env("SESAME_SIGNUP__PER_IP_PER_HOUR", "100000");
    for (name, value) in vars {
        command.env(name, value);
    }
    let mut child = command.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).await.unwrap();
    let base = served_base(&first);
    // Both pipes stay read: a closed or full pipe would stop the server, not the crash.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    tokio::spawn(async move {
        let mut line = String::new();
        while stdout.read_line(&mut line).await.is_ok_and(|n| n > 0) {
            line.clear();
        }
    });
    tokio::spawn(async move {
        let mut line = String::new();
        while stderr.read_line(&mut line).await.is_ok_and(|n| n > 0) {
            line.clear();
        }
    });
    (child, base)
}

async fn start(env: &Env) -> (Child, String) {
    start_with(env, &[]).await
}

pub async fn post_to(client: &reqwest::Client, url: String, body: Value) -> Option<(u16, Value)> {
    let response = client.post(url).json(&body).send().await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.json().await.unwrap_or(Value::Null)))
}

/// Enrols an authenticator app for `nic` on a running server; the backup codes it shows.
async fn backup_codes(base: &str, nic: &str) -> Vec<String> {
    let browser = client();
    let login = post_to(
        &browser,
        format!("{base}/api/v1/session"),
        json!({"login": nic, "password": PASSWORD}),
    )
    .await;
    assert_eq!(login.map(|l| l.0), Some(200));
    let (_, begun) = post_to(
        &browser,
        format!("{base}/api/v1/me/2fa/totp"),
        json!({"description": "Phone"}),
    )
    .await
    .unwrap();
    let secret = begun["secret"].as_str().unwrap();
    let id = begun["id"].as_str().unwrap();
    let code = crate::two_factor::oath(secret, time::OffsetDateTime::now_utc());
    let (status, enabled) = post_to(
        &browser,
        format!("{base}/api/v1/me/2fa/totp/{id}/enable"),
        json!({"code": code}),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{enabled}");
    enabled["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

/// One login with a backup code; true when the server accepted the code.
async fn backup_login(base: &str, nic: &str, code: &str) -> bool {
    let browser = client();
    let Some((200, step)) = post_to(
        &browser,
        format!("{base}/api/v1/session"),
        json!({"login": nic, "password": PASSWORD}),
    )
    .await
    else {
        return false;
    };
    let Some(flow) = step["flow"].as_str() else {
        return false;
    };
    let body = json!({"flow": flow, "method": "backup_code", "code": code});
    matches!(
        post_to(&browser, format!("{base}/api/v1/session/second-factor"), body).await,
        Some((200, _))
    )
}

#[tokio::test]
async fn twenty_sigkills_under_load_lose_nothing_acknowledged_and_spend_no_code_twice() {
    let env = Env::new().await;
    let mut created = Vec::new();
    for (email, first, last) in [
        ("plain@example.com", "Pia", "Plain"),
        ("twofa@example.com", "Tess", "Factor"),
    ] {
        let args = [
            "account",
            "create",
            "--email",
            email,
            "--first-name",
            first,
            "--last-name",
            last,
            "--country",
            "GB",
            "--json",
        ];
        let (_, out, err) = env.run(&args, &format!("{PASSWORD}\n")).await;
        let account: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{err}"));
        created.push(account["nic_handle"].as_str().unwrap().to_owned());
    }
    let (plain, twofa) = (created[0].clone(), created[1].clone());
    let (mut child, base) = start(&env).await;
    let codes = backup_codes(&base, &twofa).await;
    let mut sessions: Vec<String> = Vec::new();
    let mut signups: Vec<String> = Vec::new();
    let mut accepted: BTreeMap<String, usize> = BTreeMap::new();
    let mut base = base;
    let mut slowness = 1.0_f64;
    for round in 0..ROUNDS {
        // The load: logins, sign-ups and backup codes (two fresh, one already used) at once.
        let login = async {
            let browser = client();
            let response = browser
                .post(format!("{base}/api/v1/session"))
                .json(&json!({"login": plain, "password": PASSWORD}))
                .send()
                .await
                .ok()?;
            (response.status() == 200).then(|| session_cookie(&response))
        };
        let email = format!("crash{round}@example.com");
        let signup = async {
            let body = json!({"email": email, "password": "purple elephants dance at noon", "country": "GB"});
            matches!(
                post_to(&client(), format!("{base}/api/v1/signup"), body).await,
                Some((200, _))
            )
        };
        let fresh = &codes[(round * 2) % codes.len()];
        let other = &codes[(round * 2 + 1) % codes.len()];
        let reused = &codes[round.saturating_sub(1) % codes.len()];
        // The kill lands 30 to 230 ms in, later by half each round while some kind of work has
        // never been acknowledged: a busy machine slows the load, not the test's reach.
        let kill_after = std::time::Duration::from_millis(30 + (round as u64 * 37) % 200).mul_f64(slowness);
        let killer = async {
            tokio::time::sleep(kill_after).await;
            child.start_kill().unwrap();
        };
        let (cookie, signed_up, a, b, c, ()) = tokio::join!(
            login,
            signup,
            backup_login(&base, &twofa, fresh),
            backup_login(&base, &twofa, other),
            backup_login(&base, &twofa, reused),
            killer
        );
        child.wait().await.unwrap();
        sessions.extend(cookie);
        if signed_up {
            signups.push(email);
        }
        for (code, ok) in [(fresh, a), (other, b), (reused, c)] {
            if ok {
                *accepted.entry(code.clone()).or_default() += 1;
            }
        }
        if sessions.is_empty() || signups.is_empty() || accepted.is_empty() {
            slowness = (slowness * 1.5).min(50.0);
        }

        // After the restart: everything acknowledged is there.
        let (next, next_base) = start(&env).await;
        child = next;
        base = next_base;
        for cookie in &sessions {
            let me = client()
                .get(format!("{base}/api/v1/me"))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(
                me.status(),
                200,
                "round {round}: an acknowledged login's session is gone"
            );
        }
        let store = env.db.store().await;
        let mailed = outbox_recipients(&store).await;
        for email in &signups {
            assert!(
                mailed.contains(email),
                "round {round}: the code mail of {email} is lost"
            );
        }
        assert!(
            accepted.values().all(|n| *n == 1),
            "round {round}: a code worked twice: {accepted:?}"
        );
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    assert!(
        !sessions.is_empty() && !signups.is_empty() && !accepted.is_empty(),
        "the load did some work (kills delayed {slowness}x)"
    );
}
