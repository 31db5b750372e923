//! [`WorkspaceOps`]: every operation on one workspace, synchronous, meant to
//! be owned by exactly one serial executor (in warden: the workspace's
//! actor, running each call in `spawn_blocking`).
//!
//! Ordering rules the owner must keep:
//! - all mutations of one workspace go through its own `WorkspaceOps`;
//! - worktree add/remove (and fetch) of a parent go through the *parent's*
//!   `WorkspaceOps` ([`WorkspaceOps::provision_worktree`],
//!   [`WorkspaceOps::remove_worktree`]), because they write the shared
//!   `.git`; a worktree's [`WorkspaceOps::cleanup`] therefore only checks
//!   and answers [`CleanupOutcome::DelegateToParent`].

use std::sync::Arc;

use git2::Repository;

use crate::workspace::context::{WorkspaceContext, traced};
use crate::workspace::error::WorkspaceError;
use warden_core::EventKind;
use warden_core::workspace::Step;
use warden_core::workspace::url_credential;

use crate::workspace::EventSink;
use crate::workspace::branches::{self, BranchPrep, RetiredWorktree};
use crate::workspace::git;
use crate::workspace::git_cli::http_origin;
use crate::workspace::github;
use crate::workspace::paths;
use crate::workspace::registry::{WorkspaceLock, this_process};
use warden_core::workspace::naming::{BranchName, NamingError, WorkspaceId, branch_for_task};
use warden_core::workspace::outcome::{
    CleanupOutcome, CommitOutcome, DiffStat, FinalizeReport, PullRequest, PushOutcome, StepResult, WorkspaceStatus,
};
use warden_core::workspace::record::{WorkspaceRecord, WorkspaceState, now_ms};
use warden_core::workspace::request::{
    BranchSpec, CloneSpec, CommitRequest, FinalizeRequest, PrRequest, PushRequest, WorktreeSpec,
};

/// A worktree just provisioned: its record, and what was done to its
/// branch (for [`WorkspaceOps::undo_worktree`]).
#[derive(Debug, Clone)]
pub struct ProvisionedWorktree {
    /// The new workspace's record (`ready`).
    pub record: WorkspaceRecord,
    /// What was done to its branch.
    pub branch: BranchPrep,
}

/// All operations on one workspace. Owns its `Repository` (`Send`, not
/// `Sync`): exactly one executor may hold it.
pub struct WorkspaceOps {
    ctx: Arc<WorkspaceContext>,
    record: WorkspaceRecord,
    repo: Repository,
}

impl std::fmt::Debug for WorkspaceOps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkspaceOps").field("record", &self.record).finish_non_exhaustive()
    }
}

fn parse_id(id: Option<&str>) -> Result<WorkspaceId, WorkspaceError> {
    match id {
        None => Ok(WorkspaceId::generate()),
        Some(s) => WorkspaceId::parse(s).map_err(|source| WorkspaceError::InvalidName { name: s.to_owned(), source }),
    }
}

fn resolve_branch(spec: &BranchSpec) -> Result<BranchName, WorkspaceError> {
    match spec {
        BranchSpec::Named { name } => {
            BranchName::parse(name).map_err(|source| WorkspaceError::InvalidBranch { name: name.clone(), source })
        }
        BranchSpec::Task { task_id, role, summary } => Ok(branch_for_task(task_id, role, summary)),
    }
}

/// Checks a base branch before any git call: no control character, and a
/// valid branch name by git's own rules (`refs/heads/<base>` must be a valid
/// reference name; revision expressions like `a~1` are not branch names).
fn check_base(base: Option<&str>) -> Result<(), WorkspaceError> {
    let Some(base) = base else { return Ok(()) };
    let invalid = |source| WorkspaceError::InvalidBranch { name: base.to_owned(), source };
    warden_core::workspace::naming::validate_branch_name(base).map_err(invalid)?;
    if !git2::Reference::is_valid_name(&format!("refs/heads/{base}")) {
        return Err(invalid(NamingError::BadBoundary("is not a valid git reference name")));
    }
    Ok(())
}

/// The deepest shallow clone git takes (`--depth` is an `int`).
const MAX_DEPTH: u32 = i32::MAX as u32;

/// Checks a shallow clone's depth before any git call: git refuses 0 and
/// anything past an `int` ("is not a positive number"), which would
/// otherwise surface as a git failure instead of a bad request.
fn check_depth(depth: Option<u32>) -> Result<(), WorkspaceError> {
    match depth {
        Some(d) if d == 0 || d > MAX_DEPTH => Err(WorkspaceError::Config {
            message: format!("depth {d} is out of range; a shallow clone takes 1 to {MAX_DEPTH} commits"),
        }),
        _ => Ok(()),
    }
}

