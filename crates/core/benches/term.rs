//! Throughput of the screen model (`warden_core::term::Screen`) against vt100 0.18.
//!
//! `cargo bench -p warden-core --bench term`. Each workload is at least 20 MB, fed in
//! 4 KiB chunks to a 40×120 screen; both parsers run alternately, five times each, and
//! the table shows the median MB/s. A second table compares `process` with
//! `process_flood` on 8 MB of plain log lines handed over in calls of several sizes, and
//! a third runs the output queue of a screen nobody watches on the same lines
//! (`cargo bench -p warden-core --bench term -- queue` runs that one alone), and a
//! fourth the terminal-query scan and filter (`-- queries` alone).

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use warden_core::term::{QueryFilter, QueryScanner, Screen};

const ROWS: u16 = 40;
const COLS: u16 = 120;
const CHUNK: usize = 4096;
const MIN_BYTES: usize = 20 * 1000 * 1000;
const RUNS: usize = 5;
/// Size of the plain flood in the `process_flood` table.
const FLOOD_BYTES: usize = 8 * 1000 * 1000;

/// A deterministic pseudo-random sequence (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

const WORDS: &[&str] = &[
    "request", "handled", "in", "ms", "path", "user", "session", "cache", "miss", "hit", "retry", "upstream",
    "latency", "bytes", "ok", "error", "timeout", "worker", "queue", "commit",
];

fn words(rng: &mut Rng, len: usize) -> String {
    let mut s = String::new();
    while s.len() < len {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(WORDS[(rng.next() % WORDS.len() as u64) as usize]);
    }
    s.truncate(len);
    s
}

fn coloured_log_lines() -> Vec<u8> {
    let mut rng = Rng(1);
    let mut out = String::new();
    let mut i = 0u64;
    while out.len() < MIN_BYTES {
        let colour = 1 + rng.next() % 6;
        let len = 30 + (rng.next() % 60) as usize;
        out.push_str(&format!("\x1b[3{colour}m{:>8} INFO\x1b[0m {}\r\n", i, words(&mut rng, len)));
        i += 1;
    }
    out.into_bytes()
}

fn tui_redraws() -> Vec<u8> {
    let mut rng = Rng(2);
    let mut out = String::new();
    while out.len() < MIN_BYTES {
        out.push_str("\x1b[H\x1b[2J");
        for r in 1..=ROWS {
            let colour = rng.next() % 256;
            out.push_str(&format!("\x1b[{r};1H\x1b[38;5;{colour}m{}", words(&mut rng, 110)));
        }
    }
    out.into_bytes()
}

fn plain_lines() -> Vec<u8> {
    let mut rng = Rng(3);
    let mut out = String::new();
    while out.len() < MIN_BYTES {
        let len = 20 + (rng.next() % 90) as usize;
        out.push_str(&words(&mut rng, len));
        out.push_str("\r\n");
    }
    out.into_bytes()
}

fn real_captures() -> Vec<u8> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../adapters/tests/screens");
    let mut files = Vec::new();
    for cli in std::fs::read_dir(&dir).expect("screens dir exists") {
        let cli = cli.expect("dir entry").path();
        for file in std::fs::read_dir(&cli).into_iter().flatten() {
            let file = file.expect("dir entry").path();
            if file.extension().is_some_and(|e| e == "raw") {
                files.push(file);
            }
        }
    }
    files.sort();
    let mut one = Vec::new();
    for file in &files {
        one.extend(std::fs::read(file).expect("read capture"));
        // Each capture starts on a fresh terminal.
        one.extend_from_slice(b"\x1b[?1049l\x1bc");
    }
    let mut out = Vec::new();
    while out.len() < MIN_BYTES {
        out.extend_from_slice(&one);
    }
    out
}

/// Makes the input of one workload.
type Workload = fn() -> Vec<u8>;

fn run_ours(input: &[u8]) -> f64 {
    let start = Instant::now();
    let mut screen = Screen::new(ROWS, COLS);
    for chunk in input.chunks(CHUNK) {
        screen.process(black_box(chunk));
    }
    black_box(screen.cursor());
    start.elapsed().as_secs_f64()
}

