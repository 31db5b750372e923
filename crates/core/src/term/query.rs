//! Terminal queries in a program's output, and the replies a terminal would give.
//!
//! Programs ask their terminal things and wait for the answer on their input: device
//! attributes (`CSI c`, `CSI > c`), status and cursor position (`CSI 5 n`, `CSI 6 n`,
//! `CSI ? 6 n`), the window size (`CSI 14 t`, `CSI 16 t`, `CSI 18 t`) and the default
//! colours (`OSC 10 ; ?`, `OSC 11 ; ?`). When no terminal is attached to a session,
//! warden answers them itself; [`QueryScanner`] finds them in the output as it streams
//! by (split anywhere), and [`Query::reply`] writes the answer from the screen model's
//! state ([`ReplyContext`]).
//!
//! The scanner keeps a few bytes of state and at most [`PARAMS_CAP`] bytes of a
//! sequence; longer sequences are skipped, never buffered.

use memchr::memchr;

/// The longest parameter string (or OSC body) looked at; longer ones are no query.
pub const PARAMS_CAP: usize = 16;

/// A question a program asked its terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    /// `CSI c` / `CSI 0 c`: primary device attributes.
    PrimaryAttributes,
    /// `CSI > c` / `CSI > 0 c`: secondary device attributes.
    SecondaryAttributes,
    /// `CSI 5 n`: operating status.
    Status,
    /// `CSI 6 n`: cursor position.
    CursorPosition,
    /// `CSI ? 6 n`: cursor position, DEC form.
    CursorPositionDec,
    /// `CSI 14 t`: text area size in pixels.
    SizePixels,
    /// `CSI 16 t`: cell size in pixels.
    CellPixels,
    /// `CSI 18 t`: text area size in cells.
    SizeCells,
    /// `OSC 10 ; ?`: default foreground colour (`bel`: the query ended with BEL, not ST).
    Foreground {
        /// Ended with BEL.
        bel: bool,
    },
    /// `OSC 11 ; ?`: default background colour.
    Background {
        /// Ended with BEL.
        bel: bool,
    },
}

/// Pixels per cell warden reports (a common 8×16 font).
const CELL_PX: (u32, u32) = (16, 8);

/// What a reply is made from: the screen's state at the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyContext {
    /// Rows and columns of the screen.
    pub size: (u16, u16),
    /// Cursor row and column, 0-based.
    pub cursor: (u16, u16),
}

impl Query {
    /// Whether the reply depends on where the cursor is.
    pub fn needs_cursor(self) -> bool {
        matches!(self, Query::CursorPosition | Query::CursorPositionDec)
    }

    /// The bytes a terminal (xterm-like, 8×16 cells, white on black) answers with.
    pub fn reply(self, ctx: &ReplyContext) -> Vec<u8> {
        let (rows, cols) = ctx.size;
        let (row, col) = ctx.cursor;
        let text = match self {
            // VT100 with advanced video option: what tmux and most terminals answer.
            Query::PrimaryAttributes => "\x1b[?1;2c".to_string(),
            Query::SecondaryAttributes => "\x1b[>1;10;0c".to_string(),
            Query::Status => "\x1b[0n".to_string(),
            Query::CursorPosition => format!("\x1b[{};{}R", u32::from(row) + 1, u32::from(col) + 1),
            Query::CursorPositionDec => format!("\x1b[?{};{}R", u32::from(row) + 1, u32::from(col) + 1),
            Query::SizePixels => format!("\x1b[4;{};{}t", u32::from(rows) * CELL_PX.0, u32::from(cols) * CELL_PX.1),
            Query::CellPixels => format!("\x1b[6;{};{}t", CELL_PX.0, CELL_PX.1),
            Query::SizeCells => format!("\x1b[8;{rows};{cols}t"),
            Query::Foreground { bel } => osc("10;rgb:ffff/ffff/ffff", bel),
            Query::Background { bel } => osc("11;rgb:0000/0000/0000", bel),
        };
        text.into_bytes()
    }
}

