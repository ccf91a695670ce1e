//! The support desk (SUPPORT-1..5): agents enrol and log in with a password and a software security
//! key (`webauthn-authenticator-rs`' SoftToken); agent and customer cookies never open each other's
//! pages; a disabled agent's session ends; every action needs a reason and a ticket and is audited
//! with the agent; a lost-2FA approval takes two people.

use crate::helpers::*;
use serde_json::json;
use sesame_core::audit::{Actor, ClientInfo};
use sesame_core::ports::AuditLog;
use sesame_core::recovery::RecoveryStore;
use sesame_core::service::{AgentAuth, By, Justification, SupportError, Verification};
use sesame_core::support::AgentRole;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softtoken::SoftToken;
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};

const AGENT_PASSWORD: &str = "the support desk keeps a trail";

/// An app whose public URL is a name (`localhost`), as WebAuthn requires.
async fn key_app() -> TestApp {
    spawn_app_with(|c| c.public_url = c.public_url.replace("127.0.0.1", "localhost")).await
}

fn origin(app: &TestApp) -> Url {
    Url::parse(&app.base.replace("127.0.0.1", "localhost")).unwrap()
}

/// Invites, enrols and logs in an agent with a software key; returns the session and its token.
async fn agent(app: &TestApp, email: &str, name: &str, role: AgentRole) -> (AgentAuth, String) {
    let support = app.app.services.support();
    let invitation = support.invite(email, name, role).await.unwrap();
    let token = invitation.url.rsplit('/').next().unwrap().to_owned();
    let (mut authenticator, _) = SoftToken::new(true).unwrap();
    let ceremony = support.begin_enrolment(&token, AGENT_PASSWORD).await.unwrap();
    let options: CreationChallengeResponse = serde_json::from_value(ceremony.options).unwrap();
    let credential = authenticator.do_registration(origin(app), options).unwrap();
    support
        .finish_enrolment(ceremony.flow, &serde_json::to_value(credential).unwrap())
        .await
        .unwrap();
    assert!(
        support.begin_enrolment(&token, AGENT_PASSWORD).await.is_err(),
        "the invitation works once"
    );
    let ceremony = support.begin_login(email, AGENT_PASSWORD, None).await.unwrap();
    let options: RequestChallengeResponse = serde_json::from_value(ceremony.options).unwrap();
    let assertion = authenticator.do_authentication(origin(app), options).unwrap();
    let (session, auth) = support
        .finish_login(
            ceremony.flow,
            &serde_json::to_value(assertion).unwrap(),
            &ClientInfo::default(),
        )
        .await
        .unwrap();
    (auth, session.expose().to_owned())
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn status_with_cookie(app: &TestApp, path: &str, cookie: &str) -> (u16, String) {
    let response = no_redirects()
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (response.status().as_u16(), location)
}

fn why(reason: &str, ticket: &str) -> Justification {
    Justification {
        reason: reason.into(),
        ticket: ticket.into(),
    }
}

/// A lost-devices request of the account `nic` with one document, submitted and confirmed from
/// the mailed link (RECOVER-5), ready for support; the browser that made it and its id.
/// A lost-devices request with one document, not submitted yet: the browser and its id.
async fn draft_request(app: &TestApp, nic: &str, document: &[u8], name: &str) -> (reqwest::Client, uuid::Uuid) {
    let browser = client();
    let flow = password_step(&browser, app, nic, &["totp", "backup_code"]).await;
    let (_, started) = post(
        &browser,
        app,
        "/api/v1/session/second-factor/lost",
        json!({"flow": flow}),
    )
    .await;
    let request = uuid::Uuid::parse_str(started["request"].as_str().unwrap()).unwrap();
    let part = reqwest::multipart::Part::bytes(document.to_vec()).file_name(name.to_owned());
    let upload = browser
        .post(app.url(&format!("/api/v1/recovery-requests/{request}/documents")))
        .multipart(reqwest::multipart::Form::new().part("document", part))
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 201);
    (browser, request)
}

