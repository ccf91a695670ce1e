//! RISK-2: password guessing is throttled per account, per source address and per device, in
//! the database, before any hash; the owner's known device keeps working while an attacker's
//! guesses lock the account for everyone else; unknown accounts answer like known ones.

use crate::helpers::*;
use reqwest::Client;
use serde_json::{Value, json};
use sesame_core::ports::AuditLog;

/// One JSON login: status, error code and `Retry-After` (seconds).
async fn attempt(client: &Client, app: &TestApp, login: &str, password: &str) -> (u16, String, Option<i64>) {
    let response = client
        .post(app.url("/api/v1/session"))
        .json(&json!({"login": login, "password": password}))
        .send()
        .await
        .unwrap();
    let wait = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or_default();
    (
        status,
        body["error"]["code"].as_str().unwrap_or_default().to_owned(),
        wait,
    )
}

/// Wrong passwords until `n` were actually checked (waiting out each delay on the moved clock).
async fn wrong_passwords(client: &Client, app: &TestApp, login: &str, n: usize) {
    let mut checked = 0;
    while checked < n {
        match attempt(client, app, login, "not the password").await {
            (401, _, _) => checked += 1,
            (429, code, Some(wait)) => {
                assert_eq!(code, "THROTTLED");
                app.clock.advance(time::Duration::seconds(wait));
            }
            other => panic!("unexpected answer {other:?}"),
        }
    }
}

#[tokio::test]
async fn the_owner_on_a_known_device_logs_in_through_an_attack_that_locks_new_devices() {
    let (app, smtp) = spawn_mail_app(|_| {}).await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    // The owner's browser logged in before: it holds a device cookie.
    let owner = client();
    assert_eq!(attempt(&owner, &app, nic, PASSWORD).await.0, 200);

    // An attacker, from the same address, gets a hundred guesses checked, then no more.
    let attacker = client();
    wrong_passwords(&attacker, &app, nic, 100).await;
    app.advance(60);
    let (status, code, wait) = attempt(&attacker, &app, nic, PASSWORD).await;
    assert_eq!(
        (status, code.as_str()),
        (429, "THROTTLED"),
        "locked, even for the right password"
    );
    assert!(wait.is_some());

    // The owner logs in at once, on the clock as it is.
    assert_eq!(attempt(&owner, &app, nic, PASSWORD).await.0, 200);

    // The owner was mailed an unlock link; once used, new devices may try again.
    app.deliver().await;
    let mail = smtp
        .messages_to("Jane.Doe@Example.com")
        .into_iter()
        .find(|m| m.text.contains("/unlock?token="))
        .expect("an unlock link");
    assert!(
        mail.subject.contains("new devices") || mail.subject.contains("nouveaux appareils"),
        "{}",
        mail.subject
    );
    let link = mail
        .text
        .split_whitespace()
        .find(|w| w.contains("/unlock?token="))
        .unwrap()
        .to_owned();
    let (browser, csrf, token) = open_unlock_link(&link).await;
    let (csrf, token) = (csrf.as_str(), token.as_str());
    let unlocked = browser
        .post(app.url("/unlock"))
        .form(&[("csrf", csrf), ("token", token)])
        .send()
        .await
        .unwrap();
    assert!(unlocked.text().await.unwrap().contains("id=\"unlocked\""));
    assert_eq!(
        attempt(&client(), &app, nic, PASSWORD).await.0,
        200,
        "a new device, after the unlock"
    );
}

