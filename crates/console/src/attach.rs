//! `warden attach`: a person's terminal on a running session, over the
//! local socket or NATS. The session's current screen is drawn first (from
//! the node's screen model, so a full-screen agent shows as it is now, not
//! as a replay of its whole output), then live output; keystrokes go to the
//! agent as they are typed; the agent's terminal follows this one's size; a
//! detach key (default ctrl+]) leaves the agent running.

use std::io::Write;

use serde_json::json;
use tracing::debug;
use warden_core::term::ScrollRegion;
use warden_core::{ExitInfo, ScreenSnapshot, SessionId, TermSize};

use crate::LinkError;
use crate::link::{AttachMsg, Link};
use crate::stop::{StopSignal, StopSignals};
use crate::{Console, ConsoleInput, ConsoleOptions};

/// How long a redraw the node did not answer waits before asking again.
const REDRAW_RETRY: std::time::Duration = std::time::Duration::from_millis(500);

/// What the attached terminal still owes the person after output was
/// skipped: one lag can be told twice (over NATS, by the node's `lagged`
/// marker and by the next output's offset, in either order), and a second
/// notice of what the screen drawn (or being asked for) already shows must
/// not draw it again.
#[derive(Debug, Default)]
struct Redraws {
    /// The highest `seq` a screen must show to cover every skip noticed.
    cover: Option<u64>,
    /// A skip of unknown extent was noticed since the last request: only a
    /// screen asked for after it covers it.
    fresh: bool,
}

impl Redraws {
    /// Output was skipped (`covered_by`: see [`AttachMsg::Lagged`]); whether
    /// the screen must be asked for (now, or after the request that is out).
    fn lagged(&mut self, covered_by: Option<u64>, drawn_up_to: u64) -> bool {
        match covered_by {
            Some(seq) if seq <= drawn_up_to => return false,
            Some(seq) => self.cover = Some(self.cover.map_or(seq, |c| c.max(seq))),
            None => self.fresh = true,
        }
        true
    }

    /// A request for the screen goes out now.
    fn asked(&mut self) {
        self.fresh = false;
    }

    /// A screen showing output up to `seq` was drawn; whether it must be
    /// asked for again (it is older than a skip noticed meanwhile). A node
    /// that does not say (`seq` 0, older than the field) cannot be checked:
    /// its screen is taken as covering what was noticed, rather than asked
    /// for without end.
    fn drawn(&mut self, seq: u64) -> bool {
        if seq == 0 || self.cover.is_some_and(|c| c <= seq) {
            self.cover = None;
        }
        self.fresh || self.cover.is_some()
    }
}

/// How `attach` runs.
#[derive(Debug, Clone)]
pub struct AttachOptions {
    /// The node the session runs on (ignored on the local socket).
    pub node: String,
    /// The session.
    pub session: SessionId,
    /// The byte that detaches (ctrl+] is 0x1d; the escape sequences of its key in the
    /// keyboard protocols an agent may turn on detach too).
    pub detach_byte: u8,
    /// Its name, for messages.
    pub detach_name: String,
    /// Take the keyboard even if another attached terminal holds it.
    pub take: bool,
}

/// How an attachment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachEnd {
    /// The person pressed the detach key; the agent keeps running.
    Detached,
    /// The session ended, with its exit code if it had one.
    Exited(Option<i32>),
    /// A signal told `attach` to stop (SIGTERM, SIGHUP, SIGINT): it detached, the
    /// terminal restored; the agent keeps running.
    Stopped(StopSignal),
}

/// The escape sequences that draw a snapshot on a terminal of its size.
pub fn draw_snapshot(screen: &ScreenSnapshot) -> String {
    draw_snapshot_on(screen, TermSize { rows: screen.rows, cols: screen.cols })
}

