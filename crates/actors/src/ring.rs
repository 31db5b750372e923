//! The last output bytes of a session, kept for redrawing a terminal.

use std::collections::VecDeque;

/// The last N bytes of output, for redrawing a terminal, and the count of
/// every byte the session printed (it goes from one process of a session to
/// the next, so the count runs on over restarts).
pub(crate) struct OutputRing {
    buf: VecDeque<u8>,
    cap: usize,
    written: u64,
}

impl OutputRing {
    pub(crate) fn new(cap: usize) -> Self {
        OutputRing { buf: VecDeque::new(), cap, written: 0 }
    }

    /// Every byte pushed so far: the offset of the next output.
    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    pub(crate) fn push(&mut self, data: &[u8]) {
        self.written += data.len() as u64;
        if self.cap == 0 {
            return;
        }
        let data = if data.len() > self.cap { &data[data.len() - self.cap..] } else { data };
        let overflow = (self.buf.len() + data.len()).saturating_sub(self.cap);
        self.buf.drain(..overflow);
        self.buf.extend(data);
    }

    pub(crate) fn to_vec(&self) -> Vec<u8> {
        let (a, b) = self.buf.as_slices();
        [a, b].concat()
    }
}

#[cfg(test)]
mod tests {
    use super::OutputRing;

    #[test]
    fn ring_keeps_the_last_bytes() {
        let mut r = OutputRing::new(5);
        r.push(b"abc");
        r.push(b"defg");
        assert_eq!(r.to_vec(), b"cdefg");
        r.push(b"0123456789");
        assert_eq!(r.to_vec(), b"56789");
        assert_eq!(r.written(), 17);
        let mut none = OutputRing::new(0);
        none.push(b"x");
        assert!(none.to_vec().is_empty());
        assert_eq!(none.written(), 1, "counted even when nothing is kept");
    }
}
