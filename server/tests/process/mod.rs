//! The `wsbench-server` binary as a child process, for the tests that need
//! the real process: its open-file limit, its logging, its flags.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_wsbench-server");

/// A running server binary; killed when dropped.
pub struct Binary {
    pub child: Child,
    pub addr: SocketAddr,
    /// Every stderr line so far (stderr is drained by a thread so the server
    /// never blocks on a full pipe).
    pub lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Binary {
    /// Starts the binary on a free port, with its open-file limit (soft and
    /// hard) set to `nofile` if given, and waits for the line saying where
    /// it listens.
    pub fn start(args: &[&str], nofile: Option<u32>, env: &[(&str, &str)]) -> Binary {
        let mut command = match nofile {
            Some(n) => {
                let mut c = Command::new("sh");
                c.args(["-c", &format!("ulimit -n {n} && exec \"$0\" \"$@\""), BIN]);
                c
            }
            None => Command::new(BIN),
        };
        command.args(["--listen", "127.0.0.1:0"]).args(args).env_remove("RUST_LOG").stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap();
        let mut reader = BufReader::new(child.stderr.take().unwrap()).lines();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let addr = loop {
            let line = reader.next().expect("the server logs where it listens").unwrap();
            lines.lock().unwrap().push(line.clone());
            if let Some(rest) = line.split("://").nth(1) {
                break rest.split('/').next().unwrap().parse().unwrap();
            }
        };
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in reader.map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Binary { child, addr, lines, reader: Some(reader) }
    }

    /// Sends SIGTERM and waits for the exit and the end of stderr; returns
    /// every line logged.
    pub fn stop(mut self) -> Vec<String> {
        let killed = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(killed.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "{status}");
                break;
            }
            assert!(Instant::now() < deadline, "the server did not exit in time");
            std::thread::sleep(Duration::from_millis(20));
        }
        self.reader.take().unwrap().join().unwrap();
        std::mem::take(&mut *self.lines.lock().unwrap())
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
