//! Raw TCP echo: the ceiling that `scripts/peers.sh` quotes the WebSocket
//! servers against. No framing, no masking, no handshake: every byte read is
//! written back. One current-thread tokio runtime (the WebSocket peers are
//! pinned to one core too), one task per connection, and one 64 KiB read
//! buffer for the whole thread: a connection owns no buffer unless a write
//! came back short, so idle connections cost only the task and the socket
//! (the floor of the idle-memory figure).
//!
//! Why tokio and not a hand-written epoll loop: the WebSocket servers measured
//! beside it all run on tokio, so the ratio to this echo shows what framing
//! and the server's own code cost on top of the same runtime and syscalls.
//!
//! Usage: raw_echo ADDR   (e.g. 127.0.0.1:19090)

use std::cell::RefCell;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

thread_local! {
    static BUF: RefCell<Vec<u8>> = RefCell::new(vec![0u8; 64 * 1024]);
}

async fn echo(mut stream: TcpStream) {
    loop {
        if stream.readable().await.is_err() {
            return;
        }
        // Read into the thread's buffer and write back at once; only what the
        // socket does not take now is copied out and written with await.
        let rest = BUF.with(|b| {
            let mut b = b.borrow_mut();
            match stream.try_read(&mut b) {
                Ok(0) => Err(()),
                Ok(n) => match stream.try_write(&b[..n]) {
                    Ok(w) if w == n => Ok(Vec::new()),
                    Ok(w) => Ok(b[w..n].to_vec()),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(b[..n].to_vec()),
                    Err(_) => Err(()),
                },
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(Vec::new()),
                Err(_) => Err(()),
            }
        });
        match rest {
            Err(()) => return,
            Ok(rest) if !rest.is_empty() => {
                if stream.write_all(&rest).await.is_err() {
                    return;
                }
            }
            Ok(_) => {}
        }
    }
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:19090".to_string());
    let rt = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind(&addr).await?;
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(echo(stream));
        }
    })
}
