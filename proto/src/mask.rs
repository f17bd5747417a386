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
