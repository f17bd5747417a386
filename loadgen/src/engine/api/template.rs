//! Message templates, parsed once into segments, so that each message is
//! rendered by one pass that appends to the write buffer: no parsing, no
//! formatting machinery and no allocation per message. The rendered length
//! is known before the pass ([`Template::len`]), so the frame header goes
//! in front of the payload without moving it.
//!
//! Placeholders: `{{conn}}` (the connection's number, from 0), `{{seq}}`
//! (the message's number on its connection, from 1: the correlation id),
//! `{{id}}` (unique in the run, see [`run_id`]), `{{now_ms}}` (Unix time,
//! ms), `{{rand:N}}` (N random letters and digits), `{{pad:N}}` (filler up
//! to N bytes in all, at most once). `{{` always opens a placeholder.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::engine::connect::Rng;

/// Largest N of `{{rand:N}}` and `{{pad:N}}`: the wsbench server's default
/// message limit.
pub const MAX_N: usize = 16 << 20;
/// Letters and digits, for `{{rand:N}}`.
const ALNUM: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// The byte `{{pad:N}}` fills with.
const PAD: u8 = b'x';

/// One piece of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment {
    /// Bytes `start..end` of the template's literal text.
    Lit(usize, usize),
    Conn,
    Seq,
    Id,
    NowMs,
    Rand(usize),
    Pad,
}

/// What one message's placeholders stand for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Vars {
    /// `{{conn}}`.
    pub conn: u32,
    /// `{{seq}}`.
    pub seq: u64,
    /// `{{id}}`.
    pub id: u64,
}

/// `{{id}}` of message `seq` (from 1) of connection `conn` of `connections`:
/// the messages of the run numbered from 1, connection by connection in
/// turn, so unique in the run without any shared counter. Not unique
/// across loadgens run at once (a distributed run): each numbers its own.
#[inline]
pub fn run_id(conn: u32, seq: u64, connections: u32) -> u64 {
    seq.saturating_sub(1) * u64::from(connections) + u64::from(conn) + 1
}

/// The message number (`{{seq}}`) of run id `id` when it belongs to
/// connection `conn`; `None` otherwise.
#[inline]
pub fn seq_of_run_id(id: u64, conn: u32, connections: u32) -> Option<u64> {
    let n = id.checked_sub(1)?;
    let c = u64::from(connections);
    (n % c == u64::from(conn)).then(|| n / c + 1)
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    text: Vec<u8>,
    segments: Vec<Segment>,
    /// Bytes of literals and `{{rand:N}}`.
    fixed: usize,
    /// `{{pad:N}}`'s N.
    pad: Option<usize>,
}

impl Template {
    /// Parses `s`; the error names the placeholder at fault.
    pub fn parse(s: &str) -> Result<Template, String> {
        let mut t = Template { text: Vec::new(), segments: Vec::new(), fixed: 0, pad: None };
        let mut rest = s;
        while let Some(open) = rest.find("{{") {
            t.literal(&rest[..open]);
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or_else(|| format!("unclosed placeholder {:?}", &rest[open..]))?;
            let name = &after[..close];
            let (word, arg) = match name.split_once(':') {
                Some((w, a)) => (w, Some(a)),
                None => (name, None),
            };
            let n = |what: &str| -> Result<usize, String> {
                let a = arg.ok_or_else(|| format!("{{{{{what}:N}}}} needs N, a number of bytes"))?;
                match a.parse::<usize>() {
                    Ok(n) if (1..=MAX_N).contains(&n) => Ok(n),
                    _ => Err(format!("{{{{{name}}}}}: N must be a whole number from 1 to {MAX_N}")),
                }
            };
            let segment = match (word, arg) {
                ("conn", None) => Segment::Conn,
                ("seq", None) => Segment::Seq,
                ("id", None) => Segment::Id,
                ("now_ms", None) => Segment::NowMs,
                ("rand", _) => {
                    let n = n("rand")?;
                    t.fixed += n;
                    Segment::Rand(n)
                }
                ("pad", _) => {
                    if t.pad.is_some() {
                        return Err("{{pad:N}} may appear once".into());
                    }
                    t.pad = Some(n("pad")?);
                    Segment::Pad
                }
                _ => {
                    return Err(format!(
                        "unknown placeholder {{{{{name}}}}} (known: conn, seq, id, now_ms, rand:N, pad:N)"
                    ))
                }
            };
            t.segments.push(segment);
            rest = &after[close + 2..];
        }
        t.literal(rest);
        if t.fixed > MAX_N {
            return Err(format!("longer than {MAX_N} bytes"));
        }
        Ok(t)
    }

    fn literal(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        let start = self.text.len();
        self.text.extend_from_slice(s.as_bytes());
        self.segments.push(Segment::Lit(start, self.text.len()));
        self.fixed += s.len();
    }

    /// Whether the template has `{{seq}}`.
    pub fn has_seq(&self) -> bool {
        self.segments.contains(&Segment::Seq)
    }

    /// Whether the template has `{{id}}`.
    pub fn has_id(&self) -> bool {
        self.segments.contains(&Segment::Id)
    }

