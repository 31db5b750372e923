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
use wide::u8x64;

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
        // The latest cut: a CR before the `need`-th line feed from the end.
        let last_needed = nth_feed_from_end(plain, need)?;
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
    if usize::from(cols) >= BLOCK {
        match rows_by_block(dropped, col, cols) {
            BlockScan::Rows(rows) => return Some((rows, false)),
            BlockScan::Unsure => return None,
            BlockScan::Controls => {}
        }
    }
    rows_by_line(dropped, col, cols)
}

/// [`dropped_rows_and_rare`] for any input without ESC, one stretch between CRs at a time.
fn rows_by_line(dropped: &[u8], col: u16, cols: u16) -> Option<(u64, bool)> {
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

/// Where the `n`-th line feed from the end of `data` is (`n` ≥ 1), or `None` when there
/// are fewer: line feeds are counted [`BLOCK`] bytes at a time from the end, so a search
/// that fails costs one vector pass and one that succeeds reads only as far as it must.
fn nth_feed_from_end(data: &[u8], n: usize) -> Option<usize> {
    debug_assert!(n > 0);
    let lf = u8x64::splat(b'\n');
    let (head, blocks) = data.as_rchunks::<BLOCK>();
    let mut left = n;
    for (i, block) in blocks.iter().enumerate().rev() {
        let mut feeds = u8x64::new(*block).simd_eq(lf).to_bitmask();
        let here = feeds.count_ones() as usize;
        if left > here {
            left -= here;
            continue;
        }
        // The `left`-th highest set bit.
        for _ in 1..left {
            feeds &= !(1 << (63 - feeds.leading_zeros()));
        }
        return Some(head.len() + i * BLOCK + 63 - feeds.leading_zeros() as usize);
    }
    memrchr_iter(b'\n', head).nth(left - 1)
}

/// Bytes [`rows_by_block`] looks at together.
const BLOCK: usize = 64;

/// What [`rows_by_block`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockScan {
    /// The row increments: line feeds and soft wraps.
    Rows(u64),
    /// A stretch long enough to wrap holds U+FE0F: the count is unsure.
    Unsure,
    /// A C0 control other than CR and LF: for the general count.
    Controls,
}

