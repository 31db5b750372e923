//! The wire protocol: verbs, typed requests, replies, error codes and the
//! heartbeat. `docs/PROTOCOL.md` describes the same types for coordinators,
//! and a test parses its examples into these types.
//!
//! Everything from the network is decoded here, at the edge, into typed
//! values: [`decode_request`] never panics, bounds what it reads and names
//! what was wrong.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use warden_core::{ExitInfo, SessionFilter, SessionId, SessionInfo, SessionState, TermSize};

/// The protocol version carried in `v`.
pub const PROTOCOL_VERSION: u32 = 1;

/// Stable error codes of replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request does not parse or does not make sense (wrong types,
    /// missing or unknown fields, a bad working directory…).
    BadRequest,
    /// No such verb on this node (also for verbs planned but not built yet).
    UnknownVerb,
    /// No session has this id on this node.
    UnknownSession,
    /// No workspace has this id on this node.
    UnknownWorkspace,
    /// The node's configuration refuses this verb, agent type, directory…
    Forbidden,
    /// The request conflicts with the session's state (e.g. it has exited).
    Conflict,
    /// The request is larger than the node accepts.
    TooLarge,
    /// The node's rate limit for remote requests is exhausted; retry later.
    RateLimited,
    /// The node cannot do it now (too many sessions, shutting down, the
    /// agent's program is not installed on this node).
    Unavailable,
    /// A failure inside warden.
    Internal,
}

impl ErrorCode {
    /// Every code, in documentation order.
    pub const ALL: [ErrorCode; 10] = [
        ErrorCode::BadRequest,
        ErrorCode::UnknownVerb,
        ErrorCode::UnknownSession,
        ErrorCode::UnknownWorkspace,
        ErrorCode::Forbidden,
        ErrorCode::Conflict,
        ErrorCode::TooLarge,
        ErrorCode::RateLimited,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
    ];

    /// The snake_case name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::UnknownVerb => "unknown_verb",
            ErrorCode::UnknownSession => "unknown_session",
            ErrorCode::UnknownWorkspace => "unknown_workspace",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Conflict => "conflict",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }
}

/// The error of a failed reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(deny_unknown_fields)]
#[error("{}: {message}", code.as_str())]
pub struct WireError {
    /// Stable code.
    pub code: ErrorCode,
    /// What went wrong, for humans.
    pub message: String,
}

/// Longest error message sent back (messages quote input; keep them short).
const MAX_MESSAGE_CHARS: usize = 400;

impl WireError {
    /// An error with a message cut to a bounded length.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let message: String = message.into();
        let message = if message.chars().count() > MAX_MESSAGE_CHARS {
            message.chars().take(MAX_MESSAGE_CHARS).collect()
        } else {
            message
        };
        WireError { code, message }
    }

    /// `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    /// `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// `internal`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }
}

impl From<warden_actors::SessionError> for WireError {
    fn from(e: warden_actors::SessionError) -> Self {
        use warden_actors::SessionError as E;
        let code = match &e {
            E::UnknownSession(_) => ErrorCode::UnknownSession,
            E::Exited(_) => ErrorCode::Conflict,
            E::BadWorkdir { .. } | E::Spec(_) | E::UnknownKey(_) | E::BadRule(_) | E::UnknownConfirmation { .. } => {
                ErrorCode::BadRequest
            }
            E::ProgramNotFound { .. } | E::TooManySessions { .. } | E::ShuttingDown => ErrorCode::Unavailable,
            E::Spawn(_) | E::Io(_) | E::Internal(_) => ErrorCode::Internal,
        };
        WireError::new(code, e.to_string())
    }
}

impl From<warden_actors::WorkspaceError> for WireError {
    fn from(e: warden_actors::WorkspaceError) -> Self {
        // The message is already redacted by the workspace layer.
        let code = match e.code() {
            "not_found" => ErrorCode::UnknownWorkspace,
            "invalid_branch" | "invalid_name" | "config" => ErrorCode::BadRequest,
            "path_escape" => ErrorCode::Forbidden,
            "already_exists" | "not_ready" | "dirty" | "unpushed" | "conflict" => ErrorCode::Conflict,
            "unavailable" | "network" | "timeout" | "github" => ErrorCode::Unavailable,
            _ => ErrorCode::Internal,
        };
        WireError::new(code, e.to_string())
    }
}

