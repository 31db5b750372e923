//! `warden attach`: a person's terminal on a running session, over the
//! local socket or NATS. The session's current screen is drawn first (from
//! the node's screen model, so a full-screen agent shows as it is now, not
//! as a replay of its whole output), then live output; keystrokes go to the
//! agent as they are typed; the agent's terminal follows this one's size; a
//! detach key (default ctrl+]) leaves the agent running.

use std::io::{IsTerminal, Write};

use bytes::Bytes;
use serde_json::json;
use tokio::io::AsyncReadExt;
use tracing::debug;
use warden_core::{ScreenSnapshot, SessionId};

use crate::ConsoleError;
use crate::link::{AttachMsg, Link};

/// Modes an agent may have turned on that a terminal must not keep after
/// the person leaves: the alternate screen, a hidden cursor, mouse
/// reporting (all encodings), bracketed paste, focus events; then the
/// default colours. Sent on every way out.
pub const RESET_MODES: &str = "\x1b[?1049l\x1b[?25h\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1005l\x1b[?1006l\x1b[?1015l\x1b[?2004l\x1b[?1004l\x1b[0m";

/// How `attach` runs.
#[derive(Debug, Clone)]
pub struct AttachOptions {
    /// The node the session runs on (ignored on the local socket).
    pub node: String,
    /// The session.
    pub session: SessionId,
    /// The byte that detaches (ctrl+] is 0x1d).
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
}

/// The byte a key name like `ctrl+]` or `ctrl+a` sends.
pub fn detach_byte(name: &str) -> Option<u8> {
    let key = name.trim().to_ascii_lowercase();
    let c = key.strip_prefix("ctrl+").or_else(|| key.strip_prefix("ctrl-"))?;
    let mut chars = c.chars();
    let (Some(ch), None) = (chars.next(), chars.next()) else { return None };
    match ch {
        'a'..='z' => Some(ch as u8 - b'a' + 1),
        '[' | ']' | '\\' | '^' | '_' => Some(ch as u8 & 0x1f),
        _ => None,
    }
}

/// Raw mode for as long as it lives; on drop (and on panic) the terminal is
/// put back: cooked mode, and every mode the agent may have turned on off.
struct RawTerminal;

impl RawTerminal {
    fn enable() -> Result<RawTerminal, ConsoleError> {
        crossterm::terminal::enable_raw_mode()?;
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            previous(info);
        }));
        Ok(RawTerminal)
    }
}

fn restore_terminal() {
    let mut out = std::io::stdout();
    let _ = out.write_all(RESET_MODES.as_bytes());
    let _ = out.flush();
    let _ = crossterm::terminal::disable_raw_mode();
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        restore_terminal();
        let _ = std::panic::take_hook();
    }
}

/// The escape sequences that draw a snapshot on a terminal of its size.
pub fn draw_snapshot(screen: &ScreenSnapshot) -> String {
    let mut s = String::new();
    if screen.alternate_screen {
        s.push_str("\x1b[?1049h");
    }
    s.push_str("\x1b[0m\x1b[H\x1b[2J");
    for (i, line) in screen.text.split('\n').enumerate().take(screen.rows as usize) {
        s.push_str(&format!("\x1b[{};1H", i + 1));
        s.extend(line.chars().filter(|c| !c.is_control()));
    }
    s.push_str(&format!("\x1b[{};{}H", screen.cursor_row + 1, screen.cursor_col + 1));
    s.push_str(if screen.cursor_visible { "\x1b[?25h" } else { "\x1b[?25l" });
    s
}

fn write_out(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}

async fn resize(link: &Link, node: &str, session: SessionId) -> Result<(), ConsoleError> {
    let (cols, rows) = crossterm::terminal::size()?;
    let reply = link.command(node, "resize", json!({"session": session, "rows": rows, "cols": cols})).await?;
    if !reply.ok {
        debug!(?reply.error, "resize refused");
    }
    Ok(())
}

