//! What `top` shows, kept from the event stream: one row per session, with
//! its node, agent, state and how long it has been in it, its last event
//! and its pending confirmations. Pure: events in, rows out.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use warden_bridge::protocol::AgentEntry;
use warden_core::{Event, EventKind, PendingConfirmation, SessionId, SessionState};

/// Sessions kept at most; the oldest ended ones go first.
pub const MAX_ROWS: usize = 2000;

/// A pending confirmation as `top` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The id to answer with.
    pub id: String,
    /// The prompt's text (first line).
    pub prompt: String,
    /// Whether the node suggests an answer (then `y` sends it).
    pub suggested: bool,
}

impl Pending {
    /// A pending confirmation as `list_agents` reports it: the prompt's first line.
    fn listed(p: &PendingConfirmation) -> Pending {
        Pending {
            id: p.id.clone(),
            prompt: p.prompt.lines().next().unwrap_or("").to_string(),
            suggested: p.suggested.is_some(),
        }
    }
}

/// One session.
#[derive(Debug, Clone)]
pub struct Row {
    /// The node it runs on.
    pub node: String,
    /// Its id.
    pub id: SessionId,
    /// Adapter name.
    pub agent: String,
    /// The caller's label.
    pub label: Option<String>,
    /// Current state.
    pub state: SessionState,
    /// When this console saw it enter that state.
    pub since: Instant,
    /// The last event, in a few words.
    pub last: String,
    /// Pending confirmations, oldest first.
    pub pending: Vec<Pending>,
}

impl Row {
    fn new(node: &str, id: SessionId, agent: &str, now: Instant) -> Row {
        Row {
            node: node.into(),
            id,
            agent: agent.into(),
            label: None,
            state: SessionState::Starting,
            since: now,
            last: String::new(),
            pending: Vec::new(),
        }
    }

    /// Whether the session still runs.
    pub fn live(&self) -> bool {
        !matches!(self.state, SessionState::Exited | SessionState::Failed)
    }

    /// How long it has been in its state.
    pub fn for_how_long(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.since)
    }

    /// Whether `filter` (case-insensitive) matches its node, id, agent, label, state or last event.
    pub fn matches(&self, filter: &str) -> bool {
        if filter.is_empty() {
            return true;
        }
        let f = filter.to_lowercase();
        [
            self.node.as_str(),
            &self.id.to_string(),
            self.agent.as_str(),
            self.label.as_deref().unwrap_or(""),
            self.state.as_str(),
            self.last.as_str(),
        ]
        .iter()
        .any(|field| field.to_lowercase().contains(&f))
    }
}

/// Every session this console knows, by id.
#[derive(Debug, Default)]
pub struct Board {
    rows: BTreeMap<SessionId, Row>,
}

fn first_line(text: &str, max: usize) -> String {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    line.chars().filter(|c| !c.is_control()).take(max).collect()
}

impl Board {
    /// Adds or refreshes a session, with its pending confirmations, from a
    /// `list_agents` entry.
    pub fn upsert(&mut self, node: &str, entry: &AgentEntry, now: Instant) {
        let info = &entry.session;
        let row = self.rows.entry(info.id).or_insert_with(|| Row::new(node, info.id, &info.agent, now));
        row.node = node.into();
        row.agent = info.agent.clone();
        row.label = info.label.clone();
        if row.state != info.state {
            row.state = info.state;
            row.since = now;
        }
        if row.last.is_empty() {
            row.last = format!("listed: {}", info.state.as_str());
        }
        row.pending = entry.pending_confirmations.iter().map(Pending::listed).collect();
        self.trim();
    }

