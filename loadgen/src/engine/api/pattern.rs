//! How an incoming message is read: `--match` takes its correlation id out
//! (`json:/pointer`, or `regex:PATTERN` with one capture group), and
//! `--expect` / `--init-expect` check it (`json:/pointer=VALUE`,
//! `json:/pointer` for presence, or `regex:PATTERN`). The id is found
//! without building the message as a JSON value ([`super::seek`]); a
//! check that needs one parses it once ([`Parsed`]).
//!
//! Regexes are `regex::bytes` (linear time, no backreferences), run on the
//! message's bytes, so binary messages and text alike.

use regex::bytes::Regex;
use serde_json::Value;

/// An incoming message, its JSON parsed when first asked for.
pub struct Parsed<'a> {
    bytes: &'a [u8],
    json: Option<Option<Value>>,
}

impl<'a> Parsed<'a> {
    /// The message `bytes`, not parsed yet.
    pub fn new(bytes: &'a [u8]) -> Self {
        Parsed { bytes, json: None }
    }

    /// The message as JSON; `None` when it is not JSON.
    fn json(&mut self) -> Option<&Value> {
        let bytes = self.bytes;
        self.json.get_or_insert_with(|| serde_json::from_slice(bytes).ok()).as_ref()
    }
}

/// `--match`: where the correlation id is.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// A JSON pointer (RFC 6901) to a number or a string of digits, and
    /// its tokens, unescaped ([`seek`](super::seek) walks them).
    Json(String, Vec<String>),
    /// A regex whose one capture group is the id, in decimal digits.
    Regex(Regex),
}

impl Matcher {
    /// Parses `json:/pointer` or `regex:PATTERN`.
    pub fn parse(s: &str) -> Result<Matcher, String> {
        if let Some(pointer) = s.strip_prefix("json:") {
            check_pointer(pointer)?;
            Ok(Matcher::Json(pointer.to_string(), super::seek::tokens(pointer)))
        } else if let Some(pattern) = s.strip_prefix("regex:") {
            let re = regex(pattern)?;
            match re.captures_len() - 1 {
                1 => Ok(Matcher::Regex(re)),
                n => Err(format!("regex {pattern:?} has {n} capture groups; it needs exactly one, around the id")),
            }
        } else {
            Err(format!("{s:?}: expected json:/pointer or regex:PATTERN"))
        }
    }

    /// The correlation id in `m`, if there is one and it is a whole number.
    #[inline]
    pub fn key(&self, m: &mut Parsed<'_>) -> Option<u64> {
        match self {
            Matcher::Json(_, tokens) => super::seek::find_u64(m.bytes, tokens),
            Matcher::Regex(re) => {
                let id = re.captures(m.bytes)?.get(1)?;
                std::str::from_utf8(id.as_bytes()).ok()?.parse().ok()
            }
        }
    }
}

/// `--expect` and `--init-expect`: what a message must hold.
#[derive(Debug, Clone)]
pub enum Expectation {
    /// The value at a JSON pointer equals this one (as JSON, or a string
    /// holding the text given: `=2.0` meets `"2.0"` too); `None`: is present.
    Json(String, Option<(Value, String)>),
    /// The regex matches somewhere in the message.
    Regex(Regex),
}

impl Expectation {
    /// Parses `json:/pointer=VALUE`, `json:/pointer` or `regex:PATTERN`.
    /// VALUE is JSON when it parses as JSON (`42`, `true`, `"42"`,
    /// `{"a":1}`), else a string (`pong` is `"pong"`); a string holding
    /// VALUE's text meets it too (`=2.0` meets `"2.0"`, as JSON-RPC writes
    /// its version), but a quoted VALUE only a string. The first `=` splits.
    pub fn parse(s: &str) -> Result<Expectation, String> {
        if let Some(rule) = s.strip_prefix("json:") {
            let (pointer, value) = match rule.split_once('=') {
                Some((p, v)) => {
                    let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()));
                    (p, Some((value, v.to_string())))
                }
                None => (rule, None),
            };
            check_pointer(pointer)?;
            Ok(Expectation::Json(pointer.to_string(), value))
        } else if let Some(pattern) = s.strip_prefix("regex:") {
            Ok(Expectation::Regex(regex(pattern)?))
        } else {
            Err(format!("{s:?}: expected json:/pointer=VALUE, json:/pointer or regex:PATTERN"))
        }
    }

    /// Whether `m` meets it; if not, why, in a few words.
    pub fn check(&self, m: &mut Parsed<'_>) -> Result<(), String> {
        match self {
            Expectation::Json(pointer, want) => {
                let Some(json) = m.json() else { return Err("not JSON".into()) };
                match (json.pointer(pointer), want) {
                    (None, _) => Err(format!("no {pointer}")),
                    (Some(_), None) => Ok(()),
                    (Some(got), Some((want, text))) if got == want || got.as_str() == Some(text) => Ok(()),
                    (Some(got), Some((want, _))) => Err(format!("{pointer} is {got}, not {want}")),
                }
            }
            Expectation::Regex(re) if re.is_match(m.bytes) => Ok(()),
            Expectation::Regex(re) => Err(format!("does not match {:?}", re.as_str())),
        }
    }
}

