//! SESS-1, SESS-2: the session cookie, logout, idle and absolute expiry (moved clock).

use crate::helpers::*;

#[tokio::test]
async fn the_cookie_is_http_only_and_lax_and_plain_on_http() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    let response = app.login(jane.nic_handle.as_str(), PASSWORD).await;
    let set_cookie = response
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(set_cookie.starts_with("sesame_session="), "{set_cookie}");
    assert!(set_cookie.contains("HttpOnly"));
    assert!(set_cookie.contains("SameSite=Lax"));
    assert!(set_cookie.contains("Path=/"));
    assert!(
        !set_cookie.contains("Secure"),
        "plain http must not set Secure: {set_cookie}"
    );
    let token = session_cookie(&response).split_once('=').unwrap().1.to_owned();
    assert_eq!(token.len(), 64, "256 bits, hex");
}

#[tokio::test]
async fn over_https_the_cookie_is_host_prefixed_and_secure() {
    let app = spawn_app_with(|c| c.public_url = "https://login.example.com".into()).await;
    let jane = app.jane().await;
    let response = app
        .client
        .post(app.url("/api/v1/session"))
        .header("origin", "https://login.example.com")
        .json(&serde_json::json!({"login": jane.nic_handle.as_str(), "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("strict-transport-security").is_some());
    let set_cookie = response.headers().get("set-cookie").unwrap().to_str().unwrap();
    assert!(set_cookie.starts_with("__Host-sesame_session="), "{set_cookie}");
    assert!(set_cookie.contains("Secure"));
    assert!(!set_cookie.contains("Domain"));
}

#[tokio::test]
async fn after_logout_the_old_cookie_is_refused() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    let cookie = session_cookie(&app.login(jane.nic_handle.as_str(), PASSWORD).await);
    let again = || {
        client()
            .get(app.url("/api/v1/me"))
            .header("cookie", cookie.clone())
            .send()
    };
    assert_eq!(again().await.unwrap().status(), 200);
    let logout = app.client.delete(app.url("/api/v1/session")).send().await.unwrap();
    assert_eq!(logout.status(), 204);
    let removal = logout.headers().get("set-cookie").unwrap().to_str().unwrap();
    assert!(
        removal.contains("Max-Age=0") || removal.contains("Expires="),
        "{removal}"
    );
    assert_eq!(error_code(again().await.unwrap()).await, (401, "AUTH_REQUIRED".into()));
    // Logging out again, or without a session, is harmless.
    let twice = client()
        .delete(app.url("/api/v1/session"))
        .header("cookie", cookie.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(twice.status(), 204);
}

#[tokio::test]
async fn me_needs_a_valid_session() {
    let app = spawn_app().await;
    assert_eq!(
        error_code(app.get("/api/v1/me").await).await,
        (401, "AUTH_REQUIRED".into())
    );
    let forged = client()
        .get(app.url("/api/v1/me"))
        .header("cookie", format!("sesame_session={}", "ab".repeat(32)))
        .send();
    assert_eq!(error_code(forged.await.unwrap()).await, (401, "AUTH_REQUIRED".into()));
    let junk = client()
        .get(app.url("/api/v1/me"))
        .header("cookie", "sesame_session=%00%ff;;==")
        .send();
    assert_eq!(error_code(junk.await.unwrap()).await, (401, "AUTH_REQUIRED".into()));
}

#[tokio::test]
async fn an_idle_session_ends_after_30_minutes() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    app.login(jane.nic_handle.as_str(), PASSWORD).await;
    // Activity keeps it alive well past 30 minutes from login.
    for _ in 0..3 {
        app.advance(20);
        assert_eq!(app.get("/api/v1/me").await.status(), 200);
    }
    app.advance(29);
    assert_eq!(app.get("/api/v1/me").await.status(), 200);
    app.advance(30);
    assert_eq!(
        error_code(app.get("/api/v1/me").await).await,
        (401, "AUTH_REQUIRED".into())
    );
    // Once ended it stays ended, even if the clock went back.
    app.advance(-60);
    assert_eq!(app.get("/api/v1/me").await.status(), 401);
}

#[tokio::test]
async fn every_session_ends_after_12_hours_however_active() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    app.login(jane.nic_handle.as_str(), PASSWORD).await;
    for _ in 0..(12 * 60 / 20 - 1) {
        app.advance(20);
        assert_eq!(app.get("/api/v1/me").await.status(), 200);
    }
    app.advance(20);
    assert_eq!(
        error_code(app.get("/api/v1/me").await).await,
        (401, "AUTH_REQUIRED".into())
    );
}

#[tokio::test]
async fn each_login_gets_its_own_session() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    let first = session_cookie(&app.login(jane.nic_handle.as_str(), PASSWORD).await);
    let second = session_cookie(&app.login(jane.nic_handle.as_str(), PASSWORD).await);
    assert_ne!(first, second);
    let logout = client()
        .delete(app.url("/api/v1/session"))
        .header("cookie", first.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    let me = |c: String| client().get(app.url("/api/v1/me")).header("cookie", c).send();
    assert_eq!(me(first).await.unwrap().status(), 401);
    assert_eq!(me(second).await.unwrap().status(), 200);
}
