//! [`Console`]: the terminal on stdin/stdout in raw mode, what the person does, what
//! the session shows, and the restore that always runs.

use std::collections::VecDeque;
use std::io::{self, IsTerminal, Write};
use std::os::fd::AsFd;
use std::time::Duration;

use bytes::Bytes;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::time::Instant;
use warden_core::TermSize;
use warden_core::term::{Query, QueryScanner, Screen};

use crate::input::{HOLD_FOR, KeySplitter, Piece};
use crate::raw::{self, PUSH_TITLE, RawMode};
use crate::reader::{Chunk, Reader, attributes_replies, cursor_position, drain_replies, find_cursor_report};
use crate::status::{clear_status, draw_status, past_origin_mode};
use crate::stop::recv_signal;

/// How long a note stays on the status line.
const NOTE_FOR: Duration = Duration::from_secs(4);
/// How long the restore waits for the terminal's pending replies.
const DRAIN_FOR: Duration = Duration::from_secs(1);
/// How long opening waits for the terminal to say where its cursor is.
const CURSOR_FOR: Duration = Duration::from_millis(500);
/// A terminal that answered the cursor-position question after [`CURSOR_FOR`] (a slow
/// link) sends its report later: until this long after opening, the first report that
/// comes is taken out of the keys instead of reaching the agent as typed input.
const LATE_REPORT_FOR: Duration = Duration::from_secs(5);

/// Why a console cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// Stdin or stdout is not a terminal.
    #[error("stdin and stdout must both be a terminal")]
    NotATerminal,
    /// The terminal could not be set up.
    #[error("cannot set up the terminal: {0}")]
    Io(#[from] io::Error),
}

/// How a console behaves.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConsoleOptions {
    /// The byte that detaches (see [`crate::detach_key_byte`]), and the escape
    /// sequences of its key in kitty's keyboard protocol and xterm's modifyOtherKeys
    /// (`CSI 93 ; 5 u`, `CSI 27 ; 5 ; 93 ~` for ctrl+]); `None`: no detach key, every
    /// byte goes to the session.
    pub detach_key: Option<u8>,
}

/// What the person did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleInput {
    /// Bytes for the session: keystrokes, pastes, and the terminal's replies to the
    /// session's queries.
    Keys(Bytes),
    /// The terminal has a new size.
    Resize(TermSize),
    /// The detach key.
    Detach,
    /// `y` (true) or `n` (false) while a question is on the status line.
    Answer(bool),
    /// The terminal went away.
    Closed,
}

/// The person's terminal, in raw mode until the console is dropped.
///
/// Dropping it (or [`Console::close`]) restores the terminal: an escape sequence or
/// string the session's output stopped in is ended, the status line is taken away, the
/// modes the output turned on are turned off, the window title pushed on the terminal's
/// title stack at the opening is popped, the terminal's replies still on their way are
/// read and dropped, and the saved settings come back.
/// A panic restores the modes and the settings from its hook.
pub struct Console {
    raw: RawMode,
    reader: Reader,
    winch: Option<Signal>,
    /// What the terminal shows, as far as the session's output goes: for the cursor,
    /// the bottom row and the modes to undo.
    screen: Screen,
    size: TermSize,
    /// The detach key and the answers in what is read, across reads.
    keys: KeySplitter,
    /// Until when the start of an escape sequence at the end of the last read waits for
    /// the rest (see [`KeySplitter`]).
    held_until: Option<Instant>,
    question: Option<String>,
    note: Option<(String, Instant)>,
    /// The status line is on the terminal now, on this row (1-based: the terminal's
    /// height when it was drawn).
    drawn: Option<u16>,
    /// The status line is to be drawn or taken away once the output is out of the
    /// escape sequence (or character) it stopped in.
    owed: bool,
    pending: VecDeque<ConsoleInput>,
    closed: bool,
    /// Device-attributes queries in the output, and replies to them passed on: the
    /// difference is still on its way when the console closes (see `drain_replies`).
    queries: QueryScanner,
    attributes_asked: usize,
    attributes_answered: usize,
    /// Until when a late answer to the opening cursor-position question is expected.
    late_report: Option<Instant>,
    /// The person's window title is on the terminal's title stack: the close pops it.
    title_pushed: bool,
}

impl Console {
    /// Whether stdin and stdout are both terminals (a console can be opened).
    pub fn available() -> bool {
        io::stdin().is_terminal() && io::stdout().is_terminal()
    }

