//! The reply envelope and the typed result of every verb.

use serde::{Deserialize, Serialize};
use warden_core::supervise::Reply as Answer;
use warden_core::{
    ApprovalPreset, ConfirmationOutcome, Delivery, ExitInfo, LoginKind, PendingConfirmation, PromptKind, Provenance,
    ScreenSnapshot, SessionId, SessionInfo, SessionState, TermSize,
};

use super::PROTOCOL_VERSION;
use super::error::WireError;

/// A reply: `{"v":1,"ok":true,"result":…}` or `{"v":1,"ok":false,"error":…}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    /// Protocol version.
    pub v: u32,
    /// Whether the request succeeded.
    pub ok: bool,
    /// The result, when `ok`; with `ok: false`, what was done before the
    /// requested step that failed (a partial report), when anything was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// The error, when not `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<WireError>,
    /// The caller's `request_id`, echoed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Reply {
    /// A success carrying `result`.
    pub fn ok(result: serde_json::Value, request_id: Option<String>) -> Self {
        Reply { v: PROTOCOL_VERSION, ok: true, result: Some(result), error: None, request_id }
    }

    /// A failure.
    pub fn err(error: WireError, request_id: Option<String>) -> Self {
        Reply { v: PROTOCOL_VERSION, ok: false, result: None, error: Some(error), request_id }
    }

    /// A failure of a requested step after others were done: `ok: false`,
    /// the error, and the partial result.
    pub fn partial(error: WireError, result: serde_json::Value, request_id: Option<String>) -> Self {
        Reply { v: PROTOCOL_VERSION, ok: false, result: Some(result), error: Some(error), request_id }
    }

    /// The JSON bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("replies always serialise: plain data and JSON values")
    }
}

/// Result of `spawn_agent` and `create_task`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpawnResult {
    /// The node that runs the session.
    pub node: String,
    /// The session as started.
    pub session: SessionInfo,
}

/// Result of `send_to_agent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendResult {
    /// The node.
    pub node: String,
    /// The session written to.
    pub session: SessionId,
    /// For `text`: whether the screen showed the input taken (keys and
    /// pastes are written without waiting, and have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
}

/// One session of `list_agents`: the session's fields, and what a chat
/// agent needs to answer "what task agents are running?" — its short id,
/// its task (id, status, text), the workspace and branch, and the prompts
/// waiting for an answer. A live session with a pending confirmation is
/// reported `blocked` (its `pending` says how many), whatever its screen
/// shows; an ended one carries `exit` with its reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentEntry {
    /// The session.
    #[serde(flatten)]
    pub session: SessionInfo,
    /// The session's short id: the tail of its id, unique among the node's
    /// live sessions (what people type; every verb takes it).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub short: String,
    /// How many confirmations wait for an answer.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pending: usize,
    /// What it was asked to do (the task's text for a task's agent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_text: Option<String>,
    /// The workspace it works in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// The task it works for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<warden_core::task::TaskId>,
    /// That task's status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_status: Option<warden_core::task::TaskStatus>,
    /// The branch it works on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Its pending confirmations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_confirmations: Vec<warden_core::PendingConfirmation>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl std::ops::Deref for AgentEntry {
    type Target = SessionInfo;

    fn deref(&self) -> &SessionInfo {
        &self.session
    }
}

/// Result of `list_agents`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListResult {
    /// The node.
    pub node: String,
    /// Its sessions, oldest first, each with its task when it runs one.
    pub agents: Vec<AgentEntry>,
}

/// Result of `stop_agent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopResult {
    /// The node.
    pub node: String,
    /// The session stopped (absent for `all`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionId>,
    /// How it ended (absent for `all`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitInfo>,
    /// How many sessions were stopped (for `all`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<usize>,
}

/// Result of `resize`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResizeResult {
    /// The node.
    pub node: String,
    /// The session.
    pub session: SessionId,
    /// The new size.
    pub size: TermSize,
}

/// The result of `provision_workspace`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisionWorkspaceResult {
    /// The node.
    pub node: String,
    /// The workspace as recorded.
    pub workspace: warden_core::workspace::WorkspaceRecord,
}

/// The result of `finalize_workspace`: one result per step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinalizeWorkspaceResult {
    /// The node.
    pub node: String,
    /// The workspace id.
    pub workspace: String,
    /// Commit, push, pull request and cleanup, in order.
    pub report: warden_core::workspace::FinalizeReport,
}

/// Result of `snapshot`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotResult {
    /// The node.
    pub node: String,
    /// The session.
    pub session: SessionId,
    /// Its screen now (the final screen of an ended session).
    pub screen: ScreenSnapshot,
    /// The last event `seq` of the node's stream before the snapshot was
    /// taken: output events after it may not be on this screen yet (a
    /// terminal attaching draws the snapshot, then output with a higher
    /// `seq`; a few bytes may show twice, none go missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// How the session ended, when it has: a terminal that missed the
    /// `exited` event (its connection was away) learns it here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<warden_core::ExitInfo>,
}