/// Checks a repository path or URL: no control character.
fn check_source(source: &str) -> Result<(), WorkspaceError> {
    if let Some(ch) = source.chars().find(|c| c.is_control()) {
        return Err(WorkspaceError::InvalidName {
            name: "repository".into(),
            source: NamingError::ForbiddenChar { ch },
        });
    }
    // Refused before git runs: the URL would be in its argv and in the clone's
    // `.git/config`.
    if let Some(found) = url_credential(source) {
        return Err(WorkspaceError::Config { message: found.refusal() });
    }
    Ok(())
}

/// Runs git work that must end in a recorded outcome: a panic inside a
/// library (libgit2's bindings unwrap on some inputs) becomes an error, so
/// the record is marked `failed` instead of staying `provisioning`.
fn unpanicked<T>(what: &str, f: impl FnOnce() -> Result<T, WorkspaceError>) -> Result<T, WorkspaceError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(panic) => {
            let why = crate::sync::panic_text(panic.as_ref());
            tracing::error!(what, panic = %why, "git work panicked");
            Err(WorkspaceError::Git { message: format!("{what} failed inside git: {why}") })
        }
    }
}

fn step_result<T>(r: Result<T, WorkspaceError>) -> StepResult<T> {
    match r {
        Ok(value) => StepResult::Done { value },
        Err(e) => StepResult::Failed { code: e.code(), message: e.to_string() },
    }
}

impl WorkspaceOps {
    /// Clone `spec.source` into `base_dir/<id>` and check out the work
    /// branch. Local paths are cloned by libgit2; URLs (and shallow clones)
    /// by `git`. The record goes `provisioning` → `ready` (or `failed`, with
    /// the partial directory removed).
    pub fn provision_clone(
        ctx: Arc<WorkspaceContext>,
        spec: &CloneSpec,
        sink: EventSink<'_>,
    ) -> Result<Self, WorkspaceError> {
        let id = parse_id(spec.id.as_deref())?;
        let c = Arc::clone(&ctx);
        traced(&c, &id, "provision_clone", None, sink, |sink| {
            let branch = resolve_branch(&spec.branch)?;
            check_base(spec.base.as_deref())?;
            check_source(&spec.source)?;
            check_depth(spec.depth)?;
            let dir = paths::new_workspace_dir(&ctx.base_dir, &id)?;
            let repo_shown = ctx.redactor.redact(&spec.source);
            let mut record =
                begin_provisioning(&ctx, &id, &dir, repo_shown, &branch, spec.base.as_deref(), None, sink)?;
            let made = unpanicked("provisioning", || {
                let repo = clone_repo(&ctx, spec, &dir)?;
                let (base_name, base_oid) = git::resolve_base(&repo, spec.base.as_deref())?;
                branches::prepare_branch(&repo, &branch, &ctx.remote, base_oid)?;
                git::checkout_branch(&repo, &branch)?;
                Ok((repo, base_name))
            })
            .map_err(|e| e.redacted(&ctx.redactor))
            .and_then(|(repo, base_name)| mark_ready(&ctx, &mut record, &dir, base_name, sink).map(|()| repo));
            match made {
                Ok(repo) => Ok(Self { ctx: Arc::clone(&ctx), record, repo }),
                Err(e) => {
                    fail_provisioning(&ctx, &mut record, &e, sink);
                    if dir.exists() {
                        let _ = std::fs::remove_dir_all(&dir);
                    }
                    Err(e)
                }
            }
        })
    }

    /// Open an existing `ready` workspace from the registry.
    pub fn open(ctx: Arc<WorkspaceContext>, id: &WorkspaceId) -> Result<Self, WorkspaceError> {
        let record =
            ctx.registry.get(id)?.ok_or_else(|| WorkspaceError::NotFound { what: format!("workspace {id}") })?;
        if record.state != WorkspaceState::Ready {
            return Err(WorkspaceError::Conflict {
                message: format!("workspace {id} is {:?}, not ready", record.state).to_lowercase(),
            });
        }
        let dir = paths::existing_workspace_dir(&ctx.base_dir, &record.path)?;
        let repo = Repository::open(&dir)?;
        Ok(Self { ctx, record, repo })
    }

    /// Re-read this workspace's record (another process may have cleaned
    /// it up); anything but `ready` is [`WorkspaceError::NotReady`].
    pub fn check_current(&mut self) -> Result<(), WorkspaceError> {
        let id = &self.record.id;
        match self.ctx.registry.get(id)? {
            Some(r) if r.state == WorkspaceState::Ready => {
                self.record = r;
                Ok(())
            }
            Some(r) => Err(WorkspaceError::NotReady { id: id.to_string(), state: r.state }),
            None => Err(WorkspaceError::NotFound { what: format!("workspace {id}") }),
        }
    }

