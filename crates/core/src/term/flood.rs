//! Skipping the part of a plain-text flood that cannot matter any more.
//!
//! A program printing plain text fast (`yes`, `cat`, a build log) makes every byte go
//! through the screen, though only the last screenful and the scrollback window can still
//! be seen. [`Screen::process_flood`] drops a prefix of such output unparsed when the
//! result is provably the one [`Screen::process`] gives, and otherwise parses everything.
//!
//! # Why dropping is exact
//!
//! Call the input `P ++ S`: `P` is dropped, `S` is kept and starts with a carriage return.
//! Path A parses `P` then `S` from the current state `X`; path B parses only `S` from `X`.
//! A prefix is dropped only when all of these hold:
//!
//! - `X` is "simple": the parser is in its ground state with no partial UTF-8 character,
//!   the main screen is shown, autowrap is on, no scroll region is set, origin mode is off.
//!   Then every line feed or wrap either moves the cursor one row down or scrolls the whole
//!   screen by one row into the scrollback, and nothing moves the cursor up.
//! - `P` and the part of `S` that is looked at hold no ESC. In the ground state the screen
//!   reads every other byte itself: text, CR, LF/VT/FF, BS and TAB; other C0 controls
//!   are ignored but SO/SI, which only switch the character set (the skip carries the
//!   last one over), and 8-bit C1 bytes such as 0x9B are invalid UTF-8 and dropped, so
//!   none of them changes another mode, the title or the saved cursor.
//! - `S` holds at least `2 × rows + SCROLLBACK_CAP + 1` line feeds (counting `\n` only),
//!   and no U+FE0F before its `2 × rows`-th one.
//! - `S` prints at least one ASCII character, so that both paths end with the same last
//!   printed character (what REP repeats).
//!
//! After the CR that starts `S` both cursors are in column 0. Columns then move the same
//! way in both paths: they depend only on the bytes, except when U+FE0F widens a cell
//! written before (excluded above until the screens agree). After `rows − 1` line feeds
//! both cursors are on the bottom row; every later line feed scrolls in a blank row that
//! both paths fill identically, so after `rows` more the two screens (cells, soft-wrap
//! flags, cursor) are equal. Each of the at least `SCROLLBACK_CAP + 1` rows scrolled off
//! after that renders to at least one byte of scrollback text (a newline, or the text that
//! soft-wrapped it), so the last `SCROLLBACK_CAP` bytes, all that
//! [`Screen::scrollback`] depends on, are equal too.
//!
//! The counters are exact: both paths end on the same row, rows only go down or scroll, so
//! path A scrolled exactly the row increments of `P` more than path B: its line feeds plus
//! the soft wraps of its text. [`Screen::process_flood`] adds those to
//! [`Screen::scrolled`] (and to the count of rows a taller resize pulls back in). Counting
//! the wraps needs the columns: a stretch between two CRs shorter than the room left in the
//! row cannot wrap (no character is wider than its UTF-8 encoding is long), and longer
//! ones, or ones with a TAB, are simulated column by column; U+FE0F in a stretch that is
//! simulated makes the count unsure and nothing is dropped. Only [`Screen::version`] and
//! the memory held differ from parsing everything.

use memchr::{memchr, memchr_iter, memchr2_iter, memmem, memrchr, memrchr_iter, memrchr2};

use super::cell::SCROLLBACK_CAP;
use super::state::{char_width, is_dropped};
use super::{Screen, Utf8, Utf8Step, ascii_run};

const ESC: u8 = 0x1b;
/// U+FE0F (emoji presentation), the only character whose width depends on the cell before.
const FE0F: &[u8] = "\u{FE0F}".as_bytes();

/// A prefix that can be dropped, and the rows parsing it would have scrolled off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Skip {
    pub(super) bytes: usize,
    pub(super) rows: u64,
    /// The last SO (`true`) or SI (`false`) of the dropped part: they print nothing,
    /// but the character set they leave is one of the modes.
    pub(super) shift: Option<bool>,
}

/// Line feeds the kept part must hold on a screen of `rows`.
fn lines_needed(rows: u16) -> usize {
    2 * usize::from(rows) + SCROLLBACK_CAP + 1
}

impl Screen {
    /// How many leading bytes of `data` [`process_flood`](Screen::process_flood) would not
    /// parse if it were handed `data` now: 0 unless `data` starts with a long stretch of
    /// plain text (no ESC) followed by enough more lines to push everything it printed off
    /// the screen and out of the [`scrollback`](Screen::scrollback) window. Dropping them
    /// changes nothing but [`scrolled`](Screen::scrolled) (and [`version`](Screen::version)),
    /// which `process_flood` advances by exactly the rows they would have scrolled. The
    /// check is a few byte scans and allocates nothing.
    pub fn skippable_prefix(&self, data: &[u8]) -> usize {
        self.plan_skip(data).map_or(0, |skip| skip.bytes)
    }