fn run_vt100(input: &[u8]) -> f64 {
    let start = Instant::now();
    let rows = std::num::NonZeroU16::new(ROWS).expect("rows");
    let cols = std::num::NonZeroU16::new(COLS).expect("cols");
    let mut parser = vt100::Parser::new(rows, cols, 0);
    for chunk in input.chunks(CHUNK) {
        parser.process(black_box(chunk));
    }
    black_box(parser.screen().cursor_position());
    start.elapsed().as_secs_f64()
}

/// Seconds to feed `input` in `chunk`-byte calls of `process` or `process_flood`.
fn run_flood(input: &[u8], chunk: usize, flood: bool) -> f64 {
    let start = Instant::now();
    let mut screen = Screen::new(ROWS, COLS);
    for part in input.chunks(chunk) {
        if flood {
            screen.process_flood(black_box(part));
        } else {
            screen.process(black_box(part));
        }
    }
    black_box(screen.cursor());
    start.elapsed().as_secs_f64()
}

/// [`FLOOD_BYTES`] of plain log lines, and their size in MB.
fn plain_flood() -> (Vec<u8>, f64) {
    let mut input = plain_lines();
    input.truncate(FLOOD_BYTES);
    let mb = input.len() as f64 / 1e6;
    (input, mb)
}

/// Plain log lines without escapes, skipped (`process_flood`) or parsed in full: what a
/// session printing a build log or `cat` of a big file costs when the output piles up
/// between two looks at the screen.
fn flood_table() {
    let (input, mb) = plain_flood();
    println!("\nplain log lines without escapes, {mb:.1} MB, {ROWS}x{COLS}, median of {RUNS} runs");
    println!("| bytes per call | process MB/s | process_flood MB/s | ratio |");
    println!("|---:|---:|---:|---:|");
    for chunk in [FLOOD_BYTES, 1 << 20, 256 << 10, 64 << 10, CHUNK] {
        let (mut full, mut skip) = (Vec::new(), Vec::new());
        for _ in 0..RUNS {
            full.push(mb / run_flood(&input, chunk, false));
            skip.push(mb / run_flood(&input, chunk, true));
        }
        let (full, skip) = (median(full), median(skip));
        println!("| {chunk} | {full:.0} | {skip:.0} | {:.1}× |", skip / full);
    }
    let screen = Screen::new(ROWS, COLS);
    let mut times = Vec::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        black_box(screen.skippable_prefix(black_box(&input)));
        times.push(mb / start.elapsed().as_secs_f64());
    }
    println!("\nthe check alone (`skippable_prefix` on all {mb:.1} MB): {:.0} MB/s", median(times));
}

/// Seconds to queue `input` in `chunk`-byte pieces as a session's screen that nobody
/// watches queues its output (`ScreenCell::push` in warden-actors): the bytes are copied
/// into a pending buffer and, once more than `trim` wait, what a plain flood scrolled
/// away is dropped unparsed (`skip_prefix`); when nothing can be dropped the next try
/// waits for twice as much.
fn run_queue(input: &[u8], chunk: usize, trim: usize) -> f64 {
    let start = Instant::now();
    let mut screen = Screen::new(ROWS, COLS);
    let mut pending: Vec<u8> = Vec::new();
    let mut trim_at = trim;
    for part in input.chunks(chunk) {
        pending.extend_from_slice(black_box(part));
        if pending.len() > trim_at {
            let dropped = screen.skip_prefix(&pending);
            pending.drain(..dropped);
            trim_at = if dropped > 0 { trim } else { pending.len().saturating_mul(2) };
        }
    }
    black_box((screen.scrolled(), pending.len()));
    start.elapsed().as_secs_f64()
}

/// The output queue of a screen nobody watches during a plain flood, in 40 KB pieces
/// (the size of a flood's output events), for the trim thresholds in `trims` (warden
/// trims at 1 MiB: `UNWATCHED_TRIM` in `crates/actors/src/screen_cell.rs`). A trim keeps
/// the last ~4,200 lines and the next one scans them again, so a larger threshold scans
/// each byte fewer times; nearly all of the cost is `Screen::skip_prefix`'s scan (the
/// copy into the queue alone runs at 40+ GB/s).
fn queue_table(trims: &[usize]) {
    let (input, mb) = plain_flood();
    println!("\nan unwatched screen's queue during a plain flood, {mb:.1} MB in 40 KB pieces, median of {RUNS} runs");
    println!("| trimmed past | MB/s |");
    println!("|---:|---:|");
    let mut rates = vec![Vec::new(); trims.len()];
    for _ in 0..RUNS {
        for (i, &trim) in trims.iter().enumerate() {
            rates[i].push(mb / run_queue(&input, 40_000, trim));
        }
    }
    for (trim, r) in trims.iter().zip(rates) {
        println!("| {} KiB | {:.0} |", trim >> 10, median(r));
    }
}

