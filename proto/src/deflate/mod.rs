//! permessage-deflate (RFC 7692), sans-IO and shared by the server and the
//! load generator: [`negotiate`] parses and formats the
//! `Sec-WebSocket-Extensions` offers and responses and makes each end's
//! choice; [`codec`] compresses and inflates messages (bounded by the
//! message size limit). The frame side (RSV1 on a message's first frame
//! only) is the [`Decoder`](crate::Decoder)'s, with
//! [`with_deflate`](crate::Decoder::with_deflate), and
//! [`encode_header_rsv1`](crate::frame::encode_header_rsv1).

pub mod codec;
pub mod negotiate;

pub use codec::{Compressor, Decompressor, InflateError, TAIL};
pub use negotiate::{
    accept_response, negotiate_server, parse_extensions, Agreement, BadParams, BadResponse, DeflateParams, Extension,
    ServerPolicy, EXTENSION, MAX_WINDOW_BITS, MIN_WINDOW_BITS,
};

#[cfg(test)]
mod tests;
