//! How a session's process ended (`exited` events, `wait`, `stop`).

use serde::{Deserialize, Serialize};

use crate::state::SessionState;
use crate::wire::wire_enum;

wire_enum! {
    /// Why a process ended (`reason` of `exited`).
    pub enum ExitReason {
        /// It exited by itself.
        Exited = "exited",
        /// warden stopped it (`stop`, shutdown, a stop during a restart).
        Stopped = "stopped",
        /// warden failed to run or supervise it, or its restart policy gave up.
        Failed = "failed",
        /// The warden that ran it died; the next start on the same state
        /// directory ended what was left of it and closed its record.
        NodeRestarted = "node_restarted",
    }
}

impl ExitReason {
    /// The reason a session that ended in `state` without a recorded exit gives:
    /// `failed` for a failed session, else `exited`.
    pub fn of_state(state: SessionState) -> ExitReason {
        match state {
            SessionState::Failed => ExitReason::Failed,
            _ => ExitReason::Exited,
        }
    }
}

/// How and why a process ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitInfo {
    /// Exit code, when it exited normally.
    pub code: Option<i32>,
    /// Signal number, when a signal ended it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// `exited` (by itself), `stopped` (warden stopped it), `failed`, or
    /// `node_restarted` (its warden died; found by the next start).
    pub reason: ExitReason,
}

impl ExitInfo {
    /// The status a shell would report: the code, or 128 + signal.
    pub fn shell_code(&self) -> i32 {
        match (self.code, self.signal) {
            (Some(c), _) => c,
            (None, Some(s)) => 128 + s,
            (None, None) => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_reasons_travel_as_documented() {
        crate::wire::tests::round_trips(
            ExitReason::ALL,
            |r| r.as_str(),
            &["exited", "stopped", "failed", "node_restarted"],
        );
        assert_eq!(ExitReason::of_state(SessionState::Failed), ExitReason::Failed);
        assert_eq!(ExitReason::of_state(SessionState::Exited), ExitReason::Exited);
    }

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(ExitInfo { code: Some(3), signal: None, reason: ExitReason::Exited }.shell_code(), 3);
        assert_eq!(ExitInfo { code: None, signal: Some(9), reason: ExitReason::Stopped }.shell_code(), 137);
    }
}
