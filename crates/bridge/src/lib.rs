//! warden-bridge: the NATS bridge, and the same protocol on a local Unix
//! socket ([`local`]). Remote coordinators command warden nodes and
//! subscribe to their events.
//!
//! The bridge is one more client of the embedding API: it decodes requests
//! at the edge ([`protocol`]), authorises them ([`policy`]), calls the
//! [`Warden`] handle and replies; it publishes the node's event bus on core
//! NATS ([`publish`]) and, with JetStream, through a bounded outbox into a
//! stream ([`jetstream`]). Subjects are built in one place ([`subjects`]);
//! `docs/PROTOCOL.md` is the contract.
//!
//! Commands and replies travel on a connection of their own, events and
//! output on another ([`Connections`]): nats-server stalls a connection that
//! publishes to a slow subscriber (its write deadline), and that must never
//! hold up a reply.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use warden_actors::{Warden, WardenConfig};
//! use warden_bridge::{Bridge, BridgeSettings, NatsOptions, connect_pair};
//!
//! let warden = Warden::start(WardenConfig::new("/tmp/warden-node")).await?;
//! let connections = connect_pair(&NatsOptions::new("nats://127.0.0.1:4222")).await?;
//! let bridge = Bridge::start_on(warden.clone(), connections, BridgeSettings::default()).await?;
//! // … serve until told to stop, then:
//! warden.shutdown().await;
//! bridge.shutdown(std::time::Duration::from_secs(5)).await;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod claim;
mod commands;
pub mod config;
pub mod connect;
pub mod error;
pub mod jetstream;
mod lanes;
pub mod local;
pub mod policy;
pub mod protocol;
pub mod publish;
pub mod remote;
mod resolve;
pub mod subjects;
mod tasks;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use async_nats;
pub use commands::CLIENT_HEADER;
pub use config::BridgeConfig;
pub use connect::{Connections, NatsAuth, NatsOptions, Secret, TlsOptions, connect, connect_pair};
pub use error::BridgeError;
pub use protocol::{ErrorCode, Reply, WireError};
pub use remote::{FollowOptions, Remote, follow_events};
pub use subjects::Subjects;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{info, warn};
use warden_actors::Warden;

/// Locks a mutex, taking the value even if a panicking holder poisoned it.
pub(crate) fn sync_lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How a bridge runs.
#[derive(Debug, Clone)]
pub struct BridgeSettings {
    /// Subject prefix (default `warden`).
    pub prefix: String,
    /// Publish events to JetStream through the outbox.
    pub jetstream: bool,
    /// The configuration (authorisation, limits, JetStream settings).
    pub config: BridgeConfig,
    /// Root for remote working directories when the configuration names
    /// none (default: `<state_dir>/work`, created).
    pub default_root: Option<PathBuf>,
    /// The first event `seq` to publish (default 1: everything the bus still
    /// holds, so events from before the bridge started are not missed).
    pub from_seq: u64,
    /// How long the start waits for another warden to answer for the node
    /// name ([`claim`]); default 500 ms.
    pub claim_window: Duration,
}

impl Default for BridgeSettings {
    fn default() -> Self {
        BridgeSettings {
            prefix: subjects::DEFAULT_PREFIX.into(),
            jetstream: false,
            config: BridgeConfig::default(),
            default_root: None,
            from_seq: 1,
            claim_window: Duration::from_millis(500),
        }
    }
}

/// The authorisation policy of a node, the same for every transport: the
/// configuration, with `<state_dir>/work` (created) as the workdir root when
/// it names none, and the node's git workspaces.
pub fn node_policy(
    warden: &Warden,
    config: &BridgeConfig,
    default_root: Option<PathBuf>,
) -> Result<policy::Policy, BridgeError> {
    config.validate().map_err(BridgeError::Invalid)?;
    let default_root = default_root.unwrap_or_else(|| warden.config().state_dir.join("work"));
    if config.workdir_roots.is_empty() {
        std::fs::create_dir_all(&default_root).map_err(|e| {
            BridgeError::Invalid(format!("cannot create the default workdir root {}: {e}", default_root.display()))
        })?;
    }
    // Remote agents may also work in the node's git workspaces.
    let default_roots = [default_root, warden.workspace_base_dir().to_path_buf()];
    policy::Policy::new(config, &default_roots).map_err(BridgeError::Invalid)
}

