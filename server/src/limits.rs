//! Open-file limits: the binary raises its soft limit to the hard one, and
//! the default `--max-connections` is what fits in it.
//!
//! The loadgen has the same few lines (`loadgen/src/engine/connect/limits.rs`);
//! the server cannot depend on the loadgen, and wsbench-proto is sans-IO, so
//! they are written again here rather than shared.

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
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes to a local struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 everywhere
    Some(FileLimit { soft: lim.rlim_cur as u64, hard: lim.rlim_max as u64 })
}

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the limits in
/// force afterwards (unchanged where raising is refused).
pub fn raise_nofile() -> Option<FileLimit> {
    let limit = nofile()?;
    if limit.soft < limit.hard {
        let raised = libc::rlimit { rlim_cur: limit.hard as libc::rlim_t, rlim_max: limit.hard as libc::rlim_t };
        // SAFETY: setrlimit reads a local struct.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return Some(FileLimit { soft: limit.hard, hard: limit.hard });
        }
    }
    Some(limit)
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
