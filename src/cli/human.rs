//! `warden events` for a person: every line starts with its session's short
//! id and label, so the output of several sessions can be told apart; the
//! agent's output is cut into lines (terminal control sequences dropped),
//! and state changes, confirmations, verdicts and exits are one readable
//! line each.

use std::collections::HashMap;
use std::io::{self, Write};

use warden_core::{Event, EventKind, SessionId};

use super::print::{clean, no_controls, note};

/// The longest partial output line kept per session before it is printed.
const MAX_PARTIAL: usize = 4096;
/// Sessions remembered at most (the oldest are forgotten beyond it).
const MAX_SESSIONS: usize = 1024;

#[derive(Default)]
struct Seen {
    label: Option<String>,
    partial: String,
    /// Inside an escape sequence carried over from the last chunk.
    escape: Escape,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Escape {
    #[default]
    None,
    /// After ESC.
    Start,
    /// In a CSI sequence (ESC [ … final byte).
    Csi,
    /// In an OSC/DCS string (until BEL or ESC \).
    Str,
    /// ESC inside a string (maybe the ST's first half).
    StrEsc,
}

/// The state of a human-readable event stream.
#[derive(Default)]
pub struct HumanEvents {
    sessions: HashMap<SessionId, Seen>,
}

impl HumanEvents {
    /// Learns the labels of the sessions in a `list_agents` reply.
    pub fn learn_labels(&mut self, raw: &[u8]) {
        let Ok(reply) = serde_json::from_slice::<warden_bridge::protocol::Reply>(raw) else { return };
        let Some(Ok(list)) = reply.result.map(serde_json::from_value::<warden_bridge::protocol::ListResult>) else {
            return;
        };
        for a in list.agents {
            self.seen(a.id).label = a.label.clone();
        }
    }

    fn seen(&mut self, id: SessionId) -> &mut Seen {
        if self.sessions.len() >= MAX_SESSIONS && !self.sessions.contains_key(&id) {
            // Ids are time-ordered: the smallest is the oldest.
            if let Some(oldest) = self.sessions.keys().min().copied() {
                self.sessions.remove(&oldest);
            }
        }
        self.sessions.entry(id).or_default()
    }

    fn prefix(&mut self, session: Option<SessionId>, node: &str) -> String {
        match session {
            Some(id) => {
                let short = warden_core::idref::short(&id.to_string());
                match &self.seen(id).label {
                    Some(label) => format!("{short} {} |", clean(label)),
                    None => format!("{short} |"),
                }
            }
            None => format!("{} |", no_controls(node)),
        }
    }

    /// Writes one event as zero or more lines.
    pub fn write(&mut self, out: &mut impl Write, event: &Event) -> io::Result<()> {
        if let (Some(id), EventKind::SessionStarted { label, .. }) = (event.session, &event.kind) {
            self.seen(id).label = label.clone();
        }
        let line = match &event.kind {
            EventKind::Output(o) => {
                let Some(id) = event.session else { return Ok(()) };
                let lines = self.output_lines(id, &o.bytes);
                let prefix = self.prefix(event.session, &event.node);
                for l in lines {
                    writeln!(out, "{prefix} {l}")?;
                }
                return Ok(());
            }
            EventKind::Input { .. } | EventKind::InputDelivered { .. } | EventKind::Resized { .. } => return Ok(()),
            EventKind::SessionStarted { agent, pid, workdir, .. } => {
                no_controls(&format!("started {agent} (pid {pid}) in {}", workdir.display()))
            }
            EventKind::StateChanged { from, to, reason, .. } => format!("{from} → {to} ({})", clean(reason)),
            EventKind::Exited(exit) => {
                // What was left of the last line first.
                if let Some(id) = event.session {
                    let rest = std::mem::take(&mut self.seen(id).partial);
                    if !rest.trim().is_empty() {
                        let prefix = self.prefix(event.session, &event.node);
                        writeln!(out, "{prefix} {}", rest.trim_end())?;
                    }
                }
                let how = match (exit.code, exit.signal) {
                    (Some(c), _) => format!("code {c}"),
                    (None, Some(s)) => format!("signal {s}"),
                    (None, None) => "no status".into(),
                };
                format!("{} ({how})", exit.reason)
            }
            _ => note(event).unwrap_or_else(|| event.kind_name().replace('_', " ")),
        };
        let prefix = self.prefix(event.session, &event.node);
        // Every line is free of control characters: `note` cleans its fields, and the
        // others are warden's own words and enums.
        writeln!(out, "{prefix} {line}")
    }

