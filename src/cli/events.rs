//! `warden events`: follow the events of nodes over NATS, live or replayed
//! from JetStream, in the same JSON shape as `warden run --json`.

use std::io::Write;

use clap::Args;
use futures::StreamExt;
use warden_bridge::{FollowOptions, follow_events};
use warden_core::{EventKind, SessionId};

use super::EXIT_WARDEN_ERROR;
use super::serve::NatsArgs;

/// Arguments of `warden events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// NATS connection.
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Only this node's events.
    #[arg(long)]
    pub node: Option<String>,
    /// Only this session's events.
    #[arg(long)]
    pub session: Option<SessionId>,
    /// Replay from the JetStream stream, starting at this `seq`, then follow.
    #[arg(long, value_name = "SEQ")]
    pub since: Option<u64>,
    /// JetStream stream name (default: from the prefix).
    #[arg(long)]
    pub stream: Option<String>,
    /// Print one JSON event per line.
    #[arg(long)]
    pub json: bool,
    /// Stop after the `exited` event of --session.
    #[arg(long, requires = "session")]
    pub until_exit: bool,
}

/// Follows events until interrupted (or the session exits, with
/// `--until-exit`); returns the exit code.
pub async fn events(args: EventsArgs) -> i32 {
    match events_inner(args).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("warden: {message}");
            EXIT_WARDEN_ERROR
        }
    }
}

async fn events_inner(args: EventsArgs) -> Result<i32, String> {
    if let Some(node) = &args.node {
        warden_bridge::subjects::check_node_name(node).map_err(|e| e.to_string())?;
    }
    let opts = args.nats.options("warden-events".into())?;
    let client = warden_bridge::connect(&opts).await.map_err(|e| e.to_string())?;
    let follow = FollowOptions {
        prefix: args.nats.prefix.clone(),
        node: args.node.clone(),
        session: args.session,
        since: args.since,
        stream: args.stream.clone(),
    };
    let mut stream = follow_events(&client, &follow).await.map_err(|e| e.to_string())?;
    let filter = warden_bridge::subjects::events_filter(&follow.prefix, follow.node.as_deref(), follow.session);
    eprintln!("warden: following {filter}{}", args.since.map(|s| format!(" from seq {s}")).unwrap_or_default());
    let stdout = std::io::stdout();
    while let Some(event) = stream.next().await {
        let mut out = stdout.lock();
        let written = super::print::write_event(&mut out, &event, args.json, true);
        if written.and_then(|_| out.flush()).is_err() {
            return Ok(0); // stdout closed
        }
        if args.until_exit && event.session == args.session && matches!(event.kind, EventKind::Exited(_)) {
            return Ok(0);
        }
    }
    Err("the connection to NATS ended".into())
}