    /// Whether the template has `{{now_ms}}` (the clock is read only then).
    pub fn has_now(&self) -> bool {
        self.segments.contains(&Segment::NowMs)
    }

    /// The length of the message `vars` make, `now_ms` included if used.
    #[inline]
    pub fn len(&self, vars: &Vars, now_ms: u64) -> usize {
        let unpadded = self.unpadded_len(vars, now_ms);
        self.pad.map_or(unpadded, |n| n.max(unpadded))
    }

    /// Whether every message of this template is empty.
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// The shortest message of this template (numbers of one digit).
    pub fn min_len(&self) -> usize {
        self.len(&Vars::default(), 0)
    }

    #[inline]
    fn unpadded_len(&self, vars: &Vars, now_ms: u64) -> usize {
        let mut len = self.fixed;
        for s in &self.segments {
            len += match *s {
                Segment::Conn => digits(u64::from(vars.conn)),
                Segment::Seq => digits(vars.seq),
                Segment::Id => digits(vars.id),
                Segment::NowMs => digits(now_ms),
                _ => 0,
            };
        }
        len
    }

    /// Appends the message `vars` make to `out`: exactly
    /// [`Template::len`]`(vars, now_ms)` bytes.
    #[inline]
    pub fn render(&self, vars: &Vars, now_ms: u64, rng: &mut Rng, out: &mut Vec<u8>) {
        let pad = self.pad.map_or(0, |n| n.saturating_sub(self.unpadded_len(vars, now_ms)));
        for s in &self.segments {
            match *s {
                Segment::Lit(a, b) => out.extend_from_slice(&self.text[a..b]),
                Segment::Conn => write_decimal(out, u64::from(vars.conn)),
                Segment::Seq => write_decimal(out, vars.seq),
                Segment::Id => write_decimal(out, vars.id),
                Segment::NowMs => write_decimal(out, now_ms),
                Segment::Rand(n) => write_rand(out, n, rng),
                Segment::Pad => out.resize(out.len() + pad, PAD),
            }
        }
    }
}

/// Unix time in milliseconds, for `{{now_ms}}`.
pub fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[inline]
fn digits(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 10 {
        v /= 10;
        n += 1;
    }
    n
}

#[inline]
fn write_decimal(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// `n` random letters and digits, 8 from each 64 random bits (the slight
/// bias of a byte modulo 62 does not matter for a load test).
fn write_rand(out: &mut Vec<u8>, n: usize, rng: &mut Rng) {
    let mut left = n;
    while left > 0 {
        let bits = rng.next_u64().to_le_bytes();
        let take = left.min(8);
        out.extend(bits[..take].iter().map(|b| ALNUM[*b as usize % ALNUM.len()]));
        left -= take;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(t: &str, vars: Vars) -> String {
        let t = Template::parse(t).unwrap();
        let mut out = b"<".to_vec();
        t.render(&vars, 1_700_000_000_123, &mut Rng::new(1), &mut out);
        assert_eq!(out.len() - 1, t.len(&vars, 1_700_000_000_123), "len is exact");
        String::from_utf8(out[1..].to_vec()).unwrap()
    }

    #[test]
    fn placeholders_render() {
        let v = Vars { conn: 7, seq: 42, id: 1234 };
        assert_eq!(
            render(r#"{"id":{{seq}},"c":{{conn}},"r":{{id}},"t":{{now_ms}}}"#, v),
            r#"{"id":42,"c":7,"r":1234,"t":1700000000123}"#
        );
        assert_eq!(render("plain", v), "plain");
        assert_eq!(render("", v), "");
        let r = render("[{{rand:13}}]", v);
        assert_eq!(r.len(), 15);
        assert!(r[1..14].bytes().all(|b| b.is_ascii_alphanumeric()), "{r}");
        assert_eq!(render("{{seq}}{{pad:8}}!", v), "42xxxxx!");
        assert_eq!(render("{{pad:2}}long text", v), "long text", "no padding past N");
        assert_eq!(render("{{seq}}", Vars { seq: 0, ..v }), "0");
        assert_eq!(render("{{seq}}", Vars { seq: u64::MAX, ..v }), u64::MAX.to_string());
    }

    #[test]
    fn bad_templates_are_named() {
        for (bad, why) in [
            ("{{nope}}", "unknown placeholder {{nope}}"),
            ("{{seq", "unclosed placeholder"),
            ("{{rand}}", "needs N"),
            ("{{rand:x}}", "whole number"),
            ("{{rand:0}}", "whole number"),
            ("{{pad:4}}{{pad:4}}", "once"),
            ("{{seq:3}}", "unknown placeholder"),
        ] {
            let e = Template::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn run_ids_are_unique_and_map_back() {
        let mut seen = std::collections::HashSet::new();
        for conn in 0..5 {
            for seq in 1..50 {
                let id = run_id(conn, seq, 5);
                assert!(seen.insert(id));
                assert_eq!(seq_of_run_id(id, conn, 5), Some(seq));
                assert_eq!(seq_of_run_id(id, (conn + 1) % 5, 5), None);
            }
        }
        assert_eq!(seq_of_run_id(0, 0, 5), None);
    }
}
