//! Events: everything that happens, as one ordered stream per node.
//!
//! On the wire an event is one JSON object with a version `v`, the node's
//! sequence number `seq`, a timestamp, the node name, the session (absent for
//! node-level events) and a `kind` with its own fields:
//!
//! ```json
//! {"v":1,"seq":7,"ts":"2026-11-25T19:30:00.123Z","node":"n1",
//!  "session":"0193c2b6-7d3a-7c4e-9f00-1a2b3c4d5e6f","kind":"output","data":"hello\r\n"}
//! ```

use std::path::PathBuf;
use std::time::SystemTime;

use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use crate::exit::{ExitInfo, ExitReason};
use crate::ids::SessionId;
use crate::prompt::{ConfirmationKind, ConfirmationOutcome, LoginKind, PromptKind};
use crate::spec::TermSize;
use crate::stall::{Classification, EscalationStep};
use crate::state::SessionState;
use crate::supervise::{Provenance, RuleSource};
use crate::task::{ChangeSource, SessionSignal, StatusReason, TaskId, TaskStatus};
use crate::wire::wire_enum;
use crate::workspace::{BranchName, Step, WorkspaceErrorCode, WorkspaceId};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

/// The event schema version carried in `v`.
pub const EVENT_VERSION: u32 = 1;

/// One event of a node's stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Schema version, [`EVENT_VERSION`].
    pub v: u32,
    /// Position in the node's stream: strictly increasing, without gaps.
    pub seq: u64,
    /// When the event was recorded (RFC 3339, UTC, milliseconds).
    pub ts: String,
    /// The node that recorded it.
    pub node: String,
    /// The session it concerns; absent for node-level events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionId>,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    /// A new event stamped with the current time.
    pub fn new(seq: u64, node: impl Into<String>, session: Option<SessionId>, kind: EventKind) -> Self {
        Event { v: EVENT_VERSION, seq, ts: timestamp(SystemTime::now()), node: node.into(), session, kind }
    }

    /// The snake_case kind name, as in the `kind` field.
    pub fn kind_name(&self) -> &'static str {
        self.kind.name()
    }

    /// A rough count of the bytes this event holds, for bounding buffers.
    pub fn approx_size(&self) -> usize {
        let payload = match &self.kind {
            EventKind::Output(o) => o.bytes.len(),
            _ => 64,
        };
        96 + self.node.len() + payload
    }

    /// One JSON line (no trailing newline).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("events always serialise: every field is plain data")
    }
}

