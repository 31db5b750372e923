//! What ends a `warden run` before the agent exits by itself, and with which status.
//!
//! `warden run` types nothing but the task and the answers it is allowed to give, so a
//! login screen, an unreachable provider or a used-up quota cannot get better by
//! waiting: the run stops the agent and says what to do. A screen must show it for
//! [`SETTLE`] first (or be the last screen of an agent that exited): CLIs draw passing
//! frames while they start (Gemini CLI shows "Waiting for authentication…" for a moment
//! before its trust dialog). The codes sit next to the ones `timeout` (124) and
//! `env`/`docker run` (125–127) use, away from the small codes agents and tasks exit
//! with.

use std::time::Duration;

use warden_adapters::{PromptKind, ScreenState, Verdict};
use warden_core::EventKind;
use warden_core::stall::EscalationStep;

use crate::cli::print::clean;

/// The agent asks for a login.
pub const EXIT_LOGIN_REQUIRED: i32 = 121;
/// The agent cannot work: provider unreachable, usage limit, or a provider error.
pub const EXIT_PROVIDER: i32 = 122;
/// The agent stalled and every escalation step was taken.
pub const EXIT_STALLED: i32 = 123;
/// `--timeout` passed.
pub const EXIT_TIMEOUT: i32 = 124;
/// The agent CLI rejected its launch (its arguments, its version, a crash on start),
/// as `env` and `docker run` use 126 for a command that cannot be invoked.
pub const EXIT_LAUNCH_REJECTED: i32 = 126;

/// How long a login or provider screen must stay before it ends the run.
pub const SETTLE: Duration = Duration::from_secs(2);

/// What kind of screen calls for the ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A login screen (checked again after [`SETTLE`]).
    Login,
    /// A provider that cannot serve: unreachable, usage limit, error (checked again
    /// after [`SETTLE`]).
    Provider,
    /// The stall escalation gave up: at once.
    Stalled,
    /// The CLI rejected its launch (it has exited): at once.
    Rejected,
}

impl Trigger {
    /// Whether the run ends at once, without looking at the screen again.
    pub fn immediate(self) -> bool {
        matches!(self, Trigger::Stalled | Trigger::Rejected)
    }

    /// Whether `verdict` (the screen now) still shows what triggered the ending. A
    /// provider error counts while the CLI retries (busy, with the error on screen).
    pub fn still_shown(self, verdict: &Verdict) -> bool {
        match self {
            Trigger::Login => {
                matches!(verdict.state, ScreenState::LoginRequired | ScreenState::Blocked(PromptKind::Login))
            }
            Trigger::Provider => verdict.blocking.as_ref().is_some_and(|b| provider_kind(b.kind.as_str())),
            Trigger::Stalled | Trigger::Rejected => true,
        }
    }
}

fn provider_kind(kind: &str) -> bool {
    matches!(kind, "provider_unreachable" | "usage_limit" | "provider_error")
}

/// Why the run ends early: the exit status and what to tell the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    /// Exit status of `warden run`.
    pub code: i32,
    /// The message for stderr (one or a few lines, without the `warden: ` prefix).
    pub message: String,
}

/// The ending this event calls for, if any, and what triggered it. `agent` is the
/// adapter's display name and `login_hint` what a person does to log in (see
/// [`super::launch::login_hint`]).
pub fn ending_for(kind: &EventKind, agent: &str, login_hint: &str) -> Option<(Trigger, Ending)> {
    match kind {
        EventKind::LoginRequired { url, code, instructions, choices, .. } => {
            let mut message = format!("{agent} needs a login: {}", clean(instructions));
            if let Some(url) = url {
                message.push_str(&format!("\n  sign in at: {}", whole(url)));
            }
            if let Some(code) = code {
                message.push_str(&format!("\n  code: {}", whole(code)));
            }
            if !choices.is_empty() {
                let choices: Vec<String> = choices.iter().map(|c| clean(c)).collect();
                message.push_str(&format!("\n  sign-in choices: {}", choices.join("; ")));
            }
            message.push_str(&format!("\n  {login_hint}, then run warden again"));
            Some((Trigger::Login, Ending { code: EXIT_LOGIN_REQUIRED, message }))
        }
        EventKind::BlockingPrompt { prompt_kind, prompt, .. } => {
            let prompt = clean(prompt);
            let message = match prompt_kind {
                PromptKind::ProviderUnreachable => format!(
                    "{agent} cannot reach its provider: {prompt}\n  check the network (DNS, proxy) and the \
                     provider's status, then run warden again"
                ),
                PromptKind::UsageLimit => format!(
                    "{agent} hit its usage limit: {prompt}\n  try again when the limit resets, or use another \
                     agent (--agent)"
                ),
                PromptKind::ProviderError => {
                    format!("{agent}'s provider answered with an error: {prompt}\n  try again later")
                }
                _ => return None,
            };
            Some((Trigger::Provider, Ending { code: EXIT_PROVIDER, message }))
        }
        EventKind::LaunchRejected { message, provenance, hint, .. } => {
            let quoted = clean(message);
            let message = match (provenance, hint) {
                (Some(_), Some(hint)) => format!("{agent} rejected its launch: \"{quoted}\" — {}", clean(hint)),
                (Some(_), None) => format!(
                    "{agent} rejected its launch: \"{quoted}\" — upgrade {agent}, pick another preset with \
                     --preset, or check the arguments given after --"
                ),
                (None, _) => format!(
                    "{agent} failed on start: \"{quoted}\" — run it once by hand in a terminal to see why, \
                     or reinstall it"
                ),
            };
            Some((Trigger::Rejected, Ending { code: EXIT_LAUNCH_REJECTED, message }))
        }
        EventKind::Escalated { step: EscalationStep::Fail, .. } => Some((
            Trigger::Stalled,
            Ending {
                code: EXIT_STALLED,
                message: format!(
                    "{agent} stalled: no progress, and every escalation step was taken; the session failed"
                ),
            },
        )),
        _ => None,
    }
}

