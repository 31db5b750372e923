//! `warden run`: one supervised session in this process.
//!
//! The flags become an [`AgentRequest`] ([`options`]) started by
//! [`Warden::spawn_agent`], the launch path the NATS bridge uses too;
//! the session's events are printed as they come (the terminal's bytes on stdout, or
//! JSON lines), supervision events as short notes on stderr ([`super::print::note`]),
//! pending confirmations answered from the terminal ([`confirm`]); a login screen or an
//! unusable provider ends the run with its own exit status ([`outcome`]).

mod complete;
mod confirm;
mod options;
mod outcome;
mod printed;
mod task_mode;
mod watch;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use warden_actors::preflight;
use warden_actors::{
    AgentRequest, FileOutcome, FileSource, LaunchError, LaunchedAgent, SessionError, Warden, WardenConfig,
};
use warden_adapters::Strategy;
use warden_core::ApprovalPreset;

use super::{EXIT_NOT_FOUND, EXIT_WARDEN_ERROR};
use complete::OnComplete;
use options::{RawSupervision, one_line};
use warden_console::{Console, ConsoleOptions};
use watch::{Watch, print_screen};

const EXIT_HELP: &str = "\
Exit status:
  the agent's own (128+N when signal N ended it), or
  121  the agent asks for a login (its URL or sign-in choices are printed)
  122  the agent cannot work: its provider is unreachable, its usage limit is
       reached, or the provider answered with an error
  123  the agent stalled and every step of the escalation ladder was taken
  124  --timeout passed; the agent was stopped
  125  warden failed (bad arguments, working directory, adapter file, or a preset
       the installed CLI version cannot express)
  126  the agent CLI rejected its launch (an unknown option, a flag value its version
       does not take, a version it requires, a crash on start); its message is
       quoted
  127  the program was not found";

