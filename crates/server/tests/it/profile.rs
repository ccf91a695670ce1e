//! ACCT-4, PANEL-3: the customer changes their profile under sign-up's rules; every session sees
//! it at once, the change is in their activity, and mail follows the language chosen.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};

async fn put_profile(client: &reqwest::Client, app: &TestApp, body: Value) -> (u16, Value) {
    call(client, app, Method::PUT, "/api/v1/me/profile", body).await
}

/// How many profile changes the customer's activity (AUDIT-2) lists.
async fn profile_changes(app: &TestApp) -> usize {
    let (_, activity) = status_json(app.get("/api/v1/me/activity").await).await;
    let events = activity.as_array().unwrap();
    events.iter().filter(|e| e["kind"] == "profile_changed").count()
}

#[tokio::test]
async fn the_customer_edits_their_profile_and_every_session_sees_it() {
    let (app, smtp) = spawn_mail_app(|_| {}).await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    assert_eq!(app.login(nic, PASSWORD).await.status(), 200);
    let other = client();
    assert_eq!(password_login(&other, &app, nic).await.0, 200);
    // The other session is checked before the change (so a node may keep it cached).
    let (_, before) = status_json(other.get(app.url("/api/v1/me")).send().await.unwrap()).await;

    let (status, me) = put_profile(
        &app.client,
        &app,
        json!({"first_name": " Janet ", "last_name": "Doe-Smith", "account_type": "company",
               "company_name": "Doe SA", "phone": "+33 6 12 34 56 78", "language": "en"}),
    )
    .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        (
            me["first_name"].as_str(),
            me["last_name"].as_str(),
            me["account_type"].as_str(),
            me["company_name"].as_str(),
            me["phone"].as_str(),
            me["language"].as_str()
        ),
        (
            Some("Janet"),
            Some("Doe-Smith"),
            Some("company"),
            Some("Doe SA"),
            Some("+33612345678"),
            Some("en")
        )
    );
    for field in [
        "nic_handle",
        "customer_code",
        "email",
        "country",
        "currency",
        "subsidiary",
    ] {
        assert_eq!(me[field], before[field], "{field} is not the profile's to change");
    }
    let (_, seen) = status_json(other.get(app.url("/api/v1/me")).send().await.unwrap()).await;
    assert_eq!(seen, me, "another session sees the change at once");
    assert_eq!(profile_changes(&app).await, 1);

    // Mail follows the language chosen: the next login is notified in English.
    assert_eq!(password_login(&client(), &app, nic).await.0, 200);
    app.deliver().await;
    let subjects: Vec<_> = smtp
        .messages_to("Jane.Doe@Example.com")
        .into_iter()
        .map(|m| m.subject)
        .collect();
    let english = subjects.iter().filter(|s| s.starts_with("New login")).count();
    let french = subjects.iter().filter(|s| s.starts_with("Nouvelle connexion")).count();
    assert_eq!(
        (english, french),
        (1, 2),
        "the two logins before in French: {subjects:?}"
    );

    // Back to an individual: the company name goes.
    let (status, me) = put_profile(
        &app.client,
        &app,
        json!({"first_name": "Janet", "last_name": "Doe-Smith", "company_name": "Doe SA"}),
    )
    .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        (
            me["account_type"].as_str(),
            me["company_name"].as_str(),
            me["phone"].as_str()
        ),
        (Some("individual"), None, None),
        "{me}"
    );
    assert_eq!(me["language"], "en", "no language: unchanged");

    // Support may call a customer back on the phone on file: a new number needs a fresh login
    // (SESS-3); names don't.
    app.advance(11);
    let (status, body) = put_profile(
        &app.client,
        &app,
        json!({"first_name": "Jan", "last_name": "Doe-Smith", "phone": "+33700000001"}),
    )
    .await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("REAUTH_REQUIRED")));
    let (status, me) = put_profile(
        &app.client,
        &app,
        json!({"first_name": "Jan", "last_name": "Doe-Smith"}),
    )
    .await;
    assert_eq!(
        (status, me["first_name"].as_str(), me["phone"].as_str()),
        (200, Some("Jan"), None)
    );
}

#[tokio::test]
async fn a_profile_breaking_sign_up_rules_is_refused_and_nothing_changes() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    assert_eq!(app.login(jane.nic_handle.as_str(), PASSWORD).await.status(), 200);
    let (_, before) = status_json(app.get("/api/v1/me").await).await;
    let ok = json!({"first_name": "Jane", "last_name": "Doe"});
    for (change, field) in [
        (json!({"first_name": "<b>Jane</b>"}), "first name"),
        (json!({"last_name": "  "}), "last name"),
        (json!({"account_type": "company"}), "company name"),
        (json!({"phone": "06 12"}), "phone"),
        (json!({"language": "english"}), "language"),
        (json!({"account_type": "boss"}), "account_type"),
    ] {
        let mut body = ok.clone();
        body.as_object_mut()
            .unwrap()
            .extend(change.as_object().unwrap().clone());
        let (status, error) = put_profile(&app.client, &app, body).await;
        assert_eq!(
            (status, error["error"]["code"].as_str()),
            (422, Some("INVALID_FIELD")),
            "{field}: {error}"
        );
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{field}: {message}");
    }
    let (status, error) = put_profile(&app.client, &app, json!({"first_name": "Jane"})).await;
    assert_eq!(status, 422, "a missing field: {error}");
    assert_eq!(status_json(app.get("/api/v1/me").await).await.1, before);
    assert_eq!(profile_changes(&app).await, 0, "nothing saved, nothing logged");
    let (status, error) = put_profile(&client(), &app, ok).await;
    assert_eq!((status, error["error"]["code"].as_str()), (401, Some("AUTH_REQUIRED")));
}
