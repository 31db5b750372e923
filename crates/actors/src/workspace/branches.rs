//! Branch work of a parent clone for tasks: what a finished worktree leaves
//! behind when the retention policy removes it (its uncommitted work saved
//! on its branch, the branch kept while it holds commits no remote has),
//! and the merge of several agents' branches into one. Runs on the parent's
//! serial executor, like worktree add and remove.

use git2::{BranchType, ErrorCode, Oid, Repository};
use warden_core::workspace::naming::BranchName;

use crate::workspace::error::WorkspaceError;

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
