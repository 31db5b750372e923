//! `warden workspace …`: git workspaces without a coordinator.
//!
//! Each command starts a warden on the state directory, does one thing
//! through the embedding API and prints the result (`--json`: one JSON
//! value on stdout). Several `warden` processes may share a state
//! directory: the registry and each workspace are protected by file locks,
//! so they take turns. Errors are one line `warden: …` on stderr, exit 125.

pub mod bench;

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;
use warden_actors::{Warden, WardenConfig, WorkspaceError};
use warden_core::workspace::{
    BranchSpec, CloneSpec, CommitOutcome, CommitRequest, FinalizeReport, FinalizeRequest, Identity, PrRequest,
    ProvisionSpec, PushRequest, RepoSlug, Secret, StepResult, WorkspaceErrorCode, WorkspaceId, WorkspaceRecord,
    WorktreeSpec,
};

use super::EXIT_WARDEN_ERROR;

/// Environment variable holding a token for HTTPS remotes (handed to git
/// through a credential helper, never in a URL or argv).
pub const GIT_TOKEN_ENV: &str = "WARDEN_GIT_TOKEN";

/// The node's git token for HTTPS remotes, from [`GIT_TOKEN_ENV`] (every
/// command that runs workspaces reads it: `workspace`, `run`, `serve`).
pub fn git_token_from_env() -> Option<Secret> {
    std::env::var(GIT_TOKEN_ENV).ok().filter(|t| !t.is_empty()).map(Secret::new)
}

/// Arguments of `warden workspace`.
#[derive(Debug, Args)]
pub struct WorkspaceArgs {
    /// Print the result as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// Directory that holds the workspaces (default: <state-dir>/workspaces).
    #[arg(long, global = true, env = "WARDEN_WORKSPACE_DIR")]
    pub base_dir: Option<PathBuf>,
    /// Commit author name.
    #[arg(long, global = true, env = "WARDEN_AUTHOR_NAME")]
    pub author_name: Option<String>,
    /// Commit author e-mail.
    #[arg(long, global = true, env = "WARDEN_AUTHOR_EMAIL")]
    pub author_email: Option<String>,
    /// GitHub API base (GitHub Enterprise: https://HOST/api/v3). The token
    /// comes from GITHUB_TOKEN or GH_TOKEN.
    #[arg(long, global = true, env = "WARDEN_GITHUB_API")]
    pub github_api: Option<String>,
    /// Allow `push --force` (as --force-with-lease).
    #[arg(long, global = true)]
    pub allow_force_push: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: WorkspaceCommand,
}

/// `warden workspace` subcommands.
#[derive(Debug, Subcommand)]
pub enum WorkspaceCommand {
    /// Clone a repository (or add a worktree to a workspace) on a new branch.
    Provision(ProvisionArgs),
    /// Changed files, unpushed commits (and with --diff, line counts).
    Status {
        /// Workspace id.
        id: String,
        /// Add a diff stat.
        #[arg(long)]
        diff: bool,
    },
    /// Commit all changes (or only --path …).
    Commit {
        /// Workspace id.
        id: String,
        /// Commit message.
        #[arg(long, short)]
        message: String,
        /// Only these paths (repeatable), relative to the workspace.
        #[arg(long = "path")]
        paths: Vec<String>,
    },
    /// Push the workspace's branch and set its upstream.
    Push {
        /// Workspace id.
        id: String,
        /// Force (with lease); needs --allow-force-push.
        #[arg(long)]
        force: bool,
    },
    /// Open a pull request from the workspace's branch.
    Pr {
        /// Workspace id.
        id: String,
        /// What to open.
        #[command(flatten)]
        pr: PrArgs,
    },
    /// Commit, then push, open a PR and clean up, as requested, in order.
    Finalize(FinalizeArgs),
    /// Remove a workspace (refuses uncommitted or unpushed work unless --force).
    Cleanup {
        /// Workspace id.
        id: String,
        /// Remove even with uncommitted or unpushed work.
        #[arg(long)]
        force: bool,
    },
    /// Remove what is left of an interrupted, failed or missing workspace.
    Discard {
        /// Workspace id.
        id: String,
    },
    /// List every workspace in the registry.
    List,
    /// Measure worktrees/s, commits/s and parallel speed-up (docs/WORKSPACES.md).
    Bench(bench::BenchArgs),
}

