//! What a caller asks for when it starts a session.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::restart::{RestartLimits, RestartPolicy};
use crate::supervise::{ApprovalPreset, LoopGuard, ResponseRule, StallSpec, SupervisionLevel};

/// Terminal size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TermSize {
    /// Number of rows (lines).
    pub rows: u16,
    /// Number of columns.
    pub cols: u16,
}

impl TermSize {
    /// The largest size warden accepts in either dimension.
    pub const MAX: u16 = 4096;

    /// A size, checked to be within 1..=[`TermSize::MAX`] cells in each dimension.
    pub fn new(rows: u16, cols: u16) -> Result<Self, SpecError> {
        let size = TermSize { rows, cols };
        size.validate()?;
        Ok(size)
    }

    /// Checks the bounds.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.rows == 0 || self.cols == 0 || self.rows > Self::MAX || self.cols > Self::MAX {
            return Err(SpecError::BadSize { rows: self.rows, cols: self.cols });
        }
        Ok(())
    }
}

impl Default for TermSize {
    /// 40 rows × 120 columns: wide enough that agent TUIs do not wrap their boxes.
    fn default() -> Self {
        TermSize { rows: 40, cols: 120 }
    }
}

/// A request to start one agent session.
///
/// `agent` names the adapter (`shell`, `claude`, …); `program` and `args`, when
/// given, override what the adapter would run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSpec {
    /// Adapter name, such as `shell`.
    pub agent: String,
    /// Program to run; resolved through `PATH` when it has no slash.
    pub program: String,
    /// Arguments after the program name.
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment given to the child on top of warden's small allowlist.
    /// Nothing else of warden's environment reaches the child.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory; must exist. `None` means warden's own.
    #[serde(default)]
    pub workdir: Option<PathBuf>,
    /// Terminal size.
    #[serde(default)]
    pub size: TermSize,
    /// Restart policy for the agent process.
    #[serde(default)]
    pub restart: RestartPolicy,
    /// Limits of the restart policy (default: 3 restarts in 60 s, back-off
    /// from 1 s doubling to 30 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_limits: Option<RestartLimits>,
    /// The task typed into the agent once it runs, if any.
    #[serde(default)]
    pub task: Option<String>,
    /// A free-form label for humans and coordinators.
    #[serde(default)]
    pub label: Option<String>,
    /// What warden may answer by itself.
    #[serde(default)]
    pub supervision: SupervisionLevel,
    /// The approval preset the agent runs with: the bar an adapter's built-in
    /// answer must clear to be sent without asking (default `standard`).
    #[serde(default)]
    pub preset: ApprovalPreset,
    /// The session's own auto-response rules (on top of the adapter's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<ResponseRule>,
    /// Extra loading patterns (regular expressions): while one matches the
    /// bottom of the screen the agent counts as working.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub loading: Vec<String>,
    /// Stall detection settings.
    #[serde(default)]
    pub stall: StallSpec,
    /// The auto-responder's loop guard.
    #[serde(default)]
    pub loop_guard: LoopGuard,
}

impl SessionSpec {
    /// A spec running `program` for adapter `agent`, with defaults for the rest.
    pub fn new(agent: impl Into<String>, program: impl Into<String>) -> Self {
        SessionSpec {
            agent: agent.into(),
            program: program.into(),
            args: Vec::new(),
            env: BTreeMap::new(),
            workdir: None,
            size: TermSize::default(),
            restart: RestartPolicy::default(),
            restart_limits: None,
            task: None,
            label: None,
            supervision: SupervisionLevel::default(),
            preset: ApprovalPreset::default(),
            rules: Vec::new(),
            loading: Vec::new(),
            stall: StallSpec::default(),
            loop_guard: LoopGuard::default(),
        }
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets one environment variable for the child.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Sets the working directory.
    pub fn workdir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.workdir = Some(dir.into());
        self
    }

    /// Sets the terminal size.
    pub fn size(mut self, rows: u16, cols: u16) -> Self {
        self.size = TermSize { rows, cols };
        self
    }

    /// Sets the task typed into the agent after start.
    pub fn task(mut self, task: impl Into<String>) -> Self {
        self.task = Some(task.into());
        self
    }

