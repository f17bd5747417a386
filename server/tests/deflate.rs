//! `--deflate` (RFC 7692) against a client written here, independently of
//! the server's codec: its own offer and framing, flate2's raw DEFLATE
//! directly (the full, independent check is Autobahn 12.* and 13.*,
//! `scripts/autobahn.sh --deflate`, whose client is Python's zlib).

mod common;

use common::{client_frame, read_frame_head_byte, start, upgrade_request, TIMEOUT};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsbench_proto::deflate::ServerPolicy;
use wsbench_server::Config;

const TAIL: [u8; 4] = [0, 0, 0xff, 0xff];

fn deflate_config(context_takeover: bool, max_message_size: usize) -> Config {
    Config { deflate: Some(ServerPolicy { context_takeover }), max_message_size, ..Config::default() }
}

/// Upgrades with `offer` (if any); returns the stream and the response head.
async fn upgrade(addr: std::net::SocketAddr, query: &str, offer: Option<&str>) -> (TcpStream, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let extra = offer.map(|o| format!("Sec-WebSocket-Extensions: {o}\r\n")).unwrap_or_default();
    s.write_all(upgrade_request(&format!("/upgradews{query}"), &extra).as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tokio::time::timeout(TIMEOUT, s.read_exact(&mut byte)).await.expect("response in time").unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    (s, head)
}

fn extensions(head: &str) -> Option<String> {
    head.lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("sec-websocket-extensions:").map(|v| v.trim().to_string()))
}

/// Raw DEFLATE with a sync flush, the tail stripped (RFC 7692 §7.2.1).
fn compress(data: &[u8]) -> Vec<u8> {
    let mut c = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(data.len() + 64);
    c.compress_vec(data, &mut out, FlushCompress::Sync).unwrap();
    assert!(out.ends_with(&TAIL));
    out.truncate(out.len() - 4);
    out
}

fn inflate(data: &[u8]) -> Vec<u8> {
    let mut d = Decompress::new(false);
    let mut input = data.to_vec();
    input.extend_from_slice(&TAIL);
    let mut out = Vec::with_capacity(1 << 20);
    d.decompress_vec(&input, &mut out, FlushDecompress::Sync).unwrap();
    out
}

/// A server frame: (first byte, payload).
async fn read_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let (first, frame) = read_frame_head_byte(s).await.expect("a frame before EOF");
    (first, frame.payload)
}

/// Reads one whole message: RSV1 on its first frame only, inflated.
async fn read_message(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let (b0, mut wire) = read_frame(s).await;
    assert_eq!(b0 & 0x40, 0x40, "a compressed reply: RSV1 on the first frame");
    let mut fin = b0 & 0x80 != 0;
    while !fin {
        let (b, part) = read_frame(s).await;
        assert_eq!(b & 0x70, 0, "RSV bits on a continuation frame");
        assert_eq!(b & 0x0f, 0, "a continuation frame");
        wire.extend_from_slice(&part);
        fin = b & 0x80 != 0;
    }
    (b0 & 0x0f, inflate(&wire))
}

async fn close_code(s: &mut TcpStream) -> u16 {
    loop {
        let (b0, payload) = read_frame(s).await;
        if b0 & 0x0f == 8 {
            return u16::from_be_bytes([payload[0], payload[1]]);
        }
    }
}

