//! The `AutoResponder`: answers the prompts it may answer, and turns the
//! others into pending confirmations.
//!
//! Rules: the caller's (given at spawn, added at run time) and the adapter's
//! built-in blocking-prompt rules. Each look at the screen (right after
//! output, at most every [`EVAL_INTERVAL`] during a burst) finds the
//! bottom-most match of each caller rule and the adapter's blocking prompt.
//! A match is answered once: it is *latched* by its identity (rule, absolute
//! line, matched text) until it leaves the screen, so the echo of the answer
//! or a redraw of the same dialog does not answer it again; a new prompt on
//! another line is a new match. The supervision level decides what happens to
//! a match: `autonomous` answers safe ones (and built-in ones the approval
//! preset allows) and makes the others pending confirmations, `confirm` makes
//! every suggested answer a pending confirmation, `notify` types nothing.
//! `once` rules answer at most once per session; the loop guard stops a rule
//! that answered [`LOOP_LIMIT`] times within [`LOOP_WINDOW`] and asks instead.
//!
//! Its memory (latches, history, pending confirmations) lives in the shared
//! session state, so a restarted responder does not answer a prompt twice.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tracing::{info, warn};
use warden_adapters::{PromptKind, Response};
use warden_core::{EventKind, InputVia, PendingConfirmation, Reply, ResponseRule, SupervisionLevel};

use crate::detector::{EVAL_INTERVAL, spawn_forwarder};
use crate::error::SessionError;
use crate::shared::{SessionShared, View, compile_rules, truncate_chars};

/// Answers by one rule within [`LOOP_WINDOW`] before the loop guard asks instead.
pub(crate) const LOOP_LIMIT: usize = 3;
/// The loop guard's window.
pub(crate) const LOOP_WINDOW: Duration = Duration::from_secs(30);

/// What the responder remembers (kept in the shared session state).
#[derive(Default)]
pub(crate) struct Memory {
    /// Matches answered or asked about, until they leave the screen.
    latched: HashSet<Latch>,
    /// When each rule answered, for the loop guard.
    history: HashMap<String, VecDeque<Instant>>,
    /// `once` rules that answered.
    once_done: HashSet<String>,
    pending_seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Latch {
    rule: String,
    line: u64,
    matched: String,
}

/// One thing on screen a rule recognised.
struct Candidate {
    latch: Latch,
    source: &'static str,
    matched: String,
    reply: Option<Sent>,
    safe: bool,
    once: bool,
    prompt_kind: String,
    prompt: String,
    choices: Vec<String>,
}

#[derive(Clone)]
enum Sent {
    Reply(Reply),
    Builtin(Response),
}

impl Sent {
    fn describe(&self) -> String {
        match self {
            Sent::Reply(r) => r.describe(),
            Sent::Builtin(Response::Text(t)) => t.clone(),
            Sent::Builtin(Response::Keys(k)) => format!("keys:{}", k.join(",")),
        }
    }

