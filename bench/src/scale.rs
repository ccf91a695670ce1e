//! A million accounts (#13): latencies of a login, a session check and a sign-up start at 1,000
//! accounts and again at `BENCH_ACCOUNTS` (1,000,000 by default), and the import rate in
//! between, on SQLite and, when `BENCH_POSTGRES_URL` names an empty database, on PostgreSQL.
//!
//! The accounts come from `sesame account import --generate` and go in through the importer, as
//! an operator's would. The session cache is off here (`session.cache_ms = 0`) so that every
//! check reaches the database: what is measured is whether the queries stay indexed as the
//! tables grow, not the cache.

use crate::{PASSWORD_SAMPLES, median, ms};
use sesame_core::random::{OsRandom, Random};
use sesame_server::import::{GENERATED_PASSWORD, generate, import};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// Accounts of the first measure.
const SMALL: u64 = 1_000;
/// Session checks per measure.
const CHECKS: usize = 2_000;

struct Latencies {
    login: Duration,
    check: Duration,
    signup: Duration,
}

pub async fn scale(total: u64) {
    if total <= SMALL {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}?mode=rwc", dir.path().join("scale.db").display());
    one_backend("SQLite", &sqlite, total).await;
    match std::env::var("BENCH_POSTGRES_URL") {
        Ok(url) => one_backend("PostgreSQL", &url, total).await,
        Err(_) => println!("PostgreSQL at scale: skipped (set BENCH_POSTGRES_URL to an empty database)"),
    }
}

async fn one_backend(name: &str, database_url: &str, total: u64) {
    // Every check reaches the database: the cache is off.
    let (app, listener, base, dir) = crate::server(|c| {
        c.database_url = database_url.into();
        c.session.cache_ms = 0;
    })
    .await;
    tokio::spawn(app.clone().serve(listener, std::future::pending()));
    let client = reqwest::Client::new();

    let all = dir.path().join("all.jsonl");
    generate(&app, total, &all).await.unwrap();
    let (first, rest) = (dir.path().join("first.jsonl"), dir.path().join("rest.jsonl"));
    split(&all, SMALL, &first, &rest);
    std::fs::remove_file(&all).unwrap();

    let report = import(&app, &first, 1000, &mut std::io::stderr()).await.unwrap();
    assert_eq!(report.imported, SMALL);
    let small = measure(&client, &base, SMALL, "small").await;

    let started = Instant::now();
    let report = import(&app, &rest, 1000, &mut std::io::stderr()).await.unwrap();
    let took = started.elapsed();
    assert_eq!(report.imported, total - SMALL);
    println!(
        "{name}: imported {} accounts in {:.0} s ({:.0} accounts/s)",
        report.imported,
        took.as_secs_f64(),
        report.imported as f64 / took.as_secs_f64()
    );
    let large = measure(&client, &base, total, "large").await;
    for (what, at_small, at_large) in [
        ("login", small.login, large.login),
        ("session check (no cache)", small.check, large.check),
        ("sign-up start", small.signup, large.signup),
    ] {
        println!(
            "{name}: median {what} at {SMALL} accounts {:.2} ms, at {total} {:.2} ms, ratio {:.2}",
            ms(at_small),
            ms(at_large),
            at_large.as_secs_f64() / at_small.as_secs_f64()
        );
    }
}

/// Writes the first `count` lines of `all` to `first` and the others to `rest`.
fn split(all: &Path, count: u64, first: &Path, rest: &Path) {
    let reader = BufReader::new(std::fs::File::open(all).unwrap());
    let mut first = BufWriter::new(std::fs::File::create(first).unwrap());
    let mut rest = BufWriter::new(std::fs::File::create(rest).unwrap());
    for (i, line) in reader.lines().enumerate() {
        let out: &mut dyn Write = if (i as u64) < count { &mut first } else { &mut rest };
        writeln!(out, "{}", line.unwrap()).unwrap();
    }
    first.flush().unwrap();
    rest.flush().unwrap();
}

/// Median latencies over accounts drawn at random among the first `accounts`.
async fn measure(client: &reqwest::Client, base: &str, accounts: u64, tag: &str) -> Latencies {
    let mut logins = Vec::with_capacity(PASSWORD_SAMPLES);
    let mut cookies = Vec::with_capacity(PASSWORD_SAMPLES);
    for _ in 0..PASSWORD_SAMPLES {
        let n = 1 + OsRandom.below(accounts);
        let started = Instant::now();
        let response = client
            .post(format!("{base}/api/v1/session"))
            .json(&serde_json::json!({"login": format!("gn{n:07}-ovh"), "password": GENERATED_PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let cookie = response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        response.bytes().await.unwrap();
        logins.push(started.elapsed());
        cookies.push(cookie);
    }
    let mut checks = Vec::with_capacity(CHECKS);
    for i in 0..CHECKS {
        let started = Instant::now();
        let response = client
            .get(format!("{base}/api/v1/session"))
            .header("cookie", &cookies[i % cookies.len()])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
        checks.push(started.elapsed());
    }
    let mut signups = Vec::with_capacity(PASSWORD_SAMPLES);
    for i in 0..PASSWORD_SAMPLES {
        let started = Instant::now();
        let response = client
            .post(format!("{base}/api/v1/signup"))
            .json(&serde_json::json!({"email": format!("new-{tag}-{i}@example.com"),
                                      "password": "a new and long passphrase", "country": "FR"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
        signups.push(started.elapsed());
    }
    Latencies {
        login: median(&mut logins),
        check: median(&mut checks),
        signup: median(&mut signups),
    }
}
