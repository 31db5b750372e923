//! The terminal state behind [`Screen`](super::Screen): the active grid, the hidden one,
//! modes, title and scrollback, and the operations that need more than one grid.

use unicode_width::UnicodeWidthChar as _;

use super::cell::{self, CLUSTER, Clusters, PAYLOAD, Scrollback, WIDE, is_cont, is_wide};
use super::grid::{Grid, MainSink, Pos, Sink};

/// Longest title kept, in bytes.
pub(super) const TITLE_CAP: usize = 1024;

pub(super) struct Term {
    pub(super) rows: u16,
    pub(super) cols: u16,
    /// The grid on display: the main one, or the alternate one while that is active.
    pub(super) grid: Grid,
    /// Whether `grid` is the main grid (false only while the alternate screen is active).
    pub(super) grid_is_main: bool,
    /// The grid not on display, always packed: the main grid while the alternate screen is
    /// active, else the alternate grid if it was ever used since the last reset.
    pub(super) other: Option<Grid>,
    pub(super) alt_active: bool,
    /// DECAWM (mode 7): wrap at the right margin; when off, the last column is overwritten.
    pub(super) autowrap: bool,
    pub(super) hide_cursor: bool,
    pub(super) bracketed_paste: bool,
    /// Input modes and keyboard protocols a terminal must undo (see `modes.rs`).
    pub(super) modes: super::modes::TermModes,
    /// The last command status a shell reported (`OSC 133 ; D ; status`), and how many it reported.
    pub(super) command: Option<super::CommandStatus>,
    /// Last printed character, for REP.
    last_char: Option<char>,
    /// Rows that scrolled off the main grid, as vt100 counts them for resizing.
    unbounded: usize,
    pub(super) title: String,
    pub(super) scrollback: Scrollback,
    pub(super) clusters: Clusters,
    pub(super) version: u64,
    /// Set by a dispatch after which the vte parser is known to be in its ground state.
    pub(super) stop: bool,
}

impl Term {
    pub(super) fn new(rows: u16, cols: u16) -> Term {
        Term {
            rows,
            cols,
            grid: Grid::new(rows, cols),
            grid_is_main: true,
            other: None,
            alt_active: false,
            autowrap: true,
            hide_cursor: false,
            bracketed_paste: false,
            modes: super::modes::TermModes::default(),
            command: None,
            last_char: None,
            unbounded: 0,
            title: String::new(),
            scrollback: Scrollback::default(),
            clusters: Clusters::default(),
            version: 0,
            stop: false,
        }
    }

    pub(super) fn bump(&mut self) {
        self.version = self.version.wrapping_add(1);
    }

    /// The active grid and where its scrolled-off rows go.
    pub(super) fn split(&mut self) -> (&mut Grid, Sink<'_>) {
        let main =
            self.grid_is_main.then_some(MainSink { scrollback: &mut self.scrollback, unbounded: &mut self.unbounded });
        (&mut self.grid, Sink { main, clusters: &self.clusters })
    }

    // ----- text -----

    /// Prints a character that came through the parser (vt100 drops U+FFFD and C1).
    pub(super) fn print_char(&mut self, c: char) {
        if is_dropped(c) {
            return;
        }
        self.put_char(c);
    }

    /// Prints a run of printable ASCII (0x20..=0x7E).
    pub(super) fn print_ascii(&mut self, run: &[u8]) {
        let Some(&last) = run.last() else { return };
        let autowrap = self.autowrap;
        let (grid, mut sink) = self.split();
        grid.write_ascii(run, autowrap, &mut sink);
        self.last_char = Some(char::from(last));
        self.bump();
    }

