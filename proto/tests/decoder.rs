//! The decoder: one test per protocol error and close code, and property
//! tests (split-independence, no panic, encode/decode round trips).

use proptest::prelude::*;
use wsbench_proto::close::CloseError;
use wsbench_proto::{write_frame, Decoder, Event, HeaderError, MessageKind, OpCode, ProtocolError, Role};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A frame as `role` would receive it.
fn frame(role: Role, fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mask = (role == Role::Server).then_some(KEY);
    write_frame(&mut out, fin, opcode, payload, mask);
    out
}

/// What a decoded frame says, with its payload copied out.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Frame(Event, Vec<u8>),
    Error(ProtocolError),
}

/// Feeds `wire` in pieces cut at `cuts`, the way a connection loop does:
/// one growing buffer, each frame consumed from its start.
fn decode_split(role: Role, max: usize, wire: &[u8], cuts: &[usize]) -> Vec<Seen> {
    let mut decoder = Decoder::new(role, max);
    let mut buf = Vec::new();
    let mut start = 0;
    let mut seen = Vec::new();
    let mut at = 0;
    let mut ends: Vec<usize> = cuts.iter().map(|&c| c.min(wire.len())).filter(|&c| c > 0).collect();
    ends.sort_unstable();
    ends.push(wire.len());
    for end in ends {
        if end < at {
            continue;
        }
        buf.extend_from_slice(&wire[at..end]);
        at = end;
        loop {
            match decoder.decode(&mut buf[start..]) {
                Ok(Some(f)) => {
                    let payload = buf[start + f.payload.start..start + f.payload.end].to_vec();
                    let event = match f.event {
                        Event::Close { code, reason } => {
                            Event::Close { code, reason: reason.start - f.payload.start..reason.end - f.payload.start }
                        }
                        other => other,
                    };
                    seen.push(Seen::Frame(event, payload));
                    start += f.len;
                }
                Ok(None) => break,
                Err(e) => {
                    seen.push(Seen::Error(e));
                    return seen;
                }
            }
        }
    }
    seen
}

fn decode_all(role: Role, wire: &[u8]) -> Vec<Seen> {
    decode_split(role, 1 << 20, wire, &[])
}