/// A reply: `{"v":1,"ok":true,"result":…}` or `{"v":1,"ok":false,"error":…}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    /// Protocol version.
    pub v: u32,
    /// Whether the request succeeded.
    pub ok: bool,
    /// The result, when `ok`.
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

    /// The JSON bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("replies always serialise: plain data and JSON values")
    }
}

/// The verbs this node serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// Start a task: an agent with a task (workspace provisioning comes later).
    CreateTask,
    /// Start an agent.
    SpawnAgent,
    /// Type text, press keys or paste into a session.
    SendToAgent,
    /// List sessions.
    ListAgents,
    /// Stop a session (or all).
    StopAgent,
    /// Resize a session's terminal.
    Resize,
    /// Clone a repository (or add a worktree) as a workspace.
    ProvisionWorkspace,
    /// Commit, then optionally push, open a pull request and clean up.
    FinalizeWorkspace,
}

/// How a verb may be addressed to `<prefix>.any.cmd.<verb>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnyMode {
    /// Not on `any`.
    No,
    /// On `any` in a queue group: exactly one node answers.
    Queue,
    /// On `any` without a queue group: every node answers (scatter-gather).
    Gather,
}

/// One row of the verb table.
#[derive(Debug, Clone, Copy)]
pub struct VerbEntry {
    /// The name in subjects.
    pub name: &'static str,
    /// What it does.
    pub verb: Verb,
    /// How `any` treats it.
    pub any: AnyMode,
    /// The canonical name when this is a legacy alias.
    pub alias_of: Option<&'static str>,
}

const fn entry(name: &'static str, verb: Verb, any: AnyMode) -> VerbEntry {
    VerbEntry { name, verb, any, alias_of: None }
}

const fn alias(name: &'static str, of: &'static str, verb: Verb, any: AnyMode) -> VerbEntry {
    VerbEntry { name, verb, any, alias_of: Some(of) }
}

/// The verb table: every verb name this node answers, the only place that
/// maps names to verbs. A new verb is one row here, one [`Request`] variant
/// and one arm in the bridge's dispatcher (the compiler finds the last two).
pub const VERBS: &[VerbEntry] = &[
    entry("create_task", Verb::CreateTask, AnyMode::Queue),
    entry("spawn_agent", Verb::SpawnAgent, AnyMode::Queue),
    entry("send_to_agent", Verb::SendToAgent, AnyMode::No),
    entry("list_agents", Verb::ListAgents, AnyMode::Gather),
    entry("stop_agent", Verb::StopAgent, AnyMode::No),
    entry("resize", Verb::Resize, AnyMode::No),
    entry("provision_workspace", Verb::ProvisionWorkspace, AnyMode::No),
    entry("finalize_workspace", Verb::FinalizeWorkspace, AnyMode::No),
    alias("start_coding_task", "create_task", Verb::CreateTask, AnyMode::Queue),
    alias("spawn_coding_agent", "spawn_agent", Verb::SpawnAgent, AnyMode::Queue),
    alias("send_to_coding_agent", "send_to_agent", Verb::SendToAgent, AnyMode::No),
    alias("list_coding_agents", "list_agents", Verb::ListAgents, AnyMode::Gather),
    alias("stop_coding_agent", "stop_agent", Verb::StopAgent, AnyMode::No),
];

/// Verbs of the protocol that this version does not serve yet: they reply
/// `unknown_verb`, never a fake success.
pub const PLANNED_VERBS: &[&str] = &["snapshot", "confirm", "classify", "add_rules", "clear_rules"];

/// The table row of a verb name.
pub fn lookup_verb(name: &str) -> Option<&'static VerbEntry> {
    VERBS.iter().find(|e| e.name == name)
}

impl VerbEntry {
    /// The canonical name (the alias target for legacy names).
    pub fn canonical(&self) -> &'static str {
        self.alias_of.unwrap_or(self.name)
    }
}

