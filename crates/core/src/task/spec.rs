//! What a caller asks for: [`TaskSpec`], checked at the edge by
//! [`TaskSpec::validate`].

use serde::{Deserialize, Serialize};

use crate::restart::RestartPolicy;
use crate::supervise::ApprovalPreset;
use crate::wire::wire_enum;
use crate::workspace::naming::{NamingError, validate_branch_name};
use crate::workspace::repo_url::UrlCredential;
use crate::workspace::request::RepoSlug;

/// Most agents one task may fan out to.
pub const MAX_AGENTS: usize = 8;
/// Longest description accepted, in bytes.
pub const MAX_DESCRIPTION: usize = 64 * 1024;
/// Longest memory text accepted, in bytes.
pub const MAX_MEMORY: usize = 64 * 1024;

wire_enum! {
    /// What to do with the agents' work when they are done.
    #[derive(Default)]
    pub enum FinalizeMode {
        /// Nothing: the work stays in the workspace, uncommitted.
        #[default]
        None = "none",
        /// Commit it on the task's branch.
        Commit = "commit",
        /// Commit and push the branch.
        Push = "push",
        /// Commit, push and open a pull request.
        Pr = "pr",
    }
}

wire_enum! {
    /// What happens to the workspace once the task has ended.
    #[derive(Default)]
    pub enum CleanupPolicy {
        /// Keep it.
        #[default]
        Keep = "keep",
        /// Remove it after a successful finalize (never work that is not pushed).
        OnSuccess = "on_success",
    }
}

/// The repository a task works in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoSpec {
    /// URL or local path of the repository.
    pub source: String,
    /// Base branch (default: the remote's default branch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// The branch to work on; generated from the task when absent
    /// (`warden/<task>/<agent>-<description slug>`). With several agents each
    /// gets `<branch>-<agent>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// `owner/name` of the GitHub repository pull requests go to, when the
    /// remote's URL does not say (a local path, a mirror).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pr_repo: Option<String>,
}

/// One agent of a task and its own part of the work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskAgent {
    /// The adapter (`claude`, `shell`, …), or `auto`: chosen by the node from
    /// what is installed, the choice and its reason recorded.
    pub agent: String,
    /// This agent's sub-task; the task's description when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
}

impl TaskAgent {
    /// Whether the node chooses the agent.
    pub fn is_auto(&self) -> bool {
        self.agent == "auto"
    }
}

/// Time limits of a task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskLimits {
    /// Wall-clock limit from the first start, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Stop the agents after this long without output, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout_ms: Option<u64>,
}

/// How the agents' sessions are supervised (the fields a `spawn_agent`
/// takes beside the agent and its task).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionTuning {
    /// Extra environment for the agents.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub env: std::collections::BTreeMap<String, String>,
    /// Terminal size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<crate::spec::TermSize>,
    /// What warden may answer by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervision: Option<crate::supervise::SupervisionLevel>,
    /// The sessions' own auto-response rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<crate::supervise::ResponseRule>,
    /// Extra loading patterns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub loading: Vec<String>,
    /// Stall detection settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall: Option<crate::supervise::StallSpec>,
}

/// A task as a caller asks for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// What to do, in words; the agents' task unless they have their own.
    pub description: String,
    /// The repository; a scratch directory when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<RepoSpec>,
    /// A directory to work in instead of a repository or scratch directory
    /// (no finalize other than `none`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<std::path::PathBuf>,
    /// The agents (at least one, at most [`MAX_AGENTS`]), each in its own
    /// worktree of the same parent when there is a repository.
    pub agents: Vec<TaskAgent>,
    /// The approval preset (its files are written when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<ApprovalPreset>,
    /// Text for the agents' instruction files (`CLAUDE.md`, `AGENTS.md`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Restart policy of the agents' processes.
    #[serde(default)]
    pub restart: RestartPolicy,
    /// Time limits.
    #[serde(default)]
    pub limits: TaskLimits,
    /// What to do when the agents are done.
    #[serde(default)]
    pub finalize: FinalizeMode,
    /// What happens to the workspace afterwards.
    #[serde(default)]
    pub cleanup: CleanupPolicy,
    /// Commit the instruction and approval files warden wrote (default: they
    /// are kept out of commits by a local git exclude).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub commit_instruction_files: bool,
    /// When the node restarts while the task runs: start its agents again in
    /// their workspaces (`true`), or mark it failed (`false`, the default).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resume_on_restart: bool,
    /// When an agent reports a usage limit: start another installed agent
    /// (chosen by the selection strategy, the limited one cooling down) in
    /// the same workspace instead of waiting for the reset.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub switch_agent_on_limit: bool,
    /// With several agents: once all are done, merge their branches into
    /// the task's one branch (`repo.branch`, or one generated from the
    /// task) and push / open a pull request for that branch only. A merge
    /// conflict fails the task; the agents' branches are kept.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub merge: bool,
    /// A label for people and coordinators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// How the agents' sessions are supervised.
    #[serde(default)]
    pub session: SessionTuning,
    /// The agents an `auto` agent may be chosen from, and that switching on a usage
    /// limit may start (canonical adapter names): for a remote caller, what the node's
    /// policy allows it; any installed agent CLI when absent. Not taken from a caller's
    /// request: the bridge sets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_agents: Option<Vec<String>>,
}

