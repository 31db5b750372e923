//! The `AutoResponder`: answers the prompts it may answer, and turns the
//! others into pending confirmations.
//!
//! Rules: the caller's (given at spawn, added at run time) and the adapter's
//! built-in blocking-prompt rules. Each look at the screen (right after
//! output; wakes coalesce while a look runs, so a burst costs one look per
//! look's duration, not one per chunk) finds the
//! bottom-most match of each caller rule and the adapter's blocking prompt.
//! A match is answered once: it is *latched* by its identity (rule, absolute
//! line, matched text) until it leaves the screen, so the echo of the answer
//! or a redraw of the same dialog does not answer it again; a new prompt on
//! another line is a new match. The absolute line follows the screen's
//! content as it scrolls: the screen model's scroll count when it moves,
//! else the shift of the rows between two looks (so a prompt that output
//! pushed up is still the same prompt). A caller's match that lies inside
//! the echo of text warden typed (a task, a `send`, a nudge, an answer) is
//! warden's own words, not a question, and is skipped.
//!
//! The supervision level decides what happens to a match: `autonomous`
//! answers safe ones (and built-in ones the approval preset allows) and makes
//! the others pending confirmations, `confirm` makes every prompt a pending
//! confirmation, `notify` types nothing. A caller's rule that answers the
//! very line the adapter reads as its prompt takes precedence over the
//! adapter's built-in answer (one answer per prompt). A prompt without a
//! suggested answer is still a pending confirmation (the caller gives the
//! answer). `once` rules answer at most once per session; the loop guard
//! (`SessionSpec.loop_guard`, default 3 answers within 30 s) stops a rule that
//! answered that often and asks instead.
//!
//! Its memory (latches, history, typed text, pending confirmations) lives in
//! the shared session state, so a restarted responder does not answer a
//! prompt twice. A new process of the session (a restart) starts with no
//! latches: its prompts are new ones. Between two lives nothing is answered.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tracing::{info, warn};
use warden_adapters::{PromptKind, Response};
use warden_core::{EventKind, InputVia, PendingConfirmation, Reply, ResponseRule, SupervisionLevel};

use crate::detector::spawn_forwarder;
use crate::error::SessionError;
use crate::shared::{SessionShared, View, compile_rules, truncate_chars};

/// Texts warden typed that are remembered to recognise their echo.
const TYPED_KEPT: usize = 8;

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
    /// Lines of text warden typed, most recent last.
    typed: VecDeque<String>,
    /// Rows of the last look (hashes), to follow content that scrolls.
    rows: Vec<u64>,
    /// The screen model's scroll count at the last look.
    model_scrolled: u64,
    /// Lines the content moved up since the first look.
    shift: u64,
    /// The process of the last look (a new one has answered nothing yet).
    pid: Option<u32>,
    /// When each adapter prompt was first seen (a TUI's dialog is answered only
    /// once it has been up for [`TUI_ANSWER_DELAY`]).
    first_seen: HashMap<Latch, Instant>,
    /// When each adapter prompt was answered (one still up, unchanged,
    /// [`TUI_REANSWER_AFTER`] later is answered again; the loop guard bounds it).
    answered_at: HashMap<Latch, Instant>,
}

/// How long a TUI's dialog must be on screen before a built-in answer is sent:
/// Ink-style TUIs ignore keys that arrive while a dialog is still mounting
/// (seen with Claude Code's trust dialog: keys 10 ms and 100 ms after it was
/// drawn were dropped, 300 ms after they worked).
pub(crate) const TUI_ANSWER_DELAY: Duration = Duration::from_millis(400);
/// A built-in answer whose dialog is still there this long after is sent again.
pub(crate) const TUI_REANSWER_AFTER: Duration = Duration::from_millis(1500);

impl Memory {
    /// Follows the content between two looks; returns the absolute line of row 0.
    fn track_scroll(&mut self, view: &View) -> u64 {
        let rows: Vec<u64> = view.text.split('\n').map(row_hash).collect();
        let moved = if view.scrolled > self.model_scrolled {
            view.scrolled - self.model_scrolled
        } else {
            row_shift(&self.rows, &rows)
        };
        self.model_scrolled = view.scrolled;
        self.shift += moved;
        self.rows = rows;
        self.shift
    }
}

fn row_hash(row: &str) -> u64 {
    let row = row.trim_end();
    if row.is_empty() {
        return 0;
    }
    let mut h = std::hash::DefaultHasher::new();
    row.hash(&mut h);
    h.finish() | 1
}

