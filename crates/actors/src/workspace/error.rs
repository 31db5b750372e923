//! The error type of every workspace operation.

use std::path::PathBuf;

use warden_core::workspace::WorkspaceErrorCode;
use warden_core::workspace::naming::NamingError;
use warden_core::workspace::record::WorkspaceState;
use warden_core::workspace::redact::Redactor;
use warden_core::workspace::request::CommitRequestError;

/// Why a workspace operation failed. Messages are redacted before an error
/// leaves the engine.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    /// A branch name git would refuse.
    #[error("invalid branch name {name:?}: {source}")]
    InvalidBranch {
        /// The name given.
        name: String,
        /// The rule it broke.
        source: NamingError,
    },
    /// A workspace id, path or repository name argument that is not allowed.
    #[error("invalid name {name:?}: {source}")]
    InvalidName {
        /// The name given.
        name: String,
        /// The rule it broke.
        source: NamingError,
    },
    /// A commit request git would refuse (checked before anything is
    /// staged, so the workspace is left as it was).
    #[error("invalid commit request: {source}")]
    InvalidCommit {
        /// What is wrong with it.
        source: CommitRequestError,
    },
    /// A path that would leave `base_dir` (or the workspace).
    #[error("path {path:?} escapes {root:?}; use a plain relative name")]
    PathEscape {
        /// The offending path.
        path: PathBuf,
        /// The directory it must stay in.
        root: PathBuf,
    },
    /// Something does not exist.
    #[error("{}", with_suffix(what, "not found"))]
    NotFound {
        /// What was looked up.
        what: String,
    },
    /// A branch, commit or remote the request names is not in the repository.
    #[error("{}", with_suffix(what, "not found in the repository"))]
    RefNotFound {
        /// What was looked up.
        what: String,
    },
    /// Something already exists.
    #[error("{}", with_suffix(what, "already exists"))]
    AlreadyExists {
        /// What exists.
        what: String,
    },
    /// The workspace exists but is not usable (cleaned, interrupted, …).
    #[error("workspace {id} is {}, not ready", state.as_str())]
    NotReady {
        /// The workspace.
        id: String,
        /// Its state.
        state: WorkspaceState,
    },
    /// The workspace's actor is gone (warden is shutting down, or it failed).
    #[error("workspace service unavailable: {message}")]
    Unavailable {
        /// What happened.
        message: String,
    },
    /// Uncommitted changes block the operation.
    #[error("workspace has {files} uncommitted change(s); commit them or pass force")]
    Dirty {
        /// Number of changed paths.
        files: usize,
    },
    /// Unpushed commits block the operation.
    #[error("workspace has {commits} unpushed commit(s); push them or pass force")]
    Unpushed {
        /// Number of commits not on any remote-tracking branch.
        commits: usize,
    },
    /// A local git operation failed.
    #[error("git: {message}")]
    Git {
        /// Redacted message.
        message: String,
    },
    /// A network git operation (clone, fetch, push) failed.
    #[error("network: {message}")]
    Network {
        /// Redacted message.
        message: String,
    },
    /// A lock held by someone else, a rejected push, a branch checked out
    /// elsewhere: retry later or resolve.
    #[error("conflict: {message}")]
    Conflict {
        /// Redacted message.
        message: String,
    },
    /// An external command took too long and was killed.
    #[error("{what} timed out after {secs} s")]
    Timeout {
        /// What timed out.
        what: String,
        /// The limit.
        secs: u64,
    },
    /// The GitHub API refused or failed.
    #[error("github api: {message}")]
    Github {
        /// HTTP status, if a response arrived.
        status: Option<u16>,
        /// Redacted message.
        message: String,
    },
    /// Missing or contradictory configuration (e.g. no token).
    #[error("configuration: {message}")]
    Config {
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The registry in the state directory could not be used.
    #[error("registry: {message}")]
    Registry {
        /// What went wrong.
        message: String,
    },
    /// A file-system operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl WorkspaceError {
    /// A stable, machine-readable code for protocols and events.
    pub fn code(&self) -> WorkspaceErrorCode {
        use WorkspaceErrorCode as C;
        match self {
            Self::InvalidBranch { .. } => C::InvalidBranch,
            Self::InvalidName { .. } => C::InvalidName,
            Self::InvalidCommit { .. } => C::InvalidCommit,
            Self::PathEscape { .. } => C::PathEscape,
            Self::NotFound { .. } => C::NotFound,
            Self::RefNotFound { .. } => C::RefNotFound,
            Self::AlreadyExists { .. } => C::AlreadyExists,
            Self::NotReady { .. } => C::NotReady,
            Self::Unavailable { .. } => C::Unavailable,
            Self::Dirty { .. } => C::Dirty,
            Self::Unpushed { .. } => C::Unpushed,
            Self::Git { .. } => C::Git,
            Self::Network { .. } => C::Network,
            Self::Conflict { .. } => C::Conflict,
            Self::Timeout { .. } => C::Timeout,
            Self::Github { .. } => C::Github,
            Self::Config { .. } => C::Config,
            Self::Registry { .. } => C::Registry,
            Self::Io { .. } => C::Io,
        }
    }

    /// The same error with every free-text field passed through `r`.
    pub fn redacted(self, r: &Redactor) -> Self {
        match self {
            Self::Git { message } => Self::Git { message: r.redact(&message) },
            Self::Network { message } => Self::Network { message: r.redact(&message) },
            Self::Conflict { message } => Self::Conflict { message: r.redact(&message) },
            Self::Github { status, message } => Self::Github { status, message: r.redact(&message) },
            Self::Config { message } => Self::Config { message: r.redact(&message) },
            Self::Registry { message } => Self::Registry { message: r.redact(&message) },
            Self::NotFound { what } => Self::NotFound { what: r.redact(&what) },
            Self::RefNotFound { what } => Self::RefNotFound { what: r.redact(&what) },
            Self::AlreadyExists { what } => Self::AlreadyExists { what: r.redact(&what) },
            Self::Timeout { what, secs } => Self::Timeout { what: r.redact(&what), secs },
            Self::Io { context, source } => Self::Io {
                context: r.redact(&context),
                source: std::io::Error::new(source.kind(), r.redact(&source.to_string())),
            },
            other => other,
        }
    }

    /// Wrap an IO error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io { context: context.into(), source }
    }
}

