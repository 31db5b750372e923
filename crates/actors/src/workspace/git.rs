//! Local git work through git2 (libgit2, no network transports).
//!
//! Read-only queries ([`status`], [`diff_stat`], [`unpushed_count`]) never
//! write the index and never take `index.lock` (libgit2 only refreshes the
//! index on disk when asked with `UPDATE_INDEX`, which we never pass), so
//! polling cannot break an agent's own `git commit` in the same worktree.
//! Mutations that can meet a lock held by an agent retry briefly.

use std::path::Path;
use std::time::Duration;

use crate::workspace::error::WorkspaceError;
use git2::{
    DiffOptions, ErrorCode, IndexAddOption, Oid, Repository, Signature, StatusOptions, WorktreeAddOptions,
    WorktreePruneOptions,
};
use warden_core::workspace::naming::{BranchName, WorkspaceId};
use warden_core::workspace::outcome::{ChangeKind, CommitOutcome, DiffStat, FileChange, FileStat, WorkspaceStatus};
use warden_core::workspace::request::Identity;

/// Retry `f` while it fails on a lock someone else holds (an agent's own
/// git, another worktree's config write), with bounded exponential back-off.
pub fn retry_locked<T>(mut f: impl FnMut() -> Result<T, git2::Error>) -> Result<T, WorkspaceError> {
    let mut delay = Duration::from_millis(2);
    let mut attempt = 0;
    loop {
        match f() {
            Err(e) if is_lock_error(&e) && attempt < 12 => {
                attempt += 1;
                tracing::debug!(attempt, error = %e.message(), "lock held; retrying");
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(250));
            }
            other => return other.map_err(WorkspaceError::from),
        }
    }
}

fn is_lock_error(e: &git2::Error) -> bool {
    e.code() == ErrorCode::Locked || e.message().contains(".lock")
}

/// Clone a local repository (path or `file://` URL) with libgit2.
pub fn clone_local(source: &str, dest: &Path, branch: Option<&str>) -> Result<Repository, WorkspaceError> {
    let mut builder = git2::build::RepoBuilder::new();
    if let Some(b) = branch {
        builder.branch(b);
    }
    Ok(builder.clone(source, dest)?)
}

/// Resolve a base branch (`name` as local branch, then `origin/<name>`, then
/// any revision) to a commit; `None` means the current HEAD. Returns the
/// base's display name and commit. A local branch that is only behind
/// `origin/<name>` (no commit of its own: a parent clone's `main` as it was
/// cloned, fetched since) gives way to `origin/<name>`, so that the base is
/// what the remote has now; one with commits of its own is used as it is.
pub fn resolve_base(repo: &Repository, base: Option<&str>) -> Result<(String, Oid), WorkspaceError> {
    match base {
        None => {
            let head = repo.head()?;
            let name = head.shorthand().unwrap_or("HEAD").to_owned();
            let oid = head.peel_to_commit()?.id();
            Ok((name, oid))
        }
        Some(name) => {
            let tip = |full: String| -> Result<Option<Oid>, WorkspaceError> {
                match repo.find_reference(&full) {
                    Ok(r) => Ok(Some(r.peel_to_commit()?.id())),
                    Err(_) => Ok(None),
                }
            };
            let (local, remote) = (tip(format!("refs/heads/{name}"))?, tip(format!("refs/remotes/origin/{name}"))?);
            match (local, remote) {
                (Some(l), Some(r)) if l != r && repo.graph_descendant_of(r, l)? => return Ok((name.to_owned(), r)),
                (Some(oid), _) | (None, Some(oid)) => return Ok((name.to_owned(), oid)),
                (None, None) => {}
            }
            let obj = repo
                .revparse_single(name)
                .map_err(|_| WorkspaceError::RefNotFound { what: format!("base branch {name:?}") })?;
            Ok((name.to_owned(), obj.peel_to_commit()?.id()))
        }
    }
}