/// Arguments of `warden run`.
#[derive(Debug, Args)]
#[command(after_help = EXIT_HELP)]
pub struct RunArgs {
    /// Agent type (adapter): claude, codex, gemini, aider, pi, shell, or a generic
    /// adapter from --adapter-file. Without it warden chooses from what is installed
    /// (the --subscription hint, then a CLI that is installed and logged in, then one
    /// that is installed, in the order claude, codex, gemini, aider, pi; the shell when
    /// none is) and names its choice on stderr. With --program and no --agent: shell.
    #[arg(long)]
    pub agent: Option<String>,
    /// Which subscription to prefer when choosing the agent: anthropic-subscription,
    /// openai-subscription or google-subscription.
    #[arg(long, value_name = "HINT", env = "WARDEN_SUBSCRIPTION")]
    pub subscription: Option<String>,
    /// The task: given to the agent the way its CLI takes one (an argument, or typed
    /// in once it is ready).
    #[arg(long)]
    pub task: Option<String>,
    /// Working directory of the agent (must exist).
    #[arg(long)]
    pub workdir: Option<PathBuf>,
    /// Print one JSON event per line instead of the terminal.
    #[arg(long)]
    pub json: bool,
    /// Program to run instead of the adapter's; it gets only the arguments after `--`,
    /// and the task is typed in.
    #[arg(long)]
    pub program: Option<String>,
    /// Extra environment for the agent, NAME=VALUE (repeatable).
    #[arg(long = "env", value_name = "NAME=VALUE")]
    pub env: Vec<String>,
    /// Answer a prompt: when REGEX matches the screen, send RESPONSE (typed and
    /// submitted; `keys:down,enter` sends keys). Repeatable.
    #[arg(long = "rule", value_name = "REGEX=RESPONSE")]
    pub rules: Vec<String>,
    /// While REGEX matches the bottom three lines of the screen the agent counts as
    /// working (a spinner), so the longer stall window applies. Repeatable.
    #[arg(long = "loading", value_name = "REGEX")]
    pub loading: Vec<String>,
    /// Stall window: a working agent whose screen makes no progress this long is
    /// reported stalled (default 8000; 0 turns stall detection off).
    #[arg(long, value_name = "MS")]
    pub stall_ms: Option<String>,
    /// Restart the agent when it exits: never (default), on-failure or always; at most
    /// 3 restarts in 60 s, with a growing back-off.
    #[arg(long, value_name = "POLICY")]
    pub restart: Option<String>,
    /// What warden answers by itself: autonomous (default: safe prompts), confirm
    /// (every answer waits for you) or notify (nothing is typed).
    #[arg(long, value_name = "LEVEL")]
    pub supervision: Option<String>,
    /// Approval preset: readonly, standard (default), permissive or autonomous, as the
    /// CLI's flags and environment. Only when this flag is given are the preset's config
    /// files (e.g. .claude/settings.local.json) written into the working directory, and
    /// never over a file of yours.
    #[arg(long, value_name = "PRESET")]
    pub preset: Option<String>,
    /// After the session ends, print its final screen: plain text after the terminal
    /// output, or with --json one last line {"kind":"screen",…}.
    #[arg(long)]
    pub screen: bool,
    /// Stop the agent and fail (status 124) when the session runs longer than this.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<String>,
    /// Instructions appended to the agent's memory file in the working directory
    /// (CLAUDE.md, AGENTS.md, GEMINI.md, .aider.conventions.md) before it starts.
    #[arg(long, value_name = "TEXT")]
    pub memory: Option<String>,
    /// A generic adapter (or an override of a built-in) from a TOML manifest shaped
    /// like the built-in ones; see docs/ADAPTERS.md. Repeatable.
    #[arg(long = "adapter-file", value_name = "FILE")]
    pub adapter_files: Vec<PathBuf>,
    /// Terminal rows (default: this terminal's, or 40).
    #[arg(long)]
    pub rows: Option<String>,
    /// Terminal columns (default: this terminal's, or 120).
    #[arg(long)]
    pub cols: Option<String>,
    /// Node name carried by events (default: host name).
    #[arg(long)]
    pub node: Option<String>,
    /// When the agent has finished its task: exit (stop it and exit with the task's
    /// status: a shell's command status, else 0) or stay (keep the session). Default:
    /// stay when you are at the terminal (interactive), exit otherwise.
    #[arg(long, value_name = "WHAT")]
    pub on_complete: Option<String>,
    /// Task mode: a repository (URL or path) to work in — a worktree of a clone
    /// on its own branch; the run then does the whole task (see --finalize).
    #[arg(long, value_name = "URL|PATH")]
    pub repo: Option<String>,
    /// Task mode: the branch to work on (default: generated from the task).
    #[arg(long)]
    pub branch: Option<String>,
    /// Task mode: the base branch (default: the remote's default branch).
    #[arg(long)]
    pub base: Option<String>,
    /// Task mode: what to do when the agent is done: none (default), commit, push
    /// or pr; the commit id, branch and pull-request URL are printed.
    #[arg(long, value_name = "STEP")]
    pub finalize: Option<String>,
    /// Task mode: `owner/name` of the GitHub repository pull requests go to,
    /// when the remote's URL does not say.
    #[arg(long, value_name = "OWNER/NAME")]
    pub pr_repo: Option<String>,
    /// Task mode: instructions for the agent's memory file, read from FILE.
    #[arg(long, value_name = "FILE")]
    pub memory_file: Option<PathBuf>,
    /// Task mode: when the agent reports a usage limit, switch to another
    /// installed agent (in the same workspace) instead of waiting for the reset.
    #[arg(long)]
    pub switch_agent_on_limit: bool,
    /// Arguments for the agent's program (after `--`).
    #[arg(last = true)]
    pub args: Vec<String>,
}

/// Runs the session; returns the exit code.
pub async fn run(state_dir: Option<PathBuf>, overlays: PathBuf, args: RunArgs) -> i32 {
    match run_inner(state_dir, overlays, args).await {
        Ok(code) => code,
        Err((code, message)) => {
            eprintln!("warden: {message}");
            code
        }
    }
}