/// A lost-devices request with one document, submitted and confirmed from the mailbox.
async fn confirmed_request(
    app: &TestApp,
    smtp: &crate::smtp::Smtp,
    nic: &str,
    document: &[u8],
    name: &str,
) -> (reqwest::Client, uuid::Uuid) {
    let (browser, request) = draft_request(app, nic, document, name).await;
    post(
        &browser,
        app,
        &format!("/api/v1/recovery-requests/{request}/submit"),
        json!({}),
    )
    .await;
    app.deliver().await;
    let mail = smtp
        .messages_to("Jane.Doe@Example.com")
        .into_iter()
        .find(|m| m.text.contains("/recovery/confirm?token="))
        .expect("the confirmation link");
    let token = mail.text.split("token=").nth(1).unwrap()[..64].to_owned();
    app.app
        .services
        .recovery()
        .confirm_request(&token, &ClientInfo::default())
        .await
        .unwrap();
    (browser, request)
}

#[tokio::test]
async fn agent_and_customer_cookies_never_open_each_others_pages_and_a_disabled_agent_is_out() {
    let app = key_app().await;
    let (_, token) = agent(&app, "alice@support.example", "Alice Martin", AgentRole::Agent).await;
    let agent_cookie = format!("sesame_agent={token}");
    assert_eq!(status_with_cookie(&app, "/support", &agent_cookie).await.0, 200);
    assert_eq!(
        status_with_cookie(&app, "/", &agent_cookie).await,
        (303, "/login?return_to=%2F".into()),
        "an agent is nobody on customer pages"
    );
    let jane = app.jane().await;
    let login = app.login(jane.nic_handle.as_str(), PASSWORD).await;
    let customer_cookie = session_cookie(&login);
    assert_eq!(status_with_cookie(&app, "/", &customer_cookie).await.0, 200);
    assert_eq!(
        status_with_cookie(&app, "/support", &customer_cookie).await,
        (303, "/support/login".into()),
        "a customer is nobody in the console"
    );
    let (status, _) = status_with_cookie(&app, "/api/v1/me", &agent_cookie).await;
    assert_eq!(status, 401);
    app.app
        .services
        .support()
        .disable("alice@support.example")
        .await
        .unwrap();
    assert_eq!(
        status_with_cookie(&app, "/support", &agent_cookie).await.0,
        303,
        "disabled: out at once"
    );
    assert!(matches!(
        app.app
            .services
            .support()
            .begin_login("alice@support.example", AGENT_PASSWORD, None)
            .await,
        Err(SupportError::InvalidCredentials)
    ));
}

#[tokio::test]
async fn an_agent_session_ends_after_30_minutes_without_a_request() {
    let app = key_app().await;
    let (_, token) = agent(&app, "alice@support.example", "Alice Martin", AgentRole::Agent).await;
    let cookie = format!("sesame_agent={token}");
    // Used every 20 minutes, it lasts (up to its 8 hours).
    for _ in 0..4 {
        app.advance(20);
        assert_eq!(status_with_cookie(&app, "/support", &cookie).await.0, 200);
    }
    // Left alone for 30 minutes, it is over (ASVS V3.3.2).
    app.advance(30);
    assert_eq!(
        status_with_cookie(&app, "/support", &cookie).await,
        (303, "/support/login".into())
    );
}

