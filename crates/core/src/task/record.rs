//! What the task registry remembers about a task, and the query of past tasks.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::TaskId;
use super::spec::TaskSpec;
use super::status::{ChangeSource, StatusChange, StatusReason, TaskStatus, check_task_transition};
use crate::ids::SessionId;
use crate::workspace::ProcessIdentity;

/// Most status changes kept in a record: the first one and the latest
/// `MAX_HISTORY - 1` (a task that flips between running and waiting for a
/// month keeps a bounded record).
pub const MAX_HISTORY: usize = 64;

/// One agent of a task: where it works and what became of its work.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskAgentRecord {
    /// The adapter that runs it (after selection).
    pub agent: String,
    /// Why it was chosen, when the node chose it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection_reason: Option<String>,
    /// Its current (or last) session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionId>,
    /// Its workspace (absent for scratch and given directories).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// Its working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<PathBuf>,
    /// Its branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The commit the finalize made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Whether the branch was pushed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pushed: bool,
    /// The pull request's URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pr_url: Option<String>,
    /// Whether the agent is done (task complete or exited).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub done: bool,
    /// Set when the retention policy removed its worktree: `workdir` and
    /// `workspace` then name what was, not what is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<WorktreeRemoval>,
}

/// The branch a fan-out task's agents' branches were merged into, and what
/// its finalize did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergedBranch {
    /// The branch.
    pub branch: String,
    /// The worktree it was pushed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// That worktree's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<PathBuf>,
    /// The commit the branch points to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Whether it was pushed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pushed: bool,
    /// The pull request's URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pr_url: Option<String>,
    /// Set when the retention policy removed its worktree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<WorktreeRemoval>,
}

/// What the retention policy did with a finished task's worktree.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorktreeRemoval {
    /// When, Unix milliseconds.
    pub at: u64,
    /// The commit that saved work the agent had left uncommitted, on the
    /// branch, before the directory was removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved_commit: Option<String>,
    /// Whether the local branch was kept in the parent clone (it holds
    /// commits no remote has); a branch whose commits are all pushed is
    /// deleted with the worktree.
    pub branch_kept: bool,
    /// Commits of the kept branch that no remote has.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unpushed: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// A task as persisted in the state directory: the spec, the status with its
/// history, and each agent's place and results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// Record format version.
    pub version: u32,
    /// Id.
    pub id: TaskId,
    /// The node that runs it.
    pub node: String,
    /// What was asked.
    pub spec: TaskSpec,
    /// Current status.
    pub status: TaskStatus,
    /// Why it is in that status.
    pub reason: StatusReason,
    /// Details of the latest change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The changes so far (bounded: [`MAX_HISTORY`]).
    pub history: Vec<StatusChange>,
    /// The agents.
    pub agents: Vec<TaskAgentRecord>,
    /// The parent clone the agents' worktrees belong to, with a repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_workspace: Option<String>,
    /// The one branch the agents' branches were merged into (`merge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<MergedBranch>,
    /// The scratch directory, without a repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scratch: Option<PathBuf>,
    /// The warden process that runs it (for recovery after a crash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<ProcessIdentity>,
    /// When it was created, Unix milliseconds.
    pub created_at: u64,
    /// Last change, Unix milliseconds.
    pub updated_at: u64,
}

impl TaskRecord {
    /// The record with the values of the agents' environment (API keys, tokens …)
    /// replaced by `***`: what callers are shown, and what is kept on disk unless the
    /// task is to resume after a restart (which needs them).
    pub fn redacted(mut self) -> Self {
        for value in self.spec.session.env.values_mut() {
            *value = crate::workspace::REDACTED.to_owned();
        }
        self
    }

