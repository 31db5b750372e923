//! The responder's policy: which prompts on screen are answered, which become
//! pending confirmations, and which are left alone.
//!
//! Each look finds the bottom-most match of each caller rule and the
//! adapter's blocking prompt. A match is answered once: it is *latched* by
//! its identity (rule, absolute line, matched text) until it leaves the
//! screen, so the echo of the answer or a redraw of the same dialog does not
//! answer it again; a new prompt on another line is a new match. The absolute
//! line follows the screen's content as it scrolls: the screen model's
//! scroll count when it moves, else the shift of the rows between two looks.
//! A caller's match inside the echo of text warden typed is skipped.
//!
//! The supervision level decides what happens to a match: `autonomous`
//! answers safe ones (and built-in ones the approval preset allows) and makes
//! the others pending confirmations, `confirm` makes every prompt a pending
//! confirmation, `notify` types nothing. A caller's rule that answers the
//! very line the adapter reads as its prompt takes precedence over the
//! adapter's built-in answer. A TUI's dialog is answered only once it has
//! been up for [`TUI_ANSWER_DELAY`], and again if it is still there
//! [`TUI_REANSWER_AFTER`] later. `once` rules answer at most once per
//! session; the loop guard stops a rule that answered too often and asks
//! instead. A new process starts with no latches.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use tracing::info;
use warden_adapters::{ApprovalPreset, PromptKind};
use warden_core::{
    ConfirmationKind, EventKind, LoopGuard, PendingConfirmation, PromptMatch, Reply, RuleSource, SupervisionLevel,
};

use super::view::{Look, View, truncate_chars};

/// Texts warden typed that are remembered to recognise their echo.
pub(crate) const TYPED_KEPT: usize = 8;

/// How long a TUI's dialog must be on screen before a built-in answer is sent:
/// Ink-style TUIs ignore keys that arrive while a dialog is still mounting
/// (seen with Claude Code's trust dialog: keys 10 ms and 100 ms after it was
/// drawn were dropped, 300 ms after they worked).
pub(crate) const TUI_ANSWER_DELAY: Duration = Duration::from_millis(400);
/// A built-in answer whose dialog is still there this long after is sent again.
pub(crate) const TUI_REANSWER_AFTER: Duration = Duration::from_millis(1500);

/// A compiled pattern of a caller (a rule's or a loading pattern), built
/// within its budgets by the session's rule book.
pub(crate) type Pattern = regex_automata::meta::Regex;

/// A caller's rule, compiled.
#[derive(Debug, Clone)]
pub(crate) struct CompiledRule {
    pub id: String,
    pub source: RuleSource,
    pub regex: Pattern,
    pub spec: warden_core::ResponseRule,
}

/// What the responder is configured with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RespondConfig {
    pub supervision: SupervisionLevel,
    pub preset: ApprovalPreset,
    pub loop_guard: LoopGuard,
    /// The adapter is a TUI (pastes its input): its dialogs get
    /// [`TUI_ANSWER_DELAY`] and [`TUI_REANSWER_AFTER`].
    pub tui: bool,
}

/// Everything one look decides on.
pub(crate) struct Input<'a> {
    pub now: Instant,
    /// The session's process now (a new one has answered nothing yet).
    pub pid: Option<u32>,
    pub look: &'a Look,
    /// The caller's rules.
    pub rules: &'a [CompiledRule],
    /// The pending confirmations now.
    pub pending: &'a [PendingConfirmation],
}

/// An answer to type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Answer {
    /// A caller rule's reply.
    Reply(Reply),
    /// The adapter's built-in answer (typed the adapter's way).
    Builtin(Reply),
}

impl Answer {
    /// The answer as events show it (`y`, `keys:down,enter`).
    pub(crate) fn describe(&self) -> String {
        match self {
            Answer::Reply(r) | Answer::Builtin(r) => r.describe(),
        }
    }

    /// The answer as a reply (what a pending confirmation suggests).
    pub(crate) fn reply(&self) -> Reply {
        match self {
            Answer::Reply(r) | Answer::Builtin(r) => r.clone(),
        }
    }
}

/// What the responder asks its actor to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Effect {
    /// Type an answer (its text is already remembered as typed).
    Send(Answer),
    /// A pending confirmation whose prompt left the screen: drop it and, if
    /// it was still pending, resolve it as `gone`.
    Forget { id: String },
    /// Add a pending confirmation (its `confirmation_pending` event follows).
    Ask(PendingConfirmation),
    /// Publish an event for the session.
    Publish(EventKind),
    /// Look again at this time (a dialog not old enough yet, or an answer
    /// that may not have taken).
    WakeAt(Instant),
}

/// What the responder remembers (kept in the session state, so that a
/// restarted responder does not answer a prompt twice).
#[derive(Debug, Default)]
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

