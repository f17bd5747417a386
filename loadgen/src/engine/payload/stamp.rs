//! The stamp at the start of every message, `CCCCCCCCSSSSSSSSSSSS`: the
//! connection id (8 hex digits) and the sequence number (12), written into
//! each message sent and read back from each reply.

/// Bytes of the stamp at the start of every message.
pub const STAMP_LEN: usize = 20;
/// Where the sequence number starts in the stamp.
pub const SEQ_OFFSET: usize = 8;
const HEX: &[u8; 16] = b"0123456789abcdef";

/// Writes the 12 hex digits of `seq` into `out[..12]`.
#[inline]
pub fn write_seq(out: &mut [u8], seq: u64) {
    for (i, b) in out[..STAMP_LEN - SEQ_OFFSET].iter_mut().enumerate() {
        *b = HEX[((seq >> (4 * (11 - i))) & 0xF) as usize];
    }
}

/// [`write_seq`], masked with `mask` from key byte 0 (the digits start at
/// a multiple of 4 in a client frame): masked in a register and stored
/// once, not read back from the buffer as words just stored byte by byte.
#[inline]
pub fn write_seq_masked(out: &mut [u8], seq: u64, mask: [u8; 4]) {
    let mut digits = [0u8; STAMP_LEN - SEQ_OFFSET];
    write_seq(&mut digits, seq);
    for (d, k) in digits.iter_mut().zip(mask.iter().cycle()) {
        *d ^= k;
    }
    out[..digits.len()].copy_from_slice(&digits);
}

/// Writes a whole stamp into `out[..STAMP_LEN]`.
pub fn write_stamp(out: &mut [u8], conn: u32, seq: u64) {
    for (i, b) in out[..SEQ_OFFSET].iter_mut().enumerate() {
        *b = HEX[((conn >> (4 * (7 - i))) & 0xF) as usize];
    }
    write_seq(&mut out[SEQ_OFFSET..], seq);
}

/// Reads a stamp back; `None` if it is not one.
#[inline]
pub fn read_stamp(b: &[u8]) -> Option<(u32, u64)> {
    if b.len() < STAMP_LEN {
        return None;
    }
    let conn = parse_hex(&b[..SEQ_OFFSET])?;
    Some((conn as u32, parse_hex(&b[SEQ_OFFSET..STAMP_LEN])?))
}

/// Each byte's value as a lowercase hex digit; 0xFF for any other byte.
const HEX_VALUE: [u8; 256] = {
    let mut table = [0xFF; 256];
    let mut i = 0;
    while i < 16 {
        table[HEX[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// The number `digits` spell in lowercase hex (at most 16 of them), or
/// `None`. Branch-free per digit: a match per digit was a visible part of
/// the per-reply cost (`read_stamp` 5 % of a pipelined run).
#[inline]
pub(super) fn parse_hex(digits: &[u8]) -> Option<u64> {
    let (mut value, mut bad) = (0u64, 0u8);
    for &c in digits {
        let d = HEX_VALUE[c as usize];
        bad |= d;
        value = (value << 4) | u64::from(d & 0xF);
    }
    (bad & 0xF0 == 0).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::payload::message_template;
    use crate::results::setup::MessageType;

    #[test]
    fn masked_digits_are_the_digits_then_masked() {
        for (seq, mask) in [(0, [0, 0, 0, 0]), (0xfedc_ba98_7654, [1, 0x80, 0xff, 0x3c]), (42, [9, 8, 7, 6])] {
            let mut expected = [0xAAu8; 14];
            write_seq(&mut expected, seq);
            wsbench_proto::unmask_at(&mut expected[..12], mask, 0);
            let mut got = [0xAAu8; 14];
            write_seq_masked(&mut got, seq, mask);
            assert_eq!(got, expected, "seq {seq:#x}: the 12 digits masked, the bytes after untouched");
        }
    }

    #[test]
    fn stamps_read_back_and_anything_else_is_refused() {
        let mut b = [0u8; STAMP_LEN];
        for (conn, seq) in [(0, 0), (7, 1), (u32::MAX, (1 << 48) - 1), (0x1234_abcd, 0xfedc_ba98_7654)] {
            write_stamp(&mut b, conn, seq);
            assert_eq!(read_stamp(&b), Some((conn, seq)));
        }
        for (at, bad) in [(0, b'g'), (3, b'A'), (8, b'/'), (19, b':'), (12, 0xFF), (19, b' ')] {
            let mut c = b;
            c[at] = bad;
            assert_eq!(read_stamp(&c), None, "byte {bad:#x} at {at}");
        }
        assert_eq!(read_stamp(&b[..STAMP_LEN - 1]), None);
    }

    #[test]
    fn stamps_round_trip() {
        let mut b = [0u8; STAMP_LEN];
        write_stamp(&mut b, 0xdead_beef, 0x0123_4567_89ab);
        assert_eq!(&b, b"deadbeef0123456789ab");
        assert_eq!(read_stamp(&b), Some((0xdead_beef, 0x0123_4567_89ab)));
        assert!(std::str::from_utf8(&message_template(7, MessageType::Text, 100)).is_ok());
    }
}
