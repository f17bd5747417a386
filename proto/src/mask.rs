//! The masking kernel (RFC 6455, 5.3), one for both ends: unmasking and
//! masking are the same XOR.
//!
//! It is the kernel the server used through fastwebsockets 0.10
//! (`fastwebsockets::unmask`, Apache-2.0): bytes up to the first 4-byte
//! boundary one at a time, then aligned `u32` words XORed with the key
//! rotated to that boundary, then the tail. LLVM vectorizes the word loop.
//! Splitting the slice into aligned words needs `align_to_mut`, the one
//! `unsafe` block of this crate: it is sound because every bit pattern is a
//! valid `u32` and the words are only XORed and written back.

/// XORs `payload` with `mask`, as if `payload` started `offset` bytes into
/// its frame's payload: the key is rotated so that a payload can be
/// (un)masked piecewise, as it arrives.
#[inline]
pub fn unmask_at(payload: &mut [u8], mask: [u8; 4], offset: usize) {
    let r = offset % 4;
    let key = [mask[r], mask[(r + 1) % 4], mask[(r + 2) % 4], mask[(r + 3) % 4]];
    unmask(payload, key);
}

/// `payload[i] ^= mask[i % 4]` for every `i`.
#[inline]
pub fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    let mask_u32 = u32::from_ne_bytes(mask);
    #[allow(unsafe_code)]
    // SAFETY: any bit pattern is a valid u32; `align_to_mut` only reinterprets
    // the aligned middle of the slice, whose bytes stay in place.
    let (prefix, words, suffix) = unsafe { payload.align_to_mut::<u32>() };
    unmask_bytes(prefix, mask);
    let head = prefix.len() & 3;
    let mask_u32 = if head > 0 {
        if cfg!(target_endian = "big") {
            mask_u32.rotate_left(8 * head as u32)
        } else {
            mask_u32.rotate_right(8 * head as u32)
        }
    } else {
        mask_u32
    };
    for word in words.iter_mut() {
        *word ^= mask_u32;
    }
    unmask_bytes(suffix, mask_u32.to_ne_bytes());
}

/// Unmasks the `len` bytes at `buf[src..]` into `buf[dst..]`, `dst <= src`:
/// one pass that both moves and unmasks, where unmasking in place and then
/// moving would read and write every byte twice (the server's echo of a
/// pipelined batch, see [`Decoder::echo_whole`](crate::Decoder::echo_whole)).
/// Returns whether every unmasked byte is ASCII, seen on the way, so that
/// ASCII text needs no second pass to be validated as UTF-8.
///
/// Each chunk is read whole before it is written, and a write never
/// reaches past the chunk just read (`dst <= src`), so the overlap is safe.
///
/// # Panics
/// If `dst > src` or `src + len` is past the end of `buf`.
#[inline]
pub fn unmask_move(buf: &mut [u8], src: usize, dst: usize, len: usize, mask: [u8; 4]) -> bool {
    assert!(dst <= src && src + len <= buf.len(), "unmask_move out of bounds");
    const CHUNK: usize = 16;
    let key = u128::from_ne_bytes(std::array::from_fn(|i| mask[i & 3]));
    // The OR of every unmasked byte: ASCII if no top bit is set.
    let mut seen = 0u128;
    let mut i = 0;
    while i + CHUNK <= len {
        let chunk = u128::from_ne_bytes(buf[src + i..src + i + CHUNK].try_into().expect("CHUNK bytes")) ^ key;
        seen |= chunk;
        buf[dst + i..dst + i + CHUNK].copy_from_slice(&chunk.to_ne_bytes());
        i += CHUNK;
    }
    let mut tail = 0;
    for j in i..len {
        let byte = buf[src + j] ^ mask[j & 3];
        tail |= byte;
        buf[dst + j] = byte;
    }
    seen & u128::from_ne_bytes([0x80; CHUNK]) == 0 && tail < 0x80
}

#[inline]
fn unmask_bytes(payload: &mut [u8], mask: [u8; 4]) {
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_the_definition_at_every_length_alignment_and_offset() {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let data: Vec<u8> = (0..=255u8).cycle().take(300).collect();
        for start in 0..8 {
            for len in (0..70).chain([255, 256, 257, 292]) {
                for offset in 0..5 {
                    let mut got = data[start..start + len].to_vec();
                    unmask_at(&mut got, mask, offset);
                    let want: Vec<u8> =
                        data[start..start + len].iter().enumerate().map(|(i, b)| b ^ mask[(i + offset) % 4]).collect();
                    assert_eq!(got, want, "start {start} len {len} offset {offset}");
                }
            }
        }
    }

    #[test]
    fn unmask_move_agrees_with_the_definition_at_every_shift_and_length() {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let data: Vec<u8> = (0..=255u8).cycle().take(400).collect();
        for shift in [0, 1, 4, 5, 16, 17, 100] {
            for len in (0..70).chain([255, 256, 257, 292]) {
                let src = 101;
                let mut buf = data.clone();
                let ascii = unmask_move(&mut buf, src, src - shift, len, mask);
                let want: Vec<u8> = data[src..src + len].iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
                assert_eq!(ascii, want.is_ascii(), "shift {shift} len {len}");
                assert_eq!(&buf[src - shift..src - shift + len], &want[..], "shift {shift} len {len}");
                assert_eq!(&buf[..src - shift], &data[..src - shift], "nothing before the target is touched");
            }
        }
    }

    #[test]
    fn unmask_move_finds_the_one_byte_that_is_not_ascii() {
        let mask = [0x37, 0x7a, 0x21, 0x3d];
        for len in [1, 15, 16, 17, 40] {
            for at in 0..len {
                let mut plain = vec![b'a'; len];
                plain[at] = 0xce;
                let mut buf: Vec<u8> = plain.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
                assert!(!unmask_move(&mut buf, 0, 0, len, mask), "len {len}, at {at}");
                assert_eq!(buf, plain);
            }
        }
    }

    #[test]
    fn piecewise_unmask_equals_whole() {
        let mask = [0x11, 0x22, 0x33, 0x44];
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let mut whole = data.clone();
        unmask_at(&mut whole, mask, 0);
        let mut pieces = data.clone();
        let mut at = 0;
        for step in [1, 3, 7, 100, 889] {
            unmask_at(&mut pieces[at..at + step], mask, at);
            at += step;
        }
        assert_eq!(at, 1000);
        assert_eq!(whole, pieces);
    }
}