/// Arguments of `provision_workspace`: a clone of `repo`, or a worktree of
/// the workspace `parent` (exactly one of the two).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisionWorkspaceArgs {
    /// Protocol version (1 when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<u32>,
    /// The caller's id for this request, echoed in the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Repository to clone: an `https://`, `ssh://`, `git://` or scp-style
    /// URL, or a path on the node inside its allowed roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// Existing workspace to add a worktree to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Workspace id; generated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The branch: `{"from":"named","name":"feat/x"}` or
    /// `{"from":"task","task_id":…,"role":…,"summary":…}`.
    pub branch: warden_core::workspace::BranchSpec,
    /// Base branch (default: the remote's default, or the parent's branch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// Shallow clone depth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<u32>,
}

/// Arguments of `finalize_workspace`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinalizeWorkspaceArgs {
    /// Protocol version (1 when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<u32>,
    /// The caller's id for this request, echoed in the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The workspace id.
    pub workspace: String,
    /// The commit.
    pub commit: warden_core::workspace::CommitRequest,
    /// Push, if present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<warden_core::workspace::PushRequest>,
    /// Open a pull request, if present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pr: Option<warden_core::workspace::PrRequest>,
    /// Clean up afterwards; `true` forces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleanup: Option<bool>,
}

/// Arguments of `spawn_agent` and `create_task`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpawnArgs {
    /// Protocol version (1 when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<u32>,
    /// The caller's id for this request, echoed in the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Agent type (adapter name), e.g. `shell`.
    #[serde(alias = "agentType")]
    pub agent: String,
    /// The task typed into the agent once it runs (required by `create_task`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// Working directory, inside one of the node's allowed roots (relative
    /// paths are taken from the first root; default: the first root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<PathBuf>,
    /// Extra environment for the agent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Terminal size (default 40×120).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<TermSize>,
    /// A label for humans and coordinators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// Key names: a list, or one string of comma-separated names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KeyList {
    /// `["down","enter"]`.
    List(Vec<String>),
    /// `"down, enter"`.
    Joined(String),
}

/// Arguments of `send_to_agent`: exactly one of `text`, `keys`, `paste`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendArgs {
    /// Protocol version (1 when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<u32>,
    /// The caller's id for this request, echoed in the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The session.
    #[serde(alias = "sessionId")]
    pub session: SessionId,
    /// Text to type, then Enter. No control characters other than tab and
    /// newline: keys are sent as `keys`.
    #[serde(default, alias = "input", skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Named keys, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<KeyList>,
    /// Text to paste (no control characters other than tab, CR and newline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paste: Option<String>,
    /// Wrap a paste in bracketed-paste markers (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bracketed: Option<bool>,
}

/// What `send_to_agent` sends, after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendInput {
    /// Text and Enter.
    Text(String),
    /// Named keys.
    Keys(Vec<String>),
    /// A paste.
    Paste {
        /// The text.
        text: String,
        /// With bracketed-paste markers.
        bracketed: bool,
    },
}

impl SendArgs {
    /// The one input this request carries.
    pub fn input(&self) -> Result<SendInput, WireError> {
        let input = match (&self.text, &self.keys, &self.paste) {
            (Some(t), None, None) => {
                check_typed_text(t, false)?;
                SendInput::Text(t.clone())
            }
            (None, Some(k), None) => {
                let keys = match k {
                    KeyList::List(v) => v.clone(),
                    KeyList::Joined(s) => {
                        warden_core::keys::parse_key_list(s).map_err(|e| WireError::bad_request(e.to_string()))?
                    }
                };
                if keys.is_empty() {
                    return Err(WireError::bad_request("`keys` is empty"));
                }
                SendInput::Keys(keys)
            }
            (None, None, Some(p)) => {
                check_typed_text(p, true)?;
                SendInput::Paste { text: p.clone(), bracketed: self.bracketed.unwrap_or(true) }
            }
            _ => return Err(WireError::bad_request("give exactly one of `text`, `keys` or `paste`")),
        };
        if self.bracketed.is_some() && !matches!(input, SendInput::Paste { .. }) {
            return Err(WireError::bad_request("`bracketed` only applies to `paste`"));
        }
        Ok(input)
    }
}

