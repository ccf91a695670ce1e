//! LOGIN-3, RISK-1: a login without 2FA from an unusual place (two of: a browser that never
//! logged in to the account, a network not seen in 90 days, wrong passwords just before) must
//! give a code mailed to the account before any session exists; a usual one doesn't; with 2FA the
//! second factor suffices. Client addresses come from `X-Forwarded-For` (the test is the proxy).

use crate::helpers::*;
use crate::smtp::Smtp;
use reqwest::Client;
use serde_json::{Value, json};
use sesame_core::service::EmailCodePolicy;

async fn risk_app(policy: EmailCodePolicy) -> (TestApp, Smtp) {
    spawn_mail_app(move |c| {
        c.risk.login_email_code = policy;
        c.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await
}

async fn login_from(client: &Client, app: &TestApp, ip: &str, nic: &str, password: &str) -> (u16, Value) {
    let response = client
        .post(app.url("/api/v1/session"))
        .header("x-forwarded-for", ip)
        .json(&json!({"login": nic, "password": password}))
        .send()
        .await
        .unwrap();
    status_json(response).await
}

async fn code_step(client: &Client, app: &TestApp, ip: &str, flow: &str, code: &str) -> (u16, Value) {
    let response = client
        .post(app.url("/api/v1/session/email-code"))
        .header("x-forwarded-for", ip)
        .json(&json!({"flow": flow, "code": code}))
        .send()
        .await
        .unwrap();
    status_json(response).await
}

/// The newest login-code mail.
async fn login_mail(app: &TestApp, smtp: &Smtp) -> crate::smtp::Received {
    app.deliver().await;
    smtp.messages_to("Jane.Doe@Example.com")
        .into_iter()
        .rev()
        .find(|m| m.subject.contains("code de connexion") || m.subject.contains("login code"))
        .expect("a login code mail")
}

/// The code of the newest login-code mail.
async fn mailed_code(app: &TestApp, smtp: &Smtp) -> String {
    login_mail(app, smtp).await.code()
}

#[tokio::test]
async fn an_unusual_login_asks_for_the_mailed_code_and_a_usual_one_does_not() {
    let (app, smtp) = risk_app(EmailCodePolicy::Unusual).await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    let laptop = client();

    // A new browser on a new network: the code, and no session until it is given.
    let (status, body) = login_from(&laptop, &app, "192.0.2.10", nic, PASSWORD).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("email_code_required")),
        "{body}"
    );
    assert_eq!(body["sent_to"], "J•••@Example.com");
    assert_eq!(laptop.get(app.url("/api/v1/me")).send().await.unwrap().status(), 401);
    let flow = body["flow"].as_str().unwrap().to_owned();
    let mail = login_mail(&app, &smtp).await;
    let code = mail.code();
    assert!(
        mail.text.contains("192.0.2.10") && mail.text.contains(nic),
        "{}",
        mail.text
    );
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, body) = code_step(&laptop, &app, "192.0.2.10", &flow, wrong).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("LOGIN_CODE_INVALID"))
    );
    let (status, body) = code_step(&laptop, &app, "192.0.2.10", &flow, &code).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("logged_in")), "{body}");
    let (status, _) = code_step(&laptop, &app, "192.0.2.10", &flow, &code).await;
    assert_eq!(status, 404, "the login is over; the code worked once");

    // Usual now: the same browser; another browser on the same /24; the same browser elsewhere.
    for (browser, ip) in [
        (&laptop, "192.0.2.10"),
        (&client(), "192.0.2.99"),
        (&laptop, "203.0.113.5"),
    ] {
        let (_, body) = login_from(browser, &app, ip, nic, PASSWORD).await;
        assert_eq!(body["status"], "logged_in", "{ip}: {body}");
    }
    // Unusual again: a new browser on a network never seen (a minute on: one mail per 30 s).
    app.advance(1);
    let (_, body) = login_from(&client(), &app, "198.51.100.7", nic, PASSWORD).await;
    assert_eq!(body["status"], "email_code_required");
    // And a new browser on a known network right after wrong passwords.
    let phone = client();
    app.advance(1);
    let (status, _) = login_from(&phone, &app, "192.0.2.50", nic, "not the password").await;
    assert_eq!(status, 401);
    let (_, body) = login_from(&phone, &app, "192.0.2.50", nic, PASSWORD).await;
    assert_eq!(
        body["status"], "email_code_required",
        "unknown device + recent failures"
    );
}

