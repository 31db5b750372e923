//! warden: a supervisor for interactive command-line coding agents running
//! in pseudo-terminals.
//!
//! This facade re-exports the embedding API ([`Warden`]) and the crates
//! behind it. The command line is not part of it: it is private to the
//! `warden` binary (`src/main.rs`, `src/cli/`). See `docs/ARCHITECTURE.md`
//! for the map.

#![forbid(unsafe_code)]

pub use warden_actors as actors;
pub use warden_actors::{
    BusLimits, EventBus, SessionError, StartError, Subscription, Warden, WardenConfig, default_node_name,
};
pub use warden_adapters as adapters;
pub use warden_core as core;
pub use warden_core::{
    Delivery, Event, EventKind, ExitInfo, PendingConfirmation, Reply, ResponseRule, ScreenSnapshot, SessionFilter,
    SessionId, SessionInfo, SessionSpec, SessionState, StallSpec, SupervisionLevel,
};

/// The README's examples, compiled as doctests so they cannot rot.
#[doc = include_str!("../README.md")]
mod readme {}