/// Arguments of `warden workspace provision`.
#[derive(Debug, Args)]
pub struct ProvisionArgs {
    /// Repository to clone: URL or local path.
    #[arg(long, required_unless_present = "parent", conflicts_with = "parent")]
    pub repo: Option<String>,
    /// Add a worktree to this workspace instead of cloning.
    #[arg(long)]
    pub parent: Option<String>,
    /// Workspace id (default: a fresh UUID).
    #[arg(long)]
    pub id: Option<String>,
    /// Branch to create or check out.
    #[arg(long, required_unless_present = "task", conflicts_with = "task")]
    pub branch: Option<String>,
    /// Derive the branch from a task: warden/<task>/<role>-<summary>.
    #[arg(long)]
    pub task: Option<String>,
    /// Agent role for a task branch.
    #[arg(long, default_value = "agent")]
    pub role: String,
    /// Task summary for a task branch.
    #[arg(long, default_value = "")]
    pub summary: String,
    /// Base branch (default: the remote's default branch, or the parent's).
    #[arg(long)]
    pub base: Option<String>,
    /// Shallow clone depth.
    #[arg(long)]
    pub depth: Option<u32>,
}

/// Pull-request options.
#[derive(Debug, Args)]
pub struct PrArgs {
    /// Title.
    #[arg(long)]
    pub title: String,
    /// Body (Markdown).
    #[arg(long)]
    pub body: Option<String>,
    /// Target branch (default: the workspace's base).
    #[arg(long = "pr-base")]
    pub pr_base: Option<String>,
    /// Open as draft.
    #[arg(long)]
    pub draft: bool,
    /// Label (repeatable).
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Repository as OWNER/NAME (default: parsed from the remote URL).
    #[arg(long = "github-repo")]
    pub github_repo: Option<String>,
}

/// Arguments of `warden workspace finalize`.
#[derive(Debug, Args)]
pub struct FinalizeArgs {
    /// Workspace id.
    pub id: String,
    /// Commit message.
    #[arg(long, short)]
    pub message: String,
    /// Only these paths (repeatable).
    #[arg(long = "path")]
    pub paths: Vec<String>,
    /// Push after committing.
    #[arg(long)]
    pub push: bool,
    /// Open a pull request with this title after pushing.
    #[arg(long = "pr-title", requires = "push")]
    pub pr_title: Option<String>,
    /// Pull-request body.
    #[arg(long = "pr-body")]
    pub pr_body: Option<String>,
    /// Pull-request target branch.
    #[arg(long = "pr-base")]
    pub pr_base: Option<String>,
    /// Open the pull request as draft.
    #[arg(long)]
    pub draft: bool,
    /// Pull-request label (repeatable).
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Repository as OWNER/NAME (default: parsed from the remote URL).
    #[arg(long = "github-repo")]
    pub github_repo: Option<String>,
    /// Remove the workspace at the end.
    #[arg(long)]
    pub cleanup: bool,
    /// Remove it even with uncommitted or unpushed work.
    #[arg(long, requires = "cleanup")]
    pub force_cleanup: bool,
}

type Failure = String;

/// Runs `warden workspace …`; returns the exit code.
pub async fn workspace(state_dir: Option<PathBuf>, args: WorkspaceArgs) -> i32 {
    if let WorkspaceCommand::Bench(b) = &args.command {
        return bench::bench(b, args.json).await;
    }
    let mut config = WardenConfig::new(state_dir.unwrap_or_else(WardenConfig::default_state_dir));
    let ws = &mut config.workspace;
    ws.base_dir = args.base_dir.clone();
    let default_identity = Identity::default();
    ws.identity = Identity {
        name: args.author_name.clone().unwrap_or(default_identity.name),
        email: args.author_email.clone().unwrap_or(default_identity.email),
    };
    if let Some(api) = &args.github_api {
        ws.github.api_base = api.clone();
    }
    ws.allow_force_push = args.allow_force_push;
    ws.git.token = git_token_from_env();
    let warden = match Warden::start(config).await {
        Ok(w) => w,
        Err(e) => {
            eprintln!("warden: {e}");
            return EXIT_WARDEN_ERROR;
        }
    };
    let result = dispatch(&warden, args.command, args.json).await;
    warden.shutdown().await;
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("warden: {message}");
            EXIT_WARDEN_ERROR
        }
    }
}

fn id(text: &str) -> Result<WorkspaceId, Failure> {
    WorkspaceId::parse(text).map_err(|e| format!("invalid workspace id {text:?}: {e}"))
}

