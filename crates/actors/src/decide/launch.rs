//! Whether an agent that exited rejected its launch: the CLI refused its arguments
//! (a usage error, an unknown option, a flag value this version does not take),
//! needs a newer version of something, or crashed before drawing anything the
//! adapter knows.
//!
//! Two signs are needed: the process ended by itself (warden did not stop it), and
//! either the adapter's `launch_rejected` rule recognises the last screen, or the
//! process failed within [`REJECT_WINDOW`] of its start while the session never got
//! past `starting` and no rule recognises the screen (a crash on start). A CLI that
//! exits on a screen the adapter does know (Claude Code's "Unable to connect" at
//! start) ends with that verdict instead.

use std::time::Duration;

use warden_adapters::{Adapter, ScreenState};
use warden_core::{ExitInfo, ExitReason, Provenance, SessionState};

use super::view::{Look, truncate_chars};

/// How soon after its start a failing exit on an unknown screen counts as a crash on
/// start.
pub(crate) const REJECT_WINDOW: Duration = Duration::from_secs(10);

/// The rule kind that marks a CLI's refusal of its launch.
pub(crate) const LAUNCH_REJECTED: &str = "launch_rejected";

/// Longest message quoted (characters).
const MESSAGE_MAX: usize = 400;

/// A launch the CLI rejected.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rejection {
    /// The CLI's message, one line.
    pub message: String,
    /// The rule that recognised it; `None` for a crash on start.
    pub provenance: Option<Provenance>,
    /// What to do: the rule's description.
    pub hint: Option<String>,
}

/// What is known when the process has exited.
pub(crate) struct Ended<'a> {
    /// The process is the adapter's own CLI (not the fallback shell, not a program
    /// the caller named instead): only then is a failing start without a known
    /// screen taken as a crash on start.
    pub agent_cli: bool,
    pub exit: &'a ExitInfo,
    /// Time from the process's start to its exit.
    pub elapsed: Duration,
    /// The session's state before the exit.
    pub state: SessionState,
    /// The last screen and the adapter's verdict on it.
    pub look: &'a Look,
}

/// The rejection, if the launch was rejected.
pub(crate) fn rejected(adapter: &Adapter, ended: &Ended<'_>) -> Option<Rejection> {
    if ended.exit.reason != ExitReason::Exited {
        return None;
    }
    let verdict = &ended.look.verdict;
    if let Some(p) = &verdict.provenance
        && verdict.state == ScreenState::Exited
        && let Some(rule) = adapter.rule(&p.rule).filter(|r| r.kind == LAUNCH_REJECTED)
    {
        let hint = Some(rule.description.clone()).filter(|d| !d.is_empty());
        let text = if ended.look.view.text.contains(p.evidence.as_str()) {
            &ended.look.view.text
        } else {
            &ended.look.view.scrollback
        };
        let message = with_wrapped_lines(text, &p.evidence, ended.look.view.cols);
        return Some(Rejection { message, provenance: Some(p.clone()), hint });
    }
    let failed = ended.exit.signal.is_some() || ended.exit.code.is_some_and(|c| c != 0);
    if failed
        && ended.agent_cli
        && ended.elapsed < REJECT_WINDOW
        && ended.state == SessionState::Starting
        && verdict.state == ScreenState::Unknown
    {
        let last = ended.look.view.text.lines().rev().find(|l| !l.trim().is_empty()).map(str::trim);
        let message = match (last, ended.exit.code, ended.exit.signal) {
            (Some(line), _, _) => truncate_chars(line, MESSAGE_MAX),
            (None, _, Some(sig)) => format!("killed by signal {sig} before drawing anything"),
            (None, code, None) => format!("exited with status {} before drawing anything", code.unwrap_or(1)),
        };
        return Some(Rejection { message, provenance: None, hint: None });
    }
    None
}

