//! Cells, grapheme clusters, row rendering and the scrollback text.
//!
//! A cell is one `u32`: the low 21 bits hold a code point (or, with [`CLUSTER`], an index
//! into [`Clusters`]), the high bits hold the wide-character flags. `0` is an empty cell,
//! which is not the same as a written space: like vt100, a written space is text and an
//! empty cell is not.

use unicode_width::UnicodeWidthStr as _;

/// The cell holds the first half of a wide character.
pub(super) const WIDE: u32 = 1 << 31;
/// The cell is the (empty) second half of a wide character.
pub(super) const CONT: u32 = 1 << 30;
/// The payload is an index into [`Clusters`] rather than a code point.
pub(super) const CLUSTER: u32 = 1 << 29;
/// Code point or cluster index.
pub(super) const PAYLOAD: u32 = (1 << 21) - 1;
const CONTENT: u32 = CLUSTER | PAYLOAD;

/// Longest cluster text (in bytes) to which vt100 still appends a combining character.
const CLUSTER_APPEND_LIMIT: usize = 18;
/// Most clusters the table may hold (indices must fit in [`PAYLOAD`]).
const CLUSTER_MAX: usize = PAYLOAD as usize;

pub(super) fn has_contents(v: u32) -> bool {
    v & CONTENT != 0
}

pub(super) fn is_wide(v: u32) -> bool {
    v & WIDE != 0
}

pub(super) fn is_cont(v: u32) -> bool {
    v & CONT != 0
}

/// Text of cells that hold more than one code point (a base plus combining marks).
///
/// Only the active, unpacked grid refers to it; packed grids store the text inline. It is
/// garbage-collected by the owner when it grows (see `Term::collect_clusters`).
pub(super) struct Clusters {
    strings: Vec<Box<str>>,
    /// Length at which the owner should collect garbage before interning more.
    pub(super) gc_at: usize,
}

/// Table length below which no garbage is collected.
const CLUSTER_GC_MIN: usize = 64;

impl Default for Clusters {
    fn default() -> Clusters {
        Clusters { strings: Vec::new(), gc_at: CLUSTER_GC_MIN }
    }
}

impl Clusters {
    pub(super) fn get(&self, v: u32) -> &str {
        self.strings.get((v & PAYLOAD) as usize).map_or("", |s| s)
    }

    pub(super) fn len(&self) -> usize {
        self.strings.len()
    }

    /// Stores `s` and returns its cell payload (with [`CLUSTER`]), or `None` when full.
    pub(super) fn intern(&mut self, s: &str) -> Option<u32> {
        if self.strings.len() >= CLUSTER_MAX {
            return None;
        }
        let idx = u32::try_from(self.strings.len()).ok()?;
        self.strings.push(s.into());
        Some(CLUSTER | idx)
    }

    /// Replaces the table with `strings` (used by garbage collection); the next
    /// collection is due at twice as many, and at least `floor`.
    pub(super) fn replace(&mut self, strings: Vec<Box<str>>, floor: usize) {
        self.gc_at = (strings.len() * 2).max(floor).max(CLUSTER_GC_MIN);
        self.strings = strings;
    }

    pub(super) fn clear(&mut self) {
        *self = Clusters::default();
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.strings.capacity() * std::mem::size_of::<Box<str>>() + self.strings.iter().map(|s| s.len()).sum::<usize>()
    }
}

/// Pushes the text of cell `v` (nothing for an empty cell).
fn push_cell(out: &mut String, v: u32, clusters: &Clusters) {
    if v & CLUSTER != 0 {
        out.push_str(clusters.get(v));
    } else if let Some(c) = char::from_u32(v & PAYLOAD) {
        out.push(c);
    }
}

/// Pushes the UTF-8 text of cell `v` onto a byte buffer.
fn push_cell_bytes(out: &mut Vec<u8>, v: u32, clusters: &Clusters) {
    if v & CLUSTER != 0 {
        out.extend_from_slice(clusters.get(v).as_bytes());
    } else if let Some(c) = char::from_u32(v & PAYLOAD) {
        out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
    }
}

