//! The task part of the embedding API: `impl Warden`.

use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};
use warden_core::task::{
    ChangeSource, StatusChange, StatusReason, TaskFilter, TaskId, TaskRecord, TaskSpec, TaskStatus,
};
use warden_core::workspace::now_ms;
use warden_core::{EventKind, SessionId};

use crate::handle::Warden;
use crate::task::{Control, TaskArgs, TaskError, TaskMsg, start_actor};
use crate::workspace::registry::{process_alive, this_process};

impl Warden {
    /// Accepts a task and returns its id at once; in the background its actor
    /// waits for a slot (`max_sessions`), prepares its workspace, starts its
    /// agents through [`Warden::spawn_agent`], follows them, and finalizes.
    /// Every change is a `task_status` event and a write of its record.
    ///
    /// ```no_run
    /// # async fn demo(warden: warden_actors::Warden) -> Result<(), warden_actors::TaskError> {
    /// use warden_core::task::{FinalizeMode, RepoSpec, TaskSpec};
    ///
    /// let mut spec = TaskSpec::new("claude", "fix the failing test");
    /// spec.repo = Some(RepoSpec { source: "/srv/git/p.git".into(), ..Default::default() });
    /// spec.finalize = FinalizeMode::Push;
    /// let id = warden.create_task(spec).await?;
    /// let done = warden.wait_task(id).await?;
    /// println!("{} {:?}", done.status, done.agents[0].commit);
    /// # Ok(()) }
    /// ```
    pub async fn create_task(&self, spec: TaskSpec) -> Result<TaskId, TaskError> {
        spec.validate()?;
        let registry = &self.config().adapters;
        for a in spec.agents.iter().filter(|a| !a.is_auto()) {
            if registry.get(&a.agent).is_none() {
                return Err(TaskError::UnknownAgent {
                    name: a.agent.chars().take(64).collect(),
                    known: registry.names().join(", "),
                });
            }
        }
        let id = TaskId::new();
        let mut record = TaskRecord::new(id, self.node(), spec, now_ms());
        record.owner = Some(this_process());
        if record.spec.repo.is_none() && record.spec.workdir.is_none() {
            record.scratch = Some(self.workspace_base_dir().join(crate::task::SCRATCH_DIR).join(id.to_string()));
        }
        let tasks = self.tasks();
        let dropped = tasks
            .index
            .admit(record.clone(), tasks.config.max_records, tasks.config.max_live)
            .map_err(|live| TaskError::TooMany { live })?;
        tasks.writer.put(&record);
        for id in dropped {
            tasks.writer.remove(id);
        }
        self.bus().publish(
            None,
            EventKind::TaskCreated {
                task: id,
                summary: record.spec.summary(),
                agents: record.spec.agents.iter().map(|a| a.agent.clone()).collect(),
                repo: record.spec.repo.as_ref().map(|r| warden_core::workspace::strip_url_credentials(&r.source)),
                finalize: record.spec.finalize,
            },
        );
        info!(task = %id, "task created");
        let actor = start_actor(self.task_args(record)).await?;
        actor.cast(TaskMsg::Begin).map_err(|_| TaskError::ShuttingDown)?;
        Ok(id)
    }

    fn task_args(&self, record: TaskRecord) -> TaskArgs {
        let t = self.tasks();
        TaskArgs {
            record,
            host: Arc::new(self.downgrade()),
            bus: self.bus().clone(),
            index: Arc::clone(&t.index),
            writer: t.writer.clone(),
            slots: Arc::clone(&t.slots),
            patterns: Arc::clone(&t.patterns),
            config: t.config.clone(),
            closing: Arc::clone(&t.closing),
            max_slots: self.config().max_sessions.max(1),
        }
    }

    /// The agents the selection strategy passes over because they reported a
    /// usage limit, with the time (Unix ms) they are usable again.
    pub fn cooling_agents(&self) -> Vec<(String, u64)> {
        self.tasks().cooldowns.cooling(now_ms())
    }

    /// The names of [`Self::cooling_agents`].
    pub(crate) fn cooling_agent_names(&self) -> Vec<String> {
        self.cooling_agents().into_iter().map(|(a, _)| a).collect()
    }

    /// One task's record.
    pub fn task(&self, id: TaskId) -> Result<TaskRecord, TaskError> {
        self.tasks().index.get(id).ok_or(TaskError::UnknownTask(id))
    }

    /// Tasks matching `filter`, oldest first (the newest `limit`).
    pub fn list_tasks(&self, filter: &TaskFilter) -> Vec<TaskRecord> {
        self.tasks().index.list(filter)
    }

    /// The task a session works for: its id, status and the agent's branch.
    pub fn task_of_session(&self, session: SessionId) -> Option<(TaskId, TaskStatus, Option<String>)> {
        self.tasks().index.of_session(session)
    }

    /// The running session of a task's agent `agent` (0 for the first).
    pub fn task_session(&self, id: TaskId, agent: usize) -> Result<SessionId, TaskError> {
        let r = self.task(id)?;
        let a = r.agents.get(agent).ok_or(TaskError::NoSession(id))?;
        match a.session {
            Some(s) if !r.status.is_terminal() => Ok(s),
            _ => Err(TaskError::NoSession(id)),
        }
    }

