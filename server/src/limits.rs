//! Open-file limits: the binary raises its soft limit to the hard one, and
//! the default `--max-connections` is what fits in it.
//!
//! The system calls are the `rlimit` crate's, as in the loadgen
//! (`loadgen/src/engine/connect/limits.rs`): neither crate writes its own.

/// Descriptors kept back from WebSocket connections: for the listener, the
/// runtime, stderr, and above all for accepting `/healthz` and `/metrics`
/// while every connection slot is taken.
pub const RESERVED_DESCRIPTORS: u64 = 64;

/// The open-file limits in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileLimit {
    /// The limit in force.
    pub soft: u64,
    /// The most the soft limit can be raised to.
    pub hard: u64,
}

impl FileLimit {
    /// WebSocket connections that fit: the soft limit less
    /// [`RESERVED_DESCRIPTORS`], at least 1.
    pub fn connections(&self) -> u64 {
        self.soft.saturating_sub(RESERVED_DESCRIPTORS).max(1)
    }
}

/// The current RLIMIT_NOFILE; `None` where it cannot be read.
pub fn nofile() -> Option<FileLimit> {
    let (soft, hard) = rlimit::Resource::NOFILE.get().ok()?;
    Some(FileLimit { soft, hard })
}

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the limits in
/// force afterwards (unchanged where raising is refused).
pub fn raise_nofile() -> Option<FileLimit> {
    // Refused (a hard limit below the soft one cannot happen), the limits
    // in force are still what the caller needs.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    nofile()
}

/// The default `max_connections`: what fits in the current soft limit, or
/// 100,000 where the limit cannot be read.
pub fn default_max_connections() -> usize {
    nofile().map_or(100_000, |l| usize::try_from(l.connections()).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_reaches_the_hard_limit_and_connections_fit_under_it() {
        let raised = raise_nofile().unwrap();
        assert_eq!(raised.soft, raised.hard);
        assert_eq!(nofile(), Some(raised));
        assert_eq!(default_max_connections() as u64, raised.soft - RESERVED_DESCRIPTORS);
        assert_eq!(FileLimit { soft: 10, hard: 10 }.connections(), 1);
    }
}