#[tokio::test]
async fn every_action_needs_a_reason_and_a_ticket_and_the_audit_log_names_the_agent() {
    let app = key_app().await;
    let (alice, _) = agent(&app, "alice@support.example", "Alice Martin", AgentRole::Agent).await;
    let support = app.app.services.support();
    let jane = app.jane().await;
    // Where the agent works from is on record for support, and none of the customer's business.
    let client = ClientInfo {
        ip: Some("10.20.30.40".into()),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0".into()),
        ..ClientInfo::default()
    };
    for (reason, ticket) in [("", "T-1"), ("caller asked", ""), ("  ", "  ")] {
        assert!(matches!(
            support
                .set_blocked(By::Agent(&alice), jane.id, true, &why(reason, ticket), &client)
                .await,
            Err(SupportError::ReasonRequired)
        ));
        assert!(matches!(
            support
                .end_sessions(By::Agent(&alice), jane.id, &why(reason, ticket), &client)
                .await,
            Err(SupportError::ReasonRequired)
        ));
    }
    support
        .set_blocked(By::Agent(&alice), jane.id, true, &why("fraud report", "T-100"), &client)
        .await
        .unwrap();
    assert_eq!(app.login(jane.nic_handle.as_str(), PASSWORD).await.status(), 403);
    support
        .set_blocked(
            By::Agent(&alice),
            jane.id,
            false,
            &why("owner verified", "T-100"),
            &client,
        )
        .await
        .unwrap();
    support
        .unlock(By::Agent(&alice), jane.id, &why("locked out", "T-101"), &client)
        .await
        .unwrap();
    assert!(matches!(
        support
            .promote_backup_email(By::Agent(&alice), jane.id, None, &why("lost mailbox", "T-102"), &client)
            .await,
        Err(SupportError::VerificationRequired)
    ));
    let events = app.app.store.recent_events(jane.id, 10).await.unwrap();
    let by_support: Vec<_> = events.iter().filter(|e| e.actor == Actor::Support).collect();
    assert_eq!(by_support.len(), 3, "block, unblock, unlock");
    for event in by_support {
        let detail: serde_json::Value = serde_json::from_str(event.detail.as_deref().unwrap()).unwrap();
        assert_eq!(detail["agent_id"], alice.agent.id.to_string());
        assert!(detail["reason"].as_str().is_some() && detail["ticket"].as_str().unwrap().starts_with("T-10"));
        assert_eq!(
            event.support_agent().as_deref(),
            Some("Alice"),
            "what the customer sees"
        );
        assert_eq!(event.ip.as_deref(), Some("10.20.30.40"), "the audit log keeps it");
    }
    assert_eq!(app.login(jane.nic_handle.as_str(), PASSWORD).await.status(), 200);
    let (_, activity) = status_json(app.get("/api/v1/me/activity").await).await;
    let seen: Vec<_> = activity
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "support_action")
        .map(|e| {
            assert_eq!((&e["ip"], &e["device"]), (&serde_json::Value::Null, &json!("")), "{e}");
            e["by"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(seen, ["Alice", "Alice", "Alice"], "{activity}");
    let page = app.get("/security").await.text().await.unwrap();
    assert!(!page.contains("10.20.30.40"), "the agent's address on the page");
    assert!(
        page.contains("par Alice, de notre support"),
        "the security page in French"
    );
}

#[tokio::test]
async fn the_account_page_shows_the_phone_on_file_and_a_waiting_primary_change_until_sessions_end() {
    let app = key_app().await;
    let (alice, token) = agent(&app, "alice@support.example", "Alice Martin", AgentRole::Agent).await;
    let jane = app.jane().await;
    assert_eq!(app.login(jane.nic_handle.as_str(), PASSWORD).await.status(), 200);
    let profile =
        json!({"first_name": "Jane", "last_name": "Doe", "account_type": "individual", "phone": "+33 6 12 34 56 78"});
    let (status, body) = call(&app.client, &app, reqwest::Method::PUT, "/api/v1/me/profile", profile).await;
    assert_eq!(status, 200, "{body}");
    // Someone scheduled the primary address away (RECOVER-4), as a hijacker with a session would.
    waiting_primary_change(&app, jane.id, "thief@evil.example").await;
    let store = &app.app.store;

    let page = || async {
        no_redirects()
            .get(app.url(&format!("/support/accounts/{}", jane.id)))
            .header(
                "cookie",
                format!("sesame_agent={token}; sesame_csrf=a-browser-of-the-agent"),
            )
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let shown = page().await;
    assert!(shown.contains("<dd id=\"phone\">+33 ••• ••• •78"), "masked at first");
    assert!(!shown.contains("+33612345678"));
    assert!(shown.contains("id=\"pending-primary\"") && shown.contains("t•••@evil.example"));
    // SUPPORT-2: the number to call back, after a look that is recorded with its reason.
    let csrf_at = shown.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = &shown[csrf_at..csrf_at + 64];
    let reveal = |reason: &'static str| {
        no_redirects()
            .post(app.url(&format!("/support/accounts/{}/reveal-phone", jane.id)))
            .header(
                "cookie",
                format!("sesame_agent={token}; sesame_csrf=a-browser-of-the-agent"),
            )
            .form(&[("csrf", csrf), ("reason", reason), ("ticket", "T-8")])
            .send()
    };
    let refused = reveal("").await.unwrap();
    assert_eq!(refused.status(), 422);
    assert!(
        !refused.text().await.unwrap().contains("+33612345678"),
        "not without a reason"
    );
    let revealed = reveal("callback before a promotion")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(revealed.contains("<span id=\"phone-revealed\">+33612345678</span>"));
    let events = store.recent_events(jane.id, 5).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.actor == Actor::Support && e.detail.as_deref().is_some_and(|d| d.contains("phone_revealed"))),
        "the look is audited"
    );
    // Ending every session (SUPPORT-4) cancels it.
    let support = app.app.services.support();
    support
        .end_sessions(
            By::Agent(&alice),
            jane.id,
            &why("account taken over", "T-9"),
            &ClientInfo::default(),
        )
        .await
        .unwrap();
    assert!(!page().await.contains("id=\"pending-primary\""));
}

