//! The store contract suite: every port method and its edge cases, run against whichever backend
//! `SESAME_TEST_BACKEND` names (the test command runs it on SQLite and on PostgreSQL).

use crate::SqlStore;
use crate::testing::TestDb;
use sesame_core::audit::{Actor, AuditEvent, AuditKind, ClientInfo};
use sesame_core::mail::ComposedMail;
use sesame_core::ports::*;
use sesame_core::recovery::{EmailChange, EmailTarget, RecoveryStore};
use sesame_core::types::*;
use std::sync::Arc;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

const T0: OffsetDateTime = datetime!(2026-11-25 10:00 UTC);

fn account(nic: &str, code: &str, email: &str) -> Account {
    Account {
        id: AccountId(new_id(T0)),
        nic_handle: NicHandle::from_stored(nic.into()),
        customer_code: CustomerCode::from_stored(code.into()),
        email: Email::parse(email).unwrap(),
        first_name: "Élodie".into(),
        last_name: "Ørsted".into(),
        account_type: AccountType::Company,
        company_name: Some("Ørsted SA".into()),
        phone: Some("+33612345678".into()),
        country: "FR".into(),
        language: "fr".into(),
        currency: "EUR".into(),
        subsidiary: "FR".into(),
        state: AccountState::Active,
        login_notifications: true,
        last_second_factor: None,
        created_at: T0,
        backup_email: None,
        backup_email_required: false,
    }
}

fn event(kind: AuditKind, at: OffsetDateTime) -> AuditEvent {
    let client = ClientInfo {
        ip: Some("192.0.2.7".into()),
        user_agent: Some("test".into()),
        device: Some("a-device-id".into()),
        new_device: false,
    };
    AuditEvent::new(at, kind, Actor::Customer, &client)
}

async fn create(store: &SqlStore, a: &Account) -> Result<(), StoreError> {
    store
        .create_account(&NewAccount {
            account: a.clone(),
            password_phc: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(),
            audit: event(AuditKind::AccountCreated, T0).account(a.id),
            mails: vec![],
            completes_flow: None,
        })
        .await
}

/// An authenticator app being enrolled (not yet enabled) on `account`.
fn pending_app(account: AccountId) -> FactorCredential {
    FactorCredential {
        id: Uuid::new_v4(),
        account_id: account,
        kind: "totp".into(),
        version: 1,
        data: "sealed".into(),
        description: "Phone".into(),
        created_at: T0,
        enabled_at: None,
        last_used_at: None,
    }
}

fn session(account: AccountId, hash: &[u8], at: OffsetDateTime) -> SessionRecord {
    SessionRecord {
        id: new_id(at),
        account_id: account,
        token_hash: hash.to_vec(),
        created_at: at,
        last_seen_at: at,
        authenticated_at: at,
        ip: Some("2001:db8::1".into()),
        user_agent: Some("Mozilla/5.0".into()),
        ended_at: None,
        second_factor: Some("backup_code".into()),
    }
}

/// A change of `account`'s `target` address to `address`, waiting for its code.
fn email_change(account: AccountId, target: EmailTarget, address: &str, created_at: OffsetDateTime) -> EmailChange {
    EmailChange {
        id: Uuid::now_v7(),
        account_id: account,
        target,
        email: Email::parse(address).unwrap(),
        current_reachable: true,
        attempts: 0,
        created_at,
        expires_at: created_at + Duration::minutes(30),
        applies_at: None,
        completed_at: None,
        cancelled_at: None,
    }
}

async fn fresh() -> (TestDb, SqlStore) {
    let db = TestDb::new().await;
    let store = db.store().await;
    (db, store)
}

/// Runs `n` calls at once, the `i`th made by `call(store, i)`, and returns their results in order.
async fn at_once<T, Fut>(store: &Arc<SqlStore>, n: usize, call: impl Fn(Arc<SqlStore>, usize) -> Fut) -> Vec<T>
where
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let tasks: Vec<_> = (0..n).map(|i| tokio::spawn(call(Arc::clone(store), i))).collect();
    let mut results = Vec::with_capacity(n);
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

