//! warden-adapters: how to start each agent CLI and how to read its screen.
//!
//! This first cut knows the `shell` adapter; the agent CLIs (Claude Code,
//! Codex, Gemini CLI, Aider, Pi) and adapters described in configuration
//! come with the adapters issue. Pure: the caller passes in what it read
//! from the environment.

#![warn(missing_docs)]

use std::collections::BTreeMap;

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

/// Names of the built-in adapters.
pub const KNOWN_AGENTS: &[&str] = &["shell"];

/// How the `shell` adapter starts a shell: `$SHELL` when it is a shell
/// warden knows how to make interactive without rc files, else `bash`.
/// Interactive, so job control puts background jobs in their own groups
/// exactly as they would be for a person; without rc files, so what runs is
/// reproducible.
fn shell_launch(env_shell: Option<&str>) -> AgentLaunch {
    let shell = env_shell.filter(|s| !s.trim().is_empty()).unwrap_or("bash");
    let base = shell.rsplit('/').next().unwrap_or(shell);
    let (program, args): (&str, &[&str]) = match base {
        "bash" => (shell, &["--noprofile", "--norc", "-i"]),
        "zsh" => (shell, &["-f", "-i"]),
        "sh" | "dash" | "ksh" | "mksh" => (shell, &["-i"]),
        _ => ("bash", &["--noprofile", "--norc", "-i"]),
    };
    AgentLaunch {
        agent: "shell".into(),
        program: program.into(),
        args: args.iter().map(|s| s.to_string()).collect(),
        env: BTreeMap::new(),
    }
}

/// How to start the agent `name`. `env_shell` is the caller's `$SHELL`.
pub fn launch(name: &str, env_shell: Option<&str>) -> Result<AgentLaunch, AdapterError> {
    match name.trim().to_ascii_lowercase().as_str() {
        "shell" | "sh" | "bash" => Ok(shell_launch(env_shell)),
        _ => Err(AdapterError::UnknownAgent { name: name.chars().take(64).collect(), known: KNOWN_AGENTS.join(", ") }),
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
    }

    #[test]
    fn unknown_agents_are_typed_errors() {
        let e = launch("nope", None).expect_err("unknown");
        assert!(e.to_string().contains("unknown agent type `nope`"));
        assert!(e.to_string().contains("shell"));
    }
}
