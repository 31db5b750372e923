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

use warden_adapters::Strategy;
use warden_core::task::{CleanupPolicy, FinalizeMode, StatusReason, TaskRecord};
use warden_core::workspace::{
    BranchSpec, CloneSpec, CommitOutcome, CommitRequest, FinalizeRequest, PrRequest, ProvisionSpec, PushRequest,
    RepoSlug, StepResult, WorkspaceId, WorkspaceState, WorktreeSpec, branch_for_task,
};
use warden_core::{SessionId, SessionInfo};

use crate::error::SessionError;
use crate::handle::{Warden, WeakWarden};
use crate::launch::{AgentRequest, LaunchError};
use crate::task::{FinalizeOutcome, Finalized, HostFuture, LaunchPlan, Place, TaskHost, place};
use crate::workspace::WorkspaceError;

/// How often a launch that meets a full node retries, and how many times.
const SLOT_RETRY: Duration = Duration::from_millis(100);
const SLOT_RETRIES: u32 = 600;

impl TaskHost for WeakWarden {
    fn provision(
        &self,
        record: TaskRecord,
        patterns: Arc<Vec<String>>,
        parent_lock: Arc<tokio::sync::Mutex<()>>,
    ) -> HostFuture<Result<Vec<Place>, (StatusReason, String)>> {
        let w = self.upgrade();
        Box::pin(async move {
            let w = w.ok_or((StatusReason::ProvisionFailed, "warden is shutting down".to_string()))?;
            provision(&w, &record, &patterns, &parent_lock).await
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
/// clone (created once, fetched for later tasks), a scratch directory, or the
/// given directory.
async fn provision(
    warden: &Warden,
    record: &TaskRecord,
    patterns: &[String],
    parent_lock: &tokio::sync::Mutex<()>,
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
    let parent_record = {
        let _guard = parent_lock.lock().await;
        let existing = match warden.workspace(&parent).await {
            Ok(r) => Some(r),
            Err(WorkspaceError::NotFound { .. }) => None,
            Err(e) => return Err(fail(e.to_string())),
        };
        match existing {
            Some(r) if r.state == WorkspaceState::Ready => {
                warden.fetch_workspace(&parent).await.map_err(|e| fail(format!("fetch: {e}")))?;
                r
            }
            other => {
                if let Some(r) = other {
                    // Left over from an earlier clone that did not end ready: start again.
                    // Unless it cannot be discarded (another warden process is still
                    // cloning it): then its record stays, and this task fails typed.
                    warden.discard_workspace(&r.id).await.map_err(|e| {
                        fail(format!("the clone of this repository is not ready and cannot be replaced now: {e}"))
                    })?;
                    let ctx = Arc::clone(&warden.workspaces().ctx);
                    let id = r.id.clone();
                    let _ = tokio::task::spawn_blocking(move || ctx.registry().remove(&id)).await;
                }
                warden
                    .provision_workspace(ProvisionSpec::Clone(CloneSpec {
                        id: Some(parent.to_string()),
                        source: repo.source.clone(),
                        branch: BranchSpec::Named { name: "warden/parent".into() },
                        base: repo.base.clone(),
                        depth: None,
                    }))
                    .await
                    .map_err(|e| fail(e.to_string()))?
            }
        }
    };
    let base = repo.base.clone().unwrap_or_else(|| parent_record.base.clone());
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
        let ws = warden
            .provision_workspace(ProvisionSpec::Worktree(WorktreeSpec {
                parent: parent.to_string(),
                id: Some(format!("t-{}-{i}", record.id.as_simple())),
                branch: BranchSpec::Named { name: branch.clone() },
                base: Some(format!("origin/{base}")),
            }))
            .await
            .map_err(|e| fail(e.to_string()))?;
        if !spec.commit_instruction_files {
            let (dir, patterns) = (ws.path.clone(), patterns.to_vec());
            tokio::task::spawn_blocking(move || place::exclude_locally(&dir, &patterns))
                .await
                .map_err(|e| fail(e.to_string()))?
                .map_err(|e| fail(format!("cannot write the local git exclude: {e}")))?;
        }
        places.push(Place { workdir: ws.path.clone(), workspace: Some(ws.id.clone()), branch: Some(branch) });
    }
    Ok(places)
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
