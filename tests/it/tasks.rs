//! Tasks end to end: real git repositories (a local bare repository as the
//! remote), real agents in PTYs (a shell, the fake agent playing a CLI), the
//! `Warden` API and the `warden` binary.

use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use warden::core::task::{FinalizeMode, RepoSpec, StatusReason, TaskId, TaskRecord, TaskSpec, TaskStatus};
use warden::core::workspace::Identity;
use warden::{EventKind, Warden, WardenConfig};

use crate::common::binary::warden_cmd;
use crate::common::fake_agent;
use crate::common::git::{bare_remote, git, s};

type TestResult = Result<(), Box<dyn Error>>;

const TIMEOUT: Duration = Duration::from_secs(90);

pub fn config(root: &Path) -> WardenConfig {
    let mut c = WardenConfig::new(root.join("state"));
    c.node = "test".into();
    c.subreaper = false;
    c.stop_grace = Duration::from_millis(500);
    c.workspace.identity = Identity { name: "Warden Test".into(), email: "warden@test".into() };
    c.workspace.git.extra_env = vec![("GIT_CONFIG_NOSYSTEM".into(), "1".into())];
    c
}

/// A shell task on `remote` with `branch`, finalized as asked.
pub fn shell_task(remote: &Path, branch: &str, script: &str, finalize: FinalizeMode) -> TaskSpec {
    let mut spec = TaskSpec::new("shell", script);
    spec.repo = Some(RepoSpec { source: s(remote), branch: Some(branch.into()), ..Default::default() });
    spec.finalize = finalize;
    spec
}

/// Waits until the task has ended.
pub async fn wait_end(w: &Warden, id: TaskId) -> TaskRecord {
    match tokio::time::timeout(TIMEOUT, w.wait_task(id)).await {
        Ok(r) => r.expect("known task"),
        Err(_) => panic!("the task did not end in time: {:?}", w.task(id)),
    }
}

/// The statuses a task went through, from its record.
fn statuses(r: &TaskRecord) -> Vec<TaskStatus> {
    r.history.iter().map(|c| c.status).collect()
}

// ---------------------------------------------------------------- acceptance: warden run

#[test]
fn warden_run_with_task_options_pushes_the_branch_and_prints_the_commit() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let out = warden_cmd(&tmp.path().join("state"))
        .args(["run", "--agent", "shell", "--repo"])
        .arg(&remote)
        .args(["--branch", "feat/x", "--finalize", "push", "--task", "echo hi > f.txt; exit 0"])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "T")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "status {:?}\nstdout: {stdout}\nstderr: {stderr}", out.status);
    let remote_head = git(&remote, &["rev-parse", "refs/heads/feat/x"]);
    assert!(stdout.lines().any(|l| l == format!("commit {remote_head}")), "stdout: {stdout}");
    assert!(stdout.lines().any(|l| l == "branch feat/x"), "stdout: {stdout}");
    assert_eq!(git(&remote, &["show", "feat/x:f.txt"]), "hi");
    let files = git(&remote, &["show", "--name-only", "--format=", "feat/x"]);
    assert_eq!(files, "f.txt", "only the agent's file is committed");
    assert!(stderr.contains("completed"), "{stderr}");
    Ok(())
}

/// A task on a branch the remote has already continues that branch: the
/// agent's worktree starts at the remote's tip of it (not at the base), and
/// the push is a fast-forward.
#[test]
fn a_task_on_a_branch_the_remote_has_continues_it() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let seed = tmp.path().join("seed");
    git(&seed, &["checkout", "-q", "-b", "feat/y"]);
    std::fs::write(seed.join("existing.txt"), "there\n")?;
    git(&seed, &["add", "existing.txt"]);
    git(&seed, &["commit", "-q", "-m", "existing work"]);
    git(&seed, &["push", "-q", "origin", "feat/y"]);
    let before = git(&remote, &["rev-parse", "refs/heads/feat/y"]);
    let out = warden_cmd(&tmp.path().join("state"))
        .args(["run", "--agent", "shell", "--repo"])
        .arg(&remote)
        .args(["--branch", "feat/y", "--finalize", "push", "--task", "cat existing.txt > seen.txt; exit 0"])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "T")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "status {:?}\nstderr: {stderr}", out.status);
    assert_eq!(git(&remote, &["show", "feat/y:seen.txt"]), "there", "the agent saw the branch's work");
    assert_eq!(git(&remote, &["rev-parse", "feat/y~1"]), before, "the push continued the branch");
    Ok(())
}

