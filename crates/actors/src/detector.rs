//! The `StallDetector`: the session's state as the screen shows it.
//!
//! The decisions (busy, ready after the settle time, blocked, login
//! required, task complete, stalled, classification and the escalation
//! ladder) are the policy in [`crate::decide::detect`]; this actor gathers
//! its inputs and carries its effects out. It reads the screen after output
//! (at most every [`EVAL_INTERVAL`] during a burst, and always once more
//! after the burst, so the last screen of a burst is never missed), keeps
//! one timer for the earliest deadline (the end of a settle time, the stall
//! tracker's, the trailing look of a burst, compaction of an idle screen),
//! types what the policy asks, asks the pluggable classifier with its
//! timeout, and asks the session supervisor for a restart or a failure.
//! Between two lives of a restart nothing is read from the screen: it is the
//! last one of the process that ended. Each new process starts with a clean
//! slate (see [`DetectorMemory::process`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tracing::{debug, info, warn};
use warden_core::{EventKind, Reply};

use crate::classifier::{StallClassifier, StallContext};
use crate::decide::detect::{DetectConfig, DetectorMemory, Effect, Moment};
use crate::decide::view::Look;
use crate::msg::{DetectorMsg, SessionMsg};
use crate::screen_cell::COMPACT_AFTER;
use crate::session_core::SessionCore as SessionShared;
use crate::stop::StopReason;

/// Shortest time between two looks at the screen during an output burst.
pub(crate) const EVAL_INTERVAL: Duration = Duration::from_millis(5);

pub(crate) struct DetectorArgs {
    pub shared: Arc<SessionShared>,
    pub classifier: Option<Arc<dyn StallClassifier>>,
    pub sup: ActorRef<SessionMsg>,
}

/// A `send_after` of the detector's `Tick`.
type Timer = tokio::task::JoinHandle<Result<(), ractor::MessagingErr<DetectorMsg>>>;

pub(crate) struct StallDetector;

pub(crate) struct DetectorState {
    shared: Arc<SessionShared>,
    classifier: Option<Arc<dyn StallClassifier>>,
    sup: ActorRef<SessionMsg>,
    origin: Instant,
    /// What the policy remembers.
    memory: DetectorMemory,
    last_eval: Option<Instant>,
    wake_queued: Arc<AtomicBool>,
    /// Registered with the screen for its changes.
    listener: Option<crate::screen_cell::ListenerId>,
    timer: Option<(Instant, Timer)>,
    compacted: bool,
    /// The screen's version at the last look (output after it was not seen).
    seen_version: u64,
    /// Output came that was not looked at yet (the look was deferred to the end of the burst).
    dirty: bool,
}

/// The detector's configuration, read from the session.
fn config(shared: &SessionShared) -> DetectConfig<'_> {
    DetectConfig {
        stall: &shared.config.stall,
        stall_enabled: shared.config.stall_enabled,
        settle: Duration::from_millis(shared.adapter().ready_settle_ms),
    }
}

/// One look at the session's screen.
fn look(shared: &SessionShared) -> Look {
    let view = shared.screen.view();
    let verdict = shared.classify_view(&view);
    Look { view, verdict }
}

impl DetectorState {
    fn moment(&self) -> Moment {
        Moment { now: self.origin.elapsed(), state: self.shared.state(), running: self.shared.typist.pty().is_some() }
    }

    /// A new process of the session (a restart) starts with a clean slate.
    fn check_process(&mut self) {
        let shared = &self.shared;
        let now = self.origin.elapsed();
        if self.memory.process(&config(shared), shared.pid(), now) {
            debug!(session = %shared.id, pid = ?shared.pid(), resuming = self.memory.resuming(), "new process");
        }
    }

    /// Looks at the screen and acts on what the adapter says.
    fn evaluate(&mut self, myself: &ActorRef<DetectorMsg>) {
        // Output from now on wakes this actor again (it may be output this look misses).
        self.wake_queued.store(false, Ordering::Release);
        self.dirty = false;
        self.seen_version = self.shared.screen.version();
        let m = self.moment();
        let shared = self.shared.clone();
        let effects = self.memory.observe(m, &config(&shared), || look(&shared));
        self.last_eval = Some(Instant::now());
        if m.running {
            self.compacted = false;
        }
        self.carry_out(myself, effects);
    }

