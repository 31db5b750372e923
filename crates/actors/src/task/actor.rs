//! `TaskActor`: one per task. Its handlers only decide and record; every
//! long step (waiting for a slot, provisioning, launching, stopping,
//! finalizing) runs in a spawned future that reports back as a message, so
//! a `pause` or `cancel` is served at once whatever the task is doing.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::OwnedSemaphorePermit;
use tracing::{Instrument, debug, error, info, info_span, warn};
use warden_core::task::{
    ChangeSource, FinalizeMode, MergedBranch, SessionSignal, StatusChange, StatusReason, TaskRecord, TaskStatus,
    parse_reset,
};
use warden_core::workspace::{WorkspaceId, now_ms};
use warden_core::{Event, EventKind, SessionId, SessionInfo};

use super::host::{LaunchPlan, TaskGone, TaskGoneSender, TaskHost};
use super::registry::RegistryWriter;
use super::{TaskConfig, TaskError, TaskIndex, place};
use crate::bus::EventBus;

/// What a caller asks of a running task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Control {
    Pause,
    Resume,
    Cancel,
}

/// Where one agent works.
#[derive(Debug, Clone)]
pub(crate) struct Place {
    pub workdir: PathBuf,
    pub workspace: Option<WorkspaceId>,
    pub branch: Option<String>,
}

/// One agent's finalize, as it went.
#[derive(Debug, Clone, Default)]
pub(crate) struct Finalized {
    pub commit: Option<String>,
    pub pushed: bool,
    pub pr_url: Option<String>,
    /// `step: message` of the step that failed.
    pub failed: Option<String>,
}

/// What the finalize of a task did: per agent, and with `merge` the merge.
#[derive(Debug, Clone, Default)]
pub(crate) struct FinalizeOutcome {
    pub agents: Vec<Finalized>,
    pub merged: Option<Merged>,
}

/// How the merge of the agents' branches went.
#[derive(Debug, Clone)]
pub(crate) enum Merged {
    /// Merged (and pushed, … as asked); `step: message` of a later step that failed.
    Done(MergedBranch, Option<String>),
    /// The branches do not merge: which and where.
    Conflict(String),
    /// Another error.
    Failed(String),
}

/// The task actor's messages.
pub(crate) enum TaskMsg {
    Begin,
    Slots(OwnedSemaphorePermit),
    Placed(Result<Vec<Place>, (StatusReason, String)>),
    Launched {
        index: usize,
        result: Result<(SessionInfo, Option<String>), String>,
    },
    Event(Arc<Event>),
    /// The router fell behind: look at the sessions again.
    Recheck,
    Exited {
        session: SessionId,
        ok: bool,
    },
    Done(FinalizeOutcome),
    Control(Control, RpcReplyPort<Result<TaskRecord, TaskError>>),
    Timeout,
    IdleTick,
    UsageReset(u32),
    /// What the selection strategy found to take over from agent `index`
    /// after its usage limit (`switch_agent_on_limit`).
    Switch {
        index: usize,
        generation: u32,
        pick: Result<(String, String), String>,
    },
    /// Start the agents again in their workspaces (recovery with `resume_on_restart`).
    Recover,
}

/// What the actor starts from.
pub(crate) struct TaskArgs {
    pub record: TaskRecord,
    /// What carries out the effects (the `Warden` handle, held weakly).
    pub host: Arc<dyn TaskHost>,
    pub bus: EventBus,
    pub index: Arc<TaskIndex>,
    pub writer: RegistryWriter,
    pub slots: Arc<tokio::sync::Semaphore>,
    pub patterns: Arc<Vec<String>>,
    pub config: TaskConfig,
    pub closing: Arc<std::sync::atomic::AtomicBool>,
    pub max_slots: usize,
}

/// Where one agent is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    Idle,
    Starting,
    Live(SessionId),
    /// Its work is done (task complete); it is being stopped.
    Finishing(SessionId),
    /// Stopped on purpose (pause, cancel, restart, limits).
    Stopping(SessionId),
    Ended {
        ok: bool,
    },
}

/// What the task does once every agent has stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Intent {
    /// Finalize if every agent ended well, else fail.
    Finish,
    Pause,
    Restart,
    End(TaskStatus, StatusReason, ChangeSource),
}

