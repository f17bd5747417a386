//! The server's one-pass echo of a pipelined batch (`Decoder::echo_whole`)
//! against the frame-by-frame path it replaces: the same bytes out and the
//! same error, whatever the input and however it is split.

use proptest::prelude::*;
use wsbench_proto::{write_frame, Decoder, EchoBudget, Event, Frame, MessageKind, OpCode, ProtocolError, Role};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
const MAX: usize = 1 << 20;
const ALL: EchoBudget = EchoBudget { messages: usize::MAX, bytes: usize::MAX };

/// A frame as a server receives it.
fn masked(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    write_frame(&mut out, fin, opcode, payload, Some(KEY));
    out
}

/// The server frame echoing a message.
fn echo_of(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    write_frame(&mut out, true, opcode, payload, None);
    out
}

/// What the server would send, and the other frames, in order. Echoes in
/// a row are joined, so that where one path batches and the other does not
/// makes no difference.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Out {
    Echoes(Vec<u8>),
    Other(Event, Vec<u8>),
    Error(ProtocolError),
}

fn push_echo(out: &mut Vec<Out>, bytes: &[u8]) {
    match out.last_mut() {
        _ if bytes.is_empty() => {}
        Some(Out::Echoes(run)) => run.extend_from_slice(bytes),
        _ => out.push(Out::Echoes(bytes.to_vec())),
    }
}

/// Handles a frame `decode` returned, as the server's echo does.
fn on_decoded(out: &mut Vec<Out>, input: &[u8], frame: Frame) {
    let payload = &input[frame.payload.clone()];
    match frame.event {
        Event::Data { kind, first: true, fin: true } => {
            let opcode = if kind == MessageKind::Text { OpCode::Text } else { OpCode::Binary };
            push_echo(out, &echo_of(opcode, payload));
        }
        Event::Close { code, reason } => {
            let reason = reason.start - frame.payload.start..reason.end - frame.payload.start;
            out.push(Out::Other(Event::Close { code, reason }, payload.to_vec()))
        }
        event => out.push(Out::Other(event, payload.to_vec())),
    }
}

/// Decodes one frame at `buf[start..]`; the next start, or `None` if it
/// needs more input or the stream ended in an error.
fn decode_one(decoder: &mut Decoder, out: &mut Vec<Out>, buf: &mut [u8], start: usize) -> Option<usize> {
    match decoder.decode(&mut buf[start..]) {
        Ok(Some(frame)) => {
            let next = start + frame.len;
            on_decoded(out, &buf[start..], frame);
            Some(next)
        }
        Ok(None) => None,
        Err(e) => {
            out.push(Out::Error(e));
            None
        }
    }
}

/// The frame-by-frame path, the whole input at once.
fn reference(wire: &[u8]) -> Vec<Out> {
    let mut decoder = Decoder::new(Role::Server, MAX);
    let mut buf = wire.to_vec();
    let (mut start, mut out) = (0, Vec::new());
    while let Some(next) = decode_one(&mut decoder, &mut out, &mut buf, start) {
        start = next;
    }
    out
}

/// The server's path: `echo_whole` for each run, `decode` for the frame it
/// stops at, the input arriving in pieces cut at `cuts`, with at most
/// `budget` a call.
fn batched(wire: &[u8], cuts: &[usize], budget: EchoBudget) -> Vec<Out> {
    let mut decoder = Decoder::new(Role::Server, MAX);
    let mut ends: Vec<usize> = cuts.iter().map(|&c| c.min(wire.len())).collect();
    ends.sort_unstable();
    ends.push(wire.len());
    // Nothing is drained: the buffer holds all the input read so far.
    let (mut buf, mut start, mut out) = (Vec::new(), 0, Vec::new());
    for end in ends {
        if end > buf.len() {
            buf.extend_from_slice(&wire[buf.len()..end]);
        }
        loop {
            let run = decoder.echo_whole(&mut buf, start, start, budget);
            push_echo(&mut out, &buf[start..run.written_to]);
            if let Some(e) = run.error {
                out.push(Out::Error(e));
                return out;
            }
            start = run.read_to;
            if run.messages > 0 {
                continue;
            }
            match decode_one(&mut decoder, &mut out, &mut buf, start) {
                Some(next) => start = next,
                None if matches!(out.last(), Some(Out::Error(_))) => return out,
                None => break,
            }
        }
    }
    out
}

