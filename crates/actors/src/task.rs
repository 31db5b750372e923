//! Tasks: the unit of work a caller delegates. One [`actor`] per task runs
//! its life — a slot (`max_sessions`), a workspace (a worktree of the parent
//! clone its repository shares, or a scratch directory), its agents through
//! the one launch path, their session events read as task statuses, and the
//! finalize through the workspace actors — and keeps its durable record in
//! the [`registry`].
//!
//! ```text
//! Warden::create_task ──► TaskActor (one per task) ──► spawn_agent / provision / finalize
//!                           ▲ session events (one router for all tasks, by session id)
//! TaskIndex (records, actors, sessions of tasks; read by queries) ──► RegistryWriter thread
//! ```
//!
//! `docs/TASKS.md` has the life cycle, the statuses and the policies.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ractor::ActorRef;
use tokio::sync::Semaphore;
use warden_core::task::{
    TaskFilter, TaskId, TaskRecord, TaskSpecError, TaskStatus, WorktreeRemoval, WorktreeRetention,
};
use warden_core::{EventKind, SessionId};

use crate::bus::EventBus;
use crate::sync::lock;

mod actor;
pub(crate) mod cooldown;
pub(crate) mod host;
pub(crate) mod place;
pub mod registry;

pub(crate) use actor::{Control, FinalizeOutcome, Finalized, Merged, Place, TaskArgs, TaskMsg, start_actor};
pub(crate) use host::{HostFuture, LaunchPlan, TaskGone, TaskHost};
pub(crate) use place::SCRATCH_DIR;
use registry::RegistryWriter;
pub use registry::TaskRegistry;

/// Task settings of a node.
#[derive(Debug, Clone)]
pub struct TaskConfig {
    /// Most scratch directories (of tasks without a repository) kept once
    /// their tasks have ended; the oldest go first.
    pub scratch_max_count: usize,
    /// Most bytes the scratch directories of ended tasks may hold.
    pub scratch_max_bytes: u64,
    /// Most ended task records kept (in memory and on disk); the oldest go first.
    pub max_records: usize,
    /// Most tasks that have not ended (queued, running, waiting, paused …): past
    /// it `create_task` is refused ([`TaskError::TooMany`]) until some end. Each
    /// holds its record (up to a request's size) and an actor.
    pub max_live: usize,
    /// How many finished worktrees (of ended tasks) are kept, how many bytes
    /// and how old; applied after each task ends and when warden starts.
    pub worktrees: WorktreeRetention,
    /// How long a task waits for another warden process (or task) that is
    /// making the parent clone of the same repository on this state
    /// directory, before it fails (`provision_failed`).
    pub clone_wait: std::time::Duration,
}

impl Default for TaskConfig {
    fn default() -> Self {
        TaskConfig {
            scratch_max_count: 32,
            scratch_max_bytes: 1 << 30,
            max_records: 10_000,
            max_live: 1024,
            worktrees: WorktreeRetention::default(),
            clone_wait: std::time::Duration::from_secs(15 * 60),
        }
    }
}

/// Why a task call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    /// The spec cannot run.
    #[error(transparent)]
    Spec(#[from] TaskSpecError),
    /// No task has this id on this node.
    #[error("unknown task {0}")]
    UnknownTask(TaskId),
    /// No adapter has this name.
    #[error("unknown agent type `{name}`; known agent types: {known}")]
    UnknownAgent {
        /// The name asked for (at most 64 characters).
        name: String,
        /// The names this node knows.
        known: String,
    },
    /// The task is in a status that does not allow the call.
    #[error("task {task} is {status}; it cannot be {action} now")]
    NotNow {
        /// The task.
        task: TaskId,
        /// Its status.
        status: TaskStatus,
        /// What was asked (`paused`, `resumed`, `cancelled`).
        action: &'static str,
    },
    /// The task has no running agent (for `send`, `confirm`, …).
    #[error("task {0} has no running agent")]
    NoSession(TaskId),
    /// The task's actor is gone (warden is shutting down).
    #[error("warden is shutting down")]
    ShuttingDown,
    /// As many tasks as the node keeps have not ended yet.
    #[error("{live} tasks have not ended on this node, its limit (`max_live`); try again once some have")]
    TooMany {
        /// Tasks not ended.
        live: usize,
    },
}

