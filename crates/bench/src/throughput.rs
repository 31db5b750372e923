//! Output throughput: a session printing N MB delivered to an in-process
//! subscriber (transcript on, as by default, and off), versus a bare read
//! loop on a PTY master, alternating. The `bench` agent has no adapter
//! rules, so nothing watches its screen; the `shell` agent's screen is
//! watched (its adapter has a rule), so that row has the stall detector and
//! the auto-responder looking at the screen while it floods. Every round
//! runs the bare loop twice, first and last: the ratio of those two runs is
//! the bench's own calibration, what one run reads for a variant that costs
//! nothing. A third bare run stores every byte in a file, as warden's
//! transcript does: warden's transcript-on rate over it is what warden costs
//! beyond keeping the bytes on disk.

use std::fmt;
use std::io::Read;
use std::time::{Duration, Instant};

use warden_actors::Warden;
use warden_core::{EventKind, SessionSpec};

use crate::stats::{median_ci95, percentile, sorted};
use crate::{BenchError, start_warden};

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
    /// The bare read loop once more in every round, at the other end of the
    /// round from the first: its ratio to the first is what this machine's
    /// noise alone makes of a variant that costs nothing.
    pub bare_again: Vec<f64>,
    /// The bare read loop storing every byte in a file (in batches of
    /// [`TRANSCRIPT_BATCH`] bytes, as warden's transcript writer gets them).
    pub bare_stored: Vec<f64>,
    /// CPU time of this whole process (all threads) per MB delivered, in ms,
    /// for bare, transcript on, transcript off and watched, each sorted: far
    /// less noisy than wall-clock rates on a shared machine.
    pub cpu_ms_per_mb: [Vec<f64>; 4],
    /// The same by thread group ([`THREAD_GROUPS`]): `[variant][group]`,
    /// each sorted.
    pub thread_cpu_ms_per_mb: [[Vec<f64>; 5]; 4],
    /// Context switches of this process's threads per MB delivered, for the
    /// same four variants, each sorted.
    pub switches_per_mb: [Vec<f64>; 4],
    /// The rates of each round: bare, transcript on, transcript off,
    /// watched, bare again, bare storing its bytes (the six runs of a round
    /// are back to back: bare, bare storing, then the others in this order,
    /// or all in the reverse order).
    pub rounds: Vec<[f64; 6]>,
    /// Whether the kernel schedules each session (`setsid`) as a group of
    /// its own (`/proc/sys/kernel/sched_autogroup_enabled`; `None` where it
    /// cannot tell). With autogroups the agent's group is set against all of
    /// warden's threads together, where the bare loop has one thread.
    pub autogroups: Option<bool>,
}

/// Whether the kernel groups the scheduling of each session.
fn autogroups() -> Option<bool> {
    let v = std::fs::read_to_string("/proc/sys/kernel/sched_autogroup_enabled").ok()?;
    Some(v.trim() != "0")
}

impl ThroughputReport {
    /// The median over rounds of warden's rate (variant `i` of a round) over
    /// the bare rate of the same round: each ratio compares runs a few
    /// seconds apart, so the load of a shared machine drifting over the
    /// minutes of the whole part cancels out, where a ratio of the two
    /// medians would mix runs from different minutes.
    fn paired_ratio(&self, i: usize) -> f64 {
        percentile(&self.round_ratios(i, 0), 0.5)
    }

    /// Run `i` of each round over run `base` of the same round, sorted.
    fn round_ratios(&self, i: usize, base: usize) -> Vec<f64> {
        sorted(self.rounds.iter().filter(|r| r[base] > 0.0).map(|r| r[i] / r[base]).collect())
    }

