//! The live progress line (indicatif), redrawn once a second from the
//! merged interval reports. Off with `--quiet` or when stderr is not a
//! terminal, so logs and CI output stay clean.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// One second of the whole run, as the live view shows it.
#[derive(Debug, Clone, Default)]
pub struct LiveFrame {
    pub phase: &'static str,
    pub open: u64,
    pub target: u32,
    pub sent_per_s: f64,
    pub received_per_s: f64,
    pub errors_total: u64,
    /// RTT (corrected) p50 and p99 over the last second, µs.
    pub p50_us: Option<u64>,
    pub p99_us: Option<u64>,
}

pub struct Live {
    bar: Option<ProgressBar>,
}

impl Live {
    /// `length`: the run's expected length, for the bar.
    pub fn new(quiet: bool, length: Duration) -> Self {
        if quiet || !std::io::stderr().is_terminal() {
            return Live { bar: None };
        }
        let bar = ProgressBar::with_draw_target(Some(length.as_secs().max(1)), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:20} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        Live { bar: Some(bar) }
    }

    pub fn is_on(&self) -> bool {
        self.bar.is_some()
    }

    pub fn update(&self, elapsed: Duration, f: &LiveFrame) {
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

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// Prints a line above the bar (or to stderr without one).
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }
}

/// 1234567 as "1.23M", for rates.
pub fn count(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// Microseconds, readably: 850µs, 12.3ms, 1.20s.
pub fn micros(us: u64) -> String {
    if us < 1_000 {
        format!("{us}µs")
    } else if us < 10_000 {
        format!("{:.2}ms", us as f64 / 1e3)
    } else if us < 1_000_000 {
        format!("{:.1}ms", us as f64 / 1e3)
    } else {
        format!("{:.2}s", us as f64 / 1e6)
    }
}

/// Bytes per second, readably.
pub fn bytes(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.2} GB", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.2} MB", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} kB", v / 1e3)
    } else {
        format!("{v:.0} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(micros(850), "850µs");
        assert_eq!(micros(1_234), "1.23ms");
        assert_eq!(micros(12_345), "12.3ms");
        assert_eq!(micros(1_200_000), "1.20s");
        assert_eq!(count(123_456.0), "123.5k");
        assert_eq!(bytes(2_500_000.0), "2.50 MB");
    }
}
