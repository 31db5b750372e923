//! `warden run`: one supervised session in this process.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use warden_actors::{SessionError, Warden, WardenConfig};
use warden_core::{EventKind, SessionSpec};

use super::{EXIT_NOT_FOUND, EXIT_WARDEN_ERROR};

/// Arguments of `warden run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Agent type (adapter): shell.
    #[arg(long, default_value = "shell")]
    pub agent: String,
    /// Task typed into the agent once it runs.
    #[arg(long)]
    pub task: Option<String>,
    /// Working directory of the agent (must exist).
    #[arg(long)]
    pub workdir: Option<PathBuf>,
    /// Print one JSON event per line instead of the terminal.
    #[arg(long)]
    pub json: bool,
    /// Program to run instead of the adapter's.
    #[arg(long)]
    pub program: Option<String>,
    /// Extra environment for the agent, NAME=VALUE (repeatable).
    #[arg(long = "env", value_name = "NAME=VALUE")]
    pub env: Vec<String>,
    /// Terminal rows (default: this terminal's, or 40).
    #[arg(long)]
    pub rows: Option<u16>,
    /// Terminal columns (default: this terminal's, or 120).
    #[arg(long)]
    pub cols: Option<u16>,
    /// Node name carried by events (default: host name).
    #[arg(long)]
    pub node: Option<String>,
    /// Arguments for the program (after `--`).
    #[arg(last = true)]
    pub args: Vec<String>,
}

/// Runs the session; returns the exit code.
pub async fn run(state_dir: Option<PathBuf>, args: RunArgs) -> i32 {
    match run_inner(state_dir, args).await {
        Ok(code) => code,
        Err((code, message)) => {
            eprintln!("warden: {message}");
            code
        }
    }
}

fn session_error_code(e: &SessionError) -> i32 {
    match e {
        SessionError::ProgramNotFound { .. } => EXIT_NOT_FOUND,
        _ => EXIT_WARDEN_ERROR,
    }
}

async fn run_inner(state_dir: Option<PathBuf>, args: RunArgs) -> Result<i32, (i32, String)> {
    let fail = |m: String| (EXIT_WARDEN_ERROR, m);
    let shell = std::env::var("SHELL").ok();
    let launch = warden_adapters::launch(&args.agent, shell.as_deref()).map_err(|e| fail(e.to_string()))?;
    let (term_rows, term_cols) = terminal_size().unwrap_or((40, 120));
    let mut spec = SessionSpec::new(launch.agent, args.program.clone().unwrap_or(launch.program));
    spec.args = if args.program.is_some() { args.args.clone() } else { [launch.args, args.args.clone()].concat() };
    spec.env = launch.env;
    for kv in &args.env {
        let (k, v) = kv.split_once('=').ok_or_else(|| fail(format!("--env expects NAME=VALUE, got `{kv}`")))?;
        spec.env.insert(k.to_string(), v.to_string());
    }
    spec.workdir = args.workdir.clone();
    spec.size = warden_core::TermSize { rows: args.rows.unwrap_or(term_rows), cols: args.cols.unwrap_or(term_cols) };
    spec.task = args.task.clone();

    let mut config = WardenConfig::new(state_dir.unwrap_or_else(WardenConfig::default_state_dir));
    if let Some(node) = args.node.clone() {
        config.node = node;
    }
    let warden = Warden::start(config).await.map_err(|e| fail(e.to_string()))?;
    let mut events = warden.subscribe(Some(warden.bus().next_seq()));
    let info = match warden.spawn(spec).await {
        Ok(info) => info,
        Err(e) => {
            warden.shutdown().await;
            return Err((session_error_code(&e), e.to_string()));
        }
    };
    let id = info.id;

    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let stdout = std::io::stdout();
    let mut code = None;
    let mut stopping = false;
    while code.is_none() {
        let event = tokio::select! {
            e = events.recv() => e,
            _ = recv_signal(&mut sigint), if !stopping => { stopping = true; stop_in_background(&warden, id); continue }
            _ = recv_signal(&mut sigterm), if !stopping => { stopping = true; stop_in_background(&warden, id); continue }
        };
        let Some(event) = event else { break };
        if event.session.is_some_and(|s| s != id) {
            continue;
        }
        let mut out = stdout.lock();
        let written = super::print::write_event(&mut out, &event, args.json, false);
        if let EventKind::Exited(exit) = &event.kind {
            code = Some(exit.shell_code());
        }
        if written.and_then(|_| out.flush()).is_err() {
            // stdout closed (e.g. piped into `head`): stop the agent and leave.
            stop_in_background(&warden, id);
        }
    }
    warden.shutdown().await;
    Ok(code.unwrap_or(EXIT_WARDEN_ERROR))
}

async fn recv_signal(sig: &mut Option<tokio::signal::unix::Signal>) {
    match sig {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

fn stop_in_background(warden: &Warden, id: warden_core::SessionId) {
    let w = warden.clone();
    tokio::spawn(async move {
        let _ = w.stop_with_grace(id, Duration::from_secs(2)).await;
    });
}

/// Rows and columns of the terminal on stdout, if it is one.
fn terminal_size() -> Option<(u16, u16)> {
    // SAFETY: TIOCGWINSZ writes a winsize into the struct we pass.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_row > 0 && ws.ws_col > 0).then_some((ws.ws_row, ws.ws_col))
}
