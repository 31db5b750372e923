//! Tasks, the pure part: the unit of work a caller delegates — a description,
//! an optional repository, one or more agents, a preset, memory, limits and
//! what to do when done — its status machine and its durable record.
//!
//! The IO (the registry files, the task actors, provisioning, launching and
//! finalizing) lives in `warden_actors::task`; task events are variants of
//! `EventKind` (event.rs) (`task_created`, `task_status`, `task_finalized`).
//! See `docs/TASKS.md`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub mod record;
pub mod retention;
pub mod spec;
pub mod status;
pub mod usage;

pub use record::{MAX_HISTORY, MergedBranch, TaskAgentRecord, TaskFilter, TaskRecord, WorktreeRemoval};
pub use retention::{FinishedWorktree, WorktreeRetention, worktrees_to_remove};
pub use spec::{
    CleanupPolicy, FinalizeMode, MAX_AGENTS, RepoSpec, SessionTuning, TaskAgent, TaskLimits, TaskSpec, TaskSpecError,
};
pub use status::{ChangeSource, SessionSignal, StatusChange, StatusReason, TaskStatus, check_task_transition};
pub use usage::parse_reset;

/// The identity of one task, unique across nodes and restarts (UUID v7, so
/// ids sort by creation time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(Uuid);

impl TaskId {
    /// A fresh id.
    pub fn new() -> Self {
        TaskId(Uuid::now_v7())
    }

    /// The 32 hex digits without hyphens, for workspace ids.
    pub fn as_simple(&self) -> String {
        self.0.simple().to_string()
    }

    /// The first 8 hex digits, for branch names and directory names.
    pub fn short(&self) -> String {
        self.0.simple().to_string().chars().take(8).collect()
    }
}

impl Default for TaskId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.as_hyphenated().fmt(f)
    }
}

/// A task id that did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid task id `{0}`: expected a UUID such as 0193c2b6-7d3a-7c4e-9f00-1a2b3c4d5e6f")]
pub struct InvalidTaskId(pub String);

impl FromStr for TaskId {
    type Err = InvalidTaskId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s.trim()).map(TaskId).map_err(|_| InvalidTaskId(s.chars().take(80).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_round_trip_and_sort_by_time() {
        let a = TaskId::new();
        let b = TaskId::new();
        assert!(a < b);
        assert_eq!(a.to_string().parse::<TaskId>(), Ok(a));
        assert_eq!(serde_json::to_string(&a).expect("json"), format!("\"{a}\""));
        assert_eq!(a.short().len(), 8);
        let long = "x".repeat(1000);
        assert_eq!(long.parse::<TaskId>().expect_err("bad").0.len(), 80);
    }
}
