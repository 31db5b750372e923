//! The `PtyActor`: the session's view of its terminal.
//!
//! The reactor thread owns the file descriptors; this actor owns what the
//! session knows about them: the state, the output ring for redrawing a
//! terminal, the UTF-8 carry, the exit. It turns reactor events into bus
//! events, in order, and turns callers' input into reactor writes.

use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;

use bytes::Bytes;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tracing::{debug, warn};
use warden_core::term::QueryScanner;
use warden_core::{
    EventKind, ExitInfo, ExitReason, InputVia, Output, SessionId, SessionInfo, SessionState, utf8::Utf8Carry,
};

use crate::bus::EventBus;
use crate::error::SessionError;
use crate::msg::{PtyMsg, SessionMsg};
use crate::reactor::{FlowGate, IoError, IoEvent, ReactorHandle};
use crate::restarts::AfterExit;
use crate::ring::OutputRing;
use crate::session_core::SessionCore;
use crate::stop::StopReason;

/// Arguments of a [`PtyActor`].
pub(crate) struct PtyArgs {
    pub core: Arc<SessionCore>,
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
    core: Arc<SessionCore>,
    task: Option<String>,
    reactor: ReactorHandle,
    bus: EventBus,
    flow: Arc<FlowGate>,
    /// Until it goes on to the next process of the session (a restart).
    ring: Option<OutputRing>,
    carry: Utf8Carry,
    state_dir: Option<std::path::PathBuf>,
    stopping: bool,
    /// Terminal queries in the output, answered while no terminal is attached.
    queries: QueryScanner,
    /// When the process started (for telling a rejected launch from a later exit).
    started_at: Option<std::time::Instant>,
}

/// The largest `output` event: the reactor hands over up to 256 KiB at once,
/// published as several events, each cut on a character boundary (an event
/// serialised as JSON, control characters escaped, stays well under NATS's
/// default 1 MiB payload).
pub(crate) const EVENT_MAX: usize = 64 * 1024;

impl PtyState {
    fn emit_output(&mut self, mut bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        // The ring is gone only once this actor ends, handing it to the next process.
        let mut offset = self.ring.as_ref().map_or(0, OutputRing::written);
        if let Some(ring) = &mut self.ring {
            ring.push(&bytes);
        }
        while !bytes.is_empty() {
            let piece = bytes.split_to(event_cut(&bytes, EVENT_MAX));
            let len = piece.len() as u64;
            self.bus.publish(Some(self.id), EventKind::Output(Output { bytes: piece, offset }));
            offset += len;
        }
    }
}

/// Where to end an event of at most `max` bytes taken from the start of
/// `bytes`: not inside a UTF-8 character (invalid UTF-8 is still cut), never
/// at 0.
fn event_cut(bytes: &[u8], max: usize) -> usize {
    if bytes.len() <= max {
        return bytes.len();
    }
    warden_core::utf8::complete_prefix_len(&bytes[..max]).max(1)
}

impl PtyState {
    /// The session is over: the last event, the waiters, the record.
    fn end(&mut self, exit: ExitInfo, myself: &ActorRef<PtyMsg>) {
        self.bus.publish(Some(self.id), EventKind::Exited(exit.clone()));
        self.core.finish(exit);
        self.core.screen.poke();
        write_meta(&self.reactor, &self.state_dir, &self.core.info());
        if self.state_dir.is_some() {
            // After the record just queued: this session now counts as ended.
            self.reactor.transcripts().prune();
        }
        myself.stop(StopReason::Exited.reason());
    }
}

impl Actor for PtyActor {
    type Msg = PtyMsg;
    type State = PtyState;
    type Arguments = PtyArgs;

    async fn pre_start(&self, _myself: ActorRef<PtyMsg>, args: PtyArgs) -> Result<PtyState, ActorProcessingErr> {
        Ok(PtyState {
            id: args.core.id,
            key: None,
            bus: args.core.bus.clone(),
            core: args.core,
            task: args.task,
            reactor: args.reactor,
            flow: args.flow,
            ring: Some(args.ring),
            carry: Utf8Carry::new(),
            state_dir: args.state_dir,
            stopping: false,
            queries: QueryScanner::new(),
            started_at: None,
        })
    }

