//! The `PtyActor`: the session's view of its terminal.
//!
//! The reactor thread owns the file descriptors; this actor owns what the
//! session knows about them: the state, the output ring for redrawing a
//! terminal, the UTF-8 carry, the exit. It turns reactor events into bus
//! events, in order, and turns callers' input into reactor writes.

use std::collections::VecDeque;
use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tracing::{debug, warn};
use warden_core::{
    EventKind, ExitInfo, ExitReason, InputVia, Output, SessionId, SessionInfo, SessionState, TermSize, utf8::Utf8Carry,
};

use crate::bus::EventBus;
use crate::error::SessionError;
use crate::reactor::{FlowGate, IoError, IoEvent, ReactorHandle};
use crate::shared::SessionShared;
use crate::stop::StopReason;

/// Messages of the [`PtyActor`].
pub(crate) enum PtyMsg {
    /// From the reactor.
    Io(IoEvent),
    /// Write bytes to the terminal.
    Input { data: Bytes, via: InputVia, keys: Vec<String>, reply: RpcReplyPort<Result<(), SessionError>> },
    /// Write bytes to the terminal, without an answer (warden's own typing).
    Write { data: Bytes, via: InputVia, keys: Vec<String> },
    /// Resize the terminal.
    Resize { size: TermSize, reply: RpcReplyPort<Result<(), SessionError>> },
    /// Stop the process: polite signals, then SIGKILL after `grace`.
    Stop { grace: Duration },
    /// The last output bytes (for redrawing a terminal).
    RecentOutput(RpcReplyPort<Vec<u8>>),
    /// The write of an input finished (internal).
    InputDone { via: InputVia, len: usize, keys: Vec<String> },
}

/// Arguments of a [`PtyActor`].
pub(crate) struct PtyArgs {
    pub shared: Arc<SessionShared>,
    pub task: Option<String>,
    pub reactor: ReactorHandle,
    pub flow: Arc<FlowGate>,
    pub ring: OutputRing,
    pub state_dir: Option<std::path::PathBuf>,
}

/// The PTY actor of one process of a session (a restart starts a new one).
pub(crate) struct PtyActor;

pub(crate) struct PtyState {
    id: SessionId,
    key: Option<u64>,
    shared: Arc<SessionShared>,
    task: Option<String>,
    reactor: ReactorHandle,
    bus: EventBus,
    flow: Arc<FlowGate>,
    ring: Option<OutputRing>,
    carry: Utf8Carry,
    state_dir: Option<std::path::PathBuf>,
    stopping: bool,
}

impl PtyState {
    fn emit_output(&mut self, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        if let Some(ring) = &mut self.ring {
            ring.push(&bytes);
        }
        self.bus.publish(Some(self.id), EventKind::Output(Output { bytes }));
    }
}

impl PtyState {
    /// The session is over: the last event, the waiters, the record.
    fn end(&mut self, exit: ExitInfo, myself: &ActorRef<PtyMsg>) {
        self.bus.publish(Some(self.id), EventKind::Exited(exit.clone()));
        self.shared.finish(exit);
        self.shared.screen.poke();
        write_meta(&self.reactor, &self.state_dir, &self.shared.info());
        myself.stop(StopReason::Exited.reason());
    }
}

impl Actor for PtyActor {
    type Msg = PtyMsg;
    type State = PtyState;
    type Arguments = PtyArgs;

    async fn pre_start(&self, _myself: ActorRef<PtyMsg>, args: PtyArgs) -> Result<PtyState, ActorProcessingErr> {
        Ok(PtyState {
            id: args.shared.id,
            key: None,
            bus: args.shared.bus.clone(),
            shared: args.shared,
            task: args.task,
            reactor: args.reactor,
            flow: args.flow,
            ring: Some(args.ring),
            carry: Utf8Carry::new(),
            state_dir: args.state_dir,
            stopping: false,
        })
    }

