//! The detector's policy: the session's state as the screen shows it.
//!
//! Fed one [`Look`] per screen change ([`DetectorMemory::observe`]) and the
//! clock at its deadlines ([`DetectorMemory::tick`]), it decides: `busy` at
//! once, `blocked`/`authenticating` at once with one `blocking_prompt` /
//! `login_required` event per prompt (not per redraw), `ready` only after the
//! adapter's settle time *and* a fresh look when it is over, with
//! `task_complete` when a busy turn ends. While busy it feeds the
//! [`StallTracker`]: `stalled`, then a classification (adapter heuristics
//! first, then the pluggable classifier), then one escalation step per
//! further window. Time is a `Duration` since the detector's origin.

use std::time::Duration;

use warden_adapters::{LoginKind, PromptKind, ScreenState, Verdict};
use warden_core::stall::{Classification, EscalationStep, Observation, StallConfig, StallEvent, StallTracker};
use warden_core::{EventKind, Provenance, Reply, SessionState, check_transition, screen_hash};

use super::Transition;
use super::view::Look;

/// What the detector is configured with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DetectConfig<'a> {
    pub stall: &'a StallConfig,
    pub stall_enabled: bool,
    /// How long a ready screen must last before the session is ready.
    pub settle: Duration,
}

/// The moment a decision is taken at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Moment {
    /// Time since the detector's origin.
    pub now: Duration,
    /// The session's state now.
    pub state: SessionState,
    /// Whether a process runs (false between two lives of a restart: the
    /// screen is then the last one of a process that ended, and is not read).
    pub running: bool,
}

/// What the detector asks its actor to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Effect {
    /// Move the session (the actor's state machine drops an illegal move).
    Transition(Transition),
    /// Publish an event for the session.
    Publish(EventKind),
    /// Type input on warden's behalf (escalation keys, a nudge).
    Type(Reply),
    /// The agent is ready: type the task that waits for it, if any, then
    /// report the input with [`DetectorMemory::input_sent`].
    TypeWaitingTask,
    /// Ask the pluggable classifier about stall `stall_no` (its answer comes
    /// back through [`DetectorMemory::classified`]).
    ClassifyStall { stall_no: u64, screen: String, title: String },
    /// Restart the agent (the ladder's `restart_resume`).
    RestartAgent { reason: String },
    /// End the session as failed (the ladder's last step).
    Fail { reason: String },
}

/// The effects of one decision, with the state they leave the session in.
struct Decisions {
    state: SessionState,
    effects: Vec<Effect>,
}

impl Decisions {
    fn new(state: SessionState) -> Self {
        Decisions { state, effects: Vec::new() }
    }

    /// Asks for a move; returns whether the state machine allows it.
    fn transition(
        &mut self,
        to: SessionState,
        reason: &str,
        excerpt: Option<String>,
        provenance: Option<Provenance>,
    ) -> bool {
        let moves = self.state != to && check_transition(self.state, to).is_ok();
        if moves {
            self.state = to;
        }
        self.effects.push(Effect::Transition(Transition { to, reason: reason.to_string(), excerpt, provenance }));
        moves
    }

    fn publish(&mut self, event: EventKind) {
        self.effects.push(Effect::Publish(event));
    }
}

/// What the detector remembers between two looks (owned by its actor).
#[derive(Debug, Clone)]
pub(crate) struct DetectorMemory {
    tracker: StallTracker,
    /// The screen looked ready since then (settle running), with the rule.
    ready_since: Option<(Duration, Option<Provenance>)>,
    /// A busy turn (or a typed task) is waiting for its end.
    turn_open: bool,
    /// The blocking prompt last reported (rule, evidence).
    last_blocking: Option<(String, String)>,
    /// The login last reported (rule and URL).
    last_login: Option<String>,
    stall_no: u64,
    /// The process the detector last saw (a new pid is a restart).
    pid: Option<u32>,
    /// Ladder steps already taken in this stall, across a `restart_resume` restart.
    ladder_from: usize,
    /// A `restart_resume` step asked for a restart: the ladder goes on from `ladder_from`.
    resuming: bool,
    /// A stall was reported and is not over (no progress, no classification since).
    in_stall: bool,
    /// How many command statuses the screen had reported at the last ready prompt: a
    /// larger count at the next one is the status of the command the turn ran.
    commands_seen: u64,
}

