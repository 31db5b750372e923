//! Printing events, shared by `warden run` and `warden events`.

use std::io::{self, Write};

use warden_core::stall::EscalationStep;
use warden_core::{Event, EventKind};

/// Writes one event: a JSON line with `json`; otherwise the raw bytes of
/// output events (a live terminal) and, with `markers`, a one-line marker
/// for every other event.
pub fn write_event(out: &mut impl Write, event: &Event, json: bool, markers: bool) -> io::Result<()> {
    if json {
        return writeln!(out, "{}", event.to_json());
    }
    match &event.kind {
        EventKind::Output(o) => out.write_all(&o.bytes),
        _ if markers => {
            let session = event.session.map(|s| s.to_string()).unwrap_or_else(|| "-".into());
            writeln!(out, "\r\n# {} {} {} {}", event.seq, event.node, session, event.kind_name())
        }
        _ => Ok(()),
    }
}

/// A short note for a person (printed on stderr after `warden: `) about a
/// supervision event: an automatic answer, a stall, a prompt, a restart. `None`
/// for events a person watching the terminal does not need told (output, state
/// changes, input). Text that comes from the agent's screen has its control
/// characters replaced, so a note cannot drive the terminal.
pub fn note(event: &Event) -> Option<String> {
    let text = match &event.kind {
        EventKind::AutoResponded { rule, source, matched, sent } => {
            format!("auto-answered {:?} with {} (rule {rule}, {source})", clean(matched), clean(sent))
        }
        EventKind::BlockingPrompt { prompt_kind, prompt, suggested, .. } => {
            let suggested = suggested.as_ref().map(|s| format!(" — suggested: {}", clean(s))).unwrap_or_default();
            format!("prompt ({prompt_kind}): {}{suggested}", clean(prompt))
        }
        EventKind::LoginRequired { instructions, url, .. } => {
            // A URL is kept whole: a shortened one is useless.
            let url = url
                .as_ref()
                .map(|u| {
                    format!(" ({})", u.chars().filter(|c| !c.is_control() && !c.is_whitespace()).collect::<String>())
                })
                .unwrap_or_default();
            format!("login required: {}{url}", clean(instructions))
        }
        EventKind::Stalled { idle_ms, spinner_only, .. } => {
            let spinner = if *spinner_only { " (only a spinner moved)" } else { "" };
            format!("stalled: no progress for {}{spinner}", secs(*idle_ms))
        }
        EventKind::StallClassified { answer, source, next_window_ms } => {
            let answer = serde_json::to_value(answer).ok().and_then(|v| v.as_str().map(str::to_string));
            let next = next_window_ms.map(|ms| format!("; next window {}", secs(ms))).unwrap_or_default();
            format!("stall classified as {} by {source}{next}", answer.unwrap_or_else(|| "?".into()))
        }
        EventKind::Escalated { index, step } => {
            let what = match step {
                EscalationStep::Notify => "notify".to_string(),
                EscalationStep::Keys { keys } => format!("pressing {}", keys.join(",")),
                EscalationStep::Nudge { text } => format!("typing {:?}", clean(text)),
                EscalationStep::RestartResume => "restarting the agent".to_string(),
                EscalationStep::Fail => "giving up".to_string(),
            };
            format!("stall escalation step {}: {what}", index + 1)
        }
        EventKind::TaskComplete { status: Some(status), .. } => format!("task complete (status {status})"),
        EventKind::TaskComplete { .. } => "task complete".to_string(),
        EventKind::TaskStatus { task, to, reason, detail, .. } => {
            let detail = detail.as_ref().map(|d| format!(": {}", clean(d))).unwrap_or_default();
            format!("task {} {to} ({reason}){detail}", warden_core::idref::short(&task.to_string()))
        }
        EventKind::TaskFinalized { agent, branch, commit, pr_url, .. } => {
            let mut parts = vec![format!("{agent}:")];
            parts.extend(commit.as_ref().map(|c| format!("commit {c}")));
            parts.extend(branch.as_ref().map(|b| format!("branch {b}")));
            parts.extend(pr_url.as_ref().map(|u| format!("pull request {u}")));
            parts.join(" ")
        }
        EventKind::LaunchRejected { message, .. } => format!("the agent rejected its launch: {}", clean(message)),
        EventKind::ConfirmationPending { id, prompt_kind, prompt, suggested, .. } => {
            let suggested = suggested.as_ref().map(|s| format!(" — suggested: {}", clean(s))).unwrap_or_default();
            format!("{id} pending ({prompt_kind}): {}{suggested}", clean(prompt))
        }
        EventKind::ConfirmationResolved { id, outcome, sent } => match (outcome.as_str(), sent) {
            ("answered", Some(sent)) => format!("{id} answered: sent {}", clean(sent)),
            ("gone", _) => format!("{id} gone (the prompt left the screen)"),
            ("on_screen", _) => format!("{id} answered on the agent's screen"),
            (outcome, _) => format!("{id} {outcome}"),
        },
        EventKind::InputUndelivered { input, reason } => format!("input {input} not delivered: {reason}"),
        EventKind::Restarting { attempt, delay_ms, reason } => {
            format!("restarting the agent in {} (attempt {attempt}): {reason}", secs(*delay_ms))
        }
        EventKind::ActorRestarted { actor, reason } => format!("restarted {actor} after a failure: {reason}"),
        EventKind::Error { message } => format!("error: {message}"),
        EventKind::Lagged { missed } => format!("missed {missed} events (this terminal fell behind)"),
        EventKind::TranscriptTruncated { bytes } => {
            format!("the transcript reached its cap at {bytes} bytes; later output is not stored")
        }
        _ => return None,
    };
    // Whatever a field held (an event over NATS comes from anyone who may publish),
    // no control character reaches the terminal: ESC would start a sequence.
    Some(no_controls(&text))
}

