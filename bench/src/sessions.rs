//! Session checks (SESS-2) against a bare axum handler served by the same process, both loaded
//! by `wrk` (Debian's `wrk`) over loopback, in alternating rounds: the ratio says what checking a
//! session costs on top of serving HTTP at all.

use std::time::Duration;

/// Seconds each `wrk` round lasts.
const ROUND: Duration = Duration::from_secs(3);
const ROUNDS: usize = 3;

/// Requests per second `wrk` reached on `url` (with a cookie, or each request with the next of
/// a list through a Lua script), and whether all of them were 2xx.
async fn wrk(url: &str, cookie: Option<&str>) -> (f64, bool) {
    let mut command = tokio::process::Command::new("wrk");
    command.args(["-t1", "-c32", &format!("-d{}s", ROUND.as_secs())]);
    if let Some(cookie) = cookie {
        match cookie.strip_prefix("script:") {
            Some(script) => command.args(["-s", script]),
            None => command.args(["-H", &format!("Cookie: {cookie}")]),
        };
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
/// handler on its own listener in this process; then the session check again while `others`
/// (other accounts) log out 50 times a second, each logout a write that voids cached sessions
/// of its account.
pub async fn session_checks(client: &reqwest::Client, base: &str, nic: &str, others: &[String], password: &str) {
    if std::process::Command::new("wrk").arg("--version").output().is_err() {
        println!("session checks: skipped (install Debian's wrk)");
        return;
    }
    let bare = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bare_url = format!("http://{}/bare", bare.local_addr().unwrap());
    let router = axum::Router::new().route("/bare", axum::routing::get(|| async { "ok" }));
    tokio::spawn(async move { axum::serve(bare, router).await });

    let cookie = log_in(client, base, nic, password).await;

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

    // Many sessions checked in turn (all of `nic`'s), so that a cache emptied by every change
    // would have to read them all again.
    let mut checked = Vec::new();
    for _ in 0..CHECKED_SESSIONS {
        checked.push(log_in(client, base, nic, password).await);
    }
    let script = tempfile::NamedTempFile::new().unwrap();
    let quoted: Vec<String> = checked.iter().map(|c| format!("{c:?}")).collect();
    std::fs::write(
        script.path(),
        format!(
            "local cookies = {{{}}}\nlocal n = 0\nrequest = function()\n  n = n + 1\n  \
             return wrk.format(nil, nil, {{[\"Cookie\"] = cookies[n % #cookies + 1]}})\nend\n",
            quoted.join(", ")
        ),
    )
    .unwrap();
    let many = format!("script:{}", script.path().display());
    // The script's work is wrk's, on the same cores: the bare handler is loaded through it too.
    let (mut scripted_rates, mut quiet_rates) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let (rate, ok) = wrk(&bare_url, Some(&many)).await;
        assert!(ok);
        scripted_rates.push(rate);
        let (rate, ok) = wrk(&format!("{base}/api/v1/session"), Some(&many)).await;
        assert!(ok, "every session check succeeds");
        quiet_rates.push(rate);
    }
    let (scripted, quiet) = (median(scripted_rates), median(quiet_rates));

    // Other customers' sessions to end during a round, one every 20 ms.
    let mut sessions = Vec::new();
    for i in 0..(ROUNDS as u64 * ROUND.as_secs() * LOGOUTS_PER_SECOND) {
        sessions.push(log_in(client, base, &others[i as usize % others.len()], password).await);
    }
    let mut busy_rates = Vec::new();
    for round in sessions.chunks(sessions.len() / ROUNDS) {
        let logouts = {
            let (client, base, round) = (client.clone(), base.to_owned(), round.to_vec());
            tokio::spawn(async move {
                let mut every = tokio::time::interval(Duration::from_millis(1000 / LOGOUTS_PER_SECOND));
                for cookie in round {
                    every.tick().await;
                    let response = client
                        .delete(format!("{base}/api/v1/session"))
                        .header("cookie", cookie)
                        .send()
                        .await
                        .unwrap();
                    assert!(response.status().is_success(), "logout: {}", response.status());
                }
            })
        };
        let (rate, ok) = wrk(&format!("{base}/api/v1/session"), Some(&many)).await;
        assert!(ok, "every session check succeeds");
        busy_rates.push(rate);
        logouts.await.unwrap();
    }
    let busy = median(busy_rates);
    println!(
        "GET /api/v1/session over {CHECKED_SESSIONS} sessions in turn (wrk's Lua script picking each cookie, \
         bare handler through the same script {scripted:.0}/s): {quiet:.0}/s = {:.2} of bare; \
         while other customers log out {LOGOUTS_PER_SECOND} times a second: {busy:.0}/s = {:.2} of bare",
        quiet / scripted,
        busy / scripted
    );
}

const LOGOUTS_PER_SECOND: u64 = 50;
/// Sessions the check goes through in turn in the last measures.
const CHECKED_SESSIONS: usize = 500;

/// A session cookie for `login`.
async fn log_in(client: &reqwest::Client, base: &str, login: &str, password: &str) -> String {
    let response = client
        .post(format!("{base}/api/v1/session"))
        .json(&serde_json::json!({"login": login, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned()
}
