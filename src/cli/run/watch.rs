//! Watching one session: its events printed as they come, supervision notes,
//! pending confirmations answered from the terminal, the ending verdicts (a login or
//! provider screen that stays, a stall that gave up, `--timeout`), what happens when
//! the task is complete (`--on-complete`), and the final screen.
//!
//! With a [`Console`] (a person at the terminal) the output goes through it, the
//! person's keystrokes and the terminal's replies go to the agent, resizes follow, and
//! notes and pending confirmations appear on the console's status line.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use warden_actors::Warden;
use warden_console::{Console, ConsoleInput};
use warden_core::{EventKind, SessionId};

use super::complete::OnComplete;
use super::confirm::Confirmations;
use super::options::one_line;
use super::outcome::{self, Ending, Trigger};

/// How the run is watched.
pub(super) struct Watch {
    /// JSON lines instead of the terminal.
    pub json: bool,
    /// The session's adapter (to read its final screen).
    pub adapter: warden_adapters::Adapter,
    /// The adapter's display name, for messages.
    pub agent: String,
    /// What a person does to log in.
    pub login_hint: String,
    /// `--timeout`.
    pub timeout: Option<Duration>,
    /// `--on-complete`.
    pub on_complete: OnComplete,
    /// A task was given (`--on-complete` is about it; without one, nothing completes).
    pub has_task: bool,
}

/// How the watch ended.
pub(super) struct WatchResult {
    /// The agent's exit status, when it exited.
    pub code: Option<i32>,
    /// Why warden ended the run, if it did.
    pub ending: Option<Ending>,
    /// The terminal output did not end with a newline.
    pub output_ended_mid_line: bool,
    /// The task completed and the run ends with this status (`--on-complete exit`).
    pub completed: Option<i32>,
}

/// What woke the event loop.
enum Wake {
    Event(Option<Arc<warden_core::Event>>),
    Line(String),
    Input(ConsoleInput),
    Timeout,
    Signal,
    /// A login or provider screen was shown for [`outcome::SETTLE`].
    Settled,
}

/// An ending waiting for its screen to stay.
struct Candidate {
    trigger: Trigger,
    ending: Ending,
    at: tokio::time::Instant,
}