    /// Puts the terminal into raw mode. Needs a tokio runtime (for SIGWINCH).
    pub fn open(options: ConsoleOptions) -> Result<Console, ConsoleError> {
        if !Console::available() {
            return Err(ConsoleError::NotATerminal);
        }
        let size = terminal_size().unwrap_or(TermSize { rows: 24, cols: 80 });
        let winch = signal(SignalKind::window_change()).ok();
        let raw = RawMode::enter()?;
        // The screen model starts where the terminal's cursor is, so that its bottom row
        // is the terminal's (what comes back when the status line goes).
        let mut screen = Screen::new(size.rows, size.cols);
        let (cursor, typed) = cursor_position(CURSOR_FOR);
        if let Some((row, col)) = cursor {
            screen.process(format!("\x1b[{};{}H", row + 1, col + 1).as_bytes());
        }
        let mut pending = VecDeque::new();
        if !typed.is_empty() {
            pending.push_back(ConsoleInput::Keys(Bytes::from(typed)));
        }
        let reader = match Reader::spawn() {
            Ok(r) => r,
            Err(e) => {
                let _ = raw.leave();
                return Err(e.into());
            }
        };
        // The person's window title, for the close to put back whatever the session sets.
        let title_pushed = {
            let mut out = io::stdout().lock();
            out.write_all(PUSH_TITLE).and_then(|_| out.flush()).is_ok()
        };
        if title_pushed {
            raw.title_pushed();
        }
        tracing::debug!(rows = size.rows, cols = size.cols, "console open");
        Ok(Console {
            raw,
            reader,
            winch,
            screen,
            size,
            keys: KeySplitter::new(options.detach_key),
            held_until: None,
            question: None,
            note: None,
            drawn: None,
            owed: false,
            pending,
            closed: false,
            queries: QueryScanner::new(),
            attributes_asked: 0,
            attributes_answered: 0,
            late_report: cursor.is_none().then(|| Instant::now() + LATE_REPORT_FOR),
            title_pushed,
        })
    }

    /// The terminal's size.
    pub fn size(&self) -> TermSize {
        self.size
    }

    /// Shows the session's output.
    pub fn show(&mut self, bytes: &[u8]) -> io::Result<()> {
        // The status line stands on the terminal's bottom row, over the program's: output
        // that scrolls would carry it up the screen and into the scrollback, a copy left
        // behind each time. So the program's bottom row goes back first (what it had
        // before this output), and the status line is drawn again after the output.
        let lifted = self.lift_status();
        self.screen.process(bytes);
        self.raw.track(self.screen.sequence_end(), self.screen.modes());
        let mut asked = 0;
        self.queries.feed(bytes, |_, q| asked += usize::from(q == Query::PrimaryAttributes));
        self.attributes_asked += asked;
        let mut out = io::stdout().lock();
        if let Some(lifted) = lifted {
            out.write_all(&lifted)?;
        }
        out.write_all(bytes)?;
        // The output may have written over the status line or scrolled it away.
        if (self.status_text().is_some() || self.owed)
            && let Some(status) = self.status_bytes()
        {
            out.write_all(&status)?;
        }
        out.flush()
    }

    /// Shows `bytes` in place of everything shown so far, when output in between was
    /// skipped: first ends a sequence the shown output was cut in (tmux swallows all that
    /// follows an unended DCS string) and turns off every mode it turned on (the skipped
    /// output may have turned them off, and `bytes` turns on what it needs).
    pub fn show_instead(&mut self, bytes: &[u8]) -> io::Result<()> {
        let undo = [self.screen.sequence_end(), &self.screen.modes().restore()].concat();
        self.show(&[&undo[..], bytes].concat())
    }

    /// Puts a question on the status line (a pending confirmation); `y` and `n` typed
    /// alone answer it ([`ConsoleInput::Answer`]). `None` takes it away.
    pub fn ask(&mut self, question: Option<String>) {
        self.question = question;
        self.redraw();
    }

    /// Shows a short note on the status line for a few seconds (a question stays in
    /// front of it).
    pub fn note(&mut self, text: String) {
        self.note = Some((text, Instant::now() + NOTE_FOR));
        self.redraw();
    }