/// The escape sequences that draw a snapshot on a terminal of size `term`. A snapshot
/// larger than the terminal (a terminal that watches a session of another size, or
/// whose resize the node has not made yet) is cut to it: each row to the terminal's
/// width (a longer one would wrap onto the next row and be written over), and the rows
/// to its height, the cursor's row kept in view (as a resize of the screen model does:
/// the rows below the cursor go first, then rows off the top); a scroll region is cut
/// to the rows shown.
///
/// While the alternate screen is shown, the main screen under it is drawn first and
/// the alternate screen entered after it, so that the program's leaving the alternate
/// screen shows its main screen, not what the terminal showed before. After the text
/// come the modes that decide where later output lands (scroll region, origin, insert
/// and wrap modes, character set), then the cursor (DECSTBM and DECOM move it home; under
/// origin mode its row counts from the region's top). The console undoes all of them
/// when it closes, as it undoes what the program's own output turns on.
pub fn draw_snapshot_on(screen: &ScreenSnapshot, term: TermSize) -> String {
    let mut s = String::new();
    let rows = screen.rows.min(term.rows);
    if screen.alternate_screen {
        if let Some(main) = &screen.main_screen {
            let cut = draw_text(&mut s, &main.text, main.cursor_row, screen.rows, TermSize { rows, cols: term.cols });
            let row = main.cursor_row.saturating_sub(cut);
            s.push_str(&format!("\x1b[{};{}H", u32::from(row) + 1, u32::from(main.cursor_col) + 1));
        }
        s.push_str("\x1b[?1049h");
    }
    let cut = draw_text(&mut s, &screen.text, screen.cursor_row, screen.rows, TermSize { rows, cols: term.cols });
    let modes = &screen.output_modes;
    let region = modes.scroll_region.and_then(|r| region_shown(r, screen.rows, cut, rows));
    if let Some(ScrollRegion { top, bottom }) = region {
        s.push_str(&format!("\x1b[{};{}r", u32::from(top) + 1, u32::from(bottom) + 1));
    }
    for (on, set) in [
        (modes.origin, "\x1b[?6h"),
        (modes.insert, "\x1b[4h"),
        (modes.autowrap_off, "\x1b[?7l"),
        (modes.line_drawing, "\x1b(0"),
        (modes.shifted_out, "\x0e"),
    ] {
        if on {
            s.push_str(set);
        }
    }
    // u32: a snapshot comes from the node, and a hostile one may say 65535.
    let mut row = screen.cursor_row.saturating_sub(cut);
    if modes.origin {
        row = row.saturating_sub(region.map_or(0, |r| r.top));
    }
    s.push_str(&format!("\x1b[{};{}H", u32::from(row) + 1, u32::from(screen.cursor_col) + 1));
    s.push_str(if screen.cursor_visible { "\x1b[?25h" } else { "\x1b[?25l" });
    // The agent's input modes (mouse, bracketed paste, keyboard protocol):
    // keys, pastes and clicks reach it as it asked; the console undoes them
    // at detach like any mode the agent turns on.
    s.push_str(&String::from_utf8_lossy(&screen.input_modes.replay()));
    s
}

/// Clears the screen and draws `text` (the rows of a screen of `screen_rows` with its
/// cursor on `cursor_row`) on a terminal of `term` rows (at most `screen_rows`): each row
/// cut to the terminal's width, the rows to its height with the cursor's row in view.
/// Returns how many rows were cut off the top.
fn draw_text(s: &mut String, text: &str, cursor_row: u16, screen_rows: u16, term: TermSize) -> u16 {
    s.push_str("\x1b[0m\x1b[H\x1b[2J");
    let cols = usize::from(term.cols);
    let cut = cursor_row.min(screen_rows.saturating_sub(1)).saturating_sub(term.rows.saturating_sub(1));
    for (i, line) in text.split('\n').skip(usize::from(cut)).take(usize::from(term.rows)).enumerate() {
        s.push_str(&format!("\x1b[{};1H", i + 1));
        let mut width = 0;
        for c in line.chars().filter(|c| !c.is_control()) {
            width += unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
            if width > cols {
                break;
            }
            s.push(c);
        }
    }
    cut
}

/// A snapshot's scroll region on a terminal that shows `rows` of its `screen_rows`,
/// from row `cut` on: `None` when what is left of it is the whole terminal or no region
/// at all (a DECSTBM whose top is not above its bottom is ignored).
fn region_shown(region: ScrollRegion, screen_rows: u16, cut: u16, rows: u16) -> Option<ScrollRegion> {
    let last = rows.checked_sub(1)?;
    let bottom = region.bottom.min(screen_rows.saturating_sub(1)).checked_sub(cut)?.min(last);
    let top = region.top.saturating_sub(cut);
    (top < bottom && (top, bottom) != (0, last)).then_some(ScrollRegion { top, bottom })
}

