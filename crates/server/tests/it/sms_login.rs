//! SMS as a second factor (MFA-4, MFA-6, RISK-4) end to end through a real HTTP gateway: a phone
//! verified by a code, login codes texted on demand, 5 wrong codes end the flow, resend limits,
//! removal with a texted code, and no SMS where the subsidiary has none.

use crate::helpers::*;
use crate::sms::{Gateway, gateway_app};
use reqwest::Client;
use serde_json::{Value, json};

/// The methods a login of this module's accounts offers.
const METHODS: &[&str] = &["sms", "backup_code"];

/// Delivers the queued texts and returns the code of the last one sent to `to`.
async fn texted_code(app: &TestApp, gateway: &Gateway, to: &str) -> String {
    app.deliver_sms().await;
    let last = gateway
        .delivered()
        .into_iter()
        .rev()
        .find(|r| r.body["to"] == to)
        .expect("a text to the phone");
    let text = last.body["text"].as_str().unwrap().to_owned();
    let code: String = text
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .expect("a 6-digit code")
        .to_owned();
    code
}

const PHONE: &str = "+33612345678";

/// Jane (France, where SMS is offered) logged in, with a verified phone; returns her NIC handle,
/// the phone's device id and her backup codes.
async fn with_phone(app: &TestApp, gateway: &Gateway) -> (String, String, Vec<String>) {
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str().to_owned();
    assert_eq!(app.login(&nic, PASSWORD).await.status(), 200);
    let (status, begun) = post(
        &app.client,
        app,
        "/api/v1/me/2fa/sms",
        json!({"phone": "+33 6 12 34 56 78", "description": "Mobile"}),
    )
    .await;
    assert_eq!(status, 201, "{begun}");
    assert_eq!(begun["sent_to"], "+33 ••• ••• •78");
    let id = begun["id"].as_str().unwrap().to_owned();
    let code = texted_code(app, gateway, PHONE).await;
    let text = gateway.delivered()[0].body["text"].as_str().unwrap().to_owned();
    assert!(
        text.contains("Sesame") && !text.contains(&nic),
        "the brand, never the NIC handle: {text}"
    );
    assert!(
        text.contains("code de vérification"),
        "in the customer's language: {text}"
    );
    let enable = format!("/api/v1/me/2fa/sms/{id}/enable");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, _) = post(&app.client, app, &enable, json!({"code": wrong})).await;
    assert_eq!(status, 400);
    let (status, enabled) = post(&app.client, app, &enable, json!({"code": code})).await;
    assert_eq!(status, 200, "{enabled}");
    let codes = enabled["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (nic, id, codes)
}

async fn send(client: &Client, app: &TestApp, flow: &str) -> (u16, Value) {
    post(
        client,
        app,
        "/api/v1/session/second-factor/challenge",
        json!({"flow": flow, "method": "sms"}),
    )
    .await
}

async fn answer(client: &Client, app: &TestApp, flow: &str, code: &str) -> (u16, Value) {
    post(
        client,
        app,
        "/api/v1/session/second-factor",
        json!({"flow": flow, "method": "sms", "code": code}),
    )
    .await
}

#[tokio::test]
async fn a_verified_phone_turns_2fa_on_and_a_texted_code_logs_in_once() {
    let gateway = Gateway::start().await;
    let app = gateway_app(&gateway).await;
    let (nic, _, codes) = with_phone(&app, &gateway).await;
    assert_eq!(codes.len(), 10);
    let (_, status) = status_json(app.get("/api/v1/me/2fa").await).await;
    assert_eq!(
        (status["enabled"].as_bool(), status["devices"][0]["kind"].as_str()),
        (Some(true), Some("sms"))
    );

    let c = client();
    let flow = password_step(&c, &app, &nic, METHODS).await;
    app.advance(1);
    let (status, sent) = send(&c, &app, &flow).await;
    assert_eq!((status, sent["sent_to"].as_str()), (202, Some("+33 ••• ••• •78")));
    let code = texted_code(&app, &gateway, PHONE).await;
    let (status, body) = answer(&c, &app, &flow, &code).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("logged_in")), "{body}");
    assert_eq!(c.get(app.url("/api/v1/me")).send().await.unwrap().status(), 200);

    // The code is single use and bound to its flow.
    let other = client();
    let flow2 = password_step(&other, &app, &nic, METHODS).await;
    let (status, _) = answer(&other, &app, &flow2, &code).await;
    assert_eq!(status, 400, "a code from another flow");
    // And expires after 5 minutes.
    app.advance(1);
    assert_eq!(send(&other, &app, &flow2).await.0, 202);
    let late = texted_code(&app, &gateway, PHONE).await;
    app.advance(6);
    let (status, _) = answer(&other, &app, &flow2, &late).await;
    assert_eq!(status, 400, "expired");
}

