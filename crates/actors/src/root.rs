//! The `WardenSupervisor`: the root of the tree and the session registry.
//!
//! It starts one `SessionSupervisor` per session, keeps every session's
//! core (where the one [`SessionInfo`] of the session lives, read here under
//! its short lock), and answers lookups without calling any child, so no
//! request can deadlock the root. Exited sessions are kept, up to a limit,
//! so that callers can still read how they ended and their final screen.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tracing::{debug, warn};
use warden_core::{EventKind, ExitInfo, ExitReason, SessionFilter, SessionId, SessionInfo, SessionState};

use crate::classifier::StallClassifier;
use crate::context::Ctx;
use crate::error::SessionError;
use crate::msg::SessionMsg;
use crate::session::{SessionArgs, SessionSupervisor};
use crate::session_core::SessionCore;
use crate::stop::StopReason;
use crate::sys::spawn::SpawnRequest;

/// Messages of the root supervisor.
pub(crate) enum RootMsg {
    /// Start a session.
    Spawn {
        core: Arc<SessionCore>,
        task: Option<String>,
        req: Box<SpawnRequest>,
        classifier: Option<Arc<dyn StallClassifier>>,
        reply: RpcReplyPort<Result<SessionInfo, SessionError>>,
    },
    /// The core of a live session.
    Lookup { id: SessionId, reply: RpcReplyPort<Result<Arc<SessionCore>, SessionError>> },
    /// The core of a session, live or ended (snapshots after the end).
    Core { id: SessionId, reply: RpcReplyPort<Result<Arc<SessionCore>, SessionError>> },
    /// The latest info of a session.
    Get { id: SessionId, reply: RpcReplyPort<Result<SessionInfo, SessionError>> },
    /// Sessions matching a filter, oldest first.
    List { filter: SessionFilter, reply: RpcReplyPort<Vec<SessionInfo>> },
    /// Refuse new sessions from now on.
    Close(RpcReplyPort<()>),
}

struct Entry {
    core: Arc<SessionCore>,
    /// The session's supervisor, while it runs.
    sup: Option<ActorRef<SessionMsg>>,
}

pub(crate) struct WardenSupervisor;

pub(crate) struct RootState {
    ctx: Arc<Ctx>,
    sessions: HashMap<SessionId, Entry>,
    by_actor: HashMap<ActorId, SessionId>,
    order: VecDeque<SessionId>,
    closed: bool,
}

impl RootState {
    fn live_count(&self) -> usize {
        self.sessions.values().filter(|e| e.sup.is_some()).count()
    }

    /// Forgets the oldest ended sessions beyond the retention limit.
    fn trim(&mut self) {
        let ended = self.sessions.values().filter(|e| e.sup.is_none()).count();
        let mut excess = ended.saturating_sub(self.ctx.retain_exited);
        if excess == 0 {
            return;
        }
        let sessions = &mut self.sessions;
        self.order.retain(|id| {
            if excess > 0 && sessions.get(id).is_some_and(|e| e.sup.is_none()) {
                sessions.remove(id);
                excess -= 1;
                false
            } else {
                true
            }
        });
    }
}

impl Actor for WardenSupervisor {
    type Msg = RootMsg;
    type State = RootState;
    type Arguments = Arc<Ctx>;

    async fn pre_start(&self, _myself: ActorRef<RootMsg>, ctx: Arc<Ctx>) -> Result<RootState, ActorProcessingErr> {
        Ok(RootState { ctx, sessions: HashMap::new(), by_actor: HashMap::new(), order: VecDeque::new(), closed: false })
    }

