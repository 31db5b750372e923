//! Serving the task verbs that need more than one call: `create_task` (the
//! node's policy on the agents, the repository and the working directory,
//! then [`warden_actors::Warden::create_task`]) and the task fields of
//! `list_agents`.

use warden_actors::Warden;
use warden_core::SessionInfo;

use crate::policy::Policy;
use crate::protocol::{AgentEntry, CreateTaskArgs, TaskResult, WireError};

/// `create_task`: checked against the node's policy, accepted, answered at
/// once with the task's record (`queued`).
pub(crate) async fn create(
    warden: &Warden,
    policy: &Policy,
    node: String,
    args: CreateTaskArgs,
) -> Result<TaskResult, WireError> {
    let registry = &warden.config().adapters;
    let names: Vec<String> = if args.agents.is_empty() {
        args.agent.iter().cloned().collect()
    } else {
        args.agents.iter().map(|a| a.agent.clone()).collect()
    };
    for name in names.iter().filter(|n| n.as_str() != "auto") {
        let adapter =
            warden_actors::launch::adapter_named(registry, name).map_err(|e| WireError::bad_request(e.to_string()))?;
        policy.check_agent(&adapter.name)?;
    }
    policy.check_env(&args.env)?;
    let repo = match &args.repo {
        Some(repo) => Some(policy.check_repo_source(repo)?),
        None => None,
    };
    let workdir = match (&args.workdir, &repo) {
        (Some(dir), None) => Some(policy.resolve_workdir(Some(dir))?),
        _ => None,
    };
    let mut spec = args.spec(repo, workdir);
    // An `auto` agent, and one switched to on a usage limit, come from what the
    // policy allows too: selection must not pick (or fall back to) another.
    spec.allowed_agents = Some(policy.allowed_agents().to_vec());
    let id = warden.create_task(spec).await?;
    Ok(TaskResult { node, task: warden.task(id)?.redacted() })
}

/// Each session with its short id, its task (id, status, text), the
/// workspace and branch, and its pending confirmations; a live session with
/// one is reported `blocked`.
pub(crate) async fn agent_entries(w: &Warden, sessions: Vec<SessionInfo>) -> Vec<AgentEntry> {
    let live: Vec<String> = sessions.iter().filter(|s| s.exit.is_none()).map(|s| s.id.to_string()).collect();
    let shorts = warden_core::idref::Shorts::new(live.iter().map(String::as_str));
    let mut out = Vec::with_capacity(sessions.len());
    for mut session in sessions {
        let short = shorts.of(&session.id.to_string());
        let (task, task_status, mut branch) = match w.task_of_session(session.id) {
            Some((t, s, b)) => (Some(t), Some(s), b),
            None => (None, None, None),
        };
        let mut task_text = None;
        let mut workspace = None;
        if let Some(record) = task.and_then(|t| w.task(t).ok()) {
            let index = record.agent_of(session.id);
            task_text = Some(record.spec.task_of(index.unwrap_or(usize::MAX)).to_owned());
            if let Some(a) = index.and_then(|i| record.agents.get(i)) {
                workspace = a.workspace.clone();
                branch = branch.or_else(|| a.branch.clone());
            }
        }
        let pending = if session.exit.is_none() {
            w.pending_confirmations(session.id).await.unwrap_or_default()
        } else {
            Vec::new()
        };
        if !pending.is_empty() && session.state.is_live() {
            session.state = warden_core::SessionState::Blocked;
        }
        out.push(AgentEntry {
            session,
            short,
            pending: pending.len(),
            task_text,
            workspace,
            task,
            task_status,
            branch,
            pending_confirmations: pending,
        });
    }
    out
}
