//! Memory per idle session: warden's own resident memory (children are other
//! processes and not counted), and the time to spawn and stop them all.
//!
//! Earlier parts of a run leave the allocator's arenas grown and the runtime
//! warmed up, which would flatter or pollute the figure, so the memory part
//! is meant to run in a process that has done nothing else: the CLI runs
//! [`measure`] directly only when it is the only thing the process does, and
//! otherwise re-executes itself through [`in_fresh_process`], once per
//! session count, with [`MemoryReport::to_json_line`] as the child's output.

use std::fmt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use warden_core::SessionSpec;

use crate::{BenchError, start_warden};

/// What the memory part measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryOptions {
    /// Idle sessions spawned.
    pub sessions: usize,
    /// Whether warden keeps transcripts (its default).
    pub transcripts: bool,
    /// Each session first prints a prompt (so its screen and observer actors
    /// exist), then idles; measured after the screens were compacted.
    pub idle_prompt: bool,
}

impl MemoryOptions {
    /// The shell script each idle session runs.
    pub fn script(&self) -> &'static str {
        if self.idle_prompt { "printf 'ready> '; read x" } else { "read x" }
    }
}

/// Warden's resident memory around `sessions` idle sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryReport {
    /// The options measured.
    pub options: MemoryOptions,
    /// VmRSS before the sessions, KiB.
    pub rss_before_kib: u64,
    /// VmRSS with every session idle, KiB.
    pub rss_after_kib: u64,
    /// Seconds to spawn all sessions (concurrently).
    pub spawn_secs: f64,
    /// Seconds to stop all sessions.
    pub stop_secs: f64,
    /// Sessions `stop_all` stopped.
    pub stopped: usize,
}

impl MemoryReport {
    /// Resident memory added per session, KiB.
    pub fn per_session_kib(&self) -> f64 {
        self.rss_after_kib.saturating_sub(self.rss_before_kib) as f64 / self.options.sessions.max(1) as f64
    }

    /// The report as one JSON line, what a fresh process prints for [`in_fresh_process`].
    pub fn to_json_line(&self) -> String {
        // A struct of numbers and bools always serialises.
        serde_json::to_string(self).expect("a memory report serialises to JSON")
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Measures in this process: spawns `options.sessions` idle sessions, lets
/// them settle, reads RSS, stops them. Meaningful only in a process that has
/// run nothing before (see the module doc).
pub async fn measure(options: &MemoryOptions) -> Result<MemoryReport, BenchError> {
    let dir = tempfile::tempdir()?;
    let warden = start_warden(dir.path(), options.transcripts).await?;
    let result = spawn_and_stop(&warden, options).await;
    warden.shutdown().await;
    result
}

async fn spawn_and_stop(warden: &warden_actors::Warden, options: &MemoryOptions) -> Result<MemoryReport, BenchError> {
    // Let the runtime and allocator settle with one session first.
    let warm = warden.spawn(SessionSpec::new("idle", "sh").args(["-c", "read x"])).await?;
    warden.stop(warm.id).await?;
    let before = rss_kib();
    let t0 = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    let spec = SessionSpec::new("idle", "sh").args(["-c", options.script()]);
    for _ in 0..options.sessions {
        let w = warden.clone();
        let spec = spec.clone();
        set.spawn(async move { w.spawn(spec).await });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    let spawn_secs = t0.elapsed().as_secs_f64();
    // Idle: every child is blocked on `read`, nothing flows (a prompted
    // session's screen is compacted after 2 s without output).
    let settle = if options.idle_prompt { 2_600 } else { 300 };
    tokio::time::sleep(Duration::from_millis(settle)).await;
    let after = rss_kib();
    let t1 = Instant::now();
    let stopped = warden.stop_all().await;
    let stop_secs = t1.elapsed().as_secs_f64();
    Ok(MemoryReport { options: *options, rss_before_kib: before, rss_after_kib: after, spawn_secs, stop_secs, stopped })
}

/// Runs `child` — the current program, told to run [`measure`] alone and
/// print [`MemoryReport::to_json_line`] — and returns the report it printed.
/// The child's stderr goes to ours.
pub async fn in_fresh_process(child: Command) -> Result<MemoryReport, BenchError> {
    let mut child = tokio::process::Command::from(child);
    child.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::inherit()).kill_on_drop(true);
    let out = child.output().await?;
    if !out.status.success() {
        return Err(BenchError::Child(format!("it exited with {}", out.status)));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
    serde_json::from_str(line).map_err(|e| BenchError::Child(format!("it printed no report ({e}): {line:?}")))
}

impl fmt::Display for MemoryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.options.sessions;
        let (before, after) = (self.rss_before_kib, self.rss_after_kib);
        writeln!(f, "idle sessions: {n} (`sh -c '{}'`; warden's own RSS, children excluded)", self.options.script())?;
        writeln!(f, "| sessions | RSS before | RSS after | per session | spawn all | stop all |")?;
        writeln!(f, "|---|---|---|---|---|---|")?;
        write!(
            f,
            "| {n} | {before} KiB | {after} KiB | {:.1} KiB | {:.3} s | {:.3} s ({} stopped) |",
            self.per_session_kib(),
            self.spawn_secs,
            self.stop_secs,
            self.stopped
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_survives_the_json_line_and_renders_its_table() {
        let r = MemoryReport {
            options: MemoryOptions { sessions: 4, transcripts: true, idle_prompt: true },
            rss_before_kib: 1000,
            rss_after_kib: 1100,
            spawn_secs: 0.5,
            stop_secs: 0.25,
            stopped: 4,
        };
        let back: MemoryReport = serde_json::from_str(&r.to_json_line()).expect("parses");
        assert_eq!(back, r);
        let table = r.to_string();
        assert!(table.starts_with("idle sessions: 4 (`sh -c 'printf 'ready> '; read x'`"), "{table}");
        assert!(table.ends_with("| 4 | 1000 KiB | 1100 KiB | 25.0 KiB | 0.500 s | 0.250 s (4 stopped) |"), "{table}");
    }
}
