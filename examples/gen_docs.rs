//! The man page and the shell completions, generated from the CLI's own
//! definition in src/main.rs (scripts/dist.sh puts them in the packages):
//!
//!     cargo run --example gen_docs -- man|bash|zsh|fish
//!
//! An example rather than a verb of the binary: clap_mangen and clap_complete
//! would only take flash on the router.

#[allow(dead_code)]
#[path = "../src/main.rs"]
mod cli;

use clap::CommandFactory;
use std::process::ExitCode;

fn main() -> ExitCode {
    let what = std::env::args().nth(1).unwrap_or_default();
    let mut cmd = cli::Cli::command();
    let mut out = std::io::stdout().lock();
    let shell = match what.as_str() {
        "man" => {
            return match clap_mangen::Man::new(cmd).render(&mut out) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("gen_docs: writing the man page: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        "bash" => clap_complete::Shell::Bash,
        "zsh" => clap_complete::Shell::Zsh,
        "fish" => clap_complete::Shell::Fish,
        other => {
            eprintln!("gen_docs: expected man, bash, zsh or fish, not {other:?}");
            return ExitCode::FAILURE;
        }
    };
    clap_complete::generate(shell, &mut cmd, "desawifi", &mut out);
    ExitCode::SUCCESS
}
