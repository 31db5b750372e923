//! One node per name on a NATS bus.
//!
//! Every bridge answers requests on `<prefix>.<node>.claim` with who it is
//! ([`NodeClaim`]: instance, host, pid, state directory, and whether it
//! serves already). Starting, a bridge first subscribes and answers there
//! itself, then asks the subject with its own claim and, for a short window,
//! gathers the answers and the requests of others. An answer from a node
//! that serves means the name is taken. Two nodes starting at the same
//! moment each see the other — the server orders each one's subscription
//! before its request, so at least one request reaches the other's
//! subscription and is answered — and the one whose instance id is older
//! (UUID v7 ids sort by time) keeps the name; the younger refuses.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, warn};

use crate::error::BridgeError;
use crate::subjects::Subjects;

/// Who holds a node name: the answer on `<prefix>.<node>.claim`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeClaim {
    /// Protocol version (1).
    pub v: u32,
    /// The node name.
    pub node: String,
    /// The warden instance id (UUID v7: sorts by start time).
    pub instance: String,
    /// The host name of the machine.
    pub host: String,
    /// The process id of the warden.
    pub pid: u32,
    /// The warden's state directory.
    pub state_dir: String,
    /// True once the node serves (its claim window has passed); false while
    /// it is starting.
    #[serde(default)]
    pub serving: bool,
}

impl NodeClaim {
    /// One line naming the holder: host, pid and state directory.
    pub fn describe(&self) -> String {
        format!("host {}, pid {}, state dir {}", self.host, self.pid, self.state_dir)
    }
}

/// Subscribes to this node's claim subject and answers it from now on (a
/// task in `tasks`, until `stop`), so that nodes starting later — or at the
/// same moment — see this one; then asks who else holds the name, gathering
/// answers for `window`. Fails with [`BridgeError::NodeTaken`] naming the
/// live holder (the caller then ends `tasks`).
pub(crate) async fn claim(
    client: &async_nats::Client,
    subjects: &Subjects,
    me: &NodeClaim,
    window: Duration,
    tasks: &mut JoinSet<()>,
    stop: watch::Receiver<bool>,
) -> Result<(), BridgeError> {
    let nats = |context: &'static str, e: &dyn std::fmt::Display| BridgeError::Nats { context, message: e.to_string() };
    let subject = subjects.claim();
    let mine = client.subscribe(subject.clone()).await.map_err(|e| nats("subscribing to the claim subject", &e))?;
    let state = Arc::new(ClaimState { serving: AtomicBool::new(false), contenders: std::sync::Mutex::new(Vec::new()) });
    tasks.spawn(answer_claims(client.clone(), mine, me.clone(), state.clone(), stop));
    let inbox = client.new_inbox();
    let mut answers = client.subscribe(inbox.clone()).await.map_err(|e| nats("subscribing to claim answers", &e))?;
    let payload = serde_json::to_vec(me).map_err(|e| BridgeError::Invalid(e.to_string()))?;
    client
        .publish_with_reply(subject, inbox, payload.into())
        .await
        .map_err(|e| nats("asking who holds the node name", &e))?;
    client.flush().await.map_err(|e| nats("asking who holds the node name", &e))?;
    let mut holder: Option<NodeClaim> = None;
    let deadline = tokio::time::Instant::now() + window;
    while let Ok(Some(msg)) = tokio::time::timeout_at(deadline, answers.next()).await {
        let Ok(other) = serde_json::from_slice::<NodeClaim>(&msg.payload) else {
            warn!("an unreadable answer on the claim subject; ignored");
            continue;
        };
        if other.instance == me.instance {
            continue; // our own answer
        }
        debug!(holder = %other.describe(), "node name answered");
        // A serving holder wins over any starting one; among starting ones
        // the oldest.
        let better = match &holder {
            None => true,
            Some(h) => (other.serving && !h.serving) || (other.serving == h.serving && other.instance < h.instance),
        };
        if better {
            holder = Some(other);
        }
    }
    let _ = answers.unsubscribe().await;
    // Contenders whose request reached us but whose answer did not (yet).
    let contenders: Vec<NodeClaim> = crate::sync_lock(&state.contenders).drain(..).collect();
    for other in contenders {
        if holder.as_ref().is_none_or(|h| !h.serving && other.instance < h.instance) {
            holder = Some(other);
        }
    }
    match holder {
        Some(h) if h.serving || h.instance < me.instance => {
            Err(BridgeError::NodeTaken { node: me.node.clone(), holder: h.describe() })
        }
        Some(h) => {
            warn!(younger = %h.describe(), "another warden is starting with this node name; it will refuse");
            state.serving.store(true, Ordering::Release);
            Ok(())
        }
        None => {
            state.serving.store(true, Ordering::Release);
            Ok(())
        }
    }
}

/// What the answering task shares with the claim: whether this node serves
/// yet, and the other instances whose requests arrived while it starts.
struct ClaimState {
    serving: AtomicBool,
    contenders: std::sync::Mutex<Vec<NodeClaim>>,
}

/// Answers every request on the claim subject with `me` (and whether this
/// node serves yet), until `stop`; while starting, notes who else asked.
async fn answer_claims(
    client: async_nats::Client,
    mut sub: async_nats::Subscriber,
    me: NodeClaim,
    state: Arc<ClaimState>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            msg = sub.next() => {
                let Some(msg) = msg else { break };
                let serving = state.serving.load(Ordering::Acquire);
                if !serving
                    && let Ok(other) = serde_json::from_slice::<NodeClaim>(&msg.payload)
                    && other.instance != me.instance
                {
                    let mut contenders = crate::sync_lock(&state.contenders);
                    if contenders.len() < 64 {
                        contenders.push(other);
                    }
                }
                let Some(reply) = msg.reply else { continue };
                let Ok(payload) = serde_json::to_vec(&NodeClaim { serving, ..me.clone() }) else { continue };
                if let Err(e) = client.publish(reply, payload.into()).await {
                    debug!(error = %e, "cannot answer a claim request");
                }
            }
        }
    }
    let _ = sub.unsubscribe().await;
}
