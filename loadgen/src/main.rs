//! wsbench-loadgen: parses the command line and runs a command. Every
//! error ends as one line on stderr; the exit status is decided here, and
//! only here: 0 passed, 1 a failed run (or regression), 3 the loadgen was
//! the limit (`run`), 130 interrupted (Ctrl-C or SIGTERM), 2 bad usage (clap's refusals, bad
//! flags, input files that are not results).

use std::process::ExitCode;

use clap::Parser;
use wsbench_loadgen::commands::{Cli, Verdict};
use wsbench_loadgen::results::ResultsError;
use wsbench_loadgen::Error;

fn main() -> ExitCode {
    let outcome = Cli::try_parse().map_err(anyhow::Error::from).and_then(|cli| cli.command.execute());
    match outcome {
        Ok(verdict) => ExitCode::from(verdict_status(verdict)),
        Err(e) => {
            if let Some(clap) = e.downcast_ref::<clap::Error>() {
                if !clap.use_stderr() {
                    // --help, --version.
                    let _ = clap.print();
                    return ExitCode::SUCCESS;
                }
            }
            eprintln!("wsbench-loadgen: {}", one_line(&e));
            ExitCode::from(error_status(&e))
        }
    }
}

fn verdict_status(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Passed => 0,
        Verdict::Failed => 1,
        Verdict::LoadgenLimit => 3,
        Verdict::Interrupted => 130,
    }
}

/// 2 for what the user can fix (bad flags, files that are not results),
/// 1 for everything else.
fn error_status(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if cause.is::<clap::Error>() {
            return 2;
        }
        if let Some(e) = cause.downcast_ref::<Error>() {
            return e.exit_code();
        }
        if let Some(e) = cause.downcast_ref::<ResultsError>() {
            return if e.is_bad_input() { 2 } else { 1 };
        }
    }
    1
}

/// The error and its causes as one line: clap's first line (with the
/// missing arguments it lists on the next) and a pointer to --help; for
/// other errors, each cause once (errors that already print their source
/// are not repeated).
fn one_line(e: &anyhow::Error) -> String {
    if let Some(clap) = e.downcast_ref::<clap::Error>() {
        let text = clap.to_string();
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        let mut line = lines.next().unwrap_or("bad arguments").trim_start_matches("error: ").to_string();
        // "the following required arguments were not provided:" names them on the next line.
        if line.ends_with(':') {
            if let Some(next) = lines.next() {
                line = format!("{line} {next}");
            }
        }
        // "[possible values: reply, echo, json, stream]": the valid ones, listed.
        if let Some(values) = text.lines().map(str::trim).find(|l| l.starts_with("[possible values:")) {
            line = format!("{line} {values}");
        }
        return format!("{line} (see --help)");
    }
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.lines().map(str::trim).collect::<Vec<_>>().join(" ")
}
