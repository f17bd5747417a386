use proptest::prelude::*;

use super::*;

const SMALL: ServerPolicy = ServerPolicy { context_takeover: false };
const TAKEOVER: ServerPolicy = ServerPolicy { context_takeover: true };

fn server(offers: &[&str], policy: ServerPolicy) -> Option<String> {
    negotiate_server(offers.iter().copied(), policy).map(|(response, _)| response.to_string())
}

#[test]
fn the_server_accepts_the_first_acceptable_offer() {
    // RFC 7692 §5.1's example: the first offer has an unknown parameter.
    let offers = ["permessage-deflate; foo=bar, permessage-deflate; client_max_window_bits"];
    assert_eq!(server(&offers, TAKEOVER).as_deref(), Some("permessage-deflate"));
    // Every parameter of §7, with and without values, quoted or not.
    let offers =
        [r#"permessage-deflate; server_no_context_takeover; server_max_window_bits="10"; client_max_window_bits=9"#];
    let (response, agreed) = negotiate_server(offers, TAKEOVER).unwrap();
    assert_eq!(response.to_string(), "permessage-deflate; server_no_context_takeover; server_max_window_bits=10");
    assert_eq!(
        agreed,
        Agreement { send_window_bits: 10, send_no_context_takeover: true, receive_no_context_takeover: false }
    );
    // Other extensions are skipped; offers may span header lines.
    assert_eq!(
        server(&["x-webkit-deflate-frame", "permessage-deflate"], TAKEOVER).as_deref(),
        Some("permessage-deflate")
    );
}

#[test]
fn by_default_neither_end_keeps_a_context() {
    let (response, agreed) = negotiate_server(["permessage-deflate; client_max_window_bits"], SMALL).unwrap();
    assert_eq!(response.to_string(), "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    assert!(agreed.send_no_context_takeover && agreed.receive_no_context_takeover);
}

#[test]
fn bad_offers_are_declined() {
    for offer in [
        "permessage-deflate; foo",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=09",
        "permessage-deflate; client_max_window_bits=abc",
        "permessage-deflate; client_max_window_bits=8; client_max_window_bits=9",
        "permessage-deflate; =1",
        "deflate-frame",
        "",
    ] {
        assert_eq!(server(&[offer], TAKEOVER), None, "{offer:?}");
    }
}

#[test]
fn an_eight_bit_server_window_is_honoured_by_not_compressing() {
    let (response, agreed) = negotiate_server(["permessage-deflate; server_max_window_bits=8"], TAKEOVER).unwrap();
    assert_eq!(response.server_max_window_bits, Some(8));
    assert!(!Compressor::new(agreed.send_window_bits, false).compresses());
}

#[test]
fn the_client_checks_the_response() {
    let offer = DeflateParams { client_max_window_bits: Some(None), ..Default::default() };
    let ok = accept_response(&offer, ["permessage-deflate; client_max_window_bits=10; server_no_context_takeover"]);
    let (_, agreed) = ok.unwrap().unwrap();
    assert_eq!(
        agreed,
        Agreement { send_window_bits: 10, send_no_context_takeover: false, receive_no_context_takeover: true }
    );
    assert_eq!(accept_response(&offer, []), Ok(None), "declined");
    assert!(accept_response(&offer, ["permessage-deflate; foo"]).is_err());
    assert!(accept_response(&offer, ["permessage-deflate, permessage-deflate"]).is_err());
    assert!(accept_response(&offer, ["x-other"]).is_err());
    let bare = DeflateParams::default();
    assert!(accept_response(&bare, ["permessage-deflate; client_max_window_bits=10"]).is_err(), "not offered");
}

fn round_trip(compressor: &mut Compressor, decompressor: &mut Decompressor, message: &[u8], parts: usize) {
    let mut wire = Vec::new();
    let mut frames = Vec::new();
    let chunk = message.len().div_ceil(parts.max(1)).max(1);
    let pieces: Vec<&[u8]> = if message.is_empty() { vec![&[]] } else { message.chunks(chunk).collect() };
    for (i, piece) in pieces.iter().enumerate() {
        let start = wire.len();
        assert!(compressor.compress(piece, i + 1 == pieces.len(), &mut wire));
        frames.push(start..wire.len());
    }
    let mut out = Vec::new();
    for (i, frame) in frames.iter().enumerate() {
        decompressor.decompress(&wire[frame.clone()], i + 1 == frames.len(), &mut out, 1 << 20).unwrap();
    }
    assert_eq!(out, message);
}

#[test]
fn messages_round_trip_with_and_without_context_takeover() {
    let json = br#"{"type":"text","length":5,"seq":1,"message":"hello"}"#.repeat(40);
    for takeover in [false, true] {
        for bits in [9, 12, 15] {
            let mut c = Compressor::new(bits, !takeover);
            let mut d = Decompressor::new(!takeover);
            for _ in 0..3 {
                round_trip(&mut c, &mut d, &json, 1);
                round_trip(&mut c, &mut d, &json, 7);
                round_trip(&mut c, &mut d, b"", 1);
                round_trip(&mut c, &mut d, b"x", 1);
            }
        }
    }
    let mut c = Compressor::new(15, true);
    let mut wire = Vec::new();
    c.compress(&json, true, &mut wire);
    assert!(wire.len() < json.len() / 10, "compressible JSON compresses: {} of {}", wire.len(), json.len());
}

#[test]
fn rfc_7692_example_inflates() {
    // §7.2.3.1: "Hello" compressed.
    let mut d = Decompressor::new(false);
    let mut out = Vec::new();
    d.decompress(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], true, &mut out, 100).unwrap();
    assert_eq!(out, b"Hello");
    // §7.2.3.3: stored block, no compression.
    out.clear();
    d.decompress(&[0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00], true, &mut out, 100).unwrap();
    assert_eq!(out, b"Hello");
}

#[test]
fn a_zip_bomb_stops_at_the_limit() {
    let bomb_plain = vec![0u8; 8 << 20];
    let mut c = Compressor::new(15, true);
    let mut wire = Vec::new();
    c.compress(&bomb_plain, true, &mut wire);
    assert!(wire.len() < 16 << 10, "8 MiB of zeros deflate to {} bytes", wire.len());
    let mut d = Decompressor::new(true);
    let mut out = Vec::new();
    let limit = 1 << 20;
    assert_eq!(d.decompress(&wire, true, &mut out, limit), Err(InflateError::TooBig));
    assert!(out.capacity() <= limit, "never allocated past the limit: {}", out.capacity());
    // Exactly at the limit is fine.
    let mut d = Decompressor::new(true);
    let mut c = Compressor::new(15, true);
    let (mut wire, mut out) = (Vec::new(), Vec::new());
    c.compress(&bomb_plain[..limit], true, &mut wire);
    d.decompress(&wire, true, &mut out, limit).unwrap();
    assert_eq!(out.len(), limit);
}

#[test]
fn garbage_is_refused() {
    let mut d = Decompressor::new(true);
    let mut out = Vec::new();
    assert_eq!(d.decompress(&[0xff; 32], true, &mut out, 1 << 20), Err(InflateError::Corrupt));
}

proptest! {
    #[test]
    fn any_message_round_trips(
        messages in proptest::collection::vec(proptest::collection::vec(0u8..4, 0..3000), 1..4),
        parts in 1usize..5,
        takeover in any::<bool>(),
        bits in 9u8..=15,
    ) {
        let mut c = Compressor::new(bits, !takeover);
        let mut d = Decompressor::new(!takeover);
        for message in &messages {
            round_trip(&mut c, &mut d, message, parts);
        }
    }
}

#[test]
fn rsv1_only_on_a_compressed_message_first_frame() {
    use crate::{Decoder, HeaderError, OpCode, ProtocolError, Role};
    let key = Some([1, 2, 3, 4]);
    let frame = |fin: bool, opcode: OpCode, rsv1: bool| {
        let mut wire = Vec::new();
        crate::write_frame(&mut wire, fin, opcode, b"\xff\xfe", key);
        if rsv1 {
            wire[0] |= 0x40;
        }
        wire
    };
    let rsv = Err(ProtocolError::Header(HeaderError::ReservedBits));
    // Not negotiated: refused.
    assert_eq!(Decoder::new(Role::Server, 100).decode(&mut frame(true, OpCode::Text, true)), rsv);
    // Negotiated: a first frame may carry it, and its bytes (not UTF-8)
    // are the inflater's to check.
    let mut d = Decoder::new(Role::Server, 100).with_deflate();
    assert!(d.decode(&mut frame(false, OpCode::Text, true)).unwrap().is_some());
    assert!(d.compressed());
    assert_eq!(d.decode(&mut frame(true, OpCode::Continuation, true)), rsv, "continuation");
    let mut d = Decoder::new(Role::Server, 100).with_deflate();
    assert_eq!(d.decode(&mut frame(true, OpCode::Ping, true)), rsv, "control");
    let mut d = Decoder::new(Role::Server, 100).with_deflate();
    assert_eq!(d.decode(&mut frame(true, OpCode::Text, false)), Err(ProtocolError::InvalidUtf8), "plain text checked");
    assert!(!d.compressed());
}

/// `message` as a sender flushing with Z_FINISH writes it (RFC 7692
/// 7.2.3.5 allows it): a final block, nothing after it.
fn finished(message: &[u8]) -> Vec<u8> {
    let mut c = flate2::Compress::new(flate2::Compression::default(), false);
    let mut wire = Vec::with_capacity(message.len() + 64);
    let status = c.compress_vec(message, &mut wire, flate2::FlushCompress::Finish).unwrap();
    assert_eq!(status, flate2::Status::StreamEnd);
    wire
}

#[test]
fn messages_ending_in_a_final_block_inflate_one_after_another() {
    // With context takeover the decompressor is not reset between
    // messages: the tail once put back after a final block started a
    // stored block, and the next message did not inflate.
    for takeover in [true, false] {
        let mut d = Decompressor::new(!takeover);
        for text in [&b"Hello"[..], b"second message", b"third, a little longer, message"] {
            let mut out = Vec::new();
            d.decompress(&finished(text), true, &mut out, 1 << 10).unwrap();
            assert_eq!(out, text, "takeover {takeover}");
        }
    }
}

#[test]
fn a_shared_decompressor_serves_on_after_a_bad_message() {
    // Without context takeover one decompressor serves every connection
    // of a thread: a peer's garbage or bomb must not fail the next
    // connection's good message.
    let mut shared = Decompressor::new(true);
    let mut c = Compressor::new(15, true);
    let mut good = Vec::new();
    c.compress(b"a good message", true, &mut good);
    let mut bomb = Vec::new();
    c.compress(&vec![0u8; 1 << 20], true, &mut bomb);
    for bad in [vec![0xff; 32], bomb] {
        let mut out = Vec::new();
        assert!(shared.decompress(&bad, true, &mut out, 1 << 10).is_err());
        let mut out = Vec::new();
        shared.decompress(&good, true, &mut out, 1 << 10).unwrap();
        assert_eq!(out, b"a good message");
    }
}
