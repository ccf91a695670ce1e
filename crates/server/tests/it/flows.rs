//! The capabilities driven without HTTP: the login pipeline, the second step and the device
//! service called directly, each through its narrow ports over the real store, with the test's
//! clock. What the JSON and page tests check through the edge, checked here at the core.

use crate::helpers::*;
use crate::two_factor::oath;
use sesame_core::audit::ClientInfo;
use sesame_core::clock::Clock;
use sesame_core::factor::{EnrolPrompt, Method, Proof};
use sesame_core::service::{Authenticated, LoginOutcome, LoginSuccess, TwoFactorError};

fn authenticated(done: LoginSuccess) -> Authenticated {
    Authenticated {
        session: done.session,
        account: done.account,
        pending_backup: None,
    }
}

#[tokio::test]
async fn the_pipeline_and_the_devices_work_without_http() {
    let app = spawn_app().await;
    let jane = app.jane().await;
    let nic = jane.nic_handle.as_str();
    let services = &app.app.services;
    let client = ClientInfo::default();

    // No device: the password opens the session, through the one pipeline.
    let LoginOutcome::LoggedIn(done) = services.login().login(nic, PASSWORD, None, &client).await.unwrap() else {
        panic!("no second factor owed yet");
    };
    let auth = authenticated(*done);
    assert_eq!(auth.session.second_factor, None);

    // An app: begun, then confirmed with a code from oathtool; the backup codes come once.
    let devices = services.devices();
    let start = devices.device_begin(&auth, Method::Totp, "Phone", None).await.unwrap();
    let EnrolPrompt::Totp { secret, .. } = start.prompt else {
        panic!("an app shows its secret");
    };
    let code = Proof::Code(oath(&secret, app.clock.now()));
    let codes = devices.device_enable(&auth, start.id, &code).await.unwrap().unwrap();
    assert_eq!(codes.len(), 10);

    // Now the password starts a login flow with the methods fixed; a backup code finishes it.
    app.advance(1);
    let LoginOutcome::SecondFactor(step) = services.login().login(nic, PASSWORD, None, &client).await.unwrap() else {
        panic!("the password alone opens nothing");
    };
    assert_eq!(step.methods, vec![Method::Totp, Method::BackupCode]);
    assert_eq!(step.default, Some(Method::Totp));
    let wrong = services
        .login()
        .second_factor(step.flow, "totp", &Proof::Code("000000".into()), &client)
        .await;
    assert_eq!(wrong.err(), Some(TwoFactorError::InvalidCode));
    let backup = Proof::Code(codes[0].clone());
    let done = services
        .login()
        .second_factor(step.flow, "backup_code", &backup, &client)
        .await
        .unwrap();
    assert_eq!(done.session.second_factor.as_deref(), Some("backup_code"));

    // That session proved another factor than the app: the app can go without a code from it,
    // and with it 2FA and the backup codes.
    let auth = authenticated(done);
    assert!(devices.device_remove(&auth, start.id, None).await.unwrap());
    let summary = devices.two_factor_summary(&auth.account).await.unwrap();
    assert!(!summary.enabled && summary.devices.is_empty() && summary.backup_codes_left == 0);
}
