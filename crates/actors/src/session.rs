//! The `SessionSupervisor`: one per agent session.
//!
//! ```text
//! SessionSupervisor
//! ├── PtyActor       (one per process; a restart policy starts a new one)
//! ├── StallDetector  (the session's state as the screen shows it; stalls)
//! └── AutoResponder  (rules, pending confirmations, loop guard)
//! ```
//!
//! It starts the three (linked), asks the reactor to start the process with
//! output flowing to the PTY actor, and supervises:
//! - the PTY actor ending after the final exit ends the session; ending for a
//!   restart (restart policy, or a stall escalation) starts a new process
//!   after the back-off, in the same session, with the same screen;
//! - the PTY actor failing kills the process and fails the session (nothing
//!   could observe it any more);
//! - the `StallDetector` or `AutoResponder` failing restarts that actor only
//!   (one-for-one, with an intensity limit); the PTY, the process and the
//!   output are untouched, and the screen and the responder's memory live in
//!   the core session state, so nothing is lost or answered twice.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use tracing::{error, info, info_span, warn};
use warden_core::restart::{Decision, Ending, RestartLimits, RestartStrategy};
use warden_core::{ActorKind, EventKind, ExitReason, RestartPolicy, SessionId, SessionState};

use crate::classifier::StallClassifier;
use crate::context::Ctx;
use crate::detector::{DetectorArgs, StallDetector};
use crate::error::SessionError;
use crate::msg::{DetectorMsg, PtyMsg, ResponderMsg, SessionMsg};
use crate::pty::{PtyActor, PtyArgs};
use crate::reactor::{FlowGate, IoEvent, SpawnJob};
use crate::respond::{AutoResponder, ResponderArgs};
use crate::ring::OutputRing;
use crate::session_core::SessionCore;
use crate::stop::StopReason;
use crate::sys::spawn::{SpawnFailure, SpawnRequest};

pub(crate) struct SessionArgs {
    pub core: Arc<SessionCore>,
    pub task: Option<String>,
    pub req: SpawnRequest,
    pub ctx: Arc<Ctx>,
    pub classifier: Option<Arc<dyn StallClassifier>>,
    /// Told once the process runs (before `pre_start` returns, so even an
    /// agent that exits at once is reported).
    pub started: tokio::sync::oneshot::Sender<u32>,
}

pub(crate) struct SessionSupervisor;

pub(crate) struct SessionSupState {
    id: SessionId,
    core: Arc<SessionCore>,
    pty: Option<ActorRef<PtyMsg>>,
    detector: Option<ActorRef<DetectorMsg>>,
    responder: Option<ActorRef<ResponderMsg>>,
    key: Option<u64>,
    task: Option<String>,
    req: SpawnRequest,
    ctx: Arc<Ctx>,
    classifier: Option<Arc<dyn StallClassifier>>,
    actor_restarts: RestartStrategy,
    origin: Instant,
    /// How the last process ended, while a restart's back-off runs: a
    /// session that ends there says its code.
    last_exit: Option<warden_core::ExitInfo>,
}

impl SessionSupState {
    /// Starts a PTY actor and a process for it.
    async fn start_process(
        &mut self,
        myself: &ActorRef<SessionMsg>,
        ring: Option<OutputRing>,
    ) -> Result<u32, ActorProcessingErr> {
        let flow = Arc::new(FlowGate::default());
        let pty_args = PtyArgs {
            core: self.core.clone(),
            task: self.task.clone(),
            reactor: self.ctx.reactor.clone(),
            flow: flow.clone(),
            ring: ring.unwrap_or_else(|| OutputRing::new(self.ctx.ring_bytes)),
            state_dir: self.ctx.transcripts.then(|| self.ctx.state_dir.clone()),
        };
        let (pty, _) = Box::pin(Actor::spawn_linked(None, PtyActor, pty_args, myself.get_cell())).await?;
        let sink_ref = pty.clone();
        let truncated_ref = pty.clone();
        let job = SpawnJob {
            id: self.id,
            transcript: self.ctx.transcripts.then(|| {
                (crate::transcript::transcript_path(&self.ctx.state_dir, &self.id), self.ctx.transcript_max_bytes)
            }),
            req: self.req.clone(),
            sink: Box::new(move |ev: IoEvent| {
                let _ = sink_ref.cast(PtyMsg::Io(ev));
            }),
            flow,
            on_transcript_truncated: Box::new(move |bytes| {
                let _ = truncated_ref.cast(PtyMsg::Io(IoEvent::TranscriptTruncated(bytes)));
            }),
        };
        let program = self.core.info().program;
        self.core.typist.attach(Some(pty.clone()));
        match Box::pin(self.ctx.reactor.spawn(job)).await {
            Ok(spawned) => {
                self.key = Some(spawned.key);
                self.pty = Some(pty);
                self.core.restarts.process_started();
                Ok(spawned.pid)
            }
            Err(e) => {
                self.core.typist.attach(None);
                pty.stop(None);
                Err(Box::new(spawn_error(e, &program)))
            }
        }
    }

