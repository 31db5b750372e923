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
    /// Bytes fed so far: the stream offset of the next byte.
    fed: u64,
    /// The stream offset of the ESC that began the current sequence.
    began: u64,
}

impl Default for QueryScanner {
    fn default() -> Self {
        QueryScanner::new()
    }
}

impl QueryScanner {
    /// A scanner in the ground state.
    pub fn new() -> Self {
        QueryScanner { state: State::Ground, buf: [0; PARAMS_CAP], len: 0, spoiled: false, fed: 0, began: 0 }
    }

    /// Scans `data`; calls `found(end, query)` for each query, `end` being the offset in
    /// `data` just past the query's last byte.
    pub fn feed(&mut self, data: &[u8], mut found: impl FnMut(usize, Query)) {
        self.run::<false>(data, |_, end, q| found(end, q));
    }

    /// As [`QueryScanner::feed`], also giving where each query began: the
    /// stream offset of its ESC (counted over everything fed, so a query that
    /// began in an earlier piece has a start before this piece's first byte,
    /// [`QueryScanner::fed`] as it was before this call). A scanner is fed
    /// either this way or by [`QueryScanner::feed`] for its whole life: only
    /// this one tracks where sequences begin.
    pub fn feed_spans(&mut self, data: &[u8], found: impl FnMut(u64, usize, Query)) {
        self.run::<true>(data, found);
    }

    /// The scan; with `SPANS`, it keeps `began` (the output path's scan,
    /// through `feed`, does not pay for it).
    fn run<const SPANS: bool>(&mut self, data: &[u8], mut found: impl FnMut(u64, usize, Query)) {
        let base = self.fed;
        self.fed += data.len() as u64;
        let mut i = 0;
        while i < data.len() {
            if self.state == State::Ground {
                match memchr(0x1b, &data[i..]) {
                    Some(at) => {
                        if SPANS {
                            self.began = base + (i + at) as u64;
                        }
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
                    // A second ESC begins the sequence anew.
                    0x1b if SPANS => self.began = base + (i - 1) as u64,
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
                            found(self.began, i, q);
                        }
                    }
                    0x1b => {
                        self.state = State::Esc;
                        if SPANS {
                            self.began = base + (i - 1) as u64;
                        }
                    }
                    0x18 | 0x1a => self.state = State::Ground,
                    // Other C0 controls are executed inside a CSI; the sequence goes on.
                    _ => {}
                },
                State::Osc => match b {
                    0x07 => {
                        self.state = State::Ground;
                        if let Some(q) = self.osc_query(true) {
                            found(self.began, i, q);
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
                            found(self.began, i, q);
                        }
                    } else {
                        // ESC ends the OSC and starts a new sequence with `b`.
                        self.state = State::Esc;
                        if SPANS {
                            self.began = (base + i as u64).saturating_sub(2);
                        }
                        i -= 1;
                    }
                }
            }
        }
    }

    /// Bytes fed so far.
    pub fn fed(&self) -> u64 {
        self.fed
    }

    /// Where the sequence the last byte fed left open began, while it may
    /// still turn out to be a query.
    pub fn open_query_start(&self) -> Option<u64> {
        match self.state {
            State::Ground => None,
            State::Esc => Some(self.began),
            State::Csi | State::Osc => (!self.spoiled).then_some(self.began),
            // The ESC just fed ends the OSC, or begins a sequence of its own.
            State::OscEsc => Some(if self.spoiled { self.fed - 1 } else { self.began }),
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

/// The most a [`QueryFilter`] holds back of a sequence that may still become
/// a query; a longer one is let through (and so is the query, if it becomes one).
pub const HOLD_MAX: usize = 64;

/// Takes the [`Query`]s out of a byte stream fed in pieces split anywhere,
/// passing everything else through in order: for output printed to a terminal
/// whose replies nobody should read, because warden answered them already.
/// The C0 controls a terminal would run inside a query's CSI stay.
///
/// The end of a piece that may begin a query (at most [`HOLD_MAX`] bytes) is
/// held back until the next piece or [`QueryFilter::finish`]: an unfinished
/// escape sequence shows nothing on a terminal anyway.
#[derive(Debug, Clone, Default)]
pub struct QueryFilter {
    scanner: QueryScanner,
    /// Bytes held back, starting at stream offset `held_at`.
    held: Vec<u8>,
    held_at: u64,
}

impl QueryFilter {
    /// A filter at the start of a stream.
    pub fn new() -> Self {
        QueryFilter::default()
    }

    /// Appends to `out` what of `data` (after what was held back) can be
    /// printed now.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let base = self.scanner.fed();
        let end = base + data.len() as u64;
        let mut spans: Vec<(u64, u64)> = Vec::new();
        self.scanner.feed_spans(data, |start, stop, _| spans.push((start, base + stop as u64)));
        // The stream from `held_at` to `end` is what was held, then `data`;
        // `part(from, to)` is its bytes from `from` to `to`, in two slices.
        let held = std::mem::take(&mut self.held);
        let held_at = self.held_at;
        let part = |from: u64, to: u64| {
            [(&held[..], held_at), (data, base)].map(|(piece, at)| {
                let edge = |x: u64| (x.clamp(at, at + piece.len() as u64) - at) as usize;
                &piece[edge(from)..edge(to)]
            })
        };
        let mut next = held_at;
        for (start, stop) in spans {
            // A query that began in bytes already printed goes through whole.
            if start < next {
                continue;
            }
            part(next, start).iter().for_each(|s| out.extend_from_slice(s));
            // Between its ESC and its last byte (a final byte, BEL or `\`).
            out.extend(part(start + 1, stop - 1).iter().flat_map(|s| s.iter()).filter(|&&b| runs_inside_a_csi(b)));
            next = stop;
        }
        let hold = match self.scanner.open_query_start() {
            Some(start) if end - start.max(next) <= HOLD_MAX as u64 => start.max(next),
            _ => end,
        };
        part(next, hold).iter().for_each(|s| out.extend_from_slice(s));
        self.held = part(hold, end).concat();
        self.held_at = hold;
    }

    /// Appends what is still held back: the stream has ended.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.held);
        self.held_at = self.scanner.fed();
    }
}

