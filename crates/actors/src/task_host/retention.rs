//! The retention policy of finished worktrees (`TaskConfig::worktrees`),
//! applied after each task ends and when warden starts.
//!
//! A pass looks at every worktree of the workspace registry that a task made
//! (`t-<task id>-<suffix>`, still `ready`), keeps those of live tasks, and
//! removes the oldest finished ones ([`worktrees_to_remove`]) through their
//! parent's actor: work the agent left uncommitted is committed on its branch
//! first, the branch is deleted only when every commit of it is on the
//! remote (kept in the parent clone otherwise), the workspace record is
//! forgotten, and the task record's agent gets `removed` saying all that.
//! Passes run one at a time (`Tasks::retention_lock`).

use tracing::{info, info_span, warn};
use warden_core::task::{FinishedWorktree, TaskId, WorktreeRemoval, worktrees_to_remove};
use warden_core::workspace::{WorkspaceId, WorkspaceState, now_ms};

use crate::handle::Warden;
use crate::task::{Retention, place};

/// The task a worktree was made for: `t-<32 hex digits>-<suffix>`.
fn task_of_workspace(id: &WorkspaceId) -> Option<TaskId> {
    let rest = id.as_str().strip_prefix("t-")?;
    let (hex, _) = rest.split_once('-')?;
    if hex.len() != 32 {
        return None;
    }
    hex.parse().ok()
}

/// The record of `task` in the state directory, if there is one.
async fn on_disk(warden: &Warden, task: TaskId) -> Option<warden_core::task::TaskRecord> {
    let state_dir = warden.config().state_dir.clone();
    tokio::task::spawn_blocking(move || crate::task::TaskRegistry::open(&state_dir).ok()?.get(task)).await.ok()?
}

/// One pass of the policy.
pub(super) async fn prune_worktrees(warden: &Warden) {
    let span = info_span!("worktree_retention");
    let _e = span.enter();
    let tasks = warden.tasks();
    let _pass = tasks.retention_lock.lock().await;
    let policy = tasks.config.worktrees;
    let records = match warden.list_workspaces().await {
        Ok(r) => r,
        Err(e) => {
            warn!(error = %e, "cannot list the workspaces for the retention policy");
            return;
        }
    };
    let mut candidates = Vec::new();
    for r in records {
        if r.state != WorkspaceState::Ready || r.parent.is_none() {
            continue;
        }
        let Some(task) = task_of_workspace(&r.id) else { continue };
        let ended_at = match tasks.index.retention_view(task) {
            Retention::Live => continue,
            Retention::Ended(at) => at,
            // Not in this process's index: a task of another warden on the
            // same state directory (its record on disk says), or an orphan.
            Retention::Unknown => match on_disk(warden, task).await {
                Some(t) if !t.status.is_terminal() => continue,
                Some(t) => t.updated_at,
                None => r.updated_at,
            },
        };
        candidates.push((r.id, task, r.path, ended_at));
    }
    if candidates.is_empty() {
        return;
    }
    let paths: Vec<std::path::PathBuf> = candidates.iter().map(|c| c.2.clone()).collect();
    let sizes = tokio::task::spawn_blocking(move || paths.iter().map(|p| place::dir_bytes(p)).collect::<Vec<u64>>())
        .await
        .unwrap_or_default();
    let finished: Vec<FinishedWorktree> = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| FinishedWorktree { ended_at: c.3, bytes: sizes.get(i).copied().unwrap_or(0) })
        .collect();
    for i in worktrees_to_remove(&finished, &policy, now_ms()) {
        let (id, task, path, _) = &candidates[i];
        let message = format!(
            "warden: work left uncommitted by task {task}\n\nSaved when the retention policy removed its worktree."
        );
        // Said before it is done: no reader ever finds the directory gone
        // while the record still names it as there.
        let before = WorktreeRemoval { at: now_ms(), saved_commit: None, branch_kept: true, unpushed: 0 };
        if let Some(record) = tasks.index.mark_removed(*task, id.as_str(), Some(before)) {
            tasks.writer.put(&record);
        }
        match warden.retire_worktree(id, message).await {
            Ok(done) => {
                info!(workspace = %id, %task, dir = %path.display(), branch_kept = done.branch_kept,
                    unpushed = done.unpushed, saved = done.saved_commit.as_deref().unwrap_or(""),
                    "finished worktree removed by the retention policy");
                let removal = WorktreeRemoval {
                    at: now_ms(),
                    saved_commit: done.saved_commit,
                    branch_kept: done.branch_kept,
                    unpushed: done.unpushed,
                };
                if let Some(record) = tasks.index.mark_removed(*task, id.as_str(), Some(removal)) {
                    tasks.writer.put(&record);
                }
            }
            Err(e) => {
                warn!(workspace = %id, error = %e, "cannot remove a finished worktree");
                let still_there = path.exists();
                let removal = (!still_there).then(|| WorktreeRemoval { at: now_ms(), ..Default::default() });
                if let Some(record) = tasks.index.mark_removed(*task, id.as_str(), removal) {
                    tasks.writer.put(&record);
                }
            }
        }
    }
    tasks.writer.flush().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_worktrees_are_recognised_by_their_id() {
        let task = TaskId::new();
        let id = WorkspaceId::parse(&format!("t-{}-0", task.as_simple())).expect("id");
        assert_eq!(task_of_workspace(&id), Some(task));
        let merged = WorkspaceId::parse(&format!("t-{}-m", task.as_simple())).expect("id");
        assert_eq!(task_of_workspace(&merged), Some(task));
        assert_eq!(task_of_workspace(&WorkspaceId::parse("repo-0123").expect("id")), None);
        assert_eq!(task_of_workspace(&WorkspaceId::parse("t-abc-0").expect("id")), None);
    }
}
