//! Several nodes on one database (the PostgreSQL deployment; on SQLite the suite runs it on one
//! file), as real `sesame serve` processes behind no load balancer but the test itself:
//! - each step of each flow goes to another node than the step before (sign-up, enrolment, login
//!   with a second factor, re-authentication, password reset);
//! - a rolling restart under load: each node is taken out of rotation, stopped with SIGTERM and
//!   started again in turn while clients keep logging in and using their sessions. No client is
//!   logged out, no request that reached a node is lost (only 503s from a draining node are
//!   allowed), and every mail is delivered exactly once.

use crate::cli::Env;
use crate::crash::{post_to, start_with};
use crate::helpers::*;
use crate::recovery::link_in;
use crate::smtp::{Received, Smtp};
use serde_json::{Value, json};
use sesame_store::testing::outbox_recipients;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::process::Child;

const NEW_PASSWORD: &str = "a brand new passphrase for every node";

struct Node {
    child: Child,
    base: String,
}

async fn node(env: &Env, smtp: &Smtp) -> Node {
    let (child, base) = start_with(
        env,
        &[
            ("SESAME_SMTP_URL", &smtp.url()),
            ("SESAME_MAIL__POLL_INTERVAL_MS", "100"),
            ("SESAME_HTTP__DRAIN_TIMEOUT_SECS", "10"),
        ],
    )
    .await;
    Node { child, base }
}

/// SIGTERM, then the exit status (it must be a clean one).
async fn stop(node: &mut Node) {
    let pid = node.child.id().unwrap().to_string();
    let sent = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(sent.success());
    let status = tokio::time::timeout(Duration::from_secs(30), node.child.wait())
        .await
        .expect("a stopped node exits within its drain deadline")
        .unwrap();
    assert!(status.success(), "{status}");
}