/// Counters of a running bridge.
#[derive(Debug, Default)]
pub struct Stats {
    /// Events published (core, or acknowledged by JetStream).
    pub events_published: AtomicU64,
    /// Output bytes published on `out.<session>`.
    pub output_bytes: AtomicU64,
    /// The last `seq` handled by the core publisher.
    pub core_seq: AtomicU64,
    /// The last `seq` acknowledged by JetStream.
    pub js_acked_seq: AtomicU64,
    /// Entries in the JetStream outbox (including the one in flight).
    pub outbox_len: AtomicU64,
    /// Events dropped because the outbox was full.
    pub outbox_dropped: AtomicU64,
}

/// A point-in-time copy of [`Stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatsSnapshot {
    /// Events published (core, or acknowledged by JetStream).
    pub events_published: u64,
    /// Output bytes published on `out.<session>`.
    pub output_bytes: u64,
    /// The last `seq` handled by the core publisher.
    pub core_seq: u64,
    /// The last `seq` acknowledged by JetStream.
    pub js_acked_seq: u64,
    /// Entries in the JetStream outbox.
    pub outbox_len: u64,
    /// Events dropped because the outbox was full.
    pub outbox_dropped: u64,
}

/// A running bridge between one `Warden` and NATS.
pub struct Bridge {
    warden: Warden,
    /// Commands, replies, input, the heartbeat and the node-name claim.
    client: async_nats::Client,
    /// Events, output and JetStream publishing.
    events: async_nats::Client,
    subjects: Subjects,
    stats: Arc<Stats>,
    stop: watch::Sender<bool>,
    drain: watch::Sender<Option<u64>>,
    command_tasks: JoinSet<()>,
    pump_tasks: JoinSet<()>,
    jetstream: bool,
}

impl Bridge {
    /// Starts serving `warden` on one connection for everything: a slow
    /// event subscriber can then delay replies (see [`Bridge::start_on`]).
    pub async fn start(
        warden: Warden,
        client: async_nats::Client,
        settings: BridgeSettings,
    ) -> Result<Bridge, BridgeError> {
        Bridge::start_on(warden, Connections::shared(client), settings).await
    }

