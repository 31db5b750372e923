//! The `StallDetector`: the session's state as the screen shows it.
//!
//! It reads the screen after output (at most every [`EVAL_INTERVAL`] during a
//! burst, and always once more after the burst, so the last screen of a burst
//! is never missed), asks the adapter what it shows, and moves the session:
//! `busy` at once, `blocked`/`authenticating` at once with a
//! `blocking_prompt`/`login_required` event, `ready` only after the adapter's
//! settle time *and* a fresh look when the timer fires (so decorative redraws
//! after the prompt neither block nor fake it), with `task_complete` when a
//! busy turn ends.
//!
//! While busy it feeds the [`StallTracker`]: no progress of the normalised
//! screen for the window (the longer loading window while a spinner is up) is
//! a `stalled` event, then a classification (adapter heuristics, then the
//! pluggable classifier with a timeout), then one escalation step per further
//! window. A stalled session stays `stalled` while only its spinner turns;
//! progress moves it back to `busy`. Between two lives of a restart (no
//! process) nothing is read from the screen: it is the last one of the process
//! that ended. Each new process starts with a clean slate: no open turn, the
//! tracker disarmed until the agent works again. When the restart was the
//! ladder's `restart_resume` step, the stall clock stops until the new process
//! runs, and the ladder goes on from the next step if the restarted agent
//! stalls again before it reaches its ready prompt.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tracing::{debug, info, warn};
use warden_adapters::{PromptKind, ScreenState, Verdict};
use warden_core::stall::{Classification, EscalationStep, Observation, StallEvent, StallTracker};
use warden_core::{EventKind, Provenance, Reply, SessionState, screen_hash};

use crate::classifier::{StallClassifier, StallContext};
use crate::shared::{SessionShared, View};

/// Shortest time between two looks at the screen during an output burst.
pub(crate) const EVAL_INTERVAL: Duration = Duration::from_millis(5);

pub(crate) enum DetectorMsg {
    /// The screen changed (or the process state did).
    Wake,
    /// A timer fired.
    Tick,
    /// warden typed input into the agent: it should turn busy.
    InputSent,
    /// A classifier answered about the stall reported at `stall_no`.
    Classified { stall_no: u64, answer: Option<Classification>, source: String },
}

pub(crate) struct DetectorArgs {
    pub shared: Arc<SessionShared>,
    pub classifier: Option<Arc<dyn StallClassifier>>,
    pub sup: ActorRef<crate::session::SessionMsg>,
}

pub(crate) struct StallDetector;

pub(crate) struct DetectorState {
    shared: Arc<SessionShared>,
    classifier: Option<Arc<dyn StallClassifier>>,
    sup: ActorRef<crate::session::SessionMsg>,
    origin: Instant,
    tracker: StallTracker,
    last_eval: Option<Instant>,
    wake_queued: Arc<AtomicBool>,
    forwarder: Option<tokio::task::JoinHandle<()>>,
    timer: Option<(Instant, tokio::task::JoinHandle<()>)>,
    /// The screen looked ready since then (settle running), with the rule.
    ready_since: Option<(Instant, Option<Provenance>)>,
    /// A busy turn (or a typed task) is waiting for its end.
    turn_open: bool,
    last_blocking: Option<(String, String)>,
    last_login: Option<String>,
    stall_no: u64,
    compacted: bool,
    /// Output came that was not looked at yet (the look was deferred to the end of the burst).
    dirty: bool,
    /// The process the detector last saw (a new pid is a restart).
    pid: Option<u32>,
    /// Ladder steps already taken in this stall, across a `restart_resume` restart.
    ladder_from: usize,
    /// A `restart_resume` step asked for a restart: the ladder goes on from `ladder_from`.
    resuming: bool,
    /// A stall was reported and is not over (no progress, no classification since).
    in_stall: bool,
}

impl DetectorState {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn settle(&self) -> Duration {
        Duration::from_millis(self.shared.adapter.ready_settle_ms)
    }