    /// Applies one event of the stream.
    pub fn apply(&mut self, event: &Event, now: Instant) {
        let Some(id) = event.session else { return };
        if matches!(event.kind, EventKind::Output(_)) && !self.rows.contains_key(&id) {
            return; // output alone does not introduce a session
        }
        let row = self.rows.entry(id).or_insert_with(|| Row::new(&event.node, id, "?", now));
        row.node.clone_from(&event.node);
        match &event.kind {
            EventKind::SessionStarted { agent, label, .. } => {
                row.agent.clone_from(agent);
                row.label.clone_from(label);
                row.last = "started".into();
            }
            EventKind::Output(_) => return, // not worth a line of its own
            EventKind::StateChanged { to, reason, .. } => {
                if row.state != *to {
                    row.state = *to;
                    row.since = now;
                }
                row.last = format!("{}: {}", to.as_str(), first_line(reason, 80));
            }
            EventKind::Exited(exit) => {
                if row.state != SessionState::Exited {
                    row.state = SessionState::Exited;
                    row.since = now;
                }
                row.pending.clear();
                row.last = match (exit.code, exit.signal) {
                    (Some(c), _) => format!("exited {c} ({})", exit.reason.as_str()),
                    (None, Some(s)) => format!("killed by signal {s}"),
                    (None, None) => "exited".into(),
                };
            }
            EventKind::ConfirmationPending { id: cid, prompt, suggested, .. } => {
                if !row.pending.iter().any(|p| p.id == *cid) {
                    row.pending.push(Pending {
                        id: cid.clone(),
                        prompt: first_line(prompt, 120),
                        suggested: suggested.is_some(),
                    });
                }
                row.last = format!("waits for an answer: {}", first_line(prompt, 60));
            }
            EventKind::ConfirmationResolved { id: cid, outcome, .. } => {
                row.pending.retain(|p| p.id != *cid);
                row.last = format!("confirmation {}", outcome.as_str());
            }
            other => row.last = event_words(other),
        }
        // A session that waits for an answer says so until it is answered: a
        // later event (the state the agent's input put it in, say) must not
        // hide it from the person who would answer.
        if let Some(p) = row.pending.first() {
            row.last = format!("waits for an answer: {}", first_line(&p.prompt, 60));
        }
        self.trim();
    }

    fn trim(&mut self) {
        while self.rows.len() > MAX_ROWS {
            let oldest_ended = self.rows.values().filter(|r| !r.live()).min_by_key(|r| r.since).map(|r| r.id);
            match oldest_ended.or_else(|| self.rows.keys().next().copied()) {
                Some(id) => {
                    self.rows.remove(&id);
                }
                None => break,
            }
        }
    }

    /// Rows matching `filter`: live ones first, then by node and id (ids are time-ordered).
    pub fn rows(&self, filter: &str) -> Vec<&Row> {
        let mut rows: Vec<&Row> = self.rows.values().filter(|r| r.matches(filter)).collect();
        rows.sort_by(|a, b| b.live().cmp(&a.live()).then_with(|| a.node.cmp(&b.node)).then_with(|| a.id.cmp(&b.id)));
        rows
    }

    /// One session's row.
    pub fn get(&self, id: SessionId) -> Option<&Row> {
        self.rows.get(&id)
    }

