//! What warden reports about a session.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::event::ExitInfo;
use crate::ids::SessionId;
use crate::spec::TermSize;
use crate::state::SessionState;

/// A snapshot of one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// Session id.
    pub id: SessionId,
    /// Adapter name.
    pub agent: String,
    /// Program as resolved.
    pub program: String,
    /// Arguments.
    pub args: Vec<String>,
    /// Working directory.
    pub workdir: PathBuf,
    /// Process id of the agent, once started.
    pub pid: Option<u32>,
    /// Current state.
    pub state: SessionState,
    /// Terminal size.
    pub size: TermSize,
    /// Caller's label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// When the session was created (RFC 3339).
    pub created_at: String,
    /// How it ended, once it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitInfo>,
}

impl SessionInfo {
    /// How the session ended: its recorded end, or, while none is recorded,
    /// one made from its state.
    pub fn exit_or_state(&self) -> ExitInfo {
        self.exit.clone().unwrap_or(ExitInfo {
            code: None,
            signal: None,
            reason: crate::exit::ExitReason::of_state(self.state),
        })
    }
}

/// Which sessions [`list`](crate) calls return.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionFilter {
    /// Only sessions in one of these states (empty: any).
    #[serde(default)]
    pub states: Vec<SessionState>,
    /// Only sessions of this adapter.
    #[serde(default)]
    pub agent: Option<String>,
    /// Only live sessions (not exited or failed).
    #[serde(default)]
    pub live_only: bool,
}

impl SessionFilter {
    /// Every session.
    pub fn all() -> Self {
        Self::default()
    }

    /// Live sessions only.
    pub fn live() -> Self {
        SessionFilter { live_only: true, ..Self::default() }
    }

    /// Whether `info` passes.
    pub fn matches(&self, info: &SessionInfo) -> bool {
        (self.states.is_empty() || self.states.contains(&info.state))
            && self.agent.as_ref().is_none_or(|a| *a == info.agent)
            && (!self.live_only || info.state.is_live())
    }
}
