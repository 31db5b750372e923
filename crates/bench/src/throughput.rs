//! Output throughput: a session printing N MB delivered to an in-process
//! subscriber (transcript on, as by default, and off), versus a bare read
//! loop on a PTY master, alternating. The `bench` agent has no adapter
//! rules, so nothing watches its screen; the `shell` agent's screen is
//! watched (its adapter has a rule), so that row has the stall detector and
//! the auto-responder looking at the screen while it floods.

use std::fmt;
use std::io::Read;
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, native_pty_system};
use warden_actors::Warden;
use warden_core::{EventKind, SessionSpec};

use crate::stats::{percentile, sorted};
use crate::{BARE_PTY_SIZE, BenchError, start_warden};

const LINE: &str = "warden throughput line 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const EVENT_TIMEOUT: Duration = Duration::from_secs(60);

/// What the throughput part measures.
#[derive(Debug, Clone)]
pub struct ThroughputOptions {
    /// Megabytes (10^6 bytes) printed per run.
    pub mbytes: usize,
    /// Runs per side.
    pub rounds: usize,
}

/// Rates of every run in MB/s, sorted.
#[derive(Debug, Clone)]
pub struct ThroughputReport {
    /// The options measured.
    pub options: ThroughputOptions,
    /// Bare read loop on the PTY master.
    pub bare: Vec<f64>,
    /// Warden to an in-process subscriber, transcript on.
    pub transcript_on: Vec<f64>,
    /// Warden to an in-process subscriber, transcript off.
    pub transcript_off: Vec<f64>,
    /// Warden to an in-process subscriber, transcript on, the screen watched
    /// by the session's observers (the `shell` adapter).
    pub watched: Vec<f64>,
    /// CPU time of this whole process (all threads) per MB delivered, in ms,
    /// for bare, transcript on, transcript off and watched, each sorted: far
    /// less noisy than wall-clock rates on a shared machine.
    pub cpu_ms_per_mb: [Vec<f64>; 4],
    /// The rates of each round in running order: bare, transcript on,
    /// transcript off, watched (the four runs of a round are back to back).
    pub rounds: Vec<[f64; 4]>,
}

impl ThroughputReport {
    /// The median over rounds of warden's rate (variant `i` of a round) over
    /// the bare rate of the same round: each ratio compares runs a few
    /// seconds apart, so the load of a shared machine drifting over the
    /// minutes of the whole part cancels out, where a ratio of the two
    /// medians would mix runs from different minutes.
    fn paired_ratio(&self, i: usize) -> f64 {
        let ratios: Vec<f64> = self.rounds.iter().filter(|r| r[0] > 0.0).map(|r| r[i] / r[0]).collect();
        percentile(&sorted(ratios), 0.5)
    }

    /// Warden (transcript on) over bare, the median of the per-round ratios.
    pub fn ratio_transcript_on(&self) -> f64 {
        self.paired_ratio(1)
    }

    /// Warden (transcript on, observers watching) over bare, the median of the per-round ratios.
    pub fn ratio_watched(&self) -> f64 {
        self.paired_ratio(3)
    }

    /// Warden (transcript off) over bare, the median of the per-round ratios.
    pub fn ratio_transcript_off(&self) -> f64 {
        self.paired_ratio(2)
    }
}

fn producer_args(bytes: usize) -> Vec<String> {
    vec!["-c".into(), format!("yes '{LINE}' | head -c {bytes}")]
}

/// Runs `options.rounds` rounds of bare, warden with transcript, warden without.
pub async fn measure(options: &ThroughputOptions) -> Result<ThroughputReport, BenchError> {
    let dir = tempfile::tempdir()?;
    let quiet_dir = tempfile::tempdir()?;
    // Transcripts on is warden's default path, with every byte on disk; the
    // run without transcripts shows what the disk costs.
    let warden = start_warden(dir.path(), true).await?;
    let quiet = match start_warden(quiet_dir.path(), false).await {
        Ok(quiet) => quiet,
        Err(e) => {
            warden.shutdown().await;
            return Err(e);
        }
    };
    let result = rounds(&warden, &quiet, options).await;
    warden.shutdown().await;
    quiet.shutdown().await;
    let (bare, on, off, watched, cpu) = result?;
    let rounds = (0..bare.len()).map(|i| [bare[i], on[i], off[i], watched[i]]).collect();
    Ok(ThroughputReport {
        options: options.clone(),
        bare: sorted(bare),
        transcript_on: sorted(on),
        transcript_off: sorted(off),
        watched: sorted(watched),
        cpu_ms_per_mb: cpu.map(sorted),
        rounds,
    })
}

type Rates = (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>, [Vec<f64>; 4]);

/// CPU time (user + system, all threads) this process used so far, in ms.
fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // USER_HZ is 100 on Linux.
    (ticks(11) + ticks(12)) * 10.0
}

/// Runs `f`, returning its rate and the CPU ms per MB it cost.
async fn with_cpu<F: std::future::Future<Output = Result<f64, BenchError>>>(
    bytes: usize,
    f: F,
) -> Result<(f64, f64), BenchError> {
    let c0 = cpu_ms();
    let rate = f.await?;
    Ok((rate, (cpu_ms() - c0) / (bytes as f64 / 1e6)))
}

