//! [`Warden`]: the embedding handle.
//!
//! Sessions here; workspaces in [`workspaces`].

mod terminal;
mod workspaces;

pub use terminal::TerminalAttachment;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ractor::{Actor, ActorRef};
use tracing::{debug, info, info_span, warn};
use warden_core::{
    Delivery, ExitInfo, InputVia, PendingConfirmation, Reply, ResponseRule, ScreenSnapshot, SessionFilter, SessionId,
    SessionInfo, SessionSpec, SessionState, TermSize, event, keys,
};

use crate::budget::{Budget, BudgetError};
use crate::bus::{BusLimits, EventBus, Subscription};
use crate::context::Ctx;
use crate::error::{SessionError, StartError};
use crate::instance::{self, InstanceGuard};
use crate::msg::{PtyMsg, SessionMsg};
use crate::reactor::ReactorHandle;
use crate::restarts::Restarts;
use crate::root::{RootMsg, WardenSupervisor};
use crate::rules::RuleBook;
use crate::session_core::{CoreParts, SessionConfig, SessionCore};
use crate::stop::StopReason;
use crate::sys;
use crate::sys::spawn::{SpawnRequest, resolve_program};
use crate::typist::{Typist, call_pty};

/// How long a call into the actor tree may take before it is an internal error.
const CALL_TIMEOUT_MS: u64 = 30_000;

/// Configuration of a warden instance.
#[derive(Debug, Clone)]
pub struct WardenConfig {
    /// Node name carried by every event (default: [`node_name_for`] the
    /// state directory: the host name and a short hash of the directory).
    pub node: String,
    /// Where transcripts, session records and instance locks live.
    pub state_dir: PathBuf,
    /// Event bus bounds.
    pub bus: BusLimits,
    /// Output bytes kept per session for redrawing a terminal.
    pub output_ring_bytes: usize,
    /// Write every session's output to `<state_dir>/sessions/<id>/transcript`.
    pub transcripts: bool,
    /// Cap of one transcript file.
    pub transcript_max_bytes: u64,
    /// Time between the polite signals (SIGHUP, SIGTERM) and SIGKILL.
    pub stop_grace: Duration,
    /// Become the subreaper of agents' orphans (Linux), so nothing an agent
    /// started escapes to PID 1. Process-wide; an embedding service that
    /// manages its own orphans can turn it off.
    pub subreaper: bool,
    /// Put each agent in a cgroup v2 of its own under warden's cgroup, where
    /// the host allows it (`cgroup.kill` on stop); otherwise, or when off,
    /// the `/proc` scan alone finds a session's processes. See
    /// [`Warden::containment`].
    pub cgroups: bool,
    /// Names of warden's environment variables passed to agents in addition
    /// to [`crate::env::DEFAULT_PASSTHROUGH`].
    pub env_passthrough: Vec<String>,
    /// Most live sessions at once.
    pub max_sessions: usize,
    /// Ended sessions kept for `get`/`list`.
    pub retain_exited: usize,
    /// Git workspaces: base directory (default `<state_dir>/workspaces`),
    /// commit identity, git and GitHub settings.
    pub workspace: crate::workspace::WorkspaceConfig,
    /// The adapters sessions are read with (built-in ones, plus generic ones
    /// from the user's manifests).
    pub adapters: Arc<warden_adapters::Registry>,
    /// The rule overlays directory: `<agent>.d/*.toml` files laid over
    /// [`WardenConfig::adapters`] and picked up by the running node (see
    /// `docs/ADAPTERS.md`, "Rule overlays"). `None`: no overlays.
    pub adapter_overlays: Option<PathBuf>,
    /// How often the overlays directory is looked at.
    pub overlay_poll: Duration,
    /// Asked about stalls the adapter does not recognise (none by default).
    pub classifier: Option<Arc<dyn crate::classifier::StallClassifier>>,
    /// How long `send` waits for the screen to show input taken.
    pub input_ack_timeout: Duration,
    /// Answer the terminal queries of sessions no terminal is attached to (device
    /// attributes, cursor position, colours, size) from the screen model (default on).
    /// A terminal attached with [`Warden::attach_terminal`] answers by itself.
    pub answer_terminal_queries: bool,
    /// Budgets of what callers can make the node hold (rules, patterns,
    /// pending confirmations, screen size).
    pub budgets: crate::budget::Budgets,
    /// Tasks: retention of scratch directories and records.
    pub tasks: crate::task::TaskConfig,
    /// How many ended sessions' directories (transcript and record) are
    /// kept on disk, how many bytes and how old; applied when warden starts
    /// and after sessions end (at most every few seconds).
    pub session_retention: warden_core::retention::SessionRetention,
}

