//! Requests to the workspace engine: what to provision, commit, push, open.
//!
//! Pure data (serde).

use serde::{Deserialize, Serialize};

use super::naming::NamingError;

/// Name and e-mail used for commits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// Author/committer name.
    pub name: String,
    /// Author/committer e-mail.
    pub email: String,
}

impl Default for Identity {
    fn default() -> Self {
        Self { name: "warden".into(), email: "warden@localhost".into() }
    }
}

impl Identity {
    /// Checks that git can write the identity into a commit: name and e-mail
    /// not empty (nor only white space), without `<` or `>` (they delimit the
    /// e-mail in the commit's author line) and without control characters
    /// (a newline would end the line, a NUL the string).
    pub fn check(&self) -> Result<(), IdentityError> {
        for (field, value) in [("name", &self.name), ("email", &self.email)] {
            if value.trim().is_empty() {
                return Err(IdentityError::Empty { field });
            }
            if let Some(ch) = value.chars().find(|c| matches!(c, '<' | '>')) {
                return Err(IdentityError::AngleBracket { field, ch });
            }
            crate::text::check_name(field, value)?;
        }
        Ok(())
    }
}

/// Why git cannot write an [`Identity`] into a commit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The name or e-mail is empty, or only white space.
    #[error("{field} is empty")]
    Empty {
        /// `name` or `email`.
        field: &'static str,
    },
    /// The name or e-mail contains `<` or `>`.
    #[error("{field} contains {ch:?}, which git uses to enclose the e-mail; remove it")]
    AngleBracket {
        /// `name` or `email`.
        field: &'static str,
        /// The bracket.
        ch: char,
    },
    /// The name or e-mail contains a control character.
    #[error(transparent)]
    ControlChar(#[from] crate::text::ControlChar),
}

/// How the branch of a new workspace is chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case", deny_unknown_fields)]
pub enum BranchSpec {
    /// Exactly this name (validated by git's rules).
    Named {
        /// The branch name.
        name: String,
    },
    /// `warden/<task-id>/<role>-<slug>` from the task context.
    Task {
        /// Task id.
        task_id: String,
        /// Agent role.
        role: String,
        /// Task summary (becomes the slug).
        summary: String,
    },
}

/// A new clone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloneSpec {
    /// Workspace id; generated (UUID v7) when absent.
    #[serde(default)]
    pub id: Option<String>,
    /// URL or local path of the repository.
    pub source: String,
    /// Branch to work on.
    pub branch: BranchSpec,
    /// Base branch (default: the remote's default branch).
    #[serde(default)]
    pub base: Option<String>,
    /// Shallow clone depth.
    #[serde(default)]
    pub depth: Option<u32>,
}

/// A new worktree of an existing workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorktreeSpec {
    /// The parent workspace (a clone, not a worktree).
    pub parent: String,
    /// Workspace id; generated (UUID v7) when absent.
    #[serde(default)]
    pub id: Option<String>,
    /// Branch to work on.
    pub branch: BranchSpec,
    /// Base branch (default: the parent's current branch).
    #[serde(default)]
    pub base: Option<String>,
}

/// What to provision: a new clone, or a worktree of an existing clone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ProvisionSpec {
    /// Clone a repository.
    Clone(CloneSpec),
    /// Add a worktree to an existing workspace.
    Worktree(WorktreeSpec),
}

/// What to commit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitRequest {
    /// Commit message.
    pub message: String,
    /// Only these paths (relative to the workspace); all changes when absent.
    #[serde(default)]
    pub paths: Option<Vec<String>>,
    /// Author/committer; the configured identity when absent.
    #[serde(default)]
    pub author: Option<Identity>,
}

impl CommitRequest {
    /// Checks what git would refuse, before anything is staged: an empty
    /// message (or only white space), a NUL in the message, an author that
    /// [`Identity::check`] refuses.
    pub fn check(&self) -> Result<(), CommitRequestError> {
        if self.message.trim().is_empty() {
            return Err(CommitRequestError::EmptyMessage);
        }
        if self.message.contains('\0') {
            return Err(CommitRequestError::NulInMessage);
        }
        if let Some(author) = &self.author {
            author.check().map_err(CommitRequestError::Author)?;
        }
        Ok(())
    }
}

