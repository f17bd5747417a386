//! Logging that a flood of bad peers cannot turn against the server.
//!
//! - [`SummaryLayer`] lets through the first [`BURST`] warnings and errors
//!   of each reason per interval and counts the rest; [`SummaryHandle::flush`]
//!   logs the counts once per interval, one line. A thousand clients failing
//!   the same way cost a dozen lines, not a thousand.
//! - [`EscapingFields`] writes every field value with its control
//!   characters escaped and cut to [`MAX_FIELD_CHARS`], so peer-supplied
//!   bytes (a header, a message prefix) can neither forge log lines nor
//!   flood them.
//!
//! The binary writes through tracing-appender's non-blocking writer: a
//! slow stderr drops lines (counted by the appender) instead of stalling
//! the runtime threads that log.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::layer::{Context, Layer};

/// Events of one reason logged one by one per interval; the rest are counted.
pub const BURST: u64 = 10;
/// Distinct reasons tracked per interval; events of further reasons are
/// counted together, so the table cannot grow without bound.
pub const MAX_REASONS: usize = 64;
/// Characters of a field value written to the log; the rest are cut.
pub const MAX_FIELD_CHARS: usize = 200;
/// Target of the summary lines (never summarized themselves).
pub const SUMMARY_TARGET: &str = "wsbench_server::summary";

/// `s` with control characters escaped (`\n`, `\u{1b}`, ...) and cut after
/// `max` characters, saying how many more there were.
pub fn escaped(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max) + 8);
    let mut chars = s.chars();
    for c in chars.by_ref().take(max) {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    let rest = chars.count();
    if rest > 0 {
        let _ = write!(out, "…({rest} more chars)");
    }
    out
}

/// Counts events per reason within an interval; the pure core of
/// [`SummaryLayer`].
#[derive(Debug)]
pub struct Summarizer {
    burst: u64,
    max_reasons: usize,
    counts: HashMap<String, u64>,
    /// Events of reasons past `max_reasons`.
    other: u64,
}

impl Summarizer {
    /// Logs `burst` events per reason and interval, tracks `max_reasons` reasons.
    pub fn new(burst: u64, max_reasons: usize) -> Self {
        Summarizer { burst, max_reasons, counts: HashMap::new(), other: 0 }
    }

    /// Counts one event; true when it is to be logged on its own.
    pub fn admit(&mut self, reason: &str) -> bool {
        if let Some(count) = self.counts.get_mut(reason) {
            *count += 1;
            return *count <= self.burst;
        }
        if self.counts.len() >= self.max_reasons {
            self.other += 1;
            return false;
        }
        self.counts.insert(reason.to_string(), 1);
        self.burst >= 1
    }

    /// Ends the interval: the events not logged, per reason, most first;
    /// `None` when every event was logged.
    pub fn take(&mut self) -> Option<String> {
        let mut unlogged: Vec<(String, u64)> = self
            .counts
            .drain()
            .filter_map(|(reason, count)| (count > self.burst).then(|| (reason, count - self.burst)))
            .collect();
        let other = std::mem::take(&mut self.other);
        if unlogged.is_empty() && other == 0 {
            return None;
        }
        unlogged.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let total: u64 = unlogged.iter().map(|(_, n)| n).sum::<u64>() + other;
        let mut line = format!("{total} more warnings/errors not logged one by one:");
        for (reason, count) in &unlogged {
            let _ = write!(line, " {count} × [{reason}];");
        }
        if other > 0 {
            let _ = write!(line, " {other} × [other reasons];");
        }
        line.pop();
        Some(line)
    }
}

/// A layer that lets through the first [`BURST`] warnings and errors per
/// reason and interval. The reason of an event is its message with its
/// `code`, `reason` and `error` fields (not `peer`: one reason for every
/// peer). Info and below pass untouched.
#[derive(Debug, Clone)]
pub struct SummaryLayer {
    state: Arc<Mutex<Summarizer>>,
}

/// Ends the intervals of a [`SummaryLayer`].
#[derive(Debug, Clone)]
pub struct SummaryHandle {
    state: Arc<Mutex<Summarizer>>,
}

impl SummaryLayer {
    /// A layer with [`BURST`] and [`MAX_REASONS`], and its handle.
    pub fn new() -> (SummaryLayer, SummaryHandle) {
        let state = Arc::new(Mutex::new(Summarizer::new(BURST, MAX_REASONS)));
        (SummaryLayer { state: state.clone() }, SummaryHandle { state })
    }
}

impl SummaryHandle {
    /// Ends the interval: logs, in one line, what was counted and not logged.
    pub fn flush(&self) {
        let line = self.state.lock().expect("summary lock").take();
        if let Some(line) = line {
            tracing::warn!(target: SUMMARY_TARGET, "{line}");
        }
    }
}

impl<S: Subscriber> Layer<S> for SummaryLayer {
    fn event_enabled(&self, event: &Event<'_>, _ctx: Context<'_, S>) -> bool {
        let meta = event.metadata();
        if *meta.level() > Level::WARN || meta.target() == SUMMARY_TARGET {
            return true;
        }
        let mut reason = ReasonVisitor::default();
        event.record(&mut reason);
        self.state.lock().expect("summary lock").admit(&reason.reason)
    }
}

/// Builds an event's reason from its message, `code`, `reason` and `error`.
/// Only the first `message` counts: the macros put the format string first,
/// and a field also named `message` may carry a peer's bytes, which would
/// make every peer a reason of its own.
#[derive(Default)]
struct ReasonVisitor {
    reason: String,
    saw_message: bool,
}

