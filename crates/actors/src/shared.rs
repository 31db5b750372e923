//! What the actors of one session share: the screen, the session's info and
//! state, its adapter and its configuration.
//!
//! The screen lives here, not in an actor, so that a `StallDetector` or
//! `AutoResponder` that fails and is restarted finds it intact. The PTY actor
//! only appends output bytes to a pending buffer (a copy, under a short lock);
//! whoever reads the screen next parses what is pending. That keeps parsing
//! off the output path: a session printing at full speed is parsed on the
//! observers' tasks, in parallel, and only when someone looks.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ractor::{ActorRef, RpcReplyPort};
use regex::Regex;
use tokio::sync::watch;
use warden_adapters::{Adapter, ApprovalPreset, InputPlan, ScreenView, Verdict};
use warden_core::restart::{Decision, Ending, RestartLimits, RestartStrategy};
use warden_core::stall::StallConfig;
use warden_core::term::Screen;
use warden_core::{
    EventKind, ExitInfo, InputVia, PendingConfirmation, Provenance, RestartPolicy, ScreenSnapshot, SessionId,
    SessionInfo, SessionState, SupervisionLevel, TermSize, check_transition,
};

use crate::bus::EventBus;
use crate::detector::DetectorMsg;
use crate::pty::PtyMsg;
use crate::root::RootMsg;
use crate::session::SessionMsg;

/// What the end of the agent process means.
pub(crate) enum AfterExit {
    /// Start it again after `after`.
    Restart { after: Duration, attempt: u32, reason: String },
    /// The session ends with this exit.
    End(ExitInfo),
    /// The restart policy gave up: the session fails.
    GiveUp { exit: ExitInfo, reason: String },
}

/// Pending bytes beyond which the PTY actor parses them itself (back-pressure
/// on a producer that outruns the screen).
const PENDING_MAX: usize = 4 << 20;

/// How long a screen must be idle before it is compacted.
pub(crate) const COMPACT_AFTER: Duration = Duration::from_secs(2);

/// The screen and what is waiting to be parsed into it.
pub(crate) struct ScreenCell {
    inner: Mutex<ScreenInner>,
    /// Bumped for every output chunk (and resize); observers wait on it.
    changed: watch::Sender<u64>,
}

struct ScreenInner {
    /// Created by the first byte or the first look (a silent session has none).
    screen: Option<Box<Screen>>,
    size: TermSize,
    pending: Vec<u8>,
    bytes: u64,
    last_output: Instant,
}

/// A parsed screen at one moment, as detectors read it.
#[derive(Debug, Clone)]
pub(crate) struct View {
    pub text: String,
    pub scrollback: String,
    pub title: String,
    pub cursor: (u16, u16),
    pub cols: u16,
    /// Lines scrolled off the top so far (absolute line = scrolled + row).
    pub scrolled: u64,
}

impl View {
    pub(crate) fn screen_view(&self) -> ScreenView<'_> {
        ScreenView {
            text: &self.text,
            scrollback: &self.scrollback,
            title: &self.title,
            cursor: self.cursor,
            cols: self.cols,
        }
    }

    /// The cursor's row.
    pub(crate) fn cursor_line(&self) -> &str {
        self.text.split('\n').nth(usize::from(self.cursor.0)).unwrap_or("")
    }

    /// The last `n` non-empty lines, for event excerpts (at most 400 chars).
    pub(crate) fn excerpt(&self, n: usize) -> String {
        let lines: Vec<&str> = self.text.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = lines[lines.len().saturating_sub(n)..].join("\n");
        truncate_chars(&tail, 400)
    }
}

pub(crate) fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep going.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ScreenInner {
    fn screen(&mut self) -> &mut Screen {
        let size = self.size;
        self.screen.get_or_insert_with(|| Box::new(Screen::new(size.rows, size.cols)))
    }
}

impl ScreenCell {
    pub(crate) fn new(size: TermSize) -> Self {
        ScreenCell {
            inner: Mutex::new(ScreenInner {
                screen: None,
                size,
                pending: Vec::new(),
                bytes: 0,
                last_output: Instant::now(),
            }),
            changed: watch::Sender::new(0),
        }
    }

    /// Queues output bytes for the screen.
    pub(crate) fn push(&self, data: &[u8]) {
        {
            let mut g = lock(&self.inner);
            g.pending.extend_from_slice(data);
            g.bytes += data.len() as u64;
            g.last_output = Instant::now();
            if g.pending.len() > PENDING_MAX {
                let pending = std::mem::take(&mut g.pending);
                g.screen().process(&pending);
            }
        }
        self.changed.send_modify(|v| *v += 1);
    }

