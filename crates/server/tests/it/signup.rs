//! SIGNUP-1, SIGNUP-2, PWD-2, RISK-4 over JSON, with the code read from what a real SMTP server
//! received.

use crate::helpers::*;
use crate::smtp::Smtp;
use serde_json::{Value, json};

const STEP2: &str = "/api/v1/signup";

async fn start(app: &TestApp, email: &str) -> (u16, Value) {
    let body = json!({"email": email, "password": PASSWORD, "country": "GB"});
    status_json(app.post_json(STEP2, &body).await).await
}

async fn flow_of(app: &TestApp, email: &str) -> String {
    let (status, body) = start(app, email).await;
    assert_eq!(status, 200, "{body}");
    body["flow"].as_str().unwrap().to_owned()
}

async fn verify(app: &TestApp, flow: &str, code: &str) -> (u16, String) {
    error_code(
        app.post_json(&format!("/api/v1/signup/{flow}/verify"), &json!({"code": code}))
            .await,
    )
    .await
}

async fn latest_code(app: &TestApp, smtp: &Smtp, to: &str) -> String {
    app.deliver().await;
    smtp.messages_to(to).last().expect("a mail").code()
}

#[tokio::test]
async fn a_customer_signs_up_and_is_logged_in_with_a_new_nic_handle() {
    let (app, smtp) = spawn_mail_app(|_| {}).await;
    let flow = flow_of(&app, "New.Customer@Example.com").await;
    let mail = {
        app.deliver().await;
        smtp.messages_to("New.Customer@Example.com")
            .pop()
            .expect("the code mail")
    };
    assert!(mail.subject.contains("verification code"), "{}", mail.subject);
    let code = mail.code();
    assert!(mail.html.contains(&code));
    let (status, step) = status_json(
        app.post_json(&format!("/api/v1/signup/{flow}/verify"), &json!({"code": code}))
            .await,
    )
    .await;
    assert_eq!((status, step["step"].as_str()), (200, Some("profile")));
    assert_eq!(
        app.get("/api/v1/me").await.status(),
        401,
        "no session before the account exists"
    );
    let profile =
        json!({"first_name": "Nora", "last_name": "Ng", "account_type": "individual", "phone": "+44 20 7946 0000"});
    let response = app.post_json(&format!("/api/v1/signup/{flow}/profile"), &profile).await;
    let (status, body) = status_json(response).await;
    assert_eq!(status, 200, "{body}");
    let nic = body["account"]["nic_handle"].as_str().unwrap().to_owned();
    assert!(nic.starts_with("nn") && nic.ends_with("-ovh"), "{nic}");
    let (status, me) = status_json(app.get("/api/v1/me").await).await;
    assert_eq!((status, me["nic_handle"].as_str()), (200, Some(nic.as_str())));
    assert_eq!(me["subsidiary"], "GB");
    app.deliver().await;
    let welcome = smtp.messages_to("New.Customer@Example.com").pop().unwrap();
    assert!(
        welcome.subject.contains(&nic) && welcome.text.contains(&nic),
        "the confirmation carries the NIC handle"
    );
    // The flow is over: replaying any step fails.
    assert_eq!(verify(&app, &flow, &code).await.0, 404);
    // Logging in later works with the password from step 2.
    assert_eq!(
        client()
            .post(app.url("/api/v1/session"))
            .json(&json!({"login": nic, "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn a_taken_address_gets_the_same_answer_and_its_owner_one_mail() {
    let (app, smtp) = spawn_mail_app(|_| {}).await;
    let jane = app.jane().await;
    app.deliver().await;
    let before = smtp.messages_to("Jane.Doe@Example.com").len();
    let (taken_status, taken) = start(&app, "JANE.DOE@example.com").await;
    let (free_status, free) = start(&app, "someone.else@example.com").await;
    assert_eq!(taken_status, free_status);
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&taken), keys(&free));
    assert_eq!(taken["step"], free["step"]);
    app.deliver().await;
    let to_owner = smtp.messages_to("Jane.Doe@Example.com");
    assert_eq!(to_owner.len(), before + 1, "exactly one mail, to the stored address");
    let notice = to_owner.last().unwrap();
    assert!(
        notice.subject.starts_with("Quelqu’un a tenté"),
        "in the owner's language: {}",
        notice.subject
    );
    assert!(notice.text.contains(jane.nic_handle.as_str()));
    assert!(
        !notice
            .text
            .lines()
            .any(|l| l.trim().len() == 6 && l.trim().bytes().all(|b| b.is_ascii_digit())),
        "no code"
    );
    // No code can verify the decoy flow, and a resend sends the owner nothing more.
    let flow = taken["flow"].as_str().unwrap();
    assert_eq!(verify(&app, flow, "000000").await, (400, "SIGNUP_INVALID_CODE".into()));
    let resend = app
        .post_json(&format!("/api/v1/signup/{flow}/resend"), &json!({}))
        .await;
    assert_eq!(resend.status(), 202);
    app.deliver().await;
    assert_eq!(smtp.messages_to("Jane.Doe@Example.com").len(), before + 1);
}

#[tokio::test]
async fn a_code_works_once_and_not_after_ten_minutes() {
    let (app, smtp) = spawn_mail_app(|_| {}).await;
    let flow = flow_of(&app, "a@example.com").await;
    let code = latest_code(&app, &smtp, "a@example.com").await;
    app.advance(10);
    assert_eq!(
        verify(&app, &flow, &code).await,
        (400, "SIGNUP_INVALID_CODE".into()),
        "expired at 10 minutes"
    );
    let resend = app
        .post_json(&format!("/api/v1/signup/{flow}/resend"), &json!({}))
        .await;
    assert_eq!(resend.status(), 202);
    let fresh = latest_code(&app, &smtp, "a@example.com").await;
    if fresh != code {
        assert_eq!(
            verify(&app, &flow, &code).await,
            (400, "SIGNUP_INVALID_CODE".into()),
            "the old code is void"
        );
    }
    assert_eq!(
        verify(&app, &flow, &format!(" {}-{} ", &fresh[..3], &fresh[3..]))
            .await
            .0,
        200
    );
    // Another flow can't use this flow's code: codes are bound to their flow.
    let other = flow_of(&app, "b@example.com").await;
    assert_eq!(verify(&app, &other, &fresh).await.0, 400);
    // The whole flow expires after an hour.
    app.advance(61);
    let late = app
        .post_json(
            &format!("/api/v1/signup/{flow}/profile"),
            &json!({"first_name": "A", "last_name": "B"}),
        )
        .await;
    assert_eq!(error_code(late).await, (410, "SIGNUP_FLOW_EXPIRED".into()));
}

#[tokio::test]
async fn the_sixth_try_is_refused_even_with_the_right_code() {
    let (app, smtp) = spawn_mail_app(|_| {}).await;
    let flow = flow_of(&app, "a@example.com").await;
    let code = latest_code(&app, &smtp, "a@example.com").await;
    let wrong = if code == "111111" { "222222" } else { "111111" };
    for _ in 0..5 {
        assert_eq!(verify(&app, &flow, wrong).await, (400, "SIGNUP_INVALID_CODE".into()));
    }
    assert_eq!(
        verify(&app, &flow, &code).await,
        (429, "SIGNUP_TOO_MANY_ATTEMPTS".into())
    );
}

#[tokio::test]
async fn a_sign_up_continues_only_in_the_browser_that_started_it() {
    let (app, smtp) = spawn_mail_app(|_| {}).await;
    let body = json!({"email": "a@example.com", "password": PASSWORD, "country": "GB"});
    let started = app.post_json(STEP2, &body).await;
    let cookies: Vec<_> = started
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(cookies.iter().any(|c| c.starts_with("sesame_device=")), "{cookies:?}");
    let (_, started) = status_json(started).await;
    let flow = started["flow"].as_str().unwrap().to_owned();
    let code = latest_code(&app, &smtp, "a@example.com").await;
    // Whoever sees the flow id (a shared screen, a log, a URL) but not the browser's cookie.
    let other = client();
    let show = other
        .get(app.url(&format!("/api/v1/signup/{flow}")))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(show).await, (404, "SIGNUP_FLOW_NOT_FOUND".into()));
    let verify_elsewhere = other
        .post(app.url(&format!("/api/v1/signup/{flow}/verify")))
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(verify_elsewhere).await,
        (404, "SIGNUP_FLOW_NOT_FOUND".into())
    );
    let page = other.get(app.url(&format!("/signup/{flow}"))).send().await.unwrap();
    assert_eq!(page.status(), 404);
    // The browser that started it goes on, with the same code.
    assert_eq!(verify(&app, &flow, &code).await.0, 200);
    let profile = json!({"first_name": "Ada", "last_name": "Lovelace", "account_type": "individual"});
    let elsewhere = other
        .post(app.url(&format!("/api/v1/signup/{flow}/profile")))
        .json(&profile)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(elsewhere).await, (404, "SIGNUP_FLOW_NOT_FOUND".into()));
    let done = app.post_json(&format!("/api/v1/signup/{flow}/profile"), &profile).await;
    assert_eq!(done.status(), 200);
}

