//! The session core: one session's identity, its immutable configuration,
//! the one [`SessionInfo`] and every state transition, plus the parts the
//! session's actors share, each with its own owner module:
//!
//! | part | module | what it holds |
//! |---|---|---|
//! | [`ScreenCell`] | `screen_cell` | the parsed screen and the bytes waiting to be parsed |
//! | [`RuleBook`] | `rules` | the caller's compiled auto-response rules |
//! | [`Typist`] | `typist` | the link to the PTY actor; everything warden types |
//! | [`Restarts`] | `restarts` | the restart policy's history |
//! | pending confirmations, responder memory | here | what the auto-responder decided, kept across its restarts |
//! | links | here | the session supervisor and detector, once they run |
//! | [`Terminals`] | `terminals` | attached terminals: who answers terminal queries |
//!
//! The root supervisor keeps an `Arc<SessionCore>` per session and reads the
//! info from it (there is no second copy). An actor that fails and is
//! restarted, or an observer that hibernates, finds everything here intact.
//!
//! **Lock order.** `memory → rules → pending → record → bus`: the responder
//! reads the pid under its locks, and a transition publishes under the
//! record lock, so the stream has the true order. Every other lock (the
//! rule book's loading patterns, the screen's and its change counter, the typist's, the restarts', the
//! links') is a leaf: taken alone, never while another of these is held.
//! No lock is held across an `.await`.

#[cfg(feature = "test-hooks")]
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ractor::{ActorRef, RpcReplyPort};
use tokio::sync::watch;
use tracing::warn;
use warden_adapters::{Adapter, ApprovalPreset, Verdict};
use warden_core::stall::StallConfig;
use warden_core::{
    EventKind, ExitInfo, InputVia, PendingConfirmation, Provenance, Reply, SessionId, SessionInfo, SessionState,
    SupervisionLevel, check_transition,
};

use crate::bus::EventBus;
use crate::decide::detect::DetectorMemory;
use crate::decide::respond::Memory as ResponderMemory;
use crate::decide::view::{View, bottom_lines, truncate_chars};
use crate::msg::{DetectorMsg, SessionMsg};
use crate::restarts::Restarts;
use crate::rules::RuleBook;
use crate::screen_cell::ScreenCell;
use crate::sync::lock;
use crate::terminals::Terminals;
use crate::typist::Typist;

/// What the session was configured with. Immutable after spawn.
pub(crate) struct SessionConfig {
    pub supervision: SupervisionLevel,
    pub preset: ApprovalPreset,
    pub stall: StallConfig,
    pub stall_enabled: bool,
    pub input_ack_timeout: Duration,
    pub loop_guard: warden_core::LoopGuard,
    /// Warden answers terminal queries while no terminal is attached.
    pub answer_queries: bool,
}

/// What the core is built from (all of it known before the session starts).
pub(crate) struct CoreParts {
    pub info: SessionInfo,
    pub adapters: Arc<crate::adapter_book::AdapterBook>,
    pub config: SessionConfig,
    pub rules: RuleBook,
    pub typist: Typist,
    pub restarts: Restarts,
    pub bus: EventBus,
}

/// The session's record: its info, how it ended, who waits for the end.
struct Record {
    info: SessionInfo,
    exit: Option<ExitInfo>,
    waiters: Vec<RpcReplyPort<ExitInfo>>,
}

/// Links to the session's actors, which start after the core.
#[derive(Default)]
struct Links {
    sup: Option<ActorRef<SessionMsg>>,
    detector: Option<ActorRef<DetectorMsg>>,
    /// Whether the observer actors run or were asked for (they start with
    /// the first output, input or rule: a session that never prints costs none).
    observers: bool,
    /// warden typed input while no detector ran (it turns the agent busy).
    input_waiting: bool,
    /// `InputSent` messages cast to a detector, and handled by one: a
    /// difference when a detector stops means some were lost with its mailbox.
    inputs_sent: u64,
    inputs_seen: u64,
    /// The detector's memory while the observers hibernate, with the screen
    /// version it was taken at.
    hibernated: Option<(DetectorMemory, u64)>,
}

/// Test hooks: the next message makes the actor panic; a confirmed answer
/// waits between its two steps while a test holds `confirm_gate`; a process
/// that ended and is to be restarted waits, before its supervisor is told,
/// while a test holds `respawn_gate`.
#[cfg(feature = "test-hooks")]
#[derive(Default)]
pub(crate) struct Faults {
    pub detector: AtomicBool,
    pub responder: AtomicBool,
    pub confirm_gate: Arc<tokio::sync::RwLock<()>>,
    pub respawn_gate: Arc<tokio::sync::RwLock<()>>,
}

