//! `--payload random`: the filler after the stamp made of pseudo-random
//! bytes (binary) or pseudo-random alphanumerics (text, to stay UTF-8),
//! seeded per connection so the checker can rebuild it. Binary random
//! filler does not compress (deflate makes it slightly longer); random
//! alphanumerics carry about 6 bits per byte, so deflate takes them to
//! about 3/4. The default filler repeats with a short period and
//! compresses well.

use super::payload::STAMP_LEN;
use crate::results::setup::MessageType;

const ALNUM: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Overwrites `message[STAMP_LEN..]` with connection `conn`'s random filler.
pub fn randomize(message: &mut [u8], conn: u32, kind: MessageType) {
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (u64::from(conn) + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    for b in message.iter_mut().skip(STAMP_LEN) {
        // xorshift64*
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let r = (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32;
        *b = match kind {
            MessageType::Text => ALNUM[(r % ALNUM.len() as u32) as usize],
            MessageType::Binary => r as u8,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_filler_keeps_the_stamp_and_text_utf8() {
        let mut m = crate::engine::payload::message_template(5, MessageType::Text, 200);
        let stamp = m[..STAMP_LEN].to_vec();
        randomize(&mut m, 5, MessageType::Text);
        assert_eq!(&m[..STAMP_LEN], &stamp[..]);
        assert!(std::str::from_utf8(&m).is_ok());
        let mut again = crate::engine::payload::message_template(5, MessageType::Text, 200);
        randomize(&mut again, 5, MessageType::Text);
        assert_eq!(m, again, "the checker rebuilds the same message");
        let mut other = crate::engine::payload::message_template(6, MessageType::Text, 200);
        randomize(&mut other, 6, MessageType::Text);
        assert_ne!(m[STAMP_LEN..], other[STAMP_LEN..]);
    }
}
