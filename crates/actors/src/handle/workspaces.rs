//! The workspace part of the embedding API: `impl Warden`.
//!
//! Each call is routed to the workspace's actor (worktree add/remove and
//! fetch to the parent's), so calls on one workspace are served one at a
//! time in arrival order while different workspaces proceed in parallel.
//! A workspace provisioned by another `warden` process on the same state
//! directory gets an actor here on first use.

use std::sync::Arc;
use std::time::Duration;

use ractor::{ActorRef, RpcReplyPort};
use warden_core::workspace::{
    CleanupOutcome, CommitOutcome, CommitRequest, DiffStat, FinalizeReport, FinalizeRequest, PrRequest, ProvisionSpec,
    PullRequest, PushOutcome, PushRequest, StepResult, WorkspaceId, WorkspaceRecord, WorkspaceState, WorkspaceStatus,
    WorktreeSpec,
};

use super::Warden;
use crate::workspace::WorkspaceMsg;
use crate::workspace::WorkspaceSupMsg;
use crate::workspace::engine::{ProvisionedWorktree, WorkspaceOps};
use crate::workspace::error::WorkspaceError;
use crate::workspace::registry::{RecoveryReport, process_alive};

/// How long the workspace supervisor may take to answer (it never does long work).
const SUP_TIMEOUT: Duration = Duration::from_secs(30);

fn unavailable(what: &str) -> WorkspaceError {
    WorkspaceError::Unavailable { message: format!("{what}; is warden shutting down?") }
}

fn invalid_id(id: &str) -> impl FnOnce(warden_core::workspace::NamingError) -> WorkspaceError + '_ {
    move |source| WorkspaceError::InvalidName { name: id.to_owned(), source }
}

/// Run blocking workspace work off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, WorkspaceError> + Send + 'static,
) -> Result<T, WorkspaceError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| WorkspaceError::Unavailable { message: e.to_string() })?
}

/// Ask a workspace actor; git work has its own time limits, so no timeout here.
async fn ask<T: Send + 'static>(
    actor: &ActorRef<WorkspaceMsg>,
    msg: impl FnOnce(RpcReplyPort<Result<T, WorkspaceError>>) -> WorkspaceMsg,
) -> Result<T, WorkspaceError> {
    match actor.call(msg, None).await {
        Ok(ractor::rpc::CallResult::Success(r)) => r,
        _ => Err(unavailable("the workspace's actor stopped before answering")),
    }
}

