//! A task's status, separate from its sessions' states, and the pure rules
//! that move it: the table of legal transitions and what each session signal
//! does to it (which session event is which signal is
//! `EventKind::task_signal`, in event.rs).
//!
//! ```text
//! queued → provisioning → running ⇄ waiting ⇄ stalled → finalizing → completed
//!                                                                  ↘ failed | cancelled
//! ```

use serde::{Deserialize, Serialize};

use crate::wire::wire_enum;

wire_enum! {
    /// Where a task is in its life.
    pub enum TaskStatus {
        /// Accepted; waiting for a free agent slot (`max_sessions`).
        Queued = "queued",
        /// Its workspace (clone, worktree or scratch directory) is being prepared.
        Provisioning = "provisioning",
        /// Its agents work.
        Running = "running",
        /// An agent waits for someone: a confirmation, a login, a usage-limit
        /// reset, or the task was paused.
        Waiting = "waiting",
        /// An agent's screen made no progress for its stall window.
        Stalled = "stalled",
        /// The agents are done; commit, push and pull request run.
        Finalizing = "finalizing",
        /// Done, and finalized as asked.
        Completed = "completed",
        /// Ended without doing what was asked (the reason says why).
        Failed = "failed",
        /// Cancelled by a caller.
        Cancelled = "cancelled",
    }
}

impl TaskStatus {
    /// Whether the task has ended (`completed`, `failed`, `cancelled`).
    pub fn is_terminal(self) -> bool {
        matches!(self, TaskStatus::Completed | TaskStatus::Failed | TaskStatus::Cancelled)
    }
}

wire_enum! {
    /// Why a task's status changed (`reason` of `task_status`).
    pub enum StatusReason {
        /// The task was accepted.
        Created = "created",
        /// Every agent slot of the node is taken (`max_sessions`).
        Capacity = "capacity",
        /// A slot is free; the workspace is prepared.
        Provisioning = "provisioning",
        /// The agent was started.
        AgentStarted = "agent_started",
        /// The agent is working again.
        AgentBusy = "agent_busy",
        /// A prompt waits for a caller's `confirm` or `decline`.
        ConfirmationPending = "confirmation_pending",
        /// The agent asks for a login.
        LoginRequired = "login_required",
        /// The agent's account hit a usage limit; the task resumes after the reset.
        UsageLimit = "usage_limit",
        /// The agent's screen stalled.
        Stalled = "stalled",
        /// The agent reported its task complete.
        TaskComplete = "task_complete",
        /// The agent exited with status 0.
        AgentExited = "agent_exited",
        /// The agent exited with a failure (non-zero status, signal, warden error).
        AgentFailed = "agent_failed",
        /// Paused by a caller: the agent was stopped, the workspace kept.
        Paused = "paused",
        /// Resumed by a caller, or by itself after a usage-limit reset.
        Resumed = "resumed",
        /// Every finalize step asked for succeeded.
        Finalized = "finalized",
        /// A finalize step failed (the detail names the step and git's error).
        FinalizeFailed = "finalize_failed",
        /// The workspace could not be prepared.
        ProvisionFailed = "provision_failed",
        /// The agent could not be started.
        LaunchFailed = "launch_failed",
        /// The wall-clock limit passed.
        Timeout = "timeout",
        /// No agent output for the idle limit.
        IdleTimeout = "idle_timeout",
        /// Cancelled by a caller.
        Cancelled = "cancelled",
        /// The warden that ran the task died; its agents died with it.
        NodeRestarted = "node_restarted",
        /// An agent hit its usage limit and another agent took its place
        /// (`switch_agent_on_limit`); the detail names both and why.
        AgentSwitched = "agent_switched",
        /// The agents' branches could not be merged into one (`merge`); the
        /// detail names the branch and the files; the branches are kept.
        MergeConflict = "merge_conflict",
        /// A defect in warden ended the task (the detail says what failed); its
        /// agents were stopped, its workspace kept.
        InternalError = "internal_error",
    }
}

wire_enum! {
    /// Who caused a status change (`source` of `task_status`).
    pub enum ChangeSource {
        /// The task's own actor (capacity, provisioning, launching, finalizing, limits).
        Task = "task",
        /// An event of one of the task's sessions (`seq` names it).
        Session = "session",
        /// A caller's request (`pause`, `resume`, `cancel`, `create`).
        Caller = "caller",
        /// The recovery of the task registry when warden started.
        Recovery = "recovery",
    }
}

