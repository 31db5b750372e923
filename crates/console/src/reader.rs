//! Reading the terminal on stdin on a thread of its own (a blocking read must not hold
//! an async worker), and stopping it: the thread polls stdin and a wake-up pipe, so it
//! ends when told, and nothing it would have read is stolen from [`drain_replies`].

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;
use tokio::sync::mpsc;

/// What the reader thread hands over.
#[derive(Debug)]
pub(crate) enum Chunk {
    Bytes(Vec<u8>),
    /// Stdin reached its end or failed (the terminal went away).
    Closed,
}

pub(crate) struct Reader {
    rx: mpsc::Receiver<Chunk>,
    wake: Option<OwnedFd>,
    thread: Option<JoinHandle<()>>,
}

impl Reader {
    pub(crate) fn spawn() -> io::Result<Reader> {
        let (wake_rx, wake_tx) = rustix::pipe::pipe()?;
        // Bounded: a long paste waits in the kernel's buffer rather than in memory.
        let (tx, rx) = mpsc::channel(64);
        let thread = std::thread::Builder::new().name("warden-console-input".into()).spawn(move || {
            read_loop(&wake_rx, &tx);
        })?;
        Ok(Reader { rx, wake: Some(wake_tx), thread: Some(thread) })
    }

    /// The next chunk; `None` once the thread ended.
    pub(crate) async fn recv(&mut self) -> Option<Chunk> {
        self.rx.recv().await
    }

    /// Tells the thread to stop and waits for it; returns how many device-attributes
    /// replies were among the chunks it read that nobody took.
    pub(crate) fn stop(&mut self) -> usize {
        if let Some(wake) = self.wake.take() {
            let _ = rustix::io::write(&wake, &[1]);
        }
        // The thread may wait for room in the channel: make room until it ends.
        self.rx.close();
        let mut replies = 0;
        let mut drop_chunks = |rx: &mut mpsc::Receiver<Chunk>| {
            while let Ok(chunk) = rx.try_recv() {
                if let Chunk::Bytes(b) = chunk {
                    replies += attributes_replies(&b);
                }
            }
        };
        drop_chunks(&mut self.rx);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        drop_chunks(&mut self.rx);
        replies
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.stop();
    }
}

fn read_loop(wake: &OwnedFd, tx: &mpsc::Sender<Chunk>) {
    let stdin = io::stdin();
    let fd = stdin.as_fd();
    let mut buf = vec![0u8; 4096];
    loop {
        let mut fds = [PollFd::new(&fd, PollFlags::IN), PollFd::new(wake, PollFlags::IN)];
        match poll(&mut fds, None) {
            Ok(_) => {}
            Err(Errno::INTR) => continue,
            Err(e) => {
                tracing::debug!(error = %e, "poll on stdin failed");
                let _ = tx.blocking_send(Chunk::Closed);
                return;
            }
        }
        if !fds[1].revents().is_empty() {
            return;
        }
        if fds[0].revents().is_empty() {
            continue;
        }
        match rustix::io::read(fd, &mut buf[..]) {
            Ok(0) => {
                let _ = tx.blocking_send(Chunk::Closed);
                return;
            }
            Ok(n) => {
                if tx.blocking_send(Chunk::Bytes(buf[..n].to_vec())).is_err() {
                    return;
                }
            }
            Err(Errno::INTR | Errno::AGAIN) => {}
            Err(_) => {
                let _ = tx.blocking_send(Chunk::Closed);
                return;
            }
        }
    }
}

/// Asks the terminal for its device attributes (`CSI c`) and reads stdin until the answer
/// came, or `timeout` passed, throwing everything away. Terminals answer in order, so
/// once that answer is in, every reply to a query the program sent before is in too,
/// and none is left for the shell to read as typed input. `owed`: how many
/// device-attributes replies to the program's own queries are still to come (they look
/// the same as ours, which is the last).
pub(crate) fn drain_replies(timeout: Duration, owed: usize) {
    let wanted = owed + 1;
    if rustix::io::write(io::stdout().as_fd(), b"\x1b[c").is_err() {
        return;
    }
    // What was read, up to a bound (a person typing meanwhile is thrown away too).
    let seen = read_until(timeout, |seen| attributes_replies(seen) >= wanted || seen.len() > 64 * 1024);
    if attributes_replies(&seen) < wanted {
        tracing::debug!("the terminal did not answer the device-attributes query");
    }
}