/// What happened, with the fields of that kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// The process runs.
    SessionStarted {
        /// Adapter name.
        agent: String,
        /// Program as resolved.
        program: String,
        /// Arguments.
        args: Vec<String>,
        /// Process id of the agent (leader of its own session and group).
        pid: u32,
        /// Working directory.
        workdir: PathBuf,
        /// Terminal size.
        size: TermSize,
        /// Label given by the caller.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
    },
    /// Bytes the agent wrote to its terminal.
    Output(Output),
    /// Input written to the agent. The content is not recorded (it may carry
    /// secrets); only its form and length, and key names for keys.
    Input {
        /// `text`, `keys`, `paste` or `raw`.
        via: InputVia,
        /// Bytes written.
        len: usize,
        /// Key names, for `keys`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        keys: Vec<String>,
    },
    /// The terminal was resized.
    Resized {
        /// New size.
        size: TermSize,
    },
    /// The session moved from one state to another.
    StateChanged {
        /// Previous state.
        from: SessionState,
        /// New state.
        to: SessionState,
        /// Why, in a few words.
        reason: String,
        /// A short excerpt of the screen that caused it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        excerpt: Option<String>,
        /// The adapter rule that decided, with its evidence (screen-driven changes).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provenance: Option<Provenance>,
    },
    /// The process has exited and every byte it wrote has been delivered.
    Exited(ExitInfo),
    /// Something went wrong on warden's side for this session or node.
    Error {
        /// What went wrong.
        message: String,
    },
    /// Not a stream event: a marker a subscriber receives in place of events
    /// it fell too far behind to get. `seq` is the last one missed.
    Lagged {
        /// How many events were missed.
        missed: u64,
    },
    /// The on-disk transcript reached its size cap; later bytes are not stored.
    TranscriptTruncated {
        /// Bytes stored.
        bytes: u64,
    },
    /// Provisioning of a workspace started (node-level: no session).
    WorkspaceProvisioning {
        /// The workspace.
        workspace: WorkspaceId,
        /// Source repository (URL without userinfo, or path).
        repo: String,
        /// Branch the workspace will work on.
        branch: BranchName,
        /// Parent workspace, for worktrees.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parent: Option<WorkspaceId>,
    },
    /// A workspace is ready for an agent.
    WorkspaceReady {
        /// The workspace.
        workspace: WorkspaceId,
        /// Its directory.
        path: PathBuf,
        /// Its branch.
        branch: BranchName,
        /// The branch it was created from.
        base: String,
    },
    /// A commit was made in a workspace.
    Committed {
        /// The workspace.
        workspace: WorkspaceId,
        /// Commit id (hex).
        commit: String,
        /// Paths changed by the commit.
        files: Vec<String>,
    },
    /// A workspace's branch was pushed.
    Pushed {
        /// The workspace.
        workspace: WorkspaceId,
        /// Remote name.
        remote: String,
        /// Branch pushed.
        branch: BranchName,
        /// Commit the remote branch now points at.
        commit: String,
    },
    /// A pull request was opened from a workspace's branch.
    PrCreated {
        /// The workspace.
        workspace: WorkspaceId,
        /// Pull-request number.
        number: u64,
        /// Its web URL.
        url: String,
    },
    /// A workspace's directory was removed.
    WorkspaceCleaned {
        /// The workspace.
        workspace: WorkspaceId,
        /// Whether uncommitted or unpushed work may have been discarded.
        forced: bool,
    },
    /// The agent asks for a login before it can work.
    LoginRequired {
        /// `oauth`, `api_key`, `cli_auth`, … (see [`LoginKind`]).
        login_kind: LoginKind,
        /// The sign-in URL on screen, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        /// A device code on screen, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
        /// What a person should do.
        instructions: String,
        /// The sign-in choices on screen.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        choices: Vec<String>,
        /// Rule and evidence.
        provenance: Provenance,
    },
    /// A prompt that needs an answer is on screen.
    BlockingPrompt {
        /// `permission`, `trust`, `update`, `tos`, `usage_limit`, `provider_unreachable`, …
        prompt_kind: PromptKind,
        /// The prompt's text.
        prompt: String,
        /// The choices on screen.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        choices: Vec<String>,
        /// Whether the adapter says it is safe to answer without asking.
        safe: bool,
        /// The answer the adapter suggests, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        suggested: Option<String>,
        /// Rule and evidence.
        provenance: Provenance,
    },
    /// The agent CLI refused to start as launched: an argument or usage error, an
    /// unknown option, a "requires a newer version", or a crash before it drew
    /// anything it is known for — recognised on its last screen when it exited within
    /// the first seconds. Published just before `exited`; no restart follows.
    LaunchRejected {
        /// The CLI's own message, one line (wrapped screen lines joined).
        message: String,
        /// Its exit code, when it exited normally.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<i32>,
        /// The signal that ended it, if one did (a crash).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signal: Option<i32>,
        /// Milliseconds from the start of the process to its exit.
        elapsed_ms: u64,
        /// The adapter rule that recognised the message; absent for a crash on start
        /// that no rule knows.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provenance: Option<Provenance>,
        /// What to do, from that rule (its description).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hint: Option<String>,
    },
    /// The agent finished its turn: the completion signal held through the settle time.
    TaskComplete {
        /// Rule and evidence.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provenance: Option<Provenance>,
        /// The exit status of the command the turn ran, where the agent reports one
        /// (a shell's prompt hook: `OSC 133 ; D ; status`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<i32>,
    },
    /// A busy agent's screen made no progress for the stall window.
    Stalled {
        /// Milliseconds since the last progress.
        idle_ms: u64,
        /// The window that elapsed.
        window_ms: u64,
        /// A spinner kept moving while nothing else did.
        spinner_only: bool,
        /// The bottom of the screen.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        excerpt: Option<String>,
    },
    /// What a stall was classified as, and by whom.
    StallClassified {
        /// The answer.
        answer: Classification,
        /// `adapter` or the classifier's name.
        source: String,
        /// The next window, when the answer was `still_working`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next_window_ms: Option<u64>,
    },
    /// One step of the escalation ladder of a persisting stall.
    Escalated {
        /// 0-based position on the ladder.
        index: usize,
        /// The step taken.
        step: EscalationStep,
    },
    /// warden answered a prompt by itself.
    AutoResponded {
        /// The rule that fired.
        rule: String,
        /// Where the rule comes from: `session`, `runtime` or `adapter`.
        source: RuleSource,
        /// The matched screen text.
        matched: String,
        /// What was sent: the text, or `keys:a,b`.
        sent: String,
    },
    /// A prompt waits for a caller's answer (`confirm`).
    ConfirmationPending {
        /// Id to answer with.
        id: String,
        /// The prompt kind, or `rule` for a caller's rule.
        prompt_kind: ConfirmationKind,
        /// The prompt's text.
        prompt: String,
        /// The choices on screen.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        choices: Vec<String>,
        /// The suggested answer, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        suggested: Option<String>,
        /// Why it was not answered automatically.
        reason: String,
        /// The rule that recognised it, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rule: Option<String>,
    },
    /// A pending confirmation was answered, declined or went away.
    ConfirmationResolved {
        /// Its id.
        id: String,
        /// `answered`, `declined` or `gone` (the prompt left the screen).
        outcome: ConfirmationOutcome,
        /// What was sent, when answered.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sent: Option<String>,
    },
    /// Input was taken by the agent: the screen showed it.
    InputDelivered {
        /// Number of the input within the session.
        input: u64,
        /// What showed it.
        evidence: String,
    },
    /// Input was written but the screen did not show it taken within the timeout.
    InputUndelivered {
        /// Number of the input within the session.
        input: u64,
        /// Why it counts as undelivered.
        reason: String,
    },
    /// The agent process is restarted by the restart policy.
    Restarting {
        /// Restart number within the policy's window.
        attempt: u32,
        /// Back-off before the new process starts.
        delay_ms: u64,
        /// Why.
        reason: String,
    },
    /// One of warden's own actors of the session failed and was restarted
    /// (the agent, its terminal and its output are untouched).
    ActorRestarted {
        /// `stall_detector` or `auto_responder`.
        actor: ActorKind,
        /// The failure.
        reason: String,
    },
    /// A task was accepted (node-level; its sessions come later).
    TaskCreated {
        /// The task.
        task: TaskId,
        /// Its description's first line.
        summary: String,
        /// The agents asked for (`auto` where the node chooses).
        agents: Vec<String>,
        /// The repository (URL without userinfo, or path), if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        repo: Option<String>,
        /// What is done when the agents are done.
        finalize: crate::task::FinalizeMode,
    },
    /// A task's status changed.
    TaskStatus {
        /// The task.
        task: TaskId,
        /// Previous status.
        from: TaskStatus,
        /// New status.
        to: TaskStatus,
        /// Why.
        reason: StatusReason,
        /// Details for people (redacted).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
        /// Who caused it.
        source: ChangeSource,
    },
    /// One agent's work of a task was finalized as asked.
    TaskFinalized {
        /// The task.
        task: TaskId,
        /// The agent (adapter name).
        agent: String,
        /// Its branch.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        branch: Option<String>,
        /// The commit made, if any (absent when there was nothing to commit).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        commit: Option<String>,
        /// Whether the branch was pushed.
        pushed: bool,
        /// The pull request's URL.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pr_url: Option<String>,
    },
    /// A workspace step failed; the message is redacted.
    WorkspaceFailed {
        /// The workspace.
        workspace: WorkspaceId,
        /// The step that failed.
        step: Step,
        /// Stable error code.
        code: WorkspaceErrorCode,
        /// Redacted error message.
        message: String,
    },
}

