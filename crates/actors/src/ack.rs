//! Acknowledged input: `Warden::send` says `delivered` only when the screen
//! shows the input taken.
//!
//! Evidence, read from the screen after the write (never from warden's own
//! bookkeeping), compared with the screen just before it:
//! - the agent turned busy (or loading) when it was not before;
//! - the typed text shows on the screen more often than before (it was echoed
//!   or recorded in the transcript) and the cursor's line no longer holds it
//!   (the input box or the shell line was submitted and cleared);
//! - the agent was at its ready prompt and no longer is.
//!
//! A screen that merely changes (a spinner turning, a clock) proves nothing:
//! an agent that works on and never reads the input leaves it undelivered
//! after the timeout. Just before writing, the screen is read again: a
//! blocking prompt that appeared meanwhile would take the keystrokes as its
//! answer, so nothing is written and the input is undelivered.

use std::time::Instant;

use bytes::Bytes;
use tracing::{debug, info_span};
use warden_adapters::{PromptKind, ScreenState, Verdict};
use warden_core::{Delivery, EventKind, InputVia};

use crate::decide::view::View;
use crate::error::SessionError;
use crate::session_core::SessionCore;

/// Types `text` the adapter's way and waits for the screen to show it taken.
pub(crate) async fn send_acknowledged(core: &SessionCore, text: &str) -> Result<Delivery, SessionError> {
    let id = core.id;
    let span = info_span!("send", session = %id, len = text.len());
    let _enter = span.enter();
    let input = core.next_input();
    let before = core.screen.view();
    let verdict = core.classify_view(&before);
    if let ScreenState::Blocked(kind) = verdict.state
        && kind != PromptKind::Login
    {
        let reason = format!("not written: a {kind} prompt is on screen and would take the input; answer it first");
        return Ok(undelivered(core, input, reason));
    }
    core.note_typed(text);
    let plan = core.adapter().input_plan(text);
    let mut screen_rx = core.screen.watch();
    core.typist.input(Bytes::from(plan.first), InputVia::Text, Vec::new()).await?;
    if let Some((delay_ms, then)) = plan.then {
        tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
        core.typist.input(Bytes::from(then), InputVia::Keys, vec!["enter".into()]).await?;
    }
    core.notify_input();
    let needle: String =
        text.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default().chars().take(40).collect();
    let deadline = Instant::now() + core.config.input_ack_timeout;
    loop {
        let view = core.screen.view();
        if let Some(evidence) = taken(core, (&before, &verdict), &view, &needle) {
            debug!(input, %evidence, "input delivered");
            core.bus.publish(Some(id), EventKind::InputDelivered { input, evidence: evidence.clone() });
            return Ok(Delivery { input, delivered: true, detail: evidence });
        }
        if !core.state().is_live() {
            return Ok(undelivered(core, input, "the session ended".into()));
        }
        let wait = tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), screen_rx.changed()).await;
        match wait {
            Ok(Ok(())) => continue,
            _ => break,
        }
    }
    let reason =
        format!("the screen did not show the input taken within {} ms", core.config.input_ack_timeout.as_millis());
    Ok(undelivered(core, input, reason))
}

/// What on `now` shows the input taken, compared with the screen before the write.
fn taken(core: &SessionCore, (before, was): (&View, &Verdict), now: &View, needle: &str) -> Option<String> {
    if now.text == before.text && now.cursor == before.cursor {
        return None;
    }
    let verdict = core.classify_view(now);
    let busy = |v: &Verdict| v.state == ScreenState::Busy || v.loading;
    if busy(&verdict) && !busy(was) {
        let rule = verdict.provenance.map(|p| p.rule).unwrap_or_else(|| "loading".into());
        return Some(format!("the agent turned busy ({rule})"));
    }
    if needle.is_empty() {
        return Some("the screen changed".into());
    }
    if now.text.matches(needle).count() > before.text.matches(needle).count() && !now.cursor_line().contains(needle) {
        return Some("the input line was submitted and cleared".into());
    }
    let at_prompt = |v: &Verdict| matches!(v.state, ScreenState::Ready | ScreenState::TaskComplete);
    if at_prompt(was) && !at_prompt(&verdict) && !busy(was) {
        let rule = was.provenance.as_ref().map(|p| p.rule.clone()).unwrap_or_default();
        return Some(format!("the agent left its ready prompt ({rule})"));
    }
    None
}

fn undelivered(core: &SessionCore, input: u64, reason: String) -> Delivery {
    debug!(input, %reason, "input undelivered");
    core.bus.publish(Some(core.id), EventKind::InputUndelivered { input, reason: reason.clone() });
    Delivery { input, delivered: false, detail: reason }
}