/// One session's core. See the module documentation.
pub(crate) struct SessionCore {
    pub id: SessionId,
    /// When the session was created: the zero of the observers' clocks, so
    /// that their memory stays true across their restarts and hibernation.
    pub origin: Instant,
    /// The node's adapters: the session's is looked up on every use, so rule
    /// overlays apply to the next screen.
    adapters: Arc<crate::adapter_book::AdapterBook>,
    /// The agent's name (the adapter's key in the book).
    agent: String,
    pub config: SessionConfig,
    pub bus: EventBus,
    pub screen: ScreenCell,
    pub rules: RuleBook,
    pub typist: Typist,
    pub restarts: Restarts,
    pub terminals: Terminals,
    record: Mutex<Record>,
    state_tx: watch::Sender<SessionState>,
    /// Pending confirmations, oldest first.
    pending: Mutex<Vec<PendingConfirmation>>,
    /// The auto-responder's memory (latches, loop-guard history, typed text).
    memory: Mutex<ResponderMemory>,
    links: Mutex<Links>,
    #[cfg(feature = "test-hooks")]
    pub faults: Faults,
}

impl SessionCore {
    pub(crate) fn new(parts: CoreParts) -> SessionCore {
        let CoreParts { info, adapters, config, rules, typist, restarts, bus } = parts;
        SessionCore {
            id: info.id,
            agent: info.agent.clone(),
            origin: Instant::now(),
            screen: ScreenCell::new(info.size),
            terminals: Terminals::new(config.answer_queries),
            state_tx: watch::Sender::new(info.state),
            record: Mutex::new(Record { info, exit: None, waiters: Vec::new() }),
            adapters,
            config,
            bus,
            rules,
            typist,
            restarts,
            pending: Mutex::new(Vec::new()),
            memory: Mutex::new(ResponderMemory::default()),
            links: Mutex::new(Links::default()),
            #[cfg(feature = "test-hooks")]
            faults: Faults::default(),
        }
    }

    /// The session's adapter now (with the rule overlays as they are now).
    pub(crate) fn adapter(&self) -> Arc<Adapter> {
        self.adapters.adapter(&self.agent)
    }

    /// The session's info now.
    pub(crate) fn info(&self) -> SessionInfo {
        lock(&self.record).info.clone()
    }

    /// The current process's pid.
    pub(crate) fn pid(&self) -> Option<u32> {
        lock(&self.record).info.pid
    }

    pub(crate) fn state(&self) -> SessionState {
        *self.state_tx.borrow()
    }

    /// Changes the info (never the state: that is [`SessionCore::transition`]).
    pub(crate) fn update_info(&self, f: impl FnOnce(&mut SessionInfo)) -> SessionInfo {
        let mut g = lock(&self.record);
        let state = g.info.state;
        f(&mut g.info);
        g.info.state = state;
        g.info.clone()
    }

    /// Moves the session to `to` if the state machine allows it, publishing
    /// `state_changed` (under the lock, so the stream has the true order).
    /// Returns whether it moved. Asking for the state the session is in is a
    /// no-op; an illegal transition is logged with both states and dropped.
    pub(crate) fn transition(
        &self,
        to: SessionState,
        reason: &str,
        excerpt: Option<String>,
        provenance: Option<Provenance>,
    ) -> bool {
        let mut g = lock(&self.record);
        let from = g.info.state;
        if from == to {
            return false;
        }
        if let Err(e) = check_transition(from, to) {
            warn!(session = %self.id, %from, %to, %reason, error = %e, "illegal state transition dropped");
            return false;
        }
        g.info.state = to;
        self.bus.publish(
            Some(self.id),
            EventKind::StateChanged { from, to, reason: reason.to_string(), excerpt, provenance },
        );
        self.state_tx.send_replace(to);
        true
    }

    /// The adapter's verdict on the screen now, with the session's own
    /// loading patterns applied.
    pub(crate) fn classify_view(&self, view: &View) -> Verdict {
        let adapter = self.adapter();
        let mut verdict = adapter.classify(&view.screen_view());
        let loading = self.rules.loading();
        if !loading.is_empty() {
            let bottom = bottom_lines(&view.text, 3);
            if let Some(re) = loading.iter().find(|re| re.is_match(bottom)) {
                verdict.loading = true;
                if verdict.state == warden_adapters::ScreenState::Unknown {
                    verdict.state = warden_adapters::ScreenState::Busy;
                    verdict.provenance = Some(Provenance {
                        adapter: adapter.name.clone(),
                        rule: "session-loading".into(),
                        region: "bottom:3".into(),
                        evidence: truncate_chars(
                            re.find(bottom).map(|m| &bottom[m.range()]).unwrap_or_default().trim(),
                            200,
                        ),
                    });
                }
            }
        }
        verdict
    }

