//! wsbench-loadgen: parses the command line and hands over to the library.
//! Every error ends as one line on stderr and an exit status: 2 for usage,
//! 1 for a failed run, 130 for an interrupted one.

use std::process::ExitCode;

use clap::Parser;
use wsbench_loadgen::cli::{Cli, Command};
use wsbench_loadgen::{run, Error, RunConfig};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help, --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let text = e.to_string();
            let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
            let mut line = lines.next().unwrap_or("bad arguments").trim_start_matches("error: ").to_string();
            // "the following required arguments were not provided:" names them on the next line.
            if line.ends_with(':') {
                if let Some(next) = lines.next() {
                    line = format!("{line} {next}");
                }
            }
            eprintln!("wsbench-loadgen: {line} (see --help)");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Run(args) => RunConfig::from_args(&args).and_then(run::execute),
        Command::Merge(args) => wsbench_loadgen::merge::execute(&args),
        Command::Compare(args) => wsbench_loadgen::compare::execute(&args),
        Command::Suite(args) => wsbench_loadgen::suite::execute(&args),
        Command::Plot(args) => wsbench_loadgen::plot::execute(&args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("wsbench-loadgen: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

// Keeps `Error` in the binary's public vocabulary for docs.
#[allow(dead_code)]
fn _error_is_used(_: Error) {}
