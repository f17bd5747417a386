//! The client's side of the permessage-deflate handshake (`--deflate`):
//! the response's `Sec-WebSocket-Extensions`, checked against the offer by
//! [`wsbench_proto::deflate::accept_response`].

use wsbench_proto::deflate::{accept_response, Agreement, DeflateParams};

use super::ConnectFailure;

/// What the server agreed: its response's parameters (as the result
/// records them) and what this end does with them.
pub type Agreed = (DeflateParams, Agreement);

/// Checks the response's extension headers `values` against `offered`:
/// `Ok(None)` if the server declined (or nothing was offered and nothing
/// answered); any extension not offered, or a bad response, fails the
/// handshake (RFC 6455 §9.1, RFC 7692 §7.1).
pub fn check_extensions(values: &[&str], offered: Option<&DeflateParams>) -> Result<Option<Agreed>, ConnectFailure> {
    match offered {
        None if values.is_empty() => Ok(None),
        None => Err(ConnectFailure::BadHandshake(format!(
            "extension {:?} negotiated though none was offered",
            values.join(", ")
        ))),
        Some(offer) => accept_response(offer, values.iter().copied())
            .map_err(|e| ConnectFailure::BadHandshake(format!("bad permessage-deflate response: {e}"))),
    }
}