impl EventKind {
    /// What this session event means for the session's task, if anything
    /// ([`SessionSignal::status_from`] then says what the task does).
    pub fn task_signal(&self) -> Option<SessionSignal> {
        match self {
            EventKind::StateChanged { to: SessionState::Busy, .. } => Some(SessionSignal::Busy),
            EventKind::ConfirmationPending { .. } => Some(SessionSignal::ConfirmationPending),
            EventKind::LoginRequired { .. } => Some(SessionSignal::LoginRequired),
            EventKind::BlockingPrompt { prompt_kind: PromptKind::UsageLimit, prompt, .. } => {
                Some(SessionSignal::UsageLimit(prompt.clone()))
            }
            EventKind::Stalled { .. } => Some(SessionSignal::Stalled),
            EventKind::TaskComplete { .. } => Some(SessionSignal::Complete),
            EventKind::Exited(exit) => Some(SessionSignal::Exited(exit.code == Some(0))),
            _ => None,
        }
    }

    /// The snake_case name used in the `kind` field.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::SessionStarted { .. } => "session_started",
            EventKind::Output(_) => "output",
            EventKind::Input { .. } => "input",
            EventKind::Resized { .. } => "resized",
            EventKind::StateChanged { .. } => "state_changed",
            EventKind::Exited(_) => "exited",
            EventKind::Error { .. } => "error",
            EventKind::Lagged { .. } => "lagged",
            EventKind::TranscriptTruncated { .. } => "transcript_truncated",
            EventKind::WorkspaceProvisioning { .. } => "workspace_provisioning",
            EventKind::WorkspaceReady { .. } => "workspace_ready",
            EventKind::Committed { .. } => "committed",
            EventKind::Pushed { .. } => "pushed",
            EventKind::PrCreated { .. } => "pr_created",
            EventKind::WorkspaceCleaned { .. } => "workspace_cleaned",
            EventKind::WorkspaceFailed { .. } => "workspace_failed",
            EventKind::LoginRequired { .. } => "login_required",
            EventKind::BlockingPrompt { .. } => "blocking_prompt",
            EventKind::TaskComplete { .. } => "task_complete",
            EventKind::LaunchRejected { .. } => "launch_rejected",
            EventKind::Stalled { .. } => "stalled",
            EventKind::StallClassified { .. } => "stall_classified",
            EventKind::Escalated { .. } => "escalated",
            EventKind::AutoResponded { .. } => "auto_responded",
            EventKind::ConfirmationPending { .. } => "confirmation_pending",
            EventKind::ConfirmationResolved { .. } => "confirmation_resolved",
            EventKind::InputDelivered { .. } => "input_delivered",
            EventKind::InputUndelivered { .. } => "input_undelivered",
            EventKind::Restarting { .. } => "restarting",
            EventKind::ActorRestarted { .. } => "actor_restarted",
            EventKind::TaskCreated { .. } => "task_created",
            EventKind::TaskStatus { .. } => "task_status",
            EventKind::TaskFinalized { .. } => "task_finalized",
        }
    }
}

