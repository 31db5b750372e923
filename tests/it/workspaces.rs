//! Git workspaces end to end: real repositories (a local bare repository as
//! the remote), the `Warden` embedding API and the `warden` binary.

mod branches;
mod edge;
mod redaction;
pub(crate) mod servers;

use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use warden::actors::WorkspaceError;
use warden::actors::workspace::registry::Registry;
use warden::core::workspace::{
    BranchName, BranchSpec, CleanupOutcome, CloneSpec, CommitOutcome, CommitRequest, FinalizeRequest, Identity,
    PrRequest, ProcessIdentity, ProvisionSpec, PushRequest, RepoSlug, Secret, StepResult, WorkspaceId, WorkspaceRecord,
    WorkspaceState, WorktreeSpec,
};
use warden::{Event, EventKind, Subscription, Warden, WardenConfig};

use crate::common::binary::warden_cmd;
use crate::common::git::{bare_remote, git, s};
use crate::common::within;

type TestResult = Result<(), Box<dyn Error>>;

const TIMEOUT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------- helpers

/// Content of `path` on `branch` in `repo`.
fn show(repo: &Path, branch: &str, path: &str) -> String {
    git(repo, &["show", &format!("{branch}:{path}")])
}

fn config(root: &Path) -> WardenConfig {
    let mut c = WardenConfig::new(root.join("state"));
    c.node = "test".into();
    c.subreaper = false;
    c.workspace.identity = Identity { name: "Warden Test".into(), email: "warden@test".into() };
    c.workspace.git.extra_env = vec![("GIT_CONFIG_NOSYSTEM".into(), "1".into())];
    c
}

async fn start(root: &Path) -> Warden {
    start_with(root, |_| {}).await
}

async fn start_with(root: &Path, f: impl FnOnce(&mut WardenConfig)) -> Warden {
    let mut c = config(root);
    f(&mut c);
    Warden::start(c).await.expect("warden starts")
}

fn clone_spec(remote: &Path, id: &str, branch: &str) -> ProvisionSpec {
    ProvisionSpec::Clone(CloneSpec {
        id: Some(id.into()),
        source: s(remote),
        branch: BranchSpec::Named { name: branch.into() },
        base: None,
        depth: None,
    })
}

fn worktree_spec(parent: &str, id: &str, branch: &str, base: Option<&str>) -> ProvisionSpec {
    ProvisionSpec::Worktree(WorktreeSpec {
        parent: parent.into(),
        id: Some(id.into()),
        branch: BranchSpec::Named { name: branch.into() },
        base: base.map(Into::into),
    })
}

fn wid(id: &str) -> WorkspaceId {
    WorkspaceId::parse(id).expect("valid id")
}

fn commit_req(message: &str) -> CommitRequest {
    CommitRequest { message: message.into(), ..Default::default() }
}

/// Every event already published. Operations publish their events before
/// they answer, so after an `await`ed call they are all there.
async fn drain(sub: &mut Subscription) -> Vec<Arc<Event>> {
    let mut out = Vec::new();
    while let Some(e) = sub.recv_timeout(Duration::from_millis(5)).await {
        out.push(e);
    }
    out
}

fn kinds(events: &[Arc<Event>]) -> Vec<&'static str> {
    events.iter().map(|e| e.kind_name()).filter(|k| *k != "lagged").collect()
}

/// [`warden_cmd`] with git isolated from the system's config.
fn cli(state: &Path) -> Command {
    let mut cmd = warden_cmd(state);
    cmd.env("GIT_CONFIG_NOSYSTEM", "1");
    cmd
}

fn ok_json(cmd: &mut Command) -> Result<serde_json::Value, Box<dyn Error>> {
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(format!("{:?} failed: {}", cmd, String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// A `git` in `<dir>/bin` that appends its argv to `<dir>/argv.log`, then runs
/// the real one: `(the wrapper, the log)`.
fn argv_logging_git(dir: &Path) -> Result<(PathBuf, PathBuf), Box<dyn Error>> {
    let real_git = String::from_utf8(Command::new("sh").args(["-c", "command -v git"]).output()?.stdout)?;
    let bin = dir.join("bin");
    fs::create_dir(&bin)?;
    let argv_log = dir.join("argv.log");
    let wrapper = bin.join("git");
    fs::write(
        &wrapper,
        format!("#!/bin/sh\necho \"$@\" >> '{}'\nexec {} \"$@\"\n", argv_log.display(), real_git.trim()),
    )?;
    fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    Ok((wrapper, argv_log))
}

/// Files under `dir` containing `needle`.
pub(crate) fn grep_tree(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else { return hits };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() && !p.is_symlink() {
            hits.extend(grep_tree(&p, needle));
        } else if fs::read(&p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes())) {
            hits.push(p);
        }
    }
    hits
}

// ---------------------------------------------------------------- acceptance: CLI

#[test]
fn cli_provision_then_finalize_push_puts_the_commit_on_the_remote() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let state = tmp.path().join("state");
    let v =
        ok_json(cli(&state).args(["workspace", "provision", "--repo", &s(&remote), "--branch", "feat/y", "--json"]))?;
    let id = v["id"].as_str().ok_or("id")?.to_owned();
    let path = PathBuf::from(v["path"].as_str().ok_or("path")?);
    assert_eq!(v["branch"], "feat/y");
    assert_eq!(v["state"], "ready");
    assert!(path.starts_with(&state), "{path:?} under the state dir");
    fs::write(path.join("g.txt"), "g\n")?;

    let out = cli(&state).args(["workspace", "finalize", &id, "--message", "add g", "--push"]).output()?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(show(&remote, "feat/y", "g.txt"), "g");
    assert_eq!(git(&remote, &["log", "-1", "--format=%s", "feat/y"]), "add g");
    assert_eq!(git(&remote, &["rev-parse", "feat/y"]), git(&path, &["rev-parse", "HEAD"]));

    let status = ok_json(cli(&state).args(["workspace", "status", &id, "--diff", "--json"]))?;
    assert_eq!(status["status"]["unpushed"], 0);
    assert_eq!(status["status"]["files"], serde_json::json!([]));
    let list = ok_json(cli(&state).args(["workspace", "list", "--json"]))?;
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["id"], id.as_str());

    // Errors: one line on stderr, exit 125, nothing created.
    for args in [
        &["workspace", "provision", "--repo", &s(&remote), "--branch", "a..b"][..],
        &["workspace", "provision", "--repo", &s(&remote), "--branch", "ok", "--id", "../x"][..],
        &["workspace", "commit", "no-such", "-m", "x"][..],
    ] {
        let out = cli(&state).args(args).output()?;
        assert_eq!(out.status.code(), Some(125), "{args:?}");
        let err = String::from_utf8(out.stderr)?;
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("warden: "), "{err}");
    }
    Ok(())
}

