//! `warden run` with task options (`--repo`, `--branch`, `--base`,
//! `--finalize`, `--memory-file`): the whole job in the foreground through
//! [`Warden::create_task`] — workspace, agent, supervision, finalize — with the
//! agent's terminal on stdout, task notes on stderr, and at the end the commit
//! id, branch and pull-request URL.

use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use warden_actors::{AgentRequest, Warden};
use warden_console::{Console, ConsoleInput, ConsoleOptions};
use warden_core::task::{FinalizeMode, RepoSpec, SessionTuning, TaskAgent, TaskId, TaskRecord, TaskSpec, TaskStatus};
use warden_core::{Event, EventKind, SessionId};

use super::super::EXIT_WARDEN_ERROR;
use super::super::print::note;
use super::RunArgs;
use super::confirm::Confirmations;
use super::options::one_line;
use super::watch::{next_input, question, recv_signal};

/// Whether the flags ask for a task rather than a bare session.
pub(super) fn wanted(args: &RunArgs) -> bool {
    args.repo.is_some()
        || args.branch.is_some()
        || args.base.is_some()
        || args.finalize.is_some()
        || args.memory_file.is_some()
        || args.switch_agent_on_limit
}

/// The task the flags describe.
pub(super) fn spec(args: &RunArgs, request: &AgentRequest, timeout: Option<Duration>) -> Result<TaskSpec, String> {
    let description = args.task.clone().ok_or("task options need --task")?;
    if args.program.is_some() {
        return Err("--program cannot be used with task options; give --agent".into());
    }
    let finalize = match args.finalize.as_deref() {
        None => FinalizeMode::None,
        Some(f) => FinalizeMode::parse(f.trim()).ok_or_else(|| {
            format!("--finalize expects none, commit, push or pr, got `{}`", f.chars().take(40).collect::<String>())
        })?,
    };
    let memory = match &args.memory_file {
        Some(path) => Some(
            std::fs::read_to_string(path).map_err(|e| format!("cannot read --memory-file {}: {e}", path.display()))?,
        ),
        None => args.memory.clone(),
    };
    let repo = match &args.repo {
        Some(source) => {
            // A local path is made absolute: the clone runs elsewhere.
            let path = std::path::Path::new(source);
            let source = if path.exists() {
                std::fs::canonicalize(path).map(|p| p.display().to_string()).unwrap_or_else(|_| source.clone())
            } else {
                source.clone()
            };
            Some(RepoSpec {
                source,
                base: args.base.clone(),
                branch: args.branch.clone(),
                pr_repo: args.pr_repo.clone(),
            })
        }
        None if args.branch.is_some() || args.base.is_some() => return Err("--branch and --base need --repo".into()),
        None => None,
    };
    let mut spec = TaskSpec::new(args.agent.clone().unwrap_or_else(|| "auto".into()), description);
    spec.agents = vec![TaskAgent { agent: args.agent.clone().unwrap_or_else(|| "auto".into()), task: None }];
    spec.repo = repo;
    spec.workdir = if spec.repo.is_none() { args.workdir.clone() } else { None };
    spec.preset = request.preset;
    // The supervision flags (--supervision, --rule, --loading, --stall-ms, --env, the size).
    spec.session = SessionTuning {
        env: request.env.clone(),
        size: Some(request.size),
        supervision: Some(request.supervision),
        rules: request.rules.clone(),
        loading: request.loading.clone(),
        stall: Some(request.stall.clone()),
    };
    spec.memory = memory;
    spec.finalize = finalize;
    spec.switch_agent_on_limit = args.switch_agent_on_limit;
    spec.limits.timeout_ms = timeout.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX));
    spec.validate().map_err(|e| e.to_string())?;
    Ok(spec)
}