    /// The complete lines of a session's output so far, without terminal
    /// control sequences; the unfinished line is kept for the next chunk.
    fn output_lines(&mut self, id: SessionId, bytes: &[u8]) -> Vec<String> {
        let seen = self.seen(id);
        let text = String::from_utf8_lossy(bytes);
        let mut lines = Vec::new();
        for c in text.chars() {
            seen.escape = match (seen.escape, c) {
                (Escape::None, '\u{1b}') => Escape::Start,
                (Escape::None, '\n') => {
                    lines.push(std::mem::take(&mut seen.partial).trim_end().to_string());
                    Escape::None
                }
                // A carriage return alone starts the line over (progress bars).
                (Escape::None, '\r') => Escape::None,
                (Escape::None, c) if c.is_control() && c != '\t' => Escape::None,
                (Escape::None, c) => {
                    if seen.partial.len() < MAX_PARTIAL {
                        seen.partial.push(c);
                    }
                    Escape::None
                }
                (Escape::Start, '[') => Escape::Csi,
                (Escape::Start, ']' | 'P' | '_' | '^') => Escape::Str,
                (Escape::Start, _) => Escape::None,
                (Escape::Csi, c) if ('\u{40}'..='\u{7e}').contains(&c) => Escape::None,
                (Escape::Csi, _) => Escape::Csi,
                (Escape::Str, '\u{7}') => Escape::None,
                (Escape::Str, '\u{1b}') => Escape::StrEsc,
                (Escape::Str, _) => Escape::Str,
                (Escape::StrEsc, '\\') => Escape::None,
                (Escape::StrEsc, _) => Escape::Str,
            };
        }
        lines.retain(|l| !l.trim().is_empty());
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_core::{ExitInfo, ExitReason, Output, SessionState};

    /// An event over NATS comes from whoever may publish on the subject: its
    /// fields reach the person's terminal without a control character.
    #[test]
    fn a_forged_events_escape_sequences_never_reach_the_terminal() {
        let mut h = HumanEvents::default();
        let mut out = Vec::new();
        let forged = Event::new(
            7,
            "n1\u{1b}]2;PWNED\u{7}",
            None,
            EventKind::Error { message: "boom\u{1b}[2J\u{1b}[31m".into() },
        );
        h.write(&mut out, &forged).expect("write");
        let restarted = Event::new(
            8,
            "n1",
            Some("0193c2b6-7d3a-7c4e-9f00-1a2b3c4d5e6f".parse().expect("id")),
            EventKind::Restarting { attempt: 1, delay_ms: 10, reason: "x\u{1b}[2Jy".into() },
        );
        h.write(&mut out, &restarted).expect("write");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(!text.contains('\u{1b}') && !text.contains('\u{7}'), "{text:?}");
        assert!(text.contains("error: boom"), "{text:?}");
    }

    #[test]
    fn lines_carry_the_session_and_events_are_one_line() {
        let a: SessionId = "0193c2b6-7d3a-7c4e-9f00-1a2b3c4d5e6f".parse().expect("id");
        let b: SessionId = "0193c2b6-7d3b-7c4e-9f00-00000000beef".parse().expect("id");
        let mut h = HumanEvents::default();
        let mut out = Vec::new();
        let ev = |s, kind| Event::new(1, "n1", Some(s), kind);
        let started = EventKind::SessionStarted {
            agent: "shell".into(),
            program: "bash".into(),
            args: vec![],
            pid: 7,
            workdir: "/w".into(),
            size: Default::default(),
            label: Some("fix-auth".into()),
        };
        h.write(&mut out, &ev(a, started)).expect("write");
        h.write(&mut out, &ev(a, EventKind::Output(Output::new(b"\x1b[1mhel".to_vec())))).expect("write");
        h.write(&mut out, &ev(b, EventKind::Output(Output::new(b"other\r\n".to_vec())))).expect("write");
        h.write(&mut out, &ev(a, EventKind::Output(Output::new(b"lo\x1b[0m\r\n\x1b]0;title\x07x".to_vec()))))
            .expect("write");
        let changed = EventKind::StateChanged {
            from: SessionState::Busy,
            to: SessionState::Blocked,
            reason: "permission prompt".into(),
            excerpt: None,
            provenance: None,
        };
        h.write(&mut out, &ev(a, changed)).expect("write");
        let exit = ExitInfo { code: Some(0), signal: None, reason: ExitReason::Exited };
        h.write(&mut out, &ev(a, EventKind::Exited(exit))).expect("write");
        let text = String::from_utf8(out).expect("utf-8");
        assert_eq!(
            text,
            "3c4d5e6f fix-auth | started shell (pid 7) in /w\n\
             0000beef | other\n\
             3c4d5e6f fix-auth | hello\n\
             3c4d5e6f fix-auth | busy → blocked (permission prompt)\n\
             3c4d5e6f fix-auth | x\n\
             3c4d5e6f fix-auth | exited (code 0)\n"
        );
    }
}
