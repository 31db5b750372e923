//! `warden run` with task options (`--repo`, `--branch`, `--base`,
//! `--finalize`, `--memory-file`): the whole job in the foreground through
//! [`Warden::create_task`] — workspace, agent, supervision, finalize — with the
//! agent's terminal on stdout, task notes on stderr, and at the end the commit
//! id, branch and pull-request URL.

use std::io::Write;
use std::time::Duration;

use warden_actors::Warden;
use warden_core::EventKind;
use warden_core::task::{FinalizeMode, RepoSpec, TaskAgent, TaskRecord, TaskSpec, TaskStatus};

use super::super::EXIT_WARDEN_ERROR;
use super::super::print::note;
use super::RunArgs;
use super::options::one_line;

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
pub(super) fn spec(
    args: &RunArgs,
    preset: Option<warden_core::ApprovalPreset>,
    timeout: Option<Duration>,
) -> Result<TaskSpec, String> {
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
    spec.preset = preset;
    spec.memory = memory;
    spec.finalize = finalize;
    spec.switch_agent_on_limit = args.switch_agent_on_limit;
    spec.limits.timeout_ms = timeout.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX));
    spec.validate().map_err(|e| e.to_string())?;
    Ok(spec)
}

/// Runs the task to its end; returns the exit status (0 when completed).
pub(super) async fn run(warden: &Warden, spec: TaskSpec, json: bool) -> Result<i32, (i32, String)> {
    let mut events = warden.subscribe(Some(warden.bus().next_seq()));
    let id = warden.create_task(spec).await.map_err(|e| (EXIT_WARDEN_ERROR, one_line(&e.to_string())))?;
    let mut stdout = std::io::stdout();
    let record = loop {
        let Some(event) = events.recv().await else {
            break warden.task(id).map_err(|e| (EXIT_WARDEN_ERROR, e.to_string()))?;
        };
        let mine = match &event.kind {
            EventKind::TaskCreated { task, .. }
            | EventKind::TaskStatus { task, .. }
            | EventKind::TaskFinalized { task, .. } => *task == id,
            _ => event.session.is_some_and(|s| warden.task_of_session(s).is_some_and(|(t, _, _)| t == id)),
        };
        if !mine {
            continue;
        }
        if json {
            let _ = writeln!(stdout, "{}", event.to_json());
        } else if let EventKind::Output(o) = &event.kind {
            let _ = stdout.write_all(&o.bytes);
            let _ = stdout.flush();
        } else if let Some(text) = note(&event) {
            eprintln!("warden: {text}");
        }
        if let EventKind::TaskStatus { to, .. } = &event.kind
            && to.is_terminal()
        {
            break warden.task(id).map_err(|e| (EXIT_WARDEN_ERROR, e.to_string()))?;
        }
    };
    print_result(&record, json);
    Ok(match record.status {
        TaskStatus::Completed => 0,
        _ => 1,
    })
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