/// The session's screen, the `seq` of the last output it shows, and how the
/// session ended if it has.
type Snap = (ScreenSnapshot, u64, Option<ExitInfo>);

/// The session's screen now. The outer error: the request got no answer
/// (the node or the way to it is away; asking again may do); the inner:
/// the node answered without a screen (the session is gone).
async fn snapshot(link: &Link, node: &str, session: SessionId) -> Result<Result<Snap, LinkError>, LinkError> {
    let reply = link.command(node, "snapshot", json!({"session": session})).await?;
    let result = match (reply.ok, reply.result) {
        (true, Some(r)) => r,
        _ => {
            let why = reply.error.map(|e| e.message).unwrap_or_else(|| "no reply".into());
            return Ok(Err(LinkError::Protocol(format!("cannot attach to {session}: {why}"))));
        }
    };
    let screen: ScreenSnapshot = match serde_json::from_value(result["screen"].clone()) {
        Ok(screen) => screen,
        Err(e) => return Ok(Err(LinkError::Protocol(format!("a snapshot that does not parse: {e}")))),
    };
    // A node older than the field says nothing: the `exited` event tells.
    let exit = serde_json::from_value(result["exit"].clone()).ok().flatten();
    Ok(Ok((screen, result["seq"].as_u64().unwrap_or(0), exit)))
}