pub(crate) struct TaskActor;

pub(crate) struct TaskState {
    a: TaskArgs,
    runs: Vec<Run>,
    places: Option<Vec<Place>>,
    permit: Option<OwnedSemaphorePermit>,
    intent: Intent,
    usage_gen: u32,
    timers_armed: bool,
    /// Whether the next launch is a resume.
    resumed: bool,
    waiting_replies: Vec<RpcReplyPort<Result<TaskRecord, TaskError>>>,
    /// Why an agent could not be started.
    launch_failure: Option<String>,
    /// Per agent, the `seq` of the last session event handled: events come
    /// from the router and, right after a start, from a replay of the bus;
    /// older ones than the last handled are stale.
    seen_seq: Vec<u64>,
    /// Per agent, the adapter that replaced the spec's after a usage limit.
    agent_now: Vec<Option<String>>,
    /// Per agent, a switch under way: the detail its `agent_switched` change gets.
    switching: Vec<Option<String>>,
    /// Held while a provisioning runs: dropped with the actor's state when
    /// the task ends, which tells the provisioning to stop waiting.
    provisioning: Option<TaskGoneSender>,
}

/// Starts the actor of a task.
pub(crate) async fn start_actor(args: TaskArgs) -> Result<ActorRef<TaskMsg>, TaskError> {
    let (actor, _) = Actor::spawn(None, TaskActor, args).await.map_err(|_| TaskError::ShuttingDown)?;
    Ok(actor)
}

impl Actor for TaskActor {
    type Msg = TaskMsg;
    type State = TaskState;
    type Arguments = TaskArgs;

    async fn pre_start(&self, myself: ActorRef<TaskMsg>, a: TaskArgs) -> Result<TaskState, ActorProcessingErr> {
        a.index.set_actor(a.record.id, Some(myself));
        let n = a.record.agents.len();
        let places = a.record.agents.iter().all(|x| x.workdir.is_some()).then(|| {
            a.record
                .agents
                .iter()
                .map(|x| Place {
                    workdir: x.workdir.clone().unwrap_or_default(),
                    workspace: x.workspace.as_deref().and_then(|w| WorkspaceId::parse(w).ok()),
                    branch: x.branch.clone(),
                })
                .collect()
        });
        Ok(TaskState {
            a,
            runs: vec![Run::Idle; n],
            places,
            permit: None,
            intent: Intent::Finish,
            usage_gen: 0,
            timers_armed: false,
            resumed: false,
            waiting_replies: Vec::new(),
            launch_failure: None,
            seen_seq: vec![0; n],
            agent_now: vec![None; n],
            switching: vec![None; n],
            provisioning: None,
        })
    }

    async fn post_stop(&self, _myself: ActorRef<TaskMsg>, st: &mut TaskState) -> Result<(), ActorProcessingErr> {
        st.a.index.set_actor(st.a.record.id, None);
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<TaskMsg>,
        msg: TaskMsg,
        st: &mut TaskState,
    ) -> Result<(), ActorProcessingErr> {
        let span = info_span!("task", task = %st.a.record.id);
        let _e = span.enter();
        if st.a.closing.load(Ordering::Acquire) && !matches!(msg, TaskMsg::Control(..)) {
            // warden shuts down: the record stays as it is for the next start.
            return Ok(());
        }
        // A defect here must not leave the task `running` for ever with no actor to
        // cancel it: it ends `failed` (`internal_error`) and its agents are stopped.
        if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(|| st.dispatch(&myself, msg))) {
            let why = crate::sync::panic_text(panic.as_ref());
            error!(panic = %why, "the task's actor failed; the task fails");
            st.intent = Intent::End(TaskStatus::Failed, StatusReason::InternalError, ChangeSource::Task);
            st.stop_live();
            let detail = format!("warden failed while running the task: {why}");
            st.end(&myself, TaskStatus::Failed, StatusReason::InternalError, Some(detail), ChangeSource::Task);
        }
        Ok(())
    }
}

