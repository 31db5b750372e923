//! A lossless byte encoding of a grid's cells, for idle and hidden screens.
//!
//! Most cells are one printable character, so the encoding is mostly UTF-8: a cell holding
//! a plain character is that character's UTF-8 bytes (the first byte is always ≥ 0x20,
//! because controls are never stored). Bytes below 0x20 are tokens:
//!
//! | token | meaning |
//! |---|---|
//! | `00 n` | `n` empty cells (1..=255) |
//! | `01` | an empty second half of a wide character |
//! | `02 b0 b1 b2 b3` | any other cell value, little-endian `u32` (never a cluster) |
//! | `03 flags len bytes…` | a multi-code-point cell: its flag bits (`WIDE >> 24` etc.) and text |
//! | `05` / `06` | end of row, not soft-wrapped / soft-wrapped |
//! | `07 utf8` | a plain character with the wide flag |
//!
//! Trailing empty cells of a row and trailing empty rows are not stored, so a blank screen
//! is zero bytes and a shell prompt a few dozen.

use super::cell::{CLUSTER, CONT, Clusters, PAYLOAD, WIDE};

const EMPTY_RUN: u8 = 0x00;
const CONT_CELL: u8 = 0x01;
const RAW: u8 = 0x02;
const MULTI: u8 = 0x03;
const ROW_END: u8 = 0x05;
const ROW_END_WRAPPED: u8 = 0x06;
const WIDE_CHAR: u8 = 0x07;

/// Encodes rows (cells and soft-wrap flag) in order.
pub(super) fn encode<'a>(rows: impl Iterator<Item = (&'a [u32], bool)>, clusters: &Clusters) -> Box<[u8]> {
    let mut out = Vec::new();
    // Length of `out` after the last row that is not blank: trailing blank rows are cut.
    let mut keep = 0;
    for (row, wrapped) in rows {
        let end = row.iter().rposition(|&v| v != 0).map_or(0, |p| p + 1);
        let mut i = 0;
        while i < end {
            let v = row[i];
            if v == 0 {
                let run = row[i..end].iter().take(255).take_while(|&&v| v == 0).count();
                // run is at most 255.
                out.extend_from_slice(&[EMPTY_RUN, run as u8]);
                i += run;
                continue;
            }
            encode_cell(&mut out, v, clusters);
            i += 1;
        }
        out.push(if wrapped { ROW_END_WRAPPED } else { ROW_END });
        if end > 0 || wrapped {
            keep = out.len();
        }
    }
    out.truncate(keep);
    out.into_boxed_slice()
}

fn encode_cell(out: &mut Vec<u8>, v: u32, clusters: &Clusters) {
    if v == CONT {
        out.push(CONT_CELL);
        return;
    }
    let flags = v & (WIDE | CONT);
    if v & CLUSTER != 0 {
        let text = clusters.get(v).as_bytes();
        let text = &text[..text.len().min(255)];
        // flags live in the top two bits; the shifted value fits a byte.
        out.extend_from_slice(&[MULTI, (flags >> 24) as u8, text.len() as u8]);
        out.extend_from_slice(text);
        return;
    }
    match char::from_u32(v & PAYLOAD) {
        Some(c) if c >= ' ' && (flags == 0 || flags == WIDE) => {
            if flags == WIDE {
                out.push(WIDE_CHAR);
            }
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
        _ => {
            out.push(RAW);
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

/// Decodes `packed` into `cells` (rows of `cols`, all zero on entry) and `wrapped`.
/// Malformed input (which `encode` never produces) decodes to blanks rather than failing.
pub(super) fn decode(packed: &[u8], cols: usize, cells: &mut [u32], wrapped: &mut [bool], clusters: &mut Clusters) {
    let rows = wrapped.len();
    let (mut r, mut c, mut i) = (0usize, 0usize, 0usize);
    let mut put = |r: usize, c: &mut usize, v: u32| {
        if *c < cols
            && let Some(cell) = cells.get_mut(r * cols + *c)
        {
            *cell = v;
        }
        *c += 1;
    };
    while i < packed.len() && r < rows {
        let b = packed[i];
        i += 1;
        match b {
            EMPTY_RUN => {
                c += usize::from(packed.get(i).copied().unwrap_or(0));
                i += 1;
            }
            CONT_CELL => put(r, &mut c, CONT),
            RAW => {
                let v = packed.get(i..i + 4).and_then(|b| b.try_into().ok()).map_or(0, u32::from_le_bytes);
                i += 4;
                put(r, &mut c, if v & CLUSTER != 0 { 0 } else { v });
            }
            MULTI => {
                let flags = u32::from(packed.get(i).copied().unwrap_or(0)) << 24;
                let len = usize::from(packed.get(i + 1).copied().unwrap_or(0));
                let text = packed.get(i + 2..i + 2 + len).and_then(|t| std::str::from_utf8(t).ok()).unwrap_or("");
                i += 2 + len;
                let v = clusters.intern(text).map_or(0, |payload| payload | (flags & (WIDE | CONT)));
                put(r, &mut c, v);
            }
            ROW_END | ROW_END_WRAPPED => {
                wrapped[r] = b == ROW_END_WRAPPED;
                r += 1;
                c = 0;
            }
            WIDE_CHAR => {
                let (ch, len) = decode_char(&packed[i..]);
                i += len;
                put(r, &mut c, ch.map_or(0, |ch| u32::from(ch) | WIDE));
            }
            _ => {
                let (ch, len) = decode_char(&packed[i - 1..]);
                i += len.saturating_sub(1);
                put(r, &mut c, ch.map_or(0, u32::from));
            }
        }
    }
}

/// The UTF-8 character at the start of `bytes` and its length (at least 1).
fn decode_char(bytes: &[u8]) -> (Option<char>, usize) {
    let len = match bytes.first() {
        Some(b) if *b < 0x80 => 1,
        Some(b) if *b >= 0xF0 => 4,
        Some(b) if *b >= 0xE0 => 3,
        Some(_) => 2,
        None => return (None, 1),
    };
    let ch = bytes.get(..len).and_then(|b| std::str::from_utf8(b).ok()).and_then(|s| s.chars().next());
    (ch, len)
}
