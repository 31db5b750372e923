//! `warden ctl`: send one command to the local node (its socket) or, with
//! `--nats`, to a node (or any node) over NATS, and print the reply JSON
//! (`list_agents`: a table, JSON with `--json`). Options go before or after
//! the verb. Sessions are named by id, prefix, short id or label; on
//! `--node any` a verb that names one goes to the node that has it.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};
use warden_bridge::protocol::lookup_verb;

use super::serve::NatsArgs;
use super::target::{Destination, OneShot, Print};

/// Arguments of `warden ctl`.
#[derive(Debug, Args)]
pub struct CtlArgs {
    /// NATS connection.
    #[command(flatten)]
    pub nats: NatsArgs,
    /// The local node's socket, used when no NATS server is named
    /// (default: <state-dir>/run/warden.sock).
    #[arg(long, value_name = "PATH", global = true)]
    pub socket: Option<PathBuf>,
    /// Node to command, or `any`: one node takes `spawn_agent`/`create_task`,
    /// every node answers `list_agents`, and a verb naming a session goes to
    /// the node that has it.
    #[arg(long, default_value = "any", global = true)]
    pub node: String,
    /// Seconds to wait for a reply.
    #[arg(long, default_value_t = 10.0, global = true)]
    pub timeout: f64,
    /// For `list_agents` on `any`: milliseconds to wait for more replies after the last one.
    #[arg(long, default_value_t = 300, global = true)]
    pub gather_ms: u64,
    /// Print the reply JSON (for `list_agents`, whose default is a table).
    #[arg(long, global = true)]
    pub json: bool,
    /// The verb and its arguments.
    #[command(subcommand)]
    pub verb: CtlVerb,
}

/// Verbs `warden ctl` knows (see docs/PROTOCOL.md); `raw` sends any verb.
#[derive(Debug, Subcommand)]
pub enum CtlVerb {
    /// Start an agent.
    #[command(name = "spawn_agent", alias = "spawn-agent")]
    SpawnAgent(SpawnCmd),
    /// Start an agent on a task (the task is required).
    #[command(name = "create_task", alias = "create-task")]
    CreateTask(SpawnCmd),
    /// Type text, press keys or paste into a session.
    #[command(name = "send_to_agent", alias = "send-to-agent")]
    SendToAgent(SendCmd),
    /// List sessions.
    #[command(name = "list_agents", alias = "list-agents")]
    ListAgents(ListCmd),
    /// Stop a session, or all of a node's.
    #[command(name = "stop_agent", alias = "stop-agent")]
    StopAgent(StopCmd),
    /// Resize a session's terminal.
    #[command(name = "resize")]
    Resize(ResizeCmd),
    /// Answer a session's pending confirmation (its only one when no id is given).
    #[command(name = "confirm")]
    Confirm(ConfirmCmd),
    /// Decline a session's pending confirmation (nothing is typed).
    #[command(name = "decline")]
    Decline(ConfirmCmd),
    /// A session's pending confirmations.
    #[command(name = "pending_confirmations", alias = "pending-confirmations")]
    PendingConfirmations(SessionCmd),
    /// A session's screen as text.
    #[command(name = "snapshot")]
    Snapshot(SessionCmd),
    /// Send any verb with a JSON payload as written.
    #[command(name = "raw")]
    Raw {
        /// The verb token.
        verb: String,
        /// The JSON payload (default `{}`).
        #[arg(value_name = "JSON")]
        payload: Option<String>,
    },
}

/// Arguments of `spawn_agent` and `create_task`.
#[derive(Debug, Args)]
pub struct SpawnCmd {
    /// Agent type.
    #[arg(long)]
    pub agent: String,
    /// Task typed into the agent.
    #[arg(long)]
    pub task: Option<String>,
    /// Working directory on the node (inside its allowed roots).
    #[arg(long)]
    pub workdir: Option<PathBuf>,
    /// Environment for the agent, NAME=VALUE (repeatable).
    #[arg(long = "env", value_name = "NAME=VALUE")]
    pub env: Vec<String>,
    /// Terminal rows.
    #[arg(long)]
    pub rows: Option<u16>,
    /// Terminal columns.
    #[arg(long)]
    pub cols: Option<u16>,
    /// Label.
    #[arg(long)]
    pub label: Option<String>,
}