/// Makes a `String` of bytes that [`render_row`] wrote (always valid UTF-8).
pub(super) fn into_string(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The cell text of `v` as an owned string (for appending a combining mark).
pub(super) fn cell_string(v: u32, clusters: &Clusters) -> String {
    let mut s = String::new();
    if has_contents(v) {
        push_cell(&mut s, v, clusters);
    }
    s
}

/// Appends the zero-width character `c` to cell `v`, as vt100's `Cell::append` does:
/// nothing once the text reaches 18 bytes, a leading space for an empty cell, and U+FE0F
/// (emoji presentation) recomputes the wide flag from the text's width.
pub(super) fn append(v: u32, c: char, clusters: &mut Clusters) -> u32 {
    let mut s = cell_string(v, clusters);
    if s.len() >= CLUSTER_APPEND_LIMIT {
        return v;
    }
    if s.is_empty() {
        s.push(' ');
    }
    s.push(c);
    let mut flags = v & (WIDE | CONT);
    if c == '\u{FE0F}' {
        if s.width() > 1 {
            flags |= WIDE;
        } else {
            flags &= !WIDE;
        }
    }
    match clusters.intern(&s) {
        Some(payload) => payload | flags,
        None => v,
    }
}

/// Writes the UTF-8 text of one row the way vt100's `Row::write_contents` does: empty
/// cells before a non-empty one become spaces, trailing empty cells are dropped, the cell
/// after a wide one is skipped. Returns whether anything was written.
pub(super) fn render_row(out: &mut Vec<u8>, row: &[u32], clusters: &Clusters) -> bool {
    let end = row.iter().rposition(|&v| has_contents(v)).map_or(0, |p| p + 1);
    let row = &row[..end];
    if row.iter().fold(0, |acc, &v| acc | v) < 0x80 {
        // Only ASCII and empty cells (no flags): one byte per cell.
        out.extend(row.iter().map(|&v| if v == 0 { b' ' } else { v as u8 }));
        return end != 0;
    }
    let mut next_col = 0usize;
    let mut skip = false;
    for (col, &v) in row.iter().enumerate() {
        if skip {
            skip = false;
            continue;
        }
        skip = is_wide(v);
        if has_contents(v) {
            out.resize(out.len() + (col - next_col.min(col)), b' ');
            if v < 0x80 {
                // Plain ASCII: no flags, no cluster.
                out.push(v as u8);
            } else {
                push_cell_bytes(out, v, clusters);
            }
            next_col = col + if skip { 2 } else { 1 };
        }
    }
    next_col != 0
}

/// Most recent text that scrolled off the top of the main screen.
///
/// Rows are not rendered as they scroll off: the newest ones are kept as raw cells in a
/// small ring (`ring`), and rendered into `text` only when the ring is full, when the
/// screen is compacted, or (into a copy) when the text is asked for. Rows older than
/// enough ring rows to fill [`SCROLLBACK_CAP`] can never be seen again and are dropped
/// without being rendered. Rows holding grapheme clusters are rendered at once (after the
/// ring), so the ring never refers to the cluster table.
#[derive(Default)]
pub(super) struct Scrollback {
    /// Text of the rows before the ring: at least the last [`SCROLLBACK_CAP`] bytes of it
    /// (all of it if shorter), always valid UTF-8.
    text: Vec<u8>,
    /// Whether the last row rendered into `text` (or dropped) soft-wrapped.
    prev_wrapped: bool,
    /// Whether older text was dropped from the front of `text` (or never rendered).
    dropped: bool,
    /// Rows pushed so far (never reset: it numbers lines for callers).
    pushed: u64,
    /// Slot storage of the ring; slots past `ring_len` keep their buffers for reuse.
    slots: Vec<RingRow>,
    /// Index in `slots` of the oldest ring row.
    ring_head: usize,
    /// Rows in the ring.
    ring_len: usize,
    /// Sum of the ring rows' [`RingRow::min_bytes`].
    ring_min_bytes: usize,
}

/// One scrolled-off row not rendered yet.
#[derive(Default)]
struct RingRow {
    /// The row's cells up to its last non-empty one; never a cluster.
    cells: Vec<u32>,
    wrapped: bool,
    /// A lower bound of the bytes rendering the row appends to the text.
    min_bytes: usize,
}

/// How much scrollback text [`Scrollback::text`] returns.
pub(super) const SCROLLBACK_CAP: usize = 4096;
/// Trim the buffer when it passes this length (amortises the front removal).
const SCROLLBACK_TRIM_AT: usize = SCROLLBACK_CAP + SCROLLBACK_CAP / 2;
/// Most rows the ring holds (it usually holds fewer: enough to fill [`SCROLLBACK_CAP`]).
const RING_MAX: usize = 128;

/// Appends the text of one scrolled-off row to `out`, joining a soft-wrapped row to the
/// next without a newline, as in the screen text.
fn append_row(out: &mut Vec<u8>, prev_wrapped: &mut bool, row: &[u32], wrapped: bool, clusters: &Clusters) {
    let wrote = render_row(out, row, clusters);
    if !wrote && *prev_wrapped {
        out.push(b'\n');
    }
    if !wrapped {
        out.push(b'\n');
    }
    *prev_wrapped = wrapped;
}

impl Scrollback {
    /// Adds one row that scrolled off. Rows that soft-wrapped are joined to the next one
    /// without a newline, as in the screen text.
    pub(super) fn push_row(&mut self, row: &[u32], wrapped: bool, clusters: &Clusters) {
        self.pushed += 1;
        let end = row.iter().rposition(|&v| has_contents(v)).map_or(0, |p| p + 1);
        let row = &row[..end];
        let bits = row.iter().fold(0, |acc, &v| acc | v);
        if bits & CLUSTER != 0 {
            self.flush_ring();
            self.render_into_text(row, wrapped, clusters);
            return;
        }
        // Without wide flags no cell is skipped, so every column up to the last non-empty
        // cell renders as at least one byte (exactly one for ASCII); a wide flag can hide
        // the following cell, so count only the newline then.
        let min_bytes = if bits & WIDE == 0 { end } else { 0 } + usize::from(!wrapped);
        if self.ring_len == RING_MAX {
            self.evict_oldest();
        }
        if self.ring_len == self.slots.len() {
            // The ring is contiguous from `ring_head` to the end of `slots` only if it
            // starts at 0 here; rotate so that a new slot can go at the end.
            self.slots.rotate_left(self.ring_head);
            self.ring_head = 0;
            self.slots.push(RingRow::default());
        }
        let idx = (self.ring_head + self.ring_len) % self.slots.len();
        let slot = &mut self.slots[idx];
        slot.cells.clear();
        slot.cells.extend_from_slice(row);
        slot.wrapped = wrapped;
        slot.min_bytes = min_bytes;
        self.ring_len += 1;
        self.ring_min_bytes += min_bytes;
        // Drop the oldest rows that the newer ones are sure to push out of the window.
        while self.ring_len > 1 && self.ring_min_bytes - self.slots[self.ring_head].min_bytes >= SCROLLBACK_CAP {
            let oldest = self.pop_oldest();
            self.text.clear();
            self.dropped = true;
            self.prev_wrapped = self.slots[oldest].wrapped;
        }
    }

    /// Removes the oldest ring row and returns its slot index (its data stays there until
    /// the next push reuses it).
    fn pop_oldest(&mut self) -> usize {
        let oldest = self.ring_head;
        self.ring_min_bytes -= self.slots[oldest].min_bytes;
        self.ring_head = (self.ring_head + 1) % self.slots.len();
        self.ring_len -= 1;
        oldest
    }

    /// Renders the oldest ring row into `text`.
    fn evict_oldest(&mut self) {
        let oldest = self.pop_oldest();
        let cells = std::mem::take(&mut self.slots[oldest].cells);
        // Ring rows hold no clusters, so an empty table renders them.
        self.render_into_text(&cells, self.slots[oldest].wrapped, &Clusters::default());
        self.slots[oldest].cells = cells;
    }

    /// Renders every ring row into `text`.
    fn flush_ring(&mut self) {
        while self.ring_len > 0 {
            self.evict_oldest();
        }
        self.ring_head = 0;
    }

    fn render_into_text(&mut self, row: &[u32], wrapped: bool, clusters: &Clusters) {
        append_row(&mut self.text, &mut self.prev_wrapped, row, wrapped, clusters);
        if self.text.len() > SCROLLBACK_TRIM_AT {
            self.keep_last(SCROLLBACK_CAP);
        }
    }

    /// The last [`SCROLLBACK_CAP`] bytes, from the first line start in their first half if
    /// there is one. Depends only on those bytes, which `text` and the ring always hold.
    pub(super) fn text(&self) -> String {
        let mut all;
        let bytes = if self.ring_len == 0 {
            &self.text
        } else {
            all = self.text.clone();
            let mut prev_wrapped = self.prev_wrapped;
            let clusters = Clusters::default();
            for i in 0..self.ring_len {
                let slot = &self.slots[(self.ring_head + i) % self.slots.len()];
                append_row(&mut all, &mut prev_wrapped, &slot.cells, slot.wrapped, &clusters);
            }
            &all
        };
        let mut start = bytes.len().saturating_sub(SCROLLBACK_CAP);
        while !is_char_start(bytes, start) {
            start += 1;
        }
        if (start > 0 || self.dropped)
            && let Some(nl) = bytes[start..].iter().position(|&b| b == b'\n').filter(|&nl| nl < SCROLLBACK_CAP / 2)
        {
            start += nl + 1;
        }
        let mut end = bytes.len();
        while end > start && bytes[end - 1] == b'\n' {
            end -= 1;
        }
        into_string(bytes[start..end].to_vec())
    }

    pub(super) fn clear(&mut self) {
        *self = Scrollback { pushed: self.pushed, ..Scrollback::default() };
    }

    /// Counts `count` rows as pushed without storing them (their text could not be seen:
    /// the caller pushes enough rows after them to fill the window).
    pub(super) fn skip(&mut self, count: u64) {
        self.pushed = self.pushed.saturating_add(count);
    }

    /// Rows that scrolled off so far, including cleared ones.
    pub(super) fn pushed(&self) -> u64 {
        self.pushed
    }

    /// Renders the ring and frees it, and trims the text to what [`Scrollback::text`] needs.
    pub(super) fn shrink(&mut self) {
        self.flush_ring();
        self.slots = Vec::new();
        self.keep_last(SCROLLBACK_CAP);
        self.text.shrink_to_fit();
    }

    /// Drops all but the last `n` bytes (rounded to a char boundary).
    fn keep_last(&mut self, n: usize) {
        let mut cut = self.text.len().saturating_sub(n);
        while !is_char_start(&self.text, cut) {
            cut += 1;
        }
        self.text.drain(..cut);
        self.dropped |= cut > 0;
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.text.capacity()
            + self.slots.capacity() * std::mem::size_of::<RingRow>()
            + self.slots.iter().map(|s| s.cells.capacity() * std::mem::size_of::<u32>()).sum::<usize>()
    }
}

/// Whether `i` is the start of a character in UTF-8 `bytes` (or their end).
fn is_char_start(bytes: &[u8], i: usize) -> bool {
    bytes.get(i).is_none_or(|&b| b & 0xC0 != 0x80)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scrollback as it was before the ring: every row rendered at once.
    #[derive(Default)]
    struct Eager {
        text: Vec<u8>,
        prev_wrapped: bool,
        dropped: bool,
    }

    impl Eager {
        fn push_row(&mut self, row: &[u32], wrapped: bool, clusters: &Clusters) {
            append_row(&mut self.text, &mut self.prev_wrapped, row, wrapped, clusters);
            if self.text.len() > SCROLLBACK_TRIM_AT {
                self.keep_last(SCROLLBACK_CAP);
            }
        }

        fn keep_last(&mut self, n: usize) {
            let mut cut = self.text.len().saturating_sub(n);
            while !is_char_start(&self.text, cut) {
                cut += 1;
            }
            self.text.drain(..cut);
            self.dropped |= cut > 0;
        }

        fn text(&self) -> String {
            let mut start = self.text.len().saturating_sub(SCROLLBACK_CAP);
            while !is_char_start(&self.text, start) {
                start += 1;
            }
            if (start > 0 || self.dropped)
                && let Some(nl) =
                    self.text[start..].iter().position(|&b| b == b'\n').filter(|&nl| nl < SCROLLBACK_CAP / 2)
            {
                start += nl + 1;
            }
            let mut end = self.text.len();
            while end > start && self.text[end - 1] == b'\n' {
                end -= 1;
            }
            into_string(self.text[start..end].to_vec())
        }
    }

    #[test]
    fn lazy_scrollback_matches_eager_rendering() {
        let mut clusters = Clusters::default();
        let cluster = clusters.intern("e\u{301}").expect("room");
        let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
        let mut rand = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for round in 0..40 {
            let (mut lazy, mut eager) = (Scrollback::default(), Eager::default());
            let cols = 1 + rand(130) as usize;
            // Rounds differ in how long and how exotic the rows are.
            let fill = 1 + rand(cols as u64);
            let exotic = rand(4);
            let mut pushes = 0u64;
            for step in 0..3000 {
                let len = rand(fill + 1) as usize;
                let mut row = vec![0u32; cols];
                let mut c = 0;
                while c < len.min(cols) {
                    let kind = if exotic == 0 { 0 } else { rand(40) };
                    match kind {
                        0..=30 => row[c] = if rand(8) == 0 { 0 } else { u32::from(b'a') + rand(26) as u32 },
                        31..=33 => row[c] = 'é' as u32,
                        34..=35 if c + 1 < cols => {
                            row[c] = '中' as u32 | WIDE;
                            row[c + 1] = CONT;
                            c += 1;
                        }
                        36 => row[c] = WIDE,
                        37 if exotic == 3 => row[c] = cluster,
                        _ => row[c] = u32::from(b' '),
                    }
                    c += 1;
                }
                let wrapped = rand(3) == 0;
                lazy.push_row(&row, wrapped, &clusters);
                eager.push_row(&row, wrapped, &clusters);
                pushes += 1;
                if rand(50) == 0 || step == 2999 {
                    assert_eq!(lazy.text(), eager.text(), "round {round} step {step}");
                }
                if rand(500) == 0 {
                    lazy.shrink();
                    eager.keep_last(SCROLLBACK_CAP);
                    assert_eq!(lazy.text(), eager.text(), "round {round} step {step} after shrink");
                }
                if rand(1000) == 0 {
                    lazy.clear();
                    eager = Eager::default();
                }
            }
            assert_eq!(lazy.pushed(), pushes);
            lazy.shrink();
            assert!(lazy.heap_bytes() <= SCROLLBACK_CAP, "round {round}: {}", lazy.heap_bytes());
            assert_eq!(lazy.text(), eager.text(), "round {round} at the end");
        }
    }
}
