//! Prompt drawn → answer received by the program.
//!
//! A probe program ([`probe`], run by re-executing the current binary through
//! a [`ProbeCommand`]) prints `Proceed? [y/N] `, notes the time, reads the
//! answer line and notes the time again, N times; optionally after ~80 KB of
//! ANSI-coloured output each time. Both timestamps are taken inside the
//! probe, so the latency is exactly "prompt drawn → answer received by the
//! program". Warden answers with a session rule; the baseline, in the same
//! run, is a bare loop on the PTY master that writes `y\r` as soon as the raw
//! bytes end with the prompt (no screen model, no rules: the floor).

use std::fmt;
use std::io::{BufRead, Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use warden_actors::{Warden, WardenConfig};
use warden_core::{EventKind, Reply, ResponseRule, SessionSpec};

use crate::BenchError;
use crate::stats::{max, percentile, sorted};

const PROMPT: &str = "Proceed? [y/N] ";
const MARK: &str = "LATENCY_US ";
const EVENT_TIMEOUT: Duration = Duration::from_secs(120);
/// KB of ANSI-coloured output before each prompt, per case.
const CASES: [(&str, usize); 2] = [("bare prompt", 0), ("after ~80 KB of ANSI-coloured output", 80)];

/// How to start the probe: a program and the arguments that make it run
/// [`probe`] with a number of prompts and KB of ANSI output before each.
#[derive(Debug, Clone)]
pub struct ProbeCommand {
    /// The program (usually `std::env::current_exe()`).
    pub program: PathBuf,
    /// Its arguments for `(prompts, ansi_kb)`.
    pub args: fn(usize, usize) -> Vec<String>,
}

/// The probe: `prompts` times, writes ~`ansi_kb` KB of ANSI-coloured output
/// and the prompt to `output`, reads one answer line from `input`; then
/// writes `LATENCY_US a,b,c` (microseconds from each prompt to its answer).
pub fn probe(
    prompts: usize,
    ansi_kb: usize,
    input: &mut impl BufRead,
    output: &mut impl Write,
) -> Result<(), BenchError> {
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
    let mut micros = Vec::with_capacity(prompts);
    let mut line = String::new();
    for _ in 0..prompts {
        if !noise.is_empty() {
            output.write_all(&noise)?;
        }
        output.write_all(PROMPT.as_bytes())?;
        output.flush()?;
        let t0 = Instant::now();
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return Err(BenchError::Run("stdin closed".into()));
        }
        micros.push(t0.elapsed().as_micros().to_string());
    }
    write!(output, "\r\n{MARK}{}\r\n", micros.join(","))?;
    output.flush()?;
    Ok(())
}

fn parse_latencies(text: &str) -> Result<Vec<f64>, BenchError> {
    let at = text.rfind(MARK).ok_or_else(|| BenchError::Run("the probe printed no latencies".into()))?;
    let list = text[at + MARK.len()..].lines().next().unwrap_or_default().trim();
    Ok(list.split(',').filter_map(|v| v.trim().parse::<f64>().ok()).map(|us| us / 1000.0).collect())
}

/// Latencies of one case, milliseconds, sorted.
#[derive(Debug, Clone)]
pub struct PromptCase {
    /// What precedes each prompt.
    pub case: &'static str,
    /// The bare PTY loop (the floor).
    pub bare_ms: Vec<f64>,
    /// Warden answering with a session rule.
    pub warden_ms: Vec<f64>,
}

/// Prompt → answer latencies, with and without ANSI noise before the prompt.
#[derive(Debug, Clone)]
pub struct PromptReport {
    /// Prompts answered per case.
    pub prompts: usize,
    /// The cases, bare prompt first.
    pub cases: Vec<PromptCase>,
}

