//! Descriptors and source ports: raised where the OS lets us, and checked
//! against `--connections` before the run, so that a run that cannot fit
//! is refused with one clear line instead of failing by the thousand.

use std::net::IpAddr;

use crate::error::Error;

/// Descriptors kept free for the listener, the output files, the runtime.
pub const SPARE_DESCRIPTORS: u64 = 64;

/// The open-file limits after raising the soft one to the hard one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileLimit {
    /// The limit in force.
    pub soft: u64,
    /// The most the soft limit can be raised to.
    pub hard: u64,
}

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the limits in
/// force (the `rlimit` crate, as the server does it).
pub fn raise_nofile() -> std::io::Result<FileLimit> {
    rlimit::increase_nofile_limit(u64::MAX)?;
    let (soft, hard) = rlimit::Resource::NOFILE.get()?;
    Ok(FileLimit { soft, hard })
}

/// Ports in the ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`).
pub fn ephemeral_ports() -> u64 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|v| v.parse::<u64>());
            match (it.next(), it.next()) {
                (Some(Ok(lo)), Some(Ok(hi))) if hi >= lo => Some(hi - lo + 1),
                _ => None,
            }
        })
        .unwrap_or(28_232)
}

/// Refuses `connections` that cannot fit in the descriptors (two per
/// connection when the server runs in this process) or in the source ports
/// of the source addresses (one address, the kernel's choice, when none given).
pub fn check_capacity(connections: u64, embedded: bool, local_addrs: &[IpAddr], limit: FileLimit) -> Result<(), Error> {
    let per_conn = if embedded { 2 } else { 1 };
    let needed = connections * per_conn + SPARE_DESCRIPTORS;
    if needed > limit.soft {
        let fit = limit.soft.saturating_sub(SPARE_DESCRIPTORS) / per_conn;
        let why = if embedded { " (2 per connection: the embedded server's end is in this process too)" } else { "" };
        return Err(Error::usage(format!(
            "--connections {connections} needs {needed} open files{why}, but the limit is {} (hard {}); at most {fit} fit: raise `ulimit -Hn` or lower --connections",
            limit.soft, limit.hard
        )));
    }
    let addrs = local_addrs.len().max(1) as u64;
    let ports = ephemeral_ports() * addrs;
    if connections > ports {
        return Err(Error::usage(format!(
            "--connections {connections} needs more source ports than the {ports} available ({} per source address, {addrs} address(es)): add addresses with --local-addr (e.g. 127.0.0.2,127.0.0.3 on loopback)",
            ephemeral_ports()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_is_idempotent() {
        let a = raise_nofile().unwrap();
        assert_eq!(a.soft, a.hard);
        assert_eq!(raise_nofile().unwrap(), a);
    }

    #[test]
    fn capacity() {
        let limit = FileLimit { soft: 20_000, hard: 20_000 };
        assert!(check_capacity(10_000, false, &[], limit).is_ok());
        let e = check_capacity(10_000, true, &[], limit).unwrap_err().to_string();
        assert!(e.contains("2 per connection") && e.contains("at most 9968"), "{e}");
        let big = FileLimit { soft: 1 << 30, hard: 1 << 30 };
        let e = check_capacity(ephemeral_ports() + 1, false, &[], big).unwrap_err().to_string();
        assert!(e.contains("--local-addr"), "{e}");
        let two = ["127.0.0.2".parse().unwrap(), "127.0.0.3".parse().unwrap()];
        assert!(check_capacity(ephemeral_ports() + 1, false, &two, big).is_ok());
    }
}
