//! Login benchmarks, run by hand (`cargo run --release -p sesame-bench`), never as a test.
//!
//! In one run, with the production Argon2 settings (PWD-1):
//! 1. the raw Argon2id verification rate on all cores (the ceiling for password logins);
//! 2. the password-login throughput of the real server over HTTP on loopback, as a ratio of (1),
//!    in alternating rounds, with the CPU a login costs the hashing workers, the rest of the
//!    server and the bench's own load (see `throughput`); every login's notification must reach
//!    the bench's SMTP receiver;
//! 3. the median time of a login for an unknown account against a known account with a wrong
//!    password, and against an account imported with a bcrypt hash (cost 10) that has not logged
//!    in since (PWD-4: all three should match), interleaved in random order, 300 tries each (each
//!    trio from its own address and within an account's free tries, so RISK-2's throttling stays
//!    out of it);
//! 4. RISK-2 under a brute-force load: attackers guess one account's password for
//!    `BENCH_ATTACK_SECS` (60 by default) from one address and from many, while the owner's known
//!    browser logs in every second; how many guesses were actually checked, per account and per
//!    address, and whether the owner always got in.
//!
//! 5. session checks (`GET /api/v1/session`, `GET /api/v1/me`) against a bare axum handler in
//!    the same process, loaded by `wrk` (SESS-2's per-node cache); alone with
//!    `BENCH_ONLY=sessions`;
//! 6. a million accounts (`BENCH_ACCOUNTS`, 0 to skip): login, session check and sign-up
//!    latencies at 1,000 accounts and at a million, and the import rate, on SQLite and on
//!    PostgreSQL when `BENCH_POSTGRES_URL` names an empty database (see `scale`); alone with
//!    `BENCH_ONLY=scale` (and the first two alone with `BENCH_ONLY=logins`);
//! 7. with `BENCH_MEMORY=1`, instead of the above (in a process that runs nothing else, so the
//!    raw Argon2 run's memory doesn't count): resident memory (PWD-3) idle, after
//!    `THROUGHPUT_LOGINS` logins, at the peak of a flood of `FLOOD` concurrent logins, and a
//!    second after it.
//!
//! The figures go to `docs/benchmarks.md`. Machines here have two noisy cores: read ratios and
//! medians, not absolute numbers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod scale;
mod sessions;
mod smtp_sink;
mod throughput;

use serde_json::json;
use sesame_core::audit::{Actor, ClientInfo};
use sesame_core::clock::SystemClock;
use sesame_core::random::{OsRandom, Random};
use sesame_core::service::{NewAccountInput, Services};
use sesame_core::types::{AccountType, Password};
use sesame_server::App;
use sesame_server::config::Config;
use sesame_store::SqlStore;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery staple";
const TIMING_TRIES: usize = 300;
const THROUGHPUT_LOGINS: usize = 400;
const FLOOD: usize = 500;
/// Accounts the throughput logins take turns with.
const LOGIN_ACCOUNTS: usize = 50;
/// Logins and sign-ups timed per measure at scale.
const PASSWORD_SAMPLES: usize = 200;

