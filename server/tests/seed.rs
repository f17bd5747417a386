//! The seed's exchange: `hello` is answered `接收到消息：hello，我做出回复`,
//! with the same message type, by two independent client libraries.

mod common;

use bytes::Bytes;
use common::*;
use fastwebsockets::{Frame, OpCode, Payload};
use futures_util::{SinkExt, StreamExt};
use http_body_util::Empty;
use hyper::header::{CONNECTION, UPGRADE};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn tungstenite_client_gets_the_seed_reply_in_the_same_type() {
    let server = start_default().await;
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(server.local_addr(), "")).await.unwrap();

    ws.send(Message::Text("hello".into())).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::Text("接收到消息：hello，我做出回复".into()));

    ws.send(Message::Binary(vec![0, 1, 0xff])).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::Binary(seed_reply(&[0, 1, 0xff])));

    ws.close(None).await.unwrap();
    server.shutdown().await;
}

struct SpawnExecutor;

impl<Fut> hyper::rt::Executor<Fut> for SpawnExecutor
where
    Fut: std::future::Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    fn execute(&self, fut: Fut) {
        tokio::spawn(fut);
    }
}

#[tokio::test]
async fn fastwebsockets_client_gets_the_seed_reply_in_the_same_type() {
    let server = start_default().await;
    let addr = server.local_addr();
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = hyper::Request::get(ws_url(addr, ""))
        .header("Host", addr.to_string())
        .header(UPGRADE, "websocket")
        .header(CONNECTION, "upgrade")
        .header("Sec-WebSocket-Key", fastwebsockets::handshake::generate_key())
        .header("Sec-WebSocket-Version", "13")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let (ws, _) = fastwebsockets::handshake::client(&SpawnExecutor, req, stream).await.unwrap();
    let mut ws = fastwebsockets::FragmentCollector::new(ws);

    ws.write_frame(Frame::text(Payload::Borrowed(b"hello"))).await.unwrap();
    let reply = ws.read_frame().await.unwrap();
    assert_eq!(reply.opcode, OpCode::Text);
    assert_eq!(&reply.payload[..], "接收到消息：hello，我做出回复".as_bytes());

    ws.write_frame(Frame::binary(Payload::Borrowed(&[7, 8]))).await.unwrap();
    let reply = ws.read_frame().await.unwrap();
    assert_eq!(reply.opcode, OpCode::Binary);
    assert_eq!(&reply.payload[..], &seed_reply(&[7, 8])[..]);

    ws.write_frame(Frame::close(1000, b"")).await.unwrap();
    let close = ws.read_frame().await.unwrap();
    assert_eq!(close.opcode, OpCode::Close);
    assert_eq!(&close.payload[..2], &1000u16.to_be_bytes());
    server.shutdown().await;
}