    pub(crate) fn resize(&self, size: TermSize) {
        {
            let mut g = lock(&self.inner);
            let pending = std::mem::take(&mut g.pending);
            g.size = size;
            let screen = g.screen();
            screen.process(&pending);
            screen.resize(size.rows, size.cols);
        }
        self.changed.send_modify(|v| *v += 1);
    }

    /// A receiver that sees every later change.
    pub(crate) fn watch(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Wakes the observers without output (e.g. the process exited).
    pub(crate) fn poke(&self) {
        self.changed.send_modify(|v| *v += 1);
    }

    fn parsed(&self) -> MutexGuard<'_, ScreenInner> {
        let mut g = lock(&self.inner);
        g.screen();
        if !g.pending.is_empty() {
            let pending = std::mem::take(&mut g.pending);
            g.screen().process(&pending);
            // Keep the allocation for the next burst, unless it grew large.
            if pending.capacity() <= 64 * 1024 {
                let mut pending = pending;
                pending.clear();
                g.pending = pending;
            }
        }
        g
    }

    /// Parses what is pending and returns the screen as detectors read it.
    pub(crate) fn view(&self) -> View {
        let mut g = self.parsed();
        let (_, cols) = g.screen().size();
        View {
            text: g.screen().text(),
            scrollback: g.screen().scrollback(),
            title: g.screen().title().to_string(),
            cursor: g.screen().cursor(),
            cols,
            scrolled: g.screen().scrolled(),
        }
    }

    /// The snapshot callers get.
    pub(crate) fn snapshot(&self) -> ScreenSnapshot {
        let mut g = self.parsed();
        let (rows, cols) = g.screen().size();
        let (cursor_row, cursor_col) = g.screen().cursor();
        ScreenSnapshot {
            rows,
            cols,
            text: g.screen().text(),
            cursor_row,
            cursor_col,
            cursor_visible: g.screen().cursor_visible(),
            title: g.screen().title().to_string(),
            alternate_screen: g.screen().alternate_screen(),
            bytes: g.bytes,
        }
    }

    /// Compacts the screen now (the session ended).
    pub(crate) fn compact_now(&self) {
        let mut g = self.parsed();
        g.screen().compact();
        g.pending = Vec::new();
    }

    /// Compacts the screen when no output came for [`COMPACT_AFTER`]
    /// (an idle session then holds a few hundred bytes of screen).
    pub(crate) fn compact_if_idle(&self) -> bool {
        let mut g = self.parsed();
        if g.last_output.elapsed() >= COMPACT_AFTER && !g.screen().is_compact() {
            g.screen().compact();
            g.pending = Vec::new();
            return true;
        }
        false
    }
}

/// A caller's rule, compiled.
#[derive(Debug, Clone)]
pub(crate) struct CompiledRule {
    pub id: String,
    pub source: &'static str,
    pub regex: Regex,
    pub spec: warden_core::ResponseRule,
}

/// What the session was configured with (immutable after spawn).
pub(crate) struct SessionConfig {
    pub supervision: SupervisionLevel,
    pub preset: ApprovalPreset,
    pub stall: StallConfig,
    pub stall_enabled: bool,
    pub loading: Vec<Regex>,
    /// The task to type once the agent is first ready (TUI adapters).
    pub task_on_ready: Mutex<Option<String>>,
    pub input_ack_timeout: Duration,
    pub loop_guard: warden_core::LoopGuard,
}

