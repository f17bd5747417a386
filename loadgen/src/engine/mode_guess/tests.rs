use wsbench_proto::{seed_reply, MessageKind};
use wsbench_server::mode::ConnectionParams;
use wsbench_server::outbox::Outbox;
use wsbench_server::reply::{Payload, Responder};

use super::*;
use crate::engine::payload::message_template;
use crate::results::setup::MessageType;

/// The reply wsbench-server itself sends to `message` in `mode`, as
/// (whole message, fragmented): its frames taken apart again.
fn server_reply(mode: ReplyMode, kind: MessageKind, message: &[u8], chunk: usize) -> (Vec<u8>, bool) {
    let mut out = Outbox::new();
    Responder::new(ConnectionParams { mode, chunk }).respond(&mut out, kind, Payload::Detached(message));
    let wire = out.to_vec(&[]);
    let (mut at, mut frames, mut whole) = (0, 0, Vec::new());
    while at < wire.len() {
        let (len, header) = match wire[at + 1] & 0x7f {
            126 => (u16::from_be_bytes([wire[at + 2], wire[at + 3]]) as usize, 4),
            127 => (u64::from_be_bytes(wire[at + 2..at + 10].try_into().unwrap()) as usize, 10),
            n => (n as usize, 2),
        };
        whole.extend_from_slice(&wire[at + header..at + header + len]);
        at += header + len;
        frames += 1;
    }
    (whole, frames > 1)
}

/// The loadgen's own messages, text and binary, of a few sizes.
fn messages() -> Vec<(MessageKind, Vec<u8>)> {
    let mut all = Vec::new();
    for size in [20, 32, 200, 5_000] {
        all.push((MessageKind::Text, message_template(7, MessageType::Text, size)));
        all.push((MessageKind::Binary, message_template(7, MessageType::Binary, size)));
    }
    all.push((MessageKind::Text, "héllo \"you\"\n".as_bytes().to_vec()));
    all.push((MessageKind::Binary, Vec::new()));
    all
}

#[test]
fn each_mode_of_the_real_server_is_recognised() {
    for (kind, message) in messages() {
        // Broadcast answers nothing: its deliveries are echoes of some member's.
        for mode in ReplyMode::ALL.into_iter().filter(|&m| m != ReplyMode::Broadcast) {
            for chunk in [1, 7, 4096] {
                let (reply, fragmented) = server_reply(mode, kind, &message, chunk);
                assert_eq!(guess_mode(&message, &reply, fragmented), Some(mode), "{mode} {kind:?} {}", message.len());
            }
        }
    }
}

#[test]
fn fragmentation_alone_tells_stream_from_reply() {
    let reply = seed_reply(b"hello");
    assert_eq!(guess_mode(b"hello", &reply, false), Some(ReplyMode::Reply));
    assert_eq!(guess_mode(b"hello", &reply, true), Some(ReplyMode::Stream));
    // A proxy's fragments do not change what echo and json are.
    assert_eq!(guess_mode(b"hello", b"hello", true), Some(ReplyMode::Echo));
}

#[test]
fn replies_to_another_message_or_in_no_format_fit_no_mode() {
    let sent = message_template(1, MessageType::Text, 32);
    let other = message_template(2, MessageType::Text, 32);
    assert_eq!(guess_mode(&sent, &other, false), None);
    assert_eq!(guess_mode(&sent, &seed_reply(&other), false), None);
    assert_eq!(guess_mode(&sent, &sent[..31], false), None);
    assert_eq!(guess_mode(&sent, b"", false), None);
    assert_eq!(guess_mode(b"hi", "接收到消息：hi".as_bytes(), false), None, "no suffix");
    assert_eq!(guess_mode(b"hi", b"HI", false), None);
}

