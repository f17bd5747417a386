//! Negotiation of permessage-deflate (RFC 7692 §5, §7.1): parsing the
//! `Sec-WebSocket-Extensions` offers and responses, the server's choice,
//! the client's check of the response, and formatting both.
//!
//! Parameters are checked as §7.1 says: an unknown parameter, a parameter
//! given twice, a value where none is allowed, or a window size outside
//! 8..=15 (written as the ABNF writes it: no sign, no leading zero, quoted
//! or not) makes the offer invalid. A server declines an invalid offer
//! and tries the next; a client fails the connection on an invalid
//! response.

use std::fmt;

/// The extension's name, as offered and accepted.
pub const EXTENSION: &str = "permessage-deflate";
/// The largest LZ77 window (32 KiB), what a peer may use unless told less.
pub const MAX_WINDOW_BITS: u8 = 15;
/// The smallest window RFC 7692 allows (256 bytes).
pub const MIN_WINDOW_BITS: u8 = 8;

/// What one end agreed, from its own side: how it compresses what it
/// sends and what it expects of what it receives. Both ends derive it
/// from the one response header, so a server's and a client's differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agreement {
    /// The LZ77 window this end may use when it compresses (8..=15).
    pub send_window_bits: u8,
    /// This end resets its compressor after each message.
    pub send_no_context_takeover: bool,
    /// The peer resets its compressor after each message, so this end may
    /// reset its decompressor too.
    pub receive_no_context_takeover: bool,
}

/// One element of a `Sec-WebSocket-Extensions` list: the extension name and
/// its parameters, values unquoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension<'a> {
    /// The extension token, e.g. `permessage-deflate`.
    pub name: &'a str,
    /// Its parameters in order; `None` for a parameter without a value.
    pub params: Vec<(&'a str, Option<&'a str>)>,
}

/// Splits a `Sec-WebSocket-Extensions` value into its extensions (RFC 6455
/// §9.1), quoted values unquoted. Returns `None` if it is not well formed;
/// every part is a slice of `value`, nothing is allocated per byte.
pub fn parse_extensions(value: &str) -> Option<Vec<Extension<'_>>> {
    split_outside_quotes(value, ',')
        .map(|element| {
            let mut parts = split_outside_quotes(element, ';');
            let name = parts.next()?.trim();
            if !is_token(name) {
                return None;
            }
            let params = parts.map(parse_param).collect::<Option<Vec<_>>>()?;
            Some(Extension { name, params })
        })
        .collect()
}

fn parse_param(param: &str) -> Option<(&str, Option<&str>)> {
    let (name, value) = match param.split_once('=') {
        Some((name, value)) => (name.trim(), Some(value.trim())),
        None => (param.trim(), None),
    };
    if !is_token(name) {
        return None;
    }
    let value = match value {
        Some(v) if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') => Some(&v[1..v.len() - 1]),
        Some(v) if is_token(v) => Some(v),
        Some(_) => return None,
        None => None,
    };
    Some((name, value))
}

fn split_outside_quotes(s: &str, sep: char) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    s.split(move |c: char| {
        if c == '"' {
            quoted = !quoted;
        }
        c == sep && !quoted
    })
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The parameters of one permessage-deflate offer or response, checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeflateParams {
    /// `server_no_context_takeover`.
    pub server_no_context_takeover: bool,
    /// `client_no_context_takeover`.
    pub client_no_context_takeover: bool,
    /// `server_max_window_bits=N`.
    pub server_max_window_bits: Option<u8>,
    /// `client_max_window_bits`, `Some(None)` without a value (an offer
    /// may omit it: the client supports the parameter).
    pub client_max_window_bits: Option<Option<u8>>,
}

/// Why a permessage-deflate element's parameters are invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadParams {
    /// A parameter RFC 7692 does not define.
    Unknown(String),
    /// A parameter given twice.
    Duplicate(String),
    /// A missing, unexpected or out-of-range value.
    BadValue(String),
}