impl TaskSpec {
    /// A task for one agent, with defaults for the rest.
    pub fn new(agent: impl Into<String>, description: impl Into<String>) -> Self {
        TaskSpec {
            description: description.into(),
            repo: None,
            workdir: None,
            agents: vec![TaskAgent { agent: agent.into(), task: None }],
            preset: None,
            memory: None,
            restart: RestartPolicy::default(),
            limits: TaskLimits::default(),
            finalize: FinalizeMode::None,
            cleanup: CleanupPolicy::Keep,
            commit_instruction_files: false,
            resume_on_restart: false,
            switch_agent_on_limit: false,
            merge: false,
            label: None,
            session: SessionTuning::default(),
            allowed_agents: None,
        }
    }

    /// The text agent `index` is given.
    pub fn task_of(&self, index: usize) -> &str {
        self.agents.get(index).and_then(|a| a.task.as_deref()).unwrap_or(&self.description)
    }

    /// The first line of the description, at most 72 characters: commit
    /// subject and pull-request title.
    pub fn summary(&self) -> String {
        let line = self.description.lines().find(|l| !l.trim().is_empty()).unwrap_or("warden task").trim();
        line.chars().take(72).collect()
    }

    /// Checks what the type cannot say.
    pub fn validate(&self) -> Result<(), TaskSpecError> {
        if self.description.trim().is_empty() {
            return Err(TaskSpecError::EmptyDescription);
        }
        // Text that reaches a terminal, git or a file name: no control
        // characters (a task and memory text may carry newlines and tabs).
        crate::text::check_task("task", &self.description)?;
        if let Some(memory) = &self.memory {
            crate::text::check_task("memory", memory)?;
        }
        for a in &self.agents {
            crate::text::check_name("agent", &a.agent)?;
            if let Some(t) = &a.task {
                crate::text::check_task("agents[].task", t)?;
            }
        }
        if let Some(repo) = &self.repo {
            crate::text::check_name("repo", &repo.source)?;
            for (field, v) in [("branch", &repo.branch), ("base", &repo.base), ("pr_repo", &repo.pr_repo)] {
                if let Some(v) = v {
                    crate::text::check_name(field, v)?;
                }
            }
        }
        if let Some(dir) = &self.workdir {
            crate::text::check_name("workdir", &dir.to_string_lossy())?;
        }
        if let Some(label) = &self.label {
            crate::text::check_name("label", label)?;
        }
        if self.description.len() > MAX_DESCRIPTION {
            return Err(TaskSpecError::TooLong { field: "description", max: MAX_DESCRIPTION });
        }
        if self.memory.as_ref().is_some_and(|m| m.len() > MAX_MEMORY) {
            return Err(TaskSpecError::TooLong { field: "memory", max: MAX_MEMORY });
        }
        if self.agents.is_empty() || self.agents.len() > MAX_AGENTS {
            return Err(TaskSpecError::AgentCount { given: self.agents.len() });
        }
        for a in &self.agents {
            if a.task.as_ref().is_some_and(|t| t.len() > MAX_DESCRIPTION) {
                return Err(TaskSpecError::TooLong { field: "agents[].task", max: MAX_DESCRIPTION });
            }
        }
        if let Some(repo) = &self.repo {
            if repo.source.trim().is_empty() {
                return Err(TaskSpecError::EmptyRepo);
            }
            // Refused before the spec is kept anywhere (record, reply).
            if let Some(found) = crate::workspace::url_credential(&repo.source) {
                return Err(TaskSpecError::CredentialsInRepo { found });
            }
            if let Some(branch) = &repo.branch {
                validate_branch_name(branch)
                    .map_err(|source| TaskSpecError::BadBranch { name: branch.chars().take(80).collect(), source })?;
            }
            if let Some(pr_repo) = &repo.pr_repo {
                RepoSlug::github(pr_repo)
                    .map_err(|source| TaskSpecError::BadPrRepo { given: pr_repo.chars().take(80).collect(), source })?;
            }
            if self.workdir.is_some() {
                return Err(TaskSpecError::RepoAndWorkdir);
            }
        } else if self.finalize != FinalizeMode::None {
            return Err(TaskSpecError::FinalizeWithoutRepo { finalize: self.finalize });
        }
        if self.merge && (self.repo.is_none() || self.finalize == FinalizeMode::None) {
            return Err(TaskSpecError::MergeNeedsCommits);
        }
        for limit in [self.limits.timeout_ms, self.limits.idle_timeout_ms].into_iter().flatten() {
            if limit == 0 {
                return Err(TaskSpecError::ZeroLimit);
            }
        }
        Ok(())
    }
}