#[tokio::test]
async fn a_promotion_records_how_the_caller_was_verified() {
    let app = key_app().await;
    let (alice, _) = agent(&app, "alice@support.example", "Alice Martin", AgentRole::Agent).await;
    let jane = app.jane().await;
    sesame_store::testing::store_verified_backup_email(&app.app.store, jane.id.0, "jane@backup.example").await;
    let client = ClientInfo::default();
    app.app
        .services
        .support()
        .promote_backup_email(
            By::Agent(&alice),
            jane.id,
            Some(Verification::Callback),
            &why("lost mailbox", "T-7"),
            &client,
        )
        .await
        .unwrap();
    assert_eq!(app.login("jane@backup.example", PASSWORD).await.status(), 200);
    let events = app.app.store.recent_events(jane.id, 10).await.unwrap();
    let promoted = events
        .iter()
        .find(|e| e.actor == Actor::Support)
        .expect("the promotion");
    let detail: serde_json::Value = serde_json::from_str(promoted.detail.as_deref().unwrap()).unwrap();
    assert_eq!(
        (detail["verification"].as_str(), detail["ticket"].as_str()),
        (Some("callback"), Some("T-7"))
    );
}

#[tokio::test]
async fn documents_open_only_once_the_owner_confirmed_the_request() {
    let app = spawn_app_with(|c| c.public_url = c.public_url.replace("127.0.0.1", "localhost")).await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    crate::two_factor::enrol(&app, nic).await;
    let (_, request) = draft_request(&app, nic, include_bytes!("../fixtures/id-card.png"), "id.png").await;
    let (alice, _) = agent(&app, "alice@support.example", "Alice Martin", AgentRole::Agent).await;
    let support = app.app.services.support();
    let (_, _, documents) = support.review(request).await.unwrap();
    assert!(matches!(
        support
            .document(&alice, request, documents[0].id, &ClientInfo::default())
            .await,
        Err(SupportError::WrongState)
    ));
}

