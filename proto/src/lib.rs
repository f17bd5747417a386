//! wsbench-proto: the RFC 6455 core that wsbench's server and load
//! generator share, sans-IO: no sockets, no runtime, no clock.
//!
//! - [`frame`]: frame headers, parsed and encoded for either [`Role`], and
//!   the server's in-place echo;
//! - [`mask`]: the masking kernel, [`unmask_at`], and [`unmask_move`], which
//!   moves as it unmasks;
//! - [`decoder`]: the [`Decoder`] state machine, fed bytes in place, that
//!   emits message parts, pings, pongs and closes, or a [`ProtocolError`]
//!   with its close code (1002, 1007, 1009); its server echo of a
//!   pipelined batch in one pass, [`Decoder::echo_whole`]; and
//!   [`Reassembler`];
//! - [`close`]: close codes, Close payloads;
//! - [`utf8`]: incremental UTF-8 validation;
//! - [`handshake`]: `Sec-WebSocket-Key` and `Sec-WebSocket-Accept`;
//! - [`reply`]: the seed's reply format and the [`ReplyMode`]s;
//! - [`deflate`]: permessage-deflate (RFC 7692), its negotiation and codec.
//!
//! ```
//! use wsbench_proto::{write_frame, Decoder, Event, MessageKind, OpCode, Role};
//! let mut wire = Vec::new();
//! write_frame(&mut wire, true, OpCode::Text, b"hello", Some([1, 2, 3, 4]));
//! let mut decoder = Decoder::new(Role::Server, 1 << 20);
//! let frame = decoder.decode(&mut wire).unwrap().unwrap();
//! assert_eq!(frame.event, Event::Data { kind: MessageKind::Text, first: true, fin: true });
//! assert_eq!(&wire[frame.payload], b"hello");
//! ```

#![warn(missing_docs, unreachable_pub)]
#![deny(unsafe_code)]

pub mod close;
pub mod decoder;
pub mod deflate;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod opcode;
pub mod reply;
pub mod utf8;

pub use decoder::{Decoder, EchoBudget, EchoRun, Event, Frame, ProtocolError, Reassembler};
pub use frame::{
    echo_in_place, encode_header, encode_header_rsv1, header_len, parse_header, parse_header_with, write_frame,
    FrameHeader, HeaderError, Role, MAX_CONTROL_PAYLOAD, MAX_HEADER, MAX_SERVER_HEADER,
};
pub use mask::{unmask_at, unmask_move};
pub use opcode::{MessageKind, OpCode};
pub use reply::{seed_reply, ReplyMode, DEFAULT_CHUNK, REPLY_PREFIX, REPLY_SUFFIX};
pub use utf8::Utf8Validator;
