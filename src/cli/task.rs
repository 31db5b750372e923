//! `warden task`: tasks on the local node (its socket) or, with `--nats`, on
//! a node over NATS — create (one agent or several for fan-out), list, show,
//! pause, resume, cancel. Prints the reply JSON, like `warden ctl` (`list`:
//! a table, JSON with `--json`). Tasks are named by id, prefix, short id or
//! label; on `--node any` a command that names one goes to its node.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use super::serve::NatsArgs;
use super::target::{Destination, OneShot, Print};

/// Arguments of `warden task`.
#[derive(Debug, Args)]
pub struct TaskArgs {
    /// NATS connection; without --nats, the local node.
    #[command(flatten)]
    pub nats: NatsArgs,
    /// The local node's socket (default: <state-dir>/run/warden.sock).
    #[arg(long, value_name = "PATH", global = true)]
    pub socket: Option<PathBuf>,
    /// Node to command (with --nats); `any` (the default) lets one node take `create`,
    /// every node answer `list`, and sends the others to the node that has the task.
    #[arg(long, default_value = "any", global = true)]
    pub node: String,
    /// Print the reply JSON (for `list`, whose default is a table).
    #[arg(long, global = true)]
    pub json: bool,
    /// Seconds to wait for a reply.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// What to do.
    #[command(subcommand)]
    pub command: TaskCommand,
}

/// `warden task` subcommands.
#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// Create a task (answered at once with its record).
    Create(CreateCmd),
    /// List tasks.
    List(ListCmd),
    /// One task's record.
    Show {
        /// Task: id, unique prefix, short id or label.
        task: String,
    },
    /// Stop a task's agents, keep its workspace.
    Pause {
        /// Task: id, unique prefix, short id or label.
        task: String,
    },
    /// Start a paused (or failed) task's agents again in the same workspace.
    Resume {
        /// Task: id, unique prefix, short id or label.
        task: String,
    },
    /// Cancel a task.
    Cancel {
        /// Task: id, unique prefix, short id or label.
        task: String,
    },
}

/// Arguments of `warden task create`.
#[derive(Debug, Args)]
pub struct CreateCmd {
    /// What to do.
    #[arg(long)]
    pub task: String,
    /// Agent (repeatable for fan-out: each its own worktree and branch;
    /// `agent=SUBTASK` gives one its own part). Default: the node chooses.
    #[arg(long = "agent", value_name = "AGENT[=SUBTASK]")]
    pub agents: Vec<String>,
    /// Repository: a URL, or a path on the node inside its roots.
    #[arg(long)]
    pub repo: Option<String>,
    /// Branch to work on.
    #[arg(long)]
    pub branch: Option<String>,
    /// Base branch.
    #[arg(long)]
    pub base: Option<String>,
    /// none, commit, push or pr.
    #[arg(long)]
    pub finalize: Option<String>,
    /// `owner/name` for pull requests when the remote's URL does not say.
    #[arg(long)]
    pub pr_repo: Option<String>,
    /// Approval preset.
    #[arg(long)]
    pub preset: Option<String>,
    /// Instructions for the agents' memory files, read from FILE.
    #[arg(long, value_name = "FILE")]
    pub memory_file: Option<PathBuf>,
    /// Wall-clock limit in seconds.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// On a usage limit, switch to another installed agent instead of waiting.
    #[arg(long)]
    pub switch_agent_on_limit: bool,
    /// With several agents: merge their branches into one branch when done
    /// (pushed / pull request for that branch only).
    #[arg(long)]
    pub merge: bool,
    /// A label (names the task and its agents' sessions in every command).
    #[arg(long)]
    pub label: Option<String>,
    /// What warden may answer by itself: autonomous, confirm or notify.
    #[arg(long)]
    pub supervision: Option<String>,
}

/// Arguments of `warden task list`.
#[derive(Debug, Args)]
pub struct ListCmd {
    /// Only these statuses (repeatable).
    #[arg(long = "status")]
    pub statuses: Vec<String>,
    /// Only tasks with this agent.
    #[arg(long)]
    pub agent: Option<String>,
    /// Only tasks on this repository.
    #[arg(long)]
    pub repo: Option<String>,
    /// Only tasks created at or after (Unix ms).
    #[arg(long)]
    pub since_ms: Option<u64>,
    /// Only tasks created before (Unix ms).
    #[arg(long)]
    pub until_ms: Option<u64>,
    /// At most this many.
    #[arg(long)]
    pub limit: Option<usize>,
}