#[test]
fn a_run_of_messages_becomes_one_range_of_their_echoes() {
    let payloads: Vec<(OpCode, Vec<u8>)> = [0usize, 1, 5, 125, 126, 300, 65535]
        .iter()
        .enumerate()
        .map(|(i, &len)| {
            let opcode = if i % 2 == 0 { OpCode::Text } else { OpCode::Binary };
            (opcode, "κx".bytes().cycle().take(len - len % 3).collect())
        })
        .collect();
    let mut buf: Vec<u8> = payloads.iter().flat_map(|(op, p)| masked(true, *op, p)).collect();
    let want: Vec<u8> = payloads.iter().flat_map(|(op, p)| echo_of(*op, p)).collect();
    let (at, to) = (0, 0);
    let run = Decoder::new(Role::Server, MAX).echo_whole(&mut buf, at, to, ALL);
    assert_eq!((run.messages, run.read_to, run.error), (payloads.len(), buf.len(), None));
    assert_eq!(&buf[to..run.written_to], &want[..]);
    let last = &payloads.last().unwrap().1;
    assert_eq!(&buf[run.last_payload.unwrap()], &last[..]);
}

#[test]
fn it_writes_after_earlier_echoes_and_leaves_what_is_before_them() {
    let mut buf = vec![9u8; 50];
    buf.extend(masked(true, OpCode::Binary, b"abc"));
    let run = Decoder::new(Role::Server, MAX).echo_whole(&mut buf, 50, 20, ALL);
    assert_eq!(&buf[20..run.written_to], &echo_of(OpCode::Binary, b"abc")[..]);
    assert!(buf[..20].iter().all(|&b| b == 9));
}

/// A masked frame with its length in the 16-bit form, whatever its size.
fn sixteen_bit_form(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x80 | opcode, 0x80 | 126];
    frame.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    frame.extend_from_slice(&KEY);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
    frame
}

#[test]
fn it_stops_at_each_frame_decode_must_take() {
    let whole = masked(true, OpCode::Text, b"whole");
    let with_rsv = |bit: u8| [&[0x81 | bit][..], &masked(true, OpCode::Text, b"r")[1..]].concat();
    // (what, the frame, the size limit)
    let cases: Vec<(&str, Vec<u8>, usize)> = vec![
        ("ping", masked(true, OpCode::Ping, b"p"), MAX),
        ("first fragment", masked(false, OpCode::Text, b"f"), MAX),
        ("continuation", masked(true, OpCode::Continuation, b"c"), MAX),
        ("close", masked(true, OpCode::Close, &1000u16.to_be_bytes()), MAX),
        ("incomplete", whole[..whole.len() - 1].to_vec(), MAX),
        ("header only", whole[..1].to_vec(), MAX),
        ("8-byte length", masked(true, OpCode::Binary, &vec![1; 65536]), MAX),
        ("16-bit length for 5 bytes", sixteen_bit_form(2, b"hello"), MAX),
        ("16-bit length for 125 bytes", sixteen_bit_form(2, &[b'x'; 125]), MAX),
        ("unmasked", echo_of(OpCode::Text, b"u"), MAX),
        ("RSV1", with_rsv(0x40), MAX),
        ("RSV2", with_rsv(0x20), MAX),
        ("RSV3", with_rsv(0x10), MAX),
        ("over the size limit", masked(true, OpCode::Binary, &[0; 11]), 10),
    ];
    for (name, stop, max) in cases {
        let first = masked(true, OpCode::Text, b"ok");
        let mut buf = [first.clone(), stop.clone()].concat();
        let run = Decoder::new(Role::Server, max).echo_whole(&mut buf, 0, 0, ALL);
        assert_eq!((run.messages, run.read_to, run.error), (1, first.len(), None), "{name}");
        assert_eq!(&buf[first.len()..], &stop[..], "{name}: the frame it stopped at is untouched");
    }
    // 126 bytes in the 16-bit form is the shortest form: echoed as it is.
    let mut buf = sixteen_bit_form(2, &[b'y'; 126]);
    let run = Decoder::new(Role::Server, MAX).echo_whole(&mut buf, 0, 0, ALL);
    assert_eq!(&buf[..run.written_to], &echo_of(OpCode::Binary, &[b'y'; 126])[..]);
}

#[test]
fn a_frame_whose_header_came_first_is_echoed_once_whole_and_the_decoder_is_between_frames() {
    let frame = masked(true, OpCode::Binary, &[5; 40]);
    let mut decoder = Decoder::new(Role::Server, MAX);
    let mut head = frame[..6].to_vec();
    assert_eq!(decoder.decode(&mut head), Ok(None));
    assert_eq!(decoder.pending_frame_len(), Some(frame.len()));
    let mut buf = [frame.clone(), masked(true, OpCode::Text, b"next")].concat();
    let run = decoder.echo_whole(&mut buf, 0, 0, ALL);
    assert_eq!(run.messages, 2);
    assert_eq!(decoder.pending_frame_len(), None);
    assert!(!decoder.in_message());
    // And the decoder goes on from there.
    let mut ping = masked(true, OpCode::Ping, b"p");
    assert_eq!(decoder.decode(&mut ping).unwrap().unwrap().event, Event::Ping);
}