/// `what` followed by `suffix`, unless a library's message already says it
/// (git2's read "reference 'refs/heads/x' not found", "…: directory exists").
fn with_suffix(what: &str, suffix: &str) -> String {
    let said = ["not found", "exists", "does not exist", "cannot locate", "could not find"];
    if said.iter().any(|s| what.contains(s)) { what.to_owned() } else { format!("{what} {suffix}") }
}

impl From<git2::Error> for WorkspaceError {
    fn from(e: git2::Error) -> Self {
        let message = warden_core::workspace::redact::strip_url_credentials(e.message());
        match e.code() {
            git2::ErrorCode::Locked | git2::ErrorCode::Modified | git2::ErrorCode::Conflict => {
                Self::Conflict { message }
            }
            // Whatever git2 cannot find is inside a repository (a ref, an
            // object, a remote), never a workspace record.
            git2::ErrorCode::NotFound => Self::RefNotFound { what: message },
            git2::ErrorCode::Exists => Self::AlreadyExists { what: message },
            _ => Self::Git { message },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reported defect: libgit2's "…: directory exists" became
    /// "…: directory exists already exists".
    #[test]
    fn a_message_that_says_it_already_gets_no_suffix() {
        let said = WorkspaceError::AlreadyExists { what: "failed to make directory '/w/x': directory exists".into() };
        assert_eq!(said.to_string(), "failed to make directory '/w/x': directory exists");
        let bare = WorkspaceError::AlreadyExists { what: "workspace w1".into() };
        assert_eq!(bare.to_string(), "workspace w1 already exists");
        let found = WorkspaceError::RefNotFound { what: "reference 'refs/heads/x' not found".into() };
        assert_eq!(found.to_string(), "reference 'refs/heads/x' not found");
    }
}
