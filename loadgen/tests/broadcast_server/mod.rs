//! A broadcast server written apart from wsbench-server (tokio-tungstenite,
//! on a thread of its own, 127.0.0.1): each message goes to every member
//! of its topic (query `topic`), the sender included, except for one fault
//! it is told to make, so that the loadgen's checks are judged by a server
//! whose fault is known.

#![allow(dead_code, clippy::result_large_err)] // tungstenite's callback type is not ours

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;

/// The one thing the server gets wrong: the second member of each topic
/// (in joining order) gets its `at`-th delivery wrong this way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Nothing wrong.
    None,
    /// Never sent.
    Drop { at: u64 },
    /// Sent twice.
    Duplicate { at: u64 },
}

type Members = Vec<(u64, mpsc::UnboundedSender<Message>)>;

/// Starts the server; returns its address.
pub fn spawn_broadcast(fault: Fault) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let topics: Arc<Mutex<HashMap<String, Members>>> = Arc::default();
            let mut next_id = 0u64;
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let _ = stream.set_nodelay(true);
                next_id += 1;
                tokio::spawn(serve(stream, next_id, topics.clone(), fault));
            }
        });
    });
    rx.recv().unwrap()
}

async fn serve(stream: tokio::net::TcpStream, id: u64, topics: Arc<Mutex<HashMap<String, Members>>>, fault: Fault) {
    let mut topic = String::from("default");
    let callback = |req: &Request, resp: Response| {
        let query = req.uri().query().unwrap_or("");
        if let Some(t) = query.split('&').find_map(|p| p.strip_prefix("topic=")) {
            topic = t.to_string();
        }
        Ok(resp)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else { return };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let index = {
        let mut topics = topics.lock().unwrap();
        let members = topics.entry(topic.clone()).or_default();
        members.push((id, tx));
        members.len() - 1
    };
    let mut delivered = 0u64;
    loop {
        tokio::select! {
            msg = ws.next() => {
                let Some(Ok(msg)) = msg else { break };
                if msg.is_close() {
                    let _ = ws.close(None).await;
                    while ws.next().await.is_some() {}
                    break;
                }
                if msg.is_text() || msg.is_binary() {
                    for (_, member) in topics.lock().unwrap().get(&topic).into_iter().flatten() {
                        let _ = member.send(msg.clone());
                    }
                }
            }
            Some(msg) = rx.recv() => {
                delivered += 1;
                let copies = match fault {
                    Fault::Drop { at } if index == 1 && delivered == at => 0,
                    Fault::Duplicate { at } if index == 1 && delivered == at => 2,
                    _ => 1,
                };
                for _ in 0..copies {
                    if ws.send(msg.clone()).await.is_err() {
                        break;
                    }
                }
            }
        }
    }
    if let Some(members) = topics.lock().unwrap().get_mut(&topic) {
        members.retain(|(member, _)| *member != id);
    }
}