/// The line of `text` that starts with `evidence`, joined with the lines it wrapped
/// onto (a line as wide as the screen continues on the next), trimmed, at most
/// [`MESSAGE_MAX`] characters.
fn with_wrapped_lines(text: &str, evidence: &str, cols: u16) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let Some(start) = lines.iter().position(|l| l.contains(evidence.trim())) else {
        return truncate_chars(evidence.trim(), MESSAGE_MAX);
    };
    let mut message = lines[start].trim_end().to_string();
    let mut width = lines[start].chars().count();
    for next in &lines[start + 1..] {
        if cols == 0 || width < usize::from(cols) || next.trim().is_empty() {
            break;
        }
        message.push_str(next.trim_end());
        width = next.chars().count();
    }
    truncate_chars(message.trim(), MESSAGE_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::view::View;
    use warden_adapters::{Registry, ScreenView};

    fn look(agent: &str, text: &str, scrollback: &str) -> Look {
        let view = View {
            text: text.into(),
            scrollback: scrollback.into(),
            title: String::new(),
            cursor: (0, 0),
            cols: 120,
            scrolled: 0,
            command: None,
        };
        let mut sv = ScreenView::text(text).with_cols(120);
        sv.scrollback = scrollback;
        let verdict = Registry::builtin().get(agent).expect("adapter").classify(&sv);
        Look { view, verdict }
    }

    fn exit(code: Option<i32>, signal: Option<i32>, reason: ExitReason) -> ExitInfo {
        ExitInfo { code, signal, reason }
    }

    fn screen(rel: &str) -> String {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../adapters/tests/screens").join(rel);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    #[test]
    fn the_issue_s_screen_is_a_rejection_quoting_the_whole_message() {
        let claude = Registry::builtin().get("claude").expect("claude");
        let l = look("claude", &screen("claude/v2.1.197/preset-standard.txt"), "");
        let e = exit(Some(1), None, ExitReason::Exited);
        let ended = Ended {
            agent_cli: true,
            exit: &e,
            elapsed: Duration::from_millis(400),
            state: SessionState::Starting,
            look: &l,
        };
        let r = rejected(claude, &ended).expect("rejected");
        assert_eq!(
            r.message,
            "error: option '--permission-mode <mode>' argument 'manual' is invalid. Allowed choices are acceptEdits, \
             auto, bypassPermissions, default, dontAsk, plan."
        );
        assert!(r.hint.as_deref().is_some_and(|h| h.contains("--preset")), "{:?}", r.hint);
        assert_eq!(r.provenance.map(|p| p.rule), Some("launch-rejected-option".into()));
        // Stopped by warden: never a rejection.
        let stopped = exit(Some(1), None, ExitReason::Stopped);
        assert_eq!(rejected(claude, &Ended { exit: &stopped, ..ended }), None);
    }

    #[test]
    fn a_message_above_a_usage_text_is_found_in_the_scrollback() {
        let gemini = Registry::builtin().get("gemini").expect("gemini");
        let l = look("gemini", &screen("gemini/v0.61.0/bad-flag.txt"), &screen("gemini/v0.61.0/bad-flag.history.txt"));
        let e = exit(Some(1), None, ExitReason::Exited);
        let r = rejected(
            gemini,
            &Ended {
                agent_cli: true,
                exit: &e,
                elapsed: Duration::from_secs(1),
                state: SessionState::Starting,
                look: &l,
            },
        )
        .expect("rejected");
        assert_eq!(r.message, "Unknown arguments: warden-no-such-flag, wardenNoSuchFlag");
    }

    #[test]
    fn known_screens_and_late_or_clean_exits_are_not_rejections() {
        let claude = Registry::builtin().get("claude").expect("claude");
        let offline = look("claude", &screen("claude/v2.1.197/start.txt"), "");
        let failed = exit(Some(1), None, ExitReason::Exited);
        let at = |look, elapsed, state, e| Ended { agent_cli: true, exit: e, elapsed, state, look };
        let quick = Duration::from_millis(500);
        assert_eq!(rejected(claude, &at(&offline, quick, SessionState::Starting, &failed)), None, "provider screen");
        let crash = look("claude", "Segmentation fault (core dumped)\n", "");
        let r = rejected(claude, &at(&crash, quick, SessionState::Starting, &failed)).expect("crash on start");
        assert_eq!((r.message.as_str(), r.provenance, r.hint), ("Segmentation fault (core dumped)", None, None));
        assert_eq!(rejected(claude, &at(&crash, REJECT_WINDOW, SessionState::Starting, &failed)), None, "late");
        assert_eq!(rejected(claude, &at(&crash, quick, SessionState::Ready, &failed)), None, "it worked first");
        let clean = exit(Some(0), None, ExitReason::Exited);
        assert_eq!(rejected(claude, &at(&crash, quick, SessionState::Starting, &clean)), None, "exit 0");
        let blank = look("claude", "", "");
        let killed = exit(None, Some(11), ExitReason::Exited);
        let r = rejected(claude, &at(&blank, quick, SessionState::Starting, &killed)).expect("crash");
        assert_eq!(r.message, "killed by signal 11 before drawing anything");
        // A shell, or a program the caller named, that fails at once is just an exit.
        let caller_program = Ended { agent_cli: false, ..at(&crash, quick, SessionState::Starting, &failed) };
        assert_eq!(rejected(claude, &caller_program), None);
    }
}