impl std::fmt::Debug for dyn crate::classifier::StallClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StallClassifier({})", self.name())
    }
}

impl WardenConfig {
    /// Defaults, with state kept in `state_dir`.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        let state_dir = state_dir.into();
        WardenConfig {
            node: node_name_for(&state_dir),
            state_dir,
            bus: BusLimits::default(),
            output_ring_bytes: 64 * 1024,
            transcripts: true,
            transcript_max_bytes: 1 << 30,
            stop_grace: Duration::from_secs(3),
            subreaper: true,
            cgroups: true,
            env_passthrough: Vec::new(),
            max_sessions: 4096,
            retain_exited: 1024,
            workspace: crate::workspace::WorkspaceConfig::default(),
            adapters: Arc::new(warden_adapters::Registry::builtin().clone()),
            adapter_overlays: None,
            overlay_poll: Duration::from_secs(1),
            classifier: None,
            input_ack_timeout: Duration::from_secs(3),
            answer_terminal_queries: true,
            budgets: crate::budget::Budgets::default(),
            tasks: crate::task::TaskConfig::default(),
            session_retention: warden_core::retention::SessionRetention::default(),
        }
    }

    /// `$XDG_STATE_HOME/warden`, or `~/.local/state/warden`.
    pub fn default_state_dir() -> PathBuf {
        if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
            return PathBuf::from(dir).join("warden");
        }
        match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
            Some(home) => PathBuf::from(home).join(".local/state/warden"),
            None => std::env::temp_dir().join("warden-state"),
        }
    }
}

impl WardenConfig {
    /// `$XDG_CONFIG_HOME/warden`, or `~/.config/warden`: where a person's warden
    /// configuration lives (rule overlays under `adapters/`).
    pub fn default_config_dir() -> PathBuf {
        if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
            return PathBuf::from(dir).join("warden");
        }
        match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
            Some(home) => PathBuf::from(home).join(".config/warden"),
            None => std::env::temp_dir().join("warden-config"),
        }
    }

    /// The rule overlays directory of a configuration directory: `<config>/adapters`.
    pub fn overlays_dir(config_dir: &Path) -> PathBuf {
        config_dir.join("adapters")
    }
}

impl Default for WardenConfig {
    fn default() -> Self {
        Self::new(Self::default_state_dir())
    }
}

/// The default node name of a warden on `state_dir`: the host name, a dash
/// and 8 hex digits of a hash of the state directory's absolute path. So
/// two wardens on one host with different state directories never share a
/// name by default, and one state directory keeps its name across restarts.
pub fn node_name_for(state_dir: &Path) -> String {
    let abs = std::path::absolute(state_dir).unwrap_or_else(|_| state_dir.to_path_buf());
    // FNV-1a: stable across builds and platforms (std's hasher is not).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in abs.as_os_str().as_encoded_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{}-{:08x}", default_node_name(), (h ^ (h >> 32)) as u32)
}

/// The host name, or `node` when it cannot be read.
pub fn default_node_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "node".into())
}

struct Inner {
    config: WardenConfig,
    bus: EventBus,
    reactor: ReactorHandle,
    root: ActorRef<RootMsg>,
    instance: InstanceGuard,
    workspaces: crate::workspace::Workspaces,
    tasks: crate::task::Tasks,
    /// The node's adapters with the rule overlays, shared by every session.
    adapters: Arc<crate::adapter_book::AdapterBook>,
    /// Compiled rule memory charged by every session ([`crate::budget::Budgets::node_rule_bytes`]).
    rule_memory: crate::budget::RuleMemory,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Last handle gone without `shutdown`: end every agent now.
        self.reactor.shutdown_now();
        self.root.stop(StopReason::Dropped.reason());
    }
}

