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
//!   the shared session state, so nothing is lost or answered twice.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use tracing::{error, info, info_span, warn};
use warden_core::restart::{Decision, Ending, RestartLimits, RestartStrategy};
use warden_core::{EventKind, RestartPolicy, SessionId, SessionState};

use crate::classifier::StallClassifier;
use crate::detector::{DetectorArgs, DetectorMsg, StallDetector};
use crate::error::SessionError;
use crate::pty::{OutputRing, PtyActor, PtyArgs, PtyMsg};
use crate::reactor::{FlowGate, IoEvent, SpawnJob};
use crate::respond::{AutoResponder, ResponderArgs, ResponderMsg};
use crate::root::Ctx;
use crate::shared::SessionShared;
use crate::sys::spawn::{SpawnFailure, SpawnRequest};

/// Messages of the [`SessionSupervisor`].
pub(crate) enum SessionMsg {
    /// The process ended and the restart policy starts a new one after `after`.
    Respawn { after: Duration, ring: Option<OutputRing> },
    /// The back-off passed: start the new process.
    DoRespawn { ring: Option<OutputRing> },
    /// Restart the agent now (stall escalation).
    RestartAgent { reason: String },
    /// Fail the session and kill the process (stall escalation).
    Fail { reason: String },
    /// Stop requested while no process runs (between two lives of a restart).
    StopBetweenLives,
    /// Start the StallDetector and AutoResponder (first output, input or rule).
    StartObservers,
}