    /// Writes one character: vt100's `WrappedScreen::text`, including wide characters,
    /// combining marks appended to the previous cell, and emoji presentation widening it.
    pub(super) fn put_char(&mut self, c: char) {
        let Some(width) = char_width(c) else { return };
        if width > self.cols {
            return;
        }
        let pos = self.grid.pos;
        if width == 0 && pos.col == 0 {
            return;
        }
        self.bump();
        let mut base;
        let was_wide;
        if width > 0 {
            if self.autowrap {
                let wrap = self.grid.should_wrap(width);
                let (grid, mut sink) = self.split();
                grid.col_wrap(width, wrap, &mut sink);
            } else {
                // No autowrap: a character that does not fit overwrites the right margin.
                self.grid.pos.col = self.grid.pos.col.min(self.cols - width);
            }
            base = self.grid.pos;
            was_wide = is_wide(self.grid.cell(base));
            self.grid.set_cell(base, u32::from(c) | if width == 2 { WIDE } else { 0 });
            self.last_char = Some(c);
            self.grid.pos.col = self.grid.pos.col.saturating_add(width);
            if !self.autowrap {
                self.grid.pos.col = self.grid.pos.col.min(self.cols - 1);
            }
        } else {
            base = Pos { row: pos.row, col: pos.col - 1 };
            if is_cont(self.grid.cell(base)) && base.col > 0 {
                base.col -= 1;
            }
            was_wide = is_wide(self.grid.cell(base));
            if self.clusters.len() >= self.clusters.gc_at {
                self.collect_clusters();
            }
            let v = cell::append(self.grid.cell(base), c, &mut self.clusters);
            self.grid.set_cell(base, v);
            if !was_wide && is_wide(v) && !self.autowrap {
                self.grid.pos.col = self.grid.pos.col.saturating_add(1).min(self.cols - 1);
            } else if !was_wide && is_wide(v) {
                let (grid, mut sink) = self.split();
                grid.col_wrap(1, false, &mut sink);
                let new_pos = self.grid.pos;
                if new_pos.col == 0 {
                    // vt100's `wrap_widened_cell`: move the cell's text to the new row by
                    // setting its first char and appending the rest. Like vt100 it reads
                    // the cell by row index after any scroll.
                    let text = cell::cell_string(self.grid.cell(base), &self.clusters);
                    let mut chars = text.chars();
                    if let Some(first) = chars.next() {
                        let wide = first.width().unwrap_or(1) > 1;
                        let mut v = u32::from(first) | if wide { WIDE } else { 0 };
                        for ch in chars {
                            v = cell::append(v, ch, &mut self.clusters);
                        }
                        self.grid.set_cell(new_pos, v);
                    }
                    self.grid.set_cell(base, 0);
                    self.grid.pos.col = self.grid.pos.col.saturating_add(2);
                    base = new_pos;
                } else {
                    self.grid.pos.col = self.grid.pos.col.saturating_add(1);
                }
            }
        }
        let is_wide_now = is_wide(self.grid.cell(base));
        self.grid.text_cleanup(base, was_wide, is_wide_now);
    }

    /// REP: prints the last printed character `count` more times.
    pub(super) fn repeat(&mut self, count: u16) {
        let Some(c) = self.last_char else { return };
        if c.is_ascii() {
            let chunk = [c as u8; 256];
            let mut left = usize::from(count);
            while left > 0 {
                let n = left.min(chunk.len());
                self.print_ascii(&chunk[..n]);
                left -= n;
            }
        } else {
            for _ in 0..count {
                self.put_char(c);
            }
        }
    }

    /// Drops cluster strings no cell refers to any more.
    fn collect_clusters(&mut self) {
        let mut map: Vec<u32> = vec![u32::MAX; self.clusters.len()];
        let mut strings: Vec<Box<str>> = Vec::new();
        for v in self.grid.cells_mut() {
            if *v & CLUSTER == 0 {
                continue;
            }
            let old = (*v & PAYLOAD) as usize;
            let Some(slot) = map.get_mut(old) else {
                *v = 0;
                continue;
            };
            if *slot == u32::MAX {
                // At most as many live clusters as there were before, so this fits.
                *slot = strings.len() as u32;
                strings.push(self.clusters.get(*v).into());
            }
            *v = (*v & !PAYLOAD) | *slot;
        }
        // The next collection waits for a number of new clusters in proportion to the
        // grid it scans: a scan of every cell per few marks made a stream of combining
        // marks on a large screen hundreds of times slower than plain text.
        let cells = usize::from(self.rows) * usize::from(self.cols);
        self.clusters.replace(strings, cells / 8);
    }

    // ----- controls -----

    /// C0 controls (the others are ignored, like vt100).
    pub(super) fn execute_c0(&mut self, b: u8) {
        match b {
            8 => self.grid.col_dec(1),
            9 => self.grid.col_tab(),
            10..=12 => self.line_feed(),
            13 => self.grid.col_set(0),
            _ => {
                // SO and SI change the character set, not the text.
                if b == 14 || b == 15 {
                    self.modes.shifted_out = b == 14;
                }
                return;
            }
        }
        self.bump();
    }

    pub(super) fn line_feed(&mut self) {
        let (grid, mut sink) = self.split();
        grid.row_inc_scroll(1, &mut sink);
    }

    pub(super) fn scroll_up(&mut self, count: u16) {
        let (grid, mut sink) = self.split();
        grid.scroll_up(count, &mut sink);
    }

    /// Counts `count` rows as scrolled off the main screen without storing them: what
    /// parsing a skipped part of a flood would have added to the counters (see `flood`).
    pub(super) fn skip_rows(&mut self, count: u64) {
        self.scrollback.skip(count);
        self.unbounded = self.unbounded.saturating_add(usize::try_from(count).unwrap_or(usize::MAX));
        self.bump();
    }