/// Check out local `branch` (it exists: [`crate::workspace::branches::prepare_branch`])
/// in a fresh clone.
pub fn checkout_branch(repo: &Repository, branch: &BranchName) -> Result<(), WorkspaceError> {
    let target = repo.find_reference(&branch.full_ref())?.peel_to_commit()?;
    let mut co = git2::build::CheckoutBuilder::new();
    co.safe();
    repo.checkout_tree(target.as_object(), Some(&mut co))?;
    repo.set_head(&branch.full_ref())?;
    Ok(())
}

/// Add worktree `id` at `path` on local `branch` (it exists:
/// [`crate::workspace::branches::prepare_branch`]). Must run on the parent's
/// serial executor: it writes the shared `.git` (worktree admin dir).
pub fn add_worktree(
    parent: &Repository,
    id: &WorkspaceId,
    path: &Path,
    branch: &BranchName,
) -> Result<(), WorkspaceError> {
    let reference = parent.find_reference(&branch.full_ref())?;
    let mut opts = WorktreeAddOptions::new();
    opts.reference(Some(&reference));
    parent.worktree(id.as_str(), path, Some(&opts)).map_err(|e| {
        if e.message().contains("already checked out") {
            WorkspaceError::Conflict { message: e.message().to_owned() }
        } else {
            e.into()
        }
    })?;
    Ok(())
}

/// Removes the admin entries (`.git/worktrees/<name>`) of `parent`'s worktrees
/// whose directory is gone and that are not locked, as `git worktree prune`
/// does, and admin directories with nothing in them (left by a crash). With
/// such entries about, libgit2 refuses new worktrees as "already checked
/// out". Their branches are kept. Best effort: what cannot be pruned is
/// logged and left.
pub fn prune_stale_worktrees(parent: &Repository) {
    // Read here: libgit2's list leaves some of these entries out.
    let admin = parent.commondir().join("worktrees");
    let entries = match std::fs::read_dir(&admin) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the worktrees to prune stale ones");
            return;
        }
    };
    let names: Vec<String> = entries.flatten().filter_map(|e| e.file_name().into_string().ok()).collect();
    for name in &names {
        let (dir, name) = (admin.join(name), name.as_str());
        match parent.find_worktree(name) {
            Ok(wt) => {
                if wt.validate().is_ok() || !matches!(wt.is_locked(), Ok(git2::WorktreeLockStatus::Unlocked)) {
                    continue;
                }
                let mut opts = WorktreePruneOptions::new();
                opts.valid(false).locked(false).working_tree(false);
                match wt.prune(Some(&mut opts)) {
                    Ok(()) => tracing::info!(worktree = name, "pruned the admin entry of a worktree that is gone"),
                    Err(e) => tracing::warn!(worktree = name, error = %e.message(), "cannot prune a stale worktree"),
                }
            }
            Err(_) if std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_none()) => {
                match std::fs::remove_dir(&dir) {
                    Ok(()) => tracing::info!(worktree = name, "removed an empty worktree admin directory"),
                    Err(e) => {
                        tracing::warn!(worktree = name, error = %e, "cannot remove an empty worktree admin directory")
                    }
                }
            }
            Err(e) => {
                tracing::warn!(worktree = name, error = %e.message(), "a worktree admin entry that does not open")
            }
        }
    }
}

/// Remove worktree `id` of `parent`: its directory and admin entry. The
/// branch is kept. Must run on the parent's serial executor.
pub fn remove_worktree(parent: &Repository, id: &WorkspaceId, path: &Path) -> Result<(), WorkspaceError> {
    if path.exists() {
        std::fs::remove_dir_all(path).map_err(|e| WorkspaceError::io(format!("removing {}", path.display()), e))?;
    }
    match parent.find_worktree(id.as_str()) {
        Ok(wt) => {
            let mut opts = WorktreePruneOptions::new();
            opts.valid(true).locked(false).working_tree(true);
            wt.prune(Some(&mut opts))?;
            Ok(())
        }
        Err(e) if e.code() == ErrorCode::NotFound => Ok(()),
        // An admin entry libgit2 cannot open (emptied by a crash: it says "no
        // error"): it is this worktree's, so it goes as it is, unless someone
        // locked it (`git worktree lock`).
        Err(e) => {
            let admin = parent.commondir().join("worktrees").join(id.as_str());
            if !admin.is_dir() || admin.join("locked").exists() {
                return Err(e.into());
            }
            std::fs::remove_dir_all(&admin).map_err(|e| WorkspaceError::io(format!("removing {}", admin.display()), e))
        }
    }
}

