//! `warden events`: follow the local node's events (its socket), or with
//! `--nats` nodes' events over NATS, live or replayed, in the same JSON
//! shape as `warden run --json`.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use futures::StreamExt;
use warden_bridge::local::{LocalClient, LocalMsg, LocalSubscribe};
use warden_bridge::{FollowOptions, follow_events};
use warden_core::{Event, EventKind, SessionId, SessionInfo};

use super::EXIT_WARDEN_ERROR;
use super::serve::NatsArgs;

/// How long the already-exited check waits for the node.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Arguments of `warden events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// NATS connection.
    #[command(flatten)]
    pub nats: NatsArgs,
    /// The local node's socket, used when no NATS server is named
    /// (default: <state-dir>/run/warden.sock).
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Only this node's events.
    #[arg(long)]
    pub node: Option<String>,
    /// Only this session's events: id, unique prefix, short id or label.
    #[arg(long)]
    pub session: Option<String>,
    /// Replay from this `seq` (JetStream over NATS; the node's replay buffer
    /// on the local socket), then follow.
    #[arg(long, value_name = "SEQ")]
    pub since: Option<u64>,
    /// JetStream stream name (default: from the prefix).
    #[arg(long)]
    pub stream: Option<String>,
    /// Print one JSON event per line.
    #[arg(long)]
    pub json: bool,
    /// Stop after the `exited` event of --session; at once if it has exited already.
    #[arg(long, requires = "session")]
    pub until_exit: bool,
}

/// Follows events until interrupted (or the session exits, with
/// `--until-exit`); returns the exit code.
pub async fn events(state_dir: Option<PathBuf>, args: EventsArgs) -> i32 {
    let result = match args.nats.nats {
        Some(_) => events_nats(args).await,
        None => events_local(state_dir, args).await,
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("warden: {message}");
            EXIT_WARDEN_ERROR
        }
    }
}

/// What printing one event means for the loop.
enum Next {
    Go,
    Done,
}

/// Printing events: JSON lines, or one line per output line and per event,
/// each prefixed with its session's short id and label.
struct Printer {
    json: bool,
    until_exit: bool,
    session: Option<SessionId>,
    human: super::human::HumanEvents,
}

impl Printer {
    fn new(args: &EventsArgs, session: Option<SessionId>) -> Self {
        Printer { json: args.json, until_exit: args.until_exit, session, human: Default::default() }
    }

    /// Labels of sessions that started before this command did.
    fn learn(&mut self, raw: &[u8]) {
        self.human.learn_labels(raw);
    }

    fn print(&mut self, event: &Event) -> Next {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        let written = if self.json {
            super::print::write_event(&mut out, event, true, true)
        } else {
            self.human.write(&mut out, event)
        };
        if written.and_then(|_| out.flush()).is_err() {
            return Next::Done; // stdout closed
        }
        if self.until_exit && event.session == self.session && matches!(event.kind, EventKind::Exited(_)) {
            return Next::Done;
        }
        Next::Go
    }
}

fn parse_id(text: &str) -> Result<SessionId, String> {
    text.parse().map_err(|e: warden_core::InvalidSessionId| e.to_string())
}

/// The node and the session's record in a `list_agents` reply, if it is there.
fn session_in_reply(raw: &[u8], id: SessionId) -> Option<(String, SessionInfo)> {
    let reply: serde_json::Value = serde_json::from_slice(raw).ok()?;
    let result = reply.get("result")?;
    let node = result.get("node")?.as_str()?.to_string();
    let agents = result.get("agents")?.as_array()?;
    let info = agents
        .iter()
        .filter_map(|a| serde_json::from_value::<SessionInfo>(a.clone()).ok())
        .find(|info| info.id == id)?;
    Some((node, info))
}

/// With `--until-exit` and no `--since` (a replay shows the real `exited`
/// event), a session that has already ended: says so (as the `exited` line
/// its event would have printed, with `seq` 0: it comes from the session's
/// record, not the stream) and ends.
fn already_exited(printer: &mut Printer, found: Option<(String, SessionInfo)>) -> bool {
    let Some((node, exit)) = found.and_then(|(node, info)| info.exit.map(|e| (node, e))) else { return false };
    let session = printer.session;
    printer.print(&Event::new(0, node, session, EventKind::Exited(exit)));
    true
}