    /// A new record, `queued`.
    pub fn new(id: TaskId, node: impl Into<String>, spec: TaskSpec, now: u64) -> Self {
        let agents =
            spec.agents.iter().map(|a| TaskAgentRecord { agent: a.agent.clone(), ..Default::default() }).collect();
        let first = StatusChange {
            status: TaskStatus::Queued,
            at: now,
            reason: StatusReason::Created,
            detail: None,
            source: ChangeSource::Caller,
            seq: None,
        };
        TaskRecord {
            version: 1,
            id,
            node: node.into(),
            spec,
            status: TaskStatus::Queued,
            reason: StatusReason::Created,
            detail: None,
            history: vec![first],
            agents,
            parent_workspace: None,
            merged: None,
            scratch: None,
            owner: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Applies a change if the transition is legal; returns the previous
    /// status, or `None` (and changes nothing) when it is not.
    pub fn apply(&mut self, change: StatusChange) -> Option<TaskStatus> {
        if !check_task_transition(self.status, change.status) {
            return None;
        }
        let from = self.status;
        self.status = change.status;
        self.reason = change.reason;
        self.detail = change.detail.clone();
        self.updated_at = change.at;
        if self.history.len() >= MAX_HISTORY {
            self.history.remove(1);
        }
        self.history.push(change);
        Some(from)
    }

    /// The agent whose session is `id`.
    pub fn agent_of(&self, id: SessionId) -> Option<usize> {
        self.agents.iter().position(|a| a.session == Some(id))
    }
}

/// Which tasks a query returns (every field optional; all given must hold).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskFilter {
    /// Only tasks in one of these statuses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<TaskStatus>,
    /// Only tasks with an agent of this adapter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Only tasks on this repository (as given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// Only tasks created at or after this time, Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_ms: Option<u64>,
    /// Only tasks created before this time, Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_ms: Option<u64>,
    /// At most this many, newest first (default and cap: 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

impl TaskFilter {
    /// Whether `r` passes.
    pub fn matches(&self, r: &TaskRecord) -> bool {
        (self.statuses.is_empty() || self.statuses.contains(&r.status))
            && self.agent.as_ref().is_none_or(|a| r.agents.iter().any(|x| &x.agent == a))
            && self.repo.as_ref().is_none_or(|repo| r.spec.repo.as_ref().is_some_and(|x| &x.source == repo))
            && self.since_ms.is_none_or(|t| r.created_at >= t)
            && self.until_ms.is_none_or(|t| r.created_at < t)
    }

    /// The number of records to return.
    pub fn limit(&self) -> usize {
        self.limit.unwrap_or(1000).min(1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(status: TaskStatus, reason: StatusReason) -> StatusChange {
        StatusChange { status, at: 5, reason, detail: None, source: ChangeSource::Task, seq: None }
    }

    #[test]
    fn illegal_changes_are_refused_and_history_is_bounded() {
        let mut r = TaskRecord::new(TaskId::new(), "n", TaskSpec::new("shell", "x"), 1);
        assert_eq!(r.apply(change(TaskStatus::Completed, StatusReason::Finalized)), None);
        assert_eq!(r.apply(change(TaskStatus::Provisioning, StatusReason::Provisioning)), Some(TaskStatus::Queued));
        assert_eq!(r.apply(change(TaskStatus::Running, StatusReason::AgentStarted)), Some(TaskStatus::Provisioning));
        for _ in 0..200 {
            r.apply(change(TaskStatus::Waiting, StatusReason::ConfirmationPending));
            r.apply(change(TaskStatus::Running, StatusReason::AgentBusy));
        }
        assert_eq!(r.history.len(), MAX_HISTORY);
        assert_eq!(r.history[0].reason, StatusReason::Created);
        let json = serde_json::to_string(&r).expect("json");
        assert_eq!(serde_json::from_str::<TaskRecord>(&json).expect("parses"), r);
    }

    #[test]
    fn filters_combine() {
        let mut spec = TaskSpec::new("claude", "x");
        spec.repo = Some(super::super::RepoSpec { source: "/r.git".into(), ..Default::default() });
        let r = TaskRecord::new(TaskId::new(), "n", spec, 100);
        assert!(TaskFilter::default().matches(&r));
        let f = TaskFilter {
            agent: Some("claude".into()),
            repo: Some("/r.git".into()),
            since_ms: Some(100),
            ..Default::default()
        };
        assert!(f.matches(&r));
        assert!(!TaskFilter { statuses: vec![TaskStatus::Failed], ..Default::default() }.matches(&r));
        assert!(!TaskFilter { until_ms: Some(100), ..Default::default() }.matches(&r));
    }
}