    pub(crate) fn classify_now(&self) -> Verdict {
        let view = self.screen.view();
        self.classify_view(&view)
    }

    /// The pending confirmations now.
    pub(crate) fn pending(&self) -> Vec<PendingConfirmation> {
        lock(&self.pending).clone()
    }

    pub(crate) fn lock_pending(&self) -> MutexGuard<'_, Vec<PendingConfirmation>> {
        lock(&self.pending)
    }

    pub(crate) fn lock_memory(&self) -> MutexGuard<'_, ResponderMemory> {
        lock(&self.memory)
    }

    /// The session supervisor runs.
    pub(crate) fn link_supervisor(&self, sup: ActorRef<SessionMsg>) {
        lock(&self.links).sup = Some(sup);
    }

    /// Casts to the session supervisor; false when it does not run.
    pub(crate) fn sup_cast(&self, msg: SessionMsg) -> bool {
        let sup = lock(&self.links).sup.clone();
        sup.is_some_and(|s| s.cast(msg).is_ok())
    }

    /// The detector started (`Some`) or stopped (`None`). Returns whether
    /// input was typed while none ran (the new detector must know).
    pub(crate) fn link_detector(&self, d: Option<ActorRef<DetectorMsg>>) -> bool {
        let mut links = lock(&self.links);
        let started = d.is_some();
        links.detector = d;
        if !started {
            return false;
        }
        // Input typed while none ran, or cast to one that failed before
        // handling it: the new detector is told (the caller casts one
        // `InputSent`, counted here).
        let waiting = std::mem::take(&mut links.input_waiting) || links.inputs_sent != links.inputs_seen;
        if waiting {
            links.inputs_seen = links.inputs_sent;
            links.inputs_sent += 1;
        }
        waiting
    }

    /// Tells the detector that warden typed input (the agent should turn busy),
    /// and wakes the observers if they sleep.
    pub(crate) fn notify_input(&self) {
        let (ask, detector) = {
            let mut links = lock(&self.links);
            let ask = !std::mem::replace(&mut links.observers, true);
            let detector = links.detector.clone();
            match detector {
                Some(_) => links.inputs_sent += 1,
                None => links.input_waiting = true,
            }
            (ask, detector)
        };
        if ask {
            self.sup_cast(SessionMsg::StartObservers);
        }
        if let Some(d) = detector
            && d.cast(DetectorMsg::InputSent).is_err()
        {
            lock(&self.links).input_waiting = true;
        }
    }

    /// The detector handled an `InputSent`.
    pub(crate) fn input_seen(&self) {
        lock(&self.links).inputs_seen += 1;
    }

    /// Whether anything reads the screen by itself: the adapter's rules, the
    /// caller's rules, loading patterns, or a task waiting for the ready
    /// prompt. A session with none of these (an agent no manifest knows,
    /// with no rules) needs no observers until warden types into it or a
    /// rule is added: its screen is parsed only when someone looks.
    pub(crate) fn screen_is_watched(&self) -> bool {
        !self.adapter().rules.is_empty()
            || !self.rules.loading().is_empty()
            || self.typist.has_task_on_ready()
            || !self.rules.is_empty()
    }

    /// Output of the agent: queued for the screen; the observers start with
    /// the first output of a watched screen.
    pub(crate) fn output_arrived(&self, data: &[u8]) {
        let watched = self.screen_is_watched();
        self.screen.push(data, watched);
        if watched {
            self.want_observers();
        }
    }

    /// Asks the supervisor for the observer actors, once.
    pub(crate) fn want_observers(&self) {
        let ask = {
            let mut links = lock(&self.links);
            !std::mem::replace(&mut links.observers, true)
        };
        if ask {
            self.sup_cast(SessionMsg::StartObservers);
        }
    }

    /// The observers go to sleep: the detector leaves its memory here. The
    /// observers are stopped next; nothing is lost, and the next output,
    /// input or rule starts them again (see [`SessionCore::wake_observers`]).
    /// `seen` is the screen's version at the detector's last look.
    pub(crate) fn hibernate(&self, memory: DetectorMemory, seen: u64) {
        let mut links = lock(&self.links);
        // From now on input waits for the next detector (see `notify_input`);
        // an `InputSent` still in the stopping detector's mailbox is lost
        // with it, so it is noted as waiting.
        links.detector = None;
        if links.inputs_sent != links.inputs_seen {
            links.inputs_seen = links.inputs_sent;
            links.input_waiting = true;
        }
        links.hibernated = Some((memory, seen));
    }

    /// The observers were stopped for hibernation. Returns whether the caller
    /// must start them again at once: the screen changed since the
    /// detector's last look, or input was typed meanwhile (unless someone
    /// already asked for them).
    pub(crate) fn observers_asleep(&self) -> bool {
        let seen = {
            let mut links = lock(&self.links);
            links.observers = false;
            links.detector = None;
            links.hibernated.as_ref().map(|(_, v)| *v)
        };
        // Read without the links lock (the screen's lock is a leaf); output
        // after this asks for the observers itself (`observers` is false now).
        let now = self.screen.version();
        let mut links = lock(&self.links);
        if links.observers {
            return false;
        }
        let wake = links.input_waiting || seen != Some(now);
        links.observers = wake;
        wake
    }

    /// The detector's memory left at hibernation, if the observers slept.
    pub(crate) fn take_detector_memory(&self) -> Option<DetectorMemory> {
        lock(&self.links).hibernated.take().map(|(m, _)| m)
    }

    /// Whether the observer actors run (or were asked for).
    #[cfg(feature = "test-hooks")]
    pub(crate) fn observers_awake(&self) -> bool {
        lock(&self.links).observers
    }

    /// Marks the observers as started (when the supervisor starts them itself).
    pub(crate) fn observers_started(&self) {
        lock(&self.links).observers = true;
    }

    /// Records an end if none was recorded (the session's actors stopped
    /// without one) and answers every waiter.
    pub(crate) fn finish_if_open(&self, exit: ExitInfo) {
        self.settle(exit, true);
    }

    /// The info, if it matches `f` (one look under the lock).
    pub(crate) fn info_if(&self, f: impl FnOnce(&SessionInfo) -> bool) -> Option<SessionInfo> {
        let g = lock(&self.record);
        f(&g.info).then(|| g.info.clone())
    }

    /// Records the end and answers every waiter.
    pub(crate) fn finish(&self, exit: ExitInfo) {
        self.settle(exit, false);
    }

    /// Records `exit` (unless `only_if_open` and one is recorded) and answers
    /// the waiters, deciding under one lock.
    fn settle(&self, exit: ExitInfo, only_if_open: bool) {
        let waiters = {
            let mut g = lock(&self.record);
            if only_if_open && g.exit.is_some() {
                return;
            }
            g.exit = Some(exit.clone());
            // Every end is in the info too (`get`, `list`, a snapshot's `exit`).
            g.info.exit.get_or_insert_with(|| exit.clone());
            std::mem::take(&mut g.waiters)
        };
        for w in waiters {
            let _ = w.send(exit.clone());
        }
    }

    /// Answers `reply` when the session has ended (at once if it has).
    pub(crate) fn wait_exit(&self, reply: RpcReplyPort<ExitInfo>) {
        let mut g = lock(&self.record);
        match g.exit.clone() {
            Some(e) => {
                drop(g);
                let _ = reply.send(e);
            }
            None => g.waiters.push(reply),
        }
    }

    /// Records text warden types into the session, so that the responder
    /// does not take its echo for the agent's question.
    pub(crate) fn note_typed(&self, text: &str) {
        self.lock_memory().note_typed(text);
    }

    /// Types what warden sends on its own behalf (a confirmed answer, a
    /// task, a nudge, escalation keys), remembering typed text so that its
    /// echo never looks like a prompt to the caller's rules. Not for use
    /// while the responder's memory is locked (the responder notes its own
    /// answers).
    pub(crate) fn type_reply(&self, reply: &Reply) {
        if let Reply::Text(t) = reply {
            self.note_typed(t);
        }
        self.send_reply(reply);
    }

    /// Types a reply: text the adapter's way, keys as they are.
    pub(crate) fn send_reply(&self, reply: &Reply) {
        match reply {
            Reply::Text(t) => {
                let plan = self.adapter().input_plan(t);
                self.typist.write_plan(plan, InputVia::Text);
            }
            Reply::Keys(keys) => match warden_core::keys::keys_bytes(keys) {
                Ok(bytes) => self.typist.write_raw(bytes, InputVia::Keys, keys.clone()),
                Err(e) => warn!(session = %self.id, error = %e, "reply keys"),
            },
        }
    }

    /// The number of the next acknowledged send.
    pub(crate) fn next_input(&self) -> u64 {
        self.typist.next_input()
    }

    /// Test hook: panics once when the flag is set.
    #[cfg(feature = "test-hooks")]
    pub(crate) fn maybe_fault(flag: &AtomicBool, actor: warden_core::ActorKind) {
        if flag.swap(false, Ordering::AcqRel) {
            panic!("fault injected into {actor}");
        }
    }
}
