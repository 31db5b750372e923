//! Decisions as pure functions: what the `StallDetector` and the
//! `AutoResponder` do about a screen, without doing it.
//!
//! Like `warden_core::stall` and `warden_core::restart`, every policy here is
//! a function of `(now, screen, config, memory)` that returns a list of
//! effects; the actors (`detector.rs`, `respond.rs`) gather the inputs, call
//! the policy and carry the effects out, in order. Time is passed in, never
//! read here, and nothing here imports an actor, a lock or a PTY: the tables
//! in `tests.rs` feed the captured screens of every adapter through the
//! policies, step by step, with an injected clock.
//!
//! - [`view`]: what a policy reads (a parsed screen and the adapter's verdict).
//! - [`detect`]: the session's state as the screen shows it: busy, ready
//!   after the settle time, blocked, login required, stalled and the
//!   escalation ladder.
//! - [`launch`]: whether an agent that exited rejected its launch.
//! - [`respond`]: which prompts are answered, which become pending
//!   confirmations, and which are left alone.

pub(crate) mod detect;
pub(crate) mod launch;
pub(crate) mod respond;
pub(crate) mod view;

#[cfg(test)]
mod tests;

use warden_core::{Provenance, SessionState};

/// A move of the session's state machine a policy asks for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Transition {
    pub to: SessionState,
    pub reason: String,
    /// The screen lines that show why (the event's `excerpt`).
    pub excerpt: Option<String>,
    /// The adapter rule that decided it.
    pub provenance: Option<Provenance>,
}