#[tokio::test]
async fn five_wrong_codes_end_the_flow() {
    let gateway = Gateway::start().await;
    let app = gateway_app(&gateway).await;
    let (nic, _, _) = with_phone(&app, &gateway).await;
    let c = client();
    let flow = password_step(&c, &app, &nic, METHODS).await;
    app.advance(1);
    assert_eq!(send(&c, &app, &flow).await.0, 202);
    let code = texted_code(&app, &gateway, PHONE).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        assert_eq!(answer(&c, &app, &flow, wrong).await.0, 400);
    }
    let (status, body) = answer(&c, &app, &flow, &code).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("SECOND_FACTOR_TOO_MANY_ATTEMPTS")),
        "even the right code, once the flow is spent"
    );
}

#[tokio::test]
async fn texts_are_limited_to_one_per_30_seconds_and_five_per_hour() {
    let gateway = Gateway::start().await;
    let app = gateway_app(&gateway).await;
    let (nic, _, _) = with_phone(&app, &gateway).await;
    let c = client();
    let flow = password_step(&c, &app, &nic, METHODS).await;
    // The enrolment text was the first of this hour.
    let (status, body) = send(&c, &app, &flow).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("SMS_THROTTLED")),
        "within 30 s"
    );
    for n in 2..=5 {
        app.advance(1);
        let c = client();
        let flow = password_step(&c, &app, &nic, METHODS).await;
        assert_eq!(send(&c, &app, &flow).await.0, 202, "text {n}");
    }
    app.advance(1);
    let c = client();
    let flow = password_step(&c, &app, &nic, METHODS).await;
    let (status, body) = send(&c, &app, &flow).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("SMS_THROTTLED")),
        "the 6th in an hour"
    );
    app.advance(60);
    let c = client();
    let flow = password_step(&c, &app, &nic, METHODS).await;
    assert_eq!(send(&c, &app, &flow).await.0, 202, "an hour later");
}

#[tokio::test]
async fn a_phone_is_removed_with_a_code_texted_to_it() {
    let gateway = Gateway::start().await;
    let app = gateway_app(&gateway).await;
    let (_, id, _) = with_phone(&app, &gateway).await;
    app.advance(1);
    let (status, sent) = post(
        &app.client,
        &app,
        &format!("/api/v1/me/2fa/devices/{id}/challenge"),
        json!({}),
    )
    .await;
    assert_eq!((status, sent["sent_to"].as_str()), (202, Some("+33 ••• ••• •78")));
    let code = texted_code(&app, &gateway, PHONE).await;
    let removed = app
        .client
        .delete(app.url(&format!("/api/v1/me/2fa/devices/{id}")))
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    let (status, removed) = status_json(removed).await;
    assert_eq!(
        (status, removed["two_factor_off"].as_bool()),
        (200, Some(true)),
        "{removed}"
    );
}

#[tokio::test]
async fn sms_is_not_offered_where_the_subsidiary_has_none() {
    let app = spawn_app().await;
    let sam = app.account_in("sam@example.com", "Sam", "Lee", "US").await;
    assert_eq!(app.login(sam.nic_handle.as_str(), PASSWORD).await.status(), 200);
    let (status, body) = post(
        &app.client,
        &app,
        "/api/v1/me/2fa/sms",
        json!({"phone": "+14155550100", "description": "Phone"}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("TWO_FACTOR_METHOD_UNAVAILABLE"))
    );
    let (_, status) = status_json(app.get("/api/v1/me/2fa").await).await;
    assert_eq!(status["sms_available"], false);
    let page = app.get("/security").await.text().await.unwrap();
    assert!(!page.contains("id=\"add-phone-form\""), "no phone form");
    // A malformed number is a clear error where SMS is offered.
    let jane = app.jane().await;
    let c = client();
    let (status, _) = post(
        &c,
        &app,
        "/api/v1/session",
        json!({"login": jane.nic_handle.as_str(), "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = post(
        &c,
        &app,
        "/api/v1/me/2fa/sms",
        json!({"phone": "06 12", "description": "Phone"}),
    )
    .await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("PHONE_INVALID")));
}

