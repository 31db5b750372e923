//! `warden serve`: a node that takes commands and publishes events on its
//! local socket, and over NATS with `--nats`. Also the NATS connection
//! arguments shared with `warden ctl` and `warden events`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use warden_actors::{Warden, WardenConfig, node_name_for};
use warden_bridge::connect::redact_url;
use warden_bridge::local::{LocalServer, LocalSettings};
use warden_bridge::subjects::{check_node_name, check_prefix, sanitize_node_name};
use warden_bridge::{Bridge, BridgeConfig, BridgeSettings, NatsAuth, NatsOptions, Secret, TlsOptions};

use super::EXIT_WARDEN_ERROR;

/// How to reach NATS. Secrets come from environment variables or files,
/// never from the command line: `WARDEN_NATS_TOKEN`, `WARDEN_NATS_PASSWORD`,
/// `WARDEN_NATS_NKEY`, or the `--nats-*-file` options. Global: they may
/// follow a subcommand (`warden ctl list_agents --nats URL`).
#[derive(Debug, Args)]
pub struct NatsArgs {
    /// NATS server URL(s), comma-separated (e.g. nats://127.0.0.1:4222).
    /// Without it, the node's local socket is used (`warden serve` without
    /// it serves only the local socket).
    #[arg(long, env = "WARDEN_NATS_URL", global = true)]
    pub nats: Option<String>,
    /// Subject prefix.
    #[arg(long, env = "WARDEN_PREFIX", default_value = warden_bridge::subjects::DEFAULT_PREFIX, global = true)]
    pub prefix: String,
    /// File holding the NATS token (or set WARDEN_NATS_TOKEN).
    #[arg(long, value_name = "FILE", global = true)]
    pub nats_token_file: Option<PathBuf>,
    /// NATS user name; the password comes from WARDEN_NATS_PASSWORD or --nats-password-file.
    #[arg(long, env = "WARDEN_NATS_USER", global = true)]
    pub nats_user: Option<String>,
    /// File holding the NATS password.
    #[arg(long, value_name = "FILE", global = true)]
    pub nats_password_file: Option<PathBuf>,
    /// File holding an nkey seed (or set WARDEN_NATS_NKEY).
    #[arg(long, value_name = "FILE", global = true)]
    pub nats_nkey_file: Option<PathBuf>,
    /// NATS credentials file (.creds: JWT and nkey seed).
    #[arg(long, value_name = "FILE", env = "WARDEN_NATS_CREDS", global = true)]
    pub nats_creds: Option<PathBuf>,
    /// Extra root certificate(s) for TLS (PEM).
    #[arg(long, value_name = "FILE", global = true)]
    pub tls_ca: Option<PathBuf>,
    /// TLS client certificate (PEM), with --tls-key.
    #[arg(long, value_name = "FILE", global = true)]
    pub tls_cert: Option<PathBuf>,
    /// TLS client key (PEM), with --tls-cert.
    #[arg(long, value_name = "FILE", global = true)]
    pub tls_key: Option<PathBuf>,
    /// Refuse to connect without TLS.
    #[arg(long, global = true)]
    pub tls_required: bool,
    /// Start TLS before the NATS handshake (servers with handshake_first).
    #[arg(long, global = true)]
    pub tls_first: bool,
}

fn env_secret(name: &str) -> Option<Secret> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty()).map(Secret::new)
}

impl NatsArgs {
    /// The connection options, with secrets read from files or the environment.
    pub fn options(&self, name: String) -> Result<NatsOptions, String> {
        check_prefix(&self.prefix).map_err(|e| e.to_string())?;
        let err = |e: warden_bridge::BridgeError| e.to_string();
        let token = match &self.nats_token_file {
            Some(f) => Some(Secret::from_file("the NATS token", f).map_err(err)?),
            None => env_secret("WARDEN_NATS_TOKEN"),
        };
        let nkey = match &self.nats_nkey_file {
            Some(f) => Some(Secret::from_file("the nkey seed", f).map_err(err)?),
            None => env_secret("WARDEN_NATS_NKEY"),
        };
        let password = match &self.nats_password_file {
            Some(f) => Some(Secret::from_file("the NATS password", f).map_err(err)?),
            None => env_secret("WARDEN_NATS_PASSWORD"),
        };
        for s in [&token, &nkey, &password].into_iter().flatten() {
            super::secrets::remember(s.expose());
        }
        let mut methods = Vec::new();
        if let Some(t) = token {
            methods.push(NatsAuth::Token(t));
        }
        if let Some(user) = &self.nats_user {
            let password =
                password.ok_or("--nats-user needs a password in WARDEN_NATS_PASSWORD or --nats-password-file")?;
            methods.push(NatsAuth::UserPassword { user: user.clone(), password });
        }
        if let Some(seed) = nkey {
            methods.push(NatsAuth::Nkey(seed));
        }
        if let Some(creds) = &self.nats_creds {
            methods.push(NatsAuth::CredsFile(creds.clone()));
        }
        if methods.len() > 1 {
            return Err("give one NATS authentication method (token, user and password, nkey or creds file)".into());
        }
        let url = self.nats.clone().ok_or("no NATS server named (--nats URL or WARDEN_NATS_URL)")?;
        let mut opts = NatsOptions::new(url);
        opts.auth = methods.pop().unwrap_or_default();
        opts.tls = TlsOptions {
            ca: self.tls_ca.clone(),
            cert: self.tls_cert.clone(),
            key: self.tls_key.clone(),
            required: self.tls_required,
            first: self.tls_first,
        };
        opts.name = Some(name);
        Ok(opts)
    }
}

