//! `warden workspace bench`: arguments, and printing the report of
//! [`warden_bench::workspace`] (worktrees/s, commits/s, parallel speed-up).

use clap::Args;
use warden_bench::workspace::{WorkspaceOptions, measure};

use crate::cli::EXIT_WARDEN_ERROR;

/// Arguments of `warden workspace bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Runs; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Worktrees provisioned per run.
    #[arg(long, default_value_t = 40)]
    pub worktrees: usize,
    /// Commits on one workspace per run.
    #[arg(long, default_value_t = 200)]
    pub commits: usize,
    /// Commits per workspace in the 8-workspace comparison.
    #[arg(long, default_value_t = 40)]
    pub parallel_commits: usize,
}

/// Runs the benchmark; prints a table, or JSON with `json`; returns the exit code.
pub async fn bench(args: &BenchArgs, json: bool) -> i32 {
    let options = WorkspaceOptions {
        runs: args.runs,
        worktrees: args.worktrees,
        commits: args.commits,
        parallel_commits: args.parallel_commits,
    };
    let report = match measure(&options).await {
        Ok(report) => report,
        Err(e) => {
            eprintln!("warden: bench: {e}");
            return EXIT_WARDEN_ERROR;
        }
    };
    if !json {
        println!("{report}");
        return 0;
    }
    match serde_json::to_string_pretty(&report) {
        Ok(text) => {
            println!("{text}");
            0
        }
        Err(e) => {
            eprintln!("warden: {e}");
            EXIT_WARDEN_ERROR
        }
    }
}
