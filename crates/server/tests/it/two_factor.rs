//! Two-factor authentication (LOGIN-2, MFA-2, MFA-5, MFA-6, MFA-7, SESS-3, RISK-4), with codes from
//! an independent TOTP generator: `oathtool` (Debian), at the test's moved clock.

use crate::helpers::*;
use reqwest::Client;
use serde_json::{Value, json};
use sesame_core::clock::Clock;
use time::OffsetDateTime;

/// The methods a login of this module's accounts offers.
const METHODS: &[&str] = &["totp", "backup_code"];

/// The code `oathtool` computes for `secret` at `at`.
pub fn oath(secret: &str, at: OffsetDateTime) -> String {
    let when = at.format(&time::format_description::well_known::Rfc3339).unwrap();
    let out = std::process::Command::new("oathtool")
        .args(["--totp", "-b", "--now", &when, secret])
        .output()
        .expect("oathtool (Debian package oathtool)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

pub struct Enrolled {
    secret: String,
    app: String,
    backup_codes: Vec<String>,
}

/// Logs Jane in (no 2FA yet) and enrols an authenticator app with a code from oathtool.
pub async fn enrol(app: &TestApp, nic: &str) -> Enrolled {
    assert_eq!(app.login(nic, PASSWORD).await.status(), 200);
    let (status, begun) = post(&app.client, app, "/api/v1/me/2fa/totp", json!({"description": "Phone"})).await;
    assert_eq!(status, 201, "{begun}");
    let secret = begun["secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 32, "160 bits, unpadded base32");
    assert!(begun["otpauth_url"].as_str().unwrap().starts_with("otpauth://totp/"));
    assert!(begun["qr_svg"].as_str().unwrap().contains("<svg"));
    let id = begun["id"].as_str().unwrap().to_owned();
    let wrong = post(
        &app.client,
        app,
        &format!("/api/v1/me/2fa/totp/{id}/enable"),
        json!({"code": "000000"}),
    )
    .await;
    assert_eq!(wrong.1["error"]["code"], "SECOND_FACTOR_INVALID");
    let code = oath(&secret, app.clock.now());
    let (status, enabled) = post(
        &app.client,
        app,
        &format!("/api/v1/me/2fa/totp/{id}/enable"),
        json!({"code": code}),
    )
    .await;
    assert_eq!(status, 200, "{enabled}");
    let backup_codes: Vec<String> = enabled["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(backup_codes.len(), 10);
    Enrolled {
        secret,
        app: id,
        backup_codes,
    }
}

async fn second(client: &Client, app: &TestApp, flow: &str, method: &str, code: &str) -> (u16, Value) {
    post(
        client,
        app,
        "/api/v1/session/second-factor",
        json!({"flow": flow, "method": method, "code": code}),
    )
    .await
}

#[tokio::test]
async fn with_an_app_the_password_alone_opens_no_session() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    let e = enrol(&app, nic).await;
    app.advance(1);
    let c = client();
    let (_, body) = password_login(&c, &app, nic).await;
    assert_eq!(body["methods"], json!(["totp", "backup_code"]));
    assert_eq!(
        body["default"], "totp",
        "the most recently enabled method before any 2FA login"
    );
    assert!(body.get("account").is_none());
    assert_eq!(c.get(app.url("/api/v1/me")).send().await.unwrap().status(), 401);
    let flow = body["flow"].as_str().unwrap();
    let (status, done) = second(&c, &app, flow, "totp", &oath(&e.secret, app.clock.now())).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(c.get(app.url("/api/v1/me")).send().await.unwrap().status(), 200);
    // The HTML form never opens a session on the password alone either.
    let html = Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = html.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    let start = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    let token = &page[start..start + 64];
    let posted = html
        .post(app.url("/login"))
        .form(&[("login", nic), ("password", PASSWORD), ("csrf", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 303);
    let location = posted.headers().get("location").unwrap().to_str().unwrap().to_owned();
    assert!(
        location.starts_with("/login/") && location.contains("method=totp"),
        "{location}"
    );
    assert_eq!(html.get(app.url("/api/v1/me")).send().await.unwrap().status(), 401);
    let step = html.get(app.url(&location)).send().await.unwrap().text().await.unwrap();
    assert!(
        step.contains("id=\"try-another\"") && step.contains("method-backup_code"),
        "Try another method"
    );
    assert!(step.contains("/recover/lost-2fa"));
}

#[tokio::test]
async fn a_time_step_is_accepted_once_and_drift_is_one_step() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    let e = enrol(&app, nic).await;
    app.advance(1);
    let c = client();
    let now = app.clock.now();
    let flow = password_step(&c, &app, nic, METHODS).await;
    let two_ahead = oath(&e.secret, now + time::Duration::seconds(60));
    assert_eq!(
        second(&c, &app, &flow, "totp", &two_ahead).await.0,
        400,
        "+2 steps refused"
    );
    let two_behind = oath(&e.secret, now - time::Duration::seconds(60));
    assert_eq!(
        second(&c, &app, &flow, "totp", &two_behind).await.0,
        400,
        "-2 steps refused"
    );
    let one_behind = oath(&e.secret, now - time::Duration::seconds(30));
    assert_eq!(
        second(&c, &app, &flow, "totp", &one_behind).await.0,
        200,
        "-1 step accepted"
    );
    // The current code is a later step: fine once...
    let current = oath(&e.secret, now);
    let flow = password_step(&c, &app, nic, METHODS).await;
    assert_eq!(second(&c, &app, &flow, "totp", &current).await.0, 200);
    // ...and refused when replayed, which is audited.
    let flow = password_step(&c, &app, nic, METHODS).await;
    let replay = second(&c, &app, &flow, "totp", &current).await;
    assert_eq!(replay.1["error"]["code"], "SECOND_FACTOR_INVALID");
    let events = sesame_core::ports::AuditLog::recent_events(app.app.store.as_ref(), jane.id, 50)
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == sesame_core::audit::AuditKind::TotpReplayed)
    );
    let plus_one = oath(&e.secret, now + time::Duration::seconds(30));
    assert_eq!(
        second(&c, &app, &flow, "totp", &plus_one).await.0,
        200,
        "+1 step accepted"
    );
}

#[tokio::test]
async fn backup_codes_work_once_even_when_raced() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    let e = enrol(&app, nic).await;
    for code in e.backup_codes.iter().take(5) {
        let mut tasks = Vec::new();
        for _ in 0..2 {
            let c = client();
            let flow = password_step(&c, &app, nic, METHODS).await;
            let (url, code, flow) = (
                app.url("/api/v1/session/second-factor"),
                code.to_uppercase(),
                flow.clone(),
            );
            tasks.push(tokio::spawn(async move {
                c.post(url)
                    .json(&json!({"flow": flow, "method": "backup_code", "code": code}))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }));
        }
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        statuses.sort();
        assert_eq!(statuses, [200, 400], "one success per code");
    }
    let (_, status) = status_json(app.get("/api/v1/me/2fa").await).await;
    assert_eq!(status["backup_codes_left"], 5);
    assert_eq!(status["backup_codes_low"], false);
    // The default is now the method used last.
    let (_, body) = password_login(&client(), &app, nic).await;
    assert_eq!(body["default"], "backup_code");
}

#[tokio::test]
async fn regenerating_voids_the_old_set_and_three_left_warns() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    let e = enrol(&app, nic).await;
    let (status, fresh) = post(&app.client, &app, "/api/v1/me/2fa/backup-codes", json!({})).await;
    assert_eq!(status, 200);
    let fresh: Vec<String> = fresh["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    let c = client();
    let flow = password_step(&c, &app, nic, METHODS).await;
    assert_eq!(
        second(&c, &app, &flow, "backup_code", &e.backup_codes[0]).await.0,
        400,
        "the old set is void"
    );
    for code in fresh.iter().take(7) {
        let flow = password_step(&c, &app, nic, METHODS).await;
        assert_eq!(
            second(&c, &app, &flow, "backup_code", &code.replace('-', " ")).await.0,
            200
        );
    }
    let (_, status) = status_json(app.get("/api/v1/me/2fa").await).await;
    assert_eq!(
        (
            status["backup_codes_left"].as_i64(),
            status["backup_codes_low"].as_bool()
        ),
        (Some(3), Some(true))
    );
}

#[tokio::test]
async fn the_limits_section_sets_the_fresh_login_window_and_the_tries_of_a_flow() {
    let app = spawn_app_with(|c| {
        c.limits.reauth_minutes = 2;
        c.limits.login_flow_code_tries = 2;
    })
    .await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    let e = enrol(&app, nic).await;
    // SESS-3: three minutes after the login is too old for a sensitive change here (the default
    // window is ten).
    app.clock.advance(time::Duration::minutes(3));
    adding_an_app_needs_a_fresh_login(&app).await;
    // MFA-7: a flow takes two wrong codes; the third is refused even when right.
    a_flow_takes_wrong_codes(&app, nic, &e, 2).await;
}

/// SESS-3: adding an app asks for a fresh authentication.
async fn adding_an_app_needs_a_fresh_login(app: &TestApp) {
    let (status, body) = post(
        &app.client,
        app,
        "/api/v1/me/2fa/totp",
        json!({"description": "Tablet"}),
    )
    .await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("REAUTH_REQUIRED")));
}

