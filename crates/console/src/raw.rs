//! Raw mode on the terminal on stdin, and the emergency restore a panic runs.
//!
//! The settings found at [`RawMode::enter`] and the modes the program turned on so far
//! are also kept in a process-wide slot, so that a panic (whose unwinding may never
//! reach the [`Console`](crate::Console)'s drop) still leaves a usable terminal.

use std::io;
use std::os::fd::AsFd;
use std::sync::{Mutex, Once, PoisonError};

use rustix::termios::{self, OptionalActions, Termios};
use warden_core::term::TermModes;

/// What the emergency path undoes.
struct Saved {
    termios: Termios,
    undo: Undo,
}

/// What the emergency path writes to the terminal.
#[derive(Default)]
struct Undo {
    /// What ends the escape sequence or string the program's output stopped in
    /// ([`Screen::sequence_end`](warden_core::term::Screen::sequence_end)).
    sequence_end: &'static [u8],
    modes: TermModes,
    /// The console pushed the person's window title on the terminal's title stack.
    title_pushed: bool,
}

impl Undo {
    /// What the emergency path writes: [`closing`] without a status line.
    fn bytes(&self) -> Vec<u8> {
        closing(self.sequence_end, b"", &self.modes, self.title_pushed)
    }
}

/// What closing the console writes, on every path: out of the sequence the output
/// stopped in first (it would otherwise take in everything after it; in tmux only ST
/// ends a DCS string), then `status` (what takes the status line away), the modes
/// turned off, and the person's title popped.
pub(crate) fn closing(sequence_end: &[u8], status: &[u8], modes: &TermModes, title_pushed: bool) -> Vec<u8> {
    [sequence_end, status, &modes.restore(), if title_pushed { POP_TITLE } else { b"" }].concat()
}

/// XTWINOPS 22 ; 0: pushes the window and icon titles on the terminal's title stack.
/// Terminals without one ignore it (xterm reads `CSI Ps t` with `Ps` ≥ 24 as a number
/// of lines; 22 and 23 are below).
pub(crate) const PUSH_TITLE: &[u8] = b"\x1b[22;0t";
/// XTWINOPS 23 ; 0: pops them, which sets them again.
pub(crate) const POP_TITLE: &[u8] = b"\x1b[23;0t";

static SAVED: Mutex<Option<Saved>> = Mutex::new(None);
static HOOK: Once = Once::new();

fn saved() -> std::sync::MutexGuard<'static, Option<Saved>> {
    SAVED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The terminal on stdin in raw mode; [`RawMode::leave`] puts the saved settings back.
pub(crate) struct RawMode {
    original: Termios,
}

impl RawMode {
    /// Saves the settings of the terminal on stdin and switches it to raw mode (no echo,
    /// no line editing, no signals from keys: ctrl+c is a byte for the program).
    pub(crate) fn enter() -> io::Result<RawMode> {
        let stdin = io::stdin();
        let original = termios::tcgetattr(stdin.as_fd())?;
        let mut raw = original.clone();
        raw.make_raw();
        install_panic_hook();
        *saved() = Some(Saved { termios: original.clone(), undo: Undo::default() });
        termios::tcsetattr(stdin.as_fd(), OptionalActions::Now, &raw)?;
        Ok(RawMode { original })
    }

    /// Records what the program turned on, and what ends the sequence its output
    /// stopped in, for the emergency restore.
    pub(crate) fn track(&self, sequence_end: &'static [u8], modes: TermModes) {
        if let Some(s) = saved().as_mut() {
            s.undo.sequence_end = sequence_end;
            s.undo.modes = modes;
        }
    }

    /// Records that the person's title was pushed ([`PUSH_TITLE`]): the emergency
    /// restore pops it.
    pub(crate) fn title_pushed(&self) {
        if let Some(s) = saved().as_mut() {
            s.undo.title_pushed = true;
        }
    }

    /// Throws away input not read yet and restores the saved settings.
    pub(crate) fn leave(&self) -> io::Result<()> {
        let stdin = io::stdin();
        saved().take();
        let _ = termios::tcflush(stdin.as_fd(), termios::QueueSelector::IFlush);
        termios::tcsetattr(stdin.as_fd(), OptionalActions::Now, &self.original)?;
        Ok(())
    }
}

/// Undoes the modes and raw mode if a console is open: for a panic. Writes with one
/// `write(2)` on the stdout descriptor (the panicking thread may hold std's stdout lock).
pub(crate) fn emergency_restore() {
    let Some(s) = saved().take() else { return };
    let stdout = io::stdout();
    let _ = rustix::io::write(stdout.as_fd(), &s.undo.bytes());
    let _ = rustix::io::write(stdout.as_fd(), b"\r\n");
    let stdin = io::stdin();
    let _ = termios::tcsetattr(stdin.as_fd(), OptionalActions::Now, &s.termios);
}

fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            emergency_restore();
            previous(info);
        }));
    });
}

#[cfg(test)]
mod tests {
    use warden_core::term::Screen;

    use super::*;

    #[test]
    fn the_emergency_restore_ends_a_cut_string_first_and_pops_the_title_last() {
        let mut screen = Screen::new(5, 20);
        screen.process(b"\x1b[?1049h\x1b[?25l\x1bP+q544e");
        let undo = Undo { sequence_end: screen.sequence_end(), modes: screen.modes(), title_pushed: true };
        let bytes = undo.bytes();
        assert!(bytes.starts_with(b"\x1b\\\x1b[?1049l"), "{:?}", String::from_utf8_lossy(&bytes));
        assert!(bytes.ends_with(b"\x1b[?25h\x1b[23;0t"), "{:?}", String::from_utf8_lossy(&bytes));
    }
}