impl DetectorMemory {
    /// A fresh memory for a detector (re)started at `now` on a session in
    /// `state` whose process is `pid`: a busy or stalled session keeps its
    /// turn open and its stall clock running.
    pub(crate) fn new(cfg: &DetectConfig<'_>, pid: Option<u32>, state: SessionState, now: Duration) -> Self {
        let mut mem = DetectorMemory {
            tracker: StallTracker::new(cfg.stall.clone(), now),
            ready_since: None,
            turn_open: false,
            last_blocking: None,
            last_login: None,
            stall_no: 0,
            pid,
            ladder_from: 0,
            resuming: false,
            in_stall: false,
            commands_seen: 0,
        };
        if matches!(state, SessionState::Busy | SessionState::Stalled) {
            mem.turn_open = true;
            mem.arm(now);
        }
        mem
    }

    /// The tracker for the ladder from step `from` on (steps are numbered in the full ladder).
    fn fresh_tracker(&mut self, cfg: &DetectConfig<'_>, from: usize, now: Duration) {
        let mut stall = cfg.stall.clone();
        stall.ladder = stall.ladder.split_off(from.min(stall.ladder.len()));
        self.tracker = StallTracker::new(stall, now);
        self.ladder_from = from;
        self.in_stall = false;
    }

    /// Arms the tracker: the agent works.
    fn arm(&mut self, now: Duration) {
        self.tracker.set_busy(true, now);
    }

    /// Disarms the tracker (ready, blocked, asking for a login): any stall is over.
    fn disarm(&mut self, now: Duration) {
        self.tracker.set_busy(false, now);
        self.in_stall = false;
    }

    /// Notes the session's process; a new one (a restart) starts with a clean
    /// slate: no open turn, no reported prompt, the tracker disarmed (from the
    /// ladder step it reached when a `restart_resume` asked for the restart).
    /// Returns whether it was a new process.
    pub(crate) fn process(&mut self, cfg: &DetectConfig<'_>, pid: Option<u32>, now: Duration) -> bool {
        if pid == self.pid {
            return false;
        }
        let first = self.pid.is_none();
        self.pid = pid;
        if first {
            return false;
        }
        self.turn_open = false;
        self.ready_since = None;
        self.last_blocking = None;
        self.last_login = None;
        let from = if std::mem::take(&mut self.resuming) { self.ladder_from } else { 0 };
        self.fresh_tracker(cfg, from, now);
        true
    }

    /// Whether a `restart_resume` step waits for the new process.
    pub(crate) fn resuming(&self) -> bool {
        self.resuming
    }

    /// One look at the screen after it changed. `look` is called only when a
    /// process runs.
    pub(crate) fn observe(&mut self, m: Moment, cfg: &DetectConfig<'_>, look: impl FnOnce() -> Look) -> Vec<Effect> {
        if !m.running {
            return Vec::new();
        }
        let look = look();
        let mut d = Decisions::new(m.state);
        if cfg.stall_enabled {
            let obs =
                Observation { now: m.now, screen_hash: screen_hash(&look.view.text), loading: look.verdict.loading };
            if let Some(StallEvent::Resumed) = self.tracker.observe(obs) {
                self.in_stall = false;
                if d.state == SessionState::Stalled {
                    d.transition(SessionState::Busy, "progress after a stall", None, None);
                }
            }
        }
        if d.state.is_live() {
            self.apply(m.now, &look, &mut d);
        }
        d.effects
    }

    fn apply(&mut self, now: Duration, look: &Look, d: &mut Decisions) {
        let (view, verdict) = (&look.view, &look.verdict);
        let prov = verdict.provenance.clone();
        if !matches!(verdict.state, ScreenState::Blocked(_) | ScreenState::LoginRequired) {
            self.last_blocking = None;
            self.last_login = None;
        }
        match verdict.state {
            ScreenState::Busy => {
                self.ready_since = None;
                self.turn_open = true;
                // A stalled agent whose spinner still turns is still stalled: only
                // progress (the tracker's `Resumed`) or a classification ends the stall.
                if !self.in_stall {
                    let reason = prov.as_ref().map_or("working".to_string(), |p| format!("working ({})", p.rule));
                    d.transition(SessionState::Busy, &reason, None, prov);
                }
                self.arm(now);
            }
            ScreenState::Ready | ScreenState::TaskComplete => {
                if self.ready_since.is_none() {
                    self.ready_since = Some((now, prov));
                }
            }
            ScreenState::LoginRequired | ScreenState::Blocked(PromptKind::Login) => {
                self.ready_since = None;
                self.disarm(now);
                // One event per login screen: the same rule and URL while the
                // status text around it changes is the same login.
                let key = verdict
                    .login
                    .as_ref()
                    .map(|l| format!("{}#{}", l.provenance.rule, l.url.as_deref().unwrap_or_default()))
                    .unwrap_or_default();
                if self.last_login.as_deref() == Some(key.as_str()) {
                    return;
                }
                self.last_login = Some(key);
                d.transition(SessionState::Authenticating, "login required", Some(view.excerpt(6)), prov);
                if let Some(event) = login_event(verdict) {
                    d.publish(event);
                }
            }
            ScreenState::Blocked(kind) => {
                self.ready_since = None;
                self.disarm(now);
                let Some(b) = &verdict.blocking else { return };
                let key = (b.provenance.rule.clone(), b.provenance.evidence.clone());
                if self.last_blocking.as_ref() == Some(&key) {
                    return;
                }
                self.last_blocking = Some(key);
                d.transition(SessionState::Blocked, &format!("{kind} prompt"), Some(view.excerpt(6)), prov);
                d.publish(EventKind::BlockingPrompt {
                    prompt_kind: kind,
                    prompt: b.prompt.clone(),
                    choices: b.choices.iter().map(|c| c.label.clone()).collect(),
                    safe: b.safe,
                    suggested: b.response.as_ref().map(Reply::describe),
                    provenance: b.provenance.clone(),
                });
            }
            ScreenState::Unknown | ScreenState::Exited => {}
        }
    }

