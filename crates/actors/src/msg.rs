//! The messages of a session's actors.
//!
//! They live here, apart from the actors, so that naming one needs no actor
//! module: the session core links to the actors by these types, and every
//! actor module imports this one, never another actor's. (The root's
//! messages live with the root: only the embedding handle talks to it.)

use std::time::Duration;

use bytes::Bytes;
use ractor::RpcReplyPort;
use warden_core::stall::Classification;
use warden_core::{InputVia, TermSize};

use crate::error::SessionError;
use crate::reactor::IoEvent;
use crate::ring::OutputRing;

/// Messages of the `PtyActor`.
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

/// Messages of the `SessionSupervisor`.
pub(crate) enum SessionMsg {
    /// The process ended (`exit`) and the restart policy starts a new one
    /// after `after`.
    Respawn { after: Duration, ring: Option<OutputRing>, exit: warden_core::ExitInfo },
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

/// Messages of the `StallDetector`.
pub(crate) enum DetectorMsg {
    /// The screen changed (or the process state did).
    Wake,
    /// A timer fired.
    Tick,
    /// warden typed input into the agent: it should turn busy.
    InputSent,
    /// A classifier answered about the stall reported at `stall_no`.
    Classified { stall_no: u64, answer: Option<Classification>, source: String },
}

/// Messages of the `AutoResponder`.
pub(crate) enum ResponderMsg {
    /// The screen changed: look at it.
    Wake,
}
