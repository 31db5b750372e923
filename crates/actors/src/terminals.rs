//! Who answers a session's terminal queries: warden from its screen model while no
//! terminal is attached, the attached terminal otherwise.
//!
//! An agent that asks its terminal something (device attributes, the cursor position,
//! the colours, the size; see [`warden_core::term::query`]) waits for the answer on its
//! input. A session nobody watches in a terminal (spawned by a library caller or over
//! NATS) has no terminal to answer, so the PTY actor answers from the screen model. A
//! person's terminal showing the session answers by itself, and its replies reach the
//! agent with the person's keystrokes; then warden must stay silent, or every reply
//! would come twice. [`Terminals`] is the switch; `TerminalAttachment` (in `handle`)
//! is the guard a client holds while its terminal shows the session.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The session's attached terminals, and whether warden answers queries without one.
#[derive(Debug)]
pub(crate) struct Terminals {
    /// [`crate::WardenConfig::answer_terminal_queries`].
    answer_detached: bool,
    attached: AtomicUsize,
}

impl Terminals {
    pub(crate) fn new(answer_detached: bool) -> Self {
        Terminals { answer_detached, attached: AtomicUsize::new(0) }
    }

    /// Whether warden answers the session's terminal queries now.
    pub(crate) fn warden_answers(&self) -> bool {
        self.answer_detached && self.attached.load(Ordering::Acquire) == 0
    }

    pub(crate) fn attach(&self) {
        self.attached.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn detach(&self) {
        let _ = self.attached.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warden_answers_only_while_no_terminal_is_attached() {
        let t = Terminals::new(true);
        assert!(t.warden_answers());
        t.attach();
        t.attach();
        t.detach();
        assert!(!t.warden_answers());
        t.detach();
        t.detach();
        assert!(t.warden_answers(), "never below zero");
        assert!(!Terminals::new(false).warden_answers(), "turned off for the instance");
    }
}