    /// The shared context.
    pub fn context(&self) -> &Arc<WorkspaceContext> {
        &self.ctx
    }

    /// The registry record as last written by this workspace.
    pub fn record(&self) -> &WorkspaceRecord {
        &self.record
    }

    /// The workspace id.
    pub fn id(&self) -> &WorkspaceId {
        &self.record.id
    }

    /// Add a worktree of this workspace (run on *this* workspace's executor:
    /// it writes the shared `.git`) on a branch made ready by
    /// [`branches::prepare_branch`]. Returns the new workspace's record (open
    /// it with [`WorkspaceOps::open`] on its own executor) and what was done
    /// to its branch. A failure leaves nothing behind: the directory, the
    /// admin entry and what was done to the branch are undone (the record
    /// stays, `failed`).
    pub fn provision_worktree(
        &mut self,
        spec: &WorktreeSpec,
        sink: EventSink<'_>,
    ) -> Result<ProvisionedWorktree, WorkspaceError> {
        let id = parse_id(spec.id.as_deref())?;
        let ctx = Arc::clone(&self.ctx);
        traced(&ctx, &id, "provision_worktree", None, sink, |sink| {
            if self.record.is_worktree() {
                return Err(WorkspaceError::Config {
                    message: format!("workspace {} is a worktree; add worktrees to its parent", self.record.id),
                });
            }
            let branch = resolve_branch(&spec.branch)?;
            check_base(spec.base.as_deref())?;
            let dir = paths::new_workspace_dir(&ctx.base_dir, &id)?;
            let parent = Some(self.record.id.clone());
            let repo_shown = self.record.repo.clone();
            let mut record =
                begin_provisioning(&ctx, &id, &dir, repo_shown, &branch, spec.base.as_deref(), parent, sink)?;
            // What was done to the branch, so that a failure undoes just that.
            let mut prep = None;
            let made = unpanicked("provisioning", || {
                let (base_name, base_oid) = git::resolve_base(&self.repo, spec.base.as_deref())?;
                // Before the branch is looked at: a stale entry would count as
                // having it checked out.
                git::prune_stale_worktrees(&self.repo);
                prep = Some(branches::prepare_branch(&self.repo, &branch, &ctx.remote, base_oid)?);
                git::add_worktree(&self.repo, &id, &dir, &branch)?;
                Ok(base_name)
            })
            .map_err(|e| e.redacted(&ctx.redactor))
            .and_then(|base_name| mark_ready(&ctx, &mut record, &dir, base_name, sink));
            match made {
                Ok(()) => Ok(ProvisionedWorktree { record, branch: prep.unwrap_or(BranchPrep::Kept) }),
                Err(e) => {
                    fail_provisioning(&ctx, &mut record, &e, sink);
                    self.undo_worktree_parts(&id, &dir, &branch, prep);
                    Err(e)
                }
            }
        })
    }

    /// Removes what a worktree provisioning of this workspace made (its
    /// directory and admin entry, and what it did to the branch); best
    /// effort, failures are logged.
    fn undo_worktree_parts(
        &self,
        id: &WorkspaceId,
        dir: &std::path::Path,
        branch: &BranchName,
        prep: Option<BranchPrep>,
    ) {
        if let Err(e) = git::remove_worktree(&self.repo, id, dir) {
            tracing::warn!(workspace = %id, error = %e.redacted(&self.ctx.redactor), "cannot remove the worktree of a failed provisioning");
        }
        if let Some(prep) = prep
            && let Err(e) = branches::undo_prepare(&self.repo, branch, prep)
        {
            tracing::warn!(workspace = %id, %branch, error = %e.redacted(&self.ctx.redactor), "cannot undo the branch of a failed provisioning");
        }
    }

    /// Takes back worktree `child` of this workspace that a caller had
    /// provisioned ([`WorkspaceOps::provision_worktree`]) and could not use
    /// (a task whose later step failed): its directory and admin entry go,
    /// its branch is undone as `prep` says ([`branches::undo_prepare`]), and
    /// its registry record is forgotten. Refuses a worktree with changes
    /// (`dirty`): only an untouched one is taken back.
    pub fn undo_worktree(
        &mut self,
        child: &WorkspaceId,
        prep: BranchPrep,
        sink: EventSink<'_>,
    ) -> Result<(), WorkspaceError> {
        let ctx = Arc::clone(&self.ctx);
        traced(&ctx, child, "undo_worktree", Some(Step::Cleanup), sink, |sink| {
            let (_child_lock, record) = self.lock_child(&ctx, child)?;
            if record.path.exists() {
                let dir = paths::existing_workspace_dir(&ctx.base_dir, &record.path)?;
                let st = git::status(&Repository::open(&dir)?)?;
                if !st.files.is_empty() {
                    return Err(WorkspaceError::Dirty { files: st.files.len() });
                }
            }
            git::remove_worktree(&self.repo, child, &record.path)?;
            branches::undo_prepare(&self.repo, &record.branch, prep)?;
            ctx.registry.remove(child)?;
            sink(EventKind::WorkspaceCleaned { workspace: child.clone(), forced: true });
            Ok(())
        })
    }

