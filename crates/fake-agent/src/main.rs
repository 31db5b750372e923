//! `fake-agent`: a scriptable stand-in for the agent CLIs warden supervises, so
//! tests can drive every adapter through a whole life (ready → busy → blocking
//! prompt → busy → done → exit) without the real programs or a network.
//!
//! ```text
//! fake-agent --persona claude|codex|gemini|aider|pi|shell  (--script FILE | --script-inline 'STEP; STEP; …')
//! ```
//!
//! A persona draws screens like its CLI does (clear + cursor moves + colours +
//! box drawing for the TUIs, lines below lines for aider and shell), and those
//! screens are recognised by the rules in `crates/adapters/manifests/<persona>.toml`.
//! The terminal is put in raw mode (signals kept, so Ctrl-C still interrupts) and
//! restored on exit.
//!
//! A script has one step per line (`#` starts a comment), or `;` between steps
//! with `--script-inline` (`\;` for a literal semicolon):
//!
//! | step | what it does |
//! |---|---|
//! | `screen NAME` | draw the persona's screen: `ready`, `busy`, `permission`, `trust`, `login`, `done`, `unreachable`, `exited` (aider adds `analytics`; not every persona has every screen, e.g. pi has no `permission`) |
//! | `print TEXT` | print a line; `\n \r \t \e \\ \;` escapes, `{input}` is the last line read |
//! | `sleep MS` | wait |
//! | `spinner MS` | animate the spinner line for MS (the busy screen's own line, or one below) while nothing else changes |
//! | `expect-line` | read a line (Enter ends it) and keep it as `{input}` |
//! | `expect-key KEY` | read keys until KEY arrives: a warden key name (`enter`, `down`, `escape`, `ctrl+c`, …) or one character (`y`) |
//! | `echo-input [on\|off]` | echo what is typed at the cursor, like an input box |
//! | `title TEXT` | set the terminal title (OSC 0) |
//! | `exit CODE` | exit with CODE (0–255); the end of the script exits 0 |
//! | `freeze [spinner]` | stop forever, with the spinner still turning if asked |
//! | `ignore-input [MS]` | read and discard everything, forever or for MS |
//! | `raw TEXT` | write TEXT as it is, no line break (`\e[?1049h` enters the alternate screen, `\e[6n` asks the cursor position) |
//! | `expect-reply MS` | wait up to MS for a terminal reply on stdin; `{input}` is it (ESC shown as `^[`) or `none` |
//! | `first-run FILE N` | first run in this directory (FILE absent): create FILE, play the next N steps; later runs skip them |
//!
//! Arguments after `--` are ignored (an adapter's preset flags and task, when a
//! manifest runs the fake agent in place of its CLI).
//!
//! A whole life with a permission prompt:
//!
//! ```text
//! fake-agent --persona claude --script-inline \
//!   'screen ready; expect-line; screen busy; spinner 300; screen permission;
//!    expect-key enter; screen busy; spinner 300; screen done; expect-key ctrl+d;
//!    screen exited; exit 0'
//! ```
//!
//! A bad script or option exits with status 2 and a message on stderr before
//! anything is drawn; stdin closing while a step waits for input exits 1.
//!
//! The persona's CLI on the command line (`face.rs`): `--version` and `--help`
//! print what the captured CLI printed (`--as-version V` picks a captured version,
//! default the newest); with `--persona` given first, an argument the fake does not
//! take is rejected with that CLI's own message and exit status (so
//! `--permission-mode manual` is refused as Claude Code 2.1.197 refused it), unless
//! `--accept-unknown` says to take and ignore such arguments (and a task) as the
//! real CLI would. `--permission-mode` is taken when the version lists the value.

#![deny(unsafe_code)]

mod claude_codex;
mod face;
mod gemini_pi;
mod personas;
mod run;
mod screens;
mod script;
// Raw mode (termios), the window size and poll(2) on stdin.
#[allow(unsafe_code)]
mod term;
#[cfg(test)]
mod tests;

use std::process::ExitCode;

use run::{End, Player};
use screens::Persona;
use script::Step;

const USAGE: &str = "usage: fake-agent [--persona NAME] (--script FILE | --script-inline 'STEP; STEP; ...')";

/// The parsed command line.
struct Args {
    persona: &'static Persona,
    steps: Vec<Step>,
}

