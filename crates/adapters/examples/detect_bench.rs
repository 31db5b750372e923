//! Cost of detection: every detector of each adapter on a 120×40 screen, in ns per call.
//!
//! `cargo run --release -p warden-adapters --example detect_bench`
//!
//! Uses the captured screens under `tests/screens/` (the largest ready/busy screen of
//! each CLI, padded to 40 rows) and reports, per adapter, the time of `classify` (all
//! rules, once each) and of the six single detectors called one after the other, plus
//! the screen normaliser of warden-core.

use std::hint::black_box;
use std::time::Instant;

use warden_adapters::{Registry, ScreenView};

const SCREENS: &[(&str, &str)] = &[
    ("claude", include_str!("../tests/screens/claude/provider-unreachable-retrying.txt")),
    ("codex", include_str!("../tests/screens/codex/busy-working.txt")),
    ("gemini", include_str!("../tests/screens/gemini/busy-thinking.txt")),
    ("aider", include_str!("../tests/screens/aider/provider-unreachable.txt")),
    ("pi", include_str!("../tests/screens/pi/busy-working.txt")),
    ("shell", "$ ls\nCargo.toml  src\n$ "),
];

fn pad(text: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(|l| format!("{l:<120}")).collect();
    lines.truncate(40);
    while lines.len() < 40 {
        lines.push(" ".repeat(120));
    }
    lines.join("\n")
}

fn time<F: FnMut()>(mut f: F) -> f64 {
    for _ in 0..200 {
        f();
    }
    let mut iters = 1000u32;
    loop {
        let t = Instant::now();
        for _ in 0..iters {
            f();
        }
        let el = t.elapsed();
        if el.as_millis() >= 300 {
            return el.as_nanos() as f64 / f64::from(iters);
        }
        iters = iters.saturating_mul(2);
    }
}

fn main() {
    let registry = Registry::builtin();
    println!("{:<8} {:>6} {:>14} {:>20} {:>14}", "adapter", "rules", "classify ns", "6 detectors ns", "normalize ns");
    for (name, raw) in SCREENS {
        let Some(a) = registry.get(name) else { continue };
        let screen = pad(raw);
        let view = ScreenView::text(&screen).with_cols(120);
        let classify = time(|| {
            black_box(a.classify(black_box(&view)));
        });
        let singles = time(|| {
            black_box(a.detect_exit(&view));
            black_box(a.detect_blocking_prompt(&view));
            black_box(a.detect_login(&view));
            black_box(a.detect_loading(&view));
            black_box(a.detect_task_complete(&view));
            black_box(a.detect_ready(&view));
        });
        let normalize = time(|| {
            black_box(warden_core::screen::screen_hash(black_box(&screen)));
        });
        println!("{name:<8} {:>6} {classify:>14.0} {singles:>20.0} {normalize:>14.0}", a.rules.len());
    }
}