    /// Takes what [`process_flood`](Screen::process_flood) would skip from the front of
    /// `data` without parsing anything: advances [`scrolled`](Screen::scrolled) by the
    /// rows those bytes would have scrolled and returns how many leading bytes the caller
    /// drops. Processing the rest of `data` afterwards (now, or with more bytes appended
    /// later) then gives exactly what processing all of `data` gives. For output queued
    /// while nobody looks: it bounds the queue without parsing it.
    pub fn skip_prefix(&mut self, data: &[u8]) -> usize {
        match self.plan_skip(data) {
            Some(skip) => self.apply_skip(skip),
            None => 0,
        }
    }

    /// Does to the state what parsing the dropped bytes would have done; returns how many.
    fn apply_skip(&mut self, skip: Skip) -> usize {
        self.term.skip_rows(skip.rows);
        if let Some(shifted_out) = skip.shift {
            self.term.modes.shifted_out = shifted_out;
        }
        skip.bytes
    }

    /// Processes output bytes like [`process`](Screen::process), but skips parsing the
    /// part of a plain-text flood that cannot be seen any more: text, cursor, scrollback,
    /// title, modes and [`scrolled`](Screen::scrolled) come out exactly as `process` gives
    /// them (only [`version`](Screen::version) advances less). Only the plain text after
    /// the last ESC in `data` is considered, so this pays off for large inputs (at least a
    /// few thousand lines) such as output that piled up while nobody looked; for small ones
    /// it costs one backwards scan for ESC. Returns how many bytes were not parsed.
    pub fn process_flood(&mut self, data: &[u8]) -> usize {
        let need = lines_needed(self.term.rows);
        // The flood can only be what follows the last escape sequence. It starts at the
        // first CR after that ESC: the sequence has surely ended there unless it is an
        // unterminated string, and then the parser is not in its ground state and nothing
        // is skipped.
        let start = match memrchr(ESC, data) {
            None => 0,
            Some(esc) => memchr(b'\r', &data[esc..]).map_or(data.len(), |cr| esc + cr),
        };
        if data.len() - start < need {
            self.process(data);
            return 0;
        }
        let (head, flood) = data.split_at(start);
        self.process(head);
        match self.plan_plain(flood) {
            Some(skip) => {
                let bytes = self.apply_skip(skip);
                self.process(&flood[bytes..]);
                bytes
            }
            None => {
                self.process(flood);
                0
            }
        }
    }

    /// The prefix of `data` that can be dropped in the current state, if any (see the
    /// module documentation for why each condition is needed).
    pub(super) fn plan_skip(&self, data: &[u8]) -> Option<Skip> {
        if data.len() < lines_needed(self.term.rows) {
            return None;
        }
        self.plan_plain(&data[..memchr(ESC, data).unwrap_or(data.len())])
    }

    /// [`plan_skip`](Screen::plan_skip) for input without ESC.
    fn plan_plain(&self, plain: &[u8]) -> Option<Skip> {
        let (rows, cols) = (self.term.rows, self.term.cols);
        let need = lines_needed(rows);
        // Every line feed is a byte: a short input cannot qualify.
        if plain.len() < need
            || !self.ground
            || self.utf8.need != 0
            || self.term.alt_active
            || !self.term.autowrap
            || !self.term.grid.scrolls_whole_screen()
        {
            return None;
        }
        // A quick count first: most inputs that fail, fail here.
        if count(plain, b'\n') < need {
            return None;
        }
        // The latest cut: a CR before the `need`-th line feed from the end.
        let last_needed = memrchr_iter(b'\n', plain).nth(need - 1)?;
        let cut = memrchr(b'\r', &plain[..last_needed])?;
        if cut == 0 {
            return None;
        }
        let (dropped, kept) = plain.split_at(cut);
        // Until the screens agree, columns must not depend on cell contents.
        let agree = memchr_iter(b'\n', kept).nth(2 * usize::from(rows) - 1)?;
        if memmem::find(&kept[..agree], FE0F).is_some() {
            return None;
        }
        // The same last printed character for REP.
        if !kept.iter().rev().any(|&b| (0x20..0x7F).contains(&b)) {
            return None;
        }
        let (rows, rare) = dropped_rows_and_rare(dropped, self.term.grid.pos.col, cols)?;
        let shift = if rare { memrchr2(0x0E, 0x0F, dropped).map(|at| dropped[at] == 0x0E) } else { None };
        Some(Skip { bytes: cut, rows, shift })
    }
}

/// Row increments (line feeds and soft wraps) of parsing `dropped` (no ESC) with the
/// cursor in column `col` of a `cols`-wide screen with autowrap, or `None` when unsure.
#[cfg(test)]
pub(super) fn dropped_rows(dropped: &[u8], col: u16, cols: u16) -> Option<u64> {
    dropped_rows_and_rare(dropped, col, cols).map(|(rows, _)| rows)
}