/// MFA-7: a new login flow takes `tries` wrong codes; the next is refused even when right. The
/// browser that tried.
async fn a_flow_takes_wrong_codes(app: &TestApp, nic: &str, e: &Enrolled, tries: usize) -> Client {
    let c = client();
    let flow = password_step(&c, app, nic, METHODS).await;
    for _ in 0..tries {
        assert_eq!(second(&c, app, &flow, "totp", "000000").await.0, 400);
    }
    let right = second(&c, app, &flow, "totp", &oath(&e.secret, app.clock.now())).await;
    assert_eq!(right.1["error"]["code"], "SECOND_FACTOR_TOO_MANY_ATTEMPTS");
    c
}

#[tokio::test]
async fn the_sixth_code_in_a_flow_is_refused_even_when_right() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    let e = enrol(&app, nic).await;
    app.advance(1);
    let c = a_flow_takes_wrong_codes(&app, nic, &e, 5).await;
    let sms = second(&c, &app, &password_step(&c, &app, nic, METHODS).await, "sms", "123456").await;
    assert_eq!(
        sms.1["error"]["code"], "SECOND_FACTOR_METHOD_NOT_ALLOWED",
        "methods are fixed at the password step"
    );
}

#[tokio::test]
async fn after_ten_failures_each_try_waits_longer() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    let e = enrol(&app, nic).await;
    let c = client();
    // (The wrong code tried at enrolment no longer counts: the right one that followed cleared it.)
    for tries in [5, 5] {
        let flow = password_step(&c, &app, nic, METHODS).await;
        for _ in 0..tries {
            assert_eq!(second(&c, &app, &flow, "totp", "000000").await.0, 400);
        }
    }
    let flow = password_step(&c, &app, nic, METHODS).await;
    let early = second(&c, &app, &flow, "totp", &oath(&e.secret, app.clock.now())).await;
    assert_eq!(
        (early.0, early.1["error"]["code"].as_str()),
        (429, Some("SECOND_FACTOR_THROTTLED")),
        "even the right code waits"
    );
    app.clock
        .advance(sesame_core::limits::Limits::default().code_failure_delay(10));
    app.advance(1);
    assert_eq!(
        second(&c, &app, &flow, "totp", &oath(&e.secret, app.clock.now()))
            .await
            .0,
        200,
        "the wait did not use up a try"
    );
}