    async fn handle(
        &self,
        myself: ActorRef<RootMsg>,
        msg: RootMsg,
        st: &mut RootState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RootMsg::Spawn { core, task, req, classifier, reply } => {
                if st.closed {
                    let _ = reply.send(Err(SessionError::ShuttingDown));
                    return Ok(());
                }
                if st.live_count() >= st.ctx.max_sessions {
                    let _ = reply.send(Err(SessionError::TooManySessions { max: st.ctx.max_sessions }));
                    return Ok(());
                }
                let id = core.id;
                let (started, started_rx) = tokio::sync::oneshot::channel();
                let args =
                    SessionArgs { core: core.clone(), task, req: *req, ctx: st.ctx.clone(), classifier, started };
                let _ = &myself;
                match Actor::spawn_linked(None, SessionSupervisor, args, myself.get_cell()).await {
                    Ok((sup, _)) => {
                        // Sent before `pre_start` returned, so it is ready now.
                        let info = match started_rx.await {
                            Ok(pid) => core.update_info(|i| {
                                i.pid.get_or_insert(pid);
                            }),
                            Err(_) => {
                                warn!(session = %id, "session supervisor started without reporting its process");
                                core.info()
                            }
                        };
                        st.by_actor.insert(sup.get_id(), id);
                        st.order.push_back(id);
                        st.sessions.insert(id, Entry { core, sup: Some(sup) });
                        let _ = reply.send(Ok(info));
                    }
                    Err(e) => {
                        let err = match e {
                            ractor::SpawnErr::StartupFailed(inner) => match inner.downcast::<SessionError>() {
                                Ok(se) => *se,
                                Err(other) => SessionError::Spawn(other.to_string()),
                            },
                            other => SessionError::Internal(other.to_string()),
                        };
                        debug!(session = %id, error = %err, "spawn failed");
                        let _ = reply.send(Err(err));
                    }
                }
            }
            RootMsg::Lookup { id, reply } => {
                let r = match st.sessions.get(&id) {
                    None => Err(SessionError::UnknownSession(id)),
                    Some(e) if e.sup.is_some() && e.core.state().is_live() => Ok(e.core.clone()),
                    Some(_) => Err(SessionError::Exited(id)),
                };
                let _ = reply.send(r);
            }
            RootMsg::Core { id, reply } => {
                let r = st.sessions.get(&id).map(|e| e.core.clone()).ok_or(SessionError::UnknownSession(id));
                let _ = reply.send(r);
            }
            RootMsg::Get { id, reply } => {
                let r = st.sessions.get(&id).map(|e| e.core.info()).ok_or(SessionError::UnknownSession(id));
                let _ = reply.send(r);
            }
            RootMsg::List { filter, reply } => {
                let list = st
                    .order
                    .iter()
                    .filter_map(|id| st.sessions.get(id))
                    .filter_map(|e| e.core.info_if(|i| filter.matches(i)))
                    .collect();
                let _ = reply.send(list);
            }
            RootMsg::Close(reply) => {
                st.closed = true;
                let _ = reply.send(());
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<RootMsg>,
        evt: SupervisionEvent,
        st: &mut RootState,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, failure) = match evt {
            // The session ended after its process exited (the core already
            // says so).
            SupervisionEvent::ActorTerminated(cell, _, reason) if StopReason::Exited.is(reason.as_deref()) => {
                if let Some(id) = st.by_actor.remove(&cell.get_id())
                    && let Some(e) = st.sessions.get_mut(&id)
                {
                    e.sup = None;
                    // Kept (its screen compacted) so the final screen can still be read;
                    // its rules and patterns are given back.
                    e.core.screen.compact_now();
                    e.core.rules.release();
                }
                st.trim();
                return Ok(());
            }
            SupervisionEvent::ActorTerminated(cell, _, _) => (cell, None),
            SupervisionEvent::ActorFailed(cell, err) => (cell, Some(err.to_string())),
            _ => return Ok(()),
        };
        let Some(id) = st.by_actor.remove(&cell.get_id()) else { return Ok(()) };
        if let Some(e) = st.sessions.get_mut(&id) {
            e.sup = None;
            let exit = ExitInfo { code: None, signal: None, reason: ExitReason::Failed };
            if e.core.state().is_live() {
                // The session's actors ended without reporting an end.
                let reason = failure.unwrap_or_else(|| "session supervisor stopped".into());
                e.core.transition(SessionState::Failed, &reason, None, None);
                st.ctx.bus.publish(Some(id), EventKind::Exited(exit.clone()));
            }
            // Whoever waits for its end is answered (`wait`, `stop`).
            e.core.finish_if_open(exit);
            e.core.screen.compact_now();
            e.core.rules.release();
        }
        st.trim();
        Ok(())
    }
}
