//! Session checks (SESS-2) against a bare axum handler served by the same process, both loaded
//! by `wrk` (Debian's `wrk`) over loopback, in alternating rounds: the ratio says what checking a
//! session costs on top of serving HTTP at all.

use std::time::Duration;

/// Seconds each `wrk` round lasts.
const ROUND: Duration = Duration::from_secs(3);
const ROUNDS: usize = 3;

/// Requests per second `wrk` reached on `url` (with a cookie), and whether all of them were 2xx.
async fn wrk(url: &str, cookie: Option<&str>) -> (f64, bool) {
    let mut command = tokio::process::Command::new("wrk");
    command.args(["-t1", "-c32", &format!("-d{}s", ROUND.as_secs())]);
    if let Some(cookie) = cookie {
        command.args(["-H", &format!("Cookie: {cookie}")]);
    }
    let out = command.arg(url).output().await.expect("wrk runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let rate = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("wrk said: {text}"));
    (rate, !text.contains("Non-2xx"))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Logs `nic` in on `base` and compares `GET /api/v1/session` and `GET /api/v1/me` with a bare
/// handler on its own listener in this process.
pub async fn session_checks(client: &reqwest::Client, base: &str, nic: &str, password: &str) {
    if std::process::Command::new("wrk").arg("--version").output().is_err() {
        println!("session checks: skipped (install Debian's wrk)");
        return;
    }
    let bare = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bare_url = format!("http://{}/bare", bare.local_addr().unwrap());
    let router = axum::Router::new().route("/bare", axum::routing::get(|| async { "ok" }));
    tokio::spawn(async move { axum::serve(bare, router).await });

    let response = client
        .post(format!("{base}/api/v1/session"))
        .json(&serde_json::json!({"login": nic, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned();

    let (mut bare_rates, mut check_rates, mut me_rates) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let (rate, ok) = wrk(&bare_url, None).await;
        assert!(ok);
        bare_rates.push(rate);
        let (rate, ok) = wrk(&format!("{base}/api/v1/session"), Some(&cookie)).await;
        assert!(ok, "every session check succeeds");
        check_rates.push(rate);
        let (rate, ok) = wrk(&format!("{base}/api/v1/me"), Some(&cookie)).await;
        assert!(ok, "every GET /api/v1/me succeeds");
        me_rates.push(rate);
    }
    let (bare, check, me) = (median(bare_rates), median(check_rates), median(me_rates));
    println!(
        "session checks (wrk, 32 connections, median of {ROUNDS} rounds of {}s): bare axum handler {bare:.0}/s; \
         GET /api/v1/session {check:.0}/s = {:.2} of bare; GET /api/v1/me {me:.0}/s = {:.2} of bare",
        ROUND.as_secs(),
        check / bare,
        me / bare
    );
}