#[tokio::test]
async fn with_2fa_on_and_no_method_usable_here_a_login_leads_to_support_never_in() {
    let gateway = Gateway::start().await;
    let app = gateway_app(&gateway).await;
    let (nic, _, codes) = with_phone(&app, &gateway).await;
    // The customer moved where SMS is not offered: only the backup codes are left, and used.
    let jane = sesame_core::ports::AccountStore::find_account_by_login(app.app.store.as_ref(), &nic)
        .await
        .unwrap()
        .unwrap();
    sesame_store::testing::move_to_subsidiary(&app.app.store, jane.id.0, "US").await;
    for code in &codes {
        let c = client();
        let flow = password_step(&c, &app, &nic, &["backup_code"]).await;
        let body = json!({"flow": flow, "method": "backup_code", "code": code});
        let (status, body) = post(&c, &app, "/api/v1/session/second-factor", body).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("logged_in")), "{body}");
    }

    // 2FA stays on (MFA-6): the password alone opens nothing, the way on is support (RECOVER-5).
    let c = client();
    let (status, body) = password_login(&c, &app, &nic).await;
    assert_eq!(
        (status, body["status"].as_str(), &body["methods"], body.get("default")),
        (200, Some("second_factor_required"), &json!([]), None),
        "{body}"
    );
    assert_eq!(c.get(app.url("/api/v1/me")).send().await.unwrap().status(), 401);
    let flow = body["flow"].as_str().unwrap();
    let (status, body) = answer(&c, &app, flow, "123456").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("SECOND_FACTOR_METHOD_NOT_ALLOWED"))
    );
    let page = c.get(app.url(&format!("/login/{flow}"))).send().await.unwrap();
    let page = page.text().await.unwrap();
    assert!(page.contains("id=\"no-method\"") && page.contains("id=\"lost-devices\""));
    assert!(!page.contains("id=\"code\""), "nothing to type");
    let lost = json!({"flow": flow});
    let (status, body) = post(&c, &app, "/api/v1/session/second-factor/lost", lost).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn parallel_requests_for_texts_send_no_more_than_the_limits_allow() {
    let gateway = Gateway::start().await;
    let app = std::sync::Arc::new(gateway_app(&gateway).await);
    let jane = app.jane().await;
    assert_eq!(app.login(jane.nic_handle.as_str(), PASSWORD).await.status(), 200);
    // MFA-4: one text per 30 s, decided as each is counted, so a burst can't all pass a check
    // made before any of them was counted (SMS pumping to a premium number).
    let answers = at_once(12, |n| {
        let app = std::sync::Arc::clone(&app);
        async move {
            let body = json!({"phone": "+33612345678", "description": format!("Phone {n}")});
            let (status, body) = post(&app.client, &app, "/api/v1/me/2fa/sms", body).await;
            (status, body["error"]["code"].as_str().map(str::to_owned))
        }
    })
    .await;
    let mut expected = vec![(201, None)];
    expected.extend(std::iter::repeat_n((429, Some("SMS_THROTTLED".to_owned())), 11));
    assert_eq!(answers, expected);
    app.deliver_sms().await;
    assert_eq!(gateway.delivered().len(), 1);
}

/// Starts adding the phone: where its texted code enables it, the code, and a wrong one.
async fn phone_enrolment(app: &TestApp, gateway: &Gateway) -> (String, String, &'static str) {
    let body = json!({"phone": PHONE, "description": "Mobile"});
    let (_, begun) = post(&app.client, app, "/api/v1/me/2fa/sms", body).await;
    let enable = format!("/api/v1/me/2fa/devices/{}/enable", begun["id"].as_str().unwrap());
    let code = texted_code(app, gateway, PHONE).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    (enable, code, wrong)
}

#[tokio::test]
async fn guessing_a_confirmation_code_meets_the_failure_limits() {
    let gateway = Gateway::start().await;
    let app = gateway_app(&gateway).await;
    let jane = app.jane().await;
    assert_eq!(app.login(jane.nic_handle.as_str(), PASSWORD).await.status(), 200);
    let (enable, code, wrong) = phone_enrolment(&app, &gateway).await;
    for _ in 0..5 {
        assert_eq!(post(&app.client, &app, &enable, json!({"code": wrong})).await.0, 400);
    }
    let (status, body) = post(&app.client, &app, &enable, json!({"code": code})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("SECOND_FACTOR_INVALID")),
        "MFA-4: five tries a code, then even the right one is refused"
    );
    // A new enrolment texts a new code, with tries of its own; the account's count goes on.
    app.advance(1);
    let (enable, code, wrong) = phone_enrolment(&app, &gateway).await;
    for _ in 0..4 {
        assert_eq!(post(&app.client, &app, &enable, json!({"code": wrong})).await.0, 400);
    }
    let (status, body) = post(&app.client, &app, &enable, json!({"code": code})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("SECOND_FACTOR_THROTTLED")),
        "after 10 failures each try waits"
    );
}