wire_enum! {
    /// One of warden's own observers of a session, which is restarted when it
    /// fails (`actor` of `actor_restarted`).
    pub enum ActorKind {
        /// Reads the screen: states, prompts, logins, stalls.
        StallDetector = "stall_detector",
        /// Answers prompts and keeps pending confirmations.
        AutoResponder = "auto_responder",
    }
}

/// How input reached the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputVia {
    /// Text followed by the submit key.
    Text,
    /// Named keys.
    Keys,
    /// A (bracketed) paste.
    Paste,
    /// Raw bytes.
    Raw,
}

/// A chunk of terminal output, exact bytes.
///
/// Serialises as `"data"`: the text (invalid UTF-8 replaced by U+FFFD) and,
/// only when the bytes are not valid UTF-8, `"data_b64"`: the exact bytes in
/// standard base64. Chunks are cut on character boundaries by warden, so valid
/// UTF-8 output never gets split into two invalid halves. `"offset"` is where
/// the chunk's first byte stands in everything the session has printed (over
/// restarts too): a reader that sees an offset past the end of the last chunk
/// it got has missed output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The bytes.
    pub bytes: Bytes,
    /// How many bytes the session printed before these.
    pub offset: u64,
}

impl Output {
    /// A chunk at the start of the session's output.
    pub fn new(bytes: impl Into<Bytes>) -> Self {
        Output { bytes: bytes.into(), offset: 0 }
    }

