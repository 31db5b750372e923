//! The engine's shared configuration and context.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::workspace::error::WorkspaceError;
use crate::workspace::git_cli::GitCli;
use warden_core::EventKind;
use warden_core::workspace::Step;

use crate::workspace::EventSink;
use crate::workspace::github::GithubConfig;
use crate::workspace::paths;
use crate::workspace::registry::{RecoveryReport, Registry};
use warden_core::workspace::naming::WorkspaceId;
use warden_core::workspace::record::{WorkspaceState, now_ms};
use warden_core::workspace::redact::{Redactor, Secret};
use warden_core::workspace::request::Identity;

/// Configuration of the git workspaces of a warden instance
/// (`WardenConfig::workspace`).
#[derive(Debug, Clone)]
pub struct WorkspaceConfig {
    /// Directory that holds every workspace (`base_dir/<id>`); default
    /// `<state_dir>/workspaces`.
    pub base_dir: Option<PathBuf>,
    /// Default commit identity.
    pub identity: Identity,
    /// How to run `git` for network operations (and the HTTPS token).
    pub git: GitCli,
    /// GitHub API settings (base URL for Enterprise, token).
    pub github: GithubConfig,
    /// Whether `push` may ever force (as `--force-with-lease`).
    pub allow_force_push: bool,
    /// Remote name (default `origin`).
    pub remote: String,
    /// How many `failed`/`interrupted` records are kept, and for how long.
    pub retention: crate::workspace::registry::Retention,
}

impl Default for WorkspaceConfig {
    fn default() -> Self {
        Self {
            base_dir: None,
            identity: Identity::default(),
            git: GitCli::default(),
            github: GithubConfig::default(),
            allow_force_push: false,
            remote: "origin".into(),
            retention: crate::workspace::registry::Retention::default(),
        }
    }
}

/// Shared, read-only context of all workspaces (`Send + Sync`, in an `Arc`).
#[derive(Debug)]
pub struct WorkspaceContext {
    pub(crate) base_dir: PathBuf,
    pub(crate) registry: Registry,
    pub(crate) identity: Identity,
    pub(crate) git: GitCli,
    pub(crate) github: GithubConfig,
    pub(crate) github_token: Option<Secret>,
    pub(crate) allow_force_push: bool,
    pub(crate) remote: String,
    pub(crate) redactor: Redactor,
    pub(crate) retention: crate::workspace::registry::Retention,
}

impl WorkspaceContext {
    /// Prepare directories, open the registry, resolve the GitHub token
    /// (config, then `GITHUB_TOKEN`, then `GH_TOKEN`) and register every
    /// secret with the redactor.
    pub fn new(cfg: WorkspaceConfig, state_dir: &Path) -> Result<Arc<Self>, WorkspaceError> {
        // Every commit without an author of its own is signed with it.
        cfg.identity.check().map_err(|e| WorkspaceError::Config {
            message: format!("commit identity: {e} (set the author name and e-mail warden commits with)"),
        })?;
        let base_dir = cfg.base_dir.clone().unwrap_or_else(|| state_dir.join("workspaces"));
        let base_dir = paths::prepare_base_dir(&base_dir)?;
        let registry = Registry::open(state_dir)?;
        let github_token = cfg.github.resolve_token(|k| std::env::var(k).ok());
        let mut redactor = Redactor::new();
        for s in cfg.git.token.iter().chain(github_token.iter()) {
            redactor.add(s);
        }
        Ok(Arc::new(Self {
            base_dir,
            registry,
            identity: cfg.identity,
            git: cfg.git,
            github: cfg.github,
            github_token,
            allow_force_push: cfg.allow_force_push,
            remote: cfg.remote,
            redactor,
            retention: cfg.retention,
        }))
    }

    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Canonical base directory.
    pub fn base_dir(&self) -> &std::path::Path {
        &self.base_dir
    }

