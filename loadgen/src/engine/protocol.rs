//! What the loadgen shares with the wsbench server about the protocol: the
//! reply modes and the `reply` format, from `wsbench-proto`, the one
//! protocol core both ends use (frames, the decoder, close frames and the
//! handshake's keys are used from there directly).

pub use wsbench_proto::{ReplyMode, REPLY_PREFIX, REPLY_SUFFIX};