/// Runs the task to its end; returns the exit status (0 when completed).
///
/// The agents' output goes to the terminal; their pending confirmations are
/// answered in place as in a bare run: with a console (`interactive`: stdin
/// and stdout are a terminal) on its status line (`y`/`n`), and the
/// keystrokes go to the agent whose output was last shown; with only stdin a
/// terminal, by typed lines; otherwise they are printed as notes.
pub(super) async fn run(warden: &Warden, spec: TaskSpec, json: bool, interactive: bool) -> Result<i32, (i32, String)> {
    let mut events = warden.subscribe(Some(warden.bus().next_seq()));
    let id = warden.create_task(spec).await.map_err(|e| (EXIT_WARDEN_ERROR, one_line(&e.to_string())))?;
    let mut console = if interactive && !json {
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
    let mut confirmations = Confirmations::new(console.is_none() && std::io::stdin().is_terminal());
    let mut stdout = std::io::stdout();
    let mut printed = super::printed::Printed::for_stdout(console.is_some(), json);
    // The session keystrokes go to, and the terminal attached to it (it answers its queries).
    let mut current: Option<SessionId> = None;
    let mut _attached = None;
    let mut input_open = true;
    // SIGINT, SIGTERM, and SIGHUP (the terminal went away) cancel the task
    // (its workspace kept); the console restores the terminal on the way out.
    use tokio::signal::unix::{SignalKind, signal};
    let (mut sigint, mut sigterm, mut sighup) =
        (signal(SignalKind::interrupt()).ok(), signal(SignalKind::terminate()).ok(), signal(SignalKind::hangup()).ok());
    let mut cancelling = false;
    // Events of a session the task index does not know yet (its agent has
    // just started): held until it does.
    let mut early = Early::default();
    let record = 'watch: loop {
        let event = tokio::select! {
            e = events.recv() => e,
            _ = async {
                tokio::select! {
                    _ = recv_signal(&mut sigint) => {},
                    _ = recv_signal(&mut sigterm) => {},
                    _ = recv_signal(&mut sighup) => {},
                }
            }, if !cancelling => {
                cancelling = true;
                let w = warden.clone();
                tokio::spawn(async move {
                    let _ = w.cancel_task(id).await;
                });
                continue;
            }
            line = confirmations.next_line() => {
                let note = confirmations.answer(warden, &line).await;
                eprintln!("warden: {note}");
                if let Some(hint) = confirmations.hint() {
                    eprintln!("warden: {hint}");
                }
                continue;
            }
            input = next_input(&mut console), if input_open => {
                match input {
                    ConsoleInput::Keys(bytes) => {
                        if let Some(s) = current {
                            if let Err(e) = warden.write(s, bytes.clone()).await {
                                tracing::debug!(error = %e, "keystrokes not delivered");
                            }
                            if confirmations.answered_on_screen(s, &bytes)
                                && let Some(c) = console.as_mut()
                            {
                                c.ask(question(&confirmations));
                            }
                        }
                    }
                    ConsoleInput::Resize(size) => {
                        if let Some(s) = current {
                            let _ = warden.resize(s, size.rows, size.cols).await;
                        }
                    }
                    ConsoleInput::Answer(yes) => {
                        let note = confirmations.answer(warden, if yes { "" } else { "n" }).await;
                        if let Some(c) = console.as_mut() {
                            c.ask(question(&confirmations));
                            c.note(note);
                        }
                    }
                    ConsoleInput::Detach => {}
                    ConsoleInput::Closed => {
                        // The terminal went away: the task is cancelled (its workspace kept).
                        input_open = false;
                        cancelling = true;
                        let w = warden.clone();
                        tokio::spawn(async move {
                            let _ = w.cancel_task(id).await;
                        });
                    }
                }
                continue;
            }
        };
        let Some(event) = event else {
            break warden.task(id).map_err(|e| (EXIT_WARDEN_ERROR, e.to_string()))?;
        };
        for event in early.sort(id, |s| warden.task_of_session(s).map(|(t, _, _)| t), event) {
            if let Some(s) = event.session
                && current != Some(s)
                && matches!(event.kind, EventKind::Output(_) | EventKind::SessionStarted { .. })
            {
                current = Some(s);
                if console.is_some() {
                    _attached = warden.attach_terminal(s).await.ok();
                }
            }
            match (&event.kind, console.as_mut()) {
                (EventKind::Output(o), Some(c)) => {
                    let _ = c.show(&o.bytes);
                }
                (EventKind::Output(o), None) if !json => {
                    let _ = printed.output(&mut stdout, event.session, &o.bytes);
                    let _ = stdout.flush();
                }
                (EventKind::Exited(_), None) if !json => {
                    let _ = printed.ended(&mut stdout, event.session);
                    let _ = stdout.flush();
                }
                _ if json => {
                    let _ = writeln!(stdout, "{}", event.to_json());
                }
                _ => {}
            }
            match (&event.kind, event.session) {
                (EventKind::ConfirmationPending { id: cid, suggested, .. }, Some(s)) => {
                    confirmations.push(s, cid, suggested.is_some());
                    if let Some(c) = console.as_mut() {
                        c.ask(question(&confirmations));
                    } else {
                        if let Some(text) = note(&event) {
                            eprintln!("warden: {text}");
                        }
                        if let Some(hint) = confirmations.hint() {
                            eprintln!("warden: {hint}");
                        }
                    }
                }
                (EventKind::ConfirmationResolved { id: cid, .. }, Some(s)) => {
                    confirmations.resolved(s, cid);
                    show_note(&event, &mut console, json);
                    if let Some(c) = console.as_mut() {
                        c.ask(question(&confirmations));
                    }
                }
                (EventKind::Output(_), _) => {}
                _ => show_note(&event, &mut console, json),
            }
            if let EventKind::TaskStatus { to, .. } = &event.kind
                && to.is_terminal()
            {
                break 'watch warden.task(id).map_err(|e| (EXIT_WARDEN_ERROR, e.to_string()))?;
            }
        }
    };
    // The terminal is restored before the result is printed.
    drop(console);
    print_result(&record.clone().redacted(), json);
    Ok(match record.status {
        TaskStatus::Completed => 0,
        _ => 1,
    })
}

