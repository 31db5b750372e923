//! warden-actors: the supervision tree, PTY IO and the embedding handle.
//!
//! ```text
//! WardenSupervisor (root: session registry)
//! └── SessionSupervisor (one per session)
//!     └── PtyActor (state, output ring, input, exit)
//! PTY reactor thread (every PTY master, child, pidfd and transcript)
//! EventBus (ordered, sequenced, bounded replay, lag markers)
//! ```
//!
//! Start with [`Warden`].

#![warn(missing_docs)]

pub mod bus;
pub mod env;
pub mod error;
mod handle;
mod instance;
pub mod preflight;
mod pty;
mod reactor;
mod root;
mod session;
mod sys;
pub mod transcript;
pub mod workspace;

pub use bus::{BusLimits, EventBus, Subscription};
pub use env::{INSTANCE_ENV, SESSION_ENV};
pub use error::{SessionError, StartError};
pub use handle::{Warden, WardenConfig, default_node_name};
pub use workspace::{WorkspaceConfig, WorkspaceError};