/// The rows of [`dropped_rows`] in one pass over a flood of text, CRs and LFs on a screen
/// at least [`BLOCK`] columns wide, [`BLOCK`] bytes at a time: vector compares give each
/// block's CRs as a bit mask, and count its LFs and other C0 controls in vector lanes. A
/// stretch between two CRs of one block is shorter than a row and starts in column 0, so
/// it cannot wrap; only the stretch that reaches into a block from before its first CR
/// is measured. A flood of short lines costs a few instructions per block, where the
/// general count searches once per line.
fn rows_by_block(data: &[u8], col: u16, cols: u16) -> BlockScan {
    let (cr, lf, c0) = (u8x64::splat(b'\r'), u8x64::splat(b'\n'), u8x64::splat(0x1F));
    let (blocks, rest) = data.as_chunks::<BLOCK>();
    // The last, partial block is padded with spaces: text that is no CR, LF or control.
    let mut last = [b' '; BLOCK];
    last[..rest.len()].copy_from_slice(rest);
    let (mut wraps, mut feeds) = (0u64, 0u64);
    let (mut seg_start, mut seg_col) = (0, col);
    // Line feeds by lane (a lane counts at most one a block, so it is added up and
    // cleared every 255 blocks), and the lanes that saw another control (looked at
    // then too, so that input with them goes to the general count after ~16 KB).
    let (mut lanes, mut lane_blocks, mut controls) = (u8x64::splat(0), 0u8, u8x64::splat(0));
    let lane_sum = |lanes: u8x64| lanes.to_array().iter().map(|&n| u64::from(n)).sum::<u64>();
    for (i, block) in blocks.iter().chain([&last]).enumerate() {
        let v = u8x64::new(*block);
        let (is_cr, is_lf) = (v.simd_eq(cr), v.simd_eq(lf));
        controls |= v.min(c0).simd_eq(v) & !(is_cr | is_lf);
        // A match is all ones: subtracting it adds one.
        lanes -= is_lf;
        lane_blocks += 1;
        if lane_blocks == u8::MAX {
            if controls.any() {
                return BlockScan::Controls;
            }
            feeds += lane_sum(lanes);
            (lanes, lane_blocks) = (u8x64::splat(0), 0);
        }
        let crs = is_cr.to_bitmask();
        if crs != 0 {
            let base = i * BLOCK;
            let first = base + crs.trailing_zeros() as usize;
            if usize::from(seg_col) + (first - seg_start) > usize::from(cols) {
                match segment_wraps(&data[seg_start..first], seg_col, cols, false) {
                    Some(w) => wraps += w,
                    None => return BlockScan::Unsure,
                }
            }
            (seg_start, seg_col) = (base + BLOCK - crs.leading_zeros() as usize, 0);
        }
    }
    if controls.any() {
        return BlockScan::Controls;
    }
    match segment_wraps(&data[seg_start..], seg_col, cols, false) {
        Some(w) => BlockScan::Rows(feeds + lane_sum(lanes) + wraps + w),
        None => BlockScan::Unsure,
    }
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use memchr::memrchr_iter;

    use super::{BLOCK, BlockScan, nth_feed_from_end, rows_by_block, rows_by_line};

    /// Pieces of a flood: text of every width, line ends, and the controls that send
    /// [`rows_by_block`] to the general count.
    fn piece() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            40 => (0usize..150).prop_map(|n| b"x".repeat(n)),
            20 => Just(b"\r\n".to_vec()),
            3 => Just(b"\r".to_vec()),
            3 => Just(b"\n".to_vec()),
            3 => Just("\u{e9}".as_bytes().to_vec()),
            3 => Just("\u{4e2d}".as_bytes().to_vec()),
            2 => Just("\u{26a0}\u{fe0f}".as_bytes().to_vec()),
            // Rare, so that most inputs have none and are counted in blocks.
            1 => prop::sample::select(vec![0x00u8, 0x07, 0x08, 0x09, 0x0B, 0x0C, 0x0E, 0x0F, 0x1F, 0x7F, 0x9B]).prop_map(|b| vec![b]),
        ]
    }

    proptest! {
        /// The block count is the general count wherever it gives one.
        #[test]
        fn blocks_count_what_lines_count(
            pieces in prop::collection::vec(piece(), 0..60),
            cols in prop::sample::select(vec![64u16, 65, 80, 120, 200]),
            col in 0u16..200,
        ) {
            let data = pieces.concat();
            let col = col % cols;
            let general = rows_by_line(&data, col, cols);
            match rows_by_block(&data, col, cols) {
                BlockScan::Rows(rows) => prop_assert_eq!(general, Some((rows, false))),
                BlockScan::Unsure => prop_assert_eq!(general, None),
                BlockScan::Controls => prop_assert!(data.iter().any(|&b| b < 0x20 && b != b'\r' && b != b'\n')),
            }
        }
    }

    proptest! {
        /// The block search finds the line feed a search one by one finds.
        #[test]
        fn the_nth_feed_from_the_end_is_found_in_blocks(
            pieces in prop::collection::vec(prop_oneof![
                (0usize..200).prop_map(|n| b"x".repeat(n)),
                Just(b"\n".to_vec()),
                Just(b"\r\n".to_vec()),
            ], 0..80),
            n in 1usize..120,
        ) {
            let data = pieces.concat();
            prop_assert_eq!(nth_feed_from_end(&data, n), memrchr_iter(b'\n', &data).nth(n - 1));
        }
    }

    #[test]
    fn the_nth_feed_from_the_end_in_a_run_of_line_feeds() {
        let data = [b'\n'; 1000];
        for n in 1..=1000 {
            assert_eq!(nth_feed_from_end(&data, n), Some(1000 - n), "{n}");
        }
        assert_eq!(nth_feed_from_end(&data, 1001), None);
        assert_eq!(nth_feed_from_end(b"", 1), None);
    }

    #[test]
    fn blocks_see_every_line_end_and_the_stretches_across_blocks() {
        // Lines of every length around a block, so stretches start and end on each side
        // of a block's edge, and one too long for the row.
        let mut data = Vec::new();
        for len in 0..3 * BLOCK {
            data.extend(b"y".repeat(len));
            data.extend(b"\r\n");
        }
        data.extend(b"z".repeat(300));
        let want = rows_by_line(&data, 5, 80).expect("a sure count").0;
        assert_eq!(rows_by_block(&data, 5, 80), BlockScan::Rows(want));
        // 3 × 64 line feeds, the lines of 81+ columns wrap once (and 161+ twice), the last
        // stretch wraps three times.
        assert_eq!(want, 3 * 64 + (3 * 64 - 81) as u64 + (3 * 64 - 161) as u64 + 3);
        // Lines ended by CR alone: a stretch of exactly one column more than the row wraps.
        let mut data = Vec::new();
        for len in 0..3 * BLOCK {
            data.extend(b"y".repeat(len));
            data.push(b'\r');
        }
        let want = rows_by_line(&data, 0, 80).expect("a sure count").0;
        assert_eq!(rows_by_block(&data, 0, 80), BlockScan::Rows(want));
        assert_eq!(want, (3 * 64 - 81) as u64 + (3 * 64 - 161) as u64);
    }
}
