//! What detectors say about a screen, and why (provenance).

use serde::Serialize;
use warden_core::{LoginKind, PromptKind, Reply, SessionState};

use crate::preset::ApprovalPreset;
use crate::view::Choice;

/// What a rule's match means (`state` in the manifest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Detection {
    /// The agent waits for input.
    Ready,
    /// The agent is working (spinner, "esc to interrupt"): suppresses stall detection.
    Busy,
    /// The agent needs a login.
    Login,
    /// The agent shows a prompt that needs an answer.
    Blocking,
    /// The agent finished a turn.
    TaskComplete,
    /// The agent is exiting or has exited.
    Exit,
}

impl Detection {
    /// Every detection, in default-priority order (highest first).
    pub const ALL: [Detection; 6] = [
        Detection::Exit,
        Detection::Blocking,
        Detection::Login,
        Detection::Busy,
        Detection::TaskComplete,
        Detection::Ready,
    ];

    /// The manifest name.
    pub fn as_str(self) -> &'static str {
        match self {
            Detection::Ready => "ready",
            Detection::Busy => "busy",
            Detection::Login => "login",
            Detection::Blocking => "blocking",
            Detection::TaskComplete => "task_complete",
            Detection::Exit => "exit",
        }
    }

    /// Parses the manifest name.
    pub fn parse(s: &str) -> Option<Detection> {
        Detection::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// Priority of a rule that does not set one.
    pub fn default_priority(self) -> i32 {
        match self {
            Detection::Exit => 900,
            Detection::Blocking => 700,
            Detection::Login => 600,
            Detection::Busy => 400,
            Detection::TaskComplete => 300,
            Detection::Ready => 200,
        }
    }
}

pub use warden_core::supervise::Provenance;

/// A simple detection: ready, busy, task complete, exit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signal {
    /// The rule's kind (free text, e.g. `exit_pending`, `retrying`).
    pub kind: String,
    /// Why.
    pub provenance: Provenance,
}

/// A login the agent asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoginInfo {
    /// `oauth`, `api_key`, `cli_auth`, `choices`, `device_code`, …
    pub kind: LoginKind,
    /// The sign-in URL shown on screen, wrapped lines joined.
    pub url: Option<String>,
    /// A device / one-time code shown on screen.
    pub code: Option<String>,
    /// What a person should do (the rule's description, else the matched line).
    pub instructions: String,
    /// Sign-in choices, when a menu is visible.
    pub choices: Vec<Choice>,
    /// Why.
    pub provenance: Provenance,
}

/// A prompt that needs an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlockingPrompt {
    /// Its type.
    pub kind: PromptKind,
    /// The prompt line.
    pub prompt: String,
    /// Menu items, when visible.
    pub choices: Vec<Choice>,
    /// The rule's automatic answer, if it has one.
    pub response: Option<Reply>,
    /// Whether answering automatically is safe at all.
    pub safe: bool,
    /// Lowest approval preset that may answer automatically.
    pub min_preset: ApprovalPreset,
    /// Whether the answer is given at most once per session.
    pub once: bool,
    /// What the rule recognises.
    pub description: String,
    /// URL shown with the prompt (login prompts).
    pub url: Option<String>,
    /// Why.
    pub provenance: Provenance,
}

impl BlockingPrompt {
    /// Whether warden may answer this prompt by itself under `preset`: it has an answer,
    /// is safe, and the preset is at least the rule's `min_preset`.
    pub fn may_auto_answer(&self, preset: ApprovalPreset) -> bool {
        self.response.is_some() && self.safe && preset >= self.min_preset
    }
}

/// What the screen shows, as one state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "kind", rename_all = "snake_case")]
pub enum ScreenState {
    /// No rule recognised the screen: changes no state.
    Unknown,
    /// Waiting for input.
    Ready,
    /// Working.
    Busy,
    /// A login is needed.
    LoginRequired,
    /// A prompt needs an answer.
    Blocked(PromptKind),
    /// A turn finished.
    TaskComplete,
    /// Exiting or exited.
    Exited,
}

impl ScreenState {
    /// The expectation-table form: `ready`, `blocking:trust`, `login_required`, …
    pub fn label(&self) -> String {
        match self {
            ScreenState::Unknown => "unknown".into(),
            ScreenState::Ready => "ready".into(),
            ScreenState::Busy => "busy".into(),
            ScreenState::LoginRequired => "login_required".into(),
            ScreenState::Blocked(k) => format!("blocking:{k}"),
            ScreenState::TaskComplete => "task_complete".into(),
            ScreenState::Exited => "exited".into(),
        }
    }

    /// The session state this screen suggests; `None` for [`ScreenState::Unknown`].
    /// Login prompts (`LoginRequired`, `Blocked(Login)`) map to `authenticating`;
    /// a finished turn to `ready`. `Exited` is only a hint: the process exit is the fact.
    pub fn session_state(&self) -> Option<SessionState> {
        Some(match self {
            ScreenState::Unknown => return None,
            ScreenState::Ready | ScreenState::TaskComplete => SessionState::Ready,
            ScreenState::Busy => SessionState::Busy,
            ScreenState::LoginRequired | ScreenState::Blocked(PromptKind::Login) => SessionState::Authenticating,
            ScreenState::Blocked(_) => SessionState::Blocked,
            ScreenState::Exited => SessionState::Exited,
        })
    }
}

/// Everything the adapter concludes from one screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// The winning state (highest-priority matching rule).
    pub state: ScreenState,
    /// The winning rule and its evidence; `None` when unknown.
    pub provenance: Option<Provenance>,
    /// Whether a busy rule matched (even when another state won, e.g. a provider error
    /// shown while the CLI still retries).
    pub loading: bool,
    /// The best login detection, if any.
    pub login: Option<LoginInfo>,
    /// The best blocking prompt, if any.
    pub blocking: Option<BlockingPrompt>,
}