#[test]
fn json_needs_every_field_and_the_same_message() {
    let ok = br#"{"type":"text","length":2,"seq":9,"message":"hi"}"#;
    assert_eq!(guess_mode(b"hi", ok, false), Some(ReplyMode::Json));
    for bad in [
        r#"{"type":"text","length":2,"message":"hi"}"#,
        r#"{"type":"text","length":3,"seq":1,"message":"hi"}"#,
        r#"{"type":"text","length":2,"seq":1,"message":"ho"}"#,
        r#"{"type":"blob","length":2,"seq":1,"message":"hi"}"#,
        r#"{"type":"binary","length":2,"seq":1,"message":"hi"}"#,
        r#"["text",2,1,"hi"]"#,
        r#"{"type":"text","length":2,"seq":"1","message":"hi"}"#,
        r#"{"type":"text","length":2,"seq":1,"message":"hi""#,
    ] {
        assert_eq!(guess_mode(b"hi", bad.as_bytes(), false), None, "{bad}");
    }
    let binary = br#"{"type":"binary","length":3,"seq":1,"message":"AQID"}"#;
    assert_eq!(guess_mode(&[1, 2, 3], binary, false), Some(ReplyMode::Json));
}

#[test]
fn describe_bytes_shows_text_and_escapes_the_rest() {
    assert_eq!(describe_bytes(b"hello", 40), "\"hello\"");
    assert_eq!(describe_bytes(b"", 40), "\"\"");
    assert_eq!(describe_bytes(b"a\"b\\c\n\t\x7f", 40), r#""a\"b\\c\n\t\u{7f}""#);
    assert_eq!(describe_bytes(&[b'o', b'k', 0xff, 0x00], 40), r#""ok\xff\u{0}""#);
    assert_eq!(describe_bytes(b"hello world", 5), "\"hello…\"");
    // "接" is 3 bytes: never cut in half.
    assert_eq!(describe_bytes("接收".as_bytes(), 4), "\"接…\"");
    assert_eq!(describe_bytes("接收".as_bytes(), 6), "\"接收\"");
    assert_eq!(describe_bytes(&[0xff, 0xfe], 1), "\"\\xff…\"");
}

#[test]
fn the_reported_case_names_the_mode() {
    // 32-byte text messages, `--mode echo`, a server in the seed's format.
    let sent = message_template(0, MessageType::Text, 32);
    let reply = seed_reply(&sent);
    assert_eq!(reply.len(), 68);
    let line = describe_mismatch(ReplyMode::Echo, &sent, &reply, false);
    assert!(line.starts_with("wrong mode: expected echo, got a 68-byte reply \"接收到消息："), "{line}");
    assert!(line.ends_with("…\" that looks like mode reply"), "{line}");
    // Fitting no mode is not called a wrong mode: the server may be broken.
    let line = describe_mismatch(ReplyMode::Json, &sent, b"\x00\x01", true);
    assert_eq!(line, r#"expected json, got a 2-byte fragmented reply "\u{0}\u{1}" that fits no reply mode"#);
    let line = describe_mismatch(ReplyMode::Echo, &sent, &sent, false);
    assert!(line.starts_with("expected echo, got a 32-byte reply \""), "{line}");
    assert!(line.ends_with("\" in that mode's format, yet it failed the check"), "{line}");
}

proptest::proptest! {
    /// Any message, text or binary, in any mode and fragment size.
    #[test]
    fn any_message_in_any_mode_is_recognised(
        text in ".{0,40}",
        binary in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
        chunk in 1usize..64,
    ) {
        for (kind, message) in [(MessageKind::Text, text.as_bytes()), (MessageKind::Binary, &binary[..])] {
            for mode in ReplyMode::ALL.into_iter().filter(|&m| m != ReplyMode::Broadcast) {
                let (reply, fragmented) = server_reply(mode, kind, message, chunk);
                proptest::prop_assert_eq!(guess_mode(message, &reply, fragmented), Some(mode));
            }
        }
    }

    #[test]
    fn describe_bytes_stays_within_max(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64), max in 0usize..80) {
        // Without the byte 0xA6 the input cannot hold a "…" of its own.
        let bytes: Vec<u8> = bytes.into_iter().map(|b| if b == 0xa6 { 0xa7 } else { b }).collect();
        let shown = describe_bytes(&bytes, max);
        proptest::prop_assert!(shown.starts_with('"') && shown.ends_with('"'));
        proptest::prop_assert_eq!(shown.ends_with("…\""), max < bytes.len());
    }
}