/// The exit status and the one-line message of a launch that failed.
fn launch_failure(e: &LaunchError) -> (i32, String) {
    match e {
        LaunchError::Session(SessionError::ProgramNotFound { .. }) => (EXIT_NOT_FOUND, one_line(&e.to_string())),
        LaunchError::NoMemoryFile { agent } => {
            (EXIT_WARDEN_ERROR, format!("agent {agent} has no memory file; --memory cannot be used with it"))
        }
        LaunchError::Session(_)
        | LaunchError::Preset(_)
        | LaunchError::UnknownAgent { .. }
        | LaunchError::NoFallback
        | LaunchError::Select(_)
        | LaunchError::FileOutside { .. }
        | LaunchError::WriteFile { .. } => (EXIT_WARDEN_ERROR, one_line(&e.to_string())),
    }
}

/// The parsed flags: what to start, with which warden.
struct Prepared {
    request: AgentRequest,
    /// The preset the notes name (the flags' preset, `standard` by default).
    request_preset: ApprovalPreset,
    config: WardenConfig,
    timeout: Option<Duration>,
    on_complete: OnComplete,
}

async fn run_inner(state_dir: Option<PathBuf>, overlays: PathBuf, args: RunArgs) -> Result<i32, (i32, String)> {
    // A person at the terminal: raw mode, keystrokes to the agent (docs/TERMINAL.md).
    let interactive = !args.json && Console::available();
    let mut prepared = prepare(state_dir, &args, interactive).map_err(|m| (EXIT_WARDEN_ERROR, m))?;
    prepared.config.adapter_overlays = Some(overlays);
    if task_mode::wanted(&args) {
        let spec = task_mode::spec(&args, &prepared.request, prepared.timeout).map_err(|m| (EXIT_WARDEN_ERROR, m))?;
        let warden = Warden::start(prepared.config).await.map_err(|e| (EXIT_WARDEN_ERROR, one_line(&e.to_string())))?;
        let result = task_mode::run(&warden, spec, args.json, interactive).await;
        warden.shutdown().await;
        return result;
    }
    let warden = Warden::start(prepared.config).await.map_err(|e| (EXIT_WARDEN_ERROR, one_line(&e.to_string())))?;
    let mut events = warden.subscribe(Some(warden.bus().next_seq()));
    let launched = match warden.spawn_agent(prepared.request).await {
        Ok(launched) => launched,
        Err(e) => {
            warden.shutdown().await;
            return Err(launch_failure(&e));
        }
    };
    print_launch_notes(&launched, prepared.request_preset);
    let id = launched.session.id;
    // The adapter as the node reads it (with the rule overlays).
    let Some(adapter) = warden.adapters().get(&launched.session.agent).cloned() else {
        warden.shutdown().await;
        return Err((EXIT_WARDEN_ERROR, format!("agent {} has no adapter", launched.session.agent)));
    };
    let watch = Watch {
        json: args.json,
        agent: adapter.display_name.clone(),
        login_hint: adapter.login_hint(),
        adapter,
        timeout: prepared.timeout,
        on_complete: prepared.on_complete,
        has_task: args.task.as_deref().is_some_and(|t| !t.trim().is_empty()),
    };
    let console = if interactive {
        match Console::open(ConsoleOptions::default()) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("warden: {e}; running without keyboard input");
                None
            }
        }
    } else {
        None
    };
    // The terminal answers the agent's queries itself (warden does not: config).
    let _attached = match &console {
        Some(_) => warden.attach_terminal(id).await.ok(),
        None => None,
    };
    let result = watch.run(&warden, id, &mut events, console).await;
    if args.screen {
        print_screen(&warden, id, args.json, result.output_ended_mid_line).await;
    }
    warden.shutdown().await;
    if let Some(ending) = result.ending {
        eprintln!("warden: {}", ending.message);
        return Ok(ending.code);
    }
    if let Some(code) = result.completed {
        return Ok(code);
    }
    Ok(result.code.unwrap_or(EXIT_WARDEN_ERROR))
}
/// Parses the flags into the request and the warden's configuration; nothing is
/// chosen, written or started yet.
fn prepare(state_dir: Option<PathBuf>, args: &RunArgs, interactive: bool) -> Result<Prepared, String> {
    let on_complete = OnComplete::parse(args.on_complete.as_deref(), interactive)?;
    let sup = options::parse(&RawSupervision {
        rules: &args.rules,
        loading: &args.loading,
        stall_ms: args.stall_ms.as_deref(),
        restart: args.restart.as_deref(),
        supervision: args.supervision.as_deref(),
        preset: args.preset.as_deref(),
        timeout: args.timeout.as_deref(),
    })?;
    let mut request = match (&args.agent, &args.program) {
        (Some(agent), _) => AgentRequest::named(agent.clone()),
        (None, Some(_)) => AgentRequest::fallback(),
        (None, None) => AgentRequest::selected(Strategy::Heuristic { subscription_hint: args.subscription.clone() }),
    };
    for kv in &args.env {
        let (k, v) = kv.split_once('=').ok_or_else(|| format!("--env expects NAME=VALUE, got `{kv}`"))?;
        request.env.insert(k.to_string(), v.to_string());
    }
    if let Some(dir) = &args.workdir {
        // The session's own check, before anything is chosen or written.
        warden_actors::check_workdir(dir).map_err(|e| e.to_string())?;
    }
    let registry = Arc::new(preflight::registry_from_files(&args.adapter_files).map_err(|e| one_line(&e.to_string()))?);
    let (term_rows, term_cols) = terminal_size().unwrap_or((40, 120));
    request.size = warden_core::TermSize {
        rows: cells("--rows", args.rows.as_deref())?.unwrap_or(term_rows),
        cols: cells("--cols", args.cols.as_deref())?.unwrap_or(term_cols),
    };
    request.task = args.task.clone();
    request.preset = sup.preset_explicit.then_some(sup.preset);
    request.memory = args.memory.clone();
    request.program = args.program.clone();
    request.args = args.args.clone();
    request.workdir = args.workdir.clone();
    request.supervision = sup.level;
    request.rules = sup.rules;
    request.loading = sup.loading;
    request.stall = sup.stall;
    request.restart = sup.restart;
    let mut config = WardenConfig::new(state_dir.unwrap_or_else(WardenConfig::default_state_dir));
    if let Some(node) = args.node.clone() {
        config.node = node;
    }
    config.adapters = Arc::clone(&registry);
    config.workspace.git.token = crate::cli::workspace::git_token_from_env();
    // An attached terminal answers the agent's queries; warden must not answer too.
    config.answer_terminal_queries = !interactive;
    Ok(Prepared { request, request_preset: sup.preset, config, timeout: sup.timeout, on_complete })
}