    /// Changed files and unpushed commits. Read-only: never takes `index.lock`.
    pub fn status(&mut self) -> Result<WorkspaceStatus, WorkspaceError> {
        let ctx = Arc::clone(&self.ctx);
        traced(&ctx, &self.record.id, "status", None, &mut |_| {}, |_| git::status(&self.repo))
    }

    /// Diff stat of the working tree against HEAD. Read-only.
    pub fn diff_stat(&mut self) -> Result<DiffStat, WorkspaceError> {
        let ctx = Arc::clone(&self.ctx);
        traced(&ctx, &self.record.id, "diff_stat", None, &mut |_| {}, |_| git::diff_stat(&self.repo))
    }

    /// Commit all changes, or only `req.paths`. "Nothing to commit" is
    /// `Ok(CommitOutcome::NothingToCommit)`.
    pub fn commit(&mut self, req: &CommitRequest, sink: EventSink<'_>) -> Result<CommitOutcome, WorkspaceError> {
        let ctx = Arc::clone(&self.ctx);
        traced(&ctx, &self.record.id, "commit", Some(Step::Commit), sink, |sink| {
            // Before anything is staged: a refused request changes nothing.
            req.check().map_err(|source| WorkspaceError::InvalidCommit { source })?;
            let paths = match &req.paths {
                None => None,
                Some(ps) => Some(
                    ps.iter().map(|p| paths::relative_path_in(&self.record.path, p)).collect::<Result<Vec<_>, _>>()?,
                ),
            };
            let author = req.author.as_ref().unwrap_or(&ctx.identity);
            let outcome = git::commit(&self.repo, paths.as_deref(), &req.message, author)?;
            if let CommitOutcome::Committed { commit, files } = &outcome {
                sink(EventKind::Committed {
                    workspace: self.record.id.clone(),
                    commit: commit.clone(),
                    files: files.clone(),
                });
            }
            Ok(outcome)
        })
    }

    /// Push the workspace branch to the remote and record it as upstream.
    /// Never forces unless both the request and the configuration allow it
    /// (then `--force-with-lease`).
    pub fn push(&mut self, req: &PushRequest, sink: EventSink<'_>) -> Result<PushOutcome, WorkspaceError> {
        let ctx = Arc::clone(&self.ctx);
        traced(&ctx, &self.record.id, "push", Some(Step::Push), sink, |sink| {
            if req.force && !ctx.allow_force_push {
                return Err(WorkspaceError::Config {
                    message: "force push is disabled by configuration (allow_force_push)".into(),
                });
            }
            let remote = ctx.remote.as_str();
            let url = git::push_url(&self.repo, remote)?;
            self.check_remote_url(&ctx, &url)?;
            let branch = &self.record.branch;
            let commit = git::branch_head(&self.repo, branch)?.to_string();
            let refspec = format!("{0}:{0}", branch.full_ref());
            let mut args = vec!["push", "--porcelain"];
            if is_local_source(&url) {
                // The receiving side of a local remote is our own child too:
                // its automatic maintenance must not detach (a detached one
                // comes back to warden, the subreaper, as a zombie). Config
                // given with `-c` does not reach it (git clears it for the
                // "remote" side), so it is named in its command.
                args.push(LOCAL_RECEIVE_PACK);
            }
            if req.force {
                args.push("--force-with-lease");
            }
            args.extend([remote, refspec.as_str()]);
            let out = ctx.git.run(&self.record.path, &args, Some(&url), &ctx.redactor)?;
            git::set_upstream(&self.repo, branch, remote)?;
            sink(EventKind::Pushed {
                workspace: self.record.id.clone(),
                remote: remote.to_owned(),
                branch: branch.clone(),
                commit: commit.clone(),
            });
            Ok(PushOutcome {
                remote: remote.to_owned(),
                branch: branch.clone(),
                commit,
                up_to_date: out.stdout.contains("[up to date]"),
            })
        })
    }