/// Typed text may not smuggle keys: no C0/C1 controls except tab and
/// newline (and CR in pastes). Escape sequences go through `keys`.
fn check_typed_text(text: &str, paste: bool) -> Result<(), WireError> {
    let bad = text.chars().find(|&c| {
        let allowed = c == '\t' || c == '\n' || (paste && c == '\r');
        !allowed && (c.is_control())
    });
    match bad {
        Some(c) => Err(WireError::bad_request(format!(
            "text contains the control character U+{:04X}; send keys with `keys`",
            c as u32
        ))),
        None => Ok(()),
    }
}

/// Arguments of `list_agents` (all optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// Protocol version (1 when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<u32>,
    /// The caller's id for this request, echoed in the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Only sessions in one of these states.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub states: Vec<SessionState>,
    /// Only sessions of this agent type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Only live sessions.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub live_only: bool,
}

impl ListArgs {
    /// The filter for the embedding API.
    pub fn filter(&self) -> SessionFilter {
        SessionFilter { states: self.states.clone(), agent: self.agent.clone(), live_only: self.live_only }
    }
}

/// Arguments of `stop_agent`: a `session`, or `all`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopArgs {
    /// Protocol version (1 when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<u32>,
    /// The caller's id for this request, echoed in the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The session to stop.
    #[serde(default, alias = "sessionId", skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionId>,
    /// Stop every live session of the node.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all: bool,
    /// Milliseconds between the polite signals and SIGKILL (default: the node's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_ms: Option<u64>,
}

/// Arguments of `resize`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResizeArgs {
    /// Protocol version (1 when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<u32>,
    /// The caller's id for this request, echoed in the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The session.
    #[serde(alias = "sessionId")]
    pub session: SessionId,
    /// Rows.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
}

/// A decoded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `create_task`.
    CreateTask(SpawnArgs),
    /// `spawn_agent`.
    SpawnAgent(SpawnArgs),
    /// `send_to_agent`.
    SendToAgent(SendArgs),
    /// `list_agents`.
    ListAgents(ListArgs),
    /// `stop_agent`.
    StopAgent(StopArgs),
    /// `resize`.
    Resize(ResizeArgs),
    /// `provision_workspace`.
    ProvisionWorkspace(ProvisionWorkspaceArgs),
    /// `finalize_workspace`.
    FinalizeWorkspace(FinalizeWorkspaceArgs),
}

impl Request {
    fn common(&self) -> (Option<u32>, Option<&String>) {
        match self {
            Request::CreateTask(a) | Request::SpawnAgent(a) => (a.v, a.request_id.as_ref()),
            Request::SendToAgent(a) => (a.v, a.request_id.as_ref()),
            Request::ListAgents(a) => (a.v, a.request_id.as_ref()),
            Request::StopAgent(a) => (a.v, a.request_id.as_ref()),
            Request::Resize(a) => (a.v, a.request_id.as_ref()),
            Request::ProvisionWorkspace(a) => (a.v, a.request_id.as_ref()),
            Request::FinalizeWorkspace(a) => (a.v, a.request_id.as_ref()),
        }
    }

    /// The caller's `request_id`.
    pub fn request_id(&self) -> Option<String> {
        self.common().1.cloned()
    }
}

/// Longest `request_id` accepted.
pub const MAX_REQUEST_ID: usize = 128;