fn error_of(role: Role, max: usize, wire: &[u8]) -> ProtocolError {
    match decode_split(role, max, wire, &[]).pop() {
        Some(Seen::Error(e)) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

fn data(kind: MessageKind, first: bool, fin: bool) -> Event {
    Event::Data { kind, first, fin }
}

#[test]
fn each_header_error_is_a_1002() {
    let s = Role::Server;
    for (wire, err) in [
        (vec![0xc1, 0x80], HeaderError::ReservedBits),
        (vec![0x83, 0x80], HeaderError::UnknownOpcode(3)),
        (vec![0x81, 0x00], HeaderError::Unmasked),
        (vec![0x09, 0x80], HeaderError::BadControlFrame),
        (vec![0x89, 0xfe], HeaderError::BadControlFrame),
        (vec![0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0], HeaderError::BadLength),
    ] {
        let e = error_of(s, 1 << 20, &wire);
        assert_eq!(e, ProtocolError::Header(err));
        assert_eq!(e.close_code(), 1002);
    }
    assert_eq!(error_of(Role::Client, 100, &[0x81, 0x80]), ProtocolError::Header(HeaderError::Masked));
}

#[test]
fn fragment_sequence_errors_are_1002() {
    let s = Role::Server;
    let e = error_of(s, 100, &frame(s, true, OpCode::Continuation, b"x"));
    assert_eq!((e, e.close_code()), (ProtocolError::UnexpectedContinuation, 1002));
    let wire = [frame(s, false, OpCode::Text, b"a"), frame(s, true, OpCode::Binary, b"b")].concat();
    let e = error_of(s, 100, &wire);
    assert_eq!((e, e.close_code()), (ProtocolError::UnfinishedMessage, 1002));
}

#[test]
fn size_limit_counts_across_fragments_and_fails_at_the_header() {
    let s = Role::Server;
    let ok = [frame(s, false, OpCode::Binary, &[0; 6]), frame(s, true, OpCode::Continuation, &[0; 4])].concat();
    assert!(matches!(decode_all(s, &ok).last(), Some(Seen::Frame(..))));
    assert_eq!(decode_split(s, 10, &ok, &[]).len(), 2, "exactly the limit passes");
    let wire = [frame(s, false, OpCode::Binary, &[0; 6]), frame(s, true, OpCode::Continuation, &[0; 5])].concat();
    // The second header alone is enough: its payload never needs to arrive.
    let header_end = frame(s, false, OpCode::Binary, &[0; 6]).len() + 6;
    let e = error_of(s, 10, &wire[..header_end]);
    assert_eq!((e, e.close_code()), (ProtocolError::MessageTooBig, 1009));
    // Control frames do not count and are not limited by it.
    let ping = frame(s, true, OpCode::Ping, &[0; 100]);
    assert!(matches!(decode_split(s, 10, &ping, &[]).as_slice(), [Seen::Frame(Event::Ping, _)]));
}

#[test]
fn a_huge_announced_frame_fails_without_its_payload() {
    let wire = [0x82, 0xff, 0, 0, 0x10, 0, 0, 0, 0, 0, 1, 2, 3, 4];
    assert_eq!(error_of(Role::Server, 16 << 20, &wire), ProtocolError::MessageTooBig);
}

#[test]
fn invalid_utf8_fails_at_the_first_bad_byte_mid_frame() {
    let s = Role::Server;
    let mut text = b"hello ".to_vec();
    text.extend_from_slice(&[0xf4, 0x90]);
    text.extend_from_slice(&[b'x'; 100]);
    let wire = frame(s, true, OpCode::Text, &text);
    // Only up to the bad byte has arrived: the frame is far from whole.
    let e = error_of(s, 1 << 20, &wire[..6 + 8]);
    assert_eq!((e, e.close_code()), (ProtocolError::InvalidUtf8, 1007));
    // Across fragments too.
    let wire = [frame(s, false, OpCode::Text, &[0xf4]), frame(s, true, OpCode::Continuation, &[0x90, b'a'])].concat();
    assert_eq!(error_of(s, 100, &wire), ProtocolError::InvalidUtf8);
}

#[test]
fn without_the_utf8_check_text_is_taken_as_it_comes() {
    let c = Role::Client;
    let wire = [
        frame(c, true, OpCode::Text, &[b'a', 0xf4, 0x90]),
        frame(c, false, OpCode::Text, &"😀".as_bytes()[..3]),
        frame(c, true, OpCode::Continuation, &[0xff]),
    ]
    .concat();
    let mut buf = wire.clone();
    let mut decoder = Decoder::new(c, 100).without_utf8_check();
    let mut events = Vec::new();
    let mut at = 0;
    while let Some(f) = decoder.decode(&mut buf[at..]).expect("no UTF-8 error") {
        events.push(f.event);
        at += f.len;
    }
    assert_eq!(at, wire.len());
    assert_eq!(events.len(), 3);
    // The same bytes with the check: refused.
    assert_eq!(error_of(c, 100, &wire), ProtocolError::InvalidUtf8);
}

#[test]
fn text_ending_inside_a_code_point_is_1007() {
    let s = Role::Server;
    let e = error_of(s, 100, &frame(s, true, OpCode::Text, &"😀".as_bytes()[..3]));
    assert_eq!((e, e.close_code()), (ProtocolError::TruncatedUtf8, 1007));
    // A code point split across fragments, with a ping between, is fine.
    let wire = [
        frame(s, false, OpCode::Text, &"😀".as_bytes()[..1]),
        frame(s, true, OpCode::Ping, b"p"),
        frame(s, true, OpCode::Continuation, &"😀".as_bytes()[1..]),
    ]
    .concat();
    let seen = decode_all(s, &wire);
    assert_eq!(
        seen,
        vec![
            Seen::Frame(data(MessageKind::Text, true, false), vec![0xf0]),
            Seen::Frame(Event::Ping, b"p".to_vec()),
            Seen::Frame(data(MessageKind::Text, false, true), "😀".as_bytes()[1..].to_vec()),
        ]
    );
}

#[test]
fn close_frames() {
    let s = Role::Server;
    let seen = decode_all(s, &frame(s, true, OpCode::Close, &[0x03, 0xe8, b'o', b'k']));
    assert_eq!(seen, vec![Seen::Frame(Event::Close { code: Some(1000), reason: 2..4 }, vec![3, 0xe8, b'o', b'k'])]);
    let seen = decode_all(s, &frame(s, true, OpCode::Close, &[]));
    assert_eq!(seen, vec![Seen::Frame(Event::Close { code: None, reason: 0..0 }, vec![])]);
    for (payload, err, code) in [
        (&[0x03][..], CloseError::OneByte, 1002),
        (&[0x03, 0xed], CloseError::InvalidCode(1005), 1002),
        (&[0x03, 0xe8, 0xff], CloseError::InvalidReason, 1007),
    ] {
        let e = error_of(s, 100, &frame(s, true, OpCode::Close, payload));
        assert_eq!((e, e.close_code()), (ProtocolError::Close(err), code));
    }
}

#[test]
fn decoder_reports_the_pending_frame_length() {
    let s = Role::Server;
    let wire = frame(s, true, OpCode::Binary, &[7; 300]);
    let mut d = Decoder::new(s, 1 << 20);
    let mut part = wire[..20].to_vec();
    assert_eq!(d.decode(&mut part), Ok(None));
    assert_eq!(d.pending_frame_len(), Some(wire.len()));
}

/// One frame of a valid stream: (opcode, fin, payload).
fn valid_stream() -> impl Strategy<Value = Vec<(OpCode, bool, Vec<u8>)>> {
    let message = (
        any::<bool>(),
        prop::collection::vec(".{0,40}", 1..4),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..50)),
    );
    prop::collection::vec(message, 0..6).prop_map(|messages| {
        let mut frames = Vec::new();
        for (binary, parts, ping) in messages {
            let n = parts.len();
            for (i, part) in parts.into_iter().enumerate() {
                let opcode = match (i, binary) {
                    (0, true) => OpCode::Binary,
                    (0, false) => OpCode::Text,
                    _ => OpCode::Continuation,
                };
                frames.push((opcode, i + 1 == n, part.into_bytes()));
                if let (0, Some(p)) = (i, &ping) {
                    frames.push((OpCode::Ping, true, p[..p.len().min(125)].to_vec()));
                }
            }
        }
        frames.push((OpCode::Pong, true, b"end".to_vec()));
        frames
    })
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Server), Just(Role::Client)]
}

