//! What the loadgen shares with the wsbench server about the protocol: the
//! reply modes, the `reply` format, and the masking kernel, all from
//! `wsbench-proto`, the one protocol core both ends use.

/// XORs `buf` with `mask`, as if `buf` started `offset` bytes into a payload.
/// Masking and unmasking are the same XOR, so proto's one kernel serves both ends.
pub use wsbench_proto::unmask_at as apply_mask;
pub use wsbench_proto::{ReplyMode, REPLY_PREFIX, REPLY_SUFFIX};