/// MFA-1: a customer who lost the phone used last logs in with another one.
#[tokio::test]
async fn with_two_phones_the_customer_chooses_the_one_texted() {
    const WORK: &str = "+447700900123";
    let gateway = Gateway::start().await;
    let app = gateway_app(&gateway).await;
    let (nic, mobile, _) = with_phone(&app, &gateway).await;
    app.advance(1);
    let (status, begun) = post(
        &app.client,
        &app,
        "/api/v1/me/2fa/sms",
        json!({"phone": WORK, "description": "Work phone"}),
    )
    .await;
    assert_eq!(status, 201, "{begun}");
    let work = begun["id"].as_str().unwrap().to_owned();
    let code = texted_code(&app, &gateway, WORK).await;
    let enable = format!("/api/v1/me/2fa/sms/{work}/enable");
    assert_eq!(post(&app.client, &app, &enable, json!({"code": code})).await.0, 200);
    // A third number whose code never came back stays pending: not a phone to text.
    app.advance(1);
    let (status, pending) = post(
        &app.client,
        &app,
        "/api/v1/me/2fa/sms",
        json!({"phone": "+33700000099", "description": "Not verified"}),
    )
    .await;
    assert_eq!(status, 201, "{pending}");
    let pending = pending["id"].as_str().unwrap().to_owned();

    // Neither phone has logged in yet: the one added last comes first, and is the default.
    let c = client();
    let (status, body) = password_login(&c, &app, &nic).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["phones"],
        json!([
            {"id": work, "number": "+44 ••• ••• •23"},
            {"id": mobile, "number": "+33 ••• ••• •78"},
        ]),
        "masked numbers only: the customer's names for them stay behind the second factor"
    );
    let flow = body["flow"].as_str().unwrap().to_owned();
    app.advance(1);
    let (status, sent) = send_to(&c, &app, &flow, "").await;
    assert_eq!(
        (status, sent["sent_to"].as_str()),
        (202, Some("+44 ••• ••• •23")),
        "no choice (empty): the default"
    );
    let to_work = texted_code(&app, &gateway, WORK).await;

    // The work phone is lost: the code goes to the mobile instead, and the first one is void.
    let texted = gateway.delivered().len();
    let stranger = uuid::Uuid::new_v4().to_string();
    for (device, why) in [
        (stranger.as_str(), "no such device"),
        (pending.as_str(), "a number not verified"),
        ("not-an-id", "not an id at all"),
    ] {
        let (status, body) = send_to(&c, &app, &flow, device).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("TWO_FACTOR_DEVICE_NOT_FOUND")),
            "{why}"
        );
    }
    let (status, body) = send_to(&c, &app, &uuid::Uuid::new_v4().to_string(), "not-an-id").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("LOGIN_FLOW_NOT_FOUND")),
        "no such login: said first, whatever the device"
    );
    app.deliver_sms().await;
    assert_eq!(gateway.delivered().len(), texted, "a refused choice texts nothing");
    app.advance(1);
    let (status, sent) = send_to(&c, &app, &flow, &mobile).await;
    assert_eq!(
        (status, sent["sent_to"].as_str()),
        (202, Some("+33 ••• ••• •78")),
        "{sent}"
    );
    let to_mobile = texted_code(&app, &gateway, PHONE).await;
    if to_work != to_mobile {
        assert_eq!(answer(&c, &app, &flow, &to_work).await.0, 400, "the first code is void");
    }
    let (status, body) = answer(&c, &app, &flow, &to_mobile).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("logged_in")), "{body}");

    // The mobile was used last: the next login offers it first.
    let (_, body) = password_login(&client(), &app, &nic).await;
    assert_eq!(body["phones"][0]["id"], json!(mobile), "{body}");
    assert_eq!(body["phones"][1]["id"], json!(work), "{body}");
}

async fn send_to(client: &Client, app: &TestApp, flow: &str, device: &str) -> (u16, Value) {
    post(
        client,
        app,
        "/api/v1/session/second-factor/challenge",
        json!({"flow": flow, "method": "sms", "device": device}),
    )
    .await
}