impl fmt::Display for BadParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadParams::Unknown(p) => write!(f, "unknown permessage-deflate parameter {p}"),
            BadParams::Duplicate(p) => write!(f, "permessage-deflate parameter {p} given twice"),
            BadParams::BadValue(p) => write!(f, "bad value of permessage-deflate parameter {p}"),
        }
    }
}

impl std::error::Error for BadParams {}

impl DeflateParams {
    /// Checks the parameters of one permessage-deflate element (§7.1).
    pub fn parse(params: &[(&str, Option<&str>)]) -> Result<Self, BadParams> {
        let mut out = DeflateParams::default();
        let mut seen = [false; 4];
        for &(name, value) in params {
            let lower = name.to_ascii_lowercase();
            let index = match lower.as_str() {
                "server_no_context_takeover" => 0,
                "client_no_context_takeover" => 1,
                "server_max_window_bits" => 2,
                "client_max_window_bits" => 3,
                _ => return Err(BadParams::Unknown(name.to_string())),
            };
            if std::mem::replace(&mut seen[index], true) {
                return Err(BadParams::Duplicate(name.to_string()));
            }
            let bad = || BadParams::BadValue(name.to_string());
            match (index, value) {
                (0, None) => out.server_no_context_takeover = true,
                (1, None) => out.client_no_context_takeover = true,
                (2, Some(v)) => out.server_max_window_bits = Some(window_bits(v).ok_or_else(bad)?),
                (3, None) => out.client_max_window_bits = Some(None),
                (3, Some(v)) => out.client_max_window_bits = Some(Some(window_bits(v).ok_or_else(bad)?)),
                _ => return Err(bad()),
            }
        }
        Ok(out)
    }
}

/// `"8"` to `"15"`, exactly as the ABNF of §7.1.2 writes them.
fn window_bits(v: &str) -> Option<u8> {
    if v.starts_with('0') || v.len() > 2 {
        return None;
    }
    let n: u8 = v.parse().ok()?;
    (MIN_WINDOW_BITS..=MAX_WINDOW_BITS).contains(&n).then_some(n)
}

impl fmt::Display for DeflateParams {
    /// The element as sent: `permessage-deflate` and its parameters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXTENSION)?;
        if self.server_no_context_takeover {
            f.write_str("; server_no_context_takeover")?;
        }
        if self.client_no_context_takeover {
            f.write_str("; client_no_context_takeover")?;
        }
        if let Some(bits) = self.server_max_window_bits {
            write!(f, "; server_max_window_bits={bits}")?;
        }
        match self.client_max_window_bits {
            Some(Some(bits)) => write!(f, "; client_max_window_bits={bits}"),
            Some(None) => f.write_str("; client_max_window_bits"),
            None => Ok(()),
        }
    }
}

/// What a server accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerPolicy {
    /// Keep the compression contexts from message to message (more
    /// compression, a compressor and a decompressor held per connection).
    /// Without it (the default), the response carries both
    /// `server_no_context_takeover` and `client_no_context_takeover`, so
    /// neither end keeps state between messages.
    pub context_takeover: bool,
}

