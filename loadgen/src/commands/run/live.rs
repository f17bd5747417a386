//! The live view (indicatif): two lines of at most 80 columns, redrawn
//! once a second from the merged interval reports: phase, time left,
//! connections, messages per second each way, errors so far, and the p50
//! and p99 of the last second. Off with `--quiet` or when stderr is not a
//! terminal, so logs and CI output stay clean.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::engine::{LiveFrame, Progress};
use crate::results::format::{count, micros};

/// Columns of a line of the view, at most: an 80-column terminal must not
/// wrap it (a wrapped line breaks the redraw).
pub const WIDTH: usize = 80;

/// The live view of one run: the engine's [`Progress`], drawn on stderr.
pub struct Live {
    /// Whether to draw at all (not `--quiet`, stderr a terminal).
    on: bool,
    bar: Option<ProgressBar>,
    /// The run's expected length, for the time left.
    length: Duration,
}

impl Live {
    /// A view that draws once the run starts, unless `quiet` or stderr is
    /// not a terminal.
    pub fn new(quiet: bool) -> Self {
        Live { on: !quiet && std::io::stderr().is_terminal(), bar: None, length: Duration::ZERO }
    }

    /// Whether anything is drawn.
    pub fn is_on(&self) -> bool {
        self.on
    }
}

/// `h:mm:ss`, or `m:ss` under an hour.
fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// Cuts `line` to [`WIDTH`] characters (`µ` is one column).
fn fit(line: String) -> String {
    if line.chars().count() <= WIDTH {
        line
    } else {
        line.chars().take(WIDTH).collect()
    }
}

/// The view of one second as two lines, each at most [`WIDTH`] columns.
pub fn frame_lines(f: &LiveFrame, left: Duration) -> [String; 2] {
    let first = format!(
        "{:<7} {} left  conns {}/{}  sent {}/s  recv {}/s",
        f.phase,
        clock(left),
        f.open,
        f.target,
        count(f.sent_per_s),
        count(f.received_per_s),
    );
    let second = format!(
        "errors {}  last second: p50 {}  p99 {}",
        f.errors_total,
        f.p50_us.map_or("-".into(), micros),
        f.p99_us.map_or("-".into(), micros),
    );
    [fit(first), fit(second)]
}

impl Progress for Live {
    /// `length`: the run's expected length, for the time left.
    fn start(&mut self, length: Duration) {
        self.length = length;
        if !self.on {
            return;
        }
        let bar = ProgressBar::with_draw_target(Some(length.as_secs().max(1)), ProgressDrawTarget::stderr());
        bar.set_style(ProgressStyle::with_template("{msg}").expect("valid template"));
        self.bar = Some(bar);
    }

    fn second(&self, elapsed: Duration, f: &LiveFrame) {
        let Some(bar) = &self.bar else { return };
        bar.set_position(elapsed.as_secs());
        let [a, b] = frame_lines(f, self.length.saturating_sub(elapsed));
        bar.set_message(format!("{a}\n{b}"));
    }

    /// Prints a line above the view (or to stderr without one).
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

#[cfg(test)]
mod tests {
    use super::*;

    fn check(f: &LiveFrame, left: Duration) -> [String; 2] {
        let lines = frame_lines(f, left);
        for l in &lines {
            assert!(l.chars().count() <= WIDTH, "{} columns: {l:?}", l.chars().count());
            assert!(!l.contains('\n'), "{l:?}");
        }
        lines
    }

    #[test]
    fn everyday_figures_fit_whole() {
        let f = LiveFrame {
            phase: "measure",
            open: 1000,
            target: 1000,
            sent_per_s: 12_345.0,
            received_per_s: 12_300.0,
            errors_total: 3,
            p50_us: Some(850),
            p99_us: Some(12_345),
        };
        let [a, b] = check(&f, Duration::from_secs(75));
        assert_eq!(a, "measure 1:15 left  conns 1000/1000  sent 12.3k/s  recv 12.3k/s");
        assert_eq!(b, "errors 3  last second: p50 850µs  p99 12.3ms");
    }

    #[test]
    fn extreme_figures_stay_within_two_lines_of_80_columns() {
        let f = LiveFrame {
            phase: "warmup",
            open: u64::MAX,
            target: u32::MAX,
            sent_per_s: 1e15,
            received_per_s: f64::MAX,
            errors_total: u64::MAX,
            p50_us: Some(u64::MAX),
            p99_us: Some(3_600_000_000),
        };
        check(&f, Duration::from_secs(u64::MAX / 4));
        check(&LiveFrame::default(), Duration::ZERO);
    }

    #[test]
    fn time_left_reads_as_a_clock() {
        assert_eq!([clock(Duration::ZERO), clock(Duration::from_secs(3661))], ["0:00", "1:01:01"]);
    }
}
