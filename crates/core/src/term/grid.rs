//! The cell grid and the cursor and editing operations on it.
//!
//! This is a port of the semantics of vt100 0.18's `Grid` and `Row` (the oracle the
//! differential tests compare against) onto one flat `Vec<u32>` of cells. Rows are reached
//! through `phys`, a logical-to-physical row table, so scrolling rotates a few `u16`s
//! instead of moving cells. The cursor column may equal `cols`: that is the pending-wrap
//! state after writing the last column, exactly as in vt100.

use super::cell::{CONT, Clusters, Scrollback, WIDE, is_cont, is_wide};
use super::modes::Rendition;
use super::pack;

/// A cursor position: row and column, 0-based.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Pos {
    pub(super) row: u16,
    pub(super) col: u16,
}

/// Where rows go when they scroll off the top of a grid whose scroll region starts at row 0.
pub(super) struct Sink<'a> {
    /// Set for the main grid only: the alternate screen has no scrollback.
    pub(super) main: Option<MainSink<'a>>,
    pub(super) clusters: &'a Clusters,
}

/// The main grid's scrollback: its text, and how many rows vt100 would hold with an
/// unbounded scrollback (a taller resize pulls that many blank rows in at the top).
pub(super) struct MainSink<'a> {
    pub(super) scrollback: &'a mut Scrollback,
    pub(super) unbounded: &'a mut usize,
}

/// One screen's cells, cursor, saved cursor and scroll region.
///
/// The cells are either unpacked (`cells`, `phys`, `wrapped`) or packed (`packed`), see
/// [`pack`]. Every operation except packing, size and cursor queries needs them unpacked.
pub(super) struct Grid {
    pub(super) rows: u16,
    pub(super) cols: u16,
    pub(super) pos: Pos,
    saved: Pos,
    top: u16,
    bottom: u16,
    origin: bool,
    saved_origin: bool,
    /// What DECSC saved besides the cursor and origin mode (attributes, character set).
    saved_rendition: Rendition,
    cells: Vec<u32>,
    phys: Vec<u16>,
    wrapped: Vec<bool>,
    packed: Option<Box<[u8]>>,
}

impl Grid {
    /// A blank, unpacked grid.
    pub(super) fn new(rows: u16, cols: u16) -> Grid {
        let mut grid = Grid::new_packed(rows, cols);
        grid.packed = None;
        grid.cells = vec![0; usize::from(rows) * usize::from(cols)];
        grid.phys = (0..rows).collect();
        grid.wrapped = vec![false; usize::from(rows)];
        grid
    }

    /// A blank grid in packed form (costs no cell memory).
    pub(super) fn new_packed(rows: u16, cols: u16) -> Grid {
        Grid {
            rows,
            cols,
            pos: Pos::default(),
            saved: Pos::default(),
            top: 0,
            bottom: rows - 1,
            origin: false,
            saved_origin: false,
            saved_rendition: Rendition::default(),
            cells: Vec::new(),
            phys: Vec::new(),
            wrapped: Vec::new(),
            packed: Some(Box::default()),
        }
    }

    pub(super) fn is_packed(&self) -> bool {
        self.packed.is_some()
    }

    /// Replaces the cells by their packed encoding and frees them.
    pub(super) fn pack(&mut self, clusters: &Clusters) {
        if self.packed.is_none() {
            let rows = (0..self.rows).map(|r| (self.row(r), self.is_wrapped(r)));
            self.packed = Some(pack::encode(rows, clusters));
            self.cells = Vec::new();
            self.phys = Vec::new();
            self.wrapped = Vec::new();
        }
    }

    /// Rebuilds the cells from the packed encoding; clusters are interned in `clusters`.
    pub(super) fn unpack(&mut self, clusters: &mut Clusters) {
        if let Some(packed) = self.packed.take() {
            let (rows, cols) = (usize::from(self.rows), usize::from(self.cols));
            self.cells = vec![0; rows * cols];
            self.wrapped = vec![false; rows];
            self.phys = (0..self.rows).collect();
            pack::decode(&packed, cols, &mut self.cells, &mut self.wrapped, clusters);
        }
    }

