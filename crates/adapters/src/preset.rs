//! Approval presets and the files warden writes into a workspace before a start.
//!
//! A preset says how much an agent may do without asking:
//!
//! | Preset | Without asking | Asks | Refused |
//! |---|---|---|---|
//! | `readonly` | read, plan | — | write, shell, web |
//! | `standard` | read, plan, web | write, shell | — |
//! | `permissive` | read, plan, web, write | shell | — |
//! | `autonomous` | everything | — | — |
//!
//! Each adapter's manifest maps the presets to that CLI's own flags, config files and
//! environment (`[presets.<name>]`); [`crate::Adapter::launch`] applies them. The preset is
//! also the bar an automatic answer must clear (a rule's `min_preset`).

use serde::Serialize;

pub use warden_core::supervise::ApprovalPreset;

/// How a file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteMode {
    /// Create or replace the file.
    Replace,
    /// Append to the file (create it if missing), separated by a blank line.
    Append,
}

/// Whether a launch plan carries the preset's config files. A caller that applies
/// the default preset without being asked for one leaves them out (the flags carry the
/// same policy), so that nothing lands in a working directory unasked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PresetFiles {
    /// The files are part of the plan.
    #[default]
    Write,
    /// Only the preset's flags and environment.
    Skip,
}

/// A file for the caller to write into the workspace before the agent starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkspaceFile {
    /// Path relative to the workspace (never absolute, never `..`).
    pub path: String,
    /// Contents.
    pub contents: String,
    /// Replace or append.
    pub mode: WriteMode,
}

/// Whether `path` is a safe workspace-relative path: not empty, not absolute, no `..`.
pub fn is_relative_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.starts_with('~')
        && !path.contains('\\')
        && path.split('/').all(|part| !part.is_empty() && part != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_parse_and_order() {
        assert_eq!(ApprovalPreset::parse("Read-Only"), Some(ApprovalPreset::Readonly));
        assert_eq!(ApprovalPreset::parse("yolo"), Some(ApprovalPreset::Autonomous));
        assert_eq!(ApprovalPreset::parse("nope"), None);
        assert!(ApprovalPreset::Readonly < ApprovalPreset::Standard);
        assert!(ApprovalPreset::Permissive < ApprovalPreset::Autonomous);
        for p in ApprovalPreset::ALL {
            assert_eq!(ApprovalPreset::parse(p.as_str()), Some(p));
        }
    }

    #[test]
    fn relative_paths_only() {
        assert!(is_relative_path(".claude/settings.json"));
        assert!(!is_relative_path("/etc/passwd"));
        assert!(!is_relative_path("../x"));
        assert!(!is_relative_path("a//b"));
        assert!(!is_relative_path("~/.codex/config.toml"));
    }
}