    /// The clock reached a deadline: settle a ready screen, poll the stall tracker.
    fn tick(&mut self, myself: &ActorRef<DetectorMsg>) {
        let m = self.moment();
        let shared = self.shared.clone();
        let effects = self.memory.tick(m, &config(&shared), || look(&shared));
        self.carry_out(myself, effects);
    }

    fn input_sent(&mut self, myself: &ActorRef<DetectorMsg>) {
        let effects = self.memory.input_sent(self.moment());
        self.carry_out(myself, effects);
    }

    /// Performs the policy's effects, in order.
    fn carry_out(&mut self, myself: &ActorRef<DetectorMsg>, effects: Vec<Effect>) {
        let shared = self.shared.clone();
        for effect in effects {
            match effect {
                Effect::Transition(t) => {
                    shared.transition(t.to, &t.reason, t.excerpt, t.provenance);
                }
                Effect::Publish(event) => {
                    match &event {
                        EventKind::LoginRequired { .. } => info!(session = %shared.id, "login required"),
                        EventKind::BlockingPrompt { prompt_kind, provenance, .. } => {
                            info!(session = %shared.id, kind = %prompt_kind, rule = %provenance.rule, "blocking prompt")
                        }
                        EventKind::Stalled { idle_ms, spinner_only, .. } => {
                            warn!(session = %shared.id, idle_ms, spinner_only, "stalled")
                        }
                        _ => {}
                    }
                    shared.bus.publish(Some(shared.id), event);
                }
                Effect::Type(reply) => shared.type_reply(&reply),
                Effect::TypeWaitingTask => {
                    let task = shared.typist.take_task_on_ready();
                    if let Some(task) = task {
                        shared.type_reply(&Reply::Text(task));
                        self.input_sent(myself);
                    }
                }
                Effect::ClassifyStall { stall_no, screen, title } => {
                    self.ask_classifier(myself, stall_no, screen, title)
                }
                Effect::RestartAgent { reason } => {
                    let _ = self.sup.cast(SessionMsg::RestartAgent { reason });
                }
                Effect::Fail { reason } => {
                    let _ = self.sup.cast(SessionMsg::Fail { reason });
                }
            }
        }
    }

    /// Asks the pluggable classifier, with its timeout; the answer comes back as a message.
    fn ask_classifier(&self, myself: &ActorRef<DetectorMsg>, stall_no: u64, screen: String, title: String) {
        let Some(classifier) = self.classifier.clone() else { return };
        let ctx = StallContext { session: self.shared.id, agent: self.shared.adapter().name.clone(), screen, title };
        let me = myself.clone();
        let timeout = classifier.timeout();
        tokio::spawn(async move {
            let source = classifier.name().to_string();
            let answer = tokio::time::timeout(timeout, classifier.classify(ctx)).await.ok().flatten();
            let _ = me.cast(DetectorMsg::Classified { stall_no, answer, source });
        });
    }

    /// Whether the observers may sleep: the screen is idle and compacted,
    /// nothing is armed (no settle time, no stall window, no look owed), no
    /// classifier is asked, the responder has nothing scheduled, and a
    /// process runs (between two lives the supervisor is busy restarting).
    fn may_hibernate(&self) -> bool {
        self.compacted
            && !self.dirty
            && self.shared.screen.version() == self.seen_version
            && self.shared.typist.pty().is_some()
            && self.shared.state().is_live()
            && self.memory.next_deadline(&config(&self.shared)).is_none()
            && !self.memory.awaits_classification()
            && self.shared.lock_memory().is_quiet()
    }