/// A running warden: supervises agent sessions in pseudo-terminals and
/// reports everything they do as one ordered event stream.
///
/// Cheap to clone; every clone drives the same instance. Must be used inside
/// a multi-threaded tokio runtime.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use warden_actors::{Warden, WardenConfig};
/// use warden_core::{EventKind, SessionSpec};
///
/// let warden = Warden::start(WardenConfig::new("/tmp/warden-demo")).await?;
/// let mut events = warden.subscribe(None);
/// let session = warden.spawn(SessionSpec::new("shell", "bash").args(["--norc", "-i"])).await?;
/// warden.send(session.id, "echo hello; exit 3").await?;
/// while let Some(event) = events.recv().await {
///     if let EventKind::Exited(exit) = &event.kind {
///         assert_eq!(exit.code, Some(3));
///         break;
///     }
/// }
/// warden.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Warden {
    inner: Arc<Inner>,
}

impl Warden {
    /// Starts an instance: state directory, instance lock, sweep of agents
    /// left by a warden that died, the PTY reactor and the actor tree.
    pub async fn start(config: WardenConfig) -> Result<Warden, StartError> {
        let state_dir = config.state_dir.clone();
        let state_err = |source| StartError::StateDir { path: state_dir.clone(), source };
        std::fs::create_dir_all(&state_dir).map_err(state_err)?;
        let instance = instance::acquire(&state_dir, config.cgroups).map_err(state_err)?;
        instance::sweep_dead_instances(&state_dir, &instance.id);
        info!(containment = %instance.containment.describe(), "containment");
        if config.subreaper
            && let Err(e) = sys::set_child_subreaper()
        {
            warn!(error = %e, "cannot become subreaper; orphans of agents will go to PID 1");
        }
        let sessions_log =
            instance.sessions_log().map_err(|e| warn!(error = %e, "cannot open the instance's session list")).ok();
        let retention = config.transcripts.then(|| crate::transcript::Retention {
            sessions: state_dir.join("sessions"),
            policy: config.session_retention,
        });
        let reactor = ReactorHandle::start("warden-pty", instance.containment.clone(), sessions_log, retention)
            .map_err(|e| StartError::Runtime(e.to_string()))?;
        // Ended sessions' directories beyond the policy, also those of
        // instances that died (their records were just closed), go now.
        reactor.transcripts().prune();
        let bus = EventBus::new(config.node.clone(), config.bus);
        let ctx = Arc::new(Ctx {
            reactor: reactor.clone(),
            bus: bus.clone(),
            ring_bytes: config.output_ring_bytes,
            state_dir: state_dir.clone(),
            transcripts: config.transcripts,
            transcript_max_bytes: config.transcript_max_bytes,
            max_sessions: config.max_sessions,
            retain_exited: config.retain_exited,
        });
        let (root, _) =
            Actor::spawn(None, WardenSupervisor, ctx).await.map_err(|e| StartError::Runtime(e.to_string()))?;
        let workspaces = crate::workspace::start(&config.workspace, &state_dir, bus.clone(), root.get_cell())
            .await
            .map_err(|e| StartError::Runtime(format!("workspaces: {e}")))?;
        info!(node = %config.node, state_dir = %state_dir.display(), instance = %instance.id, "warden started");
        let tasks = crate::task::Tasks::start(&config, &bus).map_err(|e| StartError::Runtime(format!("tasks: {e}")))?;
        let (base, overlays) = (Arc::clone(&config.adapters), config.adapter_overlays.clone());
        let adapters = tokio::task::spawn_blocking(move || crate::adapter_book::AdapterBook::new(base, overlays))
            .await
            .map(Arc::new)
            .map_err(|e| StartError::Runtime(format!("adapter overlays: {e}")))?;
        if config.adapter_overlays.is_some() {
            crate::adapter_book::watch(Arc::downgrade(&adapters), config.overlay_poll);
        }
        let rule_memory = crate::budget::RuleMemory::new(config.budgets.node_rule_bytes);
        let warden = Warden {
            inner: Arc::new(Inner { config, bus, reactor, root, instance, workspaces, tasks, adapters, rule_memory }),
        };
        warden.recover_tasks().await;
        Ok(warden)
    }

    pub(crate) fn tasks(&self) -> &crate::task::Tasks {
        &self.inner.tasks
    }

    /// A handle that does not keep the instance alive (for task actors).
    pub(crate) fn downgrade(&self) -> WeakWarden {
        WeakWarden(Arc::downgrade(&self.inner))
    }

