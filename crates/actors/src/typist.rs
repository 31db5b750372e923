//! Everything warden types into a session itself: the task, replies to
//! prompts, nudges, escalation keys, confirmed answers and acknowledged
//! sends all leave through the [`Typist`], in order, to the current PTY actor.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use ractor::{ActorRef, RpcReplyPort};
use tracing::debug;
use warden_adapters::InputPlan;
use warden_core::{InputVia, SessionId};

use crate::error::SessionError;
use crate::msg::PtyMsg;
use crate::sync::lock;

/// How long a call into a session's PTY actor may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The session's keyboard.
pub(crate) struct Typist {
    id: SessionId,
    /// The PTY actor of the process that runs now (none between two lives).
    pty: Mutex<Option<ActorRef<PtyMsg>>>,
    /// The task, typed once a TUI agent first shows it is ready.
    task_on_ready: Mutex<Option<String>>,
    /// Numbers acknowledged sends.
    input_seq: AtomicU64,
}

impl Typist {
    pub(crate) fn new(id: SessionId, task_on_ready: Option<String>) -> Typist {
        Typist { id, pty: Mutex::new(None), task_on_ready: Mutex::new(task_on_ready), input_seq: AtomicU64::new(0) }
    }

    /// The PTY actor of the running process.
    pub(crate) fn pty(&self) -> Option<ActorRef<PtyMsg>> {
        lock(&self.pty).clone()
    }

    /// A process started (`Some`) or ended (`None`).
    pub(crate) fn attach(&self, pty: Option<ActorRef<PtyMsg>>) {
        *lock(&self.pty) = pty;
    }

    /// Writes bytes to the terminal without waiting (order is kept by the reactor).
    pub(crate) fn write_raw(&self, data: Vec<u8>, via: InputVia, keys: Vec<String>) {
        match self.pty() {
            Some(pty) => {
                let _ = pty.cast(PtyMsg::Write { data: Bytes::from(data), via, keys });
            }
            None => debug!(session = %self.id, "no terminal to write to"),
        }
    }

    /// Writes an adapter's input plan: the first part now, the submit key after its delay.
    pub(crate) fn write_plan(&self, plan: InputPlan, via: InputVia) {
        // One read of the link: the submit key goes to the process that got
        // the text, or nowhere.
        let Some(pty) = self.pty() else {
            debug!(session = %self.id, "no terminal to write to");
            return;
        };
        let _ = pty.cast(PtyMsg::Write { data: Bytes::from(plan.first), via, keys: Vec::new() });
        if let Some((delay_ms, then)) = plan.then {
            let then = Bytes::from(then);
            pty.send_after(Duration::from_millis(delay_ms), move || PtyMsg::Write {
                data: then,
                via: InputVia::Keys,
                keys: vec!["enter".into()],
            });
        }
    }

    /// Writes a caller's input and waits until it is written.
    pub(crate) async fn input(&self, data: Bytes, via: InputVia, keys: Vec<String>) -> Result<(), SessionError> {
        let pty = self.pty().ok_or(SessionError::Exited(self.id))?;
        call_pty(&pty, |reply| PtyMsg::Input { data, via, keys, reply }).await?
    }

    /// The number of the next acknowledged send.
    pub(crate) fn next_input(&self) -> u64 {
        self.input_seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Whether a task waits for the agent's first ready prompt.
    pub(crate) fn has_task_on_ready(&self) -> bool {
        lock(&self.task_on_ready).is_some()
    }

    /// Takes the task that waits for the first ready prompt.
    pub(crate) fn take_task_on_ready(&self) -> Option<String> {
        lock(&self.task_on_ready).take()
    }
}

/// Calls a PTY actor, mapping a dead or silent actor to the caller's error.
pub(crate) async fn call_pty<T: Send + 'static>(
    pty: &ActorRef<PtyMsg>,
    msg: impl FnOnce(RpcReplyPort<T>) -> PtyMsg,
) -> Result<T, SessionError> {
    match pty.call(msg, Some(CALL_TIMEOUT)).await {
        Ok(ractor::rpc::CallResult::Success(v)) => Ok(v),
        Ok(ractor::rpc::CallResult::Timeout) => Err(SessionError::Internal("the session did not answer".into())),
        Ok(ractor::rpc::CallResult::SenderError) | Err(_) => {
            Err(SessionError::Internal("the session ended while answering".into()))
        }
    }
}