    /// `git fetch --prune` from the remote. On a parent with worktrees, run
    /// it on the parent's executor (it writes shared refs).
    pub fn fetch(&mut self, sink: EventSink<'_>) -> Result<(), WorkspaceError> {
        let ctx = Arc::clone(&self.ctx);
        traced(&ctx, &self.record.id, "fetch", Some(Step::Fetch), sink, |_| {
            // `git fetch` talks to the remote's `url` (a `pushurl` is for pushes only).
            let url = git::fetch_url(&self.repo, &ctx.remote)?;
            self.check_remote_url(&ctx, &url)?;
            ctx.git.run(&self.record.path, &["fetch", "--prune", &ctx.remote], Some(&url), &ctx.redactor)?;
            Ok(())
        })
    }

    /// Open a pull request from the workspace branch.
    pub fn create_pr(&mut self, req: &PrRequest, sink: EventSink<'_>) -> Result<PullRequest, WorkspaceError> {
        let ctx = Arc::clone(&self.ctx);
        traced(&ctx, &self.record.id, "create_pr", Some(Step::Pr), sink, |sink| {
            let token = ctx.github_token.as_ref().ok_or_else(|| WorkspaceError::Config {
                message: "no GitHub token; set github.token, GITHUB_TOKEN or GH_TOKEN".into(),
            })?;
            let slug = match &req.repo {
                Some(s) => s.clone(),
                None => {
                    let url = git::push_url(&self.repo, &ctx.remote)?;
                    github::parse_remote(&url).filter(|slug| github::serves(&ctx.github, &slug.host)).ok_or_else(
                        || WorkspaceError::Config {
                            message: format!(
                                "cannot tell the GitHub repository from remote {:?} (not a repository on {}); pass repo",
                                ctx.redactor.redact(&url),
                                github::served_host(&ctx.github),
                            ),
                        },
                    )?
                }
            };
            let base = req.base.as_deref().unwrap_or(&self.record.base);
            let pr = github::create_pull_request(
                &ctx.github,
                token,
                &slug,
                self.record.branch.as_str(),
                base,
                req,
                &ctx.redactor,
            )?;
            sink(EventKind::PrCreated { workspace: self.record.id.clone(), number: pr.number, url: pr.url.clone() });
            Ok(pr)
        })
    }

    /// Refuses to let `git` talk to the remote at `url` (set outside warden,
    /// perhaps by the agent) when it carries credentials, or when a git
    /// token is configured and `url` is an `http(s)` origin other than the
    /// one this workspace was cloned from: the token is only ever offered
    /// there, so pointing the remote at a host of one's choosing cannot
    /// collect it.
    fn check_remote_url(&self, ctx: &WorkspaceContext, url: &str) -> Result<(), WorkspaceError> {
        let remote = ctx.remote.as_str();
        if let Some(found) = url_credential(url) {
            return Err(WorkspaceError::Config { message: format!("remote {remote:?}: {}", found.refusal()) });
        }
        if ctx.git.token.is_none() {
            return Ok(());
        }
        let Some(now) = http_origin(url) else { return Ok(()) };
        // Host names are case-insensitive.
        if http_origin(&self.record.repo).is_some_and(|cloned| cloned.eq_ignore_ascii_case(&now)) {
            return Ok(());
        }
        Err(WorkspaceError::Config {
            message: format!(
                "remote {remote:?} points at {}, not at the origin this workspace was cloned from; \
                 the git token is offered only there (set the remote's URL back, or run without a token)",
                ctx.redactor.redact(&now)
            ),
        })
    }

    fn guard_no_work(&self) -> Result<(), WorkspaceError> {
        let st = git::status(&self.repo)?;
        if !st.files.is_empty() {
            return Err(WorkspaceError::Dirty { files: st.files.len() });
        }
        if st.unpushed > 0 {
            return Err(WorkspaceError::Unpushed { commits: st.unpushed });
        }
        Ok(())
    }

