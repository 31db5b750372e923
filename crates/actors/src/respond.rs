//! The `AutoResponder`: answers the prompts it may answer, and turns the
//! others into pending confirmations.
//!
//! What to answer is decided by the policy in [`crate::decide::respond`]
//! (latches, scrolling, the echo of typed text, supervision levels, the TUI
//! delays, `once` rules and the loop guard); this actor gathers its inputs
//! and carries its effects out. Each look at the screen comes right after
//! output; wakes coalesce while a look runs, so a burst costs one look per
//! look's duration, not one per chunk. The rules: the caller's (given at
//! spawn, added at run time) and the adapter's built-in blocking-prompt
//! rules.
//!
//! Its memory (latches, history, typed text) lives in the shared session
//! state, so a restarted responder does not answer a prompt twice. Between
//! two lives of a restart nothing is answered.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tracing::{info, warn};
use warden_core::{ConfirmationOutcome, EventKind, InputVia, Reply};

use crate::decide::respond::{Answer, Effect, Input, RespondConfig};
use crate::decide::view::Look;
use crate::msg::ResponderMsg;
use crate::session_core::SessionCore as SessionShared;

pub(crate) struct ResponderArgs {
    pub shared: Arc<SessionShared>,
}

pub(crate) struct AutoResponder;

pub(crate) struct ResponderState {
    shared: Arc<SessionShared>,
    me: ActorRef<ResponderMsg>,
    /// A look scheduled for a dialog that is not old enough yet.
    later: Option<tokio::task::JoinHandle<Result<(), ractor::MessagingErr<ResponderMsg>>>>,
    last_eval: Option<Instant>,
    wake_queued: Arc<AtomicBool>,
    /// Registered with the screen for its changes.
    listener: Option<crate::screen_cell::ListenerId>,
}

impl ResponderState {
    fn evaluate(&mut self) {
        self.last_eval = Some(Instant::now());
        let shared = &self.shared;
        if !shared.state().is_live() {
            return;
        }
        // Nothing to recognise (no caller rules, an adapter without prompt
        // rules): leave the screen to the detector.
        // (Asked on every look: a rule overlay may add prompt rules to a running node.)
        let adapter_prompts = shared.adapter().rules.iter().any(|r| r.state == warden_adapters::Detection::Blocking);
        if !adapter_prompts && shared.rules.lock().is_empty() {
            return;
        }
        // Between two lives of a restart nothing can be answered: the screen is the last
        // one of the process that ended.
        if shared.typist.pty().is_none() {
            return;
        }
        let view = shared.screen.view();
        let look = Look { verdict: shared.classify_view(&view), view };
        let cfg = RespondConfig {
            supervision: shared.config.supervision,
            preset: shared.config.preset,
            loop_guard: shared.config.loop_guard,
            tui: matches!(shared.adapter().input, warden_adapters::InputStyle::Paste { .. }),
        };
        let effects = {
            // Lock order: memory, rules, pending.
            let mut mem = shared.lock_memory();
            let rules = shared.rules.lock();
            let pending = shared.lock_pending();
            let input = Input { now: Instant::now(), pid: shared.pid(), look: &look, rules: &rules, pending: &pending };
            mem.look(&input, &cfg)
        };
        self.carry_out(effects);
    }

    /// Performs the policy's effects, in order.
    fn carry_out(&mut self, effects: Vec<Effect>) {
        let shared = &self.shared;
        for effect in effects {
            match effect {
                Effect::Send(answer) => send(shared, &answer),
                Effect::Forget { id } => {
                    let gone = {
                        let mut pending = shared.lock_pending();
                        let before = pending.len();
                        pending.retain(|p| p.id != id);
                        pending.len() < before
                    };
                    if gone {
                        shared.bus.publish(
                            Some(shared.id),
                            EventKind::ConfirmationResolved { id, outcome: ConfirmationOutcome::Gone, sent: None },
                        );
                    }
                }
                Effect::Ask(pending) => {
                    let cap = shared.rules.budgets().pending_confirmations;
                    let mut all = shared.lock_pending();
                    if all.len() >= cap {
                        // A screen of many prompts cannot grow the session without bound.
                        warn!(session = %shared.id, id = %pending.id, cap, "confirmation not kept: over the budget pending_confirmations");
                        continue;
                    }
                    info!(session = %shared.id, rule = ?pending.rule, reason = %pending.reason, "confirmation pending");
                    all.push(pending);
                }
                Effect::Publish(event) => {
                    if let EventKind::AutoResponded { rule, sent, .. } = &event {
                        info!(session = %shared.id, %rule, %sent, "auto-responded");
                    }
                    shared.bus.publish(Some(shared.id), event);
                }
                Effect::WakeAt(at) => {
                    if let Some(l) = self.later.take() {
                        l.abort();
                    }
                    let after = at.saturating_duration_since(Instant::now());
                    self.later = Some(self.me.send_after(after, || ResponderMsg::Wake));
                }
            }
        }
    }
}

/// Types an answer the responder chose (its text is already remembered as typed).
fn send(shared: &SessionShared, answer: &Answer) {
    match answer {
        Answer::Builtin(r) => {
            let bytes = shared.adapter().response_bytes(r);
            let keys = match r {
                Reply::Keys(k) => k.clone(),
                Reply::Text(_) => Vec::new(),
            };
            let via = if keys.is_empty() { InputVia::Text } else { InputVia::Keys };
            shared.typist.write_raw(bytes, via, keys);
        }
        Answer::Reply(r) => shared.send_reply(r),
    }
}

impl Actor for AutoResponder {
    type Msg = ResponderMsg;
    type State = ResponderState;
    type Arguments = ResponderArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<ResponderMsg>,
        args: ResponderArgs,
    ) -> Result<ResponderState, ActorProcessingErr> {
        let wake_queued = Arc::new(AtomicBool::new(false));
        let listener = args.shared.screen.forward_changes(myself.clone(), wake_queued.clone(), || ResponderMsg::Wake);
        let _ = myself.cast(ResponderMsg::Wake);
        Ok(ResponderState {
            shared: args.shared,
            me: myself.clone(),
            later: None,
            last_eval: None,
            wake_queued,
            listener: Some(listener),
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<ResponderMsg>,
        st: &mut ResponderState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(l) = st.listener.take() {
            st.shared.screen.stop_forwarding(l);
        }
        if let Some(l) = st.later.take() {
            l.abort();
        }
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<ResponderMsg>,
        msg: ResponderMsg,
        st: &mut ResponderState,
    ) -> Result<(), ActorProcessingErr> {
        #[cfg(feature = "test-hooks")]
        SessionShared::maybe_fault(&st.shared.faults.responder, warden_core::ActorKind::AutoResponder);
        match msg {
            ResponderMsg::Wake => {
                st.wake_queued.store(false, Ordering::Release);
                // No throttle: wakes coalesce while a look runs (one queued
                // wake at most), and a timer would cost a millisecond tick.
                st.evaluate();
            }
        }
        Ok(())
    }
}