async fn rounds(warden: &Warden, quiet: &Warden, options: &ThroughputOptions) -> Result<Rates, BenchError> {
    let bytes = options.mbytes * 1_000_000;
    let (mut b, mut w, mut q, mut s) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut cpu: [Vec<f64>; 4] = Default::default();
    for _ in 0..options.rounds {
        let runs = [
            with_cpu(bytes, async { bare_throughput(bytes) }).await?,
            with_cpu(bytes, warden_throughput(warden, "bench", bytes)).await?,
            with_cpu(bytes, warden_throughput(quiet, "bench", bytes)).await?,
            with_cpu(bytes, warden_throughput(warden, "shell", bytes)).await?,
        ];
        for (i, (rate, ms)) in runs.into_iter().enumerate() {
            [&mut b, &mut w, &mut q, &mut s][i].push(rate);
            cpu[i].push(ms);
        }
    }
    Ok((b, w, q, s, cpu))
}

async fn warden_throughput(warden: &Warden, agent: &str, bytes: usize) -> Result<f64, BenchError> {
    let mut sub = warden.subscribe(Some(warden.bus().next_seq()));
    let t0 = Instant::now();
    let info = warden.spawn(SessionSpec::new(agent, "sh").args(producer_args(bytes))).await?;
    let mut got = 0usize;
    let mut chunks = 0usize;
    loop {
        let e = sub.recv_timeout(EVENT_TIMEOUT).await.ok_or(BenchError::timeout(EVENT_TIMEOUT))?;
        if e.session != Some(info.id) {
            continue;
        }
        match &e.kind {
            EventKind::Output(o) => {
                got += o.bytes.len();
                chunks += 1;
            }
            EventKind::Lagged { missed } => return Err(BenchError::Run(format!("subscriber lagged by {missed}"))),
            EventKind::Exited(_) => break,
            _ => {}
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    if got < bytes {
        return Err(BenchError::Run(format!("received {got} of {bytes} bytes")));
    }
    tracing::debug!(chunks, average_bytes = got / chunks.max(1), "warden throughput run");
    Ok(got as f64 / secs / 1e6)
}

fn bare_throughput(bytes: usize) -> Result<f64, BenchError> {
    let t0 = Instant::now();
    let pair = native_pty_system().openpty(BARE_PTY_SIZE).map_err(BenchError::pty)?;
    let mut cmd = CommandBuilder::new("sh");
    cmd.args(producer_args(bytes));
    let mut child = pair.slave.spawn_command(cmd).map_err(BenchError::pty)?;
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().map_err(BenchError::pty)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0usize;
    loop {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    child.wait()?;
    if got < bytes {
        return Err(BenchError::Run(format!("bare loop received {got} of {bytes} bytes")));
    }
    Ok(got as f64 / secs / 1e6)
}

fn fmt_list(v: &[f64]) -> String {
    v.iter().map(|x| format!("{x:.1}")).collect::<Vec<_>>().join(", ")
}

impl fmt::Display for ThroughputReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ThroughputOptions { mbytes, rounds } = self.options;
        let (b, w, q, s) = (&self.bare, &self.transcript_on, &self.transcript_off, &self.watched);
        let (wm, qm, bm, sm) = (percentile(w, 0.5), percentile(q, 0.5), percentile(b, 0.5), percentile(s, 0.5));
        writeln!(
            f,
            "output throughput ({mbytes} MB of text per run, {rounds} runs each, alternating; MB = 10^6 bytes)"
        )?;
        writeln!(f, "| | median | runs |")?;
        writeln!(f, "|---|---|---|")?;
        writeln!(f, "| bare read loop on the PTY master | {bm:.1} MB/s | {} |", fmt_list(b))?;
        writeln!(f, "| warden → in-process subscriber (transcript on) | {wm:.1} MB/s | {} |", fmt_list(w))?;
        writeln!(f, "| warden → in-process subscriber (transcript off) | {qm:.1} MB/s | {} |", fmt_list(q))?;
        writeln!(
            f,
            "| warden → subscriber (transcript on, screen watched: shell adapter) | {sm:.1} MB/s | {} |",
            fmt_list(s)
        )?;
        let per_round =
            |i: usize| self.rounds.iter().map(|r| format!("{:.3}", r[i] / r[0])).collect::<Vec<_>>().join(", ");
        writeln!(
            f,
            "| ratio warden / bare (transcript on; median of per-round ratios) | {:.3} | {} |",
            self.ratio_transcript_on(),
            per_round(1)
        )?;
        writeln!(
            f,
            "| ratio warden / bare (transcript on, screen watched; median of per-round ratios) | {:.3} | {} |",
            self.ratio_watched(),
            per_round(3)
        )?;
        let c = |i: usize| percentile(&self.cpu_ms_per_mb[i], 0.5);
        writeln!(
            f,
            "| CPU of this process per MB (bare / on / off / watched) | {:.2} / {:.2} / {:.2} / {:.2} ms | |",
            c(0),
            c(1),
            c(2),
            c(3)
        )?;
        write!(
            f,
            "| ratio warden / bare (transcript off; median of per-round ratios) | {:.3} | {} |",
            self.ratio_transcript_off(),
            per_round(2)
        )
    }
}