fn osc(body: &str, bel: bool) -> String {
    let end = if bel { "\x07" } else { "\x1b\\" };
    format!("\x1b]{body}{end}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ground,
    Esc,
    Csi,
    Osc,
    /// ESC inside an OSC: `\` ends it.
    OscEsc,
}

/// Finds [`Query`]s in a byte stream fed in chunks split anywhere.
#[derive(Debug, Clone)]
pub struct QueryScanner {
    state: State,
    buf: [u8; PARAMS_CAP],
    len: usize,
    /// The sequence outgrew `buf` (or has an intermediate byte): it is no query.
    spoiled: bool,
}

impl Default for QueryScanner {
    fn default() -> Self {
        QueryScanner::new()
    }
}

impl QueryScanner {
    /// A scanner in the ground state.
    pub fn new() -> Self {
        QueryScanner { state: State::Ground, buf: [0; PARAMS_CAP], len: 0, spoiled: false }
    }

    /// Scans `data`; calls `found(end, query)` for each query, `end` being the offset in
    /// `data` just past the query's last byte.
    pub fn feed(&mut self, data: &[u8], mut found: impl FnMut(usize, Query)) {
        let mut i = 0;
        while i < data.len() {
            if self.state == State::Ground {
                match memchr(0x1b, &data[i..]) {
                    Some(at) => {
                        i += at + 1;
                        self.state = State::Esc;
                        continue;
                    }
                    None => return,
                }
            }
            let b = data[i];
            i += 1;
            match self.state {
                State::Ground => {}
                State::Esc => match b {
                    b'[' => self.start(State::Csi),
                    b']' => self.start(State::Osc),
                    0x1b => {}
                    _ => self.state = State::Ground,
                },
                State::Csi => match b {
                    0x30..=0x3f => self.collect(b),
                    // Intermediates: no query has one.
                    0x20..=0x2f => self.spoiled = true,
                    0x40..=0x7e => {
                        self.state = State::Ground;
                        if !self.spoiled
                            && let Some(q) = csi_query(&self.buf[..self.len], b)
                        {
                            found(i, q);
                        }
                    }
                    0x1b => self.state = State::Esc,
                    0x18 | 0x1a => self.state = State::Ground,
                    // Other C0 controls are executed inside a CSI; the sequence goes on.
                    _ => {}
                },
                State::Osc => match b {
                    0x07 => {
                        self.state = State::Ground;
                        if let Some(q) = self.osc_query(true) {
                            found(i, q);
                        }
                    }
                    0x1b => self.state = State::OscEsc,
                    0x18 | 0x1a => self.state = State::Ground,
                    _ => self.collect(b),
                },
                State::OscEsc => {
                    if b == b'\\' {
                        self.state = State::Ground;
                        if let Some(q) = self.osc_query(false) {
                            found(i, q);
                        }
                    } else {
                        // ESC ends the OSC and starts a new sequence with `b`.
                        self.state = State::Esc;
                        i -= 1;
                    }
                }
            }
        }
    }

    /// All queries in `data`, with their end offsets.
    pub fn scan(&mut self, data: &[u8]) -> Vec<(usize, Query)> {
        let mut out = Vec::new();
        self.feed(data, |end, q| out.push((end, q)));
        out
    }

    fn start(&mut self, state: State) {
        self.state = state;
        self.len = 0;
        self.spoiled = false;
    }

    fn collect(&mut self, b: u8) {
        if self.len < PARAMS_CAP {
            self.buf[self.len] = b;
            self.len += 1;
        } else {
            self.spoiled = true;
        }
    }

    fn osc_query(&self, bel: bool) -> Option<Query> {
        if self.spoiled {
            return None;
        }
        match &self.buf[..self.len] {
            b"10;?" => Some(Query::Foreground { bel }),
            b"11;?" => Some(Query::Background { bel }),
            _ => None,
        }
    }
}

fn csi_query(params: &[u8], action: u8) -> Option<Query> {
    Some(match (params, action) {
        (b"" | b"0", b'c') => Query::PrimaryAttributes,
        (b">" | b">0", b'c') => Query::SecondaryAttributes,
        (b"5", b'n') => Query::Status,
        (b"6", b'n') => Query::CursorPosition,
        (b"?6", b'n') => Query::CursorPositionDec,
        (b"14", b't') => Query::SizePixels,
        (b"16", b't') => Query::CellPixels,
        (b"18", b't') => Query::SizeCells,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn queries(data: &[u8]) -> Vec<(usize, Query)> {
        QueryScanner::new().scan(data)
    }

    #[test]
    fn finds_every_query_and_nothing_else() {
        let cases: &[(&[u8], &[Query])] = &[
            (b"hello", &[]),
            (b"\x1b[c", &[Query::PrimaryAttributes]),
            (b"\x1b[0c", &[Query::PrimaryAttributes]),
            (b"\x1b[>c\x1b[>0c", &[Query::SecondaryAttributes, Query::SecondaryAttributes]),
            (b"\x1b[5n\x1b[6n\x1b[?6n", &[Query::Status, Query::CursorPosition, Query::CursorPositionDec]),
            (b"\x1b[14t\x1b[16t\x1b[18t", &[Query::SizePixels, Query::CellPixels, Query::SizeCells]),
            (b"\x1b]10;?\x07\x1b]11;?\x1b\\", &[Query::Foreground { bel: true }, Query::Background { bel: false }]),
            // Not queries: other CSI, replies, titles, an SGR, a long OSC.
            (b"\x1b[1;31m\x1b[2J\x1b[?1;2c\x1b[3;4R\x1b[8;24;80t\x1b]0;title\x07\x1b[=c", &[]),
            (b"\x1b]11;rgb:0000/0000/0000\x07", &[]),
            (b"\x1b[ 6n", &[]),
            // A cancelled sequence, an ESC that restarts one.
            (b"\x1b[6\x18n\x1b[\x1b[6n", &[Query::CursorPosition]),
            // An OSC ended by ESC followed by a new sequence.
            (b"\x1b]10;?\x1b[6n", &[Query::CursorPosition]),
        ];
        for (input, want) in cases {
            let got: Vec<Query> = queries(input).into_iter().map(|(_, q)| q).collect();
            assert_eq!(&got, want, "{:?}", String::from_utf8_lossy(input));
        }
        assert_eq!(queries(b"ab\x1b[6ncd"), vec![(6, Query::CursorPosition)]);
    }

    #[test]
    fn replies() {
        let ctx = ReplyContext { size: (24, 80), cursor: (4, 9) };
        let r = |q: Query| String::from_utf8(q.reply(&ctx)).expect("ascii");
        assert_eq!(r(Query::CursorPosition), "\x1b[5;10R");
        assert_eq!(r(Query::CursorPositionDec), "\x1b[?5;10R");
        assert_eq!(r(Query::PrimaryAttributes), "\x1b[?1;2c");
        assert_eq!(r(Query::Status), "\x1b[0n");
        assert_eq!(r(Query::SizeCells), "\x1b[8;24;80t");
        assert_eq!(r(Query::SizePixels), "\x1b[4;384;640t");
        assert_eq!(r(Query::Foreground { bel: true }), "\x1b]10;rgb:ffff/ffff/ffff\x07");
        assert_eq!(r(Query::Background { bel: false }), "\x1b]11;rgb:0000/0000/0000\x1b\\");
        assert!(Query::CursorPosition.needs_cursor() && !Query::Status.needs_cursor());
    }

    proptest! {
        /// Split anywhere, the stream yields the same queries at the same places.
        #[test]
        fn chunking_changes_nothing(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just(b"\x1b[6n".to_vec()), Just(b"\x1b]11;?\x07".to_vec()), Just(b"\x1b[>c".to_vec()),
                    Just(b"\x1b[1;2m".to_vec()), Just(b"text ".to_vec()), Just(b"\x1b".to_vec()),
                    proptest::collection::vec(any::<u8>(), 0..12),
                ],
                0..20,
            ),
            cuts in proptest::collection::vec(any::<usize>(), 0..6),
        ) {
            let data: Vec<u8> = parts.concat();
            let whole = queries(&data);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (data.len() + 1)).collect();
            cuts.sort_unstable();
            let mut scanner = QueryScanner::new();
            let mut split = Vec::new();
            let mut from = 0;
            for cut in cuts.into_iter().chain([data.len()]) {
                scanner.feed(&data[from..cut], |end, q| split.push((from + end, q)));
                from = cut;
            }
            prop_assert_eq!(whole, split);
        }
    }
}