/// Measures `prompts` answers per case and side.
pub async fn measure(probe: &ProbeCommand, prompts: usize) -> Result<PromptReport, BenchError> {
    let dir = tempfile::tempdir()?;
    let mut config = WardenConfig::new(dir.path());
    config.stop_grace = Duration::from_millis(500);
    let warden = Warden::start(config).await?;
    let mut cases = Vec::new();
    let mut result = Ok(());
    for (case, kb) in CASES {
        let measured = match bare_responder(probe, prompts, kb) {
            Ok(bare) => warden_responder(&warden, probe, prompts, kb).await.map(|w| (bare, w)),
            Err(e) => Err(e),
        };
        match measured {
            Ok((bare, w)) => cases.push(PromptCase { case, bare_ms: sorted(bare), warden_ms: sorted(w) }),
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    warden.shutdown().await;
    result.map(|()| PromptReport { prompts, cases })
}

async fn warden_responder(warden: &Warden, probe: &ProbeCommand, n: usize, kb: usize) -> Result<Vec<f64>, BenchError> {
    let mut sub = warden.subscribe(Some(warden.bus().next_seq()));
    let mut spec = SessionSpec::new("bench-probe", probe.program.to_string_lossy())
        .args((probe.args)(n, kb))
        .rule(ResponseRule::new(r"Proceed\? \[y/N\]\s*$", Reply::Text("y".into())));
    // Every prompt is a new one here: the loop guard must not step in.
    spec.loop_guard = warden_core::LoopGuard { max_answers: u32::MAX, window_ms: 1 };
    let info = warden.spawn(spec).await?;
    let mut text = Vec::new();
    let mut answered = 0usize;
    loop {
        let e = crate::next_event_of(&mut sub, info.id, EVENT_TIMEOUT).await?;
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
        return Err(BenchError::Run(format!("warden answered {answered} prompts, probe measured {} of {n}", v.len())));
    }
    Ok(v)
}

fn bare_responder(probe: &ProbeCommand, n: usize, kb: usize) -> Result<Vec<f64>, BenchError> {
    // Without a fork, as in the throughput part: a fork would write-protect
    // the warden instance's memory in this process.
    let (master, child) = crate::bare_spawn::leader_on_a_new_pty(&probe.program, &(probe.args)(n, kb))?;
    let mut reader = master.try_clone_reader().map_err(BenchError::pty)?;
    let mut writer = master.take_writer().map_err(BenchError::pty)?;
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

impl fmt::Display for PromptReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "prompt drawn → answer received by the program ({} prompts per case; the program times both ends)",
            self.prompts
        )?;
        write!(f, "\n| case | responder | median | p99 | max |")?;
        write!(f, "\n|---|---|---|---|---|")?;
        for c in &self.cases {
            for (who, v) in [("bare PTY loop (floor)", &c.bare_ms), ("warden session rule", &c.warden_ms)] {
                write!(
                    f,
                    "\n| {} | {who} | {:.3} ms | {:.3} ms | {:.3} ms |",
                    c.case,
                    percentile(v, 0.5),
                    percentile(v, 0.99),
                    max(v)
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_latencies, probe};

    #[test]
    fn latencies_are_read_from_the_last_line() {
        let v = parse_latencies("noise\r\nLATENCY_US 1000,2500\r\n").expect("parses");
        assert_eq!(v, vec![1.0, 2.5]);
        assert!(parse_latencies("nothing").is_err());
    }

    #[test]
    fn the_probe_prompts_reads_answers_and_reports_one_latency_each() {
        let mut input = std::io::Cursor::new(b"y\ny\n".to_vec());
        let mut output = Vec::new();
        probe(2, 1, &mut input, &mut output).expect("two answers are there");
        let text = String::from_utf8_lossy(&output);
        assert_eq!(text.matches("Proceed? [y/N] ").count(), 2);
        assert!(text.contains("\x1b[1;34mcompiling"), "ANSI noise before each prompt");
        assert_eq!(parse_latencies(&text).expect("latencies").len(), 2);
        let mut closed = std::io::Cursor::new(Vec::new());
        assert!(probe(1, 0, &mut closed, &mut Vec::new()).is_err());
    }
}