async fn events_local(state_dir: Option<PathBuf>, args: EventsArgs) -> Result<i32, String> {
    let path = super::ctl::socket_path(state_dir, args.socket.clone());
    let client = LocalClient::connect(&path, LOOKUP_TIMEOUT).await.map_err(|e| e.to_string())?;
    let session = match &args.session {
        Some(r) => Some(match r.trim().parse::<SessionId>() {
            Ok(id) => id,
            Err(_) => parse_id(&super::target::on_local(&client, "session", r).await?.id)?,
        }),
        None => None,
    };
    let mut printer = Printer::new(&args, session);
    let what = LocalSubscribe { session, since: args.since, events: true, output: false };
    let mut rx = client.subscribe(what).await.map_err(|e| e.to_string())?;
    eprintln!("warden: following the node on {}", path.display());
    if !args.json || (args.until_exit && args.since.is_none()) {
        let raw = client.request_raw("list_agents", "{}".into()).await.map_err(|e| e.to_string())?;
        printer.learn(&raw);
        if args.until_exit
            && args.since.is_none()
            && let Some(id) = session
            && already_exited(&mut printer, session_in_reply(&raw, id))
        {
            return Ok(0);
        }
    }
    while let Some(msg) = rx.recv().await {
        let LocalMsg::Event(json) = msg else { continue };
        let Ok(event) = serde_json::from_slice::<Event>(&json) else { continue };
        if let Next::Done = printer.print(&event) {
            return Ok(0);
        }
    }
    Err("the connection to the local node ended".into())
}

async fn events_nats(args: EventsArgs) -> Result<i32, String> {
    if let Some(node) = &args.node {
        warden_bridge::subjects::check_node_name(node).map_err(|e| e.to_string())?;
    }
    let opts = args.nats.options("warden-events".into())?;
    let client = warden_bridge::connect(&opts).await.map_err(|e| e.to_string())?;
    let remote = warden_bridge::Remote::new(client.clone(), args.nats.prefix.clone(), LOOKUP_TIMEOUT);
    let session = match &args.session {
        Some(r) => Some(match r.trim().parse::<SessionId>() {
            Ok(id) => id,
            Err(_) => {
                let found = match &args.node {
                    Some(node) => super::target::on_node(&remote, node, "session", r).await?,
                    None => super::target::on_any(&remote, "session", r).await?,
                };
                parse_id(&found.id)?
            }
        }),
        None => None,
    };
    let mut printer = Printer::new(&args, session);
    let follow = FollowOptions {
        prefix: args.nats.prefix.clone(),
        node: args.node.clone(),
        session,
        since: args.since,
        stream: args.stream.clone(),
    };
    let mut stream = follow_events(&client, &follow).await.map_err(|e| e.to_string())?;
    let filter = warden_bridge::subjects::events_filter(&follow.prefix, follow.node.as_deref(), follow.session);
    eprintln!("warden: following {filter}{}", args.since.map(|s| format!(" from seq {s}")).unwrap_or_default());
    if !args.json || (args.until_exit && args.since.is_none()) {
        // Subscribed first, then asked: an exit in between is in the stream.
        let replies = match &args.node {
            Some(node) => remote.request_raw(node, "list_agents", "{}".into()).await.map(|r| vec![r]),
            None => remote.gather_raw("list_agents", "{}".into(), Duration::from_millis(300)).await,
        }
        .unwrap_or_default();
        for raw in &replies {
            printer.learn(raw);
        }
        if args.until_exit
            && args.since.is_none()
            && let Some(id) = session
            && already_exited(&mut printer, replies.iter().find_map(|r| session_in_reply(r, id)))
        {
            return Ok(0);
        }
    }
    while let Some(event) = stream.next().await {
        if let Next::Done = printer.print(&event) {
            return Ok(0);
        }
    }
    Err("the connection to NATS ended".into())
}
