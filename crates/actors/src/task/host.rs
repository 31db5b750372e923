//! What a task actor needs done outside itself — provisioning, launching,
//! stopping and finalizing through the `Warden` handle — as a trait, so that
//! the task module never imports the handle (the handle holds the task part;
//! see the module graph check). `task_host.rs` implements it for the handle.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use warden_core::task::{StatusReason, TaskRecord};
use warden_core::{SessionId, SessionInfo};

use super::actor::{FinalizeOutcome, Place};

/// Tells a long step of a task (provisioning) that its task has gone — its
/// actor stopped: cancelled, ended, or warden shut down — so that it stops
/// waiting. The actor holds the [`TaskGoneSender`]; dropping it is the signal.
#[derive(Debug, Clone)]
pub(crate) struct TaskGone(tokio::sync::watch::Receiver<()>);

/// The task actor's side of [`TaskGone`].
pub(crate) type TaskGoneSender = tokio::sync::watch::Sender<()>;

impl TaskGone {
    /// A new signal and its sender.
    pub(crate) fn new() -> (TaskGoneSender, TaskGone) {
        let (tx, rx) = tokio::sync::watch::channel(());
        (tx, TaskGone(rx))
    }

    /// Whether the task has gone.
    pub(crate) fn is_gone(&self) -> bool {
        self.0.has_changed().is_err()
    }

    /// Completes when the task has gone.
    pub(crate) async fn gone(mut self) {
        while self.0.changed().await.is_ok() {}
    }
}

/// A boxed future the actor spawns.
pub(crate) type HostFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// One agent to start (or start again).
pub(crate) struct LaunchPlan {
    /// The task as it is now.
    pub record: TaskRecord,
    /// Which agent.
    pub index: usize,
    /// Where it works.
    pub place: Place,
    /// Whether this is a resume (the memory file is not written again; the
    /// adapter's resume option, once manifests have one).
    pub resumed: bool,
    /// The adapter to start instead of the spec's (an agent switched after
    /// a usage limit).
    pub agent: Option<String>,
}

/// The effects of a task actor.
pub(crate) trait TaskHost: Send + Sync + 'static {
    /// Prepares where each agent works; stops early once `gone` says the
    /// task has gone.
    fn provision(
        &self,
        record: TaskRecord,
        patterns: Arc<Vec<String>>,
        gone: TaskGone,
    ) -> HostFuture<Result<Vec<Place>, (StatusReason, String)>>;
    /// Starts one agent; the session and, when chosen, why.
    fn launch(&self, plan: LaunchPlan) -> HostFuture<Result<(SessionInfo, Option<String>), String>>;
    /// The session's latest info (it may have ended already).
    fn refresh(&self, info: SessionInfo) -> HostFuture<SessionInfo>;
    /// Stops a session; whether it exited with status 0.
    fn stop(&self, session: SessionId) -> HostFuture<bool>;
    /// How a session ended (`true`: status 0), if it has.
    fn exit_of(&self, session: SessionId) -> HostFuture<Option<bool>>;
    /// Commits, pushes, opens pull requests as the task asks.
    fn finalize(&self, record: TaskRecord) -> HostFuture<FinalizeOutcome>;
    /// The workspace base directory (scratch directories live under it).
    fn base_dir(&self) -> Option<PathBuf>;
    /// The selection strategy passes `agent` over until `until_ms` (Unix ms).
    fn cool_down(&self, agent: &str, until_ms: u64);
    /// Another installed agent than `not` (none cooling down, one of `allowed` when
    /// given), chosen by the selection strategy: its name and why; or why there is none.
    fn pick_other(&self, not: String, allowed: Option<Vec<String>>) -> HostFuture<Result<(String, String), String>>;
    /// Applies the retention policy of finished worktrees once.
    fn prune_worktrees(&self) -> HostFuture<()>;
}