/// Arguments of `warden serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// NATS connection.
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Node name (default: the host name and a short hash of the state
    /// directory, with dots replaced; unique per host and state directory).
    #[arg(long, env = "WARDEN_NODE")]
    pub node: Option<String>,
    /// Publish events to a JetStream stream through an outbox, for durable replay.
    #[arg(long)]
    pub jetstream: bool,
    /// Configuration file (TOML, or JSON for other extensions).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Allow remote callers to start this agent type (repeatable; adds to the configuration).
    #[arg(long = "allow-agent", value_name = "AGENT")]
    pub allow_agent: Vec<String>,
    /// A directory under which remote callers may start agents (repeatable; adds to the configuration).
    #[arg(long = "workdir-root", value_name = "DIR")]
    pub workdir_root: Vec<PathBuf>,
    /// The local socket (default: <state-dir>/run/warden.sock), always served.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
}

/// Runs the node until SIGINT or SIGTERM; returns the exit code.
pub async fn serve(state_dir: Option<PathBuf>, overlays: PathBuf, args: ServeArgs) -> i32 {
    match serve_inner(state_dir, overlays, args).await {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("warden: {message}");
            EXIT_WARDEN_ERROR
        }
    }
}

async fn serve_inner(state_dir: Option<PathBuf>, overlays: PathBuf, args: ServeArgs) -> Result<(), String> {
    let mut config = match &args.config {
        Some(path) => BridgeConfig::from_file(path).map_err(|e| e.to_string())?,
        None => BridgeConfig::default(),
    };
    // Both add to the configuration (or to its defaults), as documented.
    config.extra_agents.extend(args.allow_agent.iter().cloned());
    for root in &args.workdir_root {
        let abs = std::path::absolute(root).map_err(|e| format!("--workdir-root {}: {e}", root.display()))?;
        config.extra_workdir_roots.push(abs);
    }
    config.validate()?;
    let state_dir = state_dir.unwrap_or_else(WardenConfig::default_state_dir);
    let node = match &args.node {
        Some(n) => {
            check_node_name(n).map_err(|e| e.to_string())?;
            n.clone()
        }
        None => sanitize_node_name(&node_name_for(&state_dir)),
    };
    let opts = match &args.nats.nats {
        Some(_) => Some(args.nats.options(format!("warden-{node}"))?),
        None => None,
    };

    let mut wc = WardenConfig::new(state_dir);
    wc.node = node.clone();
    let socket = args.socket.clone().unwrap_or_else(|| warden_bridge::local::default_socket_path(&wc.state_dir));
    wc.adapter_overlays = Some(overlays);
    wc.workspace.git.token = crate::cli::workspace::git_token_from_env();
    let warden = Warden::start(wc).await.map_err(|e| e.to_string())?;
    let local = LocalSettings { socket, config: config.clone(), default_root: None };
    let local = match LocalServer::start(warden.clone(), local).await {
        Ok(l) => l,
        Err(e) => {
            warden.shutdown().await;
            return Err(e.to_string());
        }
    };
    let mut bridge = None;
    if let Some(opts) = &opts {
        let started = async {
            let connections = warden_bridge::connect_pair(opts).await?;
            let settings = BridgeSettings {
                prefix: args.nats.prefix.clone(),
                jetstream: args.jetstream,
                config,
                default_root: None,
                from_seq: 1,
                ..BridgeSettings::default()
            };
            Bridge::start_on(warden.clone(), connections, settings).await
        };
        match started.await {
            Ok(b) => bridge = Some(b),
            Err(e) => {
                local.shutdown().await;
                warden.shutdown().await;
                return Err(e.to_string());
            }
        }
    }
    // Listened for before the node says it serves: a signal sent as soon as
    // that line appears must stop it cleanly, not by the default action.
    let stop = stop_signal();
    match &opts {
        Some(opts) => eprintln!(
            "warden: node {node} serving on {} (prefix {}, jetstream {}) and on {}",
            redact_url(&opts.url),
            args.nats.prefix,
            if args.jetstream { "on" } else { "off" },
            local.path().display()
        ),
        None => eprintln!("warden: node {node} serving on {} (no NATS: add --nats URL)", local.path().display()),
    }

    stop.await;
    if let Some(bridge) = &mut bridge {
        bridge.stop_commands().await;
    }
    local.shutdown().await;
    warden.shutdown().await;
    if let Some(bridge) = bridge {
        bridge.shutdown(Duration::from_secs(5)).await;
    }
    Ok(())
}

/// SIGINT or SIGTERM, listened for from the call on (the handlers are
/// installed here, not when the future is first polled).
fn stop_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let signals = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()));
    async move {
        match signals {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}