    /// Remove this workspace. Refuses uncommitted or unpushed work unless
    /// `force`. A clone is removed here (and refuses while it has live
    /// worktrees); a worktree answers [`CleanupOutcome::DelegateToParent`].
    /// After `Removed`, the owner should drop this `WorkspaceOps`.
    pub fn cleanup(&mut self, force: bool, sink: EventSink<'_>) -> Result<CleanupOutcome, WorkspaceError> {
        let ctx = Arc::clone(&self.ctx);
        let id = self.record.id.clone();
        traced(&ctx, &id, "cleanup", Some(Step::Cleanup), sink, |sink| {
            if !force {
                self.guard_no_work()?;
            }
            if let Some(parent) = &self.record.parent {
                return Ok(CleanupOutcome::DelegateToParent { parent: parent.clone() });
            }
            let live: Vec<_> = ctx
                .registry
                .list()?
                .into_iter()
                .filter(|r| {
                    r.parent.as_ref() == Some(&self.record.id)
                        && matches!(r.state, WorkspaceState::Ready | WorkspaceState::Provisioning)
                })
                .map(|r| r.id.to_string())
                .collect();
            if !live.is_empty() {
                return Err(WorkspaceError::Conflict {
                    message: format!("workspace has live worktrees ({}); clean them up first", live.join(", ")),
                });
            }
            let dir = paths::existing_workspace_dir(&ctx.base_dir, &self.record.path)?;
            std::fs::remove_dir_all(&dir).map_err(|e| WorkspaceError::io(format!("removing {}", dir.display()), e))?;
            self.record = ctx.registry.update(&self.record.id, |r| r.state = WorkspaceState::Cleaned)?;
            sink(EventKind::WorkspaceCleaned { workspace: self.record.id.clone(), forced: force });
            Ok(CleanupOutcome::Removed)
        })
    }

    /// Locks worktree `child` of this workspace (parent before child: the only
    /// order in which both are held) and reads its record; `NotFound` when
    /// it is not a worktree of this workspace.
    fn lock_child(
        &self,
        ctx: &WorkspaceContext,
        child: &WorkspaceId,
    ) -> Result<(WorkspaceLock, WorkspaceRecord), WorkspaceError> {
        let lock = ctx.registry.lock_workspace(child)?;
        let record =
            ctx.registry.get(child)?.ok_or_else(|| WorkspaceError::NotFound { what: format!("workspace {child}") })?;
        if record.parent.as_ref() != Some(&self.record.id) {
            return Err(WorkspaceError::NotFound { what: format!("worktree {child} of workspace {}", self.record.id) });
        }
        Ok((lock, record))
    }

    /// Remove worktree `child` of this workspace (run on *this* workspace's
    /// executor, after the child's executor has stopped). Refuses
    /// uncommitted or unpushed work unless `force`. The branch is kept.
    pub fn remove_worktree(
        &mut self,
        child: &WorkspaceId,
        force: bool,
        sink: EventSink<'_>,
    ) -> Result<(), WorkspaceError> {
        let ctx = Arc::clone(&self.ctx);
        traced(&ctx, child, "remove_worktree", Some(Step::Cleanup), sink, |sink| {
            let (_child_lock, record) = self.lock_child(&ctx, child)?;
            let present = record.path.exists();
            if present {
                let dir = paths::existing_workspace_dir(&ctx.base_dir, &record.path)?;
                if !force && record.state == WorkspaceState::Ready {
                    let child_repo = Repository::open(&dir)?;
                    let st = git::status(&child_repo)?;
                    if !st.files.is_empty() {
                        return Err(WorkspaceError::Dirty { files: st.files.len() });
                    }
                    if st.unpushed > 0 {
                        return Err(WorkspaceError::Unpushed { commits: st.unpushed });
                    }
                }
            }
            git::remove_worktree(&self.repo, child, &record.path)?;
            ctx.registry.update(child, |r| r.state = WorkspaceState::Cleaned)?;
            sink(EventKind::WorkspaceCleaned { workspace: child.clone(), forced: force });
            Ok(())
        })
    }

    /// Remove finished worktree `child` of this workspace for the retention
    /// policy (run on *this* workspace's executor, after the child's executor
    /// has stopped): work left uncommitted is first committed on its branch
    /// (`message`), the directory and admin entry go, the branch is deleted
    /// when no commit of it is missing from the remote-tracking branches
    /// (kept otherwise), and the child's registry record is forgotten (the
    /// task record says what became of it).
    pub fn retire_worktree(
        &mut self,
        child: &WorkspaceId,
        message: &str,
        sink: EventSink<'_>,
    ) -> Result<RetiredWorktree, WorkspaceError> {
        let ctx = Arc::clone(&self.ctx);
        traced(&ctx, child, "retire_worktree", Some(Step::Cleanup), sink, |sink| {
            let (_child_lock, record) = self.lock_child(&ctx, child)?;
            let mut out = RetiredWorktree::default();
            if record.path.exists() {
                let dir = paths::existing_workspace_dir(&ctx.base_dir, &record.path)?;
                let child_repo = Repository::open(&dir)?;
                if !git::status(&child_repo)?.files.is_empty()
                    && let CommitOutcome::Committed { commit, files } =
                        git::commit(&child_repo, None, message, &ctx.identity)?
                {
                    sink(EventKind::Committed { workspace: child.clone(), commit: commit.clone(), files });
                    out.saved_commit = Some(commit);
                }
            }
            out.unpushed = branches::unpushed_on_branch(&self.repo, &record.branch)?;
            git::remove_worktree(&self.repo, child, &record.path)?;
            out.branch_kept = out.unpushed > 0;
            if !out.branch_kept {
                branches::delete_branch(&self.repo, &record.branch)?;
            }
            ctx.registry.remove(child)?;
            sink(EventKind::WorkspaceCleaned { workspace: child.clone(), forced: false });
            Ok(out)
        })
    }

