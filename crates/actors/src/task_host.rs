//! The task actors' effects, carried out through the `Warden` handle: the
//! [`TaskHost`] of the handle (provisioning, launching through the one launch
//! path, stopping, finalizing through the workspace actors), and the task
//! part of the embedding API ([`api`]: `create_task`, `pause_task`, …).
//!
//! A module of its own so that `handle` (which holds the task part) and
//! `task` (the actors) never import each other.

mod api;
mod merge;
mod resume;
mod retention;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;
use warden_adapters::Strategy;
use warden_core::task::{CleanupPolicy, FinalizeMode, RepoSpec, StatusReason, TaskRecord};
use warden_core::workspace::{
    BranchSpec, CloneSpec, CommitOutcome, CommitRequest, FinalizeRequest, PrRequest, ProvisionSpec, PushRequest,
    RepoSlug, StepResult, WorkspaceId, WorkspaceRecord, WorkspaceState, WorktreeSpec, branch_for_task,
};
use warden_core::{SessionId, SessionInfo};

use crate::error::SessionError;
use crate::handle::{Warden, WeakWarden};
use crate::launch::{AgentRequest, LaunchError};
use crate::task::{FinalizeOutcome, Finalized, HostFuture, LaunchPlan, Place, TaskGone, TaskHost, place};
use crate::workspace::WorkspaceError;
use crate::workspace::engine::ProvisionedWorktree;
use crate::workspace::registry::LockWait;

/// How often a launch that meets a full node retries, and how many times.
const SLOT_RETRY: Duration = Duration::from_millis(100);
const SLOT_RETRIES: u32 = 600;

impl TaskHost for WeakWarden {
    fn provision(
        &self,
        record: TaskRecord,
        patterns: Arc<Vec<String>>,
        gone: TaskGone,
    ) -> HostFuture<Result<Vec<Place>, (StatusReason, String)>> {
        let w = self.upgrade();
        Box::pin(async move {
            let w = w.ok_or((StatusReason::ProvisionFailed, "warden is shutting down".to_string()))?;
            provision(&w, &record, &patterns, gone).await
        })
    }

    fn launch(&self, plan: LaunchPlan) -> HostFuture<Result<(SessionInfo, Option<String>), String>> {
        let w = self.upgrade();
        Box::pin(async move {
            let w = w.ok_or("warden is shutting down")?;
            launch(&w, request(&plan, &w.adapters())).await
        })
    }

    fn refresh(&self, info: SessionInfo) -> HostFuture<SessionInfo> {
        let w = self.upgrade();
        Box::pin(async move {
            match w {
                Some(w) => w.get(info.id).await.unwrap_or(info),
                None => info,
            }
        })
    }

    fn stop(&self, session: SessionId) -> HostFuture<bool> {
        let w = self.upgrade();
        Box::pin(async move {
            match w {
                Some(w) => w.stop(session).await.is_ok_and(|exit| exit.code == Some(0)),
                None => false,
            }
        })
    }

    fn exit_of(&self, session: SessionId) -> HostFuture<Option<bool>> {
        let w = self.upgrade();
        Box::pin(async move {
            let info = w?.get(session).await.ok()?;
            info.exit.map(|e| e.code == Some(0))
        })
    }

    fn finalize(&self, record: TaskRecord) -> HostFuture<FinalizeOutcome> {
        let w = self.upgrade();
        Box::pin(async move {
            match w {
                Some(w) => finalize(&w, &record).await,
                None => FinalizeOutcome::default(),
            }
        })
    }

    fn base_dir(&self) -> Option<PathBuf> {
        self.upgrade().map(|w| w.workspace_base_dir().to_path_buf())
    }

    fn cool_down(&self, agent: &str, until_ms: u64) {
        if let Some(w) = self.upgrade() {
            w.tasks().cooldowns.cool(agent, until_ms);
        }
    }

    fn pick_other(&self, not: String, allowed: Option<Vec<String>>) -> HostFuture<Result<(String, String), String>> {
        let w = self.upgrade();
        Box::pin(async move {
            let w = w.ok_or("warden is shutting down")?;
            pick_other(&w, &not, allowed.as_deref()).await
        })
    }