/// How many lines the rows moved up from `prev` to `now`: the shift that
/// lines up the most non-blank rows, when it lines up at least two of them and
/// at least half of the rows that could have moved (else 0: no scroll, or a
/// new screen).
fn row_shift(prev: &[u64], now: &[u64]) -> u64 {
    let mut at: HashMap<u64, Vec<usize>> = HashMap::new();
    for (j, h) in prev.iter().enumerate().filter(|(_, h)| **h != 0) {
        at.entry(*h).or_default().push(j);
    }
    let mut votes = vec![0usize; prev.len().max(1)];
    for (i, h) in now.iter().enumerate().filter(|(_, h)| **h != 0) {
        // The nearest few earlier positions of the same row (rules and blank-ish rows repeat).
        for j in at.get(h).into_iter().flatten().filter(|j| **j >= i).take(8) {
            votes[j - i] += 1;
        }
    }
    let Some((d, best)) = votes.iter().enumerate().skip(1).max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0))) else {
        return 0;
    };
    let movable = prev.iter().skip(d).filter(|h| **h != 0).count();
    if *best > votes[0] && *best >= 2 && 2 * best >= movable { d as u64 } else { 0 }
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
    /// The screen line it is on, trimmed (at most 200 characters).
    on_line: String,
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
}

pub(crate) struct ResponderArgs {
    pub shared: Arc<SessionShared>,
}

pub(crate) struct AutoResponder;

pub(crate) struct ResponderState {
    shared: Arc<SessionShared>,
    /// Whether the adapter has rules for blocking prompts at all.
    adapter_prompts: bool,
    me: ActorRef<ResponderMsg>,
    /// A look scheduled for a dialog that is not old enough yet.
    later: Option<tokio::task::JoinHandle<()>>,
    last_eval: Option<Instant>,
    wake_queued: Arc<AtomicBool>,
    forwarder: Option<tokio::task::JoinHandle<()>>,
}

impl ResponderState {
    fn evaluate(&mut self) {
        self.last_eval = Some(Instant::now());
        if !self.shared.state().is_live() {
            return;
        }
        // Nothing to recognise (no caller rules, an adapter without prompt
        // rules): leave the screen to the detector.
        if !self.adapter_prompts && self.shared.lock_rules().is_empty() {
            return;
        }
        // Between two lives of a restart nothing can be answered: the screen is the last
        // one of the process that ended.
        if self.shared.pty().is_none() {
            return;
        }
        let view = self.shared.screen.view();
        let level = self.shared.config.supervision;
        let guard = self.shared.config.loop_guard;
        let loop_window = Duration::from_millis(guard.window_ms);
        let mut mem = self.shared.lock_memory();
        let pid = self.shared.pid();
        if mem.pid != pid {
            // A new process: what the old one asked is gone (its confirmations too).
            mem.pid = pid;
            mem.latched.clear();
        }
        let top = mem.track_scroll(&view);
        let candidates = self.candidates(&view, top, &mem.typed);
        // Matches that left the screen are forgotten, and so are their pending confirmations.
        let live: HashSet<&Latch> = candidates.iter().map(|c| &c.latch).collect();
        mem.latched.retain(|l| live.contains(l));
        mem.first_seen.retain(|l, _| live.contains(l));
        mem.answered_at.retain(|l, _| live.contains(l));
        // A dialog still up, unchanged, well after its answer did not take it: answer again.
        let now = Instant::now();
        let stale: Vec<Latch> = mem
            .answered_at
            .iter()
            .filter(|(_, at)| now.duration_since(**at) >= TUI_REANSWER_AFTER)
            .map(|(l, _)| l.clone())
            .collect();
        for l in stale {
            mem.answered_at.remove(&l);
            mem.latched.remove(&l);
            mem.once_done.remove(&l.rule);
        }
        let tui = matches!(self.shared.adapter.input, warden_adapters::InputStyle::Paste { .. });
        let mut wake_at: Option<Instant> = None;
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
        // Lines a caller's rule answered in this look: the adapter does not answer them again.
        let mut answered_lines: Vec<String> = Vec::new();
        for c in candidates {
            if mem.latched.contains(&c.latch) || (c.once && mem.once_done.contains(&c.latch.rule)) {
                continue;
            }
            if tui && c.source == "adapter" && level == SupervisionLevel::Autonomous && c.safe {
                let seen = *mem.first_seen.entry(c.latch.clone()).or_insert(now);
                let ready_at = seen + TUI_ANSWER_DELAY;
                if now < ready_at {
                    wake_at = Some(wake_at.map_or(ready_at, |w| w.min(ready_at)));
                    continue;
                }
            }
            mem.latched.insert(c.latch.clone());
            if level == SupervisionLevel::Notify {
                continue;
            }
            if c.source == "adapter" && answered_lines.contains(&c.on_line) {
                info!(session = %self.shared.id, rule = %c.latch.rule, "answered by a caller's rule");
                continue;
            }
            let now = Instant::now();
            let history = mem.history.entry(c.latch.rule.clone()).or_default();
            while history.front().is_some_and(|t| now.duration_since(*t) > loop_window) {
                history.pop_front();
            }
            let looping = history.len() >= guard.max_answers as usize;
            let automatic = level == SupervisionLevel::Autonomous && c.safe && !looping && c.reply.is_some();
            if let (true, Some(reply)) = (automatic, &c.reply) {
                history.push_back(now);
                if c.once {
                    mem.once_done.insert(c.latch.rule.clone());
                }
                if let Sent::Reply(Reply::Text(t)) | Sent::Builtin(Response::Text(t)) = reply {
                    remember_typed(&mut mem, t);
                }
                self.send(reply);
                if c.source != "adapter" {
                    answered_lines.push(c.on_line.clone());
                } else if tui {
                    mem.answered_at.insert(c.latch.clone(), now);
                    let again = now + TUI_REANSWER_AFTER;
                    wake_at = Some(wake_at.map_or(again, |w| w.min(again)));
                }
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
                let reason = if c.reply.is_none() {
                    "no suggested answer; give one".into()
                } else if looping {
                    format!("loop guard: rule answered {} times within {} ms", history.len(), guard.window_ms)
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
                    suggested: c.reply.as_ref().map(Sent::reply),
                    reason: reason.clone(),
                    rule: Some(format!("{}#{}#{}", c.latch.rule, c.latch.line, c.latch.matched)),
                };
                self.shared.lock_pending().push(pending);
                info!(session = %self.shared.id, rule = %c.latch.rule, %reason, "confirmation pending");
                self.shared.bus.publish(
                    Some(self.shared.id),
                    EventKind::ConfirmationPending {
                        id,
                        prompt_kind: c.prompt_kind,
                        prompt: c.prompt,
                        choices: c.choices,
                        suggested: c.reply.as_ref().map(Sent::describe),
                        reason,
                        rule: Some(c.latch.rule),
                    },
                );
            }
        }
        drop(mem);
        if let Some(at) = wake_at {
            if let Some(l) = self.later.take() {
                l.abort();
            }
            let me = self.me.clone();
            self.later = Some(tokio::spawn(async move {
                tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
                let _ = me.cast(ResponderMsg::Wake);
            }));
        }
    }

