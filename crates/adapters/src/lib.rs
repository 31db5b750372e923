//! warden-adapters: how to start each agent CLI and how to read its screen.
//!
//! Every adapter — `claude`, `codex`, `gemini`, `aider`, `pi`, `shell`, and any
//! *generic* adapter a user describes — is an [`Adapter`] compiled from a TOML
//! [`Manifest`]: command and arguments, credential variables, approval presets, memory
//! file, input style, and the rules that read its screen. The built-in manifests are
//! embedded in the binary (`manifests/*.toml`); a user file of the same shape overrides
//! or extends them ([`Registry::with_manifests`]). See `docs/ADAPTERS.md`.
//!
//! Pure: no process is spawned, no file read, no environment variable looked at. The
//! caller passes in what it read (its `$SHELL`, a manifest's text, preflight facts) and
//! gets back data (a [`LaunchPlan`], files to write, a [`Verdict`]).
//!
//! ```
//! use warden_adapters::{Registry, ScreenView, ScreenState, PromptKind, ApprovalPreset};
//!
//! let claude = Registry::builtin().get("claude-code").expect("alias of claude");
//! let screen = " Quick safety check: Is this a project you created or one you trust?\n ❯ No, exit\n   Yes, I trust this folder\n";
//! let verdict = claude.classify(&ScreenView::text(screen));
//! assert_eq!(verdict.state, ScreenState::Blocked(PromptKind::Trust));
//! let prompt = verdict.blocking.expect("blocking");
//! assert_eq!(prompt.provenance.rule, "trust-folder");
//! assert!(prompt.may_auto_answer(ApprovalPreset::Standard));
//! assert_eq!(claude.response_bytes(prompt.response.as_ref().expect("answer")), b"\x1b[B\r");
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod adapter;
pub mod compat;
pub mod manifest;
pub mod overlay;
pub mod preset;
mod registry;
mod rule;
pub mod select;
mod verdict;
pub mod view;

use std::collections::BTreeMap;

pub use adapter::{Adapter, InputPlan, InputStyle, LaunchPlan, LaunchRequest, TaskStyle};
pub use compat::{CliFacts, PresetChoice, PresetError};
pub use manifest::{Manifest, parse_manifest, parse_manifest_from};
pub use overlay::OverlayFile;
pub use preset::{ApprovalPreset, PresetFiles, WorkspaceFile, WriteMode};
pub use registry::{BUILTIN_MANIFESTS, Registry};
pub use rule::{Hit, Rule};
pub use select::{AuthFact, PreflightFacts, Probe, SelectError, Selection, Strategy, select, select_or_fallback};
pub use verdict::{BlockingPrompt, Detection, LoginInfo, Provenance, ScreenState, Signal, Verdict};
pub use view::{Choice, Region, ScreenView};
pub use warden_core::{LoginKind, PromptKind, Reply};

/// How to start an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentLaunch {
    /// The adapter's canonical name.
    pub agent: String,
    /// Program to run (a name looked up on `PATH`, or a path).
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Environment the adapter adds.
    pub env: BTreeMap<String, String>,
}

/// Errors of adapter lookup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdapterError {
    /// No adapter has this name.
    #[error("unknown agent type `{name}`; known agent types: {known}")]
    UnknownAgent {
        /// The name asked for.
        name: String,
        /// The names warden knows, comma-separated.
        known: String,
    },
}

/// Errors in a manifest. TOML syntax errors carry TOML's line and column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// The text is not valid TOML or does not have the manifest's shape.
    #[error("{origin}: {message}")]
    Toml {
        /// Where the text came from (a path, `built-in claude`).
        origin: String,
        /// TOML's message, with line and column.
        message: String,
    },
    /// A rule is invalid.
    #[error("adapter `{adapter}`, rule `{rule}`: {message}")]
    Rule {
        /// Adapter name.
        adapter: String,
        /// Rule id.
        rule: String,
        /// What is wrong.
        message: String,
    },
    /// The manifest is invalid.
    #[error("adapter `{adapter}`: {message}")]
    Invalid {
        /// Adapter name.
        adapter: String,
        /// What is wrong.
        message: String,
    },
}

