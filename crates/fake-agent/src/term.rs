//! The fake agent's terminal: raw mode (restored on drop), unbuffered writes to
//! stdout, and keys read from stdin as the byte sequences terminals send.

use std::io::{self, Write};
use std::time::{Duration, Instant};

/// How long a lone ESC waits for the rest of a sequence before it counts as `escape`.
const ESC_WAIT: Duration = Duration::from_millis(30);

/// Raw mode on stdin while alive; the saved settings come back on drop.
pub struct RawMode {
    saved: Option<libc::termios>,
}

impl RawMode {
    /// Puts stdin in raw mode (no echo, no line editing, no output processing;
    /// signals kept so Ctrl-C still interrupts). Does nothing when stdin is not a terminal.
    pub fn enter() -> RawMode {
        if !std::io::IsTerminal::is_terminal(&io::stdin()) {
            return RawMode { saved: None };
        }
        // SAFETY: tcgetattr only reads the descriptor's state into a zeroed
        // termios we own; tcsetattr reads the copy we pass.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut saved) != 0 {
                return RawMode { saved: None };
            }
            let mut raw = saved;
            raw.c_iflag &= !(libc::IGNBRK | libc::BRKINT | libc::PARMRK | libc::ISTRIP | libc::INLCR);
            raw.c_iflag &= !(libc::IGNCR | libc::ICRNL | libc::IXON);
            raw.c_oflag &= !libc::OPOST;
            raw.c_lflag &= !(libc::ECHO | libc::ECHONL | libc::ICANON | libc::IEXTEN);
            raw.c_cflag |= libc::CS8;
            raw.c_cc[libc::VMIN] = 1;
            raw.c_cc[libc::VTIME] = 0;
            libc::tcsetattr(0, libc::TCSANOW, &raw);
            RawMode { saved: Some(saved) }
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            // SAFETY: restores settings read from the same descriptor.
            unsafe {
                libc::tcsetattr(0, libc::TCSANOW, saved);
            }
        }
    }
}

/// The terminal width in columns (120 when unknown).
pub fn columns() -> usize {
    // SAFETY: TIOCGWINSZ fills a winsize we own.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_col >= 20 { usize::from(ws.ws_col) } else { 120 }
    }
}

/// Writes and flushes at once, as a TUI does after each frame.
pub fn out(bytes: &[u8]) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(bytes)?;
    stdout.flush()
}

/// Waits until stdin is readable or the deadline passes; true when readable.
fn readable(until: Option<Instant>) -> bool {
    let timeout = match until {
        None => -1,
        Some(t) => {
            let left = t.saturating_duration_since(Instant::now()).as_millis();
            i32::try_from(left).unwrap_or(i32::MAX)
        }
    };
    let mut fd = libc::pollfd { fd: 0, events: libc::POLLIN, revents: 0 };
    // SAFETY: one pollfd we own.
    let n = unsafe { libc::poll(&mut fd, 1, timeout) };
    n > 0
}

/// Reads keys from stdin, one terminal sequence at a time.
#[derive(Default)]
pub struct Keys {
    buf: Vec<u8>,
    eof: bool,
}

/// What a read produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    /// One key: the bytes of one sequence (a character, a control byte, an escape sequence).
    Key(Vec<u8>),
    /// The deadline passed.
    Timeout,
    /// Stdin closed.
    Eof,
}

impl Keys {
    /// The next key, waiting until `until` (forever when `None`).
    pub fn next(&mut self, until: Option<Instant>) -> Read {
        loop {
            if let Some(len) = sequence_len(&self.buf) {
                return Read::Key(self.buf.drain(..len).collect());
            }
            // A lone ESC, or one whose sequence stopped short: escape after a short wait.
            if self.buf.first() == Some(&0x1b) && !self.fill(Some(Instant::now() + ESC_WAIT)) {
                return Read::Key(self.buf.drain(..1).collect());
            }
            if !self.buf.is_empty() && self.buf[0] != 0x1b && !self.fill(Some(Instant::now() + ESC_WAIT)) {
                // A partial UTF-8 character that never completed: hand over its bytes.
                return Read::Key(std::mem::take(&mut self.buf));
            }
            if self.buf.is_empty() {
                if self.eof {
                    return Read::Eof;
                }
                if !self.fill(until) {
                    return if self.eof { Read::Eof } else { Read::Timeout };
                }
            }
        }
    }

    /// Reads what is available; false on timeout or end of input.
    fn fill(&mut self, until: Option<Instant>) -> bool {
        if self.eof || !readable(until) {
            return false;
        }
        let mut chunk = [0u8; 1024];
        // SAFETY: reads into a buffer we own, at most its length.
        let n = unsafe { libc::read(0, chunk.as_mut_ptr().cast(), chunk.len()) };
        match usize::try_from(n) {
            Ok(0) | Err(_) => {
                self.eof = true;
                false
            }
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }
}

/// The length of the complete key sequence at the start of `buf`, if there is one.
fn sequence_len(buf: &[u8]) -> Option<usize> {
    let first = *buf.first()?;
    if first == 0x1b {
        return match buf.get(1)? {
            // CSI: parameters and intermediates, then a final byte in 0x40..=0x7e.
            b'[' => buf.iter().skip(2).position(|b| (0x40..=0x7e).contains(b)).map(|i| i + 3),
            // SS3: one more byte.
            b'O' => buf.get(2).map(|_| 3),
            // Alt+key.
            _ => Some(2),
        };
    }
    let len = match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 1,
    };
    (buf.len() >= len).then_some(len)
}

#[cfg(test)]
mod tests {
    use super::sequence_len;

    #[test]
    fn sequences_are_split_like_a_terminal_sends_them() {
        assert_eq!(sequence_len(b"\r"), Some(1));
        assert_eq!(sequence_len(b"\x1b[B\r"), Some(3));
        assert_eq!(sequence_len(b"\x1b[1;5A"), Some(6));
        assert_eq!(sequence_len(b"\x1bOA"), Some(3));
        assert_eq!(sequence_len(b"\x1b["), None);
        assert_eq!(sequence_len(b"\x1b"), None);
        assert_eq!(sequence_len("é".as_bytes()), Some(2));
        assert_eq!(sequence_len(&"é".as_bytes()[..1]), None);
        assert_eq!(sequence_len(b""), None);
    }
}