impl TaskState {
    /// Carries out one message.
    fn dispatch(&mut self, myself: &ActorRef<TaskMsg>, msg: TaskMsg) {
        let st = self;
        match msg {
            TaskMsg::Begin => st.want_slots(myself),
            TaskMsg::Recover => {
                st.resumed = true;
                st.want_slots(myself);
            }
            TaskMsg::Slots(permit) => {
                if st.record().status.is_terminal() {
                    return;
                }
                st.permit = Some(permit);
                if st.places.is_some() {
                    st.launch_all(myself);
                } else {
                    st.set(TaskStatus::Provisioning, StatusReason::Provisioning, None, ChangeSource::Task, None);
                    st.provision(myself);
                }
            }
            TaskMsg::Placed(result) => {
                st.provisioning = None;
                if st.record().status != TaskStatus::Provisioning {
                    return;
                }
                match result {
                    Ok(places) => {
                        for (i, p) in places.iter().enumerate() {
                            let agent = &mut st.a.record.agents[i];
                            agent.workdir = Some(p.workdir.clone());
                            agent.workspace = p.workspace.as_ref().map(|w| w.to_string());
                            agent.branch = p.branch.clone();
                        }
                        st.places = Some(places);
                        st.persist();
                        st.launch_all(myself);
                    }
                    Err((reason, detail)) => {
                        st.permit = None;
                        st.end(myself, TaskStatus::Failed, reason, Some(detail), ChangeSource::Task);
                    }
                }
            }
            TaskMsg::Launched { index, result } => st.launched(myself, index, result),
            TaskMsg::Event(event) => st.on_event(myself, &event),
            TaskMsg::Exited { session, ok } => st.exited(myself, session, ok),
            TaskMsg::Recheck => st.recheck(myself),
            TaskMsg::Done(results) => st.finalized(myself, results),
            TaskMsg::Control(control, reply) => st.control(myself, control, reply),
            TaskMsg::Timeout => st.limit(myself, StatusReason::Timeout),
            TaskMsg::IdleTick => st.idle_tick(myself),
            TaskMsg::Switch { index, generation, pick } => st.switch(index, generation, pick),
            TaskMsg::UsageReset(generation) => {
                let r = st.record();
                if generation == st.usage_gen && r.status == TaskStatus::Waiting && r.reason == StatusReason::UsageLimit
                {
                    info!("usage limit reset: starting the agent again");
                    st.intent = Intent::Restart;
                    st.stop_live();
                    st.check_all_stopped(myself);
                }
            }
        }
    }

    fn record(&self) -> &TaskRecord {
        &self.a.record
    }

    fn persist(&mut self) {
        self.a.record.updated_at = now_ms();
        let dropped = self.a.index.put(self.a.record.clone(), self.a.config.max_records);
        self.a.writer.put(&self.a.record);
        for id in dropped {
            self.a.writer.remove(id);
        }
    }

    /// Records and publishes a status change; `false` when it is not legal now.
    fn set(
        &mut self,
        status: TaskStatus,
        reason: StatusReason,
        detail: Option<String>,
        source: ChangeSource,
        seq: Option<u64>,
    ) -> bool {
        let r = &self.a.record;
        if r.status == status && r.reason == reason {
            return false;
        }
        let change = StatusChange { status, at: now_ms(), reason, detail: detail.clone(), source, seq };
        match self.a.record.apply(change) {
            Some(from) => {
                info!(%from, to = %status, %reason, "task status");
                self.persist();
                self.a.bus.publish(
                    None,
                    EventKind::TaskStatus { task: self.a.record.id, from, to: status, reason, detail, source },
                );
                true
            }
            None => {
                debug!(from = %self.a.record.status, to = %status, "illegal task transition skipped");
                false
            }
        }
    }

    /// Ends the task: records the final status, answers waiting callers,
    /// prunes scratch directories, stops the actor.
    fn end(
        &mut self,
        myself: &ActorRef<TaskMsg>,
        status: TaskStatus,
        reason: StatusReason,
        detail: Option<String>,
        source: ChangeSource,
    ) {
        self.permit = None;
        // A provisioning still under way stops waiting.
        self.provisioning = None;
        self.set(status, reason, detail, source, None);
        self.answer_waiting();
        if self.a.record.scratch.is_some() {
            let base = self.a.host.base_dir();
            let live = self.a.index.live_scratch();
            let (count, bytes) = (self.a.config.scratch_max_count, self.a.config.scratch_max_bytes);
            if let Some(base) = base {
                tokio::task::spawn_blocking(move || place::prune_scratch(&base, &live, count, bytes));
            }
        }
        myself.stop(None);
        if self.a.record.spec.repo.is_some() {
            // After the actor has stopped, so that this task counts as finished.
            let host = Arc::clone(&self.a.host);
            let me = myself.clone();
            tokio::spawn(async move {
                me.wait(Some(Duration::from_secs(5))).await.ok();
                host.prune_worktrees().await;
            });
        }
    }