/// Whether a terminal runs `b` met inside a CSI (a C0 control other than the
/// ESC, CAN and SUB that end the sequence).
fn runs_inside_a_csi(b: u8) -> bool {
    b < 0x20 && !matches!(b, 0x1b | 0x18 | 0x1a)
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

    fn filtered(pieces: &[&[u8]]) -> Vec<u8> {
        let mut f = QueryFilter::new();
        let mut out = Vec::new();
        for p in pieces {
            f.push(p, &mut out);
        }
        f.finish(&mut out);
        out
    }

    #[test]
    fn a_filter_takes_out_the_queries_and_nothing_else() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"hello", b"hello"),
            (b"a\x1b[6nb\x1b[cc\x1b]11;?\x07d\x1b]10;?\x1b\\e", b"abcde"),
            // Not queries: they stay, whatever they look like.
            (b"\x1b[1;31mred\x1b[0m\x1b[?1;2c\x1b]0;title\x07", b"\x1b[1;31mred\x1b[0m\x1b[?1;2c\x1b]0;title\x07"),
            // A line feed a terminal runs inside the CSI stays; the ESC before an ESC too.
            (b"x\x1b[6\nny", b"x\ny"),
            (b"\x1b\x1b[5n!", b"\x1b!"),
            // An OSC ended by the ESC of a query.
            (b"\x1b]0;t\x1b[6n.", b"\x1b]0;t."),
            // An unfinished sequence at the end is printed when the stream ends.
            (b"end\x1b[", b"end\x1b["),
        ];
        for (input, want) in cases {
            assert_eq!(filtered(&[input]), want.to_vec(), "{:?}", String::from_utf8_lossy(input));
        }
        // Split in the middle of a query, of a non-query, of an OSC's ST.
        assert_eq!(filtered(&[b"a\x1b", b"[6", b"nb"]), b"ab");
        assert_eq!(filtered(&[b"a\x1b[1", b";31mb"]), b"a\x1b[1;31mb");
        assert_eq!(filtered(&[b"\x1b]11;?\x1b", b"\\z"]), b"z");
    }

    #[test]
    fn a_filter_holds_back_only_what_may_still_be_a_query() {
        let mut f = QueryFilter::new();
        let mut out = Vec::new();
        f.push(b"abc\x1b[6", &mut out);
        assert_eq!(out, b"abc", "the start of a possible query waits");
        out.clear();
        // A long OSC is no query: it goes through at once, unbounded input or not.
        let mut long = b"\x1b]0;".to_vec();
        long.extend(std::iter::repeat_n(b'x', 10 * HOLD_MAX));
        let mut f = QueryFilter::new();
        f.push(&long, &mut out);
        assert_eq!(out, long);
        // A CSI drawn out by line feeds is let go past HOLD_MAX; when it turns out
        // to be a query it is printed whole, not cut in half.
        let mut f = QueryFilter::new();
        let mut out = Vec::new();
        let mut drawn = b"\x1b[6".to_vec();
        drawn.extend(std::iter::repeat_n(b'\n', 2 * HOLD_MAX));
        f.push(&drawn, &mut out);
        f.push(b"n", &mut out);
        f.finish(&mut out);
        drawn.push(b'n');
        assert_eq!(out, drawn);
    }

    /// A byte stream of queries, other sequences, text and random bytes.
    fn stream() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                Just(b"\x1b[6n".to_vec()),
                Just(b"\x1b]11;?\x07".to_vec()),
                Just(b"\x1b[>c".to_vec()),
                Just(b"\x1b]10;?\x1b\\".to_vec()),
                Just(b"\x1b[1;2m".to_vec()),
                Just(b"text ".to_vec()),
                Just(b"\x1b".to_vec()),
                Just(b"\n".to_vec()),
                proptest::collection::vec(any::<u8>(), 0..12),
            ],
            0..20,
        )
        .prop_map(|parts| parts.concat())
    }

    /// `data` cut at `cuts` (taken modulo its length), each piece with its offset.
    fn split(data: &[u8], cuts: Vec<usize>) -> Vec<(usize, &[u8])> {
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (data.len() + 1)).collect();
        cuts.sort_unstable();
        let mut pieces = Vec::new();
        let mut from = 0;
        for cut in cuts.into_iter().chain([data.len()]) {
            pieces.push((from, &data[from..cut]));
            from = cut;
        }
        pieces
    }

    proptest! {
        /// Split anywhere, a filter prints the same bytes: the stream with each
        /// query's span taken out, the controls run inside a CSI kept.
        #[test]
        fn a_filter_prints_the_same_however_the_stream_is_split(
            data in stream(),
            cuts in proptest::collection::vec(any::<usize>(), 0..6),
        ) {
            let whole = filtered(&[&data]);
            let mut spans = Vec::new();
            QueryScanner::new().feed_spans(&data, |start, end, _| spans.push((start as usize, end)));
            let mut want = Vec::new();
            let mut next = 0;
            for (start, end) in spans {
                want.extend_from_slice(&data[next..start]);
                want.extend(data[start + 1..end - 1].iter().filter(|&&b| runs_inside_a_csi(b)));
                next = end;
            }
            want.extend_from_slice(&data[next..]);
            prop_assert_eq!(&whole, &want);
            let pieces: Vec<&[u8]> = split(&data, cuts).into_iter().map(|(_, p)| p).collect();
            prop_assert_eq!(filtered(&pieces), whole);
        }

        /// Split anywhere, the stream yields the same queries at the same places.
        #[test]
        fn chunking_changes_nothing(
            data in stream(),
            cuts in proptest::collection::vec(any::<usize>(), 0..6),
        ) {
            let whole = queries(&data);
            let mut scanner = QueryScanner::new();
            let mut found = Vec::new();
            for (from, piece) in split(&data, cuts) {
                scanner.feed(piece, |end, q| found.push((from + end, q)));
            }
            prop_assert_eq!(whole, found);
        }
    }
}
