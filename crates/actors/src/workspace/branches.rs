//! Branch work of a parent clone for tasks: where a new workspace's branch
//! starts ([`prepare_branch`], and [`undo_prepare`] when its provisioning
//! fails), what a finished worktree leaves behind when the retention policy
//! removes it (its uncommitted work saved on its branch, the branch kept
//! while it holds commits no remote has), and the merge of several agents'
//! branches into one. Runs on the parent's serial executor, like worktree
//! add and remove.

use git2::{BranchType, ErrorCode, Oid, Repository};
use warden_core::workspace::naming::BranchName;

use crate::workspace::error::WorkspaceError;
use crate::workspace::git::retry_locked;

/// What [`prepare_branch`] did to the local branch of a new workspace, so
/// that a provisioning that fails afterwards undoes exactly that
/// ([`undo_prepare`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BranchPrep {
    /// The branch did not exist: created at `at`.
    Created {
        /// Where it was created.
        at: Oid,
    },
    /// The branch existed and is used as it was.
    Kept,
    /// The branch existed with no commit of its own, behind its start
    /// point: moved forward `from` → `to`.
    FastForwarded {
        /// Where it was.
        from: Oid,
        /// Where it is now.
        to: Oid,
    },
}

/// Makes local `branch` ready for a new workspace (clone or worktree) and
/// says what it did. The branch's start point is the remote's tip of it
/// (`<remote>/<branch>`) when the remote has the branch, else `base`:
///
/// - no local branch: it is created at the start point;
/// - a local branch the start point contains (no commit of its own, only
///   behind — left by an earlier task on the branch whose worktree is gone,
///   say): it is moved to the start point, so the work starts from what the
///   remote has now and its push fast-forwards (unless a worktree has it
///   checked out: then it is left alone, and adding the worktree says so);
/// - a local branch that contains the start point (commits of its own that
///   no push took yet): kept as it is, so that work continues;
/// - a local branch that has diverged from the remote's: refused with
///   [`WorkspaceError::Conflict`] (its own commits would be lost, or its
///   push rejected). One that has diverged from `base` while the remote
///   has no such branch (local work on an older base) is kept.
pub fn prepare_branch(
    repo: &Repository,
    branch: &BranchName,
    remote: &str,
    base: Oid,
) -> Result<BranchPrep, WorkspaceError> {
    let remote_tip = match repo.find_branch(&format!("{remote}/{}", branch.as_str()), BranchType::Remote) {
        Ok(b) => Some(b.get().peel_to_commit()?.id()),
        Err(e) if e.code() == ErrorCode::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    let start = remote_tip.unwrap_or(base);
    let local = match repo.find_branch(branch.as_str(), BranchType::Local) {
        Ok(b) => b.get().peel_to_commit()?.id(),
        Err(e) if e.code() == ErrorCode::NotFound => {
            let commit = repo.find_commit(start)?;
            retry_locked(|| repo.branch(branch.as_str(), &commit, false))?;
            return Ok(BranchPrep::Created { at: start });
        }
        Err(e) => return Err(e.into()),
    };
    if local == start || repo.graph_descendant_of(local, start)? {
        return Ok(BranchPrep::Kept);
    }
    if repo.graph_descendant_of(start, local)? {
        if checked_out(repo, branch)? {
            return Ok(BranchPrep::Kept);
        }
        let message = format!("warden: fast-forward {branch} to its start point");
        retry_locked(|| repo.reference_matching(&branch.full_ref(), start, true, local, &message))?;
        tracing::info!(%branch, from = %local, to = %start, "local branch was behind its start point; moved forward");
        return Ok(BranchPrep::FastForwarded { from: local, to: start });
    }
    if remote_tip.is_none() {
        return Ok(BranchPrep::Kept);
    }
    let (ahead, behind) = repo.graph_ahead_behind(local, start)?;
    let place = repo.workdir().unwrap_or_else(|| repo.path()).display().to_string();
    Err(WorkspaceError::Conflict {
        message: format!(
            "local branch {branch} in {place} has {ahead} commit(s) that {remote}/{branch} lacks, and \
             {remote}/{branch} has {behind} it lacks; push or merge them, or delete the local branch \
             (`git -C {place} branch -D {branch}`), or use another branch"
        ),
    })
}

/// Undoes what [`prepare_branch`] did, after the provisioning that asked
/// for it failed: a branch it created is deleted, one it moved forward is
/// moved back — each only while it still points where [`prepare_branch`]
/// left it (nothing else has used it since).
pub fn undo_prepare(repo: &Repository, branch: &BranchName, prep: BranchPrep) -> Result<(), WorkspaceError> {
    match prep {
        BranchPrep::Kept => Ok(()),
        BranchPrep::Created { at } => match repo.find_branch(branch.as_str(), BranchType::Local) {
            Ok(mut b) if b.get().target() == Some(at) => Ok(retry_locked(|| b.delete())?),
            Ok(_) => Ok(()),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        },
        BranchPrep::FastForwarded { from, to } => {
            let message = format!("warden: {branch} back where it was (provisioning failed)");
            match repo.reference_matching(&branch.full_ref(), from, true, to, &message) {
                Ok(_) => Ok(()),
                // Moved by someone else since: theirs stays.
                Err(e) if e.code() == ErrorCode::Modified || e.code() == ErrorCode::NotFound => Ok(()),
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// Whether local `branch` is the checked-out branch of the repository or of
/// one of its worktrees (read from each worktree's admin `HEAD`, so also for
/// a worktree whose directory is gone).
fn checked_out(repo: &Repository, branch: &BranchName) -> Result<bool, WorkspaceError> {
    let full = branch.full_ref();
    let names = |text: &str| text.trim().strip_prefix("ref:").map(str::trim) == Some(full.as_str());
    if std::fs::read_to_string(repo.commondir().join("HEAD")).is_ok_and(|h| names(&h)) {
        return Ok(true);
    }
    let admin = repo.commondir().join("worktrees");
    let entries = match std::fs::read_dir(&admin) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(WorkspaceError::io(format!("reading {}", admin.display()), e)),
    };
    Ok(entries.flatten().any(|e| std::fs::read_to_string(e.path().join("HEAD")).is_ok_and(|h| names(&h))))
}

/// What removing a finished worktree did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetiredWorktree {
    /// The commit that saved work left uncommitted in the worktree.
    pub saved_commit: Option<String>,
    /// Whether the local branch was kept (it holds commits no remote has).
    pub branch_kept: bool,
    /// Commits of the branch that no remote-tracking branch has.
    pub unpushed: usize,
}

/// Commits reachable from local branch `branch` and from no remote-tracking
/// branch (0 when the branch does not exist).
pub fn unpushed_on_branch(repo: &Repository, branch: &BranchName) -> Result<usize, WorkspaceError> {
    let head = match repo.find_branch(branch.as_str(), BranchType::Local) {
        Ok(b) => b.get().target(),
        Err(e) if e.code() == ErrorCode::NotFound => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let Some(head) = head else { return Ok(0) };
    let mut walk = repo.revwalk()?;
    walk.push(head)?;
    for r in repo.references_glob("refs/remotes/*")?.flatten() {
        if let Ok(resolved) = r.resolve()
            && let Some(oid) = resolved.target()
        {
            let _ = walk.hide(oid);
        }
    }
    Ok(walk.count())
}

/// Deletes local branch `branch` (gone already is fine).
pub fn delete_branch(repo: &Repository, branch: &BranchName) -> Result<(), WorkspaceError> {
    match repo.find_branch(branch.as_str(), BranchType::Local) {
        Ok(mut b) => Ok(b.delete()?),
        Err(e) if e.code() == ErrorCode::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Merges `branches` one after another into a new state of local branch
/// `into`, starting from `base` (a revision: `origin/main`): a branch that
/// contains the result so far fast-forwards it, any other is merged in
/// memory (no working tree is touched) with a merge commit by `author`.
/// The first conflict stops it: [`WorkspaceError::Conflict`] naming the
/// branch and the paths, and `into` is left as it was. Returns the commit
/// `into` now points to.
pub fn merge_into(
    repo: &Repository,
    into: &BranchName,
    base: &str,
    branches: &[BranchName],
    message: &str,
    author: &warden_core::workspace::Identity,
) -> Result<String, WorkspaceError> {
    let mut head: Oid = repo
        .revparse_single(base)
        .and_then(|o| o.peel_to_commit())
        .map_err(|_| WorkspaceError::RefNotFound { what: format!("base {base}") })?
        .id();
    for branch in branches {
        let tip = repo
            .find_branch(branch.as_str(), BranchType::Local)
            .map_err(|_| WorkspaceError::RefNotFound { what: format!("branch {branch}") })?
            .get()
            .peel_to_commit()?;
        if tip.id() == head || repo.graph_descendant_of(head, tip.id())? {
            continue; // already contained
        }
        if repo.graph_descendant_of(tip.id(), head)? {
            head = tip.id(); // fast-forward
            continue;
        }
        let ours = repo.find_commit(head)?;
        let mut index = repo.merge_commits(&ours, &tip, None)?;
        if index.has_conflicts() {
            let mut paths: Vec<String> = index
                .conflicts()?
                .flatten()
                .filter_map(|c| c.our.or(c.their).or(c.ancestor))
                .map(|e| String::from_utf8_lossy(&e.path).into_owned())
                .collect();
            paths.sort();
            paths.dedup();
            paths.truncate(20);
            return Err(WorkspaceError::Conflict {
                message: format!("merging {branch} conflicts in {}", paths.join(", ")),
            });
        }
        let tree = repo.find_tree(index.write_tree_to(repo)?)?;
        let sig = git2::Signature::now(&author.name, &author.email)?;
        let text = format!("{message}\n\nMerge branch {branch}");
        head = repo.commit(None, &sig, &sig, &text, &tree, &[&ours, &tip])?;
    }
    let commit = repo.find_commit(head)?;
    repo.branch(into.as_str(), &commit, true)?;
    Ok(head.to_string())
}