// ---------------------------------------------------------------- the API

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clone_commit_push_cleanup_with_events_in_order() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let w = start(tmp.path()).await;
    let mut sub = w.subscribe(Some(w.bus().next_seq()));
    let ws = w.provision_workspace(clone_spec(&remote, "w1", "feat/y")).await?;
    assert_eq!(ws.base, "main");
    assert_eq!(ws.state, WorkspaceState::Ready);
    assert_eq!(fs::read_to_string(ws.path.join("README.md"))?, "hello\n");
    assert!(w.workspace_status(&ws.id).await?.is_clean());
    // Nothing to commit is a result, not an error.
    assert_eq!(w.commit(&ws.id, commit_req("empty")).await?, CommitOutcome::NothingToCommit);

    fs::write(ws.path.join("g.txt"), "g\n")?;
    fs::write(ws.path.join("README.md"), "hello\nworld\n")?;
    assert_eq!(w.workspace_status(&ws.id).await?.files.len(), 2);
    let ds = w.workspace_diff(&ws.id).await?;
    assert_eq!((ds.files_changed, ds.insertions, ds.deletions), (2, 2, 0));
    let req = FinalizeRequest { commit: commit_req("add g"), push: Some(PushRequest::default()), ..Default::default() };
    let report = w.finalize_workspace(&ws.id, req).await?;
    assert!(report.succeeded(), "{report:?}");
    let Some(CommitOutcome::Committed { commit, files }) = report.commit.value() else { panic!("{report:?}") };
    assert_eq!(files, &["README.md".to_owned(), "g.txt".to_owned()]);
    assert_eq!(git(&remote, &["rev-parse", "refs/heads/feat/y"]), *commit);
    assert_eq!(git(&remote, &["log", "-1", "--format=%an <%ae>", "feat/y"]), "Warden Test <warden@test>");
    assert_eq!(git(&ws.path, &["config", "branch.feat/y.remote"]), "origin");
    assert_eq!(w.workspace_status(&ws.id).await?.unpushed, 0);

    w.cleanup_workspace(&ws.id, false).await?;
    assert!(!ws.path.exists());
    assert_eq!(w.workspace(&ws.id).await?.state, WorkspaceState::Cleaned);
    assert!(w.workspace_status(&ws.id).await.is_err(), "a cleaned workspace has no actor");

    let events = drain(&mut sub).await;
    assert_eq!(
        kinds(&events),
        ["workspace_provisioning", "workspace_ready", "committed", "pushed", "workspace_cleaned"]
    );
    for e in &events {
        assert_eq!(e.session, None, "workspace events are node-level");
    }
    match &events[2].kind {
        EventKind::Committed { workspace, commit: c, .. } => assert_eq!((workspace, c), (&ws.id, commit)),
        other => panic!("{other:?}"),
    }
    w.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_branches_and_names_are_typed_errors() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let w = start(tmp.path()).await;
    for bad in ["a..b", "x.lock", "has space", "HEAD", "-x", "a@{1}", "t/", "a~1", "a:b"] {
        let err = w.provision_workspace(clone_spec(&remote, "w", bad)).await.expect_err("bad branch accepted");
        assert!(matches!(err, WorkspaceError::InvalidBranch { .. }), "{bad}: {err:?}");
        assert_eq!(err.code(), "invalid_branch");
    }
    for bad in ["..", "../escape", "/tmp/abs", ".", "a/b", "nul\0x"] {
        let err = w.provision_workspace(clone_spec(&remote, bad, "ok")).await.expect_err("bad name accepted");
        assert!(matches!(err, WorkspaceError::InvalidName { .. }), "{bad:?}: {err:?}");
    }
    let err = w.provision_workspace(worktree_spec("../p", "c", "ok", None)).await.expect_err("bad parent");
    assert!(matches!(err, WorkspaceError::InvalidName { .. }), "{err:?}");
    let base = tmp.path().join("state/workspaces");
    assert!(fs::read_dir(&base)?.next().is_none(), "nothing created");
    assert!(w.list_workspaces().await?.is_empty());
    // Task-derived branches are always valid.
    let spec = ProvisionSpec::Clone(CloneSpec {
        id: Some("w2".into()),
        source: s(&remote),
        branch: BranchSpec::Task { task_id: "T 42/..".into(), role: "Coder".into(), summary: "Fix: the *bug*".into() },
        base: None,
        depth: None,
    });
    assert_eq!(w.provision_workspace(spec).await?.branch.as_str(), "warden/t-42/coder-fix-the-bug");
    w.shutdown().await;
    Ok(())
}

/// A depth git refuses (0, or past an `int`) is the caller's mistake: it is
/// refused before any git call, as a configuration error (`bad_request` on
/// the wire), and leaves nothing behind. Before, git's "is not a positive
/// number" came back as a network failure (`unavailable`: retry later).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_depth_git_refuses_is_a_typed_error_before_any_git_call() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let w = start(tmp.path()).await;
    for depth in [0, i32::MAX as u32 + 1, u32::MAX] {
        let spec = ProvisionSpec::Clone(CloneSpec {
            id: Some(format!("d{depth}")),
            source: s(&remote),
            branch: BranchSpec::Named { name: "feat/d".into() },
            base: None,
            depth: Some(depth),
        });
        let err = w.provision_workspace(spec).await.expect_err("a depth git refuses was accepted");
        assert!(matches!(err, WorkspaceError::Config { .. }), "{depth}: {err:?}");
        assert!(err.to_string().contains("depth"), "{err}");
    }
    assert!(w.list_workspaces().await?.is_empty(), "no record of the refused ones");
    let spec = ProvisionSpec::Clone(CloneSpec {
        id: Some("deep".into()),
        source: s(&remote),
        branch: BranchSpec::Named { name: "feat/deep".into() },
        base: None,
        depth: Some(i32::MAX as u32),
    });
    w.provision_workspace(spec).await?;
    w.shutdown().await;
    Ok(())
}