    /// Arms the single timer for the earliest thing that needs a look.
    fn rearm(&mut self, myself: &ActorRef<DetectorMsg>) {
        let mut next: Option<Instant> = None;
        let mut consider = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));
        if self.dirty {
            // The trailing look at the end of a burst.
            consider(self.last_eval.map_or_else(Instant::now, |t| t + EVAL_INTERVAL));
        }
        if let Some(d) = self.memory.next_deadline(&config(&self.shared)) {
            consider(self.origin + d);
        }
        if !self.compacted {
            consider(self.last_eval.unwrap_or_else(Instant::now) + COMPACT_AFTER);
        }
        // Idle and awake with nothing armed (hibernation was refused, e.g. the
        // responder had an answer to check): look again later whether the
        // observers may sleep.
        let at = next.unwrap_or_else(|| Instant::now() + COMPACT_AFTER);
        if let Some((t, h)) = &self.timer {
            if *t == at && !h.is_finished() {
                return;
            }
            h.abort();
        }
        let handle = myself.send_after(at.saturating_duration_since(Instant::now()), || DetectorMsg::Tick);
        self.timer = Some((at, handle));
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
        // The session's clock: memory kept across hibernation stays true.
        let origin = args.shared.origin;
        // A detector waking from hibernation takes its memory back; a
        // restarted one picks up where the session is.
        let memory = match args.shared.take_detector_memory() {
            Some(memory) => memory,
            None => {
                DetectorMemory::new(&config(&args.shared), args.shared.pid(), args.shared.state(), origin.elapsed())
            }
        };
        let wake_queued = Arc::new(AtomicBool::new(false));
        let listener = args.shared.screen.forward_changes(myself.clone(), wake_queued.clone(), || DetectorMsg::Wake);
        let st = DetectorState {
            shared: args.shared,
            classifier: args.classifier,
            sup: args.sup,
            origin,
            memory,
            last_eval: None,
            wake_queued,
            listener: Some(listener),
            timer: None,
            compacted: false,
            seen_version: 0,
            dirty: false,
        };
        let _ = myself.cast(DetectorMsg::Wake);
        Ok(st)
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<DetectorMsg>,
        st: &mut DetectorState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(l) = st.listener.take() {
            st.shared.screen.stop_forwarding(l);
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
        SessionShared::maybe_fault(&st.shared.faults.detector, warden_core::ActorKind::StallDetector);
        st.check_process();
        match msg {
            DetectorMsg::Wake => {
                st.dirty = true;
                // Inside the throttle window the trailing look is armed (see
                // `rearm`), and `wake_queued` stays set until that look: more
                // output during a burst does not wake this actor for nothing.
                if st.last_eval.is_none_or(|t| t.elapsed() >= EVAL_INTERVAL) {
                    st.evaluate(&myself);
                }
            }
            DetectorMsg::Tick => {
                st.timer = None;
                if st.dirty && st.last_eval.is_none_or(|t| t.elapsed() >= EVAL_INTERVAL) {
                    st.evaluate(&myself);
                }
                st.tick(&myself);
                if !st.compacted && st.shared.screen.compact_if_idle() {
                    debug!(session = %st.shared.id, "screen compacted");
                    st.compacted = true;
                } else if st.last_eval.is_some_and(|t| t.elapsed() >= COMPACT_AFTER) {
                    st.compacted = true;
                }
                if st.may_hibernate() {
                    debug!(session = %st.shared.id, "observers hibernate");
                    let version = st.seen_version;
                    let memory = std::mem::replace(
                        &mut st.memory,
                        DetectorMemory::new(&config(&st.shared), None, st.shared.state(), Duration::ZERO),
                    );
                    st.shared.hibernate(memory, version);
                    myself.stop(StopReason::Hibernate.reason());
                    return Ok(());
                }
            }
            DetectorMsg::InputSent => {
                st.shared.input_seen();
                st.input_sent(&myself);
            }
            DetectorMsg::Classified { stall_no, answer, source } => {
                if let Some(answer) = answer {
                    let effects = st.memory.classified(st.moment(), stall_no, answer, source);
                    st.carry_out(&myself, effects);
                }
            }
        }
        st.rearm(&myself);
        Ok(())
    }
}
