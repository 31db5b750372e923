//! Fan-out merged into one branch: two agents in their own worktrees, their
//! branches merged into the task's branch, which alone reaches the remote;
//! a conflict fails the task and keeps the agents' branches.

use std::error::Error;

use warden::Warden;
use warden::core::task::{FinalizeMode, RepoSpec, StatusReason, TaskAgent, TaskSpec, TaskStatus};
use warden::core::workspace::WorkspaceState;

use crate::common::git::{bare_remote, git, s};
use crate::tasks::{config, wait_end};

type TestResult = Result<(), Box<dyn Error>>;

fn two_agents(remote: &std::path::Path, branch: &str, first: &str, second: &str) -> TaskSpec {
    let mut spec = TaskSpec::new("shell", "two agents, one branch");
    spec.agents = vec![
        TaskAgent { agent: "shell".into(), task: Some(first.into()) },
        TaskAgent { agent: "shell".into(), task: Some(second.into()) },
    ];
    spec.repo = Some(RepoSpec { source: s(remote), branch: Some(branch.into()), ..Default::default() });
    spec.finalize = FinalizeMode::Push;
    spec.merge = true;
    spec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_branches_are_merged_into_one_pushed_branch() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let w = Warden::start(config(tmp.path())).await?;
    let spec = two_agents(&remote, "feat/both", "echo a > a.txt; exit 0", "echo b > b.txt; exit 0");
    let done = wait_end(&w, w.create_task(spec).await?).await;
    assert_eq!(done.status, TaskStatus::Completed, "{done:?}");
    let merged = done.merged.clone().ok_or("merged")?;
    assert_eq!(merged.branch, "feat/both");
    assert!(merged.pushed, "{merged:?}");
    assert_eq!(git(&remote, &["rev-parse", "feat/both"]), merged.commit.clone().ok_or("commit")?);
    assert_eq!(git(&remote, &["show", "feat/both:a.txt"]), "a");
    assert_eq!(git(&remote, &["show", "feat/both:b.txt"]), "b");
    assert_eq!(git(&remote, &["show", "feat/both:README.md"]), "hello");
    // Only the merged branch was pushed.
    let heads = git(&remote, &["for-each-ref", "--format=%(refname:short)", "refs/heads"]);
    assert_eq!(heads.lines().collect::<Vec<_>>(), ["feat/both", "main"], "{heads}");
    // Each agent committed on its own branch.
    assert_eq!(done.agents[0].branch.as_deref(), Some("feat/both-shell0"));
    assert!(done.agents.iter().all(|a| a.commit.is_some() && !a.pushed), "{:?}", done.agents);
    w.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_conflict_fails_the_task_and_keeps_the_branches() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let w = Warden::start(config(tmp.path())).await?;
    let spec = two_agents(&remote, "feat/clash", "echo one > same.txt; exit 0", "echo two > same.txt; exit 0");
    let done = wait_end(&w, w.create_task(spec).await?).await;
    assert_eq!((done.status, done.reason), (TaskStatus::Failed, StatusReason::MergeConflict), "{done:?}");
    let detail = done.detail.clone().unwrap_or_default();
    assert!(detail.contains("feat/clash-shell1") && detail.contains("same.txt"), "{detail}");
    assert!(done.merged.is_none());
    // The agents' branches are kept with their commits; nothing reached the remote.
    let parent = w
        .list_workspaces()
        .await?
        .into_iter()
        .find(|ws| ws.parent.is_none() && ws.state == WorkspaceState::Ready)
        .ok_or("parent")?
        .path;
    assert_eq!(git(&parent, &["show", "feat/clash-shell0:same.txt"]), "one");
    assert_eq!(git(&parent, &["show", "feat/clash-shell1:same.txt"]), "two");
    let heads = git(&remote, &["for-each-ref", "--format=%(refname:short)", "refs/heads"]);
    assert_eq!(heads, "main");
    w.shutdown().await;
    Ok(())
}