#[tokio::test]
async fn always_and_never_do_what_they_say_and_2fa_suffices() {
    let (app, _smtp) = risk_app(EmailCodePolicy::Always).await;
    let jane = app.jane().await;
    let (_, body) = login_from(&app.client, &app, "192.0.2.10", jane.nic_handle.as_str(), PASSWORD).await;
    assert_eq!(
        body["status"], "email_code_required",
        "always, even on a known network and device"
    );

    let (app, _smtp) = risk_app(EmailCodePolicy::Never).await;
    let jane = app.jane().await;
    let (_, body) = login_from(&client(), &app, "198.51.100.7", jane.nic_handle.as_str(), PASSWORD).await;
    assert_eq!(body["status"], "logged_in", "never");

    // With 2FA on, the second factor is the extra step, not the email code (enrolled while the
    // policy was `never`, then asked for `always`).
    let (app, _smtp) = risk_app(EmailCodePolicy::Never).await;
    let jane = app.jane().await;
    crate::two_factor::enrol(&app, jane.nic_handle.as_str()).await;
    let TestApp { db, dir, .. } = app;
    let app = spawn_on(db, dir, |c| c.risk.login_email_code = EmailCodePolicy::Always).await;
    let (_, body) = login_from(&client(), &app, "198.51.100.7", jane.nic_handle.as_str(), PASSWORD).await;
    assert_eq!(body["status"], "second_factor_required", "{body}");
}

#[tokio::test]
async fn codes_take_five_tries_and_resends_are_limited() {
    let (app, smtp) = risk_app(EmailCodePolicy::Always).await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    let browser = client();
    let (_, body) = login_from(&browser, &app, "192.0.2.10", nic, PASSWORD).await;
    let flow = body["flow"].as_str().unwrap().to_owned();
    let first = mailed_code(&app, &smtp).await;
    let resend = |flow: String| {
        let (browser, url) = (browser.clone(), app.url("/api/v1/session/email-code/resend"));
        async move {
            let response = browser.post(url).json(&json!({"flow": flow})).send().await.unwrap();
            error_code_or_status(response).await
        }
    };
    assert_eq!(
        resend(flow.clone()).await,
        (429, "LOGIN_CODE_THROTTLED".to_owned()),
        "one per 30 s"
    );
    app.advance(1);
    assert_eq!(resend(flow.clone()).await.0, 202);
    let second = mailed_code(&app, &smtp).await;
    if second != first {
        let (status, _) = code_step(&browser, &app, "192.0.2.10", &flow, &first).await;
        assert_eq!(status, 400, "a new code voids the older");
    }
    let wrong = if second == "000000" { "111111" } else { "000000" };
    while code_step(&browser, &app, "192.0.2.10", &flow, wrong).await.0 == 400 {}
    let (status, body) = code_step(&browser, &app, "192.0.2.10", &flow, &second).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("SECOND_FACTOR_TOO_MANY_ATTEMPTS")),
        "five tries, then start again"
    );
}

/// Status and error code, or the bare status when the answer has no error.
async fn error_code_or_status(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or_default();
    (status, body["error"]["code"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn wrong_codes_from_one_address_wait_like_wrong_passwords() {
    let (app, _smtp) = risk_app(EmailCodePolicy::Always).await;
    let browser = client();
    let mut nics = Vec::new();
    for n in 0..5 {
        let account = app.account(&format!("user{n}@example.com"), "Ursula", "Ser").await;
        nics.push(account.nic_handle.as_str().to_owned());
    }
    // Twenty wrong codes from one address, over four accounts' logins (five tries each).
    for nic in &nics[..4] {
        let (_, body) = login_from(&browser, &app, "192.0.2.10", nic, PASSWORD).await;
        let flow = body["flow"].as_str().unwrap().to_owned();
        for _ in 0..5 {
            assert_eq!(code_step(&browser, &app, "192.0.2.10", &flow, "000000").await.0, 400);
        }
    }
    let (_, body) = login_from(&browser, &app, "192.0.2.10", &nics[4], PASSWORD).await;
    let flow = body["flow"].as_str().unwrap().to_owned();
    let (status, body) = code_step(&browser, &app, "192.0.2.10", &flow, "000000").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("THROTTLED")),
        "{body}"
    );
    let (status, _) = code_step(&browser, &app, "198.51.100.1", &flow, "000000").await;
    assert_eq!(status, 400, "another address is not held back");
}
