//! The `warden` command line: argument parsing and printing only; the work
//! is done by the library crates.

pub mod adapters;
pub mod attach;
pub mod bench;
pub mod ctl;
pub mod events;
pub mod human;
pub mod print;
// TIOCGWINSZ on stdout for the terminal's size.
#[allow(unsafe_code)]
pub mod run;
pub mod secrets;
pub mod serve;
pub mod table;
pub mod target;
pub mod task;
pub mod top;
pub mod usage;
pub mod workspace;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Exit status for errors of warden itself (bad arguments, bad workdir…),
/// as `env`, `timeout` and `docker run` use it.
pub const EXIT_WARDEN_ERROR: i32 = 125;
/// Exit status when the agent program cannot be found.
pub const EXIT_NOT_FOUND: i32 = 127;

/// Supervisor for interactive command-line coding agents in pseudo-terminals.
#[derive(Debug, Parser)]
#[command(name = "warden", version, about, long_about = None)]
pub struct Cli {
    /// State directory (transcripts, session records, instance locks).
    /// Default: $XDG_STATE_HOME/warden or ~/.local/state/warden.
    #[arg(long, global = true, env = "WARDEN_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Configuration directory: rule overlays in `adapters/<agent>.d/*.toml`, picked
    /// up by a running node. Default: $XDG_CONFIG_HOME/warden or ~/.config/warden.
    #[arg(long, global = true, env = "WARDEN_CONFIG_DIR")]
    pub config_dir: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start one supervised agent session, type the task, show its terminal,
    /// exit with its exit code.
    Run(run::RunArgs),
    /// List the named keys that `send_keys` and `keys:` responses accept.
    Keys,
    /// Measure spawn latency, output throughput and memory per session
    /// against bare PTY baselines, in one run (see docs/PERFORMANCE.md).
    Bench(bench::BenchArgs),
    /// Git workspaces without a coordinator: provision, status, commit,
    /// push, pr, finalize, cleanup, list (see docs/WORKSPACES.md).
    Workspace(workspace::WorkspaceArgs),
    /// Serve this node on its local socket, and over NATS with --nats: take
    /// commands, publish events (see docs/PROTOCOL.md).
    Serve(serve::ServeArgs),
    /// Send one command to the local node, or with --nats to a node (or any
    /// node) over NATS, and print the reply.
    Ctl(ctl::CtlArgs),
    /// Tasks on the local node, or with --nats on a node over NATS: create
    /// (fan-out with several --agent), list, show, pause, resume, cancel
    /// (see docs/TASKS.md).
    Task(task::TaskArgs),
    /// Follow the local node's events, or with --nats nodes' events over NATS
    /// (live, or replayed with --since), as JSON lines with --json.
    Events(events::EventsArgs),
    /// This terminal on a running session: its screen now, then live; typing
    /// reaches the agent; ctrl+] detaches and leaves it running.
    Attach(attach::AttachArgs),
    /// Every session of the local node (or, with --nats, of every node),
    /// kept current: answer confirmations, send keys, stop, attach.
    Top(top::TopArgs),
    /// List the agent adapters: installed (path, version), credentials present
    /// (presence only), install hint; `explain` classifies a captured screen
    /// (see docs/ADAPTERS.md).
    Adapters(adapters::AdaptersArgs),
}

impl Cli {
    /// The log filter when `WARDEN_LOG` does not set one: `warn`, but `off`
    /// for `bench`, whose output is tables only. The NATS client's own logs
    /// are off: warden logs the connection's events itself, and reports a
    /// failed connection in its one error line.
    pub fn default_log_filter(&self) -> &'static str {
        match self.command {
            Command::Bench(_) | Command::Top(_) | Command::Attach(_) => "off",
            _ => "warn,async_nats=off",
        }
    }
}

/// Parses arguments and runs; returns the process exit code.
pub async fn main_with(cli: Cli) -> i32 {
    match cli.command {
        Command::Run(args) => run::run(cli.state_dir, overlays_dir(cli.config_dir), args).await,
        Command::Bench(args) => bench::bench(args).await,
        Command::Workspace(args) => workspace::workspace(cli.state_dir, args).await,
        Command::Serve(args) => serve::serve(cli.state_dir, overlays_dir(cli.config_dir), args).await,
        Command::Ctl(args) => ctl::ctl(cli.state_dir, args).await,
        Command::Task(args) => task::task(cli.state_dir, args).await,
        Command::Events(args) => events::events(cli.state_dir, args).await,
        Command::Adapters(args) => adapters::adapters(cli.state_dir, overlays_dir(cli.config_dir), args).await,
        Command::Top(args) => top::top(cli.state_dir, args).await,
        Command::Attach(args) => attach::attach(cli.state_dir, args).await,
        Command::Keys => {
            for name in warden_core::keys::key_names() {
                println!("{name}");
            }
            0
        }
    }
}

/// The rule overlays directory of `--config-dir` (or the default configuration
/// directory).
fn overlays_dir(config_dir: Option<PathBuf>) -> PathBuf {
    warden_actors::WardenConfig::overlays_dir(
        &config_dir.unwrap_or_else(warden_actors::WardenConfig::default_config_dir),
    )
}
