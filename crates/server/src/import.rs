//! `sesame account import FILE` (bringing customers over from another system) and
//! `sesame account import --generate N FILE` (a synthetic file for benchmarks).
//!
//! The file is read as a stream, one JSON line per account (see `sesame_core::service::ImportLine`),
//! and written in batches of `--batch` lines, each in one transaction. A bad line is reported on
//! standard error with its number and skipped; a line already imported is skipped quietly, so
//! a run that stopped half-way is simply run again. Memory stays at one batch however large the
//! file.

use crate::App;
use crate::cli::CliError;
use sesame_core::service::{ImportLine, ImportOutcome, PreparedImport};
use sesame_core::types::Password;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

/// Longest line read; a longer one is refused without being held in memory.
const MAX_LINE: u64 = 16 * 1024;

/// The password of every generated account.
pub const GENERATED_PASSWORD: &str = "generated accounts share this password";

/// What a run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ImportReport {
    pub imported: u64,
    pub already: u64,
    pub refused: u64,
}

/// Imports `file`; bad lines go to `errors` as `line N: reason`.
pub async fn import(
    app: &App,
    file: &Path,
    batch_size: usize,
    errors: &mut dyn Write,
) -> Result<ImportReport, CliError> {
    let opened = std::fs::File::open(file).map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?;
    let size = opened.metadata().map(|m| m.len()).unwrap_or(0);
    let progress = indicatif::ProgressBar::new(size).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {percent}% {bytes}/{total_bytes} {per_sec} eta {eta} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut reader = BufReader::new(opened);
    let mut report = ImportReport::default();
    let mut batch: Vec<(u64, PreparedImport)> = Vec::with_capacity(batch_size);
    let mut number = 0u64;
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = (&mut reader)
            .take(MAX_LINE + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| CliError::Internal(e.to_string()))?;
        if read == 0 {
            break;
        }
        number += 1;
        progress.inc(read as u64);
        let prepared = if line.last() != Some(&b'\n') && read as u64 > MAX_LINE {
            // Skip the rest of the long line without holding it.
            let skipped = reader
                .skip_until(b'\n')
                .map_err(|e| CliError::Internal(e.to_string()))?;
            progress.inc(skipped as u64);
            Err(format!("longer than {MAX_LINE} bytes"))
        } else {
            match std::str::from_utf8(&line) {
                Ok(text) if text.trim().is_empty() => continue,
                Ok(text) => app.services.accounts().prepare_import(text.trim()),
                Err(_) => Err("not UTF-8".into()),
            }
        };
        match prepared {
            Ok(p) => batch.push((number, p)),
            Err(reason) => refuse(&mut report, errors, number, &reason)?,
        }
        if batch.len() >= batch_size {
            write_batch(app, &mut batch, &mut report, errors).await?;
            progress.set_message(format!("{} imported", report.imported));
        }
    }
    write_batch(app, &mut batch, &mut report, errors).await?;
    progress.finish_and_clear();
    Ok(report)
}

fn refuse(report: &mut ImportReport, errors: &mut dyn Write, number: u64, reason: &str) -> Result<(), CliError> {
    report.refused += 1;
    writeln!(errors, "line {number}: {reason}").map_err(|e| CliError::Internal(e.to_string()))
}

async fn write_batch(
    app: &App,
    batch: &mut Vec<(u64, PreparedImport)>,
    report: &mut ImportReport,
    errors: &mut dyn Write,
) -> Result<(), CliError> {
    if batch.is_empty() {
        return Ok(());
    }
    let (numbers, prepared): (Vec<u64>, Vec<PreparedImport>) = batch.drain(..).unzip();
    let outcomes = app
        .services
        .accounts()
        .import(prepared)
        .await
        .map_err(|e| CliError::Internal(e.to_string()))?;
    for (number, outcome) in numbers.into_iter().zip(outcomes) {
        match outcome {
            ImportOutcome::Imported => report.imported += 1,
            ImportOutcome::AlreadyImported => report.already += 1,
            ImportOutcome::Refused(reason) => refuse(report, errors, number, &reason)?,
        }
    }
    Ok(())
}

/// Writes `count` synthetic accounts to `file`, all with [`GENERATED_PASSWORD`] hashed once with
/// the current settings (NIC handles `gn0000001-ovh`…, emails `customer1@generated.example`…).
pub async fn generate(app: &App, count: u64, file: &Path) -> Result<(), CliError> {
    let hash = app
        .services
        .hasher()
        .hash(&Password::new(GENERATED_PASSWORD))
        .await
        .map_err(|e| CliError::Internal(e.to_string()))?;
    let suffix = &app.services.settings().nic_suffix;
    let out = std::fs::File::create(file).map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?;
    let mut out = BufWriter::new(out);
    let countries = ["FR", "GB", "DE", "ES", "CA", "PL", "IT", "US"];
    for i in 1..=count {
        let line = ImportLine {
            nic_handle: format!("gn{i:07}-{suffix}"),
            customer_code: format!("{:09}", 100_000_000 + i),
            first_name: "Generated".into(),
            last_name: format!("Customer {i}"),
            email: format!("customer{i}@generated.example"),
            country: countries[(i % countries.len() as u64) as usize].into(),
            language: None,
            created_at: None,
            password_hash: hash.clone(),
        };
        serde_json::to_writer(&mut out, &line).map_err(|e| CliError::Internal(e.to_string()))?;
        out.write_all(b"\n").map_err(|e| CliError::Internal(e.to_string()))?;
    }
    out.flush().map_err(|e| CliError::Internal(e.to_string()))
}
