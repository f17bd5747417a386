//! The commands layer: the command line (clap) and one module per
//! subcommand, each with its `Args` and an `execute` that returns a
//! [`Verdict`] or an error (`anyhow`, with context). `run` loads a server;
//! the others read or produce the JSON that `run --json` writes: `merge`
//! (workers of one distributed run into one result), `compare` (against a
//! baseline), `suite` (named scenarios, one result each), `plot` (SVG).
//!
//! May import: `crate::engine`, `crate::results`, `crate::error`. Nothing
//! imports this layer but the binary: clap stays here.

use clap::{Parser, Subcommand};

pub mod args;
pub mod compare;
pub mod merge;
pub mod plot;
pub mod run;
pub mod suite;
#[cfg(test)]
pub(crate) mod testing;

/// The whole command line.
#[derive(Debug, Parser)]
#[command(name = "wsbench-loadgen", version, about = "Load a WebSocket server and report truthful latency histograms")]
pub struct Cli {
    /// The subcommand and its arguments.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load a server (or, without a URL, an in-process wsbench server) and report.
    #[command(after_help = run::EXIT_CODES)]
    Run(Box<run::RunArgs>),
    /// Merge the results of loadgens that ran one scenario at the same time
    /// (a distributed run) into one result: histograms added exactly.
    Merge(merge::MergeArgs),
    /// Hold results against a baseline's, side by side; with
    /// --fail-if-worse, a CI gate.
    Compare(compare::CompareArgs),
    /// Run the named scenarios of a TOML file, one result file each.
    Suite(suite::SuiteArgs),
    /// Draw results as SVG: latency percentile spectra (.json), throughput
    /// and p99 over time (.hlog).
    Plot(plot::PlotArgs),
}

impl Command {
    /// Runs the command.
    pub fn execute(&self) -> anyhow::Result<Verdict> {
        match self {
            Command::Run(args) => run::execute(args),
            Command::Merge(args) => merge::execute(args),
            Command::Compare(args) => compare::execute(args),
            Command::Suite(args) => suite::execute(args),
            Command::Plot(args) => plot::execute(args),
        }
    }
}

/// What a command concluded, when it could conclude: not an error, but
/// the binary's exit status says it (0, 1, 3, 130) so that scripts and CI
/// can act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The run passed, the gate held, the file was written.
    Passed,
    /// The run (or a run of the suite, or the merged run) failed its
    /// checks, or `compare --fail-if-worse` found a regression; the results
    /// were written all the same.
    Failed,
    /// The loadgen, not the server, was the limit (and
    /// `--allow-loadgen-limit` was not given): neither a pass nor a
    /// failure of the server.
    LoadgenLimit,
    /// Ctrl-C stopped the run; what was measured was still reported.
    Interrupted,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