/// Attaches this terminal to the session until the detach key or its end.
pub async fn run_attach(link: Link, opts: AttachOptions) -> Result<AttachEnd, LinkError> {
    if !Console::available() {
        return Err(LinkError::Console(crate::ConsoleError::NotATerminal));
    }
    let (node, session) = (opts.node.as_str(), opts.session);
    // Output from here on is kept; the snapshot says which of it is already on screen.
    let mut stream = link.attach_stream(node, session).await?;
    let (mut screen, mut drawn_up_to, mut ended) = snapshot(&link, node, session).await??;
    // One terminal types (and answers the agent's terminal queries), the
    // others watch until one takes over.
    let me = uuid::Uuid::new_v4().to_string();
    let writer = ended.is_none() && {
        let reply = link.command(node, "attach", json!({"session": session, "client": me, "take": opts.take})).await?;
        reply.ok && reply.result.as_ref().is_some_and(|r| r["writer"] == true)
    };

    // Caught from just before the terminal changes (until then their default action
    // is right: ctrl+c ends a connect that hangs): a signal ends the loop below like
    // the detach key, and the console restores the terminal.
    let mut signals = StopSignals::catch();
    let mut console = Console::open(ConsoleOptions { detach_key: Some(opts.detach_byte) })?;
    let size = console.size();
    if writer {
        let body = json!({"session": session, "rows": size.rows, "cols": size.cols});
        let resized = link.command(node, "resize", body).await.is_ok_and(|r| r.ok);
        // The screen at this terminal's size: the one taken before the resize has the
        // session's old size, and drawn here its long rows would wrap over the next.
        if resized && (screen.rows, screen.cols) != (size.rows, size.cols) {
            (screen, drawn_up_to, ended) = snapshot(&link, node, session).await??;
        }
    } else if ended.is_none() {
        console
            .note(format!("watching only: another terminal types ({} detaches; --take takes over)", opts.detach_name));
    }
    console.show(draw_snapshot_on(&screen, size).as_bytes())?;
    // When the screen is to be drawn again (after output was skipped), and
    // the request for it while one is out: polled with everything else, so
    // keys (the detach key) and output go on while the node is slow to answer.
    let mut redraw: Option<tokio::time::Instant> = None;
    let mut owed = Redraws::default();
    let mut asking: Option<std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send + '_>>> = None;
    let end = loop {
        if let Some(exit) = &ended {
            // It ended before this terminal came, or while the stream was away.
            break Ok(AttachEnd::Exited(exit.code));
        }
        tokio::select! {
            biased;
            signal = signals.recv() => break Ok(AttachEnd::Stopped(signal)),
            input = console.next() => match input {
                ConsoleInput::Keys(keys) => {
                    if writer {
                        link.input(node, session, &me, keys).await?;
                    } else {
                        console.note(format!("watching only: {} detaches; --take takes over", opts.detach_name));
                    }
                }
                ConsoleInput::Resize(size) if writer => {
                    let body = json!({"session": session, "rows": size.rows, "cols": size.cols});
                    if let Ok(r) = link.command(node, "resize", body).await && !r.ok {
                        debug!(?r.error, "resize refused");
                    }
                }
                ConsoleInput::Resize(_) | ConsoleInput::Answer(_) => {}
                ConsoleInput::Detach | ConsoleInput::Closed => break Ok(AttachEnd::Detached),
            },
            answer = async { asking.as_mut().expect("polled only while asking").await }, if asking.is_some() => {
                asking = None;
                // Output was skipped: the session's screen as it is now goes in
                // place of what was shown, and the output after it goes on.
                match answer {
                    Ok(Ok((screen, seq, exit))) => {
                        debug!(session = %session, seq, "attached stream fell behind; screen drawn again");
                        console.show_instead(draw_snapshot_on(&screen, console.size()).as_bytes())?;
                        drawn_up_to = seq;
                        ended = exit;
                        if owed.drawn(seq) {
                            redraw = Some(tokio::time::Instant::now());
                        }
                    }
                    Ok(Err(gone)) => break Err(gone),
                    // The node does not answer yet (the NATS server came back to
                    // this terminal first): the output goes on being shown.
                    Err(e) => {
                        debug!(session = %session, error = %e, "cannot draw the screen again yet");
                        redraw.get_or_insert(tokio::time::Instant::now() + REDRAW_RETRY);
                    }
                }
            }
            _ = tokio::time::sleep_until(redraw.unwrap_or_else(tokio::time::Instant::now)), if redraw.is_some() && asking.is_none() => {
                redraw = None;
                owed.asked();
                asking = Some(Box::pin(snapshot(&link, node, session)));
            }
            msg = stream.recv() => match msg {
                Some(AttachMsg::Output { seq, bytes }) => {
                    if seq == 0 || seq > drawn_up_to {
                        console.show(&bytes)?;
                    }
                }
                Some(AttachMsg::Exited(code)) => break Ok(AttachEnd::Exited(code)),
                // Asked for at once; while a request is out, its answer says
                // whether that screen is from before this gap (`Redraws`).
                Some(AttachMsg::Lagged { covered_by }) => {
                    if owed.lagged(covered_by, drawn_up_to) && asking.is_none() {
                        redraw.get_or_insert_with(tokio::time::Instant::now);
                    }
                }
                None => break Ok(AttachEnd::Exited(None)),
            },
        }
    };
    drop(asking);
    console.close();
    let end = end?;
    if writer {
        let _ = link.command(node, "detach", json!({"session": session, "client": me})).await;
    }
    // Not eprintln!: after a SIGHUP the terminal may be gone, and a failed write must
    // not panic.
    let said = match end {
        AttachEnd::Detached => format!(
            "detached ({}); session {session} keeps running — `warden attach {session}` to come back",
            opts.detach_name
        ),
        AttachEnd::Stopped(signal) => format!(
            "{}: detached; session {session} keeps running — `warden attach {session}` to come back",
            signal.name()
        ),
        AttachEnd::Exited(code) => {
            format!("session {session} ended{}", code.map(|c| format!(" with {c}")).unwrap_or_default())
        }
    };
    let _ = writeln!(std::io::stderr(), "warden: {said}");
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_core::MainScreen;
    use warden_core::term::{OutputModes, Screen};

    /// Runs lag notices (`lag:<seq>`, `lag:?` for an unknown extent) and
    /// answered screens (`drawn:<seq>`) through [`Redraws`] as the attach
    /// loop does (one request out at a time); marks each step that sends a
    /// request for the screen with ` -> ask`.
    fn redraws(steps: &[&str]) -> Vec<String> {
        let mut owed = Redraws::default();
        let (mut drawn_up_to, mut asking) = (0, false);
        let mut out = Vec::new();
        for step in steps {
            let (what, arg) = step.split_once(':').expect("step:arg");
            let wants = match what {
                "lag" => owed.lagged(arg.parse().ok(), drawn_up_to) && !asking,
                "drawn" => {
                    assert!(asking, "an answer without a request: {step}");
                    asking = false;
                    drawn_up_to = arg.parse().expect("a seq");
                    owed.drawn(drawn_up_to)
                }
                _ => panic!("unknown step {step}"),
            };
            if wants {
                owed.asked();
                asking = true;
            }
            out.push(format!("{step}{}", if wants { " -> ask" } else { "" }));
        }
        out
    }

    #[test]
    fn one_lag_told_twice_draws_the_screen_once() {
        // Over NATS: the next output's offset shows the gap (output 41 came
        // after it), the request goes out, then the node's marker for the
        // same gap (its last skipped event, 40) arrives before the answer.
        assert_eq!(redraws(&["lag:40", "lag:40", "drawn:57"]), ["lag:40 -> ask", "lag:40", "drawn:57"]);
        // The marker after the answer: that screen shows it already.
        assert_eq!(redraws(&["lag:40", "drawn:57", "lag:40"]), ["lag:40 -> ask", "drawn:57", "lag:40"]);
    }

    #[test]
    fn a_screen_from_before_a_gap_noticed_meanwhile_is_asked_for_again() {
        assert_eq!(
            redraws(&["lag:40", "lag:90", "drawn:57", "drawn:95"]),
            ["lag:40 -> ask", "lag:90", "drawn:57 -> ask", "drawn:95"]
        );
    }

    #[test]
    fn a_gap_of_unknown_extent_is_covered_only_by_a_later_request() {
        // A connection made again while a request was out: its answer may be
        // from before what the server dropped.
        assert_eq!(
            redraws(&["lag:40", "lag:?", "drawn:57", "drawn:57"]),
            ["lag:40 -> ask", "lag:?", "drawn:57 -> ask", "drawn:57"]
        );
        assert_eq!(redraws(&["lag:?", "drawn:12"]), ["lag:? -> ask", "drawn:12"]);
    }

    #[test]
    fn a_screen_from_a_node_that_does_not_say_its_seq_is_not_asked_for_again() {
        assert_eq!(redraws(&["lag:40", "lag:90", "drawn:0"]), ["lag:40 -> ask", "lag:90", "drawn:0"]);
    }

    #[test]
    fn a_snapshot_draws_where_it_was() {
        let screen = ScreenSnapshot {
            cursor_visible: false,
            alternate_screen: true,
            ..snapshot_of(3, 10, "a\n\u{1b}b\nc", (1, 4))
        };
        let s = draw_snapshot(&screen);
        assert!(s.starts_with("\x1b[?1049h"), "{s:?}");
        assert!(s.contains("\x1b[2;1Hb"), "control characters of the text are not replayed: {s:?}");
        assert!(s.ends_with("\x1b[2;5H\x1b[?25l"), "{s:?}");
    }

    #[test]
    fn a_snapshot_larger_than_the_terminal_is_cut_to_it() {
        let screen = snapshot_of(
            5,
            12,
            "long00-xxEND\nshort0\nlong01-xxEND\nshort1\n\u{4e16}\u{754c}\u{4e16}\u{754c}-END",
            (4, 2),
        );
        let mut term = warden_core::term::Screen::new(3, 8);
        term.process(draw_snapshot_on(&screen, TermSize { rows: 3, cols: 8 }).as_bytes());
        // The rows above the cursor's go; each row is cut (a wide character whole).
        assert_eq!(term.text(), "long01-x\nshort1\n\u{4e16}\u{754c}\u{4e16}\u{754c}");
        assert_eq!(term.cursor(), (2, 2));
        // At its own size, as before.
        let mut same = warden_core::term::Screen::new(5, 12);
        same.process(draw_snapshot(&screen).as_bytes());
        assert_eq!(same.text(), screen.text);
    }

    #[test]
    fn a_snapshot_with_the_largest_cursor_position_draws() {
        let snapshot = snapshot_of(3, 10, "", (u16::MAX, u16::MAX));
        assert!(draw_snapshot(&snapshot).contains("\x1b[65536;65536H"));
    }

    #[test]
    fn a_snapshot_turns_the_agents_input_modes_back_on() {
        let mut screen = warden_core::term::Screen::new(3, 10);
        screen.process(b"\x1b[?1000h\x1b[?1006h\x1b[?2004h\x1b=\x1b[>5u\x1b[>4;2m\x1b[?2004l");
        let snapshot = ScreenSnapshot { input_modes: screen.modes().input(), ..snapshot_of(3, 10, "", (0, 0)) };
        let s = draw_snapshot(&snapshot);
        assert!(s.ends_with("\x1b[?1000h\x1b[?1006h\x1b=\x1b[>5u\x1b[>4;2m"), "{s:?}");
        // And a terminal that shows it turns them off again: what it drew is all undone.
        let mut shown = warden_core::term::Screen::new(3, 10);
        shown.process(s.as_bytes());
        assert_eq!(shown.modes().input(), snapshot.input_modes);
    }

    /// Every output mode on, with a scroll region of rows 2–4.
    fn every_output_mode() -> OutputModes {
        OutputModes {
            scroll_region: Some(ScrollRegion { top: 1, bottom: 3 }),
            origin: true,
            insert: true,
            autowrap_off: true,
            line_drawing: true,
            shifted_out: true,
        }
    }

    /// A snapshot of a `rows` × `cols` screen showing `text` with the cursor at `cursor`.
    fn snapshot_of(rows: u16, cols: u16, text: &str, cursor: (u16, u16)) -> ScreenSnapshot {
        ScreenSnapshot {
            rows,
            cols,
            text: text.into(),
            cursor_row: cursor.0,
            cursor_col: cursor.1,
            cursor_visible: true,
            title: String::new(),
            alternate_screen: false,
            bytes: 0,
            input_modes: Default::default(),
            main_screen: None,
            output_modes: Default::default(),
        }
    }

    #[test]
    fn over_the_alternate_screen_the_main_screen_is_drawn_first() {
        let screen = ScreenSnapshot {
            alternate_screen: true,
            main_screen: Some(MainScreen { text: "$ vi x\nmain".into(), cursor_row: 1, cursor_col: 4 }),
            ..snapshot_of(3, 10, "tui", (0, 3))
        };
        let s = draw_snapshot(&screen);
        assert_eq!(
            s,
            concat!(
                "\x1b[0m\x1b[H\x1b[2J\x1b[1;1H$ vi x\x1b[2;1Hmain\x1b[2;5H",
                "\x1b[?1049h\x1b[0m\x1b[H\x1b[2J\x1b[1;1Htui\x1b[1;4H\x1b[?25h"
            )
        );
        // The program leaves the alternate screen: its main screen shows, the cursor
        // where it was on it.
        let mut term = Screen::new(3, 10);
        term.process(b"the person's shell");
        term.process(s.as_bytes());
        assert_eq!(term.text(), "tui");
        term.process(b"\x1b[?1049l");
        assert_eq!(term.text(), "$ vi x\nmain");
        assert_eq!(term.cursor(), (1, 4));
        // Cut to a smaller terminal, each screen keeps its own cursor's row in view.
        let screen = ScreenSnapshot {
            alternate_screen: true,
            main_screen: Some(MainScreen { text: "m0\nm1\nm2\nm3".into(), cursor_row: 3, cursor_col: 2 }),
            ..snapshot_of(4, 10, "a0\na1\na2\na3", (0, 2))
        };
        let mut term = Screen::new(2, 10);
        term.process(draw_snapshot_on(&screen, TermSize { rows: 2, cols: 10 }).as_bytes());
        assert_eq!((term.text().as_str(), term.cursor()), ("a0\na1", (0, 2)));
        term.process(b"\x1b[?1049l");
        assert_eq!((term.text().as_str(), term.cursor()), ("m2\nm3", (1, 2)));
    }

    #[test]
    fn the_modes_later_output_depends_on_are_set_after_the_text() {
        let modes = every_output_mode();
        let screen = ScreenSnapshot { output_modes: modes, ..snapshot_of(6, 10, "head\n\n\n\nfoot", (2, 5)) };
        let s = draw_snapshot(&screen);
        // The region and origin mode move the cursor home: it is placed after them, its
        // row counted from the region's top.
        assert!(s.ends_with("\x1b[5;1Hfoot\x1b[2;4r\x1b[?6h\x1b[4h\x1b[?7l\x1b(0\x0e\x1b[2;6H\x1b[?25h"), "{s:?}");
        let mut term = Screen::new(6, 10);
        term.process(s.as_bytes());
        assert_eq!(term.output_modes(), modes);
        assert_eq!(term.cursor(), (2, 5));
        // Output that scrolls stays in the region: the rows around it are as they were.
        term.process(b"\x1b[?6l\x1b[?7h\x1b[4l\x0f\x1b(B\x1b[2;1H1\r\n2\r\n3\r\n4\r\n5");
        assert_eq!(term.text(), "head\n3\n4\n5\nfoot");
        // Without any, nothing is set.
        let plain = draw_snapshot(&snapshot_of(6, 10, "head", (0, 4)));
        assert!(plain.ends_with("\x1b[1;1Hhead\x1b[1;5H\x1b[?25h"), "{plain:?}");
    }

    #[test]
    fn a_scroll_region_is_cut_to_a_smaller_terminal() {
        let term = TermSize { rows: 5, cols: 10 };
        let region = |top, bottom| Some(ScrollRegion { top, bottom });
        // (region, origin, cursor row) on a 10-row screen → what is set, and where the
        // cursor goes, on 5 rows (the rows from the cursor's row − 4 on).
        let cases = [
            // Its rows cut off the top go; cut at the bottom to the terminal's.
            (region(2, 8), false, 9, "\x1b[1;4r\x1b[5;1H"),
            (region(7, 9), true, 9, "\x1b[3;5r\x1b[?6h\x1b[3;1H"),
            (region(1, 3), false, 4, "\x1b[2;4r\x1b[5;1H"),
            // What is left of it is the whole terminal, or nothing: no region.
            (region(2, 8), true, 6, "\x1b[?6h\x1b[5;1H"),
            (region(0, 3), false, 9, "\x1b[5;1H"),
            // Nonsense from a hostile node is not sent on.
            (region(3, 1), false, 0, "\x1b[1;1H"),
            (region(50, 60000), false, 0, "\x1b[1;1H"),
            (region(8, 60000), false, 9, "\x1b[4;5r\x1b[5;1H"),
        ];
        for (scroll_region, origin, row, want) in cases {
            let screen = ScreenSnapshot {
                output_modes: OutputModes { scroll_region, origin, ..Default::default() },
                ..snapshot_of(10, 10, "0\n1\n2\n3\n4\n5\n6\n7\n8\n9", (row, 0))
            };
            let s = draw_snapshot_on(&screen, term);
            assert!(s.ends_with(&format!("{want}\x1b[?25h")), "{scroll_region:?} origin {origin} row {row}: {s:?}");
            // And on the terminal the cursor is on the snapshot's row, as shown.
            let mut shown = Screen::new(5, 10);
            shown.process(s.as_bytes());
            assert_eq!(shown.cursor().0, row.min(4), "{scroll_region:?} origin {origin} row {row}");
        }
    }

    #[test]
    fn what_a_snapshot_turns_on_the_console_turns_off() {
        let screen = ScreenSnapshot {
            alternate_screen: true,
            cursor_visible: false,
            main_screen: Some(MainScreen { text: "$ tui".into(), cursor_row: 0, cursor_col: 5 }),
            output_modes: every_output_mode(),
            ..snapshot_of(6, 10, "frame", (2, 1))
        };
        // The console's screen model takes in what it shows; its close writes the restore.
        let mut console = Screen::new(6, 10);
        console.process(draw_snapshot(&screen).as_bytes());
        let restore = console.modes().restore();
        console.process(&restore);
        assert!(!console.modes().any(), "{:?}", console.modes());
        assert_eq!(console.output_modes(), OutputModes::default());
        assert_eq!((console.text().as_str(), console.cursor()), ("$ tui", (0, 5)), "back on the main screen");
    }
}