    /// Merge local `branches` of this (parent) workspace, in order, into
    /// local branch `into`, starting from `base` (see [`branches::merge_into`]).
    pub fn merge_branches(
        &mut self,
        into: &BranchName,
        base: &str,
        branches: &[BranchName],
        message: &str,
        sink: EventSink<'_>,
    ) -> Result<String, WorkspaceError> {
        let ctx = Arc::clone(&self.ctx);
        let id = self.record.id.clone();
        traced(&ctx, &id, "merge_branches", Some(Step::Commit), sink, |_| {
            branches::merge_into(&self.repo, into, base, branches, message, &ctx.identity)
        })
    }

    /// Commit, then push, PR and cleanup as requested, in order; each step
    /// runs only if the earlier ones succeeded. Never returns early: the
    /// report says what each step did.
    pub fn finalize(&mut self, req: &FinalizeRequest, sink: EventSink<'_>) -> FinalizeReport {
        let commit = step_result(self.commit(&req.commit, &mut *sink));
        let mut ok = !commit.is_failed();
        let push = match (&req.push, ok) {
            (None, _) => StepResult::skipped("not requested"),
            (Some(_), false) => StepResult::skipped("an earlier step failed"),
            (Some(p), true) => step_result(self.push(p, &mut *sink)),
        };
        ok &= !push.is_failed();
        let pr = match (&req.pr, ok) {
            (None, _) => StepResult::skipped("not requested"),
            (Some(_), false) => StepResult::skipped("an earlier step failed"),
            (Some(p), true) => step_result(self.create_pr(p, &mut *sink)),
        };
        ok &= !pr.is_failed();
        let cleanup = match (req.cleanup, ok) {
            (None, _) => StepResult::skipped("not requested"),
            (Some(_), false) => StepResult::skipped("an earlier step failed"),
            (Some(force), true) => step_result(self.cleanup(force, &mut *sink)),
        };
        FinalizeReport { commit, push, pr, cleanup }
    }
}

fn clone_repo(ctx: &WorkspaceContext, spec: &CloneSpec, dir: &std::path::Path) -> Result<Repository, WorkspaceError> {
    let local = is_local_source(&spec.source);
    // A path that is not there: say so, before libgit2 or git guesses a URL
    // protocol from it (`git: unsupported URL protocol`).
    if local && !spec.source.starts_with("file://") && !std::path::Path::new(&spec.source).exists() {
        return Err(WorkspaceError::Config {
            message: format!("repository path {} does not exist (give an existing path or a URL)", spec.source),
        });
    }
    if local && spec.depth.is_none() {
        return git::clone_local(&spec.source, dir, spec.base.as_deref());
    }
    let depth = spec.depth.map(|d| d.to_string());
    // Shallow clones of local paths need file:// (git ignores depth for plain paths).
    let source = if local && !spec.source.starts_with("file://") {
        let abs = std::fs::canonicalize(&spec.source)
            .map_err(|e| WorkspaceError::io(format!("resolving {}", spec.source), e))?;
        format!("file://{}", abs.display())
    } else {
        spec.source.clone()
    };
    let dir_s = dir.to_string_lossy();
    let mut args: Vec<&str> = vec!["clone"];
    if let Some(d) = &depth {
        args.extend(["--depth", d.as_str()]);
    }
    if let Some(b) = &spec.base {
        args.extend(["--branch", b.as_str()]);
    }
    args.extend(["--", source.as_str(), dir_s.as_ref()]);
    ctx.git.run(&ctx.base_dir, &args, Some(&source), &ctx.redactor)?;
    Ok(Repository::open(dir)?)
}

/// The receive-pack command for pushes to a local remote: maintenance in the
/// foreground.
const LOCAL_RECEIVE_PACK: &str =
    "--receive-pack=git -c gc.autoDetach=false -c maintenance.autoDetach=false receive-pack";

/// A plain path or `file://` URL (not `scheme://`, not scp-like `host:path`).
fn is_local_source(source: &str) -> bool {
    if source.starts_with("file://") {
        return true;
    }
    if source.contains("://") {
        return false;
    }
    match source.find(':') {
        Some(colon) => source[..colon].contains('/'),
        None => true,
    }
}