/// Why a [`CommitRequest`] is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitRequestError {
    /// The message is empty, or only white space.
    #[error("commit message is empty")]
    EmptyMessage,
    /// The message contains a NUL, which git cannot store.
    #[error("commit message contains a NUL character; git cannot store one")]
    NulInMessage,
    /// The author is one git cannot write.
    #[error("author {0}")]
    Author(IdentityError),
}

/// How to push.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    /// Force (as `--force-with-lease`); refused unless configuration allows.
    #[serde(default)]
    pub force: bool,
}

/// Finalize = commit, then optionally push, PR and cleanup, in that order;
/// a step runs only if every earlier one succeeded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinalizeRequest {
    /// The commit.
    pub commit: CommitRequest,
    /// Push, if present.
    #[serde(default)]
    pub push: Option<PushRequest>,
    /// Open a pull request, if present.
    #[serde(default)]
    pub pr: Option<PrRequest>,
    /// Clean up afterwards; `Some(true)` forces.
    #[serde(default)]
    pub cleanup: Option<bool>,
}

/// `owner/name` of a GitHub repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoSlug {
    /// Host the remote points at (e.g. `github.com`).
    pub host: String,
    /// Owner (user or organisation).
    pub owner: String,
    /// Repository name, without `.git`.
    pub name: String,
}

/// Longest owner or repository name GitHub allows.
const MAX_SLUG_PART: usize = 100;

impl RepoSlug {
    /// `owner/name` on github.com (a task's `pr_repo`), both parts checked
    /// as [`RepoSlug::check`] does.
    pub fn github(pair: &str) -> Result<RepoSlug, NamingError> {
        let (owner, name) = pair.split_once('/').ok_or(NamingError::BadBoundary("must be `owner/name`"))?;
        let slug = RepoSlug { host: "github.com".into(), owner: owner.into(), name: name.into() };
        slug.check()?;
        Ok(slug)
    }

    /// Checks that the owner and the name are what GitHub allows (ASCII
    /// letters, digits, `-`, `_`, `.`; not `.` or `..`): they go into the
    /// API's path as they are, where a `/`, `?`, `#` or `..` would aim the
    /// request, and the node's token, at another endpoint.
    pub fn check(&self) -> Result<(), NamingError> {
        check_slug_part(&self.owner)?;
        check_slug_part(&self.name)
    }
}

fn check_slug_part(part: &str) -> Result<(), NamingError> {
    super::naming::validate_plain_name(part, MAX_SLUG_PART)
}

/// Parse `owner/repo` from a remote URL: `https://host/o/r(.git)`,
/// `ssh://git@host[:port]/o/r(.git)` or `git@host:o/r(.git)`.
pub fn parse_remote(url: &str) -> Option<RepoSlug> {
    let url = url.trim();
    let (host, path) = if let Some((scheme, rest)) = url.split_once("://") {
        if !matches!(scheme, "https" | "http" | "ssh" | "git") {
            return None;
        }
        let (authority, path) = rest.split_once('/')?;
        let host = authority.rsplit('@').next()?;
        let host = host.split(':').next()?;
        (host, path)
    } else {
        // scp-like: [user@]host:path
        let (left, path) = url.split_once(':')?;
        if left.contains('/') {
            return None;
        }
        (left.rsplit('@').next()?, path)
    };
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    let mut parts = path.split('/');
    let (owner, name) = (parts.next()?, parts.next()?);
    let slug = RepoSlug { host: host.to_owned(), owner: owner.to_owned(), name: name.to_owned() };
    if parts.next().is_some() || host.is_empty() || slug.check().is_err() {
        return None;
    }
    Some(slug)
}

