//! The churn section of the summary, and the words the verdict line adds
//! when the server dropped connections: a run with drops never reads as a
//! plain PASS.

use std::fmt::Write;

use super::ChurnResult;
use crate::results::format::{count, micros};
use crate::results::schema::{HistogramData, PERCENTILES};

/// The lines the summary prints for `c`.
pub fn summary(r: &ChurnResult) -> String {
    let c = &r.tally;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\nchurn: {} closed cleanly at their limit, {} opened in their place; {} handshakes in the window ({}/s)",
        c.closed_at_limit,
        c.reopened,
        c.handshakes_in_window,
        count(r.handshakes_per_s)
    );
    if c.sent_late_after_reopen > 0 {
        let _ = writeln!(
            s,
            "  {} messages were due while their connection was being replaced: sent late on the next one",
            c.sent_late_after_reopen
        );
    }
    for (title, h) in [("reconnect TCP", &r.reconnect_connect), ("reconnect WS", &r.reconnect_handshake)] {
        histogram_line(&mut s, title, h);
    }
    let drops = c.drops.total();
    if drops > 0 || c.reconnect_attempts > 0 {
        let codes: Vec<String> = c.drops.close_codes.iter().map(|(code, n)| format!("close {code} x{n}")).collect();
        let _ = writeln!(
            s,
            "drops: {drops} (no close frame {}, reset {}{}{}); {} messages in flight on them lost",
            c.drops.eof,
            c.drops.reset,
            if codes.is_empty() { "" } else { ", " },
            codes.join(", "),
            c.lost_to_drop
        );
        let _ = writeln!(
            s,
            "reconnects: {} of {} attempts opened, {} refused or failed",
            c.reconnects,
            c.reconnect_attempts,
            c.reconnect_errors.total()
        );
        for o in &r.outages {
            let _ = match o.recovery_s {
                Some(r) => writeln!(s, "  outage at {:.2} s: {} dropped, all back after {r:.3} s", o.start_s, o.drops),
                None => writeln!(s, "  outage at {:.2} s: {} dropped, not recovered by the end", o.start_s, o.drops),
            };
        }
        if r.outages_total > r.outages.len() as u64 {
            let _ = writeln!(s, "  ({} outages in all; the first {} listed)", r.outages_total, r.outages.len());
        }
    }
    s
}

fn histogram_line(s: &mut String, title: &str, h: &HistogramData) {
    let _ = write!(s, "{title:<16} {:>9}", h.count);
    if h.count == 0 {
        let _ = writeln!(s, " (none in the window)");
        return;
    }
    for p in PERCENTILES {
        let _ = write!(s, " {:>8}", micros(h.percentile(p).unwrap_or(0)));
    }
    let _ = writeln!(s, " {:>8}", micros(h.max));
}

/// What the verdict line adds to a PASS: the drops and the recovery.
/// Empty when the server dropped nothing.
pub fn verdict_note(r: &ChurnResult) -> String {
    let drops = r.tally.drops.total();
    if drops == 0 {
        return String::new();
    }
    let recovery = match r.longest_recovery_s {
        Some(r) => format!("longest recovery {r:.3} s"),
        None => "no recovery measured".to_string(),
    };
    format!(
        ", with {drops} connections dropped by the server and reconnected ({recovery}; {} messages lost to the drops)",
        r.tally.lost_to_drop
    )
}
