//! The seed's reply format and the server's reply modes, as plain types
//! that the server, the loadgen and their command lines share.

use std::fmt;
use std::str::FromStr;

/// The seed's reply is `REPLY_PREFIX + message + REPLY_SUFFIX`.
pub const REPLY_PREFIX: &str = "接收到消息：";
/// See [`REPLY_PREFIX`].
pub const REPLY_SUFFIX: &str = "，我做出回复";

/// The wsbench server's fragment size in mode `stream` when the client
/// asks for none (`chunk` in the query string): what a client checks the
/// fragments against. (The server's own constant, `mode::DEFAULT_CHUNK`,
/// must equal it.)
pub const DEFAULT_CHUNK: usize = 4096;

/// The seed's reply to `message`, as bytes (text or binary alike).
pub fn seed_reply(message: &[u8]) -> Vec<u8> {
    [REPLY_PREFIX.as_bytes(), message, REPLY_SUFFIX.as_bytes()].concat()
}

/// How the server answers each message on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ReplyMode {
    /// The seed's reply, `接收到消息：<message>，我做出回复`, same message type.
    #[default]
    Reply,
    /// The message back unchanged, same type, without copying the payload.
    Echo,
    /// A JSON object describing the message, as one text message.
    Json,
    /// The `reply` text written as one fragmented message.
    Stream,
    /// No reply: the message goes to every member of the connection's
    /// topic (query `topic`), the sender included, same type.
    Broadcast,
}

impl ReplyMode {
    /// Every mode, in the order they are listed to users.
    pub const ALL: [ReplyMode; 5] =
        [ReplyMode::Reply, ReplyMode::Echo, ReplyMode::Json, ReplyMode::Stream, ReplyMode::Broadcast];

    /// The mode's name on command lines and in query strings.
    pub fn as_str(self) -> &'static str {
        match self {
            ReplyMode::Reply => "reply",
            ReplyMode::Echo => "echo",
            ReplyMode::Json => "json",
            ReplyMode::Stream => "stream",
            ReplyMode::Broadcast => "broadcast",
        }
    }

    /// One line on what the mode does, for `--help`.
    pub fn help(self) -> &'static str {
        match self {
            ReplyMode::Reply => "The seed's reply, `接收到消息：<message>，我做出回复`, same message type",
            ReplyMode::Echo => "The message back unchanged, same type, without copying the payload",
            ReplyMode::Json => "A JSON object describing the message, as one text message",
            ReplyMode::Stream => "The `reply` text written as one fragmented message",
            ReplyMode::Broadcast => "The message to every member of the connection's `topic`, the sender included",
        }
    }

    /// The names of every mode, for error messages and possible values.
    pub fn names() -> [&'static str; 5] {
        Self::ALL.map(ReplyMode::as_str)
    }
}

impl fmt::Display for ReplyMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ReplyMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ReplyMode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| format!("unknown mode {s:?}: expected one of {}", ReplyMode::names().join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in ReplyMode::ALL {
            assert_eq!(m.to_string().parse::<ReplyMode>(), Ok(m));
        }
        assert_eq!(
            "shout".parse::<ReplyMode>().unwrap_err(),
            "unknown mode \"shout\": expected one of reply, echo, json, stream, broadcast"
        );
        assert_eq!(seed_reply(b"hi"), "接收到消息：hi，我做出回复".as_bytes());
    }
}
