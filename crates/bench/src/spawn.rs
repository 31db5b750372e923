//! Spawn → first output byte: `Warden::spawn` until the first `output` event
//! reaches a subscriber, versus `openpty` + fork/exec + a blocking read
//! (the bare baseline), alternating the two: back to back, and then paced
//! (a pause before each spawn, as agents are started in practice). Paced
//! spawns show costs that back-to-back ones hide, such as the kernel's
//! cgroup migration lock, which is cheap only right after another migration.
//!
//! Back to back, a third side alternates with those two: `openpty` +
//! `posix_spawn` + a blocking read. A fork copies the page tables of this
//! whole process (the warden instance's memory included), where
//! `posix_spawn` and warden's own spawn run the child on the parent's
//! memory until it execs (`clone(CLONE_VM | CLONE_VFORK)`); that floor is
//! the cost of starting a session leader on a PTY at all, and the ratio to
//! it is what warden adds.

use std::fmt;
use std::time::{Duration, Instant};

use warden_actors::Warden;
use warden_core::{EventKind, SessionSpec};

use crate::stats::{percentile, sorted};
use crate::{BenchError, bare_spawn, start_warden};

/// The program spawned on both sides (with the argument `x`).
pub const PROGRAM: &str = "/bin/echo";
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);
/// The pause before each paced spawn.
pub const PACE: Duration = Duration::from_millis(100);

/// What the spawn part measures.
#[derive(Debug, Clone)]
pub struct SpawnOptions {
    /// Spawns measured per side.
    pub spawns: usize,
    /// Whether warden keeps transcripts (its default).
    pub transcripts: bool,
}

/// Spawn latencies of both sides, in milliseconds, sorted.
#[derive(Debug, Clone)]
pub struct SpawnReport {
    /// The options measured.
    pub options: SpawnOptions,
    /// Bare `openpty` + fork/exec + read.
    pub bare_ms: Vec<f64>,
    /// Warden spawn → first `output` event.
    pub warden_ms: Vec<f64>,
    /// Bare `openpty` + `posix_spawn` + read (back to back).
    pub spawned_ms: Vec<f64>,
    /// Bare, each after a pause of [`PACE`].
    pub paced_bare_ms: Vec<f64>,
    /// Warden, each after a pause of [`PACE`].
    pub paced_warden_ms: Vec<f64>,
}

/// Paced spawns per side: a tenth of the back-to-back ones, at least 10.
fn paced_count(spawns: usize) -> usize {
    (spawns / 10).max(10)
}

/// Measures `options.spawns` spawns per side, alternating, after one warm-up each.
pub async fn measure(options: &SpawnOptions) -> Result<SpawnReport, BenchError> {
    let n = options.spawns;
    let dir = tempfile::tempdir()?;
    let warden = start_warden(dir.path(), options.transcripts).await?;
    let result = async {
        bare_spawn::first_byte(PROGRAM)?;
        warden_first_byte(&warden, PROGRAM).await?;
        bare_spawn::first_byte_spawned(PROGRAM)?;
        let back_to_back = alternate(&warden, n, Duration::ZERO, true).await?;
        let paced = alternate(&warden, paced_count(n), PACE, false).await?;
        Ok::<_, BenchError>((back_to_back, paced))
    }
    .await;
    warden.shutdown().await;
    let ((bare, w, spawned), (paced_bare, paced_w, _)) = result?;
    Ok(SpawnReport {
        options: options.clone(),
        bare_ms: sorted(bare),
        warden_ms: sorted(w),
        spawned_ms: sorted(spawned),
        paced_bare_ms: sorted(paced_bare),
        paced_warden_ms: sorted(paced_w),
    })
}

/// Bare fork/exec, warden and (with `spawned`) bare `posix_spawn` times, in turn.
type Sides = (Vec<f64>, Vec<f64>, Vec<f64>);

async fn alternate(warden: &Warden, n: usize, pause: Duration, spawned: bool) -> Result<Sides, BenchError> {
    let mut w_ms = Vec::with_capacity(n);
    let mut b_ms = Vec::with_capacity(n);
    let mut s_ms = Vec::new();
    for _ in 0..n {
        tokio::time::sleep(pause).await;
        b_ms.push(bare_spawn::first_byte(PROGRAM)?.as_secs_f64() * 1e3);
        tokio::time::sleep(pause).await;
        w_ms.push(warden_first_byte(warden, PROGRAM).await?.as_secs_f64() * 1e3);
        if spawned {
            s_ms.push(bare_spawn::first_byte_spawned(PROGRAM)?.as_secs_f64() * 1e3);
        }
    }
    Ok((b_ms, w_ms, s_ms))
}

async fn warden_first_byte(warden: &Warden, program: &str) -> Result<Duration, BenchError> {
    let mut sub = warden.subscribe(Some(warden.bus().next_seq()));
    let t0 = Instant::now();
    let info = warden.spawn(SessionSpec::new("bench", program).args(["x"])).await?;
    let mut first = None;
    loop {
        let e = crate::next_event_of(&mut sub, info.id, EVENT_TIMEOUT).await?;
        match &e.kind {
            EventKind::Output(o) if first.is_none() && !o.bytes.is_empty() => first = Some(t0.elapsed()),
            EventKind::Exited(_) => break,
            _ => {}
        }
    }
    first.ok_or_else(|| BenchError::Run("the warden session printed nothing".into()))
}

/// A row of medians and p99s in ms.
fn times(f: &mut fmt::Formatter<'_>, label: &str, v: &[f64]) -> fmt::Result {
    writeln!(f, "| {label} | {:.3} ms | {:.3} ms |", percentile(v, 0.5), percentile(v, 0.99))
}

/// A row of the ratios of `a`'s median and p99 to `b`'s.
fn ratios(f: &mut fmt::Formatter<'_>, label: &str, a: &[f64], b: &[f64]) -> fmt::Result {
    let ratio = |q: f64| percentile(a, q) / percentile(b, q);
    write!(f, "| {label} | {:.2} | {:.2} |", ratio(0.5), ratio(0.99))
}

impl fmt::Display for SpawnReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (b, w, sp) = (&self.bare_ms, &self.warden_ms, &self.spawned_ms);
        let t = if self.options.transcripts { "on" } else { "off" };
        writeln!(
            f,
            "spawn → first output byte ({} spawns each, `{PROGRAM} x`, alternating; transcripts {t})",
            self.options.spawns
        )?;
        writeln!(f, "| | median | p99 |")?;
        writeln!(f, "|---|---|---|")?;
        times(f, "bare openpty + fork/exec + read", b)?;
        times(f, "warden spawn → output event", w)?;
        ratios(f, "ratio warden / bare", w, b)?;
        writeln!(f)?;
        times(f, "bare openpty + posix_spawn + read (no fork, as warden starts a child)", sp)?;
        ratios(f, "ratio warden / bare posix_spawn", w, sp)?;
        writeln!(f)?;
        let (pb, pw) = (&self.paced_bare_ms, &self.paced_warden_ms);
        let pace = PACE.as_millis();
        times(f, &format!("bare, {} spawns {pace} ms apart", pb.len()), pb)?;
        times(f, &format!("warden, {} spawns {pace} ms apart", pw.len()), pw)?;
        ratios(f, &format!("ratio warden / bare, {pace} ms apart"), pw, pb)
    }
}
