//! Password logins against the raw Argon2id rate (PWD-3, issue #13): rounds that alternate a raw
//! hashing run on every core with a burst of logins over HTTP, so a slow spell of the shared
//! machine hits both sides of a ratio; the median ratio is the figure. The load generator and
//! the SMTP sink standing for the mail relay run on their own thread (`bench-load`), and the CPU
//! each thread group used per login is read from `/proc`, so the report says where a login's
//! time goes: the hashing workers, the rest of the server, or the bench's own load.

use crate::smtp_sink::SmtpSink;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Login bursts (each after a raw run), `BENCH_ROUNDS`.
const ROUNDS: usize = 15;
const LOGINS_PER_ROUND: usize = 200;
const WARM_UP: usize = 10;

/// A thread with its own single-threaded runtime for the bench's clients and the SMTP sink.
pub struct LoadThread {
    handle: tokio::runtime::Handle,
}

impl LoadThread {
    pub fn start() -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("bench-load".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                tx.send(runtime.handle().clone()).unwrap();
                runtime.block_on(std::future::pending::<()>());
            })
            .unwrap();
        Self {
            handle: rx.recv().unwrap(),
        }
    }

    pub fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }
}

/// Runs the rounds and prints the ratio and the CPU per login; `nics` log in in turn with the
/// bench password from browsers they don't know, so every login mails a notification (LOGIN-4),
/// and the run fails unless the sink received each one.
pub async fn throughput(cores: usize, load: &LoadThread, sink: &SmtpSink, base: &str, nics: &[String]) {
    let rounds = std::env::var("BENCH_ROUNDS").map_or(ROUNDS, |v| v.parse().unwrap());
    // Two clients per core by default (`BENCH_CLIENTS`): more change nothing (measured 4, 8, 16).
    let clients: usize = std::env::var("BENCH_CLIENTS").map_or(cores * 2, |v| v.parse().unwrap());
    let client = reqwest::Client::new();
    let before = sink.settled().await;
    let burst = |logins: usize, clients: usize| {
        let tasks: Vec<_> = (0..clients)
            .map(|i| {
                let (client, base, nics) = (client.clone(), base.to_owned(), nics.to_vec());
                load.spawn(async move {
                    let mut ok = 0;
                    for n in (i..logins).step_by(clients) {
                        if crate::login(&client, &base, &nics[n % nics.len()], crate::PASSWORD)
                            .await
                            .0
                            == 200
                        {
                            ok += 1;
                        }
                    }
                    ok
                })
            })
            .collect();
        async move {
            let mut ok = 0;
            for task in tasks {
                ok += task.await.unwrap();
            }
            ok
        }
    };
    assert_eq!(burst(WARM_UP, 1).await, WARM_UP, "the bench account logs in");

    let (mut ratios, mut logged_in) = (Vec::new(), 0);
    let mut used = BTreeMap::<String, Use>::new();
    for round in 1..=rounds {
        let raw = raw_argon2_rate(cores, cores * 50);
        let before = use_by_thread();
        let started = Instant::now();
        let ok = burst(LOGINS_PER_ROUND, clients).await;
        let rate = ok as f64 / started.elapsed().as_secs_f64();
        for (threads, after) in use_by_thread() {
            let earlier = before.get(&threads).copied().unwrap_or_default();
            used.entry(threads).or_default().add(after, earlier);
        }
        logged_in += ok;
        ratios.push(rate / raw);
        println!(
            "  round {round}: raw Argon2id {raw:.1}/s, logins {rate:.1}/s ({ok} of {LOGINS_PER_ROUND}), ratio {:.3}",
            rate / raw
        );
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "password logins over HTTP ({clients} clients) / raw Argon2id rate on {cores} cores: median ratio {:.3} over {rounds} rounds",
        ratios[ratios.len() / 2]
    );
    let logins = logged_in as f64;
    let per_login = |group: &str| {
        let cpu: f64 = used
            .iter()
            .filter(|(t, _)| self::group(t) == group)
            .map(|(_, u)| u.cpu)
            .sum();
        1000.0 * cpu / logins
    };
    let (hashing, server, bench) = (per_login(HASHING), per_login(SERVER), per_login(LOAD));
    println!(
        "CPU per login: hashing workers {hashing:.2} ms, rest of the server {server:.2} ms, load generator and SMTP sink {bench:.2} ms; \
         hashing is {:.3} of the server's CPU",
        hashing / (hashing + server)
    );
    // Each wake-up beside Argon2 starts with cold caches: the cost the CPU figures hide.
    for (threads, u) in &used {
        println!(
            "  per login, {threads} threads: {:.2} ms CPU, {:.1} waits, {:.1} preemptions",
            1000.0 * u.cpu / logins,
            u.waits / logins,
            u.preempted / logins
        );
    }

    // LOGIN-4: every one of those logins mailed its owner; the rate counts only if none was
    // dropped.
    let expected = before + WARM_UP + logged_in;
    let waited = Instant::now();
    while sink.delivered() < expected && waited.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sink.delivered(), expected, "every login notification is delivered");
    println!(
        "login notifications delivered over SMTP: {} of {}",
        expected - before,
        WARM_UP + logged_in
    );
}