    /// What the person does next. Cancel-safe: nothing read is lost when the future is
    /// dropped.
    pub async fn next(&mut self) -> ConsoleInput {
        loop {
            if let Some(input) = self.pending.pop_front() {
                return input;
            }
            let note_ends = self.note.as_ref().map(|(_, until)| *until);
            tokio::select! {
                chunk = self.reader.recv() => match chunk {
                    Some(Chunk::Bytes(mut bytes)) => {
                        take_late_report(&mut bytes, &mut self.late_report, Instant::now());
                        self.attributes_answered += attributes_replies(&bytes);
                        let pieces = self.keys.split(&bytes, self.question.is_some());
                        self.held_until = self.keys.holding().then(|| Instant::now() + HOLD_FOR);
                        self.pending.extend(pieces.into_iter().map(console_input));
                    }
                    Some(Chunk::Closed) | None => {
                        // What was held back is the session's: a Closed comes after it.
                        self.held_until = None;
                        self.pending.extend(self.keys.release().map(console_input));
                        self.pending.push_back(ConsoleInput::Closed);
                    }
                },
                _ = sleep_until(self.held_until) => {
                    // The rest of the sequence did not come: it was not the console's key.
                    self.held_until = None;
                    self.pending.extend(self.keys.release().map(console_input));
                }
                _ = recv_signal(&mut self.winch) => {
                    if let Some(size) = terminal_size().filter(|s| *s != self.size) {
                        self.size = size;
                        self.screen.resize(size.rows, size.cols);
                        self.redraw();
                        return ConsoleInput::Resize(size);
                    }
                }
                _ = sleep_until(note_ends) => {
                    self.note = None;
                    self.redraw();
                }
            }
        }
    }

    /// Restores the terminal now (what dropping the console does).
    pub fn close(mut self) {
        self.restore();
    }

    fn status_text(&self) -> Option<&str> {
        self.question.as_deref().or_else(|| self.note.as_ref().map(|(t, _)| t.as_str()))
    }

    /// Draws the status line, or takes it away, as the question and note say.
    fn redraw(&mut self) {
        let Some(bytes) = self.status_bytes().filter(|b| !b.is_empty()) else { return };
        let mut out = io::stdout().lock();
        let _ = out.write_all(&bytes).and_then(|_| out.flush());
    }

    /// The bytes that take the status line off the terminal's bottom row before output
    /// (the program's row drawn there again), when it is drawn and can be: not while the
    /// program's output stands inside an escape sequence or a character.
    fn lift_status(&mut self) -> Option<Vec<u8>> {
        let row = self.drawn.filter(|&row| row <= self.size.rows)?;
        if self.screen.mid_sequence() {
            return None;
        }
        self.drawn = None;
        let bytes = clear_status(row, &self.screen.row_text(row - 1));
        Some(if self.screen.origin_mode() { past_origin_mode(&bytes) } else { bytes })
    }

    /// The bytes that draw the status line on the bottom row (again), or take it away,
    /// as the question and note say; one drawn on another row (before a resize) is taken
    /// away first. `None` while the session's output stands inside an escape sequence or
    /// a character, which warden's bytes would cut: they are owed until an output ends
    /// outside one.
    fn status_bytes(&mut self) -> Option<Vec<u8>> {
        if self.screen.mid_sequence() {
            self.owed = true;
            return None;
        }
        self.owed = false;
        let origin = self.screen.origin_mode();
        let reach = |bytes: Vec<u8>| if origin { past_origin_mode(&bytes) } else { bytes };
        let draw = self.status_text().map(draw_status_for(self.size));
        let mut bytes = Vec::new();
        if let Some(row) = self.drawn.filter(|&row| draw.is_none() || row != self.size.rows) {
            // A row the terminal no longer has went with the resize.
            if row <= self.size.rows {
                bytes.extend(reach(clear_status(row, &self.screen.row_text(row - 1))));
            }
            self.drawn = None;
        }
        if let Some(draw) = draw {
            bytes.extend(reach(draw));
            self.drawn = Some(self.size.rows);
        }
        Some(bytes)
    }

    fn restore(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        let unread = self.reader.stop();
        let owed = self.attributes_asked.saturating_sub(self.attributes_answered + unread);
        let status_row = self.drawn.filter(|&row| row <= self.size.rows);
        let bytes = closing_bytes(&self.screen, status_row, self.title_pushed);
        {
            let mut out = io::stdout().lock();
            let _ = out.write_all(&bytes).and_then(|_| out.flush());
        }
        drain_replies(DRAIN_FOR, owed);
        if let Err(e) = self.raw.leave() {
            tracing::warn!(error = %e, "cannot restore the terminal's settings");
        }
        tracing::debug!(modes = ?self.screen.modes(), "console closed; terminal restored");
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.restore();
    }
}

