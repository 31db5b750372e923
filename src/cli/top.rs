//! `warden top`: every session of the local node, or with `--nats` of every
//! node on the NATS server, kept current from the event stream.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use warden_bridge::Remote;
use warden_bridge::local::LocalClient;
use warden_console::{Link, TopOptions, run_top};

use super::EXIT_WARDEN_ERROR;
use super::serve::NatsArgs;

/// How long a command from `top` waits for its reply.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// Arguments of `warden top`.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// NATS connection (every node on it); without --nats, the local node.
    #[command(flatten)]
    pub nats: NatsArgs,
    /// The local node's socket (default: <state-dir>/run/warden.sock).
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Show only sessions whose node, id, agent, label, state or last event contains this.
    #[arg(long, default_value = "")]
    pub filter: String,
}

/// Runs the view until the user quits; returns the exit code.
pub async fn top(state_dir: Option<PathBuf>, args: TopArgs) -> i32 {
    match top_inner(state_dir, args).await {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("warden: {message}");
            EXIT_WARDEN_ERROR
        }
    }
}

async fn top_inner(state_dir: Option<PathBuf>, args: TopArgs) -> Result<(), String> {
    let link = match &args.nats.nats {
        Some(_) => {
            let opts = args.nats.options("warden-top".into())?;
            let client = warden_bridge::connect(&opts).await.map_err(|e| e.to_string())?;
            let remote = Arc::new(Remote::new(client.clone(), args.nats.prefix.clone(), REPLY_TIMEOUT));
            Link::Nats { remote, client, prefix: args.nats.prefix.clone() }
        }
        None => {
            let path = super::ctl::socket_path(state_dir, args.socket.clone());
            Link::Local(Arc::new(LocalClient::connect(&path, REPLY_TIMEOUT).await.map_err(|e| e.to_string())?))
        }
    };
    let opts = TopOptions { filter: args.filter, attach: None };
    run_top(link, opts).await.map_err(|e| e.to_string())
}
