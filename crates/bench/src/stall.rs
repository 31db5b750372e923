//! Stall precision: how late a stall is reported — the last output to the
//! `stalled` event, minus the configured window — over sessions that go quiet.

use std::fmt;
use std::time::{Duration, Instant};

use warden_actors::{Warden, WardenConfig};
use warden_core::{EventKind, SessionSpec};

use crate::BenchError;
use crate::stats::{max, percentile, sorted};

/// The stall window every session is given.
pub const WINDOW: Duration = Duration::from_millis(300);
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Lateness of each stall report after the window, milliseconds, sorted.
#[derive(Debug, Clone)]
pub struct StallReport {
    /// Sessions measured.
    pub sessions: usize,
    /// Last output → `stalled`, minus [`WINDOW`].
    pub late_ms: Vec<f64>,
}

/// Measures `sessions` sessions, one after another, each going quiet after one line.
pub async fn measure(sessions: usize) -> Result<StallReport, BenchError> {
    let dir = tempfile::tempdir()?;
    let mut config = WardenConfig::new(dir.path());
    config.stop_grace = Duration::from_millis(200);
    let warden = Warden::start(config).await?;
    let mut late_ms = Vec::with_capacity(sessions);
    let mut result = Ok(());
    for _ in 0..sessions {
        match one_stall(&warden).await {
            Ok(late) => late_ms.push(late.as_secs_f64() * 1e3),
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    warden.shutdown().await;
    result.map(|()| StallReport { sessions, late_ms: sorted(late_ms) })
}

async fn one_stall(warden: &Warden) -> Result<Duration, BenchError> {
    let mut sub = warden.subscribe(Some(warden.bus().next_seq()));
    let spec = SessionSpec::new("shell", "bash")
        .args(["--noprofile", "--norc", "-i"])
        .env("PS1", "$ ")
        .task("printf 'working\\n'; sleep 30")
        .stall_window(WINDOW);
    let info = warden.spawn(spec).await?;
    let mut last_output = Instant::now();
    let late = loop {
        let e = crate::next_event_of(&mut sub, info.id, EVENT_TIMEOUT).await?;
        match &e.kind {
            EventKind::Output(_) => last_output = Instant::now(),
            EventKind::Stalled { .. } => break last_output.elapsed().saturating_sub(WINDOW),
            _ => {}
        }
    };
    warden.stop_with_grace(info.id, Duration::ZERO).await?;
    Ok(late)
}

impl fmt::Display for StallReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = &self.late_ms;
        writeln!(
            f,
            "stall reported after the window ({} sessions going quiet, window {} ms)",
            self.sessions,
            WINDOW.as_millis()
        )?;
        writeln!(f, "| | median | p99 | max |")?;
        writeln!(f, "|---|---|---|---|")?;
        write!(
            f,
            "| last output → `stalled`, minus the window | {:.1} ms | {:.1} ms | {:.1} ms |",
            percentile(v, 0.5),
            percentile(v, 0.99),
            max(v)
        )
    }
}