/// Most events held for sessions not known yet.
const EARLY_MAX: usize = 4096;

/// Session events that came before the task index knew their session: a
/// session's first events can be published before its task records it.
#[derive(Default)]
struct Early {
    held: VecDeque<Arc<Event>>,
}

impl Early {
    /// The events of task `id` to handle now, in order: those held whose
    /// session is now known to be the task's, then `event` if it is the
    /// task's; an event of a session not known yet is held (the oldest
    /// dropped beyond [`EARLY_MAX`]). `task_of` is the task a session works
    /// for, `None` while the task index does not know it.
    fn sort(
        &mut self,
        id: TaskId,
        task_of: impl Fn(SessionId) -> Option<TaskId>,
        event: Arc<Event>,
    ) -> Vec<Arc<Event>> {
        // Whether an event is the task's; `None`: not known yet.
        let owner = |e: &Event| -> Option<bool> {
            match &e.kind {
                EventKind::TaskCreated { task, .. }
                | EventKind::TaskStatus { task, .. }
                | EventKind::TaskFinalized { task, .. } => Some(*task == id),
                _ => match e.session {
                    Some(s) => task_of(s).map(|t| t == id),
                    None => Some(false),
                },
            }
        };
        let mut out = Vec::new();
        // A held event leaves once its session is known (handled if it is the
        // task's); the others stay, in order.
        self.held.retain(|held| match owner(held) {
            Some(true) => {
                out.push(Arc::clone(held));
                false
            }
            Some(false) => false,
            None => true,
        });
        match owner(&event) {
            Some(true) => out.push(event),
            Some(false) => {}
            None => {
                if self.held.len() >= EARLY_MAX {
                    self.held.pop_front();
                }
                self.held.push_back(event);
            }
        }
        out
    }
}

/// A note on stderr, or on the console's status line (none in JSON mode).
fn show_note(event: &Event, console: &mut Option<Console>, json: bool) {
    if json {
        return;
    }
    let Some(text) = note(event) else { return };
    match console {
        Some(c) => c.note(format!("warden: {text}")),
        None => eprintln!("warden: {text}"),
    }
}

