//! The `desawifi-regency` command: the regency office's web console. Parse
//! the CLI, start tracing, load the office's config, hand over to
//! `desawifi::regency` (docs/office.md).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use desawifi::config::office::OfficeConfig;
use desawifi::domain::Role;

#[derive(Parser)]
#[command(
    name = "desawifi-regency",
    version,
    about = "The regency office's console for its villages' free wifi"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the office's HTTPS console until SIGTERM.
    Run {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate the office's config file; exit 0 when valid.
    CheckConfig {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// The office's accounts (stop the office first: its store is open while it runs).
    User {
        #[command(subcommand)]
        verb: UserVerb,
    },
}

#[derive(Subcommand)]
enum UserVerb {
    /// Add an account; the password is read from stdin (asked twice on a terminal).
    Add {
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long)]
        username: String,
        /// `admin` changes things; `viewer` only reads.
        #[arg(long)]
        role: Role,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_filter = match cli.command {
        Command::Run { .. } => "desawifi=info",
        _ => "desawifi=warn",
    };
    desawifi::telemetry::init_logging(default_filter);
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("desawifi-regency: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::CheckConfig { config } => {
            let c = OfficeConfig::load(&config)?;
            println!("{}: ok ({})", config.display(), c.regency);
        }
        Command::Run { config } => {
            let c = OfficeConfig::load(&config)?;
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?
                .block_on(desawifi::regency::run(c))?;
        }
        Command::User {
            verb:
                UserVerb::Add {
                    config,
                    username,
                    role,
                },
        } => {
            let c = OfficeConfig::load(&config)?;
            desawifi::accounts::check_username(&username)?;
            let password = desawifi::accounts::read_password().context("reading the password")?;
            desawifi::regency::add_user(&c, &username, role, &password)?;
            println!("added user \"{username}\" ({})", role.as_str());
        }
    }
    Ok(())
}