    async fn handle(&self, myself: ActorRef<PtyMsg>, msg: PtyMsg, st: &mut PtyState) -> Result<(), ActorProcessingErr> {
        match msg {
            PtyMsg::Io(IoEvent::Output(bytes)) => {
                let n = bytes.len();
                st.shared.screen.push(&bytes);
                st.shared.want_observers();
                let text = st.carry.push(bytes);
                st.emit_output(text);
                if st.flow.consumed(n)
                    && let Some(key) = st.key
                {
                    st.reactor.resume(key);
                }
            }
            PtyMsg::Io(IoEvent::TranscriptTruncated(bytes)) => {
                st.bus.publish(Some(st.id), EventKind::TranscriptTruncated { bytes });
            }
            PtyMsg::Io(IoEvent::Exited { status, stopped }) => {
                let tail = st.carry.flush();
                st.emit_output(tail);
                let exit = ExitInfo {
                    code: status.and_then(|s| s.code()),
                    signal: status.and_then(|s| s.signal()),
                    reason: if st.shared.state() == SessionState::Failed {
                        ExitReason::Failed
                    } else if stopped || st.stopping {
                        ExitReason::Stopped
                    } else {
                        ExitReason::Exited
                    },
                };
                debug!(session = %st.id, ?exit, "process exited");
                st.shared.set_pty(None);
                let ring = st.ring.take();
                match st.shared.process_ended(&exit, stopped || st.stopping) {
                    crate::shared::AfterExit::Restart { after, attempt, reason } => {
                        st.bus.publish(
                            Some(st.id),
                            EventKind::Restarting {
                                attempt,
                                delay_ms: after.as_millis() as u64,
                                reason: reason.clone(),
                            },
                        );
                        st.shared.transition(SessionState::Starting, &format!("restarting: {reason}"), None, None);
                        st.shared.screen.poke();
                        let _ = st.shared.sup_cast(crate::session::SessionMsg::Respawn { after, ring });
                        myself.stop(StopReason::Restart.reason());
                    }
                    crate::shared::AfterExit::End(exit) => {
                        st.shared.update_info(|i| i.exit = Some(exit.clone()));
                        st.shared.transition(SessionState::Exited, exit.reason.as_str(), None, None);
                        st.end(exit, &myself);
                    }
                    crate::shared::AfterExit::GiveUp { exit, reason } => {
                        warn!(session = %st.id, %reason, "restart policy gave up");
                        st.shared.update_info(|i| i.exit = Some(exit.clone()));
                        st.bus.publish(Some(st.id), EventKind::Error { message: reason.clone() });
                        st.shared.transition(SessionState::Failed, &reason, None, None);
                        st.end(exit, &myself);
                    }
                }
            }
            PtyMsg::Io(IoEvent::Started { key, pid }) => {
                st.key = Some(key);
                let info = st.shared.update_info(|i| i.pid = Some(pid));
                st.bus.publish(
                    Some(st.id),
                    EventKind::SessionStarted {
                        agent: info.agent.clone(),
                        program: info.program.clone(),
                        args: info.args.clone(),
                        pid,
                        workdir: info.workdir.clone(),
                        size: info.size,
                        label: info.label.clone(),
                    },
                );
                write_meta(&st.reactor, &st.state_dir, &info);
                if let Some(task) = st.task.take() {
                    // Its echo must not look like a prompt to the caller's rules.
                    crate::respond::note_typed(&st.shared, &task);
                    let mut data = task.into_bytes();
                    data.push(b'\r');
                    start_write(&myself, st, Bytes::from(data), InputVia::Text, Vec::new(), None);
                    st.shared.notify_input();
                }
            }
            PtyMsg::Input { data, via, keys, reply } => {
                if st.shared.state().is_terminal() || st.key.is_none() {
                    let _ = reply.send(Err(SessionError::Exited(st.id)));
                } else {
                    start_write(&myself, st, data, via, keys, Some(reply));
                }
            }
            PtyMsg::Write { data, via, keys } => {
                if st.key.is_some() && st.shared.state().is_live() {
                    start_write(&myself, st, data, via, keys, None);
                }
            }
            PtyMsg::InputDone { via, len, keys } => {
                st.bus.publish(Some(st.id), EventKind::Input { via, len, keys });
            }
            PtyMsg::Resize { size, reply } => {
                let Some(key) = st.key.filter(|_| st.shared.state().is_live()) else {
                    let _ = reply.send(Err(SessionError::Exited(st.id)));
                    return Ok(());
                };
                let reactor = st.reactor.clone();
                let id = st.id;
                // Resizing is one ioctl; answer from a task so the mailbox keeps moving.
                tokio::spawn(async move {
                    let _ = reply.send(reactor.resize(key, size).await.map_err(|e| io_error(id, e)));
                });
                st.shared.screen.resize(size);
                st.shared.update_info(|i| i.size = size);
                st.bus.publish(Some(st.id), EventKind::Resized { size });
            }
            PtyMsg::Stop { grace } => {
                if st.shared.state().is_live() {
                    st.stopping = true;
                    st.shared.transition(SessionState::Stopping, "stop requested", None, None);
                    if let Some(key) = st.key {
                        st.reactor.stop(key, grace);
                    }
                }
            }
            PtyMsg::RecentOutput(reply) => {
                let _ = reply.send(st.ring.as_ref().map(|r| r.to_vec()).unwrap_or_default());
            }
        }
        Ok(())
    }
}