    fn answer_waiting(&mut self) {
        for reply in self.waiting_replies.drain(..) {
            let _ = reply.send(Ok(self.a.record.clone()));
        }
    }

    fn want_slots(&mut self, myself: &ActorRef<TaskMsg>) {
        let n = u32::try_from(self.runs.len().min(self.a.max_slots).max(1)).unwrap_or(1);
        match Arc::clone(&self.a.slots).try_acquire_many_owned(n) {
            Ok(permit) => {
                let _ = myself.cast(TaskMsg::Slots(permit));
            }
            Err(_) => {
                self.set(TaskStatus::Queued, StatusReason::Capacity, None, ChangeSource::Task, None);
                let slots = Arc::clone(&self.a.slots);
                let me = myself.clone();
                tokio::spawn(async move {
                    if let Ok(permit) = slots.acquire_many_owned(n).await {
                        let _ = me.cast(TaskMsg::Slots(permit));
                    }
                });
            }
        }
    }

    fn provision(&mut self, myself: &ActorRef<TaskMsg>) {
        let host = Arc::clone(&self.a.host);
        let record = self.a.record.clone();
        let patterns = Arc::clone(&self.a.patterns);
        let (sender, gone) = TaskGone::new();
        self.provisioning = Some(sender);
        let me = myself.clone();
        let span = info_span!("provision", task = %record.id);
        tokio::spawn(
            async move {
                let result = host.provision(record, patterns, gone).await;
                let _ = me.cast(TaskMsg::Placed(result));
            }
            .instrument(span),
        );
    }

    fn launch_all(&mut self, myself: &ActorRef<TaskMsg>) {
        if self.places.is_none() {
            return;
        }
        self.intent = Intent::Finish;
        for i in 0..self.runs.len() {
            if matches!(self.runs[i], Run::Idle | Run::Ended { .. }) {
                self.launch(myself, i);
            }
        }
    }

    fn launch(&mut self, myself: &ActorRef<TaskMsg>, index: usize) {
        let Some(place) = self.places.as_ref().and_then(|p| p.get(index).cloned()) else { return };
        self.runs[index] = Run::Starting;
        let switched = self.switching[index].is_some();
        let plan = LaunchPlan {
            record: self.a.record.clone(),
            index,
            place,
            // A new CLI starts afresh (its own memory file, its task given).
            resumed: self.resumed && !switched,
            agent: self.agent_now[index].clone(),
        };
        let task = self.a.record.id;
        let index_map = Arc::clone(&self.a.index);
        let host = Arc::clone(&self.a.host);
        let bus = self.a.bus.clone();
        let me = myself.clone();
        tokio::spawn(
            async move {
                let from = bus.next_seq();
                let result = host.launch(plan).await;
                let session = result.as_ref().ok().map(|(info, _)| info.id);
                if let Some(id) = session {
                    index_map.set_session(id, Some(task));
                }
                let result = match result {
                    Ok((info, reason)) => Ok((host.refresh(info).await, reason)),
                    Err(e) => Err(e),
                };
                let _ = me.cast(TaskMsg::Launched { index, result });
                // What the session did before the router knew it is replayed
                // from the bus (the actor ignores what it has already seen).
                if let Some(id) = session {
                    let mut early = bus.subscribe(Some(from)).only_session(id);
                    while let Some(event) = early.recv_timeout(Duration::ZERO).await {
                        let _ = me.cast(TaskMsg::Event(event));
                    }
                }
            }
            .instrument(info_span!("launch", %task, agent = index)),
        );
    }