    fn reply(&self) -> Reply {
        match self {
            Sent::Reply(r) => r.clone(),
            Sent::Builtin(Response::Text(t)) => Reply::Text(t.clone()),
            Sent::Builtin(Response::Keys(k)) => Reply::Keys(k.clone()),
        }
    }
}

pub(crate) enum ResponderMsg {
    Wake,
    Tick,
}

pub(crate) struct ResponderArgs {
    pub shared: Arc<SessionShared>,
}

pub(crate) struct AutoResponder;

pub(crate) struct ResponderState {
    shared: Arc<SessionShared>,
    last_eval: Option<Instant>,
    wake_queued: Arc<AtomicBool>,
    forwarder: Option<tokio::task::JoinHandle<()>>,
    timer: Option<tokio::task::JoinHandle<()>>,
}

impl ResponderState {
    fn evaluate(&mut self) {
        self.last_eval = Some(Instant::now());
        if !self.shared.state().is_live() {
            return;
        }
        let view = self.shared.screen.view();
        let candidates = self.candidates(&view);
        let level = self.shared.config.supervision;
        let mut mem = self.shared.lock_memory();
        // Matches that left the screen are forgotten, and so are their pending confirmations.
        let live: HashSet<&Latch> = candidates.iter().map(|c| &c.latch).collect();
        mem.latched.retain(|l| live.contains(l));
        let gone: Vec<PendingConfirmation> = {
            let mut pending = self.shared.lock_pending();
            let (keep, gone) = pending.drain(..).partition(|p| mem.latched.iter().any(|l| pending_matches(p, l)));
            *pending = keep;
            gone
        };
        for p in gone {
            self.shared.bus.publish(
                Some(self.shared.id),
                EventKind::ConfirmationResolved { id: p.id, outcome: "gone".into(), sent: None },
            );
        }
        for c in candidates {
            if mem.latched.contains(&c.latch) || (c.once && mem.once_done.contains(&c.latch.rule)) {
                continue;
            }
            mem.latched.insert(c.latch.clone());
            let Some(reply) = c.reply.clone() else { continue };
            if level == SupervisionLevel::Notify {
                continue;
            }
            let now = Instant::now();
            let history = mem.history.entry(c.latch.rule.clone()).or_default();
            while history.front().is_some_and(|t| now.duration_since(*t) > LOOP_WINDOW) {
                history.pop_front();
            }
            let looping = history.len() >= LOOP_LIMIT;
            let automatic = level == SupervisionLevel::Autonomous && c.safe && !looping;
            if automatic {
                history.push_back(now);
                if c.once {
                    mem.once_done.insert(c.latch.rule.clone());
                }
                self.send(&reply);
                info!(session = %self.shared.id, rule = %c.latch.rule, sent = %reply.describe(), "auto-responded");
                self.shared.bus.publish(
                    Some(self.shared.id),
                    EventKind::AutoResponded {
                        rule: c.latch.rule.clone(),
                        source: c.source.to_string(),
                        matched: c.matched.clone(),
                        sent: reply.describe(),
                    },
                );
            } else {
                let reason = if looping {
                    format!("loop guard: rule answered {} times within {}s", history.len(), LOOP_WINDOW.as_secs())
                } else if level == SupervisionLevel::Confirm {
                    "supervision level is confirm".into()
                } else {
                    "not safe to answer without asking at this approval preset".into()
                };
                mem.pending_seq += 1;
                let id = format!("c{}", mem.pending_seq);
                let pending = PendingConfirmation {
                    id: id.clone(),
                    prompt_kind: c.prompt_kind.clone(),
                    prompt: c.prompt.clone(),
                    choices: c.choices.clone(),
                    suggested: Some(reply.reply()),
                    reason: reason.clone(),
                    rule: Some(format!("{}#{}#{}", c.latch.rule, c.latch.line, c.latch.matched)),
                };
                self.shared.lock_pending().push(pending);
                warn!(session = %self.shared.id, rule = %c.latch.rule, %reason, "confirmation pending");
                self.shared.bus.publish(
                    Some(self.shared.id),
                    EventKind::ConfirmationPending {
                        id,
                        prompt_kind: c.prompt_kind,
                        prompt: c.prompt,
                        choices: c.choices,
                        suggested: Some(reply.describe()),
                        reason,
                        rule: Some(c.latch.rule),
                    },
                );
            }
        }
    }

    fn candidates(&self, view: &View) -> Vec<Candidate> {
        let mut out = Vec::new();
        let rules = self.shared.lock_rules().clone();
        for rule in &rules {
            let Some(m) = rule.regex.find_iter(&view.text).last() else { continue };
            let row = view.text[..m.start()].matches('\n').count() as u64;
            let matched = truncate_chars(m.as_str(), 200);
            let line = line_at(&view.text, m.start());
            out.push(Candidate {
                latch: Latch { rule: rule.id.clone(), line: view.scrolled + row, matched: matched.clone() },
                source: rule.source,
                matched,
                reply: Some(Sent::Reply(rule.spec.reply.clone())),
                safe: rule.spec.safe,
                once: rule.spec.once,
                prompt_kind: "rule".into(),
                prompt: truncate_chars(line.trim(), 400),
                choices: Vec::new(),
            });
        }
        let verdict = self.shared.classify_view(view);
        if let Some(b) = verdict.blocking
            && !matches!(
                b.kind,
                PromptKind::Login
                    | PromptKind::UsageLimit
                    | PromptKind::ProviderUnreachable
                    | PromptKind::ProviderError
            )
        {
            let safe = b.may_auto_answer(self.shared.config.preset);
            out.push(Candidate {
                latch: Latch {
                    rule: format!("{}/{}", b.provenance.adapter, b.provenance.rule),
                    line: view.scrolled,
                    matched: b.provenance.evidence.clone(),
                },
                source: "adapter",
                matched: b.provenance.evidence.clone(),
                reply: b.response.clone().map(Sent::Builtin),
                safe,
                once: b.once,
                prompt_kind: b.kind.as_str().to_string(),
                prompt: truncate_chars(&b.prompt, 400),
                choices: b.choices.iter().map(|c| c.label.clone()).collect(),
            });
        }
        out
    }