fn print_result(record: &TaskRecord, json: bool) {
    if json {
        let value = serde_json::json!({"kind": "task", "task": record});
        println!("{value}");
        return;
    }
    println!();
    for a in &record.agents {
        if let Some(c) = &a.commit {
            println!("commit {c}");
        }
        if let Some(b) = &a.branch {
            println!("branch {b}");
        }
        if let Some(u) = &a.pr_url {
            println!("pr {u}");
        }
    }
    let detail = record.detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default();
    eprintln!("warden: task {} {} ({}){detail}", record.id, record.status, record.reason);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(seq: u64, session: SessionId) -> Arc<Event> {
        Arc::new(Event::new(seq, "n1", Some(session), EventKind::Error { message: format!("e{seq}") }))
    }

    fn seqs(events: &[Arc<Event>]) -> Vec<u64> {
        events.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn events_of_sessions_not_known_yet_wait_for_their_task() {
        let (mine, other) = (TaskId::new(), TaskId::new());
        let (a, b, c) = (SessionId::new(), SessionId::new(), SessionId::new());
        let mut early = Early::default();
        // Nothing known: a's and b's events are held, a session-less one is not the task's.
        let none = |_: SessionId| None;
        assert!(early.sort(mine, none, on(1, a)).is_empty());
        assert!(early.sort(mine, none, on(2, b)).is_empty());
        assert!(early.sort(mine, none, on(3, a)).is_empty());
        let lone = Arc::new(Event::new(4, "n1", None, EventKind::Error { message: "x".into() }));
        assert!(early.sort(mine, none, lone).is_empty());
        assert_eq!(early.held.len(), 3);
        // a is the task's now: its held events come first, in order, then the new one.
        let a_known = |s: SessionId| (s == a).then_some(mine);
        assert_eq!(seqs(&early.sort(mine, a_known, on(5, a))), [1, 3, 5]);
        assert_eq!(seqs(&early.held.iter().cloned().collect::<Vec<_>>()), [2]);
        // b turns out to be another task's: dropped; c's event is held meanwhile.
        let b_other = |s: SessionId| {
            if s == a {
                Some(mine)
            } else if s == b {
                Some(other)
            } else {
                None
            }
        };
        assert!(early.sort(mine, b_other, on(6, c)).is_empty());
        assert_eq!(seqs(&early.held.iter().cloned().collect::<Vec<_>>()), [6]);
        // Task events go by their task, whatever the index knows.
        let status = |seq: u64, task: TaskId| {
            Arc::new(Event::new(
                seq,
                "n1",
                None,
                EventKind::TaskStatus {
                    task,
                    from: TaskStatus::Running,
                    to: TaskStatus::Completed,
                    reason: warden_core::task::StatusReason::TaskComplete,
                    detail: None,
                    source: warden_core::task::ChangeSource::Session,
                },
            ))
        };
        assert_eq!(seqs(&early.sort(mine, none, status(7, mine))), [7]);
        assert!(early.sort(mine, none, status(8, other)).is_empty());
        assert_eq!(early.held.len(), 1, "c's event still waits");
    }

    #[test]
    fn at_most_early_max_events_are_held_the_oldest_go_first() {
        let (mine, s) = (TaskId::new(), SessionId::new());
        let mut early = Early::default();
        for seq in 0..(EARLY_MAX as u64 + 2) {
            assert!(early.sort(mine, |_| None, on(seq, s)).is_empty());
        }
        assert_eq!(early.held.len(), EARLY_MAX);
        let out = early.sort(mine, |_| Some(mine), on(EARLY_MAX as u64 + 2, s));
        assert_eq!(out.len(), EARLY_MAX + 1);
        assert_eq!((out[0].seq, out[EARLY_MAX].seq), (2, EARLY_MAX as u64 + 2));
        assert!(early.held.is_empty());
    }
}