#[tokio::test]
async fn a_hundred_failures_lock_codes_until_the_emailed_link_is_used() {
    let (app, smtp) = spawn_mail_app(|_| {}).await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    let e = enrol(&app, nic).await;
    let c = client();
    // Failures count however far apart they are (not within a day): only a success or the
    // unlock link clears them.
    for n in 1..=100 {
        let flow = password_step(&c, &app, nic, METHODS).await;
        let (status, body) = second(&c, &app, &flow, "totp", "000000").await;
        assert_eq!(status, 400, "failure {n}: {body}");
        app.clock.advance(
            sesame_core::limits::Limits::default().code_failure_delay(n)
                + time::Duration::hours(if n % 10 == 0 && n < 100 { 30 } else { 0 }),
        );
    }
    app.advance(1);
    let flow = password_step(&c, &app, nic, METHODS).await;
    let locked = second(&c, &app, &flow, "totp", &oath(&e.secret, app.clock.now())).await;
    assert_eq!(locked.1["error"]["code"], "SECOND_FACTOR_LOCKED");
    let links = || async {
        app.deliver().await;
        let mails = smtp.messages_to("Jane.Doe@Example.com");
        mails
            .into_iter()
            .filter(|m| m.text.contains("/unlock?token="))
            .collect::<Vec<_>>()
    };
    assert_eq!(links().await.len(), 1, "one link, not one a refused try");
    // A day later, the link expired unseen: the next refused try mails a new one.
    app.advance(24 * 60 + 1);
    let flow = password_step(&c, &app, nic, METHODS).await;
    let locked = second(&c, &app, &flow, "totp", &oath(&e.secret, app.clock.now())).await;
    assert_eq!(locked.1["error"]["code"], "SECOND_FACTOR_LOCKED");
    let mail = links().await.pop().expect("an unlock link");
    assert_eq!(links().await.len(), 2);
    let link = mail
        .text
        .split_whitespace()
        .find(|w| w.contains("/unlock?token="))
        .unwrap()
        .to_owned();
    assert!(link.starts_with(&app.base), "links come from the public URL: {link}");
    let (browser, csrf, token) = open_unlock_link(&link).await;
    let (csrf, token) = (csrf.as_str(), token.as_str());
    let unlocked = browser
        .post(app.url("/unlock"))
        .form(&[("csrf", csrf), ("token", token)])
        .send()
        .await
        .unwrap();
    assert!(unlocked.text().await.unwrap().contains("id=\"unlocked\""));
    let again = browser
        .post(app.url("/unlock"))
        .form(&[("csrf", csrf), ("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 410, "the link works once");
    let flow = password_step(&c, &app, nic, METHODS).await;
    assert_eq!(
        second(&c, &app, &flow, "totp", &oath(&e.secret, app.clock.now()))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn removing_the_last_two_devices_at_once_turns_2fa_off_once() {
    let app = std::sync::Arc::new(spawn_app().await);
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    let e = enrol(&app, nic).await;
    // A second authenticator app (a minute later: a time step is used once per account).
    app.advance(1);
    let (_, begun) = post(
        &app.client,
        &app,
        "/api/v1/me/2fa/totp",
        json!({"description": "Tablet"}),
    )
    .await;
    let second_app = begun["id"].as_str().unwrap().to_owned();
    let code = oath(begun["secret"].as_str().unwrap(), app.clock.now());
    let enable = format!("/api/v1/me/2fa/totp/{second_app}/enable");
    assert_eq!(post(&app.client, &app, &enable, json!({"code": code})).await.0, 200);
    // Both phones lost: a backup code logs in, and both apps go at once (MFA-6).
    let c = client();
    let flow = password_step(&c, &app, nic, METHODS).await;
    assert_eq!(second(&c, &app, &flow, "backup_code", &e.backup_codes[0]).await.0, 200);
    let ids = [e.app.clone(), second_app];
    let removed = at_once(2, |i| {
        let (app, c, id) = (std::sync::Arc::clone(&app), c.clone(), ids[i].clone());
        async move {
            let path = format!("/api/v1/me/2fa/devices/{id}");
            let (status, body) = call(&c, &app, reqwest::Method::DELETE, &path, json!({})).await;
            (status, body["two_factor_off"].as_bool())
        }
    })
    .await;
    assert_eq!(
        removed,
        [(200, Some(false)), (200, Some(true))],
        "both removed, one of them the last"
    );
    let (_, status) = status_json(c.get(app.url("/api/v1/me/2fa")).send().await.unwrap()).await;
    assert_eq!(
        (status["enabled"].as_bool(), status["backup_codes_left"].as_i64()),
        (Some(false), Some(0)),
        "2FA off, and its backup codes with it"
    );
}

#[tokio::test]
async fn a_burst_of_codes_once_tries_wait_gets_one_through() {
    let app = std::sync::Arc::new(spawn_app().await);
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    enrol(&app, nic).await;
    let c = client();
    for _ in 0..2 {
        let flow = password_step(&c, &app, nic, METHODS).await;
        for _ in 0..5 {
            second(&c, &app, &flow, "totp", "000000").await;
        }
    }
    // Ten failures: each try now waits (MFA-7). Thirty-two sent at once after the wait are
    // judged on one count, and only one of them is checked.
    app.advance(1);
    let flow = password_step(&c, &app, nic, METHODS).await;
    let statuses = at_once(32, |_| {
        let (app, c, flow) = (std::sync::Arc::clone(&app), c.clone(), flow.clone());
        async move { second(&c, &app, &flow, "totp", "000000").await.0 }
    })
    .await;
    assert_eq!(statuses, one_through(32, 400, 429));
}

#[tokio::test]
async fn three_failures_after_the_password_email_the_owner() {
    let (app, smtp) = spawn_mail_app(|_| {}).await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    enrol(&app, nic).await;
    let c = client();
    let used = |smtp: &crate::smtp::Smtp| {
        let mails = smtp.messages_to("Jane.Doe@Example.com");
        let used = mails
            .iter()
            .filter(|m| m.subject.starts_with("Votre mot de passe a été utilisé"));
        used.count()
    };
    // Two wrong codes a login, over new logins, add up: failures count per account (MFA-7).
    for _ in 0..2 {
        let flow = password_step(&c, &app, nic, METHODS).await;
        for _ in 0..2 {
            assert_eq!(second(&c, &app, &flow, "totp", "000000").await.0, 400);
        }
    }
    app.deliver().await;
    assert_eq!(used(&smtp), 1, "the third consecutive failure");
    // Three in one login mail again.
    let flow = password_step(&c, &app, nic, METHODS).await;
    for _ in 0..3 {
        second(&c, &app, &flow, "totp", "000000").await;
    }
    app.deliver().await;
    assert_eq!(used(&smtp), 2);
    let mails = smtp.messages_to("Jane.Doe@Example.com");
    assert!(
        mails
            .iter()
            .any(|m| m.subject.starts_with("La double authentification est activée"))
    );
}

#[tokio::test]
async fn sensitive_changes_need_a_fresh_authentication() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    let e = enrol(&app, nic).await;
    app.advance(11);
    adding_an_app_needs_a_fresh_login(&app).await;
    let (_, status_now) = status_json(app.get("/api/v1/me/2fa").await).await;
    assert_eq!(status_now["enabled"], true, "reading needs no fresh authentication");
    let old_cookie = app.client.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(old_cookie.status(), 200);
    let (status, reauth) = post(
        &app.client,
        &app,
        "/api/v1/session/reauth",
        json!({"password": "wrong password!"}),
    )
    .await;
    assert_eq!(
        (status, reauth["error"]["code"].as_str()),
        (401, Some("LOGIN_INVALID_CREDENTIALS"))
    );
    let (_, reauth) = post(
        &app.client,
        &app,
        "/api/v1/session/reauth",
        json!({"password": PASSWORD}),
    )
    .await;
    assert_eq!(reauth["status"], "second_factor_required");
    let flow = reauth["flow"].as_str().unwrap();
    let (status, done) = second(&app.client, &app, flow, "totp", &oath(&e.secret, app.clock.now())).await;
    assert_eq!(status, 200, "{done}");
    let (status, _) = post(
        &app.client,
        &app,
        "/api/v1/me/2fa/totp",
        json!({"description": "Tablet"}),
    )
    .await;
    assert_eq!(status, 201, "fresh again");
}

#[tokio::test]
async fn removing_the_last_app_needs_its_code_and_turns_2fa_off() {
    let (app, smtp) = spawn_mail_app(|_| {}).await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    let e = enrol(&app, nic).await;
    let path = format!("/api/v1/me/2fa/totp/{}", e.app);
    let renamed = app
        .client
        .patch(app.url(&path))
        .json(&json!({"description": "Old phone"}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 204);
    let wrong = app
        .client
        .delete(app.url(&path))
        .json(&json!({"code": "000000"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(wrong).await, (400, "SECOND_FACTOR_INVALID".into()));
    app.advance(1);
    let code = oath(&e.secret, app.clock.now());
    let removed = app
        .client
        .delete(app.url(&path))
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(status_json(removed).await, (200, json!({"two_factor_off": true})));
    let (_, status) = status_json(app.get("/api/v1/me/2fa").await).await;
    assert_eq!(
        (status["enabled"].as_bool(), status["backup_codes_left"].as_i64()),
        (Some(false), Some(0))
    );
    let (_, body) = password_login(&client(), &app, nic).await;
    assert_eq!(body["status"], "logged_in", "2FA is off");
    app.deliver().await;
    assert!(
        smtp.messages_to("Jane.Doe@Example.com")
            .iter()
            .any(|m| m.subject.starts_with("La double authentification est désactivée"))
    );
    let subjects: Vec<_> = smtp
        .messages_to("Jane.Doe@Example.com")
        .into_iter()
        .map(|m| m.subject)
        .collect();
    assert!(
        subjects.iter().any(|s| s.contains("renommé")),
        "every change sends a mail: {subjects:?}"
    );
}

#[tokio::test]
async fn apps_and_backup_codes_survive_a_server_key_rotation() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str().to_owned();
    let e = enrol(&app, &nic).await;
    let key_file = app.dir.path().join("secret.key");
    let old = std::fs::read_to_string(&key_file).unwrap();
    std::fs::write(
        &key_file,
        format!("{}{old}", sesame_core::keys::ServerKey::new_line("rotated", &[9; 32])),
    )
    .unwrap();
    let TestApp { db, dir, clock, .. } = app;
    let app = spawn_on(db, dir, |_| {}).await;
    assert_eq!(app.app.services.key().id(), "rotated");
    app.clock
        .advance(clock.now() - app.clock.now() + time::Duration::minutes(1));
    let c = client();
    let flow = password_step(&c, &app, &nic, METHODS).await;
    assert_eq!(
        second(&c, &app, &flow, "totp", &oath(&e.secret, app.clock.now()))
            .await
            .0,
        200,
        "the old seal opens"
    );
    let flow = password_step(&c, &app, &nic, METHODS).await;
    assert_eq!(
        second(&c, &app, &flow, "backup_code", &e.backup_codes[0]).await.0,
        200,
        "old HMACs still verify"
    );
}

#[tokio::test]
async fn a_burst_of_parallel_codes_cannot_pass_the_lock() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    enrol(&app, nic).await;
    let c = client();
    for n in 1..=99 {
        let flow = password_step(&c, &app, nic, METHODS).await;
        assert_eq!(second(&c, &app, &flow, "totp", "000000").await.0, 400, "failure {n}");
        app.clock
            .advance(sesame_core::limits::Limits::default().code_failure_delay(n));
    }
    // Past the waits (the account's, and the source address's for wrong codes).
    app.advance(16);
    // One try is left before the lock; twenty arrive at once, each in its own login.
    let mut flows = Vec::new();
    for _ in 0..20 {
        flows.push(password_step(&c, &app, nic, METHODS).await);
    }
    let mut burst = tokio::task::JoinSet::new();
    for flow in flows {
        let (client, url) = (c.clone(), app.url("/api/v1/session/second-factor"));
        let body = json!({"flow": flow, "method": "totp", "code": "000000"});
        burst.spawn(async move { status_json(client.post(url).json(&body).send().await.unwrap()).await });
    }
    let answers = burst.join_all().await;
    let checked = answers.iter().filter(|(status, _)| *status == 400).count();
    // The others are refused before their code is looked at: by the account's lock, by the
    // count they were judged on having moved, or, once the checked one failed, by the wait of the
    // source address.
    let refused = answers
        .iter()
        .filter(|(status, body)| {
            *status == 429
                && matches!(
                    body["error"]["code"].as_str(),
                    Some("SECOND_FACTOR_LOCKED" | "SECOND_FACTOR_THROTTLED" | "THROTTLED")
                )
        })
        .count();
    assert_eq!((checked, refused), (1, 19), "{answers:?}");
}