    async fn start_detector(&mut self, myself: &ActorRef<SessionMsg>) -> Result<(), ActorProcessingErr> {
        let args = DetectorArgs { shared: self.core.clone(), classifier: self.classifier.clone(), sup: myself.clone() };
        let (d, _) = Box::pin(Actor::spawn_linked(None, StallDetector, args, myself.get_cell())).await?;
        if self.core.link_detector(Some(d.clone())) {
            let _ = d.cast(DetectorMsg::InputSent);
        }
        self.detector = Some(d);
        Ok(())
    }

    async fn start_responder(&mut self, myself: &ActorRef<SessionMsg>) -> Result<(), ActorProcessingErr> {
        let args = ResponderArgs { shared: self.core.clone() };
        let (r, _) = Box::pin(Actor::spawn_linked(None, AutoResponder, args, myself.get_cell())).await?;
        self.responder = Some(r);
        Ok(())
    }

    async fn start_observers(&mut self, myself: &ActorRef<SessionMsg>) -> Result<(), ActorProcessingErr> {
        if self.detector.is_none() {
            self.start_detector(myself).await?;
        }
        if self.responder.is_none() {
            self.start_responder(myself).await?;
        }
        Ok(())
    }

    /// Ends the session, stopped between two lives of a restart.
    fn end_between_lives(&mut self, myself: &ActorRef<SessionMsg>) {
        let exit = warden_core::ExitInfo { code: None, signal: None, reason: ExitReason::Stopped };
        self.core.update_info(|i| i.exit = Some(exit.clone()));
        self.core.transition(SessionState::Exited, "stopped during a restart", None, None);
        self.end_without_a_process(myself, exit);
    }

    /// How a session failed between two lives ends: the last process's code
    /// or signal, and `failed`.
    fn failed_between_lives(&self) -> warden_core::ExitInfo {
        let last = self.last_exit.as_ref();
        warden_core::ExitInfo {
            code: last.and_then(|e| e.code),
            signal: last.and_then(|e| e.signal),
            reason: ExitReason::Failed,
        }
    }

    /// Ends the session where no process is left whose exit would: its
    /// `exited` event, its end for whoever waits, and this supervisor.
    fn end_without_a_process(&mut self, myself: &ActorRef<SessionMsg>, exit: warden_core::ExitInfo) {
        self.ctx.bus.publish(Some(self.id), EventKind::Exited(exit.clone()));
        self.core.finish(exit);
        myself.stop(StopReason::Exited.reason());
    }

