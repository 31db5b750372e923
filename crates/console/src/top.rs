//! `warden top`: every session of every node the link reaches, kept
//! current from the event stream; keys to answer a pending confirmation,
//! send keys, stop a session, attach, filter.

use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, EventStream, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use futures::StreamExt;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row as TableRow, Table, TableState};
use serde_json::json;
use tokio::sync::mpsc;
use tracing::debug;
use warden_core::SessionId;

use crate::LinkError;
use crate::board::Board;
use crate::link::Link;
use crate::stop::{StopSignal, StopSignals};

/// How `top` runs.
#[derive(Debug, Clone, Default)]
pub struct TopOptions {
    /// The initial filter.
    pub filter: String,
    /// The command that attaches to a session, `--node NODE` (over NATS) and
    /// its id appended (e.g. the running `warden` with `attach` and the
    /// link's options); `None`: the attach key only says how.
    pub attach: Option<Vec<String>>,
}

/// How `top` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopEnd {
    /// The person quit (`q`, Esc, ctrl+c, or the terminal's input ended).
    Quit,
    /// A signal told it to stop (SIGTERM, SIGHUP, SIGINT); the terminal was restored.
    Stopped(StopSignal),
}

/// What the keyboard is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    Normal,
    /// Typing a filter.
    Filter(String),
    /// Typing key names to send (`down,enter`).
    Keys(String),
    /// Asked to confirm stopping this session.
    Stop(SessionId),
}

struct App {
    link: Link,
    opts: TopOptions,
    board: Board,
    filter: String,
    mode: Mode,
    table: TableState,
    status: String,
    selected: Option<SessionId>,
    quit: bool,
}

/// Runs `top` until the user quits or a signal stops it; the terminal is restored on
/// every way out.
pub async fn run_top(link: Link, opts: TopOptions) -> Result<TopEnd, LinkError> {
    let mut board = Board::default();
    let now = Instant::now();
    // Subscribe first, then list: nothing that happens in between is missed.
    let mut events = link.events().await?;
    let listed = link.list().await?;
    for (node, entry) in &listed {
        board.upsert(node, entry, now);
    }
    let mut app = App {
        link,
        filter: opts.filter.clone(),
        opts,
        board,
        mode: Mode::Normal,
        table: TableState::default(),
        status: String::new(),
        selected: None,
        quit: false,
    };
    // Caught from just before the terminal changes: a signal ends the loop, and the
    // terminal is restored below.
    let mut signals = StopSignals::catch();
    let mut terminal = ratatui::try_init()?;
    let result = app.run(&mut terminal, &mut events, &mut signals).await;
    ratatui::restore();
    result
}

impl App {
    async fn run(
        &mut self,
        terminal: &mut ratatui::DefaultTerminal,
        events: &mut mpsc::Receiver<warden_core::Event>,
        signals: &mut StopSignals,
    ) -> Result<TopEnd, LinkError> {
        let mut keys = EventStream::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let (status_tx, mut status_rx) = mpsc::channel::<String>(64);
        let mut stream_open = true;
        while !self.quit {
            terminal.draw(|f| self.draw(f))?;
            tokio::select! {
                // One that comes while `warden attach` has the terminal (`a`) ends top
                // when the attach ends.
                signal = signals.recv() => return Ok(TopEnd::Stopped(signal)),
                k = keys.next() => match k {
                    Some(Ok(TermEvent::Key(key))) => {
                        if let Some(attach) = self.on_key(key, &status_tx) {
                            self.attach(terminal, attach).await?;
                        }
                    }
                    Some(Ok(_)) => {} // resize and others: redraw
                    Some(Err(e)) => return Err(e.into()),
                    None => break,
                },
                e = events.recv(), if stream_open => match e {
                    Some(event) => {
                        let now = Instant::now();
                        self.board.apply(&event, now);
                        // Take what else is queued before drawing again.
                        while let Ok(event) = events.try_recv() {
                            self.board.apply(&event, now);
                        }
                    }
                    None => {
                        stream_open = false;
                        self.status = "the event stream ended: the view no longer updates".into();
                    }
                },
                s = status_rx.recv() => if let Some(s) = s { self.status = s },
                _ = tick.tick() => {}
            }
        }
        Ok(TopEnd::Quit)
    }

