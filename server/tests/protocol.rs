//! RFC 6455 failures, each triggered by raw bytes on a plain TcpStream and
//! answered with the right close code, then the TCP connection shut down.

mod common;

use common::*;
use tokio::io::AsyncWriteExt;
use wsbench_server::Config;

async fn close_code_after(wire: &[u8]) -> Option<u16> {
    let server = start_default().await;
    let mut s = raw_ws(server.local_addr(), "?mode=echo").await;
    s.write_all(wire).await.unwrap();
    let close = expect_close(&mut s).await;
    drop(s);
    server.shutdown().await;
    close.close_code()
}

#[tokio::test]
async fn protocol_errors_close_with_1002() {
    let unmasked = [0x81, 0x02, b'h', b'i'];
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("unmasked frame", unmasked.to_vec()),
        ("reserved bits", client_frame(0xc1, b"hi")),
        ("unknown opcode", client_frame(0x83, b"hi")),
        ("fragmented ping", client_frame(0x09, b"hi")),
        ("oversized ping", client_frame(0x89, &[0; 126])),
        ("continuation without start", client_frame(0x80, b"hi")),
        ("new message inside a fragmented one", [client_frame(0x01, b"a"), client_frame(0x81, b"b")].concat()),
        ("invalid close code", client_frame(0x88, &1005u16.to_be_bytes())),
        ("close code 1012", client_frame(0x88, &1012u16.to_be_bytes())),
        ("one-byte close payload", client_frame(0x88, &[3])),
    ];
    for (what, wire) in cases {
        assert_eq!(close_code_after(&wire).await, Some(1002), "{what}");
    }
}

#[tokio::test]
async fn invalid_utf8_closes_with_1007() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("invalid byte", client_frame(0x81, b"ok\xff")),
        ("surrogate", client_frame(0x81, b"\xed\xa0\x80")),
        ("truncated at the end", client_frame(0x81, "😀".as_bytes()[..3].as_ref())),
        // Split inside a code point across fragments, invalid only as a whole.
        ("split across fragments", [client_frame(0x01, b"\xf4"), client_frame(0x80, b"\x90\x80\x80")].concat()),
        ("close reason", client_frame(0x88, b"\x03\xe8\xff")),
    ];
    for (what, wire) in cases {
        assert_eq!(close_code_after(&wire).await, Some(1007), "{what}");
    }
}

#[tokio::test]
async fn invalid_utf8_fails_before_the_frame_is_complete() {
    let server = start_default().await;
    let mut s = raw_ws(server.local_addr(), "?mode=echo").await;
    // A 100-byte text frame of which only the first, invalid, bytes are sent.
    let frame = client_frame(0x81, &[b'\xff'; 100]);
    s.write_all(&frame[..10]).await.unwrap();
    assert_eq!(expect_close(&mut s).await.close_code(), Some(1007));
    server.shutdown().await;
}

#[tokio::test]
async fn oversized_messages_close_with_1009_before_being_buffered() {
    let server = start(Config { max_message_size: 1000, ..Config::default() }).await;
    // Only the header of a 1 GiB frame: the server must not wait for it.
    let mut s = raw_ws(server.local_addr(), "?mode=echo").await;
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(1u64 << 30).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    s.write_all(&header).await.unwrap();
    assert_eq!(expect_close(&mut s).await.close_code(), Some(1009));

    // Across fragments: 600 + 600 > 1000, known at the second header.
    let mut s = raw_ws(server.local_addr(), "?mode=echo").await;
    s.write_all(&client_frame(0x02, &[0; 600])).await.unwrap();
    s.write_all(&client_frame(0x80, &[0; 600])[..14]).await.unwrap();
    assert_eq!(expect_close(&mut s).await.close_code(), Some(1009));

    // Exactly the limit is fine.
    let mut s = raw_ws(server.local_addr(), "?mode=echo").await;
    s.write_all(&client_frame(0x82, &[9; 1000])).await.unwrap();
    assert_eq!(read_frame(&mut s).await.unwrap().payload.len(), 1000);
    server.shutdown().await;
}

#[tokio::test]
async fn replies_before_an_error_are_sent_before_the_close() {
    let server = start_default().await;
    let mut s = raw_ws(server.local_addr(), "?mode=echo").await;
    let wire = [client_frame(0x81, b"first"), client_frame(0xc1, b"bad"), client_frame(0x89, b"no pong")].concat();
    s.write_all(&wire).await.unwrap();
    let echo = read_frame(&mut s).await.unwrap();
    assert_eq!((echo.opcode, echo.payload.as_slice()), (1, &b"first"[..]));
    assert_eq!(expect_close(&mut s).await.close_code(), Some(1002), "and no pong after the error");
    server.shutdown().await;
}