/// Result of `classify`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifyResult {
    /// The node.
    pub node: String,
    /// The session.
    pub session: SessionId,
    /// What the session's adapter reads on its screen now.
    pub verdict: WireVerdict,
}

/// What an adapter reads on a screen, as sent on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireVerdict {
    /// `unknown`, `ready`, `busy`, `login_required`, `blocked`,
    /// `task_complete` or `exited`.
    pub state: String,
    /// For `blocked`: the prompt kind (`permission`, `trust`, `update`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_kind: Option<PromptKind>,
    /// The session state this screen means, when it means one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_state: Option<SessionState>,
    /// Whether a busy (loading) rule matched, even when another state won.
    pub loading: bool,
    /// The rule that decided and its evidence; absent when `unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// The login the screen asks for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<WireLogin>,
    /// The blocking prompt on screen, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocking: Option<WirePrompt>,
}

/// A login the screen asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireLogin {
    /// `oauth`, `api_key`, `cli_auth`, … (see [`LoginKind`]).
    pub login_kind: LoginKind,
    /// The sign-in URL on screen, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// A device code on screen, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// What a person should do.
    pub instructions: String,
    /// The sign-in choices on screen.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<WireChoice>,
    /// Rule and evidence.
    pub provenance: Provenance,
}

/// A blocking prompt on screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WirePrompt {
    /// `permission`, `trust`, `update`, `tos`, `usage_limit`, …
    pub prompt_kind: PromptKind,
    /// The prompt's text.
    pub prompt: String,
    /// The choices on screen.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<WireChoice>,
    /// The answer the adapter suggests, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggested: Option<Answer>,
    /// Whether the adapter says it is safe to answer without asking.
    pub safe: bool,
    /// The least approval preset under which the suggested answer is sent
    /// without asking.
    pub min_preset: ApprovalPreset,
    /// Whether the adapter answers it at most once per session.
    pub once: bool,
    /// What the prompt is about.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// A URL on the prompt, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Rule and evidence.
    pub provenance: Provenance,
}

/// One item of a menu on screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireChoice {
    /// The item's text.
    pub label: String,
    /// Whether it is the selected one.
    pub selected: bool,
}

impl From<warden_adapters::Verdict> for WireVerdict {
    fn from(v: warden_adapters::Verdict) -> Self {
        use warden_adapters::ScreenState as S;
        let (state, prompt_kind) = match v.state {
            S::Unknown => ("unknown", None),
            S::Ready => ("ready", None),
            S::Busy => ("busy", None),
            S::LoginRequired => ("login_required", None),
            S::Blocked(kind) => ("blocked", Some(kind)),
            S::TaskComplete => ("task_complete", None),
            S::Exited => ("exited", None),
        };
        let choices = |c: Vec<warden_adapters::Choice>| {
            c.into_iter().map(|c| WireChoice { label: c.label, selected: c.selected }).collect()
        };
        WireVerdict {
            state: state.to_string(),
            prompt_kind,
            session_state: v.state.session_state(),
            loading: v.loading,
            provenance: v.provenance,
            login: v.login.map(|l| WireLogin {
                login_kind: l.kind,
                url: l.url,
                code: l.code,
                instructions: l.instructions,
                choices: choices(l.choices),
                provenance: l.provenance,
            }),
            blocking: v.blocking.map(|b| WirePrompt {
                prompt_kind: b.kind,
                prompt: b.prompt,
                choices: choices(b.choices),
                suggested: b.response,
                safe: b.safe,
                min_preset: b.min_preset,
                once: b.once,
                description: b.description,
                url: b.url,
                provenance: b.provenance,
            }),
        }
    }
}

/// Result of `pending_confirmations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingConfirmationsResult {
    /// The node.
    pub node: String,
    /// The session.
    pub session: SessionId,
    /// Its prompts waiting for an answer, oldest first.
    pub pending: Vec<PendingConfirmation>,
}

/// Result of `confirm` and `decline`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmResult {
    /// The node.
    pub node: String,
    /// The session.
    pub session: SessionId,
    /// The confirmation's id.
    pub id: String,
    /// `answered` or `declined`; the `confirmation_resolved` event says
    /// what was sent.
    pub outcome: ConfirmationOutcome,
}

/// Result of `add_rules`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddRulesResult {
    /// The node.
    pub node: String,
    /// The session.
    pub session: SessionId,
    /// The rules' ids, in the order given (generated for rules without one).
    pub ids: Vec<String>,
}

/// Result of `clear_rules`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClearRulesResult {
    /// The node.
    pub node: String,
    /// The session.
    pub session: SessionId,
    /// How many caller rules were removed (the adapter's own rules stay).
    pub removed: usize,
}