    /// The tracker for the ladder from step `from` on (steps are numbered in the full ladder).
    fn fresh_tracker(&mut self, from: usize) {
        let mut cfg = self.shared.config.stall.clone();
        cfg.ladder = cfg.ladder.split_off(from.min(cfg.ladder.len()));
        self.tracker = StallTracker::new(cfg, self.now());
        self.ladder_from = from;
        self.in_stall = false;
    }

    /// Arms the tracker: the agent works.
    fn arm(&mut self) {
        self.tracker.set_busy(true, self.now());
    }

    /// Disarms the tracker (ready, blocked, asking for a login): any stall is over.
    fn disarm(&mut self) {
        self.tracker.set_busy(false, self.now());
        self.in_stall = false;
    }

    /// A new process of the session (a restart) starts with a clean slate.
    fn check_process(&mut self) {
        let pid = self.shared.pid();
        if pid == self.pid {
            return;
        }
        let first = self.pid.is_none();
        self.pid = pid;
        if first {
            return;
        }
        debug!(session = %self.shared.id, ?pid, resuming = self.resuming, "new process");
        self.turn_open = false;
        self.ready_since = None;
        self.last_blocking = None;
        self.last_login = None;
        let from = if std::mem::take(&mut self.resuming) { self.ladder_from } else { 0 };
        self.fresh_tracker(from);
    }

    /// No process runs (between two lives of a restart): the screen is the last
    /// one of a process that ended, and says nothing about the next one.
    fn between_lives(&self) -> bool {
        self.shared.pty().is_none()
    }

    /// Looks at the screen and acts on what the adapter says.
    fn evaluate(&mut self) {
        self.dirty = false;
        if self.between_lives() {
            self.last_eval = Some(Instant::now());
            return;
        }
        let view = self.shared.screen.view();
        let verdict = self.shared.classify_view(&view);
        self.last_eval = Some(Instant::now());
        self.compacted = false;
        let now = self.now();
        if self.shared.config.stall_enabled {
            let obs = Observation { now, screen_hash: screen_hash(&view.text), loading: verdict.loading };
            if let Some(StallEvent::Resumed) = self.tracker.observe(obs) {
                self.in_stall = false;
                if self.shared.state() == SessionState::Stalled {
                    self.shared.transition(SessionState::Busy, "progress after a stall", None, None);
                }
            }
        }
        if !self.shared.state().is_live() {
            return;
        }
        self.apply(&view, &verdict);
    }

