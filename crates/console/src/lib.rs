//! A person at a terminal, talking to sessions.
//!
//! The terminal half of "raw terminal ⇄ session", shared by interactive
//! `warden run` and `warden attach`: [`Console::open`] puts the terminal on
//! stdin/stdout into raw mode and gives back what the person does
//! ([`Console::next`]: keystrokes as bytes, resizes, a detach key, a yes/no
//! answer to a question on the status line) and shows what the session
//! prints ([`Console::show`]). Whatever happens — the session ends, the
//! caller returns early, a panic unwinds, the process is told to stop (the
//! clients here catch SIGTERM, SIGHUP and SIGINT and end as their own way out
//! does: [`StopSignal`]) — the terminal is left as it was found: the modes the program turned on
//! (alternate screen, hidden cursor, mouse, focus and bracketed-paste
//! reporting, keyboard protocols; tracked by
//! [`warden_core::term::Screen::modes`]) are turned off, the terminal's
//! pending replies to the program's queries are read and thrown away (so
//! none reaches the shell), and cooked mode is restored. Details:
//! `docs/TERMINAL.md`. The console knows nothing of warden's sessions: the
//! caller moves bytes between it and a session.
//!
//! On top of it, clients of the public protocol only (the local socket or
//! NATS), like any other:
//! - [`link`]: how they reach nodes;
//! - [`attach`]: `warden attach`, a terminal on one running session;
//! - [`board`]: what `top` shows, kept from the event stream (pure);
//! - [`top`]: `warden top`, the ratatui view of every session.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod attach;
pub mod board;
mod console;
mod input;
pub mod link;
mod raw;
mod reader;
mod status;
mod stop;
pub mod top;

pub use attach::{AttachEnd, AttachOptions, run_attach};
pub use console::{Console, ConsoleError, ConsoleInput, ConsoleOptions};
pub use input::{DEFAULT_DETACH_KEY, detach_key_byte};
pub use link::Link;
pub use status::{clear_status, draw_status, past_origin_mode};
pub use stop::StopSignal;
pub use top::{TopEnd, TopOptions, run_top};

/// Why a client of the protocol (`attach`, `top`) stopped.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// Reaching the nodes failed.
    #[error("{0}")]
    Bridge(#[from] warden_bridge::BridgeError),
    /// The terminal failed.
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
    /// The person's terminal could not be opened.
    #[error("{0}")]
    Console(#[from] ConsoleError),
    /// A node sent something this console cannot read.
    #[error("{0}")]
    Protocol(String),
}