    /// The configuration this instance runs with.
    pub fn config(&self) -> &WardenConfig {
        &self.inner.config
    }

    /// How this instance finds (and ends) every process of a session: a
    /// cgroup v2 per agent, or the `/proc` scan fallback.
    pub fn containment(&self) -> &crate::Containment {
        &self.inner.instance.containment
    }

    /// This instance's id (a UUID v7, so ids sort by start time); every
    /// agent it starts carries it as `WARDEN_INSTANCE`.
    pub fn instance_id(&self) -> &str {
        &self.inner.instance.id
    }

    /// The node name.
    pub fn node(&self) -> &str {
        &self.inner.config.node
    }

    pub(crate) fn workspaces(&self) -> &crate::workspace::Workspaces {
        &self.inner.workspaces
    }

    /// The event bus, subscribe-only: publishing stays inside warden's actors.
    pub fn bus(&self) -> &EventBus {
        &self.inner.bus
    }

    /// Starts a session. Returns once the process runs; its output then
    /// flows as events. If the spec has a task, it is typed in and submitted.
    pub async fn spawn(&self, spec: SessionSpec) -> Result<SessionInfo, SessionError> {
        spec.validate()?;
        let id = SessionId::new();
        let span = info_span!("spawn", session = %id, agent = %spec.agent);
        let _enter = span.enter();
        let workdir = match &spec.workdir {
            Some(dir) => dir.clone(),
            None => std::env::current_dir()
                .map_err(|e| SessionError::BadWorkdir { path: ".".into(), reason: e.to_string() })?,
        };
        check_workdir(&workdir)?;
        let env = crate::env::child_env(
            std::env::vars_os(),
            &self.inner.config.env_passthrough,
            &spec.env,
            &id.to_string(),
            &self.inner.instance.id,
        );
        let program = program_in(&spec, &env, &workdir)?;
        let info = SessionInfo {
            id,
            agent: spec.agent.clone(),
            program: program.display().to_string(),
            args: spec.args.clone(),
            workdir: workdir.clone(),
            pid: None,
            state: SessionState::Starting,
            size: spec.size,
            label: spec.label.clone(),
            created_at: event::timestamp(std::time::SystemTime::now()),
            exit: None,
        };
        let adapter = self.inner.adapters.adapter(&spec.agent);
        let mut stall = spec.stall.config();
        if spec.stall.ladder.is_none()
            && let Some(ladder) = &adapter.stall_ladder
        {
            stall.ladder = ladder.clone();
        }
        let budgets = self.inner.config.budgets;
        self.check_screen(spec.size)?;
        let rules = RuleBook::compile(&spec.rules, &spec.loading, budgets, self.inner.rule_memory.clone())?;
        // A program that reads typed-ahead input (a shell) gets the task at once;
        // a TUI gets it when it first shows it is ready.
        let (task_now, task_on_ready) =
            if adapter.type_ahead || adapter.rules.is_empty() { (spec.task, None) } else { (None, spec.task) };
        let config = SessionConfig {
            supervision: spec.supervision,
            preset: spec.preset,
            stall,
            stall_enabled: !spec.stall.disabled,
            input_ack_timeout: self.inner.config.input_ack_timeout,
            loop_guard: spec.loop_guard,
            answer_queries: self.inner.config.answer_terminal_queries,
        };
        let core = Arc::new(SessionCore::new(CoreParts {
            info,
            adapters: Arc::clone(&self.inner.adapters),
            config,
            rules,
            typist: Typist::new(id, task_on_ready),
            restarts: Restarts::new(spec.restart, spec.restart_limits.unwrap_or_default()),
            bus: self.inner.bus.clone(),
        }));
        let req = SpawnRequest { program, args: spec.args, env, cwd: workdir, size: spec.size };
        let classifier = self.inner.config.classifier.clone();
        let info =
            self.call(|reply| RootMsg::Spawn { core, task: task_now, req: Box::new(req), classifier, reply }).await??;
        info!(pid = ?info.pid, program = %info.program, "session spawned");
        Ok(info)
    }