    /// The clock reached a deadline: a ready screen that lasted its settle
    /// time (and still reads ready) makes the session ready, and the stall
    /// tracker is polled. `look` is called only when one of them needs the screen.
    pub(crate) fn tick(&mut self, m: Moment, cfg: &DetectConfig<'_>, mut look: impl FnMut() -> Look) -> Vec<Effect> {
        let mut d = Decisions::new(m.state);
        self.settle(m, cfg, &mut look, &mut d);
        let m = Moment { state: d.state, ..m };
        self.poll_stall(m, cfg, &mut look, &mut d);
        d.effects
    }

    /// Commits a ready candidate whose settle time passed, if the screen still agrees.
    fn settle(&mut self, m: Moment, cfg: &DetectConfig<'_>, look: &mut impl FnMut() -> Look, d: &mut Decisions) {
        if !m.running {
            self.ready_since = None;
            return;
        }
        let Some((since, _)) = &self.ready_since else { return };
        if m.now.saturating_sub(*since) < cfg.settle {
            return;
        }
        let look = look();
        self.ready_since = None;
        let verdict = &look.verdict;
        if !matches!(verdict.state, ScreenState::Ready | ScreenState::TaskComplete) {
            return;
        }
        if self.ladder_from > 0 {
            // The agent came back to its prompt: a later stall climbs the whole ladder again.
            self.fresh_tracker(cfg, 0, m.now);
        }
        self.disarm(m.now);
        let prov = verdict.provenance.clone();
        let moved = d.transition(SessionState::Ready, "ready", None, prov.clone());
        let command = look.view.command.filter(|c| c.count > self.commands_seen);
        if let Some(c) = command {
            self.commands_seen = c.count;
        }
        if self.turn_open && (moved || verdict.state == ScreenState::TaskComplete) {
            self.turn_open = false;
            d.publish(EventKind::TaskComplete { provenance: prov, status: command.and_then(|c| c.code) });
        }
        d.effects.push(Effect::TypeWaitingTask);
    }

    /// warden typed input into the agent: it should turn busy.
    pub(crate) fn input_sent(&mut self, m: Moment) -> Vec<Effect> {
        self.turn_open = true;
        self.ready_since = None;
        let mut d = Decisions::new(m.state);
        if m.state.is_live() {
            d.transition(SessionState::Busy, "input sent", None, None);
            self.arm(m.now);
        }
        d.effects
    }

    fn poll_stall(&mut self, m: Moment, cfg: &DetectConfig<'_>, look: &mut impl FnMut() -> Look, d: &mut Decisions) {
        // Between the ladder's restart and the new process, the stall clock stops.
        if !cfg.stall_enabled || !m.state.is_live() || self.resuming || !m.running {
            return;
        }
        match self.tracker.poll(m.now) {
            Some(StallEvent::Stalled { idle, window, spinner_only }) => {
                self.stall_no += 1;
                self.in_stall = true;
                let look = look();
                let excerpt = look.view.excerpt(3);
                d.transition(SessionState::Stalled, "no progress", Some(excerpt.clone()), None);
                d.publish(EventKind::Stalled {
                    idle_ms: idle.as_millis() as u64,
                    window_ms: window.as_millis() as u64,
                    spinner_only,
                    excerpt: Some(excerpt),
                });
                self.classify_stall(m.now, &look, d);
            }
            Some(StallEvent::Escalate { index, step }) => {
                let index = self.ladder_from + index;
                d.publish(EventKind::Escalated { index, step: step.clone() });
                if step == EscalationStep::RestartResume {
                    self.resuming = true;
                    self.ladder_from = index + 1;
                }
                escalate(step, d);
            }
            _ => {}
        }
    }