/// The workspace `text` names: its id, a unique prefix or its short id (the
/// last 8 characters without dashes), as every verb takes them.
async fn resolve(w: &Warden, text: &str) -> Result<WorkspaceId, Failure> {
    use warden_core::idref::{Candidate, Found, find};
    let list = w.list_workspaces().await.map_err(fail)?;
    let candidates: Vec<Candidate<WorkspaceId>> = list
        .into_iter()
        .map(|r| Candidate {
            id: r.id.as_str().to_string(),
            label: None,
            live: r.state != warden_core::WorkspaceState::Cleaned,
            value: r.id,
        })
        .collect();
    match find(text, &candidates) {
        Found::One(id) => Ok(id),
        Found::None => id(text),
        Found::Ambiguous(shorts) => {
            Err(format!("`{text}` names {} workspaces: {}; give more of the id", shorts.len(), shorts.join(", ")))
        }
    }
}

fn fail(e: WorkspaceError) -> Failure {
    e.to_string()
}

fn print<T: Serialize>(json: bool, value: &T, human: impl FnOnce(&T) -> String) -> Result<i32, Failure> {
    if json {
        let text = serde_json::to_string_pretty(value).map_err(|e| format!("cannot encode the result: {e}"))?;
        println!("{text}");
    } else {
        println!("{}", human(value));
    }
    Ok(0)
}

fn slug(text: Option<&str>) -> Result<Option<RepoSlug>, Failure> {
    let Some(text) = text else { return Ok(None) };
    match text.split_once('/') {
        Some((owner, name)) if !owner.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok(Some(RepoSlug { host: String::new(), owner: owner.into(), name: name.into() }))
        }
        _ => Err(format!("--github-repo expects OWNER/NAME, got {text:?}")),
    }
}

fn record_line(r: &WorkspaceRecord) -> String {
    format!("{}  {}  {}  {}", r.id, r.state.as_str(), r.branch, r.path.display())
}

async fn dispatch(w: &Warden, command: WorkspaceCommand, json: bool) -> Result<i32, Failure> {
    match command {
        WorkspaceCommand::Provision(a) => {
            let branch = match (a.branch, a.task) {
                (Some(name), _) => BranchSpec::Named { name },
                (None, Some(task_id)) => BranchSpec::Task { task_id, role: a.role, summary: a.summary },
                (None, None) => return Err("give --branch or --task".into()),
            };
            let spec = match (a.repo, a.parent) {
                (Some(source), _) => {
                    ProvisionSpec::Clone(CloneSpec { id: a.id, source, branch, base: a.base, depth: a.depth })
                }
                (None, Some(parent)) => {
                    let parent = resolve(w, &parent).await?.as_str().to_string();
                    ProvisionSpec::Worktree(WorktreeSpec { parent, id: a.id, branch, base: a.base })
                }
                (None, None) => return Err("give --repo or --parent".into()),
            };
            let record = w.provision_workspace(spec).await.map_err(fail)?;
            print(json, &record, record_line)
        }
        WorkspaceCommand::Status { id: i, diff } => {
            let i = resolve(w, &i).await?;
            let status = w.workspace_status(&i).await.map_err(fail)?;
            let diff = if diff { Some(w.workspace_diff(&i).await.map_err(fail)?) } else { None };
            let value = serde_json::json!({ "status": status, "diff": diff });
            print(json, &value, |_| {
                let mut out = format!(
                    "branch {}  head {}  unpushed {}",
                    status.branch.as_deref().unwrap_or("(detached)"),
                    status.head.as_deref().unwrap_or("(none)"),
                    status.unpushed
                );
                for f in &status.files {
                    out.push_str(&format!("\n  {:?} {}{}", f.kind, f.path, if f.staged { " (staged)" } else { "" }));
                }
                if let Some(d) = &diff {
                    out.push_str(&format!("\n{} file(s) changed, +{} -{}", d.files_changed, d.insertions, d.deletions));
                }
                out
            })
        }
        WorkspaceCommand::Commit { id: i, message, paths } => {
            let req = CommitRequest { message, paths: (!paths.is_empty()).then_some(paths), author: None };
            let out = w.commit(&resolve(w, &i).await?, req).await.map_err(fail)?;
            print(json, &out, |o| match o {
                CommitOutcome::Committed { commit, files } => format!("committed {commit} ({} file(s))", files.len()),
                CommitOutcome::NothingToCommit => "nothing to commit".into(),
            })
        }
        WorkspaceCommand::Push { id: i, force } => {
            let out = w.push(&resolve(w, &i).await?, PushRequest { force }).await.map_err(fail)?;
            print(json, &out, |o| format!("pushed {} to {} at {}", o.branch, o.remote, o.commit))
        }
        WorkspaceCommand::Pr { id: i, pr } => {
            let req = pr_request(pr.title, pr.body, pr.pr_base, pr.draft, pr.labels, pr.github_repo.as_deref())?;
            let out = w.create_pr(&resolve(w, &i).await?, req).await.map_err(fail)?;
            print(json, &out, |p| format!("pull request #{} {}", p.number, p.url))
        }
        WorkspaceCommand::Finalize(a) => {
            let pr = match a.pr_title {
                Some(title) => {
                    Some(pr_request(title, a.pr_body, a.pr_base, a.draft, a.labels, a.github_repo.as_deref())?)
                }
                None => None,
            };
            let req = FinalizeRequest {
                commit: CommitRequest {
                    message: a.message,
                    paths: (!a.paths.is_empty()).then_some(a.paths),
                    author: None,
                },
                push: a.push.then(PushRequest::default),
                pr,
                cleanup: a.cleanup.then_some(a.force_cleanup),
            };
            let report = w.finalize_workspace(&resolve(w, &a.id).await?, req).await.map_err(fail)?;
            print(json, &report, finalize_lines)?;
            match first_failure(&report) {
                None => Ok(0),
                Some(message) => Err(message),
            }
        }
        WorkspaceCommand::Cleanup { id: i, force } => {
            let i = resolve(w, &i).await?;
            w.cleanup_workspace(&i, force).await.map_err(fail)?;
            print(json, &serde_json::json!({ "id": i, "result": "removed" }), |_| format!("removed {i}"))
        }
        WorkspaceCommand::Discard { id: i } => {
            let i = resolve(w, &i).await?;
            w.discard_workspace(&i).await.map_err(fail)?;
            print(json, &serde_json::json!({ "id": i, "result": "discarded" }), |_| format!("discarded {i}"))
        }
        WorkspaceCommand::List => {
            let list = w.list_workspaces().await.map_err(fail)?;
            print(json, &list, |l| l.iter().map(record_line).collect::<Vec<_>>().join("\n"))
        }
        WorkspaceCommand::Bench(_) => Err("bench runs without a warden".into()),
    }
}