    /// Types `text` and submits it the adapter's way (text and Enter, or a
    /// bracketed paste and a separate Enter for TUIs), then waits until the
    /// screen shows the input taken (the agent turned busy, or the input line
    /// cleared) or [`WardenConfig::input_ack_timeout`] passed. Just before
    /// writing it re-reads the screen: if a blocking prompt appeared, nothing
    /// is written and the input is reported undelivered, so the prompt does
    /// not swallow the keystrokes. Emits `input_delivered` or `input_undelivered`.
    pub async fn send(&self, id: SessionId, text: &str) -> Result<Delivery, SessionError> {
        let core = self.session(id).await?;
        crate::ack::send_acknowledged(&core, text).await
    }

    /// Types `text` and a carriage return without waiting for the screen.
    pub async fn send_nowait(&self, id: SessionId, text: &str) -> Result<(), SessionError> {
        let mut data = Vec::with_capacity(text.len() + 1);
        data.extend_from_slice(text.as_bytes());
        data.push(b'\r');
        self.input(id, Bytes::from(data), InputVia::Text, Vec::new()).await
    }

    /// The session's screen now: text, cursor, title.
    /// Works for ended sessions too (their final screen), while they are retained.
    pub async fn snapshot(&self, id: SessionId) -> Result<ScreenSnapshot, SessionError> {
        let core = self.call(|reply| RootMsg::Core { id, reply }).await??;
        Ok(core.screen.snapshot())
    }

    /// What the session's adapter reads on its screen now (state, provenance,
    /// login, blocking prompt), without changing anything.
    pub async fn classify(&self, id: SessionId) -> Result<warden_adapters::Verdict, SessionError> {
        let s = self.session(id).await?;
        Ok(s.classify_now())
    }

    /// Prompts of the session waiting for a caller's answer.
    pub async fn pending_confirmations(&self, id: SessionId) -> Result<Vec<PendingConfirmation>, SessionError> {
        Ok(self.session(id).await?.pending())
    }

    /// Answers a pending confirmation: sends `reply`, or the suggested answer when `None`.
    pub async fn confirm(&self, id: SessionId, confirmation: &str, reply: Option<Reply>) -> Result<(), SessionError> {
        let s = self.session(id).await?;
        crate::confirm::confirm(&s, confirmation, Some(reply)).await
    }

    /// Declines a pending confirmation: nothing is sent; the prompt stays for a person.
    pub async fn decline(&self, id: SessionId, confirmation: &str) -> Result<(), SessionError> {
        let s = self.session(id).await?;
        crate::confirm::confirm(&s, confirmation, None).await
    }

    /// Adds auto-response rules to a running session; returns their ids.
    pub async fn add_rules(&self, id: SessionId, rules: Vec<ResponseRule>) -> Result<Vec<String>, SessionError> {
        let s = self.session(id).await?;
        let ids = s.rules.add(&rules)?;
        s.want_observers();
        s.screen.poke();
        Ok(ids)
    }

    /// Removes the caller's rules (given at spawn or added since) from a
    /// session; the adapter's built-in rules stay. Returns how many were removed.
    pub async fn clear_rules(&self, id: SessionId) -> Result<usize, SessionError> {
        let s = self.session(id).await?;
        Ok(s.rules.clear())
    }

    /// Sends named keys (`enter`, `ctrl+c`, `shift+tab`, …) in order.
    pub async fn send_keys<S: AsRef<str>>(&self, id: SessionId, names: &[S]) -> Result<(), SessionError> {
        let data = keys::keys_bytes(names)?;
        let canonical =
            names.iter().map(|n| keys::canonical_key_name(n.as_ref()).unwrap_or_else(|| n.as_ref().into())).collect();
        self.input(id, Bytes::from(data), InputVia::Keys, canonical).await
    }

    /// Pastes text, wrapped in bracketed-paste markers when `bracketed`.
    pub async fn paste(&self, id: SessionId, text: &str, bracketed: bool) -> Result<(), SessionError> {
        let data = if bracketed { keys::bracketed_paste(text) } else { text.as_bytes().to_vec() };
        self.input(id, Bytes::from(data), InputVia::Paste, Vec::new()).await
    }

