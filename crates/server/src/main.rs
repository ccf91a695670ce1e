//! `sesame`: run the server, migrate, or act on accounts as an operator.

use clap::Parser;
use sesame_core::clock::SystemClock;
use sesame_server::cli::{Cli, CliError, Command, resolve, run_account, run_agent, run_outbox};
use sesame_server::{App, StartError, shutdown_signal};
use std::process::ExitCode;
use std::sync::Arc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("sesame: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

/// Connections the kernel queues before Sesame accepts them.
const LISTEN_BACKLOG: u32 = 1024;

/// A socket bound to `addr`, not listening yet.
fn bind(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpSocket> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    Ok(socket)
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let mut config = resolve(&cli)?;
    let serving = matches!(cli.command, Command::Serve { .. });
    init_logging(&config.raw.log_format, serving);
    // The port is bound first, so that a default public URL names the port actually bound
    // (`listen` on port 0 picks one): links in mail must work. It listens only once the app has
    // started (migrations done), so no connection waits in the kernel's queue meanwhile; only
    // while `serve` times stored hashes of other kinds or costs (PWD-4: a few checks at most).
    let listen_error = |e: std::io::Error| StartError::Listen {
        addr: config.listen.to_string(),
        why: e.to_string(),
    };
    let socket = if serving {
        let socket = bind(config.listen).map_err(listen_error)?;
        if config.public_url_is_default
            && let Ok(bound) = socket.local_addr()
        {
            let _ = config.public_url.set_port(Some(bound.port()));
        }
        Some(socket)
    } else {
        None
    };
    let app = App::start(&config, Arc::new(SystemClock)).await?;
    match cli.command {
        Command::Serve { .. } => {
            let socket = socket.ok_or_else(|| CliError::Internal("the port is not bound".into()))?;
            let listener = socket.listen(LISTEN_BACKLOG).map_err(listen_error)?;
            let bound = listener.local_addr().map_or(config.listen, |a| a);
            println!(
                "Sesame is listening on http://{bound} (public URL {})",
                config.public_url
            );
            tracing::info!(listen = %bound, public_url = %config.public_url, "serving");
            if config.dev_mode {
                let base = config.public_url.as_str().trim_end_matches('/');
                for (what, dir, page) in [
                    ("mail is", &app.web.dev_mail_dir, "/dev/mail"),
                    ("texts are", &app.web.dev_sms_dir, "/dev/sms"),
                ] {
                    if let Some(dir) = dir {
                        println!(
                            "Development mode: {what} captured in {} (read at {base}{page})",
                            dir.display()
                        );
                    }
                }
                tracing::warn!("development mode is on: never use it in production");
            }
            if let Some(addr) = config.metrics_listen {
                let metrics = tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| StartError::Listen {
                        addr: addr.to_string(),
                        why: e.to_string(),
                    })?;
                let bound = metrics.local_addr().map_or(addr, |a| a);
                println!("Metrics at http://{bound}/metrics");
                let serving = app.clone();
                tokio::spawn(async move {
                    if let Err(err) = serving.serve_metrics(metrics, shutdown_signal()).await {
                        tracing::error!(%err, "metrics listener stopped");
                    }
                });
            }
            app.serve(listener, shutdown_signal()).await?;
            Ok(())
        }
        Command::Migrate => {
            println!("migrations applied");
            Ok(())
        }
        Command::Account(command) => run_account(&app, *command).await,
        Command::Outbox(command) => run_outbox(&app, command).await,
        Command::Agent(command) => run_agent(&app, command).await,
    }
}

/// Logs go to stderr; the server logs at `info`, operator commands only warnings (their output
/// is the result). `RUST_LOG` overrides both.
fn init_logging(format: &str, serving: bool) {
    let default = if serving { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
