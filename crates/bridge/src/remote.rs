//! The coordinator side: sending commands to nodes and following their
//! events, as `warden ctl` and `warden events` do.

use std::pin::Pin;
use std::time::Duration;

use async_nats::Client;
use async_nats::jetstream::{self, consumer};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use tracing::debug;
use warden_core::{Event, SessionId};

use crate::config::default_stream_name;
use crate::error::BridgeError;
use crate::protocol::Reply;
use crate::subjects::{ANY_NODE, command_subject, events_filter};

/// A stream of events, in the order the server delivers them.
pub type EventStream = Pin<Box<dyn Stream<Item = Event> + Send>>;

/// A handle for commanding warden nodes under one prefix.
#[derive(Clone)]
pub struct Remote {
    client: Client,
    prefix: String,
    timeout: Duration,
}

impl Remote {
    /// Commands go to `<prefix>.<node>.cmd.<verb>`; replies are awaited for `timeout`.
    pub fn new(client: Client, prefix: impl Into<String>, timeout: Duration) -> Self {
        Remote { client, prefix: prefix.into(), timeout }
    }

    /// The NATS client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Sends `payload` to `verb` on `node` (or `any`) and returns the raw reply.
    pub async fn request_raw(&self, node: &str, verb: &str, payload: Bytes) -> Result<Bytes, BridgeError> {
        let subject = command_subject(&self.prefix, node, verb);
        let fut = self.client.request(subject.clone(), payload);
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(msg)) => Ok(msg.payload),
            Ok(Err(e)) => Err(BridgeError::Nats { context: "request failed", message: request_error(&subject, e) }),
            Err(_) => Err(BridgeError::Nats {
                context: "request timed out",
                message: format!("no reply on {subject} within {:?}", self.timeout),
            }),
        }
    }

    /// Sends a JSON request and parses the reply.
    pub async fn request(&self, node: &str, verb: &str, body: &serde_json::Value) -> Result<Reply, BridgeError> {
        let payload = serde_json::to_vec(body).map_err(|e| BridgeError::Invalid(e.to_string()))?;
        let raw = self.request_raw(node, verb, payload.into()).await?;
        serde_json::from_slice(&raw).map_err(|e| BridgeError::Nats { context: "bad reply", message: e.to_string() })
    }

    /// Scatter-gather: sends to `<prefix>.any.cmd.<verb>` and collects every
    /// reply until no new one came for `quiet` (or `self.timeout` passed).
    pub async fn gather_raw(&self, verb: &str, payload: Bytes, quiet: Duration) -> Result<Vec<Bytes>, BridgeError> {
        let subject = command_subject(&self.prefix, ANY_NODE, verb);
        let inbox = self.client.new_inbox();
        let mut sub =
            self.client.subscribe(inbox.clone()).await.map_err(|e| BridgeError::nats("subscribing to the inbox", e))?;
        self.client
            .publish_with_reply(subject, inbox, payload)
            .await
            .map_err(|e| BridgeError::nats("publishing the request", e))?;
        self.client.flush().await.map_err(|e| BridgeError::nats("flushing the request", e))?;
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut replies = Vec::new();
        loop {
            // Wait the full timeout for the first reply, then `quiet` for more.
            let wait = if replies.is_empty() { deadline } else { (tokio::time::Instant::now() + quiet).min(deadline) };
            match tokio::time::timeout_at(wait, sub.next()).await {
                Ok(Some(msg)) => replies.push(msg.payload),
                Ok(None) | Err(_) => break,
            }
        }
        Ok(replies)
    }
}

fn request_error(subject: &str, e: async_nats::RequestError) -> String {
    match e.kind() {
        async_nats::RequestErrorKind::NoResponders => {
            format!("no node answers on {subject} (is `warden serve` running with this node name and prefix?)")
        }
        _ => e.to_string(),
    }
}

/// What events to follow.
#[derive(Debug, Clone, Default)]
pub struct FollowOptions {
    /// Subject prefix.
    pub prefix: String,
    /// One node, or all.
    pub node: Option<String>,
    /// One session, or all.
    pub session: Option<SessionId>,
    /// Replay from the JetStream stream, starting with `seq >= since`, then
    /// continue live; `None`: live events only (core NATS).
    pub since: Option<u64>,
    /// The stream name (default from the prefix).
    pub stream: Option<String>,
}

/// Follows events. Live events come from a core subscription that is in
/// place when this returns; with `since`, an ordered JetStream consumer
/// replays the stream from the start of the filter and skips `seq < since`
/// (`seq` counts per node, and restarts at 1 when a node restarts: a replay
/// over several lives of a node shows each life from `since`).
pub async fn follow_events(client: &Client, opts: &FollowOptions) -> Result<EventStream, BridgeError> {
    let filter = events_filter(&opts.prefix, opts.node.as_deref(), opts.session);
    let Some(since) = opts.since else {
        let sub = client.subscribe(filter).await.map_err(|e| BridgeError::nats("subscribing to events", e))?;
        client.flush().await.map_err(|e| BridgeError::nats("flushing the subscription", e))?;
        return Ok(Box::pin(sub.filter_map(|m| async move { parse_event(&m.payload) })));
    };
    let name = opts.stream.clone().unwrap_or_else(|| default_stream_name(&opts.prefix));
    let js = jetstream::new(client.clone());
    let stream = js.get_stream(&name).await.map_err(|e| {
        BridgeError::JetStream(format!(
            "cannot open the event stream {name}: {e} (replay needs a node started with --jetstream)"
        ))
    })?;
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: filter,
            deliver_policy: consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(|e| BridgeError::JetStream(format!("cannot create a consumer on {name}: {e}")))?;
    let messages =
        consumer.messages().await.map_err(|e| BridgeError::JetStream(format!("cannot read stream {name}: {e}")))?;
    Ok(Box::pin(messages.filter_map(move |m| async move {
        match m {
            Ok(m) => parse_event(&m.payload).filter(|e| e.seq >= since),
            Err(e) => {
                debug!(error = %e, "stream consumer error");
                None
            }
        }
    })))
}

fn parse_event(payload: &[u8]) -> Option<Event> {
    match serde_json::from_slice::<Event>(payload) {
        Ok(e) => Some(e),
        Err(e) => {
            debug!(error = %e, "skipping a message that is not an event");
            None
        }
    }
}
