//! warden-core: the pure domain of warden.
//!
//! Identifiers, session specs and the session state machine, events, named
//! keys and small stream utilities. This crate does no IO, spawns nothing and
//! holds no locks: everything here is plain data and functions, tested by
//! unit and property tests next to the code.

#![warn(missing_docs)]

pub mod event;
pub mod ids;
pub mod spec;
pub mod state;
pub mod utf8;

pub use event::{Event, EventKind, ExitInfo, InputVia, Output, EVENT_VERSION};
pub use ids::{InvalidSessionId, SessionId};
pub use spec::{RestartPolicy, SessionSpec, SpecError, TermSize};
pub use state::{check_transition, IllegalTransition, SessionState};