/// Resident memory (VmRSS, MiB) of a process.
fn rss_of(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// Resident memory of the real server process (`BENCH_SESAME_BIN`, the release `sesame` by
/// default) doing nothing but logins (PWD-3): the client is this process, measured apart.
async fn memory(cores: usize) {
    let bin = std::env::var("BENCH_SESAME_BIN").unwrap_or_else(|_| "target/release/sesame".into());
    let dir = tempfile::tempdir().unwrap();
    let command = |args: &[&str]| {
        let mut cmd = std::process::Command::new(&bin);
        cmd.args(args)
            .env("SESAME_DATA_DIR", dir.path())
            .env("SESAME_LISTEN", "127.0.0.1:0")
            .env("SESAME_METRICS_LISTEN", "127.0.0.1:0")
            .env("SESAME_RISK__LOGIN_EMAIL_CODE", "never");
        cmd
    };
    let mut nics = Vec::new();
    for i in 0..100 {
        use std::io::Write as _;
        let mut child = command(&[
            "account",
            "create",
            "--email",
            &format!("memory{i}@example.com"),
            "--first-name",
            "Mem",
            "--last-name",
            "Ory",
            "--country",
            "FR",
            "--json",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{PASSWORD}\n").as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        nics.push(created["nic_handle"].as_str().unwrap().to_owned());
    }
    let mut server = command(&["serve"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(server.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    // Keep reading: a closed pipe would stop the server at its next line.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let addr = first
        .split("http://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap()
        .to_owned();
    let base = format!("http://{addr}");
    let pid = server.id();
    let client = reqwest::Client::new();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = rss_of(pid);
    for i in 0..THROUGHPUT_LOGINS {
        login(&client, &base, &nics[i % nics.len()], PASSWORD).await;
    }
    let after_logins = rss_of(pid);
    let (peak, after_flood, answered) = flood(&client, &base, &nics, pid).await;
    println!(
        "resident memory of the server (MiB, {cores} hashing workers): idle {idle:.0}, after {THROUGHPUT_LOGINS} sequential logins {after_logins:.0}, peak during {FLOOD} concurrent logins {peak:.0} ({answered} logged in, the rest 503), a second later {after_flood:.0}"
    );
    server.kill().unwrap();
    server.wait().unwrap();
}

/// RSS while `FLOOD` logins arrive at once: the highest seen, and a second after.
async fn flood(client: &reqwest::Client, base: &str, nics: &[String], pid: u32) -> (f64, f64, usize) {
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            let mut peak: f64 = 0.0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss_of(pid));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            peak
        })
    };
    // Spread over many accounts: one account's parallel tries from new browsers would meet
    // RISK-2's throttle before any hash.
    let tasks: Vec<_> = (0..FLOOD)
        .map(|i| {
            let (client, base, nic) = (client.clone(), base.to_owned(), nics[i % nics.len()].clone());
            tokio::spawn(async move { login(&client, &base, &nic, PASSWORD).await.0 })
        })
        .collect();
    let mut answered = 0;
    for task in tasks {
        if task.await.unwrap() == 200 {
            answered += 1;
        }
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak = sampler.await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    (peak, rss_of(pid), answered)
}

#[tokio::main]
async fn main() {
    // The server's warnings (`RUST_LOG` to see more) go to standard error.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!("cores: {cores}");
    if std::env::var_os("BENCH_MEMORY").is_some() {
        return memory(cores).await;
    }
    let accounts = std::env::var("BENCH_ACCOUNTS").map_or(1_000_000, |v| v.parse().unwrap());
    if std::env::var("BENCH_ONLY").as_deref() == Ok("scale") {
        return scale::scale(accounts).await;
    }

    // Mail goes over SMTP, as in production, to a sink standing for the relay; the sink and the
    // login clients run on their own thread, so their CPU is counted apart from the server's.
    let load = throughput::LoadThread::start();
    let sink = load.spawn(smtp_sink::SmtpSink::start()).await.unwrap();
    let (app, listener, base, _dir) = server(|config| config.smtp_url = sink.url.clone()).await;
    let nic = create(&app, "bench@example.com").await;
    // RISK-2 lets an account take 5 wrong passwords before waiting: the timing pairs use each of
    // these for 4.
    let mut targets = Vec::new();
    for i in 0..TIMING_TRIES.div_ceil(4) {
        targets.push(create(&app, &format!("target{i}@example.com")).await);
    }
    let victim = create(&app, "victim@example.com").await;
    // Logins come from many customers (one customer's notifications go out one at a time).
    let mut customers = vec![nic.clone()];
    for i in 1..LOGIN_ACCOUNTS {
        customers.push(create(&app, &format!("customer{i}@example.com")).await);
    }
    let (services, store) = (app.services.clone(), Arc::clone(&app.store));
    tokio::spawn(app.serve(listener, std::future::pending()));
    let client = reqwest::Client::new();
    if std::env::var("BENCH_ONLY").as_deref() == Ok("sessions") {
        return sessions::session_checks(&client, &base, &nic, &customers[1..], PASSWORD).await;
    }
    throughput::throughput(cores, &load, &sink, &base, &customers).await;
    if std::env::var("BENCH_ONLY").as_deref() == Ok("logins") {
        return;
    }

    // Imported only now: from here every password check waits out the floor their hashes set
    // (PWD-4), which costs latency, not hashing capacity, but would cap the four login clients
    // above well under the hashing limit.
    let imported = import_bcrypt(&services, &store, TIMING_TRIES.div_ceil(4)).await;
    // PWD-4: an unknown identifier, a known account and an imported one, each with a wrong
    // password; a coin orders each trio, so a periodic disturbance can't favour one side.
    let mut times: [Vec<Duration>; 3] = Default::default();
    for i in 0..TIMING_TRIES {
        let unknown_login = format!("zz{:05}-ovh", 10_000 + i);
        let who = [
            unknown_login.as_str(),
            targets[i / 4].as_str(),
            imported[i / 4].as_str(),
        ];
        let ip = format!("198.18.{}.{}", i / 250, i % 250 + 1);
        let mut order = [0, 1, 2];
        for k in (1..3).rev() {
            order.swap(k, OsRandom.below(k as u64 + 1) as usize);
        }
        for kind in order {
            let (status, time) = login_from(&client, &base, &ip, who[kind], "wrong password here").await;
            assert_eq!(status, 401);
            times[kind].push(time);
        }
    }
    let [mu, mw, mi] = times.map(|mut t| median(&mut t));
    println!(
        "median failed login, unknown account: {:.2} ms; known account, wrong password: {:.2} ms; imported bcrypt account, wrong password: {:.2} ms; \
         ratios unknown/known {:.3}, unknown/imported {:.3} ({TIMING_TRIES} tries each, interleaved in random order)",
        ms(mu),
        ms(mw),
        ms(mi),
        mu.as_secs_f64() / mw.as_secs_f64(),
        mu.as_secs_f64() / mi.as_secs_f64()
    );
    sessions::session_checks(&client, &base, &nic, &customers[1..], PASSWORD).await;
    signup_timing(&client, &base).await;
    brute_force(&base, &victim).await;
    scale::scale(accounts).await;
}

/// The server under test (production Argon2 settings, then `tweak`), its listener, URL and data
/// folder.
async fn server(tweak: impl FnOnce(&mut Config)) -> (App, tokio::net::TcpListener, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut config = Config {
        listen: "127.0.0.1:0".into(),
        public_url: base.clone(),
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    // The sign-up timing below sends hundreds of sign-ups from one address and IP.
    config.signup.per_ip_per_hour = i64::MAX;
    config.signup.mails_per_address_per_hour = i64::MAX;
    // Addresses come from X-Forwarded-For (the bench plays the proxy), and no emailed codes.
    config.trusted_proxies = vec!["127.0.0.1".into()];
    config.risk.login_email_code = sesame_core::service::EmailCodePolicy::Never;
    // A profiling aid: with a trivial hash, what a login costs besides its hash dominates.
    if std::env::var_os("BENCH_CHEAP_HASH").is_some() {
        config.argon2 = sesame_core::factor::password::Argon2Settings {
            m_cost_kib: 8,
            t_cost: 1,
            p_cost: 1,
        };
    }
    tweak(&mut config);
    let app = App::start(&config.resolve().unwrap(), Arc::new(SystemClock))
        .await
        .unwrap();
    (app, listener, base, dir)
}

/// Creates an account with the bench password; its NIC handle.
async fn create(app: &App, email: &str) -> String {
    let input = NewAccountInput {
        email: email.into(),
        first_name: "Bench".into(),
        last_name: "Mark".into(),
        country: "FR".into(),
        account_type: AccountType::Individual,
        company_name: None,
        phone: None,
        language: None,
        currency: None,
        password: Password::new(PASSWORD),
    };
    let account = app
        .services
        .accounts()
        .create_account(input, Actor::Operator, &ClientInfo::default())
        .await
        .unwrap();
    account.nic_handle.as_str().to_owned()
}

/// `count` accounts imported with one bcrypt hash of cost 10 (another system's), then the
/// hashes timed as at start (PWD-4); their NIC handles.
async fn import_bcrypt(services: &Services, store: &SqlStore, count: usize) -> Vec<String> {
    let hash = bcrypt::hash("the old system's password", 10).unwrap();
    let accounts = services.accounts();
    let mut nics = Vec::with_capacity(count);
    let mut batch = Vec::with_capacity(count);
    for i in 0..count {
        let nic = format!("im{i:05}-ovh");
        let line = json!({
            "nic_handle": nic,
            "customer_code": format!("9{i:08}"),
            "first_name": "Im",
            "last_name": "Ported",
            "email": format!("imported{i}@example.com"),
            "country": "FR",
            "password_hash": hash,
        });
        batch.push(accounts.prepare_import(&line.to_string()).unwrap());
        nics.push(nic);
    }
    accounts.import(batch).await.unwrap();
    sesame_server::calibrate(store, services.hasher()).await.unwrap();
    nics
}

/// RISK-2: guesses against one account over JSON from one address and from a thousand, and
/// through the login form, while the owner's known browser logs in every second.
async fn brute_force(base: &str, victim: &str) {
    let secs: u64 = std::env::var("BENCH_ATTACK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let owner = reqwest::Client::builder().cookie_store(true).build().unwrap();
    assert_eq!(login_from(&owner, base, "192.0.2.10", victim, PASSWORD).await.0, 200);
    let until = Instant::now() + Duration::from_secs(secs);
    let attacker = |spread: bool| {
        let base = base.to_owned();
        let victim = victim.to_owned();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let (mut checked, mut throttled, mut n) = (0u64, 0u64, 0u64);
            while Instant::now() < until {
                n += 1;
                let ip = if spread {
                    format!("203.0.{}.{}", (n / 250) % 4, n % 250 + 1)
                } else {
                    "198.51.100.66".to_owned()
                };
                match login_from(&client, &base, &ip, &victim, &format!("guess number {n}"))
                    .await
                    .0
                {
                    401 => checked += 1,
                    429 => throttled += 1,
                    other => panic!("unexpected {other}"),
                }
            }
            (checked, throttled)
        })
    };
    let one = attacker(false);
    let many = attacker(true);
    // A third one through the login form, as a browser-driving tool would.
    let form = {
        let base = base.to_owned();
        let victim = victim.to_owned();
        tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap();
            let page = client
                .get(format!("{base}/login"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
            let csrf = page[at..at + 64].to_owned();
            let (mut checked, mut throttled, mut n) = (0u64, 0u64, 0u64);
            while Instant::now() < until {
                n += 1;
                let guess = format!("form guess {n}");
                let response = client
                    .post(format!("{base}/login"))
                    .header("x-forwarded-for", format!("203.0.113.{}", n % 250 + 1))
                    .form(&[
                        ("login", victim.as_str()),
                        ("password", guess.as_str()),
                        ("csrf", csrf.as_str()),
                    ])
                    .send()
                    .await
                    .unwrap();
                match response.status().as_u16() {
                    401 => checked += 1,
                    429 => throttled += 1,
                    other => panic!("unexpected {other}"),
                }
                response.bytes().await.unwrap();
            }
            (checked, throttled)
        })
    };
    let (mut owner_ok, mut owner_failed) = (0, 0);
    while Instant::now() < until {
        match login_from(&owner, base, "192.0.2.10", victim, PASSWORD).await.0 {
            200 => owner_ok += 1,
            _ => owner_failed += 1,
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (one_checked, one_throttled) = one.await.unwrap();
    let (many_checked, many_throttled) = many.await.unwrap();
    let (form_checked, form_throttled) = form.await.unwrap();
    println!(
        "brute force for {secs} s against one account: guesses checked {} in all ({one_checked} over JSON from one \
         address, {many_checked} over JSON from 1000 addresses, {form_checked} through the login form from 250), \
         refused before any hash {}; the owner's known browser logged in {owner_ok} times, refused {owner_failed}",
        one_checked + many_checked + form_checked,
        one_throttled + many_throttled + form_throttled,
    );
}

/// SIGNUP-2: a sign-up with a taken address must cost what one with a free address costs.
async fn signup_timing(client: &reqwest::Client, base: &str) {
    let mut taken = Vec::with_capacity(TIMING_TRIES);
    let mut free = Vec::with_capacity(TIMING_TRIES);
    for i in 0..TIMING_TRIES {
        let taken_first = OsRandom.below(2) == 0;
        for is_taken in [taken_first, !taken_first] {
            let email = if is_taken {
                "bench@example.com".to_owned()
            } else {
                format!("free{i}@example.com")
            };
            let started = Instant::now();
            let response = client
                .post(format!("{base}/api/v1/signup"))
                .json(&json!({"email": email, "password": "a new and long passphrase", "country": "FR"}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.bytes().await.unwrap();
            if is_taken {
                taken.push(started.elapsed())
            } else {
                free.push(started.elapsed())
            }
        }
    }
    let (mt, mf) = (median(&mut taken), median(&mut free));
    println!(
        "median sign-up start, taken address: {:.2} ms; free address: {:.2} ms; ratio {:.3} ({TIMING_TRIES} tries each, interleaved in random order)",
        ms(mt),
        ms(mf),
        mt.as_secs_f64() / mf.as_secs_f64()
    );
}

async fn login(client: &reqwest::Client, base: &str, login: &str, password: &str) -> (u16, Duration) {
    login_from(client, base, "127.0.0.1", login, password).await
}

/// A login from `ip` (the bench is the trusted proxy that says so).
async fn login_from(client: &reqwest::Client, base: &str, ip: &str, login: &str, password: &str) -> (u16, Duration) {
    let started = Instant::now();
    let response = client
        .post(format!("{base}/api/v1/session"))
        .header("x-forwarded-for", ip)
        .json(&json!({"login": login, "password": password}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    response.bytes().await.unwrap();
    (status, started.elapsed())
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