fn pr_request(
    title: String,
    body: Option<String>,
    base: Option<String>,
    draft: bool,
    labels: Vec<String>,
    repo: Option<&str>,
) -> Result<PrRequest, Failure> {
    Ok(PrRequest { title, body, base, draft, labels, repo: slug(repo)? })
}

fn step_line<T>(name: &str, step: &StepResult<T>, done: impl FnOnce(&T) -> String) -> String {
    match step {
        StepResult::Done { value } => format!("{name}: {}", done(value)),
        StepResult::Skipped { reason } => format!("{name}: skipped ({reason})"),
        StepResult::Failed { code, message } => format!("{name}: failed [{code}] {message}"),
    }
}

fn finalize_lines(r: &FinalizeReport) -> String {
    [
        step_line("commit", &r.commit, |c| match c {
            CommitOutcome::Committed { commit, .. } => format!("committed {commit}"),
            CommitOutcome::NothingToCommit => "nothing to commit".into(),
        }),
        step_line("push", &r.push, |p| format!("pushed {} at {}", p.branch, p.commit)),
        step_line("pr", &r.pr, |p| format!("#{} {}", p.number, p.url)),
        step_line("cleanup", &r.cleanup, |_| "removed".into()),
    ]
    .join("\n")
}

fn first_failure(r: &FinalizeReport) -> Option<String> {
    let steps: [(&str, Option<(&WorkspaceErrorCode, &String)>); 4] = [
        ("commit", failed(&r.commit)),
        ("push", failed(&r.push)),
        ("pr", failed(&r.pr)),
        ("cleanup", failed(&r.cleanup)),
    ];
    steps.into_iter().find_map(|(name, f)| f.map(|(_, message)| format!("finalize: {name} failed: {message}")))
}

fn failed<T>(s: &StepResult<T>) -> Option<(&WorkspaceErrorCode, &String)> {
    match s {
        StepResult::Failed { code, message } => Some((code, message)),
        _ => None,
    }
}