    fn prune_worktrees(&self) -> HostFuture<()> {
        let w = self.upgrade();
        Box::pin(async move {
            if let Some(w) = w {
                retention::prune_worktrees(&w).await;
            }
        })
    }
}

/// Another installed agent CLI than `not`, none cooling down, one of `allowed`
/// (when given): the selection strategy's choice without its fallback (a shell
/// is no substitute).
async fn pick_other(warden: &Warden, not: &str, allowed: Option<&[String]>) -> Result<(String, String), String> {
    let mut facts = crate::preflight::selection_facts_now(&warden.adapters()).await?;
    facts.retain(|f| allowed.is_none_or(|list| list.contains(&f.name)));
    let mut cooling = warden.cooling_agent_names();
    cooling.push(not.to_owned());
    let cooling: Vec<&str> = cooling.iter().map(String::as_str).collect();
    let strategy = Strategy::Heuristic { subscription_hint: None };
    match warden_adapters::select(&strategy, &facts, &cooling) {
        Ok(s) if s.agent != not => Ok((s.agent, s.reason)),
        Ok(_) => Err(format!("no installed agent other than {not}")),
        Err(e) => Err(e.to_string()),
    }
}

/// The launch request of one agent of a task.
fn request(plan: &LaunchPlan, adapters: &warden_adapters::Registry) -> AgentRequest {
    let spec = &plan.record.spec;
    let index = plan.index;
    let agent = &spec.agents[index];
    let mut req = if let Some(other) = &plan.agent {
        AgentRequest::named(other.clone())
    } else if agent.is_auto() {
        let mut req = AgentRequest::selected(Strategy::Heuristic { subscription_hint: None });
        req.allowed_agents = spec.allowed_agents.clone();
        req
    } else {
        AgentRequest::named(agent.agent.clone())
    };
    req.task = Some(spec.task_of(index).to_owned());
    req.preset = spec.preset;
    req.memory = spec.memory.clone();
    req.workdir = Some(plan.place.workdir.clone());
    req.restart = spec.restart;
    req.label = Some(spec.label.clone().unwrap_or_else(|| format!("task {}", plan.record.id.short())));
    let tuning = &spec.session;
    req.env = tuning.env.clone();
    if let Some(size) = tuning.size {
        req.size = size;
    }
    if let Some(level) = tuning.supervision {
        req.supervision = level;
    }
    req.rules = tuning.rules.clone();
    req.loading = tuning.loading.clone();
    if let Some(stall) = &tuning.stall {
        req.stall = stall.clone();
    }
    if plan.resumed { resume::resume_request(req, adapters) } else { req }
}