    /// The 95 % confidence interval of [`Self::paired_ratio`] (`None` under 6 rounds).
    pub fn ratio_ci95(&self, i: usize) -> Option<(f64, f64)> {
        median_ci95(&self.round_ratios(i, 0))
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

    /// The bare loop's second run of each round over its first, the median of
    /// the per-round ratios: 1 but for this machine's noise and the runs'
    /// places in a round.
    pub fn ratio_bare_again(&self) -> f64 {
        self.paired_ratio(4)
    }

    /// Warden (transcript on) over the bare loop that stores its bytes too,
    /// the median of the per-round ratios: what warden costs beyond writing
    /// every byte to disk, which no supervisor keeping a transcript avoids.
    pub fn ratio_transcript_on_to_stored(&self) -> f64 {
        percentile(&self.round_ratios(1, 5), 0.5)
    }

    /// The bare loop storing its bytes over the bare loop, the median of the
    /// per-round ratios: what writing every byte to disk costs by itself.
    pub fn ratio_stored(&self) -> f64 {
        self.paired_ratio(5)
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
    let result = rounds(&warden, &quiet, options, &dir.path().join("bare-transcript")).await;
    warden.shutdown().await;
    quiet.shutdown().await;
    let (bare, on, off, watched, again, stored, cpu, switches) = result?;
    let total = |v: &Vec<[f64; 5]>| sorted(v.iter().map(|g| g.iter().sum()).collect());
    let group = |v: &Vec<[f64; 5]>| std::array::from_fn(|g| sorted(v.iter().map(|r| r[g]).collect()));
    let rounds = (0..bare.len()).map(|i| [bare[i], on[i], off[i], watched[i], again[i], stored[i]]).collect();
    Ok(ThroughputReport {
        options: options.clone(),
        bare: sorted(bare),
        transcript_on: sorted(on),
        transcript_off: sorted(off),
        watched: sorted(watched),
        bare_again: sorted(again),
        bare_stored: sorted(stored),
        cpu_ms_per_mb: std::array::from_fn(|i| total(&cpu[i])),
        thread_cpu_ms_per_mb: std::array::from_fn(|i| group(&cpu[i])),
        switches_per_mb: switches.map(sorted),
        rounds,
        autogroups: autogroups(),
    })
}

type Rates = (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>, [Vec<[f64; 5]>; 4], [Vec<f64>; 4]);

/// The threads of this process, by what they do in a run.
const THREAD_GROUPS: [&str; 5] = ["main", "reactor", "runtime", "writer", "other"];

/// What this process's threads used so far, read in one pass over
/// `/proc/self/task` (threads that ended are not counted; none ends during
/// a run).
struct Counters {
    /// CPU time in ms by group (see [`THREAD_GROUPS`]): the main thread (the
    /// bare loop's reader, and the bench driving warden), warden's PTY
    /// reactor, the async runtime's workers (the actors and the subscriber),
    /// the transcript writer, and the rest. From `schedstat` (nanoseconds),
    /// where `stat`'s utime and stime count 10 ms ticks.
    cpu_ms: [f64; 5],
    /// Context switches, voluntary and not: a count of sleeps and wakes,
    /// which a busy machine does not blur as it blurs times.
    switches: f64,
}

fn counters() -> Counters {
    let mut c = Counters { cpu_ms: [0.0; 5], switches: 0.0 };
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return c };
    let me = std::process::id().to_string();
    for task in tasks.flatten() {
        let path = task.path();
        let ns = std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse::<f64>().ok()))
            .unwrap_or(0.0);
        let status = std::fs::read_to_string(path.join("status")).unwrap_or_default();
        let mut name = "";
        for line in status.lines() {
            if let Some(n) = line.strip_prefix("Name:") {
                name = n.trim();
            } else if line.starts_with("voluntary_ctxt_switches") || line.starts_with("nonvoluntary_ctxt_switches") {
                c.switches += line.split_whitespace().nth(1).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            }
        }
        let group = match name {
            _ if task.file_name().to_str() == Some(me.as_str()) => 0,
            "warden-pty" => 1,
            n if n.starts_with("tokio-r") => 2,
            "warden-transcri" => 3,
            _ => 4,
        };
        c.cpu_ms[group] += ns / 1e6;
    }
    c
}

/// What one run measured.
#[derive(Debug, Clone, Copy, Default)]
struct Run {
    rate: f64,
    /// By thread group ([`THREAD_GROUPS`]).
    cpu_ms_per_mb: [f64; 5],
    switches_per_mb: f64,
}

/// Runs `f`, returning its rate and the CPU ms and context switches per MB it cost.
async fn with_cpu<F: std::future::Future<Output = Result<f64, BenchError>>>(
    bytes: usize,
    f: F,
) -> Result<Run, BenchError> {
    let before = counters();
    let rate = f.await?;
    let mb = bytes as f64 / 1e6;
    let after = counters();
    Ok(Run {
        rate,
        cpu_ms_per_mb: std::array::from_fn(|g| (after.cpu_ms[g] - before.cpu_ms[g]) / mb),
        switches_per_mb: (after.switches - before.switches) / mb,
    })
}