/// What to open.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrRequest {
    /// Title.
    pub title: String,
    /// Body (Markdown).
    #[serde(default)]
    pub body: Option<String>,
    /// Target branch; defaults to the workspace's base.
    #[serde(default)]
    pub base: Option<String>,
    /// Open as draft.
    #[serde(default)]
    pub draft: bool,
    /// Labels to add after creation.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Repository; defaults to the one parsed from the push remote.
    #[serde(default)]
    pub repo: Option<RepoSlug>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_slugs_are_one_plain_owner_name_pair() {
        let slug = RepoSlug::github("acme.io/api_v2-x").expect("plain pair");
        assert_eq!((slug.owner.as_str(), slug.name.as_str()), ("acme.io", "api_v2-x"));
        for bad in ["o", "o/", "/r", "o/r/forks", "o/r?x=", "o/r#", "../r", "o/..", "o/r x", "o/r\u{0}", "ö/r"] {
            assert!(RepoSlug::github(bad).is_err(), "{bad:?}");
        }
        assert!(RepoSlug::github(&format!("o/{}", "r".repeat(101))).is_err());
        assert_eq!(parse_remote("https://github.com/o/..git"), None);
    }

    #[test]
    fn commits_git_would_refuse_are_refused_by_check() {
        let author = |name: &str, email: &str| CommitRequest {
            message: "m".into(),
            paths: None,
            author: Some(Identity { name: name.into(), email: email.into() }),
        };
        let message = |m: &str| CommitRequest { message: m.into(), ..Default::default() };
        let bad = [
            (author("a <b>", "a@b"), "author name contains '<'"),
            (author("a", "<a@b>"), "author email contains '<'"),
            (author("a>", "a@b"), "author name contains '>'"),
            (author(" ", "a@b"), "author name is empty"),
            (author("a", ""), "author email is empty"),
            (author("a\nb", "a@b"), "author name contains the control character U+000A"),
            (author("a", "a@b\0"), "author email contains the control character U+0000"),
            (author("a\u{7f}", "a@b"), "author name contains the control character U+007F"),
            (author("a\u{85}", "a@b"), "author name contains the control character U+0085"),
            (message(""), "commit message is empty"),
            (message(" \n\t"), "commit message is empty"),
            (message("fix\0it"), "NUL"),
        ];
        for (req, says) in bad {
            let e = req.check().expect_err(&format!("{req:?} accepted"));
            assert!(e.to_string().contains(says), "{req:?}: {e}");
        }
        for ok in [
            author("Ada Lovelace", "ada@example.com"),
            author("Zoë (bot)", "z@x"),
            message("subject\n\nbody\twith a tab\r\n"),
        ] {
            assert_eq!(ok.check(), Ok(()), "{ok:?}");
        }
        assert_eq!(Identity::default().check(), Ok(()));
    }

    #[test]
    fn requests_refuse_fields_they_do_not_have() {
        let branch = BranchSpec::Named { name: "feat/x".into() };
        for spec in [
            ProvisionSpec::Clone(CloneSpec {
                id: None,
                source: "/r".into(),
                branch: branch.clone(),
                base: None,
                depth: Some(1),
            }),
            ProvisionSpec::Worktree(WorktreeSpec { parent: "p".into(), id: Some("w".into()), branch, base: None }),
        ] {
            let json = serde_json::to_string(&spec).expect("json");
            assert_eq!(serde_json::from_str::<ProvisionSpec>(&json).expect("parses"), spec, "{json}");
        }
        assert!(
            serde_json::from_str::<ProvisionSpec>(
                r#"{"type":"worktree","parent":"p","branch":{"from":"named","name":"x"},"bse":"m"}"#
            )
            .is_err()
        );
        assert!(serde_json::from_str::<CommitRequest>(r#"{"message":"m","path":["a"]}"#).is_err());
        assert!(serde_json::from_str::<FinalizeRequest>(r#"{"commit":{"message":"m"},"clean":true}"#).is_err());
    }
}