#[tokio::test]
async fn a_lost_2fa_approval_takes_a_proposal_and_another_supervisor() {
    let (app, smtp) = spawn_mail_app(|c| c.public_url = c.public_url.replace("127.0.0.1", "localhost")).await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    crate::two_factor::enrol(&app, nic).await;
    let (_, request) = confirmed_request(&app, &smtp, nic, include_bytes!("../fixtures/id-card.png"), "id.png").await;
    let client = ClientInfo::default();

    let (alice, _) = agent(&app, "alice@support.example", "Alice Martin", AgentRole::Agent).await;
    let (sam, _) = agent(&app, "sam@support.example", "Sam Lee", AgentRole::Supervisor).await;
    let (kim, _) = agent(&app, "kim@support.example", "Kim Park", AgentRole::Supervisor).await;
    let support = app.app.services.support();
    let (_, _, documents) = support.review(request).await.unwrap();
    let (content_type, bytes) = support
        .document(&alice, request, documents[0].id, &client)
        .await
        .unwrap();
    assert_eq!(
        (content_type.as_str(), bytes.as_slice()),
        ("image/png", include_bytes!("../fixtures/id-card.png").as_slice())
    );
    // SUPPORT-5: who opened the customer's identity document is on record, for them to see.
    let events = app.app.store.recent_events(jane.id, 50).await.unwrap();
    let viewed = events
        .iter()
        .find(|e| e.detail.as_deref().is_some_and(|d| d.contains("view_document")))
        .expect("the opening is audited");
    assert_eq!(viewed.support_agent().as_deref(), Some("Alice"));
    assert!(viewed.detail.as_deref().unwrap().contains(&documents[0].id.to_string()));
    assert!(
        matches!(
            support
                .confirm_approval(&sam, request, &why("documents match", "T-9"), &client)
                .await,
            Err(SupportError::WrongState)
        ),
        "nothing proposed yet"
    );
    support
        .propose_approval(&sam, request, &why("passport matches the account name", "T-9"), &client)
        .await
        .unwrap();
    assert!(
        matches!(
            support
                .propose_approval(&alice, request, &why("again", "T-9"), &client)
                .await,
            Err(SupportError::WrongState)
        ),
        "one proposal"
    );
    assert!(
        matches!(
            support
                .confirm_approval(&sam, request, &why("ok", "T-9"), &client)
                .await,
            Err(SupportError::SameAgent)
        ),
        "the proposer can't confirm"
    );
    assert!(matches!(
        support
            .confirm_approval(&alice, request, &why("ok", "T-9"), &client)
            .await,
        Err(SupportError::SupervisorOnly)
    ));
    let (_, body) = status_json(app.login(nic, PASSWORD).await).await;
    assert_eq!(body["status"], "second_factor_required", "nothing changed yet");
    // ACCT-5: an account blocked meanwhile (hacked: the request may be the intruder's) keeps 2FA.
    let hacked = why("hacked", "T-10");
    let block = |blocked| support.set_blocked(By::Agent(&sam), jane.id, blocked, &hacked, &client);
    block(true).await.unwrap();
    assert!(matches!(
        support
            .confirm_approval(&kim, request, &why("documents match", "T-9"), &client)
            .await,
        Err(SupportError::AccountNotActive)
    ));
    block(false).await.unwrap();
    support
        .confirm_approval(&kim, request, &why("second look: documents match", "T-9"), &client)
        .await
        .unwrap();
    let (_, body) = status_json(app.login(nic, PASSWORD).await).await;
    assert_eq!(body["status"], "logged_in", "2FA is off: the password alone logs in");
    assert!(
        app.app.store.documents(request).await.unwrap().is_empty(),
        "documents deleted"
    );
    app.deliver().await;
    assert!(
        smtp.messages_to("Jane.Doe@Example.com")
            .iter()
            .any(|m| m.text.contains("Kim")),
        "the customer is told, with the agent's first name"
    );
}

