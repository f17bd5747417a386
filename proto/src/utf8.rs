//! Incremental UTF-8 validation, so that a text message fails with 1007 as
//! soon as its bytes stop being UTF-8, even when a frame arrives in pieces
//! or a code point is split across fragments (Autobahn 6.4.x: fail fast).
//!
//! Each piece is checked by `simdutf8`'s `compat` API (SIMD, and the
//! `valid_up_to` / incomplete-at-end answers of `std::str::from_utf8`),
//! except pieces under [`SIMD_MIN`] bytes, which `std::str::from_utf8`
//! checks faster; only a code point cut off at the end of a piece is carried
//! over, in 4 bytes.
//!
//! Medians on the benchmarks' 2-core machine (`cargo bench --bench utf8`
//! and a scan of the sizes between), ASCII text, in ns:
//!
//! | bytes | 32 | 64 | 125 | 192 | 256 | 512 | 1024 | 64 KiB | 1 MiB |
//! | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
//! | `std` | 3.8 | 4.8 | 9.6 | 8.1 | 13.6 | 16.4 | 27.9 | 1169 | 19703 |
//! | `simdutf8` | 4.1 | 3.9 | 11.8 | 7.3 | 7.6 | 6.8 | 9.1 | 618 | 12379 |
//!
//! simdutf8 is slow on a long tail past its last 64-byte block (125 bytes:
//! one block and 61); on 3-byte CJK text it is 8-10x faster than `std` from
//! 1 KiB on.

/// Pieces shorter than this are checked by `std::str::from_utf8`.
pub const SIMD_MIN: usize = 192;

/// Where a piece stops being UTF-8: `Err((valid_up_to, incomplete))`, where
/// `incomplete` means it ends inside a code point that more bytes could finish.
#[inline]
fn from_utf8(data: &[u8]) -> Result<(), (usize, bool)> {
    if data.len() < SIMD_MIN {
        // A payload sits 6 or 8 bytes into the read buffer, and `std` reads
        // byte by byte until it is aligned: short ASCII text, the common
        // case, is taken 8 bytes at a time first (docs/performance.md,
        // round 11). It ends on a code point's boundary, being ASCII.
        let ascii = ascii_prefix(data);
        std::str::from_utf8(&data[ascii..]).map(drop).map_err(|e| (ascii + e.valid_up_to(), e.error_len().is_none()))
    } else {
        simdutf8::compat::from_utf8(data).map(drop).map_err(|e| (e.valid_up_to(), e.error_len().is_none()))
    }
}

/// How many leading bytes, in whole 8-byte words, are all ASCII.
#[inline]
fn ascii_prefix(data: &[u8]) -> usize {
    let mut words = data.chunks_exact(8);
    let mut n = 0;
    for word in &mut words {
        let word = u64::from_ne_bytes(word.try_into().expect("chunks of 8"));
        if word & 0x8080_8080_8080_8080 != 0 {
            break;
        }
        n += 8;
    }
    n
}

/// Why a whole text is not UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WholeError {
    /// A byte that no UTF-8 text can have there.
    Invalid,
    /// It ends inside a code point.
    Truncated,
}

/// Checks a whole text at once: what feeding it to a fresh validator and
/// finishing would say, without the validator.
#[inline]
pub(crate) fn check_whole(data: &[u8]) -> Result<(), WholeError> {
    match from_utf8(data) {
        Ok(()) => Ok(()),
        Err((_, true)) => Err(WholeError::Truncated),
        Err((_, false)) => Err(WholeError::Invalid),
    }
}

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
                Ok(()) => self.pending_len = 0,
                Err((_, true)) => {
                    self.pending_len = joined.len() as u8;
                    return Ok(());
                }
                Err(_) => return Err(InvalidUtf8),
            }
            data = &data[take..];
        }
        match from_utf8(data) {
            Ok(()) => Ok(()),
            Err((valid_up_to, true)) => {
                let tail = &data[valid_up_to..];
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
    fn long_pieces_take_the_simd_path_with_the_same_answers() {
        let mut text = "κόσμε".repeat(100).into_bytes();
        assert!(text.len() > SIMD_MIN);
        assert_eq!(feed_split(&text, &[7, 300]), Ok(()));
        assert_eq!(check_whole(&text), Ok(()));
        text.push(0xe2);
        assert_eq!(check_whole(&text), Err(WholeError::Truncated));
        assert_eq!(feed_split(&text, &[250]), Err(InvalidUtf8));
        text.push(b'x');
        assert_eq!(check_whole(&text), Err(WholeError::Invalid));
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(&text), Err(InvalidUtf8));
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

    #[test]
    fn short_text_past_an_ascii_run_gets_the_same_answers_as_std() {
        // Every length of ASCII run before a bad, a cut and a good code
        // point: the 8-byte ASCII words and the bytes after them agree.
        for run in 0..40 {
            for tail in [&b"\xff"[..], b"\xe2\x82", b"\xe2\x82\xac", b"\xc0\xaf", b""] {
                let mut text = vec![b'a'; run];
                text.extend_from_slice(tail);
                text.extend_from_slice(b"bc");
                let want = std::str::from_utf8(&text).map(drop).map_err(|e| (e.valid_up_to(), e.error_len().is_none()));
                assert_eq!(from_utf8(&text), want, "{run} ASCII bytes then {tail:?}");
                text.truncate(run + tail.len());
                let want = std::str::from_utf8(&text).map(drop).map_err(|e| (e.valid_up_to(), e.error_len().is_none()));
                assert_eq!(from_utf8(&text), want, "{run} ASCII bytes then {tail:?}, at the end");
            }
        }
    }
}