/// Names of the built-in adapters.
pub const KNOWN_AGENTS: &[&str] = &["claude", "codex", "gemini", "aider", "pi", "shell"];

/// The bash prompt hook of the `shell` adapter (`PROMPT_COMMAND`): prints the last
/// command's exit status as `OSC 133 ; D ; status`.
pub const SHELL_STATUS_HOOK: &str = r#"printf '\033]133;D;%s\007' "$?""#;

/// How the `shell` adapter starts a shell: `$SHELL` when it is a shell
/// warden knows how to make interactive without rc files, else `bash`.
/// Interactive, so job control puts background jobs in their own groups
/// exactly as they would be for a person; without rc files, so what runs is
/// reproducible.
pub(crate) fn shell_launch(env_shell: Option<&str>) -> AgentLaunch {
    let shell = env_shell.filter(|s| !s.trim().is_empty()).unwrap_or("bash");
    let base = shell.rsplit('/').next().unwrap_or(shell);
    let (program, args): (&str, &[&str]) = match base {
        "bash" => (shell, &["--noprofile", "--norc", "-i"]),
        "zsh" => (shell, &["-f", "-i"]),
        "sh" | "dash" | "ksh" | "mksh" => (shell, &["-i"]),
        _ => ("bash", &["--noprofile", "--norc", "-i"]),
    };
    let mut env = BTreeMap::new();
    if program.rsplit('/').next() == Some("bash") {
        // The prompt hook: before each prompt, the last command's exit status as the
        // semantic-prompt mark `OSC 133 ; D ; status` (terminals show nothing for it),
        // which the screen model records and a task's completion reports.
        env.insert("PROMPT_COMMAND".to_string(), SHELL_STATUS_HOOK.to_string());
    }
    AgentLaunch {
        agent: "shell".into(),
        program: program.into(),
        args: args.iter().map(|s| s.to_string()).collect(),
        env,
    }
}

/// How to start the agent `name` (a built-in name or alias, any case) without a task
/// or preset. `env_shell` is the caller's `$SHELL`.
pub fn launch(name: &str, env_shell: Option<&str>) -> Result<AgentLaunch, AdapterError> {
    let registry = Registry::builtin();
    match registry.get(name) {
        Some(adapter) => Ok(adapter.agent_launch(env_shell)),
        None => {
            Err(AdapterError::UnknownAgent { name: name.chars().take(64).collect(), known: KNOWN_AGENTS.join(", ") })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_prefers_a_known_shell_and_falls_back_to_bash() {
        let l = launch("shell", Some("/usr/bin/zsh")).expect("known");
        assert_eq!(l.program, "/usr/bin/zsh");
        assert_eq!(l.args, vec!["-f", "-i"]);
        let l = launch("shell", Some("/usr/bin/fish")).expect("known");
        assert_eq!(l.program, "bash");
        let l = launch("SHELL", None).expect("case-insensitive");
        assert_eq!((l.program.as_str(), l.args[2].as_str()), ("bash", "-i"));
        assert_eq!(launch("bash", None).expect("alias").agent, "shell");
    }

    #[test]
    fn unknown_agents_are_typed_errors() {
        let e = launch("nope", None).expect_err("unknown");
        assert!(e.to_string().contains("unknown agent type `nope`"));
        assert!(e.to_string().contains("shell"));
    }

    #[test]
    fn agents_launch_by_name_and_legacy_alias() {
        for (name, program) in [
            ("claude-code", "claude"),
            ("openai-codex", "codex"),
            ("gemini-cli", "gemini"),
            ("aider-chat", "aider"),
            ("pi", "pi"),
        ] {
            let l = launch(name, None).expect(name);
            assert_eq!(l.program, program);
        }
    }
}