    async fn handle(&self, myself: ActorRef<PtyMsg>, msg: PtyMsg, st: &mut PtyState) -> Result<(), ActorProcessingErr> {
        match msg {
            PtyMsg::Io(IoEvent::Output(bytes)) => {
                let n = bytes.len();
                if st.core.terminals.warden_answers() {
                    answer_queries(st, &bytes);
                } else {
                    st.core.output_arrived(&bytes);
                }
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
                    reason: if st.core.state() == SessionState::Failed {
                        ExitReason::Failed
                    } else if stopped || st.stopping || st.core.restarts.stopped() {
                        ExitReason::Stopped
                    } else {
                        ExitReason::Exited
                    },
                };
                debug!(session = %st.id, ?exit, "process exited");
                st.core.typist.attach(None);
                let rejection = launch_rejection(st, &exit);
                if let Some(rejection) = rejection.as_ref().filter(|r| r.provenance.is_some()) {
                    // The CLI said it refuses these arguments: starting it again would be
                    // refused again, so the session ends whatever the restart policy.
                    publish_rejection(st, &exit, rejection);
                    st.core.update_info(|i| i.exit = Some(exit.clone()));
                    st.core.transition(SessionState::Exited, "launch rejected", Some(rejection.message.clone()), None);
                    st.end(exit, &myself);
                    return Ok(());
                }
                match st.core.restarts.process_ended(&exit, stopped || st.stopping) {
                    AfterExit::Restart { after, attempt, reason } => {
                        st.bus.publish(
                            Some(st.id),
                            EventKind::Restarting {
                                attempt,
                                delay_ms: after.as_millis() as u64,
                                reason: reason.clone(),
                            },
                        );
                        st.core.transition(SessionState::Starting, &format!("restarting: {reason}"), None, None);
                        st.core.screen.poke();
                        #[cfg(feature = "test-hooks")]
                        drop(st.core.faults.respawn_gate.read().await);
                        let _ = st.core.sup_cast(SessionMsg::Respawn { after, ring: st.ring.take(), exit });
                        myself.stop(StopReason::Restart.reason());
                    }
                    AfterExit::End(exit) => {
                        // A crash on start (no rule knows the screen) is reported when the
                        // session ends with it; a restart policy may still try again first.
                        if let Some(rejection) = &rejection {
                            publish_rejection(st, &exit, rejection);
                        }
                        st.core.update_info(|i| i.exit = Some(exit.clone()));
                        if exit.reason != ExitReason::Failed {
                            // A failed session stays failed (no way out of it).
                            st.core.transition(SessionState::Exited, exit.reason.as_str(), None, None);
                        }
                        st.end(exit, &myself);
                    }
                    AfterExit::GiveUp { exit, reason } => {
                        warn!(session = %st.id, %reason, "restart policy gave up");
                        st.core.update_info(|i| i.exit = Some(exit.clone()));
                        st.bus.publish(Some(st.id), EventKind::Error { message: reason.clone() });
                        st.core.transition(SessionState::Failed, &reason, None, None);
                        st.end(exit, &myself);
                    }
                }
            }
            PtyMsg::Io(IoEvent::Started { key, pid }) => {
                st.key = Some(key);
                st.started_at = Some(std::time::Instant::now());
                let info = st.core.update_info(|i| i.pid = Some(pid));
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
                    st.core.note_typed(&task);
                    let mut data = task.into_bytes();
                    data.push(b'\r');
                    start_write(&myself, st, Bytes::from(data), InputVia::Text, Vec::new(), None);
                    st.core.notify_input();
                }
            }
            PtyMsg::Input { data, via, keys, reply } => {
                if st.core.state().is_terminal() || st.key.is_none() {
                    let _ = reply.send(Err(SessionError::Exited(st.id)));
                } else {
                    start_write(&myself, st, data, via, keys, Some(reply));
                }
            }
            PtyMsg::Write { data, via, keys } => {
                if st.key.is_some() && st.core.state().is_live() {
                    start_write(&myself, st, data, via, keys, None);
                }
            }
            PtyMsg::InputDone { via, len, keys } => {
                st.bus.publish(Some(st.id), EventKind::Input { via, len, keys });
            }
            PtyMsg::Resize { size, reply } => {
                let Some(key) = st.key.filter(|_| st.core.state().is_live()) else {
                    let _ = reply.send(Err(SessionError::Exited(st.id)));
                    return Ok(());
                };
                // The screen model first: a snapshot asked for once the reply came (a
                // terminal attaching at its own size) shows the new size.
                st.core.screen.resize(size);
                let reactor = st.reactor.clone();
                let id = st.id;
                // Resizing is one ioctl; answer from a task so the mailbox keeps moving.
                tokio::spawn(async move {
                    let _ = reply.send(reactor.resize(key, size).await.map_err(|e| io_error(id, e)));
                });
                st.core.update_info(|i| i.size = size);
                st.bus.publish(Some(st.id), EventKind::Resized { size });
            }
            PtyMsg::Stop { grace } => {
                if st.core.state().is_live() {
                    st.stopping = true;
                    st.core.transition(SessionState::Stopping, "stop requested", None, None);
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

/// Pushes `bytes` to the screen and answers the terminal queries among them, each
/// from the screen as it was just after the query (a cursor-position reply has the
/// cursor there). Replies go straight to the PTY: they are the terminal's, not
/// input, so they make no `input` event and do not count as a turn.
fn answer_queries(st: &mut PtyState, bytes: &[u8]) {
    let found = st.queries.scan(bytes);
    if found.is_empty() {
        st.core.output_arrived(bytes);
        return;
    }
    let mut replies = Vec::new();
    let mut from = 0;
    for (end, query) in found {
        if end > from {
            st.core.output_arrived(&bytes[from..end]);
        }
        from = end;
        replies.extend_from_slice(&query.reply(&st.core.screen.reply_context()));
        debug!(session = %st.id, ?query, "answered a terminal query");
    }
    if from < bytes.len() {
        st.core.output_arrived(&bytes[from..]);
    }
    if let Some(key) = st.key {
        let id = st.id;
        let pending = st.reactor.write_queued(key, Bytes::from(replies));
        tokio::spawn(async move {
            if let Err(e) = pending.await {
                debug!(session = %id, error = ?e, "terminal reply not written");
            }
        });
    }
}

fn publish_rejection(st: &PtyState, exit: &ExitInfo, rejection: &crate::decide::launch::Rejection) {
    warn!(session = %st.id, message = %rejection.message, "the agent rejected its launch");
    st.bus.publish(
        Some(st.id),
        EventKind::LaunchRejected {
            message: rejection.message.clone(),
            code: exit.code,
            signal: exit.signal,
            elapsed_ms: st.started_at.map_or(0, |t| t.elapsed().as_millis() as u64),
            provenance: rejection.provenance.clone(),
            hint: rejection.hint.clone(),
        },
    );
}

/// Whether the process that just exited rejected its launch
/// ([`crate::decide::launch::rejected`] on its last screen).
fn launch_rejection(st: &PtyState, exit: &ExitInfo) -> Option<crate::decide::launch::Rejection> {
    if st.stopping {
        return None;
    }
    let view = st.core.screen.view();
    let verdict = st.core.classify_view(&view);
    let look = crate::decide::view::Look { view, verdict };
    let adapter = st.core.adapter();
    // The adapter's own CLI: not the fallback shell, and the program it names (by file
    // name; a caller's `--program` is something else).
    let file_name = |p: &str| p.rsplit('/').next().unwrap_or(p).to_string();
    let own = adapter.probe.binary.as_deref().unwrap_or(&adapter.program);
    let agent_cli = !adapter.fallback && file_name(&st.core.info().program) == file_name(own);
    let ended = crate::decide::launch::Ended {
        agent_cli,
        exit,
        elapsed: st.started_at.map_or(std::time::Duration::ZERO, |t| t.elapsed()),
        state: st.core.state(),
        look: &look,
    };
    crate::decide::launch::rejected(&adapter, &ended)
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
            if matches!(e, SessionError::InputFull { .. }) {
                debug!(session = %id, error = %e, "input refused");
            } else {
                warn!(session = %id, error = %e, "input not written");
            }
        }
        if let Some(reply) = reply {
            let _ = reply.send(r);
        }
    });
}

fn io_error(id: SessionId, e: IoError) -> SessionError {
    match e {
        IoError::Exited => SessionError::Exited(id),
        IoError::InputFull { max } => SessionError::InputFull { session: id, max },
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

#[cfg(test)]
mod tests {
    use super::event_cut;

    #[test]
    fn events_are_cut_on_character_boundaries() {
        assert_eq!(event_cut(b"abc", 8), 3);
        assert_eq!(event_cut(b"abcdefghij", 4), 4);
        // "é" is two bytes: a cut at 4 would split the second one.
        let s = "abcé".repeat(3);
        assert_eq!(event_cut(s.as_bytes(), 4), 3);
        assert!(std::str::from_utf8(&s.as_bytes()[..event_cut(s.as_bytes(), 4)]).is_ok());
        // A four-byte character across the cut.
        let s = format!("ab{}", "😀".repeat(4));
        let cut = event_cut(s.as_bytes(), 5);
        assert_eq!(cut, 2);
        // Invalid UTF-8 (continuation bytes only) is still cut, never at 0.
        let junk = [0x80u8; 16];
        assert!((1..=8).contains(&event_cut(&junk, 8)));
        assert_eq!(event_cut(&[0x80, 0x80], 1), 1);
    }
}