/// A task spec that cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskSpecError {
    /// No description.
    #[error("the task has no description")]
    EmptyDescription,
    /// A text field is too long.
    #[error("`{field}` is too long; at most {max} bytes")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its limit.
        max: usize,
    },
    /// No agent, or too many.
    #[error("a task has 1 to {MAX_AGENTS} agents; {given} given")]
    AgentCount {
        /// How many were given.
        given: usize,
    },
    /// An empty repository.
    #[error("the repository is empty; give a URL or a path")]
    EmptyRepo,
    /// A repository URL with a credential in it (`https://token@host/…`,
    /// `https://user:pass@host/…`, `?access_token=…`); the URL is not kept.
    #[error("{}", found.refusal())]
    CredentialsInRepo {
        /// Where the URL carries it.
        found: UrlCredential,
    },
    /// A control character where none is allowed.
    #[error(transparent)]
    ControlChar(#[from] crate::text::ControlChar),
    /// A branch name git would refuse.
    #[error("branch `{name}` is not a valid git branch name: {source}")]
    BadBranch {
        /// The name (at most 80 characters).
        name: String,
        /// What is wrong with it.
        source: NamingError,
    },
    /// A pull-request repository that is not one GitHub `owner/name` pair.
    #[error("`pr_repo` `{given}` is not a GitHub `owner/name`: {source}")]
    BadPrRepo {
        /// What was given (at most 80 characters).
        given: String,
        /// What is wrong with it.
        source: NamingError,
    },
    /// Both a repository and a working directory.
    #[error("give a repository or a working directory, not both")]
    RepoAndWorkdir,
    /// A finalize step without a repository.
    #[error("finalize `{finalize}` needs a repository")]
    FinalizeWithoutRepo {
        /// What was asked.
        finalize: FinalizeMode,
    },
    /// A limit of zero.
    #[error("time limits must be at least 1 ms")]
    ZeroLimit,
    /// `merge` without commits to merge.
    #[error("merge needs a repository and finalize `commit`, `push` or `pr`")]
    MergeNeedsCommits,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_are_checked_at_the_edge() {
        let ok = TaskSpec::new("shell", "echo hi");
        assert_eq!(ok.validate(), Ok(()));
        let mut bad = ok.clone();
        bad.description = " ".into();
        assert_eq!(bad.validate(), Err(TaskSpecError::EmptyDescription));
        let mut bad = ok.clone();
        bad.finalize = FinalizeMode::Push;
        assert!(matches!(bad.validate(), Err(TaskSpecError::FinalizeWithoutRepo { .. })));
        bad.repo = Some(RepoSpec { source: "/r.git".into(), branch: Some("a..b".into()), ..Default::default() });
        assert!(matches!(bad.validate(), Err(TaskSpecError::BadBranch { .. })));
        for (source, found) in [
            ("https://u:p4ss@h/r.git", UrlCredential::Userinfo),
            ("https://p4ss@h/r.git", UrlCredential::Userinfo),
            ("https://h/r.git?access_token=p4ss", UrlCredential::QueryParameter),
        ] {
            bad.repo = Some(RepoSpec { source: source.into(), ..Default::default() });
            assert_eq!(bad.validate(), Err(TaskSpecError::CredentialsInRepo { found }), "{source}");
            assert!(!bad.validate().expect_err("refused").to_string().contains("p4ss"));
        }
        bad.repo = Some(RepoSpec { source: "ssh://git@h/o/r.git".into(), ..Default::default() });
        assert_eq!(bad.validate(), Ok(()), "an ssh user name is not a credential");
        let mut bad = ok.clone();
        bad.agents.clear();
        assert_eq!(bad.validate(), Err(TaskSpecError::AgentCount { given: 0 }));
        assert!(TaskAgent { agent: "auto".into(), task: None }.is_auto());
        let mut bad = ok.clone();
        bad.merge = true;
        assert_eq!(bad.validate(), Err(TaskSpecError::MergeNeedsCommits));
        assert_eq!(ok.summary(), "echo hi");
    }

    #[test]
    fn specs_travel_as_json_with_defaults() {
        let json = r#"{"description":"fix it","agents":[{"agent":"claude"},{"agent":"gemini","task":"write tests"}],
            "repo":{"source":"https://github.com/o/r.git","branch":"fix/auth"},"finalize":"pr"}"#;
        let spec: TaskSpec = serde_json::from_str(json).expect("parses");
        assert_eq!(spec.finalize, FinalizeMode::Pr);
        assert_eq!(spec.task_of(1), "write tests");
        assert_eq!(spec.task_of(0), "fix it");
        assert_eq!(spec.validate(), Ok(()));
        let back: TaskSpec = serde_json::from_value(serde_json::to_value(&spec).expect("json")).expect("again");
        assert_eq!(back, spec);
        assert!(serde_json::from_str::<TaskSpec>(r#"{"description":"x","agents":[],"nope":1}"#).is_err());
    }
}