impl Watch {
    /// Watches until the session ends. A `console` is closed (the terminal restored)
    /// before this returns.
    pub(super) async fn run(
        &self,
        warden: &Warden,
        id: SessionId,
        events: &mut warden_actors::Subscription,
        mut console: Option<Console>,
    ) -> WatchResult {
        let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
        let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        // The terminal going away ends an interactive run like SIGTERM.
        let mut sighup = match console {
            Some(_) => tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok(),
            None => None,
        };
        let deadline = self.timeout.map(|t| tokio::time::Instant::now() + t);
        // With a console, answers come as y/n on its status line, not as typed lines.
        let mut confirmations = Confirmations::new(console.is_none() && std::io::stdin().is_terminal());
        let stdout = std::io::stdout();
        let mut printed = super::printed::Printed::for_stdout(console.is_some(), self.json);
        let mut result = WatchResult { code: None, ending: None, output_ended_mid_line: false, completed: None };
        let mut input_open = true;
        let mut task_done = false;
        let mut stopping = false;
        let mut stdout_open = true;
        let mut candidate: Option<Candidate> = None;
        loop {
            let settle_at = candidate.as_ref().map(|c| c.at);
            let wake = tokio::select! {
                e = events.recv() => Wake::Event(e),
                line = confirmations.next_line() => Wake::Line(line),
                input = next_input(&mut console), if input_open => Wake::Input(input),
                _ = sleep_until(deadline), if !stopping => Wake::Timeout,
                _ = sleep_until(settle_at), if !stopping => Wake::Settled,
                _ = recv_signal(&mut sigint), if !stopping => Wake::Signal,
                _ = recv_signal(&mut sigterm), if !stopping => Wake::Signal,
                _ = recv_signal(&mut sighup), if !stopping => Wake::Signal,
            };
            let event = match wake {
                Wake::Event(Some(e)) => e,
                Wake::Event(None) => break,
                Wake::Line(line) => {
                    let note = confirmations.answer(warden, &line).await;
                    eprintln!("warden: {note}");
                    if let Some(hint) = confirmations.hint() {
                        eprintln!("warden: {hint}");
                    }
                    continue;
                }
                Wake::Input(input) => {
                    match input {
                        ConsoleInput::Keys(bytes) => {
                            // The agent may be on its way out; what it cannot take is dropped.
                            if let Err(e) = warden.write(id, bytes.clone()).await {
                                tracing::debug!(error = %e, "keystrokes not delivered");
                            }
                            if confirmations.answered_on_screen(id, &bytes)
                                && let Some(c) = console.as_mut()
                            {
                                c.ask(question(&confirmations));
                            }
                        }
                        ConsoleInput::Resize(size) => {
                            if let Err(e) = warden.resize(id, size.rows, size.cols).await {
                                tracing::debug!(error = %e, "resize not delivered");
                            }
                        }
                        ConsoleInput::Answer(yes) => {
                            let line = if yes { "" } else { "n" };
                            let note = confirmations.answer(warden, line).await;
                            if let Some(c) = console.as_mut() {
                                c.ask(question(&confirmations));
                                c.note(note);
                            }
                        }
                        ConsoleInput::Detach => {}
                        ConsoleInput::Closed => {
                            input_open = false;
                            if !stopping {
                                stopping = true;
                                stop_in_background(warden, id);
                            }
                        }
                    }
                    continue;
                }
                Wake::Timeout => {
                    let secs = self.timeout.map_or(0.0, |t| t.as_secs_f64());
                    result.ending = Some(outcome::timed_out(secs));
                    stopping = true;
                    stop_in_background(warden, id);
                    continue;
                }
                Wake::Signal => {
                    stopping = true;
                    stop_in_background(warden, id);
                    continue;
                }
                Wake::Settled => {
                    let Some(c) = candidate.take() else { continue };
                    // Still on screen? Then it is what the agent shows, not a passing frame.
                    if warden.classify(id).await.is_ok_and(|v| c.trigger.still_shown(&v)) {
                        result.ending = Some(c.ending);
                        stopping = true;
                        stop_in_background(warden, id);
                    }
                    continue;
                }
            };
            if event.session.is_some_and(|s| s != id) {
                continue;
            }
            if let Some(c) = console.as_mut() {
                if let EventKind::Output(o) = &event.kind
                    && stdout_open
                    && c.show(&o.bytes).is_err()
                {
                    stdout_open = false;
                    stopping = true;
                    stop_in_background(warden, id);
                }
            } else if stdout_open {
                let mut out = stdout.lock();
                let written = match &event.kind {
                    EventKind::Output(o) if !self.json => printed.output(&mut out, event.session, &o.bytes),
                    EventKind::Exited(_) if !self.json => printed.ended(&mut out, event.session),
                    _ => crate::cli::print::write_event(&mut out, &event, self.json, false),
                };
                if written.and_then(|_| out.flush()).is_err() {
                    // stdout closed (e.g. piped into `head`): stop the agent and leave.
                    stdout_open = false;
                    stopping = true;
                    stop_in_background(warden, id);
                }
            }
            match &event.kind {
                EventKind::Output(o) => {
                    if let Some(last) = o.bytes.last() {
                        result.output_ended_mid_line = *last != b'\n';
                    }
                }
                EventKind::Exited(exit) => {
                    result.code = Some(exit.shell_code());
                    if let Some(c) = console.as_mut() {
                        c.ask(None);
                    }
                    // An agent that exits on a login or provider screen ended on it.
                    if result.ending.is_none()
                        && let Some(c) = candidate.take()
                        && self.final_screen_shows(warden, id, c.trigger).await
                    {
                        result.ending = Some(c.ending);
                    }
                    break;
                }
                EventKind::ConfirmationPending { id: cid, suggested, .. } => {
                    confirmations.push(id, cid, suggested.is_some());
                    if let Some(c) = console.as_mut() {
                        c.ask(question(&confirmations));
                        continue;
                    }
                    if let Some(note) = crate::cli::print::note(&event) {
                        eprintln!("warden: {note}");
                    }
                    if let Some(hint) = confirmations.hint() {
                        eprintln!("warden: {hint}");
                    }
                }
                EventKind::ConfirmationResolved { id: cid, .. } => {
                    confirmations.resolved(id, cid);
                    self.note(&event, &mut console);
                    if let Some(c) = console.as_mut() {
                        c.ask(question(&confirmations));
                    }
                }
                EventKind::TaskComplete { status, .. } => {
                    // At a terminal every command the person runs completes a turn: only
                    // the task's completion (the first) is worth a note there.
                    if console.is_none() || !task_done {
                        self.note(&event, &mut console);
                    }
                    task_done = true;
                    if self.on_complete == OnComplete::Exit && self.has_task && !stopping {
                        result.completed = Some(status.unwrap_or(0));
                        stopping = true;
                        stop_in_background(warden, id);
                    }
                }
                kind => {
                    let ending = outcome::ending_for(kind, &self.agent, &self.login_hint);
                    if ending.is_none() {
                        // (An ending has its own message, once the session has ended, after its events.)
                        self.note(&event, &mut console);
                    }
                    if stopping {
                        continue;
                    }
                    match ending {
                        Some((trigger, ending)) if trigger.immediate() => {
                            result.ending = Some(ending);
                            stopping = true;
                            stop_in_background(warden, id);
                        }
                        // A person at the terminal signs in or answers by themselves.
                        Some(_) if console.is_some() => {}
                        Some((trigger, ending)) => {
                            // A later screen of the same kind (a URL after the choices) says more.
                            let at = candidate
                                .as_ref()
                                .filter(|c| c.trigger == trigger)
                                .map_or_else(|| tokio::time::Instant::now() + outcome::SETTLE, |c| c.at);
                            candidate = Some(Candidate { trigger, ending, at });
                        }
                        None => {}
                    }
                }
            }
        }
        // The terminal is restored before anything else is printed.
        drop(console);
        result
    }