/// Test hook: with `WARDEN_TEST_PAUSE_AFTER_RECORD=<id>` in the environment,
/// provisioning of workspace `<id>` stops for good right after its
/// `provisioning` record is written, so that tests can kill warden at exactly
/// that point; with `<id>:<file>` (ids have no `:`) it stops there until
/// `<file>` exists, so that tests can hold a clone in the middle for as long
/// as they need. Has no effect for any other id. Only with the `test-hooks`
/// feature: a default build never reads the variable.
#[cfg(feature = "test-hooks")]
pub const PAUSE_AFTER_RECORD_ENV: &str = "WARDEN_TEST_PAUSE_AFTER_RECORD";

/// Records a workspace as `provisioning` (so a crash leaves a trace) and
/// announces it; the directory is made afterwards.
#[allow(clippy::too_many_arguments)]
fn begin_provisioning(
    ctx: &WorkspaceContext,
    id: &WorkspaceId,
    dir: &std::path::Path,
    repo: String,
    branch: &BranchName,
    base: Option<&str>,
    parent: Option<WorkspaceId>,
    sink: EventSink<'_>,
) -> Result<WorkspaceRecord, WorkspaceError> {
    let now = now_ms();
    let record = WorkspaceRecord {
        version: 1,
        id: id.clone(),
        path: dir.to_path_buf(),
        repo,
        branch: branch.clone(),
        base: base.unwrap_or_default().to_string(),
        parent,
        state: WorkspaceState::Provisioning,
        created_at: now,
        updated_at: now,
        owner: Some(this_process()),
        error: None,
    };
    ctx.registry.insert_new(&record)?;
    #[cfg(feature = "test-hooks")]
    pause_for_tests(id);
    sink(EventKind::WorkspaceProvisioning {
        workspace: id.clone(),
        repo: record.repo.clone(),
        branch: branch.clone(),
        parent: record.parent.clone(),
    });
    Ok(record)
}

/// Records a provisioned workspace as `ready` and announces it.
fn mark_ready(
    ctx: &WorkspaceContext,
    record: &mut WorkspaceRecord,
    dir: &std::path::Path,
    base: String,
    sink: EventSink<'_>,
) -> Result<(), WorkspaceError> {
    record.path = paths::existing_workspace_dir(&ctx.base_dir, dir)?;
    record.base = base;
    record.state = WorkspaceState::Ready;
    record.owner = None;
    record.updated_at = now_ms();
    ctx.registry.put(record)?;
    sink(ready_event(record));
    Ok(())
}

#[cfg(feature = "test-hooks")]
fn pause_for_tests(id: &WorkspaceId) {
    let Ok(value) = std::env::var(PAUSE_AFTER_RECORD_ENV) else { return };
    let (named, until) = match value.split_once(':') {
        Some((named, file)) => (named, Some(std::path::PathBuf::from(file))),
        None => (value.as_str(), None),
    };
    if named != id.as_str() {
        return;
    }
    match until {
        None => {
            tracing::warn!(workspace = %id, "{PAUSE_AFTER_RECORD_ENV}: provisioning paused for good");
            loop {
                std::thread::park();
            }
        }
        Some(file) => {
            tracing::warn!(workspace = %id, file = %file.display(), "{PAUSE_AFTER_RECORD_ENV}: provisioning paused until the file exists");
            while !file.exists() {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
}

fn ready_event(record: &WorkspaceRecord) -> EventKind {
    EventKind::WorkspaceReady {
        workspace: record.id.clone(),
        path: record.path.clone(),
        branch: record.branch.clone(),
        base: record.base.clone(),
    }
}

fn fail_provisioning(
    ctx: &WorkspaceContext,
    record: &mut WorkspaceRecord,
    e: &WorkspaceError,
    sink: &mut dyn FnMut(EventKind),
) {
    record.state = WorkspaceState::Failed;
    record.owner = None;
    record.error = Some(e.to_string());
    record.updated_at = now_ms();
    if let Err(re) = ctx.registry.put(record) {
        tracing::error!(error = %re, "could not record failed provisioning");
    }
    // Failed records do not pile up: the retention policy forgets the oldest.
    ctx.prune();
    sink(EventKind::WorkspaceFailed {
        workspace: record.id.clone(),
        step: Step::Provision,
        code: e.code(),
        message: e.to_string(),
    });
}

#[cfg(test)]
mod tests {
    use super::is_local_source;

    #[test]
    fn local_sources() {
        assert!(is_local_source("/srv/r.git"));
        assert!(is_local_source("./r"));
        assert!(is_local_source("file:///srv/r.git"));
        assert!(is_local_source("dir/with:colon"));
        assert!(!is_local_source("https://h/r.git"));
        assert!(!is_local_source("git@h:o/r.git"));
    }
}
