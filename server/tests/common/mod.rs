//! Helpers for the server's integration tests: an embedded server, a raw
//! WebSocket client over a plain TcpStream, and frame encoding/decoding
//! written independently of the server's own code.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsbench_server::{Config, ServerHandle};

pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const TIMEOUT: Duration = Duration::from_secs(10);

pub async fn start(config: Config) -> ServerHandle {
    let config = Config { listen: "127.0.0.1:0".parse().unwrap(), ..config };
    wsbench_server::spawn(config).await.expect("server binds")
}

pub async fn start_default() -> ServerHandle {
    start(Config::default()).await
}

pub fn ws_url(addr: SocketAddr, query: &str) -> String {
    format!("ws://{addr}/upgradews{query}")
}

/// Sends a raw HTTP request and returns the whole response head and body
/// (the server closes or the response is complete).
pub async fn http(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(TIMEOUT, s.read(&mut chunk)).await.expect("response in time").unwrap();
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some(head_end) = text.find("\r\n\r\n") {
            let head = &text[..head_end];
            let len = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
                .unwrap_or(0usize);
            if buf.len() >= head_end + 4 + len {
                break;
            }
        }
    }
    let text = String::from_utf8(buf).unwrap();
    let status = text[9..12].parse().unwrap();
    (status, text)
}

/// A GET upgrade request with the given extra header lines.
pub fn upgrade_request(path_and_query: &str, extra: &str) -> String {
    format!(
        "GET {path_and_query} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n{extra}\r\n"
    )
}

/// Opens a WebSocket by hand and returns the stream right after the 101.
pub async fn raw_ws(addr: SocketAddr, query: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(upgrade_request(&format!("/upgradews{query}"), "").as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    // RFC 6455 4.2.2: the accept key of the RFC's own example.
    assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
    s
}

/// A masked client frame with explicit first byte (FIN, RSV, opcode).
pub fn client_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut f = vec![b0];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xffff => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// A server frame as read off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFrame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl ServerFrame {
    pub fn close_code(&self) -> Option<u16> {
        assert_eq!(self.opcode, 8, "not a close frame: {self:?}");
        (self.payload.len() >= 2).then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

/// Reads one server frame; None at EOF. Server frames must be unmasked and
/// use no reserved bits.
pub async fn read_frame<S: AsyncRead + Unpin>(s: &mut S) -> Option<ServerFrame> {
    let (first, frame) = read_frame_head_byte(s).await?;
    assert_eq!(first & 0x70, 0, "reserved bits set by the server");
    Some(frame)
}

/// [`read_frame`] without the reserved-bit check, with the frame's first
/// byte (FIN, RSV1-3, opcode): for permessage-deflate, where RSV1 marks a
/// compressed message.
pub async fn read_frame_head_byte<S: AsyncRead + Unpin>(s: &mut S) -> Option<(u8, ServerFrame)> {
    let mut head = [0u8; 2];
    let read = tokio::time::timeout(TIMEOUT, s.read_exact(&mut head)).await.expect("frame in time");
    if read.is_err() {
        return None;
    }
    assert_eq!(head[1] & 0x80, 0, "server frames are not masked");
    let len = match head[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            s.read_exact(&mut b).await.unwrap();
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            s.read_exact(&mut b).await.unwrap();
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    tokio::time::timeout(TIMEOUT, s.read_exact(&mut payload)).await.expect("payload in time").unwrap();
    Some((head[0], ServerFrame { fin: head[0] & 0x80 != 0, opcode: head[0] & 0x0f, payload }))
}

/// Reads frames until a close frame and returns it; then expects EOF, as the
/// server shuts the connection down after a close.
pub async fn expect_close<S: AsyncRead + Unpin>(s: &mut S) -> ServerFrame {
    loop {
        let frame = read_frame(s).await.expect("a close frame before EOF");
        if frame.opcode == 8 {
            let mut rest = Vec::new();
            tokio::time::timeout(TIMEOUT, s.read_to_end(&mut rest)).await.expect("EOF in time").ok();
            assert!(rest.is_empty(), "bytes after the close frame: {rest:?}");
            return frame;
        }
    }
}

/// Builds the expected seed reply independently of the server's code.
pub fn seed_reply(message: &[u8]) -> Vec<u8> {
    let mut v = "接收到消息：".as_bytes().to_vec();
    v.extend_from_slice(message);
    v.extend_from_slice("，我做出回复".as_bytes());
    v
}
