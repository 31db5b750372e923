//! `warden attach SESSION`: this terminal on a running session of the local
//! node, or with `--nats` of node `--node`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use warden_bridge::Remote;
use warden_bridge::local::LocalClient;
use warden_console::{AttachEnd, AttachOptions, Link, run_attach};
use warden_core::SessionId;

use super::EXIT_WARDEN_ERROR;
use super::serve::NatsArgs;

/// How long a command from `attach` waits for its reply.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// Arguments of `warden attach`.
#[derive(Debug, Args)]
pub struct AttachArgs {
    /// The session: id, unique prefix, short id or label.
    pub session: String,
    /// NATS connection; without --nats, the local node.
    #[command(flatten)]
    pub nats: NatsArgs,
    /// The node the session runs on (with --nats; default: the node that has it).
    #[arg(long, default_value = "")]
    pub node: String,
    /// The local node's socket (default: <state-dir>/run/warden.sock).
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// The key that detaches and leaves the agent running.
    #[arg(long, default_value = warden_console::DEFAULT_DETACH_KEY)]
    pub detach_key: String,
    /// Take the keyboard from another attached terminal (which then watches).
    #[arg(long)]
    pub take: bool,
}

/// Attaches until the detach key, the session's end or a signal; returns the
/// exit code: 0 when detached, the session's code when it ended, 128 + the
/// signal's number when SIGTERM, SIGHUP or SIGINT stopped it (it detached
/// first, the terminal restored; the session keeps running).
pub async fn attach(state_dir: Option<PathBuf>, args: AttachArgs) -> i32 {
    match attach_inner(state_dir, args).await {
        Ok(AttachEnd::Detached) => 0,
        Ok(AttachEnd::Exited(code)) => code.unwrap_or(0),
        Ok(AttachEnd::Stopped(signal)) => signal.exit_code(),
        Err(message) => {
            eprintln!("warden: {message}");
            EXIT_WARDEN_ERROR
        }
    }
}

async fn attach_inner(state_dir: Option<PathBuf>, args: AttachArgs) -> Result<AttachEnd, String> {
    let detach = warden_console::detach_key_byte(&args.detach_key).ok_or_else(|| {
        format!("--detach-key {}: give ctrl+<letter> or ctrl+] (ctrl+[ ctrl+\\ ctrl+^ ctrl+_)", args.detach_key)
    })?;
    let (link, node, session) = match &args.nats.nats {
        Some(_) => {
            let opts = args.nats.options("warden-attach".into())?;
            let client = warden_bridge::connect(&opts).await.map_err(|e| e.to_string())?;
            let remote = Arc::new(Remote::new(client.clone(), args.nats.prefix.clone(), REPLY_TIMEOUT));
            let found = if args.node.is_empty() {
                super::target::on_any(&remote, "session", &args.session).await?
            } else {
                super::target::on_node(&remote, &args.node, "session", &args.session).await?
            };
            let (node, session) = (found.node, found.id);
            (Link::Nats { remote, client, prefix: args.nats.prefix.clone() }, node, session)
        }
        None => {
            let path = super::ctl::socket_path(state_dir, args.socket.clone());
            let client = LocalClient::connect(&path, REPLY_TIMEOUT).await.map_err(|e| e.to_string())?;
            let found = super::target::on_local(&client, "session", &args.session).await?;
            (Link::Local(Arc::new(client)), args.node, found.id)
        }
    };
    let session: SessionId = session.parse().map_err(|e: warden_core::InvalidSessionId| e.to_string())?;
    let opts = AttachOptions { node, session, detach_byte: detach, detach_name: args.detach_key, take: args.take };
    run_attach(link, opts).await.map_err(|e| e.to_string())
}
