//! What the registry remembers about a workspace.
//!
//! Pure data.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::workspace::naming::{BranchName, WorkspaceId};

/// Life-cycle state of a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkspaceState {
    /// Being cloned or added by a live process.
    Provisioning,
    /// Provisioning was cut short (its process died); found at start-up.
    /// What is left can be discarded.
    Interrupted,
    /// Usable.
    Ready,
    /// Provisioning failed.
    Failed,
    /// Removed on request.
    Cleaned,
    /// Its directory vanished behind warden's back.
    Missing,
}

impl WorkspaceState {
    /// The snake_case name, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provisioning => "provisioning",
            Self::Interrupted => "interrupted",
            Self::Ready => "ready",
            Self::Failed => "failed",
            Self::Cleaned => "cleaned",
            Self::Missing => "missing",
        }
    }
}

/// One workspace as persisted in the state directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceRecord {
    /// Record format version.
    #[serde(default = "one")]
    pub version: u32,
    /// Id, also the directory name under `base_dir`.
    pub id: WorkspaceId,
    /// Absolute directory of the working tree.
    pub path: PathBuf,
    /// Source repository (URL without userinfo, or local path).
    pub repo: String,
    /// Branch the workspace works on.
    pub branch: BranchName,
    /// Branch it was created from.
    pub base: String,
    /// Parent workspace (for worktrees).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<WorkspaceId>,
    /// State.
    pub state: WorkspaceState,
    /// Creation time, Unix milliseconds.
    pub created_at: u64,
    /// Last change of this record, Unix milliseconds.
    pub updated_at: u64,
    /// Process that is provisioning it (only while `provisioning`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<ProcessIdentity>,
    /// Last error, redacted (for `failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A process, identified robustly against pid reuse (pid + start time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessIdentity {
    /// Process id.
    pub pid: u32,
    /// Start time in clock ticks since boot (Linux `/proc/<pid>/stat`
    /// field 22); 0 where unknown.
    pub start: u64,
}

fn one() -> u32 {
    1
}

impl WorkspaceRecord {
    /// Whether this is a worktree of another workspace.
    pub fn is_worktree(&self) -> bool {
        self.parent.is_some()
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
