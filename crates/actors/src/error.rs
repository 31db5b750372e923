//! Errors of the embedding API.

use std::path::PathBuf;

use warden_core::{SessionId, SpecError, UnknownKey};

/// Why a session operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// No session has this id on this node.
    #[error("unknown session {0}")]
    UnknownSession(SessionId),
    /// The session's process has exited; it takes no more input.
    #[error("session {0} has already exited")]
    Exited(SessionId),
    /// The working directory does not exist or is not a directory.
    #[error("working directory {path} is not usable: {reason}")]
    BadWorkdir {
        /// The directory asked for.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The program is not an executable file on `PATH`.
    #[error("program `{program}` not found (or not executable) on PATH")]
    ProgramNotFound {
        /// The program asked for.
        program: String,
    },
    /// The spec is malformed.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A key name is not in the table.
    #[error(transparent)]
    UnknownKey(#[from] UnknownKey),
    /// The OS refused to start the process.
    #[error("cannot start the agent: {0}")]
    Spawn(String),
    /// An OS error on a running session.
    #[error("terminal I/O failed: {0}")]
    Io(String),
    /// The node already runs its maximum number of sessions.
    #[error("too many sessions (limit {max}); stop some or raise max_sessions")]
    TooManySessions {
        /// The configured limit.
        max: usize,
    },
    /// warden is shutting down and takes no new work.
    #[error("warden is shutting down")]
    ShuttingDown,
    /// The agent does not read its input and this much already waits for it.
    #[error("session {session} is not reading its input: {max} bytes already wait for it; retry later")]
    InputFull {
        /// The session.
        session: SessionId,
        /// Bytes a session holds for its agent at most.
        max: usize,
    },
    /// No pending confirmation has this id.
    #[error("session {session} has no pending confirmation `{id}`")]
    UnknownConfirmation {
        /// The session.
        session: SessionId,
        /// The id asked for.
        id: String,
    },
    /// A rule that cannot be used.
    #[error("invalid rule: {0}")]
    BadRule(String),
    /// The request is over one of the node's budgets (named in the error).
    #[error(transparent)]
    OverBudget(#[from] crate::budget::BudgetError),
    /// An internal failure (a supervisor did not answer in time, …).
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why warden could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The state directory cannot be created or written.
    #[error("state directory {path}: {source}")]
    StateDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The reactor thread or the actor tree could not start.
    #[error("cannot start warden: {0}")]
    Runtime(String),
}
