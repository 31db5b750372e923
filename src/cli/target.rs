//! Finding what a person named: the node and whole id of a session, task or
//! workspace given by id, prefix, short id or label, with the `resolve` verb
//! (on the local socket, or gathered from every node on NATS); and sending a
//! one-shot command there, printing its replies and exiting with their code
//! ([`one_shot`], shared by `warden ctl` and `warden task`).

use std::time::Duration;

use serde_json::{Value, json};
use warden_bridge::Remote;
use warden_bridge::local::LocalClient;
use warden_bridge::protocol::{Reply, ResolveResult};

/// How long to wait for more `resolve` replies after the first.
const QUIET: Duration = Duration::from_millis(300);

/// What a verb names, and in which field of its payload.
pub fn reference_of(verb: &str, payload: &Value) -> Option<(&'static str, &'static str)> {
    let (kind, field) = match verb {
        "send_to_agent"
        | "send_to_coding_agent"
        | "stop_agent"
        | "stop_coding_agent"
        | "resize"
        | "snapshot"
        | "classify"
        | "pending_confirmations"
        | "confirm"
        | "decline"
        | "add_rules"
        | "clear_rules"
        | "attach"
        | "detach" => ("session", "session"),
        "task_status" | "pause_task" | "resume_task" | "cancel_task" => ("task", "task"),
        "finalize_workspace" => ("workspace", "workspace"),
        "provision_workspace" => ("workspace", "parent"),
        _ => return None,
    };
    payload.get(field).and_then(Value::as_str).map(|_| (kind, field))
}

/// The result of one `resolve` reply, or its error message.
fn parse(raw: &[u8]) -> Result<ResolveResult, String> {
    let reply: Reply = serde_json::from_slice(raw).map_err(|e| format!("bad reply: {e}"))?;
    match (reply.ok, reply.result, reply.error) {
        (true, Some(v), _) => serde_json::from_value(v).map_err(|e| format!("bad reply: {e}")),
        (_, _, Some(e)) => Err(e.to_string()),
        _ => Err("bad reply".into()),
    }
}

/// The node and whole id of `reference` among every node on NATS.
pub async fn on_any(remote: &Remote, kind: &str, reference: &str) -> Result<ResolveResult, String> {
    let body = serde_json::to_vec(&json!({"v": 1, "kind": kind, "id": reference})).map_err(|e| e.to_string())?;
    let replies = remote.gather_raw("resolve", body.into(), QUIET).await.map_err(|e| e.to_string())?;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for raw in &replies {
        match parse(raw) {
            Ok(r) => found.push(r),
            Err(e) => errors.push(e),
        }
    }
    // A node where the reference names several: ambiguous, whatever others found.
    if let Some(e) = errors.iter().find(|e| e.starts_with("bad_request")) {
        let elsewhere: Vec<String> = found.iter().map(|r| format!("{} on {}", r.short, r.node)).collect();
        return Err(if elsewhere.is_empty() { e.clone() } else { format!("{e}; also {}", elsewhere.join(", ")) });
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(if replies.is_empty() {
            "no node answered `resolve` (is `warden serve --nats` running?)".to_string()
        } else {
            format!("no node has a {kind} with the id, short id or label `{reference}`")
        }),
        _ => {
            let names: Vec<String> = found.iter().map(|r| format!("{} on {}", r.short, r.node)).collect();
            Err(format!("`{reference}` names a {kind} on {} nodes ({}); give --node", found.len(), names.join(", ")))
        }
    }
}

/// The whole id of `reference` on one node over NATS.
pub async fn on_node(remote: &Remote, node: &str, kind: &str, reference: &str) -> Result<ResolveResult, String> {
    let body = serde_json::to_vec(&json!({"v": 1, "kind": kind, "id": reference})).map_err(|e| e.to_string())?;
    let raw = remote.request_raw(node, "resolve", body.into()).await.map_err(|e| e.to_string())?;
    parse(&raw)
}

/// The whole id of `reference` on the local node.
pub async fn on_local(client: &LocalClient, kind: &str, reference: &str) -> Result<ResolveResult, String> {
    let body = serde_json::to_vec(&json!({"v": 1, "kind": kind, "id": reference})).map_err(|e| e.to_string())?;
    let raw = client.request_raw("resolve", body.into()).await.map_err(|e| e.to_string())?;
    parse(&raw)
}

/// With `--node any`, a verb that names a session, task or workspace goes to
/// the node that has it, with the whole id: returns that node and the
/// payload to send. Other verbs, and named nodes, are unchanged.
pub async fn route(remote: &Remote, node: &str, verb: &str, payload: Vec<u8>) -> Result<(String, Vec<u8>), String> {
    if node != warden_bridge::subjects::ANY_NODE {
        return Ok((node.to_string(), payload));
    }
    let Ok(mut body) = serde_json::from_slice::<Value>(&payload) else { return Ok((node.to_string(), payload)) };
    let Some((kind, field)) = reference_of(verb, &body) else { return Ok((node.to_string(), payload)) };
    let reference = body[field].as_str().unwrap_or_default().to_string();
    let found = on_any(remote, kind, &reference).await?;
    body[field] = Value::String(found.id);
    Ok((found.node, serde_json::to_vec(&body).map_err(|e| e.to_string())?))
}