    fn launched(
        &mut self,
        myself: &ActorRef<TaskMsg>,
        index: usize,
        result: Result<(SessionInfo, Option<String>), String>,
    ) {
        match result {
            Ok((info, reason)) => {
                let session = info.id;
                let agent = &mut self.a.record.agents[index];
                agent.agent = info.agent.clone();
                agent.session = Some(session);
                agent.done = false;
                if reason.is_some() {
                    agent.selection_reason = reason;
                }
                if self.record().status.is_terminal() || self.intent != Intent::Finish {
                    // Cancelled or paused while it started: stop it again.
                    self.runs[index] = Run::Stopping(session);
                    self.stop_session(session);
                    return;
                }
                self.runs[index] = Run::Live(session);
                let (reason, detail) = match self.switching[index].take() {
                    Some(detail) => (StatusReason::AgentSwitched, Some(detail)),
                    None if self.resumed => (StatusReason::Resumed, None),
                    None => (StatusReason::AgentStarted, None),
                };
                if !self.set(TaskStatus::Running, reason, detail, ChangeSource::Task, None) {
                    self.persist();
                }
                if let Some(exit) = &info.exit {
                    let _ = myself.cast(TaskMsg::Exited { session, ok: exit.code == Some(0) });
                }
                self.arm_timers(myself);
            }
            Err(detail) => {
                warn!(agent = index, %detail, "the agent could not be started");
                self.runs[index] = Run::Ended { ok: false };
                self.intent = Intent::End(TaskStatus::Failed, StatusReason::LaunchFailed, ChangeSource::Task);
                self.a.record.detail = Some(detail.clone());
                self.launch_failure = Some(detail);
                self.stop_live();
                self.check_all_stopped(myself);
            }
        }
    }

    fn arm_timers(&mut self, myself: &ActorRef<TaskMsg>) {
        if self.timers_armed {
            return;
        }
        self.timers_armed = true;
        let limits = self.a.record.spec.limits;
        if let Some(ms) = limits.timeout_ms {
            myself.send_after(Duration::from_millis(ms), || TaskMsg::Timeout);
        }
        if let Some(ms) = limits.idle_timeout_ms {
            myself.send_after(Duration::from_millis((ms / 4).max(50)), || TaskMsg::IdleTick);
        }
    }

    fn agent_of(&self, session: SessionId) -> Option<usize> {
        self.runs.iter().position(|r| matches!(r, Run::Live(s) | Run::Finishing(s) | Run::Stopping(s) if *s == session))
    }

    fn on_event(&mut self, myself: &ActorRef<TaskMsg>, event: &Event) {
        let Some(session) = event.session else { return };
        let Some(index) = self.agent_of(session) else { return };
        if event.seq <= self.seen_seq[index] {
            return;
        }
        self.seen_seq[index] = event.seq;
        let Some(signal) = event.kind.task_signal() else { return };
        match signal {
            SessionSignal::Exited(ok) => self.exited(myself, session, ok),
            SessionSignal::Complete => {
                if let Run::Live(s) = self.runs[index] {
                    info!(agent = index, "agent reported its task complete");
                    self.a.record.agents[index].done = true;
                    self.runs[index] = Run::Finishing(s);
                    self.stop_session(s);
                }
            }
            other => {
                if !matches!(self.runs[index], Run::Live(_)) || self.intent != Intent::Finish {
                    return;
                }
                let Some((to, reason)) = other.status_from(self.record().status) else { return };
                let mut detail = None;
                if let SessionSignal::UsageLimit(prompt) = &other {
                    let reset = parse_reset(prompt, now_ms());
                    detail = Some(match reset {
                        Some(d) => format!("resets in {} s", d.as_secs().max(1)),
                        None => "no reset time on screen; resume the task when the limit is lifted".to_string(),
                    });
                    let agent = self.a.record.agents[index].agent.clone();
                    let cool_ms = reset.map_or(super::cooldown::DEFAULT_COOLDOWN_MS, |d| {
                        u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
                    });
                    self.a.host.cool_down(&agent, now_ms().saturating_add(cool_ms));
                    let already =
                        self.record().status == TaskStatus::Waiting && self.record().reason == StatusReason::UsageLimit;
                    if self.record().spec.switch_agent_on_limit && !already && self.switching[index].is_none() {
                        self.ask_switch(myself, index, agent);
                    }
                    if let Some(d) = reset
                        && !(self.record().status == TaskStatus::Waiting
                            && self.record().reason == StatusReason::UsageLimit)
                    {
                        self.usage_gen += 1;
                        let generation = self.usage_gen;
                        myself.send_after(d.saturating_add(Duration::from_millis(200)), move || {
                            TaskMsg::UsageReset(generation)
                        });
                    }
                }
                self.set(to, reason, detail, ChangeSource::Session, Some(event.seq));
            }
        }
    }

