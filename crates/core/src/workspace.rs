//! Git workspaces, the pure part: names and branch rules, secrets and their
//! redaction, the credentials refused in repository URLs, the registry
//! record, requests and outcomes.
//!
//! The IO (git, the registry files, the actors) lives in
//! `warden_actors::workspace`; workspace events are variants of
//! [`crate::EventKind`] (`workspace_provisioning`, `workspace_ready`,
//! `committed`, `pushed`, `pr_created`, `workspace_cleaned`,
//! `workspace_failed`).

use serde::{Deserialize, Serialize};

pub mod error_code;
pub mod naming;
pub mod outcome;
pub mod record;
pub mod redact;
pub mod repo_url;
pub mod request;

pub use error_code::WorkspaceErrorCode;
pub use naming::{BranchName, NamingError, WorkspaceId, branch_for_task, slugify, validate_branch_name};
pub use outcome::{
    ChangeKind, CleanupOutcome, CommitOutcome, DiffStat, FileChange, FileStat, FinalizeReport, PullRequest,
    PushOutcome, StepResult, WorkspaceStatus,
};
pub use record::{ProcessIdentity, WorkspaceRecord, WorkspaceState, now_ms};
pub use redact::{REDACTED, Redactor, Secret, strip_url_credentials};
pub use repo_url::{UrlCredential, url_credential};
pub use request::{
    BranchSpec, CloneSpec, CommitRequest, CommitRequestError, FinalizeRequest, Identity, IdentityError, PrRequest,
    ProvisionSpec, PushRequest, RepoSlug, WorktreeSpec, parse_remote,
};

/// The step of a workspace's life an event or failure belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Clone or worktree creation.
    Provision,
    /// Commit.
    Commit,
    /// Push.
    Push,
    /// Pull-request creation.
    Pr,
    /// Removal of the workspace.
    Cleanup,
    /// Fetch from the remote.
    Fetch,
}
