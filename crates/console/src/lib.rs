//! warden-console: warden for a person at a terminal, built only on the
//! public protocol (the local socket or NATS), like any other client.
//!
//! - [`attach`]: `warden attach`, a terminal on one running session;
//! - [`board`]: what `top` shows, kept from the event stream (pure);
//! - [`link`]: how the console reaches nodes (local socket or NATS);
//! - [`top`]: `warden top`, the ratatui view of every session.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod attach;
pub mod board;
pub mod link;
pub mod top;

pub use attach::{AttachEnd, AttachOptions, run_attach};
pub use link::Link;
pub use top::{TopOptions, run_top};

/// Why the console stopped.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// Reaching the nodes failed.
    #[error("{0}")]
    Bridge(#[from] warden_bridge::BridgeError),
    /// The terminal failed.
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
    /// A node sent something this console cannot read.
    #[error("{0}")]
    Protocol(String),
}