#[tokio::test]
async fn a_lock_mails_a_new_unlock_link_a_day_later_and_a_reset_lifts_it() {
    let (app, smtp) = spawn_mail_app(|_| {}).await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    let attacker = client();
    wrong_passwords(&attacker, &app, nic, 100).await;
    let links = || async {
        app.deliver().await;
        let mails = smtp.messages_to("Jane.Doe@Example.com");
        mails.iter().filter(|m| m.text.contains("/unlock?token=")).count()
    };
    assert_eq!(links().await, 1);
    // Locked tries on the same day mail nothing more.
    assert_eq!(attempt(&attacker, &app, nic, PASSWORD).await.0, 429);
    assert_eq!(links().await, 1);
    // The link expired unseen: a day later the next locked try mails a new one, once.
    app.advance(24 * 60 + 1);
    for _ in 0..2 {
        assert_eq!(attempt(&attacker, &app, nic, PASSWORD).await.0, 429);
    }
    assert_eq!(links().await, 2);

    // A reset from the mailbox lifts the lock: the guesses were at a password that is gone.
    let client_info = sesame_core::audit::ClientInfo::default();
    let recovery = app.app.services.recovery();
    recovery.request_password_reset(nic, &client_info).await.unwrap();
    app.deliver().await;
    let mails = smtp.messages_to("Jane.Doe@Example.com");
    let reset = mails
        .iter()
        .rev()
        .find(|m| m.text.contains("/password-reset/"))
        .unwrap();
    let link = reset
        .text
        .split_whitespace()
        .find(|w| w.contains("/password-reset/"))
        .unwrap();
    let token = link.rsplit('/').next().unwrap();
    let new_password = "purple elephants dance at noon";
    let body = json!({"nic_handle": nic, "password": new_password});
    let (status, _) = post(&client(), &app, &format!("/api/v1/password-reset/{token}"), body).await;
    assert_eq!(status, 200);
    assert_eq!(attempt(&client(), &app, nic, new_password).await.0, 200, "a new device");
    // Locked again, however soon: a new link, not the day's spacing of reminders.
    wrong_passwords(&attacker, &app, nic, 100).await;
    assert_eq!(links().await, 3);
}

#[tokio::test]
async fn a_burst_of_guesses_once_tries_wait_gets_one_through() {
    let app = std::sync::Arc::new(spawn_app().await);
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str().to_owned();
    // Past the free tries, each waits its delay (RISK-2): thirty-two sent at once after it are
    // judged on one count, and only one of them is checked.
    wrong_passwords(&client(), &app, &nic, 5).await;
    app.advance(60);
    let statuses = at_once(32, |_| {
        let (app, nic) = (std::sync::Arc::clone(&app), nic.clone());
        async move { attempt(&client(), &app, &nic, "not the password").await.0 }
    })
    .await;
    assert_eq!(statuses, one_through(32, 401, 429));
}

#[tokio::test]
async fn unknown_and_known_accounts_are_throttled_alike() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    let mut answers = Vec::new();
    for login in [jane.nic_handle.as_str(), "zz99999-ovh"] {
        let c = client();
        let mut seen = Vec::new();
        for _ in 0..7 {
            seen.push(attempt(&c, &app, login, "not the password").await);
        }
        answers.push(seen);
    }
    assert_eq!(answers[0], answers[1], "the same answers, known account or not");
    assert_eq!(
        answers[0][5],
        (429, "THROTTLED".to_owned(), Some(1)),
        "{:?}",
        answers[0]
    );
}

#[tokio::test]
async fn re_authentication_is_throttled_too() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    assert_eq!(
        attempt(&app.client, &app, jane.nic_handle.as_str(), PASSWORD).await.0,
        200
    );
    let reauth = |password: &'static str| {
        let (client, url) = (app.client.clone(), app.url("/api/v1/session/reauth"));
        async move {
            let response = client
                .post(url)
                .json(&json!({"password": password}))
                .send()
                .await
                .unwrap();
            error_code(response).await
        }
    };
    for _ in 0..5 {
        assert_eq!(reauth("not the password").await.0, 401);
    }
    assert_eq!(
        reauth(PASSWORD).await,
        (429, "THROTTLED".to_owned()),
        "the device's own guesses wait"
    );
    app.advance(1);
    assert_eq!(reauth(PASSWORD).await.0, 200);
}

#[tokio::test]
async fn the_owner_logging_in_gives_an_attacker_no_fresh_tries() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    let owner = client();
    assert_eq!(attempt(&owner, &app, nic, PASSWORD).await.0, 200);
    let attacker = client();
    wrong_passwords(&attacker, &app, nic, 5).await;
    // The owner's known browser logs in; the attacker's next guess still waits.
    assert_eq!(attempt(&owner, &app, nic, PASSWORD).await.0, 200);
    let (status, code, _) = attempt(&attacker, &app, nic, "not the password").await;
    assert_eq!((status, code.as_str()), (429, "THROTTLED"));
}