    fn apply(&mut self, view: &View, verdict: &Verdict) {
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
                    self.shared.transition(SessionState::Busy, &reason, None, prov);
                }
                self.arm();
            }
            ScreenState::Ready | ScreenState::TaskComplete => {
                if self.ready_since.is_none() {
                    self.ready_since = Some((Instant::now(), prov));
                }
            }
            ScreenState::LoginRequired | ScreenState::Blocked(PromptKind::Login) => {
                self.ready_since = None;
                self.disarm();
                let login = verdict.login.clone();
                // One event per login screen: the same rule and URL while the
                // status text around it changes is the same login.
                let key = login
                    .as_ref()
                    .map(|l| format!("{}#{}", l.provenance.rule, l.url.as_deref().unwrap_or_default()))
                    .unwrap_or_default();
                if self.last_login.as_deref() != Some(key.as_str()) {
                    self.last_login = Some(key);
                    self.shared.transition(SessionState::Authenticating, "login required", Some(view.excerpt(6)), prov);
                    let event = match (login, &verdict.blocking) {
                        (Some(l), _) => EventKind::LoginRequired {
                            login_kind: l.kind,
                            url: l.url,
                            code: l.code,
                            instructions: l.instructions,
                            choices: l.choices.into_iter().map(|c| c.label).collect(),
                            provenance: l.provenance,
                        },
                        (None, Some(b)) => EventKind::LoginRequired {
                            login_kind: "login".into(),
                            url: b.url.clone(),
                            code: None,
                            instructions: b.prompt.clone(),
                            choices: b.choices.iter().map(|c| c.label.clone()).collect(),
                            provenance: b.provenance.clone(),
                        },
                        (None, None) => return,
                    };
                    info!(session = %self.shared.id, "login required");
                    self.shared.bus.publish(Some(self.shared.id), event);
                }
            }
            ScreenState::Blocked(kind) => {
                self.ready_since = None;
                self.disarm();
                if let Some(b) = &verdict.blocking {
                    let key = (b.provenance.rule.clone(), b.provenance.evidence.clone());
                    if self.last_blocking.as_ref() != Some(&key) {
                        self.last_blocking = Some(key);
                        self.shared.transition(
                            SessionState::Blocked,
                            &format!("{kind} prompt"),
                            Some(view.excerpt(6)),
                            prov,
                        );
                        info!(session = %self.shared.id, kind = %kind, rule = %b.provenance.rule, "blocking prompt");
                        self.shared.bus.publish(
                            Some(self.shared.id),
                            EventKind::BlockingPrompt {
                                prompt_kind: kind.as_str().to_string(),
                                prompt: b.prompt.clone(),
                                choices: b.choices.iter().map(|c| c.label.clone()).collect(),
                                safe: b.safe,
                                suggested: b.response.as_ref().map(describe_response),
                                provenance: b.provenance.clone(),
                            },
                        );
                    }
                }
            }
            ScreenState::Unknown | ScreenState::Exited => {}
        }
    }

    /// Commits a ready candidate whose settle time passed, if the screen still agrees.
    fn settle_ready(&mut self) {
        if self.between_lives() {
            self.ready_since = None;
            return;
        }
        let Some((since, _)) = &self.ready_since else { return };
        if since.elapsed() < self.settle() {
            return;
        }
        let view = self.shared.screen.view();
        let verdict = self.shared.classify_view(&view);
        if !matches!(verdict.state, ScreenState::Ready | ScreenState::TaskComplete) {
            self.ready_since = None;
            return;
        }
        self.ready_since = None;
        if self.ladder_from > 0 {
            // The agent came back to its prompt: a later stall climbs the whole ladder again.
            self.fresh_tracker(0);
        }
        self.disarm();
        let prov = verdict.provenance.clone();
        let moved = self.shared.transition(SessionState::Ready, "ready", None, prov.clone());
        if self.turn_open && (moved || verdict.state == ScreenState::TaskComplete) {
            self.turn_open = false;
            self.shared.bus.publish(Some(self.shared.id), EventKind::TaskComplete { provenance: prov });
        }
        let task = self.shared.config.task_on_ready.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            self.type_text(&task);
        }
    }

    fn type_text(&mut self, text: &str) {
        crate::respond::type_reply(&self.shared, &Reply::Text(text.to_string()));
        self.input_sent();
    }

    fn input_sent(&mut self) {
        self.turn_open = true;
        self.ready_since = None;
        if self.shared.state().is_live() {
            self.shared.transition(SessionState::Busy, "input sent", None, None);
            self.arm();
        }
    }

    fn poll_stall(&mut self, myself: &ActorRef<DetectorMsg>) {
        // Between the ladder's restart and the new process, the stall clock stops.
        if !self.shared.config.stall_enabled || !self.shared.state().is_live() || self.resuming || self.between_lives()
        {
            return;
        }
        let now = self.now();
        match self.tracker.poll(now) {
            Some(StallEvent::Stalled { idle, window, spinner_only }) => {
                self.stall_no += 1;
                self.in_stall = true;
                let view = self.shared.screen.view();
                warn!(session = %self.shared.id, idle_ms = idle.as_millis() as u64, spinner_only, "stalled");
                self.shared.transition(SessionState::Stalled, "no progress", Some(view.excerpt(3)), None);
                self.shared.bus.publish(
                    Some(self.shared.id),
                    EventKind::Stalled {
                        idle_ms: idle.as_millis() as u64,
                        window_ms: window.as_millis() as u64,
                        spinner_only,
                        excerpt: Some(view.excerpt(3)),
                    },
                );
                self.classify_stall(myself, &view);
            }
            Some(StallEvent::Escalate { index, step }) => {
                let index = self.ladder_from + index;
                self.shared.bus.publish(Some(self.shared.id), EventKind::Escalated { index, step: step.clone() });
                if step == EscalationStep::RestartResume {
                    self.resuming = true;
                    self.ladder_from = index + 1;
                }
                self.escalate(step);
            }
            _ => {}
        }
    }

    /// Adapter heuristics first; then the pluggable classifier, with a timeout.
    fn classify_stall(&mut self, myself: &ActorRef<DetectorMsg>, view: &View) {
        let verdict = self.shared.classify_view(view);
        let heuristic = match verdict.state {
            ScreenState::Blocked(PromptKind::Login) | ScreenState::LoginRequired => {
                Some(Classification::WaitingForInput)
            }
            ScreenState::Blocked(_) => Some(Classification::BlockingPrompt),
            ScreenState::TaskComplete => Some(Classification::TaskComplete),
            ScreenState::Ready => Some(Classification::WaitingForInput),
            _ => None,
        };
        if let Some(answer) = heuristic {
            self.take_answer(answer, "adapter".into());
            return;
        }
        let Some(classifier) = self.classifier.clone() else { return };
        let ctx = StallContext {
            session: self.shared.id,
            agent: self.shared.adapter.name.clone(),
            screen: view.text.clone(),
            title: view.title.clone(),
        };
        let me = myself.clone();
        let stall_no = self.stall_no;
        let timeout = classifier.timeout();
        tokio::spawn(async move {
            let source = classifier.name().to_string();
            let answer = tokio::time::timeout(timeout, classifier.classify(ctx)).await.ok().flatten();
            let _ = me.cast(DetectorMsg::Classified { stall_no, answer, source });
        });
    }

    fn take_answer(&mut self, answer: Classification, source: String) {
        let now = self.now();
        // Whatever the answer, this stall is decided: still working waits a longer
        // window, anything else leaves it to the screen.
        self.tracker.classified(answer, now);
        self.in_stall = false;
        let next_window_ms =
            (answer == Classification::StillWorking).then(|| self.tracker.current_window().as_millis() as u64);
        self.shared.bus.publish(Some(self.shared.id), EventKind::StallClassified { answer, source, next_window_ms });
        if answer == Classification::StillWorking {
            self.arm();
            self.shared.transition(SessionState::Busy, "classified still working", None, None);
        }
    }

    fn escalate(&mut self, step: EscalationStep) {
        match step {
            EscalationStep::Notify => {}
            EscalationStep::Keys { keys } => crate::respond::type_reply(&self.shared, &Reply::Keys(keys)),
            EscalationStep::Nudge { text } => crate::respond::type_reply(&self.shared, &Reply::Text(text)),
            EscalationStep::RestartResume => {
                let _ = self.sup.cast(crate::session::SessionMsg::RestartAgent { reason: "stalled".into() });
            }
            EscalationStep::Fail => {
                let reason = "stalled: every escalation step was taken";
                // Failed first, then the process is killed: its exit must not win the race
                // and end the session as merely exited.
                self.shared.transition(SessionState::Failed, reason, None, None);
                let _ = self.sup.cast(crate::session::SessionMsg::Fail { reason: reason.into() });
            }
        }
    }

    /// Arms the single timer for the earliest thing that needs a look.
    fn rearm(&mut self, myself: &ActorRef<DetectorMsg>) {
        let mut next: Option<Instant> = None;
        let mut consider = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));
        if self.dirty {
            // The trailing look at the end of a burst.
            consider(self.last_eval.map_or_else(Instant::now, |t| t + EVAL_INTERVAL));
        }
        if let Some((since, _)) = &self.ready_since {
            consider(*since + self.settle());
        }
        if self.shared.config.stall_enabled
            && !self.resuming
            && let Some(d) = self.tracker.deadline()
        {
            consider(self.origin + d);
        }
        if !self.compacted {
            consider(self.last_eval.unwrap_or_else(Instant::now) + crate::shared::COMPACT_AFTER);
        }
        let Some(at) = next else { return };
        if let Some((t, h)) = &self.timer {
            if *t == at && !h.is_finished() {
                return;
            }
            h.abort();
        }
        let me = myself.clone();
        let handle = tokio::spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
            let _ = me.cast(DetectorMsg::Tick);
        });
        self.timer = Some((at, handle));
    }
}