/// A commit git would refuse (an author with `<` or `>`, one empty after
/// trimming or with a control character, a NUL in the message) is the
/// caller's mistake: the commit step fails with `invalid_commit`
/// (`bad_request` on the wire) before anything is staged, and the changed
/// files are all still there to commit. Before, git2's "failed to parse
/// signature" or "data contained a nul byte" came back as `git`
/// (`internal`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_git_would_refuse_are_bad_requests_that_change_nothing() -> TestResult {
    use warden_bridge::protocol::ErrorCode;
    use warden_bridge::protocol::error::failed_step;
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let w = start(tmp.path()).await;
    let ws = w.provision_workspace(clone_spec(&remote, "c1", "feat/c1")).await?;
    let author = |name: &str, email: &str| CommitRequest {
        message: "m".into(),
        paths: None,
        author: Some(Identity { name: name.into(), email: email.into() }),
    };
    let cases = [
        ("author with <", author("a <b>", "a@b")),
        ("author with >", author("a", "a@b>")),
        ("author empty after trim", author(" ", "a@b")),
        ("email empty", author("a", "")),
        ("author with a newline", author("a\nb", "a@b")),
        ("email with NUL", author("a", "a@b\0")),
        ("NUL in message", commit_req("fix\0it")),
        ("empty message", commit_req(" ")),
    ];
    fs::write(ws.path.join("README.md"), "changed\n")?;
    let head = git(&ws.path, &["rev-parse", "HEAD"]);
    let mut wrong = Vec::new();
    for (i, (what, commit)) in cases.into_iter().enumerate() {
        fs::write(ws.path.join(format!("f-{i}.txt")), what)?;
        let before = git(&ws.path, &["status", "--porcelain"]);
        let report = w.finalize_workspace(&ws.id, FinalizeRequest { commit, ..Default::default() }).await?;
        let refused = matches!(&report.commit, StepResult::Failed { code, .. } if code.as_str() == "invalid_commit");
        if !refused || failed_step(&report).map(|e| e.code) != Some(ErrorCode::BadRequest) {
            wrong.push(format!("{what}: {:?}", report.commit));
        }
        let after = git(&ws.path, &["status", "--porcelain"]);
        if after != before {
            wrong.push(format!("{what}: the workspace changed from {before:?} to {after:?}"));
        }
        if git(&ws.path, &["rev-parse", "HEAD"]) != head {
            wrong.push(format!("{what}: something was committed"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    let err = w.commit(&ws.id, author("a <b>", "a@b")).await.expect_err("bad author accepted");
    assert!(matches!(err, WorkspaceError::InvalidCommit { .. }), "{err:?}");
    assert!(err.to_string().contains("author name contains '<'"), "{err}");
    // Nothing was lost: one good commit takes every change.
    let CommitOutcome::Committed { files, .. } = w.commit(&ws.id, commit_req("all of it")).await? else {
        panic!("nothing to commit");
    };
    assert_eq!(files.len(), 9, "{files:?}");
    w.shutdown().await;
    // A configured identity git would refuse stops the start, naming it.
    let mut c = config(tmp.path());
    c.workspace.identity = Identity { name: "Warden <bot>".into(), email: "warden@test".into() };
    let err = Warden::start(c).await.err().expect("a bad identity was accepted");
    assert!(err.to_string().contains("commit identity: name contains '<'"), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_cannot_escape_the_workspace_or_base_dir() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let w = start(tmp.path()).await;
    let ws = w.provision_workspace(clone_spec(&remote, "w1", "b")).await?;
    std::os::unix::fs::symlink(tmp.path(), ws.path.join("out"))?;
    // The git directory in any spelling git itself refuses, at any depth: a
    // typed refusal, never "nothing to commit" (even with such a file there).
    fs::create_dir_all(ws.path.join(".GIT"))?;
    fs::write(ws.path.join(".GIT/x"), "x\n")?;
    for bad in [
        "../x",
        "/etc/passwd",
        "out/remote.git/config",
        ".git/config",
        ".GIT",
        ".GIT/x",
        ".Git/config",
        ".git/..",
        "sub/.git/config",
        ".git.",
        "git~1/config",
    ] {
        let req = CommitRequest { message: "m".into(), paths: Some(vec![bad.into()]), author: None };
        let err = w.commit(&ws.id, req).await.expect_err("escape accepted");
        assert!(matches!(err, WorkspaceError::PathEscape { .. }), "{bad}: {err:?}");
    }
    // The command line says so too.
    let out = cli(&tmp.path().join("state"))
        .args(["workspace", "commit", "w1", "-m", "m", "--path", ".GIT", "--author-name", "T", "--author-email", "t@e"])
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    assert!(stderr.contains("\".GIT\" escapes"), "{stderr}");
    w.shutdown().await;
    // A workspace directory replaced by a symlink out of base_dir is refused after a restart.
    fs::remove_dir_all(&ws.path)?;
    std::os::unix::fs::symlink(tmp.path(), &ws.path)?;
    let w = start(tmp.path()).await;
    let err = w.workspace_status(&ws.id).await.expect_err("symlink accepted");
    assert!(matches!(err, WorkspaceError::PathEscape { .. }), "{err:?}");
    w.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_takes_no_index_lock_and_commit_reports_a_held_one() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let w = start(tmp.path()).await;
    w.provision_workspace(clone_spec(&remote, "p", "p")).await?;
    let child = w.provision_workspace(worktree_spec("p", "c", "c", None)).await?;
    fs::write(child.path.join("new.txt"), "x\n")?;
    fs::write(child.path.join("README.md"), "changed\n")?;
    let gitdir = PathBuf::from(git(&child.path, &["rev-parse", "--absolute-git-dir"]));
    let (index, lock) = (gitdir.join("index"), gitdir.join("index.lock"));
    let before = fs::metadata(&index)?.modified()?;
    fs::write(&lock, b"held by an agent")?;
    assert_eq!(w.workspace_status(&child.id).await?.files.len(), 2);
    assert_eq!(w.workspace_diff(&child.id).await?.files_changed, 2);
    assert_eq!(fs::read(&lock)?, b"held by an agent", "lock untouched");
    assert_eq!(fs::metadata(&index)?.modified()?, before, "index not rewritten");
    let err = w.commit(&child.id, commit_req("m")).await.expect_err("lock held");
    assert!(matches!(err, WorkspaceError::Conflict { .. }), "{err:?}");
    fs::remove_file(&lock)?;
    w.workspace_status(&child.id).await?;
    assert!(!lock.exists());
    assert!(matches!(w.commit(&child.id, commit_req("m")).await?, CommitOutcome::Committed { .. }));
    w.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_refuses_dirty_and_unpushed_work_and_goes_through_the_parent() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let w = start(tmp.path()).await;
    let mut sub = w.subscribe(Some(w.bus().next_seq()));
    let parent = w.provision_workspace(clone_spec(&remote, "p", "p")).await?;
    let child = w.provision_workspace(worktree_spec("p", "c", "feat/c", Some("main"))).await?;
    assert_eq!(child.parent.as_ref(), Some(&parent.id));

    let err = w.cleanup_workspace(&parent.id, true).await.expect_err("parent with a live worktree");
    assert!(matches!(err, WorkspaceError::Conflict { .. }), "{err:?}");
    fs::write(child.path.join("wip.txt"), "wip\n")?;
    assert!(matches!(w.cleanup_workspace(&child.id, false).await, Err(WorkspaceError::Dirty { files: 1 })));
    w.commit(&child.id, commit_req("wip")).await?;
    assert!(matches!(w.cleanup_workspace(&child.id, false).await, Err(WorkspaceError::Unpushed { commits: 1 })));
    let err = w.push(&child.id, PushRequest { force: true }).await.expect_err("force refused by default");
    assert!(matches!(err, WorkspaceError::Config { .. }), "{err:?}");
    w.push(&child.id, PushRequest::default()).await?;
    w.fetch_workspace(&child.id).await?;
    w.cleanup_workspace(&child.id, false).await?;
    assert!(!child.path.exists());
    assert_eq!(w.workspace(&child.id).await?.state, WorkspaceState::Cleaned);
    let list = git(&parent.path, &["worktree", "list", "--porcelain"]);
    assert_eq!(list.matches("worktree ").count(), 1, "{list}");
    assert_eq!(show(&remote, "feat/c", "wip.txt"), "wip");
    w.cleanup_workspace(&parent.id, false).await?;
    assert!(!parent.path.exists());
    let events = drain(&mut sub).await;
    let k = kinds(&events);
    assert_eq!(k.iter().filter(|k| **k == "workspace_cleaned").count(), 2, "{k:?}");
    assert!(k.contains(&"workspace_failed"), "{k:?}");
    w.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shallow_clone_goes_through_the_git_program() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let w = start(tmp.path()).await;
    let spec = ProvisionSpec::Clone(CloneSpec {
        id: Some("s".into()),
        source: s(&remote),
        branch: BranchSpec::Named { name: "feat/s".into() },
        base: Some("main".into()),
        depth: Some(1),
    });
    let ws = w.provision_workspace(spec).await?;
    assert_eq!(git(&ws.path, &["rev-parse", "--is-shallow-repository"]), "true");
    assert_eq!(git(&ws.path, &["branch", "--show-current"]), "feat/s");
    w.shutdown().await;
    Ok(())
}

// ---------------------------------------------------------------- concurrency

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_worktrees_of_one_parent_provisioned_concurrently_commit_and_push() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let w = start(tmp.path()).await;
    let mut sub = w.subscribe(Some(w.bus().next_seq()));
    let parent = w.provision_workspace(clone_spec(&remote, "parent", "parent-work")).await?;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..20 {
        let w = w.clone();
        set.spawn(async move {
            let spec = worktree_spec("parent", &format!("wt{i:02}"), &format!("feat/wt-{i}"), Some("main"));
            let ws = w.provision_workspace(spec).await.map_err(|e| format!("{i}: {e}"))?;
            fs::write(ws.path.join(format!("file-{i}.txt")), format!("content {i}\n")).map_err(|e| e.to_string())?;
            w.commit(&ws.id, commit_req(&format!("add file {i}"))).await.map_err(|e| format!("{i}: {e}"))?;
            w.push(&ws.id, PushRequest::default()).await.map_err(|e| format!("{i}: {e}"))?;
            Ok::<_, String>(())
        });
    }
    tokio::time::timeout(TIMEOUT, async {
        while let Some(r) = set.join_next().await {
            r.map_err(|e| e.to_string())??;
        }
        Ok::<_, String>(())
    })
    .await??;
    let heads = git(&remote, &["for-each-ref", "--format=%(refname)", "refs/heads/feat/"]);
    assert_eq!(heads.lines().count(), 20, "{heads}");
    for i in 0..20 {
        let branch = format!("feat/wt-{i}");
        assert_eq!(show(&remote, &branch, &format!("file-{i}.txt")), format!("content {i}"));
        assert_eq!(git(&remote, &["diff", "--name-only", "main", &branch]), format!("file-{i}.txt"));
    }
    let list = git(&parent.path, &["worktree", "list", "--porcelain"]);
    assert_eq!(list.matches("worktree ").count(), 21);
    let upstreams = git(&parent.path, &["config", "--get-regexp", r"^branch\.feat/wt-.*\.merge$"]);
    assert_eq!(upstreams.lines().count(), 20, "no upstream lost to config.lock: {upstreams}");
    let events = drain(&mut sub).await;
    assert_eq!(kinds(&events).iter().filter(|k| **k == "pushed").count(), 20);
    assert_eq!(w.list_workspaces().await?.iter().filter(|r| r.state == WorkspaceState::Ready).count(), 21);
    w.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_commits_to_one_workspace_all_land_in_order() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let w = start(tmp.path()).await;
    let ws = w.provision_workspace(clone_spec(&remote, "one", "one-work")).await?;
    let mut sub = w.subscribe(Some(w.bus().next_seq()));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..50 {
        let (w, ws) = (w.clone(), ws.clone());
        set.spawn(async move {
            let name = format!("c{i:02}.txt");
            fs::write(ws.path.join(&name), format!("{i}\n")).map_err(|e| e.to_string())?;
            let req = CommitRequest { message: format!("commit {i}"), paths: Some(vec![name.clone()]), author: None };
            match w.commit(&ws.id, req).await {
                Ok(CommitOutcome::Committed { commit, files }) if files == [name] => Ok(commit),
                other => Err(format!("{i}: {other:?}")),
            }
        });
    }
    let mut commits = Vec::new();
    tokio::time::timeout(TIMEOUT, async {
        while let Some(r) = set.join_next().await {
            commits.push(r.map_err(|e| e.to_string())??);
        }
        Ok::<_, String>(())
    })
    .await??;
    // 50 commits, one linear history, nothing lost, nothing left over.
    let history: Vec<String> =
        git(&ws.path, &["log", "--reverse", "--format=%H", "main..HEAD"]).lines().map(Into::into).collect();
    assert_eq!(history.len(), 50);
    for c in &commits {
        assert!(history.contains(c), "commit {c} lost");
    }
    assert_eq!(git(&ws.path, &["rev-list", "--merges", "--count", "HEAD"]), "0");
    assert!(git(&ws.path, &["status", "--porcelain"]).is_empty());
    // In order: the actor committed them in the order it published them.
    let events = drain(&mut sub).await;
    let published: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Committed { commit, .. } => Some(commit.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(published, history, "event order is commit order");
    w.shutdown().await;
    Ok(())
}

#[test]
fn separate_warden_processes_share_the_state_dir() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let state = tmp.path().join("state");
    ok_json(cli(&state).args([
        "workspace",
        "provision",
        "--repo",
        &s(&remote),
        "--branch",
        "p",
        "--id",
        "p",
        "--json",
    ]))?;
    // Four processes add worktrees to the same parent at once…
    let children: Vec<_> = (0..4)
        .map(|i| {
            cli(&state)
                .args([
                    "workspace",
                    "provision",
                    "--parent",
                    "p",
                    "--id",
                    &format!("t{i}"),
                    "--branch",
                    &format!("b{i}"),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    for c in children {
        let out = c.wait_with_output()?;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    // …then four processes commit to one workspace at once.
    let p = state.join("workspaces/p");
    let children: Vec<_> = (0..4)
        .map(|i| {
            fs::write(p.join(format!("f{i}.txt")), "x\n")?;
            cli(&state)
                .args(["workspace", "commit", "p", "-m", &format!("f{i}"), "--path", &format!("f{i}.txt")])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
        })
        .collect::<Result<_, std::io::Error>>()?;
    for c in children {
        let out = c.wait_with_output()?;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(git(&p, &["rev-list", "--count", "main..HEAD"]), "4");
    assert!(git(&p, &["status", "--porcelain"]).is_empty());
    let list = ok_json(cli(&state).args(["workspace", "list", "--json"]))?;
    let list = list.as_array().ok_or("array")?;
    assert_eq!(list.len(), 5);
    assert!(list.iter().all(|r| r["state"] == "ready"), "{list:?}");
    assert_eq!(git(&p, &["worktree", "list", "--porcelain"]).matches("worktree ").count(), 5);
    Ok(())
}

// ---------------------------------------------------------------- GitHub pull requests

const GH_TOKEN: &str = "ghp_stubtoken1234567890";

/// A warden whose GitHub API is the stub at `api`, with [`GH_TOKEN`].
async fn start_with_github(root: &Path, api: &str) -> Warden {
    start_with(root, |c| {
        c.workspace.github.api_base = api.to_string();
        c.workspace.github.token = Some(Secret::new(GH_TOKEN));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_request_against_a_github_stub() -> TestResult {
    let (api, seen) = servers::github_stub(vec![
        (201, r#"{"number":42,"html_url":"https://ghe.example/o/r/pull/42","id":1}"#),
        (200, r#"[{"name":"bot"}]"#),
        (422, r#"{"message":"Validation Failed","errors":[{"message":"A pull request already exists"}]}"#),
    ]);
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let w = start_with_github(tmp.path(), &api).await;
    let ws = w.provision_workspace(clone_spec(&remote, "pr", "feat/pr")).await?;
    fs::write(ws.path.join("f.txt"), "f\n")?;
    let mut sub = w.subscribe(Some(w.bus().next_seq()));
    let slug = RepoSlug { host: "ghe.example".into(), owner: "o".into(), name: "r".into() };
    let req = FinalizeRequest {
        commit: commit_req("add f"),
        push: Some(PushRequest::default()),
        pr: Some(PrRequest {
            title: "Add f".into(),
            body: Some("body text".into()),
            base: None,
            draft: true,
            labels: vec!["bot".into()],
            repo: Some(slug.clone()),
        }),
        cleanup: Some(false),
    };
    let report = w.finalize_workspace(&ws.id, req).await?;
    assert!(report.succeeded(), "{report:?}");
    let pr = report.pr.value().ok_or("pr step")?;
    assert_eq!((pr.number, pr.url.as_str()), (42, "https://ghe.example/o/r/pull/42"));
    assert_eq!(report.cleanup, StepResult::Done { value: CleanupOutcome::Removed });

    let create = seen.recv_timeout(Duration::from_secs(10))?;
    assert_eq!((create.method.as_str(), create.path.as_str()), ("POST", "/api/v3/repos/o/r/pulls"));
    assert_eq!(create.auth.as_deref(), Some(format!("Bearer {GH_TOKEN}").as_str()));
    assert_eq!(
        create.body,
        serde_json::json!({"title":"Add f","head":"feat/pr","base":"main","body":"body text","draft":true})
    );
    let labels = seen.recv_timeout(Duration::from_secs(10))?;
    assert_eq!((labels.method.as_str(), labels.path.as_str()), ("POST", "/api/v3/repos/o/r/issues/42/labels"));
    assert_eq!(labels.body, serde_json::json!({"labels":["bot"]}));

    let events = drain(&mut sub).await;
    assert_eq!(kinds(&events), ["committed", "pushed", "pr_created", "workspace_cleaned"]);
    let created = events.iter().find(|e| e.kind_name() == "pr_created").ok_or("pr_created")?;
    assert_eq!(
        created.kind,
        EventKind::PrCreated { workspace: ws.id.clone(), number: 42, url: "https://ghe.example/o/r/pull/42".into() }
    );
    let all = events.iter().map(|e| e.to_json()).collect::<String>();
    assert!(!all.contains(GH_TOKEN));

    // An API refusal is a typed, redacted error and a workspace_failed event.
    let ws2 = w.provision_workspace(clone_spec(&remote, "pr2", "feat/pr2")).await?;
    drain(&mut sub).await;
    let req = PrRequest { title: "t".into(), repo: Some(slug), ..Default::default() };
    let err = w.create_pr(&ws2.id, req).await.expect_err("422");
    assert!(matches!(err, WorkspaceError::Github { status: Some(422), .. }), "{err:?}");
    assert!(err.to_string().contains("already exists"), "{err}");
    seen.recv_timeout(Duration::from_secs(10))?;
    assert_eq!(kinds(&drain(&mut sub).await), ["workspace_failed"]);
    w.shutdown().await;
    Ok(())
}

/// A pull request for a workspace whose remote is not on the host the
/// GitHub API serves (a GitLab remote, say) is refused unless the request
/// names the repository: it does not go to GitHub with the GitHub token.
/// A remote on the served host still names the repository by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_request_for_a_remote_elsewhere_does_not_go_to_github() -> TestResult {
    let (api, seen) = servers::github_stub(vec![(201, r#"{"number":5,"html_url":"https://h/o/r/pull/5","id":1}"#)]);
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let w = start_with_github(tmp.path(), &api).await;
    let ws = w.provision_workspace(clone_spec(&remote, "elsewhere", "feat/elsewhere")).await?;
    git(&ws.path, &["remote", "set-url", "origin", "https://gitlab.example.com/acme/app.git"]);
    let req = PrRequest { title: "t".into(), ..Default::default() };
    let err = w.create_pr(&ws.id, req.clone()).await.expect_err("a remote on another host");
    assert!(matches!(err, WorkspaceError::Config { .. }) && err.to_string().contains("pass repo"), "{err:?}");
    assert!(seen.try_recv().is_err(), "the API heard of a GitLab repository");
    // The stub's host is the served one here: a remote there names the repository.
    let served = api.split("://").nth(1).and_then(|r| r.split(['/', ':']).next()).ok_or("the stub's host")?;
    git(&ws.path, &["remote", "set-url", "origin", &format!("https://{served}/acme/app.git")]);
    let pr = w.create_pr(&ws.id, req).await?;
    assert_eq!(pr.number, 5);
    let create = seen.recv_timeout(Duration::from_secs(10))?;
    assert_eq!((create.method.as_str(), create.path.as_str()), ("POST", "/api/v3/repos/acme/app/pulls"));
    w.shutdown().await;
    Ok(())
}

// ---------------------------------------------------------------- credentials

const GIT_TOKEN: &str = "tok_s3cr3t_Zq8XvP2mN";

/// `warden run` reads the node's git token from `WARDEN_GIT_TOKEN`, as
/// `warden workspace` does (and `warden serve`, through the same helper): a
/// task on an HTTP remote that asks for it clones and pushes with it, and
/// the agent does not see it.
#[test]
fn warden_run_uses_the_git_token_from_the_environment() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    git(&remote, &["config", "http.receivepack", "true"]);
    let counters = Arc::new(servers::Counters::default());
    let port = servers::git_http_server(tmp.path().to_path_buf(), GIT_TOKEN, Arc::clone(&counters));
    let task = format!("echo hi > f.txt; (env | grep -q {GIT_TOKEN} && echo seen || echo unseen) > env.txt; exit 0");
    let out = cli(&tmp.path().join("state"))
        .args(["run", "--agent", "shell", "--repo", &format!("http://127.0.0.1:{port}/remote.git")])
        .args(["--branch", "feat/run-token", "--finalize", "push", "--task", &task])
        .env("WARDEN_GIT_TOKEN", GIT_TOKEN)
        .env("GIT_AUTHOR_NAME", "T")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "status {:?}\nstderr: {stderr}", out.status);
    assert_eq!(show(&remote, "feat/run-token", "f.txt"), "hi");
    assert_eq!(show(&remote, "feat/run-token", "env.txt"), "unseen", "the agent saw the token");
    assert!(counters.authorized.load(Ordering::SeqCst) >= 2, "the clone and the push used the token");
    assert!(!stderr.contains(GIT_TOKEN), "{stderr}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_token_push_leaves_no_trace_in_config_events_logs_or_argv() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    git(&remote, &["config", "http.receivepack", "true"]);
    let counters = Arc::new(servers::Counters::default());
    let port = servers::git_http_server(tmp.path().to_path_buf(), GIT_TOKEN, Arc::clone(&counters));
    let url = format!("http://127.0.0.1:{port}/remote.git");

    // A `git` first on PATH that records its argv, then runs the real one.
    let (wrapper, argv_log) = argv_logging_git(tmp.path())?;

    // Through the API: events.
    let w = start_with(tmp.path(), |c| {
        c.workspace.git.program = wrapper.clone();
        c.workspace.git.token = Some(Secret::new(GIT_TOKEN));
    })
    .await;
    let mut sub = w.subscribe(Some(w.bus().next_seq()));
    let spec = ProvisionSpec::Clone(CloneSpec {
        id: Some("cred".into()),
        source: url.clone(),
        branch: BranchSpec::Named { name: "feat/cred".into() },
        base: None,
        depth: None,
    });
    let ws = w.provision_workspace(spec).await?;
    fs::write(ws.path.join("secret-free.txt"), "x\n")?;
    w.commit(&ws.id, commit_req("add")).await?;
    w.push(&ws.id, PushRequest::default()).await?;
    assert_eq!(show(&remote, "feat/cred", "secret-free.txt"), "x");
    // Credentials inside a remote URL are refused, and not echoed.
    git(
        &ws.path,
        &["remote", "set-url", "--push", "origin", &format!("http://u:{GIT_TOKEN}@127.0.0.1:{port}/remote.git")],
    );
    let err = w.push(&ws.id, PushRequest::default()).await.expect_err("userinfo in URL");
    assert!(matches!(err, WorkspaceError::Config { .. }) && !err.to_string().contains(GIT_TOKEN), "{err}");
    git(&ws.path, &["remote", "set-url", "--delete", "--push", "origin", "127.0.0.1"]);
    let events = drain(&mut sub).await;
    assert_eq!(
        kinds(&events),
        ["workspace_provisioning", "workspace_ready", "committed", "pushed", "workspace_failed"]
    );
    let events_json = events.iter().map(|e| e.to_json()).collect::<Vec<_>>().join("\n");
    w.shutdown().await;

    // Through the CLI: logs at trace level.
    let state = tmp.path().join("state-cli");
    let bin = wrapper.parent().ok_or("the wrapper's directory")?;
    let path_var = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let run = |args: &[&str], token: &str| {
        cli(&state).args(args).env("PATH", &path_var).env("WARDEN_GIT_TOKEN", token).env("WARDEN_LOG", "trace").output()
    };
    let out =
        run(&["workspace", "provision", "--repo", &url, "--branch", "feat/cli", "--id", "cli", "--json"], GIT_TOKEN)?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut logs = String::from_utf8(out.stderr)? + &String::from_utf8(out.stdout)?;
    fs::write(state.join("workspaces/cli/cli.txt"), "y\n")?;
    let out = run(&["workspace", "finalize", "cli", "-m", "cli", "--push"], GIT_TOKEN)?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    logs += &(String::from_utf8(out.stderr)? + &String::from_utf8(out.stdout)?);
    assert_eq!(show(&remote, "feat/cli", "cli.txt"), "y");
    assert!(logs.contains("workspace_op") && logs.contains("git finished"), "trace logs were written:\n{logs}");
    // A wrong token fails fast (no prompt), typed, without echoing it.
    let out =
        run(&["workspace", "provision", "--repo", &url, "--branch", "b", "--id", "bad"], "wrong_token_value_123")?;
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8(out.stderr)?;
    assert!(err.contains("warden: network:"), "{err}");
    assert!(!err.contains("wrong_token_value_123"), "{err}");

    assert!(counters.authorized.load(Ordering::SeqCst) >= 4, "authenticated requests");
    assert!(counters.refused.load(Ordering::SeqCst) >= 1, "the server challenged");
    let argv = fs::read_to_string(&argv_log)?;
    assert!(argv.contains("credential.http://127.0.0.1"), "helper scoped to the remote: {argv}");
    let basic = servers::b64(format!("x-access-token:{GIT_TOKEN}").as_bytes());
    for needle in [GIT_TOKEN, basic.as_str()] {
        assert!(!events_json.contains(needle), "token in events");
        assert!(!logs.contains(needle), "token in logs");
        assert!(!argv.contains(needle), "token in argv");
        for config in [ws.path.join(".git/config"), state.join("workspaces/cli/.git/config")] {
            assert!(!fs::read_to_string(&config)?.contains(needle), "token in {config:?}");
        }
        let hits: Vec<_> = grep_tree(tmp.path(), needle);
        // The only copy on disk is the URL we planted ourselves in `cred`'s config and then removed.
        assert!(hits.is_empty(), "token on disk: {hits:?}");
    }
    Ok(())
}

// ---------------------------------------------------------------- registry and crashes

fn record(id: &str, path: PathBuf, state: WorkspaceState) -> Result<WorkspaceRecord, Box<dyn Error>> {
    Ok(WorkspaceRecord {
        version: 1,
        id: WorkspaceId::parse(id)?,
        path,
        repo: "/r".into(),
        branch: BranchName::parse("b")?,
        base: "main".into(),
        parent: None,
        state,
        created_at: 1,
        updated_at: 1,
        owner: None,
        error: None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_reports_missing_interrupted_and_corrupt_records() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let w = start(tmp.path()).await;
    w.provision_workspace(clone_spec(&remote, "kept", "b-kept")).await?;
    let gone = w.provision_workspace(clone_spec(&remote, "gone", "b-gone")).await?;
    w.shutdown().await;
    drop(w);
    fs::remove_dir_all(&gone.path)?;
    let state = tmp.path().join("state");
    let reg = Registry::open(&state)?;
    let mut half = record("half", state.join("workspaces/half"), WorkspaceState::Provisioning)?;
    half.owner = Some(ProcessIdentity { pid: u32::MAX - 1, start: 7 });
    reg.put(&half)?;
    fs::write(state.join("workspace-registry/.half.123.0.tmp"), b"{\"id\":")?;
    fs::write(state.join("workspace-registry/junk.json"), b"{ not json")?;

    let w = start(tmp.path()).await;
    let report = w.workspace_recovery().await?;
    assert_eq!(report.missing, [wid("gone")]);
    assert_eq!(report.interrupted, [wid("half")]);
    assert_eq!(report.corrupt.len(), 1);
    assert_eq!(report.temp_files_removed, 1);
    let states: Vec<_> = w.list_workspaces().await?.into_iter().map(|r| (r.id.to_string(), r.state)).collect();
    assert_eq!(
        states,
        [
            ("gone".to_owned(), WorkspaceState::Missing),
            ("half".to_owned(), WorkspaceState::Interrupted),
            ("kept".to_owned(), WorkspaceState::Ready),
        ]
    );
    assert!(w.workspace_status(&wid("kept")).await?.is_clean(), "a ready workspace got its actor back");
    w.discard_workspace(&wid("half")).await?;
    w.discard_workspace(&wid("gone")).await?;
    assert!(w.discard_workspace(&wid("kept")).await.is_err(), "a ready workspace is cleaned up, not discarded");
    w.shutdown().await;
    Ok(())
}

#[test]
fn concurrent_registry_writers_never_corrupt_it() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let state = tmp.path().to_path_buf();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let state = state.clone();
            std::thread::spawn(move || -> Result<(), String> {
                // Separate handles behave like separate processes (own lock fds).
                let reg = Registry::open(&state).map_err(|e| e.to_string())?;
                for i in 0..25 {
                    let id = format!("t{t}-{i}");
                    let rec = record(&id, state.join(&id), WorkspaceState::Ready).map_err(|e| e.to_string())?;
                    reg.put(&rec).map_err(|e| e.to_string())?;
                    reg.update(&rec.id, |r| r.state = WorkspaceState::Cleaned).map_err(|e| e.to_string())?;
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| "panic")??;
    }
    let reg = Registry::open(&state)?;
    let report = reg.recover()?;
    assert!(report.corrupt.is_empty() && report.temp_files_removed == 0, "{report:?}");
    let all = reg.list()?;
    assert_eq!(all.len(), 100);
    assert!(all.iter().all(|r| r.state == WorkspaceState::Cleaned));
    Ok(())
}

const CHILD_REMOTE: &str = "WARDEN_WS_TEST_CHILD_REMOTE";
const CHILD_ROOT: &str = "WARDEN_WS_TEST_CHILD_ROOT";

/// Child mode of `sigkill_mid_provisioning_of_ten`: a warden provisioning
/// ten clones at once until it is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_child_provisioner() {
    let (Some(remote), Some(root)) = (std::env::var_os(CHILD_REMOTE), std::env::var_os(CHILD_ROOT)) else {
        return; // only meaningful as the child of sigkill_mid_provisioning_of_ten
    };
    let w = start(Path::new(&root)).await;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..10 {
        let w = w.clone();
        let spec = clone_spec(Path::new(&remote), &format!("k{i}"), &format!("k{i}"));
        set.spawn(async move { w.provision_workspace(spec).await });
    }
    while set.join_next().await.is_some() {}
}

fn registry_states(state: &Path) -> Vec<(String, String)> {
    let mut out: Vec<_> = fs::read_dir(state.join("workspace-registry"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                .filter_map(|e| fs::read(e.path()).ok())
                .filter_map(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .map(|v| (v["id"].as_str().unwrap_or("").to_owned(), v["state"].as_str().unwrap_or("").to_owned()))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_provisioning_of_ten() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let state = tmp.path().join("state");
    // k6 stops for good right after its `provisioning` record is written.
    // The test binary runs itself; names are `<module>::<test>` in the one `it` binary.
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--exact", "workspaces::sigkill_child_provisioner", "--nocapture", "--test-threads", "1"])
        .env(CHILD_REMOTE, &remote)
        .env(CHILD_ROOT, tmp.path())
        .env(warden::actors::workspace::PAUSE_AFTER_RECORD_ENV, "k6")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let expected = |states: &[(String, String)]| {
        states.len() == 10
            && states.iter().all(|(id, st)| if id == "k6" { st == "provisioning" } else { st == "ready" })
    };
    let reached = within(TIMEOUT, || expected(&registry_states(&state)));
    child.kill()?; // SIGKILL
    child.wait()?;
    assert!(reached, "nine ready and k6 provisioning: {:?}", registry_states(&state));

    // Restart: every completed workspace is listed and usable, k6 is reported.
    let w = start(tmp.path()).await;
    let report = w.workspace_recovery().await?;
    assert_eq!(report.interrupted, [wid("k6")], "{report:?}");
    assert!(report.corrupt.is_empty() && report.missing.is_empty(), "{report:?}");
    let list = w.list_workspaces().await?;
    assert_eq!(list.len(), 10);
    for r in &list {
        if r.id.as_str() == "k6" {
            assert_eq!(r.state, WorkspaceState::Interrupted);
            continue;
        }
        assert_eq!(r.state, WorkspaceState::Ready, "{}", r.id);
        assert_eq!(git(&r.path, &["branch", "--show-current"]), r.id.as_str());
        git(&r.path, &["fsck", "--no-progress"]);
        assert!(w.workspace_status(&r.id).await?.is_clean());
    }
    // Another process sees the same.
    let listed = ok_json(cli(&state).args(["workspace", "list", "--json"]))?;
    let k6 = listed.as_array().and_then(|a| a.iter().find(|r| r["id"] == "k6")).ok_or("k6 listed")?;
    assert_eq!(k6["state"], "interrupted");
    // What is left of k6 can be discarded; the others keep working.
    w.discard_workspace(&wid("k6")).await?;
    assert_eq!(w.workspace(&wid("k6")).await?.state, WorkspaceState::Cleaned);
    fs::write(list[0].path.join("after.txt"), "a\n")?;
    assert!(matches!(w.commit(&list[0].id, commit_req("after")).await?, CommitOutcome::Committed { .. }));
    w.shutdown().await;
    Ok(())
}

// ---------------------------------------------------------------- naming against git itself

mod naming_vs_git {
    use std::process::Command;

    use proptest::prelude::*;
    use warden::core::workspace::naming::{MAX_BRANCH_LEN, branch_for_task, validate_branch_name};

    fn git_accepts(name: &str) -> bool {
        Command::new("git")
            .args(["check-ref-format", &format!("refs/heads/{name}")])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// Names we refuse although `check-ref-format` accepts them: `git branch`
    /// refuses `-x` and `HEAD`; `@` alone means HEAD; very long names are
    /// unsafe as file names.
    fn stricter_than_git(name: &str) -> bool {
        name.starts_with('-') || name == "HEAD" || name == "@" || name.len() > MAX_BRANCH_LEN
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn branch_rules_agree_with_git(name in "[a-c./@{}~^:?*\\[\\\\ \\-\u{7f}\t\u{e9}]{1,10}|(HEAD)|[a-z]{1,3}(\\.lock)?(/[a-z.]{0,3})?") {
            let ours = validate_branch_name(&name).is_ok();
            let git = git_accepts(&name);
            if ours {
                prop_assert!(git, "we accept {name:?}, git refuses");
            } else if !stricter_than_git(&name) {
                prop_assert!(!git, "git accepts {name:?}, we refuse");
            }
        }

        #[test]
        fn task_branches_pass_git(task in ".{0,30}", role in ".{0,10}", summary in ".{0,80}") {
            let b = branch_for_task(&task, &role, &summary);
            prop_assert!(git_accepts(b.as_str()), "{b}");
        }
    }
}
