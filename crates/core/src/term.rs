//! A compact, text-only terminal screen model.
//!
//! Every agent session feeds its PTY output into a [`Screen`]; detectors read the screen's
//! text, never raw escape sequences. The screen keeps characters only (no colours or
//! attributes), one `u32` per cell, and its text agrees with the `vt100` crate's
//! `Screen::contents()` (a differential test checks this on real captures of the agent
//! CLIs and on generated input). An idle screen can be [compacted](Screen::compact) to a
//! few hundred bytes.
//!
//! Parsing uses the `vte` crate for escape sequences. Outside of them the screen reads the
//! bytes itself: runs of printable ASCII are copied into the row as slices, which is what
//! makes it several times faster than `vt100` on typical output.
//!
//! ```
//! use warden_core::term::Screen;
//!
//! let mut screen = Screen::new(5, 20);
//! screen.process(b"\x1b]0;demo\x07$ echo hi\r\nhi\r\n\x1b[1;31m$\x1b[0m \x1b[K");
//! // Like vt100's `contents()`: the space after the prompt was written, so it is text.
//! assert_eq!(screen.text(), "$ echo hi\nhi\n$ ");
//! assert_eq!(screen.cursor(), (2, 2));
//! assert_eq!(screen.title(), "demo");
//! ```
//!
//! Differences from vt100 (deliberate): the xterm sequences IND (`ESC D`), NEL (`ESC E`),
//! SCOSC/SCORC (`CSI s`, `CSI u`), DECAWM (mode 7) and mode 1047 are understood; an OSC
//! title containing `;` is kept whole; and a UTF-8 character split between two
//! [`process`](Screen::process) calls never loses the characters after it (vte 0.15, which
//! vt100 uses, can when invalid UTF-8 follows closely).

mod cell;
mod dispatch;
mod flood;
mod grid;
pub mod modes;
mod output_modes;
mod pack;
pub mod query;
mod state;

use std::fmt;

use cell::{Clusters, into_string, render_row};
use grid::Grid;
use state::Term;

pub use modes::{Charset, Colours, InputModes, Mode, TermModes};
pub use output_modes::{OutputModes, ScrollRegion};
pub use query::{Query, QueryFilter, QueryScanner, ReplyContext};

/// The exit status a shell reported for its last command (`OSC 133 ; D ; status`, the
/// semantic-prompt mark a prompt hook prints), and how many commands it reported so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandStatus {
    /// How many `OSC 133 ; D` marks the screen has seen (a later mark has a larger count).
    pub count: u64,
    /// The status the mark carried, if it carried a number.
    pub code: Option<i32>,
}

/// A terminal screen that keeps text only (no colours/attributes).
///
/// Feed it PTY output with [`process`](Screen::process) in chunks of any size (UTF-8 and
/// escape sequences may be split between calls) and read it with [`text`](Screen::text),
/// [`row_text`](Screen::row_text) and [`cursor`](Screen::cursor). No input makes it panic.
pub struct Screen {
    parser: vte::Parser,
    term: Term,
    /// Whether the vte parser is known to be in its ground state, so that the bytes up to
    /// the next ESC can be read here rather than by the parser.
    ground: bool,
    /// A UTF-8 sequence split at the end of the previous chunk (ground state only).
    utf8: Utf8,
    /// The last byte processed was ESC (see [`sequence_end`](Screen::sequence_end)).
    ends_with_esc: bool,
}

impl Screen {
    /// A blank screen of `rows` × `cols` (each at least 1), cursor at the top left.
    /// It starts compact: the cell grid is allocated by the first byte, so a
    /// session that never prints costs no grid.
    pub fn new(rows: u16, cols: u16) -> Screen {
        let mut s = Screen {
            parser: vte::Parser::new(),
            term: Term::new(rows.max(1), cols.max(1)),
            ground: true,
            utf8: Utf8::default(),
            ends_with_esc: false,
        };
        s.compact();
        s
    }

