//! The command line (OPS-1): `serve`, `migrate` and operator commands on accounts.

use crate::config::{Config, Resolved};
use crate::{App, StartError};
use clap::{Args, Parser, Subcommand};
use serde_json::json;
use sesame_core::audit::{Actor, ClientInfo};
use sesame_core::ports::{Account, AuditLog};
use sesame_core::service::{By, CreateAccountError, NewAccountInput, RecoveryError, Verification};
use sesame_core::types::{AccountState, AccountType, Password};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "sesame", version, about = "Customer-account login and account security")]
pub struct Cli {
    /// TOML configuration file (see config/sesame.example.toml); SESAME_* variables override it.
    #[arg(long, global = true, env = "SESAME_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (applies migrations first).
    Serve {
        /// Development mode: captured mail at /dev/mail and texts at /dev/sms (same as
        /// `dev_mode = true`); only on a loopback `listen` address.
        #[arg(long)]
        dev: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Operator commands on customer accounts.
    #[command(subcommand)]
    Account(Box<AccountCommand>),
    /// The mail outbox (MAIL-1).
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// Support agents (SUPPORT-1).
    #[command(subcommand)]
    Agent(AgentCommand),
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Create an agent and print the single-use invitation link (72 hours; also mailed).
    Invite {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// agent or supervisor.
        #[arg(long, default_value = "agent")]
        role: String,
    },
    /// List the agents.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Disable an agent; their sessions end at once.
    Disable { email: String },
}

pub async fn run_agent(app: &App, command: AgentCommand) -> Result<(), CliError> {
    use sesame_core::service::SupportError;
    let support = app.services.support();
    let refused = |e: SupportError| desk_error(e);
    match command {
        AgentCommand::Invite { email, name, role } => {
            let role = sesame_core::support::AgentRole::parse(&role)
                .ok_or_else(|| CliError::Usage("--role must be agent or supervisor".into()))?;
            let invitation = support.invite(&email, &name, role).await.map_err(refused)?;
            println!("{}", invitation.url);
            Ok(())
        }
        AgentCommand::List { json } => {
            let agents = support.agents().await.map_err(internal)?;
            let list: Vec<_> = agents
                .iter()
                .map(|a| {
                    json!({"email": a.email.address(), "name": a.name, "role": a.role.as_str(),
                           "enrolled": a.enrolled_at.is_some(), "disabled": a.disabled_at.is_some()})
                })
                .collect();
            print(&json!(list), json);
            Ok(())
        }
        AgentCommand::Disable { email } => {
            let agent = support.disable(&email).await.map_err(refused)?;
            println!("{} disabled; their sessions ended", agent.email.address());
            Ok(())
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// Counts of pending and sent mail, and the parked mails (never their bodies).
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Puts a parked mail (or with --all, every parked mail) back in the queue.
    Retry {
        /// The id of a parked mail, from `outbox status`.
        id: Option<String>,
        #[arg(long)]
        all: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create an account; the password is read as one line from standard input.
    Create(Box<CreateArgs>),
    /// Import accounts from another system: one JSON line per account (nic_handle,
    /// customer_code, first_name, last_name, email, country, and optionally language and
    /// created_at) with its password_hash (argon2id/argon2i, scrypt or pbkdf2-sha256 PHC strings,
    /// or bcrypt). Lines already imported are skipped, so an interrupted run can be repeated; bad
    /// lines are reported with their number and the others go on.
    Import {
        file: PathBuf,
        /// Instead, write a synthetic file of this many accounts (for benchmarks).
        #[arg(long)]
        generate: Option<u64>,
        /// Lines written per transaction.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
        batch: u64,
    },
    /// Show an account's profile and security summary.
    Show {
        /// NIC handle or primary email.
        account: String,
        #[arg(long)]
        json: bool,
    },
    /// Block an account (ACCT-5): nobody can log in, and its sessions end.
    Block {
        account: String,
        #[command(flatten)]
        why: Why,
        #[arg(long)]
        json: bool,
    },
    /// Unblock an account.
    Unblock {
        account: String,
        #[command(flatten)]
        why: Why,
        #[arg(long)]
        json: bool,
    },
    /// Lift the account's password and two-factor locks (SUPPORT-4).
    Unlock {
        account: String,
        #[command(flatten)]
        why: Why,
    },
    /// End every session of the account (SUPPORT-4).
    EndSessions {
        account: String,
        #[command(flatten)]
        why: Why,
    },
    /// RECOVER-6: make the verified backup email the primary (the customer lost the primary
    /// mailbox and the password); both addresses are told, and the next login asks for a new
    /// backup email.
    PromoteBackupEmail {
        /// The account's NIC handle.
        nic_handle: String,
        /// How the caller was verified (SUPPORT-2): customer_code, callback or
        /// identity_documents.
        #[arg(long, value_parser = ["customer_code", "callback", "identity_documents"])]
        verified_by: String,
        #[command(flatten)]
        why: Why,
        #[arg(long)]
        json: bool,
    },
}

/// SUPPORT-5: why an operator acts, recorded in the audit log.
#[derive(Debug, Args)]
pub struct Why {
    #[arg(long)]
    pub reason: String,
    /// The support ticket.
    #[arg(long)]
    pub ticket: String,
}

impl Why {
    fn justification(&self) -> sesame_core::service::Justification {
        sesame_core::service::Justification {
            reason: self.reason.clone(),
            ticket: self.ticket.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[arg(long)]
    pub email: String,
    #[arg(long)]
    pub first_name: String,
    #[arg(long)]
    pub last_name: String,
    /// ISO 3166-1 alpha-2 country code; it fixes the subsidiary.
    #[arg(long)]
    pub country: String,
    /// individual, company or non_profit.
    #[arg(long, default_value = "individual")]
    pub account_type: String,
    #[arg(long)]
    pub company_name: Option<String>,
    /// Phone number in E.164 (+33612345678).
    #[arg(long)]
    pub phone: Option<String>,
    #[arg(long)]
    pub language: Option<String>,
    #[arg(long)]
    pub currency: Option<String>,
    #[arg(long)]
    pub json: bool,
}

/// A command's failure, printed on stderr; the exit code says which kind.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Internal(String),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Start(_) | Self::Internal(_) => 1,
            Self::Usage(_) => 2,
            Self::Refused(_) => 3,
        }
    }
}

pub fn resolve(cli: &Cli) -> Result<Resolved, CliError> {
    let mut config = Config::load(cli.config.as_deref()).map_err(StartError::from)?;
    if matches!(cli.command, Command::Serve { dev: true }) {
        config.dev_mode = Some(true);
    }
    Ok(config.resolve().map_err(StartError::from)?)
}

pub async fn run_account(app: &App, command: AccountCommand) -> Result<(), CliError> {
    let operator = ClientInfo {
        ip: None,
        user_agent: Some("sesame-cli".into()),
        device: None,
        new_device: false,
    };
    match command {
        AccountCommand::Create(args) => create(app, *args, &operator).await,
        AccountCommand::Import { file, generate, batch } => {
            if let Some(count) = generate {
                crate::import::generate(app, count, &file).await?;
                println!(
                    "wrote {count} accounts to {}; their password is \"{}\"",
                    file.display(),
                    crate::import::GENERATED_PASSWORD
                );
                return Ok(());
            }
            let batch = usize::try_from(batch).map_err(internal)?;
            let report = crate::import::import(app, &file, batch, &mut std::io::stderr()).await?;
            println!(
                "imported {}, already there {}, refused {}",
                report.imported, report.already, report.refused
            );
            if report.refused > 0 {
                return Err(CliError::Refused(format!(
                    "{} lines were refused (listed above)",
                    report.refused
                )));
            }
            Ok(())
        }
        AccountCommand::Show { account, json } => {
            let account = find(app, &account).await?;
            let events = app.store.recent_events(account.id, 5).await.map_err(internal)?;
            let recent: Vec<_> = events
                .iter()
                .map(|e| {
                    json!({"at": rfc3339(e.at), "event": e.kind.as_str(), "success": e.success,
                           "ip": e.ip, "detail": e.detail})
                })
                .collect();
            let summary = app
                .services
                .devices()
                .two_factor_summary(&account)
                .await
                .map_err(internal)?;
            let devices: Vec<_> = summary
                .devices
                .iter()
                .map(|d| {
                    json!({"kind": d.method.as_str(), "description": d.description,
                           "added": rfc3339(d.created_at), "last_used": d.last_used_at.map(rfc3339)})
                })
                .collect();
            let mut out = profile(&account);
            out["security"] = json!({
                "state": account.state.as_str(),
                "two_factor": if summary.enabled { "on" } else { "off" },
                "two_factor_devices": devices,
                "backup_codes_left": summary.backup_codes_left,
                "recent_events": recent,
            });
            print(&out, json);
            Ok(())
        }
        AccountCommand::Block { account, why, json } => {
            set_state(app, &account, AccountState::Blocked, &why, &operator, json).await
        }
        AccountCommand::Unblock { account, why, json } => {
            set_state(app, &account, AccountState::Active, &why, &operator, json).await
        }
        AccountCommand::Unlock { account, why } => {
            let account = find(app, &account).await?;
            let support = app.services.support();
            support
                .unlock(By::Operator, account.id, &why.justification(), &operator)
                .await
                .map_err(desk_error)?;
            println!("{}: password and two-factor locks lifted", account.nic_handle);
            Ok(())
        }
        AccountCommand::EndSessions { account, why } => {
            let account = find(app, &account).await?;
            let support = app.services.support();
            support
                .end_sessions(By::Operator, account.id, &why.justification(), &operator)
                .await
                .map_err(desk_error)?;
            println!("{}: every session ended", account.nic_handle);
            Ok(())
        }
        AccountCommand::PromoteBackupEmail {
            nic_handle,
            verified_by,
            why,
            json,
        } => {
            let account = find(app, &nic_handle).await?;
            if !account.nic_handle.as_str().eq_ignore_ascii_case(nic_handle.trim()) {
                return Err(CliError::Refused(format!("{nic_handle:?} is not a NIC handle")));
            }
            app.services
                .support()
                .promote_backup_email(
                    By::Operator,
                    account.id,
                    Verification::parse(&verified_by),
                    &why.justification(),
                    &operator,
                )
                .await
                .map_err(desk_error)?;
            let promoted = find(app, account.nic_handle.as_str()).await?;
            print(&profile(&promoted), json);
            Ok(())
        }
    }
}

pub async fn run_outbox(app: &App, command: OutboxCommand) -> Result<(), CliError> {
    use sesame_core::ports::OutboxStore;
    match command {
        OutboxCommand::Status { json } => {
            let status = app.store.outbox_status(100).await.map_err(internal)?;
            let parked: Vec<_> = status
                .parked
                .iter()
                .map(|p| {
                    json!({"id": p.id.to_string(), "to": p.recipient, "template": p.template, "attempts": p.attempts,
                           "last_error": p.last_error, "created_at": rfc3339(p.created_at)})
                })
                .collect();
            let out = json!({"pending": status.pending, "sent": status.sent, "parked": parked});
            print(&out, json);
            Ok(())
        }
        OutboxCommand::Retry { id, all } => {
            let id = match (id, all) {
                (Some(id), false) => {
                    Some(uuid::Uuid::parse_str(&id).map_err(|_| CliError::Usage(format!("{id:?} is not a mail id")))?)
                }
                (None, true) => None,
                _ => return Err(CliError::Usage("give a mail id or --all".into())),
            };
            let now = app.services.now();
            let n = app.store.retry_parked(id, now).await.map_err(internal)?;
            if n == 0 && id.is_some() {
                return Err(CliError::Refused("no parked mail has this id".into()));
            }
            println!("{n} mail(s) queued again");
            Ok(())
        }
    }
}

async fn create(app: &App, args: CreateArgs, operator: &ClientInfo) -> Result<(), CliError> {
    let account_type = AccountType::parse(&args.account_type)
        .ok_or_else(|| CliError::Usage("--account-type must be individual, company or non_profit".into()))?;
    let password = read_password()?;
    let input = NewAccountInput {
        email: args.email,
        first_name: args.first_name,
        last_name: args.last_name,
        country: args.country,
        account_type,
        company_name: args.company_name,
        phone: args.phone,
        language: args.language,
        currency: args.currency,
        password,
    };
    let account = app
        .services
        .accounts()
        .create_account(input, Actor::Operator, operator)
        .await
        .map_err(|e| match e {
            CreateAccountError::Hash(_) | CreateAccountError::Store(_) => internal(e),
            refused => CliError::Refused(refused.to_string()),
        })?;
    if args.json {
        print(&profile(&account), true);
    } else {
        println!("NIC handle:    {}", account.nic_handle);
        println!("Customer code: {}", account.customer_code.as_str());
    }
    Ok(())
}

/// A desk error as the command line reports it.
fn desk_error(err: sesame_core::service::SupportError) -> CliError {
    use sesame_core::service::SupportError;
    match err {
        SupportError::ReasonRequired | SupportError::VerificationRequired => CliError::Usage(err.to_string()),
        SupportError::Store(_)
        | SupportError::Mail(_)
        | SupportError::Hash(_)
        | SupportError::Recovery(RecoveryError::Store(_) | RecoveryError::Mail(_)) => internal(err),
        other => CliError::Refused(other.to_string()),
    }
}

async fn set_state(
    app: &App,
    who: &str,
    state: AccountState,
    why: &Why,
    operator: &ClientInfo,
    json: bool,
) -> Result<(), CliError> {
    let account = find(app, who).await?;
    let blocked = state == AccountState::Blocked;
    let result = app
        .services
        .support()
        .set_blocked(By::Operator, account.id, blocked, &why.justification(), operator)
        .await;
    let changed = match result {
        Ok(()) => true,
        Err(sesame_core::service::SupportError::WrongState) => false,
        Err(err) => return Err(desk_error(err)),
    };
    let out = json!({"nic_handle": account.nic_handle.as_str(), "state": state.as_str(), "changed": changed});
    if json {
        print(&out, true);
    } else {
        let verb = if changed { "is now" } else { "was already" };
        println!("{} {verb} {}", account.nic_handle, state.as_str());
    }
    Ok(())
}

async fn find(app: &App, who: &str) -> Result<Account, CliError> {
    app.services
        .accounts()
        .find_account(who)
        .await
        .map_err(internal)?
        .ok_or_else(|| CliError::Refused(format!("no account matches {who:?}")))
}

/// One line from standard input: only the line ending is removed. On a terminal the line is read
/// without echo.
fn read_password() -> Result<Password, CliError> {
    let stdin = std::io::stdin();
    let line = if stdin.is_terminal() {
        rpassword::prompt_password("Password: ")
            .map_err(|e| CliError::Usage(format!("cannot read the password: {e}")))?
    } else {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| CliError::Usage(format!("cannot read the password from standard input: {e}")))?;
        if line.ends_with('\n') {
            line.pop();
            if line.ends_with('\r') {
                line.pop();
            }
        }
        line
    };
    if line.is_empty() {
        return Err(CliError::Usage("no password on standard input".into()));
    }
    Ok(Password::new(&line))
}

fn profile(a: &Account) -> serde_json::Value {
    json!({
        "nic_handle": a.nic_handle.as_str(),
        "customer_code": a.customer_code.as_str(),
        "email": a.email.address(),
        "first_name": a.first_name,
        "last_name": a.last_name,
        "account_type": a.account_type.as_str(),
        "company_name": a.company_name,
        "phone": a.phone,
        "country": a.country,
        "language": a.language,
        "currency": a.currency,
        "subsidiary": a.subsidiary,
        "state": a.state.as_str(),
        "created_at": rfc3339(a.created_at),
        "backup_email": a.backup_email.as_ref().map(|e| sesame_core::service::mask(e.address())),
        "backup_email_required": a.backup_email_required,
    })
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn print(value: &serde_json::Value, as_json: bool) {
    let mut out = std::io::stdout().lock();
    let written = if as_json {
        writeln!(out, "{value:#}")
    } else {
        print_text(&mut out, value, 0)
    };
    if let Err(err) = written {
        tracing::error!(%err, "cannot write to standard output");
    }
}

fn print_text(out: &mut impl Write, value: &serde_json::Value, indent: usize) -> std::io::Result<()> {
    let pad = " ".repeat(indent);
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                if v.is_object() || v.is_array() {
                    writeln!(out, "{pad}{key}:")?;
                    print_text(out, v, indent + 2)?;
                } else {
                    writeln!(out, "{pad}{key}: {}", scalar(v))?;
                }
            }
        }
        serde_json::Value::Array(items) if items.is_empty() => writeln!(out, "{pad}(none)")?,
        serde_json::Value::Array(items) => {
            for item in items {
                let line: Vec<String> = match item.as_object() {
                    Some(map) => map
                        .iter()
                        .filter(|(_, v)| !v.is_null())
                        .map(|(k, v)| format!("{k}={}", scalar(v)))
                        .collect(),
                    None => vec![scalar(item)],
                };
                writeln!(out, "{pad}- {}", line.join(" "))?;
            }
        }
        other => writeln!(out, "{pad}{}", scalar(other))?,
    }
    Ok(())
}

fn scalar(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn internal(e: impl std::fmt::Display) -> CliError {
    CliError::Internal(e.to_string())
}