    /// Starts serving `warden`: claims the node name, subscribes to the
    /// command subjects, starts the publishers and the heartbeat. Commands
    /// and replies use `connections.commands`, events and output
    /// `connections.events`. With JetStream, creates (or checks) the events
    /// stream first.
    pub async fn start_on(
        warden: Warden,
        connections: Connections,
        settings: BridgeSettings,
    ) -> Result<Bridge, BridgeError> {
        let Connections { commands: client, events } = connections;
        let subjects =
            Subjects::new(&settings.prefix, warden.node()).map_err(|e| BridgeError::Invalid(e.to_string()))?;
        let policy = node_policy(&warden, &settings.config, settings.default_root.clone())?;
        let stats = Arc::new(Stats::default());
        let (stop, stop_rx) = watch::channel(false);
        let (drain, drain_rx) = watch::channel(None);
        let mut pump_tasks = JoinSet::new();
        let mut command_tasks = JoinSet::new();
        // One node per name: refuse before taking a command or publishing.
        let me = claim::NodeClaim {
            v: 1,
            node: subjects.node().to_string(),
            instance: warden.instance_id().to_string(),
            host: warden_actors::default_node_name(),
            pid: std::process::id(),
            state_dir: warden.config().state_dir.display().to_string(),
            serving: false,
        };
        if let Err(e) =
            claim::claim(&client, &subjects, &me, settings.claim_window, &mut command_tasks, stop_rx.clone()).await
        {
            command_tasks.abort_all();
            return Err(e);
        }

        if settings.jetstream {
            let js = async_nats::jetstream::ContextBuilder::new()
                .timeout(settings.config.jetstream.ack_timeout())
                .build(events.clone());
            let stream = jetstream::ensure_stream(&js, &settings.prefix, &settings.config.jetstream).await?;
            let boot = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
            let outbox = jetstream::Outbox::new(
                subjects.clone(),
                boot,
                settings.config.jetstream.outbox_max_events,
                settings.config.jetstream.outbox_max_bytes,
            );
            let sub = warden.subscribe(Some(settings.from_seq));
            pump_tasks.spawn(jetstream::outbox_pump(
                js,
                warden.bus().clone(),
                sub,
                outbox,
                stats.clone(),
                drain_rx.clone(),
            ));
            info!(stream = %stream, "events go to JetStream");
        }
        let sub = warden.subscribe(Some(settings.from_seq));
        pump_tasks.spawn(publish::core_pump(
            events.clone(),
            warden.bus().clone(),
            subjects.clone(),
            !settings.jetstream,
            sub,
            stats.clone(),
            drain_rx,
        ));

        let ctx = Arc::new(commands::CommandCtx {
            warden: warden.clone(),
            client: Some(client.clone()),
            subjects: subjects.clone(),
            policy,
            max_request_bytes: settings.config.max_request_bytes,
            keyboards: Default::default(),
            in_flight: commands::CommandCtx::in_flight_room(),
        });
        let subs = commands::subscribe(&ctx, &client).await?;
        let rate = policy::RateLimiter::new(&settings.config.rate_limit);
        command_tasks.spawn(commands::serve(ctx, subs, rate, stop_rx.clone()));
        command_tasks.spawn(publish::heartbeat(
            warden.clone(),
            client.clone(),
            subjects.clone(),
            Duration::from_millis(settings.config.heartbeat_ms),
            settings.jetstream,
            stats.clone(),
            stop_rx,
        ));
        info!(node = %subjects.node(), prefix = %subjects.prefix(), jetstream = settings.jetstream, "bridge serving");
        Ok(Bridge {
            warden,
            client,
            events,
            subjects,
            stats,
            stop,
            drain,
            command_tasks,
            pump_tasks,
            jetstream: settings.jetstream,
        })
    }

    /// The node's subjects.
    pub fn subjects(&self) -> &Subjects {
        &self.subjects
    }

    /// The NATS client of commands and replies.
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// The NATS client events and output are published on.
    pub fn events_client(&self) -> &async_nats::Client {
        &self.events
    }

    /// Whether events go to JetStream.
    pub fn jetstream(&self) -> bool {
        self.jetstream
    }

    /// Current counters.
    pub fn stats(&self) -> StatsSnapshot {
        let s = &self.stats;
        StatsSnapshot {
            events_published: s.events_published.load(Ordering::Relaxed),
            output_bytes: s.output_bytes.load(Ordering::Relaxed),
            core_seq: s.core_seq.load(Ordering::Relaxed),
            js_acked_seq: s.js_acked_seq.load(Ordering::Relaxed),
            outbox_len: s.outbox_len.load(Ordering::Relaxed),
            outbox_dropped: s.outbox_dropped.load(Ordering::Relaxed),
        }
    }

    /// Stops taking commands at once (in-flight ones still answer).
    pub async fn stop_commands(&mut self) {
        let _ = self.stop.send(true);
        while self.command_tasks.join_next().await.is_some() {}
    }

    /// Stops taking commands, then publishes every event the bus has so far
    /// (waiting up to `drain` for JetStream acknowledgements), flushes and
    /// returns. Call it after `Warden::shutdown` to publish the last events.
    pub async fn shutdown(mut self, drain: Duration) {
        self.stop_commands().await;
        let last = self.warden.bus().next_seq().saturating_sub(1);
        let _ = self.drain.send(Some(last));
        let done = tokio::time::timeout(drain, async { while self.pump_tasks.join_next().await.is_some() {} }).await;
        if done.is_err() {
            let left = self.stats.outbox_len.load(Ordering::Relaxed);
            warn!(unpublished = left, "events not yet acknowledged when the bridge stopped");
            self.pump_tasks.abort_all();
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), self.events.flush()).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), self.client.flush()).await;
    }
}