#[tokio::test]
async fn an_agent_password_hashed_with_other_settings_is_rehashed_at_login() {
    use sesame_core::factor::password::{Argon2Settings, PasswordHasher, PoolSettings};
    use sesame_core::support::SupportStore;
    use sesame_core::types::Password;
    let app = key_app().await;
    let (alice, _) = agent(&app, "alice@support.example", "Alice Martin", AgentRole::Agent).await;
    let store = &app.app.store;
    let current = alice.agent.password_phc.clone().unwrap();
    let older_settings = Argon2Settings {
        m_cost_kib: 64,
        t_cost: 1,
        p_cost: 1,
    };
    let pool = PoolSettings {
        workers: 1,
        max_queue: 1,
        queue_deadline: std::time::Duration::from_secs(5),
    };
    let older = PasswordHasher::new(older_settings, pool)
        .unwrap()
        .hash(&Password::new(AGENT_PASSWORD))
        .await
        .unwrap();
    assert!(
        store
            .update_agent_password(alice.agent.id, &current, &older)
            .await
            .unwrap()
    );
    assert!(
        !store
            .update_agent_password(alice.agent.id, &current, &older)
            .await
            .unwrap(),
        "only over the hash it replaces"
    );
    let hasher = app.app.services.hasher();
    assert!(hasher.needs_rehash(&older));
    let support = app.app.services.support();
    support
        .begin_login("alice@support.example", AGENT_PASSWORD, None)
        .await
        .unwrap();
    let rehashed = store
        .agent(alice.agent.id)
        .await
        .unwrap()
        .unwrap()
        .password_phc
        .unwrap();
    assert!(!hasher.needs_rehash(&rehashed), "{rehashed}");
    assert!(
        support
            .begin_login("alice@support.example", AGENT_PASSWORD, None)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_burst_of_guesses_at_an_agent_password_checks_no_more_than_the_limit() {
    let app = spawn_app_with(|c| c.public_url = c.public_url.replace("127.0.0.1", "localhost")).await;
    agent(&app, "alice@support.example", "Alice Martin", AgentRole::Agent).await;
    let support = app.app.services.support().clone();
    // The right password and no key: refused, and on record.
    let ceremony = support
        .begin_login("alice@support.example", AGENT_PASSWORD, None)
        .await
        .unwrap();
    let forged = serde_json::json!({"id": "AAAA", "rawId": "AAAA", "type": "public-key"});
    assert!(matches!(
        support
            .finish_login(ceremony.flow, &forged, &ClientInfo::default())
            .await,
        Err(SupportError::InvalidCredentials)
    ));
    let answers = at_once(16, |_| {
        let support = support.clone();
        async move {
            match support
                .begin_login("alice@support.example", "not the password", None)
                .await
            {
                Err(SupportError::InvalidCredentials) => "checked",
                Err(SupportError::Throttled) => "refused",
                _ => "other",
            }
        }
    })
    .await;
    let checked = answers.iter().filter(|a| **a == "checked").count();
    assert_eq!((checked, answers.len() - checked), (10, 6), "{answers:?}");
    // AUDIT-1: the invitation, the refused key and each wrong password are on record (who was
    // invited, never what was typed), and so is the disabling.
    support.disable("alice@support.example").await.unwrap();
    let events = sesame_store::testing::unattached_events(&app.app.store, "agent_access").await;
    let actions: Vec<String> = events
        .iter()
        .map(|d| {
            serde_json::from_str::<serde_json::Value>(d).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let count = |action: &str| actions.iter().filter(|a| *a == action).count();
    assert_eq!(
        (
            count("invited"),
            count("login"),
            count("login_failed"),
            count("key_refused"),
            count("disabled")
        ),
        (1, 1, 10, 1, 1),
        "{events:?}"
    );
    assert!(!events.iter().any(|d| d.contains("not the password")));
}

#[tokio::test]
async fn agent_passwords_are_throttled_and_a_refusal_reaches_the_customer_with_its_reason() {
    let (app, smtp) = spawn_mail_app(|c| c.public_url = c.public_url.replace("127.0.0.1", "localhost")).await;
    let (alice, _) = agent(&app, "alice@support.example", "Alice Martin", AgentRole::Agent).await;
    let support = app.app.services.support();
    for _ in 0..10 {
        assert!(matches!(
            support
                .begin_login("alice@support.example", "not the password", None)
                .await,
            Err(SupportError::InvalidCredentials)
        ));
    }
    assert!(
        matches!(
            support.begin_login("alice@support.example", AGENT_PASSWORD, None).await,
            Err(SupportError::Throttled)
        ),
        "even the right password waits"
    );
    app.advance(16);
    assert!(
        support
            .begin_login("alice@support.example", AGENT_PASSWORD, None)
            .await
            .is_ok()
    );
    // Spraying many emails from one address: after 20 wrong passwords in 15 minutes the address
    // waits, even for a real agent's right password; another address doesn't.
    let sprayer = Some("198.51.100.9");
    for i in 0..20 {
        let email = format!("guess{i}@support.example");
        assert!(matches!(
            support.begin_login(&email, "not the password", sprayer).await,
            Err(SupportError::InvalidCredentials)
        ));
    }
    assert!(matches!(
        support
            .begin_login("alice@support.example", AGENT_PASSWORD, sprayer)
            .await,
        Err(SupportError::Throttled)
    ));
    assert!(
        support
            .begin_login("alice@support.example", AGENT_PASSWORD, Some("198.51.100.10"))
            .await
            .is_ok()
    );

    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    crate::two_factor::enrol(&app, nic).await;
    let (browser, request) =
        confirmed_request(&app, &smtp, nic, include_bytes!("../fixtures/id-card.pdf"), "id.pdf").await;
    let client_info = ClientInfo::default();
    support
        .reject(
            &alice,
            request,
            &why("the document is unreadable", "T-55"),
            &client_info,
        )
        .await
        .unwrap();
    assert!(app.app.store.documents(request).await.unwrap().is_empty());
    let (_, body) = status_json(
        browser
            .get(app.url(&format!("/api/v1/recovery-requests/{request}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(body["status"], "rejected");
    app.deliver().await;
    assert!(
        smtp.messages_to("Jane.Doe@Example.com")
            .iter()
            .any(|m| m.text.contains("the document is unreadable") && m.text.contains("Alice")),
        "the reason and the agent's first name reach the customer"
    );
}