    /// Writes raw bytes to the terminal: a person's keystrokes (an attached
    /// terminal, `warden run`). An Enter among them while a confirmation is
    /// pending answered its prompt on the agent's screen: the oldest pending
    /// confirmation is resolved `on_screen`.
    pub async fn write(&self, id: SessionId, data: impl Into<Bytes>) -> Result<(), SessionError> {
        let data = data.into();
        let enter = keys::has_enter(&data);
        let core = self.session(id).await?;
        core.typist.input(data, InputVia::Raw, Vec::new()).await?;
        if enter {
            crate::confirm::answered_on_screen(&core);
        }
        Ok(())
    }

    pub(crate) async fn input(
        &self,
        id: SessionId,
        data: Bytes,
        via: InputVia,
        keys: Vec<String>,
    ) -> Result<(), SessionError> {
        self.session(id).await?.typist.input(data, via, keys).await
    }

    /// The adapters this node reads sessions with and launches agents by now: the
    /// configured ones with the rule overlays ([`WardenConfig::adapter_overlays`]) as
    /// they are now.
    pub fn adapters(&self) -> Arc<warden_adapters::Registry> {
        self.inner.adapters.registry()
    }

    pub(crate) async fn session(&self, id: SessionId) -> Result<Arc<SessionCore>, SessionError> {
        self.call(|reply| RootMsg::Lookup { id, reply }).await?
    }

    /// Test support: makes the session's `stall_detector` or `auto_responder`
    /// panic on its next message (the supervisor restarts it).
    #[cfg(feature = "test-hooks")]
    pub async fn inject_fault(&self, id: SessionId, actor: warden_core::ActorKind) -> Result<(), SessionError> {
        let s = self.session(id).await?;
        let flag = match actor {
            warden_core::ActorKind::StallDetector => &s.faults.detector,
            warden_core::ActorKind::AutoResponder => &s.faults.responder,
        };
        flag.store(true, std::sync::atomic::Ordering::Release);
        s.screen.poke();
        Ok(())
    }

    /// Test support: until the returned guard is dropped, a confirmed answer to
    /// this session waits between its two steps (publishing the resolution and
    /// typing the answer).
    #[cfg(feature = "test-hooks")]
    pub async fn hold_confirmed_answers(
        &self,
        id: SessionId,
    ) -> Result<tokio::sync::OwnedRwLockWriteGuard<()>, SessionError> {
        let s = self.session(id).await?;
        Ok(std::sync::Arc::clone(&s.faults.confirm_gate).write_owned().await)
    }

    /// Test support: until the returned guard is dropped, a process of this
    /// session that ended and is to be restarted waits before its supervisor
    /// is told (after `restarting` is published).
    #[cfg(feature = "test-hooks")]
    pub async fn hold_respawns(&self, id: SessionId) -> Result<tokio::sync::OwnedRwLockWriteGuard<()>, SessionError> {
        let s = self.session(id).await?;
        Ok(std::sync::Arc::clone(&s.faults.respawn_gate).write_owned().await)
    }

    /// Test support: fails the session as the stall detector's last
    /// escalation step does (its `error`, the state, then the supervisor
    /// told), at a moment the test picks.
    #[cfg(feature = "test-hooks")]
    pub async fn fail_as_the_detector_does(&self, id: SessionId, reason: &str) -> Result<(), SessionError> {
        let s = self.session(id).await?;
        s.bus.publish(Some(id), warden_core::EventKind::Error { message: reason.to_string() });
        s.transition(SessionState::Failed, reason, None, None);
        s.sup_cast(SessionMsg::Fail { reason: reason.to_string() });
        Ok(())
    }

    /// Test support: whether the session's observer actors (stall detector,
    /// auto-responder) run, or hibernate.
    #[cfg(feature = "test-hooks")]
    pub async fn observers_awake(&self, id: SessionId) -> Result<bool, SessionError> {
        Ok(self.session(id).await?.observers_awake())
    }

    /// A terminal now shows the session and answers its queries itself: until the
    /// returned guard is dropped, warden does not answer them (a reply never comes
    /// twice). The terminal's replies reach the agent like keystrokes ([`Warden::write`]).
    pub async fn attach_terminal(&self, id: SessionId) -> Result<TerminalAttachment, SessionError> {
        Ok(TerminalAttachment::new(self.session(id).await?))
    }