/// Changed paths, without writing the index.
pub fn status(repo: &Repository) -> Result<WorkspaceStatus, WorkspaceError> {
    let mut opts = StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false)
        .renames_head_to_index(true)
        .update_index(false);
    let statuses = repo.statuses(Some(&mut opts))?;
    let mut files = Vec::with_capacity(statuses.len());
    for entry in statuses.iter() {
        let s = entry.status();
        let Some(path) = entry.path().ok().map(str::to_owned) else {
            continue;
        };
        let staged = s.intersects(
            git2::Status::INDEX_NEW
                | git2::Status::INDEX_MODIFIED
                | git2::Status::INDEX_DELETED
                | git2::Status::INDEX_RENAMED
                | git2::Status::INDEX_TYPECHANGE,
        );
        let kind = if s.is_conflicted() {
            ChangeKind::Conflicted
        } else if s.is_wt_new() && !staged {
            ChangeKind::Untracked
        } else if s.is_index_new() {
            ChangeKind::Added
        } else if s.is_index_deleted() || s.is_wt_deleted() {
            ChangeKind::Deleted
        } else if s.is_index_renamed() || s.is_wt_renamed() {
            ChangeKind::Renamed
        } else if s.is_index_typechange() || s.is_wt_typechange() {
            ChangeKind::TypeChange
        } else if s.is_ignored() {
            continue;
        } else {
            ChangeKind::Modified
        };
        files.push(FileChange { path, kind, staged });
    }
    let (branch, head) = match repo.head() {
        Ok(h) => {
            (h.is_branch().then(|| h.shorthand().ok().map(str::to_owned)).flatten(), h.target().map(|o| o.to_string()))
        }
        Err(_) => (None, None),
    };
    Ok(WorkspaceStatus { branch, head, files, unpushed: unpushed_count(repo)? })
}

/// Commits reachable from HEAD but from no remote-tracking branch.
pub fn unpushed_count(repo: &Repository) -> Result<usize, WorkspaceError> {
    let head = match repo.head() {
        Ok(h) => h,
        Err(e) if e.code() == ErrorCode::UnbornBranch || e.code() == ErrorCode::NotFound => {
            return Ok(0);
        }
        Err(e) => return Err(e.into()),
    };
    let Some(head_oid) = head.target() else {
        return Ok(0);
    };
    let mut walk = repo.revwalk()?;
    walk.push(head_oid)?;
    for r in repo.references_glob("refs/remotes/*")?.flatten() {
        if let Ok(resolved) = r.resolve()
            && let Some(oid) = resolved.target()
        {
            // A remote ref to a non-commit (rare) is not an ancestor anyway.
            let _ = walk.hide(oid);
        }
    }
    Ok(walk.count())
}

/// Diff stat of the working tree (including untracked files) against HEAD.
pub fn diff_stat(repo: &Repository) -> Result<DiffStat, WorkspaceError> {
    let head_tree = match repo.head() {
        Ok(h) => Some(h.peel_to_tree()?),
        Err(_) => None,
    };
    let mut opts = DiffOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true).show_untracked_content(true);
    let diff = repo.diff_tree_to_workdir_with_index(head_tree.as_ref(), Some(&mut opts))?;
    let mut out = DiffStat::default();
    for i in 0..diff.deltas().len() {
        let Some(delta) = diff.get_delta(i) else {
            continue;
        };
        let path = delta
            .new_file()
            .path()
            .or_else(|| delta.old_file().path())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (ins, del) = match git2::Patch::from_diff(&diff, i)? {
            Some(patch) => {
                let (_, a, d) = patch.line_stats()?;
                (a, d)
            }
            None => (0, 0),
        };
        out.insertions += ins;
        out.deletions += del;
        out.files.push(FileStat { path, insertions: ins, deletions: del });
    }
    out.files_changed = out.files.len();
    Ok(out)
}