fn describe_response(r: &warden_adapters::Response) -> String {
    match r {
        warden_adapters::Response::Text(t) => t.clone(),
        warden_adapters::Response::Keys(k) => format!("keys:{}", k.join(",")),
    }
}

impl Actor for StallDetector {
    type Msg = DetectorMsg;
    type State = DetectorState;
    type Arguments = DetectorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<DetectorMsg>,
        args: DetectorArgs,
    ) -> Result<DetectorState, ActorProcessingErr> {
        let origin = Instant::now();
        let tracker = StallTracker::new(args.shared.config.stall.clone(), Duration::ZERO);
        let wake_queued = Arc::new(AtomicBool::new(false));
        let forwarder = spawn_forwarder(&args.shared, myself.clone(), wake_queued.clone(), || DetectorMsg::Wake);
        let mut st = DetectorState {
            shared: args.shared,
            classifier: args.classifier,
            sup: args.sup,
            origin,
            tracker,
            last_eval: None,
            wake_queued,
            forwarder: Some(forwarder),
            timer: None,
            ready_since: None,
            turn_open: false,
            last_blocking: None,
            last_login: None,
            stall_no: 0,
            compacted: false,
            dirty: false,
            pid: None,
            ladder_from: 0,
            resuming: false,
            in_stall: false,
        };
        st.pid = st.shared.pid();
        // A restarted detector picks up where the screen is.
        if matches!(st.shared.state(), SessionState::Busy | SessionState::Stalled) {
            st.turn_open = true;
            st.arm();
        }
        let _ = myself.cast(DetectorMsg::Wake);
        Ok(st)
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<DetectorMsg>,
        st: &mut DetectorState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(f) = st.forwarder.take() {
            f.abort();
        }
        if let Some((_, t)) = st.timer.take() {
            t.abort();
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<DetectorMsg>,
        msg: DetectorMsg,
        st: &mut DetectorState,
    ) -> Result<(), ActorProcessingErr> {
        #[cfg(feature = "test-hooks")]
        crate::session::maybe_fault(&st.shared.fault_detector, "stall_detector");
        st.check_process();
        match msg {
            DetectorMsg::Wake => {
                st.wake_queued.store(false, Ordering::Release);
                st.dirty = true;
                if st.last_eval.is_none_or(|t| t.elapsed() >= EVAL_INTERVAL) {
                    st.evaluate();
                }
            }
            DetectorMsg::Tick => {
                st.timer = None;
                if st.dirty && st.last_eval.is_none_or(|t| t.elapsed() >= EVAL_INTERVAL) {
                    st.evaluate();
                }
                st.settle_ready();
                st.poll_stall(&myself);
                if !st.compacted && st.shared.screen.compact_if_idle() {
                    debug!(session = %st.shared.id, "screen compacted");
                    st.compacted = true;
                } else if st.last_eval.is_some_and(|t| t.elapsed() >= crate::shared::COMPACT_AFTER) {
                    st.compacted = true;
                }
            }
            DetectorMsg::InputSent => st.input_sent(),
            DetectorMsg::Classified { stall_no, answer, source } => {
                if stall_no == st.stall_no
                    && let Some(answer) = answer
                {
                    st.take_answer(answer, source);
                }
            }
        }
        st.rearm(&myself);
        Ok(())
    }
}

/// Forwards screen changes to an actor as one queued message at a time.
pub(crate) fn spawn_forwarder<M: ractor::Message>(
    shared: &Arc<SessionShared>,
    actor: ActorRef<M>,
    queued: Arc<AtomicBool>,
    msg: fn() -> M,
) -> tokio::task::JoinHandle<()> {
    let mut rx = shared.screen.watch();
    tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            if !queued.swap(true, Ordering::AcqRel) && actor.cast(msg()).is_err() {
                break;
            }
        }
    })
}