/// Arguments of `send_to_agent`: one of --text, --keys, --paste.
#[derive(Debug, Args)]
pub struct SendCmd {
    /// Session: id, unique prefix, short id or label.
    #[arg(long)]
    pub session: String,
    /// Text, then Enter.
    #[arg(long, group = "input")]
    pub text: Option<String>,
    /// Key names, comma-separated (`down,enter`).
    #[arg(long, group = "input")]
    pub keys: Option<String>,
    /// Text to paste (bracketed).
    #[arg(long, group = "input")]
    pub paste: Option<String>,
}

/// Arguments of `confirm` and `decline`.
#[derive(Debug, Args)]
pub struct ConfirmCmd {
    /// Session: id, unique prefix, short id or label.
    #[arg(long)]
    pub session: String,
    /// The confirmation's id (or a unique prefix); default: the only pending one.
    #[arg(long)]
    pub id: Option<String>,
    /// Answer with this text instead of the suggested answer (`confirm` only).
    #[arg(long, conflicts_with = "keys")]
    pub text: Option<String>,
    /// Answer with these keys, comma-separated (`confirm` only).
    #[arg(long)]
    pub keys: Option<String>,
}

/// Arguments of verbs that name only a session.
#[derive(Debug, Args)]
pub struct SessionCmd {
    /// Session: id, unique prefix, short id or label.
    #[arg(long)]
    pub session: String,
}

/// Arguments of `list_agents`.
#[derive(Debug, Args)]
pub struct ListCmd {
    /// Only live sessions.
    #[arg(long)]
    pub live: bool,
}

/// Arguments of `stop_agent`.
#[derive(Debug, Args)]
pub struct StopCmd {
    /// Session: id, unique prefix, short id or label.
    #[arg(long, required_unless_present = "all")]
    pub session: Option<String>,
    /// Stop every session of the node.
    #[arg(long)]
    pub all: bool,
    /// Milliseconds between the polite signals and SIGKILL.
    #[arg(long)]
    pub grace_ms: Option<u64>,
}

/// Arguments of `resize`.
#[derive(Debug, Args)]
pub struct ResizeCmd {
    /// Session: id, unique prefix, short id or label.
    #[arg(long)]
    pub session: String,
    /// Rows.
    #[arg(long)]
    pub rows: u16,
    /// Columns.
    #[arg(long)]
    pub cols: u16,
}

fn put<T: Into<Value>>(m: &mut Map<String, Value>, key: &str, v: Option<T>) {
    if let Some(v) = v {
        m.insert(key.into(), v.into());
    }
}