/// Decodes the payload of a request on verb subject token `verb`.
///
/// Checks, in order: size (`too_large`), verb (`unknown_verb`), JSON shape
/// (`bad_request`), version and cross-field rules (`bad_request`). An empty
/// payload is `{}`.
pub fn decode_request(
    verb: &str,
    payload: &[u8],
    max_bytes: usize,
) -> Result<(&'static VerbEntry, Request), WireError> {
    if payload.len() > max_bytes {
        return Err(WireError::new(
            ErrorCode::TooLarge,
            format!("request is {} bytes; this node accepts at most {max_bytes}", payload.len()),
        ));
    }
    let Some(entry) = lookup_verb(verb) else {
        let shown: String = verb.chars().take(64).collect();
        let message = if PLANNED_VERBS.contains(&verb) {
            format!("verb `{shown}` is not available on this node yet")
        } else {
            format!("unknown verb `{shown}`")
        };
        return Err(WireError::new(ErrorCode::UnknownVerb, message));
    };
    let payload = if payload.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { payload };
    let json = |e: serde_json::Error| WireError::bad_request(format!("invalid `{}` request: {e}", entry.canonical()));
    let request = match entry.verb {
        Verb::CreateTask => Request::CreateTask(serde_json::from_slice(payload).map_err(json)?),
        Verb::SpawnAgent => Request::SpawnAgent(serde_json::from_slice(payload).map_err(json)?),
        Verb::SendToAgent => Request::SendToAgent(serde_json::from_slice(payload).map_err(json)?),
        Verb::ListAgents => Request::ListAgents(serde_json::from_slice(payload).map_err(json)?),
        Verb::StopAgent => Request::StopAgent(serde_json::from_slice(payload).map_err(json)?),
        Verb::Resize => Request::Resize(serde_json::from_slice(payload).map_err(json)?),
        Verb::ProvisionWorkspace => Request::ProvisionWorkspace(serde_json::from_slice(payload).map_err(json)?),
        Verb::FinalizeWorkspace => Request::FinalizeWorkspace(serde_json::from_slice(payload).map_err(json)?),
    };
    let (v, request_id) = request.common();
    if let Some(v) = v
        && v != PROTOCOL_VERSION
    {
        return Err(WireError::bad_request(format!("unsupported protocol version {v}; this node speaks 1")));
    }
    if request_id.is_some_and(|r| r.len() > MAX_REQUEST_ID) {
        return Err(WireError::bad_request(format!("`request_id` is longer than {MAX_REQUEST_ID} bytes")));
    }
    match &request {
        Request::CreateTask(a) if a.task.as_deref().is_none_or(|t| t.trim().is_empty()) => {
            return Err(WireError::bad_request("`create_task` needs a non-empty `task`"));
        }
        Request::SendToAgent(a) => {
            a.input()?;
        }
        Request::StopAgent(a) if a.session.is_some() == a.all => {
            return Err(WireError::bad_request("give either `session` or `\"all\": true`"));
        }
        _ => {}
    }
    Ok((entry, request))
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
}

/// Result of `list_agents`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListResult {
    /// The node.
    pub node: String,
    /// Its sessions, oldest first.
    pub agents: Vec<SessionInfo>,
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

