//! Security keys (MFA-3, MFA-6, RISK-4, SESS-3) with a software authenticator
//! (`webauthn-authenticator-rs`' SoftToken): enrol, log in, replays and foreign challenges
//! refused, a sign counter going backwards refused, one success for two parallel uses, removal
//! with a touch or after a login with another factor. The browser tests drive Chromium's virtual
//! authenticator through the same API.

use crate::helpers::*;
use reqwest::Client;
use serde_json::{Value, json};
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softtoken::SoftToken;
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};

/// The methods a login of this module's accounts offers.
const METHODS: &[&str] = &["security_key", "backup_code"];

/// An app whose public URL is a name (`localhost`), as WebAuthn requires.
async fn key_app() -> TestApp {
    spawn_app_with(|c| c.public_url = c.public_url.replace("127.0.0.1", "localhost")).await
}

fn origin(app: &TestApp) -> Url {
    Url::parse(&app.base.replace("127.0.0.1", "localhost")).unwrap()
}

/// Enrols a key for the logged-in `client`; returns its device id and the backup codes.
async fn enrol_key(client: &Client, app: &TestApp, token: &mut SoftToken) -> (String, Vec<String>) {
    let (status, begun) = post(
        client,
        app,
        "/api/v1/me/2fa/security-keys",
        json!({"description": "Yubikey"}),
    )
    .await;
    assert_eq!(status, 201, "{begun}");
    let id = begun["id"].as_str().unwrap().to_owned();
    let options: CreationChallengeResponse = serde_json::from_value(begun["options"].clone()).unwrap();
    let credential = token.do_registration(origin(app), options).unwrap();
    let (status, enabled) = post(
        client,
        app,
        &format!("/api/v1/me/2fa/security-keys/{id}/enable"),
        json!({"credential": credential}),
    )
    .await;
    assert_eq!(status, 200, "{enabled}");
    let codes = enabled["backup_codes"]
        .as_array()
        .map(|a| a.iter().map(|c| c.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    (id, codes)
}

/// The flow's challenge for the key.
async fn key_challenge(client: &Client, app: &TestApp, flow: &str) -> RequestChallengeResponse {
    let (status, body) = post(
        client,
        app,
        "/api/v1/session/second-factor/challenge",
        json!({"flow": flow, "method": "security_key"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body["options"].clone()).unwrap()
}

async fn answer(client: &Client, app: &TestApp, flow: &str, credential: &Value) -> (u16, Value) {
    post(
        client,
        app,
        "/api/v1/session/second-factor",
        json!({"flow": flow, "method": "security_key", "credential": credential}),
    )
    .await
}

fn sign(app: &TestApp, token: &mut SoftToken, options: RequestChallengeResponse) -> Value {
    serde_json::to_value(token.do_authentication(origin(app), options).unwrap()).unwrap()
}

/// A key-only account (no app, no phone): the app, Jane's NIC handle, her key, its device id
/// and the backup codes.
async fn enrolled() -> (TestApp, String, SoftToken, String, Vec<String>) {
    let app = key_app().await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str().to_owned();
    assert_eq!(app.login(&nic, PASSWORD).await.status(), 200);
    let (mut token, _) = SoftToken::new(true).unwrap();
    let (id, codes) = enrol_key(&app.client, &app, &mut token).await;
    let summary = app.app.services.devices().two_factor_summary(&jane).await.unwrap();
    assert!(
        summary.enabled,
        "on with a key alone (the CLI's `account show` reads this summary)"
    );
    (app, nic, token, id, codes)
}

#[tokio::test]
async fn a_key_alone_turns_2fa_on_and_logs_in_while_replays_and_foreign_challenges_fail() {
    let (app, nic, mut token, _, codes) = enrolled().await;
    assert_eq!(codes.len(), 10, "the first device shows the backup codes");
    let (_, status) = status_json(app.get("/api/v1/me/2fa").await).await;
    assert_eq!(status["enabled"], true, "{status}");
    assert_eq!(status["devices"][0]["kind"], "security_key");
    assert_eq!(status["devices"][0]["description"], "Yubikey");
    // The operator's view says so too: `sesame account show`, the real binary on the same data.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sesame"))
        .args(["account", "show", &nic, "--json"])
        .env_clear()
        .env("SESAME_DATABASE_URL", &app.db.url)
        .env("SESAME_DATA_DIR", app.dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["security"]["two_factor"], "on", "{shown}");
    assert_eq!(shown["security"]["two_factor_devices"][0]["kind"], "security_key");
    let page = app.get("/security").await.text().await.unwrap();
    assert!(page.contains("data-kind=\"security_key\"") && page.contains("id=\"twofa-state\""));

    // Log in with the key.
    let c = client();
    let (_, body) = password_login(&c, &app, &nic).await;
    assert_eq!(
        (body["methods"].clone(), body["default"].as_str()),
        (json!(METHODS), Some("security_key"))
    );
    let flow = body["flow"].as_str().unwrap().to_owned();
    assert_eq!(c.get(app.url("/api/v1/me")).send().await.unwrap().status(), 401);
    let signed = sign(&app, &mut token, key_challenge(&c, &app, &flow).await);
    let (status, body) = answer(&c, &app, &flow, &signed).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("logged_in")), "{body}");
    assert_eq!(c.get(app.url("/api/v1/me")).send().await.unwrap().status(), 200);

    // The same answer again: its flow is over, and another flow's challenge is another one.
    let (status, body) = answer(&c, &app, &flow, &signed).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("LOGIN_FLOW_NOT_FOUND"))
    );
    let other = client();
    let flow2 = password_step(&other, &app, &nic, METHODS).await;
    key_challenge(&other, &app, &flow2).await;
    let (status, body) = answer(&other, &app, &flow2, &signed).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("SECOND_FACTOR_INVALID")),
        "replayed"
    );

    // A challenge of flow A answered in flow B.
    let flow_a = password_step(&other, &app, &nic, METHODS).await;
    let flow_b = password_step(&other, &app, &nic, METHODS).await;
    let for_a = sign(&app, &mut token, key_challenge(&other, &app, &flow_a).await);
    key_challenge(&other, &app, &flow_b).await;
    let (status, _) = answer(&other, &app, &flow_b, &for_a).await;
    assert_eq!(status, 400, "a challenge from another flow");
    // Without a challenge, nothing to answer.
    let flow_c = password_step(&other, &app, &nic, METHODS).await;
    let (status, _) = answer(&other, &app, &flow_c, &for_a).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_sign_counter_going_backwards_is_refused() {
    let (app, nic, mut token, _, _) = enrolled().await;
    let cloned = token.to_cbor().unwrap();
    for _ in 0..2 {
        let c = client();
        let flow = password_step(&c, &app, &nic, METHODS).await;
        let signed = sign(&app, &mut token, key_challenge(&c, &app, &flow).await);
        assert_eq!(answer(&c, &app, &flow, &signed).await.0, 200);
    }
    // A copy of the key made before those logins signs with a lower counter: a clone.
    let mut copy = SoftToken::from_cbor(&cloned).unwrap();
    let c = client();
    let flow = password_step(&c, &app, &nic, METHODS).await;
    let signed = sign(&app, &mut copy, key_challenge(&c, &app, &flow).await);
    let (status, body) = answer(&c, &app, &flow, &signed).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("SECOND_FACTOR_INVALID"))
    );
}

