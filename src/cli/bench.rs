//! `warden bench`: side-by-side measurements of warden and bare PTY baselines.
//!
//! Every number is measured in the same run as its baseline, alternating the
//! two, so that the ratios hold on a shared, noisy machine:
//! - spawn → first output byte: `Warden::spawn` + the first `output` event
//!   reaching a subscriber, versus `openpty` + fork/exec + a blocking read;
//! - throughput: a session printing N MB delivered to an in-process
//!   subscriber, versus a bare read loop on a PTY master;
//! - memory: warden's own resident memory per idle session (children are
//!   other processes and not counted) and the time to spawn and stop them.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Args;
use portable_pty::{PtySize, native_pty_system};
use warden_actors::{Warden, WardenConfig};
use warden_core::{EventKind, SessionSpec};

/// Arguments of `warden bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Spawns measured per side for the latency benchmark.
    #[arg(long, default_value_t = 200)]
    pub spawns: usize,
    /// Megabytes printed per throughput run.
    #[arg(long, default_value_t = 200)]
    pub mbytes: usize,
    /// Throughput runs per side (alternating).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Idle-session counts for the memory benchmark.
    #[arg(long, value_delimiter = ',', default_value = "100,1000")]
    pub sessions: Vec<usize>,
    /// Keep transcripts during the spawn and memory parts (warden's default).
    #[arg(long, default_value = "on", value_parser = ["on", "off"])]
    pub transcripts: String,
    /// Only these parts: spawn, throughput, memory, prompt, stall (default: all).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Memory part: each idle session first prints a prompt (screen and
    /// observer actors exist; measured after the screens were compacted).
    #[arg(long)]
    pub idle_prompt: bool,
    /// Prompts answered per case for the prompt-answer latency benchmark.
    #[arg(long, default_value_t = 200)]
    pub prompts: usize,
    /// Internal: run as the prompting program of the latency benchmark.
    #[arg(long, hide = true)]
    pub probe_prompts: Option<usize>,
    /// Internal: KB of ANSI-coloured output the probe prints before each prompt.
    #[arg(long, hide = true, default_value_t = 0)]
    pub probe_ansi_kb: usize,
}

/// Runs the benchmarks; returns the exit code.
pub async fn bench(args: BenchArgs) -> i32 {
    match run(args).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("warden: bench failed: {e}");
            super::EXIT_WARDEN_ERROR
        }
    }
}

pub(crate) type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

async fn run(args: BenchArgs) -> BenchResult<()> {
    if let Some(n) = args.probe_prompts {
        return super::bench_prompt::probe(n, args.probe_ansi_kb);
    }
    let want = |part: &str| args.only.is_empty() || args.only.iter().any(|o| o == part);
    println!("warden bench on {} ({} cores)", warden_actors::default_node_name(), cores());
    let transcripts = args.transcripts == "on";
    if want("spawn") {
        spawn_latency(args.spawns, transcripts).await?;
    }
    if want("throughput") {
        throughput(args.mbytes, args.rounds).await?;
    }
    if want("memory") {
        for n in &args.sessions {
            memory(*n, transcripts, args.idle_prompt).await?;
        }
    }
    if want("prompt") {
        super::bench_prompt::prompt_latency(args.prompts).await?;
    }
    if want("stall") {
        super::bench_prompt::stall_precision(20).await?;
    }
    Ok(())
}

fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

