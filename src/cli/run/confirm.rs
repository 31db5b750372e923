//! Pending confirmations at the terminal: each one is printed on stderr; when stdin is
//! a terminal, a typed line answers the oldest one still pending.

use std::collections::VecDeque;
use std::io::BufRead;

use tokio::sync::mpsc;
use warden_core::{Reply, SessionId};

use crate::cli::print::clean;

/// What a typed line means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Empty line: send the suggested answer.
    Accept,
    /// `n` or `no`: send nothing.
    Decline,
    /// Anything else: send this (`keys:down,enter` sends keys).
    Reply(Reply),
}

impl Answer {
    /// Parses one typed line (without its newline).
    pub fn parse(line: &str) -> Answer {
        let t = line.trim_end_matches(['\r', '\n']);
        match t.trim().to_ascii_lowercase().as_str() {
            "" => Answer::Accept,
            "n" | "no" => Answer::Decline,
            _ => Answer::Reply(Reply::parse(t.trim())),
        }
    }
}

/// The pending confirmations of the watched sessions (one, or a task's
/// agents), oldest first, and the terminal lines that answer them.
pub struct Confirmations {
    /// (the session it belongs to, id, has a suggestion): ids are per session.
    queue: VecDeque<(SessionId, String, bool)>,
    lines: Option<mpsc::UnboundedReceiver<String>>,
    interactive: bool,
}

impl Confirmations {
    /// `interactive`: stdin is a terminal, so answers are read from it.
    pub fn new(interactive: bool) -> Self {
        Confirmations { queue: VecDeque::new(), lines: None, interactive }
    }

    /// A confirmation of `session` became pending (`has_suggestion`: an empty line can
    /// accept it).
    pub fn push(&mut self, session: SessionId, id: &str, has_suggestion: bool) {
        self.queue.push_back((session, id.to_string(), has_suggestion));
        if self.interactive && self.lines.is_none() {
            self.lines = Some(spawn_stdin_reader());
        }
    }

    /// A confirmation of `session` was answered, declined or went away.
    pub fn resolved(&mut self, session: SessionId, id: &str) {
        self.queue.retain(|(s, q, _)| !(q == id && *s == session));
    }

    /// The oldest pending confirmation, and whether it has a suggestion.
    pub fn front(&self) -> Option<(&str, bool)> {
        self.queue.front().map(|(_, id, s)| (id.as_str(), *s))
    }

    /// The hint printed under a pending confirmation when answers are read.
    pub fn hint(&self) -> Option<String> {
        let (id, suggested) = self.front()?;
        self.interactive.then(|| {
            let accept = if suggested { "Enter sends the suggestion, " } else { "" };
            format!("answer {id}: {accept}n declines, any other text is sent (keys:a,b sends keys)")
        })
    }

    /// Keys the person typed to `session`'s agent (interactive, past the status line):
    /// an Enter among them answered its oldest pending question on the agent's screen.
    /// The node resolves that confirmation `on_screen` when it writes the keys
    /// (`Warden::write`), and its event brings the note; the question goes off the
    /// status line here already, so that a `y` or `n` typed before that event arrives
    /// is a key for the agent, not an answer. Whether a question went.
    pub fn answered_on_screen(&mut self, session: SessionId, keys: &[u8]) -> bool {
        if !warden_core::keys::has_enter(keys) {
            return false;
        }
        let Some(id) = self.queue.iter().find(|(s, _, _)| *s == session).map(|(_, id, _)| id.clone()) else {
            return false;
        };
        self.resolved(session, &id);
        true
    }

    /// The next typed line; pending forever when none can come.
    pub async fn next_line(&mut self) -> String {
        match &mut self.lines {
            Some(rx) => match rx.recv().await {
                Some(line) => line,
                None => {
                    self.lines = None;
                    std::future::pending().await
                }
            },
            None => std::future::pending().await,
        }
    }

    /// Answers the oldest pending confirmation with a typed line; returns a note for
    /// stderr.
    pub async fn answer(&mut self, warden: &warden_actors::Warden, line: &str) -> String {
        let Some((session, id, suggested)) = self.queue.front().map(|(o, i, s)| (*o, i.clone(), *s)) else {
            return "nothing is pending; the line was ignored".into();
        };
        let answer = Answer::parse(line);
        let result = match &answer {
            Answer::Accept if !suggested => {
                return format!("{id} has no suggested answer; type one, or n to decline");
            }
            Answer::Accept => warden.confirm(session, &id, None).await,
            Answer::Decline => warden.decline(session, &id).await,
            Answer::Reply(r) => warden.confirm(session, &id, Some(r.clone())).await,
        };
        match result {
            Ok(()) => {
                self.resolved(session, &id);
                match answer {
                    Answer::Decline => format!("{id} declined"),
                    Answer::Accept => format!("{id} answered with the suggestion"),
                    Answer::Reply(r) => format!("{id} answered: {}", clean(&r.describe())),
                }
            }
            Err(warden_actors::SessionError::UnknownConfirmation { .. }) => {
                self.resolved(session, &id);
                format!("{id} is no longer pending")
            }
            Err(e) => format!("{id}: {}", super::options::one_line(&e.to_string())),
        }
    }
}

/// Reads stdin lines on a thread of its own (a blocking read must not hold an async
/// worker; the thread ends with the process).
fn spawn_stdin_reader() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    let spawned = std::thread::Builder::new().name("warden-stdin".into()).spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot read answers from stdin");
    }
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_lines() {
        assert_eq!(Answer::parse(""), Answer::Accept);
        assert_eq!(Answer::parse("  \r"), Answer::Accept);
        assert_eq!(Answer::parse("N"), Answer::Decline);
        assert_eq!(Answer::parse("no"), Answer::Decline);
        assert_eq!(Answer::parse("yes please"), Answer::Reply(Reply::Text("yes please".into())));
        assert_eq!(Answer::parse("keys:down,enter"), Answer::Reply(Reply::Keys(vec!["down".into(), "enter".into()])));
    }

    #[test]
    fn pending_queue() {
        let (a, b) = (SessionId::new(), SessionId::new());
        let mut c = Confirmations::new(false);
        c.push(a, "c1", true);
        c.push(a, "c2", false);
        assert_eq!(c.front(), Some(("c1", true)));
        assert_eq!(c.hint(), None, "no hint when answers are not read");
        c.resolved(a, "c1");
        assert_eq!(c.front(), Some(("c2", false)));
        // Ids are per session: another session's c2 is another confirmation.
        c.push(b, "c2", true);
        c.resolved(b, "c2");
        assert_eq!(c.front(), Some(("c2", false)));
        c.resolved(a, "c2");
        assert_eq!(c.front(), None);
    }
}
