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
    EventKind, ExitInfo, InputVia, Output, SessionId, SessionInfo, SessionState, TermSize, check_transition,
    utf8::Utf8Carry,
};

use crate::bus::EventBus;
use crate::error::SessionError;
use crate::reactor::{FlowGate, IoError, IoEvent, ReactorHandle};
use crate::root::RootMsg;

/// Messages of the [`PtyActor`].
pub(crate) enum PtyMsg {
    /// From the reactor.
    Io(IoEvent),
    /// Write bytes to the terminal.
    Input { data: Bytes, via: InputVia, keys: Vec<String>, reply: RpcReplyPort<Result<(), SessionError>> },
    /// Resize the terminal.
    Resize { size: TermSize, reply: RpcReplyPort<Result<(), SessionError>> },
    /// Stop the process: polite signals, then SIGKILL after `grace`.
    Stop { grace: Duration },
    /// Answered with the exit once the process has exited and all output is out.
    WaitExit(RpcReplyPort<ExitInfo>),
    /// The last output bytes (for redrawing a terminal).
    RecentOutput(RpcReplyPort<Vec<u8>>),
    /// The write of an input finished (internal).
    InputDone { via: InputVia, len: usize, keys: Vec<String> },
}

/// Arguments of a [`PtyActor`].
pub(crate) struct PtyArgs {
    pub info: SessionInfo,
    pub task: Option<String>,
    pub reactor: ReactorHandle,
    pub bus: EventBus,
    pub root: ActorRef<RootMsg>,
    pub flow: Arc<FlowGate>,
    pub ring_bytes: usize,
    pub state_dir: Option<std::path::PathBuf>,
}

/// The PTY actor of one session.
pub(crate) struct PtyActor;

pub(crate) struct PtyState {
    id: SessionId,
    key: Option<u64>,
    info: SessionInfo,
    task: Option<String>,
    reactor: ReactorHandle,
    bus: EventBus,
    root: ActorRef<RootMsg>,
    flow: Arc<FlowGate>,
    ring: OutputRing,
    carry: Utf8Carry,
    waiters: Vec<RpcReplyPort<ExitInfo>>,
    state_dir: Option<std::path::PathBuf>,
}

impl PtyState {
    fn transition(&mut self, to: SessionState, reason: &str) {
        let from = self.info.state;
        if let Err(e) = check_transition(from, to) {
            debug!(session = %self.id, error = %e, "transition skipped");
            return;
        }
        self.info.state = to;
        self.bus
            .publish(Some(self.id), EventKind::StateChanged { from, to, reason: reason.to_string(), excerpt: None });
        let _ = self.root.cast(RootMsg::Update(Box::new(self.info.clone())));
    }

    fn emit_output(&mut self, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        self.ring.push(&bytes);
        self.bus.publish(Some(self.id), EventKind::Output(Output { bytes }));
    }
}

impl Actor for PtyActor {
    type Msg = PtyMsg;
    type State = PtyState;
    type Arguments = PtyArgs;

    async fn pre_start(&self, _myself: ActorRef<PtyMsg>, args: PtyArgs) -> Result<PtyState, ActorProcessingErr> {
        Ok(PtyState {
            id: args.info.id,
            key: None,
            info: args.info,
            task: args.task,
            reactor: args.reactor,
            bus: args.bus,
            root: args.root,
            flow: args.flow,
            ring: OutputRing::new(args.ring_bytes),
            carry: Utf8Carry::new(),
            waiters: Vec::new(),
            state_dir: args.state_dir,
        })
    }

    async fn handle(&self, myself: ActorRef<PtyMsg>, msg: PtyMsg, st: &mut PtyState) -> Result<(), ActorProcessingErr> {
        match msg {
            PtyMsg::Io(IoEvent::Output(bytes)) => {
                let n = bytes.len();
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
                    reason: if stopped { "stopped" } else { "exited" }.to_string(),
                };
                debug!(session = %st.id, ?exit, "session exited");
                st.info.exit = Some(exit.clone());
                st.transition(SessionState::Exited, &exit.reason);
                st.bus.publish(Some(st.id), EventKind::Exited(exit.clone()));
                for w in st.waiters.drain(..) {
                    let _ = w.send(exit.clone());
                }
                let _ = st.root.cast(RootMsg::Update(Box::new(st.info.clone())));
                write_meta(&st.reactor, &st.state_dir, &st.info);
                myself.stop(Some("exited".into()));
            }
            PtyMsg::Io(IoEvent::Started { key, pid }) => {
                st.key = Some(key);
                st.info.pid = Some(pid);
                st.bus.publish(
                    Some(st.id),
                    EventKind::SessionStarted {
                        agent: st.info.agent.clone(),
                        program: st.info.program.clone(),
                        args: st.info.args.clone(),
                        pid,
                        workdir: st.info.workdir.clone(),
                        size: st.info.size,
                        label: st.info.label.clone(),
                    },
                );
                let _ = st.root.cast(RootMsg::Update(Box::new(st.info.clone())));
                write_meta(&st.reactor, &st.state_dir, &st.info);
                if let Some(task) = st.task.take() {
                    let mut data = task.into_bytes();
                    data.push(b'\r');
                    start_write(&myself, st, Bytes::from(data), InputVia::Text, Vec::new(), None);
                }
            }
            PtyMsg::Input { data, via, keys, reply } => {
                if st.info.state.is_terminal() || st.key.is_none() {
                    let _ = reply.send(Err(SessionError::Exited(st.id)));
                } else {
                    start_write(&myself, st, data, via, keys, Some(reply));
                }
            }
            PtyMsg::InputDone { via, len, keys } => {
                st.bus.publish(Some(st.id), EventKind::Input { via, len, keys });
            }
            PtyMsg::Resize { size, reply } => {
                let Some(key) = st.key.filter(|_| st.info.state.is_live()) else {
                    let _ = reply.send(Err(SessionError::Exited(st.id)));
                    return Ok(());
                };
                let reactor = st.reactor.clone();
                let id = st.id;
                // Resizing is one ioctl; answer from a task so the mailbox keeps moving.
                tokio::spawn(async move {
                    let _ = reply.send(reactor.resize(key, size).await.map_err(|e| io_error(id, e)));
                });
                st.info.size = size;
                st.bus.publish(Some(st.id), EventKind::Resized { size });
                let _ = st.root.cast(RootMsg::Update(Box::new(st.info.clone())));
            }
            PtyMsg::Stop { grace } => {
                if st.info.state.is_live() {
                    st.transition(SessionState::Stopping, "stop requested");
                    if let Some(key) = st.key {
                        st.reactor.stop(key, grace);
                    }
                }
            }
            PtyMsg::WaitExit(reply) => match &st.info.exit {
                Some(exit) => {
                    let _ = reply.send(exit.clone());
                }
                None => st.waiters.push(reply),
            },
            PtyMsg::RecentOutput(reply) => {
                let _ = reply.send(st.ring.to_vec());
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