    /// ED 3: forget the scrollback (only the main screen has one).
    pub(super) fn erase_scrollback(&mut self) {
        if self.grid_is_main {
            self.unbounded = 0;
            self.scrollback.clear();
        }
    }

    // ----- screens -----

    /// Shows the alternate grid (kept, like vt100 and xterm's mode 47, until cleared).
    pub(super) fn enter_alt(&mut self) {
        if self.alt_active {
            return;
        }
        let alt = self.other.take().unwrap_or_else(|| Grid::new_packed(self.rows, self.cols));
        self.swap_grid(alt);
        self.alt_active = true;
        self.grid_is_main = false;
        self.modes.switch_kitty_stack();
    }

    pub(super) fn exit_alt(&mut self) {
        if !self.alt_active {
            return;
        }
        let main = self.other.take().unwrap_or_else(|| Grid::new_packed(self.rows, self.cols));
        self.swap_grid(main);
        self.alt_active = false;
        self.grid_is_main = true;
        self.modes.switch_kitty_stack();
    }

    /// Packs the active grid away into `other` and unpacks `next` (packed) in its place.
    fn swap_grid(&mut self, next: Grid) {
        let mut prev = std::mem::replace(&mut self.grid, next);
        prev.pack(&self.clusters);
        self.clusters.clear();
        self.grid.unpack(&mut self.clusters);
        self.other = Some(prev);
    }

    /// DECSC (`ESC 7`, `CSI s`): the cursor, origin mode, attributes and character set.
    pub(super) fn save_cursor(&mut self) {
        let rendition = self.modes.rendition();
        self.grid.save(rendition);
    }

    /// DECRC (`ESC 8`, `CSI u`): what [`save_cursor`](Term::save_cursor) saved.
    pub(super) fn restore_cursor(&mut self) {
        let rendition = self.grid.restore();
        self.modes.set_rendition(rendition);
    }

    /// DECSET/DECRST 1049: save the cursor (as DECSC) and show a cleared alternate screen,
    /// or leave it and restore the cursor (as DECRC).
    pub(super) fn alt_1049(&mut self, on: bool) {
        if on {
            self.save_cursor();
            if self.alt_active {
                self.grid.clear();
            } else {
                self.other = None;
            }
            self.enter_alt();
        } else {
            self.exit_alt();
            self.restore_cursor();
        }
    }

    /// RIS: everything back to the initial state except the title and the colours set
    /// with OSC (tmux keeps those over RIS: the restore must still reset them).
    pub(super) fn reset(&mut self) {
        let title = std::mem::take(&mut self.title);
        let mut scrollback = std::mem::take(&mut self.scrollback);
        scrollback.clear();
        // RIS is an escape sequence: the parser is in its ground state after it.
        let command = self.command;
        let colours = self.modes.colours;
        *self =
            Term { title, scrollback, command, version: self.version, stop: true, ..Term::new(self.rows, self.cols) };
        self.modes.colours = colours;
    }

    /// Resizes both grids as vt100's `Screen::set_size` does.
    pub(super) fn resize(&mut self, rows: u16, cols: u16) {
        if (rows, cols) == (self.rows, self.cols) {
            return;
        }
        let (grid, mut sink) = self.split();
        grid.resize(rows, cols, &mut sink);
        if let Some(mut other) = self.other.take() {
            // The hidden grid's clusters go into a table of their own: unpacked into the
            // shown grid's, they stayed there after every resize (and a full table blanks
            // the cells it cannot take).
            let mut clusters = Clusters::default();
            other.unpack(&mut clusters);
            {
                let main = (!self.grid_is_main)
                    .then_some(MainSink { scrollback: &mut self.scrollback, unbounded: &mut self.unbounded });
                let mut sink = Sink { main, clusters: &clusters };
                other.resize(rows, cols, &mut sink);
            }
            other.pack(&clusters);
            self.other = Some(other);
        }
        self.rows = rows;
        self.cols = cols;
        self.bump();
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.grid.heap_bytes()
            + self.other.as_ref().map_or(0, Grid::heap_bytes)
            + self.clusters.heap_bytes()
            + self.scrollback.heap_bytes()
            + self.title.capacity()
    }
}

/// Whether a decoded character is dropped before it reaches the screen (vt100 drops
/// U+FFFD and the C1 controls).
pub(super) fn is_dropped(c: char) -> bool {
    c == '\u{FFFD}' || ('\u{80}'..'\u{A0}').contains(&c)
}

/// Columns a printed character takes as vt100 counts them (0 for a combining one), or
/// `None` for one it ignores.
pub(super) fn char_width(c: char) -> Option<u16> {
    match c.width() {
        None if u32::from(c) < 256 => None,
        width => Some(width.unwrap_or(1).min(2) as u16),
    }
}
