//! `--match json:/pointer` without building the message as a
//! `serde_json::Value`: the document is walked once by serde_json, keys
//! compared where they lie, everything off the pointer's path skipped
//! (`IgnoredAny`), so a reply's id costs no allocation (a `Value` costs a
//! map and a string per key: about half a microsecond for a small
//! JSON-RPC reply). The whole document is still checked to be JSON, and a
//! key given twice resolves as `Value::pointer` does (the last one).

use std::fmt;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserializer;

/// The whole number at the pointer whose unescaped tokens are `path`: a
/// JSON number, or a string of digits. `None` when the document is not
/// JSON, or holds no such number there.
pub fn find_u64(json: &[u8], path: &[String]) -> Option<u64> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let found = Seek(path).deserialize(&mut de).ok()?;
    de.end().ok()?;
    found
}

/// RFC 6901 tokens of `pointer` (which starts with '/', or is empty),
/// unescaped: `~1` is '/', `~0` is '~'.
pub fn tokens(pointer: &str) -> Vec<String> {
    pointer.split('/').skip(1).map(|t| t.replace("~1", "/").replace("~0", "~")).collect()
}

/// Looks for the rest of the path in the value it is given.
struct Seek<'p>(&'p [String]);

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = Option<u64>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seek<'_> {
    type Value = Option<u64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(self.0.is_empty().then_some(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(u64::try_from(v).ok().filter(|_| self.0.is_empty()))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(if self.0.is_empty() { v.parse().ok() } else { None })
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(hit) = map.next_key_seed(KeyIs(self.0.first().map(String::as_str)))? {
            if hit {
                found = map.next_value_seed(Seek(&self.0[1..]))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // RFC 6901: an index is 0 or digits without a leading 0.
        let index = self.0.first().filter(|t| *t == "0" || !t.starts_with('0')).and_then(|t| t.parse::<usize>().ok());
        let mut found = None;
        let mut i = 0;
        loop {
            if Some(i) == index {
                match seq.next_element_seed(Seek(&self.0[1..]))? {
                    Some(v) => found = v,
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            i += 1;
        }
        Ok(found)
    }
}

/// Whether a key is the token looked for (`None`: nothing is).
struct KeyIs<'p>(Option<&'p str>);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        Ok(self.0 == Some(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// What `Value::pointer` finds, as `Matcher` reads it.
    fn reference(json: &str, pointer: &str) -> Option<u64> {
        let v: Value = serde_json::from_str(json).ok()?;
        match v.pointer(pointer)? {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }

    #[test]
    fn finds_what_value_pointer_finds() {
        let docs = [
            r#"{"jsonrpc":"2.0","id":42,"result":{"id":7,"list":[1,2,{"id":"9"}]}}"#,
            r#"{"id":1,"id":2}"#,
            r#"{"a/b":{"m~n":5},"":{"":6}}"#,
            r#"[10,20,[30,{"x":40}]]"#,
            r#"{"id":-1,"f":1.5,"s":"12x","big":18446744073709551615,"n":null,"t":true}"#,
            r#"{"id":"0042","nested":{"deep":{"deeper":{"id":3}}}}"#,
            r#"{"id":1} trailing"#,
            r#"{"id":1"#,
            "17",
            r#""23""#,
            r#"{"esc\"aped":8,"uni\u0041":9}"#,
        ];
        let pointers = [
            "",
            "/id",
            "/result/id",
            "/result/list/2/id",
            "/result/list/0",
            "/a~1b/m~0n",
            "//",
            "/0",
            "/2/0",
            "/2/1/x",
            "/02",
            "/f",
            "/s",
            "/big",
            "/n",
            "/t",
            "/nested/deep/deeper/id",
            "/esc\"aped",
            "/uniA",
            "/missing",
        ];
        for doc in docs {
            for p in pointers {
                assert_eq!(find_u64(doc.as_bytes(), &tokens(p)), reference(doc, p), "{doc} at {p:?}");
            }
        }
    }
}
