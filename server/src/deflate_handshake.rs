//! The server's side of the permessage-deflate handshake (`--deflate`):
//! the offers in the upgrade request's `Sec-WebSocket-Extensions` headers,
//! chosen from by [`wsbench_proto::deflate::negotiate_server`].

use hyper::header::{HeaderMap, HeaderValue, SEC_WEBSOCKET_EXTENSIONS};
use wsbench_proto::deflate::{negotiate_server, Agreement, ServerPolicy};

/// The response header and the agreement, if an offer is acceptable.
/// Header values that are not visible ASCII are skipped, as invalid
/// offers are: the upgrade then goes on without the extension.
pub(crate) fn negotiate(headers: &HeaderMap, policy: ServerPolicy) -> Option<(HeaderValue, Agreement)> {
    let offers = headers.get_all(SEC_WEBSOCKET_EXTENSIONS).iter().filter_map(|v| v.to_str().ok());
    let (response, agreement) = negotiate_server(offers, policy)?;
    let header = HeaderValue::from_str(&response.to_string()).expect("the response is ASCII");
    Some((header, agreement))
}
