//! The retention policy of finished worktrees: many finished tasks on one
//! repository leave at most the configured number of worktrees; what goes is
//! said in the task records, the workspace registry never points at a
//! removed directory, and commits no remote has are never lost.

use std::error::Error;
use std::path::Path;

use warden::Warden;
use warden::core::task::{FinalizeMode, TaskRecord, TaskStatus, WorktreeRetention};
use warden::core::workspace::WorkspaceState;

use crate::common::git::{bare_remote, git};
use crate::tasks::{config, shell_task, wait_end};

type TestResult = Result<(), Box<dyn Error>>;

fn retention(max_count: usize) -> WorktreeRetention {
    WorktreeRetention { max_count, max_bytes: u64::MAX, max_age_ms: u64::MAX }
}

/// Every agent's worktree is on disk, or its record says it was removed.
fn consistent(r: &TaskRecord) -> bool {
    r.agents.iter().all(|a| a.workdir.as_ref().is_some_and(|d| d.exists()) != a.removed.is_some())
}

/// Finished task worktrees still on disk.
fn on_disk(records: &[TaskRecord]) -> usize {
    records.iter().filter(|r| r.agents[0].workdir.as_ref().is_some_and(|d| d.exists())).count()
}

async fn registry_consistent(w: &Warden) -> TestResult {
    for ws in w.list_workspaces().await? {
        if ws.state == WorkspaceState::Ready {
            assert!(ws.path.exists(), "a ready workspace record points at a removed directory: {ws:?}");
        }
    }
    Ok(())
}

fn records(w: &Warden, ids: &[warden::core::task::TaskId]) -> Vec<TaskRecord> {
    ids.iter().map(|id| w.task(*id).expect("known task")).collect()
}

fn branch_exists(repo: &Path, branch: &str) -> bool {
    std::process::Command::new("git")
        .current_dir(repo)
        .args(["rev-parse", "--verify", "-q", &format!("refs/heads/{branch}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_worktrees_are_bounded_and_nothing_unpushed_is_lost() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let mut c = config(tmp.path());
    c.tasks.worktrees = retention(3);
    let w = Warden::start(c).await?;
    let mut ids = Vec::new();
    // Two tasks fail with work left uncommitted, then six push their branch.
    for i in 0..8 {
        let script =
            if i < 2 { format!("echo left > l{i}.txt; exit 3") } else { format!("echo {i} > f{i}.txt; exit 0") };
        let id = w.create_task(shell_task(&remote, &format!("keep/{i}"), &script, FinalizeMode::Push)).await?;
        let r = wait_end(&w, id).await;
        let expected = if i < 2 { TaskStatus::Failed } else { TaskStatus::Completed };
        assert_eq!(r.status, expected, "{r:?}");
        ids.push(id);
    }
    // The pass removes the oldest first: once the fifth (pushed) is done, it is over.
    let bounded = crate::common::eventually(|| {
        let rs = records(&w, &ids);
        on_disk(&rs) <= 3 && rs[4].agents[0].removed.as_ref().is_some_and(|r| !r.branch_kept)
    })
    .await;
    let now = records(&w, &ids);
    assert!(bounded, "at most 3 finished worktrees: {} on disk", on_disk(&now));
    assert_eq!(on_disk(&now), 3, "the newest three stay");
    for r in &now {
        assert!(consistent(r), "{r:?}");
    }
    registry_consistent(&w).await?;
    let parent = w
        .list_workspaces()
        .await?
        .into_iter()
        .find(|ws| ws.parent.is_none() && ws.id.as_str().starts_with("repo-"))
        .ok_or("the parent clone")?
        .path;
    // The failed tasks' work was saved on their branches, kept in the parent clone.
    for (i, r) in now.iter().enumerate().take(2) {
        let removed = r.agents[0].removed.clone().ok_or("removed")?;
        assert!(removed.branch_kept && removed.unpushed == 1, "{removed:?}");
        let saved = removed.saved_commit.ok_or("saved commit")?;
        assert_eq!(git(&parent, &["rev-parse", &format!("keep/{i}")]), saved);
        assert_eq!(git(&parent, &["show", &format!("keep/{i}:l{i}.txt")]), "left");
    }
    // Pushed branches go with their worktrees; the remote has them.
    for (i, r) in now.iter().enumerate().take(5).skip(2) {
        let removed = r.agents[0].removed.clone().ok_or("removed")?;
        assert!(!removed.branch_kept && removed.saved_commit.is_none(), "{removed:?}");
        assert!(!branch_exists(&parent, &format!("keep/{i}")));
        assert_eq!(git(&remote, &["show", &format!("keep/{i}:f{i}.txt")]), i.to_string());
    }
    // A removed workspace cannot be resumed.
    assert!(w.resume_task(ids[0]).await.is_err());
    w.shutdown().await;

    // At start, a tighter policy applies.
    let mut c = config(tmp.path());
    c.tasks.worktrees = retention(1);
    let w = Warden::start(c).await?;
    let now = records(&w, &ids);
    assert_eq!(on_disk(&now), 1, "applied at start");
    assert!(now.iter().all(consistent));
    registry_consistent(&w).await?;
    w.shutdown().await;
    Ok(())
}