#[tokio::test]
async fn two_parallel_uses_of_one_challenge_give_one_session() {
    let (app, nic, mut token, _, _) = enrolled().await;
    let (a, b) = (client(), client());
    let flow = password_step(&a, &app, &nic, METHODS).await;
    let signed = sign(&app, &mut token, key_challenge(&a, &app, &flow).await);
    let (first, second) = tokio::join!(answer(&a, &app, &flow, &signed), answer(&b, &app, &flow, &signed));
    let mut statuses = [first.0, second.0];
    statuses.sort_unstable();
    assert_eq!(statuses[0], 200, "{first:?} {second:?}");
    assert_ne!(statuses[1], 200, "one success: {first:?} {second:?}");
}

#[tokio::test]
async fn removing_a_key_needs_a_touch_from_it_or_a_login_with_another_factor() {
    let (app, nic, mut token, id, codes) = enrolled().await;
    let path = format!("/api/v1/me/2fa/devices/{id}");
    // This session proved no second factor: the key itself must answer.
    let (status, body) = call(&app.client, &app, reqwest::Method::DELETE, &path, json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("TWO_FACTOR_DEVICE_PROOF_REQUIRED"))
    );
    let (status, challenge) = post(&app.client, &app, &format!("{path}/challenge"), json!({})).await;
    assert_eq!(status, 200, "{challenge}");
    let options: RequestChallengeResponse = serde_json::from_value(challenge["options"].clone()).unwrap();
    let signed = sign(&app, &mut token, options);
    let (status, removed) = call(
        &app.client,
        &app,
        reqwest::Method::DELETE,
        &path,
        json!({"credential": signed}),
    )
    .await;
    assert_eq!(status, 200, "{removed}");
    assert_eq!(removed["two_factor_off"], true, "the last device");
    let (_, status) = status_json(app.get("/api/v1/me/2fa").await).await;
    assert_eq!(
        (status["enabled"].as_bool(), status["backup_codes_left"].as_i64()),
        (Some(false), Some(0))
    );
    // The challenge was taken: the same answer can't remove anything again.
    let (status, _) = call(
        &app.client,
        &app,
        reqwest::Method::DELETE,
        &path,
        json!({"credential": signed}),
    )
    .await;
    assert_eq!(status, 404);
    assert!(!codes.is_empty());

    // A lost key: log in with a backup code, then remove the key without it.
    let (id, codes) = enrol_key(&app.client, &app, &mut token).await;
    let c = client();
    let flow = password_step(&c, &app, &nic, METHODS).await;
    let (status, body) = post(
        &c,
        &app,
        "/api/v1/session/second-factor",
        json!({"flow": flow, "method": "backup_code", "code": codes[0]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, removed) = call(
        &c,
        &app,
        reqwest::Method::DELETE,
        &format!("/api/v1/me/2fa/devices/{id}"),
        json!({}),
    )
    .await;
    assert_eq!(
        (status, removed["two_factor_off"].as_bool()),
        (200, Some(true)),
        "{removed}"
    );
}

#[tokio::test]
async fn security_keys_are_off_when_the_public_url_is_an_ip_address() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    assert_eq!(app.login(jane.nic_handle.as_str(), PASSWORD).await.status(), 200);
    let (status, body) = post(
        &app.client,
        &app,
        "/api/v1/me/2fa/security-keys",
        json!({"description": "Key"}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("TWO_FACTOR_METHOD_UNAVAILABLE"))
    );
    let (_, status) = status_json(app.get("/api/v1/me/2fa").await).await;
    assert_eq!(status["security_keys_available"], false);
    let page = app.get("/security").await.text().await.unwrap();
    assert!(page.contains("id=\"keys-off\""), "the page says why");
}
