//! The `WorkspaceActor`: one per workspace, owner of its [`WorkspaceOps`]
//! (and so of its `Repository`).
//!
//! The mailbox is the workspace's queue: each message is one operation, run
//! to completion on a blocking thread (`spawn_blocking`) before the next one
//! starts, so the mutations of one workspace happen one at a time and in
//! arrival order. A parent clone's actor also runs the worktree additions
//! and removals of its children, which write the shared `.git`.
//!
//! Mutations hold the workspace's cross-process lock
//! ([`Registry::lock_workspace`](super::registry::Registry::lock_workspace))
//! and first re-read the registry record, so a second `warden` process on
//! the same state directory takes turns with this one, and a workspace
//! cleaned up elsewhere is refused (and this actor stops) instead of being
//! written to.

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tracing::debug;
use warden_core::EventKind;
use warden_core::workspace::{
    BranchName, CleanupOutcome, CommitOutcome, CommitRequest, DiffStat, FinalizeReport, FinalizeRequest, PrRequest,
    PullRequest, PushOutcome, PushRequest, StepResult, WorkspaceId, WorkspaceStatus, WorktreeSpec,
};

use crate::bus::EventBus;
use crate::workspace::branches::{BranchPrep, RetiredWorktree};
use crate::workspace::engine::{ProvisionedWorktree, WorkspaceOps};
use crate::workspace::error::WorkspaceError;

/// A typed answer.
pub(crate) type Reply<T> = RpcReplyPort<Result<T, WorkspaceError>>;

/// Messages of a [`WorkspaceActor`]: one per operation.
pub(crate) enum WorkspaceMsg {
    /// Changed files (read-only, no lock).
    Status(Reply<WorkspaceStatus>),
    /// Diff stat against HEAD (read-only, no lock).
    Diff(Reply<DiffStat>),
    /// Commit.
    Commit(CommitRequest, Reply<CommitOutcome>),
    /// Push.
    Push(PushRequest, Reply<PushOutcome>),
    /// Open a pull request.
    CreatePr(PrRequest, Reply<PullRequest>),
    /// Fetch from the remote (on a parent: for all its worktrees).
    Fetch(Reply<()>),
    /// Commit, push, PR, cleanup as one sequence.
    Finalize(FinalizeRequest, Reply<FinalizeReport>),
    /// Remove this workspace (a worktree answers `DelegateToParent`).
    Cleanup { force: bool, reply: Reply<CleanupOutcome> },
    /// Add a worktree of this (parent) workspace.
    AddWorktree(WorktreeSpec, Reply<ProvisionedWorktree>),
    /// Take back a worktree of this (parent) workspace that was just
    /// provisioned and could not be used.
    UndoWorktree { child: WorkspaceId, prep: BranchPrep, reply: Reply<()> },
    /// Remove a worktree of this (parent) workspace.
    RemoveWorktree { child: WorkspaceId, force: bool, reply: Reply<()> },
    /// Remove a finished worktree of this (parent) workspace for the retention policy.
    RetireWorktree { child: WorkspaceId, message: String, reply: Reply<RetiredWorktree> },
    /// Merge local branches of this (parent) workspace into one.
    MergeBranches { into: BranchName, base: String, branches: Vec<BranchName>, message: String, reply: Reply<String> },
}

/// Arguments of a [`WorkspaceActor`].
pub(crate) struct WorkspaceArgs {
    pub ops: WorkspaceOps,
    pub bus: EventBus,
}

pub(crate) struct WorkspaceActor;

pub(crate) struct WorkspaceState {
    id: WorkspaceId,
    /// `None` only while an operation runs on the blocking pool.
    ops: Option<WorkspaceOps>,
    bus: EventBus,
    /// The workspace was removed (here or by another process): stop.
    gone: bool,
}

/// Whether an operation changes the workspace (then it takes the lock and
/// re-checks the record first).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

