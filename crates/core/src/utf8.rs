//! Cutting a byte stream into chunks that never split a UTF-8 character.
//!
//! PTY reads end wherever the kernel's buffer ended, often in the middle of a
//! multi-byte character. [`Utf8Carry`] holds back an incomplete trailing
//! sequence (at most 3 bytes) and prepends it to the next chunk, so that text
//! consumers never see a valid character as two replacement characters.
//! Bytes that are not UTF-8 at all pass through unchanged.

use bytes::{Bytes, BytesMut};

/// Length of the longest prefix of `buf` that does not end inside an
/// incomplete (but so far valid) UTF-8 sequence.
pub fn complete_prefix_len(buf: &[u8]) -> usize {
    let n = buf.len();
    // Look back at most 3 bytes for the lead byte of the last sequence.
    for back in 1..=3.min(n) {
        let b = buf[n - back];
        if b & 0b1100_0000 == 0b1000_0000 {
            continue; // continuation byte: keep looking for the lead
        }
        let need = match b {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return n, // ASCII or not a lead byte: nothing to hold back
        };
        return if back < need { n - back } else { n };
    }
    n
}

/// Carries an incomplete trailing UTF-8 sequence from one chunk to the next.
#[derive(Debug, Default, Clone)]
pub struct Utf8Carry {
    pending: BytesMut,
}

impl Utf8Carry {
    /// A carry with nothing pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next chunk and returns what can be emitted now (possibly empty).
    pub fn push(&mut self, chunk: Bytes) -> Bytes {
        let whole = if self.pending.is_empty() {
            chunk
        } else {
            self.pending.extend_from_slice(&chunk);
            std::mem::take(&mut self.pending).freeze()
        };
        let cut = complete_prefix_len(&whole);
        if cut < whole.len() {
            self.pending.extend_from_slice(&whole[cut..]);
        }
        whole.slice(..cut)
    }

    /// Returns whatever is held back (at end of stream).
    pub fn flush(&mut self) -> Bytes {
        std::mem::take(&mut self.pending).freeze()
    }

    /// Bytes held back.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn holds_back_a_split_character() {
        let s = "héllo ✓ 𝄞".as_bytes();
        let mut c = Utf8Carry::new();
        let mut out = Vec::new();
        for part in s.chunks(1) {
            let emitted = c.push(Bytes::copy_from_slice(part));
            assert!(std::str::from_utf8(&emitted).is_ok());
            out.extend_from_slice(&emitted);
        }
        out.extend_from_slice(&c.flush());
        assert_eq!(out, s);
    }

    #[test]
    fn invalid_bytes_pass_through() {
        let mut c = Utf8Carry::new();
        assert_eq!(&c.push(Bytes::from_static(b"a\xff")), &b"a\xff"[..]);
        assert_eq!(&c.push(Bytes::from_static(b"\x80\x80\x80")), &b"\x80\x80\x80"[..]);
        assert_eq!(c.pending(), 0);
    }

    proptest! {
        #[test]
        fn any_split_preserves_bytes_and_valid_text(s in ".{0,64}", raw in proptest::collection::vec(any::<u8>(), 0..64), cuts in proptest::collection::vec(0usize..80, 0..8)) {
            let mut data = s.clone().into_bytes();
            data.extend_from_slice(&raw);
            let mut cuts = cuts.into_iter().map(|c| c.min(data.len())).collect::<Vec<_>>();
            cuts.sort_unstable();
            let mut c = Utf8Carry::new();
            let mut out = Vec::new();
            let mut prev = 0;
            for cut in cuts.into_iter().chain([data.len()]) {
                out.extend_from_slice(&c.push(Bytes::copy_from_slice(&data[prev..cut])));
                prev = cut;
            }
            out.extend_from_slice(&c.flush());
            prop_assert_eq!(&out, &data);
            // A valid-UTF-8 stream always comes out as valid chunks.
            let mut c = Utf8Carry::new();
            let text = s.as_bytes();
            for part in text.chunks(3) {
                let e = c.push(Bytes::copy_from_slice(part));
                prop_assert!(std::str::from_utf8(&e).is_ok());
            }
        }
    }
}
