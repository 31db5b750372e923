//! [`TerminalAttachment`]: the guard a client holds while its terminal shows a session
//! (see `terminals.rs`).

use std::sync::Arc;

use crate::session_core::SessionCore;

/// A terminal shows the session and answers its queries; while this guard lives,
/// warden does not answer them. Dropping it hands the answering back to warden.
pub struct TerminalAttachment {
    core: Arc<SessionCore>,
}

impl std::fmt::Debug for TerminalAttachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TerminalAttachment").field("session", &self.core.id).finish()
    }
}

impl TerminalAttachment {
    pub(crate) fn new(core: Arc<SessionCore>) -> Self {
        core.terminals.attach();
        tracing::debug!(session = %core.id, "terminal attached");
        TerminalAttachment { core }
    }
}

impl Drop for TerminalAttachment {
    fn drop(&mut self) {
        self.core.terminals.detach();
        tracing::debug!(session = %self.core.id, "terminal detached");
    }
}
