//! A person at a terminal, talking to a session: the terminal half of "raw terminal ⇄
//! session", shared by interactive `warden run` and (later) `warden attach`.
//!
//! [`Console::open`] puts the terminal on stdin/stdout into raw mode and gives back
//! what the person does ([`Console::next`]: keystrokes as bytes, resizes, a detach key,
//! a yes/no answer to a question on the status line) and shows what the session
//! prints ([`Console::show`]). Whatever happens — the session ends, the caller
//! returns early, a panic unwinds, the process is told to stop — the terminal is left
//! as it was found: the modes the program turned on (alternate screen, hidden cursor,
//! mouse, focus and bracketed-paste reporting, keyboard protocols; tracked by
//! [`warden_core::term::Screen::modes`]) are turned off, the terminal's pending replies
//! to the program's queries are read and thrown away (so none reaches the shell), and
//! cooked mode is restored. Details: `docs/TERMINAL.md`.
//!
//! The console knows nothing of warden's sessions: the caller moves bytes between it
//! and a session (an in-process [`Warden`](https://docs.rs/warden-actors) handle, or a
//! remote one).

#![forbid(unsafe_code)]

mod console;
mod input;
mod raw;
mod reader;
mod status;

pub use console::{Console, ConsoleError, ConsoleInput, ConsoleOptions};
pub use input::{DEFAULT_DETACH_KEY, detach_key_byte};
pub use status::{clear_status, draw_status};
