//! Arguments of the session and workspace verbs (the supervision verbs are
//! in [`super::supervision`]), and the checks that need more than their shape.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use warden_core::{
    ApprovalPreset, ResponseRule, RestartPolicy, SessionFilter, SessionState, StallSpec, SupervisionLevel, TermSize,
};

use super::error::WireError;
use super::idref::IdRef;
use super::supervision::RestartLimitsArgs;

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
    /// Existing workspace to add a worktree to (its id, a unique prefix or
    /// its short id).
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
    /// The workspace: its id, a unique prefix or its short id.
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

/// The most bytes of `memory` a spawn may carry.
pub const MAX_MEMORY_BYTES: usize = 64 * 1024;

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
    /// What warden may answer by itself: `autonomous` (default), `confirm`, `notify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervision: Option<SupervisionLevel>,
    /// The approval preset (`readonly`, `standard` (default), `permissive`,
    /// `autonomous`): the CLI's flags and environment for it, its config files
    /// written into the working directory when the preset is given (never
    /// over a different file there), and the bar an adapter's built-in answer
    /// must clear to be sent without asking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<ApprovalPreset>,
    /// Instructions appended to the agent's memory file (`CLAUDE.md`,
    /// `AGENTS.md`, …) in the working directory before it starts; at most
    /// [`MAX_MEMORY_BYTES`]. `bad_request` for an agent without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// The session's own auto-response rules (at most [`super::MAX_RULES`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<ResponseRule>,
    /// Extra loading patterns (regular expressions; at most
    /// [`super::MAX_LOADING_PATTERNS`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub loading: Vec<String>,
    /// Stall detection settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall: Option<StallSpec>,
    /// Restart policy of the agent process: `never` (default), `on-failure`, `always`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<RestartPolicy>,
    /// Limits of the restart policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_limits: Option<RestartLimitsArgs>,
}

impl SpawnArgs {
    /// Checks the supervision fields: sizes, patterns, replies, durations.
    /// Regular expressions are compiled by the session, which answers
    /// `bad_request` naming the pattern that does not compile.
    pub fn check(&self) -> Result<(), WireError> {
        if let Some(memory) = &self.memory
            && memory.len() > MAX_MEMORY_BYTES
        {
            return Err(WireError::bad_request(format!(
                "`memory` is {} bytes; at most {MAX_MEMORY_BYTES}",
                memory.len()
            )));
        }
        // At the edge, as `send_to_agent` does: a task is text (newlines and
        // tabs only), names and paths carry no control character.
        let refuse = |e: warden_core::text::ControlChar| WireError::bad_request(e.to_string());
        if let Some(task) = &self.task {
            warden_core::text::check_task("task", task).map_err(refuse)?;
        }
        warden_core::text::check_name("agent", &self.agent).map_err(refuse)?;
        if let Some(label) = &self.label {
            warden_core::text::check_name("label", label).map_err(refuse)?;
        }
        if let Some(dir) = &self.workdir {
            warden_core::text::check_name("workdir", &dir.to_string_lossy()).map_err(refuse)?;
        }
        super::supervision::check_session_tuning(
            &self.rules,
            &self.loading,
            self.stall.as_ref(),
            self.restart_limits.as_ref(),
        )?;
        Ok(())
    }
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
    /// The session: its id, a unique prefix, its short id or its label.
    #[serde(alias = "sessionId")]
    pub session: IdRef,
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
pub(crate) fn check_typed_text(text: &str, paste: bool) -> Result<(), WireError> {
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
    /// The session to stop: its id, a unique prefix, its short id or its label.
    #[serde(default, alias = "sessionId", skip_serializing_if = "Option::is_none")]
    pub session: Option<IdRef>,
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
    /// The session: its id, a unique prefix, its short id or its label.
    #[serde(alias = "sessionId")]
    pub session: IdRef,
    /// Rows.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
}
