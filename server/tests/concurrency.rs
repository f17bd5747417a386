//! A thousand concurrent connections, each checking all of its replies.

mod common;

use common::*;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

const CONNECTIONS: usize = 1000;
const MESSAGES: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_connections_all_answered_correctly() {
    let server = start_default().await;
    let url = ws_url(server.local_addr(), "?mode=reply");
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(CONNECTIONS));
    // Connect in waves: the point is 1000 connections open at once, not
    // 1000 SYNs in the same millisecond on a loaded 2-core machine.
    let connecting = std::sync::Arc::new(tokio::sync::Semaphore::new(100));
    let clients: Vec<_> = (0..CONNECTIONS)
        .map(|c| {
            let (url, barrier, connecting) = (url.clone(), barrier.clone(), connecting.clone());
            tokio::spawn(async move {
                let permit = connecting.acquire().await.unwrap();
                let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("connect");
                drop(permit);
                // All connections are open at once before any message flows.
                barrier.wait().await;
                for m in 0..MESSAGES {
                    let text = format!("conn {c} msg {m}");
                    ws.send(Message::Text(text.clone())).await.unwrap();
                    let reply = ws.next().await.expect("a reply").unwrap();
                    assert_eq!(reply, Message::Text(format!("接收到消息：{text}，我做出回复")));
                }
                ws.close(None).await.unwrap();
                MESSAGES
            })
        })
        .collect();
    let mut answered = 0;
    for client in clients {
        answered += tokio::time::timeout(std::time::Duration::from_secs(60), client).await.unwrap().unwrap();
    }
    assert_eq!(answered, CONNECTIONS * MESSAGES);
    // A client can read its last reply before the server task counts the
    // batch it wrote: read the counters once every connection has ended.
    let metrics = server.metrics().clone();
    server.shutdown().await;
    let snapshot = metrics.snapshot();
    assert_eq!(snapshot.messages_received, (CONNECTIONS * MESSAGES) as u64);
    assert_eq!(snapshot.connections_total, CONNECTIONS as u64);
}
