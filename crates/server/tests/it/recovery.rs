//! Getting back in (RECOVER-1..6) over the JSON API, with mail through a real SMTP server:
//! password reset and change, the backup email, primary email changes (including the 24-hour
//! path), lost-2FA requests with real documents, and the operator's promotion of a backup email.
//! The accounts are in France, so the mails they get are in French.

use crate::helpers::*;
use crate::smtp::{Received, Smtp};
use reqwest::Client;
use serde_json::json;
use sesame_core::recovery::RecoveryStore;

const NEW_PASSWORD: &str = "purple elephants dance at noon";
const PNG: &[u8] = include_bytes!("../fixtures/id-card.png");
const PDF: &[u8] = include_bytes!("../fixtures/id-card.pdf");

/// The first link in a mail that contains `marker`.
pub fn link_in(mail: &Received, marker: &str) -> String {
    mail.text
        .split_whitespace()
        .find(|w| w.contains(marker))
        .unwrap_or_else(|| panic!("a link with {marker} in {}", mail.text))
        .to_owned()
}

/// Delivers the outbox and returns the newest mail to `to` whose text contains `marker`.
async fn mail_with(app: &TestApp, smtp: &Smtp, to: &str, marker: &str) -> Received {
    app.deliver().await;
    smtp.messages_to(to)
        .into_iter()
        .rev()
        .find(|m| m.text.contains(marker))
        .unwrap_or_else(|| panic!("a mail to {to} with {marker} in {:#?}", smtp.messages_to(to)))
}

