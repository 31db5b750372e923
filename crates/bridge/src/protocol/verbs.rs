//! The verb table: every verb name a node answers, its legacy aliases, and
//! how `<prefix>.any.cmd.<verb>` treats it.

/// The verbs this node serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// Start a task: workspace, agents, supervision, finalize (returns at once).
    CreateTask,
    /// A task's record.
    TaskStatus,
    /// Tasks by status, agent, repository and time.
    ListTasks,
    /// Stop a task's agents, keep its workspace.
    PauseTask,
    /// Start a paused task's agents again.
    ResumeTask,
    /// Cancel a task.
    CancelTask,
    /// Start an agent.
    SpawnAgent,
    /// Type text, press keys or paste into a session.
    SendToAgent,
    /// List sessions.
    ListAgents,
    /// Stop a session (or all).
    StopAgent,
    /// Resize a session's terminal.
    Resize,
    /// Clone a repository (or add a worktree) as a workspace.
    ProvisionWorkspace,
    /// Commit, then optionally push, open a pull request and clean up.
    FinalizeWorkspace,
    /// A session's screen as text.
    Snapshot,
    /// What the session's adapter reads on its screen now.
    Classify,
    /// The prompts of a session waiting for an answer.
    PendingConfirmations,
    /// Answer a pending confirmation.
    Confirm,
    /// Decline a pending confirmation (nothing is typed).
    Decline,
    /// Add auto-response rules to a running session.
    AddRules,
    /// Remove a session's caller rules.
    ClearRules,
    /// An attached terminal asks for a session's keyboard.
    Attach,
    /// An attached terminal leaves a session's keyboard.
    Detach,
    /// Which session, task or workspace a reference names, and its node.
    Resolve,
}

/// How a verb may be addressed to `<prefix>.any.cmd.<verb>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnyMode {
    /// Not on `any`.
    No,
    /// On `any` in a queue group: exactly one node answers.
    Queue,
    /// On `any` without a queue group: every node answers (scatter-gather).
    Gather,
    /// On `any` without a queue group: only the node that has the session,
    /// task or workspace the request names answers (by whole id or short
    /// id; the others stay silent).
    Owner,
}

/// One row of the verb table.
#[derive(Debug, Clone, Copy)]
pub struct VerbEntry {
    /// The name in subjects.
    pub name: &'static str,
    /// What it does.
    pub verb: Verb,
    /// How `any` treats it.
    pub any: AnyMode,
    /// The canonical name when this is a legacy alias.
    pub alias_of: Option<&'static str>,
}

const fn entry(name: &'static str, verb: Verb, any: AnyMode) -> VerbEntry {
    VerbEntry { name, verb, any, alias_of: None }
}

const fn alias(name: &'static str, of: &'static str, verb: Verb, any: AnyMode) -> VerbEntry {
    VerbEntry { name, verb, any, alias_of: Some(of) }
}

/// The verb table: every verb name this node answers, the only place that
/// maps names to verbs. A new verb is one row here, one
/// [`Request`](super::Request) variant and one arm in the bridge's
/// dispatcher (the compiler finds the last two).
pub const VERBS: &[VerbEntry] = &[
    entry("create_task", Verb::CreateTask, AnyMode::Queue),
    entry("task_status", Verb::TaskStatus, AnyMode::Owner),
    entry("list_tasks", Verb::ListTasks, AnyMode::Gather),
    entry("pause_task", Verb::PauseTask, AnyMode::Owner),
    entry("resume_task", Verb::ResumeTask, AnyMode::Owner),
    entry("cancel_task", Verb::CancelTask, AnyMode::Owner),
    entry("spawn_agent", Verb::SpawnAgent, AnyMode::Queue),
    entry("send_to_agent", Verb::SendToAgent, AnyMode::Owner),
    entry("list_agents", Verb::ListAgents, AnyMode::Gather),
    entry("stop_agent", Verb::StopAgent, AnyMode::Owner),
    entry("resize", Verb::Resize, AnyMode::Owner),
    entry("provision_workspace", Verb::ProvisionWorkspace, AnyMode::No),
    entry("finalize_workspace", Verb::FinalizeWorkspace, AnyMode::Owner),
    entry("snapshot", Verb::Snapshot, AnyMode::Owner),
    entry("classify", Verb::Classify, AnyMode::Owner),
    entry("pending_confirmations", Verb::PendingConfirmations, AnyMode::Owner),
    entry("confirm", Verb::Confirm, AnyMode::Owner),
    entry("decline", Verb::Decline, AnyMode::Owner),
    entry("add_rules", Verb::AddRules, AnyMode::Owner),
    entry("clear_rules", Verb::ClearRules, AnyMode::Owner),
    entry("attach", Verb::Attach, AnyMode::No),
    entry("detach", Verb::Detach, AnyMode::No),
    entry("resolve", Verb::Resolve, AnyMode::Gather),
    alias("start_coding_task", "create_task", Verb::CreateTask, AnyMode::Queue),
    alias("spawn_coding_agent", "spawn_agent", Verb::SpawnAgent, AnyMode::Queue),
    alias("send_to_coding_agent", "send_to_agent", Verb::SendToAgent, AnyMode::Owner),
    alias("list_coding_agents", "list_agents", Verb::ListAgents, AnyMode::Gather),
    alias("stop_coding_agent", "stop_agent", Verb::StopAgent, AnyMode::Owner),
];

/// Verbs of the protocol that this version does not serve yet: they reply
/// `unknown_verb`, never a fake success. Empty now: every verb of the
/// protocol is served.
pub const PLANNED_VERBS: &[&str] = &[];

/// The table row of a verb name.
pub fn lookup_verb(name: &str) -> Option<&'static VerbEntry> {
    VERBS.iter().find(|e| e.name == name)
}

impl VerbEntry {
    /// The canonical name (the alias target for legacy names).
    pub fn canonical(&self) -> &'static str {
        self.alias_of.unwrap_or(self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_verb_is_listed_once_and_aliases_point_at_verbs() {
        let mut names: Vec<_> = VERBS.iter().map(|e| e.name).chain(PLANNED_VERBS.iter().copied()).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
        for e in VERBS {
            assert!(lookup_verb(e.canonical()).is_some_and(|c| c.verb == e.verb && c.alias_of.is_none()));
        }
    }
}