    /// An unpacked copy of the cells (cursor and region are not needed by the callers).
    pub(super) fn unpacked_copy(&self, clusters: &mut Clusters) -> Grid {
        let mut copy = Grid::new_packed(self.rows, self.cols);
        copy.packed = self.packed.clone();
        copy.unpack(clusters);
        copy
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.cells.capacity() * 4
            + self.phys.capacity() * 2
            + self.wrapped.capacity()
            + self.packed.as_ref().map_or(0, |p| p.len())
    }

    // ----- rows and cells -----

    fn base(&self, r: u16) -> usize {
        usize::from(self.phys[usize::from(r)]) * usize::from(self.cols)
    }

    pub(super) fn row(&self, r: u16) -> &[u32] {
        let base = self.base(r);
        &self.cells[base..base + usize::from(self.cols)]
    }

    pub(super) fn row_mut(&mut self, r: u16) -> &mut [u32] {
        let base = self.base(r);
        let cols = usize::from(self.cols);
        &mut self.cells[base..base + cols]
    }

    pub(super) fn is_wrapped(&self, r: u16) -> bool {
        self.wrapped[usize::from(self.phys[usize::from(r)])]
    }

    pub(super) fn set_wrapped(&mut self, r: u16, wrapped: bool) {
        let p = usize::from(self.phys[usize::from(r)]);
        self.wrapped[p] = wrapped;
    }

    pub(super) fn cell(&self, pos: Pos) -> u32 {
        self.row(pos.row).get(usize::from(pos.col)).copied().unwrap_or(0)
    }

    pub(super) fn set_cell(&mut self, pos: Pos, v: u32) {
        if let Some(cell) = self.row_mut(pos.row).get_mut(usize::from(pos.col)) {
            *cell = v;
        }
    }

    /// Every cell of every row (in physical order), for cluster garbage collection.
    pub(super) fn cells_mut(&mut self) -> &mut [u32] {
        &mut self.cells
    }

    fn reset_row(&mut self, r: u16) {
        self.row_mut(r).fill(0);
        self.set_wrapped(r, false);
    }

    fn reset_rows(&mut self, rows: std::ops::Range<u16>) {
        for r in rows {
            self.reset_row(r);
        }
    }

    /// vt100 `Grid::clear`: blank cells, cursor home, no saved cursor, full scroll region.
    pub(super) fn clear(&mut self) {
        self.pos = Pos::default();
        self.saved = Pos::default();
        self.cells.fill(0);
        self.wrapped.fill(false);
        self.top = 0;
        self.bottom = self.rows - 1;
        self.origin = false;
        self.saved_origin = false;
        self.saved_rendition = Rendition::default();
    }

    // ----- cursor -----

    pub(super) fn set_pos(&mut self, row: u16, col: u16) {
        let row = if self.origin { row.saturating_add(self.top) } else { row };
        self.pos = Pos { row, col };
        self.row_clamp_top(self.origin);
        self.row_clamp_bottom(self.origin);
        self.col_clamp();
    }

    /// DECSC: saves the cursor, origin mode and `rendition` (what the terminal saves with
    /// them: attributes, character sets).
    pub(super) fn save(&mut self, rendition: Rendition) {
        self.saved = self.pos;
        self.saved_origin = self.origin;
        self.saved_rendition = rendition;
    }

    /// DECRC: puts back the cursor and origin mode, and returns the rendition saved with
    /// them.
    pub(super) fn restore(&mut self) -> Rendition {
        self.pos = self.saved;
        self.origin = self.saved_origin;
        self.saved_rendition
    }

    /// Origin mode (DECOM): cursor rows count from the scroll region's top.
    pub(super) fn origin(&self) -> bool {
        self.origin
    }

    /// Where [`restore`](Grid::restore) would put the cursor, and whether origin mode
    /// would be on.
    pub(super) fn saved_cursor(&self) -> (Pos, bool) {
        (self.saved, self.saved_origin)
    }

    /// What [`restore`](Grid::restore) would return.
    pub(super) fn saved_rendition(&self) -> Rendition {
        self.saved_rendition
    }

    /// The scroll region's top and bottom rows (0-based, inclusive).
    pub(super) fn region(&self) -> (u16, u16) {
        (self.top, self.bottom)
    }

    fn in_region(&self) -> bool {
        (self.top..=self.bottom).contains(&self.pos.row)
    }