/// What the command line asks for.
enum Command {
    /// Play a script.
    Run(Args),
    /// Print `text` (on stderr when `error`) and exit with `code`: `--version`,
    /// `--help`, or the persona's CLI rejecting an argument.
    Say { text: String, code: u8, error: bool },
}

/// The script to play, or why not (what would be printed instead): for the tests.
#[cfg(test)]
fn parse_args(argv: impl Iterator<Item = String>) -> Result<Args, String> {
    match parse_command(argv)? {
        Command::Run(args) => Ok(args),
        Command::Say { text, .. } => Err(text),
    }
}

fn parse_command(argv: impl Iterator<Item = String>) -> Result<Command, String> {
    let argv: Vec<String> = argv.collect();
    let flag_value = |flag: &str| argv.iter().position(|a| a == flag).and_then(|i| argv.get(i + 1)).cloned();
    let as_version = flag_value("--as-version");
    // The persona's CLI answers for itself only when it was named first.
    let face = (argv.first().map(String::as_str) == Some("--persona")).then(|| flag_value("--persona")).flatten();
    let accept_unknown = argv.iter().any(|a| a == "--accept-unknown");
    let mut persona = "shell".to_owned();
    let mut steps = None;
    let mut argv = argv.into_iter();
    while let Some(arg) = argv.next() {
        let mut value = |flag: &str| argv.next().ok_or_else(|| format!("{flag} needs a value; {USAGE}"));
        match arg.as_str() {
            "--as-version" => {
                value("--as-version")?;
            }
            "--accept-unknown" => {}
            "--version" if face.is_some() => {
                let p = face.as_deref().unwrap_or("shell");
                return Ok(Command::Say { text: face::version_text(p, as_version.as_deref()), code: 0, error: false });
            }
            "--help" if face.as_deref().and_then(|p| face::help_text(p, as_version.as_deref())).is_some() => {
                let p = face.as_deref().unwrap_or("shell");
                let text = face::help_text(p, as_version.as_deref()).unwrap_or_default().to_string();
                return Ok(Command::Say { text, code: 0, error: false });
            }
            "--permission-mode" if face.as_deref() == Some("claude") => {
                let mode = value("--permission-mode")?;
                if !face::takes_permission_mode(as_version.as_deref(), &mode) {
                    let (text, code) = face::rejection("claude", as_version.as_deref(), &arg, Some(&mode));
                    return Ok(Command::Say { text, code, error: true });
                }
            }
            "--persona" => persona = value("--persona")?,
            "--script" => {
                let path = value("--script")?;
                let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read script {path}: {e}"))?;
                steps = Some(script::parse_lines(&text).map_err(|e| format!("{path}: {e}"))?);
            }
            "--script-inline" => {
                let text = value("--script-inline")?;
                steps = Some(script::parse_inline(&text).map_err(|e| format!("inline script: {e}"))?);
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            // What an adapter adds after its own arguments (preset flags, the task) is not ours.
            "--" => break,
            _ if accept_unknown => {}
            other => match &face {
                Some(p) => {
                    let (text, code) = face::rejection(p, as_version.as_deref(), other, None);
                    return Ok(Command::Say { text, code, error: true });
                }
                None => return Err(format!("unknown argument `{other}`; {USAGE}")),
            },
        }
    }
    let persona = Persona::named(&persona)?;
    let steps = steps.ok_or_else(|| format!("no script given; {USAGE}"))?;
    // Every screen the script names must exist before anything is drawn.
    for (i, step) in steps.iter().enumerate() {
        if let Step::Screen(name) = step {
            persona.screen(name).map_err(|e| format!("script step {}: {e}", i + 1))?;
        }
    }
    Ok(Command::Run(Args { persona, steps }))
}

fn main() -> ExitCode {
    let args = match parse_command(std::env::args().skip(1)) {
        Ok(Command::Run(args)) => args,
        Ok(Command::Say { text, code, error }) => {
            let text = text.trim_end();
            if error {
                eprintln!("{text}");
            } else {
                println!("{text}");
            }
            return ExitCode::from(code);
        }
        Err(message) => {
            eprintln!("fake-agent: {message}");
            return ExitCode::from(2);
        }
    };
    let raw = term::RawMode::enter();
    let mut player = Player::new(args.persona, term::columns());
    let end = player.play(&args.steps);
    drop(raw);
    match end {
        Ok(End::Exit(code)) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Ok(End::InputClosed) => {
            eprintln!("fake-agent: input closed while waiting for it");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("fake-agent: {e}");
            ExitCode::from(1)
        }
    }
}