    /// Adapter heuristics first; then the pluggable classifier.
    fn classify_stall(&mut self, now: Duration, look: &Look, d: &mut Decisions) {
        let heuristic = match look.verdict.state {
            ScreenState::Blocked(PromptKind::Login) | ScreenState::LoginRequired => {
                Some(Classification::WaitingForInput)
            }
            ScreenState::Blocked(_) => Some(Classification::BlockingPrompt),
            ScreenState::TaskComplete => Some(Classification::TaskComplete),
            ScreenState::Ready => Some(Classification::WaitingForInput),
            _ => None,
        };
        match heuristic {
            Some(answer) => self.take_answer(now, answer, "adapter".into(), d),
            None => d.effects.push(Effect::ClassifyStall {
                stall_no: self.stall_no,
                screen: look.view.text.clone(),
                title: look.view.title.clone(),
            }),
        }
    }

    /// The classifier answered about stall `stall_no` (an answer about an
    /// earlier stall is dropped).
    pub(crate) fn classified(
        &mut self,
        m: Moment,
        stall_no: u64,
        answer: Classification,
        source: String,
    ) -> Vec<Effect> {
        let mut d = Decisions::new(m.state);
        if stall_no == self.stall_no {
            self.take_answer(m.now, answer, source, &mut d);
        }
        d.effects
    }

    fn take_answer(&mut self, now: Duration, answer: Classification, source: String, d: &mut Decisions) {
        // Whatever the answer, this stall is decided: still working waits a longer
        // window, anything else leaves it to the screen.
        self.tracker.classified(answer, now);
        self.in_stall = false;
        let still_working = answer == Classification::StillWorking;
        let next_window_ms = still_working.then(|| self.tracker.current_window().as_millis() as u64);
        d.publish(EventKind::StallClassified { answer, source, next_window_ms });
        if still_working {
            self.arm(now);
            d.transition(SessionState::Busy, "classified still working", None, None);
        }
    }

    /// When the policy next needs the clock: the end of a settle time or the
    /// stall tracker's deadline.
    /// Whether a reported stall is not over yet (its classification or
    /// progress is awaited).
    pub(crate) fn awaits_classification(&self) -> bool {
        self.in_stall
    }

    pub(crate) fn next_deadline(&self, cfg: &DetectConfig<'_>) -> Option<Duration> {
        let settle = self.ready_since.as_ref().map(|(since, _)| *since + cfg.settle);
        let stall = if cfg.stall_enabled && !self.resuming { self.tracker.deadline() } else { None };
        match (settle, stall) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The effects of one escalation step.
fn escalate(step: EscalationStep, d: &mut Decisions) {
    match step {
        EscalationStep::Notify => {}
        EscalationStep::Keys { keys } => d.effects.push(Effect::Type(Reply::Keys(keys))),
        EscalationStep::Nudge { text } => d.effects.push(Effect::Type(Reply::Text(text))),
        EscalationStep::RestartResume => d.effects.push(Effect::RestartAgent { reason: "stalled".into() }),
        EscalationStep::Fail => {
            let reason = "stalled: every escalation step was taken";
            // The `error` before the state, so that whoever sees the state failed
            // (the process's exit, a restart) knows it is told; failed first, then
            // the process is killed: its exit must not win the race and end the
            // session as merely exited.
            d.effects.push(Effect::Publish(EventKind::Error { message: reason.into() }));
            d.transition(SessionState::Failed, reason, None, None);
            d.effects.push(Effect::Fail { reason: reason.into() });
        }
    }
}

/// The `login_required` event of a login screen (the adapter's login reading,
/// else its blocking login prompt).
fn login_event(verdict: &Verdict) -> Option<EventKind> {
    match (&verdict.login, &verdict.blocking) {
        (Some(l), _) => Some(EventKind::LoginRequired {
            login_kind: l.kind,
            url: l.url.clone(),
            code: l.code.clone(),
            instructions: l.instructions.clone(),
            choices: l.choices.iter().map(|c| c.label.clone()).collect(),
            provenance: l.provenance.clone(),
        }),
        (None, Some(b)) => Some(EventKind::LoginRequired {
            login_kind: LoginKind::Login,
            url: b.url.clone(),
            code: None,
            instructions: b.prompt.clone(),
            choices: b.choices.iter().map(|c| c.label.clone()).collect(),
            provenance: b.provenance.clone(),
        }),
        (None, None) => None,
    }
}