/// The records, actors and sessions of the node's tasks. Lock order: this is
/// the only lock of the task part; nothing is called while it is held.
#[derive(Default)]
pub(crate) struct TaskIndex {
    inner: Mutex<IndexInner>,
}

#[derive(Default)]
struct IndexInner {
    records: BTreeMap<TaskId, TaskRecord>,
    /// How many of `records` have ended, kept as they change: a status
    /// change does not count them all (up to the retention's 10,000).
    ended: usize,
    actors: HashMap<TaskId, ActorRef<TaskMsg>>,
    sessions: HashMap<SessionId, TaskId>,
    last_output: HashMap<SessionId, Instant>,
}

/// Stores `record`; drops the oldest ended records beyond `max_records` and
/// returns their ids.
fn store(g: &mut IndexInner, record: TaskRecord, max_records: usize) -> Vec<TaskId> {
    let ends = record.status.is_terminal();
    let ended_before = g.records.insert(record.id, record).is_some_and(|old| old.status.is_terminal());
    g.ended = g.ended + usize::from(ends) - usize::from(ended_before);
    let excess = g.ended.saturating_sub(max_records);
    if excess == 0 {
        return Vec::new();
    }
    // Ids are time-ordered (UUIDv7): the first ended ones are the oldest.
    let drop: Vec<TaskId> = g.records.values().filter(|r| r.status.is_terminal()).take(excess).map(|r| r.id).collect();
    for id in &drop {
        g.records.remove(id);
    }
    g.ended -= drop.len();
    drop
}

impl TaskIndex {
    /// Stores the latest record; returns the ids of ended records beyond
    /// `max_records` that were dropped (oldest first).
    pub(crate) fn put(&self, record: TaskRecord, max_records: usize) -> Vec<TaskId> {
        store(&mut lock(&self.inner), record, max_records)
    }

    /// [`put`](TaskIndex::put) for a new task, unless `max_live` tasks have not
    /// ended: then nothing is stored and the count comes back.
    pub(crate) fn admit(&self, record: TaskRecord, max_records: usize, max_live: usize) -> Result<Vec<TaskId>, usize> {
        let mut g = lock(&self.inner);
        let live = g.records.len() - g.ended;
        if live >= max_live {
            return Err(live);
        }
        Ok(store(&mut g, record, max_records))
    }

    pub(crate) fn get(&self, id: TaskId) -> Option<TaskRecord> {
        lock(&self.inner).records.get(&id).cloned()
    }

    pub(crate) fn list(&self, filter: &TaskFilter) -> Vec<TaskRecord> {
        let g = lock(&self.inner);
        let mut out: Vec<TaskRecord> =
            g.records.values().rev().filter(|r| filter.matches(r)).take(filter.limit()).cloned().collect();
        out.reverse();
        out
    }

    pub(crate) fn actor(&self, id: TaskId) -> Option<ActorRef<TaskMsg>> {
        lock(&self.inner).actors.get(&id).cloned()
    }

    pub(crate) fn set_actor(&self, id: TaskId, actor: Option<ActorRef<TaskMsg>>) {
        let mut g = lock(&self.inner);
        match actor {
            Some(a) => g.actors.insert(id, a),
            None => g.actors.remove(&id),
        };
    }

    pub(crate) fn set_session(&self, session: SessionId, task: Option<TaskId>) {
        let mut g = lock(&self.inner);
        match task {
            Some(t) => {
                g.sessions.insert(session, t);
                g.last_output.insert(session, Instant::now());
            }
            None => {
                g.sessions.remove(&session);
                g.last_output.remove(&session);
            }
        }
    }