/// Asks the terminal where its cursor is (`CSI 6 n`) and reads stdin until the answer
/// came or `timeout` passed: the position (0-based row and column), and the other bytes
/// read meanwhile (keys typed ahead, which belong to the program).
pub(crate) fn cursor_position(timeout: Duration) -> (Option<(u16, u16)>, Vec<u8>) {
    if rustix::io::write(io::stdout().as_fd(), b"\x1b[6n").is_err() {
        return (None, Vec::new());
    }
    let mut seen = read_until(timeout, |seen| find_cursor_report(seen).is_some() || seen.len() > 64 * 1024);
    match find_cursor_report(&seen) {
        Some((at, len, row, col)) => {
            seen.drain(at..at + len);
            (Some((row.saturating_sub(1), col.saturating_sub(1))), seen)
        }
        None => (None, seen),
    }
}

/// The first cursor position report (`ESC [ row ; col R`) in `bytes`: where it starts,
/// its length, and the 1-based row and column.
pub(crate) fn find_cursor_report(bytes: &[u8]) -> Option<(usize, usize, u16, u16)> {
    let number = |b: &[u8]| -> Option<(u16, usize)> {
        let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let n = std::str::from_utf8(&b[..digits]).ok()?.parse().ok()?;
        Some((n, digits))
    };
    (0..bytes.len()).find_map(|at| {
        let rest = bytes[at..].strip_prefix(b"\x1b[")?;
        let (row, r) = number(rest)?;
        let rest = rest[r..].strip_prefix(b";")?;
        let (col, c) = number(rest)?;
        (rest.get(c) == Some(&b'R')).then_some((at, 2 + r + 1 + c + 1, row, col))
    })
}

/// Reads stdin until `done` holds for everything read, `timeout` passed, or stdin
/// ended; returns what was read.
fn read_until(timeout: Duration, mut done: impl FnMut(&[u8]) -> bool) -> Vec<u8> {
    let stdin = io::stdin();
    let fd = stdin.as_fd();
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return seen;
        }
        let ts = Timespec { tv_sec: left.as_secs() as i64, tv_nsec: i64::from(left.subsec_nanos()) };
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        match poll(&mut fds, Some(&ts)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(Errno::INTR) => continue,
            Err(_) => return seen,
        }
        match rustix::io::read(fd, &mut buf[..]) {
            Ok(0) => return seen,
            Ok(n) => {
                seen.extend_from_slice(&buf[..n]);
                if done(&seen) {
                    return seen;
                }
            }
            Err(Errno::INTR | Errno::AGAIN) => {}
            Err(_) => return seen,
        }
    }
}

/// How many primary device-attributes replies (`ESC [ ? digits;… c`) `bytes` hold.
pub(crate) fn attributes_replies(bytes: &[u8]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i + 3 <= bytes.len() {
        if bytes[i..].starts_with(b"\x1b[?") {
            let rest = &bytes[i + 3..];
            let params = rest.iter().take_while(|b| b.is_ascii_digit() || **b == b';').count();
            if params > 0 && rest.get(params) == Some(&b'c') {
                n += 1;
                i += 3 + params + 1;
                continue;
            }
        }
        i += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::{attributes_replies, find_cursor_report};

    #[test]
    fn counts_the_attributes_replies_among_other_replies() {
        assert_eq!(attributes_replies(b"\x1b[?1;2c"), 1);
        assert_eq!(attributes_replies(b"\x1b[12;1R\x1b[?1;2c\x1b]11;rgb:0/0/0\x07\x1b[?62;22c"), 2);
        assert_eq!(attributes_replies(b"\x1b[12;1R"), 0);
        assert_eq!(attributes_replies(b"\x1b[?1;2"), 0);
        assert_eq!(attributes_replies(b"\x1b[?c"), 0);
    }

    #[test]
    fn finds_the_cursor_report_among_typed_keys() {
        assert_eq!(find_cursor_report(b"\x1b[12;1R"), Some((0, 7, 12, 1)));
        assert_eq!(find_cursor_report(b"ab\x1b[A\x1b[3;40Rc"), Some((5, 7, 3, 40)));
        assert_eq!(find_cursor_report(b"\x1b[12;1"), None);
        assert_eq!(find_cursor_report(b"\x1b[?1;2c"), None);
    }
}