    /// Whether the final screen of the ended session still shows `trigger`.
    async fn final_screen_shows(&self, warden: &Warden, id: SessionId, trigger: Trigger) -> bool {
        let Ok(snapshot) = warden.snapshot(id).await else { return false };
        let view = warden_adapters::ScreenView::text(&snapshot.text).with_cols(snapshot.cols);
        trigger.still_shown(&self.adapter.classify(&view))
    }

    /// A supervision note on stderr, in terminal mode (JSON mode has the event itself);
    /// on the status line of a console.
    fn note(&self, event: &warden_core::Event, console: &mut Option<Console>) {
        if self.json {
            return;
        }
        let Some(note) = crate::cli::print::note(event) else { return };
        match console {
            Some(c) => c.note(format!("warden: {note}")),
            None => eprintln!("warden: {note}"),
        }
    }
}

/// Prints the session's final screen: its text (without the blank rows at the bottom),
/// or one JSON line with every field of the snapshot.
pub(super) async fn print_screen(warden: &Warden, id: SessionId, json: bool, mid_line: bool) {
    let snapshot = match warden.snapshot(id).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("warden: cannot read the final screen: {}", one_line(&e.to_string()));
            return;
        }
    };
    let mut out = std::io::stdout().lock();
    let written = if json {
        let mut line = serde_json::json!({ "kind": "screen", "session": id.to_string() });
        if let (Some(map), Ok(serde_json::Value::Object(fields))) =
            (line.as_object_mut(), serde_json::to_value(&snapshot))
        {
            map.extend(fields);
        }
        writeln!(out, "{line}")
    } else {
        // The rows below the last one with text are left out.
        let text = snapshot.text.trim_end_matches(char::is_whitespace);
        let sep = if mid_line { "\n" } else { "" };
        writeln!(out, "{sep}{text}")
    };
    let _ = written.and_then(|_| out.flush());
}

/// The status-line question for the oldest pending confirmation.
pub(super) fn question(confirmations: &Confirmations) -> Option<String> {
    let (id, suggested) = confirmations.front()?;
    let accept = if suggested { "y sends the suggestion, " } else { "" };
    Some(format!("warden: {id} waits for you: {accept}n declines (or answer on the agent's screen)"))
}

/// The console's next input; pending forever without a console.
pub(super) async fn next_input(console: &mut Option<Console>) -> ConsoleInput {
    match console {
        Some(c) => c.next().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

pub(super) async fn recv_signal(sig: &mut Option<tokio::signal::unix::Signal>) {
    match sig {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

fn stop_in_background(warden: &Warden, id: SessionId) {
    let w = warden.clone();
    tokio::spawn(async move {
        let _ = w.stop_with_grace(id, Duration::from_secs(2)).await;
    });
}