/// What the close writes to a terminal showing `screen`, with the status line on
/// `status_row` (1-based) and the person's title pushed or not ([`raw::closing`]).
fn closing_bytes(screen: &Screen, status_row: Option<u16>, title_pushed: bool) -> Vec<u8> {
    let status = match status_row {
        Some(row) => {
            let clear = clear_status(row, &screen.row_text(row - 1));
            if screen.origin_mode() { past_origin_mode(&clear) } else { clear }
        }
        None => Vec::new(),
    };
    raw::closing(screen.sequence_end(), &status, &screen.modes(), title_pushed)
}

fn console_input(piece: Piece) -> ConsoleInput {
    match piece {
        Piece::Keys(k) => ConsoleInput::Keys(Bytes::from(k)),
        Piece::Detach => ConsoleInput::Detach,
        Piece::Answer(yes) => ConsoleInput::Answer(yes),
    }
}

fn draw_status_for(size: TermSize) -> impl Fn(&str) -> Vec<u8> {
    move |text| draw_status(size.rows, size.cols, text)
}

/// The size of the terminal on stdout.
fn terminal_size() -> Option<TermSize> {
    let ws = rustix::termios::tcgetwinsize(io::stdout().as_fd()).ok()?;
    TermSize::new(ws.ws_row, ws.ws_col).ok()
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Takes the first cursor position report out of `bytes` while one is still expected
/// (`until`, which it then clears; past it, nothing is taken and it is cleared too).
/// True when one was taken.
fn take_late_report(bytes: &mut Vec<u8>, until: &mut Option<Instant>, now: Instant) -> bool {
    let Some(deadline) = *until else { return false };
    if now > deadline {
        *until = None;
        return false;
    }
    let Some((start, len, _, _)) = find_cursor_report(bytes) else { return false };
    bytes.drain(start..start + len);
    *until = None;
    true
}

#[cfg(test)]
mod closing_tests {
    use super::{PUSH_TITLE, Screen, closing_bytes, draw_status};
    use crate::raw::POP_TITLE;

    #[test]
    fn the_close_ends_a_cut_string_first_then_restores_and_pops_the_title() {
        let outputs: [&[u8]; 4] = [
            b"\x1bP+q544e",
            b"\x1b[1;31m\x1b[?1049h\x1b[0m\x1b]2;agent\x1b\\\x1bPq#0;2;0;0;0#0!10~\x1b",
            b"\x1b[31m\x1b7\x1b[0m\x1b[1;1Hstatus\x1b8\x1b[1;",
            b"\x1b(0\x1b7\x1b(B\x1b8\x1b]2;cut",
        ];
        for output in outputs {
            let mut screen = Screen::new(6, 30);
            screen.process(output);
            // What the terminal got: the title pushed, the output, a status line.
            let mut terminal = Screen::new(6, 30);
            terminal.process(PUSH_TITLE);
            terminal.process(output);
            let close = closing_bytes(&screen, Some(6), true);
            assert!(close.starts_with(screen.sequence_end()));
            assert!(close.ends_with(POP_TITLE));
            terminal.process(&close);
            let what = String::from_utf8_lossy(output);
            assert!(!terminal.mid_sequence(), "{what:?}");
            assert!(!terminal.modes().any(), "{what:?}: {:?}", terminal.modes());
            terminal.process(&draw_status(6, 30, "x"));
            assert_eq!(terminal.row_text(5), "x", "{what:?}: read from the ground state");
        }
        let plain = Screen::new(6, 30);
        assert_eq!(closing_bytes(&plain, None, false), b"");
        assert_eq!(closing_bytes(&plain, None, true), POP_TITLE);
    }
}

#[cfg(test)]
mod late_report_tests {
    use super::{Instant, take_late_report};

    #[test]
    fn a_late_cursor_report_is_taken_out_of_the_keys_once_and_only_while_expected() {
        let now = Instant::now();
        let mut until = Some(now + std::time::Duration::from_secs(5));
        let mut keys = b"ab\x1b[12;1Rc\x1b[3;4R".to_vec();
        assert!(take_late_report(&mut keys, &mut until, now));
        assert_eq!(keys, b"abc\x1b[3;4R", "only the first report");
        assert_eq!(until, None);
        let mut keys = b"\x1b[3;4R".to_vec();
        assert!(!take_late_report(&mut keys, &mut until, now), "none expected any more");
        let mut late = Some(now);
        let mut keys = b"\x1b[1;5R".to_vec();
        assert!(!take_late_report(&mut keys, &mut late, now + std::time::Duration::from_millis(1)));
        assert_eq!((keys.as_slice(), late), (&b"\x1b[1;5R"[..], None), "past the window a key is a key");
    }
}