    fn row_clamp_top(&mut self, limit: bool) -> u16 {
        if limit && self.pos.row < self.top {
            let rows = self.top - self.pos.row;
            self.pos.row = self.top;
            rows
        } else {
            0
        }
    }

    fn row_clamp_bottom(&mut self, limit: bool) -> u16 {
        let bottom = if limit { self.bottom } else { self.rows - 1 };
        if self.pos.row > bottom {
            let rows = self.pos.row - bottom;
            self.pos.row = bottom;
            rows
        } else {
            0
        }
    }

    fn col_clamp(&mut self) {
        self.pos.col = self.pos.col.min(self.cols - 1);
    }

    pub(super) fn row_inc_clamp(&mut self, count: u16) {
        let in_region = self.in_region();
        self.pos.row = self.pos.row.saturating_add(count);
        self.row_clamp_bottom(in_region);
    }

    /// Moves down `count` rows, scrolling the region when the cursor is in it.
    pub(super) fn row_inc_scroll(&mut self, count: u16, sink: &mut Sink<'_>) -> u16 {
        let in_region = self.in_region();
        self.pos.row = self.pos.row.saturating_add(count);
        let lines = self.row_clamp_bottom(in_region);
        if in_region {
            self.scroll_up(lines, sink);
            lines
        } else {
            0
        }
    }

    pub(super) fn row_dec_clamp(&mut self, count: u16) {
        let in_region = self.in_region();
        self.pos.row = self.pos.row.saturating_sub(count);
        self.row_clamp_top(in_region);
    }

    /// Reverse index: up one row, scrolling down at the top (vt100's `row_dec_scroll`).
    pub(super) fn row_dec_scroll(&mut self, count: u16) {
        let in_region = self.in_region();
        let extra = count.saturating_sub(self.pos.row);
        self.pos.row = self.pos.row.saturating_sub(count);
        let lines = self.row_clamp_top(in_region);
        self.scroll_down(lines.saturating_add(extra));
    }

    pub(super) fn row_set(&mut self, row: u16) {
        self.pos.row = row.min(self.rows - 1);
    }

    pub(super) fn col_inc_clamp(&mut self, count: u16) {
        self.pos.col = self.pos.col.saturating_add(count);
        self.col_clamp();
    }

    pub(super) fn col_dec(&mut self, count: u16) {
        self.pos.col = self.pos.col.saturating_sub(count);
    }

    pub(super) fn col_tab(&mut self) {
        self.pos.col -= self.pos.col % 8;
        self.pos.col = self.pos.col.saturating_add(8);
        self.col_clamp();
    }

    pub(super) fn col_set(&mut self, col: u16) {
        self.pos.col = col;
        self.col_clamp();
    }

    /// Wraps to the next row if a character of `width` does not fit; `wrap` says whether
    /// the row left behind is marked as soft-wrapped.
    pub(super) fn col_wrap(&mut self, width: u16, wrap: bool, sink: &mut Sink<'_>) {
        if u32::from(self.pos.col) + u32::from(width) <= u32::from(self.cols) {
            return;
        }
        let prev = self.pos;
        self.pos.col = 0;
        let scrolled = self.row_inc_scroll(1, sink);
        if prev.row == 0 && scrolled > 0 {
            // A one-row grid: scroll, but a row never wraps onto itself.
            return;
        }
        let prev_row = prev.row.saturating_sub(scrolled);
        let wrapped = wrap && prev_row + 1 == self.pos.row;
        self.set_wrapped(prev_row, wrapped);
    }

    /// Whether a character of `width` written now would soft-wrap the current row: it does
    /// not fit, and the last column holds something (vt100's `new_character_should_wrap`).
    pub(super) fn should_wrap(&self, width: u16) -> bool {
        if u32::from(self.pos.col) + u32::from(width) <= u32::from(self.cols) {
            return false;
        }
        let last = self.row(self.pos.row)[usize::from(self.cols - 1)];
        super::cell::has_contents(last) || is_cont(last)
    }

