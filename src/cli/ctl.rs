//! `warden ctl`: send one command to the local node (its socket) or, with
//! `--nats`, to a node (or any node) over NATS, and print the reply JSON.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};
use warden_bridge::Remote;
use warden_bridge::local::LocalClient;
use warden_bridge::protocol::{AnyMode, Reply, lookup_verb};

use super::EXIT_WARDEN_ERROR;
use super::serve::NatsArgs;

/// Arguments of `warden ctl`.
#[derive(Debug, Args)]
pub struct CtlArgs {
    /// NATS connection.
    #[command(flatten)]
    pub nats: NatsArgs,
    /// The local node's socket, used when no NATS server is named
    /// (default: <state-dir>/run/warden.sock).
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Node to command, or `any`: one node takes `spawn_agent`/`create_task`,
    /// every node answers `list_agents`.
    #[arg(long, default_value = "any")]
    pub node: String,
    /// Seconds to wait for a reply.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// For `list_agents` on `any`: milliseconds to wait for more replies after the last one.
    #[arg(long, default_value_t = 300)]
    pub gather_ms: u64,
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
    /// Send any verb with a JSON payload as written.
    #[command(name = "raw")]
    Raw {
        /// The verb token.
        verb: String,
        /// The JSON payload (default `{}`).
        json: Option<String>,
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
    /// Session id.
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
    /// Session id.
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
    /// Session id.
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
        CtlVerb::Raw { verb, json } => {
            let payload = json.clone().unwrap_or_else(|| "{}".into()).into_bytes();
            return Ok((verb.clone(), payload));
        }
    };
    let payload = serde_json::to_vec(&Value::Object(m)).map_err(|e| e.to_string())?;
    Ok((name.to_string(), payload))
}

/// Sends the command and prints the reply; 0 when `ok`, 1 when the node
/// refused, 125 when no reply came.
pub async fn ctl(state_dir: Option<PathBuf>, args: CtlArgs) -> i32 {
    let result = match args.nats.nats {
        Some(_) => ctl_inner(args).await,
        None => ctl_local(state_dir, args).await,
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("warden: {message}");
            EXIT_WARDEN_ERROR
        }
    }
}

fn reply_code(raw: &[u8]) -> i32 {
    match serde_json::from_slice::<Reply>(raw) {
        Ok(r) if r.ok => 0,
        _ => 1,
    }
}

/// The local socket named by `--socket`, or the state directory's.
pub fn socket_path(state_dir: Option<PathBuf>, socket: Option<PathBuf>) -> PathBuf {
    socket.unwrap_or_else(|| {
        warden_bridge::local::default_socket_path(
            &state_dir.unwrap_or_else(warden_actors::WardenConfig::default_state_dir),
        )
    })
}

async fn ctl_local(state_dir: Option<PathBuf>, args: CtlArgs) -> Result<i32, String> {
    let (verb, payload) = request(&args.verb)?;
    let timeout = Duration::try_from_secs_f64(args.timeout).map_err(|e| format!("--timeout: {e}"))?;
    let path = socket_path(state_dir, args.socket);
    let client = LocalClient::connect(&path, timeout).await.map_err(|e| e.to_string())?;
    let raw = client.request_raw(&verb, payload.into()).await.map_err(|e| e.to_string())?;
    println!("{}", String::from_utf8_lossy(&raw));
    Ok(reply_code(&raw))
}

async fn ctl_inner(args: CtlArgs) -> Result<i32, String> {
    let (verb, payload) = request(&args.verb)?;
    let opts = args.nats.options("warden-ctl".into())?;
    let client = warden_bridge::connect(&opts).await.map_err(|e| e.to_string())?;
    let timeout = Duration::try_from_secs_f64(args.timeout).map_err(|e| format!("--timeout: {e}"))?;
    let remote = Remote::new(client, args.nats.prefix.clone(), timeout);
    let gather =
        args.node == warden_bridge::subjects::ANY_NODE && lookup_verb(&verb).is_some_and(|e| e.any == AnyMode::Gather);
    if gather {
        let replies = remote
            .gather_raw(&verb, payload.into(), Duration::from_millis(args.gather_ms))
            .await
            .map_err(|e| e.to_string())?;
        if replies.is_empty() {
            return Err(format!("no node answered {verb} on `any`"));
        }
        let mut code = 0;
        for r in &replies {
            println!("{}", String::from_utf8_lossy(r));
            code = code.max(reply_code(r));
        }
        return Ok(code);
    }
    let raw = remote.request_raw(&args.node, &verb, payload.into()).await.map_err(|e| e.to_string())?;
    println!("{}", String::from_utf8_lossy(&raw));
    Ok(reply_code(&raw))
}
