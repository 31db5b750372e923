//! The `WorkspaceSupervisor`: starts one [`WorkspaceActor`] per workspace and
//! knows which actor serves which workspace.
//!
//! At start it runs the registry's recovery (temp files removed, vanished
//! directories marked `missing`, provisioning cut short marked
//! `interrupted`) and gives every `ready` workspace an actor. It answers
//! lookups from its map without calling any child, so no request can
//! deadlock it; long work (clone, worktree add) runs in the callers' tasks
//! and in the workspace actors, never here. A workspace actor that fails (a
//! panic in git work) is reopened from the registry.

use std::collections::HashMap;
use std::sync::Arc;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tracing::{info, warn};
use warden_core::workspace::WorkspaceId;

use crate::bus::EventBus;
use crate::workspace::actor::{WorkspaceActor, WorkspaceArgs, WorkspaceMsg};
use crate::workspace::context::WorkspaceContext;
use crate::workspace::engine::WorkspaceOps;
use crate::workspace::error::WorkspaceError;
use crate::workspace::registry::RecoveryReport;

/// Messages of the [`WorkspaceSupervisor`].
pub(crate) enum WorkspaceSupMsg {
    /// The actor of a workspace, if it has one in this process.
    Lookup { id: WorkspaceId, reply: RpcReplyPort<Option<ActorRef<WorkspaceMsg>>> },
    /// Give an opened workspace its actor (or return the one it has).
    Adopt { ops: Box<WorkspaceOps>, reply: RpcReplyPort<Result<ActorRef<WorkspaceMsg>, WorkspaceError>> },
    /// Stop a workspace's actor (its worktree is about to be removed).
    Retire { id: WorkspaceId, reply: RpcReplyPort<()> },
    /// What recovery found at start.
    Recovery(RpcReplyPort<RecoveryReport>),
}

/// Arguments of the supervisor.
pub(crate) struct WorkspaceSupArgs {
    pub ctx: Arc<WorkspaceContext>,
    pub bus: EventBus,
}

pub(crate) struct WorkspaceSupervisor;

pub(crate) struct WorkspaceSupState {
    ctx: Arc<WorkspaceContext>,
    bus: EventBus,
    actors: HashMap<WorkspaceId, ActorRef<WorkspaceMsg>>,
    by_actor: HashMap<ActorId, WorkspaceId>,
    recovery: RecoveryReport,
}

impl WorkspaceSupState {
    async fn spawn_actor(
        &mut self,
        myself: &ActorRef<WorkspaceSupMsg>,
        ops: WorkspaceOps,
    ) -> Result<ActorRef<WorkspaceMsg>, WorkspaceError> {
        let id = ops.id().clone();
        if let Some(existing) = self.actors.get(&id) {
            return Ok(existing.clone());
        }
        let args = WorkspaceArgs { ops, bus: self.bus.clone() };
        let (actor, _) = Actor::spawn_linked(None, WorkspaceActor, args, myself.get_cell())
            .await
            .map_err(|e| WorkspaceError::Unavailable { message: format!("cannot start the actor of {id}: {e}") })?;
        self.by_actor.insert(actor.get_id(), id.clone());
        self.actors.insert(id, actor.clone());
        Ok(actor)
    }

    fn forget(&mut self, actor: &ActorId) -> Option<WorkspaceId> {
        let id = self.by_actor.remove(actor)?;
        if self.actors.get(&id).is_some_and(|a| a.get_id() == *actor) {
            self.actors.remove(&id);
        }
        Some(id)
    }
}

/// Recovery, then every `ready` workspace opened (blocking work).
fn recover_and_open(ctx: &Arc<WorkspaceContext>) -> Result<(RecoveryReport, Vec<WorkspaceOps>), WorkspaceError> {
    let report = ctx.recover()?;
    let mut opened = Vec::new();
    for record in ctx.registry().list()? {
        if record.state != warden_core::WorkspaceState::Ready {
            continue;
        }
        match WorkspaceOps::open(Arc::clone(ctx), &record.id) {
            Ok(ops) => opened.push(ops),
            Err(e) => warn!(workspace = %record.id, error = %e, "cannot open workspace at start"),
        }
    }
    Ok((report, opened))
}

impl Actor for WorkspaceSupervisor {
    type Msg = WorkspaceSupMsg;
    type State = WorkspaceSupState;
    type Arguments = WorkspaceSupArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<WorkspaceSupMsg>,
        args: WorkspaceSupArgs,
    ) -> Result<WorkspaceSupState, ActorProcessingErr> {
        let ctx = Arc::clone(&args.ctx);
        let (recovery, opened) = tokio::task::spawn_blocking(move || recover_and_open(&ctx)).await??;
        if recovery != RecoveryReport::default() {
            info!(
                missing = recovery.missing.len(),
                interrupted = recovery.interrupted.len(),
                corrupt = recovery.corrupt.len(),
                "workspace registry recovered"
            );
        }
        let mut st = WorkspaceSupState {
            ctx: args.ctx,
            bus: args.bus,
            actors: HashMap::new(),
            by_actor: HashMap::new(),
            recovery,
        };
        for ops in opened {
            st.spawn_actor(&myself, ops).await?;
        }
        Ok(st)
    }

    async fn handle(
        &self,
        myself: ActorRef<WorkspaceSupMsg>,
        msg: WorkspaceSupMsg,
        st: &mut WorkspaceSupState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            WorkspaceSupMsg::Lookup { id, reply } => {
                let _ = reply.send(st.actors.get(&id).cloned());
            }
            WorkspaceSupMsg::Adopt { ops, reply } => {
                let r = st.spawn_actor(&myself, *ops).await;
                let _ = reply.send(r);
            }
            WorkspaceSupMsg::Retire { id, reply } => {
                if let Some(actor) = st.actors.remove(&id) {
                    st.by_actor.remove(&actor.get_id());
                    actor.stop(Some("worktree removal".into()));
                }
                let _ = reply.send(());
            }
            WorkspaceSupMsg::Recovery(reply) => {
                let _ = reply.send(st.recovery.clone());
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<WorkspaceSupMsg>,
        evt: SupervisionEvent,
        st: &mut WorkspaceSupState,
    ) -> Result<(), ActorProcessingErr> {
        match evt {
            SupervisionEvent::ActorTerminated(cell, _, _) => {
                st.forget(&cell.get_id());
            }
            SupervisionEvent::ActorFailed(cell, err) => {
                let Some(id) = st.forget(&cell.get_id()) else { return Ok(()) };
                warn!(workspace = %id, error = %err, "workspace actor failed; reopening it");
                let ctx = Arc::clone(&st.ctx);
                let reopen = id.clone();
                match tokio::task::spawn_blocking(move || WorkspaceOps::open(ctx, &reopen)).await {
                    Ok(Ok(ops)) => {
                        if let Err(e) = st.spawn_actor(&myself, ops).await {
                            warn!(workspace = %id, error = %e, "cannot restart workspace actor");
                        }
                    }
                    Ok(Err(e)) => warn!(workspace = %id, error = %e, "cannot reopen workspace"),
                    Err(e) => warn!(workspace = %id, error = %e, "reopening workspace panicked"),
                }
            }
            _ => {}
        }
        Ok(())
    }
}