/// Everything the actors of one session and the handle share.
pub(crate) struct SessionShared {
    pub id: SessionId,
    pub adapter: Arc<Adapter>,
    pub screen: ScreenCell,
    pub config: SessionConfig,
    pub bus: EventBus,
    pub root: ActorRef<RootMsg>,
    info: Mutex<SessionInfo>,
    state_tx: watch::Sender<SessionState>,
    pty: Mutex<Option<ActorRef<PtyMsg>>>,
    /// Caller rules (spawn-time and runtime).
    pub rules: Mutex<Vec<CompiledRule>>,
    pub rule_seq: AtomicU64,
    /// Pending confirmations, oldest first.
    pub pending: Mutex<Vec<PendingConfirmation>>,
    pub input_seq: AtomicU64,
    /// The auto-responder's memory (latches, loop-guard history).
    memory: Mutex<crate::respond::Memory>,
    /// Set while a restart is in progress (the process is between lives).
    pub restarting: AtomicBool,
    /// The restart policy's history for the agent process.
    restart: Mutex<RestartStrategy>,
    /// Restarts asked for by a stall escalation (counted even under `never`).
    forced_restart: Mutex<RestartStrategy>,
    origin: Instant,
    /// How the session ended, once it has.
    exit: Mutex<Option<ExitInfo>>,
    waiters: Mutex<Vec<RpcReplyPort<ExitInfo>>>,
    sup: Mutex<Option<ActorRef<SessionMsg>>>,
    detector: Mutex<Option<ActorRef<DetectorMsg>>>,
    /// Whether the observer actors were asked for (they start with the first
    /// output, input or rule: a session that never prints costs none).
    observers_started: AtomicBool,
    /// warden typed input before the detector ran.
    input_waiting: AtomicBool,
    /// Fault injection for tests: the next message makes the actor panic.
    #[cfg(feature = "test-hooks")]
    pub fault_detector: AtomicBool,
    #[cfg(feature = "test-hooks")]
    pub fault_responder: AtomicBool,
}

