//! MAIL-1, LOGIN-4: delivery through a real SMTP server that goes down and comes back, one sender
//! per mail across nodes, parking and `sesame outbox`, and login notifications.

use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn every_login_sends_a_notification_until_switched_off() {
    let (app, smtp) = spawn_mail_app(|_| {}).await;
    let jane = app.jane().await;
    let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
    let login = || {
        app.client
            .post(app.url("/api/v1/session"))
            .header("user-agent", firefox)
            .json(&json!({"login": jane.nic_handle.as_str(), "password": PASSWORD}))
            .send()
    };
    assert_eq!(login().await.unwrap().status(), 200);
    app.deliver().await;
    let mails = smtp.messages_to("Jane.Doe@Example.com");
    let notice = mails
        .iter()
        .find(|m| m.subject.contains("connexion"))
        .expect("a French login notice");
    assert!(notice.subject.starts_with("Nouvelle connexion"), "{}", notice.subject);
    assert!(notice.text.contains(jane.nic_handle.as_str()));
    assert!(notice.text.contains("127.0.0.1"));
    assert!(notice.text.contains("Firefox 120 · Linux"), "{}", notice.text);
    assert!(
        notice.text.contains(&format!("{}/security", app.base)),
        "links come from the public URL"
    );
    assert!(
        notice
            .text
            .replace('\u{a0}', " ")
            .contains("25 novembre 2026 à 09:00 UTC"),
        "the time of the login, in French: {}",
        notice.text
    );
    // A failed login sends nothing.
    let before = smtp.messages().len();
    app.login(jane.nic_handle.as_str(), "wrong password!").await;
    app.deliver().await;
    assert_eq!(smtp.messages().len(), before);

    let off = app
        .client
        .put(app.url("/api/v1/me/settings"))
        .json(&json!({"login_notifications": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(status_json(off).await, (200, json!({"login_notifications": false})));
    // #15 item 9: switching them off is itself mailed (in French), with the way back.
    app.deliver().await;
    let last = smtp.messages().pop().expect("the switch-off notice");
    assert_eq!(smtp.messages().len(), before + 1);
    assert!(
        last.subject.contains("notifications de connexion sont désactivées"),
        "{}",
        last.subject
    );
    assert!(last.text.contains("/not-me?token="), "{}", last.text);
    assert!(last.text.contains("127.0.0.1"), "{}", last.text);
    assert_eq!(login().await.unwrap().status(), 200);
    app.deliver().await;
    assert_eq!(
        smtp.messages().len(),
        before + 1,
        "switched off: the login sends nothing"
    );
    let (_, me) = status_json(app.get("/api/v1/me").await).await;
    assert_eq!(me["login_notifications"], false);

    // A security setting (SESS-3): a session authenticated more than 10 minutes ago can't change
    // it, so a stolen stale session can't silence the alerts.
    app.advance(11);
    let stale = app
        .client
        .put(app.url("/api/v1/me/settings"))
        .json(&json!({"login_notifications": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(stale).await, (403, "REAUTH_REQUIRED".to_owned()));
    let (_, me) = status_json(app.get("/api/v1/me").await).await;
    assert_eq!(me["login_notifications"], false, "unchanged");
}

#[tokio::test]
async fn mail_queued_while_smtp_is_down_is_delivered_once_when_it_is_back() {
    let (app, mut smtp) = spawn_mail_app(|_| {}).await;
    smtp.stop().await;
    app.jane().await; // the welcome mail
    let pass = app.deliver().await;
    assert_eq!((pass.sent, pass.failed), (0, 1));
    smtp.restart().await;
    assert_eq!(app.deliver().await.sent, 0, "it waits for its retry time");
    app.clock.advance(time::Duration::seconds(5));
    assert_eq!(app.deliver().await.sent, 1);
    assert_eq!(app.deliver().await.sent, 0);
    let received = smtp.messages();
    assert_eq!(received.len(), 1, "exactly once");
    assert!(
        received[0].message_id.ends_with("@127.0.0.1"),
        "{}",
        received[0].message_id
    );
}

#[tokio::test]
async fn two_nodes_draining_one_outbox_never_both_send_a_mail() {
    let (one, smtp) = spawn_mail_app(|_| {}).await;
    for n in 0..8 {
        one.account(&format!("user{n}@example.com"), "Ann", "Lee").await;
    }
    // A second node on the same database and SMTP server.
    let url = smtp.url();
    let db_url = one.db.url.clone();
    let two = spawn_app_with(|c| {
        c.smtp_url = url;
        c.database_url = db_url;
    })
    .await;
    let (a, b) = tokio::join!(one.deliver(), two.deliver());
    assert_eq!(a.sent + b.sent, 8, "{a:?} {b:?}");
    let mut ids: Vec<_> = smtp.messages().into_iter().map(|m| m.message_id).collect();
    assert_eq!(ids.len(), 8);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 8, "no mail went out twice");
}

#[tokio::test]
async fn a_mail_that_keeps_failing_is_parked_and_can_be_retried_from_the_cli() {
    let (app, mut smtp) = spawn_mail_app(|c| c.mail.max_attempts = 2).await;
    smtp.stop().await;
    app.jane().await;
    assert_eq!(app.deliver().await.failed, 1);
    app.clock.advance(time::Duration::seconds(5));
    assert_eq!(app.deliver().await.failed, 1);
    app.clock.advance(time::Duration::hours(1));
    assert_eq!(app.deliver().await.failed, 0, "parked: no more tries");

    let sesame = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_sesame"))
            .args(args)
            .env_clear()
            .env("SESAME_DATABASE_URL", &app.db.url)
            .env("SESAME_DATA_DIR", app.dir.path())
            .output()
            .unwrap()
    };
    let status = sesame(&["outbox", "status", "--json"]);
    assert!(status.status.success());
    let out: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(out["parked"].as_array().unwrap().len(), 1, "{out}");
    assert_eq!(out["parked"][0]["to"], "Jane.Doe@Example.com");
    assert_eq!(out["parked"][0]["template"], "welcome");
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        !text.contains("Bonjour") && !text.contains("Hello"),
        "never the bodies: {text}"
    );
    let human = String::from_utf8_lossy(&sesame(&["outbox", "status"]).stdout).into_owned();
    assert!(human.contains("parked:") && human.contains("welcome"), "{human}");

    let retry = sesame(&["outbox", "retry", "--all"]);
    assert!(retry.status.success(), "{}", String::from_utf8_lossy(&retry.stderr));
    assert!(String::from_utf8_lossy(&retry.stdout).contains("1 mail(s) queued again"));
    smtp.restart().await;
    // The CLI queued it again at the real time; bring the test clock past that.
    app.clock.advance(time::Duration::days(2));
    assert_eq!(app.deliver().await.sent, 1);
    assert_eq!(smtp.messages().len(), 1);
    assert_eq!(sesame(&["outbox", "retry", "no-such-id"]).status.code(), Some(2));
}

#[tokio::test]
async fn without_smtp_mail_is_written_to_files_and_listed_in_development_mode() {
    let app = spawn_app_with(|c| c.dev_mode = Some(true)).await;
    app.jane().await;
    assert_eq!(app.deliver().await.sent, 1);
    let files: Vec<_> = std::fs::read_dir(app.dir.path().join("mail"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(files.iter().any(|p| p.extension().is_some_and(|e| e == "eml")));
    let page = app.get("/dev/mail").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Jane.Doe@Example.com") && html.contains("est prêt"),
        "{html}"
    );

    let prod = spawn_app_with(|c| c.dev_mode = Some(false)).await;
    assert_eq!(
        prod.get("/dev/mail").await.status(),
        404,
        "never outside development mode"
    );
}

#[tokio::test]
async fn the_background_worker_delivers_a_queued_mail_within_seconds() {
    let (app, smtp) = spawn_mail_app(|c| c.mail.worker = true).await;
    app.jane().await;
    // The worker is woken when mail is queued; wait for the SMTP server to have it (bounded).
    for _ in 0..250 {
        if !smtp.messages().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(smtp.messages().len(), 1, "delivered within 5 seconds");
}

#[tokio::test]
async fn the_not_you_link_of_a_login_notification_ends_every_session_once() {
    let (app, smtp) = spawn_mail_app(|_| {}).await;
    let jane = app.jane().await;
    let (phone, laptop) = (client(), client());
    for browser in [&phone, &laptop] {
        let (status, _) = post(
            browser,
            &app,
            "/api/v1/session",
            json!({"login": jane.nic_handle.as_str(), "password": PASSWORD}),
        )
        .await;
        assert_eq!(status, 200);
    }
    app.deliver().await;
    let notice = smtp
        .messages_to("Jane.Doe@Example.com")
        .into_iter()
        .find(|m| m.text.contains("/not-me?token="))
        .expect("a login notification with its link");
    let link = notice
        .text
        .split_whitespace()
        .find(|w| w.contains("/not-me?token="))
        .unwrap()
        .to_owned();
    assert!(link.starts_with(&app.base), "{link}");
    // Without a login: the page asks, the button ends every session.
    let stranger = client();
    let page = stranger.get(&link).send().await.unwrap().text().await.unwrap();
    let csrf_at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    let token_at = page.find("name=\"token\" value=\"").unwrap() + 20;
    let (csrf, token) = (&page[csrf_at..csrf_at + 64], &page[token_at..token_at + 64]);
    assert_eq!(
        phone.get(app.url("/api/v1/me")).send().await.unwrap().status(),
        200,
        "a GET changes nothing"
    );
    let done = stranger
        .post(app.url("/not-me"))
        .form(&[("csrf", csrf), ("token", token)])
        .send()
        .await
        .unwrap();
    let done = done.text().await.unwrap();
    assert!(done.contains("id=\"ended\""));
    // RISK-2: the link proved the mailbox, so the page leads straight to a new password.
    let reset_at = done.find("href=\"/password-reset/").expect("a reset link") + 6;
    let reset = &done[reset_at..reset_at + 16 + 64];
    assert_eq!(
        stranger.get(app.url(reset)).send().await.unwrap().status(),
        200,
        "{reset}"
    );
    for browser in [&phone, &laptop] {
        assert_eq!(browser.get(app.url("/api/v1/me")).send().await.unwrap().status(), 401);
    }
    let again = stranger
        .post(app.url("/not-me"))
        .form(&[("csrf", csrf), ("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 410, "the link works once");
    let again = again.text().await.unwrap();
    assert!(again.contains("NOT_ME_INVALID"), "its own code, not the unlock link's");
    assert!(
        again.contains("id=\"to-recover\""),
        "and the way forward: a password reset"
    );
    assert!(!again.contains("id=\"end-all\""), "no button that can't work");
}

#[tokio::test]
async fn a_device_change_is_mailed_with_when_where_and_a_working_not_you_link() {
    // #15 item 9: every security notice a customer's request causes says when, from which
    // address and device, and carries the "not you?" link.
    let (app, smtp) = spawn_mail_app(|_| {}).await;
    let jane = app.jane().await;
    crate::two_factor::enrol(&app, jane.nic_handle.as_str()).await;
    app.deliver().await;
    let notice = smtp
        .messages_to("Jane.Doe@Example.com")
        .into_iter()
        .find(|m| m.subject.contains("double authentification"))
        .expect("the 2FA notice, in French");
    let text = notice.text.replace('\u{a0}', " ");
    assert!(text.contains("25 novembre 2026 à 09:00 UTC"), "{text}");
    assert!(text.contains("Adresse IP : 127.0.0.1"), "{text}");
    let link = text
        .split_whitespace()
        .find(|w| w.contains("/not-me?token="))
        .expect("the not-you link")
        .to_owned();
    assert!(link.starts_with(&app.base), "{link}");
    let stranger = client();
    let page = stranger.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200, "the link opens without a login");
    // MAIL-1: once sent, the outbox keeps no working link.
    let bodies = sesame_store::testing::outbox_bodies(&app.app.store).await;
    assert!(!bodies.is_empty(), "the welcome mail keeps its body");
    assert!(!bodies.iter().any(|b| b.contains("/not-me?token=")), "{bodies:#?}");
}