async fn rounds(
    warden: &Warden,
    quiet: &Warden,
    options: &ThroughputOptions,
    stored: &std::path::Path,
) -> Result<Rates, BenchError> {
    let bytes = options.mbytes * 1_000_000;
    let (mut b, mut w, mut q, mut s, mut a) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut st = Vec::new();
    let mut cpu: [Vec<[f64; 5]>; 4] = Default::default();
    let mut switches: [Vec<f64>; 4] = Default::default();
    for round in 0..options.rounds {
        // Every other round runs the variants in the reverse order, so
        // that whatever the previous run leaves behind (the kernel writing
        // its transcript back, a warm or cold CPU) falls on each variant alike.
        // The bare loop runs first and last, so its second run (the
        // calibration) sits where the first does in the reversed rounds.
        // The bare loop storing its bytes runs between the bare loop and
        // warden's transcript-on run, the two it is compared with.
        let order: [usize; 6] = if round % 2 == 0 { [0, 5, 1, 2, 3, 4] } else { [4, 3, 2, 1, 5, 0] };
        let mut runs = [Run::default(); 6];
        for i in order {
            runs[i] = match i {
                0 => with_cpu(bytes, async { bare_throughput(bytes, None) }).await?,
                // Only their rates are wanted.
                4 => Run { rate: bare_throughput(bytes, None)?, ..Run::default() },
                5 => {
                    let rate = bare_throughput(bytes, Some(stored))?;
                    std::fs::remove_file(stored)?;
                    Run { rate, ..Run::default() }
                }
                1 => with_cpu(bytes, warden_throughput(warden, "bench", bytes)).await?,
                2 => with_cpu(bytes, warden_throughput(quiet, "bench", bytes)).await?,
                _ => with_cpu(bytes, warden_throughput(warden, "shell", bytes)).await?,
            };
        }
        for (i, run) in runs.into_iter().enumerate() {
            [&mut b, &mut w, &mut q, &mut s, &mut a, &mut st][i].push(run.rate);
            if i < 4 {
                cpu[i].push(run.cpu_ms_per_mb);
                switches[i].push(run.switches_per_mb);
            }
        }
    }
    Ok((b, w, q, s, a, st, cpu, switches))
}

async fn warden_throughput(warden: &Warden, agent: &str, bytes: usize) -> Result<f64, BenchError> {
    let mut sub = warden.subscribe(Some(warden.bus().next_seq()));
    let t0 = Instant::now();
    let info = warden.spawn(SessionSpec::new(agent, "sh").args(producer_args(bytes))).await?;
    // The subscriber is a task on the runtime, as the NATS bridge's and the
    // local socket's publishers are.
    let receive = tokio::spawn(async move {
        let mut got = 0usize;
        let mut chunks = 0usize;
        loop {
            let e = crate::next_event_of(&mut sub, info.id, EVENT_TIMEOUT).await?;
            match &e.kind {
                EventKind::Output(o) => {
                    got += o.bytes.len();
                    chunks += 1;
                }
                EventKind::Lagged { missed } => {
                    return Err(BenchError::Run(format!("subscriber lagged by {missed}")));
                }
                EventKind::Exited(_) => return Ok((got, chunks)),
                _ => {}
            }
        }
    });
    let (got, chunks) = receive.await.map_err(|e| BenchError::Run(format!("subscriber task: {e}")))??;
    let secs = t0.elapsed().as_secs_f64();
    if got < bytes {
        return Err(BenchError::Run(format!("received {got} of {bytes} bytes")));
    }
    tracing::debug!(chunks, average_bytes = got / chunks.max(1), "warden throughput run");
    Ok(got as f64 / secs / 1e6)
}

/// Bytes the bare loop gathers before it writes them to its file, with
/// `store`: as many as warden's reactor hands its transcript writer at once.
const TRANSCRIPT_BATCH: usize = 256 * 1024;