/// Prepares where each agent works: a worktree of the repository's parent
/// clone (created once, fetched for later tasks: [`parent_clone`]), a
/// scratch directory, or the given directory.
async fn provision(
    warden: &Warden,
    record: &TaskRecord,
    patterns: &[String],
    gone: TaskGone,
) -> Result<Vec<Place>, (StatusReason, String)> {
    let fail = |e: String| (StatusReason::ProvisionFailed, e);
    let spec = &record.spec;
    let n = spec.agents.len();
    let Some(repo) = &spec.repo else {
        let dir = match &spec.workdir {
            Some(dir) => dir.clone(),
            None => {
                let base = warden.workspace_base_dir().to_path_buf();
                let id = record.id;
                tokio::task::spawn_blocking(move || place::make_scratch(&base, id))
                    .await
                    .map_err(|e| fail(e.to_string()))?
                    .map_err(|e| fail(format!("cannot create the scratch directory: {e}")))?
            }
        };
        let mut places = Vec::with_capacity(n);
        for i in 0..n {
            let workdir = if n > 1 && spec.workdir.is_none() { dir.join(i.to_string()) } else { dir.clone() };
            std::fs::create_dir_all(&workdir).map_err(|e| fail(e.to_string()))?;
            places.push(Place { workdir, workspace: None, branch: None });
        }
        return Ok(places);
    };
    let parent = place::parent_id(&repo.source);
    let span = tracing::info_span!("parent_clone", workspace = %parent);
    let parent_record = parent_clone(warden, &parent, repo, &gone).instrument(span).await.map_err(fail)?;
    let base = repo.base.clone().unwrap_or_else(|| parent_record.base.clone());
    // What this provisioning made, taken back if a later step fails (or the
    // task goes), so that nothing of it is left to change a retry.
    let mut made: Vec<ProvisionedWorktree> = Vec::with_capacity(n);
    let mut places = Vec::with_capacity(n);
    for i in 0..n {
        let agent = &spec.agents[i].agent;
        // With `merge`, the task's branch is the merged one; each agent has its own.
        let own = n == 1 && !spec.merge;
        let branch = match &repo.branch {
            Some(b) if own => b.clone(),
            Some(b) => format!("{b}-{agent}{i}"),
            None => {
                let role = if own { agent.clone() } else { format!("{agent}{i}") };
                branch_for_task(&record.id.short(), &role, &spec.description).to_string()
            }
        };
        let step = async {
            if gone.is_gone() {
                return Err("the task ended while its workspaces were being made".to_owned());
            }
            let ws = warden
                .add_worktree(WorktreeSpec {
                    parent: parent.to_string(),
                    id: Some(format!("t-{}-{i}", record.id.as_simple())),
                    branch: BranchSpec::Named { name: branch.clone() },
                    base: Some(format!("origin/{base}")),
                })
                .await
                .map_err(|e| e.to_string())?;
            let here =
                Place { workdir: ws.record.path.clone(), workspace: Some(ws.record.id.clone()), branch: Some(branch) };
            made.push(ws);
            if !spec.commit_instruction_files {
                let (dir, patterns) = (here.workdir.clone(), patterns.to_vec());
                tokio::task::spawn_blocking(move || place::exclude_locally(&dir, &patterns))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| format!("cannot write the local git exclude: {e}"))?;
            }
            Ok(here)
        };
        match step.await {
            Ok(here) => places.push(here),
            Err(e) => {
                undo_worktrees(warden, &made).await;
                return Err(fail(e));
            }
        }
    }
    if gone.is_gone() {
        undo_worktrees(warden, &made).await;
        return Err(fail("the task ended while its workspaces were being made".to_owned()));
    }
    Ok(places)
}

/// Takes back worktrees a task's provisioning made before a later step failed.
async fn undo_worktrees(warden: &Warden, made: &[ProvisionedWorktree]) {
    for ws in made.iter().rev() {
        match warden.undo_worktree(ws).await {
            Ok(()) => tracing::info!(workspace = %ws.record.id, "worktree of a failed provisioning taken back"),
            Err(e) => {
                tracing::warn!(workspace = %ws.record.id, error = %e, "cannot take back the worktree of a failed provisioning")
            }
        }
    }
}