    /// Processes output bytes: any bytes, split anywhere.
    pub fn process(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.ends_with_esc = bytes.last() == Some(&0x1B);
        self.expand();
        // vte 0.15 drops characters when it completes a UTF-8 sequence split by the previous
        // call and its 4-byte look-ahead also holds invalid UTF-8 (`advance_partial_utf8`
        // returns `valid_up_to` rather than the character's length). When vte may hold such
        // a split sequence, it gets one byte at a time up to and including an ASCII byte,
        // which always resolves it.
        let mut careful = !self.ground;
        let mut i = 0;
        while i < bytes.len() {
            if !self.ground {
                self.term.stop = false;
                let end = if careful { i + 1 } else { bytes.len() };
                careful &= bytes[i] >= 0x80;
                let n = self.parser.advance_until_terminated(&mut self.term, &bytes[i..end]);
                if n == 0 {
                    break;
                }
                i += n;
                self.ground = self.term.stop;
                continue;
            }
            let b = bytes[i];
            if self.utf8.need != 0 {
                match self.utf8.feed(b) {
                    Utf8Step::Pending => i += 1,
                    Utf8Step::Char(c) => {
                        i += 1;
                        self.term.print_char(c);
                    }
                    // Drop the incomplete sequence and read `b` afresh (what vte does).
                    Utf8Step::Invalid => self.utf8 = Utf8::default(),
                }
                continue;
            }
            match b {
                0x20..=0x7E => {
                    let n = ascii_run(&bytes[i..]);
                    self.term.print_ascii(&bytes[i..i + n]);
                    i += n;
                }
                // vte takes over from the ESC (it is in its ground state).
                0x1B => self.ground = false,
                0x00..=0x1F => {
                    self.term.execute_c0(b);
                    i += 1;
                }
                // DEL is ignored; an invalid lead byte is dropped.
                _ => {
                    self.utf8.start(b);
                    i += 1;
                }
            }
        }
    }

    /// Resizes the screen like vt100's `set_size`: the scroll region is reset, the cursor
    /// is clamped, and rows are added or removed so that the text keeps its place above
    /// the cursor (a shorter screen first drops blank rows below the cursor, then scrolls
    /// the top off; a taller one gets as many blank rows at the top as have scrolled off
    /// the main screen before, and the rest at the bottom).
    pub fn resize(&mut self, rows: u16, cols: u16) {
        let (rows, cols) = (rows.max(1), cols.max(1));
        if (rows, cols) != self.size() {
            self.expand();
            self.term.resize(rows, cols);
        }
    }

    /// `(rows, cols)`.
    pub fn size(&self) -> (u16, u16) {
        (self.term.rows, self.term.cols)
    }

    /// The visible text: one line per row with trailing empty cells dropped, and trailing
    /// empty rows dropped. Exactly vt100's `Screen::contents()`: a row that soft-wrapped
    /// (text ran past the right margin) is joined to the next without a `'\n'`, and spaces
    /// that were written are kept (only never-written or erased cells are "empty").
    pub fn text(&self) -> String {
        self.with_grid(grid_text)
    }

    /// While the alternate screen is shown, the text of the main screen under it (as
    /// [`text`](Screen::text) gives it): what leaving the alternate screen shows again.
    /// `None` while the main screen is shown.
    pub fn main_text(&self) -> Option<String> {
        let main = self.term.other.as_ref().filter(|_| self.term.alt_active)?;
        // The hidden grid is always packed (`Term::other`): its clusters are its own.
        Some(with_unpacked(main, &self.term.clusters, grid_text))
    }

    /// While the alternate screen is shown, the main screen's cursor `(row, col)`: where
    /// it stood on entering the alternate screen, and stands again on leaving it. `None`
    /// while the main screen is shown.
    pub fn main_cursor(&self) -> Option<(u16, u16)> {
        let main = self.term.other.as_ref().filter(|_| self.term.alt_active)?;
        Some((main.pos.row, main.pos.col))
    }

    /// The shown screen's state that decides where and how later output lands (scroll
    /// region, origin, insert and wrap modes, character set): what a terminal that
    /// starts showing this screen sets after drawing its text.
    pub fn output_modes(&self) -> OutputModes {
        let (top, bottom) = self.term.grid.region();
        let whole = (top, bottom) == (0, self.term.rows - 1);
        OutputModes {
            scroll_region: (!whole).then_some(ScrollRegion { top, bottom }),
            origin: self.term.grid.origin(),
            insert: self.term.modes.insert,
            autowrap_off: !self.term.autowrap,
            line_drawing: self.term.modes.charset_g0 == Charset::DecLineDrawing,
            shifted_out: self.term.modes.shifted_out,
        }
    }

    /// The text of one row, trailing empty cells dropped; `""` for a row out of range.
    pub fn row_text(&self, row: u16) -> String {
        if row >= self.term.rows {
            return String::new();
        }
        self.with_grid(|grid, clusters| {
            let mut out = Vec::new();
            render_row(&mut out, grid.row(row), clusters);
            into_string(out)
        })
    }

    /// `(row, col)`, 0-based, like vt100's `cursor_position()`. After writing the last
    /// column the column equals the width until the next character wraps.
    pub fn cursor(&self) -> (u16, u16) {
        let pos = self.term.grid.pos;
        (pos.row, pos.col)
    }

    /// Whether the cursor is shown (DECTCEM, mode 25).
    pub fn cursor_visible(&self) -> bool {
        !self.term.hide_cursor
    }

    /// The last window title set with OSC 0 or OSC 2 (at most 1 KiB).
    pub fn title(&self) -> &str {
        &self.term.title
    }