    /// Repairs the wide-character state around `base` after writing it (vt100's
    /// `text_cleanup`).
    pub(super) fn text_cleanup(&mut self, base: Pos, was_wide: bool, is_wide_now: bool) {
        let cols = usize::from(self.cols);
        let c = usize::from(base.col);
        let row = self.row_mut(base.row);
        if let Some(prev) = c.checked_sub(1).and_then(|p| row.get_mut(p))
            && is_wide(*prev)
        {
            *prev = 0;
        }
        if was_wide
            && !is_wide_now
            && let Some(next) = row.get_mut(c + 1)
        {
            *next = u32::from(' ');
        }
        if !was_wide && is_wide_now && c + 1 < row.len() {
            let next_was_wide = is_wide(row[c + 1]);
            row[c + 1] = CONT;
            if next_was_wide {
                if let Some(next_next) = row.get_mut(c + 2) {
                    *next_next = 0;
                }
                if c + 2 == cols - 1 {
                    self.set_wrapped(base.row, false);
                }
            }
        }
    }

    /// Writes a run of printable ASCII at the cursor, wrapping at the right margin (or,
    /// without `autowrap`, overwriting the last column); the same result as writing the
    /// bytes one by one.
    pub(super) fn write_ascii(&mut self, mut run: &[u8], autowrap: bool, sink: &mut Sink<'_>) {
        let cols = usize::from(self.cols);
        if !autowrap {
            // Everything past the last column lands on it, so only the last byte counts.
            let col = usize::from(self.pos.col).min(cols - 1);
            self.pos.col = col as u16;
            let fits = cols - 1 - col;
            if run.len() > fits + 1 {
                self.write_ascii(&run[..fits], true, sink);
                self.write_ascii(&run[run.len() - 1..], true, sink);
            } else {
                self.write_ascii(run, true, sink);
            }
            self.pos.col = self.pos.col.min(self.cols - 1);
            return;
        }
        while !run.is_empty() {
            if usize::from(self.pos.col) >= cols {
                let wrap = self.should_wrap(1);
                self.col_wrap(1, wrap, sink);
            }
            let col = usize::from(self.pos.col);
            if col >= cols {
                return;
            }
            let n = run.len().min(cols - col);
            let (seg, rest) = run.split_at(n);
            let row = self.row_mut(self.pos.row);
            let flags = row[col..col + n].iter().fold(0, |acc, &v| acc | v) & WIDE;
            if flags == 0 {
                // No wide character is overwritten: only the left neighbour can be the
                // first half of one whose second half we overwrite.
                if col > 0 && is_wide(row[col - 1]) {
                    row[col - 1] = 0;
                }
                for (cell, &b) in row[col..col + n].iter_mut().zip(seg) {
                    *cell = u32::from(b);
                }
            } else {
                for (k, &b) in seg.iter().enumerate() {
                    let j = col + k;
                    let was_wide = is_wide(row[j]);
                    row[j] = u32::from(b);
                    if j > 0 && is_wide(row[j - 1]) {
                        row[j - 1] = 0;
                    }
                    if was_wide && let Some(next) = row.get_mut(j + 1) {
                        *next = u32::from(' ');
                    }
                }
            }
            // n <= cols - col, so this fits in u16.
            self.pos.col += n as u16;
            run = rest;
        }
    }

    // ----- erasing -----

    pub(super) fn erase_all(&mut self) {
        self.cells.fill(0);
        self.wrapped.fill(false);
    }

    pub(super) fn erase_all_forward(&mut self) {
        self.reset_rows(self.pos.row + 1..self.rows);
        self.erase_row_forward();
    }

    pub(super) fn erase_all_backward(&mut self) {
        self.reset_rows(0..self.pos.row);
        self.erase_row_backward();
    }

    pub(super) fn erase_row(&mut self) {
        self.reset_row(self.pos.row);
    }

    pub(super) fn erase_row_forward(&mut self) {
        self.erase_range(self.pos.row, self.pos.col, self.cols);
    }

    pub(super) fn erase_row_backward(&mut self) {
        self.erase_range(self.pos.row, 0, self.pos.col.min(self.cols - 1) + 1);
    }

    pub(super) fn erase_cells(&mut self, count: u16) {
        let end = self.pos.col.saturating_add(count).min(self.cols);
        self.erase_range(self.pos.row, self.pos.col, end);
    }

