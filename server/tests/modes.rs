//! Every reply mode, at every size that changes the frame encoding, both
//! message types, through tokio-tungstenite; and the wire shape of `stream`.

mod common;

use base64::Engine;
use common::*;
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;

const SIZES: [usize; 7] = [0, 1, 125, 126, 65535, 65536, 1 << 20];

fn text_of(len: usize) -> String {
    // Multi-byte characters too, cut to exactly `len` bytes at a boundary.
    let mut s = String::with_capacity(len);
    let mut i = 0u32;
    while s.len() < len {
        let c = if i % 7 == 0 && s.len() + 3 <= len { '接' } else { char::from(b'a' + (i % 26) as u8) };
        s.push(c);
        i += 1;
    }
    s
}

fn binary_of(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn expected(mode: &str, msg: &Message, seq: u64) -> Message {
    let (bytes, is_text) = match msg {
        Message::Text(t) => (t.as_bytes().to_vec(), true),
        Message::Binary(b) => (b.clone(), false),
        _ => unreachable!(),
    };
    let wrap = |v: Vec<u8>| if is_text { Message::Text(String::from_utf8(v).unwrap()) } else { Message::Binary(v) };
    match mode {
        "echo" => msg.clone(),
        "reply" | "stream" => wrap(seed_reply(&bytes)),
        "json" => {
            let message = if is_text {
                serde_json::Value::String(String::from_utf8(bytes.clone()).unwrap())
            } else {
                serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(&bytes))
            };
            let v = serde_json::json!({
                "type": if is_text { "text" } else { "binary" },
                "length": bytes.len(),
                "seq": seq,
                "message": message,
            });
            Message::Text(v.to_string())
        }
        _ => unreachable!(),
    }
}

fn same(mode: &str, got: &Message, want: &Message) -> bool {
    match (mode, got, want) {
        // Compare JSON as values: field order is not part of the schema.
        ("json", Message::Text(g), Message::Text(w)) => {
            serde_json::from_str::<serde_json::Value>(g).unwrap()
                == serde_json::from_str::<serde_json::Value>(w).unwrap()
        }
        _ => got == want,
    }
}

#[tokio::test]
async fn every_mode_answers_every_size_and_type() {
    let server = start_default().await;
    for mode in ["reply", "echo", "json", "stream"] {
        let url = ws_url(server.local_addr(), &format!("?mode={mode}"));
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut seq = 0;
        for size in SIZES {
            for msg in [Message::Text(text_of(size)), Message::Binary(binary_of(size))] {
                seq += 1;
                ws.send(msg.clone()).await.unwrap();
                let got = ws.next().await.unwrap().unwrap();
                let want = expected(mode, &msg, seq);
                assert!(same(mode, &got, &want), "mode {mode}, size {size}: got {} bytes", got.len());
            }
        }
        ws.close(None).await.unwrap();
    }
    server.shutdown().await;
}

#[tokio::test]
async fn default_mode_comes_from_the_config() {
    let server =
        start(wsbench_server::Config { default_mode: wsbench_server::ReplyMode::Echo, ..Default::default() }).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(server.local_addr(), "")).await.unwrap();
    ws.send(Message::Text("plain".into())).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::Text("plain".into()));
    server.shutdown().await;
}

#[tokio::test]
async fn stream_mode_sends_fragments_of_at_most_chunk_bytes() {
    let server = start_default().await;
    for (chunk, size, is_text) in [(7usize, 100usize, true), (4096, 65536, false), (4096, 0, true), (1, 5, false)] {
        let mut s = raw_ws(server.local_addr(), &format!("?mode=stream&chunk={chunk}")).await;
        let message = if is_text { text_of(size).into_bytes() } else { binary_of(size) };
        s.write_all(&client_frame(if is_text { 0x81 } else { 0x82 }, &message)).await.unwrap();
        let mut frames = Vec::new();
        loop {
            let f = read_frame(&mut s).await.expect("a frame");
            let fin = f.fin;
            frames.push(f);
            if fin {
                break;
            }
        }
        let want = seed_reply(&message);
        assert!(frames.len() >= 2, "a fragmented message: {} frames", frames.len());
        assert!(frames.len() >= want.len().div_ceil(chunk), "frames of at most {chunk} bytes");
        assert_eq!(frames[0].opcode, if is_text { 1 } else { 2 }, "first frame has the message type");
        assert!(frames[1..].iter().all(|f| f.opcode == 0), "then continuations");
        assert!(frames.iter().all(|f| f.payload.len() <= chunk), "chunk {chunk}");
        assert!(frames[..frames.len() - 1].iter().all(|f| !f.fin), "only the last has FIN");
        let joined: Vec<u8> = frames.iter().flat_map(|f| f.payload.clone()).collect();
        assert_eq!(joined, want, "chunk {chunk}, size {size}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn fragmented_messages_are_reassembled_and_pings_answered_between() {
    let server = start_default().await;
    let mut s = raw_ws(server.local_addr(), "?mode=echo").await;
    let text = "κόσμε".as_bytes();
    // Split inside a code point, with a ping between the fragments.
    let mut wire = client_frame(0x01, &text[..3]);
    wire.extend(client_frame(0x89, b"between"));
    wire.extend(client_frame(0x00, &text[3..7]));
    wire.extend(client_frame(0x80, &text[7..]));
    s.write_all(&wire).await.unwrap();
    let pong = read_frame(&mut s).await.unwrap();
    assert_eq!((pong.opcode, pong.payload.as_slice()), (0x0a, &b"between"[..]));
    let echo = read_frame(&mut s).await.unwrap();
    assert_eq!((echo.fin, echo.opcode, echo.payload.as_slice()), (true, 1, text));
    server.shutdown().await;
}
