//! Parked connections (`park`): an idle ws:// connection gives up its task,
//! and nothing it had is lost: its replies' sequence, its deadlines, its
//! shutdown, its hang-up. Real sockets, tokio-tungstenite and raw clients.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;
use wsbench_server::{Config, ServerHandle};

type Client = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Waits until `check` holds of the server's metrics, at most `limit`.
async fn until(server: &ServerHandle, what: &str, limit: Duration, check: impl Fn(u64, u64) -> bool) {
    let started = Instant::now();
    loop {
        let s = server.metrics().snapshot();
        if check(s.connections_parked, s.connections_open) {
            return;
        }
        assert!(started.elapsed() < limit, "{what}: not within {limit:?} ({s:?})");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends `text` and returns the text of the reply.
async fn ask(ws: &mut Client, text: &str) -> String {
    ws.send(Message::text(text)).await.unwrap();
    loop {
        match tokio::time::timeout(TIMEOUT, ws.next()).await.expect("a reply in time").expect("open").unwrap() {
            Message::Text(reply) => return reply.to_string(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_park_and_answer_in_sequence_when_they_speak_again() {
    let server = start(Config::default()).await;
    let mut clients = Vec::new();
    for i in 0..40 {
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(server.local_addr(), "?mode=json")).await.unwrap();
        let reply = ask(&mut ws, &format!("first {i}")).await;
        assert!(reply.contains("\"seq\":1,") && reply.contains(&format!("first {i}")), "{reply}");
        clients.push(ws);
    }
    // Quiet for a timer tick (500 ms) at most twice over: all parked.
    until(&server, "all parked", Duration::from_secs(3), |parked, open| parked == 40 && open == 40).await;
    for (i, ws) in clients.iter_mut().enumerate() {
        // The responder parked with the connection: the sequence goes on.
        let reply = ask(ws, &format!("second {i}")).await;
        assert!(reply.contains("\"seq\":2,") && reply.contains(&format!("second {i}")), "{reply}");
    }
    assert!(server.metrics().snapshot().connections_parked < 40, "speaking resumed them");
    until(&server, "parked again", Duration::from_secs(3), |parked, _| parked == 40).await;
    let s = server.metrics().snapshot();
    assert_eq!((s.messages_received, s.read_errors, s.idle_timeouts), (80, 0, 0), "{s:?}");
}

#[tokio::test]
async fn a_parked_connection_is_pinged_and_closed_at_its_deadlines() {
    let server = start(Config { idle_timeout: Duration::from_secs(2), ..Config::default() }).await;
    let mut s = raw_ws(server.local_addr(), "").await;
    let started = Instant::now();
    // A tick is a quarter of the idle timeout here: parked within ~1 s.
    until(&server, "parked", Duration::from_millis(900), |parked, _| parked == 1).await;
    let ping = read_frame(&mut s).await.expect("a ping");
    let at = started.elapsed();
    assert_eq!(ping.opcode, 9, "{ping:?}");
    assert!(at >= Duration::from_millis(950) && at < Duration::from_millis(1600), "ping after {at:?}");
    // Parked again between the ping and the close.
    until(&server, "parked after the ping", Duration::from_millis(500), |parked, _| parked == 1).await;
    let close = expect_close(&mut s).await;
    let at = started.elapsed();
    assert_eq!(close.close_code(), Some(1001));
    assert!(at >= Duration::from_millis(1950) && at < Duration::from_millis(2800), "closed after {at:?}");
    // The client hangs up, as one does after a close: else the server
    // lingers up to 2 s for it (CLOSE_LINGER), as long as the wait below.
    drop(s);
    until(&server, "closed", Duration::from_secs(2), |parked, open| parked == 0 && open == 0).await;
    assert_eq!(server.metrics().snapshot().idle_timeouts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_parked_connections_with_1001() {
    let server = start(Config::default()).await;
    let mut clients = Vec::new();
    for _ in 0..20 {
        clients.push(raw_ws(server.local_addr(), "").await);
    }
    until(&server, "all parked", Duration::from_secs(3), |parked, _| parked == 20).await;
    let metrics = server.metrics().clone();
    let stopping = tokio::spawn(server.shutdown());
    for s in &mut clients {
        let close = read_frame(s).await.expect("a close frame");
        assert_eq!(close.close_code(), Some(1001), "{close:?}");
        // Answer it, as a client does, so the server's close completes.
        s.write_all(&client_frame(0x88, &1001u16.to_be_bytes())).await.unwrap();
    }
    // And hang up, or the server lingers up to 2 s for each (CLOSE_LINGER).
    drop(clients);
    tokio::time::timeout(Duration::from_secs(4), stopping).await.expect("shutdown in time").unwrap();
    let s = metrics.snapshot();
    assert_eq!((s.connections_open, s.connections_parked), (0, 0), "{s:?}");
}

#[tokio::test]
async fn a_parked_peer_that_hangs_up_is_closed_and_counted() {
    let server = start(Config::default()).await;
    let s = raw_ws(server.local_addr(), "").await;
    until(&server, "parked", Duration::from_secs(2), |parked, _| parked == 1).await;
    drop(s);
    until(&server, "closed", Duration::from_secs(2), |parked, open| parked == 0 && open == 0).await;
}

#[tokio::test]
async fn with_parking_off_idle_connections_keep_their_task() {
    let server = start(Config { park_idle: false, ..Config::default() }).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(server.local_addr(), "?mode=json")).await.unwrap();
    assert!(ask(&mut ws, "one").await.contains("\"seq\":1,"));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(server.metrics().snapshot().connections_parked, 0);
    assert!(ask(&mut ws, "two").await.contains("\"seq\":2,"));
}

#[tokio::test]
async fn a_broadcast_member_never_parks_and_gets_what_is_published() {
    let server = start(Config::default()).await;
    let url = ws_url(server.local_addr(), "?mode=broadcast&topic=t");
    let (mut member, _) = tokio_tungstenite::connect_async(url.clone()).await.unwrap();
    let (mut publisher, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(server.metrics().snapshot().connections_parked, 0, "its topic delivers to its task");
    publisher.send(Message::text("news")).await.unwrap();
    let got = tokio::time::timeout(TIMEOUT, member.next()).await.expect("in time").unwrap().unwrap();
    assert_eq!(got, Message::text("news"));
}

/// More connections than one poll takes (256 events) and than the shard's
/// array keeps once empty (1,024), all speaking at once: every one is
/// answered, twice (the second time from an array rebuilt).
#[tokio::test]
async fn a_thousand_parked_connections_speaking_at_once_are_all_answered() {
    const N: usize = 1_100;
    let server = start(Config::default()).await;
    let mut clients = Vec::with_capacity(N);
    for _ in 0..N {
        clients.push(raw_ws(server.local_addr(), "?mode=echo").await);
    }
    for round in 0..2 {
        until(&server, "all parked", Duration::from_secs(10), |parked, _| parked == N as u64).await;
        for (i, s) in clients.iter_mut().enumerate() {
            s.write_all(&client_frame(0x81, format!("{round}:{i}").as_bytes())).await.unwrap();
        }
        for (i, s) in clients.iter_mut().enumerate() {
            let frame = read_frame(s).await.expect("an echo");
            assert_eq!(frame.payload, format!("{round}:{i}").as_bytes(), "connection {i}, round {round}");
        }
    }
    assert_eq!(server.metrics().snapshot().messages_received, 2 * N as u64);
}
