//! Answering and declining the pending confirmations of a session.

use warden_core::{ConfirmationOutcome, EventKind, Reply};

use crate::decide::view::truncate_chars;
use crate::error::SessionError;
use crate::session_core::SessionCore;

/// Answers (`reply: Some`) or declines (`None`) a pending confirmation.
/// `Some(None)` sends the suggested answer.
pub(crate) async fn confirm(core: &SessionCore, id: &str, reply: Option<Option<Reply>>) -> Result<(), SessionError> {
    let unknown = || SessionError::UnknownConfirmation { session: core.id, id: truncate_chars(id, 64) };
    let pending = {
        let mut pending = core.lock_pending();
        let at = pending.iter().position(|p| p.id == id).ok_or_else(unknown)?;
        if let Some(r) = &reply {
            if r.is_none() && pending[at].suggested.is_none() {
                return Err(SessionError::BadRule("this prompt has no suggested answer; give one".into()));
            }
            if let Some(Reply::Keys(keys)) = r {
                warden_core::keys::keys_bytes(keys)?;
            }
        }
        pending.remove(at)
    };
    match reply {
        Some(r) => {
            let Some(r) = r.or(pending.suggested.clone()) else { return Err(unknown()) };
            // The resolution first, then the answer: what the agent does with it (print,
            // exit) comes after it in the event stream, even when this task is held up
            // between the two and the agent is quick.
            core.bus.publish(
                Some(core.id),
                EventKind::ConfirmationResolved {
                    id: pending.id,
                    outcome: ConfirmationOutcome::Answered,
                    sent: Some(r.describe()),
                },
            );
            #[cfg(feature = "test-hooks")]
            drop(core.faults.confirm_gate.read().await);
            core.type_reply(&r);
        }
        None => {
            core.bus.publish(
                Some(core.id),
                EventKind::ConfirmationResolved { id: pending.id, outcome: ConfirmationOutcome::Declined, sent: None },
            );
        }
    }
    Ok(())
}

/// Raw input with an Enter reached the agent while a confirmation was pending:
/// the person answered the prompt on the agent's screen. The oldest pending
/// confirmation is resolved `on_screen` (nothing typed), so that no caller can
/// later type warden's answer into whatever the agent shows by then. A line
/// prompt's text stays on the screen once answered, so the responder alone
/// would keep it pending.
pub(crate) fn answered_on_screen(core: &SessionCore) {
    let resolved = {
        let mut pending = core.lock_pending();
        if pending.is_empty() { None } else { Some(pending.remove(0)) }
    };
    if let Some(p) = resolved {
        tracing::info!(session = %core.id, id = %p.id, "confirmation answered on the agent's screen");
        core.bus.publish(
            Some(core.id),
            EventKind::ConfirmationResolved { id: p.id, outcome: ConfirmationOutcome::OnScreen, sent: None },
        );
    }
}
