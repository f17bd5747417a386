//! The query parameters that choose a connection's reply mode (the seed's
//! `DefaultQuery("mode", ...)`).

use std::fmt;

pub use wsbench_proto::ReplyMode;

/// Default fragment size of `stream` replies.
pub const DEFAULT_CHUNK: usize = 4096;
/// Largest `chunk` accepted: larger fragments would not be streaming.
pub const MAX_CHUNK: usize = 16 << 20;

/// What a connection was asked for in its upgrade query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionParams {
    /// How each message is answered.
    pub mode: ReplyMode,
    /// Largest payload of one `stream` fragment.
    pub chunk: usize,
}

/// A query parameter that cannot be honoured; answered with 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadParam {
    /// The parameter's name.
    pub name: &'static str,
    /// What is wrong with its value.
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
        let mut seen = [false; 2];
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            // Given twice, which one holds would be this parser's choice,
            // not the client's: refused.
            if let Some(i) = ["mode", "chunk"].iter().position(|&n| n == name) {
                if std::mem::replace(&mut seen[i], true) {
                    let name = if i == 0 { "mode" } else { "chunk" };
                    return Err(BadParam { name, message: "given more than once".into() });
                }
            }
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
        for twice in ["mode=echo&mode=json", "chunk=7&mode=echo&chunk=7"] {
            let e = ConnectionParams::from_query(Some(twice), ReplyMode::Reply).unwrap_err();
            assert_eq!(e.message, "given more than once", "{twice}");
        }
        for chunk in ["0", "-1", "x", "", "99999999999"] {
            let q = format!("chunk={chunk}");
            assert_eq!(ConnectionParams::from_query(Some(&q), ReplyMode::Reply).unwrap_err().name, "chunk");
        }
    }
}
