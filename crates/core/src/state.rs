//! The session state machine.
//!
//! ```text
//! starting → (authenticating | blocked)* → ready → busy ⇄ ready … → stopping → exited
//! ```
//! with `stalled` and `blocked` reachable from `busy`, and `failed` for warden-side
//! errors. A restart policy moves a session whose process ended from any live
//! state back to `starting` (the session goes on; `exited` is only its real end);
//! `exited → starting` is kept for restarting an ended session.
//! Every legal move is listed in one table ([`TRANSITIONS`]); anything else is
//! rejected by [`check_transition`].

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// The process is being started, or has started and not yet shown it is ready.
    Starting,
    /// The agent asks for a login or credentials before it can work.
    Authenticating,
    /// The agent waits for input (idle prompt).
    Ready,
    /// The agent works on a task.
    Busy,
    /// The agent shows a prompt that needs an answer (permission, trust, …).
    Blocked,
    /// The screen has not changed for the stall window while busy.
    Stalled,
    /// warden is stopping the process (signals sent, grace running).
    Stopping,
    /// The process has exited and all its output has been delivered.
    Exited,
    /// warden itself failed to run or supervise the session.
    Failed,
}

impl SessionState {
    /// Every state, in life order.
    pub const ALL: [SessionState; 9] = [
        SessionState::Starting,
        SessionState::Authenticating,
        SessionState::Ready,
        SessionState::Busy,
        SessionState::Blocked,
        SessionState::Stalled,
        SessionState::Stopping,
        SessionState::Exited,
        SessionState::Failed,
    ];

    /// The snake_case name used in events and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Starting => "starting",
            SessionState::Authenticating => "authenticating",
            SessionState::Ready => "ready",
            SessionState::Busy => "busy",
            SessionState::Blocked => "blocked",
            SessionState::Stalled => "stalled",
            SessionState::Stopping => "stopping",
            SessionState::Exited => "exited",
            SessionState::Failed => "failed",
        }
    }

    /// True for states a session never leaves by itself (`exited` may still
    /// be restarted by a restart policy).
    pub fn is_terminal(self) -> bool {
        matches!(self, SessionState::Exited | SessionState::Failed)
    }

    /// True while a process may be running.
    pub fn is_live(self) -> bool {
        !self.is_terminal()
    }
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every legal transition `(from, [to…])`. Staying in the same state is not a
/// transition and is rejected.
pub const TRANSITIONS: &[(SessionState, &[SessionState])] = {
    use SessionState::*;
    &[
        (Starting, &[Authenticating, Ready, Busy, Blocked, Stopping, Exited, Failed]),
        (Authenticating, &[Starting, Ready, Busy, Blocked, Stopping, Exited, Failed]),
        (Ready, &[Starting, Busy, Blocked, Authenticating, Stopping, Exited, Failed]),
        (Busy, &[Starting, Ready, Blocked, Stalled, Authenticating, Stopping, Exited, Failed]),
        (Blocked, &[Starting, Ready, Busy, Authenticating, Stalled, Stopping, Exited, Failed]),
        (Stalled, &[Starting, Ready, Busy, Blocked, Authenticating, Stopping, Exited, Failed]),
        (Stopping, &[Exited, Failed]),
        (Exited, &[Starting]),
        (Failed, &[]),
    ]
};

/// A transition the state machine does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("illegal session state transition {from} → {to}")]
pub struct IllegalTransition {
    /// The current state.
    pub from: SessionState,
    /// The requested state.
    pub to: SessionState,
}

/// Checks one move against [`TRANSITIONS`].
pub fn check_transition(from: SessionState, to: SessionState) -> Result<(), IllegalTransition> {
    let allowed = TRANSITIONS.iter().find(|(f, _)| *f == from).map(|(_, to)| *to).unwrap_or(&[]);
    if allowed.contains(&to) { Ok(()) } else { Err(IllegalTransition { from, to }) }
}

#[cfg(test)]
mod tests {
    use super::SessionState::*;
    use super::*;

    #[test]
    fn table_covers_every_state_once() {
        for s in SessionState::ALL {
            assert_eq!(TRANSITIONS.iter().filter(|(f, _)| *f == s).count(), 1, "{s}");
        }
    }

    #[test]
    fn the_happy_path_is_legal() {
        let path =
            [Starting, Authenticating, Ready, Busy, Stalled, Busy, Blocked, Busy, Ready, Stopping, Exited, Starting];
        for w in path.windows(2) {
            check_transition(w[0], w[1]).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test]
    fn illegal_moves_are_rejected() {
        for (from, to) in [
            (Exited, Busy),
            (Failed, Starting),
            (Stopping, Ready),
            (Ready, Stalled),
            (Busy, Busy),
            (Starting, Starting),
        ] {
            assert_eq!(check_transition(from, to), Err(IllegalTransition { from, to }));
        }
    }

    #[test]
    fn nothing_leaves_failed_and_everything_live_can_fail() {
        for s in SessionState::ALL {
            assert!(check_transition(Failed, s).is_err());
            if s.is_live() {
                assert!(check_transition(s, Failed).is_ok(), "{s} → failed");
                assert!(check_transition(s, Exited).is_ok(), "{s} → exited");
            }
        }
    }

    #[test]
    fn names_match_serde() {
        for s in SessionState::ALL {
            assert_eq!(serde_json::to_string(&s).expect("serialises"), format!("\"{}\"", s.as_str()));
        }
    }
}
