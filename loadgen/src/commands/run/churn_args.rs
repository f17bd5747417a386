//! `run`'s churn flags (`--conn-lifetime`, `--messages-per-conn`,
//! `--reconnect`, `--reconnect-max-delay`), their own group in `--help`,
//! checked into the result's [`ChurnConfig`]: each refusal one line naming
//! the flag (exit 2), before the run.

use std::time::Duration;

use clap::Args;

use super::super::args::parse_duration;
use crate::error::Error;
use crate::results::churn::{ChurnConfig, ConnLimit, DEFAULT_RECONNECT_MAX_DELAY, RECONNECT_INITIAL_DELAY};

/// Connection churn and reconnects.
#[derive(Debug, Args)]
#[command(next_help_heading = "Connection churn and reconnects")]
pub struct ChurnArgs {
    /// Close each connection cleanly once it has been open this long (stop
    /// sending, wait for its replies up to --drain-timeout, close 1000, wait
    /// for the server's close) and open a new one in its place (paced by
    /// --connect-rate). Not with --messages-per-conn.
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub conn_lifetime: Option<Duration>,

    /// Close each connection cleanly after N messages (once their replies
    /// are in, up to --drain-timeout) and open a new one in its place.
    /// Not with --conn-lifetime.
    #[arg(long, value_name = "N")]
    pub messages_per_conn: Option<u64>,

    /// Reconnect connections the server drops (EOF, reset, close 1000,
    /// 1001, 1012 or 1013), with full-jitter exponential backoff from 50 ms;
    /// report the drops, the reconnects and the recovery time. Without it a
    /// drop is a failed connection.
    #[arg(long)]
    pub reconnect: bool,

    /// --reconnect: the longest wait between two attempts [default: 5s].
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub reconnect_max_delay: Option<Duration>,
}

/// The churn the flags ask for; `None` without any of them, so that a run
/// without them is exactly what it was before they existed.
pub(super) fn churn_config(args: &ChurnArgs) -> Result<Option<ChurnConfig>, Error> {
    let limit = match (args.conn_lifetime, args.messages_per_conn) {
        (Some(_), Some(_)) => {
            return Err(Error::usage(
                "--conn-lifetime and --messages-per-conn cannot be used together: give each connection one limit",
            ))
        }
        (Some(d), None) if d.is_zero() => return Err(Error::usage("--conn-lifetime must be more than 0")),
        (None, Some(0)) => return Err(Error::usage("--messages-per-conn must be at least 1")),
        (Some(d), None) => Some(ConnLimit::Lifetime(d)),
        (None, Some(n)) => Some(ConnLimit::Messages(n)),
        (None, None) => None,
    };
    let max_delay = match args.reconnect_max_delay {
        Some(_) if !args.reconnect => return Err(Error::usage("--reconnect-max-delay needs --reconnect")),
        Some(d) if d.is_zero() => return Err(Error::usage("--reconnect-max-delay must be more than 0")),
        Some(d) => d,
        None => DEFAULT_RECONNECT_MAX_DELAY,
    };
    if limit.is_none() && !args.reconnect {
        return Ok(None);
    }
    Ok(Some(ChurnConfig {
        limit,
        reconnect: args.reconnect,
        reconnect_initial_delay: RECONNECT_INITIAL_DELAY.min(max_delay),
        reconnect_max_delay: max_delay,
    }))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::commands::{Cli, Command};

    fn churn(args: &[&str]) -> Result<Option<ChurnConfig>, Error> {
        let cli = Cli::try_parse_from(["wsbench-loadgen", "run"].iter().chain(args)).unwrap();
        let Command::Run(run) = cli.command else { panic!("not run") };
        churn_config(&run.churn)
    }

    #[test]
    fn limits_and_reconnect() {
        assert_eq!(churn(&[]).unwrap(), None);
        let c = churn(&["--messages-per-conn", "10"]).unwrap().unwrap();
        assert_eq!((c.limit, c.reconnect), (Some(ConnLimit::Messages(10)), false));
        let c = churn(&["--conn-lifetime", "250ms", "--reconnect", "--reconnect-max-delay", "20ms"]).unwrap().unwrap();
        assert_eq!(c.limit, Some(ConnLimit::Lifetime(Duration::from_millis(250))));
        assert_eq!(
            (c.reconnect_initial_delay, c.reconnect_max_delay),
            (Duration::from_millis(20), Duration::from_millis(20))
        );
        let c = churn(&["--reconnect"]).unwrap().unwrap();
        assert_eq!((c.limit, c.reconnect_max_delay), (None, DEFAULT_RECONNECT_MAX_DELAY));
    }

    #[test]
    fn refusals_name_the_flag() {
        for (args, flag) in [
            (&["--conn-lifetime", "0"][..], "--conn-lifetime must be more than 0"),
            (&["--messages-per-conn", "0"], "--messages-per-conn must be at least 1"),
            (&["--conn-lifetime", "1s", "--messages-per-conn", "5"], "cannot be used together"),
            (&["--reconnect-max-delay", "1s"], "--reconnect-max-delay needs --reconnect"),
            (&["--reconnect", "--reconnect-max-delay", "0"], "--reconnect-max-delay must be more than 0"),
        ] {
            let err = churn(args).unwrap_err();
            assert!(matches!(err, Error::Usage(_)), "{args:?}");
            assert!(err.to_string().contains(flag), "{args:?}: {err}");
        }
    }

    /// The churn section of results run with these flags goes through
    /// `merge` (workers at once) and a repeated result (runs in turn), and
    /// results run with other churn flags are refused.
    #[test]
    fn merged_results_add_their_churn_sections_up() {
        use crate::commands::testing::synthetic;
        use crate::results::churn::{ChurnCounts, ChurnResult, ChurnTally};
        use crate::results::merge::{merge, merge_repeats};

        let flags = ["--messages-per-conn", "10"];
        let with_churn = |reopened: u64, window: (f64, f64)| {
            let mut r = synthetic("s", &flags, window, &[100, 200]);
            let tally = ChurnTally { reopened, handshakes_in_window: reopened, ..Default::default() };
            let counts = ChurnCounts { tally, ..Default::default() };
            r.churn = Some(ChurnResult::new(&counts, Vec::new(), window.1 - window.0));
            r
        };
        let (a, b) = (with_churn(10, (0.0, 10.0)), with_churn(30, (0.0, 10.0)));
        let m = merge(&[("a".into(), a.clone()), ("b".into(), b.clone())]).unwrap();
        let churn = m.churn.expect("merged churn");
        assert_eq!((churn.tally.reopened, churn.handshakes_per_s), (40, 4.0));
        let m = merge_repeats(&[a.clone(), b]).unwrap();
        assert_eq!(m.churn.as_ref().map(|c| (c.tally.reopened, c.handshakes_per_s)), Some((40, 2.0)));
        assert_eq!(m.runs()[1].churn.as_ref().map(|c| c.tally.reopened), Some(30), "each repeat keeps its own");
        let mut other = synthetic("s", &["--messages-per-conn", "20"], (0.0, 10.0), &[100]);
        other.churn = a.churn.clone();
        assert!(merge(&[("a".into(), a), ("o".into(), other)]).is_err(), "different churn settings");
    }
}