/// A JSON pointer as RFC 6901 writes them: empty, or `/` then tokens where
/// `~` is only `~0` or `~1`.
fn check_pointer(p: &str) -> Result<(), String> {
    if !p.is_empty() && !p.starts_with('/') {
        return Err(format!("JSON pointer {p:?} must start with '/' (e.g. /id, /result/0/id)"));
    }
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(format!("JSON pointer {p:?}: '~' must be followed by 0 or 1 (~0 is '~', ~1 is '/')"));
        }
    }
    Ok(())
}

/// Compiles `pattern`; the error in one line (regex's own spans several).
fn regex(pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|e| {
        let text = e.to_string();
        let why = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("invalid").trim();
        format!("invalid regex {pattern:?}: {}", why.trim_start_matches("error: "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(rule: &str, m: &str) -> Option<u64> {
        Matcher::parse(rule).unwrap().key(&mut Parsed::new(m.as_bytes()))
    }

    fn check(rule: &str, m: &str) -> Result<(), String> {
        Expectation::parse(rule).unwrap().check(&mut Parsed::new(m.as_bytes()))
    }

    #[test]
    fn ids_are_found() {
        assert_eq!(key("json:/id", r#"{"jsonrpc":"2.0","id":42,"result":1}"#), Some(42));
        assert_eq!(key("json:/id", r#"{"id":"17"}"#), Some(17));
        assert_eq!(key("json:/a/1/b", r#"{"a":[0,{"b":9}]}"#), Some(9));
        assert_eq!(key("json:/id", r#"{"method":"tick"}"#), None, "a notification");
        assert_eq!(key("json:/id", r#"{"id":-1}"#), None);
        assert_eq!(key("json:/id", "not json"), None);
        assert_eq!(key(r"regex:^R(\d+) ", "R123 ok"), Some(123));
        assert_eq!(key(r"regex:^R(\d+) ", "push"), None);
    }

    #[test]
    fn expectations_check() {
        let ok = r#"{"id":1,"result":"pong","n":3,"e":null}"#;
        assert_eq!(check("json:/result=pong", ok), Ok(()));
        assert_eq!(check("json:/result=\"pong\"", ok), Ok(()));
        assert_eq!(check("json:/n=3", ok), Ok(()));
        assert_eq!(check("json:/v=2.0", r#"{"v":"2.0"}"#), Ok(()), "the text given, as a string");
        assert_eq!(check("json:/v=2.0", r#"{"v":2.0}"#), Ok(()));
        assert!(check("json:/v=\"2.0\"", r#"{"v":2.0}"#).is_err(), "quoted: a string only");
        assert_eq!(check("json:/e", ok), Ok(()));
        assert_eq!(check("json:/n=4", ok).unwrap_err(), "/n is 3, not 4");
        assert_eq!(check("json:/error", ok).unwrap_err(), "no /error");
        assert_eq!(check("json:/n=3", "x").unwrap_err(), "not JSON");
        assert_eq!(check("regex:pong", ok), Ok(()));
        assert!(check("regex:^pong", ok).is_err());
    }

    #[test]
    fn bad_rules_are_refused() {
        for (bad, why) in [
            ("json:id", "must start with '/'"),
            ("json:/a~2", "'~' must be followed by 0 or 1"),
            ("regex:(", "invalid regex"),
            ("regex:\\d+", "0 capture groups"),
            ("regex:(a)(b)", "2 capture groups"),
            ("xpath:/id", "expected json:/pointer or regex:PATTERN"),
        ] {
            let e = Matcher::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
            assert!(!e.contains('\n'), "one line: {e}");
        }
        assert!(Expectation::parse("regex:[").unwrap_err().contains("invalid regex"));
        assert!(Expectation::parse("json:x=1").is_err());
        assert!(Expectation::parse("regex:\\d+").is_ok(), "no capture group needed to check");
    }
}