/// The short notes on stderr: the agent chosen and why, the files written or kept.
fn print_launch_notes(launched: &LaunchedAgent, preset: ApprovalPreset) {
    if let Some(choice) = &launched.selection {
        eprintln!("warden: agent {} ({})", choice.agent, choice.reason);
    }
    if let Some(note) = &launched.preset_fallback {
        let version = launched.version.as_deref().unwrap_or("an unknown version");
        eprintln!("warden: {} {version}: preset {preset} with the flags for {note}", launched.session.agent);
    }
    for file in &launched.files {
        let p = &file.path;
        match (file.source, file.outcome) {
            (FileSource::Preset, FileOutcome::Written) => eprintln!("warden: wrote {p} (preset {preset})"),
            (FileSource::Preset, FileOutcome::Kept) => {
                eprintln!("warden: kept your {p}; preset {preset} is applied through flags only")
            }
            (FileSource::Memory, FileOutcome::Written) => eprintln!("warden: appended the instructions to {p}"),
            (_, FileOutcome::Unchanged) | (FileSource::Memory, FileOutcome::Kept) => {}
        }
    }
}

/// A terminal dimension in cells (1..=4096).
fn cells(flag: &str, value: Option<&str>) -> Result<Option<u16>, String> {
    let Some(text) = value else { return Ok(None) };
    match text.trim().parse::<u16>() {
        Ok(n) if (1..=warden_core::TermSize::MAX).contains(&n) => Ok(Some(n)),
        _ => {
            let shown: String = text.chars().take(40).collect();
            Err(format!("{flag} expects a number of cells from 1 to {}, got `{shown}`", warden_core::TermSize::MAX))
        }
    }
}

/// Rows and columns of the terminal on stdout, if it is one.
fn terminal_size() -> Option<(u16, u16)> {
    // SAFETY: TIOCGWINSZ writes a winsize into the struct we pass.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_row > 0 && ws.ws_col > 0).then_some((ws.ws_row, ws.ws_col))
}