impl SessionShared {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        info: SessionInfo,
        adapter: Arc<Adapter>,
        config: SessionConfig,
        rules: Vec<CompiledRule>,
        bus: EventBus,
        root: ActorRef<RootMsg>,
        restart: RestartPolicy,
        limits: RestartLimits,
    ) -> Self {
        let state = info.state;
        SessionShared {
            id: info.id,
            adapter,
            screen: ScreenCell::new(info.size),
            config,
            bus,
            root,
            rule_seq: AtomicU64::new(rules.len() as u64),
            rules: Mutex::new(rules),
            info: Mutex::new(info),
            state_tx: watch::Sender::new(state),
            pty: Mutex::new(None),
            pending: Mutex::new(Vec::new()),
            input_seq: AtomicU64::new(0),
            memory: Mutex::new(crate::respond::Memory::default()),
            restarting: AtomicBool::new(false),
            observers_started: AtomicBool::new(false),
            input_waiting: AtomicBool::new(false),
            restart: Mutex::new(RestartStrategy::new(restart, limits, Duration::ZERO)),
            forced_restart: Mutex::new(RestartStrategy::new(RestartPolicy::Always, limits, Duration::ZERO)),
            origin: Instant::now(),
            exit: Mutex::new(None),
            waiters: Mutex::new(Vec::new()),
            sup: Mutex::new(None),
            detector: Mutex::new(None),
            #[cfg(feature = "test-hooks")]
            fault_detector: AtomicBool::new(false),
            #[cfg(feature = "test-hooks")]
            fault_responder: AtomicBool::new(false),
        }
    }

    pub(crate) fn info(&self) -> SessionInfo {
        lock(&self.info).clone()
    }

    /// The current process's pid (without copying the whole info).
    pub(crate) fn pid(&self) -> Option<u32> {
        lock(&self.info).pid
    }

    pub(crate) fn state(&self) -> SessionState {
        *self.state_tx.borrow()
    }

    /// Changes the info (not the state) and tells the root.
    pub(crate) fn update_info(&self, f: impl FnOnce(&mut SessionInfo)) -> SessionInfo {
        let info = {
            let mut g = lock(&self.info);
            f(&mut g);
            g.clone()
        };
        let _ = self.root.cast(RootMsg::Update(Box::new(info.clone())));
        info
    }

    /// Moves the session to `to` if the state machine allows it, publishing
    /// `state_changed` (under the lock, so the stream has the true order).
    /// Returns whether it moved.
    pub(crate) fn transition(
        &self,
        to: SessionState,
        reason: &str,
        excerpt: Option<String>,
        provenance: Option<Provenance>,
    ) -> bool {
        let info = {
            let mut g = lock(&self.info);
            let from = g.state;
            if from == to || check_transition(from, to).is_err() {
                return false;
            }
            g.state = to;
            self.bus.publish(
                Some(self.id),
                EventKind::StateChanged { from, to, reason: reason.to_string(), excerpt, provenance },
            );
            self.state_tx.send_replace(to);
            g.clone()
        };
        let _ = self.root.cast(RootMsg::Update(Box::new(info)));
        true
    }

    pub(crate) fn pty(&self) -> Option<ActorRef<PtyMsg>> {
        lock(&self.pty).clone()
    }

    pub(crate) fn set_pty(&self, pty: Option<ActorRef<PtyMsg>>) {
        *lock(&self.pty) = pty;
    }

    /// The adapter's verdict on the screen now, with the session's own
    /// loading patterns applied.
    pub(crate) fn classify_view(&self, view: &View) -> Verdict {
        let mut verdict = self.adapter.classify(&view.screen_view());
        if !self.config.loading.is_empty() {
            let bottom = bottom_lines(&view.text, 3);
            if let Some(re) = self.config.loading.iter().find(|re| re.is_match(bottom)) {
                verdict.loading = true;
                if verdict.state == warden_adapters::ScreenState::Unknown {
                    verdict.state = warden_adapters::ScreenState::Busy;
                    verdict.provenance = Some(Provenance {
                        adapter: self.adapter.name.clone(),
                        rule: "session-loading".into(),
                        region: "bottom:3".into(),
                        evidence: truncate_chars(re.find(bottom).map(|m| m.as_str()).unwrap_or_default().trim(), 200),
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

    pub(crate) fn pending(&self) -> Vec<PendingConfirmation> {
        lock(&self.pending).clone()
    }

    pub(crate) fn lock_rules(&self) -> MutexGuard<'_, Vec<CompiledRule>> {
        lock(&self.rules)
    }

    pub(crate) fn lock_pending(&self) -> MutexGuard<'_, Vec<PendingConfirmation>> {
        lock(&self.pending)
    }

    pub(crate) fn lock_memory(&self) -> MutexGuard<'_, crate::respond::Memory> {
        lock(&self.memory)
    }

    /// Writes bytes to the terminal without waiting (order is kept by the reactor).
    pub(crate) fn write_raw(&self, data: Vec<u8>, via: InputVia, keys: Vec<String>) {
        match self.pty() {
            Some(pty) => {
                let _ = pty.cast(PtyMsg::Write { data: bytes::Bytes::from(data), via, keys });
            }
            None => tracing::debug!(session = %self.id, "no terminal to write to"),
        }
    }

    /// Writes an adapter's input plan: the first part now, the submit key after its delay.
    pub(crate) fn write_plan(&self, plan: InputPlan, via: InputVia) {
        self.write_raw(plan.first, via, Vec::new());
        if let Some((delay_ms, then)) = plan.then {
            let pty = self.pty();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                if let Some(pty) = pty {
                    let _ = pty.cast(PtyMsg::Write {
                        data: bytes::Bytes::from(then),
                        via: InputVia::Keys,
                        keys: vec!["enter".into()],
                    });
                }
            });
        }
    }

    pub(crate) fn set_sup(&self, sup: ActorRef<SessionMsg>) {
        *lock(&self.sup) = Some(sup);
    }

    pub(crate) fn sup_cast(&self, msg: SessionMsg) -> bool {
        lock(&self.sup).as_ref().is_some_and(|s| s.cast(msg).is_ok())
    }

    pub(crate) fn set_detector(&self, d: Option<ActorRef<DetectorMsg>>) {
        *lock(&self.detector) = d;
    }

    /// Tells the detector that warden typed input (the agent should turn busy).
    pub(crate) fn notify_input(&self) {
        self.want_observers();
        match lock(&self.detector).as_ref() {
            Some(d) => {
                let _ = d.cast(DetectorMsg::InputSent);
            }
            None => self.input_waiting.store(true, Ordering::Release),
        }
    }

    pub(crate) fn has_task_on_ready(&self) -> bool {
        lock(&self.config.task_on_ready).is_some()
    }

    /// Takes the note that input was typed before the detector ran.
    pub(crate) fn take_input_waiting(&self) -> bool {
        self.input_waiting.swap(false, Ordering::AcqRel)
    }

    /// Asks the supervisor for the observer actors, once.
    pub(crate) fn want_observers(&self) {
        if !self.observers_started.load(Ordering::Acquire) && !self.observers_started.swap(true, Ordering::AcqRel) {
            self.sup_cast(SessionMsg::StartObservers);
        }
    }

    /// Marks the observers as started (when the supervisor starts them itself).
    pub(crate) fn observers_started(&self) {
        self.observers_started.store(true, Ordering::Release);
    }

    /// Decides what the end of the agent process means for the session.
    pub(crate) fn process_ended(&self, exit: &ExitInfo, requested: bool) -> AfterExit {
        let forced = self.restarting.swap(false, Ordering::AcqRel);
        let ending = if requested && !forced {
            Ending::Requested
        } else if exit.code == Some(0) && !forced {
            Ending::Success
        } else {
            Ending::Failure
        };
        let now = self.origin.elapsed();
        let decision = if forced {
            // An escalation asked for this restart: it has its own history and
            // limit, whatever the session's policy.
            lock(&self.forced_restart).on_end(Ending::Failure, now)
        } else {
            lock(&self.restart).on_end(ending, now)
        };
        let what = match (exit.code, exit.signal) {
            _ if forced => "restart requested by the stall escalation".to_string(),
            (Some(c), _) => format!("exited with code {c}"),
            (None, Some(sig)) => format!("killed by signal {sig}"),
            _ => "ended".to_string(),
        };
        match decision {
            Decision::Stay => AfterExit::End(exit.clone()),
            Decision::Restart { after, attempt } => AfterExit::Restart { after, attempt, reason: what },
            Decision::GiveUp { reason } => AfterExit::GiveUp {
                exit: ExitInfo { code: exit.code, signal: exit.signal, reason: "failed".into() },
                reason: format!("{what}; {reason}"),
            },
        }
    }

    /// A new process of the session runs.
    pub(crate) fn process_started(&self) {
        let now = self.origin.elapsed();
        lock(&self.restart).on_started(now);
        lock(&self.forced_restart).on_started(now);
    }

    /// Records the end and answers every waiter.
    pub(crate) fn finish(&self, exit: ExitInfo) {
        *lock(&self.exit) = Some(exit.clone());
        for w in lock(&self.waiters).drain(..) {
            let _ = w.send(exit.clone());
        }
    }

    /// Answers `reply` when the session has ended (at once if it has).
    pub(crate) fn wait_exit(&self, reply: RpcReplyPort<ExitInfo>) {
        let exit = lock(&self.exit).clone();
        match exit {
            Some(e) => {
                let _ = reply.send(e);
            }
            None => lock(&self.waiters).push(reply),
        }
    }

    pub(crate) fn next_input(&self) -> u64 {
        self.input_seq.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// The last `n` lines of `text` (a suffix slice).
pub(crate) fn bottom_lines(text: &str, n: usize) -> &str {
    let trimmed = text.trim_end_matches('\n');
    let mut start = trimmed.len();
    for _ in 0..n {
        match trimmed[..start].rfind('\n') {
            Some(i) => start = i,
            None => return trimmed,
        }
    }
    &trimmed[start + 1..]
}

/// Compiles a caller's rules, giving ids to those without.
pub(crate) fn compile_rules(
    rules: &[warden_core::ResponseRule],
    source: &'static str,
    seq: &AtomicU64,
) -> Result<Vec<CompiledRule>, String> {
    if rules.len() > 256 {
        return Err(format!("{} rules; at most 256 per call", rules.len()));
    }
    rules
        .iter()
        .map(|r| {
            if r.pattern.len() > 4096 {
                return Err("a rule pattern is longer than 4096 bytes".to_string());
            }
            let regex = regex::RegexBuilder::new(&r.pattern)
                .multi_line(true)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| format!("pattern `{}`: {e}", truncate_chars(&r.pattern, 80)))?;
            if let warden_core::Reply::Keys(keys) = &r.reply {
                warden_core::keys::keys_bytes(keys).map_err(|e| e.to_string())?;
            }
            let id = match &r.id {
                Some(id) if !id.trim().is_empty() => truncate_chars(id.trim(), 64),
                _ => format!("rule-{}", seq.fetch_add(1, Ordering::Relaxed) + 1),
            };
            Ok(CompiledRule { id, source, regex, spec: r.clone() })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bottom_lines_are_suffixes() {
        assert_eq!(bottom_lines("a\nb\nc\n\n", 2), "b\nc");
        assert_eq!(bottom_lines("a", 3), "a");
        assert_eq!(bottom_lines("", 1), "");
    }

    #[test]
    fn rules_compile_with_ids_and_typed_errors() {
        let seq = AtomicU64::new(0);
        let rules = vec![warden_core::ResponseRule::new("y/N", warden_core::Reply::Text("y".into()))];
        let c = compile_rules(&rules, "session", &seq).expect("compiles");
        assert_eq!(c[0].id, "rule-1");
        let bad = vec![warden_core::ResponseRule::new("(", warden_core::Reply::Text("y".into()))];
        assert!(compile_rules(&bad, "session", &seq).is_err());
        let keys = vec![warden_core::ResponseRule::new("x", warden_core::Reply::Keys(vec!["nokey".into()]))];
        assert!(compile_rules(&keys, "session", &seq).is_err());
    }
}
