//! The live progress line (indicatif), redrawn once a second from the
//! merged interval reports. Off with `--quiet` or when stderr is not a
//! terminal, so logs and CI output stay clean.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::engine::{LiveFrame, Progress};
use crate::results::format::{count, micros};

/// The live view of one run: the engine's [`Progress`], drawn on stderr.
pub struct Live {
    /// Whether to draw at all (not `--quiet`, stderr a terminal).
    on: bool,
    bar: Option<ProgressBar>,
}

impl Live {
    /// A view that draws once the run starts, unless `quiet` or stderr is
    /// not a terminal.
    pub fn new(quiet: bool) -> Self {
        Live { on: !quiet && std::io::stderr().is_terminal(), bar: None }
    }

    /// Whether anything is drawn.
    pub fn is_on(&self) -> bool {
        self.on
    }
}

impl Progress for Live {
    /// `length`: the run's expected length, for the bar.
    fn start(&mut self, length: Duration) {
        if !self.on {
            return;
        }
        let bar = ProgressBar::with_draw_target(Some(length.as_secs().max(1)), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:20} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        self.bar = Some(bar);
    }

    fn second(&self, elapsed: Duration, f: &LiveFrame) {
        let Some(bar) = &self.bar else { return };
        bar.set_position(elapsed.as_secs());
        bar.set_message(format!(
            "{:<7} conns {}/{}  sent {}/s  recv {}/s  errors {}  p50 {}  p99 {}",
            f.phase,
            f.open,
            f.target,
            count(f.sent_per_s),
            count(f.received_per_s),
            f.errors_total,
            f.p50_us.map_or("-".into(), micros),
            f.p99_us.map_or("-".into(), micros),
        ));
    }

    /// Prints a line above the bar (or to stderr without one).
    fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
