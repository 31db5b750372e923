//! The stable codes of workspace failures (`code` of `workspace_failed` and of
//! a failed finalize step). `warden_actors::WorkspaceError::code` gives one for
//! every error; the bridge maps each to a reply's error code.

use crate::wire::wire_enum;

wire_enum! {
    /// Why a workspace operation failed, as a stable code.
    pub enum WorkspaceErrorCode {
        /// A branch name git would refuse.
        InvalidBranch = "invalid_branch",
        /// A workspace id or path argument that is not allowed.
        InvalidName = "invalid_name",
        /// A commit request git would refuse: an empty message, a NUL in
        /// it, an author with `<`, `>` or a control character.
        InvalidCommit = "invalid_commit",
        /// A path that would leave the workspace's directory.
        PathEscape = "path_escape",
        /// Something does not exist.
        NotFound = "not_found",
        /// A branch, commit or remote the request names is not in the
        /// repository.
        RefNotFound = "ref_not_found",
        /// Something already exists.
        AlreadyExists = "already_exists",
        /// The workspace exists but is not usable.
        NotReady = "not_ready",
        /// The workspace service is gone.
        Unavailable = "unavailable",
        /// Uncommitted changes block the operation.
        Dirty = "dirty",
        /// Unpushed commits block the operation.
        Unpushed = "unpushed",
        /// A local git operation failed.
        Git = "git",
        /// A network git operation failed.
        Network = "network",
        /// A lock, a rejected push, a branch checked out elsewhere.
        Conflict = "conflict",
        /// An external command took too long.
        Timeout = "timeout",
        /// The GitHub API refused or failed.
        Github = "github",
        /// Missing or contradictory configuration.
        Config = "config",
        /// The registry in the state directory could not be used.
        Registry = "registry",
        /// A file-system operation failed.
        Io = "io",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_travel_as_documented() {
        crate::wire::tests::round_trips(
            WorkspaceErrorCode::ALL,
            |c| c.as_str(),
            &[
                "invalid_branch",
                "invalid_name",
                "invalid_commit",
                "path_escape",
                "not_found",
                "ref_not_found",
                "already_exists",
                "not_ready",
                "unavailable",
                "dirty",
                "unpushed",
                "git",
                "network",
                "conflict",
                "timeout",
                "github",
                "config",
                "registry",
                "io",
            ],
        );
    }
}
