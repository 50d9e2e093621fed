//! The `desawifi` command: parse the CLI, start tracing, load the config,
//! hand over to the daemon or a one-shot verb.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use desawifi::config::Config;

#[derive(Parser)]
#[command(name = "desawifi", version, about = "Captive-portal gateway for free village wifi")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (portal, firewall, accounting) until SIGTERM.
    Run {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate a config file; exit 0 when valid.
    CheckConfig {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Print the router's dnsmasq snippet (LAN DNS, RFC 8910 option 114, walled-garden nftset=).
    DnsmasqConf {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Firewall verbs.
    Firewall {
        #[command(subcommand)]
        verb: FirewallVerb,
    },
}

#[derive(Subcommand)]
enum FirewallVerb {
    /// Remove the `inet desawifi` table (clients become unfiltered).
    Clear {
        #[arg(long, short)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "desawifi=info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match cli.command {
        Command::CheckConfig { config } => Config::load(&config).map(|c| {
            println!("{}: ok ({})", config.display(), c.site.name);
        }).map_err(anyhow::Error::from),
        Command::Run { config } => Config::load(&config).map_err(anyhow::Error::from).and_then(|c| runtime()?.block_on(desawifi::daemon::run(c))),
        Command::DnsmasqConf { config } => Config::load(&config).map(|c| {
            for d in c.walled_garden.domains.iter().filter(|d| !desawifi::dnsmasq::probes_covered_by(d).is_empty()) {
                eprintln!("desawifi: walled_garden.domains: {d} covers an OS connectivity probe; left out of the snippet");
            }
            print!("{}", desawifi::dnsmasq::snippet(&c));
        }).map_err(anyhow::Error::from),
        Command::Firewall { verb: FirewallVerb::Clear { config } } => Config::load(&config)
            .map_err(anyhow::Error::from)
            .and_then(|c| runtime()?.block_on(desawifi::daemon::firewall_clear(&c))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("desawifi: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?)
}
