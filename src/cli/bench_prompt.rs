//! `warden bench --only prompt,stall`: how fast a prompt is answered, and how
//! soon a stall is reported. (What reading a screen costs is measured by
//! `cargo run --release -p warden-adapters --example detect_bench`.)
//!
//! Prompt → answer: a probe program (this binary, `bench --probe-prompts N`)
//! prints `Proceed? [y/N] `, notes the time, reads the answer line and notes
//! the time again, N times; optionally after ~80 KB of ANSI-coloured output
//! each time. Both timestamps are taken inside the probe, so the latency is
//! exactly "prompt drawn → answer received by the program". Warden answers
//! with a session rule; the baseline, in the same run, is a bare loop on the
//! PTY master that writes `y\r` as soon as the raw bytes end with the prompt
//! (no screen model, no rules: the floor).

use std::io::{BufRead, Read, Write};
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, PtySize, native_pty_system};
use warden_actors::{Warden, WardenConfig};
use warden_core::{EventKind, Reply, ResponseRule, SessionSpec};

use super::bench::{BenchResult, percentile, sorted};

const PROMPT: &str = "Proceed? [y/N] ";

/// The probe: prompts, reads answers, prints `LATENCY_US a,b,c`.
pub(crate) fn probe(n: usize, ansi_kb: usize) -> BenchResult<()> {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut out = std::io::stdout().lock();
    let mut noise = Vec::new();
    let mut i = 0u64;
    while noise.len() < ansi_kb * 1024 {
        let line = format!(
            "\x1b[3{}m{i:>6}\x1b[0m \x1b[1;34mcompiling\x1b[0m crate-{i} \x1b[2m(target/debug/deps)\x1b[0m ok\r\n",
            i % 8
        );
        noise.extend_from_slice(line.as_bytes());
        i += 1;
    }
    let mut micros = Vec::with_capacity(n);
    let mut line = String::new();
    for _ in 0..n {
        if !noise.is_empty() {
            out.write_all(&noise)?;
        }
        out.write_all(PROMPT.as_bytes())?;
        out.flush()?;
        let t0 = Instant::now();
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return Err("stdin closed".into());
        }
        micros.push(t0.elapsed().as_micros().to_string());
    }
    writeln!(out, "\r\nLATENCY_US {}\r", micros.join(","))?;
    out.flush()?;
    Ok(())
}

fn probe_args(n: usize, ansi_kb: usize) -> Vec<String> {
    vec!["bench".into(), "--probe-prompts".into(), n.to_string(), "--probe-ansi-kb".into(), ansi_kb.to_string()]
}

fn parse_latencies(text: &str) -> BenchResult<Vec<f64>> {
    let at = text.rfind("LATENCY_US ").ok_or("the probe printed no latencies")?;
    let list = text[at + "LATENCY_US ".len()..].lines().next().unwrap_or_default().trim();
    Ok(list.split(',').filter_map(|v| v.trim().parse::<f64>().ok()).map(|us| us / 1000.0).collect())
}

/// Prompt → answer latency, warden vs a bare responder, with and without ANSI noise.
pub(crate) async fn prompt_latency(n: usize) -> BenchResult<()> {
    let exe = std::env::current_exe()?;
    let dir = tempfile::tempdir()?;
    let mut config = WardenConfig::new(dir.path());
    config.stop_grace = Duration::from_millis(500);
    let warden = Warden::start(config).await?;
    println!();
    println!("prompt drawn → answer received by the program ({n} prompts per case; the program times both ends)");
    println!("| case | responder | median | p99 | max |");
    println!("|---|---|---|---|---|");
    for (case, kb) in [("bare prompt", 0usize), ("after ~80 KB of ANSI-coloured output", 80)] {
        let bare = sorted(bare_responder(&exe.to_string_lossy(), n, kb)?);
        let w = sorted(warden_responder(&warden, &exe.to_string_lossy(), n, kb).await?);
        for (who, v) in [("bare PTY loop (floor)", &bare), ("warden session rule", &w)] {
            println!(
                "| {case} | {who} | {:.3} ms | {:.3} ms | {:.3} ms |",
                percentile(v, 0.5),
                percentile(v, 0.99),
                v.last().copied().unwrap_or(f64::NAN)
            );
        }
    }
    warden.shutdown().await;
    Ok(())
}