/// Asks for a reset link as the API does, waits for the background work, and returns the token.
/// (The API answers before the work is done; the service's handle lets the test wait for it.)
async fn reset_token(app: &TestApp, smtp: &Smtp, login: &str, to: &str) -> String {
    let client = sesame_core::audit::ClientInfo::default();
    app.app
        .services
        .recovery()
        .request_password_reset(login, &client)
        .await
        .unwrap();
    let mail = mail_with(app, smtp, to, "/password-reset/").await;
    link_in(&mail, "/password-reset/")
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_reset_link_sets_a_new_password_once_and_ends_every_session() {
    let (app, smtp) = spawn_mail_app(|_| {}).await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    let phone = client();
    assert_eq!(
        post(
            &phone,
            &app,
            "/api/v1/session",
            json!({"login": nic, "password": PASSWORD})
        )
        .await
        .0,
        200
    );
    let token = reset_token(&app, &smtp, nic, "Jane.Doe@Example.com").await;
    let mail = mail_with(&app, &smtp, "Jane.Doe@Example.com", "/password-reset/").await;
    assert!(
        mail.subject.contains(nic) || mail.text.contains(nic),
        "the mail reminds the NIC handle"
    );
    assert!(link_in(&mail, "/password-reset/").starts_with(&app.base));
    let path = format!("/api/v1/password-reset/{token}");
    let (status, body) = post(
        &app.client,
        &app,
        &path,
        json!({"nic_handle": "xx99999-ovh", "password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("NIC_HANDLE_MISMATCH"))
    );
    let (status, body) = post(
        &app.client,
        &app,
        &path,
        json!({"nic_handle": nic, "password": "Jane Doe 2026!"}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("PASSWORD_CONTAINS_PERSONAL_INFO"))
    );
    assert_eq!(app.login(nic, PASSWORD).await.status(), 200, "nothing changed yet");
    let upper = nic.to_uppercase();
    let (status, body) = post(
        &app.client,
        &app,
        &path,
        json!({"nic_handle": upper, "password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!((status, body), (200, json!({"status": "password_reset"})));
    let (status, body) = post(
        &app.client,
        &app,
        &path,
        json!({"nic_handle": nic, "password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (410, Some("RECOVERY_LINK_INVALID")),
        "used once"
    );
    for browser in [&phone, &app.client] {
        assert_eq!(
            browser.get(app.url("/api/v1/me")).send().await.unwrap().status(),
            401,
            "every session ended"
        );
    }
    assert_eq!(app.login(nic, PASSWORD).await.status(), 401);
    assert_eq!(app.login(nic, NEW_PASSWORD).await.status(), 200);
    mail_with(&app, &smtp, "Jane.Doe@Example.com", "réinitialisé grâce à un lien").await;
}

#[tokio::test]
async fn reset_links_by_email_expire_and_a_newer_one_voids_the_older() {
    let (app, smtp) = spawn_mail_app(|_| {}).await;
    let jane = app.jane().await;
    let first = reset_token(&app, &smtp, "jane.doe@example.com", "Jane.Doe@Example.com").await;
    app.advance(1);
    let second = reset_token(&app, &smtp, "JANE.DOE@example.com", "Jane.Doe@Example.com").await;
    assert_ne!(first, second);
    let body = json!({"nic_handle": jane.nic_handle.as_str(), "password": NEW_PASSWORD});
    let (status, _) = post(
        &app.client,
        &app,
        &format!("/api/v1/password-reset/{first}"),
        body.clone(),
    )
    .await;
    assert_eq!(status, 410, "voided by the newer link");
    app.advance(61);
    let (status, _) = post(&app.client, &app, &format!("/api/v1/password-reset/{second}"), body).await;
    assert_eq!(status, 410, "expired after an hour");
    assert_eq!(app.login("jane.doe@example.com", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn an_unknown_login_gets_the_same_answer_and_no_mail() {
    let (app, smtp) = spawn_mail_app(|_| {}).await;
    app.jane().await;
    let known = app
        .post_json("/api/v1/password-reset", &json!({"login": "jane.doe@example.com"}))
        .await;
    let unknown = app
        .post_json("/api/v1/password-reset", &json!({"login": "nobody@example.com"}))
        .await;
    assert_eq!(known.status(), unknown.status());
    assert_eq!(known.text().await.unwrap(), unknown.text().await.unwrap());
    let client = sesame_core::audit::ClientInfo::default();
    for login in ["nobody@example.com", "zz99999-ovh"] {
        app.app
            .services
            .recovery()
            .request_password_reset(login, &client)
            .await
            .unwrap();
    }
    app.deliver().await;
    assert!(smtp.messages_to("nobody@example.com").is_empty());
}

#[tokio::test]
async fn two_parallel_resets_with_one_link_give_one_success() {
    let (app, smtp) = spawn_mail_app(|_| {}).await;
    let jane = app.jane().await;
    let token = reset_token(&app, &smtp, jane.nic_handle.as_str(), "Jane.Doe@Example.com").await;
    let path = format!("/api/v1/password-reset/{token}");
    let body = json!({"nic_handle": jane.nic_handle.as_str(), "password": NEW_PASSWORD});
    let other = client();
    let (a, b) = tokio::join!(
        post(&app.client, &app, &path, body.clone()),
        post(&other, &app, &path, body.clone())
    );
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 410]);
}

#[tokio::test]
async fn a_reset_never_skips_the_second_factor() {
    let (app, smtp) = spawn_mail_app(|_| {}).await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    crate::two_factor::enrol(&app, nic).await;
    let token = reset_token(&app, &smtp, nic, "Jane.Doe@Example.com").await;
    let stranger = client();
    let (status, _) = post(
        &stranger,
        &app,
        &format!("/api/v1/password-reset/{token}"),
        json!({"nic_handle": nic, "password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        stranger.get(app.url("/api/v1/me")).send().await.unwrap().status(),
        401,
        "no session"
    );
    let (status, body) = post(
        &stranger,
        &app,
        "/api/v1/session",
        json!({"login": nic, "password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("second_factor_required")));
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one_and_keeps_only_this_session() {
    let (app, smtp) = spawn_mail_app(|_| {}).await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    let other = client();
    post(
        &other,
        &app,
        "/api/v1/session",
        json!({"login": nic, "password": PASSWORD}),
    )
    .await;
    assert_eq!(app.login(nic, PASSWORD).await.status(), 200);
    let put = |body| call(&app.client, &app, reqwest::Method::PUT, "/api/v1/me/password", body);
    let (status, body) = put(json!({"current_password": "wrong password here", "password": NEW_PASSWORD})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("CURRENT_PASSWORD_INVALID"))
    );
    let (status, body) = put(json!({"current_password": PASSWORD, "password": "password1234"})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("PASSWORD_TOO_COMMON"))
    );
    let (status, body) = put(json!({"current_password": PASSWORD, "password": NEW_PASSWORD})).await;
    assert_eq!((status, body), (200, json!({"status": "password_changed"})));
    assert_eq!(app.get("/api/v1/me").await.status(), 200, "this session stays");
    assert_eq!(
        other.get(app.url("/api/v1/me")).send().await.unwrap().status(),
        401,
        "the others end"
    );
    mail_with(&app, &smtp, "Jane.Doe@Example.com", "a été modifié depuis").await;
    app.advance(11);
    let (status, body) = put(json!({"current_password": NEW_PASSWORD, "password": PASSWORD})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("REAUTH_REQUIRED")),
        "SESS-3"
    );
    assert_eq!(app.login(nic, NEW_PASSWORD).await.status(), 200);
}

/// PWD-2: a subsidiary may switch on the classic policy (8 characters of every kind); the pages
/// state the rules that apply to the account, and the others keep the default.
#[tokio::test]
async fn a_subsidiary_under_the_classic_policy_takes_8_characters_of_every_kind() {
    const CLASSIC: &str = "Classic#Pass1";
    let app = spawn_app_with(|c| c.password.classic_subsidiaries = vec!["FR".into()]).await;
    let jane = app
        .account_with_password("jane@example.com", "Jane", "Doe", "FR", CLASSIC)
        .await;
    let nic = jane.nic_handle.as_str();
    assert_eq!(app.login(nic, CLASSIC).await.status(), 200);
    let page = app.get("/security/password").await.text().await.unwrap();
    assert!(page.contains("8 caractères") && page.contains("data-classic"), "{page}");
    let put = |password: &str| {
        call(
            &app.client,
            &app,
            reqwest::Method::PUT,
            "/api/v1/me/password",
            json!({"current_password": CLASSIC, "password": password}),
        )
    };
    for (password, code) in [
        ("Vq7#mPz", "PASSWORD_TOO_SHORT"),
        ("vq7#mpz2", "PASSWORD_MISSING_CHARACTER_KINDS"),
        ("Jane#Doe2", "PASSWORD_CONTAINS_PERSONAL_INFO"),
    ] {
        let (status, body) = put(password).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (422, Some(code)),
            "{password}"
        );
    }
    let (status, body) = put("Vq7#mPz2").await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("password_changed")),
        "{body}"
    );
    assert_eq!(app.login(nic, "Vq7#mPz2").await.status(), 200);

    // A British account keeps the default: 12 characters, and its page says so.
    let sam = app.account_in("sam@example.com", "Sam", "Lee", "GB").await;
    let browser = client();
    assert_eq!(password_login(&browser, &app, sam.nic_handle.as_str()).await.0, 200);
    let page = browser
        .get(app.url("/security/password"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("12 characters") && !page.contains("data-classic"),
        "{page}"
    );
    let (status, body) = call(
        &browser,
        &app,
        reqwest::Method::PUT,
        "/api/v1/me/password",
        json!({"current_password": PASSWORD, "password": "Vq7#mPz2"}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("PASSWORD_TOO_SHORT"))
    );
    // Sign-up states the rules of the country chosen.
    let french = app.get("/signup/account?country=FR").await.text().await.unwrap();
    assert!(french.contains("data-classic"), "{french}");
    let british = app.get("/signup/account?country=GB").await.text().await.unwrap();
    assert!(!british.contains("data-classic"), "{british}");
}

/// Asks for a new backup email as the app's own logged-in client.
async fn put_backup(app: &TestApp, email: &str) -> (u16, serde_json::Value) {
    call(
        &app.client,
        app,
        reqwest::Method::PUT,
        "/api/v1/me/backup-email",
        json!({"email": email}),
    )
    .await
}

#[tokio::test]
async fn a_backup_email_counts_once_its_code_came_back() {
    let (app, smtp) = spawn_mail_app(|_| {}).await;
    let jane = app.jane().await;
    assert_eq!(app.login(jane.nic_handle.as_str(), PASSWORD).await.status(), 200);
    let put = |email: &'static str| put_backup(&app, email);
    let (status, body) = put("JANE.doe@example.com").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("EMAIL_SAME_AS_CURRENT"))
    );
    let (status, body) = put("jane.backup@example.org").await;
    assert_eq!((status, body), (202, json!({"status": "code_sent"})));
    let (_, me) = status_json(app.get("/api/v1/me").await).await;
    assert_eq!(
        (me["backup_email"].as_str(), me["backup_email_verified"].as_bool()),
        (Some("j•••@example.org"), Some(false))
    );
    let code = mail_with(&app, &smtp, "jane.backup@example.org", "email de secours")
        .await
        .code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let verify = |code: &str| {
        post(
            &app.client,
            &app,
            "/api/v1/me/backup-email/verify",
            json!({"code": code}),
        )
    };
    let (status, body) = verify(wrong).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("CONTACT_CODE_INVALID"))
    );
    let (status, _) = verify(&code).await;
    assert_eq!(status, 200);
    let (_, me) = status_json(app.get("/api/v1/me").await).await;
    assert_eq!(
        (me["backup_email"].as_str(), me["backup_email_verified"].as_bool()),
        (Some("j•••@example.org"), Some(true))
    );
    mail_with(
        &app,
        &smtp,
        "Jane.Doe@Example.com",
        "adresse email de secours a été confirmée",
    )
    .await;
    let delete = app
        .client
        .delete(app.url("/api/v1/me/backup-email"))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 204);
    let (_, me) = status_json(app.get("/api/v1/me").await).await;
    assert!(me["backup_email"].is_null(), "{me}");
}

#[tokio::test]
async fn a_primary_email_change_needs_both_codes_then_the_old_address_stops_logging_in() {
    let (app, smtp) = spawn_mail_app(|_| {}).await;
    let jane = app.jane().await;
    assert_eq!(app.login(jane.nic_handle.as_str(), PASSWORD).await.status(), 200);
    let (status, started) = post(
        &app.client,
        &app,
        "/api/v1/me/email",
        json!({"email": "jane@new.example", "current_reachable": true}),
    )
    .await;
    assert_eq!(status, 202, "{started}");
    let change = started["change"].as_str().unwrap().to_owned();
    let new_code = mail_with(&app, &smtp, "jane@new.example", "email principal")
        .await
        .code();
    let current_code = mail_with(&app, &smtp, "Jane.Doe@Example.com", "remplacer cette adresse")
        .await
        .code();
    let confirm = format!("/api/v1/me/email/{change}/confirm");
    let (status, body) = post(&app.client, &app, &confirm, json!({"new_code": new_code})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("CONTACT_CODE_INVALID")),
        "one code is not enough"
    );
    let reset = reset_token(&app, &smtp, jane.nic_handle.as_str(), "Jane.Doe@Example.com").await;
    let both = json!({"current_code": current_code, "new_code": new_code});
    let (status, body) = post(&app.client, &app, &confirm, both.clone()).await;
    assert_eq!((status, body), (200, json!({"status": "applied"})));
    let body = json!({"nic_handle": jane.nic_handle.as_str(), "password": NEW_PASSWORD});
    let (status, _) = post(&app.client, &app, &format!("/api/v1/password-reset/{reset}"), body).await;
    assert_eq!(status, 410, "a link mailed to the old address is void");
    assert_eq!(app.login("jane.doe@example.com", PASSWORD).await.status(), 401);
    assert_eq!(app.login("jane@new.example", PASSWORD).await.status(), 200);
    let (status, _) = post(&app.client, &app, &confirm, both).await;
    assert_eq!(status, 404, "applied once");
    mail_with(
        &app,
        &smtp,
        "Jane.Doe@Example.com",
        "adresse email principale de votre compte a changé",
    )
    .await;
    mail_with(
        &app,
        &smtp,
        "jane@new.example",
        "adresse email principale de votre compte a changé",
    )
    .await;
}

/// RECOVER-3: the primary and the backup never end up the same address, whichever changes, and
/// whichever change is still waiting.
#[tokio::test]
async fn the_primary_and_the_backup_email_stay_different() {
    let (app, smtp) = spawn_mail_app(|_| {}).await;
    let jane = app.jane().await;
    assert_eq!(app.login(jane.nic_handle.as_str(), PASSWORD).await.status(), 200);
    let backup = |email: &'static str| put_backup(&app, email);
    let primary = |email: &str| {
        post(
            &app.client,
            &app,
            "/api/v1/me/email",
            json!({"email": email, "current_reachable": false}),
        )
    };
    let same = (422, Some("EMAIL_SAME_AS_CURRENT"));
    assert_eq!(backup("jane.backup@example.org").await.0, 202);
    let code = mail_with(&app, &smtp, "jane.backup@example.org", "email de secours")
        .await
        .code();
    let verified = post(
        &app.client,
        &app,
        "/api/v1/me/backup-email/verify",
        json!({"code": code}),
    )
    .await;
    assert_eq!(verified.0, 200);
    let (status, body) = primary("JANE.Backup@example.org").await;
    assert_eq!((status, body["error"]["code"].as_str()), same, "the verified backup");

    // A backup still waiting for its code can't become the primary either (one code per 30 s).
    app.advance(1);
    assert_eq!(backup("jane.second@example.org").await.0, 202);
    let (status, body) = primary("jane.second@example.org").await;
    assert_eq!((status, body["error"]["code"].as_str()), same, "the waiting backup");
    app.advance(1);
    assert_eq!(
        backup("jane.second@example.org").await.0,
        202,
        "asking again for the waiting backup resends its code"
    );

    // Nor the backup an address the primary is about to become.
    app.advance(1);
    schedule_change(&app, &smtp, "jane@new.example").await;
    let (status, body) = backup("Jane@New.Example").await;
    assert_eq!((status, body["error"]["code"].as_str()), same, "the waiting primary");
}

#[tokio::test]
async fn a_waiting_change_that_became_the_other_address_is_cancelled_when_its_day_comes() {
    let (app, smtp) = spawn_mail_app(|_| {}).await;
    let jane = app.jane().await;
    assert_eq!(app.login(jane.nic_handle.as_str(), PASSWORD).await.status(), 200);
    assert_eq!(put_backup(&app, "jane.backup@example.org").await.0, 202);
    // A primary change to the backup's address, started alongside the backup's own change
    // before either could see the other (the check at its start would refuse it now, so it is
    // written straight to the store), waits its day (RECOVER-4); then the backup's code comes
    // back.
    let change = waiting_primary_change(&app, jane.id, "Jane.Backup@Example.org").await;
    let store = &app.app.store;
    let code = mail_with(&app, &smtp, "jane.backup@example.org", "email de secours")
        .await
        .code();
    let verify = json!({"code": code});
    let verified = post(&app.client, &app, "/api/v1/me/backup-email/verify", verify).await;
    assert_eq!(verified.0, 200);

    // RECOVER-3 holds as the change applies: it is cancelled, and the owner told.
    app.advance(24 * 60 + 1);
    let recovery = app.app.services.recovery();
    assert_eq!(recovery.apply_due_email_changes().await.unwrap(), 0);
    let stored = store.find_email_change(change).await.unwrap().unwrap();
    assert!(
        stored.cancelled_at.is_some() && stored.completed_at.is_none(),
        "{stored:?}"
    );
    mail_with(&app, &smtp, "Jane.Doe@Example.com", "a été annulé").await;
    assert_eq!(app.login("jane.doe@example.com", PASSWORD).await.status(), 200);
    let (_, me) = status_json(app.get("/api/v1/me").await).await;
    assert_eq!(me["backup_email"].as_str(), Some("j•••@example.org"), "{me}");
}

/// Starts a change with the current address unreachable and confirms it with the new code.
async fn schedule_change(app: &TestApp, smtp: &Smtp, to: &str) -> serde_json::Value {
    let (status, started) = post(
        &app.client,
        app,
        "/api/v1/me/email",
        json!({"email": to, "current_reachable": false}),
    )
    .await;
    assert_eq!(status, 202, "{started}");
    let change = started["change"].as_str().unwrap();
    let code = mail_with(app, smtp, to, "email principal").await.code();
    let (status, body) = post(
        &app.client,
        app,
        &format!("/api/v1/me/email/{change}/confirm"),
        json!({"new_code": code}),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (202, Some("scheduled")), "{body}");
    body
}

#[tokio::test]
async fn with_the_current_mailbox_lost_a_change_waits_a_day_and_the_old_address_can_cancel_it() {
    let (app, smtp) = spawn_mail_app(|_| {}).await;
    let jane = app.jane().await;
    assert_eq!(app.login(jane.nic_handle.as_str(), PASSWORD).await.status(), 200);
    let body = schedule_change(&app, &smtp, "jane@new.example").await;
    assert!(body["applies_at"].as_str().unwrap().starts_with("2026-"), "{body}");
    let warning = mail_with(&app, &smtp, "Jane.Doe@Example.com", "/email-change/cancel?token=").await;
    let cancel = link_in(&warning, "/email-change/cancel?token=");
    let recovery = app.app.services.recovery();
    app.advance(23 * 60);
    assert_eq!(recovery.apply_due_email_changes().await.unwrap(), 0, "not yet");
    // The owner cancels from the old mailbox, without logging in.
    let token = cancel.split("token=").nth(1).unwrap();
    let client = sesame_core::audit::ClientInfo::default();
    recovery.cancel_email_change_by_link(token, &client).await.unwrap();
    assert!(
        recovery.cancel_email_change_by_link(token, &client).await.is_err(),
        "once"
    );
    app.advance(2 * 60);
    assert_eq!(recovery.apply_due_email_changes().await.unwrap(), 0, "cancelled");
    assert_eq!(app.login("jane.doe@example.com", PASSWORD).await.status(), 200);

    // A second change, not cancelled, applies once the day is over.
    assert_eq!(app.login(jane.nic_handle.as_str(), PASSWORD).await.status(), 200);
    schedule_change(&app, &smtp, "jane@other.example").await;
    app.advance(24 * 60 + 1);
    assert_eq!(recovery.apply_due_email_changes().await.unwrap(), 1);
    assert_eq!(recovery.apply_due_email_changes().await.unwrap(), 0, "applied once");
    assert_eq!(app.login("jane.doe@example.com", PASSWORD).await.status(), 401);
    assert_eq!(app.login("jane@other.example", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn a_password_reset_cancels_an_email_change_waiting_for_its_day() {
    let (app, smtp) = spawn_mail_app(|_| {}).await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    // Someone with Jane's password and a session schedules her primary address away (RECOVER-4).
    assert_eq!(app.login(nic, PASSWORD).await.status(), 200);
    schedule_change(&app, &smtp, "thief@evil.example").await;
    // Jane takes the account back with a reset link from her mailbox.
    let token = reset_token(&app, &smtp, nic, "Jane.Doe@Example.com").await;
    let reset = json!({"nic_handle": nic, "password": NEW_PASSWORD});
    let (status, body) = post(&client(), &app, &format!("/api/v1/password-reset/{token}"), reset).await;
    assert_eq!(status, 200, "{body}");
    app.advance(24 * 60 + 1);
    let recovery = app.app.services.recovery();
    assert_eq!(recovery.apply_due_email_changes().await.unwrap(), 0, "cancelled");
    assert_eq!(app.login("thief@evil.example", NEW_PASSWORD).await.status(), 401);
    assert_eq!(app.login("jane.doe@example.com", NEW_PASSWORD).await.status(), 200);
}

/// An upload of `bytes` named `name` to a request, from `browser`.
async fn upload(browser: &Client, app: &TestApp, request: &str, name: &str, bytes: Vec<u8>) -> (u16, String) {
    let part = reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned());
    let form = reqwest::multipart::Form::new().part("document", part);
    let response = browser
        .post(app.url(&format!("/api/v1/recovery-requests/{request}/documents")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    error_code(response).await
}

#[tokio::test]
async fn a_lost_devices_request_is_bound_to_a_secret_the_server_gave_not_one_the_browser_brought() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    crate::two_factor::enrol(&app, nic).await;
    let flow = password_step(&client(), &app, nic, &["totp", "backup_code"]).await;
    // A cookie tossed in by a neighbouring site: empty, so that any browser without one matches.
    let tossed = Client::new()
        .post(app.url("/api/v1/session/second-factor/lost"))
        .header("cookie", "sesame_recovery=")
        .json(&json!({"flow": flow}))
        .send()
        .await
        .unwrap();
    assert_eq!(tossed.status(), 201);
    let given = tossed.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(given.starts_with("sesame_recovery=") && given.len() > 80, "{given}");
    let request = tossed.json::<serde_json::Value>().await.unwrap()["request"]
        .as_str()
        .unwrap()
        .to_owned();
    let stranger = Client::new();
    assert_eq!(
        upload(&stranger, &app, &request, "id.pdf", PDF.to_vec()).await.0,
        404,
        "a browser without the server's secret opens nothing"
    );
}

#[tokio::test]
async fn a_lost_devices_request_takes_real_documents_encrypted_and_waits_for_support() {
    let (app, smtp) = spawn_mail_app(|_| {}).await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    crate::two_factor::enrol(&app, nic).await;
    let browser = client();
    let flow = password_step(&browser, &app, nic, &["totp", "backup_code"]).await;
    let (status, body) = post(
        &browser,
        &app,
        "/api/v1/session/second-factor/lost",
        json!({"flow": flow}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let request = body["request"].as_str().unwrap().to_owned();
    assert_eq!(
        upload(&browser, &app, &request, "passport.png", PNG.to_vec()).await.0,
        201
    );
    let exe = [b"MZ\x90\x00\x03\x00\x00\x00\x04\x00".as_slice(), &[0u8; 64]].concat();
    assert_eq!(
        upload(&browser, &app, &request, "passport.jpg", exe).await,
        (415, "DOCUMENT_TYPE_REFUSED".into())
    );
    let huge = [PDF, &vec![0u8; 11 * 1024 * 1024]].concat();
    assert_eq!(
        upload(&browser, &app, &request, "big.pdf", huge).await,
        (413, "BODY_TOO_LARGE".into())
    );
    let stranger = client();
    assert_eq!(
        upload(&stranger, &app, &request, "id.pdf", PDF.to_vec()).await.0,
        404,
        "the request id alone opens nothing"
    );
    assert_eq!(upload(&browser, &app, &request, "id.pdf", PDF.to_vec()).await.0, 201);

    // Stored encrypted: not a byte of the files' contents is in the database.
    let id = uuid::Uuid::parse_str(&request).unwrap();
    let stored = app.app.store.documents(id).await.unwrap();
    assert_eq!(stored.len(), 2);
    for doc in &stored {
        let original = if doc.content_type == "image/png" { PNG } else { PDF };
        assert!(!doc.ciphertext.windows(16).any(|w| original.windows(16).any(|o| o == w)));
        assert_eq!(
            app.app.services.recovery().open_document(doc).unwrap().as_slice(),
            original
        );
    }

    let (status, body) = post(
        &browser,
        &app,
        &format!("/api/v1/recovery-requests/{request}/submit"),
        json!({}),
    )
    .await;
    assert_eq!((status, body), (202, json!({"status": "submitted"})));
    let (_, shown) = status_json(
        browser
            .get(app.url(&format!("/api/v1/recovery-requests/{request}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(shown["status"], "awaiting_confirmation");
    let mail = mail_with(&app, &smtp, "Jane.Doe@Example.com", "/recovery/confirm?token=").await;
    let token = link_in(&mail, "/recovery/confirm?token=")
        .split("token=")
        .nth(1)
        .unwrap()
        .to_owned();
    let client_info = sesame_core::audit::ClientInfo::default();
    app.app
        .services
        .recovery()
        .confirm_request(&token, &client_info)
        .await
        .unwrap();
    let (_, shown) = status_json(
        browser
            .get(app.url(&format!("/api/v1/recovery-requests/{request}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (shown["status"].as_str(), shown["documents"].as_i64()),
        (Some("pending_review"), Some(2))
    );
    mail_with(&app, &smtp, "Jane.Doe@Example.com", "Notre support va vérifier").await;

    // One open request per account: another one waits until support decides.
    let flow = password_step(&browser, &app, nic, &["totp", "backup_code"]).await;
    let (status, body) = post(
        &browser,
        &app,
        "/api/v1/session/second-factor/lost",
        json!({"flow": flow}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("RECOVERY_REQUEST_OPEN"))
    );

    // Support has 30 days from the confirmation; then the documents are gone and the owner is
    // told (RECOVER-5: the answer comes by email), on the record.
    app.advance(30 * 24 * 60 - 1);
    app.app.services.recovery().expire_requests().await.unwrap();
    assert_eq!(app.app.store.documents(id).await.unwrap().len(), 2, "not yet");
    app.advance(2);
    app.app.services.recovery().expire_requests().await.unwrap();
    assert!(app.app.store.documents(id).await.unwrap().is_empty());
    mail_with(&app, &smtp, "Jane.Doe@Example.com", "elle a expiré").await;
    let events = sesame_core::ports::AuditLog::recent_events(app.app.store.as_ref(), jane.id, 50)
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == sesame_core::audit::AuditKind::RecoveryRequested
                && e.detail.as_deref() == Some("expired"))
    );
    app.app.services.recovery().expire_requests().await.unwrap();
    let expired = smtp
        .messages_to("Jane.Doe@Example.com")
        .iter()
        .filter(|m| m.text.contains("elle a expiré"))
        .count();
    assert_eq!(expired, 1, "told once");
}

#[tokio::test]
async fn the_operator_promotes_a_verified_backup_email_and_the_next_login_asks_for_a_new_one() {
    let (app, smtp) = spawn_mail_app(|_| {}).await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    assert!(app.promote_backup(&jane, "T-1").await.is_err(), "no backup yet");
    assert_eq!(app.login(nic, PASSWORD).await.status(), 200);
    call(
        &app.client,
        &app,
        reqwest::Method::PUT,
        "/api/v1/me/backup-email",
        json!({"email": "jane@backup.example"}),
    )
    .await;
    let code = mail_with(&app, &smtp, "jane@backup.example", "email de secours")
        .await
        .code();
    assert_eq!(
        post(
            &app.client,
            &app,
            "/api/v1/me/backup-email/verify",
            json!({"code": code})
        )
        .await
        .0,
        200
    );
    // What the old primary mailbox holds: a "not you?" link (the login's notification) and a
    // reset link. Whoever has that mailbox now may be who the promotion keeps out.
    let notice = mail_with(&app, &smtp, "Jane.Doe@Example.com", "/not-me?token=").await;
    let not_me = link_in(&notice, "/not-me?token=")
        .rsplit('=')
        .next()
        .unwrap()
        .to_owned();
    let reset = reset_token(&app, &smtp, nic, "Jane.Doe@Example.com").await;
    let promoted = app.promote_backup(&jane, "T-42").await.unwrap();
    assert_eq!(promoted.email.address(), "jane@backup.example");
    let body = json!({"nic_handle": nic, "password": NEW_PASSWORD});
    let (status, _) = post(&app.client, &app, &format!("/api/v1/password-reset/{reset}"), body).await;
    assert_eq!(status, 410, "a reset link sent to the old primary is void");
    let client = sesame_core::audit::ClientInfo::default();
    let ended = app.app.services.login().not_me(&not_me, &client).await.unwrap();
    assert_eq!(
        ended, None,
        "so is its \"not you?\" link (which would lead to a new password)"
    );
    assert!(promoted.backup_email.is_none() && promoted.backup_email_required);
    mail_with(
        &app,
        &smtp,
        "Jane.Doe@Example.com",
        "adresse email de secours l’adresse principale",
    )
    .await;
    mail_with(
        &app,
        &smtp,
        "jane@backup.example",
        "adresse email de secours l’adresse principale",
    )
    .await;
    assert_eq!(app.login("jane.doe@example.com", PASSWORD).await.status(), 401);
    let (_, logged) = status_json(app.login("jane@backup.example", PASSWORD).await).await;
    assert_eq!(logged["account"]["backup_email_required"], true, "{logged}");
}

#[tokio::test]
async fn reset_links_are_limited_per_account_without_a_different_answer() {
    let (app, smtp) = spawn_mail_app(|_| {}).await;
    app.jane().await;
    let client = sesame_core::audit::ClientInfo::default();
    let recovery = app.app.services.recovery();
    for _ in 0..7 {
        recovery
            .request_password_reset("jane.doe@example.com", &client)
            .await
            .unwrap();
    }
    app.deliver().await;
    let links = smtp
        .messages_to("Jane.Doe@Example.com")
        .into_iter()
        .filter(|m| m.text.contains("/password-reset/"))
        .count();
    assert_eq!(links, 5, "five links an hour");
    app.advance(61);
    recovery
        .request_password_reset("jane.doe@example.com", &client)
        .await
        .unwrap();
    mail_with(&app, &smtp, "Jane.Doe@Example.com", "/password-reset/").await;
    assert_eq!(
        smtp.messages_to("Jane.Doe@Example.com")
            .iter()
            .filter(|m| m.text.contains("/password-reset/"))
            .count(),
        6,
        "the next hour allows more"
    );
}

#[tokio::test]
async fn removing_the_backup_email_needs_a_fresh_login_and_a_promoted_account_is_sent_to_give_one() {
    let (app, smtp) = spawn_mail_app(|_| {}).await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    assert_eq!(app.login(nic, PASSWORD).await.status(), 200);
    call(
        &app.client,
        &app,
        reqwest::Method::PUT,
        "/api/v1/me/backup-email",
        json!({"email": "jane@backup.example"}),
    )
    .await;
    let code = mail_with(&app, &smtp, "jane@backup.example", "email de secours")
        .await
        .code();
    assert_eq!(
        post(
            &app.client,
            &app,
            "/api/v1/me/backup-email/verify",
            json!({"code": code})
        )
        .await
        .0,
        200
    );
    app.advance(11);
    let (status, code) = error_code(
        app.client
            .delete(app.url("/api/v1/me/backup-email"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (403, "REAUTH_REQUIRED"));
    app.promote_backup(&jane, "T-7").await.unwrap();
    assert_eq!(app.login("jane@backup.example", PASSWORD).await.status(), 200);
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    post(
        &browser,
        &app,
        "/api/v1/session",
        json!({"login": nic, "password": PASSWORD}),
    )
    .await;
    for page in ["/", "/security"] {
        let response = browser.get(app.url(page)).send().await.unwrap();
        assert_eq!(response.status(), 303, "{page}");
        assert_eq!(response.headers()["location"], "/security/backup-email");
    }
    let page = browser
        .get(app.url("/security/backup-email"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"backup-required\""), "the page says why");
}

#[tokio::test]
async fn lost_devices_requests_mail_their_link_no_more_than_codes_are_mailed() {
    let (app, _smtp) = spawn_mail_app(|_| {}).await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    crate::two_factor::enrol(&app, nic).await;
    let browser = client();
    let mut answers = Vec::new();
    for _ in 0..2 {
        let flow = password_step(&browser, &app, nic, &["totp", "backup_code"]).await;
        let (_, started) = post(
            &browser,
            &app,
            "/api/v1/session/second-factor/lost",
            json!({"flow": flow}),
        )
        .await;
        let request = started["request"].as_str().unwrap().to_owned();
        assert_eq!(upload(&browser, &app, &request, "id.png", PNG.to_vec()).await.0, 201);
        let path = format!("/api/v1/recovery-requests/{request}/submit");
        answers.push(post(&browser, &app, &path, json!({})).await.0);
    }
    assert_eq!(answers, [202, 429], "a second confirmation mail within 30 s waits");
}
