//! What workspace operations answer.
//!
//! Pure data (serde).

use serde::{Deserialize, Serialize};

use crate::workspace::naming::{BranchName, WorkspaceId};

/// Kind of change to one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// New file, not yet known to git.
    Untracked,
    /// New file, staged.
    Added,
    /// Content or mode changed.
    Modified,
    /// Removed.
    Deleted,
    /// Renamed.
    Renamed,
    /// Type changed (file ↔ symlink).
    TypeChange,
    /// Unresolved merge conflict.
    Conflicted,
}

/// One changed path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChange {
    /// Path relative to the working tree.
    pub path: String,
    /// What happened to it.
    pub kind: ChangeKind,
    /// Whether the change is staged in the index.
    pub staged: bool,
}

/// Result of a status query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceStatus {
    /// Checked-out branch (`None` if HEAD is detached).
    pub branch: Option<String>,
    /// HEAD commit id, if any.
    pub head: Option<String>,
    /// Changed paths (untracked included, ignored excluded).
    pub files: Vec<FileChange>,
    /// Commits on HEAD not on any remote-tracking branch.
    pub unpushed: usize,
}

impl WorkspaceStatus {
    /// No uncommitted changes.
    pub fn is_clean(&self) -> bool {
        self.files.is_empty()
    }
}

/// Line counts for one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStat {
    /// Path relative to the working tree.
    pub path: String,
    /// Lines added.
    pub insertions: usize,
    /// Lines removed.
    pub deletions: usize,
}

/// Diff of the working tree (index and untracked files included) against HEAD.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffStat {
    /// Number of files changed.
    pub files_changed: usize,
    /// Lines added.
    pub insertions: usize,
    /// Lines removed.
    pub deletions: usize,
    /// Per-file counts.
    pub files: Vec<FileStat>,
}

/// Result of a commit request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum CommitOutcome {
    /// A commit was made.
    Committed {
        /// Commit id (hex).
        commit: String,
        /// Paths it changed.
        files: Vec<String>,
    },
    /// Nothing differed from HEAD.
    NothingToCommit,
}

/// Result of a push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushOutcome {
    /// Remote pushed to.
    pub remote: String,
    /// Branch pushed.
    pub branch: BranchName,
    /// Commit the remote branch points at.
    pub commit: String,
    /// The remote already had it.
    pub up_to_date: bool,
}

/// Result of a cleanup request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum CleanupOutcome {
    /// The directory is gone and the record says `cleaned`.
    Removed,
    /// A worktree: checks passed; the parent's executor must now call
    /// `WorkspaceOps::remove_worktree` (this one should stop).
    DelegateToParent {
        /// The parent workspace.
        parent: WorkspaceId,
    },
}

/// One step of a finalize sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum StepResult<T> {
    /// The step ran.
    Done {
        /// Its result.
        value: T,
    },
    /// The step did not run.
    Skipped {
        /// Why.
        reason: String,
    },
    /// The step failed (redacted).
    Failed {
        /// Stable error code.
        code: crate::workspace::WorkspaceErrorCode,
        /// Message.
        message: String,
    },
}

impl<T> StepResult<T> {
    /// A step that did not run, with the reason.
    pub fn skipped(reason: &str) -> Self {
        Self::Skipped { reason: reason.into() }
    }

    /// Whether the step failed.
    pub fn is_failed(&self) -> bool {
        matches!(self, Self::Failed { .. })
    }

    /// The value, if the step ran.
    pub fn value(&self) -> Option<&T> {
        match self {
            Self::Done { value } => Some(value),
            _ => None,
        }
    }
}

/// What each finalize step did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinalizeReport {
    /// Commit step.
    pub commit: StepResult<CommitOutcome>,
    /// Push step.
    pub push: StepResult<PushOutcome>,
    /// Pull-request step.
    pub pr: StepResult<PullRequest>,
    /// Cleanup step.
    pub cleanup: StepResult<CleanupOutcome>,
}

impl FinalizeReport {
    /// No step failed.
    pub fn succeeded(&self) -> bool {
        !(self.commit.is_failed() || self.push.is_failed() || self.pr.is_failed() || self.cleanup.is_failed())
    }
}

/// An opened pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    /// Number.
    pub number: u64,
    /// Web URL.
    pub url: String,
    /// Why labels could not be added (the PR exists regardless).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_error: Option<String>,
}
