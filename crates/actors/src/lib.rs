//! warden-actors: the supervision tree, PTY IO and the embedding handle.
//!
//! ```text
//! WardenSupervisor (root: session registry)
//! └── SessionSupervisor (one per session; restart policy)
//!     ├── PtyActor (one per process: output, input, exit)
//!     ├── StallDetector (screen state, settle timers, stalls, escalation)
//!     └── AutoResponder (rules, pending confirmations, loop guard)
//! PTY reactor thread (every PTY master, child, pidfd and transcript)
//! EventBus (ordered, sequenced, bounded replay, lag markers)
//! ```
//!
//! Start with [`Warden`].

// `unsafe` only in `sys` (and below): spawning, pidfds, signals, flock, fd IO.
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod ack;
pub mod adapter_book;
pub mod budget;
pub mod bus;
pub mod check;
pub mod classifier;
pub mod cli_facts;
mod confirm;
mod context;
mod decide;
mod detector;
pub mod env;
pub mod error;
mod handle;
mod instance;
pub mod launch;
mod msg;
pub mod preflight;
mod pty;
mod reactor;
mod respond;
mod restarts;
mod ring;
mod root;
mod rules;
mod screen_cell;
mod session;
mod session_core;
mod stop;
mod sync;
#[allow(unsafe_code)]
mod sys;
pub mod task;
mod task_host;
mod terminals;
pub mod transcript;
mod typist;
pub mod workspace;

pub use budget::{Budget, BudgetError, Budgets};
pub use bus::{BusLimits, EventBus, Subscription};
pub use classifier::{ClassifyFuture, StallClassifier, StallContext};
pub use env::{INSTANCE_ENV, SESSION_ENV};
pub use error::{SessionError, StartError};
pub use handle::{TerminalAttachment, Warden, WardenConfig, check_workdir, default_node_name, node_name_for};
pub use launch::{AgentChoice, AgentRequest, FileOutcome, FileSource, LaunchError, LaunchFile, LaunchedAgent};
pub use sys::cgroup::{Containment, probe as probe_containment};
pub use task::{TaskConfig, TaskError};
pub use workspace::{WorkspaceConfig, WorkspaceError};

#[cfg(test)]
mod module_graph;