/// Stage all changes (or only `paths`) and commit them on HEAD.
pub fn commit(
    repo: &Repository,
    paths: Option<&[String]>,
    message: &str,
    author: &Identity,
) -> Result<CommitOutcome, WorkspaceError> {
    let mut index = repo.index()?;
    // Pick up whatever the agent staged since we last looked.
    index.read(true)?;
    match paths {
        None => {
            index.add_all(["*"], IndexAddOption::DEFAULT, None)?;
            index.update_all(["*"], None)?;
        }
        Some(paths) => {
            for p in paths {
                index.add_all([p.as_str()], IndexAddOption::DISABLE_PATHSPEC_MATCH, None)?;
                index.update_all([p.as_str()], None)?;
            }
        }
    }
    let tree_id = index.write_tree()?;
    let parent = match repo.head() {
        Ok(h) => Some(h.peel_to_commit()?),
        Err(e) if e.code() == ErrorCode::UnbornBranch || e.code() == ErrorCode::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    let parent_tree = parent.as_ref().map(|c| c.tree()).transpose()?;
    if parent_tree.as_ref().map(|t| t.id()) == Some(tree_id) {
        return Ok(CommitOutcome::NothingToCommit);
    }
    // Write the index before the commit: if an agent holds `index.lock`, we
    // fail here, with nothing committed, rather than after moving HEAD.
    retry_locked(|| index.write())?;
    let tree = repo.find_tree(tree_id)?;
    let diff = repo.diff_tree_to_tree(parent_tree.as_ref(), Some(&tree), None)?;
    let files: Vec<String> = diff
        .deltas()
        .filter_map(|d| d.new_file().path().or_else(|| d.old_file().path()).map(|p| p.to_string_lossy().into_owned()))
        .collect();
    let sig = Signature::now(&author.name, &author.email)?;
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    let oid = retry_locked(|| repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents))?;
    Ok(CommitOutcome::Committed { commit: oid.to_string(), files })
}

/// URL used to push to `remote` (`pushurl`, else `url`).
pub fn push_url(repo: &Repository, remote: &str) -> Result<String, WorkspaceError> {
    let r = repo.find_remote(remote).map_err(|_| WorkspaceError::RefNotFound { what: format!("remote {remote:?}") })?;
    let url = r.pushurl().ok().flatten().or_else(|| r.url().ok());
    url.map(str::to_owned).ok_or_else(|| WorkspaceError::Config { message: format!("remote {remote:?} has no url") })
}

/// The URL `git fetch` uses for `remote` (its `url`; a `pushurl` is for pushes only).
pub fn fetch_url(repo: &Repository, remote: &str) -> Result<String, WorkspaceError> {
    let r = repo.find_remote(remote).map_err(|_| WorkspaceError::RefNotFound { what: format!("remote {remote:?}") })?;
    r.url()
        .ok()
        .map(str::to_owned)
        .ok_or_else(|| WorkspaceError::Config { message: format!("remote {remote:?} has no url") })
}

/// Record `remote/branch` as the upstream of `branch` (two config writes,
/// retried while another writer holds `config.lock`). Skipped if already set.
pub fn set_upstream(repo: &Repository, branch: &BranchName, remote: &str) -> Result<(), WorkspaceError> {
    let remote_key = format!("branch.{branch}.remote");
    let merge_key = format!("branch.{branch}.merge");
    let merge_val = branch.full_ref();
    let current = repo.config()?.snapshot()?;
    if current.get_str(&remote_key).ok() == Some(remote) && current.get_str(&merge_key).ok() == Some(merge_val.as_str())
    {
        return Ok(());
    }
    retry_locked(|| repo.config()?.set_str(&remote_key, remote))?;
    retry_locked(|| repo.config()?.set_str(&merge_key, &merge_val))?;
    Ok(())
}

/// Commit id of a local branch.
pub fn branch_head(repo: &Repository, branch: &BranchName) -> Result<Oid, WorkspaceError> {
    Ok(repo.find_reference(&branch.full_ref())?.peel_to_commit()?.id())
}