#[test]
fn warden_run_task_options_are_checked() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let run = |extra: &[&str]| {
        warden_cmd(&tmp.path().join("state")).args(["run", "--agent", "shell"]).args(extra).output().expect("runs")
    };
    let out = run(&["--finalize", "push", "--task", "x"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("finalize `push` needs a repository"));
    let out = run(&["--repo", "/nope.git", "--branch", "a..b", "--task", "x"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid git branch name"));
    let out = run(&["--repo", "/nope.git", "--finalize", "sometimes", "--task", "x"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--finalize expects none, commit, push or pr"));
    Ok(())
}

// ---------------------------------------------------------------- the API

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_goes_through_its_statuses_with_events_and_a_durable_record() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let w = Warden::start(config(tmp.path())).await?;
    let mut sub = w.subscribe(Some(w.bus().next_seq()));
    let mut spec =
        shell_task(&remote, "feat/api", "echo api > a.txt; echo m > CLAUDE.md; exit 0", FinalizeMode::Commit);
    spec.memory = None;
    let id = w.create_task(spec).await?;
    let done = wait_end(&w, id).await;
    assert_eq!(done.status, TaskStatus::Completed, "{done:?}");
    use TaskStatus::*;
    assert_eq!(statuses(&done), [Queued, Provisioning, Running, Finalizing, Completed]);
    let commit = done.agents[0].commit.clone().ok_or("a commit")?;
    let wt = done.agents[0].workdir.clone().ok_or("a workdir")?;
    assert_eq!(git(&wt, &["rev-parse", "HEAD"]), commit);
    assert_eq!(git(&wt, &["show", "--name-only", "--format=", "HEAD"]), "a.txt", "CLAUDE.md is excluded locally");
    // Events: created, each status, finalized with the commit.
    let mut kinds = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let Some(e) = sub.recv_timeout(Duration::from_millis(200)).await else { break };
        match &e.kind {
            EventKind::TaskCreated { task, .. } if *task == id => kinds.push("created".to_string()),
            EventKind::TaskStatus { task, to, .. } if *task == id => kinds.push(to.to_string()),
            EventKind::TaskFinalized { task, commit: c, branch, .. } if *task == id => {
                assert_eq!((c.as_deref(), branch.as_deref()), (Some(commit.as_str()), Some("feat/api")));
                kinds.push("finalized".into());
            }
            _ => {}
        }
        if kinds.last().is_some_and(|k| k == "completed") {
            break;
        }
    }
    assert_eq!(kinds, ["created", "provisioning", "running", "finalizing", "finalized", "completed"]);
    // The record is on disk and survives a restart.
    w.shutdown().await;
    let w = Warden::start(config(tmp.path())).await?;
    assert_eq!(w.task(id)?.status, TaskStatus::Completed);
    assert_eq!(w.list_tasks(&Default::default()).len(), 1);
    // Bad input: typed errors.
    assert!(matches!(w.task(TaskId::new()), Err(warden::actors::TaskError::UnknownTask(_))));
    let e = w.create_task(TaskSpec::new("nope", "x")).await.expect_err("unknown agent");
    assert!(e.to_string().starts_with("unknown agent type `nope`"), "{e}");
    w.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_push_fails_the_task_and_keeps_the_commit() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    // The remote refuses every push.
    fs::write(remote.join("hooks/pre-receive"), "#!/bin/sh\necho refused by hook >&2\nexit 1\n")?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(remote.join("hooks/pre-receive"), fs::Permissions::from_mode(0o755))?;
    }
    let w = Warden::start(config(tmp.path())).await?;
    let id = w.create_task(shell_task(&remote, "feat/no", "echo x > x.txt; exit 0", FinalizeMode::Push)).await?;
    let done = wait_end(&w, id).await;
    assert_eq!((done.status, done.reason), (TaskStatus::Failed, StatusReason::FinalizeFailed), "{done:?}");
    let detail = done.detail.clone().unwrap_or_default();
    assert!(detail.contains("push:"), "{detail}");
    let wt = done.agents[0].workdir.clone().ok_or("workdir")?;
    assert_eq!(git(&wt, &["show", "--name-only", "--format=", "HEAD"]), "x.txt", "the work stays committed locally");
    w.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_tasks_on_one_repository_with_four_slots() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let w = Warden::start(WardenConfig { max_sessions: 4, ..config(tmp.path()) }).await?;
    let mut sub = w.subscribe(Some(w.bus().next_seq()));
    let mut ids = Vec::new();
    for i in 0..10 {
        let script = format!("echo {i} > t{i}.txt; sleep 0.3; exit 0");
        ids.push(w.create_task(shell_task(&remote, &format!("ten/{i}"), &script, FinalizeMode::Push)).await?);
    }
    // Count live agents from the event stream while the tasks run.
    let watcher = tokio::spawn(async move {
        let (mut live, mut most) = (0i32, 0i32);
        let deadline = Instant::now() + TIMEOUT;
        let mut completed = 0;
        while Instant::now() < deadline && completed < 10 {
            let Some(e) = sub.recv_timeout(Duration::from_millis(500)).await else { continue };
            match &e.kind {
                EventKind::SessionStarted { .. } => live += 1,
                EventKind::Exited(_) => live -= 1,
                EventKind::TaskStatus { to, .. } if to.is_terminal() => completed += 1,
                _ => {}
            }
            most = most.max(live);
        }
        most
    });
    for id in &ids {
        let r = wait_end(&w, *id).await;
        assert_eq!(r.status, TaskStatus::Completed, "{r:?}");
        assert!(!format!("{r:?}").contains("index.lock"));
    }
    let most = watcher.await?;
    assert!((1..=4).contains(&most), "at most four agents at once, saw {most}");
    for i in 0..10 {
        assert_eq!(git(&remote, &["show", &format!("ten/{i}:t{i}.txt")]), i.to_string());
    }
    let queued = ids
        .iter()
        .filter(|id| w.task(**id).is_ok_and(|r| r.history.iter().any(|c| c.reason == StatusReason::Capacity)))
        .count();
    assert!(queued >= 1, "tasks beyond the slots were queued");
    w.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_scratch_tasks_leaves_bounded_scratch_dirs() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let mut c = config(tmp.path());
    c.max_sessions = 16;
    c.tasks.scratch_max_count = 5;
    c.tasks.scratch_max_bytes = 64 * 1024;
    let w = Warden::start(c).await?;
    let mut ids = Vec::new();
    for _ in 0..200 {
        ids.push(w.create_task(TaskSpec::new("shell", "head -c 20000 /dev/zero > blob; exit 0")).await?);
    }
    for id in &ids {
        let r = wait_end(&w, *id).await;
        assert_eq!(r.status, TaskStatus::Completed, "{r:?}");
    }
    let root = w.workspace_base_dir().join(".task-scratch");
    // The last retention passes may still run when the last task has ended: wait for both bounds.
    let blob_bytes = |dirs: &[PathBuf]| -> u64 {
        dirs.iter().filter_map(|d| fs::metadata(d.join("blob")).ok()).map(|m| m.len()).sum()
    };
    let ok = crate::common::eventually(|| {
        let dirs: Vec<PathBuf> =
            fs::read_dir(&root).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
        dirs.len() <= 5 && blob_bytes(&dirs) <= 64 * 1024
    })
    .await;
    let left: Vec<_> = fs::read_dir(&root)?.flatten().map(|e| e.path()).collect();
    assert!(ok, "at most 5 scratch dirs left: {}", left.len());
    let bytes = blob_bytes(&left);
    assert!(bytes <= 64 * 1024, "{bytes} bytes left");
    w.shutdown().await;
    Ok(())
}

/// A registry whose `claude` runs the fake agent with `script` (arguments the
/// adapter adds go after `--` and are ignored).
pub fn fake_claude(script: &str) -> Arc<warden::adapters::Registry> {
    let manifest = include_str!("../../crates/adapters/manifests/claude.toml");
    let args = serde_json::to_string(&["--persona", "claude", "--script-inline", script, "--"]).expect("json");
    let manifest = manifest
        .replacen("program = \"claude\"", &format!("program = {:?}", fake_agent()), 1)
        .replacen("args = []", &format!("args = {args}"), 1)
        .replacen("ready_settle_ms = 3000", "ready_settle_ms = 300", 1);
    Arc::new(warden::adapters::Registry::with_manifests(&[("claude.toml", &manifest)]).expect("manifest"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_usage_limit_waits_for_its_reset_and_resumes_by_itself() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let script = "screen busy; spinner 300; first-run .limit 2; print You've hit your limit · resets in 3s; freeze; \
                  print working again; screen done; freeze";
    let w = Warden::start(WardenConfig { adapters: fake_claude(script), ..config(tmp.path()) }).await?;
    let mut spec = TaskSpec::new("claude", "do the thing");
    spec.repo = Some(RepoSpec { source: s(&remote), branch: Some("feat/limit".into()), ..Default::default() });
    spec.finalize = FinalizeMode::Commit;
    let started = Instant::now();
    let id = w.create_task(spec).await?;
    let done = wait_end(&w, id).await;
    if done.status != TaskStatus::Completed {
        let sid = done.agents[0].session.ok_or("session")?;
        let t = fs::read(tmp.path().join(format!("state/sessions/{sid}/transcript"))).unwrap_or_default();
        let info = w.get(sid).await;
        panic!("{done:?}\n{info:?}\n{}", String::from_utf8_lossy(&t[t.len().saturating_sub(1500)..]));
    }
    let waited = done.history.iter().find(|c| c.reason == StatusReason::UsageLimit).ok_or("waited")?;
    assert_eq!(waited.status, TaskStatus::Waiting);
    assert_eq!(waited.detail.as_deref(), Some("resets in 3 s"));
    let resumed = done.history.iter().find(|c| c.reason == StatusReason::Resumed).ok_or("resumed")?;
    assert!(resumed.at >= waited.at + 3000, "resumed after the reset");
    assert!(started.elapsed() >= Duration::from_secs(3));
    w.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_and_cancel() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let w = Warden::start(config(tmp.path())).await?;
    // The second run of the script (after resume) finishes.
    let script = "if [ -e .ran ]; then echo done > out.txt; exit 0; fi; touch .ran; sleep 60";
    let id = w.create_task(shell_task(&remote, "feat/pause", script, FinalizeMode::Commit)).await?;
    let running = crate::common::eventually(|| w.task(id).is_ok_and(|r| r.status == TaskStatus::Running)).await;
    assert!(running, "{:?}", w.task(id));
    let wt = w.task(id)?.agents[0].workdir.clone().ok_or("workdir")?;
    assert!(crate::common::eventually(|| wt.join(".ran").exists()).await);
    let paused = w.pause_task(id).await?;
    assert_eq!((paused.status, paused.reason), (TaskStatus::Waiting, StatusReason::Paused));
    assert!(w.pause_task(id).await.is_err(), "already paused");
    let resumed = w.resume_task(id).await?;
    assert_eq!((resumed.status, resumed.reason), (TaskStatus::Queued, StatusReason::Resumed), "no longer paused");
    let done = wait_end(&w, id).await;
    assert_eq!(done.status, TaskStatus::Completed, "{done:?}");
    assert!(done.agents[0].commit.is_some());
    // Cancel a running task.
    let id = w.create_task(shell_task(&remote, "feat/cancel", "sleep 60", FinalizeMode::Commit)).await?;
    assert!(crate::common::eventually(|| w.task(id).is_ok_and(|r| r.status == TaskStatus::Running)).await);
    let cancelled = w.cancel_task(id).await?;
    assert_eq!(cancelled.status, TaskStatus::Cancelled);
    assert!(matches!(w.cancel_task(id).await, Err(warden::actors::TaskError::NotNow { .. })));
    w.shutdown().await;
    Ok(())
}

// ---------------------------------------------------------------- crash safety

const CHILD_ROOT: &str = "WARDEN_TEST_TASK_CHILD_ROOT";

/// Child mode of `sigkill_with_three_running_tasks`: starts three tasks (the
/// third resumes on restart), writes `ready` once they all work, and waits to
/// be killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_child_with_tasks() {
    let Some(root) = std::env::var_os(CHILD_ROOT) else { return };
    let root = PathBuf::from(root);
    let remote = root.join("remote.git");
    let w = Warden::start(config(&root)).await.expect("warden starts");
    let script = "if [ -e w.txt ]; then echo resumed > r.txt; exit 0; fi; echo work > w.txt; sleep 600";
    let mut ids = Vec::new();
    for i in 0..3 {
        let mut spec = shell_task(&remote, &format!("crash/{i}"), script, FinalizeMode::Commit);
        spec.resume_on_restart = i == 2;
        ids.push(w.create_task(spec).await.expect("created"));
    }
    let working = crate::common::eventually(|| {
        ids.iter().all(|id| {
            w.task(*id).is_ok_and(|r| {
                r.status == TaskStatus::Running
                    && r.agents[0].workdir.as_ref().is_some_and(|d| d.join("w.txt").exists())
            })
        })
    })
    .await;
    assert!(working);
    fs::write(root.join("ready"), ids.iter().map(|i| format!("{i}\n")).collect::<String>()).expect("marker");
    tokio::time::sleep(Duration::from_secs(600)).await;
}

/// Starts `sigkill_child_with_tasks` in a child process with its state in
/// `root`; returns it, its marker file and whether it got its three tasks
/// working.
async fn warden_with_three_tasks(root: &Path) -> Result<(std::process::Child, PathBuf, bool), Box<dyn Error>> {
    bare_remote(root);
    let child = Command::new(std::env::current_exe()?)
        .args(["--exact", "tasks::sigkill_child_with_tasks", "--nocapture", "--test-threads", "1"])
        .env(CHILD_ROOT, root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let marker = root.join("ready");
    let ready =
        crate::common::eventually(|| marker.exists()).await || crate::common::eventually(|| marker.exists()).await;
    Ok((child, marker, ready))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_with_three_running_tasks() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let (mut child, marker, ready) = warden_with_three_tasks(tmp.path()).await?;
    child.kill()?; // SIGKILL
    child.wait()?;
    assert!(ready, "the child started its three tasks");
    let ids: Vec<TaskId> = fs::read_to_string(&marker)?.lines().map(|l| l.parse()).collect::<Result<_, _>>()?;

    let w = Warden::start(config(tmp.path())).await?;
    for id in &ids[..2] {
        let r = w.task(*id)?;
        assert_eq!((r.status, r.reason), (TaskStatus::Failed, StatusReason::NodeRestarted), "{r:?}");
        let dir = r.agents[0].workdir.clone().ok_or("workdir")?;
        assert_eq!(fs::read_to_string(dir.join("w.txt"))?, "work\n", "the agent's changes are on disk");
    }
    // The third resumes by its policy, in the same workspace, and finishes.
    let done = wait_end(&w, ids[2]).await;
    assert_eq!(done.status, TaskStatus::Completed, "{done:?}");
    assert!(done.history.iter().any(|c| c.reason == StatusReason::NodeRestarted));
    let dir = done.agents[0].workdir.clone().ok_or("workdir")?;
    assert_eq!(git(&dir, &["show", "--name-only", "--format=", "HEAD"]).lines().count(), 2, "w.txt and r.txt");
    // A failed task can be resumed by a caller.
    let resumed = w.resume_task(ids[0]).await?;
    assert_eq!(resumed.status, TaskStatus::Queued);
    let done = wait_end(&w, ids[0]).await;
    assert_eq!(done.status, TaskStatus::Completed, "{done:?}");
    w.shutdown().await;
    Ok(())
}

/// A warden killed under a parent that has not reaped it (a container's pid
/// 1 that never reaps) is a zombie: the next warden must not take it for
/// the live owner of its tasks, or they stay `running` forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_warden_not_yet_reaped_owns_no_tasks() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let (mut child, marker, ready) = warden_with_three_tasks(tmp.path()).await?;
    child.kill()?; // SIGKILL, and no wait: this test, its parent, leaves it a zombie for now
    let zombie = format!("/proc/{}/stat", child.id());
    let is_zombie = || {
        fs::read_to_string(&zombie)
            .is_ok_and(|s| s.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')))
    };
    let dead = crate::common::eventually(is_zombie).await;
    assert!(ready, "the child started its three tasks");
    assert!(dead, "the killed warden is a zombie");
    let ids: Vec<TaskId> = fs::read_to_string(&marker)?.lines().map(|l| l.parse()).collect::<Result<_, _>>()?;

    let w = Warden::start(config(tmp.path())).await?;
    for id in &ids[..2] {
        let r = w.task(*id)?;
        assert_eq!((r.status, r.reason), (TaskStatus::Failed, StatusReason::NodeRestarted), "{r:?}");
    }
    let third = w.task(ids[2])?;
    assert!(third.history.iter().any(|c| c.reason == StatusReason::NodeRestarted), "{third:?}");
    assert!(is_zombie(), "still unreaped while the new warden recovered");
    w.shutdown().await;
    child.wait()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_limits_stop_forgotten_agents() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let w = Warden::start(config(tmp.path())).await?;
    let mut idle = TaskSpec::new("shell", "sleep 60");
    idle.limits.idle_timeout_ms = Some(400);
    let mut wall = TaskSpec::new("shell", "while true; do echo tick; sleep 0.1; done");
    wall.limits.timeout_ms = Some(800);
    let (idle, wall) = (w.create_task(idle).await?, w.create_task(wall).await?);
    let idle = wait_end(&w, idle).await;
    assert_eq!((idle.status, idle.reason), (TaskStatus::Failed, StatusReason::IdleTimeout), "{idle:?}");
    let wall = wait_end(&w, wall).await;
    assert_eq!((wall.status, wall.reason), (TaskStatus::Failed, StatusReason::Timeout), "{wall:?}");
    assert!(w.list(warden::SessionFilter::live()).await?.is_empty(), "their agents were stopped");
    w.shutdown().await;
    Ok(())
}

/// `name`'s manifest with the fake agent as its program and its binary
/// (so the selection sees it installed), playing `script` as `persona`.
fn fake_manifest(name: &str, persona: &str, script: &str) -> String {
    let manifest = match name {
        "claude" => include_str!("../../crates/adapters/manifests/claude.toml"),
        _ => include_str!("../../crates/adapters/manifests/codex.toml"),
    };
    let fake = fake_agent();
    let args = serde_json::to_string(&["--persona", persona, "--script-inline", script, "--"]).expect("json");
    let (program, args_line) = match name {
        "claude" => ("program = \"claude\"", "args = []"),
        _ => ("program = \"codex\"", "args = [\"--no-daemon\"]"),
    };
    manifest
        .replacen(program, &format!("program = {fake:?}"), 1)
        .replacen(args_line, &format!("args = {args}"), 1)
        .replacen(&format!("binary = \"{name}\""), &format!("binary = {fake:?}"), 1)
        .replacen(
            "version_args = [\"--version\"]",
            &format!(
                "version_args = [\"--persona\", \"{persona}\", \"--version\"]\nhelp_args = [\"--persona\", \"{persona}\", \"--help\"]"
            ),
            1,
        )
        .replacen("ready_settle_ms = 3000", "ready_settle_ms = 300", 1)
        .replacen("ready_settle_ms = 2000", "ready_settle_ms = 300", 1)
}

/// A node whose `claude` hits its usage limit (reset in 600 s) and whose `codex`
/// exits at once, both installed as far as the selection can tell.
async fn limited_claude_and_codex(root: &Path) -> Result<Warden, Box<dyn Error>> {
    let claude = fake_manifest(
        "claude",
        "claude",
        "screen busy; spinner 300; print You've hit your limit · resets in 600s; freeze",
    );
    let codex = fake_manifest("codex", "codex", "exit 0");
    let registry = warden::adapters::Registry::with_manifests(&[("claude.toml", &claude), ("codex.toml", &codex)])?;
    Ok(Warden::start(WardenConfig { adapters: Arc::new(registry), ..config(root) }).await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_usage_limit_switches_to_another_agent_when_the_task_allows_it() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let w = limited_claude_and_codex(tmp.path()).await?;
    let mut spec = TaskSpec::new("claude", "do the thing");
    spec.switch_agent_on_limit = true;
    let id = w.create_task(spec).await?;
    let done = wait_end(&w, id).await;
    assert_eq!(done.status, TaskStatus::Completed, "{done:?}");
    assert_eq!(done.agents[0].agent, "codex", "{done:?}");
    let waited = done.history.iter().find(|c| c.reason == StatusReason::UsageLimit).ok_or("waited")?;
    assert_eq!(waited.detail.as_deref(), Some("resets in 600 s"));
    let switched = done.history.iter().find(|c| c.reason == StatusReason::AgentSwitched).ok_or("switched")?;
    assert_eq!(switched.status, TaskStatus::Running);
    let detail = switched.detail.clone().unwrap_or_default();
    assert!(detail.starts_with("claude hit its usage limit (resets in 600 s); codex takes over"), "{detail}");
    // The selection strategy cools claude down until its reset.
    let cooling = w.cooling_agents();
    assert!(cooling.iter().any(|(a, until)| a == "claude" && *until > waited.at + 500_000), "{cooling:?}");
    let e = w
        .spawn_agent(warden::actors::AgentRequest::selected(warden::adapters::Strategy::Heuristic {
            subscription_hint: None,
        }))
        .await?;
    assert_eq!(e.session.agent, "codex", "an `auto` choice passes the cooling agent over");
    // Without the option, the task waits for the reset instead.
    let id = w.create_task(TaskSpec::new("claude", "again")).await?;
    let waiting = crate::common::eventually(|| {
        w.task(id).is_ok_and(|r| r.status == TaskStatus::Waiting && r.reason == StatusReason::UsageLimit)
    })
    .await;
    assert!(waiting, "{:?}", w.task(id));
    assert_eq!(w.task(id)?.agents[0].agent, "claude");
    w.cancel_task(id).await?;
    w.shutdown().await;
    Ok(())
}

/// The values of a task's agents' environment (API keys) are shown to no caller and
/// kept on disk only for a task that resumes after a restart, in a file only its
/// user can read.
#[test]
fn env_values_given_to_a_tasks_agents_are_not_shown_or_kept() -> TestResult {
    use std::os::unix::fs::PermissionsExt;
    const KEY: &str = "sk-ant-EnvValueSecret0123456789";
    let tmp = tempfile::tempdir()?;
    let state = tmp.path().join("state");
    let mut node = crate::common::binary::serve(&state, &["--allow-agent", "shell"]);
    let ctl =
        |verb: &str, body: serde_json::Value| warden_cmd(&state).args(["ctl", "raw", verb, &body.to_string()]).output();
    let created =
        ctl("create_task", serde_json::json!({"agent":"shell","task":"exit 0","env":{"ANTHROPIC_API_KEY":KEY}}))?;
    let reply: serde_json::Value = serde_json::from_slice(&created.stdout)?;
    let id = reply["result"]["task"]["id"].as_str().ok_or("an id")?.to_owned();
    assert_eq!(reply["result"]["task"]["spec"]["session"]["env"]["ANTHROPIC_API_KEY"], "***", "{reply}");
    let resuming = ctl(
        "create_task",
        serde_json::json!({"agent":"shell","task":"exit 0","resume_on_restart":true,"env":{"ANTHROPIC_API_KEY":KEY}}),
    )?;
    let status = ctl("task_status", serde_json::json!({ "task": id }))?;
    let listed = warden_cmd(&state).args(["task", "list", "--json"]).output()?;
    // Records are written by a thread of their own: wait for both.
    let resuming_id: serde_json::Value = serde_json::from_slice(&resuming.stdout)?;
    let files = [id.clone(), resuming_id["result"]["task"]["id"].as_str().ok_or("an id")?.to_owned()]
        .map(|id| state.join("tasks").join(format!("{id}.json")));
    let deadline = Instant::now() + TIMEOUT;
    while !files.iter().all(|f| f.exists()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    node.terminate(TIMEOUT);
    for (name, out) in
        [("create_task", &created), ("create_task", &resuming), ("task_status", &status), ("task list", &listed)]
    {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(!text.contains(KEY) && out.status.success(), "the key reached the {name} reply: {text}");
    }
    let hits = crate::workspaces::grep_tree(&state, KEY);
    assert_eq!(hits.len(), 1, "only the resuming task's record keeps the key: {hits:?}");
    assert_eq!(fs::metadata(&hits[0])?.permissions().mode() & 0o777, 0o600, "{hits:?}");
    assert_eq!(fs::metadata(state.join("tasks"))?.permissions().mode() & 0o777, 0o700);
    Ok(())
}

/// Tasks that have not ended are bounded (`max_live`): past it `create_task` is
/// refused until one ends (before, every request was kept: a record, an actor and a
/// file each, without end).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_not_ended_are_bounded() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let mut c = config(tmp.path());
    c.max_sessions = 1;
    c.tasks.max_live = 3;
    let w = Warden::start(c).await?;
    let task = |text: &str| {
        let mut spec = TaskSpec::new("shell", text);
        spec.workdir = Some(tmp.path().to_path_buf());
        spec
    };
    let running = w.create_task(task("sleep 600")).await?;
    let queued = [w.create_task(task("true")).await?, w.create_task(task("true")).await?];
    let refused = w.create_task(task("true")).await;
    assert!(matches!(refused, Err(warden::actors::TaskError::TooMany { live: 3 })), "{refused:?}");
    let listed = w.list_tasks(&warden::core::task::TaskFilter::default()).len();
    assert_eq!(listed, 3, "no record of the refused task");
    w.cancel_task(queued[0]).await?;
    wait_end(&w, queued[0]).await;
    let admitted = w.create_task(task("true")).await?;
    for id in [running, queued[1], admitted] {
        w.cancel_task(id).await?;
    }
    w.shutdown().await;
    Ok(())
}

/// An agent that prints an absurd reset time used to kill the task's actor
/// (`Duration` overflow): the task stayed `running` for ever and could not be
/// cancelled. The wait is capped at 31 days.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absurd_usage_limit_reset_is_capped_and_the_task_can_be_cancelled() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let script = "screen busy; spinner 300; print You've hit your limit · resets in 10000000000000000000h 1s; freeze";
    let w = Warden::start(WardenConfig { adapters: fake_claude(script), ..config(tmp.path()) }).await?;
    let id = w.create_task(TaskSpec::new("claude", "do the thing")).await?;
    let waited = crate::common::eventually(|| w.task(id).is_ok_and(|r| r.reason == StatusReason::UsageLimit)).await;
    let record = w.task(id)?;
    assert!(waited, "{record:?}");
    assert_eq!(record.detail.as_deref(), Some("resets in 2678400 s"), "{record:?}");
    w.cancel_task(id).await?;
    let done = wait_end(&w, id).await;
    assert_eq!((done.status, done.reason), (TaskStatus::Cancelled, StatusReason::Cancelled), "{done:?}");
    w.shutdown().await;
    Ok(())
}

/// A remote caller's `auto` agent comes from what the node's policy allows: on a
/// node where no agent CLI is installed and the shell is not allowed (the default),
/// `create_task` without an agent used to fall back to the shell and type the task
/// into it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_auto_task_never_falls_back_to_an_agent_the_policy_forbids() -> TestResult {
    use warden_bridge::BridgeConfig;
    use warden_bridge::local::{LocalClient, LocalServer, LocalSettings};
    let tmp = tempfile::tempdir()?;
    let w = Warden::start(config(tmp.path())).await?;
    let socket = tmp.path().join("run/warden.sock");
    let settings = LocalSettings { socket: socket.clone(), config: BridgeConfig::default(), default_root: None };
    let server = LocalServer::start(w.clone(), settings).await?;
    let client = LocalClient::connect(&socket, TIMEOUT).await?;
    let marker = tmp.path().join("ran");
    let task = format!("touch {}; exit 0", marker.display());
    let spawn =
        client.request_raw("spawn_agent", serde_json::json!({"agent":"shell","task":task}).to_string().into()).await?;
    let spawn: serde_json::Value = serde_json::from_slice(&spawn)?;
    assert_eq!(spawn["error"]["code"], "forbidden", "the shell is not allowed remotely: {spawn}");
    let mut ids = Vec::new();
    for body in [serde_json::json!({"task":task}), serde_json::json!({"task":task,"agent":"auto"})] {
        let created = client.request_raw("create_task", body.to_string().into()).await?;
        let created: serde_json::Value = serde_json::from_slice(&created)?;
        let id: TaskId =
            serde_json::from_value(created["result"]["task"]["id"].clone()).map_err(|e| format!("{e}: {created}"))?;
        ids.push(id);
    }
    for id in ids {
        let done = wait_end(&w, id).await;
        assert_eq!(done.status, TaskStatus::Failed, "{done:?}");
        assert_eq!(done.spec.allowed_agents.as_deref().map(|a| a.contains(&"shell".to_string())), Some(false));
    }
    drop(client);
    server.shutdown().await;
    w.shutdown().await;
    assert!(!marker.exists(), "the task's text ran in a shell the policy forbids");
    Ok(())
}

/// Switching on a usage limit picks only among the task's allowed agents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_usage_limit_switches_only_to_an_allowed_agent() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let w = limited_claude_and_codex(tmp.path()).await?;
    let mut spec = TaskSpec::new("claude", "do the thing");
    spec.switch_agent_on_limit = true;
    spec.allowed_agents = Some(vec!["claude".into()]);
    let id = w.create_task(spec).await?;
    let waiting = crate::common::eventually(|| {
        w.task(id).is_ok_and(|r| r.status == TaskStatus::Waiting && r.reason == StatusReason::UsageLimit)
    })
    .await;
    assert!(waiting, "{:?}", w.task(id));
    // The switch is asked for as the limit is seen; its answer is shown with the status.
    let answered = crate::common::eventually(|| {
        w.task(id).is_ok_and(|r| r.detail.as_deref().is_some_and(|d| d.contains("no other agent to switch to")))
    })
    .await;
    let record = w.task(id)?;
    assert!(answered, "{record:?}");
    assert!(record.detail.as_deref().is_some_and(|d| d.starts_with("resets in 600 s; ")), "{record:?}");
    assert_eq!(record.agents[0].agent, "claude");
    assert!(!record.history.iter().any(|c| c.reason == StatusReason::AgentSwitched), "{record:?}");
    w.cancel_task(id).await?;
    w.shutdown().await;
    Ok(())
}

#[test]
fn warden_run_task_prints_pending_confirmations_as_notes_without_a_terminal() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let out = warden_cmd(&tmp.path().join("state"))
        .args(["run", "--agent", "shell", "--repo"])
        .arg(&remote)
        .args(["--finalize", "commit", "--supervision", "confirm", "--rule", r"^Proceed\? \[y/N\]=y", "--timeout", "2"])
        .args(["--task", r#"read -p "Proceed? [y/N] " a; echo got-$a; exit 0"#])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "nobody answered; the task timed out: {stderr}");
    assert!(stderr.lines().any(|l| l == "warden: c1 pending (rule): Proceed? [y/N] — suggested: y"), "{stderr}");
    assert!(!stderr.contains("answer c1"), "no answer is asked for without a terminal: {stderr}");
    assert!(stderr.contains("failed (timeout)"), "{stderr}");
    Ok(())
}

#[test]
fn sigterm_cancels_a_warden_run_task_and_keeps_its_workspace() -> TestResult {
    use std::io::{BufRead, BufReader};
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let mut child = warden_cmd(&tmp.path().join("state"))
        .args(["run", "--agent", "shell", "--repo"])
        .arg(&remote)
        .args(["--finalize", "commit", "--task", "echo w > w.txt; sleep 60"])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().ok_or("stderr")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let running = loop {
        match rx.recv_timeout(TIMEOUT) {
            Ok(line) => {
                let found = line.contains("running");
                seen.push(line);
                if found {
                    break true;
                }
            }
            Err(_) => break false,
        }
    };
    if !running {
        let _ = child.kill();
    }
    assert!(running, "the task runs: {seen:?}");
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status()?;
    assert!(killed.success());
    let status = child.wait()?;
    seen.extend(rx.iter());
    assert_eq!(status.code(), Some(1), "{seen:?}");
    assert!(seen.iter().any(|l| l.contains("cancelled (cancelled)")), "{seen:?}");
    let kept = fs::read_dir(tmp.path().join("state/workspaces"))?
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with("t-") && e.path().join(".git").exists());
    assert!(kept, "the task's worktree is kept");
    Ok(())
}