/// A match on screen, latched by its identity (rule, absolute line, matched text).
type Latch = PromptMatch;

/// One thing on screen a rule recognised.
struct Candidate {
    latch: Latch,
    source: RuleSource,
    matched: String,
    reply: Option<Answer>,
    safe: bool,
    once: bool,
    prompt_kind: ConfirmationKind,
    prompt: String,
    choices: Vec<String>,
    /// The screen line it is on, trimmed (at most 200 characters).
    on_line: String,
}

impl Memory {
    /// Whether the responder has nothing scheduled: no dialog waiting for its
    /// answer delay, no answer waiting to be checked. A quiet responder may
    /// hibernate; the next change of the screen wakes it.
    pub(crate) fn is_quiet(&self) -> bool {
        self.answered_at.is_empty() && self.first_seen.keys().all(|l| self.latched.contains(l))
    }

    /// Records text warden types into the session, so that its echo is not
    /// taken for the agent's question.
    pub(crate) fn note_typed(&mut self, text: &str) {
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if self.typed.len() >= TYPED_KEPT {
                self.typed.pop_front();
            }
            self.typed.push_back(line.to_string());
        }
    }

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

    /// One look at the screen: what to answer, what to ask about, what to forget.
    pub(crate) fn look(&mut self, input: &Input<'_>, cfg: &RespondConfig) -> Vec<Effect> {
        let Input { now, pid, look, rules, pending } = *input;
        let loop_window = Duration::from_millis(cfg.loop_guard.window_ms);
        let mut out = Vec::new();
        if self.pid != pid {
            // A new process: what the old one asked is gone (its confirmations too).
            self.pid = pid;
            self.latched.clear();
        }
        let top = self.track_scroll(&look.view);
        let candidates = candidates(look, rules, top, &self.typed, cfg.preset);
        // Matches that left the screen are forgotten, and so are their pending confirmations.
        let live: HashSet<&Latch> = candidates.iter().map(|c| &c.latch).collect();
        self.latched.retain(|l| live.contains(l));
        self.first_seen.retain(|l, _| live.contains(l));
        self.answered_at.retain(|l, _| live.contains(l));
        // A dialog still up, unchanged, well after its answer did not take it: answer again.
        let stale: Vec<Latch> = self
            .answered_at
            .iter()
            .filter(|(_, at)| now.duration_since(**at) >= TUI_REANSWER_AFTER)
            .map(|(l, _)| l.clone())
            .collect();
        for l in stale {
            self.answered_at.remove(&l);
            self.latched.remove(&l);
            self.once_done.remove(&l.rule);
        }
        for p in pending {
            if !p.on_screen.as_ref().is_some_and(|m| self.latched.contains(m)) {
                out.push(Effect::Forget { id: p.id.clone() });
            }
        }
        let level = cfg.supervision;
        let mut wake_at: Option<Instant> = None;
        // Lines a caller's rule answered in this look: the adapter does not answer them again.
        let mut answered_lines: Vec<String> = Vec::new();
        for c in candidates {
            if self.latched.contains(&c.latch) || (c.once && self.once_done.contains(&c.latch.rule)) {
                continue;
            }
            if cfg.tui && c.source == RuleSource::Adapter && level == SupervisionLevel::Autonomous && c.safe {
                let seen = *self.first_seen.entry(c.latch.clone()).or_insert(now);
                let ready_at = seen + TUI_ANSWER_DELAY;
                if now < ready_at {
                    wake_at = Some(wake_at.map_or(ready_at, |w| w.min(ready_at)));
                    continue;
                }
            }
            self.latched.insert(c.latch.clone());
            if level == SupervisionLevel::Notify {
                continue;
            }
            if c.source == RuleSource::Adapter && answered_lines.contains(&c.on_line) {
                info!(rule = %c.latch.rule, "answered by a caller's rule");
                continue;
            }
            let history = self.history.entry(c.latch.rule.clone()).or_default();
            while history.front().is_some_and(|t| now.duration_since(*t) > loop_window) {
                history.pop_front();
            }
            let looping = history.len() >= cfg.loop_guard.max_answers as usize;
            let automatic = level == SupervisionLevel::Autonomous && c.safe && !looping;
            match (automatic, c.reply) {
                (true, Some(reply)) => {
                    history.push_back(now);
                    if c.once {
                        self.once_done.insert(c.latch.rule.clone());
                    }
                    if let Answer::Reply(Reply::Text(t)) | Answer::Builtin(Reply::Text(t)) = &reply {
                        self.note_typed(t);
                    }
                    if c.source != RuleSource::Adapter {
                        answered_lines.push(c.on_line);
                    } else if cfg.tui {
                        self.answered_at.insert(c.latch.clone(), now);
                        let again = now + TUI_REANSWER_AFTER;
                        wake_at = Some(wake_at.map_or(again, |w| w.min(again)));
                    }
                    // The event first, then the answer: what the agent does with it
                    // (print, exit) comes after it in the event stream.
                    let sent = reply.describe();
                    out.push(Effect::Publish(EventKind::AutoResponded {
                        rule: c.latch.rule,
                        source: c.source,
                        matched: c.matched,
                        sent,
                    }));
                    out.push(Effect::Send(reply));
                }
                (_, reply) => {
                    let reason = if reply.is_none() {
                        "no suggested answer; give one".into()
                    } else if looping {
                        format!(
                            "loop guard: rule answered {} times within {} ms",
                            history.len(),
                            cfg.loop_guard.window_ms
                        )
                    } else if level == SupervisionLevel::Confirm {
                        "supervision level is confirm".into()
                    } else {
                        "not safe to answer without asking at this approval preset".into()
                    };
                    self.pending_seq += 1;
                    let id = format!("c{}", self.pending_seq);
                    out.push(Effect::Ask(PendingConfirmation {
                        id: id.clone(),
                        prompt_kind: c.prompt_kind,
                        prompt: c.prompt.clone(),
                        choices: c.choices.clone(),
                        suggested: reply.as_ref().map(Answer::reply),
                        reason: reason.clone(),
                        rule: Some(c.latch.rule.clone()),
                        on_screen: Some(c.latch.clone()),
                    }));
                    out.push(Effect::Publish(EventKind::ConfirmationPending {
                        id,
                        prompt_kind: c.prompt_kind,
                        prompt: c.prompt,
                        choices: c.choices,
                        suggested: reply.as_ref().map(Answer::describe),
                        reason,
                        rule: Some(c.latch.rule),
                    }));
                }
            }
        }
        if let Some(at) = wake_at {
            out.push(Effect::WakeAt(at));
        }
        out
    }
}

