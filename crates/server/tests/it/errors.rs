//! OPS-5: bad input of every kind gets a 4xx with a stable code, never a panic or a 500, and
//! nothing stored is lost.

use crate::helpers::*;
use serde_json::json;

async fn raw_post(app: &TestApp, content_type: Option<&str>, body: Vec<u8>) -> (u16, String) {
    let mut req = app.client.post(app.url("/api/v1/session")).body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    error_code(req.send().await.unwrap()).await
}

#[tokio::test]
async fn malformed_requests_get_codes() {
    let app = spawn_app().await;
    let json = Some("application/json");
    assert_eq!(
        raw_post(&app, json, b"{\"login\": ".to_vec()).await,
        (400, "MALFORMED_JSON".into())
    );
    assert_eq!(
        raw_post(&app, json, b"[]".to_vec()).await,
        (422, "INVALID_REQUEST".into())
    );
    // serde would read a struct from an array of its fields in order: not a body the API takes.
    assert_eq!(
        raw_post(&app, json, br#"["jane", "a password"]"#.to_vec()).await,
        (422, "INVALID_REQUEST".into())
    );
    assert_eq!(
        raw_post(&app, json, b"{\"login\": 5, \"password\": \"x\"}".to_vec()).await,
        (422, "INVALID_REQUEST".into())
    );
    assert_eq!(
        raw_post(&app, json, b"{\"login\": \"a\"}".to_vec()).await,
        (422, "INVALID_REQUEST".into())
    );
    assert_eq!(raw_post(&app, json, b"".to_vec()).await, (400, "MALFORMED_JSON".into()));
    // Invalid UTF-8 and a lone surrogate escape.
    assert_eq!(
        raw_post(&app, json, b"{\"login\": \"\xff\xfe\", \"password\": \"x\"}".to_vec()).await,
        (400, "MALFORMED_JSON".into())
    );
    assert_eq!(
        raw_post(&app, json, br#"{"login": "\ud800", "password": "x"}"#.to_vec()).await,
        (400, "MALFORMED_JSON".into())
    );
}

#[tokio::test]
async fn paths_that_are_not_text_once_decoded_get_a_code() {
    let app = spawn_app().await;
    for path in ["/api/v1/recovery-requests/%FF", "/api/v1/recovery-requests/%C3%28"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(error_code(response).await, (404, "NOT_FOUND".into()), "{path}");
    }
    // A page answers with a page, in the visitor's language.
    let page = app.client.get(app.url("/signup/%FF")).send().await.unwrap();
    assert_eq!(page.status(), 404);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    // Percent-encoded text is still text.
    let fine = app
        .client
        .get(app.url("/api/v1/recovery-requests/%C3%A9"))
        .send()
        .await
        .unwrap();
    assert_ne!(fine.headers()["content-type"], "text/plain; charset=utf-8");
}

#[tokio::test]
async fn wrong_content_types_get_415() {
    let app = spawn_app().await;
    let body = br#"{"login": "a", "password": "b"}"#.to_vec();
    assert_eq!(
        raw_post(&app, None, body.clone()).await,
        (415, "UNSUPPORTED_CONTENT_TYPE".into())
    );
    assert_eq!(
        raw_post(&app, Some("text/plain"), body.clone()).await,
        (415, "UNSUPPORTED_CONTENT_TYPE".into())
    );
    assert_eq!(
        raw_post(
            &app,
            Some("application/x-www-form-urlencoded"),
            b"login=a&password=b".to_vec()
        )
        .await,
        (415, "UNSUPPORTED_CONTENT_TYPE".into())
    );
}

#[tokio::test]
async fn bodies_over_64_kib_get_413() {
    let app = spawn_app().await;
    let huge = json!({"login": "a".repeat(70 * 1024), "password": "x"});
    assert_eq!(
        error_code(app.post_json("/api/v1/session", &huge).await).await,
        (413, "BODY_TOO_LARGE".into())
    );
    let just_fits = json!({"login": "a".repeat(60 * 1024), "password": "x"});
    assert_eq!(
        error_code(app.post_json("/api/v1/session", &just_fits).await).await,
        (401, "LOGIN_INVALID_CREDENTIALS".into())
    );
}

#[tokio::test]
async fn a_lower_maximum_holds_new_passwords_and_locks_nobody_out() {
    // PWD-2: `password.max_length` is for new passwords; one set under a higher maximum still
    // logs in.
    let app = spawn_app().await;
    let nic = app.jane().await.nic_handle.as_str().to_owned();
    let TestApp { db, dir, .. } = app;
    let app = spawn_on(db, dir, |c| c.password.max_length = 20).await;
    assert_eq!(
        app.login(&nic, PASSWORD).await.status(),
        200,
        "28 characters, set before"
    );
    let change = json!({"current_password": PASSWORD, "password": "purple elephants dance at noon"});
    let (status, body) = call(&app.client, &app, reqwest::Method::PUT, "/api/v1/me/password", change).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("PASSWORD_TOO_LONG")),
        "{body}"
    );
    assert!(body["error"]["message"].as_str().unwrap().contains("20"), "{body}");
}

#[tokio::test]
async fn over_long_passwords_are_refused_before_hashing() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    // A login reads up to the most any setting allows (PWD-2), not the new-password maximum.
    let long = "é".repeat(sesame_core::types::MOST_PASSWORD_CHARS + 1);
    assert_eq!(
        error_code(app.login(jane.nic_handle.as_str(), &long).await).await,
        (400, "PASSWORD_TOO_LONG".into())
    );
    let at_limit = "é".repeat(sesame_core::types::MOST_PASSWORD_CHARS);
    assert_eq!(
        error_code(app.login(jane.nic_handle.as_str(), &at_limit).await).await,
        (401, "LOGIN_INVALID_CREDENTIALS".into())
    );
}

#[tokio::test]
async fn odd_unicode_is_just_a_failed_login() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    for login in [
        "\u{0}",
        "ab\u{202e}12345-ovh",
        "\u{feff}",
        "𝓳𝓪𝓷𝓮@example.com",
        "' OR 1=1 --",
        "%",
        "_",
        "\u{10ffff}",
    ] {
        for password in ["", "\u{0}", "\u{202e}x"] {
            let got = error_code(app.login(login, password).await).await;
            assert_eq!(got, (401, "LOGIN_INVALID_CREDENTIALS".into()), "{login:?} {password:?}");
            // Past the source address's free tries (RISK-2), let its wait pass.
            app.advance(16);
        }
    }
    // Nothing stored was harmed.
    assert_eq!(app.login(jane.nic_handle.as_str(), PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn unknown_paths_and_methods_get_codes() {
    let app = spawn_app().await;
    assert_eq!(
        error_code(app.get("/api/v1/nope").await).await,
        (404, "NOT_FOUND".into())
    );
    let put = app.client.put(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(error_code(put).await, (405, "METHOD_NOT_ALLOWED".into()));
    assert_eq!(
        error_code(app.get("/static/nope.css").await).await,
        (404, "NOT_FOUND".into())
    );
}