    /// Resizes the terminal; the agent gets SIGWINCH.
    pub async fn resize(&self, id: SessionId, rows: u16, cols: u16) -> Result<(), SessionError> {
        let size = TermSize::new(rows, cols)?;
        self.check_screen(size)?;
        let pty = self.lookup(id).await?;
        call_pty(&pty, |reply| PtyMsg::Resize { size, reply }).await?
    }

    /// Refuses a screen larger than [`crate::budget::Budgets::screen_cells`].
    fn check_screen(&self, size: TermSize) -> Result<(), SessionError> {
        let limit = self.inner.config.budgets.screen_cells;
        let cells = usize::from(size.rows) * usize::from(size.cols);
        if cells > limit {
            return Err(BudgetError::new(Budget::ScreenCells, limit)
                .about(format!("{}x{} is {cells} cells", size.rows, size.cols))
                .into());
        }
        Ok(())
    }

    /// The latest info of a session (live, or ended and still retained).
    pub async fn get(&self, id: SessionId) -> Result<SessionInfo, SessionError> {
        self.call(|reply| RootMsg::Get { id, reply }).await?
    }

    /// Sessions matching `filter`, oldest first.
    pub async fn list(&self, filter: SessionFilter) -> Result<Vec<SessionInfo>, SessionError> {
        self.call(|reply| RootMsg::List { filter, reply }).await
    }

    /// The most recent output of a session (up to the ring size), for redrawing.
    pub async fn recent_output(&self, id: SessionId) -> Result<Vec<u8>, SessionError> {
        let pty = self.lookup(id).await?;
        call_pty(&pty, PtyMsg::RecentOutput).await
    }

    /// Waits until the session's process has exited and all its output was
    /// published; returns how it ended.
    pub async fn wait(&self, id: SessionId) -> Result<ExitInfo, SessionError> {
        let core = self.call(|reply| RootMsg::Core { id, reply }).await??;
        Ok(Self::end_of(&core).await)
    }

    /// How the session of `core` ends: at once when it has ended. Read from
    /// the core itself, not looked up again: the node may let an ended
    /// session go at any moment (`retain_exited`), and a caller that found it
    /// is owed its end.
    async fn end_of(core: &SessionCore) -> ExitInfo {
        let (tx, rx) = tokio::sync::oneshot::channel();
        core.wait_exit(tx.into());
        rx.await.unwrap_or_else(|_| core.info().exit_or_state())
    }

    /// Stops a session: SIGHUP and SIGTERM to everything it started, SIGKILL
    /// after the configured grace; returns once it has exited.
    pub async fn stop(&self, id: SessionId) -> Result<ExitInfo, SessionError> {
        self.stop_with_grace(id, self.inner.config.stop_grace).await
    }

    /// [`Warden::stop`] with an explicit grace period (zero: SIGKILL at once).
    /// A session that has ended already answers with how it ended.
    pub async fn stop_with_grace(&self, id: SessionId, grace: Duration) -> Result<ExitInfo, SessionError> {
        let core = self.call(|reply| RootMsg::Core { id, reply }).await??;
        if core.state().is_live() {
            // Before the signal: a process ending by itself meanwhile ends the
            // session instead of restarting it.
            core.restarts.stop();
            match core.typist.pty() {
                Some(pty) => {
                    pty.cast(PtyMsg::Stop { grace }).map_err(|e| SessionError::Internal(e.to_string()))?;
                }
                // Between two lives of a restart: end it where it is.
                None => {
                    let _ = core.sup_cast(SessionMsg::StopBetweenLives);
                }
            }
        }
        Ok(Self::end_of(&core).await)
    }

    /// Stops every live session, in parallel; returns how many were stopped.
    pub async fn stop_all(&self) -> usize {
        let live = self.list(SessionFilter::live()).await.unwrap_or_default();
        let mut set = tokio::task::JoinSet::new();
        for info in &live {
            let me = self.clone();
            let id = info.id;
            set.spawn(async move { (id, me.stop(id).await) });
        }
        let mut n = 0;
        while let Some(r) = set.join_next().await {
            match r {
                Ok((_, Ok(_))) => n += 1,
                // It ended by itself and was let go before its stop looked.
                Ok((session, Err(SessionError::UnknownSession(_)))) => {
                    debug!(%session, "stopping every session: already gone")
                }
                Ok((session, Err(error))) => warn!(%session, %error, "stopping every session: this one did not stop"),
                Err(error) => warn!(%error, "stopping every session: a stop ended early"),
            }
        }
        n
    }

