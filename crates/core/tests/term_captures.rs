//! Differential test of the screen model against vt100 on real captures of the agent CLIs
//! (`crates/adapters/tests/screens`): the raw PTY bytes (`*.raw`) and the coloured screen
//! dumps (`*.esc.txt`), fed in several chunkings, compared after the whole input and at
//! intermediate points, with and without compacting in between.

mod term_support;

use std::path::{Path, PathBuf};

use term_support::{assert_same, feed, oracle, oracle_scrollback};
use warden_core::term::Screen;

/// The captures were taken in a 40×120 tmux pane (see the fixtures' README).
const CAPTURE_SIZE: (u16, u16) = (40, 120);

fn fixtures(suffix: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../adapters/tests/screens");
    let mut files = Vec::new();
    for cli in std::fs::read_dir(&dir).expect("screens dir exists") {
        let cli = cli.expect("dir entry").path();
        if !cli.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&cli).expect("cli dir") {
            let file = file.expect("dir entry").path();
            if file.to_string_lossy().ends_with(suffix) {
                files.push(file);
            }
        }
    }
    files.sort();
    files
}

/// A small deterministic generator (xorshift) for chunk sizes.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[derive(Clone, Copy, Debug)]
enum Chunking {
    Whole,
    Bytes,
    Random(u64),
    Fixed(usize),
}

fn chunks(len: usize, chunking: Chunking) -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut left = len;
    while left > 0 {
        let n = match chunking {
            Chunking::Whole => left,
            Chunking::Bytes => 1,
            Chunking::Random(seed) => {
                rng.0 ^= seed;
                1 + rng.below(300)
            }
            Chunking::Fixed(n) => n,
        }
        .min(left);
        sizes.push(n);
        left -= n;
    }
    sizes
}

/// Feeds `bytes` to both in `chunking`, comparing every `every` bytes and at the end;
/// compacts our screen at some of the comparison points when `compact` is set.
fn check(name: &str, bytes: &[u8], (rows, cols): (u16, u16), chunking: Chunking, compact: bool) -> usize {
    let mut ours = Screen::new(rows, cols);
    let mut theirs = oracle(rows, cols, 0);
    let every = 4099;
    let (mut done, mut next_check, mut checks) = (0, every, 0);
    for (i, n) in chunks(bytes.len(), chunking).into_iter().enumerate() {
        let chunk = &bytes[done..done + n];
        ours.process(chunk);
        feed(&mut theirs, chunk);
        done += n;
        if done >= next_check {
            next_check = done + every;
            assert_same(&ours, &theirs, &format!("{name} {rows}x{cols} {chunking:?}, after {done} bytes"));
            checks += 1;
            if compact && i % 2 == 0 {
                ours.compact();
                assert!(ours.is_compact());
                assert_same(&ours, &theirs, &format!("{name} compacted after {done} bytes"));
            }
        }
    }
    assert_same(&ours, &theirs, &format!("{name} {rows}x{cols} {chunking:?}, at the end"));
    checks + 1
}

fn inputs() -> Vec<(String, Vec<u8>)> {
    let mut inputs = Vec::new();
    for path in fixtures(".raw") {
        inputs.push((path.display().to_string(), std::fs::read(&path).expect("read capture")));
    }
    for path in fixtures(".esc.txt") {
        let bytes = std::fs::read(&path).expect("read screen dump");
        // As captured (LF only: each line starts where the last ended) and as a terminal
        // would receive it (CR LF).
        let crlf = String::from_utf8_lossy(&bytes).replace('\n', "\r\n").into_bytes();
        inputs.push((path.display().to_string(), bytes));
        inputs.push((format!("{} (CR LF)", path.display()), crlf));
    }
    inputs
}

#[test]
fn raw_captures_match_vt100_in_every_chunking() {
    let inputs = inputs();
    let raw: Vec<_> = inputs.iter().filter(|(name, _)| name.ends_with(".raw")).collect();
    assert!(raw.len() >= 12, "expected the raw captures of five CLIs, found {}", raw.len());
    let mut checks = 0;
    for (name, bytes) in raw {
        for chunking in
            [Chunking::Whole, Chunking::Bytes, Chunking::Random(1), Chunking::Random(2), Chunking::Fixed(4096)]
        {
            checks += check(name, bytes, CAPTURE_SIZE, chunking, false);
        }
    }
    assert!(checks > 500, "only {checks} comparisons");
}

/// The captures replayed at sizes they were not made for. aider turns autowrap off
/// (DECAWM, `CSI ? 7 l`) while it draws, which vt100 does not implement: at a narrower
/// width the two disagree by design, so those two sequences are taken out here.
#[test]
fn raw_captures_match_vt100_at_other_sizes() {
    for (name, bytes) in inputs().iter().filter(|(name, _)| name.ends_with(".raw")) {
        let bytes = remove(&remove(bytes, b"\x1b[?7l"), b"\x1b[?7h");
        for size in [(24, 80), (10, 30), (50, 200), (3, 7), (1, 1)] {
            check(name, &bytes, size, Chunking::Random(3), false);
        }
    }
}

fn remove(bytes: &[u8], needle: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(needle) {
            i += needle.len();
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

#[test]
fn raw_captures_match_vt100_when_compacted_in_between() {
    for (name, bytes) in inputs().iter().filter(|(name, _)| name.ends_with(".raw")) {
        check(name, bytes, CAPTURE_SIZE, Chunking::Random(4), true);
    }
}

#[test]
fn screen_dumps_match_vt100() {
    let inputs = inputs();
    let dumps: Vec<_> = inputs.iter().filter(|(name, _)| !name.ends_with(".raw")).collect();
    assert!(dumps.len() >= 100, "expected the .esc.txt dumps, found {}", dumps.len());
    for (name, bytes) in dumps {
        for chunking in [Chunking::Whole, Chunking::Bytes, Chunking::Random(5)] {
            check(name, bytes, CAPTURE_SIZE, chunking, true);
        }
    }
}

#[test]
fn raw_captures_scrollback_matches_vt100() {
    for (name, bytes) in inputs().iter().filter(|(name, _)| name.ends_with(".raw")) {
        let mut ours = Screen::new(CAPTURE_SIZE.0, CAPTURE_SIZE.1);
        let mut theirs = oracle(CAPTURE_SIZE.0, CAPTURE_SIZE.1, 1_000_000);
        ours.process(bytes);
        theirs.process(bytes);
        assert_same(&ours, &theirs, name);
        // vt100 shows the scrollback of the grid on display: leave the alternate screen.
        ours.process(b"\x1b[?47l");
        theirs.process(b"\x1b[?47l");
        let expected = oracle_scrollback(&mut theirs);
        let got = ours.scrollback();
        if expected.len() <= 4096 {
            assert_eq!(got, expected, "scrollback of {name}");
        } else {
            assert!(expected.ends_with(&got), "scrollback of {name} is not the end of vt100's");
            assert!(got.len() >= 2048 && got.len() <= 4096, "scrollback of {name} has {} bytes", got.len());
        }
    }
}
