//! Deterministic ids: FNV-1a 64 over the parts that identify a record, with
//! a separator byte between parts so that ("ab","c") and ("a","bc") differ.
//! Stable across runs, builds and platforms, which std's SipHash with random
//! keys is not.

/// FNV-1a 64 of `parts`, separated by 0x1f.
pub fn hash_parts(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h ^= 0x1f;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        for &b in *p {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// 16 lowercase hex digits (written by hand: `format!` costs more than the
/// rest of a bucket close).
pub fn hex(h: u64) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(16);
    for shift in (0..16).rev() {
        out.push(char::from(DIGITS[((h >> (shift * 4)) & 0xf) as usize]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_matter_and_values_are_stable() {
        assert_ne!(hash_parts(&[b"ab", b"c"]), hash_parts(&[b"a", b"bc"]));
        // FNV-1a 64 of the empty input is the offset basis.
        assert_eq!(hash_parts(&[]), 0xcbf2_9ce4_8422_2325);
        assert_eq!(hex(hash_parts(&[b"a"])), "af63dc4c8601ec8c");
        assert_eq!(hex(0xff), "00000000000000ff");
    }
}