#[tokio::test]
async fn accounts_round_trip_and_are_found_by_handle_or_email() {
    let (_db, store) = fresh().await;
    let a = account("eo12345-ovh", "1234-567-89", "Elodie.Orsted@Example.com");
    create(&store, &a).await.unwrap();
    assert_eq!(
        store.find_account_by_login("eo12345-ovh").await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        store.find_account_by_login("elodie.orsted@example.com").await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(store.find_account(a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(
        store.find_account_by_login("Elodie.Orsted@Example.com").await.unwrap(),
        None,
        "lookups take the canonical form"
    );
    assert_eq!(store.find_account(AccountId(Uuid::new_v4())).await.unwrap(), None);
    let events = store.recent_events(a.id, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, AuditKind::AccountCreated);
}

#[tokio::test]
async fn a_profile_change_is_written_with_its_event_once_and_voids_cached_sessions() {
    let (_db, store) = fresh().await;
    let a = account("eo12345-ovh", "1234-567-89", "elodie@example.com");
    create(&store, &a).await.unwrap();
    let update = ProfileUpdate {
        first_name: "Élodie".into(),
        last_name: "Ørsted-Lund".into(),
        account_type: AccountType::Individual,
        company_name: None,
        phone: None,
        language: "en".into(),
    };
    let before = store.account_generation(a.id);
    let at = T0 + Duration::minutes(1);
    let audit = event(AuditKind::ProfileChanged, at).account(a.id);
    assert!(store.update_profile(a.id, &update, &audit).await.unwrap());
    assert!(
        store.account_generation(a.id) > before,
        "cached sessions hold the old profile"
    );
    let found = store.find_account(a.id).await.unwrap().unwrap();
    assert_eq!(
        (
            found.last_name.as_str(),
            found.account_type,
            found.company_name,
            found.phone,
            found.language.as_str()
        ),
        ("Ørsted-Lund", AccountType::Individual, None, None, "en")
    );
    assert_eq!(
        Account {
            last_name: a.last_name.clone(),
            account_type: a.account_type,
            company_name: a.company_name.clone(),
            phone: a.phone.clone(),
            language: a.language.clone(),
            ..found
        },
        a,
        "nothing else moved"
    );
    // The same values again: nothing written, no second event.
    assert!(!store.update_profile(a.id, &update, &audit).await.unwrap());
    let kinds: Vec<_> = store
        .recent_events(a.id, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, [AuditKind::ProfileChanged, AuditKind::AccountCreated]);
    // A phone alone, from none: a change (NULL compared as a value).
    let phone = ProfileUpdate {
        phone: Some("+33612345678".into()),
        ..update
    };
    let again = event(AuditKind::ProfileChanged, at).account(a.id);
    assert!(store.update_profile(a.id, &phone, &again).await.unwrap());
    let unknown = AccountId(Uuid::new_v4());
    let nobody = event(AuditKind::ProfileChanged, at).account(unknown);
    assert!(!store.update_profile(unknown, &phone, &nobody).await.unwrap());
}

#[tokio::test]
async fn unique_values_report_which_one_is_taken() {
    let (_db, store) = fresh().await;
    create(&store, &account("ab12345-ovh", "1111-111-11", "a@example.com"))
        .await
        .unwrap();
    let nic = create(&store, &account("ab12345-ovh", "2222-222-22", "b@example.com")).await;
    assert_eq!(nic, Err(StoreError::Conflict(Unique::NicHandle)));
    let code = create(&store, &account("ab22345-ovh", "1111-111-11", "c@example.com")).await;
    assert_eq!(code, Err(StoreError::Conflict(Unique::CustomerCode)));
    let email = create(&store, &account("ab32345-ovh", "3333-333-33", "A@EXAMPLE.COM")).await;
    assert_eq!(email, Err(StoreError::Conflict(Unique::Email)));
    // A failed creation leaves nothing behind: its handle is still free.
    create(&store, &account("ab22345-ovh", "4444-444-44", "d@example.com"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_nic_handle_is_never_reused_even_after_its_account_is_gone() {
    let (_db, store) = fresh().await;
    let a = account("ab12345-ovh", "1111-111-11", "a@example.com");
    create(&store, &a).await.unwrap();
    for table in ["audit_events", "credentials", "accounts"] {
        sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table}")))
            .execute(&store.pool)
            .await
            .unwrap();
    }
    let again = create(&store, &account("ab12345-ovh", "2222-222-22", "b@example.com")).await;
    assert_eq!(again, Err(StoreError::Conflict(Unique::NicHandle)));
}

#[tokio::test]
async fn password_hashes_of_other_settings_are_found_past_the_current_prefix_and_the_skipped_ones() {
    let (_db, store) = fresh().await;
    let current = "$argon2id$v=19$m=64,t=1,p=1$";
    let accounts = [
        ("aa1-ovh", "1111-111-11", "a@example.com"),
        ("bb2-ovh", "2222-222-22", "b@example.com"),
        ("cc3-ovh", "3333-333-33", "c@example.com"),
        ("dd4-ovh", "4444-444-44", "d@example.com"),
    ]
    .map(|(nic, code, email)| account(nic, code, email));
    for a in &accounts {
        create(&store, a).await.unwrap();
    }
    let none = store.other_password_hash(current, &[]).await.unwrap();
    assert_eq!(none, None, "every hash is current");
    let bcrypt = "$2b$10$abcdefghijklmnopqrstuu5Y8z2dDpcTrn1SMFo0t1sMhnUd0Lni6";
    // Differs from the current prefix only by case: not current.
    let upper = "$ARGON2ID$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA";
    let older = "$argon2id$v=19$m=64,t=2,p=1$c2FsdHNhbHQ$aGFzaA";
    for (a, phc) in accounts.iter().zip([bcrypt, upper, older]) {
        let cred = store.password_credential(a.id).await.unwrap().unwrap();
        store.update_password_hash(cred.id, phc, T0).await.unwrap();
    }
    // A support agent's hash counts too.
    let agent = "$scrypt$ln=15,r=8,p=1$c2FsdA$aGFzaA";
    sqlx::query(
        "INSERT INTO agents (id, email, email_canonical, name, role, password_phc, created_at) \
         VALUES ('agent-1', 'x@example.com', 'x@example.com', 'X', 'agent', $1, 1)",
    )
    .bind(agent)
    .execute(&store.pool)
    .await
    .unwrap();
    // As the server calibrates: each answer's prefix is skipped next time.
    let mut found = Vec::new();
    while let Some(phc) = store.other_password_hash(current, &found).await.unwrap() {
        assert!(
            !found.iter().any(|f: &String| phc.starts_with(f.as_str())),
            "{phc} again"
        );
        found.push(phc);
        assert!(found.len() <= 4, "{found:?}");
    }
    found.sort();
    let mut expected = [bcrypt, upper, older, agent].map(str::to_owned).to_vec();
    expected.sort();
    assert_eq!(found, expected, "the fourth account's hash is current");
}

#[tokio::test]
async fn password_credentials_can_be_rehashed() {
    let (_db, store) = fresh().await;
    let a = account("ab12345-ovh", "1111-111-11", "a@example.com");
    create(&store, &a).await.unwrap();
    let cred = store.password_credential(a.id).await.unwrap().unwrap();
    assert!(cred.phc.starts_with("$argon2id$"));
    store.update_password_hash(cred.id, "$argon2id$new", T0).await.unwrap();
    assert_eq!(
        store.password_credential(a.id).await.unwrap().unwrap().phc,
        "$argon2id$new"
    );
    assert_eq!(
        store.password_credential(AccountId(Uuid::new_v4())).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn sessions_are_found_by_hash_touched_and_ended_once() {
    let (_db, store) = fresh().await;
    let a = account("ab12345-ovh", "1111-111-11", "a@example.com");
    create(&store, &a).await.unwrap();
    let login = T0 + Duration::seconds(1);
    let s = logged_in(&store, a.id, &[1; 32], login, &[]).await;
    assert_eq!(store.find_session(&[1; 32]).await.unwrap(), Some(s.clone()));
    assert_eq!(store.find_session(&[2; 32]).await.unwrap(), None);
    let stored = store.find_account(a.id).await.unwrap().unwrap();
    let live = |session: &SessionRecord, pending_backup: Option<Email>| LiveSession {
        session: session.clone(),
        account: stored.clone(),
        pending_backup,
    };
    assert_eq!(
        store.find_live_session(&[1; 32], login).await.unwrap(),
        Some(live(&s, None))
    );
    assert_eq!(store.find_live_session(&[2; 32], login).await.unwrap(), None);

    // RECOVER-3: the backup email waiting for its code comes with the session, until its code
    // expires; starting one raises the account's generation (a cached read is stale).
    let waiting =
        |address: &str, created_at: OffsetDateTime| email_change(a.id, EmailTarget::Backup, address, created_at);
    let before = store.account_generation(a.id);
    store
        .create_email_change(&waiting("old@example.net", login), &[], &[])
        .await
        .unwrap();
    let newer = waiting("New@Example.net", login + Duration::seconds(1));
    store.create_email_change(&newer, &[], &[]).await.unwrap();
    assert!(store.account_generation(a.id) > before);
    let at = login + Duration::minutes(2);
    assert_eq!(
        store.find_live_session(&[1; 32], at).await.unwrap(),
        Some(live(&s, Some(newer.email.clone()))),
        "the latest change, as typed"
    );
    let expired = login + Duration::minutes(31);
    assert_eq!(
        store.find_live_session(&[1; 32], expired).await.unwrap(),
        Some(live(&s, None))
    );
    let before = store.account_generation(a.id);
    let cancelled = event(AuditKind::EmailChanged, at).account(a.id);
    assert!(store.cancel_email_change(newer.id, at, &cancelled, &[]).await.unwrap());
    assert!(
        store.account_generation(a.id) > before,
        "a cancelled change leaves the read"
    );
    assert_eq!(
        store.find_live_session(&[1; 32], at).await.unwrap(),
        Some(live(&s, None))
    );

    let later = T0 + Duration::minutes(5);
    store.touch_session(s.id, later).await.unwrap();
    store.touch_session(s.id, login).await.unwrap(); // never moves back
    assert_eq!(store.find_session(&[1; 32]).await.unwrap().unwrap().last_seen_at, later);

    let bye = event(AuditKind::Logout, later).account(a.id);
    let before = (store.generation(), store.account_generation(a.id));
    assert!(store.end_session(s.id, later, &bye).await.unwrap());
    assert!(
        store.generation() > before.0 && store.account_generation(a.id) > before.1,
        "the session cache learns of the end at once"
    );
    assert!(!store.end_session(s.id, later, &bye).await.unwrap());
    assert_eq!(store.find_session(&[1; 32]).await.unwrap(), None);
    assert_eq!(store.find_live_session(&[1; 32], later).await.unwrap(), None);
    let kinds: Vec<_> = store
        .recent_events(a.id, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            AuditKind::Logout,
            AuditKind::EmailChanged,
            AuditKind::LoginSucceeded,
            AuditKind::AccountCreated
        ]
    );
}

#[tokio::test]
async fn an_email_change_never_makes_the_primary_and_the_backup_one_address() {
    let (_db, store) = fresh().await;
    let a = account("ab12345-ovh", "1234-567-89", "Jane@Example.com");
    create(&store, &a).await.unwrap();
    // RECOVER-3: two changes started side by side each passed the check at their start, so the
    // store checks again as one applies.
    let backup = email_change(a.id, EmailTarget::Backup, "jane.spare@example.org", T0);
    let primary = email_change(a.id, EmailTarget::Primary, "Jane.Spare@Example.org", T0);
    store.create_email_change(&backup, &[], &[]).await.unwrap();
    store.create_email_change(&primary, &[], &[]).await.unwrap();
    let at = T0 + Duration::minutes(1);
    let added = event(AuditKind::BackupEmailChanged, at).account(a.id);
    assert!(store.apply_email_change(backup.id, at, &added, &[]).await.unwrap());
    let changed = event(AuditKind::EmailChanged, at).account(a.id);
    assert_eq!(
        store.apply_email_change(primary.id, at, &changed, &[]).await,
        Err(StoreError::Conflict(Unique::OtherAddress))
    );
    // And a backup that is the primary's address.
    let to_primary = email_change(a.id, EmailTarget::Backup, "JANE@example.com", at);
    store.create_email_change(&to_primary, &[], &[]).await.unwrap();
    assert_eq!(
        store.apply_email_change(to_primary.id, at, &added, &[]).await,
        Err(StoreError::Conflict(Unique::OtherAddress))
    );

    // Nothing of the refused changes was written: they stay open, the addresses and the record
    // are as the one applied change left them.
    let stored = store.find_account(a.id).await.unwrap().unwrap();
    assert_eq!(stored.email, a.email);
    assert_eq!(stored.backup_email, Some(backup.email.clone()));
    for refused in [primary.id, to_primary.id] {
        assert_eq!(
            store.find_email_change(refused).await.unwrap().unwrap().completed_at,
            None
        );
    }
    let kinds: Vec<_> = store
        .recent_events(a.id, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, [AuditKind::BackupEmailChanged, AuditKind::AccountCreated]);
}

#[tokio::test]
async fn blocking_an_account_ends_all_its_sessions() {
    let (_db, store) = fresh().await;
    let a = account("ab12345-ovh", "1111-111-11", "a@example.com");
    create(&store, &a).await.unwrap();
    for i in 1..=3u8 {
        logged_in(&store, a.id, &[i; 32], T0, &[]).await;
    }
    let block = event(AuditKind::AccountBlocked, T0).account(a.id);
    let before = (store.generation(), store.account_generation(a.id));
    assert!(
        store
            .set_account_state(a.id, AccountState::Blocked, &block, &[])
            .await
            .unwrap()
    );
    assert!(store.generation() > before.0 && store.account_generation(a.id) > before.1);
    assert!(
        !store
            .set_account_state(a.id, AccountState::Blocked, &block, &[])
            .await
            .unwrap()
    );
    assert_eq!(
        store.find_account(a.id).await.unwrap().unwrap().state,
        AccountState::Blocked
    );
    for i in 1..=3u8 {
        assert_eq!(store.find_session(&[i; 32]).await.unwrap(), None);
    }
    logged_in(&store, a.id, &[9; 32], T0, &[]).await;
    let before = (store.generation(), store.account_generation(a.id));
    // SUPPORT-5: the action's audit event and mail go with it.
    let ended = event(AuditKind::SupportAction, T0).account(a.id);
    let told = mail("a@example.com", false, None);
    assert_eq!(
        store
            .end_all_sessions(a.id, &ended, std::slice::from_ref(&told))
            .await
            .unwrap(),
        1
    );
    assert!(store.generation() > before.0 && store.account_generation(a.id) > before.1);
    assert!(
        store
            .recent_events(a.id, 10)
            .await
            .unwrap()
            .iter()
            .any(|e| e.kind == AuditKind::SupportAction)
    );
    assert_eq!(crate::testing::outbox_recipients(&store).await, vec![told.recipient]);
    let again = event(AuditKind::SupportAction, T0).account(a.id);
    assert_eq!(store.end_all_sessions(a.id, &again, &[]).await.unwrap(), 0);
}

#[tokio::test]
async fn a_reset_not_me_a_block_or_ending_every_session_cancels_the_open_email_changes() {
    let (_db, store) = fresh().await;
    let a = account("ab12345-ovh", "1111-111-11", "a@example.com");
    create(&store, &a).await.unwrap();
    let at = T0 + Duration::minutes(1);
    // RECOVER-4: a change someone else started (its day-long wait included) must not go on once
    // the owner takes the account back.
    async fn waiting(store: &SqlStore, account: AccountId, n: u8) -> Uuid {
        let change = email_change(account, EmailTarget::Primary, &format!("new{n}@example.net"), T0);
        let mut code = secret("email-change", &[n; 32], T0 + Duration::minutes(30));
        code.account_id = Some(account);
        code.flow_id = Some(change.id);
        store.create_email_change(&change, &[code], &[]).await.unwrap();
        let scheduled = event(AuditKind::EmailChanged, T0).account(account);
        let applies_at = T0 + Duration::hours(24);
        let mut link = secret("email-change-cancel", &[n + 100; 32], applies_at);
        link.account_id = Some(account);
        link.flow_id = Some(change.id);
        let links = [link];
        assert!(
            store
                .schedule_email_change(change.id, applies_at, &links, &scheduled, &[])
                .await
                .unwrap()
        );
        change.id
    }
    async fn cancelled(store: &SqlStore, id: Uuid, n: u8, at: OffsetDateTime) {
        let change = store.find_email_change(id).await.unwrap().unwrap();
        assert_eq!((change.cancelled_at, change.completed_at), (Some(at), None));
        for hash in [[n; 32], [n + 100; 32]] {
            for purpose in ["email-change", "email-change-cancel"] {
                let found = store.find_secret(purpose, &[hash.to_vec()], at).await.unwrap();
                assert_eq!(found, None, "its codes and links are void");
            }
        }
        assert_eq!(store.due_email_changes(T0 + Duration::days(2), 10).await.unwrap(), []);
    }

    let change = waiting(&store, a.id, 1).await;
    let audit = event(AuditKind::PasswordChanged, at).account(a.id);
    let new_password = sesame_core::recovery::PasswordChange {
        account: a.id,
        phc: "$argon2id$v=19$m=64,t=1,p=1$bmV3c2FsdA$aGFzaA",
        consume: None,
        keep_session: None,
        now: at,
        audit: &audit,
        mails: &[],
    };
    assert!(store.set_password(&new_password).await.unwrap());
    cancelled(&store, change, 1, at).await;

    let change = waiting(&store, a.id, 2).await;
    let mut link = secret("not-me", &[7; 32], T0 + Duration::days(7));
    link.account_id = Some(a.id);
    store.create_secret(&link).await.unwrap();
    let ended = event(AuditKind::SessionEnded, at);
    let not_me = store
        .consume_ending_sessions("not-me", &[7; 32], at, &ended)
        .await
        .unwrap();
    assert_eq!(not_me, Some(a.id));
    cancelled(&store, change, 2, at).await;

    let change = waiting(&store, a.id, 3).await;
    let support = event(AuditKind::SupportAction, at).account(a.id);
    assert_eq!(store.end_all_sessions(a.id, &support, &[]).await.unwrap(), 0);
    cancelled(&store, change, 3, at).await;

    let change = waiting(&store, a.id, 4).await;
    let block = event(AuditKind::AccountBlocked, at).account(a.id);
    assert!(
        store
            .set_account_state(a.id, AccountState::Blocked, &block, &[])
            .await
            .unwrap()
    );
    cancelled(&store, change, 4, at).await;
}

fn secret(purpose: &str, hash: &[u8], expires_at: OffsetDateTime) -> OneTimeSecret {
    OneTimeSecret {
        id: Uuid::new_v4(),
        purpose: purpose.into(),
        account_id: None,
        flow_id: Some(Uuid::new_v4()),
        secret_hash: hash.to_vec(),
        created_at: T0,
        expires_at,
    }
}

#[tokio::test]
async fn a_not_me_secret_is_spent_only_together_with_the_sessions_it_ends() {
    let (_db, store) = fresh().await;
    let a = account("ab12345-ovh", "1111-111-11", "a@example.com");
    create(&store, &a).await.unwrap();
    for i in 1..=2u8 {
        logged_in(&store, a.id, &[i; 32], T0, &[]).await;
    }
    let mut link = secret("not-me", &[7; 32], T0 + Duration::days(7));
    link.account_id = Some(a.id);
    link.flow_id = None;
    store.create_secret(&link).await.unwrap();
    let later = T0 + Duration::seconds(1);
    let ended = event(AuditKind::SessionEnded, later);
    let before = (store.generation(), store.account_generation(a.id));
    assert_eq!(
        store
            .consume_ending_sessions("not-me", &[7; 32], later, &ended)
            .await
            .unwrap(),
        Some(a.id)
    );
    assert!(store.generation() > before.0 && store.account_generation(a.id) > before.1);
    for i in 1..=2u8 {
        assert_eq!(store.find_session(&[i; 32]).await.unwrap(), None);
    }
    let recent = store.recent_events(a.id, 1).await.unwrap();
    assert_eq!(
        recent[0].kind,
        AuditKind::SessionEnded,
        "the audit event names the account"
    );
    assert_eq!(
        store
            .consume_ending_sessions("not-me", &[7; 32], later, &ended)
            .await
            .unwrap(),
        None,
        "once"
    );
}

#[tokio::test]
async fn expired_secrets_are_purged_a_batch_at_a_time_and_live_ones_stay() {
    let (_db, store) = fresh().await;
    for i in 1..=3u8 {
        store
            .create_secret(&secret("code", &[i; 32], T0 + Duration::minutes(10)))
            .await
            .unwrap();
    }
    store
        .create_secret(&secret("code", &[9; 32], T0 + Duration::days(7)))
        .await
        .unwrap();
    let later = T0 + Duration::days(1);
    assert_eq!(store.purge_expired_secrets(later, 2).await.unwrap(), 2);
    assert_eq!(store.purge_expired_secrets(later, 2).await.unwrap(), 1);
    assert_eq!(store.purge_expired_secrets(later, 2).await.unwrap(), 0);
    assert!(store.consume_secret("code", &[9; 32], later).await.unwrap().is_some());
}

#[tokio::test]
async fn expired_flows_and_idle_counters_are_purged_in_batches_but_kept_scopes_stay() {
    let (_db, store) = fresh().await;
    let mut expired = Vec::new();
    for _ in 0..3 {
        let flow = flow_record(T0 - Duration::hours(2));
        store.create_flow(&flow, &[], &[]).await.unwrap();
        expired.push(flow.id);
    }
    let live = flow_record(T0);
    store.create_flow(&live, &[], &[]).await.unwrap();
    assert_eq!(store.purge_expired_flows(T0, 2).await.unwrap(), 2);
    assert_eq!(store.purge_expired_flows(T0, 2).await.unwrap(), 1);
    assert_eq!(store.purge_expired_flows(T0, 2).await.unwrap(), 0);
    for id in expired {
        assert_eq!(store.find_flow(id, "signup").await.unwrap(), None);
    }
    assert!(store.find_flow(live.id, "signup").await.unwrap().is_some());

    let old = T0 - Duration::days(40);
    let ever = OffsetDateTime::UNIX_EPOCH;
    for key in ["?nobody", "203.0.113.0", "198.51.100.0"] {
        store.hits(&[("pw-address", key)], ever, old).await.unwrap();
    }
    store.hits(&[("pw-address", "192.0.2.0")], ever, T0).await.unwrap();
    for _ in 0..3 {
        store.hits(&[("pw-account", "a")], ever, old).await.unwrap();
    }
    store.hits(&[("2fa-failures", "a")], ever, old).await.unwrap();
    store.hits(&[("signup", "a@example.com")], ever, old).await.unwrap();
    let keep = ["pw-account", "2fa-failures"];
    let cut = T0 - Duration::days(30);
    assert_eq!(store.purge_idle_counters(cut, &keep, 2).await.unwrap(), 2);
    assert_eq!(store.purge_idle_counters(cut, &keep, 2).await.unwrap(), 2);
    assert_eq!(store.purge_idle_counters(cut, &keep, 2).await.unwrap(), 0);
    let left = store
        .counts(&[
            ("pw-account", "a", ever),
            ("2fa-failures", "a", ever),
            ("pw-address", "192.0.2.0", ever),
            ("signup", "a@example.com", ever),
        ])
        .await
        .unwrap();
    assert_eq!(
        left.iter().map(|c| c.0).collect::<Vec<_>>(),
        [3, 1, 1, 0],
        "the kept scopes and the recent counter stay"
    );
}

#[tokio::test]
async fn one_time_secrets_are_consumed_once_and_only_before_expiry() {
    let (_db, store) = fresh().await;
    let s = secret("email_code", &[7; 32], T0 + Duration::minutes(10));
    store.create_secret(&s).await.unwrap();
    assert_eq!(
        store.consume_secret("reset", &[7; 32], T0).await.unwrap(),
        None,
        "purpose must match"
    );
    assert_eq!(store.consume_secret("email_code", &[7; 32], T0).await.unwrap(), Some(s));
    assert_eq!(store.consume_secret("email_code", &[7; 32], T0).await.unwrap(), None);

    let late = secret("email_code", &[8; 32], T0 + Duration::minutes(10));
    store.create_secret(&late).await.unwrap();
    let at_expiry = T0 + Duration::minutes(10);
    assert_eq!(
        store.consume_secret("email_code", &[8; 32], at_expiry).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn parallel_consumption_has_exactly_one_winner() {
    let (_db, store) = fresh().await;
    let store = Arc::new(store);
    for round in 0..10u8 {
        store
            .create_secret(&secret("race", &[round; 32], T0 + Duration::hours(1)))
            .await
            .unwrap();
        let won = at_once(&store, 16, |store, _| async move {
            store.consume_secret("race", &[round; 32], T0).await.unwrap()
        })
        .await;
        assert_eq!(won.iter().flatten().count(), 1, "round {round}");
    }
}

#[tokio::test]
async fn a_newer_link_voids_the_older_ones_even_when_requested_at_once() {
    // RECOVER-1: "a newer request voids older ones", also for requests that overlap.
    let (_db, store) = fresh().await;
    let a = account("ab12345-ovh", "1111-111-11", "a@example.com");
    create(&store, &a).await.unwrap();
    let store = Arc::new(store);
    for round in 0..5u8 {
        at_once(&store, 8, |store, i| async move {
            let hash = [round * 8 + u8::try_from(i).unwrap(); 32];
            let link = OneTimeSecret {
                account_id: Some(a.id),
                flow_id: None,
                ..secret("reset", &hash, T0 + Duration::hours(1))
            };
            store.replace_secret(&link, &[]).await.unwrap();
        })
        .await;
        let mut live = 0;
        for i in 0..8u8 {
            let hash = vec![round * 8 + i; 32];
            live += usize::from(store.find_secret("reset", &[hash], T0).await.unwrap().is_some());
        }
        assert_eq!(live, 1, "round {round}: live reset links");
    }
}

#[tokio::test]
async fn recent_events_are_newest_first_and_limited() {
    let (_db, store) = fresh().await;
    let a = account("ab12345-ovh", "1111-111-11", "a@example.com");
    create(&store, &a).await.unwrap();
    for minute in 1..=5 {
        let e = event(AuditKind::LoginFailed, T0 + Duration::minutes(minute))
            .account(a.id)
            .failed("wrong_password");
        store.record(&e).await.unwrap();
    }
    store
        .record(&event(AuditKind::LoginFailed, T0).failed("unknown_account"))
        .await
        .unwrap();
    let events = store.recent_events(a.id, 3).await.unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].at, T0 + Duration::minutes(5));
    assert!(!events[0].success);
    assert_eq!(events[0].detail.as_deref(), Some("wrong_password"));
    assert_eq!(events[0].ip.as_deref(), Some("192.0.2.7"));
    let device = sesame_core::audit::device_fingerprint("a-device-id");
    assert_eq!(
        events[0].device.as_deref(),
        Some(device.as_str()),
        "AUDIT-1: the device"
    );
}

#[tokio::test]
async fn migrations_are_idempotent_and_safe_to_run_concurrently() {
    let db = TestDb::new().await;
    let (a, b) = (
        SqlStore::open(&db.url, crate::testing::TEST_POOL).await.unwrap(),
        SqlStore::open(&db.url, crate::testing::TEST_POOL).await.unwrap(),
    );
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    ra.unwrap();
    rb.unwrap();
    a.migrate().await.unwrap();
    a.ping().await.unwrap();
}

fn mail(to: &str, sensitive: bool, expires_at: Option<OffsetDateTime>) -> ComposedMail {
    let id = Uuid::new_v4();
    ComposedMail {
        id,
        message_id: format!("<{}@example.com>", id.simple()),
        recipient: to.into(),
        template: "welcome".into(),
        language: "en".into(),
        subject: "Hello".into(),
        text: "code 123456".into(),
        html: "<p>code 123456</p>".into(),
        sensitive,
        account_id: None,
        created_at: T0,
        expires_at,
    }
}

/// A session of `account` opened as a login at `at` opens one: with its audit event and `mails`.
async fn logged_in(
    store: &SqlStore,
    account: AccountId,
    hash: &[u8],
    at: OffsetDateTime,
    mails: &[ComposedMail],
) -> SessionRecord {
    let s = session(account, hash, at);
    let audit = event(AuditKind::LoginSucceeded, at).account(account);
    let new = NewSession {
        session: &s,
        audit: &audit,
        mails,
        secrets: &[],
        device_hash: None,
        network: None,
        counters: &[],
    };
    store.create_session(new).await.unwrap();
    s
}

/// One mail claimed, as a worker with a batch of one would.
async fn claim_mail(
    store: &SqlStore,
    worker: &str,
    now: OffsetDateTime,
    lease_until: OffsetDateTime,
) -> Result<Option<ClaimedMail>, StoreError> {
    Ok(store.claim_mails(worker, now, lease_until, 1).await?.pop())
}

async fn stored_body(store: &SqlStore, id: Uuid) -> Option<String> {
    sqlx::query_scalar::<_, Option<String>>("SELECT body_text FROM outbox WHERE id = $1")
        .bind(id.to_string())
        .fetch_one(&store.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_login_remembers_its_device_and_network_and_stores_its_link_and_clears_its_counters_with_the_session() {
    let (_db, store) = fresh().await;
    let a = account("ab12345-ovh", "1111-111-11", "a@example.com");
    create(&store, &a).await.unwrap();
    let s = session(a.id, &[1; 32], T0);
    let mut link = secret("not-me", &[7; 32], T0 + Duration::days(7));
    link.account_id = Some(a.id);
    link.flow_id = None;
    let since = T0 - Duration::days(1);
    assert!(!store.is_known_device(a.id, &[9; 32]).await.unwrap());
    assert!(!store.network_seen_since(a.id, "192.0.2.0/24", since).await.unwrap());
    let ever = OffsetDateTime::UNIX_EPOCH;
    let counters = [("pw-account", "a"), ("pw-address", "192.0.2.0"), ("pw-account", "b")];
    store.hits(&counters, ever, T0).await.unwrap();
    store
        .create_session(NewSession {
            session: &s,
            audit: &event(AuditKind::LoginSucceeded, T0).account(a.id),
            mails: &[],
            secrets: std::slice::from_ref(&link),
            device_hash: Some(&[9; 32]),
            network: Some("192.0.2.0/24"),
            counters: &counters[..2],
        })
        .await
        .unwrap();
    let windows: Vec<_> = counters.iter().map(|&(scope, key)| (scope, key, ever)).collect();
    let failures: Vec<i64> = store.counts(&windows).await.unwrap().iter().map(|c| c.0).collect();
    assert_eq!(failures, [0, 0, 1], "the login's two counters cleared, another kept");
    assert!(store.is_known_device(a.id, &[9; 32]).await.unwrap());
    assert!(store.network_seen_since(a.id, "192.0.2.0/24", since).await.unwrap());
    assert!(
        !store
            .network_seen_since(a.id, "192.0.2.0/24", T0 + Duration::seconds(1))
            .await
            .unwrap()
    );
    let spent = store.consume_secret("not-me", &[7; 32], T0).await.unwrap();
    assert_eq!(spent.map(|s| s.id), Some(link.id));
}

#[tokio::test]
async fn mail_is_queued_with_its_change_and_claimed_by_one_worker() {
    let (_db, store) = fresh().await;
    let a = account("ab12345-ovh", "1111-111-11", "a@example.com");
    create(&store, &a).await.unwrap();
    let m = mail("a@example.com", true, None);
    logged_in(&store, a.id, &[1; 32], T0, std::slice::from_ref(&m)).await;
    let lease = T0 + Duration::minutes(1);
    let claimed = claim_mail(&store, "w1", T0, lease).await.unwrap().unwrap();
    assert_eq!(claimed.mail, m);
    assert_eq!(claimed.attempts, 1);
    assert_eq!(claim_mail(&store, "w2", T0, lease).await.unwrap(), None, "leased to w1");
    store.mark_sent(&[m.id], T0).await.unwrap();
    assert_eq!(
        stored_body(&store, m.id).await,
        None,
        "a sensitive body is cleared once sent"
    );
    assert_eq!(
        claim_mail(&store, "w2", lease + Duration::minutes(1), lease)
            .await
            .unwrap(),
        None,
        "sent is final"
    );
    let status = store.outbox_status(10).await.unwrap();
    assert_eq!((status.pending, status.sent), (0, 1));
}

#[tokio::test]
async fn an_abandoned_claim_expires_and_a_failure_waits_for_its_retry_time() {
    let (_db, store) = fresh().await;
    let m = mail("a@example.com", false, None);
    let flow = flow_record(T0);
    store.create_flow(&flow, &[], std::slice::from_ref(&m)).await.unwrap();
    let lease = T0 + Duration::minutes(1);
    claim_mail(&store, "crashed", T0, lease).await.unwrap().unwrap();
    let again = claim_mail(&store, "w2", lease + Duration::seconds(1), lease + Duration::minutes(2))
        .await
        .unwrap();
    assert_eq!(again.unwrap().attempts, 2, "the lease ran out: another worker takes it");
    let retry_at = T0 + Duration::minutes(10);
    store
        .mark_failed(m.id, "421 try later", Some(retry_at), T0)
        .await
        .unwrap();
    assert_eq!(
        claim_mail(&store, "w2", retry_at - Duration::seconds(1), retry_at)
            .await
            .unwrap(),
        None
    );
    let third = claim_mail(&store, "w2", retry_at, retry_at + Duration::minutes(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(third.mail.message_id, m.message_id, "one Message-ID across retries");
    store
        .mark_failed(m.id, "550 no such user", None, retry_at)
        .await
        .unwrap();
    let status = store.outbox_status(10).await.unwrap();
    assert_eq!(status.parked.len(), 1);
    assert_eq!(status.parked[0].last_error.as_deref(), Some("550 no such user"));
    assert_eq!(
        claim_mail(&store, "w2", retry_at + Duration::hours(1), retry_at)
            .await
            .unwrap(),
        None,
        "parked"
    );
    assert_eq!(store.retry_parked(Some(m.id), retry_at).await.unwrap(), 1);
    assert!(
        claim_mail(&store, "w2", retry_at, retry_at + Duration::minutes(1))
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn expired_mail_is_dropped_with_its_sensitive_body() {
    let (_db, store) = fresh().await;
    let code = mail("a@example.com", true, Some(T0 + Duration::minutes(10)));
    let notice = mail("a@example.com", false, Some(T0 + Duration::minutes(10)));
    store
        .create_flow(&flow_record(T0), &[], &[code.clone(), notice.clone()])
        .await
        .unwrap();
    assert_eq!(store.drop_expired_mail(T0 + Duration::minutes(9)).await.unwrap(), 0);
    assert_eq!(store.drop_expired_mail(T0 + Duration::minutes(10)).await.unwrap(), 2);
    assert_eq!(stored_body(&store, code.id).await, None);
    assert!(stored_body(&store, notice.id).await.is_some());
    assert_eq!(
        claim_mail(&store, "w", T0 + Duration::hours(1), T0 + Duration::hours(2))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.retry_parked(None, T0).await.unwrap(),
        1,
        "only the one with a body can go again"
    );
}

#[tokio::test]
async fn a_parked_mail_loses_its_code_once_it_expires() {
    let (_db, store) = fresh().await;
    let code = mail("a@example.com", true, Some(T0 + Duration::minutes(10)));
    store
        .create_flow(&flow_record(T0), &[], std::slice::from_ref(&code))
        .await
        .unwrap();
    assert!(
        claim_mail(&store, "w", T0, T0 + Duration::minutes(1))
            .await
            .unwrap()
            .is_some()
    );
    store.mark_failed(code.id, "relay refused", None, T0).await.unwrap();
    assert!(
        stored_body(&store, code.id).await.is_some(),
        "kept for a retry while it works"
    );
    assert_eq!(store.drop_expired_mail(T0 + Duration::minutes(10)).await.unwrap(), 1);
    assert_eq!(stored_body(&store, code.id).await, None);
    assert_eq!(
        store.drop_expired_mail(T0 + Duration::minutes(20)).await.unwrap(),
        0,
        "once"
    );
    assert_eq!(
        store.outbox_status(10).await.unwrap().parked[0].last_error.as_deref(),
        Some("relay refused")
    );
}

#[tokio::test]
async fn parallel_claims_have_exactly_one_winner() {
    let (_db, store) = fresh().await;
    let store = Arc::new(store);
    for round in 0..5 {
        let m = mail("a@example.com", false, None);
        store.create_flow(&flow_record(T0), &[], &[m]).await.unwrap();
        let won = at_once(&store, 8, |store, i| async move {
            claim_mail(&store, &format!("w{i}"), T0, T0 + Duration::minutes(1))
                .await
                .unwrap()
        })
        .await;
        assert_eq!(won.iter().flatten().count(), 1, "round {round}");
    }
}

#[tokio::test]
async fn mails_are_claimed_in_batches_oldest_first_and_marked_sent_together() {
    let (_db, store) = fresh().await;
    let now = T0 + Duration::seconds(10);
    let mut queued = Vec::new();
    for i in 0..4 {
        // The last one expires before the worker comes: never claimed (MAIL-1).
        let expires = (i == 3).then(|| T0 + Duration::seconds(5));
        let mut m = mail("a@example.com", true, expires);
        m.created_at = T0 + Duration::seconds(3 - i);
        store
            .create_flow(&flow_record(T0), &[], std::slice::from_ref(&m))
            .await
            .unwrap();
        queued.push(m.id);
    }
    let lease = now + Duration::minutes(1);
    let ids = |claimed: Vec<ClaimedMail>| claimed.into_iter().map(|c| c.mail.id).collect::<Vec<_>>();
    let first = ids(store.claim_mails("w", now, lease, 2).await.unwrap());
    assert_eq!(first, [queued[2], queued[1]], "oldest first");
    let second = ids(store.claim_mails("w", now, lease, 2).await.unwrap());
    assert_eq!(second, [queued[0]], "the expired one is left");
    assert!(store.claim_mails("w", now, lease, 2).await.unwrap().is_empty());
    store.mark_sent(&[first, second].concat(), now).await.unwrap();
    let status = store.outbox_status(10).await.unwrap();
    assert_eq!((status.pending, status.sent), (1, 3));
    for id in &queued[..3] {
        assert_eq!(stored_body(&store, *id).await, None, "sensitive bodies cleared");
    }
}

fn flow_record(at: OffsetDateTime) -> FlowRecord {
    FlowRecord {
        id: Uuid::new_v4(),
        kind: "signup".into(),
        account_id: None,
        state: "{\"step\":\"verify_email\"}".into(),
        version: 0,
        attempts: 0,
        created_at: at,
        expires_at: at + Duration::hours(1),
        completed_at: None,
    }
}

#[tokio::test]
async fn a_new_password_or_an_enabled_device_ends_the_accounts_open_login_flows() {
    let (_db, store) = fresh().await;
    let a = account("ab12345-ovh", "1111-111-11", "a@example.com");
    let b = account("cd12345-ovh", "2222-222-22", "b@example.com");
    for x in [&a, &b] {
        create(&store, x).await.unwrap();
    }
    let login_flow = |account: AccountId| FlowRecord {
        kind: "login".into(),
        account_id: Some(account),
        ..flow_record(T0)
    };
    let audit = event(AuditKind::PasswordChanged, T0).account(a.id);
    let (mine, theirs) = (login_flow(a.id), login_flow(b.id));
    for f in [&mine, &theirs] {
        store.create_flow(f, &[], &[]).await.unwrap();
    }
    let change = sesame_core::recovery::PasswordChange {
        account: a.id,
        phc: "$argon2id$v=19$m=64,t=1,p=1$bmV3c2FsdA$aGFzaA",
        consume: None,
        keep_session: None,
        now: T0,
        audit: &audit,
        mails: &[],
    };
    assert!(store.set_password(&change).await.unwrap());
    assert_eq!(
        store.find_flow(mine.id, "login").await.unwrap(),
        None,
        "begun with the old password"
    );
    assert!(
        store.find_flow(theirs.id, "login").await.unwrap().is_some(),
        "another account's"
    );

    let mine = login_flow(a.id);
    store.create_flow(&mine, &[], &[]).await.unwrap();
    let app = pending_app(a.id);
    let changed = || event(AuditKind::TwoFactorChanged, T0).account(a.id);
    store.add_credential(&app, &changed()).await.unwrap();
    assert!(
        store.find_flow(mine.id, "login").await.unwrap().is_some(),
        "a pending device changes nothing"
    );
    let codes = [OneTimeSecret {
        account_id: Some(a.id),
        flow_id: None,
        ..secret("backup-code", &[9; 32], T0 + Duration::days(3650))
    }];
    assert!(
        store
            .enable_credential(app.id, a.id, "data", &codes, &changed(), &[])
            .await
            .unwrap()
    );
    assert_eq!(
        store.find_flow(mine.id, "login").await.unwrap(),
        None,
        "what a login proves changed"
    );
}

#[tokio::test]
async fn flows_update_with_optimistic_versions_and_void_older_secrets() {
    let (_db, store) = fresh().await;
    let f = flow_record(T0);
    let first = OneTimeSecret {
        flow_id: Some(f.id),
        ..secret("code", &[1; 32], T0 + Duration::minutes(10))
    };
    store.create_flow(&f, &[first], &[]).await.unwrap();
    assert_eq!(store.find_flow(f.id, "signup").await.unwrap(), Some(f.clone()));
    assert_eq!(
        store.find_flow(f.id, "recovery").await.unwrap(),
        None,
        "kind must match"
    );
    let second = OneTimeSecret {
        flow_id: Some(f.id),
        ..secret("code", &[2; 32], T0 + Duration::minutes(10))
    };
    let update = FlowUpdate {
        id: f.id,
        expected_version: 0,
        state: "{}",
        void_purpose: Some("code"),
        secrets: std::slice::from_ref(&second),
        mails: &[],
        now: T0,
    };
    assert!(store.update_flow(&update).await.unwrap());
    assert!(!store.update_flow(&update).await.unwrap(), "version 0 is gone");
    assert_eq!(store.find_flow(f.id, "signup").await.unwrap().unwrap().version, 1);
    assert_eq!(
        store.consume_secret("code", &[1; 32], T0).await.unwrap(),
        None,
        "the older code was voided"
    );
    assert!(store.consume_secret("code", &[2; 32], T0).await.unwrap().is_some());
    // A new code that happens to equal a voided one of the flow is stored all the same.
    let again = OneTimeSecret {
        flow_id: Some(f.id),
        ..secret("code", &[1; 32], T0 + Duration::minutes(10))
    };
    let resend = FlowUpdate {
        expected_version: 1,
        secrets: std::slice::from_ref(&again),
        ..update
    };
    assert!(store.update_flow(&resend).await.unwrap());
    assert!(store.consume_secret("code", &[1; 32], T0).await.unwrap().is_some());
}

#[tokio::test]
async fn flow_attempts_stop_at_the_limit_even_in_parallel() {
    let (_db, store) = fresh().await;
    let store = Arc::new(store);
    let f = flow_record(T0);
    store.create_flow(&f, &[], &[]).await.unwrap();
    let counted = at_once(&store, 12, |store, _| async move {
        store.count_flow_attempt(f.id, 5).await.unwrap()
    })
    .await;
    assert_eq!(counted.iter().flatten().count(), 5);
}

#[tokio::test]
async fn completing_a_flow_with_an_account_happens_once() {
    let (_db, store) = fresh().await;
    let f = flow_record(T0);
    store.create_flow(&f, &[], &[]).await.unwrap();
    let new = |a: Account| NewAccount {
        audit: event(AuditKind::AccountCreated, T0).account(a.id),
        account: a,
        password_phc: "$argon2id$x".into(),
        mails: vec![mail("a@example.com", false, None)],
        completes_flow: Some(f.id),
    };
    store
        .create_account(&new(account("ab12345-ovh", "1111-111-11", "a@example.com")))
        .await
        .unwrap();
    assert_eq!(
        store.find_flow(f.id, "signup").await.unwrap(),
        None,
        "completed flows are closed"
    );
    let twice = store
        .create_account(&new(account("ab22345-ovh", "2222-222-22", "b@example.com")))
        .await;
    assert_eq!(twice, Err(StoreError::Conflict(Unique::Other)));
    assert_eq!(
        store.find_account_by_login("b@example.com").await.unwrap(),
        None,
        "rolled back"
    );
    assert_eq!(
        store.outbox_status(1).await.unwrap().pending,
        1,
        "only the first account's mail"
    );
}

#[tokio::test]
async fn throttle_counters_count_within_a_window() {
    let (_db, store) = fresh().await;
    let window = |now: OffsetDateTime| now - Duration::hours(1);
    for expected in 1..=3 {
        assert_eq!(
            store.hit("signup", "a@example.com", window(T0), T0).await.unwrap(),
            expected
        );
    }
    assert_eq!(
        store.hit("signup", "b@example.com", window(T0), T0).await.unwrap(),
        1,
        "keys are separate"
    );
    assert_eq!(
        store.hit("other", "a@example.com", window(T0), T0).await.unwrap(),
        1,
        "scopes are separate"
    );
    let later = T0 + Duration::minutes(59);
    assert_eq!(
        store
            .hit("signup", "a@example.com", window(later), later)
            .await
            .unwrap(),
        4
    );
    let next_hour = T0 + Duration::minutes(61);
    assert_eq!(
        store
            .hit("signup", "a@example.com", window(next_hour), next_hour)
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn spaced_hits_count_only_within_their_limits_even_in_parallel() {
    let (_db, store) = fresh().await;
    let store = Arc::new(store);
    let gap = Duration::seconds(30);
    let hit = |at: OffsetDateTime| {
        let store = Arc::clone(&store);
        async move {
            store
                .hit_spaced("sent", "a", at - Duration::hours(1), at, 3, gap)
                .await
                .unwrap()
        }
    };
    // Of sixteen at once, one counts.
    let counted = at_once(&store, 16, |_, _| hit(T0)).await;
    assert_eq!(counted.iter().filter(|&&c| c).count(), 1);
    assert_eq!(
        store.count("sent", "a", T0 - Duration::hours(1)).await.unwrap(),
        (1, Some(T0))
    );
    let at = |s: i64| T0 + Duration::seconds(s);
    assert!(!hit(at(29)).await, "too soon after the last");
    assert!(hit(at(30)).await);
    assert!(hit(at(60)).await);
    assert!(!hit(at(600)).await, "three in the window");
    assert_eq!(
        store.count("sent", "a", T0 - Duration::hours(1)).await.unwrap(),
        (3, Some(at(60)))
    );
    assert!(hit(at(3601)).await, "a new window");
    assert!(!hit(at(3610)).await, "and the gap holds across windows");
    assert!(
        store
            .hit_spaced("sent", "b", T0 - Duration::hours(1), at(3610), 3, gap)
            .await
            .unwrap(),
        "keys are separate"
    );
}

#[tokio::test]
async fn a_counter_counted_on_the_count_seen_counts_once_for_a_burst() {
    let (_db, store) = fresh().await;
    let store = Arc::new(store);
    for _ in 0..3 {
        store.hit("fails", "a", T0 - Duration::days(1), T0).await.unwrap();
    }
    // Sixteen tries judged on the count 3: one is counted.
    let counted = at_once(&store, 16, |store, _| async move {
        store.hit_unchanged("fails", "a", 3, T0).await.unwrap()
    })
    .await;
    assert_eq!(counted.into_iter().flatten().collect::<Vec<_>>(), [4]);
    assert_eq!(store.hit_unchanged("fails", "a", 3, T0).await.unwrap(), None, "stale");
    assert_eq!(store.hit_unchanged("fails", "a", 4, T0).await.unwrap(), Some(5));
    // A counter reset meanwhile starts again, as a reset means.
    store.reset("fails", "a").await.unwrap();
    assert_eq!(store.hit_unchanged("fails", "a", 5, T0).await.unwrap(), Some(1));
}

#[tokio::test]
async fn several_counters_are_counted_read_and_reset_together() {
    let (_db, store) = fresh().await;
    let keys = [("pw-account", "a"), ("pw-address", "192.0.2.0")];
    assert_eq!(store.hits(&keys, T0, T0).await.unwrap(), [1, 1]);
    let later = T0 + Duration::seconds(5);
    assert_eq!(store.hits(&keys[1..], T0, later).await.unwrap(), [2]);
    assert_eq!(
        store.hits(&keys, T0, later).await.unwrap(),
        [2, 3],
        "in the order asked"
    );
    let read = store
        .counts(&[
            ("pw-address", "192.0.2.0", T0),
            ("pw-account", "a", later),
            ("pw-global", "all", T0),
        ])
        .await
        .unwrap();
    assert_eq!(
        read,
        [(3, Some(later)), (0, None), (0, None)],
        "a window begun before its start counts nothing"
    );
    store.resets(&keys[..1]).await.unwrap();
    assert_eq!(store.count("pw-account", "a", T0).await.unwrap(), (0, None));
    assert_eq!(
        store.count("pw-address", "192.0.2.0", T0).await.unwrap().0,
        3,
        "the other stays"
    );
}

#[tokio::test]
async fn a_totp_step_is_used_once_and_never_an_older_one() {
    let (_db, store) = fresh().await;
    let a = account("ab12345-ovh", "1111-111-11", "a@example.com");
    create(&store, &a).await.unwrap();
    assert!(store.use_totp_step(a.id, 100).await.unwrap());
    assert!(!store.use_totp_step(a.id, 100).await.unwrap(), "replay");
    assert!(!store.use_totp_step(a.id, 99).await.unwrap(), "older step");
    assert!(store.use_totp_step(a.id, 101).await.unwrap());
}

#[tokio::test]
async fn a_login_reads_ip_rules_and_second_factor_credentials_at_once() {
    let (_db, store) = fresh().await;
    let a = account("ab12345-ovh", "1111-111-11", "a@example.com");
    let b = account("cd67890-ovh", "2222-222-22", "b@example.com");
    create(&store, &a).await.unwrap();
    create(&store, &b).await.unwrap();
    assert_eq!(
        store.ip_rules_and_credentials(a.id).await.unwrap(),
        (None, Vec::new()),
        "no rules, only a password"
    );
    let save_rules = async |id: AccountId| {
        let audit = event(AuditKind::IpRulesChanged, T0).account(id);
        store.set_ip_rules(id, r#"{"rules":[]}"#, &audit, &[]).await.unwrap();
    };
    save_rules(b.id).await;
    assert_eq!(
        store.ip_rules_and_credentials(b.id).await.unwrap(),
        (Some(r#"{"rules":[]}"#.to_owned()), Vec::new()),
        "rules, only a password"
    );
    let audit = || event(AuditKind::TwoFactorChanged, T0).account(a.id);
    let totp = FactorCredential {
        enabled_at: Some(T0),
        ..pending_app(a.id)
    };
    let key = FactorCredential {
        id: Uuid::new_v4(),
        kind: "security_key".into(),
        created_at: T0 + Duration::seconds(1),
        ..totp.clone()
    };
    store.add_credential(&key, &audit()).await.unwrap();
    store.add_credential(&totp, &audit()).await.unwrap();
    let others = FactorCredential {
        id: Uuid::new_v4(),
        account_id: b.id,
        ..key.clone()
    };
    store.add_credential(&others, &audit()).await.unwrap();
    assert_eq!(
        store.ip_rules_and_credentials(a.id).await.unwrap(),
        (None, store.credentials(a.id).await.unwrap()),
        "as `credentials` lists them"
    );
    assert_eq!(store.credentials(a.id).await.unwrap().len(), 2);
    save_rules(a.id).await;
    let (rules, credentials) = store.ip_rules_and_credentials(a.id).await.unwrap();
    assert_eq!(rules.as_deref(), Some(r#"{"rules":[]}"#));
    assert_eq!(credentials, store.credentials(a.id).await.unwrap());
    let (rules, credentials) = store.ip_rules_and_credentials(b.id).await.unwrap();
    assert_eq!(
        (rules.as_deref(), credentials),
        (Some(r#"{"rules":[]}"#), vec![others]),
        "another account's are its own"
    );
}

#[tokio::test]
async fn second_factor_credentials_are_enabled_once_and_backup_codes_replaced() {
    let (_db, store) = fresh().await;
    let a = account("ab12345-ovh", "1111-111-11", "a@example.com");
    create(&store, &a).await.unwrap();
    let cred = pending_app(a.id);
    let audit = || event(AuditKind::TwoFactorChanged, T0).account(a.id);
    let abandoned = FactorCredential {
        id: Uuid::new_v4(),
        ..cred.clone()
    };
    store.add_credential(&abandoned, &audit()).await.unwrap();
    store.add_credential(&cred, &audit()).await.unwrap();
    assert_eq!(
        store.credentials(a.id).await.unwrap(),
        vec![cred.clone()],
        "the password is not listed, and a new pending app replaces an abandoned one"
    );
    let code = |n: u8| OneTimeSecret {
        account_id: Some(a.id),
        flow_id: None,
        ..secret("backup-code", &[n; 32], T0 + Duration::days(3650))
    };
    assert_eq!(
        store.enable_credential(cred.id, a.id, "data", &[], &audit(), &[]).await,
        Err(StoreError::Conflict(Unique::Other)),
        "MFA-5: the first device brings backup codes"
    );
    assert!(
        store
            .enable_credential(cred.id, a.id, "enabled-data", &[code(1), code(2)], &audit(), &[])
            .await
            .unwrap()
    );
    assert!(
        !store
            .enable_credential(cred.id, a.id, "other", &[], &audit(), &[])
            .await
            .unwrap(),
        "already enabled"
    );
    assert_eq!(store.backup_codes_left(a.id, T0).await.unwrap(), 2);
    assert_eq!(
        store.credentials(a.id).await.unwrap()[0].data,
        "enabled-data",
        "enabling stores the final data"
    );
    store
        .replace_backup_codes(a.id, &[code(3)], &audit(), &[])
        .await
        .unwrap();
    assert_eq!(store.backup_codes_left(a.id, T0).await.unwrap(), 1);
    assert_eq!(
        store.consume_secret("backup-code", &[1; 32], T0).await.unwrap(),
        None,
        "the old set is void"
    );
    assert!(
        store
            .rename_credential(cred.id, a.id, "Tablet", &audit(), &[])
            .await
            .unwrap()
    );
    assert_eq!(store.credentials(a.id).await.unwrap()[0].description, "Tablet");
    // MFA-6: "the last device" is checked as it goes, both ways, with nothing written when wrong.
    let phone = FactorCredential {
        id: Uuid::new_v4(),
        kind: "sms".into(),
        ..pending_app(a.id)
    };
    store.add_credential(&phone, &audit()).await.unwrap();
    assert!(
        store
            .enable_credential(phone.id, a.id, "phone", &[], &audit(), &[])
            .await
            .unwrap()
    );
    let wrong = store.delete_credential(cred.id, a.id, true, &audit(), &[]).await;
    assert_eq!(wrong, Err(StoreError::Conflict(Unique::Other)), "the phone is left");
    assert_eq!(store.credentials(a.id).await.unwrap().len(), 2);
    assert!(
        store
            .delete_credential(phone.id, a.id, false, &audit(), &[])
            .await
            .unwrap()
    );
    let wrong = store.delete_credential(cred.id, a.id, false, &audit(), &[]).await;
    assert_eq!(wrong, Err(StoreError::Conflict(Unique::Other)), "nothing is left");
    assert_eq!(store.backup_codes_left(a.id, T0).await.unwrap(), 1);
    assert!(
        store
            .delete_credential(cred.id, a.id, true, &audit(), &[])
            .await
            .unwrap()
    );
    assert_eq!(
        store.backup_codes_left(a.id, T0).await.unwrap(),
        0,
        "2FA off drops the backup codes"
    );
    assert!(store.credentials(a.id).await.unwrap().is_empty());
}

/// MFA-4: the SMS outbox.
mod sms_outbox {
    use super::*;
    use crate::testing::stored_sms_text;
    use sesame_core::sms::{SmsMessage, SmsOutboxStore};

    fn sms(account_id: Option<AccountId>, expires_at: OffsetDateTime) -> SmsMessage {
        SmsMessage {
            id: new_id(T0),
            account_id,
            to: "+33612345678".into(),
            text: "Sesame: your verification code is 123456.".into(),
            created_at: T0,
            expires_at,
        }
    }

    #[tokio::test]
    async fn a_queued_code_voids_the_older_codes_of_its_flow_only() {
        let (_db, store) = fresh().await;
        let a = account("ab12345-ovh", "1111-111-11", "a@example.com");
        create(&store, &a).await.unwrap();
        let flow = Uuid::new_v4();
        let in_flow = |hash: u8| OneTimeSecret {
            flow_id: Some(flow),
            account_id: Some(a.id),
            ..secret("sms_code", &[hash; 32], T0 + Duration::minutes(5))
        };
        let other_flow = OneTimeSecret {
            account_id: Some(a.id),
            ..secret("sms_code", &[9; 32], T0 + Duration::minutes(5))
        };
        let other_purpose = OneTimeSecret {
            flow_id: Some(flow),
            ..secret("email_code", &[1; 32], T0 + Duration::minutes(5))
        };
        store.create_secret(&other_flow).await.unwrap();
        store.create_secret(&other_purpose).await.unwrap();
        let expiry = T0 + Duration::minutes(5);
        let first = sms(Some(a.id), expiry);
        store.queue_sms(&first, Some(&in_flow(1)), T0).await.unwrap();
        let second = sms(Some(a.id), expiry);
        store.queue_sms(&second, Some(&in_flow(2)), T0).await.unwrap();
        assert_eq!(
            store.consume_secret("sms_code", &[1; 32], T0).await.unwrap(),
            None,
            "a newer code voids older ones"
        );
        assert!(store.consume_secret("sms_code", &[2; 32], T0).await.unwrap().is_some());
        assert!(
            store.consume_secret("sms_code", &[9; 32], T0).await.unwrap().is_some(),
            "another flow keeps its code"
        );
        assert!(
            store
                .consume_secret("email_code", &[1; 32], T0)
                .await
                .unwrap()
                .is_some(),
            "another purpose keeps its code"
        );
        // Without a flow, the account's codes of that purpose are voided.
        let loose = |hash: u8| OneTimeSecret {
            flow_id: None,
            account_id: Some(a.id),
            ..secret("sms_code", &[hash; 32], expiry)
        };
        store
            .queue_sms(&sms(Some(a.id), expiry), Some(&loose(3)), T0)
            .await
            .unwrap();
        store
            .queue_sms(&sms(Some(a.id), expiry), Some(&loose(4)), T0)
            .await
            .unwrap();
        assert_eq!(store.consume_secret("sms_code", &[3; 32], T0).await.unwrap(), None);
        assert!(store.consume_secret("sms_code", &[4; 32], T0).await.unwrap().is_some());
        // A text without a secret (a notice) is queued on its own.
        store.queue_sms(&sms(None, expiry), None, T0).await.unwrap();
        let mut queued = 0;
        while store
            .claim_sms("w", T0, T0 + Duration::minutes(1))
            .await
            .unwrap()
            .is_some()
        {
            queued += 1;
        }
        assert_eq!(queued, 5);
    }

    #[tokio::test]
    async fn a_text_is_claimed_by_one_worker_and_its_text_cleared_once_sent() {
        let (_db, store) = fresh().await;
        let m = sms(None, T0 + Duration::minutes(5));
        store.queue_sms(&m, None, T0).await.unwrap();
        let lease = T0 + Duration::seconds(30);
        let claimed = store.claim_sms("w1", T0, lease).await.unwrap().unwrap();
        assert_eq!((claimed.sms.clone(), claimed.attempts), (m.clone(), 1));
        assert_eq!(store.claim_sms("w2", T0, lease).await.unwrap(), None, "leased to w1");
        let retaken = store
            .claim_sms("w2", lease + Duration::seconds(1), lease + Duration::seconds(60))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(retaken.attempts, 2, "the lease ran out: another worker takes it");
        let retry_at = T0 + Duration::minutes(1);
        store.mark_sms_failed(m.id, "503", Some(retry_at), T0).await.unwrap();
        assert_eq!(
            store
                .claim_sms("w2", retry_at - Duration::seconds(1), retry_at)
                .await
                .unwrap(),
            None
        );
        store
            .claim_sms("w2", retry_at, retry_at + Duration::seconds(30))
            .await
            .unwrap()
            .unwrap();
        store.mark_sms_sent(m.id, retry_at).await.unwrap();
        assert_eq!(stored_sms_text(&store, m.id).await, None, "the code is gone once sent");
        assert_eq!(
            store
                .claim_sms("w2", retry_at + Duration::minutes(2), retry_at)
                .await
                .unwrap(),
            None,
            "sent is final"
        );

        let parked = sms(None, T0 + Duration::minutes(5));
        store.queue_sms(&parked, None, T0).await.unwrap();
        store.claim_sms("w1", T0, lease).await.unwrap().unwrap();
        store
            .mark_sms_failed(parked.id, "400 bad number", None, T0)
            .await
            .unwrap();
        assert_eq!(stored_sms_text(&store, parked.id).await, None, "a parked code is gone");
        assert_eq!(store.claim_sms("w1", lease, lease).await.unwrap(), None);
    }

    #[tokio::test]
    async fn parallel_sms_claims_have_exactly_one_winner() {
        let (_db, store) = fresh().await;
        let store = Arc::new(store);
        for round in 0..5 {
            store
                .queue_sms(&sms(None, T0 + Duration::minutes(5)), None, T0)
                .await
                .unwrap();
            let won = at_once(&store, 8, |store, i| async move {
                store
                    .claim_sms(&format!("w{i}"), T0, T0 + Duration::minutes(1))
                    .await
                    .unwrap()
            })
            .await;
            assert_eq!(won.iter().flatten().count(), 1, "round {round}");
        }
    }

    #[tokio::test]
    async fn an_expired_text_is_parked_with_its_text_cleared() {
        let (_db, store) = fresh().await;
        let expiry = T0 + Duration::minutes(5);
        let claimed = sms(None, expiry);
        store.queue_sms(&claimed, None, T0).await.unwrap();
        let lease = expiry + Duration::seconds(30);
        assert!(store.claim_sms("w", T0, lease).await.unwrap().is_some());
        let late = sms(None, expiry);
        store.queue_sms(&late, None, T0).await.unwrap();
        assert_eq!(store.drop_expired_sms(expiry - Duration::seconds(1)).await.unwrap(), 0);
        assert_eq!(
            store.claim_sms("w2", expiry, lease).await.unwrap(),
            None,
            "an expired code is never sent"
        );
        assert_eq!(
            store.drop_expired_sms(expiry).await.unwrap(),
            1,
            "a text being sent is left to its worker"
        );
        assert_eq!(stored_sms_text(&store, late.id).await, None);
        assert_eq!(store.drop_expired_sms(lease + Duration::seconds(1)).await.unwrap(), 1);
        assert_eq!(store.drop_expired_sms(lease + Duration::seconds(1)).await.unwrap(), 0);
    }
}

/// MFA-3: a security key's stored data changes only from what was read (its sign counter), and a
/// device's removal challenge is taken once (RISK-4).
#[tokio::test]
async fn credential_data_swaps_and_device_challenges_are_single_use() {
    let (_db, store) = fresh().await;
    let a = account("ab12345-ovh", "1111-111-11", "a@example.com");
    create(&store, &a).await.unwrap();
    let cred = FactorCredential {
        id: Uuid::new_v4(),
        account_id: a.id,
        kind: "security_key".into(),
        version: 1,
        data: "counter-1".into(),
        description: "Key".into(),
        created_at: T0,
        enabled_at: Some(T0),
        last_used_at: None,
    };
    let audit = event(AuditKind::TwoFactorChanged, T0).account(a.id);
    store.add_credential(&cred, &audit).await.unwrap();
    let later = T0 + Duration::minutes(1);
    let (first, second) = tokio::join!(
        store.update_credential_data(cred.id, a.id, "counter-1", "counter-2", later),
        store.update_credential_data(cred.id, a.id, "counter-1", "counter-3", later),
    );
    assert_eq!(
        [first.unwrap(), second.unwrap()].iter().filter(|ok| **ok).count(),
        1,
        "two swaps from the same data: one wins"
    );
    let stored = store.credentials(a.id).await.unwrap().remove(0);
    assert!(stored.data == "counter-2" || stored.data == "counter-3");
    assert_eq!(stored.last_used_at, Some(later));

    assert_eq!(store.take_credential_challenge(cred.id, a.id).await.unwrap(), None);
    assert!(store.set_credential_challenge(cred.id, a.id, "sealed-1").await.unwrap());
    assert!(
        store.set_credential_challenge(cred.id, a.id, "sealed-2").await.unwrap(),
        "replaced"
    );
    let other = AccountId(Uuid::nil());
    assert_eq!(
        store.take_credential_challenge(cred.id, other).await.unwrap(),
        None,
        "another account's device"
    );
    let (x, y) = tokio::join!(
        store.take_credential_challenge(cred.id, a.id),
        store.take_credential_challenge(cred.id, a.id),
    );
    let taken: Vec<_> = [x.unwrap(), y.unwrap()].into_iter().flatten().collect();
    assert_eq!(taken, vec!["sealed-2".to_owned()], "taken once");
}