pub(crate) struct SessionArgs {
    pub shared: Arc<SessionShared>,
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
    shared: Arc<SessionShared>,
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
            shared: self.shared.clone(),
            task: self.task.clone(),
            reactor: self.ctx.reactor.clone(),
            flow: flow.clone(),
            ring: ring.unwrap_or_else(|| OutputRing::new(self.ctx.ring_bytes)),
            state_dir: self.ctx.transcripts.then(|| self.ctx.state_dir.clone()),
        };
        let (pty, _) = Actor::spawn_linked(None, PtyActor, pty_args, myself.get_cell()).await?;
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
        let program = self.shared.info().program;
        self.shared.set_pty(Some(pty.clone()));
        match self.ctx.reactor.spawn(job).await {
            Ok(spawned) => {
                self.key = Some(spawned.key);
                self.pty = Some(pty);
                self.shared.process_started();
                Ok(spawned.pid)
            }
            Err(e) => {
                self.shared.set_pty(None);
                pty.stop(None);
                Err(Box::new(spawn_error(e, &program)))
            }
        }
    }

    async fn start_detector(&mut self, myself: &ActorRef<SessionMsg>) -> Result<(), ActorProcessingErr> {
        let args =
            DetectorArgs { shared: self.shared.clone(), classifier: self.classifier.clone(), sup: myself.clone() };
        let (d, _) = Actor::spawn_linked(None, StallDetector, args, myself.get_cell()).await?;
        self.shared.set_detector(Some(d.clone()));
        self.detector = Some(d);
        Ok(())
    }

    async fn start_responder(&mut self, myself: &ActorRef<SessionMsg>) -> Result<(), ActorProcessingErr> {
        let args = ResponderArgs { shared: self.shared.clone() };
        let (r, _) = Actor::spawn_linked(None, AutoResponder, args, myself.get_cell()).await?;
        self.responder = Some(r);
        Ok(())
    }

    async fn start_observers(&mut self, myself: &ActorRef<SessionMsg>) -> Result<(), ActorProcessingErr> {
        if self.detector.is_none() {
            self.start_detector(myself).await?;
            if self.shared.take_input_waiting()
                && let Some(d) = &self.detector
            {
                let _ = d.cast(DetectorMsg::InputSent);
            }
        }
        if self.responder.is_none() {
            self.start_responder(myself).await?;
        }
        Ok(())
    }

    /// Fails the session, then kills its process (in that order, so the exit
    /// cannot end the session as merely `exited`).
    fn fail(&mut self, reason: &str) {
        self.ctx.bus.publish(Some(self.id), EventKind::Error { message: reason.to_string() });
        self.shared.transition(SessionState::Failed, reason, None, None);
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
        let SessionArgs { shared, task, req, ctx, classifier, started } = args;
        let id = shared.id;
        let span = info_span!("session", session = %id, agent = %shared.adapter.name);
        let _enter = span.enter();
        shared.set_sup(myself.clone());
        let mut st = SessionSupState {
            id,
            shared,
            pty: None,
            detector: None,
            responder: None,
            key: None,
            task,
            req,
            ctx,
            classifier,
            actor_restarts: RestartStrategy::new(RestartPolicy::Always, RestartLimits::for_actors(), Duration::ZERO),
            origin: Instant::now(),
        };
        // Observers start with the first output (the PTY actor asks), or now
        // when the session has work for them from the start: a silent session
        // costs no observer actors.
        let eager = st.task.is_some() || !st.shared.lock_rules().is_empty() || st.shared.has_task_on_ready();
        if eager {
            st.shared.observers_started();
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
        st.shared.set_detector(None);
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
            SessionMsg::Respawn { after, ring } => {
                st.pty = None;
                st.key = None;
                let me = myself.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    let _ = me.cast(SessionMsg::DoRespawn { ring });
                });
            }
            SessionMsg::DoRespawn { ring } => {
                if st.shared.state() != SessionState::Starting {
                    // Stopped or failed during the back-off.
                    return Ok(());
                }
                info!(session = %st.id, "restarting the agent");
                if let Err(e) = st.start_process(&myself, ring).await {
                    let reason = format!("restart failed: {e}");
                    st.shared.transition(SessionState::Failed, &reason, None, None);
                    let exit = warden_core::ExitInfo { code: None, signal: None, reason: "failed".into() };
                    st.ctx.bus.publish(Some(st.id), EventKind::Exited(exit.clone()));
                    st.shared.finish(exit);
                    myself.stop(Some("exited".into()));
                }
            }
            SessionMsg::RestartAgent { reason } => {
                if let Some(key) = st.key
                    && st.shared.state().is_live()
                {
                    info!(session = %st.id, %reason, "restarting the agent on request");
                    st.shared.restarting.store(true, Ordering::Release);
                    st.ctx.reactor.stop(key, Duration::from_secs(2));
                }
            }
            SessionMsg::StartObservers => {
                if let Err(e) = st.start_observers(&myself).await {
                    st.fail(&format!("cannot start the session's observers: {e}"));
                }
            }
            SessionMsg::StopBetweenLives => {
                if st.pty.is_none() && st.shared.state().is_live() {
                    let exit = warden_core::ExitInfo { code: None, signal: None, reason: "stopped".into() };
                    st.shared.update_info(|i| i.exit = Some(exit.clone()));
                    st.shared.transition(SessionState::Exited, "stopped during a restart", None, None);
                    st.ctx.bus.publish(Some(st.id), EventKind::Exited(exit.clone()));
                    st.shared.finish(exit);
                    myself.stop(Some("exited".into()));
                }
            }
            SessionMsg::Fail { reason } => {
                error!(session = %st.id, %reason, "failing the session");
                st.fail(&reason);
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
                if is(st.pty.as_ref().map(|a| a.get_id()), &cell) && reason.as_deref() != Some("restart") =>
            {
                myself.stop(reason);
            }
            SupervisionEvent::ActorFailed(cell, err) if is(st.pty.as_ref().map(|a| a.get_id()), &cell) => {
                error!(session = %st.id, error = %err, "PTY actor failed; killing the session");
                st.fail(&format!("PTY actor failed: {err}"));
                myself.stop(Some("pty actor failed".into()));
            }
            SupervisionEvent::ActorFailed(cell, err)
                if is(st.detector.as_ref().map(|a| a.get_id()), &cell)
                    || is(st.responder.as_ref().map(|a| a.get_id()), &cell) =>
            {
                let which = if is(st.detector.as_ref().map(|a| a.get_id()), &cell) {
                    "stall_detector"
                } else {
                    "auto_responder"
                };
                warn!(session = %st.id, actor = which, error = %err, "actor failed; restarting it");
                let now = st.origin.elapsed();
                match st.actor_restarts.on_end(Ending::Failure, now) {
                    Decision::Restart { .. } => {
                        st.ctx.bus.publish(
                            Some(st.id),
                            EventKind::ActorRestarted { actor: which.into(), reason: err.to_string() },
                        );
                        let r = if which == "stall_detector" {
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

/// Test-only fault injection: panics once when the flag is set.
#[cfg(feature = "test-hooks")]
pub(crate) fn maybe_fault(flag: &std::sync::atomic::AtomicBool, actor: &str) {
    if flag.swap(false, Ordering::AcqRel) {
        panic!("fault injected into {actor}");
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