    fn selected_row(&self) -> Option<&crate::board::Row> {
        self.selected.and_then(|id| self.board.get(id))
    }

    fn move_selection(&mut self, delta: isize) {
        let rows = self.board.rows(&self.filter);
        if rows.is_empty() {
            self.selected = None;
            return;
        }
        let at = self.selected.and_then(|id| rows.iter().position(|r| r.id == id)).unwrap_or(0) as isize;
        let next = (at + delta).clamp(0, rows.len() as isize - 1) as usize;
        self.selected = Some(rows[next].id);
    }

    /// Runs a command in the background; its outcome lands on the status line.
    fn act(
        &self,
        status: &mpsc::Sender<String>,
        node: String,
        verb: &'static str,
        body: serde_json::Value,
        done: String,
    ) {
        let (link, status) = (self.link.clone(), status.clone());
        tokio::spawn(async move {
            let line = match link.command(&node, verb, body).await {
                Ok(r) if r.ok => done,
                Ok(r) => format!("{verb}: {}", r.error.map(|e| e.message).unwrap_or_else(|| "refused".into())),
                Err(e) => format!("{verb}: {e}"),
            };
            let _ = status.send(line).await;
        });
    }

    /// Handles a key; returns the session to attach to, when asked.
    fn on_key(&mut self, key: KeyEvent, status: &mpsc::Sender<String>) -> Option<SessionId> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            self.quit = true;
            return None;
        }
        match std::mem::replace(&mut self.mode, Mode::Normal) {
            Mode::Filter(mut text) => {
                match key.code {
                    KeyCode::Enter => self.filter = text,
                    KeyCode::Esc => self.filter.clear(),
                    KeyCode::Backspace => {
                        text.pop();
                        self.mode = Mode::Filter(text);
                    }
                    KeyCode::Char(c) if text.len() < 64 => {
                        text.push(c);
                        self.mode = Mode::Filter(text);
                    }
                    _ => self.mode = Mode::Filter(text),
                }
                None
            }
            Mode::Keys(mut text) => {
                match key.code {
                    KeyCode::Enter => {
                        if let Some(row) = self.selected_row() {
                            let keys: Vec<&str> = text.split(',').map(str::trim).filter(|k| !k.is_empty()).collect();
                            let body = json!({"session": row.id, "keys": keys});
                            let done = format!("sent {text} to {}", short(row.id));
                            self.act(status, row.node.clone(), "send_to_agent", body, done);
                        }
                    }
                    KeyCode::Esc => {}
                    KeyCode::Backspace => {
                        text.pop();
                        self.mode = Mode::Keys(text);
                    }
                    KeyCode::Char(c) if text.len() < 256 => {
                        text.push(c);
                        self.mode = Mode::Keys(text);
                    }
                    _ => self.mode = Mode::Keys(text),
                }
                None
            }
            Mode::Stop(id) => {
                if matches!(key.code, KeyCode::Char('y') | KeyCode::Char('Y'))
                    && let Some(row) = self.board.get(id)
                {
                    let done = format!("stopped {}", short(id));
                    self.act(status, row.node.clone(), "stop_agent", json!({"session": id}), done);
                } else {
                    self.status = "not stopped".into();
                }
                None
            }
            Mode::Normal => self.on_normal_key(key, status),
        }
    }

    fn on_normal_key(&mut self, key: KeyEvent, status: &mpsc::Sender<String>) -> Option<SessionId> {
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => self.quit = true,
            KeyCode::Down | KeyCode::Char('j') => self.move_selection(1),
            KeyCode::Up | KeyCode::Char('k') => self.move_selection(-1),
            KeyCode::Home => self.move_selection(isize::MIN / 2),
            KeyCode::End => self.move_selection(isize::MAX / 2),
            KeyCode::Char('/') => self.mode = Mode::Filter(self.filter.clone()),
            KeyCode::Char('K') | KeyCode::Char('s') if self.selected_row().is_some_and(|r| r.live()) => {
                self.mode = Mode::Keys(String::new());
            }
            KeyCode::Char('S') => {
                if let Some(row) = self.selected_row().filter(|r| r.live()) {
                    self.mode = Mode::Stop(row.id);
                }
            }
            KeyCode::Char(c @ ('y' | 'n')) => {
                let row = self.selected_row()?;
                let Some(p) = row.pending.first() else {
                    self.status = format!("{} has no pending confirmation", short(row.id));
                    return None;
                };
                let (verb, done) = if c == 'y' {
                    ("confirm", format!("answered {} on {}", p.id, short(row.id)))
                } else {
                    ("decline", format!("declined {} on {}", p.id, short(row.id)))
                };
                if c == 'y' && !p.suggested {
                    self.status = "no suggested answer: send keys with `s` instead".into();
                    return None;
                }
                let body = json!({"session": row.id, "id": p.id});
                self.act(status, row.node.clone(), verb, body, done);
            }
            KeyCode::Enter | KeyCode::Char('a') => {
                if let Some(row) = self.selected_row().filter(|r| r.live()) {
                    return Some(row.id);
                }
            }
            _ => {}
        }
        None
    }

    /// Leaves the screen to the attach command, then comes back.
    async fn attach(&mut self, terminal: &mut ratatui::DefaultTerminal, id: SessionId) -> Result<(), LinkError> {
        let Some(cmd) = self.opts.attach.clone() else {
            self.status = format!("attach with: warden attach {id}");
            return Ok(());
        };
        let node = match (&self.link, self.board.get(id)) {
            (Link::Nats { .. }, Some(row)) => Some(row.node.clone()),
            _ => None,
        };
        ratatui::restore();
        let status = tokio::task::spawn_blocking(move || {
            let (program, args) = cmd.split_first().map(|(p, a)| (p.clone(), a.to_vec())).unwrap_or_default();
            let mut c = std::process::Command::new(program);
            c.args(args);
            if let Some(node) = node {
                c.arg("--node").arg(node);
            }
            c.arg(id.to_string()).status()
        })
        .await;
        *terminal = ratatui::try_init()?;
        terminal.clear()?;
        self.status = match status {
            Ok(Ok(s)) if s.success() => format!("detached from {}", short(id)),
            Ok(Ok(s)) => format!("attach ended: {s}"),
            Ok(Err(e)) => format!("attach: {e}"),
            Err(e) => format!("attach: {e}"),
        };
        debug!(session = %id, "back from attach");
        Ok(())
    }

    fn draw(&mut self, f: &mut Frame) {
        let area = f.area();
        let rows = self.board.rows(&self.filter);
        if self.selected.is_none_or(|id| !rows.iter().any(|r| r.id == id)) {
            self.selected = rows.first().map(|r| r.id);
        }
        let at = self.selected.and_then(|id| rows.iter().position(|r| r.id == id));
        self.table.select(at);
        // Below 6 lines only the table; below 3, one summary line.
        if area.height < 3 {
            let live = rows.iter().filter(|r| r.live()).count();
            f.render_widget(Paragraph::new(format!("{live} live / {} sessions", rows.len())), area);
            return;
        }
        let chrome = area.height >= 6;
        let [head, body, detail, foot] = if chrome {
            Layout::vertical([Constraint::Length(1), Constraint::Min(1), Constraint::Length(1), Constraint::Length(1)])
                .areas(area)
        } else {
            [Rect::default(), area, Rect::default(), Rect::default()]
        };
        let now = Instant::now();
        let wide = area.width >= 70;
        let mid = area.width >= 46;
        let header: Vec<&str> = match (wide, mid) {
            (true, _) => vec!["NODE", "ID", "AGENT", "STATE", "FOR", "ASK", "LAST EVENT"],
            (false, true) => vec!["ID", "AGENT", "STATE", "FOR", "ASK"],
            _ => vec!["ID", "STATE", "ASK"],
        };
        let widths: Vec<Constraint> = match (wide, mid) {
            (true, _) => vec![
                Constraint::Length(10),
                Constraint::Length(8),
                Constraint::Length(8),
                Constraint::Length(9),
                Constraint::Length(6),
                Constraint::Length(3),
                Constraint::Min(10),
            ],
            (false, true) => vec![
                Constraint::Length(8),
                Constraint::Length(8),
                Constraint::Length(9),
                Constraint::Length(6),
                Constraint::Length(3),
            ],
            _ => vec![Constraint::Length(8), Constraint::Min(5), Constraint::Length(3)],
        };
        let table_rows: Vec<TableRow> = rows
            .iter()
            .map(|r| {
                let ask = if r.pending.is_empty() { String::new() } else { r.pending.len().to_string() };
                let cells: Vec<String> = match (wide, mid) {
                    (true, _) => vec![
                        r.node.clone(),
                        short(r.id),
                        r.agent.clone(),
                        r.state.as_str().into(),
                        ago(r.for_how_long(now)),
                        ask,
                        r.label.as_ref().map(|l| format!("[{l}] {}", r.last)).unwrap_or_else(|| r.last.clone()),
                    ],
                    (false, true) => {
                        vec![short(r.id), r.agent.clone(), r.state.as_str().into(), ago(r.for_how_long(now)), ask]
                    }
                    _ => vec![short(r.id), r.state.as_str().into(), ask],
                };
                let style = if r.live() { Style::default() } else { Style::default().add_modifier(Modifier::DIM) };
                TableRow::new(cells.into_iter().map(Cell::from)).style(style)
            })
            .collect();
        let table = Table::new(table_rows, widths)
            .header(TableRow::new(header).style(Style::default().add_modifier(Modifier::BOLD)))
            .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED));
        f.render_stateful_widget(table, body, &mut self.table);
        if !chrome {
            return;
        }
        let live = rows.iter().filter(|r| r.live()).count();
        let nodes: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.node.as_str()).collect();
        let filter = if self.filter.is_empty() { String::new() } else { format!(" · filter: {}", self.filter) };
        f.render_widget(
            Paragraph::new(format!(
                "warden top · {live} live / {} sessions · {} node(s){filter}",
                rows.len(),
                nodes.len()
            )),
            head,
        );
        let detail_text = match &self.mode {
            Mode::Filter(t) => format!("filter: {t}▏ (enter: apply, esc: clear)"),
            Mode::Keys(t) => format!("keys to send (e.g. down,enter or y): {t}▏ (enter: send, esc: cancel)"),
            Mode::Stop(id) => format!("stop session {}? y/n", short(*id)),
            Mode::Normal => match self.selected_row() {
                Some(r) => match r.pending.first() {
                    Some(p) => format!("asks: {}  [y] answer  [n] decline", p.prompt),
                    None if !self.status.is_empty() => self.status.clone(),
                    None => format!("{} {}", r.id, r.label.as_deref().unwrap_or("")),
                },
                None if !self.status.is_empty() => self.status.clone(),
                None => "no sessions yet".into(),
            },
        };
        f.render_widget(Paragraph::new(Line::from(detail_text)), detail);
        let help = if area.width >= 78 {
            "↑↓ select  y/n answer  s send keys  S stop  a/enter attach  / filter  q quit"
        } else {
            "↑↓ y/n s S a / q"
        };
        f.render_widget(Paragraph::new(help).style(Style::default().add_modifier(Modifier::DIM)), foot);
    }
}

/// The short form of an id shown in the table: its last 8 hex digits (the
/// random tail, not the time-ordered head), as every verb accepts it
/// ([`warden_core::idref::short`]).
pub fn short(id: SessionId) -> String {
    warden_core::idref::short(&id.to_string())
}

fn ago(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        _ => format!("{}h", s / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_take_the_random_tail() {
        let id: SessionId = "0193c2b6-7d3a-7c4e-9f00-1a2b3c4d5e6f".parse().expect("id");
        assert_eq!(short(id), "3c4d5e6f");
        assert_eq!(ago(Duration::from_secs(125)), "2m");
    }
}