    async fn control(&self, id: TaskId, control: Control) -> Result<TaskRecord, TaskError> {
        let record = self.task(id)?;
        if record.status.is_terminal() && control != Control::Resume {
            let action = if control == Control::Pause { "paused" } else { "cancelled" };
            return Err(TaskError::NotNow { task: id, status: record.status, action });
        }
        let Some(actor) = self.tasks().index.actor(id) else {
            let action = match control {
                Control::Pause => "paused",
                Control::Resume => "resumed",
                Control::Cancel => "cancelled",
            };
            // A pass of the worktree retention policy never runs meanwhile.
            let tasks = self.tasks();
            let _no_pass = tasks.retention_lock.lock().await;
            let record = self.task(id)?;
            if control == Control::Resume
                && record.status == TaskStatus::Failed
                && record.agents.iter().all(|a| a.workdir.is_some() && a.removed.is_none())
                && tasks.index.actor(id).is_none()
            {
                // An ended task whose workspace is still there: a new actor resumes it.
                let actor = start_actor(self.task_args(record)).await?;
                return match actor.call(|reply| TaskMsg::Control(control, reply), Some(Duration::from_secs(60))).await {
                    Ok(ractor::rpc::CallResult::Success(r)) => r,
                    _ => Err(TaskError::ShuttingDown),
                };
            }
            return Err(TaskError::NotNow { task: id, status: record.status, action });
        };
        match actor.call(|reply| TaskMsg::Control(control, reply), Some(Duration::from_secs(60))).await {
            Ok(ractor::rpc::CallResult::Success(r)) => r,
            _ => Err(TaskError::ShuttingDown),
        }
    }

    /// Pauses a task: its agents are stopped, its workspace kept; the task is
    /// `waiting` with reason `paused` until [`Warden::resume_task`].
    pub async fn pause_task(&self, id: TaskId) -> Result<TaskRecord, TaskError> {
        self.control(id, Control::Pause).await
    }

    /// Starts a paused task's agents again in the same workspace (also a
    /// task waiting for a usage-limit reset, or one that failed when the node
    /// restarted).
    pub async fn resume_task(&self, id: TaskId) -> Result<TaskRecord, TaskError> {
        self.control(id, Control::Resume).await
    }

    /// Cancels a task: its agents are stopped, its workspace kept as it is.
    pub async fn cancel_task(&self, id: TaskId) -> Result<TaskRecord, TaskError> {
        self.control(id, Control::Cancel).await
    }

    /// Waits until a task has ended; returns its final record.
    pub async fn wait_task(&self, id: TaskId) -> Result<TaskRecord, TaskError> {
        let mut sub = self.subscribe(Some(self.bus().next_seq()));
        loop {
            let r = self.task(id)?;
            if r.status.is_terminal() {
                return Ok(r);
            }
            match sub.recv_timeout(Duration::from_secs(1)).await {
                Some(_) | None => continue,
            }
        }
    }

    /// Tasks whose warden died with their agents: marked `failed` (reason
    /// `node_restarted`), or started again where `resume_on_restart` says so.
    /// Tasks of another live warden on the same state directory are left alone.
    pub(crate) async fn recover_tasks(&self) {
        let loaded = std::mem::take(&mut *crate::sync::lock(&self.tasks().loaded));
        for mut record in loaded {
            if record.status.is_terminal() || record.owner.is_some_and(process_alive) {
                continue;
            }
            let placed = record.agents.iter().all(|a| a.workdir.is_some());
            let resume = record.spec.resume_on_restart && placed;
            let (status, source) =
                (if resume { TaskStatus::Queued } else { TaskStatus::Failed }, ChangeSource::Recovery);
            let from = record.status;
            let change = StatusChange {
                status,
                at: now_ms(),
                reason: StatusReason::NodeRestarted,
                detail: None,
                source,
                seq: None,
            };
            if record.apply(change).is_none() {
                record.apply(StatusChange {
                    status: TaskStatus::Failed,
                    at: now_ms(),
                    reason: StatusReason::NodeRestarted,
                    detail: None,
                    source,
                    seq: None,
                });
            }
            record.owner = Some(this_process());
            for a in &mut record.agents {
                a.session = None;
            }
            warn!(task = %record.id, %from, to = %record.status, "task interrupted by a restart of warden");
            let tasks = self.tasks();
            tasks.index.put(record.clone(), tasks.config.max_records);
            tasks.writer.put(&record);
            self.bus().publish(
                None,
                EventKind::TaskStatus {
                    task: record.id,
                    from,
                    to: record.status,
                    reason: StatusReason::NodeRestarted,
                    detail: None,
                    source,
                },
            );
            if record.status == TaskStatus::Queued {
                match start_actor(self.task_args(record)).await {
                    Ok(actor) => {
                        let _ = actor.cast(TaskMsg::Recover);
                    }
                    Err(e) => warn!(error = %e, "cannot resume a task"),
                }
            }
        }
        self.tasks().writer.flush().await;
        super::retention::prune_worktrees(self).await;
    }
}