/// `text` with every control character (C0, DEL, C1) replaced by `�`.
pub fn no_controls(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { '\u{fffd}' } else { c }).collect()
}

/// Milliseconds as seconds with one decimal: `1.5s`.
fn secs(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

/// Text from an agent's screen made safe and short for a terminal line: control
/// characters become spaces, runs of blanks one space, the box borders a TUI draws
/// around a dialog (`│ … │`) are dropped from the ends, and at most 160 characters
/// are kept.
pub fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(200));
    for word in text.split(|c: char| c.is_control() || c.is_whitespace()).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    let boxed = |c: char| ('\u{2500}'..='\u{257f}').contains(&c);
    let trimmed = out.trim_matches(|c: char| boxed(c) || c == ' ');
    match trimmed.char_indices().nth(160) {
        Some((at, _)) => format!("{}…", &trimmed[..at]),
        None => trimmed.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventKind) -> Event {
        Event::new(1, "n", None, kind)
    }

    #[test]
    fn notes_for_supervision_events_only() {
        let auto = event(EventKind::AutoResponded {
            rule: "rule-1".into(),
            source: warden_core::RuleSource::Session,
            matched: "Proceed? [y/N]".into(),
            sent: "y".into(),
        });
        assert_eq!(note(&auto).as_deref(), Some("auto-answered \"Proceed? [y/N]\" with y (rule rule-1, session)"));
        let stalled = event(EventKind::Stalled { idle_ms: 1500, window_ms: 500, spinner_only: false, excerpt: None });
        assert_eq!(note(&stalled).as_deref(), Some("stalled: no progress for 1.5s"));
        let step = event(EventKind::Escalated { index: 1, step: EscalationStep::Keys { keys: vec!["escape".into()] } });
        assert_eq!(note(&step).as_deref(), Some("stall escalation step 2: pressing escape"));
        let err = event(EventKind::Error { message: "x\x1b[2J".into() });
        // Kept whole (not shortened like an agent's text), but no control character
        // reaches the terminal: an event over NATS may come from anyone who may publish.
        assert_eq!(note(&err).as_deref(), Some("error: x\u{fffd}[2J"), "warden's own messages are kept");
        let prompt = event(EventKind::ConfirmationPending {
            id: "c1".into(),
            prompt_kind: warden_core::ConfirmationKind::Rule,
            prompt: "Go?\x1b[2J".into(),
            choices: vec![],
            suggested: Some("y".into()),
            reason: "r".into(),
            rule: None,
        });
        assert_eq!(note(&prompt).as_deref(), Some("c1 pending (rule): Go? [2J — suggested: y"));
        assert_eq!(clean("│ Do you trust   the files?      │"), "Do you trust the files?");
        assert_eq!(clean(&"x".repeat(300)).chars().count(), 161);
        assert_eq!(note(&event(EventKind::Input { via: warden_core::InputVia::Text, len: 1, keys: vec![] })), None);
    }
}