/// The bare loop: the producer is a session leader on a fresh PTY, started
/// without a `fork` ([`crate::bare_spawn::spawn_leader`]: a fork here would
/// write-protect the warden instances' memory in this process and charge
/// the page faults to the warden runs that follow), read by a blocking loop.
/// With `store`, the loop also writes every byte to that file (created
/// anew), in batches of [`TRANSCRIPT_BATCH`].
fn bare_throughput(bytes: usize, store: Option<&std::path::Path>) -> Result<f64, BenchError> {
    use std::io::Write;
    let t0 = Instant::now();
    let (master, child) = crate::bare_spawn::leader_on_a_new_pty("sh", &producer_args(bytes))?;
    let mut reader = master.try_clone_reader().map_err(BenchError::pty)?;
    let mut file = store.map(std::fs::File::create).transpose()?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut batch = Vec::with_capacity(if file.is_some() { TRANSCRIPT_BATCH + buf.len() } else { 0 });
    let mut got = 0usize;
    loop {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                got += n;
                if let Some(file) = &mut file {
                    batch.extend_from_slice(&buf[..n]);
                    if batch.len() >= TRANSCRIPT_BATCH {
                        file.write_all(&batch)?;
                        batch.clear();
                    }
                }
            }
        }
    }
    if let Some(file) = &mut file {
        file.write_all(&batch)?;
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
            "output throughput ({mbytes} MB of text per run, {rounds} runs each, alternating, every other round in reverse order; MB = 10^6 bytes)"
        )?;
        writeln!(f, "| | median | runs |")?;
        writeln!(f, "|---|---|---|")?;
        let grouped = match self.autogroups {
            Some(true) => "on (the agent's session is scheduled as a group against all of warden's threads)",
            Some(false) => "off",
            None => "unknown",
        };
        writeln!(f, "| scheduler autogroups | {grouped} | |")?;
        writeln!(f, "| bare read loop on the PTY master | {bm:.1} MB/s | {} |", fmt_list(b))?;
        let again = &self.bare_again;
        writeln!(
            f,
            "| bare read loop again (the other end of each round) | {:.1} MB/s | {} |",
            percentile(again, 0.5),
            fmt_list(again)
        )?;
        let stored = &self.bare_stored;
        writeln!(
            f,
            "| bare read loop storing every byte in a file | {:.1} MB/s | {} |",
            percentile(stored, 0.5),
            fmt_list(stored)
        )?;
        writeln!(f, "| warden → in-process subscriber (transcript on) | {wm:.1} MB/s | {} |", fmt_list(w))?;
        writeln!(f, "| warden → in-process subscriber (transcript off) | {qm:.1} MB/s | {} |", fmt_list(q))?;
        writeln!(
            f,
            "| warden → subscriber (transcript on, screen watched: shell adapter) | {sm:.1} MB/s | {} |",
            fmt_list(s)
        )?;
        let per_round_over = |i: usize, base: usize| {
            self.rounds.iter().map(|r| format!("{:.3}", r[i] / r[base])).collect::<Vec<_>>().join(", ")
        };
        let per_round = |i: usize| per_round_over(i, 0);
        let ci_over = |i: usize, base: usize| match median_ci95(&self.round_ratios(i, base)) {
            Some((lo, hi)) => format!(" (95% CI {lo:.3}–{hi:.3})"),
            None => String::new(),
        };
        let ci = |i: usize| ci_over(i, 0);
        writeln!(
            f,
            "| ratio warden / bare (transcript on; median of per-round ratios) | {:.3}{} | {} |",
            self.ratio_transcript_on(),
            ci(1),
            per_round(1)
        )?;
        writeln!(
            f,
            "| ratio warden / bare (transcript on, screen watched; median of per-round ratios) | {:.3}{} | {} |",
            self.ratio_watched(),
            ci(3),
            per_round(3)
        )?;
        writeln!(
            f,
            "| ratio warden (transcript on) / bare loop storing its bytes (what warden costs beyond the disk; median of per-round ratios) | {:.3}{} | {} |",
            self.ratio_transcript_on_to_stored(),
            ci_over(1, 5),
            per_round_over(1, 5)
        )?;
        writeln!(
            f,
            "| ratio bare loop storing its bytes / bare (what the disk costs by itself; median of per-round ratios) | {:.3}{} | {} |",
            self.ratio_stored(),
            ci(5),
            per_round(5)
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
        let g = |i: usize, group: usize| percentile(&self.thread_cpu_ms_per_mb[i][group], 0.5);
        for (i, name) in ["bare", "transcript on", "transcript off", "watched"].into_iter().enumerate() {
            writeln!(
                f,
                "| CPU per MB by thread, {name} ({}) | {} ms | |",
                THREAD_GROUPS.join(" / "),
                (0..THREAD_GROUPS.len()).map(|k| format!("{:.2}", g(i, k))).collect::<Vec<_>>().join(" / ")
            )?;
        }
        let sw = |i: usize| percentile(&self.switches_per_mb[i], 0.5);
        writeln!(
            f,
            "| context switches of this process per MB (bare / on / off / watched) | {:.0} / {:.0} / {:.0} / {:.0} | |",
            sw(0),
            sw(1),
            sw(2),
            sw(3)
        )?;
        writeln!(
            f,
            "| ratio warden / bare (transcript off; median of per-round ratios) | {:.3}{} | {} |",
            self.ratio_transcript_off(),
            ci(2),
            per_round(2)
        )?;
        write!(
            f,
            "| calibration: ratio bare / bare (the bare loop run again at the other end of each round; what noise alone reads) | {:.3}{} | {} |",
            self.ratio_bare_again(),
            ci(4),
            per_round(4)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_storing_bare_loop_stores_every_byte_the_terminal_printed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("stored");
        // More than one batch, and a last batch that is not full.
        let bytes = 2 * TRANSCRIPT_BATCH + 1000;
        let rate = bare_throughput(bytes, Some(&path)).expect("the loop runs");
        assert!(rate > 0.0, "rate {rate}");
        let stored = std::fs::read(&path).expect("the file is there");
        // The terminal turned each line feed into CR LF.
        let text = String::from_utf8(stored).expect("text").replace("\r\n", "\n");
        let lines = format!("{LINE}\n").repeat(bytes / LINE.len() + 1);
        let want = &lines[..bytes];
        assert_eq!(text.len(), bytes);
        assert!(text == want, "the stored bytes differ from what the producer printed");
    }
}
