//! Reply modes and the query parameters that choose them per connection
//! (the seed's `DefaultQuery("mode", ...)`).

use std::fmt;
use std::str::FromStr;

/// How the server answers each message on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
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
}

impl ReplyMode {
    pub const ALL: [ReplyMode; 4] = [ReplyMode::Reply, ReplyMode::Echo, ReplyMode::Json, ReplyMode::Stream];

    pub fn as_str(self) -> &'static str {
        match self {
            ReplyMode::Reply => "reply",
            ReplyMode::Echo => "echo",
            ReplyMode::Json => "json",
            ReplyMode::Stream => "stream",
        }
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
            .ok_or_else(|| format!("unknown mode {s:?}: expected one of reply, echo, json, stream"))
    }
}

/// Default fragment size of `stream` replies.
pub const DEFAULT_CHUNK: usize = 4096;
/// Largest `chunk` accepted: larger fragments would not be streaming.
pub const MAX_CHUNK: usize = 16 << 20;

/// What a connection was asked for in its upgrade query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionParams {
    pub mode: ReplyMode,
    /// Largest payload of one `stream` fragment.
    pub chunk: usize,
}

/// A query parameter that cannot be honoured; answered with 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadParam {
    pub name: &'static str,
    pub message: String,
}

impl fmt::Display for BadParam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad query parameter `{}`: {}", self.name, self.message)
    }
}

impl ConnectionParams {
    /// Reads `mode` and `chunk` from a query string; other parameters are
    /// left to other layers and ignored here.
    pub fn from_query(query: Option<&str>, default_mode: ReplyMode) -> Result<Self, BadParam> {
        let mut params = ConnectionParams { mode: default_mode, chunk: DEFAULT_CHUNK };
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            match name {
                "mode" => {
                    params.mode = value.parse().map_err(|message| BadParam { name: "mode", message })?;
                }
                "chunk" => {
                    params.chunk = match value.parse::<usize>() {
                        Ok(n) if (1..=MAX_CHUNK).contains(&n) => n,
                        _ => {
                            return Err(BadParam {
                                name: "chunk",
                                message: format!("{value:?} is not a whole number from 1 to {MAX_CHUNK}"),
                            })
                        }
                    };
                }
                _ => {}
            }
        }
        Ok(params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let p = ConnectionParams::from_query(None, ReplyMode::Echo).unwrap();
        assert_eq!(p, ConnectionParams { mode: ReplyMode::Echo, chunk: DEFAULT_CHUNK });
        let p = ConnectionParams::from_query(Some("x=1&mode=stream&chunk=7"), ReplyMode::Reply).unwrap();
        assert_eq!(p, ConnectionParams { mode: ReplyMode::Stream, chunk: 7 });
    }

    #[test]
    fn names_the_bad_parameter() {
        assert_eq!(ConnectionParams::from_query(Some("mode=shout"), ReplyMode::Reply).unwrap_err().name, "mode");
        for chunk in ["0", "-1", "x", "", "99999999999"] {
            let q = format!("chunk={chunk}");
            assert_eq!(ConnectionParams::from_query(Some(&q), ReplyMode::Reply).unwrap_err().name, "chunk");
        }
    }
}