/// Five wrong passwords from new browsers make the account's next try wait; a right one then
/// clears the count, whether it opens a session (cleared in the session's own batch) or leads to
/// the second step (cleared on its own).
#[tokio::test]
async fn a_right_password_clears_the_count_with_or_without_a_session() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    for second_step in [false, true] {
        wrong_passwords(&client(), &app, nic, 5).await;
        let (status, code, wait) = attempt(&client(), &app, nic, "not the password").await;
        assert_eq!((status, code.as_str()), (429, "THROTTLED"), "the sixth try waits");
        app.clock.advance(time::Duration::seconds(wait.unwrap()));
        if second_step {
            password_step(&client(), &app, nic, &["totp", "backup_code"]).await;
        } else {
            // The app's own client: a browser that never logged in to this account yet.
            let (status, body) = status_json(app.login(nic, PASSWORD).await).await;
            assert_eq!((status, body["status"].as_str()), (200, Some("logged_in")), "{body}");
        }
        // Four, so that the enrolment's own login below goes through at once.
        for _ in 0..4 {
            let (status, _, _) = attempt(&client(), &app, nic, "not the password").await;
            assert_eq!(status, 401, "checked at once: the count started again");
        }
        if !second_step {
            crate::two_factor::enrol(&app, nic).await;
        }
    }
}

/// One JSON login from `ip` (the test is the trusted proxy).
async fn attempt_from(client: &Client, app: &TestApp, ip: &str, login: &str, password: &str) -> u16 {
    client
        .post(app.url("/api/v1/session"))
        .header("x-forwarded-for", ip)
        .json(&json!({"login": login, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn an_ipv6_48_counts_as_one_source() {
    let app = spawn_app_with(|c| c.trusted_proxies = vec!["127.0.0.1".into()]).await;
    // Twenty wrong passwords, each from another address of one /48 and for another identifier.
    for n in 0..20 {
        let ip = format!("2001:db8:1:{n:x}::{n:x}");
        let who = format!("zz{:05}-ovh", 10_000 + n);
        assert_eq!(attempt_from(&client(), &app, &ip, &who, "guess").await, 401);
    }
    assert_eq!(
        attempt_from(&client(), &app, "2001:db8:1:ffff::9", "zz99999-ovh", "guess").await,
        429
    );
    assert_eq!(
        attempt_from(&client(), &app, "2001:db8:2::1", "zz99999-ovh", "guess").await,
        401,
        "another /48"
    );
}

#[tokio::test]
async fn past_the_global_limit_unknown_devices_wait_and_known_ones_carry_on() {
    let app = spawn_app_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1".into()];
        c.risk.global_failures_per_minute = 10;
    })
    .await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    let owner = client();
    assert_eq!(attempt_from(&owner, &app, "192.0.2.10", nic, PASSWORD).await, 200);
    // Ten wrong passwords spread over addresses and identifiers: the service-wide limit.
    for n in 0..10 {
        let (ip, who) = (format!("198.51.100.{n}"), format!("zz{:05}-ovh", 10_000 + n));
        assert_eq!(attempt_from(&client(), &app, &ip, &who, "guess").await, 401);
    }
    assert_eq!(
        attempt_from(&client(), &app, "203.0.113.1", nic, PASSWORD).await,
        429,
        "a new device waits"
    );
    assert_eq!(
        attempt_from(&owner, &app, "192.0.2.10", nic, PASSWORD).await,
        200,
        "a known one doesn't"
    );
    app.advance(2);
    assert_eq!(
        attempt_from(&client(), &app, "203.0.113.1", nic, PASSWORD).await,
        200,
        "the minute passed"
    );
}

#[tokio::test]
async fn a_flood_of_refused_guesses_leaves_one_audit_row_a_minute() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    let c = client();
    let nic = jane.nic_handle.as_str();
    let throttled = || async {
        let events = app.app.store.recent_events(jane.id, 200).await.unwrap();
        events
            .iter()
            .filter(|e| e.detail.as_deref() == Some("throttled"))
            .count()
    };
    for _ in 0..5 {
        assert_eq!(attempt(&c, &app, nic, "not the password").await.0, 401);
    }
    for _ in 0..30 {
        assert_eq!(attempt(&c, &app, nic, "not the password").await.0, 429);
    }
    assert_eq!(throttled().await, 1, "one row for the minute's refusals");
    app.clock.advance(time::Duration::minutes(1));
    assert_eq!(
        attempt(&c, &app, nic, "not the password").await.0,
        401,
        "the wait is over"
    );
    for _ in 0..10 {
        assert_eq!(attempt(&c, &app, nic, "not the password").await.0, 429);
    }
    assert_eq!(throttled().await, 2, "and one more the next minute");
}
