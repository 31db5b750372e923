//! warden-bench: the bodies of `warden bench` and `warden workspace bench`.
//!
//! Every figure is measured in the same run as its baseline, alternating the
//! two, so that ratios hold on a shared, noisy machine. Each part returns a
//! typed report whose [`Display`](std::fmt::Display) is the markdown table
//! the CLI prints; this crate prints nothing itself.
//!
//! | part | module | baseline |
//! |---|---|---|
//! | spawn → first output byte | [`spawn`] | `openpty` + fork/exec + blocking read (`bare_spawn`, the crate's only `unsafe`) |
//! | output throughput | [`throughput`] | a read loop on a PTY master (the producer started by `posix_spawn`, no fork) |
//! | memory per idle session | [`memory`] | — (warden's own RSS; run in a fresh process, see [`memory::in_fresh_process`]) |
//! | prompt → answer latency | [`prompt`] | a loop on the PTY master that answers the raw bytes |
//! | stall precision | [`stall`] | — (lateness after the configured window) |
//! | an attached terminal during a flood | [`attach`] | — (keystroke → echo; final screen = snapshot) |
//! | git workspaces | [`workspace`] | `git worktree add` |
//!
//! Statistics shared by the parts are in [`stats`]; which parts run is a
//! [`Part`]. What reading a screen costs is measured elsewhere:
//! `cargo run --release -p warden-adapters --example detect_bench`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), warden_bench::BenchError> {
//! let report = warden_bench::spawn::measure(&warden_bench::spawn::SpawnOptions { spawns: 50, transcripts: true }).await?;
//! println!("{report}");
//! # Ok(()) }
//! ```

#![deny(unsafe_code)]
#![warn(missing_docs)]

// The only module allowed `unsafe`: the bare baselines start a session
// leader on a PTY themselves (fork/exec with `setsid` + `TIOCSCTTY` in
// `pre_exec` for the spawn floor, `posix_spawn` for the throughput loop's
// producer), to measure the floors warden is compared with.
pub mod attach;
#[allow(unsafe_code)]
mod bare_spawn;
mod error;
pub mod memory;
mod part;
pub mod prompt;
pub mod spawn;
pub mod stall;
pub mod stats;
pub mod throughput;
pub mod workspace;

use std::path::Path;
use std::time::Duration;

pub use error::BenchError;
pub use part::{Part, UnknownPart};
use warden_actors::{Warden, WardenConfig};

/// CPUs available to this process (1 if unknown).
pub fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// The one-line header `warden bench` prints before its tables.
pub fn header() -> String {
    format!("warden bench on {} ({} cores)", warden_actors::default_node_name(), cores())
}

/// PTY size of every bare baseline (warden's default size too).
pub(crate) const BARE_PTY_SIZE: portable_pty::PtySize =
    portable_pty::PtySize { rows: 40, cols: 120, pixel_width: 0, pixel_height: 0 };

/// The next event of session `id` on `sub` (other sessions' are skipped);
/// an error once `timeout` passes without one.
pub(crate) async fn next_event_of(
    sub: &mut warden_actors::Subscription,
    id: warden_core::SessionId,
    timeout: Duration,
) -> Result<std::sync::Arc<warden_core::Event>, BenchError> {
    loop {
        let e = sub.recv_timeout(timeout).await.ok_or(BenchError::timeout(timeout))?;
        if e.session == Some(id) {
            return Ok(e);
        }
    }
}

/// A warden in `dir` as the spawn, throughput and memory parts use it.
pub(crate) async fn start_warden(dir: &Path, transcripts: bool) -> Result<Warden, BenchError> {
    let mut config = WardenConfig::new(dir);
    config.transcripts = transcripts;
    config.stop_grace = Duration::from_millis(500);
    config.retain_exited = 16;
    Ok(Warden::start(config).await?)
}