#[test]
fn bad_text_after_a_run_is_the_error_decode_would_give() {
    for (bad, error) in
        [(&b"a\xc0\xafb"[..], ProtocolError::InvalidUtf8), (b"ab\xe2\x82", ProtocolError::TruncatedUtf8)]
    {
        let good = masked(true, OpCode::Text, b"fine");
        let mut buf = [good.clone(), good.clone(), masked(true, OpCode::Text, bad)].concat();
        let run = Decoder::new(Role::Server, MAX).echo_whole(&mut buf, 0, 0, ALL);
        assert_eq!((run.messages, run.error), (2, Some(error)));
        assert_eq!(
            &buf[..run.written_to],
            &[echo_of(OpCode::Text, b"fine"), echo_of(OpCode::Text, b"fine")].concat()[..]
        );
        // The same bytes are fine as binary.
        let mut buf = masked(true, OpCode::Binary, bad);
        assert_eq!(Decoder::new(Role::Server, MAX).echo_whole(&mut buf, 0, 0, ALL).error, None);
    }
}

#[test]
fn it_keeps_to_its_budget() {
    let one = masked(true, OpCode::Binary, &[7; 32]);
    let wire: Vec<u8> = one.iter().copied().cycle().take(one.len() * 10).collect();
    let echo_len = one.len() - 4;
    let run = Decoder::new(Role::Server, MAX).echo_whole(
        &mut wire.clone(),
        0,
        0,
        EchoBudget { messages: 3, bytes: usize::MAX },
    );
    assert_eq!((run.messages, run.written_to), (3, 3 * echo_len));
    let bytes = EchoBudget { messages: usize::MAX, bytes: 2 * echo_len + 1 };
    let run = Decoder::new(Role::Server, MAX).echo_whole(&mut wire.clone(), 0, 0, bytes);
    assert_eq!(run.messages, 3, "stops once past the byte budget");
}

#[test]
fn it_leaves_fragmented_messages_clients_and_deflate_to_decode() {
    let mut decoder = Decoder::new(Role::Server, MAX);
    let mut first = masked(false, OpCode::Text, b"part");
    decoder.decode(&mut first).unwrap().unwrap();
    let mut buf = masked(true, OpCode::Text, b"x");
    assert_eq!(decoder.echo_whole(&mut buf, 0, 0, ALL).messages, 0, "inside a fragmented message");
    let mut buf = echo_of(OpCode::Text, b"x");
    assert_eq!(Decoder::new(Role::Client, MAX).echo_whole(&mut buf, 0, 0, ALL).messages, 0, "a client");
    let mut buf = masked(true, OpCode::Text, b"x");
    assert_eq!(Decoder::new(Role::Server, MAX).with_deflate().echo_whole(&mut buf, 0, 0, ALL).messages, 0);
}

/// A stream mostly of small single-frame messages, some of 16-bit length,
/// with pings, fragmented messages and text that may be invalid between.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let item = prop_oneof![
        6 => (any::<bool>(), prop::collection::vec(any::<u8>(), 0..40)).prop_map(|(text, p)| {
            if text { masked(true, OpCode::Text, String::from_utf8_lossy(&p).as_bytes()) } else { masked(true, OpCode::Binary, &p) }
        }),
        1 => (126usize..400, any::<u8>()).prop_map(|(n, b)| masked(true, OpCode::Binary, &vec![b; n])),
        1 => prop::collection::vec(any::<u8>(), 0..8).prop_map(|p| masked(true, OpCode::Text, &p)),
        1 => prop::collection::vec(any::<u8>(), 0..20).prop_map(|p| masked(true, OpCode::Ping, &p)),
        1 => Just([masked(false, OpCode::Text, b"fr"), masked(true, OpCode::Continuation, b"ag")].concat()),
    ];
    prop::collection::vec(item, 0..24).prop_map(|items| items.concat())
}

proptest! {
    #[test]
    fn same_output_and_error_as_frame_by_frame(
        wire in stream(),
        cuts in prop::collection::vec(0usize..3000, 0..8),
        messages in 1usize..6,
    ) {
        let want = reference(&wire);
        prop_assert_eq!(&batched(&wire, &[], ALL), &want);
        prop_assert_eq!(&batched(&wire, &cuts, EchoBudget { messages, bytes: usize::MAX }), &want);
    }

    #[test]
    fn same_output_on_mutated_input(
        wire in stream(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cuts in prop::collection::vec(0usize..3000, 0..4),
    ) {
        let mut wire = wire;
        for (at, byte) in flips {
            if !wire.is_empty() {
                let i = at.index(wire.len());
                wire[i] ^= byte;
            }
        }
        prop_assert_eq!(batched(&wire, &cuts, ALL), reference(&wire));
    }
}