    /// What the rules recognise on `view`, whose row 0 is absolute line `top`.
    fn candidates(&self, view: &View, top: u64, typed: &VecDeque<String>) -> Vec<Candidate> {
        let mut out = Vec::new();
        let rules = self.shared.lock_rules();
        for rule in rules.iter() {
            // The bottom-most match that is not the echo of something warden typed.
            let Some(m) = rule.regex.find_iter(&view.text).filter(|m| !inside_typed(&view.text, m, typed)).last()
            else {
                continue;
            };
            let row = view.text[..m.start()].matches('\n').count() as u64;
            let matched = truncate_chars(m.as_str(), 200);
            let line = line_at(&view.text, m.start());
            out.push(Candidate {
                latch: Latch { rule: rule.id.clone(), line: top + row, matched: matched.clone() },
                source: rule.source,
                matched,
                reply: Some(Sent::Reply(rule.spec.reply.clone())),
                safe: rule.spec.safe,
                once: rule.spec.once,
                prompt_kind: "rule".into(),
                prompt: truncate_chars(line.trim(), 400),
                choices: Vec::new(),
                on_line: line.trim().chars().take(200).collect(),
            });
        }
        drop(rules);
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
            let evidence = b.provenance.evidence.clone();
            // The row the prompt's evidence is on (the bottom-most line that reads so).
            let row = view
                .text
                .split('\n')
                .enumerate()
                .filter(|(_, l)| !evidence.is_empty() && l.trim().starts_with(evidence.as_str()))
                .map(|(i, _)| i as u64)
                .last()
                .unwrap_or(0);
            out.push(Candidate {
                latch: Latch {
                    rule: format!("{}/{}", b.provenance.adapter, b.provenance.rule),
                    line: top + row,
                    matched: evidence.clone(),
                },
                source: "adapter",
                matched: evidence.clone(),
                reply: b.response.clone().map(Sent::Builtin),
                safe,
                once: b.once,
                prompt_kind: b.kind.as_str().to_string(),
                prompt: truncate_chars(&b.prompt, 400),
                choices: b.choices.iter().map(|c| c.label.clone()).collect(),
                on_line: evidence,
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

/// Whether match `m` lies inside an echo of a line warden typed.
fn inside_typed(text: &str, m: &regex::Match<'_>, typed: &VecDeque<String>) -> bool {
    typed.iter().any(|t| text.match_indices(t.as_str()).any(|(at, _)| m.start() >= at && m.end() <= at + t.len()))
}

fn remember_typed(mem: &mut Memory, text: &str) {
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if mem.typed.len() >= TYPED_KEPT {
            mem.typed.pop_front();
        }
        mem.typed.push_back(line.to_string());
    }
}

/// Records text warden types into the session, so that the responder does
/// not take its echo for the agent's question.
pub(crate) fn note_typed(shared: &SessionShared, text: &str) {
    remember_typed(&mut shared.lock_memory(), text);
}

fn pending_matches(p: &PendingConfirmation, l: &Latch) -> bool {
    p.rule.as_deref() == Some(format!("{}#{}#{}", l.rule, l.line, l.matched).as_str())
}

/// Types what warden sends on its own behalf (a confirmed answer, a task, a
/// nudge, escalation keys), remembering typed text so that its echo never
/// looks like a prompt to the caller's rules. Not for use while the
/// responder's memory is locked (the responder notes its own answers).
pub(crate) fn type_reply(shared: &SessionShared, reply: &Reply) {
    if let Reply::Text(t) = reply {
        note_typed(shared, t);
    }
    send_reply(shared, reply);
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
        let adapter_prompts = args.shared.adapter.rules.iter().any(|r| r.state == warden_adapters::Detection::Blocking);
        Ok(ResponderState {
            adapter_prompts,
            shared: args.shared,
            me: myself.clone(),
            later: None,
            last_eval: None,
            wake_queued,
            forwarder: Some(forwarder),
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
        crate::session::maybe_fault(&st.shared.fault_responder, "auto_responder");
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
            type_reply(shared, &r);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Vec<u64> {
        text.split('\n').map(row_hash).collect()
    }

    #[test]
    fn output_that_scrolls_is_followed() {
        let before: Vec<String> = (1..=5).map(|i| format!("n={i}")).chain(["Proceed? [y/N] ".into()]).collect();
        let after: Vec<String> =
            (3..=5).map(|i| format!("n={i}")).chain(["Proceed? [y/N] y".into(), "got-y".into(), "$ ".into()]).collect();
        assert_eq!(row_shift(&rows(&before.join("\n")), &rows(&after.join("\n"))), 2);
    }

    #[test]
    fn a_screen_that_stays_or_is_replaced_does_not_scroll() {
        let dialog = "╭──╮\n│ Allow execution of: 'rm'? │\n│ 1. Allow once │\n╰──╯";
        assert_eq!(row_shift(&rows(dialog), &rows(dialog)), 0);
        assert_eq!(row_shift(&rows(dialog), &rows("something\nelse\nentirely")), 0);
        // One line that happens to repeat higher up is not a scroll.
        assert_eq!(row_shift(&rows("a\nb\nc\n────\nd"), &rows("────\nx\ny\nz\nw")), 0);
        assert_eq!(row_shift(&[], &rows("a\nb")), 0);
        // Blank rows are not evidence.
        assert_eq!(row_shift(&rows("\n\n\nq"), &rows("\nq\n\n\n")), 0);
    }

    #[test]
    fn the_echo_of_typed_text_is_not_a_question() {
        let typed: VecDeque<String> = [r#"read -p "Proceed? [y/N] " a; exit 0"#.to_string()].into();
        let re = regex::Regex::new(r"Proceed\? \[y/N\]").expect("regex");
        let echo = "$ read -p \"Proceed? [y/N] \" a; exit 0\n";
        let m = re.find(echo).expect("match");
        assert!(inside_typed(echo, &m, &typed));
        let prompt = format!("{echo}Proceed? [y/N] ");
        let last = re.find_iter(&prompt).last().expect("match");
        assert!(!inside_typed(&prompt, &last, &typed));
        // A short answer typed earlier does not hide a longer match.
        let y: VecDeque<String> = ["y".to_string()].into();
        assert!(!inside_typed(&prompt, &last, &y));
    }

    #[test]
    fn typed_text_is_kept_by_lines_and_bounded() {
        let mut mem = Memory::default();
        remember_typed(&mut mem, "first line\n\n  second  \n");
        assert_eq!(mem.typed, VecDeque::from(["first line".to_string(), "second".to_string()]));
        for i in 0..20 {
            remember_typed(&mut mem, &format!("t{i}"));
        }
        assert_eq!(mem.typed.len(), TYPED_KEPT);
        assert_eq!(mem.typed.back().map(String::as_str), Some("t19"));
    }
}
