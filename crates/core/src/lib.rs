//! warden-core: the pure domain of warden.
//!
//! Identifiers, session specs and the session state machine, events, named
//! keys, small stream utilities and the pure part of git workspaces. This crate does no IO, spawns nothing and
//! holds no locks: everything here is plain data and functions, tested by
//! unit and property tests next to the code.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod event;
pub mod exit;
pub mod idref;
pub mod ids;
pub mod info;
pub mod keys;
pub mod prompt;
pub mod restart;
pub mod retention;
pub mod screen;
pub mod spec;
pub mod stall;
pub mod state;
pub mod supervise;
pub mod task;
pub mod term;
pub mod text;
pub mod utf8;
mod wire;
pub mod workspace;

pub use event::{ActorKind, EVENT_VERSION, Event, EventKind, InputVia, Output};
pub use exit::{ExitInfo, ExitReason};
pub use ids::{InvalidSessionId, SessionId};
pub use info::{SessionFilter, SessionInfo};
pub use keys::UnknownKey;
pub use prompt::{ConfirmationKind, ConfirmationOutcome, LoginKind, PromptKind, PromptMatch};
pub use restart::RestartPolicy;
pub use screen::{normalize as normalize_screen, screen_hash};
pub use spec::{SessionSpec, SpecError, TermSize};
pub use state::{IllegalTransition, SessionState, check_transition};
pub use supervise::{
    ApprovalPreset, Delivery, LoopGuard, MainScreen, PendingConfirmation, Provenance, Reply, ResponseRule, RuleSource,
    ScreenSnapshot, StallSpec, SupervisionLevel,
};
pub use task::{TaskId, TaskRecord, TaskSpec, TaskStatus};
pub use term::Screen;
pub use workspace::{BranchName, Step, WorkspaceErrorCode, WorkspaceId, WorkspaceRecord, WorkspaceState};
