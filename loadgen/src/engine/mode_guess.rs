//! Which reply mode a reply seems to fit, to name a wrong `--mode`.
//!
//! Why: a loadgen run with the wrong `--mode` used to report the symptom,
//! not the cause: against a server answering in the seed's format,
//! `--mode echo` reported "a frame of 68 bytes, longer than any reply" and
//! then "server gone?". Guessing the mode from one reply lets the error say
//! `wrong mode: expected echo, got a 68-byte reply "接收到消息：…" that looks
//! like mode reply`.
//!
//! What each mode's reply to a message `m` is (see `wsbench_server::reply`
//! and the README):
//! - echo: exactly `m`.
//! - reply: `REPLY_PREFIX + m + REPLY_SUFFIX`, as bytes (binary messages get
//!   the same bytes around them), in one frame.
//! - stream: the same bytes as reply, as a fragmented message.
//! - json: a JSON object with `type` ("text" or "binary"), `length` (of `m`
//!   in bytes), `seq` and `message` (`m` as text, or standard base64 for
//!   binary).
//!
//! Limits: `sent` must be the message the reply answers (with pipelining,
//! the caller finds it by the reply's stamp, not by order); a reply to
//! another message fits no mode. Fragmentation only tells stream from
//! reply: wsbench-server never fragments echo or json replies, but a proxy
//! may, so those are judged on content alone. `seq` is not checked (one
//! reply cannot tell the count). When a message fits several modes (a
//! message that is itself the seed's reply of something), echo wins.

use base64::Engine;
// The one import of the mode type here (it may move to a protocol crate).
use crate::engine::protocol::{ReplyMode, REPLY_PREFIX, REPLY_SUFFIX};

/// The mode whose reply to `sent` would be `reply`, if any.
pub fn guess_mode(sent: &[u8], reply: &[u8], reply_fragmented: bool) -> Option<ReplyMode> {
    if reply == sent {
        return Some(ReplyMode::Echo);
    }
    if is_seed_reply(sent, reply) {
        return Some(if reply_fragmented { ReplyMode::Stream } else { ReplyMode::Reply });
    }
    if is_json_reply(sent, reply) {
        return Some(ReplyMode::Json);
    }
    None
}

/// The error line for a reply that did not pass the check of mode
/// `expected`: its length, its first bytes, and the mode it seems to fit.
/// Only a reply that fits another mode is called a wrong mode; one that
/// fits none may as well come from a broken server.
pub fn describe_mismatch(expected: ReplyMode, sent: &[u8], reply: &[u8], reply_fragmented: bool) -> String {
    let what = if reply_fragmented { "fragmented reply" } else { "reply" };
    let got = format!("got a {}-byte {what} {}", reply.len(), describe_bytes(reply, DESCRIBED_BYTES));
    match guess_mode(sent, reply, reply_fragmented) {
        Some(mode) if mode != expected => format!("wrong mode: expected {expected}, {got} that looks like mode {mode}"),
        Some(_) => format!("expected {expected}, {got} in that mode's format, yet it failed the check"),
        None => format!("expected {expected}, {got} that fits no reply mode"),
    }
}

/// How many bytes of a reply [`describe_mismatch`] shows.
pub const DESCRIBED_BYTES: usize = 40;

/// The first `max` bytes of `bytes` as a double-quoted literal for an
/// error line: UTF-8 text as is, `"`, `\` and control characters escaped
/// (`\n`, `\u{7f}`), bytes that are not UTF-8 as `\xNN`, and `…` before
/// the closing quote when bytes were left out. A character is never
/// cut: one that would cross `max` is left out whole. Limit: printable
/// means "not a control character"; invisible characters such as U+200B
/// are shown as they are.
pub fn describe_bytes(bytes: &[u8], max: usize) -> String {
    let mut out = String::from("\"");
    let mut used = 0;
    let mut complete = true;
    'chunks: for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if used + c.len_utf8() > max {
                complete = false;
                break 'chunks;
            }
            used += c.len_utf8();
            push_escaped(&mut out, c);
        }
        for &b in chunk.invalid() {
            if used + 1 > max {
                complete = false;
                break 'chunks;
            }
            used += 1;
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    if !complete {
        out.push('…');
    }
    out.push('"');
    out
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
        c => out.push(c),
    }
}

fn is_seed_reply(sent: &[u8], reply: &[u8]) -> bool {
    reply
        .strip_prefix(REPLY_PREFIX.as_bytes())
        .and_then(|rest| rest.strip_suffix(REPLY_SUFFIX.as_bytes()))
        .is_some_and(|body| body == sent)
}

/// The json mode's reply, as the README's schema has it: an object (not
/// an array of the same values, which a derived `Deserialize` would take).
fn is_json_reply(sent: &[u8], reply: &[u8]) -> bool {
    let Ok(json) = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(reply) else {
        return false;
    };
    let field = |name| json.get(name);
    let (Some(kind), Some(length), Some(_seq), Some(message)) = (
        field("type").and_then(|v| v.as_str()),
        field("length").and_then(|v| v.as_u64()),
        field("seq").and_then(|v| v.as_u64()),
        field("message").and_then(|v| v.as_str()),
    ) else {
        return false;
    };
    if length != sent.len() as u64 {
        return false;
    }
    match kind {
        "text" => message.as_bytes() == sent,
        "binary" => base64::engine::general_purpose::STANDARD.decode(message).is_ok_and(|m| m == sent),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