#[tokio::test]
async fn negotiates_and_compresses_every_mode() {
    let server = start(deflate_config(false, 1 << 20)).await;
    let message = "hello, compressible world; ".repeat(40);
    for (query, expected) in [
        ("?mode=echo", message.clone()),
        ("?mode=reply", format!("接收到消息：{message}，我做出回复")),
        ("?mode=stream&chunk=100", format!("接收到消息：{message}，我做出回复")),
    ] {
        let (mut s, head) =
            upgrade(server.local_addr(), query, Some("permessage-deflate; client_max_window_bits")).await;
        assert_eq!(
            extensions(&head).as_deref(),
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
            "{head}"
        );
        for _ in 0..2 {
            s.write_all(&client_frame(0x80 | 0x40 | 1, &compress(message.as_bytes()))).await.unwrap();
            let (opcode, reply) = read_message(&mut s).await;
            assert_eq!((opcode, String::from_utf8(reply).unwrap()), (1, expected.clone()), "{query}");
        }
        // An uncompressed message on the same connection is fine too (§6).
        s.write_all(&client_frame(0x81, message.as_bytes())).await.unwrap();
        assert_eq!(read_message(&mut s).await.1, expected.as_bytes(), "{query}");
    }
    // json: its reply describes the inflated message.
    let (mut s, _) = upgrade(server.local_addr(), "?mode=json", Some("permessage-deflate")).await;
    s.write_all(&client_frame(0x80 | 0x40 | 2, &compress(b"abc"))).await.unwrap();
    let reply = String::from_utf8(read_message(&mut s).await.1).unwrap();
    assert!(reply.contains(r#""length":3"#) && reply.contains(r#""message":"YWJj""#), "{reply}");
}

#[tokio::test]
async fn context_takeover_when_asked() {
    let server = start(deflate_config(true, 1 << 20)).await;
    let (_, head) =
        upgrade(server.local_addr(), "?mode=echo", Some("permessage-deflate; client_max_window_bits")).await;
    assert_eq!(extensions(&head).as_deref(), Some("permessage-deflate"), "{head}");
    let (_, head) =
        upgrade(server.local_addr(), "?mode=echo", Some("permessage-deflate; server_max_window_bits=10")).await;
    assert_eq!(extensions(&head).as_deref(), Some("permessage-deflate; server_max_window_bits=10"), "{head}");
}

#[tokio::test]
async fn bad_offers_are_declined_and_the_next_one_taken() {
    let server = start(deflate_config(false, 1 << 20)).await;
    for bad in ["permessage-deflate; foo=1", "permessage-deflate; server_max_window_bits=16", "x-unknown"] {
        let (_, head) = upgrade(server.local_addr(), "", Some(bad)).await;
        assert_eq!(extensions(&head), None, "{bad}: {head}");
    }
    let (_, head) =
        upgrade(server.local_addr(), "", Some("permessage-deflate; client_no_context_takeover=x, permessage-deflate"))
            .await;
    assert!(extensions(&head).is_some(), "the second offer is taken: {head}");
}

#[tokio::test]
async fn rsv1_is_a_protocol_error_unless_negotiated() {
    // A server without --deflate.
    let plain = start(Config::default()).await;
    let (mut s, head) = upgrade(plain.local_addr(), "?mode=echo", Some("permessage-deflate")).await;
    assert_eq!(extensions(&head), None, "declined without --deflate");
    s.write_all(&client_frame(0xc1, &compress(b"hi"))).await.unwrap();
    assert_eq!(close_code(&mut s).await, 1002);
    // Negotiated, but on a continuation frame, and on a control frame.
    let server = start(deflate_config(false, 1 << 20)).await;
    let (mut s, _) = upgrade(server.local_addr(), "?mode=echo", Some("permessage-deflate")).await;
    s.write_all(&client_frame(0x41, &compress(b"hi"))).await.unwrap();
    s.write_all(&client_frame(0x80 | 0x40, b"")).await.unwrap();
    assert_eq!(close_code(&mut s).await, 1002);
    let (mut s, _) = upgrade(server.local_addr(), "?mode=echo", Some("permessage-deflate")).await;
    s.write_all(&client_frame(0x80 | 0x40 | 9, b"")).await.unwrap();
    assert_eq!(close_code(&mut s).await, 1002);
}

#[tokio::test]
async fn a_zip_bomb_is_refused_with_1009_and_garbage_with_1007() {
    let server = start(deflate_config(false, 64 << 10)).await;
    let (mut s, _) = upgrade(server.local_addr(), "?mode=echo", Some("permessage-deflate")).await;
    let bomb = compress(&vec![b'a'; 8 << 20]);
    assert!(bomb.len() < 64 << 10, "the bomb itself is within the limit: {} bytes", bomb.len());
    s.write_all(&client_frame(0x80 | 0x40 | 2, &bomb)).await.unwrap();
    assert_eq!(close_code(&mut s).await, 1009);
    let (mut s, _) = upgrade(server.local_addr(), "?mode=echo", Some("permessage-deflate")).await;
    s.write_all(&client_frame(0x80 | 0x40 | 2, &[0xff; 16])).await.unwrap();
    assert_eq!(close_code(&mut s).await, 1007);
    let (mut s, _) = upgrade(server.local_addr(), "?mode=echo", Some("permessage-deflate")).await;
    s.write_all(&client_frame(0x80 | 0x40 | 1, &compress(&[0xc3, 0x28]))).await.unwrap();
    assert_eq!(close_code(&mut s).await, 1007, "inflated text that is not UTF-8");
}

#[tokio::test]
async fn broadcast_connections_decline_deflate() {
    // One frame, encoded once, goes to every member: it cannot be each
    // member's compressed stream, so a broadcast connection never agrees.
    let server = start(deflate_config(false, 1 << 20)).await;
    let (_, head) = upgrade(server.local_addr(), "?mode=broadcast&topic=t", Some("permessage-deflate")).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(extensions(&head), None, "{head}");
    let (_, head) = upgrade(server.local_addr(), "?mode=echo", Some("permessage-deflate")).await;
    assert!(extensions(&head).is_some(), "other modes still agree: {head}");
}

/// The memory budget bounds an inflated message as it bounds any buffer:
/// a 16 MiB bomb (about 16 KB on the wire, within --max-message-size) under
/// an 8 MiB budget gets 1013, as the same message sent uncompressed does.
/// It was inflated and answered, the budget never charged (107 MiB of RSS
/// for four of them against 8 MiB).
#[tokio::test]
async fn a_bomb_past_the_memory_budget_gets_1013() {
    let config = Config { max_memory: 8 << 20, ..deflate_config(false, 16 << 20) };
    let server = start(config).await;
    let (mut s, _) = upgrade(server.local_addr(), "?mode=echo", Some("permessage-deflate")).await;
    let bomb = compress(&vec![b'a'; (16 << 20) - 1]);
    s.write_all(&client_frame(0x80 | 0x40 | 2, &bomb)).await.unwrap();
    assert_eq!(close_code(&mut s).await, 1013);
    let m = server.metrics().snapshot();
    assert_eq!(m.memory_refusals, 1, "{m:?}");
    // Within the budget, a compressed message is still answered.
    let (mut s, _) = upgrade(server.local_addr(), "?mode=echo", Some("permessage-deflate")).await;
    let message = vec![b'b'; 1 << 20];
    s.write_all(&client_frame(0x80 | 0x40 | 2, &compress(&message))).await.unwrap();
    let (opcode, reply) = read_message(&mut s).await;
    assert_eq!((opcode, reply.len()), (2, message.len()));
    assert!(reply == message, "the reply differs from the message");
}

/// The inflate's room is taken from the budget while it runs (so that
/// threads inflating at once cannot each take the same room), but it is
/// no memory: it must not show in the budget's high-water mark, which
/// decides heap trims (a trim a second under deflate load, else).
#[tokio::test]
async fn the_inflate_s_reservation_is_not_memory() {
    let config = Config { max_memory: 64 << 20, ..deflate_config(false, 16 << 20) };
    let server = start(config).await;
    let (mut s, _) = upgrade(server.local_addr(), "?mode=echo", Some("permessage-deflate")).await;
    server.metrics().take_memory_peak();
    let message = vec![b'c'; 1000];
    s.write_all(&client_frame(0x80 | 0x40 | 2, &compress(&message))).await.unwrap();
    let (_, reply) = read_message(&mut s).await;
    assert_eq!(reply, message);
    let peak = server.metrics().take_memory_peak();
    assert!(peak < 1 << 20, "a 1 KB message, not its 16 MiB room: peak {peak}");
    assert!(server.metrics().memory_held() < 1 << 20);
}