/// The heartbeat a node publishes on `<prefix>.<node>.heartbeat`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    /// Protocol version.
    pub v: u32,
    /// The node.
    pub node: String,
    /// When it was sent (RFC 3339).
    pub ts: String,
    /// The `seq` of the node's latest event (0 before the first).
    pub seq: u64,
    /// Live sessions.
    pub sessions: usize,
    /// Pending confirmations across sessions.
    pub pending_confirmations: usize,
    /// The most live sessions the node accepts.
    pub max_sessions: usize,
    /// One-minute load average of the machine, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load1: Option<f64>,
    /// Milliseconds since the bridge started.
    pub uptime_ms: u64,
    /// Whether events go to JetStream.
    pub jetstream: bool,
    /// Events waiting in the JetStream outbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbox: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "0193c2b6-7d3a-7c4e-9f00-1a2b3c4d5e6f";

    fn code(verb: &str, payload: &str) -> ErrorCode {
        decode_request(verb, payload.as_bytes(), 1024).expect_err("fails").code
    }

    #[test]
    fn requests_decode_into_types() {
        let (e, r) = decode_request("spawn_coding_agent", br#"{"agentType":"shell","task":"ls"}"#, 1024).expect("ok");
        assert_eq!(e.canonical(), "spawn_agent");
        assert!(matches!(r, Request::SpawnAgent(SpawnArgs { ref agent, .. }) if agent == "shell"));
        let (_, r) = decode_request("list_agents", b"", 1024).expect("empty is {}");
        assert_eq!(r, Request::ListAgents(ListArgs::default()));
        let (_, r) =
            decode_request("send_to_agent", format!(r#"{{"session":"{SID}","keys":"down, enter"}}"#).as_bytes(), 1024)
                .expect("ok");
        let Request::SendToAgent(a) = r else { panic!("send") };
        assert_eq!(a.input(), Ok(SendInput::Keys(vec!["down".into(), "enter".into()])));
    }

    #[test]
    fn bad_requests_get_the_right_codes() {
        assert_eq!(code("spawn_agent", "{"), ErrorCode::BadRequest);
        assert_eq!(code("spawn_agent", r#"{"agent":5}"#), ErrorCode::BadRequest);
        assert_eq!(code("spawn_agent", r#"{"agent":"shell","bogus":1}"#), ErrorCode::BadRequest);
        assert_eq!(code("spawn_agent", r#"{"v":2,"agent":"shell"}"#), ErrorCode::BadRequest);
        assert_eq!(code("create_task", r#"{"agent":"shell"}"#), ErrorCode::BadRequest);
        assert_eq!(code("snapshot", "{}"), ErrorCode::UnknownVerb);
        assert_eq!(code("frobnicate", "{}"), ErrorCode::UnknownVerb);
        assert_eq!(code("stop_agent", "{}"), ErrorCode::BadRequest);
        assert_eq!(
            code("send_to_agent", &format!(r#"{{"session":"{SID}","text":"a","keys":["enter"]}}"#)),
            ErrorCode::BadRequest
        );
        assert_eq!(
            code("send_to_agent", &format!(r#"{{"session":"{SID}","text":"\u001b[201~"}}"#)),
            ErrorCode::BadRequest
        );
        assert_eq!(code("send_to_agent", r#"{"session":"nope","text":"a"}"#), ErrorCode::BadRequest);
        let big = format!(r#"{{"agent":"{}"}}"#, "x".repeat(2000));
        assert_eq!(code("spawn_agent", &big), ErrorCode::TooLarge);
    }

    #[test]
    fn every_verb_and_code_is_listed_once() {
        let mut names: Vec<_> = VERBS.iter().map(|e| e.name).chain(PLANNED_VERBS.iter().copied()).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
        for e in VERBS {
            assert!(lookup_verb(e.canonical()).is_some_and(|c| c.verb == e.verb && c.alias_of.is_none()));
        }
        for c in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(c).expect("json"), c.as_str());
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        #[test]
        fn decoder_never_panics_on_bytes(verb_i in 0usize..20, bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let verb = VERBS.get(verb_i).map(|e| e.name).unwrap_or("nope");
            let _ = decode_request(verb, &bytes, 256);
        }

        #[test]
        fn decoder_never_panics_on_json(verb_i in 0usize..12, json in arb_json()) {
            let verb = VERBS.get(verb_i).map(|e| e.name).unwrap_or("snapshot");
            let text = json.to_string();
            match decode_request(verb, text.as_bytes(), 1 << 20) {
                Ok(_) => {}
                Err(e) => proptest::prop_assert!(e.message.chars().count() <= MAX_MESSAGE_CHARS),
            }
        }
    }

    fn arb_json() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let keys = prop_oneof![
            Just("v".to_string()),
            Just("agent".to_string()),
            Just("task".to_string()),
            Just("session".to_string()),
            Just("text".to_string()),
            Just("keys".to_string()),
            Just("paste".to_string()),
            Just("all".to_string()),
            Just("rows".to_string()),
            Just("cols".to_string()),
            Just("size".to_string()),
            Just("env".to_string()),
            Just("workdir".to_string()),
            "[a-z_]{1,8}",
        ];
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map(serde_json::Value::Number).unwrap_or_default()),
            ".{0,20}".prop_map(serde_json::Value::from),
            Just(serde_json::Value::from(SID)),
            Just(serde_json::Value::from("shell")),
        ];
        leaf.prop_recursive(3, 32, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
                proptest::collection::btree_map(keys.clone(), inner, 0..6)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