/// [`dropped_rows`], and whether `dropped` holds VT, FF, SO or SI (rare in a flood).
fn dropped_rows_and_rare(dropped: &[u8], col: u16, cols: u16) -> Option<(u64, bool)> {
    let tabs = memchr(b'\t', dropped).is_some();
    let (lf, rare) = feeds_and_rare(dropped);
    let feeds = lf + if rare { memchr2_iter(0x0B, 0x0C, dropped).count() } else { 0 };
    let mut wraps = 0u64;
    let (mut seg_start, mut seg_col) = (0, col);
    for cr in memchr_iter(b'\r', dropped) {
        wraps += segment_wraps(&dropped[seg_start..cr], seg_col, cols, tabs)?;
        (seg_start, seg_col) = (cr + 1, 0);
    }
    wraps += segment_wraps(&dropped[seg_start..], seg_col, cols, tabs)?;
    Some((feeds as u64 + wraps, rare))
}

/// Line feeds in `data`, and whether it holds any of VT, FF, SO and SI: one pass the
/// compiler vectorises.
fn feeds_and_rare(data: &[u8]) -> (usize, bool) {
    let rare = |b: u8| u8::from(b == 0x0B) | u8::from(b == 0x0C) | u8::from(b == 0x0E) | u8::from(b == 0x0F);
    let mut chunks = data.chunks_exact(128);
    let (mut n, mut seen) = (0, 0u8);
    for chunk in &mut chunks {
        // At most 128 line feeds: fits in a u8.
        let (lf, r) = chunk.iter().fold((0u8, 0u8), |(lf, r), &b| (lf + u8::from(b == b'\n'), r | rare(b)));
        n += usize::from(lf);
        seen |= r;
    }
    for &b in chunks.remainder() {
        n += usize::from(b == b'\n');
        seen |= rare(b);
    }
    (n, seen != 0)
}

/// How many times `byte` occurs in `data` (a loop the compiler vectorises: faster than
/// iterating over matches when they are frequent).
fn count(data: &[u8], byte: u8) -> usize {
    let mut chunks = data.chunks_exact(128);
    let mut n = 0;
    for chunk in &mut chunks {
        // At most 128 matches: fits in a u8.
        n += usize::from(chunk.iter().fold(0u8, |acc, &b| acc + u8::from(b == byte)));
    }
    n + chunks.remainder().iter().filter(|&&b| b == byte).count()
}

/// Soft wraps of parsing `seg` (no CR, no ESC) from column `col`, or `None` when unsure.
fn segment_wraps(seg: &[u8], col: u16, cols: u16, tabs: bool) -> Option<u64> {
    // Without TAB a byte moves the cursor at most one column on (a character is never
    // wider than its encoding is long, and U+FE0F widens by one with three bytes), and a
    // wrap needs a character that does not fit.
    let fits = usize::from(col) + seg.len() <= usize::from(cols);
    if fits && !(tabs && memchr(b'\t', seg).is_some()) {
        return Some(0);
    }
    simulate(seg, col, cols)
}

/// Follows the cursor column through `seg` as `Screen::process` moves it (autowrap on)
/// and counts the soft wraps; `None` for U+FE0F, whose effect depends on the cell before.
fn simulate(seg: &[u8], mut col: u16, cols: u16) -> Option<u64> {
    let mut wraps = 0u64;
    // `Grid::col_wrap`, then the advance of a character of `width` columns.
    let mut put = |col: &mut u16, width: u16| {
        if u32::from(*col) + u32::from(width) > u32::from(cols) {
            *col = 0;
            wraps += 1;
        }
        *col = col.saturating_add(width);
    };
    let mut utf8 = Utf8::default();
    let mut i = 0;
    while i < seg.len() {
        let b = seg[i];
        if utf8.need != 0 {
            match utf8.feed(b) {
                Utf8Step::Pending => i += 1,
                Utf8Step::Char(c) => {
                    i += 1;
                    if is_dropped(c) {
                        continue;
                    }
                    match char_width(c) {
                        Some(0) if c == '\u{FE0F}' && col > 0 => return None,
                        Some(width) if width > 0 && width <= cols => put(&mut col, width),
                        _ => {}
                    }
                }
                Utf8Step::Invalid => utf8 = Utf8::default(),
            }
            continue;
        }
        match b {
            0x20..=0x7E => {
                // `Grid::write_ascii`: fill the row, wrap, go on.
                let mut n = ascii_run(&seg[i..]);
                i += n;
                while n > 0 {
                    if col >= cols {
                        put(&mut col, 1);
                        n -= 1;
                        continue;
                    }
                    let k = n.min(usize::from(cols - col));
                    // k <= cols - col, so this fits in u16.
                    col += k as u16;
                    n -= k;
                }
                continue;
            }
            ESC => return None,
            0x08 => col = col.saturating_sub(1),
            0x09 => col = (col - col % 8).saturating_add(8).min(cols - 1),
            0x0D => col = 0,
            // Line feeds keep the column; the other C0 controls are ignored.
            0x00..=0x1F => {}
            // DEL is ignored; an invalid lead byte is dropped.
            _ => utf8.start(b),
        }
        i += 1;
    }
    Some(wraps)
}