    /// Fails the session, then kills its process (in that order, so the exit
    /// cannot end the session as merely `exited`). Whoever failed it first
    /// published its `error` (the stall detector does, before the state).
    fn fail(&mut self, reason: &str) {
        if self.core.state() != SessionState::Failed {
            self.ctx.bus.publish(Some(self.id), EventKind::Error { message: reason.to_string() });
        }
        self.core.transition(SessionState::Failed, reason, None, None);
        if let Some(key) = self.key {
            self.ctx.reactor.stop(key, Duration::ZERO);
        }
    }
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
        let SessionArgs { core, task, req, ctx, classifier, started } = args;
        let id = core.id;
        let span = info_span!("session", session = %id, agent = %core.adapter().name);
        let _enter = span.enter();
        core.link_supervisor(myself.clone());
        let mut st = SessionSupState {
            id,
            core,
            pty: None,
            detector: None,
            responder: None,
            key: None,
            task,
            req,
            ctx,
            classifier,
            actor_restarts: RestartStrategy::new(RestartPolicy::Always, RestartLimits::for_actors(), Duration::ZERO),
            last_exit: None,
            origin: Instant::now(),
        };
        // Observers start with the first output (the PTY actor asks), or now
        // when the session has work for them from the start: a silent session
        // costs no observer actors.
        let eager = st.task.is_some() || !st.core.rules.is_empty() || st.core.typist.has_task_on_ready();
        if eager {
            st.core.observers_started();
            st.start_observers(&myself).await?;
        }
        match st.start_process(&myself, None).await {
            Ok(pid) => {
                let _ = started.send(pid);
                Ok(st)
            }
            Err(e) => {
                if let Some(d) = st.detector.take() {
                    d.stop(None);
                }
                if let Some(r) = st.responder.take() {
                    r.stop(None);
                }
                Err(e)
            }
        }
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<SessionMsg>,
        st: &mut SessionSupState,
    ) -> Result<(), ActorProcessingErr> {
        st.core.link_detector(None);
        if let Some(d) = st.detector.take() {
            d.stop(None);
        }
        if let Some(r) = st.responder.take() {
            r.stop(None);
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<SessionMsg>,
        msg: SessionMsg,
        st: &mut SessionSupState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SessionMsg::Respawn { after, ring, exit } => {
                st.pty = None;
                st.key = None;
                st.last_exit = Some(exit);
                if st.core.state() == SessionState::Failed {
                    // Failed after the process ended and before this supervisor
                    // knew: no life is to start, and no process is left whose
                    // exit would end the session.
                    let exit = st.failed_between_lives();
                    st.end_without_a_process(&myself, exit);
                    return Ok(());
                }
                myself.send_after(after, move || SessionMsg::DoRespawn { ring });
            }
            SessionMsg::DoRespawn { ring } => {
                if st.core.state() != SessionState::Starting {
                    // Stopped or failed during the back-off.
                    return Ok(());
                }
                if st.core.restarts.stopped() {
                    // A stop that came before the supervisor knew the process had ended.
                    st.end_between_lives(&myself);
                    return Ok(());
                }
                info!(session = %st.id, "restarting the agent");
                if let Err(e) = st.start_process(&myself, ring).await {
                    let reason = format!("restart failed: {e}");
                    st.core.transition(SessionState::Failed, &reason, None, None);
                    let exit = warden_core::ExitInfo { code: None, signal: None, reason: ExitReason::Failed };
                    st.end_without_a_process(&myself, exit);
                }
            }
            SessionMsg::RestartAgent { reason } => {
                if let Some(key) = st.key
                    && st.core.state().is_live()
                {
                    info!(session = %st.id, %reason, "restarting the agent on request");
                    st.core.restarts.force();
                    st.ctx.reactor.stop(key, Duration::from_secs(2));
                }
            }
            SessionMsg::StartObservers => {
                if let Err(e) = st.start_observers(&myself).await {
                    st.fail(&format!("cannot start the session's observers: {e}"));
                }
            }
            SessionMsg::StopBetweenLives => {
                if st.pty.is_none() && st.core.state().is_live() {
                    st.end_between_lives(&myself);
                }
            }
            SessionMsg::Fail { reason } => {
                error!(session = %st.id, %reason, "failing the session");
                st.fail(&reason);
                if st.pty.is_none() && st.key.is_none() {
                    // Between two lives: no process whose exit would end it.
                    let exit = st.failed_between_lives();
                    st.end_without_a_process(&myself, exit);
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SessionMsg>,
        evt: SupervisionEvent,
        st: &mut SessionSupState,
    ) -> Result<(), ActorProcessingErr> {
        match evt {
            // A PTY actor that ended for a restart is replaced by `Respawn`.
            SupervisionEvent::ActorTerminated(cell, _, reason)
                if is(st.pty.as_ref().map(|a| a.get_id()), &cell) && !StopReason::Restart.is(reason.as_deref()) =>
            {
                myself.stop(reason);
            }
            // The detector went to sleep (its memory is in the core): the
            // responder sleeps with it, and both wake with the next output,
            // input or rule.
            SupervisionEvent::ActorTerminated(cell, _, reason)
                if is(st.detector.as_ref().map(|a| a.get_id()), &cell)
                    && StopReason::Hibernate.is(reason.as_deref()) =>
            {
                st.detector = None;
                if let Some(r) = st.responder.take() {
                    r.stop(StopReason::Hibernate.reason());
                }
                if st.core.observers_asleep()
                    && let Err(e) = st.start_observers(&myself).await
                {
                    st.fail(&format!("cannot wake the session's observers: {e}"));
                }
            }
            SupervisionEvent::ActorFailed(cell, err) if is(st.pty.as_ref().map(|a| a.get_id()), &cell) => {
                error!(session = %st.id, error = %err, "PTY actor failed; killing the session");
                st.fail(&format!("PTY actor failed: {err}"));
                myself.stop(StopReason::PtyFailed.reason());
            }
            SupervisionEvent::ActorFailed(cell, err)
                if is(st.detector.as_ref().map(|a| a.get_id()), &cell)
                    || is(st.responder.as_ref().map(|a| a.get_id()), &cell) =>
            {
                let which = if is(st.detector.as_ref().map(|a| a.get_id()), &cell) {
                    ActorKind::StallDetector
                } else {
                    ActorKind::AutoResponder
                };
                warn!(session = %st.id, actor = %which, error = %err, "actor failed; restarting it");
                let now = st.origin.elapsed();
                match st.actor_restarts.on_end(Ending::Failure, now) {
                    Decision::Restart { .. } => {
                        st.ctx
                            .bus
                            .publish(Some(st.id), EventKind::ActorRestarted { actor: which, reason: err.to_string() });
                        let r = if which == ActorKind::StallDetector {
                            st.start_detector(&myself).await
                        } else {
                            st.start_responder(&myself).await
                        };
                        if let Err(e) = r {
                            st.fail(&format!("cannot restart {which}: {e}"));
                        }
                        st.actor_restarts.on_started(now);
                    }
                    _ => st.fail(&format!("{which} keeps failing: {err}")),
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn is(id: Option<ractor::ActorId>, cell: &ractor::ActorCell) -> bool {
    id == Some(cell.get_id())
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