    /// Erases cells `start..end` of row `r` as vt100's per-cell `Row::erase` does: erasing
    /// half of a wide character erases the other half, and erasing the last column ends
    /// the row's soft wrap.
    fn erase_range(&mut self, r: u16, start: u16, end: u16) {
        if start >= end {
            return;
        }
        let cols = usize::from(self.cols);
        let (start, end) = (usize::from(start), usize::from(end).min(cols));
        let row = self.row_mut(r);
        let flags = row[start..end].iter().fold(0, |acc, &v| acc | v) & (WIDE | CONT);
        if flags == 0 {
            row[start..end].fill(0);
            if end == cols {
                self.set_wrapped(r, false);
            }
            return;
        }
        for i in start..end {
            let row = self.row_mut(r);
            let wide = is_wide(row[i]);
            clear_wide(row, i);
            row[i] = 0;
            if i == cols.saturating_sub(if wide { 2 } else { 1 }) {
                self.set_wrapped(r, false);
            }
        }
    }

    // ----- inserting and deleting -----

    /// ICH: inserts blank cells at the cursor, dropping cells off the right edge.
    pub(super) fn insert_cells(&mut self, count: u16) {
        let r = self.pos.row;
        let col = usize::from(self.pos.col);
        let cols = usize::from(self.cols);
        let count = usize::from(count).min(cols.saturating_sub(col));
        if count == 0 {
            self.set_wrapped(r, false);
            return;
        }
        let row = self.row_mut(r);
        let was_cont = is_cont(row[col]);
        row[col] &= !CONT;
        row[col..].rotate_right(count);
        row[col..col + count].fill(0);
        if was_cont {
            row[col] |= CONT;
        }
        if is_wide(row[cols - 1]) {
            row[cols - 1] = 0;
        }
        self.set_wrapped(r, false);
    }

    /// DCH: deletes cells at the cursor, shifting the rest of the row left.
    pub(super) fn delete_cells(&mut self, count: u16) {
        let r = self.pos.row;
        self.set_wrapped(r, false);
        let start = usize::from(self.pos.col);
        let end = usize::from(self.pos.col.saturating_add(count).min(self.cols));
        if start >= end {
            return;
        }
        let row = self.row_mut(r);
        clear_wide(row, start);
        if end - 1 != start {
            clear_wide(row, end - 1);
        }
        row[start..end].fill(0);
        row[start..].rotate_left(end - start);
    }

    /// IL: inserts blank rows at the cursor row, within the scroll region.
    pub(super) fn insert_lines(&mut self, count: u16) {
        if count == 0 || !self.in_region() {
            return;
        }
        let (row, bottom) = (self.pos.row, self.bottom);
        let k = count.min(bottom - row + 1);
        self.phys[usize::from(row)..=usize::from(bottom)].rotate_right(usize::from(k));
        self.reset_rows(row..row + k);
        self.set_wrapped(bottom, false);
    }

    /// DL: deletes rows at the cursor row, within the scroll region.
    pub(super) fn delete_lines(&mut self, count: u16) {
        if !self.in_region() {
            return;
        }
        let (row, bottom) = (self.pos.row, self.bottom);
        let k = count.min(bottom - row + 1);
        self.reset_rows(row..row + k);
        self.phys[usize::from(row)..=usize::from(bottom)].rotate_left(usize::from(k));
    }

    /// SU: scrolls the region up; rows leaving a region that starts at row 0 go to `sink`.
    pub(super) fn scroll_up(&mut self, count: u16, sink: &mut Sink<'_>) {
        let (top, bottom) = (self.top, self.bottom);
        let k = count.min(bottom - top + 1);
        if top == 0
            && let Some(main) = sink.main.as_mut()
        {
            *main.unbounded = main.unbounded.saturating_add(usize::from(k));
            for r in 0..k {
                main.scrollback.push_row(self.row(r), self.is_wrapped(r), sink.clusters);
            }
        }
        self.reset_rows(top..top + k);
        self.phys[usize::from(top)..=usize::from(bottom)].rotate_left(usize::from(k));
    }

    /// SD: scrolls the region down.
    pub(super) fn scroll_down(&mut self, count: u16) {
        if count == 0 {
            return;
        }
        let (top, bottom) = (self.top, self.bottom);
        let k = count.min(bottom - top + 1);
        self.phys[usize::from(top)..=usize::from(bottom)].rotate_right(usize::from(k));
        self.reset_rows(top..top + k);
        self.set_wrapped(bottom, false);
    }

