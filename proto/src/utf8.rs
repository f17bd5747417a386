//! Incremental UTF-8 validation, so that a text message fails with 1007 as
//! soon as its bytes stop being UTF-8, even when a frame arrives in pieces
//! or a code point is split across fragments (Autobahn 6.4.x: fail fast).
//!
//! Each piece is checked by `simdutf8`'s `compat` API (SIMD, and the
//! `valid_up_to` / incomplete-at-end answers of `std::str::from_utf8`); only
//! a code point cut off at the end of a piece is carried over, in 4 bytes.

use simdutf8::compat::from_utf8;

/// Validates a byte stream fed in arbitrary pieces.
#[derive(Debug, Default, Clone)]
pub struct Utf8Validator {
    /// The start of a code point cut off at the end of the last piece.
    pending: [u8; 4],
    pending_len: u8,
}

/// The bytes fed so far are not a prefix of any UTF-8 text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUtf8;

impl std::fmt::Display for InvalidUtf8 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("invalid UTF-8")
    }
}

impl std::error::Error for InvalidUtf8 {}

impl Utf8Validator {
    /// A validator at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next piece of the stream; fails at the first byte that
    /// cannot continue UTF-8 text.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), InvalidUtf8> {
        if self.pending_len > 0 {
            let have = self.pending_len as usize;
            let width = utf8_width(self.pending[0]);
            let take = (width - have).min(data.len());
            self.pending[have..have + take].copy_from_slice(&data[..take]);
            let joined = &self.pending[..have + take];
            match from_utf8(joined) {
                Ok(_) => self.pending_len = 0,
                Err(e) if e.error_len().is_none() => {
                    self.pending_len = joined.len() as u8;
                    return Ok(());
                }
                Err(_) => return Err(InvalidUtf8),
            }
            data = &data[take..];
        }
        match from_utf8(data) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                let tail = &data[e.valid_up_to()..];
                self.pending[..tail.len()].copy_from_slice(tail);
                self.pending_len = tail.len() as u8;
                Ok(())
            }
            Err(_) => Err(InvalidUtf8),
        }
    }

    /// Ends the stream: a code point still cut off is an error.
    pub fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let complete = self.pending_len == 0;
        self.pending_len = 0;
        if complete {
            Ok(())
        } else {
            Err(InvalidUtf8)
        }
    }

    /// Forgets any state, for the next message.
    pub fn reset(&mut self) {
        self.pending_len = 0;
    }
}

/// Whether `bytes` are UTF-8 as a whole.
pub fn is_utf8(bytes: &[u8]) -> bool {
    simdutf8::basic::from_utf8(bytes).is_ok()
}

/// Length of the code point that `first` starts; only called on bytes that
/// the validator accepted as the start of an incomplete code point.
fn utf8_width(first: u8) -> usize {
    match first {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_split(bytes: &[u8], cuts: &[usize]) -> Result<(), InvalidUtf8> {
        let mut v = Utf8Validator::new();
        let mut at = 0;
        for &c in cuts {
            v.feed(&bytes[at..c])?;
            at = c;
        }
        v.feed(&bytes[at..])?;
        v.finish()
    }

    #[test]
    fn accepts_valid_text_split_anywhere() {
        let text = "κόσμε 接收到消息 😀 a".as_bytes();
        for i in 0..=text.len() {
            for j in i..=text.len() {
                assert_eq!(feed_split(text, &[i, j]), Ok(()), "cuts {i} {j}");
            }
        }
    }

    #[test]
    fn rejects_invalid_bytes_as_soon_as_they_arrive() {
        // F4 90 is already past U+10FFFF: the second byte decides.
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(&[0xf4]), Ok(()));
        assert_eq!(v.feed(&[0x90]), Err(InvalidUtf8));
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(b"ok\xed"), Ok(()));
        assert_eq!(v.feed(b"\xa0\x80"), Err(InvalidUtf8), "surrogate");
        assert_eq!(Utf8Validator::new().feed(b"\xff"), Err(InvalidUtf8));
    }

    #[test]
    fn rejects_a_truncated_code_point_at_the_end() {
        let text = "😀".as_bytes();
        assert_eq!(feed_split(&text[..3], &[1]), Err(InvalidUtf8));
    }

    #[test]
    fn agrees_with_std_on_every_split_of_mixed_bytes() {
        let samples: [&[u8]; 5] = [
            b"\xce\xba\xe1\xbd\xb9",
            b"a\xc0\xafb",
            b"\xf0\x9f\x98",
            b"\xed\x9f\xbf\xee\x80\x80",
            b"\xf8\x88\x80\x80\x80",
        ];
        for s in samples {
            for i in 0..=s.len() {
                assert_eq!(feed_split(s, &[i]).is_ok(), std::str::from_utf8(s).is_ok(), "{s:?} cut at {i}");
            }
        }
    }
}
