//! The `SessionSupervisor`: one per agent session.
//!
//! It starts the session's `PtyActor` (linked), asks the reactor to start the
//! process with output flowing to that actor, and watches it. When the PTY
//! actor ends after the process exited, the supervisor ends too. When the PTY
//! actor fails, the session cannot be observed any more: the supervisor kills
//! the process and reports the session `failed` with the reason.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use tracing::{error, info_span};
use warden_core::{EventKind, SessionId, SessionInfo, SessionState};

use crate::error::SessionError;
use crate::pty::{PtyActor, PtyArgs, PtyMsg};
use crate::reactor::{FlowGate, IoEvent, SpawnJob};
use crate::root::{Ctx, RootMsg};
use crate::sys::spawn::{SpawnFailure, SpawnRequest};

/// Messages of the [`SessionSupervisor`]: none yet; it only supervises
/// (stall detection and auto-response actors join it in a later issue).
pub(crate) enum SessionMsg {}

pub(crate) struct SessionArgs {
    pub info: SessionInfo,
    pub task: Option<String>,
    pub req: SpawnRequest,
    pub ctx: Arc<Ctx>,
    pub root: ActorRef<RootMsg>,
    /// Told the PTY actor and the agent's pid once the process runs (before
    /// `pre_start` returns, so even an agent that exits at once is reported).
    pub started: tokio::sync::oneshot::Sender<(ActorRef<PtyMsg>, u32)>,
}

pub(crate) struct SessionSupervisor;

pub(crate) struct SessionSupState {
    id: SessionId,
    pty: ActorRef<PtyMsg>,
    key: u64,
    info: SessionInfo,
    ctx: Arc<Ctx>,
    root: ActorRef<RootMsg>,
}

impl Actor for SessionSupervisor {
    type Msg = SessionMsg;
    type State = SessionSupState;
    type Arguments = SessionArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<SessionMsg>,
        args: SessionArgs,
    ) -> Result<SessionSupState, ActorProcessingErr> {
        let SessionArgs { info, task, req, ctx, root, started } = args;
        let id = info.id;
        let span = info_span!("session", session = %id, agent = %info.agent);
        let _enter = span.enter();
        let flow = Arc::new(FlowGate::default());
        let pty_args = PtyArgs {
            info: info.clone(),
            task,
            reactor: ctx.reactor.clone(),
            bus: ctx.bus.clone(),
            root: root.clone(),
            flow: flow.clone(),
            ring_bytes: ctx.ring_bytes,
            state_dir: ctx.transcripts.then(|| ctx.state_dir.clone()),
        };
        let (pty, _) = Actor::spawn_linked(None, PtyActor, pty_args, myself.get_cell()).await?;
        let sink_ref = pty.clone();
        let truncated_ref = pty.clone();
        let job = SpawnJob {
            id,
            transcript: ctx
                .transcripts
                .then(|| (crate::transcript::transcript_path(&ctx.state_dir, &id), ctx.transcript_max_bytes)),
            req,
            sink: Box::new(move |ev: IoEvent| {
                let _ = sink_ref.cast(PtyMsg::Io(ev));
            }),
            flow,
            on_transcript_truncated: Box::new(move |bytes| {
                let _ = truncated_ref.cast(PtyMsg::Io(IoEvent::TranscriptTruncated(bytes)));
            }),
        };
        let program = info.program.clone();
        match ctx.reactor.spawn(job).await {
            Ok(spawned) => {
                // The reactor already told the PTY actor (`IoEvent::Started`,
                // ahead of any output).
                let _ = started.send((pty.clone(), spawned.pid));
                Ok(SessionSupState { id, pty, key: spawned.key, info, ctx, root })
            }
            Err(e) => {
                pty.stop(None);
                Err(Box::new(spawn_error(e, &program)))
            }
        }
    }

    async fn handle(
        &self,
        _myself: ActorRef<SessionMsg>,
        msg: SessionMsg,
        _st: &mut SessionSupState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {}
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SessionMsg>,
        evt: SupervisionEvent,
        st: &mut SessionSupState,
    ) -> Result<(), ActorProcessingErr> {
        match evt {
            SupervisionEvent::ActorTerminated(cell, _, reason) if cell.get_id() == st.pty.get_id() => {
                myself.stop(reason);
            }
            SupervisionEvent::ActorFailed(cell, err) if cell.get_id() == st.pty.get_id() => {
                error!(session = %st.id, error = %err, "PTY actor failed; killing the session");
                st.ctx.reactor.stop(st.key, Duration::ZERO);
                let message = format!("PTY actor failed: {err}");
                st.ctx.bus.publish(Some(st.id), EventKind::Error { message: message.clone() });
                let mut info = st.info.clone();
                let from = info.state;
                info.state = SessionState::Failed;
                st.ctx.bus.publish(
                    Some(st.id),
                    EventKind::StateChanged { from, to: SessionState::Failed, reason: message, excerpt: None },
                );
                let _ = st.root.cast(RootMsg::Update(Box::new(info)));
                myself.stop(Some("pty actor failed".into()));
            }
            _ => {}
        }
        Ok(())
    }
}

/// Maps an OS spawn failure to the caller's error.
fn spawn_error(e: SpawnFailure, program: &str) -> SessionError {
    match e {
        SpawnFailure::Exec(io)
            if matches!(io.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied) =>
        {
            SessionError::ProgramNotFound { program: program.to_string() }
        }
        other => SessionError::Spawn(other.to_string()),
    }
}
