//! The check of one delivery: a whole message as some member of the topic
//! sent it (its stamp, its length, its type, every byte of its filler).

use wsbench_proto::MessageKind;

use crate::engine::payload::{filler_byte, read_stamp, STAMP_LEN};
use crate::results::setup::MessageType;

/// A delivery that failed its check: why, and the (connection, sequence
/// number) its stamp names when it still reads.
pub type BadDelivery = (&'static str, Option<(u32, u64)>);

/// Checks a delivered message of `kind` against the run's messages of
/// `expected` type and `size`; returns the publisher's connection and the
/// message's sequence number its stamp carries.
pub fn check_delivery(
    expected: MessageType,
    size: usize,
    kind: MessageKind,
    message: &[u8],
) -> Result<(u32, u64), BadDelivery> {
    let Some((conn, seq)) = read_stamp(message) else {
        return Err(("no stamp at the start of the message", None));
    };
    let stamp = Some((conn, seq));
    if message.len() != size {
        return Err(("a message of another length than those sent", stamp));
    }
    let kind_sent = match expected {
        MessageType::Text => MessageKind::Text,
        MessageType::Binary => MessageKind::Binary,
    };
    if kind != kind_sent {
        return Err(("a message of another type than those sent", stamp));
    }
    if message.iter().enumerate().skip(STAMP_LEN).any(|(i, &b)| b != filler_byte(expected, conn, i)) {
        return Err(("message bytes differ from those sent", stamp));
    }
    Ok((conn, seq))
}