/// A URL or a code from the screen, whole (never shortened), without control
/// characters or blanks.
fn whole(text: &str) -> String {
    text.chars().filter(|c| !c.is_control() && !c.is_whitespace()).collect()
}

/// The ending of a run that outlived `--timeout`.
pub fn timed_out(secs: f64) -> Ending {
    Ending { code: EXIT_TIMEOUT, message: format!("timed out after {secs}s; the agent was stopped") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_core::Provenance;

    fn prov() -> Provenance {
        Provenance { adapter: "codex".into(), rule: "r".into(), region: "screen".into(), evidence: "e".into() }
    }

    #[test]
    fn logins_end_with_the_url_choices_and_what_to_do() {
        let kind = EventKind::LoginRequired {
            login_kind: warden_core::LoginKind::Oauth,
            url: Some(format!("https://auth.example/x?{}", "a".repeat(400))),
            code: None,
            instructions: "sign in".into(),
            choices: vec!["1. Sign in with ChatGPT".into(), "2. Device code".into()],
            provenance: prov(),
        };
        let (trigger, e) = ending_for(&kind, "Codex", "log in by running `codex` once in a terminal").expect("ends");
        assert_eq!(trigger, Trigger::Login);
        assert_eq!(e.code, EXIT_LOGIN_REQUIRED);
        assert!(e.message.starts_with("Codex needs a login: sign in\n"), "{}", e.message);
        assert!(e.message.contains(&format!("sign in at: https://auth.example/x?{}\n", "a".repeat(400))), "whole");
        assert!(e.message.contains("1. Sign in with ChatGPT; 2. Device code"));
        assert!(e.message.contains("running `codex` once"));
    }

    #[test]
    fn provider_trouble_ends_other_prompts_do_not() {
        let prompt = |kind: &str| EventKind::BlockingPrompt {
            prompt_kind: PromptKind::parse(kind).expect("a prompt kind"),
            prompt: "Can't reach\x1b the API".into(),
            choices: vec![],
            safe: false,
            suggested: None,
            provenance: prov(),
        };
        for kind in ["provider_unreachable", "usage_limit", "provider_error"] {
            let (trigger, e) = ending_for(&prompt(kind), "Claude Code", "").expect("ends");
            assert_eq!(trigger, Trigger::Provider);
            assert_eq!(e.code, EXIT_PROVIDER);
            assert!(e.message.contains("Can't reach the API"), "control characters cleaned: {}", e.message);
        }
        for kind in ["trust", "permission", "unknown", "login"] {
            assert_eq!(ending_for(&prompt(kind), "x", ""), None, "{kind}");
        }
        let fail = EventKind::Escalated { index: 4, step: EscalationStep::Fail };
        assert_eq!(ending_for(&fail, "x", "").map(|(t, e)| (t.immediate(), e.code)), Some((true, EXIT_STALLED)));
        assert_eq!(ending_for(&EventKind::Escalated { index: 0, step: EscalationStep::Notify }, "x", ""), None);
    }

    #[test]
    fn a_rejected_launch_ends_at_once_quoting_the_cli_on_one_line() {
        let kind = EventKind::LaunchRejected {
            message: "error: option '--permission-mode <mode>' argument 'manual' is invalid.".into(),
            code: Some(1),
            signal: None,
            elapsed_ms: 300,
            provenance: Some(prov()),
            hint: None,
        };
        let (trigger, e) = ending_for(&kind, "Claude Code", "").expect("ends");
        assert!(trigger.immediate());
        assert_eq!(e.code, EXIT_LAUNCH_REJECTED);
        assert!(!e.message.contains('\n'), "one line: {}", e.message);
        assert!(e.message.contains("\"error: option '--permission-mode <mode>' argument 'manual' is invalid.\""));
        assert!(e.message.contains("--preset"));
    }

    #[test]
    fn the_screen_is_looked_at_again() {
        let claude = warden_adapters::Registry::builtin().get("claude").expect("claude");
        let look = |text: &str| claude.classify(&warden_adapters::ScreenView::text(text));
        let login = look("  Select login method:\n  ❯ 1. Claude account with subscription\n");
        let retrying = look(
            "✻ Can't reach the API server — check your internet or DNS (ENOTFOUND) · retrying in 1s\n\
             ────────────\n❯ \n────────────\n  esc to interrupt\n",
        );
        let trust = look(
            " Quick safety check: Is this a project you created or one you trust?\n ❯ No, exit\n   Yes, I trust this folder\n",
        );
        assert!(Trigger::Login.still_shown(&login));
        assert!(!Trigger::Login.still_shown(&trust));
        assert!(Trigger::Provider.still_shown(&retrying), "{retrying:?}");
        assert!(!Trigger::Provider.still_shown(&trust));
    }
}