impl Warden {
    async fn workspace_sup<T: Send + 'static>(
        &self,
        msg: impl FnOnce(RpcReplyPort<T>) -> WorkspaceSupMsg,
    ) -> Result<T, WorkspaceError> {
        match self.workspaces().sup.call(msg, Some(SUP_TIMEOUT)).await {
            Ok(ractor::rpc::CallResult::Success(v)) => Ok(v),
            _ => Err(unavailable("the workspace supervisor did not answer")),
        }
    }

    async fn adopt(&self, ops: WorkspaceOps) -> Result<ActorRef<WorkspaceMsg>, WorkspaceError> {
        self.workspace_sup(|reply| WorkspaceSupMsg::Adopt { ops: Box::new(ops), reply }).await?
    }

    /// The actor of `id`, started from the registry if this process has none.
    async fn workspace_actor(&self, id: &WorkspaceId) -> Result<ActorRef<WorkspaceMsg>, WorkspaceError> {
        let key = id.clone();
        if let Some(actor) = self.workspace_sup(|reply| WorkspaceSupMsg::Lookup { id: key, reply }).await? {
            return Ok(actor);
        }
        let ctx = Arc::clone(&self.workspaces().ctx);
        let id = id.clone();
        let ops = blocking(move || WorkspaceOps::open(ctx, &id)).await?;
        self.adopt(ops).await
    }

    async fn record_of(&self, id: &WorkspaceId) -> Result<WorkspaceRecord, WorkspaceError> {
        let ctx = Arc::clone(&self.workspaces().ctx);
        let id = id.clone();
        blocking(move || {
            ctx.registry().get(&id)?.ok_or_else(|| WorkspaceError::NotFound { what: format!("workspace {id}") })
        })
        .await
    }

    /// Provisions a workspace: a clone of a repository (URL or local path)
    /// into `<base_dir>/<id>`, or a worktree of an existing clone (added by
    /// the parent's actor). Returns its registry record (`ready`).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use warden_actors::{Warden, WardenConfig};
    /// use warden_core::workspace::{BranchSpec, CloneSpec, CommitRequest, FinalizeRequest, ProvisionSpec, PushRequest};
    ///
    /// let warden = Warden::start(WardenConfig::new("/tmp/warden-demo")).await?;
    /// let ws = warden
    ///     .provision_workspace(ProvisionSpec::Clone(CloneSpec {
    ///         id: None,
    ///         source: "/srv/git/project.git".into(),
    ///         branch: BranchSpec::Named { name: "feat/y".into() },
    ///         base: None,
    ///         depth: None,
    ///     }))
    ///     .await?;
    /// std::fs::write(ws.path.join("g.txt"), "g\n")?;
    /// let commit = CommitRequest { message: "add g".into(), ..Default::default() };
    /// let report = warden
    ///     .finalize_workspace(&ws.id, FinalizeRequest { commit, push: Some(PushRequest::default()), ..Default::default() })
    ///     .await?;
    /// assert!(report.succeeded());
    /// # Ok(()) }
    /// ```
    pub async fn provision_workspace(&self, spec: ProvisionSpec) -> Result<WorkspaceRecord, WorkspaceError> {
        match spec {
            ProvisionSpec::Clone(spec) => {
                let ctx = Arc::clone(&self.workspaces().ctx);
                let bus = self.bus().clone();
                let ops = blocking(move || {
                    WorkspaceOps::provision_clone(ctx, &spec, &mut |kind| {
                        bus.publish(None, kind);
                    })
                })
                .await?;
                let record = ops.record().clone();
                self.adopt(ops).await?;
                Ok(record)
            }
            ProvisionSpec::Worktree(spec) => Ok(self.add_worktree(spec).await?.record),
        }
    }

    /// Provisions a worktree (through its parent's actor) and starts its
    /// actor; also says what was done to its branch, for [`Warden::undo_worktree`].
    pub(crate) async fn add_worktree(&self, spec: WorktreeSpec) -> Result<ProvisionedWorktree, WorkspaceError> {
        let parent = WorkspaceId::parse(&spec.parent).map_err(invalid_id(&spec.parent))?;
        let actor = self.workspace_actor(&parent).await?;
        let made = ask(&actor, |reply| WorkspaceMsg::AddWorktree(spec, reply)).await?;
        let ctx = Arc::clone(&self.workspaces().ctx);
        let id = made.record.id.clone();
        let ops = blocking(move || WorkspaceOps::open(ctx, &id)).await?;
        self.adopt(ops).await?;
        Ok(made)
    }

    /// Takes back a worktree [`Warden::add_worktree`] made that its caller
    /// could not use (see [`WorkspaceOps::undo_worktree`]): its actor is
    /// retired, then its parent's actor removes it and undoes its branch.
    pub(crate) async fn undo_worktree(&self, made: &ProvisionedWorktree) -> Result<(), WorkspaceError> {
        let parent = made.record.parent.clone().ok_or_else(|| WorkspaceError::Conflict {
            message: format!("workspace {} is not a worktree", made.record.id),
        })?;
        let key = made.record.id.clone();
        self.workspace_sup(|reply| WorkspaceSupMsg::Retire { id: key, reply }).await?;
        let actor = self.workspace_actor(&parent).await?;
        let (child, prep) = (made.record.id.clone(), made.branch);
        ask(&actor, |reply| WorkspaceMsg::UndoWorktree { child, prep, reply }).await
    }

    /// The registry record of a workspace.
    /// The directory that holds every workspace of this instance.
    pub fn workspace_base_dir(&self) -> &std::path::Path {
        self.workspaces().ctx.base_dir()
    }

    /// One workspace's record.
    pub async fn workspace(&self, id: &WorkspaceId) -> Result<WorkspaceRecord, WorkspaceError> {
        self.record_of(id).await
    }

    /// Changed files, branch, HEAD and unpushed commits. Read-only: never
    /// takes git's `index.lock`, so polling cannot disturb an agent's git.
    pub async fn workspace_status(&self, id: &WorkspaceId) -> Result<WorkspaceStatus, WorkspaceError> {
        ask(&self.workspace_actor(id).await?, WorkspaceMsg::Status).await
    }

    /// Diff stat of the working tree (untracked files included) against HEAD. Read-only.
    pub async fn workspace_diff(&self, id: &WorkspaceId) -> Result<DiffStat, WorkspaceError> {
        ask(&self.workspace_actor(id).await?, WorkspaceMsg::Diff).await
    }

    /// Commits all changes (or the given paths). Nothing to commit is
    /// `Ok(CommitOutcome::NothingToCommit)`.
    pub async fn commit(&self, id: &WorkspaceId, req: CommitRequest) -> Result<CommitOutcome, WorkspaceError> {
        ask(&self.workspace_actor(id).await?, |reply| WorkspaceMsg::Commit(req, reply)).await
    }

    /// Pushes the workspace's branch and sets its upstream. Never forces
    /// unless both the request and the configuration allow it.
    pub async fn push(&self, id: &WorkspaceId, req: PushRequest) -> Result<PushOutcome, WorkspaceError> {
        ask(&self.workspace_actor(id).await?, |reply| WorkspaceMsg::Push(req, reply)).await
    }

    /// Opens a pull request from the workspace's branch (GitHub REST API).
    pub async fn create_pr(&self, id: &WorkspaceId, req: PrRequest) -> Result<PullRequest, WorkspaceError> {
        ask(&self.workspace_actor(id).await?, |reply| WorkspaceMsg::CreatePr(req, reply)).await
    }

    /// Fetches from the remote (for a worktree, through its parent's actor:
    /// the refs are shared).
    pub async fn fetch_workspace(&self, id: &WorkspaceId) -> Result<(), WorkspaceError> {
        let record = self.record_of(id).await?;
        let target = record.parent.unwrap_or(record.id);
        ask(&self.workspace_actor(&target).await?, WorkspaceMsg::Fetch).await
    }

    /// Commit, then push, pull request and cleanup as requested, as one
    /// ordered sequence; a step runs only if every earlier one succeeded.
    /// The report has a result per step; `Err` only when the workspace
    /// cannot be reached at all.
    pub async fn finalize_workspace(
        &self,
        id: &WorkspaceId,
        req: FinalizeRequest,
    ) -> Result<FinalizeReport, WorkspaceError> {
        // Before any step: the pull request's repository goes into a URL.
        if let Some(slug) = req.pr.as_ref().and_then(|pr| pr.repo.as_ref()) {
            slug.check().map_err(|source| WorkspaceError::InvalidName {
                name: format!("{}/{}", slug.owner, slug.name),
                source,
            })?;
        }
        let force = req.cleanup.unwrap_or(false);
        let mut report = ask(&self.workspace_actor(id).await?, |reply| WorkspaceMsg::Finalize(req, reply)).await?;
        if let StepResult::Done { value: CleanupOutcome::DelegateToParent { parent } } = &report.cleanup {
            let parent = parent.clone();
            report.cleanup = match self.remove_worktree(&parent, id, force).await {
                Ok(()) => StepResult::Done { value: CleanupOutcome::Removed },
                Err(e) => StepResult::Failed { code: e.code(), message: e.to_string() },
            };
        }
        Ok(report)
    }

    /// Removes a workspace: its directory (a worktree: through its parent,
    /// which keeps the branch). Refuses uncommitted or unpushed work, and a
    /// clone that still has worktrees, unless `force` (which does not
    /// override live worktrees).
    pub async fn cleanup_workspace(&self, id: &WorkspaceId, force: bool) -> Result<(), WorkspaceError> {
        let actor = self.workspace_actor(id).await?;
        match ask(&actor, |reply| WorkspaceMsg::Cleanup { force, reply }).await? {
            CleanupOutcome::Removed => Ok(()),
            CleanupOutcome::DelegateToParent { parent } => self.remove_worktree(&parent, id, force).await,
        }
    }

    async fn remove_worktree(
        &self,
        parent: &WorkspaceId,
        child: &WorkspaceId,
        force: bool,
    ) -> Result<(), WorkspaceError> {
        let key = child.clone();
        self.workspace_sup(|reply| WorkspaceSupMsg::Retire { id: key, reply }).await?;
        let actor = self.workspace_actor(parent).await?;
        let child = child.clone();
        ask(&actor, |reply| WorkspaceMsg::RemoveWorktree { child, force, reply }).await
    }

    /// Removes a finished worktree for the tasks' retention policy (see
    /// [`crate::workspace::engine::WorkspaceOps::retire_worktree`]), through
    /// its parent's actor.
    pub(crate) async fn retire_worktree(
        &self,
        id: &WorkspaceId,
        message: String,
    ) -> Result<crate::workspace::branches::RetiredWorktree, WorkspaceError> {
        let record = self.record_of(id).await?;
        let parent = record
            .parent
            .ok_or_else(|| WorkspaceError::Conflict { message: format!("workspace {id} is not a worktree") })?;
        let key = id.clone();
        self.workspace_sup(|reply| WorkspaceSupMsg::Retire { id: key, reply }).await?;
        let actor = self.workspace_actor(&parent).await?;
        let child = id.clone();
        ask(&actor, |reply| WorkspaceMsg::RetireWorktree { child, message, reply }).await
    }

    /// Merges local branches of parent clone `parent` into local branch
    /// `into` from `base`, through the parent's actor; the commit it points to.
    pub(crate) async fn merge_branches(
        &self,
        parent: &WorkspaceId,
        into: warden_core::workspace::BranchName,
        base: String,
        branches: Vec<warden_core::workspace::BranchName>,
        message: String,
    ) -> Result<String, WorkspaceError> {
        let actor = self.workspace_actor(parent).await?;
        ask(&actor, |reply| WorkspaceMsg::MergeBranches { into, base, branches, message, reply }).await
    }

    /// Removes what is left of a workspace that is not usable
    /// (`interrupted`, `failed`, `missing`) and marks it `cleaned`.
    pub async fn discard_workspace(&self, id: &WorkspaceId) -> Result<(), WorkspaceError> {
        let ctx = Arc::clone(&self.workspaces().ctx);
        let bus = self.bus().clone();
        let id = id.clone();
        blocking(move || {
            ctx.discard(&id, &mut |kind| {
                bus.publish(None, kind);
            })
        })
        .await
    }

    /// Every workspace in the registry (shared by all warden processes on
    /// this state directory), ordered by id. A record still `provisioning`
    /// whose process has died is listed as `interrupted`.
    pub async fn list_workspaces(&self) -> Result<Vec<WorkspaceRecord>, WorkspaceError> {
        let ctx = Arc::clone(&self.workspaces().ctx);
        let mut records = blocking(move || ctx.registry().list()).await?;
        for r in &mut records {
            if r.state == WorkspaceState::Provisioning && !r.owner.is_some_and(process_alive) {
                r.state = WorkspaceState::Interrupted;
            }
        }
        Ok(records)
    }

    /// What the registry recovery found when this instance started:
    /// workspaces whose directory vanished, provisioning cut short, corrupt
    /// record files.
    pub async fn workspace_recovery(&self) -> Result<RecoveryReport, WorkspaceError> {
        self.workspace_sup(WorkspaceSupMsg::Recovery).await
    }
}