fn put(m: &mut Map<String, Value>, key: &str, v: Option<Value>) {
    if let Some(v) = v {
        m.insert(key.into(), v);
    }
}

fn request(cmd: &TaskCommand) -> Result<(&'static str, Value), String> {
    let mut m = Map::new();
    m.insert("v".into(), json!(1));
    let verb = match cmd {
        TaskCommand::Create(c) => {
            m.insert("task".into(), json!(c.task));
            match c.agents.as_slice() {
                [] => {}
                [one] if !one.contains('=') => {
                    m.insert("agent".into(), json!(one));
                }
                many => {
                    let agents: Vec<Value> = many
                        .iter()
                        .map(|a| match a.split_once('=') {
                            Some((agent, task)) => json!({"agent": agent, "task": task}),
                            None => json!({"agent": a}),
                        })
                        .collect();
                    m.insert("agents".into(), Value::Array(agents));
                }
            }
            put(&mut m, "repo", c.repo.clone().map(Value::from));
            put(&mut m, "branch", c.branch.clone().map(Value::from));
            put(&mut m, "base", c.base.clone().map(Value::from));
            put(&mut m, "finalize", c.finalize.clone().map(Value::from));
            put(&mut m, "pr_repo", c.pr_repo.clone().map(Value::from));
            put(&mut m, "preset", c.preset.clone().map(Value::from));
            put(&mut m, "timeout_ms", c.timeout.map(|s| json!(s.saturating_mul(1000))));
            put(&mut m, "switch_agent_on_limit", c.switch_agent_on_limit.then_some(Value::Bool(true)));
            put(&mut m, "merge", c.merge.then_some(Value::Bool(true)));
            put(&mut m, "label", c.label.clone().map(Value::from));
            put(&mut m, "supervision", c.supervision.clone().map(Value::from));
            if let Some(path) = &c.memory_file {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read --memory-file {}: {e}", path.display()))?;
                m.insert("memory".into(), json!(text));
            }
            "create_task"
        }
        TaskCommand::List(l) => {
            if !l.statuses.is_empty() {
                m.insert("statuses".into(), json!(l.statuses));
            }
            put(&mut m, "agent", l.agent.clone().map(Value::from));
            put(&mut m, "repo", l.repo.clone().map(Value::from));
            put(&mut m, "since_ms", l.since_ms.map(Value::from));
            put(&mut m, "until_ms", l.until_ms.map(Value::from));
            put(&mut m, "limit", l.limit.map(Value::from));
            "list_tasks"
        }
        TaskCommand::Show { task }
        | TaskCommand::Pause { task }
        | TaskCommand::Resume { task }
        | TaskCommand::Cancel { task } => {
            m.insert("task".into(), json!(task));
            match cmd {
                TaskCommand::Show { .. } => "task_status",
                TaskCommand::Pause { .. } => "pause_task",
                TaskCommand::Resume { .. } => "resume_task",
                _ => "cancel_task",
            }
        }
    };
    Ok((verb, Value::Object(m)))
}

/// Sends the command and prints the reply: 0 when `ok`, 1 when the node
/// refused, 125 when no reply came.
pub async fn task(state_dir: Option<PathBuf>, args: TaskArgs) -> i32 {
    super::target::one_shot(one_shot(state_dir, &args)).await
}

/// How the replies print: a table for `list` (unless `--json`), the reply
/// JSON otherwise.
fn print_of(verb: &str, json: bool) -> Print {
    if verb == "list_tasks" && !json { Print::TasksTable } else { Print::Json }
}

/// The command line as a one-shot command.
fn one_shot(state_dir: Option<PathBuf>, args: &TaskArgs) -> Result<OneShot<'_>, String> {
    let (verb, payload) = request(&args.command)?;
    let timeout = Duration::try_from_secs_f64(args.timeout).map_err(|e| format!("--timeout: {e}"))?;
    let dest = Destination {
        nats: &args.nats,
        client_name: "warden-task",
        socket: super::ctl::socket_path(state_dir, args.socket.clone()),
        node: &args.node,
        timeout,
        gather: Duration::from_millis(300),
    };
    let payload = serde_json::to_vec(&payload).map_err(|e| e.to_string())?;
    Ok(OneShot { dest, verb: verb.to_string(), payload, print: print_of(verb, args.json) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_prints_a_table_unless_json_is_asked() {
        assert_eq!(print_of("list_tasks", false), Print::TasksTable);
        assert_eq!(print_of("list_tasks", true), Print::Json);
        assert_eq!(print_of("task_status", false), Print::Json);
        assert_eq!(print_of("list_agents", false), Print::Json);
    }
}
