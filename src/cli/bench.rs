//! `warden bench`: arguments, and printing the tables of the `warden-bench`
//! crate, which measures warden against bare PTY baselines.
//!
//! The output is tables only (the binary installs no log output for bench
//! unless `WARDEN_LOG` asks for it). The memory part runs in a fresh
//! process: unless it is all this process does (`--only memory` with one
//! session count), it re-executes this binary once per session count.

use std::process::Command;

use clap::Args;
use warden_bench::attach::AttachOptions;
use warden_bench::memory::{MemoryOptions, MemoryReport};
use warden_bench::prompt::ProbeCommand;
use warden_bench::spawn::SpawnOptions;
use warden_bench::throughput::ThroughputOptions;
use warden_bench::{BenchError, Part};

/// Sessions of the stall-precision part.
const STALL_SESSIONS: usize = 20;

/// Arguments of `warden bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Spawns measured per side for the latency benchmark.
    #[arg(long, default_value_t = 200)]
    pub spawns: usize,
    /// Megabytes printed per throughput run.
    #[arg(long, default_value_t = 50)]
    pub mbytes: usize,
    /// Throughput rounds (each runs the bare loop, the bare loop storing its
    /// bytes in a file, the three warden variants and the bare loop again,
    /// back to back); the ratios are medians over rounds, with a 95%
    /// confidence interval from 6 rounds on.
    #[arg(long, default_value_t = 21)]
    pub rounds: usize,
    /// Idle-session counts for the memory benchmark.
    #[arg(long, value_delimiter = ',', default_value = "100,1000")]
    pub sessions: Vec<usize>,
    /// Keep transcripts during the spawn and memory parts (warden's default).
    #[arg(long, default_value = "on", value_parser = ["on", "off"])]
    pub transcripts: String,
    /// Megabytes the agent prints while a terminal is attached (attach part).
    #[arg(long, default_value_t = 50)]
    pub attach_mbytes: usize,
    /// Attach part: measure over this NATS server too (nats://…), besides the local socket.
    #[arg(long, value_name = "URL")]
    pub nats: Option<String>,
    /// Only these parts: spawn, throughput, memory, prompt, stall, attach (default: all).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<Part>,
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
    /// Internal: run the memory part for one session count in this (fresh)
    /// process and print its report as one JSON line.
    #[arg(long, hide = true)]
    pub memory_child: Option<usize>,
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

async fn run(args: BenchArgs) -> Result<(), BenchError> {
    let transcripts = args.transcripts == "on";
    let memory = |sessions| MemoryOptions { sessions, transcripts, idle_prompt: args.idle_prompt };
    if let Some(n) = args.probe_prompts {
        return warden_bench::prompt::probe(
            n,
            args.probe_ansi_kb,
            &mut std::io::stdin().lock(),
            &mut std::io::stdout(),
        );
    }
    if let Some(n) = args.memory_child {
        println!("{}", warden_bench::memory::measure(&memory(n)).await?.to_json_line());
        return Ok(());
    }
    let parts = Part::selected(&args.only);
    println!("{}", warden_bench::header());
    let exe = std::env::current_exe()?;
    for part in &parts {
        match part {
            Part::Spawn => {
                let options = SpawnOptions { spawns: args.spawns, transcripts };
                print(warden_bench::spawn::measure(&options).await?);
            }
            Part::Throughput => {
                let options = ThroughputOptions { mbytes: args.mbytes, rounds: args.rounds };
                print(warden_bench::throughput::measure(&options).await?);
            }
            Part::Memory if parts.len() == 1 && args.sessions.len() == 1 => {
                // Nothing ran before in this process: it is fresh.
                print(warden_bench::memory::measure(&memory(args.sessions[0])).await?);
            }
            Part::Memory => {
                for &n in &args.sessions {
                    print(in_fresh_process(&exe, &memory(n)).await?);
                }
            }
            Part::Prompt => {
                let probe = ProbeCommand { program: exe.clone(), args: probe_args };
                print(warden_bench::prompt::measure(&probe, args.prompts).await?);
            }
            Part::Stall => print(warden_bench::stall::measure(STALL_SESSIONS).await?),
            Part::Attach => {
                let options = AttachOptions { mbytes: args.attach_mbytes, nats: args.nats.clone() };
                print(warden_bench::attach::measure(&options).await?);
            }
        }
    }
    Ok(())
}

fn print(report: impl std::fmt::Display) {
    println!("\n{report}");
}

/// The arguments that make this binary run the prompt probe.
fn probe_args(prompts: usize, ansi_kb: usize) -> Vec<String> {
    let (prompts, ansi_kb) = (prompts.to_string(), ansi_kb.to_string());
    ["bench", "--probe-prompts", &prompts, "--probe-ansi-kb", &ansi_kb].map(String::from).to_vec()
}

/// The memory part for one session count, in a new process of this binary.
async fn in_fresh_process(exe: &std::path::Path, options: &MemoryOptions) -> Result<MemoryReport, BenchError> {
    let mut child = Command::new(exe);
    child.args(["bench", "--memory-child", &options.sessions.to_string()]);
    child.args(["--transcripts", if options.transcripts { "on" } else { "off" }]);
    if options.idle_prompt {
        child.arg("--idle-prompt");
    }
    warden_bench::memory::in_fresh_process(child).await
}