    /// The offset just past this chunk: where the next one starts.
    pub fn end(&self) -> u64 {
        self.offset.saturating_add(self.bytes.len() as u64)
    }

    /// The text, with invalid UTF-8 replaced.
    pub fn text_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.bytes)
    }
}

#[derive(Serialize, Deserialize)]
struct OutputWire<'a> {
    #[serde(borrow)]
    data: std::borrow::Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data_b64: Option<String>,
    #[serde(default)]
    offset: u64,
}

impl Serialize for Output {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (data, data_b64) = match std::str::from_utf8(&self.bytes) {
            Ok(text) => (std::borrow::Cow::Borrowed(text), None),
            Err(_) => (String::from_utf8_lossy(&self.bytes), Some(B64.encode(&self.bytes))),
        };
        OutputWire { data, data_b64, offset: self.offset }.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Output {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = OutputWire::deserialize(d)?;
        let bytes = match wire.data_b64 {
            Some(b) => B64.decode(b.as_bytes()).map_err(serde::de::Error::custom)?,
            None => wire.data.into_owned().into_bytes(),
        };
        Ok(Output { bytes: Bytes::from(bytes), offset: wire.offset })
    }
}

/// RFC 3339 UTC timestamp with milliseconds, e.g. `2026-11-25T19:30:00.123Z`.
pub fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_events_move_live_tasks_only() {
        use crate::exit::{ExitInfo, ExitReason};
        use crate::task::StatusReason;
        let cases = [
            (
                EventKind::ConfirmationPending {
                    id: "c".into(),
                    prompt_kind: crate::ConfirmationKind::Rule,
                    prompt: "?".into(),
                    choices: vec![],
                    suggested: None,
                    reason: "r".into(),
                    rule: None,
                },
                TaskStatus::Running,
                Some((TaskStatus::Waiting, StatusReason::ConfirmationPending)),
            ),
            (
                EventKind::StateChanged {
                    from: SessionState::Blocked,
                    to: SessionState::Busy,
                    reason: "r".into(),
                    excerpt: None,
                    provenance: None,
                },
                TaskStatus::Waiting,
                Some((TaskStatus::Running, StatusReason::AgentBusy)),
            ),
            (
                EventKind::StateChanged {
                    from: SessionState::Ready,
                    to: SessionState::Busy,
                    reason: "r".into(),
                    excerpt: None,
                    provenance: None,
                },
                TaskStatus::Running,
                None,
            ),
            (
                EventKind::Stalled { idle_ms: 1, window_ms: 1, spinner_only: false, excerpt: None },
                TaskStatus::Running,
                Some((TaskStatus::Stalled, StatusReason::Stalled)),
            ),
            (
                EventKind::Stalled { idle_ms: 1, window_ms: 1, spinner_only: false, excerpt: None },
                TaskStatus::Finalizing,
                None,
            ),
        ];
        for (kind, current, expected) in cases {
            let signal = kind.task_signal().expect("a signal");
            assert_eq!(signal.status_from(current), expected, "{} in {current}", kind.name());
        }
        let exit = EventKind::Exited(ExitInfo { code: Some(0), signal: None, reason: ExitReason::Exited });
        assert_eq!(exit.task_signal(), Some(SessionSignal::Exited(true)));
        assert_eq!(EventKind::Lagged { missed: 1 }.task_signal(), None);
    }

    fn sid() -> SessionId {
        "0193c2b6-7d3a-7c4e-9f00-1a2b3c4d5e6f".parse().expect("valid")
    }

    #[test]
    fn output_serialises_as_text() {
        let e = Event::new(
            7,
            "n1",
            Some(sid()),
            EventKind::Output(Output { bytes: Bytes::from_static(b"hello\r\n"), offset: 42 }),
        );
        let json = e.to_json();
        let v: serde_json::Value = serde_json::from_str(&json).expect("json");
        assert_eq!(v["v"], 1);
        assert_eq!(v["seq"], 7);
        assert_eq!(v["kind"], "output");
        assert_eq!(v["data"], "hello\r\n");
        assert_eq!(v["offset"], 42);
        assert_eq!(v["session"], "0193c2b6-7d3a-7c4e-9f00-1a2b3c4d5e6f");
        assert!(v.get("data_b64").is_none());
        let back: Event = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, e);
    }

    #[test]
    fn invalid_utf8_output_round_trips_exactly() {
        let raw = Bytes::from_static(b"ok \xff\xfe\x80 end");
        let e = Event::new(1, "n", None, EventKind::Output(Output::new(raw.clone())));
        let json = e.to_json();
        let v: serde_json::Value = serde_json::from_str(&json).expect("json");
        assert!(v["data"].as_str().expect("text").contains('\u{fffd}'));
        assert!(v.get("session").is_none());
        let back: Event = serde_json::from_str(&json).expect("parses");
        match back.kind {
            EventKind::Output(o) => assert_eq!(o.bytes, raw),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn every_kind_round_trips_and_names_agree() {
        let kinds = vec![
            EventKind::SessionStarted {
                agent: "shell".into(),
                program: "/bin/bash".into(),
                args: vec!["-i".into()],
                pid: 42,
                workdir: "/tmp".into(),
                size: TermSize::default(),
                label: None,
            },
            EventKind::Input { via: InputVia::Keys, len: 1, keys: vec!["enter".into()] },
            EventKind::Resized { size: TermSize { rows: 10, cols: 20 } },
            EventKind::StateChanged {
                from: SessionState::Starting,
                to: SessionState::Ready,
                reason: "prompt".into(),
                excerpt: None,
                provenance: Some(Provenance {
                    adapter: "shell".into(),
                    rule: "prompt".into(),
                    region: "bottom:1".into(),
                    evidence: "$".into(),
                }),
            },
            EventKind::AutoResponded {
                rule: "r1".into(),
                source: RuleSource::Session,
                matched: "y/N".into(),
                sent: "y".into(),
            },
            EventKind::Escalated { index: 1, step: EscalationStep::Keys { keys: vec!["escape".into()] } },
            EventKind::Exited(ExitInfo { code: Some(3), signal: None, reason: ExitReason::Exited }),
            EventKind::Error { message: "x".into() },
            EventKind::Lagged { missed: 5 },
            EventKind::TranscriptTruncated { bytes: 9 },
            EventKind::WorkspaceProvisioning { workspace: ws(), repo: "/r.git".into(), branch: br(), parent: None },
            EventKind::WorkspaceProvisioning {
                workspace: ws(),
                repo: "/r.git".into(),
                branch: br(),
                parent: Some(WorkspaceId::parse("p").expect("valid")),
            },
            EventKind::WorkspaceReady { workspace: ws(), path: "/w/w1".into(), branch: br(), base: "main".into() },
            EventKind::Committed { workspace: ws(), commit: "abc".into(), files: vec!["g.txt".into()] },
            EventKind::Pushed { workspace: ws(), remote: "origin".into(), branch: br(), commit: "abc".into() },
            EventKind::PrCreated { workspace: ws(), number: 7, url: "https://x/pull/7".into() },
            EventKind::WorkspaceCleaned { workspace: ws(), forced: false },
            EventKind::TaskCreated {
                task: TaskId::new(),
                summary: "fix it".into(),
                agents: vec!["claude".into()],
                repo: Some("/r.git".into()),
                finalize: crate::task::FinalizeMode::Pr,
            },
            EventKind::TaskStatus {
                task: TaskId::new(),
                from: TaskStatus::Running,
                to: TaskStatus::Waiting,
                reason: StatusReason::UsageLimit,
                detail: Some("resets in 3s".into()),
                source: ChangeSource::Session,
            },
            EventKind::TaskFinalized {
                task: TaskId::new(),
                agent: "shell".into(),
                branch: Some("feat/x".into()),
                commit: Some("abc".into()),
                pushed: true,
                pr_url: Some("https://x/pull/1".into()),
            },
            EventKind::WorkspaceFailed {
                workspace: ws(),
                step: Step::Push,
                code: WorkspaceErrorCode::Network,
                message: "m".into(),
            },
        ];
        for k in kinds {
            let e = Event::new(1, "n", Some(sid()), k);
            let v: serde_json::Value = serde_json::from_str(&e.to_json()).expect("json");
            assert_eq!(v["kind"], e.kind_name());
            assert_eq!(serde_json::from_value::<Event>(v).expect("parses"), e);
        }
    }

    fn ws() -> WorkspaceId {
        WorkspaceId::parse("w1").expect("valid")
    }

    fn br() -> BranchName {
        BranchName::parse("feat/y").expect("valid")
    }

    #[test]
    fn workspace_events_are_node_level_with_a_workspace_field() {
        let e = Event::new(3, "n", None, EventKind::PrCreated { workspace: ws(), number: 7, url: "u".into() });
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).expect("json");
        assert_eq!(v["kind"], "pr_created");
        assert_eq!(v["workspace"], "w1");
        assert_eq!(v["number"], 7);
        assert!(v.get("session").is_none());
        // An invalid branch in a received event is refused, not trusted.
        let bad = r#"{"v":1,"seq":1,"ts":"t","node":"n","kind":"pushed","workspace":"w1","remote":"o","branch":"a..b","commit":"c"}"#;
        assert!(serde_json::from_str::<Event>(bad).is_err());
    }

    #[test]
    fn actor_kinds_travel_as_documented() {
        crate::wire::tests::round_trips(ActorKind::ALL, |a| a.as_str(), &["stall_detector", "auto_responder"]);
    }

    #[test]
    fn fixed_fields_travel_as_their_documented_strings() {
        let p = Provenance { adapter: "a".into(), rule: "r".into(), region: "screen".into(), evidence: "e".into() };
        let kinds = [
            EventKind::LoginRequired {
                login_kind: LoginKind::Oauth,
                url: None,
                code: None,
                instructions: "sign in".into(),
                choices: Vec::new(),
                provenance: p.clone(),
            },
            EventKind::BlockingPrompt {
                prompt_kind: PromptKind::ProviderUnreachable,
                prompt: "?".into(),
                choices: Vec::new(),
                safe: false,
                suggested: None,
                provenance: p,
            },
            EventKind::ConfirmationPending {
                id: "c1".into(),
                prompt_kind: ConfirmationKind::Rule,
                prompt: "?".into(),
                choices: Vec::new(),
                suggested: None,
                reason: "r".into(),
                rule: None,
            },
            EventKind::ConfirmationResolved { id: "c1".into(), outcome: ConfirmationOutcome::Gone, sent: None },
            EventKind::ActorRestarted { actor: ActorKind::AutoResponder, reason: "x".into() },
            EventKind::AutoResponded {
                rule: "r".into(),
                source: RuleSource::Adapter,
                matched: "m".into(),
                sent: "keys:enter".into(),
            },
        ];
        let expected = [
            ("login_kind", "oauth"),
            ("prompt_kind", "provider_unreachable"),
            ("prompt_kind", "rule"),
            ("outcome", "gone"),
            ("actor", "auto_responder"),
            ("source", "adapter"),
        ];
        for (k, (field, value)) in kinds.into_iter().zip(expected) {
            let e = Event::new(1, "n", Some(sid()), k);
            let v: serde_json::Value = serde_json::from_str(&e.to_json()).expect("json");
            assert_eq!(v[field], value, "{}", e.kind_name());
            assert_eq!(serde_json::from_value::<Event>(v).expect("parses"), e);
        }
    }

    #[test]
    fn timestamps_are_rfc3339_millis() {
        let ts = timestamp(SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_500));
        assert_eq!(ts, "1970-01-01T00:00:01.500Z");
    }
}