    /// The modes the output turned on that a terminal showing it must turn off again
    /// (alternate screen, hidden cursor, mouse, focus, bracketed paste, keyboard protocols,
    /// scroll region, origin mode, line wrap, attributes, character set).
    pub fn modes(&self) -> TermModes {
        let mut modes = self.term.modes;
        modes.alternate_screen = self.term.alt_active;
        modes.cursor_hidden = self.term.hide_cursor;
        modes.autowrap_off = !self.term.autowrap;
        // Where the cursor stands once the restore has left the alternate screen (which
        // puts back the main screen's saved cursor) and reset the scroll region between
        // DECSC and DECRC (which keeps it). Leaving the alternate screen restores origin
        // mode in xterm but leaves it as it is in tmux: either counts. It also brings
        // back the attributes (and, in xterm, the character set) saved on entering it:
        // whichever is on counts.
        let grid = &self.term.grid;
        modes.origin = match (&self.term.other, self.term.alt_active) {
            (Some(main), true) => {
                modes.set_rendition(modes.rendition().union(main.saved_rendition()));
                let (pos, saved_origin) = main.saved_cursor();
                (grid.origin() || saved_origin).then_some((pos.row, pos.col))
            }
            (None, true) => grid.origin().then_some((0, 0)),
            (_, false) => grid.origin().then_some((grid.pos.row, grid.pos.col)),
        };
        modes
    }

    /// Whether origin mode (DECOM, `CSI ? 6 h`) is on: cursor positions count from the
    /// scroll region's top, and the cursor cannot leave the region.
    pub fn origin_mode(&self) -> bool {
        self.term.grid.origin()
    }

    /// Whether the bytes processed so far end inside an escape sequence or a UTF-8
    /// character: bytes of another writer put on the terminal now would cut it.
    pub fn mid_sequence(&self) -> bool {
        !self.ground || self.utf8.need != 0
    }

    /// The bytes that end the escape sequence, control string or character the output
    /// stopped in, so that a terminal reads what comes next from its ground state; empty
    /// when it stopped outside one. Nothing is printed either way.
    ///
    /// `ESC \` (ST) ends a DCS, OSC, APC, PM or SOS string; its ESC cancels a CSI or escape
    /// sequence, or a UTF-8 character, and the ST alone is then ignored. When the last
    /// byte was ESC it is `\ ESC \`: that ESC may have begun a string's ST, which the `\`
    /// completes (tmux reads an ESC that follows an ESC inside a DCS string as data, so
    /// `ESC \` would not end it), and where the ESC began anything else (or was the
    /// first of the ESC pair tmux passes through in a DCS) the `ESC \` ends that.
    pub fn sequence_end(&self) -> &'static [u8] {
        match (self.mid_sequence(), self.ends_with_esc) {
            (false, _) => b"",
            (true, false) => b"\x1b\\",
            (true, true) => b"\\\x1b\\",
        }
    }

    /// The last command status a shell reported (`OSC 133 ; D ; status`).
    pub fn command_status(&self) -> Option<CommandStatus> {
        self.term.command
    }

    /// Whether the alternate screen is shown (modes 47, 1047, 1049).
    pub fn alternate_screen(&self) -> bool {
        self.term.alt_active
    }

    /// Whether bracketed paste is on (mode 2004).
    pub fn bracketed_paste(&self) -> bool {
        self.term.bracketed_paste
    }

    /// How many rows have scrolled off the top of the main screen so far (never
    /// reset, not even by `ESC c`): row `r` of the screen is line `scrolled() + r`
    /// of everything the program printed, a stable name for a line as it moves up.
    pub fn scrolled(&self) -> u64 {
        self.term.scrollback.pushed()
    }

    /// Text of the most recent rows that scrolled off the top of the main screen (not the
    /// alternate screen, not scroll regions below row 0), oldest first, joined like
    /// [`text`](Screen::text), at most the last 4 KiB. Cleared by `ESC [ 3 J` and `ESC c`.
    pub fn scrollback(&self) -> String {
        self.term.scrollback.text()
    }

    /// A counter that changes whenever the visible text, the cursor position or the title
    /// may have changed.
    pub fn version(&self) -> u64 {
        self.term.version
    }

    /// Packs the cells into a compact encoding and frees the grid. Every query keeps
    /// working; the next [`process`](Screen::process) or [`resize`](Screen::resize)
    /// unpacks it again, with results identical to never having compacted.
    pub fn compact(&mut self) {
        if !self.term.grid.is_packed() {
            self.term.grid.pack(&self.term.clusters);
            self.term.clusters.clear();
        }
        self.term.scrollback.shrink();
        self.term.title.shrink_to_fit();
    }

    /// Whether the screen is in its compact form.
    pub fn is_compact(&self) -> bool {
        self.term.grid.is_packed()
    }

    /// Approximate heap memory held, in bytes (the parser's fixed-size state is inline).
    pub fn heap_bytes(&self) -> usize {
        self.term.heap_bytes()
    }

    fn expand(&mut self) {
        if self.term.grid.is_packed() {
            self.term.grid.unpack(&mut self.term.clusters);
        }
    }

    /// Runs `f` on the active grid, unpacked into a temporary copy when compact.
    fn with_grid<R>(&self, f: impl FnOnce(&Grid, &Clusters) -> R) -> R {
        with_unpacked(&self.term.grid, &self.term.clusters, f)
    }
}

