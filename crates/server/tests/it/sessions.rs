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

#[tokio::test]
async fn customers_see_and_end_their_sessions_devices_and_activity() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    let (a, b, c) = (client(), client(), client());
    for browser in [&a, &b, &c] {
        let (status, _) = post(
            browser,
            &app,
            "/api/v1/session",
            serde_json::json!({"login": nic, "password": PASSWORD}),
        )
        .await;
        assert_eq!(status, 200);
    }
    let get = |browser: &reqwest::Client, path: &str| {
        let (browser, url) = (browser.clone(), app.url(path));
        async move { status_json(browser.get(url).send().await.unwrap()).await }
    };
    let delete = |browser: &reqwest::Client, path: String| {
        let (browser, url) = (browser.clone(), app.url(&path));
        async move {
            let response = browser.delete(url).send().await.unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            (status, body)
        }
    };

    // SESS-4: three live sessions, this one first; ending B's ends it at once.
    let (status, sessions) = get(&a, "/api/v1/me/sessions").await;
    assert_eq!(status, 200);
    let list = sessions.as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list[0]["current"], true);
    assert!(list[1..].iter().all(|s| s["current"] == false));
    let (_, b_view) = get(&b, "/api/v1/me/sessions").await;
    let b_id = b_view[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(delete(&a, format!("/api/v1/me/sessions/{b_id}")).await.0, 204);
    assert_eq!(b.get(app.url("/api/v1/me")).send().await.unwrap().status(), 401);
    assert_eq!(
        delete(&a, format!("/api/v1/me/sessions/{b_id}")).await.0,
        404,
        "already ended"
    );
    // Every other session at once.
    let (status, ended) = delete(&a, "/api/v1/me/sessions".into()).await;
    assert_eq!((status, ended["ended"].as_u64()), (200, Some(1)));
    assert_eq!(c.get(app.url("/api/v1/me")).send().await.unwrap().status(), 401);
    assert_eq!(
        a.get(app.url("/api/v1/me")).send().await.unwrap().status(),
        200,
        "this one stays"
    );

    // RISK-2: each browser that logged in is a known device; one can be forgotten.
    let (_, devices) = get(&a, "/api/v1/me/devices").await;
    let devices = devices.as_array().unwrap().clone();
    assert_eq!(devices.len(), 3);
    assert_eq!(devices.iter().filter(|d| d["current"] == true).count(), 1);
    let other = devices.iter().find(|d| d["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.advance(1);
    assert_eq!(delete(&a, format!("/api/v1/me/devices/{other}")).await.0, 204);
    let (_, devices) = get(&a, "/api/v1/me/devices").await;
    assert_eq!(devices.as_array().unwrap().len(), 2);

    // AUDIT-2: all of it is in the activity, newest first, with address and device.
    let (_, activity) = get(&a, "/api/v1/me/activity").await;
    let kinds: Vec<&str> = activity
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds[0], "device_forgotten", "{kinds:?}");
    assert!(
        kinds.contains(&"session_ended") && kinds.contains(&"login_succeeded"),
        "{kinds:?}"
    );
    assert_eq!(activity[0]["ip"], "127.0.0.1");
    // AUDIT-1: each event knows its browser; this one's are marked, the others' logins are not.
    let logins_here: Vec<bool> = activity
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "login_succeeded")
        .map(|e| e["this_browser"].as_bool().unwrap())
        .collect();
    assert_eq!(
        (logins_here.iter().filter(|h| **h).count(), logins_here.len()),
        (1, 3),
        "{activity}"
    );
    assert_eq!(activity[0]["this_browser"], true, "the forgetting, done here");
    // And on the security page.
    let page = a.get(app.url("/security")).send().await.unwrap().text().await.unwrap();
    for id in [
        "id=\"session-list\"",
        "id=\"known-list\"",
        "id=\"activity\"",
        "id=\"known-2\"",
    ] {
        assert!(page.contains(id), "{id}");
    }
    assert!(
        page.contains("(this browser)") || page.contains("(ce navigateur)"),
        "the activity marks this browser's events"
    );
}

#[tokio::test]
async fn a_session_ended_on_one_node_is_over_on_every_node() {
    let a = spawn_app().await;
    let key = a.dir.path().join("secret.key");
    let (url, key) = (a.db.url.clone(), key.to_str().unwrap().to_owned());
    // A second node on the same database and key file.
    let b = spawn_app_with(move |c| {
        c.database_url = url;
        c.secret_key_file = key;
    })
    .await;
    let jane = a.jane().await;
    let browser = client();
    let (status, _) = post(
        &browser,
        &a,
        "/api/v1/session",
        serde_json::json!({"login": jane.nic_handle.as_str(), "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 200);
    // Node A checks the session, so it keeps it for a second (SESS-2's per-node cache).
    assert_eq!(browser.get(a.url("/api/v1/me")).send().await.unwrap().status(), 200);
    // Cookies go to a host whatever its port: the browser presents node A's session to node B.
    let listed = browser.get(b.url("/api/v1/me/sessions")).send().await.unwrap();
    assert_eq!(listed.status(), 200, "node B knows node A's session");
    let list: serde_json::Value = listed.json().await.unwrap();
    let id = list[0]["id"].as_str().unwrap().to_owned();
    // Ended through node B (as its owner, from another session there), over on node A at once.
    let other = client();
    let (status, _) = post(
        &other,
        &b,
        "/api/v1/session",
        serde_json::json!({"login": jane.nic_handle.as_str(), "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 200);
    let ended = other
        .delete(b.url(&format!("/api/v1/me/sessions/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 204);
    // Over on node B at once; node A trusts what it checked for up to a second.
    assert_eq!(browser.get(b.url("/api/v1/me")).send().await.unwrap().status(), 401);
    assert_eq!(browser.get(a.url("/api/v1/me")).send().await.unwrap().status(), 200);
    a.clock.advance(time::Duration::milliseconds(999));
    assert_eq!(browser.get(a.url("/api/v1/me")).send().await.unwrap().status(), 200);
    a.clock.advance(time::Duration::milliseconds(1));
    assert_eq!(browser.get(a.url("/api/v1/me")).send().await.unwrap().status(), 401);
}

#[tokio::test]
async fn a_session_ended_on_this_node_stops_at_once_though_it_was_just_checked() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    let (browser, other) = (client(), client());
    for c in [&browser, &other] {
        let body = serde_json::json!({"login": jane.nic_handle.as_str(), "password": PASSWORD});
        assert_eq!(post(c, &app, "/api/v1/session", body).await.0, 200);
        assert_eq!(c.get(app.url("/api/v1/me")).send().await.unwrap().status(), 200);
    }
    let check: serde_json::Value = browser
        .get(app.url("/api/v1/session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(check["nic_handle"], jane.nic_handle.as_str());
    assert_eq!(check["authenticated_at"], "2026-11-25T09:00:00Z");
    assert_eq!(check["expires_at"], "2026-11-25T21:00:00Z");
    // Logout: over at once for this browser, the other session untouched.
    let out = browser.delete(app.url("/api/v1/session")).send().await.unwrap();
    assert!(out.status().is_success());
    let checked = browser.get(app.url("/api/v1/session")).send().await.unwrap();
    assert_eq!(checked.status(), 401);
    assert_eq!(other.get(app.url("/api/v1/me")).send().await.unwrap().status(), 200);
    // A block through this node (operator or support desk) ends the other one at once.
    block(&app, jane.id, true).await;
    assert_eq!(other.get(app.url("/api/v1/me")).send().await.unwrap().status(), 401);
}