/// Attaches this terminal to the session until the detach key or its end.
pub async fn run_attach(link: Link, opts: AttachOptions) -> Result<AttachEnd, ConsoleError> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return Err(ConsoleError::Protocol("attach needs a terminal on stdin and stdout".into()));
    }
    let (node, session) = (opts.node.as_str(), opts.session);
    // Output from here on is kept; the snapshot says which of it is already on screen.
    let mut stream = link.attach_stream(node, session).await?;
    let reply = link.command(node, "snapshot", json!({"session": session})).await?;
    let result = match (reply.ok, reply.result) {
        (true, Some(r)) => r,
        _ => {
            let why = reply.error.map(|e| e.message).unwrap_or_else(|| "no reply".into());
            return Err(ConsoleError::Protocol(format!("cannot attach to {session}: {why}")));
        }
    };
    let screen: ScreenSnapshot = serde_json::from_value(result["screen"].clone())
        .map_err(|e| ConsoleError::Protocol(format!("a snapshot that does not parse: {e}")))?;
    let drawn_up_to = result["seq"].as_u64().unwrap_or(0);
    // One terminal types, the others watch until one takes over.
    let me = uuid::Uuid::new_v4().to_string();
    let reply = link.command(node, "attach", json!({"session": session, "client": me, "take": opts.take})).await?;
    let writer = reply.ok && reply.result.as_ref().is_some_and(|r| r["writer"] == true);
    if writer {
        let _ = resize(&link, node, session).await;
    }

    let raw = RawTerminal::enable()?;
    write_out(draw_snapshot(&screen).as_bytes())?;
    let mut winch = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())?;
    let mut stdin = tokio::io::stdin();
    let mut buf = vec![0u8; 4096];
    let end = loop {
        tokio::select! {
            biased;
            n = stdin.read(&mut buf) => {
                let n = n?;
                if n == 0 {
                    break AttachEnd::Detached;
                }
                let typed = &buf[..n];
                let detach = typed.iter().position(|b| *b == opts.detach_byte);
                let keys = &typed[..detach.unwrap_or(n)];
                if !keys.is_empty() {
                    if writer {
                        link.input(node, session, &me, Bytes::copy_from_slice(keys)).await?;
                    } else {
                        write_out(b"\x07")?; // watching only: a bell instead of the keys
                    }
                }
                if detach.is_some() {
                    break AttachEnd::Detached;
                }
            }
            _ = winch.recv(), if writer => { let _ = resize(&link, node, session).await; }
            msg = stream.recv() => match msg {
                Some(AttachMsg::Output { seq, bytes }) => {
                    if seq == 0 || seq > drawn_up_to {
                        write_out(&bytes)?;
                    }
                }
                Some(AttachMsg::Exited(code)) => break AttachEnd::Exited(code),
                None => return Err(ConsoleError::Protocol("the connection to the node ended".into())),
            },
        }
    };
    drop(raw);
    if writer {
        let _ = link.command(node, "detach", json!({"session": session, "client": me})).await;
    }
    if !writer {
        eprintln!("\r\nwarden: watched only (another terminal held the keyboard; `--take` takes it over)");
    }
    match end {
        AttachEnd::Detached => eprintln!(
            "\r\nwarden: detached ({}); session {session} keeps running — `warden attach {session}` to come back",
            opts.detach_name
        ),
        AttachEnd::Exited(code) => {
            eprintln!("\r\nwarden: session {session} ended{}", code.map(|c| format!(" with {c}")).unwrap_or_default())
        }
    }
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_key_names() {
        assert_eq!(detach_byte("ctrl+]"), Some(0x1d));
        assert_eq!(detach_byte("Ctrl-A"), Some(1));
        assert_eq!(detach_byte("ctrl+\\"), Some(0x1c));
        assert_eq!(detach_byte("alt+x"), None);
        assert_eq!(detach_byte("ctrl+ab"), None);
    }

    #[test]
    fn a_snapshot_draws_where_it_was() {
        let screen = ScreenSnapshot {
            rows: 3,
            cols: 10,
            text: "a\n\u{1b}b\nc".into(),
            cursor_row: 1,
            cursor_col: 4,
            cursor_visible: false,
            title: String::new(),
            alternate_screen: true,
            bytes: 0,
        };
        let s = draw_snapshot(&screen);
        assert!(s.starts_with("\x1b[?1049h"), "{s:?}");
        assert!(s.contains("\x1b[2;1Hb"), "control characters of the text are not replayed: {s:?}");
        assert!(s.ends_with("\x1b[2;5H\x1b[?25l"), "{s:?}");
    }
}