proptest! {
    #[test]
    fn same_events_whatever_the_split(
        role in role(),
        frames in valid_stream(),
        cuts in prop::collection::vec(0usize..2000, 0..12),
    ) {
        let wire: Vec<u8> = frames.iter().flat_map(|(op, fin, p)| frame(role, *fin, *op, p)).collect();
        let whole = decode_all(role, &wire);
        prop_assert_eq!(whole.len(), frames.len());
        prop_assert!(whole.iter().all(|s| matches!(s, Seen::Frame(..))));
        let split = decode_split(role, 1 << 20, &wire, &cuts);
        prop_assert_eq!(&whole, &split);
        let bytewise: Vec<usize> = (0..wire.len()).collect();
        prop_assert_eq!(&whole, &decode_split(role, 1 << 20, &wire, &bytewise));
    }

    #[test]
    fn no_panic_on_any_input(
        role in role(),
        max in 0usize..300,
        wire in prop::collection::vec(any::<u8>(), 0..300),
        cuts in prop::collection::vec(0usize..300, 0..6),
    ) {
        let _ = decode_split(role, max, &wire, &cuts);
        let _ = decode_split(role, usize::MAX, &wire, &cuts);
    }

    #[test]
    fn no_panic_on_mutated_valid_input(
        role in role(),
        frames in valid_stream(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut wire: Vec<u8> = frames.iter().flat_map(|(op, fin, p)| frame(role, *fin, *op, p)).collect();
        for (at, byte) in flips {
            let i = at.index(wire.len());
            wire[i] ^= byte;
        }
        let _ = decode_split(role, 1 << 16, &wire, &[3, 17, 100]);
    }

    #[test]
    fn encode_then_decode_round_trips(
        role in role(),
        opcode in prop::sample::select(OpCode::ALL.to_vec()),
        len in prop_oneof![0usize..=125, 126usize..=65535, 65536usize..70000],
        seed in any::<u8>(),
    ) {
        let fin = true;
        let len = if opcode.is_control() { len % 126 } else { len };
        let mut payload: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
        if opcode == OpCode::Text {
            payload.iter_mut().for_each(|b| *b &= 0x7f);
        }
        if opcode == OpCode::Close && !payload.is_empty() {
            payload = [&1000u16.to_be_bytes()[..], &vec![b'r'; len.saturating_sub(2)]].concat();
        }
        let mut wire = Vec::new();
        let mask = (role == Role::Server).then_some(KEY);
        write_frame(&mut wire, fin, opcode, &payload, mask);
        prop_assert_eq!(wire.len(), wsbench_proto::header_len(payload.len(), mask.is_some()) + payload.len());
        let h = wsbench_proto::parse_header(&wire, role).unwrap().unwrap();
        prop_assert_eq!((h.fin, h.opcode, h.payload_len, h.mask), (fin, opcode, payload.len() as u64, mask));
        let mut d = Decoder::new(role, 1 << 20);
        if opcode == OpCode::Continuation {
            // A continuation needs a message to continue.
            prop_assert_eq!(d.clone().decode(&mut wire.clone()), Err(ProtocolError::UnexpectedContinuation));
            let mut first = frame(role, false, OpCode::Binary, b"");
            let f = d.decode(&mut first).unwrap().unwrap();
            prop_assert_eq!(f.event, Event::Data { kind: MessageKind::Binary, first: true, fin: false });
        }
        let f = d.decode(&mut wire).unwrap().unwrap();
        prop_assert_eq!(f.len, wire.len());
        prop_assert_eq!(&wire[f.payload], &payload[..]);
    }
}