/// The server's answer to the offers: the first acceptable
/// permessage-deflate offer, the response element to send back and what
/// the server agreed to; `None` (answer without the extension) when no
/// offer is acceptable. Other extensions' offers are ignored.
///
/// `server_max_window_bits=N` is honoured as sent (and echoed): with N = 8
/// the server cannot compress (zlib has no 256-byte window for raw
/// deflate), so its [`Agreement::send_window_bits`] is 8 and its codec
/// sends every message uncompressed, which §6 allows. The client's window
/// needs nothing from the server, whose inflater takes any window.
pub fn negotiate_server<'a>(
    header_values: impl IntoIterator<Item = &'a str>,
    policy: ServerPolicy,
) -> Option<(DeflateParams, Agreement)> {
    for value in header_values {
        let Some(extensions) = parse_extensions(value) else { continue };
        for ext in extensions.iter().filter(|e| e.name.eq_ignore_ascii_case(EXTENSION)) {
            let Ok(offer) = DeflateParams::parse(&ext.params) else { continue };
            let no_takeover = !policy.context_takeover;
            let response = DeflateParams {
                server_no_context_takeover: offer.server_no_context_takeover || no_takeover,
                client_no_context_takeover: offer.client_no_context_takeover || no_takeover,
                server_max_window_bits: offer.server_max_window_bits,
                client_max_window_bits: None,
            };
            let agreement = Agreement {
                send_window_bits: response.server_max_window_bits.unwrap_or(MAX_WINDOW_BITS),
                send_no_context_takeover: response.server_no_context_takeover,
                receive_no_context_takeover: response.client_no_context_takeover,
            };
            return Some((response, agreement));
        }
    }
    None
}

/// Why a client refuses the server's response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadResponse {
    /// The header is not a well-formed extension list.
    Malformed,
    /// An extension the client did not offer, or permessage-deflate twice.
    NotOffered(String),
    /// Bad parameters.
    Params(BadParams),
    /// A parameter the offer did not allow (`client_max_window_bits`
    /// without the offer's, or a window above the one asked for).
    Unasked(&'static str),
}

impl fmt::Display for BadResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadResponse::Malformed => f.write_str("malformed Sec-WebSocket-Extensions"),
            BadResponse::NotOffered(name) => write!(f, "the server accepted {name}, which was not offered"),
            BadResponse::Params(e) => e.fmt(f),
            BadResponse::Unasked(what) => write!(f, "the server answered {what}, which the offer did not allow"),
        }
    }
}

impl std::error::Error for BadResponse {}

/// The client's check of the response to its `offer` (§7.1): `Ok(None)`
/// when the server declined (no permessage-deflate in the response),
/// else what was agreed, from the client's side, with the response's
/// parameters.
pub fn accept_response<'a>(
    offer: &DeflateParams,
    header_values: impl IntoIterator<Item = &'a str>,
) -> Result<Option<(DeflateParams, Agreement)>, BadResponse> {
    let mut agreed = None;
    for value in header_values {
        for ext in parse_extensions(value).ok_or(BadResponse::Malformed)? {
            if !ext.name.eq_ignore_ascii_case(EXTENSION) || agreed.is_some() {
                return Err(BadResponse::NotOffered(ext.name.to_string()));
            }
            let response = DeflateParams::parse(&ext.params).map_err(BadResponse::Params)?;
            let client_bits = match (response.client_max_window_bits, offer.client_max_window_bits) {
                (None, _) => offer.client_max_window_bits.flatten().unwrap_or(MAX_WINDOW_BITS),
                (Some(None), _) => {
                    return Err(BadResponse::Params(BadParams::BadValue("client_max_window_bits".into())))
                }
                (Some(Some(_)), None) => return Err(BadResponse::Unasked("client_max_window_bits")),
                (Some(Some(bits)), Some(asked)) => bits.min(asked.unwrap_or(MAX_WINDOW_BITS)),
            };
            if let (Some(got), Some(asked)) = (response.server_max_window_bits, offer.server_max_window_bits) {
                if got > asked {
                    return Err(BadResponse::Unasked("a larger server_max_window_bits"));
                }
            }
            if offer.server_no_context_takeover && !response.server_no_context_takeover {
                return Err(BadResponse::Unasked("context takeover after server_no_context_takeover"));
            }
            let agreement = Agreement {
                send_window_bits: client_bits,
                send_no_context_takeover: response.client_no_context_takeover,
                receive_no_context_takeover: response.server_no_context_takeover,
            };
            agreed = Some((response, agreement));
        }
    }
    Ok(agreed)
}
