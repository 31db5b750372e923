//! Where a new worktree's branch starts when the parent clone has that
//! branch already (left by earlier work), and what a failed provisioning
//! leaves of it.

use super::*;
use warden::core::workspace::WorkspaceErrorCode;

/// The commit `rev` names in `repo`.
fn rev(repo: &Path, rev: &str) -> String {
    git(repo, &["rev-parse", rev])
}

/// A commit of `file` on `branch` of the remote, made in the seed clone
/// `bare_remote` leaves next to it (from the remote's branch, or `main`).
fn push_to_remote(root: &Path, branch: &str, file: &str) -> String {
    let seed = root.join("seed");
    git(&seed, &["fetch", "-q", "origin"]);
    let from = if git(&seed, &["ls-remote", "--heads", "origin", branch]).is_empty() {
        "origin/main".to_owned()
    } else {
        format!("origin/{branch}")
    };
    git(&seed, &["checkout", "-q", "-B", branch, &from]);
    fs::write(seed.join(file), format!("{file}\n")).expect("write");
    git(&seed, &["add", file]);
    git(&seed, &["commit", "-q", "-m", file]);
    git(&seed, &["push", "-q", "origin", branch]);
    rev(&seed, "HEAD")
}

/// A commit of `file` in workspace `id`.
async fn commit_file(w: &Warden, path: &Path, id: &str, file: &str) -> Result<String, Box<dyn Error>> {
    fs::write(path.join(file), format!("{file}\n"))?;
    match w.commit(&wid(id), commit_req(file)).await? {
        CommitOutcome::Committed { commit, .. } => Ok(commit),
        CommitOutcome::NothingToCommit => Err("nothing to commit".into()),
    }
}

/// A local branch of the parent clone left by earlier work: only behind the
/// remote's → the new worktree starts at the remote's tip (its push
/// fast-forwards); ahead of it (commits no push took) → kept, the work
/// continues; diverged from it → refused as a conflict naming the branch,
/// nothing left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_branch_left_in_the_parent_clone_starts_at_the_remote_unless_it_has_work_of_its_own() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let w = start(tmp.path()).await;
    let p = w.provision_workspace(clone_spec(&remote, "p", "warden/parent")).await?;

    // Behind: an earlier worktree on it is gone, the remote moved on.
    let b1 = w.provision_workspace(worktree_spec("p", "b1", "feat/behind", Some("origin/main"))).await?;
    w.cleanup_workspace(&b1.id, false).await?;
    let tip = push_to_remote(tmp.path(), "feat/behind", "behind.txt");
    w.fetch_workspace(&p.id).await?;
    let b2 = w.provision_workspace(worktree_spec("p", "b2", "feat/behind", Some("origin/main"))).await?;
    assert_eq!(rev(&b2.path, "HEAD"), tip, "starts at the remote's tip, not the stale local branch");
    assert!(b2.path.join("behind.txt").exists());
    commit_file(&w, &b2.path, "b2", "more.txt").await?;
    let pushed = w.push(&b2.id, PushRequest::default()).await?;
    assert_eq!(rev(&remote, "feat/behind"), pushed.commit, "the push fast-forwarded");

    // Ahead: a commit no push took stays, and the work continues on it.
    let a1 = w.provision_workspace(worktree_spec("p", "a1", "feat/ahead", Some("origin/main"))).await?;
    commit_file(&w, &a1.path, "a1", "one.txt").await?;
    w.push(&a1.id, PushRequest::default()).await?;
    let local = commit_file(&w, &a1.path, "a1", "two.txt").await?;
    w.cleanup_workspace(&a1.id, true).await?;
    let a2 = w.provision_workspace(worktree_spec("p", "a2", "feat/ahead", Some("origin/main"))).await?;
    assert_eq!(rev(&a2.path, "HEAD"), local, "the local commit is kept");

    // Diverged: refused, naming the branch; no worktree, the branch as it was.
    let d1 = w.provision_workspace(worktree_spec("p", "d1", "feat/div", Some("origin/main"))).await?;
    commit_file(&w, &d1.path, "d1", "one.txt").await?;
    w.push(&d1.id, PushRequest::default()).await?;
    let mine = commit_file(&w, &d1.path, "d1", "mine.txt").await?;
    w.cleanup_workspace(&d1.id, true).await?;
    push_to_remote(tmp.path(), "feat/div", "theirs.txt");
    w.fetch_workspace(&p.id).await?;
    let err = w
        .provision_workspace(worktree_spec("p", "d2", "feat/div", Some("origin/main")))
        .await
        .expect_err("a diverged branch was used");
    assert_eq!(err.code(), WorkspaceErrorCode::Conflict, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("local branch feat/div") && text.contains("1 commit(s) that origin/feat/div lacks"),
        "{text}"
    );
    assert_eq!(w.workspace(&wid("d2")).await?.state, WorkspaceState::Failed);
    assert!(!tmp.path().join("state/workspaces/d2").exists());
    assert_eq!(rev(&p.path, "refs/heads/feat/div"), mine, "the local branch is as it was");
    w.shutdown().await;
    Ok(())
}