    /// DECSTBM (0-based, inclusive); an empty region means the whole screen. Homes the
    /// cursor to the region's top row.
    pub(super) fn set_scroll_region(&mut self, top: u16, bottom: u16) {
        let bottom = bottom.min(self.rows - 1);
        if top < bottom {
            self.top = top;
            self.bottom = bottom;
        } else {
            self.top = 0;
            self.bottom = self.rows - 1;
        }
        self.pos = Pos { row: self.top, col: 0 };
    }

    /// Whether a line feed at the bottom row scrolls the whole screen: no scroll region
    /// is set and origin mode is off.
    pub(super) fn scrolls_whole_screen(&self) -> bool {
        self.top == 0 && self.bottom == self.rows - 1 && !self.origin
    }

    pub(super) fn set_origin(&mut self, origin: bool) {
        self.origin = origin;
        self.set_pos(0, 0);
    }

    // ----- resizing -----

    /// vt100's `Grid::set_size`: a shorter grid drops rows below the cursor first and then
    /// scrolls rows off the top; a taller main grid pulls in as many blank rows at the top
    /// as have scrolled off before (capped by the growth), the rest are added at the
    /// bottom. Columns are cut or padded. The cursor keeps its place in the text.
    pub(super) fn resize(&mut self, rows: u16, cols: u16, sink: &mut Sink<'_>) {
        if (rows, cols) == (self.rows, self.cols) {
            return;
        }
        self.top = 0;
        self.bottom = self.rows - 1;
        let diff = self.rows.abs_diff(rows);
        // Logical source rows of the new grid, `None` for a new blank row.
        let mut sources: Vec<Option<u16>> = Vec::with_capacity(usize::from(rows));
        let pos_diff = if rows < self.rows {
            let excess_bottom = self.rows - self.pos.row - 1;
            let pushed = diff.saturating_sub(excess_bottom);
            self.scroll_up(pushed, sink);
            sources.extend((0..rows).map(Some));
            pushed
        } else {
            let pulled = match sink.main.as_mut() {
                Some(main) => {
                    let pulled = u16::try_from(*main.unbounded).unwrap_or(u16::MAX).min(diff);
                    *main.unbounded -= usize::from(pulled);
                    pulled
                }
                None => 0,
            };
            sources.extend((0..pulled).map(|_| None));
            sources.extend((0..self.rows).map(Some));
            sources.resize(usize::from(rows), None);
            pulled
        };

        let (old_cols, new_cols) = (usize::from(self.cols), usize::from(cols));
        let keep = old_cols.min(new_cols);
        let mut cells = vec![0u32; usize::from(rows) * new_cols];
        let mut wrapped = vec![false; usize::from(rows)];
        for (r, source) in sources.iter().enumerate() {
            let Some(src) = *source else { continue };
            let dst = &mut cells[r * new_cols..(r + 1) * new_cols];
            dst[..keep].copy_from_slice(&self.row(src)[..keep]);
            if new_cols < old_cols && is_wide(dst[new_cols - 1]) {
                dst[new_cols - 1] = 0;
            }
            wrapped[r] = new_cols == old_cols && self.is_wrapped(src);
        }
        if let Some(last) = wrapped.last_mut() {
            *last = false;
        }
        self.cells = cells;
        self.wrapped = wrapped;
        self.phys = (0..rows).collect();

        if rows < self.rows {
            self.pos.row = self.pos.row.saturating_sub(pos_diff).min(rows - 1);
            self.saved.row = self.saved.row.saturating_sub(pos_diff).min(rows - 1);
        } else {
            self.pos.row = self.pos.row.saturating_add(pos_diff).min(rows - 1);
            self.saved.row = self.saved.row.saturating_add(pos_diff).min(rows - 1);
        }
        self.pos.col = self.pos.col.min(cols - 1);
        self.saved.col = self.saved.col.min(cols - 1);
        self.rows = rows;
        self.cols = cols;
        self.bottom = rows - 1;
    }
}

/// Clears the other half of a wide character at `i` (vt100's `Row::clear_wide`).
fn clear_wide(row: &mut [u32], i: usize) {
    let v = row[i];
    if is_wide(v) {
        match row.get_mut(i + 1) {
            Some(next) => *next = 0,
            None => row[i] = 0,
        }
    } else if is_cont(v) && i > 0 {
        row[i - 1] = 0;
    }
}