async fn warden_responder(warden: &Warden, exe: &str, n: usize, kb: usize) -> BenchResult<Vec<f64>> {
    let mut sub = warden.subscribe(Some(warden.bus().next_seq()));
    let mut spec = SessionSpec::new("bench-probe", exe)
        .args(probe_args(n, kb))
        .rule(ResponseRule::new(r"Proceed\? \[y/N\]\s*$", Reply::Text("y".into())));
    // Every prompt is a new one here: the loop guard must not step in.
    spec.loop_guard = warden_core::LoopGuard { max_answers: u32::MAX, window_ms: 1 };
    let info = warden.spawn(spec).await?;
    let mut text = Vec::new();
    let mut answered = 0usize;
    loop {
        let e = sub.recv_timeout(Duration::from_secs(120)).await.ok_or("no event within 120 s")?;
        if e.session != Some(info.id) {
            continue;
        }
        match &e.kind {
            EventKind::Output(o) => {
                // Keep only the tail: the latencies come last.
                text.extend_from_slice(&o.bytes);
                if text.len() > 1 << 20 {
                    text.drain(..text.len() - (64 << 10));
                }
            }
            EventKind::AutoResponded { .. } => answered += 1,
            EventKind::Exited(_) => break,
            _ => {}
        }
    }
    let v = parse_latencies(&String::from_utf8_lossy(&text))?;
    if v.len() != n || answered != n {
        return Err(format!("warden answered {answered} prompts, probe measured {} of {n}", v.len()).into());
    }
    Ok(v)
}

fn bare_responder(exe: &str, n: usize, kb: usize) -> BenchResult<Vec<f64>> {
    let pair = native_pty_system().openpty(PtySize { rows: 40, cols: 120, pixel_width: 0, pixel_height: 0 })?;
    let mut cmd = CommandBuilder::new(exe);
    cmd.args(probe_args(n, kb));
    let mut child = pair.slave.spawn_command(cmd)?;
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader()?;
    let mut writer = pair.master.take_writer()?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut tail: Vec<u8> = Vec::new();
    let mut all = Vec::new();
    loop {
        let got = match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(got) => got,
        };
        tail.extend_from_slice(&buf[..got]);
        all.extend_from_slice(&buf[..got]);
        if all.len() > 1 << 20 {
            all.drain(..all.len() - (64 << 10));
        }
        if tail.ends_with(PROMPT.as_bytes()) {
            writer.write_all(b"y\r")?;
            writer.flush()?;
            tail.clear();
        } else if tail.len() > 4096 {
            tail.drain(..tail.len() - 64);
        }
    }
    child.wait()?;
    parse_latencies(&String::from_utf8_lossy(&all))
}

/// How late a stall is reported: the last output to the `stalled` event,
/// minus the configured window, over `n` sessions that go quiet.
pub(crate) async fn stall_precision(n: usize) -> BenchResult<()> {
    let dir = tempfile::tempdir()?;
    let mut config = WardenConfig::new(dir.path());
    config.stop_grace = Duration::from_millis(200);
    let warden = Warden::start(config).await?;
    let window = Duration::from_millis(300);
    let mut late_ms = Vec::with_capacity(n);
    for _ in 0..n {
        let mut sub = warden.subscribe(Some(warden.bus().next_seq()));
        let spec = SessionSpec::new("shell", "bash")
            .args(["--noprofile", "--norc", "-i"])
            .env("PS1", "$ ")
            .task("printf 'working\\n'; sleep 30")
            .stall_window(window);
        let info = warden.spawn(spec).await?;
        let mut last_output = Instant::now();
        loop {
            let e = sub.recv_timeout(Duration::from_secs(10)).await.ok_or("no stall within 10 s")?;
            if e.session != Some(info.id) {
                continue;
            }
            match &e.kind {
                EventKind::Output(_) => last_output = Instant::now(),
                EventKind::Stalled { .. } => {
                    let late = last_output.elapsed().saturating_sub(window);
                    late_ms.push(late.as_secs_f64() * 1e3);
                    break;
                }
                _ => {}
            }
        }
        warden.stop_with_grace(info.id, Duration::ZERO).await?;
    }
    warden.shutdown().await;
    let v = sorted(late_ms);
    println!();
    println!("stall reported after the window ({n} sessions going quiet, window {} ms)", window.as_millis());
    println!("| | median | p99 | max |");
    println!("|---|---|---|---|");
    println!(
        "| last output → `stalled`, minus the window | {:.1} ms | {:.1} ms | {:.1} ms |",
        percentile(&v, 0.5),
        percentile(&v, 0.99),
        v.last().copied().unwrap_or(f64::NAN)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_latencies;

    #[test]
    fn latencies_are_read_from_the_last_line() {
        let v = parse_latencies("noise\r\nLATENCY_US 1000,2500\r\n").expect("parses");
        assert_eq!(v, vec![1.0, 2.5]);
        assert!(parse_latencies("nothing").is_err());
    }
}
