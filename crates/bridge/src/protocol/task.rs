//! Arguments and results of the task verbs: `create_task`, `task_status`,
//! `list_tasks`, `pause_task`, `resume_task`, `cancel_task`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use warden_core::task::{
    CleanupPolicy, FinalizeMode, RepoSpec, SessionTuning, TaskAgent, TaskFilter, TaskLimits, TaskRecord, TaskSpec,
    TaskStatus,
};
use warden_core::{ApprovalPreset, ResponseRule, RestartPolicy, StallSpec, SupervisionLevel, TermSize};

use super::error::WireError;
use super::idref::IdRef;
use super::supervision::RestartLimitsArgs;

/// Arguments of `create_task`: today's `spawn_agent` fields (with `task`
/// required), and the task's own: `repo`, `branch`, `base`, `finalize`,
/// `agents` for fan-out, limits and policies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTaskArgs {
    /// Protocol version (1 when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<u32>,
    /// The caller's id for this request, echoed in the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The agent (adapter name, or `auto`); ignored when `agents` is given.
    #[serde(default, alias = "agentType", skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Several agents, each with its own sub-task, each in its own worktree.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<TaskAgent>,
    /// What to do (the description; each agent's task unless it has its own).
    pub task: String,
    /// Repository: a URL, or a path on the node inside its allowed roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// Branch to work on (default: generated from the task).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Base branch (default: the remote's default branch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// `owner/name` of the GitHub repository for pull requests, when the
    /// remote's URL does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pr_repo: Option<String>,
    /// `none` (default), `commit`, `push` or `pr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finalize: Option<FinalizeMode>,
    /// `keep` (default) or `on_success`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleanup: Option<CleanupPolicy>,
    /// Wall-clock limit, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Stop the agents after this long without output, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout_ms: Option<u64>,
    /// Start the agents again when the node restarts (default: the task fails).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resume_on_restart: bool,
    /// Commit the instruction and approval files warden writes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub commit_instruction_files: bool,
    /// On a usage limit, switch to another installed agent instead of waiting.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub switch_agent_on_limit: bool,
    /// With several agents, merge their branches into one branch when done.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub merge: bool,
    /// Working directory without a repository (inside the node's roots;
    /// default: a scratch directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<PathBuf>,
    /// Extra environment for the agents.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Terminal size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<TermSize>,
    /// A label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// What warden may answer by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervision: Option<SupervisionLevel>,
    /// The approval preset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<ApprovalPreset>,
    /// Instructions for the agents' memory files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Auto-response rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<ResponseRule>,
    /// Extra loading patterns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub loading: Vec<String>,
    /// Stall detection settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall: Option<StallSpec>,
    /// Restart policy of the agents' processes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<RestartPolicy>,
    /// Accepted for compatibility with `spawn_agent`; the task's restart
    /// policy uses the node's limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_limits: Option<RestartLimitsArgs>,
}

impl CreateTaskArgs {
    /// The checks of the shape (sizes, rules, patterns, the spec's own rules).
    pub fn check(&self) -> Result<(), WireError> {
        if self.task.trim().is_empty() {
            return Err(WireError::bad_request("`create_task` needs a non-empty `task`"));
        }
        super::supervision::check_session_tuning(
            &self.rules,
            &self.loading,
            self.stall.as_ref(),
            self.restart_limits.as_ref(),
        )?;
        self.spec(self.repo.clone(), self.workdir.clone()).validate().map_err(|e| WireError::bad_request(e.to_string()))
    }

    /// The task spec, with the repository and working directory the node's
    /// policy resolved.
    pub fn spec(&self, repo: Option<String>, workdir: Option<PathBuf>) -> TaskSpec {
        let agents = if self.agents.is_empty() {
            vec![TaskAgent { agent: self.agent.clone().unwrap_or_else(|| "auto".into()), task: None }]
        } else {
            self.agents.clone()
        };
        TaskSpec {
            description: self.task.clone(),
            repo: repo.map(|source| RepoSpec {
                source,
                base: self.base.clone(),
                branch: self.branch.clone(),
                pr_repo: self.pr_repo.clone(),
            }),
            workdir,
            agents,
            preset: self.preset,
            memory: self.memory.clone(),
            restart: self.restart.unwrap_or_default(),
            limits: TaskLimits { timeout_ms: self.timeout_ms, idle_timeout_ms: self.idle_timeout_ms },
            finalize: self.finalize.unwrap_or_default(),
            cleanup: self.cleanup.unwrap_or_default(),
            commit_instruction_files: self.commit_instruction_files,
            resume_on_restart: self.resume_on_restart,
            switch_agent_on_limit: self.switch_agent_on_limit,
            merge: self.merge,
            label: self.label.clone(),
            session: SessionTuning {
                env: self.env.clone(),
                size: self.size,
                supervision: self.supervision,
                rules: self.rules.clone(),
                loading: self.loading.clone(),
                stall: self.stall.clone(),
            },
            allowed_agents: None,
        }
    }
}

/// Arguments of `task_status`, `pause_task`, `resume_task`, `cancel_task`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskArgs {
    /// Protocol version (1 when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<u32>,
    /// The caller's id for this request, echoed in the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The task: its id, a unique prefix, its short id or its label.
    #[serde(alias = "taskId")]
    pub task: IdRef,
}

/// Arguments of `list_tasks` (every filter optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListTasksArgs {
    /// Protocol version (1 when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<u32>,
    /// The caller's id for this request, echoed in the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Only tasks in one of these statuses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<TaskStatus>,
    /// Only tasks with an agent of this adapter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Only tasks on this repository (as given at creation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// Created at or after, Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_ms: Option<u64>,
    /// Created before, Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_ms: Option<u64>,
    /// At most this many (the newest; cap 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

impl ListTasksArgs {
    /// The filter for the embedding API.
    pub fn filter(&self) -> TaskFilter {
        TaskFilter {
            statuses: self.statuses.clone(),
            agent: self.agent.clone(),
            repo: self.repo.clone(),
            since_ms: self.since_ms,
            until_ms: self.until_ms,
            limit: self.limit,
        }
    }
}

/// Result of `create_task`, `task_status`, `pause_task`, `resume_task`, `cancel_task`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskResult {
    /// The node that runs the task.
    pub node: String,
    /// The task's record.
    pub task: TaskRecord,
}

/// Result of `list_tasks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListTasksResult {
    /// The node.
    pub node: String,
    /// Its tasks, oldest first.
    pub tasks: Vec<TaskRecord>,
}