    /// Sets the label.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Adds an auto-response rule.
    pub fn rule(mut self, rule: ResponseRule) -> Self {
        self.rules.push(rule);
        self
    }

    /// Sets the supervision level.
    pub fn supervision(mut self, level: SupervisionLevel) -> Self {
        self.supervision = level;
        self
    }

    /// Sets the stall window.
    pub fn stall_window(mut self, window: std::time::Duration) -> Self {
        self.stall.window_ms = Some(window.as_millis().min(u128::from(u64::MAX)) as u64);
        self
    }

    /// Sets the restart policy.
    pub fn restart(mut self, policy: RestartPolicy) -> Self {
        self.restart = policy;
        self
    }

    /// Checks what can be checked without IO: a program, sane sizes, no NUL
    /// bytes (they cannot cross `execve`), environment names that are names.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.program.trim().is_empty() {
            return Err(SpecError::EmptyProgram);
        }
        self.size.validate()?;
        let has_nul = |s: &str| s.contains('\0');
        if has_nul(&self.program) || self.args.iter().any(|a| has_nul(a)) {
            return Err(SpecError::NulByte("program or argument"));
        }
        for (k, v) in &self.env {
            if k.is_empty() || k.contains('=') || has_nul(k) {
                return Err(SpecError::BadEnvName(k.chars().take(64).collect()));
            }
            if has_nul(v) {
                return Err(SpecError::NulByte("environment value"));
            }
        }
        if let Some(dir) = &self.workdir
            && dir.as_os_str().as_encoded_bytes().contains(&0)
        {
            return Err(SpecError::NulByte("working directory"));
        }
        if let Some(dir) = &self.workdir {
            crate::text::check_name("working directory", &dir.to_string_lossy())?;
        }
        crate::text::check_name("agent", &self.agent)?;
        if let Some(label) = &self.label {
            crate::text::check_name("label", label)?;
        }
        if let Some(task) = &self.task {
            crate::text::check_task("task", task)?;
        }
        Ok(())
    }
}

/// A spec that cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// No program named.
    #[error("no program to run")]
    EmptyProgram,
    /// Rows or columns out of range.
    #[error("terminal size {rows}x{cols} is out of range (1..=4096 each)")]
    BadSize {
        /// Requested rows.
        rows: u16,
        /// Requested columns.
        cols: u16,
    },
    /// A NUL byte where the OS cannot carry one.
    #[error("{0} contains a NUL byte")]
    NulByte(&'static str),
    /// An environment variable name that is empty or contains `=`.
    #[error("invalid environment variable name `{0}`")]
    BadEnvName(String),
    /// A rule or loading pattern that is not a valid regular expression, or too many of them.
    #[error("invalid rule: {0}")]
    BadRule(String),
    /// A control character in a name, path or task.
    #[error(transparent)]
    ControlChar(#[from] crate::text::ControlChar),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_and_validation() {
        let spec = SessionSpec::new("shell", "bash").args(["-i"]).env("A", "1").size(10, 20).task("echo hi");
        assert_eq!(spec.args, vec!["-i"]);
        assert!(spec.validate().is_ok());
        assert_eq!(SessionSpec::new("shell", " ").validate(), Err(SpecError::EmptyProgram));
        assert!(matches!(SessionSpec::new("s", "p").size(0, 10).validate(), Err(SpecError::BadSize { .. })));
        assert!(matches!(SessionSpec::new("s", "p").env("A=B", "1").validate(), Err(SpecError::BadEnvName(_))));
        assert!(matches!(SessionSpec::new("s", "p").args(["a\0b"]).validate(), Err(SpecError::NulByte(_))));
    }

    #[test]
    fn json_defaults_and_unknown_fields() {
        let spec: SessionSpec = serde_json::from_str(r#"{"agent":"shell","program":"bash"}"#).expect("parses");
        assert_eq!(spec.size, TermSize::default());
        assert_eq!(spec.restart, RestartPolicy::Never);
        let err = serde_json::from_str::<SessionSpec>(r#"{"agent":"shell","program":"bash","bogus":1}"#);
        assert!(err.is_err());
        let restart: RestartPolicy = serde_json::from_str("\"on-failure\"").expect("parses");
        assert_eq!(restart, RestartPolicy::OnFailure);
    }
}