const HASHING: &str = "hashing workers";
const SERVER: &str = "rest of the server";
const LOAD: &str = "load generator";

/// The group a kind of thread counts in: the server's hashing workers (`argon2-N`), the bench's
/// load thread, and the rest of the server (tokio's workers, sqlx's SQLite threads).
fn group(threads: &str) -> &'static str {
    match threads {
        "argon2" => HASHING,
        "bench-load" => LOAD,
        _ => SERVER,
    }
}

/// What a kind of thread used so far: CPU seconds (user + system), and how often its threads
/// went to sleep (waits) or were pushed off a core (preemptions).
#[derive(Debug, Default, Clone, Copy)]
struct Use {
    cpu: f64,
    waits: f64,
    preempted: f64,
}

impl Use {
    fn add(&mut self, after: Use, before: Use) {
        self.cpu += after.cpu - before.cpu;
        self.waits += after.waits - before.waits;
        self.preempted += after.preempted - before.preempted;
    }
}

/// This process's threads, by name without their number (`argon2-0` counts as `argon2`; Linux
/// cuts names at 15 bytes). The bench's main thread and raw hashing threads are left out.
fn use_by_thread() -> BTreeMap<String, Use> {
    let tick = 100.0; // USER_HZ
    let mut threads = BTreeMap::<String, Use>::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let (Ok(stat), Ok(status)) = (
            std::fs::read_to_string(task.path().join("stat")),
            std::fs::read_to_string(task.path().join("status")),
        ) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = &stat[open + 1..close];
        if matches!(name, "sesame-bench" | "raw-argon2") {
            continue;
        }
        let name = match name.rsplit_once('-') {
            Some((kind, n)) if n.bytes().all(|b| b.is_ascii_digit()) => kind,
            _ => name,
        };
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        let switches = |key: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(key))
                .and_then(|n| n.trim().parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        let entry = threads.entry(name.to_owned()).or_default();
        entry.cpu += (fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap()) / tick;
        entry.waits += switches("voluntary_ctxt_switches:");
        entry.preempted += switches("nonvoluntary_ctxt_switches:");
    }
    threads
}

/// Argon2id hashes per second on `threads` threads, each reusing its memory as the server's
/// hashing workers do (PWD-3): the ceiling for password logins.
pub fn raw_argon2_rate(threads: usize, total: usize) -> f64 {
    let params = argon2::Params::default();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let params = params.clone();
            std::thread::Builder::new()
                .name("raw-argon2".into())
                .spawn_scoped(scope, move || {
                    let argon =
                        argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params.clone());
                    let mut blocks = vec![argon2::Block::new(); params.block_count()];
                    let mut out = [0u8; 32];
                    for _ in (t..total).step_by(threads) {
                        argon
                            .hash_password_into_with_memory(
                                crate::PASSWORD.as_bytes(),
                                b"sixteen byte slt",
                                &mut out,
                                &mut blocks,
                            )
                            .unwrap();
                    }
                })
                .unwrap();
        }
    });
    total as f64 / started.elapsed().as_secs_f64()
}