/// The newest mail to `to` containing `marker`, once the nodes' workers delivered it.
async fn mail(smtp: &Smtp, to: &str, marker: &str) -> Received {
    for _ in 0..200 {
        if let Some(m) = smtp.messages_to(to).into_iter().rev().find(|m| m.text.contains(marker)) {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no mail to {to} with {marker}: {:#?}", smtp.messages_to(to));
}

/// Waits until every mail in the outbox reached the SMTP server, then checks none came twice.
async fn every_mail_once(env: &Env, smtp: &Smtp) {
    let store = env.db.store().await;
    let queued = outbox_recipients(&store).await.len();
    let mut received = Vec::new();
    for _ in 0..200 {
        received = smtp.messages();
        if received.len() >= queued {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(received.len(), queued, "every queued mail arrived, once");
    let mut ids: Vec<_> = received.iter().map(|m| m.message_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), queued, "no mail arrived twice");
}

async fn call(client: &reqwest::Client, node: &Node, path: &str, body: Value) -> (u16, Value) {
    post_to(client, format!("{}{path}", node.base), body).await.unwrap()
}

#[tokio::test]
async fn every_step_of_every_flow_can_go_to_another_node() {
    let env = Env::new().await;
    let smtp = Smtp::start().await;
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(node(&env, &smtp).await);
    }
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let browser = client();
    let email = "Nodes@Example.com";

    // Sign-up: start on A, the code on B, the profile on C; logged in everywhere.
    let (status, started) = call(
        &browser,
        a,
        "/api/v1/signup",
        json!({"email": email, "password": PASSWORD, "country": "FR"}),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    let flow = started["flow"].as_str().unwrap();
    let code = mail(&smtp, email, "").await.code();
    let (status, _) = call(
        &browser,
        b,
        &format!("/api/v1/signup/{flow}/verify"),
        json!({"code": code}),
    )
    .await;
    assert_eq!(status, 200);
    let profile = json!({"first_name": "Noa", "last_name": "Des", "account_type": "individual"});
    let (status, done) = call(&browser, c, &format!("/api/v1/signup/{flow}/profile"), profile).await;
    assert_eq!(status, 200, "{done}");
    let nic = done["account"]["nic_handle"].as_str().unwrap().to_owned();
    for n in [a, b, c] {
        let me = browser.get(format!("{}/api/v1/me", n.base)).send().await.unwrap();
        assert_eq!(me.status(), 200);
    }

    // An authenticator app: begun on A, confirmed on B with oathtool's code.
    let (status, begun) = call(&browser, a, "/api/v1/me/2fa/totp", json!({"description": "Phone"})).await;
    assert_eq!(status, 201, "{begun}");
    let secret = begun["secret"].as_str().unwrap();
    let id = begun["id"].as_str().unwrap();
    let code = crate::two_factor::oath(secret, time::OffsetDateTime::now_utc());
    let (status, enabled) = call(
        &browser,
        b,
        &format!("/api/v1/me/2fa/totp/{id}/enable"),
        json!({"code": code}),
    )
    .await;
    assert_eq!(status, 200, "{enabled}");
    let codes: Vec<String> = enabled["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();

    // Log out on C; the password on A, the second factor on B (a backup code: the app's code of
    // this 30 s step is spent).
    let out = browser
        .delete(format!("{}/api/v1/session", c.base))
        .send()
        .await
        .unwrap();
    assert!(out.status().is_success());
    let (status, step) = call(
        &browser,
        a,
        "/api/v1/session",
        json!({"login": nic, "password": PASSWORD}),
    )
    .await;
    assert_eq!(
        (status, step["status"].as_str()),
        (200, Some("second_factor_required")),
        "{step}"
    );
    let body = json!({"flow": step["flow"], "method": "backup_code", "code": codes[0]});
    let (status, _) = call(&browser, b, "/api/v1/session/second-factor", body).await;
    assert_eq!(status, 200);
    let me = browser.get(format!("{}/api/v1/me", c.base)).send().await.unwrap();
    assert_eq!(me.status(), 200);

    // Re-authentication: the password on C, the second factor on A.
    let (status, reauth) = call(&browser, c, "/api/v1/session/reauth", json!({"password": PASSWORD})).await;
    assert_eq!(
        (status, reauth["status"].as_str()),
        (200, Some("second_factor_required")),
        "{reauth}"
    );
    let body = json!({"flow": reauth["flow"], "method": "backup_code", "code": codes[1]});
    let (status, _) = call(&browser, a, "/api/v1/session/second-factor", body).await;
    assert_eq!(status, 200);
    let (status, _) = call(&browser, b, "/api/v1/me/2fa/totp", json!({"description": "Tablet"})).await;
    assert_eq!(status, 201, "fresh on another node");

    // Password reset: asked on B, the link used on C, the new password accepted on A.
    let anonymous = client();
    let (status, _) = call(&anonymous, b, "/api/v1/password-reset", json!({"login": email})).await;
    assert_eq!(status, 202);
    let link = link_in(&mail(&smtp, email, "/password-reset/").await, "/password-reset/");
    let token = link.rsplit('/').next().unwrap();
    let body = json!({"nic_handle": nic, "password": NEW_PASSWORD});
    let (status, reset) = call(&anonymous, c, &format!("/api/v1/password-reset/{token}"), body).await;
    assert_eq!(status, 200, "{reset}");
    let me = browser.get(format!("{}/api/v1/me", a.base)).send().await.unwrap();
    assert_eq!(me.status(), 401, "the reset ended every session");
    let (status, step) = call(
        &anonymous,
        a,
        "/api/v1/session",
        json!({"login": nic, "password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!((status, step["status"].as_str()), (200, Some("second_factor_required")));

    every_mail_once(&env, &smtp).await;
    for n in &mut nodes {
        stop(n).await;
    }
}

/// What the clients saw during the rolling restart.
#[derive(Default)]
struct Tally {
    /// Successful requests so far; the restarts wait on it, not on a clock.
    ok: tokio::sync::watch::Sender<u64>,
    draining_503: AtomicU64,
    rerouted: AtomicU64,
    failures: Mutex<Vec<String>>,
}

/// A client: logs in, checks its session, now and then logs out and in again; always on a node
/// in rotation at the time it starts the request.
async fn customer(rotation: Arc<Mutex<Vec<String>>>, nic: String, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let browser = client();
    let mut turn = 0usize;
    let mut logged_in = false;
    while !stop.load(Ordering::SeqCst) {
        turn += 1;
        let base = {
            let nodes = rotation.lock().unwrap();
            nodes[turn % nodes.len()].clone()
        };
        let what = if !logged_in {
            "login"
        } else if turn.is_multiple_of(10) {
            "logout"
        } else {
            "me"
        };
        let request = match what {
            "login" => browser
                .post(format!("{base}/api/v1/session"))
                .json(&json!({"login": nic, "password": PASSWORD})),
            "logout" => browser.delete(format!("{base}/api/v1/session")),
            _ => browser.get(format!("{base}/api/v1/me")),
        };
        match request.send().await {
            Ok(response) => match response.status().as_u16() {
                200 | 204 => {
                    tally.ok.send_modify(|n| *n += 1);
                    logged_in = what != "logout";
                }
                503 => {
                    tally.draining_503.fetch_add(1, Ordering::SeqCst);
                }
                other => {
                    let body = response.text().await.unwrap_or_default();
                    tally
                        .failures
                        .lock()
                        .unwrap()
                        .push(format!("{what} on {base}: {other} {body}"));
                }
            },
            // Nothing reached the node (it had just left the rotation): a balancer retries elsewhere.
            Err(e) if never_reached(&e) => {
                tally.rerouted.fetch_add(1, Ordering::SeqCst);
            }
            Err(e) => tally.failures.lock().unwrap().push(format!("{what} on {base}: {e}")),
        }
    }
}

/// Whether a request failed before the node took it: a refused connection, or a kept-alive one
/// that the node's drain closed as idle while the request was on its way (the node closes idle
/// connections without reading them; one it had read is answered before it exits). Were that
/// wrong, a logout carried out but not answered would show: the client's next session check
/// gets a 401, a failure.
fn never_reached(e: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if let Some(hyper) = cause.downcast_ref::<hyper::Error>()
            && (hyper.is_incomplete_message() || hyper.is_canceled())
        {
            return true;
        }
        source = cause.source();
    }
    e.is_connect()
}

#[tokio::test]
async fn a_rolling_restart_under_load_logs_nobody_out_and_loses_nothing() {
    let env = Env::new().await;
    let smtp = Smtp::start().await;
    let mut nics = Vec::new();
    for i in 0..4 {
        let email = format!("rolling{i}@example.com");
        let args = [
            "account",
            "create",
            "--email",
            &email,
            "--first-name",
            "Rolling",
            "--last-name",
            "Restart",
            "--country",
            "fr",
            "--json",
        ];
        let (code, out, err) = env.run(&args, &format!("{PASSWORD}\n")).await;
        assert_eq!(code, 0, "{err}");
        let created: Value = serde_json::from_str(&out).unwrap();
        nics.push(created["nic_handle"].as_str().unwrap().to_owned());
    }
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(node(&env, &smtp).await);
    }
    let rotation = Arc::new(Mutex::new(nodes.iter().map(|n| n.base.clone()).collect::<Vec<_>>()));
    let stop_clients = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let clients: Vec<_> = nics
        .iter()
        .map(|nic| {
            tokio::spawn(customer(
                Arc::clone(&rotation),
                nic.clone(),
                Arc::clone(&stop_clients),
                Arc::clone(&tally),
            ))
        })
        .collect();

    // Each node goes once the clients have done some work since the last restart, and the test
    // ends once they have worked on the last restarted node set too.
    let mut progress = tally.ok.subscribe();
    let mut traffic = async |requests: u64| {
        let target = *progress.borrow() + requests;
        progress.wait_for(|n| *n >= target).await.unwrap();
    };
    for slot in &mut nodes {
        traffic(40).await;
        let leaving = slot.base.clone();
        rotation.lock().unwrap().retain(|b| *b != leaving);
        stop(slot).await;
        *slot = node(&env, &smtp).await;
        rotation.lock().unwrap().push(slot.base.clone());
    }
    traffic(40).await;
    stop_clients.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.unwrap();
    }

    let failures = tally.failures.lock().unwrap().clone();
    assert!(failures.is_empty(), "lost or refused requests: {failures:#?}");
    assert!(*tally.ok.borrow() > 100, "the clients kept working");
    every_mail_once(&env, &smtp).await;
    for n in &mut nodes {
        stop(n).await;
    }
}