    /// The task of a session, its status and the agent's branch.
    pub(crate) fn of_session(&self, session: SessionId) -> Option<(TaskId, TaskStatus, Option<String>)> {
        let g = lock(&self.inner);
        let task =
            g.sessions.get(&session).copied().or_else(|| {
                g.records.values().rev().take(4096).find(|r| r.agent_of(session).is_some()).map(|r| r.id)
            })?;
        let r = g.records.get(&task)?;
        let branch = r.agent_of(session).and_then(|i| r.agents[i].branch.clone());
        Some((task, r.status, branch))
    }

    /// When a session of a task last wrote output.
    pub(crate) fn last_output(&self, session: SessionId) -> Option<Instant> {
        lock(&self.inner).last_output.get(&session).copied()
    }

    /// Scratch directories of tasks that have not ended.
    pub(crate) fn live_scratch(&self) -> HashSet<PathBuf> {
        let g = lock(&self.inner);
        let mut out = HashSet::new();
        for r in g.records.values().filter(|r| !r.status.is_terminal()) {
            if let Some(s) = &r.scratch {
                out.insert(s.clone());
            }
        }
        out
    }

    /// Where a task is for the retention policy of its worktrees.
    pub(crate) fn retention_view(&self, id: TaskId) -> Retention {
        let g = lock(&self.inner);
        match g.records.get(&id) {
            None => Retention::Unknown,
            Some(r) if r.status.is_terminal() && !g.actors.contains_key(&id) => Retention::Ended(r.updated_at),
            Some(_) => Retention::Live,
        }
    }

    /// Records that the retention policy removed (or, `None`, did not
    /// remove after all) the worktree `workspace` of task `id`; the record to
    /// write, when the task still has one.
    pub(crate) fn mark_removed(
        &self,
        id: TaskId,
        workspace: &str,
        removal: Option<WorktreeRemoval>,
    ) -> Option<TaskRecord> {
        let mut g = lock(&self.inner);
        let r = g.records.get_mut(&id)?;
        let mut found = false;
        for a in r.agents.iter_mut().filter(|a| a.workspace.as_deref() == Some(workspace)) {
            a.removed = removal.clone();
            found = true;
        }
        if let Some(m) = r.merged.as_mut().filter(|m| m.workspace.as_deref() == Some(workspace)) {
            m.removed = removal;
            found = true;
        }
        found.then(|| r.clone())
    }

    /// Routes one bus event to the task actor of its session.
    fn route(&self, event: &Arc<warden_core::Event>) {
        let mut g = lock(&self.inner);
        match (&event.kind, event.session) {
            (EventKind::Output(_), Some(s)) => {
                if let Some(t) = g.last_output.get_mut(&s) {
                    *t = Instant::now();
                }
            }
            (EventKind::Lagged { .. }, _) => {
                for a in g.actors.values() {
                    let _ = a.cast(TaskMsg::Recheck);
                }
            }
            (_, Some(s)) => {
                if let Some(actor) = g.sessions.get(&s).and_then(|t| g.actors.get(t)) {
                    let _ = actor.cast(TaskMsg::Event(event.clone()));
                }
            }
            _ => {}
        }
    }
}

/// A task as the worktree retention policy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retention {
    /// Not ended, or its actor still runs: its worktrees stay.
    Live,
    /// Ended at this time (Unix ms), no actor.
    Ended(u64),
    /// No record (dropped by `max_records`): its worktrees are orphans.
    Unknown,
}

/// The task part of a running warden.
pub(crate) struct Tasks {
    pub index: Arc<TaskIndex>,
    pub writer: RegistryWriter,
    /// One permit per agent slot (`max_sessions`).
    pub slots: Arc<Semaphore>,
    /// Held by a pass of the worktree retention policy, and while an ended
    /// task is started again (so a pass never removes what a resume uses).
    pub retention_lock: Arc<tokio::sync::Mutex<()>>,
    /// Agents cooling down after a usage limit (read by the selection).
    pub cooldowns: Arc<cooldown::Cooldowns>,
    /// Files kept out of the agents' commits.
    pub patterns: Arc<Vec<String>>,
    pub config: TaskConfig,
    /// Set when warden shuts down: agents that end then do not end their tasks.
    pub closing: Arc<std::sync::atomic::AtomicBool>,
    /// Records found at start (recovered once the handle exists).
    pub loaded: Mutex<Vec<TaskRecord>>,
    router: tokio::task::JoinHandle<()>,
}

