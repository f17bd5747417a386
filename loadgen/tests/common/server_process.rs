//! The real wsbench-server binary as a child process of a test: built
//! once per test binary, started on a given address, killed when dropped.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The wsbench-server binary, built once for this test binary (cargo
/// builds only the binaries of the package under test).
pub fn server_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let mut cargo = Command::new(env!("CARGO"));
        // Without the variables cargo sets for this test (CARGO_PKG_*, ...):
        // build scripts that watch them would rebuild for each side in turn.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().into_owned();
            if (key.starts_with("CARGO_") && key != "CARGO_HOME" && key != "CARGO_TARGET_DIR") || key == "OUT_DIR" {
                cargo.env_remove(key);
            }
        }
        let status = cargo
            .args(["build", "--quiet", "-p", "wsbench-server", "--bin", "wsbench-server"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building wsbench-server");
        // target/debug/deps/churn-* -> target/debug/wsbench-server
        let exe = std::env::current_exe().unwrap();
        let bin = exe.parent().unwrap().parent().unwrap().join("wsbench-server");
        assert!(bin.is_file(), "{}", bin.display());
        bin
    })
}

/// The server binary as a child process; killed when dropped.
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Server {
    /// Starts the server on `addr` (echo by default) and waits until it accepts.
    pub fn start(addr: SocketAddr) -> Server {
        let child = Command::new(server_binary())
            .args(["--listen", &addr.to_string(), "--default-mode", "echo", "--log", "warn"])
            .env_remove("RUST_LOG")
            .stderr(Stdio::null())
            .spawn()
            .expect("the server starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "the server did not listen on {addr}");
            std::thread::sleep(Duration::from_millis(10));
        }
        Server { child, addr }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/upgradews", self.addr)
    }

    /// Connections the server accepted, from its /metrics.
    pub fn connections_total(&self) -> u64 {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let line = text.lines().find(|l| l.starts_with("wsbench_connections_total ")).expect("the metric");
        line.rsplit(' ').next().unwrap().parse().unwrap()
    }

    /// SIGKILL, and waits for the process to be gone.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free port on 127.0.0.1.
pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}