async fn start(dir: &std::path::Path, transcripts: bool) -> BenchResult<Warden> {
    let mut config = WardenConfig::new(dir);
    config.transcripts = transcripts;
    config.stop_grace = Duration::from_millis(500);
    config.retain_exited = 16;
    Ok(Warden::start(config).await?)
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

pub(crate) fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

/// Spawn → first output byte, warden vs bare, alternating.
async fn spawn_latency(n: usize, transcripts: bool) -> BenchResult<()> {
    let dir = tempfile::tempdir()?;
    let warden = start(dir.path(), transcripts).await?;
    let program = "/bin/echo";
    let mut w_ms = Vec::with_capacity(n);
    let mut b_ms = Vec::with_capacity(n);
    // Warm both paths up once.
    bare_first_byte(program)?;
    warden_first_byte(&warden, program).await?;
    for _ in 0..n {
        b_ms.push(bare_first_byte(program)?.as_secs_f64() * 1e3);
        w_ms.push(warden_first_byte(&warden, program).await?.as_secs_f64() * 1e3);
    }
    warden.shutdown().await;
    let (w, b) = (sorted(w_ms), sorted(b_ms));
    println!();
    let t = if transcripts { "on" } else { "off" };
    println!("spawn → first output byte ({n} spawns each, `{program} x`, alternating; transcripts {t})");
    println!("| | median | p99 |");
    println!("|---|---|---|");
    println!("| bare openpty + fork/exec + read | {:.3} ms | {:.3} ms |", percentile(&b, 0.5), percentile(&b, 0.99));
    println!("| warden spawn → output event | {:.3} ms | {:.3} ms |", percentile(&w, 0.5), percentile(&w, 0.99));
    println!(
        "| ratio warden / bare | {:.2} | {:.2} |",
        percentile(&w, 0.5) / percentile(&b, 0.5),
        percentile(&w, 0.99) / percentile(&b, 0.99)
    );
    Ok(())
}

async fn warden_first_byte(warden: &Warden, program: &str) -> BenchResult<Duration> {
    let mut sub = warden.subscribe(Some(warden.bus().next_seq()));
    let t0 = Instant::now();
    let info = warden.spawn(SessionSpec::new("bench", program).args(["x"])).await?;
    let mut first = None;
    loop {
        let e = sub.recv_timeout(Duration::from_secs(10)).await.ok_or("no event within 10 s")?;
        if e.session != Some(info.id) {
            continue;
        }
        match &e.kind {
            EventKind::Output(o) if first.is_none() && !o.bytes.is_empty() => first = Some(t0.elapsed()),
            EventKind::Exited(_) => break,
            _ => {}
        }
    }
    first.ok_or_else(|| "no output".into())
}

/// openpty, fork/exec the program as a session leader on the slave, block
/// until the first byte; then drain and reap.
fn bare_first_byte(program: &str) -> BenchResult<Duration> {
    let t0 = Instant::now();
    let pair = native_pty_system().openpty(PtySize { rows: 40, cols: 120, pixel_width: 0, pixel_height: 0 })?;
    let tty = pair.master.tty_name().ok_or("no tty name")?;
    let slave = std::fs::OpenOptions::new().read(true).write(true).open(&tty)?;
    let mut cmd = Command::new(program);
    cmd.arg("x")
        .stdin(Stdio::from(slave.try_clone()?))
        .stdout(Stdio::from(slave.try_clone()?))
        .stderr(Stdio::from(slave));
    // SAFETY: only async-signal-safe calls in the forked child.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY as _, 0);
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    drop(cmd);
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader()?;
    let mut buf = [0u8; 4096];
    let n = reader.read(&mut buf)?;
    let elapsed = t0.elapsed();
    if n == 0 {
        return Err("bare child printed nothing".into());
    }
    while reader.read(&mut buf).map(|n| n > 0).unwrap_or(false) {}
    child.wait()?;
    Ok(elapsed)
}

const LINE: &str = "warden throughput line 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ";

fn producer_args(bytes: usize) -> Vec<String> {
    vec!["-c".into(), format!("yes '{LINE}' | head -c {bytes}")]
}

/// N MB through warden to a subscriber vs a bare read loop, alternating.
async fn throughput(mbytes: usize, rounds: usize) -> BenchResult<()> {
    let bytes = mbytes * 1_000_000;
    let dir = tempfile::tempdir()?;
    let quiet_dir = tempfile::tempdir()?;
    // Transcripts on is warden's default path, with every byte on disk; the
    // run without transcripts shows what the disk costs.
    let warden = start(dir.path(), true).await?;
    let quiet = start(quiet_dir.path(), false).await?;
    let mut w_rates = Vec::new();
    let mut q_rates = Vec::new();
    let mut b_rates = Vec::new();
    for _ in 0..rounds {
        b_rates.push(bare_throughput(bytes)?);
        w_rates.push(warden_throughput(&warden, bytes).await?);
        q_rates.push(warden_throughput(&quiet, bytes).await?);
    }
    warden.shutdown().await;
    quiet.shutdown().await;
    let (w, q, b) = (sorted(w_rates), sorted(q_rates), sorted(b_rates));
    let (wm, qm, bm) = (percentile(&w, 0.5), percentile(&q, 0.5), percentile(&b, 0.5));
    println!();
    println!("output throughput ({mbytes} MB of text per run, {rounds} runs each, alternating; MB = 10^6 bytes)");
    println!("| | median | runs |");
    println!("|---|---|---|");
    println!("| bare read loop on the PTY master | {bm:.1} MB/s | {} |", fmt_list(&b));
    println!("| warden → in-process subscriber (transcript on) | {wm:.1} MB/s | {} |", fmt_list(&w));
    println!("| warden → in-process subscriber (transcript off) | {qm:.1} MB/s | {} |", fmt_list(&q));
    println!("| ratio warden / bare (transcript on) | {:.3} | |", wm / bm);
    println!("| ratio warden / bare (transcript off) | {:.3} | |", qm / bm);
    Ok(())
}

fn fmt_list(v: &[f64]) -> String {
    v.iter().map(|x| format!("{x:.1}")).collect::<Vec<_>>().join(", ")
}

async fn warden_throughput(warden: &Warden, bytes: usize) -> BenchResult<f64> {
    let mut sub = warden.subscribe(Some(warden.bus().next_seq()));
    let t0 = Instant::now();
    let info = warden.spawn(SessionSpec::new("bench", "sh").args(producer_args(bytes))).await?;
    let mut got = 0usize;
    let mut chunks = 0usize;
    loop {
        let e = sub.recv_timeout(Duration::from_secs(60)).await.ok_or("no event within 60 s")?;
        if e.session != Some(info.id) {
            continue;
        }
        match &e.kind {
            EventKind::Output(o) => {
                got += o.bytes.len();
                chunks += 1;
            }
            EventKind::Lagged { missed } => return Err(format!("subscriber lagged by {missed}").into()),
            EventKind::Exited(_) => break,
            _ => {}
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    if got < bytes {
        return Err(format!("received {got} of {bytes} bytes").into());
    }
    if std::env::var_os("WARDEN_BENCH_VERBOSE").is_some() {
        eprintln!("warden run: {chunks} output events, {} bytes each on average", got / chunks.max(1));
    }
    Ok(got as f64 / secs / 1e6)
}

fn bare_throughput(bytes: usize) -> BenchResult<f64> {
    let t0 = Instant::now();
    let pair = native_pty_system().openpty(PtySize { rows: 40, cols: 120, pixel_width: 0, pixel_height: 0 })?;
    let mut cmd = portable_pty::CommandBuilder::new("sh");
    cmd.args(producer_args(bytes));
    let mut child = pair.slave.spawn_command(cmd)?;
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader()?;
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
        return Err(format!("bare loop received {got} of {bytes} bytes").into());
    }
    Ok(got as f64 / secs / 1e6)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Resident memory of warden per idle session, and spawn/stop times.
///
/// `prompted`: each session first prints a prompt (so its screen and observer
/// actors exist), then idles; measured after the screens were compacted.
async fn memory(n: usize, transcripts: bool, prompted: bool) -> BenchResult<()> {
    let dir = tempfile::tempdir()?;
    let warden = start(dir.path(), transcripts).await?;
    // Let the runtime and allocator settle with one session first.
    let warm = warden.spawn(SessionSpec::new("idle", "sh").args(["-c", "read x"])).await?;
    warden.stop(warm.id).await?;
    let before = rss_kib();
    let t0 = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    let script = if prompted { "printf 'ready> '; read x" } else { "read x" };
    let spec = SessionSpec::new("idle", "sh").args(["-c", script]);
    for _ in 0..n {
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
    let settle = if prompted { 2_600 } else { 300 };
    tokio::time::sleep(Duration::from_millis(settle)).await;
    let after = rss_kib();
    let t1 = Instant::now();
    let stopped = warden.stop_all().await;
    let stop_secs = t1.elapsed().as_secs_f64();
    warden.shutdown().await;
    let per = (after.saturating_sub(before)) as f64 / n as f64;
    println!();
    println!("idle sessions: {n} (`sh -c '{script}'`; warden's own RSS, children excluded)");
    println!("| sessions | RSS before | RSS after | per session | spawn all | stop all |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| {n} | {before} KiB | {after} KiB | {per:.1} KiB | {spawn_secs:.3} s | {stop_secs:.3} s ({stopped} stopped) |"
    );
    Ok(())
}