#[tokio::test]
async fn parallel_submissions_of_the_code_verify_once() {
    let (app, smtp) = spawn_mail_app(|_| {}).await;
    let flow = flow_of(&app, "a@example.com").await;
    let code = latest_code(&app, &smtp, "a@example.com").await;
    let url = app.url(&format!("/api/v1/signup/{flow}/verify"));
    let tries: Vec<_> = (0..4)
        .map(|_| {
            // The browser that started it, with requests side by side.
            let (url, code, browser) = (url.clone(), code.clone(), app.client.clone());
            tokio::spawn(async move {
                browser
                    .post(url)
                    .json(&json!({"code": code}))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tries {
        statuses.push(t.await.unwrap());
    }
    statuses.sort();
    // One request consumes the code; the others find it used (400) or the flow already moved on
    // (409, or 200 when they arrive after the state was saved and the step is simply reported).
    assert!(statuses.contains(&200), "{statuses:?}");
    assert!(statuses.iter().all(|s| [200, 400, 409].contains(s)), "{statuses:?}");
}

#[tokio::test]
async fn sign_up_mails_are_limited_per_address_and_starts_per_ip() {
    let (app, _smtp) = spawn_mail_app(|c| c.signup.per_ip_per_hour = 5).await;
    let flow = flow_of(&app, "a@example.com").await;
    for _ in 0..2 {
        assert_eq!(
            app.post_json(&format!("/api/v1/signup/{flow}/resend"), &json!({}))
                .await
                .status(),
            202
        );
    }
    let fourth = app
        .post_json(&format!("/api/v1/signup/{flow}/resend"), &json!({}))
        .await;
    assert_eq!(
        fourth
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned()),
        Some("3600".into()),
        "{:?}",
        fourth.text().await
    );
    assert_eq!(
        error_code(fourth).await,
        (429, "SIGNUP_RATE_LIMITED".into()),
        "3 mails per address per hour"
    );
    // Any IP: a new flow for the same address is limited too.
    assert_eq!(
        start(&app, "A@EXAMPLE.COM").await.1["error"]["code"],
        "SIGNUP_RATE_LIMITED"
    );
    // This IP has now made 5 requests: the next address is refused as well.
    assert_eq!(
        start(&app, "b@example.com").await.1["error"]["code"],
        "SIGNUP_RATE_LIMITED"
    );
    app.advance(61);
    assert_eq!(start(&app, "b@example.com").await.0, 200, "the window moves on");
}

#[tokio::test]
async fn the_name_rule_runs_at_step_three_and_asks_for_a_new_password() {
    let (app, smtp) = spawn_mail_app(|_| {}).await;
    let body = json!({"email": "nn@example.com", "password": "nora rides her bike", "country": "FR"});
    let (status, started) = status_json(app.post_json(STEP2, &body).await).await;
    assert_eq!(status, 200, "{started}");
    let flow = started["flow"].as_str().unwrap();
    let code = latest_code(&app, &smtp, "nn@example.com").await;
    assert_eq!(verify(&app, flow, &code).await.0, 200);
    let profile = json!({"first_name": "Nora", "last_name": "Ng"});
    let refused = app.post_json(&format!("/api/v1/signup/{flow}/profile"), &profile).await;
    assert_eq!(
        error_code(refused).await,
        (422, "PASSWORD_CONTAINS_PERSONAL_INFO".into())
    );
    let (_, shown) = status_json(app.get(&format!("/api/v1/signup/{flow}")).await).await;
    assert_eq!(shown["step"], "password_required", "the verified email is kept");
    let again = app
        .post_json(
            &format!("/api/v1/signup/{flow}/password"),
            &json!({"password": "nora again"}),
        )
        .await;
    assert_eq!(error_code(again).await, (422, "PASSWORD_TOO_SHORT".into()));
    let ok = app
        .post_json(
            &format!("/api/v1/signup/{flow}/password"),
            &json!({"password": "quiet river stones"}),
        )
        .await;
    let (status, body) = status_json(ok).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["account"]["language"], "fr");
    app.deliver().await;
    let welcome = smtp.messages_to("nn@example.com").pop().unwrap();
    assert!(
        welcome.subject.contains("est prêt"),
        "a French customer gets French mail: {}",
        welcome.subject
    );
    assert_eq!(
        client()
            .post(app.url("/api/v1/session"))
            .json(&json!({"login": "nn@example.com", "password": "quiet river stones"}))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn french_customers_get_french_codes() {
    let (app, smtp) = spawn_mail_app(|_| {}).await;
    let body = json!({"email": "fr@example.com", "password": PASSWORD, "country": "FR"});
    assert_eq!(app.post_json(STEP2, &body).await.status(), 200);
    app.deliver().await;
    let mail = smtp.messages_to("fr@example.com").pop().unwrap();
    assert!(
        mail.subject.starts_with("Votre code de vérification"),
        "{}",
        mail.subject
    );
    assert!(mail.html.contains("lang=\"fr\""));
}

#[tokio::test]
async fn header_injection_and_bad_fields_are_refused() {
    let (app, smtp) = spawn_mail_app(|_| {}).await;
    let injected = json!({"email": "a@example.com\r\nBcc: victim@example.com", "password": PASSWORD, "country": "GB"});
    assert_eq!(
        error_code(app.post_json(STEP2, &injected).await).await,
        (422, "EMAIL_INVALID".into())
    );
    let non_ascii = json!({"email": "élodie@example.com", "password": PASSWORD, "country": "FR"});
    assert_eq!(
        error_code(app.post_json(STEP2, &non_ascii).await).await,
        (422, "EMAIL_NON_ASCII".into())
    );
    let common = json!({"email": "c@example.com", "password": "password1234", "country": "FR"});
    assert_eq!(
        error_code(app.post_json(STEP2, &common).await).await,
        (422, "PASSWORD_TOO_COMMON".into())
    );
    let country = json!({"email": "c@example.com", "password": PASSWORD, "country": "France"});
    assert_eq!(
        error_code(app.post_json(STEP2, &country).await).await,
        (422, "INVALID_FIELD".into())
    );

    let flow = flow_of(&app, "b@example.com").await;
    let code = latest_code(&app, &smtp, "b@example.com").await;
    verify(&app, &flow, &code).await;
    let evil = json!({"first_name": "Bob\r\nBcc: victim@example.com", "last_name": "B"});
    assert_eq!(
        error_code(app.post_json(&format!("/api/v1/signup/{flow}/profile"), &evil).await).await,
        (422, "INVALID_FIELD".into())
    );
    let company = json!({"first_name": "Bob", "last_name": "B", "account_type": "company"});
    assert_eq!(
        error_code(app.post_json(&format!("/api/v1/signup/{flow}/profile"), &company).await)
            .await
            .0,
        422,
        "a company needs its name"
    );
    assert_eq!(
        error_code(app.get("/api/v1/signup/not-a-flow").await).await,
        (404, "SIGNUP_FLOW_NOT_FOUND".into())
    );
    assert!(smtp.messages().iter().all(|m| !m.to.contains("victim")));
}