/// Queues a write in the reactor without blocking the mailbox: a child that
/// does not read its input must never stop this actor from draining output.
fn start_write(
    myself: &ActorRef<PtyMsg>,
    st: &PtyState,
    data: Bytes,
    via: InputVia,
    keys: Vec<String>,
    reply: Option<RpcReplyPort<Result<(), SessionError>>>,
) {
    let Some(key) = st.key else { return };
    let reactor = st.reactor.clone();
    let me = myself.clone();
    let id = st.id;
    let len = data.len();
    // The reactor queues writes in arrival order, so input order is kept
    // even though each write is awaited in its own task.
    let pending = reactor.write_queued(key, data);
    tokio::spawn(async move {
        let r = pending.await.map_err(|e| io_error(id, e));
        if r.is_ok() {
            let _ = me.cast(PtyMsg::InputDone { via, len, keys });
        } else if let Err(e) = &r {
            warn!(session = %id, error = %e, "input not written");
        }
        if let Some(reply) = reply {
            let _ = reply.send(r);
        }
    });
}

fn io_error(id: SessionId, e: IoError) -> SessionError {
    match e {
        IoError::Exited => SessionError::Exited(id),
        IoError::Os(m) => SessionError::Io(m),
    }
}

/// Writes `session.json` next to the transcript, atomically, on the writer thread.
fn write_meta(reactor: &ReactorHandle, state_dir: &Option<std::path::PathBuf>, info: &SessionInfo) {
    let Some(dir) = state_dir else { return };
    let dir = crate::transcript::session_dir(dir, &info.id);
    if let Ok(json) = serde_json::to_vec_pretty(info) {
        reactor.transcripts().write_meta(dir, json);
    }
}

/// The last N bytes of output, for redrawing a terminal.
pub(crate) struct OutputRing {
    buf: VecDeque<u8>,
    cap: usize,
}

impl OutputRing {
    pub(crate) fn new(cap: usize) -> Self {
        OutputRing { buf: VecDeque::new(), cap }
    }

    pub(crate) fn push(&mut self, data: &[u8]) {
        if self.cap == 0 {
            return;
        }
        let data = if data.len() > self.cap { &data[data.len() - self.cap..] } else { data };
        let overflow = (self.buf.len() + data.len()).saturating_sub(self.cap);
        self.buf.drain(..overflow);
        self.buf.extend(data);
    }

    pub(crate) fn to_vec(&self) -> Vec<u8> {
        let (a, b) = self.buf.as_slices();
        [a, b].concat()
    }
}

#[cfg(test)]
mod tests {
    use super::OutputRing;

    #[test]
    fn ring_keeps_the_last_bytes() {
        let mut r = OutputRing::new(5);
        r.push(b"abc");
        r.push(b"defg");
        assert_eq!(r.to_vec(), b"cdefg");
        r.push(b"0123456789");
        assert_eq!(r.to_vec(), b"56789");
        let mut none = OutputRing::new(0);
        none.push(b"x");
        assert!(none.to_vec().is_empty());
    }
}
