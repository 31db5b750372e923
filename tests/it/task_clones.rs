//! Tasks and the parent clone of their repository: made once per state
//! directory even when two warden processes start tasks on a new repository
//! at once (the second waits for the first's clone, bounded and
//! cancellable); a branch left in it by earlier work starts where the
//! remote's is; what a failed provisioning made is taken back.

use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use warden::Warden;
use warden::core::task::{CleanupPolicy, FinalizeMode, StatusReason, TaskAgent, TaskStatus};

use crate::common::binary::warden_cmd;
use crate::common::git::{bare_remote, git, s};
use crate::common::nats::Proc;
use crate::common::within;
use crate::tasks::{config, shell_task, wait_end};

type TestResult = Result<(), Box<dyn Error>>;

const TIMEOUT: Duration = Duration::from_secs(90);

/// The id of the parent clone of `source`: `repo-` and the FNV-1a hash of
/// the source, as warden names it (`task::place::parent_id`).
fn parent_id(source: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in source.trim_end_matches('/').bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("repo-{h:016x}")
}

/// The `state` field of workspace `id`'s registry record, if it has one.
fn record_state(state: &Path, id: &str) -> Option<String> {
    let bytes = fs::read(state.join("workspace-registry").join(format!("{id}.json"))).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v["state"].as_str().map(str::to_owned)
}

/// `warden run` of a shell task on `remote`, `branch`, pushed; git isolated.
fn run_task(state: &Path, remote: &Path, branch: &str, script: &str) -> Command {
    let mut cmd = warden_cmd(state);
    cmd.args(["run", "--agent", "shell", "--repo"])
        .arg(remote)
        .args(["--branch", branch, "--finalize", "push", "--task", script])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "T")
        .env("GIT_AUTHOR_EMAIL", "t@example.com");
    cmd
}

/// A `warden run` whose clone of `remote` stops right after its
/// `provisioning` record is written (until `gate` exists, or for good),
/// once it has got there.
fn clone_held(state: &Path, remote: &Path, gate: Option<&Path>) -> Proc {
    let parent = parent_id(&s(remote));
    let hold = match gate {
        Some(gate) => format!("{parent}:{}", gate.display()),
        None => parent.clone(),
    };
    let mut cmd = run_task(state, remote, "feat/a", "echo a > a.txt; exit 0");
    cmd.env(warden::actors::workspace::PAUSE_AFTER_RECORD_ENV, hold);
    let mut a = Proc::spawn(cmd);
    let cloning = within(TIMEOUT, || record_state(state, &parent).as_deref() == Some("provisioning"));
    assert!(cloning, "the first warden never started its clone: {:?}", a.drain_stderr());
    a
}

/// Waits for a stderr line of `p` with `needle`; if `p` ends first, fails
/// with what it printed.
fn wait_line_or_exit(p: &mut Proc, needle: &str) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if p.drain_stderr().iter().any(|l| l.contains(needle)) {
            return;
        }
        if let Ok(Some(status)) = p.child.try_wait() {
            panic!("it ended ({status}) before {needle:?}; stderr: {:#?}", p.drain_stderr());
        }
        assert!(Instant::now() < deadline, "no {needle:?}; stderr: {:#?}", p.drain_stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Two `warden run` processes on one state directory start tasks on the
/// same new repository at once: the first clones it; the second waits for
/// that clone (it says so in its log) instead of failing, then uses it.
/// Both tasks complete, with one parent clone between them.
#[test]
fn a_second_warden_waits_for_the_clone_the_first_is_making_and_uses_it() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let state = tmp.path().join("state");
    let gate = tmp.path().join("gate");
    let mut a = clone_held(&state, &remote, Some(&gate));

    let mut cmd = run_task(&state, &remote, "feat/b", "echo b > b.txt; exit 0");
    cmd.env("WARDEN_LOG", "warn,warden_actors::task_host=info");
    let mut b = Proc::spawn(cmd);
    wait_line_or_exit(&mut b, "being made elsewhere; waiting for it");

    fs::write(&gate, "")?;
    let (a_code, b_code) = (a.wait_exit(TIMEOUT), b.wait_exit(TIMEOUT));
    assert_eq!(a_code, Some(0), "the first: {:#?}", a.drain_stderr());
    assert_eq!(b_code, Some(0), "the second: {:#?}", b.drain_stderr());
    assert!(b.drain_stderr().iter().any(|l| l.contains("waited for the clone of this repository")));
    assert_eq!(git(&remote, &["show", "feat/a:a.txt"]), "a");
    assert_eq!(git(&remote, &["show", "feat/b:b.txt"]), "b");
    let clones: Vec<PathBuf> = fs::read_dir(state.join("workspaces"))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("repo-")))
        .collect();
    assert_eq!(clones.len(), 1, "{clones:?}");
    assert_eq!(record_state(&state, &parent_id(&s(&remote))).as_deref(), Some("ready"));
    Ok(())
}

/// The wait for a clone another process is making is bounded: past
/// `TaskConfig::clone_wait` the task fails `provision_failed`, saying who is
/// still cloning and what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_waiting_for_a_clone_made_elsewhere_gives_up_at_its_limit() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let state = tmp.path().join("state");
    let mut a = clone_held(&state, &remote, None);

    let mut c = config(tmp.path());
    c.tasks.clone_wait = Duration::from_secs(1);
    let w = Warden::start(c).await?;
    let started = Instant::now();
    let id = w.create_task(shell_task(&remote, "feat/b", "exit 0", FinalizeMode::None)).await?;
    let r = wait_end(&w, id).await;
    assert_eq!((r.status, r.reason), (TaskStatus::Failed, StatusReason::ProvisionFailed), "{r:?}");
    let detail = r.detail.clone().unwrap_or_default();
    let pid = a.child.id();
    assert!(detail.contains(&format!("still being made by warden process {pid} after 1 s of waiting")), "{detail}");
    assert!(started.elapsed() >= Duration::from_secs(1), "it waited");
    // The clone in the making is left alone.
    assert_eq!(record_state(&state, &parent_id(&s(&remote))).as_deref(), Some("provisioning"));
    assert_eq!(a.child.try_wait()?, None, "the first warden still runs");
    w.shutdown().await;
    Ok(())
}

