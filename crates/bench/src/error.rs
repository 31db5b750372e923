//! The error of every benchmark.

use warden_actors::{SessionError, StartError, WorkspaceError};

/// Why a benchmark could not produce its figures.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A file, pipe or process operation failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// Opening a bare PTY or spawning on it failed.
    #[error("pty: {0}")]
    Pty(String),
    /// The warden under test did not start.
    #[error("cannot start warden: {0}")]
    Start(#[from] StartError),
    /// A session call of the warden under test failed.
    #[error("session: {0}")]
    Session(#[from] SessionError),
    /// A workspace call of the warden under test failed.
    #[error("workspace: {0}")]
    Workspace(#[from] WorkspaceError),
    /// A `git` command of the workspace benchmark's setup failed.
    #[error("git {args}: {detail}")]
    Git {
        /// The arguments given to git.
        args: String,
        /// What went wrong (git's stderr, or why it did not run).
        detail: String,
    },
    /// No event arrived within the time a run allows.
    #[error("no event within {secs} s")]
    Timeout {
        /// Seconds waited.
        secs: u64,
    },
    /// A run did not go as designed (short read, lagged subscriber, missing
    /// answers…); the message says what happened.
    #[error("{0}")]
    Run(String),
    /// The memory part's fresh process failed or printed no report.
    #[error("memory part in a fresh process: {0}")]
    Child(String),
    /// A task of the benchmark panicked or was cancelled.
    #[error("benchmark task: {0}")]
    Join(#[from] tokio::task::JoinError),
}

impl BenchError {
    /// Wraps a `portable-pty` error.
    pub(crate) fn pty(e: impl std::fmt::Display) -> Self {
        BenchError::Pty(e.to_string())
    }

    /// Waited `d` for an event that did not come.
    pub(crate) fn timeout(d: std::time::Duration) -> Self {
        BenchError::Timeout { secs: d.as_secs() }
    }
}
