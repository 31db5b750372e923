//! The heartbeat a node publishes on `<prefix>.<node>.heartbeat`.

use serde::{Deserialize, Serialize};

/// The heartbeat a node publishes on `<prefix>.<node>.heartbeat`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    /// Protocol version.
    pub v: u32,
    /// The node.
    pub node: String,
    /// When it was sent (RFC 3339).
    pub ts: String,
    /// The `seq` of the node's latest event (0 before the first).
    pub seq: u64,
    /// Live sessions.
    pub sessions: usize,
    /// Pending confirmations across sessions.
    pub pending_confirmations: usize,
    /// The most live sessions the node accepts.
    pub max_sessions: usize,
    /// One-minute load average of the machine, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load1: Option<f64>,
    /// Milliseconds since the bridge started.
    pub uptime_ms: u64,
    /// Whether events go to JetStream.
    pub jetstream: bool,
    /// Events waiting in the JetStream outbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbox: Option<usize>,
}
