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
    modes: TermModes,
}

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
        *saved() = Some(Saved { termios: original.clone(), modes: TermModes::default() });
        termios::tcsetattr(stdin.as_fd(), OptionalActions::Now, &raw)?;
        Ok(RawMode { original })
    }

    /// Records what the program turned on, for the emergency restore.
    pub(crate) fn track(&self, modes: TermModes) {
        if let Some(s) = saved().as_mut() {
            s.modes = modes;
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
    let bytes = s.modes.restore();
    let _ = rustix::io::write(stdout.as_fd(), &bytes);
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