    /// The program `spec` starts in `workdir`, found as [`Warden::spawn`] finds
    /// it (on the `PATH` the child gets), without starting anything.
    pub(crate) fn program_of(&self, spec: &SessionSpec, workdir: &Path) -> Result<PathBuf, SessionError> {
        let env = crate::env::child_env(
            std::env::vars_os(),
            &self.inner.config.env_passthrough,
            &spec.env,
            "",
            &self.inner.instance.id,
        );
        program_in(spec, &env, workdir)
    }

    /// Stops every session and the instance. Other clones become unusable.
    pub async fn shutdown(&self) {
        // Agents that end now do not end their tasks: the records stay for the next start.
        self.inner.tasks.closing.store(true, std::sync::atomic::Ordering::Release);
        let _ = self.call(RootMsg::Close).await;
        let stopped = self.stop_all().await;
        self.inner.reactor.shutdown(self.inner.config.stop_grace).await;
        self.inner.root.stop(StopReason::Shutdown.reason());
        // Every task record queued so far is on disk before this returns: a
        // task that ended just now is found ended by the next start.
        self.inner.tasks.writer.flush().await;
        info!(stopped, "warden shut down");
    }

    /// Subscribes to the node's events with `seq >= from_seq` (`None`: only
    /// new ones). See [`Subscription`] for the `lagged` marker.
    pub fn subscribe(&self, from_seq: Option<u64>) -> Subscription {
        self.inner.bus.subscribe(from_seq)
    }

    async fn lookup(&self, id: SessionId) -> Result<ActorRef<PtyMsg>, SessionError> {
        let core = self.session(id).await?;
        core.typist.pty().ok_or(SessionError::Exited(id))
    }

    async fn call<T: Send + 'static>(
        &self,
        msg: impl FnOnce(ractor::RpcReplyPort<T>) -> RootMsg,
    ) -> Result<T, SessionError> {
        match self.inner.root.call(msg, Some(Duration::from_millis(CALL_TIMEOUT_MS))).await {
            Ok(ractor::rpc::CallResult::Success(v)) => Ok(v),
            Ok(ractor::rpc::CallResult::Timeout) => Err(SessionError::Internal("the supervisor did not answer".into())),
            Ok(ractor::rpc::CallResult::SenderError) | Err(_) => Err(SessionError::ShuttingDown),
        }
    }
}

/// A [`Warden`] that does not keep the instance alive.
#[derive(Clone)]
pub(crate) struct WeakWarden(std::sync::Weak<Inner>);

impl WeakWarden {
    /// The handle, while the instance lives.
    pub(crate) fn upgrade(&self) -> Option<Warden> {
        self.0.upgrade().map(|inner| Warden { inner })
    }
}

/// `spec`'s program on the `PATH` of the child's environment `env`.
fn program_in(
    spec: &SessionSpec,
    env: &[(std::ffi::OsString, std::ffi::OsString)],
    workdir: &Path,
) -> Result<PathBuf, SessionError> {
    let path_var = env.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v.to_string_lossy().into_owned());
    resolve_program(&spec.program, path_var.as_deref(), workdir)
        .ok_or_else(|| SessionError::ProgramNotFound { program: spec.program.clone() })
}

/// A typed error ([`SessionError::BadWorkdir`]) unless `dir` is an existing
/// directory: the check every session's working directory passes.
pub fn check_workdir(dir: &Path) -> Result<(), SessionError> {
    let bad = |reason: &str| SessionError::BadWorkdir { path: dir.to_path_buf(), reason: reason.into() };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(bad("not a directory")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(bad("does not exist")),
        Err(e) => Err(bad(&e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn default_node_names_differ_per_state_dir_and_stay_put() {
        let a = super::node_name_for(std::path::Path::new("/srv/warden-a"));
        let b = super::node_name_for(std::path::Path::new("/srv/warden-b"));
        assert_ne!(a, b);
        assert_eq!(a, super::node_name_for(std::path::Path::new("/srv/warden-a")));
        let host = super::default_node_name();
        let hash = a.strip_prefix(&format!("{host}-")).expect("host name first");
        assert!(hash.len() == 8 && hash.chars().all(|c| c.is_ascii_hexdigit()), "{a}");
    }
}
