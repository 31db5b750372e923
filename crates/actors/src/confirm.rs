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