    /// Sessions known.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no session is known.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// A few words for an event kind `top` has no special column for.
fn event_words(kind: &EventKind) -> String {
    let json = serde_json::to_value(kind).unwrap_or_default();
    let name = json.get("kind").and_then(|k| k.as_str()).unwrap_or("event").replace('_', " ");
    let detail = ["message", "reason", "url", "matched", "evidence"]
        .iter()
        .find_map(|f| json.get(*f).and_then(|v| v.as_str()))
        .map(|d| format!(": {}", first_line(d, 60)))
        .unwrap_or_default();
    format!("{name}{detail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_core::{ConfirmationKind, ConfirmationOutcome, ExitInfo, ExitReason, TermSize};

    fn ev(seq: u64, id: SessionId, kind: EventKind) -> Event {
        Event::new(seq, "n1", Some(id), kind)
    }

    #[test]
    fn a_session_s_life_shows_in_its_row() {
        let (mut b, now) = (Board::default(), Instant::now());
        let id = SessionId::new();
        b.apply(
            &ev(
                1,
                id,
                EventKind::SessionStarted {
                    agent: "claude".into(),
                    program: "claude".into(),
                    args: vec![],
                    pid: 1,
                    workdir: "/w".into(),
                    size: TermSize::default(),
                    label: Some("fix".into()),
                },
            ),
            now,
        );
        let later = now + Duration::from_secs(5);
        b.apply(
            &ev(
                2,
                id,
                EventKind::StateChanged {
                    from: SessionState::Starting,
                    to: SessionState::Busy,
                    reason: "spinner".into(),
                    excerpt: None,
                    provenance: None,
                },
            ),
            later,
        );
        b.apply(
            &ev(
                3,
                id,
                EventKind::ConfirmationPending {
                    id: "c1".into(),
                    prompt_kind: ConfirmationKind::Rule,
                    prompt: "Deploy? [y/N]\nmore".into(),
                    choices: vec![],
                    suggested: Some("y".into()),
                    reason: "confirm".into(),
                    rule: None,
                },
            ),
            later,
        );
        let row = b.get(id).expect("row");
        assert_eq!((row.agent.as_str(), row.label.as_deref(), row.state), ("claude", Some("fix"), SessionState::Busy));
        assert_eq!(row.pending, vec![Pending { id: "c1".into(), prompt: "Deploy? [y/N]".into(), suggested: true }]);
        assert_eq!(row.for_how_long(later + Duration::from_secs(2)), Duration::from_secs(2));
        assert!(b.rows("deploy").len() == 1 && b.rows("codex").is_empty());
        assert_eq!(b.get(id).expect("row").last, "waits for an answer: Deploy? [y/N]");
        // A state change while the answer is awaited does not hide the question.
        b.apply(
            &ev(
                4,
                id,
                EventKind::StateChanged {
                    from: SessionState::Busy,
                    to: SessionState::Busy,
                    reason: "input sent".into(),
                    excerpt: None,
                    provenance: None,
                },
            ),
            later,
        );
        assert_eq!(b.get(id).expect("row").last, "waits for an answer: Deploy? [y/N]");

        b.apply(
            &ev(
                4,
                id,
                EventKind::ConfirmationResolved { id: "c1".into(), outcome: ConfirmationOutcome::Answered, sent: None },
            ),
            later,
        );
        assert!(b.get(id).expect("row").pending.is_empty());
        b.apply(
            &ev(5, id, EventKind::Exited(ExitInfo { code: Some(3), signal: None, reason: ExitReason::Exited })),
            later,
        );
        let row = b.get(id).expect("row");
        assert!(!row.live());
        assert_eq!(row.last, "exited 3 (exited)");
    }

    #[test]
    fn live_sessions_come_first_and_the_board_is_bounded() {
        let (mut b, now) = (Board::default(), Instant::now());
        let first = SessionId::new();
        b.apply(
            &ev(1, first, EventKind::Exited(ExitInfo { code: Some(0), signal: None, reason: ExitReason::Exited })),
            now,
        );
        let second = SessionId::new();
        b.apply(&ev(2, second, EventKind::Error { message: "x".into() }), now);
        let order: Vec<SessionId> = b.rows("").iter().map(|r| r.id).collect();
        assert_eq!(order, vec![second, first]);
        for i in 0..(MAX_ROWS + 10) {
            b.apply(&ev(10 + i as u64, SessionId::new(), EventKind::Error { message: "x".into() }), now);
        }
        assert_eq!(b.len(), MAX_ROWS);
    }

    #[test]
    fn a_listed_session_comes_with_its_pending_confirmations() {
        let (mut b, now) = (Board::default(), Instant::now());
        let entry: AgentEntry = serde_json::from_value(serde_json::json!({
            "id": "0193c2b6-7d3a-7c4e-9f00-1a2b3c4d5e6f", "agent": "claude", "program": "claude", "args": [],
            "workdir": "/w", "pid": 7, "state": "blocked", "size": {"rows": 24, "cols": 80},
            "label": "fix", "created_at": "2026-11-25T19:30:02.500Z", "pending": 2,
            "pending_confirmations": [
                {"id": "c1", "prompt_kind": "permission", "prompt": "Edit auth.rs?\n1. Yes", "reason": "confirm",
                 "suggested": {"type": "keys", "value": ["enter"]}},
                {"id": "c2", "prompt_kind": "rule", "prompt": "Deploy? [y/N]", "reason": "confirm"},
            ],
        }))
        .expect("entry");
        b.upsert("n2", &entry, now);
        let row = b.get(entry.id).expect("row");
        assert_eq!((row.node.as_str(), row.state, row.last.as_str()), ("n2", SessionState::Blocked, "listed: blocked"));
        assert_eq!(
            row.pending,
            vec![
                Pending { id: "c1".into(), prompt: "Edit auth.rs?".into(), suggested: true },
                Pending { id: "c2".into(), prompt: "Deploy? [y/N]".into(), suggested: false },
            ]
        );
    }

    #[test]
    fn output_alone_does_not_make_a_row() {
        let mut b = Board::default();
        let out = warden_core::Output::new(bytes::Bytes::from_static(b"x"));
        b.apply(&ev(1, SessionId::new(), EventKind::Output(out)), Instant::now());
        assert!(b.is_empty());
    }
}
