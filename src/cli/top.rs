//! `warden top`: every session of the local node, or with `--nats` of every
//! node on the NATS server, kept current from the event stream.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use warden_bridge::Remote;
use warden_bridge::local::LocalClient;
use warden_console::{Link, TopEnd, TopOptions, run_top};

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

/// Runs the view until the user quits; returns the exit code: 0, or 128 + the
/// signal's number when SIGTERM, SIGHUP or SIGINT stopped it (the terminal restored).
pub async fn top(state_dir: Option<PathBuf>, args: TopArgs) -> i32 {
    match top_inner(state_dir, args).await {
        Ok(TopEnd::Quit) => 0,
        Ok(TopEnd::Stopped(signal)) => signal.exit_code(),
        Err(message) => {
            eprintln!("warden: {message}");
            EXIT_WARDEN_ERROR
        }
    }
}

/// `warden [--state-dir D] attach` with this `top`'s way to the nodes.
fn attach_command(state_dir: Option<PathBuf>, args: &TopArgs) -> Option<Vec<String>> {
    let exe = std::env::current_exe().ok()?;
    let mut cmd = vec![exe.display().to_string()];
    if let Some(dir) = state_dir {
        cmd.extend(["--state-dir".to_string(), dir.display().to_string()]);
    }
    cmd.push("attach".into());
    let n = &args.nats;
    match &n.nats {
        Some(url) => {
            cmd.extend(["--nats".to_string(), url.clone(), "--prefix".to_string(), n.prefix.clone()]);
            let files = [
                ("--nats-token-file", &n.nats_token_file),
                ("--nats-password-file", &n.nats_password_file),
                ("--nats-nkey-file", &n.nats_nkey_file),
                ("--nats-creds", &n.nats_creds),
                ("--tls-ca", &n.tls_ca),
                ("--tls-cert", &n.tls_cert),
                ("--tls-key", &n.tls_key),
            ];
            for (flag, file) in files {
                if let Some(f) = file {
                    cmd.extend([flag.to_string(), f.display().to_string()]);
                }
            }
            if let Some(user) = &n.nats_user {
                cmd.extend(["--nats-user".to_string(), user.clone()]);
            }
        }
        None => {
            if let Some(socket) = &args.socket {
                cmd.extend(["--socket".to_string(), socket.display().to_string()]);
            }
        }
    }
    Some(cmd)
}

async fn top_inner(state_dir: Option<PathBuf>, args: TopArgs) -> Result<TopEnd, String> {
    let state_dir_arg = state_dir.clone();
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
    let opts = TopOptions { filter: args.filter.clone(), attach: attach_command(state_dir_arg, &args) };
    run_top(link, opts).await.map_err(|e| e.to_string())
}
