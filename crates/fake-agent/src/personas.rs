//! The personas' screens: the lines the adapters' rules read, copied from the
//! captures (`crates/adapters/tests/screens/<agent>/*.txt`) or, for states the
//! captures lack (permission prompts, finished turns), from the manifests' patterns.

use super::claude_codex::{CLAUDE, CODEX};
use super::gemini_pi::{GEMINI, PI};
use super::screens::Look::{Accent, Dim, Error, Plain, Rule, Warn};
use super::screens::{Line, Persona, Screen};

/// Every persona.
pub static PERSONAS: &[Persona] = &[CLAUDE, CODEX, GEMINI, AIDER, PI, SHELL];

/// A screen that clears and redraws the whole terminal.
pub(super) const fn tui(name: &'static str, lines: &'static [Line], cursor: Option<(usize, usize)>) -> Screen {
    Screen { name, clear: true, title: None, lines, cursor }
}

/// A screen printed below what is already there.
pub(super) const fn lines(name: &'static str, lines: &'static [Line]) -> Screen {
    Screen { name, clear: false, title: None, lines, cursor: None }
}

// ---- aider -------------------------------------------------------------------------------
const AIDER: Persona = Persona {
    name: "aider",
    accent: "38;5;39",
    frames: &["░█  ", " ░█ ", "  ░█", " ░█ "],
    spinner_line: "{} Waiting for gpt-4o",
    screens: &[
        lines(
            "ready",
            &[
                (Plain, "Aider v0.86.2"),
                (Plain, "Main model: gpt-4o with diff edit format"),
                (Plain, "Weak model: gpt-4o-mini"),
                (Plain, "Git repo: .git with 0 files"),
                (Plain, "Repo-map: using 4096 tokens, auto refresh"),
                (Rule, ""),
                (Accent, "> "),
            ],
        ),
        lines("busy", &[(Plain, ""), (Dim, "{} Waiting for gpt-4o")]),
        lines(
            "permission",
            &[
                (Plain, ""),
                (Plain, "rm -rf build"),
                (Accent, "Run shell command? (Y)es/(N)o/(D)on't ask again [Yes]: "),
            ],
        ),
        lines(
            "trust",
            &[(Accent, "No git repo found, create one to track aider's changes (recommended)? (Y)es/(N)o [Yes]: ")],
        ),
        lines(
            "analytics",
            &[
                (Rule, ""),
                (
                    Plain,
                    "Aider respects your privacy and never collects your code, chat messages, keys or personal info.",
                ),
                (Plain, "For more info: https://aider.chat/docs/more/analytics.html"),
                (Accent, "Allow collection of anonymous analytics to help improve aider? (Y)es/(N)o [Yes]: "),
            ],
        ),
        lines(
            "login",
            &[
                (Warn, "No LLM model was specified and no API keys were provided."),
                (Plain, "OpenRouter provides free and paid access to many LLMs."),
                (Accent, "Login to OpenRouter or create a free account? (Y)es/(N)o [Yes]: "),
            ],
        ),
        lines(
            "done",
            &[
                (Plain, ""),
                (Plain, "Done: the change is in place."),
                (Plain, ""),
                (Dim, "Tokens: 2.3k sent, 12 received. Cost: $0.0059 message, $0.0059 session."),
                (Rule, ""),
                (Accent, "> "),
            ],
        ),
        lines(
            "unreachable",
            &[
                (Error, "litellm.InternalServerError: InternalServerError: OpenAIException - Connection error."),
                (Warn, "The API provider's servers are down or overloaded."),
                (Plain, "Retrying in 0.2 seconds..."),
            ],
        ),
        lines("exited", &[(Plain, ""), (Plain, "^C KeyboardInterrupt")]),
    ],
};

// ---- shell -------------------------------------------------------------------------------
const SHELL: Persona = Persona {
    name: "shell",
    accent: "32",
    frames: &["|", "/", "-", "\\"],
    spinner_line: "{} working",
    screens: &[
        lines("ready", &[(Plain, "$ ")]),
        lines("busy", &[(Plain, "{} working")]),
        lines("permission", &[(Plain, "Proceed? [y/N] ")]),
        lines("done", &[(Plain, "done"), (Plain, "$ ")]),
        lines("exited", &[(Plain, "exit")]),
    ],
};
