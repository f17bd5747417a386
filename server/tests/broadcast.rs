//! Mode `broadcast` through independent clients (tokio-tungstenite, and a
//! raw socket that never reads): fan-out to every member in order per
//! sender, the sender included; isolated topics; a slow member cut off
//! while the others keep receiving; topics gone with their last member.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use wsbench_server::{Config, ReplyMode, ServerHandle};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn member(server: &ServerHandle, topic: &str) -> Ws {
    let url = ws_url(server.local_addr(), &format!("?mode=broadcast&topic={topic}"));
    tokio_tungstenite::connect_async(url).await.expect("upgrade").0
}

/// The next data message, within the common timeout.
async fn next_message(ws: &mut Ws) -> Message {
    loop {
        let msg = tokio::time::timeout(TIMEOUT, ws.next()).await.expect("a message in time").expect("open").unwrap();
        if msg.is_text() || msg.is_binary() {
            return msg;
        }
    }
}

#[tokio::test]
async fn every_member_gets_every_message_in_order_per_sender_and_topics_are_isolated() {
    let server = start(Config::default()).await;
    let mut members = Vec::new();
    for _ in 0..3 {
        members.push(member(&server, "room-1").await);
    }
    let mut outsider = member(&server, "room-2").await;
    const EACH: usize = 40;
    // Everyone sends at once: text from 0 and 1, binary from 2.
    for (i, ws) in members.iter_mut().enumerate() {
        for seq in 0..EACH {
            let msg = match i {
                2 => Message::Binary(vec![i as u8, seq as u8, 0xff]),
                _ => Message::Text(format!("{i}:{seq}")),
            };
            ws.feed(msg).await.unwrap();
        }
        ws.flush().await.unwrap();
    }
    outsider.send(Message::Text("alone".into())).await.unwrap();
    for (receiver, ws) in members.iter_mut().enumerate() {
        let mut next_seq: HashMap<usize, usize> = HashMap::new();
        for _ in 0..3 * EACH {
            let (sender, seq) = match next_message(ws).await {
                Message::Text(t) => {
                    let (s, q) = t.split_once(':').unwrap();
                    (s.parse().unwrap(), q.parse().unwrap())
                }
                Message::Binary(b) => {
                    assert_eq!(b.len(), 3, "binary stays binary, same bytes");
                    (b[0] as usize, b[1] as usize)
                }
                other => panic!("{other:?}"),
            };
            let expected = next_seq.entry(sender).or_default();
            assert_eq!(seq, *expected, "member {receiver}: sender {sender}'s messages in order");
            *expected += 1;
        }
        assert_eq!(next_seq.len(), 3, "member {receiver} got every sender, itself included");
    }
    assert_eq!(next_message(&mut outsider).await, Message::Text("alone".into()), "only its own topic's");
    let snapshot = server.metrics().snapshot().broadcast;
    assert_eq!((snapshot.topics, snapshot.members), (2, 4));
    assert_eq!((snapshot.published, snapshot.deliveries), (3 * EACH as u64 + 1, 9 * EACH as u64 + 1));
    for mut ws in members.into_iter().chain([outsider]) {
        ws.close(None).await.unwrap();
    }
    until("topics removed after their members left", TIMEOUT, || {
        let b = server.metrics().snapshot().broadcast;
        b.topics == 0 && b.members == 0
    })
    .await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_member_that_does_not_read_is_cut_off_and_the_topic_goes_on() {
    let server =
        start(Config { max_backpressure: 256 << 10, write_timeout: Duration::from_secs(2), ..Config::default() }).await;
    let (mut publish, mut publisher) = member(&server, "t").await.split();
    let mut reader = member(&server, "t").await;
    // Never reads: its socket buffers fill, then its queue.
    let _stuck = raw_ws(server.local_addr(), "?mode=broadcast&topic=t").await;
    until("three members", TIMEOUT, || server.metrics().snapshot().broadcast.members == 3).await;
    // 24 MiB: more than loopback's socket buffers take.
    const MESSAGES: usize = 1536;
    let payload = vec![7u8; 16 << 10];
    let started = Instant::now();
    let send = async {
        for _ in 0..MESSAGES {
            publish.feed(Message::Binary(payload.clone())).await.unwrap();
        }
        publish.flush().await.unwrap();
    };
    let publisher_receives = async {
        for _ in 0..MESSAGES {
            let msg = tokio::time::timeout(TIMEOUT, publisher.next()).await.expect("in time").expect("open").unwrap();
            assert_eq!(msg.len(), payload.len());
        }
    };
    let reader_receives = async {
        for _ in 0..MESSAGES {
            assert_eq!(next_message(&mut reader).await.len(), payload.len());
        }
    };
    tokio::time::timeout(Duration::from_secs(30), async { tokio::join!(send, publisher_receives, reader_receives) })
        .await
        .expect("the readers got every message despite the stuck member");
    let snapshot = server.metrics().snapshot();
    assert_eq!(snapshot.broadcast.slow_disconnects, 1, "{snapshot:?}");
    // Its close cannot be written either: dropped at the write timeout.
    until("the stuck member gone", TIMEOUT, || server.metrics().snapshot().broadcast.members == 2).await;
    assert!(started.elapsed() < Duration::from_secs(25));
    server.shutdown().await;
}

/// A published frame is charged to --max-memory while a member holds it.
/// Members alone in their topics that never read held every frame they
/// published outside the budget (a review saw 542 MiB against 256 MiB,
/// the gauge at 0).
#[tokio::test]
async fn published_frames_are_held_within_the_memory_budget() {
    let server =
        start(Config { max_memory: 24 << 20, write_timeout: Duration::from_secs(30), ..Config::default() }).await;
    let addr = server.local_addr();
    let message = client_frame(0x82, &vec![5u8; 8 << 20]);
    let mut held = Vec::new();
    for topic in ["a", "b"] {
        let mut s = raw_ws(addr, &format!("?mode=broadcast&topic={topic}")).await;
        s.write_all(&message).await.unwrap();
        held.push(s);
    }
    // Both frames published, neither read: charged, 8 MiB each.
    until("two frames held", TIMEOUT, || server.metrics().memory_held() >= 16 << 20).await;
    // A third is past the budget: its publisher gets 1013, not its frame.
    let mut third = raw_ws(addr, "?mode=broadcast&topic=c").await;
    third.write_all(&message).await.unwrap();
    assert_eq!(expect_close(&mut third).await.close_code(), Some(1013));
    assert!(server.metrics().memory_held() <= 24 << 20);
    drop(held);
    until("frames released", TIMEOUT, || server.metrics().memory_held() == 0).await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_bad_topic_is_refused_with_400_naming_it() {
    let server = start(Config { default_mode: ReplyMode::Broadcast, ..Config::default() }).await;
    let long = "x".repeat(129);
    for query in ["?topic=a/b", "?topic=", &format!("?topic={long}")] {
        let (status, body) = http(server.local_addr(), &upgrade_request(&format!("/upgradews{query}"), "")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.contains("bad query parameter `topic`"), "{body}");
    }
    // --default-mode broadcast: no mode in the query, the default topic.
    let url = ws_url(server.local_addr(), "");
    let mut ws = tokio_tungstenite::connect_async(url).await.unwrap().0;
    ws.send(Message::Text("hi".into())).await.unwrap();
    assert_eq!(next_message(&mut ws).await, Message::Text("hi".into()));
    server.shutdown().await;
}
