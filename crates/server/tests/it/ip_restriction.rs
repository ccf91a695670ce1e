//! RISK-3: the IP restriction refuses logins from denied addresses after the password (with
//! their own message and an alert mail when asked), can't be saved so that it shuts out the
//! address saving it, and needs a fresh authentication. Addresses come from `X-Forwarded-For`.

use crate::helpers::*;
use reqwest::Client;
use serde_json::{Value, json};

async fn from(
    client: &Client,
    app: &TestApp,
    ip: &str,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let response = client
        .request(method, app.url(path))
        .header("x-forwarded-for", ip)
        .json(&body)
        .send()
        .await
        .unwrap();
    status_json(response).await
}

#[tokio::test]
async fn denied_addresses_are_refused_after_the_password_and_the_saver_is_never_shut_out() {
    let (app, smtp) = spawn_mail_app(|c| c.trusted_proxies = vec!["127.0.0.1".into()]).await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    let login = |ip: &'static str, password: &'static str| {
        let app = &app;
        async move {
            from(
                &client(),
                app,
                ip,
                reqwest::Method::POST,
                "/api/v1/session",
                json!({"login": nic, "password": password}),
            )
            .await
        }
    };
    let owner = client();
    let (status, _) = from(
        &owner,
        &app,
        "192.0.2.10",
        reqwest::Method::POST,
        "/api/v1/session",
        json!({"login": nic, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 200);
    let put = |ip: &'static str, rules: Value| {
        let (owner, app) = (owner.clone(), &app);
        async move {
            from(
                &owner,
                app,
                ip,
                reqwest::Method::PUT,
                "/api/v1/me/ip-restrictions",
                rules,
            )
            .await
        }
    };

    // Rules that would refuse the address saving them are refused.
    let (status, body) = put(
        "192.0.2.10",
        json!({"default": "deny", "rules": [{"cidr": "198.51.100.0/24", "action": "allow"}]}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("IP_RULES_WOULD_LOCK_YOU_OUT"))
    );
    let (status, body) = put(
        "192.0.2.10",
        json!({"default": "allow", "rules": [{"cidr": "not an address", "action": "deny"}]}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let rules = json!({"default": "deny", "rules": [
        {"cidr": "192.0.2.10/24", "action": "allow"},
        {"cidr": "192.0.2.66", "action": "deny", "alert": true}
    ]});
    let (status, saved) = put("192.0.2.10", rules).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["rules"][0]["cidr"], "192.0.2.0/24", "ranges kept canonical");

    // The right password from elsewhere: refused with its own message; a wrong one: the usual answer.
    assert_eq!(login("203.0.113.5", "not the password").await.0, 401);
    let (status, body) = login("203.0.113.5", PASSWORD).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("LOGIN_IP_DENIED")));
    // The most specific rule decides; an alert rule mails the owner.
    let (status, _) = login("192.0.2.66", PASSWORD).await;
    assert_eq!(status, 403);
    assert_eq!(login("192.0.2.20", PASSWORD).await.0, 200);
    app.deliver().await;
    let subjects: Vec<String> = smtp
        .messages_to("Jane.Doe@Example.com")
        .into_iter()
        .map(|m| m.subject)
        .collect();
    assert!(
        subjects.iter().any(|s| s.contains("refusée par votre restriction IP")),
        "{subjects:?}"
    );
    assert!(
        subjects.iter().any(|s| s.contains("restriction IP a changé")),
        "{subjects:?}"
    );

    // A stale session can't change them (SESS-3).
    app.advance(11);
    let (status, body) = put("192.0.2.10", json!({"default": "allow", "rules": []})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("REAUTH_REQUIRED")));
    let (_, current) = from(
        &owner,
        &app,
        "192.0.2.10",
        reqwest::Method::GET,
        "/api/v1/me/ip-restrictions",
        json!({}),
    )
    .await;
    assert_eq!(current["default"], "deny");
}