#[tokio::test]
async fn a_pipelined_batch_of_every_kind_of_frame_is_answered_in_order() {
    // Echo answers runs of whole messages in one pass (Decoder::echo_whole)
    // and hands every other frame to the decoder: the mix must come back
    // frame for frame, whatever falls between the runs.
    let server = start_default().await;
    let s = raw_ws(server.local_addr(), "?mode=echo").await;
    let mut wire = Vec::new();
    let mut want: Vec<(u8, Vec<u8>)> = Vec::new();
    for i in 0..400usize {
        let len = [0, 1, 5, 32, 125, 126, 300][i % 7];
        let text: Vec<u8> = "aκ😀".bytes().cycle().take(len).collect::<Vec<u8>>();
        let text = String::from_utf8_lossy(&text).into_owned().into_bytes();
        match i % 50 {
            10 => {
                wire.extend(client_frame(0x89, b"ping"));
                want.push((0x0a, b"ping".to_vec()));
            }
            20 => {
                wire.extend([client_frame(0x01, b"frag"), client_frame(0x80, b"ment")].concat());
                want.push((0x01, b"fragment".to_vec()));
            }
            30 => {
                // 16-bit length form for 5 bytes: answered in the shortest form.
                let mut frame = vec![0x82, 0x80 | 126, 0, 5, 0, 0, 0, 0];
                frame.extend_from_slice(b"short");
                wire.extend(frame);
                want.push((0x02, b"short".to_vec()));
            }
            35 => {
                // 64-bit length form for 1,000 bytes: its reply refers to
                // the input, which the echoes after it must not overwrite.
                let payload: Vec<u8> = (0..1000u32).map(|b| (b % 251) as u8).collect();
                let mut frame = vec![0x82, 0x80 | 127];
                frame.extend_from_slice(&1000u64.to_be_bytes());
                frame.extend_from_slice(&[0; 4]);
                frame.extend_from_slice(&payload);
                wire.extend(frame);
                want.push((0x02, payload));
            }
            40 => {
                let big: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
                wire.extend(client_frame(0x82, &big));
                want.push((0x02, big));
            }
            _ if i % 2 == 0 => {
                wire.extend(client_frame(0x81, &text));
                want.push((0x01, text));
            }
            _ => {
                let binary: Vec<u8> = (0..len).map(|b| (b * 7 + i) as u8).collect();
                wire.extend(client_frame(0x82, &binary));
                want.push((0x02, binary));
            }
        }
    }
    // The runs end in text that is not UTF-8: everything before it is
    // answered, then the close.
    wire.extend(
        [client_frame(0x81, b"last"), client_frame(0x81, b"bad \xc0\xaf"), client_frame(0x81, b"never")].concat(),
    );
    want.push((0x01, b"last".to_vec()));
    let got = send_and_read(s, wire, want.len(), 1007).await;
    assert_same_replies(&got, &want);
    server.shutdown().await;
}

/// Writes `wire` while reading `replies` frames (each one whole), then
/// expects a close with `close_code`; returns the frames as (opcode,
/// payload).
async fn send_and_read(s: tokio::net::TcpStream, wire: Vec<u8>, replies: usize, close_code: u16) -> Vec<(u8, Vec<u8>)> {
    let (mut read, mut write) = s.into_split();
    // Written while the replies are read: neither side waits on the other's
    // socket buffers.
    let writer = tokio::spawn(async move {
        write.write_all(&wire).await.unwrap();
        write
    });
    let mut got = Vec::new();
    for _ in 0..replies {
        let frame = read_frame(&mut read).await.expect("a reply");
        assert!(frame.fin, "every reply is one frame");
        got.push((frame.opcode, frame.payload));
    }
    assert_eq!(expect_close(&mut read).await.close_code(), Some(close_code));
    drop(writer.await.unwrap());
    got
}

fn assert_same_replies(got: &[(u8, Vec<u8>)], want: &[(u8, Vec<u8>)]) {
    for (i, (got, want)) in got.iter().zip(want).enumerate() {
        let first_difference = got.1.iter().zip(&want.1).position(|(a, b)| a != b);
        assert!(got == want, "reply {i}: opcode {} len {} at byte {first_difference:?}", got.0, got.1.len());
    }
}

#[tokio::test]
async fn echo_runs_cut_by_the_wake_up_and_backpressure_budgets_resume_where_they_stopped() {
    // 5,000 small messages in one write: more than one wake-up's budget of
    // echoes (1,024), and 4 KiB of backpressure cuts runs far sooner.
    let server = start(Config { max_backpressure: 4 << 10, ..Config::default() }).await;
    let s = raw_ws(server.local_addr(), "?mode=echo").await;
    let mut wire = Vec::new();
    let mut want = Vec::new();
    for i in 0..5000u32 {
        let payload: Vec<u8> = format!("message {i}").into_bytes();
        let opcode = if i % 3 == 0 { 0x82 } else { 0x81 };
        wire.extend(client_frame(opcode, &payload));
        want.push((opcode & 0x0f, payload));
    }
    wire.extend(client_frame(0x88, &1000u16.to_be_bytes()));
    let got = send_and_read(s, wire, want.len(), 1000).await;
    assert_same_replies(&got, &want);
    server.shutdown().await;
}

#[tokio::test]
async fn pings_are_answered_and_closes_echoed() {
    let server = start_default().await;
    let mut s = raw_ws(server.local_addr(), "").await;
    s.write_all(&[client_frame(0x89, b"p1"), client_frame(0x89, b"p2")].concat()).await.unwrap();
    for want in [&b"p1"[..], b"p2"] {
        let pong = read_frame(&mut s).await.unwrap();
        assert_eq!((pong.opcode, pong.payload.as_slice()), (0x0a, want));
    }
    // Close 4000 is echoed; nothing sent after the close gets an answer.
    let wire = [client_frame(0x88, &[0x0f, 0xa0, b'b', b'y', b'e']), client_frame(0x81, b"late")].concat();
    s.write_all(&wire).await.unwrap();
    assert_eq!(expect_close(&mut s).await.close_code(), Some(4000));

    let mut s = raw_ws(server.local_addr(), "").await;
    s.write_all(&client_frame(0x88, &[])).await.unwrap();
    let close = expect_close(&mut s).await;
    assert!(close.payload.is_empty(), "an empty close is answered with an empty close");
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_open_connections_with_1001() {
    let server = start_default().await;
    let mut s = raw_ws(server.local_addr(), "").await;
    let stopping = tokio::spawn(server.shutdown());
    assert_eq!(expect_close(&mut s).await.close_code(), Some(1001));
    drop(s);
    tokio::time::timeout(TIMEOUT, stopping).await.expect("shutdown finishes").unwrap();
}