/// The parent clone of `repo`, ready: the one there is (fetched first), or
/// one made now. It is made under the parent's cross-process lock
/// (`locks/<parent>.lock` in the workspace registry), held only while it is
/// made, so that of two tasks needing it at once — of this or of another
/// warden process on the state directory — one clones and the other waits
/// for that clone (up to `TaskConfig::clone_wait`, and only while its task
/// is there and warden is not shutting down) and then uses it.
async fn parent_clone(
    warden: &Warden,
    parent: &WorkspaceId,
    repo: &RepoSpec,
    gone: &TaskGone,
) -> Result<WorkspaceRecord, String> {
    let existing = lookup(warden, parent).await?;
    if let Some(r) = existing.as_ref().filter(|r| r.state == WorkspaceState::Ready) {
        warden.fetch_workspace(parent).await.map_err(|e| format!("fetch: {e}"))?;
        return Ok(r.clone());
    }
    let registry = warden.workspaces().ctx.registry().clone();
    let key = parent.clone();
    let free = tokio::task::spawn_blocking(move || registry.try_lock_workspace(&key))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let lock = match free {
        Some(lock) => lock,
        None => {
            let owner = owner_of(existing.as_ref());
            let limit = warden.tasks().config.clone_wait;
            tracing::info!(owner = %owner, limit_s = limit.as_secs(), "the clone of this repository is being made elsewhere; waiting for it");
            let started = std::time::Instant::now();
            let registry = warden.workspaces().ctx.registry();
            // Waiting stops when the task goes, or when warden shuts down.
            let closing = Arc::clone(&warden.tasks().closing);
            let stop = {
                let gone = gone.clone();
                let closing = Arc::clone(&closing);
                async move {
                    let shutdown = async {
                        while !closing.load(std::sync::atomic::Ordering::Acquire) {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    };
                    tokio::select! {
                        () = gone.gone() => {}
                        () = shutdown => {}
                    }
                }
            };
            match registry.wait_lock_workspace(parent, limit, stop).await {
                Ok(lock) => {
                    let waited_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                    tracing::info!(waited_ms, "waited for the clone of this repository");
                    lock
                }
                Err(LockWait::TimedOut { waited }) => {
                    let owner = owner_of(lookup(warden, parent).await.ok().flatten().as_ref());
                    tracing::warn!(owner = %owner, waited_s = waited.as_secs(), "gave up waiting for the clone of this repository");
                    return Err(format!(
                        "the clone of this repository (workspace {parent}) was still being made by {owner} after \
                         {} s of waiting; try again once it is ready (`warden workspace list` shows its state)",
                        waited.as_secs()
                    ));
                }
                Err(LockWait::Cancelled) => {
                    let why = if closing.load(std::sync::atomic::Ordering::Acquire) {
                        "warden shut down while the task waited for the clone of this repository"
                    } else {
                        "the task ended while it waited for the clone of this repository"
                    };
                    tracing::info!("{why}");
                    return Err(why.to_owned());
                }
                Err(LockWait::Failed(e)) => return Err(e.to_string()),
            }
        }
    };
    // Whoever held the lock may have made it meanwhile.
    match lookup(warden, parent).await? {
        Some(r) if r.state == WorkspaceState::Ready => {
            drop(lock);
            warden.fetch_workspace(parent).await.map_err(|e| format!("fetch: {e}"))?;
            Ok(r)
        }
        other => {
            if let Some(r) = other {
                // Left over from an earlier clone that did not end ready: start again.
                // Unless it cannot be discarded (being made without this lock, by a
                // process that is still alive): then its record stays, and this task
                // fails typed.
                warden.discard_workspace(&r.id).await.map_err(|e| {
                    format!("the clone of this repository is not ready and cannot be replaced now: {e}")
                })?;
                let ctx = Arc::clone(&warden.workspaces().ctx);
                let id = r.id.clone();
                let _ = tokio::task::spawn_blocking(move || ctx.registry().remove(&id)).await;
            }
            let made = warden
                .provision_workspace(ProvisionSpec::Clone(CloneSpec {
                    id: Some(parent.to_string()),
                    source: repo.source.clone(),
                    branch: BranchSpec::Named { name: "warden/parent".into() },
                    base: repo.base.clone(),
                    depth: None,
                }))
                .await
                .map_err(|e| e.to_string());
            drop(lock);
            made
        }
    }
}

/// The registry record of workspace `id`, if it has one.
async fn lookup(warden: &Warden, id: &WorkspaceId) -> Result<Option<WorkspaceRecord>, String> {
    match warden.workspace(id).await {
        Ok(r) => Ok(Some(r)),
        Err(WorkspaceError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// Who is making a workspace, as far as its record says.
fn owner_of(record: Option<&WorkspaceRecord>) -> String {
    match record.and_then(|r| r.owner.filter(|_| r.state == WorkspaceState::Provisioning)) {
        Some(owner) if owner.pid == std::process::id() => "another task of this warden process".to_owned(),
        Some(owner) => format!("warden process {}", owner.pid),
        None => "another warden process".to_owned(),
    }
}

/// Starts one agent through the one launch path. A node that is full
/// (sessions of other callers) is waited for.
async fn launch(warden: &Warden, req: AgentRequest) -> Result<(SessionInfo, Option<String>), String> {
    let mut tries = 0;
    let launched = loop {
        match warden.spawn_agent(req.clone()).await {
            Err(LaunchError::Session(SessionError::TooManySessions { .. })) if tries < SLOT_RETRIES => {
                tries += 1;
                tokio::time::sleep(SLOT_RETRY).await;
            }
            Err(e) => return Err(e.to_string()),
            Ok(l) => break l,
        }
    };
    Ok((launched.session, launched.selection.map(|s| format!("{}: {}", s.agent, s.reason))))
}

/// Commits, pushes and opens pull requests as the task asks, one agent's
/// workspace after another (each through its workspace actor); with
/// `merge`, the agents' work is committed on their branches and merged into
/// the task's one branch, which alone is pushed ([`merge`]).
async fn finalize(warden: &Warden, record: &TaskRecord) -> FinalizeOutcome {
    let spec = &record.spec;
    let mode = spec.finalize;
    let agent_mode = if spec.merge { FinalizeMode::Commit } else { mode };
    let mut agents = Vec::with_capacity(record.agents.len());
    for agent in &record.agents {
        let ws = agent.workspace.as_deref().and_then(|w| WorkspaceId::parse(w).ok());
        match ws {
            Some(ws) if mode != FinalizeMode::None => agents.push(finalize_one(warden, record, &ws, agent_mode).await),
            _ => agents.push(Finalized::default()),
        }
    }
    let merged = if spec.merge && agents.iter().all(|f| f.failed.is_none()) {
        Some(merge::merge(warden, record).await)
    } else {
        None
    };
    FinalizeOutcome { agents, merged }
}

/// The commit message of a task's work.
fn commit_message(record: &TaskRecord) -> String {
    let spec = &record.spec;
    let mut message = spec.summary();
    if spec.description.trim() != message {
        message.push_str("\n\n");
        message.push_str(spec.description.trim());
    }
    message.push_str(&format!("\n\nwarden task {}", record.id));
    message
}

/// Commits (and pushes, opens a pull request, cleans up) one workspace of a task.
async fn finalize_one(warden: &Warden, record: &TaskRecord, ws: &WorkspaceId, mode: FinalizeMode) -> Finalized {
    let spec = &record.spec;
    let mut f = Finalized::default();
    let pushing = matches!(mode, FinalizeMode::Push | FinalizeMode::Pr);
    let repo = spec.repo.as_ref();
    let base = match repo.and_then(|r| r.base.clone()) {
        Some(b) => Some(b),
        None => warden.workspace(ws).await.ok().map(|r| r.base.trim_start_matches("origin/").to_owned()),
    };
    // Checked when the task was created (`TaskSpec::validate`).
    let pr_repo = repo.and_then(|r| r.pr_repo.as_deref()).and_then(|s| RepoSlug::github(s).ok());
    let req = FinalizeRequest {
        commit: CommitRequest { message: commit_message(record), ..Default::default() },
        push: pushing.then(PushRequest::default),
        pr: (mode == FinalizeMode::Pr).then(|| PrRequest {
            title: spec.summary(),
            body: Some(format!("{}\n\nOpened by warden for task {}.", spec.description.trim(), record.id)),
            base,
            repo: pr_repo,
            ..Default::default()
        }),
        cleanup: (pushing && spec.cleanup == CleanupPolicy::OnSuccess).then_some(false),
    };
    match warden.finalize_workspace(ws, req).await {
        Ok(report) => {
            match &report.commit {
                StepResult::Done { value: CommitOutcome::Committed { commit, .. } } => f.commit = Some(commit.clone()),
                StepResult::Done { value: CommitOutcome::NothingToCommit } => {}
                StepResult::Failed { message, .. } => f.failed = Some(format!("commit: {message}")),
                StepResult::Skipped { .. } => {}
            }
            if let StepResult::Done { value } = &report.push {
                f.pushed = true;
                f.commit.get_or_insert(value.commit.clone());
            }
            if let StepResult::Done { value } = &report.pr {
                f.pr_url = Some(value.url.clone());
            }
            for (step, failed) in [
                ("push", report.push.is_failed()),
                ("pr", report.pr.is_failed()),
                ("cleanup", report.cleanup.is_failed()),
            ] {
                if failed && f.failed.is_none() {
                    let message = match step {
                        "push" => step_message(&report.push),
                        "pr" => step_message(&report.pr),
                        _ => step_message(&report.cleanup),
                    };
                    f.failed = Some(format!("{step}: {message}"));
                }
            }
        }
        Err(e) => f.failed = Some(format!("finalize: {e}")),
    }
    f
}

fn step_message<T>(step: &StepResult<T>) -> String {
    match step {
        StepResult::Failed { message, .. } => message.clone(),
        _ => String::new(),
    }
}
