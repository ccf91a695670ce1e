//! LOGIN-1, ACCT-3, ACCT-5, PWD-1, PWD-3: password login over JSON.

use crate::helpers::*;
use serde_json::json;
use sesame_core::audit::AuditKind;
use sesame_core::ports::{AccountStore, AuditLog};

#[tokio::test]
async fn login_by_nic_handle_in_odd_case_and_spacing() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    let odd = format!("  {}\t", jane.nic_handle.as_str().to_uppercase());
    let (status, body) = status_json(app.login(&odd, PASSWORD).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "logged_in");
    assert_eq!(body["account"]["nic_handle"], jane.nic_handle.as_str());
    let (status, me) = status_json(app.get("/api/v1/me").await).await;
    assert_eq!(status, 200);
    assert_eq!(me["nic_handle"], jane.nic_handle.as_str());
    assert_eq!(me["customer_code"], jane.customer_code.as_str());
    assert_eq!(me["email"], "Jane.Doe@Example.com");
    assert_eq!(me["first_name"], "Jane");
    assert_eq!(me["last_name"], "Doe");
}

#[tokio::test]
async fn login_by_email_in_any_case_or_width() {
    let app = spawn_app().await;
    app.jane().await;
    for login in [
        "jane.doe@example.com",
        " JANE.DOE@EXAMPLE.COM ",
        "ｊａｎｅ.ｄｏｅ@ｅｘａｍｐｌｅ.ｃｏｍ",
    ] {
        let response = client()
            .post(app.url("/api/v1/session"))
            .json(&json!({"login": login, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{login}");
    }
    // A dotless ı is another letter, not a case variant (ACCT-3).
    assert_eq!(app.login("jane.doe@exampıe.com", PASSWORD).await.status(), 401);
}

#[tokio::test]
async fn unknown_account_and_wrong_password_are_indistinguishable() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    let wrong = app.login(jane.nic_handle.as_str(), "not the right password").await;
    let wrong_headers: Vec<_> = wrong.headers().keys().map(|k| k.as_str().to_owned()).collect();
    let wrong = status_json(wrong).await;
    let unknown = app.login("zz99999-ovh", "not the right password").await;
    let unknown_headers: Vec<_> = unknown.headers().keys().map(|k| k.as_str().to_owned()).collect();
    let unknown = status_json(unknown).await;
    let unknown_email = status_json(app.login("nobody@example.com", PASSWORD).await).await;
    assert_eq!(wrong.0, 401);
    assert_eq!(wrong.1["error"]["code"], "LOGIN_INVALID_CREDENTIALS");
    assert_eq!(wrong, unknown);
    assert_eq!(wrong, unknown_email);
    assert_eq!(wrong_headers, unknown_headers);
    assert!(!wrong_headers.iter().any(|h| h == "set-cookie"));
}

#[tokio::test]
async fn logins_are_audited_without_what_was_typed() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    app.login(jane.nic_handle.as_str(), "not the right password").await;
    app.login(jane.nic_handle.as_str(), PASSWORD).await;
    let client_delete = app.client.delete(app.url("/api/v1/session")).send().await.unwrap();
    assert_eq!(client_delete.status(), 204);
    let events = app.app.store.recent_events(jane.id, 10).await.unwrap();
    let kinds: Vec<_> = events.iter().map(|e| (e.kind, e.success)).collect();
    assert!(kinds.contains(&(AuditKind::LoginFailed, false)));
    assert!(kinds.contains(&(AuditKind::LoginSucceeded, true)));
    assert!(kinds.contains(&(AuditKind::Logout, true)));
    assert!(kinds.contains(&(AuditKind::AccountCreated, true)));
    let failed = events.iter().find(|e| e.kind == AuditKind::LoginFailed).unwrap();
    assert_eq!(failed.ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(failed.detail.as_deref(), Some("wrong_password"));
}

#[tokio::test]
async fn a_blocked_account_is_told_only_after_a_correct_password() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    assert_eq!(app.login(jane.nic_handle.as_str(), PASSWORD).await.status(), 200);
    block(&app, jane.id, true).await;
    // Blocking ended the session (ACCT-5).
    assert_eq!(
        error_code(app.get("/api/v1/me").await).await,
        (401, "AUTH_REQUIRED".into())
    );
    let wrong = error_code(app.login(jane.nic_handle.as_str(), "not the right password").await).await;
    assert_eq!(wrong, (401, "LOGIN_INVALID_CREDENTIALS".into()));
    let right = error_code(app.login(jane.nic_handle.as_str(), PASSWORD).await).await;
    assert_eq!(right, (403, "ACCOUNT_BLOCKED".into()));
    block(&app, jane.id, false).await;
    assert_eq!(app.login(jane.nic_handle.as_str(), PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn a_full_hashing_pool_answers_503_with_retry_after() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    let held = app.app.services.hasher().occupy_all_slots().await.unwrap();
    let response = app.login(jane.nic_handle.as_str(), PASSWORD).await;
    assert_eq!(response.headers().get("retry-after").unwrap(), "1");
    assert_eq!(error_code(response).await, (503, "SERVICE_BUSY".into()));
    drop(held);
    assert_eq!(app.login(jane.nic_handle.as_str(), PASSWORD).await.status(), 200);
    let metrics = app.metrics().await.text().await.unwrap();
    assert!(metrics.contains("sesame_logins_total{outcome=\"busy\"} 1"), "{metrics}");
    assert!(
        metrics.contains("sesame_logins_total{outcome=\"success\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_hash_made_with_old_settings_is_upgraded_at_the_next_login() {
    let old = spawn_app().await;
    let jane = old.jane().await;
    let before = old.app.store.password_credential(jane.id).await.unwrap().unwrap().phc;
    assert!(before.starts_with("$argon2id$v=19$m=256,t=1,p=1$"), "{before}");
    let TestApp { db, dir, .. } = old;
    let new = spawn_on(db, dir, |c| c.argon2.t_cost = 2).await;
    assert_eq!(new.login(jane.nic_handle.as_str(), PASSWORD).await.status(), 200);
    let after = new.app.store.password_credential(jane.id).await.unwrap().unwrap().phc;
    assert!(after.starts_with("$argon2id$v=19$m=256,t=2,p=1$"), "{after}");
    assert_eq!(
        client()
            .post(new.url("/api/v1/session"))
            .json(&json!({"login": jane.nic_handle.as_str(), "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn forwarded_for_counts_only_from_trusted_proxies() {
    for (trusted, expected) in [(vec![], "127.0.0.1"), (vec!["127.0.0.1".to_owned()], "198.51.100.7")] {
        let app = spawn_app_with(|c| c.trusted_proxies = trusted).await;
        let jane = app.jane().await;
        app.advance(1);
        let response = app
            .client
            .post(app.url("/api/v1/session"))
            .header("x-forwarded-for", "6.6.6.6, 198.51.100.7")
            .json(&json!({"login": jane.nic_handle.as_str(), "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let events = app.app.store.recent_events(jane.id, 1).await.unwrap();
        assert_eq!(events[0].kind, AuditKind::LoginSucceeded);
        assert_eq!(events[0].ip.as_deref(), Some(expected));
    }
}
