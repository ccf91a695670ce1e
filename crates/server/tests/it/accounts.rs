//! ACCT-1, ACCT-2: NIC handles drawn among unused ones, growing a digit when crowded, never
//! handed out twice; customer codes redrawn on collision. The services run on the real store
//! with a random source that keeps proposing the same numbers.

use crate::helpers::*;
use serde_json::json;
use sesame_core::audit::{Actor, ClientInfo};
use sesame_core::clock::ManualClock;
use sesame_core::factor::password::{Argon2Settings, PasswordHasher, PoolSettings};
use sesame_core::random::Random;
use sesame_core::service::{CoreSettings, CreateAccountError, NewAccountInput, Services};
use sesame_core::types::{AccountType, Password};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Always the lowest NIC number; customer codes repeat each value twice, then move on.
#[derive(Debug, Default)]
struct Crowded(AtomicU64);

impl Random for Crowded {
    fn fill(&self, buf: &mut [u8]) {
        buf.fill(1);
    }
    fn below(&self, bound: u64) -> u64 {
        if bound == 900_000_000 {
            self.0.fetch_add(1, Ordering::SeqCst) / 2
        } else {
            0
        }
    }
}

#[tokio::test]
async fn crowded_initials_grow_a_digit_and_handles_stay_unique() {
    let app = spawn_app().await;
    let hasher = PasswordHasher::new(
        Argon2Settings {
            m_cost_kib: 256,
            t_cost: 1,
            p_cost: 1,
        },
        PoolSettings {
            workers: 1,
            max_queue: 4,
            queue_deadline: std::time::Duration::from_secs(5),
        },
    )
    .unwrap();
    let hasher = Arc::new(hasher);
    let services_with = |settings: CoreSettings| {
        Services::new(
            app.app.store.clone(),
            Arc::new(ManualClock::new(time::macros::datetime!(2026-11-25 09:00 UTC))),
            Arc::new(Crowded::default()),
            hasher.clone(),
            app.app.services.key().clone(),
            settings,
            Arc::new(sesame_mail::Composer::new(sesame_mail::ComposerSettings {
                brand: "Sesame".into(),
                public_url: url::Url::parse(&app.base).unwrap(),
                support_phones: Default::default(),
            })),
        )
    };
    let services = services_with(CoreSettings::default());
    let create_with = |services: &Services, n: u32| {
        let services = services.clone();
        async move {
            let input = NewAccountInput {
                email: format!("ann{n}@example.com"),
                first_name: "Ann".into(),
                last_name: "Bell".into(),
                country: "GB".into(),
                account_type: AccountType::Individual,
                company_name: None,
                phone: None,
                language: None,
                currency: None,
                password: Password::new(PASSWORD),
            };
            services
                .accounts()
                .create_account(input, Actor::Operator, &ClientInfo::default())
                .await
        }
    };
    let create = |n: u32| create_with(&services, n);
    let handles: Vec<String> = [
        create(1).await.unwrap(),
        create(2).await.unwrap(),
        create(3).await.unwrap(),
    ]
    .iter()
    .map(|a| a.nic_handle.as_str().to_owned())
    .collect();
    assert_eq!(handles, ["ab10000-ovh", "ab100000-ovh", "ab1000000-ovh"]);
    // Every length is taken for these numbers: the fourth can't get a handle, and says so.
    assert!(matches!(create(4).await, Err(CreateAccountError::Store(_))));
    // Customer codes collided along the way and were redrawn: all three differ.
    let mut codes = Vec::new();
    for n in 1..=3 {
        let account = app
            .app
            .services
            .accounts()
            .find_account(&format!("ann{n}@example.com"))
            .await
            .unwrap()
            .unwrap();
        codes.push(account.customer_code.as_str().to_owned());
    }
    codes.sort();
    codes.dedup();
    assert_eq!(codes.len(), 3);
    // The digits are settings: 4 to 5 here, and the 5-digit handle is taken already.
    let narrow = services_with(CoreSettings {
        nic_digits: 4..=5,
        ..CoreSettings::default()
    });
    let fifth = create_with(&narrow, 5).await.unwrap();
    assert_eq!(fifth.nic_handle.as_str(), "ab1000-ovh");
    assert!(matches!(
        create_with(&narrow, 6).await,
        Err(CreateAccountError::Store(_))
    ));
}

#[tokio::test]
async fn an_email_is_taken_in_any_case_or_width() {
    let app = spawn_app().await;
    app.jane().await;
    let input = NewAccountInput {
        email: "ＪＡＮＥ.doe@example.COM".into(),
        first_name: "Jane".into(),
        last_name: "Other".into(),
        country: "FR".into(),
        account_type: AccountType::Company,
        company_name: Some("Other SARL".into()),
        phone: None,
        language: None,
        currency: None,
        password: Password::new(PASSWORD),
    };
    let result = app
        .app
        .services
        .accounts()
        .create_account(input, Actor::Operator, &ClientInfo::default())
        .await;
    assert_eq!(result.unwrap_err(), CreateAccountError::EmailTaken);
}

#[tokio::test]
async fn emails_whose_domains_differ_under_idna_stay_apart_after_the_upgrade() {
    use sesame_core::ports::AccountStore;
    use sesame_store::testing::store_email_as_before;
    let app = spawn_app().await;
    // Before the change, `straße.de` was stored in the case-folded form of `strasse.de`.
    let sharp = app.account("victim@straße.de", "Vic", "Tim").await;
    store_email_as_before(&app.app.store, sharp.id.0, "victim@straße.de", "victim@strasse.de").await;
    // And an address typed in Unicode whose punycode twin has an account: a collision.
    let twin = app.account("a@xn--bcher-kva.example", "Ann", "Puny").await;
    let unicode = app.account("b@bücher.example", "Bea", "Uni").await;
    store_email_as_before(&app.app.store, unicode.id.0, "a@bücher.example", "a@bücher.example").await;

    // Restarting runs the data migration once.
    let TestApp { db, dir, .. } = app;
    let app = spawn_on(db, dir, |_| {}).await;
    let double = app.account("victim@strasse.de", "Dub", "Le").await;
    assert_ne!(double.id, sharp.id, "strasse.de is another domain, and free");
    for (login, owner) in [("Victim@STRASSE.de", &double), ("victim@straße.de", &sharp)] {
        let c = client();
        let (status, body) = post(
            &c,
            &app,
            "/api/v1/session",
            json!({"login": login, "password": PASSWORD}),
        )
        .await;
        assert_eq!(status, 200, "{login}: {body}");
        assert_eq!(body["account"]["nic_handle"], owner.nic_handle.as_str(), "{login}");
    }
    // The collision was never merged: the account keeps its old form for an operator to resolve.
    let kept = app.app.store.find_account(unicode.id).await.unwrap().unwrap();
    assert_eq!(kept.email.canonical(), "a@bücher.example");
    let (_, body) = post(
        &client(),
        &app,
        "/api/v1/session",
        json!({"login": "a@bücher.example", "password": PASSWORD}),
    )
    .await;
    assert_eq!(
        body["account"]["nic_handle"],
        twin.nic_handle.as_str(),
        "the punycode twin's address"
    );
}
