//! Names that reach the file system or git: branch names and workspace ids.
//!
//! Branch names follow git's own `check-ref-format` rules (checked against
//! `refs/heads/<name>`), plus the extra rules `git branch` applies (no
//! leading `-`, not `HEAD`) and a length bound so a ref always fits in a
//! file name. Workspace ids are flat directory names: `[A-Za-z0-9._-]{1,64}`,
//! never `.` or `..`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest branch name accepted, in bytes (a ref is a file; most file
/// systems cap a path component at 255 bytes).
pub const MAX_BRANCH_LEN: usize = 200;
/// Longest workspace id accepted, in bytes.
pub const MAX_WORKSPACE_ID_LEN: usize = 64;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NamingError {
    /// The name is empty.
    #[error("name is empty")]
    Empty,
    /// The name is longer than allowed.
    #[error("name is {len} bytes long; at most {max} are allowed")]
    TooLong {
        /// Actual length in bytes.
        len: usize,
        /// Maximum length in bytes.
        max: usize,
    },
    /// The name contains a character that is not allowed.
    #[error("name contains the forbidden character {ch:?}")]
    ForbiddenChar {
        /// The offending character.
        ch: char,
    },
    /// The name contains a forbidden sequence (`..`, `@{`, `//`).
    #[error("name contains the forbidden sequence {0:?}")]
    ForbiddenSequence(&'static str),
    /// The name starts or ends in a way git refuses.
    #[error("name {0}")]
    BadBoundary(&'static str),
    /// The name is reserved (`HEAD`, `@`, `.`, `..`).
    #[error("name {0:?} is reserved")]
    Reserved(String),
}

/// Check a branch name (the part after `refs/heads/`) by git's rules.
pub fn validate_branch_name(name: &str) -> Result<(), NamingError> {
    if name.is_empty() {
        return Err(NamingError::Empty);
    }
    if name.len() > MAX_BRANCH_LEN {
        return Err(NamingError::TooLong { len: name.len(), max: MAX_BRANCH_LEN });
    }
    if name == "@" || name == "HEAD" {
        return Err(NamingError::Reserved(name.to_owned()));
    }
    if name.starts_with('-') {
        return Err(NamingError::BadBoundary("must not start with '-'"));
    }
    if let Some(ch) =
        name.chars().find(|&c| c.is_ascii_control() || matches!(c, ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\'))
    {
        return Err(NamingError::ForbiddenChar { ch });
    }
    for seq in ["..", "@{", "//"] {
        if name.contains(seq) {
            return Err(NamingError::ForbiddenSequence(seq));
        }
    }
    if name.starts_with('/') || name.ends_with('/') {
        return Err(NamingError::BadBoundary("must not start or end with '/'"));
    }
    if name.ends_with('.') {
        return Err(NamingError::BadBoundary("must not end with '.'"));
    }
    for component in name.split('/') {
        if component.starts_with('.') {
            return Err(NamingError::BadBoundary("has a component starting with '.'"));
        }
        if component.ends_with(".lock") {
            return Err(NamingError::BadBoundary("has a component ending with '.lock'"));
        }
    }
    Ok(())
}

/// Check a workspace id: `[A-Za-z0-9._-]{1,64}`, not `.` or `..`.
pub fn validate_workspace_id(id: &str) -> Result<(), NamingError> {
    validate_plain_name(id, MAX_WORKSPACE_ID_LEN)
}

/// Check a name that goes into a path as it is (a workspace id, a GitHub
/// owner or repository): `[A-Za-z0-9._-]{1,max}`, not `.` or `..`.
pub fn validate_plain_name(name: &str, max: usize) -> Result<(), NamingError> {
    if name.is_empty() {
        return Err(NamingError::Empty);
    }
    if name.len() > max {
        return Err(NamingError::TooLong { len: name.len(), max });
    }
    if name == "." || name == ".." {
        return Err(NamingError::Reserved(name.to_owned()));
    }
    if let Some(ch) = name.chars().find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return Err(NamingError::ForbiddenChar { ch });
    }
    Ok(())
}

/// A branch name that git accepts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BranchName(String);

impl BranchName {
    /// Validate `name` as a branch name.
    pub fn parse(name: &str) -> Result<Self, NamingError> {
        validate_branch_name(name)?;
        Ok(Self(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The full ref name, `refs/heads/<name>`.
    pub fn full_ref(&self) -> String {
        format!("refs/heads/{}", self.0)
    }
}

impl TryFrom<String> for BranchName {
    type Error = NamingError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        validate_branch_name(&value)?;
        Ok(Self(value))
    }
}

impl From<BranchName> for String {
    fn from(value: BranchName) -> Self {
        value.0
    }
}

impl fmt::Display for BranchName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A workspace id: also its directory name under `base_dir` and its worktree
/// name under `.git/worktrees/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WorkspaceId(String);

impl WorkspaceId {
    /// Validate `id` as a workspace id.
    pub fn parse(id: &str) -> Result<Self, NamingError> {
        validate_workspace_id(id)?;
        Ok(Self(id.to_owned()))
    }

    /// A fresh, time-ordered id (UUID v7).
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the id has the form of a [generated](Self::generate) one (a UUID), so
    /// that no other node has it in practice; an id a caller chose (`demo`) may name
    /// workspaces on several nodes.
    pub fn is_unique_form(&self) -> bool {
        uuid::Uuid::try_parse(&self.0).is_ok()
    }
}

impl TryFrom<String> for WorkspaceId {
    type Error = NamingError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        validate_workspace_id(&value)?;
        Ok(Self(value))
    }
}

impl From<WorkspaceId> for String {
    fn from(value: WorkspaceId) -> Self {
        value.0
    }
}

impl fmt::Display for WorkspaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Lower-case ASCII slug of `text`: runs of anything but `[a-z0-9]` become
/// one `-`, no leading/trailing `-`, at most `max` bytes; `fallback` if
/// nothing is left.
pub fn slugify(text: &str, max: usize, fallback: &str) -> String {
    let mut out = String::with_capacity(max.min(text.len()));
    let mut pending_dash = false;
    for c in text.chars() {
        if out.len() >= max {
            break;
        }
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            if pending_dash && !out.is_empty() {
                if out.len() + 2 > max {
                    break;
                }
                out.push('-');
            }
            pending_dash = false;
            out.push(c);
        } else {
            pending_dash = true;
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() { fallback.to_owned() } else { out }
}

/// Branch for an agent's task: `warden/<task-id>/<role>-<slug>`, each part
/// sanitised and bounded (task 40, role 20, slug 48 bytes).
pub fn branch_for_task(task_id: &str, role: &str, summary: &str) -> BranchName {
    let name = format!(
        "warden/{}/{}-{}",
        slugify(task_id, 40, "task"),
        slugify(role, 20, "agent"),
        slugify(summary, 48, "work"),
    );
    BranchName::parse(&name).expect("slugs are [a-z0-9-] without leading/trailing '-', so the name is valid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_ordinary_branches() {
        for ok in ["main", "feat/y", "warden/t1/coder-fix-bug", "a.b", "release-1.2", "ü/x", "a@b"] {
            assert_eq!(validate_branch_name(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rejects_what_git_rejects() {
        for bad in [
            "",
            "a..b",
            "a@{b",
            "@",
            "HEAD",
            "-x",
            "a b",
            "a~1",
            "a^",
            "a:b",
            "a?",
            "a*",
            "a[b",
            "a\\b",
            "x.lock",
            "a/b.lock/c",
            "a/",
            "/a",
            "a//b",
            "a.",
            ".a",
            "a/.b",
            "a\u{7f}",
            "a\tb",
        ] {
            assert!(validate_branch_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn workspace_ids() {
        assert!(WorkspaceId::parse("ws-1.A_b").is_ok());
        for bad in ["", ".", "..", "../x", "/abs", "a/b", "a\0b", "é", &"x".repeat(65)] {
            assert!(WorkspaceId::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(WorkspaceId::parse(WorkspaceId::generate().as_str()).is_ok());
    }

    #[test]
    fn task_branch_shape() {
        let b = branch_for_task("T-42", "Coder", "Fix the  login bug!!");
        assert_eq!(b.as_str(), "warden/t-42/coder-fix-the-login-bug");
        assert_eq!(branch_for_task("", "", "").as_str(), "warden/task/agent-work");
    }

    proptest! {
        #[test]
        fn generated_branches_always_validate(task in any::<String>(), role in any::<String>(), summary in any::<String>()) {
            let b = branch_for_task(&task, &role, &summary);
            prop_assert!(validate_branch_name(b.as_str()).is_ok());
            prop_assert!(b.as_str().len() <= MAX_BRANCH_LEN);
        }

        #[test]
        fn validation_never_panics(s in any::<String>()) {
            let _ = validate_branch_name(&s);
            let _ = validate_workspace_id(&s);
        }

        #[test]
        fn slug_is_bounded_and_clean(s in any::<String>(), max in 1usize..80) {
            let slug = slugify(&s, max, "x");
            prop_assert!(slug.len() <= max.max(1));
            prop_assert!(!slug.starts_with('-') && !slug.ends_with('-'));
            prop_assert!(slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
        }
    }
}
