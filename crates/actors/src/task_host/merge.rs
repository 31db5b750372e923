//! `merge`: the agents' branches of a fan-out task merged into the task's
//! one branch, which alone is pushed and gets the pull request.
//!
//! After every agent's work is committed on its own branch, the parent
//! clone's actor merges the branches in agent order into the task's branch
//! (from the task's base, in memory: no working tree is touched; a branch
//! that already contains the result fast-forwards it), so merges of one
//! repository are serialised with its worktree additions and removals. A
//! worktree of that branch (`t-<task>-m`) is then finalized like an agent's
//! (push, pull request, cleanup). A conflict stops at the first branch that
//! does not merge; the agents' branches stay as they are.

use warden_core::task::{FinalizeMode, MergedBranch, TaskRecord};
use warden_core::workspace::{BranchName, BranchSpec, ProvisionSpec, WorkspaceId, WorktreeSpec, branch_for_task};

use crate::handle::Warden;
use crate::task::{Merged, place};
use crate::workspace::WorkspaceError;

/// The task's one branch: `repo.branch`, or `warden/<task>/merged-<slug>`.
pub(super) fn merged_branch(record: &TaskRecord) -> Result<BranchName, String> {
    match record.spec.repo.as_ref().and_then(|r| r.branch.as_deref()) {
        Some(b) => BranchName::parse(b).map_err(|e| e.to_string()),
        None => Ok(branch_for_task(&record.id.short(), "merged", &record.spec.description)),
    }
}

/// Merges, then finalizes the merged branch as the task asks.
pub(super) async fn merge(warden: &Warden, record: &TaskRecord) -> Merged {
    let Some(repo) = &record.spec.repo else { return Merged::Failed("merge: the task has no repository".into()) };
    let into = match merged_branch(record) {
        Ok(b) => b,
        Err(e) => return Merged::Failed(format!("merge: {e}")),
    };
    let mut branches = Vec::with_capacity(record.agents.len());
    for a in &record.agents {
        match a.branch.as_deref().map(BranchName::parse) {
            Some(Ok(b)) => branches.push(b),
            _ => return Merged::Failed(format!("merge: agent {} has no branch", a.agent)),
        }
    }
    let first = record.agents.first().and_then(|a| a.workspace.as_deref()).and_then(|w| WorkspaceId::parse(w).ok());
    let base = match first {
        Some(ws) => match warden.workspace(&ws).await {
            Ok(r) => r.base,
            Err(e) => return Merged::Failed(format!("merge: {e}")),
        },
        None => return Merged::Failed("merge: the agents have no workspace".into()),
    };
    let parent = place::parent_id(&repo.source);
    let message = format!("{}\n\nwarden task {}: the agents' branches merged", record.spec.summary(), record.id);
    let commit = match warden.merge_branches(&parent, into.clone(), base.clone(), branches, message).await {
        Ok(c) => c,
        Err(WorkspaceError::Conflict { message }) => {
            return Merged::Conflict(format!("{message}; the agents' branches are kept"));
        }
        Err(e) => return Merged::Failed(format!("merge: {e}")),
    };
    let ws = match warden
        .provision_workspace(ProvisionSpec::Worktree(WorktreeSpec {
            parent: parent.to_string(),
            id: Some(format!("t-{}-m", record.id.as_simple())),
            branch: BranchSpec::Named { name: into.to_string() },
            base: Some(base),
        }))
        .await
    {
        Ok(ws) => ws,
        Err(e) => return Merged::Failed(format!("merge: worktree of {into}: {e}")),
    };
    let mut merged = MergedBranch {
        branch: into.to_string(),
        workspace: Some(ws.id.to_string()),
        workdir: Some(ws.path.clone()),
        commit: Some(commit),
        ..Default::default()
    };
    let f = if record.spec.finalize == FinalizeMode::Commit {
        super::Finalized::default()
    } else {
        super::finalize_one(warden, record, &ws.id, record.spec.finalize).await
    };
    merged.pushed = f.pushed;
    merged.pr_url = f.pr_url;
    if let Some(c) = f.commit {
        merged.commit = Some(c);
    }
    Merged::Done(merged, f.failed)
}