impl Default for Screen {
    /// 40 rows × 120 columns.
    fn default() -> Screen {
        Screen::new(40, 120)
    }
}

impl fmt::Debug for Screen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Screen")
            .field("size", &self.size())
            .field("cursor", &self.cursor())
            .field("alternate_screen", &self.alternate_screen())
            .field("compact", &self.is_compact())
            .field("title", &self.title())
            .field("version", &self.version())
            .finish_non_exhaustive()
    }
}

/// Runs `f` on `grid` (whose clusters are in `clusters` while it is unpacked), unpacked
/// into a temporary copy when it is packed.
fn with_unpacked<R>(grid: &Grid, clusters: &Clusters, f: impl FnOnce(&Grid, &Clusters) -> R) -> R {
    if grid.is_packed() {
        let mut own = Clusters::default();
        let copy = grid.unpacked_copy(&mut own);
        f(&copy, &own)
    } else {
        f(grid, clusters)
    }
}

/// The text of `grid` as [`Screen::text`] gives it.
fn grid_text(grid: &Grid, clusters: &Clusters) -> String {
    let mut out = Vec::with_capacity(usize::from(grid.rows) * 8);
    let mut wrapping = false;
    for r in 0..grid.rows {
        let wrote = render_row(&mut out, grid.row(r), clusters);
        if !wrote && wrapping {
            out.push(b'\n');
        }
        let wrapped = grid.is_wrapped(r);
        if !wrapped {
            out.push(b'\n');
        }
        wrapping = wrapped;
    }
    while out.last() == Some(&b'\n') {
        out.pop();
    }
    into_string(out)
}

/// Length of the run of printable ASCII (0x20..=0x7E) at the start of `bytes`.
fn ascii_run(bytes: &[u8]) -> usize {
    let printable = |b: u8| b.wrapping_sub(0x20) < 0x5F;
    let mut n = 0;
    for chunk in bytes.chunks_exact(16) {
        // A branch-free test of 16 bytes at once.
        if !chunk.iter().fold(true, |ok, &b| ok & printable(b)) {
            break;
        }
        n += 16;
    }
    n + bytes[n..].iter().take_while(|&&b| printable(b)).count()
}

/// An incremental UTF-8 decoder that drops invalid sequences the way `vte` (and Rust's
/// `from_utf8`) delimit them: a lead byte and the longest valid continuation.
#[derive(Clone, Copy, Default)]
struct Utf8 {
    code: u32,
    /// Continuation bytes still needed; 0 when idle.
    need: u8,
    /// Range allowed for the next continuation byte.
    lo: u8,
    hi: u8,
}

enum Utf8Step {
    Pending,
    Char(char),
    /// The byte does not continue the sequence; it was not consumed.
    Invalid,
}

impl Utf8 {
    /// Starts a sequence at lead byte `b` (`b >= 0x80`); invalid leads are ignored.
    fn start(&mut self, b: u8) {
        let (code, need, lo, hi) = match b {
            0xC2..=0xDF => (b & 0x1F, 1, 0x80, 0xBF),
            0xE0 => (0, 2, 0xA0, 0xBF),
            0xE1..=0xEC | 0xEE..=0xEF => (b & 0x0F, 2, 0x80, 0xBF),
            0xED => (0x0D, 2, 0x80, 0x9F),
            0xF0 => (0, 3, 0x90, 0xBF),
            0xF1..=0xF3 => (b & 0x07, 3, 0x80, 0xBF),
            0xF4 => (0x04, 3, 0x80, 0x8F),
            _ => return,
        };
        *self = Utf8 { code: u32::from(code), need, lo, hi };
    }

    fn feed(&mut self, b: u8) -> Utf8Step {
        if !(self.lo..=self.hi).contains(&b) {
            return Utf8Step::Invalid;
        }
        self.code = (self.code << 6) | u32::from(b & 0x3F);
        self.need -= 1;
        (self.lo, self.hi) = (0x80, 0xBF);
        if self.need > 0 {
            return Utf8Step::Pending;
        }
        let code = self.code;
        *self = Utf8::default();
        // The byte ranges above only admit scalar values.
        char::from_u32(code).map_or(Utf8Step::Pending, Utf8Step::Char)
    }
}

#[cfg(test)]
mod tests;