impl WorkspaceState {
    /// Run `f` on the workspace on a blocking thread; events go to the bus.
    /// A write whose workspace turns out to be gone (cleaned up by another
    /// process) sets `self.gone`.
    async fn run<T: Send + 'static>(
        &mut self,
        access: Access,
        f: impl FnOnce(&mut WorkspaceOps, &mut dyn FnMut(EventKind)) -> Result<T, WorkspaceError> + Send + 'static,
    ) -> Result<Result<T, WorkspaceError>, ActorProcessingErr> {
        let Some(mut ops) = self.ops.take() else {
            return Ok(Err(WorkspaceError::Unavailable { message: format!("workspace {} is busy", self.id) }));
        };
        let bus = self.bus.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let mut sink = |kind: EventKind| {
                bus.publish(None, kind);
            };
            let mut gone = false;
            let result = (|| {
                let _lock = match access {
                    Access::Write => {
                        let lock = ops.context().registry().lock_workspace(ops.id())?;
                        ops.check_current().inspect_err(|_| gone = true)?;
                        Some(lock)
                    }
                    Access::Read => None,
                };
                f(&mut ops, &mut sink)
            })();
            (ops, result, gone)
        })
        .await;
        match joined {
            Ok((ops, result, gone)) => {
                self.ops = Some(ops);
                self.gone |= gone;
                Ok(result)
            }
            // A panic in git work: the actor fails and its supervisor
            // reopens the workspace from the registry.
            Err(e) => Err(format!("workspace {} operation panicked: {e}", self.id).into()),
        }
    }
}

impl Actor for WorkspaceActor {
    type Msg = WorkspaceMsg;
    type State = WorkspaceState;
    type Arguments = WorkspaceArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<WorkspaceMsg>,
        args: WorkspaceArgs,
    ) -> Result<WorkspaceState, ActorProcessingErr> {
        Ok(WorkspaceState { id: args.ops.id().clone(), ops: Some(args.ops), bus: args.bus, gone: false })
    }

    async fn handle(
        &self,
        myself: ActorRef<WorkspaceMsg>,
        msg: WorkspaceMsg,
        st: &mut WorkspaceState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            WorkspaceMsg::Status(reply) => {
                let r = st.run(Access::Read, |ops, _| ops.status()).await?;
                let _ = reply.send(r);
            }
            WorkspaceMsg::Diff(reply) => {
                let r = st.run(Access::Read, |ops, _| ops.diff_stat()).await?;
                let _ = reply.send(r);
            }
            WorkspaceMsg::Commit(req, reply) => {
                let r = st.run(Access::Write, move |ops, sink| ops.commit(&req, sink)).await?;
                let _ = reply.send(r);
            }
            WorkspaceMsg::Push(req, reply) => {
                let r = st.run(Access::Write, move |ops, sink| ops.push(&req, sink)).await?;
                let _ = reply.send(r);
            }
            WorkspaceMsg::CreatePr(req, reply) => {
                let r = st.run(Access::Write, move |ops, sink| ops.create_pr(&req, sink)).await?;
                let _ = reply.send(r);
            }
            WorkspaceMsg::Fetch(reply) => {
                let r = st.run(Access::Write, |ops, sink| ops.fetch(sink)).await?;
                let _ = reply.send(r);
            }
            WorkspaceMsg::Finalize(req, reply) => {
                let r = st.run(Access::Write, move |ops, sink| Ok(ops.finalize(&req, sink))).await?;
                st.gone |=
                    matches!(&r, Ok(rep) if matches!(rep.cleanup, StepResult::Done { value: CleanupOutcome::Removed }));
                let _ = reply.send(r);
            }
            WorkspaceMsg::Cleanup { force, reply } => {
                let r = st.run(Access::Write, move |ops, sink| ops.cleanup(force, sink)).await?;
                st.gone |= matches!(r, Ok(CleanupOutcome::Removed));
                let _ = reply.send(r);
            }
            WorkspaceMsg::AddWorktree(spec, reply) => {
                let r = st.run(Access::Write, move |ops, sink| ops.provision_worktree(&spec, sink)).await?;
                let _ = reply.send(r);
            }
            WorkspaceMsg::UndoWorktree { child, prep, reply } => {
                let r = st.run(Access::Write, move |ops, sink| ops.undo_worktree(&child, prep, sink)).await?;
                let _ = reply.send(r);
            }
            WorkspaceMsg::RemoveWorktree { child, force, reply } => {
                let r = st.run(Access::Write, move |ops, sink| ops.remove_worktree(&child, force, sink)).await?;
                let _ = reply.send(r);
            }
            WorkspaceMsg::RetireWorktree { child, message, reply } => {
                let r = st.run(Access::Write, move |ops, sink| ops.retire_worktree(&child, &message, sink)).await?;
                let _ = reply.send(r);
            }
            WorkspaceMsg::MergeBranches { into, base, branches, message, reply } => {
                let r = st
                    .run(Access::Write, move |ops, sink| ops.merge_branches(&into, &base, &branches, &message, sink))
                    .await?;
                let _ = reply.send(r);
            }
        }
        if st.gone {
            debug!(workspace = %st.id, "workspace removed; its actor stops");
            myself.stop(Some("workspace removed".into()));
        }
        Ok(())
    }
}