impl Drop for Tasks {
    fn drop(&mut self) {
        self.router.abort();
    }
}

impl Tasks {
    /// Opens the registry, loads it and starts the event router.
    pub(crate) fn start(config: &crate::WardenConfig, bus: &EventBus) -> std::io::Result<Tasks> {
        let registry = TaskRegistry::open(&config.state_dir)?;
        let loaded = registry.load()?;
        for bad in &loaded.corrupt {
            tracing::warn!(file = %bad.display(), "a task record did not parse; set aside");
        }
        let writer = RegistryWriter::start(registry)?;
        let index = Arc::new(TaskIndex::default());
        for r in &loaded.records {
            index.put(r.clone(), usize::MAX);
        }
        let mut sub = bus.subscribe(None);
        let routed = Arc::clone(&index);
        let router = tokio::spawn(async move {
            while let Some(event) = sub.recv().await {
                routed.route(&event);
            }
        });
        Ok(Tasks {
            index,
            writer,
            slots: Arc::new(Semaphore::new(config.max_sessions.max(1))),
            retention_lock: Arc::new(tokio::sync::Mutex::new(())),
            cooldowns: Arc::new(cooldown::Cooldowns::default()),
            patterns: Arc::new(place::instruction_patterns(&config.adapters)),
            config: config.tasks.clone(),
            closing: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            loaded: Mutex::new(loaded.records),
            router,
        })
    }
}

#[cfg(test)]
mod tests {
    use warden_core::task::{TaskId, TaskRecord, TaskSpec, TaskStatus};

    use super::TaskIndex;

    fn record(status: TaskStatus) -> TaskRecord {
        let mut r = TaskRecord::new(TaskId::new(), "n", TaskSpec::new("shell", "t"), 0);
        r.status = status;
        r
    }

    /// The count of ended records follows every change (a task that ends,
    /// one stored again, the oldest dropped), so the retention and the
    /// bound on tasks not ended hold as when they were counted each time.
    #[test]
    fn ended_records_are_counted_as_they_change() {
        let index = TaskIndex::default();
        let running: Vec<TaskRecord> = (0..3).map(|_| record(TaskStatus::Running)).collect();
        for r in &running {
            assert!(index.admit(r.clone(), 2, 4).expect("room").is_empty());
        }
        // Stored again unchanged, and again ended: counted once.
        index.put(running[0].clone(), 2);
        let mut done = running[0].clone();
        done.status = TaskStatus::Completed;
        assert!(index.put(done.clone(), 2).is_empty());
        assert!(index.put(done.clone(), 2).is_empty());
        // Two not ended, one ended: two more are admitted, then none.
        assert!(index.admit(record(TaskStatus::Queued), 2, 4).is_ok());
        assert!(index.admit(record(TaskStatus::Queued), 2, 4).is_ok());
        assert_eq!(index.admit(record(TaskStatus::Queued), 2, 4).expect_err("full"), 4);
        // Two more end: the oldest ended record goes (`done`, from the first id).
        for r in &running[1..] {
            let mut ended = r.clone();
            ended.status = TaskStatus::Failed;
            let dropped = index.put(ended, 2);
            if r.id == running[2].id {
                assert_eq!(dropped, vec![done.id]);
            } else {
                assert!(dropped.is_empty());
            }
        }
        assert!(index.get(done.id).is_none());
        let g = super::lock(&index.inner);
        assert_eq!(g.ended, g.records.values().filter(|r| r.status.is_terminal()).count());
        assert_eq!(g.ended, 2);
    }
}
