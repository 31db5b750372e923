//! `warden bench`: side-by-side measurements of warden and bare PTY baselines.

use clap::Args;

/// Arguments of `warden bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {}

/// Runs the benchmarks; returns the exit code.
pub async fn bench(_args: BenchArgs) -> i32 {
    0
}