    fn exited(&mut self, myself: &ActorRef<TaskMsg>, session: SessionId, ok: bool) {
        let Some(index) = self.agent_of(session) else { return };
        self.a.index.set_session(session, None);
        if matches!(self.runs[index], Run::Stopping(_))
            && self.switching[index].is_some()
            && self.intent == Intent::Finish
            && !self.record().status.is_terminal()
        {
            // Stopped to make room for another agent: start it in the same place.
            self.runs[index] = Run::Idle;
            self.launch(myself, index);
            return;
        }
        // An agent stopped on purpose ended well whatever its status.
        let on_purpose = matches!(self.runs[index], Run::Finishing(_) | Run::Stopping(_));
        if !on_purpose {
            self.a.record.agents[index].done = ok;
        }
        self.runs[index] = Run::Ended { ok: ok || on_purpose };
        if !ok && !on_purpose && self.intent == Intent::Finish {
            // One agent failed: the task fails; the others are stopped.
            self.intent = Intent::End(TaskStatus::Failed, StatusReason::AgentFailed, ChangeSource::Session);
            self.stop_live();
        }
        self.check_all_stopped(myself);
    }

    /// Asks the selection strategy for another agent to take over from agent
    /// `index`, which hit its usage limit.
    fn ask_switch(&mut self, myself: &ActorRef<TaskMsg>, index: usize, agent: String) {
        let (host, me, generation) = (Arc::clone(&self.a.host), myself.clone(), self.usage_gen + 1);
        let allowed = self.record().spec.allowed_agents.clone();
        tokio::spawn(async move {
            let pick = host.pick_other(agent, allowed).await;
            let _ = me.cast(TaskMsg::Switch { index, generation, pick });
        });
    }

    /// Starts the agent the selection strategy chose in place of agent
    /// `index`, or keeps waiting for the reset when there is none.
    fn switch(&mut self, index: usize, generation: u32, pick: Result<(String, String), String>) {
        let r = self.record();
        let waiting = r.status == TaskStatus::Waiting && r.reason == StatusReason::UsageLimit;
        let Run::Live(session) = self.runs[index] else { return };
        if !waiting || self.intent != Intent::Finish || generation < self.usage_gen {
            return;
        }
        let from = r.agents[index].agent.clone();
        match pick {
            Ok((agent, why)) => {
                info!(%from, to = %agent, %why, "usage limit: switching agent");
                // The reset no longer matters to this task.
                self.usage_gen += 1;
                self.a.record.agents[index].selection_reason = Some(format!("{agent}: {why}"));
                self.switching[index] =
                    Some(format!("{from} hit its usage limit ({}); {agent} takes over: {why}", self.detail_now()));
                self.agent_now[index] = Some(agent);
                self.runs[index] = Run::Stopping(session);
                self.stop_session(session);
            }
            Err(why) => {
                info!(%from, %why, "usage limit: no other agent; waiting for the reset");
                // Shown with the status: why the task waits instead of switching.
                self.a.record.detail = Some(format!("{}; no other agent to switch to: {why}", self.detail_now()));
                self.persist();
            }
        }
    }

    fn detail_now(&self) -> String {
        self.record().detail.clone().unwrap_or_else(|| "no reset time".into())
    }

    /// Asks for every live session whether it has ended (after the router lagged).
    fn recheck(&mut self, myself: &ActorRef<TaskMsg>) {
        for r in &self.runs {
            if let Run::Live(s) | Run::Finishing(s) | Run::Stopping(s) = *r {
                let (host, me) = (Arc::clone(&self.a.host), myself.clone());
                tokio::spawn(async move {
                    if let Some(ok) = host.exit_of(s).await {
                        let _ = me.cast(TaskMsg::Exited { session: s, ok });
                    }
                });
            }
        }
    }

    fn stop_session(&self, session: SessionId) {
        let host = Arc::clone(&self.a.host);
        let actor = self.a.index.actor(self.a.record.id);
        tokio::spawn(async move {
            let ok = host.stop(session).await;
            if let Some(actor) = actor {
                let _ = actor.cast(TaskMsg::Exited { session, ok });
            }
        });
    }