    fn send(&self, reply: &Sent) {
        match reply {
            Sent::Builtin(r) => {
                let bytes = self.shared.adapter.response_bytes(r);
                let keys = match r {
                    Response::Keys(k) => k.clone(),
                    Response::Text(_) => Vec::new(),
                };
                let via = if keys.is_empty() { InputVia::Text } else { InputVia::Keys };
                self.shared.write_raw(bytes, via, keys);
            }
            Sent::Reply(r) => send_reply(&self.shared, r),
        }
    }
}

fn line_at(text: &str, at: usize) -> &str {
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    &text[start..end]
}

fn pending_matches(p: &PendingConfirmation, l: &Latch) -> bool {
    p.rule.as_deref() == Some(format!("{}#{}#{}", l.rule, l.line, l.matched).as_str())
}

/// Types a reply: text the adapter's way, keys as they are.
pub(crate) fn send_reply(shared: &SessionShared, reply: &Reply) {
    match reply {
        Reply::Text(t) => {
            let plan = shared.adapter.input_plan(t);
            shared.write_plan(plan, InputVia::Text);
        }
        Reply::Keys(keys) => match warden_core::keys::keys_bytes(keys) {
            Ok(bytes) => shared.write_raw(bytes, InputVia::Keys, keys.clone()),
            Err(e) => warn!(session = %shared.id, error = %e, "reply keys"),
        },
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
        let forwarder = spawn_forwarder(&args.shared, myself.clone(), wake_queued.clone(), || ResponderMsg::Wake);
        let _ = myself.cast(ResponderMsg::Wake);
        Ok(ResponderState {
            shared: args.shared,
            last_eval: None,
            wake_queued,
            forwarder: Some(forwarder),
            timer: None,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<ResponderMsg>,
        st: &mut ResponderState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(f) = st.forwarder.take() {
            f.abort();
        }
        if let Some(t) = st.timer.take() {
            t.abort();
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<ResponderMsg>,
        msg: ResponderMsg,
        st: &mut ResponderState,
    ) -> Result<(), ActorProcessingErr> {
        crate::session::maybe_fault(&st.shared.fault_responder, "auto_responder");
        match msg {
            ResponderMsg::Wake => {
                st.wake_queued.store(false, Ordering::Release);
                match st.last_eval {
                    Some(t) if t.elapsed() < EVAL_INTERVAL => {
                        if st.timer.as_ref().is_none_or(|h| h.is_finished()) {
                            let me = myself.clone();
                            let at = t + EVAL_INTERVAL;
                            st.timer = Some(tokio::spawn(async move {
                                tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
                                let _ = me.cast(ResponderMsg::Tick);
                            }));
                        }
                    }
                    _ => st.evaluate(),
                }
            }
            ResponderMsg::Tick => {
                st.timer = None;
                st.evaluate();
            }
        }
        Ok(())
    }
}

/// Answers (`reply: Some`) or declines (`None`) a pending confirmation.
/// `Some(None)` sends the suggested answer.
pub(crate) async fn confirm(
    shared: &Arc<SessionShared>,
    id: &str,
    reply: Option<Option<Reply>>,
) -> Result<(), SessionError> {
    let unknown = || SessionError::UnknownConfirmation { session: shared.id, id: truncate_chars(id, 64) };
    let pending = {
        let mut pending = shared.lock_pending();
        let at = pending.iter().position(|p| p.id == id).ok_or_else(unknown)?;
        match &reply {
            Some(r) => {
                if r.is_none() && pending[at].suggested.is_none() {
                    return Err(SessionError::BadRule("this prompt has no suggested answer; give one".into()));
                }
                if let Some(Reply::Keys(keys)) = r {
                    warden_core::keys::keys_bytes(keys)?;
                }
            }
            None => {}
        }
        pending.remove(at)
    };
    match reply {
        Some(r) => {
            let Some(r) = r.or(pending.suggested.clone()) else { return Err(unknown()) };
            send_reply(shared, &r);
            shared.bus.publish(
                Some(shared.id),
                EventKind::ConfirmationResolved {
                    id: pending.id,
                    outcome: "answered".into(),
                    sent: Some(r.describe()),
                },
            );
        }
        None => {
            shared.bus.publish(
                Some(shared.id),
                EventKind::ConfirmationResolved { id: pending.id, outcome: "declined".into(), sent: None },
            );
        }
    }
    Ok(())
}

/// Adds caller rules at run time.
pub(crate) fn add_rules(shared: &Arc<SessionShared>, rules: Vec<ResponseRule>) -> Result<Vec<String>, SessionError> {
    let compiled = compile_rules(&rules, "runtime", &shared.rule_seq).map_err(SessionError::BadRule)?;
    let ids = compiled.iter().map(|r| r.id.clone()).collect();
    {
        let mut all = shared.lock_rules();
        if all.len() + compiled.len() > 1024 {
            return Err(SessionError::BadRule("a session holds at most 1024 rules".into()));
        }
        all.extend(compiled);
    }
    shared.screen.poke();
    Ok(ids)
}

/// Removes every caller rule.
pub(crate) fn clear_rules(shared: &Arc<SessionShared>) -> usize {
    let mut all = shared.lock_rules();
    let n = all.len();
    all.clear();
    n
}
