//! `--on-complete`: what `warden run` does when the agent finished its task.
//!
//! - `exit`: stop the agent gracefully and exit with the status the adapter reports for
//!   the task (a shell's command status), else 0 — or the agent's own status when it
//!   exits by itself first. The default when nobody is at the terminal (`--json`, or
//!   stdin/stdout not a terminal): there is nobody to hand the session to.
//! - `stay`: keep the session open; the agent runs until it exits (or is stopped).
//!   The default when a person is at the terminal (interactive run): the person goes on
//!   from where the task ended.

/// What to do when the task is complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnComplete {
    /// Stop the agent and exit with the task's status.
    Exit,
    /// Keep the session.
    Stay,
}

impl OnComplete {
    /// Parses `--on-complete`; without it, the default of the mode.
    pub fn parse(text: Option<&str>, interactive: bool) -> Result<OnComplete, String> {
        match text.map(|t| t.trim().to_ascii_lowercase()) {
            None if interactive => Ok(OnComplete::Stay),
            None => Ok(OnComplete::Exit),
            Some(t) if t == "exit" => Ok(OnComplete::Exit),
            Some(t) if t == "stay" => Ok(OnComplete::Stay),
            Some(_) => {
                let shown: String = text.unwrap_or_default().chars().take(40).collect();
                Err(format!("--on-complete expects exit or stay, got `{shown}`"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_per_mode_and_values() {
        assert_eq!(OnComplete::parse(None, true), Ok(OnComplete::Stay));
        assert_eq!(OnComplete::parse(None, false), Ok(OnComplete::Exit));
        assert_eq!(OnComplete::parse(Some(" EXIT "), true), Ok(OnComplete::Exit));
        assert_eq!(OnComplete::parse(Some("stay"), false), Ok(OnComplete::Stay));
        assert!(OnComplete::parse(Some("later"), false).expect_err("refused").contains("exit or stay"));
    }
}