/// A worktree provisioning that fails after it made the branch (here: git's
/// admin entry of that worktree id is in the way, locked, so not pruned as
/// stale) takes the branch back, so a later attempt starts afresh; a branch
/// it moved forward is moved back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_worktree_provisioning_takes_back_what_it_did_to_the_branch() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let w = start(tmp.path()).await;
    let p = w.provision_workspace(clone_spec(&remote, "p", "warden/parent")).await?;
    let main = rev(&p.path, "origin/main");

    let in_the_way = |name: &str| -> std::io::Result<()> {
        fs::create_dir_all(p.path.join(".git/worktrees").join(name))?;
        fs::write(p.path.join(".git/worktrees").join(name).join("locked"), "kept by hand\n")
    };
    in_the_way("wx")?;
    let err = w
        .provision_workspace(worktree_spec("p", "wx", "feat/new", Some("origin/main")))
        .await
        .expect_err("the admin entry is in the way");
    assert_eq!(w.workspace(&wid("wx")).await?.state, WorkspaceState::Failed, "{err}");
    assert_eq!(git(&p.path, &["branch", "--list", "feat/new"]), "", "the branch it made is gone: {err}");
    assert!(!tmp.path().join("state/workspaces/wx").exists());
    fs::remove_dir_all(p.path.join(".git/worktrees/wx"))?;

    // A branch it fast-forwarded is put back where it was.
    let f1 = w.provision_workspace(worktree_spec("p", "f1", "feat/ff", Some("origin/main"))).await?;
    w.cleanup_workspace(&f1.id, false).await?;
    push_to_remote(tmp.path(), "feat/ff", "ff.txt");
    w.fetch_workspace(&p.id).await?;
    in_the_way("wy")?;
    w.provision_workspace(worktree_spec("p", "wy", "feat/ff", Some("origin/main"))).await.expect_err("in the way");
    assert_eq!(rev(&p.path, "refs/heads/feat/ff"), main, "the branch is back where it was");
    fs::remove_dir_all(p.path.join(".git/worktrees/wy"))?;

    // Once what was in the way is gone, another attempt starts where a first one would.
    let again = w.provision_workspace(worktree_spec("p", "w2", "feat/new", Some("origin/main"))).await?;
    assert_eq!(rev(&again.path, "HEAD"), main);
    w.shutdown().await;
    Ok(())
}

/// The reported defect: admin entries of worktrees whose directories are
/// gone (`.git/worktrees/<name>` left by a crash, or emptied) stayed, and
/// with more than one of them libgit2 refused every new worktree as
/// "already checked out" (its cleanup warned "git: no error"). A new
/// worktree now prunes entries whose worktree is gone first, as `git
/// worktree prune` does; a worktree that exists is left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_worktree_entries_of_the_parent_clone_do_not_stop_a_new_worktree() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let w = start(tmp.path()).await;
    let p = w.provision_workspace(clone_spec(&remote, "p", "warden/parent")).await?;
    let live = w.provision_workspace(worktree_spec("p", "live", "feat/live", Some("origin/main"))).await?;
    let admin = p.path.join(".git").join("worktrees");
    // Two kinds of leftovers: an empty admin directory, and one whose worktree
    // directory was deleted by hand.
    fs::create_dir_all(admin.join("junk1"))?;
    fs::create_dir_all(admin.join("junk2"))?;
    git(&p.path, &["worktree", "add", "-q", "-b", "feat/gone", &tmp.path().join("gone").to_string_lossy()]);
    fs::remove_dir_all(tmp.path().join("gone"))?;

    let new = w.provision_workspace(worktree_spec("p", "new", "feat/new", Some("origin/main"))).await?;
    assert_eq!(git(&new.path, &["branch", "--show-current"]), "feat/new");
    for gone in ["junk1", "junk2", "gone"] {
        assert!(!admin.join(gone).exists(), "{gone} pruned");
    }
    assert!(admin.join("live").exists(), "a worktree that exists keeps its entry");
    assert_eq!(git(&live.path, &["branch", "--show-current"]), "feat/live");
    // The branch of the pruned worktree is kept, as git keeps it.
    assert_eq!(git(&p.path, &["branch", "--list", "feat/gone"]), "feat/gone");

    // A worktree of warden's whose admin entry a crash emptied is cleaned up
    // all the same (libgit2 cannot open the entry; it said "no error").
    let crashed = w.provision_workspace(worktree_spec("p", "crashed", "feat/crashed", Some("origin/main"))).await?;
    for f in fs::read_dir(admin.join("crashed"))? {
        let f = f?.path();
        if f.is_dir() { fs::remove_dir_all(f)? } else { fs::remove_file(f)? }
    }
    w.cleanup_workspace(&crashed.id, true).await?;
    assert!(!admin.join("crashed").exists() && !crashed.path.exists(), "its entry and directory are gone");
    Ok(())
}

/// The reported defect: a worktree on base `main` of a parent clone started
/// from the clone's local `main`, which stays where it was cloned (a fetch
/// moves `origin/main` only), so it missed everything merged since. A local
/// base branch that is only behind the remote's now gives way to it; one
/// with commits of its own is used as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_base_branch_the_parent_clone_has_as_cloned_starts_at_the_remotes_tip() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let remote = bare_remote(tmp.path());
    let w = start(tmp.path()).await;
    let p = w.provision_workspace(clone_spec(&remote, "p", "warden/parent")).await?;
    let tip = push_to_remote(tmp.path(), "main", "merged-since.txt");
    w.fetch_workspace(&p.id).await?;
    let a = w.provision_workspace(worktree_spec("p", "a", "feat/a", Some("main"))).await?;
    assert_eq!(rev(&a.path, "HEAD"), tip, "starts at what the remote's main is now");

    // A local main with a commit of its own is the base as it is.
    git(&p.path, &["branch", "-f", "main", "origin/main"]);
    git(&p.path, &["worktree", "add", "-q", &tmp.path().join("own").to_string_lossy(), "main"]);
    let own = tmp.path().join("own");
    fs::write(own.join("own.txt"), "own\n")?;
    git(&own, &["add", "own.txt"]);
    git(&own, &["commit", "-q", "-m", "own"]);
    let mine = rev(&own, "HEAD");
    let b = w.provision_workspace(worktree_spec("p", "b", "feat/b", Some("main"))).await?;
    assert_eq!(rev(&b.path, "HEAD"), mine, "the local main with work of its own");
    Ok(())
}