/// Where a one-shot command (`warden ctl`, `warden task`) goes: the local
/// node's socket, or with `--nats` the named node or `any`.
pub struct Destination<'a> {
    /// The NATS connection; its URL unset means the local socket.
    pub nats: &'a super::serve::NatsArgs,
    /// The NATS client name (`warden-ctl`, `warden-task`).
    pub client_name: &'static str,
    /// The local node's socket.
    pub socket: std::path::PathBuf,
    /// The node, or `any`.
    pub node: &'a str,
    /// How long to wait for a reply.
    pub timeout: Duration,
    /// On `any`, for a gathered verb: how long to wait for more replies.
    pub gather: Duration,
}

/// How a one-shot command prints its replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Print {
    /// `list_agents` as a table.
    AgentsTable,
    /// `list_tasks` as a table.
    TasksTable,
    /// Each reply's JSON on a line, followed on stderr by what the next
    /// command can name its session or task by.
    Json,
}

/// A one-shot command (`warden ctl`, `warden task`): where it goes, what it
/// sends and how its replies print.
pub struct OneShot<'a> {
    /// Where it goes.
    pub dest: Destination<'a>,
    /// The verb.
    pub verb: String,
    /// The JSON payload.
    pub payload: Vec<u8>,
    /// How the replies print.
    pub print: Print,
}

/// Sends a one-shot command made by the caller (or the message saying why
/// it could not be made) and prints its replies. Returns the exit code: 0
/// when every reply is `ok`, 1 when one is not (the node refused, or a step
/// it was asked for failed), 125 with the message on stderr when the command
/// could not be made or no reply came.
pub async fn one_shot(shot: Result<OneShot<'_>, String>) -> i32 {
    let sent = match shot {
        Ok(shot) => send(&shot.dest, &shot.verb, shot.payload).await.map(|replies| (shot.print, replies)),
        Err(message) => Err(message),
    };
    match sent {
        Ok((print, replies)) => {
            print_replies(print, &replies);
            exit_code(&replies)
        }
        Err(message) => {
            eprintln!("warden: {message}");
            super::EXIT_WARDEN_ERROR
        }
    }
}

/// Prints the replies as `print` says.
fn print_replies(print: Print, replies: &[Vec<u8>]) {
    match print {
        Print::AgentsTable => print!("{}", super::table::agents_table(replies)),
        Print::TasksTable => print!("{}", super::table::tasks_table(replies)),
        Print::Json => {
            for raw in replies {
                println!("{}", String::from_utf8_lossy(raw));
                // What the next command can name it by, for a person (stderr: stdout stays JSON).
                if let Some(line) = super::table::summary(raw) {
                    eprintln!("warden: {line}");
                }
            }
        }
    }
}

/// Sends `verb` with its JSON payload and returns every reply as sent: one,
/// or on `any` for a gathered verb (`list_agents`, `list_tasks`) one per node
/// that answered. A verb naming a session, task or workspace on `any` first
/// finds the node that has it ([`route`]).
async fn send(dest: &Destination<'_>, verb: &str, payload: Vec<u8>) -> Result<Vec<Vec<u8>>, String> {
    if dest.nats.nats.is_none() {
        let client = LocalClient::connect(&dest.socket, dest.timeout).await.map_err(|e| e.to_string())?;
        let raw = client.request_raw(verb, payload.into()).await.map_err(|e| e.to_string())?;
        return Ok(vec![raw.to_vec()]);
    }
    let opts = dest.nats.options(dest.client_name.into())?;
    let client = warden_bridge::connect(&opts).await.map_err(|e| e.to_string())?;
    let remote = Remote::new(client, dest.nats.prefix.clone(), dest.timeout);
    let gathered =
        warden_bridge::protocol::lookup_verb(verb).is_some_and(|e| e.any == warden_bridge::protocol::AnyMode::Gather);
    if dest.node == warden_bridge::subjects::ANY_NODE && gathered {
        let replies = remote.gather_raw(verb, payload.into(), dest.gather).await.map_err(|e| e.to_string())?;
        if replies.is_empty() {
            return Err(format!("no node answered {verb} on `any`"));
        }
        return Ok(replies.iter().map(|r| r.to_vec()).collect());
    }
    let (node, payload) = route(&remote, dest.node, verb, payload).await?;
    let raw = remote.request_raw(&node, verb, payload.into()).await.map_err(|e| e.to_string())?;
    Ok(vec![raw.to_vec()])
}

/// 0 when every reply is `ok`, 1 otherwise.
fn exit_code(replies: &[Vec<u8>]) -> i32 {
    if replies.iter().all(|raw| serde_json::from_slice::<Reply>(raw).is_ok_and(|r| r.ok)) { 0 } else { 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        // Global options (`--json`, `--node`, the NATS options) must not clash
        // with a subcommand's own arguments.
        use clap::CommandFactory;
        super::super::Cli::command().debug_assert();
    }

    #[test]
    fn verbs_that_name_something_are_routed() {
        let body = json!({"session": "3c4d5e6f", "text": "hi"});
        assert_eq!(reference_of("send_to_agent", &body), Some(("session", "session")));
        assert_eq!(reference_of("task_status", &json!({"task": "fix"})), Some(("task", "task")));
        assert_eq!(reference_of("provision_workspace", &json!({"repo": "x"})), None);
        assert_eq!(reference_of("provision_workspace", &json!({"parent": "w"})), Some(("workspace", "parent")));
        assert_eq!(reference_of("list_agents", &json!({})), None);
        assert_eq!(reference_of("stop_agent", &json!({"all": true})), None);
    }
}
