//! References to sessions, tasks and workspaces as callers send them: a
//! whole id, a unique prefix, the short form (the id's tail) or a label.
//! The decoder only checks their shape; the node resolves them against its
//! registries before it runs the verb (`resolve.rs` in the bridge), and
//! replies always carry the whole id.

use std::fmt;

use serde::{Deserialize, Serialize};
use warden_core::idref::MAX_REFERENCE;
use warden_core::task::TaskId;
use warden_core::{SessionId, WorkspaceId};

use super::error::WireError;

/// A reference to a session, task or workspace: `"0193c2b6-…"` (the whole
/// id), `"0193c2b6-7d3a"` (a prefix), `"3c4d5e6f"` (the short form), or a
/// label. On the wire it is a string, so a request with a whole id is the
/// same JSON as before references were accepted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IdRef(String);

impl IdRef {
    /// A reference from text.
    pub fn new(text: impl Into<String>) -> Self {
        IdRef(text.into())
    }

    /// The reference as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Checks the shape: 1 to [`MAX_REFERENCE`] bytes, no control character.
    pub fn check(&self, field: &str) -> Result<(), WireError> {
        let t = self.0.trim();
        if t.is_empty() || self.0.len() > MAX_REFERENCE || self.0.chars().any(char::is_control) {
            return Err(WireError::bad_request(format!(
                "`{field}` must be an id, a unique prefix, a short id or a label: 1 to {MAX_REFERENCE} bytes \
                 without control characters"
            )));
        }
        Ok(())
    }

    /// The whole session id this reference is, if it is one.
    pub fn as_session(&self) -> Option<SessionId> {
        self.0.trim().parse().ok()
    }

    /// The whole task id this reference is, if it is one.
    pub fn as_task(&self) -> Option<TaskId> {
        self.0.trim().parse().ok()
    }

    /// The session after resolution (the node replaced the reference by the
    /// whole id); `bad_request` if it was never resolved.
    pub fn session(&self) -> Result<SessionId, WireError> {
        self.as_session().ok_or_else(|| WireError::bad_request(format!("`{}` is not a session id", self.shown())))
    }

    /// The task after resolution.
    pub fn task(&self) -> Result<TaskId, WireError> {
        self.as_task().ok_or_else(|| WireError::bad_request(format!("`{}` is not a task id", self.shown())))
    }

    /// The workspace after resolution.
    pub fn workspace(&self) -> Result<WorkspaceId, WireError> {
        WorkspaceId::parse(self.0.trim()).map_err(|e| WireError::bad_request(e.to_string()))
    }

    /// The reference cut for an error message.
    pub fn shown(&self) -> String {
        self.0.chars().take(64).collect()
    }
}

impl fmt::Display for IdRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<SessionId> for IdRef {
    fn from(id: SessionId) -> Self {
        IdRef(id.to_string())
    }
}

impl From<TaskId> for IdRef {
    fn from(id: TaskId) -> Self {
        IdRef(id.to_string())
    }
}

impl From<&str> for IdRef {
    fn from(s: &str) -> Self {
        IdRef(s.to_string())
    }
}