/// The terminal-query scan on the output path (`QueryScanner`, run by the PTY actor
/// over every output chunk), and `QueryFilter` (output `warden run` prints to a
/// terminal without a console), in 40 KB pieces.
fn query_table() {
    println!("\nterminal queries in output, 40 KB pieces, median of {RUNS} runs");
    println!("| workload | MB | QueryScanner MB/s | QueryFilter MB/s |");
    println!("|---|---:|---:|---:|");
    let workloads: [(&str, Workload); 3] = [
        ("coloured log lines", coloured_log_lines),
        ("full-screen TUI redraws", tui_redraws),
        ("plain text lines", plain_lines),
    ];
    for (name, make) in workloads {
        let input = make();
        let mb = input.len() as f64 / 1e6;
        let (mut scan, mut filter) = (Vec::new(), Vec::new());
        for _ in 0..RUNS {
            let start = Instant::now();
            let mut scanner = QueryScanner::new();
            let mut found = 0;
            for part in input.chunks(40_000) {
                found += scanner.scan(black_box(part)).len();
            }
            black_box(found);
            scan.push(mb / start.elapsed().as_secs_f64());
            let start = Instant::now();
            let mut f = QueryFilter::new();
            let mut out = Vec::with_capacity(48_000);
            for part in input.chunks(40_000) {
                out.clear();
                f.push(black_box(part), &mut out);
                black_box(out.len());
            }
            filter.push(mb / start.elapsed().as_secs_f64());
        }
        println!("| {name} | {mb:.1} | {:.0} | {:.0} |", median(scan), median(filter));
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo test --all-targets` runs this too (without `--bench`, which only
    // `cargo bench` passes); keep it quick there.
    if !std::env::args().any(|a| a == "--bench") {
        let mut s = Screen::new(ROWS, COLS);
        s.process(&tui_redraws()[..100_000]);
        let plain = plain_lines();
        s.process_flood(&plain[..200_000]);
        run_queue(&plain[..2_000_000], 40_000, 1 << 20);
        return;
    }
    if std::env::args().any(|a| a == "queries") {
        // `cargo bench -p warden-core --bench term -- queries`: this table alone.
        query_table();
        return;
    }
    if std::env::args().any(|a| a == "queue") {
        // `cargo bench -p warden-core --bench term -- queue`: this table alone.
        queue_table(&[1 << 20, 3 << 20]);
        return;
    }
    let workloads: [(&str, Workload); 4] = [
        ("coloured log lines", coloured_log_lines),
        ("full-screen TUI redraws", tui_redraws),
        ("plain text lines", plain_lines),
        ("real captures (.raw)", real_captures),
    ];
    println!("{ROWS}x{COLS} screen, {CHUNK}-byte chunks, median of {RUNS} runs");
    println!("| workload | MB | Screen MB/s | vt100 MB/s | ratio |");
    println!("|---|---:|---:|---:|---:|");
    for (name, make) in workloads {
        let input = make();
        let mb = input.len() as f64 / 1e6;
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..RUNS {
            ours.push(mb / run_ours(&input));
            theirs.push(mb / run_vt100(&input));
        }
        let (ours, theirs) = (median(ours), median(theirs));
        println!("| {name} | {mb:.1} | {ours:.0} | {theirs:.0} | {:.1}× |", ours / theirs);
    }
    flood_table();
    queue_table(&[1 << 20, 3 << 20]);
    query_table();
    let mut screen = Screen::new(ROWS, COLS);
    screen.process(&tui_redraws()[..200_000]);
    let active = screen.heap_bytes();
    screen.compact();
    println!(
        "\nheap after a TUI redraw: {active} bytes active, {} bytes compact; size_of::<Screen>() = {} bytes",
        screen.heap_bytes(),
        std::mem::size_of::<Screen>()
    );
}