/// A task waiting for a clone made elsewhere can be cancelled: it ends
/// `cancelled` at once, long before its wait would end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_waiting_for_a_clone_made_elsewhere_can_be_cancelled() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let state = tmp.path().join("state");
    let _a = clone_held(&state, &remote, None);

    let mut c = config(tmp.path());
    c.tasks.clone_wait = Duration::from_secs(600);
    let w = Warden::start(c).await?;
    let id = w.create_task(shell_task(&remote, "feat/b", "exit 0", FinalizeMode::None)).await?;
    // Provisioning (so waiting: the clone stays held), and still so a while later.
    let deadline = Instant::now() + TIMEOUT;
    while w.task(id).ok().map(|r| r.status) != Some(TaskStatus::Provisioning) {
        assert!(Instant::now() < deadline, "never provisioning: {:?}", w.task(id));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cancelled = tokio::time::timeout(Duration::from_secs(10), w.cancel_task(id)).await?;
    let r = cancelled.map_err(|e| format!("cancel refused: {e}; task {:?}", w.task(id)))?;
    assert_eq!(r.status, TaskStatus::Cancelled, "{r:?}");
    assert!(r.agents.iter().all(|a| a.workspace.is_none()), "no workspace was made: {r:?}");
    w.shutdown().await;
    Ok(())
}

/// A task on a branch an earlier task left in the parent clone, after the
/// remote's branch moved on: it starts from the remote's tip (the agent sees
/// the newer work) and its push fast-forwards, instead of starting from the
/// stale local branch and having its push rejected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_on_a_branch_left_behind_in_the_parent_clone_starts_at_the_remotes_tip() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let w = Warden::start(config(tmp.path())).await?;
    let mut first = shell_task(&remote, "feat/s", "echo one > one.txt; exit 0", FinalizeMode::Push);
    first.cleanup = CleanupPolicy::OnSuccess;
    let r = wait_end(&w, w.create_task(first).await?).await;
    assert_eq!(r.status, TaskStatus::Completed, "{r:?}");

    // Someone else pushes to the branch.
    let seed = tmp.path().join("seed");
    git(&seed, &["fetch", "-q", "origin"]);
    git(&seed, &["checkout", "-q", "-B", "feat/s", "origin/feat/s"]);
    fs::write(seed.join("two.txt"), "two\n")?;
    git(&seed, &["add", "two.txt"]);
    git(&seed, &["commit", "-q", "-m", "two"]);
    git(&seed, &["push", "-q", "origin", "feat/s"]);
    let theirs = git(&remote, &["rev-parse", "feat/s"]);

    let second = shell_task(&remote, "feat/s", "cat two.txt > seen.txt; exit 0", FinalizeMode::Push);
    let r = wait_end(&w, w.create_task(second).await?).await;
    assert_eq!(r.status, TaskStatus::Completed, "{r:?}");
    assert_eq!(git(&remote, &["show", "feat/s:seen.txt"]), "two", "the agent saw the remote's work");
    assert_eq!(git(&remote, &["rev-parse", "feat/s~1"]), theirs, "the push fast-forwarded");
    w.shutdown().await;
    Ok(())
}

/// A task whose second agent's worktree cannot be made (its branch is
/// checked out by an earlier task's worktree) takes back the first agent's
/// worktree and the branch it made for it: nothing of the failed attempt is
/// left to make a retry behave differently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_whose_provisioning_fails_takes_back_the_worktrees_it_made() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let w = Warden::start(config(tmp.path())).await?;
    // An earlier task keeps `b-shell1` checked out in its worktree.
    let r = wait_end(&w, w.create_task(shell_task(&remote, "b-shell1", "exit 0", FinalizeMode::None)).await?).await;
    assert_eq!(r.status, TaskStatus::Completed, "{r:?}");

    let mut spec = shell_task(&remote, "b", "exit 0", FinalizeMode::Push);
    spec.agents = vec![
        TaskAgent { agent: "shell".into(), task: Some("exit 0".into()) },
        TaskAgent { agent: "shell".into(), task: Some("exit 0".into()) },
    ];
    let id = w.create_task(spec).await?;
    let r = wait_end(&w, id).await;
    assert_eq!((r.status, r.reason), (TaskStatus::Failed, StatusReason::ProvisionFailed), "{r:?}");
    assert!(r.detail.as_deref().is_some_and(|d| d.contains("already checked out")), "{r:?}");

    let parent = w.workspace_base_dir().join(parent_id(&s(&remote)));
    assert_eq!(git(&parent, &["branch", "--list", "b-shell0"]), "", "the first agent's branch is gone");
    let first = format!("t-{}-0", id.as_simple());
    assert!(!w.workspace_base_dir().join(&first).exists(), "the first agent's worktree is gone");
    let listed = w.list_workspaces().await?;
    assert!(listed.iter().all(|ws| ws.id.as_str() != first), "its record is gone: {listed:?}");
    assert!(!git(&parent, &["worktree", "list"]).contains(&first), "git's entry is gone");
    w.shutdown().await;
    Ok(())
}
