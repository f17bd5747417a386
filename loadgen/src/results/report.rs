//! The summary printed at the end of a run: what was loaded and how, the
//! latency percentiles of each histogram, throughput each way, errors by
//! kind, each error ratio in words, close codes, who held the load back
//! (the server's pushback, failed connections, or the loadgen: LOADGEN
//! LIMIT), and the verdict.

use std::fmt::Write;

use super::churn::report as churn_report;
use super::counters::{ConnectErrorKind, ConnectionErrorKind, ReplyErrorKind};
use super::format::{bytes, count, micros};
use super::schema::{RunResult, Status, PERCENTILES};
use super::setup::{LoadModel, Unsolicited};
use super::stats::Series;

/// The summary of `r`, as `run` and `merge` print it.
pub fn summary(r: &RunResult) -> String {
    let mut s = String::new();
    let c = &r.config;
    let load = match c.load {
        LoadModel::Closed { pipeline } => format!("closed loop, {pipeline} in flight per connection"),
        LoadModel::Open { rate, max_in_flight: None } => format!("open loop at {rate} msg/s"),
        LoadModel::Open { rate, max_in_flight: Some(k) } => {
            format!("open loop at {rate} msg/s, at most {k} in flight per connection")
        }
    };
    let _ = writeln!(
        s,
        "\nwsbench-loadgen {} -> {}{}",
        r.loadgen_version,
        r.target.url,
        if r.target.embedded { " (embedded wsbench server)" } else { "" }
    );
    let _ = writeln!(
        s,
        "  {} connections, {load}; {} {} messages, mode {}; {:.1} s measured after {:.1} s ramp-up and {:.1} s warmup; {} thread(s)",
        c.connections,
        if c.api.is_some() { "templated".to_string() } else { format!("{} B", c.size) },
        c.message_type.name(),
        r.target.mode,
        r.timing.measured_s,
        r.timing.ramp_s,
        r.timing.warmup_s,
        c.threads
    );

    let _ = write!(s, "\n{:<16} {:>9}", "latency", "count");
    for p in PERCENTILES {
        let _ = write!(s, " {:>8}", format!("p{p}"));
    }
    let _ = writeln!(s, " {:>8}", "max");
    for series in Series::ALL {
        let h = r.histogram(series);
        let _ = write!(s, "{:<16} {:>9}", series.title(), h.count);
        if h.count == 0 {
            let why = match series {
                Series::SendLag if !c.load.is_open() => "(closed loop: no schedule)",
                _ => "(none)",
            };
            let _ = writeln!(s, " {why}");
            continue;
        }
        for p in PERCENTILES {
            let _ = write!(s, " {:>8}", micros(h.percentile(p).unwrap_or(0)));
        }
        let _ = writeln!(s, " {:>8}", micros(h.max));
    }
    if !c.load.is_open() {
        let _ =
            writeln!(s, "  (closed loop: each message's intended time is its send time, so corrected = uncorrected)");
    }

    let t = &r.throughput;
    let _ = writeln!(s, "\n{:<16} {:>10} {:>12}", "throughput", "msg/s", "bytes/s");
    let _ = writeln!(s, "{:<16} {:>10} {:>12}", "sent", count(t.sent_msgs_per_s), bytes(t.sent_bytes_per_s));
    let _ =
        writeln!(s, "{:<16} {:>10} {:>12}", "received", count(t.received_msgs_per_s), bytes(t.received_bytes_per_s));
    if let Some(rate) = t.target_msgs_per_s {
        let _ = writeln!(s, "{:<16} {:>10}", "target", count(rate));
    }

    if let Some(b) = &r.broadcast {
        b.report(&mut s, t.sent_msgs_per_s);
    }

    let k = &r.counters;
    let _ = writeln!(
        s,
        "\nconnections: {} attempted, {} opened; messages: {} sent, {} replies read (all phases, errors included)",
        k.connections_attempted, k.connections_opened, k.messages_sent_total, k.replies_received_total
    );
    if let Some(api) = &c.api {
        let rate = t.unsolicited_msgs_per_s.unwrap_or(0.0);
        let _ = writeln!(
            s,
            "api: {} template(s), match {}; unsolicited (answering no request): {} in the window ({}/s), {} in all{}",
            api.messages.len(),
            api.match_rule,
            k.unsolicited,
            count(rate),
            k.unsolicited_total,
            if api.unsolicited == Unsolicited::Error { ", counted as errors" } else { "" }
        );
    }
    if !k.subprotocols.is_empty() {
        let picks: Vec<String> = k
            .subprotocols
            .iter()
            .map(|(p, n)| format!("{} x{n}", if p.is_empty() { "(none)" } else { p.as_str() }))
            .collect();
        let _ = writeln!(s, "subprotocol picked by the server: {}", picks.join(", "));
    }
    if let Some(deflate) = &k.deflate {
        let _ = writeln!(s, "{}", deflate.summary(k.messages_sent + k.messages_received));
    }
    let mut errors = Vec::new();
    let mut count_errors = |label: &str, v: u64| {
        if v > 0 {
            errors.push(format!("{label} {v}"));
        }
    };
    let ce = &k.connect_errors;
    for &kind in ConnectErrorKind::ALL {
        count_errors(kind.label(), ce[kind]);
    }
    for (code, &v) in &ce.http_status {
        count_errors(&format!("HTTP {code}"), v);
    }
    for &kind in ReplyErrorKind::ALL {
        count_errors(kind.label(), k.reply_errors[kind]);
    }
    for &kind in ConnectionErrorKind::ALL {
        count_errors(kind.label(), k.connection_errors[kind]);
    }
    let _ = writeln!(s, "errors: {}", if errors.is_empty() { "none".to_string() } else { errors.join(", ") });
    if k.late_replies > 0 {
        let _ = writeln!(
            s,
            "  late replies {}: they came after --drain-timeout, to messages counted missing (not duplicates); their RTTs are in the histograms",
            k.late_replies
        );
    }
    if let Some(ratios) = &r.outcome.ratios {
        let _ = writeln!(s, "  {}", ratios.connections_in_words());
        let _ = writeln!(s, "  {}", ratios.messages_in_words());
    }
    let codes: Vec<String> = k.close_codes.iter().map(|(c, n)| format!("{c} x{n}")).collect();
    let _ = writeln!(s, "close codes received: {}", if codes.is_empty() { "none".into() } else { codes.join(", ") });
    for sample in r.samples.iter().take(5) {
        let _ = writeln!(s, "  e.g. {sample}");
    }

    let busy: Vec<String> = r.loadgen.worker_cpu_busy.iter().map(|b| format!("{:.0}%", b * 100.0)).collect();
    let _ = writeln!(s, "\nloadgen worker CPU: {}", busy.join(" "));
    let health = &r.loadgen;
    if let Some(share) = health.send_blocked_share.filter(|s| *s > 0.0) {
        let _ = writeln!(s, "send blocked by the server (pushback): {:.1}% of connection-time", share * 100.0);
    }
    for f in &health.held_back {
        let _ = writeln!(s, "held back, not by the loadgen: {f}");
    }
    for f in &health.findings {
        let _ = writeln!(s, "LOADGEN LIMIT: {f}");
    }
    if !health.limited {
        let _ = writeln!(s, "the loadgen kept up: the figures above are the server's");
    }
    if let Some(churn) = &r.churn {
        s.push_str(&churn_report::summary(churn));
    }
    let o = &r.outcome;
    let status = o.status();
    let drops = r.churn.as_ref().map(churn_report::verdict_note).unwrap_or_default();
    let _ = match status {
        Status::Pass if health.limited => writeln!(
            s,
            "result: PASS, with the loadgen as the limit (accepted by --allow-loadgen-limit): the figures are bounds of the server's, throughput a lower one, latency an upper one{drops}"
        ),
        Status::Pass => writeln!(s, "result: PASS{drops}"),
        Status::Fail | Status::LoadgenLimit => writeln!(s, "result: {}: {}", status.label(), o.reasons.join("; ")),
    };
    s
}

#[cfg(test)]
mod tests {
    use crate::commands::testing::synthetic;

    /// The count of replies read holds duplicates and corrupt ones: the
    /// summary says so, rather than set it beside the messages sent as if
    /// each answered one.
    #[test]
    fn replies_read_are_named_as_such() {
        let mut r = synthetic("s", &["-d", "10"], (0.0, 10.0), &[10, 20]);
        r.counters.replies_received_total = 3;
        r.counters.reply_errors.duplicate = 1;
        let text = super::summary(&r);
        assert!(text.contains("messages: 2 sent, 3 replies read (all phases, errors included)"), "{text}");
    }
}