/// One change of a task's status, as recorded in its history and published
/// as `task_status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    /// The new status.
    pub status: TaskStatus,
    /// When, Unix milliseconds.
    pub at: u64,
    /// Why.
    pub reason: StatusReason,
    /// Details for people (redacted; a git error, a reset time, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Who caused it.
    pub source: ChangeSource,
    /// The event (`seq`) of the session that caused it, for `source: session`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

/// Whether a task may move from `from` to `to`. Staying in `waiting` with a
/// new reason is a change too (paused → usage limit).
pub fn check_task_transition(from: TaskStatus, to: TaskStatus) -> bool {
    use TaskStatus::*;
    match from {
        Queued => matches!(to, Queued | Provisioning | Running | Failed | Cancelled),
        Provisioning => matches!(to, Queued | Running | Waiting | Failed | Cancelled),
        Running => matches!(to, Waiting | Stalled | Finalizing | Queued | Failed | Cancelled),
        Waiting => matches!(to, Waiting | Running | Stalled | Finalizing | Queued | Failed | Cancelled),
        Stalled => matches!(to, Running | Waiting | Finalizing | Queued | Failed | Cancelled),
        Finalizing => matches!(to, Completed | Failed),
        // A failed task may be resumed (its workspace is still there).
        Failed => matches!(to, Queued),
        Completed | Cancelled => false,
    }
}

/// What one session event means for its task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionSignal {
    /// The agent works (busy).
    Busy,
    /// A prompt waits for a caller's answer.
    ConfirmationPending,
    /// The agent asks for a login.
    LoginRequired,
    /// A usage limit is on screen; the prompt text (to read the reset time from).
    UsageLimit(String),
    /// The agent's screen stalled.
    Stalled,
    /// The agent finished its turn (after the settle time).
    Complete,
    /// The process ended; `true` when it exited with status 0.
    Exited(bool),
}

impl SessionSignal {
    /// The status a task in `current` moves to on this signal, with the
    /// reason; `None` when it stays. Completion and exits are not status
    /// changes here: the task actor finalizes (or fails) on them.
    pub fn status_from(&self, current: TaskStatus) -> Option<(TaskStatus, StatusReason)> {
        let live = matches!(current, TaskStatus::Running | TaskStatus::Waiting | TaskStatus::Stalled);
        if !live {
            return None;
        }
        let to = match self {
            SessionSignal::Busy => (TaskStatus::Running, StatusReason::AgentBusy),
            SessionSignal::ConfirmationPending => (TaskStatus::Waiting, StatusReason::ConfirmationPending),
            SessionSignal::LoginRequired => (TaskStatus::Waiting, StatusReason::LoginRequired),
            SessionSignal::UsageLimit(_) => (TaskStatus::Waiting, StatusReason::UsageLimit),
            SessionSignal::Stalled => (TaskStatus::Stalled, StatusReason::Stalled),
            SessionSignal::Complete | SessionSignal::Exited(_) => return None,
        };
        (to.0 != current || to.0 == TaskStatus::Waiting).then_some(to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_travel_as_documented() {
        crate::wire::tests::round_trips(
            TaskStatus::ALL,
            |s| s.as_str(),
            &[
                "queued",
                "provisioning",
                "running",
                "waiting",
                "stalled",
                "finalizing",
                "completed",
                "failed",
                "cancelled",
            ],
        );
        assert!(TaskStatus::ALL.iter().filter(|s| s.is_terminal()).count() == 3);
    }

    #[test]
    fn the_life_of_a_task_is_legal_and_ends_stay_ended() {
        use TaskStatus::*;
        let life = [Queued, Provisioning, Running, Waiting, Running, Stalled, Running, Finalizing, Completed];
        for w in life.windows(2) {
            assert!(check_task_transition(w[0], w[1]), "{} → {}", w[0], w[1]);
        }
        for to in TaskStatus::ALL {
            assert!(!check_task_transition(Completed, *to));
            assert!(!check_task_transition(Cancelled, *to));
        }
        assert!(!check_task_transition(Finalizing, Running));
        assert!(!check_task_transition(Queued, Completed));
        assert!(check_task_transition(Failed, Queued), "a failed task may be resumed");
    }
}