    /// Stops every live agent on purpose.
    fn stop_live(&mut self) {
        for i in 0..self.runs.len() {
            if let Run::Live(s) = self.runs[i] {
                self.runs[i] = Run::Stopping(s);
                self.stop_session(s);
            }
        }
    }

    /// Once no agent runs, carries out the intent.
    fn check_all_stopped(&mut self, myself: &ActorRef<TaskMsg>) {
        if self.runs.iter().any(|r| !matches!(r, Run::Ended { .. } | Run::Idle)) {
            return;
        }
        match self.intent {
            Intent::Finish => {
                let all_ok = self.runs.iter().all(|r| matches!(r, Run::Ended { ok: true }));
                if !all_ok {
                    self.end(myself, TaskStatus::Failed, StatusReason::AgentFailed, None, ChangeSource::Session);
                    return;
                }
                let reason = if self.a.record.agents.iter().all(|a| a.done) {
                    StatusReason::TaskComplete
                } else {
                    StatusReason::AgentExited
                };
                self.permit = None;
                self.set(TaskStatus::Finalizing, reason, None, ChangeSource::Session, None);
                self.finalize(myself);
            }
            Intent::Pause => {
                self.permit = None;
                self.set(TaskStatus::Waiting, StatusReason::Paused, None, ChangeSource::Caller, None);
                self.runs.iter_mut().for_each(|r| *r = Run::Idle);
                self.answer_waiting();
            }
            Intent::Restart => {
                self.resumed = true;
                self.runs.iter_mut().for_each(|r| *r = Run::Idle);
                self.launch_all(myself);
            }
            Intent::End(status, reason, source) => {
                let detail = self.launch_failure.take();
                self.end(myself, status, reason, detail, source);
            }
        }
    }

    fn finalize(&mut self, myself: &ActorRef<TaskMsg>) {
        let host = Arc::clone(&self.a.host);
        let record = self.a.record.clone();
        let me = myself.clone();
        tokio::spawn(
            async move {
                let results = host.finalize(record).await;
                let _ = me.cast(TaskMsg::Done(results));
            }
            .instrument(info_span!("finalize", task = %self.a.record.id)),
        );
    }

    fn finalized(&mut self, myself: &ActorRef<TaskMsg>, outcome: FinalizeOutcome) {
        let mut failed = Vec::new();
        for (i, f) in outcome.agents.into_iter().enumerate() {
            let agent = &mut self.a.record.agents[i];
            agent.commit = f.commit.clone();
            agent.pushed = f.pushed;
            agent.pr_url = f.pr_url.clone();
            if self.a.record.spec.finalize != FinalizeMode::None && f.failed.is_none() {
                self.a.bus.publish(
                    None,
                    EventKind::TaskFinalized {
                        task: self.a.record.id,
                        agent: agent.agent.clone(),
                        branch: agent.branch.clone(),
                        commit: f.commit,
                        pushed: f.pushed,
                        pr_url: f.pr_url,
                    },
                );
            }
            if let Some(e) = f.failed {
                failed.push(format!("{}: {e}", agent.agent));
            }
        }
        match outcome.merged {
            None => {}
            Some(Merged::Done(m, step_failed)) => {
                if step_failed.is_none() {
                    self.a.bus.publish(
                        None,
                        EventKind::TaskFinalized {
                            task: self.a.record.id,
                            agent: "merged".into(),
                            branch: Some(m.branch.clone()),
                            commit: m.commit.clone(),
                            pushed: m.pushed,
                            pr_url: m.pr_url.clone(),
                        },
                    );
                }
                if let Some(e) = step_failed {
                    failed.push(format!("merged {}: {e}", m.branch));
                }
                self.a.record.merged = Some(m);
            }
            Some(Merged::Conflict(detail)) => {
                self.end(myself, TaskStatus::Failed, StatusReason::MergeConflict, Some(detail), ChangeSource::Task);
                return;
            }
            Some(Merged::Failed(e)) => failed.push(e),
        }
        if failed.is_empty() {
            self.end(myself, TaskStatus::Completed, StatusReason::Finalized, None, ChangeSource::Task);
        } else {
            self.end(
                myself,
                TaskStatus::Failed,
                StatusReason::FinalizeFailed,
                Some(failed.join("; ")),
                ChangeSource::Task,
            );
        }
    }