impl Visit for ReasonVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_debug(field, &format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let name = field.name();
        match name {
            "message" if std::mem::replace(&mut self.saw_message, true) => return,
            "message" | "code" | "reason" | "error" => {}
            _ => return,
        }
        if !self.reason.is_empty() {
            self.reason.push(' ');
        }
        let value = escaped(&format!("{value:?}"), MAX_FIELD_CHARS / 2);
        if name == "message" {
            self.reason.push_str(&value);
        } else {
            let _ = write!(self.reason, "{name}={value}");
        }
    }
}

/// A field formatter for `tracing_subscriber::fmt` that writes values
/// through [`escaped`]: `name=value`, space separated, the message bare.
#[derive(Debug, Clone, Copy, Default)]
pub struct EscapingFields;

/// The visitor of [`EscapingFields`].
#[derive(Debug)]
pub struct EscapingVisitor<'a> {
    writer: Writer<'a>,
    first: bool,
    result: fmt::Result,
}

impl<'a> MakeVisitor<Writer<'a>> for EscapingFields {
    type Visitor = EscapingVisitor<'a>;

    fn make_visitor(&self, writer: Writer<'a>) -> EscapingVisitor<'a> {
        EscapingVisitor { writer, first: true, result: Ok(()) }
    }
}

impl EscapingVisitor<'_> {
    fn write(&mut self, name: &str, value: &str) {
        if self.result.is_err() {
            return;
        }
        let value = escaped(value, MAX_FIELD_CHARS);
        let sep = if std::mem::take(&mut self.first) { "" } else { " " };
        self.result = if name == "message" {
            write!(self.writer, "{sep}{value}")
        } else {
            write!(self.writer, "{sep}{name}={value}")
        };
    }
}

impl Visit for EscapingVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.write(field.name(), value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.write(field.name(), &format!("{value:?}"));
    }
}

impl VisitOutput<fmt::Result> for EscapingVisitor<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl VisitFmt for EscapingVisitor<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        &mut self.writer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_control_characters_and_cuts() {
        assert_eq!(escaped("plain 接收", 50), "plain 接收");
        assert_eq!(escaped("a\nb\u{1b}[31m", 50), "a\\nb\\u{1b}[31m");
        assert_eq!(escaped(&"x".repeat(30), 10), format!("{}…(20 more chars)", "x".repeat(10)));
    }

    #[test]
    fn logs_a_burst_per_reason_then_counts() {
        let mut s = Summarizer::new(3, 2);
        let admitted = (0..100).filter(|_| s.admit("failed code=1002")).count();
        assert_eq!(admitted, 3);
        assert!(s.admit("read failed"));
        assert!(!s.admit("a third reason"), "past max_reasons: counted as other");
        assert_eq!(
            s.take().unwrap(),
            "98 more warnings/errors not logged one by one: 97 × [failed code=1002]; 1 × [other reasons]"
        );
        // A new interval starts afresh.
        assert_eq!(s.take(), None);
        assert!(s.admit("failed code=1002"));
        assert_eq!(s.take(), None, "everything was logged");
    }

    #[test]
    fn a_zero_burst_logs_nothing_one_by_one() {
        let mut s = Summarizer::new(0, 8);
        assert!(!s.admit("x"));
        assert_eq!(s.take().unwrap(), "1 more warnings/errors not logged one by one: 1 × [x]");
    }

    /// The fmt layer with [`EscapingFields`] and a [`SummaryLayer`], as the
    /// binary sets them up, writing into a buffer.
    #[test]
    fn peer_bytes_cannot_forge_lines_and_floods_are_summarized() {
        #[derive(Clone, Default)]
        struct Buffer(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        use tracing_subscriber::layer::SubscriberExt as _;
        let buffer = Buffer::default();
        let sink = buffer.clone();
        let (summary, handle) = SummaryLayer::new();
        let subscriber = tracing_subscriber::registry().with(summary).with(
            tracing_subscriber::fmt::layer()
                .with_writer(move || sink.clone())
                .with_ansi(false)
                .without_time()
                .fmt_fields(EscapingFields),
        );
        tracing::subscriber::with_default(subscriber, || {
            let forged = "hi\n2026-01-01 ERROR forged line\u{1b}[31m";
            tracing::error!(peer = "127.0.0.1:1", message = %forged, "write failed");
            for i in 0..500 {
                tracing::warn!(peer = %format!("127.0.0.1:{i}"), code = 1002, reason = "unmasked frame", "failed the connection");
            }
            for i in 0..50 {
                let message = format!("peer bytes {i}");
                tracing::error!(peer = "127.0.0.1:2", error = "broken pipe", %message, "write failed");
            }
            tracing::info!("info passes untouched");
            handle.flush();
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1 + BURST as usize + BURST as usize + 1 + 1, "{text}");
        assert!(lines[0].contains(r"hi\n2026-01-01 ERROR forged line\u{1b}[31m"), "{}", lines[0]);
        assert!(!text.contains('\u{1b}'));
        assert_eq!(lines.iter().filter(|l| l.contains("failed the connection")).count(), BURST as usize + 1);
        let last = lines.last().unwrap();
        assert!(last.contains("490 × [failed the connection code=1002 reason=unmasked frame]"), "{last}");
        assert!(last.contains("40 × [write failed error=broken pipe]"), "peer bytes are not a reason: {last}");
    }
}