    /// The redactor holding every configured secret.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Start-up recovery of the registry (see [`Registry::recover`]), then
    /// the retention policy applied.
    pub fn recover(&self) -> Result<RecoveryReport, WorkspaceError> {
        let report = self.registry.recover()?;
        self.prune();
        Ok(report)
    }

    /// Applies the retention policy to `failed` and `interrupted` records:
    /// forgets those past it, with what is left of their directories (only
    /// inside the base directory). Best effort: a failure is logged.
    pub fn prune(&self) {
        let gone = match self.registry.prune(&self.retention, now_ms()) {
            Ok(gone) => gone,
            Err(e) => {
                tracing::warn!(error = %e, "cannot apply the workspace retention policy");
                return;
            }
        };
        for record in gone {
            tracing::info!(workspace = %record.id, state = record.state.as_str(), "workspace record past retention forgotten");
            if std::fs::symlink_metadata(&record.path).is_ok()
                && let Ok(dir) = paths::existing_workspace_dir(&self.base_dir, &record.path)
                && let Err(e) = std::fs::remove_dir_all(&dir)
            {
                tracing::warn!(workspace = %record.id, error = %e, "cannot remove the directory of a forgotten workspace");
            }
        }
    }

    /// Remove what is left of a workspace that is not usable (provisioning
    /// cut short by a dead process, failed, missing) and mark it `cleaned`.
    /// Refuses `ready` workspaces (use `WorkspaceOps::cleanup`) and
    /// provisioning still owned by a live process. For a worktree, the
    /// parent's admin entry becomes prunable (`git worktree prune`).
    pub fn discard(&self, id: &WorkspaceId, sink: EventSink<'_>) -> Result<(), WorkspaceError> {
        traced(self, id, "discard", Some(Step::Cleanup), sink, |sink| {
            let record =
                self.registry.get(id)?.ok_or_else(|| WorkspaceError::NotFound { what: format!("workspace {id}") })?;
            let live_owner = record.owner.is_some_and(crate::workspace::registry::process_alive);
            if record.state == WorkspaceState::Ready || (record.state == WorkspaceState::Provisioning && live_owner) {
                return Err(WorkspaceError::Conflict {
                    message: format!("workspace {id} is in use; clean it up instead of discarding it"),
                });
            }
            if std::fs::symlink_metadata(&record.path).is_ok() {
                let dir = paths::existing_workspace_dir(&self.base_dir, &record.path)?;
                std::fs::remove_dir_all(&dir)
                    .map_err(|e| WorkspaceError::io(format!("removing {}", dir.display()), e))?;
            }
            self.registry.update(id, |r| {
                r.state = WorkspaceState::Cleaned;
                r.owner = None;
            })?;
            sink(EventKind::WorkspaceCleaned { workspace: id.clone(), forced: true });
            Ok(())
        })
    }
}

/// Run `f` as one traced, timed, redacted operation; failures become a
/// `workspace_failed` event when `step` is given.
pub(crate) fn traced<T>(
    ctx: &WorkspaceContext,
    id: &WorkspaceId,
    op: &'static str,
    step: Option<Step>,
    sink: &mut dyn FnMut(EventKind),
    f: impl FnOnce(&mut dyn FnMut(EventKind)) -> Result<T, WorkspaceError>,
) -> Result<T, WorkspaceError> {
    let span = tracing::info_span!("workspace_op", workspace_id = %id, op);
    let _entered = span.enter();
    let started = Instant::now();
    tracing::debug!("started");
    let result = f(sink).map_err(|e| e.redacted(&ctx.redactor));
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match &result {
        Ok(_) => tracing::info!(elapsed_ms, "finished"),
        Err(e) => {
            tracing::info!(elapsed_ms, code = e.code().as_str(), error = %e, "failed");
            if let Some(step) = step {
                sink(EventKind::WorkspaceFailed {
                    workspace: id.clone(),
                    step,
                    code: e.code(),
                    message: e.to_string(),
                });
            }
        }
    }
    result
}