    fn control(
        &mut self,
        myself: &ActorRef<TaskMsg>,
        control: Control,
        reply: RpcReplyPort<Result<TaskRecord, TaskError>>,
    ) {
        let status = self.record().status;
        let not_now = |action| Err(TaskError::NotNow { task: self.a.record.id, status, action });
        let live = matches!(status, TaskStatus::Running | TaskStatus::Waiting | TaskStatus::Stalled);
        match control {
            Control::Pause
                if live
                    && self.intent == Intent::Finish
                    && !(status == TaskStatus::Waiting && self.record().reason == StatusReason::Paused) =>
            {
                self.intent = Intent::Pause;
                self.waiting_replies.push(reply);
                self.stop_live();
                self.check_all_stopped(myself);
            }
            Control::Pause => {
                let _ = reply.send(not_now("paused"));
            }
            Control::Resume if self.may_resume() => {
                if status == TaskStatus::Waiting && self.record().reason == StatusReason::UsageLimit {
                    self.intent = Intent::Restart;
                    self.set(TaskStatus::Running, StatusReason::Resumed, None, ChangeSource::Caller, None);
                    self.stop_live();
                    self.check_all_stopped(myself);
                } else {
                    self.resumed = true;
                    self.intent = Intent::Finish;
                    // Queued until the agents start again (a paused task too:
                    // the reply must not say `paused` any more).
                    self.set(TaskStatus::Queued, StatusReason::Resumed, None, ChangeSource::Caller, None);
                    self.want_slots(myself);
                }
                let _ = reply.send(Ok(self.a.record.clone()));
            }
            Control::Resume => {
                let _ = reply.send(not_now("resumed"));
            }
            Control::Cancel if status.is_terminal() || status == TaskStatus::Finalizing => {
                let _ = reply.send(not_now("cancelled"));
            }
            Control::Cancel => {
                self.intent = Intent::End(TaskStatus::Cancelled, StatusReason::Cancelled, ChangeSource::Caller);
                self.waiting_replies.push(reply);
                self.stop_live();
                if self.runs.iter().any(|r| matches!(r, Run::Starting)) {
                    // It ends once the starting agent is up and stopped again.
                    return;
                }
                self.check_all_stopped(myself);
            }
        }
    }

    /// Whether `resume_task` applies: paused (no agent running), waiting for a
    /// usage-limit reset, or failed with its workspace in place.
    fn may_resume(&self) -> bool {
        let r = self.record();
        let idle = self.runs.iter().all(|x| matches!(x, Run::Idle | Run::Ended { .. }));
        match r.status {
            TaskStatus::Waiting => idle || r.reason == StatusReason::UsageLimit,
            TaskStatus::Failed => self.places.is_some(),
            _ => false,
        }
    }

    fn limit(&mut self, myself: &ActorRef<TaskMsg>, reason: StatusReason) {
        let status = self.record().status;
        if status.is_terminal() || status == TaskStatus::Finalizing || self.intent != Intent::Finish {
            return;
        }
        info!(%reason, "task limit reached; stopping its agents");
        self.intent = Intent::End(TaskStatus::Failed, reason, ChangeSource::Task);
        self.stop_live();
        self.check_all_stopped(myself);
    }

    fn idle_tick(&mut self, myself: &ActorRef<TaskMsg>) {
        let Some(idle) = self.record().spec.limits.idle_timeout_ms.map(Duration::from_millis) else { return };
        if self.record().status.is_terminal() {
            return;
        }
        let now = Instant::now();
        let live: Vec<SessionId> =
            self.runs.iter().filter_map(|r| if let Run::Live(s) = r { Some(*s) } else { None }).collect();
        let quiet = !live.is_empty()
            && live.iter().all(|s| self.a.index.last_output(*s).is_some_and(|t| now.duration_since(t) >= idle));
        if quiet {
            self.limit(myself, StatusReason::IdleTimeout);
        } else {
            myself.send_after((idle / 4).max(Duration::from_millis(50)), || TaskMsg::IdleTick);
        }
    }
}