/// The verb name and JSON payload of a command line.
fn request(verb: &CtlVerb) -> Result<(String, Vec<u8>), String> {
    let mut m = Map::new();
    m.insert("v".into(), json!(1));
    let name = match verb {
        CtlVerb::SpawnAgent(a) | CtlVerb::CreateTask(a) => {
            m.insert("agent".into(), json!(a.agent));
            put(&mut m, "task", a.task.clone());
            put(&mut m, "workdir", a.workdir.as_ref().map(|p| p.display().to_string()));
            put(&mut m, "label", a.label.clone());
            if !a.env.is_empty() {
                let mut env = Map::new();
                for kv in &a.env {
                    let (k, v) = kv.split_once('=').ok_or_else(|| format!("--env expects NAME=VALUE, got `{kv}`"))?;
                    env.insert(k.into(), json!(v));
                }
                m.insert("env".into(), Value::Object(env));
            }
            match (a.rows, a.cols) {
                (Some(rows), Some(cols)) => {
                    m.insert("size".into(), json!({"rows": rows, "cols": cols}));
                }
                (None, None) => {}
                _ => return Err("give both --rows and --cols".into()),
            }
            if matches!(verb, CtlVerb::CreateTask(_)) { "create_task" } else { "spawn_agent" }
        }
        CtlVerb::SendToAgent(a) => {
            m.insert("session".into(), json!(a.session));
            put(&mut m, "text", a.text.clone());
            put(&mut m, "keys", a.keys.clone());
            put(&mut m, "paste", a.paste.clone());
            "send_to_agent"
        }
        CtlVerb::ListAgents(a) => {
            if a.live {
                m.insert("live_only".into(), json!(true));
            }
            "list_agents"
        }
        CtlVerb::StopAgent(a) => {
            put(&mut m, "session", a.session.clone());
            if a.all {
                m.insert("all".into(), json!(true));
            }
            put(&mut m, "grace_ms", a.grace_ms);
            "stop_agent"
        }
        CtlVerb::Resize(a) => {
            m.insert("session".into(), json!(a.session));
            m.insert("rows".into(), json!(a.rows));
            m.insert("cols".into(), json!(a.cols));
            "resize"
        }
        CtlVerb::Confirm(a) | CtlVerb::Decline(a) => {
            m.insert("session".into(), json!(a.session));
            put(&mut m, "id", a.id.clone());
            let decline = matches!(verb, CtlVerb::Decline(_));
            if decline && (a.text.is_some() || a.keys.is_some()) {
                return Err("`decline` types nothing: drop --text/--keys".into());
            }
            if let Some(text) = &a.text {
                m.insert("reply".into(), json!({"type": "text", "value": text}));
            }
            if let Some(keys) = &a.keys {
                let keys: Vec<&str> = keys.split(',').map(str::trim).filter(|k| !k.is_empty()).collect();
                m.insert("reply".into(), json!({"type": "keys", "value": keys}));
            }
            if decline { "decline" } else { "confirm" }
        }
        CtlVerb::PendingConfirmations(a) => {
            m.insert("session".into(), json!(a.session));
            "pending_confirmations"
        }
        CtlVerb::Snapshot(a) => {
            m.insert("session".into(), json!(a.session));
            "snapshot"
        }
        CtlVerb::Raw { verb, payload } => {
            let payload = payload.clone().unwrap_or_else(|| "{}".into()).into_bytes();
            return Ok((verb.clone(), payload));
        }
    };
    let payload = serde_json::to_vec(&Value::Object(m)).map_err(|e| e.to_string())?;
    Ok((name.to_string(), payload))
}

/// Sends the command and prints the reply; 0 when `ok`, 1 when the node
/// refused (or a step it was asked for failed: the reply is `ok: false`),
/// 125 when no reply came.
pub async fn ctl(state_dir: Option<PathBuf>, args: CtlArgs) -> i32 {
    super::target::one_shot(one_shot(state_dir, &args)).await
}

/// The local socket named by `--socket`, or the state directory's.
pub fn socket_path(state_dir: Option<PathBuf>, socket: Option<PathBuf>) -> PathBuf {
    socket.unwrap_or_else(|| {
        warden_bridge::local::default_socket_path(
            &state_dir.unwrap_or_else(warden_actors::WardenConfig::default_state_dir),
        )
    })
}

/// How the replies print: a table for `list_agents` (unless `--json`), the
/// reply JSON otherwise.
fn print_of(verb: &str, json: bool) -> Print {
    if !json && lookup_verb(verb).is_some_and(|e| e.canonical() == "list_agents") {
        Print::AgentsTable
    } else {
        Print::Json
    }
}

/// The command line as a one-shot command.
fn one_shot(state_dir: Option<PathBuf>, args: &CtlArgs) -> Result<OneShot<'_>, String> {
    let (verb, payload) = request(&args.verb)?;
    let timeout = Duration::try_from_secs_f64(args.timeout).map_err(|e| format!("--timeout: {e}"))?;
    let dest = Destination {
        nats: &args.nats,
        client_name: "warden-ctl",
        socket: socket_path(state_dir, args.socket.clone()),
        node: &args.node,
        timeout,
        gather: Duration::from_millis(args.gather_ms),
    };
    let print = print_of(&verb, args.json);
    Ok(OneShot { dest, verb, payload, print })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_agents_prints_a_table_unless_json_is_asked() {
        assert_eq!(print_of("list_agents", false), Print::AgentsTable);
        // Its aliases too (`warden ctl raw list_coding_agents`).
        assert_eq!(print_of("list_coding_agents", false), Print::AgentsTable);
        assert_eq!(print_of("list_agents", true), Print::Json);
        assert_eq!(print_of("list_tasks", false), Print::Json);
        assert_eq!(print_of("snapshot", false), Print::Json);
    }
}