/// What the rules recognise on `look`, whose row 0 is absolute line `top`.
fn candidates(
    look: &Look,
    rules: &[CompiledRule],
    top: u64,
    typed: &VecDeque<String>,
    preset: ApprovalPreset,
) -> Vec<Candidate> {
    let text = &look.view.text;
    let mut out = Vec::new();
    for rule in rules {
        // The bottom-most match that is not the echo of something warden typed.
        let Some(m) = rule.regex.find_iter(text).filter(|m| !inside_typed(text, m, typed)).last() else {
            continue;
        };
        let row = text[..m.start()].matches('\n').count() as u64;
        let matched = truncate_chars(&text[m.range()], 200);
        let line = line_at(text, m.start());
        out.push(Candidate {
            latch: Latch { rule: rule.id.clone(), line: top + row, matched: matched.clone() },
            source: rule.source,
            matched,
            reply: Some(Answer::Reply(rule.spec.reply.clone())),
            safe: rule.spec.safe,
            once: rule.spec.once,
            prompt_kind: ConfirmationKind::Rule,
            prompt: truncate_chars(line.trim(), 400),
            choices: Vec::new(),
            on_line: line.trim().chars().take(200).collect(),
        });
    }
    if let Some(b) = &look.verdict.blocking
        && !matches!(
            b.kind,
            PromptKind::Login | PromptKind::UsageLimit | PromptKind::ProviderUnreachable | PromptKind::ProviderError
        )
    {
        let evidence = b.provenance.evidence.clone();
        // The row the prompt's evidence is on (the bottom-most line that reads so).
        let row = text
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
            source: RuleSource::Adapter,
            matched: evidence.clone(),
            reply: b.response.clone().map(Answer::Builtin),
            safe: b.may_auto_answer(preset),
            once: b.once,
            prompt_kind: ConfirmationKind::Prompt(b.kind),
            prompt: truncate_chars(&b.prompt, 400),
            choices: b.choices.iter().map(|c| c.label.clone()).collect(),
            on_line: evidence,
        });
    }
    out
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

fn line_at(text: &str, at: usize) -> &str {
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    &text[start..end]
}

/// Whether match `m` lies inside an echo of a line warden typed.
fn inside_typed(text: &str, m: &regex_automata::Match, typed: &VecDeque<String>) -> bool {
    typed.iter().any(|t| text.match_indices(t.as_str()).any(|(at, _)| m.start() >= at && m.end() <= at + t.len()))
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
        let re = Pattern::new(r"Proceed\? \[y/N\]").expect("regex");
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
        mem.note_typed("first line\n\n  second  \n");
        assert_eq!(mem.typed, VecDeque::from(["first line".to_string(), "second".to_string()]));
        for i in 0..20 {
            mem.note_typed(&format!("t{i}"));
        }
        assert_eq!(mem.typed.len(), TYPED_KEPT);
        assert_eq!(mem.typed.back().map(String::as_str), Some("t19"));
    }
}
