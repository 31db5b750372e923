//! Git workspaces: clone, branch, worktree, commit, push, pull request,
//! cleanup, each workspace served by its own actor.
//!
//! ```text
//! WardenSupervisor (root)
//! └── WorkspaceSupervisor          registry recovery at start; id → actor map
//!     └── WorkspaceActor (one per workspace; owns its git2 Repository;
//!                         a parent clone's actor also adds/removes its
//!                         worktrees and fetches)
//! ```
//!
//! - Local git work uses git2 (libgit2, no network transports); clone from
//!   URLs, shallow clones, fetch and push run the `git` program
//!   ([`GitCli`]), which already knows users' SSH agents, proxies and
//!   credential helpers. An HTTPS token reaches `git` only through an
//!   inline credential helper reading the child's environment.
//! - The registry ([`registry`]) is one JSON file per workspace in
//!   `<state_dir>/workspace-registry/`, replaced atomically and fsynced,
//!   under an advisory file lock, so several `warden` processes can share a
//!   state directory.
//! - Every step publishes node-level events on the bus (`session: None`):
//!   `workspace_provisioning`, `workspace_ready`, `committed`, `pushed`,
//!   `pr_created`, `workspace_cleaned`, `workspace_failed` (redacted).
//!
//! The embedding API is on [`crate::Warden`] (`provision_workspace`,
//! `commit`, `push`, `create_pr`, `finalize_workspace`, …); see
//! `docs/WORKSPACES.md`.

use std::path::Path;
use std::sync::Arc;

use ractor::{Actor, ActorCell, ActorRef};
use warden_core::EventKind;

use crate::bus::EventBus;

mod actor;

pub mod branches;
pub mod context;
pub mod engine;
pub mod error;
pub mod git;
pub mod git_cli;
pub mod github;
pub mod paths;
pub mod registry;
mod supervisor;

pub use context::{WorkspaceConfig, WorkspaceContext};
#[cfg(feature = "test-hooks")]
pub use engine::PAUSE_AFTER_RECORD_ENV;
pub use engine::WorkspaceOps;
pub use error::WorkspaceError;
pub use git_cli::GitCli;
pub use github::GithubConfig;
pub use registry::{RecoveryReport, Retention};

pub(crate) use actor::WorkspaceMsg;
pub(crate) use supervisor::WorkspaceSupMsg;
use supervisor::{WorkspaceSupArgs, WorkspaceSupervisor};

/// Where operations report their events (the actors publish them on the bus).
pub type EventSink<'a> = &'a mut dyn FnMut(EventKind);

/// The workspace part of a running warden: its supervisor and shared context.
pub(crate) struct Workspaces {
    pub sup: ActorRef<WorkspaceSupMsg>,
    pub ctx: Arc<WorkspaceContext>,
}

/// Prepare the directories, recover the registry and start the
/// `WorkspaceSupervisor`, linked to `parent` (the root).
pub(crate) async fn start(
    config: &WorkspaceConfig,
    state_dir: &Path,
    bus: EventBus,
    parent: ActorCell,
) -> Result<Workspaces, WorkspaceError> {
    let (config, state_dir) = (config.clone(), state_dir.to_path_buf());
    let ctx = tokio::task::spawn_blocking(move || WorkspaceContext::new(config, &state_dir))
        .await
        .map_err(|e| WorkspaceError::Unavailable { message: e.to_string() })??;
    let args = WorkspaceSupArgs { ctx: Arc::clone(&ctx), bus };
    let (sup, _) = Actor::spawn_linked(None, WorkspaceSupervisor, args, parent)
        .await
        .map_err(|e| WorkspaceError::Unavailable { message: format!("cannot start the workspace supervisor: {e}") })?;
    Ok(Workspaces { sup, ctx })
}
