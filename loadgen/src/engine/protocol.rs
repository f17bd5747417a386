//! What the loadgen shares with the wsbench server about the protocol: the
//! reply modes, the `reply` format, and the masking kernel.
//!
//! The one place the engine names `wsbench_server` for them: when the shared
//! `wsbench-proto` crate lands, these re-exports switch to it here, and
//! nothing else changes. (The embedded server itself, `run` without a URL,
//! is the only other use of `wsbench_server`, behind the `embedded` feature.)

/// XORs `buf` with `mask`, as if `buf` started `offset` bytes into a payload.
/// Masking and unmasking are the same XOR: the server's kernel (fastwebsockets'
/// unmask, with the key rotated for the offset) serves both ends.
pub use wsbench_server::frame::unmask_at as apply_mask;
pub use wsbench_server::reply::{REPLY_PREFIX, REPLY_SUFFIX};
pub use wsbench_server::ReplyMode;
